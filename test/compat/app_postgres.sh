#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# app_postgres.sh BUILD BACKEND: PostgreSQL (Debian's, a fresh cluster in
# the cell's directory, run as the postgres user: it refuses root) under
# the backend. Its postmaster accepts each connection and forks a backend
# process that serves it (a connection inherited through fork). Driven by
# pgbench: -i -s 2 (200,000 rows loaded over COPY), then 2 s of its TPC-B
# like transactions on 4 connections and 2 s of select-only on 8: no
# failed or aborted transaction; and psql's count of the accounts table
# equals what -i loaded. Under dpdk-tap and dpdk-memif the unprivileged
# postmaster is a DPDK secondary of a primary opened to its group
# (CELL_SHARED_PORT, SHARED_GROUP, lib.sh), and its backends' inherited
# connections are relayed through it; postgres's own shared memory stays
# off the hugepages the primaries need (huge_pages=off), and pg_hba
# trusts the clients' addresses.
BUILD=$(cd "${1:?build dir}" && pwd); BACKEND=${2:?backend}
NEED_TOOLS=(pgbench psql runuser)
CELL_SHARED_PORT=1
SHARED_GROUP=postgres   # the postmaster, unprivileged, is a secondary of a primary opened to it
. "$(dirname "$0")/lib.sh"
cell_begin postgres "$BACKEND" server
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$PGBIN/postgres" ] && [ -x "$PGBIN/initdb" ] || cell_skip "postgresql not installed (scripts/deps.sh test)"
id postgres >/dev/null 2>&1 || cell_skip "no postgres user"

data=$CELL_TMP/pg
chmod 755 "$CELL_TMP"
mkdir -p "$data" && chown postgres "$data"
runuser -u postgres -- "$PGBIN/initdb" -D "$data/db" -A trust -U postgres >"$CELL_TMP/initdb.log" 2>&1 ||
  fail "initdb: $(tail -n 2 "$CELL_TMP/initdb.log" | tr '\n' ' ')"
# clients come from other addresses than the loopback under dpdk (a test cluster: trust)
echo "host all all 0.0.0.0/0 trust" >>"$data/db/pg_hba.conf"
port=$(pick_port)
# Its dynamic shared memory in the data directory (removed with the
# cell), and a fast shutdown before the cell ends, pass or fail: a killed
# postmaster leaves its segments (/dev/shm, a SysV interlock) behind.
bg postgres srv 120 runuser -u postgres -- "$PGBIN/postgres" -D "$data/db" -p "$port" -k "$data" \
  -c listen_addresses="$BIND" -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=40 \
  -c dynamic_shared_memory_type=mmap -c huge_pages=off
srv_pid=$BG_PID
pg_stop() { runuser -u postgres -- "$PGBIN/pg_ctl" -D "$data/db" -m fast -w -t 20 stop >/dev/null 2>&1; }
fail() { pg_stop; show_logs; cell_fail "$@"; }
shared_port_up 30 || fail "the shared port did not come up (tap ${TAP_IF:-} in ${NS_C:-}, or memif's socket)"
wait_port "$ADDR" "$port" 30 || fail "postgres did not accept connections on $ADDR:$port"
pg() { run cli 90 env PGCONNECT_TIMEOUT=20 "$@" -h "$ADDR" -p "$port" -U postgres; }
# The postmaster listens before its startup process is done: a connection
# then is refused ("the database system is starting up"). Over a DPDK tap
# port that window was long enough for pgbench -i, 1 run in 8.
ready=0
for _ in $(seq 60); do
  pg "$PGBIN/pg_isready" -q && { ready=1; break; }
  sleep 0.5
done
[ $ready = 1 ] || fail "postgres did not become ready (pg_isready) on $ADDR:$port"

pg pgbench -i -s 2 postgres >"$CELL_TMP/pgbench_i.log" 2>&1 || fail "pgbench -i: $(tail -n 2 "$CELL_TMP/pgbench_i.log" | tr '\n' ' ')"
check_run() { # NAME ARGS...: a pgbench run with no failed or aborted transaction; its tps in $tps
  local name=$1; shift
  pg pgbench "$@" postgres >"$CELL_TMP/pgbench_$name.log" 2>&1 || fail "pgbench ($name): $(tail -n 3 "$CELL_TMP/pgbench_$name.log" | tr '\n' ' ')"
  grep -q '^number of failed transactions: 0 ' "$CELL_TMP/pgbench_$name.log" || fail "pgbench ($name): $(grep -m1 'failed' "$CELL_TMP/pgbench_$name.log")"
  grep -qi 'aborted' "$CELL_TMP/pgbench_$name.log" && fail "pgbench ($name): $(grep -m1 -i aborted "$CELL_TMP/pgbench_$name.log")"
  tps=$(awk '/^tps = / {print int($3)}' "$CELL_TMP/pgbench_$name.log")
  [ "${tps:-0}" -gt 0 ] || fail "pgbench ($name): no transactions"
}
check_run tpcb -c 4 -j 1 -T 2; t1=$tps
check_run select -S -c 8 -j 1 -T 2; t2=$tps
# A wrong count (once in CI, 2026-12-07: 176,942, which is 378 whole heap
# pages of 61 rows short, and a shutdown that then hung for 20 s: the
# postmaster's signal handlers run in DPDK's threads, since fixed, test
# dpdk_signal_threads) is told apart here: the heap alone (a serial seq
# scan), the index alone (serial index-only), the sizes, amcheck's
# index-against-heap check, and which postgres processes are still there
# and what they wait for.
count_diag() {
  local q
  for q in "set max_parallel_workers_per_gather=0; set enable_indexonlyscan=off; set enable_indexscan=off; set enable_bitmapscan=off; select 'heap seqscan', count(*) from pgbench_accounts" \
           "set max_parallel_workers_per_gather=0; set enable_seqscan=off; set enable_bitmapscan=off; select 'index only', count(*) from pgbench_accounts" \
           "select 'pages heap/index', pg_relation_size('pgbench_accounts') / 8192, pg_relation_size('pgbench_accounts_pkey') / 8192" \
           "create extension if not exists amcheck; select 'amcheck', bt_index_parent_check('pgbench_accounts_pkey', true)" \
           "select pid, backend_type, state, wait_event, left(query, 50) from pg_stat_activity where pid <> pg_backend_pid()"; do
    pg psql -At -c "$q" postgres 2>&1 | grep -v '^SET$\|^CREATE EXTENSION$'
  done
  ps -o pid,stat,wchan:24,args:72 -u postgres
  grep -E 'worker|ERROR|WARNING|FATAL|PANIC' "$CELL_TMP/postgres.log" | head -n 20
}
n=$(pg psql -At -c 'select count(*) from pgbench_accounts' postgres 2>"$CELL_TMP/psql.log") || fail "psql: $(tail -n 1 "$CELL_TMP/psql.log")"
if [ "$n" != 200000 ]; then
  count_diag | sed 's/^/   | diag: /' >&2
  fail "pgbench_accounts holds $n rows (want 200000)"
fi
kill -0 "$srv_pid" 2>/dev/null || fail "postgres exited during the test"
pg_stop
cell_pass "pgbench tpcb -c 4 $t1 tps, select-only -c 8 $t2 tps, no failures; 200000 rows counted"
