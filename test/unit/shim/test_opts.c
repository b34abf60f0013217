/* SPDX-License-Identifier: MIT */
/* Option mapping and offload policy: which options reach the datapath,
 * which the shim answers, which stay on the kernel placeholder; the
 * DEMI_OFFLOAD rule syntax and matching; the loopback and UDP policies. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "shim/shim.h"

static void test_opts_datapath_options_are_forwarded(void **state)
{
    (void)state;
    static const int sol[] = { SO_REUSEADDR, SO_REUSEPORT, SO_KEEPALIVE, SO_LINGER, SO_RCVBUF, SO_SNDBUF };
    for (unsigned i = 0; i < sizeof(sol) / sizeof(sol[0]); i++)
        assert_int_equal(shim_opt_class(SOL_SOCKET, sol[i], true), SHIM_OPT_BACKEND);
    static const int tcp[] = { TCP_NODELAY, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, TCP_QUICKACK };
    for (unsigned i = 0; i < sizeof(tcp) / sizeof(tcp[0]); i++)
        assert_int_equal(shim_opt_class(IPPROTO_TCP, tcp[i], true), SHIM_OPT_BACKEND);
    assert_int_equal(shim_opt_class(IPPROTO_IP, IP_TOS, true), SHIM_OPT_BACKEND);
}

static void test_opts_shim_answers_its_own_state(void **state)
{
    (void)state;
    assert_int_equal(shim_opt_class(SOL_SOCKET, SO_RCVLOWAT, true), SHIM_OPT_SHIM);
    assert_int_equal(shim_opt_class(SOL_SOCKET, SO_RCVTIMEO, true), SHIM_OPT_SHIM);
    assert_int_equal(shim_opt_class(SOL_SOCKET, SO_SNDTIMEO, true), SHIM_OPT_SHIM);
    assert_int_equal(shim_opt_class(SOL_SOCKET, SO_ERROR, false), SHIM_OPT_SHIM);
    assert_int_equal(shim_opt_class(SOL_SOCKET, SO_TYPE, false), SHIM_OPT_SHIM);
    /* read-only options: setting them goes to the kernel, which says ENOPROTOOPT */
    assert_int_equal(shim_opt_class(SOL_SOCKET, SO_ERROR, true), SHIM_OPT_KERNEL);
}

static void test_opts_harmless_unknown_and_unsupported(void **state)
{
    (void)state;
    assert_int_equal(shim_opt_class(IPPROTO_TCP, TCP_DEFER_ACCEPT, true), SHIM_OPT_KERNEL);
    assert_int_equal(shim_opt_class(SOL_SOCKET, SO_PRIORITY, true), SHIM_OPT_KERNEL);
    assert_int_equal(shim_opt_class(4242, 1, true), SHIM_OPT_KERNEL);
    assert_int_equal(shim_opt_class(SOL_SOCKET, SO_ATTACH_FILTER, true), SHIM_OPT_UNSUPPORTED);
    assert_int_equal(shim_opt_class(IPPROTO_IP, IP_ADD_MEMBERSHIP, true), SHIM_OPT_BACKEND_STRICT);
    assert_string_equal(shim_opt_name(IPPROTO_TCP, TCP_NODELAY), "TCP_NODELAY");
    assert_string_equal(shim_opt_name(4242, 1), "(option)");
}

static struct sockaddr_in sin_of(const char *ip, int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static void test_offload_rules_syntax(void **state)
{
    (void)state;
    struct shim_rules *r = NULL;
    assert_int_equal(shim_rules_parse("port=6379", &r), 0);
    shim_rules_free(r);
    assert_int_equal(shim_rules_parse("port=8000-8100,net=10.0.0.0/8, net=192.168.1.7", &r), 0);
    shim_rules_free(r);
    assert_int_equal(shim_rules_parse("port=", &r), -EINVAL);
    assert_int_equal(shim_rules_parse("port=9-1", &r), -EINVAL);
    assert_int_equal(shim_rules_parse("port=70000", &r), -EINVAL);
    assert_int_equal(shim_rules_parse("net=10.0.0.0/33", &r), -EINVAL);
    assert_int_equal(shim_rules_parse("net=300.1.1.1/8", &r), -EINVAL);
    assert_int_equal(shim_rules_parse("host=1", &r), -EINVAL);
    assert_int_equal(shim_rules_parse("", &r), -EINVAL);
}

static void test_offload_rules_match_local_or_remote(void **state)
{
    (void)state;
    struct shim_rules *r = NULL;
    assert_int_equal(shim_rules_parse("port=6379,net=10.1.0.0/16", &r), 0);
    struct sockaddr_in redis = sin_of("0.0.0.0", 6379), other = sin_of("0.0.0.0", 80);
    struct sockaddr_in in_net = sin_of("10.1.2.3", 5555), out_net = sin_of("10.2.0.1", 5555);
    assert_true(shim_rules_match(r, &redis, NULL));
    assert_true(shim_rules_match(r, NULL, &redis));
    assert_false(shim_rules_match(r, &other, NULL));
    assert_true(shim_rules_match(r, &other, &in_net));
    assert_false(shim_rules_match(r, &other, &out_net));
    assert_false(shim_rules_match(r, NULL, NULL));
    shim_rules_free(r);
    assert_true(shim_rules_match(NULL, NULL, NULL)); /* no rules: everything */
}

static void test_offload_policy_loopback_udp_none(void **state)
{
    (void)state;
    const char *why;
    struct shim_cfg c = { .offload_udp = 1, .offload_loopback = 0 };
    struct sockaddr_in lo = sin_of("127.0.0.1", 80), ext = sin_of("10.0.0.2", 80);
    assert_int_equal(shim_offload_decide(NULL, &c, SOCK_STREAM, NULL, &lo, &why), 0);
    assert_non_null(strstr(why, "loopback"));
    assert_int_equal(shim_offload_decide(NULL, &c, SOCK_STREAM, &lo, NULL, &why), 0);
    assert_int_equal(shim_offload_decide(NULL, &c, SOCK_STREAM, NULL, &ext, &why), 1);
    c.offload_loopback = 1;
    assert_int_equal(shim_offload_decide(NULL, &c, SOCK_STREAM, NULL, &lo, &why), 1);
    c.offload_udp = 0;
    assert_int_equal(shim_offload_decide(NULL, &c, SOCK_DGRAM, NULL, &ext, &why), 0);
    assert_int_equal(shim_offload_decide(NULL, &c, SOCK_STREAM, NULL, &ext, &why), 1);
    c.offload_none = 1;
    assert_int_equal(shim_offload_decide(NULL, &c, SOCK_STREAM, NULL, &ext, &why), 0);
}

static void test_offload_policy_bound_elsewhere_than_own_addr(void **state)
{
    (void)state;
    const char *why;
    struct sockaddr_in own = sin_of("10.0.0.1", 0), other = sin_of("10.0.0.9", 0), any = sin_of("0.0.0.0", 80);
    struct sockaddr_in peer = sin_of("10.0.0.2", 80);
    struct shim_cfg c = { .offload_udp = 1, .own_addr = own.sin_addr.s_addr };
    assert_int_equal(shim_offload_decide(NULL, &c, SOCK_STREAM, &own, &peer, &why), 1);
    assert_int_equal(shim_offload_decide(NULL, &c, SOCK_STREAM, &any, &peer, &why), 1);
    assert_int_equal(shim_offload_decide(NULL, &c, SOCK_STREAM, &other, &peer, &why), 0);
    assert_non_null(strstr(why, "own"));
    c.own_addr = 0; /* a kernel-socket backend: any of the host's addresses */
    assert_int_equal(shim_offload_decide(NULL, &c, SOCK_STREAM, &other, &peer, &why), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opts_datapath_options_are_forwarded),
        cmocka_unit_test(test_opts_shim_answers_its_own_state),
        cmocka_unit_test(test_opts_harmless_unknown_and_unsupported),
        cmocka_unit_test(test_offload_rules_syntax),
        cmocka_unit_test(test_offload_rules_match_local_or_remote),
        cmocka_unit_test(test_offload_policy_loopback_udp_none),
        cmocka_unit_test(test_offload_policy_bound_elsewhere_than_own_addr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
