# SPDX-License-Identifier: MIT
# Sourced by the multi-process tests (test/dpdk/mp.sh, test/dpdk/mp-nginx.sh):
# hugepages, a private hugetlbfs, a netns with a tap port owned by
# demi-dpdk-primary, and its queue table. Everything is undone by mp_cleanup.
# Needs: TMP (made 0755 here), BUILD.
MP_ORIG_HUGE=$(cat /proc/sys/vm/nr_hugepages 2>/dev/null || echo 0)
MP_HUGE_ADDED=0
MP_PRIMARY=""
MP_NS=""
MP_PREFIX=dmmp_$$
MP_PIDS=""

mp_skip() { echo "SKIP: $*"; exit 77; }

mp_cleanup() {
    for p in $MP_PIDS; do kill -9 "$p" 2>/dev/null; done
    if [ -n "$MP_PRIMARY" ]; then
        kill "$MP_PRIMARY" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$MP_PRIMARY" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$MP_PRIMARY" 2>/dev/null
    fi
    [ -n "$MP_NS" ] && ip netns del "$MP_NS" 2>/dev/null
    # the secondaries' and the primary's pages keep the mount busy until
    # they are gone: retry, then detach it lazily (freed at the last unmap)
    for _ in $(seq 25); do
        mountpoint -q "$TMP/huge" 2>/dev/null || break
        umount "$TMP/huge" 2>/dev/null && break
        sleep 0.2
    done
    mountpoint -q "$TMP/huge" 2>/dev/null && umount -l "$TMP/huge" 2>/dev/null
    [ "$MP_HUGE_ADDED" = 1 ] && echo "$MP_ORIG_HUGE" >/proc/sys/vm/nr_hugepages 2>/dev/null
    rm -rf "$TMP"
}

# mp_setup PAGES: root, tun, netns, hugepages (PAGES more 2 MiB pages)
mp_setup() {
    [ "$(id -u)" = 0 ] || mp_skip "needs root (hugepages, network namespaces)"
    [ -c /dev/net/tun ] || mp_skip "no /dev/net/tun"
    [ -x "$BUILD/demi-dpdk-primary" ] || mp_skip "demi-dpdk-primary not built (no libdpdk)"
    chmod 755 "$TMP"
    MP_NS=demi_mp_$$
    ip netns add "$MP_NS" 2>/dev/null || { MP_NS=""; mp_skip "cannot create a network namespace"; }
    ip -n "$MP_NS" link set lo up
    local free
    free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
    # only what is missing (the kernel may not find many more contiguous pages)
    if [ "${free:-0}" -lt "$1" ]; then
        # pages in use (other processes' surplus ones too) stay; add what
        # is missing, compacting memory first if the kernel finds too few
        # free 2 MiB blocks (a machine up for hours)
        local tries
        for tries in 1 2; do
            local total used
            total=$(awk '/HugePages_Total/ {print $2}' /proc/meminfo)
            free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
            used=$((${total:-0} - ${free:-0}))
            [ "${free:-0}" -ge "$1" ] && break
            [ "$tries" = 2 ] && echo 1 >/proc/sys/vm/compact_memory 2>/dev/null
            echo $((used + $1)) >/proc/sys/vm/nr_hugepages 2>/dev/null && MP_HUGE_ADDED=1
        done
    fi
    free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
    [ "${free:-0}" -ge "$1" ] || mp_skip "could not reserve $1 hugepages (free: ${free:-0})"
    mkdir -p "$TMP/huge" && mount -t hugetlbfs nodev "$TMP/huge" || mp_skip "cannot mount hugetlbfs"
}

# mp_primary IFACE QUEUES [GROUP]: the primary in the netns on net_tap IFACE;
# the tap gets the Linux peer's address 10.9.8.2/24 (ours: 10.9.8.1)
mp_primary() {
    local iface=$1 q=$2 grp=${3:-}
    ip netns exec "$MP_NS" env DEMI_LOG=info DEMI_DPDK_PREFIX="$MP_PREFIX" DEMI_DPDK_RUNDIR="$TMP/run" \
        DEMI_DPDK_MP_GROUP="$grp" DEMI_DPDK_ARGS="--vdev=net_tap0,iface=$iface --huge-dir=$TMP/huge -m 256" \
        "$BUILD/demi-dpdk-primary" -q "$q" -R "$TMP/primary.ready" >"${MP_LOG:-$TMP/primary.log}" 2>&1 &
    MP_PRIMARY=$!
    for _ in $(seq 100); do [ -s "$TMP/primary.ready" ] && break; kill -0 $MP_PRIMARY 2>/dev/null || break; sleep 0.1; done
    [ -s "$TMP/primary.ready" ] || { cat "${MP_LOG:-$TMP/primary.log}"; return 1; }
    ip netns exec "$MP_NS" sysctl -qw "net.ipv6.conf.$iface.disable_ipv6=1"
    ip -n "$MP_NS" addr add 10.9.8.2/24 dev "$iface"
    ip -n "$MP_NS" link set "$iface" up
}

# the environment of a secondary
mp_env() {
    echo DEMI_BACKEND=dpdk DEMI_DPDK_PROC=secondary DEMI_DPDK_PREFIX=$MP_PREFIX DEMI_DPDK_RUNDIR=$TMP/run \
        DEMI_IPV4=10.9.8.1/24
}

# mp_table: the primary's queue table now ("queue N: pid P claims C rx R tx T ...")
mp_table() {
    local n
    n=$(grep -c '^queue 0:' "${MP_LOG:-$TMP/primary.log}")
    kill -USR1 "$MP_PRIMARY"
    for _ in $(seq 50); do [ "$(grep -c '^queue 0:' "${MP_LOG:-$TMP/primary.log}")" -gt "$n" ] && break; sleep 0.05; done
    sleep 0.1
    grep '^queue ' "${MP_LOG:-$TMP/primary.log}" | tail -n "$(sed -n 's/.*, \([0-9]*\) queues, prefix.*/\1/p' "${MP_LOG:-$TMP/primary.log}" | head -1)"
}

# mp_owner Q: the pid owning queue Q (0: free)
mp_owner() { mp_table | sed -n "s/^queue $1: pid \([0-9-]*\) .*/\1/p"; }
# mp_field Q NAME: a number of queue Q's line
mp_field() { mp_table | sed -n "s/^queue $1: .* $2 \([0-9]*\).*/\1/p"; }
