#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# app_memcached.sh BUILD BACKEND: memcached (TCP only, -U 0, its default
# threads) under the backend; a text-protocol client (memc_client.py)
# stores 10,000 keys of 1 B..8 KiB and reads every one back, then a miss,
# a delete and an incr, every answer checked.
BUILD=$(cd "${1:?build dir}" && pwd); BACKEND=${2:?backend}
NEED_TOOLS=(memcached)
. "$(dirname "$0")/lib.sh"
cell_begin memcached "$BACKEND" server

port=$(pick_port)
bg memcached srv 120 memcached -U 0 -l "$BIND" -p "$port" -m 256 -u root
srv_pid=$BG_PID
wait_port "$ADDR" "$port" 20 || fail "memcached did not accept connections on $ADDR:$port"
run cli 90 "$PY" "$COMPAT_DIR/memc_client.py" "$ADDR" "$port" 10000 >"$CELL_TMP/client.log" 2>&1 \
  || fail "memcached client: $(tail -n 2 "$CELL_TMP/client.log" | tr '\n' ' ')"
kill -0 "$srv_pid" 2>/dev/null || fail "memcached exited during the test"
stop "$srv_pid"
cell_pass "$(tail -n 1 "$CELL_TMP/client.log"), miss/delete/incr ok"
