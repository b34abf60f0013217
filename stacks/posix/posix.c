/* SPDX-License-Identifier: MIT */
/*
 * The posix backend: kernel sockets, non-blocking, driven by epoll. It is
 * the reference behaviour for every other backend and the fallback that
 * needs no setup.
 *
 * Each socket is registered once, edge-triggered, for IN|OUT|RDHUP. An
 * operation is tried at once when issued (a pop with data waiting
 * completes inside demi_pop); what cannot finish waits for an edge. Since
 * edges are not repeated, a socket whose pending ops stopped before the
 * kernel said EAGAIN (out of buffers, or no more ops) is put on a retry
 * list that every poll visits, so no readiness is ever forgotten.
 *
 * shutdown: SHUT_RD goes to the kernel at once. The write half waits while
 * pushes are queued here (they wait for room in the kernel's send buffer):
 * do_send() issues it after the last one, so the FIN never overtakes data
 * that a push accepted. Pushes after the request fail with EPIPE at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include "dm/instance.h"
#include "dm/log.h"
#include "dm/stack.h"
#include "dm/stats.h"
#include "dm/time.h"

struct psock {
    int fd;
    int type;
    uint8_t listening, connecting, connected;
    uint8_t shut_wr;          /* write half requested: pushes fail with EPIPE */
    uint8_t shut_wr_pending;  /* ... and not yet issued to the kernel */
    uint8_t want_retry;       /* on the retry list */
    struct dm_queue *q;
    struct dm_list retry_link;
};

struct posix_counters {
    uint64_t epoll_waits, events, rx_bytes, tx_bytes, eagain, nobufs;
};
static const char *const posix_counter_names[] = {"epoll_waits", "events", "rx_bytes", "tx_bytes", "eagain", "nobufs"};

/* One recv takes up to this much: a whole UDP datagram, and a stream
 * receive as big as the epoll loop it is compared with makes. */
#define PX_RX_MAX 65536u

struct posix_st {
    struct dm_instance *inst;
    int epfd;
    struct dm_buf *rx_big;    /* the receive buffer, kept while pops take copies */
    size_t small_max;         /* a pool buffer's room: smaller receives are copied */
    struct dm_list retry;
    struct posix_counters ctr;
};

static int neg_errno(void) { return -errno; }

static int px_create(struct dm_instance *inst, const struct dm_config *cfg, void **out)
{
    (void)cfg;
    struct posix_st *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    st->inst = inst;
    st->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (st->epfd < 0) {
        int rc = neg_errno();
        free(st);
        return rc;
    }
    dm_list_init(&st->retry);
    struct dm_buf *probe = dm_buf_alloc(inst);
    st->small_max = probe ? dm_buf_tailroom(probe) : 0;
    dm_buf_free(probe);
    dm_stats_register(inst, "posix", posix_counter_names, &st->ctr.epoll_waits, DM_ARRAY_SIZE(posix_counter_names));
    *out = st;
    return 0;
}

static void px_destroy(void *p)
{
    struct posix_st *st = p;
    dm_stats_unregister(st->inst, &st->ctr.epoll_waits);
    dm_buf_free(st->rx_big);
    close(st->epfd);
    free(st);
}

static int px_attach(struct posix_st *st, struct dm_queue *q, int fd, int type)
{
    struct psock *ps = calloc(1, sizeof(*ps));
    if (!ps)
        return -ENOMEM;
    ps->fd = fd;
    ps->type = type;
    ps->q = q;
    dm_list_init(&ps->retry_link);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = ps};
    if (epoll_ctl(st->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int rc = neg_errno();
        free(ps);
        return rc;
    }
    q->priv = ps;
    return 0;
}

static int px_socket(void *p, struct dm_queue *q, int domain, int type, int protocol)
{
    struct posix_st *st = p;
    if (domain != AF_INET && domain != AF_INET6)
        return -EAFNOSUPPORT;
    int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (fd < 0)
        return neg_errno();
    int rc = px_attach(st, q, fd, type);
    if (rc < 0)
        close(fd);
    return rc;
}

static int px_bind(void *p, struct dm_queue *q, const union dm_sockaddr *addr)
{
    (void)p;
    struct psock *ps = q->priv;
    return bind(ps->fd, &addr->sa, dm_addr_len(&addr->sa)) < 0 ? neg_errno() : 0;
}

static int px_listen(void *p, struct dm_queue *q, int backlog)
{
    (void)p;
    struct psock *ps = q->priv;
    if (listen(ps->fd, backlog) < 0)
        return neg_errno();
    ps->listening = 1;
    return 0;
}

static void retry_later(struct posix_st *st, struct psock *ps)
{
    if (!ps->want_retry) {
        ps->want_retry = 1;
        dm_list_add_tail(&st->retry, &ps->retry_link);
    }
}

/* Accepts while accept ops are pending. */
static void do_accept(struct posix_st *st, struct psock *ps)
{
    struct dm_op *op;
    while ((op = dm_queue_first_op(ps->q, DEMI_OPC_ACCEPT)) != NULL) {
        union dm_sockaddr peer;
        socklen_t len = sizeof(peer);
        int fd = accept4(ps->fd, &peer.sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                st->ctr.eagain++;
                return;
            }
            if (errno == ECONNABORTED || errno == EINTR)
                continue;
            dm_op_fail(op, errno);
            continue;
        }
        struct dm_queue *nq = dm_queue_new(st->inst, SOCK_STREAM);
        if (!nq) {
            close(fd);
            dm_op_fail(op, EMFILE);
            continue;
        }
        int rc = px_attach(st, nq, fd, SOCK_STREAM);
        if (rc < 0) {
            close(fd);
            dm_queue_discard(nq);
            dm_op_fail(op, -rc);
            continue;
        }
        ((struct psock *)nq->priv)->connected = 1;
        dm_op_complete_accept(op, nq, &peer.sa);
    }
}

static void do_connect_check(struct psock *ps)
{
    struct dm_op *op = dm_queue_first_op(ps->q, DEMI_OPC_CONNECT);
    if (!op)
        return;
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(ps->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err == 0) {
        /* Still in progress? A writable edge or an error ends it. */
        union dm_sockaddr peer;
        socklen_t plen = sizeof(peer);
        if (getpeername(ps->fd, &peer.sa, &plen) < 0) {
            if (errno == ENOTCONN)
                return;
            err = errno;
        }
    }
    ps->connecting = 0;
    if (err) {
        dm_op_fail(op, err);
    } else {
        ps->connected = 1;
        dm_op_complete_connect(op);
    }
}

/* Receives while pop ops are pending: one pop, one recv. The recv goes
 * into a 64 KiB buffer (a pool buffer is 2 KiB: a bigger datagram would be
 * cut, and a stream would take 2 KiB per syscall). What fits a pool buffer
 * is copied into one and the big buffer is kept for the next recv; more
 * than that leaves with the pop in the big buffer itself. */
static void do_recv(struct posix_st *st, struct psock *ps)
{
    struct dm_op *op;
    while ((op = dm_queue_first_op(ps->q, DEMI_OPC_POP)) != NULL) {
        if (!st->rx_big)
            st->rx_big = dm_buf_alloc_size(st->inst, PX_RX_MAX);
        struct dm_buf *big = st->rx_big;
        if (!big) {
            st->ctr.nobufs++;
            retry_later(st, ps);
            return;
        }
        union dm_sockaddr from;
        struct iovec iov = {.iov_base = big->data, .iov_len = PX_RX_MAX};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
        if (ps->type == SOCK_DGRAM) {
            mh.msg_name = &from;
            mh.msg_namelen = sizeof(from);
        }
        ssize_t n = recvmsg(ps->fd, &mh, MSG_DONTWAIT);
        if (n < 0) {
            int err = errno;
            if (err == EAGAIN || err == EWOULDBLOCK) {
                st->ctr.eagain++;
                return;
            }
            if (err == EINTR)
                continue;
            dm_op_fail(op, err);
            continue;
        }
        if (n == 0 && ps->type == SOCK_STREAM) {
            /* End of stream: this pop and every later one see EOF. */
            dm_op_complete_pop(op, NULL, NULL);
            continue;
        }
        struct dm_buf *b = (size_t)n <= st->small_max ? dm_buf_alloc(st->inst) : NULL;
        if (b && dm_buf_tailroom(b) >= (size_t)n) {
            memcpy(b->data, big->data, (size_t)n);
        } else {
            dm_buf_free(b);
            b = big;
            st->rx_big = NULL;
        }
        b->len = b->pkt_len = (uint32_t)n;
        st->ctr.rx_bytes += (uint64_t)n;
        dm_op_complete_pop(op, b, ps->type == SOCK_DGRAM ? &from.sa : NULL);
    }
}

/* The deferred write half of a shutdown, once no push is queued. Its
 * error has no caller to go to (px_shutdown returned 0 long ago): ENOTCONN
 * means the peer reset the connection, which the pops see anyway. */
static void shut_wr_kick(struct psock *ps)
{
    if (!ps->shut_wr_pending || dm_queue_has_push(ps->q))
        return;
    ps->shut_wr_pending = 0;
    if (shutdown(ps->fd, SHUT_WR) < 0 && errno != ENOTCONN)
        DM_DEBUG("posix", "deferred shutdown(fd %d, SHUT_WR): %s", ps->fd, strerror(errno));
}

/* Sends pending pushes in order; bctx[0] is how much of the head op went. */
static void do_send(struct posix_st *st, struct psock *ps)
{
    struct dm_op *op;
    while ((op = dm_queue_first_op(ps->q, DEMI_OPC_PUSH)) != NULL) {
        struct iovec iov[DEMI_SGARRAY_MAXSIZE * 2];
        int niov = 0;
        uint64_t skip = op->bctx[0], total = 0;
        /* total covers the whole chain, not just what fits in iov[]: a
         * long chain goes out over several rounds and completes at the end. */
        for (struct dm_buf *s = op->chain; s; s = s->next) {
            total += s->len;
            if (niov == (int)DM_ARRAY_SIZE(iov))
                continue;
            if (skip >= s->len) {
                skip -= s->len;
                continue;
            }
            iov[niov].iov_base = s->data + skip;
            iov[niov].iov_len = s->len - skip;
            skip = 0;
            niov++;
        }
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)niov};
        if (op->has_addr && ps->type == SOCK_DGRAM) {
            mh.msg_name = &op->addr;
            mh.msg_namelen = dm_addr_len((const struct sockaddr *)&op->addr);
        }
        ssize_t n = sendmsg(ps->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            int err = errno;
            if (err == EAGAIN || err == EWOULDBLOCK) {
                st->ctr.eagain++;
                return;
            }
            if (err == EINTR)
                continue;
            dm_op_fail(op, err);
            continue;
        }
        st->ctr.tx_bytes += (uint64_t)n;
        op->bctx[0] += (uint64_t)n;
        if (op->bctx[0] < total)
            continue; /* short send: the rest goes on the next round */
        dm_op_complete_push(op);
    }
    shut_wr_kick(ps);
}

static void progress(struct posix_st *st, struct psock *ps, uint32_t events)
{
    if (ps->connecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
        do_connect_check(ps);
    if (ps->listening) {
        do_accept(st, ps);
        return;
    }
    do_recv(st, ps);
    if (!ps->connecting)
        do_send(st, ps);
}

static int px_accept(void *p, struct dm_queue *q, struct dm_op *op)
{
    (void)op;
    struct psock *ps = q->priv;
    if (!ps->listening)
        return -EINVAL;
    do_accept(p, ps);
    return 0;
}

static int px_connect(void *p, struct dm_queue *q, struct dm_op *op)
{
    (void)p;
    struct psock *ps = q->priv;
    if (ps->connecting)
        return -EALREADY;
    if (ps->listening)
        return -EISCONN;
    if (connect(ps->fd, (struct sockaddr *)&op->addr, dm_addr_len((const struct sockaddr *)&op->addr)) == 0) {
        ps->connected = 1;
        dm_op_complete_connect(op);
        return 0;
    }
    if (errno == EINPROGRESS) {
        ps->connecting = 1;
        return 0;
    }
    /* Errors the socket call itself reports stay synchronous; refusals
     * and unreachable networks are the operation's result. */
    if (errno == EISCONN || errno == EALREADY || errno == EAFNOSUPPORT || errno == EBADF)
        return neg_errno();
    dm_op_fail(op, errno);
    return 0;
}

static int px_push(void *p, struct dm_queue *q, struct dm_op *op)
{
    struct psock *ps = q->priv;
    if (ps->listening)
        return -ENOTCONN;
    if (ps->type == SOCK_STREAM && !ps->connected && !ps->connecting)
        return -ENOTCONN;
    if (ps->shut_wr)
        return -EPIPE;
    if (dm_list_first(&q->ops, struct dm_op, qlink) == op || !ps->connecting)
        do_send(p, ps);
    return 0;
}

static int px_pop(void *p, struct dm_queue *q, struct dm_op *op)
{
    (void)op;
    struct psock *ps = q->priv;
    if (ps->listening)
        return -ENOTCONN;
    if (ps->type == SOCK_STREAM && !ps->connected && !ps->connecting)
        return -ENOTCONN;
    do_recv(p, ps);
    return 0;
}

static int px_shutdown(void *p, struct dm_queue *q, int how)
{
    struct psock *ps = q->priv;
    /* The kernel's shutdown(SHUT_WR) now would make the queued pushes fail
     * with EPIPE and the peer miss their bytes: only the read half goes
     * now, the write half after the last push (do_send). */
    if (how != SHUT_RD && (ps->shut_wr_pending ||
                           (ps->connected && !ps->shut_wr && dm_queue_has_push(q)))) {
        if (how == SHUT_RDWR && shutdown(ps->fd, SHUT_RD) < 0)
            return neg_errno();
        ps->shut_wr = 1;
        ps->shut_wr_pending = 1;
        do_send(p, ps); /* the queue may drain at once: then the FIN leaves now */
        return 0;
    }
    if (shutdown(ps->fd, how) < 0)
        return neg_errno();
    if (how != SHUT_RD)
        ps->shut_wr = 1;
    return 0;
}

static int px_detach(void *p, struct dm_queue *q)
{
    struct posix_st *st = p;
    struct psock *ps = q->priv;
    if (!ps || ps->type != SOCK_STREAM || !ps->connected || ps->listening || ps->shut_wr_pending)
        return -EBUSY;
    if (ps->want_retry)
        dm_list_del(&ps->retry_link);
    epoll_ctl(st->epfd, EPOLL_CTL_DEL, ps->fd, NULL);
    int fd = ps->fd;
    free(ps);
    q->priv = NULL;
    return fd;
}

/* An adopted socket may be shared with another process or a kernel fd of
 * the program (one inherited across fork or exec): its file's O_NONBLOCK
 * is theirs too, so every call here says MSG_DONTWAIT instead. */
static int px_adopt(void *p, struct dm_queue *q, int fd)
{
    int rc = px_attach(p, q, fd, SOCK_STREAM);
    if (rc == 0)
        ((struct psock *)q->priv)->connected = 1;
    return rc;
}

static int px_kernel_fd(void *p, struct dm_queue *q)
{
    (void)p;
    struct psock *ps = q->priv;
    return ps ? ps->fd : -EBADF;
}

static int px_close(void *p, struct dm_queue *q)
{
    struct posix_st *st = p;
    struct psock *ps = q->priv;
    if (!ps)
        return 0;
    if (ps->want_retry)
        dm_list_del(&ps->retry_link);
    epoll_ctl(st->epfd, EPOLL_CTL_DEL, ps->fd, NULL);
    int rc = close(ps->fd) < 0 ? neg_errno() : 0;
    free(ps);
    q->priv = NULL;
    return rc;
}

static int px_setsockopt(void *p, struct dm_queue *q, int level, int name, const void *val, socklen_t len)
{
    (void)p;
    struct psock *ps = q->priv;
    return setsockopt(ps->fd, level, name, val, len) < 0 ? neg_errno() : 0;
}

static int px_getsockopt(void *p, struct dm_queue *q, int level, int name, void *val, socklen_t *len)
{
    (void)p;
    struct psock *ps = q->priv;
    return getsockopt(ps->fd, level, name, val, len) < 0 ? neg_errno() : 0;
}

static int px_getsockname(void *p, struct dm_queue *q, union dm_sockaddr *out)
{
    (void)p;
    struct psock *ps = q->priv;
    socklen_t len = sizeof(*out);
    return getsockname(ps->fd, (struct sockaddr *)out, &len) < 0 ? neg_errno() : 0;
}

static int px_getpeername(void *p, struct dm_queue *q, union dm_sockaddr *out)
{
    (void)p;
    struct psock *ps = q->priv;
    socklen_t len = sizeof(*out);
    return getpeername(ps->fd, (struct sockaddr *)out, &len) < 0 ? neg_errno() : 0;
}

static int px_poll(void *p, int64_t block_ns)
{
    struct posix_st *st = p;
    int handled = 0;
    /* Sockets that stopped short of EAGAIN first: they get no new edge. */
    if (!dm_list_empty(&st->retry)) {
        struct dm_list batch = st->retry;
        batch.next->prev = &batch;
        batch.prev->next = &batch;
        dm_list_init(&st->retry);
        while (!dm_list_empty(&batch)) {
            struct psock *ps = dm_list_first(&batch, struct psock, retry_link);
            dm_list_del(&ps->retry_link);
            ps->want_retry = 0;
            progress(st, ps, EPOLLIN | EPOLLOUT);
            handled++;
        }
        block_ns = 0;
    }
    struct epoll_event evs[64];
    struct timespec ts = {.tv_sec = block_ns / DM_NS_PER_S, .tv_nsec = block_ns % DM_NS_PER_S};
    if (block_ns > 3600 * DM_NS_PER_S)
        ts.tv_sec = 3600, ts.tv_nsec = 0;
    st->ctr.epoll_waits++;
    int n = epoll_pwait2(st->epfd, evs, DM_ARRAY_SIZE(evs), &ts, NULL);
    if (n < 0)
        return errno == EINTR ? handled : neg_errno();
    for (int i = 0; i < n; i++)
        progress(st, evs[i].data.ptr, evs[i].events);
    st->ctr.events += (uint64_t)n;
    return handled + n;
}

static int px_wait_fd(void *p)
{
    return ((struct posix_st *)p)->epfd;
}

static const struct dm_stack_ops posix_ops = {
    .name = "posix",
    .create = px_create,
    .destroy = px_destroy,
    .socket = px_socket,
    .inet6 = true,
    .no_clock = true,
    .bind = px_bind,
    .listen = px_listen,
    .accept = px_accept,
    .connect = px_connect,
    .push = px_push,
    .pop = px_pop,
    .shutdown = px_shutdown,
    .close = px_close,
    .setsockopt = px_setsockopt,
    .getsockopt = px_getsockopt,
    .getsockname = px_getsockname,
    .getpeername = px_getpeername,
    .poll = px_poll,
    .wait_fd = px_wait_fd,
    .thread_instances = true,
    .detach = px_detach,
    .adopt = px_adopt,
    .kernel_fd = px_kernel_fd,
};
DM_STACK_REGISTER(posix_ops)
