/* SPDX-License-Identifier: MIT */
/*
 * CUBIC congestion control (RFC 9438), the default algorithm.
 *
 * Windows are computed in segments (as in the RFC) with double precision
 * and applied to the byte-based cwnd; the sub-byte remainder of each
 * increase is carried over in `frac` so slow growth near W_max is not
 * rounded away. Time is the monotonic ns clock passed in by the sender.
 *
 *   congestion event: W_max = cwnd (or cwnd*(1+beta)/2 when cwnd < previous
 *                     W_max: fast convergence, 4.7); cwnd_prior = cwnd;
 *                     ssthresh = FlightSize * beta (4.6, beta = 0.7)
 *   new CA epoch:     t_epoch = now, cwnd_epoch = cwnd, W_est = cwnd,
 *                     K = cbrt((W_max - cwnd_epoch) / C)   (eq. 2, C = 0.4)
 *                     (K = 0, W_max = cwnd_epoch after a timeout, 4.8, or
 *                     when cwnd_epoch >= W_max)
 *   each ACK in CA:   W_cubic(t) = C (t - K)^3 + W_max          (eq. 1)
 *                     W_est += alpha * segs_acked / cwnd, alpha =
 *                     3(1-beta)/(1+beta) until W_est >= cwnd_prior, then 1
 *                     if W_cubic(t) < W_est: cwnd = W_est (Reno-friendly)
 *                     else cwnd += (target - cwnd) / cwnd per segment acked,
 *                     target = clamp(W_cubic(t + RTT), cwnd, 1.5 cwnd)
 * Slow start is the standard one (tcp_cc_slow_start); HyStart is not
 * implemented. Uses cbrt() from libm once per epoch, not per ACK.
 */
#include <math.h>
#include "dm/time.h"
#include "tcp_cc.h"

#define CUBIC_C    0.4
#define CUBIC_BETA 0.7

struct cubic {
    double w_max;       /* segments */
    double cwnd_prior;  /* segments, cwnd at the last reduction */
    double k;           /* seconds */
    double w_est;       /* segments, Reno-friendly estimate */
    double cwnd_epoch;  /* segments */
    double frac;        /* bytes of increase not yet applied (< 1) */
    int64_t t_epoch;    /* ns */
    uint8_t epoch_valid;
    uint8_t after_rto;
};

_Static_assert(sizeof(struct cubic) <= TCP_CC_PRIV_BYTES, "cubic state too large");

static inline struct cubic *cubic_of(struct tcp_cc *cc) { return (struct cubic *)(void *)cc->priv; }

static void cubic_init(struct tcp_cc *cc, int64_t now_ns)
{
    (void)now_ns;
    struct cubic *cu = cubic_of(cc);
    *cu = (struct cubic){0};
}

static void cubic_epoch_start(struct tcp_cc *cc, struct cubic *cu, int64_t now_ns)
{
    double cw = (double)cc->cwnd / cc->mss;
    cu->t_epoch = now_ns;
    cu->cwnd_epoch = cw;
    cu->w_est = cw;
    cu->frac = 0;
    if (cu->after_rto || cu->w_max <= cw) {
        cu->w_max = cw;
        cu->k = 0;
    } else {
        cu->k = cbrt((cu->w_max - cw) / CUBIC_C);
    }
    cu->after_rto = 0;
    cu->epoch_valid = 1;
}

static inline double w_cubic(const struct cubic *cu, double t)
{
    double d = t - cu->k;
    return CUBIC_C * d * d * d + cu->w_max;
}

static void cubic_on_ack(struct tcp_cc *cc, uint32_t acked, int64_t srtt_ns, int64_t now_ns)
{
    struct cubic *cu = cubic_of(cc);

    if (tcp_cc_in_slow_start(cc)) {
        acked = tcp_cc_slow_start(cc, acked);
        if (!acked)
            return;
    }
    if (!cu->epoch_valid)
        cubic_epoch_start(cc, cu, now_ns);

    double mss = cc->mss;
    double cw = cc->cwnd / mss;
    double segs = acked / mss;
    double t = now_ns > cu->t_epoch ? (double)(now_ns - cu->t_epoch) / DM_NS_PER_S : 0.0;
    double rtt = srtt_ns > 0 ? (double)srtt_ns / DM_NS_PER_S : 0.0;

    /* Reno-friendly estimate (eq. 4). */
    double alpha = cu->w_est >= cu->cwnd_prior ? 1.0
                   : 3.0 * (1.0 - CUBIC_BETA) / (1.0 + CUBIC_BETA);
    cu->w_est += alpha * segs / cw;

    double wt = w_cubic(cu, t);
    double next;
    if (wt < cu->w_est) {
        next = cu->w_est * mss;      /* Reno-friendly region */
        cu->frac = 0;
    } else {
        double target = w_cubic(cu, t + rtt);
        if (target < cw)
            target = cw;
        else if (target > 1.5 * cw)
            target = 1.5 * cw;
        double inc = (target - cw) / cw * segs * mss + cu->frac;
        double whole = floor(inc);
        cu->frac = inc - whole;
        next = cc->cwnd + whole;
    }
    if (next > (double)UINT32_MAX)
        next = (double)UINT32_MAX;
    if (next > cc->cwnd)             /* CA never shrinks the window */
        cc->cwnd = (uint32_t)next;
}

static void cubic_congestion_event(struct tcp_cc *cc, uint32_t flight, int64_t now_ns)
{
    (void)now_ns;
    struct cubic *cu = cubic_of(cc);
    double cw = (double)cc->cwnd / cc->mss;

    /* Fast convergence (4.7): a flow whose window shrank since the previous
     * loss releases bandwidth to newer flows. */
    if (cw < cu->w_max)
        cu->w_max = cw * (1.0 + CUBIC_BETA) / 2.0;
    else
        cu->w_max = cw;
    cu->cwnd_prior = cw;
    cu->epoch_valid = 0;
    cc->ssthresh = (uint32_t)((double)flight * CUBIC_BETA);
}

static void cubic_recovery_exit(struct tcp_cc *cc, int64_t now_ns)
{
    (void)cc;
    (void)now_ns;
    /* The epoch starts with the first ACK in congestion avoidance. */
}

static void cubic_on_rto(struct tcp_cc *cc, uint32_t flight, int64_t now_ns)
{
    (void)now_ns;
    struct cubic *cu = cubic_of(cc);
    cu->cwnd_prior = (double)cc->cwnd / cc->mss;
    cu->epoch_valid = 0;
    cu->after_rto = 1;               /* 4.8: next CA stage uses K = 0, W_max = cwnd */
    cc->ssthresh = (uint32_t)((double)flight * CUBIC_BETA);
}

static void cubic_on_idle(struct tcp_cc *cc, int64_t now_ns)
{
    (void)now_ns;
    /* An epoch spanning an idle period would jump cwnd on the next ACK. */
    cubic_of(cc)->epoch_valid = 0;
}

const struct tcp_cc_ops tcp_cc_cubic = {
    .name = "cubic",
    .init = cubic_init,
    .on_ack = cubic_on_ack,
    .on_congestion_event = cubic_congestion_event,
    .on_recovery_exit = cubic_recovery_exit,
    .on_rto = cubic_on_rto,
    .on_idle = cubic_on_idle,
};
