# bench/data.sh — the data path, sourced by bench.sh after the listings
# (it uses bench.sh's $work, $url, $mnt, $runs, $can_drop, die, summary).
#
# For each size in BENCH_SIZES (MiB, default "9 100") it times, interleaved
# with its floor, run by run:
#   cold read      `cat files/<uuid>` of a file the mount has never seen
#                  (looked up by uuid, downloaded while read), against curl
#                  of the same file to /dev/null and to a file on the disk
#                  of $TMPDIR (the disk of the mount's cache);
#   cold, known    the same read when the index already knows the file's
#                  size (the cache emptied and the mount restarted first);
#   warm read      `cat` of the cached file against `cat` of a local copy
#                  (both after drop_caches when permitted; the other
#                  rows only sync before each command);
# and once: the first 4 KiB (`head -c 4096 files/<uuid>` of a file never
# seen, of the largest size) against `curl | head -c 4096`, and `cp` of
# 200 files of 64 KiB into upload/ against a local copy that fsyncs each
# file (bench/synccp). Every file read is new to the server-side page
# cache's competitor only by its uuid: each run uploads fresh copies.
data_sizes=${BENCH_SIZES:-"9 100"}
data_state=$work/state-data
base=$url/app-id/bench
max_size=$((200 << 20))

umask 077
printf 'Authorization: Bearer %s\n' "$(cat "$work/emu/token")" >"$work/auth.hdr"

# us CMD...: the command's wall time in microseconds (output discarded).
us() {
  local t0 t1
  t0=$(date +%s%N)
  "$@" >/dev/null || die "failed: $*"
  t1=$(date +%s%N)
  echo $(( (t1 - t0) / 1000 ))
}
# settle: dirty pages written back before a timed command, so that none
# of the previous one's writeback lands in it. drop: the page cache
# dropped as well (warm reads: the file from the disk, as a local cat).
settle() { sync; }
drop() { sync; if [ "$can_drop" = 1 ]; then echo 1 >/proc/sys/vm/drop_caches; fi; }
put() { # FILE: upload it to the emulator, print its uuid
  curl -sf -H @"$work/auth.hdr" -F "file=@$1;filename=bench.bin" "$base/chatfiles" |
    sed -n 's/.*"uuid" *: *"\([0-9a-f-]*\)".*/\1/p'
}
get() { # UUID OUT
  curl -sf -H @"$work/auth.hdr" -H 'Accept: application/octet-stream' -o "$2" "$base/chatfiles/$1"
}
get_head() { # UUID: the first 4 KiB through a pipe, as a client that stops early
  { curl -s -H @"$work/auth.hdr" -H 'Accept: application/octet-stream' "$base/chatfiles/$1" || true; } | head -c 4096
}
start_data_mount() {
  mkdir -p "$mnt"
  "$work/chatfs" mount --state "$data_state" --host "$url" --app-id bench --token-file "$work/emu/token" \
    --allow-plain-http --max-size "$max_size" "$mnt" >"$work/mount-data.log" 2>&1 &
  mount_pid=$!
  for _ in $(seq 1 200); do
    if grep -q " $mnt fuse" /proc/mounts && [ -d "$mnt/bench/files" ]; then return 0; fi
    kill -0 "$mount_pid" 2>/dev/null || { cat "$work/mount-data.log"; die "chatfs mount exited"; }
    sleep 0.05
  done
  cat "$work/mount-data.log"; die "the mount did not come up"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / (b > 0 ? b : 1) }'; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
msf() { awk -v u="$1" 'BEGIN { printf (u < 10000 ? "%.1f ms" : "%.0f ms"), u / 1000 }'; }
drained() { # wait until upload/ is empty: every file uploaded
  for _ in $(seq 1 1200); do
    [ -z "$(ls -A "$mnt/bench/upload")" ] && return 0
    sleep 0.1
  done
  die "upload/ did not drain"
}

dtable=()
declare -A d=()
start_data_mount
for mib in $data_sizes; do
  head -c $((mib << 20)) /dev/urandom >"$work/src.bin"
  for i in $(seq 1 "$runs"); do
    u=$(put "$work/src.bin"); [ -n "$u" ] || die "upload to the emulator failed"
    settle; tc=$(us cat "$mnt/bench/files/$u")
    settle; tn=$(us get "$u" /dev/null)
    settle; tf=$(us get "$u" "$work/dl.bin"); rm -f "$work/dl.bin"
    cmp -s "$mnt/bench/files/$u" "$work/src.bin" || die "files/$u differs from what was uploaded"
    # The size known to the index, the bytes not cached: restart empty.
    stop_mount; start_data_mount; stat "$mnt/bench/files/$u" >/dev/null
    stop_mount; rm -rf "$data_state/cache/files"; start_data_mount
    stat "$mnt/bench/files/$u" >/dev/null
    settle; tk=$(us cat "$mnt/bench/files/$u")
    settle; tn2=$(us get "$u" /dev/null)
    # Warm: the cached file against a local one.
    cp "$work/src.bin" "$work/local.bin"
    drop; tw=$(us cat "$mnt/bench/files/$u")
    drop; tl=$(us cat "$work/local.bin")
    rm -f "$work/local.bin"
    echo "$mib MiB run $i: cold $(msf "$tc") (curl /dev/null $(msf "$tn"), to a file $(msf "$tf"))," \
      "cold known $(msf "$tk") (curl $(msf "$tn2")), warm $(msf "$tw") (cat $(msf "$tl"))"
    d[$mib-cold-ms]+="$tc " d[$mib-known-ms]+="$tk " d[$mib-warm-ms]+="$tw "
    d[$mib-cold-file]+="$(ratio "$tc" "$tf") " d[$mib-cold-null]+="$(ratio "$tc" "$tn") "
    d[$mib-known-null]+="$(ratio "$tk" "$tn2") " d[$mib-warm]+="$(ratio "$tw" "$tl") "
  done
  # shellcheck disable=SC2086
  {
    dtable+=("$(summary "cold read $mib MiB | $(msf "$(median ${d[$mib-cold-ms]})") | curl to a file" ${d[$mib-cold-file]})")
    dtable+=("$(summary "cold read $mib MiB | $(msf "$(median ${d[$mib-cold-ms]})") | curl to /dev/null" ${d[$mib-cold-null]})")
    dtable+=("$(summary "cold read $mib MiB, size known | $(msf "$(median ${d[$mib-known-ms]})") | curl to /dev/null" ${d[$mib-known-null]})")
    dtable+=("$(summary "warm read $mib MiB | $(msf "$(median ${d[$mib-warm-ms]})") | cat of a local file" ${d[$mib-warm]})")
  }
done

# The first 4 KiB of a file never seen, of the largest size.
for i in $(seq 1 "$runs"); do
  u=$(put "$work/src.bin"); [ -n "$u" ] || die "upload to the emulator failed"
  settle; tc=$(us head -c 4096 "$mnt/bench/files/$u")
  cat "$mnt/bench/files/$u" >/dev/null # let the download end before the floor runs
  settle; tn=$(us get_head "$u")
  echo "first 4 KiB run $i: $(msf "$tc") (curl | head $(msf "$tn"))"
  d[head-ms]+="$tc " d[head]+="$(ratio "$tc" "$tn") "
done
# shellcheck disable=SC2086
dtable+=("$(summary "first 4 KiB | $(msf "$(median ${d[head-ms]})") | curl \\| head -c 4096" ${d[head]})")

# cp of 200 files of 64 KiB into upload/ against a local copy with fsync.
for i in $(seq 1 "$runs"); do
  mkdir -p "$work/small-$i" "$work/local-cp-$i"
  for k in $(seq -w 1 200); do head -c 65536 /dev/urandom >"$work/small-$i/r$i-$k.bin"; done
  settle; tc=$(us cp -r "$work/small-$i/." "$mnt/bench/upload/")
  drained
  settle; tl=$(us "$work/synccp" "$work/small-$i" "$work/local-cp-$i")
  rm -rf "$work/small-$i" "$work/local-cp-$i"
  echo "cp 200 × 64 KiB run $i: $(msf "$tc") (local with fsync $(msf "$tl"))"
  d[cp-ms]+="$tc " d[cp]+="$(ratio "$tc" "$tl") "
done
# shellcheck disable=SC2086
dtable+=("$(summary "cp 200 × 64 KiB into upload/ | $(msf "$(median ${d[cp-ms]})") | local cp, fsync per file" ${d[cp]})")
stop_mount
rm -f "$work/src.bin" "$work/auth.hdr"

echo
echo "| data path | chatfs (median) | floor | ratio to floor, median | spread |"
echo "| --- | --- | --- | --- | --- |"
printf '%s\n' "${dtable[@]}"
