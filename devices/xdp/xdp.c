/* SPDX-License-Identifier: MIT */
/*
 * "xdp": an L2 device on one queue of a Linux interface through an AF_XDP
 * socket, sharing the interface with the kernel and with other processes:
 * the interface's one copy of our XDP program (xdp_filter.bpf.c, found or
 * attached by xdp_prog.c) redirects to the socket of the receiving queue
 * only IPv4 TCP/UDP/ICMP for our DEMI_IPV4 address and ARP whose target is
 * that address, and passes everything else to the kernel.
 * README.md: queues, flow placement, privileges, what a crash leaves.
 *
 * Configuration: DEMI_XDP_IFACE (required), DEMI_XDP_QUEUE (default auto),
 * DEMI_XDP_FILTER=ip|all (default ip: our program, needs DEMI_IPV4; all:
 * libxdp's default program, every frame of the queue, as does a build
 * without clang), DEMI_XDP_FRAMES (UMEM frames of 4 KiB, default 4096),
 * DEMI_XDP_COPY=1 (skip the zero-copy attempt), DEMI_XDP_TX_REF=1 (send
 * by reference, below), DEMI_MAC (default: the
 *    interface's MAC), DEMI_XDP_HELPER (xdp_helper.c).
 *
 * How it works
 *  - Open (shared path, DEMI_XDP_FILTER=ip), under the interface lock:
 *    find or attach the program, create the socket and register the UMEM
 *    (privileged: here, or by the helper for a worker that dropped root),
 *    then map the rings, bind a queue (auto: the first without a live
 *    owner), record ourselves in xdp_queues and put the socket in the
 *    XSKMAP at that queue. Close: the slot and the record go, then the
 *    socket; the last process out detaches the program.
 *  - One UMEM (a memfd, mapped shared) of DEMI_XDP_FRAMES frames. Frames that belong
 *    to us sit on one free stack (an array of frame addresses); the rest
 *    are with the kernel (fill ring, RX ring, TX ring, completion ring) or
 *    with the stack/application as received dm_bufs.
 *  - RX: each descriptor's frame is wrapped as a dm_buf (dm_buf_wrap_ext, a
 *    header from the instance's header pool: no copy, no malloc). When the
 *    last reference goes, xdp_frame_free() pushes the frame back on the free
 *    stack; rx_burst refills the fill ring from it in one batch. Out of
 *    headers: the rest of the batch stays on the RX ring (backpressure).
 *  - TX by copy (default): each chain is copied into a free frame and
 *    freed. TX by reference (DEMI_XDP_TX_REF=1): at open, the instance's
 *    buffer pool (dm_bufpool_place) moves into the UMEM behind the frames,
 *    which is then registered in unaligned-chunk mode (pool slots are not
 *    4 KiB chunks; RX still fills whole frames); a frame whose every
 *    segment lies in the UMEM (pool buffers, slices of them, received
 *    frames) goes out as one descriptor per segment, chained with
 *    XDP_PKT_CONTD when the socket took XDP_USE_SG (copy mode; driver
 *    zero-copy gets single-descriptor frames only), each segment held
 *    until its completion; anything else (heap buffers, longer chains) is
 *    copied. Every descriptor is recorded in pend[], in submission order,
 *    which is the order completions come back in; they are reaped in a
 *    batch before each TX burst. Out of frames, pend[] or TX ring: tx_burst
 *    accepts fewer. The kernel is kicked with sendto() only when the TX
 *    ring says it needs a wakeup (XDP_USE_NEED_WAKEUP), and the fill ring
 *    with recvfrom() only when nothing was received and it asks for one.
 *    Counters: xdp.tx (frames) = tx_copy + tx_zc (tx_zc_descs descriptors);
 *    comp_order: completions not in submission order (never on veth).
 *  - Bind: XDP_ZEROCOPY first, then XDP_COPY (veth and most virtual
 *    devices only do copy mode).
 *  - Slow readers: past half of the UMEM held as received dm_bufs, new ones
 *    carry DM_BUF_RX_SCARCE (xdp.rx_scarce) and TCP copies what it queues,
 *    so connections nobody reads cannot hold every frame.
 *  - wait_fd() is the XSK fd: readable when RX has descriptors.
 *  - Close with received buffers still held by the application: the UMEM
 *    stays mapped until the last one is freed, so a late free is safe.
 *  - No checksum offload: AF_XDP carries no checksum metadata. On veth,
 *    Linux leaves TCP/UDP checksums "to the NIC" (CHECKSUM_PARTIAL), so
 *    frames from the peer arrive with only the pseudo-header sum; there
 *    they are taken as good, as the peer's kernel takes them (xdp_csum.c,
 *    xdp.rx_csum_partial); real NICs put complete checksums on the
 *    wire. Frames are limited to one UMEM
 *    frame (4 KiB minus XDP headroom): no multi-buffer/jumbo RX.
 */
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <pthread.h>
#include <bpf/bpf.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>
#include "dm/addr.h"
#include "dm/compiler.h"
#include "dm/device.h"
#include "dm/instance.h"
#include "dm/log.h"
#include "dm/stats.h"
#include "dm/time.h"
#include "xdp_fwd.h"
#include "xdp_stray.h"
#include "xdp_rss.h"
#include "xdp_csum.h"
#include "xdp_lib.h"
#include "xdp_prog.h"

#define XDP_FRAME_SIZE   XSK_UMEM__DEFAULT_FRAME_SIZE
#define XDP_RING_SIZE    2048u
#define XDP_BATCH        64u
#define XDP_MAX_SEGS     64u
#define XDP_ARP_WAIT     8u
#define XDP_ARP_WAIT_NS  (1000 * DM_NS_PER_MS)
#define XDP_ARP_POLL_NS  (1 * DM_NS_PER_MS)
/* Descriptors in flight at most: a full TX ring and a full completion ring */
#define XDP_PEND         (2 * XDP_RING_SIZE)
/* Descriptors per frame sent by reference. The kernel's copy mode makes a
 * fragment of each descriptor after the first (of each page a descriptor
 * touches, on devices that take no linear part), at most MAX_SKB_FRAGS
 * (17 unless configured higher), and drops a longer frame without
 * completing its descriptors, whose buffers would stay held forever:
 * longer chains are copied. */
#define XDP_SG_MAX       8u

enum {
    XDP_C_RX, XDP_C_TX, XDP_C_TX_FULL, XDP_C_TX_BAD, XDP_C_RX_NO_HDR, XDP_C_FILL_EMPTY,
    XDP_C_TX_KICKS, XDP_C_FILL_KICKS, XDP_C_RX_SCARCE, XDP_C_ARP_SHARED, XDP_C_ND_SHARED, XDP_C_TX_COPY, XDP_C_TX_ZC,
    XDP_C_TX_ZC_DESCS, XDP_C_COMP_ORDER, XDP_C_RX_MULTI, XDP_C_FWD_IN, XDP_C_FWD_OUT, XDP_C_FWD_FULL,
    XDP_C_STRAY_RX, XDP_C_STRAY_KERNEL, XDP_C_STRAY_TRUNC, XDP_C_RX_CSUM_PARTIAL, XDP_C_TX_CSUM, XDP_NCTR
};
static const char *const xdp_ctr_names[XDP_NCTR] = {
    "rx", "tx", "tx_full", "tx_bad", "rx_no_hdr", "fill_empty", "tx_kicks", "fill_kicks", "rx_scarce",
    "arp_shared", "nd_shared", "tx_copy", "tx_zc", "tx_zc_descs", "comp_order", "rx_multi", "fwd_in", "fwd_out",
    "fwd_full", "stray_rx", "stray_kernel", "stray_trunc", "rx_csum_partial", "tx_csum",
};

/* DEMI_XDP_TX_CKSUM, in its table's order */
enum { XDP_CSUM_OFFLOAD, XDP_CSUM_SW, XDP_CSUM_STACK };
/* Where a copied frame starts in its UMEM frame: the TX metadata before
 * it, in the same 4 KiB (the kernel checks that of every descriptor once
 * the UMEM has metadata), 8-byte aligned */
#define XDP_TX_COPY_OFF 32u
_Static_assert(XDP_TX_COPY_OFF >= XDP_TX_META_LEN, "a copied frame's metadata fits before it");
_Static_assert(sizeof(struct xdp_tx_meta) == XDP_TX_META_LEN, "the kernel reads it XDP_TX_META_LEN bytes before a frame");

/* What a descriptor on the TX ring holds until its completion: a UMEM
 * frame with a copy (seg NULL), or one segment sent by reference. */
struct xdp_pend {
    uint64_t addr;
    struct dm_buf *seg;
};

/* Our stack's requests for a neighbour's address that some other queue
 * may have heard answered (ARP, neighbour discovery: see arp_assist), and
 * the answers found for them, waiting to be handed to the stack. One
 * table per address family; `key` is how our program's map is keyed (the
 * IPv4 address, or the IPv6 target; zero-padded), `src` the source of an
 * IPv6 solicitation, where our advertisement goes. */
enum { XDP_NB_ARP, XDP_NB_ND, XDP_NB_COUNT };
struct xdp_neigh_tab {
    uint32_t nwait, ninject;
    int64_t next_ns;               /* next look at the map for the waiting ones */
    struct { uint8_t key[16], src[16]; int64_t until_ns; } wait[XDP_ARP_WAIT];
    struct xdp_neigh_answer { uint8_t key[16], dst[16], mac[6]; } inject[XDP_ARP_WAIT];
};

struct xdp_dev {
    struct xdp_xsk x;              /* rings (and their mappings on the shared path) */
    uint8_t *area;                 /* the UMEM: nframes frames, then the buffer pool's data */
    uint32_t nfree;                /* frames on the free stack */
    uint32_t refs;                 /* the device's (until closed, no RX frame out) and the pool's */
    bool tx_ref;                   /* DEMI_XDP_TX_REF: segments in the UMEM go by reference */
    bool sg;                       /* bound with XDP_USE_SG: a frame may take several descriptors */
    bool chunk_check;              /* a descriptor may not cross a 4 KiB boundary (aligned, or driver ZC) */
    bool rx_skip;                  /* dropping the rest of a multi-buffer RX frame */
    bool tx_budget_big;            /* a kick sends the whole TX ring (XDP_MAX_TX_SKB_BUDGET) */
    bool veth;                     /* the peer's checksums may be left to "the NIC" (xdp_csum.c) */
    uint8_t tx_csum_want;          /* DEMI_XDP_TX_CKSUM: XDP_CSUM_* */
    bool tx_meta;                  /* the UMEM has XDP_TX_META_LEN bytes before each TX descriptor */
    bool tx_csum;                  /* frames asking for L4 checksums get them from the kernel */
    uint32_t max_descs;            /* per frame by reference: 1, or XDP_SG_MAX with sg */
    size_t frames_len;             /* nframes * XDP_FRAME_SIZE: where the pool's data starts */
    size_t pool_len;               /* the pool's data region in the UMEM (0: not there) */
    struct xdp_pend *pend;         /* TX descriptors not completed yet, in submission order */
    uint32_t pend_head, pend_tail;
    uint32_t outstanding;          /* RX frames held as dm_bufs */
    bool closed;                   /* device closed, waiting for outstanding */
    int fd;
    struct dm_dev *dev;
    struct xsk_umem *umem;         /* libxdp's path (DEMI_XDP_FILTER=all) */
    struct xsk_socket *xsk;
    struct xdp_shared sh;          /* our program's maps (shared path) */
    bool shared;                   /* the shared path: our program, our own socket */
    bool via_helper;               /* the privileged parts came from the helper */
    bool claimed;                  /* our queue record and XSKMAP slot are set */
    int ifindex;
    uint32_t queue;
    size_t area_len;
    uint32_t nframes;
    uint64_t ctr[XDP_NCTR];
    struct dm_dev_info info;
    uint64_t *free_frames;         /* the free stack */
    uint32_t addr;                 /* our address, network order */
    /* answers heard on other queues: ARP's (xdp_neigh, see arp_assist)
     * and neighbour discovery's (xdp_neigh6, see nd_assist) */
    struct xdp_neigh_tab neigh[XDP_NB_COUNT];
    /* frames the other processes of the interface hand us, and we them
     * (xdp_fwd.c): me is NULL alone on the interface */
    struct xdp_fwd fwd;
    /* frames for us on the queues without a socket of ours (xdp_stray.c) */
    struct xdp_stray stray;
    int ep_fd;                     /* alone (no fwd.me) with a packet socket: our wait fd */
    int helper_pkt;                /* a packet socket from the helper, until stray_open takes it */
    /* the interface's RSS, when we can compute it: active opens pick
     * ports whose replies come to our queue (xdp_rss.c); NULL: any port */
    struct xdp_rss *rss;
};

/* Drops a reference on the UMEM: the device's (closed, no received frame
 * out) or the buffer pool's (destroyed), whichever is last unmaps it. */
static void xdp_release(struct xdp_dev *xd)
{
    if (--xd->refs)
        return;
    if (xd->area)
        munmap(xd->area, xd->area_len);
    free(xd->free_frames);
    free(xd->pend);
    free(xd->rss);
    free(xd);
}

static void xdp_pool_released(void *arg)
{
    xdp_release(arg);
}

/* free_fn of received buffers: the frame goes back on the free stack. */
static void xdp_frame_free(struct dm_buf *b, void *arg)
{
    struct xdp_dev *xd = arg;
    xd->free_frames[xd->nfree++] = (uint64_t)(uintptr_t)b->dev_priv;
    xd->outstanding--;
    if (dm_unlikely(xd->closed && xd->outstanding == 0))
        xdp_release(xd);
}

/* Moves free frames to the fill ring, in one batch, keeping a quarter of
 * the UMEM for TX so a burst of RX cannot starve transmission. */
static void xdp_refill(struct xdp_dev *xd)
{
    uint32_t reserve = xd->nframes / 4, idx;
    if (xd->nfree <= reserve)
        return;
    uint32_t want = DM_MIN(xsk_prod_nb_free(&xd->x.fill, XDP_BATCH), xd->nfree - reserve);
    if (!want)
        return;
    if (xsk_ring_prod__reserve(&xd->x.fill, want, &idx) != want)
        return;
    for (uint32_t i = 0; i < want; i++)
        *xsk_ring_prod__fill_addr(&xd->x.fill, idx + i) = xd->free_frames[--xd->nfree];
    xsk_ring_prod__submit(&xd->x.fill, want);
}

static inline void pend_push(struct xdp_dev *xd, uint64_t addr, struct dm_buf *seg)
{
    struct xdp_pend *e = &xd->pend[xd->pend_tail++ & (XDP_PEND - 1)];
    e->addr = addr;
    e->seg = seg;
}

/* What a pending descriptor held goes back: the frame on the free stack,
 * or our reference on the segment. */
static inline void pend_done(struct xdp_dev *xd, const struct xdp_pend *e)
{
    if (e->seg)
        dm_buf_free_seg(e->seg);
    else
        xd->free_frames[xd->nfree++] = e->addr & ~(uint64_t)(XDP_FRAME_SIZE - 1); /* a copy at XDP_TX_COPY_OFF */
}

/*
 * Completions come back in the order the descriptors were submitted (one
 * TX queue; in copy mode the kernel completes a frame when its skb is
 * freed, on veth at the peer's IP receive), so each matches the oldest
 * pending descriptor. One that does not (a driver completing out of
 * order) is looked for among the others (xdp.comp_order); an address we
 * never submitted is ignored rather than trusted.
 */
static void xdp_reap_completions(struct xdp_dev *xd)
{
    uint32_t idx, n = xsk_ring_cons__peek(&xd->x.comp, XDP_RING_SIZE, &idx);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t addr = *xsk_ring_cons__comp_addr(&xd->x.comp, idx + i);
        if (dm_unlikely(xd->pend_head == xd->pend_tail)) {
            xd->ctr[XDP_C_COMP_ORDER]++;
            continue;
        }
        struct xdp_pend *h = &xd->pend[xd->pend_head & (XDP_PEND - 1)];
        if (dm_unlikely(h->addr != addr)) {
            uint32_t j = xd->pend_head + 1;
            while (j != xd->pend_tail && xd->pend[j & (XDP_PEND - 1)].addr != addr)
                j++;
            xd->ctr[XDP_C_COMP_ORDER]++;
            if (j == xd->pend_tail)
                continue;
            struct xdp_pend t = *h;
            *h = xd->pend[j & (XDP_PEND - 1)];
            xd->pend[j & (XDP_PEND - 1)] = t;
        }
        xd->pend_head++;
        pend_done(xd, h);
    }
    if (n)
        xsk_ring_cons__release(&xd->x.comp, n);
}

/*
 * ARP across queues. The peer sends its ARP frames on one queue (their
 * hash has no ports), so a process on another queue would never hear the
 * reply to its own request, nor the peer's request for us. The program
 * records the sender of every ARP frame addressed to us in xdp_neigh, on
 * whichever queue it came; when our stack sends an ARP request, the device
 * looks its target up there (a bpf syscall, per request only) and, when
 * someone heard it, hands the stack a reply made from it at the next
 * rx_burst. Not heard yet: it looks again every millisecond for a second
 * (the stack's own request goes out meanwhile, and its reply lands in the
 * map wherever it arrives).
 */
static void neigh_wait_add(struct xdp_neigh_tab *t, const uint8_t *key, uint32_t keylen, const uint8_t *src)
{
    uint8_t k[16] = { 0 };
    memcpy(k, key, keylen);
    for (uint32_t i = 0; i < t->nwait; i++)
        if (memcmp(t->wait[i].key, k, sizeof(k)) == 0)
            return;
    if (t->nwait < XDP_ARP_WAIT) {
        memcpy(t->wait[t->nwait].key, k, sizeof(k));
        if (src)
            memcpy(t->wait[t->nwait].src, src, 16);
        t->wait[t->nwait].until_ns = dm_clock_ns() + XDP_ARP_WAIT_NS;
        t->nwait++;
        t->next_ns = 0; /* look now */
    }
}

/* Moves the waiting requests whose answer someone heard (in map_fd) to
 * the table's answers. */
static void neigh_poll(struct xdp_neigh_tab *t, int map_fd)
{
    int64_t now = dm_clock_ns();
    if (now < t->next_ns)
        return;
    t->next_ns = now + XDP_ARP_POLL_NS;
    for (uint32_t i = 0; i < t->nwait;) {
        struct { uint8_t mac[6]; uint16_t pad; } v;
        bool found = bpf_map_lookup_elem(map_fd, t->wait[i].key, &v) == 0;
        if (found && t->ninject < XDP_ARP_WAIT) {
            memcpy(t->inject[t->ninject].key, t->wait[i].key, 16);
            memcpy(t->inject[t->ninject].dst, t->wait[i].src, 16);
            memcpy(t->inject[t->ninject].mac, v.mac, 6);
            t->ninject++;
        }
        if (found || now >= t->wait[i].until_ns)
            t->wait[i] = t->wait[--t->nwait];
        else
            i++;
    }
}

static void arp_assist(struct xdp_dev *xd, const uint8_t *f, uint32_t len)
{
    if (len < 42 || f[12] != 0x08 || f[13] != 0x06 || f[20] != 0 || f[21] != 1 || xd->sh.neigh_fd < 0)
        return; /* not an ARP request */
    neigh_wait_add(&xd->neigh[XDP_NB_ARP], f + 38, 4, NULL);
}

/* A free frame as a received buffer of `len` bytes for a frame we make,
 * or NULL: the quarter of the UMEM that TX keeps stays out of it, as
 * for the fill ring. */
static struct dm_buf *inject_buf(struct xdp_dev *xd, uint32_t len)
{
    if (xd->nfree <= xd->nframes / 4)
        return NULL;
    uint64_t addr = xd->free_frames[--xd->nfree];
    struct dm_buf *b = dm_buf_wrap_ext(xd->dev->inst, xd->area + addr, len, xdp_frame_free, xd);
    if (!b) {
        xd->free_frames[xd->nfree++] = addr;
        return NULL;
    }
    b->dev_priv = (void *)(uintptr_t)addr;
    xd->outstanding++;
    return b;
}

/* An ARP reply from the peer as it would have come, in a free frame. */
static uint16_t arp_inject(struct xdp_dev *xd, struct dm_buf **pkts, uint16_t n)
{
    struct xdp_neigh_tab *t = &xd->neigh[XDP_NB_ARP];
    uint16_t k = 0;
    while (t->ninject && k < n) {
        const uint8_t *peer = t->inject[t->ninject - 1].mac;
        const uint8_t *ip = t->inject[t->ninject - 1].key;
        static const uint8_t hdr[10] = {0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 2};
        struct dm_buf *b = inject_buf(xd, 42);
        if (!b)
            break;
        uint8_t *f = b->data;
        memcpy(f, xd->info.mac, 6);
        memcpy(f + 6, peer, 6);
        memcpy(f + 12, hdr, sizeof(hdr));
        memcpy(f + 22, peer, 6);
        memcpy(f + 28, ip, 4);
        memcpy(f + 32, xd->info.mac, 6);
        memcpy(f + 38, &xd->addr, 4);
        pkts[k++] = b;
        t->ninject--;
        xd->ctr[XDP_C_ARP_SHARED]++;
    }
    return k;
}

/*
 * Neighbour discovery across queues, as ARP above: the advertisement
 * answering our solicitation comes back to our address on the queue the
 * peer's hash picks, maybe another process's. The program records the
 * target of every solicited advertisement sent to one of our addresses
 * in xdp_neigh6; when our stack sends a solicitation (in xdp_tx: IPv6,
 * next header ICMPv6, type 135, no extension header, as stacks/inet sends
 * them), the device looks its target up there and hands the stack an
 * advertisement made from it. Offsets in the frame: IPv6 header at 14
 * (next header 20, source 22, destination 38), ICMPv6 at 54, target at 62.
 */
#define ND_FRAME_MIN 78              /* Ethernet + IPv6 + NS up to its target */
#define ND_NA_LEN    32              /* NA with a target link-layer option */

static void nd_assist(struct xdp_dev *xd, const uint8_t *f, uint32_t len)
{
    if (len < ND_FRAME_MIN || f[54] != 135 || f[55] != 0 || xd->sh.neigh6_fd < 0)
        return; /* not a solicitation */
    neigh_wait_add(&xd->neigh[XDP_NB_ND], f + 62, 16, f + 22);
}

/* Adds `len` (even) bytes to a ones' complement sum, as 16-bit big-endian
 * words. */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, uint32_t len)
{
    for (uint32_t i = 0; i < len; i += 2)
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    return sum;
}

/* The peer's solicited advertisement as it would have come (RFC 4861 4.4:
 * hop limit 255, solicited and override, the target link-layer option),
 * from the target to the source of our solicitation, in a free frame. */
static uint16_t nd_inject(struct xdp_dev *xd, struct dm_buf **pkts, uint16_t n)
{
    struct xdp_neigh_tab *t = &xd->neigh[XDP_NB_ND];
    uint16_t k = 0;
    while (t->ninject && k < n) {
        const struct xdp_neigh_answer *e = &t->inject[t->ninject - 1];
        struct dm_buf *b = inject_buf(xd, 54 + ND_NA_LEN);
        if (!b)
            break;
        uint8_t *f = b->data;
        static const uint8_t ip6[8] = {0x60, 0, 0, 0, 0, ND_NA_LEN, 58, 255};
        static const uint8_t na[8] = {136, 0, 0, 0, 0x60, 0, 0, 0}; /* checksum 0 for now */
        memcpy(f, xd->info.mac, 6);
        memcpy(f + 6, e->mac, 6);
        f[12] = 0x86, f[13] = 0xdd;
        memcpy(f + 14, ip6, 8);
        memcpy(f + 22, e->key, 16);
        memcpy(f + 38, e->dst, 16);
        memcpy(f + 54, na, 8);
        memcpy(f + 62, e->key, 16);
        f[78] = 2, f[79] = 1; /* target link-layer address, 8 bytes */
        memcpy(f + 80, e->mac, 6);
        /* pseudo-header (RFC 8200 8.1): addresses, length, next header */
        uint32_t sum = csum_add(0, f + 22, 32) + ND_NA_LEN + 58;
        sum = csum_add(sum, f + 54, ND_NA_LEN);
        while (sum >> 16)
            sum = (sum & 0xffff) + (sum >> 16);
        f[56] = (uint8_t)(~sum >> 8), f[57] = (uint8_t)~sum;
        pkts[k++] = b;
        t->ninject--;
        xd->ctr[XDP_C_ND_SHARED]++;
    }
    return k;
}

/* Polls both tables and hands the stack what someone heard for us. */
static uint16_t neigh_rx(struct xdp_dev *xd, struct dm_buf **pkts, uint16_t n)
{
    uint16_t k = 0;
    if (xd->neigh[XDP_NB_ARP].nwait)
        neigh_poll(&xd->neigh[XDP_NB_ARP], xd->sh.neigh_fd);
    if (xd->neigh[XDP_NB_ND].nwait)
        neigh_poll(&xd->neigh[XDP_NB_ND], xd->sh.neigh6_fd);
    if (xd->neigh[XDP_NB_ARP].ninject)
        k = arp_inject(xd, pkts, n);
    if (xd->neigh[XDP_NB_ND].ninject && k < n)
        k = (uint16_t)(k + nd_inject(xd, pkts + k, (uint16_t)(n - k)));
    return k;
}

/* On a veth: a TCP/UDP frame whose checksum the peer left to the NIC is
 * good as it is (xdp_csum.c). */
static inline void rx_csum(struct xdp_dev *xd, struct dm_buf *b)
{
    if (xd->veth) {
        uint32_t f = xdp_csum_rx_partial(b->data, b->len);
        b->ol_flags |= f;
        xd->ctr[XDP_C_RX_CSUM_PARTIAL] += f != 0;
    }
}

/* Where a frame handed to us keeps its route (the queues it has been to,
 * for xdp_forward if we hand it on again): the last 8 bytes of its UMEM
 * frame, past any frame a slot holds. */
static inline uint8_t *fwd_route_of(const struct xdp_dev *xd, uint64_t frame)
{
    return xd->area + frame + XDP_FRAME_SIZE - sizeof(uint64_t);
}

/* Frames the other processes handed us, in free UMEM frames, as if
 * received (DM_BUF_RX_FORWARDED). Out of frames: they wait on the ring. */
static uint16_t fwd_rx(struct xdp_dev *xd, struct dm_buf **pkts, uint16_t n)
{
    _Static_assert(XDP_FWD_DATA + sizeof(uint64_t) <= XDP_FRAME_SIZE, "a slot's frame and its route in a frame");
    const uint8_t *data;
    uint32_t len;
    uint64_t route;
    uint16_t k = 0;
    xdp_fwd_wake_take(&xd->fwd);
    while (k < n && (data = xdp_fwd_peek(&xd->fwd, &len, &route)) != NULL) {
        struct dm_buf *b = len ? inject_buf(xd, len) : NULL;
        if (len && !b)
            break;
        if (b) {
            memcpy(b->data, data, len);
            memcpy(fwd_route_of(xd, (uint64_t)(uintptr_t)b->dev_priv), &route, sizeof(route));
            b->ol_flags |= DM_BUF_RX_FORWARDED;
            rx_csum(xd, b);
            pkts[k++] = b;
            xd->ctr[XDP_C_FWD_IN]++;
        }
        xdp_fwd_pop(&xd->fwd);
    }
    return k;
}

/* Frames the kernel got on a queue no process of ours holds (our packet
 * socket: xdp_stray.c), in free UMEM frames, as if received here. Left
 * to the kernel when it has our address. Out of frames: they wait. */
static uint16_t stray_rx(struct xdp_dev *xd, struct dm_buf **pkts, uint16_t n)
{
    const uint8_t *data;
    uint32_t len;
    bool trunc, kernel = xdp_stray_kernel_has(&xd->stray);
    uint16_t k = 0;
    while (k < n && (data = xdp_stray_peek(&xd->stray, &len, &trunc)) != NULL) {
        if (kernel || trunc || len > XDP_FRAME_SIZE - XDP_PACKET_HEADROOM) {
            xd->ctr[kernel ? XDP_C_STRAY_KERNEL : XDP_C_STRAY_TRUNC]++;
        } else {
            struct dm_buf *b = inject_buf(xd, len);
            if (!b)
                break;
            memcpy(b->data, data, len);
            rx_csum(xd, b);
            pkts[k++] = b;
            xd->ctr[XDP_C_STRAY_RX]++;
        }
        xdp_stray_pop(&xd->stray);
    }
    return k;
}

static uint16_t xdp_rx(struct dm_dev *dev, struct dm_buf **pkts, uint16_t n)
{
    struct xdp_dev *xd = dev->priv;
    uint32_t idx, got, k = 0;

    if (dm_unlikely(xd->neigh[XDP_NB_ARP].nwait | xd->neigh[XDP_NB_ARP].ninject | xd->neigh[XDP_NB_ND].nwait |
                    xd->neigh[XDP_NB_ND].ninject)) {
        if ((k = neigh_rx(xd, pkts, n)) == n)
            return (uint16_t)k;
        pkts += k;
        n = (uint16_t)(n - k);
    }
    if (dm_unlikely(xdp_fwd_pending(&xd->fwd))) {
        uint16_t f = fwd_rx(xd, pkts, n);
        pkts += f;
        n = (uint16_t)(n - f);
        k += f;
        if (!n)
            return (uint16_t)k;
    }
    if (dm_unlikely(xdp_stray_pending(&xd->stray))) {
        uint16_t f = stray_rx(xd, pkts, n);
        pkts += f;
        n = (uint16_t)(n - f);
        k += f;
        if (!n)
            return (uint16_t)k;
    }
    uint32_t injected = k;
    k = 0;
    xdp_refill(xd);
    got = xsk_ring_cons__peek(&xd->x.rx, n, &idx);
    if (!got) {
        if (xsk_ring_prod__needs_wakeup(&xd->x.fill)) {
            xd->ctr[XDP_C_FILL_KICKS]++;
            recvfrom(xd->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
        }
        if (xd->nfree <= xd->nframes / 4 && xsk_prod_nb_free(&xd->x.fill, XDP_RING_SIZE) == XDP_RING_SIZE)
            xd->ctr[XDP_C_FILL_EMPTY]++; /* the application holds every RX frame */
        return (uint16_t)injected;
    }
    /* Half the UMEM held by the stack and the application (RX may use
     * three quarters of it, the rest is TX's): ask whoever keeps these for
     * long to copy them (DM_BUF_RX_SCARCE). */
    uint32_t scarce = xd->outstanding + got > xd->nframes / 2 ? DM_BUF_RX_SCARCE : 0, j = 0;
    for (; j < got; j++) {
        const struct xdp_desc *d = xsk_ring_cons__rx_desc(&xd->x.rx, idx + j);
        uint64_t addr = xsk_umem__add_offset_to_addr(d->addr);
        uint64_t frame = addr & ~(uint64_t)(XDP_FRAME_SIZE - 1);
        /* Bound with XDP_USE_SG (for TX), a frame longer than one UMEM
         * frame would come in several descriptors: dropped, as the kernel
         * drops it without XDP_USE_SG (our MTU keeps peers below it). */
        if (dm_unlikely(xd->rx_skip || (d->options & XDP_PKT_CONTD))) {
            xd->rx_skip = d->options & XDP_PKT_CONTD;
            xd->free_frames[xd->nfree++] = frame;
            xd->ctr[XDP_C_RX_MULTI]++;
            continue;
        }
        struct dm_buf *b = dm_buf_wrap_ext(dev->inst, xd->area + addr, d->len, xdp_frame_free, xd);
        if (dm_unlikely(!b)) {
            xd->ctr[XDP_C_RX_NO_HDR]++;
            break;
        }
        b->dev_priv = (void *)(uintptr_t)frame;
        b->ol_flags |= scarce;
        rx_csum(xd, b);
        pkts[k++] = b;
    }
    if (j < got)
        xsk_ring_cons__cancel(&xd->x.rx, got - j);
    xsk_ring_cons__release(&xd->x.rx, j);
    xd->outstanding += k;
    xd->ctr[XDP_C_RX] += k;
    if (scarce)
        xd->ctr[XDP_C_RX_SCARCE] += k;
    return (uint16_t)(k + injected);
}

/* Descriptors frame p takes by reference: one per non-empty segment, when
 * every one lies in the UMEM where the kernel takes a descriptor (within
 * a 4 KiB chunk when it asks for that), the first holds the Ethernet
 * header and there are at most max_descs. 0: it is copied. */
static inline uint32_t tx_ref_descs(const struct xdp_dev *xd, const struct dm_buf *p)
{
    uintptr_t lo = (uintptr_t)xd->area;
    uint32_t nd = 0, meta = xd->tx_meta ? XDP_TX_META_LEN : 0;
    if (!xd->tx_ref || p->len < 14)
        return 0;
    /* a checksum request goes in the head's headroom: only when that is
     * the head's own (not a slice of, or shared with, another buffer) */
    if ((p->ol_flags & (DM_BUF_TX_TCP_CKSUM | DM_BUF_TX_UDP_CKSUM)) &&
        (p->refcnt != 1 || p->shared || dm_buf_headroom(p) < XDP_TX_META_LEN))
        return 0;
    for (const struct dm_buf *s = p; s; s = s->next) {
        if (!s->len)
            continue;
        uintptr_t a = (uintptr_t)s->data;
        /* with metadata the kernel wants its room before every descriptor */
        if (a < lo + meta || a - lo > xd->area_len || s->len > xd->area_len - (a - lo) ||
            s->len + meta > XDP_FRAME_SIZE)
            return 0;
        if (xd->chunk_check && (((a - lo) & (XDP_FRAME_SIZE - 1)) + s->len > XDP_FRAME_SIZE ||
                                ((a - lo) & (XDP_FRAME_SIZE - 1)) < meta))
            return 0;
        if (++nd > xd->max_descs)
            return 0;
    }
    /* the kernel's software checksum (DEMI_XDP_TX_CKSUM=sw) sums the
     * first descriptor alone: a frame in several goes by copy */
    if (nd > 1 && xd->tx_csum_want == XDP_CSUM_SW && (p->ol_flags & (DM_BUF_TX_TCP_CKSUM | DM_BUF_TX_UDP_CKSUM)))
        return 0;
    return nd;
}

/* Frame p's checksum request, in the TX metadata before `frame` (its
 * first byte in the UMEM); XDP_TX_METADATA for its first descriptor, or 0
 * when it asks for none. */
static inline uint32_t tx_meta_fill(struct xdp_dev *xd, const struct dm_buf *p, uint8_t *frame)
{
    uint32_t ol = p->ol_flags & (DM_BUF_TX_TCP_CKSUM | DM_BUF_TX_UDP_CKSUM);
    if (!ol)
        return 0;
    /* by reference the frame starts where its headers begin: any alignment */
    struct xdp_tx_meta m = {
        .flags = XDP_TXMD_CSUM,
        .csum_start = (uint16_t)(p->l2_len + p->l3_len),
        .csum_offset = ol & DM_BUF_TX_TCP_CKSUM ? 16 : 6,
    };
    memcpy(frame - XDP_TX_META_LEN, &m, sizeof(m));
    xd->ctr[XDP_C_TX_CSUM]++;
    return XDP_TX_METADATA;
}

/* Frame p on the TX ring at idx as nd descriptors naming its segments; the
 * chain comes apart, each segment held until its own completion. */
static inline void tx_by_ref(struct xdp_dev *xd, struct dm_buf *p, uint32_t idx, uint32_t nd)
{
    uint32_t k = 0, first = xd->tx_csum ? tx_meta_fill(xd, p, p->data) : 0;
    for (struct dm_buf *s = p, *next; s; s = next) {
        next = s->next;
        s->next = NULL;
        if (!s->len) {
            dm_buf_free_seg(s);
            continue;
        }
        struct xdp_desc *d = xsk_ring_prod__tx_desc(&xd->x.tx, idx + k);
        d->addr = (uint64_t)(s->data - xd->area);
        d->len = s->len;
        d->options = k ? 0 : first;
        d->options |= ++k < nd ? XDP_PKT_CONTD : 0;
        pend_push(xd, d->addr, s);
    }
}

/*
 * In copy mode a kick sends at most the socket's TX budget of descriptors
 * (32 before Linux 6.17's XDP_MAX_TX_SKB_BUDGET, which we raise to the
 * ring's size at open) and answers EAGAIN with the rest still on the
 * ring. Frames by reference take two descriptors or more: with the small
 * budget, what a burst left would wait for the next burst (a
 * retransmission timeout away at the end of a transfer), so kick again
 * while the kernel takes more, a bounded number of times.
 */
static void tx_kick(struct xdp_dev *xd)
{
    for (uint32_t k = 0; k < XDP_RING_SIZE / 32; k++) {
        xd->ctr[XDP_C_TX_KICKS]++;
        if (sendto(xd->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0 || errno != EAGAIN || xd->tx_budget_big)
            return;
        if (xsk_prod_nb_free(&xd->x.tx, XDP_RING_SIZE) == XDP_RING_SIZE)
            return; /* all taken: EAGAIN said the completion ring or the socket's memory is full */
    }
}

static uint16_t xdp_tx(struct dm_dev *dev, struct dm_buf **pkts, uint16_t n)
{
    struct xdp_dev *xd = dev->priv;
    uint32_t idx, sent = 0, ndesc = 0;
    uint16_t i;

    xdp_reap_completions(xd);
    for (i = 0; i < n; i++) {
        struct dm_buf *p = pkts[i];
        if (dm_unlikely(p->pkt_len > XDP_FRAME_SIZE - XDP_TX_COPY_OFF || p->pkt_len < 14)) {
            xd->ctr[XDP_C_TX_BAD]++;
            dm_buf_free(p); /* taken and dropped, as a NIC would */
            continue;
        }
        uint32_t nd = tx_ref_descs(xd, p), need = nd ? nd : 1;
        if (dm_unlikely(XDP_PEND - (xd->pend_tail - xd->pend_head) < need || (!nd && !xd->nfree) ||
                        xsk_ring_prod__reserve(&xd->x.tx, need, &idx) != need))
            break;
        if (dm_unlikely(p->len >= 14 && p->data[12] == 0x08 && p->data[13] == 0x06))
            arp_assist(xd, p->data, p->len);
        else if (dm_unlikely(p->len >= 21 && p->data[12] == 0x86 && p->data[13] == 0xdd && p->data[20] == 58))
            nd_assist(xd, p->data, p->len);
        if (nd) {
            tx_by_ref(xd, p, idx, nd);
            xd->ctr[XDP_C_TX_ZC]++;
            xd->ctr[XDP_C_TX_ZC_DESCS] += nd;
        } else {
            uint64_t addr = xd->free_frames[--xd->nfree] + (xd->tx_meta ? XDP_TX_COPY_OFF : 0);
            dm_buf_copy_out(p, 0, xd->area + addr, p->pkt_len);
            struct xdp_desc *d = xsk_ring_prod__tx_desc(&xd->x.tx, idx);
            d->addr = addr;
            d->len = p->pkt_len;
            d->options = xd->tx_csum ? tx_meta_fill(xd, p, xd->area + addr) : 0;
            pend_push(xd, addr, NULL);
            dm_buf_free(p);
            xd->ctr[XDP_C_TX_COPY]++;
        }
        ndesc += need;
        sent++;
    }
    if (ndesc)
        xsk_ring_prod__submit(&xd->x.tx, ndesc);
    /* kick when asked to, and also when we are stuck so completions flow */
    if ((sent || i < n) && xsk_ring_prod__needs_wakeup(&xd->x.tx))
        tx_kick(xd);
    xd->ctr[XDP_C_TX] += sent;
    xd->ctr[XDP_C_TX_FULL] += (uint64_t)(n - i);
    return i;
}

static int iface_query(const char *ifname, struct dm_dev_info *info, bool want_mac)
{
    struct ifreq ifr;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;
    if (s < 0)
        return -errno;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    if (want_mac) {
        if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0) {
            err = -errno;
            goto out;
        }
        memcpy(info->mac, ifr.ifr_hwaddr.sa_data, 6);
    }
    if (ioctl(s, SIOCGIFMTU, &ifr) == 0)
        info->mtu = (uint16_t)DM_MIN(ifr.ifr_mtu, XDP_FRAME_SIZE - XDP_PACKET_HEADROOM - 18);
    if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0)
        info->link_up = (ifr.ifr_flags & IFF_UP) && (ifr.ifr_flags & IFF_RUNNING);
out:
    close(s);
    return err;
}

/* How many RX queues the interface can have (ethtool's maximum, so that
 * channels added later still have an XSKMAP slot), at least queue + 1.
 * *now gets the current count when known, else 0. */
uint32_t xdp_iface_queues(const char *ifname, uint32_t queue, uint32_t *now)
{
    struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
    struct ifreq ifr;
    uint32_t n = 0;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    *now = 0;
    if (s >= 0) {
        memset(&ifr, 0, sizeof(ifr));
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
        ifr.ifr_data = (void *)&ch;
        if (ioctl(s, SIOCETHTOOL, &ifr) == 0) {
            n = DM_MAX(ch.max_rx, ch.max_combined);
            *now = DM_MAX(ch.rx_count, ch.combined_count);
        }
        close(s);
    }
    if (!n) { /* no ethtool channels (e.g. some virtual devices): sysfs */
        char path[64];
        snprintf(path, sizeof(path), "/sys/class/net/%s/queues", ifname);
        DIR *d = opendir(path);
        for (struct dirent *e; d && (e = readdir(d));)
            n += strncmp(e->d_name, "rx-", 3) == 0;
        if (d)
            closedir(d);
        *now = n;
    }
    return DM_MAX(n, queue + 1);
}

/* Our address for the XDP program: DEMI_IPV4 (a.b.c.d[/len]), as the
 * stack on top reads it; the device sees the same configuration. */
int xdp_our_ipv4(const struct dm_config *cfg, uint32_t *addr)
{
    const char *v = dm_cfg_str(cfg, DM_CFG_IPV4);
    char ip[INET_ADDRSTRLEN];
    struct in_addr a;
    if (!v || !*v)
        return -ENOENT;
    size_t len = strcspn(v, "/");
    if (len >= sizeof(ip))
        return -EINVAL;
    memcpy(ip, v, len);
    ip[len] = '\0';
    if (inet_pton(AF_INET, ip, &a) != 1 || a.s_addr == 0)
        return -EINVAL;
    *addr = a.s_addr;
    return 0;
}

int xdp_our_addrs_get(const struct dm_config *cfg, struct xdp_our_addrs *a)
{
    int err = xdp_our_ipv4(cfg, &a->v4);
    if (err < 0)
        return err;
    a->has6 = false;
    const char *v = dm_cfg_str(cfg, DM_CFG_IPV6);
    if (v && *v) {
        char ip[INET6_ADDRSTRLEN];
        size_t len = strcspn(v, "/");
        if (len >= sizeof(ip))
            return -EINVAL;
        memcpy(ip, v, len);
        ip[len] = '\0';
        if (inet_pton(AF_INET6, ip, a->v6) != 1)
            return -EINVAL;
        a->has6 = true;
    }
    return 0;
}

/* DEMI_XDP_FILTER=ip (default): our XDP program, with our address. "all"
 * (or ip in a build without clang): libxdp's default program, which takes
 * every frame of the queue. Returns 1 for ip, 0 for all, -EINVAL. */
static int filter_mode(const struct dm_config *cfg, struct xdp_our_addrs *addr)
{
    enum { FILTER_IP, FILTER_ALL }; /* DEMI_XDP_FILTER's choices, in table order */
    int f, err;
    if ((err = dm_cfg_enum(cfg, DM_CFG_XDP_FILTER, &f)) < 0)
        return err;
    if (f == FILTER_ALL)
        return 0;
    if ((err = xdp_our_addrs_get(cfg, addr)) < 0) {
        DM_ERR("xdp", "DEMI_XDP_FILTER=ip needs our address in DEMI_IPV4 (%s) and DEMI_IPV6, when set, an IPv6 "
               "address; DEMI_XDP_FILTER=all takes every frame instead",
               err == -ENOENT ? "unset" : "or DEMI_IPV6 is not an address");
        return -EINVAL;
    }
    return 1;
}

/* libbpf/libxdp chatter ("no bpffs, falling back...") goes to our log at
 * debug level instead of stderr. */
static int xdp_lib_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    char msg[256];
    if (dm_log_level < DM_LOG_DEBUG && level != LIBBPF_WARN)
        return 0;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    DM_DEBUG("xdp", "lib: %s", msg);
    return 0;
}

static int xdp_libxdp_print(enum libxdp_print_level level, const char *fmt, va_list ap)
{
    return xdp_lib_print(level == LIBXDP_WARN ? LIBBPF_WARN : LIBBPF_DEBUG, fmt, ap);
}

/* Forked children get our mappings of the rings not at all (MADV_DONTFORK)
 * and close their copy of each socket: a copy would keep the socket, and
 * with it our queue and XSKMAP slot, alive after we exit. */
#define XDP_MAX_OPEN 64
static int open_fds[XDP_MAX_OPEN];

static void xdp_atfork_child(void)
{
    for (int i = 0; i < XDP_MAX_OPEN; i++) {
        int fd = __atomic_exchange_n(&open_fds[i], 0, __ATOMIC_RELAXED);
        if (fd > 0)
            syscall(SYS_close, fd); /* inside fork: past the preload's hooks and their lock */
    }
}

static void xdp_atfork_register(void)
{
    pthread_atfork(NULL, NULL, xdp_atfork_child);
}

static void track_fd(int fd, bool add)
{
    for (int i = 0; i < XDP_MAX_OPEN; i++) {
        int expect = add ? 0 : fd;
        if (__atomic_compare_exchange_n(&open_fds[i], &expect, add ? fd : 0, false, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
            return;
    }
}

static const char *mode_name(bool zc)
{
    return zc ? "zero-copy" : "copy";
}

static const char *tx_mode(const struct xdp_dev *xd)
{
    if (!xd->tx_ref)
        return "by copy (DEMI_XDP_TX_REF=0)";
    if (!xd->pool_len)
        return xd->sg ? "by reference for received frames only, multi-buffer" : "by reference for received "
                                                                                 "frames only";
    return xd->sg ? "by reference (buffer pool in the UMEM), multi-buffer" : "by reference (buffer pool in the "
                                                                             "UMEM), one segment per frame";
}

static const char *csum_mode(const struct xdp_dev *xd)
{
    if (xd->tx_csum)
        return xd->tx_csum_want == XDP_CSUM_SW ? "the kernel's, in software" : "the kernel's (TX metadata)";
    return xd->tx_csum_want == XDP_CSUM_STACK ? "the stack's" : "the stack's (no TX metadata here)";
}

/* Copy mode, with XDP_USE_SG when we send by reference (multi-buffer TX:
 * a header and its payload slices in one frame); a kernel without it
 * (before 6.6: -EINVAL) binds without, and chains are then copied. */
static int bind_copy(struct xdp_dev *xd, uint32_t q)
{
    int err = -EINVAL;
    xd->sg = false;
    if (xd->tx_ref && (err = xdp_xsk_bind(xd->fd, xd->ifindex, q, false, true)) == 0) {
        xd->sg = true;
        return 0;
    }
    if (err == -EBUSY)
        return err;
    return xdp_xsk_bind(xd->fd, xd->ifindex, q, false, false);
}

/* Binds the socket: DEMI_XDP_QUEUE, or (auto, queue < 0) the first queue no
 * live process holds. A queue whose last socket was just released (its
 * owner exited) is still bound for a moment (the kernel frees it
 * asynchronously): -EBUSY then means "not yet", so we try `max_tries`
 * times, 50 ms apart (40: 2 s). */
static int bind_queue(struct xdp_dev *xd, int64_t queue, uint32_t nq_now, bool *zc, int max_tries)
{
    uint32_t first = queue < 0 ? 0 : (uint32_t)queue, last = queue < 0 ? nq_now : (uint32_t)queue + 1;
    for (int tries = 0; tries < max_tries; tries++) {
        bool busy = false;
        for (uint32_t q = first; q < last; q++) {
            /* first the queues nobody holds; then every queue, since the
             * kernel decides (an owner that exec'd keeps its pid but not
             * its socket) */
            if (queue < 0 && tries == 0 && xdp_queue_taken(&xd->sh, q)) {
                busy = true;
                continue;
            }
            /* driver zero-copy without XDP_USE_SG: how many descriptors a
             * driver takes per frame is its own (xdp_zc_max_segs), and a
             * longer frame is dropped without completion */
            int err = *zc ? xdp_xsk_bind(xd->fd, xd->ifindex, q, true, false) : bind_copy(xd, q);
            if (err < 0 && err != -EBUSY && *zc) {
                *zc = false; /* veth and most virtual devices: copy mode only */
                err = bind_copy(xd, q);
            }
            if (err == 0) {
                xd->queue = q;
                return 0;
            }
            if (err != -EBUSY)
                return err;
            busy = true;
        }
        if (!busy)
            break;
        if (tries + 1 < max_tries) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    return -EBUSY;
}

/* Every queue has a live owner: at nginx's reload the new workers start
 * while the old ones still finish their connections on their queues.
 * Waits for one to come free, the interface lock dropped between looks
 * (a leaving process needs it); meanwhile the old one's new flows go to
 * the other processes (xdp_fwd.c). Returns with the lock held (*lock)
 * when bound; -EBUSY when none came free in wait_ms. */
static int bind_wait(struct xdp_dev *xd, const char *ifname, uint32_t nq, bool *zc, int64_t wait_ms, int *lock)
{
    DM_WARN("xdp", "%s: every queue has a live socket: waiting up to %lld ms for one (DEMI_XDP_CLAIM_WAIT_MS)",
            ifname, (long long)wait_ms);
    int64_t end = dm_clock_ns() + wait_ms * DM_NS_PER_MS;
    int err = -EBUSY;
    xdp_if_unlock(*lock);
    *lock = -1;
    while (err == -EBUSY && dm_clock_ns() < end) {
        /* the others drop a SYN no process listens for meanwhile, as for
         * a starting one, instead of refusing it */
        xdp_fwd_waiting(&xd->fwd);
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
        if ((*lock = xdp_if_lock(xd->ifindex, 10000)) < 0)
            return *lock;
        if ((err = bind_queue(xd, -1, nq, zc, 2)) == -EBUSY) {
            xdp_if_unlock(*lock);
            *lock = -1;
        }
    }
    if (err == 0)
        DM_INFO("xdp", "%s: queue %u came free", ifname, xd->queue);
    return err;
}

/* The shared path (DEMI_XDP_FILTER=ip): the interface's one program, our
 * own socket on a queue of our own. */
static int open_shared(struct xdp_dev *xd, const char *ifname, int64_t queue, uint32_t nqueues, uint32_t nq_now,
                       const struct xdp_our_addrs *addr, bool force_copy, bool *zc, int64_t wait_ms)
{
    int memfd = memfd_create("demi-xdp-umem", MFD_CLOEXEC), err, lock;
    xd->sh.xsks_fd = xd->sh.queues_fd = xd->sh.neigh_fd = xd->sh.neigh6_fd = xd->sh.fwd_fd = -1;
    xd->fd = -1;
    if (memfd < 0)
        return -errno;
    if (ftruncate(memfd, (off_t)xd->area_len) < 0) {
        err = -errno;
        close(memfd);
        return err;
    }
    void *area = mmap(NULL, xd->area_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, memfd, 0);
    if (area == MAP_FAILED) {
        err = -errno;
        close(memfd);
        return err;
    }
    xd->area = area;
    if ((lock = xdp_if_lock(xd->ifindex, 10000)) < 0) {
        close(memfd);
        DM_ERR("xdp", "%s: another process holds the interface's lock (@demi-xdp-lock-%d) for 10 s: %s", ifname,
               xd->ifindex, strerror(-lock));
        return lock;
    }
    /* Privileged part: here when we can, else from the helper. */
    uint32_t umem_flags = xd->pool_len ? XDP_UMEM_UNALIGNED_CHUNK_FLAG : 0;
    if (xd->tx_csum_want != XDP_CSUM_STACK)
        umem_flags |= XDP_UMEM_TX_METADATA_LEN | (xd->tx_csum_want == XDP_CSUM_SW ? XDP_UMEM_TX_SW_CSUM : 0);
    err = xdp_shared_get(xd->ifindex, nqueues, addr, &xd->sh);
    if (err == 0 && (xd->fd = xdp_xsk_umem_socket(memfd, xd->area_len, XDP_FRAME_SIZE, &umem_flags)) < 0) {
        err = xd->fd;
        xd->fd = -1;
        xdp_shared_close(&xd->sh);
    }
    if ((err == -EPERM || err == -EACCES) && xdp_helper_fd() >= 0) {
        xd->via_helper = true;
        err = xdp_helper_get(memfd, xd->area_len, &umem_flags, &xd->sh, &xd->fd, &xd->helper_pkt);
        if (err < 0)
            DM_ERR("xdp", "%s: the privileged helper could not give us a socket: %s", ifname, strerror(-err));
    } else if (err == -EPERM || err == -EACCES) {
        DM_ERR("xdp", "%s: no privilege for AF_XDP (CAP_NET_RAW, CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN) and no "
               "helper: start the process as root (a root parent that forks this one starts the helper, "
               "DEMI_XDP_HELPER)", ifname);
    } else if (err == -EEXIST) {
        DM_ERR("xdp", "%s: another XDP program holds the interface alone", ifname);
    } else if (err == -ENOSPC) {
        DM_ERR("xdp", "%s: the kernel refused our XDP program: %s (a veth takes XDP only when this end has at "
               "least as many RX queues as its peer has TX queues: make both with the same numrxqueues and "
               "numtxqueues)", ifname, strerror(-err));
    } else if (err == -ESTALE) {
        DM_ERR("xdp", "%s: a copy of our XDP program from another version of the library holds the interface "
               "(ip link set dev %s xdp off, once no process uses it)", ifname, ifname);
    } else if (err < 0) {
        DM_ERR("xdp", "%s: our XDP program or the AF_XDP socket: %s", ifname, strerror(-err));
    }
    close(memfd);
    if (err < 0)
        goto out;
    xd->tx_meta = umem_flags & XDP_UMEM_TX_METADATA_LEN;
    /* Unprivileged part. */
    /* before the bind: a wait for a queue (bind_wait) is told through it */
    int ferr = xdp_fwd_map(&xd->fwd, xd->sh.fwd_fd, xd->sh.nqueues);
    if ((err = xdp_xsk_rings(&xd->x, xd->fd, XDP_RING_SIZE)) < 0) {
        DM_ERR("xdp", "%s: the socket's rings: %s", ifname, strerror(-err));
        goto out;
    }
    *zc = !force_copy;
    err = bind_queue(xd, queue, nq_now ? nq_now : nqueues, zc, 40);
    if (err == -EBUSY && queue < 0 && wait_ms > 0)
        err = bind_wait(xd, ifname, nq_now ? nq_now : nqueues, zc, wait_ms, &lock);
    if (err < 0) {
        if (err == -EBUSY && queue < 0) {
            char who[128] = "";
            size_t off = 0;
            for (uint32_t q = 0; q < (nq_now ? nq_now : nqueues) && off < sizeof(who) - 16; q++)
                off += (size_t)snprintf(who + off, sizeof(who) - off, " %u:pid %u", q, xdp_queue_pid(&xd->sh, q));
            DM_ERR("xdp", "%s: every queue has a socket (queue:owner%s); add queues (ethtool -L) or run fewer "
                   "processes", ifname, who);
        } else {
            DM_ERR("xdp", "%s queue %lld: bind: %s", ifname, (long long)queue, strerror(-err));
        }
        goto out;
    }
    uint32_t q = xd->queue;
    if ((err = xdp_queue_set(&xd->sh, q, true)) < 0 ||
        (err = bpf_map_update_elem(xd->sh.xsks_fd, &q, &xd->fd, BPF_ANY) < 0 ? -errno : 0) < 0) {
        DM_ERR("xdp", "%s queue %u: putting the socket in the XSKMAP: %s", ifname, q, strerror(-err));
        xdp_queue_set(&xd->sh, q, false);
        goto out;
    }
    xd->claimed = true;
    if (ferr == 0)
        ferr = xdp_fwd_open(&xd->fwd, q, xd->fd);
    if (ferr == 0) {
        track_fd(xd->fwd.wake.fd, true);
        track_fd(xd->fwd.ep_fd, true);
    } else if (ferr != -ENOTSUP) {
        DM_WARN("xdp", "%s queue %u: the other processes of the interface cannot hand us frames (%s): a flow "
                "the peer places on another queue is reset there", ifname, q, strerror(-ferr));
    }
out:
    xdp_if_unlock(lock);
    return err;
}

/* Leaves the interface: our queue record and XSKMAP slot go, and the last
 * process out detaches the program (the helper does it for us when we
 * have no privilege). */
static void close_shared(struct xdp_dev *xd)
{
    if (xd->fwd.me) {
        track_fd(xd->fwd.wake.fd, false);
        track_fd(xd->fwd.ep_fd, false);
    }
    xdp_fwd_close(&xd->fwd);
    int lock = xdp_if_lock(xd->ifindex, 5000);
    uint32_t q = xd->queue;
    bpf_map_delete_elem(xd->sh.xsks_fd, &q);
    xdp_queue_set(&xd->sh, q, false);
    if (xd->via_helper)
        xdp_helper_put();
    else
        xdp_shared_put(xd->ifindex);
    xdp_if_unlock(lock);
}

/* libxdp's path (DEMI_XDP_FILTER=all, or no program in this build):
 * libxdp's default program takes every frame of the queue. Privileged. */
static int open_libxdp(struct xdp_dev *xd, const char *ifname, int64_t queue, bool force_copy, bool *zc)
{
    void *area = mmap(NULL, xd->area_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    int err;
    if (area == MAP_FAILED)
        return -ENOMEM;
    xd->area = area;
    if (queue < 0)
        queue = 0;
    xd->queue = (uint32_t)queue;
    struct xsk_umem_config ucfg = {
        .fill_size = XDP_RING_SIZE,
        .comp_size = XDP_RING_SIZE,
        .frame_size = XDP_FRAME_SIZE,
        .frame_headroom = 0,
        /* the pool's slots are not chunk-sized: descriptors anywhere */
        .flags = xd->pool_len ? XDP_UMEM_UNALIGNED_CHUNK_FLAG : 0,
    };
    err = xsk_umem__create(&xd->umem, xd->area, xd->area_len, &xd->x.fill, &xd->x.comp, &ucfg);
    if (err) {
        DM_ERR("xdp", "DEMI_XDP_IFACE=%s: xsk_umem__create: %s", ifname, strerror(-err));
        return err;
    }
    struct xsk_socket_config scfg = {
        .rx_size = XDP_RING_SIZE,
        .tx_size = XDP_RING_SIZE,
        .libxdp_flags = 0,
        .xdp_flags = 0,
        .bind_flags = XDP_USE_NEED_WAKEUP | XDP_ZEROCOPY,
    };
    *zc = true;
    err = force_copy ? -EOPNOTSUPP
                     : xsk_socket__create(&xd->xsk, ifname, (uint32_t)queue, xd->umem, &xd->x.rx, &xd->x.tx, &scfg);
    if (err) {
        /* copy mode, multi-buffer when we send by reference (bind_copy) */
        xd->sg = xd->tx_ref;
        scfg.bind_flags = XDP_USE_NEED_WAKEUP | XDP_COPY | (xd->sg ? XDP_USE_SG : 0);
        *zc = false;
        err = xsk_socket__create(&xd->xsk, ifname, (uint32_t)queue, xd->umem, &xd->x.rx, &xd->x.tx, &scfg);
        if (err && err != -EBUSY && xd->sg) {
            xd->sg = false;
            scfg.bind_flags = XDP_USE_NEED_WAKEUP | XDP_COPY;
            err = xsk_socket__create(&xd->xsk, ifname, (uint32_t)queue, xd->umem, &xd->x.rx, &xd->x.tx, &scfg);
        }
        for (int tries = 0; err == -EBUSY && tries < 40; tries++) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
            err = xsk_socket__create(&xd->xsk, ifname, (uint32_t)queue, xd->umem, &xd->x.rx, &xd->x.tx, &scfg);
        }
    }
    if (err) {
        DM_ERR("xdp", "DEMI_XDP_IFACE=%s queue %lld: xsk_socket__create: %s", ifname, (long long)queue,
               strerror(-err));
        return err;
    }
    xd->fd = xsk_socket__fd(xd->xsk);
    return 0;
}

static void stray_close(struct xdp_dev *xd)
{
    if (xd->ep_fd >= 0) {
        track_fd(xd->ep_fd, false);
        close(xd->ep_fd);
        xd->ep_fd = -1;
    }
    if (xd->stray.fd >= 0) {
        track_fd(xd->stray.fd, false);
        track_fd(xd->stray.nl_fd, false);
    }
    xdp_stray_close(&xd->stray);
}

/* With more queues than ours: a packet socket for the frames of the
 * queues no process holds (xdp_stray.c), in our wait fd. */
static void stray_open(struct xdp_dev *xd, const char *ifname, uint32_t nq, const struct xdp_our_addrs *addr)
{
    int err = xdp_stray_open(&xd->stray, xd->ifindex, addr, xd->helper_pkt);
    xd->helper_pkt = -1;
    if (err == 0) {
        struct epoll_event ev = { .events = EPOLLIN };
        int ep = xd->fwd.me ? xd->fwd.ep_fd : (xd->ep_fd = epoll_create1(EPOLL_CLOEXEC));
        if (ep < 0 || (!xd->fwd.me && epoll_ctl(ep, EPOLL_CTL_ADD, xd->fd, &ev) < 0) ||
            epoll_ctl(ep, EPOLL_CTL_ADD, xd->stray.fd, &ev) < 0)
            err = -errno;
    }
    if (err < 0) {
        stray_close(xd);
        DM_WARN("xdp", "%s: no packet socket for the frames of the %u queue(s) without a process of ours (%s): "
                "the flows the peer places there are lost; run a process per queue, or one queue (ethtool -L %s "
                "combined 1)", ifname, nq - 1, strerror(-err), ifname);
        return;
    }
    track_fd(xd->stray.fd, true);
    track_fd(xd->stray.nl_fd, true);
    if (xd->ep_fd >= 0)
        track_fd(xd->ep_fd, true);
    DM_INFO("xdp", "%s: the frames for us on the queues without a process of ours come through a packet socket%s",
            ifname, xd->stray.kernel_has ? " (the kernel has our address now: they stay the kernel's)" : "");
}

/* On an interface of several queues: its RSS, if we can compute it and
 * it sends some flows to our queue (else no port would do). */
static void rss_open(struct xdp_dev *xd, const char *ifname)
{
    struct xdp_rss *r = malloc(sizeof(*r));
    int err = r ? xdp_rss_read(ifname, r) : -ENOMEM;
    uint32_t ours = 0;
    for (uint32_t i = 0; err == 0 && i < r->n; i++)
        ours += r->indir[i] == xd->queue;
    if (err == 0 && ours) {
        xd->rss = r;
        DM_INFO("xdp", "%s: active opens take source ports whose replies RSS places on queue %u (Toeplitz, %u of "
                "%u table entries; ports hashed:%s%s%s%s)", ifname, xd->queue, ours, r->n,
                r->ports & DM_FLOW_TCP4 ? " tcp4" : "", r->ports & DM_FLOW_UDP4 ? " udp4" : "",
                r->ports & DM_FLOW_TCP6 ? " tcp6" : "", r->ports & DM_FLOW_UDP6 ? " udp6" : "");
        return;
    }
    free(r);
    DM_DEBUG("xdp", "%s: its RSS is not one we can compute (%s): the replies to our active opens land on the "
             "queue the interface picks, and are handed on from there", ifname,
             err ? strerror(-err) : "no table entry for our queue");
}

static void xdp_teardown(struct xdp_dev *xd)
{
    stray_close(xd);
    if (xd->helper_pkt >= 0)
        close(xd->helper_pkt);
    xd->helper_pkt = -1;
    if (xd->shared) {
        if (xd->claimed)
            close_shared(xd);
        xdp_fwd_close(&xd->fwd); /* mapped, not taking part: an open that failed */
        xdp_xsk_unmap(&xd->x);
        if (xd->fd >= 0)
            close(xd->fd);
        xdp_shared_close(&xd->sh);
    } else {
        if (xd->xsk)
            xsk_socket__delete(xd->xsk);
        if (xd->umem)
            xsk_umem__delete(xd->umem);
    }
    if (xd->fd >= 0)
        track_fd(xd->fd, false);
    xd->fd = -1;
}

static int xdp_open(struct dm_dev *dev, const struct dm_config *cfg)
{
    static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
    const char *ifname = dm_cfg_str(cfg, DM_CFG_XDP_IFACE);
    const char *mac = dm_cfg_str(cfg, DM_CFG_MAC);
    int64_t queue, frames, claim_wait_ms;
    int err, force_copy, tx_ref, filter, qr, csum_want;
    struct xdp_our_addrs addr = { 0 };
    uint32_t nq_now;
    bool zc = false;

    if (!ifname || !*ifname) {
        DM_ERR("xdp", "DEMI_XDP_IFACE is not set: which interface?");
        return -EINVAL;
    }
    if (!if_nametoindex(ifname)) {
        DM_ERR("xdp", "DEMI_XDP_IFACE=%s: no such interface", ifname);
        return -ENODEV;
    }
    /* DEMI_XDP_FRAMES' minimum in the table is 2 * XDP_RING_SIZE */
    _Static_assert(2 * XDP_RING_SIZE == 4096, "DEMI_XDP_FRAMES: the table's minimum is two rings");
    if ((qr = dm_cfg_int(cfg, DM_CFG_XDP_QUEUE, &queue)) < 0 ||
        (err = dm_cfg_int(cfg, DM_CFG_XDP_FRAMES, &frames)) < 0 ||
        (err = dm_cfg_bool(cfg, DM_CFG_XDP_COPY, &force_copy)) < 0 ||
        (err = dm_cfg_bool(cfg, DM_CFG_XDP_TX_REF, &tx_ref)) < 0 ||
        (err = dm_cfg_enum(cfg, DM_CFG_XDP_TX_CKSUM, &csum_want)) < 0 ||
        (err = dm_cfg_int(cfg, DM_CFG_XDP_CLAIM_WAIT_MS, &claim_wait_ms)) < 0)
        return qr < 0 ? qr : err;
    if (qr == DM_CFG_AUTO)
        queue = -1;
    if ((filter = filter_mode(cfg, &addr)) < 0)
        return filter;
    uint32_t nqueues = xdp_iface_queues(ifname, queue < 0 ? 0 : (uint32_t)queue, &nq_now);
    if (nq_now && queue >= nq_now) {
        DM_ERR("xdp", "DEMI_XDP_QUEUE=%lld: %s has %u queue(s)", (long long)queue, ifname, nq_now);
        return -EINVAL;
    }
    if (filter && !xdp_prog_available()) {
        DM_ERR("xdp", "built without clang: no XDP filter, libxdp's default program takes every frame of %s "
               "queue %lld and the kernel's traffic on that queue is lost", ifname, queue < 0 ? 0ll : (long long)queue);
        filter = 0;
    } else if (!filter) {
        DM_WARN("xdp", "DEMI_XDP_FILTER=all: every frame of %s queue %lld is ours, the kernel sees none of them",
                ifname, queue < 0 ? 0ll : (long long)queue);
    }

    if ((err = xdp_lib_load()) < 0)
        return err;
    libbpf_set_print(xdp_lib_print);
    libxdp_set_print(xdp_libxdp_print);
    pthread_once(&atfork_once, xdp_atfork_register);
    struct xdp_dev *xd = calloc(1, sizeof(*xd));
    if (!xd)
        return -ENOMEM;
    xd->dev = dev;
    xd->fd = -1;
    xd->fwd.wake.fd = xd->fwd.ep_fd = -1;
    xd->stray.fd = xd->stray.nl_fd = xd->ep_fd = xd->helper_pkt = -1;
    xd->sh.xsks_fd = xd->sh.queues_fd = xd->sh.neigh_fd = xd->sh.neigh6_fd = xd->sh.fwd_fd = -1;
    xd->ifindex = (int)if_nametoindex(ifname);
    xd->refs = 1;
    xd->tx_csum_want = (uint8_t)csum_want;
    xd->nframes = (uint32_t)frames;
    xd->frames_len = (size_t)frames * XDP_FRAME_SIZE;
    /* The instance's buffer pool moves into the UMEM behind the frames
     * (dm_bufpool_place, at the end of a successful open), so that what
     * the stack sends from it goes by reference. Only a pool with no
     * buffer out can move: else its room is not even made (the whole
     * UMEM is pinned). */
    struct dm_bufpool *pool = dm_instance_data_pool(dev->inst);
    xd->tx_ref = tx_ref;
    if (tx_ref && pool) {
        void *base;
        size_t len;
        int perr = dm_bufpool_place(pool, NULL, 0, NULL, NULL);
        dm_bufpool_region(pool, &base, &len);
        if (perr == 0)
            xd->pool_len = (len + XDP_FRAME_SIZE - 1) & ~(size_t)(XDP_FRAME_SIZE - 1);
        else
            DM_INFO("xdp", "the buffer pool has buffers out: it stays out of the UMEM, its frames are copied");
    }
    xd->area_len = xd->frames_len + xd->pool_len;
    /* aligned chunks (no pool inside), or driver zero-copy, whose DMA
     * pages need not be contiguous: a descriptor stays in its 4 KiB */
    xd->chunk_check = !xd->pool_len;
    xd->free_frames = malloc((size_t)frames * sizeof(uint64_t));
    xd->pend = malloc(XDP_PEND * sizeof(*xd->pend));
    if (!xd->free_frames || !xd->pend) {
        free(xd->free_frames);
        free(xd->pend);
        free(xd);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < xd->nframes; i++)
        xd->free_frames[i] = (uint64_t)(xd->nframes - 1 - i) * XDP_FRAME_SIZE;
    xd->nfree = xd->nframes;

    xd->shared = filter;
    xd->addr = addr.v4;
    err = filter ? open_shared(xd, ifname, queue, nqueues, nq_now, &addr, force_copy, &zc, claim_wait_ms)
                 : open_libxdp(xd, ifname, queue, force_copy, &zc);
    if (err < 0)
        goto fail;
    track_fd(xd->fd, true);

    if ((err = iface_query(ifname, &xd->info, !mac)) < 0) {
        DM_ERR("xdp", "DEMI_XDP_IFACE=%s: cannot read its MAC: %s", ifname, strerror(-err));
        goto fail;
    }
    if (mac && dm_mac_parse(mac, xd->info.mac) < 0) {
        DM_ERR("xdp", "DEMI_MAC=%s: expected xx:xx:xx:xx:xx:xx", mac);
        err = -EINVAL;
        goto fail;
    }
    snprintf(xd->info.name, sizeof(xd->info.name), "xdp:%.16s:%u", ifname, xd->queue);
    xd->veth = xdp_csum_iface_is_veth(ifname);
    xd->info.caps = DM_DEV_CAP_TX_MULTISEG | DM_DEV_CAP_CAN_SLEEP;
    /* checksum requests in copy mode only: a driver's zero-copy takes
     * them only where it says so (netlink's xsk-features), unread here */
    xd->tx_csum = xd->tx_meta && !zc;
    if (xd->tx_csum) /* csum_start and csum_offset: IPv6 as IPv4 */
        xd->info.caps |= DM_DEV_CAP_TX_TCP_CKSUM | DM_DEV_CAP_TX_UDP_CKSUM | DM_DEV_CAP_TX_L4_CKSUM6;
    xd->info.max_segs = XDP_MAX_SEGS;
    if (zc)
        xd->chunk_check = true;
    xd->max_descs = xd->sg ? XDP_SG_MAX : 1;
    /* one kick for the whole ring in copy mode (Linux 6.17; before, the
     * budget is 32 descriptors and tx_kick loops) */
    unsigned budget = XDP_RING_SIZE;
    xd->tx_budget_big = setsockopt(xd->fd, SOL_XDP, XDP_MAX_TX_SKB_BUDGET, &budget, sizeof(budget)) == 0;
    if (xd->pool_len && dm_bufpool_place(pool, xd->area + xd->frames_len, xd->pool_len, xdp_pool_released, xd) == 0)
        xd->refs++; /* the pool's: the UMEM outlives the device while the pool lives */
    else
        xd->pool_len = 0;
    xdp_refill(xd);

    dev->priv = xd;
    dev->rx_burst = xdp_rx;
    dev->tx_burst = xdp_tx;
    (void)dm_stats_register(dev->inst, "xdp", xdp_ctr_names, xd->ctr, XDP_NCTR);
    if (xd->shared && (nq_now ? nq_now : nqueues) > 1) {
        stray_open(xd, ifname, nq_now ? nq_now : nqueues, &addr);
        rss_open(xd, ifname);
    }
    if (xd->shared) {
        char ip[INET_ADDRSTRLEN + INET6_ADDRSTRLEN + 8] = "", *e;
        inet_ntop(AF_INET, &addr.v4, ip, INET_ADDRSTRLEN);
        if (addr.has6) {
            e = ip + strlen(ip);
            memcpy(e, " and ", 6);
            inet_ntop(AF_INET6, addr.v6, e + 5, INET6_ADDRSTRLEN);
        }
        DM_INFO("xdp", "%s queue %u (of %u%s): %s mode, %u frames%s, TX %s, checksums %s; the interface's XDP "
                "program (%s) redirects %s, passes the rest", ifname, xd->queue, nq_now ? nq_now : nqueues,
                queue < 0 ? ", auto" : "", mode_name(zc), xd->nframes,
                xd->via_helper ? ", socket from the privileged helper" : "", tx_mode(xd), csum_mode(xd),
                xd->sh.legacy ? "alone, legacy mode" : "behind libxdp's dispatcher", ip);
    } else {
        DM_INFO("xdp", "%s queue %u: %s mode, %u frames, TX %s; libxdp's default program", ifname, xd->queue,
                mode_name(zc), xd->nframes, tx_mode(xd));
    }
    return 0;
fail:
    xdp_teardown(xd);
    xdp_release(xd);
    return err < 0 ? err : -EIO;
}

static void xdp_close(struct dm_dev *dev)
{
    struct xdp_dev *xd = dev->priv;
    if (!xd)
        return;
    dm_stats_unregister(dev->inst, xd->ctr);
    xdp_teardown(xd); /* the XSKMAP slot goes before the socket: nothing redirected to a closed one */
    dev->priv = NULL;
    /* the socket is gone, and with it the kernel's use of what was on
     * the TX ring or in flight: those segments and frames come back */
    while (xd->pend_head != xd->pend_tail)
        pend_done(xd, &xd->pend[xd->pend_head++ & (XDP_PEND - 1)]);
    if (xd->outstanding) {
        DM_INFO("xdp", "closed with %u received buffers still held: UMEM freed with the last", xd->outstanding);
        xd->closed = true;
        return;
    }
    xdp_release(xd);
}

static int xdp_info(struct dm_dev *dev, struct dm_dev_info *info)
{
    struct xdp_dev *xd = dev->priv;
    *info = xd->info;
    return 0;
}

/* The XSK fd; with other processes on the interface, an epoll set of it
 * and the socket they wake us with when they hand us a frame. */
static int xdp_wait_fd(struct dm_dev *dev)
{
    struct xdp_dev *xd = dev->priv;
    return xd->fwd.me ? xd->fwd.ep_fd : xd->ep_fd >= 0 ? xd->ep_fd : xd->fd;
}

static void fwd_copy(void *arg, uint8_t *dst, uint32_t len)
{
    dm_buf_copy_out(arg, 0, dst, len);
}

/* A frame no socket of ours takes, to the other processes (xdp_fwd.c).
 * One that came that way carries its route in its UMEM frame. */
static bool xdp_forward(struct dm_dev *dev, struct dm_buf *frame, uint32_t flow_hash)
{
    struct xdp_dev *xd = dev->priv;
    uint64_t route = 0;
    if (!xd->fwd.me)
        return false;
    if (frame->ol_flags & DM_BUF_RX_FORWARDED) {
        if (frame->free_fn != xdp_frame_free || frame->free_arg != xd)
            return false; /* not as we made it: its route is unknown */
        memcpy(&route, fwd_route_of(xd, (uint64_t)(uintptr_t)frame->dev_priv), sizeof(route));
    }
    int r = xdp_fwd_send(&xd->fwd, frame->pkt_len, fwd_copy, frame, route, flow_hash);
    if (r < 0)
        return false;
    xd->ctr[r ? XDP_C_FWD_OUT : XDP_C_FWD_FULL]++;
    dm_buf_free(frame);
    return true;
}

/* Would the interface place the replies of this flow on our queue? (q:
 * the queue xdp_rss gives them, -1 when it does not know) */
static inline bool rss_ours(const struct xdp_dev *xd, int q) { return q < 0 || (uint32_t)q == xd->queue; }

static bool xdp_flow_ours(struct dm_dev *dev, int proto, uint32_t lip, uint16_t lport, uint32_t rip,
                          uint16_t rport)
{
    struct xdp_dev *xd = dev->priv;
    return !xd->rss || rss_ours(xd, xdp_rss_queue(xd->rss, proto, lip, lport, rip, rport));
}

static bool xdp_flow_ours6(struct dm_dev *dev, int proto, const uint8_t *lip, uint16_t lport, const uint8_t *rip,
                           uint16_t rport)
{
    struct xdp_dev *xd = dev->priv;
    return !xd->rss || rss_ours(xd, xdp_rss_queue6(xd->rss, proto, lip, lport, rip, rport));
}

static void xdp_listening(struct dm_dev *dev, bool on)
{
    struct xdp_dev *xd = dev->priv;
    xdp_fwd_listening(&xd->fwd, on);
}

static bool xdp_peers_starting(struct dm_dev *dev)
{
    struct xdp_dev *xd = dev->priv;
    return xdp_fwd_peers_starting(&xd->fwd);
}

static const struct dm_dev_ops xdp_ops = {
    .name = "xdp",
    .open = xdp_open,
    .close = xdp_close,
    .info = xdp_info,
    .wait_fd = xdp_wait_fd,
    .forward = xdp_forward,
    .flow_ours = xdp_flow_ours,
    .flow_ours6 = xdp_flow_ours6,
    .listening = xdp_listening,
    .peers_starting = xdp_peers_starting,
};
DM_DEV_REGISTER(xdp_ops)
