#!/bin/bash
# SPDX-License-Identifier: MIT
# test/preload/strict.sh PRELOAD_LIB - DEMI_STRICT=1 against every way the
# preload's datapath can fail to start: a backend whose device is missing
# (dpdk without DEMI_DPDK_ARGS, xdp without DEMI_XDP_IFACE), one not built
# into the library (alone, and first of a list with a next one that would
# start). Without DEMI_STRICT the program is served by the kernel and an
# error line says so; with DEMI_STRICT=1 it exits with status 1 at its
# first offloaded socket and a line naming DEMI_STRICT.
set -u
LIB=$1
PY=/usr/bin/python3
# A sanitized build's preload needs the ASan runtime loaded first (as
# run-diff.sh does); leaks of python itself are not ours.
asan=$(ldd "$LIB" 2>/dev/null | awk '/libasan\.so/ {print $3}')
PRE="${asan:+$asan }$LIB"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
TMP=$(mktemp -d /tmp/demi_strict.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; cat "$TMP/out" 2>/dev/null; exit 1; }
prog='import socket
s = socket.socket(); s.bind(("0.0.0.0", 0)); s.listen(); s.settimeout(0.3)
try:
    s.accept()
except socket.timeout:
    pass
print("served")'
run() { # strict backend
    env DEMI_STRICT=$1 DEMI_BACKEND=$2 DEMI_IPV4=10.9.9.1/24 DEMI_LOG=warn DEMI_DPDK_ARGS= DEMI_XDP_IFACE= \
        LD_PRELOAD="$PRE" timeout 30 $PY -c "$prog" >"$TMP/out" 2>&1
}
cases="nosuch nosuch,posix"
built=$(env DEMI_BACKEND=nosuch DEMI_STRICT=1 LD_PRELOAD="$PRE" $PY -c "$prog" 2>&1 | sed -n 's/.*(built: \(.*\)).*/\1/p')
case "$built" in *dpdk*) cases="dpdk $cases" ;; esac
case "$built" in *xdp*) cases="xdp $cases" ;; esac
for be in $cases; do
    run 0 "$be"; rc=$?
    [ $rc = 0 ] && grep -q '^served' "$TMP/out" || fail "$be without DEMI_STRICT: rc $rc, expected the kernel fallback"
    if [ "$be" != nosuch,posix ]; then
        grep -q "error shim: the datapath did not start" "$TMP/out" || fail "$be: no error line for the fallback"
    fi
    run 1 "$be"; rc=$?
    [ $rc = 1 ] || fail "$be with DEMI_STRICT=1: rc $rc, expected 1"
    grep -q '^served' "$TMP/out" && fail "$be with DEMI_STRICT=1: the program went on"
    grep -q "DEMI_STRICT=1: exiting" "$TMP/out" || fail "$be with DEMI_STRICT=1: no message"
    echo "ok: $be: kernel fallback by default, fatal with DEMI_STRICT=1"
done
# a datapath that starts is not affected
env DEMI_STRICT=1 DEMI_BACKEND=posix LD_PRELOAD="$PRE" timeout 30 $PY -c "$prog" >"$TMP/out" 2>&1 &&
    grep -q '^served' "$TMP/out" || fail "posix with DEMI_STRICT=1"
echo "ok: posix with DEMI_STRICT=1 serves"
echo PASS
