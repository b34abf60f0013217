/* SPDX-License-Identifier: MIT */
/* Differential: a set of one socket that stays readable and a pipe that is
 * quiet, waited on with timeout 0 many times, as a server's loop does with
 * its notify pipe (redis, libevent): every wait reports the socket; once
 * the pipe is written, a wait reports it too. Then poll() of the socket
 * alone, which reports it every time. On stderr, for
 * epoll-quiet.sh: how many waits and how long they took, which bounds how
 * often the preload may ask the kernel about the pipe. */
#include <sys/epoll.h>
#include <time.h>
#include "diff.h"

#define WAITS 20000

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(void)
{
    int l, c, s, p[2];
    tcp_conn(&l, &c, &s);
    if (pipe(p) < 0)
        die("pipe");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event e = { .events = EPOLLIN, .data.u64 = 1 };
    SHOW(epoll_ctl(ep, EPOLL_CTL_ADD, s, &e));
    e.data.u64 = 2;
    SHOW(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &e));
    if (write(c, "x", 1) != 1)
        die("write");
    struct epoll_event evs[4];
    /* the byte reaches s */
    int n = 0;
    for (int i = 0; i < 1000 && n == 0; i++)
        n = epoll_wait(ep, evs, 4, 10);
    printf("socket readable: %d\n", n == 1 && evs[0].data.u64 == 1);
    int sock_every = 1, pipe_seen = 0;
    long long t0 = now_ns();
    for (int i = 0; i < WAITS; i++) {
        n = epoll_wait(ep, evs, 4, 0);
        if (n != 1 || evs[0].data.u64 != 1)
            sock_every = 0;
    }
    long long t1 = now_ns();
    printf("the socket in each of %d waits: %d\n", WAITS, sock_every);
    if (write(p[1], "p", 1) != 1)
        die("write pipe");
    long long t2 = now_ns();
    while (!pipe_seen && now_ns() - t2 < 2000000000LL) {
        n = epoll_wait(ep, evs, 4, 0);
        for (int i = 0; i < n; i++)
            pipe_seen |= evs[i].data.u64 == 2;
    }
    long long t3 = now_ns();
    printf("the pipe, once written, in a wait: %d\n", pipe_seen);
    /* poll() of the socket alone: nothing of the kernel's to ask */
    struct pollfd pf = { .fd = s, .events = POLLIN };
    int poll_every = 1;
    for (int i = 0; i < WAITS; i++)
        if (poll(&pf, 1, 0) != 1 || !(pf.revents & POLLIN))
            poll_every = 0;
    printf("the socket in each of %d polls of it alone: %d\n", WAITS, poll_every);
    fprintf(stderr, "quiet: waits %d ns %lld pipe_after_ns %lld\n", WAITS, t1 - t0, t3 - t2);
    return 0;
}
