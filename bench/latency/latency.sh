#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/latency/latency.sh [BUILD] [--backends kernel,posix,uring,dpdk-memif]
# One invocation, one machine, every column measured back to back so the
# ratios compare like with like:
#   sockperf ping-pong TCP 64 B / 1 KiB / 16 KiB (half round trip, p50/p99/p99.9)
#   redis-benchmark -c 1 -P 1 GET/SET latency, -c 50 GET/SET throughput
#   wrk -t1 -c10 against nginx (one worker, keepalive): requests/s, latency
# over the Linux kernel (loopback, nothing preloaded; also with both ends
# pinned to one CPU: the kernel's best ping-pong case), our posix, uring and
# dpdk-memif backends (both ends preloaded), and the raw DPDK memif
# ping-pong with no stack at all (the floor; bench/dpdk/raw_memif_pingpong).
# A column whose pieces are not built is reported SKIP with the reason.
# Writes BUILD/latency/{latency.json,latency.md,*.png} and prints the table.
# Environment: SP_SECS (5), REDIS_N1 (50000), REDIS_N50 (200000), WRK_SECS (5), RAW_N (100000).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
BUILD=$top/build
case "${1:-}" in ''|--*) ;; *) BUILD=$1; shift ;; esac
BUILD=$(cd "$BUILD" && pwd) || exit 1
BACKENDS="kernel kernel-1cpu posix uring dpdk-memif"
[ "${1:-}" = --backends ] && BACKENDS=${2//,/ }
OUT=$BUILD/latency
rm -rf "$OUT"; mkdir -p "$OUT/raw"
PY=/usr/bin/python3
cmdline="bench/latency/latency.sh $*"
started=$(date -u +%FT%TZ)

# Measurement-major: every backend's sockperf, then every backend's redis,
# then nginx, so that the figures of one row are minutes apart at most.
for m in sockperf redis nginx; do
  for be in $BACKENDS; do
    echo "== $m / $be" >&2
    res=$(timeout -k 10 400 bash "$here/run_backend.sh" "$BUILD" "$be" "$OUT/raw" "$m" 2>>"$OUT/raw/$be.stderr" | grep '^RESULT' | tail -n 1)
    [ -n "$res" ] || res="RESULT FAIL - no result (timed out or crashed)"
    echo "$res" >"$OUT/raw/$be.$m.result"
    echo "   $res" >&2
  done
done

# The floor: raw frames over memif, no stack (64 B and 1 KiB; 16 KiB is
# not one frame).
echo "== memif-floor" >&2
raw=${RAW_MEMIF:-$BUILD/bench/dpdk/raw_memif_pingpong}
mkdir -p "$OUT/raw/memif-floor"
if [ ! -x "$raw" ]; then
  echo "RESULT SKIP 0s raw memif ping-pong not built ($raw; bench/dpdk)" >"$OUT/raw/memif-floor.result"
elif [ "$(id -u)" != 0 ]; then
  echo "RESULT SKIP 0s needs root" >"$OUT/raw/memif-floor.result"
else
  tmp=$(mktemp -d /tmp/demi_lat_raw.XXXXXX)
  ok=1
  for size in 64 1024; do
    setsid timeout -k 3 120 "$raw" server -S "$tmp/raw$size.sock" >"$OUT/raw/memif-floor/server_$size.out" 2>&1 &
    spid=$!
    sleep 0.5
    timeout -k 3 120 "$raw" client -S "$tmp/raw$size.sock" -n "${RAW_N:-100000}" -s "$size" \
      >"$OUT/raw/memif-floor/client_$size.out" 2>&1 || ok=0
    for i in $(seq 50); do kill -0 $spid 2>/dev/null || break; sleep 0.1; done
    kill -TERM -- -$spid 2>/dev/null; wait $spid 2>/dev/null
  done
  rm -rf "$tmp"
  if [ $ok = 1 ]; then echo "RESULT PASS - raw memif ping-pong" >"$OUT/raw/memif-floor.result"
  else echo "RESULT FAIL - raw_memif_pingpong client failed (see raw/memif-floor/)" >"$OUT/raw/memif-floor.result"; fi
fi
echo "   $(cat "$OUT/raw/memif-floor.result")" >&2

"$PY" "$here/report.py" "$OUT" --command "$cmdline" --started "$started" \
  --commit "$(git -C "$top" rev-parse --short HEAD 2>/dev/null)" --backends "$BACKENDS"
