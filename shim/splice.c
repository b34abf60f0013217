/* SPDX-License-Identifier: MIT */
/*
 * splice() from or to an offloaded socket. The kernel cannot move the
 * bytes (the placeholder is not the connection), so they go through a
 * bounce buffer: socket -> pipe is a recv and a write, pipe -> socket a
 * read and a send. As Linux, one side must be a pipe, and a socket takes
 * no offset (EINVAL both).
 *
 * No byte may be lost in between: socket -> pipe takes at most what the
 * pipe has room for (waiting for room as a blocking splice would), and
 * pipe -> socket takes at most what a non-blocking socket has room for
 * (none: EAGAIN, the pipe untouched, as Linux), then sends all it read,
 * waiting for room only if another thread's send took it meanwhile (the
 * bytes are out of the pipe already). tee()
 * needs nothing: both its ends must be pipes, and the placeholder, a
 * socket, gives Linux's EINVAL.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include "interpose/real.h"
#include "shim/shim.h"

#define BOUNCE SHIM_SCRATCH_SIZE

static bool is_ours(int fd)
{
    shim_lock();
    struct shim_obj *o = shim_fd_get(fd);
    /* (an inherited connection that is the kernel's from its first use:
     * the kernel's splice) */
    bool ours = o && o->kind == SHIM_KIND_SOCK && shim_sock_claim((struct shim_sock *)o, fd) == 0 &&
                ((struct shim_sock *)o)->state != SHIM_PENDING;
    shim_unlock();
    return ours;
}

static bool is_pipe(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

static bool pipe_nonblock(int fd, unsigned flags)
{
    return (flags & SPLICE_F_NONBLOCK) || (DM_REAL(fcntl)(fd, F_GETFL) & O_NONBLOCK);
}

/* Waits for events on a kernel fd (a pipe): 0, or -errno. */
static int wait_kernel(int fd, short events)
{
    struct pollfd p = { .fd = fd, .events = events };
    return DM_REAL(poll)(&p, 1, -1) < 0 ? -errno : 0;
}

static ssize_t sock_to_pipe(int in, int out, size_t len, unsigned flags)
{
    char *buf = shim_scratch(SHIM_SCRATCH_SPLICE_IN);
    if (!buf)
        return -ENOMEM;
    int cap = DM_REAL(fcntl)(out, F_GETPIPE_SZ), used = 0;
    for (;;) {
        if (cap < 0 || DM_REAL(ioctl)(out, FIONREAD, &used) < 0)
            return -errno;
        if (used < cap)
            break;
        if (pipe_nonblock(out, flags))
            return -EAGAIN;
        int w = wait_kernel(out, POLLOUT);
        if (w < 0)
            return w;
    }
    size_t n = DM_MIN(DM_MIN(len, (size_t)(cap - used)), BOUNCE);
    struct iovec iov = { buf, n };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
    /* SPLICE_F_NONBLOCK is the pipe's: Linux reads the socket as its
     * O_NONBLOCK says (tcp_splice_read) */
    ssize_t r = shim_recvmsg(in, &m, 0);
    if (r <= 0)
        return r;
    for (ssize_t done = 0; done < r;) {
        ssize_t w = DM_REAL(write)(out, buf + done, (size_t)(r - done));
        if (w < 0 && errno == EAGAIN) {
            (void)wait_kernel(out, POLLOUT); /* room was there: someone else wrote */
            continue;
        }
        if (w < 0)
            return done ? done : -errno;
        done += w;
    }
    return r;
}

/* What a send on the socket fd names may take now without waiting:
 * SIZE_MAX where it would wait for room (a blocking socket) or fail at
 * once (not connected, shut, an error: the send says which). */
static size_t sock_room(int fd)
{
    size_t room = SIZE_MAX;
    shim_lock();
    struct shim_obj *o = shim_fd_get(fd);
    struct shim_sock *s = (struct shim_sock *)o;
    if (o && o->kind == SHIM_KIND_SOCK && s->nonblock && s->state == SHIM_OFFLOADED &&
        s->phase == SHIM_CONNECTED && !s->so_error && !s->shut_wr && !s->wr_dead) {
        room = shim_sock_tx_space(s);
        if (room == 0) {
            shim_progress(); /* sends the datapath finished free theirs */
            s = (struct shim_sock *)shim_fd_get(fd);
            room = s == (struct shim_sock *)o ? shim_sock_tx_space(s) : SIZE_MAX;
        }
    }
    shim_unlock();
    return room;
}

static ssize_t pipe_to_sock(int in, int out, size_t len, unsigned flags)
{
    char *buf = shim_scratch(SHIM_SCRATCH_SPLICE_OUT);
    if (!buf)
        return -ENOMEM;
    /* as Linux: the pipe's bytes first (waited for unless the pipe does
     * not block), then a send that fails at once if the socket does not
     * block */
    if (pipe_nonblock(in, flags)) {
        struct pollfd p = { .fd = in, .events = POLLIN };
        if (DM_REAL(poll)(&p, 1, 0) == 0)
            return -EAGAIN;
    } else {
        int w = wait_kernel(in, POLLIN);
        if (w < 0)
            return w;
    }
    size_t room = sock_room(out);
    if (room == 0)
        return -EAGAIN;
    ssize_t n = DM_REAL(read)(in, buf, DM_MIN(DM_MIN(len, room), BOUNCE));
    if (n <= 0)
        return n < 0 ? -errno : 0;
    int mf = (flags & SPLICE_F_MORE) ? MSG_MORE : 0;
    for (ssize_t done = 0; done < n;) {
        struct iovec iov = { buf + done, (size_t)(n - done) };
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t w = shim_sendmsg(out, &m, mf | (done ? MSG_NOSIGNAL : 0));
        if (w == -EAGAIN) {
            struct pollfd p = { .fd = out, .events = POLLOUT };
            (void)shim_poll(&p, 1, -1, NULL);
            continue;
        }
        if (w < 0)
            return done ? done : w;
        done += w;
    }
    return n;
}

ssize_t shim_splice(int in, loff_t *off_in, int out, loff_t *off_out, size_t len, unsigned flags)
{
    bool oin = is_ours(in), oout = is_ours(out);
    if (!oin && !oout)
        return SHIM_PASS;
    if ((oin && off_in) || (oout && off_out))
        return -EINVAL; /* a socket has no offset (this kernel: EINVAL) */
    if (oin ? !is_pipe(out) : !is_pipe(in))
        return -EINVAL; /* one side must be a pipe */
    if (len == 0)
        return 0;
    return oin ? sock_to_pipe(in, out, len, flags) : pipe_to_sock(in, out, len, flags);
}
