/* SPDX-License-Identifier: MIT */
/*
 * The Internet checksum of stacks/inet against RFC 1071 summed the slow
 * way, 16 bits at a time: every length from 0 to 2100 at every start
 * offset 0-15 (the SIMD loop, the scalar tails and the odd last byte),
 * sums carried in, mostly-0xff data (carries everywhere), and chains
 * split at odd places.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "inet_test.h"
#include "csum.h"

static uint16_t rfc1071(const uint8_t *b, uint32_t len, uint32_t sum)
{
    uint64_t s = sum;
    for (uint32_t i = 0; i + 1 < len; i += 2)
        s += (uint16_t)(b[i] | b[i + 1] << 8); /* the words as a little-endian host reads them */
    if (len & 1)
        s += b[len - 1];
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
    srand(seed);
    for (size_t i = 0; i < n; i++)
        b[i] = rand() % 4 ? 0xff : (uint8_t)rand();
}

static void test_partial_sum_matches_rfc1071_at_every_length_and_offset(void **st)
{
    (void)st;
    static uint8_t buf[2200];
    fill(buf, sizeof(buf), 7);
    for (uint32_t off = 0; off < 16; off++)
        for (uint32_t len = 0; len <= 2100; len++) {
            uint32_t in = len % 3 ? 0 : 0xfffe0001u + len;
            uint16_t want = rfc1071(buf + off, len, in), got = inet_csum_fold(inet_csum_partial(buf + off, len, in));
            if (want != got)
                fail_msg("offset %u length %u: %#x, RFC 1071 gives %#x", off, len, got, want);
        }
}

static void test_chain_sum_matches_the_flat_one(void **st)
{
    (void)st;
    static uint8_t flat[3000];
    fill(flat, sizeof(flat), 11);
    struct dm_buf segs[3];
    uint32_t cuts[][2] = { { 1, 1500 }, { 777, 1501 }, { 64, 65 }, { 1499, 3 } };
    for (unsigned c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
        uint32_t a = cuts[c][0], b = cuts[c][1], lens[3] = { a, b, (uint32_t)sizeof(flat) - a - b };
        uint8_t *p = flat;
        memset(segs, 0, sizeof(segs));
        for (int i = 0; i < 3; i++) {
            segs[i].data = p;
            segs[i].len = lens[i];
            segs[i].next = i < 2 ? &segs[i + 1] : NULL;
            p += lens[i];
        }
        for (uint32_t off = 0; off < 5; off++) {
            uint32_t len = (uint32_t)sizeof(flat) - off - 3;
            uint16_t want = rfc1071(flat + off, len, 0);
            uint16_t got = inet_csum_fold(inet_csum_chain(&segs[0], off, len, 0));
            if (want != got)
                fail_msg("cuts %u/%u offset %u: %#x, RFC 1071 gives %#x", a, b, off, got, want);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_partial_sum_matches_rfc1071_at_every_length_and_offset),
        cmocka_unit_test(test_chain_sum_matches_the_flat_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
