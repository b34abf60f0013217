#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# bench/latency/report.py OUT: turns the raw outputs of latency.sh
# (OUT/raw/<backend>/...) into OUT/latency.json (every figure),
# OUT/latency.md (the table, ratios against the kernel column of the same
# run, the targets) and PNG plots (percentiles per backend, CDFs, throughput).
# Latency is in microseconds everywhere; sockperf's is half the round trip
# (what sockperf reports), redis-benchmark's and wrk's a full request.
import argparse, json, os, re, sys
import numpy as np

COLS = ["kernel", "kernel-1cpu", "posix", "uring", "dpdk-memif", "memif", "memif-floor"]
LABEL = {"kernel": "Linux kernel (loopback)", "kernel-1cpu": "kernel, both ends on CPU 0", "posix": "demi posix", "uring": "demi uring",
         "dpdk-memif": "demi dpdk-memif", "memif": "demi memif (our driver)", "memif-floor": "raw memif floor"}
COLOR = {"kernel": "#555555", "kernel-1cpu": "#aaaaaa", "posix": "#1f77b4", "uring": "#2ca02c", "dpdk-memif": "#d62728",
         "memif": "#ff7f0e", "memif-floor": "#9467bd"}
SIZES = [64, 1024, 16384]

def pct(a, q):
    return float(np.percentile(a, q, method="higher")) if len(a) else None

def read_sockperf(path):
    """Per-message latencies (usec) from sockperf --full-log."""
    vals, on = [], False
    with open(path) as f:
        for line in f:
            if line.startswith("packet, txTime"):
                on = True
                continue
            if on:
                p = line.split(",")
                if len(p) == 4:
                    try:
                        vals.append(float(p[3]))
                    except ValueError:
                        pass
    return np.array(vals)

def cdf_points(samples, n=300):
    """A compact CDF: n quantiles spread to show the tail."""
    if not len(samples):
        return []
    qs = np.unique(np.concatenate([np.linspace(0, 99, n // 2), 100 - np.logspace(0, -3, n // 2)]))
    return [[round(float(q), 4), round(float(np.percentile(samples, q)), 3)] for q in qs]

def read_redis(path):
    """Per test: rps, p50/p99/p99.9 (usec), and CDF points from the text output."""
    out = {}
    if not os.path.exists(path):
        return out
    text = open(path, errors="replace").read().replace("\r", "\n")
    parts = re.split(r"====== (\w+) ======", text)
    for name, body in zip(parts[1::2], parts[2::2]):
        m = re.search(r"(\d+) requests completed", body)
        total = int(m.group(1)) if m else 0
        pts = [(float(v) * 1000, int(c)) for v, c in
               re.findall(r"<= ([\d.]+) milliseconds \(cumulative count (\d+)\)", body)]
        pts.sort()
        r = {"requests": total}
        m = re.search(r"throughput summary: ([\d.]+) requests per second", body)
        if m:
            r["rps"] = float(m.group(1))
        m = re.search(r"avg\s+min\s+p50\s+p95\s+p99\s+max\s*\n\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", body)
        if m:
            avg, mn, p50, p95, p99, mx = (float(x) * 1000 for x in m.groups())
            r.update(avg_us=avg, p50_us=p50, p95_us=p95, p99_us=p99, max_us=mx)
        if total and pts:
            def q(frac):
                for v, c in pts:
                    if c / total >= frac:
                        return v
                return pts[-1][0]
            r["p999_us"] = q(0.999)
            r.setdefault("p50_us", q(0.5)); r.setdefault("p99_us", q(0.99))
            # from 0 at the smallest value, so the plot rises like the others
            r["cdf"] = [[0.0, pts[0][0]]] + [[round(100.0 * c / total, 4), v] for v, c in pts]
        if "rps" in r:
            out[name] = r
    return out

def read_wrk(path):
    if not os.path.exists(path):
        return None
    for line in open(path, errors="replace"):
        if line.startswith("WRKJSON "):
            d = json.loads(line[8:])
            if not d["requests"]:
                return None
            d["rps"] = d["requests"] / (d["duration_us"] / 1e6)
            return d
    return None

def read_raw(path):
    if not os.path.exists(path):
        return None
    for line in open(path, errors="replace"):
        if line.startswith("RESULT raw_memif "):
            f = dict(kv.split("=", 1) for kv in line.split()[3:] if "=" in kv)
            # a round trip of raw frames; the half is comparable to sockperf's figure
            return {"rtt_p50_ns": float(f["p50"]), "rtt_p99_ns": float(f["p99"]), "rtt_p999_ns": float(f["p999"]),
                    "p50_us": float(f["p50"]) / 2000, "p99_us": float(f["p99"]) / 2000,
                    "p999_us": float(f["p999"]) / 2000}
    return None

def status_of(raw, be):
    """A column's status from its result files (one per measurement):
    FAIL if any failed, SKIP if all skipped, else PASS."""
    files = sorted(f for f in os.listdir(raw) if f.startswith(be + ".") and f.endswith(".result")
                   and f[len(be) + 1:-len(".result")].count(".") == 0)
    if not files:
        return "NOT RUN", "not requested"
    res = []
    for f in files:
        parts = open(os.path.join(raw, f)).read().split(None, 3)
        res.append((f[len(be) + 1:-len(".result")], parts[1] if len(parts) > 1 else "FAIL",
                    parts[3].strip() if len(parts) > 3 else ""))
    fails = [r for r in res if r[1] == "FAIL"]
    if fails:
        return "FAIL", "; ".join("%s: %s" % (m, why) for m, _, why in fails)
    if all(r[1] == "SKIP" for r in res):
        return "SKIP", res[0][2]
    return "PASS", ""

def collect(out, backends):
    raw = os.path.join(out, "raw")
    data = {}
    for be in backends + ["memif-floor"]:
        st, why = status_of(raw, be)
        d = {"status": st, "detail": why}
        bd = os.path.join(raw, be)
        if be == "memif-floor":
            d["sockperf"] = {}
            for size in (64, 1024):
                r = read_raw(os.path.join(bd, "client_%d.out" % size))
                if r:
                    d["sockperf"][str(size)] = r
        elif os.path.isdir(bd):
            d["sockperf"] = {}
            for size in SIZES:
                p = os.path.join(bd, "sockperf_%d.csv" % size)
                if os.path.exists(p):
                    s = read_sockperf(p)
                    if len(s):
                        d["sockperf"][str(size)] = {"samples": int(len(s)), "p50_us": pct(s, 50), "p99_us": pct(s, 99),
                                                   "p999_us": pct(s, 99.9), "mean_us": float(s.mean()),
                                                   "max_us": float(s.max()), "cdf": cdf_points(s)}
            d["redis_c1"] = read_redis(os.path.join(bd, "redis_c1.out"))
            d["redis_c50"] = read_redis(os.path.join(bd, "redis_c50.out"))
            d["nginx_wrk"] = read_wrk(os.path.join(bd, "wrk.out"))
        data[be] = d
    return data

def get(data, be, *path):
    v = data.get(be)
    for k in path:
        if not isinstance(v, dict) or k not in v:
            return None
        v = v[k]
    return v

# (label, path, lower-is-better)
ROWS = []
for size in SIZES:
    nm = {64: "64 B", 1024: "1 KiB", 16384: "16 KiB"}[size]
    for p, pn in (("p50_us", "p50"), ("p99_us", "p99"), ("p999_us", "p99.9")):
        ROWS.append(("sockperf ping-pong %s, half-RTT %s (us)" % (nm, pn), ("sockperf", str(size), p), True))
for t in ("GET", "SET"):
    for p, pn in (("p50_us", "p50"), ("p99_us", "p99"), ("p999_us", "p99.9")):
        ROWS.append(("redis-benchmark -c 1 -P 1 %s %s (us)" % (t, pn), ("redis_c1", t, p), True))
for t in ("GET", "SET"):
    ROWS.append(("redis-benchmark -c 50 %s (req/s)" % t, ("redis_c50", t, "rps"), False))
ROWS.append(("nginx + wrk -t1 -c10 keepalive, 1 worker (req/s)", ("nginx_wrk", "rps"), False))
for p, pn in (("p50_us", "p50"), ("p99_us", "p99"), ("p999_us", "p99.9")):
    ROWS.append(("nginx + wrk request latency %s (us)" % pn, ("nginx_wrk", p), True))

def ratio(data, be, path, lower):
    """How many times better than the kernel column (>1: better)."""
    k, v = get(data, "kernel", *path), get(data, be, *path)
    if k is None or v is None or v == 0 or k == 0:
        return None
    return k / v if lower else v / k

def fmt(v):
    if v is None:
        return "-"
    if v >= 10000:
        return "%.0f" % v
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    return "%.2f" % v

def targets(data):
    T = []
    def add(name, be, path, lower, need):
        r = ratio(data, be, path, lower)
        k1, v = get(data, "kernel-1cpu", *path), get(data, be, *path)
        r1 = None if k1 is None or not v else (k1 / v if lower else v / k1)
        if get(data, "kernel", *path) is None:
            why = "kernel figure missing"
        elif be not in data:
            why = be + " not run"
        elif data[be]["status"] != "PASS":
            why = "%s %s: %s" % (be, data[be]["status"], data[be]["detail"])
        else:
            why = be + " figure missing"
        st = "n/a (%s)" % why
        if r is not None:
            st = "MET" if r >= need else "MISSED"
        T.append({"target": name, "backend": be, "need": need, "measured": r, "status": st,
                  "vs_kernel_1cpu": r1})
    add("sockperf 64 B half-RTT p50: dpdk-memif >= 10x lower than kernel", "dpdk-memif", ("sockperf", "64", "p50_us"), True, 10)
    add("sockperf 64 B half-RTT p99.9: dpdk-memif >= 5x lower than kernel", "dpdk-memif", ("sockperf", "64", "p999_us"), True, 5)
    add("redis-benchmark -c 1 GET p50: dpdk-memif >= 5x lower than kernel", "dpdk-memif", ("redis_c1", "GET", "p50_us"), True, 5)
    add("nginx keepalive req/s, one worker: dpdk-memif >= 2x kernel", "dpdk-memif", ("nginx_wrk", "rps"), False, 2)
    add("redis-benchmark -c 50 GET throughput: uring >= kernel", "uring", ("redis_c50", "GET", "rps"), False, 1)
    add("redis-benchmark -c 50 SET throughput: uring >= kernel", "uring", ("redis_c50", "SET", "rps"), False, 1)
    return T

def markdown(meta, data, cols, T, hidden):
    L = ["## Latency and throughput (one run, %s)" % meta["date"], "",
         "`%s` on %s (%s, %s CPUs), commit %s. Both ends of every connection run on the column's "
         "backend (kernel: nothing preloaded; loopback). Latency in microseconds: sockperf's is half "
         "the round trip, redis-benchmark's and wrk's a whole request. In brackets: times better than the "
         "kernel column of this same run (lower latency / higher rate). Read the kernel column knowing that "
         "its processes block in the kernel and pay the CPU's wake-up from idle (on a quiet VM tens of "
         "microseconds, on a busy one a few), while the demi columns spin (DEMI_SPIN_US, default 50 us) before "
         "sleeping. A cross-CPU wake-up costs this VM about 20 us, so the unpinned kernel column swings between "
         "about 2 us and about 25 us at p50 from run to run, depending on where the scheduler puts the two "
         "processes; the column 'kernel, both ends on CPU 0' (taskset) is the kernel's best case for ping-pong "
         "(and its worst for throughput). redis-benchmark reports latency in coarse buckets (about 8 us at "
         "this scale)." % (
             meta["command"], meta["host"], meta["kernel"], meta["cpus"], meta["commit"]), "",
         "| measurement | " + " | ".join(LABEL[c] for c in cols) + " |",
         "|---|" + "---:|" * len(cols)]
    for label, path, lower in ROWS:
        cells = []
        for c in cols:
            v = get(data, c, *path)
            r = ratio(data, c, path, lower) if c != "kernel" else None
            cells.append(fmt(v) + (" (%.2fx)" % r if r is not None else ""))
        if all(x == "-" for x in cells):
            continue
        L.append("| %s | %s |" % (label, " | ".join(cells)))
    notes = [(c, data[c]) for c in cols + hidden if data[c]["status"] != "PASS"]
    if notes:
        L += [""] + ["- %s: %s %s" % (LABEL[c], d["status"], d["detail"]) for c, d in notes]
    L += ["", "| target | measured (vs kernel) | result | vs kernel on one CPU |", "|---|---:|---|---:|"]
    for t in T:
        L.append("| %s | %s | %s | %s |" % (t["target"], "-" if t["measured"] is None else "%.2fx" % t["measured"],
                 t["status"], "-" if t.get("vs_kernel_1cpu") is None else "%.2fx" % t["vs_kernel_1cpu"]))
    L += ["", "Plots: latency_percentiles.png, latency_cdf.png, throughput.png (same folder)."]
    return "\n".join(L) + "\n"

def plots(out, data, cols):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    # 1. percentiles per backend
    panels = [("sockperf 64 B (half RTT)", ("sockperf", "64")), ("sockperf 1 KiB (half RTT)", ("sockperf", "1024")),
              ("sockperf 16 KiB (half RTT)", ("sockperf", "16384")), ("redis-benchmark -c 1 GET", ("redis_c1", "GET")),
              ("redis-benchmark -c 1 SET", ("redis_c1", "SET")), ("nginx + wrk, keepalive", ("nginx_wrk",))]
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    for ax, (title, path) in zip(axes.flat, panels):
        present = [c for c in cols if get(data, c, *path)]
        w = 0.8 / max(1, len(present))
        for i, c in enumerate(present):
            d = get(data, c, *path)
            vals = [d.get(k) or 0 for k in ("p50_us", "p99_us", "p999_us")]
            xs = np.arange(3) + (i - (len(present) - 1) / 2) * w
            bars = ax.bar(xs, vals, w, label=LABEL[c], color=COLOR[c])
            for b, v in zip(bars, vals):
                if v:
                    ax.text(b.get_x() + b.get_width() / 2, v * 1.08, fmt(v), ha="center", va="bottom",
                            fontsize=7, rotation=90)
        ax.set_yscale("log")
        ax.set_xticks(range(3)); ax.set_xticklabels(["p50", "p99", "p99.9"])
        ax.set_title(title); ax.set_ylabel("microseconds (log)")
        ax.grid(axis="y", which="both", alpha=0.3)
        lo, hi = ax.get_ylim(); ax.set_ylim(lo, hi * 4)
        if not present:
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center")
    h, l = [], []
    for ax in axes.flat:
        for hh, ll in zip(*ax.get_legend_handles_labels()):
            if ll not in l:
                h.append(hh); l.append(ll)
    fig.legend(h, l, loc="lower center", ncol=len(l), frameon=False)
    fig.suptitle("Latency percentiles per backend (lower is better), one run")
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    fig.savefig(os.path.join(out, "latency_percentiles.png"), dpi=110)
    plt.close(fig)

    # 2. CDFs: body (linear) and tail (1 - F, log)
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    specs = [("sockperf 64 B", ("sockperf", "64")), ("sockperf 16 KiB", ("sockperf", "16384")),
             ("redis-benchmark -c 1 GET", ("redis_c1", "GET"))]
    for j, (title, path) in enumerate(specs):
        for c in cols:
            d = get(data, c, *path)
            if not d or not d.get("cdf"):
                if d and c == "memif-floor":   # percentiles only: mark them
                    for k, q in (("p50_us", 50), ("p99_us", 99), ("p999_us", 99.9)):
                        axes[0][j].plot(d[k], q / 100, "o", color=COLOR[c], label=LABEL[c] if k == "p50_us" else None)
                        axes[1][j].plot(d[k], 1 - q / 100, "o", color=COLOR[c], label=LABEL[c] if k == "p50_us" else None)
                continue
            q = np.array([p[0] for p in d["cdf"]]) / 100
            v = np.array([p[1] for p in d["cdf"]])
            axes[0][j].step(v, q, where="post", color=COLOR[c], label=LABEL[c])
            tail = np.clip(1 - q, 1e-5, 1)
            axes[1][j].step(v, tail, where="post", color=COLOR[c], label=LABEL[c])
        for i in (0, 1):
            ax = axes[i][j]
            ax.set_xscale("log"); ax.grid(which="both", alpha=0.3)
            ax.set_xlabel("microseconds (log)")
        axes[0][j].set_title(title + ": CDF"); axes[0][j].set_ylabel("fraction <= x")
        axes[1][j].set_title(title + ": tail"); axes[1][j].set_ylabel("fraction > x (log)")
        axes[1][j].set_yscale("log"); axes[1][j].set_ylim(1e-4, 1.05)
        for y, lab in ((0.01, "p99"), (0.001, "p99.9")):
            axes[1][j].axhline(y, color="k", lw=0.5, ls=":"); axes[1][j].text(axes[1][j].get_xlim()[0], y, lab, fontsize=7, va="bottom")
        axes[0][j].legend(fontsize=8, loc="lower right")
    fig.suptitle("Latency distributions (left/up is better), one run")
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(os.path.join(out, "latency_cdf.png"), dpi=110)
    plt.close(fig)

    # 3. throughput
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    for ax, (title, path) in zip(axes, [("redis-benchmark -c 50 GET", ("redis_c50", "GET", "rps")),
                                        ("redis-benchmark -c 50 SET", ("redis_c50", "SET", "rps")),
                                        ("nginx 1 worker, wrk -c10 keepalive", ("nginx_wrk", "rps"))]):
        present = [c for c in cols if get(data, c, *path)]
        vals = [get(data, c, *path) for c in present]
        bars = ax.bar(range(len(present)), vals, color=[COLOR[c] for c in present])
        for b, c, v in zip(bars, present, vals):
            r = ratio(data, c, path, False)
            ax.text(b.get_x() + b.get_width() / 2, v, "%s\n%s" % (fmt(v), "" if c == "kernel" or r is None else "%.2fx" % r),
                    ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(present))); ax.set_xticklabels([LABEL[c] for c in present], rotation=15, fontsize=8)
        ax.set_title(title); ax.set_ylabel("requests/s"); ax.grid(axis="y", alpha=0.3)
        ax.set_ylim(0, (max(vals) if vals else 1) * 1.25)
    fig.suptitle("Throughput (higher is better; ratio to the kernel in the same run)")
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    fig.savefig(os.path.join(out, "throughput.png"), dpi=110)
    plt.close(fig)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--command", default="bench/latency/latency.sh")
    ap.add_argument("--started", default="")
    ap.add_argument("--commit", default="")
    ap.add_argument("--backends", default="kernel posix uring dpdk-memif")
    a = ap.parse_args()
    backends = a.backends.split()
    data = collect(a.out, backends)
    cols = [c for c in COLS if c in data]
    u = os.uname()
    meta = {"date": a.started, "command": a.command.strip(), "commit": a.commit, "host": u.nodename,
            "kernel": "Linux " + u.release, "cpus": os.cpu_count()}
    T = targets(data)
    json.dump({"meta": meta, "backends": data, "targets": T,
               "ratios_vs_kernel": {c: {lab: ratio(data, c, p, lo) for lab, p, lo in ROWS} for c in cols if c != "kernel"}},
              open(os.path.join(a.out, "latency.json"), "w"), indent=1)
    # a column with no figure at all (skipped) is a note under the table, not a column of dashes
    shown = [c for c in cols if c == "kernel" or any(get(data, c, *p) is not None for _, p, _ in ROWS)]
    md = markdown(meta, data, shown, T, [c for c in cols if c not in shown])
    open(os.path.join(a.out, "latency.md"), "w").write(md)
    plots(a.out, data, shown)
    print(md)
    print("written: %s/latency.json latency.md latency_percentiles.png latency_cdf.png throughput.png" % a.out)

main()
