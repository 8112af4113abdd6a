#!/usr/bin/env bash
# mount.sh MOUNTPOINT [chatfs mount flags]   build chatfs if needed, mount in the background
# mount.sh -u MOUNTPOINT                     unmount
# mount.sh -h                                this help
#
# With no --host and no --config, chatfs serves its embedded chatfiles
# emulator on a loopback port: a way to try it with no account.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin="$here/bin/chatfs"

die() { echo "mount.sh: $*" >&2; exit 1; }

usage() {
  cat <<EOF
Usage: mount.sh MOUNTPOINT [chatfs mount flags]   build chatfs if needed and mount in the background
       mount.sh -u MOUNTPOINT                     unmount
       mount.sh -h                                this help

Flags go before or after MOUNTPOINT; they are chatfs mount's (bin/chatfs help mount).
With no --host and no --config, chatfs serves its embedded chatfiles emulator on a
loopback port and mounts its app "demo": a way to try it with no account.
MOUNTPOINT is made when missing (and removed again if the mount fails). A mount left
dead by a crashed chatfs is unmounted first. The log is kept in
\${XDG_STATE_HOME:-~/.local/state}/chatfs/, with the three before it (.1 to .3).
EOF
}

unmount_cmd() {
  if command -v fusermount3 >/dev/null 2>&1; then echo fusermount3 -u
  elif command -v fusermount >/dev/null 2>&1; then echo fusermount -u
  else echo umount; fi
}

for a in "$@"; do
  case $a in -h|-help|--help) usage; exit 0 ;; --) break ;; esac
done
if [ "${1:-}" = "-u" ]; then
  [ $# -eq 2 ] || die "usage: mount.sh -u MOUNTPOINT"
  $(unmount_cmd) "$2"
  echo "unmounted $2"
  exit 0
fi
[ $# -ge 1 ] || { usage >&2; exit 1; }

# FUSE must be usable.
[ -e /dev/fuse ] || die "/dev/fuse is missing: load the module (sudo modprobe fuse) or, in a container, pass --device /dev/fuse"
if ! command -v fusermount3 >/dev/null 2>&1 && [ "$(id -u)" != 0 ]; then
  die "fusermount3 is missing: install it with 'sudo apt-get install fuse3' (Debian/Ubuntu) or 'sudo dnf install fuse3' (Fedora)"
fi

# Build when the binary is missing or older than the sources.
if [ ! -x "$bin" ] || [ -n "$(find "$here" -name '*.go' -newer "$bin" -print -quit)" ] || [ "$here/go.mod" -nt "$bin" ]; then
  command -v go >/dev/null 2>&1 || die "Go is needed to build chatfs: install Go 1.26 or newer (https://go.dev/dl)"
  echo "building chatfs..."
  (cd "$here" && go build -o "$bin" .) || die "build failed"
fi

# The mount point among the flags, which may come before or after it: a
# flag takes the next word as its value unless it is boolean (as chatfs
# mount -h lists it) or written --flag=value.
bools=" $("$bin" mount -h 2>&1 | sed -n 's/^  -\([a-z0-9-]*\)$/\1/p' | tr '\n' ' ') "
flags=() mnt=
while [ $# -gt 0 ]; do
  case $1 in
    --) shift; [ $# -le 1 ] || die "more than one mount point: $*"; [ $# -eq 0 ] || { [ -z "$mnt" ] || die "more than one mount point: $mnt $1"; mnt=$1; }; break ;;
    -*=*) flags+=("$1") ;;
    -?*)
      flags+=("$1"); name=${1#-}; name=${name#-}
      if [[ $bools != *" $name "* ]]; then
        [ $# -ge 2 ] || die "flag $1 needs a value"
        flags+=("$2"); shift
      fi ;;
    *) [ -z "$mnt" ] || die "more than one mount point: $mnt $1 (flags go before or after it; see mount.sh -h)"; mnt=$1 ;;
  esac
  shift
done
[ -n "$mnt" ] || die "no mount point given (usage: mount.sh MOUNTPOINT [chatfs mount flags])"

# fstype_at DIR: the type of the file system mounted at DIR (an absolute
# path), from /proc/self/mountinfo (the last one mounted there), or nothing.
fstype_at() {
  local e=$1
  e=${e//\\/\\134}; e=${e// /\\040}; e=${e//$'\t'/\\011}; e=${e//$'\n'/\\012}
  MNT=$e awk '$5 == ENVIRON["MNT"] { for (i = 6; i < NF; i++) if ($i == "-") { t = $(i + 1); break } } END { print t }' /proc/self/mountinfo 2>/dev/null
}

# abs_path PATH: PATH made absolute and physical through its parent,
# without touching PATH itself (it may be a dead mount).
abs_path() {
  local d b
  d=$(dirname -- "$1"); b=$(basename -- "$1")
  d=$(cd -- "$d" 2>/dev/null && pwd -P) || return 1
  case $b in
    .|..|/) (cd -- "$d/$b" && pwd -P) ;;
    *) echo "${d%/}/$b" ;;
  esac
}

# A mount point left dead by a chatfs that crashed or was killed answers
# "Transport endpoint is not connected" (or "Software caused connection
# abort"): unmount a dead chatfs mount, and say what to do with any other.
# (stat may still answer from the kernel's cache: a listing asks the server.)
if err=$(LC_ALL=C ls -A -- "$mnt" 2>&1 >/dev/null); [[ $err == *"not connected"* || $err == *"connection abort"* ]]; then
  abs=$(abs_path "$mnt") || die "$mnt: $err"
  type=$(fstype_at "$abs")
  if [ "$type" != fuse.chatfs ]; then
    die "$abs is a dead FUSE mount (${type:-unknown type}: ${err##*: }) of another program: unmount it with: $(unmount_cmd) $abs"
  fi
  echo "mount.sh: $abs is a dead chatfs mount (its chatfs process is gone: ${err##*: }); unmounting it"
  if [ "$(id -u)" = 0 ]; then umount -l -- "$abs"
  else fusermount3 -u -z "$abs" 2>/dev/null || fusermount -u -z "$abs"
  fi || die "could not unmount the dead mount: run $(unmount_cmd) $abs"
  mnt=$abs
fi

created=
if [ ! -e "$mnt" ]; then
  mkdir -p -- "$mnt"
  created=1
fi
[ -d "$mnt" ] || die "$mnt is not a directory"
mnt=$(cd -- "$mnt" && pwd -P)
if mountpoint -q "$mnt" 2>/dev/null; then die "$mnt is already a mount point"; fi
if [ -n "$(ls -A -- "$mnt" 2>/dev/null)" ]; then
  echo "mount.sh: warning: $mnt is not empty; its files are hidden while chatfs is mounted on it" >&2
fi

log_dir=${XDG_STATE_HOME:-$HOME/.local/state}/chatfs
mkdir -p "$log_dir" && chmod 700 "$log_dir"
log="$log_dir/mount-$(echo "$mnt" | tr '/' '_').log"
# Keep the logs of the three mounts before (.1 is the last one).
for i in 2 1; do
  if [ -f "$log.$i" ]; then mv -f "$log.$i" "$log.$((i + 1))"; fi
done
if [ -f "$log" ]; then mv -f "$log" "$log.1"; fi

# failed MESSAGE: show the log, remove a mount point made here, and stop.
failed() {
  cat "$log" >&2
  if [ -n "$created" ]; then rmdir -- "$mnt" 2>/dev/null || true; fi
  die "$*"
}

nohup "$bin" mount "${flags[@]}" -- "$mnt" >"$log" 2>&1 </dev/null &
pid=$!

# Wait until the mount is live (bounded), or the process has died.
for _ in $(seq 1 100); do
  if [ "$(fstype_at "$mnt")" = fuse.chatfs ] || mountpoint -q "$mnt" 2>/dev/null; then
    cat "$log"
    echo
    echo "chatfs is mounted on $mnt (pid $pid, log $log)."
    echo "Try:      cp some-file $mnt/*/upload/ && ls $mnt/*/by-name/"
    echo "Unmount:  $here/mount.sh -u $mnt    (or: $(unmount_cmd) $mnt)"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    failed "chatfs exited before the mount was live (log: $log)"
  fi
  sleep 0.1
done
cat "$log" >&2
die "the mount did not come up within 10 s (pid $pid still running; log: $log)"
