#!/bin/sh
# SPDX-License-Identifier: MIT
# Several processes on one interface over AF_XDP (DEMI_XDP_QUEUE=auto):
# a 2-queue veth between namespaces S (our processes, and the kernel with
# its own address NET.3) and C (the Linux peer NET.2). Our address NET.1.
#   two    two preloaded echo servers on the same port, 16 connections from
#          C byte-exact, both sockets received (DEMI_STATS xdp.rx) and both
#          served; a kernel listener on NET.3 (other port) reachable meanwhile
#   kill   one of two servers killed (-9) in the middle of transfers: the
#          other serves on; a new process takes the freed queue and serves
#   pass   one process on queue 0 only, and the kernel also has our address
#          with a listener on another port: connections landing on queue 1
#          (no socket there) reach the kernel (XDP_PASS), those on queue 0
#          reach our stack (which resets them: no listener on that port)
#   nd6    two preloaded IPv6 echo servers (DEMI_IPV6), 16 connections from
#          C byte-exact, both served; C knows our MAC (a permanent
#          neighbour), so each process solicits C itself, and C's two
#          advertisements (same addresses, same hash) land on one queue:
#          the other process resolves C through xdp_neigh6 (xdp.nd_shared)
#   unpriv a server started as nobody (no privileged parent, so no helper)
#          says at error level that its datapath did not start, and why
#   alone  one preloaded echo server alone on the 2-queue veth (the kernel
#          does not have our address): 16 connections byte-exact, those
#          the peer places on queue 1 (no socket there) reaching it through
#          its packet socket (xdp.stray_rx; before: half were lost)
#   alone6 the same over IPv6, C without a neighbour entry for us: its
#          solicitations, and the answers to ours, come on either queue
#   alone_nginx  nginx, master on, 1 worker as its default user, on the
#          2-queue veth: its packet socket comes from the privileged helper;
#          20 requests, each its own connection, all served
#   active a preloaded echo server and a preloaded client process (queues of
#          their own): the client's 16 connections (128 KiB each way) to a
#          Linux server in C come back on the queue C's hash picks, half
#          of them to the server's process, which hands their frames on to
#          the client's (xdp.fwd_out there, xdp.fwd_in here) instead of
#          resetting them; then 16 UDP sockets of another client process,
#          whose echoes from C are handed on the same way
#   reload nginx (master, 2 workers as its default user) reloaded (SIGHUP) while
#          rate-limited downloads keep the old workers, and so their
#          queues, busy: the new workers wait for the queues
#          (DEMI_XDP_CLAIM_WAIT_MS) instead of running on the kernel;
#          connections made meanwhile (SYNs dropped, not refused, while a
#          worker waits) are served once one has a queue, the downloads
#          end sha256-exact, and afterwards every request is served by a
#          new worker (before: 18 of 40 were lost, on the queue no process
#          had)
#   nginx  nginx, master on, 2 workers as its default user (they drop root
#          before the datapath starts: sockets from the privileged helper),
#          a 16 MiB file fetched 8 times with sha256 checked, connections
#          seen on both workers
# Flows: the veth peer picks its TX queue per socket by the flow hash,
# and veth delivers on the receive queue of the same number, so each
# connection stays on one queue, and thus in one process (txrehash off in
# C: a retransmission timeout would otherwise re-hash it). ARP: the peer
# sends all of it on one queue; the process on the other queue learns the
# peer's MAC from the program's xdp_neigh (xdp.arp_shared, README "ARP").
# usage: xdp-mp.sh LIBRARY CASE      (root; skips with 77 otherwise)
set -u
lib=$(readlink -f "$1") case=$2
here=$(dirname "$(readlink -f "$0")")
# a sanitized build: its runtime goes first
pre=$(ldd "$lib" 2>/dev/null | awk '/libasan\.so/ {print $3}')
[ -n "$pre" ] && lib="$pre $lib" && export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
for p in python3 ethtool; do command -v $p >/dev/null || { echo "SKIP: $p missing"; exit 77; }; done
if [ "$case" = nginx ]; then
  for p in nginx curl sha256sum; do command -v $p >/dev/null || { echo "SKIP: $p missing"; exit 77; }; done
fi
id=$$
S=dmxs$id C=dmxc$id IS=dmxs$id IC=dmxc$id
net=10.214.$((id % 250 + 1))
out=$(mktemp -d)
chmod 755 "$out"
pids=
cleanup() {
  # TERM: timeout(1) passes it on to the program it runs
  for p in $pids; do kill -TERM "$p" 2>/dev/null; done
  sleep 0.2
  for p in $pids; do pkill -9 -P "$p" 2>/dev/null; kill -9 "$p" 2>/dev/null; done
  m=$(cat "$out/nginx.pid" 2>/dev/null)
  [ -n "$m" ] && { pkill -9 -P "$m" 2>/dev/null; kill -9 "$m" 2>/dev/null; }
  ip netns del "$S" 2>/dev/null
  ip netns del "$C" 2>/dev/null
  if [ -n "${KEEP:-}" ]; then echo "kept $out"; else rm -rf "$out"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() {
  echo "FAIL: $*"
  for f in "$out"/*.err "$out"/*.stats "$out"/error.log; do [ -f "$f" ] && { echo "--- $f"; grep -v "offload candidate\|debug" "$f" | tail -15; }; done
  exit 1
}
ip netns add "$S" && ip netns add "$C" || { echo "SKIP: cannot make namespaces"; exit 77; }
ip link add "$IS" numtxqueues 2 numrxqueues 2 netns "$S" type veth peer name "$IC" numtxqueues 2 numrxqueues 2 \
  netns "$C" || { echo "SKIP: cannot make a 2-queue veth"; exit 77; }
for n in $S $C; do ip -n $n link set lo up; done
# the peer keeps its checksum offload, as veth users do: its TCP/UDP
# checksums arrive partial (devices/xdp/README.md "Checksums")
ip netns exec $C sysctl -qw net.core.txrehash=0 2>/dev/null
ip -n $S addr add $net.3/24 dev $IS
ip -n $C addr add $net.2/24 dev $IC
ip -n $S link set $IS up
ip -n $C link set $IC up
export DEMI_BACKEND=xdp DEMI_XDP_IFACE=$IS DEMI_IPV4=$net.1/24 DEMI_LOG=info
unset DEMI_XDP_QUEUE
port=8080 kport=8081

# start_server NAME [server6]: a preloaded echo server in S; waits until its datapath runs
start_server() {
  : >"$out/$1.conns"
  ip netns exec $S env LD_PRELOAD="$lib" DEMI_STATS="$out/$1.stats" timeout 90 \
    python3 "$here/xdp_mp.py" ${2:-server} $port "$out/$1.conns" 2>"$out/$1.err" &
  eval "pid_$1=$!"
  pids="$pids $!"
  # the listener reaches the datapath at the server's first poll of it
  for _ in $(seq 100); do
    grep -q "datapath started\|did not start" "$out/$1.err" && break
    sleep 0.05
  done
  grep -q "is not built into this library" "$out/$1.err" && { echo "SKIP: xdp not built"; exit 77; }
  grep -q "datapath started: backend xdp" "$out/$1.err" || fail "$1: the xdp datapath did not start"
}
queue_of() { sed -n 's/.*xdp: .* queue \([0-9]*\) (of.*/\1/p' "$out/$1.err" | head -1; }
stop_server() { eval "kill -TERM \$pid_$1; wait \$pid_$1"; }
stat_of() { awk -v k="$2" '$1 == k || $1 == k":" {print $2}' "$out/$1.stats" 2>/dev/null | tail -1; }
clients() { ip netns exec $C timeout 60 python3 "$here/xdp_mp.py" clients ${host:-$net.1} $port "$@"; }

# nginx_start [N]: nginx (master, N workers, 2 by default) over our
# datapath in S on $port, its files in $out/html; waits until every worker
# has a queue
nginx_start() {
  nw=${1:-2}
  mkdir -p "$out/html" "$out/tmp"
  chmod -R a+rwX "$out"
  cat >"$out/nginx.conf" <<CONF
worker_processes $nw;
daemon off;
master_process on;
pid $out/nginx.pid;
error_log $out/error.log info;
events { worker_connections 128; }
http {
  log_format w '\$pid \$status \$body_bytes_sent';
  access_log $out/access.log w;
  client_body_temp_path $out/tmp; proxy_temp_path $out/tmp; fastcgi_temp_path $out/tmp;
  uwsgi_temp_path $out/tmp; scgi_temp_path $out/tmp;
  sendfile on;
  keepalive_timeout 5;
  server { listen $port reuseport; root $out/html; }
}
CONF
  ip netns exec $S env LD_PRELOAD="$lib" timeout -k 3 90 nginx -p "$out" -c "$out/nginx.conf" >"$out/nginx.err" 2>&1 &
  pids="$pids $!"
  for _ in $(seq 100); do
    [ "$(cat "$out/error.log" "$out/nginx.err" 2>/dev/null | grep -c "xdp: .* queue [0-9]* (of")" -ge "$nw" ] && break
    sleep 0.1
  done
}
# small N: N requests for a small file from C, one connection each; prints how many succeeded
small() {
  n=0
  for _ in $(seq "$1"); do
    ip netns exec $C timeout 5 curl -fsS -m 3 "http://$net.1:$port/small.txt" -o /dev/null 2>>"$out/small.err" &&
      n=$((n + 1))
  done
  echo $n
}

case $case in
reload)
  for p in nginx curl sha256sum; do command -v $p >/dev/null || { echo "SKIP: $p missing"; exit 77; }; done
  mkdir -p "$out/html"
  head -c 33554432 /dev/urandom >"$out/html/big.bin"
  echo hello >"$out/html/small.txt"
  sum=$(sha256sum <"$out/html/big.bin" | cut -d' ' -f1)
  nginx_start
  [ "$(small 10)" = 10 ] || fail "before the reload: not every request was served"
  old=$(pgrep -P "$(cat "$out/nginx.pid")" | sort | tr '\n' ' ')
  # 32 MiB at 8 MB/s: 4 s each, more than the buffers on the way take
  # (Linux's receive buffer grows to 6 MiB), so the old worker stays;
  # each on the worker its queue has
  dls=
  for i in 1 2 3 4; do
    ip netns exec $C timeout 40 curl -fs --limit-rate 8M "http://$net.1:$port/big.bin" -o "$out/got$i" &
    dls="$dls $!"
  done
  for _ in $(seq 50); do [ "$(awk '$2 == 200' "$out/access.log" 2>/dev/null | wc -l)" -ge 10 ] && \
    [ -s "$out/got1" ] && break; sleep 0.1; done
  kill -HUP "$(cat "$out/nginx.pid")"
  # 8 connections at once while the new workers wait: no process listens
  # then, their SYNs are dropped (not refused) and their retries served
  # once a new worker has a queue. One whose handshake an old worker
  # completed just before it closed its listener, not yet accepted, is
  # reset (Linux's listener, one socket for all the workers, would keep
  # it for a new worker; devices/xdp/README.md): curl tries it again,
  # and the resets are counted (one run in ~20, under ASan)
  cs=
  : >"$out/during.err"
  t0=$(date +%s%N)
  for i in 1 2 3 4 5 6 7 8; do
    ip netns exec $C timeout 40 curl -fsS -m 30 --retry 2 --retry-all-errors --retry-delay 1 \
      "http://$net.1:$port/small.txt" -o "$out/during$i" 2>>"$out/during.err" &
    cs="$cs $!"
  done
  wait $cs
  ms=$((($(date +%s%N) - t0) / 1000000))
  during=$(cat "$out"/during[1-8] 2>/dev/null | grep -c hello)
  resets=$(grep -c "reset" "$out/during.err")
  cat "$out/during.err" >>"$out/small.err"
  wait $dls
  good=0
  for i in 1 2 3 4; do [ "$(sha256sum <"$out/got$i" | cut -d' ' -f1)" = "$sum" ] && good=$((good + 1)); done
  logs() { cat "$out/error.log" "$out/nginx.err" 2>/dev/null; }
  for _ in $(seq 100); do
    [ "$(logs | grep -c "came free")" -ge 2 ] && break
    sleep 0.1
  done
  before_lines=$(wc -l <"$out/access.log")
  after=$(small 40)
  new=$(tail -n +$((before_lines + 1)) "$out/access.log" | awk '{print $1}' | sort -u | tr '\n' ' ')
  waits=$(logs | grep -c "waiting up to .* (DEMI_XDP_CLAIM_WAIT_MS)")
  freed=$(logs | grep -c "came free")
  [ "$good" = 4 ] || fail "$good of 4 downloads across the reload were sha256-exact"
  [ "$during" = 8 ] || fail "$during of 8 connections made during the reload were served"
  [ "$after" = 40 ] || fail "$after of 40 requests after the old workers left were served (new workers: $freed queues)"
  ! logs | grep -q "did not start" || fail "a worker's datapath did not start"
  [ "$waits" -ge 1 ] && [ "$freed" -ge 1 ] || fail "no new worker waited for a queue ($waits waits, $freed freed)"
  for p in $new; do case " $old " in *" $p "*) fail "an old worker ($p) served after the reload" ;; esac; done
  echo "nginx reloaded with its queues busy: $waits new workers waited for a queue, $freed got one; 8 of 8" \
       "connections made meanwhile served (in $ms ms, $resets reset and tried again), 4 downloads sha256-exact, 40 of 40 after (workers $new)"
  ;;
two)
  start_server a
  start_server b
  qa=$(queue_of a) qb=$(queue_of b)
  [ -n "$qa" ] && [ -n "$qb" ] && [ "$qa" != "$qb" ] || fail "queues: a '$qa', b '$qb'"
  # a kernel listener on the kernel's own address of the same interface
  ip netns exec $S timeout 60 python3 "$here/xdp_mp.py" server $kport "$out/k.conns" 2>"$out/k.err" &
  pids="$pids $!"
  sleep 0.3
  clients 16 262144 >"$out/c.out" 2>"$out/c.err" || fail "clients: $(grep -c ok "$out/c.out") of 16 ok"
  ip netns exec $C timeout 30 python3 "$here/xdp_mp.py" clients $net.3 $kport 2 65536 >/dev/null 2>&1 ||
    fail "the kernel's listener on $net.3 was not reachable"
  stop_server a
  stop_server b
  ca=$(wc -l <"$out/a.conns") cb=$(wc -l <"$out/b.conns")
  ra=$(stat_of a xdp.rx) rb=$(stat_of b xdp.rx)
  [ $((ca + cb)) = 16 ] || fail "served $ca + $cb connections, not 16"
  [ "$ca" -ge 1 ] && [ "$cb" -ge 1 ] || fail "one process served nothing ($ca, $cb)"
  [ "${ra:-0}" -gt 0 ] && [ "${rb:-0}" -gt 0 ] || fail "xdp.rx: a ${ra:-none}, b ${rb:-none}"
  # the peer's ARP came on one queue: the other process got it from xdp_neigh
  aa=$(stat_of a xdp.arp_shared) ab=$(stat_of b xdp.arp_shared)
  [ $((${aa:-0} + ${ab:-0})) -ge 1 ] || fail "no process learnt the peer's MAC through xdp_neigh"
  echo "two processes on queues $qa and $qb of one veth: 16 connections byte-exact ($ca + $cb; xdp.rx $ra, $rb;" \
       "ARP shared ${aa:-0}, ${ab:-0}); the kernel's listener on the same interface answered"
  ;;
alone|alone6)
  if [ $case = alone6 ]; then
    net6=fd12:$((id % 250 + 1))::
    export DEMI_IPV6=${net6}1/64
    for n in $S $C; do ip netns exec $n sysctl -qw net.ipv6.conf.all.disable_ipv6=0 2>/dev/null; done
    ip netns exec $C sysctl -qw net.ipv6.conf.$IC.disable_ipv6=0 2>/dev/null
    ip -n $C addr add ${net6}2/64 dev $IC nodad || fail "no IPv6 address in C"
    host=${net6}1
    start_server a server6
  else
    start_server a
  fi
  qa=$(queue_of a)
  clients 16 65536 >"$out/c.out" 2>"$out/c.err"
  ok=$(grep -c ok "$out/c.out")
  stop_server a
  ca=$(wc -l <"$out/a.conns") sa=$(stat_of a xdp.stray_rx) ra=$(stat_of a xdp.rx)
  [ "$ok" = 16 ] && [ "$ca" = 16 ] || fail "$ok of 16 connections byte-exact, $ca served (queue $qa)"
  [ "${sa:-0}" -gt 0 ] && [ "${ra:-0}" -gt 0 ] || fail "xdp.rx ${ra:-none}, xdp.stray_rx ${sa:-none}: not both queues"
  echo "one process on queue $qa of 2: 16 connections byte-exact, frames of the other queue through its packet" \
       "socket (xdp.stray_rx $sa, xdp.rx $ra)"
  ;;
alone_nginx)
  for p in nginx curl; do command -v $p >/dev/null || { echo "SKIP: $p missing"; exit 77; }; done
  mkdir -p "$out/html"
  echo hello >"$out/html/small.txt"
  nginx_start 1
  got=$(small 20)
  logs=$(cat "$out/error.log" "$out/nginx.err" 2>/dev/null)
  [ "$got" = 20 ] || fail "$got of 20 requests served by nginx's one worker on a 2-queue veth"
  echo "$logs" | grep -q "socket from the privileged helper" || fail "the worker did not get its socket from the helper"
  # the helper registered the UMEM with TX metadata where the kernel has it (6.11+)
  case $(uname -r) in [0-5].*|6.[0-9].*|6.10.*) ;; *)
    echo "$logs" | grep -q "checksums the kernel's (TX metadata)" || fail "the helper's UMEM has no TX metadata" ;;
  esac
  echo "$logs" | grep -q "come through a packet socket" || fail "no packet socket for the other queue"
  echo "nginx, 1 worker as its default user, on a 2-queue veth: 20 of 20 requests served (the packet socket from the helper)"
  ;;
active)
  start_server a
  ip netns exec $C timeout 60 python3 "$here/xdp_mp.py" server $kport "$out/k.conns" 2>"$out/k.err" &
  pids="$pids $!"
  for _ in $(seq 50); do ip netns exec $C ss -ltnH "sport = :$kport" | grep -q . && break; sleep 0.1; done
  ip netns exec $C timeout 60 python3 "$here/xdp_mp.py" userver $kport 2>"$out/u.err" &
  pids="$pids $!"
  ip netns exec $S env LD_PRELOAD="$lib" DEMI_STATS="$out/b.stats" timeout 60 \
    python3 "$here/xdp_mp.py" clients $net.2 $kport 16 131072 20 >"$out/b.out" 2>"$out/b.err"
  ok=$(grep -c ok "$out/b.out")
  # UDP the same way: 16 connected sockets, C's echoes placed by its hash
  ip netns exec $S env LD_PRELOAD="$lib" DEMI_STATS="$out/u.stats" timeout 60 \
    python3 "$here/xdp_mp.py" uclients $net.2 $kport 16 >"$out/u.out" 2>"$out/uc.err"
  uok=$(grep -c ok "$out/u.out")
  qa=$(queue_of a) qb=$(queue_of b)
  stop_server a
  [ -n "$qa" ] && [ -n "$qb" ] && [ "$qa" != "$qb" ] || fail "queues: server '$qa', clients '$qb'"
  oa=$(stat_of a xdp.fwd_out) ib=$(stat_of b xdp.fwd_in) fa=$(stat_of a tcp.rx_forwarded)
  [ "$ok" = 16 ] || fail "$ok of 16 connections opened by our stack byte-exact"
  [ "${oa:-0}" -gt 0 ] && [ "${ib:-0}" -gt 0 ] || fail "no frame handed on: server xdp.fwd_out ${oa:-none}," \
    "clients xdp.fwd_in ${ib:-none}"
  uf=$(stat_of a udp.rx_forwarded) iu=$(stat_of u xdp.fwd_in)
  [ "$uok" = 16 ] || fail "$uok of 16 UDP sockets got their 8 echoes"
  [ "${uf:-0}" -gt 0 ] && [ "${iu:-0}" -gt 0 ] || fail "no datagram handed on: server udp.rx_forwarded" \
    "${uf:-none}, clients xdp.fwd_in ${iu:-none}"
  echo "16 connections opened from queue $qb byte-exact; the server's process on queue $qa handed $fa of their" \
       "frames on (tcp.rx_forwarded $fa), the clients' took $ib; 16 UDP sockets echoed ($uf datagrams handed on)"
  ;;
nd6)
  net6=fd12:$((id % 250 + 1))::
  export DEMI_IPV6=${net6}1/64
  for n in $S $C; do ip netns exec $n sysctl -qw net.ipv6.conf.all.disable_ipv6=0 2>/dev/null; done
  ip netns exec $C sysctl -qw net.ipv6.conf.$IC.disable_ipv6=0 2>/dev/null
  ip -n $C addr add ${net6}2/64 dev $IC nodad || fail "no IPv6 address in C"
  # C never solicits us: neither process learns C's MAC from a solicitation
  ip -n $C neigh replace ${net6}1 lladdr "$(ip netns exec $S cat /sys/class/net/$IS/address)" dev $IC nud permanent
  start_server a server6
  start_server b server6
  qa=$(queue_of a) qb=$(queue_of b)
  [ -n "$qa" ] && [ -n "$qb" ] && [ "$qa" != "$qb" ] || fail "queues: a '$qa', b '$qb'"
  host=${net6}1 clients 16 262144 >"$out/c.out" 2>"$out/c.err" || fail "clients: $(grep -c ok "$out/c.out") of 16 ok"
  stop_server a
  stop_server b
  ca=$(wc -l <"$out/a.conns") cb=$(wc -l <"$out/b.conns")
  na=$(stat_of a xdp.nd_shared) nb=$(stat_of b xdp.nd_shared)
  [ $((ca + cb)) = 16 ] || fail "served $ca + $cb connections, not 16"
  [ "$ca" -ge 1 ] && [ "$cb" -ge 1 ] || fail "one process served nothing ($ca, $cb)"
  [ $((${na:-0} + ${nb:-0})) -ge 1 ] || fail "no process resolved C through xdp_neigh6"
  echo "two IPv6 processes on queues $qa and $qb: 16 connections byte-exact ($ca + $cb); advertisements" \
       "shared through xdp_neigh6: a ${na:-0}, b ${nb:-0}"
  ;;
kill)
  start_server a
  start_server b
  qa=$(queue_of a)
  # 16 connections of 8 MiB; a is killed while they run
  ip netns exec $C timeout 60 python3 "$here/xdp_mp.py" clients $net.1 $port 16 8388608 6 \
    >"$out/c1.out" 2>"$out/c1.err" &
  cpid=$!
  for _ in $(seq 100); do [ -s "$out/a.conns" ] && [ -s "$out/b.conns" ] && break; sleep 0.05; done
  sleep 0.2
  pkill -9 -P $pid_a # the server itself, not the timeout(1) that runs it
  wait $cpid
  kill -0 $pid_b 2>/dev/null || fail "b died with a"
  ok=$(grep -c ok "$out/c1.out") cb=$(wc -l <"$out/b.conns")
  [ "$ok" -ge "$cb" ] && [ "$cb" -ge 1 ] || fail "b accepted $cb connections, $ok completed"
  # a new process takes the queue a left
  start_server c
  qc=$(queue_of c)
  [ "$qc" = "$qa" ] || fail "c took queue '$qc', a had '$qa'"
  : >"$out/b.conns"
  clients 16 262144 >"$out/c2.out" 2>"$out/c2.err" || fail "after the restart: $(grep -c ok "$out/c2.out") of 16 ok"
  cb=$(wc -l <"$out/b.conns") cc=$(wc -l <"$out/c.conns")
  [ "$cb" -ge 1 ] && [ "$cc" -ge 1 ] || fail "b served $cb, c $cc"
  stop_server b
  stop_server c
  echo "a killed mid-transfer: b completed its $ok connections and served on; c took a's queue $qa; 16 more" \
       "byte-exact ($cb on b, $cc on c)"
  ;;
nginx)
  mkdir -p "$out/html"
  head -c 16777216 /dev/urandom >"$out/html/big.bin"
  sum=$(sha256sum <"$out/html/big.bin" | cut -d' ' -f1)
  nginx_start
  ok=0
  t0=$(date +%s%N)
  # 8 fetches, 4 at a time, so both workers see some
  for round in 1 2; do
    cps=
    for i in 1 2 3 4; do
      ip netns exec $C timeout 40 curl -fs "http://$net.1:$port/big.bin" -o "$out/got$round$i" 2>>"$out/curl.err" &
      cps="$cps $!"
    done
    wait $cps
    for i in 1 2 3 4; do
      [ "$(sha256sum <"$out/got$round$i" 2>/dev/null | cut -d' ' -f1)" = "$sum" ] && ok=$((ok + 1))
      rm -f "$out/got$round$i"
    done
  done
  ms=$((($(date +%s%N) - t0) / 1000000))
  # more connections (small requests) until both workers have served, at
  # most 30: each lands on either queue by the peer's hash
  for _ in $(seq 30); do
    [ "$(awk '$2 ~ /^20/ {print $1}' "$out/access.log" | sort -u | wc -l)" -ge 2 ] && break
    ip netns exec $C timeout 10 curl -fs -r 0-99 "http://$net.1:$port/big.bin" -o /dev/null
  done
  logs=$(cat "$out/error.log" "$out/nginx.err" 2>/dev/null)
  helper=$(echo "$logs" | grep -c "socket from the privileged helper")
  workers=$(awk '$2 ~ /^20/ {print $1}' "$out/access.log" | sort -u | wc -l)
  [ "$ok" = 8 ] || fail "$ok of 8 fetches of 16 MiB had the right sha256"
  [ "$helper" -ge 2 ] || fail "$helper workers got their socket from the helper"
  [ "$workers" -ge 2 ] || fail "responses came from $workers worker(s)"
  user=$(ps -o user= -p "$(pgrep -P "$(cat "$out/nginx.pid")" | head -1)" 2>/dev/null)
  [ "$user" != root ] || fail "the workers run as root: nothing was tested without privilege"
  echo "nginx, master + 2 workers (workers as ${user:-?}): 8 x 16 MiB sha256-exact in $ms ms (4 at a time)," \
       "served by $workers workers over xdp, sockets from the privileged helper"
  ;;
pass)
  start_server a
  qa=$(queue_of a)
  [ "$qa" = 0 ] || fail "a took queue '$qa', not 0"
  ip -n $S addr add $net.1/32 dev $IS
  # the kernel shares our address here: the ARP replies to its requests
  # for the client come to that address and are ours on queue 0 (the
  # kernel's SYN-ACKs then die unresolved, NEIGH_FAILED), so it gets the
  # client's MAC by hand (devices/xdp/README.md, known limits)
  ip -n $S neigh replace $net.2 lladdr "$(ip netns exec $C cat /sys/class/net/$IC/address)" dev $IS nud permanent
  ip netns exec $S timeout 60 python3 "$here/xdp_mp.py" server $kport "$out/k.conns" 2>"$out/k.err" &
  pids="$pids $!"
  for _ in $(seq 50); do ip netns exec $S ss -ltnH "sport = :$kport" | grep -q . && break; sleep 0.1; done
  ip netns exec $S ss -ltnH "sport = :$kport" | grep -q . || fail "the kernel's listener did not start"
  ip netns exec $C timeout 60 python3 "$here/xdp_mp.py" clients $net.1 $kport 16 1000 3 >"$out/c.out" 2>"$out/c.err"
  ok=$(grep -c ok "$out/c.out") k=$(wc -l <"$out/k.conns")
  stop_server a
  ra=$(stat_of a xdp.rx) sk=$(stat_of a xdp.stray_kernel) sr=$(stat_of a xdp.stray_rx)
  [ "$ok" -ge 1 ] && [ "$ok" = "$k" ] || fail "$ok connections completed, the kernel accepted $k"
  [ "$ok" -lt 16 ] && [ "${ra:-0}" -gt 0 ] || fail "none reached our stack on queue 0 (ok $ok, xdp.rx ${ra:-none})"
  # our packet socket, opened before the kernel had our address, saw the
  # change and left the kernel its frames
  [ "${sk:-0}" -gt 0 ] && [ "${sr:-0}" = 0 ] || fail "xdp.stray_kernel ${sk:-none}, xdp.stray_rx ${sr:-none}"
  echo "our address on the queue without a socket goes to the kernel: $ok of 16 connections reached its listener," \
       "the others our stack on queue 0 (xdp.rx $ra; $sk frames left to the kernel by our packet socket)"
  ;;
unpriv)
  command -v setpriv >/dev/null || { echo "SKIP: setpriv missing"; exit 77; }
  : >"$out/u.conns"
  chmod 666 "$out/u.conns"
  ip netns exec $S setpriv --reuid=65534 --regid=65534 --clear-groups env LD_PRELOAD="$lib" timeout 30 \
    python3 "$here/xdp_mp.py" server $port "$out/u.conns" 2>"$out/u.err" &
  pids="$pids $!"
  for _ in $(seq 100); do grep -q "did not start" "$out/u.err" && break; sleep 0.05; done
  grep -q "error xdp: .*no privilege for AF_XDP" "$out/u.err" || fail "no error naming the missing privilege"
  grep -q "error shim: the datapath did not start" "$out/u.err" || fail "no error saying the datapath did not start"
  echo "a server started as nobody without a helper: errors logged ($(grep -c ' error ' "$out/u.err") lines)," \
       "sockets stay in the kernel"
  ;;
*) echo "usage: $0 LIBRARY two|kill|pass|unpriv|nginx|nd6|active|reload"; exit 2 ;;
esac
