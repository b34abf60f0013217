#!/bin/bash
# SPDX-License-Identifier: MIT
# nginx (master on, 2 workers as its default user) with the features of
# issue 16, on the kernel (BACKEND kernel: nothing preloaded) or under
# demi-run on BACKEND, with the same checks on each:
#   proxy_bind  /pb/py and /pb/ngx are proxied with `proxy_bind 127.0.0.2`
#               to a Python upstream (not preloaded) and to a second server
#               block of this nginx; each answers the peer address it saw,
#               which must be 127.0.0.2 (a bind(ip:0) before connect keeps
#               its source address).
#   syslog      `error_log syslog:` (its socket opened by the master before
#               it forks the workers, which inherit it) and `access_log
#               syslog:` to a Python UDP receiver: every /sl/ request gives
#               one access line and every 404 of the HTTP/1 server one
#               error line from a worker; nginx logs no `send() failed`.
#   HTTP/2      `listen ... http2` (nginx 1.22's syntax) with prior
#               knowledge (h2_client.py; curl for one request a
#               connection): 30 requests in turn and as concurrent streams
#               on one connection, with 404 pages, 502 pages (proxy_bind,
#               then a refused connect) and the Python upstream through
#               proxy_bind among them; at the same time clients that close
#               their connection as answers come, that shut down their
#               sending side, that close it in a 16 MB body, and curls.
#               Then nginx counts no connection but the status request's
#               (stub_status), the kernel holds none of its ports'
#               connections (ss), and nginx logs no `open socket ... left
#               in connection` alert.
#   reload      SIGHUP with no request in flight: new workers replace the
#               old (which exit, logging no alert), and the checks above
#               pass again; then SIGQUIT, and the master exits in 5 s.
#               (Connections made while reloads run: app-nginx-reload.sh.)
# Everything runs in process groups of its own (setsid) under timeout;
# cleanup kills those groups only.
# usage: app-nginx-features.sh DEMI_RUN BACKEND
set -u
demirun=$1 be=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/nginx-lib.sh"
for p in nginx curl; do
  command -v $p >/dev/null || { echo "SKIP: $p not installed (apt-get install nginx-light curl)"; exit 77; }
done
curl --version | grep -q HTTP2 || { echo "SKIP: curl without HTTP/2"; exit 77; }
ngx_scaffold
fail() {
  echo "FAIL ($be): $*"
  ngx_logs 25
  echo "--- syslog received: $(wc -l <"$dir/syslog.txt" 2>/dev/null) datagrams"
  exit 1
}

# p1, p2, p3: nginx's; dead: none listens there (a 502 page)
ports=$("$PY" "$here/../free_port.py" 4) || fail "no free port"
read -r p1 p2 p3 dead <<EOF
$(echo $ports)
EOF
setsid timeout -k 3 50 "$PY" "$here/nginx_peers.py" "$dir" >"$dir/peers.log" 2>&1 </dev/null &
peers=$!
for _ in $(seq 100); do [ -s "$dir/ports" ] && break; sleep 0.05; done
read -r upport udport <"$dir/ports" 2>/dev/null || fail "the Python peers did not start: $(cat "$dir/peers.log")"

mkdir -p "$dir/html" "$dir/tmp"
echo "hello from nginx" >"$dir/html/index.html"
head -c 16777216 /dev/zero >"$dir/html/big.bin"
chmod -R a+rX "$dir" # the workers run as nginx's default user (root starts it)
cat >"$dir/nginx.conf" <<CONF
error_log syslog:server=127.0.0.1:$udport,tag=demi info;
$(ngx_conf_common "$dir" info)
  keepalive_timeout 5;
  server {
    listen 127.0.0.1:$p1;
    root $dir/html;
    location /pb/py { proxy_bind 127.0.0.2; proxy_pass http://127.0.0.1:$upport; }
    location /pb/ngx { proxy_bind 127.0.0.2; proxy_pass http://127.0.0.1:$p2; }
    location /sl/ { access_log syslog:server=127.0.0.1:$udport; return 200 "sl\n"; }
    location = /status { stub_status; }
  }
  server {
    listen 127.0.0.1:$p2;
    location / { return 200 "\$remote_addr\n"; }
  }
  server {
    listen 127.0.0.1:$p3 http2;
    root $dir/html;
    location /pb/ { proxy_bind 127.0.0.2; proxy_pass http://127.0.0.1:$upport; }
    location /dead/ { proxy_bind 127.0.0.2; proxy_pass http://127.0.0.1:$dead; }
  }
}
CONF
ngx_start "$demirun" "$be"
h1=http://127.0.0.1:$p1 h2=http://127.0.0.1:$p3
ngx_wait_up "$h1/index.html" $ngx "$dir" "$be" || fail "nginx did not serve on port $p1"
master=$(cat "$dir/nginx.pid") || fail "no pid file"

workers() { pgrep -P "$master" | sort | tr '\n' ' '; }
# status_active: nginx's count of open client connections (stub_status)
status_active() { timeout 5 curl -fs "$h1/status" | sed -n 's/^Active connections: *\([0-9]*\).*/\1/p'; }
# syslog_count PATTERN: datagrams received so far that contain PATTERN
syslog_count() { grep -c -- "$1" "$dir/syslog.txt" 2>/dev/null; }
# wait_syslog PATTERN N: until N such datagrams came (3 s at most)
wait_syslog() {
  for _ in $(seq 60); do [ "$(syslog_count "$1")" -ge "$2" ] && return 0; sleep 0.05; done
  return 1
}

# round R: every check once; R names its requests so that the syslog
# lines of one round are counted apart from the other's
round() {
  local r=$1 i out n
  # proxy_bind: the source address the upstreams saw, 5 times each
  for i in $(seq 5); do
    for u in py ngx; do
      out=$(timeout 5 curl -fsS "$h1/pb/$u?$r-$i" 2>&1)
      [ "$out" = 127.0.0.2 ] || fail "round $r: proxy_bind 127.0.0.2 to the $u upstream: it saw '$out'"
    done
  done
  # syslog: N access lines, N 404 error lines (workers, through the
  # socket the master opened)
  n=20
  for i in $(seq $n); do
    out=$(timeout 5 curl -fsS "$h1/sl/$r-$i" 2>&1)
    [ "$out" = sl ] || fail "round $r: GET /sl/$r-$i gave '$out'"
    out=$(timeout 5 curl -s -o /dev/null -w '%{http_code}' "$h1/nf-$r-$i")
    [ "$out" = 404 ] || fail "round $r: GET /nf-$r-$i gave $out, not 404"
  done
  wait_syslog "GET /sl/$r-" $n || fail "round $r: $(syslog_count "GET /sl/$r-") of $n access-log lines over syslog"
  wait_syslog "demi: .*/nf-$r-[0-9]*\" failed" $n ||
    fail "round $r: $(syslog_count "demi: .*/nf-$r-[0-9]*\" failed") of $n error-log lines (404s) over syslog"
  # HTTP/2 (curl 7.88 fails the second request of a prior-knowledge
  # connection: h2_client.py makes those). 30 requests: 404 pages, the
  # Python upstream through proxy_bind, 502 pages (proxy_bind, then a
  # refused connect), the rest index.html; "STATUS BODY" expected of each
  local paths=() expect=()
  for i in $(seq 30); do
    if [ $((i % 3)) = 0 ]; then paths+=("/nf2-$r-$i"); expect+=("404 -")
    elif [ $((i % 5)) = 0 ]; then paths+=("/pb/$r-$i"); expect+=("200 127.0.0.2")
    elif [ $((i % 7)) = 0 ]; then paths+=("/dead/$r-$i"); expect+=("502 -")
    else paths+=("/index.html?$r-$i"); expect+=("200 hello_from_nginx"); fi
  done
  local want
  want=$(printf '%s\n' "${expect[@]}")
  # in turn on one connection
  out=$(timeout 10 "$PY" "$here/h2_client.py" "$p3" seq "${paths[@]}" 2>&1 | awk '{print $1 " " $3}')
  [ "$out" = "$want" ] || fail "round $r: HTTP/2, 30 requests in turn: $(echo $out | head -c 300)"
  # at once: 4 clients with the 30 as concurrent streams; 2 that close
  # their connection as the first answer comes, 2 that shut down their
  # sending side once they sent the 30, 2 that close theirs in a 16 MB
  # body (64 kB read); 8 curls (a connection each), 2 that give up on a
  # 16 MB body at 200 kB/s after 1 s, one with 8 URLs on one connection
  # (curl 7.88 fails the second one: it closes the connection then)
  local pids=()
  for i in 1 2 3 4; do
    timeout 10 "$PY" "$here/h2_client.py" "$p3" par "${paths[@]}" >"$dir/par$i.out" 2>&1 &
    pids+=($!)
  done
  for i in 1 2; do
    (timeout 10 "$PY" "$here/h2_client.py" "$p3" drop "${paths[@]}" >"$dir/drop$i.out" 2>&1
     echo $? >"$dir/drop$i.rc") &
    pids+=($!)
    (timeout 10 "$PY" "$here/h2_client.py" "$p3" half "${paths[@]}" >"$dir/half$i.out" 2>&1
     echo $? >"$dir/half$i.rc") &
    pids+=($!)
    timeout 10 "$PY" "$here/h2_client.py" "$p3" abort "/big.bin?$r-$i" >"$dir/abort$i.out" 2>&1 &
    pids+=($!)
    (timeout 10 curl -s --http2-prior-knowledge --limit-rate 200k -m 1 -o /dev/null "$h2/big.bin?$r-c$i"
     echo $? >"$dir/curlabort$i.rc") &
    pids+=($!)
  done
  local urls=()
  for i in $(seq 0 7); do urls+=(-o /dev/null "$h2${paths[$i]}"); done
  timeout 10 curl -s --http2-prior-knowledge --parallel --parallel-immediate \
    -w "%{http_code} %{http_version}\n" "${urls[@]}" >"$dir/curl.out" 2>/dev/null &
  pids+=($!)
  (timeout 10 curl -s --http2-prior-knowledge "${urls[@]}" >/dev/null 2>&1; echo $? >"$dir/curlmulti.rc") &
  pids+=($!)
  for p in "${pids[@]}"; do wait "$p"; done
  for i in 1 2 3 4; do
    out=$(awk '{print $1 " " $3}' "$dir/par$i.out")
    [ "$out" = "$want" ] || fail "round $r: HTTP/2, 30 concurrent streams (client $i): $(echo $out | head -c 300)"
  done
  for i in 1 2; do
    out=$(head -1 "$dir/drop$i.out")
    case "$out" in "200 "*) ;; *) fail "round $r: HTTP/2 closed at the first answer (client $i): '$out'" ;; esac
    for m in drop half; do
      [ "$(cat "$dir/$m$i.rc")" != 124 ] || fail "round $r: HTTP/2 client $m $i timed out (10 s)"
    done
    out=$(cat "$dir/abort$i.out")
    case "$out" in "200 "*) n=${out#200 }; n=${n%% *}; [ "$n" -ge 65536 ] && [ "$n" -lt 16777216 ] ;; *) false ;; esac ||
      fail "round $r: HTTP/2 aborted mid-body (client $i): '$out'"
    [ "$(cat "$dir/curlabort$i.rc")" = 28 ] ||
      fail "round $r: the aborted curl $i exited with $(cat "$dir/curlabort$i.rc"), not 28 (its own timeout)"
  done
  [ "$(cat "$dir/curlmulti.rc")" != 124 ] || fail "round $r: curl with 8 URLs on one connection timed out (10 s)"
  out=$(sort "$dir/curl.out" | tr '\n' ' ')
  want=$(for i in $(seq 0 7); do echo "${expect[$i]%% *} 2"; done | sort | tr '\n' ' ')
  [ "$out" = "$want" ] || fail "round $r: HTTP/2 with curl, 8 connections at once: '$out', not '$want'"
  # every connection closed by its client is closed by nginx: the count
  # falls back to the status request's own (2 s at most)
  for _ in $(seq 40); do out=$(status_active); [ "$out" = 1 ] && break; sleep 0.05; done
  [ "$out" = 1 ] || fail "round $r: nginx still counts $out open connections (1: the status request)"
  # and none of them is still open in the kernel (a socket nginx closed
  # that the preload kept): no connection of nginx's ports or to its
  # upstreams is established or waits for its close (2 s at most)
  if command -v ss >/dev/null; then
    for _ in $(seq 40); do
      out=$(ss -Htan state established state close-wait state syn-recv \
        "( sport = :$p1 or sport = :$p2 or sport = :$p3 or dport = :$p2 or dport = :$upport )")
      [ -z "$out" ] && break
      sleep 0.05
    done
    [ -z "$out" ] || fail "round $r: connections left in the kernel: $(echo "$out" | head -3)"
  fi
}

round a
# reload: SIGHUP to the master, new workers, the old ones exit
old=$(workers)
[ "$(echo $old | wc -w)" = 2 ] || fail "workers: '$old'"
kill -HUP "$master"
new= fresh=0 stale=2
for _ in $(seq 100); do
  new=$(workers) fresh=0 stale=0
  for w in $new; do case " $old " in *" $w "*) stale=$((stale + 1)) ;; *) fresh=$((fresh + 1)) ;; esac; done
  [ $fresh = 2 ] && [ $stale = 0 ] && break
  sleep 0.05
done
[ $fresh = 2 ] && [ $stale = 0 ] || fail "reload: workers $old -> $new after 5 s"
round b
ngx_quit "$master" $ngx "$dir"
[ -z "$NGX_WHY" ] || fail "$NGX_WHY"
grep -q "send() failed" "$dir/error.log" && fail "nginx logged: $(grep -m1 "send() failed" "$dir/error.log")"
grep -q "open socket .* left in connection" "$dir/error.log" &&
  fail "nginx logged: $(grep -m1 "open socket .* left in connection" "$dir/error.log")"
started=
if [ "$be" != kernel ]; then
  # 2 workers, 2 after the reload (and the master: its syslog socket)
  started=$(ngx_datapaths "$dir" "$be")
  [ "$started" -ge 4 ] || fail "$started processes started the $be datapath (4 workers expected)"
  started=" ($started datapaths)"
fi
echo "nginx over $be$started: proxy_bind source 127.0.0.2 (Python and nginx upstreams), syslog 20+20 access and 20+20 error lines, HTTP/2 in turn, parallel and aborted with no connection left, reload and quit: passed"
