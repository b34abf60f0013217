# SPDX-License-Identifier: MIT
# Sourced by the nginx tests of test/preload.
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
