#!/bin/sh
# SPDX-License-Identifier: MIT
# An inherited listening socket (exec) is adopted and offloaded by the new
# program under the preload; the exchange works as on the kernel. Twice: a
# listener never used before the exec, and one the parent already served
# through the datapath (its kernel socket must listen again for the exec).
# usage: inherit.sh LIBRARY BACKEND
set -u
lib=$(readlink -f "$1") be=$2
here=$(dirname "$0")
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
pre=$(ldd "$lib" 2>/dev/null | awk '/libasan\.so/ {print $3}')
[ -n "$pre" ] && lib="$pre $lib" && export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
for mode in fresh used; do
[ $mode = used ] && export INHERIT_USED=1
timeout 30 python3 "$here/inherit.py" >"$out/kernel.out" 2>&1 || { echo "kernel run failed"; cat "$out/kernel.out"; exit 1; }
env LD_PRELOAD="$lib" DEMI_BACKEND="$be" DEMI_LOG=debug timeout 30 python3 "$here/inherit.py" >"$out/demi.out" 2>"$out/err"
rc=$?
if grep -q "is not built into this library" "$out/err"; then echo "SKIP: $be not built"; exit 77; fi
fail=0
diff -u "$out/kernel.out" "$out/demi.out" || fail=1
[ $rc = 0 ] || fail=1
grep -q "inherited listening TCP socket" "$out/err" || { echo "the exec'd program did not adopt the listener"; fail=1; }
grep -q "listening TCP socket .* offloaded" "$out/err" || { echo "the inherited listener was not offloaded"; fail=1; }
if [ $fail = 1 ]; then echo "FAIL ($mode listener)"; grep -v "offload candidate" "$out/err" | tail -15; exit 1; fi
echo "$mode listener: inherited, adopted and offloaded over $be; exchange identical to the kernel's"
done
