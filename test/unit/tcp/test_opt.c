/* SPDX-License-Identifier: MIT */
/* tcp_opt: parsing (well-formed and hostile) and writing of TCP options. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>
#include "tcp_opt.h"

static void test_opt_parse_linux_syn(void **state)
{
    (void)state;
    /* What Linux sends in a SYN: MSS 1460, SACK-perm, TS, NOP, WS 7. */
    const uint8_t o[20] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0x01, 0x02, 0x03, 0x04,
                           0, 0, 0, 0, 1, 3, 3, 7};
    struct tcp_opts p;
    assert_int_equal(tcp_opt_parse(o, sizeof(o), &p), 0);
    assert_int_equal(p.present, TCP_OPTF_MSS | TCP_OPTF_SACK_PERM | TCP_OPTF_TS | TCP_OPTF_WSCALE);
    assert_int_equal(p.mss, 1460);
    assert_int_equal(p.wscale, 7);
    assert_int_equal(p.tsval, 0x01020304u);
    assert_int_equal(p.tsecr, 0);
}

static void test_opt_parse_ts_fast_path(void **state)
{
    (void)state;
    const uint8_t o[12] = {1, 1, 8, 10, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 42};
    struct tcp_opts p;
    memset(&p, 0xaa, sizeof(p));  /* garbage must be overwritten */
    assert_int_equal(tcp_opt_parse(o, sizeof(o), &p), 0);
    assert_int_equal(p.present, TCP_OPTF_TS);
    assert_int_equal(p.tsval, 0xdeadbeefu);
    assert_int_equal(p.tsecr, 42);
    assert_int_equal(p.nsack, 0);
}

static void test_opt_parse_sack_blocks(void **state)
{
    (void)state;
    uint8_t o[40] = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1, 5, 26};
    uint32_t vals[6] = {0xfffffff0u, 0x10u, 100, 200, 300, 400};
    for (int i = 0; i < 6; i++) {
        o[16 + 4 * i] = (uint8_t)(vals[i] >> 24);
        o[17 + 4 * i] = (uint8_t)(vals[i] >> 16);
        o[18 + 4 * i] = (uint8_t)(vals[i] >> 8);
        o[19 + 4 * i] = (uint8_t)vals[i];
    }
    struct tcp_opts p;
    assert_int_equal(tcp_opt_parse(o, 40, &p), 0);
    assert_true(p.present & TCP_OPTF_SACK);
    assert_true(p.present & TCP_OPTF_TS);
    assert_int_equal(p.nsack, 3);
    assert_int_equal(p.sack[0].start, 0xfffffff0u);
    assert_int_equal(p.sack[0].end, 0x10u);
    assert_int_equal(p.sack[2].start, 300);
    assert_int_equal(p.sack[2].end, 400);
}

static void test_opt_malformed_length_rejected(void **state)
{
    (void)state;
    struct tcp_opts p;
    /* length 0 would loop forever in a naive parser */
    const uint8_t zero[4] = {2, 0, 5, 0xb4};
    assert_int_equal(tcp_opt_parse(zero, 4, &p), -EINVAL);
    /* length 1 is impossible */
    const uint8_t one[4] = {30, 1, 1, 1};
    assert_int_equal(tcp_opt_parse(one, 4, &p), -EINVAL);
    /* runs past the end of the option area */
    const uint8_t past[4] = {1, 1, 8, 10};
    assert_int_equal(tcp_opt_parse(past, 4, &p), -EINVAL);
    /* kind without a length byte at the very end */
    const uint8_t trunc[4] = {1, 1, 1, 2};
    assert_int_equal(tcp_opt_parse(trunc, 4, &p), -EINVAL);
    /* wrong fixed sizes for known kinds */
    const uint8_t mss3[4] = {2, 3, 5, 1};
    assert_int_equal(tcp_opt_parse(mss3, 4, &p), -EINVAL);
    const uint8_t ws4[4] = {3, 4, 7, 0};
    assert_int_equal(tcp_opt_parse(ws4, 4, &p), -EINVAL);
    const uint8_t sp3[4] = {4, 3, 0, 1};
    assert_int_equal(tcp_opt_parse(sp3, 4, &p), -EINVAL);
    const uint8_t ts8[8] = {8, 8, 0, 0, 0, 0, 0, 0};
    assert_int_equal(tcp_opt_parse(ts8, 8, &p), -EINVAL);
    /* SACK: not 2 + 8n, or no block */
    const uint8_t sack5[12] = {5, 9, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1};
    assert_int_equal(tcp_opt_parse(sack5, 12, &p), -EINVAL);
    const uint8_t sack2[4] = {5, 2, 1, 1};
    assert_int_equal(tcp_opt_parse(sack2, 4, &p), -EINVAL);
    /* more than 40 bytes of options cannot come from a real header */
    uint8_t big[44];
    memset(big, 1, sizeof(big));
    assert_int_equal(tcp_opt_parse(big, sizeof(big), &p), -EINVAL);
}

static void test_opt_unknown_and_eol_handled(void **state)
{
    (void)state;
    struct tcp_opts p;
    /* unknown kind 254 (experimental) with a sane length is skipped */
    const uint8_t unk[8] = {254, 4, 0xf9, 0x89, 2, 4, 0x02, 0x18};
    assert_int_equal(tcp_opt_parse(unk, 8, &p), 0);
    assert_int_equal(p.present, TCP_OPTF_MSS);
    assert_int_equal(p.mss, 536);
    /* everything after EOL is ignored, even garbage */
    const uint8_t eol[8] = {3, 3, 2, 0, 2, 0, 0xff, 0xff};
    assert_int_equal(tcp_opt_parse(eol, 8, &p), 0);
    assert_int_equal(p.present, TCP_OPTF_WSCALE);
    assert_int_equal(p.wscale, 2);
    /* empty option area */
    assert_int_equal(tcp_opt_parse(NULL, 0, &p), 0);
    assert_int_equal(p.present, 0);
}

static void test_opt_wscale_above_14_clamped(void **state)
{
    (void)state;
    const uint8_t o[4] = {1, 3, 3, 200};
    struct tcp_opts p;
    assert_int_equal(tcp_opt_parse(o, 4, &p), 0);
    assert_int_equal(p.wscale, 14);
    assert_int_equal(p.wscale_clamped, 1);
}

static void test_opt_fuzz_never_reads_past_end(void **state)
{
    (void)state;
    /* Random option areas placed at the very end of a heap block: with ASan
     * any out-of-bounds read aborts; results must be 0 or -EINVAL. */
    srand(12345);
    for (int it = 0; it < 20000; it++) {
        size_t len = (size_t)(rand() % 41);
        uint8_t *o = malloc(len ? len : 1);
        for (size_t i = 0; i < len; i++) {
            int r = rand() % 10;
            o[i] = r < 3 ? (uint8_t)(rand() % 9) : r < 6 ? (uint8_t)(rand() % 12) : (uint8_t)rand();
        }
        struct tcp_opts p;
        int rc = tcp_opt_parse(o, len, &p);
        assert_true(rc == 0 || rc == -EINVAL);
        if (rc == 0 && (p.present & TCP_OPTF_SACK))
            assert_in_range(p.nsack, 1, 4);
        if (rc == 0)
            assert_in_range(p.wscale, 0, 14);
        free(o);
    }
}

static void test_opt_write_syn_linux_layout(void **state)
{
    (void)state;
    uint8_t buf[40];
    struct tcp_opt_syn s = {.mss = 1460, .wscale = 9, .want_wscale = 1, .want_sack_perm = 1,
                            .want_ts = 1, .tsval = 0x11223344u, .tsecr = 0};
    int n = tcp_opt_write_syn(buf, sizeof(buf), &s);
    assert_int_equal(n, 20);
    const uint8_t expect[20] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0x11, 0x22, 0x33, 0x44,
                                0, 0, 0, 0, 1, 3, 3, 9};
    assert_memory_equal(buf, expect, 20);
    /* round trip */
    struct tcp_opts p;
    assert_int_equal(tcp_opt_parse(buf, (size_t)n, &p), 0);
    assert_int_equal(p.mss, 1460);
    assert_int_equal(p.wscale, 9);
    assert_int_equal(p.tsval, 0x11223344u);
    assert_true(p.present & TCP_OPTF_SACK_PERM);
}

static void test_opt_write_syn_variants_aligned(void **state)
{
    (void)state;
    uint8_t buf[40];
    for (int mask = 0; mask < 8; mask++) {
        struct tcp_opt_syn s = {.mss = 8960, .wscale = 20, .want_wscale = mask & 1,
                                .want_sack_perm = (mask >> 1) & 1, .want_ts = (mask >> 2) & 1,
                                .tsval = 7, .tsecr = 9};
        int n = tcp_opt_write_syn(buf, sizeof(buf), &s);
        assert_true(n > 0 && n % 4 == 0 && n <= 20);
        struct tcp_opts p;
        assert_int_equal(tcp_opt_parse(buf, (size_t)n, &p), 0);
        assert_int_equal(p.mss, 8960);
        assert_int_equal(!!(p.present & TCP_OPTF_WSCALE), mask & 1);
        assert_int_equal(!!(p.present & TCP_OPTF_SACK_PERM), (mask >> 1) & 1);
        assert_int_equal(!!(p.present & TCP_OPTF_TS), (mask >> 2) & 1);
        if (mask & 1)
            assert_int_equal(p.wscale, 14); /* 20 clamped on write */
        if (mask & 4)
            assert_int_equal(p.tsecr, 9);
    }
    struct tcp_opt_syn s = {.mss = 1, .want_ts = 1, .want_wscale = 1};
    assert_int_equal(tcp_opt_write_syn(buf, 16, &s), -ENOSPC);
}

static void test_opt_write_ack_sack_limits(void **state)
{
    (void)state;
    uint8_t buf[64];
    struct tcp_sack_block b[4] = {{10, 20}, {30, 40}, {50, 60}, {70, 80}};
    /* with timestamps: only 3 blocks fit in 40 bytes */
    int n = tcp_opt_write_ack(buf, 40, 1, 5, 6, b, 4);
    assert_int_equal(n, 40);
    assert_int_equal((unsigned)n, tcp_opt_ack_len(1, 4));
    struct tcp_opts p;
    assert_int_equal(tcp_opt_parse(buf, (size_t)n, &p), 0);
    assert_int_equal(p.nsack, 3);
    assert_int_equal(p.sack[0].start, 10);
    assert_int_equal(p.sack[2].end, 60);
    assert_int_equal(p.tsval, 5);
    /* without: 4 blocks, 36 bytes */
    n = tcp_opt_write_ack(buf, sizeof(buf), 0, 0, 0, b, 4);
    assert_int_equal(n, 36);
    assert_int_equal((unsigned)n, tcp_opt_ack_len(0, 4));
    assert_int_equal(tcp_opt_parse(buf, (size_t)n, &p), 0);
    assert_int_equal(p.nsack, 4);
    assert_int_equal(p.sack[3].end, 80);
    /* room limits the blocks, never overflows */
    memset(buf, 0xee, sizeof(buf));
    n = tcp_opt_write_ack(buf, 23, 1, 1, 2, b, 4);
    assert_int_equal(n, 12);          /* 11 left after TS: one block needs 4 + 8 */
    assert_int_equal(buf[12], 0xee);
    n = tcp_opt_write_ack(buf, 35, 1, 1, 2, b, 4);
    assert_int_equal(n, 32);          /* 23 left: two blocks (20), not three (28) */
    assert_int_equal(buf[32], 0xee);
    assert_int_equal(tcp_opt_parse(buf, (size_t)n, &p), 0);
    assert_int_equal(p.nsack, 2);
    assert_int_equal(tcp_opt_write_ack(buf, 8, 1, 1, 2, NULL, 0), -ENOSPC);
    assert_int_equal(tcp_opt_write_ack(buf, 40, 0, 0, 0, NULL, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opt_parse_linux_syn),
        cmocka_unit_test(test_opt_parse_ts_fast_path),
        cmocka_unit_test(test_opt_parse_sack_blocks),
        cmocka_unit_test(test_opt_malformed_length_rejected),
        cmocka_unit_test(test_opt_unknown_and_eol_handled),
        cmocka_unit_test(test_opt_wscale_above_14_clamped),
        cmocka_unit_test(test_opt_fuzz_never_reads_past_end),
        cmocka_unit_test(test_opt_write_syn_linux_layout),
        cmocka_unit_test(test_opt_write_syn_variants_aligned),
        cmocka_unit_test(test_opt_write_ack_sack_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
