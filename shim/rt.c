/* SPDX-License-Identifier: MIT */
/*
 * The shim's runtime: the locks (shim.h, Locking), the DEMI_* settings,
 * the datapath instances (started lazily, re-created in a forked child),
 * the qd -> socket map, and the progress engine that turns completions
 * into socket state.
 *
 * Progress: shim_progress() asks dm_wait_next_n() (timeout 0: one poll of
 * the backend) for every completed operation and dispatches it to the
 * socket that owns the qd, matching the token so that a late completion for
 * a closed queue (whose qd may be reused) is never misattributed.
 *
 * Sleeping: shim_block() spins (polling) for DEMI_SPIN_US, then sleeps in
 * ppoll() on the instance's wait fd with the lock dropped, so other threads
 * and an idle application cost nothing. A backend without a wait fd (DPDK)
 * is busy-polled (shim_spin_pause lets other threads in).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <stdlib.h>
#include <string.h>
#include "dm/config.h"
#include "dm/device.h"
#include "dm/instance.h"
#include "dm/log.h"
#include "dm/stack.h"
#include "dm/stats.h"
#include "dm/time.h"
#include "interpose/real.h"
#include "shim/shim.h"

struct shim_rt shim_rt = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .sleep_lock = PTHREAD_MUTEX_INITIALIZER,
    .linger_lock = PTHREAD_MUTEX_INITIALIZER,
    .sleepers = { &shim_rt.sleepers, &shim_rt.sleepers },
};
__thread int shim_depth __attribute__((tls_model("initial-exec")));

static __thread struct shim_dp *tls_focus[SHIM_FOCUS_MAX]; /* shim_focus */
static __thread unsigned tls_nfocus;
static __thread bool tls_focus_all;
/* What this thread's call holds (or, dropped to sleep, takes back): one
 * instance's lock, or with NULL all locks. */
__thread struct shim_dp *shim_held_dp __attribute__((tls_model("initial-exec")));

/* The locks past the preload's own pthread_mutex_lock (interpose/
 * hooks_thread.c), which would submit the sends this thread owes - taking
 * these locks - before it waits. Contention counted (DEMI_STATS). */
static void mutex_take(pthread_mutex_t *m, unsigned *waiters, unsigned *all_waiters, uint64_t *contended)
{
    if (dm_unlikely(pthread_mutex_trylock(m) != 0)) {
        __atomic_add_fetch(contended, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(waiters, 1, __ATOMIC_RELAXED);
        if (all_waiters)
            __atomic_add_fetch(all_waiters, 1, __ATOMIC_RELAXED);
        DM_REAL(pthread_mutex_lock)(m);
        __atomic_sub_fetch(waiters, 1, __ATOMIC_RELAXED);
        if (all_waiters)
            __atomic_sub_fetch(all_waiters, 1, __ATOMIC_RELAXED);
    }
}

static void dp_take(struct shim_dp *dp)
{
    mutex_take(&dp->lock, &dp->lock_waiters, &shim_rt.dp_lock_waiters, &shim_rt.dp_lock_contended);
}

void shim_leaf_lock(pthread_mutex_t *m)
{
    if (dm_unlikely(pthread_mutex_trylock(m) != 0))
        DM_REAL(pthread_mutex_lock)(m);
}

/* All locks: the process lock, then every instance's in idx order (the
 * set only grows with the process lock held, a new one last). */
static void all_take(void)
{
    mutex_take(&shim_rt.lock, &shim_rt.lock_waiters, NULL, &shim_rt.lock_contended);
    for (unsigned i = 0; i < shim_rt.ndps; i++)
        dp_take(shim_rt.dpv[i]);
}

static void all_drop_from(unsigned n)
{
    while (n > 0)
        pthread_mutex_unlock(&shim_rt.dpv[--n]->lock);
    pthread_mutex_unlock(&shim_rt.lock);
}

static void all_drop(void) { all_drop_from(shim_rt.ndps); }

/* All locks, giving up at `until` (CLOCK_REALTIME): false, none held. */
static bool all_take_until(const struct timespec *until)
{
    if (pthread_mutex_timedlock(&shim_rt.lock, until) != 0)
        return false;
    for (unsigned i = 0; i < shim_rt.ndps; i++)
        if (pthread_mutex_timedlock(&shim_rt.dpv[i]->lock, until) != 0) {
            all_drop_from(i);
            return false;
        }
    return true;
}

/* The same, only if every one is free now. */
static bool all_try(void)
{
    if (pthread_mutex_trylock(&shim_rt.lock) != 0)
        return false;
    for (unsigned i = 0; i < shim_rt.ndps; i++)
        if (pthread_mutex_trylock(&shim_rt.dpv[i]->lock) != 0) {
            all_drop_from(i);
            return false;
        }
    return true;
}

/* What the call holds, without the call-depth accounting
 * (shim_progress_step: our own calls meanwhile are still the datapath's). */
static void held_take(void)
{
    if (shim_held_dp)
        dp_take(shim_held_dp);
    else
        all_take();
}

static void held_drop(void)
{
    if (shim_held_dp)
        pthread_mutex_unlock(&shim_held_dp->lock);
    else
        all_drop();
}

/* A call's focus (shim_focus) is its own: each call starts without one.
 * shim_relock() takes the lock back inside a call (after a sleep or a
 * yield), keeping it. */
void shim_lock(void)
{
    shim_held_dp = NULL;
    shim_relock();
    if (shim_depth == 1) {
        tls_nfocus = 0;
        tls_focus_all = false;
    }
}

void shim_lock_dp(struct shim_dp *dp)
{
    shim_held_dp = dp;
    dp_take(dp);
    shim_depth++;
    tls_nfocus = 0;
    tls_focus_all = false;
}

void shim_lock_escalate(void)
{
    if (!shim_held_dp)
        return;
    pthread_mutex_unlock(&shim_held_dp->lock);
    shim_held_dp = NULL;
    all_take();
}

bool shim_locked_all(void) { return shim_held_dp == NULL; }

bool shim_trylock_all(void)
{
    if (!all_try())
        return false;
    shim_held_dp = NULL;
    shim_depth++;
    return true;
}

bool shim_lock_all_until(const struct timespec *until)
{
    if (!all_take_until(until))
        return false;
    shim_held_dp = NULL;
    shim_depth++;
    return true;
}

void shim_relock(void)
{
    held_take();
    shim_depth++;
    if (dm_unlikely(!shim_rt.cfg_loaded))
        shim_cfg_load();
}

/* One turn of a spinning wait (lock held). A syscall per turn (sched_yield)
 * was a third of a DPDK ping-pong's time under the preload: yield only when
 * another thread waits for a lock this call holds, or now and then so
 * that other work on this CPU is not starved by a wait that never sleeps
 * (a DPDK backend). */
void shim_spin_pause(void)
{
    static __thread unsigned turns;
    bool waited = shim_held_dp ? __atomic_load_n(&shim_held_dp->lock_waiters, __ATOMIC_RELAXED) != 0
                              : (__atomic_load_n(&shim_rt.lock_waiters, __ATOMIC_RELAXED) ||
                                 __atomic_load_n(&shim_rt.dp_lock_waiters, __ATOMIC_RELAXED));
    if (waited || (++turns & 255) == 0) {
        shim_unlock();
        sched_yield();
        shim_relock();
    } else {
        dm_cpu_relax();
    }
}

/* The same, for a wait that has spun `spun` ns (it reads the clock):
 * also yields on the dm_spin schedule (DEMI_SPIN_YIELD_US, doubling), so a
 * peer that shares this CPU is not held off for the whole spin (and while
 * yields show it shared, the next wait yields at once). A wait starts
 * again from zero: a smaller `spun` than last time is a new one. */
void shim_spin_pause_at(int64_t spun)
{
    static __thread int64_t last, due, first = -1;
    if (first < 0)
        first = shim_rt.cfg.spin_yield_ns;
    if (spun < last || due == 0)
        due = first > 0 ? first : INT64_MAX;
    last = spun;
    if (spun >= due) {
        due = 2 * spun;
        shim_unlock();
        first = dm_spin_yield(shim_rt.cfg.spin_yield_ns);
        shim_relock();
        return;
    }
    shim_spin_pause();
}

void shim_unlock(void)
{
    shim_depth--;
    held_drop();
}

struct shim_rules *shim_offload_rules;

/* The DEMI_* variables as they were when the program started: servers
 * such as nginx clear their workers' environment, and the datapath is
 * started lazily, in the worker. */
static struct dm_config shim_env;
static bool shim_env_done;

__attribute__((constructor(102))) static void shim_env_snapshot(void)
{
    if (shim_env_done)
        return;
    shim_env_done = true;
    dm_config_init(&shim_env);
}

/* A shim knob: a bad value was reported by the table's parser and the
 * datapath will not start (dm_instance_create checks the same snapshot);
 * until the sockets fall back to the kernel, the default serves. */
static int64_t cfg_int(enum dm_cfg_id id)
{
    static const struct dm_config none;
    int64_t v = 0;
    if (dm_cfg_int(&shim_env, id, &v) != 0)
        (void)dm_cfg_int(&none, id, &v);
    return v;
}

static int cfg_bool(enum dm_cfg_id id, int auto_value)
{
    int v;
    return dm_cfg_bool(&shim_env, id, &v) == 0 ? v : auto_value;
}

void shim_cfg_load(void)
{
    shim_env_snapshot(); /* a hook may run before our constructors */
    struct shim_cfg *cfg = &shim_rt.cfg;

    shim_rt.cfg_loaded = true;
    dm_log_configure(&shim_env);
    cfg->spin_ns = cfg_int(DM_CFG_SPIN_US) * DM_NS_PER_US;
    int64_t yield_us;
    if (dm_cfg_int(&shim_env, DM_CFG_SPIN_YIELD_US, &yield_us) != 0) /* auto, or bad: the default, auto */
        yield_us = dm_spin_yield_auto_us();
    cfg->spin_yield_ns = yield_us * DM_NS_PER_US;
    cfg->rcvbuf = cfg_int(DM_CFG_RCVBUF);
    cfg->sndbuf = cfg_int(DM_CFG_SNDBUF);
    cfg->linger_ms = cfg_int(DM_CFG_LINGER_MS);
    cfg->helper_ns = cfg_int(DM_CFG_HELPER_US) * DM_NS_PER_US;
    int64_t slice_ms = 0;
    if (dm_cfg_int(&shim_env, DM_CFG_WAKE_SLICE_MS, &slice_ms) != 0)
        slice_ms = 0; /* auto */
    cfg->block_slice_ns = (slice_ms ? slice_ms : 100) * DM_NS_PER_MS;
    cfg->wait_slice_ms = slice_ms ? slice_ms : 1000;
    cfg->offload_udp = cfg_bool(DM_CFG_OFFLOAD_UDP, 1);
    cfg->tx_batch = (int)cfg_int(DM_CFG_TX_BATCH);
    /* Loopback: kernel-socket backends serve 127/8 like any address; a
     * backend with its own stack cannot reach the kernel's loopback. */
    const char *be = dm_cfg_str(&shim_env, DM_CFG_BACKEND);
    const struct dm_stack_ops *first = dm_stack_first(be ? be : SHIM_BACKENDS);
    int own_stack = first && first->own_addresses;
    cfg->offload_loopback = cfg_bool(DM_CFG_OFFLOAD_LOOPBACK, !own_stack);
    /* Our own TCP/IP (dpdk, xdp) keeps its spin among more tasks than
     * CPUs: its waits also send the ACKs and run the timers, and its
     * sleeps wait on device wake-ups (measured: kernel-socket backends) */
    cfg->spin_crowded = cfg_bool(DM_CFG_SPIN_CROWDED, own_stack);
    cfg->inet6 = first && first->inet6;
    /* A stack with its own addresses (dpdk, xdp): binds to DEMI_IPV4's
     * address are the datapath's even though the kernel does not have it */
    cfg->own_addr = 0;
    const char *ip4 = dm_cfg_str(&shim_env, DM_CFG_IPV4);
    if (own_stack && ip4) {
        char buf[INET_ADDRSTRLEN];
        size_t n = strcspn(ip4, "/");
        struct in_addr a;
        if (n < sizeof(buf)) {
            memcpy(buf, ip4, n);
            buf[n] = 0;
            if (inet_pton(AF_INET, buf, &a) == 1)
                cfg->own_addr = a.s_addr;
        }
    }
    cfg->own6 = false;
    const char *ip6 = dm_cfg_str(&shim_env, DM_CFG_IPV6);
    if (own_stack && ip6) {
        char buf[INET6_ADDRSTRLEN];
        size_t n = strcspn(ip6, "/");
        if (n < sizeof(buf)) {
            memcpy(buf, ip6, n);
            buf[n] = 0;
            cfg->own6 = inet_pton(AF_INET6, buf, &cfg->own_addr6) == 1;
        }
    }
    const char *rules = dm_cfg_str(&shim_env, DM_CFG_OFFLOAD);
    if (!rules)
        rules = "";
    cfg->offload_none = strcmp(rules, "none") == 0 || strcmp(rules, "0") == 0;
    if (!cfg->offload_none && rules[0] && shim_rules_parse(rules, &shim_offload_rules) < 0) {
        dm_cfg_bad(DM_CFG_OFFLOAD, rules, "port=N[-M], net=A.B.C.D/LEN, comma separated, or none; "
                                          "nothing is offloaded");
        cfg->offload_none = 1;
    }
    DM_DEBUG("shim", "config: DEMI_SPIN_US=%lld DEMI_RCVBUF=%lld DEMI_SNDBUF=%lld DEMI_LINGER_MS=%lld "
             "DEMI_OFFLOAD_UDP=%d loopback offload=%d DEMI_OFFLOAD=\"%s\"",
             (long long)(cfg->spin_ns / DM_NS_PER_US), (long long)cfg->rcvbuf, (long long)cfg->sndbuf,
             (long long)cfg->linger_ms, cfg->offload_udp, cfg->offload_loopback, rules);
}

/* Makes a datapath instance. The first one: DEMI_BACKEND, or without it
 * the preference list SHIM_BACKENDS (core takes the first that starts,
 * logged at info). Later ones (a thread's own): the first one's backend. */
static int dp_create(const char *backend, struct dm_instance **out)
{
    /* the instance keeps a copy; not a static one: instances are made
     * without the lock too (shim_dp_ahead) */
    struct dm_config *cfg = malloc(sizeof(*cfg));
    if (!cfg)
        return -ENOMEM;
    /* accepted connections receive nothing before their first pop, so one
     * can still move to the instance of the thread that serves it */
    *cfg = shim_env;
    dm_config_set(cfg, "DEMI_MOVABLE_ACCEPTS", "1");
    /* poll(0), MSG_DONTWAIT and epoll_wait(0) see what Linux would */
    dm_config_set(cfg, "DEMI_PROMPT_READINESS", "1");
    if (backend)
        dm_config_set(cfg, "DEMI_BACKEND", backend);
    else if (!dm_cfg_raw(&shim_env, DM_CFG_BACKEND))
        dm_config_set(cfg, "DEMI_BACKEND", SHIM_BACKENDS);
    int r = dm_instance_create(cfg, out);
    free(cfg);
    return r;
}

/* The process's first instance (the list is newest first). */
static struct shim_dp *dp_first(void)
{
    struct shim_dp *dp = shim_rt.dps;
    while (dp && dp->next)
        dp = dp->next;
    return dp;
}

struct shim_mem shim_mem;
static const char *const shim_mem_names[] = { "shim_sock_bytes", "shim_fdtab_bytes", "shim_scratch_bytes" };
_Static_assert(sizeof(struct shim_mem) / sizeof(uint64_t) == DM_ARRAY_SIZE(shim_mem_names), "shim mem names");
struct shim_ctr shim_ctr;
static const char *const shim_ctr_names[] = { "epoll_kernel_asks", "poll_kernel_asks" };
_Static_assert(sizeof(struct shim_ctr) / sizeof(uint64_t) == DM_ARRAY_SIZE(shim_ctr_names), "shim counter names");

/* Instances made without the locks (shim_dp_ahead): this thread's, and
 * those another thread made and then did not need (it took an exited
 * thread's instance meanwhile), for the next thread that does. */
static __thread struct dm_instance *tls_spare;
static __thread uint32_t tls_spare_gen;
static struct dm_instance *spare_pool[4];
static unsigned nspare; /* process lock */

static int dp_take_spare(struct dm_instance **out)
{
    if (tls_spare && tls_spare_gen == shim_rt.inst_gen) {
        *out = tls_spare;
        tls_spare = NULL;
        return 0;
    }
    tls_spare = NULL; /* (a forked child's copy of the parent's: not ours to use or close) */
    if (nspare) {
        *out = spare_pool[--nspare];
        return 0;
    }
    return -ENOENT;
}

static void dp_keep_spare(void)
{
    if (!tls_spare || tls_spare_gen != shim_rt.inst_gen) {
        tls_spare = NULL;
        return;
    }
    if (nspare < DM_ARRAY_SIZE(spare_pool))
        spare_pool[nspare++] = tls_spare;
    else
        dm_instance_destroy(tls_spare);
    tls_spare = NULL;
}

static struct shim_dp *dp_new(void)
{
    struct shim_dp *first = dp_first();
    struct dm_instance *inst = NULL;
    struct shim_dp *dp = calloc(1, sizeof(*dp));
    if (!dp)
        return NULL;
    /* A device may start threads of its own (DPDK's EAL interrupt thread,
     * which brings a memif link up) and wait for them while we hold the
     * lock: their epolls must not need it (see shim_epoll_create). Only
     * the first instance can have a device; a thread's own instance (a
     * backend over kernel sockets) must not make the epolls other threads
     * create meanwhile the kernel's. */
    if (!first)
        __atomic_store_n(&shim_rt.starting_tid, (int)gettid(), __ATOMIC_RELEASE);
    int r = first ? dp_take_spare(&inst) : -ENOENT;
    if (r == -ENOENT)
        r = dp_create(first ? dm_instance_backend(first->inst) : NULL, &inst);
    if (!first)
        __atomic_store_n(&shim_rt.starting_tid, 0, __ATOMIC_RELEASE);
    if (r < 0) {
        free(dp);
        if (!first) {
            shim_rt.inst_err = -r;
            if (cfg_bool(DM_CFG_STRICT, 0)) {
                /* no silent kernel fallback: the process ends here */
                DM_ERR("shim", "the datapath did not start (%s) and DEMI_STRICT=1: exiting (status 1)",
                       strerror(-r));
                _exit(1);
            }
            DM_ERR("shim", "the datapath did not start (%s): sockets stay in the kernel (DEMI_STRICT=1 makes "
                   "this fatal)", strerror(-r));
        } else {
            dm_log_once("shim", "a thread's own datapath instance did not start (%s): it shares the "
                        "first one", strerror(-r));
        }
        return NULL;
    }
    dp->inst = inst;
    /* taken at once: the caller holds all locks, and all_drop will
     * release every instance's on the list */
    pthread_mutex_init(&dp->lock, NULL);
    DM_REAL(pthread_mutex_lock)(&dp->lock);
    dp->tid = (int)gettid();
    dp->idx = shim_rt.ndps;
    dp->gen = shim_rt.inst_gen;
    /* A backend that sleeps inside itself gets its wait fd only when a
     * sleep cannot happen there (io_uring: its mode may change for it). */
    dp->sleep_inside = dm_instance_can_sleep_inside(inst);
    dp->wait_fd = dp->sleep_inside ? -1 : dm_instance_wait_fd(inst);
    dp->wait_id = shim_watch_id();
    dp->next = shim_rt.dps;
    shim_rt.dps = dp;
    shim_rt.dpv[shim_rt.ndps++] = dp;
    if (!first) {
        /* process-wide: shown once, with the first instance's counters */
        dm_stats_register(inst, "mem", shim_mem_names, &shim_mem.shim_sock_bytes, DM_ARRAY_SIZE(shim_mem_names));
        dm_stats_register(inst, "shim", shim_ctr_names, &shim_ctr.epoll_kernel_asks, DM_ARRAY_SIZE(shim_ctr_names));
        shim_rt.per_thread = dm_instance_thread_instances(inst);
        /* read without the lock (shim_thread_internal_slow): published last */
        __atomic_store_n(&shim_rt.inst, inst, __ATOMIC_RELEASE);
        shim_helper_start();
    }
    DM_INFO("shim", "datapath started: backend %s (instance %u, for thread %d), %s", dm_instance_backend(inst),
            dp->idx, dp->tid, dp->sleep_inside ? "sleeps inside the backend" : "sleeps on its wait fd");
    return dp;
}

static __thread struct shim_dp *tls_dp;    /* this thread's own instance */
static pthread_key_t dp_key;
static pthread_once_t dp_key_once = PTHREAD_ONCE_INIT;

/* A thread that exits leaves its instance to the next new thread (a
 * thread-per-connection server would otherwise make one per connection);
 * what is still open in it is driven by whoever uses it. */
static void dp_thread_exit(void *p)
{
    struct shim_dp *dp = p;
    shim_lock();
    shim_tx_order(); /* sends of its last turn */
    if (shim_dp_live(dp) && dp->tid == (int)gettid())
        dp->tid = 0;
    shim_unlock();
}

static void dp_key_make(void) { (void)pthread_key_create(&dp_key, dp_thread_exit); }
static __thread uint32_t tls_dp_gen;


struct shim_dp *shim_dp_current(void)
{
    if (dm_likely(tls_dp != NULL) && tls_dp_gen == shim_rt.inst_gen)
        return tls_dp;
    if (shim_rt.dps && !shim_rt.per_thread)
        return dp_first(); /* one instance for the process */
    return NULL;
}

struct shim_dp *shim_dp_fast(void)
{
    return dm_likely(tls_dp != NULL) && tls_dp_gen == shim_rt.inst_gen ? tls_dp : NULL;
}

struct shim_dp *shim_dp_mine(void)
{
    struct shim_dp *dp = shim_dp_current();
    if (dm_likely(dp != NULL)) {
        if (dm_unlikely(dp != tls_dp) && !shim_rt.per_thread) {
            tls_dp = dp; /* the process's one instance: shim_dp_fast */
            tls_dp_gen = shim_rt.inst_gen;
        }
        return dp;
    }
    if (shim_rt.inst_err)
        return NULL;
    if (shim_rt.per_thread)
        for (struct shim_dp *d = shim_rt.dps; d && !dp; d = d->next)
            if (d->tid == 0) {
                dp = d; /* its thread exited */
                dp->tid = (int)gettid();
                dp_keep_spare();
            }
    if (!dp && (!shim_rt.dps || (shim_rt.per_thread && shim_rt.ndps < SHIM_MAX_DPS)))
        dp = dp_new();
    if (!dp)
        return dp_first(); /* NULL when none could start; shared past SHIM_MAX_DPS threads */
    tls_dp = dp;
    tls_dp_gen = shim_rt.inst_gen;
    if (shim_rt.per_thread) {
        (void)pthread_once(&dp_key_once, dp_key_make);
        (void)pthread_setspecific(dp_key, dp);
    }
    return dp;
}

void shim_dp_ahead(int fd)
{
    if (dm_likely(!shim_rt.per_thread) || shim_depth != 1 || !shim_locked_all() || shim_dp_fast() ||
        (tls_spare && tls_spare_gen == shim_rt.inst_gen) || shim_rt.ndps >= SHIM_MAX_DPS || !shim_rt.inst)
        return;
    struct shim_obj *o = shim_fd_get(fd);
    if (!o || o->kind != SHIM_KIND_SOCK)
        return;
    const struct shim_sock *s = (const struct shim_sock *)o;
    /* A fresh connection moves to this thread's instance; a pending socket
     * (a connect, a first datagram) is offloaded in it, unless the rules
     * keep it in the kernel: only where they offload everything (no
     * DEMI_OFFLOAD rule: asked with no address, one never matches) is
     * the instance sure to be wanted. */
    const char *why;
    if (!(s->state == SHIM_OFFLOADED && s->fresh && s->inst_gen == shim_rt.inst_gen) &&
        !(s->state == SHIM_PENDING &&
          shim_offload_decide_addr(shim_offload_rules, &shim_rt.cfg, s->type, NULL, NULL, &why)))
        return;
    for (struct shim_dp *d = shim_rt.dps; d; d = d->next)
        if (d->tid == 0)
            return; /* an exited thread's, which this one takes (shim_dp_mine) */
    char backend[32];
    snprintf(backend, sizeof(backend), "%s", dm_instance_backend(shim_rt.inst));
    uint32_t gen = shim_rt.inst_gen;
    shim_unlock();
    struct dm_instance *inst = NULL;
    if (dp_create(backend, &inst) == 0) {
        tls_spare = inst;
        tls_spare_gen = gen;
    }
    shim_lock();
}

struct dm_instance *shim_instance(void)
{
    struct shim_dp *dp = shim_dp_mine();
    return dp ? dp->inst : NULL;
}

void shim_focus(struct shim_dp *dp)
{
    tls_nfocus = dp != NULL;
    tls_focus[0] = dp;
    tls_focus_all = false;
}

void shim_focus_set(struct shim_dp *const *dps, unsigned n)
{
    tls_nfocus = 0;
    for (unsigned i = 0; i < n && i < SHIM_FOCUS_MAX; i++)
        tls_focus[tls_nfocus++] = dps[i];
    tls_focus_all = false;
}

void shim_focus_all(void)
{
    tls_nfocus = 0;
    tls_focus_all = true;
}

int shim_focus_others(struct shim_dp **out, int max)
{
    struct shim_dp *mine = shim_dp_current();
    int n = 0;
    if (tls_focus_all) {
        for (struct shim_dp *dp = shim_rt.dps; dp && n < max; dp = dp->next)
            if (dp != mine)
                out[n++] = dp;
        return n;
    }
    for (unsigned i = 0; i < tls_nfocus && n < max; i++)
        if (tls_focus[i] != mine && shim_dp_live(tls_focus[i]))
            out[n++] = tls_focus[i];
    return n;
}

/* Listening TCP sockets this program inherited (systemd socket activation,
 * nginx's binary upgrade, a supervisor that binds for it) become offload
 * candidates like its own: found once at load in /proc/self/fd. */
__attribute__((constructor(103))) static void shim_adopt_inherited(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    shim_lock();
    struct dirent *e;
    while (!shim_rt.cfg.offload_none && (e = readdir(d)) != NULL) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (*end || end == e->d_name || fd < 0 || fd == dirfd(d) || fd > INT32_MAX || shim_fd_get((int)fd))
            continue;
        int dom = 0, type = 0, acc = 0;
        socklen_t l = sizeof(int);
        if (DM_REAL(getsockopt)((int)fd, SOL_SOCKET, SO_DOMAIN, &dom, &l) < 0 || dom != AF_INET)
            continue;
        l = sizeof(int);
        if (DM_REAL(getsockopt)((int)fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0 || type != SOCK_STREAM)
            continue;
        l = sizeof(int);
        if (DM_REAL(getsockopt)((int)fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l) < 0 || !acc)
            continue;
        struct shim_sock *s = shim_sock_new(SOCK_STREAM);
        if (!s)
            break;
        int one = 1;
        s->phase = SHIM_LISTENING;
        s->backlog = SOMAXCONN; /* Linux does not tell the inherited one */
        s->nonblock = (DM_REAL(fcntl)((int)fd, F_GETFL) & O_NONBLOCK) != 0;
        l = sizeof(int);
        DM_REAL(getsockopt)((int)fd, SOL_SOCKET, SO_REUSEADDR, &s->reuseaddr, &l);
        int rp = 0;
        l = sizeof(int);
        DM_REAL(getsockopt)((int)fd, SOL_SOCKET, SO_REUSEPORT, &rp, &l);
        s->reuseport_inherited = rp != 0;
        (void)DM_REAL(setsockopt)((int)fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        (void)DM_REAL(setsockopt)((int)fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
        if (shim_fd_set((int)fd, &s->obj) < 0) {
            shim_sock_discard(s);
            continue;
        }
        DM_DEBUG("shim", "fd %ld: inherited listening TCP socket, offload candidate", fd);
    }
    shim_unlock();
    closedir(d);
}

/* A thread of the datapath's own (the device said so): its calls are the
 * kernel's. Known once the datapath runs; remembered per thread. */
__thread signed char shim_internal __attribute__((tls_model("initial-exec")));

bool shim_thread_internal_slow(void)
{
    if (!__atomic_load_n(&shim_rt.inst, __ATOMIC_ACQUIRE))
        return false;
    shim_internal = dm_thread_is_internal() ? 2 : 1;
    if (shim_internal == 2)
        DM_DEBUG("shim", "thread %d belongs to the datapath's device: its calls go to the kernel", (int)gettid());
    return shim_internal == 2;
}

/* The wait of a device's own thread (DPDK's interrupt thread): while it
 * sleeps the packet path may run; when it wakes, the device's gate holds
 * the packet path off until it sleeps again, because its callbacks may
 * unmap what a burst is reading (devices/dpdk/dpdk_gate.c). */
int shim_internal_epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout, const sigset_t *ss)
{
    dm_internal_thread_gate(false);
    int r = ss ? DM_REAL(epoll_pwait)(epfd, evs, max, timeout, ss) : DM_REAL(epoll_wait)(epfd, evs, max, timeout);
    int err = errno;
    dm_internal_thread_gate(true);
    errno = err;
    return r;
}

/* ---- sleepers and kicks ---- */

static __thread int thread_kick_fd = -1;
static __thread uint64_t thread_kick_id;

uint64_t shim_thread_kick_id(void) { return thread_kick_id; }
static pthread_key_t kick_key;
static pthread_once_t kick_once = PTHREAD_ONCE_INIT;

static void kick_fd_close(void *p)
{
    DM_REAL(close)((int)(intptr_t)p - 1);
}

static void kick_key_make(void) { (void)pthread_key_create(&kick_key, kick_fd_close); }

/* This thread's kick eventfd (closed when the thread exits), or -1. */
int shim_thread_kick_fd(void)
{
    if (dm_likely(thread_kick_fd >= 0))
        return thread_kick_fd;
    (void)pthread_once(&kick_once, kick_key_make);
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd >= 0 && pthread_setspecific(kick_key, (void *)(intptr_t)(fd + 1)) != 0) {
        DM_REAL(close)(fd);
        fd = -1;
    }
    thread_kick_fd = fd;
    thread_kick_id = fd >= 0 ? shim_watch_id() : 0;
    return fd;
}

/* Per-thread bounce buffers of the paths that must copy (splice, UDP GSO
 * sends), made at a thread's first such call and freed when it exits.
 * Static __thread arrays were the preload's whole static TLS (256 KiB),
 * which glibc allocates and zeroes in every thread the program starts:
 * redis-server's four threads paid for them without ever copying. */
static __thread void *tls_scratch[SHIM_SCRATCH_N];
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p)
{
    void **v = p;
    for (int i = 0; i < SHIM_SCRATCH_N; i++)
        if (v[i]) {
            free(v[i]);
            shim_mem_add(&shim_mem.shim_scratch_bytes, -(int64_t)SHIM_SCRATCH_SIZE);
        }
}

static void scratch_key_make(void) { (void)pthread_key_create(&scratch_key, scratch_free); }

void *shim_scratch(enum shim_scratch which)
{
    void *b = tls_scratch[which];
    if (dm_likely(b != NULL))
        return b;
    (void)pthread_once(&scratch_once, scratch_key_make);
    /* the key names this thread's array, so its destructor frees them all */
    if (pthread_setspecific(scratch_key, tls_scratch) != 0)
        return NULL;
    b = malloc(SHIM_SCRATCH_SIZE);
    tls_scratch[which] = b;
    if (b)
        shim_mem_add(&shim_mem.shim_scratch_bytes, SHIM_SCRATCH_SIZE);
    return b;
}

/* A forked child: its thread's kick eventfd is the parent's too. */
void shim_sleepers_child_reset(void)
{
    pthread_mutex_init(&shim_rt.sleep_lock, NULL);
    pthread_mutex_init(&shim_rt.linger_lock, NULL);
    dm_list_init(&shim_rt.sleepers);
    shim_rt.nsleepers = 0;
    if (thread_kick_fd >= 0) {
        DM_REAL(close)(thread_kick_fd);
        (void)pthread_setspecific(kick_key, NULL);
        thread_kick_fd = -1;
    }
}

void shim_sleep_begin(struct shim_sleeper *sl, struct dm_list *list, pthread_mutex_t *lock, int kick_fd)
{
    sl->kick_fd = kick_fd;
    sl->kicked = false;
    sl->lock = lock;
    shim_leaf_lock(lock);
    dm_list_add_tail(list, &sl->link);
    if (list == &shim_rt.sleepers)
        __atomic_add_fetch(&shim_rt.nsleepers, 1, __ATOMIC_RELAXED);
    shim_leaf_unlock(lock);
    /* only the helper reads it, and only while relays live: a relay that
     * starts during this sleep leaves it uncounted, and the helper looks
     * at the relays itself, as it would for a parent in waitpid */
    sl->counted = __atomic_load_n(&shim_relay_live, __ATOMIC_RELAXED) != 0;
    if (sl->counted)
        __atomic_add_fetch(&shim_rt.nasleep, 1, __ATOMIC_RELAXED);
}

void shim_sleep_end(struct shim_sleeper *sl)
{
    if (sl->counted)
        __atomic_sub_fetch(&shim_rt.nasleep, 1, __ATOMIC_RELAXED);
    shim_leaf_lock(sl->lock);
    dm_list_del(&sl->link);
    if (sl->lock == &shim_rt.sleep_lock)
        __atomic_sub_fetch(&shim_rt.nsleepers, 1, __ATOMIC_RELAXED);
    bool kicked = sl->kicked;
    shim_leaf_unlock(sl->lock);
    if (kicked) {
        uint64_t v;
        ssize_t DM_UNUSED r = DM_REAL(read)(sl->kick_fd, &v, sizeof(v));
    }
}

void shim_kick_list(struct dm_list *list)
{
    struct dm_list *pos;
    dm_list_for_each(pos, list) {
        struct shim_sleeper *sl = dm_list_entry(pos, struct shim_sleeper, link);
        if (sl->kicked || sl->kick_fd < 0)
            continue;
        uint64_t one = 1;
        sl->kicked = true;
        ssize_t DM_UNUSED r = DM_REAL(write)(sl->kick_fd, &one, sizeof(one));
    }
}

void shim_kick_for(struct shim_sock *s)
{
    /* Blocking calls and poll/select sleepers do not say which sockets
     * they wait for: all of them look again. Epoll sleepers only when the
     * socket is in their set. A sleeper got on its list holding the lock
     * of the instance it waits on (or all locks), and a change it waits
     * for is made holding that lock too: the count, read without the
     * list's lock, counts every sleeper this change concerns. */
    if (dm_unlikely(__atomic_load_n(&shim_rt.nsleepers, __ATOMIC_RELAXED) != 0)) {
        shim_leaf_lock(&shim_rt.sleep_lock);
        shim_kick_list(&shim_rt.sleepers);
        shim_leaf_unlock(&shim_rt.sleep_lock);
    }
    struct dm_list *pos;
    dm_list_for_each(pos, &s->watches) {
        struct shim_watch *w = dm_list_entry(pos, struct shim_watch, slink);
        struct shim_epoll *ep = w->ep;
        shim_leaf_lock(&ep->lock);
        shim_watch_ready(w, &ep->ready);
        if (dm_unlikely(!dm_list_empty(&ep->sleepers)))
            shim_kick_list(&ep->sleepers);
        if (dm_unlikely(ep->nest_fd >= 0))
            shim_epoll_nest_kick(ep, w);
        shim_leaf_unlock(&ep->lock);
    }
}

/* ---- qd -> socket (per instance) ---- */

static unsigned qhash(int qd, unsigned mask) { return ((uint32_t)qd * 2654435761u) & mask; }

/* Sized to the sockets the instance has, growing at a hand-over (never
 * on a completion): a fixed 4,096 buckets were 32 KiB per instance, one
 * per thread that does socket I/O, however few sockets it serves. */
#define QMAP_MIN 64u
static int qmap_grow(struct shim_dp *dp)
{
    unsigned n = dp->qmap ? (dp->qmap_mask + 1) * 4 : QMAP_MIN;
    struct shim_sock **m = calloc(n, sizeof(*m));
    if (!m)
        return -ENOMEM;
    for (unsigned i = 0; dp->qmap && i <= dp->qmap_mask; i++)
        for (struct shim_sock *s = dp->qmap[i], *next; s; s = next) {
            next = s->qnext;
            unsigned h = qhash(s->qd, n - 1);
            s->qnext = m[h];
            m[h] = s;
        }
    free(dp->qmap);
    dp->qmap = m;
    dp->qmap_mask = n - 1;
    return 0;
}

void shim_qmap_put(struct shim_sock *s)
{
    struct shim_dp *dp = s->dp;
    /* at most one socket per two buckets: a completion's lookup stays at
     * about one compare */
    if (!dp->qmap || 2 * dp->qmap_count > dp->qmap_mask) {
        /* a full map still works (longer chains): only the first must be had */
        if (qmap_grow(dp) < 0 && !dp->qmap)
            abort(); /* 512 bytes at the first hand-over; nothing sane to do without it */
    }
    unsigned h = qhash(s->qd, dp->qmap_mask);
    s->qnext = dp->qmap[h];
    dp->qmap[h] = s;
    dp->qmap_count++;
}

void shim_qmap_del(struct shim_sock *s)
{
    struct shim_dp *dp = s->dp;
    if (!dp || !dp->qmap)
        return;
    struct shim_sock **pp = &dp->qmap[qhash(s->qd, dp->qmap_mask)];
    for (; *pp; pp = &(*pp)->qnext)
        if (*pp == s) {
            *pp = s->qnext;
            s->qnext = NULL;
            dp->qmap_count--;
            return;
        }
}

static struct shim_sock *qmap_get(struct shim_dp *dp, int qd)
{
    if (!dp->qmap)
        return NULL;
    for (struct shim_sock *s = dp->qmap[qhash(qd, dp->qmap_mask)]; s; s = s->qnext)
        if (s->qd == qd)
            return s;
    return NULL;
}

/* ---- completions ---- */

static bool tx_complete(struct shim_sock *s, demi_qtoken_t qt)
{
    for (unsigned i = 0; i < s->tx_count; i++) {
        unsigned k = (s->tx_head + i) % SHIM_TXRING;
        if (s->tx[k].qt != qt)
            continue;
        s->tx_bytes -= s->tx[k].len;
        /* keep the ring dense: move the head entry into the hole */
        s->tx[k] = s->tx[s->tx_head];
        s->tx_head = (s->tx_head + 1) % SHIM_TXRING;
        s->tx_count--;
        return true;
    }
    return false;
}

static void dispatch(struct shim_dp *dp, demi_qresult_t *qr)
{
    struct dm_instance *inst = shim_dp_inst(dp);
    struct shim_sock *s = qmap_get(dp, qr->qr_qd);
    demi_qtoken_t qt = qr->qr_qt;

    switch (qr->qr_opcode) {
    case DEMI_OPC_PUSH: {
        if (!s)
            return;
        bool was_full = s->tx_count >= SHIM_TXRING || (int64_t)s->tx_bytes >= shim_rt.cfg.sndbuf;
        if (tx_complete(s, qt) && was_full)
            shim_sock_changed_out(s);
        shim_linger_check(s);
        return;
    }
    case DEMI_OPC_POP: {
        if (!s || !s->pop_pending || s->pop_qt != qt || s->closed) {
            dm_sgafree(inst, &qr->qr_value.sga);
            return;
        }
        s->pop_pending = false;
        demi_sgarray_t *sga = &qr->qr_value.sga;
        uint32_t len = 0;
        for (uint32_t i = 0; i < sga->sga_numsegs && i < DEMI_SGARRAY_MAXSIZE; i++)
            len += sga->sga_segs[i].sgaseg_len;
        if (s->type == SOCK_STREAM && len == 0) {
            s->eof = true;
            dm_sgafree(inst, sga);
        } else if (s->type == SOCK_DGRAM && s->udp_has_peer && !shim_dgram_from_peer(s, sga)) {
            /* A connected UDP socket takes only its peer's datagrams, as
             * Linux's lookup delivers them: dropped on arrival, so that
             * poll and FIONREAD never count one recv will not return
             * (the connection is ours where the backend's socket is not
             * connected). What came before the connect stays, as there. */
            dm_sgafree(inst, sga);
            shim_sock_post(s);
            return;
        } else {
            struct shim_rxseg *seg = &s->rx[(s->rx_head + s->rx_count) % SHIM_RXRING];
            seg->sga = *sga;
            seg->off = 0;
            seg->len = len;
            s->rx_count++;
            s->rx_bytes += len;
        }
        shim_sock_changed_in(s);
        shim_sock_post(s);
        return;
    }
    case DEMI_OPC_ACCEPT:
        if (!s || !s->accept_pending || s->accept_qt != qt || s->acc_count >= SHIM_ACCQ) {
            dm_close(inst, qr->qr_value.ares.qd);
            return;
        }
        s->accept_pending = false;
        {
            unsigned k = (s->acc_head + s->acc_count) % SHIM_ACCQ;
            s->accq[k].qd = qr->qr_value.ares.qd;
            /* (sockaddr_in or _in6 by family; the result struct is packed) */
            memcpy(&s->accq[k].addr, &qr->qr_value.ares.addr6, sizeof(s->accq[k].addr.sin6));
            s->acc_count++;
        }
        shim_sock_changed_in(s);
        shim_sock_post(s);
        return;
    case DEMI_OPC_CONNECT:
        if (!s || !s->connect_pending || s->connect_qt != qt)
            return;
        s->connect_pending = false;
        s->phase = SHIM_CONNECTED;
        DM_DEBUG("shim", "qd %d: connected", s->qd);
        shim_sock_changed(s);
        shim_sock_post(s);
        return;
    case DEMI_OPC_FAILED: {
        int err = (int)qr->qr_ret;
        if (!s)
            return;
        /* Linux's rule for a reset: after the peer's FIN (CLOSE_WAIT) it
         * is EPIPE, before it ECONNRESET - whichever way the backend saw it */
        if (err == ECONNRESET && s->eof)
            err = EPIPE;
        if (s->pop_pending && s->pop_qt == qt && s->type == SOCK_DGRAM) {
            /* a datagram socket's error (an ICMP's ECONNREFUSED) is
             * pending once, as Linux's sk_err; the socket goes on */
            s->pop_pending = false;
            if (err != ECANCELED)
                s->so_error = err;
            shim_sock_post(s);
        } else if (s->pop_pending && s->pop_qt == qt) {
            s->pop_pending = false;
            if (err != ECANCELED) {
                s->rd_err = err;
                s->so_error = err;
                if (err == ECONNRESET || err == EPIPE)
                    s->wr_dead = true;
            }
        } else if (s->accept_pending && s->accept_qt == qt) {
            s->accept_pending = false;
            if (err != ECANCELED && err != ECONNABORTED)
                s->so_error = err;
        } else if (s->connect_pending && s->connect_qt == qt) {
            s->connect_pending = false;
            s->phase = SHIM_CONN_FAILED;
            s->so_error = err;
            DM_DEBUG("shim", "qd %d: connect failed: %s", s->qd, strerror(err));
        } else if (tx_complete(s, qt)) {
            if (err != ECANCELED && s->type == SOCK_DGRAM) {
                s->so_error = err; /* that datagram's; later ones still go */
                s->tx_fail_qt = qt;
            } else if (err != ECANCELED) {
                /* the backend's send error is what Linux returned for that
                 * send (ECONNRESET, or EPIPE after a reset in CLOSE_WAIT);
                 * every later send gives EPIPE */
                if (!s->wr_dead && !s->so_error)
                    s->so_error = err;
                s->wr_dead = true;
                s->tx_fail_qt = qt;
            }
        } else {
            return;
        }
        shim_sock_changed(s);
        shim_linger_check(s);
        return;
    }
    default:
        return;
    }
}

/* Right before a sleep: false when something is to be done first
 * (completions harvested, or a backend has work). */
bool shim_may_sleep(void)
{
    if (shim_progress() > 0)
        return false; /* and flushed what the backends queued */
    if (dm_unlikely(shim_relay_live) && shim_locked_all() && shim_relay_before_sleep() > 0)
        return false;
    struct shim_dp *mine = shim_dp_current(), *others[SHIM_MAX_DPS];
    if (mine && dm_instance_wait_arm(shim_dp_inst(mine)) > 0)
        return false;
    int n = shim_focus_others(others, SHIM_MAX_DPS);
    for (int i = 0; i < n; i++)
        if (dm_instance_wait_arm(shim_dp_inst(others[i])) > 0)
            return false;
    return true;
}

/* A server's completions each name another connection, whose socket is
 * rarely still in the cache: while one is dispatched, the socket's head
 * (state, receive and send accounting, the qd chain, the watch list) is
 * asked for four completions ahead, and, once that is in, two ahead, the
 * lines the completion will write (its receive or send slot, its first
 * epoll watch). A window, not the whole batch at once: more misses in
 * flight than the core can track would only queue. */
#define DISPATCH_AHEAD 4
static void dispatch_pf_head(const struct shim_dp *dp, int qd)
{
    const char *s = (const char *)dp->qmap[qhash(qd, dp->qmap_mask)]; /* the pointer only */
    if (s) {
        dm_prefetch(s);
        dm_prefetch(s + 64);
        dm_prefetch(s + 128);
    }
}

static void dispatch_pf_slots(struct shim_dp *dp, const demi_qresult_t *qr)
{
    const struct shim_sock *s = qmap_get(dp, qr->qr_qd);
    if (!s)
        return;
    if (qr->qr_opcode == DEMI_OPC_POP)
        dm_prefetch(&s->rx[(s->rx_head + s->rx_count) % SHIM_RXRING]);
    else if (qr->qr_opcode == DEMI_OPC_PUSH)
        dm_prefetch(&s->tx[s->tx_head]);
    if (!dm_list_empty(&s->watches)) {
        const char *w = (const char *)dm_list_entry(s->watches.next, struct shim_watch, slink);
        dm_prefetch(w);
        dm_prefetch(w + 64);
    }
}

int shim_progress_dp(struct shim_dp *dp)
{
    demi_qresult_t qrs[32];
    int total = 0;

    if (!shim_dp_live(dp))
        return 0;
    for (int round = 0; round < 8; round++) {
        int n = 0;
        int r = dm_wait_next_n(shim_dp_inst(dp), qrs, (int)DM_ARRAY_SIZE(qrs), &n, 0);
        if (r < 0 || n <= 0)
            break;
        for (int i = 0; i < n && i < DISPATCH_AHEAD && dp->qmap; i++)
            dispatch_pf_head(dp, qrs[i].qr_qd);
        for (int i = 0; i < n; i++) {
            if (i + DISPATCH_AHEAD < n && dp->qmap)
                dispatch_pf_head(dp, qrs[i + DISPATCH_AHEAD].qr_qd);
            if (i + 2 < n)
                dispatch_pf_slots(dp, &qrs[i + 2]);
            dispatch(dp, &qrs[i]);
        }
        total += n;
    }
    return total;
}

/* Another thread's kernel step is one syscall: spin, then yield. */
void shim_dp_wait_step(struct shim_dp *dp)
{
    for (unsigned i = 0; __atomic_load_n(&dp->stepping, __ATOMIC_ACQUIRE); i++) {
        if (i < 256)
            dm_cpu_relax();
        else
            sched_yield();
    }
}

int shim_progress_step(void)
{
    struct shim_dp *mine = shim_dp_current();
    if (mine && shim_dp_live(mine) && dm_instance_kstep_wanted(shim_dp_inst(mine))) {
        /* Set under the lock, so nobody is inside the instance now and
         * whoever takes the lock next sees it (shim_dp_inst). The depth
         * stays: our own calls meanwhile are still the datapath's. */
        __atomic_store_n(&mine->stepping, 1, __ATOMIC_RELAXED);
        held_drop();
        dm_instance_kstep(mine->inst);
        __atomic_store_n(&mine->stepping, 0, __ATOMIC_RELEASE);
        held_take();
    }
    return shim_progress();
}

__thread bool shim_tx_owed __attribute__((tls_model("initial-exec")));
static __thread unsigned tls_turn_events, tls_turn_sends;
/* The socket of the turn's last send, and whether that send waited. */
static __thread const struct shim_sock *tls_turn_last;
static __thread bool tls_turn_last_waits;

static void turn_reset(unsigned nevents)
{
    tls_turn_events = nevents;
    tls_turn_sends = 0;
    tls_turn_last = NULL;
}

void shim_turn_begin(void)
{
    turn_reset(0);
    shim_tx_order();
}

void shim_turn_end(int nevents)
{
    turn_reset(nevents > 0 ? (unsigned)nevents : 0);
}

/* Counts a send in its turn: true when it may leave its submission to
 * later (it is not the turn's last, nor the tx_batch-th). At most
 * tx_batch sends wait, so that in a long turn the first answers do not
 * wait for the last (32 at ~5 us per request: 160 us at worst). nginx
 * and memcached, server CPU per request, one round each (server CPU 0,
 * load CPU 1): batches of 1 6.0-6.7 us, 4 5.3-6.5, 8 5.0-5.8, a whole
 * turn 4.6-5.5; the kernel's 4.9-5.9. An answer in several sends on one
 * socket (nginx's header by writev, then its file by sendfile) counts
 * once, and its later sends do as its first did: counted each, the sends
 * of the turn's second half all went at once, a submission each. */
static bool turn_count_send(const struct shim_sock *s)
{
    if (s == tls_turn_last)
        return tls_turn_last_waits;
    tls_turn_last = s;
    ++tls_turn_sends;
    tls_turn_last_waits =
        tls_turn_sends < tls_turn_events && tls_turn_sends % (unsigned)shim_rt.cfg.tx_batch != 0;
    return tls_turn_last_waits;
}

/* memcached -t 1 under uring (server CPU 0, memcaslap CPU 1): a flush
 * per send cost 7.3-8.5 us of server CPU per request, one per turn
 * 5.9-6.3 (the kernel's own: 5.8-6.2). */
/* Blocking stream sockets whose last send returned with bytes still on
 * their way into the kernel: Linux's blocking send returns once its bytes
 * are in the kernel's buffer, ours once they are in ours (DEMI_SNDBUF),
 * and moving them on takes calls into the datapath. Before this thread
 * blocks elsewhere (dm_before_block and the waits of hooks_thread.c, as
 * for owed sends) it finishes those sends, as Linux's send would have
 * done before returning; without that, a thread that sent more than the
 * kernel's buffer holds and then joined a thread left the rest unsent.
 * By fd, no ref (a ref would keep a closed socket from its FIN): one that
 * fd no longer names is passed over. More than TX_WAIT_MAX sockets: the
 * others as before. This thread's instance's only (its lock is the one
 * the flush takes). */
#define TX_WAIT_MAX 8
static __thread struct {
    struct shim_sock *s;
    int fd;
} tls_tx_wait[TX_WAIT_MAX];
static __thread unsigned tls_ntx_wait;

static void tx_wait_note(struct shim_sock *s, int fd)
{
    for (unsigned i = 0; i < tls_ntx_wait; i++)
        if (tls_tx_wait[i].s == s && tls_tx_wait[i].fd == fd)
            return;
    if (tls_ntx_wait == TX_WAIT_MAX)
        return;
    tls_tx_wait[tls_ntx_wait].s = s;
    tls_tx_wait[tls_ntx_wait++].fd = fd;
    shim_tx_owed = true;
}

/* Until the noted sockets' sends are all in the kernel, they fail, or
 * DEMI_LINGER_MS passes without one byte moving. Lock held. */
static void tx_wait_drain(void)
{
    int64_t start = dm_clock_ns(), moved = start;
    uint64_t left_before = UINT64_MAX;
    for (;;) {
        uint64_t left = 0;
        for (unsigned i = 0; i < tls_ntx_wait; i++) {
            struct shim_sock *s = tls_tx_wait[i].s;
            if (shim_fd_get(tls_tx_wait[i].fd) != &s->obj)
                continue; /* closed (its linger goes on without us) */
            if (s->state == SHIM_OFFLOADED && !s->closed && !s->wr_dead && !s->so_error)
                left += s->tx_bytes;
        }
        int64_t now = dm_clock_ns();
        if (left != left_before) {
            left_before = left;
            moved = now;
        }
        if (!left || now - moved > shim_rt.cfg.linger_ms * DM_NS_PER_MS)
            break;
        shim_progress_step();
        if (shim_block(start, moved + shim_rt.cfg.linger_ms * DM_NS_PER_MS) == -EINTR)
            break; /* a handler ran: the wait it interrupted goes on */
    }
    tls_ntx_wait = 0;
}

bool shim_tx_owed_batched_only(void)
{
    return tls_ntx_wait == 0;
}

void shim_tx_after_send(struct shim_sock *s, int fd)
{
    /* corked: as the kernel's cork would, hold it for the uncork, which
     * Linux pushes at once (nginx corks its header and file; a header
     * sent alone left the file to Nagle and the peer's delayed ACK) */
    bool waits = turn_count_send(s) || s->corked;
    if (waits && s->dp == shim_dp_current()) {
        shim_tx_owed = true;
    } else {
        shim_tx_owed = false;
        shim_progress_step();
    }
    if (s->type == SOCK_STREAM && !s->nonblock && s->tx_count && s->dp == shim_dp_current())
        tx_wait_note(s, fd);
}

void shim_tx_uncorked(const struct shim_sock *s)
{
    if (shim_tx_owed && (s != tls_turn_last || !tls_turn_last_waits)) {
        shim_tx_owed = false;
        shim_progress_step();
    }
}

void shim_tx_turn_forget(void)
{
    turn_reset(0);
    shim_tx_owed = false;
}

void shim_tx_flush_owed(void)
{
    struct shim_dp *mine = shim_dp_fast();
    if (mine && shim_dp_live(mine))
        shim_lock_dp(mine); /* the owed sends are this instance's */
    else
        shim_lock();
    shim_tx_order();
    if (dm_unlikely(tls_ntx_wait != 0))
        tx_wait_drain();
    shim_unlock();
}

int shim_progress(void)
{
    struct shim_dp *mine = shim_dp_current();
    int total = 0;
    if (!shim_rt.inst)
        return 0;
    /* Only the helper looks, and only for a change: a plain store (no
     * locked add on a line every thread writes); two threads' racing
     * stores may lose a step, which costs one poll of the helper's. */
    if (__atomic_load_n(&shim_helper_on, __ATOMIC_RELAXED))
        __atomic_store_n(&shim_rt.progress_gen, __atomic_load_n(&shim_rt.progress_gen, __ATOMIC_RELAXED) + 1,
                         __ATOMIC_RELAXED);
    if (mine)
        total += shim_progress_dp(mine);
    if (dm_unlikely(tls_focus_all || tls_nfocus > (tls_nfocus && tls_focus[0] == mine))) {
        struct shim_dp *others[SHIM_MAX_DPS];
        int n = shim_focus_others(others, SHIM_MAX_DPS);
        for (int i = 0; i < n; i++)
            total += shim_progress_dp(others[i]);
    }
    if (dm_unlikely(shim_relay_live) && shim_locked_all())
        total += shim_relay_step(); /* children's connections (relay.c) */
    return total;
}

int shim_dp_wait_fd(struct shim_dp *dp)
{
    if (dp->wait_fd < 0 && dp->sleep_inside) {
        dp->wait_fd = dm_instance_wait_fd(shim_dp_inst(dp));
        dp->wait_id = shim_watch_id();
    }
    return dp->wait_fd;
}

bool shim_dp_wait_fd_ready(struct shim_dp *dp)
{
    if (dp->wait_fd >= 0 || !dp->sleep_inside)
        return true;
    (void)shim_dp_wait_fd(dp);
    return false;
}

/* The instances whose wait fds a sleep outside the backends watches:
 * this thread's and the focused others. False when one's wait fd had to
 * be made just now (look again first). */
bool shim_wait_dps(struct shim_dp **dps, int max, int *n)
{
    struct shim_dp *mine = shim_dp_current();
    int k = shim_focus_others(dps, max - 1);
    if (mine)
        dps[k++] = mine;
    bool ready = true;
    *n = 0;
    for (int i = 0; i < k; i++) {
        if (!shim_dp_wait_fd_ready(dps[i]))
            ready = false;
        if (dps[i]->wait_fd >= 0)
            dps[(*n)++] = dps[i];
    }
    return ready;
}

bool shim_wait_fds(struct pollfd *p, int max, int *n)
{
    struct shim_dp *dps[SHIM_MAX_DPS + 1];
    int rfd = dm_unlikely(shim_relay_live) && shim_locked_all() ? shim_relay_wait_fd() : -1;
    bool ready = shim_wait_dps(dps, DM_MIN(max - (rfd >= 0), SHIM_MAX_DPS + 1), n);
    for (int i = 0; i < *n; i++)
        p[i] = (struct pollfd){ .fd = dps[i]->wait_fd, .events = POLLIN };
    if (rfd >= 0)
        p[(*n)++] = (struct pollfd){ .fd = rfd, .events = POLLIN }; /* its children's bytes (relay.c) */
    return ready;
}

uint64_t shim_watch_id(void)
{
    static uint64_t next;
    return __atomic_add_fetch(&next, 1, __ATOMIC_RELAXED);
}

int shim_sleep_inside(const struct pollfd *watch, const uint64_t *ids, int nwatch, int64_t timeout_ns)
{
    struct shim_dp *mine = shim_dp_current(), *others[SHIM_FOCUS_MAX];
    int n = shim_focus_others(others, SHIM_FOCUS_MAX);
    /* This thread's instance, or, when it has none, one it waits on (an
     * acceptor thread on a listener the main thread made: that ring is
     * bound to it by now). The other instances the wait involves wake it
     * through their wait fds, watched from here: this thread's own ring
     * keeps its deferred task work (a server thread whose epoll holds the
     * listener every thread shares, and its own connections). */
    struct shim_dp *dp = mine;
    if (!dp && n > 0)
        dp = others[--n];
    if (!dp || !dp->sleep_inside || tls_focus_all || nwatch + n > SHIM_WATCH_MAX)
        return -EAGAIN;
    struct pollfd w[SHIM_WATCH_MAX];
    uint64_t wid[SHIM_WATCH_MAX];
    int k = 0;
    for (int i = 0; i < nwatch; i++) {
        w[k] = watch[i];
        wid[k++] = ids[i];
    }
    bool again = false;
    for (int i = 0; i < n; i++) {
        if (!shim_dp_wait_fd_ready(others[i]))
            again = true; /* what completed before its wait fd existed did not signal it */
        if (others[i]->wait_fd < 0)
            return -EAGAIN;
        if (dm_instance_wait_arm(shim_dp_inst(others[i])) > 0)
            again = true; /* it has work already */
        w[k] = (struct pollfd){ .fd = others[i]->wait_fd, .events = POLLIN };
        wid[k++] = others[i]->wait_id;
    }
    if (again)
        return 0; /* look again */
    struct dm_instance *inst = shim_dp_inst(dp);
    int r = dm_instance_sleep_arm(inst, w, wid, k);
    if (r != 0)
        return r > 0 ? 0 : r;
    shim_unlock();
    r = dm_instance_sleep(inst, timeout_ns);
    shim_relock();
    return r;
}

int shim_wait_turn(struct shim_wait *w, struct shim_sock *s, int fd)
{
    if (!w->polled) {
        shim_progress_step();
        w->polled = true;
        return 0;
    }
    if (w->nonblock)
        return -EAGAIN;
    if (!w->start) {
        w->start = dm_clock_ns();
        w->deadline = w->timeo_ns ? w->start + w->timeo_ns : -1;
    }
    int b = shim_block(w->start, w->deadline);
    if (b < 0)
        return b == -ETIMEDOUT ? -EAGAIN : b;
    if (!shim_sock_still(s, fd))
        return -EBADF;
    w->polled = false;
    return 0;
}

/* The wait shim_block() serves in this thread: its start and signal mark. */
static __thread int64_t tls_block_start;
static __thread struct shim_sigmark tls_block_mark;

int shim_block(int64_t spin_start, int64_t deadline)
{
    /* A socket call restarts after a handler with SA_RESTART unless it has
     * a timeout (Linux's sock_intr_errno). */
    bool restartable = deadline < 0;
    if (tls_block_start != spin_start) {
        tls_block_start = spin_start;
        shim_sig_mark(&tls_block_mark);
    } else if (shim_sig_check(&tls_block_mark, restartable) < 0) {
        return -EINTR; /* a handler ran while we spun or looked */
    }
    if (deadline < 0 && shim_spin_only()) {
        shim_spin_pause(); /* a backend that cannot sleep, no deadline: no clock to read */
        return 0;
    }
    int64_t now = dm_clock_ns();
    if (deadline >= 0 && now >= deadline)
        return -ETIMEDOUT;
    if (shim_spin_on(now - spin_start, now) || shim_spin_only()) {
        /* Spin phase (or a backend that cannot sleep): poll again. */
        shim_spin_pause_at(now - spin_start);
        return 0;
    }
    if (!shim_may_sleep())
        return 0; /* something happened: the caller looks again */
    struct shim_sleeper sl;
    int kfd = shim_thread_kick_fd();
    int64_t slice = shim_rt.cfg.block_slice_ns; /* bounds a missed wake-up */
    if (deadline >= 0 && deadline - now < slice)
        slice = deadline - now;
    shim_sleep_begin(&sl, &shim_rt.sleepers, &shim_rt.sleep_lock, kfd);
    struct pollfd kick = { .fd = kfd, .events = POLLIN };
    uint64_t kick_id = shim_thread_kick_id();
    int r = shim_sleep_inside(&kick, &kick_id, kfd >= 0, slice);
    if (r != -EAGAIN) {
        shim_sleep_end(&sl);
        if (r == -EINTR)
            return shim_sig_after_eintr(&tls_block_mark, restartable);
        return 0;
    }
    struct pollfd p[SHIM_MAX_DPS + 2];
    int np = 0;
    if (!shim_wait_fds(p, SHIM_MAX_DPS + 1, &np)) {
        shim_sleep_end(&sl);
        return 0;
    }
    if (kfd >= 0)
        p[np++] = (struct pollfd){ .fd = kfd, .events = POLLIN };
    struct timespec ts = { .tv_sec = slice / DM_NS_PER_S, .tv_nsec = slice % DM_NS_PER_S };
    shim_unlock();
    r = DM_REAL(ppoll)(p, (nfds_t)np, &ts, NULL);
    int e = errno;
    shim_relock();
    shim_sleep_end(&sl);
    if (r < 0 && e == EINTR)
        return shim_sig_after_eintr(&tls_block_mark, restartable);
    return 0;
}
