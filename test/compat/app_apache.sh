#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# app_apache.sh BUILD BACKEND: the Apache HTTP server (Debian's apache2,
# the event MPM: in each child a listener thread and 25 workers that take
# turns on the connections, so a keep-alive connection is served by a
# different thread at nearly every request) under the backend, with its
# own minimal config: 2 children as www-data, the parent as root.
#   1. wrk for 2 s with keepalive, then 2 s with "Connection: close": every
#      response 2xx, no socket errors;
#   2. curl of a 4 MiB random file, compared, on a connection reused for a
#      second request and with "Connection: close";
#   3. both children served requests (the access log's %P), neither as
#      root.
# Under dpdk-tap and dpdk-memif the two children are DPDK secondaries on a
# port shared through demi-dpdk-primary (CELL_SHARED_PORT, lib.sh), a
# queue each.
BUILD=$(cd "${1:?build dir}" && pwd); BACKEND=${2:?backend}
NEED_TOOLS=(apache2 wrk curl)
CELL_SHARED_PORT=1
SHARED_GROUP=www-data   # the children may attach to the primary
. "$(dirname "$0")/lib.sh"
cell_begin apache "$BACKEND" server
mods=/usr/lib/apache2/modules
[ -f $mods/mod_mpm_event.so ] || cell_skip "apache2's event MPM module not found in $mods"
id www-data >/dev/null 2>&1 || cell_skip "no www-data user"

port=$(pick_port)
dir=$CELL_TMP/apache
apache_setup "$dir" "$BIND" "$port" event 2 'LogLevel warn
LogFormat "%P %>s" pidstatus
CustomLog '"$dir"'/logs/access.log pidstatus
KeepAliveTimeout 10'
head -c 4194304 /dev/urandom >"$dir/www/big.bin"
chmod 644 "$dir/www/big.bin"
bg apache srv 120 "${APACHE[@]}"
srv_pid=$BG_PID
shared_port_up 30 || fail "the shared port did not come up (tap ${TAP_IF:-} in ${NS_C:-}, or memif's socket)"
wait_port "$ADDR" "$port" 20 || fail "apache did not accept connections on $ADDR:$port"
url=http://$ADDR:$port

wrk_check keepalive "$url/index.html"; ka=$rps
wrk_check close "$url/index.html" -H "Connection: close"; cl=$rps

run cli 60 curl -sS -v --max-time 50 -o "$CELL_TMP/big.1" "$url/big.bin" -o "$CELL_TMP/idx.1" "$url/index.html" \
  2>"$CELL_TMP/curl_ka.log" || fail "curl (keepalive): $(tail -n 2 "$CELL_TMP/curl_ka.log" | tr '\n' ' ')"
grep -q "Re-using existing connection" "$CELL_TMP/curl_ka.log" || fail "curl did not reuse the connection for its second request"
cmp -s "$CELL_TMP/big.1" "$dir/www/big.bin" || fail "the 4 MiB file over keepalive differs ($(stat -c %s "$CELL_TMP/big.1") B)"
cmp -s "$CELL_TMP/idx.1" "$dir/www/index.html" || fail "index.html after the 4 MiB file differs"
run cli 60 curl -sS --max-time 50 -H "Connection: close" -o "$CELL_TMP/big.2" "$url/big.bin" 2>"$CELL_TMP/curl_close.log" ||
  fail "curl (Connection: close): $(tail -n 2 "$CELL_TMP/curl_close.log" | tr '\n' ' ')"
cmp -s "$CELL_TMP/big.2" "$dir/www/big.bin" || fail "the 4 MiB file with Connection: close differs ($(stat -c %s "$CELL_TMP/big.2") B)"

kill -0 "$srv_pid" 2>/dev/null || fail "apache exited during the test"
parent=$(cat "$dir/httpd.pid")
children=$(pgrep -P "$parent" | tr '\n' ' ')
users=$(for p in $children; do ps -o user= -p "$p"; done | sort -u | tr '\n' ' ')
[ "$users" = "www-data " ] || fail "apache's children run as '$users' (expected www-data)"
served=$(awk '$2 == 200 {print $1}' "$dir/logs/access.log" | sort | uniq -c | sort -rn | awk '{printf "%s:%s ", $2, $1}')
[ "$(echo "$served" | wc -w)" -ge 2 ] || fail "requests served by one child only ($served)"
# (a child under dpdk-memif may linger DEMI_LINGER_MS on a connection
# whose client process is gone before it exits, and the parent waits)
stop "$srv_pid" 15
grep -E ":(alert|emerg|crit)\]" "$dir/logs/error.log" >"$CELL_TMP/apache_errors.log" &&
  fail "apache's error.log: $(head -n 2 "$CELL_TMP/apache_errors.log")"
cell_pass "event MPM, 2 children x 25 threads as www-data; wrk ${WRK_SECS:-2}s keepalive $ka req/s, close $cl req/s; 4 MiB ok (keepalive, close); served (pid:requests) ${served% }"
