# SPDX-License-Identifier: MIT
# socketserver.ForkingTCPServer, the fork-per-connection pattern: the
# parent accepts and forks, the child serves the connection, the parent
# closes its copy at once. Run under the preload (forking-server.sh): each
# child must serve the connection it inherited, byte for byte.
#   forking_server.py server PORTFILE NCONN [ADDR]   serve NCONN connections, exit
#   forking_server.py clients PORT NCONN [ADDR]      NCONN clients at once
#   forking_server.py accepter PORTFILE NCONN [ADDR] the same pattern with a
#       parent that is always in a blocking accept() (no select timeout):
#       NCONN connections served by children, then one more from the
#       clients once they are all done; then it reaps them and exits
#   forking_server.py clients-done PORT NCONN [ADDR] clients, then that one
# ADDR: the server's address (127.0.0.1; the dpdk run: the stack's own)
import os
import random
import socket
import socketserver
import sys
import threading


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        mode = self.rfile.readline()
        if mode == b"bulk\n":
            # everything until the client's EOF, then all of it back
            self.wfile.write(self.rfile.read())
        elif mode == b"lines\n":
            # request and response, one line at a time
            for line in self.rfile:
                self.wfile.write(line.upper())
                self.wfile.flush()
        self.wfile.write(b"pid %d\n" % os.getpid())


def server(portfile, n, addr):
    socketserver.ForkingTCPServer.allow_reuse_address = True
    srv = socketserver.ForkingTCPServer((addr, 0), Handler)
    srv.timeout = 20
    with open(portfile + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(portfile + ".tmp", portfile)
    for _ in range(n):
        srv.handle_request()
    srv.server_close()  # waits for the children


def accepter(portfile, n, addr):
    # With our own stack the children's connections live in the parent's
    # datapath: while it sleeps in accept(), only their bytes can wake it
    # to relay them (shim/relay.c), with no progress helper to look.
    lsn = socket.socket()
    lsn.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsn.bind((addr, 0))
    lsn.listen(64)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(lsn.getsockname()[1]))
    os.rename(portfile + ".tmp", portfile)
    kids = []
    for _ in range(n):
        conn, _ = lsn.accept()
        pid = os.fork()
        if pid == 0:
            lsn.close()
            Handler(conn, None, None)  # (its setup, handle and finish)
            conn.close()
            os._exit(0)
        conn.close()
        kids.append(pid)
    conn, _ = lsn.accept()  # the clients are done
    conn.close()
    bad = [p for p in kids if os.waitpid(p, 0)[1] != 0]
    sys.exit(1 if bad else 0)


def read_all(c):
    chunks = []
    while True:
        b = c.recv(65536)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def client(addr, port, i, results):
    rnd = random.Random(i)
    c = socket.create_connection((addr, port), timeout=20)
    if i % 2 == 0:
        payload = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 4000))) * rnd.randint(1, 80)
        c.sendall(b"bulk\n" + payload)
        c.shutdown(socket.SHUT_WR)
        got = read_all(c)
        body, _, tail = got.rpartition(b"pid ")
        ok = body == payload and tail.endswith(b"\n")
        results[i] = "client %d bulk %s (%d bytes)" % (i, "ok" if ok else "WRONG", len(payload))
    else:
        c.sendall(b"lines\n")
        f = c.makefile("rb")
        ok = True
        for k in range(50):
            line = b"line %d of client %d %s\n" % (k, i, b"x" * rnd.randint(0, 3000))
            c.sendall(line)
            ok = ok and f.readline() == line.upper()
        c.shutdown(socket.SHUT_WR)
        ok = ok and f.readline().startswith(b"pid ") and f.read() == b""
        results[i] = "client %d lines %s" % (i, "ok" if ok else "WRONG")
    c.close()


def clients(addr, port, n):
    results = ["client %d: no answer" % i for i in range(n)]
    ts = [threading.Thread(target=client, args=(addr, port, i, results)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("\n".join(results))


addr = sys.argv[4] if len(sys.argv) > 4 else "127.0.0.1"
if sys.argv[1] == "server":
    server(sys.argv[2], int(sys.argv[3]), addr)
elif sys.argv[1] == "accepter":
    accepter(sys.argv[2], int(sys.argv[3]), addr)
else:
    clients(addr, int(sys.argv[2]), int(sys.argv[3]))
    if sys.argv[1] == "clients-done":
        socket.create_connection((addr, int(sys.argv[2])), timeout=20).close()
