/* SPDX-License-Identifier: MIT */
/*
 * Bulk and scale: 64 MiB in each direction at once over one connection,
 * byte-exact (a hash of the generated stream against a hash of what was
 * popped), on a link with 5% loss, 5% reordering, 1% duplication and 0.1%
 * corruption on both directions, over IPv4 and over IPv6 (neighbour
 * discovery on the same lossy link); then 1,000 concurrent connections each
 * echoing. Sizes can be lowered with INET_BULK_MIB for quick runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "inet_test.h"
#include "demi/sga.h"

#define CHUNK 2000u /* one pool buffer: 64 KiB pushes would come from the heap */


/* A stream hash that does not depend on how the bytes are chunked:
 * 8-byte words (carried across calls) mixed FNV-style. */
struct shash {
    uint64_t h, acc;
    unsigned n;
};

static void shash_feed(struct shash *s, const uint8_t *p, size_t len)
{
    while (len && s->n) {
        s->acc |= (uint64_t)*p++ << (8 * s->n);
        len--;
        if (++s->n == 8) {
            s->h = (s->h ^ s->acc) * 0x100000001b3ull;
            s->acc = 0;
            s->n = 0;
        }
    }
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        s->h = (s->h ^ w) * 0x100000001b3ull;
        p += 8;
        len -= 8;
    }
    while (len--) {
        s->acc |= (uint64_t)*p++ << (8 * s->n);
        s->n++;
    }
}

static uint64_t shash_final(const struct shash *s)
{
    return (s->h ^ s->acc ^ s->n) * 0x100000001b3ull;
}

struct stream {
    uint64_t gen;        /* xorshift state for the bytes to send */
    uint64_t sent, total;
    struct shash tx_hash;
    struct shash rx_hash;
    uint64_t rcvd;
    int inflight;
    bool eof;
};

static void gen_bytes(uint64_t *s, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i += 8) {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        uint64_t v = *s;
        memcpy(p + i, &v, DM_MIN(8u, n - i));
    }
}

/* Keeps `depth` pushes in flight on qd while bytes remain. */
static void feed(struct dm_instance *inst, int qd, struct stream *s, int depth)
{
    while (s->inflight < depth && s->sent < s->total) {
        uint32_t n = (uint32_t)DM_MIN((uint64_t)CHUNK, s->total - s->sent);
        int err = 0;
        demi_sgarray_t sga = dm_sgaalloc(inst, n, &err);
        if (err)
            return;
        gen_bytes(&s->gen, sga.sga_segs[0].sgaseg_buf, n);
        shash_feed(&s->tx_hash, sga.sga_segs[0].sgaseg_buf, n);
        demi_qtoken_t qt;
        int r = dm_push(inst, &qt, qd, &sga);
        dm_sgafree(inst, &sga);
        if (r != 0)
            return;
        s->sent += n;
        s->inflight++;
    }
}

static void harvest(struct dm_instance *inst, int qd, struct stream *tx, struct stream *rx)
{
    demi_qresult_t qrs[64];
    int n = 0;
    if (dm_wait_next_n(inst, qrs, 64, &n, 0) != 0)
        return;
    for (int i = 0; i < n; i++) {
        demi_qresult_t *q = &qrs[i];
        if (q->qr_opcode == DEMI_OPC_PUSH) {
            tx->inflight--;
        } else if (q->qr_opcode == DEMI_OPC_POP) {
            demi_sgarray_t *sga = &q->qr_value.sga;
            if (sga->sga_numsegs == 0) {
                rx->eof = true;
                continue;
            }
            for (uint32_t k = 0; k < sga->sga_numsegs; k++) {
                shash_feed(&rx->rx_hash, sga->sga_segs[k].sgaseg_buf, sga->sga_segs[k].sgaseg_len);
                rx->rcvd += sga->sga_segs[k].sgaseg_len;
            }
            dm_sgafree(inst, sga);
            demi_qtoken_t qt;
            assert_int_equal(dm_pop(inst, &qt, qd), 0);
        } else {
            fail_msg("unexpected completion opcode %d ret %lld", q->qr_opcode, (long long)q->qr_ret);
        }
    }
}

static void bulk_both_ways(const char *faults, uint64_t bytes, bool v6)
{
    struct pair p;
    pair_create(&p, faults, NULL);
    int lqd = v6 ? tcp_listener6(p.b, IP6_B, 5001, 16) : tcp_listener(p.b, IP_B, 5001, 16);
    int cqd, sqd;
    if (v6)
        tcp_connect_pair6(&p, lqd, 5001, &cqd, &sqd);
    else
        tcp_connect_pair(&p, lqd, 5001, &cqd, &sqd);

    struct stream ab = {.gen = 0x1234567, .total = bytes, .tx_hash = {.h = 0xcbf29ce484222325ull},
                        .rx_hash = {.h = 0xcbf29ce484222325ull}};
    struct stream ba = {.gen = 0x89abcdef, .total = bytes, .tx_hash = {.h = 0xcbf29ce484222325ull},
                        .rx_hash = {.h = 0xcbf29ce484222325ull}};
    demi_qtoken_t qt;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(dm_pop(p.a, &qt, cqd), 0);
        assert_int_equal(dm_pop(p.b, &qt, sqd), 0);
    }
    int64_t t0 = dm_clock_ns();
    int64_t deadline = t0 + 240 * DM_NS_PER_S;
    while (ab.rcvd < bytes || ba.rcvd < bytes) {
        feed(p.a, cqd, &ab, 64);
        feed(p.b, sqd, &ba, 64);
        harvest(p.a, cqd, &ab, &ba);
        harvest(p.b, sqd, &ba, &ab);
        if (dm_clock_ns() > deadline) {
            dm_stats_dump(p.a, stderr, 0);
            dm_stats_dump(p.b, stderr, 0);
            fail_msg("bulk stalled: a->b %llu/%llu, b->a %llu/%llu", (unsigned long long)ab.rcvd,
                     (unsigned long long)bytes, (unsigned long long)ba.rcvd, (unsigned long long)bytes);
        }
    }
    double secs = (double)(dm_clock_ns() - t0) / 1e9;
    fprintf(stderr, "# bulk %llu MiB each way over %s (%s): %.2f s, %.2f Gbit/s total; rto a=%lld b=%lld fast_rtx a=%lld b=%lld\n",
            (unsigned long long)(bytes >> 20), v6 ? "IPv6" : "IPv4", faults ? faults : "no faults", secs,
            2.0 * (double)bytes * 8 / secs / 1e9, (long long)stat_of(p.a, "tcp.tx_rto"),
            (long long)stat_of(p.b, "tcp.tx_rto"), (long long)stat_of(p.a, "tcp.tx_fast_retrans"),
            (long long)stat_of(p.b, "tcp.tx_fast_retrans"));
    if (getenv("INET_STATS")) {
        dm_stats_dump(p.a, stderr, 0);
        dm_stats_dump(p.b, stderr, 0);
    }
    assert_int_equal(ab.rcvd, bytes);
    assert_int_equal(ba.rcvd, bytes);
    assert_true(shash_final(&ab.rx_hash) == shash_final(&ab.tx_hash));
    assert_true(shash_final(&ba.rx_hash) == shash_final(&ba.tx_hash));
    if (faults) {
        assert_true(stat_of(p.a, "tcp.tx_retrans") > 0);
        assert_true(stat_of(p.b, "tcp.rx_bad_csum") + stat_of(p.a, "tcp.rx_bad_csum") +
                    stat_of(p.a, "ip.rx_bad_csum") + stat_of(p.b, "ip.rx_bad_csum") +
                    stat_of(p.a, "eth.rx_not_ours") + stat_of(p.b, "eth.rx_not_ours") +
                    stat_of(p.a, "ip.rx_not_ours") + stat_of(p.b, "ip.rx_not_ours") +
                    stat_of(p.a, "ip.rx_bad_len") + stat_of(p.b, "ip.rx_bad_len") +
                    stat_of(p.a, "tcp.rx_no_pcb") + stat_of(p.b, "tcp.rx_no_pcb") +
                    stat_of(p.a, "eth.rx_bad_type") + stat_of(p.b, "eth.rx_bad_type") +
                    stat_of(p.a, "ip.rx_bad_version") + stat_of(p.b, "ip.rx_bad_version") +
                    stat_of(p.a, "ip.rx_bad_hlen") + stat_of(p.b, "ip.rx_bad_hlen") +
                    stat_of(p.a, "tcp.rx_bad_off") + stat_of(p.b, "tcp.rx_bad_off") +
                    stat_of(p.a, "tcp.rx_bad_opt") + stat_of(p.b, "tcp.rx_bad_opt") +
                    stat_of(p.a, "ip6.rx_bad_len") + stat_of(p.b, "ip6.rx_bad_len") +
                    stat_of(p.a, "ip6.rx_bad_version") + stat_of(p.b, "ip6.rx_bad_version") +
                    stat_of(p.a, "ip6.rx_not_ours") + stat_of(p.b, "ip6.rx_not_ours") +
                    stat_of(p.a, "ip6.rx_bad_src") + stat_of(p.b, "ip6.rx_bad_src") +
                    stat_of(p.a, "ip6.rx_bad_ext") + stat_of(p.b, "ip6.rx_bad_ext") +
                    stat_of(p.a, "ip6.rx_bad_proto") + stat_of(p.b, "ip6.rx_bad_proto") > 0);
        if (v6)
            assert_int_equal(stat_of(p.a, "ip.tx") + stat_of(p.b, "ip.tx"), 0);
    }
    /* Both sides close; the connection ends cleanly (EOF each way). */
    assert_int_equal(dm_shutdown(p.a, cqd, SHUT_WR), 0);
    assert_int_equal(dm_shutdown(p.b, sqd, SHUT_WR), 0);
    int64_t end = dm_clock_ns() + 20 * DM_NS_PER_S;
    while ((!ab.eof || !ba.eof) && dm_clock_ns() < end) {
        harvest(p.a, cqd, &ab, &ba);
        harvest(p.b, sqd, &ba, &ab);
    }
    assert_true(ab.eof && ba.eof);
    pair_destroy(&p);
}

static uint64_t bulk_bytes(void)
{
    const char *e = getenv("INET_BULK_MIB");
    return (e ? strtoull(e, NULL, 10) : 64) << 20;
}

static void test_tcp_bulk_64mib_each_way_clean_link(void **s)
{
    (void)s;
    bulk_both_ways(NULL, bulk_bytes(), false);
}

static void test_tcp_bulk_64mib_each_way_lossy_reordering_duplicating_corrupting_link(void **s)
{
    (void)s;
    bulk_both_ways("drop=0.05,reorder=0.05,dup=0.01,corrupt=0.001,seed=42", bulk_bytes(), false);
}

static void test_tcp_bulk_64mib_each_way_over_ipv6_lossy_reordering_duplicating_corrupting_link(void **s)
{
    (void)s;
    bulk_both_ways("drop=0.05,reorder=0.05,dup=0.01,corrupt=0.001,seed=43", bulk_bytes(), true);
}

/* ---------------------------------------------------------------- 1000 conns */
#define NCONN 1000

static void test_tcp_1000_concurrent_connections_each_echo(void **s)
{
    (void)s;
    const char *kv[] = {"DEMI_TCP_MAX_CONNS", "2048", NULL};
    struct pair p;
    pair_create(&p, NULL, kv);
    int lqd = tcp_listener(p.b, IP_B, 7000, 1024);
    static int cqd[NCONN], sqd[NCONN];
    static demi_qtoken_t ct[NCONN];
    demi_qtoken_t at;
    struct sockaddr_in dst = sin_of(IP_B, 7000);
    for (int i = 0; i < NCONN; i++) {
        assert_int_equal(dm_socket(p.a, &cqd[i], AF_INET, SOCK_STREAM, 0), 0);
        assert_int_equal(dm_connect(p.a, &ct[i], cqd[i], (struct sockaddr *)&dst, sizeof(dst)), 0);
    }
    for (int i = 0; i < NCONN; i++) {
        assert_int_equal(dm_accept(p.b, &at, lqd), 0);
        demi_qresult_t qr = pair_wait(&p, p.b, at, 10 * DM_NS_PER_S);
        assert_int_equal(qr.qr_opcode, DEMI_OPC_ACCEPT);
        sqd[i] = qr.qr_value.ares.qd;
    }
    for (int i = 0; i < NCONN; i++) {
        demi_qresult_t qr = pair_wait(&p, p.a, ct[i], 10 * DM_NS_PER_S);
        assert_int_equal(qr.qr_opcode, DEMI_OPC_CONNECT);
    }
    /* Every client sends its index; the server echoes what it got back. */
    static demi_qtoken_t spop[NCONN], cpop[NCONN];
    for (int i = 0; i < NCONN; i++) {
        char msg[32];
        int n = snprintf(msg, sizeof(msg), "hello %d", i);
        push_bytes(p.a, cqd[i], msg, (size_t)n);
        assert_int_equal(dm_pop(p.b, &spop[i], sqd[i]), 0);
        assert_int_equal(dm_pop(p.a, &cpop[i], cqd[i]), 0);
    }
    for (int i = 0; i < NCONN; i++) {
        demi_qresult_t qr = pair_wait(&p, p.b, spop[i], 10 * DM_NS_PER_S);
        assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
        demi_sgarray_t *sga = &qr.qr_value.sga;
        assert_int_equal(sga->sga_numsegs, 1);
        demi_qtoken_t qt;
        assert_int_equal(dm_push(p.b, &qt, sqd[i], sga), 0);
        dm_sgafree(p.b, sga);
    }
    for (int i = 0; i < NCONN; i++) {
        demi_qresult_t qr = pair_wait(&p, p.a, cpop[i], 10 * DM_NS_PER_S);
        assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
        char msg[32];
        int n = snprintf(msg, sizeof(msg), "hello %d", i);
        assert_int_equal(qr.qr_value.sga.sga_segs[0].sgaseg_len, n);
        assert_memory_equal(qr.qr_value.sga.sga_segs[0].sgaseg_buf, msg, (size_t)n);
        dm_sgafree(p.a, &qr.qr_value.sga);
    }
    assert_int_equal(stat_of(p.b, "tcp.conn_passive"), NCONN);
    assert_int_equal(stat_of(p.a, "tcp.conn_active"), NCONN);
    for (int i = 0; i < NCONN; i++) {
        assert_int_equal(dm_close(p.a, cqd[i]), 0);
        assert_int_equal(dm_close(p.b, sqd[i]), 0);
    }
    pair_run_for(&p, 100 * DM_NS_PER_MS);
    pair_destroy(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_bulk_64mib_each_way_clean_link),
        cmocka_unit_test(test_tcp_bulk_64mib_each_way_lossy_reordering_duplicating_corrupting_link),
        cmocka_unit_test(test_tcp_bulk_64mib_each_way_over_ipv6_lossy_reordering_duplicating_corrupting_link),
        cmocka_unit_test(test_tcp_1000_concurrent_connections_each_echo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
