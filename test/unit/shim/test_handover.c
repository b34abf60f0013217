/* SPDX-License-Identifier: MIT */
/* A listener's hand-over (handover.c) on plain kernel sockets: P plays the
 * placeholder, D the datapath's listener on the same port. What P had
 * queued is accepted onto the socket's kaccq and P stops listening; the
 * group's program (steered) or P's filter (filtered) is gone after, from
 * P and from the connections accepted; /proc/net/tcp finds a listener
 * alone on its address and port or not, over IPv4 and IPv6. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "shim/shim.h"

/* A listening TCP socket with SO_REUSEPORT on a's address and port (port
 * 0: the kernel picks one, written back to a). */
static int reuseport_listener(union dm_sockaddr *a)
{
    int one = 1, fd = socket(a->sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)), 0);
    assert_int_equal(bind(fd, &a->sa, dm_addr_len(&a->sa)), 0);
    assert_int_equal(listen(fd, 64), 0);
    socklen_t l = sizeof(*a);
    assert_int_equal(getsockname(fd, &a->sa, &l), 0);
    return fd;
}

static union dm_sockaddr loopback(int family)
{
    union dm_sockaddr a = { 0 };
    a.sa.sa_family = (sa_family_t)family;
    if (family == AF_INET)
        a.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else
        a.sin6.sin6_addr = in6addr_loopback;
    return a;
}

static int connect_to(const union dm_sockaddr *a)
{
    int fd = socket(a->sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, &a->sa, dm_addr_len(&a->sa)), 0);
    return fd;
}

/* Accepts what is queued on fd within ms; returns how many. */
static int accept_count(int fd, int ms)
{
    int n = 0;
    struct pollfd p = { .fd = fd, .events = POLLIN };
    while (poll(&p, 1, ms) == 1) {
        int k = accept4(fd, NULL, NULL, SOCK_NONBLOCK);
        if (k < 0)
            break;
        close(k);
        n++;
        ms = 50;
    }
    return n;
}

static bool listening(int fd)
{
    int acc = 0;
    socklen_t l = sizeof(acc);
    return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l) == 0 && acc;
}

static int filter_len(int fd)
{
    struct sock_filter f[64];
    socklen_t n = 64;
    assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, f, &n), 0);
    return (int)n;
}

static void free_sock(struct shim_sock *s)
{
    for (unsigned i = 0; i < s->kacc_count; i++)
        close(s->kaccq[i]);
    free(s->kaccq);
    free(s);
}

/* With the application's SO_REUSEPORT, the placeholder is its group's
 * first when it is the only listener on its address and port. */
static void sole_on(int family)
{
    struct shim_sock *s = shim_sock_new(SOCK_STREAM);
    s->family = family;
    s->reuseport = 1;
    union dm_sockaddr a = loopback(family);
    int p = reuseport_listener(&a);
    assert_true(shim_handover_first(s, p));
    int d = reuseport_listener(&a); /* the same port */
    assert_false(shim_handover_first(s, p));
    assert_false(shim_handover_first(s, d));
    union dm_sockaddr other = a; /* the same port, another address: another group */
    if (family == AF_INET) {
        other.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1);
        int o = reuseport_listener(&other);
        assert_true(shim_handover_first(s, o));
        close(o);
    }
    close(d);
    assert_true(shim_handover_first(s, p));
    shutdown(p, SHUT_RD); /* no longer listening: not among them */
    assert_false(shim_handover_first(s, p));
    /* without it, the shim set SO_REUSEPORT before listen(): its group is its own */
    s->reuseport = 0;
    assert_true(shim_handover_first(s, p));
    close(p);
    free(s);
}

static void test_handover_sole_ipv4(void **state)
{
    (void)state;
    sole_on(AF_INET);
}

static void test_handover_sole_ipv6(void **state)
{
    (void)state;
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    union dm_sockaddr a = loopback(AF_INET6);
    if (probe < 0 || bind(probe, &a.sa, sizeof(a.sin6)) < 0) {
        if (probe >= 0)
            close(probe);
        skip(); /* no IPv6 loopback here */
    }
    close(probe);
    sole_on(AF_INET6);
}

/* Connections queued on P are on kaccq, P stops, and the program on the
 * group is gone: a third listener gets its share again. */
static void test_handover_steered_keeps_queued(void **state)
{
    (void)state;
    union dm_sockaddr a = loopback(AF_INET);
    int p = reuseport_listener(&a);
    int c[8];
    for (int i = 0; i < 8; i++)
        c[i] = connect_to(&a);
    int d = reuseport_listener(&a);
    struct shim_sock *s = shim_sock_new(SOCK_STREAM);
    shim_handover_stop(s, p, d, true);
    assert_false(listening(p));
    assert_int_equal(s->kacc_count, 8);
    for (int i = 0; i < 8; i++)
        close(c[i]);
    int e = reuseport_listener(&a);
    for (int i = 0; i < 64; i++)
        close(connect_to(&a));
    int nd = accept_count(d, 1000), ne = accept_count(e, 1000);
    assert_int_equal(nd + ne, 64);
    assert_true(nd > 0 && ne > 0); /* (steered, all would go to one; by hash, 1 in 2^63 does) */
    free_sock(s);
    close(p);
    close(d);
    close(e);
}

/* Without a datapath socket in the group: P's filter drops new SYNs
 * while it stops, and goes with it, from P and from what it accepted. */
static void test_handover_filtered_keeps_queued(void **state)
{
    (void)state;
    union dm_sockaddr a = loopback(AF_INET);
    int p = reuseport_listener(&a);
    int c[4];
    for (int i = 0; i < 4; i++)
        c[i] = connect_to(&a);
    struct shim_sock *s = shim_sock_new(SOCK_STREAM);
    shim_handover_stop(s, p, SHIM_HANDOVER_AFTER, false);
    assert_false(listening(p));
    assert_int_equal(s->kacc_count, 4);
    assert_int_equal(filter_len(p), 0);
    for (unsigned i = 0; i < s->kacc_count; i++) {
        assert_int_equal(filter_len(s->kaccq[i]), 0);
        assert_int_equal(write(s->kaccq[i], "x", 1), 1); /* served by the kernel */
    }
    for (int i = 0; i < 4; i++) {
        char b = 0;
        assert_int_equal(read(c[i], &b, 1), 1);
        close(c[i]);
    }
    /* it listens again (as an exec hands it over: a port the kernel chose
     * went with the shutdown, bind it again), and drops nothing */
    assert_true(bind(p, &a.sa, sizeof(a.sin)) == 0 || errno == EINVAL);
    assert_int_equal(listen(p, 16), 0);
    int k = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(connect(k, &a.sa, sizeof(a.sin)) == 0 || errno == EINPROGRESS);
    assert_int_equal(accept_count(p, 1000), 1);
    close(k);
    free_sock(s);
    close(p);
}

/* An application's own filter stays: P is not filtered, only emptied. */
static void test_handover_keeps_an_application_filter(void **state)
{
    (void)state;
    union dm_sockaddr a = loopback(AF_INET);
    int p = reuseport_listener(&a);
    struct sock_filter all[] = { BPF_STMT(BPF_RET | BPF_K, 0xffffffff) };
    struct sock_fprog prog = { .len = 1, .filter = all };
    assert_int_equal(setsockopt(p, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)), 0);
    int c = connect_to(&a);
    struct pollfd pp = { .fd = p, .events = POLLIN }; /* (no wait for half-open ones here) */
    assert_int_equal(poll(&pp, 1, 1000), 1);
    struct shim_sock *s = shim_sock_new(SOCK_STREAM);
    shim_handover_stop(s, p, SHIM_HANDOVER_AFTER, false);
    assert_false(listening(p));
    assert_int_equal(s->kacc_count, 1);
    assert_int_equal(filter_len(p), 1);
    close(c);
    free_sock(s);
    close(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handover_sole_ipv4),
        cmocka_unit_test(test_handover_sole_ipv6),
        cmocka_unit_test(test_handover_steered_keeps_queued),
        cmocka_unit_test(test_handover_filtered_keeps_queued),
        cmocka_unit_test(test_handover_keeps_an_application_filter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
