#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""bench/inet/count.py BUILD_DIR [TOP]: instructions per 64 B echo round trip
on the loop device, counted by callgrind (valgrind): the one figure of the
stack's cost that this VM's moods do not move (its timings move 2-3x from one
process start to the next).

Runs bench_inet ONLY=rtt at two iteration counts and takes the difference,
so that setup, teardown and the final sort of the samples cancel out; prints
the total per round trip (two segments, two pushes, two pops, both sides'
polls), by stage of the packet path (bench/dpdk/stages.py's, as
bench/dpdk/profile.sh reports them from perf) and for the TOP functions
(default 25), each by its own instructions per round trip. With LTO (the default build), functions inlined into others
count in their callers.

Under valgrind the run is slow enough for a delayed-ACK timer to fire now
and then (a pure ACK, more polls): a few percent between runs. So the
pair is taken RUNS times (default 3) and the one with the fewest
instructions is shown, with the spread.
"""
import os
import re
import subprocess
import sys
import tempfile

LOW, HIGH = 10000, 30000


def run(bench, n, out):
    env = dict(os.environ, ONLY="rtt")
    r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, bench, str(n), "0"],
                       env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("bench_inet under callgrind failed:\n" + r.stderr[-2000:])


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "dpdk"))
from stages import classify  # noqa: E402  (the stages of bench/dpdk/profile.sh)


def self_costs(out):
    """Total instructions and {(function, dso): own instructions}."""
    r = subprocess.run(["callgrind_annotate", "--auto=no", "--threshold=100", out], capture_output=True, text=True)
    costs, total = {}, 0
    for line in r.stdout.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(\S+)(?:\s+\[(.*)\])?", line)
        if not m:
            continue
        v, name, dso = int(m.group(1).replace(",", "")), m.group(2), m.group(3) or ""
        if name == "PROGRAM":
            total = v
            continue
        fn = name.split(":")[-1]
        costs[(fn, dso)] = costs.get((fn, dso), 0) + v
    return total, costs


def stage_of(fn, dso):
    """A stage of bench/dpdk/stages.py; LTO's and GCC's clone suffixes
    (.lto_priv.0, .constprop.0, .isra.0, .part.0) dropped first."""
    base = fn.split(".")[0].split("'")[0]
    if base in ("main", "wait2", "reap", "push64", "poll2", "cmp64", "report"):
        return "the benchmark (its loop, the final sort)"
    if "libc" in dso and base.startswith("msort"):
        return "the benchmark (its loop, the final sort)"
    return classify(os.path.basename(dso), base)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    build, top = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 25
    bench = os.path.join(build, "bench", "inet", "bench_inet")
    if not os.access(bench, os.X_OK):
        sys.exit("missing " + bench + ": build first")
    runs = int(os.environ.get("RUNS", "3"))
    n = HIGH - LOW
    tries = []
    with tempfile.TemporaryDirectory() as tmp:
        lo, hi = os.path.join(tmp, "lo.out"), os.path.join(tmp, "hi.out")
        for _ in range(runs):
            run(bench, LOW, lo)
            run(bench, HIGH, hi)
            tlo, clo = self_costs(lo)
            thi, chi = self_costs(hi)
            tries.append(((thi - tlo) / n, clo, chi))
    tries.sort(key=lambda t: t[0])
    per_rt, clo, chi = tries[0]
    print("instructions per 64 B echo round trip (loop device, bench_inet ONLY=rtt, callgrind): %d "
          "(fewest of %d runs; the most: %d)" % (round(per_rt), runs, round(tries[-1][0])))
    rows = sorted(((chi.get(k, 0) - clo.get(k, 0)) / n, k) for k in set(clo) | set(chi))
    rows.reverse()
    stages = {}
    for v, (fn, dso) in rows:
        st = stage_of(fn, dso)
        stages[st] = stages.get(st, 0) + v
    print("| stage | instructions per round trip |")
    print("|---|--:|")
    for st, v in sorted(stages.items(), key=lambda x: -x[1]):
        if round(v):
            print("| %s | %d |" % (st, round(v)))
    if top:
        print()
        print("| function | instructions per round trip |")
        print("|---|--:|")
        for v, (fn, _) in rows[:top]:
            print("| %s | %d |" % (fn, round(v)))


if __name__ == "__main__":
    main()
