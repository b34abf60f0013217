#!/bin/sh
# SPDX-License-Identifier: MIT
# redis-server under demi-run on BACKEND: SET/GET with redis-cli, a BGSAVE
# (fork: the child writes the RDB and closes its copies of our sockets while
# the parent keeps serving), and redis-benchmark -n 2000 -q. Then, with a
# backend that offloads IPv6, redis-server with its default bind
# (127.0.0.1 -::1) serves SET/GET over ::1 through the datapath.
# usage: app-redis.sh DEMI_RUN BACKEND
set -u
demirun=$1 be=$2
for p in redis-server redis-cli redis-benchmark; do
  command -v $p >/dev/null || { echo "SKIP: $p not installed (apt-get install redis)"; exit 77; }
done
dir=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- server log"; tail -20 "$dir/server.log"; exit 1; }

port=$(python3 "$(dirname "$0")/../free_port.py") || fail "no free port"
DEMI_LOG=info timeout -k 3 100 "$demirun" --backend "$be" -- redis-server --bind 127.0.0.1 --port $port \
  --save '' --appendonly no --protected-mode no --dir "$dir" --dbfilename dump.rdb \
  >"$dir/server.log" 2>&1 &
pid=$!
up=0
for _ in $(seq 100); do
  if timeout 2 redis-cli -p $port ping 2>/dev/null | grep -q PONG; then up=1; break; fi
  kill -0 $pid 2>/dev/null || break
  sleep 0.05
done
if grep -q "is not built into this library" "$dir/server.log"; then echo "SKIP: backend $be is not built"; exit 77; fi
[ $up = 1 ] || fail "redis-server did not answer PING on port $port"
grep -q "datapath started: backend $be" "$dir/server.log" || fail "redis-server's sockets did not go through $be"

[ "$(timeout 5 redis-cli -p $port set demo hello)" = OK ] || fail "SET"
[ "$(timeout 5 redis-cli -p $port get demo)" = hello ] || fail "GET"
big=$(head -c 100000 /dev/zero | tr '\0' 'x')
timeout 5 redis-cli -p $port set big "$big" >/dev/null || fail "SET 100 kB"
[ "$(timeout 5 redis-cli -p $port strlen big)" = 100000 ] || fail "STRLEN of a 100 kB value"

timeout 5 redis-cli -p $port bgsave | grep -q "Background saving started" || fail "BGSAVE"
for _ in $(seq 100); do
  timeout 2 redis-cli -p $port info persistence | grep -q "rdb_bgsave_in_progress:0" && break; sleep 0.05
done
timeout 2 redis-cli -p $port info persistence | grep -q "rdb_last_bgsave_status:ok" || fail "BGSAVE status"
[ -s "$dir/dump.rdb" ] || fail "no dump.rdb after BGSAVE"
[ "$(timeout 5 redis-cli -p $port get demo)" = hello ] || fail "GET after the BGSAVE child exited"

timeout 60 redis-benchmark -p $port -n 2000 -q -t set,get,incr,lpush >"$dir/bench.txt" 2>&1 || fail "redis-benchmark"
n=$(grep -c "requests per second" "$dir/bench.txt")
[ "$n" -ge 4 ] || { cat "$dir/bench.txt"; fail "redis-benchmark finished $n of 4 tests"; }
cat "$dir/bench.txt" | tr '\r' '\n' | grep "requests per second"
timeout 5 redis-cli -p $port shutdown nosave >/dev/null 2>&1
wait $pid 2>/dev/null
pid=
echo "redis over $be: SET/GET, BGSAVE and redis-benchmark passed"

# Redis's default bind, over ::1 (where the host has IPv6 on loopback)
if ! python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
  echo "no ::1 on this host: the IPv6 part is skipped"; exit 0
fi
port=$(python3 "$(dirname "$0")/../free_port.py") || fail "no free port"
DEMI_LOG=debug timeout 60 "$demirun" --backend "$be" -- redis-server --bind 127.0.0.1 -::1 --port $port \
  --save '' --appendonly no --dir "$dir" >"$dir/server.log" 2>&1 &
pid=$!
up=0
for _ in $(seq 100); do
  if timeout 2 redis-cli -h ::1 -p $port ping 2>/dev/null | grep -q PONG; then up=1; break; fi
  kill -0 $pid 2>/dev/null || break
  sleep 0.05
done
[ $up = 1 ] || fail "redis-server (bind 127.0.0.1 -::1) did not answer PING on [::1]:$port"
[ "$(timeout 5 redis-cli -h ::1 -p $port set six demi)" = OK ] || fail "SET over ::1"
[ "$(timeout 5 redis-cli -h ::1 -p $port get six)" = demi ] || fail "GET over ::1"
if grep -q "listening TCP socket \[::1\]:$port offloaded" "$dir/server.log"; then
  grep -q "accepted \[::1\]:" "$dir/server.log" || fail "the [::1] listener is offloaded but accepted nothing"
  echo "redis over $be: default bind, SET/GET over ::1 through the datapath"
elif grep -q "no IPv6" "$dir/server.log"; then
  echo "redis over $be: default bind served; $be has no IPv6, ::1 stays in the kernel"
else
  fail "the [::1] listener was neither offloaded nor said to stay in the kernel"
fi
timeout 5 redis-cli -h ::1 -p $port shutdown nosave >/dev/null 2>&1
wait $pid 2>/dev/null
pid=
