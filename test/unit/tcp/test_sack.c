/* SPDX-License-Identifier: MIT */
/* tcp_sack: receiver block generation (RFC 2018) and sender scoreboard
 * (RFC 6675 IsLost / NextSeg / SetPipe, simplified). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>
#include "tcp_sack.h"
#include "tcp_seq.h"

#define B(s, e) ((struct tcp_sack_block){(s), (e)})

static void assert_block(struct tcp_sack_block b, uint32_t s, uint32_t e)
{
    assert_int_equal(b.start, s);
    assert_int_equal(b.end, e);
}

/* ---------------------------------------------------------- receiver side */

static void test_sack_rx_most_recent_first(void **state)
{
    (void)state;
    struct tcp_sack_rx rx;
    tcp_sack_rx_init(&rx);
    struct tcp_sack_block ranges[3] = {B(100, 200), B(300, 400), B(500, 600)};
    struct tcp_sack_block out[4];
    tcp_sack_rx_note(&rx, 300);
    tcp_sack_rx_note(&rx, 500);
    tcp_sack_rx_note(&rx, 150);          /* any byte of the segment works */
    unsigned n = tcp_sack_rx_blocks(&rx, ranges, 3, 50, out, 4);
    assert_int_equal(n, 3);
    assert_block(out[0], 100, 200);
    assert_block(out[1], 500, 600);
    assert_block(out[2], 300, 400);
    /* next ACK without new data: same order (repeat most recently reported) */
    n = tcp_sack_rx_blocks(&rx, ranges, 3, 50, out, 4);
    assert_int_equal(n, 3);
    assert_block(out[0], 100, 200);
    assert_block(out[1], 500, 600);
    /* hole before 100 filled: rcv_nxt = 200, the first range is no longer a SACK */
    n = tcp_sack_rx_blocks(&rx, ranges + 1, 2, 200, out, 4);
    assert_int_equal(n, 2);
    assert_block(out[0], 500, 600);
    assert_block(out[1], 300, 400);
    /* no out-of-order data: nothing */
    assert_int_equal(tcp_sack_rx_blocks(&rx, NULL, 0, 600, out, 4), 0);
}

static void test_sack_rx_limits_and_dedup(void **state)
{
    (void)state;
    struct tcp_sack_rx rx;
    tcp_sack_rx_init(&rx);
    struct tcp_sack_block ranges[5] = {B(10, 20), B(30, 40), B(50, 60), B(70, 80), B(90, 100)};
    struct tcp_sack_block out[4];
    tcp_sack_rx_note(&rx, 35);
    tcp_sack_rx_note(&rx, 31);           /* same range twice: one block */
    unsigned n = tcp_sack_rx_blocks(&rx, ranges, 5, 0, out, 3);
    assert_int_equal(n, 3);              /* max 3 (timestamps in use) */
    assert_block(out[0], 30, 40);
    assert_block(out[1], 90, 100);       /* then the highest ones */
    assert_block(out[2], 70, 80);
    for (unsigned i = 0; i < n; i++)
        for (unsigned j = i + 1; j < n; j++)
            assert_false(out[i].start == out[j].start);
}

static void test_sack_rx_wraparound(void **state)
{
    (void)state;
    struct tcp_sack_rx rx;
    tcp_sack_rx_init(&rx);
    struct tcp_sack_block ranges[2] = {B(0xfffffff0u, 0x10), B(0x100, 0x200)};
    struct tcp_sack_block out[4];
    tcp_sack_rx_note(&rx, 0x150);
    tcp_sack_rx_note(&rx, 0x5);          /* inside the wrapped range */
    unsigned n = tcp_sack_rx_blocks(&rx, ranges, 2, 0xffffff00u, out, 4);
    assert_int_equal(n, 2);
    assert_block(out[0], 0xfffffff0u, 0x10);
    assert_block(out[1], 0x100, 0x200);
}

static void test_sack_rx_dsack_reported_once_first(void **state)
{
    (void)state;
    struct tcp_sack_rx rx;
    tcp_sack_rx_init(&rx);
    struct tcp_sack_block ranges[2] = {B(300, 400), B(500, 600)};
    struct tcp_sack_block out[4];
    tcp_sack_rx_note(&rx, 500);
    tcp_sack_rx_note(&rx, 300);
    /* duplicate below rcv_nxt: first block, below the cumulative ACK */
    tcp_sack_rx_dsack(&rx, 100, 150);
    unsigned n = tcp_sack_rx_blocks(&rx, ranges, 2, 200, out, 3);
    assert_int_equal(n, 3);
    assert_block(out[0], 100, 150);
    assert_block(out[1], 300, 400);
    assert_block(out[2], 500, 600);
    /* reported once only */
    n = tcp_sack_rx_blocks(&rx, ranges, 2, 200, out, 3);
    assert_int_equal(n, 2);
    assert_block(out[0], 300, 400);
    /* duplicate inside an out-of-order range: that range comes second */
    tcp_sack_rx_dsack(&rx, 520, 540);
    n = tcp_sack_rx_blocks(&rx, ranges, 2, 200, out, 4);
    assert_int_equal(n, 3);
    assert_block(out[0], 520, 540);
    assert_block(out[1], 500, 600);
    assert_block(out[2], 300, 400);
    /* D-SACK with nothing out of order, and bogus (empty) input ignored */
    tcp_sack_rx_dsack(&rx, 50, 50);
    assert_int_equal(tcp_sack_rx_blocks(&rx, NULL, 0, 600, out, 4), 0);
    tcp_sack_rx_dsack(&rx, 50, 60);
    assert_int_equal(tcp_sack_rx_blocks(&rx, NULL, 0, 600, out, 4), 1);
    assert_block(out[0], 50, 60);
    /* the sender's scoreboard ignores it (below snd_una), without counting it bogus */
    struct tcp_sack_sb sb;
    unsigned bad = 7;
    tcp_sack_sb_reset(&sb);
    assert_int_equal(tcp_sack_sb_update(&sb, out, 1, 600, 1000, &bad), 0);
    assert_int_equal(bad, 0);
    assert_int_equal(sb.n, 0);
}

/* ------------------------------------------------------------ sender side */

static void test_sack_scoreboard_merge_and_count(void **state)
{
    (void)state;
    struct tcp_sack_sb sb;
    tcp_sack_sb_reset(&sb);
    uint32_t una = 1000, nxt = 5000;
    struct tcp_sack_block b1[2] = {B(2000, 2500), B(3000, 3500)};
    assert_int_equal(tcp_sack_sb_update(&sb, b1, 2, una, nxt, NULL), 1000);
    assert_int_equal(sb.n, 2);
    /* overlapping + adjacent blocks merge into one */
    struct tcp_sack_block b2[2] = {B(2400, 3000), B(3500, 3600)};
    assert_int_equal(tcp_sack_sb_update(&sb, b2, 2, una, nxt, NULL), 600);
    assert_int_equal(sb.n, 1);
    assert_block(sb.r[0], 2000, 3600);
    assert_int_equal(sb.sacked, 1600);
    /* the same blocks again: nothing new */
    assert_int_equal(tcp_sack_sb_update(&sb, b2, 2, una, nxt, NULL), 0);
    assert_true(tcp_sack_sb_is_sacked(&sb, 2000, 1600));
    assert_false(tcp_sack_sb_is_sacked(&sb, 1999, 2));
    assert_false(tcp_sack_sb_is_sacked(&sb, 3000, 601));
    assert_int_equal(tcp_sack_sb_sacked_above(&sb, 1000), 1600);
    assert_int_equal(tcp_sack_sb_sacked_above(&sb, 2999), 600);
    assert_int_equal(tcp_sack_sb_high(&sb, una), 3600);
}

static void test_sack_scoreboard_rejects_bogus_blocks(void **state)
{
    (void)state;
    struct tcp_sack_sb sb;
    tcp_sack_sb_reset(&sb);
    uint32_t una = 1000, nxt = 2000;
    unsigned bad = 99;
    struct tcp_sack_block b[6] = {
        B(1500, 2001),          /* beyond snd_nxt: never sent */
        B(1600, 1500),          /* inverted */
        B(1700, 1700),          /* empty */
        B(500, 900),            /* D-SACK below snd_una: ignored, not bogus */
        B(1700, 1700 + (1u << 30)),  /* absurd span */
        B(900, 1100),           /* straddles snd_una: clipped */
    };
    assert_int_equal(tcp_sack_sb_update(&sb, b, 6, una, nxt, &bad), 100);
    assert_int_equal(bad, 4);
    assert_int_equal(sb.n, 1);
    assert_block(sb.r[0], 1000, 1100);
}

static void test_sack_scoreboard_ack_cleanup(void **state)
{
    (void)state;
    struct tcp_sack_sb sb;
    tcp_sack_sb_reset(&sb);
    struct tcp_sack_block b[3] = {B(200, 300), B(400, 500), B(600, 700)};
    tcp_sack_sb_update(&sb, b, 3, 100, 1000, NULL);
    tcp_sack_sb_ack(&sb, 450);
    assert_int_equal(sb.n, 2);
    assert_block(sb.r[0], 450, 500);
    assert_int_equal(sb.sacked, 150);
    tcp_sack_sb_ack(&sb, 700);
    assert_int_equal(sb.n, 0);
    assert_int_equal(sb.sacked, 0);
}

static void test_sack_scoreboard_next_hole(void **state)
{
    (void)state;
    struct tcp_sack_sb sb;
    tcp_sack_sb_reset(&sb);
    const uint32_t una = 1000, nxt = 2000, mss = 100;
    struct tcp_sack_block b[2] = {B(1200, 1300), B(1400, 1700)};
    tcp_sack_sb_update(&sb, b, 2, una, nxt, NULL);
    uint32_t seq, len;
    /* 400 bytes SACKed above 1000 > (3-1)*100: lost, first MSS of the hole */
    assert_true(tcp_sack_sb_is_lost(&sb, 1000, mss, 3));
    assert_true(tcp_sack_sb_next_hole(&sb, una, una, mss, 3, &seq, &len));
    assert_int_equal(seq, 1000);
    assert_int_equal(len, 100);
    /* after retransmitting it, the rest of the first hole */
    assert_true(tcp_sack_sb_next_hole(&sb, una, 1100, mss, 3, &seq, &len));
    assert_int_equal(seq, 1100);
    assert_int_equal(len, 100);
    /* then the second hole, never overlapping a SACKed range */
    assert_true(tcp_sack_sb_next_hole(&sb, una, 1200, mss, 3, &seq, &len));
    assert_int_equal(seq, 1300);
    assert_int_equal(len, 100);
    assert_false(tcp_sack_sb_next_hole(&sb, una, 1400, mss, 3, &seq, &len));
    /* the tail above the highest SACK is never "lost" */
    assert_false(tcp_sack_sb_is_lost(&sb, 1750, mss, 3));

    /* a single small SACK does not make the hole lost yet */
    tcp_sack_sb_reset(&sb);
    struct tcp_sack_block one = B(1100, 1200);
    tcp_sack_sb_update(&sb, &one, 1, una, nxt, NULL);
    assert_false(tcp_sack_sb_next_hole(&sb, una, una, mss, 3, &seq, &len));
    /* three discontiguous SACKed ranges do (even if small) */
    struct tcp_sack_block more[2] = {B(1300, 1301), B(1500, 1501)};
    tcp_sack_sb_update(&sb, more, 2, una, nxt, NULL);
    assert_true(tcp_sack_sb_next_hole(&sb, una, una, mss, 3, &seq, &len));
    assert_int_equal(seq, 1000);
}

static void test_sack_scoreboard_wraparound(void **state)
{
    (void)state;
    struct tcp_sack_sb sb;
    tcp_sack_sb_reset(&sb);
    uint32_t una = 0xffffff00u, nxt = 0x400, mss = 0x40;
    struct tcp_sack_block b[2] = {B(0xffffffc0u, 0x40), B(0x100, 0x200)};
    assert_int_equal(tcp_sack_sb_update(&sb, b, 2, una, nxt, NULL), 0x80 + 0x100);
    assert_block(sb.r[0], 0xffffffc0u, 0x40);
    uint32_t seq, len;
    assert_true(tcp_sack_sb_next_hole(&sb, una, una, mss, 3, &seq, &len));
    assert_int_equal(seq, una);
    assert_int_equal(len, 0x40);
    assert_true(tcp_sack_sb_next_hole(&sb, una, una + 0xc0, mss, 3, &seq, &len));
    assert_int_equal(seq, 0x40);         /* second hole, past the wrap */
    assert_int_equal(len, 0x40);
    /* with a larger MSS, 0x100 SACKed bytes above 0x40 are not > 2 MSS: not lost */
    assert_false(tcp_sack_sb_next_hole(&sb, una, una + 0xc0, 0x80, 3, &seq, &len));
    tcp_sack_sb_ack(&sb, 0x20);
    assert_block(sb.r[0], 0x20, 0x40);
}

static void test_sack_scoreboard_overflow_drops_lowest(void **state)
{
    (void)state;
    struct tcp_sack_sb sb;
    tcp_sack_sb_reset(&sb);
    for (uint32_t i = 0; i < TCP_SACK_SB_MAX + 2; i++) {
        struct tcp_sack_block b = B(1000 + i * 100, 1050 + i * 100);
        tcp_sack_sb_update(&sb, &b, 1, 1000, 100000, NULL);
    }
    assert_int_equal(sb.n, TCP_SACK_SB_MAX);
    assert_block(sb.r[0], 1200, 1250);   /* the two lowest were forgotten */
    assert_int_equal(sb.sacked, TCP_SACK_SB_MAX * 50);
    /* a new lowest range is the one dropped when full */
    struct tcp_sack_block low = B(1010, 1020);
    assert_int_equal(tcp_sack_sb_update(&sb, &low, 1, 1000, 100000, NULL), 0);
    assert_block(sb.r[0], 1200, 1250);
}

static void test_sack_reneging_cleared_on_rto(void **state)
{
    (void)state;
    struct tcp_sack_sb sb;
    tcp_sack_sb_reset(&sb);
    struct tcp_sack_block b = B(2000, 3000);
    tcp_sack_sb_update(&sb, &b, 1, 1000, 4000, NULL);
    assert_true(tcp_sack_sb_is_sacked(&sb, 2000, 1000));
    tcp_sack_sb_reset(&sb);              /* RTO: the receiver may have reneged */
    assert_false(tcp_sack_sb_is_sacked(&sb, 2000, 1000));
    uint32_t seq, len;
    assert_false(tcp_sack_sb_next_hole(&sb, 1000, 1000, 100, 3, &seq, &len));
    assert_int_equal(tcp_sack_sb_pipe(&sb, 1000, 4000, 1000, 100, 3), 3000);
}

static void test_sack_pipe_rfc6675(void **state)
{
    (void)state;
    struct tcp_sack_sb sb;
    tcp_sack_sb_reset(&sb);
    const uint32_t una = 1000, nxt = 2000, mss = 100;
    struct tcp_sack_block b[2] = {B(1200, 1300), B(1400, 1700)};
    tcp_sack_sb_update(&sb, b, 2, una, nxt, NULL);
    /* holes [1000,1200) and [1300,1400) are lost, tail [1700,2000) in flight */
    assert_int_equal(tcp_sack_sb_pipe(&sb, una, nxt, una, mss, 3), 300);
    /* retransmitted bytes are in flight again */
    assert_int_equal(tcp_sack_sb_pipe(&sb, una, nxt, 1100, mss, 3), 400);
    assert_int_equal(tcp_sack_sb_pipe(&sb, una, nxt, 1400, mss, 3), 600);
}

/* Random blocks vs a byte-map model: the scoreboard never claims a byte the
 * model does not have, and matches it exactly while it holds <= 8 ranges. */
static void test_sack_scoreboard_matches_model(void **state)
{
    (void)state;
    enum { W = 600 };
    srand(7);
    for (int trial = 0; trial < 300; trial++) {
        uint32_t una = (uint32_t)rand() * 2654435761u;   /* anywhere, wraps included */
        uint32_t nxt = una + W;
        uint8_t model[W];
        memset(model, 0, sizeof(model));
        struct tcp_sack_sb sb;
        tcp_sack_sb_reset(&sb);
        bool overflowed = false;
        for (int k = 0; k < 12; k++) {
            uint32_t s = (uint32_t)(rand() % (W + 100)) - 50, l = (uint32_t)(rand() % 80) + 1;
            struct tcp_sack_block blk = B(una + s, una + s + l);
            tcp_sack_sb_update(&sb, &blk, 1, una, nxt, NULL);
            bool valid = (int32_t)s + (int32_t)l > 0 && s + l <= W && (int32_t)s + (int32_t)l <= W;
            if (valid)
                for (int32_t x = (int32_t)s; x < (int32_t)(s + l); x++)
                    if (x >= 0)
                        model[x] = 1;
            /* invariants */
            uint32_t sum = 0;
            for (unsigned i = 0; i < sb.n; i++) {
                assert_true(tcp_seq_lt(sb.r[i].start, sb.r[i].end));
                assert_true(tcp_seq_geq(sb.r[i].start, una));
                assert_true(tcp_seq_leq(sb.r[i].end, nxt));
                if (i)
                    assert_true(tcp_seq_lt(sb.r[i - 1].end, sb.r[i].start));
                sum += sb.r[i].end - sb.r[i].start;
                for (uint32_t x = sb.r[i].start; x != sb.r[i].end; x++)
                    assert_int_equal(model[x - una], 1);
            }
            assert_int_equal(sum, sb.sacked);
            unsigned runs = 0;
            for (int x = 0; x < W; x++)
                if (model[x] && (x == 0 || !model[x - 1]))
                    runs++;
            if (runs > TCP_SACK_SB_MAX)
                overflowed = true;
            if (!overflowed) {
                uint32_t msum = 0;
                for (int x = 0; x < W; x++)
                    msum += model[x];
                assert_int_equal(msum, sb.sacked);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sack_rx_most_recent_first),
        cmocka_unit_test(test_sack_rx_limits_and_dedup),
        cmocka_unit_test(test_sack_rx_wraparound),
        cmocka_unit_test(test_sack_rx_dsack_reported_once_first),
        cmocka_unit_test(test_sack_scoreboard_merge_and_count),
        cmocka_unit_test(test_sack_scoreboard_rejects_bogus_blocks),
        cmocka_unit_test(test_sack_scoreboard_ack_cleanup),
        cmocka_unit_test(test_sack_scoreboard_next_hole),
        cmocka_unit_test(test_sack_scoreboard_wraparound),
        cmocka_unit_test(test_sack_scoreboard_overflow_drops_lowest),
        cmocka_unit_test(test_sack_reneging_cleared_on_rto),
        cmocka_unit_test(test_sack_pipe_rfc6675),
        cmocka_unit_test(test_sack_scoreboard_matches_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
