#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# bench/scale/report.py OUT --meta KEY=VALUE...: turns OUT/cells.jsonl
# (one line per measurement, written by scale.sh) into
#   OUT/scale.json  the run's settings, every measurement, and per cell
#                   (server, metric, N, column) the median over the rounds
#                   that succeeded, its spread and its ratio to the kernel;
#   OUT/scale.md    one table per server: rows N, columns kernel and each
#                   backend (with the ratio to the kernel of the same row),
#                   the command lines, and every failure with its reason;
#   OUT/scale.png   rate against N per server and column (bars where a
#                   server has one N only).
# A cell whose every round failed is "fail" with the reasons, never 0.
# scale.sh runs it with the system python (/usr/bin/python3; matplotlib
# for the plot, where it is installed).
import argparse, json, os, statistics

try:  # the device machine may have no matplotlib: the tables still come
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    plt = None

WHAT = {
    "memcached": "memcached -t N; memcaslap (90% get, 10% set), 256 connections",
    "nginx": "nginx, N worker processes, a small static file; wrk, 256 keepalive connections",
    "redis": "redis-server (single-threaded: N=1 only); redis-benchmark -c 50 -t get,set",
    "nginx-close": "nginx, N worker processes, a small static file; wrk, 256 connections, Connection: close (one per request)",
    "nginx-stock": "nginx, N worker processes, a small static file, Debian's nginx.conf (sendfile, tcp_nopush, an access log, no open_file_cache); wrk, 256 keepalive connections",
    "apache": "Apache httpd, event MPM, N children x 25 threads; wrk, 25N keepalive connections",
    "apache-prefork": "Apache httpd, prefork MPM, 8N children; wrk, 8N keepalive connections",
    "node": "Node.js http server, N>1: its cluster of N workers (round robin), a 27-byte reply; wrk, 256 keepalive connections",
}
COLOR = {"kernel": "#555555", "posix": "#1f77b4", "uring": "#2ca02c", "dpdk-tap": "#d62728"}


def load_cells(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def summarize(cells, servers, columns):
    """One entry per (server, metric, n, column), in table order."""
    groups = {}
    for c in cells:
        groups.setdefault((c["server"], c["metric"], c["n"], c["column"]), []).append(c)
    order = {s: i for i, s in enumerate(servers)}
    corder = {col: i for i, col in enumerate(columns)}
    metrics = {}
    for c in cells:
        metrics.setdefault(c["server"], [])
        if c["metric"] not in metrics[c["server"]]:
            metrics[c["server"]].append(c["metric"])
    keys = sorted(groups, key=lambda k: (order.get(k[0], 99), metrics[k[0]].index(k[1]), k[2],
                                         corder.get(k[3], 99)))
    out = []
    for key in keys:
        runs = groups[key]
        ok = [r["value"] for r in runs if r["status"] == "ok"]
        bad = [r for r in runs if r["status"] != "ok"]
        e = {"server": key[0], "metric": key[1], "n": key[2], "column": key[3],
             "rounds": len(runs), "rounds_ok": len(ok),
             "reasons": sorted({r["reason"] for r in bad}),
             "notes": sorted({r["reason"] for r in runs if r["status"] == "ok" and r["reason"]})}
        if ok:
            med = statistics.median(ok)
            e.update(status="ok", value=med,
                     spread=(max(ok) - min(ok)) / med if len(ok) > 1 and med else None)
        else:
            e.update(status="skip" if all(r["status"] == "skip" for r in runs) else "fail", value=None)
        out.append(e)
    kernel = {(e["server"], e["metric"], e["n"]): e["value"] for e in out if e["column"] == "kernel"}
    for e in out:
        k = kernel.get((e["server"], e["metric"], e["n"]))
        e["ratio"] = e["value"] / k if e["value"] is not None and k else None
    return out


def first_cmds(cells, server, columns):
    """The commands of the smallest N's first round, per column."""
    mine = [c for c in cells if c["server"] == server and c["server_cmd"]]
    if not mine:
        return []
    n0 = min(c["n"] for c in mine)
    seen, out = set(), []
    for col in columns:
        for c in mine:
            if c["n"] == n0 and c["column"] == col and col not in seen:
                seen.add(col)
                out.append((col, n0, c["server_cmd"].strip(), c["load_cmd"].strip()))
    return out


def markdown(meta, summary, cells, columns):
    m = meta
    lines = ["# Servers scaling with cores: the kernel against demi's backends", "",
             "```sh", m.get("command", ""), "```", "",
             f"{m.get('started')} to {m.get('finished')} on `{m.get('host')}` "
             f"({m.get('nproc')} CPUs: {m.get('cpus')}; Linux {m.get('kernel')}; load average "
             f"{m.get('loadavg')} at the start), commit {m.get('commit')}.",
             f"Server on the first N CPUs; load tool with {m.get('load_threads')} thread(s) on CPU(s) "
             f"{m.get('load_cpus')}, {'preloaded with the same backend' if m.get('both') == '1' else 'not preloaded (a kernel program)'}. "
             f"{m.get('secs')} s per measurement (redis: {m.get('redis_n')} requests per test); "
             f"the columns of a row run back to back, "
             + (f"median of {m.get('rounds')} rounds (± half the range)." if m.get('rounds') != '1' else "one round.")
             + " Ratios are to the kernel column of the same row.",
             f"Tools: {m.get('tools', '').strip().rstrip(';')}."]
    if m.get("path") == "netns":
        lines.append("Path: the load tool in a network namespace L, the server across a virtual link: "
                     "`kernel` is the server in namespace K behind a veth pair K-L; `dpdk-tap` is the "
                     "server preloaded over a DPDK net_tap port (its kernel end in L) owned by "
                     "demi-dpdk-primary, N queue pairs, one per process (nginx's workers); `xdp-veth` "
                     "the server preloaded over AF_XDP on the K end of an N-queue veth pair. "
                     "Only the server is preloaded.")
    if m.get("share_cpus") == "1":
        lines.append("`--share-cpus`: in rows where N plus the load CPUs exceed the CPUs, the load tool "
                     "shares CPUs with the server.")
    if m.get("demi_env", "").strip():
        lines.append(f"Environment: `{m['demi_env'].strip()}`.")
    if m.get("redis_threads") == "0":
        lines.append("redis-benchmark has no --threads here: one load thread.")
    foot = []   # footnotes; the metrics of one failed run share one

    def note(text):
        if text not in foot:
            foot.append(text)
        return foot.index(text) + 1

    def cell_text(e):
        where = f"{e['server']} N={e['n']} {e['column']}"
        if e["status"] != "ok":
            return f"{e['status'].upper()} [{note(f'{where}: ' + '; '.join(e['reasons']))}]"
        t = f"{e['value']:,.0f}" if abs(e['value']) >= 100 else f"{e['value']:.3g}"
        if e["spread"] is not None:
            t += f" ±{50 * e['spread']:.0f}%"
        if e["column"] != "kernel" and e["ratio"] is not None:
            t += f" ({e['ratio']:.2f}×)"
        if e["rounds_ok"] < e["rounds"] or e["notes"]:
            why = list(e["notes"])
            if e["rounds_ok"] < e["rounds"]:
                why.insert(0, f"{e['rounds'] - e['rounds_ok']} of {e['rounds']} rounds failed: "
                              + "; ".join(e["reasons"]))
            t += f" [{note(f'{where}: ' + '; '.join(why))}]"
        return t

    for server in m.get("servers", "").split():
        mine = [e for e in summary if e["server"] == server]
        if not mine:
            continue
        metrics = list(dict.fromkeys(e["metric"] for e in mine))
        lines += ["", f"## {server}", "", WHAT.get(server, ""), ""]
        multi = len(metrics) > 1
        head = ["N"] + (["metric"] if multi else []) + [c if multi else f"{c} {metrics[0]}" for c in columns]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "|".join("--:" for _ in head) + "|")
        for metric in metrics:
            for n in sorted({e["n"] for e in mine if e["metric"] == metric}):
                row = {e["column"]: e for e in mine if e["metric"] == metric and e["n"] == n}
                cols = [cell_text(row[c]) if c in row else "" for c in columns]
                lines.append("| " + " | ".join([str(n)] + ([metric] if multi else []) + cols) + " |")
        cmds = first_cmds(cells, server, columns)
        if cmds:
            lines += ["", f"Commands (N={cmds[0][1]}; other rows differ in N and the CPU list):", ""]
            for col, _, s, l in cmds:
                lines += [f"- {col} server: `{s}`", f"  load: `{l}`"]
    if foot:
        lines += ["", "Failures and notes:", ""] + [f"{i}. {t}" for i, t in enumerate(foot, 1)]
    return "\n".join(lines) + "\n"


def plot(summary, servers, columns, path):
    panels = []
    for s in servers:
        for metric in dict.fromkeys(e["metric"] for e in summary if e["server"] == s):
            panels.append((s, metric))
    if not panels:
        return
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.8), squeeze=False)
    for ax, (s, metric) in zip(axes[0], panels):
        mine = [e for e in summary if e["server"] == s and e["metric"] == metric]
        ns = sorted({e["n"] for e in mine})
        at = {(e["n"], e["column"]): e for e in mine}
        if len(ns) == 1:   # one N: a bar per column
            for i, col in enumerate(columns):
                e = at.get((ns[0], col))
                if e is None:
                    continue
                if e["value"] is None:
                    ax.text(i, 0, e["status"], ha="center", va="bottom", color="red")
                    continue
                ax.bar(i, e["value"], color=COLOR.get(col, "#999999"))
                label = f"{e['value'] / 1000:.0f}k" + (f"\n{e['ratio']:.2f}×" if col != "kernel" and e["ratio"] else "")
                ax.text(i, e["value"], label, ha="center", va="bottom", fontsize=8)
            ax.set_xticks(range(len(columns)), columns)
            ax.set_title(f"{s} N={ns[0]}: {metric}")
            ax.margins(y=0.2)
        else:              # a line per column
            for col in columns:
                pts = [(n, at[(n, col)]["value"]) for n in ns if (n, col) in at and at[(n, col)]["value"] is not None]
                failed = [str(n) for n in ns if (n, col) in at and at[(n, col)]["value"] is None]
                label = col + (f" (failed at N={','.join(failed)})" if failed else "")
                if pts:
                    ax.plot(*zip(*pts), marker="o", color=COLOR.get(col), label=label)
                elif failed:
                    ax.plot([], [], color=COLOR.get(col), label=label)
            ax.set_xscale("log", base=2)
            ax.set_xticks(ns, [str(n) for n in ns])
            ax.set_xlabel("server cores (N)")
            ax.set_title(f"{s}: {metric}")
            ax.legend(fontsize=8)
        ax.set_ylim(bottom=0)
        ax.set_ylabel(metric)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--meta", action="append", default=[], help="KEY=VALUE")
    a = ap.parse_args()
    meta = dict(kv.split("=", 1) for kv in a.meta)
    servers = meta.get("servers", "memcached nginx redis").split()
    columns = ["kernel"] + meta.get("backends", "uring posix").split()
    cells = load_cells(os.path.join(a.out, "cells.jsonl"))
    summary = summarize(cells, servers, columns)
    with open(os.path.join(a.out, "scale.json"), "w") as f:
        json.dump({"meta": meta, "summary": summary, "cells": cells}, f, indent=1)
    md = markdown(meta, summary, cells, columns)
    with open(os.path.join(a.out, "scale.md"), "w") as f:
        f.write(md)
    if plt:
        plot(summary, servers, columns, os.path.join(a.out, "scale.png"))
    else:
        print("report.py: no matplotlib here, no scale.png")
    print(md, end="")


if __name__ == "__main__":
    main()
