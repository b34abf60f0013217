#!/bin/sh
# SPDX-License-Identifier: MIT
# Bulk TCP sent over a DPDK tap port to Linux, with and without TCP
# segmentation offload, in one run: iperf3 (one stream, SECS s) under the
# preload, DEMI_BACKEND=dpdk on --vdev=net_tap0 (CPU 0), to a kernel
# iperf3 server on the tap interface's side (CPU 1), ROUNDS rounds, the
# columns of a round back to back:
#   tso: the stack hands the port frames of up to 64 KiB, which the tap PMD
#        cuts with librte_gso (tcp.tx_tso > 0, checked)
#   one segment a frame: DEMI_TSO=0
#   kernel: the same iperf3 with no preload, over a veth pair between two
#        namespaces (the nearest kernel path: its own GSO)
# Gbit/s as iperf3's receiver reports them. Root; needs iperf3.
#   usage: [ROUNDS=3] [SECS=3] sh bench/dpdk/tap_bulk.sh [PRELOAD_LIB]
set -u
lib=$(readlink -f "${1:-build/interpose/libdemi-preload.so}")
rounds=${ROUNDS:-3} secs=${SECS:-3}
[ -f "$lib" ] || { echo "no preload library at $lib"; exit 2; }
command -v iperf3 >/dev/null || { echo "needs iperf3"; exit 2; }
S=dmtbs$$ C=dmtbc$$
tmp=$(mktemp -d /tmp/tap_bulk.XXXXXX)
ip netns add $S && ip netns add $C || exit 1
trap 'ip netns del $S 2>/dev/null; ip netns del $C 2>/dev/null; rm -rf /var/run/dpdk/dmtb$$_*; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
ip -n $S link set lo up
ip -n $C link set lo up
ip link add dmtb0 netns $S type veth peer name dmtb1 netns $C || exit 1
ip -n $S addr add 10.78.1.3/24 dev dmtb0
ip -n $C addr add 10.78.1.2/24 dev dmtb1
ip -n $S link set dmtb0 up
ip -n $C link set dmtb1 up

# mbps <iperf3 output>: the receiver's rate in Gbit/s
gbps() {
  awk '/receiver/ {for (i = 1; i < NF; i++) if ($(i + 1) ~ /bits\/sec/) {
      v = $i; if ($(i + 1) ~ /^Mbits/) v /= 1000; printf "%.2f", v; found = 1 } }
    END { if (!found) printf "failed" }'
}

# one preloaded run: cell NAME TSO(0|1)
cell() {
  ip netns exec $S taskset -c 1 timeout $((secs + 30)) iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
  srv=$!
  ip netns exec $S env LD_PRELOAD="$lib" DEMI_BACKEND=dpdk DEMI_IPV4=10.78.0.1/24 DEMI_STRICT=1 \
    DEMI_DPDK_ARGS="--vdev=net_tap0,iface=dmtbtap" DEMI_DPDK_LINK_WAIT_MS=5000 DEMI_DPDK_PREFIX=dmtb$$_$1 \
    DEMI_TSO="$2" DEMI_STATS="$tmp/$1.stats" taskset -c 0 timeout $((secs + 25)) \
    iperf3 -c 10.78.0.2 -p 5201 -t "$secs" >"$tmp/$1.out" 2>&1 &
  cli=$!
  for _ in $(seq 100); do ip -n $S link show dmtbtap >/dev/null 2>&1 && break; sleep 0.1; done
  ip -n $S addr add 10.78.0.2/24 dev dmtbtap 2>/dev/null
  ip -n $S link set dmtbtap up
  wait $cli
  wait $srv 2>/dev/null
  r=$(gbps <"$tmp/$1.out")
  tso=$(awk '$1 == "tcp.tx_tso" {print $2}' "$tmp/$1.stats" 2>/dev/null)
  [ "$2" = 1 ] && [ "${tso:-0}" = 0 ] && r="$r (no TSO frames!)"
  rm -f "$tmp/$1.stats"
  printf "%s" "$r"
}

kernel() {
  ip netns exec $C taskset -c 1 timeout $((secs + 20)) iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
  srv=$!
  sleep 0.5
  ip netns exec $S taskset -c 0 timeout $((secs + 15)) iperf3 -c 10.78.1.2 -p 5201 -t "$secs" 2>&1 | gbps
  wait $srv 2>/dev/null
}

echo "| round | dpdk tap, TSO | dpdk tap, one segment a frame | kernel over a veth |"
echo "|--:|--:|--:|--:|"
for i in $(seq "$rounds"); do
  printf "| %s | %s | %s | %s |\n" "$i" "$(cell t$i 1)" "$(cell n$i 0)" "$(kernel)"
done
