/* SPDX-License-Identifier: MIT */
/*
 * RFC 6298 RTT estimator and RTO (see tcp_rtt.h).
 *
 * Arithmetic is in int64 nanoseconds; the 1/8 and 1/4 gains are exact
 * divisions of ns values, so rounding error is below 1 ns per sample.
 * The backed-off RTO is computed on demand from the base RTO and the
 * back-off count, which makes "reset after new ACK" a single store.
 */
#include <errno.h>
#include "tcp_rtt.h"
#include "tcp_seq.h"

static int64_t clamp_rto(const struct tcp_rtt *r, int64_t rto)
{
    if (rto < r->rto_min_ns)
        rto = r->rto_min_ns;
    if (rto > r->rto_max_ns)
        rto = r->rto_max_ns;
    return rto;
}

int tcp_rtt_init(struct tcp_rtt *r, const struct tcp_rtt_cfg *cfg)
{
    int64_t min = TCP_RTO_MIN_NS, max = TCP_RTO_MAX_NS;
    int64_t init = TCP_RTO_INITIAL_NS, gran = TCP_RTT_GRANULARITY_NS;
    int rc = 0;

    if (cfg) {
        if (cfg->rto_min_ns < 0 || cfg->rto_max_ns < 0 || cfg->rto_initial_ns < 0 ||
            cfg->granularity_ns < 0)
            rc = -EINVAL;
        else {
            if (cfg->rto_min_ns)
                min = cfg->rto_min_ns;
            if (cfg->rto_max_ns)
                max = cfg->rto_max_ns;
            if (cfg->rto_initial_ns)
                init = cfg->rto_initial_ns;
            if (cfg->granularity_ns)
                gran = cfg->granularity_ns;
            if (min > max) {
                rc = -EINVAL;
                min = TCP_RTO_MIN_NS;
                max = TCP_RTO_MAX_NS;
                init = TCP_RTO_INITIAL_NS;
                gran = TCP_RTT_GRANULARITY_NS;
            }
        }
    }
    r->srtt_ns = 0;
    r->rttvar_ns = 0;
    r->rto_min_ns = min;
    r->rto_max_ns = max;
    r->gran_ns = gran;
    r->timed_start_ns = 0;
    r->timed_seq = 0;
    r->timing = 0;
    r->has_sample = 0;
    r->backoff = 0;
    r->rto_ns = clamp_rto(r, init);
    return rc;
}

int tcp_rtt_sample(struct tcp_rtt *r, int64_t rtt)
{
    if (rtt < 0)
        return -EINVAL;
    /* Cap absurd samples (clock jumps, bogus echoes) so the arithmetic below
     * cannot overflow: nothing longer than rto_max is useful anyway. */
    if (rtt > r->rto_max_ns)
        rtt = r->rto_max_ns;
    if (!r->has_sample) {
        r->srtt_ns = rtt;            /* RFC 6298 2.2 */
        r->rttvar_ns = rtt / 2;
        r->has_sample = 1;
    } else {                         /* RFC 6298 2.3: RTTVAR first, with the old SRTT */
        int64_t err = r->srtt_ns - rtt;
        if (err < 0)
            err = -err;
        r->rttvar_ns = r->rttvar_ns - r->rttvar_ns / 4 + err / 4;
        r->srtt_ns = r->srtt_ns - r->srtt_ns / 8 + rtt / 8;
    }
    int64_t var4 = 4 * r->rttvar_ns;
    r->rto_ns = clamp_rto(r, r->srtt_ns + (var4 > r->gran_ns ? var4 : r->gran_ns));
    r->backoff = 0;
    return 0;
}

int tcp_rtt_sample_ts(struct tcp_rtt *r, uint32_t tsecr, uint32_t ts_now, int64_t tick_ns)
{
    if (tsecr == 0 || tick_ns <= 0)
        return -EINVAL;
    int32_t ticks = tcp_seq_diff(ts_now, tsecr);  /* same modular arithmetic as seqs */
    if (ticks < 0)
        return -EINVAL;
    return tcp_rtt_sample(r, (int64_t)ticks * tick_ns);
}

void tcp_rtt_time_start(struct tcp_rtt *r, uint32_t end_seq, int64_t now_ns)
{
    if (r->timing)
        return;
    r->timing = 1;
    r->timed_seq = end_seq;
    r->timed_start_ns = now_ns;
}

bool tcp_rtt_on_ack(struct tcp_rtt *r, uint32_t ack, int64_t now_ns)
{
    if (!r->timing || tcp_seq_lt(ack, r->timed_seq))
        return false;
    r->timing = 0;
    return tcp_rtt_sample(r, now_ns - r->timed_start_ns) == 0;
}

int64_t tcp_rtt_rto(const struct tcp_rtt *r)
{
    int64_t rto = r->rto_ns;
    /* Shift one step at a time so a large back-off count cannot overflow. */
    for (unsigned i = 0; i < r->backoff && rto < r->rto_max_ns; i++)
        rto *= 2;
    return rto > r->rto_max_ns ? r->rto_max_ns : rto;
}

int64_t tcp_rtt_backoff(struct tcp_rtt *r)
{
    if (r->backoff < 255)
        r->backoff++;
    r->timing = 0;                   /* Karn: the timed segment will be retransmitted */
    return tcp_rtt_rto(r);
}

void tcp_rtt_syn_fallback(struct tcp_rtt *r)
{
    if (r->has_sample)
        return;
    if (r->rto_ns < TCP_RTO_SYN_FALLBACK_NS)
        r->rto_ns = TCP_RTO_SYN_FALLBACK_NS > r->rto_max_ns ? r->rto_max_ns : TCP_RTO_SYN_FALLBACK_NS;
}
