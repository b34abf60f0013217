/* SPDX-License-Identifier: MIT */
/*
 * stacks/uring: sending (push).
 *
 * One send in flight per socket keeps the byte stream in order (two sends
 * racing on a TCP socket could interleave after a partial write). While it
 * is out, further pushes wait on the queue's op list; the next send gathers
 * all of them (up to UR_MAX_IOV segments) into one sendmsg, so a pipelining
 * application costs one SQE per batch, not per push. Progress within a
 * push is kept in op->bctx[0] (bytes already sent): a short send resumes
 * from there. A push completes when its last byte was accepted by the
 * kernel. UDP sends one datagram (one push) per sendmsg.
 *
 * SEND_ZC (pushes of at least DEMI_URING_ZC_MIN bytes when enabled): the
 * push completes on the first CQE, but the kernel may read the pages until
 * the notification CQE, so we hold our own references on the segments
 * until then. A socket closed while a plain send is in flight also takes
 * references (tx_held): the core frees the ops' chains after close().
 */
#include <errno.h>
#include <string.h>
#include "dm/log.h"
#include "uring.h"

#define UR_UDP_MAX_PAYLOAD 65507u

/* The registered-buffer index covering seg's memory, or -1. A pool is
 * registered the first time one of its buffers goes out zero-copy. */
int ur_fixbuf_index(struct ur_stack *st, const struct dm_buf *seg)
{
    if (!(st->feat & UR_F_FIXED_BUFFERS))
        return -1;
    const struct dm_buf *root = seg->shared ? seg->shared : seg;
    const struct dm_bufpool *pool = root->pool;
    if (!pool)
        return -1;
    unsigned i;
    for (i = 0; i < st->nfixbuf; i++)
        if (st->fixbuf[i].pool == pool)
            break;
    if (i == st->nfixbuf) {
        if (i == DM_ARRAY_SIZE(st->fixbuf))
            return -1;
        void *base;
        size_t len;
        dm_bufpool_region(pool, &base, &len);
        st->fixbuf[i].pool = pool;
        st->fixbuf[i].base = base;
        st->fixbuf[i].len = len;
        struct iovec iov = { .iov_base = base, .iov_len = len };
        st->fixbuf[i].ok = base && len && len <= (1u << 30) &&
                           io_uring_register_buffers_update_tag(&st->ring, i, &iov, NULL, 1) == 1;
        if (!st->fixbuf[i].ok && base && len)
            DM_INFO(UR_MOD, "buffer pool at %p (%zu bytes) not registered: zero-copy sends pin per send", base, len);
        st->nfixbuf++;
    }
    const uint8_t *b = st->fixbuf[i].base;
    if (!st->fixbuf[i].ok || seg->data < b || seg->data + seg->len > b + st->fixbuf[i].len)
        return -1;
    return (int)i;
}

bool ur_tx_idle(struct ur_sock *s)
{
    return !s->tx.inflight && (!s->q || !dm_queue_has_push(s->q));
}

static void ur_tx_release(struct ur_sock *s)
{
    if (s->tx_held || s->tx_zc) {
        for (unsigned i = 0; i < s->tx_nsegs; i++)
            dm_buf_free_seg(s->tx_segs[i]);
    }
    s->tx_held = 0;
    s->tx_zc = 0;
    s->tx_nsegs = 0;
}

void ur_tx_hold(struct ur_sock *s)
{
    if (!s->tx.inflight || s->tx_zc || s->tx_held)
        return;
    for (unsigned i = 0; i < s->tx_nsegs; i++)
        dm_buf_ref(s->tx_segs[i]);
    s->tx_held = 1;
}

/* The queued pushes' bytes not yet sent, in order, into tx_iov (at most
 * UR_MAX_IOV segments; UDP: the first push only, returned in *udp_op). */
static unsigned ur_tx_gather(struct ur_sock *s, uint32_t *total, struct dm_op **udp_op)
{
    unsigned n = 0;
    *total = 0;
    *udp_op = NULL;
    for (struct dm_list *pos = s->q->ops.next; pos != &s->q->ops && n < UR_MAX_IOV; pos = pos->next) {
        struct dm_op *op = dm_list_entry(pos, struct dm_op, qlink);
        if (op->opcode != DEMI_OPC_PUSH)
            continue;
        uint64_t off = op->bctx[0];
        for (struct dm_buf *seg = op->chain; seg && n < UR_MAX_IOV; seg = seg->next) {
            if (off >= seg->len) {
                off -= seg->len;
                continue;
            }
            s->tx_iov[n].iov_base = seg->data + off;
            s->tx_iov[n].iov_len = seg->len - off;
            s->tx_segs[n] = seg;
            *total += seg->len - (uint32_t)off;
            off = 0;
            n++;
        }
        if (s->type == SOCK_DGRAM) {
            *udp_op = op;
            break;
        }
    }
    return n;
}

/* A stream's plain send of n segments into sqe. */
static void ur_tx_prep_stream(struct ur_sock *s, struct io_uring_sqe *sqe, unsigned n)
{
    if (n == 1) {
        io_uring_prep_send(sqe, s->fd, s->tx_iov[0].iov_base, s->tx_iov[0].iov_len, MSG_NOSIGNAL);
    } else {
        memset(&s->tx_msg, 0, sizeof(s->tx_msg));
        s->tx_msg.msg_iov = s->tx_iov;
        s->tx_msg.msg_iovlen = n;
        io_uring_prep_sendmsg(sqe, s->fd, &s->tx_msg, MSG_NOSIGNAL);
    }
}

/* Pushes that come while the stream's send is prepared but its SQE is
 * still ours (in the SQ ring, not yet handed to the kernel: a turn's
 * sends wait for its end) join that send: the SQE is made again over all
 * of them, as the send after its completion would have gathered them.
 * One send, one segment: nginx's header (writev) and its file (sendfile)
 * went as two, each a TCP send and a packet for the peer to take (the
 * kernel sends them as two as well, with TCP_NODELAY). Not a zero-copy
 * send (its references are taken), nor with SQPOLL (the SQ thread reads
 * SQEs as they are published). */
static void ur_tx_join(struct ur_sock *s)
{
    struct ur_stack *st = s->st;
    struct io_uring_sq *sq = &st->ring.sq;
    if (!s->tx_sqe || s->tx_zc || s->tx_held || (st->feat & UR_F_SQPOLL))
        return;
    unsigned pos = s->tx_sqe_pos;
    /* published since (ur_sq_publish, a submit), or a ring that replaced
     * the one it was made in: the kernel's now */
    if (pos - sq->sqe_head >= sq->sqe_tail - sq->sqe_head || &sq->sqes[pos & sq->ring_mask] != s->tx_sqe ||
        s->tx_sqe->user_data != (uint64_t)(uintptr_t)&s->tx) {
        s->tx_sqe = NULL;
        return;
    }
    uint32_t total;
    struct dm_op *udp_op;
    unsigned n = ur_tx_gather(s, &total, &udp_op);
    if (n <= s->tx_nsegs)
        return;
    struct io_uring_sqe *sqe = s->tx_sqe;
    uint8_t flags = sqe->flags;
    int fd = sqe->fd;
    ur_tx_prep_stream(s, sqe, n);
    sqe->flags = flags; /* the fixed file's, as ur_sqe_file set them */
    sqe->fd = fd;
    io_uring_sqe_set_data(sqe, &s->tx);
    s->tx_nsegs = (uint16_t)n;
    s->tx_bytes = total;
    st->c.tx_joined++;
}

void ur_tx_kick(struct ur_sock *s)
{
    struct ur_stack *st = s->st;
    if (!s->q)
        return;
    if (s->tx.inflight) {
        if (s->type == SOCK_STREAM)
            ur_tx_join(s);
        return;
    }
    if (s->type == SOCK_STREAM && s->state != UR_S_CONNECTED)
        return;
    uint32_t total;
    struct dm_op *udp_op;
    unsigned n = ur_tx_gather(s, &total, &udp_op);
    if (n == 0 && !udp_op) {
        ur_shut_kick(s);
        return;
    }
    struct io_uring_sqe *sqe = ur_sqe(st);
    if (!sqe) {
        ur_retry_later(s, UR_NEED_TX);
        return;
    }
    int flags = MSG_NOSIGNAL;
    bool zc = false;
    if (s->type == SOCK_DGRAM) {
        memset(&s->tx_msg, 0, sizeof(s->tx_msg));
        if (udp_op->has_addr) {
            dm_addr_copy(&s->tx_to, (const struct sockaddr *)&udp_op->addr);
            s->tx_msg.msg_name = &s->tx_to;
            s->tx_msg.msg_namelen = dm_addr_len(&s->tx_to.sa);
        }
        s->tx_msg.msg_iov = s->tx_iov;
        s->tx_msg.msg_iovlen = n;
        io_uring_prep_sendmsg(sqe, s->fd, &s->tx_msg, flags);
    } else {
        /* Never MSG_WAITALL, whatever the ring: io_uring retries a short
         * WAITALL send itself and, when a retry fails after some bytes
         * went, posts only their count (io_send: done_io) - the error is
         * lost, and a reset's sk_err, which the kernel reports once, with
         * it: the next send gives EPIPE and the receive the end of stream
         * where Linux gives ECONNRESET. Without it a short send comes back
         * (resumed by the next SQE) and every error is in a CQE; a ring
         * that is replaced (auto mode) needs that too: a canceled send
         * has counted every byte it sent. */
        zc = st->zc_min && total >= st->zc_min && (st->feat & UR_F_SEND_ZC);
        int fb = zc && n == 1 ? ur_fixbuf_index(st, s->tx_segs[0]) : -1;
        if (!zc) {
            ur_tx_prep_stream(s, sqe, n);
        } else if (fb >= 0) {
            st->c.tx_zc_fixed++;
            io_uring_prep_send_zc_fixed(sqe, s->fd, s->tx_iov[0].iov_base, s->tx_iov[0].iov_len, flags, 0,
                                        (unsigned)fb);
        } else if (n == 1) {
            io_uring_prep_send_zc(sqe, s->fd, s->tx_iov[0].iov_base, s->tx_iov[0].iov_len, flags, 0);
        } else {
            memset(&s->tx_msg, 0, sizeof(s->tx_msg));
            s->tx_msg.msg_iov = s->tx_iov;
            s->tx_msg.msg_iovlen = n;
            io_uring_prep_sendmsg_zc(sqe, s->fd, &s->tx_msg, flags);
        }
        s->tx_sqe = zc ? NULL : sqe;
        s->tx_sqe_pos = st->ring.sq.sqe_tail - 1;
    }
    if (zc) {
        for (unsigned i = 0; i < n; i++)
            dm_buf_ref(s->tx_segs[i]);
        s->tx_zc = 1;
        st->c.tx_zc++;
    }
    s->tx_nsegs = (uint16_t)n;
    s->tx_bytes = total;
    ur_sqe_file(sqe, s);
    io_uring_sqe_set_data(sqe, &s->tx);
    ur_req_issued(&s->tx, false);
    st->c.tx_sends++;
}

static void ur_tx_fail_all(struct ur_sock *s, int err, bool only_first)
{
    struct dm_op *op;
    while ((op = dm_queue_first_op(s->q, DEMI_OPC_PUSH))) {
        dm_op_fail(op, err);
        if (only_first)
            break;
    }
}

/* Accounts `res` bytes the kernel took, in push order. */
static void ur_tx_consume(struct ur_sock *s, uint32_t res)
{
    struct dm_list *pos, *tmp;
    dm_list_for_each_safe(pos, tmp, &s->q->ops) {
        struct dm_op *op = dm_list_entry(pos, struct dm_op, qlink);
        if (op->opcode != DEMI_OPC_PUSH)
            continue;
        uint64_t rem = (op->chain ? op->chain->pkt_len : 0) - op->bctx[0];
        if (res >= rem) {
            res -= (uint32_t)rem;
            dm_op_complete_push(op);
            if (res == 0 && rem != 0)
                break;
        } else {
            op->bctx[0] += res;
            break;
        }
    }
}

void ur_tx_cqe(struct ur_sock *s, int res, uint32_t flags)
{
    struct ur_stack *st = s->st;
    if (flags & IORING_CQE_F_NOTIF) {
        /* Zero-copy: the kernel no longer reads our pages. */
        bool closed = !s->q;
        ur_tx_release(s);
        ur_req_done(&s->tx); /* may free s when closed */
        if (!closed) {
            ur_tx_kick(s);
            ur_shut_kick(s);
        }
        return;
    }
    bool more = flags & IORING_CQE_F_MORE; /* a notification follows */
    if (!s->q) {
        if (!more) {
            ur_tx_release(s);
            ur_req_done(&s->tx); /* may free s */
        }
        return;
    }
    if (!more && s->tx_zc)
        ur_tx_release(s);
    if (res >= 0) {
        st->c.tx_bytes += (uint64_t)res;
        if (s->type == SOCK_DGRAM) {
            struct dm_op *op = dm_queue_first_op(s->q, DEMI_OPC_PUSH);
            if (op)
                dm_op_complete_push(op);
        } else {
            if ((uint32_t)res < s->tx_bytes)
                st->c.tx_short++;
            ur_tx_consume(s, (uint32_t)res);
        }
    } else if (res != -EINTR && res != -EAGAIN && res != -ECANCELED) {
        /* UDP: that datagram failed (EMSGSIZE, ECONNREFUSED from an ICMP,
         * ...); TCP: the stream is broken, every queued push fails. */
        if (res == -ECONNRESET && s->type == SOCK_STREAM)
            s->tx_reset = 1;
        ur_tx_fail_all(s, -res, s->type == SOCK_DGRAM);
    }
    if (!more) {
        if (!s->tx_zc)
            s->tx_nsegs = 0;
        s->tx_sqe = NULL;
        ur_req_done(&s->tx);
        ur_tx_kick(s);
        ur_shut_kick(s);
    }
}

/* The peer has finished, and the reset that answers bytes sent after its
 * FIN (sk_err: EPIPE in CLOSE_WAIT) may have come already. Linux's send
 * reports it at the call; a push into the ring would report it a call
 * late, as a send that "worked". So a stream whose peer is gone asks the
 * kernel first: one getsockopt per send, only in that state, and once it
 * failed, every later send fails too (the kernel's send_shutdown). */
static int ur_tx_peer_error(struct ur_sock *s)
{
    if (s->tx_reset)
        return EPIPE;
    int err = 0;
    socklen_t l = sizeof(err);
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0 || err == 0)
        return 0;
    s->tx_reset = 1;
    return err;
}

int ur_push(void *stp, struct dm_queue *q, struct dm_op *op)
{
    (void)stp;
    struct ur_sock *s = q->priv;
    if (s->shut_wr)
        return -EPIPE;
    if (s->type == SOCK_STREAM) {
        if (s->state == UR_S_NEW || s->state == UR_S_LISTEN)
            return -ENOTCONN;
        if (dm_unlikely(s->eof)) {
            int err = ur_tx_peer_error(s);
            if (err)
                return -err;
        }
    } else {
        if (!op->has_addr && s->state != UR_S_CONNECTED)
            return -EDESTADDRREQ;
        if (op->chain && op->chain->pkt_len > UR_UDP_MAX_PAYLOAD)
            return -EMSGSIZE;
        if (op->chain && op->chain->nb_segs > UR_MAX_IOV)
            return -EMSGSIZE; /* cannot go as one datagram */
    }
    op->bctx[0] = 0;
    ur_tx_kick(s);
    return 0;
}
