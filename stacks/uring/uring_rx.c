/* SPDX-License-Identifier: MIT */
/*
 * stacks/uring: receiving (pop).
 *
 * Three ways in, picked per socket from the features in use:
 *  - TCP, multishot recv + buffer ring: one recv SQE stays armed for the
 *    life of the connection; each CQE names a ring buffer. The chunk is
 *    queued on the socket (rxq) and handed to the oldest pop as a dm_buf
 *    that wraps the ring buffer (no copy; freeing it recycles the buffer).
 *    When rxq holds rx_limit chunks nobody popped, or as many bytes as
 *    the application's SO_RCVBUF (Linux's doubled value), the multishot
 *    is canceled (rx_paused): the data then waits in the kernel's socket
 *    buffer and TCP flow control pushes back on the sender. Pops re-arm it.
 *    An empty buffer ring ends the multishot with ENOBUFS: the socket waits
 *    on st->starved until buffers are recycled, then re-arms.
 *  - TCP, buffer ring without multishot: one single-shot recv per pending
 *    pop, buffer picked by the kernel.
 *  - Otherwise (and always for UDP): one single-shot recv/recvmsg per
 *    pending pop into a dm_buf from the instance's pool.
 * Chunks that arrive while rxq is full (the kernel may post a few more
 * before the cancel lands) go to an overflow list: never dropped.
 */
#include <errno.h>
#include <string.h>
#include "dm/log.h"
#include "uring.h"

#define UR_UDP_MAX 65536u

static bool ur_rx_multishot(const struct ur_sock *s)
{
    return s->type == SOCK_STREAM && (s->st->feat & UR_F_MULTISHOT_RECV);
}

/* The kernel filled `last` to the end of its buffer and put the rest of
 * the stream at the start of another (bid, len bytes at 0): copy the
 * smaller part into the slack next to the larger, so they are one chunk.
 * Returns false when neither part fits the slack. */
static bool ur_rxq_join(struct ur_stack *st, struct ur_chunk *last, uint16_t bid, uint32_t len)
{
    struct ur_bufring *br = st->br;
    uint32_t slack = ur_br_slack(br);
    if (len <= last->len && len <= slack) {
        /* the rest goes after the end of last's buffer */
        memcpy(ur_br_ptr(br, last->bid, last->off + last->len), ur_br_addr(br, bid), len);
        last->len += len;
        ur_br_put(br, bid);
    } else if (last->len <= slack && last->len < len) {
        /* last goes before the start of the new buffer */
        memcpy(ur_br_ptr(br, bid, 0u - last->len), ur_br_ptr(br, last->bid, last->off), last->len);
        ur_br_put(br, last->bid);
        last->bid = bid;
        last->off = 0u - last->len;
        last->len += len;
    } else {
        return false;
    }
    st->c.rx_joined++;
    st->c.rx_join_bytes += DM_MIN(len, last->len - len);
    return true;
}

/* Nobody pops what is queued: take no more from the kernel, so that its
 * window closes as Linux's would with this SO_RCVBUF. */
static bool ur_rxq_full(const struct ur_sock *s)
{
    return s->rxq_count >= s->st->rx_limit || s->ovf_head || (s->rcvbuf && s->rxq_bytes >= s->rcvbuf);
}

/* Drained enough to take data again (half, so a slow reader does not
 * cancel and re-arm per chunk). */
static bool ur_rxq_drained(const struct ur_sock *s)
{
    return s->rxq_count <= s->st->rx_limit / 2 && !s->ovf_head && s->rxq_bytes <= s->rcvbuf / 2;
}

static void ur_rxq_push(struct ur_sock *s, struct dm_buf *b, uint16_t bid, uint32_t off, uint32_t len)
{
    struct ur_stack *st = s->st;
    s->rxq_bytes += len;
    if (!b && s->rxq_count && !s->ovf_head) {
        /* Incremental consumption: this chunk may continue the last one
         * queued in the same buffer (no other socket's receive between):
         * one chunk, one segment, one send for an echo. The last one's
         * reference keeps the buffer. */
        struct ur_chunk *last = &s->rxq[(s->rxq_head + s->rxq_count - 1) & (UR_RXQ_MAX - 1)];
        if (!last->b && last->bid == bid && last->off + last->len == off) {
            last->len += len;
            ur_br_put(st->br, bid);
            return;
        }
        /* Or it continues it across a buffer boundary. Only a chunk whose
         * data all lies in its own buffer (not already joined into the
         * slack) can end at the buffer's end. */
        if (!last->b && last->bid != bid && off == 0 && (int32_t)last->off >= 0 &&
            last->off + last->len == ur_br_size(st->br) && ur_rxq_join(st, last, bid, len))
            return;
    }
    if (dm_likely(s->rxq_count < UR_RXQ_MAX && !s->ovf_head)) {
        struct ur_chunk *c = &s->rxq[(s->rxq_head + s->rxq_count) & (UR_RXQ_MAX - 1)];
        c->b = b;
        c->bid = bid;
        c->off = off;
        c->len = len;
        s->rxq_count++;
        return;
    }
    /* Past the queue: make it a dm_buf now and keep it in order behind. */
    st->c.rx_overflow++;
    if (!b) {
        b = ur_br_wrap(st, bid, off, len);
        if (!b) {
            b = dm_buf_alloc_size(st->inst, len);
            if (b && dm_buf_append(b, len))
                memcpy(b->data, ur_br_ptr(st->br, bid, off), len);
            ur_br_put(st->br, bid);
            if (!b) {
                /* Out of every kind of memory: nothing left to hold it. */
                DM_ERR(UR_MOD, "fd %d: out of buffers, %u received bytes lost", s->fd, len);
                s->rxq_bytes -= len;
                return;
            }
        }
    }
    b->next = NULL;
    if (s->ovf_tail)
        s->ovf_tail->next = b;
    else
        s->ovf_head = b;
    s->ovf_tail = b;
}

/* The next chunk as a dm_buf (single segment), or NULL (none / no memory:
 * *nomem set, the chunk stays queued). */
static struct dm_buf *ur_rxq_take(struct ur_sock *s, bool *nomem)
{
    struct ur_stack *st = s->st;
    *nomem = false;
    if (s->rxq_count) {
        struct ur_chunk *c = &s->rxq[s->rxq_head];
        struct dm_buf *b = c->b;
        if (!b) {
            b = ur_br_wrap(st, c->bid, c->off, c->len);
            if (!b) {
                /* No bare header left: copy, and give the buffer back. */
                b = dm_buf_alloc_size(st->inst, c->len);
                if (!b || !dm_buf_append(b, c->len)) {
                    if (b)
                        dm_buf_free(b);
                    *nomem = true;
                    return NULL;
                }
                memcpy(b->data, ur_br_ptr(st->br, c->bid, c->off), c->len);
                ur_br_put(st->br, c->bid);
                st->c.rx_copied++;
            }
        }
        s->rxq_head = (s->rxq_head + 1) & (UR_RXQ_MAX - 1);
        s->rxq_count--;
        s->rxq_bytes -= c->len;
        return b;
    }
    if (s->ovf_head) {
        struct dm_buf *b = s->ovf_head;
        s->ovf_head = b->next;
        if (!s->ovf_head)
            s->ovf_tail = NULL;
        b->next = NULL;
        s->rxq_bytes -= b->len;
        return b;
    }
    return NULL;
}

void ur_rx_drop_all(struct ur_sock *s)
{
    bool nomem;
    while (s->rxq_count) {
        struct ur_chunk *c = &s->rxq[s->rxq_head];
        if (c->b)
            dm_buf_free(c->b);
        else
            ur_br_put(s->st->br, c->bid);
        s->rxq_head = (s->rxq_head + 1) & (UR_RXQ_MAX - 1);
        s->rxq_count--;
    }
    struct dm_buf *b;
    while ((b = ur_rxq_take(s, &nomem)))
        dm_buf_free(b);
    s->rxq_bytes = 0;
}

/* Hands queued chunks, then an error or end of stream, to pending pops. */
void ur_rx_deliver(struct ur_sock *s)
{
    struct dm_op *op;
    if (!s->q)
        return;
    while ((op = dm_queue_first_op(s->q, DEMI_OPC_POP))) {
        bool nomem;
        struct dm_buf *b = ur_rxq_take(s, &nomem);
        if (b) {
            dm_op_complete_pop(op, b, s->type == SOCK_DGRAM ? &s->rx_from.sa : NULL);
            continue;
        }
        if (nomem) {
            ur_retry_later(s, UR_NEED_RX); /* backpressure: try next poll */
            break;
        }
        if (s->rx_err) {
            /* As recv(2): the error once, then end of stream; a datagram
             * socket's (an ICMP's ECONNREFUSED) once, then it goes on. */
            int e = s->rx_err;
            s->rx_err = 0;
            if (s->type == SOCK_STREAM)
                s->eof = 1;
            dm_op_fail(op, e);
            if (s->type == SOCK_DGRAM)
                ur_rx_arm(s);
            continue;
        }
        if (s->eof || s->shut_rd) {
            dm_op_complete_pop(op, NULL, NULL);
            continue;
        }
        break;
    }
    if (s->rx_paused && ur_rxq_drained(s) && !s->rx.inflight) {
        s->rx_paused = 0;
        ur_rx_arm(s);
    }
}

void ur_rx_arm(struct ur_sock *s)
{
    struct ur_stack *st = s->st;
    if (!s->q || s->rx.inflight || s->eof || s->rx_err || s->shut_rd)
        return;
    if (s->type == SOCK_STREAM && s->state != UR_S_CONNECTED)
        return;
    bool ms = ur_rx_multishot(s);
    if (ms) {
        if (s->rx_paused || s->rx_starved)
            return;
        if (ur_rxq_full(s)) {
            /* Nobody popped what is queued (the multishot ended on an
             * empty ring, say): stay off until pops drained it. */
            s->rx_paused = 1;
            st->c.rx_paused++;
            return;
        }
    } else {
        /* Single shot: only for a pop that has nothing queued to take. */
        if (s->rxq_count || s->ovf_head || s->rx_starved || !dm_queue_first_op(s->q, DEMI_OPC_POP))
            return;
    }
    bool bufsel = s->type == SOCK_STREAM && (st->feat & UR_F_BUF_RING);
    struct dm_buf *b = NULL;
    if (!bufsel) {
        b = s->type == SOCK_DGRAM ? dm_buf_alloc_size(st->inst, UR_UDP_MAX) : dm_buf_alloc(st->inst);
        if (!b) {
            ur_retry_later(s, UR_NEED_RX);
            return;
        }
    }
    struct io_uring_sqe *sqe = ur_sqe(st);
    if (!sqe) {
        dm_buf_free(b);
        ur_retry_later(s, UR_NEED_RX);
        return;
    }
    if (bufsel) {
        if (ms)
            io_uring_prep_recv_multishot(sqe, s->fd, NULL, 0, 0);
        else
            io_uring_prep_recv(sqe, s->fd, NULL, 0, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = 0;
    } else if (s->type == SOCK_STREAM) {
        io_uring_prep_recv(sqe, s->fd, b->data + b->len, dm_buf_tailroom(b), 0);
    } else {
        s->rx_iov.iov_base = b->data + b->len;
        s->rx_iov.iov_len = DM_MIN(dm_buf_tailroom(b), UR_UDP_MAX);
        memset(&s->rx_msg, 0, sizeof(s->rx_msg));
        s->rx_msg.msg_name = &s->rx_from;
        s->rx_msg.msg_namelen = sizeof(s->rx_from);
        s->rx_msg.msg_iov = &s->rx_iov;
        s->rx_msg.msg_iovlen = 1;
        io_uring_prep_recvmsg(sqe, s->fd, &s->rx_msg, 0);
    }
    s->rx_buf = b;
    ur_sqe_file(sqe, s);
    io_uring_sqe_set_data(sqe, &s->rx);
    ur_req_issued(&s->rx, ms);
}

void ur_rx_cqe(struct ur_sock *s, int res, uint32_t flags)
{
    struct ur_stack *st = s->st;
    bool was_ms = s->rx.multishot;
    if (!(flags & IORING_CQE_F_MORE))
        ur_req_done(&s->rx); /* s->q is set: s stays */

    if (flags & IORING_CQE_F_BUFFER) {
        uint16_t bid = (uint16_t)(flags >> IORING_CQE_BUFFER_SHIFT);
        uint32_t off = ur_br_take(st->br, bid, res > 0 ? (uint32_t)res : 0, flags);
        if (res > 0) {
            st->c.rx_chunks++;
            st->c.rx_bytes += (uint64_t)res;
            ur_rxq_push(s, NULL, bid, off, (uint32_t)res);
        } else {
            ur_br_put(st->br, bid);
        }
    } else if (s->rx_buf && !s->rx.inflight) {
        struct dm_buf *b = s->rx_buf;
        s->rx_buf = NULL;
        if (res > 0 || (res == 0 && s->type == SOCK_DGRAM)) {
            dm_buf_append(b, (uint32_t)res);
            st->c.rx_chunks++;
            st->c.rx_bytes += (uint64_t)res;
            ur_rxq_push(s, b, 0, 0, (uint32_t)res);
        } else {
            dm_buf_free(b);
        }
    }

    if (res == 0 && s->type == SOCK_STREAM) {
        /* The kernel reports a reset once (sk_err), to whichever call
         * comes first; when our send took it, this receive sees only the
         * end. A recv would have seen ECONNRESET on Linux: give it that
         * (the send already failed with it, ur_tx_cqe). */
        if (s->tx_reset)
            s->rx_err = ECONNRESET;
        else
            s->eof = 1;
    } else if (res < 0) {
        switch (-res) {
        case ENOBUFS:
            /* The buffer ring is empty: wait for recycled buffers. */
            st->c.rx_enobufs++;
            s->rx_starved = 1;
            if (!s->in_starved) {
                s->in_starved = 1;
                dm_list_add_tail(&st->starved, &s->slink);
            }
            break;
        case ECANCELED:
        case EINTR:
        case EAGAIN:
            break;
        case EINVAL:
            if (was_ms) {
                /* A kernel without multishot recv: single shot from now. */
                dm_log_once(UR_MOD, "multishot recv refused by the kernel: single-shot recv");
                st->feat &= ~UR_F_MULTISHOT_RECV;
                break;
            }
            s->rx_err = EINVAL;
            break;
        default:
            s->rx_err = -res;
            break;
        }
    }
    /* The next CQE of this batch is more of the same receive: let it join
     * this chunk first (ur_rxq_push merges what is contiguous in one
     * buffer), so a message that came in two segments is one pop. */
    if (st->next_ud == (uint64_t)(uintptr_t)&s->rx && (flags & IORING_CQE_F_MORE) && res > 0) {
        st->c.rx_merged_wait++;
        return;
    }
    ur_rx_deliver(s);
    if (!s->rx.inflight) {
        ur_rx_arm(s);
    } else if (ur_rx_multishot(s) && ur_rxq_full(s) && !s->rx.canceling) {
        /* Nobody is popping: stop taking data from the kernel. */
        struct io_uring_sqe *sqe = ur_sqe(st);
        if (sqe) {
            io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&s->rx, 0);
            io_uring_sqe_set_data64(sqe, UR_UD_IGNORE);
            s->rx.canceling = 1;
            s->rx_paused = 1;
            st->c.rx_paused++;
        }
    }
}

/* Buffers came back to the ring: re-arm the sockets that ran dry, as many
 * as the free buffers can serve (an incrementally consumed buffer serves
 * several), so a thousand starved sockets do not all fail again at once. */
void ur_rx_rearm_starved(struct ur_stack *st)
{
    uint32_t budget = st->br ? ur_br_avail(st->br) * ((st->feat & UR_F_BUF_INC) ? 8 : 1) : 0;
    struct dm_list *pos, *tmp;
    dm_list_for_each_safe(pos, tmp, &st->starved) {
        struct ur_sock *s = dm_list_entry(pos, struct ur_sock, slink);
        if (budget == 0)
            break;
        budget--;
        dm_list_del(&s->slink);
        s->in_starved = 0;
        s->rx_starved = 0;
        ur_rx_arm(s);
    }
}

int ur_pop(void *stp, struct dm_queue *q, struct dm_op *op)
{
    (void)stp;
    struct ur_sock *s = q->priv;
    if (s->state == UR_S_LISTEN)
        return -ENOTCONN;
    if (s->type == SOCK_STREAM && s->state == UR_S_NEW && !s->eof && !s->rx_err)
        return -ENOTCONN;
    if (dm_unlikely(s->slot_later))
        ur_sock_take_slot_sqe(s);
    ur_rx_deliver(s);
    if (op->state == DM_OP_PENDING)
        ur_rx_arm(s);
    return 0;
}
