/* SPDX-License-Identifier: MIT */
/*
 * devices/xdp/xdp_rss.c: the queue an RSS interface gives the replies to
 * our active opens, checked against the verification vectors of
 * Microsoft's RSS specification (its key, IPv4 with TCP ports), and the
 * interfaces whose RSS we cannot compute (lo) steering nothing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "xdp_rss.h"

static void test_queue_is_the_table_entry_of_the_toeplitz_hash(void **state)
{
    (void)state;
    static const uint8_t key[40] = {
        0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
        0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
        0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
    };
    /* the peer's address and port first: it sends the segment we place */
    static const struct { const char *src, *dst; uint16_t sport, dport; uint32_t hash; } v[] = {
        { "66.9.149.187", "161.142.100.80", 2794, 1766, 0x51ccc178 },
        { "199.92.111.2", "65.69.140.83", 14230, 4739, 0xc626b0ea },
        { "24.19.198.95", "12.22.207.184", 12898, 38024, 0x5c2b394a },
        { "38.27.205.30", "209.142.163.6", 48228, 2217, 0xafc7327f },
        { "153.39.163.191", "202.188.127.2", 44251, 1303, 0x10e828a2 },
    };
    static struct xdp_rss r;
    memset(&r, 0, sizeof(r));
    memcpy(r.key, key, sizeof(key));
    r.key_len = sizeof(key);
    r.n = 128; /* a NIC-like table: entry i -> queue (i * 7) % 8 */
    for (unsigned i = 0; i < r.n; i++)
        r.indir[i] = (uint16_t)((i * 7) % 8);
    for (unsigned i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct in_addr s, t;
        assert_int_equal(inet_pton(AF_INET, v[i].src, &s), 1);
        assert_int_equal(inet_pton(AF_INET, v[i].dst, &t), 1);
        int want = (int)(((v[i].hash % 128) * 7) % 8);
        assert_int_equal(xdp_rss_queue(&r, t.s_addr, htons(v[i].dport), s.s_addr, htons(v[i].sport)), want);
    }
    r.n = 0; /* not known: no queue */
    assert_int_equal(xdp_rss_queue(&r, 1, 2, 3, 4), -1);
}

static void test_queue6_is_the_table_entry_of_the_toeplitz_hash(void **state)
{
    (void)state;
    static const uint8_t key[40] = {
        0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
        0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
        0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
    };
    static const struct { const char *src, *dst; uint16_t sport, dport; uint32_t hash; } v[] = {
        { "3ffe:2501:200:3::1", "3ffe:2501:200:1fff::7", 2794, 1766, 0x40207d3d },
        { "3ffe:501:8::260:97ff:fe40:efab", "ff02::1", 14230, 4739, 0xdde51bbf },
        { "3ffe:1900:4545:3:200:f8ff:fe21:67cf", "fe80::200:f8ff:fe21:67cf", 44251, 38024, 0x02d1feef },
    };
    static struct xdp_rss r;
    memset(&r, 0, sizeof(r));
    memcpy(r.key, key, sizeof(key));
    r.key_len = sizeof(key);
    r.n = 128;
    for (unsigned i = 0; i < r.n; i++)
        r.indir[i] = (uint16_t)((i * 7) % 8);
    struct in6_addr s, t;
    for (unsigned i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        assert_int_equal(inet_pton(AF_INET6, v[i].src, &s), 1);
        assert_int_equal(inet_pton(AF_INET6, v[i].dst, &t), 1);
        /* not hashed over IPv6 ports: no queue */
        r.v6 = false;
        assert_int_equal(xdp_rss_queue6(&r, t.s6_addr, htons(v[i].dport), s.s6_addr, htons(v[i].sport)), -1);
        r.v6 = true;
        int want = (int)(((v[i].hash % 128) * 7) % 8);
        assert_int_equal(xdp_rss_queue6(&r, t.s6_addr, htons(v[i].dport), s.s6_addr, htons(v[i].sport)), want);
    }
}

static void test_loopback_has_no_rss_we_can_compute(void **state)
{
    (void)state;
    static struct xdp_rss r;
    r.n = 5;
    int err = xdp_rss_read("lo", &r);
    assert_true(err == -EOPNOTSUPP || err == -EINVAL);
    assert_int_equal(r.n, 0);
    assert_int_equal(xdp_rss_read("no-such-if0", &r), -ENODEV);
    assert_int_equal(r.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_is_the_table_entry_of_the_toeplitz_hash),
        cmocka_unit_test(test_queue6_is_the_table_entry_of_the_toeplitz_hash),
        cmocka_unit_test(test_loopback_has_no_rss_we_can_compute),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
