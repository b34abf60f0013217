#!/bin/bash
# SPDX-License-Identifier: MIT
# Python's socketserver.ForkingTCPServer over DEMI_BACKEND=dpdk: the
# server binds the stack's own address (net_af_packet on a veth in a
# netns), the parent accepts through its datapath and forks, closing its
# copy at once; each child serves the connection it inherited through the
# parent's relay (the connection lives in the parent's datapath). 8
# clients at once, not preloaded, from a second netns (bulk echo to EOF,
# and line by line), check every byte.
# usage: forking-server-dpdk.sh DEMI_RUN PRELOAD_LIB
set -u
demirun=$1 lib=$2
py=/usr/bin/python3
here=$(cd "$(dirname "$0")" && pwd)
n=8
. "$here/dpdk-lib.sh"
dpdk_setup dpdkfork dfk$$ veth
fail() { echo "FAIL: $*"; cat "$dir/clients.out" 2>/dev/null; grep -v '^EAL\|^TELEMETRY\|offload candidate' "$dir/server.log" | tail -30; exit 1; }
net=10.$(( 150 + RANDOM % 50 )).$(( RANDOM % 250 ))
S=dfS$id C=dfC$id
veth_pair $S $C vfS$id vfC$id $net || fail "netns/veth pair"
ip netns exec $S timeout -k 2 60 env DEMI_LOG=debug DEMI_PRELOAD_LIB="$lib" \
  DEMI_DPDK_ARGS=--vdev=net_af_packet0,iface=vfS$id DEMI_DPDK_PREFIX=dfk$$_s DEMI_IPV4=$net.1/24 \
  "$demirun" --backend dpdk -- $py "$here/forking_server.py" server "$dir/port" $n $net.1 >"$dir/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$dir/port" ] && break; kill -0 "${pids[0]}" 2>/dev/null || break; sleep 0.1; done
[ -s "$dir/port" ] || fail "the server did not start"
ip netns exec $C timeout -k 2 50 $py "$here/forking_server.py" clients "$(cat "$dir/port")" $n $net.1 \
  >"$dir/clients.out" 2>&1 || fail "clients exit $?"
wait "${pids[0]}" || fail "server exit $?"
pids=()
[ "$(grep -c '^client [0-9]* [a-z]* ok' "$dir/clients.out")" = $n ] || fail "not every client got its bytes back"
grep -q "datapath started: backend dpdk" "$dir/server.log" || fail "the server's sockets did not go through dpdk"
a=$(grep -c "inherited connection relayed by the parent's datapath" "$dir/server.log")
[ "$a" = $n ] || fail "$a of $n children had their connection relayed"
d=$(grep -c "relay to child [0-9]* done" "$dir/server.log")
[ "$d" = $n ] || fail "$d of $n relays ended (each connection closed by its last holder)"
! grep -q "EIO\|are lost\|could not relay\|lives in its parent's datapath" "$dir/server.log" || fail "EIO or lost bytes logged"
echo "ForkingTCPServer over dpdk: $n clients served by the children through the parent's relays, byte-exact"
