/* SPDX-License-Identifier: MIT */
/*
 * Per-call cost of the TCP algorithm modules on their hot paths: option
 * parse (NOP,NOP,TS fast path and a full SACK header), option write with
 * SACK blocks, RTT sample, CUBIC / NewReno on_ack, SACK scoreboard update
 * and reassembly insert+pop of a 2-hole pattern. Prints ns/op as the
 * p50/p99/p99.9 of batches of 1024 calls. Not a test: nothing is asserted.
 *   ./build/test/unit/tcp/bench_tcpalgo
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dm/time.h"
#include "fake_buf.h"
#include "tcp_cc.h"
#include "tcp_opt.h"
#include "tcp_reass.h"
#include "tcp_rtt.h"
#include "tcp_sack.h"

#define BATCH 1024
#define ROUNDS 2000

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static volatile uint32_t sink;

static void report(const char *name, int64_t *ns)
{
    qsort(ns, ROUNDS, sizeof(ns[0]), cmp64);
    printf("%-28s p50 %7.1f  p99 %7.1f  p99.9 %7.1f ns/op\n", name,
           (double)ns[ROUNDS / 2] / BATCH, (double)ns[ROUNDS * 99 / 100] / BATCH,
           (double)ns[ROUNDS * 999 / 1000] / BATCH);
}

/* setup: one expression (comma-separated in parentheses); body: statements. */
#define RUN(name, setup, ...)                                     \
    do {                                                          \
        static int64_t ns_[ROUNDS];                               \
        for (int r_ = 0; r_ < ROUNDS; r_++) {                     \
            setup;                                                \
            int64_t t0_ = dm_clock_ns();                          \
            for (int i = 0; i < BATCH; i++) { __VA_ARGS__ }       \
            ns_[r_] = dm_clock_ns() - t0_;                        \
        }                                                         \
        report(name, ns_);                                        \
    } while (0)

static uint8_t payload[1448];
static struct dm_buf *pre[2 * BATCH];
static void refill(void)
{
    for (int k = 0; k < 2 * BATCH; k++)
        pre[k] = fake_chain(payload, 1448, 1, 0);
}

int main(void)
{
    uint8_t ts[12] = {1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8};
    uint8_t sackhdr[40];
    struct tcp_sack_block blk[3] = {{1000, 2000}, {3000, 4000}, {5000, 6000}};
    int n = tcp_opt_write_ack(sackhdr, 40, 1, 7, 8, blk, 3);
    struct tcp_opts o;

    RUN("opt_parse ts (fast path)", (void)0, tcp_opt_parse(ts, 12, &o); sink += o.tsval;);
    RUN("opt_parse ts+3 sack", (void)0, tcp_opt_parse(sackhdr, (size_t)n, &o); sink += o.nsack;);
    uint8_t out[40];
    RUN("opt_write ts+3 sack", (void)0, sink += (uint32_t)tcp_opt_write_ack(out, 40, 1, (uint32_t)i, 8, blk, 3););

    struct tcp_rtt rtt;
    tcp_rtt_init(&rtt, NULL);
    RUN("rtt_sample", (void)0, tcp_rtt_sample(&rtt, 10000 + (i & 255)););

    struct tcp_cc cc;
    int64_t now = 0;
    RUN("cubic on_ack (CA)",
        (tcp_cc_init(&cc, &tcp_cc_cubic, 1448, 0), cc.cwnd = 100 * 1448,
         tcp_cc_enter_recovery(&cc, cc.cwnd, 0, true), tcp_cc_exit_recovery(&cc, cc.cwnd, 0)),
        { now += 1000; tcp_cc_on_ack(&cc, 1448, 20000, now); });
    RUN("newreno on_ack (CA)",
        (tcp_cc_init(&cc, &tcp_cc_newreno, 1448, 0), cc.ssthresh = 10 * 1448),
        { tcp_cc_on_ack(&cc, 1448, 20000, 0); });
    sink += cc.cwnd;

    struct tcp_sack_sb sb;
    RUN("sack_sb_update 3 blocks", tcp_sack_sb_reset(&sb),
        { struct tcp_sack_block b[3] = {{(uint32_t)i * 8 + 100, (uint32_t)i * 8 + 104}, {20000, 21000}, {30000, 31000}};
          sink += tcp_sack_sb_update(&sb, b, 3, 0, 1u << 20, NULL); });

    /* reassembly: segments arrive as 2, 1 (OOO then fill) -> one pop */
    struct tcp_reass q;
    tcp_reass_init(&q, 1 << 24);
    uint32_t nxt = 0;
    RUN("reass insert ooo+fill, pop", refill(),
        { uint32_t s = nxt;
          tcp_reass_insert(&q, pre[2 * i], s + 1448, 1448, nxt);
          tcp_reass_insert(&q, pre[2 * i + 1], s, 1448, nxt);
          struct dm_buf *c = tcp_reass_pop(&q, &nxt);
          sink += c->pkt_len;
          dm_buf_free(c); });
    printf("(reass includes the test double's free(); sink %u)\n", sink);
    return 0;
}
