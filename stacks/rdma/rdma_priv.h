/* SPDX-License-Identifier: MIT */
/*
 * Inside the RDMA backend (stacks/rdma): reliable byte streams over RC
 * queue pairs, the way Demikernel's catmint served the demi API.
 *
 *   rdma.c       the stack ops (socket calls), create/destroy, poll, options
 *   rdma_cm.c    connection setup and teardown from rdmacm events
 *   rdma_data.c  the data path: receive ring, send ring, credits, CQ
 *
 * Wire protocol (two-sided verbs only). Every message is one
 * SEND_WITH_IMM of at most the peer's receive buffer size; the 32-bit
 * immediate carries the message type (bits 31..28: DATA, CREDIT, FIN) and
 * a credit grant (bits 23..0: receive buffers the sender of the message
 * has re-posted since it last said so). Connection private data (struct
 * rs_hello) carries each side's receive depth (the initial credits) and
 * receive buffer size.
 *
 * Credits: one credit is one posted receive buffer at the peer, so a
 * sender can never cause an RNR. Every message consumes one; every
 * message returns everything re-posted so far. A message that would spend
 * the last credit must itself return at least one (so two peers can never
 * both sit at zero), and a standalone CREDIT message is sent only when at
 * least half the receive ring was re-posted and some of it held data or a
 * FIN (so CREDIT messages never answer each other).
 */
#ifndef DM_RDMA_PRIV_H
#define DM_RDMA_PRIV_H

#include <stdint.h>
#include <netinet/in.h>
#include "dm/buf.h"
#include "dm/instance.h"
#include "dm/list.h"
#include "dm/queue.h"
#include "dm/timer.h"
#include "rdma_glue.h"

#define RS_BATCH 32              /* WRs per post, WCs per poll */
#define RS_SIGNAL_EVERY 16       /* selective signaling on the send queue */
#define RS_HELLO_MAGIC 0x646d7264u /* "dmrd" */
#define RS_HELLO_VERSION 1

enum rs_msg { RS_MSG_DATA = 0, RS_MSG_CREDIT = 1, RS_MSG_FIN = 2 };
enum rs_wr_kind { RS_WR_RECV = 1, RS_WR_SEND = 2 };

/* wr_id: kind(2) | conn slot(22) | conn generation(16) | ring index(24) */
#define RS_WRID(kind, slot, gen, idx)                                                          \
    (((uint64_t)(kind) << 62) | ((uint64_t)((slot) & 0x3fffffu) << 40) |                       \
     ((uint64_t)((gen) & 0xffffu) << 24) | ((uint64_t)(idx) & 0xffffffu))
#define RS_WRID_KIND(w) ((unsigned)((w) >> 62))
#define RS_WRID_SLOT(w) ((uint32_t)(((w) >> 40) & 0x3fffffu))
#define RS_WRID_GEN(w)  ((uint32_t)(((w) >> 24) & 0xffffu))
#define RS_WRID_IDX(w)  ((uint32_t)((w) & 0xffffffu))

/* Connection private data, network byte order. */
struct rs_hello {
    uint32_t magic;
    uint16_t version;
    uint16_t flags;
    uint32_t rq_depth;   /* receive buffers posted: the peer's initial credits */
    uint32_t buf_size;   /* bytes per receive buffer: the largest message */
};

enum rs_state {
    RS_IDLE = 0,       /* fresh or bound */
    RS_RESOLVING,      /* active: address/route resolution */
    RS_CONNECTING,     /* active: rdma_connect sent */
    RS_ACCEPTING,      /* passive: rdma_accept sent, waiting for ESTABLISHED */
    RS_ESTABLISHED,
    RS_DISCONNECTING,  /* we called rdma_disconnect; waiting for DISCONNECTED */
    RS_CLOSED,         /* disconnected (either side) or failed */
};

struct rs_sqe {
    struct dm_buf *ref;  /* memory the WR reads (zero-copy segment or bounce buffer) */
    uint8_t fin;
};

struct rs_stack;

struct rs_conn {
    struct rs_stack *st;
    struct dm_queue *q;        /* NULL before accept, and after close (orphan) */
    struct rdma_cm_id *id;
    uint32_t slot, gen;
    uint8_t state;
    uint8_t bound, listening, orphan, dead;
    uint8_t shut_wr, shut_rd, fin_sent, fin_done, fin_rcvd;
    uint8_t has_qp;
    int err;                   /* pops see it after the data; pushes at once */
    /* options (stored so getsockopt answers what setsockopt said) */
    int opt_nodelay, opt_reuseaddr, opt_keepalive, opt_linger_on, opt_linger_s;
    /* listener */
    int backlog, nchild;
    struct dm_list pending;    /* children: rdma_accept sent */
    struct dm_list ready;      /* children: established, waiting for demi_accept */
    struct rs_conn *parent;
    struct dm_list plink;
    /* receive side */
    struct dm_buf **rq;        /* posted receive buffers, by ring index */
    uint32_t rq_mask, rq_head, rq_tail;   /* free-running; posted = tail - head */
    struct dm_buf *rxq_head, *rxq_tail;   /* received, not yet popped */
    uint32_t rxq_n;
    uint32_t unreported;       /* buffers re-posted, not yet granted to the peer */
    uint32_t data_since_report;
    /* send side */
    uint32_t credits;          /* peer receive buffers we may fill */
    uint32_t max_msg;          /* min(peer's buffer, our buffer) */
    uint32_t max_inline;
    struct rs_sqe *sq;
    uint32_t sq_mask, sq_head, sq_tail;   /* free-running; in flight = tail - head */
    uint32_t since_signal;
    uint8_t credit_stalled;
    struct dm_buf *linger;     /* data of pushes still pending at close */
    struct dm_buf *lseg;
    uint32_t loff;
    uint32_t cq_res;           /* CQ entries reserved for this QP */
    struct dm_task task;
    struct dm_timer timer;     /* close: linger limit */
};

struct rs_counters {
    uint64_t rx_msgs, rx_bytes, tx_msgs, tx_bytes, tx_zero_copy, tx_inline, tx_bounce;
    uint64_t credit_tx, credit_rx_grants, credit_stalls, fin_tx, fin_rx;
    uint64_t rnr_errors, wc_errors, stale_wc, cq_polls, cq_wakeups, cm_events;
    uint64_t connects, accepts, refused, resets, rejected_backlog, nobufs, rx_discarded, aborted;
};

struct rs_stack {
    struct dm_instance *inst;
    const struct rdma_glue *g;
    struct rdma_event_channel *evch;
    struct ibv_context *ctx;
    struct ibv_pd *pd;
    struct ibv_comp_channel *cch;
    struct ibv_cq *cq;
    struct ibv_mr *mr;
    uint8_t *mr_base;
    size_t mr_len;
    uint32_t buf_size;          /* receive buffer size: the pool's data size */
    int epfd;
    int armed;
    uint32_t cm_tick;
    unsigned cq_unacked;
    uint32_t rq_depth, sq_depth, cq_depth, cq_reserved, max_inline, rnr_retry, credit_thresh;
    int64_t linger_ns;
    int timeout_ms;
    char want_dev[64];          /* DEMI_RDMA_DEVICE, or empty */
    struct rs_conn **conns;
    uint16_t *gens;
    uint32_t *free_slots;
    uint32_t max_conns, nfree;
    /* scratch for one post/poll (no malloc on the data path) */
    struct ibv_send_wr swr[RS_BATCH];
    struct ibv_sge ssge[RS_BATCH];
    uint32_t nswr;
    struct ibv_recv_wr rwr[RS_BATCH];
    struct ibv_sge rsge[RS_BATCH];
    struct ibv_wc wc[RS_BATCH];
    struct rs_counters ctr;
};

/* rdma.c */
struct rs_conn *rs_conn_new(struct rs_stack *st);
void rs_conn_destroy(struct rs_conn *c);
static inline void rs_kick(struct rs_conn *c) { dm_task_schedule(c->st->inst, &c->task); }

/* rdma_cm.c */
int rs_poll_cm(struct rs_stack *st);
int rs_setup_qp(struct rs_stack *st, struct rs_conn *c);
void rs_accept_ready(struct rs_stack *st, struct rs_conn *l);
void rs_hello_fill(const struct rs_stack *st, struct rs_hello *h);

/* rdma_data.c */
int rs_poll_cq(struct rs_stack *st);
int rs_rx_refill(struct rs_stack *st, struct rs_conn *c, int report);
void rs_deliver(struct rs_stack *st, struct rs_conn *c);
void rs_tx(struct rs_stack *st, struct rs_conn *c);
void rs_credit_update(struct rs_stack *st, struct rs_conn *c);
void rs_conn_fail(struct rs_conn *c, int err, const char *why);
void rs_conn_progress(struct dm_task *t);
void rs_free_rings(struct rs_conn *c);

#endif /* DM_RDMA_PRIV_H */
