#!/bin/sh
# SPDX-License-Identifier: MIT
# Differential run: PROGRAM once on the kernel, once under the preload on
# BACKEND; the outputs must be identical, the preloaded run must really
# have used the datapath, and both must exit 0. ARGS go to both runs.
# usage: run-diff.sh PROGRAM BACKEND LIBRARY [ARGS...]
set -u
prog=$1 be=$2 lib=$(readlink -f "$3")
shift 3
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
name=$(basename "$prog")

# A ThreadSanitizer build (-Db_sanitize=thread): the kernel run is only the
# reference output; its reports would be of the program's own deliberate
# races (diff_thread_close closes an fd another thread blocks on).
tsan=0
ldd "$lib" 2>/dev/null | grep -q 'libtsan\.so' && tsan=1
if [ $tsan = 1 ]; then
  TSAN_OPTIONS="${TSAN_OPTIONS:-}${TSAN_OPTIONS:+:}report_bugs=0" timeout 60 "$prog" "$@" >"$out/kernel.out" 2>"$out/kernel.err"
else
  timeout 60 "$prog" "$@" >"$out/kernel.out" 2>"$out/kernel.err"
fi
krc=$?
if [ $krc -eq 77 ]; then
  echo "SKIP: $(tail -1 "$out/kernel.out")"; exit 77
fi
if [ $krc -ne 0 ]; then
  echo "$name: the kernel run itself failed (exit $krc)"; cat "$out/kernel.out" "$out/kernel.err"; exit 1
fi
# An AddressSanitizer build: its runtime must come first. ThreadSanitizer's
# must not: the program must call our hooks directly, with TSan's
# interceptors below them (between the preload and libc). Above them, TSan
# would not see the preload's mutexes - inside the interceptor of a
# blocking call (recv, epoll_wait) it ignores the interceptors called - and
# would report every access made under the shim's lock.
pre=$(ldd "$lib" 2>/dev/null | awk '/libasan\.so/ {print $3}')
env LD_PRELOAD="${pre:+$pre }$lib" ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}" DEMI_BACKEND="$be" DEMI_LOG=info DEMI_LINGER_MS=1000 \
  timeout 60 "$prog" "$@" >"$out/demi.out" 2>"$out/demi.err"
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
if grep -q "WARNING: ThreadSanitizer" "$out/demi.err"; then
  echo "$name: FAIL: ThreadSanitizer reports under the preload ($be):"
  grep "^SUMMARY: ThreadSanitizer" "$out/demi.err" | sort | uniq -c
  # every report whole, then the usual tail
  sed -n '/^WARNING: ThreadSanitizer/,/^SUMMARY: ThreadSanitizer/p' "$out/demi.err"; fail=1
fi
if [ $fail -ne 0 ]; then
  echo "--- preload stderr (last 30 lines)"; tail -30 "$out/demi.err"; exit 1
fi
echo "$name over $be: $(wc -l <"$out/kernel.out") lines identical"
exit 0
