#!/bin/bash
# SPDX-License-Identifier: MIT
# Connections made while nginx reloads: none is reset or refused. nginx
# (master on, 2 workers, accept_mutex off: its defaults) listens on P1 and,
# with `reuseport` (a socket per worker), on P2; three clients connect in a
# loop (connect_loop.py: two to P1, one to P2) while the master is sent
# SIGHUP RELOADS times, each time until the new workers replaced the old
# ones, which close their copies of the listeners and exit. On the kernel
# (BACKEND kernel: nothing preloaded) or under demi-run on BACKEND, the
# same checks: every connection answered; under the preload, the workers'
# datapaths served them (DEMI_STATS: the queues they opened, a connection
# each, are at least as many).
# Everything runs in process groups of its own (setsid) under timeout;
# cleanup kills those groups only.
# usage: app-nginx-reload.sh DEMI_RUN BACKEND [RELOADS]
set -u
demirun=$1 be=$2 reloads=${3:-8}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/nginx-lib.sh"
command -v nginx >/dev/null || { echo "SKIP: nginx not installed (apt-get install nginx-light)"; exit 77; }
ngx_python
dir=$(mktemp -d)
ngx= clients=()
cleanup() {
  ngx_kill_groups $ngx "${clients[@]}"
  wait 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
fail() {
  echo "FAIL ($be): $*"
  echo "--- nginx error.log (last 15 lines)"; tail -15 "$dir/error.log" 2>/dev/null
  echo "--- nginx stdout/stderr"; tail -10 "$dir/out.log" 2>/dev/null
  for i in 1 2 3; do echo "--- client $i"; cat "$dir/client$i.out" "$dir/client$i.err" 2>/dev/null | head -5; done
  exit 1
}

ports=$("$PY" "$here/../free_port.py" 2) || fail "no free port"
read -r p1 p2 <<EOF
$(echo $ports)
EOF
mkdir -p "$dir/html" "$dir/tmp"
echo "hello from nginx" >"$dir/html/index.html"
: >"$dir/stats"
chmod -R a+rwX "$dir" # the workers run as nginx's default user (root starts it)
cat >"$dir/nginx.conf" <<CONF
$(ngx_conf_common "$dir" notice)
  keepalive_timeout 5;
  server { listen 127.0.0.1:$p1; root $dir/html; }
  server { listen 127.0.0.1:$p2 reuseport; root $dir/html; }
}
CONF
if [ "$be" = kernel ]; then
  run=()
else
  run=(env DEMI_LOG=info DEMI_STATS="$dir/stats" "$demirun" --backend "$be" --)
fi
setsid timeout -k 3 40 "${run[@]}" nginx -p "$dir" -c "$dir/nginx.conf" >"$dir/out.log" 2>&1 </dev/null &
ngx=$!
up=0
for _ in $(seq 100); do
  if timeout 2 "$PY" "$here/connect_loop.py" "$p1" "$dir/none" 0.01 2>/dev/null | grep -q "^ok [1-9]"; then up=1; break; fi
  kill -0 $ngx 2>/dev/null || break
  sleep 0.05
done
if cat "$dir/out.log" "$dir/error.log" 2>/dev/null | grep -q "is not built into this library"; then echo "SKIP: backend $be is not built"; exit 77; fi
[ $up = 1 ] || fail "nginx did not serve on port $p1"
master=$(cat "$dir/nginx.pid") || fail "no pid file"
workers() { pgrep -P "$master" | sort | tr '\n' ' '; }

i=0
for p in $p1 $p1 $p2; do
  i=$((i + 1))
  setsid timeout -k 3 30 "$PY" "$here/connect_loop.py" "$p" "$dir/stop" 25 >"$dir/client$i.out" 2>"$dir/client$i.err" </dev/null &
  clients+=($!)
done
sleep 0.5
for r in $(seq "$reloads"); do
  old=$(workers)
  kill -HUP "$master"
  fresh=0 stale=2
  for _ in $(seq 100); do
    new=$(workers) fresh=0 stale=0
    for w in $new; do case " $old " in *" $w "*) stale=$((stale + 1)) ;; *) fresh=$((fresh + 1)) ;; esac; done
    [ $fresh = 2 ] && [ $stale = 0 ] && break
    sleep 0.05
  done
  [ $fresh = 2 ] && [ $stale = 0 ] || fail "reload $r: workers $old -> $new after 5 s"
  sleep 0.3
done
sleep 0.3
touch "$dir/stop"
for p in "${clients[@]}"; do wait "$p"; done
total=0 bad=
for i in 1 2 3; do
  read -r _ ok _ reset _ refused _ other <"$dir/client$i.out" || fail "client $i printed nothing"
  total=$((total + ok))
  [ "$reset$refused$other" = 000 ] || bad="$bad client $i: $reset reset, $refused refused, $other other;"
  [ "$ok" -gt 100 ] || bad="$bad client $i: only $ok connections;"
done
[ -z "$bad" ] || fail "$reloads reloads, $total connections answered;$bad"
ngx_quit "$master" $ngx "$dir"
[ -z "$NGX_WHY" ] || fail "$NGX_WHY"
served=
if [ "$be" != kernel ]; then
  # every process dumps its datapaths' counters at exit
  q=$(awk '$1 == "core.queues_opened" { n += $2 } END { print n + 0 }' "$dir/stats")
  [ "$q" -ge "$total" ] || fail "the datapaths opened $q queues for $total connections: not all were offloaded"
  served=" (the datapaths opened $q queues)"
fi
echo "nginx over $be: $reloads reloads while 3 clients connected in a loop: $total connections, none reset or refused$served: passed"
