#!/bin/sh
# SPDX-License-Identifier: MIT
# scm-adopt.sh PROGRAM LIBRARY BACKEND: the connections a worker is given
# over a unix socket (SCM_RIGHTS: diff_scm_pass) are served by the
# worker's datapath, not left to the kernel: it adopts each at its first
# use, as a connection inherited through fork.
set -u
prog=$1 lib=$(readlink -f "$2") be=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/preloaded.sh"
PRELOADED_LOG=debug preloaded "$be" "$tmp/out" "$tmp/err" "$prog"
rc=$?
fail() { echo "FAIL: $*"; cat "$tmp/out"; grep -v 'offload candidate' "$tmp/err" | tail -20; exit 1; }
[ $rc = 0 ] || fail "exit $rc"
n=$(grep -c "the kernel's connection again" "$tmp/err")
[ "$n" = 2 ] || fail "the parent handed $n connections back to the kernel (want 2)"
n=$(grep -c "inherited connection adopted as qd" "$tmp/err")
[ "$n" = 2 ] || fail "the worker's datapath adopted $n connections (want 2)"
echo "both connections passed were adopted by the worker's datapath"
