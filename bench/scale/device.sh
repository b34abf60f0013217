#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/scale/device.sh: the run for the larger machine the device tool lends
# (16 CPUs, Ubuntu 24.04, none of our packages), from the bundle that
# ../shared/tools/device-bundle.sh packs into .device-bundle/.
#
#   here:  ../shared/tools/device-bundle.sh build
#   there: bash bench/scale/device.sh --out "$OUT"   (carry: .device-bundle)
#   here, to try it: bash bench/scale/device.sh --n 1 --secs 2 --rounds 1
#
# One command, sized for the device's budget (10 minutes a command, 15 of
# device time a session, start-up included): at the defaults on 16 CPUs
# about 4 minutes of load.
#   1. bench/scale/scale.sh: memcached -t N and nginx with N workers for N
#      in 1 2 4 8 (server on CPUs 0..N-1, load on the last 8), redis; the
#      kernel and uring columns, only the server preloaded (issue 13's curve).
#   2. bench/dpdk/run.sh: the 64 B echo over memif and bulk TCP, against
#      the raw memif floor, pinned (issue 15's ratios), unless --no-memif.
# OUT gets scale.md, scale.json (and scale.png where matplotlib is), the
# raw cells, memif.txt, and env.txt (CPU, kernel, what the bundle held).
#
# Libraries: every bundled program runs through a wrapper that gives it the
# bundle's libraries (LD_LIBRARY_PATH for it alone: the machine's own tools,
# python3 and procps among them, keep the machine's newer ones), and the
# preload, which every process under demi-run loads, finds its own (DPDK's,
# liburing) in a directory that holds only those. DPDK's drivers are loaded
# from the bundle (RAW_PMD_DIR; DEMI_DPDK_ARGS -d); memory is --no-huge
# (devices/dpdk/dpdk_eal.c picks it when no hugepage is free).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
BUNDLE=$top/.device-bundle OUT=/tmp/demi-device NLIST="" SECS=4 ROUNDS=2 MEMIF=1
usage() {
  echo "usage: bench/scale/device.sh [--bundle DIR] [--out DIR] [--n LIST] [--secs S] [--rounds R] [--no-memif]" >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case $1 in
    --no-memif) MEMIF=0; shift; continue ;;
  esac
  [ $# -ge 2 ] || usage
  case $1 in
    --bundle) BUNDLE=$2 ;; --out) OUT=$2 ;; --n) NLIST=$2 ;; --secs) SECS=$2 ;; --rounds) ROUNDS=$2 ;;
    *) usage ;;
  esac
  shift 2
done
BUNDLE=$(cd "$BUNDLE" 2>/dev/null && pwd) || { echo "device.sh: no bundle (../shared/tools/device-bundle.sh build)" >&2; exit 1; }
[ -f "$BUNDLE/lib/libdemi-preload.so" ] || { echo "device.sh: $BUNDLE has no lib/libdemi-preload.so" >&2; exit 1; }
mkdir -p "$OUT" || exit 1
OUT=$(cd "$OUT" && pwd)
ncpu=$(nproc)
[ -n "$NLIST" ] || { [ "$ncpu" -ge 16 ] && NLIST="1 2 4 8" || NLIST=1; }

W=$(mktemp -d /tmp/demi-device.XXXXXX)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/bin" "$W/lib" "$W/preload-lib" "$W/build/interpose"
# the bundle's libraries, with the names programs ask for (libdemi.so.0)
for f in "$BUNDLE"/lib/*.so*; do ln -s "$f" "$W/lib/"; done
for f in "$BUNDLE"/lib/libdemi.so.[0-9]*.[0-9]*.[0-9]; do
  [ -e "$f" ] && ln -sf "$f" "$W/lib/libdemi.so.0"
done
# what the preload needs beyond glibc, and nothing else
for dep in $(LD_LIBRARY_PATH="$W/lib" ldd "$BUNDLE/lib/libdemi-preload.so" | awk '/=>/ {print $1}'); do
  case $dep in libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*) continue ;; esac
  [ -e "$W/lib/$dep" ] && ln -s "$W/lib/$dep" "$W/preload-lib/$dep"
done
for f in "$BUNDLE"/bin/*; do
  n=$(basename "$f")
  printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' "$W/lib" "$f" >"$W/bin/$n"
  chmod +x "$W/bin/$n"
done
# scale.sh's build directory: only the preload (DEMI_PRELOAD_LIB) is used
ln -s "$BUNDLE/lib/libdemi-preload.so" "$W/build/interpose/libdemi-preload.so"
missing=""
for t in memcached memcaslap nginx wrk redis-server redis-benchmark; do
  [ -x "$W/bin/$t" ] || command -v $t >/dev/null || missing="$missing $t"
done
[ -z "$missing" ] || echo "device.sh: not in the bundle nor here:$missing (their rows are skipped)" >&2

{
  echo "date: $(date -u +%FT%TZ)"
  echo "cpus: $ncpu ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
  echo "kernel: $(uname -r)"; echo "os: $(. /etc/os-release 2>/dev/null; echo "${PRETTY_NAME:-?}")"
  echo "commit: $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "bundle: $(ls "$BUNDLE/bin" | tr '\n' ' ')"
  echo "preload libraries: $(ls "$W/preload-lib" | tr '\n' ' ')"
} >"$OUT/env.txt"
cat "$OUT/env.txt"

servers=""
for s in memcached nginx redis; do
  case $s in
    memcached) need="memcached memcaslap" ;; nginx) need="nginx wrk" ;; redis) need="redis-server redis-benchmark" ;;
  esac
  ok=1
  for t in $need; do [ -x "$W/bin/$t" ] || command -v $t >/dev/null || ok=0; done
  [ $ok = 1 ] && servers="$servers${servers:+,}$s"
done
if [ -n "$servers" ]; then
  PATH="$W/bin:$PATH" LD_LIBRARY_PATH="$W/preload-lib" DEMI_PRELOAD_LIB="$BUNDLE/lib/libdemi-preload.so" \
    timeout 480 bash "$here/scale.sh" --build "$W/build" --servers "$servers" --n "$NLIST" \
    --secs "$SECS" --rounds "$ROUNDS" --backends uring --out "$OUT/scale"
  echo "scale.sh: exit $?"
fi
if [ $MEMIF = 1 ] && [ -x "$BUNDLE/bench/dpdk/demi_tcp_pingpong" ]; then
  # A machine with DPDK installed loads its own drivers whatever we say,
  # and a second copy of a library they link (the bundle's) would register
  # its tailq twice: there, only libdemi comes from the bundle.
  libs=$W/lib pmd=$BUNDLE/lib/dpdk
  if ls -d /usr/lib/*/dpdk/pmds-* >/dev/null 2>&1; then
    mkdir -p "$W/demi-lib" && ln -s "$W/lib/libdemi.so.0" "$W/demi-lib/"
    libs=$W/demi-lib pmd=""
  fi
  LD_LIBRARY_PATH="$libs" RAW_PMD_DIR="$pmd" N=300000 BULK=268435456 timeout 240 sh "$top/bench/dpdk/run.sh" "$BUNDLE" \
    2>&1 | tee "$OUT/memif.txt"
fi
