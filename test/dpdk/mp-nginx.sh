#!/bin/bash
# SPDX-License-Identifier: MIT
# test/dpdk/mp-nginx.sh BUILD_DIR - stock nginx over one DPDK port: master
# process on (root), worker_processes 2, nginx's default user (nobody), under
# `demi-run --dpdk-primary`, which starts demi-dpdk-primary on a net_tap port
# (2 queues, hugepages reserved here) with DEMI_DPDK_MP_GROUP=nobody. Each
# worker attaches after dropping privileges and claims a queue. The Linux peer
# (the netns's kernel on the tap) fetches a 16 MiB file 8 times, 4 at once,
# sha256-checked; the access log ($pid) must show both workers serving, and
# the primary's table both queues owned by the workers and carrying frames.
# Then a reload (SIGHUP) while a worker still sends a 8 MiB download at 1 MB/s:
# connections made meanwhile are all served (none refused, none retried),
# the download completes intact although its worker exits with bytes still
# queued, and the new workers end up owning both queues.
# Idle, the workers sleep on their queue's fd instead of spinning (a second
# of nothing costs each under 30% of a CPU); a frame one worker hands the
# other (an ARP copy, a SYN at the reload) wakes it with a datagram
# (DEMI_STATS: dpdk.wake_sent and dpdk.wake_taken).
# DEMI_STRICT=1: a worker without its datapath would exit, not fall back.
# Exit 77 without nginx, curl, root, tun, netns or hugepages.
set -u
BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d /tmp/demi_mpng.XXXXXX)
for p in nginx curl; do command -v $p >/dev/null || { echo "SKIP: $p not installed"; rm -rf "$TMP"; exit 77; }; done
. "$HERE/mp_lib.sh"
NGX=""
stop_nginx() {
    local m
    m=$(cat "$TMP/nginx.pid" 2>/dev/null)
    if [ -n "$m" ]; then
        kill -QUIT "$m" 2>/dev/null
        for _ in $(seq 30); do kill -0 "$m" 2>/dev/null || break; sleep 0.1; done
        pkill -9 -P "$m" 2>/dev/null; kill -9 "$m" 2>/dev/null
    fi
    [ -n "$NGX" ] && { kill "$NGX" 2>/dev/null; wait "$NGX" 2>/dev/null; }
    NGX=""
}
cleanup() {
    stop_nginx
    rm -f "$STATS"
    # the primary demi-run started, by its pid file
    [ -f "$TMP/run/$MP_PREFIX.pid" ] && MP_PRIMARY=$(cat "$TMP/run/$MP_PREFIX.pid")
    mp_cleanup
}
trap cleanup EXIT INT TERM
fail() {
    echo "FAIL: $*"
    for f in "$TMP"/out.log "$TMP"/error.log "$TMP/run/$MP_PREFIX.log"; do [ -f "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }; done
    exit 1
}

mp_setup 160
# the workers (user nobody) append their counters here when they exit
STATS=$(mktemp /tmp/demi_mpng_stats.XXXXXX)
chmod 666 "$STATS"
mkdir -p "$TMP/html" "$TMP/tmp"
head -c $((16 << 20)) /dev/urandom >"$TMP/html/big.bin"
echo small >"$TMP/html/small.txt"
want=$(sha256sum <"$TMP/html/big.bin" | cut -d' ' -f1)
chmod -R a+rX "$TMP/html"
chmod 777 "$TMP/tmp"
cat >"$TMP/nginx.conf" <<CONF
worker_processes 2;
daemon off;
pid $TMP/nginx.pid;
error_log $TMP/error.log warn;
events { worker_connections 256; }
http {
  log_format w '\$pid \$status \$body_bytes_sent';
  access_log $TMP/access.log w;
  client_body_temp_path $TMP/tmp; proxy_temp_path $TMP/tmp; fastcgi_temp_path $TMP/tmp;
  uwsgi_temp_path $TMP/tmp; scgi_temp_path $TMP/tmp;
  sendfile on;
  keepalive_timeout 5;
  server { listen 10.9.8.1:80; root $TMP/html; }
}
CONF
# DEMI_LINGER_MS=500: an old worker that exits at the reload with the
# download's last bytes still queued must stay while they move, not for a
# fixed time (shim_drain)
ip netns exec "$MP_NS" env DEMI_IPV4=10.9.8.1/24 DEMI_STRICT=1 DEMI_LOG=info DEMI_LINGER_MS=500 DEMI_STATS="$STATS" \
    DEMI_DPDK_PREFIX="$MP_PREFIX" \
    DEMI_DPDK_RUNDIR="$TMP/run" DEMI_DPDK_MP_GROUP=nobody \
    DEMI_DPDK_ARGS="--vdev=net_tap0,iface=dmng0 --huge-dir=$TMP/huge -m 256" \
    DEMI_PRELOAD_LIB="$BUILD/interpose/libdemi-preload.so" \
    "$BUILD/scripts/demi-run" --dpdk-primary=2 -- nginx -p "$TMP" -c "$TMP/nginx.conf" >"$TMP/out.log" 2>&1 &
NGX=$!
# the primary writes its pid file once its port is up (the tap appears
# before that: a loaded machine showed the window)
for _ in $(seq 200); do [ -s "$TMP/run/$MP_PREFIX.pid" ] && break; sleep 0.05; done
ip -n "$MP_NS" link show dmng0 >/dev/null 2>&1 || fail "the primary's tap did not appear"
[ -s "$TMP/run/$MP_PREFIX.pid" ] || fail "the primary wrote no pid file"
MP_PRIMARY=$(cat "$TMP/run/$MP_PREFIX.pid")
ip netns exec "$MP_NS" sysctl -qw net.ipv6.conf.dmng0.disable_ipv6=1
ip -n "$MP_NS" addr add 10.9.8.2/24 dev dmng0
ip -n "$MP_NS" link set dmng0 up
# the client's receive buffer small: the download's sender, not the
# client's kernel, holds the bytes not read yet
ip netns exec "$MP_NS" sysctl -qw net.ipv4.tcp_rmem="4096 65536 262144"
MP_LOG=$TMP/run/$MP_PREFIX.log
get() { ip netns exec "$MP_NS" timeout 30 curl -fsS --connect-timeout 5 -o "$1" "http://10.9.8.1/big.bin"; }
up=0
for _ in $(seq 60); do
    if get "$TMP/got0"; then up=1; break; fi
    kill -0 "$NGX" 2>/dev/null || break
    sleep 0.25
done
[ $up = 1 ] || fail "nginx did not serve over dpdk"
users=$(for p in $(pgrep -P "$(cat "$TMP/nginx.pid")"); do ps -o user= -p "$p"; done | sort -u | tr '\n' ' ')
ps -o pid,user,args --ppid "$(cat "$TMP/nginx.pid")" >"$TMP/children.txt"
case "$users" in root*|*" root"*) fail "workers run as: $users (expected nginx's default user): $(cat "$TMP/children.txt")" ;; esac
for round in 1 2; do
    gets=""
    for i in 1 2 3 4; do get "$TMP/got$round$i" & gets="$gets $!"; done
    for g in $gets; do wait "$g"; done
done
n=0
for f in "$TMP"/got0 "$TMP"/got[12]?; do
    [ -f "$f" ] && [ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$want" ] && n=$((n + 1))
done
[ $n = 9 ] || fail "$n of 9 fetches of 16 MiB matched the sha256"
echo "ok: 9 fetches of a 16 MiB file, sha256 checked (workers run as $users)"
pids=$(awk '$2 == 200 {print $1}' "$TMP/access.log" | sort -u | wc -l)
# The tun driver places each connection by its flow hash: 9 may all land
# on one queue (1 run in 256; one did under ASan). More small requests,
# one connection each, until both workers have served or 40 went by.
for _ in $(seq 40); do
    [ "$pids" -ge 2 ] && break
    ip netns exec "$MP_NS" timeout 10 curl -fsS --connect-timeout 5 -o /dev/null "http://10.9.8.1/small.txt"
    pids=$(awk '$2 == 200 {print $1}' "$TMP/access.log" | sort -u | wc -l)
done
[ "$pids" -ge 2 ] || fail "only $pids worker served (access log: $(awk '{print $1}' "$TMP/access.log" | sort | uniq -c | tr '\n' ' '))"
echo "ok: requests served by $pids workers: $(awk '{print $1}' "$TMP/access.log" | sort | uniq -c | tr '\n' ' ')"
t=$(mp_table)
echo "$t"
for q in 0 1; do
    o=$(mp_owner $q)
    [ "$o" != 0 ] && [ "$(ps -o ppid= -p "$o" | tr -d ' ')" = "$(cat "$TMP/nginx.pid")" ] || fail "queue $q is not a worker's ($o)"
    # (at least one connection's frames: SYN, ACK, request, FIN; a queue
    # that only got the small requests above holds about 8, not the
    # hundreds of a 16 MiB fetch)
    [ "$(mp_field $q port_rx)" -ge 4 ] || fail "queue $q carried nothing ($(mp_field $q port_rx) frames from the port)"
done
echo "ok: each worker owns a queue of the port and received frames on it"

# Idle workers sleep on their queue's fd (devices/dpdk/dpdk_tap.c).
n=$(grep -c "sleeps on its queue's fd when idle" "$TMP/error.log")
[ "$n" -ge 2 ] || fail "$n workers said they sleep when idle (2 expected)"
hz=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sleep 0.5
idle=""
for w in $(pgrep -P "$(cat "$TMP/nginx.pid")"); do
    a=$(ticks "$w")
    sleep 1
    used=$(( $(ticks "$w") - a ))
    [ "$used" -lt $((hz * 3 / 10)) ] || fail "idle worker $w used $used of $hz clock ticks in a second: it spins"
    idle="$idle $used"
done
echo "ok: idle, each worker used under 30% of a CPU (it sleeps on its queue's fd): clock ticks of $hz in a second:$idle"
# The peer asks for our MAC again: one worker receives the ARP request and
# hands a copy to the other's ring, which wakes it.
ip -n "$MP_NS" neigh flush dev dmng0
get "$TMP/got_arp" || fail "a fetch after the peer forgot our MAC"
[ "$(sha256sum <"$TMP/got_arp" | cut -d' ' -f1)" = "$want" ] || fail "the fetch after the ARP: sha256 mismatch"

# A reload while an old worker still sends a download: the new workers
# find both queues held, wait for theirs (DEMI_DPDK_CLAIM_WAIT_MS) instead
# of exiting, and the connections that reach the lingering worker's queue
# meanwhile (its listener is closed) are handed to the other process
# (stacks/inet forward_stray): never refused, and no SYN left to the
# client's retries (the netns kernel's TcpExtTCPSynRetrans). Linux does
# neither at a reload.
old_workers=$(pgrep -P "$(cat "$TMP/nginx.pid")" | sort | tr '\n' ' ')
head -c $((8 << 20)) /dev/urandom >"$TMP/html/slow.bin"
want_slow=$(sha256sum <"$TMP/html/slow.bin" | cut -d' ' -f1)
echo small >"$TMP/html/small.txt"
synretrans() { ip netns exec "$MP_NS" nstat -az TcpExtTCPSynRetrans | awk '$1 == "TcpExtTCPSynRetrans" {print $2}'; }
retrans0=$(synretrans)
ip netns exec "$MP_NS" timeout 60 curl -fsS --limit-rate 1M -o "$TMP/slow" "http://10.9.8.1/slow.bin" &
slow=$!
sleep 0.5
kill -HUP "$(cat "$TMP/nginx.pid")"
sleep 0.5
ok=0 refused=0
for i in $(seq 20); do
    # a lost SYN would be retried (1 s, 3 s...): fail on the count below,
    # not on a connect timeout
    ip netns exec "$MP_NS" timeout 30 curl -fsS --connect-timeout 20 -o /dev/null "http://10.9.8.1/small.txt" \
        2>>"$TMP/reload_curl.err" && ok=$((ok + 1))
    sleep 0.2
done
retrans=$(( $(synretrans) - retrans0 ))
refused=$(grep -c "Couldn't connect\|Connection refused" "$TMP/reload_curl.err")
[ "$refused" = 0 ] || fail "$refused connections refused during the reload: $(sort "$TMP/reload_curl.err" | uniq -c)"
[ $ok = 20 ] || fail "$ok of 20 fetches during the reload: $(sort "$TMP/reload_curl.err" | uniq -c)"
[ "$retrans" = 0 ] || fail "$retrans SYNs were lost during the reload (the client retried them)"
wait $slow || fail "the download across the reload failed ($?)"
[ "$(sha256sum <"$TMP/slow" | cut -d' ' -f1)" = "$want_slow" ] || fail "the download across the reload: sha256 mismatch"
for _ in $(seq 50); do
    new=$(pgrep -P "$(cat "$TMP/nginx.pid")" | sort | tr '\n' ' ')
    [ "$(mp_owner 0) $(mp_owner 1)" != "0 0" ] && ! echo " $old_workers " | grep -q " $(mp_owner 0) \| $(mp_owner 1) " && break
    sleep 0.2
done
for q in 0 1; do
    o=$(mp_owner $q)
    echo " $old_workers " | grep -q " $o " && fail "queue $q still held by old worker $o after the reload"
    [ "$(ps -o ppid= -p "$o" | tr -d ' ')" = "$(cat "$TMP/nginx.pid")" ] || fail "queue $q is not a new worker's ($o)"
done
grep -q "taken by live processes" "$TMP/out.log" && fail "a new worker gave up waiting for a queue"
echo "ok: a reload during a download: 20 of 20 connections served, none refused or retried, the download intact, new workers on both queues"
stop_nginx
sent=$(awk '$1 == "dpdk.wake_sent" {s += $2} END {print s + 0}' "$STATS")
taken=$(awk '$1 == "dpdk.wake_taken" {s += $2} END {print s + 0}' "$STATS")
[ "$sent" -ge 1 ] && [ "$taken" -ge 1 ] || fail "wake datagrams: $sent sent, $taken taken (the ARP copy and the reload's hand-offs should send some)"
echo "ok: frames handed between the workers woke them: $sent wake datagrams sent, $taken taken"
echo PASS
