#!/bin/sh
# SPDX-License-Identifier: MIT
# sockperf 64 B TCP ping-pong over AF_XDP: a preloaded `sockperf server`
# alone on a QUEUES-queue veth (CPU 0), the client on the kernel in a
# namespace (CPU 1). Several libraries alternate, ROUNDS rounds of SECS s,
# so an A/B is taken in one run (devices/xdp/README.md: the hand-off's
# wait fd). Root; needs sockperf and ethtool.
#   usage: [QUEUES=2] [ROUNDS=3] [SECS=4] sh bench/xdp/pingpong.sh LIB [LIB...]
set -u
[ $# -ge 1 ] || { echo "usage: $0 LIBRARY [LIBRARY...]"; exit 2; }
q=${QUEUES:-2} rounds=${ROUNDS:-3} secs=${SECS:-4}
S=dmbs$$ C=dmbc$$
ip netns add $S && ip netns add $C || exit 1
trap 'ip netns del $S; ip netns del $C' EXIT
ip link add dmbs numtxqueues $q numrxqueues $q netns $S type veth peer name dmbc numtxqueues $q numrxqueues $q netns $C
for n in $S $C; do ip -n $n link set lo up; done
ip netns exec $C ethtool -K dmbc tx off >/dev/null 2>&1 # full checksums: AF_XDP carries no offload metadata
ip -n $S addr add 10.77.0.3/24 dev dmbs
ip -n $C addr add 10.77.0.2/24 dev dmbc
ip -n $S link set dmbs up
ip -n $C link set dmbc up
echo "| round | library | p50 (us) | p99 (us) | p99.9 (us) |"
echo "|---|---|--:|--:|--:|"
for r in $(seq "$rounds"); do
  for lib in "$@"; do
    lib=$(readlink -f "$lib")
    ip netns exec $S env LD_PRELOAD="$lib" DEMI_BACKEND=xdp DEMI_XDP_IFACE=dmbs DEMI_IPV4=10.77.0.1/24 DEMI_LOG=info \
      taskset -c 0 sockperf server -i 10.77.0.1 -p 11111 --tcp >/dev/null 2>/tmp/dm-xdp-pp.err &
    sp=$!
    sleep 1
    grep -q "datapath started: backend xdp" /tmp/dm-xdp-pp.err || { echo "$lib: the xdp datapath did not start"; exit 1; }
    ip netns exec $C taskset -c 1 sockperf ping-pong -i 10.77.0.1 -p 11111 --tcp -t "$secs" -m 64 2>&1 |
      awk -v r="$r" -v l="$lib" '/percentile 50.000/ {a=$NF} /percentile 99.000/ {b=$NF} /percentile 99.900/ {c=$NF}
        END {printf "| %s | %s | %s | %s | %s |\n", r, l, a, b, c}'
    kill $sp
    wait $sp 2>/dev/null
    sleep 0.3
  done
done
