/* SPDX-License-Identifier: MIT */
/*
 * "loop": an in-memory Ethernet device, for tests and for running two
 * instances (two stacks) in one process without a NIC.
 *
 * How it works
 *  - Frames move by reference: tx_burst puts the dm_buf pointers the stack
 *    gave it into a ring, rx_burst hands the same pointers to the receiver.
 *    No copy, no allocation. The receiver therefore sees the sender's memory:
 *    payload segments may be slices shared with the sender's retransmission
 *    queue (b->shared != NULL or refcnt > 1) and must be treated read-only.
 *  - Rings are bounded single-producer/single-consumer arrays of pointers
 *    (DEMI_LOOP_RING slots, default 1024; on a link the first end to open
 *    sets it). When the receiver's ring is full, tx_burst accepts fewer
 *    frames (counted in tx_full): backpressure, never silent loss.
 *  - Link mode (DEMI_LOOP_LINK=name): a process-global registry maps a name
 *    to a link of two rings. The first device to open the name is end 0,
 *    the second end 1, a third gets -EBUSY. End e receives on ring[e] and
 *    sends on ring[1-e]. The link is freed when both ends have closed; an
 *    end that closes frees the frames still waiting for it. Frames sent
 *    before the peer attaches wait in its ring (up to the ring size).
 *  - Self mode (no DEMI_LOOP_LINK): one ring; what the device sends comes
 *    back on its own rx, like lo, so a stack can talk to its own address.
 *  - MAC: DEMI_MAC, else 02:00:00:00:00:0N with N = end + 1 (self: 1).
 *    MTU: DEMI_MTU (68..9000, default 1500). Frames longer than MTU + 18
 *    (Ethernet + one VLAN tag) or shorter than an Ethernet header are
 *    freed and counted (tx_bad), as a NIC would drop them.
 *  - Checksum offload (DEMI_LOOP_CSUM_OFFLOAD=1): the device advertises TX
 *    IPv4/TCP/UDP checksum (TCP/UDP over IPv6 too) and RX checksum caps.
 *    Our choice: on TX it
 *    *fills* the requested checksums into the frame (the way a NIC writes
 *    them on the wire, DPDK's preloaded pseudo-header contract; see
 *    l2csum.h), so the receiver gets a correct frame whether or not it uses
 *    offload; on RX it *verifies* every IPv4/TCP/UDP checksum and sets
 *    DM_BUF_RX_*_CKSUM_GOOD/BAD, so a stack's RX offload path sees real
 *    verdicts (a frame corrupted by the fault layer comes out BAD). Without
 *    offload, rx clears ol_flags and the stack checks in software. Since a
 *    NIC never writes host memory, a frame whose checksum fields lie in
 *    shared memory (a fault-layer duplicate, a header the stack keeps to
 *    resend) is copied before filling (counted in tx_csum_copy).
 *  - Threads: the registry is under a mutex (control path only). The ring
 *    indexes are C11 acquire/release atomics, so the two ends may be driven
 *    from two threads; but dm_buf pools are single threaded, so frames must
 *    then come back to their pool's thread to be freed. Single threaded use
 *    (both instances polled by one thread) is the intended case.
 *  - TCP segmentation offload (DEMI_LOOP_TSO=1, which turns checksum
 *    offload on too): the device advertises TSO for IPv4 and IPv6 and cuts
 *    each DM_BUF_TX_TCP_SEG frame into MSS-sized segments before they
 *    enter the ring (l2tso.h: headers copied, payload sliced), as a NIC
 *    would (counted in tx_tso; tx counts the segments); the receiver never
 *    sees a frame above the MTU.
 *  - No wait_fd (-1): there is nothing to sleep on; instances busy-poll.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dm/addr.h"
#include "dm/compiler.h"
#include "dm/device.h"
#include "dm/log.h"
#include "dm/stats.h"
#include "dm/l2csum.h"
#include "dm/l2tso.h"

#define LOOP_RING_DEFAULT 1024
#define LOOP_MAX_SEGS     64
#define LOOP_ETH_OVERHEAD 18u /* Ethernet header + one VLAN tag */

struct loop_ring {
    _Atomic uint32_t head;   /* next slot to read (consumer writes) */
    char pad_[60];           /* keep the two indexes on separate lines */
    _Atomic uint32_t tail;   /* next slot to write (producer writes) */
    uint32_t mask;
    struct dm_buf **slots;
};

struct loop_link {
    struct loop_link *next;  /* in the registry */
    char name[64];
    int attached[2];         /* end e is open */
    struct loop_ring ring[2];/* ring[e]: frames for end e */
};

enum { LOOP_TX, LOOP_RX, LOOP_TX_FULL, LOOP_TX_BAD, LOOP_TX_CSUM_COPY, LOOP_TX_TSO, LOOP_NCTR };
static const char *const loop_ctr_names[LOOP_NCTR] = { "tx", "rx", "tx_full", "tx_bad", "tx_csum_copy", "tx_tso" };

struct loop_dev {
    struct loop_ring *rxr, *txr;
    uint32_t max_frame;
    uint8_t csum_offload;
    uint8_t tso;
    uint8_t self;
    int end;
    struct loop_link *link;       /* NULL in self mode */
    struct loop_ring own;         /* self mode's ring */
    uint64_t ctr[LOOP_NCTR];
    struct dm_dev_info info;
};

/* Process-global registry of links (control path only). */
static pthread_mutex_t loop_reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct loop_link *loop_links;

static int ring_init(struct loop_ring *r, uint32_t size)
{
    r->slots = calloc(size, sizeof(*r->slots));
    if (!r->slots)
        return -ENOMEM;
    r->mask = size - 1;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    return 0;
}

/* Frees every frame still in the ring, then the ring. */
static void ring_fini(struct loop_ring *r)
{
    if (!r->slots)
        return;
    uint32_t h = atomic_load(&r->head), t = atomic_load(&r->tail);
    for (; h != t; h++)
        dm_buf_free(r->slots[h & r->mask]);
    atomic_store(&r->head, h);
    free(r->slots);
    r->slots = NULL;
}

/* Serves the frame's TX checksum requests as a NIC would. A NIC writes the
 * checksums on the wire and leaves host memory alone; we fill in place, so
 * when the fields sit in memory someone else holds (a duplicate, a header
 * the stack keeps to send again) the frame is first copied. NULL: no
 * buffer for that copy (the caller keeps the frame: backpressure). */
static struct dm_buf *loop_csum_tx(struct dm_dev *dev, struct loop_dev *ld, struct dm_buf *p)
{
    if (dm_l2csum_tx_shared(p)) {
        struct dm_buf *c = dm_buf_linearize(dev->inst, p);
        if (!c)
            return NULL;
        ld->ctr[LOOP_TX_CSUM_COPY]++;
        dm_buf_free(p);
        p = c;
    }
    dm_l2csum_tx_fill(p);
    return p;
}

static uint16_t loop_tx(struct dm_dev *dev, struct dm_buf **pkts, uint16_t n)
{
    struct loop_dev *ld = dev->priv;
    struct loop_ring *r = ld->txr;
    uint32_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint32_t h = atomic_load_explicit(&r->head, memory_order_acquire);
    uint32_t room = r->mask + 1 - (t - h);
    uint32_t queued = 0;
    uint16_t i;

    for (i = 0; i < n && queued < room; i++) {
        struct dm_buf *p = pkts[i];
        if ((p->ol_flags & DM_BUF_TX_TCP_SEG) && ld->tso) {
            /* cut up as a NIC would, every segment in the ring or none */
            struct dm_buf *seg[DM_DEV_TSO_SEGS_MAX];
            if (dm_l2tso_count(p) > room - queued)
                break;
            int ns = dm_l2tso_segment(dev->inst, p, seg, DM_DEV_TSO_SEGS_MAX);
            if (ns == -ENOBUFS)
                break;
            if (ns < 0) {
                ld->ctr[LOOP_TX_BAD]++;
                dm_buf_free(p);
                continue;
            }
            ld->ctr[LOOP_TX_TSO]++;
            for (int j = 0; j < ns; j++) {
                struct dm_buf *q = seg[j]->pkt_len <= ld->max_frame ? loop_csum_tx(dev, ld, seg[j]) : NULL;
                if (dm_unlikely(!q)) {
                    ld->ctr[LOOP_TX_BAD]++;
                    dm_buf_free(seg[j]);
                    continue;
                }
                r->slots[(t + queued++) & r->mask] = q;
            }
            continue;
        }
        if (dm_unlikely(p->pkt_len > ld->max_frame || p->pkt_len < 14)) {
            ld->ctr[LOOP_TX_BAD]++;
            dm_buf_free(p);
            continue;
        }
        if (p->ol_flags & DM_L2CSUM_TX_MASK) {
            struct dm_buf *q = loop_csum_tx(dev, ld, p);
            if (dm_unlikely(!q))
                break;
            p = q;
        }
        r->slots[(t + queued++) & r->mask] = p;
    }
    atomic_store_explicit(&r->tail, t + queued, memory_order_release);
    ld->ctr[LOOP_TX] += queued;
    ld->ctr[LOOP_TX_FULL] += (uint64_t)(n - i);
    return i;
}

static uint16_t loop_rx(struct dm_dev *dev, struct dm_buf **pkts, uint16_t n)
{
    struct loop_dev *ld = dev->priv;
    struct loop_ring *r = ld->rxr;
    uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint32_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
    uint16_t k = (uint16_t)DM_MIN((uint32_t)n, t - h);

    for (uint16_t i = 0; i < k; i++) {
        struct dm_buf *p = r->slots[(h + i) & r->mask];
        /* TX requests were served by the sender; the receiver sees only RX
         * verdicts (or nothing: it checks in software). */
        p->ol_flags = ld->csum_offload ? dm_l2csum_rx_flags(p) : 0;
        pkts[i] = p;
    }
    atomic_store_explicit(&r->head, h + k, memory_order_release);
    ld->ctr[LOOP_RX] += k;
    return k;
}

/* Finds or creates the link `name` and attaches a free end. */
static int link_attach(const char *name, uint32_t ring_size, struct loop_link **out, int *end)
{
    struct loop_link *l;
    int err = 0;

    pthread_mutex_lock(&loop_reg_lock);
    for (l = loop_links; l; l = l->next)
        if (strcmp(l->name, name) == 0)
            break;
    if (!l) {
        l = calloc(1, sizeof(*l));
        if (!l) {
            err = -ENOMEM;
            goto out;
        }
        snprintf(l->name, sizeof(l->name), "%s", name);
        if ((err = ring_init(&l->ring[0], ring_size)) || (err = ring_init(&l->ring[1], ring_size))) {
            free(l->ring[0].slots);
            free(l);
            goto out;
        }
        l->next = loop_links;
        loop_links = l;
    }
    if (!l->attached[0])
        *end = 0;
    else if (!l->attached[1])
        *end = 1;
    else {
        err = -EBUSY;
        goto out;
    }
    l->attached[*end] = 1;
    *out = l;
out:
    pthread_mutex_unlock(&loop_reg_lock);
    return err;
}

static void link_detach(struct loop_link *l, int end)
{
    pthread_mutex_lock(&loop_reg_lock);
    l->attached[end] = 0;
    if (!l->attached[0] && !l->attached[1]) {
        struct loop_link **pp = &loop_links;
        while (*pp != l)
            pp = &(*pp)->next;
        *pp = l->next;
        ring_fini(&l->ring[0]);
        ring_fini(&l->ring[1]);
        free(l);
    } else {
        /* frames nobody will read any more; the ring stays for a new end */
        struct loop_ring *r = &l->ring[end];
        uint32_t h = atomic_load(&r->head), t = atomic_load(&r->tail);
        for (; h != t; h++)
            dm_buf_free(r->slots[h & r->mask]);
        atomic_store(&r->head, h);
    }
    pthread_mutex_unlock(&loop_reg_lock);
}

static int loop_open(struct dm_dev *dev, const struct dm_config *cfg)
{
    int64_t mtu, ring;
    int err, csum;
    const char *link = dm_cfg_str(cfg, DM_CFG_LOOP_LINK);
    const char *mac = dm_cfg_str(cfg, DM_CFG_MAC);

    if ((err = dm_cfg_int(cfg, DM_CFG_MTU, &mtu)) < 0)
        return err;
    if (err == DM_CFG_AUTO)
        mtu = 1500;
    if (mtu > 9000) /* our frames are at most 9000 + headers */
        return dm_cfg_bad(DM_CFG_MTU, dm_cfg_raw(cfg, DM_CFG_MTU), "at most 9000 on the loop device");
    if ((err = dm_cfg_int(cfg, DM_CFG_LOOP_RING, &ring)) < 0)
        return err;
    if (ring & (ring - 1))
        return dm_cfg_bad(DM_CFG_LOOP_RING, dm_cfg_raw(cfg, DM_CFG_LOOP_RING), "a power of two");
    if ((err = dm_cfg_bool(cfg, DM_CFG_LOOP_CSUM_OFFLOAD, &csum)) < 0)
        return err;
    int tso;
    if ((err = dm_cfg_bool(cfg, DM_CFG_LOOP_TSO, &tso)) < 0)
        return err;
    if (tso)
        csum = 1; /* TSO implies the TCP checksum */
    if (link && !*link)
        link = NULL;
    if (link && strlen(link) >= sizeof(((struct loop_link *)0)->name)) {
        DM_ERR("loop", "DEMI_LOOP_LINK=%s: name too long", link);
        return -ENAMETOOLONG;
    }

    struct loop_dev *ld = calloc(1, sizeof(*ld));
    if (!ld)
        return -ENOMEM;
    ld->max_frame = (uint32_t)mtu + LOOP_ETH_OVERHEAD;
    ld->csum_offload = (uint8_t)csum;
    ld->tso = (uint8_t)tso;
    if (mac) {
        if (dm_mac_parse(mac, ld->info.mac) < 0) {
            DM_ERR("loop", "DEMI_MAC=%s: expected xx:xx:xx:xx:xx:xx", mac);
            free(ld);
            return -EINVAL;
        }
    }
    if (link) {
        if ((err = link_attach(link, (uint32_t)ring, &ld->link, &ld->end)) < 0) {
            if (err == -EBUSY)
                DM_ERR("loop", "DEMI_LOOP_LINK=%s: both ends already open", link);
            free(ld);
            return err;
        }
        ld->rxr = &ld->link->ring[ld->end];
        ld->txr = &ld->link->ring[1 - ld->end];
    } else {
        if ((err = ring_init(&ld->own, (uint32_t)ring)) < 0) {
            free(ld);
            return err;
        }
        ld->self = 1;
        ld->rxr = ld->txr = &ld->own;
    }
    if (!mac) {
        static const uint8_t base[6] = { 0x02, 0, 0, 0, 0, 0 };
        memcpy(ld->info.mac, base, 6);
        ld->info.mac[5] = (uint8_t)(ld->end + 1);
    }
    snprintf(ld->info.name, sizeof(ld->info.name), "loop%s%.24s", link ? ":" : "", link ? link : "");
    ld->info.mtu = (uint16_t)mtu;
    ld->info.max_segs = LOOP_MAX_SEGS;
    ld->info.caps = DM_DEV_CAP_TX_MULTISEG;
    if (csum)
        ld->info.caps |= DM_DEV_CAP_TX_IPV4_CKSUM | DM_DEV_CAP_TX_TCP_CKSUM | DM_DEV_CAP_TX_UDP_CKSUM |
                         DM_DEV_CAP_TX_L4_CKSUM6 | DM_DEV_CAP_RX_CKSUM;
    if (tso) {
        ld->info.caps |= DM_DEV_CAP_TX_TCP_TSO | DM_DEV_CAP_TX_TCP_TSO6;
        ld->info.tso_max = DM_DEV_TSO_MAX_DEFAULT;
    }

    dev->priv = ld;
    dev->rx_burst = loop_rx;
    dev->tx_burst = loop_tx;
    (void)dm_stats_register(dev->inst, "loop", loop_ctr_names, ld->ctr, LOOP_NCTR);
    DM_INFO("loop", "opened %s end %d mtu %lld ring %lld%s%s", ld->info.name, ld->end, (long long)mtu,
            (long long)ring, csum ? " csum-offload" : "", tso ? " tso" : "");
    return 0;
}

static void loop_close(struct dm_dev *dev)
{
    struct loop_dev *ld = dev->priv;
    if (!ld)
        return;
    dm_stats_unregister(dev->inst, ld->ctr);
    if (ld->link)
        link_detach(ld->link, ld->end);
    else
        ring_fini(&ld->own);
    free(ld);
    dev->priv = NULL;
}

static int loop_info(struct dm_dev *dev, struct dm_dev_info *info)
{
    struct loop_dev *ld = dev->priv;
    *info = ld->info;
    if (ld->self) {
        info->link_up = 1;
    } else {
        pthread_mutex_lock(&loop_reg_lock);
        info->link_up = (uint8_t)(ld->link->attached[0] && ld->link->attached[1]);
        pthread_mutex_unlock(&loop_reg_lock);
    }
    return 0;
}

static int loop_wait_fd(struct dm_dev *dev)
{
    (void)dev;
    return -1;
}

static const struct dm_dev_ops loop_ops = {
    .name = "loop",
    .open = loop_open,
    .close = loop_close,
    .info = loop_info,
    .wait_fd = loop_wait_fd,
};
DM_DEV_REGISTER(loop_ops)
