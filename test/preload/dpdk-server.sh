#!/bin/bash
# SPDX-License-Identifier: MIT
# A preloaded server on DEMI_BACKEND=dpdk binds the stack's own address
# (DEMI_IPV4, which the kernel does not have), listens and accepts:
#   tap    net_af_packet on a veth in a netns; the client is the kernel's,
#          in a second netns
#   memif  net_memif; the client is a second preloaded process (its own
#          memif endpoint, EAL prefix and IP)
# usage: dpdk-server.sh DEMI_RUN PRELOAD_LIB tap|memif
set -u
demirun=$1 lib=$2 mode=$3
py=/usr/bin/python3
here=$(cd "$(dirname "$0")" && pwd)
. "$here/dpdk-lib.sh"
dpdk_setup dpdksrv dps$$ $([ "$mode" = tap ] && echo veth)
fail() { echo "FAIL: $*"; for f in "$dir"/*.log; do echo "--- $f"; grep -v '^EAL\|^TELEMETRY' "$f" | tail -20; done; exit 1; }
pre() { # the environment of one preloaded process
  echo DEMI_LOG=debug DEMI_PRELOAD_LIB="$lib" "$@"
}
# a port free on 0.0.0.0 here (the placeholder holds it there; the machine
# is shared, so a random pick alone may collide)
port=$($py -c 'import socket; s=socket.socket(); s.bind(("0.0.0.0", 0)); print(s.getsockname()[1])')
net=10.$(( 150 + RANDOM % 50 )).$(( RANDOM % 250 ))

case $mode in
tap)
  S=dpS$id C=dpC$id
  veth_pair $S $C vS$id vC$id $net || fail "netns/veth pair"
  ip netns exec $S timeout -k 2 40 env $(pre DEMI_DPDK_ARGS=--vdev=net_af_packet0,iface=vS$id \
    DEMI_DPDK_PREFIX=dps$$_s DEMI_IPV4=$net.1/24) "$demirun" --backend dpdk -- \
    $py "$here/dpdk_echo.py" server $net.1 $port 2 >"$dir/server.log" 2>&1 &
  pids+=($!)
  cli() { ip netns exec $C timeout -k 2 25 $py "$here/dpdk_echo.py" client $net.1 $port 20 >>"$dir/client.log" 2>&1; }
  ;;
memif)
  sock=$dir/memif.sock
  # Both ends wait for the link while they start: the memif handshake runs
  # on DPDK's interrupt thread, which must not need the preload's lock.
  export DEMI_DPDK_LINK_WAIT_MS=5000
  timeout -k 2 40 env $(pre DEMI_DPDK_ARGS=--vdev=net_memif0,role=server,socket=$sock \
    DEMI_DPDK_PREFIX=dps$$_s DEMI_IPV4=$net.1/24) "$demirun" --backend dpdk -- \
    $py "$here/dpdk_echo.py" server $net.1 $port 2 >"$dir/server.log" 2>&1 &
  pids+=($!)
  n=0
  cli() {
    n=$((n + 1))
    timeout -k 2 25 env $(pre DEMI_DPDK_ARGS=--vdev=net_memif0,role=client,socket=$sock \
      DEMI_DPDK_PREFIX=dps$$_c$n DEMI_IPV4=$net.$((10 + n))/24) "$demirun" --backend dpdk -- \
      $py "$here/dpdk_echo.py" client $net.1 $port 20 >>"$dir/client.log" 2>&1
  }
  ;;
*) echo "usage: dpdk-server.sh DEMI_RUN PRELOAD_LIB tap|memif"; exit 2 ;;
esac

for _ in $(seq 100); do grep -q "^bound" "$dir/server.log" 2>/dev/null && break; kill -0 "${pids[0]}" 2>/dev/null || break; sleep 0.1; done
grep -q "^bound ('$net.1', $port)" "$dir/server.log" || fail "the server did not bind $net.1:$port (getsockname must give that address)"
cli || fail "first client"
cli || fail "second client (a fresh connection to the same listener)"
wait "${pids[0]}" || fail "the server exited with $?"
grep -q "datapath started: backend dpdk" "$dir/server.log" || fail "the server's sockets did not go through dpdk"
grep -q "listening TCP socket $net.1:$port offloaded" "$dir/server.log" || fail "the listener was not offloaded on $net.1"
grep -q "server done" "$dir/server.log" || fail "the server did not serve both clients"
! grep -h "link still down" "$dir"/*.log || fail "the memif link did not come up while the datapath started"
grep -q "close-only child: status 0" "$dir/server.log" || fail "the close-only child failed"
grep -q "closed it unused: its reference is dropped" "$dir/server.log" || fail "the child's close of an unused connection did not reach the parent"
grep -q "fork child: echoed 65536 bytes" "$dir/server.log" || fail "the forked child did not echo the inherited connection"
grep -q "fork child: served" "$dir/server.log" || fail "the forked child failed"
grep -q "inherited connection relayed by the parent's datapath" "$dir/server.log" || fail "the child's connection was not relayed"
grep -q "closed here while a child holds it" "$dir/server.log" || fail "the parent's close did not leave the connection to the child"
! grep -q "lives in its parent's datapath\|could not relay" "$dir/server.log" || fail "the child's connection gave EIO"
echo "dpdk/$mode: a preloaded server bound $net.1:$port, accepted and echoed two connections (the second served by a forked child through the parent's relay, the parent's copy closed at once)"
