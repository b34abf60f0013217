/* SPDX-License-Identifier: MIT */
/* epoll emulation: the pure trigger logic (level, edge per direction,
 * one-shot, errors always reported) and a real mixed set - an offloaded
 * listener and connection (posix backend) next to a pipe - driven through
 * the shim's entry points as the hooks would. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "shim/shim.h"

static void test_watch_level_triggered_reports_while_ready(void **state)
{
    (void)state;
    struct shim_watch w = { .events = EPOLLIN };
    assert_int_equal(shim_watch_check(&w, EPOLLIN | EPOLLOUT, 1, 1), EPOLLIN);
    assert_int_equal(shim_watch_check(&w, EPOLLIN | EPOLLOUT, 1, 1), EPOLLIN);
    assert_int_equal(shim_watch_check(&w, EPOLLOUT, 1, 1), 0);
}

static void test_watch_errors_are_always_reported(void **state)
{
    (void)state;
    struct shim_watch w = { .events = EPOLLIN };
    assert_int_equal(shim_watch_check(&w, EPOLLERR | EPOLLHUP | EPOLLOUT, 1, 1), EPOLLERR | EPOLLHUP);
}

static void test_watch_edge_fires_once_per_new_event(void **state)
{
    (void)state;
    struct shim_watch w = { .events = EPOLLIN | EPOLLET, .seen_in = 0, .seen_out = 0 };
    assert_int_equal(shim_watch_check(&w, EPOLLIN, 1, 0), EPOLLIN);
    assert_int_equal(shim_watch_check(&w, EPOLLIN, 1, 0), 0);      /* still readable, nothing new */
    assert_int_equal(shim_watch_check(&w, EPOLLIN, 1, 5), 0);      /* output changes do not wake an IN watch */
    assert_int_equal(shim_watch_check(&w, EPOLLIN, 2, 5), EPOLLIN); /* more data */
}

static void test_watch_edge_reports_all_ready_bits_it_listens_for(void **state)
{
    (void)state;
    struct shim_watch w = { .events = EPOLLIN | EPOLLOUT | EPOLLET };
    assert_int_equal(shim_watch_check(&w, EPOLLIN | EPOLLOUT, 1, 1), EPOLLIN | EPOLLOUT);
    assert_int_equal(shim_watch_check(&w, EPOLLIN | EPOLLOUT, 2, 1), EPOLLIN | EPOLLOUT);
    assert_int_equal(shim_watch_check(&w, EPOLLIN | EPOLLOUT, 2, 1), 0);
}

static void test_watch_oneshot_disables_until_mod(void **state)
{
    (void)state;
    struct shim_watch w = { .events = EPOLLIN | EPOLLONESHOT };
    assert_int_equal(shim_watch_check(&w, EPOLLIN, 1, 1), EPOLLIN);
    assert_true(w.disabled);
    assert_int_equal(shim_watch_check(&w, EPOLLIN | EPOLLERR, 2, 2), 0);
    w.disabled = false; /* what EPOLL_CTL_MOD does */
    assert_int_equal(shim_watch_check(&w, EPOLLIN, 2, 2), EPOLLIN);
}

static int cmp_ev(const void *a, const void *b)
{
    const struct epoll_event *x = a, *y = b;
    return x->data.u64 < y->data.u64 ? -1 : x->data.u64 > y->data.u64;
}

/* epoll_wait as the hook sees it, events sorted by data */
static int ewait(int ep, struct epoll_event *evs, int max, int ms)
{
    int n = shim_epoll_wait(ep, evs, max, ms, NULL);
    if (n > 0)
        qsort(evs, (size_t)n, sizeof(*evs), cmp_ev);
    return n;
}

static void ctl(int ep, int op, int fd, uint32_t events, uint64_t data)
{
    struct epoll_event e = { .events = events, .data.u64 = data };
    int r = shim_epoll_ctl(ep, op, fd, &e);
    if (r == SHIM_PASS) /* a kernel fd: the hook calls libc */
        r = epoll_ctl(ep, op, fd, &e) < 0 ? -errno : 0;
    assert_int_equal(r, 0);
}

static void test_epoll_mixed_set_over_posix(void **state)
{
    (void)state;
    struct epoll_event evs[8];
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof(a);

    int l = shim_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(l >= 0);
    assert_non_null(shim_fd_get(l));
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0); /* PENDING: the kernel binds */
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &al), 0);
    assert_int_equal(shim_listen(l, 8), 0);
    int ep = shim_epoll_create(EPOLL_CLOEXEC);
    assert_true(ep >= 0);
    int p[2];
    assert_int_equal(pipe(p), 0);
    ctl(ep, EPOLL_CTL_ADD, l, EPOLLIN, 1);  /* hands the listener to the datapath */
    ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 2);
    assert_int_equal(((struct shim_sock *)shim_fd_get(l))->state, SHIM_OFFLOADED);
    assert_int_equal(ewait(ep, evs, 8, 20), 0);

    int c = socket(AF_INET, SOCK_STREAM, 0); /* a plain kernel client */
    assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    int n = ewait(ep, evs, 8, 2000);
    if (n == 1) /* the two may come in separate waits */
        n += ewait(ep, evs + 1, 7, 2000);
    assert_int_equal(n, 2);
    qsort(evs, 2, sizeof(*evs), cmp_ev);
    assert_int_equal(evs[0].data.u64, 1);
    assert_int_equal(evs[0].events, EPOLLIN);
    assert_int_equal(evs[1].data.u64, 2);

    struct sockaddr_in peer;
    socklen_t pl = sizeof(peer);
    int s = shim_accept(l, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK);
    assert_true(s >= 0);
    assert_int_equal(pl, sizeof(peer));
    assert_int_equal(peer.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    char ch;
    assert_int_equal(read(p[0], &ch, 1), 1);

    /* edge triggered connection: one report per arrival */
    ctl(ep, EPOLL_CTL_ADD, s, EPOLLIN | EPOLLET, 3);
    assert_int_equal(write(c, "hi", 2), 2);
    n = ewait(ep, evs, 8, 2000);
    assert_int_equal(n, 1);
    assert_int_equal(evs[0].data.u64, 3);
    assert_int_equal(ewait(ep, evs, 8, 30), 0);
    char buf[8];
    struct iovec iov = { buf, 1 };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
    assert_int_equal(shim_recvmsg(s, &m, 0), 1); /* partial read: the rest stays */
    iov.iov_len = sizeof(buf);
    assert_int_equal(shim_recvmsg(s, &m, 0), 1);
    assert_int_equal(buf[0], 'i');
    assert_int_equal(shim_recvmsg(s, &m, 0), -EAGAIN);

    /* one-shot, re-armed by MOD; DEL removes */
    ctl(ep, EPOLL_CTL_MOD, s, EPOLLIN | EPOLLONESHOT, 4);
    assert_int_equal(write(c, "z", 1), 1);
    assert_int_equal(ewait(ep, evs, 8, 2000), 1);
    assert_int_equal(evs[0].data.u64, 4);
    assert_int_equal(ewait(ep, evs, 8, 30), 0);
    ctl(ep, EPOLL_CTL_MOD, s, EPOLLIN, 5);
    assert_int_equal(ewait(ep, evs, 8, 2000), 1);
    assert_int_equal(evs[0].data.u64, 5);
    ctl(ep, EPOLL_CTL_DEL, s, 0, 0);
    assert_int_equal(ewait(ep, evs, 8, 30), 0);
    struct epoll_event e = { .events = EPOLLIN };
    assert_int_equal(shim_epoll_ctl(ep, EPOLL_CTL_DEL, s, &e), -ENOENT);
    assert_int_equal(shim_epoll_ctl(ep, EPOLL_CTL_ADD, l, &e), -EEXIST);

    /* peer closes: IN|RDHUP */
    ctl(ep, EPOLL_CTL_ADD, s, EPOLLIN | EPOLLRDHUP, 6);
    close(c);
    n = ewait(ep, evs, 8, 2000);
    assert_int_equal(n, 1);
    assert_true(evs[0].events & EPOLLIN);
    /* the pending "z" first, then end of stream */
    assert_int_equal(shim_recvmsg(s, &m, 0), 1);
    n = ewait(ep, evs, 8, 2000);
    assert_int_equal(n, 1);
    assert_int_equal(evs[0].events, EPOLLIN | EPOLLRDHUP);
    assert_int_equal(shim_recvmsg(s, &m, 0), 0);

    assert_int_equal(shim_close(s), 0);
    assert_null(shim_fd_get(s));
    assert_int_equal(shim_close(l), 0);
    assert_int_equal(shim_close(ep), 0);
    assert_int_equal(shim_close(p[0]), SHIM_PASS);
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watch_level_triggered_reports_while_ready),
        cmocka_unit_test(test_watch_errors_are_always_reported),
        cmocka_unit_test(test_watch_edge_fires_once_per_new_event),
        cmocka_unit_test(test_watch_edge_reports_all_ready_bits_it_listens_for),
        cmocka_unit_test(test_watch_oneshot_disables_until_mod),
        cmocka_unit_test(test_epoll_mixed_set_over_posix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
