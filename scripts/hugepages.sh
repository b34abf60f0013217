# SPDX-License-Identifier: MIT
# Sourced by the scripts that need 2 MiB hugepages for a while (bench/dpdk,
# test/dpdk/memif_huge.sh): reserve what is missing, mount a private
# hugetlbfs, and give both back. POSIX sh.
#   huge_reserve N    at least N free pages (adds only what is missing,
#                     compacting memory once if the kernel finds too few);
#                     fails if it cannot
#   huge_mount DIR    a hugetlbfs at DIR (made if needed)
#   huge_release      unmounts (retrying while the last mappings go, then
#                     lazily) and puts vm.nr_hugepages back if we raised it
HUGE_ORIG=$(cat /proc/sys/vm/nr_hugepages 2>/dev/null || echo 0)
HUGE_ADDED=0
HUGE_DIR=""

huge_free() { awk '/HugePages_Free/ {print $2}' /proc/meminfo; }

huge_reserve() {
    _t=1
    while [ "$(huge_free)" -lt "$1" ] && [ $_t -le 2 ]; do
        [ $_t = 2 ] && echo 1 >/proc/sys/vm/compact_memory 2>/dev/null
        _total=$(awk '/HugePages_Total/ {print $2}' /proc/meminfo)
        echo $((_total - $(huge_free) + $1)) >/proc/sys/vm/nr_hugepages 2>/dev/null && HUGE_ADDED=1
        _t=$((_t + 1))
    done
    [ "$(huge_free)" -ge "$1" ]
}

huge_mount() {
    mkdir -p "$1" && mount -t hugetlbfs nodev "$1" && HUGE_DIR=$1
}

huge_release() {
    if [ -n "$HUGE_DIR" ]; then
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            mountpoint -q "$HUGE_DIR" 2>/dev/null || break
            umount "$HUGE_DIR" 2>/dev/null && break
            sleep 0.2
        done
        mountpoint -q "$HUGE_DIR" 2>/dev/null && umount -l "$HUGE_DIR" 2>/dev/null
        HUGE_DIR=""
    fi
    [ "$HUGE_ADDED" = 1 ] && echo "$HUGE_ORIG" >/proc/sys/vm/nr_hugepages 2>/dev/null
    HUGE_ADDED=0
}
