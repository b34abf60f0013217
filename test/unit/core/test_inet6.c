/* SPDX-License-Identifier: MIT */
/*
 * AF_INET6 through the native API on the kernel-socket backends (posix,
 * uring): addresses in and out are sockaddr_in6 as Linux gives them, a
 * dual-stack listener accepts IPv4 as v4-mapped, and a backend without
 * inet6 (none registered here but the two) refuses the family.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "dm/instance.h"

#define WAIT_NS 5000000000LL

static struct dm_instance *open_backend(const char *name)
{
    struct dm_config cfg;
    dm_config_init(&cfg);
    dm_config_set(&cfg, "DEMI_BACKEND", name);
    struct dm_instance *inst = NULL;
    if (dm_instance_create(&cfg, &inst) < 0)
        return NULL;
    return inst;
}

static struct sockaddr_in6 loop6(void)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    return a;
}

/* A listener on addr (port 0), its port in *port. */
static int listen_on(struct dm_instance *inst, const struct sockaddr *addr, socklen_t len, int v6only,
                     in_port_t *port)
{
    int l;
    assert_int_equal(dm_socket(inst, &l, AF_INET6, SOCK_STREAM, 0), 0);
    assert_int_equal(dm_setsockopt(inst, l, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)), 0);
    assert_int_equal(dm_bind(inst, l, addr, len), 0);
    assert_int_equal(dm_listen(inst, l, 4), 0);
    struct sockaddr_in6 got;
    socklen_t glen = sizeof(got);
    assert_int_equal(dm_getsockname(inst, l, (struct sockaddr *)&got, &glen), 0);
    assert_int_equal(glen, sizeof(struct sockaddr_in6));
    assert_int_equal(got.sin6_family, AF_INET6);
    *port = got.sin6_port;
    return l;
}

static void tcp_over_loopback6(struct dm_instance *inst)
{
    struct sockaddr_in6 a = loop6();
    in_port_t port;
    int l = listen_on(inst, (struct sockaddr *)&a, sizeof(a), 1, &port);
    a.sin6_port = port;
    int c;
    demi_qtoken_t at, ct;
    demi_qresult_t qr;
    assert_int_equal(dm_socket(inst, &c, AF_INET6, SOCK_STREAM, 0), 0);
    assert_int_equal(dm_accept(inst, &at, l), 0);
    assert_int_equal(dm_connect(inst, &ct, c, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(dm_wait(inst, &qr, ct, WAIT_NS), 0);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_CONNECT);
    assert_int_equal(dm_wait(inst, &qr, at, WAIT_NS), 0);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_ACCEPT);
    int sv = qr.qr_value.ares.qd;
    struct sockaddr_in6 peer = qr.qr_value.ares.addr6;
    assert_int_equal(peer.sin6_family, AF_INET6);
    assert_true(IN6_IS_ADDR_LOOPBACK(&peer.sin6_addr));

    /* the accepted peer is the client's own name */
    struct sockaddr_in6 cn, sp;
    socklen_t cl = sizeof(cn), sl = sizeof(sp);
    assert_int_equal(dm_getsockname(inst, c, (struct sockaddr *)&cn, &cl), 0);
    assert_int_equal(dm_getpeername(inst, sv, (struct sockaddr *)&sp, &sl), 0);
    assert_int_equal(cl, sizeof(cn));
    assert_int_equal(sl, sizeof(sp));
    assert_memory_equal(&cn, &sp, sizeof(cn));
    assert_int_equal(cn.sin6_port, peer.sin6_port);

    char msg[] = "hello6";
    demi_sgarray_t sga = {.sga_numsegs = 1, .sga_segs[0] = {.sgaseg_buf = msg, .sgaseg_len = sizeof(msg)}};
    demi_qtoken_t pt, ot;
    assert_int_equal(dm_push(inst, &pt, c, &sga), 0);
    assert_int_equal(dm_wait(inst, &qr, pt, WAIT_NS), 0);
    assert_int_equal(dm_pop(inst, &ot, sv), 0);
    assert_int_equal(dm_wait(inst, &qr, ot, WAIT_NS), 0);
    assert_int_equal(qr.qr_value.sga.sga_segs[0].sgaseg_len, sizeof(msg));
    assert_memory_equal(qr.qr_value.sga.sga_segs[0].sgaseg_buf, msg, sizeof(msg));
    dm_sgafree(inst, &qr.qr_value.sga);
    dm_close(inst, c);
    dm_close(inst, sv);
    dm_close(inst, l);
}

/* [::] with IPV6_V6ONLY off takes an IPv4 client, named ::ffff:127.0.0.1. */
static void dual_stack_accepts_v4(struct dm_instance *inst)
{
    struct sockaddr_in6 any = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT};
    in_port_t port;
    int l = listen_on(inst, (struct sockaddr *)&any, sizeof(any), 0, &port);
    struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = port};
    inet_pton(AF_INET, "127.0.0.1", &v4.sin_addr);
    int c;
    demi_qtoken_t at, ct;
    demi_qresult_t qr;
    assert_int_equal(dm_socket(inst, &c, AF_INET, SOCK_STREAM, 0), 0);
    assert_int_equal(dm_accept(inst, &at, l), 0);
    assert_int_equal(dm_connect(inst, &ct, c, (struct sockaddr *)&v4, sizeof(v4)), 0);
    assert_int_equal(dm_wait(inst, &qr, ct, WAIT_NS), 0);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_CONNECT);
    assert_int_equal(dm_wait(inst, &qr, at, WAIT_NS), 0);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_ACCEPT);
    struct sockaddr_in6 peer = qr.qr_value.ares.addr6;
    assert_int_equal(peer.sin6_family, AF_INET6);
    char buf[INET6_ADDRSTRLEN];
    assert_string_equal(inet_ntop(AF_INET6, &peer.sin6_addr, buf, sizeof(buf)), "::ffff:127.0.0.1");
    dm_close(inst, qr.qr_value.ares.qd);
    dm_close(inst, c);
    dm_close(inst, l);
}

static void udp_over_loopback6(struct dm_instance *inst)
{
    struct sockaddr_in6 a = loop6();
    int r, s;
    assert_int_equal(dm_socket(inst, &r, AF_INET6, SOCK_DGRAM, 0), 0);
    assert_int_equal(dm_socket(inst, &s, AF_INET6, SOCK_DGRAM, 0), 0);
    assert_int_equal(dm_bind(inst, r, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(dm_bind(inst, s, (struct sockaddr *)&a, sizeof(a)), 0);
    struct sockaddr_in6 ra, sa;
    socklen_t rl = sizeof(ra), sl = sizeof(sa);
    assert_int_equal(dm_getsockname(inst, r, (struct sockaddr *)&ra, &rl), 0);
    assert_int_equal(dm_getsockname(inst, s, (struct sockaddr *)&sa, &sl), 0);
    char msg[] = "dgram6";
    demi_sgarray_t sga = {.sga_numsegs = 1, .sga_segs[0] = {.sgaseg_buf = msg, .sgaseg_len = sizeof(msg)}};
    demi_qtoken_t pt, ot;
    demi_qresult_t qr;
    assert_int_equal(dm_pop(inst, &ot, r), 0);
    /* the 24-byte RFC 2133 form (no scope id) is taken too, as by Linux */
    assert_int_equal(dm_pushto(inst, &pt, s, &sga, (struct sockaddr *)&ra, 24), 0);
    assert_int_equal(dm_wait(inst, &qr, pt, WAIT_NS), 0);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_PUSH);
    assert_int_equal(dm_wait(inst, &qr, ot, WAIT_NS), 0);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
    struct sockaddr_in6 from = qr.qr_value.sga.sga_addr6;
    assert_memory_equal(&from, &sa, sizeof(sa));
    dm_sgafree(inst, &qr.qr_value.sga);
    /* a v4 address on a v6 socket: as Linux, too short for AF_INET6 */
    struct sockaddr_in v4 = {.sin_family = AF_INET};
    assert_int_equal(dm_bind(inst, r, (struct sockaddr *)&v4, sizeof(v4)), -EINVAL);
    dm_close(inst, r);
    dm_close(inst, s);
}

static void run_all(const char *backend)
{
    struct dm_instance *inst = open_backend(backend);
    if (!inst)
        skip();
    tcp_over_loopback6(inst);
    dual_stack_accepts_v4(inst);
    udp_over_loopback6(inst);
    dm_instance_destroy(inst);
}

static void test_inet6_posix(void **s)
{
    (void)s;
    run_all("posix");
}

static void test_inet6_uring(void **s)
{
    (void)s;
    run_all("uring");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inet6_posix),
        cmocka_unit_test(test_inet6_uring),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
