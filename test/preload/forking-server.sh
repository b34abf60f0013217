#!/bin/sh
# SPDX-License-Identifier: MIT
# Python's socketserver.ForkingTCPServer under the preload: the parent
# accepts (through the datapath) and forks, each child serves the
# connection it inherited through its own datapath, the parent closes its
# copy at once. Several clients at once (bulk echo to EOF, and line by
# line), not preloaded, check every byte; the log must show the children
# adopting their connections. Then the same against the kernel.
# usage: forking-server.sh LIBRARY BACKEND
set -u
lib=$(readlink -f "$1") be=$2
here=$(dirname "$0")
n=8
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
out=$(mktemp -d)
trap 'kill $spid 2>/dev/null; rm -rf "$out"' EXIT
pre=$(ldd "$lib" 2>/dev/null | awk '/libasan\.so/ {print $3}')
[ -n "$pre" ] && lib="$pre $lib" && export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
spid=
for run in kernel demi; do
  rm -f "$out/port"
  if [ $run = demi ]; then
    env LD_PRELOAD="$lib" DEMI_BACKEND="$be" DEMI_LOG=debug timeout -k 3 60 python3 "$here/forking_server.py" server "$out/port" $n 2>"$out/err" &
  else
    timeout -k 3 60 python3 "$here/forking_server.py" server "$out/port" $n 2>"$out/err" &
  fi
  spid=$!
  i=0
  while [ ! -s "$out/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  if grep -q "is not built into this library" "$out/err"; then echo "SKIP: $be not built"; exit 77; fi
  [ -s "$out/port" ] || { echo "FAIL ($run): the server did not start"; tail -20 "$out/err"; exit 1; }
  timeout 50 python3 "$here/forking_server.py" clients "$(cat "$out/port")" $n >"$out/$run.out" 2>&1
  crc=$?
  wait $spid
  src=$?
  spid=
  fail=0
  [ $crc = 0 ] || { echo "FAIL ($run): clients exit $crc"; fail=1; }
  [ $src = 0 ] || { echo "FAIL ($run): server exit $src"; fail=1; }
  [ "$(grep -c '^client [0-9]* [a-z]* ok' "$out/$run.out")" = $n ] || { echo "FAIL ($run): not every client got its bytes back"; fail=1; }
  if [ $run = demi ]; then
    grep -q "datapath started: backend $be" "$out/err" || { echo "FAIL: the $be datapath did not start"; fail=1; }
    a=$(grep -c "inherited connection adopted" "$out/err")
    [ "$a" = $n ] || { echo "FAIL: $a of $n children adopted their connection"; fail=1; }
    ! grep -q "EIO\|are lost" "$out/err" || { echo "FAIL: EIO or lost bytes logged"; fail=1; }
  fi
  if [ $fail = 1 ]; then cat "$out/$run.out"; grep -v "offload candidate" "$out/err" | tail -20; exit 1; fi
done
diff -u "$out/kernel.out" "$out/demi.out" || { echo "FAIL: the clients saw something else than over the kernel"; exit 1; }
echo "ForkingTCPServer over $be: $n clients served by the children that inherited them, byte-exact"
