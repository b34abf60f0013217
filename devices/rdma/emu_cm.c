/* SPDX-License-Identifier: MIT */
/*
 * Emulated connection manager (the rdmacm half of the emulation): event
 * channels, ids, address and route "resolution", listen, connect, accept,
 * reject, disconnect. An EMULATION: addresses are only keys in the
 * process-wide port table (any IPv4 address works, 127.0.0.1 included);
 * nothing is resolved and nothing goes on a wire.
 *
 * Events follow librdmacm's order and payloads: ADDR_RESOLVED,
 * ROUTE_RESOLVED, then on the listener's channel CONNECT_REQUEST carrying
 * a new id (context = the listener's context) and the connector's private
 * data; ESTABLISHED on both sides (the active side gets the acceptor's
 * private data); REJECTED (status 8, "invalid service id", when nobody
 * listens or the backlog is full; status 28, consumer reject, from
 * rdma_reject); DISCONNECTED on both sides after either calls
 * rdma_disconnect or destroys a connected id. get_cm_event never blocks
 * (the channel fd is an eventfd that is readable while events wait).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <arpa/inet.h>
#include "dm/log.h"
#include "emu_priv.h"

#define REJ_INVALID_SERVICE_ID 8
#define REJ_CONSUMER_DEFINED   28

enum emu_id_state {
    EID_IDLE, EID_BOUND, EID_LISTEN, EID_ADDR, EID_ROUTE, EID_CONNECTING, EID_REQ, EID_CONNECTED, EID_DISCONNECTED,
};

struct emu_evch {
    struct rdma_event_channel ch;
    struct dm_list events;
};

struct emu_event {
    struct rdma_cm_event ev;
    struct dm_list link;
    uint8_t pdata[256];
};

struct emu_id {
    struct rdma_cm_id id;
    enum emu_id_state state;
    int has_port;
    struct dm_list bind_link;
    int backlog, nreq;
    struct emu_id *peer;       /* the other end, from request to disconnect */
    struct emu_id *listener;   /* a request id: the listener it came in on */
    struct dm_list all_link;   /* in emu_fab.all_ids */
};

static struct emu_id *eid(struct rdma_cm_id *id) { return dm_container_of(id, struct emu_id, id); }
static struct emu_evch *ech(struct rdma_event_channel *ch) { return dm_container_of(ch, struct emu_evch, ch); }
static struct emu_qp *eqp(struct rdma_cm_id *id) { return id->qp ? dm_container_of(id->qp, struct emu_qp, qp) : NULL; }

static int fail(int err)
{
    errno = err;
    return -1;
}

static void queue_event(struct emu_id *e, struct emu_id *listen, enum rdma_cm_event_type type, int status,
                        const void *pdata, uint8_t plen)
{
    struct emu_event *ev = calloc(1, sizeof(*ev));
    if (!ev) {
        DM_ERR("rdma-emu", "EMULATION: out of memory: CM event %d lost", type);
        return;
    }
    ev->ev.id = &e->id;
    ev->ev.listen_id = listen ? &listen->id : NULL;
    ev->ev.event = type;
    ev->ev.status = status;
    if (pdata && plen) {
        memcpy(ev->pdata, pdata, plen);
        ev->ev.param.conn.private_data = ev->pdata;
        ev->ev.param.conn.private_data_len = plen;
    }
    struct emu_evch *ch = ech(listen ? listen->id.channel : e->id.channel);
    if (dm_list_empty(&ch->events))
        emu_signal_fd(ch->ch.fd);
    dm_list_add_tail(&ch->events, &ev->link);
    emu_fab.ctr.cm_events++;
}

static struct rdma_event_channel *emu_create_event_channel(void)
{
    emu_fabric_init();
    struct emu_evch *c = calloc(1, sizeof(*c));
    if (!c) {
        errno = ENOMEM;
        return NULL;
    }
    c->ch.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (c->ch.fd < 0) {
        free(c);
        return NULL;
    }
    dm_list_init(&c->events);
    emu_fab.live++;
    return &c->ch;
}

void emu_destroy_event_channel(struct rdma_event_channel *ch)
{
    struct emu_evch *c = ech(ch);
    while (!dm_list_empty(&c->events)) {
        struct emu_event *ev = dm_list_first(&c->events, struct emu_event, link);
        dm_list_del(&ev->link);
        free(ev);
    }
    close(c->ch.fd);
    free(c);
    emu_fab.live--;
}

int emu_get_cm_event(struct rdma_event_channel *ch, struct rdma_cm_event **out)
{
    struct emu_evch *c = ech(ch);
    if (dm_list_empty(&c->events))
        return fail(EAGAIN);
    struct emu_event *ev = dm_list_first(&c->events, struct emu_event, link);
    dm_list_del(&ev->link);
    if (dm_list_empty(&c->events))
        emu_drain_fd(ch->fd);
    *out = &ev->ev;
    return 0;
}

int emu_ack_cm_event(struct rdma_cm_event *e)
{
    free(dm_container_of(e, struct emu_event, ev));
    return 0;
}

int emu_create_id(struct rdma_event_channel *ch, struct rdma_cm_id **out, void *context, enum rdma_port_space ps)
{
    if (!ch || !out)
        return fail(EINVAL);
    if (ps != RDMA_PS_TCP)
        return fail(EPROTONOSUPPORT); /* the emulation models RC over the TCP port space */
    struct emu_id *e = calloc(1, sizeof(*e));
    if (!e)
        return fail(ENOMEM);
    e->id.channel = ch;
    e->id.context = context;
    e->id.ps = ps;
    e->id.qp_type = IBV_QPT_RC;
    dm_list_init(&e->bind_link);
    dm_list_add_tail(&emu_fab.all_ids, &e->all_link);
    emu_fab.live++;
    *out = &e->id;
    return 0;
}

/* --- the port table ----------------------------------------------------- */

static int port_taken(in_addr_t ip, uint16_t port)
{
    struct dm_list *pos, *tmp;
    dm_list_for_each_safe(pos, tmp, &emu_fab.ids) {
        struct emu_id *o = dm_list_entry(pos, struct emu_id, bind_link);
        const struct sockaddr_in *a = &o->id.route.addr.src_sin;
        if (a->sin_port == port &&
            (a->sin_addr.s_addr == ip || a->sin_addr.s_addr == INADDR_ANY || ip == INADDR_ANY))
            return 1;
    }
    return 0;
}

static int take_port(struct emu_id *e, const struct sockaddr_in *sin)
{
    uint16_t port = sin->sin_port;
    if (port == 0) {
        for (int tries = 0; tries < 28232 && !port; tries++) {
            uint16_t p = emu_fab.next_port++;
            if (emu_fab.next_port >= 61000)
                emu_fab.next_port = 32768;
            if (!port_taken(sin->sin_addr.s_addr, htons(p)))
                port = htons(p);
        }
        if (!port)
            return fail(EADDRNOTAVAIL);
    } else if (port_taken(sin->sin_addr.s_addr, port)) {
        return fail(EADDRINUSE);
    }
    e->id.route.addr.src_sin = *sin;
    e->id.route.addr.src_sin.sin_port = port;
    e->id.verbs = &emu_fab.ctx;
    e->has_port = 1;
    dm_list_add_tail(&emu_fab.ids, &e->bind_link);
    return 0;
}

int emu_bind_addr(struct rdma_cm_id *id, struct sockaddr *addr)
{
    struct emu_id *e = eid(id);
    if (!addr)
        return fail(EINVAL);
    if (addr->sa_family != AF_INET)
        return fail(EAFNOSUPPORT);
    if (e->state != EID_IDLE)
        return fail(EINVAL);
    if (take_port(e, (const struct sockaddr_in *)addr) < 0)
        return -1;
    e->state = EID_BOUND;
    return 0;
}

int emu_listen(struct rdma_cm_id *id, int backlog)
{
    struct emu_id *e = eid(id);
    if (e->state == EID_IDLE) {
        struct sockaddr_in any = {.sin_family = AF_INET};
        if (take_port(e, &any) < 0)
            return -1;
        e->state = EID_BOUND;
    }
    if (e->state != EID_BOUND && e->state != EID_LISTEN)
        return fail(EINVAL);
    e->state = EID_LISTEN;
    e->backlog = backlog > 0 ? backlog : 1;
    return 0;
}

int emu_resolve_addr(struct rdma_cm_id *id, struct sockaddr *src, struct sockaddr *dst, int timeout_ms)
{
    (void)timeout_ms;
    struct emu_id *e = eid(id);
    if (!dst)
        return fail(EINVAL);
    if (dst->sa_family != AF_INET || (src && src->sa_family != AF_INET))
        return fail(EAFNOSUPPORT);
    const struct sockaddr_in *d = (const struct sockaddr_in *)dst;
    if (e->state == EID_IDLE) {
        /* Implicit bind: the source is the given address, else (as on
         * loopback) the destination's address, with an ephemeral port. */
        struct sockaddr_in s = {.sin_family = AF_INET};
        s.sin_addr = src ? ((const struct sockaddr_in *)src)->sin_addr : d->sin_addr;
        if (take_port(e, &s) < 0)
            return -1;
    } else if (e->state != EID_BOUND) {
        return fail(EINVAL);
    } else if (e->id.route.addr.src_sin.sin_addr.s_addr == INADDR_ANY) {
        e->id.route.addr.src_sin.sin_addr = d->sin_addr;
    }
    e->id.route.addr.dst_sin = *d;
    e->state = EID_ADDR;
    queue_event(e, NULL, RDMA_CM_EVENT_ADDR_RESOLVED, 0, NULL, 0);
    return 0;
}

int emu_resolve_route(struct rdma_cm_id *id, int timeout_ms)
{
    (void)timeout_ms;
    struct emu_id *e = eid(id);
    if (e->state != EID_ADDR)
        return fail(EINVAL);
    e->state = EID_ROUTE;
    queue_event(e, NULL, RDMA_CM_EVENT_ROUTE_RESOLVED, 0, NULL, 0);
    return 0;
}

int emu_create_qp(struct rdma_cm_id *id, struct ibv_pd *pd, struct ibv_qp_init_attr *attr)
{
    if (id->qp)
        return fail(EINVAL);
    if (!id->verbs)
        return fail(EINVAL); /* no device yet: bind or resolve first */
    struct emu_qp *q = emu_qp_create(id->verbs, pd, attr);
    if (!q)
        return -1;
    id->qp = &q->qp;
    id->pd = pd;
    id->send_cq = attr->send_cq;
    id->recv_cq = attr->recv_cq;
    return 0;
}

void emu_destroy_qp(struct rdma_cm_id *id)
{
    struct emu_qp *q = eqp(id);
    if (!q)
        return;
    emu_qp_destroy(q);
    id->qp = NULL;
}

static struct emu_id *find_listener(const struct sockaddr_in *d)
{
    struct dm_list *pos, *tmp;
    struct emu_id *any = NULL;
    dm_list_for_each_safe(pos, tmp, &emu_fab.ids) {
        struct emu_id *o = dm_list_entry(pos, struct emu_id, bind_link);
        const struct sockaddr_in *a = &o->id.route.addr.src_sin;
        if (o->state != EID_LISTEN || a->sin_port != d->sin_port)
            continue;
        if (a->sin_addr.s_addr == d->sin_addr.s_addr)
            return o;
        if (a->sin_addr.s_addr == INADDR_ANY)
            any = o;
    }
    return any;
}

static void reject_client(struct emu_id *c, int status, const void *pdata, uint8_t plen)
{
    c->peer = NULL;
    c->state = EID_ROUTE;
    emu_fab.ctr.rejects++;
    queue_event(c, NULL, RDMA_CM_EVENT_REJECTED, status, pdata, plen);
}

int emu_connect(struct rdma_cm_id *id, struct rdma_conn_param *param)
{
    struct emu_id *c = eid(id);
    if (c->state != EID_ROUTE || !id->qp || !param)
        return fail(EINVAL);
    eqp(id)->rnr_retry = param->rnr_retry_count;
    struct emu_id *l = find_listener(&id->route.addr.dst_sin);
    if (!l || l->nreq >= l->backlog) {
        reject_client(c, REJ_INVALID_SERVICE_ID, NULL, 0);
        return 0;
    }
    struct emu_id *s = calloc(1, sizeof(*s));
    if (!s)
        return fail(ENOMEM);
    emu_fab.live++;
    s->id.channel = l->id.channel;
    s->id.context = l->id.context;
    s->id.verbs = &emu_fab.ctx;
    s->id.ps = l->id.ps;
    s->id.qp_type = IBV_QPT_RC;
    s->id.route.addr.src_sin = l->id.route.addr.src_sin;
    s->id.route.addr.src_sin.sin_addr = id->route.addr.dst_sin.sin_addr;
    s->id.route.addr.dst_sin = id->route.addr.src_sin;
    dm_list_init(&s->bind_link);
    dm_list_add_tail(&emu_fab.all_ids, &s->all_link);
    s->state = EID_REQ;
    s->peer = c;
    s->listener = l;
    c->peer = s;
    c->state = EID_CONNECTING;
    l->nreq++;
    queue_event(s, l, RDMA_CM_EVENT_CONNECT_REQUEST, 0, param->private_data, param->private_data_len);
    return 0;
}

static void leave_listener(struct emu_id *s)
{
    if (s->listener) {
        s->listener->nreq--;
        s->listener = NULL;
    }
}

int emu_accept(struct rdma_cm_id *id, struct rdma_conn_param *param)
{
    struct emu_id *s = eid(id);
    if (s->state != EID_REQ || !id->qp)
        return fail(EINVAL);
    leave_listener(s);
    struct emu_id *c = s->peer;
    if (!c || !c->id.qp) {
        /* The connector went away meanwhile. */
        s->state = EID_DISCONNECTED;
        queue_event(s, NULL, RDMA_CM_EVENT_CONNECT_ERROR, -ECONNRESET, NULL, 0);
        return 0;
    }
    if (param)
        eqp(id)->rnr_retry = param->rnr_retry_count;
    emu_qp_connect(eqp(id), eqp(&c->id));
    s->state = c->state = EID_CONNECTED;
    queue_event(c, NULL, RDMA_CM_EVENT_ESTABLISHED, 0, param ? param->private_data : NULL,
                param ? param->private_data_len : 0);
    queue_event(s, NULL, RDMA_CM_EVENT_ESTABLISHED, 0, NULL, 0);
    return 0;
}

int emu_reject(struct rdma_cm_id *id, const void *pdata, uint8_t plen)
{
    struct emu_id *s = eid(id);
    if (s->state != EID_REQ)
        return fail(EINVAL);
    leave_listener(s);
    if (s->peer)
        reject_client(s->peer, REJ_CONSUMER_DEFINED, pdata, plen);
    s->peer = NULL;
    s->state = EID_DISCONNECTED;
    return 0;
}

/* Tears the connection down on both ends; `notify_self` is 0 when the id is
 * being destroyed (nobody is left to read its event). */
static void drop_connection(struct emu_id *e, int notify_self)
{
    struct emu_id *p = e->peer;
    if (eqp(&e->id))
        emu_qp_error(eqp(&e->id));
    if (p) {
        p->peer = NULL;
        if (p->state == EID_CONNECTED) {
            p->state = EID_DISCONNECTED;
            queue_event(p, NULL, RDMA_CM_EVENT_DISCONNECTED, 0, NULL, 0);
        }
        if (eqp(&e->id))
            emu_qp_unpair(eqp(&e->id));
    }
    e->peer = NULL;
    if (e->state == EID_CONNECTED) {
        e->state = EID_DISCONNECTED;
        if (notify_self)
            queue_event(e, NULL, RDMA_CM_EVENT_DISCONNECTED, 0, NULL, 0);
    }
}

int emu_disconnect(struct rdma_cm_id *id)
{
    struct emu_id *e = eid(id);
    if (e->state == EID_CONNECTED) {
        drop_connection(e, 1);
        return 0;
    }
    if (e->state == EID_DISCONNECTED) {
        if (eqp(id))
            emu_qp_error(eqp(id)); /* librdmacm moves the QP to error in any case */
        return 0;
    }
    return fail(EINVAL);
}

/* Removes the events of `e` still waiting on a channel; CONNECT_REQUESTs
 * for a listener that goes away are rejected and their new ids freed. */
static void purge_events(struct emu_id *e)
{
    struct emu_evch *ch = ech(e->id.channel);
    struct dm_list *pos, *tmp;
    dm_list_for_each_safe(pos, tmp, &ch->events) {
        struct emu_event *ev = dm_list_entry(pos, struct emu_event, link);
        if (ev->ev.listen_id == &e->id && ev->ev.event == RDMA_CM_EVENT_CONNECT_REQUEST) {
            struct emu_id *s = eid(ev->ev.id);
            if (s->peer)
                reject_client(s->peer, REJ_INVALID_SERVICE_ID, NULL, 0);
            dm_list_del(&ev->link);
            free(ev);
            dm_list_del(&s->all_link);
            free(s);
            emu_fab.live--;
            e->nreq--;
        } else if (ev->ev.id == &e->id) {
            dm_list_del(&ev->link);
            free(ev);
        }
    }
    if (dm_list_empty(&ch->events))
        emu_drain_fd(ch->ch.fd);
}

int emu_destroy_id(struct rdma_cm_id *id)
{
    struct emu_id *e = eid(id);
    switch (e->state) {
    case EID_CONNECTED:
        drop_connection(e, 0);
        break;
    case EID_CONNECTING:
        if (e->peer)
            e->peer->peer = NULL; /* the acceptor's rdma_accept gets CONNECT_ERROR */
        break;
    case EID_REQ:
        leave_listener(e);
        if (e->peer)
            reject_client(e->peer, REJ_CONSUMER_DEFINED, NULL, 0);
        break;
    default:
        break;
    }
    purge_events(e);
    /* Requests already handed to the application stay the app's; they
     * just forget their listener. */
    struct dm_list *pos, *tmp;
    dm_list_for_each_safe(pos, tmp, &emu_fab.all_ids) {
        struct emu_id *o = dm_list_entry(pos, struct emu_id, all_link);
        if (o->listener == e)
            o->listener = NULL;
    }
    dm_list_del(&e->all_link);
    if (id->qp)
        emu_destroy_qp(id);
    if (e->has_port)
        dm_list_del(&e->bind_link);
    free(e);
    emu_fab.live--;
    return 0;
}

static const char *emu_wc_status_str(enum ibv_wc_status s) { return rdma_real_wc_status_str(s); }
static const char *emu_event_str(enum rdma_cm_event_type e) { return rdma_real_event_str(e); }

const struct rdma_glue rdma_glue_emu = {
    .name = "emu",
    .emulated = 1,
    .get_device_list = emu_get_device_list,
    .free_device_list = emu_free_device_list,
    .query_device = emu_query_device,
    .alloc_pd = emu_alloc_pd,
    .dealloc_pd = emu_dealloc_pd,
    .reg_mr = emu_reg_mr,
    .dereg_mr = emu_dereg_mr,
    .create_comp_channel = emu_create_comp_channel,
    .destroy_comp_channel = emu_destroy_comp_channel,
    .create_cq = emu_create_cq,
    .destroy_cq = emu_destroy_cq,
    .req_notify_cq = emu_req_notify_cq,
    .get_cq_event = emu_get_cq_event,
    .ack_cq_events = emu_ack_cq_events,
    .poll_cq = emu_poll_cq,
    .post_send = emu_post_send,
    .post_recv = emu_post_recv,
    .create_event_channel = emu_create_event_channel,
    .destroy_event_channel = emu_destroy_event_channel,
    .create_id = emu_create_id,
    .destroy_id = emu_destroy_id,
    .bind_addr = emu_bind_addr,
    .listen = emu_listen,
    .resolve_addr = emu_resolve_addr,
    .resolve_route = emu_resolve_route,
    .create_qp = emu_create_qp,
    .destroy_qp = emu_destroy_qp,
    .connect = emu_connect,
    .accept = emu_accept,
    .reject = emu_reject,
    .disconnect = emu_disconnect,
    .get_cm_event = emu_get_cm_event,
    .ack_cm_event = emu_ack_cm_event,
    .wc_status_str = emu_wc_status_str,
    .event_str = emu_event_str,
};
