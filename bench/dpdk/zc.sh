#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/dpdk/zc.sh [BUILD_DIR]: memif's copy mode against its zero-copy
# client mode (DEMI_DPDK_MEMIF_ZC), raw and through our stack, alternating
# within one run (this VM's memif rates move 4x from one minute to the
# next: only pairs taken side by side compare). ROUNDS rounds (default 4),
# each: the raw memif rate (2 s of 1514 B frames) copy then zero-copy, a
# bulk TCP transfer of BULK bytes (default 1 GiB) copy then zero-copy, and
# N 64 B round trips each way. One server process per round (ours, no
# hugepages, so it copies) serves both kinds of client; the script reserves the hugepages
# the zero-copy clients need and gives them back. Server on CPU 0, client
# on CPU 1. Root.
set -u
BUILD=${1:-build}
B=$BUILD/bench/dpdk
ROUNDS=${ROUNDS:-4}
BULK=${BULK:-1073741824}
N=${N:-100000}
TMP=$(mktemp -d /tmp/demi_bench_zc.XXXXXX)
PIDS=""
. "$(dirname "$0")/../../scripts/hugepages.sh"
trap '[ -n "$PIDS" ] && kill $PIDS 2>/dev/null; wait 2>/dev/null; huge_release; rm -rf "$TMP"' EXIT INT TERM
for x in raw_memif_pingpong demi_tcp_pingpong; do
    [ -x "$B/$x" ] || { echo "missing $B/$x: build first (ninja -C $BUILD)"; exit 1; }
done
huge_reserve 256 || { echo "could not reserve 256 hugepages (root?)"; exit 77; }
huge_mount "$TMP/huge" || { echo "cannot mount hugetlbfs"; exit 77; }

field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
raw_rate() { # -z or nothing
    taskset -c 0 timeout 60 "$B/raw_memif_pingpong" server -b -S "$TMP/r.sock" >"$TMP/rs.out" 2>&1 &
    PIDS="$PIDS $!"
    sleep 0.5
    taskset -c 1 timeout 60 "$B/raw_memif_pingpong" client $1 -b -s 1514 -t 2 -S "$TMP/r.sock" >/dev/null 2>&1
    wait
    field gbps "$(grep '^RESULT' "$TMP/rs.out")"
}
K=0
client() { # zc(auto|off) args...
    z=$1
    shift
    K=$((K + 1))
    env DEMI_BACKEND=dpdk DEMI_IPV4=10.9.0.2/24 DEMI_DPDK_LINK_WAIT_MS=10000 DEMI_LOG=warn DEMI_DPDK_PREFIX=dmz_$$_c$K \
        DEMI_DPDK_MEMIF_ZC=$z DEMI_DPDK_ARGS="--vdev=net_memif0,socket=$SOCK" \
        taskset -c 1 timeout 120 "$B/demi_tcp_pingpong" client -a 10.9.0.1 -p 7777 "$@" 2>>"$TMP/dc.err" | grep '^RESULT'
}
echo "| round | raw rate, copy / zero-copy (Gbit/s) | bulk TCP, copy / zero-copy (Gbit/s) | echo p50, copy / zero-copy (ns) | echo p99.9, copy / zero-copy (ns) |"
echo "|--:|--:|--:|--:|--:|"
for r in $(seq "$ROUNDS"); do
    rc=$(raw_rate "")
    rz=$(raw_rate -z)
    # our server (it copies: --no-huge), alone on CPU 0 while our clients run
    env DEMI_BACKEND=dpdk DEMI_IPV4=10.9.0.1/24 DEMI_LOG=warn DEMI_DPDK_PREFIX=dmz_$$_s$r \
        DEMI_DPDK_ARGS="--no-huge -m 512 --vdev=net_memif0,role=server,socket=$TMP/d$r.sock" \
        taskset -c 0 timeout 600 "$B/demi_tcp_pingpong" server -a 10.9.0.1 -p 7777 >"$TMP/ds.out" 2>&1 &
    SRV=$!
    SOCK=$TMP/d$r.sock
    sleep 0.5
    bc_=$(field gbps "$(client off -B "$BULK")")
    bz=$(field gbps "$(client auto -B "$BULK")")
    ec=$(client off -n "$N" -s 64)
    ez=$(client auto -n "$N" -s 64)
    kill $SRV 2>/dev/null
    wait
    echo "| $r | ${rc:-n/a} / ${rz:-n/a} | ${bc_:-n/a} / ${bz:-n/a} | $(field p50 "$ec") / $(field p50 "$ez") | $(field p999 "$ec") / $(field p999 "$ez") |"
done
