#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# A BGSAVE while clients are connected: opens N connections to redis, keeps
# every one of them busy with SET/GET pairs whose answers are checked,
# issues BGSAVE on one of them, keeps the traffic going until INFO says the
# save finished, and checks it finished "ok". One process (so under a
# DPDK memif backend it is one memif client). Exit 0 on success.
import socket, sys, time

def cmd(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)

class Conn:
    def __init__(self, host, port):
        self.s = socket.create_connection((host, port), timeout=20)
        self.buf = b""
    def _line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("server closed the connection")
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line
    def _n(self, n):
        while len(self.buf) < n + 2:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("server closed the connection")
            self.buf += d
        v, self.buf = self.buf[:n], self.buf[n + 2:]
        return v
    def reply(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t in (b"+", b":"):
            return rest
        if t == b"-":
            raise RuntimeError("error reply: " + rest.decode())
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._n(n)
        raise RuntimeError("unexpected reply " + repr(line))
    def call(self, *args):
        self.s.sendall(cmd(*args))
        return self.reply()

def main():
    host, port = sys.argv[1], int(sys.argv[2])
    nconn = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    conns = [Conn(host, port) for _ in range(nconn)]
    ctl = conns[0]
    # Enough data that the save takes a moment.
    for i in range(2000):
        ctl.s.sendall(cmd("SET", "bg:fill:%d" % i, "x" * 1000))
    for i in range(2000):
        assert ctl.reply() == b"OK"
    r = ctl.call("BGSAVE")
    if not r.startswith(b"Background saving"):
        print("BGSAVE answered", r); return 1
    ops, t0, done = 0, time.time(), False
    while time.time() - t0 < 60:
        for k, c in enumerate(conns):
            key, val = "bg:%d:%d" % (k, ops), "v%d-%d" % (k, ops)
            if c.call("SET", key, val) != b"OK":
                print("SET failed"); return 1
            got = c.call("GET", key)
            if got != val.encode():
                print("GET %s returned %r, expected %r" % (key, got, val)); return 1
            ops += 1
        info = dict(l.split(b":", 1) for l in ctl.call("INFO", "persistence").split(b"\r\n") if b":" in l)
        if info[b"rdb_bgsave_in_progress"] == b"0":
            if info[b"rdb_last_bgsave_status"] != b"ok":
                print("BGSAVE status", info[b"rdb_last_bgsave_status"]); return 1
            done = True
            if ops >= 200:
                break
    if not done:
        print("BGSAVE did not finish in 60 s"); return 1
    for c in conns:
        if c.call("PING") != b"PONG":
            print("PING failed after BGSAVE"); return 1
        c.s.close()
    print("BGSAVE ok with %d connections, %d checked SET/GET pairs during and after" % (nconn, ops))
    return 0

sys.exit(main())
