#!/bin/bash
# SPDX-License-Identifier: MIT
# A forked child's connection over our own stack, DEMI_BACKEND=dpdk or
# xdp (a relay through the parent's datapath, shim/relay.c), against the
# kernel's: the same fork_semantics.py scenarios run once on the kernel
# (loopback in a netns) and once preloaded (net_af_packet, or AF_XDP, on
# a veth; the kernel's client in a second netns), and the two transcripts
# must be the same: a peer's reset gives the child ECONNRESET (recv, send, SO_ERROR),
# a child's close while the parent or a sibling holds the connection
# sends no FIN, its shutdown(SHUT_WR) sends it at once (also from a
# program it execs without the preload); a grandchild, and a
# great-grandchild, serve a connection their parents never used.
# usage: relay-semantics.sh DEMI_RUN PRELOAD_LIB dpdk|xdp
set -u
demirun=$1 lib=$2 be=$3
py=/usr/bin/python3
here=$(cd "$(dirname "$0")" && pwd)
. "$here/dpdk-lib.sh"
dpdk_setup relaysem drs$$ veth $be
fail() {
  echo "FAIL: $*"
  [ -s "$dir/$be.txt" ] || sort "$dir/$be.res" 2>/dev/null
  diff "$dir/kernel.txt" "$dir/$be.txt" 2>/dev/null
  tail -5 "$dir/client.log" 2>/dev/null
  grep -v '^EAL\|^TELEMETRY\|offload candidate' "$dir/server.log" 2>/dev/null | tail -40
  exit 1
}
# run WHICH NS_SERVER NS_CLIENT ADDR [preload command...]: one transcript
run() {
  local which=$1 sns=$2 cns=$3 addr=$4
  shift 4
  rm -f "$dir/port" "$dir/$which.res"
  ip netns exec "$sns" timeout -k 2 40 "$@" $py "$here/fork_semantics.py" server "$dir/port" "$dir/$which.res" \
    "$addr" >>"$dir/server.log" 2>&1 &
  pids=($!)
  for _ in $(seq 100); do [ -s "$dir/port" ] && break; kill -0 "${pids[0]}" 2>/dev/null || break; sleep 0.1; done
  [ -s "$dir/port" ] || fail "the $which server did not start"
  ip netns exec "$cns" timeout -k 2 30 $py "$here/fork_semantics.py" client "$(cat "$dir/port")" \
    "$dir/$which.res" "$addr" >>"$dir/client.log" 2>&1 || fail "$which clients exit $?"
  wait "${pids[0]}" || fail "$which server exit $?"
  pids=()
  sort "$dir/$which.res" >"$dir/$which.txt"
}
net=10.$(( 150 + RANDOM % 50 )).$(( RANDOM % 250 ))
S=drS$id C=drC$id
veth_pair $S $C vrS$id vrC$id $net || fail "netns/veth pair"
run kernel $S $S 127.0.0.1
[ "$(wc -l <"$dir/kernel.txt")" = 31 ] || fail "the kernel's transcript is not whole"
case $be in
dpdk) dev="DEMI_DPDK_ARGS=--vdev=net_af_packet0,iface=vrS$id DEMI_DPDK_PREFIX=drs$$_s" ;;
xdp) dev="DEMI_XDP_IFACE=vrS$id" ;;
*) echo "usage: relay-semantics.sh DEMI_RUN PRELOAD_LIB dpdk|xdp"; exit 2 ;;
esac
run $be $S $C $net.1 env DEMI_LOG=debug DEMI_PRELOAD_LIB="$lib" $dev DEMI_IPV4=$net.1/24 \
  "$demirun" --backend $be --
grep -q "datapath started: backend $be" "$dir/server.log" || fail "the server's sockets did not go through $be"
grep -q "inherited connection relayed by the parent's datapath" "$dir/server.log" || fail "no connection was relayed"
diff -u "$dir/kernel.txt" "$dir/$be.txt" || fail "the children's connections differ from the kernel's"
echo "relayed connections over $be: resets, closes and shutdowns as on the kernel ($(wc -l <"$dir/$be.txt") transcript lines)"
