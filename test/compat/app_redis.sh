#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# app_redis.sh BUILD BACKEND: redis-server (Debian's) under the backend,
# driven by its own tools:
#   1. redis-benchmark, every default test, -n 5000 (50 clients): every
#      test must report a rate and no error;
#   2. redis-cli SET then GET of values of 1 B .. 1 MiB, compared byte for byte;
#   3. a BGSAVE while 10 connections keep doing checked SET/GETs
#      (redis_bgsave.py), then dump.rdb must exist;
#   4. 60 connections (20 client processes) that ask for 16 MB and exit
#      without reading, then a GET of 1 MiB must still be served byte for
#      byte.
BUILD=$(cd "${1:?build dir}" && pwd); BACKEND=${2:?backend}
NEED_TOOLS=(redis-server redis-cli redis-benchmark)
. "$(dirname "$0")/lib.sh"
cell_begin redis "$BACKEND" server

port=$(pick_port)
bg redis srv 280 redis-server --bind "$BIND" --port "$port" --save '' --appendonly no \
   --protected-mode no --dir "$CELL_TMP" --dbfilename dump.rdb --daemonize no
srv_pid=$BG_PID
wait_port "$ADDR" "$port" 20 || fail "redis-server did not accept connections on $ADDR:$port"

# 1. every default benchmark
run cli 180 redis-benchmark -h "$ADDR" -p "$port" -n 5000 --csv >"$CELL_TMP/bench.csv" 2>"$CELL_TMP/bench.log" \
  || fail "redis-benchmark exited with $? (all default tests, -n 5000)"
ntests=$("$PY" - "$CELL_TMP/bench.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
bad = [r["test"] for r in rows if float(r["rps"]) <= 0]
print(len(rows) if not bad else "bad:" + ",".join(bad))
PY
)
case "$ntests" in ''|bad:*) fail "redis-benchmark: tests without a rate: ${ntests:-none parsed}";; esac
[ "$ntests" -ge 20 ] || fail "redis-benchmark ran only $ntests tests (expected the 20+ defaults)"
grep -qi "error" "$CELL_TMP/bench.log" && fail "redis-benchmark reported errors: $(grep -i error "$CELL_TMP/bench.log" | head -2)"
getrps=$(grep '^"GET"' "$CELL_TMP/bench.csv" | cut -d, -f2 | tr -d '"')

# 2. SET/GET of values up to 1 MiB through redis-cli
for size in 1 1000 65536 1048576; do
  head -c $(( size * 3 / 4 + 3 )) /dev/urandom | base64 -w0 | head -c "$size" >"$CELL_TMP/val.$size"
  run cli 30 redis-cli -h "$ADDR" -p "$port" -x SET "key:$size" <"$CELL_TMP/val.$size" >"$CELL_TMP/set.$size" 2>>"$CELL_TMP/cli.log" \
    || fail "redis-cli SET of $size B failed: $(head -c 200 "$CELL_TMP/set.$size")"
  [ "$(cat "$CELL_TMP/set.$size")" = OK ] || fail "redis-cli SET of $size B answered: $(head -c 200 "$CELL_TMP/set.$size")"
  run cli 30 redis-cli -h "$ADDR" -p "$port" --raw GET "key:$size" >"$CELL_TMP/get.$size" 2>>"$CELL_TMP/cli.log" \
    || fail "redis-cli GET of $size B failed"
  # --raw output is the value and one newline
  head -c "$size" "$CELL_TMP/get.$size" | cmp -s - "$CELL_TMP/val.$size" && [ "$(stat -c %s "$CELL_TMP/get.$size")" = $((size + 1)) ] \
    || fail "redis-cli GET of $size B returned different bytes ($(stat -c %s "$CELL_TMP/get.$size") B)"
done

# 3. BGSAVE under traffic
run cli 90 "$PY" "$COMPAT_DIR/redis_bgsave.py" "$ADDR" "$port" 10 >"$CELL_TMP/bgsave.log" 2>&1 \
  || fail "BGSAVE with connected clients: $(tail -n 3 "$CELL_TMP/bgsave.log" | tr '\n' ' ')"
[ -s "$CELL_TMP/dump.rdb" ] || fail "BGSAVE reported ok but $CELL_TMP/dump.rdb is missing"

# 4. clients that ask for 16 MB and vanish without reading (the process
#    exits; over dpdk-memif its port goes with it, mid-reply): each leaves
#    the server a connection full of unsent data until TCP gives up. Sixty
#    of them used to take every pool buffer, and the server could not send
#    a SYN-ACK any more; the pool now keeps a reserve for the stack.
head -c 3000003 /dev/urandom | base64 -w0 | head -c 4000000 >"$CELL_TMP/val.big"
run cli 30 redis-cli -h "$ADDR" -p "$port" -x SET big <"$CELL_TMP/val.big" >/dev/null 2>>"$CELL_TMP/cli.log" \
  || fail "redis-cli SET of 4 MB failed"
# (20 processes of 3 connections each: a process under dpdk-memif costs
# 0.4 s to start)
for i in $(seq 20); do
  run cli 20 "$PY" -c 'import os, socket, sys, time
ss = [socket.create_connection((sys.argv[1], int(sys.argv[2]))) for _ in range(3)]
for s in ss:
    s.sendall(b"GET big\r\n" * 4)
time.sleep(0.05)
os._exit(0)' "$ADDR" "$port" 2>>"$CELL_TMP/cli.log" || fail "vanishing client $i could not connect and send (exit $?)"
done

# the 1 MiB value is still intact after the save, and still served
run cli 30 redis-cli -h "$ADDR" -p "$port" --raw GET "key:1048576" >"$CELL_TMP/get.after" 2>>"$CELL_TMP/cli.log"
head -c 1048576 "$CELL_TMP/get.after" | cmp -s - "$CELL_TMP/val.1048576" || fail "1 MiB value changed after BGSAVE (or not served after 60 connections vanished)"

kill -0 "$srv_pid" 2>/dev/null || fail "redis-server exited during the test"
stop "$srv_pid"
cell_pass "$ntests benchmark tests (GET $getrps req/s), SET/GET 1 B..1 MiB ok, BGSAVE with 10 clients ok, served after 60 connections vanished mid-reply"
