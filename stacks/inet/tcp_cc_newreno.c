/* SPDX-License-Identifier: MIT */
/*
 * NewReno window growth (RFC 5681 with RFC 3465 byte counting).
 *
 * Slow start below ssthresh, +1 SMSS per cwnd of acknowledged bytes above
 * it; on loss (dup ACKs or timeout) ssthresh = max(FlightSize / 2, 2*SMSS)
 * (RFC 5681 eq. 4). The recovery mechanics of RFC 6582 (window inflation,
 * partial-ACK deflation, exit) are the generic wrappers in tcp_cc.c, shared
 * with every algorithm.
 */
#include <stddef.h>
#include "tcp_cc.h"

static void newreno_init(struct tcp_cc *cc, int64_t now_ns)
{
    (void)cc;
    (void)now_ns;
}

static void newreno_on_ack(struct tcp_cc *cc, uint32_t acked, int64_t srtt_ns, int64_t now_ns)
{
    (void)srtt_ns;
    (void)now_ns;
    if (tcp_cc_in_slow_start(cc)) {
        acked = tcp_cc_slow_start(cc, acked);
        if (!acked)
            return;
    }
    tcp_cc_cong_avoid_reno(cc, acked);
}

static void newreno_ssthresh(struct tcp_cc *cc, uint32_t flight, int64_t now_ns)
{
    (void)now_ns;
    uint32_t half = flight / 2;
    cc->ssthresh = half > 2 * cc->mss ? half : 2 * cc->mss;
}

static void newreno_recovery_exit(struct tcp_cc *cc, int64_t now_ns)
{
    (void)cc;
    (void)now_ns;
}

const struct tcp_cc_ops tcp_cc_newreno = {
    .name = "newreno",
    .init = newreno_init,
    .on_ack = newreno_on_ack,
    .on_congestion_event = newreno_ssthresh,
    .on_recovery_exit = newreno_recovery_exit,
    .on_rto = newreno_ssthresh,
    .on_idle = NULL,
};
