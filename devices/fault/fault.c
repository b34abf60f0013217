/* SPDX-License-Identifier: MIT */
/*
 * "fault": a wrapper device that injects seeded, reproducible faults into
 * the frames a stack sends, to test recovery paths (retransmission, reorder
 * handling, duplicate and checksum rejection) on any L2 device below it.
 *
 * Configuration: DEMI_FAULTS="drop=0.02,reorder=0.05,dup=0.01,corrupt=0.001,
 * delay_us=50,hold_us=1000,depth=8,seed=7" (every key optional; rates are
 * probabilities per frame in [0, 1]). Bad syntax: -EINVAL, logged with the
 * variable's name.
 *
 * Faults are applied on TX only: each side's own wrapper covers its own
 * direction, and a frame is never faulted twice. rx_burst passes through
 * (it also releases frames whose time has come).
 *
 * How it works
 *  - A splitmix64 generator per device, seeded from `seed` (default 1).
 *    Every frame consumes exactly five draws whatever happens to it, so the
 *    same seed and the same frames give the same fault sequence.
 *  - Per frame, in order: drop (freed, counted); corrupt (the frame is
 *    copied with dm_buf_linearize, its requested TX checksums are filled in
 *    the copy in software so the flip lands *after* the checksum, one random
 *    bit is flipped, the original is released untouched: its segments may
 *    be shared with the sender's retransmission queue); dup (a second chain
 *    of slices over the same segments: no payload copy); reorder (the frame
 *    is held back and released right after the next frame that is not held,
 *    or after hold_us, so nothing is held forever; at most `depth` held).
 *  - Frames then enter a FIFO with due = now + delay_us (dm_now_ns of the
 *    instance: constant delay keeps the FIFO in time order) and are handed
 *    to the lower device in batches once due. If the lower device refuses
 *    (its ring is full) they stay queued; when our FIFO cannot take more,
 *    tx_burst accepts fewer frames: backpressure, never loss.
 *  - A dm_timer is armed for the next due/hold time so an instance that
 *    sleeps still releases delayed frames (within a timer tick).
 *  - A TSO frame (DM_BUF_TX_TCP_SEG) is first cut into the segments a NIC
 *    would put on the wire (l2tso.h), and each is faulted on its own.
 *  - Counters ("fault"): dropped, reordered, duplicated, corrupted, delayed,
 *    hold_timeout (held frames released by time), tx_full (refused).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dm/compiler.h"
#include "dm/device.h"
#include "dm/instance.h"
#include "dm/log.h"
#include "dm/stats.h"
#include "dm/timer.h"
#include "dm/l2csum.h"
#include "dm/l2tso.h"

#define FAULT_FIFO      1024u   /* frames queued towards lower (power of two) */
#define FAULT_DEPTH_MAX 64u
#define FAULT_BATCH     32u

enum {
    FAULT_DROPPED, FAULT_REORDERED, FAULT_DUPLICATED, FAULT_CORRUPTED, FAULT_DELAYED,
    FAULT_HOLD_TIMEOUT, FAULT_TX_FULL, FAULT_NCTR
};
static const char *const fault_ctr_names[FAULT_NCTR] = {
    "dropped", "reordered", "duplicated", "corrupted", "delayed", "hold_timeout", "tx_full",
};

struct fault_slot {
    struct dm_buf *pkt;
    int64_t due;
};

struct fault_dev {
    struct dm_dev *dev;
    uint64_t rng;
    uint64_t thr_drop, thr_corrupt, thr_dup, thr_reorder; /* p * 2^64 */
    int64_t delay_ns, hold_ns;
    uint32_t depth;
    uint32_t qhead, qtail;            /* FIFO indexes (free running) */
    uint32_t nhold;
    int64_t hold_since;               /* when the oldest held frame was held */
    struct dm_timer timer;
    uint64_t ctr[FAULT_NCTR];
    struct dm_buf *hold[FAULT_DEPTH_MAX];
    struct fault_slot q[FAULT_FIFO];
};

/* splitmix64 (Steele, Lea, Flood): tiny, full period, good enough here. */
static uint64_t fault_rand(struct fault_dev *fd)
{
    uint64_t z = (fd->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t prob_threshold(double p)
{
    if (p >= 1.0)
        return UINT64_MAX;
    return (uint64_t)(p * 18446744073709551616.0);
}

static uint32_t fifo_free(const struct fault_dev *fd) { return FAULT_FIFO - (fd->qtail - fd->qhead); }

static void fifo_put(struct fault_dev *fd, struct dm_buf *p, int64_t now)
{
    struct fault_slot *s = &fd->q[fd->qtail++ & (FAULT_FIFO - 1)];
    s->pkt = p;
    s->due = now + fd->delay_ns;
    if (fd->delay_ns)
        fd->ctr[FAULT_DELAYED]++;
}

static void release_held(struct fault_dev *fd, int64_t now)
{
    for (uint32_t i = 0; i < fd->nhold; i++)
        fifo_put(fd, fd->hold[i], now);
    fd->nhold = 0;
}

/* Hands due frames to the lower device, in order, until it refuses. */
static void flush(struct fault_dev *fd, int64_t now)
{
    struct dm_dev *lower = fd->dev->lower;
    struct dm_buf *batch[FAULT_BATCH];

    /* fifo_free() >= nhold always holds (see fault_tx); checked anyway */
    if (fd->nhold && now - fd->hold_since >= fd->hold_ns && fifo_free(fd) >= fd->nhold) {
        fd->ctr[FAULT_HOLD_TIMEOUT] += fd->nhold;
        release_held(fd, now);
    }
    while (fd->qhead != fd->qtail) {
        uint16_t k = 0;
        for (uint32_t h = fd->qhead; k < FAULT_BATCH && h != fd->qtail; h++, k++) {
            struct fault_slot *s = &fd->q[h & (FAULT_FIFO - 1)];
            if (s->due > now)
                break;
            batch[k] = s->pkt;
        }
        if (!k)
            break;
        uint16_t sent = lower->tx_burst(lower, batch, k);
        fd->qhead += sent;
        if (sent < k)
            break;
    }
}

/* Keeps a timer armed while frames wait, so a sleeping instance wakes. */
static void arm(struct fault_dev *fd, int64_t now)
{
    int64_t next = INT64_MAX;
    if (fd->qhead != fd->qtail)
        next = fd->q[fd->qhead & (FAULT_FIFO - 1)].due;
    if (fd->nhold)
        next = DM_MIN(next, fd->hold_since + fd->hold_ns);
    if (next == INT64_MAX)
        return;
    /* re-arm only to fire earlier: arming is O(1) but not free */
    if (!dm_timer_pending(&fd->timer) || fd->timer.expires_ns > next)
        dm_timer_arm(fd->dev->inst, &fd->timer, DM_MAX(next - now, 0));
}

static void fault_timer(struct dm_timer *t)
{
    struct fault_dev *fd = t->arg;
    int64_t now = dm_now_ns(fd->dev->inst);
    flush(fd, now);
    arm(fd, now);
}

/* A copy of the frame with one bit flipped; NULL when out of buffers. */
static struct dm_buf *corrupt_copy(struct fault_dev *fd, struct dm_buf *p, uint64_t r)
{
    struct dm_buf *c = dm_buf_linearize(fd->dev->inst, p);
    if (!c)
        return NULL;
    c->ol_flags = p->ol_flags;
    c->l2_len = p->l2_len;
    c->l3_len = p->l3_len;
    c->l4_len = p->l4_len;
    /* what a NIC would have written before the wire flipped the bit */
    dm_l2csum_tx_fill(c);
    if (c->len) {
        uint64_t bit = r % ((uint64_t)c->len * 8);
        c->data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    return c;
}

/* A second reference to the frame: slices over each segment. */
static struct dm_buf *dup_ref(struct fault_dev *fd, struct dm_buf *p)
{
    struct dm_buf *head = NULL;
    for (struct dm_buf *s = p; s; s = s->next) {
        struct dm_buf *sl = dm_buf_slice(fd->dev->inst, s, 0, s->len);
        if (!sl) {
            dm_buf_free(head);
            return NULL;
        }
        if (head)
            dm_buf_chain(head, sl);
        else
            head = sl;
    }
    if (head) {
        head->ol_flags = p->ol_flags;
        head->l2_len = p->l2_len;
        head->l3_len = p->l3_len;
        head->l4_len = p->l4_len;
    }
    return head;
}

static void inject(struct fault_dev *fd, struct dm_buf *p, int64_t now)
{
    /* five draws per frame, always, so the sequence depends only on the seed */
    uint64_t r_drop = fault_rand(fd), r_corrupt = fault_rand(fd), r_dup = fault_rand(fd);
    uint64_t r_reorder = fault_rand(fd), r_bit = fault_rand(fd);
    struct dm_buf *d = NULL;

    if (r_drop < fd->thr_drop) {
        fd->ctr[FAULT_DROPPED]++;
        dm_buf_free(p);
        return;
    }
    if (r_corrupt < fd->thr_corrupt) {
        struct dm_buf *c = corrupt_copy(fd, p, r_bit);
        if (c) {
            dm_buf_free(p);
            p = c;
            fd->ctr[FAULT_CORRUPTED]++;
        }
    }
    if (r_dup < fd->thr_dup && (d = dup_ref(fd, p)) != NULL)
        fd->ctr[FAULT_DUPLICATED]++;
    if (r_reorder < fd->thr_reorder && fd->nhold + (d ? 2u : 1u) <= fd->depth) {
        if (!fd->nhold)
            fd->hold_since = now;
        fd->hold[fd->nhold++] = p;
        if (d)
            fd->hold[fd->nhold++] = d;
        fd->ctr[FAULT_REORDERED]++;
        return;
    }
    fifo_put(fd, p, now);
    if (d)
        fifo_put(fd, d, now);
    release_held(fd, now); /* held frames go right after the one that overtook them */
}

static uint16_t fault_tx(struct dm_dev *dev, struct dm_buf **pkts, uint16_t n)
{
    struct fault_dev *fd = dev->priv;
    int64_t now = dm_now_ns(dev->inst);
    uint16_t i;

    flush(fd, now);
    for (i = 0; i < n; i++) {
        struct dm_buf *p = pkts[i];
        unsigned c = (p->ol_flags & DM_BUF_TX_TCP_SEG) ? dm_l2tso_count(p) : 1;
        /* room for this frame's segments, their duplicates and every held frame */
        if (fifo_free(fd) < fd->nhold + 2 * c)
            break;
        if (p->ol_flags & DM_BUF_TX_TCP_SEG) {
            /* the wire carries the segments a NIC cuts it into: fault those */
            struct dm_buf *seg[DM_DEV_TSO_SEGS_MAX];
            int ns = dm_l2tso_segment(dev->inst, p, seg, DM_DEV_TSO_SEGS_MAX);
            if (ns == -ENOBUFS)
                break;
            if (ns > 0) {
                for (int j = 0; j < ns; j++)
                    inject(fd, seg[j], now);
                continue;
            } /* else not one it can cut: the device below judges it */
        }
        inject(fd, p, now);
    }
    fd->ctr[FAULT_TX_FULL] += (uint64_t)(n - i);
    flush(fd, now);
    arm(fd, now);
    return i;
}

static uint16_t fault_rx(struct dm_dev *dev, struct dm_buf **pkts, uint16_t n)
{
    struct fault_dev *fd = dev->priv;
    if (fd->qhead != fd->qtail || fd->nhold)
        flush(fd, dm_now_ns(dev->inst));
    return dev->lower->rx_burst(dev->lower, pkts, n);
}

static int parse_faults(struct fault_dev *fd, const char *spec)
{
    char buf[256], *save = NULL;
    double p;
    int64_t delay_us = 0, hold_us = 1000, depth = 8;
    uint64_t seed = 1;

    if (strlen(spec) >= sizeof(buf))
        goto bad;
    strcpy(buf, spec);
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '='), *end;
        if (!eq || eq == tok || !eq[1])
            goto bad;
        *eq = '\0';
        const char *k = tok, *v = eq + 1;
        errno = 0;
        if (!strcmp(k, "drop") || !strcmp(k, "reorder") || !strcmp(k, "dup") || !strcmp(k, "corrupt")) {
            p = strtod(v, &end);
            if (errno || *end || !(p >= 0.0 && p <= 1.0))
                goto bad;
            uint64_t t = prob_threshold(p);
            if (k[0] == 'd' && k[1] == 'r')
                fd->thr_drop = t;
            else if (k[0] == 'r')
                fd->thr_reorder = t;
            else if (k[0] == 'd')
                fd->thr_dup = t;
            else
                fd->thr_corrupt = t;
        } else if (!strcmp(k, "seed")) {
            if (*v == '-')
                goto bad;
            seed = strtoull(v, &end, 0);
            if (errno || *end)
                goto bad;
        } else if (!strcmp(k, "delay_us") || !strcmp(k, "hold_us") || !strcmp(k, "depth")) {
            long long x = strtoll(v, &end, 10);
            if (errno || *end || x < 0 || x > 10000000)
                goto bad;
            if (k[0] == 'd' && k[1] == 'e' && k[2] == 'l')
                delay_us = x;
            else if (k[0] == 'h')
                hold_us = x;
            else if (x < 1 || x > (long long)FAULT_DEPTH_MAX)
                goto bad;
            else
                depth = x;
        } else {
            goto bad;
        }
    }
    fd->delay_ns = delay_us * 1000;
    fd->hold_ns = hold_us * 1000;
    fd->depth = (uint32_t)depth;
    fd->rng = seed;
    return 0;
bad:
    DM_ERR("fault", "DEMI_FAULTS=%s: expected comma-separated drop|reorder|dup|corrupt=P (0..1), "
           "delay_us|hold_us=N, depth=1..%u, seed=N", spec, FAULT_DEPTH_MAX);
    return -EINVAL;
}

static int fault_open(struct dm_dev *dev, const struct dm_config *cfg)
{
    if (!dev->lower) {
        DM_ERR("fault", "the fault device wraps another device: no lower device given");
        return -EINVAL;
    }
    struct fault_dev *fd = calloc(1, sizeof(*fd));
    if (!fd)
        return -ENOMEM;
    fd->dev = dev;
    const char *spec = dm_cfg_str(cfg, DM_CFG_FAULTS);
    int err = parse_faults(fd, spec ? spec : "");
    if (err < 0) {
        free(fd);
        return err;
    }
    dm_timer_init(&fd->timer, fault_timer, fd);
    dev->priv = fd;
    dev->rx_burst = fault_rx;
    dev->tx_burst = fault_tx;
    (void)dm_stats_register(dev->inst, "fault", fault_ctr_names, fd->ctr, FAULT_NCTR);
    DM_INFO("fault", "injecting on TX: %s", spec ? spec : "");
    return 0;
}

static void fault_close(struct dm_dev *dev)
{
    struct fault_dev *fd = dev->priv;
    if (!fd)
        return;
    if (dm_timer_pending(&fd->timer))
        dm_timer_cancel(dev->inst, &fd->timer);
    dm_stats_unregister(dev->inst, fd->ctr);
    for (uint32_t i = 0; i < fd->nhold; i++)
        dm_buf_free(fd->hold[i]);
    for (; fd->qhead != fd->qtail; fd->qhead++)
        dm_buf_free(fd->q[fd->qhead & (FAULT_FIFO - 1)].pkt);
    free(fd);
    dev->priv = NULL;
}

static const struct dm_dev_ops fault_ops = {
    .name = "fault",
    .open = fault_open,
    .close = fault_close,
    .info = dm_dev_lower_info,      /* a wrapper is what lies below */
    .wait_fd = dm_dev_lower_wait_fd,
    .wrap_order = 1,
    .wrap_var = DM_CFG_FAULTS,
};
DM_DEV_REGISTER(fault_ops)
