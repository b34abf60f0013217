#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# app_node.sh BUILD BACKEND: a Node.js server (its own http and net
# modules, libuv underneath: fds closed through syscall(2), epoll, writev)
# under the backend, driven by:
#   1. wrk for 2 s with keepalive: every response 2xx, no socket errors;
#   2. curl of a 4 MiB random file, and a POST of 1 MiB whose sha256 the
#      server answers: both checked;
#   3. 2 MiB through the net module's echo server, byte-exact;
#   4. over kernel sockets (kernel, posix, uring), the same http server in
#      cluster mode, 2 workers given each connection by the primary over a
#      unix socket (SCM_RIGHTS, Node's default round-robin): 20 requests,
#      each answered, by both workers. (With dpdk the primary's connection
#      has no kernel socket to pass: shim/README.md.)
BUILD=$(cd "${1:?build dir}" && pwd); BACKEND=${2:?backend}
NEED_TOOLS=(node wrk curl sha256sum)
. "$(dirname "$0")/lib.sh"
cell_begin node "$BACKEND" server

port=$(pick_port) eport=$(pick_port)
head -c 4194304 /dev/urandom >"$CELL_TMP/big.bin"
head -c 1048576 /dev/urandom >"$CELL_TMP/post.bin"
cat >"$CELL_TMP/server.js" <<'JS'
const http = require('http'), net = require('net'), fs = require('fs'), crypto = require('crypto');
const cluster = require('cluster');
const [addr, port, dir, workers, eport] = [process.argv[2], +process.argv[3], process.argv[4], +process.argv[5],
                                           +process.argv[6]];
if (workers && cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
} else {
  const big = fs.readFileSync(dir + '/big.bin');
  const who = cluster.isWorker ? 'w' + cluster.worker.id : 'single';
  // the echo server first: the readiness probe connects to the http port,
  // and its client port must not take the echo's (an ephemeral port)
  if (eport) net.createServer(c => c.pipe(c)).listen(eport, addr);
  http.createServer((req, res) => {
    if (req.url === '/big') return res.end(big);
    const h = crypto.createHash('sha256');
    req.on('data', d => h.update(d));
    req.on('end', () => res.end(req.method === 'POST' ? h.digest('hex') : who + '\n'));
  }).listen(port, addr);
}
JS
bg node srv 120 node "$CELL_TMP/server.js" "$BIND" "$port" "$CELL_TMP" 0 "$eport"
srv_pid=$BG_PID
wait_port "$ADDR" "$port" 20 || fail "node did not accept connections on $ADDR:$port"
url=http://$ADDR:$port

wrk_check keepalive "$url/"
http_file_post "$url/big" "$url/post"

run cli 60 "$PY" - "$ADDR" "$eport" >"$CELL_TMP/echo.log" 2>&1 <<'PY' || fail "net echo: $(tail -n 1 "$CELL_TMP/echo.log")"
import os, selectors, socket, sys
data = os.urandom(2 << 20)
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)
s.setblocking(False)
sel = selectors.DefaultSelector()
sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
sent, got, shut = 0, bytearray(), False
while True:
    ev = sel.select(30)
    if not ev:
        break
    mask = ev[0][1]
    if mask & selectors.EVENT_WRITE and not shut:
        try:
            sent += s.send(data[sent:sent + (1 << 16)])
        except BlockingIOError:
            pass
        if sent == len(data):
            s.shutdown(socket.SHUT_WR)
            shut = True
            sel.modify(s, selectors.EVENT_READ)
    if mask & selectors.EVENT_READ:
        try:
            b = s.recv(1 << 16)
        except BlockingIOError:
            continue
        if not b:
            break
        got += b
print("echo: %d of %d bytes sent, %d back, exact %s" % (sent, len(data), len(got), bytes(got) == data))
sys.exit(0 if bytes(got) == data else 1)
PY
kill -0 "$srv_pid" 2>/dev/null || fail "node exited during the test"
stop "$srv_pid"

cluster=""
case $BACKEND in
  kernel|posix|uring)
    cport=$(pick_port)
    bg nodecl srv 120 env NODE_CLUSTER_SCHED_POLICY=rr node "$CELL_TMP/server.js" "$BIND" "$cport" "$CELL_TMP" 2 0
    cl_pid=$BG_PID
    wait_port "$ADDR" "$cport" 20 || fail "node's cluster did not accept connections on $ADDR:$cport"
    : >"$CELL_TMP/who"
    for i in $(seq 20); do
      run cli 10 curl -sS --max-time 5 "http://$ADDR:$cport/" >>"$CELL_TMP/who" 2>>"$CELL_TMP/curl_cl.log" ||
        fail "cluster: request $i not answered: $(tail -n 1 "$CELL_TMP/curl_cl.log")"
    done
    nw=$(grep -c '^w[0-9]' "$CELL_TMP/who"); nd=$(sort -u "$CELL_TMP/who" | grep -c '^w')
    [ "$nw" = 20 ] && [ "$nd" = 2 ] || fail "cluster: $nw of 20 answers from workers, $nd workers answered (want 20, 2)"
    kill -0 "$cl_pid" 2>/dev/null || fail "node's cluster exited during the test"
    cluster="; cluster of 2 workers (SCM_RIGHTS): 20/20" ;;
esac
cell_pass "wrk $rps req/s; 4 MiB and a 1 MiB POST checked; 2 MiB echo exact$cluster"
