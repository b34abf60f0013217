#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# app_client.sh BUILD BACKEND: the client side under the preload. The
# servers are the kernel's (under dpdk-memif they must be preloaded too:
# memif has no kernel end; under dpdk-tap they run in the peer namespace);
# the clients run under scripts/demi-run:
#   1. redis-benchmark -n 5000 (50 clients) ping/set/get/incr/lpush/lrange
#      against redis-server: every test reports a rate, no error;
#   2. curl of a 16 MiB random file from nginx, sha256 checked, on a
#      connection reused for a second request.
BUILD=$(cd "${1:?build dir}" && pwd); BACKEND=${2:?backend}
NEED_TOOLS=(redis-server redis-benchmark nginx curl sha256sum)
. "$(dirname "$0")/lib.sh"
cell_begin client "$BACKEND" client

port=$(pick_port)
bg redis srv 120 redis-server --bind "$BIND" --port "$port" --save '' --appendonly no \
   --protected-mode no --dir "$CELL_TMP" --daemonize no
srv_pid=$BG_PID
wait_port "$ADDR" "$port" 20 || fail "redis-server did not accept connections on $ADDR:$port"
run cli 120 redis-benchmark -h "$ADDR" -p "$port" -n 5000 -t ping,set,get,incr,lpush,lrange --csv \
  >"$CELL_TMP/bench.csv" 2>"$CELL_TMP/bench.log" || fail "redis-benchmark (preloaded) exited with $?"
grep -qi error "$CELL_TMP/bench.log" && fail "redis-benchmark reported errors: $(grep -i error "$CELL_TMP/bench.log" | head -2)"
ntests=$(grep -c '^"' "$CELL_TMP/bench.csv")
[ "$ntests" -ge 8 ] || fail "redis-benchmark (preloaded) ran $ntests tests, expected 8+"
awk -F'"' 'NR > 1 && !($4 > 0) { bad = 1 } END { exit bad }' "$CELL_TMP/bench.csv" || fail "redis-benchmark: a test without a rate"
getrps=$(grep '^"GET"' "$CELL_TMP/bench.csv" | cut -d, -f2 | tr -d '"')
stop "$srv_pid"

port=$(pick_port)
nginx_setup "$CELL_TMP/ngx" "$BIND" "$port"
head -c 16777216 /dev/urandom >"$CELL_TMP/ngx/www/big.bin"
want=$(sha256sum <"$CELL_TMP/ngx/www/big.bin" | cut -d' ' -f1)
bg nginx srv 120 nginx -p "$CELL_TMP/ngx" -c "$CELL_TMP/ngx/nginx.conf"
srv_pid=$BG_PID
wait_port "$ADDR" "$port" 20 || fail "nginx did not accept connections on $ADDR:$port"
url=http://$ADDR:$port
run cli 60 curl -sS -v -o "$CELL_TMP/big.1" "$url/big.bin" -o "$CELL_TMP/idx.1" "$url/index.html" \
  2>"$CELL_TMP/curl.log" || fail "curl (preloaded) exited with $?: $(tail -n 2 "$CELL_TMP/curl.log" | tr '\n' ' ')"
grep -q "Re-using existing connection" "$CELL_TMP/curl.log" || fail "curl did not reuse its connection"
[ "$(sha256sum <"$CELL_TMP/big.1" | cut -d' ' -f1)" = "$want" ] || fail "16 MiB file: sha256 differs ($(stat -c %s "$CELL_TMP/big.1") B)"
cmp -s "$CELL_TMP/idx.1" "$CELL_TMP/ngx/www/index.html" || fail "index.html differs"
stop "$srv_pid"
cell_pass "redis-benchmark $ntests tests (GET $getrps req/s); curl 16 MiB sha256 ok on a reused connection"
