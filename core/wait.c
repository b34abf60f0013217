/* SPDX-License-Identifier: MIT */
/*
 * Waiting: poll the instance until a token is done or the deadline passes.
 * Every wait polls at least once, so a zero timeout still makes progress.
 */
#include <errno.h>
#include <stdint.h>
#include "core_priv.h"

/* Runs poll iterations until done(arg) or the deadline. */
static int wait_until(struct dm_instance *inst, int (*done)(struct dm_instance *, void *), void *arg,
                      int64_t timeout_ns)
{
    if (timeout_ns == 0) {
        /* a poll: one round, and no clock read of our own (dm_poll's) */
        int r = done(inst, arg);
        if (!r) {
            int rc = dm_poll(inst, 0);
            if (rc < 0)
                return rc;
            r = done(inst, arg);
        }
        return r ? (r < 0 ? r : 0) : -ETIMEDOUT;
    }
    /* Done already (a pop of data the stack holds, the usual case while
     * a bulk receiver keeps up): no clock read, of which a receiver
     * popping one segment at a time would pay one per segment. */
    int r = done(inst, arg);
    if (r)
        return r < 0 ? r : 0;
    dm_refresh_now(inst);
    inst->now_fresh = true; /* the first poll below needs no read of its own */
    int64_t deadline = timeout_ns < 0 ? INT64_MAX : inst->now_ns + timeout_ns;
    /* Poll without sleeping for spin_ns first: a reply that comes within
     * it costs no wake-up (tens of microseconds across CPUs on a VM); an
     * idle wait costs spin_ns of CPU once, then sleeps in the backend. */
    int64_t spin_end = inst->now_ns + inst->spin_ns;
    if (inst->spin_ns && !inst->spin_crowded && dm_cpu_crowded(inst->now_ns))
        spin_end = inst->now_ns; /* tasks wait for a CPU: the spin would delay them (core/crowd.c) */
    struct dm_spin spin;
    dm_spin_begin(&spin, inst->now_ns, inst->spin_first_ns);
    for (;;) {
        int64_t left = deadline == INT64_MAX ? INT64_MAX : deadline - inst->now_ns;
        if (left < 0 || inst->now_ns < spin_end) {
            left = 0;
            if (dm_spin_yield_due(&spin, inst->now_ns)) /* a peer on this CPU may be what we wait for */
                inst->spin_first_ns = dm_spin_yield(inst->spin_yield_ns);
        }
        int rc = dm_poll(inst, left);
        if (rc < 0)
            return rc;
        r = done(inst, arg);
        if (r)
            return r < 0 ? r : 0;
        if (inst->now_ns >= deadline)
            return -ETIMEDOUT;
    }
}

struct any_arg {
    const demi_qtoken_t *qts;
    int n;
    int found;
    bool checked; /* every token was looked up once: all valid */
};

static int any_done(struct dm_instance *inst, void *p)
{
    struct any_arg *a = p;
    /* Nothing completed and not reaped in the whole instance: none of
     * ours is done. A bulk sender waits on 64 pushes; looking each up at
     * every turn of the poll loop was a quarter of its CPU over memif. */
    if (a->checked && dm_list_empty(&inst->done))
        return 0;
    a->checked = true;
    for (int i = 0; i < a->n; i++) {
        struct dm_op *op = dm_op_lookup(inst, a->qts[i]);
        if (!op)
            return -EINVAL;
        if (op->state == DM_OP_DONE) {
            a->found = i;
            return 1;
        }
    }
    return 0;
}

int dm_wait_any(struct dm_instance *inst, demi_qresult_t *qr, int *offset, const demi_qtoken_t *qts, int n,
                int64_t timeout_ns)
{
    if (!qr || !offset || !qts || n <= 0)
        return -EINVAL;
    struct any_arg a = {qts, n, -1, false};
    int rc = wait_until(inst, any_done, &a, timeout_ns);
    if (rc < 0)
        return rc;
    dm_op_reap(dm_op_lookup(inst, qts[a.found]), qr);
    *offset = a.found;
    return 0;
}

int dm_wait(struct dm_instance *inst, demi_qresult_t *qr, demi_qtoken_t qt, int64_t timeout_ns)
{
    int off;
    if (!qr)
        return -EINVAL;
    return dm_wait_any(inst, qr, &off, &qt, 1, timeout_ns);
}

static int next_done(struct dm_instance *inst, void *p)
{
    (void)p;
    return !dm_list_empty(&inst->done);
}

int dm_wait_next_n(struct dm_instance *inst, demi_qresult_t *qrs, int n, int *nout, int64_t timeout_ns)
{
    if (!qrs || !nout || n <= 0)
        return -EINVAL;
    *nout = 0;
    int rc = wait_until(inst, next_done, NULL, timeout_ns);
    if (rc < 0)
        return rc;
    int k = 0;
    while (k < n && !dm_list_empty(&inst->done)) {
        struct dm_op *op = dm_list_first(&inst->done, struct dm_op, link);
        dm_op_reap(op, &qrs[k++]);
    }
    *nout = k;
    return 0;
}

int dm_token_state(struct dm_instance *inst, demi_qtoken_t qt)
{
    struct dm_op *op = dm_op_lookup(inst, qt);
    if (!op)
        return -EINVAL;
    return op->state == DM_OP_DONE;
}
