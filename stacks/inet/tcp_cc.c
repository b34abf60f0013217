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

void tcp_cc_on_ack(struct tcp_cc *cc, uint32_t acked, int64_t srtt_ns, int64_t now_ns)
{
    cc->rto_episode = 0;
    if (cc->in_recovery || acked == 0)
        return;
    cc->ops->on_ack(cc, acked, srtt_ns, now_ns);
}

void tcp_cc_enter_recovery(struct tcp_cc *cc, uint32_t flight, int64_t now_ns, bool use_sack)
{
    cc->ops->on_congestion_event(cc, flight, now_ns);
    floor_ssthresh(cc);
    cc->in_recovery = 1;
    cc->sack_recovery = use_sack;
    cc->bytes_acked = 0;
    /* RFC 5681 3.2 step 3: inflate by the three segments that left the network. */
    cc->cwnd = use_sack ? cc->ssthresh : add_sat(cc->ssthresh, 3 * cc->mss);
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
        cc->ops->on_rto(cc, flight, now_ns);
        floor_ssthresh(cc);
        cc->rto_episode = 1;
    }
    cc->cwnd = cc->mss;              /* loss window */
    cc->in_recovery = 0;
    cc->sack_recovery = 0;
    cc->bytes_acked = 0;
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
