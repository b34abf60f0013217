#!/bin/bash
# SPDX-License-Identifier: MIT
# test/dpdk/scapy_conformance.sh BUILD_DIR - TCP conformance of our stack
# from the Linux side with python3-scapy, over a DPDK tap port in a network
# namespace this script creates (and always deletes). See tcp_conformance.py.
# Exit 77 without root, netns, tun, scapy or the dpdk backend.
set -u
BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
ECHO=$BUILD/test/dpdk/demi_echo_server
OURS=10.9.4.1
PEER=10.9.4.2
NS=demi_scapy_$$
TMP=$(mktemp -d /tmp/demi_scapy.XXXXXX)
OURPID=""
skip() { echo "SKIP: $*"; exit 77; }
cleanup() {
    [ -n "$OURPID" ] && kill "$OURPID" 2>/dev/null && wait "$OURPID" 2>/dev/null
    ip netns del "$NS" 2>/dev/null
    rm -rf "$TMP" /var/run/dpdk/dms_$$_*
}
trap cleanup EXIT INT TERM

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
/usr/bin/python3 -c "import scapy" 2>/dev/null || skip "python3-scapy is not installed"
[ -x "$ECHO" ] || { echo "FAIL: build first ($ECHO)"; exit 1; }
DEMI_BACKEND=dpdk DEMI_IPV4=$OURS/24 "$ECHO" -t 0 2>&1 | grep -q "not built into" &&
    skip "no DEMI_BACKEND=dpdk in this build"
ip netns add "$NS" || skip "cannot create a network namespace"
ip -n "$NS" link set lo up

ip netns exec "$NS" env DEMI_BACKEND=dpdk DEMI_IPV4=$OURS/24 DEMI_LOG=warn \
    DEMI_DPDK_ARGS="--vdev=net_tap0,iface=dmtap0" DEMI_DPDK_PREFIX=dms_$$_ours timeout -k 3 120 "$ECHO" -a $OURS -p 7 -t 60 >"$TMP/ours.log" 2>&1 &
OURPID=$!
for _ in $(seq 100); do ip -n "$NS" link show dmtap0 >/dev/null 2>&1 && break; sleep 0.1; done
ip netns exec "$NS" sysctl -qw net.ipv6.conf.dmtap0.disable_ipv6=1
ip -n "$NS" addr add $PEER/24 dev dmtap0
ip -n "$NS" link set dmtap0 up
# The kernel owns PEER but not the connections scapy makes: keep its RSTs
# (and ICMP unreachables) off the wire so only our stack answers.
ip netns exec "$NS" nft -f - <<EOF
table inet demi_scapy {
    chain out { type filter hook output priority 0; oifname "dmtap0" tcp flags rst drop; oifname "dmtap0" icmp type destination-unreachable drop; }
}
EOF
sleep 1
ip netns exec "$NS" ping -c 1 -W 2 $OURS >/dev/null || { echo "FAIL: no ping reply"; tail "$TMP/ours.log"; exit 1; }
ip netns exec "$NS" timeout 120 /usr/bin/python3 "$HERE/tcp_conformance.py" $OURS $PEER dmtap0
rc=$?
[ $rc = 0 ] || tail -n 20 "$TMP/ours.log"
exit $rc
