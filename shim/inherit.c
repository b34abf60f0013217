/* SPDX-License-Identifier: MIT */
/*
 * Offloaded sockets that outlive their process image: fork and exec.
 *
 * With a backend over kernel sockets (uring, posix) an offloaded socket is
 * a kernel socket that the datapath holds on an fd of its own (the
 * placeholder at the application's fd number is another, idle, socket).
 * fork() copies that fd into the child like every other, so the child
 * holds a reference to the very same connection; dm_kernel_fd() reads its
 * number from the child's copy of the parent's instance.
 *
 * fork, in the child (shim_inherit_child, from proc.c):
 *   TCP   the socket becomes INHERITED with kfd = that copy, plus the bytes
 *         the parent's datapath had received and the application not read
 *         (s->carry; the parent drains its completions just before the
 *         fork so they are in the shim's buffer). Nothing is done with it
 *         until its first use in the child (a Redis BGSAVE child only
 *         closes it; an inetd child execs); then this process's datapath
 *         adopts kfd (dm_adopt), the carried bytes first in its receive
 *         buffer. close() in either process closes only that process's
 *         fds: the kernel sends the FIN at the last close, as Linux does
 *         (no shutdown() is issued on anyone's behalf).
 *   UDP   the kernel socket goes onto the child's fd numbers at once and
 *         the socket leaves the shim there: the child's sends (a syslog
 *         socket an nginx master opened) go straight to the kernel. A
 *         datagram the parent's datapath had received stays the parent's.
 *   own stack (dpdk, xdp): the connection lives in the parent's datapath
 *         and cannot be shared: REMOTE, and the parent relays it to the
 *         child through a unix socket from its first use here (relay.c);
 *         ORPHAN (close only, EIO otherwise, logged) where no relay could
 *         be set up.
 *
 * exec (shim_inherit_exec, from proc.c): every fd that is not CLOEXEC and
 * names a connection gets the kernel socket itself (dup3 onto its
 * number), so the new program - offloaded or not - owns a working
 * connection at the same fd. Received bytes cannot be pushed back into
 * the kernel socket; those the application had not read (a CGI parent
 * that read the headers, the body already in our buffer) are written to
 * a memfd named "demi-carry-<fd>" that the exec inherits: the new program,
 * under the preload, finds it at load time (inherit_scan below), adopts
 * that fd as INHERITED with those bytes first, and closes the memfd. An
 * accepted connection receives nothing before its first use (the preload
 * sets DEMI_MOVABLE_ACCEPTS), so the usual inetd pattern (accept, fork,
 * dup2 onto 0 and 1, exec) has no such bytes and needs no memfd.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "dm/instance.h"
#include "dm/log.h"
#include "interpose/real.h"
#include "shim/shim.h"

#define CARRY_PREFIX "demi-carry-"

/* The unread bytes of s's receive buffer (memory of this process, or of
 * the parent's instance copied by the fork: buffers are private
 * anonymous memory). NULL when none or no memory. */
static uint8_t *rx_unread(const struct shim_sock *s, size_t *len)
{
    size_t n = s->carry_len;
    for (unsigned i = 0; i < s->rx_count; i++) {
        const struct shim_rxseg *seg = &s->rx[(s->rx_head + i) % SHIM_RXRING];
        n += seg->len - seg->off;
    }
    *len = 0;
    if (n == 0)
        return NULL;
    uint8_t *b = malloc(n);
    if (!b)
        return NULL;
    size_t k = s->carry_len;
    if (k)
        memcpy(b, s->carry, k);
    struct iovec v[SHIM_RX_IOV_MAX];
    int nv = shim_sock_rx_iov(s, v);
    for (int i = 0; i < nv; i++) {
        memcpy(b + k, v[i].iov_base, v[i].iov_len);
        k += v[i].iov_len;
    }
    *len = k;
    return b;
}

/* The child's copy of the parent's instance is read directly, never
 * through shim_dp_inst(): a thread of the parent may have been in a
 * kernel step at the fork, and no such thread exists here to end it. */
static void drop_copy(struct dm_instance *inst, int qd)
{
    int k = inst ? dm_kernel_fd(inst, qd) : -EBADF;
    if (k >= 0)
        DM_REAL(close)(k);
}

void shim_inherit_child_lingering(struct shim_sock *s)
{
    drop_copy(s->dp ? s->dp->inst : NULL, s->qd);
}

void shim_inherit_child(struct shim_sock *s)
{
    struct dm_instance *inst = s->dp ? s->dp->inst : NULL; /* the parent's, a copy */
    if (s->phase == SHIM_LISTENING) {
        /* connections its datapath accepted ahead of accept(): the
         * parent serves them; our copies would only delay their FIN */
        for (unsigned i = 0; i < s->acc_count; i++)
            drop_copy(inst, s->accq[(s->acc_head + i) % SHIM_ACCQ].qd);
        return;
    }
    int kfd = -EBADF;
    if (inst && (s->type == SOCK_DGRAM || s->phase == SHIM_CONNECTED))
        kfd = dm_kernel_fd(inst, s->qd);
    if (kfd == -EOPNOTSUPP && shim_relay_offered(s)) {
        s->state = SHIM_REMOTE; /* relayed by the parent at its first use here */
        return;
    }
    if (kfd < 0) {
        s->state = SHIM_ORPHAN;
        if (kfd == -EOPNOTSUPP)
            DM_DEBUG("shim", "fork: backend %s has its own TCP/IP stack: an offloaded connection stays in the "
                     "parent's datapath; this child can only close it", dm_instance_backend(inst));
        return;
    }
    if (s->type == SOCK_DGRAM) {
        /* where the backend could not connect it, the association was
         * the shim's alone: the kernel socket learns the peer now, so
         * the child's send() has one (again, where it was connected) */
        if (s->udp_has_peer && DM_REAL(connect)(kfd, &s->peer.sa, dm_addr_len(&s->peer.sa)) < 0)
            DM_WARN("shim", "fork: an inherited UDP socket could not be connected: %s", strerror(errno));
        shim_watch_drop_all(s); /* (its epoll's kernel side is the parent's too) */
        s->state = SHIM_INHERITED;
        s->rx_count = 0; /* the parent's datagrams, not ours to free */
        shim_sock_onto_kernel(s, kfd);
        return;
    }
    size_t n;
    uint8_t *b = rx_unread(s, &n);
    if (n == 0 && s->rx_count)
        DM_WARN("shim", "fork: no memory for the bytes the parent had received on a connection; the child "
                "will not see them");
    free(s->carry);
    s->carry = b;
    s->carry_len = n;
    s->kfd = kfd;
    s->state = SHIM_INHERITED;
    DM_DEBUG("shim", "fork: connection (kernel fd %d) inherited, %zu bytes received ahead", kfd, n);
}

int shim_orphan_eio(void)
{
    dm_log_once("shim", "a connection this process inherited through fork() lives in its parent's datapath "
                "(a backend with its own TCP/IP stack, or a connect still in progress at the fork): here it "
                "can only be closed; other calls give EIO");
    return -EIO;
}

int shim_inherit_claim(struct shim_sock *s, int fd)
{
    if (s->state != SHIM_INHERITED)
        return shim_relay_claim(s, fd);
    struct shim_dp *dp = shim_dp_mine();
    int qd = -1, r = dp ? dm_adopt(shim_dp_inst(dp), &qd, s->kfd) : -ENODEV;
    if (r < 0) {
        if (s->carry_len)
            DM_WARN("shim", "fd %d: %zu bytes received before the fork/exec are lost: the connection stays in "
                    "the kernel here (%s)", fd, s->carry_len, strerror(-r));
        else
            DM_DEBUG("shim", "fd %d: inherited connection stays in the kernel: %s", fd, strerror(-r));
        shim_sock_onto_kernel(s, s->kfd);
        return 1;
    }
    s->kfd = -1; /* the instance owns it now */
    s->state = SHIM_OFFLOADED;
    s->dp = dp;
    s->qd = qd;
    s->inst_gen = shim_rt.inst_gen;
    if (s->rcvbuf)
        shim_sock_rcvbuf_to_backend(s);
    s->fresh = false;
    s->rx_lazy = true;
    if (s->carry_len) {
        int err = 0;
        demi_sgarray_t sga = dm_sgaalloc(shim_dp_inst(dp), s->carry_len, &err);
        if (err == 0) {
            memcpy(sga.sga_segs[0].sgaseg_buf, s->carry, s->carry_len);
            struct shim_rxseg *seg = &s->rx[(s->rx_head + s->rx_count) % SHIM_RXRING];
            seg->sga = sga;
            seg->off = 0;
            seg->len = (uint32_t)s->carry_len;
            s->rx_count++;
            s->rx_bytes += s->carry_len;
        } else {
            DM_WARN("shim", "fd %d: %zu bytes received before the fork/exec are lost: %s", fd, s->carry_len,
                    strerror(-err));
        }
        free(s->carry);
        s->carry = NULL;
    }
    DM_DEBUG("shim", "fd %d: inherited connection adopted as qd %d of datapath %u (%zu bytes received before)",
             fd, qd, dp->idx, s->carry_len);
    s->carry_len = 0;
    shim_qmap_put(s);
    shim_watch_note_dp(s);
    shim_watch_mark(s);
    shim_sock_post(s);
    return 0;
}

/* memfds made for an exec: closed again if it fails */
static int carry_fds[16];
static int ncarry;

/* The unread bytes of s, for the program fd is exec'd with. */
static void exec_carry(struct shim_sock *s, int fd)
{
    size_t n;
    uint8_t *b = rx_unread(s, &n);
    if (n == 0)
        return;
    char name[32];
    snprintf(name, sizeof(name), CARRY_PREFIX "%d", fd);
    int m = ncarry < (int)DM_ARRAY_SIZE(carry_fds) ? memfd_create(name, 0) : -1;
    ssize_t w = m >= 0 ? DM_REAL(write)(m, b, n) : -1;
    free(b);
    if (w != (ssize_t)n) {
        if (m >= 0)
            DM_REAL(close)(m);
        DM_WARN("shim", "exec: fd %d: %zu bytes received and not read yet are lost", fd, n);
        return;
    }
    carry_fds[ncarry++] = m;
    DM_DEBUG("shim", "exec: fd %d: %zu bytes received and not read yet go to the new program", fd, n);
}

void shim_inherit_exec(struct shim_sock *s, int fd)
{
    int kfd = -EBADF;
    if (shim_sock_remote(s)) {
        /* the new program gets the relay's unix socket (a stream with
         * the same bytes; its addresses are the shim's to answer) */
        (void)shim_relay_claim(s, fd);
        return;
    }
    if (s->state == SHIM_INHERITED) {
        kfd = s->kfd;
    } else if (s->state == SHIM_OFFLOADED && (s->type == SOCK_DGRAM || s->phase == SHIM_CONNECTED) &&
               shim_dp_live(s->dp)) {
        /* what its receive completed already is in our buffer */
        shim_focus(s->dp);
        for (int i = 0; i < 4 && shim_progress() > 0; i++)
            ;
        kfd = dm_kernel_fd(shim_dp_inst(s->dp), s->qd);
    }
    if (kfd < 0) {
        if (s->state != SHIM_PENDING)
            DM_WARN("shim", "exec: fd %d is an offloaded %s the new program cannot have (%s): it inherits "
                    "only its placeholder", fd, s->type == SOCK_STREAM ? "connection" : "socket",
                    kfd == -EOPNOTSUPP ? "a backend with its own stack" : strerror(-kfd));
        return;
    }
    /* the application's blocking mode is the placeholder's; the kernel
     * socket's is the datapath's (blocking) */
    int fl = DM_REAL(fcntl)(kfd, F_GETFL);
    if (fl >= 0 && ((fl & O_NONBLOCK) != 0) != s->nonblock)
        DM_REAL(fcntl)(kfd, F_SETFL, s->nonblock ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
    if (s->type == SOCK_DGRAM && s->udp_has_peer)
        (void)DM_REAL(connect)(kfd, &s->peer.sa, dm_addr_len(&s->peer.sa));
    /* the bytes go with the lowest fd naming it (stdin of an inetd child) */
    int hi = shim_fd_max(), lowest = -1;
    for (int i = 0; i <= hi && lowest < 0; i++)
        if (shim_fd_get(i) == &s->obj && DM_REAL(fcntl)(i, F_GETFD) == 0)
            lowest = i;
    if (fd == lowest && s->type == SOCK_STREAM)
        exec_carry(s, fd);
    if (DM_REAL(dup3)(kfd, fd, 0) < 0)
        DM_WARN("shim", "exec: fd %d: cannot hand its kernel socket over: %s", fd, strerror(errno));
    else
        DM_DEBUG("shim", "exec: fd %d: the new program gets the connection's kernel socket", fd);
}

void shim_inherit_exec_failed(void)
{
    for (int i = 0; i < ncarry; i++)
        DM_REAL(close)(carry_fds[i]);
    ncarry = 0;
}

/* A connected TCP socket at fd that the shim does not know (the kernel's:
 * one an exec or a unix socket gave this program) becomes INHERITED,
 * adopted by this thread's datapath at its first use: its kernel socket
 * moves to a CLOEXEC fd of ours, a placeholder takes fd with the
 * application's blocking mode. `policy`: only where DEMI_OFFLOAD's rules
 * would offload such a connection. NULL: not such a socket, or no room. */
static struct shim_sock *adopt_conn(int fd, bool policy)
{
    int type = 0;
    socklen_t l = sizeof(type);
    union dm_sockaddr local = { 0 }, peer = { 0 };
    socklen_t ll = sizeof(local), pl = sizeof(peer);
    const char *why = NULL;
    if (shim_fd_get(fd) || DM_REAL(getsockopt)(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0 || type != SOCK_STREAM ||
        DM_REAL(getpeername)(fd, &peer.sa, &pl) < 0 ||
        (peer.sa.sa_family != AF_INET && !(peer.sa.sa_family == AF_INET6 && shim_rt.cfg.inet6)) ||
        DM_REAL(getsockname)(fd, &local.sa, &ll) < 0)
        return NULL;
    if (policy && !shim_offload_decide_addr(shim_offload_rules, &shim_rt.cfg, SOCK_STREAM, &local, &peer, &why)) {
        DM_DEBUG("shim", "fd %d: connection from another process stays in the kernel: %s", fd, why);
        return NULL;
    }
    int fl = DM_REAL(fcntl)(fd, F_GETFL), fdfl = DM_REAL(fcntl)(fd, F_GETFD);
    bool nonblock = fl >= 0 && (fl & O_NONBLOCK);
    struct shim_sock *s = shim_sock_new(SOCK_STREAM);
    int kfd = DM_REAL(fcntl)(fd, F_DUPFD_CLOEXEC, 0);
    int ph = DM_REAL(socket)(peer.sa.sa_family, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (!s || kfd < 0 || ph < 0 || shim_fd_set(fd, &s->obj) < 0) {
        if (kfd >= 0)
            DM_REAL(close)(kfd);
        if (ph >= 0)
            DM_REAL(close)(ph);
        shim_sock_discard(s);
        return NULL;
    }
    DM_REAL(dup3)(ph, fd, fdfl > 0 && (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0);
    DM_REAL(close)(ph);
    s->state = SHIM_INHERITED;
    s->kfd = kfd;
    s->phase = SHIM_CONNECTED;
    s->family = peer.sa.sa_family;
    s->local = local;
    s->peer = peer;
    s->nonblock = nonblock;
    return s;
}

/* A connected TCP socket fd of this program, with the bytes of memfd m
 * read ahead by the program that exec'd it. */
static void adopt_carry(int fd, int m)
{
    struct stat st;
    if (fstat(m, &st) < 0 || st.st_size <= 0)
        return;
    uint8_t *b = malloc((size_t)st.st_size);
    struct shim_sock *s = b && pread(m, b, (size_t)st.st_size, 0) == st.st_size ? adopt_conn(fd, false) : NULL;
    if (!s) {
        if (!shim_fd_get(fd))
            DM_WARN("shim", "fd %d: %lld bytes its connection received before the exec are lost", fd,
                    (long long)st.st_size);
        free(b);
        return;
    }
    s->carry = b;
    s->carry_len = (size_t)st.st_size;
    DM_DEBUG("shim", "fd %d: connection with %zu bytes received before the exec", fd, s->carry_len);
}

void shim_scm_rights_adopt(const struct msghdr *msg)
{
    /* (our own calls, and a device's threads - DPDK's memif control
     * channel passes its regions' fds so - are not the application's) */
    if ((msg->msg_flags & MSG_CTRUNC) || shim_bypass())
        return;
    int saved = errno;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR((struct msghdr *)msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
            int type = 0;
            socklen_t tl = sizeof(type);
            if (DM_REAL(getsockopt)(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM)
                continue; /* not a stream socket: nothing to take the lock for */
            shim_lock();
            if (adopt_conn(fd, true))
                DM_DEBUG("shim", "fd %d: a connection from another process (SCM_RIGHTS): adopted at its first use",
                         fd);
            shim_unlock();
        }
    }
    errno = saved;
}

/* After rt.c's scan of inherited listeners. */
__attribute__((constructor(104))) static void inherit_scan(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    shim_lock();
    struct dirent *e;
    char path[64], link[128];
    while ((e = readdir(d)) != NULL) {
        char *end;
        long m = strtol(e->d_name, &end, 10);
        if (*end || end == e->d_name || m < 0 || m == dirfd(d) || m > INT32_MAX)
            continue;
        snprintf(path, sizeof(path), "/proc/self/fd/%ld", m);
        ssize_t n = readlink(path, link, sizeof(link) - 1);
        if (n <= 0)
            continue;
        link[n] = 0;
        int fd;
        if (sscanf(link, "/memfd:" CARRY_PREFIX "%d", &fd) != 1)
            continue;
        adopt_carry(fd, (int)m);
        DM_REAL(close)((int)m);
    }
    shim_unlock();
    closedir(d);
}
