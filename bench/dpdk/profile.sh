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
# BULK=1 profiles a bulk transfer instead (client sends, server receives)
# and prints the CPU time per TCP data segment: the client reports its
# progress (demi_tcp_pingpong -v) and the segments pushed while perf
# recorded are BYTES/MSS over that window (MSS 1448: memif's 1500 B MTU
# less IPv4, TCP and timestamps).
# Environment: N (round trips, default 400000), SIZE (64), SECS (2),
# BULK_BYTES (bulk: bytes to send, default 32 GiB; must outlast the window),
# SRV_CPU (0), CLI_CPU (1), OUT (where perf.data and the reports stay,
# default /tmp/demi-profile), DEV (dpdk, the default: DPDK's net_memif;
# memif: our own memif device, devices/memif).
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
  if [ "${DEV:-dpdk}" = memif ]; then
    echo "DEMI_BACKEND=memif DEMI_MEMIF_ROLE=$1 DEMI_MEMIF_SOCKET=$TMP/mif.sock DEMI_IPV4=$2/24 \
DEMI_MEMIF_LINK_WAIT_MS=10000 DEMI_LOG=warn"
    return
  fi
  echo "DEMI_BACKEND=dpdk DEMI_IPV4=$2/24 DEMI_DPDK_LINK_WAIT_MS=10000 DEMI_LOG=warn \
DEMI_DPDK_PREFIX=dmp_$$_$1 DEMI_DPDK_ARGS=--vdev=net_memif0,role=$1,socket=$TMP/demi.sock"
}
env $(dm_env server 10.9.0.1) taskset -c "$SRV_CPU" timeout 300 "$B/demi_tcp_pingpong" server -a 10.9.0.1 -p 7777 \
  >"$TMP/srv.out" 2>&1 &
SRV=$!; PIDS="$PIDS $SRV"
sleep 0.7
BULK_BYTES=${BULK_BYTES:-34359738368}
if [ "${BULK:-0}" = 1 ]; then args="-B $BULK_BYTES -v"; else args="-n $N -s $SIZE"; fi
t0=$(date +%s.%N)
env $(dm_env client 10.9.0.2) taskset -c "$CLI_CPU" timeout 300 "$B/demi_tcp_pingpong" client -a 10.9.0.1 -p 7777 \
  $args >"$TMP/cli.out" 2>"$TMP/cli.err" &
CLI=$!; PIDS="$PIDS $CLI"
sleep 1.5
# timeout runs the program as its child: record that
sp=$(pgrep -P "$SRV" | head -1) cp=$(pgrep -P "$CLI" | head -1)
[ -n "$sp" ] && [ -n "$cp" ] || { echo "profile.sh: the ping-pong did not start"; cat "$TMP"/*.out; exit 1; }
mono() { python3 -c 'import time; print(time.monotonic_ns())'; }
# bulk: no call graphs (the report does not use them, and copying 8 KiB
# of stack per sample cut the transfer's rate to a third)
cg="--call-graph dwarf,8192"
[ "${BULK:-0}" = 1 ] && cg=""
w0=$(mono)
perf record -q $cg -p "$sp" -o "$OUT/server.data" -- sleep "$SECS" >/dev/null 2>&1 &
r1=$!
perf record -q $cg -p "$cp" -o "$OUT/client.data" -- sleep "$SECS" >/dev/null 2>&1
w1=$(mono)
wait $r1
wait "$CLI" 2>/dev/null
t1=$(date +%s.%N)
res=$(grep '^RESULT' "$TMP/cli.out")
if [ "${BULK:-0}" = 1 ]; then
  echo "command: DEV=${DEV:-dpdk} OUT=$OUT BULK=1 BULK_BYTES=$BULK_BYTES SECS=$SECS bench/dpdk/profile.sh $BUILD"
else
  echo "command: DEV=${DEV:-dpdk} OUT=$OUT N=$N SIZE=$SIZE SECS=$SECS bench/dpdk/profile.sh $BUILD"
fi
echo "${res:-the client gave no result}"
# round trips while perf recorded: the client's mean rate (its whole run,
# connect included, a few ms) over the window
rts="" unit=""
if [ "${BULK:-0}" = 1 ]; then
  # bytes pushed at w0 and w1, interpolated between the progress lines
  rts=$(python3 - "$w0" "$w1" "$TMP/cli.err" <<'PY'
import sys
w0, w1 = int(sys.argv[1]), int(sys.argv[2])
pts = [tuple(map(int, l.split()[1:3])) for l in open(sys.argv[3]) if l.startswith("PROGRESS ")]
def at(t):
    for (ta, ba), (tb, bb) in zip(pts, pts[1:]):
        if ta <= t <= tb:
            return ba + (bb - ba) * (t - ta) / max(tb - ta, 1)
    return None
a, b = at(w0), at(w1)
print(round((b - a) / 1448) if a is not None and b is not None else "")
PY
)
  unit=seg
  [ -n "$rts" ] && echo "segments while perf recorded: $rts ($(python3 -c "print(round($rts * 1448 * 8 / (($w1 - $w0) / 1e9) / 1e9, 2))") Gbit/s)"
  [ -n "$rts" ] || echo "the transfer did not cover the window: raise BULK_BYTES"
elif [ -n "$res" ]; then
  rts=$(python3 -c "print(round($N * $SECS / ($t1 - $t0)))")
fi
for s in server client; do
  perf report -i "$OUT/$s.data" --no-children --sort dso,sym -g none 2>/dev/null >"$OUT/$s.txt"
done
echo
python3 "$here/stages.py" ${unit:+--unit $unit} "server=$OUT/server.txt${rts:+:$rts}" "client=$OUT/client.txt${rts:+:$rts}"
