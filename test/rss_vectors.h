/* SPDX-License-Identifier: MIT */
/*
 * The verification vectors of Microsoft's RSS specification ("Verifying
 * the RSS Hash Calculation"): its key, and the Toeplitz hash of TCP over
 * IPv4 and IPv6 with ports, for the tests of the devices that place
 * flows by RSS (test/dpdk/test_dpdk_dev.c, test/xdp/test_xdp_rss.c).
 * `src` is the sender: the peer, whose segment the port places.
 */
#ifndef DM_TEST_RSS_VECTORS_H
#define DM_TEST_RSS_VECTORS_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static const uint8_t rss_spec_key[40] __attribute__((aligned(4))) = {
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
    0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
    0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};

struct rss_spec_vector {
    const char *src, *dst;
    uint16_t sport, dport;
    uint32_t hash;
};

static const struct rss_spec_vector rss_spec_v4[] = {
    { "66.9.149.187", "161.142.100.80", 2794, 1766, 0x51ccc178 },
    { "199.92.111.2", "65.69.140.83", 14230, 4739, 0xc626b0ea },
    { "24.19.198.95", "12.22.207.184", 12898, 38024, 0x5c2b394a },
    { "38.27.205.30", "209.142.163.6", 48228, 2217, 0xafc7327f },
    { "153.39.163.191", "202.188.127.2", 44251, 1303, 0x10e828a2 },
};

static const struct rss_spec_vector rss_spec_v6[] = {
    { "3ffe:2501:200:3::1", "3ffe:2501:200:1fff::7", 2794, 1766, 0x40207d3d },
    { "3ffe:501:8::260:97ff:fe40:efab", "ff02::1", 14230, 4739, 0xdde51bbf },
    { "3ffe:1900:4545:3:200:f8ff:fe21:67cf", "fe80::200:f8ff:fe21:67cf", 44251, 38024, 0x02d1feef },
};

/* v's addresses in network order (an IPv4 one in the first 4 bytes), and
 * the IPv4 ones as words: 0, or -1 when one does not parse */
static inline int rss_spec_addrs(const struct rss_spec_vector *v, bool v6, uint8_t src[16], uint8_t dst[16],
                                 uint32_t *src4, uint32_t *dst4)
{
    int fam = v6 ? AF_INET6 : AF_INET;
    if (inet_pton(fam, v->src, src) != 1 || inet_pton(fam, v->dst, dst) != 1)
        return -1;
    memcpy(src4, src, 4);
    memcpy(dst4, dst, 4);
    return 0;
}

#endif /* DM_TEST_RSS_VECTORS_H */
