/* SPDX-License-Identifier: MIT */
/* Differential: non-blocking sockets - SOCK_NONBLOCK, O_NONBLOCK, FIONBIO,
 * EINPROGRESS then EPOLLOUT/SO_ERROR, refused connects, EAGAIN, MSG_DONTWAIT
 * on blocking sockets, SOCK_CLOEXEC, accept4 flags, backpressure. */
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include "diff.h"

int main(void)
{
    struct sockaddr_in la;
    char buf[64];
    int v;
    socklen_t vl;

    int l = listener(&la, SOCK_NONBLOCK);
    SHOW(accept(l, NULL, NULL));
    printf("listener O_NONBLOCK %d\n", (fcntl(l, F_GETFL) & O_NONBLOCK) != 0);

    int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    printf("FD_CLOEXEC %d\n", (fcntl(c, F_GETFD) & FD_CLOEXEC) != 0);
    SHOW(connect(c, (struct sockaddr *)&la, sizeof(la)));
    int ev = wait_for(c, POLLOUT, 2000);
    printf("connect poll revents OUT %d ERR %d\n", (ev & POLLOUT) != 0, (ev & POLLERR) != 0);
    vl = sizeof(v);
    SHOW(getsockopt(c, SOL_SOCKET, SO_ERROR, &v, &vl));
    printf("SO_ERROR %s\n", v ? ename(v) : "0");
    SHOW(connect(c, (struct sockaddr *)&la, sizeof(la)));

    wait_for(l, POLLIN, 2000);
    int s = accept4(l, NULL, NULL, SOCK_NONBLOCK);
    show("accept4 NONBLOCK", s);
    printf("accepted O_NONBLOCK %d\n", (fcntl(s, F_GETFL) & O_NONBLOCK) != 0);
    SHOW(read(s, buf, sizeof(buf)));
    SHOW(accept4(l, NULL, NULL, 12345));

    /* FIONBIO and F_SETFL toggles */
    int off = 0, on = 1;
    SHOW(ioctl(s, FIONBIO, &off));
    printf("after FIONBIO 0: O_NONBLOCK %d\n", (fcntl(s, F_GETFL) & O_NONBLOCK) != 0);
    SHOW(recv(s, buf, sizeof(buf), MSG_DONTWAIT));
    SHOW(ioctl(s, FIONBIO, &on));
    SHOW(fcntl(s, F_SETFL, fcntl(s, F_GETFL) & ~O_NONBLOCK));
    SHOW(fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK));
    SHOW(read(s, buf, sizeof(buf)));

    /* data then EAGAIN */
    SHOWV(write(c, "abc", 3));
    wait_for(s, POLLIN, 2000);
    SHOWV(read(s, buf, sizeof(buf)));
    SHOW(read(s, buf, sizeof(buf)));

    /* backpressure: write until EAGAIN, then drain, then POLLOUT again */
    static char chunk[65536];
    long total = 0;
    int eagain = 0;
    for (int i = 0; i < 2000; i++) {
        ssize_t w = write(c, chunk, sizeof(chunk));
        if (w < 0) {
            eagain = errno == EAGAIN;
            break;
        }
        total += w;
    }
    printf("filled until EAGAIN %d (wrote something %d)\n", eagain, total > 0);
    long got = 0;
    while (got < total) {
        if (!wait_for(s, POLLIN, 2000))
            break;
        ssize_t r = read(s, chunk, sizeof(chunk));
        if (r <= 0)
            break;
        got += r;
    }
    printf("drained all %d\n", got == total);
    ev = wait_for(c, POLLOUT, 2000);
    printf("writable again %d\n", (ev & POLLOUT) != 0);

    /* refused non-blocking connect: EINPROGRESS, then POLLOUT|POLLERR and SO_ERROR */
    struct sockaddr_in dead;
    int tmp = listener(&dead, 0);
    close(tmp); /* a port nobody listens on */
    int r = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    long cr = connect(r, (struct sockaddr *)&dead, sizeof(dead));
    printf("refused connect: %s\n", cr == 0 ? "ok" : ename(errno));
    ev = wait_for(r, POLLOUT, 2000);
    printf("refused revents OUT %d ERR %d HUP %d\n", (ev & POLLOUT) != 0, (ev & POLLERR) != 0, (ev & POLLHUP) != 0);
    vl = sizeof(v);
    SHOW(getsockopt(r, SOL_SOCKET, SO_ERROR, &v, &vl));
    printf("SO_ERROR %s\n", v ? ename(v) : "0");
    vl = sizeof(v);
    SHOW(getsockopt(r, SOL_SOCKET, SO_ERROR, &v, &vl));
    printf("SO_ERROR again %s\n", v ? ename(v) : "0");
    close(r);

    /* refused blocking connect */
    r = socket(AF_INET, SOCK_STREAM, 0);
    SHOW(connect(r, (struct sockaddr *)&dead, sizeof(dead)));
    close(r);

    /* blocking accept with SO_RCVTIMEO times out with EAGAIN */
    int lb = listener(&dead, 0);
    struct timeval tv = { 0, 100000 };
    SHOW(setsockopt(lb, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
    SHOW(accept(lb, NULL, NULL));
    close(lb);

    SHOW(close(s));
    SHOW(close(c));
    SHOW(close(l));
    return 0;
}
