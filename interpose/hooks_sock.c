/* SPDX-License-Identifier: MIT */
/*
 * Hooks of the socket calls. Each one: if the fd may be ours (fd table,
 * and not a call made from inside the datapath itself), ask the shim;
 * otherwise - or when the shim answers SHIM_PASS - call libc. errno is set
 * here and only here.
 */
#include <limits.h>
#include <stdarg.h>
#include <sys/sendfile.h>
#include "interpose/hooks.h"

DM_HOOK int socket(int domain, int type, int protocol)
{
    DM_TRY(!shim_bypass(), shim_socket(domain, type, protocol));
    return DM_REAL(socket)(domain, type, protocol);
}

DM_HOOK int socketpair(int domain, int type, int protocol, int sv[2])
{
    /* AF_UNIX only on Linux: always the kernel's */
    return DM_REAL(socketpair)(domain, type, protocol, sv);
}

DM_HOOK int bind(int fd, const struct sockaddr *a, socklen_t len)
{
    DM_TRY(shim_fd_maybe(fd), shim_bind(fd, a, len));
    return DM_REAL(bind)(fd, a, len);
}

DM_HOOK int listen(int fd, int backlog)
{
    DM_TRY(shim_fd_maybe(fd), shim_listen(fd, backlog));
    return DM_REAL(listen)(fd, backlog);
}

DM_HOOK int accept(int fd, struct sockaddr *a, socklen_t *len)
{
    DM_TRY(shim_fd_maybe(fd), shim_accept(fd, a, len, 0));
    return DM_REAL(accept)(fd, a, len);
}

DM_HOOK int accept4(int fd, struct sockaddr *a, socklen_t *len, int flags)
{
    DM_TRY(shim_fd_maybe(fd), shim_accept(fd, a, len, flags));
    return DM_REAL(accept4)(fd, a, len, flags);
}

DM_HOOK int connect(int fd, const struct sockaddr *a, socklen_t len)
{
    DM_TRY(shim_fd_maybe(fd), shim_connect(fd, a, len));
    return DM_REAL(connect)(fd, a, len);
}

DM_HOOK int close(int fd)
{
    DM_TRY(shim_fd_maybe_nopeer(fd), shim_close(fd));
    return DM_REAL(close)(fd);
}

/* close_range/closefrom: our objects in the range leave the table first,
 * so that the numbers, once the kernel reuses them, are not taken for ours. */
DM_HOOK int close_range(unsigned int first, unsigned int last, int flags)
{
    if (!shim_bypass() && !(flags & CLOSE_RANGE_CLOEXEC) && first <= last)
        shim_close_range(first, last);
    return DM_REAL(close_range)(first, last, flags);
}

DM_HOOK void closefrom(int lowfd)
{
    if (!shim_bypass() && lowfd >= 0)
        shim_close_range((unsigned)lowfd, ~0u);
    DM_REAL(closefrom)(lowfd);
}

DM_HOOK int shutdown(int fd, int how)
{
    DM_TRY(shim_fd_maybe(fd), shim_shutdown(fd, how));
    return DM_REAL(shutdown)(fd, how);
}

DM_HOOK int getsockname(int fd, struct sockaddr *a, socklen_t *len)
{
    DM_TRY(shim_fd_maybe(fd), shim_getsockname(fd, a, len));
    return DM_REAL(getsockname)(fd, a, len);
}

DM_HOOK int getpeername(int fd, struct sockaddr *a, socklen_t *len)
{
    DM_TRY(shim_fd_maybe(fd), shim_getpeername(fd, a, len));
    return DM_REAL(getpeername)(fd, a, len);
}

DM_HOOK int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    DM_TRY(shim_fd_maybe(fd), shim_getsockopt(fd, level, name, val, len));
    return DM_REAL(getsockopt)(fd, level, name, val, len);
}

DM_HOOK int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    DM_TRY(shim_fd_maybe(fd), shim_setsockopt(fd, level, name, val, len));
    return DM_REAL(setsockopt)(fd, level, name, val, len);
}

/* fcntl's third argument is an int, a long or a pointer: read it as the
 * widest (as glibc does) and pass it on unchanged. */
DM_HOOK int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    long arg = va_arg(ap, long);
    va_end(ap);
    DM_TRY(shim_fd_maybe(fd), shim_fcntl(fd, cmd, arg));
    return DM_REAL(fcntl)(fd, cmd, arg);
}

DM_HOOK int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    long arg = va_arg(ap, long);
    va_end(ap);
    DM_TRY(shim_fd_maybe(fd), shim_fcntl(fd, cmd, arg));
    return DM_REAL(fcntl64)(fd, cmd, arg);
}

DM_HOOK int ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    DM_TRY(shim_fd_maybe(fd), shim_ioctl(fd, req, arg));
    return DM_REAL(ioctl)(fd, req, arg);
}

DM_HOOK int dup(int fd)
{
    DM_TRY(shim_fd_maybe(fd), shim_dup(fd, -1, 0, 0));
    return DM_REAL(dup)(fd);
}

DM_HOOK int dup2(int oldfd, int newfd)
{
    DM_TRY(shim_fd_maybe(oldfd) || shim_fd_maybe(newfd), shim_dup(oldfd, newfd, 0, 2));
    return DM_REAL(dup2)(oldfd, newfd);
}

DM_HOOK int dup3(int oldfd, int newfd, int flags)
{
    DM_TRY(shim_fd_maybe(oldfd) || shim_fd_maybe(newfd), shim_dup(oldfd, newfd, flags, 3));
    return DM_REAL(dup3)(oldfd, newfd, flags);
}

/* ---- data ---- */

static ssize_t recv_one(int fd, void *buf, size_t len, int flags, struct sockaddr *a, socklen_t *alen)
{
    struct iovec iov = { buf, len };
    struct msghdr m = { .msg_name = a, .msg_namelen = a && alen ? *alen : 0, .msg_iov = &iov, .msg_iovlen = 1 };
    ssize_t r = shim_recvmsg(fd, &m, flags);
    if (r >= 0 && a && alen)
        *alen = m.msg_namelen;
    return r;
}

static ssize_t send_one(int fd, const void *buf, size_t len, int flags, const struct sockaddr *a, socklen_t alen)
{
    struct iovec iov = { (void *)buf, len };
    struct msghdr m = { .msg_name = (void *)a, .msg_namelen = a ? alen : 0, .msg_iov = &iov, .msg_iovlen = 1 };
    return shim_sendmsg(fd, &m, flags);
}

DM_HOOK ssize_t read(int fd, void *buf, size_t n)
{
    DM_TRY(shim_fd_maybe_rw(fd), recv_one(fd, buf, n, 0, NULL, NULL));
    return DM_REAL(read)(fd, buf, n);
}

DM_HOOK ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
    bool ours = shim_fd_maybe_rw(fd);
    if (ours && (cnt < 0 || cnt > IOV_MAX)) {
        errno = EINVAL; /* (sendmsg's and recvmsg's is EMSGSIZE) */
        return -1;
    }
    struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = cnt < 0 ? 0 : (size_t)cnt };
    DM_TRY(ours, shim_recvmsg(fd, &m, 0));
    return DM_REAL(readv)(fd, iov, cnt);
}

DM_HOOK ssize_t write(int fd, const void *buf, size_t n)
{
    DM_TRY(shim_fd_maybe_rw(fd), send_one(fd, buf, n, 0, NULL, 0));
    return DM_REAL(write)(fd, buf, n);
}

DM_HOOK ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    bool ours = shim_fd_maybe_rw(fd);
    if (ours && (cnt < 0 || cnt > IOV_MAX)) {
        errno = EINVAL; /* (sendmsg's and recvmsg's is EMSGSIZE) */
        return -1;
    }
    struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = cnt < 0 ? 0 : (size_t)cnt };
    DM_TRY(ours, shim_sendmsg(fd, &m, 0));
    return DM_REAL(writev)(fd, iov, cnt);
}

DM_HOOK ssize_t recv(int fd, void *buf, size_t n, int flags)
{
    DM_TRY(shim_fd_maybe(fd), recv_one(fd, buf, n, flags, NULL, NULL));
    return DM_REAL(recv)(fd, buf, n, flags);
}

DM_HOOK ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *a, socklen_t *alen)
{
    DM_TRY(shim_fd_maybe(fd), recv_one(fd, buf, n, flags, a, alen));
    return DM_REAL(recvfrom)(fd, buf, n, flags, a, alen);
}

DM_HOOK ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    DM_TRY(shim_fd_maybe(fd) && msg, shim_recvmsg(fd, msg, flags));
    ssize_t r = DM_REAL(recvmsg)(fd, msg, flags);
    if (dm_unlikely(r >= 0 && msg && msg->msg_controllen))
        shim_scm_rights_adopt(msg); /* connections from another process */
    return r;
}

DM_HOOK int recvmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags, struct timespec *tmo)
{
    DM_TRY(shim_fd_maybe(fd) && v, shim_recvmmsg(fd, v, n, flags, tmo));
    return DM_REAL(recvmmsg)(fd, v, n, flags, tmo);
}

DM_HOOK ssize_t send(int fd, const void *buf, size_t n, int flags)
{
    DM_TRY(shim_fd_maybe(fd), send_one(fd, buf, n, flags, NULL, 0));
    return DM_REAL(send)(fd, buf, n, flags);
}

DM_HOOK ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *a, socklen_t alen)
{
    DM_TRY(shim_fd_maybe(fd), send_one(fd, buf, n, flags, a, alen));
    return DM_REAL(sendto)(fd, buf, n, flags, a, alen);
}

DM_HOOK ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    DM_TRY(shim_fd_maybe(fd) && msg, shim_sendmsg(fd, msg, flags));
    if (dm_unlikely(msg && msg->msg_controllen))
        shim_scm_rights_check(msg); /* fds passed to another process */
    return DM_REAL(sendmsg)(fd, msg, flags);
}

DM_HOOK int sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags)
{
    DM_TRY(shim_fd_maybe(fd) && v, shim_sendmmsg(fd, v, n, flags));
    return DM_REAL(sendmmsg)(fd, v, n, flags);
}

DM_HOOK ssize_t sendfile(int out_fd, int in_fd, off_t *offset, size_t count)
{
    DM_TRY(shim_fd_maybe(out_fd), shim_sendfile(out_fd, in_fd, offset, count));
    return DM_REAL(sendfile)(out_fd, in_fd, offset, count);
}

DM_HOOK ssize_t sendfile64(int out_fd, int in_fd, off64_t *offset, size_t count)
{
    DM_TRY(shim_fd_maybe(out_fd), shim_sendfile(out_fd, in_fd, (off_t *)offset, count));
    return DM_REAL(sendfile64)(out_fd, in_fd, offset, count);
}

DM_HOOK ssize_t splice(int in, loff_t *off_in, int out, loff_t *off_out, size_t len, unsigned flags)
{
    DM_TRY(shim_fd_maybe(in) || shim_fd_maybe(out), shim_splice(in, off_in, out, off_out, len, flags));
    return DM_REAL(splice)(in, off_in, out, off_out, len, flags);
}

/* ---- fortified variants (-D_FORTIFY_SOURCE builds call these) ---- */

DM_HOOK ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
    if (n > buflen)
        __chk_fail();
    return read(fd, buf, n);
}

DM_HOOK ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags)
{
    if (n > buflen)
        __chk_fail();
    return recv(fd, buf, n, flags);
}

DM_HOOK ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags, struct sockaddr *a,
                               socklen_t *alen)
{
    if (n > buflen)
        __chk_fail();
    return recvfrom(fd, buf, n, flags, a, alen);
}
