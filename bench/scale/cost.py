#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""cost.py OUT ROUNDS CMDLINE COMMIT: cost.sh's cells as one table.

Each cell's server samples (perf record -g, cpu-clock) are split into
non-overlapping parts by the kernel function they were under (inclusive)
or the object they were in (user space, self), and scaled to
microseconds per request with the server's CPU time per request. The
median over the rounds is shown."""
import os
import re
import statistics
import sys

out, rounds, cmdline, commit = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]


def perf_rows(path, children):
    """(pct, dso, kind, sym) rows of a perf report --stdio."""
    rows = []
    for line in open(path, errors="replace"):
        if line.startswith("#") or not line.strip():
            continue
        f = line.split()
        try:
            if children:  # Children Self [k] sym
                rows.append((float(f[0].rstrip("%")), None, f[2].strip("[]"), f[3]))
            else:  # Overhead dso [k] sym
                rows.append((float(f[0].rstrip("%")), f[1], f[2].strip("[]"), f[3]))
        except (IndexError, ValueError):
            continue
    return rows


def counts(path):
    vals = {}
    for line in open(path):
        f = line.strip().split(",")
        if len(f) > 2 and f[0] and f[0][0].isdigit():
            vals[f[2]] = float(f[0])
    return vals


def ops_per_s(path):
    m = re.findall(r"TPS:\s*(\d+)", open(path, errors="replace").read())
    return float(m[-1]) if m else 0.0


# rows of the table, in order: (name, how)
PARTS = [
    ("kernel: TCP send, loopback delivery to the client", "send"),
    ("kernel: TCP receive", "recv"),
    ("kernel: epoll_wait", "epoll"),
    ("kernel: io_uring's own (submit, task work, CQEs, waits)", "uring"),
    ("kernel: the rest (syscall entry, scheduler, timers, faults)", "krest"),
    ("user: memcached, libevent, libc (not below)", "app"),
    ("user: libc memcpy/memmove", "copy"),
    ("user: libc mutex lock/unlock", "mutex"),
    ("user: the preload (libdemi-preload.so)", "preload"),
]


def cell(col, rnd):
    tag = os.path.join(out, f"{col}.{rnd}")
    t0, t1, s_u0, s_s0, s_u1, s_s1, l_u0, l_s0, l_u1, l_s1 = map(float, open(tag + ".times").read().split())
    window = t1 - t0
    rate = ops_per_s(tag + ".load.log")
    sv, lv = counts(tag + ".server.csv"), counts(tag + ".load.csv")
    if not rate or "task-clock" not in sv:
        return None
    ops = rate * window
    us = sv["task-clock"] * 1000.0 / ops  # msec -> us per request
    incl = {sym: pct for pct, _, _, sym in perf_rows(tag + ".incl.txt", True)}
    self_rows = perf_rows(tag + ".self.txt", False)
    kernel = sum(p for p, dso, kind, _ in self_rows if kind == "k")
    part = dict.fromkeys((h for _, h in PARTS), 0.0)
    part["send"] = incl.get("tcp_sendmsg", 0.0)
    part["recv"] = incl.get("tcp_recvmsg", 0.0)
    part["epoll"] = incl.get("do_epoll_wait", 0.0)
    enter = incl.get("__do_sys_io_uring_enter", 0.0)
    if enter:  # the TCP calls of a uring server are made inside the enter
        part["uring"] = max(enter - part["send"] - part["recv"], 0.0)
    part["krest"] = max(kernel - sum(part[h] for h in ("send", "recv", "epoll", "uring")), 0.0)
    for pct, dso, kind, sym in self_rows:
        if kind == "k":
            continue
        if dso.startswith("libdemi"):
            part["preload"] += pct
        elif dso.startswith("libc") and ("memmove" in sym or "memcpy" in sym):
            part["copy"] += pct
        elif dso.startswith("libc") and "mutex" in sym:
            part["mutex"] += pct
        else:
            part["app"] += pct
    res = {h: part[h] / 100.0 * us for h in part}
    res.update({
        "rate": rate, "us": us, "busy": sv["task-clock"] / 1000.0 / window,
        "user": (s_u1 - s_u0) * 1e4 / ops, "sys": (s_s1 - s_s0) * 1e4 / ops,
        "sysc": sv.get("raw_syscalls:sys_enter", 0) / ops,
        "enter": sv.get("syscalls:sys_enter_io_uring_enter", 0) / ops,
        "cs": sv.get("context-switches", 0) / ops,
        "load_us": lv.get("task-clock", 0) * 1000.0 / ops,
    })
    return res


cols = ["kernel", "uring"]
cells = {c: [x for x in (cell(c, r) for r in range(1, rounds + 1)) if x] for c in cols}


def med(c, k):
    v = [x[k] for x in cells[c]]
    return statistics.median(v) if v else float("nan")


def spread(c, k):
    v = [x[k] for x in cells[c]]
    return f" ({min(v):.2f}-{max(v):.2f})" if len(v) > 1 else ""


print("# memcached -t 1: server CPU per request, kernel against the uring preload\n")
print(f"```sh\n{cmdline}\n```\n")
print(f"Commit {commit}; {rounds} round(s), median (range); memcaslap -T 1 -c 256 (90% get), "
      "server and load tool on their own CPUs. Parts are perf samples (cpu-clock, -g) of the "
      "server scaled to its CPU time per request.\n")
print("| per request | kernel | uring | uring - kernel |")
print("|---|--:|--:|--:|")
print(f"| ops/s | {med('kernel', 'rate'):,.0f}{spread('kernel', 'rate')} | {med('uring', 'rate'):,.0f}"
      f"{spread('uring', 'rate')} | |")
for k, name in [("busy", "server CPUs busy"), ("us", "server CPU us"), ("user", "  user time us (/proc)"),
                ("sys", "  system time us (/proc)")]:
    print(f"| {name} | {med('kernel', k):.2f}{spread('kernel', k)} | {med('uring', k):.2f}"
          f"{spread('uring', k)} | {med('uring', k) - med('kernel', k):+.2f} |")
for name, h in PARTS:
    print(f"| {name} | {med('kernel', h):.2f} | {med('uring', h):.2f} | {med('uring', h) - med('kernel', h):+.2f} |")
for k, name in [("sysc", "syscalls"), ("enter", "io_uring_enter"), ("cs", "context switches"),
                ("load_us", "load tool CPU us")]:
    print(f"| {name} | {med('kernel', k):.3f} | {med('uring', k):.3f} | |")
