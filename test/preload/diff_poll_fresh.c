/* SPDX-License-Identifier: MIT */
/* Differential: a wait on a connection nobody has read from or waited on
 * yet answers from what arrived before the call, as Linux does. A
 * connection pool's liveness check (poll(fd, POLLIN, 0): did the peer
 * close it?) and a poll for input and output together (output is ready at
 * once, so the input must be known by then) used to miss the peer's data
 * and FIN on the first call. */
#include <sys/select.h>
#include "diff.h"

static void settle(void) { ms_sleep(50); }

int main(void)
{
    int l, c, s, n;
    char buf[16];

    /* data, then the liveness check */
    tcp_conn(&l, &c, &s);
    if (write(c, "hi", 2) != 2)
        die("write");
    settle();
    struct pollfd p = { .fd = s, .events = POLLIN };
    n = poll(&p, 1, 0);
    printf("data: poll(POLLIN, 0) n=%d revents %x\n", n, p.revents);
    SHOWV(read(s, buf, sizeof(buf)));
    close(c), close(s), close(l);

    /* the peer's FIN: input, output and RDHUP together */
    tcp_conn(&l, &c, &s);
    SHOW(shutdown(c, SHUT_WR));
    settle();
    p = (struct pollfd){ .fd = s, .events = POLLIN | POLLOUT | POLLRDHUP };
    n = poll(&p, 1, 0);
    printf("fin: poll(IN|OUT|RDHUP, 0) n=%d revents %x\n", n, p.revents);
    SHOWV(read(s, buf, sizeof(buf)));
    close(c), close(s), close(l);

    /* the peer closed: the pool's check, then select */
    tcp_conn(&l, &c, &s);
    close(c);
    settle();
    fd_set r;
    FD_ZERO(&r);
    FD_SET(s, &r);
    struct timeval tv = { 0, 0 };
    n = select(s + 1, &r, NULL, NULL, &tv);
    printf("closed: select(0) n=%d readable %d\n", n, FD_ISSET(s, &r));
    SHOWV(read(s, buf, sizeof(buf)));
    close(s), close(l);

    /* the connecting side: the server closed a connection the client
     * never read from */
    tcp_conn(&l, &c, &s);
    close(s);
    settle();
    p = (struct pollfd){ .fd = c, .events = POLLIN };
    n = poll(&p, 1, 0);
    printf("client: poll(POLLIN, 0) n=%d revents %x\n", n, p.revents);
    SHOWV(read(c, buf, sizeof(buf)));
    close(c), close(l);

    /* epoll: added after the data came, then a wait that does not wait */
    tcp_conn(&l, &c, &s);
    if (write(c, "hey", 3) != 3)
        die("write");
    settle();
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.fd = s }, out[2];
    SHOW(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev));
    n = epoll_wait(ep, out, 2, 0);
    printf("epoll: epoll_wait(0) n=%d events %x\n", n, n > 0 ? out[0].events : 0);
    SHOWV(read(s, buf, sizeof(buf)));
    close(ep), close(c), close(s), close(l);
    return 0;
}
