/* SPDX-License-Identifier: MIT */
/* tcp_cc: registry, recovery wrappers, NewReno (RFC 5681/6582/3465) and
 * CUBIC (RFC 9438) checked against the formulas. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>
#include "dm/time.h"
#include "dm/compiler.h"
#include "tcp_cc.h"

#define MSS 1000u
#define SEC DM_NS_PER_S

/* RFC 9438 eq. 1, in segments and seconds. */
static double w_cubic(double t, double k, double wmax) { return 0.4 * pow(t - k, 3) + wmax; }

/* ---------------------------------------------------------------- registry */

static int dummy_inits;
static void d_init(struct tcp_cc *cc, int64_t now) { (void)cc; (void)now; dummy_inits++; }
static void d_ack(struct tcp_cc *cc, uint32_t a, int64_t r, int64_t n) { (void)r; (void)n; cc->cwnd += a; }
static void d_ev(struct tcp_cc *cc, uint32_t f, int64_t n) { (void)n; cc->ssthresh = f / 4; }
static void d_exit(struct tcp_cc *cc, int64_t n) { (void)cc; (void)n; }

static void test_cc_registry_find_and_default(void **state)
{
    (void)state;
    assert_ptr_equal(tcp_cc_find("cubic"), &tcp_cc_cubic);
    assert_ptr_equal(tcp_cc_find("newreno"), &tcp_cc_newreno);
    assert_ptr_equal(tcp_cc_find("reno"), &tcp_cc_newreno);
    assert_null(tcp_cc_find("bbr"));
    assert_null(tcp_cc_find(NULL));
    assert_ptr_equal(tcp_cc_default(), &tcp_cc_cubic);
    struct tcp_cc cc;
    assert_int_equal(tcp_cc_init(&cc, NULL, MSS, 0), 0);
    assert_ptr_equal(cc.ops, &tcp_cc_cubic);
    assert_int_equal(tcp_cc_init(&cc, NULL, 0, 0), -EINVAL);
}

static void test_cc_register_rejects_missing_op_and_duplicate(void **state)
{
    (void)state;
    static const struct tcp_cc_ops noack = {.name = "noack", .init = d_init,
        .on_congestion_event = d_ev, .on_recovery_exit = d_exit, .on_rto = d_ev};
    static const struct tcp_cc_ops noname = {.init = d_init, .on_ack = d_ack,
        .on_congestion_event = d_ev, .on_recovery_exit = d_exit, .on_rto = d_ev};
    static const struct tcp_cc_ops longname = {.name = "a-very-long-algorithm-name", .init = d_init,
        .on_ack = d_ack, .on_congestion_event = d_ev, .on_recovery_exit = d_exit, .on_rto = d_ev};
    static const struct tcp_cc_ops dup = {.name = "cubic", .init = d_init, .on_ack = d_ack,
        .on_congestion_event = d_ev, .on_recovery_exit = d_exit, .on_rto = d_ev};
    static const struct tcp_cc_ops quarter = {.name = "quarter", .init = d_init, .on_ack = d_ack,
        .on_congestion_event = d_ev, .on_recovery_exit = d_exit, .on_rto = d_ev};
    assert_int_equal(tcp_cc_register(NULL), -EINVAL);
    assert_int_equal(tcp_cc_register(&noack), -EINVAL);
    assert_int_equal(tcp_cc_register(&noname), -EINVAL);
    assert_int_equal(tcp_cc_register(&longname), -EINVAL);
    assert_int_equal(tcp_cc_register(&dup), -EEXIST);
    assert_int_equal(tcp_cc_register(&quarter), 0);
    assert_int_equal(tcp_cc_register(&quarter), -EEXIST);
    assert_ptr_equal(tcp_cc_find("quarter"), &quarter);

    /* The registered algorithm really drives the wrappers. */
    assert_int_equal(tcp_cc_set_default("nope"), -ENOENT);
    assert_int_equal(tcp_cc_set_default("quarter"), 0);
    struct tcp_cc cc;
    dummy_inits = 0;
    tcp_cc_init(&cc, NULL, MSS, 0);
    assert_int_equal(dummy_inits, 1);
    tcp_cc_enter_recovery(&cc, 40 * MSS, 0, false);
    assert_int_equal(cc.ssthresh, 10 * MSS);          /* flight / 4 */
    assert_int_equal(tcp_cc_set_default("cubic"), 0);

    /* fill the registry: -ENOSPC, never overflow */
    static struct tcp_cc_ops many[TCP_CC_MAX_ALGOS];
    static char names[TCP_CC_MAX_ALGOS][8];
    int rc = 0, i;
    for (i = 0; i < TCP_CC_MAX_ALGOS && rc == 0; i++) {
        snprintf(names[i], sizeof(names[i]), "x%d", i);
        many[i] = quarter;
        many[i].name = names[i];
        rc = tcp_cc_register(&many[i]);
    }
    assert_int_equal(rc, -ENOSPC);
    assert_int_equal(i, TCP_CC_MAX_ALGOS - 3 + 1);   /* cubic, newreno, quarter were there */
}

/* ---------------------------------------------------------------- NewReno */

static void test_cc_initial_window_rfc6928(void **state)
{
    (void)state;
    assert_int_equal(tcp_cc_initial_window(1460), 14600);
    assert_int_equal(tcp_cc_initial_window(536), 5360);
    assert_int_equal(tcp_cc_initial_window(8960), 17920);  /* 2*MSS wins */
    assert_int_equal(tcp_cc_initial_window(1000), 10000);
}

static void test_newreno_slow_start_abc(void **state)
{
    (void)state;
    struct tcp_cc cc;
    tcp_cc_init(&cc, &tcp_cc_newreno, MSS, 0);
    assert_int_equal(cc.cwnd, 10 * MSS);
    assert_int_equal(cc.ssthresh, UINT32_MAX);
    tcp_cc_on_ack(&cc, MSS, 0, 0);
    assert_int_equal(cc.cwnd, 11 * MSS);
    tcp_cc_on_ack(&cc, 500, 0, 0);                 /* byte counting, not ACK counting */
    assert_int_equal(cc.cwnd, 11 * MSS + 500);
    tcp_cc_on_ack(&cc, 10 * MSS, 0, 0);            /* stretch ACK: at most L = 2 MSS */
    assert_int_equal(cc.cwnd, 13 * MSS + 500);
    /* crossing ssthresh: capped there, the rest goes to congestion avoidance */
    cc.ssthresh = 14 * MSS;
    tcp_cc_on_ack(&cc, 2 * MSS, 0, 0);
    assert_int_equal(cc.cwnd, 14 * MSS);
    assert_int_equal(cc.bytes_acked, 1500);
}

static void test_newreno_congestion_avoidance_one_mss_per_window(void **state)
{
    (void)state;
    struct tcp_cc cc;
    tcp_cc_init(&cc, &tcp_cc_newreno, MSS, 0);
    cc.cwnd = 20 * MSS;
    cc.ssthresh = 10 * MSS;
    for (int i = 0; i < 19; i++)
        tcp_cc_on_ack(&cc, MSS, 0, 0);
    assert_int_equal(cc.cwnd, 20 * MSS);            /* 19 MSS acked < cwnd */
    tcp_cc_on_ack(&cc, MSS, 0, 0);
    assert_int_equal(cc.cwnd, 21 * MSS);            /* one full window: +1 MSS */
    assert_int_equal(cc.bytes_acked, 0);
    /* a stretch ACK of several windows gives several MSS, no loop blowup */
    tcp_cc_on_ack(&cc, UINT32_MAX, 0, 0);
    assert_true(cc.cwnd > 21 * MSS);
}

static void test_newreno_halves_on_three_dupacks(void **state)
{
    (void)state;
    struct tcp_cc cc;
    tcp_cc_init(&cc, &tcp_cc_newreno, MSS, 0);
    cc.cwnd = 20 * MSS;
    uint32_t flight = 20 * MSS;
    /* 3rd dup ACK: ssthresh = FlightSize/2, cwnd = ssthresh + 3 MSS */
    tcp_cc_enter_recovery(&cc, flight, 0, false);
    assert_int_equal(cc.ssthresh, 10 * MSS);
    assert_int_equal(cc.cwnd, 13 * MSS);
    assert_true(cc.in_recovery);
    /* each further dup ACK inflates by 1 MSS */
    tcp_cc_dupack(&cc);
    tcp_cc_dupack(&cc);
    assert_int_equal(cc.cwnd, 15 * MSS);
    /* new ACKs in recovery do not grow the window (the wrapper ignores them) */
    tcp_cc_on_ack(&cc, 5 * MSS, 0, 0);
    assert_int_equal(cc.cwnd, 15 * MSS);
    /* partial ACK of 4 MSS: deflate by 4 MSS, add back 1 MSS */
    tcp_cc_partial_ack(&cc, 4 * MSS);
    assert_int_equal(cc.cwnd, 12 * MSS);
    /* partial ACK smaller than an MSS: deflate only */
    tcp_cc_partial_ack(&cc, 300);
    assert_int_equal(cc.cwnd, 12 * MSS - 300);
    /* full ACK: cwnd = min(ssthresh, max(flight, MSS) + MSS) */
    tcp_cc_exit_recovery(&cc, 3 * MSS, 0);
    assert_int_equal(cc.cwnd, 4 * MSS);
    assert_false(cc.in_recovery);
    tcp_cc_enter_recovery(&cc, 30 * MSS, 0, false);
    tcp_cc_exit_recovery(&cc, 30 * MSS, 0);
    assert_int_equal(cc.cwnd, 15 * MSS);            /* ssthresh bound */
}

static void test_newreno_sack_recovery_no_inflation(void **state)
{
    (void)state;
    struct tcp_cc cc;
    tcp_cc_init(&cc, &tcp_cc_newreno, MSS, 0);
    tcp_cc_enter_recovery(&cc, 16 * MSS, 0, true);
    assert_int_equal(cc.cwnd, 8 * MSS);
    tcp_cc_dupack(&cc);
    tcp_cc_partial_ack(&cc, 2 * MSS);
    assert_int_equal(cc.cwnd, 8 * MSS);             /* pipe, not cwnd, moves in SACK recovery */
}

static void test_newreno_ssthresh_floor_two_mss(void **state)
{
    (void)state;
    struct tcp_cc cc;
    tcp_cc_init(&cc, &tcp_cc_newreno, MSS, 0);
    tcp_cc_enter_recovery(&cc, 1 * MSS, 0, false);
    assert_int_equal(cc.ssthresh, 2 * MSS);
    assert_int_equal(cc.cwnd, 5 * MSS);
    tcp_cc_partial_ack(&cc, UINT32_MAX);            /* hostile: never below 1 MSS */
    assert_int_equal(cc.cwnd, MSS);
}

static void test_newreno_rto_loss_window(void **state)
{
    (void)state;
    struct tcp_cc cc;
    tcp_cc_init(&cc, &tcp_cc_newreno, MSS, 0);
    cc.cwnd = 40 * MSS;
    tcp_cc_on_rto(&cc, 40 * MSS, 0);
    assert_int_equal(cc.cwnd, MSS);
    assert_int_equal(cc.ssthresh, 20 * MSS);
    /* backed-off retransmission of the same data: ssthresh not halved again */
    tcp_cc_on_rto(&cc, 40 * MSS, 0);
    assert_int_equal(cc.ssthresh, 20 * MSS);
    /* slow start again from 1 MSS after the episode ends */
    tcp_cc_on_ack(&cc, MSS, 0, 0);
    assert_int_equal(cc.cwnd, 2 * MSS);
    tcp_cc_on_rto(&cc, 10 * MSS, 0);               /* a new episode */
    assert_int_equal(cc.ssthresh, 5 * MSS);
}

static void test_cc_idle_restart_and_mss_change(void **state)
{
    (void)state;
    struct tcp_cc cc;
    tcp_cc_init(&cc, &tcp_cc_newreno, MSS, 0);
    cc.cwnd = 100 * MSS;
    tcp_cc_after_idle(&cc, 0);
    assert_int_equal(cc.cwnd, 10 * MSS);
    assert_int_equal(tcp_cc_set_mss(&cc, 0), -EINVAL);
    assert_int_equal(tcp_cc_set_mss(&cc, 20000), 0);
    assert_int_equal(cc.cwnd, 20000);               /* at least 1 MSS */
}

static void test_cc_app_limited_window_does_not_grow(void **state)
{
    (void)state;
    struct tcp_cc cc;
    tcp_cc_init(&cc, &tcp_cc_newreno, MSS, 0);
    /* request/response: 2 segments in flight, window 10: no growth */
    for (int i = 0; i < 1000; i++) {
        tcp_cc_note_flight(&cc, 2 * MSS);
        tcp_cc_on_ack(&cc, 2 * MSS, 0, 0);
    }
    assert_int_equal(cc.cwnd, 10 * MSS);
    /* slow start grows while cwnd < 2 * flight */
    tcp_cc_note_flight(&cc, 6 * MSS);
    tcp_cc_on_ack(&cc, MSS, 0, 0);
    assert_int_equal(cc.cwnd, 11 * MSS);
    /* congestion avoidance: only when no room for another segment */
    cc.ssthresh = 5 * MSS;
    tcp_cc_note_flight(&cc, 9 * MSS);            /* 9 + 1 <= 11: room left */
    for (int i = 0; i < 50; i++)
        tcp_cc_on_ack(&cc, MSS, 0, 0);
    assert_int_equal(cc.cwnd, 11 * MSS);
    tcp_cc_note_flight(&cc, 10 * MSS + 1);       /* full */
    for (int i = 0; i < 11; i++)
        tcp_cc_on_ack(&cc, MSS, 0, 0);
    assert_int_equal(cc.cwnd, 12 * MSS);
}

static void test_cubic_app_limited_period_restarts_epoch(void **state)
{
    (void)state;
    struct tcp_cc cc;
    tcp_cc_init(&cc, &tcp_cc_cubic, MSS, 0);
    cc.cwnd = 100 * MSS;
    tcp_cc_enter_recovery(&cc, 100 * MSS, 0, false);
    tcp_cc_exit_recovery(&cc, 100 * MSS, 0);     /* cwnd 70, W_max 100, K = 4.2 s */
    tcp_cc_note_flight(&cc, 70 * MSS);
    tcp_cc_on_ack(&cc, 1, 0, 0);                 /* epoch starts at t = 0 */
    /* 10 s of application-limited traffic */
    tcp_cc_note_flight(&cc, 5 * MSS);
    for (int i = 1; i <= 100; i++)
        tcp_cc_on_ack(&cc, MSS, 0, i * 100 * DM_NS_PER_MS);
    assert_int_equal(cc.cwnd, 70 * MSS);
    /* the window is used again: growth restarts from a new epoch (t = 0),
     * not W(10 s) = 0.4 * 5.8^3 + 100 = 178 segments (clamped 1.5x: 105) */
    tcp_cc_note_flight(&cc, 70 * MSS);
    int64_t t1 = 10 * SEC + 1;
    tcp_cc_on_ack(&cc, cc.cwnd, 0, t1);
    assert_true(cc.cwnd < 71 * MSS);
    tcp_cc_note_flight(&cc, cc.cwnd);
    tcp_cc_on_ack(&cc, cc.cwnd, 0, t1 + 2 * SEC);
    double k = cbrt(30.0 / 0.4);
    assert_true(fabs(cc.cwnd - w_cubic(2.0, k, 100) * MSS) <= 1.0);
}

static void test_cc_undo_spurious_reduction(void **state)
{
    (void)state;
    struct tcp_cc cc;
    tcp_cc_init(&cc, &tcp_cc_newreno, MSS, 0);
    assert_int_equal(tcp_cc_undo(&cc, 0), -EINVAL);      /* nothing reduced yet */
    cc.cwnd = 20 * MSS;
    cc.ssthresh = 15 * MSS;
    tcp_cc_enter_recovery(&cc, 20 * MSS, 0, true);
    assert_int_equal(cc.cwnd, 10 * MSS);
    assert_int_equal(tcp_cc_undo(&cc, 0), 0);
    assert_int_equal(cc.cwnd, 20 * MSS);
    assert_int_equal(cc.ssthresh, 15 * MSS);
    assert_false(cc.in_recovery);
    assert_int_equal(tcp_cc_undo(&cc, 0), -EINVAL);      /* once per reduction */
    /* a timeout inside recovery undoes to before the recovery */
    tcp_cc_enter_recovery(&cc, 20 * MSS, 0, false);
    tcp_cc_on_rto(&cc, 20 * MSS, 0);
    tcp_cc_on_rto(&cc, 20 * MSS, 0);                     /* backed-off repeat */
    assert_int_equal(cc.cwnd, MSS);
    assert_int_equal(tcp_cc_undo(&cc, 0), 0);
    assert_int_equal(cc.cwnd, 20 * MSS);
    assert_int_equal(cc.ssthresh, 15 * MSS);
    /* CUBIC: after the undo growth continues from the restored window */
    tcp_cc_init(&cc, &tcp_cc_cubic, MSS, 0);
    cc.cwnd = 100 * MSS;
    cc.ssthresh = 100 * MSS;
    tcp_cc_on_rto(&cc, 100 * MSS, 0);
    assert_int_equal(tcp_cc_undo(&cc, SEC), 0);
    assert_int_equal(cc.cwnd, 100 * MSS);
    tcp_cc_on_ack(&cc, 1, 0, SEC);                       /* new epoch at the restored cwnd */
    tcp_cc_on_ack(&cc, cc.cwnd, 0, 3 * SEC);
    assert_true(cc.cwnd >= 100 * MSS);
    assert_true(fabs(cc.cwnd - w_cubic(2.0, 0, 100) * MSS) <= 1.0);
}

/* RFC 6937: one loss in a window of 20 with ssthresh 10 (NewReno): while
 * pipe > ssthresh, PRR sends ssthresh/RecoverFS = 1 segment per 2 delivered,
 * so the window shrinks smoothly instead of pausing. */
static void test_prr_proportional_then_slow_start_bound(void **state)
{
    (void)state;
    struct tcp_cc cc;
    tcp_cc_init(&cc, &tcp_cc_newreno, MSS, 0);
    cc.cwnd = 20 * MSS;
    tcp_cc_enter_recovery(&cc, 20 * MSS, 0, true);
    assert_int_equal(cc.ssthresh, 10 * MSS);
    /* 3rd dup ACK: 3 segments SACKed, pipe = 20 - 3 - 1 lost = 16 */
    uint32_t pipe = 16 * MSS;
    uint32_t snd = tcp_cc_prr_ack(&cc, 3 * MSS, pipe);
    /* bytes: ceil(3000 * 10000 / 20000) - 0 = 1500 */
    assert_int_equal(snd, 1500);
    assert_int_equal(cc.cwnd, pipe + 1500);
    uint32_t out = MSS;                          /* the sender sends whole segments */
    tcp_cc_prr_sent(&cc, MSS);
    pipe += MSS;
    /* then one more segment SACKed per ACK: 1 segment sent per 2 delivered
     * (pipe stays above ssthresh up to k = 15) */
    for (uint32_t k = 4; k <= 15; k++) {
        pipe -= MSS;
        snd = tcp_cc_prr_ack(&cc, MSS, pipe);
        uint32_t allowed = (k * MSS * 10 * MSS + 20 * MSS - 1) / (20 * MSS);
        assert_int_equal(snd, allowed - out);
        assert_int_equal(cc.cwnd, pipe + snd);
        uint32_t seg = snd / MSS * MSS;
        tcp_cc_prr_sent(&cc, seg);
        out += seg;
        pipe += seg;
    }
    assert_true(pipe > cc.ssthresh);
    assert_int_equal(out, 7 * MSS);              /* 15 delivered -> 7.5 allowed: ssthresh/RecoverFS */
    /* pipe fell to ssthresh or below: catch up, bounded by delivered + 1 MSS */
    pipe = 6 * MSS;
    snd = tcp_cc_prr_ack(&cc, 2 * MSS, pipe);
    uint32_t d = 17 * MSS - out;                 /* prr_delivered - prr_out */
    assert_int_equal(snd, DM_MIN(10 * MSS - pipe, d + MSS));
    assert_int_equal(cc.cwnd, pipe + snd);
    /* never outside recovery */
    tcp_cc_exit_recovery(&cc, 10 * MSS, 0);
    assert_int_equal(tcp_cc_prr_ack(&cc, MSS, 0), 0);
}

static void test_prr_first_ack_always_allows_fast_retransmit(void **state)
{
    (void)state;
    struct tcp_cc cc;
    tcp_cc_init(&cc, &tcp_cc_cubic, MSS, 0);
    cc.cwnd = 100 * MSS;
    tcp_cc_enter_recovery(&cc, 100 * MSS, 0, true);
    /* nothing delivered yet (e.g. recovery entered on a SACK hole): 1 MSS */
    assert_int_equal(tcp_cc_prr_ack(&cc, 0, 99 * MSS), MSS);
    /* hostile numbers do not overflow */
    tcp_cc_prr_sent(&cc, MSS);
    uint32_t snd = tcp_cc_prr_ack(&cc, UINT32_MAX, UINT32_MAX);
    assert_true(snd <= UINT32_MAX);
    assert_int_equal(cc.cwnd, UINT32_MAX);
}

/* HyStart++: simulate slow-start rounds of `cwnd/MSS` ACKs each; the RTT of
 * round r is rtt_of(r). Returns the round in which the state changed away
 * from `from` (or -1). */
struct hs_sim {
    struct tcp_cc cc;
    uint32_t una, nxt;
};

static void hs_round(struct hs_sim *h, int64_t rtt_ns)
{
    /* everything sent last round is ACKed one MSS at a time; each ACK lets
     * slow start send more, which belongs to the next round */
    uint32_t n = (h->nxt - h->una) / MSS;
    for (uint32_t i = 0; i < n; i++) {
        h->una += MSS;
        tcp_cc_hystart_ack(&h->cc, h->una, h->nxt, rtt_ns);
        tcp_cc_on_ack(&h->cc, MSS, 0, 0);
        while (h->nxt - h->una + MSS <= h->cc.cwnd)
            h->nxt += MSS;
    }
}

static void hs_init(struct hs_sim *h)
{
    h->una = h->nxt = 0xfffff000u;                  /* rounds cross the wrap */
    tcp_cc_init(&h->cc, &tcp_cc_newreno, MSS, 0);
    tcp_cc_hystart_enable(&h->cc, h->nxt);
    h->nxt += h->cc.cwnd;                            /* initial window in flight */
}

static void test_hystart_rtt_rise_enters_css_then_ca(void **state)
{
    (void)state;
    struct hs_sim h;
    hs_init(&h);
    hs_round(&h, 50 * DM_NS_PER_MS);
    hs_round(&h, 50 * DM_NS_PER_MS);
    assert_int_equal(h.cc.hs_state, TCP_HS_SS);
    /* +5 ms < clamp(50/8 = 6.25 ms, 4, 16): still slow start */
    hs_round(&h, 55 * DM_NS_PER_MS);
    assert_int_equal(h.cc.hs_state, TCP_HS_SS);
    uint32_t before = h.cc.cwnd;
    hs_round(&h, 55 * DM_NS_PER_MS);
    assert_int_equal(h.cc.cwnd, before * 2);         /* ABC slow start doubles per round */
    /* +7 ms >= 55/8 = 6.875 ms: conservative slow start after 8 samples */
    hs_round(&h, 62 * DM_NS_PER_MS);
    assert_int_equal(h.cc.hs_state, TCP_HS_CSS);
    before = h.cc.cwnd;
    hs_round(&h, 62 * DM_NS_PER_MS);
    /* growth / 4 per ACK: one round of n ACKs adds n * MSS / 4 */
    assert_true(h.cc.cwnd < before * 2);
    assert_true(h.cc.cwnd >= before + before / 4 - MSS);
    for (int r = 0; r < 6 && h.cc.hs_state == TCP_HS_CSS; r++)
        hs_round(&h, 62 * DM_NS_PER_MS);
    /* CSS_ROUNDS later: congestion avoidance with ssthresh = cwnd */
    assert_int_equal(h.cc.hs_state, TCP_HS_DONE);
    assert_int_equal(h.cc.ssthresh, h.cc.cwnd);
    assert_false(tcp_cc_in_slow_start(&h.cc));
}

static void test_hystart_spurious_rise_resumes_slow_start(void **state)
{
    (void)state;
    struct hs_sim h;
    hs_init(&h);
    hs_round(&h, 20 * DM_NS_PER_MS);
    hs_round(&h, 20 * DM_NS_PER_MS);
    hs_round(&h, 30 * DM_NS_PER_MS);                 /* +10 ms >= 4 ms: CSS */
    assert_int_equal(h.cc.hs_state, TCP_HS_CSS);
    hs_round(&h, 25 * DM_NS_PER_MS);                 /* below the CSS baseline: back */
    assert_int_equal(h.cc.hs_state, TCP_HS_SS);
    uint32_t before = h.cc.cwnd;
    hs_round(&h, 25 * DM_NS_PER_MS);
    assert_int_equal(h.cc.cwnd, before * 2);
}

static void test_hystart_needs_samples_and_stops_on_loss(void **state)
{
    (void)state;
    struct hs_sim h;
    hs_init(&h);
    hs_round(&h, 20 * DM_NS_PER_MS);
    /* a round without RTT samples decides nothing */
    hs_round(&h, -1);
    hs_round(&h, 200 * DM_NS_PER_MS);
    assert_int_equal(h.cc.hs_state, TCP_HS_SS);      /* previous round had no minimum */
    tcp_cc_enter_recovery(&h.cc, h.nxt - h.una, 0, true);
    assert_int_equal(h.cc.hs_state, TCP_HS_DONE);
    tcp_cc_hystart_ack(&h.cc, h.nxt, h.nxt, 900 * DM_NS_PER_MS);
    assert_int_equal(h.cc.hs_state, TCP_HS_DONE);
    /* never enabled: untouched */
    struct tcp_cc cc;
    tcp_cc_init(&cc, &tcp_cc_cubic, MSS, 0);
    tcp_cc_hystart_ack(&cc, 1, 2, 5 * DM_NS_PER_MS);
    assert_int_equal(cc.hs_state, TCP_HS_OFF);
}

/* ------------------------------------------------------------------ CUBIC */


/* Puts a CUBIC connection in congestion avoidance right after a loss at
 * cwnd = wmax segments, with FlightSize = cwnd. */
static void cubic_after_loss(struct tcp_cc *cc, unsigned wmax)
{
    tcp_cc_init(cc, &tcp_cc_cubic, MSS, 0);
    cc->cwnd = wmax * MSS;
    tcp_cc_enter_recovery(cc, wmax * MSS, 0, false);
    tcp_cc_exit_recovery(cc, wmax * MSS, 0);
}

static void test_cubic_multiplicative_decrease_beta_0_7(void **state)
{
    (void)state;
    struct tcp_cc cc;
    cubic_after_loss(&cc, 100);
    assert_int_equal(cc.ssthresh, 70 * MSS);
    assert_int_equal(cc.cwnd, 70 * MSS);
    /* RTO: ssthresh from beta too, cwnd = 1 MSS */
    tcp_cc_init(&cc, &tcp_cc_cubic, MSS, 0);
    cc.cwnd = 50 * MSS;
    tcp_cc_on_rto(&cc, 50 * MSS, 0);
    assert_int_equal(cc.ssthresh, 35 * MSS);
    assert_int_equal(cc.cwnd, MSS);
}

static void test_cubic_window_follows_rfc9438_curve(void **state)
{
    (void)state;
    struct tcp_cc cc;
    cubic_after_loss(&cc, 100);
    const double k = cbrt((100.0 - 70.0) / 0.4);    /* eq. 2 with cwnd_epoch = 70 */
    int64_t t0 = 10 * SEC;
    tcp_cc_on_ack(&cc, 1, 0, t0);                   /* first CA ACK: epoch starts */
    assert_int_equal(cc.cwnd, 70 * MSS);
    /* Acking a whole window in one ACK moves cwnd to the target exactly:
     * cwnd += (target - cwnd)/cwnd * cwnd segments. srtt = 0: target = W(t). */
    double t = 2.0;
    tcp_cc_on_ack(&cc, cc.cwnd, 0, t0 + (int64_t)(t * SEC));
    double expect = w_cubic(t, k, 100) * MSS;
    assert_true(fabs(cc.cwnd - expect) <= 1.0);
    assert_true(cc.cwnd < 100 * MSS);               /* concave region before K */
    /* at t = K the curve reaches W_max */
    tcp_cc_on_ack(&cc, cc.cwnd, 0, t0 + (int64_t)(k * SEC));
    assert_true(fabs(cc.cwnd - 100.0 * MSS) <= 1.0);
}

static void test_cubic_cwnd_grows_after_k(void **state)
{
    (void)state;
    struct tcp_cc cc;
    cubic_after_loss(&cc, 100);
    const double k = cbrt(30.0 / 0.4);
    int64_t t0 = 1 * SEC;
    tcp_cc_on_ack(&cc, 1, 0, t0);
    /* With an RTT the target looks one RTT ahead: W(t + RTT). */
    double t = k + 2.5, rtt = 0.1;
    tcp_cc_on_ack(&cc, cc.cwnd, (int64_t)(rtt * SEC), t0 + (int64_t)(t * SEC));
    double want = w_cubic(t + rtt, k, 100);
    /* the target is clamped to 1.5 cwnd (70 -> at most 105 segments) */
    if (want > 105)
        want = 105;
    assert_true(fabs(cc.cwnd - want * MSS) <= 1.0);
    assert_true(cc.cwnd > 100 * MSS);               /* convex region: probing past W_max */
    double t2 = k + 4;
    tcp_cc_on_ack(&cc, cc.cwnd, (int64_t)(rtt * SEC), t0 + (int64_t)(t2 * SEC));
    double cw1 = want;
    want = w_cubic(t2 + rtt, k, 100);
    if (want > 1.5 * cw1)
        want = 1.5 * cw1;
    assert_true(fabs(cc.cwnd - want * MSS) <= 2.0);
}

static void test_cubic_reno_friendly_region(void **state)
{
    (void)state;
    /* Short RTT rounds right after the epoch starts: the cubic curve is flat,
     * the Reno estimate (alpha = 3(1-b)/(1+b) per RTT, then 1 after reaching
     * cwnd_prior) is larger, so cwnd = W_est. */
    struct tcp_cc cc;
    cubic_after_loss(&cc, 100);
    int64_t t0 = 3 * SEC;
    tcp_cc_on_ack(&cc, 1, 0, t0);
    double west = 70.0 + (1.0 / MSS) * (3 * 0.3 / 1.7) / 70.0;  /* the 1-byte ACK */
    for (int round = 1; round <= 80; round++) {
        double cw = (double)cc.cwnd / MSS;
        double alpha = west >= 100.0 ? 1.0 : 3 * 0.3 / 1.7;
        west += alpha * cw / cw;
        tcp_cc_on_ack(&cc, cc.cwnd, 0, t0 + round * 1000000LL);   /* 1 ms rounds */
        assert_true(w_cubic(round * 1e-3, cbrt(75.0), 100) < west);
        assert_true(fabs(cc.cwnd - floor(west * MSS)) <= 1.0);
    }
    assert_true(cc.cwnd > 100 * MSS);               /* alpha became 1 past cwnd_prior */
}

static void test_cubic_fast_convergence(void **state)
{
    (void)state;
    struct tcp_cc cc;
    cubic_after_loss(&cc, 100);                     /* W_max = 100 */
    /* second loss at 80 < W_max: W_max = 80 * (1 + 0.7) / 2 = 68 */
    cc.cwnd = 80 * MSS;
    tcp_cc_enter_recovery(&cc, 80 * MSS, 0, false);
    tcp_cc_exit_recovery(&cc, 80 * MSS, 0);
    assert_int_equal(cc.cwnd, 56 * MSS);
    int64_t t0 = 20 * SEC;
    tcp_cc_on_ack(&cc, 1, 0, t0);
    const double k = cbrt((68.0 - 56.0) / 0.4);
    tcp_cc_on_ack(&cc, cc.cwnd, 0, t0 + (int64_t)(k * SEC));
    assert_true(fabs(cc.cwnd - 68.0 * MSS) <= 1.0);  /* plateau at the lowered W_max */
}

static void test_cubic_after_rto_k_zero(void **state)
{
    (void)state;
    struct tcp_cc cc;
    tcp_cc_init(&cc, &tcp_cc_cubic, MSS, 0);
    cc.cwnd = 100 * MSS;
    tcp_cc_on_rto(&cc, 100 * MSS, 0);
    assert_int_equal(cc.ssthresh, 70 * MSS);
    /* slow start back to ssthresh */
    int64_t now = SEC;
    while (cc.cwnd < cc.ssthresh) {
        uint32_t gap = cc.ssthresh - cc.cwnd;      /* no leftover into CA yet */
        tcp_cc_on_ack(&cc, gap < 2 * MSS ? gap : 2 * MSS, 0, now);
    }
    assert_int_equal(cc.cwnd, 70 * MSS);
    tcp_cc_on_ack(&cc, 1, 0, now);                  /* epoch: K = 0, W_max = 70 */
    tcp_cc_on_ack(&cc, cc.cwnd, 0, now + 2 * SEC);
    double want = w_cubic(2.0, 0, 70);              /* 73.2 */
    assert_true(fabs(cc.cwnd - want * MSS) <= 1.0);
}

static void test_cubic_idle_restarts_epoch(void **state)
{
    (void)state;
    struct tcp_cc cc;
    cubic_after_loss(&cc, 100);
    tcp_cc_on_ack(&cc, 1, 0, 0);
    tcp_cc_after_idle(&cc, 100 * SEC);              /* cwnd -> IW = 10 MSS */
    assert_int_equal(cc.cwnd, 10 * MSS);
    cc.ssthresh = 10 * MSS;                         /* stay in CA */
    /* without an epoch restart t would be 100 s and cwnd would jump 1.5x */
    tcp_cc_on_ack(&cc, 1, 0, 100 * SEC);
    tcp_cc_on_ack(&cc, MSS, 0, 100 * SEC + 1000);
    assert_true(cc.cwnd <= 11 * MSS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cc_registry_find_and_default),
        cmocka_unit_test(test_cc_register_rejects_missing_op_and_duplicate),
        cmocka_unit_test(test_cc_initial_window_rfc6928),
        cmocka_unit_test(test_newreno_slow_start_abc),
        cmocka_unit_test(test_newreno_congestion_avoidance_one_mss_per_window),
        cmocka_unit_test(test_newreno_halves_on_three_dupacks),
        cmocka_unit_test(test_newreno_sack_recovery_no_inflation),
        cmocka_unit_test(test_newreno_ssthresh_floor_two_mss),
        cmocka_unit_test(test_newreno_rto_loss_window),
        cmocka_unit_test(test_cc_idle_restart_and_mss_change),
        cmocka_unit_test(test_cc_app_limited_window_does_not_grow),
        cmocka_unit_test(test_cubic_app_limited_period_restarts_epoch),
        cmocka_unit_test(test_cc_undo_spurious_reduction),
        cmocka_unit_test(test_prr_proportional_then_slow_start_bound),
        cmocka_unit_test(test_prr_first_ack_always_allows_fast_retransmit),
        cmocka_unit_test(test_hystart_rtt_rise_enters_css_then_ca),
        cmocka_unit_test(test_hystart_spurious_rise_resumes_slow_start),
        cmocka_unit_test(test_hystart_needs_samples_and_stops_on_loss),
        cmocka_unit_test(test_cubic_multiplicative_decrease_beta_0_7),
        cmocka_unit_test(test_cubic_window_follows_rfc9438_curve),
        cmocka_unit_test(test_cubic_cwnd_grows_after_k),
        cmocka_unit_test(test_cubic_reno_friendly_region),
        cmocka_unit_test(test_cubic_fast_convergence),
        cmocka_unit_test(test_cubic_after_rto_k_zero),
        cmocka_unit_test(test_cubic_idle_restarts_epoch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
