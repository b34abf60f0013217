/* SPDX-License-Identifier: MIT */
/* Differential: connect() to the unspecified address (0.0.0.0, ::) is a
 * connect to this host, as Linux makes it: to the socket's own bound
 * address, else loopback; getpeername says which. A server that binds the
 * wildcard and hands its getsockname() to a client is the usual case; a
 * UDP socket connected so used to drop its peer's datagrams (they come
 * from 127.0.0.1, not 0.0.0.0). */
#include "diff.h"

static void show_peer(const char *what, int fd)
{
    union {
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } a;
    socklen_t l = sizeof(a);
    char b[64] = "?";
    if (getpeername(fd, (struct sockaddr *)&a, &l) < 0) {
        printf("%s: getpeername -> -1 %s\n", what, ename(errno));
        return;
    }
    if (a.in.sin_family == AF_INET)
        inet_ntop(AF_INET, &a.in.sin_addr, b, sizeof(b));
    else
        inet_ntop(AF_INET6, &a.in6.sin6_addr, b, sizeof(b));
    printf("%s: peer %s\n", what, b);
}

static int udp_bound(const char *ip)
{
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET };
    inet_pton(AF_INET, ip, &a.sin_addr);
    if (u < 0 || bind(u, (struct sockaddr *)&a, sizeof(a)) < 0)
        die("udp bind");
    return u;
}

static void recv_one(const char *what, int fd)
{
    char buf[16] = { 0 };
    struct pollfd p = { .fd = fd, .events = POLLIN };
    if (poll(&p, 1, 2000) != 1) {
        printf("%s: nothing in 2 s\n", what);
        return;
    }
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
    printf("%s: %zd '%s'\n", what, n, buf);
}

int main(void)
{
    /* TCP, a listener on the wildcard (handed over first, by a poll) */
    int one = 1, l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in la = { .sin_family = AF_INET };
    socklen_t len = sizeof(la);
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(l, (struct sockaddr *)&la, sizeof(la)) < 0 || listen(l, 4) < 0)
        die("listen");
    getsockname(l, (struct sockaddr *)&la, &len);
    struct pollfd lp = { .fd = l, .events = POLLIN };
    poll(&lp, 1, 0);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    SHOW(connect(c, (struct sockaddr *)&la, sizeof(la)));
    int s = accept(l, NULL, NULL);
    show_peer("tcp to 0.0.0.0", c);
    SHOW(send(c, "tcp", 3, 0));
    recv_one("tcp server got", s);
    close(c), close(s), close(l);

    /* UDP: connected to a wildcard-bound peer's getsockname() */
    int u1 = udp_bound("0.0.0.0"), u2 = udp_bound("0.0.0.0");
    struct sockaddr_in a1, a2;
    len = sizeof(a1);
    getsockname(u1, (struct sockaddr *)&a1, &len);
    len = sizeof(a2);
    getsockname(u2, (struct sockaddr *)&a2, &len);
    SHOW(connect(u1, (struct sockaddr *)&a2, sizeof(a2)));
    show_peer("udp to 0.0.0.0", u1);
    struct sockaddr_in to1 = a1;
    to1.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    SHOW(sendto(u2, "dgram", 5, 0, (struct sockaddr *)&to1, sizeof(to1)));
    recv_one("udp connected got", u1);
    SHOW(send(u1, "back", 4, 0));
    recv_one("udp peer got", u2);
    close(u1), close(u2);

    /* UDP bound to 127.0.0.2: 0.0.0.0 is its own address */
    int u3 = udp_bound("127.0.0.2");
    struct sockaddr_in any = { .sin_family = AF_INET, .sin_port = htons(9) };
    SHOW(connect(u3, (struct sockaddr *)&any, sizeof(any)));
    show_peer("udp bound to 127.0.0.2, to 0.0.0.0", u3);
    close(u3);

    /* IPv6: :: is ::1 */
    int l6 = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
    len = sizeof(a6);
    setsockopt(l6, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(l6, (struct sockaddr *)&a6, sizeof(a6)) < 0 || listen(l6, 4) < 0)
        die("listen6");
    getsockname(l6, (struct sockaddr *)&a6, &len);
    lp.fd = l6;
    poll(&lp, 1, 0);
    int c6 = socket(AF_INET6, SOCK_STREAM, 0);
    SHOW(connect(c6, (struct sockaddr *)&a6, sizeof(a6)));
    int s6 = accept(l6, NULL, NULL);
    show_peer("tcp6 to ::", c6);
    SHOW(send(c6, "six", 3, 0));
    recv_one("tcp6 server got", s6);
    close(c6), close(s6), close(l6);
    return 0;
}
