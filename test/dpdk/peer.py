#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Linux-side peer for test/dpdk/linux_peer.sh (runs inside the test netns).

  peer.py echo HOST PORT SIZE...   connect, send SIZE random bytes, expect them back (per size)
  peer.py bulk HOST PORT BYTES     send BYTES while reading the echo concurrently; byte-exact
  peer.py conns HOST PORT N        N concurrent connections, a distinct message each
  peer.py once HOST PORT           one connect, no retry (a refusal fails), one echo; prints
                                   how long the connect took
  peer.py server HOST PORT         echo server for one connection (our client connects to it)
  peer.py odd HOST PORT BYTES      BYTES in writes of odd sizes (TCP_NODELAY), echo byte-exact
  peer.py multi HOST PORT N BYTES  N bulk echoes at once (a stall of 8 s fails one); prints how
                                   many were byte-exact; exit 0 only when all were
Exit 0 on success; a message on stderr and exit 1 otherwise.
"""
import os
import socket
import sys
import threading
import time


def connect(host, port, timeout=20):
    end = time.time() + timeout
    while True:
        try:
            s = socket.create_connection((host, port), timeout=10)
            s.settimeout(60)
            return s
        except OSError:
            if time.time() > end:
                raise
            time.sleep(0.2)


def recv_exact(s, n):
    out = bytearray()
    while len(out) < n:
        b = s.recv(min(1 << 20, n - len(out)))
        if not b:
            raise RuntimeError("connection closed after %d of %d bytes" % (len(out), n))
        out += b
    return bytes(out)


def echo(host, port, sizes):
    s = connect(host, port)
    for size in sizes:
        data = os.urandom(size)
        t = threading.Thread(target=s.sendall, args=(data,))
        t.start()
        got = recv_exact(s, size)
        t.join()
        if got != data:
            print("echo of %d bytes differs" % size, file=sys.stderr)
            return 1
    s.close()
    return 0


def bulk(host, port, total):
    s = connect(host, port)
    chunk = 1 << 16
    seed = os.urandom(chunk * 4)

    def gen(off):
        # deterministic stream: the seed rotated by the chunk index
        i = (off // chunk) % 4
        return seed[i * chunk:(i + 1) * chunk]

    def sender():
        off = 0
        while off < total:
            s.sendall(gen(off)[: min(chunk, total - off)])
            off += chunk

    t = threading.Thread(target=sender)
    t0 = time.time()
    t.start()
    off = 0
    while off < total:
        b = s.recv(min(1 << 20, total - off))
        if not b:
            print("closed after %d of %d bytes" % (off, total), file=sys.stderr)
            return 1
        # compare against the stream, across chunk borders
        pos = 0
        while pos < len(b):
            c = gen(off)
            k = off % chunk
            n = min(len(b) - pos, chunk - k)
            if b[pos:pos + n] != c[k:k + n]:
                print("bulk echo differs near byte %d" % off, file=sys.stderr)
                return 1
            pos += n
            off += n
    t.join()
    dt = time.time() - t0
    print("bulk: %d bytes echoed byte-exact in %.2f s (%.1f Mbit/s each way)" % (total, dt, total * 8 / dt / 1e6))
    s.close()
    return 0


def odd(host, port, total):
    """Writes of odd sizes, each its own segment (TCP_NODELAY): the echo
    comes back as frames built of odd-length pieces."""
    s = connect(host, port)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(20)  # a frame the peer keeps dropping stalls the echo
    data = os.urandom(total)
    sizes = [1 + 2 * b for b in os.urandom(total // 100 + 1)]  # 1..511

    def sender():
        off = i = 0
        while off < total:
            n = min(sizes[i % len(sizes)], total - off)
            s.sendall(data[off:off + n])
            off += n
            i += 1

    t = threading.Thread(target=sender, daemon=True)  # a stalled echo stalls it too
    t.start()
    try:
        got = recv_exact(s, total)
    except OSError as e:
        print("odd: no echo (%s)" % e, file=sys.stderr)
        return 1
    t.join()
    if got != data:
        print("odd: the echo differs", file=sys.stderr)
        return 1
    s.close()
    return 0


def multi(host, port, n, total):
    res = [None] * n

    def one(i):
        try:
            s = socket.create_connection((host, port), timeout=8)
            s.settimeout(8)
            data = os.urandom(total)
            t = threading.Thread(target=lambda: s.sendall(data), daemon=True)
            t.start()
            got = recv_exact(s, total)
            t.join()
            res[i] = "ok" if got == data else "differs"
            s.close()
        except Exception as e:  # a stall, a reset: counted, not raised
            res[i] = type(e).__name__
    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    ok = res.count("ok")
    print("multi: %d of %d byte-exact (%s)" % (ok, n, ",".join(r for r in res)))
    if "differs" in res:
        return 2
    return 0 if ok == n else 1


def conns(host, port, n):
    socks = [connect(host, port) for _ in range(n)]
    for i, s in enumerate(socks):
        s.sendall(b"conn-%04d|" % i * 10)
    for i, s in enumerate(socks):
        want = b"conn-%04d|" % i * 10
        if recv_exact(s, len(want)) != want:
            print("connection %d got another's data" % i, file=sys.stderr)
            return 1
    for s in socks:
        s.close()
    return 0


def once(host, port):
    t0 = time.time()
    try:
        s = socket.create_connection((host, port), timeout=15)
    except OSError as e:
        print("once: connect: %s after %.2f s" % (e, time.time() - t0), file=sys.stderr)
        return 1
    took = time.time() - t0
    s.settimeout(15)
    s.sendall(b"once")
    if recv_exact(s, 4) != b"once":
        print("once: wrong echo", file=sys.stderr)
        return 1
    s.close()
    print("once: connected in %.2f s" % took)
    return 0


def server(host, port):
    ls = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(4)
    ls.settimeout(60)
    c, _ = ls.accept()
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.settimeout(60)
    while True:
        b = c.recv(1 << 16)
        if not b:
            return 0
        c.sendall(b)


def main():
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "echo":
        return echo(host, port, [int(x) for x in sys.argv[4:]])
    if mode == "bulk":
        return bulk(host, port, int(sys.argv[4]))
    if mode == "odd":
        return odd(host, port, int(sys.argv[4]))
    if mode == "multi":
        return multi(host, port, int(sys.argv[4]), int(sys.argv[5]))
    if mode == "conns":
        return conns(host, port, int(sys.argv[4]))
    if mode == "once":
        return once(host, port)
    if mode == "server":
        return server(host, port)
    print("unknown mode", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
