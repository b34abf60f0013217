#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test/compat/run.sh [BUILD] [--apps a,b,..] [--backends x,y,..]
# The compatibility matrix: every application (app_<name>.sh) over every
# backend, one cell at a time (cells measure nothing, but the DPDK ones
# busy-poll and a 2-core machine is shared). Each cell prints
# "RESULT PASS|FAIL|SKIP <secs> <reason>" (see lib.sh); a cell that prints
# nothing (killed at its time limit, crashed) is a FAIL. Rows are kept in
# BUILD/compat/rows/ so that separate invocations (one meson test per
# application) add up to one table: BUILD/compat.md, printed at the end.
# Exit: 1 if a cell of this invocation FAILed, 77 if all were skipped, else 0.
set -u
here=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "$here/../.." && pwd)/build
case "${1:-}" in ''|--*) ;; *) BUILD=$1; shift ;; esac
BUILD=$(cd "$BUILD" && pwd) || exit 1
APPS="redis nginx apache memcached sockperf iperf3 node postgres haproxy client"
BACKENDS="kernel posix uring dpdk-memif memif dpdk-tap"
CELL_LIMIT=${COMPAT_CELL_LIMIT:-180}
while [ $# -gt 0 ]; do
  case $1 in
    --apps) APPS=${2//,/ }; shift 2 ;;
    --backends) BACKENDS=${2//,/ }; shift 2 ;;
    *) echo "usage: $0 [BUILD] [--apps a,b] [--backends x,y]" >&2; exit 2 ;;
  esac
done
if [ "${DEMI_TEST_SANITIZED:-}" = 1 ]; then
  echo "SKIP: sanitized build; preloading an ASan-instrumented library into Debian's"
  echo "redis/nginx/... (not built with ASan, which must be the first DSO) is not meaningful."
  exit 77
fi
rows=$BUILD/compat/rows; logs=$BUILD/compat/logs
mkdir -p "$rows" "$logs"

nfail=0 npass=0 nknown=0
for app in $APPS; do
  for be in $BACKENDS; do
    log=$logs/$app.$be.log
    echo "== $app / $be" >&2
    # The cell bounds its own steps; this bounds the whole cell.
    out=$(timeout -k 10 "$CELL_LIMIT" bash "$here/app_$app.sh" "$BUILD" "$be" 2>"$log")
    rc=$?
    line=$(printf '%s\n' "$out" | grep '^RESULT ' | tail -n 1)
    if [ -n "$line" ]; then
      read -r _ st secs reason <<<"$line"
    else
      st=FAIL secs=-
      if [ $rc = 124 ] || [ $rc = 137 ]; then reason="no result within ${CELL_LIMIT} s (killed)"
      else reason="exited with $rc without a result"; fi
    fi
    # A cell's word must agree with its exit code.
    case "$st/$rc" in PASS/0|FAIL/1|SKIP/77) ;; FAIL/*) ;;
      *) reason="said $st but exited $rc: $reason"; st=FAIL ;; esac
    # A cell listed in known-failures.txt that fails is KNOWN-FAIL: shown
    # in the table with the bug it waits for, not counted as a failure; one
    # that passes is a PASS (and should be taken off the list).
    known=$(awk -v a="$app" -v b="$be" '$1 == a && $2 == b { $1 = ""; $2 = ""; sub(/^ +/, ""); print; exit }' \
            "$here/known-failures.txt" 2>/dev/null)
    if [ "$st" = FAIL ] && [ -n "$known" ]; then
      st=KNOWN-FAIL; reason="known: $known; this run: $reason"; nknown=$((nknown + 1))
    elif [ "$st" = PASS ] && [ -n "$known" ]; then
      reason="$reason (listed in known-failures.txt but passed: take it off)"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$app" "$be" "$st" "$secs" "$(date -u +%FT%TZ)" "$reason" >"$rows/$app.$be"
    echo "   $st ($secs) $reason" >&2
    if [ "$st" = FAIL ]; then
      nfail=$((nfail + 1)); echo "   log: $log" >&2; tail -n 20 "$log" | sed 's/^/   | /' >&2
    fi
    [ "$st" = PASS ] && npass=$((npass + 1))
  done
done

# The table, from every row present (this run's and earlier invocations').
python3 - "$rows" "$BUILD/compat.md" "$APPS" "$BACKENDS" <<'PY'
import os, sys
rows_dir, out, apps, bes = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split()
order_a = ["redis", "nginx", "apache", "memcached", "sockperf", "iperf3", "node", "postgres", "haproxy", "client"]
order_b = ["kernel", "posix", "uring", "dpdk-memif", "memif", "dpdk-tap"]
cells = {}
for f in sorted(os.listdir(rows_dir)):
    parts = open(os.path.join(rows_dir, f)).read().rstrip("\n").split("\t")
    if len(parts) == 6:
        cells[(parts[0], parts[1])] = parts
A = [a for a in order_a if any(k[0] == a for k in cells)] + sorted({k[0] for k in cells} - set(order_a))
B = [b for b in order_b if any(k[1] == b for k in cells)] + sorted({k[1] for k in cells} - set(order_b))
L = ["# Compatibility matrix", "",
     "Unmodified Debian programs; each cell starts the real server (under `scripts/demi-run` "
     "except in the kernel column), drives it with its real client, checks the answers and stops "
     "everything it started. `test/compat/run.sh BUILD` (one meson test per application, suite `compat`).", "",
     "| application | " + " | ".join(B) + " |", "|---|" + "---|" * len(B)]
for a in A:
    L.append("| " + a + " | " + " | ".join(cells[(a, b)][2] if (a, b) in cells else "-" for b in B) + " |")
L += ["", "| application | backend | result | time | when (UTC) | detail |", "|---|---|---|---|---|---|"]
for a in A:
    for b in B:
        if (a, b) in cells:
            c = cells[(a, b)]
            L.append("| %s | %s | %s | %s | %s | %s |" % (c[0], c[1], c[2], c[3], c[4], c[5].replace("|", "/")))
open(out, "w").write("\n".join(L) + "\n")
print("\n".join(L))
PY
echo
echo "table written to $BUILD/compat.md; cell logs in $logs"
[ $nknown -gt 0 ] && echo "$nknown cell(s) failed as known (test/compat/known-failures.txt)"
[ $nfail -gt 0 ] && exit 1
[ $npass -eq 0 ] && exit 77
exit 0
