/* SPDX-License-Identifier: MIT */
/* tcp_isn: SipHash-2-4 against the reference vectors, RFC 6528 ISNs. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>
#include "tcp_isn.h"

/* From the SipHash paper / reference implementation: key = 00..0f,
 * message = 00 01 02 ... (len bytes). */
static void test_isn_siphash_reference_vectors(void **state)
{
    (void)state;
    uint8_t key[16], msg[64];
    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)i;
    for (int i = 0; i < 64; i++)
        msg[i] = (uint8_t)i;
    assert_int_equal(tcp_siphash24(key, msg, 0), 0x726fdb47dd0e0e31ULL);
    assert_int_equal(tcp_siphash24(key, msg, 1), 0x74f839c593dc67fdULL);
    assert_int_equal(tcp_siphash24(key, msg, 7), 0xab0200f58b01d137ULL);
    assert_int_equal(tcp_siphash24(key, msg, 8), 0x93f5f5799a932462ULL);
    assert_int_equal(tcp_siphash24(key, msg, 15), 0xa129ca6149be45e5ULL);  /* the paper's example */
    assert_int_equal(tcp_siphash24(key, msg, 16), 0x3f2acc7f57c29bdbULL);
    assert_int_equal(tcp_siphash24(key, msg, 63), 0x958a324ceb064572ULL);
}

static void test_isn_clock_advances_4us(void **state)
{
    (void)state;
    struct tcp_isn s;
    uint8_t key[16] = {1, 2, 3};
    tcp_isn_init_key(&s, key);
    uint32_t a = tcp_isn_gen(&s, 0x0a000001, 80, 0x0a000002, 40000, 0);
    /* same 4-tuple: ISN moves with M, one per 4 us */
    assert_int_equal(tcp_isn_gen(&s, 0x0a000001, 80, 0x0a000002, 40000, 3999), a);
    assert_int_equal(tcp_isn_gen(&s, 0x0a000001, 80, 0x0a000002, 40000, 4000), a + 1);
    assert_int_equal(tcp_isn_gen(&s, 0x0a000001, 80, 0x0a000002, 40000, 4000000), a + 1000);
    /* M wraps modulo 2^32 ticks (~4.77 h) */
    int64_t wrap = (int64_t)4000 * 0x100000000LL;
    assert_int_equal(tcp_isn_gen(&s, 0x0a000001, 80, 0x0a000002, 40000, wrap + 8000), a + 2);
}

static void test_isn_depends_on_tuple_and_secret(void **state)
{
    (void)state;
    struct tcp_isn s1, s2;
    uint8_t k1[16] = {0}, k2[16] = {0};
    k2[15] = 1;
    tcp_isn_init_key(&s1, k1);
    tcp_isn_init_key(&s2, k2);
    int64_t now = 123456789;
    uint32_t base = tcp_isn_gen(&s1, 0x0a000001, 80, 0x0a000002, 40000, now);
    /* neighbouring tuples give unrelated offsets (not base +- small) */
    uint32_t p1 = tcp_isn_gen(&s1, 0x0a000001, 80, 0x0a000002, 40001, now);
    uint32_t p2 = tcp_isn_gen(&s1, 0x0a000001, 81, 0x0a000002, 40000, now);
    uint32_t p3 = tcp_isn_gen(&s1, 0x0a000002, 80, 0x0a000001, 40000, now);
    uint32_t k = tcp_isn_gen(&s2, 0x0a000001, 80, 0x0a000002, 40000, now);
    uint32_t v[5] = {base, p1, p2, p3, k};
    for (int i = 0; i < 5; i++)
        for (int j = i + 1; j < 5; j++) {
            uint32_t d = v[i] - v[j];
            assert_true(d > 1000000u && d < 0u - 1000000u);
        }
    /* the output of F is the keyed hash of the 12-byte tuple */
    uint8_t t[12];
    uint32_t la = 0x0a000001, ra = 0x0a000002;
    uint16_t lp = 80, rp = 40000;
    memcpy(t, &la, 4);
    memcpy(t + 4, &ra, 4);
    memcpy(t + 8, &lp, 2);
    memcpy(t + 10, &rp, 2);
    assert_int_equal(base, (uint32_t)tcp_siphash24(k1, t, 12) + (uint32_t)(now / 4000));
}

static void test_isn_random_secret(void **state)
{
    (void)state;
    struct tcp_isn a, b;
    assert_int_equal(tcp_isn_init(&a), 0);
    assert_int_equal(tcp_isn_init(&b), 0);
    /* two draws of a 128-bit secret colliding would be a broken RNG */
    assert_memory_not_equal(a.key, b.key, 16);
    assert_int_not_equal(tcp_isn_gen(&a, 1, 2, 3, 4, 0), tcp_isn_gen(&b, 1, 2, 3, 4, 0));
}

static void test_isn_syncookie_roundtrip_and_mss(void **state)
{
    (void)state;
    struct tcp_isn s;
    uint8_t key[16] = {9, 8, 7};
    tcp_isn_init_key(&s, key);
    int64_t now = 1000 * TCP_SYNCOOKIE_SLOT_NS + 5;
    const uint16_t mss_in[] = {1460, 1459, 9000, 536, 100, 1448, 4312};
    const int mss_out[] = {1460, 1440, 8960, 536, 536, 1440, 4312};
    for (unsigned i = 0; i < sizeof(mss_in) / sizeof(mss_in[0]); i++) {
        uint32_t c = tcp_syncookie_make(&s, 0x0100000a, 443, 0x0200000a, 51000, 0xdeadbeef, mss_in[i], now);
        assert_int_equal(tcp_syncookie_check(&s, 0x0100000a, 443, 0x0200000a, 51000, 0xdeadbeef, c, now),
                         mss_out[i]);
    }
}

static void test_isn_syncookie_rejects_forged_other_and_expired(void **state)
{
    (void)state;
    struct tcp_isn s, other;
    uint8_t key[16] = {9, 8, 7}, key2[16] = {1};
    tcp_isn_init_key(&s, key);
    tcp_isn_init_key(&other, key2);
    int64_t now = 77 * TCP_SYNCOOKIE_SLOT_NS + 1;
    uint32_t c = tcp_syncookie_make(&s, 1, 2, 3, 4, 5000, 1460, now);
    /* valid through the next slot, not after */
    assert_int_equal(tcp_syncookie_check(&s, 1, 2, 3, 4, 5000, c, now + TCP_SYNCOOKIE_SLOT_NS), 1460);
    assert_int_equal(tcp_syncookie_check(&s, 1, 2, 3, 4, 5000, c, now + 2 * TCP_SYNCOOKIE_SLOT_NS), -EINVAL);
    /* 32 slots later the 5-bit slot matches again, the hash does not */
    assert_int_equal(tcp_syncookie_check(&s, 1, 2, 3, 4, 5000, c, now + 32 * TCP_SYNCOOKIE_SLOT_NS), -EINVAL);
    /* other tuple, other peer ISN, other secret */
    assert_int_equal(tcp_syncookie_check(&s, 1, 2, 3, 5, 5000, c, now), -EINVAL);
    assert_int_equal(tcp_syncookie_check(&s, 1, 2, 3, 4, 5001, c, now), -EINVAL);
    assert_int_equal(tcp_syncookie_check(&other, 1, 2, 3, 4, 5000, c, now), -EINVAL);
    /* any single flipped bit (incl. the MSS index) is caught */
    for (int b = 0; b < 32; b++)
        assert_int_equal(tcp_syncookie_check(&s, 1, 2, 3, 4, 5000, c ^ (1u << b), now), -EINVAL);
    /* blind guessing: 2^16 random cookies, none accepted */
    uint32_t x = 12345;
    int accepted = 0;
    for (int i = 0; i < 65536; i++) {
        x = x * 1664525u + 1013904223u;
        accepted += tcp_syncookie_check(&s, 1, 2, 3, 4, 5000, x, now) > 0;
    }
    assert_true(accepted <= 1);   /* expected 2^16 * 2 / 2^29 ~ 0 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_isn_siphash_reference_vectors),
        cmocka_unit_test(test_isn_clock_advances_4us),
        cmocka_unit_test(test_isn_depends_on_tuple_and_secret),
        cmocka_unit_test(test_isn_random_secret),
        cmocka_unit_test(test_isn_syncookie_roundtrip_and_mss),
        cmocka_unit_test(test_isn_syncookie_rejects_forged_other_and_expired),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
