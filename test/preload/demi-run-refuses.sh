#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# demi-run-refuses.sh DEMI_RUN: demi-run refuses, with an error, the
# programs LD_PRELOAD cannot reach (their sockets would stay in the kernel
# without a word): a statically linked one (glibc's ldconfig) and a Go one
# (a copy of true(1) carrying Go's build-info magic); --force runs them;
# a dynamic program and a script run as before.
set -u
run=${1:?demi-run}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

static=$(type -P ldconfig || echo /sbin/ldconfig)
if [ -x "$static" ] && LC_ALL=C ldd "$static" 2>&1 | grep -q -E 'not a dynamic executable|statically linked'; then
  out=$("$run" -- "$static" -p 2>&1 >/dev/null); rc=$?
  [ $rc = 1 ] || fail "a static program: exit $rc, want 1"
  echo "$out" | grep -q "error: .*statically linked" || fail "a static program: no error said why: $out"
  "$run" --force -- "$static" -p >/dev/null 2>&1 || fail "--force did not run the static program"
  echo "static ($static): refused, runs with --force"
else
  echo "no statically linked ldconfig here: that case not checked"
fi

cp "$(type -P true)" "$tmp/gosrv"
printf '\377 Go buildinf:\010\002' >>"$tmp/gosrv"
out=$("$run" -- "$tmp/gosrv" 2>&1); rc=$?
[ $rc = 1 ] || fail "a Go program: exit $rc, want 1"
echo "$out" | grep -q "error: .*a Go program" || fail "a Go program: no error said why: $out"
"$run" --force -- "$tmp/gosrv" || fail "--force did not run the Go program"
echo "Go: refused, runs with --force"

"$run" -- true || fail "a dynamic program did not run"
[ "$("$run" -- sh -c 'echo ok')" = ok ] || fail "a script did not run"
echo "dynamic program and script: run"
echo PASS
