#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# probe.py ADDR PORT SECS: exit 0 as soon as a TCP connect to ADDR:PORT
# succeeds, 1 when SECS pass first. Retries inside one process, so under
# a preload it brings its stack up once.
import socket, sys, time
addr, port, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
end = time.time() + secs
while True:
    try:
        socket.create_connection((addr, port), timeout=2).close()
        sys.exit(0)
    except OSError as e:
        if time.time() > end:
            print("%s:%d not accepting connections after %.0f s: %s" % (addr, port, secs, e))
            sys.exit(1)
        time.sleep(0.1)
