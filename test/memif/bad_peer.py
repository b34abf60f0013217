#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A memif client that gets things wrong, against our memif server
(devices/memif): every case must end with the server saying DISCONNECT
(or closing), never with it crashing or taking what it was given.
Eight ways: an old version, a region file shorter than announced, a ring
outside its region, a region without its fd, a short message, a head
index past the ring (after bad descriptors, which must come back), a
region added after connect, and buffers posted outside the client's
memory.

usage: bad_peer.py SOCKET_PATH SERVER_IPV4
Prints one line per case; exits 1 at the first case that went otherwise.
"""
import mmap
import os
import select
import socket
import struct
import sys
import time

COOKIE = 0x3E31F20
VERSION = 0x0200
ACK, HELLO, INIT, ADD_REGION, ADD_RING, CONNECT, CONNECTED, DISCONNECT = 1, 2, 3, 4, 5, 6, 7, 8
LOG2 = 6
N = 1 << LOG2
BUF = 2048
RING = 128 + 16 * N


def msg(kind, body=b""):
    return (struct.pack("<H", kind) + body).ljust(128, b"\0")


def init_msg(version=VERSION):
    return msg(INIT, struct.pack("<HIB24s32s", version, 0, 0, b"", b"bad_peer"))


def ring_msg(c2s, offset, log2=LOG2):
    return msg(ADD_RING, struct.pack("<HHHIBH", 1 if c2s else 0, 0, 0, offset, log2, 0))


class Peer:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.s.connect(path)
        kind, _ = self.recv()
        assert kind == HELLO, f"first message {kind}, want HELLO"

    def send(self, m, fd=None):
        if fd is None:
            self.s.send(m)
        else:
            socket.send_fds(self.s, [m], [fd])

    def recv(self, timeout=5.0):
        """(type, body) of the next message; (None, b"") when the server closed."""
        r, _, _ = select.select([self.s], [], [], timeout)
        if not r:
            raise TimeoutError("the server said nothing")
        m = self.s.recv(256)
        if not m:
            return None, b""
        return struct.unpack_from("<H", m)[0], m[2:]

    def until_end(self):
        """Reads ACKs until DISCONNECT (its reason) or the socket's end."""
        while True:
            kind, body = self.recv()
            if kind is None:
                return "(closed)"
            if kind == DISCONNECT:
                return body[4:100].split(b"\0")[0].decode()
            assert kind in (ACK, CONNECTED), f"unexpected message {kind}"

    def close(self):
        self.s.close()


def region(size, real_size=None):
    fd = os.memfd_create("bad_peer", os.MFD_ALLOW_SEALING)
    os.ftruncate(fd, real_size if real_size is not None else size)
    return fd


def layout(fd, size):
    """Two rings (C2S, S2C) of N slots, then 2N buffers; descriptors posted."""
    mm = mmap.mmap(fd, size)
    for k in range(2):
        base = k * RING
        struct.pack_into("<I", mm, base, COOKIE)
        for i in range(N):
            struct.pack_into("<HHII", mm, base + 128 + 16 * i, 0, 0, BUF, 2 * RING + (k * N + i) * BUF)
    return mm


def connect_ok(path):
    size = 2 * RING + 2 * N * BUF
    fd = region(size)
    mm = layout(fd, size)
    p = Peer(path)
    p.send(init_msg())
    p.send(msg(ADD_REGION, struct.pack("<HQ", 0, size)), fd)
    p.send(ring_msg(True, 0), os.eventfd(0))
    p.send(ring_msg(False, RING), os.eventfd(0))
    p.send(msg(CONNECT, b"bad_peer".ljust(32, b"\0")))
    for _ in range(5):
        kind, _ = p.recv()
        if kind == CONNECTED:
            return p, mm
        assert kind == ACK, f"handshake: message {kind}"
    raise AssertionError("no CONNECTED")


def c2s_put(mm, slot, region_idx, offset, length, frame=None):
    if frame is not None:
        mm[offset:offset + len(frame)] = frame
    struct.pack_into("<HHII", mm, 128 + 16 * (slot % N), 0, region_idx, length, offset)


def set_head(mm, ring_base, v):
    struct.pack_into("<H", mm, ring_base + 6, v & 0xffff)


def tail(mm, ring_base):
    return struct.unpack_from("<H", mm, ring_base + 64)[0]


def wait_tail(mm, ring_base, want, secs=3.0):
    end = time.time() + secs
    while time.time() < end:
        if tail(mm, ring_base) == want:
            return True
        time.sleep(0.01)
    return False


def arp_request(ip):
    mac = bytes.fromhex("02badbad0001")
    tpa = socket.inet_aton(ip)
    spa = socket.inet_aton("10.9.0.77")
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac, spa, b"\0" * 6, tpa)
    return b"\xff" * 6 + mac + b"\x08\x06" + arp


def main():
    path, ip = sys.argv[1], sys.argv[2]
    results = []

    def case(name, why, want):
        ok = want in why
        print(f"{'ok ' if ok else 'BAD'} {name}: server said {why!r}")
        results.append(ok)

    # 1. a version we do not speak
    p = Peer(path)
    p.send(init_msg(0x0100))
    case("old version", p.until_end(), "version")
    p.close()

    # 2. a region file shorter than announced (a mapping past its end faults)
    size = 2 * RING + 2 * N * BUF
    fd = region(size, 4096)
    p = Peer(path)
    p.send(init_msg())
    p.send(msg(ADD_REGION, struct.pack("<HQ", 0, size)), fd)
    p.send(ring_msg(True, 0), os.eventfd(0))
    p.send(ring_msg(False, RING), os.eventfd(0))
    p.send(msg(CONNECT))
    case("short region", p.until_end(), "shorter")
    p.close()

    # 3. a ring outside its region
    fd = region(size)
    layout(fd, size)
    p = Peer(path)
    p.send(init_msg())
    p.send(msg(ADD_REGION, struct.pack("<HQ", 0, size)), fd)
    p.send(ring_msg(True, size - 64), os.eventfd(0))
    p.send(ring_msg(False, RING), os.eventfd(0))
    p.send(msg(CONNECT))
    case("ring outside the region", p.until_end(), "outside")
    p.close()

    # 4. a region without its fd, then a message that is not 128 bytes
    p = Peer(path)
    p.send(init_msg())
    p.send(msg(ADD_REGION, struct.pack("<HQ", 0, size)))
    case("region without fd", p.until_end(), "fd")
    p.close()
    p = Peer(path)
    p.s.send(b"\x03\x00short")
    case("short message", p.until_end(), "(closed)")
    p.close()

    # 5. connected, then descriptors outside the memory and a junk frame:
    # dropped one by one, the slots handed back; then a head index past
    # the ring: disconnected
    p, mm = connect_ok(path)
    c2s_put(mm, 0, 0, 1 << 30, 100)                      # offset outside
    c2s_put(mm, 1, 0, 2 * RING, 1 << 20)                 # longer than the region
    c2s_put(mm, 2, 5, 2 * RING, 64)                      # a region that does not exist
    c2s_put(mm, 3, 0, 2 * RING + 3 * BUF, 60, b"\x00" * 60)  # junk: not for us
    set_head(mm, 0, 4)
    case("bad descriptors handed back", "tail %d" % tail(mm, 0) if wait_tail(mm, 0, 4) else "tail stuck", "tail 4")
    set_head(mm, 0, 4 + 3 * N)
    case("head past the ring", p.until_end(), "out of range")
    p.close()

    # 6. connected, then another region: the rings and regions are fixed
    # once connected (one added now would never be mapped)
    p, mm = connect_ok(path)
    fd = region(size)
    p.send(msg(ADD_REGION, struct.pack("<HQ", 1, size)), fd)
    case("region after connect", p.until_end(), "after connect")
    p.close()

    # 7. connected, S2C buffers posted outside our memory, then an ARP
    # request: the server's reply must not be written there
    p, mm = connect_ok(path)
    for i in range(N):
        struct.pack_into("<HHII", mm, RING + 128 + 16 * i, 0, 0, BUF, 1 << 30)
    set_head(mm, RING, N)
    frame = arp_request(ip)
    c2s_put(mm, 0, 0, 2 * RING, len(frame), frame)
    set_head(mm, 0, 1)
    case("reply into foreign memory", p.until_end(), "outside")
    p.close()

    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
