#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# h2_client.py PORT MODE PATH...: a minimal HTTP/2 client with prior
# knowledge (cleartext) on one connection to 127.0.0.1:PORT, for what
# curl 7.88 cannot do (it fails with "Error in the HTTP2 framing layer"
# on the second request of a prior-knowledge connection). Modes:
#   seq    the GETs one after the other, each once the previous answered
#   par    every GET sent at once, as concurrent streams
#   abort  one GET; close the connection (its receive buffer not read:
#          a reset) after the first 64 kB of the body
#   drop   every GET sent at once; close the connection as soon as the
#          first response's headers came (the others are on their way)
#   half   every GET sent at once, then shutdown(SHUT_WR) (a FIN while
#          nginx answers); read what comes until nginx closes
# It prints one line per GET, in the order given: its status, the body's
# length and the body itself if it is at most 32 bytes of text, its
# spaces as "_" ("200 17 hello_from_nginx"; "-" for none). Only the
# response headers' :status is decoded: nginx sends it first, as an index
# of HPACK's static table or, for the others (502), as a literal of 3
# digits with the static table's name.
import socket
import struct
import sys

STATIC_STATUS = {8: "200", 9: "204", 10: "206", 11: "304", 12: "400", 13: "404", 14: "500"}
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY = 0x1, 0x1, 0x4, 0x8, 0x20

port, mode, paths = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
s = socket.socket()
s.settimeout(10)
# a small receive buffer: a large body fills it and nginx waits to send
# the rest, so that the abort mode closes while nginx is mid-response
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
s.connect(("127.0.0.1", port))
authority = ("127.0.0.1:%d" % port).encode()


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def literal(index, value):
    # literal header field without indexing, name from the static table
    assert len(value) < 127
    return bytes([index, len(value)]) + value


def request(sid, path):
    block = b"\x82\x86" + literal(4, path.encode()) + literal(1, authority)  # GET, http
    s.sendall(frame(HEADERS, END_STREAM | END_HEADERS, sid, block))


buf = b""


def read_frame():
    global buf
    while True:
        if len(buf) >= 9:
            n = struct.unpack(">I", b"\0" + buf[:3])[0]
            if len(buf) >= 9 + n:
                ftype, flags, sid = buf[3], buf[4], struct.unpack(">I", buf[5:9])[0] & 0x7FFFFFFF
                payload, buf = buf[9:9 + n], buf[9 + n:]
                return ftype, flags, sid, payload
        data = s.recv(65536)
        if not data:
            raise EOFError("connection closed by the server")
        buf += data


# stream id -> [status, body length, done, the body's first bytes]
streams = {}


def pump(done):
    """Read frames, answering SETTINGS and PING, until done() holds."""
    while not done():
        ftype, flags, sid, payload = read_frame()
        if ftype == SETTINGS and not flags & ACK:
            s.sendall(frame(SETTINGS, ACK, 0))
        elif ftype == PING and not flags & ACK:
            s.sendall(frame(PING, ACK, 0, payload))
        elif ftype == GOAWAY:
            raise EOFError("GOAWAY from the server")
        elif ftype == HEADERS and sid in streams:
            if flags & PADDED:
                payload = payload[1:len(payload) - payload[0]]
            if flags & PRIORITY:
                payload = payload[5:]
            if streams[sid][0] == "-" and payload:
                if payload[0] & 0x80:
                    streams[sid][0] = STATIC_STATUS.get(payload[0] & 0x7F, "?")
                elif payload[0] in (0x08, 0x48) and payload[1:2] == b"\x03":
                    streams[sid][0] = payload[2:5].decode("ascii", "replace")
                else:
                    streams[sid][0] = "?"
            if flags & END_STREAM:
                streams[sid][2] = True
        elif ftype == DATA and sid in streams:
            if flags & PADDED:
                payload = payload[1:len(payload) - payload[0]]
            streams[sid][1] += len(payload)
            if len(streams[sid][3]) <= 32:
                streams[sid][3] += payload[:33]
            if flags & END_STREAM:
                streams[sid][2] = True
        elif ftype == RST_STREAM and sid in streams:
            streams[sid][2] = True


# the preface; SETTINGS: a large initial window (the abort mode reads 64 kB
# of a large file at once), and as much for the connection's window
s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 1 << 30)) +
          frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1 << 30)))
sids = [1 + 2 * i for i in range(len(paths))]
for sid in sids:
    streams[sid] = ["-", 0, False, b""]
if mode == "seq":
    for sid, path in zip(sids, paths):
        request(sid, path)
        pump(lambda: streams[sid][2])
elif mode == "par":
    for sid, path in zip(sids, paths):
        request(sid, path)
    pump(lambda: all(v[2] for v in streams.values()))
elif mode == "drop":
    for sid, path in zip(sids, paths):
        request(sid, path)
    pump(lambda: streams[sids[0]][0] != "-" or streams[sids[0]][2])
elif mode == "half":
    for sid, path in zip(sids, paths):
        request(sid, path)
    s.shutdown(socket.SHUT_WR)
    try:
        pump(lambda: all(v[2] for v in streams.values()))
    except (EOFError, OSError):  # nginx closes; an ACK it asks for cannot go
        pass
elif mode == "abort":
    request(1, paths[0])
    pump(lambda: streams[1][1] >= 65536 or streams[1][2])
else:
    sys.exit("unknown mode " + mode)
s.close()
for sid in sids:
    st, n, _, body = streams[sid]
    text = body.decode("ascii", "replace").strip().replace(" ", "_")
    print("%s %d %s" % (st, n, text if 0 < n <= 32 and text.isprintable() and text else "-"))
