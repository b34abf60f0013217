#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# dpdk_echo.py server ADDR PORT N: bind ADDR:PORT (the datapath's own
#   address, which the kernel does not have), print getsockname, then
#   accept N connections and echo each one until its peer closes. The
#   first one is inherited by a forked child that only closes it (a
#   BGSAVE-like child): the parent still serves it. The second one is served by a forked child (fork per connection): with a
#   stack of its own the connection stays in the parent's datapath, which
#   relays it to the child; the parent closes its copy at once, which must
#   not end it (Linux: the child still holds it), then waits for the child.
# dpdk_echo.py client ADDR PORT SECS: connect (retrying up to SECS), send
#   64 kB, read it back, check it.
import os, socket, sys, time
mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "server":
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(16)
    print("bound", s.getsockname(), flush=True)
    for i in range(int(sys.argv[4])):
        c, peer = s.accept()
        print("accepted", peer, flush=True)
        if i == 0:
            pid = os.fork()
            if pid == 0:
                c.close()
                os._exit(0)
            _, st = os.waitpid(pid, 0)
            print("close-only child: status %d" % os.waitstatus_to_exitcode(st), flush=True)
        if i == 1:
            pid = os.fork()
            if pid == 0:
                code = 0
                try:
                    # a TCP socket to the application, as on Linux
                    if c.getpeername() != peer or c.getsockname()[0] != addr or \
                            c.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE) != socket.SOCK_STREAM:
                        code = 3
                    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    n = 0
                    while True:
                        d = c.recv(65536)
                        if not d:
                            break
                        c.sendall(d)
                        n += len(d)
                    c.shutdown(socket.SHUT_WR)
                    c.close()
                    print("fork child: echoed %d bytes" % n, flush=True)
                except OSError as e:
                    print("fork child: %s" % e, flush=True)
                    code = 2
                os._exit(code)
            c.close()  # the parent's copy: the child still holds the connection
            _, st = os.waitpid(pid, 0)
            print("fork child: %s" % ("served" if os.waitstatus_to_exitcode(st) == 0 else "status %d" % st), flush=True)
            continue
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
        c.close()
    print("server done", flush=True)
    sys.exit(0)
end = time.time() + float(sys.argv[4])
while True:
    try:
        c = socket.create_connection((addr, port), timeout=3)
        break
    except OSError as e:
        if time.time() > end:
            print("client: no connection to %s:%d: %s" % (addr, port, e))
            sys.exit(1)
        time.sleep(0.2)
data = os.urandom(65536)
c.sendall(data)
got = b""
while len(got) < len(data):
    d = c.recv(65536)
    if not d:
        break
    got += d
c.close()
if got != data:
    print("client: echo mismatch: sent %d bytes, got %d back" % (len(data), len(got)))
    sys.exit(1)
print("client: 64 kB echoed", flush=True)
