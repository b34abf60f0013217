#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# app_nginx.sh BUILD BACKEND: nginx (Debian's nginx-light, one worker, its
# own prefix and config) under the backend, driven by:
#   1. wrk for 5 s with keepalive, then 5 s with "Connection: close" (a new
#      connection per request): every response 2xx, no socket errors;
#   2. curl of a 16 MiB random file, sha256 checked, once on a connection
#      reused for a second request (keepalive, checked in curl -v) and once
#      with "Connection: close".
BUILD=$(cd "${1:?build dir}" && pwd); BACKEND=${2:?backend}
NEED_TOOLS=(nginx wrk curl sha256sum)
. "$(dirname "$0")/lib.sh"
cell_begin nginx "$BACKEND" server
WRK_SECS=${WRK_SECS:-5}

port=$(pick_port)
nginx_setup "$CELL_TMP/ngx" "$BIND" "$port"
head -c 16777216 /dev/urandom >"$CELL_TMP/ngx/www/big.bin"
want=$(sha256sum <"$CELL_TMP/ngx/www/big.bin" | cut -d' ' -f1)
bg nginx srv 200 nginx -p "$CELL_TMP/ngx" -c "$CELL_TMP/ngx/nginx.conf"
srv_pid=$BG_PID
wait_port "$ADDR" "$port" 20 || fail "nginx did not accept connections on $ADDR:$port"
url=http://$ADDR:$port

# wrk_check NAME ARGS...: run wrk, check it, leave req/s in $rps
wrk_check() {
  local name=$1; shift
  run cli $((WRK_SECS + 30)) wrk -t1 -c10 -d"${WRK_SECS}s" "$@" "$url/index.html" >"$CELL_TMP/wrk_$name.out" 2>&1 \
    || fail "wrk ($name) exited with $?: $(tail -n 2 "$CELL_TMP/wrk_$name.out" | tr '\n' ' ')"
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$CELL_TMP/wrk_$name.out")
  [ -n "$rps" ] || fail "wrk ($name) printed no Requests/sec"
  awk -v r="$rps" 'BEGIN { exit !(r > 0) }' || fail "wrk ($name): 0 requests/s"
  grep -q "Non-2xx" "$CELL_TMP/wrk_$name.out" && fail "wrk ($name): $(grep Non-2xx "$CELL_TMP/wrk_$name.out")"
  grep -q "Socket errors" "$CELL_TMP/wrk_$name.out" && fail "wrk ($name): $(grep 'Socket errors' "$CELL_TMP/wrk_$name.out")"
  return 0
}
wrk_check keepalive; ka=$rps
wrk_check close -H "Connection: close"; cl=$rps

# curl: keepalive (two requests, one connection) and Connection: close
run cli 60 curl -sS -v -o "$CELL_TMP/big.1" "$url/big.bin" -o "$CELL_TMP/idx.1" "$url/index.html" \
  2>"$CELL_TMP/curl_ka.log" || fail "curl (keepalive) exited with $?: $(tail -n 2 "$CELL_TMP/curl_ka.log" | tr '\n' ' ')"
grep -q "Re-using existing connection" "$CELL_TMP/curl_ka.log" || fail "curl did not reuse the connection for its second request"
[ "$(sha256sum <"$CELL_TMP/big.1" | cut -d' ' -f1)" = "$want" ] || fail "16 MiB file over keepalive: sha256 differs ($(stat -c %s "$CELL_TMP/big.1") B)"
cmp -s "$CELL_TMP/idx.1" "$CELL_TMP/ngx/www/index.html" || fail "index.html after the 16 MiB file differs"
run cli 60 curl -sS -H "Connection: close" -o "$CELL_TMP/big.2" "$url/big.bin" 2>"$CELL_TMP/curl_close.log" \
  || fail "curl (Connection: close) exited with $?: $(tail -n 2 "$CELL_TMP/curl_close.log")"
[ "$(sha256sum <"$CELL_TMP/big.2" | cut -d' ' -f1)" = "$want" ] || fail "16 MiB file with Connection: close: sha256 differs ($(stat -c %s "$CELL_TMP/big.2") B)"

kill -0 "$srv_pid" 2>/dev/null || fail "nginx exited during the test"
stop "$srv_pid"
grep -E "\[(alert|emerg|crit)\]" "$CELL_TMP/ngx/logs/error.log" >"$CELL_TMP/ngx_errors.log" && fail "nginx error.log: $(head -n 2 "$CELL_TMP/ngx_errors.log")"
cell_pass "wrk ${WRK_SECS}s keepalive $ka req/s, close $cl req/s; 16 MiB sha256 ok (keepalive, close)"
