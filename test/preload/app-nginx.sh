#!/bin/sh
# SPDX-License-Identifier: MIT
# nginx (master + WORKERS workers) under demi-run on BACKEND: the master
# binds and listens, forks its workers, and each worker serves the listening
# socket through its own datapath. curl fetches a small and a 300 kB file.
# usage: app-nginx.sh DEMI_RUN BACKEND WORKERS
set -u
demirun=$1 be=$2 workers=$3
. "$(dirname "$0")/nginx-lib.sh"
for p in nginx curl; do
  command -v $p >/dev/null || { echo "SKIP: $p not installed (apt-get install nginx-light curl)"; exit 77; }
done
dir=$(mktemp -d)
pid=
cleanup() {
  # the master's pid (timeout -> demi-run exec -> nginx), then its workers
  m=$(cat "$dir/nginx.pid" 2>/dev/null)
  if [ -n "$m" ]; then
    kill -QUIT "$m" 2>/dev/null
    for _ in $(seq 20); do kill -0 "$m" 2>/dev/null || break; sleep 0.1; done
    pkill -9 -P "$m" 2>/dev/null; kill -9 "$m" 2>/dev/null
  fi
  [ -n "$pid" ] && { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- log"; tail -20 "$dir/out.log"; tail -5 "$dir/error.log" 2>/dev/null; exit 1; }

port=$(python3 "$(dirname "$0")/../free_port.py") || fail "no free port"
mkdir -p "$dir/html" "$dir/tmp"
echo "hello from nginx" >"$dir/html/index.html"
head -c 300000 /dev/urandom >"$dir/html/big.bin"
chmod -R a+rX "$dir" # workers run as an unprivileged user
cat >"$dir/nginx.conf" <<CONF
worker_processes $workers;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 128; }
http {
  access_log off;
  client_body_temp_path $dir/tmp; proxy_temp_path $dir/tmp; fastcgi_temp_path $dir/tmp;
  uwsgi_temp_path $dir/tmp; scgi_temp_path $dir/tmp;
  sendfile on;
  keepalive_timeout 5;
  server { listen 127.0.0.1:$port; root $dir/html; }
}
CONF
DEMI_LOG=info timeout -k 3 100 "$demirun" --backend "$be" -- nginx -p "$dir" -c "$dir/nginx.conf" >"$dir/out.log" 2>&1 &
pid=$!
ngx_wait_up "http://127.0.0.1:$port/index.html" $pid "$dir" "$be" || fail "nginx did not serve on port $port"
[ "$(timeout 5 curl -fs "http://127.0.0.1:$port/index.html")" = "hello from nginx" ] || fail "index.html"
timeout 10 curl -fs "http://127.0.0.1:$port/big.bin" -o "$dir/got.bin" || fail "big.bin"
cmp -s "$dir/got.bin" "$dir/html/big.bin" || fail "big.bin differs"
ok=0
for i in $(seq 20); do
  [ "$(timeout 5 curl -fs "http://127.0.0.1:$port/index.html")" = "hello from nginx" ] && ok=$((ok + 1))
done
[ $ok = 20 ] || fail "$ok of 20 requests served"
# keep-alive: several requests on one connection (nginx sends its stderr, with our log lines, to error.log)
n=$(timeout 10 curl -fs "http://127.0.0.1:$port/index.html" "http://127.0.0.1:$port/index.html" \
    "http://127.0.0.1:$port/index.html" | grep -c "hello from nginx")
[ "$n" = 3 ] || fail "keep-alive: $n of 3"
started=$(cat "$dir/out.log" "$dir/error.log" 2>/dev/null | grep "datapath started: backend $be" | sed 's/^demi\[\([0-9]*\)\].*/\1/' | sort -u | wc -l)
[ "$started" -ge "$workers" ] || fail "$started of $workers workers started the $be datapath"
echo "nginx over $be: $workers workers each serve the listener through $be ($started datapaths); 20 GETs, 300 kB file, keep-alive passed"
