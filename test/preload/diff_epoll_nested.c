/* SPDX-License-Identifier: MIT */
/* Differential: an epoll waited on as a fd - by poll, select or another
 * epoll (an event loop embedded in another's) - is readable while a
 * socket in it is ready, and not after it was read. Ours answered from
 * the kernel's set, where our sockets are not: never readable. */
#include <sys/select.h>
#include "diff_thread.h"

static int send_fd;

static void *send_later(void *arg)
{
    (void)arg;
    ms_sleep(100);
    if (write(send_fd, "x", 1) != 1)
        die("write");
    return NULL;
}

static void later(pthread_t *t, int fd)
{
    send_fd = fd;
    if (pthread_create(t, NULL, send_later, NULL) != 0)
        die("pthread_create");
}

int main(void)
{
    dt_watchdog(30);
    int l, c, s;
    tcp_conn(&l, &c, &s);
    int inner = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = s }, out[4];
    SHOW(epoll_ctl(inner, EPOLL_CTL_ADD, s, &ev));
    char b[8];
    pthread_t t;

    dt_set_phase("poll");
    struct pollfd p = { .fd = inner, .events = POLLIN };
    SHOWV(poll(&p, 1, 0));
    later(&t, c);
    SHOWV(poll(&p, 1, 5000));
    printf("revents %x\n", p.revents);
    pthread_join(t, NULL);
    SHOWV(poll(&p, 1, 0)); /* still: nothing was read */
    SHOWV(epoll_wait(inner, out, 4, 0));
    SHOWV(read(s, b, sizeof(b)));
    SHOWV(poll(&p, 1, 0));

    dt_set_phase("select");
    fd_set r;
    FD_ZERO(&r);
    FD_SET(inner, &r);
    later(&t, c);
    struct timeval tv = { 5, 0 };
    SHOWV(select(inner + 1, &r, NULL, NULL, &tv));
    printf("inner readable %d\n", FD_ISSET(inner, &r));
    pthread_join(t, NULL);
    SHOWV(read(s, b, sizeof(b)));

    dt_set_phase("epoll in epoll");
    int outer = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event oev = { .events = EPOLLIN, .data.u64 = 77 };
    SHOW(epoll_ctl(outer, EPOLL_CTL_ADD, inner, &oev));
    SHOWV(epoll_wait(outer, out, 4, 0));
    later(&t, c);
    int n = epoll_wait(outer, out, 4, 5000);
    printf("outer: %d, data %llu\n", n, n > 0 ? (unsigned long long)out[0].data.u64 : 0ULL);
    pthread_join(t, NULL);
    n = epoll_wait(inner, out, 4, 0);
    printf("inner: %d, fd is s %d\n", n, n > 0 && out[0].data.fd == s);
    SHOWV(read(s, b, sizeof(b)));
    SHOWV(epoll_wait(outer, out, 4, 0));
    close(outer), close(inner), close(c), close(s), close(l);
    return 0;
}
