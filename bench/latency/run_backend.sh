#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/latency/run_backend.sh BUILD BACKEND OUT [sockperf|redis|nginx|all]:
# one measurement (or all) of one column of the latency table, raw outputs
# into OUT/BACKEND/ (latency.sh runs it measurement by measurement across
# the backends, so the columns of one row are taken close together in time;
# report.py turns the outputs into numbers).
# Both ends run on the backend (kernel: neither preloaded). Uses the
# compat suite's wrappers (test/compat/lib.sh) for starting, readiness,
# bounding and cleaning up. Prints "RESULT PASS|FAIL|SKIP secs reason".
#   sockperf ping-pong TCP, 64 B / 1 KiB / 16 KiB, $SP_SECS s each, full log
#   redis-benchmark -c 1 -P 1 GET/SET ($REDIS_N1 requests) and -c 50 ($REDIS_N50)
#   wrk -t1 -c10 against nginx (one worker, keepalive), $WRK_SECS s
BUILD=$(cd "${1:?build dir}" && pwd); BACKEND=${2:?backend}; OUTROOT=${3:?out dir}; WHAT=${4:-all}
NEED_TOOLS=(sockperf redis-server redis-benchmark nginx wrk)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../test/compat/lib.sh"
unset DEMI_TEST_SANITIZED          # benchmarks are run by hand, never in the san build
# Servers listen on the wildcard: what is measured is the datapath, and a
# specific-address bind under a DPDK backend is a compat matter (see test/compat).
export COMPAT_BIND_ANY=${COMPAT_BIND_ANY:-1}
[ "$BACKEND" = dpdk-tap ] && { echo "RESULT SKIP 0s not a benchmark column"; exit 77; }
cell_begin bench "$BACKEND" both
OUT=$OUTROOT/$BACKEND; mkdir -p "$OUT"
SP_SECS=${SP_SECS:-5}; REDIS_N1=${REDIS_N1:-50000}; REDIS_N50=${REDIS_N50:-200000}; WRK_SECS=${WRK_SECS:-5}
errs=()

want() { [ "$WHAT" = all ] || [ "$WHAT" = "$1" ]; }

if want sockperf; then
port=$(pick_port)
bg sockperf srv 300 sockperf server --tcp -i "$BIND" -p "$port"
sp=$BG_PID
if wait_port "$ADDR" "$port" 20; then
  for size in 64 1024 16384; do
    run cli $((SP_SECS + 40)) sockperf ping-pong --tcp -i "$ADDR" -p "$port" -m "$size" -t "$SP_SECS" \
        --full-log "$OUT/sockperf_$size.csv" >"$OUT/sockperf_$size.out" 2>&1 || errs+=("sockperf $size B: exit $?")
  done
else
  errs+=("sockperf server did not start")
fi
stop "$sp"
fi

if want redis; then
port=$(pick_port)
bg redis srv 300 redis-server --bind "$BIND" --port "$port" --save '' --appendonly no --protected-mode no \
   --dir "$CELL_TMP" --daemonize no
rs=$BG_PID
if wait_port "$ADDR" "$port" 20; then
  run cli 120 redis-benchmark -h "$ADDR" -p "$port" -c 1 -P 1 -n "$REDIS_N1" -t get,set >"$OUT/redis_c1.out" 2>&1 \
    || errs+=("redis-benchmark -c 1: exit $?")
  run cli 120 redis-benchmark -h "$ADDR" -p "$port" -c 50 -n "$REDIS_N50" -t get,set >"$OUT/redis_c50.out" 2>&1 \
    || errs+=("redis-benchmark -c 50: exit $?")
else
  errs+=("redis-server did not start")
fi
stop "$rs"
for f in "$OUT"/redis_c*.out; do
  [ -f "$f" ] && ! grep -q "throughput summary" "$f" && errs+=("$(basename "$f"): no throughput summary")
done
fi

if want nginx; then   # nginx + wrk (keepalive, one worker)
port=$(pick_port)
# open_file_cache, as a tuned deployment has it: without it every request
# costs nginx an open, fstat and close of index.html in the kernel, the
# same in every column, which is not what this compares.
nginx_setup "$CELL_TMP/ngx" "$BIND" "$port" "open_file_cache max=1000 inactive=60s;"
bg nginx srv 300 nginx -p "$CELL_TMP/ngx" -c "$CELL_TMP/ngx/nginx.conf"
ng=$BG_PID
if wait_port "$ADDR" "$port" 20; then
  run cli $((WRK_SECS + 40)) wrk -t1 -c10 -d"${WRK_SECS}s" -s "$here/lat.lua" "http://$ADDR:$port/index.html" \
    >"$OUT/wrk.out" 2>&1 || errs+=("wrk: exit $?")
else
  errs+=("nginx did not start")
fi
stop "$ng"
grep -q '"requests": [1-9]' "$OUT/wrk.out" 2>/dev/null || errs+=("wrk made no request: $(grep -m1 'requests in' "$OUT/wrk.out")")
fi

for f in "$CELL_TMP"/*.log; do cp "$f" "$OUT/" 2>/dev/null; done
[ ${#errs[@]} -eq 0 ] || fail "$(IFS=';'; echo "${errs[*]}")"
cell_pass "$WHAT measured"
