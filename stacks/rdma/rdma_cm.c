/* SPDX-License-Identifier: MIT */
/*
 * Connection setup and teardown, driven by rdmacm events read from the
 * stack's (non-blocking) event channel in poll().
 *
 * Active side:  rdma_resolve_addr -> ADDR_RESOLVED -> rdma_resolve_route ->
 *   ROUTE_RESOLVED -> create the QP, post the receive ring, rdma_connect
 *   with our hello -> ESTABLISHED (the peer's hello: credits, message size)
 *   completes the connect op; REJECTED -> ECONNREFUSED, ADDR_ERROR ->
 *   EHOSTUNREACH, ROUTE_ERROR -> ENETUNREACH, UNREACHABLE -> ETIMEDOUT.
 * Passive side: CONNECT_REQUEST on a listener -> a child connection with
 *   its QP and receive ring, rdma_accept with our hello -> ESTABLISHED puts
 *   it on the listener's ready list, where demi_accept takes it (as the
 *   kernel's accept queue). Over the backlog, or bad hello: rdma_reject.
 * Both: DISCONNECTED (after draining the CQ, so a FIN that arrived first is
 *   seen first) ends the connection: EOF if the peer sent FIN, else
 *   ECONNRESET.
 *
 * Events are copied and acknowledged before they are acted on, so an id
 * can be destroyed from inside the handler (rdma_destroy_id waits for
 * unacknowledged events).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include "dm/log.h"
#include "rdma_priv.h"

struct rs_event {
    enum rdma_cm_event_type type;
    int status;
    struct rdma_cm_id *id, *listen_id;
    uint8_t plen;
    uint8_t pdata[64];
};

void rs_hello_fill(const struct rs_stack *st, struct rs_hello *h)
{
    memset(h, 0, sizeof(*h));
    h->magic = htonl(RS_HELLO_MAGIC);
    h->version = htons(RS_HELLO_VERSION);
    h->rq_depth = htonl(st->rq_depth);
    h->buf_size = htonl(st->buf_size);
}

/* Reads the peer's hello: its receive depth becomes our credits. */
static int hello_take(struct rs_stack *st, struct rs_conn *c, const struct rs_event *e)
{
    struct rs_hello h;
    if (e->plen < sizeof(h))
        return -EPROTO;
    memcpy(&h, e->pdata, sizeof(h));
    if (ntohl(h.magic) != RS_HELLO_MAGIC || ntohs(h.version) != RS_HELLO_VERSION || ntohl(h.rq_depth) == 0 ||
        ntohl(h.buf_size) == 0)
        return -EPROTO;
    c->credits = ntohl(h.rq_depth);
    c->max_msg = DM_MIN(ntohl(h.buf_size), st->buf_size);
    return 0;
}

static void conn_param(struct rs_stack *st, struct rdma_conn_param *p, struct rs_hello *h)
{
    rs_hello_fill(st, h);
    memset(p, 0, sizeof(*p));
    p->private_data = h;
    p->private_data_len = sizeof(*h);
    p->responder_resources = 0;  /* two-sided only: no RDMA READ */
    p->initiator_depth = 0;
    p->retry_count = 7;
    p->rnr_retry_count = (uint8_t)st->rnr_retry;
}

/* Opens the device resources on first use (one device per instance). */
static int ensure_dev(struct rs_stack *st, struct ibv_context *ctx)
{
    const struct rdma_glue *g = st->g;
    if (!ctx)
        return -ENODEV;
    if (st->ctx) {
        if (ctx != st->ctx) {
            dm_log_once("rdma", "connection on a second RDMA device (%s): one device per instance is supported",
                        ctx->device ? ctx->device->name : "?");
            return -ENODEV;
        }
        return 0;
    }
    if (st->want_dev[0] && ctx->device && strcmp(ctx->device->name, st->want_dev) != 0) {
        DM_ERR("rdma", "the address resolves to RDMA device %s, but DEMI_RDMA_DEVICE=%s", ctx->device->name,
               st->want_dev);
        return -ENODEV;
    }
    struct ibv_device_attr attr;
    if (g->query_device(ctx, &attr) == 0) {
        if ((uint32_t)attr.max_cqe < st->cq_depth)
            st->cq_depth = (uint32_t)attr.max_cqe;
        if ((uint32_t)attr.max_qp_wr < st->rq_depth || (uint32_t)attr.max_qp_wr < st->sq_depth) {
            DM_ERR("rdma", "device %s allows %d WRs per queue: lower DEMI_RDMA_RQ_DEPTH/DEMI_RDMA_SQ_DEPTH",
                   ctx->device->name, attr.max_qp_wr);
            return -EINVAL;
        }
    }
    st->pd = g->alloc_pd(ctx);
    if (!st->pd)
        goto fail;
    st->cch = g->create_comp_channel(ctx);
    if (!st->cch)
        goto fail;
    /* The completion channel joins the wait fd: an idle app sleeps on it. */
    fcntl(st->cch->fd, F_SETFL, fcntl(st->cch->fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 1};
    if (epoll_ctl(st->epfd, EPOLL_CTL_ADD, st->cch->fd, &ev) < 0)
        goto fail;
    st->cq = g->create_cq(ctx, (int)st->cq_depth, st, st->cch, 0);
    if (!st->cq)
        goto fail;
    st->mr = g->reg_mr(st->pd, st->mr_base, st->mr_len, IBV_ACCESS_LOCAL_WRITE);
    if (!st->mr) {
        DM_ERR("rdma", "ibv_reg_mr of the buffer pool (%zu bytes) failed: %s (check ulimit -l)", st->mr_len,
               strerror(errno));
        goto fail;
    }
    st->ctx = ctx;
    DM_INFO("rdma", "device %s (%s provider): pool of %zu bytes registered once, lkey %#x, CQ of %u", ctx->device->name,
            g->name, st->mr_len, st->mr->lkey, st->cq_depth);
    return 0;
fail:;
    int err = errno ? errno : ENOMEM;
    DM_ERR("rdma", "opening device %s failed: %s", ctx->device ? ctx->device->name : "?", strerror(err));
    if (st->mr)
        g->dereg_mr(st->mr);
    if (st->cq)
        g->destroy_cq(st->cq);
    if (st->cch)
        g->destroy_comp_channel(st->cch);
    if (st->pd)
        g->dealloc_pd(st->pd);
    st->mr = NULL;
    st->cq = NULL;
    st->cch = NULL;
    st->pd = NULL;
    return -err;
}

static uint32_t pow2(uint32_t v)
{
    uint32_t p = 1;
    while (p < v)
        p <<= 1;
    return p;
}

int rs_setup_qp(struct rs_stack *st, struct rs_conn *c)
{
    int rc = ensure_dev(st, c->id->verbs);
    if (rc < 0)
        return rc;
    uint32_t need = st->rq_depth + st->sq_depth;
    if (st->cq_reserved + need > st->cq_depth) {
        dm_log_once("rdma", "completion queue full (%u entries reserved of %u): raise DEMI_RDMA_CQ_DEPTH",
                    st->cq_reserved, st->cq_depth);
        return -ENOBUFS;
    }
    struct ibv_qp_init_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.qp_context = c;
    attr.send_cq = st->cq;
    attr.recv_cq = st->cq;
    attr.cap.max_send_wr = st->sq_depth;
    attr.cap.max_recv_wr = st->rq_depth;
    attr.cap.max_send_sge = 1;
    attr.cap.max_recv_sge = 1;
    attr.cap.max_inline_data = st->max_inline;
    attr.qp_type = IBV_QPT_RC;
    int ok = st->g->create_qp(c->id, st->pd, &attr) == 0;
    if (!ok && errno == EINVAL && attr.cap.max_inline_data) {
        /* Some devices take no inline data: do without. */
        attr.cap.max_inline_data = 0;
        ok = st->g->create_qp(c->id, st->pd, &attr) == 0;
    }
    if (!ok) {
        rc = -errno;
        DM_WARN("rdma", "rdma_create_qp: %s", strerror(errno));
        return rc;
    }
    c->has_qp = 1;
    c->max_inline = DM_MIN(attr.cap.max_inline_data, st->max_inline);
    c->rq_mask = pow2(st->rq_depth) - 1;
    c->sq_mask = pow2(st->sq_depth) - 1;
    c->rq = calloc(c->rq_mask + 1, sizeof(*c->rq));
    c->sq = calloc(c->sq_mask + 1, sizeof(*c->sq));
    if (!c->rq || !c->sq)
        return -ENOMEM;
    st->cq_reserved += need;
    c->cq_res = need;
    rc = rs_rx_refill(st, c, 0);
    if (rc < 0)
        return rc;
    if (c->rq_tail - c->rq_head < st->rq_depth) {
        dm_log_once("rdma", "no buffers for a receive ring (%u of %u posted): connection refused; "
                            "raise DEMI_BUF_COUNT", c->rq_tail - c->rq_head, st->rq_depth);
        return -ENOBUFS;
    }
    return 0;
}

/* Completes pending accepts from the ready list. */
void rs_accept_ready(struct rs_stack *st, struct rs_conn *l)
{
    struct dm_op *op;
    while (l->q && !dm_list_empty(&l->ready) && (op = dm_queue_first_op(l->q, DEMI_OPC_ACCEPT)) != NULL) {
        struct rs_conn *c = dm_list_first(&l->ready, struct rs_conn, plink);
        struct dm_queue *nq = dm_queue_new(st->inst, SOCK_STREAM);
        if (!nq) {
            dm_op_fail(op, EMFILE); /* the connection stays queued, as Linux */
            continue;
        }
        dm_list_del(&c->plink);
        l->nchild--;
        c->parent = NULL;
        c->q = nq;
        nq->priv = c;
        st->ctr.accepts++;
        dm_op_complete_accept(op, nq, &c->id->route.addr.dst_addr);
        rs_kick(c);
    }
}

static void connect_failed(struct rs_stack *st, struct rs_conn *c, int err)
{
    if (err == ECONNREFUSED)
        st->ctr.refused++;
    c->state = RS_CLOSED;
    if (c->q) {
        struct dm_op *op = dm_queue_first_op(c->q, DEMI_OPC_CONNECT);
        if (op)
            dm_op_fail(op, err);
        /* Pushes queued behind the connect fail with it. */
        while ((op = dm_queue_first_op(c->q, DEMI_OPC_PUSH)) != NULL)
            dm_op_fail(op, err);
        while ((op = dm_queue_first_op(c->q, DEMI_OPC_POP)) != NULL)
            dm_op_fail(op, err);
    }
    /* A fresh id for a later connect, as a TCP socket may retry. */
    if (c->has_qp) {
        st->g->destroy_qp(c->id);
        c->has_qp = 0;
    }
    rs_free_rings(c);
    st->cq_reserved -= c->cq_res;
    c->cq_res = 0;
    st->g->destroy_id(c->id);
    c->id = NULL;
    c->bound = 0;
    c->state = RS_IDLE;
    if (c->orphan)
        rs_conn_destroy(c);
}

static void on_request(struct rs_stack *st, const struct rs_event *e)
{
    const struct rdma_glue *g = st->g;
    struct rs_conn *l = e->listen_id ? e->listen_id->context : NULL;
    struct rdma_cm_id *id = e->id;
    if (!l || !l->listening || !l->q || l->nchild >= l->backlog) {
        if (l && l->nchild >= l->backlog) {
            st->ctr.rejected_backlog++;
            dm_log_once("rdma", "listen backlog full: connection request rejected, the connector gets "
                                "ECONNREFUSED (Linux would drop the SYN and let it retry)");
        }
        g->reject(id, NULL, 0);
        g->destroy_id(id);
        return;
    }
    struct rs_conn *c = rs_conn_new(st);
    if (!c) {
        g->reject(id, NULL, 0);
        g->destroy_id(id);
        return;
    }
    c->id = id;
    id->context = c;
    c->parent = l;
    dm_list_add_tail(&l->pending, &c->plink);
    l->nchild++;
    struct rdma_conn_param p;
    struct rs_hello h;
    int rc = hello_take(st, c, e);
    if (rc == 0)
        rc = rs_setup_qp(st, c);
    if (rc == 0) {
        conn_param(st, &p, &h);
        if (g->accept(id, &p) != 0)
            rc = -errno;
    }
    if (rc < 0) {
        DM_INFO("rdma", "connection request refused: %s", strerror(-rc));
        if (c->has_qp) {
            g->destroy_qp(id);
            c->has_qp = 0;
        }
        g->reject(id, NULL, 0);
        rs_conn_destroy(c);
        return;
    }
    c->state = RS_ACCEPTING;
}

static void on_established(struct rs_stack *st, struct rs_conn *c, const struct rs_event *e)
{
    if (c->state == RS_ACCEPTING) {
        c->state = RS_ESTABLISHED;
        struct rs_conn *l = c->parent;
        if (l) {
            dm_list_del(&c->plink);
            dm_list_add_tail(&l->ready, &c->plink);
            rs_accept_ready(st, l);
        }
        rs_kick(c);
        return;
    }
    if (c->state != RS_CONNECTING)
        return;
    if (hello_take(st, c, e) < 0) {
        DM_WARN("rdma", "peer's connection data is not ours (no demi hello): disconnecting");
        connect_failed(st, c, ECONNREFUSED);
        return;
    }
    c->state = RS_ESTABLISHED;
    st->ctr.connects++;
    if (c->q) {
        struct dm_op *op = dm_queue_first_op(c->q, DEMI_OPC_CONNECT);
        if (op)
            dm_op_complete_connect(op);
    }
    rs_kick(c);
}

static void on_disconnected(struct rs_stack *st, struct rs_conn *c)
{
    /* What the peer sent before it left (its FIN) comes first. */
    rs_poll_cq(st);
    int was = c->state;
    c->state = RS_CLOSED;
    if (!c->err)
        rs_conn_fail(c, c->fin_rcvd || was == RS_DISCONNECTING ? EPIPE : ECONNRESET, "disconnected");
    c->state = RS_CLOSED;
    if (was != RS_DISCONNECTING)
        st->g->disconnect(c->id); /* our QP to error too; flushes the receive ring */
    if (c->parent && was == RS_ACCEPTING) {
        rs_conn_destroy(c); /* never reached the application */
        return;
    }
    rs_kick(c);
}

static void dispatch(struct rs_stack *st, const struct rs_event *e)
{
    const struct rdma_glue *g = st->g;
    if (e->type == RDMA_CM_EVENT_CONNECT_REQUEST) {
        on_request(st, e);
        return;
    }
    struct rs_conn *c = e->id ? e->id->context : NULL;
    if (!c || c->dead || c->id != e->id) {
        DM_DEBUG("rdma", "event %s for an id we no longer hold", g->event_str(e->type));
        return;
    }
    switch (e->type) {
    case RDMA_CM_EVENT_ADDR_RESOLVED:
        if (ensure_dev(st, c->id->verbs) < 0)
            connect_failed(st, c, ENETUNREACH);
        else if (g->resolve_route(c->id, st->timeout_ms) != 0)
            connect_failed(st, c, ENETUNREACH);
        break;
    case RDMA_CM_EVENT_ROUTE_RESOLVED: {
        struct rdma_conn_param p;
        struct rs_hello h;
        int rc = rs_setup_qp(st, c);
        if (rc < 0) {
            connect_failed(st, c, -rc);
            break;
        }
        conn_param(st, &p, &h);
        if (g->connect(c->id, &p) != 0) {
            connect_failed(st, c, errno ? errno : ECONNREFUSED);
            break;
        }
        c->state = RS_CONNECTING;
        break;
    }
    case RDMA_CM_EVENT_ESTABLISHED:
        on_established(st, c, e);
        break;
    case RDMA_CM_EVENT_REJECTED:
        connect_failed(st, c, ECONNREFUSED);
        break;
    case RDMA_CM_EVENT_ADDR_ERROR:
        connect_failed(st, c, EHOSTUNREACH);
        break;
    case RDMA_CM_EVENT_ROUTE_ERROR:
        connect_failed(st, c, ENETUNREACH);
        break;
    case RDMA_CM_EVENT_UNREACHABLE:
        connect_failed(st, c, ETIMEDOUT);
        break;
    case RDMA_CM_EVENT_CONNECT_ERROR:
        if (c->state == RS_ACCEPTING && c->parent)
            rs_conn_destroy(c);
        else
            connect_failed(st, c, ECONNREFUSED);
        break;
    case RDMA_CM_EVENT_DISCONNECTED:
        on_disconnected(st, c);
        break;
    case RDMA_CM_EVENT_DEVICE_REMOVAL:
        DM_ERR("rdma", "RDMA device removed: connection %u reset", c->slot);
        rs_conn_fail(c, ECONNRESET, "device removal");
        break;
    default:
        break; /* TIMEWAIT_EXIT, ADDR_CHANGE, ... */
    }
}

int rs_poll_cm(struct rs_stack *st)
{
    int n = 0;
    struct rdma_cm_event *ev;
    while (st->g->get_cm_event(st->evch, &ev) == 0) {
        struct rs_event e;
        e.type = ev->event;
        e.status = ev->status;
        e.id = ev->id;
        e.listen_id = ev->listen_id;
        e.plen = (uint8_t)DM_MIN(ev->param.conn.private_data_len, sizeof(e.pdata));
        if (!ev->param.conn.private_data)
            e.plen = 0;
        if (e.plen)
            memcpy(e.pdata, ev->param.conn.private_data, e.plen);
        st->g->ack_cm_event(ev);
        st->ctr.cm_events++;
        dispatch(st, &e);
        n++;
    }
    return n;
}
