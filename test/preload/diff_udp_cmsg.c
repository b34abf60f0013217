/* SPDX-License-Identifier: MIT */
/* Differential: UDP ancillary data. A DNS server on a wildcard address
 * asks IP_PKTINFO for the address a query came to; a QUIC server asks
 * IP_RECVTOS (ECN) and sends with UDP_SEGMENT (GSO); others ask
 * SO_TIMESTAMPNS. The datapath's receive path carries none of these: a
 * socket that asks before its first use stays in the kernel, where they
 * work; GSO on an offloaded socket is cut into datagrams by the shim. */
#include <netinet/udp.h>
#include <time.h>
#include "diff.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

static int udp_bound(struct sockaddr_in *a)
{
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in any = { .sin_family = AF_INET }; /* the wildcard: pktinfo is the point */
    socklen_t l = sizeof(*a);
    if (u < 0 || bind(u, (struct sockaddr *)&any, sizeof(any)) < 0 || getsockname(u, (struct sockaddr *)a, &l) < 0)
        die("udp socket");
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return u;
}

/* One datagram with its control messages, each printed. */
static void recv_show(int u, const char *what)
{
    char buf[512];
    union {
        char c[512];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = { buf, sizeof(buf) };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.c, .msg_controllen = sizeof(ctl) };
    if (wait_for(u, POLLIN, 2000) <= 0) {
        printf("%s: nothing arrived\n", what);
        return;
    }
    ssize_t n = recvmsg(u, &m, MSG_DONTWAIT);
    printf("%s: %zd bytes, flags %#x\n", what, n, (unsigned)m.msg_flags);
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo pi;
            memcpy(&pi, CMSG_DATA(c), sizeof(pi));
            printf("  IP_PKTINFO to %s, ifindex set %d\n", inet_ntoa(pi.ipi_addr), pi.ipi_ifindex > 0);
        } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS) {
            printf("  IP_TOS %#x\n", *(unsigned char *)CMSG_DATA(c));
        } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts, now;
            memcpy(&ts, CMSG_DATA(c), sizeof(ts));
            clock_gettime(CLOCK_REALTIME, &now);
            printf("  SCM_TIMESTAMPNS within 10 s of now %d\n", labs(now.tv_sec - ts.tv_sec) < 10);
        } else {
            printf("  level %d type %d\n", c->cmsg_level, c->cmsg_type);
        }
    }
}

int main(void)
{
    struct sockaddr_in a;
    int tx = socket(AF_INET, SOCK_DGRAM, 0);

    /* options asked before the first use */
    int srv = udp_bound(&a), on = 1;
    SHOW(setsockopt(srv, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on)));
    SHOW(setsockopt(srv, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on)));
    SHOW(setsockopt(srv, IPPROTO_IP, IP_RECVTOS, &on, sizeof(on)));
    int tos = 0x10;
    SHOW(setsockopt(tx, IPPROTO_IP, IP_TOS, &tos, sizeof(tos)));
    SHOWV(sendto(tx, "query", 5, 0, (struct sockaddr *)&a, sizeof(a)));
    recv_show(srv, "pktinfo+timestamp+tos");

    /* an option turned off again asks for nothing: the socket is the datapath's */
    int off = 0;
    struct sockaddr_in b;
    int plain = udp_bound(&b);
    SHOW(setsockopt(plain, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on)));
    SHOW(setsockopt(plain, IPPROTO_IP, IP_PKTINFO, &off, sizeof(off)));
    SHOWV(sendto(tx, "plain", 5, 0, (struct sockaddr *)&b, sizeof(b)));
    recv_show(plain, "option off");

    /* GSO on a socket already in use: three datagrams of 100, 100, 50 */
    int g = socket(AF_INET, SOCK_DGRAM, 0);
    SHOWV(sendto(g, "warm", 4, 0, (struct sockaddr *)&b, sizeof(b)));
    recv_show(plain, "before gso");
    char big[250];
    memset(big, 'g', sizeof(big));
    union {
        char c[CMSG_SPACE(sizeof(uint16_t))];
        struct cmsghdr align;
    } ctl;
    memset(&ctl, 0, sizeof(ctl));
    struct iovec iov = { big, sizeof(big) };
    struct msghdr m = { .msg_name = &b, .msg_namelen = sizeof(b), .msg_iov = &iov, .msg_iovlen = 1,
                        .msg_control = ctl.c, .msg_controllen = sizeof(ctl.c) };
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = IPPROTO_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    uint16_t seg = 100;
    memcpy(CMSG_DATA(c), &seg, sizeof(seg));
    SHOWV(sendmsg(g, &m, 0));
    for (int i = 0; i < 3; i++)
        recv_show(plain, "gso segment");
    /* more segments than the kernel takes in one send */
    seg = 1;
    memcpy(CMSG_DATA(c), &seg, sizeof(seg));
    SHOW(sendmsg(g, &m, 0));

    /* GSO on the first send: the socket stays the kernel's */
    int g2 = socket(AF_INET, SOCK_DGRAM, 0);
    seg = 200;
    memcpy(CMSG_DATA(c), &seg, sizeof(seg));
    SHOWV(sendmsg(g2, &m, 0));
    recv_show(plain, "first-send gso segment");
    recv_show(plain, "first-send gso segment");

    close(srv);
    close(plain);
    close(g);
    close(g2);
    close(tx);
    return 0;
}
