/* SPDX-License-Identifier: MIT */
/*
 * stacks/uring: socket lifetime and the synchronous control calls.
 *
 * socket/bind/listen/sockopt/name calls go straight to the kernel (they
 * do not wait, so an SQE would only add latency) and return its errno.
 * Each socket gets a slot in the ring's fixed-file table when one is free.
 *
 * shutdown: SHUT_RD is local (pops see end of stream once the queued data
 * is consumed); the kernel shutdown is an SQE issued only once every
 * pending push has been sent, so a FIN never overtakes data.
 *
 * close: detaches the socket from its queue (no op is touched again),
 * releases queued data, cancels the in-flight requests, and when the last
 * of their CQEs came back closes the fixed slot and the fd with SQEs and
 * frees the socket. The slot returns to the free list only when its close
 * CQE arrived, so a new socket can never be hit by the old close.
 */
#include <errno.h>
#include <limits.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include "dm/log.h"
#include "uring.h"

static void ur_req_init(struct ur_req *r, struct ur_sock *s, uint8_t kind)
{
    r->kind = kind;
    r->s = s;
}

struct ur_sock *ur_sock_new(struct ur_stack *st, int fd, int type)
{
    struct ur_sock *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->st = st;
    s->fd = fd;
    s->slot = -1;
    s->type = (uint8_t)type;
    dm_list_init(&s->link);
    dm_list_init(&s->slink);
    ur_req_init(&s->rx, s, UR_RQ_RX);
    ur_req_init(&s->tx, s, UR_RQ_TX);
    ur_req_init(&s->acc, s, UR_RQ_ACCEPT);
    ur_req_init(&s->conn, s, UR_RQ_CONNECT);
    ur_req_init(&s->shut, s, UR_RQ_SHUT);
    dm_list_add_tail(&st->socks, &s->alink);
    return s;
}

void ur_sock_take_slot(struct ur_sock *s)
{
    struct ur_stack *st = s->st;
    s->slot_later = 0;
    if (s->slot >= 0 || !(st->feat & UR_F_FIXED_FILES))
        return;
    int slot = ur_slot_get(st);
    if (slot < 0)
        return;
    if (io_uring_register_files_update(&st->ring, (unsigned)slot, &s->fd, 1) == 1)
        s->slot = slot;
    else
        ur_slot_put(st, slot); /* (EEXIST: not the ring's thread) */
}

/* The same without a syscall: an IORING_OP_FILES_UPDATE SQE, which the
 * kernel runs inline at the next submit, before the SQEs queued after it
 * that name the slot (it issues them in ring order). One
 * io_uring_register a connection was a tenth of nginx's syscalls with
 * Connection: close. The kernel reads the fd when it consumes the SQE,
 * not when it is queued, and the socket may be gone by then: the fd is
 * kept in slot_set_fds at the SQE's own index, which is not handed out
 * again before the kernel consumed it. */
void ur_sock_take_slot_sqe(struct ur_sock *s)
{
    struct ur_stack *st = s->st;
    s->slot_later = 0;
    if (s->slot >= 0 || !(st->feat & UR_F_FIXED_FILES))
        return;
    unsigned n = st->ring.sq.ring_entries;
    if (dm_unlikely(st->slot_set_cap < n)) {
        int *a = realloc(st->slot_set_fds, n * sizeof(*a));
        if (!a) {
            ur_sock_take_slot(s);
            return;
        }
        st->slot_set_fds = a;
        st->slot_set_cap = n;
    }
    int slot = ur_slot_get(st);
    if (slot < 0)
        return;
    struct io_uring_sqe *sqe = ur_sqe(st);
    if (!sqe) {
        ur_slot_put(st, slot);
        return;
    }
    unsigned idx = (unsigned)(sqe - st->ring.sq.sqes);
    st->slot_set_fds[idx] = dm_likely(!st->slot_refuse) ? s->fd : INT_MAX; /* (no such fd) */
    st->slot_refuse = false;
    io_uring_prep_files_update(sqe, &st->slot_set_fds[idx], 1, slot);
    io_uring_sqe_set_data64(sqe, UR_UD_SLOT_SET(slot));
    s->slot = slot;
}

/* A refusal (no kernel memory for the table's node) leaves the slot
 * empty: the socket goes on through its fd, and the requests already
 * issued on the slot, which fail with EBADF, are issued again
 * (ur_dispatch). A socket closed meanwhile gives the slot back through
 * its slot's close. */
void ur_slot_set_cqe(struct ur_stack *st, int slot, int res)
{
    if (dm_likely(res == 1))
        return;
    st->c.slot_set_fail++;
    dm_log_once(UR_MOD, "a socket's fixed-file slot was refused by the kernel (%s): it is served through its fd",
                strerror(res < 0 ? -res : EIO));
    struct dm_list *pos;
    dm_list_for_each(pos, &st->socks) {
        struct ur_sock *s = dm_list_entry(pos, struct ur_sock, alink);
        if (s->slot == slot && s->q) {
            s->slot = -1;
            s->slot_lost = 1;
            ur_slot_put(st, slot);
            return;
        }
    }
}

static void ur_sock_unlink(struct ur_sock *s)
{
    if (s->in_retry) {
        dm_list_del(&s->link);
        s->in_retry = 0;
    }
    if (s->in_starved) {
        dm_list_del(&s->slink);
        s->in_starved = 0;
    }
    dm_list_del(&s->alink);
}

void ur_sock_finish(struct ur_sock *s)
{
    struct ur_stack *st = s->st;
    if (s->q || s->nr_inflight)
        return;
    if (s->slot >= 0) {
        struct io_uring_sqe *sqe = ur_sqe(st);
        if (!sqe) {
            ur_retry_later(s, UR_NEED_FINISH);
            return;
        }
        io_uring_prep_close_direct(sqe, (unsigned)s->slot);
        io_uring_sqe_set_data64(sqe, UR_UD_SLOT(s->slot));
        s->slot = -1;
    }
    if (s->fd >= 0) {
        struct io_uring_sqe *sqe = ur_sqe(st);
        if (!sqe) {
            ur_retry_later(s, UR_NEED_FINISH);
            return;
        }
        io_uring_prep_close(sqe, s->fd);
        io_uring_sqe_set_data64(sqe, UR_UD_IGNORE);
        s->fd = -1;
    }
    ur_sock_unlink(s);
    free(s);
}

void ur_sock_maybe_finish(struct ur_sock *s)
{
    if (!s->q && s->nr_inflight == 0)
        ur_sock_finish(s);
}

/* Another instance takes the connection over (the preload's socket moves
 * to the thread that uses it): only when nothing of it is in flight or
 * queued here, so no completion can come for it in this ring. */
int ur_detach(void *stp, struct dm_queue *q)
{
    (void)stp;
    struct ur_sock *s = q->priv;
    /* (a fixed slot could only be dropped by an SQE this ring's thread
     * submits, and it holds the file open until then: the FIN of a close
     * in the other instance would wait for it. Movable accepted sockets
     * take their slot at their first pop, in the instance that pops.) */
    if (!s || s->type != SOCK_STREAM || s->state != UR_S_CONNECTED || s->nr_inflight || s->rxq_count ||
        s->ovf_head || s->rx_buf || s->need || s->tx_nsegs || s->tx_held || s->tx_zc || s->eof || s->rx_err ||
        s->shut_rd || s->shut_wr || s->slot >= 0)
        return -EBUSY;
    int fd = s->fd;
    ur_sock_unlink(s);
    q->priv = NULL;
    free(s);
    return fd;
}

int ur_adopt(void *stp, struct dm_queue *q, int fd)
{
    struct ur_sock *s = ur_sock_new(stp, fd, SOCK_STREAM);
    if (!s)
        return -ENOMEM;
    ur_sock_take_slot_sqe(s);
    s->state = UR_S_CONNECTED;
    s->q = q;
    q->priv = s;
    return 0;
}

/* A forked child's copy of the instance: the connections accepted ahead
 * and the sockets being closed are the parent's to serve or close. */
void ur_fork_child(struct ur_stack *st)
{
    struct dm_list *pos;
    dm_list_for_each(pos, &st->socks) {
        struct ur_sock *s = dm_list_entry(pos, struct ur_sock, alink);
        for (uint32_t i = 0; i < s->accq_count; i++)
            close(s->accq[(s->accq_head + i) % s->accq_cap].fd);
        if (!s->q && s->fd >= 0)
            close(s->fd);
    }
}

/* Asks the kernel to cancel every in-flight request of s. */
void ur_cancel_all(struct ur_sock *s)
{
    struct ur_req *reqs[] = { &s->rx, &s->tx, &s->acc, &s->conn, &s->shut };
    for (unsigned i = 0; i < DM_ARRAY_SIZE(reqs); i++) {
        struct ur_req *r = reqs[i];
        if (!r->inflight || r->canceling)
            continue;
        struct io_uring_sqe *sqe = ur_sqe(s->st);
        if (!sqe) {
            ur_retry_later(s, UR_NEED_CANCEL);
            return;
        }
        io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)r, 0);
        io_uring_sqe_set_data64(sqe, UR_UD_IGNORE);
        r->canceling = 1;
    }
}

/* Instance teardown: the ring goes away right after, so no SQE. */
void ur_sock_free_now(struct ur_sock *s)
{
    if (s->q) {
        s->q->priv = NULL;
        s->q = NULL;
    }
    if (s->tx_held || s->tx_zc) {
        for (unsigned i = 0; i < s->tx_nsegs; i++)
            dm_buf_free_seg(s->tx_segs[i]);
        s->tx_nsegs = 0;
    }
    ur_rx_drop_all(s);
    if (s->rx_buf) {
        dm_buf_free(s->rx_buf);
        s->rx_buf = NULL;
    }
    ur_acc_drop_all(s);
    if (s->fd >= 0)
        close(s->fd);
    ur_sock_unlink(s);
    free(s);
}

int ur_socket(void *stp, struct dm_queue *q, int domain, int type, int protocol)
{
    struct ur_stack *st = stp;
    if (domain != AF_INET && domain != AF_INET6)
        return -EAFNOSUPPORT;
    int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (base != SOCK_STREAM && base != SOCK_DGRAM)
        return -ESOCKTNOSUPPORT;
    /* Blocking fd on purpose: io_uring then waits for readiness itself
     * instead of completing with EAGAIN. */
    int fd = socket(domain, base | SOCK_CLOEXEC, protocol);
    if (fd < 0)
        return -errno;
    struct ur_sock *s = ur_sock_new(st, fd, base);
    if (!s) {
        close(fd);
        return -ENOMEM;
    }
    s->family = domain;
    ur_sock_take_slot(s);
    s->q = q;
    q->priv = s;
    return 0;
}

int ur_bind(void *stp, struct dm_queue *q, const union dm_sockaddr *addr)
{
    (void)stp;
    struct ur_sock *s = q->priv;
    if (bind(s->fd, &addr->sa, dm_addr_len(&addr->sa)) < 0)
        return -errno;
    s->bound = 1;
    return 0;
}

int ur_listen(void *stp, struct dm_queue *q, int backlog)
{
    (void)stp;
    struct ur_sock *s = q->priv;
    if (s->type != SOCK_STREAM)
        return -EOPNOTSUPP;
    if (listen(s->fd, backlog) < 0)
        return -errno;
    if (!s->accq) {
        /* Connections accepted ahead of accept ops wait here (multishot
         * accept); beyond cap the multishot is paused and the kernel's
         * backlog holds the rest. */
        uint32_t cap = backlog < 16 ? 16 : backlog > 4096 ? 4096 : (uint32_t)backlog;
        s->accq = calloc(cap, sizeof(*s->accq));
        if (!s->accq)
            return -ENOMEM;
        s->accq_cap = cap;
    }
    s->state = UR_S_LISTEN;
    return 0;
}

void ur_shut_kick(struct ur_sock *s)
{
    if (!s->q || !s->shut_how || s->shut_sent || s->shut.inflight)
        return;
    /* A FIN must not overtake pushed data: wait until the sends drained. */
    if ((s->shut_how & 2) && !ur_tx_idle(s))
        return;
    struct io_uring_sqe *sqe = ur_sqe(s->st);
    if (!sqe) {
        ur_retry_later(s, UR_NEED_SHUT);
        return;
    }
    int how = s->shut_how == 3 ? SHUT_RDWR : s->shut_how == 2 ? SHUT_WR : SHUT_RD;
    io_uring_prep_shutdown(sqe, s->fd, how);
    ur_sqe_file(sqe, s);
    io_uring_sqe_set_data(sqe, &s->shut);
    ur_req_issued(&s->shut, false);
}

void ur_shut_cqe(struct ur_sock *s, int res)
{
    ur_req_done(&s->shut);
    if (res == -ECANCELED && s->st->moving) {
        ur_shut_kick(s); /* canceled by the old ring's owner exiting */
        return;
    }
    s->shut_sent = 1;
    if (res < 0 && res != -ENOTCONN)
        DM_DEBUG(UR_MOD, "shutdown(fd %d): %s", s->fd, strerror(-res));
    ur_rx_deliver(s);
}

int ur_shutdown(void *stp, struct dm_queue *q, int how)
{
    (void)stp;
    struct ur_sock *s = q->priv;
    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
        return -EINVAL;
    if (s->state != UR_S_CONNECTED) {
        /* Listening, unconnected or connecting: the kernel decides
         * (ENOTCONN, or stop listening), nothing is queued to wait for. */
        if (shutdown(s->fd, how) < 0)
            return -errno;
        if (how != SHUT_WR)
            s->shut_rd = 1;
        if (how != SHUT_RD)
            s->shut_wr = 1;
        ur_rx_deliver(s);
        return 0;
    }
    int bits = how == SHUT_RD ? 1 : how == SHUT_WR ? 2 : 3;
    if (s->shut_sent && (s->shut_how | bits) != s->shut_how)
        s->shut_sent = 0; /* a wider shutdown than the one already sent */
    s->shut_how |= bits;
    if (bits & 1)
        s->shut_rd = 1;
    if (bits & 2)
        s->shut_wr = 1;
    ur_shut_kick(s);
    ur_rx_deliver(s);
    return 0;
}

int ur_close(void *stp, struct dm_queue *q)
{
    (void)stp;
    struct ur_sock *s = q->priv;
    if (!s)
        return 0;
    s->q = NULL;
    q->priv = NULL;
    ur_tx_hold(s);
    ur_rx_drop_all(s);
    ur_acc_drop_all(s);
    ur_cancel_all(s);
    ur_sock_maybe_finish(s);
    return 0;
}

int ur_setsockopt(void *stp, struct dm_queue *q, int level, int name, const void *val, socklen_t len)
{
    (void)stp;
    struct ur_sock *s = q->priv;
    /* the pushes of a poll's turn go as one send (ur_tx_join), at its
     * kernel step: a cork of the kernel's would only hold them longer */
    if (level == IPPROTO_TCP && name == TCP_CORK && s->type == SOCK_STREAM)
        return len >= (socklen_t)sizeof(int) ? 0 : -EINVAL;
    if (setsockopt(s->fd, level, name, val, len) < 0)
        return -errno;
    if (level == SOL_SOCKET && name == SO_RCVBUF) {
        /* what Linux made of it (doubled, clamped): rxq's limit */
        int v = 0;
        socklen_t vl = sizeof(v);
        if (getsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &v, &vl) == 0 && v > 0)
            s->rcvbuf = (uint32_t)v;
    }
    return 0;
}

int ur_getsockopt(void *stp, struct dm_queue *q, int level, int name, void *val, socklen_t *len)
{
    (void)stp;
    struct ur_sock *s = q->priv;
    return getsockopt(s->fd, level, name, val, len) < 0 ? -errno : 0;
}

int ur_getsockname(void *stp, struct dm_queue *q, union dm_sockaddr *out)
{
    (void)stp;
    struct ur_sock *s = q->priv;
    socklen_t len = sizeof(*out);
    return getsockname(s->fd, (struct sockaddr *)out, &len) < 0 ? -errno : 0;
}

int ur_getpeername(void *stp, struct dm_queue *q, union dm_sockaddr *out)
{
    (void)stp;
    struct ur_sock *s = q->priv;
    socklen_t len = sizeof(*out);
    return getpeername(s->fd, (struct sockaddr *)out, &len) < 0 ? -errno : 0;
}
