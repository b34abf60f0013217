# SPDX-License-Identifier: MIT
# Sourced by the nginx tests of test/preload (POSIX sh: app-nginx.sh is a
# /bin/sh script).
#
# ngx_wait_up URL PID DIR BACKEND: wait (5 s at most) until nginx, started
# as PID with its logs in DIR/out.log and DIR/error.log, serves URL.
# Returns 0 once it does, 1 if it never did; exits 77 (SKIP) when the
# preload said BACKEND is not built into it (nginx then runs on the
# kernel, which is not what the test is about).
ngx_wait_up() {
  local url=$1 pid=$2 dir=$3 be=$4 up=1
  for _ in $(seq 100); do
    if timeout 2 curl -fs "$url" >/dev/null 2>&1; then up=0; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if cat "$dir/out.log" "$dir/error.log" 2>/dev/null | grep -q "is not built into this library"; then
    echo "SKIP: backend $be is not built"; exit 77
  fi
  return $up
}

# ngx_kill_groups PID...: stop the process groups these setsid'd pids
# lead (nginx and its workers, a client and its children): TERM, up to
# 2 s for them to go, then KILL.
ngx_kill_groups() {
  local g alive
  for g in "$@"; do kill -TERM -- "-$g" 2>/dev/null; done
  for _ in $(seq 20); do
    alive=0
    for g in "$@"; do kill -0 "$g" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for g in "$@"; do kill -KILL -- "-$g" 2>/dev/null; done
}

# ngx_python: PY, the system python (no pyenv shim in between).
ngx_python() {
  PY=/usr/bin/python3
  [ -x "$PY" ] || PY=$(command -v python3)
}

# ngx_scaffold: PY, a fresh $dir, and at exit the process groups led by
# $ngx (nginx) and $peers (the test's Python peers) stopped and $dir
# removed.
ngx_scaffold() {
  ngx_python
  dir=$(mktemp -d)
  ngx= peers=
  trap 'ngx_kill_groups $ngx $peers; wait 2>/dev/null; rm -rf "$dir"' EXIT
}

# ngx_start DEMI_RUN BACKEND [ENV...]: nginx with $dir/nginx.conf, its
# output in $dir/out.log, in a process group of its own under a 45 s
# timeout, under demi-run on BACKEND (with ENV, VAR=VALUE words) or on
# the kernel (BACKEND kernel); ngx is its pid.
ngx_start() {
  local demirun=$1 be=$2
  shift 2
  if [ "$be" = kernel ]; then
    setsid timeout -k 3 45 nginx -p "$dir" -c "$dir/nginx.conf" >"$dir/out.log" 2>&1 </dev/null &
  else
    setsid timeout -k 3 45 env DEMI_LOG=info "$@" "$demirun" --backend "$be" -- \
      nginx -p "$dir" -c "$dir/nginx.conf" >"$dir/out.log" 2>&1 </dev/null &
  fi
  ngx=$!
}

# ngx_logs N: the end of nginx's logs in $dir, for a failure's report.
ngx_logs() {
  echo "--- nginx error.log (last $1 lines)"; tail -"$1" "$dir/error.log" 2>/dev/null
  echo "--- nginx stdout/stderr"; tail -10 "$dir/out.log" 2>/dev/null
}

# ngx_conf_common DIR LEVEL: the lines every test's nginx.conf starts
# with (2 workers as nginx's default user, in the foreground, its pid and
# error log in DIR), then the start of the http block with no access log
# and its temporary files in DIR/tmp; the caller adds its servers and
# closes the block.
ngx_conf_common() {
  cat <<CONF
worker_processes 2;
daemon off;
pid $1/nginx.pid;
error_log $1/error.log $2;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $1/tmp; proxy_temp_path $1/tmp; fastcgi_temp_path $1/tmp;
  uwsgi_temp_path $1/tmp; scgi_temp_path $1/tmp;
CONF
}

# ngx_quit MASTER PID DIR: SIGQUIT to nginx's MASTER (started by this
# shell as PID); NGX_WHY says why it failed if it did not exit within 5 s
# with status 0, or logged an alert, crit or emerg in DIR/error.log, and
# is empty if it did. (Not in a $(...): only this shell can wait for PID.)
ngx_quit() {
  local master=$1 pid=$2 dir=$3 rc
  NGX_WHY=
  kill -QUIT "$master"
  for _ in $(seq 100); do kill -0 "$master" 2>/dev/null || break; sleep 0.05; done
  if kill -0 "$master" 2>/dev/null; then NGX_WHY="nginx did not exit within 5 s of SIGQUIT"; return; fi
  wait "$pid"
  rc=$?
  if [ $rc != 0 ]; then NGX_WHY="nginx exited with $rc"; return; fi
  if grep -E "\[(alert|crit|emerg)\]" "$dir/error.log" >"$dir/bad.log"; then
    NGX_WHY="nginx logged: $(head -2 "$dir/bad.log")"
  fi
}

# ngx_datapaths DIR BACKEND: how many processes logged that they started
# BACKEND's datapath (in DIR/out.log and DIR/error.log).
ngx_datapaths() {
  cat "$1/out.log" "$1/error.log" 2>/dev/null | grep "datapath started: backend $2" |
    sed 's/^demi\[\([0-9]*\)\].*/\1/' | sort -u | wc -l
}
