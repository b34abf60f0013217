#!/bin/bash
# SPDX-License-Identifier: MIT
# test/dpdk/linux_peer.sh PMD BUILD_DIR - our stack on a DPDK port whose
# other end is Linux, in network namespaces this script creates (and always
# deletes). Never touches the machine's own NICs: --no-pci, and the only
# interfaces are the tap/veth made here.
#   PMD=tap        our process in netns A with net_tap (iface dmtap0, also in A);
#                  the Linux peer is netns A's kernel on dmtap0 (10.9.1.2)
#   PMD=af_packet  our process in netns A with net_af_packet on veth dmv0; the
#                  Linux peer is netns B on dmv1 (10.9.1.2)
# Checks: ping our address; nc TCP and UDP echo; python echo of 1 B..1 MiB
# and of 4 MiB in writes of odd sizes (no bad checksum at the peer);
# 100 concurrent connections; 16 MiB echoed byte-exact with 2% random loss on
# the Linux side (nftables numgen, counter asserted) and reorder/dup on our
# side (DEMI_FAULTS); our client against a Linux server; DEMI_PCAP capture.
# IPv6 (DEMI_IPV6, neighbour discovery with the Linux peer): ping -6, nc -6
# TCP and UDP, echo 1 B..1 MiB, an IPv4 client on the dual-stack [::]
# listener, 20 connections, and our client against a Linux server over IPv6.
# Exit 77 (skip) without root, netns, tun or the dpdk backend.
set -u
PMD=${1:-tap}
BUILD=${2:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/tap_lib.sh"
PY=/usr/bin/python3
ECHO=$BUILD/test/dpdk/demi_echo_server
PP=$BUILD/bench/dpdk/demi_tcp_pingpong
OURS=10.9.1.1
PEER=10.9.1.2
OURS6=fd09:1::1
PEER6=fd09:1::2
V6=0 # the IPv6 part: the peer's interface gets IPv6 (off before, so its ND/MLD noise stays out)
TAG=$$
NSA=demi_a_$TAG
NSB=demi_b_$TAG
TMP=$(mktemp -d /tmp/demi_linux_peer.XXXXXX)
OURPID=""

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; for f in "$TMP"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }; done; exit 1; }
cleanup() {
    [ -n "$OURPID" ] && kill "$OURPID" 2>/dev/null && wait "$OURPID" 2>/dev/null
    ip netns del "$NSA" 2>/dev/null
    ip netns del "$NSB" 2>/dev/null
    rm -rf "$TMP" /var/run/dpdk/dmt_$$_*
}
trap cleanup EXIT INT TERM

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
ip netns add "$NSA" 2>/dev/null || skip "cannot create a network namespace"
[ -x "$ECHO" ] && [ -x "$PP" ] || fail "build first: missing $ECHO or $PP"
DEMI_BACKEND=dpdk DEMI_IPV4=$OURS/24 "$ECHO" -t 0 2>&1 | grep -q "not built into" &&
    skip "no DEMI_BACKEND=dpdk in this build (stacks/inet)"

PEERNS=$NSA
IFACE=dmtap0
if [ "$PMD" = tap ]; then
    VDEV="--vdev=net_tap0,iface=dmtap0"
elif [ "$PMD" = af_packet ]; then
    ip netns add "$NSB" || fail "netns"
    PEERNS=$NSB
    IFACE=dmv1
    ip link add dmv0 netns "$NSA" type veth peer name dmv1 netns "$NSB" || fail "veth"
    ip -n "$NSA" link set dmv0 up
    ip netns exec "$NSA" sysctl -qw net.ipv6.conf.dmv0.disable_ipv6=1
    # the peer must put real checksums on the wire: af_packet hands us what veth gives
    ip netns exec "$NSB" ethtool -K dmv1 tx off >/dev/null 2>&1
    ip -n "$NSB" addr add $PEER/24 dev dmv1
    ip -n "$NSB" link set dmv1 up
    VDEV="--vdev=net_af_packet0,iface=dmv0"
else
    fail "unknown PMD $PMD"
fi
ip -n "$NSA" link set lo up
[ "$PMD" = af_packet ] && ip -n "$NSB" link set lo up
inpeer() { ip netns exec "$PEERNS" "$@"; }
# the TCP segments the peer's kernel dropped for a bad checksum
peer_csum_errors() { inpeer nstat -az TcpInCsumErrors | awk '$1 == "TcpInCsumErrors" {print $2}'; }

start_ours() { # log extra-env... -- command...
    local log=$1; shift
    ip netns exec "$NSA" env DEMI_BACKEND=dpdk DEMI_IPV4=$OURS/24 DEMI_LOG=warn \
        DEMI_DPDK_ARGS="$VDEV" DEMI_DPDK_LINK_WAIT_MS=3000 DEMI_DPDK_PREFIX=dmt_$$_$log "$@" >"$TMP/$log.log" 2>&1 &
    OURPID=$!
    if [ "$PMD" = tap ]; then
        for _ in $(seq 100); do ip -n "$NSA" link show dmtap0 >/dev/null 2>&1 && break; sleep 0.1; done
        ip -n "$NSA" link show dmtap0 >/dev/null 2>&1 || fail "tap interface did not appear"
        ip netns exec "$NSA" sysctl -qw net.ipv6.conf.dmtap0.disable_ipv6=$((1 - V6))
        ip -n "$NSA" addr add $PEER/24 dev dmtap0 2>/dev/null
        [ $V6 = 1 ] && ip -n "$NSA" addr add $PEER6/64 dev dmtap0 nodad 2>/dev/null
        ip -n "$NSA" link set dmtap0 up
    fi
    sleep 1
    # a server must still be up; a client may legitimately be done already
    case $log in client*) ;; *) kill -0 "$OURPID" 2>/dev/null || fail "our process exited at start" ;; esac
}
stop_ours() { kill "$OURPID" 2>/dev/null; wait "$OURPID" 2>/dev/null; OURPID=""; }

echo "== $PMD: our echo server at $OURS, Linux peer at $PEER"
start_ours echo env DEMI_PCAP="$TMP/cap.pcap" timeout 200 "$ECHO" -a $OURS -p 7 -t 60

inpeer ping -c 3 -i 0.2 -W 2 $OURS >"$TMP/ping.log" 2>&1 || fail "ping $OURS"
echo "ok: ping"
got=$(printf 'hello-tcp\n' | inpeer timeout 10 nc -N -w 5 $OURS 7)
[ "$got" = hello-tcp ] || fail "nc TCP echo gave '$got'"
echo "ok: nc TCP echo"
got=$(printf 'hello-udp\n' | inpeer timeout 5 nc -u -w 1 $OURS 7)
[ "$got" = hello-udp ] || fail "nc UDP echo gave '$got'"
echo "ok: nc UDP echo"
inpeer timeout 60 $PY "$HERE/peer.py" echo $OURS 7 1 64 1460 1461 65536 1048576 || fail "echo sizes"
echo "ok: TCP echo 1 B .. 1 MiB"
inpeer timeout 60 $PY "$HERE/peer.py" conns $OURS 7 100 || fail "100 connections"
echo "ok: 100 concurrent connections"
if [ "$PMD" = tap ]; then
    # it received all that with its queue fd no longer signalling it per frame
    read -r ntun nasync <<<"$(tap_fds_async "$(pgrep -P "$OURPID" | head -1)")"
    [ "$ntun" -ge 1 ] || fail "our echo server holds $ntun tun fds"
    [ "$nasync" -eq 0 ] || fail "$nasync of our $ntun tun fds still signal us per frame (O_ASYNC)"
    echo "ok: our $ntun tun fds do not signal us per frame"
fi

# 2% random loss on the Linux side, both directions
inpeer nft -f - <<EOF || fail "nft"
table inet demi_loss {
    chain in { type filter hook input priority 0; iifname "$IFACE" numgen random mod 100 < 2 counter drop; }
    chain out { type filter hook output priority 0; oifname "$IFACE" numgen random mod 100 < 2 counter drop; }
}
EOF
inpeer timeout 150 $PY "$HERE/peer.py" bulk $OURS 7 $((16 << 20)) || fail "16 MiB echo under loss"
drops=$(inpeer nft list table inet demi_loss | sed -n 's/.*counter packets \([0-9]*\).*/\1/p' | awk '{s+=$1} END {print s+0}')
[ "$drops" -gt 0 ] || fail "the loss rule dropped nothing"
echo "ok: 16 MiB byte-exact with $drops packets dropped by nftables"
inpeer nft delete table inet demi_loss
stop_ours
if [ -s "$TMP/cap.pcap" ]; then
    frames=$(tshark -r "$TMP/cap.pcap" 2>/dev/null | wc -l)
    [ "$frames" -gt 100 ] || fail "DEMI_PCAP captured only $frames frames"
    echo "ok: DEMI_PCAP captured $frames frames"
else
    echo "note: no pcap written (DEMI_PCAP wrapper not built?)"
fi

# reorder and duplication on our side, no loss rule: still byte-exact
start_ours faults env DEMI_FAULTS="reorder=0.02,dup=0.01,seed=7" timeout 200 "$ECHO" -a $OURS -p 7 -t 60
inpeer timeout 150 $PY "$HERE/peer.py" bulk $OURS 7 $((16 << 20)) || fail "16 MiB echo with DEMI_FAULTS reorder/dup"
echo "ok: 16 MiB byte-exact with reorder/dup on our side"
stop_ours

# TCP segmentation offload where the port has it (tap: the PMD cuts our
# frames of up to 64 KiB with librte_gso); the counters are written when
# the server exits idle; the peer's kernel counts bad checksums
csum0=$(peer_csum_errors)
start_ours tso env DEMI_STATS="$TMP/tso.stats" timeout 100 "$ECHO" -a $OURS -p 7 -t 5
inpeer timeout 60 $PY "$HERE/peer.py" bulk $OURS 7 $((16 << 20)) || fail "16 MiB echo (TSO where the port has it)"
# writes of odd sizes come back as frames (TSO or not) built of odd-length
# pieces, whose checksums the tap PMD of DPDK 22.11 gets wrong unless we
# regroup them (devices/dpdk/dpdk_io.c tx_build): the peer drops such a
# frame and every retransmission of it, and the echo stalls
inpeer timeout 60 $PY "$HERE/peer.py" odd $OURS 7 $((4 << 20)) || fail "4 MiB echo in writes of odd sizes"
wait "$OURPID"; OURPID=""
csum1=$(peer_csum_errors)
[ "${csum1:-x}" = "${csum0:-y}" ] || fail "the peer counted bad TCP checksums (${csum0:-?} -> ${csum1:-?})"
tso=$(awk '$1 == "tcp.tx_tso" {print $2}' "$TMP/tso.stats" 2>/dev/null)
segs=$(awk '$1 == "tcp.tx_tso_segs" {print $2}' "$TMP/tso.stats" 2>/dev/null)
oerr=$(awk '$1 == "dpdk.oerrors" {print $2}' "$TMP/tso.stats" 2>/dev/null)
[ "${oerr:-0}" = 0 ] || fail "the port refused $oerr frames (a TSO piece above its MTU?)"
if [ "$PMD" = tap ]; then
    [ "${tso:-0}" -gt 0 ] && [ "${segs:-0}" -gt $((2 * tso)) ] ||
        fail "no TSO frames over tap (tcp.tx_tso '${tso:-}', tx_tso_segs '${segs:-}')"
    echo "ok: 16 MiB byte-exact, $tso TSO frames of $segs segments cut by the tap PMD; 4 MiB in odd writes; no bad checksum"
else
    [ -z "$tso" ] || fail "TSO frames ($tso) on a port without TSO"
    echo "ok: 16 MiB byte-exact, one segment a frame (no TSO on $PMD)"
fi

# our client against a Linux server
inpeer timeout 60 $PY "$HERE/peer.py" server 0.0.0.0 9000 >"$TMP/pyserver.log" 2>&1 &
PYPID=$!
sleep 0.5
start_ours client timeout 60 "$PP" client -a $PEER -p 9000 -n 2000 -s 64
wait "$OURPID"
rc=$?
OURPID=""
kill $PYPID 2>/dev/null
[ $rc = 0 ] && grep -q '^RESULT' "$TMP/client.log" || fail "our client against a Linux server (rc $rc)"
echo "ok: our client -> Linux server: $(grep '^RESULT' "$TMP/client.log")"

# IPv6: our dual-stack echo server on [::], the Linux peer at $PEER6
V6=1
if [ "$PMD" = af_packet ]; then
    ip netns exec "$NSB" sysctl -qw net.ipv6.conf.dmv1.disable_ipv6=0
    ip -n "$NSB" addr add $PEER6/64 dev dmv1 nodad || fail "peer IPv6 address"
fi
start_ours echo6 env DEMI_IPV6=$OURS6/64 timeout 200 "$ECHO" -a :: -p 7 -t 60
inpeer ping -6 -c 3 -i 0.2 -W 2 $OURS6 >"$TMP/ping6.log" 2>&1 || fail "ping -6 $OURS6"
echo "ok: ping -6"
got=$(printf 'hello-tcp6\n' | inpeer timeout 10 nc -6 -N -w 5 $OURS6 7)
[ "$got" = hello-tcp6 ] || fail "nc -6 TCP echo gave '$got'"
echo "ok: nc -6 TCP echo"
got=$(printf 'hello-udp6\n' | inpeer timeout 5 nc -6 -u -w 1 $OURS6 7)
[ "$got" = hello-udp6 ] || fail "nc -6 UDP echo gave '$got'"
echo "ok: nc -6 UDP echo"
inpeer timeout 60 $PY "$HERE/peer.py" echo $OURS6 7 1 64 1440 1441 65536 1048576 || fail "IPv6 echo sizes"
echo "ok: TCP echo over IPv6 1 B .. 1 MiB (both directions)"
inpeer timeout 60 $PY "$HERE/peer.py" echo $OURS 7 1 1460 65536 || fail "IPv4 client on the [::] listener"
echo "ok: IPv4 client on the dual-stack [::] listener"
inpeer timeout 60 $PY "$HERE/peer.py" conns $OURS6 7 20 || fail "20 connections over IPv6"
echo "ok: 20 concurrent connections over IPv6"
csum0=$(peer_csum_errors)
inpeer timeout 60 $PY "$HERE/peer.py" odd $OURS6 7 $((1 << 20)) || fail "IPv6: 1 MiB echo in writes of odd sizes"
csum1=$(peer_csum_errors)
[ "${csum1:-x}" = "${csum0:-y}" ] || fail "IPv6: the peer counted bad TCP checksums (${csum0:-?} -> ${csum1:-?})"
echo "ok: 1 MiB over IPv6 in writes of odd sizes, no bad checksum"
stop_ours
inpeer timeout 60 $PY "$HERE/peer.py" server :: 9001 >"$TMP/pyserver6.log" 2>&1 &
PYPID=$!
sleep 0.5
start_ours client6 env DEMI_IPV6=$OURS6/64 timeout 60 "$PP" client -a $PEER6 -p 9001 -n 2000 -s 64
wait "$OURPID"
rc=$?
OURPID=""
kill $PYPID 2>/dev/null
[ $rc = 0 ] && grep -q '^RESULT' "$TMP/client6.log" || fail "our client against a Linux server over IPv6 (rc $rc)"
echo "ok: our client -> Linux server over IPv6: $(grep '^RESULT' "$TMP/client6.log")"
echo "PASS ($PMD)"
