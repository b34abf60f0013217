#!/bin/sh
# SPDX-License-Identifier: MIT
# DEMI_OFFLOAD end to end: with "none" the preload is inert (no datapath,
# same output as the kernel, every decision explained at DEMI_LOG=debug);
# with a port rule that matches nothing, sockets go to the kernel with the
# reason logged; AF_UNIX never becomes a candidate, AF_INET6 does with a
# backend that has inet6 (loop: our own TCP/IP, IPv6 included) and not with
# one without it (rdma, or a backend name that is not registered).
# usage: offload-rules.sh PROGRAM LIBRARY
set -u
prog=$1 lib=$(readlink -f "$2")
# a sanitizer build needs its runtime first
pre=$(ldd "$lib" 2>/dev/null | awk '/libasan\.so/ {print $3}')
[ -n "$pre" ] && lib="$pre $lib" && export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail() { echo "FAIL: $*"; tail -20 "$out/err"; exit 1; }
timeout 60 "$prog" >"$out/kernel.out" 2>/dev/null || fail "kernel run"

env LD_PRELOAD="$lib" DEMI_OFFLOAD=none DEMI_LOG=debug timeout 60 "$prog" >"$out/none.out" 2>"$out/err" || fail "run with DEMI_OFFLOAD=none"
diff -u "$out/kernel.out" "$out/none.out" || fail "output differs with DEMI_OFFLOAD=none"
grep -q "datapath started" "$out/err" && fail "DEMI_OFFLOAD=none started the datapath"
grep -q "stays in the kernel: DEMI_OFFLOAD=none" "$out/err" || fail "no debug line explains DEMI_OFFLOAD=none"

env LD_PRELOAD="$lib" DEMI_OFFLOAD=port=1 DEMI_LOG=debug timeout 60 "$prog" >"$out/rule.out" 2>"$out/err" || fail "run with DEMI_OFFLOAD=port=1"
diff -u "$out/kernel.out" "$out/rule.out" || fail "output differs with a rule matching nothing"
grep -q "offloaded as qd" "$out/err" && fail "a socket was offloaded although no rule matches"
grep -q "no DEMI_OFFLOAD rule matches" "$out/err" || fail "no debug line explains the rule decision"

env LD_PRELOAD="$lib" DEMI_OFFLOAD=bogus DEMI_LOG=warn timeout 60 "$prog" >"$out/bad.out" 2>"$out/err" || fail "run with a bad rule"
grep -q "DEMI_OFFLOAD='bogus' is not accepted" "$out/err" || fail "a bad DEMI_OFFLOAD is not reported"

env LD_PRELOAD="$lib" DEMI_BACKEND=loop DEMI_LOG=debug python3 -c '
import socket
socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()
socket.socket(socket.AF_INET6, socket.SOCK_STREAM).close()
' 2>"$out/err" || fail "python sockets"
grep -q 'stays in the kernel: only AF_INET and AF_INET6 are offloaded' "$out/err" || fail "AF_UNIX not explained"
grep -q 'stays in the kernel: the backend has no IPv6' "$out/err" && fail "AF_INET6 kept in the kernel although loop has inet6"
env LD_PRELOAD="$lib" DEMI_BACKEND=rdma DEMI_LOG=debug python3 -c '
import socket
socket.socket(socket.AF_INET6, socket.SOCK_STREAM).close()
' 2>"$out/err" || fail "python sockets (rdma)"
grep -q 'stays in the kernel: the backend has no IPv6' "$out/err" || fail "AF_INET6 without inet6 not explained"
echo "DEMI_OFFLOAD none / port rule / bad rule / non-INET families: as documented"
