/* SPDX-License-Identifier: MIT */
/*
 * Congestion-control registry and the window arithmetic shared by every
 * algorithm (see tcp_cc.h for who calls what).
 *
 * The registry is a fixed array of ops pointers, process wide: the built-in
 * algorithms are in it from the start (no constructor ordering issues), and
 * extra ones are appended under a mutex. Lookups happen at connection setup
 * only, never per packet; they read a count published with release/acquire
 * ordering, so they take no lock.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include "dm/compiler.h"
#include "tcp_cc.h"
#include "tcp_seq.h"

#define TCP_HS_CSS_GROWTH_DIVISOR 4u  /* RFC 9406 */

static const struct tcp_cc_ops *cc_algos[TCP_CC_MAX_ALGOS] = {
    &tcp_cc_cubic,
    &tcp_cc_newreno,
};
static unsigned cc_count = 2;
static const struct tcp_cc_ops *cc_default_ops = &tcp_cc_cubic;
static pthread_mutex_t cc_lock = PTHREAD_MUTEX_INITIALIZER;

static const struct tcp_cc_ops *find_locked(const char *name, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (strcmp(cc_algos[i]->name, name) == 0)
            return cc_algos[i];
    if (strcmp(name, "reno") == 0)    /* Linux's name for the same algorithm */
        return &tcp_cc_newreno;
    return NULL;
}

int tcp_cc_register(const struct tcp_cc_ops *ops)
{
    if (!ops || !ops->name || !ops->name[0] || strlen(ops->name) >= TCP_CC_NAME_MAX ||
        !ops->init || !ops->on_ack || !ops->on_congestion_event || !ops->on_recovery_exit ||
        !ops->on_rto)
        return -EINVAL;
    int rc = 0;
    pthread_mutex_lock(&cc_lock);
    unsigned n = __atomic_load_n(&cc_count, __ATOMIC_ACQUIRE);
    if (find_locked(ops->name, n))
        rc = -EEXIST;
    else if (n >= TCP_CC_MAX_ALGOS)
        rc = -ENOSPC;
    else {
        cc_algos[n] = ops;
        __atomic_store_n(&cc_count, n + 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&cc_lock);
    return rc;
}

const struct tcp_cc_ops *tcp_cc_find(const char *name)
{
    if (!name)
        return NULL;
    return find_locked(name, __atomic_load_n(&cc_count, __ATOMIC_ACQUIRE));
}

const struct tcp_cc_ops *tcp_cc_default(void)
{
    return __atomic_load_n(&cc_default_ops, __ATOMIC_ACQUIRE);
}

int tcp_cc_set_default(const char *name)
{
    const struct tcp_cc_ops *ops = tcp_cc_find(name);
    if (!ops)
        return -ENOENT;
    __atomic_store_n(&cc_default_ops, ops, __ATOMIC_RELEASE);
    return 0;
}

/* ---------------------------------------------------------------- wrappers */

int tcp_cc_init(struct tcp_cc *cc, const struct tcp_cc_ops *ops, uint32_t mss, int64_t now_ns)
{
    if (mss == 0)
        return -EINVAL;
    memset(cc, 0, sizeof(*cc));
    cc->ops = ops ? ops : tcp_cc_default();
    cc->mss = mss;
    cc->cwnd = tcp_cc_initial_window(mss);
    cc->ssthresh = UINT32_MAX;
    cc->ops->init(cc, now_ns);
    return 0;
}

int tcp_cc_set_mss(struct tcp_cc *cc, uint32_t mss)
{
    if (mss == 0)
        return -EINVAL;
    cc->mss = mss;
    if (cc->cwnd < mss)
        cc->cwnd = mss;
    return 0;
}

/* ssthresh never below 2 MSS (RFC 5681 eq. 4); algorithms may set less. */
static void floor_ssthresh(struct tcp_cc *cc)
{
    if (cc->ssthresh < 2 * cc->mss)
        cc->ssthresh = 2 * cc->mss;
}

static inline uint32_t add_sat(uint32_t a, uint32_t b)
{
    return a > UINT32_MAX - b ? UINT32_MAX : a + b;
}

void tcp_cc_note_flight(struct tcp_cc *cc, uint32_t flight)
{
    cc->flight_known = 1;
    cc->last_flight = flight;
}

static bool cwnd_limited(const struct tcp_cc *cc)
{
    if (!cc->flight_known)
        return true;
    if (tcp_cc_in_slow_start(cc))
        return (uint64_t)cc->cwnd < 2ull * cc->last_flight;
    return (uint64_t)cc->last_flight + cc->mss > cc->cwnd;
}

void tcp_cc_on_ack(struct tcp_cc *cc, uint32_t acked, int64_t srtt_ns, int64_t now_ns)
{
    cc->rto_episode = 0;
    if (cc->in_recovery || acked == 0)
        return;
    if (!cwnd_limited(cc)) {
        cc->app_limited = 1;
        return;
    }
    if (cc->app_limited) {
        /* Using the window again: time-based growth restarts from here
         * rather than jumping by the time spent application limited. */
        cc->app_limited = 0;
        if (cc->ops->on_idle)
            cc->ops->on_idle(cc, now_ns);
    }
    cc->ops->on_ack(cc, acked, srtt_ns, now_ns);
}

void tcp_cc_enter_recovery(struct tcp_cc *cc, uint32_t flight, int64_t now_ns, bool use_sack)
{
    cc->prior_cwnd = cc->cwnd;
    cc->prior_ssthresh = cc->ssthresh;
    cc->ops->on_congestion_event(cc, flight, now_ns);
    floor_ssthresh(cc);
    cc->in_recovery = 1;
    cc->sack_recovery = use_sack;
    cc->bytes_acked = 0;
    /* RFC 5681 3.2 step 3: inflate by the three segments that left the network. */
    cc->cwnd = use_sack ? cc->ssthresh : add_sat(cc->ssthresh, 3 * cc->mss);
    if (cc->hs_state != TCP_HS_OFF)
        cc->hs_state = TCP_HS_DONE;
    cc->prr_recover_fs = flight;
    cc->prr_delivered = 0;
    cc->prr_out = 0;
}

uint32_t tcp_cc_prr_ack(struct tcp_cc *cc, uint32_t delivered, uint32_t pipe)
{
    if (!cc->in_recovery)
        return 0;
    cc->prr_delivered = add_sat(cc->prr_delivered, delivered);
    uint64_t sndcnt;
    if (pipe > cc->ssthresh) {
        /* Proportional part: send ssthresh/RecoverFS of what was delivered. */
        uint64_t fs = cc->prr_recover_fs ? cc->prr_recover_fs : 1;
        uint64_t allowed = ((uint64_t)cc->prr_delivered * cc->ssthresh + fs - 1) / fs;
        sndcnt = allowed > cc->prr_out ? allowed - cc->prr_out : 0;
    } else {
        /* Slow-start reduction bound: catch up towards ssthresh, at most
         * one MSS more than was delivered. */
        uint64_t d = cc->prr_delivered > cc->prr_out ? cc->prr_delivered - cc->prr_out : 0;
        uint64_t limit = DM_MAX(d, (uint64_t)delivered) + cc->mss;
        sndcnt = DM_MIN((uint64_t)(cc->ssthresh - pipe), limit);
    }
    if (cc->prr_out == 0 && sndcnt < cc->mss)
        sndcnt = cc->mss;            /* the fast retransmit itself */
    uint64_t w = (uint64_t)pipe + sndcnt;
    cc->cwnd = w > UINT32_MAX ? UINT32_MAX : (uint32_t)w;
    return (uint32_t)DM_MIN(sndcnt, (uint64_t)UINT32_MAX);
}

void tcp_cc_dupack(struct tcp_cc *cc)
{
    if (cc->in_recovery && !cc->sack_recovery)
        cc->cwnd = add_sat(cc->cwnd, cc->mss);
}

void tcp_cc_partial_ack(struct tcp_cc *cc, uint32_t acked)
{
    if (!cc->in_recovery || cc->sack_recovery)
        return;
    /* RFC 6582 3.2 step 5: deflate by the newly acked data, add back one MSS
     * if at least one MSS was acked, so about ssthresh stays in flight. */
    cc->cwnd = cc->cwnd > acked ? cc->cwnd - acked : 0;
    if (acked >= cc->mss)
        cc->cwnd = add_sat(cc->cwnd, cc->mss);
    if (cc->cwnd < cc->mss)
        cc->cwnd = cc->mss;
}

void tcp_cc_exit_recovery(struct tcp_cc *cc, uint32_t flight, int64_t now_ns)
{
    if (!cc->in_recovery)
        return;
    /* RFC 6582 3.2 step 6 option (1): avoids a burst when little is in flight. */
    uint32_t f = DM_MAX(flight, cc->mss);
    cc->cwnd = DM_MIN(cc->ssthresh, add_sat(f, cc->mss));
    cc->in_recovery = 0;
    cc->sack_recovery = 0;
    cc->bytes_acked = 0;
    cc->ops->on_recovery_exit(cc, now_ns);
}

void tcp_cc_on_rto(struct tcp_cc *cc, uint32_t flight, int64_t now_ns)
{
    /* RFC 5681 eq. 4 applies to the first timeout of a segment only:
     * back-off retransmissions must not halve ssthresh again. */
    if (!cc->rto_episode) {
        /* a timeout during recovery undoes to before the recovery */
        if (!cc->in_recovery) {
            cc->prior_cwnd = cc->cwnd;
            cc->prior_ssthresh = cc->ssthresh;
        }
        cc->ops->on_rto(cc, flight, now_ns);
        floor_ssthresh(cc);
        cc->rto_episode = 1;
    }
    if (cc->hs_state != TCP_HS_OFF)
        cc->hs_state = TCP_HS_DONE;
    cc->cwnd = cc->mss;              /* loss window */
    cc->in_recovery = 0;
    cc->sack_recovery = 0;
    cc->bytes_acked = 0;
}

int tcp_cc_undo(struct tcp_cc *cc, int64_t now_ns)
{
    if (cc->prior_cwnd == 0)
        return -EINVAL;
    cc->cwnd = DM_MAX(cc->cwnd, cc->prior_cwnd);
    cc->ssthresh = DM_MAX(cc->ssthresh, cc->prior_ssthresh);
    cc->prior_cwnd = 0;
    cc->in_recovery = 0;
    cc->sack_recovery = 0;
    cc->rto_episode = 0;
    cc->bytes_acked = 0;
    if (cc->ops->on_idle)            /* time-based growth restarts from the restored window */
        cc->ops->on_idle(cc, now_ns);
    return 0;
}

void tcp_cc_after_idle(struct tcp_cc *cc, int64_t now_ns)
{
    uint32_t rw = tcp_cc_initial_window(cc->mss);
    if (cc->cwnd > rw)
        cc->cwnd = rw;
    cc->bytes_acked = 0;
    if (cc->ops->on_idle)
        cc->ops->on_idle(cc, now_ns);
}

uint32_t tcp_cc_slow_start(struct tcp_cc *cc, uint32_t acked)
{
    /* RFC 3465: grow by the bytes acked, at most L*SMSS per ACK, and never
     * past ssthresh; what crossing ssthresh leaves over is handed to
     * congestion avoidance. */
    uint32_t inc = DM_MIN(acked, TCP_CC_ABC_L * cc->mss);
    if (cc->hs_state == TCP_HS_CSS)
        inc /= TCP_HS_CSS_GROWTH_DIVISOR;   /* RFC 9406 conservative slow start */
    if (cc->cwnd >= cc->ssthresh)
        return acked;
    uint32_t room = cc->ssthresh - cc->cwnd;
    if (inc < room) {
        cc->cwnd += inc;
        return 0;
    }
    cc->cwnd = cc->ssthresh;
    return acked - room;
}

/* ------------------------------------------------------------- HyStart++ */

#define TCP_HS_MIN_RTT_THRESH_US 4000u   /* RFC 9406 section 4.3 constants */
#define TCP_HS_MAX_RTT_THRESH_US 16000u
#define TCP_HS_MIN_RTT_DIVISOR   8u
#define TCP_HS_N_RTT_SAMPLE      8u
#define TCP_HS_CSS_ROUNDS        5u
#define TCP_HS_UNSET             UINT32_MAX

void tcp_cc_hystart_enable(struct tcp_cc *cc, uint32_t snd_nxt)
{
    cc->hs_state = TCP_HS_SS;
    cc->hs_window_end = snd_nxt;
    cc->hs_last_min_us = TCP_HS_UNSET;
    cc->hs_cur_min_us = TCP_HS_UNSET;
    cc->hs_css_base_us = TCP_HS_UNSET;
    cc->hs_samples = 0;
    cc->hs_css_rounds = 0;
}

void tcp_cc_hystart_ack(struct tcp_cc *cc, uint32_t ack, uint32_t snd_nxt, int64_t rtt_ns)
{
    if (cc->hs_state != TCP_HS_SS && cc->hs_state != TCP_HS_CSS)
        return;
    if (!tcp_cc_in_slow_start(cc)) {
        cc->hs_state = TCP_HS_DONE;          /* ssthresh reached by other means */
        return;
    }
    /* The ACK covering windowEnd closes the round; the next one opens a
     * new round (as Linux does: after(ack, end_seq)). */
    if (tcp_seq_gt(ack, cc->hs_window_end)) {
        cc->hs_last_min_us = cc->hs_cur_min_us;
        cc->hs_cur_min_us = TCP_HS_UNSET;
        cc->hs_samples = 0;
        cc->hs_window_end = snd_nxt;
        if (cc->hs_state == TCP_HS_CSS && ++cc->hs_css_rounds >= TCP_HS_CSS_ROUNDS) {
            cc->ssthresh = cc->cwnd;         /* on to congestion avoidance */
            cc->hs_state = TCP_HS_DONE;
            return;
        }
    }
    if (rtt_ns < 0)
        return;
    uint64_t us = (uint64_t)rtt_ns / 1000u;
    uint32_t r = us >= TCP_HS_UNSET ? TCP_HS_UNSET - 1 : (uint32_t)us;
    if (r < cc->hs_cur_min_us)
        cc->hs_cur_min_us = r;
    if (cc->hs_samples < UINT8_MAX)
        cc->hs_samples++;
    if (cc->hs_samples < TCP_HS_N_RTT_SAMPLE || cc->hs_cur_min_us == TCP_HS_UNSET)
        return;
    if (cc->hs_state == TCP_HS_SS) {
        if (cc->hs_last_min_us == TCP_HS_UNSET)
            return;
        uint32_t thresh = cc->hs_last_min_us / TCP_HS_MIN_RTT_DIVISOR;
        thresh = DM_MAX(thresh, TCP_HS_MIN_RTT_THRESH_US);
        thresh = DM_MIN(thresh, TCP_HS_MAX_RTT_THRESH_US);
        if ((uint64_t)cc->hs_cur_min_us >= (uint64_t)cc->hs_last_min_us + thresh) {
            cc->hs_css_base_us = cc->hs_cur_min_us;
            cc->hs_state = TCP_HS_CSS;
            cc->hs_css_rounds = 0;
        }
    } else if (cc->hs_cur_min_us < cc->hs_css_base_us) {
        /* the RTT rise was spurious: back to slow start */
        cc->hs_css_base_us = TCP_HS_UNSET;
        cc->hs_state = TCP_HS_SS;
    }
}

void tcp_cc_cong_avoid_reno(struct tcp_cc *cc, uint32_t acked)
{
    /* RFC 5681 3.1 / RFC 3465 byte counting: one SMSS per cwnd of acked
     * bytes (a division, so a huge stretch ACK costs no loop). */
    if (cc->cwnd == 0)
        cc->cwnd = cc->mss;
    uint64_t cnt = (uint64_t)cc->bytes_acked + acked;
    uint64_t steps = cnt / cc->cwnd;
    if (steps) {
        cnt -= steps * cc->cwnd;
        uint64_t w = cc->cwnd + steps * cc->mss;
        cc->cwnd = w > UINT32_MAX ? UINT32_MAX : (uint32_t)w;
    }
    cc->bytes_acked = (uint32_t)DM_MIN(cnt, (uint64_t)cc->cwnd);
}
