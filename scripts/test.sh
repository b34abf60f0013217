#!/usr/bin/env bash
# Runs every test: installs what is missing, builds twice (plain, and with
# AddressSanitizer + UndefinedBehaviorSanitizer), runs all meson suites in
# both builds (unit, conformance per backend, demo, preload, dpdk, xdp,
# compat), builds a third time with ThreadSanitizer and runs the preload's
# thread tests there (suite 'threads'), runs the fuzz target for a bounded
# time when clang is present, and ends with one line: "N passed, N failed"
# (skips are counted on the line before it).
# Usage: scripts/test.sh [--quick]   (--quick: plain build only)
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
quick=0; [ "${1:-}" = "--quick" ] && quick=1
bash scripts/deps.sh test || { echo "dependency installation failed"; echo "0 passed, 1 failed"; exit 1; }

passed=0 failed=0 skipped=0
count() { # count results of a meson test log (testlog.json)
  local log=$1
  read -r p f s < <(python3 - "$log" <<'PY'
import json, sys
p = f = s = 0
for line in open(sys.argv[1]):
    r = json.loads(line).get("result")
    if r in ("OK", "EXPECTEDFAIL"): p += 1
    elif r == "SKIP": s += 1
    else: f += 1
print(p, f, s)
PY
)
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
}

run_build() { # name, meson options...
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; failed=$((failed + 1)); return; }
  elif [ $# -gt 0 ]; then
    meson configure "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; failed=$((failed + 1)); return; }
  fi
  if ! ninja -C "$dir" >"$dir.build.log" 2>&1; then
    tail -50 "$dir.build.log"; echo "build $dir failed"; failed=$((failed + 1)); return
  fi
  # (with --wrapper W, meson names the log testlog-W.json)
  rm -f "$dir"/meson-logs/testlog*.json; rm -rf "$dir/compat"   # this run's compat table only
  meson test -C "$dir" --num-processes 2 --print-errorlogs --no-rebuild ${DEMI_TEST_ARGS:-} \
    ${DEMI_TEST_WRAPPER:+--wrapper "$DEMI_TEST_WRAPPER"} 2>&1 | tail -n 120
  local log
  for log in "$dir"/meson-logs/testlog*.json; do
    [ -f "$log" ] && count "$log"
  done
}

# ThreadSanitizer: only the preload's thread tests (suite 'threads', over
# posix and uring; DPDK, XDP and RDMA are left out of this build). gcc 12's
# TSan wants at most 28 bits of mmap randomization ("FATAL: ThreadSanitizer:
# unexpected memory mapping" with 32, in some runs): with more, the tests
# run without address randomization (setarch -R), or, lacking setarch, with
# vm.mmap_rnd_bits lowered to 28 for the run (root) and restored after.
tsan_build() {
  echo "== ThreadSanitizer build (the preload's thread tests)"
  local bits wrap="" restore=""
  bits=$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 28)
  if [ "$bits" -gt 28 ]; then
    if command -v setarch >/dev/null; then
      wrap="setarch $(uname -m) -R"
    elif [ "$(id -u)" = 0 ] && sysctl -qw vm.mmap_rnd_bits=28; then
      restore=$bits
    else
      echo "vm.mmap_rnd_bits=$bits and neither setarch nor root: ThreadSanitizer cannot run here"
      skipped=$((skipped + 1)); return
    fi
  fi
  DEMI_TEST_ARGS="${DEMI_TEST_ARGS:-} --suite threads" DEMI_TEST_WRAPPER="$wrap" \
    run_build build-tsan -Db_sanitize=thread -Db_lundef=false -Dbench=false \
      -Ddpdk=disabled -Dxdp=disabled -Drdma=disabled
  if [ -n "$restore" ]; then sysctl -qw vm.mmap_rnd_bits="$restore"; fi
}

echo "== plain build (-O2 -g -Wall -Wextra -Werror)"
run_build build
if [ $quick = 0 ]; then
  echo "== sanitized build (address,undefined)"
  export DEMI_TEST_SANITIZED=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  run_build build-san -Db_sanitize=address,undefined -Db_lundef=false -Dbench=true
  unset DEMI_TEST_SANITIZED
  tsan_build
  if [ -x test/fuzz/run_fuzz.sh ] && command -v clang >/dev/null; then
    echo "== fuzzing (bounded)"
    if test/fuzz/run_fuzz.sh build-fuzz 60; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  fi
fi
echo "${skipped} skipped (exit 77: a device, root or namespace missing)"
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
