/* SPDX-License-Identifier: MIT */
/*
 * The data path of the shim: recv/send in all their forms over the socket's
 * receive buffer and the datapath's push.
 *
 * Receive: popped sgarrays wait in the socket's ring (rx); a read copies
 * out what fits and remembers the offset, so reading fewer bytes than a
 * segment returns the rest next time (stream) - or, for a datagram,
 * discards it as Linux does (MSG_TRUNC tells). Consuming data re-posts the
 * pop when the ring had been full (flow control back to the backend).
 *
 * Send: the bytes are copied into pool buffers (a chain) and pushed; the
 * push completes later. Up to DEMI_SNDBUF bytes may be in flight per socket,
 * which is what EPOLLOUT and EAGAIN mean here. A failed push makes later
 * sends fail with the error, then EPIPE (+ SIGPIPE unless MSG_NOSIGNAL).
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include "dm/buf.h"
#include "dm/instance.h"
#include "dm/log.h"
#include "dm/time.h"
#include "interpose/real.h"
#include "shim/shim.h"

#define SHIM_PUSH_MAX (64u * 1024u) /* bytes per push */

struct iovcur {
    const struct iovec *iov;
    size_t cnt, idx, off;
};

/* The bytes of an iovec array, checked as Linux checks it; `copies`: its
 * buffers will be read or written (not a TCP MSG_TRUNC receive). */
static size_t iov_total(const struct iovec *iov, size_t cnt, int *err, bool copies)
{
    size_t t = 0;
    *err = 0;
    if (cnt > IOV_MAX) {
        *err = -EMSGSIZE;
        return 0;
    }
    if (cnt && shim_bad_ptr(iov)) {
        *err = -EFAULT;
        return 0;
    }
    bool fault = false;
    for (size_t i = 0; i < cnt; i++) {
        if ((ssize_t)iov[i].iov_len < 0 || t + iov[i].iov_len < t || t + iov[i].iov_len > SSIZE_MAX) {
            *err = -EINVAL; /* (before EFAULT, as import_iovec) */
            return 0;
        }
        t += iov[i].iov_len;
        fault |= copies && iov[i].iov_len && shim_bad_ptr(iov[i].iov_base);
    }
    /* (Linux says EFAULT only once it copies: a receive with nothing to
     * read waits or gives EAGAIN first; this says it at once.) */
    if (dm_unlikely(fault)) {
        *err = -EFAULT;
        return 0;
    }
    return t;
}

/* Copies n bytes between src/dst and the iovec cursor. */
static void iov_xfer(struct iovcur *c, uint8_t *p, size_t n, bool to_iov)
{
    while (n && c->idx < c->cnt) {
        size_t room = c->iov[c->idx].iov_len - c->off;
        size_t k = DM_MIN(room, n);
        uint8_t *q = (uint8_t *)c->iov[c->idx].iov_base + c->off;
        if (k) {
            if (to_iov)
                memcpy(q, p, k);
            else
                memcpy(p, q, k);
        }
        p += k;
        n -= k;
        c->off += k;
        if (c->off == c->iov[c->idx].iov_len) {
            c->idx++;
            c->off = 0;
        }
    }
}

/* Copies up to max bytes of a segment from byte off on into the cursor. */
static size_t sga_copy(const demi_sgarray_t *sga, uint32_t off, struct iovcur *c, size_t max)
{
    size_t done = 0;
    for (uint32_t i = 0; i < sga->sga_numsegs && i < DEMI_SGARRAY_MAXSIZE && done < max; i++) {
        uint32_t len = sga->sga_segs[i].sgaseg_len;
        if (off >= len) {
            off -= len;
            continue;
        }
        size_t k = DM_MIN((size_t)(len - off), max - done);
        iov_xfer(c, (uint8_t *)sga->sga_segs[i].sgaseg_buf + off, k, true);
        done += k;
        off = 0;
    }
    return done;
}

/* The source of a received datagram, as recvfrom gives it. The result
 * struct is packed: copy it out before reading it. */
static void sga_from(const demi_sgarray_t *sga, int family, union dm_sockaddr *out)
{
    memset(out, 0, sizeof(*out));
    memcpy(out, &sga->sga_addr6, sizeof(out->sin6));
    if (out->sa.sa_family != AF_INET6)
        out->sa.sa_family = (sa_family_t)(family == AF_INET6 ? AF_INET6 : AF_INET);
}

static void rx_from(const struct shim_rxseg *seg, int family, union dm_sockaddr *out)
{
    sga_from(&seg->sga, family, out);
}

bool shim_dgram_from_peer(const struct shim_sock *s, const demi_sgarray_t *sga)
{
    union dm_sockaddr from;
    sga_from(sga, s->family, &from);
    return shim_addr_eq(&from, &s->peer);
}

static void rx_consume_head(struct shim_sock *s)
{
    struct shim_rxseg *seg = &s->rx[s->rx_head];
    dm_sgafree(shim_dp_inst(s->dp), &seg->sga);
    s->rx_head = (s->rx_head + 1) % SHIM_RXRING;
    s->rx_count--;
    if (dm_unlikely(s->ubl != NULL))
        shim_sock_ubl_refill(s);
}

/* Stream: copies up to max bytes from the ring. */
static size_t rx_stream_copy(struct shim_sock *s, struct iovcur *c, size_t max, bool peek)
{
    size_t done = 0;
    for (unsigned i = 0; i < s->rx_count && done < max; i++) {
        struct shim_rxseg *seg = &s->rx[(s->rx_head + i) % SHIM_RXRING];
        size_t k = sga_copy(&seg->sga, seg->off, c, max - done);
        done += k;
        if (peek)
            continue;
        seg->off += (uint32_t)k;
        s->rx_bytes -= k;
        if (seg->off == seg->len) {
            rx_consume_head(s);
            i--;
        }
    }
    return done;
}

/* The socket fd names, or NULL when the call is the kernel's (not ours,
 * or an inherited socket its parent keeps). The call's lock taken: only
 * this thread's instance's when the socket is an offloaded one of it
 * (what the call does then touches that instance only), else all. */
static struct shim_sock *io_sock(int fd)
{
    struct shim_dp *mine = shim_dp_fast();
    if (dm_likely(mine != NULL) && shim_dp_live(mine) && !__atomic_load_n(&shim_relay_live, __ATOMIC_RELAXED)) {
        shim_lock_dp(mine);
        /* (what decides is written with all locks held: see shim.h) */
        struct shim_obj *o = shim_fd_get(fd);
        struct shim_sock *s = (struct shim_sock *)o;
        if (o && o->kind == SHIM_KIND_SOCK && s->dp == mine && s->state == SHIM_OFFLOADED && !s->fresh &&
            s->inst_gen == shim_rt.inst_gen) {
            shim_epoll_pf_next(fd);
            return s;
        }
        shim_unlock();
    }
    shim_lock();
    shim_dp_ahead(fd);
    if (!shim_rt.per_thread && shim_rt.dps)
        (void)shim_dp_mine(); /* the process's one instance: fast from now on */
    struct shim_obj *o = shim_fd_get(fd);
    if (!o || o->kind != SHIM_KIND_SOCK)
        return NULL;
    struct shim_sock *s = (struct shim_sock *)o;
    if (shim_sock_claim(s, fd) == 1)
        return NULL;
    shim_epoll_pf_next(fd);
    return s;
}

/* The ref a waiting call took: its last one frees the socket, which
 * needs all locks (a close meanwhile left it to us). */
static void io_sock_put(struct shim_sock *s)
{
    if (dm_unlikely(s->obj.refs == 1))
        shim_lock_escalate();
    shim_sock_unref(s);
}

/* One receive call in progress: where the bytes go and how many went. */
struct recv_op {
    struct msghdr *msg;
    struct iovcur cur;
    size_t total, copied;
    int flags;
    bool peek, waitall;
    bool discard; /* a stream's MSG_TRUNC: bytes taken, none copied (Linux) */
};

/* The checks before a receive, in Linux's order, and the hand-over of a
 * pending datagram socket. 0: go on; SHIM_PASS: the kernel's call. */
static ssize_t recv_enter(struct shim_sock *s, int fd, int flags)
{
    if (s->state == SHIM_PENDING) {
        ssize_t r;
        if (s->type == SOCK_STREAM || (r = shim_activate(s, fd, NULL)) == 1)
            return SHIM_PASS; /* the kernel answers for an unconnected socket */
        if (r < 0)
            return r;
    }
    if (s->state == SHIM_ORPHAN)
        return shim_orphan_eio();
    if (flags & MSG_OOB)
        return -EINVAL;
    shim_sock_use(s);
    shim_sock_want_rx(s);
    shim_focus(s->dp);
    if (flags & MSG_ERRQUEUE)
        return -EAGAIN;
    if (s->phase == SHIM_LISTENING)
        return -ENOTCONN;
    return 0;
}

/* Returns the datagram at the head of the ring (consumed unless peeked). */
static ssize_t recv_dgram_take(struct shim_sock *s, struct recv_op *op)
{
    struct shim_rxseg *seg = &s->rx[s->rx_head];
    struct msghdr *msg = op->msg;
    size_t n = sga_copy(&seg->sga, 0, &op->cur, op->total);
    if (seg->len > op->total)
        msg->msg_flags |= MSG_TRUNC;
    if (msg->msg_name) {
        union dm_sockaddr from;
        rx_from(seg, s->family, &from);
        socklen_t flen = dm_addr_len(&from.sa);
        memcpy(msg->msg_name, &from, DM_MIN((size_t)msg->msg_namelen, (size_t)flen));
        msg->msg_namelen = flen;
    }
    ssize_t r = (op->flags & MSG_TRUNC) ? (ssize_t)seg->len : (ssize_t)n;
    if (!op->peek) {
        s->rx_bytes -= seg->len;
        rx_consume_head(s);
        shim_sock_post(s);
    }
    return r;
}

/* One look at a datagram socket; false: nothing to return yet. */
static bool recv_dgram_once(struct shim_sock *s, struct recv_op *op, ssize_t *r)
{
    if (s->rx_count) {
        *r = recv_dgram_take(s, op);
        return true;
    }
    if (s->so_error) {
        *r = -s->so_error;
        s->so_error = 0;
        return true;
    }
    return false;
}

/* The end of a stream's data: a reset once (as Linux reports it, then
 * end of stream), or what was copied. */
static ssize_t recv_stream_reset(struct shim_sock *s, size_t copied)
{
    if (copied)
        return (ssize_t)copied;
    ssize_t r = -s->rd_err;
    s->rd_err = 0;
    s->so_error = 0;
    s->eof = true;
    return r;
}

/* One look at a stream; false: not enough to return yet. */
static bool recv_stream_once(struct shim_sock *s, struct recv_op *op, ssize_t *r)
{
    if (s->phase != SHIM_CONNECTED && s->phase != SHIM_CONNECTING) {
        if (s->so_error) {
            *r = -s->so_error;
            s->so_error = 0;
        } else {
            *r = -ENOTCONN;
        }
        return true;
    }
    if (op->total == 0) {
        *r = 0;
        return true;
    }
    size_t want = op->waitall ? op->total : DM_MIN(op->total, (size_t)s->rcvlowat);
    if (op->peek && (op->flags & MSG_WAITALL) && !shim_sock_rx_full(s))
        want = op->total; /* Linux's peek waits for all of it too (while more can come) */
    bool ends = s->eof || s->rd_err || s->shut_rd;
    /* MSG_WAITALL takes what is there as it comes, as Linux's does: a
     * request larger than the receive buffer would otherwise wait for
     * bytes that cannot come until it takes some */
    if (s->rx_bytes && (op->copied + s->rx_bytes >= want || ends || op->waitall)) {
        struct iovcur none = { NULL, 0, 0, 0 }; /* consumes without copying */
        op->copied += rx_stream_copy(s, op->discard ? &none : &op->cur, op->total - op->copied, op->peek);
        if (!op->peek)
            shim_sock_post(s);
        if (!op->waitall || op->copied == op->total || s->eof || s->shut_rd || s->rd_err) {
            *r = (ssize_t)op->copied;
            return true;
        }
    }
    if (s->eof || s->shut_rd) {
        *r = (ssize_t)op->copied;
        return true;
    }
    if (s->rd_err) {
        *r = recv_stream_reset(s, op->copied);
        return true;
    }
    return false;
}

/* Receives into msg, waiting (unless non-blocking) until there is
 * something to return; interrupted after a part, returns the part. */
static ssize_t recv_wait(struct shim_sock *s, int fd, struct msghdr *msg, int flags)
{
    int err;
    size_t total = iov_total(msg->msg_iov, msg->msg_iovlen, &err, !((flags & MSG_TRUNC) && s->type == SOCK_STREAM));
    if (err)
        return err;
    bool peek = flags & MSG_PEEK;
    struct recv_op op = { .msg = msg, .cur = { msg->msg_iov, msg->msg_iovlen, 0, 0 }, .total = total,
                          .flags = flags, .peek = peek,
                          .waitall = (flags & MSG_WAITALL) && !peek && s->type == SOCK_STREAM,
                          .discard = (flags & MSG_TRUNC) && s->type == SOCK_STREAM };
    struct shim_wait w = { .nonblock = s->nonblock || (flags & MSG_DONTWAIT), .timeo_ns = s->rcvtimeo_ns };
    ssize_t r;
    msg->msg_flags = 0;
    msg->msg_controllen = 0;
    s->obj.refs++;
    while (!(s->type == SOCK_DGRAM ? recv_dgram_once(s, &op, &r) : recv_stream_once(s, &op, &r))) {
        if (!w.polled)
            shim_sock_post(s);
        int e = shim_wait_turn(&w, s, fd);
        if (e < 0) {
            r = op.copied ? (ssize_t)op.copied : e;
            break;
        }
    }
    if (s->type == SOCK_STREAM)
        msg->msg_namelen = 0;
    io_sock_put(s);
    return r;
}

ssize_t shim_recvmsg(int fd, struct msghdr *msg, int flags)
{
    struct shim_sock *s = io_sock(fd);
    if (!s) {
        if (dm_unlikely(shim_relay_io(fd)))
            return shim_relay_recvmsg(fd, msg, flags); /* (unlocks) */
        shim_unlock();
        return SHIM_PASS;
    }
    ssize_t r = recv_enter(s, fd, flags);
    if (r == 0)
        r = recv_wait(s, fd, msg, flags);
    shim_unlock();
    return r;
}

/* Copies up to n bytes from the cursor into a chain of at most
 * DEMI_SGARRAY_MAXSIZE pool buffers (what every backend takes in one op);
 * returns the bytes taken or -ENOBUFS. */
static long build_chain(struct dm_instance *inst, struct iovcur *c, size_t n, bool contig, struct dm_buf **out)
{
    struct dm_buf *head = NULL;
    size_t done = 0;
    unsigned segs = 0;
    do {
        /* pool buffers (chained) while the pool is above its reserve, one
         * heap buffer for the rest otherwise; a datagram in one piece */
        struct dm_buf *b = dm_buf_alloc_app(inst, DM_MAX(n, (size_t)1), !contig);
        if (!b) {
            dm_buf_free(head);
            return -ENOBUFS;
        }
        size_t k = DM_MIN((size_t)dm_buf_tailroom(b), n);
        uint8_t *p = dm_buf_append(b, (uint32_t)k);
        iov_xfer(c, p, k, false);
        if (!head)
            head = b;
        else
            dm_buf_chain(head, b);
        n -= k;
        done += k;
    } while (n && ++segs < DEMI_SGARRAY_MAXSIZE);
    *out = head;
    return (long)done;
}

static int push_bytes(struct shim_sock *s, struct iovcur *c, size_t n, const union dm_sockaddr *to,
                      demi_qtoken_t *qtp)
{
    struct dm_buf *chain;
    demi_qtoken_t qt;
    long got = build_chain(shim_dp_inst(s->dp), c, n, s->type == SOCK_DGRAM, &chain);
    if (got < 0)
        return (int)got;
    if ((size_t)got < n && s->type == SOCK_DGRAM) {
        /* a datagram larger than the chain limit: one contiguous buffer */
        dm_buf_free(chain);
        return -EMSGSIZE;
    }
    n = (size_t)got;
    int r = dm_push_chain(shim_dp_inst(s->dp), &qt, s->qd, chain, to ? &to->sa : NULL);
    if (r < 0)
        return r;
    unsigned k = (s->tx_head + s->tx_count) % SHIM_TXRING;
    s->tx[k].qt = qt;
    s->tx[k].len = (uint32_t)n;
    s->tx_count++;
    s->tx_bytes += n;
    *qtp = qt;
    return (int)n;
}

/* The pending error, reported once (Linux's sk_err) by whichever call
 * comes first: a reset that a send reports leaves recv only the end of
 * the stream (Linux's reset shut both directions). */
int shim_sock_take_error(struct shim_sock *s)
{
    int e = s->so_error;
    s->so_error = 0;
    if (e && s->type == SOCK_STREAM && s->rd_err == e) {
        s->rd_err = 0;
        s->eof = true;
    }
    return e;
}

static size_t send_space(const struct shim_sock *s)
{
    if (s->tx_count >= SHIM_TXRING || (int64_t)s->tx_bytes >= shim_rt.cfg.sndbuf)
        return 0;
    return (size_t)(shim_rt.cfg.sndbuf - (int64_t)s->tx_bytes);
}

/* UDP_SEGMENT (GSO) in a send: Linux cuts the buffer into datagrams of
 * gso bytes (the last one shorter) and sends them as one call; so does
 * this, one shim send each. Lock not held. */
#define UDP_MAX_SEGMENTS 128 /* the kernel's limit (include/linux/udp.h) */
static ssize_t send_segmented(int fd, const struct msghdr *msg, int flags, uint16_t gso)
{
    uint8_t *seg = shim_scratch(SHIM_SCRATCH_GSO); /* gso < 64 KiB: a segment fits */
    if (!seg)
        return -ENOMEM;
    int err = 0;
    size_t total = iov_total(msg->msg_iov, msg->msg_iovlen, &err, true);
    if (err)
        return err;
    if (total > (size_t)gso * UDP_MAX_SEGMENTS)
        return -EINVAL;
    struct iovcur cur = { msg->msg_iov, msg->msg_iovlen, 0, 0 };
    size_t done = 0;
    do {
        size_t n = DM_MIN(total - done, (size_t)gso);
        iov_xfer(&cur, seg, n, false);
        struct iovec v = { seg, n };
        struct msghdr m = { .msg_name = msg->msg_name, .msg_namelen = msg->msg_namelen, .msg_iov = &v,
                            .msg_iovlen = 1 };
        ssize_t r = shim_sendmsg(fd, &m, flags);
        if (r < 0)
            return done ? (ssize_t)done : r; /* Linux: the whole call fails; a part went, say so */
        done += n;
    } while (done < total);
    return (ssize_t)done;
}

/* One send call in progress: what is left to take from the caller. */
struct send_op {
    struct iovcur cur;
    size_t total, sent;
    const union dm_sockaddr *to; /* a datagram's destination */
};

/* A pending socket's first send: a datagram socket with somewhere to
 * send to is handed over; anything else is the kernel's. */
static int send_activate(struct shim_sock *s, int fd, const union dm_sockaddr *to, bool ancillary)
{
    if (s->type == SOCK_STREAM || (!to && !s->udp_has_peer))
        return SHIM_PASS; /* unconnected: EPIPE/ENOTCONN/EDESTADDRREQ from the kernel */
    if (ancillary)
        s->kernel_why = "a send with ancillary data"; /* the kernel's from its first send */
    int r = shim_activate(s, fd, to);
    return r == 1 ? SHIM_PASS : r;
}

/* The checks before a send, in Linux's order, and the hand-over of a
 * pending socket. 0: go on (*to the datagram's address if it named one,
 * *gso its UDP_SEGMENT); SHIM_PASS: the kernel's call. */
static int send_enter(struct shim_sock *s, int fd, const struct msghdr *msg, int flags, union dm_sockaddr *dest,
                      const union dm_sockaddr **to, uint16_t *gso)
{
    if (s->type == SOCK_DGRAM && msg->msg_name && msg->msg_namelen) {
        const struct sockaddr *na = msg->msg_name;
        int r;
        if (dm_unlikely(na->sa_family == AF_UNSPEC) && s->family == AF_INET &&
            msg->msg_namelen >= sizeof(struct sockaddr_in)) {
            /* udp_sendmsg takes AF_UNSPEC for AF_INET (as old programs
             * send) */
            memset(dest, 0, sizeof(*dest));
            memcpy(&dest->sin, na, sizeof(dest->sin));
            dest->sin.sin_family = AF_INET;
            r = 0;
        } else {
            r = shim_check_addr(na, msg->msg_namelen, s->family, dest);
        }
        if (r < 0)
            return s->state == SHIM_PENDING ? SHIM_PASS : r; /* the kernel's errno */
        *to = dest;
    }
    const char *cm = shim_cmsg_unsupported(msg, gso);
    if (s->state == SHIM_PENDING) {
        int r = send_activate(s, fd, *to, cm || *gso);
        if (r != 0)
            return r;
    }
    if (s->state == SHIM_ORPHAN)
        return shim_orphan_eio();
    if (flags & MSG_OOB) {
        dm_log_once("shim", "fd %d: a send with MSG_OOB: urgent data is not offered on offloaded sockets "
                    "(EOPNOTSUPP; first of possibly several)", fd);
        return -EOPNOTSUPP;
    }
    if (dm_unlikely(cm != NULL))
        dm_log_once("shim", "fd %d: %s in a send on an offloaded socket is not applied (first of possibly "
                    "several)", fd, cm);
    return 0;
}

/* 255.255.255.255 (or its v4-mapped form): always a broadcast on Linux,
 * whatever the routes say. */
static bool dgram_to_all(const union dm_sockaddr *to)
{
    if (to->sa.sa_family == AF_INET)
        return to->sin.sin_addr.s_addr == htonl(INADDR_BROADCAST);
    return IN6_IS_ADDR_V4MAPPED(&to->sin6.sin6_addr) && to->sin6.sin6_addr.s6_addr32[3] == htonl(INADDR_BROADCAST);
}

/* A datagram's checks, made at the call as Linux makes them; *to becomes
 * the peer's address when the call named none. */
static int send_dgram_check(struct shim_sock *s, int fd, size_t total, const union dm_sockaddr **to)
{
    if (!*to) {
        if (!s->udp_has_peer)
            return -EDESTADDRREQ;
        *to = &s->peer;
    }
    /* 65535 less the UDP header and, for IPv4, its IP header */
    if (total > (s->family == AF_INET6 ? 65527u : 65507u))
        return -EMSGSIZE;
    if (((*to)->sa.sa_family == AF_INET6 ? (*to)->sin6.sin6_port : (*to)->sin.sin_port) == 0)
        return -EINVAL; /* Linux checks it at the call, an async backend too late */
    if (dm_unlikely(dgram_to_all(*to))) {
        /* the same: a broadcast needs SO_BROADCAST (kept on the fd) */
        int on = 0;
        socklen_t l = sizeof(on);
        if (DM_REAL(getsockopt)(fd, SOL_SOCKET, SO_BROADCAST, &on, &l) == 0 && !on)
            return -EACCES;
    }
    if (s->so_error) {
        int r = -s->so_error;
        s->so_error = 0;
        return r;
    }
    return 0;
}

static int send_stream_check(struct shim_sock *s)
{
    if (s->so_error && s->phase != SHIM_CONNECTING)
        return -shim_sock_take_error(s);
    if (s->shut_wr || s->wr_dead || (s->phase != SHIM_CONNECTED && s->phase != SHIM_CONNECTING))
        return -EPIPE;
    return 0;
}

/* A stream that can send no more ends the call: with what it sent, else
 * its error (once), else EPIPE. */
static bool send_stream_closed(struct shim_sock *s, size_t sent, ssize_t *r)
{
    if (!s->wr_dead && !s->shut_wr && !(s->so_error && s->phase != SHIM_CONNECTING))
        return false;
    if (sent) {
        *r = (ssize_t)sent;
    } else if (s->so_error) {
        *r = -shim_sock_take_error(s);
    } else {
        *r = -EPIPE;
    }
    return true;
}

/* How many bytes the next push takes; false: no room yet. */
static bool send_room(const struct shim_sock *s, const struct send_op *op, size_t *n)
{
    size_t space = s->phase == SHIM_CONNECTING ? 0 : send_space(s);
    if (s->type == SOCK_DGRAM && space < op->total)
        space = s->tx_count < SHIM_TXRING && s->tx_bytes == 0 ? op->total : 0; /* a datagram goes whole */
    if (!space)
        return false;
    *n = s->type == SOCK_DGRAM ? op->total : DM_MIN(DM_MIN(space, op->total - op->sent), (size_t)SHIM_PUSH_MAX);
    return true;
}

/* The backend finished the push at once: a failure is this send's. */
static bool push_failed_now(struct shim_sock *s, demi_qtoken_t qt)
{
    if (dm_token_state(shim_dp_inst(s->dp), qt) != 1)
        return false;
    shim_progress();
    return s->tx_fail_qt == qt;
}

/* The first push of an unbound UDP socket bound it: now it can receive. */
static void udp_bound_by_send(struct shim_sock *s)
{
    socklen_t l = sizeof(s->local);
    (void)dm_getsockname(shim_dp_inst(s->dp), s->qd, (struct sockaddr *)&s->local, &l);
    s->udp_pop_ok = true;
    shim_sock_post(s);
}

/* Pushes while there is room. True when the call is over (*r its
 * result), false when it must wait for room. */
static bool send_try(struct shim_sock *s, struct send_op *op, ssize_t *r)
{
    for (;;) {
        size_t n;
        if (s->type == SOCK_STREAM && send_stream_closed(s, op->sent, r))
            return true;
        if (!send_room(s, op, &n))
            return false;
        demi_qtoken_t qt = 0;
        int pr = push_bytes(s, &op->cur, n, s->type == SOCK_DGRAM ? op->to : NULL, &qt);
        if (pr < 0) {
            if (pr == -ENOBUFS || pr == -EAGAIN)
                return false;
            *r = op->sent ? (ssize_t)op->sent : pr;
            return true;
        }
        if (pr > 0)
            n = (size_t)pr;
        if (push_failed_now(s, qt)) {
            int e = s->so_error ? shim_sock_take_error(s) : EPIPE;
            *r = op->sent ? (ssize_t)op->sent : -e;
            return true;
        }
        op->sent += n;
        if (s->type == SOCK_DGRAM && !s->udp_pop_ok)
            udp_bound_by_send(s);
        if (op->sent == op->total) {
            *r = (ssize_t)op->sent;
            return true;
        }
    }
}

/* Sends msg, waiting (unless non-blocking) for room; interrupted after a
 * part, returns the part. */
static ssize_t send_wait(struct shim_sock *s, int fd, const struct msghdr *msg, int flags,
                         const union dm_sockaddr *to)
{
    int err;
    shim_sock_use(s);
    shim_focus(s->dp);
    size_t total = iov_total(msg->msg_iov, msg->msg_iovlen, &err, true);
    if (err)
        return err;
    ssize_t r = s->type == SOCK_DGRAM ? send_dgram_check(s, fd, total, &to) : send_stream_check(s);
    if (r < 0)
        return r;
    if (s->type == SOCK_STREAM && total == 0)
        return 0;
    struct send_op op = { .cur = { msg->msg_iov, msg->msg_iovlen, 0, 0 }, .total = total, .to = to };
    struct shim_wait w = { .nonblock = s->nonblock || (flags & MSG_DONTWAIT), .timeo_ns = s->sndtimeo_ns };
    s->obj.refs++;
    while (!send_try(s, &op, &r)) {
        int e = shim_wait_turn(&w, s, fd);
        if (e < 0) {
            r = op.sent ? (ssize_t)op.sent : e;
            break;
        }
    }
    /* push promptly: one poll sends what we queued (or the turn's end) */
    shim_tx_after_send(s, fd);
    io_sock_put(s);
    return r;
}

ssize_t shim_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    union dm_sockaddr dest;
    const union dm_sockaddr *to = NULL;
    uint16_t gso = 0;
    struct shim_sock *s = io_sock(fd);
    ssize_t r;
    if (!s && dm_unlikely(shim_relay_io(fd))) {
        r = shim_relay_sendmsg(fd, msg, flags); /* (unlocks) */
        goto out;
    }
    if (!s) {
        shim_unlock();
        return SHIM_PASS;
    }
    r = send_enter(s, fd, msg, flags, &dest, &to, &gso);
    if (r == 0 && dm_unlikely(gso) && s->type == SOCK_DGRAM) {
        shim_unlock(); /* each datagram is a send of its own */
        return send_segmented(fd, msg, flags, gso);
    }
    if (r == 0)
        r = send_wait(s, fd, msg, flags, to);
    shim_unlock();
out:
    if (r == -EPIPE && !(flags & MSG_NOSIGNAL))
        raise(SIGPIPE);
    return r;
}

/* ---- a relay's pumps (relay.c): no fd, never blocks ---- */

int shim_sock_rx_iov(const struct shim_sock *s, struct iovec *v)
{
    int n = 0;
    for (unsigned i = 0; i < s->rx_count; i++) {
        const struct shim_rxseg *seg = &s->rx[(s->rx_head + i) % SHIM_RXRING];
        uint32_t off = seg->off;
        for (uint32_t j = 0; j < seg->sga.sga_numsegs && j < DEMI_SGARRAY_MAXSIZE; j++) {
            uint32_t sl = seg->sga.sga_segs[j].sgaseg_len;
            if (off >= sl) {
                off -= sl;
                continue;
            }
            v[n++] = (struct iovec){ (uint8_t *)seg->sga.sga_segs[j].sgaseg_buf + off, sl - off };
            off = 0;
        }
    }
    return n;
}

ssize_t shim_sock_rx_to_fd(struct shim_sock *s, int fd)
{
    struct iovec v[SHIM_RX_IOV_MAX];
    int n = shim_sock_rx_iov(s, v);
    if (n == 0)
        return 0;
    struct msghdr m = { .msg_iov = v, .msg_iovlen = (size_t)n };
    ssize_t k = DM_REAL(sendmsg)(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (k < 0)
        return -errno;
    struct iovcur none = { NULL, 0, 0, 0 }; /* consumes without copying */
    rx_stream_copy(s, &none, (size_t)k, false);
    shim_sock_post(s);
    return k;
}

size_t shim_sock_tx_space(const struct shim_sock *s)
{
    return send_space(s);
}

ssize_t shim_sock_push(struct shim_sock *s, const void *buf, size_t len)
{
    if (s->wr_dead || s->shut_wr || s->so_error || s->phase != SHIM_CONNECTED)
        return -EPIPE;
    size_t n = DM_MIN(DM_MIN(send_space(s), len), (size_t)SHIM_PUSH_MAX);
    if (n == 0)
        return -EAGAIN;
    struct iovec v = { (void *)buf, n };
    struct iovcur c = { &v, 1, 0, 0 };
    demi_qtoken_t qt = 0;
    int pr = push_bytes(s, &c, n, NULL, &qt);
    if (pr == -ENOBUFS || pr == -EAGAIN)
        return -EAGAIN; /* nothing taken: the caller keeps the bytes */
    if (pr < 0)
        return pr;
    if (push_failed_now(s, qt))
        return -EPIPE;
    return pr;
}

ssize_t shim_sendfile(int out_fd, int in_fd, off_t *offset, size_t count)
{
    uint8_t buf[16384];
    size_t done = 0;
    off_t pos = offset ? *offset : 0;
    ssize_t r = 0;

    /* (the file's read waits for no peer: the turn's sends may wait) */
    if (shim_fd_maybe_nopeer(in_fd))
        return -EINVAL; /* Linux: in_fd must be a file that supports mmap */
    /* an inherited connection that is the kernel's from its first use:
     * decided before a byte is read from in_fd */
    bool kernel = !io_sock(out_fd); /* (takes the call's lock) */
    shim_unlock();
    if (kernel)
        return SHIM_PASS;
    /* Linux reads in_fd through the page cache: a pipe or a socket is
     * EINVAL (with an offset, a pipe's ESPIPE comes first: pread's);
     * read would take the pipe's bytes, so look first. */
    struct stat st;
    if (!offset && fstat(in_fd, &st) == 0) {
        if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))
            return -EINVAL;
        /* a character device's read may wait for its peer (a tty) */
        if (!shim_mode_no_peer(st.st_mode) && shim_tx_owed)
            shim_tx_flush_owed();
    }
    while (done < count) {
        size_t k = DM_MIN(count - done, sizeof(buf));
        ssize_t n = offset ? pread(in_fd, buf, k, pos) : DM_REAL(read)(in_fd, buf, k);
        if (n < 0) {
            r = done ? 0 : -errno;
            break;
        }
        if (n == 0)
            break;
        struct iovec iov = { buf, (size_t)n };
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
        /* after the first chunk, never block: sendfile returns what it sent */
        ssize_t w = shim_sendmsg(out_fd, &m, MSG_NOSIGNAL | (done ? MSG_DONTWAIT : 0));
        if (w == SHIM_PASS)
            return SHIM_PASS;
        if (w < 0) {
            if (!offset)
                (void)lseek(in_fd, -n, SEEK_CUR);
            if (!done && w == -EPIPE)
                raise(SIGPIPE);
            r = done ? 0 : w;
            break;
        }
        if (w < n && !offset)
            (void)lseek(in_fd, w - n, SEEK_CUR);
        done += (size_t)w;
        pos += w;
        if (w < n)
            break;
    }
    if (offset)
        *offset = pos;
    return r < 0 ? r : (ssize_t)done;
}

/* The timeout as Linux applies it (do_recvmmsg): checked after each
 * datagram, not while one is awaited; the time left is written back and
 * an expired timeout returns what came so far. */
static bool mmsg_timed_out(struct timespec *tmo, int64_t end)
{
    int64_t left = end - dm_clock_ns();
    if (left < 0)
        left = 0;
    tmo->tv_sec = (time_t)(left / DM_NS_PER_S);
    tmo->tv_nsec = (long)(left % DM_NS_PER_S);
    return left == 0;
}

int shim_recvmmsg(int fd, struct mmsghdr *v, unsigned n, int flags, struct timespec *tmo)
{
    int64_t end = 0;
    if (tmo) {
        if (tmo->tv_sec < 0 || tmo->tv_nsec < 0 || tmo->tv_nsec >= DM_NS_PER_S)
            return -EINVAL;
        end = dm_clock_ns() + (int64_t)tmo->tv_sec * DM_NS_PER_S + tmo->tv_nsec;
    }
    unsigned i;
    for (i = 0; i < n; i++) {
        int f = flags & ~MSG_WAITFORONE;
        if (i > 0 && (flags & MSG_WAITFORONE))
            f |= MSG_DONTWAIT;
        ssize_t r = shim_recvmsg(fd, &v[i].msg_hdr, f);
        if (r == SHIM_PASS)
            return SHIM_PASS;
        if (r < 0)
            return i ? (int)i : (int)r;
        v[i].msg_len = (unsigned)r;
        if (tmo && mmsg_timed_out(tmo, end))
            return (int)i + 1;
    }
    return (int)i;
}

int shim_sendmmsg(int fd, struct mmsghdr *v, unsigned n, int flags)
{
    unsigned i;
    for (i = 0; i < n; i++) {
        ssize_t r = shim_sendmsg(fd, &v[i].msg_hdr, flags | (i ? MSG_NOSIGNAL : 0));
        if (r == SHIM_PASS)
            return SHIM_PASS;
        if (r < 0)
            return i ? (int)i : (int)r;
        v[i].msg_len = (unsigned)r;
    }
    return (int)i;
}
