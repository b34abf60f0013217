#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# app_iperf3.sh BUILD BACKEND: iperf3 server (one test, -1) under the
# backend; the iperf3 client sends for 2 s. Both write JSON; the bytes are
# accounted: the server's received count equals what the client was told,
# it is non-zero, and it differs from what the client sent by no more than
# what socket buffers can hold at the end (64 MiB).
BUILD=$(cd "${1:?build dir}" && pwd); BACKEND=${2:?backend}
NEED_TOOLS=(iperf3)
. "$(dirname "$0")/lib.sh"
cell_begin iperf3 "$BACKEND" server
SECS=${IPERF_SECS:-2}

port=$(pick_port)
bg iperf3srv srv 120 iperf3 -s -B "$BIND" -p "$port" -1 -J --logfile "$CELL_TMP/server.json"
srv_pid=$BG_PID
# No probe connection here: iperf3 -1 would take it for the one test.
sleep 0.5
for i in $(seq 40); do
  run cli $((SECS + 30)) iperf3 -c "$ADDR" -p "$port" -t "$SECS" -J >"$CELL_TMP/client.json" 2>"$CELL_TMP/client.log" && break
  grep -q "Connection refused\|unable to connect" "$CELL_TMP/client.json" || break   # only retry "not up yet"
  sleep 0.25
done
for i in $(seq 100); do kill -0 "$srv_pid" 2>/dev/null || break; sleep 0.1; done   # iperf3 -1 exits after its test
stop "$srv_pid"
"$PY" - "$CELL_TMP/client.json" "$CELL_TMP/server.json" >"$CELL_TMP/check.log" 2>&1 <<'PY' || fail "$(tail -n 1 "$CELL_TMP/check.log")"
import json, sys
try:
    c = json.load(open(sys.argv[1]))
except Exception as e:
    print("client printed no JSON report:", e); sys.exit(1)
if c.get("error"):
    print("client:", c["error"]); sys.exit(1)
try:
    s = json.load(open(sys.argv[2]))
except Exception as e:
    print("server wrote no JSON report:", e); sys.exit(1)
if s.get("error"):
    print("server:", s["error"]); sys.exit(1)
sent = c["end"]["sum_sent"]["bytes"]
told = c["end"]["sum_received"]["bytes"]
recv = s["end"]["sum_received"]["bytes"]
if recv <= 0:
    print("server received nothing"); sys.exit(1)
if told != recv:
    print("server counted %d B, client was told %d B" % (recv, told)); sys.exit(1)
if recv > sent or sent - recv > 64 << 20:
    print("client sent %d B, server received %d B" % (sent, recv)); sys.exit(1)
print("%.2f Gbit/s, %d B sent, %d B received" % (c["end"]["sum_received"]["bits_per_second"] / 1e9, sent, recv))
PY
cell_pass "$(tail -n 1 "$CELL_TMP/check.log")"
