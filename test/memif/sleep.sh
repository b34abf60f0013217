#!/bin/sh
# SPDX-License-Identifier: MIT
# test/memif/sleep.sh BUILD_DIR: preloaded programs on our memif device
# sleep when they have nothing to do, and wake for the next frame. A
# redis-server (server role) with no client, then with a redis-cli
# (client role) connected and silent for 2 s, must each use under 30% of
# a CPU (spinning: 100%); the PING the client sends after its silence
# must be answered at once: the wake slices are 5 s, so a lost wake-up
# (the peer never told to signal, or its signal missed) shows as a
# 5-second answer.
set -u
BUILD=${1:-build}
if [ "${DEMI_TEST_SANITIZED:-}" = 1 ]; then
    echo "SKIP: sanitized build (ASan cannot be preloaded into redis, not built with it)"
    exit 77
fi
LIB=$BUILD/interpose/libdemi-preload.so
[ -f "$LIB" ] || { echo "SKIP: no preload library"; exit 77; }
for t in redis-server redis-cli; do
    command -v $t >/dev/null || { echo "SKIP: $t not installed (scripts/deps.sh test)"; exit 77; }
done
TMP=$(mktemp -d /tmp/demi_memif_sleep.XXXXXX)
SRV=""
cleanup() {
    [ -n "$SRV" ] && kill "$SRV" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
fail() {
    echo "FAIL: $*"
    tail -n 20 "$TMP/srv.log"
    exit 1
}
PORT=$(python3 "$(dirname "$0")/../free_port.py" 2>/dev/null || echo 6391)
common="DEMI_BACKEND=memif DEMI_MEMIF_SOCKET=$TMP/m.sock DEMI_WAKE_SLICE_MS=5000 DEMI_HELPER_US=0 DEMI_LOG=warn LD_PRELOAD=$LIB"
env $common DEMI_MEMIF_ROLE=server DEMI_IPV4=10.79.0.1/24 timeout 60 \
    redis-server --port "$PORT" --protected-mode no --save '' --appendonly no --dir "$TMP" >"$TMP/srv.log" 2>&1 &
SRV=$!
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
hz=$(getconf CLK_TCK)
sleep 1
kill -0 "$SRV" 2>/dev/null || fail "redis-server did not start"
RS=$(pgrep -P "$SRV" redis-server | head -n 1)   # timeout's child
[ -n "$RS" ] || fail "no redis-server process under $SRV"
t0=$(ticks $RS); sleep 2; t1=$(ticks $RS)
idle=$((t1 - t0))
echo "redis-server, no client: $idle ticks of $((2 * hz)) in 2 s"
[ "$idle" -lt $((2 * hz * 30 / 100)) ] || fail "an idle server spins ($idle ticks in 2 s)"
start=$(date +%s%N)
(sleep 2; echo PING; sleep 1) | env $common DEMI_IPV4=10.79.0.2/24 DEMI_MEMIF_LINK_WAIT_MS=3000 \
    timeout 30 redis-cli -h 10.79.0.1 -p "$PORT" >"$TMP/cli.out" 2>&1 &
CLI=$!
sleep 1
cp=$(pgrep -P "$CLI" redis-cli | head -n 1)
[ -n "$cp" ] || fail "no redis-cli process"
s0=$(ticks $RS) c0=$(ticks "$cp"); sleep 0.8; s1=$(ticks $RS) c1=$(ticks "$cp")
echo "client connected and silent: server $((s1 - s0)), client $((c1 - c0)) ticks of $((hz * 8 / 10)) in 0.8 s"
wait $CLI
end=$(date +%s%N)
ms=$(( (end - start) / 1000000 ))
grep -q PONG "$TMP/cli.out" || fail "no PONG: $(cat "$TMP/cli.out")"
echo "PING after 2 s of silence answered; the client ran ${ms} ms (3,000 of them asleep)"
[ $((s1 - s0)) -lt $((hz * 8 / 10 * 30 / 100)) ] || fail "the server spins with a silent client ($((s1 - s0)) ticks)"
[ $((c1 - c0)) -lt $((hz * 8 / 10 * 30 / 100)) ] || fail "the silent client spins ($((c1 - c0)) ticks)"
[ "$ms" -lt 5000 ] || fail "the client ran $ms ms: a lost wake-up (slices of 5 s)"
echo "PASS"
