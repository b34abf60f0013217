#!/bin/sh
# SPDX-License-Identifier: MIT
# test/memif/bad_peer.sh BUILD_DIR: our memif server (devices/memif, the
# native-API echo server on DEMI_BACKEND=memif) against a client that
# gets the protocol wrong eight ways (bad_peer.py), with a good client
# before and after: the server must refuse each bad one with a reason,
# drop descriptors that point outside the memory it was given, never
# crash, and serve the next good client byte for byte. Its counters must
# show it (memif.ctl_bad, memif.rx_bad_desc).
set -u
BUILD=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d /tmp/demi_memif_bad.XXXXXX)
SRV=""
cleanup() {
    [ -n "$SRV" ] && kill "$SRV" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
fail() {
    echo "FAIL: $*"
    echo "--- server log"
    tail -n 30 "$TMP/srv.log"
    exit 1
}
[ -x "$BUILD/bench/dpdk/demi_tcp_pingpong" ] || { echo "SKIP: no bench/dpdk/demi_tcp_pingpong (-Dbench=false)"; exit 77; }
common="DEMI_BACKEND=memif DEMI_MEMIF_SOCKET=$TMP/m.sock DEMI_MEMIF_ABSTRACT=0 DEMI_LOG=info"
env $common DEMI_MEMIF_ROLE=server DEMI_IPV4=10.9.0.1/24 DEMI_STATS="$TMP/stats" \
    timeout 120 "$BUILD/test/dpdk/demi_echo_server" -a 10.9.0.1 -p 7 -t 4 >"$TMP/srv.log" 2>&1 &
SRV=$!
for _ in $(seq 50); do
    [ -S "$TMP/m.sock" ] && break
    sleep 0.1
done
[ -S "$TMP/m.sock" ] || fail "the server did not listen"
good() { # a client on our memif device: 2000 echoes of 64 B, checked
    env $common DEMI_MEMIF_LINK_WAIT_MS=5000 DEMI_IPV4=10.9.0.2/24 \
        timeout 60 "$BUILD/bench/dpdk/demi_tcp_pingpong" client -a 10.9.0.1 -p 7 -n 2000 -s 64 >"$TMP/good.out" 2>&1 ||
        fail "good client $1: $(tail -n 3 "$TMP/good.out")"
    grep -q '^RESULT demi_tcp' "$TMP/good.out" || fail "good client $1 gave no result"
    echo "good client $1: $(grep '^RESULT' "$TMP/good.out")"
}
good 1
python3 "$here/bad_peer.py" "$TMP/m.sock" 10.9.0.1 || fail "bad_peer.py"
kill -0 "$SRV" 2>/dev/null || fail "the server died"
good 2
wait "$SRV"
rc=$?
SRV=""
[ "$rc" = 0 ] || fail "the server exited $rc"
stat() { sed -n "s/^.*memif\.$1[ =:]*\([0-9][0-9]*\).*$/\1/p" "$TMP/stats" | tail -n 1; }
cat "$TMP/stats" | grep memif
bad=$(stat ctl_bad) desc=$(stat rx_bad_desc) conn=$(stat connects)
[ "${bad:-0}" -ge 6 ] || fail "memif.ctl_bad is ${bad:-0}, want >= 6"
[ "${desc:-0}" -ge 3 ] || fail "memif.rx_bad_desc is ${desc:-0}, want >= 3"
[ "${conn:-0}" -ge 5 ] || fail "memif.connects is ${conn:-0}, want >= 5"
echo "PASS: eight bad clients refused, two good ones served"
