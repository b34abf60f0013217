/* SPDX-License-Identifier: MIT */
/* Differential: UDP - sendto/recvfrom, connect, datagram boundaries and
 * truncation (MSG_TRUNC), MSG_PEEK, FIONREAD, EAGAIN, recvmmsg/sendmmsg. */
#include <sys/ioctl.h>
#include "diff.h"

int main(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) }, b, from;
    socklen_t l = sizeof(b), fl;
    char buf[64];
    int u1 = socket(AF_INET, SOCK_DGRAM, 0), u2 = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    SHOW(bind(u2, (struct sockaddr *)&a, sizeof(a)));
    getsockname(u2, (struct sockaddr *)&b, &l);
    SHOW(recv(u2, buf, sizeof(buf), 0));
    SHOWV(sendto(u1, "first", 5, 0, (struct sockaddr *)&b, sizeof(b)));
    SHOWV(sendto(u1, "second-datagram", 15, 0, (struct sockaddr *)&b, sizeof(b)));
    SHOWV(sendto(u1, "", 0, 0, (struct sockaddr *)&b, sizeof(b)));
    ms_sleep(20);
    int n = -1;
    SHOW(ioctl(u2, FIONREAD, &n));
    printf("FIONREAD %d\n", n);
    fl = sizeof(from);
    SHOWV(recvfrom(u2, buf, sizeof(buf), MSG_PEEK, (struct sockaddr *)&from, &fl));
    SHOWV(recvfrom(u2, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl));
    printf("'%.5s' from loopback %d len %u\n", buf, from.sin_addr.s_addr == htonl(INADDR_LOOPBACK), fl);
    struct sockaddr_in me;
    socklen_t ml = sizeof(me);
    getsockname(u1, (struct sockaddr *)&me, &ml);
    printf("source port is the sender's %d\n", me.sin_port == from.sin_port);
    struct iovec iov = { buf, 6 };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
    SHOWV(recvmsg(u2, &m, 0));
    printf("truncated flag %d '%.6s'\n", (m.msg_flags & MSG_TRUNC) != 0, buf);
    SHOWV(recv(u2, buf, sizeof(buf), 0));
    SHOW(recv(u2, buf, sizeof(buf), 0));

    SHOW(connect(u1, (struct sockaddr *)&b, sizeof(b)));
    SHOWV(send(u1, "conn", 4, 0));
    SHOWV(write(u1, "w", 1));
    ms_sleep(20);
    struct mmsghdr mm[4];
    char bufs[4][16];
    struct iovec iv[4];
    memset(mm, 0, sizeof(mm));
    for (int i = 0; i < 4; i++) {
        iv[i].iov_base = bufs[i];
        iv[i].iov_len = sizeof(bufs[i]);
        mm[i].msg_hdr.msg_iov = &iv[i];
        mm[i].msg_hdr.msg_iovlen = 1;
    }
    SHOWV(recvmmsg(u2, mm, 4, MSG_DONTWAIT, NULL));
    printf("lens %u %u\n", mm[0].msg_len, mm[1].msg_len);
    l = sizeof(b);
    SHOW(getpeername(u1, (struct sockaddr *)&b, &l));
    SHOW(getpeername(u2, (struct sockaddr *)&b, &l));
    /* a connected socket ignores datagrams from others */
    int u3 = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in u1a;
    socklen_t u1l = sizeof(u1a);
    getsockname(u1, (struct sockaddr *)&u1a, &u1l);
    SHOWV(sendto(u3, "stranger", 8, 0, (struct sockaddr *)&u1a, sizeof(u1a)));
    SHOWV(sendto(u2, "peer", 4, 0, (struct sockaddr *)&u1a, sizeof(u1a)));
    ms_sleep(20);
    SHOWV(recv(u1, buf, sizeof(buf), MSG_DONTWAIT));
    printf("got '%.4s'\n", buf);
    SHOW(recv(u1, buf, sizeof(buf), MSG_DONTWAIT));
    /* nor does poll count them (a resolver that polls, then reads) */
    SHOWV(sendto(u3, "stranger", 8, 0, (struct sockaddr *)&u1a, sizeof(u1a)));
    ms_sleep(20);
    struct pollfd pf = { .fd = u1, .events = POLLIN };
    SHOWV(poll(&pf, 1, 0));
    /* what came before the connect stays, as on Linux */
    int u4 = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in u4a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t u4l = sizeof(u4a);
    bind(u4, (struct sockaddr *)&u4a, sizeof(u4a));
    getsockname(u4, (struct sockaddr *)&u4a, &u4l);
    pf.fd = u4;
    SHOWV(poll(&pf, 1, 0)); /* (the hand-over, before the first datagram) */
    SHOWV(sendto(u3, "early", 5, 0, (struct sockaddr *)&u4a, sizeof(u4a)));
    ms_sleep(20);
    SHOW(connect(u4, (struct sockaddr *)&b, sizeof(b)));
    SHOWV(sendto(u2, "late", 4, 0, (struct sockaddr *)&u4a, sizeof(u4a)));
    ms_sleep(20);
    memset(buf, 0, sizeof(buf));
    SHOWV(recv(u4, buf, sizeof(buf), MSG_DONTWAIT));
    printf("got '%s'\n", buf);
    memset(buf, 0, sizeof(buf));
    SHOWV(recv(u4, buf, sizeof(buf), MSG_DONTWAIT));
    printf("got '%s'\n", buf);
    close(u4);
    close(u3);
    SHOWV(sendmmsg(u1, mm, 2, 0));
    ms_sleep(20);
    SHOWV(recv(u2, buf, sizeof(buf), 0));
    SHOWV(recv(u2, buf, sizeof(buf), 0));
    /* recvmmsg's timeout, as Linux applies it: checked after each
     * datagram (an expired one returns what it has, the time left written
     * back), a bad one refused */
    for (int i = 0; i < 3; i++)
        SHOWV(send(u1, "tmo", 3, 0));
    ms_sleep(20);
    struct timespec tmo = { 0, 0 };
    SHOWV(recvmmsg(u2, mm, 4, 0, &tmo));
    printf("left %ld.%09ld\n", (long)tmo.tv_sec, tmo.tv_nsec);
    tmo.tv_sec = 5;
    SHOWV(recvmmsg(u2, mm, 4, MSG_DONTWAIT, &tmo));
    printf("left under 5 s %d\n", tmo.tv_sec < 5 || (tmo.tv_sec == 5 && tmo.tv_nsec == 0));
    tmo.tv_nsec = 1000000000;
    SHOW(recvmmsg(u2, mm, 4, 0, &tmo));
    tmo.tv_sec = -1;
    tmo.tv_nsec = 0;
    SHOW(recvmmsg(u2, mm, 4, 0, &tmo));
    close(u1);
    close(u2);
    return 0;
}
