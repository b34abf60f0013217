#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# A client that connects in a loop: connect, one HTTP/1.0 GET, the whole
# answer, close; again until the file STOP exists or SECS passed. Prints
# "ok N reset N refused N other N" (other: a short answer, a timeout);
# the first failures go to stderr.
# usage: connect_loop.py PORT STOP SECS
import errno, os, socket, sys, time

port, stop, secs = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
req = b"GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n"
n = {"ok": 0, "reset": 0, "refused": 0, "other": 0}
end = time.monotonic() + secs
i = 0
while time.monotonic() < end:
    i += 1
    if i % 64 == 0 and os.path.exists(stop):
        break
    s = socket.socket()
    s.settimeout(5)
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(req)
        got = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            got += b
        if got.startswith(b"HTTP/1.1 200") and got.endswith(b"hello from nginx\n"):
            n["ok"] += 1
        else:
            n["other"] += 1
            print("short answer:", got[:80], file=sys.stderr)
    except OSError as e:
        k = {errno.ECONNRESET: "reset", errno.EPIPE: "reset", errno.ECONNREFUSED: "refused"}.get(e.errno, "other")
        n[k] += 1
        if n[k] <= 3:
            print("connection %d: %s" % (i, e), file=sys.stderr)
    finally:
        s.close()
print(" ".join("%s %d" % kv for kv in n.items()))
