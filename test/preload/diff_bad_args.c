/* SPDX-License-Identifier: MIT */
/*
 * Differential: bad arguments get Linux's errno, never a crash. A NULL
 * buffer in a send or a receive with bytes to copy is EFAULT (the shim's
 * copy had crashed the program); a connected stream asked to connect
 * again says EISCONN before it looks at the address; writev and readv of
 * more than IOV_MAX buffers are EINVAL (sendmsg's EMSGSIZE); a UDP
 * datagram addressed AF_UNSPEC on an IPv4 socket goes as AF_INET (old
 * programs send so); an address buffer shorter than the address is
 * filled to its length and told the full one. A NULL event array for an
 * epoll with events to report is EFAULT too (it had crashed).
 */
#include <limits.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include "diff.h"

/* NULL, where the compiler cannot see it */
static void *volatile nothing;

static void stream(void)
{
    int l, c, s;
    tcp_conn(&l, &c, &s);
    char b[8];
    SHOWV(send(c, nothing, 4, 0));
    SHOWV(send(c, nothing, 0, 0));
    SHOWV(write(c, nothing, 3));
    struct iovec bad[2] = { { NULL, 5 }, { b, 3 } };
    SHOWV(writev(c, bad, 2));
    struct msghdr mh = { .msg_iov = NULL, .msg_iovlen = 1 };
    SHOWV(sendmsg(c, &mh, 0));
    SHOWV(send(c, "abcd", 4, 0));
    wait_for(s, POLLIN, 2000);
    SHOWV(recv(s, nothing, 4, 0));
    SHOWV(read(s, nothing, 4));
    SHOWV(readv(s, bad, 2));
    SHOWV(recv(s, b, sizeof(b), 0)); /* the bytes are still there */

    SHOWV(send(c, "e", 1, 0));
    wait_for(s, POLLIN, 2000);
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = s };
    SHOWV(epoll_ctl(ep, EPOLL_CTL_ADD, s, nothing));
    SHOWV(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev));
    SHOWV(epoll_wait(ep, nothing, 4, 0));
    SHOWV(poll(nothing, 1, 0));
    int v;
    socklen_t vl = sizeof(v);
    SHOWV(getsockopt(s, SOL_SOCKET, SO_RCVBUF, &v, nothing));
    SHOWV(getsockopt(s, SOL_SOCKET, SO_RCVBUF, nothing, &vl));
    SHOWV(ioctl(s, FIONREAD, nothing));
    SHOWV(getpeername(s, nothing, &vl));
    SHOWV(recvmsg(s, nothing, 0));
    SHOWV(recv(s, b, sizeof(b), 0));
    close(ep);

    static struct iovec many[IOV_MAX + 1];
    for (int i = 0; i <= IOV_MAX; i++)
        many[i] = (struct iovec){ b, 1 };
    SHOWV(writev(c, many, IOV_MAX + 1));
    SHOWV(readv(s, many, IOV_MAX + 1));
    struct msghdr mm = { .msg_iov = many, .msg_iovlen = IOV_MAX + 1 };
    SHOWV(sendmsg(c, &mm, 0));

    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    getsockname(l, (struct sockaddr *)&a, &al);
    SHOWV(connect(c, (struct sockaddr *)&a, 3));
    SHOWV(connect(l, (struct sockaddr *)&a, 3));
    close(c);
    close(s);
    close(l);
}

static void dgram(void)
{
    int a = socket(AF_INET, SOCK_DGRAM, 0), b = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in la = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t ll = sizeof(la);
    if (bind(a, (struct sockaddr *)&la, sizeof(la)) < 0)
        die("bind");
    getsockname(a, (struct sockaddr *)&la, &ll);
    SHOWV(sendto(b, nothing, 4, 0, (struct sockaddr *)&la, sizeof(la)));
    struct sockaddr_in unspec = la;
    unspec.sin_family = AF_UNSPEC;
    SHOWV(sendto(b, "u", 1, 0, (struct sockaddr *)&unspec, sizeof(unspec)));
    wait_for(a, POLLIN, 2000);
    char d[4], small[4];
    socklen_t sl = sizeof(small);
    SHOWV(recvfrom(a, d, sizeof(d), 0, (struct sockaddr *)small, &sl));
    sa_family_t fam;
    memcpy(&fam, small, sizeof(fam));
    printf("address length %u, family %d\n", sl, fam);
    close(a);
    close(b);
}

int main(void)
{
    stream();
    dgram();
    return 0;
}
