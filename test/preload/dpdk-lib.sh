# SPDX-License-Identifier: MIT
# Sourced by the preload's DPDK scripts, after `set -u`, with $lib (the
# preload library) set.
#
# dpdk_setup NAME PREFIX [veth] [xdp]: exits 77 (skipped) without root,
#   without DPDK in $lib (with xdp: its AF_XDP device instead) or, with
#   veth, without ethtool; makes $dir
#   (/tmp/demi_NAME.XXXXXX) and $id (a short number for names); at exit
#   stops the processes the script put in $pids, deletes the network
#   namespaces in $nss, DPDK's runtime files of the EAL prefixes
#   PREFIX_* and $dir.
dpdk_setup() {
  local name=$1 veth=${3:-} dev=${4:-dpdk}
  dpdk_prefix=$2
  [ "$(id -u)" = 0 ] || { echo "SKIP: needs root (DPDK vdevs, netns)"; exit 77; }
  if [ "$dev" = xdp ]; then
    grep -aq libxdp.so "$lib" || { echo "SKIP: the preload library has no AF_XDP device"; exit 77; }
  else
    grep -aq net_memif "$lib" || { echo "SKIP: the preload library has no DPDK"; exit 77; }
  fi
  [ -z "$veth" ] || command -v ethtool >/dev/null || { echo "SKIP: ethtool missing"; exit 77; }
  dir=$(mktemp -d "/tmp/demi_$name.XXXXXX")
  id=$(( $$ % 10000 ))
  pids=() nss=()
  trap dpdk_cleanup EXIT
}

dpdk_cleanup() {
  local p ns
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 0.3
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  for ns in "${nss[@]}"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf /var/run/dpdk/"$dpdk_prefix"_* "$dir"
}

# veth_pair S C IF_S IF_C NET: two namespaces (added to $nss) joined by a
# veth; IF_S in S stays without an address (a DPDK af_packet port takes
# it), IF_C in C gets NET.2/24 (the kernel's peer). Offloads off on both
# ends: af_packet sees full frames with full checksums, not GSO or
# partial checksums. Returns nonzero on a failure.
veth_pair() {
  local s=$1 c=$2 is=$3 ic=$4 net=$5 n
  nss+=("$s" "$c")
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
