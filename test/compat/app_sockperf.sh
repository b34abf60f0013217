#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# app_sockperf.sh BUILD BACKEND: sockperf server (TCP) under the backend;
# the sockperf client runs ping-pong (64 B, --data-integrity: no drop,
# duplicate or reordering, percentiles printed) and throughput (1472 B
# messages, a non-zero message rate), 1 s each.
BUILD=$(cd "${1:?build dir}" && pwd); BACKEND=${2:?backend}
NEED_TOOLS=(sockperf)
. "$(dirname "$0")/lib.sh"
cell_begin sockperf "$BACKEND" server
SECS=${SOCKPERF_SECS:-1}

port=$(pick_port)
bg sockperf srv 120 sockperf server --tcp -i "$BIND" -p "$port"
srv_pid=$BG_PID
wait_port "$ADDR" "$port" 20 || fail "sockperf server did not accept connections on $ADDR:$port"

run cli $((SECS + 30)) sockperf ping-pong --tcp -i "$ADDR" -p "$port" -m 64 -t "$SECS" --data-integrity \
  >"$CELL_TMP/pp.log" 2>&1 || fail "sockperf ping-pong exited with $?: $(grep -i err "$CELL_TMP/pp.log" | head -n 2)"
grep -q "dropped messages = 0; # duplicated messages = 0; # out-of-order messages = 0" "$CELL_TMP/pp.log" \
  || fail "ping-pong: $(grep 'dropped messages' "$CELL_TMP/pp.log" || echo 'no message accounting printed')"
grep -qi "data integrity.*fail\|integrity error" "$CELL_TMP/pp.log" && fail "ping-pong: data integrity check failed"
p50=$(awk '/percentile 50.000/ {print $NF}' "$CELL_TMP/pp.log")
[ -n "$p50" ] || fail "ping-pong printed no percentiles"

run cli $((SECS + 30)) sockperf throughput --tcp -i "$ADDR" -p "$port" -m 1472 -t "$SECS" \
  >"$CELL_TMP/tp.log" 2>&1 || fail "sockperf throughput exited with $?"
rate=$(sed -n 's/.*Message Rate is \([0-9]*\).*/\1/p' "$CELL_TMP/tp.log")
[ -n "$rate" ] && [ "$rate" -gt 0 ] || fail "throughput: no message rate ($(tail -n 1 "$CELL_TMP/tp.log"))"
bw=$(sed -n 's/.*BandWidth is .*(\(.*Mbps\)).*/\1/p' "$CELL_TMP/tp.log")

kill -0 "$srv_pid" 2>/dev/null || fail "sockperf server exited during the test"
stop "$srv_pid"
cell_pass "ping-pong 64 B p50 ${p50} us, no loss/dup/reorder; throughput 1472 B: $rate msg/s ($bw)"
