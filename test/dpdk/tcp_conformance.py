#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""TCP conformance of our stack, from the Linux side, with crafted segments
(scapy). Run by scapy_conformance.sh inside the test netns, against our
echo server (TCP port 7) on DEMI_IPV4=OURS over a DPDK tap port.

Each check sends segments by hand and looks at what our stack answers:
  syn_to_closed_port        RFC 793/9293 3.10.7.1: RST, ack = SEG.SEQ+1
  out_of_window_data        RFC 9293 3.10.7.4: ACK (rcv_nxt), data not taken
  rst_out_of_window         RFC 5961 3.2: ignored; connection still works
  rst_in_window_not_exact   RFC 5961 3.2: challenge ACK (or ignored), not reset
  overlapping_retransmission the overlap is delivered once: echo is exact
  zero_window               no data beyond a zero window (probes <= 1 byte);
                            all of it once the window opens
The kernel's own RSTs for these hand-made connections are dropped by the
calling script (nftables), so only our stack talks.
"""
import random
import sys
import time

from scapy.all import IP, TCP, AsyncSniffer, conf, send  # noqa: E402

conf.verb = 0
OURS, PEER, IFACE = sys.argv[1], sys.argv[2], sys.argv[3]
failures = []


class Conn:
    """A hand-driven TCP connection from PEER:sport to OURS:dport."""

    def __init__(self, dport=7):
        self.sport = random.randint(20000, 60000)
        self.dport = dport
        self.seq = random.randint(1, 2**31)
        self.rcv = None
        self.got = []  # what our stack sent us, as it arrives
        self.sniffer = AsyncSniffer(
            iface=IFACE,
            lfilter=lambda p: TCP in p and p[IP].src == OURS and p[TCP].dport == self.sport,
            prn=self.got.append,
            store=False,
        )
        self.sniffer.start()
        time.sleep(0.2)
        self.seen = 0

    def pkts(self):
        return list(self.got)

    def new(self, wait=0.5):
        time.sleep(wait)
        p = self.pkts()
        out = p[self.seen:]
        self.seen = len(p)
        return out

    def send(self, flags, payload=b"", seq=None, ack=None, win=65535):
        t = TCP(sport=self.sport, dport=self.dport, flags=flags, seq=self.seq if seq is None else seq,
                ack=(self.rcv if ack is None else ack) or 0, window=win)
        send(IP(src=PEER, dst=OURS) / t / payload)

    def handshake(self):
        self.send("S")
        syn_ack = [p for p in self.new(1.0) if p[TCP].flags & 0x12 == 0x12]
        if not syn_ack:
            raise RuntimeError("no SYN-ACK from port %d" % self.dport)
        self.seq += 1
        self.rcv = syn_ack[0][TCP].seq + 1
        self.send("A")

    def data(self, wait=0.5):
        """Payload bytes received since the last call, in order, acking them."""
        out = b""
        for p in self.new(wait):
            pl = bytes(p[TCP].payload)
            if pl and p[TCP].seq == self.rcv:
                out += pl
                self.rcv += len(pl)
        if out:
            self.send("A")
        return out

    def close(self):
        self.send("R")
        self.sniffer.stop()


def check(name, fn):
    try:
        fn()
        print("ok: %s" % name)
    except Exception as e:  # report every failure, keep going
        print("FAIL: %s: %s" % (name, e))
        failures.append(name)


def syn_to_closed_port():
    c = Conn(dport=9)
    c.send("S")
    rst = [p for p in c.new(1.0) if p[TCP].flags & 0x04]
    c.sniffer.stop()
    assert rst, "no RST for a SYN to a closed port"
    assert rst[0][TCP].flags & 0x10, "RST without ACK"
    assert rst[0][TCP].ack == c.seq + 1, "RST ack %d, want %d" % (rst[0][TCP].ack, c.seq + 1)


def out_of_window_data():
    c = Conn()
    c.handshake()
    c.new(0.2)
    c.send("PA", b"far-away", seq=c.seq + 10**7)
    got = c.new(0.6)
    acks = [p for p in got if p[TCP].flags & 0x10 and not bytes(p[TCP].payload)]
    assert acks, "no ACK for an out-of-window segment"
    assert acks[-1][TCP].ack == c.seq, "ACK %d, want %d (data must not be taken)" % (acks[-1][TCP].ack, c.seq)
    assert not any(bytes(p[TCP].payload) for p in got), "out-of-window data was echoed"
    c.send("PA", b"in-window")
    c.seq += 9
    assert c.data(0.8) == b"in-window", "connection broken after out-of-window data"
    c.close()


def rst_out_of_window():
    c = Conn()
    c.handshake()
    c.send("R", seq=c.seq + 10**7)
    time.sleep(0.3)
    c.send("PA", b"still-alive")
    c.seq += 11
    assert c.data(0.8) == b"still-alive", "an out-of-window RST reset the connection"
    c.close()


def rst_in_window_not_exact():
    c = Conn()
    c.handshake()
    c.new(0.2)
    c.send("R", seq=c.seq + 100)
    got = c.new(0.5)
    assert not any(p[TCP].flags & 0x04 for p in got), "answered an RST with an RST"
    c.send("PA", b"alive")
    c.seq += 5
    assert c.data(0.8) == b"alive", "an inexact in-window RST reset the connection (RFC 5961: challenge ACK)"
    c.close()


def overlapping_retransmission():
    c = Conn()
    c.handshake()
    c.send("PA", b"abcdef")
    c.send("PA", b"defghi", seq=c.seq + 3)
    c.seq += 9
    got = b""
    for _ in range(6):
        got += c.data(0.4)
        if len(got) >= 9:
            break
    assert got == b"abcdefghi", "echo %r, want b'abcdefghi'" % got
    c.close()


def zero_window():
    c = Conn()
    c.handshake()
    msg = bytes(range(250)) * 16  # 4000 bytes, sent as 4 segments under the MTU
    # close our window first, then send data that the echo server returns
    c.send("A", win=0)
    for k in range(0, len(msg), 1000):
        c.send("PA", msg[k:k + 1000], win=0)
        c.seq += 1000
    time.sleep(1.0)
    got = c.new(0.1)
    big = [len(bytes(p[TCP].payload)) for p in got if len(bytes(p[TCP].payload)) > 1]
    assert not big, "sent %s bytes into a zero window" % big
    # open the window: all of it arrives, exactly
    c.send("A", win=65535)
    data = b""
    for _ in range(10):
        for p in c.new(0.3):
            pl = bytes(p[TCP].payload)
            if pl and p[TCP].seq == c.rcv:
                data += pl
                c.rcv += len(pl)
            elif pl and p[TCP].seq < c.rcv < p[TCP].seq + len(pl):  # a probe byte then the rest
                k = c.rcv - p[TCP].seq
                data += pl[k:]
                c.rcv += len(pl) - k
        c.send("A", win=65535)
        if len(data) >= len(msg):
            break
    assert data == msg, "after the window opened got %d of %d bytes" % (len(data), len(msg))
    c.close()


check("syn_to_closed_port", syn_to_closed_port)
check("out_of_window_data", out_of_window_data)
check("rst_out_of_window", rst_out_of_window)
check("rst_in_window_not_exact", rst_in_window_not_exact)
check("overlapping_retransmission", overlapping_retransmission)
check("zero_window", zero_window)
sys.exit(1 if failures else 0)
