#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# free_port.py: prints a TCP port free on 127.0.0.1 now, below Linux's
# ephemeral range (32768-60999), so that the client connections of tests
# running in parallel cannot take it between this check and the bind.
import random, socket, sys
for _ in range(500):
    p = random.randint(10000, 32767)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        s.close()
        print(p)
        sys.exit(0)
    except OSError:
        s.close()
sys.exit(1)
