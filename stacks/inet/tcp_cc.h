/* SPDX-License-Identifier: MIT */
/*
 * Congestion control: pluggable algorithms behind one ops table (in the
 * spirit of Linux's tcp_congestion_ops), state embedded in the connection.
 *
 * Split of work:
 *  - The algorithm (ops) decides how cwnd grows on new ACKs and what
 *    ssthresh becomes on a congestion event or a timeout.
 *  - The generic wrappers below (tcp_cc_*) do what every algorithm shares:
 *    the initial window (RFC 6928 IW10), loss recovery window arithmetic
 *    (RFC 5681 3.2 / RFC 6582: inflate by 3 MSS, +1 MSS per dup ACK,
 *    deflate on partial ACK, deflate on exit), the RTO loss window (1 MSS).
 *  - The sender (tcp_out.c / tcp_in.c) owns the recovery state machine:
 *    counting dup ACKs, `recover`, deciding full vs partial ACK, what to
 *    retransmit (tcp_sack.h). It calls the wrappers, never ops directly.
 *
 * Sender call sequence (NewReno-style, RFC 6582):
 *   connect/accept:  tcp_cc_init(&cc, tcp_cc_default(), mss, now)
 *   new ACK, not in recovery:  tcp_cc_on_ack(&cc, acked_bytes, srtt_ns, now)
 *   3rd dup ACK (or SACK loss detection):
 *                    tcp_cc_enter_recovery(&cc, flight, now, use_sack)
 *   further dup ACKs in recovery (non-SACK): tcp_cc_dupack(&cc)
 *   partial ACK in recovery (non-SACK):      tcp_cc_partial_ack(&cc, acked)
 *   full ACK (ack >= recover):               tcp_cc_exit_recovery(&cc, flight, now)
 *   RTO:             tcp_cc_on_rto(&cc, flight, now)
 *   idle > RTO:      tcp_cc_after_idle(&cc, now)
 * With SACK (RFC 6675) the sender compares pipe with cwnd; cwnd is then
 * simply ssthresh during recovery (use_sack = true: no inflation), or,
 * better, follows PRR (RFC 6937: tcp_cc_prr_ack / tcp_cc_prr_sent).
 * Optional: HyStart++ (RFC 9406) in the initial slow start
 * (tcp_cc_hystart_enable / tcp_cc_hystart_ack).
 *
 * All windows are in bytes. "flight" is FlightSize: snd_nxt - snd_una.
 * The algorithm registry is process wide; NewReno ("newreno", alias
 * "reno") and CUBIC ("cubic", the default) are built in.
 */
#ifndef DM_TCP_CC_H
#define DM_TCP_CC_H

#include <stdbool.h>
#include <stdint.h>

#define TCP_CC_NAME_MAX   16  /* including the NUL */
#define TCP_CC_PRIV_BYTES 64  /* private area for the algorithm */
#define TCP_CC_MAX_ALGOS  16  /* registry size */
#define TCP_CC_ABC_L      2   /* RFC 3465: slow start grows by at most L*MSS per ACK */

struct tcp_cc;

struct tcp_cc_ops {
    const char *name;   /* < TCP_CC_NAME_MAX bytes, unique */
    /* Algorithm state setup; cwnd/ssthresh/mss are already set. */
    void (*init)(struct tcp_cc *cc, int64_t now_ns);
    /* New data acknowledged (not in recovery): grow cwnd. srtt_ns is the
     * smoothed RTT (tcp_rtt_srtt), 0 when unknown. */
    void (*on_ack)(struct tcp_cc *cc, uint32_t acked, int64_t srtt_ns, int64_t now_ns);
    /* Loss detected by dup ACKs / SACK: set cc->ssthresh (and any algorithm
     * state); the wrapper then sets cwnd. flight = FlightSize in bytes. */
    void (*on_congestion_event)(struct tcp_cc *cc, uint32_t flight, int64_t now_ns);
    /* Recovery ended (full ACK); cwnd already deflated by the wrapper. */
    void (*on_recovery_exit)(struct tcp_cc *cc, int64_t now_ns);
    /* Retransmission timeout: set cc->ssthresh; the wrapper sets cwnd to
     * the loss window (1 MSS). Called once per timeout episode: the wrapper
     * does not lower ssthresh again on repeated (backed-off) timeouts. */
    void (*on_rto)(struct tcp_cc *cc, uint32_t flight, int64_t now_ns);
    /* Optional (may be NULL): the connection was idle longer than an RTO
     * (RFC 5681 4.1; the wrapper has reduced cwnd to the restart window),
     * or it uses its window again after an application-limited period
     * (tcp_cc_note_flight). Time-based algorithms restart their clock. */
    void (*on_idle)(struct tcp_cc *cc, int64_t now_ns);
};

/* Embedded in the connection (~136 bytes). */
struct tcp_cc {
    const struct tcp_cc_ops *ops;
    uint32_t cwnd;        /* congestion window, bytes */
    uint32_t ssthresh;    /* UINT32_MAX until the first loss */
    uint32_t mss;         /* SMSS in bytes (> 0) */
    uint32_t bytes_acked; /* RFC 3465 byte counter for congestion avoidance */
    uint8_t in_recovery;  /* between enter_recovery and exit_recovery */
    uint8_t sack_recovery;/* recovery without window inflation (RFC 6675) */
    uint8_t rto_episode;  /* ssthresh already set by this timeout episode */
    uint8_t pad_;
    uint32_t prr_recover_fs; /* RFC 6937 RecoverFS: FlightSize at recovery start */
    uint32_t prr_delivered;  /* bytes delivered to the receiver during recovery */
    uint32_t prr_out;        /* bytes sent during recovery */
    /* HyStart++ (RFC 9406), see tcp_cc_hystart_ack */
    uint32_t hs_window_end;  /* the current round ends when this is ACKed */
    uint32_t hs_last_min_us; /* min RTT of the previous round (UINT32_MAX: none) */
    uint32_t hs_cur_min_us;  /* min RTT so far in this round */
    uint32_t hs_css_base_us; /* cssBaselineMinRtt */
    uint8_t hs_state;        /* TCP_HS_* */
    uint8_t hs_samples;      /* RTT samples in this round (saturates) */
    uint8_t hs_css_rounds;
    uint8_t flight_known;    /* tcp_cc_note_flight was called */
    uint8_t app_limited;     /* the last evaluated ACK found the window unused */
    uint32_t last_flight;    /* bytes in flight after the last transmission */
    uint32_t prior_cwnd;     /* before the last reduction, for tcp_cc_undo */
    uint32_t prior_ssthresh;
    _Alignas(8) uint8_t priv[TCP_CC_PRIV_BYTES];
};

/* ---------------------------------------------------------------- registry */

/* Adds an algorithm. -EINVAL: NULL, missing name or a mandatory op (all but
 * on_idle), name too long; -EEXIST: name taken; -ENOSPC: registry full.
 * ops must stay valid for the life of the process. Thread safe. */
int tcp_cc_register(const struct tcp_cc_ops *ops);
/* The algorithm with that name, or NULL. */
const struct tcp_cc_ops *tcp_cc_find(const char *name);
/* The default algorithm (CUBIC unless changed). */
const struct tcp_cc_ops *tcp_cc_default(void);
/* Makes a registered algorithm the default: 0 or -ENOENT. */
int tcp_cc_set_default(const char *name);

extern const struct tcp_cc_ops tcp_cc_newreno;
extern const struct tcp_cc_ops tcp_cc_cubic;

/* ---------------------------------------------------------------- wrappers */

/* RFC 6928 initial window: min(10*MSS, max(2*MSS, 14600)). */
static inline uint32_t tcp_cc_initial_window(uint32_t mss)
{
    uint32_t a = 2 * mss > 14600 ? 2 * mss : 14600;
    return 10 * mss < a ? 10 * mss : a;
}

/* Sets up the state with algorithm ops (NULL: default). mss 0 -> -EINVAL. */
int tcp_cc_init(struct tcp_cc *cc, const struct tcp_cc_ops *ops, uint32_t mss, int64_t now_ns);
/* Changes SMSS (after option negotiation / PMTU): 0 or -EINVAL. cwnd is
 * kept in bytes but never below 1 MSS. */
int tcp_cc_set_mss(struct tcp_cc *cc, uint32_t mss);

/* New ACK of `acked` bytes. Ignored while in recovery (the partial/full
 * ACK wrappers handle those) and while application limited
 * (tcp_cc_note_flight). */
void tcp_cc_on_ack(struct tcp_cc *cc, uint32_t acked, int64_t srtt_ns, int64_t now_ns);
/* Loss detected (3 dup ACKs / RFC 6675): ssthresh from the algorithm;
 * cwnd = ssthresh + 3*MSS (NewReno, use_sack false) or ssthresh (SACK). */
void tcp_cc_enter_recovery(struct tcp_cc *cc, uint32_t flight, int64_t now_ns, bool use_sack);
/* Additional dup ACK during non-SACK recovery: cwnd += MSS (RFC 5681 3.2 step 4). */
void tcp_cc_dupack(struct tcp_cc *cc);
/* Partial ACK during non-SACK recovery (RFC 6582 3.2 step 5): deflate cwnd
 * by the amount acked, add back 1 MSS if acked >= MSS; never below 1 MSS. */
void tcp_cc_partial_ack(struct tcp_cc *cc, uint32_t acked);
/* Full ACK: leaves recovery. cwnd = min(ssthresh, max(flight, MSS) + MSS)
 * (RFC 6582 3.2 step 6, option 1) where flight is measured after the ACK. */
void tcp_cc_exit_recovery(struct tcp_cc *cc, uint32_t flight, int64_t now_ns);
/* Retransmission timeout: ssthresh from the algorithm (first timeout of an
 * episode only), cwnd = 1 MSS (RFC 5681 3.1 loss window), leaves recovery.
 * The episode ends at the next tcp_cc_on_ack. */
void tcp_cc_on_rto(struct tcp_cc *cc, uint32_t flight, int64_t now_ns);
/*
 * Window validation (the rule of Linux's tcp_is_cwnd_limited, in the spirit
 * of RFC 7661): cwnd only grows while the sender uses it, so a
 * request/response connection that never fills its window does not build
 * up a huge cwnd that a later bulk write would burst out. Call after each
 * transmission (or burst) with the bytes now in flight. Growth then needs
 *   slow start:  cwnd < 2 * flight
 *   otherwise:   flight + MSS > cwnd (no room for another full segment)
 * at the last transmission. Never called: growth is unconditional.
 */
void tcp_cc_note_flight(struct tcp_cc *cc, uint32_t flight);

/*
 * Undo a reduction that turned out to be spurious (Eifel response, RFC 4015;
 * Linux's undo): restores cwnd and ssthresh to at least their values before
 * the last tcp_cc_enter_recovery / tcp_cc_on_rto and leaves recovery.
 * Detection is the sender's: e.g. RFC 3522 (the ACK's TSecr is older than
 * the TSval of the first retransmission: the original arrived) or D-SACKs
 * covering every retransmission of the episode (RFC 3708). Returns 0, or
 * -EINVAL when there is nothing to undo (only one undo per reduction).
 */
int tcp_cc_undo(struct tcp_cc *cc, int64_t now_ns);

/* Idle restart (RFC 5681 4.1): cwnd = min(cwnd, initial window). */
void tcp_cc_after_idle(struct tcp_cc *cc, int64_t now_ns);

/*
 * Proportional Rate Reduction (RFC 6937, PRR-SSRB), optional, for SACK
 * recovery (use_sack): instead of cwnd = ssthresh at once (which stalls
 * sending until pipe drains, then bursts), cwnd follows the ACK clock down
 * to ssthresh. Sender calls, while in recovery:
 *   every ACK (including the one that started recovery, after
 *   tcp_cc_enter_recovery):  tcp_cc_prr_ack(cc, delivered, pipe)
 *       delivered = bytes newly cumulatively ACKed + bytes newly SACKed by
 *       this ACK (tcp_sack_sb_update's return); pipe = tcp_sack_sb_pipe()
 *       computed after the ACK. Sets cwnd = pipe + sndcnt and returns
 *       sndcnt, the bytes that may be sent now (at least 1 MSS on the first
 *       ACK of recovery, so the fast retransmit always goes out).
 *   every transmission or retransmission: tcp_cc_prr_sent(cc, bytes)
 * tcp_cc_exit_recovery ends it as usual.
 */
uint32_t tcp_cc_prr_ack(struct tcp_cc *cc, uint32_t delivered, uint32_t pipe);
static inline void tcp_cc_prr_sent(struct tcp_cc *cc, uint32_t bytes) { cc->prr_out += bytes; }

/*
 * HyStart++ (RFC 9406), optional: leaves slow start before the overshoot
 * loss when the RTT starts rising. Off unless enabled.
 *   tcp_cc_hystart_enable(cc, snd_nxt)   right after tcp_cc_init
 *   tcp_cc_hystart_ack(cc, ack, snd_nxt, rtt_ns)  on every new ACK, before
 *       tcp_cc_on_ack; rtt_ns is this ACK's RTT sample, < 0 when it has none.
 * Rounds are delimited by sequence numbers (a round ends when the snd_nxt
 * recorded at its start is ACKed). After N_RTT_SAMPLE (8) samples in a round,
 * if the round's minimum RTT exceeds the previous round's by
 * clamp(lastMin/8, 4 ms, 16 ms), slow start turns into Conservative Slow
 * Start (growth / 4); a lower RTT in CSS resumes slow start; after 5 CSS
 * rounds ssthresh = cwnd (congestion avoidance). A loss or timeout ends
 * HyStart++ for the connection (only the initial slow start uses it).
 * Note: with microsecond RTTs the 4 ms floor means it never triggers on a
 * LAN; it matters on WAN paths.
 */
#define TCP_HS_OFF  0
#define TCP_HS_SS   1   /* slow start, watching the RTT */
#define TCP_HS_CSS  2   /* conservative slow start */
#define TCP_HS_DONE 3
void tcp_cc_hystart_enable(struct tcp_cc *cc, uint32_t snd_nxt);
void tcp_cc_hystart_ack(struct tcp_cc *cc, uint32_t ack, uint32_t snd_nxt, int64_t rtt_ns);

static inline bool tcp_cc_in_slow_start(const struct tcp_cc *cc) { return cc->cwnd < cc->ssthresh; }

/* Shared building blocks for algorithms (used by NewReno and CUBIC). */
/* RFC 5681 slow start with RFC 3465 ABC (L = 2): returns bytes of `acked`
 * left over once cwnd reaches ssthresh (to be used in congestion avoidance). */
uint32_t tcp_cc_slow_start(struct tcp_cc *cc, uint32_t acked);
/* RFC 5681 congestion avoidance with byte counting: +1 MSS per cwnd bytes acked. */
void tcp_cc_cong_avoid_reno(struct tcp_cc *cc, uint32_t acked);

#endif /* DM_TCP_CC_H */
