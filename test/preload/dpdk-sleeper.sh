#!/bin/bash
# SPDX-License-Identifier: MIT
# A preloaded server on DEMI_BACKEND=dpdk (net_af_packet on a veth in a
# netns) accepts one connection and then sleeps 4 s outside our calls
# (time.sleep). Meanwhile the kernel's client, in a second netns, sends
# 200 KiB (within our receive window) and watches how much stays
# unacknowledged (SIOCOUTQ): our stack must keep taking data in and ACKing
# it while the application sleeps (the progress helper, shim/helper.c;
# with HELPER_US=0 nothing is ACKed and the check fails). Then the server
# reads everything and checks the count.
# usage: dpdk-sleeper.sh DEMI_RUN PRELOAD_LIB [HELPER_US]
set -u
demirun=$1 lib=$2 helper=${3:-}
py=/usr/bin/python3
. "$(dirname "$0")/dpdk-lib.sh"
dpdk_setup dpdksleep dzs$$ veth
S=dzS$id C=dzC$id
fail() { echo "FAIL: $*"; for f in "$dir"/*.log; do echo "--- $f"; grep -v '^EAL\|^TELEMETRY' "$f" | tail -20; done; exit 1; }
port=$($py -c 'import socket; s=socket.socket(); s.bind(("0.0.0.0", 0)); print(s.getsockname()[1])')
net=10.$(( 150 + RANDOM % 50 )).$(( RANDOM % 250 ))
veth_pair $S $C vS$id vC$id $net || fail "netns/veth pair"

ip netns exec $S timeout -k 2 40 env DEMI_LOG=info DEMI_PRELOAD_LIB="$lib" \
  DEMI_DPDK_ARGS=--vdev=net_af_packet0,iface=vS$id DEMI_DPDK_PREFIX=dzs$$_s DEMI_IPV4=$net.1/24 \
  ${helper:+DEMI_HELPER_US=$helper} "$demirun" --backend dpdk -- $py -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1)
print("listening", flush=True)
c, _ = s.accept()
print("accepted; sleeping", flush=True)
time.sleep(4)                      # not in any call of ours
n = 0
while True:
    d = c.recv(1 << 20)
    if not d: break
    n += len(d)
print("server got", n, flush=True)
sys.exit(0 if n == 200 << 10 else 1)' $net.1 $port >"$dir/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "^listening" "$dir/server.log" 2>/dev/null && break; sleep 0.1; done
grep -q "^listening" "$dir/server.log" || fail "the server did not listen"

ip netns exec $C timeout -k 2 30 $py -c '
import fcntl, socket, struct, sys, termios, threading, time
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
t = threading.Thread(target=lambda: c.sendall(b"z" * (200 << 10))); t.start()
def outq(): return struct.unpack("i", fcntl.ioctl(c, termios.TIOCOUTQ, b"\0" * 4))[0]
end = time.time() + 3            # the server sleeps 4 s from its accept
while time.time() < end and (t.is_alive() or outq()): time.sleep(0.05)
left = outq() if not t.is_alive() else -1
print("unacknowledged after 3 s of the server sleeping:", "sendall still blocked" if left < 0 else left, flush=True)
t.join(); c.close()
sys.exit(0 if left == 0 else 1)' $net.1 $port >"$dir/client.log" 2>&1
crc=$?
cat "$dir/client.log"
wait "${pids[0]}"; src=$?
grep -q "progress helper" "$dir/server.log" || [ "$helper" = 0 ] || fail "the server started no progress helper"
[ $crc = 0 ] || fail "the sleeping server did not take the data in"
[ $src = 0 ] || fail "the server exited with $src"
echo "ok: $(grep 'server got' "$dir/server.log")"
