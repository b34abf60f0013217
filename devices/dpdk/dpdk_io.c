/* SPDX-License-Identifier: MIT */
/*
 * The packet path of the DPDK device: rx_burst and tx_burst.
 *
 * RX, no copy: every segment of a received mbuf chain becomes one dm_buf
 * wrapping the mbuf's data (dm_buf_wrap_ext, dev_priv = the mbuf); the
 * mbuf goes back to its pool when the last reference to that dm_buf is
 * dropped, wherever that happens (the stack, or an application holding a
 * popped sgarray). Segments are unlinked from each other on the mbuf side
 * so that each lives and dies on its own, as the dm_bufs do.
 *
 * TX, three ways per segment, chosen per frame:
 *  - copy: frames up to DEMI_DPDK_TX_COPY bytes (a memcpy of a small frame
 *    beats setting up several mbufs), chains on a port without multi-seg
 *    support, and ports we may not hand our memory to (real NICs, whose
 *    DMA cannot see our pool): one fresh mbuf, the frame copied in.
 *  - direct: a segment that is one of our own received mbufs, held by
 *    nobody else, goes out as that mbuf (its data window set to the
 *    dm_buf's) - e.g. a payload the application echoes back unchanged.
 *  - by reference: any other segment is attached to a bare mbuf as an
 *    external buffer (rte_pktmbuf_attach_extbuf). Its shared info lives in
 *    that mbuf's private area, and its free callback drops the reference we
 *    took on the dm_buf, so the memory stays valid until the PMD is done.
 * Nothing here allocates from the heap, makes a system call or takes a lock.
 *
 * Ownership at tx_burst: the frames the PMD took are ours (we drop the
 * caller's reference); for the rest we undo what we built, so the caller
 * still owns them untouched. A frame we can never send (too long, too many
 * segments) is dropped and counted rather than handed back forever.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include "dm/instance.h"
#include "dm/log.h"
#include "dm/l2copy.h"
#include "dpdk_priv.h"

/* ---- RX ---- */

static void dpdk_rx_free(struct dm_buf *b, void *arg)
{
    (void)b;
    rte_pktmbuf_free_seg((struct rte_mbuf *)arg);
}

/* DPDK's RX checksum flags to ours. "NONE" means the checksum field is not
 * valid but the data was verified (a partial checksum from a virtio guest
 * that offloaded it): good, for our purpose. A legacy vhost port leaves TX
 * checksum requests on such mbufs instead: the same meaning. */
static inline uint32_t rx_flags(const struct rte_mbuf *m)
{
    uint32_t f = 0;
    uint64_t ip = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
    uint64_t l4 = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
    if (ip == RTE_MBUF_F_RX_IP_CKSUM_GOOD || ip == RTE_MBUF_F_RX_IP_CKSUM_NONE)
        f |= DM_BUF_RX_IP_CKSUM_GOOD;
    else if (ip == RTE_MBUF_F_RX_IP_CKSUM_BAD)
        f |= DM_BUF_RX_IP_CKSUM_BAD;
    if (l4 == RTE_MBUF_F_RX_L4_CKSUM_GOOD || l4 == RTE_MBUF_F_RX_L4_CKSUM_NONE ||
        (m->ol_flags & RTE_MBUF_F_TX_L4_MASK))
        f |= DM_BUF_RX_L4_CKSUM_GOOD;
    else if (l4 == RTE_MBUF_F_RX_L4_CKSUM_BAD)
        f |= DM_BUF_RX_L4_CKSUM_BAD;
    return f;
}

struct rte_mbuf *dpdk_rx_mbuf(const struct dm_buf *b)
{
    return b->free_fn == dpdk_rx_free ? b->dev_priv : NULL;
}

/* Wraps one received mbuf chain; NULL (everything freed) when we are out
 * of dm_buf headers. */
static struct dm_buf *rx_wrap(struct dpdk_dev *d, struct rte_mbuf *m)
{
    struct dm_buf *head = NULL, *tail = NULL;
    uint32_t pkt_len = m->pkt_len;
    uint16_t nb_segs = 0;
    uint32_t flags = d->rx_cksum ? rx_flags(m) : d->rx_trust_ol;
    while (m) {
        struct rte_mbuf *next = m->next;
        struct dm_buf *b = dm_buf_wrap_ext(d->inst, rte_pktmbuf_mtod(m, void *), m->data_len, dpdk_rx_free, m);
        if (dm_unlikely(!b)) {
            rte_pktmbuf_free(m); /* this segment and the ones after it */
            dm_buf_free(head);   /* the ones before it, through their wraps */
            return NULL;
        }
        /* The dm_buf owns the whole mbuf data area, so a stack can prepend
         * into its headroom (e.g. answer in place). */
        b->base = (uint8_t *)m->buf_addr;
        b->cap = m->buf_len;
        b->dev_priv = m;
        m->next = NULL;
        m->nb_segs = 1;
        m->pkt_len = m->data_len;
        if (tail)
            tail->next = b;
        else
            head = b;
        tail = b;
        nb_segs++;
        m = next;
    }
    head->pkt_len = pkt_len;
    head->nb_segs = nb_segs;
    head->ol_flags = flags;
    return head;
}

static bool gso_pump(struct dpdk_dev *d);

uint16_t dpdk_rx_burst(struct dm_dev *dev, struct dm_buf **pkts, uint16_t n)
{
    struct dpdk_dev *d = dev->priv;
    struct rte_mbuf *mb[DPDK_BURST];
    if (n > DPDK_BURST)
        n = DPDK_BURST;
    if (dm_unlikely(--d->hw_poll == 0)) {
        dpdk_read_hw_stats(d);
        if (d->reconnect)
            dpdk_link_poll(d);
    }
    /* a memif client between reconnect attempts has a stopped port, and
     * DPDK's stand-in burst for a stopped port logs a stack dump */
    if (dm_unlikely(!d->started))
        return 0;
    if (dm_unlikely(d->gso_frame))
        gso_pump(d); /* the rest of a TSO frame, though the stack sends nothing */
    if (dm_unlikely(!dpdk_gate_enter(d->port)))
        return 0;
    if (d->tap_kick.fn)
        d->tap_kick.fn(d->tap_kick.signo);
    uint16_t nb = rte_eth_rx_burst(d->port, d->queue, mb, n);
    if (dm_unlikely(d->secondary && (d->adopted || --d->adopt_poll == 0)))
        nb = dpdk_mp_adopted_rx(d, mb, nb, n);
    dpdk_gate_leave(d->port);
    /* a shared port: ARP frames go to every process, and the frames other
     * processes hand over follow the port's (dpdk_mp.c) */
    uint16_t from_port = nb;
    if (d->secondary && d->arp_in)
        nb = dpdk_mp_arp(d, mb, nb, n);
    if (nb == 0)
        return 0;
    uint16_t out = 0;
    uint64_t bytes = 0;
    for (uint16_t i = 0; i < nb; i++) {
        if (i + 1 < nb)
            rte_prefetch0(rte_pktmbuf_mtod(mb[i + 1], void *));
        bytes += mb[i]->pkt_len;
        struct dm_buf *b = rx_wrap(d, mb[i]);
        if (dm_unlikely(!b)) {
            d->st[DPDK_ST_RX_NOHDR]++;
            continue;
        }
        if (dm_unlikely(b->ol_flags & (DM_BUF_RX_IP_CKSUM_BAD | DM_BUF_RX_L4_CKSUM_BAD)))
            d->st[DPDK_ST_RX_CKSUM_BAD]++;
        if (dm_unlikely(i >= from_port)) {
            b->ol_flags |= DM_BUF_RX_FORWARDED;
            d->st[DPDK_ST_FWD_IN]++; /* ARP copies too: the ring holds both */
        }
        pkts[out++] = b;
    }
    d->st[DPDK_ST_RX] += nb;
    d->st[DPDK_ST_RX_BYTES] += bytes;
    if (d->shm)
        d->shm->q[d->queue].rx = d->st[DPDK_ST_RX]; /* the primary's table shows it */
    if (dm_unlikely(--d->scarce_poll == 0)) {
        /* a quarter of the pool left: ask holders to copy (DM_BUF_RX_SCARCE) */
        d->scarce_poll = 32;
        d->rx_scarce = rte_mempool_avail_count(d->mp) < d->scarce_below;
    }
    if (dm_unlikely(d->rx_scarce)) {
        for (uint16_t i = 0; i < out; i++)
            for (struct dm_buf *s = pkts[i]; s; s = s->next)
                s->ol_flags |= DM_BUF_RX_SCARCE;
        d->st[DPDK_ST_RX_SCARCE] += out;
    }
    return out;
}

/* ---- TX ---- */

/* The shared info of one of our buffers handed to the port by reference
 * (rte_pktmbuf_attach_extbuf). It lives in this table, not in the bare
 * mbuf that points at the buffer: a PMD may free that mbuf before others
 * it attached to the same buffer (DPDK's tap cuts a TSO frame into GSO
 * segments that do so), and the info must outlive them all. */
struct dpdk_ext {
    struct rte_mbuf_ext_shared_info sh;
    struct dm_buf *b;      /* the reference we hold until the callback */
    struct dpdk_ext *next; /* free list */
    struct dpdk_dev *d;
};

/* The last mbuf pointing at the buffer is gone (called where the PMD
 * frees mbufs: inside our bursts, in this thread). */
static void dpdk_ext_free(void *addr, void *opaque)
{
    (void)addr;
    struct dpdk_ext *e = opaque;
    struct dpdk_dev *d = e->d;
    dm_buf_free_seg(e->b);
    e->b = NULL;
    e->next = d->ext_free;
    d->ext_free = e;
}

int dpdk_ext_init(struct dpdk_dev *d)
{
    unsigned n = d->ext_mp->size;
    d->ext_tab = calloc(n, sizeof(*d->ext_tab));
    if (!d->ext_tab)
        return -ENOMEM;
    d->ext_free = NULL;
    for (unsigned i = n; i-- > 0;) {
        struct dpdk_ext *e = &d->ext_tab[i];
        e->sh.free_cb = dpdk_ext_free;
        e->sh.fcb_opaque = e;
        e->d = d;
        e->next = d->ext_free;
        d->ext_free = e;
    }
    return 0;
}

void dpdk_ext_fini(struct dpdk_dev *d)
{
    free(d->ext_tab);
    d->ext_tab = d->ext_free = NULL;
}

/* Software checksums for a frame the port cannot offload, on the linear
 * copy (only when a caller asked for an offload the port lacks). */
static void sw_cksum(struct rte_mbuf *m, uint32_t ol, const struct dm_buf *b)
{
    uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);
    if (b->l2_len + b->l3_len > m->data_len)
        return;
    struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(p + b->l2_len);
    bool v6 = (p[b->l2_len] >> 4) == 6; /* memif's IPv6 frames (DM_DEV_CAP_TX_L4_CKSUM6) */
    if ((ol & DM_BUF_TX_IP_CKSUM) && !v6) {
        ip->hdr_checksum = 0;
        ip->hdr_checksum = rte_ipv4_cksum(ip);
    }
    if (ol & (DM_BUF_TX_TCP_CKSUM | DM_BUF_TX_UDP_CKSUM)) {
        uint8_t *l4 = p + b->l2_len + b->l3_len;
        uint16_t *ck = (uint16_t *)(l4 + ((ol & DM_BUF_TX_TCP_CKSUM) ? 16 : 6));
        if ((uint8_t *)(ck + 1) > p + m->data_len)
            return;
        *ck = 0;
        uint16_t c = v6 ? rte_ipv6_udptcp_cksum((struct rte_ipv6_hdr *)(void *)ip, l4) : rte_ipv4_udptcp_cksum(ip, l4);
        *ck = c;
    }
}

static inline void tx_offload(struct dpdk_dev *d, struct rte_mbuf *m, const struct dm_buf *b)
{
    uint32_t ol = b->ol_flags & d->tx_ol;
    /* OR, never assign: an attached mbuf carries RTE_MBUF_F_EXTERNAL,
     * without which it would be freed as a plain mbuf, its callback lost. */
    if (!ol)
        return;
    m->l2_len = b->l2_len;
    m->l3_len = b->l3_len;
    m->l4_len = b->l4_len;
    /* the head holds the Ethernet and IP headers (DM_DEV_CAP_TX_L4_CKSUM6:
     * IPv6 frames ask for L4 sums too, never an IPv4 header's) */
    bool v6 = b->len > b->l2_len && (b->data[b->l2_len] >> 4) == 6;
    uint64_t f = v6 ? RTE_MBUF_F_TX_IPV6 : RTE_MBUF_F_TX_IPV4;
    if ((ol & DM_BUF_TX_IP_CKSUM) && !v6)
        f |= RTE_MBUF_F_TX_IP_CKSUM;
    if (ol & DM_BUF_TX_TCP_CKSUM)
        f |= RTE_MBUF_F_TX_TCP_CKSUM;
    else if (ol & DM_BUF_TX_UDP_CKSUM)
        f |= RTE_MBUF_F_TX_UDP_CKSUM;
    if (ol & DM_BUF_TX_TCP_SEG) { /* the TCP checksum preloaded without the length, as DPDK wants */
        f |= RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_TCP_CKSUM;
        m->tso_segsz = b->tso_segsz;
    }
    m->ol_flags |= f;
}

/* One fresh mbuf holding a copy of the frame. NULL: out of mbufs. */
static struct rte_mbuf *tx_copy(struct dpdk_dev *d, const struct dm_buf *b)
{
    struct rte_mbuf *m = rte_pktmbuf_alloc(d->mp);
    if (dm_unlikely(!m))
        return NULL;
    uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)b->pkt_len);
    uint32_t sw = b->ol_flags & d->tx_sw_l4;
    if (sw && (uint32_t)b->l2_len + b->l3_len + (sw & DM_BUF_TX_TCP_CKSUM ? 18u : 8u) <= b->pkt_len) {
        dm_l2copy_l4_cksum(p, b, sw);
    } else {
        sw = 0;
        for (const struct dm_buf *s = b; s; s = s->next) {
            memcpy(p, s->data, s->len);
            p += s->len;
        }
    }
    tx_offload(d, m, b); /* the port's own (tx_ol never holds tx_sw_l4's) */
    uint32_t missing = b->ol_flags & (DM_BUF_TX_IP_CKSUM | DM_BUF_TX_TCP_CKSUM | DM_BUF_TX_UDP_CKSUM) & ~d->tx_ol & ~sw;
    if (dm_unlikely(missing))
        sw_cksum(m, missing, b);
    d->st[DPDK_ST_TX_COPY]++;
    return m;
}

/* One mbuf for segment s without copying its bytes. */
static inline struct rte_mbuf *tx_seg(struct dpdk_dev *d, struct dm_buf *s)
{
    struct rte_mbuf *m;
    if (s->free_fn == dpdk_rx_free && s->refcnt == 1 && !s->shared) {
        m = s->dev_priv;
        if (rte_mbuf_refcnt_read(m) == 1 && RTE_MBUF_DIRECT(m) && m->pool == d->mp) {
            /* Our own received mbuf, held only by this dm_buf: send it as is.
             * The extra mbuf reference stands for the dm_buf's, which the
             * caller's free releases once the PMD took the frame. */
            rte_mbuf_refcnt_update(m, 1);
            m->data_off = (uint16_t)(s->data - (uint8_t *)m->buf_addr);
            m->data_len = (uint16_t)s->len;
            m->pkt_len = s->len;
            m->nb_segs = 1;
            m->next = NULL;
            m->ol_flags = 0;
            m->tx_offload = 0;
            m->packet_type = 0;
            d->st[DPDK_ST_TX_DIRECT_SEG]++;
            return m;
        }
    }
    struct dpdk_ext *e = d->ext_free;
    if (dm_unlikely(!e))
        return NULL;
    m = rte_pktmbuf_alloc(d->ext_mp);
    if (dm_unlikely(!m))
        return NULL;
    d->ext_free = e->next;
    rte_mbuf_ext_refcnt_set(&e->sh, 1);
    e->b = s;
    dm_buf_ref(s);
    /* Virtual devices copy with the CPU and ignore IOVAs; give the VA. */
    rte_pktmbuf_attach_extbuf(m, s->data, (rte_iova_t)(uintptr_t)s->data, (uint16_t)s->len, &e->sh);
    m->data_len = (uint16_t)s->len;
    m->pkt_len = s->len;
    d->st[DPDK_ST_TX_ZC_SEG]++;
    return m;
}

/* The headers of a TSO frame, copied into a plain mbuf of the port's pool.
 * The tap PMD cuts TSO frames with librte_gso, which in DPDK 22.11 gives
 * each segment's header mbuf the first mbuf's flags, RTE_MBUF_F_EXTERNAL
 * included: from one of our extbuf mbufs, that header mbuf then crashes
 * the PMD's free (NULL shared info). A copy of some 66 bytes per 64 KiB. */
static struct rte_mbuf *tx_head_copy(struct dpdk_dev *d, const struct dm_buf *s)
{
    struct rte_mbuf *m = rte_pktmbuf_alloc(d->mp);
    if (dm_unlikely(!m))
        return NULL;
    uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)s->len);
    if (dm_unlikely(!p)) {
        rte_pktmbuf_free(m);
        return NULL;
    }
    memcpy(p, s->data, s->len);
    return m;
}

/* With the pool DMA-mapped (port_dma_map): does every segment lie where
 * the port reads by DMA, our mapped pool or DPDK's own memory (received
 * mbufs)? A buffer from the heap (the slow path of dm_buf_alloc_size, an
 * application's buffer in a pool under pressure) does not. */
static bool tx_dma_ok(const struct dpdk_dev *d, const struct dm_buf *b)
{
    for (const struct dm_buf *s = b; s; s = s->next) {
        const struct dm_buf *o = s->shared ? s->shared : s;
        if (o->free_fn == dpdk_rx_free)
            continue;
        uintptr_t off = (uintptr_t)s->data - d->dma_base;
        if (off >= d->dma_len || s->len > d->dma_len - off)
            return false;
    }
    return true;
}

/* DPDK 22.11's tap PMD sums each segment of a chain on its own
 * (__rte_raw_cksum from the segment's first byte), so the L4 checksum it
 * writes is wrong when a segment before the last has an odd length: the
 * next one's bytes are summed in the wrong halves of their words. The
 * peer drops the frame as corrupt, and every retransmission of that range
 * is cut the same way: nginx's 16 MiB download over a tap port stalled
 * for good after 32 KB (a segment across the end of one of its 32 KiB
 * output buffers, after an odd-length header; the client's
 * TcpInCsumErrors counted each try). Such a frame goes as a copy, one
 * segment. A TSO frame (only a port of our own has them) is cut by the
 * PMD's GSO into chains of pieces of ours, with the same fault: see
 * tx_tso_regroup. */
static bool tx_odd_inner_seg(const struct dm_buf *b)
{
    for (const struct dm_buf *s = b; s && s->next; s = s->next)
        if (s->len & 1)
            return true;
    return false;
}

/* Can tx_tso_regroup take b: a port that cuts TSO frames, and the
 * headers in b's first piece? */
static bool tx_tso_regroup_ok(const struct dpdk_dev *d, const struct dm_buf *b)
{
    return (d->tx_ol & DM_BUF_TX_TCP_SEG) && b->tso_segsz > 1 &&
           b->len >= (uint32_t)b->l2_len + b->l3_len + b->l4_len;
}

/* A TSO frame for the tap PMD whose chain has an odd-length piece: its
 * payload copied into mbufs of one MSS each (an even number of bytes when
 * the MSS exceeds an mbuf), behind a copy of its headers. Each segment the
 * PMD's GSO cuts is then one piece (or pieces of even length but its
 * last), which it sums right. NULL: out of mbufs. */
static struct rte_mbuf *tx_tso_regroup(struct dpdk_dev *d, const struct dm_buf *b)
{
    uint32_t hdrs = (uint32_t)b->l2_len + b->l3_len + b->l4_len;
    uint32_t piece = b->tso_segsz <= d->copy_room ? b->tso_segsz : d->copy_room & ~1u;
    struct rte_mbuf *head = rte_pktmbuf_alloc(d->mp);
    if (dm_unlikely(!head))
        return NULL;
    memcpy(rte_pktmbuf_append(head, (uint16_t)hdrs), b->data, hdrs);
    struct rte_mbuf *tail = head;
    uint16_t segs = 1;
    const struct dm_buf *s = b;
    uint32_t off = hdrs; /* within s */
    for (uint32_t left = b->pkt_len - hdrs; left > 0;) {
        struct rte_mbuf *m = rte_pktmbuf_alloc(d->mp);
        if (dm_unlikely(!m)) {
            rte_pktmbuf_free(head);
            return NULL;
        }
        uint32_t want = left < piece ? left : piece;
        uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)want);
        for (uint32_t got = 0; got < want;) {
            while (off == s->len) {
                s = s->next;
                off = 0;
            }
            uint32_t n = s->len - off < want - got ? s->len - off : want - got;
            memcpy(p + got, s->data + off, n);
            got += n;
            off += n;
        }
        tail->next = m;
        tail = m;
        segs++;
        left -= want;
    }
    head->nb_segs = segs;
    head->pkt_len = b->pkt_len;
    tx_offload(d, head, b);
    d->st[DPDK_ST_TX_COPY]++;
    return head;
}

/* The mbuf (chain) for frame b, or NULL with *bad set when the frame can
 * never go out, clear when we are only out of mbufs right now. */
static struct rte_mbuf *tx_build(struct dpdk_dev *d, struct dm_buf *b, bool *bad)
{
    *bad = false;
    uint32_t missing = b->ol_flags & (DM_BUF_TX_IP_CKSUM | DM_BUF_TX_TCP_CKSUM | DM_BUF_TX_UDP_CKSUM) & ~d->tx_ol;
    bool linear_ok = b->pkt_len <= d->copy_room;
    /* checksums we complete ourselves are done in the copy */
    missing |= b->ol_flags & d->tx_sw_l4;
    bool odd = dm_unlikely(d->tx_odd_seg_sum_bad) && b->nb_segs > 1 &&
               (b->ol_flags & (DM_BUF_TX_TCP_CKSUM | DM_BUF_TX_UDP_CKSUM | DM_BUF_TX_TCP_SEG)) &&
               tx_odd_inner_seg(b);
    if (dm_unlikely(odd) && (b->ol_flags & DM_BUF_TX_TCP_SEG) && tx_tso_regroup_ok(d, b))
        return tx_tso_regroup(d, b);
    odd = odd && linear_ok;
    if (b->pkt_len <= d->tx_copy_max || !d->tx_zc || missing || odd || (b->nb_segs > 1 && !d->multiseg) ||
        b->nb_segs > d->max_segs || (d->dma_len && !tx_dma_ok(d, b))) {
        if (dm_unlikely(!linear_ok)) {
            *bad = true;
            return NULL;
        }
        return tx_copy(d, b);
    }
    struct rte_mbuf *head = NULL, *tail = NULL;
    uint16_t segs = 0;
    for (struct dm_buf *s = b; s; s = s->next) {
        if (s->len == 0)
            continue;
        if (dm_unlikely(s->len > UINT16_MAX)) {
            if (head)
                rte_pktmbuf_free(head);
            if (!linear_ok) {
                *bad = true;
                return NULL;
            }
            return tx_copy(d, b);
        }
        struct rte_mbuf *m = s == b && (b->ol_flags & DM_BUF_TX_TCP_SEG) ? tx_head_copy(d, s) : tx_seg(d, s);
        if (dm_unlikely(!m)) {
            if (head)
                rte_pktmbuf_free(head); /* drops the references taken so far */
            return NULL;
        }
        if (tail)
            tail->next = m;
        else
            head = m;
        tail = m;
        segs++;
    }
    if (dm_unlikely(!head)) {
        *bad = true;
        return NULL;
    }
    head->nb_segs = segs;
    head->pkt_len = b->pkt_len;
    tx_offload(d, head, b);
    return head;
}

/* ---- TSO frames we cut ourselves (d->gso: memif, which copies every
 * frame anyway) ----
 * As Linux's GSO for a device without TSO: the stack builds one 64 KiB
 * frame, and its pieces are cut straight into the mbufs the port copies
 * (dm_l2tso_cut_piece: headers fixed, checksums summed in that copy). We
 * take the frame at once and cut at most a burst at a time, as the ring
 * takes them; pieces the ring refused are cut again next time, and no
 * frame behind it goes first (dpdk_tx_burst takes nothing while one is
 * being cut; dpdk_rx_burst pushes it on when the stack sends nothing). */
static bool gso_pump(struct dpdk_dev *d)
{
    const struct dm_l2tso_cut *c = &d->gso_cut;
    while (d->gso_next < c->n) {
        struct rte_mbuf *mb[DPDK_BURST];
        uint16_t k = (uint16_t)DM_MIN((uint32_t)DPDK_BURST, c->n - d->gso_next);
        if (dm_unlikely(rte_pktmbuf_alloc_bulk(d->mp, mb, k) != 0)) {
            d->st[DPDK_ST_TX_NOMBUF]++;
            return false;
        }
        uint64_t bytes = 0;
        for (uint16_t i = 0; i < k; i++) {
            uint32_t len = dm_l2tso_cut_piece(c, d->gso_next + i, rte_pktmbuf_mtod(mb[i], uint8_t *));
            mb[i]->data_len = (uint16_t)len;
            mb[i]->pkt_len = len;
            bytes += len;
        }
        uint16_t sent = 0;
        if (dm_likely(dpdk_gate_enter(d->port))) {
            sent = rte_eth_tx_burst(d->port, d->queue, mb, k);
            dpdk_gate_leave(d->port);
        }
        for (uint16_t i = sent; i < k; i++) {
            bytes -= mb[i]->pkt_len;
            rte_pktmbuf_free(mb[i]);
        }
        d->gso_next += sent;
        d->st[DPDK_ST_TX] += sent;
        d->st[DPDK_ST_TX_BYTES] += bytes;
        d->tx_stuck = sent == 0;
        if (sent < k) {
            d->st[DPDK_ST_TX_FULL] += (uint64_t)(k - sent);
            return false;
        }
    }
    dpdk_gso_drop(d);
    return true;
}

void dpdk_gso_drop(struct dpdk_dev *d)
{
    if (d->gso_frame)
        dm_buf_free(d->gso_frame);
    d->gso_frame = NULL;
    d->gso_next = 0;
}

/* Takes TSO frame b to cut (false: not one we can cut). */
static bool gso_take(struct dpdk_dev *d, struct dm_buf *b)
{
    if (dm_l2tso_cut_init(&d->gso_cut, b) < 0 || d->gso_cut.hl + d->gso_cut.seg > d->copy_room)
        return false;
    d->gso_frame = b;
    d->gso_next = 0;
    d->st[DPDK_ST_TX_GSO]++;
    return true;
}

uint16_t dpdk_tx_burst(struct dm_dev *dev, struct dm_buf **pkts, uint16_t n)
{
    struct dpdk_dev *d = dev->priv;
    struct rte_mbuf *mb[DPDK_BURST];
    struct dm_buf *src[DPDK_BURST];
    uint16_t done = 0;
    if (dm_unlikely(!d->started))
        return 0; /* link down and port stopped: the caller keeps its frames */
    if (dm_unlikely(d->gso_frame) && !gso_pump(d))
        return 0;

    while (done < n) {
        uint16_t want = (uint16_t)(n - done) > DPDK_BURST ? DPDK_BURST : (uint16_t)(n - done);
        /* The port took nothing last time (a peer that does not drain its
         * ring): probe with one frame instead of building a burst of copies
         * only to free them again. */
        if (dm_unlikely(d->tx_stuck))
            want = 1;
        uint16_t built = 0, taken = 0;
        bool stalled = false;
        /* Build up to `want` frames; frames that can never go out are
         * dropped in place (they count as taken: the caller is rid of them). */
        while (taken < want) {
            struct dm_buf *b = pkts[done + taken];
            bool bad;
            if ((b->ol_flags & DM_BUF_TX_TCP_SEG) && d->gso) {
                if (built)
                    break; /* keep order: send what we built first */
                if (gso_take(d, b)) {
                    done++; /* ours now, whether or not it all goes at once */
                    want--;
                    if (!gso_pump(d))
                        return done;
                    continue;
                }
                /* not a frame we can cut: tx_build drops it as bad */
            }
            struct rte_mbuf *m = tx_build(d, b, &bad);
            if (dm_unlikely(!m)) {
                if (!bad) {
                    d->st[DPDK_ST_TX_NOMBUF]++;
                    stalled = true;
                    break;
                }
                if (built)
                    break; /* keep order: send what we built first */
                d->st[DPDK_ST_TX_DROP_BAD]++;
                dm_log_once("dpdk", "dropping a frame the port cannot send (%u bytes in %u segments)",
                            b->pkt_len, b->nb_segs);
                dm_buf_free(b);
                done++;
                want--;
                continue;
            }
            src[built] = b;
            mb[built++] = m;
            taken++;
        }
        if (built == 0) {
            if (stalled)
                break;
            continue;
        }
        uint16_t sent = 0;
        if (dm_likely(dpdk_gate_enter(d->port))) {
            sent = rte_eth_tx_burst(d->port, d->queue, mb, built);
            dpdk_gate_leave(d->port);
        }
        uint64_t bytes = 0;
        for (uint16_t i = 0; i < sent; i++) {
            bytes += src[i]->pkt_len;
            dm_buf_free(src[i]);
        }
        d->st[DPDK_ST_TX] += sent;
        d->st[DPDK_ST_TX_BYTES] += bytes;
        if (d->shm)
            d->shm->q[d->queue].tx = d->st[DPDK_ST_TX];
        d->tx_stuck = sent == 0;
        if (sent < built) {
            d->st[DPDK_ST_TX_FULL] += (uint64_t)(built - sent);
            for (uint16_t i = sent; i < built; i++)
                rte_pktmbuf_free(mb[i]);
            done += sent;
            break;
        }
        done += sent;
        if (stalled)
            break;
    }
    return done;
}

void dpdk_read_hw_stats(struct dpdk_dev *d)
{
    struct rte_eth_stats s;
    d->hw_poll = 1u << 16;
    if (rte_eth_stats_get(d->port, &s) != 0)
        return;
    d->st[DPDK_ST_RX_NOMBUF] = s.rx_nombuf;
    d->st[DPDK_ST_IMISSED] = s.imissed;
    d->st[DPDK_ST_IERRORS] = s.ierrors;
    d->st[DPDK_ST_OERRORS] = s.oerrors;
}
