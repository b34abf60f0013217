# SPDX-License-Identifier: MIT
# test/compat/lib.sh: what every compatibility cell shares. Sourced by
# app_*.sh; a cell is "one application over one backend".
#
# How a cell works: app_X.sh BUILD BACKEND sources this file and calls
# cell_begin, which makes a temp dir, installs a trap that kills every
# process the cell started (by the pids it recorded, never by name), and
# decides, for the backend, how the server, the clients and the readiness
# probes are run (the wrappers srv/cli/probe below) and which address the
# server listens on. It then either SKIPs with a reason (a piece is not
# built, no privilege) or runs the scenario; cell_pass / cell_fail /
# cell_skip print one line "RESULT <PASS|FAIL|SKIP> <reason>" and exit
# 0 / 1 / 77. The driver (run.sh) collects those lines into the table.
#
# Backends:
#   kernel      no preload at all (the baseline; always runs)
#   posix|uring the server under scripts/demi-run --backend B; the client
#               is the kernel's (for the "client" cell, the other way round)
#   dpdk-memif  our TCP/IP stack over DPDK net_memif, both ends preloaded:
#               the server is the memif server, each client invocation a
#               fresh memif client with its own IP and EAL file prefix
#   memif       the same over our own memif driver (devices/memif, no
#               DPDK): each client invocation a fresh memif client; cells
#               whose server forks workers that open the datapath
#               (CELL_SHARED_PORT=1) skip: one process per interface
#   dpdk-tap    our stack over DPDK net_af_packet on a veth whose peer sits
#               in a network namespace where the kernel's client runs; a
#               cell that sets CELL_SHARED_PORT=1 before cell_begin (nginx:
#               master on, 2 workers) gets instead a net_tap port owned by
#               demi-dpdk-primary (started through demi-run --dpdk-primary),
#               each server process a secondary on its own queue pair; the
#               tap is in netns C with the kernel's client (af_packet cannot
#               be shared in DPDK 22.11: devices/dpdk/README.md)
#   A shared port under dpdk-memif (CELL_SHARED_PORT=1): the server's memif
#               port has its primary, the clients' memif port another one,
#               2 queue pairs each; every server process and every client
#               invocation is a secondary on a queue of its own side
set -u

COMPAT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$COMPAT_DIR/../.." && pwd)
PY=/usr/bin/python3                 # the system python (no pyenv shim under the preload)
[ -x "$PY" ] || PY=$(command -v python3)
CELL_PIDS=()
CELL_NETNS=()
CELL_TMP=""
CELL_APP=""
CELL_BE=""
CELL_SHARED_PORT=${CELL_SHARED_PORT:-0}
SHARED=0          # this cell's server runs on a shared DPDK port (see shared_setup)
SHARED_RUN=""     # the primary's runtime directory (its pid file is in there)
SHARED_HUGE=""    # our hugetlbfs mount
SHARED_HUGE_ADDED=0 SHARED_HUGE_ORIG=0
CELL_T0=$(date +%s)

log() { echo "[$CELL_APP/$CELL_BE] $*" >&2; }

# The end of a cell: one machine-readable line, then the exit code.
cell_result() { # STATUS CODE REASON...
  local st=$1 code=$2; shift 2
  local dt=$(( $(date +%s) - CELL_T0 ))
  echo "RESULT $st ${dt}s $*"
  exit "$code"
}
cell_pass() { cell_result PASS 0 "$*"; }
cell_fail() { cell_result FAIL 1 "$*"; }
cell_skip() { cell_result SKIP 77 "$*"; }

# Show the tail of the logs a failing cell produced (stderr, for the test log).
show_logs() {
  local f
  for f in "$CELL_TMP"/*.log; do
    [ -s "$f" ] || continue
    # A crash report (redis prints one on SIGSEGV) is what explains a
    # failure; its tail is not: show where it crashed and the backtrace.
    local at
    at=$(grep -n -m1 -E 'crashed by signal|------ STACK TRACE' "$f" | cut -d: -f1)
    if [ -n "$at" ]; then
      echo "---- $(basename "$f") (crash report)" >&2
      sed -n "$((at > 3 ? at - 3 : 1)),$((at + 45))p" "$f" >&2
    fi
    echo "---- $(basename "$f") (last 15 lines)" >&2
    tail -n 15 "$f" >&2
  done
}
fail() { show_logs; cell_fail "$@"; }

cleanup() {
  local p i
  # Politely first, then for sure; children of a wrapper (timeout, ip netns
  # exec, demi-run) are in the process group we started with setsid.
  for p in "${CELL_PIDS[@]}"; do kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null; done
  for i in $(seq 20); do
    local alive=0
    for p in "${CELL_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for p in "${CELL_PIDS[@]}"; do kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  shared_cleanup
  for n in "${CELL_NETNS[@]}"; do ip netns del "$n" 2>/dev/null; done
  # EAL runtime dirs of our DPDK processes (left behind when one is killed)
  rm -rf /var/run/dpdk/dmc$$_* /var/run/dpdk/dmt$$_* 2>/dev/null
  if [ -n "$CELL_TMP" ] && [ -d "$CELL_TMP" ]; then
    [ -n "${COMPAT_KEEP:-}" ] && echo "kept $CELL_TMP" >&2 || rm -rf "$CELL_TMP"
  fi
}

# A free TCP port (bind succeeds on 127.0.0.1 now) below Linux's ephemeral
# range (32768-60999): there a load tool's own client ports, thousands in
# TIME_WAIT after a run of "Connection: close", can hold it in the
# server's namespace (bench/scale --path netns: nginx could not bind the
# port drawn after such a run).
pick_port() {
  "$PY" - <<'PY'
import random, socket
for _ in range(200):
    p = random.randint(20000, 32767)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); s.close(); print(p); break
    except OSError:
        s.close()
PY
}

# bg NAME ROLE SECS CMD...: start CMD in the background as ROLE (srv, cli;
# see prefix) bounded to SECS, in its own process group, output to
# $CELL_TMP/NAME.log; its pid is recorded for cleanup and left in $BG_PID.
bg() {
  local name=$1 role=$2 secs=$3; shift 3
  prefix "$role"
  setsid timeout -k 3 "$secs" "${W[@]}" "$@" >"$CELL_TMP/$name.log" 2>&1 </dev/null &
  BG_PID=$!
  CELL_PIDS+=("$BG_PID")
}

# run ROLE SECS CMD...: CMD in the foreground as ROLE, bounded to SECS.
run() {
  local role=$1 secs=$2; shift 2
  prefix "$role"
  timeout -k 3 "$secs" "${W[@]}" "$@"
}

# stop PID [SECS]: end one process we started (and its group): TERM, then
# KILL after SECS (5), and wait for it.
stop() {
  local p=$1 i
  kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null
  for i in $(seq $((${2:-5} * 10))); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$p" 2>/dev/null
  wait "$p" 2>/dev/null
}

# ---- backends -------------------------------------------------------------

# demi-run: the build dir's copy if it has one, else the source tree's.
find_demi_run() {
  local c
  for c in "$BUILD/scripts/demi-run" "$SRC/scripts/demi-run"; do
    [ -x "$c" ] && { echo "$c"; return 0; }
  done
  return 1
}

# built COMPONENT_DIR: a static library was built for that folder.
built() { ls "$BUILD/$1"/*.a >/dev/null 2>&1; }

# Why BACKEND cannot run here (empty when it can).
backend_missing() {
  local be=$1
  [ "$be" = kernel ] && return 0
  [ "$be" = kernel-1cpu ] && return 0
  [ -f "$BUILD/interpose/libdemi-preload.so" ] || { echo "preload library not built ($BUILD/interpose/libdemi-preload.so)"; return 0; }
  find_demi_run >/dev/null || { echo "scripts/demi-run missing"; return 0; }
  case $be in
    posix) built stacks/posix || echo "posix backend not built" ;;
    uring) built stacks/uring || echo "uring backend not built (stacks/uring has no library in $BUILD)" ;;
    memif)
      built devices/memif || { echo "memif device not built (devices/memif)"; return 0; }
      built stacks/inet || { echo "inet stack (stacks/inet) not built: DEMI_BACKEND=memif has no TCP"; return 0; } ;;
    dpdk-memif|dpdk-tap)
      built devices/dpdk || { echo "DPDK device not built (devices/dpdk)"; return 0; }
      built stacks/inet || { echo "inet stack (stacks/inet) not built: DEMI_BACKEND=dpdk has no TCP"; return 0; }
      [ "$(id -u)" = 0 ] || { echo "needs root (DPDK vdevs, netns)"; return 0; }
      if [ "$be" = dpdk-tap ]; then
        command -v ip >/dev/null || { echo "iproute2 missing"; return 0; }
        command -v ethtool >/dev/null || { echo "ethtool missing (offloads must be off on the veth)"; return 0; }
      fi ;;
    *) echo "unknown backend $be" ;;
  esac
}

# demi_pfx BACKEND ENV...: W = the command prefix running under demi-run.
demi_pfx() {
  local be=$1; shift
  W=(env DEMI_LOG="${DEMI_LOG:-warn}" DEMI_PRELOAD_LIB="$BUILD/interpose/libdemi-preload.so" "$@" "$DEMI_RUN" --backend "$be" --)
}

MEMIF_N=0     # memif endpoints started so far (each its own EAL prefix, client IP)
MEMIF_SRV=0   # memif servers started so far (each its own socket)
memif_env() { # role ip: the environment of one memif endpoint
  local role=$1 ip=$2
  echo "DEMI_DPDK_ARGS=--vdev=net_memif0,role=$role,socket=$CELL_TMP/memif$MEMIF_SRV.sock" \
       "DEMI_DPDK_PREFIX=dmc$$_${role}_$MEMIF_N" "DEMI_IPV4=$ip/24"
  # No DEMI_DPDK_LINK_WAIT_MS: under the preload the wait never sees the
  # link come up (see the compat report); TCP's SYN retransmission covers
  # a link that is not up yet.
}

mif_env() { # role ip: the environment of one endpoint on our memif device
  local role=$1 ip=$2 wait=3000
  [ "$role" = server ] && wait=0
  # a client waits for the link at start-up (its SYN would go nowhere)
  echo "DEMI_MEMIF_ROLE=$role" "DEMI_MEMIF_SOCKET=$CELL_TMP/mif$MEMIF_SRV.sock" "DEMI_IPV4=$ip/24" \
       "DEMI_MEMIF_LINK_WAIT_MS=$wait"
}

# The netns pair for dpdk-tap: NS_S holds vethS (the DPDK af_packet port,
# no kernel address), NS_C holds vethC with the kernel's address.
tap_setup() {
  local id=$(( $$ % 10000 ))
  NS_S=dmS$id; NS_C=dmC$id
  local vs=dvS$id vc=dvC$id
  ip netns add "$NS_S" || return 1; CELL_NETNS+=("$NS_S")
  ip netns add "$NS_C" || return 1; CELL_NETNS+=("$NS_C")
  ip link add "$vs" netns "$NS_S" type veth peer name "$vc" netns "$NS_C" || return 1
  local ns
  for ns in "$NS_S" "$NS_C"; do
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    ip netns exec "$ns" ip link set lo up
  done
  # Full frames with full checksums on the wire: af_packet sees what the
  # kernel hands the veth, which with offloads on is unchecksummed / GSO.
  ip netns exec "$NS_C" ethtool -K "$vc" tx off tso off gso off gro off >/dev/null 2>&1
  ip netns exec "$NS_S" ethtool -K "$vs" rx off tx off tso off gso off gro off >/dev/null 2>&1
  ip netns exec "$NS_S" ip link set "$vs" up
  ip netns exec "$NS_C" ip addr add "$TAP_NET.2/24" dev "$vc"
  ip netns exec "$NS_C" ip link set "$vc" up
  TAP_IF=$vs
}
# ---- a shared port (CELL_SHARED_PORT=1) ----
# demi-run --dpdk-primary starts demi-dpdk-primary (its own session, not
# in our process groups): under dpdk-tap on a net_tap port in netns C;
# under dpdk-memif one on the server's memif port (role server) and one,
# started by the first client, on the clients' (role client). Primaries
# need hugepages (secondaries map their memory): we reserve only what is
# missing and mount a private hugetlbfs, and undo both in shared_cleanup.
SHARED_QUEUES=2
SHARED_GROUP=${SHARED_GROUP:-nobody}   # the group the servers' workers run as (nginx: nobody)
SHARED_KIND=tap
shared_setup() { # [tap|memif]
  local id=$(( $$ % 10000 )) free pages=160
  SHARED_KIND=${1:-tap}
  SHARED_RUN=$CELL_TMP/run
  if [ "$SHARED_KIND" = memif ]; then
    pages=300       # two primaries, 256 MiB each
    SHARED_PREFIX=dmc$$_srv SHARED_CLI_PREFIX=dmc$$_cli
  else
    NS_C=dmC$id
    ip netns add "$NS_C" || return 1; CELL_NETNS+=("$NS_C")
    ip netns exec "$NS_C" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    ip netns exec "$NS_C" ip link set lo up
    TAP_IF=dtp$id SHARED_PREFIX=dmt$$_mp
  fi
  SHARED=1      # from here on shared_cleanup undoes what was done
  SHARED_HUGE_ORIG=$(cat /proc/sys/vm/nr_hugepages 2>/dev/null || echo 0)
  free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
  if [ "${free:-0}" -lt $pages ]; then
    # HugePages_Total counts surplus pages others use (nr_hugepages does
    # not): raising the pool turns those into persistent ones
    local total
    total=$(awk '/HugePages_Total/ {print $2}' /proc/meminfo)
    SHARED_HUGE_ADDED=1
    echo $((total + pages - ${free:-0})) >/proc/sys/vm/nr_hugepages 2>/dev/null
  fi
  free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
  [ "${free:-0}" -ge $pages ] || { SHARED_WHY="could not reserve $pages hugepages (free: ${free:-0})"; return 2; }
  mkdir -p "$CELL_TMP/huge" && mount -t hugetlbfs nodev "$CELL_TMP/huge" || { SHARED_WHY="cannot mount hugetlbfs"; return 2; }
  SHARED_HUGE=$CELL_TMP/huge
  chmod 755 "$CELL_TMP"
}
# shared_port_up SECS: the primary made the tap; give the kernel's end the
# client's address. memif: the server's primary is up and listens on its
# (abstract) socket: a client primary started before it fails to start.
# No-op for a cell without a shared port.
shared_port_up() {
  [ "$SHARED" = 1 ] || return 0
  local i
  if [ "$SHARED_KIND" = memif ]; then
    for ((i = 0; i < $1 * 10; i++)); do
      [ -s "$SHARED_RUN/$SHARED_PREFIX.pid" ] && return 0
      sleep 0.1
    done
    return 1
  fi
  for ((i = 0; i < $1 * 10; i++)); do
    ip -n "$NS_C" link show "$TAP_IF" >/dev/null 2>&1 && break
    sleep 0.1
  done
  ip -n "$NS_C" link show "$TAP_IF" >/dev/null 2>&1 || return 1
  ip netns exec "$NS_C" sysctl -qw "net.ipv6.conf.$TAP_IF.disable_ipv6=1"
  ip -n "$NS_C" addr add "$TAP_NET.2/24" dev "$TAP_IF" && ip -n "$NS_C" link set "$TAP_IF" up
}
shared_primary_pid() { cat "$SHARED_RUN/${1:-$SHARED_PREFIX}.pid" 2>/dev/null; }
# shared_table: the primary's queue table now ("queue N: pid P claims C rx R tx T ...")
shared_table() {
  local pid log=$SHARED_RUN/$SHARED_PREFIX.log n i
  pid=$(shared_primary_pid); [ -n "$pid" ] || return 1
  n=$(grep -c '^queue 0:' "$log")
  kill -USR1 "$pid"
  for i in $(seq 50); do [ "$(grep -c '^queue 0:' "$log")" -gt "$n" ] && break; sleep 0.05; done
  sleep 0.1
  grep '^queue ' "$log" | tail -n $SHARED_QUEUES
}
# shared_primary_stop [PREFIX]: end the primary demi-run started (its pid
# file; default: the server's), wait for it: its tap goes with it
shared_primary_stop() {
  local pfx=${1:-$SHARED_PREFIX} pid i
  pid=$(shared_primary_pid "$pfx")
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  for i in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$SHARED_RUN/$pfx.pid"
}
shared_cleanup() {
  [ "$SHARED" = 1 ] || return 0
  local i
  shared_primary_stop
  [ "$SHARED_KIND" = memif ] && shared_primary_stop "$SHARED_CLI_PREFIX"
  # the secondaries we killed may still be unmapping their hugepages
  if [ -n "$SHARED_HUGE" ]; then
    for i in $(seq 50); do umount "$SHARED_HUGE" 2>/dev/null && break; sleep 0.1; done
    mountpoint -q "$SHARED_HUGE" && umount -l "$SHARED_HUGE"
  fi
  [ "$SHARED_HUGE_ADDED" = 1 ] && echo "$SHARED_HUGE_ORIG" >/proc/sys/vm/nr_hugepages 2>/dev/null
  SHARED=0
}
shared_env() { # [cli]: SHARED_ENV, the server's (or under memif a client's) environment
  if [ "$SHARED_KIND" = tap ]; then
    SHARED_ENV=("DEMI_DPDK_ARGS=--vdev=net_tap0,iface=$TAP_IF --huge-dir=$SHARED_HUGE -m 256"
       "DEMI_DPDK_PREFIX=$SHARED_PREFIX" "DEMI_DPDK_MP_GROUP=$SHARED_GROUP" "DEMI_IPV4=$TAP_NET.1/24")
  # --single-file-segments: else a secondary holds one fd per hugepage of
  # the primary (128 here), and wrk, whose event loop takes fds below
  # 10 + 3 x its connections only, fails its connects
  elif [ "${1:-}" = cli ]; then
    SHARED_ENV=("DEMI_DPDK_ARGS=--vdev=net_memif0,role=client,socket=$CELL_TMP/memif.sock --huge-dir=$SHARED_HUGE -m 256 --single-file-segments"
       "DEMI_DPDK_PREFIX=$SHARED_CLI_PREFIX" "DEMI_IPV4=$MEMIF_NET.2/24")
  else
    SHARED_ENV=("DEMI_DPDK_ARGS=--vdev=net_memif0,role=server,socket=$CELL_TMP/memif.sock --huge-dir=$SHARED_HUGE -m 256 --single-file-segments"
       "DEMI_DPDK_PREFIX=$SHARED_PREFIX" "DEMI_DPDK_MP_GROUP=$SHARED_GROUP" "DEMI_IPV4=$MEMIF_NET.1/24")
  fi
  SHARED_ENV+=("DEMI_DPDK_RUNDIR=$SHARED_RUN" "DEMI_STRICT=1")
}
shared_pfx() { # [cli]: W, a shared-port process under demi-run --dpdk-primary
  shared_env "$@"
  W=(env DEMI_LOG="${DEMI_LOG:-warn}" DEMI_PRELOAD_LIB="$BUILD/interpose/libdemi-preload.so"
     "${SHARED_ENV[@]}" "$DEMI_RUN" "--dpdk-primary=$SHARED_QUEUES" --)
}

tap_env() {
  echo "DEMI_DPDK_ARGS=--vdev=net_af_packet0,iface=$TAP_IF" "DEMI_DPDK_PREFIX=dmt$$_$RANDOM" \
       "DEMI_IPV4=$TAP_NET.1/24"
}

# prefix srv|cli|probe: W = how this backend runs a server, a client or
# a readiness probe (see the top). MODE=server: the server is preloaded;
# MODE=client: the client is (the "client" cell); MODE=both: both are
# (the benchmarks: each column is one backend end to end). dpdk-tap only
# knows server and client.
prefix() {
  W=()
  case "$1/$CELL_BE/$CELL_MODE" in
    */kernel/*) ;;
    */kernel-1cpu/*) W=(taskset -c "${COMPAT_PIN_CPU:-0}") ;;   # bench only: both ends on one CPU
    probe/posix/*|probe/uring/*) ;;
    srv/posix/server|srv/uring/server|*/posix/both|*/uring/both) demi_pfx "$CELL_BE" ;;
    cli/posix/client|cli/uring/client) demi_pfx "$CELL_BE" ;;
    */posix/*|*/uring/*) ;;
    srv/dpdk-memif/server) [ "$SHARED" = 1 ] && { shared_pfx; return; }
      MEMIF_N=$((MEMIF_N + 1)); MEMIF_SRV=$((MEMIF_SRV + 1)); demi_pfx dpdk $(memif_env server "$MEMIF_NET.1") ;;
    */dpdk-memif/server) [ "$SHARED" = 1 ] && { shared_pfx cli; return; }
      MEMIF_N=$((MEMIF_N + 1)); demi_pfx dpdk $(memif_env client "$MEMIF_NET.$((10 + MEMIF_N % 200))") ;;
    srv/dpdk-memif/*) MEMIF_N=$((MEMIF_N + 1)); MEMIF_SRV=$((MEMIF_SRV + 1)); demi_pfx dpdk $(memif_env server "$MEMIF_NET.1") ;;
    */dpdk-memif/*) MEMIF_N=$((MEMIF_N + 1)); demi_pfx dpdk $(memif_env client "$MEMIF_NET.$((10 + MEMIF_N % 200))") ;;
    srv/memif/*) MEMIF_N=$((MEMIF_N + 1)); MEMIF_SRV=$((MEMIF_SRV + 1)); demi_pfx memif $(mif_env server "$MEMIF_NET.1") ;;
    */memif/*) MEMIF_N=$((MEMIF_N + 1)); demi_pfx memif $(mif_env client "$MEMIF_NET.$((10 + MEMIF_N % 200))") ;;
    srv/dpdk-tap/server)
      if [ "$SHARED" = 1 ]; then
        shared_pfx; W=(ip netns exec "$NS_C" "${W[@]}")
      else demi_pfx dpdk $(tap_env); W=(ip netns exec "$NS_S" "${W[@]}"); fi ;;
    cli/dpdk-tap/client) demi_pfx dpdk $(tap_env); W=(ip netns exec "$NS_S" "${W[@]}") ;;
    */dpdk-tap/*) W=(ip netns exec "$NS_C") ;;
  esac
}

# wait_port ADDR PORT [SECS]: the server accepts connections (from where
# this backend's clients run). One probe process retries inside itself,
# so a preloaded probe starts its stack once.
wait_port() {
  local addr=$1 port=$2 secs=${3:-15}
  run probe $((secs + 10)) "$PY" "$COMPAT_DIR/probe.py" "$addr" "$port" "$secs" >>"$CELL_TMP/probe.log" 2>&1
}

# cell_begin APP BACKEND MODE: set everything up or SKIP.
cell_begin() {
  CELL_APP=$1; CELL_BE=$2; CELL_MODE=${3:-server}
  if [ "${DEMI_TEST_SANITIZED:-}" = 1 ]; then
    # The sanitized build's preload would drag ASan into redis/nginx, which
    # were not built with it (ASan must be the first DSO): not meaningful.
    cell_skip "sanitized build: ASan cannot be preloaded into foreign binaries"
  fi
  local why
  why=$(backend_missing "$CELL_BE")
  [ -n "$why" ] && cell_skip "$why"
  DEMI_RUN=$(find_demi_run 2>/dev/null || true)
  CELL_TMP=$(mktemp -d "/tmp/demi_compat_${CELL_APP}_${CELL_BE}.XXXXXX")
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  MEMIF_NET=10.$((100 + RANDOM % 50)).$((RANDOM % 250)); TAP_NET=10.$((150 + RANDOM % 50)).$((RANDOM % 250))
  case "$CELL_BE" in
    dpdk-memif) ADDR=$MEMIF_NET.1
                if [ "$CELL_SHARED_PORT" = 1 ] && [ "$CELL_MODE" = server ]; then
                  local rc=0
                  [ -x "$BUILD/demi-dpdk-primary" ] || cell_skip "demi-dpdk-primary not built (no libdpdk)"
                  shared_setup memif || rc=$?
                  [ $rc = 0 ] || cell_skip "$SHARED_WHY"
                fi ;;
    memif) ADDR=$MEMIF_NET.1
           [ "$CELL_SHARED_PORT" = 1 ] && [ "$CELL_MODE" = server ] &&
             cell_skip "its server forks processes that each open the datapath: one memif interface serves one process (devices/memif/README.md)" ;;
    dpdk-tap) if [ "$CELL_SHARED_PORT" = 1 ] && [ "$CELL_MODE" = server ]; then
                local rc=0
                [ -x "$BUILD/demi-dpdk-primary" ] || cell_skip "demi-dpdk-primary not built (no libdpdk)"
                [ -c /dev/net/tun ] || cell_skip "no /dev/net/tun (the shared port is a net_tap)"
                shared_setup || rc=$?
                [ $rc = 2 ] && cell_skip "$SHARED_WHY"
                [ $rc = 0 ] || cell_fail "could not create the netns"
              else
                tap_setup || cell_fail "could not create the veth/netns pair"
              fi
              if [ "$CELL_MODE" = client ]; then ADDR=$TAP_NET.2; else ADDR=$TAP_NET.1; fi ;;
    *) ADDR=127.0.0.1 ;;
  esac
  # What servers bind to: the address itself (what users write), or with
  # COMPAT_BIND_ANY=1 the wildcard (to look past a failing specific bind).
  BIND=$ADDR
  [ "${COMPAT_BIND_ANY:-0}" = 1 ] && BIND=0.0.0.0
  for t in "${NEED_TOOLS[@]:-}"; do
    [ -z "$t" ] || command -v "$t" >/dev/null || cell_skip "$t not installed (scripts/deps.sh test)"
  done
}

# wrk_check NAME URL [WRK_ARGS...]: wrk -t1 -c10 for WRK_SECS (3) seconds
# as the client; the cell fails on an exit, no answer, a non-2xx answer or
# a socket error. Leaves the req/s in $rps.
wrk_check() {
  local name=$1 url=$2 secs=${WRK_SECS:-2} out; shift 2
  out=$CELL_TMP/wrk_$name.out
  run cli $((secs + 30)) wrk -t1 -c10 -d"${secs}s" "$@" "$url" >"$out" 2>&1 ||
    fail "wrk ($name) exited with $?: $(tail -n 2 "$out" | tr '\n' ' ')"
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
  awk -v r="${rps:-0}" 'BEGIN { exit !(r > 0) }' || fail "wrk ($name): no requests answered"
  grep -q "Non-2xx\|Socket errors" "$out" && fail "wrk ($name): $(grep 'Non-2xx\|Socket errors' "$out" | tr '\n' ' ')"
  return 0
}

# http_file_post FILE_URL POST_URL: curl of FILE_URL, which must be
# $CELL_TMP/big.bin byte for byte, and a POST of $CELL_TMP/post.bin to
# POST_URL, whose answer must be its sha256.
http_file_post() {
  run cli 60 curl -sS --max-time 50 -o "$CELL_TMP/big.got" "$1" 2>"$CELL_TMP/curl_big.log" ||
    fail "curl of the $(stat -c %s "$CELL_TMP/big.bin") B file: $(tail -n 2 "$CELL_TMP/curl_big.log" | tr '\n' ' ')"
  cmp -s "$CELL_TMP/big.got" "$CELL_TMP/big.bin" || fail "the file differs ($(stat -c %s "$CELL_TMP/big.got") B)"
  local got
  got=$(run cli 60 curl -sS --max-time 50 --data-binary @"$CELL_TMP/post.bin" "$2" 2>"$CELL_TMP/curl_post.log") ||
    fail "curl POST: $(tail -n 2 "$CELL_TMP/curl_post.log" | tr '\n' ' ')"
  [ "$got" = "$(sha256sum <"$CELL_TMP/post.bin" | cut -d' ' -f1)" ] || fail "the server's sha256 of the POST differs: $got"
}

# apache_setup DIR ADDR PORT MPM CHILDREN [DIRECTIVES]: Debian's apache2
# with its own minimal config in DIR (httpd.conf, www/, logs/), the event
# MPM (25 threads a child) or prefork, CHILDREN children as www-data
# (root where there is no such user), the parent as root; DIRECTIVES are
# appended. Leaves the command in APACHE.
apache_setup() {
  local dir=$1 addr=$2 port=$3 mpm=$4 n=$5 extra=${6:-} user=www-data limits
  mkdir -p "$dir/www" "$dir/logs"
  chmod 755 "$(dirname "$dir")" "$dir" "$dir/www"   # the children run as www-data
  echo "hello from apache under demi" >"$dir/www/index.html"
  chmod 644 "$dir/www/index.html"
  id www-data >/dev/null 2>&1 || user=root
  if [ "$mpm" = event ]; then
    limits="ThreadsPerChild 25
MaxRequestWorkers $((25 * n))
MinSpareThreads 25
MaxSpareThreads $((25 * n))"
  else
    limits="MaxRequestWorkers $n
MinSpareServers $n
MaxSpareServers $n"
  fi
  cat >"$dir/httpd.conf" <<CFG
ServerRoot /usr/lib/apache2
LoadModule mpm_${mpm}_module modules/mod_mpm_${mpm}.so
LoadModule authz_core_module modules/mod_authz_core.so
LoadModule dir_module modules/mod_dir.so
LoadModule mime_module modules/mod_mime.so
ServerName localhost
Listen $addr:$port
PidFile $dir/httpd.pid
Mutex file:$dir
ErrorLog $dir/logs/error.log
TypesConfig /etc/mime.types
User $user
Group $user
StartServers $n
ServerLimit $n
$limits
MaxKeepAliveRequests 0
DocumentRoot $dir/www
<Directory $dir/www>
  Require all granted
</Directory>
DirectoryIndex index.html
$extra
CFG
  APACHE=(apache2 -f "$dir/httpd.conf" -DFOREGROUND)
}

# nginx_setup DIR ADDR PORT [HTTP_DIRECTIVES]: a self-contained nginx prefix
# in DIR (config, logs, pid, temp paths all inside), one worker, access_log
# off, daemon off (we own the pid); HTTP_DIRECTIVES go into http { }.
# On a shared DPDK port (SHARED=1): stock nginx, master on, 2 workers as
# nginx's default user, and an access log of the serving worker's pid
# (logs/access.log) to tell that both served. Else, under a DPDK backend,
# no master process: one process owns its port.
nginx_setup() {
  local dir=$1 addr=$2 port=$3 extra=${4:-} master=on workers=1 alog="access_log off;" listen6=""
  # over kernel sockets nginx listens on [::1] too (IPv6, offloaded by
  # uring and posix); our own stack's cells have no IPv6 address here
  case "$CELL_BE" in kernel|posix|uring) [ "$addr" = 127.0.0.1 ] && listen6="listen [::1]:$port;" ;; esac
  case "$CELL_BE" in dpdk-*|memif) [ "${CELL_MODE:-server}" != client ] && master=off ;; esac
  if [ "$SHARED" = 1 ]; then
    master=on workers=$SHARED_QUEUES
    alog="log_format w '\$pid \$status'; access_log $dir/logs/access.log w;"
  fi
  mkdir -p "$dir/www" "$dir/tmp" "$dir/logs"
  chmod 755 "$(dirname "$dir")" "$dir"   # the worker runs as www-data
  echo "hello from nginx under demi" >"$dir/www/index.html"
  cat >"$dir/nginx.conf" <<NGX
worker_processes $workers;
master_process $master;
daemon off;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 4096; }
http {
    $alog
    keepalive_requests 1000000;
    $extra
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    default_type application/octet-stream;
    server {
        listen $addr:$port;
        $listen6
        root $dir/www;
    }
}
NGX
}
