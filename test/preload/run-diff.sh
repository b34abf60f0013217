#!/bin/sh
# SPDX-License-Identifier: MIT
# Differential run: PROGRAM once on the kernel, once under the preload on
# BACKEND; the outputs must be identical, the preloaded run must really
# have used the datapath, and both must exit 0.
# usage: run-diff.sh PROGRAM BACKEND LIBRARY
set -u
prog=$1 be=$2 lib=$(readlink -f "$3")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
name=$(basename "$prog")

timeout 60 "$prog" >"$out/kernel.out" 2>"$out/kernel.err"
krc=$?
if [ $krc -eq 77 ]; then
  echo "SKIP: $(tail -1 "$out/kernel.out")"; exit 77
fi
if [ $krc -ne 0 ]; then
  echo "$name: the kernel run itself failed (exit $krc)"; cat "$out/kernel.out" "$out/kernel.err"; exit 1
fi
# A sanitizer build (-Db_sanitize=address): its runtime must come first.
pre=$(ldd "$lib" 2>/dev/null | awk '/libasan\.so/ {print $3}')
env LD_PRELOAD="${pre:+$pre }$lib" ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}" DEMI_BACKEND="$be" DEMI_LOG=info DEMI_LINGER_MS=1000 \
  timeout 60 "$prog" >"$out/demi.out" 2>"$out/demi.err"
drc=$?
if grep -q "is not built into this library" "$out/demi.err"; then
  echo "SKIP: backend $be is not built into $lib"; exit 77
fi
if grep -q "did not start" "$out/demi.err"; then
  echo "SKIP: backend $be cannot start here:"; grep "did not start\|error" "$out/demi.err" | head -5; exit 77
fi
fail=0
if ! grep -q "datapath started: backend $be" "$out/demi.err"; then
  echo "$name: FAIL: no socket went through the $be datapath"; fail=1
fi
if ! diff -u "$out/kernel.out" "$out/demi.out"; then
  echo "$name: FAIL: output under the preload ($be) differs from the kernel's (- kernel, + preload)"; fail=1
fi
if [ $drc -ne 0 ]; then
  echo "$name: FAIL: exit $drc under the preload"; fail=1
fi
if [ $fail -ne 0 ]; then
  echo "--- preload stderr (last 30 lines)"; tail -30 "$out/demi.err"; exit 1
fi
echo "$name over $be: $(wc -l <"$out/kernel.out") lines identical"
exit 0
