#!/usr/bin/env bash
# mount.sh MOUNTPOINT [chatfs mount flags]   build chatfs if needed, mount in the background
# mount.sh -u MOUNTPOINT                     unmount
#
# With no --host and no --config, chatfs serves its embedded chatfiles
# emulator on a loopback port: a way to try it with no account.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin="$here/bin/chatfs"

die() { echo "mount.sh: $*" >&2; exit 1; }

unmount_cmd() {
  if command -v fusermount3 >/dev/null 2>&1; then echo fusermount3 -u
  elif command -v fusermount >/dev/null 2>&1; then echo fusermount -u
  else echo umount; fi
}

if [ "${1:-}" = "-u" ]; then
  [ $# -eq 2 ] || die "usage: mount.sh -u MOUNTPOINT"
  $(unmount_cmd) "$2"
  echo "unmounted $2"
  exit 0
fi
[ $# -ge 1 ] || die "usage: mount.sh MOUNTPOINT [chatfs mount flags]   |   mount.sh -u MOUNTPOINT"
mnt=$1; shift

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

mkdir -p "$mnt"
mnt=$(cd "$mnt" && pwd)
if mountpoint -q "$mnt" 2>/dev/null; then die "$mnt is already a mount point"; fi

log_dir=${XDG_STATE_HOME:-$HOME/.local/state}/chatfs
mkdir -p "$log_dir" && chmod 700 "$log_dir"
log="$log_dir/mount-$(echo "$mnt" | tr '/' '_').log"
nohup "$bin" mount "$@" "$mnt" >"$log" 2>&1 </dev/null &
pid=$!

# Wait until the mount is live (bounded), or the process has died.
for _ in $(seq 1 100); do
  if mountpoint -q "$mnt" 2>/dev/null || grep -q " $mnt fuse" /proc/mounts 2>/dev/null; then
    cat "$log"
    echo
    echo "chatfs is mounted on $mnt (pid $pid, log $log)."
    echo "Try:      cp some-file $mnt/*/upload/ && ls $mnt/*/by-name/"
    echo "Unmount:  $here/mount.sh -u $mnt    (or: $(unmount_cmd) $mnt)"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    cat "$log" >&2
    die "chatfs exited before the mount was live (log: $log)"
  fi
  sleep 0.1
done
cat "$log" >&2
die "the mount did not come up within 10 s (pid $pid still running; log: $log)"
