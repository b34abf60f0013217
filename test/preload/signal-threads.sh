#!/bin/bash
# SPDX-License-Identifier: MIT
# The threads the preload's datapath starts (DPDK's EAL threads, the
# progress helper) block the application's signals: signal_threads.py
# under DEMI_BACKEND=dpdk on a net_memif port of its own (no peer).
# usage: signal-threads.sh DEMI_RUN PRELOAD_LIB
set -u
demirun=$1 lib=$2
py=/usr/bin/python3
here=$(cd "$(dirname "$0")" && pwd)
. "$here/dpdk-lib.sh"
dpdk_setup sigthr dst$$
net=10.$(( 150 + RANDOM % 50 )).$(( RANDOM % 250 ))
timeout -k 2 40 env DEMI_LOG=info DEMI_PRELOAD_LIB="$lib" DEMI_DPDK_PREFIX=dst$$_s DEMI_IPV4=$net.1/24 \
  DEMI_DPDK_ARGS=--vdev=net_memif0,role=server,socket=$dir/memif.sock \
  "$demirun" --backend dpdk -- $py "$here/signal_threads.py" $net.1 >"$dir/out.log" 2>&1
rc=$?
grep -v '^EAL\|^TELEMETRY' "$dir/out.log" | grep -E '^ok|^FAIL|datapath started' | head
grep -q "datapath started: backend dpdk" "$dir/out.log" || { echo "FAIL: the datapath did not start"; tail -20 "$dir/out.log"; exit 1; }
[ $rc = 0 ] || { echo "FAIL: exit $rc"; tail -20 "$dir/out.log"; exit 1; }
