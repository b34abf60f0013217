/* SPDX-License-Identifier: MIT */
/* Differential: what the kernel tells about an offloaded connection:
 * getsockopt(TCP_INFO)'s state (listener, both ends, after the peer's
 * FIN, after our shutdown), ioctl SIOCINQ (bytes readable) and SIOCOUTQ
 * (bytes not yet acknowledged) with a few bytes, with the peer's window
 * full, and drained. Unhooked, the placeholder answered: never connected,
 * state CLOSE and empty queues. */
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include "diff.h"

static int state(int fd)
{
    struct tcp_info ti;
    socklen_t l = sizeof(ti);
    memset(&ti, 0, sizeof(ti));
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) < 0)
        return -errno;
    return ti.tcpi_state;
}

static int q(int fd, unsigned long req)
{
    int v = -1;
    return ioctl(fd, req, &v) < 0 ? -errno : v;
}

/* Polls cond's value (bounded) until it is want; returns the last. */
#define SETTLE(expr, want)                                    \
    ({                                                        \
        int v_ = (expr);                                      \
        for (int i_ = 0; i_ < 200 && v_ != (want); i_++) {    \
            ms_sleep(10);                                     \
            v_ = (expr);                                      \
        }                                                     \
        v_;                                                   \
    })

int main(void)
{
    alarm(20);
    int l, c, s;
    tcp_conn(&l, &c, &s);

    printf("listener state %d (LISTEN %d)\n", state(l), TCP_LISTEN);
    printf("listener SIOCOUTQ %d\n", q(l, SIOCOUTQ) == -EINVAL);
    printf("server state %d, client state %d (ESTABLISHED %d)\n", state(s), state(c), TCP_ESTABLISHED);
    printf("idle: inq %d outq %d\n", q(s, SIOCINQ), q(s, SIOCOUTQ));

    SHOWV(write(c, "hello", 5));
    wait_for(s, POLLIN, 2000);
    printf("after 5 bytes: server inq %d, client outq %d\n", SETTLE(q(s, SIOCINQ), 5), SETTLE(q(c, SIOCOUTQ), 0));
    char buf[65536];
    SHOWV(read(s, buf, 5));
    printf("read: server inq %d\n", q(s, SIOCINQ));

    /* the peer does not read: the sender's queue holds what the window
     * does not take */
    int fl = fcntl(c, F_GETFL);
    fcntl(c, F_SETFL, fl | O_NONBLOCK);
    long sent = 0;
    for (int i = 0; i < 100000; i++) {
        ssize_t w = write(c, buf, sizeof(buf));
        if (w < 0)
            break;
        sent += w;
    }
    ms_sleep(100);
    printf("full: client outq > 0: %d, server inq > 0: %d\n", q(c, SIOCOUTQ) > 0, q(s, SIOCINQ) > 0);
    fcntl(c, F_SETFL, fl);
    long got = 0;
    while (got < sent) {
        ssize_t r = read(s, buf, sizeof(buf));
        if (r <= 0)
            die("read");
        got += r;
    }
    printf("drained %d: inq %d outq %d\n", got == sent, SETTLE(q(s, SIOCINQ), 0), SETTLE(q(c, SIOCOUTQ), 0));

    shutdown(c, SHUT_WR);
    wait_for(s, POLLIN, 2000);
    SHOWV(read(s, buf, 1));
    printf("peer's FIN: server state %d (CLOSE_WAIT %d), client %d (FIN_WAIT2 %d)\n",
           SETTLE(state(s), TCP_CLOSE_WAIT), TCP_CLOSE_WAIT, SETTLE(state(c), TCP_FIN_WAIT2), TCP_FIN_WAIT2);
    close(s);
    close(c);
    close(l);
    return 0;
}
