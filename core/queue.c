/* SPDX-License-Identifier: MIT */
/*
 * Queue descriptors and operation tokens.
 *
 * Queues live in a table indexed by qd - DEMI_QD_BASE, so a qd can never
 * be a kernel fd. Operations live in a preallocated table; a token is
 * (generation << 32 | index), and the generation changes every time a slot
 * is reused, so a stale token is recognised (EINVAL) instead of reading
 * someone else's result. A token completes exactly once: completion moves
 * the op to DONE (and onto the instance's done list); waiting reaps it and
 * frees the slot.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <demi/libos.h>
#include "core_priv.h"

int dm_tables_init(struct dm_instance *inst, uint32_t max_queues, uint32_t max_ops)
{
    inst->max_queues = max_queues;
    inst->max_ops = max_ops;
    inst->queues = dm_lazy_alloc((size_t)max_queues * sizeof(*inst->queues), "demi tables");
    inst->qfree = dm_lazy_alloc((size_t)max_queues * sizeof(uint32_t), "demi tables");
    inst->optab = dm_lazy_alloc((size_t)max_ops * sizeof(*inst->optab), "demi tables");
    inst->opfree = dm_lazy_alloc((size_t)max_ops * sizeof(uint32_t), "demi tables");
    if (!inst->queues || !inst->qfree || !inst->optab || !inst->opfree)
        return -ENOMEM;
    /* Entries are handed out freed-last-first, then in increasing order
     * from the never-used rest (qds as fds), which is only touched when
     * reached: an instance per thread (the preload) costs what it uses,
     * not 65,536 entries of each. */
    inst->nqfree = inst->qfresh = 0;
    inst->nopfree = inst->opfresh = 0;
    dm_list_init(&inst->done);
    return 0;
}

size_t dm_tables_mem(const struct dm_instance *inst)
{
    size_t open = 0;
    for (uint32_t i = 0; i < inst->qfresh; i++)
        open += inst->queues[i] != NULL;
    return sizeof(*inst) + (size_t)inst->qfresh * (sizeof(*inst->queues) + sizeof(*inst->qfree)) +
           open * sizeof(struct dm_queue) + (size_t)inst->opfresh * (sizeof(*inst->optab) + sizeof(*inst->opfree));
}

void dm_tables_fini(struct dm_instance *inst)
{
    /* (entries past the fresh marks were never handed out: untouched) */
    if (inst->queues)
        for (uint32_t i = 0; i < inst->qfresh; i++)
            free(inst->queues[i]);
    if (inst->optab)
        for (uint32_t i = 0; i < inst->opfresh; i++) {
            struct dm_op *op = &inst->optab[i];
            if (op->state != DM_OP_FREE) {
                dm_buf_free(op->chain);
                op->chain = NULL;
                /* Popped data nobody reaped. */
                if (op->state == DM_OP_DONE && op->qr.qr_opcode == DEMI_OPC_POP && op->qr.qr_value.sga.sga_buf)
                    dm_buf_free(op->qr.qr_value.sga.sga_buf);
            }
        }
    dm_lazy_free(inst->queues, (size_t)inst->max_queues * sizeof(*inst->queues));
    dm_lazy_free(inst->qfree, (size_t)inst->max_queues * sizeof(uint32_t));
    dm_lazy_free(inst->optab, (size_t)inst->max_ops * sizeof(*inst->optab));
    dm_lazy_free(inst->opfree, (size_t)inst->max_ops * sizeof(uint32_t));
    inst->queues = NULL;
    inst->qfree = NULL;
    inst->optab = NULL;
    inst->opfree = NULL;
}

struct dm_queue *dm_queue_new(struct dm_instance *inst, int type)
{
    if (inst->nqfree == 0 && inst->qfresh == inst->max_queues)
        return NULL;
    struct dm_queue *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    uint32_t idx = inst->nqfree ? inst->qfree[--inst->nqfree] : inst->qfresh++;
    q->qd = DEMI_QD_BASE + (int)idx;
    q->type = type;
    q->inst = inst;
    q->pop_segs = 1;
    dm_list_init(&q->ops);
    inst->queues[idx] = q;
    inst->ctr.queues_opened++;
    return q;
}

struct dm_queue *dm_queue_get(struct dm_instance *inst, int qd)
{
    if (qd < DEMI_QD_BASE)
        return NULL;
    uint32_t idx = (uint32_t)(qd - DEMI_QD_BASE);
    if (idx >= inst->max_queues)
        return NULL;
    return inst->queues[idx];
}

void dm_queue_prefetch(struct dm_instance *inst, int qd, int stage)
{
    const struct dm_queue *q = dm_queue_get(inst, qd);
    if (!q)
        return;
    if (stage == 0) {
        dm_prefetch(q);
        return;
    }
    /* the backend's socket: its head and the two lines after it (the
     * uring socket's state, requests and receive queue head) */
    const char *p = q->priv;
    if (p) {
        dm_prefetch(p);
        dm_prefetch(p + 64);
        dm_prefetch(p + 128);
    }
}

void dm_queue_release(struct dm_queue *q)
{
    struct dm_instance *inst = q->inst;
    uint32_t idx = (uint32_t)(q->qd - DEMI_QD_BASE);
    inst->queues[idx] = NULL;
    inst->qfree[inst->nqfree++] = idx;
    inst->ctr.queues_closed++;
    free(q);
}

void dm_queue_discard(struct dm_queue *q)
{
    dm_queue_cancel_ops(q);
    dm_queue_release(q);
}

struct dm_op *dm_queue_first_op(struct dm_queue *q, int opcode)
{
    struct dm_list *pos, *tmp;
    dm_list_for_each_safe(pos, tmp, &q->ops) {
        struct dm_op *op = dm_list_entry(pos, struct dm_op, qlink);
        if (op->opcode == opcode)
            return op;
    }
    return NULL;
}

struct dm_op *dm_op_new(struct dm_instance *inst, struct dm_queue *q, int opcode)
{
    uint32_t idx;
    if (dm_likely(inst->nopfree)) {
        idx = inst->opfree[--inst->nopfree];
    } else if (inst->opfresh < inst->max_ops) {
        idx = inst->opfresh++;
        inst->optab[idx].token = (uint64_t)idx; /* generation 0: never a valid token */
        dm_list_init(&inst->optab[idx].qlink);
        dm_list_init(&inst->optab[idx].link);
    } else {
        return NULL;
    }
    struct dm_op *op = &inst->optab[idx];
    uint32_t gen = (uint32_t)(op->token >> 32) + 1;
    if (gen == 0)
        gen = 1;
    op->token = ((uint64_t)gen << 32) | idx;
    op->state = DM_OP_PENDING;
    op->opcode = (uint8_t)opcode;
    op->has_addr = 0;
    op->q = q;
    op->inst = inst;
    op->chain = NULL;
    memset(&op->addr6, 0, sizeof(op->addr6));
    memset(op->bctx, 0, sizeof(op->bctx));
    /* (a copy of a zero result, not memset: gcc makes the memset of this
     * packed 160-byte struct a rep stos, two thirds of dm_op_new's time
     * in a server's profile; the copy is ten vector moves) */
    static const demi_qresult_t zero_qr;
    memcpy(&op->qr, &zero_qr, sizeof(op->qr));
    op->qr.qr_qd = q->qd;
    op->qr.qr_qt = op->token;
    dm_list_add_tail(&q->ops, &op->qlink);
    q->npush += opcode == DEMI_OPC_PUSH;
    inst->ctr.ops_started++;
    return op;
}

static inline struct dm_instance *op_inst(struct dm_op *op)
{
    return op->inst;
}

static void op_free_slot(struct dm_instance *inst, struct dm_op *op)
{
    op->state = DM_OP_FREE;
    op->q = NULL;
    inst->opfree[inst->nopfree++] = (uint32_t)(op->token & 0xffffffffu);
}

void dm_op_release(struct dm_op *op)
{
    struct dm_instance *inst = op_inst(op);
    op->q->npush -= op->opcode == DEMI_OPC_PUSH;
    dm_list_del(&op->qlink);
    dm_buf_free(op->chain);
    op->chain = NULL;
    op_free_slot(inst, op);
    inst->ctr.ops_started--;
}

struct dm_op *dm_op_lookup(struct dm_instance *inst, demi_qtoken_t qt)
{
    uint32_t idx = (uint32_t)(qt & 0xffffffffu);
    if ((qt >> 32) == 0 || idx >= inst->max_ops)
        return NULL;
    struct dm_op *op = &inst->optab[idx];
    if (op->state == DM_OP_FREE || op->token != qt)
        return NULL;
    return op;
}

/* Common tail of every completion. */
static void op_done(struct dm_op *op, int opcode, int64_t ret)
{
    struct dm_instance *inst = op_inst(op);
    if (dm_unlikely(op->state != DM_OP_PENDING)) {
        DM_ERR("core", "op %llx completed twice (backend bug); ignored", (unsigned long long)op->token);
        return;
    }
    op->state = DM_OP_DONE;
    op->q->npush -= op->opcode == DEMI_OPC_PUSH;
    op->q = NULL;
    op->qr.qr_opcode = (demi_opcode_t)opcode;
    op->qr.qr_ret = ret;
    dm_list_del(&op->qlink);
    dm_list_add_tail(&inst->done, &op->link);
    if (op->chain) {
        dm_buf_free(op->chain);
        op->chain = NULL;
    }
    inst->ctr.ops_completed++;
}

void dm_op_complete_push(struct dm_op *op)
{
    op_done(op, DEMI_OPC_PUSH, 0);
}

void dm_op_complete_pop(struct dm_op *op, struct dm_buf *chain, const struct sockaddr *from)
{
    demi_sgarray_t *sga = &op->qr.qr_value.sga;
    memset(sga, 0, sizeof(*sga));
    if (chain && chain->pkt_len == 0) {
        dm_buf_free(chain);
        chain = NULL;
    }
    if (chain)
        dm_chain_to_sga(op_inst(op), chain, sga);
    if (from)
        memcpy(&sga->sga_addr6, from, dm_addr_len(from));
    op_done(op, DEMI_OPC_POP, 0);
}

void dm_op_complete_accept(struct dm_op *op, struct dm_queue *newq, const struct sockaddr *peer)
{
    op->qr.qr_value.ares.qd = newq->qd;
    newq->domain = op->q->domain; /* the listener's */
    newq->pop_segs = op->q->pop_segs;
    if (peer)
        memcpy(&op->qr.qr_value.ares.addr6, peer, dm_addr_len(peer));
    op_done(op, DEMI_OPC_ACCEPT, 0);
}

void dm_op_complete_connect(struct dm_op *op)
{
    op_done(op, DEMI_OPC_CONNECT, 0);
}

void dm_op_fail(struct dm_op *op, int err)
{
    struct dm_instance *inst = op_inst(op);
    if (err < 0)
        err = -err;
    if (err == ECANCELED)
        inst->ctr.ops_canceled++;
    else
        inst->ctr.ops_failed++;
    op_done(op, DEMI_OPC_FAILED, err);
}

void dm_queue_cancel_ops(struct dm_queue *q)
{
    while (!dm_list_empty(&q->ops)) {
        struct dm_op *op = dm_list_first(&q->ops, struct dm_op, qlink);
        dm_op_fail(op, ECANCELED);
    }
}

void dm_op_reap(struct dm_op *op, demi_qresult_t *qr)
{
    if (qr)
        *qr = op->qr;
    dm_list_del(&op->link);
    op_free_slot(op->inst, op);
}
