#!/bin/bash
# SPDX-License-Identifier: MIT
# test/dpdk/mp.sh BUILD_DIR - one DPDK port shared by processes:
# demi-dpdk-primary owns a net_tap port with 2 queue pairs (hugepages and a
# private hugetlbfs reserved here, a netns whose kernel is the Linux peer),
# and two secondaries (our echo server, native API) each claim a queue.
#  0. the first secondary alone: it polls the free queue too, so 16
#     connections of 1 MiB are all echoed, those tap places on queue 1
#     too (before: lost);
#     The primary's tap fds do not signal it per frame (O_ASYNC off). It
#     sleeps on both queues' fds (its wait set), and on its own only once
#     a second secondary claimed queue 1.
#  1. 16 connections at once, 1 MiB each echoed byte-exact, then 100
#     connections: both queues carry frames (the primary's table);
#  2. 12 transfers of 64 MiB (32 MiB under ASan); one secondary is
#     SIGKILLed in the middle: the other stays up and its transfers
#     finish byte-exact;
#  3. a third secondary, as user nobody (the primary gives group nogroup its
#     files), reclaims the dead one's queue; 16 x 1 MiB byte-exact again
#     with both queues in use;
#  4. two secondaries that listen 3 s after they came up: a connection
#     made meanwhile is not refused (its SYN is dropped, then served).
# Exit 77 without root, tun, netns or hugepages.
set -u
BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
ECHO=$BUILD/test/dpdk/demi_echo_server
TMP=$(mktemp -d /tmp/demi_mp.XXXXXX)
. "$HERE/mp_lib.sh"
. "$HERE/tap_lib.sh"
trap mp_cleanup EXIT INT TERM
fail() { echo "FAIL: $*"; for f in "$TMP"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 15 "$f"; }; done; exit 1; }

[ -x "$ECHO" ] || fail "build first: $ECHO"
mp_setup 160
mp_primary dmmp0 2 nogroup || fail "demi-dpdk-primary did not start"
peer() { ip netns exec "$MP_NS" timeout 60 $PY "$HERE/peer.py" "$@"; }
# secondary NAME [setpriv args]: our echo server, claiming a queue
secondary() {
    local name=$1; shift
    ip netns exec "$MP_NS" env $(mp_env) DEMI_LOG=info "$@" "$ECHO" -a 10.9.8.1 -p 7 -t 60 \
        >"$TMP/$name.log" 2>&1 &
    MP_PIDS="$MP_PIDS $!"
    eval "PID_$name=$!"
    for _ in $(seq 150); do grep -qs "echo server on" "$TMP/$name.log" && return 0; sleep 0.1; done
    fail "secondary $name did not start"
}
secondary s1
peer multi 10.9.8.1 7 16 $((1 << 20)) || fail "16 x 1 MiB echo with one secondary on the 2 queues"
a1=$(mp_field 1 rx)
grep -q "queue 1 has no process: polled by this one" "$TMP/s1.log" || fail "s1 did not poll the free queue 1"
[ "${a1:-0}" -gt 0 ] || fail "queue 1, free, carried no frames (rx $a1)"
echo "ok: one secondary alone, 16 x 1 MiB byte-exact over both queues (the free queue 1: $a1 frames)"
# what it sleeps on: its queue's fd and the free queue's it polls
w=$(tap_wait_tuns "$PID_s1")
[ "$w" = 2 ] || fail "s1's wait set holds $w tun fds (its queue's and the free queue's expected)"
echo "ok: s1 sleeps on both queues' fds"
# The primary never receives: its tap queue fds must not signal it per
# frame, or it takes a signal for every frame the secondaries get.
read -r ntun nasync <<<"$(tap_fds_async "$MP_PRIMARY")"
[ "$ntun" -ge 2 ] || fail "the primary holds $ntun tun fds (2 queues expected)"
[ "$nasync" -eq 0 ] || fail "$nasync of the primary's $ntun tun fds still signal it per frame (O_ASYNC)"
echo "ok: the primary's $ntun tun fds do not signal it per frame"
secondary s2
t=$(mp_table)
echo "$t"
q0=$(mp_owner 0); q1=$(mp_owner 1)
{ [ "$q0" != 0 ] && [ "$q1" != 0 ] && [ "$q0" != "$q1" ]; } || fail "the two secondaries do not hold one queue each ($q0, $q1)"
echo "ok: two secondaries, one queue each (pids $q0 and $q1)"
# s1 let the queue go: its fd left s1's wait set (checked after a burst)
peer echo 10.9.8.1 7 64 >/dev/null || fail "an echo after s2 came"
w=$(tap_wait_tuns "$PID_s1")
[ "$w" = 1 ] || fail "s1's wait set holds $w tun fds once s2 has queue 1 (1 expected)"
echo "ok: s1 sleeps on its own queue's fd only, once s2 took the other"

peer multi 10.9.8.1 7 16 $((1 << 20)) || fail "16 x 1 MiB echo"
peer conns 10.9.8.1 7 100 || fail "100 connections"
r0=$(mp_field 0 rx); r1=$(mp_field 1 rx)
[ "${r0:-0}" -gt 50 ] && [ "${r1:-0}" -gt 50 ] || fail "both queues must carry frames (rx $r0 and $r1)"
echo "ok: 16 x 1 MiB byte-exact and 100 connections; frames received per queue: $r0 and $r1"

# kill one secondary mid-transfer (smaller transfers under AddressSanitizer,
# whose echo server is slower: the survivor must finish within peer's 60 s)
big=$((64 << 20))
ldd "$ECHO" 2>/dev/null | grep -q libasan && big=$((32 << 20))
peer multi 10.9.8.1 7 12 $big >"$TMP/kill.out" 2>&1 &
MULTI=$!
sleep 0.7
kill -9 "$PID_s1"
wait "$MULTI"
cat "$TMP/kill.out"
kill -0 "$PID_s2" 2>/dev/null || fail "the other secondary died with the killed one"
grep -q "differs" "$TMP/kill.out" && fail "a transfer was not byte-exact"
ok=$(sed -n 's/^multi: \([0-9]*\) of.*/\1/p' "$TMP/kill.out")
[ "${ok:-0}" -ge 1 ] || fail "no transfer finished on the surviving secondary"
[ "$ok" -lt 12 ] || fail "every transfer finished: the kill came too late to test anything"
echo "ok: secondary $PID_s1 killed mid-transfer; $ok of 12 transfers (the survivor's) byte-exact"

# a new secondary, unprivileged, takes the dead one's queue
secondary s3 setpriv --reuid=nobody --regid=nogroup --clear-groups
dead_q=0; [ "$(mp_owner 1)" = "$PID_s1" ] && dead_q=1
[ "$q1" = "$PID_s1" ] && dead_q=1
owner=$(mp_owner $dead_q)
[ "$owner" != "$PID_s1" ] && [ "$owner" != 0 ] || fail "queue $dead_q not reclaimed (owner $owner)"
user=$(ps -o user= -p "$owner" 2>/dev/null | tr -d ' ')
claims=$(mp_field $dead_q claims)
[ "$claims" -ge 2 ] || fail "queue $dead_q claimed $claims times"
echo "ok: queue $dead_q reclaimed by pid $owner (user ${user:-?}), claimed $claims times"
before=$(mp_field $dead_q rx)
peer multi 10.9.8.1 7 16 $((1 << 20)) || fail "16 x 1 MiB echo after the reclaim"
after=$(mp_field $dead_q rx)
[ "${after:-0}" -gt 50 ] || fail "the reclaimed queue carries nothing (rx $before -> $after)"
echo "ok: 16 x 1 MiB byte-exact after the reclaim; the new owner received $after frames"

# 4. servers whose datapath runs a while before they listen (a worker
#    between its start and its listen(); at a reload the old ones closed
#    their listeners): a SYN then finds no process listening, and is
#    dropped (the client sends it again), not refused
kill -9 "$PID_s2" "$owner" 2>/dev/null
for name in s4 s5; do
    ip netns exec "$MP_NS" env $(mp_env) DEMI_LOG=info "$ECHO" -a 10.9.8.1 -p 7 -t 60 -L 3000 \
        >"$TMP/$name.log" 2>&1 &
    MP_PIDS="$MP_PIDS $!"
    for _ in $(seq 150); do grep -qs "datapath up" "$TMP/$name.log" && break; sleep 0.1; done
    grep -q "datapath up" "$TMP/$name.log" || fail "secondary $name did not start"
done
grep -q "echo server on" "$TMP/s4.log" && fail "s4 listened already: nothing to test"
peer once 10.9.8.1 7 >"$TMP/once.out" 2>&1 || { cat "$TMP/once.out"; fail "a connection made while the servers were starting was refused"; }
cat "$TMP/once.out"
took=$(sed -n 's/^once: connected in \([0-9.]*\) s/\1/p' "$TMP/once.out")
awk "BEGIN { exit !(${took:-0} >= 0.9) }" || fail "connected in ${took:-?} s: the first SYN was answered, nothing tested"
echo "ok: a SYN that came before any listener was dropped, not refused; connected in $took s"
mp_table
echo PASS
