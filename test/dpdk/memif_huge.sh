#!/bin/sh
# SPDX-License-Identifier: MIT
# test/dpdk/memif_huge.sh BUILD: memif clients on hugepage files: (1) the
# end-to-end memif tests (test_dpdk_stack) with the client on hugepages,
# after which none of its files may be left in the mount (--huge-unlink:
# they would hold their pages until deleted); (2) test_dpdk_memif_clients
# with its 30 clients on hugepages, some killed mid-transfer. Reserves the
# hugepages it lacks and a private hugetlbfs mount, and gives both back.
# Root, else skip.
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
# the client maps them through files in the first hugetlbfs mount: this
# one, unless the machine has its own (then the check looks there too)
huge_mount "$TMP/huge" || { echo "SKIP: cannot mount hugetlbfs"; exit 77; }
DIRS=$(awk '$3 == "hugetlbfs" {print $2}' /proc/mounts)
left() { for d in $DIRS; do ls "$d"; done 2>/dev/null | grep -c "^demi$1map_"; }
echo "== a client on hugepage files"
DPDK_STACK_HUGE=1 "$T" &
P=$!
wait $P || exit 1
n=$(left $P)
[ "$n" = 0 ] || { echo "FAIL: $n hugepage files of the client (prefix demi$P) left"; exit 1; }
echo "no hugepage file of the client left"
echo "== a memif server and 30 clients on hugepages, some killed mid-transfer"
DPDK_CLIENTS_HUGE=1 "$BUILD/test/dpdk/test_dpdk_memif_clients" || exit 1
