#!/bin/sh
# SPDX-License-Identifier: MIT
# scm-rights.sh PROGRAM LIBRARY BACKEND: a connection of the datapath
# passed over a unix socket (SCM_RIGHTS) would reach the other process as
# its kernel placeholder: the preload says so, once (shim/README.md).
set -u
prog=$1 lib=$(readlink -f "$2") be=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/preloaded.sh"
preloaded "$be" "$tmp/out" "$tmp/err" "$prog"
rc=$?
fail() { echo "FAIL: $*"; cat "$tmp/out"; tail -5 "$tmp/err"; exit 1; }
[ $rc = 0 ] || fail "exit $rc"
grep -q "datapath started: backend $be" "$tmp/err" || fail "no socket went through the $be datapath"
n=$(grep -c "passed to another process (SCM_RIGHTS)" "$tmp/err")
[ "$n" = 1 ] || fail "$n warnings about the passed socket (want 1)"
echo "the passed socket was reported once"
