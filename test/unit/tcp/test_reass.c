/* SPDX-License-Identifier: MIT */
/* tcp_reass: out-of-order queue over dm_buf chains: trimming, merging,
 * limits, wraparound, and that no byte is ever duplicated, lost or leaked. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>
#include "fake_buf.h"
#include "tcp_reass.h"

#define STREAM 65536
static uint8_t src[STREAM];

static int setup(void **state)
{
    (void)state;
    for (uint32_t i = 0; i < STREAM; i++)
        src[i] = (uint8_t)((i * 131u) ^ (i >> 8) ^ 0x5a);
    return 0;
}

static int check_no_leak(void **state)
{
    (void)state;
    assert_int_equal(fake_live(), 0);
    assert_int_equal(fake_bad_frees(), 0);
    return 0;
}

/* Segment of the stream [off, off+len) as sequence isn+off. */
static int ins(struct tcp_reass *q, uint32_t isn, uint32_t off, uint32_t len, uint32_t rcv_nxt,
               unsigned nsegs, uint32_t pad)
{
    return tcp_reass_insert(q, fake_chain(src + off, len, nsegs, pad), isn + off, len, rcv_nxt);
}

/* Pops everything available, appending to out; returns bytes popped. */
static uint32_t drain(struct tcp_reass *q, uint32_t *rcv_nxt, uint8_t *out, uint32_t *outlen)
{
    uint32_t total = 0;
    struct dm_buf *c;
    while ((c = tcp_reass_pop(q, rcv_nxt)) != NULL) {
        uint32_t n = fake_copy(c, out + *outlen, STREAM - *outlen);
        *outlen += n;
        total += n;
        dm_buf_free(c);
    }
    return total;
}

static void test_reass_in_order_pops_immediately(void **state)
{
    (void)state;
    struct tcp_reass q;
    tcp_reass_init(&q, 1 << 20);
    uint32_t nxt = 1000;
    assert_int_equal(ins(&q, 1000, 0, 100, nxt, 1, 0), 100);
    uint8_t out[STREAM];
    uint32_t olen = 0;
    assert_int_equal(drain(&q, &nxt, out, &olen), 100);
    assert_int_equal(nxt, 1100);
    assert_memory_equal(out, src, 100);
    assert_true(tcp_reass_empty(&q));
    assert_int_equal(tcp_reass_bytes(&q), 0);
}

static void test_reass_out_of_order_merges_into_one_chain(void **state)
{
    (void)state;
    struct tcp_reass q;
    tcp_reass_init(&q, 1 << 20);
    uint32_t isn = 5000, nxt = isn;
    assert_int_equal(ins(&q, isn, 300, 100, nxt, 1, 0), 100);
    assert_int_equal(ins(&q, isn, 100, 100, nxt, 2, 0), 100);
    assert_int_equal(q.n, 2);
    assert_null(tcp_reass_pop(&q, &nxt));           /* hole at [0,100) */
    assert_int_equal(ins(&q, isn, 200, 100, nxt, 1, 0), 100);   /* bridges both */
    assert_int_equal(q.n, 1);
    struct tcp_sack_block r[4];
    assert_int_equal(tcp_reass_ranges(&q, r, 4), 1);
    assert_int_equal(r[0].start, isn + 100);
    assert_int_equal(r[0].end, isn + 400);
    assert_int_equal(ins(&q, isn, 0, 100, nxt, 1, 0), 100);
    struct dm_buf *c = tcp_reass_pop(&q, &nxt);
    assert_non_null(c);
    assert_int_equal(c->pkt_len, 400);
    assert_int_equal(c->nb_segs, 5);                /* chained, not copied */
    uint8_t out[400];
    fake_copy(c, out, sizeof(out));
    assert_memory_equal(out, src, 400);
    assert_int_equal(nxt, isn + 400);
    dm_buf_free(c);
    assert_null(tcp_reass_pop(&q, &nxt));
}

static void test_reass_duplicate_returns_zero(void **state)
{
    (void)state;
    struct tcp_reass q;
    tcp_reass_init(&q, 1 << 20);
    uint32_t isn = 0, nxt = 0;
    assert_int_equal(ins(&q, isn, 100, 200, nxt, 1, 0), 200);
    assert_int_equal(ins(&q, isn, 100, 200, nxt, 1, 0), 0);   /* exact duplicate */
    assert_int_equal(ins(&q, isn, 150, 50, nxt, 1, 0), 0);    /* inside */
    assert_int_equal(ins(&q, 0, 0, 50, 60, 1, 0), 0);         /* entirely below rcv_nxt */
    assert_int_equal(tcp_reass_bytes(&q), 200);
    tcp_reass_reset(&q);
}

static void test_reass_overlapping_retransmission_keeps_bytes(void **state)
{
    (void)state;
    struct tcp_reass q;
    tcp_reass_init(&q, 1 << 20);
    uint32_t isn = 7, nxt = isn;
    /* [100,200) queued; retransmission [50,250) overlaps both edges: only
     * [50,100) and [200,250) are new */
    assert_int_equal(ins(&q, isn, 100, 100, nxt, 1, 0), 100);
    assert_int_equal(ins(&q, isn, 50, 200, nxt, 3, 0), 100);
    assert_int_equal(tcp_reass_bytes(&q), 200);
    /* covers two ranges and the gap between: the inner range is replaced */
    assert_int_equal(ins(&q, isn, 300, 10, nxt, 1, 0), 10);
    assert_int_equal(ins(&q, isn, 400, 10, nxt, 1, 0), 10);
    assert_int_equal(ins(&q, isn, 320, 100, nxt, 2, 0), 90);   /* [400,410) replaced; [310,320) a hole */
    assert_int_equal(q.n, 3);
    /* [0,330) + padding: keeps [320,420) (right edge), replaces [50,250)
     * and [300,310) entirely inside it: new bytes = 420 - 0 - 310 queued */
    assert_int_equal(ins(&q, isn, 0, 330, nxt, 4, 7), 110);
    assert_int_equal(q.n, 1);
    uint8_t out[STREAM];
    uint32_t olen = 0;
    drain(&q, &nxt, out, &olen);
    assert_int_equal(olen, 420);
    assert_memory_equal(out, src, 420);
}

/* Random segments (overlapping, duplicated, any order, multi-segment chains,
 * link padding, some starting below rcv_nxt) over a wrapping sequence space:
 * the delivered stream must be exactly the source. */
static void test_reass_random_overlaps_reconstruct_stream(void **state)
{
    (void)state;
    srand(2024);
    static uint8_t out[STREAM];
    long drops = 0;
    for (int trial = 0; trial < 40; trial++) {
        struct tcp_reass q;
        tcp_reass_init(&q, trial & 1 ? 1 << 20 : 2500);  /* small limit: drops happen */
        uint32_t isn = 0xffffffffu - (uint32_t)(rand() % 20000);   /* wraps mid-stream */
        uint32_t nxt = isn, olen = 0;
        uint32_t total = 8000 + (uint32_t)(rand() % 20000);
        int guard = 0;
        while (olen < total && guard++ < 200000) {
            /* mostly near rcv_nxt, sometimes stale, sometimes ahead */
            uint32_t base = olen;
            int32_t jitter = (rand() % 4000) - 300;
            int64_t off = (int64_t)base + jitter;
            if (off < 0)
                off = 0;
            if (off >= total)
                continue;
            uint32_t len = 1 + (uint32_t)(rand() % 1500);
            if (off + len > total)
                len = total - (uint32_t)off;
            unsigned nsegs = 1 + (unsigned)(rand() % 3);
            if (nsegs > len)
                nsegs = 1;
            int rc = ins(&q, isn, (uint32_t)off, len, nxt, nsegs, (uint32_t)(rand() % 3) * 10);
            assert_true(rc >= 0 || rc == -ENOBUFS);   /* a drop is retransmitted later */
            drops += rc == -ENOBUFS;
            drain(&q, &nxt, out, &olen);
            assert_int_equal(nxt, isn + olen);
            /* invariants: sorted, disjoint, non-adjacent, counted */
            uint32_t sum = 0;
            for (uint32_t i = 0; i < q.n; i++) {
                sum += q.r[i].len;
                assert_int_equal(q.r[i].head->pkt_len, q.r[i].len);
                if (i)
                    assert_true((int32_t)(q.r[i].seq - (q.r[i - 1].seq + q.r[i - 1].len)) > 0);
                assert_true((int32_t)(q.r[i].seq - nxt) > 0);
            }
            assert_int_equal(sum, tcp_reass_bytes(&q));
        }
        assert_int_equal(olen, total);
        assert_memory_equal(out, src, total);
        tcp_reass_reset(&q);
        assert_int_equal(fake_live(), 0);
    }
    assert_true(drops > 0);                         /* the limit path was exercised */
}

static void test_reass_byte_limit_drops_and_counts(void **state)
{
    (void)state;
    struct tcp_reass q;
    tcp_reass_init(&q, 1000);
    uint32_t nxt = 0;
    assert_int_equal(ins(&q, 0, 100, 600, nxt, 1, 0), 600);
    assert_int_equal(ins(&q, 0, 800, 500, nxt, 1, 0), -ENOBUFS);   /* 1100 > 1000 */
    assert_int_equal(q.dropped, 1);
    /* the segment filling the hole is taken even beyond the limit */
    assert_int_equal(ins(&q, 0, 0, 50, nxt, 1, 0), 50);
    struct dm_buf *c = tcp_reass_pop(&q, &nxt);
    assert_int_equal(c->pkt_len, 50);
    dm_buf_free(c);
    assert_int_equal(tcp_reass_bytes(&q), 600);
    /* overlapping data costs only its new bytes */
    assert_int_equal(ins(&q, 0, 300, 800, nxt, 1, 0), 400);
    assert_int_equal(tcp_reass_bytes(&q), 1000);
    assert_int_equal(q.n, 1);
    tcp_reass_reset(&q);
    assert_int_equal(tcp_reass_bytes(&q), 0);
}

static void test_reass_range_table_full_drops_new(void **state)
{
    (void)state;
    struct tcp_reass q;
    tcp_reass_init(&q, 1 << 20);
    uint32_t nxt = 0;
    for (uint32_t i = 0; i < TCP_REASS_MAX_RANGES - 1; i++)
        assert_int_equal(ins(&q, 0, 100 + i * 100, 10, nxt, 1, 0), 10);
    assert_int_equal(ins(&q, 0, 5000, 10, nxt, 1, 0), -ENOBUFS);   /* one gap too many */
    assert_int_equal(q.dropped, 1);
    /* data extending an existing range is still accepted */
    assert_int_equal(ins(&q, 0, 110, 10, nxt, 1, 0), 10);
    /* in-order data always gets the reserved slot, even when not touching */
    assert_int_equal(ins(&q, 0, 0, 50, nxt, 1, 0), 50);
    assert_int_equal(q.n, TCP_REASS_MAX_RANGES);
    /* ... and filling the first hole lets everything drain to the next gap */
    assert_int_equal(ins(&q, 0, 50, 50, nxt, 1, 0), 50);
    uint8_t out[STREAM];
    uint32_t olen = 0;
    drain(&q, &nxt, out, &olen);
    assert_int_equal(nxt, 120);
    tcp_reass_reset(&q);
}

static void test_reass_tiny_segments_bounded(void **state)
{
    (void)state;
    struct tcp_reass q;
    tcp_reass_init(&q, 16384);                      /* max_segs = 64 */
    assert_int_equal(q.max_segs, 64);
    uint32_t nxt = 0;
    int dropped = 0;
    for (uint32_t i = 0; i < 200; i++) {            /* 1-byte segments, contiguous */
        int rc = ins(&q, 0, 1 + i, 1, nxt, 1, 0);
        if (rc == -ENOBUFS)
            dropped++;
    }
    assert_int_equal(dropped, 200 - 64);
    assert_int_equal(q.segs, 64);
    tcp_reass_reset(&q);
    assert_int_equal(q.segs, 0);
}

static void test_reass_hostile_arguments(void **state)
{
    (void)state;
    struct tcp_reass q;
    tcp_reass_init(&q, 1 << 20);
    assert_int_equal(tcp_reass_insert(&q, NULL, 0, 10, 0), -EINVAL);
    assert_int_equal(tcp_reass_insert(&q, fake_chain(src, 10, 1, 0), 0, 0, 0), -EINVAL);
    assert_int_equal(tcp_reass_insert(&q, fake_chain(src, 10, 1, 0), 0, 11, 0), -EINVAL);
    assert_int_equal(tcp_reass_insert(&q, fake_chain(src, 10, 1, 0), 0, 1u << 30, 0), -EINVAL);
    /* header fields lying about the chain are recomputed, not trusted */
    struct dm_buf *b = fake_chain(src, 100, 2, 0);
    b->pkt_len = 5000;
    b->nb_segs = 0;
    assert_int_equal(tcp_reass_insert(&q, b, 50, 200, 0), -EINVAL);   /* only 100 bytes exist */
    b = fake_chain(src + 50, 100, 2, 0);
    b->pkt_len = 20;
    b->nb_segs = 9;
    assert_int_equal(tcp_reass_insert(&q, b, 50, 100, 0), 100);
    assert_int_equal(q.r[0].head->nb_segs, 2);
    assert_int_equal(q.r[0].head->pkt_len, 100);
    tcp_reass_reset(&q);
}

static void test_reass_pop_trims_data_delivered_elsewhere(void **state)
{
    (void)state;
    /* The receiver delivered an in-order segment directly and advanced
     * rcv_nxt into (and past) queued ranges: pop trims or frees them. */
    struct tcp_reass q;
    tcp_reass_init(&q, 1 << 20);
    uint32_t isn = 0xfffffff0u, nxt = isn;
    assert_int_equal(ins(&q, isn, 100, 50, nxt, 1, 0), 50);
    assert_int_equal(ins(&q, isn, 200, 50, nxt, 1, 0), 50);
    nxt = isn + 220;                                /* [0,220) delivered directly */
    struct dm_buf *c = tcp_reass_pop(&q, &nxt);
    assert_non_null(c);
    assert_int_equal(c->pkt_len, 30);
    uint8_t out[64];
    fake_copy(c, out, sizeof(out));
    assert_memory_equal(out, src + 220, 30);
    assert_int_equal(nxt, isn + 250);
    dm_buf_free(c);
    assert_true(tcp_reass_empty(&q));
    assert_int_equal(tcp_reass_bytes(&q), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_reass_in_order_pops_immediately, check_no_leak),
        cmocka_unit_test_teardown(test_reass_out_of_order_merges_into_one_chain, check_no_leak),
        cmocka_unit_test_teardown(test_reass_duplicate_returns_zero, check_no_leak),
        cmocka_unit_test_teardown(test_reass_overlapping_retransmission_keeps_bytes, check_no_leak),
        cmocka_unit_test_teardown(test_reass_random_overlaps_reconstruct_stream, check_no_leak),
        cmocka_unit_test_teardown(test_reass_byte_limit_drops_and_counts, check_no_leak),
        cmocka_unit_test_teardown(test_reass_range_table_full_drops_new, check_no_leak),
        cmocka_unit_test_teardown(test_reass_tiny_segments_bounded, check_no_leak),
        cmocka_unit_test_teardown(test_reass_hostile_arguments, check_no_leak),
        cmocka_unit_test_teardown(test_reass_pop_trims_data_delivered_elsewhere, check_no_leak),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
