#!/bin/sh
# SPDX-License-Identifier: MIT
# test/dpdk/memif_huge.sh BUILD: the end-to-end memif tests (test_dpdk_stack)
# with the client on hugepages, twice: (1) a memif zero-copy client
# (DEMI_DPDK_MEMIF_ZC=auto): the server reads the client's frames from the
# client's own memory and writes its own into it; (2) a copying client on
# hugepage files (DEMI_DPDK_MEMIF_ZC=off), after which none of its files
# may be left in the mount (--huge-unlink: they would hold their pages
# until deleted). Reserves the hugepages it lacks and a private hugetlbfs
# mount, and gives both back. Root, else skip.
set -u
BUILD=$1
T=$BUILD/test/dpdk/test_dpdk_stack
[ -x "$T" ] || { echo "SKIP: $T not built"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (hugepages)"; exit 77; }
TMP=$(mktemp -d /tmp/demi_memif_huge.XXXXXX)
. "$(dirname "$0")/../../scripts/hugepages.sh"
trap 'huge_release; rm -rf "$TMP"' EXIT INT TERM
NEED=128 # 256 MiB: the client's two pools of 8191 mbufs and the EAL's own
huge_reserve $NEED || { echo "SKIP: could not reserve $NEED hugepages (free: $(huge_free))"; exit 77; }
# the zero-copy client maps them through memfds (--in-memory), the copying
# one through files in the first hugetlbfs mount: this one, unless the
# machine has its own (then the check of what is left looks there too)
huge_mount "$TMP/huge" || { echo "SKIP: cannot mount hugetlbfs"; exit 77; }
DIRS=$(awk '$3 == "hugetlbfs" {print $2}' /proc/mounts)
left() { for d in $DIRS; do ls "$d"; done 2>/dev/null | grep -c "^demi$1map_"; }
echo "== zero-copy client"
DPDK_STACK_HUGE=1 "$T" || exit 1
echo "== copying client on hugepage files"
DPDK_STACK_HUGE=1 DEMI_DPDK_MEMIF_ZC=off "$T" &
P=$!
wait $P || exit 1
n=$(left $P)
[ "$n" = 0 ] || { echo "FAIL: $n hugepage files of the client (prefix demi$P) left"; exit 1; }
echo "no hugepage file of the client left"
