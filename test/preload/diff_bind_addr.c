/* SPDX-License-Identifier: MIT */
/*
 * Differential: a client that binds a source address with port 0 before
 * connect() - plainly, and with IP_BIND_ADDRESS_NO_PORT (the port is then
 * chosen only by connect). Linux keeps the address: the client's
 * getsockname and the server's accept/getpeername show 127.0.0.2, and the
 * port both see is the same, non-zero one. Also a UDP socket bound to
 * 127.0.0.2:0 that connects.
 *
 * Asserts: the addresses both ends see, that the ports agree, and that a
 * byte goes through.
 */
#include "diff_thread.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static const char *addr_of(const struct sockaddr_in *a, char *b)
{
    return inet_ntop(AF_INET, &a->sin_addr, b, INET_ADDRSTRLEN);
}

static void bind_src(int fd, bool no_port)
{
    int one = 1;
    if (no_port && setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) < 0)
        die("IP_BIND_ADDRESS_NO_PORT");
    struct sockaddr_in src = { .sin_family = AF_INET };
    inet_pton(AF_INET, "127.0.0.2", &src.sin_addr);
    if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0)
        die("bind 127.0.0.2:0");
}

static void tcp_case(int lfd, const struct sockaddr_in *la, bool no_port)
{
    char b1[INET_ADDRSTRLEN], b2[INET_ADDRSTRLEN], b3[INET_ADDRSTRLEN];
    printf("TCP, bind 127.0.0.2:0%s, connect to 127.0.0.1:\n", no_port ? " with IP_BIND_ADDRESS_NO_PORT" : "");
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0)
        die("socket");
    bind_src(c, no_port);
    SHOW(connect(c, (const struct sockaddr *)la, sizeof(*la)));
    struct sockaddr_in me, acc, peer;
    socklen_t l1 = sizeof(me), l2 = sizeof(acc), l3 = sizeof(peer);
    int s = accept(lfd, (struct sockaddr *)&acc, &l2);
    if (s < 0)
        die("accept");
    SHOW(getsockname(c, (struct sockaddr *)&me, &l1));
    SHOW(getpeername(s, (struct sockaddr *)&peer, &l3));
    printf("  client's getsockname %s, server's accept %s, getpeername %s\n", addr_of(&me, b1), addr_of(&acc, b2),
           addr_of(&peer, b3));
    printf("  ports: %s\n", me.sin_port && me.sin_port == acc.sin_port && me.sin_port == peer.sin_port
                                ? "the same, non-zero" : "DIFFER or zero");
    char x = 'x', y = 0;
    SHOWV(send(c, &x, 1, 0));
    SHOWV(recv(s, &y, 1, 0));
    close(c);
    close(s);
}

static void udp_case(void)
{
    char b1[INET_ADDRSTRLEN], b2[INET_ADDRSTRLEN];
    printf("UDP, bind 127.0.0.2:0, connect to 127.0.0.1:\n");
    int srv = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t l = sizeof(sa);
    if (srv < 0 || bind(srv, (struct sockaddr *)&sa, sizeof(sa)) < 0 || getsockname(srv, (struct sockaddr *)&sa, &l) < 0)
        die("udp server");
    dt_handover(srv); /* a datagram that reached its placeholder before would be the kernel's */
    int c = socket(AF_INET, SOCK_DGRAM, 0);
    if (c < 0)
        die("socket");
    bind_src(c, false);
    SHOW(connect(c, (struct sockaddr *)&sa, sizeof(sa)));
    SHOWV(send(c, "u", 1, 0));
    struct sockaddr_in me, from;
    socklen_t l1 = sizeof(me), l2 = sizeof(from);
    char y = 0;
    SHOW(getsockname(c, (struct sockaddr *)&me, &l1));
    SHOWV(recvfrom(srv, &y, 1, 0, (struct sockaddr *)&from, &l2));
    printf("  client's getsockname %s, the server got it from %s, ports %s\n", addr_of(&me, b1), addr_of(&from, b2),
           me.sin_port && me.sin_port == from.sin_port ? "the same, non-zero" : "DIFFER or zero");
    close(c);
    close(srv);
}

int main(void)
{
    dt_watchdog(20);
    struct sockaddr_in la;
    int lfd = dt_listener(&la, 0, 16);
    tcp_case(lfd, &la, false);
    tcp_case(lfd, &la, true);
    udp_case();
    close(lfd);
    return 0;
}
