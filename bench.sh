#!/usr/bin/env bash
# bench.sh — the metadata path of chatfs against a local folder, side by side.
#
#   ./bench.sh                 N = 1000 and 10000, 5 runs each
#   ./bench.sh 100000          any list of N
#   BENCH_N="200" BENCH_RUNS=2 ./bench.sh     (the CI smoke run)
#   BENCH_ONLY=data ./bench.sh  only the data path (bench/data.sh);
#   BENCH_ONLY=listing          only the listings; BENCH_SIZES="9 100" (MiB)
#
# For each N it builds chatfs, starts the emulator (chatfs serve), records N
# files in the index through the index package (bench/prefill, no uploads),
# mounts, and times `ls -l files/`, `ls -l by-name/` and `find MNT` against
# the same listing of a local folder of N files (N symlinks for by-name/) on
# the disk holding $TMPDIR. Cold runs follow `echo 3 > /proc/sys/vm/drop_caches`
# (as root) or, where that is not permitted, a fresh mount; warm runs repeat
# the listing at once. chatfs and local runs are interleaved; each line is
# one run's ratio, and the summary gives median and spread (min–max). It
# prints the RSS of the mount process after the listings. It is a
# benchmark, not a test: it fails only on errors, never on timing.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
runs=${BENCH_RUNS:-5}
if [ $# -gt 0 ]; then ns="$*"; else ns=${BENCH_N:-"1000 10000"}; fi
if [ "${BENCH_ONLY:-}" = data ]; then ns=""; fi

die() { echo "bench.sh: $*" >&2; exit 1; }
[ -e /dev/fuse ] || die "/dev/fuse is missing"
unmount() { fusermount3 -u "$1" 2>/dev/null || umount "$1" 2>/dev/null || true; }

work=$(mktemp -d "${TMPDIR:-/tmp}/chatfs-bench.XXXXXX")
serve_pid= mount_pid= mnt=$work/mnt
cleanup() {
  set +e
  if [ -n "$mount_pid" ]; then unmount "$mnt"; wait "$mount_pid" 2>/dev/null; fi
  if [ -n "$serve_pid" ]; then kill "$serve_pid" 2>/dev/null; wait "$serve_pid" 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "building chatfs..."
(cd "$here" && go build -o "$work/chatfs" . && go build -o "$work/prefill" ./bench/prefill &&
  go build -o "$work/synccp" ./bench/synccp)

mkdir -p "$work/emu"
"$work/chatfs" serve --data "$work/emu" --listen 127.0.0.1:0 --app app-id/bench --max-size $((200 << 20)) >"$work/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 1 100); do
  url=$(sed -n 's/^chatfiles emulator on //p' "$work/serve.log")
  [ -n "$url" ] && [ -s "$work/emu/token" ] && break
  kill -0 "$serve_pid" 2>/dev/null || { cat "$work/serve.log"; die "the emulator did not start"; }
  sleep 0.1
done
[ -n "$url" ] || die "the emulator did not start"

can_drop=0
if [ "$(id -u)" = 0 ] && (echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then can_drop=1; fi

start_mount() { # state
  mkdir -p "$mnt"
  "$work/chatfs" mount --state "$1" --host "$url" --app-id bench --token-file "$work/emu/token" \
    --allow-plain-http "$mnt" >"$work/mount.log" 2>&1 &
  mount_pid=$!
  for _ in $(seq 1 200); do
    if grep -q " $mnt fuse" /proc/mounts && [ -d "$mnt/bench/files" ]; then return 0; fi
    kill -0 "$mount_pid" 2>/dev/null || { cat "$work/mount.log"; die "chatfs mount exited"; }
    sleep 0.05
  done
  cat "$work/mount.log"; die "the mount did not come up"
}
stop_mount() { unmount "$mnt"; wait "$mount_pid" 2>/dev/null || true; mount_pid=; }

# ms CMD... : the command's wall time in milliseconds (output discarded).
ms() {
  local t0 t1
  t0=$(date +%s%N)
  "$@" >/dev/null || die "failed: $*"
  t1=$(date +%s%N)
  echo $(( (t1 - t0) / 1000000 ))
}
# summary LABEL RATIOS...: median and spread of per-run ratios.
summary() {
  local label=$1; shift
  printf '%s\n' "$@" | sort -g | awk -v l="$label" '{a[NR]=$1} END {
    m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2
    printf "| %s | %.2f× | %.2f–%.2f× |\n", l, m, a[1], a[NR] }'
}
rss_of() { awk '/^VmRSS/ {printf "%.0f MiB", $2/1024}' "/proc/$1/status"; }
cold() { # state: drop the caches, or mount afresh
  if [ "$can_drop" = 1 ]; then sync; echo 3 >/proc/sys/vm/drop_caches
  else stop_mount; start_mount "$1"; fi
}

table=()
for n in $ns; do
  echo "== N=$n: recording $n files in the index"
  state=$work/state-$n local=$work/local-$n
  rm -rf "$state" "$local"
  "$work/prefill" -state "$state" -app bench -host "$url" -n "$n"
  mkdir -p "$local/files" "$local/by-name"
  (cd "$local/files" && seq -f "%07g" 1 "$n" | xargs touch)
  (cd "$local/by-name" && seq -f "%07g" 1 "$n" | xargs -I{} ln -s ../files/{} link-{})
  start_mount "$state"
  rss_idle=$(rss_of "$mount_pid")
  [ "$(ls "$mnt/bench/files" | wc -l)" -ge "$n" ] || die "files/ lists fewer than $n files"
  cold "$state"
  declare -A r=()
  for i in $(seq 1 "$runs"); do
    for mode in cold warm; do
      line="run $i $mode:"
      for what in files by-name find; do
        case $what in
          files)   c=(ls -l "$mnt/bench/files");   l=(ls -l "$local/files") ;;
          by-name) c=(ls -l "$mnt/bench/by-name"); l=(ls -l "$local/by-name") ;;
          find)    c=(find "$mnt");                 l=(find "$local") ;;
        esac
        if [ "$mode" = cold ]; then cold "$state"; fi
        # warm: the cold local run before dropped chatfs's kernel caches too
        if [ "$mode" = warm ]; then "${c[@]}" >/dev/null; fi
        tc=$(ms "${c[@]}")
        if [ "$mode" = cold ]; then cold "$state"; fi
        if [ "$mode" = warm ]; then "${l[@]}" >/dev/null; fi
        tl=$(ms "${l[@]}")
        ratio=$(awk -v a="$tc" -v b="$tl" 'BEGIN { printf "%.2f", a / (b > 0 ? b : 1) }')
        r[$what-$mode]+="$ratio "
        r[$what-$mode-ms]+="$tc "
        line+=" $what ${tc}ms/${tl}ms=${ratio}×"
      done
      echo "$line"
    done
  done
  rss=$(awk '/^VmRSS/ {printf "%.0f MiB", $2/1024}' "/proc/$mount_pid/status")
  echo "RSS of the mount after listing: $rss"
  # The kernel forgets the inodes (drop_caches 2: dentries and inodes);
  # chatfs should let go of its nodes, and the Go runtime return the pages.
  rss_forgot=
  if [ "$can_drop" = 1 ]; then
    sync; echo 2 >/proc/sys/vm/drop_caches
    sleep 10 # the Go scavenger returns freed pages over a few seconds
    rss_forgot=$(rss_of "$mount_pid")
  fi
  echo "RSS of the mount: idle $rss_idle, after the kernel forgot its inodes ${rss_forgot:-(not measured)}"
  for what in files by-name find; do
    for mode in cold warm; do
      # shellcheck disable=SC2086
      med=$(printf '%s\n' ${r[$what-$mode-ms]} | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
      # shellcheck disable=SC2086
      table+=("$(summary "$n | $what | $mode | ${med} ms" ${r[$what-$mode]})")
    done
  done
  table+=("| $n | RSS after listing | | $rss | | |")
  table+=("| $n | RSS idle (mounted, nothing listed) | | $rss_idle | | |")
  [ -z "$rss_forgot" ] || table+=("| $n | RSS after the kernel forgot (drop_caches 2) | | $rss_forgot | | |")
  unset r
  stop_mount
  rm -rf "$local"
done

echo
[ "$can_drop" = 1 ] && echo "cold: after drop_caches" || echo "cold: a fresh mount (drop_caches not permitted)"
echo "| N | listing | cache | chatfs (median) | ratio to local, median | spread |"
echo "| --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${table[@]}"

if [ "${BENCH_ONLY:-}" != listing ]; then
  # shellcheck source=bench/data.sh
  . "$here/bench/data.sh"
fi
