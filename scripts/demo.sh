#!/usr/bin/env bash
# The main job: an unmodified redis-server, driven by an unmodified
# redis-benchmark, over the Linux kernel and then under our library on each
# backend built here, with latency side by side: posix and uring (the server
# preloaded, loopback), and our own TCP/IP stack over DPDK memif (server and
# clients preloaded, each process its own memif endpoint; root).
# Usage: scripts/demo.sh [-n REQUESTS]
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
n=20000
[ "${1:-}" = "-n" ] && n=$2
bash scripts/deps.sh demo || exit 1
[ -f build/build.ninja ] || meson setup build >/dev/null || exit 1
ninja -C build >/dev/null || { echo "build failed"; exit 1; }
preload=$(ls build/interpose/libdemi-preload.so 2>/dev/null || true)
out=$(mktemp -d)
cleanup() { pkill -f "redis-server .*:$port" 2>/dev/null; rm -rf "$out" /var/run/dpdk/demo_[sc]$$*; }
trap cleanup EXIT
port=$(python3 test/free_port.py)

# run_case NAME WRAPPER...: start redis under WRAPPER, benchmark, stop.
# $host and $cli (the clients' wrapper, none by default) may be set.
host=127.0.0.1 cli=
run_case() {
  local name=$1; shift
  "$@" redis-server --bind $host --port $port --save '' --appendonly no \
      --protected-mode no >"$out/$name.server.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do $cli redis-cli -h $host -p $port ping 2>/dev/null | grep PONG >/dev/null && break; sleep 0.05; done
  if ! $cli redis-cli -h $host -p $port ping 2>/dev/null | grep PONG >/dev/null; then
    echo "$name: redis-server did not start"; tail -5 "$out/$name.server.log"; kill $pid 2>/dev/null; return 1
  fi
  timeout 120 $cli redis-benchmark -h $host -p $port -c 1 -P 1 -n "$n" -t set,get --csv >"$out/$name.lat.csv" 2>/dev/null
  timeout 120 $cli redis-benchmark -h $host -p $port -c 50 -n "$n" -t set,get --csv >"$out/$name.tput.csv" 2>/dev/null
  kill $pid 2>/dev/null; wait $pid 2>/dev/null
  echo "$name" >>"$out/cases"
}

# Our TCP/IP stack over DPDK, server and clients in separate processes
# joined by a memif shared-memory link (no NIC: --no-pci, vdevs only):
# both ends are preloaded, each client process its own memif endpoint.
memif_case() {
  local sock=$out/memif.sock net=10.$((100 + RANDOM % 50)).$((RANDOM % 250))
  host=$net.1
  cli="env DEMI_DPDK_ARGS=--vdev=net_memif0,role=client,socket=$sock DEMI_DPDK_PREFIX=demo_c$$ DEMI_IPV4=$net.2/24 scripts/demi-run --backend dpdk --"
  run_case demi-dpdk-memif env DEMI_DPDK_ARGS=--vdev=net_memif0,role=server,socket=$sock DEMI_DPDK_PREFIX=demo_s$$ \
      DEMI_IPV4=$net.1/24 scripts/demi-run --backend dpdk --
  host=127.0.0.1 cli=
}

run_case kernel env
if [ -n "$preload" ]; then
  for be in posix uring; do
    run_case "demi-$be" scripts/demi-run --backend $be --
  done
  if ls build/devices/dpdk/*.a >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    memif_case
  else
    echo "(dpdk-memif skipped: DPDK not built or not root)"
  fi
else
  echo "not yet: the preload library (build/interpose/libdemi-preload.so) is not built;"
  echo "showing the kernel baseline only."
fi

python3 - "$out" <<'PY'
import csv, os, sys
out = sys.argv[1]
cases = open(os.path.join(out, "cases")).read().split()
def load(path):
    rows = {}
    if not os.path.exists(path): return rows
    for r in csv.DictReader(open(path)):
        rows[r["test"]] = r
    return rows
base = load(os.path.join(out, "kernel.lat.csv"))
print()
print("redis-benchmark -c 1 -P 1 (latency, ms) and -c 50 (throughput, req/s)")
print(f"{'server':<17}{'test':<5}{'p50':>8}{'p99':>8}{'x kernel p50':>14}{'c50 req/s':>12}")
for c in cases:
    lat, tput = load(os.path.join(out, f"{c}.lat.csv")), load(os.path.join(out, f"{c}.tput.csv"))
    for t in ("SET", "GET"):
        r = lat.get(t)
        if not r: continue
        p50, p99 = float(r["p50_latency_ms"]), float(r["p99_latency_ms"])
        b = float(base[t]["p50_latency_ms"]) if t in base else p50
        ratio = b / p50 if p50 else 0
        rps = tput.get(t, {}).get("rps", "-")
        print(f"{c:<17}{t:<5}{p50:>8.3f}{p99:>8.3f}{ratio:>13.2f}x{rps:>12}")
PY
