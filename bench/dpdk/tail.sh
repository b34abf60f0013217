#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/dpdk/tail.sh [BUILD_DIR]: what the echo's tail over memif is made of
# (issue 15, step 3). In one run, pinned as run.sh (server CPU 0, client 1):
#   (1) the raw memif ping-pong (no stack, no parked interrupt thread)
#   (2) the demi echo as run.sh runs it, each round trip longer than 5x the
#       median written out (demi_tcp_pingpong -o)
#   (3) the same with DPDK's interrupt thread parked for 1 s turns instead
#       of DEMI_DPDK_INTR_TURN_US's 20 ms
# and for (2) and (3) the involuntary context switches of each process
# (GNU time %c), the outliers per second of the run, and how many of them
# fall on the 20 ms grid of some turn (gap to the previous outlier within
# 0.5 ms of a multiple of 20 ms).
# Environment: N (round trips, default 300000), SIZE (64).
set -u
BUILD=${1:-build}
B=$BUILD/bench/dpdk
N=${N:-300000}
SIZE=${SIZE:-64}
TMP=$(mktemp -d /tmp/demi_tail.XXXXXX)
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$TMP" /var/run/dpdk/dmt_$$_*
}
trap cleanup EXIT INT TERM
field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

taskset -c 0 timeout 120 "$B/raw_memif_pingpong" server -S "$TMP/raw.sock" >/dev/null 2>&1 &
PIDS="$PIDS $!"
sleep 0.5
RAW=$(taskset -c 1 timeout 120 "$B/raw_memif_pingpong" client -S "$TMP/raw.sock" -n "$N" -s "$SIZE" 2>/dev/null | grep '^RESULT')
wait
echo "(1) raw memif: p50 $(field p50 "$RAW") p99 $(field p99 "$RAW") p99.9 $(field p999 "$RAW") ns"

dm_env() { # role ip
    echo "DEMI_BACKEND=dpdk DEMI_IPV4=$2/24 DEMI_DPDK_LINK_WAIT_MS=10000 DEMI_LOG=warn \
DEMI_DPDK_PREFIX=dmt_$$_$1 DEMI_DPDK_ARGS=--vdev=net_memif0,role=$1,socket=$TMP/d$3.sock"
}
one() { # label tag extra-env...
    label=$1 tag=$2
    shift 2
    env $(dm_env server 10.9.0.1 "$tag") "$@" /usr/bin/time -f "%c" -o "$TMP/srv$tag.time" taskset -c 0 \
        timeout 120 "$B/demi_tcp_pingpong" server -1 -a 10.9.0.1 -p 7777 >/dev/null 2>&1 &
    PIDS="$PIDS $!"
    sleep 0.5
    t0=$(date +%s.%N)
    r=$(env $(dm_env client 10.9.0.2 "$tag") "$@" /usr/bin/time -f "%c" -o "$TMP/cli$tag.time" taskset -c 1 \
        timeout 120 "$B/demi_tcp_pingpong" client -a 10.9.0.1 -p 7777 -n "$N" -s "$SIZE" -o "$TMP/out$tag" \
        2>/dev/null | grep '^RESULT')
    t1=$(date +%s.%N)
    wait
    secs=$(echo "$t1 - $t0" | bc)
    python3 - "$TMP/out$tag" "$secs" "$label" "$r" "$(tail -1 "$TMP/srv$tag.time")" "$(tail -1 "$TMP/cli$tag.time")" <<'PY'
import sys
path, secs, label, res, csrv, ccli = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
f = dict(kv.split("=", 1) for kv in res.split() if "=" in kv)
rows = [tuple(map(int, l.split())) for l in open(path)] if res else []
grid = 0
for (_, a, _), (_, b, _) in zip(rows, rows[1:]):
    gap = (b - a) / 1e6
    if gap >= 19.5 and abs(gap - 20 * round(gap / 20)) <= 0.5:
        grid += 1
worst = sorted((r[2] for r in rows), reverse=True)[:3]
# the ping-pong's own length (the wall time also holds the EAL start)
pp = int(f.get("mean", 0)) * int(f.get("n", 0)) / 1e9
bands = [sum(1 for r in rows if lo <= r[2] < hi) for lo, hi in ((0, 20000), (20000, 1000000), (1000000, 1 << 62))]
print(f"{label}: p50 {f.get('p50')} p99 {f.get('p99')} p99.9 {f.get('p999')} ns; "
      f"{len(rows)} round trips > 5x p50 in {pp:.2f} s of ping-pong ({secs:.1f} s with start-up): "
      f"{bands[0]} under 20 us, {bands[1]} 20 us-1 ms, {bands[2]} over 1 ms; "
      f"{grid} spaced on a 20 ms grid; worst {worst} ns; "
      f"involuntary switches: server {csrv}, client {ccli}")
PY
}
one "(2) demi echo, interrupt thread turns of 20 ms" a
one "(3) demi echo, turns of 1 s" b DEMI_DPDK_INTR_TURN_US=1000000
