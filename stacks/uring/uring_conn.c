/* SPDX-License-Identifier: MIT */
/*
 * stacks/uring: accept and connect.
 *
 * Accept: with multishot accept, one SQE stays armed on a listening socket
 * from its first accept op on, and new connections are taken as the kernel
 * completes them, queued on the listener (accq) and handed to accept ops
 * in order. A full accq cancels the multishot (the kernel's backlog holds
 * the rest) until accept ops drain it. Without multishot: one accept SQE
 * per pending accept op. The peer address of a multishot accept comes from
 * getpeername() (the SQE has one address slot for all its completions).
 * An accepted socket gets its fixed-file slot and its multishot recv at
 * once, so data sent right after the handshake is already being received.
 *
 * Connect: an SQE for TCP; UDP connect only sets the default peer, which
 * the kernel does at once, so it is a plain call completed in place.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <unistd.h>
#include <sys/socket.h>
#include "dm/log.h"
#include "uring.h"

/* The listener closes: the connections accepted ahead of the
 * application are reset, as Linux's listener resets its accept queue. */
void ur_acc_drop_all(struct ur_sock *s)
{
    while (s->accq_count) {
        struct linger lg = { 1, 0 };
        (void)setsockopt(s->accq[s->accq_head].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(s->accq[s->accq_head].fd);
        s->accq_head = (s->accq_head + 1) % s->accq_cap;
        s->accq_count--;
    }
    free(s->accq);
    s->accq = NULL;
    s->accq_cap = 0;
}

static bool ur_acc_multishot(const struct ur_sock *s)
{
    return (s->st->feat & UR_F_MULTISHOT_ACCEPT) && !s->acc_single;
}

/* EINVAL from a multishot accept: the kernel refusing multishot, or a
 * listener that no longer listens (the application's shutdown(2)), which
 * must not cost the other listeners their multishot accepts. */
static bool ur_listening(const struct ur_sock *s)
{
    int on = 0;
    socklen_t l = sizeof(on);
    return getsockopt(s->fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &l) == 0 && on;
}

static int ur_accq_push(struct ur_sock *s, int fd, const union dm_sockaddr *addr)
{
    if (s->accq_count == s->accq_cap) {
        /* Completions that raced with our cancel: grow rather than drop. */
        uint32_t ncap = s->accq_cap * 2;
        struct ur_accepted *n = calloc(ncap, sizeof(*n));
        if (!n)
            return -ENOMEM;
        for (uint32_t i = 0; i < s->accq_count; i++)
            n[i] = s->accq[(s->accq_head + i) % s->accq_cap];
        free(s->accq);
        s->accq = n;
        s->accq_head = 0;
        s->accq_cap = ncap;
    }
    struct ur_accepted *a = &s->accq[(s->accq_head + s->accq_count) % s->accq_cap];
    a->fd = fd;
    a->has_addr = addr != NULL;
    if (addr)
        a->addr = *addr;
    s->accq_count++;
    return 0;
}

static void ur_acc_deliver(struct ur_sock *s)
{
    struct ur_stack *st = s->st;
    struct dm_op *op;
    while (s->q && s->accq_count && (op = dm_queue_first_op(s->q, DEMI_OPC_ACCEPT))) {
        struct ur_accepted *a = &s->accq[s->accq_head];
        struct dm_queue *nq = dm_queue_new(st->inst, SOCK_STREAM);
        if (!nq) {
            dm_op_fail(op, EMFILE); /* the connection stays queued */
            continue;
        }
        struct ur_sock *ns = ur_sock_new(st, a->fd, SOCK_STREAM);
        if (!ns) {
            dm_queue_discard(nq);
            dm_op_fail(op, ENOMEM);
            continue;
        }
        union dm_sockaddr peer;
        if (a->has_addr) {
            peer = a->addr;
        } else {
            socklen_t len = sizeof(peer);
            if (getpeername(a->fd, (struct sockaddr *)&peer, &len) < 0) {
                /* Reset before we got to it: report it as accepted anyway
                 * (its first pop gives the error), as accept(2) does. */
                memset(&peer, 0, sizeof(peer));
                peer.sa.sa_family = s->family;
            }
        }
        s->accq_head = (s->accq_head + 1) % s->accq_cap;
        s->accq_count--;
        ns->state = UR_S_CONNECTED;
        ns->rcvbuf = s->rcvbuf; /* as the kernel's accepted socket, the listener's */
        ns->q = nq;
        nq->priv = ns;
        st->c.accepts++;
        dm_op_complete_accept(op, nq, &peer.sa);
        /* received ahead of its first pop, unless it may still move to
         * another instance (DEMI_MOVABLE_ACCEPTS: then nothing is in
         * flight for it and no fixed slot taken until that pop) */
        if (st->movable_accepts) {
            ns->slot_later = 1;
        } else {
            ur_sock_take_slot(ns);
            ur_rx_arm(ns);
        }
    }
}

void ur_acc_arm(struct ur_sock *s)
{
    struct ur_stack *st = s->st;
    if (!s->q || s->acc.inflight || s->state != UR_S_LISTEN)
        return;
    bool ms = ur_acc_multishot(s);
    if (ms) {
        if (s->accq_count >= s->accq_cap / 2)
            return; /* paused until accept ops drain the queue */
    } else if (s->accq_count || !dm_queue_first_op(s->q, DEMI_OPC_ACCEPT)) {
        return;
    }
    struct io_uring_sqe *sqe = ur_sqe(st);
    if (!sqe) {
        ur_retry_later(s, UR_NEED_ACCEPT);
        return;
    }
    if (ms) {
        io_uring_prep_multishot_accept(sqe, s->fd, NULL, NULL, SOCK_CLOEXEC);
    } else {
        s->acc_addrlen = sizeof(s->acc_addr);
        io_uring_prep_accept(sqe, s->fd, (struct sockaddr *)&s->acc_addr, &s->acc_addrlen, SOCK_CLOEXEC);
    }
    ur_sqe_file(sqe, s);
    io_uring_sqe_set_data(sqe, &s->acc);
    ur_req_issued(&s->acc, ms);
}

void ur_acc_cqe(struct ur_sock *s, int res, uint32_t flags)
{
    struct ur_stack *st = s->st;
    bool was_ms = s->acc.multishot;
    if (!(flags & IORING_CQE_F_MORE))
        ur_req_done(&s->acc);
    if (res >= 0) {
        if (ur_accq_push(s, res, was_ms ? NULL : &s->acc_addr) < 0) {
            close(res); /* out of memory: the peer sees a reset */
            DM_ERR(UR_MOD, "accept queue: out of memory, connection dropped");
        }
    } else if (res == -EINVAL && was_ms && !ur_listening(s)) {
        /* shut down: single-shot from now on, one per accept, each of
         * which fails as Linux's does (no multishot re-armed in a loop) */
        s->acc_single = 1;
    } else if (res == -EINVAL && was_ms) {
        dm_log_once(UR_MOD, "multishot accept refused by the kernel: single-shot accept");
        st->feat &= ~UR_F_MULTISHOT_ACCEPT;
    } else if (res != -ECANCELED && res != -EINTR && res != -EAGAIN) {
        /* EMFILE, ENFILE, ENOBUFS, ...: as accept(2), to the oldest op. */
        struct dm_op *op = dm_queue_first_op(s->q, DEMI_OPC_ACCEPT);
        if (op)
            dm_op_fail(op, -res);
    }
    ur_acc_deliver(s);
    if (!s->acc.inflight) {
        ur_acc_arm(s);
    } else if (was_ms && s->accq_count >= s->accq_cap && !s->acc.canceling) {
        struct io_uring_sqe *sqe = ur_sqe(st);
        if (sqe) {
            io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&s->acc, 0);
            io_uring_sqe_set_data64(sqe, UR_UD_IGNORE);
            s->acc.canceling = 1;
            st->c.accept_paused++;
        }
    }
}

int ur_accept(void *stp, struct dm_queue *q, struct dm_op *op)
{
    (void)stp;
    struct ur_sock *s = q->priv;
    if (s->state != UR_S_LISTEN)
        return -EINVAL;
    (void)op;
    ur_acc_deliver(s);
    ur_acc_arm(s); /* also re-arms a multishot paused by a full queue */
    return 0;
}

void ur_conn_submit(struct ur_sock *s)
{
    if (!s->q || s->conn.inflight || s->state != UR_S_CONNECTING)
        return;
    struct io_uring_sqe *sqe = ur_sqe(s->st);
    if (!sqe) {
        ur_retry_later(s, UR_NEED_CONNECT);
        return;
    }
    if (s->conn_resume) /* the kernel is connecting already: wait for the end */
        io_uring_prep_poll_add(sqe, s->fd, POLLOUT);
    else
        io_uring_prep_connect(sqe, s->fd, &s->peer.sa, dm_addr_len(&s->peer.sa));
    ur_sqe_file(sqe, s);
    io_uring_sqe_set_data(sqe, &s->conn);
    ur_req_issued(&s->conn, false);
}

void ur_conn_cqe(struct ur_sock *s, int res)
{
    ur_req_done(&s->conn);
    if (s->conn_resume && res >= 0) {
        /* POLLOUT: the connect ended; SO_ERROR says how */
        int err = 0;
        socklen_t len = sizeof(err);
        res = getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 ? -errno : -err;
        s->conn_resume = 0;
    }
    struct dm_op *op = dm_queue_first_op(s->q, DEMI_OPC_CONNECT);
    if (res == 0) {
        s->state = UR_S_CONNECTED;
        if (op)
            dm_op_complete_connect(op);
        ur_rx_arm(s);
        ur_tx_kick(s);
        return;
    }
    if (res == -EINTR || res == -EAGAIN) {
        ur_conn_submit(s);
        return;
    }
    if (res == -ECANCELED && s->st->moving) {
        /* the old ring's owner exited and the kernel canceled its
         * requests; the socket goes on connecting */
        s->conn_resume = 1;
        ur_conn_submit(s);
        return;
    }
    /* Refused, unreachable, timed out: the socket can connect again. */
    s->state = UR_S_NEW;
    s->conn_resume = 0;
    if (op)
        dm_op_fail(op, ur_map_err(res));
    struct dm_op *o;
    while ((o = dm_queue_first_op(s->q, DEMI_OPC_PUSH)))
        dm_op_fail(o, ur_map_err(res));
    while ((o = dm_queue_first_op(s->q, DEMI_OPC_POP)))
        dm_op_fail(o, ur_map_err(res));
}

int ur_connect(void *stp, struct dm_queue *q, struct dm_op *op)
{
    (void)stp;
    struct ur_sock *s = q->priv;
    if (s->type == SOCK_DGRAM) {
        if (connect(s->fd, (const struct sockaddr *)&op->addr, dm_addr_len((const struct sockaddr *)&op->addr)) < 0)
            return -errno;
        s->state = UR_S_CONNECTED;
        dm_op_complete_connect(op);
        return 0;
    }
    switch (s->state) {
    case UR_S_CONNECTED: return -EISCONN;
    case UR_S_CONNECTING: return -EALREADY;
    case UR_S_LISTEN: return -EISCONN;
    default: break;
    }
    dm_addr_copy(&s->peer, (const struct sockaddr *)&op->addr);
    s->state = UR_S_CONNECTING;
    ur_conn_submit(s);
    return 0;
}
