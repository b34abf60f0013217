#!/bin/bash
# SPDX-License-Identifier: MIT
# Python's socketserver.ForkingTCPServer over our own stack (DEMI_BACKEND
# dpdk: net_af_packet on a veth in a netns; xdp: AF_XDP on it): the
# server binds the stack's own address, the parent accepts through its
# datapath and forks, closing its copy at once; each child serves the
# connection it inherited through the parent's relay (the connection
# lives in the parent's datapath). 8 clients at once, not preloaded, from
# a second netns (bulk echo to EOF, and line by line), check every byte.
# Then the same pattern with a parent that never leaves a blocking
# accept() and no progress helper (DEMI_HELPER_US=0): only its children's
# bytes can wake it to relay them (shim/relay.c); over xdp, whose
# datapath sleeps, it sleeps there, and no sleep ends by itself
# (DEMI_WAKE_SLICE_MS long) to hide a wake-up that did not come.
# usage: forking-server-dpdk.sh DEMI_RUN PRELOAD_LIB [dpdk|xdp]
set -u
demirun=$1 lib=$2 be=${3:-dpdk}
py=/usr/bin/python3
here=$(cd "$(dirname "$0")" && pwd)
n=8
. "$here/dpdk-lib.sh"
dpdk_setup dpdkfork dfk$$ veth $be
fail() { echo "FAIL: $*"; cat "$dir/clients.out" 2>/dev/null; grep -v '^EAL\|^TELEMETRY\|offload candidate' "$dir/server.log" | tail -30; exit 1; }
net=10.$(( 150 + RANDOM % 50 )).$(( RANDOM % 250 ))
S=dfS$id C=dfC$id
veth_pair $S $C vfS$id vfC$id $net || fail "netns/veth pair"
case $be in
dpdk) dev=(DEMI_DPDK_ARGS=--vdev=net_af_packet0,iface=vfS$id DEMI_DPDK_PREFIX=dfk$$_s) ;;
xdp) dev=(DEMI_XDP_IFACE=vfS$id) ;;
*) echo "usage: forking-server-dpdk.sh DEMI_RUN PRELOAD_LIB [dpdk|xdp]"; exit 2 ;;
esac
# serve MODE CLIENTS_MODE [ENV...]: one server and its clients, checked
serve() {
  local mode=$1 cmode=$2
  shift 2
  rm -f "$dir/port"
  ip netns exec $S timeout -k 2 60 env DEMI_LOG=debug DEMI_PRELOAD_LIB="$lib" "${dev[@]}" DEMI_IPV4=$net.1/24 "$@" \
    "$demirun" --backend $be -- $py "$here/forking_server.py" $mode "$dir/port" $n $net.1 >"$dir/server.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$dir/port" ] && break; kill -0 "${pids[0]}" 2>/dev/null || break; sleep 0.1; done
  [ -s "$dir/port" ] || fail "the $mode server did not start"
  ip netns exec $C timeout -k 2 50 $py "$here/forking_server.py" $cmode "$(cat "$dir/port")" $n $net.1 \
    >"$dir/clients.out" 2>&1 || fail "$mode: clients exit $?"
  wait "${pids[0]}" || fail "$mode: server exit $?"
  pids=()
  [ "$(grep -c '^client [0-9]* [a-z]* ok' "$dir/clients.out")" = $n ] || fail "$mode: not every client got its bytes back"
  grep -q "datapath started: backend $be" "$dir/server.log" || fail "the server's sockets did not go through $be"
  a=$(grep -c "inherited connection relayed by the parent's datapath" "$dir/server.log")
  [ "$a" = $n ] || fail "$mode: $a of $n children had their connection relayed"
  d=$(grep -c "relay to child [0-9]* done" "$dir/server.log")
  [ "$d" = $n ] || fail "$mode: $d of $n relays ended (each connection closed by its last holder)"
  ! grep -q "EIO\|are lost\|could not relay\|lives in its parent's datapath" "$dir/server.log" ||
    fail "$mode: EIO or lost bytes logged"
}
serve server clients
serve accepter clients-done DEMI_HELPER_US=0 DEMI_WAKE_SLICE_MS=600000
grep -q "progress helper" "$dir/server.log" && fail "accepter: a progress helper ran (DEMI_HELPER_US=0)"
echo "ForkingTCPServer over $be: $n clients served by the children through the parent's relays, byte-exact;" \
  "again with the parent in accept() and no progress helper"
