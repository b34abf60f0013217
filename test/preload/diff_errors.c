/* SPDX-License-Identifier: MIT */
/* Differential: errors on bad fds, bad addresses and lengths, wrong
 * states, unsupported options - each must give Linux's errno. */
#include <sys/ioctl.h>
#include "diff.h"

int main(void)
{
    char buf[8];
    int v = 1;
    socklen_t vl = sizeof(v);
    struct sockaddr_in lo = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    struct sockaddr_in6 six = { .sin6_family = AF_INET6 };

    SHOW(read(-1, buf, 1));
    SHOW(write(12345, buf, 1));
    SHOW(close(12345));
    SHOW(socket(AF_INET, SOCK_STREAM, IPPROTO_UDP));
    SHOW(socket(12345, SOCK_STREAM, 0));

    int t = socket(AF_INET, SOCK_STREAM, 0);
    SHOW(getpeername(t, (struct sockaddr *)buf, &vl));
    SHOW(recv(t, buf, 1, 0));
    SHOW(send(t, buf, 1, MSG_NOSIGNAL));
    SHOW(accept(t, NULL, NULL));
    SHOW(shutdown(t, SHUT_RD));
    SHOW(bind(t, (struct sockaddr *)&lo, 4));
    SHOW(bind(t, (struct sockaddr *)&six, sizeof(six)));
    SHOW(connect(t, (struct sockaddr *)&lo, 2));
    SHOW(connect(t, (struct sockaddr *)&six, sizeof(six)));
    SHOW(setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &v, 2));
    SHOW(setsockopt(t, SOL_SOCKET, SO_ERROR, &v, sizeof(v)));
    SHOW(getsockopt(t, SOL_SOCKET, 4242, &v, &vl));
    SHOW(ioctl(t, FIONREAD, &v));

    SHOW(bind(t, (struct sockaddr *)&lo, sizeof(lo)));
    SHOW(bind(t, (struct sockaddr *)&lo, sizeof(lo)));
    SHOW(listen(t, 4));
    struct sockaddr_in la;
    socklen_t ll = sizeof(la);
    getsockname(t, (struct sockaddr *)&la, &ll);
    int t2 = socket(AF_INET, SOCK_STREAM, 0);
    SHOW(bind(t2, (struct sockaddr *)&la, sizeof(la)));
    SHOW(read(t, buf, 1));
    SHOW(send(t, buf, 1, MSG_NOSIGNAL));
    SHOW(shutdown(t, 7));

    int c = socket(AF_INET, SOCK_STREAM, 0);
    SHOW(connect(c, (struct sockaddr *)&la, sizeof(la)));
    SHOW(connect(c, (struct sockaddr *)&la, sizeof(la)));
    SHOW(listen(c, 1));
    int s = accept(t, NULL, NULL);
    show("accept", s);
    SHOW(accept4(t, NULL, NULL, 0x40000000));
    ll = 1;
    SHOW(getpeername(c, (struct sockaddr *)&la, &ll));
    printf("short getpeername len %u\n", ll);
    SHOW(recv(s, buf, 1, MSG_OOB));
    SHOW(shutdown(s, SHUT_RDWR));
    SHOW(send(s, buf, 1, MSG_NOSIGNAL));
    SHOW(close(s));
    SHOW(close(s));
    SHOW(read(s, buf, 1));
    SHOW(dup2(c, c));
    SHOW(dup3(c, c, 0));
    int d = dup(c);
    show("dup", d);
    SHOW(close(c));
    SHOW(send(d, "z", 1, MSG_NOSIGNAL));
    SHOW(close(d));

    int u = socket(AF_INET, SOCK_DGRAM, 0);
    SHOW(listen(u, 1));
    SHOW(accept(u, NULL, NULL));
    SHOW(send(u, "x", 1, 0));
    SHOW(sendto(u, "x", 1, 0, (struct sockaddr *)&lo, 3));
    close(u);

    /* close_range: a number the kernel reuses must not be taken for ours */
    int u9 = socket(AF_INET, SOCK_DGRAM, 0);
    SHOWV(sendto(u9, "x", 1, 0, (struct sockaddr *)&lo, sizeof(lo)) >= 0);
    SHOW(close_range((unsigned)u9, (unsigned)u9, 0));
    int pp[2];
    if (pipe(pp) < 0)
        die("pipe");
    printf("pipe reused the number %d\n", pp[0] == u9 || pp[1] == u9);
    SHOWV(write(pp[1], "q", 1));
    SHOWV(read(pp[0], buf, 1));
    close(pp[0]);
    close(pp[1]);
    close(t);
    close(t2);
    return 0;
}
