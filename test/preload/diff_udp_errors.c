/* SPDX-License-Identifier: MIT */
/*
 * Differential: a connected UDP socket that was never bound. Linux gives
 * it the local address of the route and a port at connect (getsockname),
 * and reports the ICMP port unreachable that a datagram to a closed port
 * brings back: once, as ECONNREFUSED, from whichever call comes next -
 * recv, send or SO_ERROR - and POLLERR until then; the socket goes on
 * working afterwards. connect(AF_UNSPEC) dissolves the association, and
 * with it the port connect had bound.
 *
 * Asserts: the address and port getsockname gives, each call's result
 * and errno, and that datagrams still flow after the errors.
 */
#include "diff_thread.h"

/* A UDP port nobody listens on (bound, then closed). */
static struct sockaddr_in closed_port(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t l = sizeof(a);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || getsockname(fd, (struct sockaddr *)&a, &l) < 0)
        die("closed port");
    close(fd);
    return a;
}

/* Waits for the ICMP's error to arrive (POLLERR), up to 2 s. */
static void wait_err(int fd)
{
    int ev = wait_for(fd, POLLIN, 2000);
    printf("  poll: %s\n", ev & POLLERR ? "POLLERR" : ev ? "ready without POLLERR" : "NOTHING in 2 s");
}

int main(void)
{
    dt_watchdog(20);
    char b[INET_ADDRSTRLEN], x = 0;
    struct sockaddr_in dead = closed_port(), me;
    socklen_t l = sizeof(me);

    int u = socket(AF_INET, SOCK_DGRAM, 0);
    if (u < 0)
        die("socket");
    SHOW(connect(u, (struct sockaddr *)&dead, sizeof(dead)));
    SHOW(getsockname(u, (struct sockaddr *)&me, &l));
    printf("  getsockname: %s, port %s\n", inet_ntop(AF_INET, &me.sin_addr, b, sizeof(b)),
           me.sin_port ? "non-zero" : "ZERO");

    printf("the error, by recv:\n");
    SHOWV(send(u, "a", 1, 0));
    wait_err(u);
    SHOWV(recv(u, &x, 1, MSG_DONTWAIT));
    SHOWV(recv(u, &x, 1, MSG_DONTWAIT));

    printf("the error, by send:\n");
    SHOWV(send(u, "b", 1, 0));
    wait_err(u);
    SHOWV(send(u, "c", 1, 0));

    printf("the error, by SO_ERROR:\n");
    SHOWV(send(u, "c", 1, 0));
    wait_err(u);
    int e = -1;
    socklen_t el = sizeof(e);
    SHOW(getsockopt(u, SOL_SOCKET, SO_ERROR, &e, &el));
    printf("  SO_ERROR: %s\n", e ? ename(e) : "0");
    SHOW(getsockopt(u, SOL_SOCKET, SO_ERROR, &e, &el));
    printf("  SO_ERROR: %s\n", e ? ename(e) : "0");

    printf("the error, by a blocking recv:\n");
    SHOWV(send(u, "d", 1, 0));
    SHOWV(recv(u, &x, 1, 0));

    printf("afterwards, to a live peer:\n");
    struct sockaddr_in la = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t ll = sizeof(la);
    int srv = socket(AF_INET, SOCK_DGRAM, 0);
    if (srv < 0 || bind(srv, (struct sockaddr *)&la, sizeof(la)) < 0 || getsockname(srv, (struct sockaddr *)&la, &ll) < 0)
        die("server");
    dt_handover(srv);
    SHOW(connect(u, (struct sockaddr *)&la, sizeof(la)));
    SHOWV(send(u, "e", 1, 0));
    SHOWV(recv(srv, &x, 1, 0));
    struct sockaddr_in back = me;
    SHOWV(sendto(srv, "f", 1, 0, (struct sockaddr *)&back, sizeof(back)));
    SHOWV(recv(u, &x, 1, 0));
    printf("  got '%c'\n", x);

    printf("connect(AF_UNSPEC), then a datagram from another socket:\n");
    struct sockaddr unspec = { .sa_family = AF_UNSPEC };
    SHOW(connect(u, &unspec, sizeof(unspec)));
    l = sizeof(me);
    SHOW(getsockname(u, (struct sockaddr *)&me, &l));
    printf("  getsockname: %s, port %s\n", inet_ntop(AF_INET, &me.sin_addr, b, sizeof(b)),
           me.sin_port ? "non-zero" : "zero");
    int other = socket(AF_INET, SOCK_DGRAM, 0);
    SHOWV(sendto(other, "g", 1, 0, (struct sockaddr *)&back, sizeof(back)));
    x = 0;
    if (wait_for(u, POLLIN, 300)) /* Linux: the port went with the association */
        SHOWV(recv(u, &x, 1, 0));
    printf("  got '%c'\n", x ? x : '-');
    close(other);

    printf("a broadcast without SO_BROADCAST, then a datagram to a peer:\n");
    int bc = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in lo = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    SHOW(bind(bc, (struct sockaddr *)&lo, sizeof(lo))); /* routed through lo: no default route needed */
    struct sockaddr_in all = { .sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = htonl(INADDR_BROADCAST) };
    SHOWV(sendto(bc, "h", 1, 0, (struct sockaddr *)&all, sizeof(all)));
    ms_sleep(20);
    SHOWV(sendto(bc, "i", 1, 0, (struct sockaddr *)&back, sizeof(back)));
    int on = 1;
    SHOW(setsockopt(bc, SOL_SOCKET, SO_BROADCAST, &on, sizeof(on)));
    SHOWV(sendto(bc, "j", 1, 0, (struct sockaddr *)&all, sizeof(all)));
    close(bc);
    close(srv);
    close(u);
    return 0;
}
