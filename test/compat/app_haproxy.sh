#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# app_haproxy.sh BUILD BACKEND: HAProxy, 2 threads, under the backend: a
# proxy accepts and connects, so its outgoing connections go through the
# datapath too. Behind it, two kernel HTTP servers and a TCP echo
# (haproxy_backend.py): on the loopback, or under dpdk-tap in the client's
# namespace (reached through the DPDK port; under dpdk-memif the memif
# link has one peer, the client, so the servers stay on the loopback).
#   1. wrk for 2 s through the HTTP frontend (round robin over both servers,
#      health checks every 300 ms): every response 2xx, no socket errors;
#   2. curl of a 4 MiB file and a POST of 1 MiB whose sha256 a server
#      answers, both checked; both servers answered;
#   3. through the TCP frontend, 2 MiB echoed byte-exact with a half-close,
#      then 16 connections at once, 256 KiB each.
BUILD=$(cd "${1:?build dir}" && pwd); BACKEND=${2:?backend}
NEED_TOOLS=(haproxy wrk curl sha256sum)
. "$(dirname "$0")/lib.sh"
cell_begin haproxy "$BACKEND" server

port=$(pick_port) tport=$(pick_port)
ports=() ; for i in 1 2 3 4; do ports+=("$(pick_port)"); done
head -c 4194304 /dev/urandom >"$CELL_TMP/big.bin"
head -c 1048576 /dev/urandom >"$CELL_TMP/post.bin"
# where the servers behind the proxy run, and how
case $BACKEND in
  dpdk-tap) baddr=$TAP_NET.2; brole=cli ;;     # the client's netns, kernel sockets
  *) baddr=127.0.0.1; brole=none ;;
esac
backend() { # NAME HTTP_PORT ECHO_PORT
  if [ $brole = none ]; then
    setsid timeout -k 3 120 "$PY" "$COMPAT_DIR/haproxy_backend.py" "$baddr" "$2" "$3" "$CELL_TMP" "$1" \
      >"$CELL_TMP/$1.log" 2>&1 </dev/null &
    BG_PID=$!; CELL_PIDS+=("$BG_PID")
  else
    bg "$1" "$brole" 120 "$PY" "$COMPAT_DIR/haproxy_backend.py" "$baddr" "$2" "$3" "$CELL_TMP" "$1"
  fi
}
backend s1 "${ports[0]}" "${ports[1]}"
backend s2 "${ports[2]}" "${ports[3]}"
for f in s1 s2; do
  for i in $(seq 100); do grep -q up "$CELL_TMP/$f.log" 2>/dev/null && break; sleep 0.1; done
  grep -q up "$CELL_TMP/$f.log" || fail "backend $f did not start"
done

cat >"$CELL_TMP/haproxy.cfg" <<CFG
global
  nbthread 2
  maxconn 1000
defaults
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend web
  mode http
  bind $BIND:$port
  default_backend servers
backend servers
  mode http
  balance roundrobin
  server s1 $baddr:${ports[0]} check inter 300ms
  server s2 $baddr:${ports[2]} check inter 300ms
listen echo
  mode tcp
  bind $BIND:$tport
  server e1 $baddr:${ports[1]}
CFG
bg haproxy srv 120 haproxy -f "$CELL_TMP/haproxy.cfg" -db
srv_pid=$BG_PID
wait_port "$ADDR" "$port" 20 || fail "haproxy did not accept connections on $ADDR:$port"
url=http://$ADDR:$port

wrk_check keepalive "$url/"
http_file_post "$url/big.bin" "$url/post"
: >"$CELL_TMP/who"
for i in 1 2 3 4; do
  run cli 10 curl -sS --max-time 5 "$url/" >>"$CELL_TMP/who" 2>>"$CELL_TMP/curl_rr.log" ||
    fail "request $i not answered: $(tail -n 1 "$CELL_TMP/curl_rr.log")"
done
[ "$(sort -u "$CELL_TMP/who" | tr '\n' ' ')" = "s1 s2 " ] || fail "round robin: answers from $(sort "$CELL_TMP/who" | uniq -c | tr '\n' ' ')"

run cli 90 "$PY" - "$ADDR" "$tport" >"$CELL_TMP/echo.log" 2>&1 <<'PY' || fail "echo: $(tail -n 1 "$CELL_TMP/echo.log")"
import os, socket, sys, threading
addr, port = sys.argv[1], int(sys.argv[2])
def echo(n, out):
    data = os.urandom(n)
    s = socket.create_connection((addr, port), timeout=30)
    got = bytearray()
    def rd():
        while True:
            b = s.recv(1 << 16)
            if not b:
                break
            got.extend(b)
    t = threading.Thread(target=rd)
    t.start()
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    t.join()
    s.close()
    out.append(bytes(got) == data)
one = []
echo(2 << 20, one)
many = []
ts = [threading.Thread(target=echo, args=(256 << 10, many)) for _ in range(16)]
[t.start() for t in ts]
[t.join() for t in ts]
print("echo: 2 MiB exact %s; %d of 16 x 256 KiB exact" % (one[0], many.count(True)))
sys.exit(0 if one[0] and many.count(True) == 16 else 1)
PY
kill -0 "$srv_pid" 2>/dev/null || fail "haproxy exited during the test"
stop "$srv_pid"
cell_pass "2 threads; wrk $rps req/s; 4 MiB and a 1 MiB POST checked, both servers; echo 2 MiB + 16 x 256 KiB exact"
