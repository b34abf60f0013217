/* SPDX-License-Identifier: MIT */
/* Differential: epoll over a set mixing our sockets with a pipe, an eventfd
 * and a timerfd; level and edge triggering, EPOLLONESHOT and MOD, DEL,
 * EPOLLRDHUP/HUP, EPOLLOUT, data preserved, errors. Events of one wait are
 * printed sorted by their data, since the order within a wait is free. */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include "diff.h"

static int ep;

static int cmp(const void *a, const void *b)
{
    const struct epoll_event *x = a, *y = b;
    return x->data.u64 < y->data.u64 ? -1 : x->data.u64 > y->data.u64;
}

static void waitp(const char *what, int tmo)
{
    struct epoll_event evs[16];
    int n = epoll_wait(ep, evs, 16, tmo);
    printf("%s: n=%d", what, n);
    if (n > 0) {
        qsort(evs, (size_t)n, sizeof(evs[0]), cmp);
        for (int i = 0; i < n; i++)
            printf(" [%llu:%s%s%s%s%s]", (unsigned long long)evs[i].data.u64,
                   evs[i].events & EPOLLIN ? "IN" : "", evs[i].events & EPOLLOUT ? "|OUT" : "",
                   evs[i].events & EPOLLRDHUP ? "|RDHUP" : "", evs[i].events & EPOLLHUP ? "|HUP" : "",
                   evs[i].events & EPOLLERR ? "|ERR" : "");
    }
    printf("\n");
    fflush(stdout);
}

static void add(int fd, uint32_t events, uint64_t data)
{
    struct epoll_event e = { .events = events, .data.u64 = data };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0)
        printf("add %llu failed %s\n", (unsigned long long)data, ename(errno));
}

/* 300 connections in one set, nearly all idle: only those written to are
 * reported (level: until read; edge: once per write), and a wait with
 * nothing ready times out. (The preload checks the watches that changed,
 * not all of them.) */
static void many_idle(const struct sockaddr_in *la, int l)
{
    enum { N = 300 };
    static int cs[N], ss[N];
    int saved = ep;
    ep = epoll_create1(0);
    for (int i = 0; i < N; i++) {
        cs[i] = connect_to(la, 0);
        ss[i] = accept(l, NULL, NULL);
        if (ss[i] < 0)
            die("accept");
        add(ss[i], i == 200 ? EPOLLIN | EPOLLET : EPOLLIN, 1000 + (uint64_t)i);
    }
    char b[8];
    waitp("300 idle", 50);
    if (write(cs[150], "x", 1) != 1)
        die("write");
    waitp("one written", 1000);
    waitp("not read: reported again", 1000);
    SHOW(read(ss[150], b, sizeof(b)) == 1 ? 0 : -1);
    waitp("read: idle again", 50);
    if (write(cs[7], "a", 1) != 1 || write(cs[299], "b", 1) != 1 || write(cs[200], "c", 1) != 1)
        die("write");
    ms_sleep(20);
    waitp("three written", 1000);
    waitp("edge one not again", 1000);
    if (write(cs[200], "d", 1) != 1)
        die("write");
    ms_sleep(20);
    waitp("edge one written again", 1000);
    SHOW(epoll_ctl(ep, EPOLL_CTL_DEL, ss[7], NULL));
    SHOW(read(ss[299], b, sizeof(b)) == 1 ? 0 : -1);
    waitp("7 deleted, 299 read", 50);
    close(cs[0]);
    ms_sleep(20);
    waitp("a peer closed", 1000);
    for (int i = 0; i < N; i++) {
        close(ss[i]);
        if (i)
            close(cs[i]);
    }
    close(ep);
    ep = saved;
}

int main(void)
{
    struct sockaddr_in la;
    char buf[64];
    ep = epoll_create1(EPOLL_CLOEXEC);
    int l = listener(&la, SOCK_NONBLOCK);
    int p[2];
    if (pipe(p) < 0)
        die("pipe");
    int efd = eventfd(0, EFD_NONBLOCK);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);

    add(l, EPOLLIN, 1);
    add(p[0], EPOLLIN, 2);
    add(efd, EPOLLIN, 3);
    add(tfd, EPOLLIN, 4);
    waitp("idle", 50);

    int c = connect_to(&la, SOCK_NONBLOCK);
    add(c, EPOLLOUT | EPOLLET, 10);
    waitp("connect", 1000);
    waitp("connect again (ET, nothing new)", 50);
    int s = accept(l, NULL, NULL);
    show("accept", s);
    waitp("listener drained", 50);

    add(s, EPOLLIN | EPOLLRDHUP, 20);
    if (write(p[1], "p", 1) != 1 || write(c, "hello", 5) != 5)
        die("write");
    uint64_t one = 1;
    if (write(efd, &one, 8) != 8)
        die("eventfd");
    ms_sleep(20);
    waitp("pipe+eventfd+socket", 1000);
    waitp("level: all still ready", 1000);
    SHOWV(read(p[0], buf, 1));
    SHOWV(read(efd, &one, 8));
    SHOWV(read(s, buf, 2));
    waitp("partial read: socket still ready", 1000);
    SHOWV(read(s, buf, sizeof(buf)));
    waitp("drained", 50);

    /* edge triggered reader */
    struct epoll_event e = { .events = EPOLLIN | EPOLLET, .data.u64 = 21 };
    SHOW(epoll_ctl(ep, EPOLL_CTL_MOD, s, &e));
    if (write(c, "ab", 2) != 2)
        die("write");
    ms_sleep(20);
    waitp("ET new data", 1000);
    waitp("ET no new data", 50);
    if (write(c, "cd", 2) != 2)
        die("write");
    ms_sleep(20);
    waitp("ET more data", 1000);
    SHOWV(read(s, buf, sizeof(buf)));

    /* one-shot */
    e.events = EPOLLIN | EPOLLONESHOT;
    e.data.u64 = 22;
    SHOW(epoll_ctl(ep, EPOLL_CTL_MOD, s, &e));
    if (write(c, "x", 1) != 1)
        die("write");
    ms_sleep(20);
    waitp("oneshot fires", 1000);
    waitp("oneshot disabled", 50);
    e.data.u64 = 23;
    SHOW(epoll_ctl(ep, EPOLL_CTL_MOD, s, &e));
    waitp("oneshot re-armed", 1000);
    SHOWV(read(s, buf, sizeof(buf)));

    /* timerfd */
    struct itimerspec its = { .it_value = { 0, 30 * 1000000 } };
    timerfd_settime(tfd, 0, &its, NULL);
    waitp("timer", 1000);
    SHOWV(read(tfd, &one, 8));

    /* peer half-close and close: RDHUP, then HUP when both shut */
    e.events = EPOLLIN | EPOLLRDHUP;
    e.data.u64 = 24;
    SHOW(epoll_ctl(ep, EPOLL_CTL_MOD, s, &e));
    SHOW(shutdown(c, SHUT_WR));
    ms_sleep(20);
    waitp("peer shut write", 1000);
    SHOW(shutdown(s, SHUT_WR));
    ms_sleep(20);
    waitp("both shut", 1000);

    /* errors */
    SHOW(epoll_ctl(ep, EPOLL_CTL_ADD, s, &e));
    SHOW(epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL));
    SHOW(epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL));
    SHOW(epoll_ctl(ep, EPOLL_CTL_MOD, s, &e));
    SHOW(epoll_ctl(ep, 77, s, &e));
    SHOW(epoll_ctl(ep, EPOLL_CTL_ADD, ep, &e));
    SHOW(epoll_ctl(ep, EPOLL_CTL_ADD, 999, &e));
    SHOW(epoll_wait(ep, NULL, 0, 0));
    SHOW(epoll_create(0));
    struct epoll_event ex = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.u64 = 30 };
    SHOW(epoll_ctl(ep, EPOLL_CTL_ADD, l, &ex) == 0 || errno == EEXIST ? 0 : -1);
    SHOW(epoll_ctl(ep, EPOLL_CTL_DEL, l, NULL));
    SHOW(epoll_ctl(ep, EPOLL_CTL_ADD, l, &ex));
    SHOW(epoll_ctl(ep, EPOLL_CTL_MOD, l, &ex));
    SHOW(epoll_ctl(ep, EPOLL_CTL_DEL, l, NULL));
    waitp("after DEL", 50);

    /* data.ptr preserved */
    static int marker;
    struct epoll_event pe = { .events = EPOLLOUT, .data.ptr = &marker };
    SHOW(epoll_ctl(ep, EPOLL_CTL_DEL, c, NULL));
    SHOW(epoll_ctl(ep, EPOLL_CTL_ADD, c, &pe));
    struct epoll_event got[4];
    int n = epoll_wait(ep, got, 4, 1000);
    int found = 0;
    for (int i = 0; i < n; i++)
        found |= got[i].data.ptr == &marker;
    printf("data.ptr preserved %d\n", found);

    many_idle(&la, l);

    close(s);
    close(c);
    close(l);
    SHOW(close(ep));
    return 0;
}
