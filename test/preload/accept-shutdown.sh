#!/bin/sh
# SPDX-License-Identifier: MIT
# accept-shutdown.sh PROGRAM LIBRARY: diff_accept_shutdown under the uring
# preload: a listener the application shuts down costs only itself its
# multishot accept. Its EINVAL had been taken for a kernel that refuses
# multishot accepts, turning them off for every listener, with a warning.
set -u
prog=$1 lib=$(readlink -f "$2")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/preloaded.sh"
preloaded uring "$tmp/out" "$tmp/err" "$prog"
rc=$?
fail() { echo "FAIL: $*"; cat "$tmp/out"; tail -5 "$tmp/err"; exit 1; }
[ $rc = 0 ] || fail "exit $rc"
grep -q "datapath started: backend uring" "$tmp/err" || fail "no socket went through the uring datapath"
grep -q "features in use: multishot_accept" "$tmp/err" || { echo "SKIP: no multishot accept here"; exit 77; }
grep -q "blocked accept: EINVAL" "$tmp/out" || fail "the blocked accept did not fail with EINVAL"
[ "$(grep -c ': accepted' "$tmp/out")" = 3 ] || fail "the other listener did not accept its 3 connections"
if grep -q "multishot accept refused" "$tmp/err"; then
  fail "the shut listener's EINVAL turned multishot accepts off: $(grep 'multishot accept refused' "$tmp/err")"
fi
echo "the shut listener failed its accepts; multishot accepts stayed on"
