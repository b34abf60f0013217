/* SPDX-License-Identifier: MIT */
/*
 * The RDMA data path: receive ring, send ring, credits, completion queue.
 *
 * Receive: each connection keeps rq_depth buffers from the instance's data
 * pool posted on its QP (the whole pool region is one memory registration,
 * made once). A completed RECV buffer is handed to the application as is
 * (zero copy) and a fresh buffer is posted in its place, while no more
 * than rq_depth received buffers wait to be popped (the receive window).
 *
 * Send: a push is cut into messages of at most max_msg bytes. A segment
 * inside the registered pool region is sent in place (the ring entry holds
 * a reference until the send completes); a small piece goes inline in the
 * WQE; anything else (heap memory from a large demi_sgaalloc) is copied
 * into a registered bounce buffer. A push completes once all its bytes are
 * posted: the QP delivers them reliably and we hold what it still reads.
 * Sends are signaled every RS_SIGNAL_EVERY WRs and at the end of each
 * post, and a completion releases every entry up to it (RC completes in
 * order).
 *
 * Credits: see rdma_priv.h. Completions name their connection by slot and
 * generation, so a completion for a connection already gone is ignored.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "dm/log.h"
#include "dm/stats.h"
#include "rdma_priv.h"

static inline int registered(const struct rs_stack *st, const uint8_t *p, uint32_t len)
{
    return p >= st->mr_base && p + len <= st->mr_base + st->mr_len;
}

/* --- receive side ------------------------------------------------------ */

int rs_rx_refill(struct rs_stack *st, struct rs_conn *c, int report)
{
    if (!c->has_qp || c->state >= RS_DISCONNECTING || c->err)
        return 0;
    uint32_t n = 0, rq_depth = st->rq_depth; /* the ring may round up; the QP takes rq_depth */
    while (c->rq_tail - c->rq_head < rq_depth && c->rxq_n + (c->rq_tail - c->rq_head) < 2 * rq_depth &&
           c->rxq_n < rq_depth) {
        struct dm_buf *b = dm_buf_alloc(st->inst);
        if (!b) {
            st->ctr.nobufs++;
            rs_kick(c); /* try again next iteration: backpressure, not failure */
            break;
        }
        uint32_t idx = c->rq_tail++;
        c->rq[idx & c->rq_mask] = b;
        struct ibv_sge *s = &st->rsge[n];
        struct ibv_recv_wr *w = &st->rwr[n];
        s->addr = (uintptr_t)b->data;
        s->length = st->buf_size;
        s->lkey = st->mr->lkey;
        w->wr_id = RS_WRID(RS_WR_RECV, c->slot, c->gen, idx);
        w->sg_list = s;
        w->num_sge = 1;
        w->next = NULL;
        if (n)
            st->rwr[n - 1].next = w;
        if (++n == RS_BATCH) {
            struct ibv_recv_wr *bad;
            if (st->g->post_recv(c->id->qp, st->rwr, &bad)) {
                rs_conn_fail(c, ECONNRESET, "post_recv failed");
                return -ECONNRESET;
            }
            if (report)
                c->unreported += n;
            n = 0;
        }
    }
    if (n) {
        struct ibv_recv_wr *bad;
        if (st->g->post_recv(c->id->qp, st->rwr, &bad)) {
            rs_conn_fail(c, ECONNRESET, "post_recv failed");
            return -ECONNRESET;
        }
        if (report)
            c->unreported += n;
    }
    return 0;
}

static void rxq_free(struct rs_conn *c)
{
    dm_buf_free(c->rxq_head); /* linked through next */
    c->rxq_head = c->rxq_tail = NULL;
    c->rxq_n = 0;
}

/* Completes pending pops: data first, then end of stream, then the error. */
void rs_deliver(struct rs_stack *st, struct rs_conn *c)
{
    (void)st;
    if (!c->q)
        return;
    if (c->shut_rd && c->rxq_n)
        rxq_free(c);
    struct dm_op *op;
    while ((op = dm_queue_first_op(c->q, DEMI_OPC_POP)) != NULL) {
        if (c->rxq_n) {
            struct dm_buf *head = c->rxq_head, *last = head;
            uint32_t k = 1, bytes = head->len;
            while (k < DEMI_SGARRAY_MAXSIZE && last->next) {
                last = last->next;
                bytes += last->len;
                k++;
            }
            c->rxq_head = last->next;
            if (!c->rxq_head)
                c->rxq_tail = NULL;
            last->next = NULL;
            c->rxq_n -= k;
            head->nb_segs = (uint16_t)k;
            head->pkt_len = bytes;
            dm_op_complete_pop(op, head, NULL);
        } else if (c->fin_rcvd || c->shut_rd) {
            dm_op_complete_pop(op, NULL, NULL);
        } else if (c->err) {
            dm_op_fail(op, c->err == EPIPE ? ECONNRESET : c->err);
        } else {
            break;
        }
    }
}

/* --- send side ------------------------------------------------------------ */

/* May one more message go out? The last credit only with a grant. */
static inline int tx_room(const struct rs_stack *st, const struct rs_conn *c)
{
    if (c->sq_tail - c->sq_head >= st->sq_depth)
        return 0;
    return c->credits >= 2 || (c->credits == 1 && c->unreported > 0);
}

static void tx_flush(struct rs_stack *st, struct rs_conn *c)
{
    if (!st->nswr)
        return;
    struct ibv_send_wr *last = &st->swr[st->nswr - 1], *bad;
    if (!(last->send_flags & IBV_SEND_SIGNALED)) {
        last->send_flags |= IBV_SEND_SIGNALED;
        c->since_signal = 0;
    }
    st->nswr = 0;
    int rc = st->g->post_send(c->id->qp, st->swr, &bad);
    if (rc) {
        DM_WARN("rdma", "post_send: %s", strerror(rc));
        rs_conn_fail(c, ECONNRESET, "post_send failed");
    }
}

/* Adds one message to the batch; it carries every credit re-posted so far. */
static void tx_queue(struct rs_stack *st, struct rs_conn *c, enum rs_msg type, const void *p, uint32_t len,
                     int inl, struct dm_buf *ref)
{
    uint32_t i = st->nswr++;
    struct ibv_send_wr *w = &st->swr[i];
    struct ibv_sge *s = &st->ssge[i];
    uint32_t idx = c->sq_tail++;
    c->sq[idx & c->sq_mask].ref = ref;
    c->sq[idx & c->sq_mask].fin = type == RS_MSG_FIN;
    s->addr = (uintptr_t)p;
    s->length = len;
    s->lkey = st->mr->lkey;
    memset(w, 0, sizeof(*w));
    w->wr_id = RS_WRID(RS_WR_SEND, c->slot, c->gen, idx);
    w->sg_list = s;
    w->num_sge = len ? 1 : 0;
    w->opcode = IBV_WR_SEND_WITH_IMM;
    uint32_t grant = c->unreported;
    c->unreported = 0;
    c->data_since_report = 0;
    w->imm_data = htonl(((uint32_t)type << 28) | grant);
    w->send_flags = inl ? IBV_SEND_INLINE : 0;
    if (++c->since_signal >= RS_SIGNAL_EVERY || type == RS_MSG_FIN) {
        w->send_flags |= IBV_SEND_SIGNALED;
        c->since_signal = 0;
    }
    c->credits--;
    if (i)
        st->swr[i - 1].next = w;
    st->ctr.tx_msgs++;
    st->ctr.tx_bytes += len;
    if (st->nswr == RS_BATCH)
        tx_flush(st, c);
}

/* Posts as much of a chain as credits and the send queue allow, from
 * (*segp, *offp). Returns 1 when the whole chain is posted. */
static int tx_chain(struct rs_stack *st, struct rs_conn *c, struct dm_buf **segp, uint32_t *offp)
{
    struct dm_buf *seg = *segp;
    uint32_t off = *offp;
    while (seg && !c->err) {
        if (off >= seg->len) {
            seg = seg->next;
            off = 0;
            continue;
        }
        if (!tx_room(st, c)) {
            if (!c->credit_stalled && c->credits <= 1) {
                c->credit_stalled = 1;
                st->ctr.credit_stalls++;
            }
            break;
        }
        uint32_t left = seg->len - off;
        uint8_t *p = seg->data + off;
        if (left <= c->max_inline) {
            tx_queue(st, c, RS_MSG_DATA, p, left, 1, NULL);
            st->ctr.tx_inline++;
            off += left;
        } else if (registered(st, p, DM_MIN(left, c->max_msg))) {
            uint32_t n = DM_MIN(left, c->max_msg);
            dm_buf_ref(seg);
            tx_queue(st, c, RS_MSG_DATA, p, n, 0, seg);
            st->ctr.tx_zero_copy++;
            off += n;
        } else {
            struct dm_buf *b = dm_buf_alloc(st->inst);
            if (!b) {
                st->ctr.nobufs++;
                rs_kick(c);
                break;
            }
            /* Fill the bounce buffer, across segments when they are small. */
            uint32_t n = 0;
            while (seg && n < c->max_msg) {
                if (off >= seg->len) {
                    seg = seg->next;
                    off = 0;
                    continue;
                }
                uint32_t k = DM_MIN(seg->len - off, c->max_msg - n);
                memcpy(b->data + n, seg->data + off, k);
                n += k;
                off += k;
            }
            b->len = b->pkt_len = n;
            tx_queue(st, c, RS_MSG_DATA, b->data, n, 0, b);
            st->ctr.tx_bounce++;
        }
    }
    *segp = seg;
    *offp = off;
    return seg == NULL;
}

void rs_tx(struct rs_stack *st, struct rs_conn *c)
{
    if (c->state != RS_ESTABLISHED || c->err || c->fin_sent)
        return;
    c->credit_stalled = 0;
    for (;;) {
        if (c->q) {
            struct dm_op *op = dm_queue_first_op(c->q, DEMI_OPC_PUSH);
            if (!op)
                break;
            if (!op->bctx[0]) {
                op->bctx[0] = 1;
                op->bctx[2] = (uintptr_t)op->chain;
                op->bctx[3] = 0;
            }
            struct dm_buf *seg = (struct dm_buf *)(uintptr_t)op->bctx[2];
            uint32_t off = (uint32_t)op->bctx[3];
            int done = tx_chain(st, c, &seg, &off);
            op->bctx[2] = (uintptr_t)seg;
            op->bctx[3] = off;
            if (c->err || !done)
                break;
            /* Inline WQEs copy at post time: post before the op lets go. */
            tx_flush(st, c);
            if (c->err)
                break;
            dm_op_complete_push(op);
        } else if (c->linger) {
            if (!tx_chain(st, c, &c->lseg, &c->loff))
                break;
            tx_flush(st, c);
            dm_buf_free(c->linger);
            c->linger = c->lseg = NULL;
        } else {
            break;
        }
    }
    if (c->err) {
        st->nswr = 0;
        return;
    }
    /* End of stream after the last byte: on shutdown(SHUT_WR) or close. */
    int drained = c->q ? dm_queue_first_op(c->q, DEMI_OPC_PUSH) == NULL : c->linger == NULL;
    if (drained && (c->shut_wr || c->orphan) && !c->fin_sent && tx_room(st, c)) {
        tx_queue(st, c, RS_MSG_FIN, NULL, 0, 1, NULL);
        c->fin_sent = 1;
        st->ctr.fin_tx++;
    }
    tx_flush(st, c);
}

/* A standalone CREDIT message, when half the ring waits to be granted. */
void rs_credit_update(struct rs_stack *st, struct rs_conn *c)
{
    if (c->state != RS_ESTABLISHED || c->err || c->unreported < st->credit_thresh || !c->data_since_report)
        return;
    if (!tx_room(st, c))
        return;
    tx_queue(st, c, RS_MSG_CREDIT, NULL, 0, 1, NULL);
    st->ctr.credit_tx++;
    tx_flush(st, c);
}

void rs_conn_fail(struct rs_conn *c, int err, const char *why)
{
    struct rs_stack *st = c->st;
    if (c->err)
        return;
    c->err = err;
    if (err == ECONNRESET)
        st->ctr.resets++;
    DM_DEBUG("rdma", "connection %u: %s (%s)", c->slot, why, strerror(err));
    if (c->q) {
        struct dm_op *op;
        while ((op = dm_queue_first_op(c->q, DEMI_OPC_PUSH)) != NULL)
            dm_op_fail(op, err);
    }
    if (c->id && (c->state == RS_ESTABLISHED || c->state == RS_ACCEPTING || c->state == RS_CONNECTING)) {
        c->state = RS_DISCONNECTING;
        st->g->disconnect(c->id);
    }
    rs_kick(c);
}

void rs_free_rings(struct rs_conn *c)
{
    if (c->rq) {
        for (uint32_t i = c->rq_head; i != c->rq_tail; i++)
            dm_buf_free(c->rq[i & c->rq_mask]);
        free(c->rq);
        c->rq = NULL;
    }
    if (c->sq) {
        for (uint32_t i = c->sq_head; i != c->sq_tail; i++)
            if (c->sq[i & c->sq_mask].ref)
                dm_buf_free_seg(c->sq[i & c->sq_mask].ref);
        free(c->sq);
        c->sq = NULL;
    }
    c->rq_head = c->rq_tail = c->sq_head = c->sq_tail = 0;
    rxq_free(c);
    dm_buf_free(c->linger);
    c->linger = c->lseg = NULL;
}

/* The per-connection work queued by completions, events and calls. */
void rs_conn_progress(struct dm_task *t)
{
    struct rs_conn *c = t->arg;
    struct rs_stack *st = c->st;
    if (c->orphan && c->rxq_n) {
        st->ctr.rx_discarded += c->rxq_n;
        rxq_free(c);
    }
    rs_rx_refill(st, c, 1);
    if (c->rxq_n || c->fin_rcvd || c->shut_rd || c->err)
        rs_deliver(st, c); /* else no pop can finish: skip the op list walk */
    rs_tx(st, c);
    rs_credit_update(st, c);
    if (!c->orphan)
        return;
    /* Closed by the application: FIN delivered -> disconnect -> destroy. */
    if (c->state == RS_ESTABLISHED && !c->err && c->fin_done) {
        c->state = RS_DISCONNECTING;
        st->g->disconnect(c->id);
    } else if (c->state == RS_CLOSED || (c->err && c->state != RS_DISCONNECTING) || c->state < RS_ACCEPTING) {
        rs_conn_destroy(c);
    }
}

/* --- completions ---------------------------------------------------------- */

static void on_recv(struct rs_stack *st, struct rs_conn *c, const struct ibv_wc *wc)
{
    uint32_t idx = RS_WRID_IDX(wc->wr_id);
    if (c->rq_tail == c->rq_head || idx != (c->rq_head & 0xffffffu)) {
        st->ctr.stale_wc++;
        DM_ERR("rdma", "receive completion out of order on connection %u (index %u, expected %u)", c->slot, idx,
               c->rq_head & 0xffffffu);
        return;
    }
    struct dm_buf *b = c->rq[c->rq_head & c->rq_mask];
    c->rq[c->rq_head & c->rq_mask] = NULL;
    c->rq_head++;
    if (wc->status != IBV_WC_SUCCESS) {
        dm_buf_free(b);
        if (wc->status != IBV_WC_WR_FLUSH_ERR) {
            st->ctr.wc_errors++;
            DM_WARN("rdma", "receive failed on connection %u: %s", c->slot, st->g->wc_status_str(wc->status));
            rs_conn_fail(c, ECONNRESET, "receive error");
        }
        return;
    }
    if (!(wc->wc_flags & IBV_WC_WITH_IMM)) {
        dm_buf_free(b);
        st->ctr.wc_errors++;
        rs_conn_fail(c, EPROTO, "message without immediate data");
        return;
    }
    uint32_t imm = ntohl(wc->imm_data);
    uint32_t grant = imm & 0xffffffu;
    c->credits += grant;
    st->ctr.credit_rx_grants += grant;
    st->ctr.rx_msgs++;
    switch (imm >> 28) {
    case RS_MSG_DATA:
        c->data_since_report++;
        if (wc->byte_len == 0 || c->orphan || c->shut_rd) {
            if (wc->byte_len)
                st->ctr.rx_discarded++;
            dm_buf_free(b);
            break;
        }
        b->len = b->pkt_len = wc->byte_len;
        st->ctr.rx_bytes += wc->byte_len;
        b->next = NULL;
        if (c->rxq_tail)
            c->rxq_tail->next = b;
        else
            c->rxq_head = b;
        c->rxq_tail = b;
        c->rxq_n++;
        break;
    case RS_MSG_FIN:
        c->data_since_report++;
        c->fin_rcvd = 1;
        st->ctr.fin_rx++;
        dm_buf_free(b);
        break;
    case RS_MSG_CREDIT:
        dm_buf_free(b);
        break;
    default:
        dm_buf_free(b);
        st->ctr.wc_errors++;
        rs_conn_fail(c, EPROTO, "unknown message type");
        return;
    }
    rs_kick(c);
}

static void on_send(struct rs_stack *st, struct rs_conn *c, const struct ibv_wc *wc)
{
    uint32_t idx = RS_WRID_IDX(wc->wr_id);
    uint32_t dist = (idx - c->sq_head) & 0xffffffu, inflight = c->sq_tail - c->sq_head;
    if (dist >= inflight) {
        st->ctr.stale_wc++;
        return;
    }
    for (uint32_t k = 0; k <= dist; k++) {
        struct rs_sqe *e = &c->sq[c->sq_head & c->sq_mask];
        if (e->ref)
            dm_buf_free_seg(e->ref);
        e->ref = NULL;
        if (e->fin && wc->status == IBV_WC_SUCCESS)
            c->fin_done = 1;
        c->sq_head++;
    }
    if (wc->status != IBV_WC_SUCCESS && wc->status != IBV_WC_WR_FLUSH_ERR) {
        st->ctr.wc_errors++;
        if (wc->status == IBV_WC_RNR_RETRY_EXC_ERR) {
            st->ctr.rnr_errors++;
            DM_ERR("rdma", "connection %u: receiver not ready after retries (%s): credit accounting is broken",
                   c->slot, st->g->wc_status_str(wc->status));
        } else {
            DM_INFO("rdma", "connection %u: send failed: %s", c->slot, st->g->wc_status_str(wc->status));
        }
        rs_conn_fail(c, ECONNRESET, "send error");
    }
    rs_kick(c);
}

int rs_poll_cq(struct rs_stack *st)
{
    if (!st->cq)
        return 0;
    int total = 0;
    for (;;) {
        int n = st->g->poll_cq(st->cq, RS_BATCH, st->wc);
        st->ctr.cq_polls++;
        if (n < 0) {
            DM_ERR("rdma", "ibv_poll_cq failed: %d", n);
            return total;
        }
        for (int i = 0; i < n; i++) {
            const struct ibv_wc *wc = &st->wc[i];
            uint32_t slot = RS_WRID_SLOT(wc->wr_id);
            struct rs_conn *c = slot < st->max_conns ? st->conns[slot] : NULL;
            if (!c || (c->gen & 0xffffu) != RS_WRID_GEN(wc->wr_id) || c->dead) {
                st->ctr.stale_wc++; /* its connection is gone: its buffers went with it */
                continue;
            }
            if (RS_WRID_KIND(wc->wr_id) == RS_WR_RECV)
                on_recv(st, c, wc);
            else
                on_send(st, c, wc);
        }
        total += n;
        if (n < RS_BATCH)
            break;
    }
    return total;
}
