/* SPDX-License-Identifier: MIT */
/*
 * "memif": our own driver for the memif shared-memory interface (the
 * protocol of libmemif, VPP and DPDK's net_memif; memif_proto.h), so that
 * a process reaches another over memif with neither DPDK nor hugepages,
 * and each frame is copied once per side, straight between our buffers
 * and the shared ones.
 *
 * Through DPDK a frame we send is copied twice on our side (our buffer
 * into an mbuf, with its checksum, then the mbuf into the ring, by the
 * PMD) and one we receive is copied out of the ring into an mbuf that we
 * then wrap; here the stack's chain goes into the ring in one copy that
 * completes the TCP/UDP checksum on the way (dm/l2copy.h), and a received
 * frame is copied once into a buffer of our pool. The ring is read and
 * written in place, the indexes with acquire/release, nothing else
 * crosses the processes.
 *
 * Either role (DEMI_MEMIF_ROLE): a client owns the shared memory (a
 * sealed memfd: rings, then one buffer per descriptor) and may talk to
 * any memif server, ours or DPDK's (socket names are abstract by
 * default, as DPDK's); a server takes one client at a time, ours or
 * DPDK's (copy mode), and copies frames in and out of its memory after
 * checking that each descriptor lies inside a region it was given.
 *
 * Polls while busy: each side sets MASK_INT on the ring it reads, so
 * neither writes an eventfd per burst. A preloaded program that goes to
 * sleep asks its peer for a signal first (memif_wait_arm).
 * The control socket is looked at once a millisecond (a clock read
 * every 256 bursts, then one poll()): a peer that leaves is noticed
 * there, and until then its rings simply stay empty. Frames sent while no peer is
 * connected are dropped and counted (tx_down), as a NIC with its link
 * down does; a ring that is full takes fewer frames (tx_full):
 * backpressure, the stack keeps the rest.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include "dm/addr.h"
#include "dm/compiler.h"
#include "dm/l2copy.h"
#include "dm/l2csum.h"
#include "dm/l2tso.h"
#include "dm/log.h"
#include "dm/stats.h"
#include "dm/time.h"
#include "memif_priv.h"

#define MEMIF_ETH_OVERHEAD 18u /* Ethernet header + one VLAN tag */
#define MEMIF_CHAIN_MAX    64u /* descriptors in one frame we take */
/* The control socket is looked at (one poll()) at most once a
 * millisecond; the clock is read every 256 bursts to know. */
#define MEMIF_CTL_BURSTS   256u
#define MEMIF_CTL_NS       1000000

static const char *const memif_st_names[MEMIF_NST] = {
    "rx", "rx_bytes", "tx", "tx_bytes", "tx_full", "tx_down", "tx_bad", "rx_bad_desc", "rx_nobuf", "tx_intr", "connects", "disconnects",
    "ctl_bad",
};

/* Where descriptor slot `slot` of ring `rx_side` (true: the ring we read)
 * points, and how many bytes its buffer holds. A client computes it from
 * its own layout and ignores what the shared descriptor says (the server
 * can write there); a server checks the client's descriptor against the
 * regions. NULL: a descriptor outside every region. */
static inline uint8_t *desc_buf(const struct memif_dev *d, const struct memif_desc *dc, uint16_t slot, bool rx_side,
                                uint32_t *cap)
{
    if (!d->server) {
        /* C2S (we send) buffers first, then S2C (we receive) */
        size_t i = (size_t)(slot & d->ring_mask) + (rx_side ? (size_t)d->ring_mask + 1 : 0);
        *cap = d->buf_size;
        return d->reg[0].base + d->buf_off + i * d->buf_size;
    }
    /* a server: read each field once, check, then use what was checked */
    uint16_t region = dc->region;
    uint32_t off = dc->offset, len = dc->length;
    if (dm_unlikely(region >= d->nregions || (uint64_t)off + len > d->reg[region].size))
        return NULL;
    *cap = len;
    return d->reg[region].base + off;
}

/* ------------------------------------------------------------ sleeping */

/* A burst stores its index and then reads the peer's flag; a sleeper
 * clears the flag and then reads the index. Each side needs a full fence
 * between its store and its load, or both can miss (x86 lets a load pass
 * an earlier store): the sleeper sleeps on a frame the sender did not
 * signal. The sender's fence is paid on every burst, the sleeper's only
 * before a sleep, so the sender's is moved to the sleeper: a
 * membarrier(GLOBAL_EXPEDITED) there makes every CPU that runs a
 * registered process pass a barrier (the sender's index is then seen, or
 * the sender reads the flag after it), and a registered sender stores
 * with no fence where the peer is ours (it names itself MEMIF_OUR_NAME:
 * it makes that call). Toward another peer (DPDK's PMD, VPP) the store
 * stays fenced; DPDK's own sender stores with release and reads the flag
 * unfenced. Registered per process (a forked child is not, and registers
 * itself at its own open). */
bool memif_asym_fence;
static pid_t memif_asym_pid;

static void memif_fence_setup(void)
{
    pid_t me = getpid();
    if (__atomic_load_n(&memif_asym_pid, __ATOMIC_ACQUIRE) == me)
        return;
    long q = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    bool ok = q > 0 && (q & MEMBARRIER_CMD_GLOBAL_EXPEDITED) &&
              syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0) == 0;
    __atomic_store_n(&memif_asym_fence, ok, __ATOMIC_RELAXED);
    __atomic_store_n(&memif_asym_pid, me, __ATOMIC_RELEASE);
    if (!ok)
        DM_INFO("memif", "membarrier(GLOBAL_EXPEDITED) unavailable: each burst fences its index store");
}

/* The sleeper's side (memif_wait_arm). */
static void memif_fence_peers(void)
{
    if (syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) == 0 ||
        syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) == 0)
        return;
    /* (no membarrier here, and so none where the peer runs either, when it
     * shares this kernel: it fences its own stores) */
    dm_log_once("memif", "membarrier refused (%s): a sleep may miss a peer's frame until its slice ends",
                strerror(errno));
}

/* Frames are coming again after a sleep: the peer need not signal each
 * burst any more, and the eventfd it signalled is emptied, so that the
 * wait fd is quiet until the next sleep asks again. */
static void disarm(struct memif_dev *d, struct memif_ring *r)
{
    __atomic_store_n(&r->flags, (uint16_t)MEMIF_RING_MASK_INT, __ATOMIC_RELAXED);
    d->armed = false;
    uint64_t v;
    if (d->rx_intr_fd >= 0)
        (void)read(d->rx_intr_fd, &v, sizeof(v));
}

/* The caller is about to sleep on the wait fd (ep_fd): the control
 * socket is looked at (a peer that left, a client that came: the epoll
 * set wakes on those too), then the peer is asked to signal the eventfd
 * of the ring we read after its next burst (MASK_INT cleared), and the
 * ring looked at once more: frames that came before the peer could see
 * the request say "do not sleep". */
static int memif_wait_arm(struct dm_dev *dev)
{
    struct memif_dev *d = dev->priv;
    memif_ctl_poll(d);
    d->ctl_next_ns = dm_clock_ns() + MEMIF_CTL_NS;
    struct memif_ring *r = d->rx;
    if (!r)
        return 0;
    uint64_t v;
    if (d->armed && d->rx_intr_fd >= 0)
        (void)read(d->rx_intr_fd, &v, sizeof(v)); /* a signal for frames already taken */
    /* sequentially consistent store, then load: either the peer's next
     * burst sees the flag cleared, or we see its index (memif_tx does
     * the mirror image: its index stored, then the flag loaded) */
    __atomic_store_n(&r->flags, (uint16_t)0, __ATOMIC_SEQ_CST);
    d->armed = true;
    memif_fence_peers(); /* for a sender that does not fence (memif_tx) */
    uint16_t last = d->server ? __atomic_load_n(&r->head, __ATOMIC_SEQ_CST) : __atomic_load_n(&r->tail, __ATOMIC_SEQ_CST);
    return last != d->rx_cur;
}

/* ------------------------------------------------------------ receive */

/* Copies one frame, slots cur..cur+k-1 of the ring we read, into a new
 * chain of our buffers. Returns the slots it took (the frame is in *out,
 * or *out is NULL for a malformed frame, dropped), or 0 to stop here: the
 * frame is not all there yet, or our pool is empty (it stays in the ring:
 * backpressure). */
static uint16_t rx_frame(struct dm_dev *dev, struct memif_dev *d, struct memif_ring *r, uint16_t cur, uint16_t avail,
                         struct dm_buf **out)
{
    struct dm_buf *head = NULL, *seg = NULL;
    uint16_t k = 0;
    uint32_t total = 0;
    bool bad = false;
    *out = NULL;
    for (;;) {
        if (dm_unlikely(k == avail)) {
            /* the sender moved the index past part of a frame: wait for the rest */
            dm_buf_free(head);
            return 0;
        }
        const struct memif_desc *dc = &r->desc[(uint16_t)(cur + k) & d->ring_mask];
        uint16_t flags = dc->flags;
        uint32_t len = dc->length, cap;
        const uint8_t *src = desc_buf(d, dc, (uint16_t)(cur + k), true, &cap);
        k++;
        if (dm_unlikely(!src || len > cap || k > MEMIF_CHAIN_MAX || total + len > d->max_frame))
            bad = true;
        if (!bad) {
            total += len;
            while (len) {
                if (!seg || !dm_buf_tailroom(seg)) {
                    struct dm_buf *b = dm_buf_alloc(dev->inst);
                    if (dm_unlikely(!b)) {
                        d->st[MEMIF_ST_RX_NOBUF]++;
                        dm_buf_free(head);
                        return 0;
                    }
                    if (head)
                        dm_buf_chain(head, b);
                    else
                        head = b;
                    seg = b;
                }
                uint32_t c = DM_MIN(len, dm_buf_tailroom(seg));
                memcpy(dm_buf_append(seg, c), src, c);
                if (seg != head)
                    head->pkt_len += c;
                src += c;
                len -= c;
            }
        }
        if (!(flags & MEMIF_DESC_NEXT) || dm_unlikely(k > MEMIF_CHAIN_MAX))
            break; /* a chain longer than any frame: dropped here, the rest read as frames */
    }
    if (dm_unlikely(bad || total < 14)) {
        d->st[MEMIF_ST_RX_BAD_DESC]++;
        dm_buf_free(head);
        return k;
    }
    head->ol_flags = d->rx_ol;
    d->st[MEMIF_ST_RX_BYTES] += total;
    *out = head;
    return k;
}

static uint16_t memif_rx(struct dm_dev *dev, struct dm_buf **pkts, uint16_t n)
{
    struct memif_dev *d = dev->priv;
    if (dm_unlikely(--d->ctl_countdown == 0)) {
        d->ctl_countdown = MEMIF_CTL_BURSTS;
        int64_t now = dm_clock_ns();
        if (now >= d->ctl_next_ns) {
            memif_ctl_poll(d);
            d->ctl_next_ns = now + MEMIF_CTL_NS;
        }
    }
    struct memif_ring *r = d->rx;
    if (dm_unlikely(!r))
        return 0;
    uint16_t cur = d->rx_cur, start = cur;
    /* a server reads the client's head; a client the server's tail */
    uint16_t last = d->server ? __atomic_load_n(&r->head, __ATOMIC_ACQUIRE) : __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
    uint16_t avail = (uint16_t)(last - cur);
    if (!avail)
        return 0;
    if (dm_unlikely(d->armed))
        disarm(d, r);
    if (dm_unlikely(avail > (uint16_t)(d->ring_mask + 1))) {
        memif_ctl_fail(d, "ring index out of range");
        return 0;
    }
    uint16_t got = 0;
    while (got < n && avail) {
        struct dm_buf *p;
        uint16_t k = rx_frame(dev, d, r, cur, avail, &p);
        if (!k)
            break;
        cur = (uint16_t)(cur + k);
        avail = (uint16_t)(avail - k);
        if (p)
            pkts[got++] = p;
    }
    if (cur == start)
        return got;
    d->rx_cur = cur;
    if (d->server) {
        __atomic_store_n(&r->tail, cur, __ATOMIC_RELEASE); /* the slots go back to the client */
    } else {
        /* post the buffers just read again, whatever the server wrote in their descriptors */
        size_t boff = d->buf_off + ((size_t)d->ring_mask + 1) * d->buf_size;
        for (uint16_t s = start; s != cur; s++) {
            struct memif_desc *dc = &r->desc[s & d->ring_mask];
            dc->flags = 0;
            dc->region = 0;
            dc->length = d->buf_size;
            dc->offset = (uint32_t)(boff + (size_t)(s & d->ring_mask) * d->buf_size);
        }
        __atomic_store_n(&r->head, (uint16_t)(cur + d->ring_mask + 1), __ATOMIC_RELEASE);
    }
    d->st[MEMIF_ST_RX] += got;
    return got;
}

/* ------------------------------------------------------------ send */

/* The IPv4 header checksum at ip (hlen bytes), written in our copy. */
static inline void ip_cksum(uint8_t *ip, uint32_t hlen)
{
    ip[10] = ip[11] = 0;
    uint16_t c = (uint16_t)~dm_l2csum_fold(dm_l2csum_words(ip, hlen));
    memcpy(ip + 10, &c, 2);
}

/* A frame copied to dst, the checksums the stack left to us completed in
 * the copy (never in the stack's memory: a header it keeps to resend). */
static inline void copy_frame(uint8_t *dst, const struct dm_buf *p)
{
    uint32_t ol = p->ol_flags & (DM_BUF_TX_TCP_CKSUM | DM_BUF_TX_UDP_CKSUM);
    /* the checksum field inside the frame, or nothing is summed (as
     * devices/dpdk's tx_copy: a frame the stack described wrongly goes
     * as it is rather than written past its end) */
    if (ol && (uint32_t)p->l2_len + p->l3_len + ((ol & DM_BUF_TX_TCP_CKSUM) ? 18u : 8u) > p->pkt_len)
        ol = 0;
    if (ol) {
        dm_l2copy_l4_cksum(dst, p, ol);
    } else {
        uint8_t *o = dst;
        for (const struct dm_buf *s = p; s; s = s->next) {
            memcpy(o, s->data, s->len);
            o += s->len;
        }
    }
    if ((p->ol_flags & DM_BUF_TX_IP_CKSUM) && p->l3_len >= 20 && (uint32_t)p->l2_len + p->l3_len <= p->pkt_len)
        ip_cksum(dst + p->l2_len, p->l3_len);
}

/* A frame built in `src` (len bytes) spread over the buffers of slots
 * slot.. (at most room), all but the last flagged NEXT: the slots used,
 * 0 when room is short, -1 when it takes more than MEMIF_CHAIN_MAX, -2
 * for a descriptor outside the regions. */
static int tx_spread(struct memif_dev *d, struct memif_ring *r, const uint8_t *src, uint32_t len, uint16_t slot,
                     uint16_t room)
{
    uint32_t done = 0, cap;
    uint16_t k = 0;
    for (;;) {
        if (k == room)
            return 0;
        if (k == MEMIF_CHAIN_MAX)
            return -1;
        struct memif_desc *dc = &r->desc[(uint16_t)(slot + k) & d->ring_mask];
        uint8_t *dst = desc_buf(d, dc, (uint16_t)(slot + k), false, &cap);
        if (dm_unlikely(!dst || !cap))
            return -2;
        uint32_t c = DM_MIN(cap, len - done);
        memcpy(dst, src + done, c);
        if (!d->server) {
            dc->region = 0;
            dc->offset = (uint32_t)(dst - d->reg[0].base);
        }
        dc->length = c;
        done += c;
        k++;
        dc->flags = done < len ? MEMIF_DESC_NEXT : 0;
        if (done == len)
            return k;
    }
}

/* TCP segmentation offload done in the copy, as a NIC does on the wire:
 * each piece of tso_segsz bytes goes straight into its own ring buffer
 * (dm_l2tso_cut_piece: headers fixed, checksums summed in the copy). The
 * stack builds one 64 KiB frame instead of 45 segments, each with its
 * buffers. Returns the slots used (one a piece), 0 when the ring has not
 * room for all, -1 for a frame we cannot cut, -2 for a descriptor outside
 * the regions. */
static int tx_tso(struct memif_dev *d, struct memif_ring *r, const struct dm_buf *p, uint16_t slot, uint16_t room)
{
    struct dm_l2tso_cut c;
    if (dm_l2tso_cut_init(&c, p) < 0 || c.hl + c.seg > d->max_frame)
        return -1; /* the stack asks TSO only of frames it may: never here */
    if (c.n > room)
        return 0;
    uint16_t used = 0;
    for (uint32_t i = 0; i < c.n; i++) {
        uint32_t cap;
        uint16_t s = (uint16_t)(slot + used);
        if (used == room)
            return 0;
        struct memif_desc *dc = &r->desc[s & d->ring_mask];
        uint8_t *dst = desc_buf(d, dc, s, false, &cap);
        if (dm_unlikely(!dst))
            return -2;
        bool spread = c.hl + c.seg > cap; /* a client's buffers shorter than a segment */
        uint32_t len = dm_l2tso_cut_piece(&c, i, spread ? d->scratch : dst);
        if (spread) {
            int k = tx_spread(d, r, d->scratch, len, s, (uint16_t)(room - used));
            if (k <= 0)
                return k;
            used = (uint16_t)(used + k);
            continue;
        }
        if (!d->server) {
            dc->region = 0;
            dc->offset = (uint32_t)(dst - d->reg[0].base);
        }
        dc->length = len;
        dc->flags = 0;
        used++;
    }
    return used;
}

/* The frame into slots slot.. of the ring we write; the slots it took,
 * 0 when they are not free, -1 for a frame we cannot send (dropped). */
static int tx_frame(struct memif_dev *d, struct memif_ring *r, const struct dm_buf *p, uint16_t slot, uint16_t room,
                    uint8_t *scratch)
{
    uint32_t len = p->pkt_len, cap;
    struct memif_desc *dc = &r->desc[slot & d->ring_mask];
    uint8_t *dst = desc_buf(d, dc, slot, false, &cap);
    if (dm_unlikely(!dst))
        return -2; /* a server given a descriptor outside the client's memory */
    if (dm_likely(len <= cap)) {
        copy_frame(dst, p);
        if (!d->server) {
            dc->region = 0;
            dc->offset = (uint32_t)(dst - d->reg[0].base);
        }
        dc->length = len;
        dc->flags = 0;
        return 1;
    }
    /* longer than a buffer: completed in the scratch, then spread */
    copy_frame(scratch, p);
    return tx_spread(d, r, scratch, len, slot, room);
}

/* The slots we may fill from slot on, from the peer's index (a line the
 * peer writes: a miss), or UINT16_MAX for a broken ring. What it says
 * stays true until we use them (the peer only gives more), so memif_tx
 * looks only when what it knew runs short. */
static uint16_t tx_room_now(struct memif_dev *d, struct memif_ring *r, uint16_t slot)
{
    uint16_t size = (uint16_t)(d->ring_mask + 1), room;
    if (d->server) /* the client's posted buffers, up to its head */
        room = (uint16_t)(__atomic_load_n(&r->head, __ATOMIC_ACQUIRE) - slot);
    else /* our slots the server has handed back */
        room = (uint16_t)(size - (uint16_t)(slot - __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE)));
    if (dm_unlikely(room > size)) {
        memif_ctl_fail(d, "ring index out of range");
        return UINT16_MAX;
    }
    return room;
}

/* One packet into the ring at slot: the slots it took, 0 when room is
 * short for it, < 0 when it was refused (tx_frame). */
static int tx_one(struct memif_dev *d, struct memif_ring *r, struct dm_buf *p, uint16_t slot, uint16_t room)
{
    if (!room)
        return 0;
    return (p->ol_flags & DM_BUF_TX_TCP_SEG) ? tx_tso(d, r, p, slot, room) : tx_frame(d, r, p, slot, room, d->scratch);
}

static uint16_t memif_tx(struct dm_dev *dev, struct dm_buf **pkts, uint16_t n)
{
    struct memif_dev *d = dev->priv;
    struct memif_ring *r = d->tx;
    if (dm_unlikely(!r)) {
        for (uint16_t i = 0; i < n; i++)
            dm_buf_free(pkts[i]);
        d->st[MEMIF_ST_TX_DOWN] += n;
        return n;
    }
    uint16_t slot = d->tx_cur, room = d->tx_room;
    bool fresh = false; /* room read from the peer's index in this call */
    if (room < n) {
        if ((room = tx_room_now(d, r, slot)) == UINT16_MAX)
            return 0;
        fresh = true;
    }
    uint16_t i;
    uint64_t frames = 0;
    for (i = 0; i < n; i++) {
        struct dm_buf *p = pkts[i];
        if (dm_unlikely((p->pkt_len > d->max_frame && !(p->ol_flags & DM_BUF_TX_TCP_SEG)) || p->pkt_len < 14)) {
            d->st[MEMIF_ST_TX_BAD]++;
            dm_buf_free(p);
            continue;
        }
        int k = tx_one(d, r, p, slot, room);
        if (k == 0 && !fresh) {
            /* it needs more slots than we knew of: look again */
            if ((room = tx_room_now(d, r, slot)) == UINT16_MAX)
                break;
            fresh = true;
            k = tx_one(d, r, p, slot, room);
        }
        if (k == 0)
            break;
        if (dm_unlikely(k < 0)) {
            if (k == -2) {
                memif_ctl_fail(d, "descriptor outside the regions");
                break;
            }
            d->st[MEMIF_ST_TX_BAD]++;
            dm_buf_free(p);
            continue;
        }
        slot = (uint16_t)(slot + k);
        room = (uint16_t)(room - k);
        /* what went on the ring: a TSO frame as its pieces */
        uint32_t pieces = 1, bytes = p->pkt_len;
        if (p->ol_flags & DM_BUF_TX_TCP_SEG) {
            uint32_t hl = (uint32_t)p->l2_len + p->l3_len + p->l4_len;
            pieces = (p->pkt_len - hl + p->tso_segsz - 1) / p->tso_segsz;
            bytes += (pieces - 1) * hl;
        }
        frames += pieces;
        d->st[MEMIF_ST_TX_BYTES] += bytes;
        dm_buf_free(p);
    }
    if (d->tx == r)
        d->tx_room = room == UINT16_MAX ? 0 : room;
    if (slot != d->tx_cur && d->tx == r) {
        d->tx_cur = slot;
        uint16_t fl;
        if (dm_likely(memif_asym_fence && d->peer_fences)) {
            /* The index out, then the flag read, with no fence of ours:
             * a sleeper's membarrier (memif_wait_arm) stands for it. A
             * locked store here waited for the frame's copy to drain
             * from the store buffer: 44% of memif_tx, ~70 ns a burst. */
            if (d->server)
                __atomic_store_n(&r->tail, slot, __ATOMIC_RELEASE);
            else
                __atomic_store_n(&r->head, slot, __ATOMIC_RELEASE);
            __atomic_signal_fence(__ATOMIC_SEQ_CST);
            fl = __atomic_load_n(&r->flags, __ATOMIC_RELAXED);
        } else {
            /* the index out before the flag is read (memif_wait_arm) */
            if (d->server)
                __atomic_store_n(&r->tail, slot, __ATOMIC_SEQ_CST);
            else
                __atomic_store_n(&r->head, slot, __ATOMIC_SEQ_CST);
            fl = __atomic_load_n(&r->flags, __ATOMIC_SEQ_CST);
        }
        if (!(fl & MEMIF_RING_MASK_INT) && d->tx_intr_fd >= 0) {
            uint64_t one = 1;
            if (write(d->tx_intr_fd, &one, sizeof(one)) == sizeof(one))
                d->st[MEMIF_ST_TX_INTR]++;
        }
    }
    d->st[MEMIF_ST_TX] += frames;
    d->st[MEMIF_ST_TX_FULL] += (uint64_t)(n - i);
    return i;
}

/* ------------------------------------------------------------ ops */

static int memif_open(struct dm_dev *dev, const struct dm_config *cfg)
{
    int64_t mtu, ring, bsize, id, wait_ms;
    int role, abstract, rxck, err;
    const char *path = dm_cfg_str(cfg, DM_CFG_MEMIF_SOCKET);
    const char *secret = dm_cfg_str(cfg, DM_CFG_MEMIF_SECRET);
    const char *mac = dm_cfg_str(cfg, DM_CFG_MAC);

    if ((err = dm_cfg_int(cfg, DM_CFG_MTU, &mtu)) < 0)
        return err;
    if (err == DM_CFG_AUTO)
        mtu = 1500;
    if (mtu > 9000)
        return dm_cfg_bad(DM_CFG_MTU, dm_cfg_raw(cfg, DM_CFG_MTU), "at most 9000 on memif");
    if ((err = dm_cfg_int(cfg, DM_CFG_MEMIF_RING, &ring)) < 0 || (err = dm_cfg_int(cfg, DM_CFG_MEMIF_BUF_SIZE, &bsize)) < 0 ||
        (err = dm_cfg_int(cfg, DM_CFG_MEMIF_ID, &id)) < 0 || (err = dm_cfg_enum(cfg, DM_CFG_MEMIF_ROLE, &role)) < 0 ||
        (err = dm_cfg_bool(cfg, DM_CFG_MEMIF_ABSTRACT, &abstract)) < 0 ||
        (err = dm_cfg_enum(cfg, DM_CFG_MEMIF_RX_CKSUM, &rxck)) < 0 ||
        (err = dm_cfg_int(cfg, DM_CFG_MEMIF_LINK_WAIT_MS, &wait_ms)) < 0)
        return err;
    if (ring & (ring - 1))
        return dm_cfg_bad(DM_CFG_MEMIF_RING, dm_cfg_raw(cfg, DM_CFG_MEMIF_RING), "a power of two");
    if (bsize % 64)
        return dm_cfg_bad(DM_CFG_MEMIF_BUF_SIZE, dm_cfg_raw(cfg, DM_CFG_MEMIF_BUF_SIZE), "a multiple of 64");
    if (!path || !*path || strlen(path) > MEMIF_SOCK_PATH_MAX - 1)
        return dm_cfg_bad(DM_CFG_MEMIF_SOCKET, path ? path : "", "a socket path of 1 to 106 characters");
    if (secret && strlen(secret) > MEMIF_SECRET_LEN)
        return dm_cfg_bad(DM_CFG_MEMIF_SECRET, secret, "at most 24 characters");

    struct memif_dev *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->max_frame = (uint32_t)mtu + MEMIF_ETH_OVERHEAD;
    d->scratch = malloc(d->max_frame);
    if (!d->scratch) {
        free(d);
        return -ENOMEM;
    }
    d->server = role == 1;
    d->abstract = abstract;
    d->id = (uint32_t)id;
    d->buf_size = (uint32_t)bsize;
    d->log2_cfg = d->log2_ring = (uint8_t)__builtin_ctzll((unsigned long long)ring);
    d->rx_ol = rxck == 0 ? DM_BUF_RX_L4_CKSUM_GOOD : 0;
    d->ctl_countdown = 1;
    d->link_wait_ms = (uint32_t)wait_ms;
    snprintf(d->path, sizeof(d->path), "%s", path);
    snprintf(d->secret, sizeof(d->secret), "%s", secret ? secret : "");
    if (mac && dm_mac_parse(mac, d->info.mac) < 0) {
        DM_ERR("memif", "DEMI_MAC=%s: expected xx:xx:xx:xx:xx:xx", mac);
        free(d->scratch);
        free(d);
        return -EINVAL;
    }
    if (!mac) { /* a locally administered address of our own: 02:fe:<pid> */
        uint32_t pid = (uint32_t)getpid();
        uint8_t m[6] = { 0x02, 0xfe, (uint8_t)(pid >> 24), (uint8_t)(pid >> 16), (uint8_t)(pid >> 8), (uint8_t)pid };
        memcpy(d->info.mac, m, 6);
    }
    snprintf(d->info.name, sizeof(d->info.name), "memif%u/%s", d->id, d->server ? "server" : "client");
    d->info.mtu = (uint16_t)mtu;
    d->info.max_segs = 64;
    /* every frame is copied: the copy completes the checksums (l2copy) */
    d->info.caps = DM_DEV_CAP_TX_MULTISEG | DM_DEV_CAP_TX_IPV4_CKSUM | DM_DEV_CAP_TX_TCP_CKSUM | DM_DEV_CAP_TX_UDP_CKSUM |
                   DM_DEV_CAP_TX_L4_CKSUM6;
    if (d->rx_ol)
        d->info.caps |= DM_DEV_CAP_RX_CKSUM;
    d->info.caps |= DM_DEV_CAP_CAN_SLEEP; /* on ep_fd, after memif_wait_arm */
    /* TSO cut in the copy (tx_tso): pieces of at most the MTU */
    d->info.caps |= DM_DEV_CAP_TX_TCP_TSO | DM_DEV_CAP_TX_TCP_TSO6;
    d->info.tso_max = DM_DEV_TSO_MAX_DEFAULT;
    memif_fence_setup();
    if ((err = memif_ctl_open(d)) < 0) {
        free(d->scratch);
        free(d);
        return err;
    }
    dev->priv = d;
    dev->rx_burst = memif_rx;
    dev->tx_burst = memif_tx;
    (void)dm_stats_register(dev->inst, "memif", memif_st_names, d->st, MEMIF_NST);
    DM_INFO("memif", "opened %s on %s%s, mtu %lld", d->info.name, d->abstract ? "@" : "", d->path, (long long)mtu);
    return 0;
}

static int memif_start(struct dm_dev *dev)
{
    struct memif_dev *d = dev->priv;
    int64_t wait_ms = d->link_wait_ms;
    for (int64_t t = 0; d->state != MEMIF_UP && t < wait_ms; t++) {
        memif_ctl_poll(d);
        if (d->state != MEMIF_UP)
            usleep(1000);
    }
    if (wait_ms && d->state != MEMIF_UP)
        DM_WARN("memif", "%s: no peer after %lld ms (DEMI_MEMIF_LINK_WAIT_MS)", d->info.name, (long long)wait_ms);
    return 0;
}

static void memif_close(struct dm_dev *dev)
{
    struct memif_dev *d = dev->priv;
    if (!d)
        return;
    dm_stats_unregister(dev->inst, d->st);
    memif_ctl_close(d);
    free(d->scratch);
    free(d);
    dev->priv = NULL;
}

static int memif_info(struct dm_dev *dev, struct dm_dev_info *info)
{
    struct memif_dev *d = dev->priv;
    *info = d->info;
    info->link_up = d->state == MEMIF_UP;
    return 0;
}

/* An epoll set, the same fd for the device's life: the listening and
 * control sockets, and the eventfd of the ring we read while connected. */
static int memif_wait_fd(struct dm_dev *dev)
{
    struct memif_dev *d = dev->priv;
    return d->ep_fd;
}

static const struct dm_dev_ops memif_ops = {
    .name = "memif",
    .open = memif_open,
    .start = memif_start,
    .close = memif_close,
    .info = memif_info,
    .wait_fd = memif_wait_fd,
    .wait_arm = memif_wait_arm,
};
DM_DEV_REGISTER(memif_ops)
