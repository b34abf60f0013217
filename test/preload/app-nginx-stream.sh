#!/bin/bash
# SPDX-License-Identifier: MIT
# nginx's stream module (master on, 2 workers as its default user), on the
# kernel (BACKEND kernel: nothing preloaded) or under demi-run on BACKEND,
# with the same checks on each (issue 16: the TCP and UDP proxying of the
# stream module, with proxy_bind):
#   TCP   `proxy_pass` to a Python upstream with `proxy_bind 127.0.0.2`:
#         40 connections, each sees the upstream's "127.0.0.2" and its
#         line echoed; one 16 MiB transfer echoed back, sha256 the same.
#   UDP   `listen ... udp` with `proxy_pass` to a Python UDP upstream,
#         `proxy_bind 127.0.0.2`, one answer a datagram: 40 datagrams from
#         sockets of their own, each answered by "127.0.0.2 PAYLOAD".
#   Then SIGQUIT: the master exits within 5 s, status 0, and nginx logs
#   no alert, crit or emerg.
# Everything runs in process groups of its own (setsid) under timeout;
# cleanup kills those groups only.
# usage: app-nginx-stream.sh DEMI_RUN BACKEND
set -u
demirun=$1 be=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/nginx-lib.sh"
for p in nginx curl; do
  command -v $p >/dev/null || { echo "SKIP: $p not installed (apt-get install nginx-light curl)"; exit 77; }
done
mod=/usr/lib/nginx/modules/ngx_stream_module.so
[ -f $mod ] || { echo "SKIP: no $mod (apt-get install libnginx-mod-stream)"; exit 77; }
ngx_scaffold
fail() {
  echo "FAIL ($be): $*"
  ngx_logs 25
  exit 1
}

ports=$("$PY" "$here/../free_port.py" 3) || fail "no free port"
read -r ph pt pu <<EOF
$(echo $ports)
EOF
setsid timeout -k 3 50 "$PY" "$here/stream_peers.py" serve "$dir" >"$dir/peers.log" 2>&1 </dev/null &
peers=$!
for _ in $(seq 100); do [ -s "$dir/ports" ] && break; sleep 0.05; done
read -r tcpup udpup <"$dir/ports" 2>/dev/null || fail "the Python peers did not start: $(cat "$dir/peers.log")"

mkdir -p "$dir/html" "$dir/tmp"
echo "up" >"$dir/html/index.html"
chmod -R a+rX "$dir" # the workers run as nginx's default user (root starts it)
cat >"$dir/nginx.conf" <<CONF
load_module $mod;
$(ngx_conf_common "$dir" info)
  server { listen 127.0.0.1:$ph; root $dir/html; }
}
stream {
  server {
    listen 127.0.0.1:$pt;
    proxy_bind 127.0.0.2;
    proxy_pass 127.0.0.1:$tcpup;
  }
  server {
    listen 127.0.0.1:$pu udp;
    proxy_bind 127.0.0.2;
    proxy_pass 127.0.0.1:$udpup;
    proxy_responses 1;
    proxy_timeout 3s;
  }
}
CONF
ngx_start "$demirun" "$be"
ngx_wait_up "http://127.0.0.1:$ph/index.html" $ngx "$dir" "$be" || fail "nginx did not serve on port $ph"
master=$(cat "$dir/nginx.pid") || fail "no pid file"

n=40
want=$(for i in $(seq 0 $((n - 1))); do echo "127.0.0.2 line-$i"; done)
out=$(timeout 20 "$PY" "$here/stream_peers.py" tcp $pt $n 2>&1)
[ "$out" = "$want" ] || fail "TCP through the stream proxy: $(diff <(echo "$want") <(echo "$out") | head -5)"
big=16777216
out=$(timeout 20 "$PY" "$here/stream_peers.py" bulk $pt $big 2>&1)
[ "$out" = "127.0.0.2 $big $big same" ] || fail "16 MiB through the stream proxy: '$out'"
want=$(for i in $(seq 0 $((n - 1))); do echo "127.0.0.2 dgram-$i"; done)
out=$(timeout 20 "$PY" "$here/stream_peers.py" udp $pu $n 2>&1)
[ "$out" = "$want" ] || fail "UDP through the stream proxy: $(diff <(echo "$want") <(echo "$out") | head -5)"

ngx_quit "$master" $ngx "$dir"
[ -z "$NGX_WHY" ] || fail "$NGX_WHY"
started=
if [ "$be" != kernel ]; then
  started=$(ngx_datapaths "$dir" "$be")
  [ "$started" -ge 2 ] || fail "$started processes started the $be datapath (2 workers expected)"
  started=" ($started datapaths)"
fi
echo "nginx stream over $be$started: TCP proxy_bind 127.0.0.2 x$n, 16 MiB echoed, UDP proxy_bind 127.0.0.2 x$n: passed"
