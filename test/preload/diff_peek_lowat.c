/* SPDX-License-Identifier: MIT */
/*
 * Differential: what a receive waits for. SO_RCVLOWAT holds poll's and
 * epoll's POLLIN back until that many bytes have come (tcp_poll); a
 * MSG_PEEK | MSG_WAITALL receive waits for all it asked for, and leaves
 * it there. Beside them, two argument checks of the same calls' family:
 * EPOLLEXCLUSIVE goes with only IN, OUT, ERR, HUP, WAKEUP and ET; and
 * sendfile reads a file, not a pipe or a socket (EINVAL).
 */
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include "diff.h"

static void *send_later(void *arg)
{
    ms_sleep(150);
    send(*(int *)arg, "defg", 4, 0);
    return NULL;
}

int main(void)
{
    int l, c, s;
    tcp_conn(&l, &c, &s);
    char b[16];

    int lowat = 5;
    SHOWV(setsockopt(s, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat)));
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = s };
    epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
    SHOWV(send(c, "abc", 3, 0));
    ms_sleep(100);
    struct pollfd p = { .fd = s, .events = POLLIN };
    SHOWV(poll(&p, 1, 0));
    SHOWV(epoll_wait(ep, &ev, 1, 0));
    SHOWV(send(c, "de", 2, 0));
    SHOWV(poll(&p, 1, 2000));
    SHOWV(epoll_wait(ep, &ev, 1, 2000));
    SHOWV(recv(s, b, sizeof(b), 0));
    lowat = 1;
    setsockopt(s, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat));

    SHOWV(send(c, "abc", 3, 0));
    pthread_t t;
    pthread_create(&t, NULL, send_later, &c);
    memset(b, 0, sizeof(b));
    SHOWV(recv(s, b, 7, MSG_PEEK | MSG_WAITALL));
    printf("peeked '%s'\n", b);
    pthread_join(t, NULL);
    memset(b, 0, sizeof(b));
    SHOWV(recv(s, b, sizeof(b), 0));
    printf("read '%s'\n", b);

    struct epoll_event ex = { .events = EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT, .data.fd = s };
    int ep2 = epoll_create1(0);
    SHOWV(epoll_ctl(ep2, EPOLL_CTL_ADD, s, &ex));
    ex.events = EPOLLIN | EPOLLEXCLUSIVE | EPOLLRDHUP;
    SHOWV(epoll_ctl(ep2, EPOLL_CTL_ADD, s, &ex));
    ex.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLEXCLUSIVE;
    SHOWV(epoll_ctl(ep2, EPOLL_CTL_ADD, s, &ex));
    SHOWV(epoll_ctl(ep2, EPOLL_CTL_MOD, s, &ex));

    int pp[2];
    if (pipe(pp) < 0)
        die("pipe");
    SHOWV(write(pp[1], "pipe", 4));
    off_t off = 0;
    SHOWV(sendfile(s, pp[0], NULL, 4));
    SHOWV(sendfile(s, pp[0], &off, 4));
    SHOWV(read(pp[0], b, sizeof(b)));
    SHOWV(send(s, "xy", 2, 0));
    wait_for(c, POLLIN, 2000);
    SHOWV(sendfile(s, c, NULL, 2));
    SHOWV(recv(c, b, sizeof(b), 0));
    close(ep);
    close(ep2);
    close(c);
    close(s);
    close(l);
    return 0;
}
