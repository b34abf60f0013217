#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# free_port.py [N]: prints N (default 1) distinct TCP ports free on
# 127.0.0.1 now, one per line, below Linux's ephemeral range (32768-60999),
# so that the client connections of tests running in parallel cannot take
# them between this check and the bind. The N are held bound until all are
# chosen: a test that asks for several in one call never gets one twice
# (three separate calls once drew the same random port twice).
import random, socket, sys
n = int(sys.argv[1]) if len(sys.argv) > 1 else 1
held = []
for _ in range(500 + 50 * n):
    if len(held) == n:
        break
    p = random.randint(10000, 32767)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        held.append((p, s))
    except OSError:
        s.close()
for _, s in held:
    s.close()
if len(held) < n:
    sys.exit(1)
print("\n".join(str(p) for p, _ in held))
