/* SPDX-License-Identifier: MIT */
/* Differential: epoll_pwait2 (a timespec timeout) over an offloaded
 * connection: a timeout with nothing to read, the readiness of bytes the
 * peer sent (with a timeout, and with none), a signal mask, bad
 * timespecs. Unhooked, it waited on the placeholder, which never gets a
 * byte: no readiness, and the wait without a timeout hung. */
#include <sys/epoll.h>
#include "diff.h"

int main(void)
{
    alarm(20);
    struct sockaddr_in la;
    int l = listener(&la, 0);
    /* a poll of the listener hands it over (a no-op on the kernel): the
     * connection is the datapath's, not one the kernel accepted before */
    struct pollfd lp = { .fd = l, .events = POLLIN };
    poll(&lp, 1, 0);
    int c = connect_to(&la, 0);
    int s = accept(l, NULL, NULL);
    int ep = epoll_create1(0);
    struct epoll_event e = { .events = EPOLLIN, .data.u32 = 7 }, out[2];
    SHOW(epoll_ctl(ep, EPOLL_CTL_ADD, s, &e));

    struct timespec ts = { 0, 50 * 1000000L };
    SHOWV(epoll_pwait2(ep, out, 2, &ts, NULL));
    struct timespec zero = { 0, 0 };
    SHOWV(epoll_pwait2(ep, out, 2, &zero, NULL));

    SHOWV(write(c, "hello", 5));
    ts.tv_sec = 2;
    SHOWV(epoll_pwait2(ep, out, 2, &ts, NULL));
    printf("data %u events %#x\n", out[0].data.u32, out[0].events);
    SHOWV(epoll_pwait2(ep, out, 2, NULL, NULL));
    sigset_t m;
    sigemptyset(&m);
    SHOWV(epoll_pwait2(ep, out, 2, NULL, &m));

    char buf[8];
    SHOWV(read(s, buf, sizeof(buf)));
    ts.tv_sec = 0;
    SHOWV(epoll_pwait2(ep, out, 2, &ts, NULL));
    struct timespec bad = { 0, 1000000000L };
    SHOW(epoll_pwait2(ep, out, 2, &bad, NULL));
    bad.tv_sec = -1;
    bad.tv_nsec = 0;
    SHOW(epoll_pwait2(ep, out, 2, &bad, NULL));
    close(ep);
    close(s);
    close(c);
    close(l);
    return 0;
}
