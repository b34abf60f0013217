/* SPDX-License-Identifier: MIT */
/*
 * The algorithm modules composed the way the inet stack uses them, over a
 * lossy simulated path: a SACK sender (tcp_cc + tcp_sack scoreboard,
 * RFC 6675-style recovery, RTO fallback) and a receiver (tcp_reass +
 * tcp_sack_rx), with every ACK's SACK blocks going through real option
 * bytes (tcp_opt_write_ack -> tcp_opt_parse). Sequence numbers start near
 * 2^32 so everything wraps. The delivered stream must equal the source,
 * and loss recovery must not resend data the scoreboard knew was received.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>
#include "fake_buf.h"
#include "tcp_cc.h"
#include "tcp_opt.h"
#include "tcp_reass.h"
#include "tcp_sack.h"
#include "tcp_seq.h"

#define MSS 100u
#define TOTAL 30000u
#define MAXSEG 4096

static uint8_t src[TOTAL];

struct seg { uint32_t seq, len; };

struct sim {
    uint32_t isn, end;
    /* sender */
    uint32_t snd_una, snd_nxt, snd_max, high_rxt, recover; /* snd_max: go-back-N after RTO */
    bool in_rec;
    struct tcp_sack_sb sb;
    struct tcp_cc cc;
    /* receiver */
    uint32_t rcv_nxt;
    struct tcp_reass q;
    struct tcp_sack_rx rx;
    uint8_t out[TOTAL];
    uint32_t olen;
    /* stats */
    unsigned rto, rtx, spurious_known, spurious_rto, sent;
    uint32_t rng;
};

static uint32_t rnd(struct sim *s)
{
    s->rng = s->rng * 1103515245u + 12345u;
    return s->rng >> 8;
}

static void deliver(struct sim *s, struct dm_buf *c)
{
    s->olen += fake_copy(c, s->out + s->olen, TOTAL - s->olen);
    dm_buf_free(c);
}

/* Receiver: one data segment in, one ACK (as option bytes) out. */
static void rcv_segment(struct sim *s, struct seg g, uint8_t *opt, int *optlen, uint32_t *ack)
{
    struct dm_buf *b = fake_chain(src + (g.seq - s->isn), g.len, 1, 0);
    if (g.seq == s->rcv_nxt && tcp_reass_empty(&s->q)) {
        s->rcv_nxt += g.len;
        deliver(s, b);
    } else if (tcp_seq_leq(g.seq + g.len, s->rcv_nxt)) {
        dm_buf_free(b);                      /* old duplicate: D-SACK it */
        tcp_sack_rx_dsack(&s->rx, g.seq, g.seq + g.len);
    } else {
        bool ooo = tcp_seq_gt(g.seq, s->rcv_nxt);
        int r = tcp_reass_insert(&s->q, b, g.seq, g.len, s->rcv_nxt);
        if (ooo && r > 0)
            tcp_sack_rx_note(&s->rx, g.seq);
        if (r == 0)
            tcp_sack_rx_dsack(&s->rx, g.seq, g.seq + g.len);
        struct dm_buf *c;
        while ((c = tcp_reass_pop(&s->q, &s->rcv_nxt)))
            deliver(s, c);
    }
    struct tcp_sack_block ranges[TCP_REASS_MAX_RANGES], blk[TCP_OPT_SACK_MAX];
    unsigned nr = tcp_reass_ranges(&s->q, ranges, TCP_REASS_MAX_RANGES);
    unsigned nb = tcp_sack_rx_blocks(&s->rx, ranges, nr, s->rcv_nxt, blk, TCP_OPT_SACK_MAX_TS);
    *optlen = tcp_opt_write_ack(opt, TCP_OPT_MAX_LEN, 1, 1, 1, blk, nb);
    *ack = s->rcv_nxt;
}

/* Does the receiver already hold all of [seq, seq+len)? */
static bool rcv_has(const struct sim *s, uint32_t seq, uint32_t len)
{
    if (tcp_seq_leq(seq + len, s->rcv_nxt))
        return true;
    for (uint32_t i = 0; i < s->q.n; i++)
        if (tcp_seq_leq(s->q.r[i].seq, seq) && tcp_seq_leq(seq + len, s->q.r[i].seq + s->q.r[i].len))
            return true;
    return false;
}

static void snd_ack(struct sim *s, const uint8_t *opt, int optlen, uint32_t ack)
{
    struct tcp_opts o;
    assert_int_equal(tcp_opt_parse(opt, (size_t)optlen, &o), 0);
    assert_true(tcp_seq_between(ack, s->snd_una, s->snd_max));
    if (tcp_seq_gt(ack, s->snd_una)) {
        uint32_t acked = ack - s->snd_una;
        s->snd_una = ack;
        if (tcp_seq_lt(s->snd_nxt, ack))
            s->snd_nxt = ack;                /* the receiver had it already */
        tcp_sack_sb_ack(&s->sb, ack);
        if (tcp_seq_lt(s->high_rxt, ack))
            s->high_rxt = ack;
        if (s->in_rec && tcp_seq_geq(ack, s->recover)) {
            s->in_rec = false;
            tcp_cc_exit_recovery(&s->cc, s->snd_nxt - s->snd_una, 0);
        } else if (!s->in_rec) {
            tcp_cc_on_ack(&s->cc, acked, 0, 0);
        }
    }
    unsigned bogus = 0;
    if (o.present & TCP_OPTF_SACK)
        tcp_sack_sb_update(&s->sb, o.sack, o.nsack, s->snd_una, s->snd_max, &bogus);
    assert_int_equal(bogus, 0);              /* our receiver never sends bogus blocks */
    if (!s->in_rec && s->snd_una != s->snd_nxt && tcp_sack_sb_is_lost(&s->sb, s->snd_una, MSS, 3)) {
        s->in_rec = true;
        s->recover = s->snd_nxt;
        s->high_rxt = s->snd_una;
        tcp_cc_enter_recovery(&s->cc, s->snd_nxt - s->snd_una, 0, true);
    }
}

/* One round trip: send what cwnd allows, lose some, deliver, process ACKs. */
static bool round_trip(struct sim *s, unsigned loss_pct, bool after_rto)
{
    static struct seg wire[MAXSEG];
    unsigned nw = 0;
    for (;;) {
        uint32_t pipe = s->in_rec
            ? tcp_sack_sb_pipe(&s->sb, s->snd_una, s->snd_nxt, s->high_rxt, MSS, 3)
            : s->snd_nxt - s->snd_una;
        if (pipe + MSS > s->cc.cwnd || nw == MAXSEG)
            break;
        struct seg g;
        uint32_t hs, hl;
        if (s->in_rec && tcp_sack_sb_next_hole(&s->sb, s->snd_una, s->high_rxt, MSS, 3, &hs, &hl)) {
            g.seq = hs;
            g.len = hl;
            s->high_rxt = hs + hl;
            s->rtx++;
            assert_false(tcp_sack_sb_is_sacked(&s->sb, hs, hl));
            if (rcv_has(s, hs, hl))
                s->spurious_known++;
        } else if (tcp_seq_lt(s->snd_nxt, s->end)) {
            g.seq = s->snd_nxt;
            g.len = DM_MIN(MSS, s->end - s->snd_nxt);
            if (after_rto && rcv_has(s, g.seq, g.len))
                s->spurious_rto++;
            s->snd_nxt += g.len;
            s->snd_max = tcp_seq_max(s->snd_max, s->snd_nxt);
        } else {
            break;
        }
        wire[nw++] = g;
    }
    s->sent += nw;
    bool progress = false;
    uint32_t una0 = s->snd_una;
    for (unsigned i = 0; i < nw; i++) {
        if (rnd(s) % 100 < loss_pct)
            continue;
        uint8_t opt[TCP_OPT_MAX_LEN];
        int optlen;
        uint32_t ack;
        rcv_segment(s, wire[i], opt, &optlen, &ack);
        snd_ack(s, opt, optlen, ack);
    }
    progress = s->snd_una != una0;
    return progress;
}

static unsigned total_rtx;

static void run(uint32_t seed, unsigned loss_pct, const struct tcp_cc_ops *ops)
{
    static struct sim s;
    memset(&s, 0, sizeof(s));
    s.rng = seed;
    s.isn = 0xffffffffu - (seed * 7919u) % 20000u;
    s.end = s.isn + TOTAL;
    s.snd_una = s.snd_nxt = s.snd_max = s.high_rxt = s.rcv_nxt = s.isn;
    tcp_sack_sb_reset(&s.sb);
    tcp_cc_init(&s.cc, ops, MSS, 0);
    tcp_reass_init(&s.q, 1 << 20);
    tcp_sack_rx_init(&s.rx);
    bool after_rto = false;
    int rounds = 0, stalled = 0;
    while (s.snd_una != s.end) {
        assert_true(++rounds < 5000);
        /* The retransmission timer: fires after 3 round trips without the
         * cumulative ACK moving (RTO ~ SRTT + 4 RTTVAR), not on one bad round. */
        stalled = round_trip(&s, loss_pct, after_rto) ? 0 : stalled + 1;
        if (stalled == 3) {
            stalled = 0;
            /* RTO: the scoreboard may be stale (reneging): forget it, go back N */
            s.rto++;
            tcp_cc_on_rto(&s.cc, s.snd_nxt - s.snd_una, 0);
            tcp_sack_sb_reset(&s.sb);
            s.in_rec = false;
            s.snd_nxt = s.snd_una;
            s.high_rxt = s.snd_una;
            after_rto = true;
        }
    }
    assert_int_equal(s.olen, TOTAL);
    assert_memory_equal(s.out, src, TOTAL);
    assert_int_equal(s.rcv_nxt, s.end);
    assert_true(tcp_reass_empty(&s.q));
    /* Loss recovery never resent data that an ACK had reported; the
     * receiver sends up to 3 blocks per ACK, every ACK, none lost here, and
     * holds at most 7 gaps, so the sender always knew. */
    assert_int_equal(s.spurious_known, 0);
    if (loss_pct == 0) {
        assert_int_equal(s.rtx, 0);
        assert_int_equal(s.rto, 0);
    }
    assert_int_equal(fake_live(), 0);
    total_rtx += s.rtx;
    print_message("seed %u loss %u%% %s: %u segs sent for %u, %u rtx, %u RTOs (%u resent after RTO), %d rounds\n",
                  seed, loss_pct, ops->name, s.sent, (TOTAL + MSS - 1) / MSS, s.rtx, s.rto,
                  s.spurious_rto, rounds);
}

static int setup(void **state)
{
    (void)state;
    for (uint32_t i = 0; i < TOTAL; i++)
        src[i] = (uint8_t)(i * 197u + (i >> 9));
    return 0;
}

static void test_recovery_lossless_no_retransmission(void **state)
{
    (void)state;
    run(1, 0, &tcp_cc_cubic);
    run(2, 0, &tcp_cc_newreno);
}

static void test_recovery_sack_loss_recovers_stream(void **state)
{
    (void)state;
    total_rtx = 0;
    for (uint32_t seed = 1; seed <= 12; seed++)
        run(seed, 3 + seed % 8, seed & 1 ? &tcp_cc_cubic : &tcp_cc_newreno);
    assert_true(total_rtx > 0);              /* SACK recovery (not only RTOs) repaired losses */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recovery_lossless_no_retransmission),
        cmocka_unit_test(test_recovery_sack_loss_recovers_stream),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
