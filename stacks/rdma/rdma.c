/* SPDX-License-Identifier: MIT */
/*
 * The rdma backend (DEMI_BACKEND=rdma): the demi socket calls over RDMA
 * reliable-connected queue pairs, SOCK_STREAM only, as Demikernel's
 * catmint. Verbs are reached through a struct rdma_glue (devices/rdma):
 * the real libibverbs/librdmacm, or an in-process emulation when the
 * machine has no RDMA device (DEMI_RDMA_PROVIDER, see rdma_glue.h).
 *
 * This file: the stack ops, the connection table, options, and poll().
 * poll() reaps the CQ, then the rdmacm events; when it has nothing to do
 * and may block, it arms the CQ, polls once more (a completion may have
 * slipped in before the arm), and sleeps on an epoll fd holding the
 * completion channel and the event channel. That epoll fd is wait_fd(),
 * so an idle application sleeps in its own epoll.
 *
 * Configuration: DEMI_RDMA_PROVIDER (real|emu), DEMI_RDMA_RQ_DEPTH
 * (receive buffers per connection = the peer's credits, default 64),
 * DEMI_RDMA_SQ_DEPTH (128), DEMI_RDMA_CQ_DEPTH (65536), DEMI_RDMA_INLINE
 * (bytes sent inline, 64), DEMI_RDMA_RNR_RETRY (0..7, default 1: an RNR
 * means the credits are wrong, so it should surface, not be retried
 * forever), DEMI_RDMA_LINGER_MS (how long a closed connection may take to
 * deliver what was pushed, 5000), DEMI_RDMA_TIMEOUT_MS (address and route
 * resolution, 2000), DEMI_RDMA_MAX_CONNS (65536), DEMI_RDMA_DEVICE (refuse
 * connections whose address resolves to another device; with rdmacm the
 * local address picks the device).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include "dm/log.h"
#include "dm/stack.h"
#include "dm/stats.h"
#include "dm/time.h"
#include "rdma_priv.h"

static const char *const rs_counter_names[] = {
    "rx_msgs", "rx_bytes", "tx_msgs", "tx_bytes", "tx_zero_copy", "tx_inline", "tx_bounce",
    "credit_tx", "credit_rx_grants", "credit_stalls", "fin_tx", "fin_rx",
    "rnr_errors", "wc_errors", "stale_wc", "cq_polls", "cq_wakeups", "cm_events",
    "connects", "accepts", "refused", "resets", "rejected_backlog", "nobufs", "rx_discarded", "aborted",
};
_Static_assert(sizeof(struct rs_counters) / sizeof(uint64_t) == DM_ARRAY_SIZE(rs_counter_names), "rdma counters");

/* --- connection table ---------------------------------------------------- */

static void linger_expired(struct dm_timer *t)
{
    struct rs_conn *c = t->arg;
    DM_INFO("rdma", "connection %u: close did not finish in DEMI_RDMA_LINGER_MS: aborted", c->slot);
    c->st->ctr.aborted++;
    rs_conn_destroy(c);
}

struct rs_conn *rs_conn_new(struct rs_stack *st)
{
    if (!st->nfree)
        return NULL;
    struct rs_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->st = st;
    c->slot = st->free_slots[--st->nfree];
    c->gen = st->gens[c->slot];
    st->conns[c->slot] = c;
    dm_list_init(&c->pending);
    dm_list_init(&c->ready);
    dm_list_init(&c->plink);
    dm_task_init(&c->task, rs_conn_progress, c);
    dm_timer_init(&c->timer, linger_expired, c);
    return c;
}

/* Frees everything a connection holds; its completions become stale. */
void rs_conn_destroy(struct rs_conn *c)
{
    struct rs_stack *st = c->st;
    if (c->dead)
        return;
    c->dead = 1;
    dm_task_cancel(&c->task);
    if (dm_timer_pending(&c->timer))
        dm_timer_cancel(st->inst, &c->timer);
    /* A listener takes its unaccepted children down with it (Linux: RST). */
    while (!dm_list_empty(&c->pending))
        rs_conn_destroy(dm_list_first(&c->pending, struct rs_conn, plink));
    while (!dm_list_empty(&c->ready))
        rs_conn_destroy(dm_list_first(&c->ready, struct rs_conn, plink));
    if (c->parent) {
        dm_list_del(&c->plink);
        c->parent->nchild--;
    }
    if (c->id) {
        if (c->has_qp)
            st->g->destroy_qp(c->id);
        st->g->destroy_id(c->id);
    }
    rs_free_rings(c);
    st->cq_reserved -= c->cq_res;
    if (c->q)
        c->q->priv = NULL;
    st->conns[c->slot] = NULL;
    st->gens[c->slot]++;
    st->free_slots[st->nfree++] = c->slot;
    free(c);
}

/* --- create / destroy ------------------------------------------------------- */

static int cfg_u32(const struct dm_config *cfg, enum dm_cfg_id id, uint32_t *out)
{
    int64_t v;
    int rc = dm_cfg_int(cfg, id, &v);
    if (rc == 0)
        *out = (uint32_t)v;
    return rc < 0 ? rc : 0;
}

static void rs_destroy(void *p);

static int rs_create(struct dm_instance *inst, const struct dm_config *cfg, void **out)
{
    struct rs_stack *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    st->inst = inst;
    st->epfd = -1;
    int rc;
    uint32_t linger_ms = 0, timeout_ms = 0;
    if ((rc = cfg_u32(cfg, DM_CFG_RDMA_RQ_DEPTH, &st->rq_depth)) < 0 ||
        (rc = cfg_u32(cfg, DM_CFG_RDMA_SQ_DEPTH, &st->sq_depth)) < 0 ||
        (rc = cfg_u32(cfg, DM_CFG_RDMA_CQ_DEPTH, &st->cq_depth)) < 0 ||
        (rc = cfg_u32(cfg, DM_CFG_RDMA_INLINE, &st->max_inline)) < 0 ||
        (rc = cfg_u32(cfg, DM_CFG_RDMA_RNR_RETRY, &st->rnr_retry)) < 0 ||
        (rc = cfg_u32(cfg, DM_CFG_RDMA_LINGER_MS, &linger_ms)) < 0 ||
        (rc = cfg_u32(cfg, DM_CFG_RDMA_TIMEOUT_MS, &timeout_ms)) < 0 ||
        (rc = cfg_u32(cfg, DM_CFG_RDMA_MAX_CONNS, &st->max_conns)) < 0)
        goto fail;
    const char *dev = dm_cfg_str(cfg, DM_CFG_RDMA_DEVICE);
    snprintf(st->want_dev, sizeof(st->want_dev), "%s", dev ? dev : "");
    st->linger_ns = (int64_t)linger_ms * DM_NS_PER_MS;
    st->timeout_ms = (int)timeout_ms;
    /* Half the ring: a standalone CREDIT message at most every half ring. */
    st->credit_thresh = st->rq_depth / 2;

    /* The pool region: registered once, when the device opens. */
    struct dm_buf *b = dm_buf_alloc(inst);
    if (!b) {
        rc = -ENOBUFS;
        goto fail;
    }
    void *base;
    dm_bufpool_region(b->pool, &base, &st->mr_len);
    st->mr_base = base;
    st->buf_size = dm_bufpool_data_size(b->pool);
    dm_buf_free(b);

    if ((rc = rdma_glue_select(cfg, &st->g)) < 0)
        goto fail;
    rc = -ENOMEM;
    st->conns = calloc(st->max_conns, sizeof(*st->conns));
    st->gens = calloc(st->max_conns, sizeof(*st->gens));
    st->free_slots = malloc(st->max_conns * sizeof(*st->free_slots));
    if (!st->conns || !st->gens || !st->free_slots)
        goto fail;
    for (uint32_t i = 0; i < st->max_conns; i++)
        st->free_slots[i] = st->max_conns - 1 - i;
    st->nfree = st->max_conns;

    st->evch = st->g->create_event_channel();
    if (!st->evch) {
        rc = -(errno ? errno : ENODEV);
        DM_ERR("rdma", "rdma_create_event_channel: %s (is the rdma_ucm module loaded?)", strerror(-rc));
        goto fail;
    }
    fcntl(st->evch->fd, F_SETFL, fcntl(st->evch->fd, F_GETFL) | O_NONBLOCK);
    st->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (st->epfd < 0) {
        rc = -errno;
        goto fail;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 0};
    if (epoll_ctl(st->epfd, EPOLL_CTL_ADD, st->evch->fd, &ev) < 0) {
        rc = -errno;
        goto fail;
    }
    dm_stats_register(inst, "rdma", rs_counter_names, &st->ctr.rx_msgs, DM_ARRAY_SIZE(rs_counter_names));
    DM_INFO("rdma", "rdma backend over the %s provider%s: %u receive buffers of %u bytes per connection",
            st->g->name, st->g->emulated ? " (EMULATED, not hardware)" : "", st->rq_depth, st->buf_size);
    *out = st;
    return 0;
fail:
    rs_destroy(st);
    return rc;
}

static void rs_destroy(void *p)
{
    struct rs_stack *st = p;
    if (!st)
        return;
    const struct rdma_glue *g = st->g;
    if (st->conns) {
        /* Listeners first: they take their children. */
        for (uint32_t i = 0; i < st->max_conns; i++)
            if (st->conns[i] && st->conns[i]->listening)
                rs_conn_destroy(st->conns[i]);
        for (uint32_t i = 0; i < st->max_conns; i++)
            if (st->conns[i])
                rs_conn_destroy(st->conns[i]);
        dm_stats_unregister(st->inst, &st->ctr.rx_msgs);
    }
    if (st->cq) {
        if (st->cq_unacked)
            g->ack_cq_events(st->cq, st->cq_unacked);
        g->destroy_cq(st->cq);
    }
    if (st->mr)
        g->dereg_mr(st->mr);
    if (st->cch)
        g->destroy_comp_channel(st->cch);
    if (st->pd)
        g->dealloc_pd(st->pd);
    if (st->evch)
        g->destroy_event_channel(st->evch);
    if (st->epfd >= 0)
        close(st->epfd);
    free(st->conns);
    free(st->gens);
    free(st->free_slots);
    free(st);
}

/* --- socket calls ---------------------------------------------------------- */

static struct rs_conn *conn_of(struct dm_queue *q) { return q->priv; }

static int ensure_id(struct rs_stack *st, struct rs_conn *c)
{
    if (c->id)
        return 0;
    if (st->g->create_id(st->evch, &c->id, c, RDMA_PS_TCP) != 0) {
        c->id = NULL;
        return -(errno ? errno : ENOMEM);
    }
    return 0;
}

static int rs_socket(void *p, struct dm_queue *q, int domain, int type, int protocol)
{
    struct rs_stack *st = p;
    (void)domain;
    (void)protocol;
    if (type != SOCK_STREAM) {
        dm_log_once("rdma", "DEMI_BACKEND=rdma serves reliable streams only (RC queue pairs): "
                            "SOCK_DGRAM gets EPROTONOSUPPORT");
        return -EPROTONOSUPPORT;
    }
    struct rs_conn *c = rs_conn_new(st);
    if (!c)
        return -ENOBUFS;
    int rc = ensure_id(st, c);
    if (rc < 0) {
        rs_conn_destroy(c);
        return rc;
    }
    c->q = q;
    q->priv = c;
    return 0;
}

static int rs_bind(void *p, struct dm_queue *q, const union dm_sockaddr *addr)
{
    if (addr->sa.sa_family != AF_INET) /* IPv4 only (no inet6) */
        return -EAFNOSUPPORT;
    struct rs_stack *st = p;
    struct rs_conn *c = conn_of(q);
    if (c->bound || c->listening || c->state != RS_IDLE)
        return -EINVAL;
    int rc = ensure_id(st, c);
    if (rc < 0)
        return rc;
    struct sockaddr_in sin = addr->sin;
    if (st->g->bind_addr(c->id, (struct sockaddr *)&sin) != 0) {
        int err = errno;
        return -(err == ENODEV ? EADDRNOTAVAIL : err);
    }
    c->bound = 1;
    return 0;
}

static int rs_listen(void *p, struct dm_queue *q, int backlog)
{
    struct rs_stack *st = p;
    struct rs_conn *c = conn_of(q);
    if (c->state != RS_IDLE)
        return -EINVAL;
    int n = backlog < 1 ? 1 : backlog;
    if (c->listening) {
        c->backlog = n;
        return 0;
    }
    int rc = ensure_id(st, c);
    if (rc < 0)
        return rc;
    if (!c->bound) {
        struct sockaddr_in any = {.sin_family = AF_INET};
        if (st->g->bind_addr(c->id, (struct sockaddr *)&any) != 0)
            return -errno;
        c->bound = 1;
    }
    if (st->g->listen(c->id, n) != 0)
        return -errno;
    c->listening = 1;
    c->backlog = n;
    return 0;
}

static int rs_accept(void *p, struct dm_queue *q, struct dm_op *op)
{
    (void)op;
    struct rs_conn *c = conn_of(q);
    if (!c->listening)
        return -EINVAL;
    rs_accept_ready(p, c);
    return 0;
}

static int rs_connect(void *p, struct dm_queue *q, struct dm_op *op)
{
    struct rs_stack *st = p;
    struct rs_conn *c = conn_of(q);
    if (c->listening)
        return -EISCONN;
    if (c->state == RS_RESOLVING || c->state == RS_CONNECTING)
        return -EALREADY;
    if (c->state != RS_IDLE)
        return -EISCONN;
    int rc = ensure_id(st, c);
    if (rc < 0)
        return rc;
    struct sockaddr_in dst = op->addr;
    if (dst.sin_addr.s_addr == htonl(INADDR_ANY))
        dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* as Linux: connect to 0.0.0.0 is loopback */
    if (st->g->resolve_addr(c->id, NULL, (struct sockaddr *)&dst, st->timeout_ms) != 0) {
        int err = errno;
        if (err == EAFNOSUPPORT || err == EINVAL)
            return -err;
        dm_op_fail(op, err == ENODEV ? ENETUNREACH : err);
        return 0;
    }
    c->state = RS_RESOLVING;
    return 0;
}

static int rs_push(void *p, struct dm_queue *q, struct dm_op *op)
{
    struct rs_stack *st = p;
    struct rs_conn *c = conn_of(q);
    if (c->listening)
        return -ENOTCONN;
    if (c->shut_wr)
        return -EPIPE;
    if (c->err)
        return -c->err;
    if (c->state == RS_IDLE || c->state >= RS_DISCONNECTING)
        return -ENOTCONN;
    /* Send now when nothing is queued ahead (the common case). */
    if (c->state == RS_ESTABLISHED && dm_queue_first_op(q, DEMI_OPC_PUSH) == op)
        rs_tx(st, c);
    return 0;
}

static int rs_pop(void *p, struct dm_queue *q, struct dm_op *op)
{
    struct rs_stack *st = p;
    struct rs_conn *c = conn_of(q);
    (void)op;
    if (c->listening || (c->state == RS_IDLE && !c->err))
        return -ENOTCONN;
    rs_deliver(st, c);
    if (c->rxq_n < st->rq_depth)
        rs_kick(c); /* the receive window opened: re-post */
    return 0;
}

static int rs_shutdown(void *p, struct dm_queue *q, int how)
{
    (void)p;
    struct rs_conn *c = conn_of(q);
    if (c->listening || c->state == RS_IDLE)
        return -ENOTCONN;
    if (how == SHUT_RD || how == SHUT_RDWR)
        c->shut_rd = 1;
    if (how == SHUT_WR || how == SHUT_RDWR)
        c->shut_wr = 1;
    rs_kick(c);
    return 0;
}

/* Close keeps an established connection until what was pushed is out and
 * the FIN is delivered (bounded by DEMI_RDMA_LINGER_MS); the pushes still
 * pending hand their data over, since their ops are cancelled. */
static int rs_close(void *p, struct dm_queue *q)
{
    struct rs_stack *st = p;
    struct rs_conn *c = conn_of(q);
    if (!c)
        return 0;
    c->q = NULL;
    q->priv = NULL;
    int graceful = c->state == RS_ESTABLISHED && !c->err && !(c->opt_linger_on && c->opt_linger_s == 0);
    if (!graceful) {
        if (c->state == RS_ESTABLISHED)
            st->ctr.aborted++;
        rs_conn_destroy(c);
        return 0;
    }
    struct dm_list *pos, *tmp;
    dm_list_for_each_safe(pos, tmp, &q->ops) {
        struct dm_op *op = dm_list_entry(pos, struct dm_op, qlink);
        if (op->opcode != DEMI_OPC_PUSH || !op->chain)
            continue;
        struct dm_buf *chain = op->chain, *seg = chain;
        uint32_t off = 0;
        if (op->bctx[0]) {
            seg = (struct dm_buf *)(uintptr_t)op->bctx[2];
            off = (uint32_t)op->bctx[3];
        }
        op->chain = NULL;
        if (!c->linger) {
            c->linger = chain;
            c->lseg = seg;
            c->loff = off;
        } else {
            dm_buf_chain(c->linger, chain);
        }
    }
    c->orphan = 1;
    /* Unread data is dropped (Linux would answer it with a reset). */
    if (c->rxq_n) {
        st->ctr.rx_discarded += c->rxq_n;
        dm_buf_free(c->rxq_head);
        c->rxq_head = c->rxq_tail = NULL;
        c->rxq_n = 0;
    }
    dm_timer_arm(st->inst, &c->timer, st->linger_ns);
    rs_kick(c);
    return 0;
}

static int int_opt(const void *val, socklen_t len, int *out)
{
    if (len < (socklen_t)sizeof(int))
        return -EINVAL;
    memcpy(out, val, sizeof(int));
    return 0;
}

static int rs_setsockopt(void *p, struct dm_queue *q, int level, int name, const void *val, socklen_t len)
{
    (void)p;
    struct rs_conn *c = conn_of(q);
    int v = 0, rc;
    if (level == SOL_SOCKET && name == SO_LINGER) {
        struct linger l;
        if (len < (socklen_t)sizeof(l))
            return -EINVAL;
        memcpy(&l, val, sizeof(l));
        c->opt_linger_on = l.l_onoff != 0;
        c->opt_linger_s = l.l_linger;
        return 0;
    }
    if ((rc = int_opt(val, len, &v)) < 0)
        return rc;
    if (level == SOL_SOCKET) {
        switch (name) {
        case SO_REUSEADDR: c->opt_reuseaddr = v != 0; return 0;
        case SO_KEEPALIVE: c->opt_keepalive = v != 0; return 0;
        case SO_REUSEPORT:
        case SO_SNDBUF:
        case SO_RCVBUF:
            dm_log_once("rdma", "SO_SNDBUF/SO_RCVBUF/SO_REUSEPORT are accepted and ignored by the rdma backend "
                                "(buffering is DEMI_RDMA_RQ_DEPTH receive buffers per connection)");
            return 0;
        default: break;
        }
    } else if (level == IPPROTO_TCP) {
        switch (name) {
        case TCP_NODELAY: c->opt_nodelay = v != 0; return 0; /* every push is sent at once anyway */
        case TCP_QUICKACK:
        case TCP_KEEPIDLE:
        case TCP_KEEPINTVL:
        case TCP_KEEPCNT:
            return 0;
        default: break;
        }
    }
    return -ENOPROTOOPT;
}

static int put_int(void *val, socklen_t *len, int v)
{
    if (*len < (socklen_t)sizeof(int))
        return -EINVAL;
    memcpy(val, &v, sizeof(int));
    *len = sizeof(int);
    return 0;
}

static int rs_getsockopt(void *p, struct dm_queue *q, int level, int name, void *val, socklen_t *len)
{
    struct rs_stack *st = p;
    struct rs_conn *c = conn_of(q);
    if (level == SOL_SOCKET) {
        switch (name) {
        case SO_TYPE: return put_int(val, len, SOCK_STREAM);
        case SO_ERROR: return put_int(val, len, c->err == EPIPE ? 0 : c->err);
        case SO_REUSEADDR: return put_int(val, len, c->opt_reuseaddr);
        case SO_KEEPALIVE: return put_int(val, len, c->opt_keepalive);
        case SO_ACCEPTCONN: return put_int(val, len, c->listening);
        case SO_RCVBUF:
        case SO_SNDBUF: return put_int(val, len, (int)(st->rq_depth * st->buf_size));
        case SO_LINGER: {
            struct linger l = {.l_onoff = c->opt_linger_on, .l_linger = c->opt_linger_s};
            if (*len < (socklen_t)sizeof(l))
                return -EINVAL;
            memcpy(val, &l, sizeof(l));
            *len = sizeof(l);
            return 0;
        }
        default: break;
        }
    } else if (level == IPPROTO_TCP) {
        switch (name) {
        case TCP_NODELAY: return put_int(val, len, c->opt_nodelay);
        case TCP_MAXSEG: return put_int(val, len, (int)(c->max_msg ? c->max_msg : st->buf_size));
        default: break;
        }
    }
    return -ENOPROTOOPT;
}

static int rs_getsockname(void *p, struct dm_queue *q, union dm_sockaddr *ua)
{
    struct sockaddr_in *out = &ua->sin;
    (void)p;
    struct rs_conn *c = conn_of(q);
    memset(out, 0, sizeof(*out));
    out->sin_family = AF_INET;
    if (c->id)
        *out = c->id->route.addr.src_sin;
    out->sin_family = AF_INET;
    return 0;
}

static int rs_getpeername(void *p, struct dm_queue *q, union dm_sockaddr *ua)
{
    struct sockaddr_in *out = &ua->sin;
    (void)p;
    struct rs_conn *c = conn_of(q);
    if (c->listening || !c->id || c->state < RS_ESTABLISHED)
        return -ENOTCONN;
    *out = c->id->route.addr.dst_sin;
    return 0;
}

/* --- poll ---------------------------------------------------------------- */

/* Takes the completion channel's events (so its fd goes quiet). */
static void drain_cq_events(struct rs_stack *st)
{
    struct ibv_cq *cq;
    void *ctx;
    while (st->cch && st->g->get_cq_event(st->cch, &cq, &ctx) == 0) {
        st->armed = 0;
        st->ctr.cq_wakeups++;
        if (++st->cq_unacked >= 64) {
            st->g->ack_cq_events(st->cq, st->cq_unacked);
            st->cq_unacked = 0;
        }
    }
}

static int rs_poll(void *p, int64_t block_ns)
{
    struct rs_stack *st = p;
    int n = rs_poll_cq(st);
    /* rdmacm events cost a read() on a real channel: look when the CQ is
     * quiet, and every 64th busy poll so setup never starves. */
    if (n == 0 || (++st->cm_tick & 63) == 0)
        n += rs_poll_cm(st);
    if (n) {
        /* Armed while idle and work came: take the channel's event (one
         * read per idle->busy transition) so the wait fd goes quiet. */
        if (st->armed) {
            drain_cq_events(st);
            st->armed = 0;
        }
        return n;
    }
    /* Idle: arm the CQ so its channel wakes a sleeper, then look again
     * (a completion may have landed before the arm). */
    if (st->cq && !st->armed) {
        st->g->req_notify_cq(st->cq, 0);
        st->armed = 1;
        n = rs_poll_cq(st);
        if (n)
            return n;
    }
    if (block_ns <= 0)
        return 0;
    struct epoll_event evs[4];
    struct timespec ts = {.tv_sec = block_ns / DM_NS_PER_S, .tv_nsec = block_ns % DM_NS_PER_S};
    if (block_ns > 3600 * DM_NS_PER_S)
        ts.tv_sec = 3600, ts.tv_nsec = 0;
    int k = epoll_pwait2(st->epfd, evs, DM_ARRAY_SIZE(evs), &ts, NULL);
    if (k < 0 && errno != EINTR)
        return -errno;
    if (k > 0)
        drain_cq_events(st);
    return rs_poll_cq(st) + rs_poll_cm(st);
}

static int rs_wait_fd(void *p)
{
    return ((struct rs_stack *)p)->epfd;
}

static const struct dm_stack_ops rdma_ops = {
    .name = "rdma",
    .create = rs_create,
    .destroy = rs_destroy,
    .socket = rs_socket,
    .bind = rs_bind,
    .listen = rs_listen,
    .accept = rs_accept,
    .connect = rs_connect,
    .push = rs_push,
    .pop = rs_pop,
    .shutdown = rs_shutdown,
    .close = rs_close,
    .setsockopt = rs_setsockopt,
    .getsockopt = rs_getsockopt,
    .getsockname = rs_getsockname,
    .getpeername = rs_getpeername,
    .poll = rs_poll,
    .wait_fd = rs_wait_fd,
    /* connections go over the RDMA device's addresses (DEMI_IPV4), never
     * the kernel's loopback */
    .own_addresses = true,
};
DM_STACK_REGISTER(rdma_ops)
