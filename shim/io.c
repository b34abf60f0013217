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

static size_t iov_total(const struct iovec *iov, size_t cnt, int *err)
{
    size_t t = 0;
    *err = 0;
    if (cnt > IOV_MAX) {
        *err = -EMSGSIZE;
        return 0;
    }
    for (size_t i = 0; i < cnt; i++) {
        if ((ssize_t)iov[i].iov_len < 0 || t + iov[i].iov_len < t || t + iov[i].iov_len > SSIZE_MAX) {
            *err = -EINVAL;
            return 0;
        }
        t += iov[i].iov_len;
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

static void iov_skip(struct iovcur *c, size_t n)
{
    while (n && c->idx < c->cnt) {
        size_t k = DM_MIN(c->iov[c->idx].iov_len - c->off, n);
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
static void rx_from(const struct shim_rxseg *seg, int family, union dm_sockaddr *out)
{
    memset(out, 0, sizeof(*out));
    memcpy(out, &seg->sga.sga_addr6, sizeof(out->sin6));
    if (out->sa.sa_family != AF_INET6)
        out->sa.sa_family = (sa_family_t)(family == AF_INET6 ? AF_INET6 : AF_INET);
}

/* A connected UDP socket only takes datagrams from its peer. */
static bool rx_from_peer(const struct shim_sock *s)
{
    union dm_sockaddr from;
    rx_from(&s->rx[s->rx_head], s->family, &from);
    return shim_addr_eq(&from, &s->peer);
}

static void rx_consume_head(struct shim_sock *s)
{
    struct shim_rxseg *seg = &s->rx[s->rx_head];
    dm_sgafree(shim_dp_inst(s->dp), &seg->sga);
    s->rx_head = (s->rx_head + 1) % SHIM_RXRING;
    s->rx_count--;
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

ssize_t shim_recvmsg(int fd, struct msghdr *msg, int flags)
{
    int err;
    shim_lock();
    struct shim_obj *o = shim_fd_get(fd);
    if (!o || o->kind != SHIM_KIND_SOCK) {
        shim_unlock();
        return SHIM_PASS;
    }
    struct shim_sock *s = (struct shim_sock *)o;
    ssize_t r;
    if (shim_sock_claim(s, fd) == 1) {
        shim_unlock();
        return SHIM_PASS;
    }
    if (s->state == SHIM_PENDING) {
        if (s->type == SOCK_STREAM || (r = shim_activate(s, fd, NULL)) == 1) {
            shim_unlock();
            return SHIM_PASS; /* the kernel answers for an unconnected socket */
        }
        if (r < 0)
            goto out;
    }
    if (s->state == SHIM_ORPHAN) {
        r = shim_orphan_eio();
        goto out;
    }
    if (flags & MSG_OOB) {
        r = -EINVAL;
        goto out;
    }
    shim_sock_use(s);
    shim_sock_want_rx(s);
    shim_focus(s->dp);
    if (flags & MSG_ERRQUEUE) {
        r = -EAGAIN;
        goto out;
    }
    if (s->listening) {
        r = -ENOTCONN;
        goto out;
    }
    size_t total = iov_total(msg->msg_iov, msg->msg_iovlen, &err);
    if (err) {
        r = err;
        goto out;
    }
    struct iovcur cur = { msg->msg_iov, msg->msg_iovlen, 0, 0 };
    bool peek = flags & MSG_PEEK;
    bool waitall = (flags & MSG_WAITALL) && !peek && s->type == SOCK_STREAM;
    size_t copied = 0;
    struct shim_wait w = { .nonblock = s->nonblock || (flags & MSG_DONTWAIT), .timeo_ns = s->rcvtimeo_ns };
    msg->msg_flags = 0;
    msg->msg_controllen = 0;
    s->obj.refs++;
    for (;;) {
        if (s->type == SOCK_DGRAM) {
            /* a connected UDP socket only receives from its peer (the
             * connection is ours, the backend's socket is not connected) */
            while (s->rx_count && s->udp_has_peer &&
                   !rx_from_peer(s)) {
                s->rx_bytes -= s->rx[s->rx_head].len;
                rx_consume_head(s);
                shim_sock_post(s);
            }
            if (s->rx_count) {
                struct shim_rxseg *seg = &s->rx[s->rx_head];
                size_t n = sga_copy(&seg->sga, 0, &cur, total);
                if (seg->len > total)
                    msg->msg_flags |= MSG_TRUNC;
                if (msg->msg_name) {
                    union dm_sockaddr from;
                    rx_from(seg, s->family, &from);
                    socklen_t flen = dm_addr_len(&from.sa);
                    memcpy(msg->msg_name, &from, DM_MIN((size_t)msg->msg_namelen, (size_t)flen));
                    msg->msg_namelen = flen;
                }
                r = (flags & MSG_TRUNC) ? (ssize_t)seg->len : (ssize_t)n;
                if (!peek) {
                    s->rx_bytes -= seg->len;
                    rx_consume_head(s);
                    shim_sock_post(s);
                }
                break;
            }
            if (s->so_error) {
                r = -s->so_error;
                s->so_error = 0;
                break;
            }
        } else {
            if (!s->connected && !s->connecting) {
                if (s->so_error) {
                    r = -s->so_error;
                    s->so_error = 0;
                } else {
                    r = -ENOTCONN;
                }
                break;
            }
            if (total == 0) {
                r = 0;
                break;
            }
            size_t want = waitall ? total : DM_MIN(total, (size_t)s->rcvlowat);
            if (s->rx_bytes && (copied + s->rx_bytes >= want || s->eof || s->rd_err || s->shut_rd)) {
                copied += rx_stream_copy(s, &cur, total - copied, peek);
                if (!peek)
                    shim_sock_post(s);
                if (!waitall || copied == total || s->eof || s->shut_rd || s->rd_err) {
                    r = (ssize_t)copied;
                    break;
                }
            }
            if (s->eof || s->shut_rd) {
                r = (ssize_t)copied;
                break;
            }
            if (s->rd_err) {
                /* Linux reports a reset once, then end of stream */
                r = copied ? (ssize_t)copied : -s->rd_err;
                if (!copied) {
                    s->rd_err = 0;
                    s->so_error = 0;
                    s->eof = true;
                }
                break;
            }
        }
        if (!w.polled)
            shim_sock_post(s);
        int e = shim_wait_turn(&w, s, fd);
        if (e < 0) {
            r = copied ? (ssize_t)copied : e;
            break;
        }
    }
    if (s->type == SOCK_STREAM)
        msg->msg_namelen = 0;
    shim_sock_unref(s);
out:
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
    shim_rt.tx_inflight++;
    *qtp = qt;
    return (int)n;
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
    static __thread uint8_t seg[65536];
    int err = 0;
    size_t total = iov_total(msg->msg_iov, msg->msg_iovlen, &err);
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

ssize_t shim_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    int err;
    union dm_sockaddr dest;
    shim_lock();
    struct shim_obj *o = shim_fd_get(fd);
    if (!o || o->kind != SHIM_KIND_SOCK) {
        shim_unlock();
        return SHIM_PASS;
    }
    struct shim_sock *s = (struct shim_sock *)o;
    ssize_t r = 0;
    const union dm_sockaddr *to = NULL;
    if (shim_sock_claim(s, fd) == 1) {
        shim_unlock();
        return SHIM_PASS;
    }
    if (s->type == SOCK_DGRAM && msg->msg_name && msg->msg_namelen) {
        r = shim_check_addr(msg->msg_name, msg->msg_namelen, s->family, &dest);
        if (r < 0) {
            if (s->state == SHIM_PENDING)
                r = SHIM_PASS; /* the kernel's errno */
            goto out;
        }
        to = &dest;
    }
    uint16_t gso = 0;
    const char *cm = shim_cmsg_unsupported(msg, &gso);
    if (s->state == SHIM_PENDING) {
        if (s->type == SOCK_STREAM || (!to && !s->udp_has_peer)) {
            shim_unlock();
            return SHIM_PASS; /* unconnected: EPIPE/ENOTCONN/EDESTADDRREQ from the kernel */
        }
        if (cm || gso)
            s->kernel_why = "a send with ancillary data"; /* the kernel's from its first send */
        r = shim_activate(s, fd, to);
        if (r != 0) {
            r = r == 1 ? SHIM_PASS : r;
            goto out;
        }
    }
    if (s->state == SHIM_ORPHAN) {
        r = shim_orphan_eio();
        goto out;
    }
    if (flags & MSG_OOB) {
        r = -EOPNOTSUPP;
        goto out;
    }
    if (dm_unlikely(cm != NULL))
        dm_log_once("shim", "fd %d: %s in a send on an offloaded socket is not applied (first of possibly "
                    "several)", fd, cm);
    if (dm_unlikely(gso) && s->type == SOCK_DGRAM) {
        shim_unlock(); /* each datagram is a send of its own */
        return send_segmented(fd, msg, flags, gso);
    }
    shim_sock_use(s);
    shim_focus(s->dp);
    size_t total = iov_total(msg->msg_iov, msg->msg_iovlen, &err);
    if (err) {
        r = err;
        goto out;
    }
    bool nonblock = s->nonblock || (flags & MSG_DONTWAIT);
    if (s->type == SOCK_DGRAM) {
        if (!to) {
            if (!s->udp_has_peer) {
                r = -EDESTADDRREQ;
                goto out;
            }
            to = &s->peer;
        }
        /* 65535 less the UDP header and, for IPv4, its IP header */
        if (total > (s->family == AF_INET6 ? 65527u : 65507u)) {
            r = -EMSGSIZE;
            goto out;
        }
        if ((to->sa.sa_family == AF_INET6 ? to->sin6.sin6_port : to->sin.sin_port) == 0) {
            r = -EINVAL; /* Linux checks it at the call, an async backend too late */
            goto out;
        }
        if (s->so_error) {
            r = -s->so_error;
            s->so_error = 0;
            goto out;
        }
    } else {
        if (s->so_error && !s->connecting) {
            r = -s->so_error;
            s->so_error = 0;
            goto out;
        }
        if (s->shut_wr || s->wr_dead || s->listening || (!s->connected && !s->connecting)) {
            r = -EPIPE;
            goto out;
        }
        if (total == 0)
            goto out;
    }
    struct iovcur cur = { msg->msg_iov, msg->msg_iovlen, 0, 0 };
    size_t sent = 0;
    struct shim_wait w = { .nonblock = nonblock, .timeo_ns = s->sndtimeo_ns };
    if (s->type == SOCK_STREAM && !s->tx_count && !s->connecting && s->dp->send_now) {
        /* nothing of ours queued: the kernel may take it from the caller's
         * memory now (no copy, no push to complete) */
        ssize_t k = dm_send_now(shim_dp_inst(s->dp), s->qd, msg->msg_iov, (int)msg->msg_iovlen);
        if (k == (ssize_t)total) {
            r = k;
            shim_tx_sent_now();
            goto out;
        }
        if (k > 0) {
            iov_skip(&cur, (size_t)k);
            sent = (size_t)k;
        } else if (k == -EOPNOTSUPP) {
            s->dp->send_now = false;
        }
    }
    s->obj.refs++;
    for (;;) {
        if (s->type == SOCK_STREAM && (s->wr_dead || s->shut_wr || (s->so_error && !s->connecting))) {
            if (sent) {
                r = (ssize_t)sent;
            } else if (s->so_error) {
                r = -s->so_error;
                s->so_error = 0;
            } else {
                r = -EPIPE;
            }
            break;
        }
        size_t space = s->connecting ? 0 : send_space(s);
        if (s->type == SOCK_DGRAM && space < total)
            space = s->tx_count < SHIM_TXRING && s->tx_bytes == 0 ? total : 0; /* a datagram goes whole */
        if (space) {
            size_t n = s->type == SOCK_DGRAM ? total : DM_MIN(DM_MIN(space, total - sent), (size_t)SHIM_PUSH_MAX);
            demi_qtoken_t qt = 0;
            int pr = push_bytes(s, &cur, n, s->type == SOCK_DGRAM ? to : NULL, &qt);
            if (pr > 0) {
                n = (size_t)pr;
                pr = 0;
            }
            if (pr == 0 && dm_token_state(shim_dp_inst(s->dp), qt) == 1) {
                /* the backend finished it at once: a failure is this send's */
                shim_progress();
                if (s->tx_fail_qt == qt) {
                    r = sent ? (ssize_t)sent : -(s->so_error ? s->so_error : EPIPE);
                    s->so_error = 0;
                    break;
                }
            }
            if (pr == 0) {
                sent += n;
                if (s->type == SOCK_DGRAM && !s->udp_pop_ok) {
                    socklen_t l = sizeof(s->local);
                    (void)dm_getsockname(shim_dp_inst(s->dp), s->qd, (struct sockaddr *)&s->local, &l);
                    s->udp_pop_ok = true;
                    shim_sock_post(s);
                }
                if (sent == total) {
                    r = (ssize_t)sent;
                    break;
                }
                continue;
            }
            if (pr != -ENOBUFS && pr != -EAGAIN) {
                r = sent ? (ssize_t)sent : pr;
                break;
            }
        }
        int e = shim_wait_turn(&w, s, fd);
        if (e < 0) {
            r = sent ? (ssize_t)sent : e;
            break;
        }
    }
    /* push promptly: one poll sends what we queued (or the turn's end) */
    shim_tx_after_send(s);
    shim_sock_unref(s);
out:
    shim_unlock();
    if (r == -EPIPE && !(flags & MSG_NOSIGNAL))
        raise(SIGPIPE);
    return r;
}

ssize_t shim_sendfile(int out_fd, int in_fd, off_t *offset, size_t count)
{
    uint8_t buf[16384];
    size_t done = 0;
    off_t pos = offset ? *offset : 0;
    ssize_t r = 0;

    if (shim_fd_maybe(in_fd))
        return -EINVAL; /* Linux: in_fd must be a file that supports mmap */
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

int shim_recvmmsg(int fd, struct mmsghdr *v, unsigned n, int flags, struct timespec *tmo)
{
    if (tmo)
        dm_log_once("shim", "recvmmsg() timeout is not applied on offloaded sockets");
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
