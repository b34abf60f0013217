/* SPDX-License-Identifier: MIT */
/*
 * Round-trip time estimation and retransmission timeout (RFC 6298), with
 * Karn's rule and timestamp-based samples (RFC 7323 section 4).
 *
 * State is per connection, in nanoseconds (exact; no fixed-point shifts):
 *   first sample R:  SRTT = R, RTTVAR = R/2
 *   next samples:    RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|, SRTT = 7/8 SRTT + 1/8 R
 *   RTO = clamp(SRTT + max(G, 4*RTTVAR), rto_min, rto_max)
 * Before any sample RTO is rto_initial (1 s). Each timeout doubles the RTO
 * (exponential back-off, RFC 6298 5.5) up to rto_max; the back-off is
 * dropped when new data is acknowledged (tcp_rtt_ack_reset) or a new
 * sample arrives.
 *
 * Where samples come from (the sender chooses):
 *  - a timed segment (tcp_rtt_time_start / tcp_rtt_on_ack): precise, but by
 *    Karn's rule never from a retransmitted segment: tcp_rtt_time_cancel()
 *    whenever anything is retransmitted;
 *  - the send time the sender stored with each segment, for an ACK that
 *    covers only never-retransmitted data: tcp_rtt_sample(now - sent);
 *  - a timestamp echo (tcp_rtt_sample_ts), valid even after retransmission
 *    (RFC 7323 4.1), but only on an ACK that advances snd_una (RFC 7323 4.2)
 *    and with the coarse TS clock (TCP_TS_TICK_NS). Prefer precise samples
 *    when both exist.
 *
 * Differs from RFC 6298 2.4 (RTO >= 1 s): the default minimum is 200 ms,
 * like Linux; a datapath with microsecond RTTs would otherwise wait a
 * second for every tail loss. Configurable per connection.
 */
#ifndef DM_TCP_RTT_H
#define DM_TCP_RTT_H

#include <stdbool.h>
#include <stdint.h>
#include "dm/time.h"

#define TCP_RTO_INITIAL_NS  (1 * DM_NS_PER_S)     /* RFC 6298 2.1 */
#define TCP_RTO_MIN_NS      (200 * DM_NS_PER_MS)  /* Linux TCP_RTO_MIN */
#define TCP_RTO_MAX_NS      (60 * DM_NS_PER_S)    /* RFC 6298 2.5: at least 60 s */
#define TCP_RTO_SYN_FALLBACK_NS (3 * DM_NS_PER_S) /* RFC 6298 5.7 */
#define TCP_RTT_GRANULARITY_NS (1 * DM_NS_PER_US) /* G: our clock is ns; timer wheel ~us */

/* Timestamp option clock: 1 ms per tick (RFC 7323 5.4: 1 ms .. 1 s; keeps
 * PAWS' 24-day assumptions valid). */
#define TCP_TS_TICK_NS DM_NS_PER_MS
static inline uint32_t tcp_ts_clock(int64_t now_ns) { return (uint32_t)(now_ns / TCP_TS_TICK_NS); }

/* Configuration; any field 0 takes the default above. */
struct tcp_rtt_cfg {
    int64_t rto_min_ns;
    int64_t rto_max_ns;
    int64_t rto_initial_ns;
    int64_t granularity_ns;
};

struct tcp_rtt {
    int64_t srtt_ns;         /* 0 until the first sample */
    int64_t rttvar_ns;
    int64_t rto_ns;          /* RTO without back-off */
    int64_t rto_min_ns, rto_max_ns, gran_ns;
    int64_t timed_start_ns;  /* send time of the timed segment */
    uint32_t timed_seq;      /* ACK that completes the timed segment (its end seq) */
    uint8_t timing;          /* a segment is being timed */
    uint8_t has_sample;
    uint8_t backoff;         /* consecutive timeouts (RTO = rto_ns << backoff, capped) */
};

/* cfg may be NULL (defaults). Negative values or min > max -> -EINVAL
 * (r is then initialised with defaults anyway). */
int tcp_rtt_init(struct tcp_rtt *r, const struct tcp_rtt_cfg *cfg);

/* Feeds one RTT measurement. rtt_ns < 0 -> -EINVAL (ignored). A sample of 0
 * is valid (sub-tick RTT). Clears the back-off. Returns 0. */
int tcp_rtt_sample(struct tcp_rtt *r, int64_t rtt_ns);

/* Timestamp sample: rtt = (ts_now - tsecr) ticks of tick_ns. Ignored with
 * -EINVAL when tsecr is 0 (not echoing) or in the future (int32 distance
 * < 0); otherwise like tcp_rtt_sample. */
int tcp_rtt_sample_ts(struct tcp_rtt *r, uint32_t tsecr, uint32_t ts_now, int64_t tick_ns);

/* Karn timing: start timing the segment ending at end_seq (sent now), unless
 * one is already being timed. Call for new data only, never for retransmits. */
void tcp_rtt_time_start(struct tcp_rtt *r, uint32_t end_seq, int64_t now_ns);
/* Karn's rule: call on any retransmission; the timed sample is discarded. */
static inline void tcp_rtt_time_cancel(struct tcp_rtt *r) { r->timing = 0; }
/* On an ACK: when it covers the timed segment (ack >= end_seq, modular),
 * takes the sample and returns true. */
bool tcp_rtt_on_ack(struct tcp_rtt *r, uint32_t ack, int64_t now_ns);

/* The RTO to arm now (with back-off, capped at rto_max). */
int64_t tcp_rtt_rto(const struct tcp_rtt *r);
/* The retransmission timer expired: doubles the RTO (capped at rto_max),
 * cancels timing (Karn), returns the new RTO. The back-off counter
 * saturates (255); tcp_rtt_backoffs() tells the sender when to give up. */
int64_t tcp_rtt_backoff(struct tcp_rtt *r);
static inline unsigned tcp_rtt_backoffs(const struct tcp_rtt *r) { return r->backoff; }
/* New data was acknowledged: drop the back-off (RTO recomputed from SRTT). */
static inline void tcp_rtt_ack_reset(struct tcp_rtt *r) { r->backoff = 0; }
/* RFC 6298 5.7: the SYN (or SYN-ACK) timed out and no sample exists yet:
 * call when the connection is established; RTO becomes max(RTO, 3 s). */
void tcp_rtt_syn_fallback(struct tcp_rtt *r);

static inline int64_t tcp_rtt_srtt(const struct tcp_rtt *r) { return r->srtt_ns; }
static inline int64_t tcp_rtt_rttvar(const struct tcp_rtt *r) { return r->rttvar_ns; }

#endif /* DM_TCP_RTT_H */
