/* SPDX-License-Identifier: MIT */
/*
 * devices/xdp/xdp_rss.c: the queue an RSS interface gives the replies to
 * our active opens, checked against the verification vectors of
 * Microsoft's RSS specification (its key; IPv4 and IPv6 with ports, for
 * TCP and UDP), and the interfaces whose RSS we cannot compute (lo)
 * steering nothing.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "xdp_rss.h"
#include "../rss_vectors.h"

/* The queue of the table entry of the hash, for each vector (a NIC-like
 * table: entry i -> queue (i * 7) % 8), for TCP and UDP (the same tuple);
 * none when the table is not known, or for a flow whose ports the
 * interface does not hash (r.ports). */
static void check_queues(bool v6, int proto)
{
    static struct xdp_rss r;
    const struct rss_spec_vector *v = v6 ? rss_spec_v6 : rss_spec_v4;
    size_t nv = v6 ? sizeof(rss_spec_v6) / sizeof(v[0]) : sizeof(rss_spec_v4) / sizeof(v[0]);
    unsigned bit = proto == IPPROTO_TCP ? (v6 ? DM_FLOW_TCP6 : DM_FLOW_TCP4) : (v6 ? DM_FLOW_UDP6 : DM_FLOW_UDP4);
    memset(&r, 0, sizeof(r));
    memcpy(r.key, rss_spec_key, sizeof(rss_spec_key));
    r.key_len = sizeof(rss_spec_key);
    r.n = 128;
    for (unsigned i = 0; i < r.n; i++)
        r.indir[i] = (uint16_t)((i * 7) % 8);
    for (size_t i = 0; i < nv; i++) {
        uint8_t s[16], t[16];
        uint32_t s4 = 0, t4 = 0;
        assert_int_equal(rss_spec_addrs(&v[i], v6, s, t, &s4, &t4), 0);
        int want = (int)(((v[i].hash % 128) * 7) % 8);
        uint16_t sp = htons(v[i].sport), dp = htons(v[i].dport);
        r.ports = (uint8_t)(0xf & ~bit);
        assert_int_equal(v6 ? xdp_rss_queue6(&r, proto, t, dp, s, sp) : xdp_rss_queue(&r, proto, t4, dp, s4, sp), -1);
        r.ports = (uint8_t)bit;
        assert_int_equal(v6 ? xdp_rss_queue6(&r, proto, t, dp, s, sp) : xdp_rss_queue(&r, proto, t4, dp, s4, sp),
                         want);
    }
    r.n = 0; /* not known: no queue */
    assert_int_equal(v6 ? xdp_rss_queue6(&r, proto, rss_spec_key, 1, rss_spec_key, 2)
                        : xdp_rss_queue(&r, proto, 1, 2, 3, 4),
                     -1);
}

static void test_queue_is_the_table_entry_of_the_toeplitz_hash(void **state)
{
    (void)state;
    check_queues(false, IPPROTO_TCP);
    check_queues(false, IPPROTO_UDP);
}

static void test_queue6_is_the_table_entry_of_the_toeplitz_hash(void **state)
{
    (void)state;
    check_queues(true, IPPROTO_TCP);
    check_queues(true, IPPROTO_UDP);
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
