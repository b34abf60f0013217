/* SPDX-License-Identifier: MIT */
/*
 * Queues and operations: what a backend sees of the demi API.
 *
 * A queue (one per demi qd) carries the backend's socket in `priv`. Each
 * demi_push/pop/accept/connect makes an operation (struct dm_op) named by a
 * token; the backend completes it exactly once with one of the
 * dm_op_complete_*() calls, from inside its poll() or directly from the
 * call that issued it. After the backend's close() returns, it must never
 * touch an op of that queue again: the core fails the remaining ones with
 * ECANCELED and may reuse their slots.
 */
#ifndef DM_QUEUE_H
#define DM_QUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <demi/types.h>
#include "dm/addr.h"
#include "dm/buf.h"
#include "dm/list.h"

enum dm_op_state { DM_OP_FREE = 0, DM_OP_PENDING, DM_OP_DONE };

struct dm_queue {
    int qd;
    int type;                 /* SOCK_STREAM or SOCK_DGRAM */
    int domain;               /* AF_INET or AF_INET6; 0: not known (adopted) */
    void *priv;               /* backend socket */
    struct dm_list ops;       /* pending ops (dm_op.qlink), oldest first */
    struct dm_instance *inst;
    uint32_t npush;           /* pushes among ops (dm_queue_has_push) */
    uint8_t pop_segs;         /* most buffer segments per stream pop (DEMI_SO_POP_SEGS) */
};

struct dm_op {
    uint64_t token;           /* gen << 32 | slot */
    uint8_t state;            /* enum dm_op_state */
    uint8_t opcode;           /* demi_opcode_t being performed */
    uint8_t has_addr;         /* pushto/connect: addr is set */
    struct dm_queue *q;       /* valid while PENDING only (a queue may close first) */
    struct dm_instance *inst;
    struct dm_list qlink;     /* in q->ops while pending */
    struct dm_list link;      /* in the instance's completed list when done */
    /* push: the data as a buffer chain (the op holds a reference on every
     * segment until it completes; a backend that needs the data longer,
     * e.g. for retransmission, takes its own references). */
    struct dm_buf *chain;
    /* pushto destination / connect peer, by family (dm/addr.h); IPv4-only
     * stacks read addr after checking its family */
    union {
        struct sockaddr_in addr;
        struct sockaddr_in6 addr6;
    };
    uint64_t bctx[4];         /* backend scratch */
    demi_qresult_t qr;        /* the result, filled on completion */
};

/* Completions (each moves the op to DONE and off q->ops). */
void dm_op_complete_push(struct dm_op *op);
/* chain may be NULL or empty for end of stream; ownership passes to the app.
 * from/peer: a sockaddr_in or sockaddr_in6 (by family), or NULL.
 * A chain longer than DEMI_SGARRAY_MAXSIZE segments is linearized. */
void dm_op_complete_pop(struct dm_op *op, struct dm_buf *chain, const struct sockaddr *from);
void dm_op_complete_accept(struct dm_op *op, struct dm_queue *newq, const struct sockaddr *peer);
void dm_op_complete_connect(struct dm_op *op);
/* Completes with DEMI_OPC_FAILED and qr_ret = err (a positive errno). */
void dm_op_fail(struct dm_op *op, int err);

/* For accept: a new queue on the same instance (qd assigned). NULL: table full. */
struct dm_queue *dm_queue_new(struct dm_instance *inst, int type);
/* Releases a queue that was never handed to the app (accept failed). */
void dm_queue_discard(struct dm_queue *q);

/* A push of q's is pending, without walking its ops (whose structs are
 * rarely in the cache on a server with many connections). */
static inline bool dm_queue_has_push(const struct dm_queue *q) { return q->npush != 0; }

/* The most buffer segments a pop of q may return (DEMI_SO_POP_SEGS, >= 1). */
static inline uint32_t dm_queue_pop_segs(const struct dm_queue *q) { return q->pop_segs ? q->pop_segs : 1; }

/* The oldest pending op of a given opcode on q, or NULL. */
struct dm_op *dm_queue_first_op(struct dm_queue *q, int opcode);

#endif /* DM_QUEUE_H */
