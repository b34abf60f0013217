#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# app_nginx.sh BUILD BACKEND: nginx (Debian's nginx-light, one worker, its
# own prefix and config) under the backend, driven by:
#   1. wrk for 2 s with keepalive, then 2 s with "Connection: close" (a new
#      connection per request): every response 2xx, no socket errors;
#   2. curl of a 16 MiB random file, sha256 checked, once on a connection
#      reused for a second request (keepalive, checked in curl -v) and once
#      with "Connection: close".
# Under dpdk-tap and dpdk-memif the server is stock nginx (master on, 2
# workers as its default user) on a DPDK port shared through
# demi-dpdk-primary (CELL_SHARED_PORT, lib.sh), the two curls run at once
# (under memif, a client process's queue is the server queue it reaches:
# two at once reach both workers), and the cell also checks that the
# workers are not root, that both served requests (the access log's pids)
# and that each owns a queue of the port that carried frames (the
# primary's table).
BUILD=$(cd "${1:?build dir}" && pwd); BACKEND=${2:?backend}
NEED_TOOLS=(nginx wrk curl sha256sum)
CELL_SHARED_PORT=1
. "$(dirname "$0")/lib.sh"
cell_begin nginx "$BACKEND" server
WRK_SECS=${WRK_SECS:-2}

port=$(pick_port)
nginx_setup "$CELL_TMP/ngx" "$BIND" "$port"
head -c 16777216 /dev/urandom >"$CELL_TMP/ngx/www/big.bin"
want=$(sha256sum <"$CELL_TMP/ngx/www/big.bin" | cut -d' ' -f1)
bg nginx srv 200 nginx -p "$CELL_TMP/ngx" -c "$CELL_TMP/ngx/nginx.conf"
srv_pid=$BG_PID
shared_port_up 30 || fail "the shared port did not come up (tap ${TAP_IF:-} in ${NS_C:-}, or memif's socket)"
# under memif the first client (the probe) starts the clients' primary
wait_port "$ADDR" "$port" 20 || fail "nginx did not accept connections on $ADDR:$port"
url=http://$ADDR:$port

wrk_check keepalive "$url/index.html"; ka=$rps
wrk_check close "$url/index.html" -H "Connection: close"; cl=$rps

# curl: keepalive (two requests, one connection) and Connection: close;
# at once on a shared port. curl's own limit comes first, so a stalled
# transfer says how many bytes came (curl 28) instead of a bare timeout.
run cli 60 curl -sS -v --max-time 50 -o "$CELL_TMP/big.1" "$url/big.bin" -o "$CELL_TMP/idx.1" "$url/index.html" \
  2>"$CELL_TMP/curl_ka.log" &
ka_pid=$! ka_rc=
[ "$SHARED" = 1 ] || { wait $ka_pid; ka_rc=$?; }
run cli 60 curl -sS --max-time 50 -H "Connection: close" -o "$CELL_TMP/big.2" "$url/big.bin" 2>"$CELL_TMP/curl_close.log"
cl_rc=$?
[ -n "$ka_rc" ] || { wait $ka_pid; ka_rc=$?; }
[ $ka_rc = 0 ] || fail "curl (keepalive) exited with $ka_rc: $(tail -n 2 "$CELL_TMP/curl_ka.log" | tr '\n' ' ')"
grep -q "Re-using existing connection" "$CELL_TMP/curl_ka.log" || fail "curl did not reuse the connection for its second request"
[ "$(sha256sum <"$CELL_TMP/big.1" | cut -d' ' -f1)" = "$want" ] || fail "16 MiB file over keepalive: sha256 differs ($(stat -c %s "$CELL_TMP/big.1") B)"
cmp -s "$CELL_TMP/idx.1" "$CELL_TMP/ngx/www/index.html" || fail "index.html after the 16 MiB file differs"
[ $cl_rc = 0 ] || fail "curl (Connection: close) exited with $cl_rc: $(tail -n 2 "$CELL_TMP/curl_close.log")"
[ "$(sha256sum <"$CELL_TMP/big.2" | cut -d' ' -f1)" = "$want" ] || fail "16 MiB file with Connection: close: sha256 differs ($(stat -c %s "$CELL_TMP/big.2") B)"

# IPv6: the same page through nginx's [::1] listener (kernel, posix, uring)
v6=""
if grep -q 'listen \[::1\]' "$CELL_TMP/ngx/nginx.conf"; then
  run cli 30 curl -sS -g -o "$CELL_TMP/idx6" "http://[::1]:$port/index.html" 2>"$CELL_TMP/curl6.log" ||
    fail "curl over IPv6 ([::1]:$port): $(tail -n 2 "$CELL_TMP/curl6.log" | tr '\n' ' ')"
  cmp -s "$CELL_TMP/idx6" "$CELL_TMP/ngx/www/index.html" || fail "index.html over IPv6 differs"
  v6="; [::1] ok"
fi

kill -0 "$srv_pid" 2>/dev/null || fail "nginx exited during the test"
shared=""
if [ "$SHARED" = 1 ]; then
  master=$(cat "$CELL_TMP/ngx/nginx.pid")
  workers=$(pgrep -P "$master" | tr '\n' ' ')
  users=$(for p in $workers; do ps -o user= -p "$p"; done | sort -u | tr '\n' ' ')
  case " $users" in *" root "*|" ") fail "nginx's workers run as '$users' (expected its default user, not root)" ;; esac
  served=$(awk '$2 == 200 {print $1}' "$CELL_TMP/ngx/logs/access.log" | sort | uniq -c | sort -rn | awk '{printf "%s:%s ", $2, $1}')
  [ "$(echo "$served" | wc -w)" -ge 2 ] || fail "requests served by one worker only ($served)"
  table=$(shared_table) || fail "no queue table from the primary"
  echo "$table" >"$CELL_TMP/queues.log"
  for q in $(seq 0 $((SHARED_QUEUES - 1))); do
    o=$(echo "$table" | sed -n "s/^queue $q: pid \([0-9-]*\) .*/\1/p")
    rx=$(echo "$table" | sed -n "s/^queue $q: .* rx \([0-9]*\).*/\1/p")
    case " $workers" in *" $o "*) ;; *) fail "queue $q is owned by '$o', not a worker ($workers)" ;; esac
    [ "${rx:-0}" -gt 100 ] || fail "queue $q carried ${rx:-0} frames"
  done
  shared="; master on, 2 workers as ${users% }, served (pid:requests) ${served% }"
fi
stop "$srv_pid"
grep -E "\[(alert|emerg|crit)\]" "$CELL_TMP/ngx/logs/error.log" >"$CELL_TMP/ngx_errors.log" && fail "nginx error.log: $(head -n 2 "$CELL_TMP/ngx_errors.log")"
cell_pass "wrk ${WRK_SECS}s keepalive $ka req/s, close $cl req/s; 16 MiB sha256 ok (keepalive, close)$v6$shared"
