#!/bin/bash
# SPDX-License-Identifier: MIT
# test/dpdk/virtio_vhost.sh BUILD_DIR - our stack on both ends of a
# virtio-user <-> vhost-user pair (two processes): TCP ping-pong and a bulk
# transfer acknowledged by the receiver. vhost maps the virtio side's memory
# through file descriptors, so this needs hugepages: the script reserves 192
# 2 MiB pages and mounts a private hugetlbfs, and restores both on exit.
# Exit 77 without root or when the pages cannot be had.
set -u
BUILD=${1:-build}
PP=$BUILD/bench/dpdk/demi_tcp_pingpong
TMP=$(mktemp -d /tmp/demi_vhost.XXXXXX)
HUGE=$TMP/huge
SRV=""
. "$(dirname "$0")/../../scripts/hugepages.sh"
skip() { echo "SKIP: $*"; exit 77; }
cleanup() {
    [ -n "$SRV" ] && kill "$SRV" 2>/dev/null && wait "$SRV" 2>/dev/null
    huge_release # a process that still maps a page keeps the mount busy for a moment
    rm -rf "$TMP" /var/run/dpdk/dmv_$$_*
}
trap cleanup EXIT INT TERM

[ "$(id -u)" = 0 ] || skip "needs root (hugepages)"
[ -x "$PP" ] || { echo "FAIL: build first ($PP)"; exit 1; }
DEMI_BACKEND=dpdk DEMI_IPV4=10.9.5.1/24 "$PP" server -t 0 2>&1 | grep -q "not built into" &&
    skip "no DEMI_BACKEND=dpdk in this build"
huge_reserve 192 || skip "could not reserve hugepages (free: $(huge_free))"
huge_mount "$HUGE" || skip "cannot mount hugetlbfs"
EAL="--huge-dir=$HUGE -m 128 --single-file-segments"
SOCK=$TMP/vhost.sock

env DEMI_BACKEND=dpdk DEMI_IPV4=10.9.5.1/24 DEMI_DPDK_PREFIX=dmv_$$_s DEMI_DPDK_LINK_WAIT_MS=5000 \
    DEMI_DPDK_ARGS="$EAL --vdev=net_vhost0,iface=$SOCK,queues=1" \
    timeout -k 3 100 "$PP" server -a 10.9.5.1 -p 7777 >"$TMP/server.log" 2>&1 &
SRV=$!
for _ in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
client() {
    env DEMI_BACKEND=dpdk DEMI_IPV4=10.9.5.2/24 DEMI_DPDK_PREFIX=dmv_$$_c DEMI_DPDK_LINK_WAIT_MS=5000 \
        DEMI_DPDK_ARGS="$EAL --vdev=net_virtio_user0,path=$SOCK" \
        timeout 60 "$PP" client -a 10.9.5.1 -p 7777 "$@" 2>"$TMP/client.err"
}
r=$(client -n 20000 -s 64 | grep '^RESULT')
[ -n "$r" ] || { echo "FAIL: ping-pong over virtio-user/vhost"; tail "$TMP/client.err" "$TMP/server.log"; exit 1; }
echo "ok: $r"
r=$(client -B $((16 << 20)) | grep '^RESULT')
[ -n "$r" ] || { echo "FAIL: bulk over virtio-user/vhost"; tail "$TMP/client.err" "$TMP/server.log"; exit 1; }
echo "ok: $r"
echo PASS
