#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# memc_client.py ADDR PORT [N]: a small memcached text-protocol client.
# Stores N keys (values 1 B .. ~8 KiB, content derived from the key, sent
# pipelined in batches), reads every one back with multi-key "get" and
# compares, then checks a miss, a delete and an incr. Exit 0 when every
# answer is right.
import hashlib, socket, sys

def value(i):
    n = 1 + (i * 7919) % 8192
    seed = hashlib.sha256(b"%d" % i).digest()
    return (seed * (n // 32 + 1))[:n]

class Conn:
    def __init__(self, addr, port):
        self.s = socket.create_connection((addr, port), timeout=20)
        self.buf = b""
    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("memcached closed the connection")
            self.buf += d
        l, self.buf = self.buf.split(b"\r\n", 1)
        return l
    def data(self, n):
        while len(self.buf) < n + 2:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("memcached closed the connection")
            self.buf += d
        v, self.buf = self.buf[:n], self.buf[n + 2:]
        return v

def main():
    addr, port = sys.argv[1], int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
    c = Conn(addr, port)
    batch = 100
    for b in range(0, n, batch):
        if b % 2000 == 0:
            print("storing keys from %d" % b, flush=True)
        ids = range(b, min(n, b + batch))
        out = b"".join(b"set k:%d 0 0 %d\r\n%s\r\n" % (i, len(value(i)), value(i)) for i in ids)
        c.s.sendall(out)
        for i in ids:
            r = c.line()
            if r != b"STORED":
                print("set k:%d answered %r" % (i, r)); return 1
    print("stored %d keys" % n, flush=True)
    got = 0
    for b in range(0, n, batch):
        ids = list(range(b, min(n, b + batch)))
        c.s.sendall(b"get " + b" ".join(b"k:%d" % i for i in ids) + b"\r\n")
        seen = {}
        while True:
            l = c.line()
            if l == b"END":
                break
            parts = l.split()
            if parts[0] != b"VALUE":
                print("get answered %r" % l); return 1
            seen[parts[1]] = c.data(int(parts[3]))
        for i in ids:
            v = seen.get(b"k:%d" % i)
            if v != value(i):
                print("k:%d read back %s" % (i, "missing" if v is None else "%d different bytes" % len(v))); return 1
            got += 1
        if b % 2000 == 0:
            print("read back %d keys" % got, flush=True)
    c.s.sendall(b"get no-such-key\r\n")
    if c.line() != b"END":
        print("a miss did not answer END"); return 1
    c.s.sendall(b"delete k:0\r\n")
    if c.line() != b"DELETED":
        print("delete failed"); return 1
    c.s.sendall(b"set ctr 0 0 1\r\n5\r\nincr ctr 37\r\n")
    if c.line() != b"STORED" or c.line() != b"42":
        print("incr failed"); return 1
    c.s.close()
    print("%d keys stored and read back" % got)
    return 0

sys.exit(main())
