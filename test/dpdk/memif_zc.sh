#!/bin/sh
# SPDX-License-Identifier: MIT
# test/dpdk/memif_zc.sh BUILD: the end-to-end memif tests (test_dpdk_stack)
# with the client a memif zero-copy one (DEMI_DPDK_MEMIF_ZC=auto finds
# hugepages): the server reads the client's frames from the client's own
# hugepage memory and writes its own into it. Reserves the hugepages it
# lacks and a private hugetlbfs mount, and gives both back. Root, else skip.
set -u
BUILD=$1
T=$BUILD/test/dpdk/test_dpdk_stack
[ -x "$T" ] || { echo "SKIP: $T not built"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (hugepages)"; exit 77; }
TMP=$(mktemp -d /tmp/demi_memif_zc.XXXXXX)
ORIG=$(cat /proc/sys/vm/nr_hugepages)
ADDED=0
cleanup() {
    mountpoint -q "$TMP/huge" 2>/dev/null && { umount "$TMP/huge" 2>/dev/null || umount -l "$TMP/huge"; }
    [ "$ADDED" = 1 ] && echo "$ORIG" >/proc/sys/vm/nr_hugepages
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
NEED=128 # 256 MiB: the client's two pools of 8191 mbufs and the EAL's own
free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
if [ "${free:-0}" -lt $NEED ]; then
    total=$(awk '/HugePages_Total/ {print $2}' /proc/meminfo)
    echo $((total - free + NEED)) >/proc/sys/vm/nr_hugepages && ADDED=1
    free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
    if [ "${free:-0}" -lt $NEED ]; then
        echo 1 >/proc/sys/vm/compact_memory
        echo $((total - free + NEED)) >/proc/sys/vm/nr_hugepages
        free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
    fi
fi
[ "${free:-0}" -ge $NEED ] || { echo "SKIP: could not reserve $NEED hugepages (free: ${free:-0})"; exit 77; }
# the EAL maps them through memfds (--in-memory); the mount is what tells
# the library that hugepages are usable at all
mkdir -p "$TMP/huge" && mount -t hugetlbfs nodev "$TMP/huge" || { echo "SKIP: cannot mount hugetlbfs"; exit 77; }
DPDK_STACK_ZC=1 "$T"
