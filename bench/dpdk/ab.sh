#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/dpdk/ab.sh BUILD_A BUILD_B [PAIRS] ["ENV_A"] ["ENV_B"]: the 64 B TCP
# echo over our own memif device (bench/dpdk/run.sh's (2m) row), build A
# then build B, PAIRS times (default 10), with the medians of each side.
#
# Why pairs: this VM's two vCPUs move between a fast state and a slow one
# at process starts (a raw memif round trip ~300 ns or ~1,200 ns), so two
# builds compare only run against neighbouring run; the medians over many
# pairs say more than any one set. ENV_A / ENV_B are extra variables for
# each side (the same build twice with DEMI_CLOCK=sys on one side, say).
# Server on CPU 0, client on CPU 1; N round trips a run (default 100000).
# BULK=BYTES: a bulk transfer of BYTES instead (client sends), in Gbit/s.
set -u
BA=$1 BB=$2 R=${3:-10} EA=${4:-} EB=${5:-}
N=${N:-100000}
BULK=${BULK:-}
TMP=$(mktemp -d /tmp/demi_ab.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
one() { # build env: "p50 p99 p99.9", or "gbps" with BULK
    local B=$1/bench/dpdk s
    [ -x "$B/demi_tcp_pingpong" ] || { echo "missing $B/demi_tcp_pingpong" >&2; exit 1; }
    env $2 DEMI_BACKEND=memif DEMI_MEMIF_ROLE=server DEMI_MEMIF_SOCKET="$TMP/mif.sock" DEMI_IPV4=10.9.0.1/24 \
        DEMI_MEMIF_LINK_WAIT_MS=10000 DEMI_LOG=error taskset -c 0 timeout 60 "$B/demi_tcp_pingpong" server \
        -a 10.9.0.1 -p 7777 >/dev/null 2>&1 &
    s=$!
    sleep 0.4
    env $2 DEMI_BACKEND=memif DEMI_MEMIF_ROLE=client DEMI_MEMIF_SOCKET="$TMP/mif.sock" DEMI_IPV4=10.9.0.2/24 \
        DEMI_MEMIF_LINK_WAIT_MS=10000 DEMI_LOG=error taskset -c 1 timeout 60 "$B/demi_tcp_pingpong" client \
        -a 10.9.0.1 -p 7777 ${BULK:+-B "$BULK"} -n "$N" -s 64 2>/dev/null | grep '^RESULT' |
        sed -e 's/.*p50=\([0-9]*\) p99=\([0-9]*\) p999=\([0-9]*\).*/\1 \2 \3/' -e 's/.*gbps=\([0-9.]*\).*/\1/'
    kill "$s" 2>/dev/null
    wait "$s" 2>/dev/null
}
median() { sort -n | awk '{v[NR]=$1} END {if (NR) print (NR % 2 ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2)}'; }
if [ -n "$BULK" ]; then
    echo "bulk TCP over our memif, $BULK bytes, Gbit/s, A=$BA${EA:+ ($EA)}, B=$BB${EB:+ ($EB)}"
else
    echo "64 B echo over our memif, RTT ns (p50 p99 p99.9), A=$BA${EA:+ ($EA)}, B=$BB${EB:+ ($EB)}"
fi
: >"$TMP/a"; : >"$TMP/b"
for i in $(seq "$R"); do
    a=$(one "$BA" "$EA"); b=$(one "$BB" "$EB")
    echo "pair $i: A $a | B $b"
    echo "$a" >>"$TMP/a"; echo "$b" >>"$TMP/b"
done
for c in 1 2; do
    [ -n "$BULK" ] && [ $c = 2 ] && break
    n=(p50 p99)
    [ -n "$BULK" ] && n=(Gbit/s)
    echo "median ${n[$((c-1))]}: A $(cut -d' ' -f$c "$TMP/a" | median) B $(cut -d' ' -f$c "$TMP/b" | median)"
done
