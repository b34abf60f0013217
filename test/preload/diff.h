/* SPDX-License-Identifier: MIT */
/*
 * Helpers of the differential programs. Each program prints one line per
 * call it checks - the call, its result and errno's name - and never
 * anything that differs between runs (ports, fds, pids, timings), so that
 * its output under the preload must equal its output on the plain kernel.
 */
#ifndef DIFF_H
#define DIFF_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static inline const char *ename(int e)
{
    const char *n = strerrorname_np(e);
    return n ? n : "E?";
}

/* Prints "label -> ok" / "label -> -1 ENAME"; returns the result. Results
 * that vary (fds, byte counts of partial I/O) are shown as ok/>0. */
static inline long show(const char *label, long r)
{
    int e = errno;
    if (r < 0)
        printf("%-48s -> -1 %s\n", label, ename(e));
    else
        printf("%-48s -> ok\n", label);
    fflush(stdout);
    errno = e;
    return r;
}

/* Prints the exact value (for byte counts that must match). */
static inline long showv(const char *label, long r)
{
    int e = errno;
    if (r < 0)
        printf("%-48s -> -1 %s\n", label, ename(e));
    else
        printf("%-48s -> %ld\n", label, r);
    fflush(stdout);
    errno = e;
    return r;
}

#define SHOW(call) show(#call, (long)(call))
#define SHOWV(call) showv(#call, (long)(call))

static inline void die(const char *what)
{
    printf("FATAL %s: %s\n", what, ename(errno));
    fflush(stdout);
    exit(1);
}

static inline void ms_sleep(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* A listening TCP socket on 127.0.0.1, ephemeral port. */
static inline int listener(struct sockaddr_in *out, int flags)
{
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | flags, 0);
    if (fd < 0)
        die("socket");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 16) < 0)
        die("bind/listen");
    socklen_t l = sizeof(*out);
    getsockname(fd, (struct sockaddr *)out, &l);
    return fd;
}

static inline int connect_to(const struct sockaddr_in *a, int flags)
{
    int fd = socket(AF_INET, SOCK_STREAM | flags, 0);
    if (fd < 0)
        die("socket");
    int r = connect(fd, (const struct sockaddr *)a, sizeof(*a));
    if (r < 0 && errno != EINPROGRESS)
        die("connect");
    return fd;
}

/* Reads exactly n bytes (blocking socket). */
static inline long read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r <= 0)
            return r < 0 ? r : (long)got;
        got += (size_t)r;
    }
    return (long)got;
}

/* One byte over unix socket `via` carrying fd (SCM_RIGHTS): sendmsg's
 * result. */
static inline long send_fd_over(int via, int fd)
{
    char ctl[CMSG_SPACE(sizeof(int))];
    memset(ctl, 0, sizeof(ctl));
    struct iovec iov = { "f", 1 };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl) };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    return (long)sendmsg(via, &m, 0);
}

/* Waits until fd has one of events (poll), up to ms. */
/* One connection on 127.0.0.1: *l the listener (handed over to the
 * datapath first, by a poll: a no-op on the kernel), *c the connecting
 * end, *s the accepted one. */
static inline void tcp_conn(int *l, int *c, int *s)
{
    struct sockaddr_in la;
    *l = listener(&la, 0);
    struct pollfd lp = { .fd = *l, .events = POLLIN };
    poll(&lp, 1, 0);
    *c = connect_to(&la, 0);
    *s = accept(*l, NULL, NULL);
    if (*s < 0)
        die("accept");
}

/* Returns once both sockets have input (polled one at a time, so the
 * caller's next wait is the first to see them together). */
static inline void both_readable(int a, int b)
{
    for (int i = 0; i < 500; i++) {
        struct pollfd pa = { .fd = a, .events = POLLIN }, pb = { .fd = b, .events = POLLIN };
        if (poll(&pa, 1, 10) == 1 && poll(&pb, 1, 10) == 1)
            return;
    }
    die("both requests never arrived");
}

/* a and b both readable, then one epoll_wait that sees them together (an
 * event-loop turn of two events under the preload); what it returned. */
static inline int one_turn(int a, int b)
{
    both_readable(a, b);
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN };
    ev.data.fd = a;
    epoll_ctl(ep, EPOLL_CTL_ADD, a, &ev);
    ev.data.fd = b;
    epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev);
    struct epoll_event out[4];
    int n = epoll_wait(ep, out, 4, 5000);
    close(ep);
    return n;
}

static inline int wait_for(int fd, short events, int ms)
{
    struct pollfd p = { .fd = fd, .events = events };
    return poll(&p, 1, ms) == 1 ? p.revents : 0;
}


/* A peer in another process, reached through a listener and pipes: none
 * of its calls drives the datapath of the process under test, so what it
 * sends arrives while that one makes no call, and the pipes (kernel fds)
 * say when each side acts. */
#define PEER_PIPES 2
struct peer {
    struct sockaddr_in la; /* the listener's address, to connect to */
    int lfd;               /* the listener, the datapath's already */
    int pipes[PEER_PIPES][2];
    pid_t pid;
};

/* The listener (handed over by a poll, a no-op on the kernel), `npipes`
 * pipes, then the fork: `run` is the peer, which exits 0 when it
 * returns. stdout is flushed first, or the peer would print the lines the
 * parent had buffered again. */
static inline void peer_start(struct peer *p, int npipes, void (*run)(struct peer *p, void *arg), void *arg)
{
    p->lfd = listener(&p->la, 0);
    struct pollfd lp = { .fd = p->lfd, .events = POLLIN };
    poll(&lp, 1, 0);
    for (int i = 0; i < PEER_PIPES; i++)
        p->pipes[i][0] = p->pipes[i][1] = -1;
    for (int i = 0; i < npipes; i++)
        if (pipe(p->pipes[i]) < 0)
            die("pipe");
    fflush(stdout);
    p->pid = fork();
    if (p->pid < 0)
        die("fork");
    if (p->pid == 0) {
        run(p, arg);
        fflush(stdout);
        _exit(0);
    }
}

/* Closes one pipe end (in the parent: one only the peer uses, so that a
 * read of the other end sees the peer's exit). */
static inline void peer_close_end(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Waits for the peer, then closes the pipes and the listener; the peer's
 * exit status, -1 when it did not exit. */
static inline int peer_wait(struct peer *p)
{
    int st = 0;
    pid_t r = waitpid(p->pid, &st, 0);
    for (int i = 0; i < PEER_PIPES; i++) {
        peer_close_end(&p->pipes[i][0]);
        peer_close_end(&p->pipes[i][1]);
    }
    close(p->lfd);
    return r == p->pid && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#endif
