#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# signal_threads.py ADDR: a process-directed signal that the application's
# only thread blocks stays pending for that thread, as without the
# preload, although the datapath runs threads of its own (DPDK's EAL
# threads, the progress helper). PostgreSQL 15's postmaster blocks its
# signals outside its sleep and does its work in their handlers: run in a
# thread of ours, two handlers ran at once. Prints one line; exit 0 when
# the signals waited, the library's threads block them, and unblocking
# runs both handlers here.
import os
import signal
import socket
import sys
import time

addr = sys.argv[1]
got = []
signal.signal(signal.SIGUSR1, lambda s, f: got.append(s))
signal.signal(signal.SIGCHLD, lambda s, f: got.append(s))

# the datapath (and its threads) starts at the first I/O of a socket on its address
s = socket.socket()
s.bind((addr, 0))
s.listen(8)
s.setblocking(False)
try:
    s.accept()
except BlockingIOError:
    pass

me = os.getpid()
threads = {}
for t in os.listdir("/proc/self/task"):
    with open(f"/proc/self/task/{t}/comm") as f:
        name = f.read().strip()
    with open(f"/proc/self/task/{t}/status") as f:
        blk = next(int(l.split()[1], 16) for l in f if l.startswith("SigBlk:"))
    threads[int(t)] = (name, blk)
others = {t: v for t, v in threads.items() if t != me}
if not others:
    print("FAIL: no thread of the datapath to test against")
    sys.exit(1)
bit = lambda sig: 1 << (sig - 1)
open_to = [f"{n} ({t})" for t, (n, blk) in others.items()
           if not blk & bit(signal.SIGUSR1) or not blk & bit(signal.SIGCHLD) or not blk & bit(signal.SIGTERM)]

signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGCHLD})
os.kill(me, signal.SIGUSR1)
pid = os.fork()
if pid == 0:
    os._exit(0)
# until the child's SIGCHLD is pending (5 s at most, a loaded machine's
# fork and exit), then a little longer for a thread of ours to take it
for _ in range(50):
    if signal.SIGCHLD in signal.sigpending() or got:
        break
    time.sleep(0.1)
time.sleep(0.2)
early = list(got)
pending = signal.sigpending()
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1, signal.SIGCHLD})
time.sleep(0.2)
os.waitpid(pid, 0)
names = ", ".join(sorted(n for n, _ in others.values()))
if open_to:
    print(f"FAIL: the library's threads take the application's signals: {', '.join(open_to)}")
    sys.exit(1)
if early:
    print(f"FAIL: signals {early} ran their handlers while the application's thread blocked them")
    sys.exit(1)
if not {signal.SIGUSR1, signal.SIGCHLD} <= pending:
    print(f"FAIL: pending {sorted(pending)}, want SIGUSR1 and SIGCHLD")
    sys.exit(1)
if sorted(got) != sorted([signal.SIGUSR1, signal.SIGCHLD]):
    print(f"FAIL: after the unblock the handlers ran for {got}")
    sys.exit(1)
print(f"ok: SIGUSR1 and SIGCHLD waited for the application's thread beside {len(others)} of the library's ({names})")
