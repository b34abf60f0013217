/* SPDX-License-Identifier: MIT */
/*
 * AF_INET6 sockets, offloaded on backends with inet6 (posix, uring): TCP
 * echo over ::1; names (family, length, address, flowinfo, scope id; never
 * the port); a [::] listener with IPV6_V6ONLY off taking an IPv4 client as
 * ::ffff:127.0.0.1 and with it on refusing one; UDP over ::1 with
 * recvfrom's source. Skips (77) where the host has no ::1.
 */
#include "diff.h"

static void show_name(const char *what, const struct sockaddr_in6 *a, socklen_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (a->sin6_family == AF_INET6)
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
    printf("%-48s -> family %d len %u addr %s flow %u scope %u port %s\n", what, a->sin6_family,
           (unsigned)len, ip, ntohl(a->sin6_flowinfo), a->sin6_scope_id, a->sin6_port ? "set" : "0");
    fflush(stdout);
}

static void names(const char *label, int fd)
{
    struct sockaddr_in6 a;
    socklen_t l = sizeof(a);
    char what[64];
    memset(&a, 0xa5, sizeof(a));
    snprintf(what, sizeof(what), "getsockname(%s)", label);
    if (show(what, getsockname(fd, (struct sockaddr *)&a, &l)) == 0)
        show_name(what, &a, l);
    memset(&a, 0xa5, sizeof(a));
    l = sizeof(a);
    snprintf(what, sizeof(what), "getpeername(%s)", label);
    if (show(what, getpeername(fd, (struct sockaddr *)&a, &l)) == 0)
        show_name(what, &a, l);
}

static int listen6(const struct in6_addr *ip, int v6only, struct sockaddr_in6 *out)
{
    int l = socket(AF_INET6, SOCK_STREAM, 0);
    if (l < 0)
        die("socket");
    SHOW(setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)));
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = *ip};
    SHOW(bind(l, (struct sockaddr *)&a, sizeof(a)));
    SHOW(listen(l, 8));
    socklen_t len = sizeof(*out);
    if (getsockname(l, (struct sockaddr *)out, &len) < 0)
        die("getsockname");
    int v = -1;
    socklen_t vl = sizeof(v);
    SHOW(getsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &v, &vl));
    printf("IPV6_V6ONLY reads back %d\n", v);
    names("listener", l);
    /* its first wait hands it over: connections from now on are the
     * datapath's (not ones the kernel queued before) */
    struct pollfd p = {.fd = l, .events = POLLIN};
    SHOWV(poll(&p, 1, 0));
    return l;
}

static void tcp_echo6(void)
{
    printf("== TCP over ::1\n");
    struct sockaddr_in6 la;
    int l = listen6(&in6addr_loopback, 1, &la);
    int c = socket(AF_INET6, SOCK_STREAM, 0);
    SHOW(connect(c, (struct sockaddr *)&la, sizeof(la)));
    struct sockaddr_in6 pa;
    socklen_t pl = sizeof(pa);
    memset(&pa, 0xa5, sizeof(pa));
    int s = (int)SHOW(accept(l, (struct sockaddr *)&pa, &pl));
    show_name("accept's address", &pa, pl);
    names("client", c);
    names("accepted", s);
    SHOWV(send(c, "ping6", 5, 0));
    char buf[16] = {0};
    SHOWV(recv(s, buf, sizeof(buf), 0));
    SHOWV(send(s, buf, 5, 0));
    memset(buf, 0, sizeof(buf));
    SHOWV(recv(c, buf, sizeof(buf), 0));
    printf("echo: %s\n", buf);
    /* a short address buffer: Linux copies what fits, says the full size */
    pl = 8;
    SHOW(getpeername(c, (struct sockaddr *)&pa, &pl));
    printf("short getpeername len %u\n", (unsigned)pl);
    /* an AF_INET address on an AF_INET6 TCP socket */
    struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = la.sin6_port};
    int c2 = socket(AF_INET6, SOCK_STREAM, 0);
    SHOW(connect(c2, (struct sockaddr *)&v4, sizeof(v4)));
    close(c2);
    close(c);
    SHOWV(recv(s, buf, sizeof(buf), 0));
    close(s);
    close(l);
}

static void dual_stack(int v6only)
{
    printf("== [::] listener, IPV6_V6ONLY=%d, IPv4 client\n", v6only);
    struct sockaddr_in6 la;
    int l = listen6(&in6addr_any, v6only, &la);
    struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = la.sin6_port};
    inet_pton(AF_INET, "127.0.0.1", &v4.sin_addr);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (SHOW(connect(c, (struct sockaddr *)&v4, sizeof(v4))) == 0) {
        struct sockaddr_in6 pa;
        socklen_t pl = sizeof(pa);
        memset(&pa, 0xa5, sizeof(pa));
        int s = (int)SHOW(accept(l, (struct sockaddr *)&pa, &pl));
        show_name("accept's address", &pa, pl);
        names("accepted", s);
        SHOWV(send(c, "v4", 2, 0));
        char buf[8] = {0};
        SHOWV(recv(s, buf, sizeof(buf), 0));
        close(s);
    }
    close(c);
    close(l);
}

static void udp6(void)
{
    printf("== UDP over ::1\n");
    int r = socket(AF_INET6, SOCK_DGRAM, 0), s = socket(AF_INET6, SOCK_DGRAM, 0);
    char buf[16] = {0};
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    SHOW(bind(r, (struct sockaddr *)&a, sizeof(a)));
    socklen_t l = sizeof(a);
    getsockname(r, (struct sockaddr *)&a, &l);
    names("udp receiver", r);
    /* the receiver's first I/O: from here its datagrams are the datapath's */
    SHOW(recv(r, buf, sizeof(buf), MSG_DONTWAIT));
    SHOWV(sendto(s, "dgram6", 6, 0, (struct sockaddr *)&a, sizeof(a)));
    /* the 24-byte form of RFC 2133 */
    SHOWV(sendto(s, "short", 5, 0, (struct sockaddr *)&a, 24));
    struct sockaddr_in6 from, sn;
    socklen_t fl = sizeof(from), sl = sizeof(sn);
    for (int i = 0; i < 2; i++) {
        memset(&from, 0xa5, sizeof(from));
        fl = sizeof(from);
        SHOWV(recvfrom(r, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl));
        show_name("recvfrom's source", &from, fl);
        getsockname(s, (struct sockaddr *)&sn, &sl);
        printf("source is the sender: %d\n", from.sin6_port == sn.sin6_port);
    }
    names("udp sender", s);
    SHOW(connect(s, (struct sockaddr *)&a, sizeof(a)));
    names("udp connected", s);
    SHOWV(send(s, "conn", 4, 0));
    SHOWV(recv(r, buf, sizeof(buf), 0));
    struct sockaddr_in v4 = {.sin_family = AF_INET};
    SHOW(bind(r, (struct sockaddr *)&v4, sizeof(v4)));
    close(r);
    close(s);
}

int main(void)
{
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    if (probe < 0 || bind(probe, (struct sockaddr *)&a, sizeof(a)) < 0) {
        printf("no IPv6 loopback here\n");
        return 77;
    }
    close(probe);
    tcp_echo6();
    udp6();
    dual_stack(0);
    dual_stack(1);
    return 0;
}
