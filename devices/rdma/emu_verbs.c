/* SPDX-License-Identifier: MIT */
/*
 * Emulated verbs: device, PD, MR, CQ, completion channel, RC QP, and the
 * data path (post_send, post_recv, poll_cq). An EMULATION, not hardware.
 *
 * How a SEND moves: post_send copies the work request into the QP's send
 * ring (inline data is copied into the WQE, as a NIC does) and runs the
 * ring. Running it takes the head WR, takes the peer QP's oldest posted
 * RECV, checks both sides' scatter/gather entries against the registered
 * regions (lkey, PD, bounds), copies the bytes, and writes a RECV
 * completion on the peer's CQ and, when signaled, a SEND completion on
 * ours. Everything happens inside the call, so a receive completion is
 * visible as soon as the sender's post returns.
 *
 * Failures are reported the way an RC QP reports them after its retries:
 *  - no RECV posted at the peer (receiver not ready): with rnr_retry 7 the
 *    WR stays at the head of the ring until the peer posts one (hardware
 *    retries forever); with fewer retries the WR completes with
 *    IBV_WC_RNR_RETRY_EXC_ERR and the QP goes to the error state;
 *  - no peer QP (disconnected or destroyed): IBV_WC_RETRY_EXC_ERR;
 *  - a bad lkey or an address outside its region: IBV_WC_LOC_PROT_ERR;
 *  - a message larger than the posted RECV: IBV_WC_LOC_LEN_ERR at the
 *    receiver, IBV_WC_REM_INV_REQ_ERR at the sender, both QPs in error.
 * A QP in error completes everything posted with IBV_WC_WR_FLUSH_ERR,
 * signaled or not, as the specification requires.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include "dm/log.h"
#include "emu_priv.h"

struct emu_fabric emu_fab;

void emu_fabric_init(void)
{
    if (emu_fab.init)
        return;
    emu_fab.init = 1;
    snprintf(emu_fab.dev.name, sizeof(emu_fab.dev.name), "demi_emu0");
    snprintf(emu_fab.dev.dev_name, sizeof(emu_fab.dev.dev_name), "uverbs_emu0");
    emu_fab.dev.node_type = IBV_NODE_RNIC;
    emu_fab.dev.transport_type = IBV_TRANSPORT_IWARP;
    emu_fab.ctx.device = &emu_fab.dev;
    emu_fab.ctx.cmd_fd = -1;
    emu_fab.ctx.async_fd = -1;
    emu_fab.ctx.num_comp_vectors = 1;
    dm_list_init(&emu_fab.mrs);
    dm_list_init(&emu_fab.ids);
    dm_list_init(&emu_fab.all_ids);
    emu_fab.next_key = 0x1000;
    emu_fab.next_qpn = 0x100;
    emu_fab.next_port = 32768;
}

void emu_signal_fd(int fd)
{
    uint64_t one = 1;
    ssize_t r = write(fd, &one, sizeof(one));
    (void)r;
}

void emu_drain_fd(int fd)
{
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof(v));
    (void)r;
}

const struct rdma_emu_counters *rdma_emu_counters(void) { return &emu_fab.ctr; }
unsigned rdma_emu_live_objects(void) { return emu_fab.live; }

/* Ring index arithmetic without a division (sizes are not powers of two). */
static inline uint32_t ring_add(uint32_t i, uint32_t n, uint32_t size)
{
    i += n;
    return i >= size ? i - size : i;
}

/* --- device, PD, MR -------------------------------------------------- */

struct ibv_device **emu_get_device_list(int *num)
{
    emu_fabric_init();
    struct ibv_device **l = calloc(2, sizeof(*l));
    if (!l) {
        errno = ENOMEM;
        return NULL;
    }
    l[0] = &emu_fab.dev;
    if (num)
        *num = 1;
    return l;
}

void emu_free_device_list(struct ibv_device **list) { free(list); }

int emu_query_device(struct ibv_context *ctx, struct ibv_device_attr *attr)
{
    (void)ctx;
    memset(attr, 0, sizeof(*attr));
    snprintf(attr->fw_ver, sizeof(attr->fw_ver), "emulation");
    attr->max_qp = 1 << 16;
    attr->max_qp_wr = EMU_MAX_WR;
    attr->max_sge = EMU_MAX_SGE;
    attr->max_cq = 1 << 16;
    attr->max_cqe = EMU_MAX_CQE;
    attr->max_mr = 1 << 16;
    attr->max_mr_size = UINT64_MAX;
    attr->max_pd = 1 << 16;
    attr->phys_port_cnt = 1;
    return 0;
}

struct ibv_pd *emu_alloc_pd(struct ibv_context *ctx)
{
    struct ibv_pd *pd = calloc(1, sizeof(*pd));
    if (!pd) {
        errno = ENOMEM;
        return NULL;
    }
    pd->context = ctx;
    pd->handle = emu_fab.next_key++;
    emu_fab.live++;
    return pd;
}

int emu_dealloc_pd(struct ibv_pd *pd)
{
    struct dm_list *pos, *tmp;
    dm_list_for_each_safe(pos, tmp, &emu_fab.mrs) {
        if (dm_list_entry(pos, struct emu_mr, link)->mr.pd == pd)
            return EBUSY; /* as the kernel: MRs still use it */
    }
    free(pd);
    emu_fab.live--;
    return 0;
}

struct ibv_mr *emu_reg_mr(struct ibv_pd *pd, void *addr, size_t len, int access)
{
    (void)access;
    if (!pd || !addr || !len) {
        errno = EINVAL;
        return NULL;
    }
    struct emu_mr *m = calloc(1, sizeof(*m));
    if (!m) {
        errno = ENOMEM;
        return NULL;
    }
    m->mr.context = pd->context;
    m->mr.pd = pd;
    m->mr.addr = addr;
    m->mr.length = len;
    m->mr.lkey = m->mr.rkey = (emu_fab.next_key += 0x100);
    dm_list_add_tail(&emu_fab.mrs, &m->link);
    emu_fab.live++;
    return &m->mr;
}

int emu_dereg_mr(struct ibv_mr *mr)
{
    struct emu_mr *m = dm_container_of(mr, struct emu_mr, mr);
    dm_list_del(&m->link);
    free(m);
    emu_fab.live--;
    return 0;
}

/* Is [addr, addr+len) inside the region named by lkey, in this PD? */
static int sge_ok(const struct ibv_pd *pd, const struct ibv_sge *s)
{
    struct dm_list *pos, *tmp;
    dm_list_for_each_safe(pos, tmp, &emu_fab.mrs) {
        struct emu_mr *m = dm_list_entry(pos, struct emu_mr, link);
        if (m->mr.lkey != s->lkey)
            continue;
        uintptr_t a = (uintptr_t)s->addr, base = (uintptr_t)m->mr.addr;
        return m->mr.pd == pd && a >= base && a + s->length <= base + m->mr.length;
    }
    return 0;
}

/* --- completion channels and CQs ------------------------------------ */

struct ibv_comp_channel *emu_create_comp_channel(struct ibv_context *ctx)
{
    struct emu_compch *c = calloc(1, sizeof(*c));
    if (!c) {
        errno = ENOMEM;
        return NULL;
    }
    c->ch.context = ctx;
    c->ch.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (c->ch.fd < 0) {
        free(c);
        return NULL;
    }
    dm_list_init(&c->pending);
    emu_fab.live++;
    return &c->ch;
}

int emu_destroy_comp_channel(struct ibv_comp_channel *ch)
{
    struct emu_compch *c = dm_container_of(ch, struct emu_compch, ch);
    if (c->ncqs)
        return EBUSY;
    close(c->ch.fd);
    free(c);
    emu_fab.live--;
    return 0;
}

struct ibv_cq *emu_create_cq(struct ibv_context *ctx, int cqe, void *cq_context, struct ibv_comp_channel *ch,
                             int comp_vector)
{
    (void)comp_vector;
    if (cqe < 1 || cqe > EMU_MAX_CQE) {
        errno = EINVAL;
        return NULL;
    }
    struct emu_cq *c = calloc(1, sizeof(*c));
    if (c)
        c->ring = calloc((size_t)cqe, sizeof(struct ibv_wc));
    if (!c || !c->ring) {
        free(c);
        errno = ENOMEM;
        return NULL;
    }
    c->cq.context = ctx;
    c->cq.channel = ch;
    c->cq.cq_context = cq_context;
    c->cq.cqe = cqe;
    c->size = (uint32_t)cqe;
    dm_list_init(&c->ev_link);
    if (ch)
        dm_container_of(ch, struct emu_compch, ch)->ncqs++;
    emu_fab.live++;
    return &c->cq;
}

int emu_destroy_cq(struct ibv_cq *cq)
{
    struct emu_cq *c = dm_container_of(cq, struct emu_cq, cq);
    if (c->users)
        return EBUSY;
    if (dm_list_linked(&c->ev_link))
        dm_list_del(&c->ev_link);
    if (cq->channel)
        dm_container_of(cq->channel, struct emu_compch, ch)->ncqs--;
    free(c->ring);
    free(c);
    emu_fab.live--;
    return 0;
}

int emu_req_notify_cq(struct ibv_cq *cq, int solicited_only)
{
    (void)solicited_only;
    dm_container_of(cq, struct emu_cq, cq)->armed = 1;
    return 0;
}

int emu_get_cq_event(struct ibv_comp_channel *ch, struct ibv_cq **cq, void **cq_context)
{
    struct emu_compch *c = dm_container_of(ch, struct emu_compch, ch);
    if (dm_list_empty(&c->pending)) {
        errno = EAGAIN;
        return -1;
    }
    struct emu_cq *q = dm_list_first(&c->pending, struct emu_cq, ev_link);
    dm_list_del(&q->ev_link);
    if (dm_list_empty(&c->pending))
        emu_drain_fd(ch->fd);
    *cq = &q->cq;
    *cq_context = q->cq.cq_context;
    return 0;
}

void emu_ack_cq_events(struct ibv_cq *cq, unsigned int n)
{
    cq->comp_events_completed += n;
}

int emu_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc)
{
    struct emu_cq *c = dm_container_of(cq, struct emu_cq, cq);
    int k = 0;
    while (k < n && c->count) {
        wc[k++] = c->ring[c->head];
        c->head = ring_add(c->head, 1, c->size);
        c->count--;
    }
    return k;
}

static void cq_push(struct ibv_cq *cq, const struct ibv_wc *wc)
{
    struct emu_cq *c = dm_container_of(cq, struct emu_cq, cq);
    if (c->count == c->size) {
        /* Hardware raises IBV_EVENT_CQ_ERR; the consumer sized it wrong. */
        emu_fab.ctr.cq_overruns++;
        dm_log_once("rdma-emu", "EMULATION: CQ overrun (%u entries): a completion was lost", c->size);
        return;
    }
    c->ring[ring_add(c->head, c->count, c->size)] = *wc;
    c->count++;
    if (c->armed && cq->channel) {
        c->armed = 0;
        struct emu_compch *ch = dm_container_of(cq->channel, struct emu_compch, ch);
        if (!dm_list_linked(&c->ev_link)) {
            if (dm_list_empty(&ch->pending))
                emu_signal_fd(ch->ch.fd);
            dm_list_add_tail(&ch->pending, &c->ev_link);
        }
    }
}

/* --- queue pairs ------------------------------------------------------ */

static void complete(struct emu_qp *qp, struct ibv_cq *cq, uint64_t wr_id, enum ibv_wc_status st,
                     enum ibv_wc_opcode opc, uint32_t len)
{
    struct ibv_wc wc;
    memset(&wc, 0, sizeof(wc));
    wc.wr_id = wr_id;
    wc.status = st;
    wc.opcode = opc;
    wc.byte_len = len;
    wc.qp_num = qp->qp.qp_num;
    if (st == IBV_WC_WR_FLUSH_ERR)
        emu_fab.ctr.flushed++;
    cq_push(cq, &wc);
}

struct emu_qp *emu_qp_create(struct ibv_context *ctx, struct ibv_pd *pd, struct ibv_qp_init_attr *attr)
{
    if (!pd || !attr || !attr->send_cq || !attr->recv_cq || attr->srq) {
        errno = EINVAL;
        return NULL;
    }
    if (attr->qp_type != IBV_QPT_RC) {
        errno = EOPNOTSUPP; /* the emulation models RC only */
        return NULL;
    }
    struct ibv_qp_cap *cap = &attr->cap;
    if (cap->max_send_wr == 0 || cap->max_send_wr > EMU_MAX_WR || cap->max_recv_wr == 0 ||
        cap->max_recv_wr > EMU_MAX_WR || cap->max_send_sge > EMU_MAX_SGE || cap->max_recv_sge > EMU_MAX_SGE ||
        cap->max_inline_data > EMU_MAX_INLINE) {
        errno = EINVAL;
        return NULL;
    }
    struct emu_qp *q = calloc(1, sizeof(*q));
    if (!q) {
        errno = ENOMEM;
        return NULL;
    }
    q->sq = calloc(cap->max_send_wr, sizeof(*q->sq));
    q->rq = calloc(cap->max_recv_wr, sizeof(*q->rq));
    if (!q->sq || !q->rq) {
        free(q->sq);
        free(q->rq);
        free(q);
        errno = ENOMEM;
        return NULL;
    }
    q->sq_size = cap->max_send_wr;
    q->rq_size = cap->max_recv_wr;
    q->max_sge = cap->max_send_sge > cap->max_recv_sge ? cap->max_send_sge : cap->max_recv_sge;
    if (q->max_sge == 0)
        q->max_sge = 1;
    q->max_inline = cap->max_inline_data;
    q->qp.context = ctx;
    q->qp.qp_context = attr->qp_context;
    q->qp.pd = pd;
    q->qp.send_cq = attr->send_cq;
    q->qp.recv_cq = attr->recv_cq;
    q->qp.qp_num = emu_fab.next_qpn++;
    q->qp.state = IBV_QPS_INIT; /* rdma_create_qp leaves an RC QP in INIT */
    q->qp.qp_type = IBV_QPT_RC;
    dm_container_of(attr->send_cq, struct emu_cq, cq)->users++;
    dm_container_of(attr->recv_cq, struct emu_cq, cq)->users++;
    emu_fab.live++;
    return q;
}

void emu_qp_destroy(struct emu_qp *q)
{
    emu_qp_unpair(q);
    dm_container_of(q->qp.send_cq, struct emu_cq, cq)->users--;
    dm_container_of(q->qp.recv_cq, struct emu_cq, cq)->users--;
    free(q->sq);
    free(q->rq);
    free(q);
    emu_fab.live--;
}

void emu_qp_connect(struct emu_qp *a, struct emu_qp *b)
{
    a->peer = b;
    b->peer = a;
    a->qp.state = b->qp.state = IBV_QPS_RTS;
}

void emu_qp_unpair(struct emu_qp *q)
{
    if (q->peer && q->peer->peer == q)
        q->peer->peer = NULL;
    q->peer = NULL;
}

static void run_sq(struct emu_qp *qp);

void emu_qp_error(struct emu_qp *q)
{
    if (q->qp.state == IBV_QPS_ERR)
        return;
    q->qp.state = IBV_QPS_ERR;
    while (q->rq_count) {
        complete(q, q->qp.recv_cq, q->rq[q->rq_head].wr_id, IBV_WC_WR_FLUSH_ERR, IBV_WC_RECV, 0);
        q->rq_head = ring_add(q->rq_head, 1, q->rq_size);
        q->rq_count--;
    }
    run_sq(q); /* flushes the send ring */
}

static void sq_pop(struct emu_qp *qp)
{
    qp->sq_head = ring_add(qp->sq_head, 1, qp->sq_size);
    qp->sq_count--;
    qp->stalled = 0;
}

/* Fails the head WR with `st` and puts the QP in error (which flushes the rest). */
static void sq_fail(struct emu_qp *qp, enum ibv_wc_status st)
{
    struct emu_swr *w = &qp->sq[qp->sq_head];
    uint64_t id = w->wr_id;
    sq_pop(qp);
    complete(qp, qp->qp.send_cq, id, st, IBV_WC_SEND, 0);
    emu_qp_error(qp);
}

/* Copies one SEND into the peer's oldest RECV. Returns 0 when done, or the
 * status the sender must see. */
static enum ibv_wc_status deliver(struct emu_qp *qp, struct emu_swr *w, struct emu_qp *peer)
{
    struct emu_rwr *r = &peer->rq[peer->rq_head];
    uint64_t room = 0;
    for (uint32_t i = 0; i < r->nsge; i++) {
        if (!sge_ok(peer->qp.pd, &r->sge[i])) {
            emu_fab.ctr.prot_errs++;
            peer->rq_head = ring_add(peer->rq_head, 1, peer->rq_size);
            peer->rq_count--;
            complete(peer, peer->qp.recv_cq, r->wr_id, IBV_WC_LOC_PROT_ERR, IBV_WC_RECV, 0);
            emu_qp_error(peer);
            return IBV_WC_REM_OP_ERR;
        }
        room += r->sge[i].length;
    }
    if (w->len > room) {
        emu_fab.ctr.len_errs++;
        peer->rq_head = ring_add(peer->rq_head, 1, peer->rq_size);
        peer->rq_count--;
        complete(peer, peer->qp.recv_cq, r->wr_id, IBV_WC_LOC_LEN_ERR, IBV_WC_RECV, 0);
        emu_qp_error(peer);
        return IBV_WC_REM_INV_REQ_ERR;
    }
    /* Gather from the send side, scatter into the receive side. */
    uint32_t ri = 0, roff = 0;
    const uint8_t *src;
    uint32_t left;
    for (uint32_t si = 0; si < (w->inl ? 1u : w->nsge); si++) {
        src = w->inl ? w->data : (const uint8_t *)(uintptr_t)w->sge[si].addr;
        left = w->inl ? w->len : w->sge[si].length;
        while (left) {
            while (roff == r->sge[ri].length) {
                ri++;
                roff = 0;
            }
            uint32_t n = r->sge[ri].length - roff;
            if (n > left)
                n = left;
            memcpy((uint8_t *)(uintptr_t)r->sge[ri].addr + roff, src, n);
            src += n;
            left -= n;
            roff += n;
        }
    }
    uint64_t rid = r->wr_id;
    peer->rq_head = ring_add(peer->rq_head, 1, peer->rq_size);
    peer->rq_count--;
    struct ibv_wc wc;
    memset(&wc, 0, sizeof(wc));
    wc.wr_id = rid;
    wc.status = IBV_WC_SUCCESS;
    wc.opcode = IBV_WC_RECV;
    wc.byte_len = w->len;
    wc.qp_num = peer->qp.qp_num;
    wc.src_qp = qp->qp.qp_num;
    if (w->with_imm) {
        wc.wc_flags = IBV_WC_WITH_IMM;
        wc.imm_data = w->imm;
    }
    cq_push(peer->qp.recv_cq, &wc);
    emu_fab.ctr.sends++;
    emu_fab.ctr.bytes += w->len;
    if (w->inl)
        emu_fab.ctr.inline_sends++;
    return IBV_WC_SUCCESS;
}

/* Executes the send ring in order, as far as the peer lets it. */
static void run_sq(struct emu_qp *qp)
{
    while (qp->sq_count) {
        struct emu_swr *w = &qp->sq[qp->sq_head];
        if (qp->qp.state == IBV_QPS_ERR) {
            uint64_t id = w->wr_id;
            sq_pop(qp);
            complete(qp, qp->qp.send_cq, id, IBV_WC_WR_FLUSH_ERR, IBV_WC_SEND, 0);
            continue;
        }
        struct emu_qp *peer = qp->peer;
        if (!peer || peer->qp.state == IBV_QPS_ERR) {
            /* Nobody answers: the transport retries run out. */
            emu_fab.ctr.retry_exc++;
            sq_fail(qp, IBV_WC_RETRY_EXC_ERR);
            continue;
        }
        if (!w->inl) {
            int bad = 0;
            for (uint32_t i = 0; i < w->nsge && !bad; i++)
                bad = !sge_ok(qp->qp.pd, &w->sge[i]);
            if (bad) {
                emu_fab.ctr.prot_errs++;
                sq_fail(qp, IBV_WC_LOC_PROT_ERR);
                continue;
            }
        }
        if (peer->rq_count == 0) {
            if (!qp->stalled)
                emu_fab.ctr.rnr_naks++;
            if (qp->rnr_retry == 7) {
                if (!qp->stalled)
                    emu_fab.ctr.rnr_stalls++;
                qp->stalled = 1;
                return; /* retried when the peer posts a RECV */
            }
            emu_fab.ctr.rnr_retry_exc++;
            sq_fail(qp, IBV_WC_RNR_RETRY_EXC_ERR);
            continue;
        }
        enum ibv_wc_status st = deliver(qp, w, peer);
        if (st != IBV_WC_SUCCESS) {
            sq_fail(qp, st);
            continue;
        }
        uint64_t id = w->wr_id;
        int sig = w->signaled;
        uint32_t len = w->len;
        sq_pop(qp);
        if (sig)
            complete(qp, qp->qp.send_cq, id, IBV_WC_SUCCESS, IBV_WC_SEND, len);
    }
}

int emu_post_send(struct ibv_qp *ibqp, struct ibv_send_wr *wr, struct ibv_send_wr **bad)
{
    struct emu_qp *qp = dm_container_of(ibqp, struct emu_qp, qp);
    int rc = 0;
    for (; wr; wr = wr->next) {
        /* Posting needs RTS (or ERR, where it is flushed at once). */
        if (ibqp->state != IBV_QPS_RTS && ibqp->state != IBV_QPS_ERR) {
            rc = EINVAL;
            break;
        }
        if (wr->opcode != IBV_WR_SEND && wr->opcode != IBV_WR_SEND_WITH_IMM) {
            rc = EINVAL; /* the emulation models two-sided SEND only */
            break;
        }
        if (wr->num_sge < 0 || (uint32_t)wr->num_sge > qp->max_sge) {
            rc = EINVAL;
            break;
        }
        if (qp->sq_count == qp->sq_size) {
            rc = ENOMEM; /* send queue full, as providers report it */
            break;
        }
        struct emu_swr *w = &qp->sq[ring_add(qp->sq_head, qp->sq_count, qp->sq_size)];
        uint64_t len = 0;
        for (int i = 0; i < wr->num_sge; i++)
            len += wr->sg_list[i].length;
        if (len > UINT32_MAX) {
            rc = EINVAL;
            break;
        }
        w->wr_id = wr->wr_id;
        w->len = (uint32_t)len;
        w->with_imm = wr->opcode == IBV_WR_SEND_WITH_IMM;
        w->imm = wr->imm_data;
        w->signaled = (wr->send_flags & IBV_SEND_SIGNALED) != 0;
        w->inl = (wr->send_flags & IBV_SEND_INLINE) != 0;
        if (w->inl) {
            if (len > qp->max_inline) {
                rc = EINVAL;
                break;
            }
            uint32_t off = 0;
            for (int i = 0; i < wr->num_sge; i++) {
                memcpy(w->data + off, (const void *)(uintptr_t)wr->sg_list[i].addr, wr->sg_list[i].length);
                off += wr->sg_list[i].length;
            }
            w->nsge = 0;
        } else {
            w->nsge = (uint8_t)wr->num_sge;
            memcpy(w->sge, wr->sg_list, (size_t)wr->num_sge * sizeof(struct ibv_sge));
        }
        qp->sq_count++;
    }
    if (rc)
        *bad = wr;
    if (!qp->stalled)
        run_sq(qp);
    return rc;
}

int emu_post_recv(struct ibv_qp *ibqp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad)
{
    struct emu_qp *qp = dm_container_of(ibqp, struct emu_qp, qp);
    int rc = 0;
    for (; wr; wr = wr->next) {
        if (ibqp->state == IBV_QPS_RESET) {
            rc = EINVAL;
            break;
        }
        if (wr->num_sge < 0 || (uint32_t)wr->num_sge > qp->max_sge) {
            rc = EINVAL;
            break;
        }
        if (qp->rq_count == qp->rq_size) {
            rc = ENOMEM;
            break;
        }
        struct emu_rwr *r = &qp->rq[ring_add(qp->rq_head, qp->rq_count, qp->rq_size)];
        r->wr_id = wr->wr_id;
        r->nsge = (uint32_t)wr->num_sge;
        memcpy(r->sge, wr->sg_list, (size_t)wr->num_sge * sizeof(struct ibv_sge));
        qp->rq_count++;
        if (ibqp->state == IBV_QPS_ERR) {
            /* Posted to a QP in error: flushed at once. */
            qp->rq_count--;
            complete(qp, ibqp->recv_cq, wr->wr_id, IBV_WC_WR_FLUSH_ERR, IBV_WC_RECV, 0);
        }
    }
    if (rc)
        *bad = wr;
    /* A sender that was waiting for a RECV (receiver not ready) goes on. */
    if (qp->peer && qp->peer->stalled && qp->rq_count) {
        qp->peer->stalled = 0;
        run_sq(qp->peer);
    }
    return rc;
}
