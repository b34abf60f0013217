#!/bin/bash
# SPDX-License-Identifier: MIT
# An unmodified Python server under the preload with DEMI_BACKEND=dpdk
# (net_af_packet on a veth in a netns) listens on [::] (AF_INET6,
# dual-stack): its sockets go to our own stack, IPv6 included (capability
# inet6). The kernel in a second netns is the peer: ping -6 our
# DEMI_IPV6 address, a TCP echo of 1 MiB over IPv6 and one over IPv4 (the
# server reports that peer v4-mapped, as Linux does), and a UDP echo over
# IPv6; datagrams past the MTU both ways (20000 B over IPv6: the kernel's
# fragments reassembled by our stack, ours by the kernel; 1800 B over
# IPv4) and ping -6 -s 3000 / ping -s 1800; a listener bound to
# our own DEMI_IPV6 address (which the kernel does not have) serves a TCP
# echo over IPv6. Then the server's connected
# UDP sockets to a closed port of the peer get ECONNREFUSED from recv
# (the kernel's ICMP and ICMPv6 port unreachables), over IPv4 and IPv6,
# and so does a connect to a port the peer's nftables reject with an
# ICMP port unreachable (with nft installed).
# usage: dpdk-inet6.sh DEMI_RUN PRELOAD_LIB
set -u
demirun=$1 lib=$2
py=/usr/bin/python3
here=$(cd "$(dirname "$0")" && pwd)
. "$here/dpdk-lib.sh"
dpdk_setup dpdk6 d6$$ veth
S=d6S$id C=d6C$id
fail() { echo "FAIL: $*"; for f in "$dir"/*.log; do echo "--- $f"; grep -v '^EAL\|^TELEMETRY' "$f" | tail -20; done; exit 1; }
net=10.$(( 150 + RANDOM % 50 )).$(( RANDOM % 250 ))
net6=fd12:$id:
port=7$(( RANDOM % 900 + 100 ))
veth_pair $S $C vS$id vC$id $net || fail "netns/veth pair"
ip netns exec $S sysctl -qw net.ipv6.conf.vS$id.disable_ipv6=1 # the port is DPDK's, not this kernel's
ip netns exec $C sysctl -qw net.ipv6.conf.vC$id.disable_ipv6=0
ip netns exec $C ip addr add ${net6}:2/64 dev vC$id nodad || fail "client IPv6 address"

# the peer rejects TCP to port + 3 with an ICMP(v6) port unreachable
reject=none
if command -v nft >/dev/null; then
  ip netns exec $C nft -f - <<NFT && reject=reject || fail "nft reject rule"
table inet demi_reject {
  chain input {
    type filter hook input priority 0;
    tcp dport $((port + 3)) reject with icmpx type port-unreachable
  }
}
NFT
fi

cat >"$dir/server.py" <<'PY'
import socket, sys
port, n, own6 = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
# a listener on our own IPv6 address (which the kernel does not have)
o = socket.socket(socket.AF_INET6)
o.bind((own6, port + 1))
o.listen(1)
print("own bound", o.getsockname()[:2], flush=True)
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
u.bind(("::", port))
l = socket.socket(socket.AF_INET6)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("::", port))
l.listen(4)
print("bound", l.getsockname()[:2], flush=True)
d, a = u.recvfrom(2048)
print("udp from", a[0], flush=True)
u.sendto(d, a)
# datagrams past the MTU, over IPv6 and IPv4 (v4-mapped): the peer's
# fragments reassembled by our stack, the echo fragmented by it
sizes = set()
while len(sizes) < 2:
    d, a = u.recvfrom(65536)
    u.sendto(d, a)
    if len(d) > 1500:
        sizes.add(len(d))
        print("udp big", len(d), "from", a[0], flush=True)
def echo(c):
    while True:
        b = c.recv(65536)
        if not b:
            break
        c.sendall(b)
    c.close()
for _ in range(n):
    c, peer = l.accept()
    print("accepted", peer[0], "family", c.family.name, flush=True)
    echo(c)
c, peer = o.accept()
print("own accepted", peer[0], flush=True)
echo(c)
# a connected UDP socket to a port nobody has: the peer's port
# unreachable gives ECONNREFUSED, as on Linux
for host in sys.argv[4:6]:
    x = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    x.connect((host, port + 2))
    x.settimeout(5)
    x.send(b"anyone?")
    try:
        x.recv(100)
        print("udp answered", host, flush=True)
    except ConnectionRefusedError:
        print("udp refused", host, flush=True)
    except socket.timeout:
        print("udp no error", host, flush=True)
# a connect to a port the peer's firewall rejects with an ICMP port
# unreachable (port + 3, when the test set that up) fails at once
if sys.argv[6] == "reject":
    for host in sys.argv[4:6]:
        try:
            socket.create_connection((host, port + 3), timeout=10)
            print("tcp connected", host, flush=True)
        except ConnectionRefusedError:
            print("tcp refused", host, flush=True)
        except OSError as e:
            print("tcp", e.__class__.__name__, host, flush=True)
print("server done", flush=True)
PY
cat >"$dir/client.py" <<'PY'
import os, socket, sys, time
host, port, proto = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if proto == "udp":
    size = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    msg = os.urandom(size) if size else b"udp6 ping"
    u = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(1)
    for _ in range(20):  # the server may not be up yet
        u.sendto(msg, (host, port))
        try:
            d, _ = u.recvfrom(65536)
            sys.exit(0 if d == msg else 1)
        except socket.timeout:
            pass
    sys.exit(1)
data = os.urandom(1 << 20)
c = socket.create_connection((host, port), timeout=10)
c.sendall(data)
c.shutdown(socket.SHUT_WR)
got = bytearray()
while True:
    b = c.recv(65536)
    if not b:
        break
    got += b
print("echoed", len(got), "bytes", "match" if got == data else "MISMATCH")
sys.exit(0 if got == data else 1)
PY
# --no-huge: an af_packet port needs no DMA memory, and the machine's
# hugepages are shared with other runs
ip netns exec $S timeout -k 2 60 env DEMI_LOG=debug DEMI_PRELOAD_LIB="$lib" \
  DEMI_DPDK_ARGS="--vdev=net_af_packet0,iface=vS$id --no-huge -m 512" DEMI_DPDK_PREFIX=d6$$_s \
  DEMI_IPV4=$net.1/24 DEMI_IPV6=${net6}:1/64 "$demirun" --backend dpdk -- \
  $py "$dir/server.py" $port 2 ${net6}:1 $net.2 ${net6}:2 $reject >"$dir/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "^bound" "$dir/server.log" 2>/dev/null && break; kill -0 "${pids[0]}" 2>/dev/null || break; sleep 0.1; done
grep -q "^bound ('::', $port)" "$dir/server.log" || fail "the server did not bind [::]:$port"
ip netns exec $C timeout 20 $py "$dir/client.py" ${net6}:1 $port udp || fail "UDP echo over IPv6"
ip netns exec $C timeout 20 $py "$dir/client.py" ${net6}:1 $port udp 20000 || fail "UDP echo of 20000 B over IPv6 (fragments)"
# IPv4 through DPDK's af_packet port arrives whole: the PMD asks the
# kernel to reassemble (PACKET_FANOUT_FLAG_DEFRAG), up to its ring frame
# (1968 B); the answer is ours to fragment. (Our IPv4 reassembly against
# Linux: test_xdp_inet.)
ip netns exec $C timeout 20 $py "$dir/client.py" $net.1 $port udp 1800 || fail "UDP echo of 1800 B over IPv4 (fragments)"
ip netns exec $C ping -c 2 -i 0.2 -W 2 -s 1800 $net.1 >"$dir/ping_big4.log" 2>&1 || fail "ping -s 1800 $net.1 (fragments)"
ip netns exec $C ping -6 -c 2 -i 0.2 -W 2 -s 3000 ${net6}:1 >"$dir/ping_big6.log" 2>&1 || fail "ping -6 -s 3000 ${net6}:1 (fragments)"
ip netns exec $C ping -6 -c 3 -i 0.2 -W 2 ${net6}:1 >"$dir/ping.log" 2>&1 || fail "ping -6 ${net6}:1"
ip netns exec $C timeout 20 $py "$dir/client.py" ${net6}:1 $port tcp >"$dir/client6.log" 2>&1 || fail "TCP echo over IPv6"
ip netns exec $C timeout 20 $py "$dir/client.py" $net.1 $port tcp >"$dir/client4.log" 2>&1 || fail "TCP echo over IPv4 to [::]"
ip netns exec $C timeout 20 $py "$dir/client.py" ${net6}:1 $((port + 1)) tcp >"$dir/client_own.log" 2>&1 ||
  fail "TCP echo over IPv6 to a listener bound to our own address"
wait "${pids[0]}" || fail "the server exited with $?"
grep -q "datapath started: backend dpdk" "$dir/server.log" || fail "the server's sockets did not go through dpdk"
grep -q "listening TCP socket \[::\]:$port offloaded" "$dir/server.log" || fail "the [::] listener was not offloaded"
grep -q "UDP socket \[::\]:$port offloaded" "$dir/server.log" || fail "the [::] UDP socket was not offloaded"
grep -q "^udp from ${net6}:2" "$dir/server.log" || fail "the UDP peer is not ${net6}:2"
grep -q "^udp big 20000 from ${net6}:2" "$dir/server.log" || fail "no 20000 B datagram from ${net6}:2"
grep -q "^udp big 1800 from ::ffff:$net.2" "$dir/server.log" || fail "no 1800 B datagram from ::ffff:$net.2"
grep -q "^accepted ${net6}:2 family AF_INET6" "$dir/server.log" || fail "the IPv6 peer is not ${net6}:2"
grep -q "^accepted ::ffff:$net.2 family AF_INET6" "$dir/server.log" || fail "the IPv4 peer is not ::ffff:$net.2"
grep -q "^own bound ('${net6}:1', $((port + 1)))" "$dir/server.log" || fail "bind to our own IPv6 address"
grep -q "^own accepted ${net6}:2" "$dir/server.log" || fail "the listener on our own IPv6 address"
grep -q "^udp refused $net.2\$" "$dir/server.log" || fail "no ECONNREFUSED from the peer's closed UDP port (IPv4)"
grep -q "^udp refused ${net6}:2\$" "$dir/server.log" || fail "no ECONNREFUSED from the peer's closed UDP port (IPv6)"
if [ $reject = reject ]; then
  grep -q "^tcp refused $net.2\$" "$dir/server.log" || fail "connect to a port rejected by ICMP: not ECONNREFUSED (IPv4)"
  grep -q "^tcp refused ${net6}:2\$" "$dir/server.log" || fail "connect to a port rejected by ICMPv6: not ECONNREFUSED (IPv6)"
fi
grep -q "server done" "$dir/server.log" || fail "the server did not serve every client"
echo "dpdk-inet6: a preloaded [::] server over our stack answered ping -6, UDP (datagrams past the MTU too) and TCP over IPv6, and TCP over IPv4 (v4-mapped); its connected UDP sockets got ECONNREFUSED from a closed port over both"
