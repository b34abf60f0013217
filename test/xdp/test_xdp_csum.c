/* SPDX-License-Identifier: MIT */
/*
 * devices/xdp/xdp_csum.c: on a veth, a TCP/UDP frame whose checksum field
 * holds its pseudo-header sum (Linux's CHECKSUM_PARTIAL, left to a NIC the
 * veth does not have) is taken as good; a complete checksum, a damaged
 * one, a fragment or a frame shorter than its headers say is left to the
 * stack's own verification. The expected sums are computed here over the
 * RFC 793 / RFC 8200 pseudo-header laid out as bytes.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "dm/buf.h"
#include "xdp_csum.h"

static uint32_t ones_sum(const uint8_t *p, size_t n, uint32_t s)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1)
        s += (uint32_t)p[n - 1] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return s;
}

/* A frame: Ethernet, IPv4 or IPv6, TCP (20 B) or UDP (8 B), `pay` bytes
 * of payload. full: a complete checksum; else the pseudo-header sum. */
static uint32_t frame(uint8_t *f, bool v6, int proto, uint32_t pay, bool full)
{
    uint32_t l4len = (proto == 6 ? 20 : 8) + pay, iphl = v6 ? 40 : 20;
    memset(f, 0, 14 + iphl + l4len);
    f[12] = v6 ? 0x86 : 0x08;
    f[13] = v6 ? 0xdd : 0x00;
    uint8_t *ip = f + 14, *l4 = ip + iphl, ph[40];
    size_t phl;
    if (v6) {
        ip[0] = 0x60;
        ip[4] = (uint8_t)(l4len >> 8);
        ip[5] = (uint8_t)l4len;
        ip[6] = (uint8_t)proto;
        ip[7] = 64;
        for (int i = 0; i < 16; i++) {
            ip[8 + i] = (uint8_t)(0xfd + i * 3);
            ip[24 + i] = (uint8_t)(0xfd + i * 5);
        }
        memcpy(ph, ip + 8, 32);
        ph[32] = ph[33] = 0;
        ph[34] = (uint8_t)(l4len >> 8);
        ph[35] = (uint8_t)l4len;
        ph[36] = ph[37] = ph[38] = 0;
        ph[39] = (uint8_t)proto;
        phl = 40;
    } else {
        ip[0] = 0x45;
        ip[2] = (uint8_t)((20 + l4len) >> 8);
        ip[3] = (uint8_t)(20 + l4len);
        ip[6] = 0x40; /* DF */
        ip[8] = 64;
        ip[9] = (uint8_t)proto;
        const uint8_t a[8] = { 10, 211, 7, 2, 10, 211, 7, 1 };
        memcpy(ip + 12, a, 8);
        memcpy(ph, a, 8);
        ph[8] = 0;
        ph[9] = (uint8_t)proto;
        ph[10] = (uint8_t)(l4len >> 8);
        ph[11] = (uint8_t)l4len;
        phl = 12;
    }
    l4[0] = 0x9c, l4[1] = 0x41, l4[2] = 0x1e, l4[3] = 0x61; /* 40001 -> 7777 */
    if (proto == 6) {
        l4[12] = 5 << 4;
        l4[13] = 0x18;
    } else {
        l4[4] = (uint8_t)(l4len >> 8);
        l4[5] = (uint8_t)l4len;
    }
    for (uint32_t i = 0; i < pay; i++)
        l4[(proto == 6 ? 20 : 8) + i] = (uint8_t)(i * 7 + 1);
    uint32_t s = ones_sum(ph, phl, 0);
    if (full)
        s = ~ones_sum(l4, l4len, s) & 0xffff;
    uint8_t *c = l4 + (proto == 6 ? 16 : 6);
    c[0] = (uint8_t)(s >> 8);
    c[1] = (uint8_t)s;
    return 14 + iphl + l4len;
}

static void check(bool v6, int proto)
{
    uint8_t f[1600];
    uint32_t n = frame(f, v6, proto, 1001, false), csum_at = 14 + (v6 ? 40 : 20) + (proto == 6 ? 16 : 6);
    assert_int_equal(xdp_csum_rx_partial(f, n), DM_BUF_RX_L4_CKSUM_GOOD);
    /* cut short of what its IP header says: not ours to judge */
    assert_int_equal(xdp_csum_rx_partial(f, n - 1), 0);
    /* a field one off: damaged, the stack verifies (and drops) it */
    f[csum_at + 1] ^= 1;
    assert_int_equal(xdp_csum_rx_partial(f, n), 0);
    /* a complete checksum: the stack verifies it as usual */
    n = frame(f, v6, proto, 1001, true);
    assert_int_equal(xdp_csum_rx_partial(f, n), 0);
    for (uint32_t pay = 0; pay < 64; pay++) {
        n = frame(f, v6, proto, pay, false);
        assert_int_equal(xdp_csum_rx_partial(f, n), DM_BUF_RX_L4_CKSUM_GOOD);
    }
    if (!v6) { /* a fragment's checksum spans the whole datagram */
        n = frame(f, v6, proto, 1001, false);
        f[14 + 6] |= 0x20; /* MF */
        assert_int_equal(xdp_csum_rx_partial(f, n), 0);
    }
}

static void test_partial_checksums_from_a_veth_peer_are_good(void **state)
{
    (void)state;
    check(false, 6);
    check(false, 17);
    check(true, 6);
    check(true, 17);
}

static void test_udp_without_a_checksum_and_other_frames_get_no_verdict(void **state)
{
    (void)state;
    uint8_t f[256];
    uint32_t n = frame(f, false, 17, 10, false);
    f[14 + 20 + 6] = f[14 + 20 + 7] = 0;
    assert_int_equal(xdp_csum_rx_partial(f, n), 0);
    n = frame(f, false, 6, 10, false);
    f[12] = 0x08, f[13] = 0x06; /* ARP */
    assert_int_equal(xdp_csum_rx_partial(f, n), 0);
    n = frame(f, false, 1, 10, false); /* ICMP: always summed in full */
    assert_int_equal(xdp_csum_rx_partial(f, n), 0);
    assert_int_equal(xdp_csum_rx_partial(f, 20), 0);
    assert_false(xdp_csum_iface_is_veth("lo"));
    assert_false(xdp_csum_iface_is_veth("no-such-if0"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_partial_checksums_from_a_veth_peer_are_good),
        cmocka_unit_test(test_udp_without_a_checksum_and_other_frames_get_no_verdict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
