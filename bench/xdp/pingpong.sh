#!/bin/sh
# SPDX-License-Identifier: MIT
# sockperf 64 B TCP ping-pong over AF_XDP: a preloaded `sockperf server`
# alone on a QUEUES-queue veth (CPU 0), the client on the kernel in a
# namespace (CPU 1). Several libraries alternate, ROUNDS rounds of SECS s,
# so an A/B is taken in one run (devices/xdp/README.md: the hand-off's
# wait fd). The connection lands on the queue the client's flow hash
# picks: on the server's own (column "via": XSK) or on another, whose
# frames come through the server's packet socket ("packet socket",
# counted by xdp.stray_rx). Root; needs sockperf and ethtool.
#   usage: [QUEUES=2] [ROUNDS=3] [SECS=4] sh bench/xdp/pingpong.sh LIB [LIB...]
set -u
[ $# -ge 1 ] || { echo "usage: $0 LIBRARY [LIBRARY...]"; exit 2; }
q=${QUEUES:-2} rounds=${ROUNDS:-3} secs=${SECS:-4}
S=dmbs$$ C=dmbc$$
ip netns add $S && ip netns add $C || exit 1
trap 'ip netns del $S; ip netns del $C' EXIT
ip link add dmbs numtxqueues $q numrxqueues $q netns $S type veth peer name dmbc numtxqueues $q numrxqueues $q netns $C
for n in $S $C; do ip -n $n link set lo up; done
ip -n $S addr add 10.77.0.3/24 dev dmbs
ip -n $C addr add 10.77.0.2/24 dev dmbc
ip -n $S link set dmbs up
ip -n $C link set dmbc up
echo "| round | library | via | p50 (us) | p99 (us) | p99.9 (us) |"
echo "|---|---|---|--:|--:|--:|"
for r in $(seq "$rounds"); do
  for lib in "$@"; do
    lib=$(readlink -f "$lib")
    ip netns exec $S env LD_PRELOAD="$lib" DEMI_BACKEND=xdp DEMI_XDP_IFACE=dmbs DEMI_IPV4=10.77.0.1/24 DEMI_LOG=info \
      DEMI_STATS=/tmp/dm-xdp-pp.stats \
      taskset -c 0 sockperf server -i 10.77.0.1 -p 11111 --tcp >/dev/null 2>/tmp/dm-xdp-pp.err &
    sp=$!
    sleep 1
    grep -q "datapath started: backend xdp" /tmp/dm-xdp-pp.err || { echo "$lib: the xdp datapath did not start"; exit 1; }
    ip netns exec $C taskset -c 1 sockperf ping-pong -i 10.77.0.1 -p 11111 --tcp -t "$secs" -m 64 >/tmp/dm-xdp-pp.out 2>&1
    kill -INT $sp # sockperf ends through exit() on SIGINT: the preload writes DEMI_STATS
    wait $sp 2>/dev/null
    via=XSK
    [ "$(awk '$1 == "xdp.stray_rx" {print $2}' /tmp/dm-xdp-pp.stats 2>/dev/null | tail -1)" -gt 100 ] 2>/dev/null &&
      via="packet socket"
    awk -v r="$r" -v l="$lib" -v v="$via" '/percentile 50.000/ {a=$NF} /percentile 99.000/ {b=$NF}
      /percentile 99.900/ {c=$NF} END {printf "| %s | %s | %s | %s | %s | %s |\n", r, l, v, a, b, c}' /tmp/dm-xdp-pp.out
    [ -n "${KEEP:-}" ] || rm -f /tmp/dm-xdp-pp.stats
    sleep 0.3
  done
done
