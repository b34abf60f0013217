#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/scale/cost.sh [--build DIR] [--secs S] [--rounds R] [--out DIR]
#
# Where memcached -t 1 spends its CPU per request, on the kernel and under
# the uring preload, with the same load (memcaslap -T 1 -c 256, a kernel
# program): the server on the first CPU, the load on the last, as
# scale.sh places them. Each round runs the kernel column, then the
# preloaded one; in each, from 1 s into the load for S-2 s, perf stat
# counts the server and the load tool (CPU, syscalls, io_uring_enter,
# context switches, user and system time from /proc) and perf record -g
# samples the server (cpu-clock: a VM may have no PMU). cost.py turns
# the samples into microseconds per request by where they were spent
# (TCP send, TCP receive, epoll_wait, io_uring's own work, the rest of
# the kernel; the application, libc's copies and mutexes, the preload)
# and writes OUT/cost.md. Needs root (perf's tracepoints) and perf.
#
# The processes are started here, bounded by timeout, and killed by the
# pid this script recorded; nothing is killed by name.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
BUILD=$top/build SECS=6 ROUNDS=1 OUT=""
usage() { echo "usage: bench/scale/cost.sh [--build DIR] [--secs S>=4] [--rounds R] [--out DIR]" >&2; exit 2; }
cmdline="bench/scale/cost.sh $*"
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || usage
  case $1 in
    --build) BUILD=$2 ;; --secs) SECS=$2 ;; --rounds) ROUNDS=$2 ;; --out) OUT=$2 ;;
    *) usage ;;
  esac
  shift 2
done
BUILD=$(cd "$BUILD" && pwd) || exit 1
OUT=${OUT:-$BUILD/cost}
PRELOAD=${DEMI_PRELOAD_LIB:-$BUILD/interpose/libdemi-preload.so}
[ -f "$PRELOAD" ] || { echo "cost.sh: no $PRELOAD" >&2; exit 1; }
[ "$SECS" -ge 4 ] 2>/dev/null || usage
for t in perf memcached memcaslap python3; do
  command -v $t >/dev/null || { echo "cost.sh: $t not found" >&2; exit 1; }
done
mkdir -p "$OUT"
mapfile -t CPUS < <(python3 -c 'import os; print(*sorted(os.sched_getaffinity(0)), sep="\n")')
SCPU=${CPUS[0]} LCPU=${CPUS[${#CPUS[@]} - 1]}
EVENTS=task-clock,context-switches,raw_syscalls:sys_enter,syscalls:sys_enter_io_uring_enter
WIN=$((SECS - 2))

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cputimes() { awk '{print $14, $15}' "/proc/$1/stat" 2>/dev/null || echo "0 0"; }

# cell COLUMN ROUND: one measurement into $OUT/COLUMN.ROUND.*
cell() {
  local col=$1 rnd=$2 p tag spid lpid s0 s1 c0 c1 t0 t1 pa pb pc
  tag=$OUT/$col.$rnd p=$(port)
  local srv=(memcached -l 127.0.0.1 -p "$p" -t 1 -c 4096 -m 256 -U 0 -u root)
  if [ "$col" = kernel ]; then
    taskset -c "$SCPU" timeout -k 3 $((SECS + 10)) "${srv[@]}" >"$tag.server.log" 2>&1 &
  else
    taskset -c "$SCPU" env DEMI_PRELOAD_LIB="$PRELOAD" timeout -k 3 $((SECS + 10)) \
      "$top/scripts/demi-run" --backend "$col" -- "${srv[@]}" >"$tag.server.log" 2>&1 &
  fi
  spid=$!
  sleep 0.5
  taskset -c "$LCPU" timeout -k 3 $((SECS + 5)) memcaslap -s "127.0.0.1:$p" -T 1 -c 256 -t "${SECS}s" \
    >"$tag.load.log" 2>&1 &
  lpid=$!
  sleep 1
  # timeout runs the server as its child: count that (the only one)
  local mpid; mpid=$(pgrep -P "$spid" | head -1); mpid=${mpid:-$spid}
  local cpid; cpid=$(pgrep -P "$lpid" | head -1); cpid=${cpid:-$lpid}
  s0=$(cputimes "$mpid") c0=$(cputimes "$cpid") t0=$(date +%s.%N)
  perf stat -x, -e "$EVENTS" -p "$mpid" -o "$tag.server.csv" -- sleep "$WIN" 2>/dev/null & pa=$!
  perf stat -x, -e "$EVENTS" -p "$cpid" -o "$tag.load.csv" -- sleep "$WIN" 2>/dev/null & pb=$!
  perf record -q -e cpu-clock -F 4000 -g -p "$mpid" -o "$tag.perf.data" -- sleep "$WIN" >/dev/null 2>&1 & pc=$!
  wait "$pa" "$pb" "$pc"
  t1=$(date +%s.%N) s1=$(cputimes "$mpid") c1=$(cputimes "$cpid")
  wait "$lpid"
  kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
  echo "$t0 $t1 $s0 $s1 $c0 $c1" >"$tag.times"
  perf report -i "$tag.perf.data" --no-children --sort dso,sym -g none --stdio 2>/dev/null >"$tag.self.txt"
  perf report -i "$tag.perf.data" --children --sort sym -g none --stdio 2>/dev/null >"$tag.incl.txt"
  rm -f "$tag.perf.data"
}

for ((r = 1; r <= ROUNDS; r++)); do
  cell kernel "$r"
  cell uring "$r"
done
python3 "$here/cost.py" "$OUT" "$ROUNDS" "$cmdline" "$(cd "$top" && git rev-parse --short HEAD 2>/dev/null)" |
  tee "$OUT/cost.md"
