#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/scale/scale.sh [options]: how servers scale with cores, the kernel
# against our backends, in one run on one machine.
#
# For each server, each N and each column, the server runs pinned to the
# first N CPUs and a load tool, pinned to the last L CPUs, drives it for
# --secs seconds over loopback:
#   memcached -t N            memcaslap -T L -c 256 -t S        ops/s
#   nginx, N worker processes wrk -tL -c256 -dS (keepalive)     req/s
#   redis-server (N=1 only)   redis-benchmark -c 50 -t get,set  GET, SET req/s
#   node, N cluster workers   wrk -tL -c256 -dS (keepalive)     req/s
#     (Node.js's own http module, a 27-byte reply: --servers node; N=1
#     one process, N>1 its cluster module's round robin: the primary
#     accepts and hands each connection to a worker over a unix socket)
#   nginx-close, N workers     the same with "Connection: close"  req/s
#   nginx-stock, N workers     the same (keepalive) with Debian's nginx.conf
#     for files: no open_file_cache (an open, fstat and close per request),
#     an access log (a write per request), sendfile and tcp_nopush
#     (a connection per request: accept, close, the FIN and TIME_WAIT)
#   apache, N children         wrk -tL -c25N -dS (keepalive)     req/s
#     (the event MPM, 25 threads a child: a keep-alive connection changes
#     threads at nearly every request)
#   apache-prefork, 8N children  wrk -tL -c8N -dS (keepalive)   req/s
#     (a process per connection at a time, blocking calls)
# Columns: kernel (nothing preloaded), then each backend in --backends (the
# server under scripts/demi-run --backend B; with --both the load tool too).
# The columns of one row run back to back, --rounds times over (the report
# keeps the median), so a ratio compares runs a minute apart, not an hour.
#
# --path netns (nginx, redis): the load tool runs in a network namespace L
# and reaches the server over a virtual link instead of loopback: the
# kernel column is the server in namespace K behind a veth pair K-L, the
# dpdk-tap column the server preloaded over a DPDK net_tap port whose
# kernel end is in L, owned by demi-dpdk-primary (started by demi-run
# --dpdk-primary=N, N queue pairs, one per nginx worker; redis: one), the
# xdp-veth column the server preloaded over AF_XDP on the K end of an
# N-queue veth pair (a queue and an XSK per worker). Only the server is
# preloaded. The columns a path offers are in netns_column.
#
# Each measurement is one line of OUT/cells.jsonl (a failed or skipped one
# too, with its reason); report.py turns them into OUT/scale.json, scale.md
# and scale.png. Raw tool outputs and server logs stay in OUT/raw/.
# Ports, bounding and cleanup are the compat suite's
# (test/compat/lib.sh): every process runs under timeout in its own
# process group and is killed by the pid we recorded, never by name.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/test/compat/lib.sh"
unset DEMI_TEST_SANITIZED
# lib.sh's bg and run add a per-backend prefix; we build our own
# (taskset + demi-run), so they must add none.
CELL_APP=scale CELL_BE=kernel CELL_MODE=server
ADDR=127.0.0.1

usage() {
  cat >&2 <<'EOF'
usage: bench/scale/scale.sh [--build DIR] [--servers memcached,nginx,nginx-close,nginx-stock,redis,node,apache,apache-prefork] [--n "1 2 4"]
         [--secs S] [--backends "uring posix"] [--rounds R] [--both] [--cost]
         [--load-cpus L] [--share-cpus] [--redis-n COUNT] [--out DIR]
         [--path loopback|netns]
EOF
  exit 2
}
die() { echo "scale.sh: $*" >&2; exit 1; }
posint() { case $1 in ''|*[!0-9]*|0) return 1 ;; esac; }

# ---- options --------------------------------------------------------------

BUILD=$top/build SERVERS="memcached nginx redis" NS="" SECS=10 BACKENDS="uring posix"
ROUNDS=1 BOTH=0 COST=0 LOAD_N="" REDIS_N="" OUT="" NETPATH=loopback SHARE=0 backends_set=0 servers_set=0
# A command line to paste back into a shell (printf %q escapes even commas).
shquote() {
  local a out=""
  for a in "$@"; do
    case $a in
      '') a="''" ;;
      *[!A-Za-z0-9_./,:=@%+-]*) a="'${a//\'/\'\\\'\'}'" ;;
    esac
    out+="$a "
  done
  echo "${out% }"
}
cmdline=$(shquote bench/scale/scale.sh "$@")
while [ $# -gt 0 ]; do
  case $1 in
    --both) BOTH=1; shift; continue ;;
    --cost) COST=1; shift; continue ;;
    --share-cpus) SHARE=1; shift; continue ;;
    -h|--help) usage ;;
    --build|--servers|--n|--secs|--backends|--rounds|--load-cpus|--redis-n|--out|--path)
      [ $# -ge 2 ] || usage ;;
    *) echo "scale.sh: unknown option $1" >&2; usage ;;
  esac
  case $1 in
    --build) BUILD=$2 ;;
    --servers) SERVERS=${2//,/ }; servers_set=1 ;;
    --n) NS=${2//,/ } ;;
    --secs) SECS=$2 ;;
    --backends) BACKENDS=${2//,/ }; backends_set=1 ;;
    --path) NETPATH=$2 ;;
    --rounds) ROUNDS=$2 ;;
    --load-cpus) LOAD_N=$2 ;;
    --redis-n) REDIS_N=$2 ;;
    --out) OUT=$2 ;;
  esac
  shift 2
done
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || die "no build directory $BUILD"
OUT=${OUT:-$BUILD/scale}
posint "$SECS" || die "--secs: a positive integer"
posint "$ROUNDS" || die "--rounds: a positive integer"
if [ $COST = 1 ]; then
  command -v perf >/dev/null || die "--cost needs perf (apt-get install linux-perf)"
  perf stat -e raw_syscalls:sys_enter true >/dev/null 2>&1 || die "--cost: perf cannot count syscall tracepoints here (root?)"
fi
REDIS_N=${REDIS_N:-$((100000 * SECS))}      # about SECS s per test at 100k req/s
posint "$REDIS_N" || die "--redis-n: a positive integer"
for s in $SERVERS; do
  case $s in memcached|nginx|nginx-close|nginx-stock|redis|node|apache|apache-prefork) ;;
    *) die "unknown server $s (memcached, nginx, nginx-close, nginx-stock, redis, node, apache, apache-prefork)" ;; esac
done
case $NETPATH in
  loopback)
    # Only backends over kernel sockets: the load tool, a kernel program,
    # reaches them over loopback. (DPDK needs a link: --path netns.)
    for b in $BACKENDS; do
      case $b in uring|posix) ;; *) die "backend $b: on loopback only uring and posix (kernel sockets); dpdk-tap: --path netns" ;; esac
    done ;;
  netns)
    [ $backends_set = 1 ] || BACKENDS="dpdk-tap xdp-veth"
    [ $servers_set = 1 ] || SERVERS=nginx
    for b in $BACKENDS; do
      case $b in dpdk-tap|xdp-veth) ;; *) die "backend $b: --path netns has dpdk-tap and xdp-veth" ;; esac
    done
    # nginx's workers are processes, a queue each; redis is one process on
    # one queue. memcached's threads would share one process's queue.
    for s in $SERVERS; do
      case $s in nginx|nginx-close|redis) ;; *) die "--path netns: nginx and redis (memcached's threads would share one queue)" ;; esac
    done
    [ $BOTH = 0 ] || die "--path netns: only the server is preloaded (no --both)"
    [ "$(id -u)" = 0 ] || die "--path netns needs root (namespaces, hugepages, the DPDK primary)" ;;
  *) die "--path: loopback or netns" ;;
esac

# ---- CPUs -----------------------------------------------------------------

# The CPUs this process may use (a container's cpuset need not start at 0).
mapfile -t CPUS < <("$PY" -c 'import os; print(*sorted(os.sched_getaffinity(0)), sep="\n")')
NCPU=${#CPUS[@]}

# Default N: 1 on two CPUs or fewer; else powers of two up to half the
# CPUs, so that the load tool has as many CPUs as the largest server.
default_ns() {
  local n=1 out=""
  [ "$NCPU" -le 2 ] && { echo 1; return; }
  while [ $((n * 2)) -le "$NCPU" ]; do out+="$n "; n=$((n * 2)); done
  echo "$out"
}
NS=${NS:-$(default_ns)}
max_n=0
for n in $NS; do
  posint "$n" || die "--n: positive integers"
  [ "$n" -gt "$max_n" ] && max_n=$n
done
# The load tool gets the same CPUs in every row (the last L), so that a
# row differs from the one above only in the server's cores.
LOAD_N=${LOAD_N:-$((NCPU - max_n))}
# --share-cpus: the load tool may share CPUs with the largest servers (a
# small machine); the rows where it does are said in the report.
[ $SHARE = 1 ] && [ "$LOAD_N" -le 0 ] && LOAD_N=1
posint "$LOAD_N" || die "no CPU left for the load tool ($NCPU CPUs, largest N $max_n): lower --n or set --load-cpus"
kept=""
for n in $NS; do
  if [ $((n + LOAD_N)) -le "$NCPU" ] || { [ $SHARE = 1 ] && [ "$n" -le "$NCPU" ]; }; then kept+="$n "
  else echo "scale.sh: N=$n dropped: $n + $LOAD_N load CPUs > $NCPU CPUs" >&2; fi
done
NS=$kept
[ -n "$NS" ] || die "no N fits on $NCPU CPUs with $LOAD_N load CPUs"
LOAD_CPUS=$(IFS=,; echo "${CPUS[*]:NCPU-LOAD_N}")
server_cpus() { (IFS=,; echo "${CPUS[*]:0:$1}"); }

# nginx's binary mask of the first N CPUs (CPU 0 rightmost), for
# "worker_cpu_affinity auto MASK": worker i on the i-th of them.
cpu_mask() {
  local n=$1 i m=""
  local -A on=()
  for i in "${CPUS[@]:0:n}"; do on[$i]=1; done
  for ((i = CPUS[n - 1]; i >= 0; i--)); do m+=${on[$i]:-0}; done
  echo "$m"
}

# redis-server is single-threaded: one row, N=1.
server_ns() { if [ "$1" = redis ]; then echo 1; else echo "$NS"; fi; }

# ---- tools and columns ----------------------------------------------------

# A tool from PATH, else from the sbin directories (nginx is in /usr/sbin).
find_tool() {
  local d
  command -v "$1" 2>/dev/null && return 0
  for d in /usr/sbin /usr/local/sbin /sbin; do [ -x "$d/$1" ] && { echo "$d/$1"; return 0; }; done
  return 1
}
declare -A TOOL=()
for t in memcached memcaslap nginx wrk redis-server redis-benchmark node apache2; do
  TOOL[$t]=$(find_tool "$t") || TOOL[$t]=""
done
[ -z "${TOOL[memcaslap]}" ] && TOOL[memcaslap]=$(find_tool memaslap)   # its other name
declare -A NEEDS=([memcached]="memcached memcaslap" [nginx]="nginx wrk" [redis]="redis-server redis-benchmark"
                  [node]="node wrk" [apache]="apache2 wrk" [apache-prefork]="apache2 wrk" [nginx-close]="nginx wrk"
                  [nginx-stock]="nginx wrk")
declare -A METRICS=([memcached]="ops/s" [nginx]="req/s" [redis]="GET req/s|SET req/s" [node]="req/s" [apache]="req/s"
                    [apache-prefork]="req/s" [nginx-close]="req/s" [nginx-stock]="req/s")

tools_missing() { # SERVER: why its tools are not here (empty when they are)
  local t
  for t in ${NEEDS[$1]}; do
    [ -n "${TOOL[$t]}" ] || { echo "$t not found (PATH, /usr/sbin)"; return; }
  done
}

REDIS_THREADS=0
[ -n "${TOOL[redis-benchmark]}" ] && "${TOOL[redis-benchmark]}" --help 2>&1 | grep -q -- --threads && REDIS_THREADS=1
NGINX_E=0     # -e FILE (nginx >= 1.19.5): not even the start-up error log outside our dir
[ -n "${TOOL[nginx]}" ] && "${TOOL[nginx]}" -h 2>&1 | grep -q -- '-e filename' && NGINX_E=1

PRELOAD=${DEMI_PRELOAD_LIB:-$BUILD/interpose/libdemi-preload.so}
DEMI_RUN=$(find_demi_run 2>/dev/null || true)

column_missing() { # COLUMN: why it cannot run here (empty when it can)
  [ "$1" = kernel ] && return
  if [ $NETPATH = netns ] && [ "$1" = dpdk-tap ]; then
    [ -x "$BUILD/demi-dpdk-primary" ] || { echo "demi-dpdk-primary not built (no libdpdk)"; return; }
    [ -n "$NETNS_WHY" ] && { echo "$NETNS_WHY"; return; }
  fi
  if [ $NETPATH = netns ] && [ "$1" = xdp-veth ]; then
    ls "$BUILD"/devices/xdp/*.a >/dev/null 2>&1 || { echo "xdp device not built (devices/xdp)"; return; }
    command -v ethtool >/dev/null || { echo "ethtool missing (the peer's checksum offload must go)"; return; }
    [ -f "$PRELOAD" ] || { echo "preload library not found ($PRELOAD)"; return; }
    [ -n "$DEMI_RUN" ] || echo "scripts/demi-run missing"
    return
  fi
  [ -f "$PRELOAD" ] || { echo "preload library not found ($PRELOAD)"; return; }
  [ -n "$DEMI_RUN" ] || { echo "scripts/demi-run missing"; return; }
  # A library named by DEMI_PRELOAD_LIB is taken as it is.
  [ -n "${DEMI_PRELOAD_LIB:-}" ] || backend_missing "$1"
}

# PFX: the words that run a command under the preload on BACKEND.
preload_pfx() {
  PFX=(env DEMI_LOG="${DEMI_LOG:-warn}" DEMI_PRELOAD_LIB="$PRELOAD" "$DEMI_RUN" --backend "$1" --)
}

# ---- --path netns -------------------------------------------------------------
#
# Namespace L ($NS_C, lib.sh's shared_setup: also the hugepages and the
# hugetlbfs the DPDK primary needs) runs the load tool. The kernel column's
# nginx is in namespace K behind a veth pair (KNET.1 in K, KNET.2 in L,
# the kernel's default offloads); the dpdk-tap column's nginx runs under
# demi-run --dpdk-primary=N, whose primary creates a net_tap port with N
# queue pairs and its kernel end in L (TAP_NET.2); the workers (secondaries,
# one queue pair each) serve TAP_NET.1. A primary per cell: its queue count
# is the row's N (a queue nobody owns would drop the flows hashed to it).
NETNS_WHY=""
netns_setup() {
  local id=$(( $$ % 10000 )) rc=0
  TAP_NET=10.$((150 + RANDOM % 50)).$((RANDOM % 250)) KNET=10.$((100 + RANDOM % 50)).$((RANDOM % 250))
  XNET=10.$((200 + RANDOM % 50)).$((RANDOM % 250))
  shared_setup || rc=$?
  [ $rc = 1 ] && die "could not create a network namespace"
  [ $rc = 2 ] && NETNS_WHY=$SHARED_WHY
  NS_K=dmK$id
  ip netns add "$NS_K" || die "could not create a network namespace"
  CELL_NETNS+=("$NS_K")
  ip netns exec "$NS_K" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  ip -n "$NS_K" link set lo up
  ip link add "dvK$id" netns "$NS_K" type veth peer name "dvL$id" netns "$NS_C" || die "could not create the veth pair"
  ip -n "$NS_K" addr add "$KNET.1/24" dev "dvK$id"
  ip -n "$NS_C" addr add "$KNET.2/24" dev "dvL$id"
  ip -n "$NS_K" link set "dvK$id" up
  ip -n "$NS_C" link set "dvL$id" up
}
# netns_column COLUMN N: SPFX (the server's words after taskset), ADDR (what
# it serves), UP and DOWN (run after it started and after it stopped). A new
# column (xdp on the veth's K end, say) is one more arm here, plus its name
# in the --path netns check of --backends.
netns_column() {
  UP=(true) DOWN=(true)
  case $1 in
    kernel) SPFX=(ip netns exec "$NS_K"); ADDR=$KNET.1 ;;
    xdp-veth)
      # a veth pair of N queues per cell, a queue per worker (a queue
      # without one would hand its flows to the kernel, which does not
      # have the address); the peer keeps its checksum offload, as in
      # the kernel column (devices/xdp/README.md "Checksums")
      local xs=dxS$(( ($$ + RANDOM) % 10000 )) xc
      xc=dxC${xs#dxS}
      ip link add "$xs" numtxqueues "$2" numrxqueues "$2" netns "$NS_K" type veth peer name "$xc" \
        numtxqueues "$2" numrxqueues "$2" netns "$NS_C" || die "could not create a $2-queue veth pair"
      ip netns exec "$NS_C" sysctl -qw net.core.txrehash=0 2>/dev/null
      ip -n "$NS_K" addr add "$XNET.3/24" dev "$xs"
      ip -n "$NS_C" addr add "$XNET.2/24" dev "$xc"
      ip -n "$NS_K" link set "$xs" up
      ip -n "$NS_C" link set "$xc" up
      SPFX=(ip netns exec "$NS_K" env DEMI_LOG="${DEMI_LOG:-warn}" DEMI_PRELOAD_LIB="$PRELOAD" DEMI_STRICT=1
            DEMI_XDP_IFACE="$xs" DEMI_IPV4="$XNET.1/24" "$DEMI_RUN" --backend xdp --)
      ADDR=$XNET.1 DOWN=(ip -n "$NS_K" link del "$xs") ;;
    dpdk-tap)
      SHARED_QUEUES=$2; shared_env
      SPFX=(ip netns exec "$NS_C" env DEMI_LOG="${DEMI_LOG:-warn}" DEMI_PRELOAD_LIB="$PRELOAD"
            "${SHARED_ENV[@]}" "$DEMI_RUN" --dpdk-primary="$2" --)
      ADDR=$TAP_NET.1 UP=(shared_port_up 30) DOWN=(shared_primary_stop) ;;
  esac
}

# ---- servers: setup_X N PORT DIR sets SRV and LOAD; parse_X LOG prints
# "METRIC<TAB>VALUE" lines (and "note<TAB>TEXT"), or a reason and fails.

setup_memcached() {
  local n=$1 port=$2
  SRV=("${TOOL[memcached]}" -l "$ADDR" -p "$port" -t "$n" -c 4096 -m 256 -U 0)
  [ "$(id -u)" = 0 ] && SRV+=(-u root)      # memcached refuses root without it
  LOAD=("${TOOL[memcaslap]}" -s "$ADDR:$port" -T "$LOAD_N" -c 256 -t "${SECS}s")
}
parse_memcached() { # "Run time: 2.0s Ops: 104565 TPS: 52190 Net_rate: 58.3M/s"
  local tps
  tps=$(awk '/^Run time:/ { for (i = 1; i < NF; i++) if ($i == "TPS:") print $(i + 1) }' "$1" | tail -n 1)
  case $tps in ''|0) echo "no TPS in memcaslap's output: $(last_line "$1")"; return 1 ;; esac
  printf 'ops/s\t%s\n' "$tps"
}

setup_nginx() {
  local n=$1 port=$2 dir=$3 user="" files="    access_log off;
    open_file_cache max=1000 inactive=60s;"
  mkdir -p "$dir/www" "$dir/tmp" "$dir/logs"
  echo "hello from nginx under demi" >"$dir/www/index.html"
  [ "$(id -u)" = 0 ] && user="user root;"   # the worker reads $dir, whoever made it
  # open_file_cache as in bench/latency: otherwise each request costs an
  # open, fstat and close in the kernel, the same in every column.
  # nginx-stock: Debian's /etc/nginx/nginx.conf instead: no file cache,
  # an access log (a write per request), sendfile and tcp_nopush (TCP_CORK
  # around each file).
  [ "${4:-}" = stock ] && files="    access_log $dir/logs/access.log;
    sendfile on;
    tcp_nopush on;"
  cat >"$dir/nginx.conf" <<NGX
$user
worker_processes $n;
worker_cpu_affinity auto $(cpu_mask "$n");
master_process on;
daemon off;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
worker_rlimit_nofile 16384;
events { worker_connections 4096; }
http {
$files
    keepalive_requests 1000000;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    default_type text/html;
    server {
        listen $ADDR:$port;
        root $dir/www;
    }
}
NGX
  SRV=("${TOOL[nginx]}" -p "$dir" -c "$dir/nginx.conf")
  [ $NGINX_E = 1 ] && SRV+=(-e "$dir/logs/error.log")
  LOAD=("${TOOL[wrk]}" -t"$LOAD_N" -c256 -d"${SECS}s" "http://$ADDR:$port/index.html")
}
setup_nginx-close() {
  setup_nginx "$@"
  LOAD=("${TOOL[wrk]}" -t"$LOAD_N" -c256 -d"${SECS}s" -H "Connection: close" "http://$ADDR:$2/index.html")
}
parse_nginx-close() { parse_nginx "$@"; }
setup_nginx-stock() { setup_nginx "$@" stock; }
parse_nginx-stock() { parse_nginx "$@"; }
parse_nginx() {
  local rps bad errs
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$1")
  [ -n "$rps" ] || { echo "no Requests/sec in wrk's output: $(last_line "$1")"; return 1; }
  bad=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$1")
  [ -z "$bad" ] || { echo "$bad non-2xx/3xx responses"; return 1; }
  printf 'req/s\t%s\n' "$rps"
  errs=$(grep -m1 'Socket errors:' "$1" | sed 's/^ *//')
  [ -z "$errs" ] || printf 'note\t%s\n' "wrk: $errs"
}

setup_node() {
  local n=$1 port=$2 dir=$3
  mkdir -p "$dir"
  cat >"$dir/server.js" <<'JS'
const cluster = require('cluster'), workers = +process.argv[4];
if (workers > 1 && cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
} else {
  const body = 'hello from node under demi\n';
  require('http').createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
    res.end(body);
  }).listen(+process.argv[3], process.argv[2]);
}
JS
  SRV=(env NODE_CLUSTER_SCHED_POLICY=rr "${TOOL[node]}" "$dir/server.js" "$ADDR" "$port" "$n")
  LOAD=("${TOOL[wrk]}" -t"$LOAD_N" -c256 -d"${SECS}s" "http://$ADDR:$port/")
}
parse_node() { parse_nginx "$@"; }

# Apache: lib.sh's apache_setup, no access log, long keep-alive
setup_apache() {
  apache_setup "$3" "$ADDR" "$2" event "$1" "KeepAliveTimeout 30"
  SRV=("${TOOL[apache2]}" "${APACHE[@]:1}")
  # (more connections than its workers, and the MPM closes some: wrk's
  # read errors, in the kernel's column too)
  LOAD=("${TOOL[wrk]}" -t"$LOAD_N" -c$((25 * $1)) -d"${SECS}s" "http://$ADDR:$2/index.html")
}
parse_apache() { parse_nginx "$@"; }
setup_apache-prefork() {
  apache_setup "$3" "$ADDR" "$2" prefork $((8 * $1)) "KeepAliveTimeout 30"
  SRV=("${TOOL[apache2]}" "${APACHE[@]:1}")
  LOAD=("${TOOL[wrk]}" -t"$LOAD_N" -c$((8 * $1)) -d"${SECS}s" "http://$ADDR:$2/index.html")
}
parse_apache-prefork() { parse_nginx "$@"; }

setup_redis() {
  local port=$2 dir=$3
  mkdir -p "$dir"
  SRV=("${TOOL[redis-server]}" --bind "$ADDR" --port "$port" --save '' --appendonly no
       --protected-mode no --dir "$dir" --daemonize no)
  LOAD=("${TOOL[redis-benchmark]}" -h "$ADDR" -p "$port" -c 50 -n "$REDIS_N" -t get,set --csv)
  [ $REDIS_THREADS = 1 ] && LOAD+=(--threads "$LOAD_N")
}
parse_redis() { # --csv: "test","rps",... then "SET","143884.89",...
  local out
  out=$(awk -F'"' '$2 == "GET" || $2 == "SET" { printf "%s req/s\t%s\n", $2, $4 }' "$1")
  [ "$(echo "$out" | grep -c 'req/s')" = 2 ] || { echo "no GET and SET rates in redis-benchmark's output: $(last_line "$1")"; return 1; }
  echo "$out"
}

# ---- what a request costs the server (--cost) ---------------------------------
#
# While the load runs, perf stat counts the server's processes (its
# process group: nginx's workers too) from 1 s after the start to the
# end of the load: CPU time, syscalls, io_uring_enter calls, context
# switches. Divided by the requests served in that window (the measured
# rate times its length; redis-benchmark's two tests run back to back
# with as many requests each, so all requests but the first second's).
# "server CPUs busy" says whether the server was the bottleneck: below N,
# the load tool was, and the CPU per request then includes the server's
# idle spinning (DEMI_SPIN_US) and a kernel server's sleeps and wakeups.
COST_EVENTS=task-clock,raw_syscalls:sys_enter,syscalls:sys_enter_io_uring_enter,context-switches
cost_run() { # SERVER_PID LOAD_SECS LOAD...: runs the load, counting the server meanwhile
  local spid=$1 secs=$2 lpid ppid pgid pids ls t0 t1
  shift 2
  # the load tool's CPU over its whole run, threads it makes later too
  # (redis-benchmark makes its threads per test)
  ls=$(date +%s.%N)
  timeout -k 3 "$secs" perf stat -x, -e task-clock -o "$RAW/$tag.load-perf.csv" -- "$@" >"$RAW/$tag.load.log" 2>&1 &
  lpid=$!
  sleep 1
  pgid=$(ps -o pgid= -p "$spid" | tr -d ' ')
  pids=$(pgrep -g "$pgid" | paste -sd, -)
  t0=$(date +%s.%N)
  perf stat -x, -e "$COST_EVENTS" -p "$pids" -o "$RAW/$tag.perf.csv" &
  ppid=$!
  wait "$lpid"; local rc=$?
  t1=$(date +%s.%N)
  kill -INT "$ppid" 2>/dev/null; wait "$ppid" 2>/dev/null
  echo "window,$("$PY" -c "print($t1 - $ls)")" >>"$RAW/$tag.load-perf.csv"
  echo "window,$("$PY" -c "print($t1 - $t0)")" >>"$RAW/$tag.perf.csv"
  return $rc
}
cost_parse() { # SERVER METRICS: "METRIC<TAB>VALUE" per cost from the perf csv
  local csv="$RAW/$tag.perf.csv"
  [ -f "$csv" ] || return 0
  "$PY" - "$1" "$csv" "$REDIS_N" "$2" "$RAW/$tag.load-perf.csv" <<'PY'
import os, sys
server, csv, redis_n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rates = {}
for line in sys.argv[4].splitlines():
    k, _, v = line.partition("\t")
    if k.endswith("/s"):
        rates[k] = float(v)
vals, window = {}, None
for line in open(csv):
    f = line.strip().split(",")
    if f[0] == "window":
        window = float(f[1])
    elif len(f) > 2 and f[0] and f[0][0].isdigit():
        vals[f[2]] = float(f[0])
if not window or not rates:
    sys.exit(0)
if server == "redis":
    # SET then GET, redis_n each; the window starts 1 s into SET
    reqs = 2 * redis_n - rates.get("SET req/s", 0)
else:
    reqs = next(iter(rates.values())) * window
names = {"task-clock": ("server CPU us/req", 1000.0), "raw_syscalls:sys_enter": ("syscalls/req", 1),
         "syscalls:sys_enter_io_uring_enter": ("io_uring_enter/req", 1), "context-switches": ("ctx switches/req", 1)}
if "task-clock" in vals:
    # below 1 per server CPU: the load tool was the bottleneck, and the
    # CPU per request includes what the server spent waiting (spinning)
    print(f"server CPUs busy\t{vals['task-clock'] / 1000.0 / window:.3f}")
# the load tool's CPUs over its run: near its CPU count, the load was the
# bound and the ratio measures the client's work per request
lcsv, lclock, lwindow = sys.argv[5], None, None
if os.path.exists(lcsv):
    for line in open(lcsv):
        f = line.strip().split(",")
        if f[0] == "window":
            lwindow = float(f[1])
        elif len(f) > 2 and f[2] == "task-clock" and f[0] and f[0][0].isdigit():
            lclock = float(f[0])
if lclock is not None and lwindow:
    print(f"load CPUs busy\t{lclock / 1000.0 / lwindow:.3f}")
for ev, (name, scale) in names.items():
    if ev in vals and reqs > 0:
        print(f"{name}\t{vals[ev] * scale / reqs:.3f}")
PY
}

# ---- one measurement --------------------------------------------------------

last_line() { grep -v '^[[:space:]]*$' "$1" 2>/dev/null | tail -n 1 | tr -d '\r' | cut -c1-200; }
# A process we started has not exited (a zombie, not yet waited for, has).
alive() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) && [ "${s:0:1}" != Z ]; }
# ready PID PORT SECS: the server accepts a connection (bash's own connect,
# from the kernel); gives up at once when the server has exited, instead
# of probing a dead port for SECS.
ready() {
  local pid=$1 port=$2 i
  for ((i = 0; i < $3 * 10; i++)); do
    alive "$pid" || return 1
    timeout 2 "${READY_PFX[@]}" bash -c ": <>/dev/tcp/$ADDR/$port" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
jstr() { # a JSON string
  local s
  s=$(printf '%s' "$1" | tr '\000-\037' ' ')
  s=${s//\\/\\\\}; s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

# record SERVER N COLUMN ROUND METRIC STATUS VALUE REASON: one line of cells.jsonl.
record() {
  local v=${7:-null}
  printf '{"server":%s,"n":%s,"column":%s,"round":%s,"metric":%s,"status":%s,"value":%s,"reason":%s,' \
    "$(jstr "$1")" "$2" "$(jstr "$3")" "$4" "$(jstr "$5")" "$(jstr "$6")" "$v" "$(jstr "$8")" >>"$CELLS"
  printf '"server_cpus":%s,"load_cpus":%s,"server_cmd":%s,"load_cmd":%s}\n' \
    "$(jstr "$CUR_SCPUS")" "$(jstr "$LOAD_CPUS")" "$(jstr "$CUR_SRV_CMD")" "$(jstr "$CUR_LOAD_CMD")" >>"$CELLS"
}
record_all() { # SERVER N COLUMN ROUND STATUS REASON: every metric of SERVER
  local m
  local IFS='|'
  for m in ${METRICS[$1]}; do record "$1" "$2" "$3" "$4" "$m" "$5" "" "$6"; done
}

# cell SERVER N COLUMN ROUND: start the server, run the load, record.
cell() {
  local server=$1 n=$2 col=$3 round=$4
  local tag="${server}_n${n}_${col}_r${round}" why port pid st rc=0 reason="" out="" line=""
  CUR_SCPUS=$(server_cpus "$n") CUR_SRV_CMD="" CUR_LOAD_CMD=""
  why=$(tools_missing "$server"; column_missing "$col")
  if [ -n "$why" ]; then
    record_all "$server" "$n" "$col" "$round" skip "$why"
    echo "   $tag: SKIP $why" >&2
    return
  fi
  port=$(pick_port)
  [ $NETPATH = netns ] && netns_column "$col" "$n"
  "setup_$server" "$n" "$port" "$CELL_TMP/$tag"
  local spfx=(taskset -c "$CUR_SCPUS") lpfx=(taskset -c "$LOAD_CPUS")
  if [ $NETPATH = netns ]; then
    spfx+=("${SPFX[@]}")
    lpfx+=(ip netns exec "$NS_C")
  elif [ "$col" != kernel ]; then
    preload_pfx "$col"
    spfx+=("${PFX[@]}")
    [ $BOTH = 1 ] && lpfx+=("${PFX[@]}")
  fi
  CUR_SRV_CMD=$(shquote "${spfx[@]}" "${SRV[@]}")
  CUR_LOAD_CMD=$(shquote "${lpfx[@]}" "${LOAD[@]}")
  # redis-benchmark runs a fixed count: bound it as if at 10k req/s.
  local load_secs=$((SECS + 60))
  [ "$server" = redis ] && load_secs=$((2 * REDIS_N / 10000 + 60))
  [ -f "$CELL_TMP/$tag/nginx.conf" ] && cp "$CELL_TMP/$tag/nginx.conf" "$RAW/$tag.nginx.conf"

  bg "$tag.server" srv $((load_secs + 60)) "${spfx[@]}" "${SRV[@]}"
  pid=$BG_PID
  if ! "${UP[@]}"; then
    reason="the server's port did not come up: $(last_line "$CELL_TMP/$tag.server.log")"
  elif ! ready "$pid" "$port" 20; then
    reason="server did not start: $(last_line "$CELL_TMP/$tag.server.log")"
  else
    if [ $COST = 1 ]; then
      cost_run "$pid" "$load_secs" "${lpfx[@]}" "${LOAD[@]}" || rc=$?
    else
      timeout -k 3 "$load_secs" "${lpfx[@]}" "${LOAD[@]}" >"$RAW/$tag.load.log" 2>&1 || rc=$?
    fi
    if ! alive "$pid"; then
      wait "$pid"; st=$?
      reason="server exited during the run (status $st): $(last_line "$CELL_TMP/$tag.server.log")"
    elif [ $rc = 124 ] || [ $rc = 137 ]; then
      reason="load tool timed out after ${load_secs}s"
    elif [ $rc != 0 ]; then
      reason="load tool exit $rc: $(last_line "$RAW/$tag.load.log")"
    else
      out=$("parse_$server" "$RAW/$tag.load.log") || reason=$out
      [ -z "$reason" ] && [ $COST = 1 ] && out+=$'\n'$(cost_parse "$server" "$out")
    fi
  fi
  # the frames each worker's queue received: whether the flows were spread
  if [ "$col" = dpdk-tap ] && [ -z "$reason" ] && shared_table >"$RAW/$tag.queues.txt" 2>/dev/null; then
    out+=$'\n'"note"$'\t'"frames received per queue: $(awk '{for (i = 1; i < NF; i++) if ($i == "rx") printf "%s%s", (NR > 1 ? "/" : ""), $(i + 1)}' "$RAW/$tag.queues.txt")"
  fi
  stop "$pid"
  "${DOWN[@]}"
  [ "$col" = dpdk-tap ] && cp "$SHARED_RUN/$SHARED_PREFIX.log" "$RAW/$tag.primary.log" 2>/dev/null
  cp "$CELL_TMP/$tag.server.log" "$RAW/" 2>/dev/null
  [ -f "$CELL_TMP/$tag/logs/error.log" ] && cp "$CELL_TMP/$tag/logs/error.log" "$RAW/$tag.error.log"

  if [ -n "$reason" ]; then
    record_all "$server" "$n" "$col" "$round" fail "$reason"
    echo "   $tag: FAIL $reason" >&2
    return
  fi
  local note
  note=$(echo "$out" | awk -F'\t' '$1 == "note" { print $2 }')
  while IFS=$'\t' read -r metric value; do
    [ "$metric" = note ] && continue
    record "$server" "$n" "$col" "$round" "$metric" ok "$value" "$note"
    line+="$metric $value  "
  done <<<"$out"
  echo "   $tag: $line${note:+ ($note)}" >&2
}

# ---- the run ------------------------------------------------------------------

mkdir -p "$OUT" || die "cannot create $OUT"
rm -rf "$OUT/raw" "$OUT/cells.jsonl" "$OUT/scale.json" "$OUT/scale.md" "$OUT/scale.png"
RAW=$OUT/raw CELLS=$OUT/cells.jsonl
mkdir -p "$RAW"; : >"$CELLS"
CELL_TMP=$(mktemp -d /tmp/demi_scale.XXXXXX)
trap cleanup EXIT
trap 'exit 130' INT TERM
UP=(true) DOWN=(true) READY_PFX=()
if [ $NETPATH = netns ]; then
  netns_setup
  READY_PFX=(ip netns exec "$NS_C")
fi
started=$(date -u +%FT%TZ)
loadavg=$(cut -d' ' -f1-3 /proc/loadavg)   # others' work on the machine, as we start

echo "scale: $NCPU CPUs; N = $NS; load on CPUs $LOAD_CPUS ($LOAD_N threads); path $NETPATH;" \
     "columns kernel $BACKENDS; $SECS s x $ROUNDS round(s); load preloaded: $([ $BOTH = 1 ] && echo yes || echo no)" >&2
[ $REDIS_THREADS = 1 ] || echo "scale: redis-benchmark has no --threads: one load thread" >&2
for server in $SERVERS; do
  for n in $(server_ns "$server"); do
    echo "== $server N=$n" >&2
    for round in $(seq "$ROUNDS"); do
      for col in kernel $BACKENDS; do
        cell "$server" "$n" "$col" "$round"
      done
    done
  done
done

version() { "$@" 2>&1 | grep -v '^[[:space:]]*$' | head -n 1 | cut -c1-80; }
versions=""
[ -n "${TOOL[memcached]}" ] && versions+="$(version "${TOOL[memcached]}" -V); "
[ -n "${TOOL[nginx]}" ] && versions+="$(version "${TOOL[nginx]}" -v); "
[ -n "${TOOL[redis-server]}" ] && versions+="$(version "${TOOL[redis-server]}" --version | cut -d' ' -f1-3); "
[ -n "${TOOL[node]}" ] && versions+="node $(version "${TOOL[node]}" --version); "
[ -n "${TOOL[wrk]}" ] && versions+="$(version "${TOOL[wrk]}" -v | cut -d' ' -f1-2)"

"$PY" "$here/report.py" "$OUT" \
  --meta command="$cmdline" --meta started="$started" --meta finished="$(date -u +%FT%TZ)" \
  --meta loadavg="$loadavg" --meta host="$(hostname)" --meta kernel="$(uname -r)" --meta nproc="$NCPU" \
  --meta cpus="$(IFS=,; echo "${CPUS[*]}")" --meta load_cpus="$LOAD_CPUS" --meta load_threads="$LOAD_N" \
  --meta secs="$SECS" --meta rounds="$ROUNDS" --meta both="$BOTH" --meta redis_n="$REDIS_N" \
  --meta redis_threads="$REDIS_THREADS" --meta backends="$BACKENDS" --meta servers="$SERVERS" \
  --meta ns="$NS" --meta commit="$(git -C "$top" rev-parse --short HEAD 2>/dev/null)" \
  --meta tools="$versions" --meta preload="$PRELOAD" --meta path="$NETPATH" --meta share_cpus="$SHARE" \
  --meta demi_env="$(env | grep '^DEMI_' | sort | tr '\n' ' ')"
