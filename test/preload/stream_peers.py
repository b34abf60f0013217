#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# stream_peers.py: the kernel-side peers and clients of app-nginx-stream.sh
# (never preloaded).
#   serve DIR   a TCP upstream on 127.0.0.1 that starts each connection
#               with "PEER\n" (the source address nginx's proxy_bind
#               chose), then echoes every byte back; a UDP upstream that
#               answers each datagram with "PEER " + the datagram. Both
#               bind port 0; "TCP_PORT UDP_PORT" goes to DIR/ports. Runs
#               until killed.
#   tcp PORT N  N connections through nginx, 4 at a time: each reads the
#               upstream's "PEER\n", sends a line naming it and reads the
#               line back; prints one "PEER LINE-ECHOED" line each, in
#               order.
#   bulk PORT BYTES  one connection: sends BYTES of a seeded pattern while
#               reading the echo; prints "PEER SENT RECEIVED SAME" where
#               SAME is whether the echo's sha256 is the pattern's.
#   udp PORT N  N datagrams through nginx, each from a socket of its own
#               (a session each), 4 at a time; prints "PEER PAYLOAD" per
#               answer, in order, or "none PAYLOAD" after 3 s without one.
import concurrent.futures
import hashlib
import os
import socket
import sys
import threading


def serve(d):
    tcp = socket.socket()
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(128)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    tmp = os.path.join(d, "ports.tmp")
    with open(tmp, "w") as f:
        f.write("%d %d\n" % (tcp.getsockname()[1], udp.getsockname()[1]))
    os.rename(tmp, os.path.join(d, "ports"))

    def echo(c, peer):
        with c:
            c.sendall((peer + "\n").encode())
            while True:
                b = c.recv(1 << 16)
                if not b:
                    return
                c.sendall(b)

    def accept_loop():
        while True:
            c, a = tcp.accept()
            threading.Thread(target=echo, args=(c, a[0]), daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    while True:
        b, a = udp.recvfrom(65536)
        udp.sendto(a[0].encode() + b" " + b, a)


def read_line(c):
    buf = b""
    while not buf.endswith(b"\n"):
        b = c.recv(4096)
        if not b:
            break
        buf += b
    return buf.decode().strip()


def one_tcp(port, i):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        peer = read_line(c)
        line = "line-%d" % i
        c.sendall((line + "\n").encode())
        return "%s %s" % (peer, read_line(c))


def bulk(port, total):
    pattern = hashlib.sha256(b"demi").digest() * 2048  # 64 KiB
    want = hashlib.sha256()
    got = hashlib.sha256()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        peer = read_line(c)
        received = [0]

        def reader():
            while received[0] < total:
                b = c.recv(1 << 16)
                if not b:
                    return
                received[0] += len(b)
                got.update(b)

        t = threading.Thread(target=reader)
        t.start()
        sent = 0
        while sent < total:
            chunk = pattern[: min(len(pattern), total - sent)]
            c.sendall(chunk)
            want.update(chunk)
            sent += len(chunk)
        t.join(10)
    return "%s %d %d %s" % (peer, sent, received[0], "same" if got.digest() == want.digest() else "differ")


def one_udp(port, i):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.settimeout(3)
        payload = "dgram-%d" % i
        u.sendto(payload.encode(), ("127.0.0.1", port))
        try:
            return u.recv(65536).decode()
        except socket.timeout:
            return "none " + payload


def main():
    mode = sys.argv[1]
    if mode == "serve":
        serve(sys.argv[2])
        return
    port, n = int(sys.argv[2]), int(sys.argv[3])
    if mode == "bulk":
        print(bulk(port, n))
        return
    fn = one_tcp if mode == "tcp" else one_udp
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        for line in ex.map(lambda i: fn(port, i), range(n)):
            print(line)


main()
