/* SPDX-License-Identifier: MIT */
/*
 * The inside of an instance: visible to core/ files only. Backends see the
 * instance through dm/instance.h.
 */
#ifndef DM_CORE_PRIV_H
#define DM_CORE_PRIV_H

#include <stdint.h>
#include "dm/buf.h"
#include "dm/config.h"
#include "dm/instance.h"
#include "dm/list.h"
#include "dm/log.h"
#include "dm/queue.h"
#include "dm/stack.h"
#include "dm/stats.h"
#include "dm/time.h"

/* registry.c: name i of a DEMI_BACKEND preference list ("uring,posix")
 * into out; false past its end. */
bool dm_backend_list_at(const char *list, unsigned i, char *out, size_t len);
#include "dm/timer.h"

#define DM_WHEEL_SLOTS 1024u
#define DM_MAX_STATS_GROUPS 64u

struct dm_wheel {
    struct dm_list slots[DM_WHEEL_SLOTS];
    int64_t cur_tick;
    uint32_t count;
};

struct dm_stats_group {
    const char *module;
    const char *const *names;
    uint64_t *values;
    unsigned count;
    void (*refresh)(void *arg); /* gauges: computed when read (dm_stats_register_gauges) */
    void *arg;
};

/* Instance-level counters ("core" group). */
struct dm_core_counters {
    uint64_t ops_started, ops_completed, ops_failed, ops_canceled;
    uint64_t polls, timers_fired, tasks_run;
    uint64_t buf_alloc_fail, hdr_alloc_fail, heap_bufs, buf_reserve_hit;
    uint64_t queues_opened, queues_closed;
};

/* The instance's own memory ("mem" gauges, computed when read). */
struct dm_core_mem {
    uint64_t pool_data_bytes;  /* buffer pool data in memory */
    uint64_t pool_meta_bytes;  /* buffer headers and free stacks ever used */
    uint64_t table_bytes;      /* instance, queues and operation table entries ever used */
};

struct dm_instance {
    int64_t now_ns;                    /* refreshed per API call and poll (see dm_poll) */
    uint32_t idle_polls;               /* polls in a row that found nothing to do */
    bool now_fresh;                    /* now_ns was read just before this poll (dm_poll) */
    int64_t spin_ns;                   /* DEMI_SPIN_US: a wait polls this long before it sleeps */
    int64_t spin_yield_ns;             /* DEMI_SPIN_YIELD_US: first yield of a spin (dm_spin) */
    int spin_crowded;                  /* DEMI_SPIN_CROWDED: spin while tasks wait for a CPU too */
    int64_t spin_first_ns;             /* the next spin's first yield: 1 while the CPU looks shared */
    const struct dm_stack_ops *ops;
    void *st;
    struct dm_bufpool *data_pool;
    struct dm_bufpool *hdr_pool;
    /* queue table: qd = DEMI_QD_BASE + index */
    struct dm_queue **queues;
    uint32_t max_queues;
    uint32_t *qfree;                   /* free indices, a stack */
    uint32_t nqfree;
    uint32_t qfresh;            /* queues[qfresh..] never used yet (touched on first use) */
    /* op table: token = gen << 32 | index */
    struct dm_op *optab;
    uint32_t max_ops;
    uint32_t *opfree;
    uint32_t nopfree;
    uint32_t opfresh;           /* optab[opfresh..] never used yet */
    struct dm_list done;               /* completed, not yet reaped, oldest first */
    struct dm_list tasks;
    struct dm_wheel wheel;
    struct dm_stats_group stats[DM_MAX_STATS_GROUPS];
    unsigned nstats;
    struct dm_core_counters ctr;
    struct dm_core_mem mem;            /* "mem" gauges (instance.c: core_mem_refresh) */
    int stats_dump;                    /* DEMI_STATS set */
    char stats_file[200];
    char backend[32];
    struct dm_config cfg;
};

void dm_wheel_init(struct dm_wheel *w, int64_t now_ns);
int dm_wheel_run(struct dm_instance *inst, int64_t now_ns);

/* queue.c */
int dm_tables_init(struct dm_instance *inst, uint32_t max_queues, uint32_t max_ops);
void dm_tables_fini(struct dm_instance *inst);
size_t dm_tables_mem(const struct dm_instance *inst); /* the instance and the table entries ever used */
struct dm_queue *dm_queue_get(struct dm_instance *inst, int qd);
void dm_queue_release(struct dm_queue *q);
struct dm_op *dm_op_new(struct dm_instance *inst, struct dm_queue *q, int opcode);
void dm_op_release(struct dm_op *op);          /* op never started: back to the table */
struct dm_op *dm_op_lookup(struct dm_instance *inst, demi_qtoken_t qt);
void dm_op_reap(struct dm_op *op, demi_qresult_t *qr);
void dm_queue_cancel_ops(struct dm_queue *q);

/* sga.c */
int dm_sga_to_chain(struct dm_instance *inst, const demi_sgarray_t *sga, struct dm_buf **out);
void dm_chain_to_sga(struct dm_instance *inst, struct dm_buf *chain, demi_sgarray_t *sga);

/* buf.c */
void dm_buf_attach_instance_pools(struct dm_buf *b);

extern demi_callback_t dm_log_callback;

static inline void dm_refresh_now(struct dm_instance *inst) { inst->now_ns = dm_clock_ns(); }
/* At an API call: the backend's timers and timestamps need the time
 * (ops->no_clock: it has none, and a clock read per send and receive
 * was ~1% of a server's CPU under the preload). */
static inline void dm_refresh_for_call(struct dm_instance *inst)
{
    if (!inst->ops->no_clock)
        dm_refresh_now(inst);
}

#endif /* DM_CORE_PRIV_H */
