#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/dpdk/run.sh [BUILD_DIR] - one run, one table:
#   (1) raw DPDK memif ping-pong between two processes, no stack: the floor
#   (1m) raw frames through our own memif driver's bursts (devices/memif),
#        no stack: that driver's floor (raw_dm_memif)
#   (2) our stack (DEMI_BACKEND=dpdk) over DPDK's memif: TCP echo through the demi API
#   (2m) our stack over our own memif device (DEMI_BACKEND=memif, devices/memif)
#   (3) Linux kernel TCP over loopback, same message pattern
# plus bulk TCP throughput over memif, both ways, against the raw memif
# packet rate. (1), (2) and (2m) run in ROUNDS sets (default 3), one after
# the other within seconds, and so do the raw rate and the two bulks:
# this VM's two vCPUs move between a state where a raw round trip takes
# ~200 ns and one where it takes ~1,050 ns from one process start to the
# next, so a ratio means something only within a set. The table gives
# each set's ratios and their median.
# Environment: N (round trips, default 100000), SIZE (default 64),
# BULK (bytes, default 1 GiB: 64 MiB took milliseconds, mostly slow start), PIN (default 1 with 2+ CPUs: server on CPU 0,
# client on CPU 1, as DPDK deployments pin their polling threads; 0: let
# the scheduler place them, which on 2 CPUs now and then puts both spinners
# on one CPU and turns a round trip into a time slice: milliseconds at p99.9).
# MTU (default 1500): the bulk runs, raw and ours, in frames of MTU+14 B
# (above 1500: memif buffers of a whole frame, bsize=, and DEMI_MTU on both
# ends; devices/dpdk/README.md "Jumbo frames on memif").
# RAW_PMD_DIR: where DPDK's drivers are on a machine without DPDK installed
# (bench/scale/device.sh). Never touches a NIC: memif vdevs, --no-pci.
set -u
BUILD=${1:-build}
B=$BUILD/bench/dpdk
N=${N:-100000}
SIZE=${SIZE:-64}
ROUNDS=${ROUNDS:-3}
BULK=${BULK:-1073741824}
MTU=${MTU:-1500}
FRAME=$((MTU + 14))
BSIZE=""
[ "$MTU" -gt 1500 ] && BSIZE=$(( (FRAME + 1023) / 1024 * 1024 ))
TMP=$(mktemp -d /tmp/demi_bench_dpdk.XXXXXX)
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$TMP" /var/run/dpdk/dmb_$$_*
}
trap cleanup EXIT INT TERM
ON_SRV="" ON_CLI=""
if [ "${PIN:-1}" = 1 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    ON_SRV="taskset -c 0" ON_CLI="taskset -c 1"
fi

for x in raw_memif_pingpong raw_dm_memif demi_tcp_pingpong kernel_tcp_pingpong; do
    [ -x "$B/$x" ] || { echo "missing $B/$x: build first (ninja -C $BUILD)"; exit 1; }
done

field() { # field NAME LINE
    echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# (2) our stack over DPDK's memif, (2m) over our own memif device
dm_env() { # role ip
    echo "DEMI_BACKEND=dpdk DEMI_IPV4=$2/24 DEMI_DPDK_LINK_WAIT_MS=10000 DEMI_LOG=warn DEMI_DPDK_PREFIX=dmb_$$_$1${BSIZE:+ DEMI_MTU=$MTU}"
}
dm_args() { # role: DEMI_DPDK_ARGS (with RAW_PMD_DIR: where DPDK's drivers are)
    b=""
    [ "$1" = client ] && [ -n "$BSIZE" ] && b=",bsize=$BSIZE"
    echo "--vdev=net_memif0,role=$1,socket=$TMP/demi.sock$b${RAW_PMD_DIR:+ -d $RAW_PMD_DIR}"
}
mif_env() { # role ip
    echo "DEMI_BACKEND=memif DEMI_MEMIF_ROLE=$1 DEMI_MEMIF_SOCKET=$TMP/mif.sock DEMI_IPV4=$2/24 DEMI_MEMIF_LINK_WAIT_MS=10000 DEMI_LOG=warn${BSIZE:+ DEMI_MTU=$MTU DEMI_MEMIF_BUF_SIZE=$BSIZE}"
}
demi_server() { # dpdk|memif
    if [ "$1" = dpdk ]; then
        env $(dm_env server 10.9.0.1) DEMI_DPDK_ARGS="$(dm_args server)" $ON_SRV timeout 180 "$B/demi_tcp_pingpong" server -a 10.9.0.1 -p 7777 >>"$TMP/demi_srv.out" 2>&1 &
    else
        env $(mif_env server 10.9.0.1) $ON_SRV timeout 180 "$B/demi_tcp_pingpong" server -a 10.9.0.1 -p 7777 >>"$TMP/mif_srv.out" 2>&1 &
    fi
    SRV=$!
    PIDS="$PIDS $SRV"
    sleep 0.5
}
demi_client() { # dpdk|memif ARGS...: the RESULT line
    w=$1
    shift
    if [ "$w" = dpdk ]; then
        env $(dm_env client 10.9.0.2) DEMI_DPDK_ARGS="$(dm_args client)" $ON_CLI timeout 120 "$B/demi_tcp_pingpong" client -a 10.9.0.1 -p 7777 "$@" \
            2>>"$TMP/demi_cli.err" | grep '^RESULT'
    else
        env $(mif_env client 10.9.0.2) $ON_CLI timeout 120 "$B/demi_tcp_pingpong" client -a 10.9.0.1 -p 7777 "$@" \
            2>>"$TMP/mif_cli.err" | grep '^RESULT'
    fi
}
# (1), (2) and (2m), the echo: ROUNDS sets (the busy-polling server of one
# would share a CPU with the other's, so each runs alone)
RAWS="" RAWMS="" DEMIS="" MIFS="" PAIRS="" MPAIRS="" MMPAIRS=""
for i in $(seq "$ROUNDS"); do
    $ON_SRV timeout 120 "$B/raw_memif_pingpong" server -S "$TMP/raw$i.sock" >"$TMP/raw_srv.out" 2>&1 &
    PIDS="$PIDS $!"
    sleep 0.5
    raw=$($ON_CLI timeout 120 "$B/raw_memif_pingpong" client -S "$TMP/raw$i.sock" -n "$N" -s "$SIZE" 2>>"$TMP/raw_cli.err" | grep '^RESULT')
    wait
    $ON_SRV timeout 120 "$B/raw_dm_memif" server -S "$TMP/rawm$i.sock" >"$TMP/rawm_srv.out" 2>&1 &
    PIDS="$PIDS $!"
    sleep 0.3
    rawm=$($ON_CLI timeout 120 "$B/raw_dm_memif" client -S "$TMP/rawm$i.sock" -n "$N" -s "$SIZE" 2>>"$TMP/raw_cli.err" | grep '^RESULT')
    wait
    demi_server dpdk
    demi=$(demi_client dpdk -n "$N" -s "$SIZE")
    kill $SRV 2>/dev/null
    wait
    demi_server memif
    mif=$(demi_client memif -n "$N" -s "$SIZE")
    kill $SRV 2>/dev/null
    wait
    RAWS="$RAWS|$raw" RAWMS="$RAWMS|$rawm" DEMIS="$DEMIS|$demi" MIFS="$MIFS|$mif"
    [ -n "$raw" ] && [ -n "$demi" ] && PAIRS="$PAIRS $(field p50 "$raw")/$(field p50 "$demi")"
    [ -n "$raw" ] && [ -n "$mif" ] && MPAIRS="$MPAIRS $(field p50 "$raw")/$(field p50 "$mif")"
    [ -n "$rawm" ] && [ -n "$mif" ] && MMPAIRS="$MMPAIRS $(field p50 "$rawm")/$(field p50 "$mif")"
done
# bulk: ROUNDS sets of the raw packet rate (frames of the MTU), then our
# bulk TCP over each memif (this machine is shared: a set can land on a
# busy CPU, and the VM's state moves between sets)
RATES="" MRATES="" BULKS="" MBULKS="" BPAIRS="" MBPAIRS="" MMBPAIRS=""
for i in $(seq "$ROUNDS"); do
    $ON_SRV timeout 60 "$B/raw_memif_pingpong" server -b ${BSIZE:+-m $BSIZE} -S "$TMP/rate$i.sock" >"$TMP/rate_srv.out" 2>&1 &
    PIDS="$PIDS $!"
    sleep 0.5
    $ON_CLI timeout 60 "$B/raw_memif_pingpong" client -b ${BSIZE:+-m $BSIZE} -s $FRAME -t 2 -S "$TMP/rate$i.sock" >/dev/null 2>&1
    wait
    r=$(field gbps "$(grep '^RESULT' "$TMP/rate_srv.out")")
    RATES="$RATES $r"
    rm=""
    if [ -z "$BSIZE" ]; then # our driver's rate, frames of the MTU (2048 B buffers)
        $ON_SRV timeout 60 "$B/raw_dm_memif" server -b -S "$TMP/ratem$i.sock" >"$TMP/ratem_srv.out" 2>&1 &
        PIDS="$PIDS $!"
        sleep 0.3
        $ON_CLI timeout 60 "$B/raw_dm_memif" client -b -s $FRAME -t 2 -S "$TMP/ratem$i.sock" >/dev/null 2>&1
        wait
        rm=$(field gbps "$(grep '^RESULT' "$TMP/ratem_srv.out")")
    fi
    MRATES="$MRATES $rm"
    demi_server dpdk
    b=$(field gbps "$(demi_client dpdk -B "$BULK")")
    kill $SRV 2>/dev/null
    wait
    demi_server memif
    m=$(field gbps "$(demi_client memif -B "$BULK")")
    kill $SRV 2>/dev/null
    wait
    BULKS="$BULKS $b" MBULKS="$MBULKS $m"
    [ -n "$r" ] && [ -n "$b" ] && BPAIRS="$BPAIRS $(echo "scale=0; 100 * $b / $r" | bc)"
    [ -n "$r" ] && [ -n "$m" ] && MBPAIRS="$MBPAIRS $(echo "scale=0; 100 * $m / $r" | bc)"
    [ -n "$rm" ] && [ -n "$m" ] && MMBPAIRS="$MMBPAIRS $(echo "scale=0; 100 * $m / $rm" | bc)"
done

# (3) kernel TCP over loopback
$ON_SRV timeout 120 "$B/kernel_tcp_pingpong" server -p 17778 >/dev/null 2>&1 &
PIDS="$PIDS $!"
sleep 0.3
KERN=$($ON_CLI timeout 120 "$B/kernel_tcp_pingpong" client -p 17778 -n "$N" -s "$SIZE" | grep '^RESULT')
wait

row() { # label resultline
    if [ -n "$2" ]; then
        printf '%-34s %10s %10s %10s\n' "$1" "$(field p50 "$2")" "$(field p99 "$2")" "$(field p999 "$2")"
    else
        printf '%-34s %10s\n' "$1" "n/a"
    fi
}
median() { # numbers -> the middle one (the lower of two)
    echo "$@" | tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}
echo "round trips: $N x $SIZE B messages (RTT in ns)${ON_SRV:+, server on CPU 0 and client on CPU 1}, $ROUNDS sets"
printf '%-34s %10s %10s %10s\n' "" p50 p99 p99.9
DEMI="" D50S=""
for i in $(seq "$ROUNDS"); do
    raw=$(echo "$RAWS" | cut -d'|' -f$((i + 1))) demi=$(echo "$DEMIS" | cut -d'|' -f$((i + 1)))
    mif=$(echo "$MIFS" | cut -d'|' -f$((i + 1))) rawm=$(echo "$RAWMS" | cut -d'|' -f$((i + 1)))
    row "(1) raw DPDK memif (floor), set $i" "$raw"
    row "(1m) raw, our memif driver, set $i" "$rawm"
    row "(2) demi TCP, DPDK memif, set $i" "$demi"
    row "(2m) demi TCP, our memif, set $i" "$mif"
    [ -n "$demi" ] && DEMI=$demi D50S="$D50S $(field p50 "$demi")"
done
row "(3) Linux kernel TCP, loopback" "$KERN"
ratios() { # a/b pairs -> b/a each, two decimals
    for p in "$@"; do echo "scale=2; ${p#*/} / ${p%/*}" | bc; done | tr '\n' ' '
}
if [ -n "$PAIRS$MPAIRS" ]; then
    R=$(ratios $PAIRS) M=$(ratios $MPAIRS) MM=$(ratios $MMPAIRS)
    echo "(2)/(1) at p50, each set: $R; median $(median $R) (issue 15: <= 2.0)"
    echo "(2m)/(1) at p50, each set: $M; median $(median $M)"
    echo "(2m)/(1m) at p50, each set: $MM; median $(median $MM) (against its own driver's floor)"
fi
R2=$(median $D50S); R3=$(field p50 "$KERN")
if [ -n "$R2" ] && [ -n "$R3" ]; then
    echo "(3)/(2) at p50: $(echo "scale=2; $R3 / $R2" | bc) (target >= 10)"
fi
echo
echo "bulk, $ROUNDS sets: raw memif rate ($FRAME B frames, no stack), then our TCP ($BULK bytes, MTU $MTU) over each memif, Gbit/s"
echo "  raw DPDK memif rate:     $RATES"
echo "  raw, our memif driver:  $MRATES"
echo "  demi TCP, DPDK memif:   $BULKS   % of raw DPDK, each set: $BPAIRS; median $(median $BPAIRS)% (issue 15: >= 80%)"
echo "  demi TCP, our memif:    $MBULKS   % of raw DPDK, each set: $MBPAIRS; median $(median $MBPAIRS)%; of our driver's raw rate: $MMBPAIRS"
if [ -z "$DEMI" ]; then
    echo
    echo "(2) failed or is not available (is the inet stack built with DEMI_BACKEND=dpdk?):"
    tail -n 5 "$TMP/demi_srv.out" "$TMP/demi_cli.err"
fi
if [ -z "$MIFS" ] || [ "$MIFS" = "$(printf '|%.0s' $(seq "$ROUNDS"))" ]; then
    echo "(2m) failed:"
    tail -n 5 "$TMP/mif_srv.out" "$TMP/mif_cli.err" 2>/dev/null
fi
