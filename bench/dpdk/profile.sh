#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/dpdk/profile.sh [BUILD_DIR]: where the time of a 64 B TCP echo over
# DPDK memif goes, per stage, on both sides (issue 15's breakdown).
#
# Runs bench/dpdk's demi_tcp_pingpong between two processes over a memif
# pair (server on CPU SRV_CPU, client on CLI_CPU), records each with perf
# for SECS seconds while they ping-pong, and prints, per stage of the
# packet path (bench/dpdk/stages.py: device RX/TX, stack input/output,
# checksums, timers, dispatch, push, wait loop, clock, buffers, app),
# its share of each process's samples and its CPU time per round trip
# (the round trips in the window taken at the client's mean rate).
# BULK=1 profiles the bulk transfer instead (shares only).
# Environment: N (round trips, default 400000), SIZE (64), SECS (2),
# SRV_CPU (0), CLI_CPU (1), OUT (where perf.data and the reports stay,
# default /tmp/demi-profile).
set -u
BUILD=${1:-build}
B=$BUILD/bench/dpdk
here=$(cd "$(dirname "$0")" && pwd)
N=${N:-400000} SIZE=${SIZE:-64} SECS=${SECS:-2} SRV_CPU=${SRV_CPU:-0} CLI_CPU=${CLI_CPU:-1}
command -v perf >/dev/null || { echo "profile.sh: perf is not installed"; exit 77; }
[ -x "$B/demi_tcp_pingpong" ] || { echo "missing $B/demi_tcp_pingpong: build first"; exit 1; }
TMP=$(mktemp -d /tmp/demi_prof.XXXXXX)
OUT=${OUT:-/tmp/demi-profile}
mkdir -p "$OUT"
PIDS=""
cleanup() {
  for p in $PIDS; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$TMP" /var/run/dpdk/dmp_$$_*
}
trap cleanup EXIT INT TERM
dm_env() { # role ip
  echo "DEMI_BACKEND=dpdk DEMI_IPV4=$2/24 DEMI_DPDK_LINK_WAIT_MS=10000 DEMI_LOG=warn \
DEMI_DPDK_PREFIX=dmp_$$_$1 DEMI_DPDK_ARGS=--vdev=net_memif0,role=$1,socket=$TMP/demi.sock"
}
env $(dm_env server 10.9.0.1) taskset -c "$SRV_CPU" timeout 300 "$B/demi_tcp_pingpong" server -a 10.9.0.1 -p 7777 \
  >"$TMP/srv.out" 2>&1 &
SRV=$!; PIDS="$PIDS $SRV"
sleep 0.7
if [ "${BULK:-0}" = 1 ]; then args="-B 21474836480"; else args="-n $N -s $SIZE"; fi
t0=$(date +%s.%N)
env $(dm_env client 10.9.0.2) taskset -c "$CLI_CPU" timeout 300 "$B/demi_tcp_pingpong" client -a 10.9.0.1 -p 7777 \
  $args >"$TMP/cli.out" 2>&1 &
CLI=$!; PIDS="$PIDS $CLI"
sleep 1.5
# timeout runs the program as its child: record that
sp=$(pgrep -P "$SRV" | head -1) cp=$(pgrep -P "$CLI" | head -1)
[ -n "$sp" ] && [ -n "$cp" ] || { echo "profile.sh: the ping-pong did not start"; cat "$TMP"/*.out; exit 1; }
perf record -q --call-graph dwarf,8192 -p "$sp" -o "$OUT/server.data" -- sleep "$SECS" >/dev/null 2>&1 &
r1=$!
perf record -q --call-graph dwarf,8192 -p "$cp" -o "$OUT/client.data" -- sleep "$SECS" >/dev/null 2>&1
wait $r1
if [ "${BULK:-0}" = 1 ]; then kill "$cp" 2>/dev/null; fi
wait "$CLI" 2>/dev/null
t1=$(date +%s.%N)
res=$(grep '^RESULT' "$TMP/cli.out")
echo "command: OUT=$OUT ${BULK:+BULK=$BULK }N=$N SIZE=$SIZE SECS=$SECS bench/dpdk/profile.sh $BUILD"
echo "${res:-the client gave no result (bulk runs are stopped after the recording)}"
# round trips while perf recorded: the client's mean rate (its whole run,
# connect included, a few ms) over the window
rts=""
[ "${BULK:-0}" = 1 ] || [ -z "$res" ] || rts=$(python3 -c "print(round($N * $SECS / ($t1 - $t0)))")
for s in server client; do
  perf report -i "$OUT/$s.data" --no-children --sort dso,sym -g none 2>/dev/null >"$OUT/$s.txt"
done
echo
python3 "$here/stages.py" "server=$OUT/server.txt${rts:+:$rts}" "client=$OUT/client.txt${rts:+:$rts}"
