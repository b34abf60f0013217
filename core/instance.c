/* SPDX-License-Identifier: MIT */
/*
 * Instances: creation from configuration, the poll loop, tasks, and the
 * process's default instance.
 *
 * The poll loop is the whole scheduler: backend poll (RX, completions),
 * then due timers, then tasks that backends queued (per-connection work
 * such as "flush what is queued to send"). It blocks in the backend only
 * when nothing is runnable, so kernel-socket backends sleep when idle and
 * kernel-bypass backends spin.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core_priv.h"

static const char *const core_counter_names[] = {
    "ops_started", "ops_completed", "ops_failed", "ops_canceled", "polls", "timers_fired", "tasks_run",
    "buf_alloc_fail", "hdr_alloc_fail", "heap_bufs", "buf_reserve_hit", "queues_opened", "queues_closed",
};
_Static_assert(sizeof(struct dm_core_counters) / sizeof(uint64_t) == DM_ARRAY_SIZE(core_counter_names),
               "core counter names");

static const char *const core_mem_names[] = { "pool_data_bytes", "pool_meta_bytes", "table_bytes" };
_Static_assert(sizeof(struct dm_core_mem) / sizeof(uint64_t) == DM_ARRAY_SIZE(core_mem_names), "core mem names");

static void core_mem_refresh(void *arg)
{
    struct dm_instance *inst = arg;
    size_t d1 = 0, m1 = 0, d2 = 0, m2 = 0;
    if (inst->data_pool)
        dm_bufpool_mem(inst->data_pool, &d1, &m1);
    if (inst->hdr_pool)
        dm_bufpool_mem(inst->hdr_pool, &d2, &m2);
    inst->mem.pool_data_bytes = d1 + d2;
    inst->mem.pool_meta_bytes = m1 + m2;
    inst->mem.table_bytes = dm_tables_mem(inst);
}

void dm_task_init(struct dm_task *t, void (*fn)(struct dm_task *), void *arg)
{
    dm_list_init(&t->link);
    t->fn = fn;
    t->arg = arg;
}

void dm_task_schedule(struct dm_instance *inst, struct dm_task *t)
{
    if (!dm_list_linked(&t->link))
        dm_list_add_tail(&inst->tasks, &t->link);
}

void dm_task_cancel(struct dm_task *t)
{
    if (dm_list_linked(&t->link))
        dm_list_del(&t->link);
}

static int run_tasks(struct dm_instance *inst)
{
    /* Run what is queued now; tasks queued meanwhile wait for the next
     * iteration so a task that reschedules itself cannot starve RX. */
    struct dm_list batch;
    if (dm_list_empty(&inst->tasks))
        return 0;
    batch.next = inst->tasks.next;
    batch.prev = inst->tasks.prev;
    batch.next->prev = &batch;
    batch.prev->next = &batch;
    dm_list_init(&inst->tasks);
    int n = 0;
    while (!dm_list_empty(&batch)) {
        struct dm_task *t = dm_list_first(&batch, struct dm_task, link);
        dm_list_del(&t->link);
        t->fn(t);
        n++;
    }
    inst->ctr.tasks_run += (uint64_t)n;
    return n;
}

/* Polls in a row without work that share one clock read. */
#define IDLE_CLOCK_EVERY 8

int dm_poll(struct dm_instance *inst, int64_t block_ns)
{
    /* The clock costs 20-28 ns on this VM, half of an idle turn of a
     * spinning wait over memif (__vdso_clock_gettime: 52% of a ping-pong
     * server's samples). A turn after one that found work reads it; idle
     * turns share a read, so now_ns lags by a few hundred ns at most while
     * nothing happens, which no timer or deadline here can tell. The
     * first poll of a wait uses the wait's own read, made just before
     * (the turn after work is that poll: two reads in a row, ~25 ns on
     * each side of a memif round trip). */
    if (inst->idle_polls % IDLE_CLOCK_EVERY == 0 && !inst->now_fresh)
        dm_refresh_now(inst);
    inst->now_fresh = false;
    inst->ctr.polls++;
    /* Do not sleep with work queued or when timers are armed beyond the
     * next tick: sleep at most until the next tick then. */
    if (!dm_list_empty(&inst->tasks))
        block_ns = 0;
    else if (inst->wheel.count && block_ns > DM_TIMER_TICK_NS)
        block_ns = DM_TIMER_TICK_NS;
    int n = inst->ops->poll(inst->st, block_ns);
    if (n < 0)
        return n;
    if (block_ns && !inst->ops->poll_returns_at_once)
        dm_refresh_now(inst); /* it may have slept */
    int fired = dm_wheel_run(inst, inst->now_ns);
    inst->ctr.timers_fired += (uint64_t)fired;
    int done = n + fired + run_tasks(inst);
    inst->idle_polls = done || (block_ns && !inst->ops->poll_returns_at_once) ? 0 : inst->idle_polls + 1;
    return done;
}

/* The table's ranges fit in 32 bits; auto is the caller's (HDR_COUNT). */
static int cfg_u32(const struct dm_config *cfg, enum dm_cfg_id id, uint32_t *out)
{
    int64_t v;
    int rc = dm_cfg_int(cfg, id, &v);
    if (rc == 0)
        *out = (uint32_t)v;
    return rc;
}

/* The native API's backend when DEMI_BACKEND is unset (the preload asks
 * for "uring,posix"). */
static const char *const default_backend = "posix";

/* DEMI_BACKEND is one backend, or a preference list: the first of it
 * that is built and starts serves the instance; each one passed over is
 * logged at info, and only the last failure is an error. One rule for
 * every fallback (io_uring refused by the kernel, a device missing). */
static int backend_start(struct dm_instance *inst, const struct dm_config *cfg, const char *list)
{
    char name[sizeof(inst->backend)];
    int rc = -ENODEV, strict = 0;
    unsigned i;
    /* DEMI_STRICT=1: no fallback, the first backend of the list or nothing */
    (void)dm_cfg_bool(cfg, DM_CFG_STRICT, &strict);
    for (i = 0; dm_backend_list_at(list, i, name, sizeof(name)); i++) {
        bool last = strict || !dm_backend_list_at(list, i + 1, (char[2]){ 0 }, 2);
        inst->ops = dm_stack_find(name);
        if (!inst->ops) {
            char names[256];
            dm_stack_names(names, sizeof(names));
            if (last)
                DM_ERR("core", "DEMI_BACKEND=%s: %s is not built into this library (built: %s)", list, name, names);
            else
                DM_INFO("core", "backend %s is not built into this library: next of DEMI_BACKEND=%s", name, list);
            rc = -ENODEV;
            if (strict) {
                i++;
                break;
            }
            continue;
        }
        snprintf(inst->backend, sizeof(inst->backend), "%s", name);
        rc = inst->ops->create(inst, cfg, &inst->st);
        if (rc == 0)
            return 0;
        if (last)
            DM_ERR("core", "backend %s failed to start: %s%s", name, strerror(-rc),
                   strict && dm_backend_list_at(list, i + 1, (char[2]){ 0 }, 2) ? " (DEMI_STRICT=1: no next backend)"
                                                                            : "");
        else
            DM_INFO("core", "backend %s cannot start here (%s): next of DEMI_BACKEND=%s", name, strerror(-rc), list);
        inst->ops = NULL;
        if (strict) {
            i++;
            break;
        }
    }
    if (i == 0)
        DM_ERR("core", "DEMI_BACKEND=\"%s\" names no backend", list);
    return rc;
}

int dm_instance_create(const struct dm_config *cfg, struct dm_instance **out)
{
    int rc;
    struct dm_instance *inst = calloc(1, sizeof(*inst));
    if (!inst)
        return -ENOMEM;
    if (cfg)
        inst->cfg = *cfg;
    else
        dm_config_init(&inst->cfg);
    cfg = &inst->cfg;
    dm_log_configure(cfg);
    int clk; /* DEMI_CLOCK's choices: auto, tsc, sys */
    if (dm_cfg_raw(cfg, DM_CFG_CLOCK) && dm_cfg_enum(cfg, DM_CFG_CLOCK, &clk) == 0 && clk == 2)
        dm_clock_use_sys();
    /* One policy for a bad value anywhere: this instance does not start
     * (each was reported with its variable and what is accepted). */
    if ((rc = dm_config_check(cfg)) < 0)
        goto fail;
    inst->now_ns = dm_clock_ns();
    dm_list_init(&inst->tasks);
    dm_list_init(&inst->done);
    dm_wheel_init(&inst->wheel, inst->now_ns);

    uint32_t nbufs = 0, bufsize = 0, nhdrs = 0, nqueues = 0, nops = 0;
    if ((rc = cfg_u32(cfg, DM_CFG_BUF_COUNT, &nbufs)) < 0 ||
        (rc = cfg_u32(cfg, DM_CFG_BUF_SIZE, &bufsize)) < 0 ||
        (rc = cfg_u32(cfg, DM_CFG_HDR_COUNT, &nhdrs)) < 0 ||
        (rc = cfg_u32(cfg, DM_CFG_MAX_QUEUES, &nqueues)) < 0 ||
        (rc = cfg_u32(cfg, DM_CFG_MAX_OPS, &nops)) < 0)
        goto fail;
    if (!nhdrs) /* DEMI_HDR_COUNT=auto (cfg_u32 left it 0): 2 x buffers */
        nhdrs = 2 * nbufs;
    int64_t spin_us, yield_us;
    /* the preload reads the same two (shim/rt.c): one knob for both APIs */
    if ((rc = dm_cfg_int(cfg, DM_CFG_SPIN_US, &spin_us)) < 0 ||
        (rc = dm_cfg_int(cfg, DM_CFG_SPIN_YIELD_US, &yield_us)) < 0)
        goto fail;
    if (rc == DM_CFG_AUTO)
        yield_us = dm_spin_yield_auto_us();
    inst->spin_ns = spin_us * DM_NS_PER_US;
    int crowd_rc = dm_cfg_bool(cfg, DM_CFG_SPIN_CROWDED, &inst->spin_crowded);
    if ((rc = crowd_rc) < 0)
        goto fail;
    inst->spin_yield_ns = inst->spin_first_ns = yield_us * DM_NS_PER_US;
    rc = -ENOMEM;
    inst->data_pool = dm_bufpool_create("data", nbufs, bufsize);
    inst->hdr_pool = dm_bufpool_create("hdr", nhdrs, 0);
    if (!inst->data_pool || !inst->hdr_pool)
        goto fail;
    if ((rc = dm_tables_init(inst, nqueues, nops)) < 0)
        goto fail;
    dm_stats_register(inst, "core", core_counter_names, &inst->ctr.ops_started,
                      DM_ARRAY_SIZE(core_counter_names));
    dm_stats_register_gauges(inst, "mem", core_mem_names, &inst->mem.pool_data_bytes,
                             DM_ARRAY_SIZE(core_mem_names), core_mem_refresh, inst);

    const char *stats_file;
    if (dm_stats_wanted(cfg, &stats_file)) {
        inst->stats_dump = 1;
        if (stats_file)
            snprintf(inst->stats_file, sizeof(inst->stats_file), "%s", stats_file);
    }

    const char *list = dm_cfg_str(cfg, DM_CFG_BACKEND);
    if ((rc = backend_start(inst, cfg, list ? list : default_backend)) < 0)
        goto fail;
    if (crowd_rc == DM_CFG_AUTO) /* our own TCP/IP's waits also drive it: they spin on */
        inst->spin_crowded = inst->ops->own_addresses;
    DM_INFO("core", "instance up: backend %s, %u buffers of %u bytes, %u queues, %u ops", inst->backend, nbufs,
            bufsize, nqueues, nops);
    *out = inst;
    return 0;
fail:
    dm_instance_destroy(inst);
    return rc;
}

void dm_instance_destroy(struct dm_instance *inst)
{
    if (!inst)
        return;
    if (inst->stats_dump) {
        FILE *f = inst->stats_file[0] ? fopen(inst->stats_file, "a") : stderr;
        if (f) {
            fprintf(f, "# demi stats, backend %s\n", inst->backend);
            dm_stats_dump(inst, f, 0);
            if (f != stderr)
                fclose(f);
        }
    }
    if (inst->ops && inst->queues) {
        /* Close what the app left open, so the backend releases sockets. */
        for (uint32_t i = 0; i < inst->qfresh; i++) { /* (past it: never handed out) */
            struct dm_queue *q = inst->queues[i];
            if (!q)
                continue;
            inst->ops->close(inst->st, q);
            dm_queue_cancel_ops(q);
            dm_queue_release(q);
        }
    }
    if (inst->ops)
        inst->ops->destroy(inst->st);
    dm_tables_fini(inst);
    dm_bufpool_destroy(inst->data_pool);
    dm_bufpool_destroy(inst->hdr_pool);
    free(inst);
}

const char *dm_instance_backend(const struct dm_instance *inst) { return inst->backend; }
const struct dm_config *dm_instance_config(const struct dm_instance *inst) { return &inst->cfg; }
int64_t dm_now_ns(const struct dm_instance *inst) { return inst->now_ns; }
void *dm_instance_stack(struct dm_instance *inst) { return inst->st; }
uint32_t dm_instance_bufs_avail(struct dm_instance *inst) { return dm_bufpool_avail(inst->data_pool); }
uint32_t dm_instance_hdrs_avail(struct dm_instance *inst) { return dm_bufpool_avail(inst->hdr_pool); }
struct dm_bufpool *dm_instance_data_pool(struct dm_instance *inst) { return inst->data_pool; }

int dm_instance_wait_fd(struct dm_instance *inst)
{
    return inst->ops->wait_fd ? inst->ops->wait_fd(inst->st) : -1;
}

bool dm_instance_needs_polling(const struct dm_instance *inst)
{
    return inst->ops->needs_polling;
}

bool dm_instance_has_completions(struct dm_instance *inst)
{
    return !dm_list_empty(&inst->done) || (inst->ops->has_completions && inst->ops->has_completions(inst->st));
}

int dm_instance_wait_arm(struct dm_instance *inst)
{
    if (!dm_list_empty(&inst->tasks))
        return 1;
    return inst->ops->wait_arm ? inst->ops->wait_arm(inst->st) : 0;
}

bool dm_instance_tx_busy(struct dm_instance *inst)
{
    return inst->ops->tx_busy && inst->ops->tx_busy(inst->st);
}

uint64_t dm_instance_tx_progress(struct dm_instance *inst)
{
    return inst->ops->tx_progress ? inst->ops->tx_progress(inst->st) : 0;
}

bool dm_instance_can_sleep_inside(const struct dm_instance *inst)
{
    return inst->ops->sleep_arm && inst->ops->sleep;
}

int dm_instance_sleep_arm(struct dm_instance *inst, const struct pollfd *watch, const uint64_t *ids, int nwatch)
{
    if (!dm_list_empty(&inst->tasks))
        return 1;
    return inst->ops->sleep_arm ? inst->ops->sleep_arm(inst->st, watch, ids, nwatch) : -EAGAIN;
}

bool dm_instance_kstep_wanted(struct dm_instance *inst)
{
    return inst->ops->kstep_wanted && inst->ops->kstep_wanted(inst->st);
}

void dm_instance_kstep(struct dm_instance *inst)
{
    inst->ops->kstep(inst->st);
}

int dm_instance_sleep(struct dm_instance *inst, int64_t timeout_ns)
{
    return inst->ops->sleep(inst->st, timeout_ns);
}

/* The default instance of the process. */
static struct dm_instance *default_inst;
static pthread_mutex_t default_lock = PTHREAD_MUTEX_INITIALIZER;

static void default_instance_atexit(void)
{
    /* Only dump counters at exit; tearing the datapath down under other
     * atexit handlers that may still use sockets is not safe. */
    struct dm_instance *inst = default_inst;
    if (inst && inst->stats_dump) {
        FILE *f = inst->stats_file[0] ? fopen(inst->stats_file, "a") : stderr;
        if (f) {
            fprintf(f, "# demi stats, backend %s\n", inst->backend);
            dm_stats_dump(inst, f, 0);
            if (f != stderr)
                fclose(f);
        }
    }
}

int dm_default_instance_init(void)
{
    int rc = 0;
    pthread_mutex_lock(&default_lock);
    if (default_inst) {
        rc = -EEXIST;
    } else {
        rc = dm_instance_create(NULL, &default_inst);
        if (rc == 0)
            atexit(default_instance_atexit);
    }
    pthread_mutex_unlock(&default_lock);
    return rc;
}

struct dm_instance *dm_default_instance(int *err)
{
    struct dm_instance *inst = __atomic_load_n(&default_inst, __ATOMIC_ACQUIRE);
    if (dm_likely(inst != NULL))
        return inst;
    int rc = dm_default_instance_init();
    if (rc < 0 && rc != -EEXIST) {
        *err = rc;
        return NULL;
    }
    return default_inst;
}

