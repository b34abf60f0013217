#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/dpdk/stages.py: where a process's time goes, by stage of the
packet path, from `perf report --no-children --sort dso,sym` output.

perf's cpu-clock samples only a process that is on its CPU, and the
report's event count is that CPU time in ns; a process that spins (our
stack over DPDK) spends all of it in the packet path. So a stage's share
of the samples times the CPU time, over the round trips made meanwhile,
is what that stage costs per round trip, and the column sums to the CPU
time of one round trip (the time a process was preempted, which this VM
adds in bursts, is in no stage). Idle stages (the wait loop finding
nothing, the device looking at an empty ring) are the wait for the peer;
the others are work.

usage: stages.py [--unit RT|seg] LABEL=REPORT.txt[:COUNT] ...   (markdown on stdout)
COUNT is the round trips (or, with --unit seg, the bulk TCP data
segments) made while perf recorded.
"""
import re
import sys

# First match wins: (stage, dso regex, symbol regex). Order matters.
STAGES = [
    ("kernel (scheduler, interrupts)", r"kernel", r".*"),
    ("device: memif PMD (rx+tx)", r"librte_net_memif", r".*"),
    ("device: DPDK (other)", r"librte_", r".*"),
    ("device RX (dpdk_rx_burst, gate; our memif: its copy out)", r".*", r"^(dpdk_rx_burst|dpdk_gate_\w+|gate_\w+|dpdk_rx_\w+|memif_rx|rx_frame|memif_ctl_\w+|loop_rx)$"),
    ("device TX (dpdk_tx_burst, copies, memif's checksum copy)", r".*", r"^(dpdk_tx_\w+|tx_copy|tx_\w+_seg|dpdk_ext_\w+|dpdk_copy_\w+|copy_sum\w*|dm_l2copy_\w+|memif_tx|tx_frame|copy_frame|loop_tx)$"),
    ("checksums", r".*", r"^inet_csum_\w+"),
    ("stack input (eth/ip/tcp)", r".*", r"^(inet_input\w*|eth_input|arp_\w+|ipv[46]_input\w*|ip_input\w*|icmp\w*|udp_input\w*|tcp_input\w*|tcp_deliver\w*|tcp_lookup\w*|tcp_ack\w*|tcp_rcv\w*|tcp_reass\w*|tcp_sack\w*|tcp_rtt\w*|tcp_cc\w*|established_input\w*|inet_buf_pull|cubic_\w+|newreno_\w+)"),
    ("per-poll checks (output pending, tx flush)", r".*", r"^(tcp_output_pending|inet_tx_flush|flush_task)$"),
    ("stack output (tcp/ip/eth)", r".*", r"^(tcp_output\w*|tcp_xmit\w*|tcp_send\w*|tcp_out\w*|ipv[46]_output\w*|ip_output\w*|eth_output\w*|inet_tx_\w+|inet_output\w*|tcp_finish|tcp_pipe|inet_attach_payload|inet_alloc_tx|sndq_find)"),
    ("timers", r".*", r"^(dm_wheel_\w+|dm_timer_\w+|tcp_timer\w*)"),
    ("clock reads", r".*", r"(clock_gettime|__vdso_clock_gettime)"),
    ("dispatch to the op (completion)", r".*", r"^(dm_op_complete\w*|op_done|dm_op_fail|dm_chain_to_sga|tcp_pop_\w+|inet_pop\w*)"),
    ("push (API to stack)", r".*", r"^(dm_push\w*|demi_push\w*|inet_push\w*|dm_op_new|start_op|dm_sga\w*|demi_sga\w*|sga_\w+|tcp_push|tcp_fill_sndq)"),
    ("wait loop (poll, look up tokens)", r".*", r"^(wait_until|any_done|next_done|dm_poll|dm_wait\w*|demi_wait\w*|inet_poll|run_tasks|dm_op_lookup|dm_op_reap|dm_queue\w*|dm_spin\w*|dm_token_state)"),
    ("buffers", r".*", r"^(pool_get|dm_buf_\w+|dm_bufpool\w*)"),
    ("memset (the benchmark fills its buffers)", r".*", r"memset"),
    ("memcpy (TX copy into the mbuf)", r".*", r"(memmove|memcpy)"),
    ("application", r"(demi_tcp_pingpong|sockperf|demi_echo)", r".*"),
    ("preload (fd lookup, copies, epoll)", r"libdemi-preload", r"^(shim_\w+|hook\w*|iov_\w+|sga_copy|rx_stream_copy|push_bytes|build_chain|scan_watches|dispatch)"),
]

LINE = re.compile(r"^\s*([\d.]+)%\s+(\S+)\s+\[[.kgu]\]\s+(.*?)\s*$")


def classify(dso, sym):
    for stage, dre, sre in STAGES:
        if re.search(dre, dso) and re.search(sre, sym):
            return stage
    return "other"


EVENTS = re.compile(r"^# Event count \(approx\.\): (\d+)")


def load(path):
    out = {"": 0.0}
    with open(path, errors="replace") as f:
        for line in f:
            e = EVENTS.match(line)
            if e:
                out[""] += float(e.group(1))
                continue
            m = LINE.match(line)
            if not m:
                continue
            pct, dso, sym = float(m.group(1)), m.group(2), m.group(3)
            st = classify(dso, sym)
            out[st] = out.get(st, 0.0) + pct
    return out


def main(argv):
    unit = "RT"
    if argv[:1] == ["--unit"]:
        unit, argv = argv[1], argv[2:]
    cols = []
    for a in argv:
        label, _, rest = a.partition("=")
        path, _, rts = rest.partition(":")
        c = load(path)
        cols.append((label, c, c[""] / float(rts) if rts and float(rts) > 0 and c[""] else None))
    stages = [s for s, _, _ in STAGES] + ["other"]
    head = "| stage |" + "".join(f" {l} % | {l} ns/{unit} |" for l, _, _ in cols)
    print(head)
    print("|---|" + "---:|---:|" * len(cols))
    for s in stages:
        if not any(c.get(s, 0) >= 0.05 for _, c, _ in cols):
            continue
        row = f"| {s} |"
        for _, c, per_rt in cols:
            p = c.get(s, 0.0)
            row += f" {p:.1f} | {'' if per_rt is None else round(p / 100 * per_rt)} |"
        print(row)
    row = "| **CPU per round trip** |" if unit == "RT" else f"| **CPU per {unit}** |"
    for _, c, per_rt in cols:
        row += f" 100 | {'' if per_rt is None else round(per_rt)} |"
    print(row)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]) or 0)
