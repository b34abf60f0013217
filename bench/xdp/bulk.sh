#!/bin/sh
# SPDX-License-Identifier: MIT
# Bulk TCP over AF_XDP on a veth, against the kernel on the same veth, in
# one run: iperf3 (one stream, SECS s) between namespace S (the preloaded
# side, CPU 0) and a kernel iperf3 server in namespace C (CPU 1), ROUNDS
# rounds, the columns of a round back to back (devices/xdp/README.md,
# "Checksums"):
#   send: S sends. kernel (no preload) | xdp, checksums by the kernel
#         (DEMI_XDP_TX_CKSUM=offload: AF_XDP TX metadata; on a veth nobody
#         sums them) | xdp, checksums by our stack (=stack)
#   recv: C sends (iperf3 -R). kernel | xdp, C's checksums left to "the
#         NIC" (the default: taken as they are, xdp.rx_csum_partial) | xdp,
#         C summing them in software (ethtool -K tx off: the stack verifies)
# Gbit/s as iperf3's receiver reports them. Root; needs iperf3, ethtool.
#   usage: [ROUNDS=3] [SECS=3] sh bench/xdp/bulk.sh [PRELOAD_LIB]
set -u
lib=$(readlink -f "${1:-build/interpose/libdemi-preload.so}")
rounds=${ROUNDS:-3} secs=${SECS:-3}
[ -f "$lib" ] || { echo "no preload library at $lib"; exit 2; }
command -v iperf3 >/dev/null || { echo "needs iperf3"; exit 2; }
S=dmxbs$$ C=dmxbc$$
ip netns add $S && ip netns add $C || exit 1
trap 'ip netns del $S 2>/dev/null; ip netns del $C 2>/dev/null' EXIT
ip link add dmxb0 netns $S type veth peer name dmxb1 netns $C || exit 1
for n in $S $C; do ip -n $n link set lo up; done
ip -n $S addr add 10.79.0.3/24 dev dmxb0 # the kernel column's address; ours is .1
ip -n $C addr add 10.79.0.2/24 dev dmxb1
ip -n $S link set dmxb0 up
ip -n $C link set dmxb1 up

# one iperf3 run: cell NAME DIR (send|recv) CKSUM (kernel|offload|stack) PEER_TX (on|off)
cell() {
  ip netns exec $C ethtool -K dmxb1 tx "$4" >/dev/null 2>&1
  ip netns exec $C taskset -c 1 timeout $((secs + 20)) iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
  srv=$!
  sleep 0.5
  r=""
  [ "$2" = recv ] && r=-R
  if [ "$3" = kernel ]; then
    out=$(ip netns exec $S taskset -c 0 timeout $((secs + 15)) iperf3 -c 10.79.0.2 -B 10.79.0.3 -p 5201 -t "$secs" $r 2>&1)
  else
    out=$(ip netns exec $S env LD_PRELOAD="$lib" DEMI_BACKEND=xdp DEMI_XDP_IFACE=dmxb0 DEMI_IPV4=10.79.0.1/24 \
      DEMI_XDP_TX_CKSUM="$3" DEMI_STRICT=1 taskset -c 0 timeout $((secs + 15)) \
      iperf3 -c 10.79.0.2 -p 5201 -t "$secs" $r 2>&1)
  fi
  wait $srv 2>/dev/null
  echo "$out" | awk '/receiver/ {for (i = 1; i < NF; i++) if ($(i + 1) ~ /bits\/sec/) {
      v = $i; if ($(i + 1) ~ /^Mbits/) v /= 1000; printf "%.2f", v; found = 1 } }
    END { if (!found) printf "failed" }'
}

echo "| round | send: kernel | xdp, kernel's checksums | xdp, stack's | recv: kernel | xdp, peer's partial | xdp, peer's full |"
echo "|--:|--:|--:|--:|--:|--:|--:|"
for i in $(seq "$rounds"); do
  printf "| %s | %s | %s | %s | %s | %s | %s |\n" "$i" \
    "$(cell k send kernel on)" "$(cell o send offload on)" "$(cell s send stack on)" \
    "$(cell k recv kernel on)" "$(cell p recv offload on)" "$(cell f recv offload off)"
done
