# SPDX-License-Identifier: MIT
# Sourced by the preload's DPDK scripts. veth_pair S C IF_S IF_C NET: two
# namespaces joined by a veth; IF_S in S stays without an address (a DPDK
# af_packet port takes it), IF_C in C gets NET.2/24 (the kernel's peer).
# Offloads off on both ends: af_packet sees full frames with full
# checksums, not GSO or partial checksums. Returns nonzero on a failure.
veth_pair() {
  local s=$1 c=$2 is=$3 ic=$4 net=$5 n
  ip netns add "$s" || return 1
  ip netns add "$c" || return 1
  ip link add "$is" netns "$s" type veth peer name "$ic" netns "$c" || return 1
  for n in "$s" "$c"; do ip netns exec "$n" ip link set lo up; done
  ip netns exec "$c" ethtool -K "$ic" tx off tso off gso off gro off >/dev/null 2>&1
  ip netns exec "$s" ethtool -K "$is" rx off tx off tso off gso off gro off >/dev/null 2>&1
  ip netns exec "$s" ip link set "$is" up
  ip netns exec "$c" ip addr add "$net.2/24" dev "$ic"
  ip netns exec "$c" ip link set "$ic" up
}
