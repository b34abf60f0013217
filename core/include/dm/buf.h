/* SPDX-License-Identifier: MIT */
/*
 * Packet and data buffers (dm_buf): the one buffer type shared by the
 * application (sgarrays), the stacks and the devices, so data moves between
 * them by reference, not by copy. Modelled on DPDK's rte_mbuf:
 *
 *  - A buffer owns a memory area [base, base + cap) and holds valid bytes at
 *    [data, data + len). Headroom (DM_BUF_HEADROOM) in front of pool buffers
 *    lets a stack prepend headers without a copy.
 *  - Buffers chain through `next` into one packet (or one sgarray); the head
 *    holds pkt_len and nb_segs for the whole chain.
 *  - refcnt counts holders of the *memory*. A "slice" (dm_buf_slice) is a
 *    new header whose data points into another buffer's memory; it holds a
 *    reference on that buffer (`shared`) and releases it when freed. This
 *    is how TCP keeps pushed data for retransmission and hands segments to
 *    a device without copying payload.
 *  - A reference is on one segment's memory, never on a chain: a header
 *    belongs to at most one chain, and whoever frees a chain unlinks it
 *    (dm_buf_free clears `next`). To hold data that sits in someone else's
 *    chain, take slices; never dm_buf_ref a header that is in a chain you
 *    do not own and then walk its `next`.
 *  - Memory that is not ours (a DPDK mbuf, an AF_XDP frame) is wrapped with
 *    dm_buf_wrap_ext(): free_fn gives it back to its owner.
 *
 * Pools are per instance, single threaded, fixed size, preallocated: no
 * malloc and no lock on the fast path. Exhaustion returns NULL (callers turn
 * it into -ENOBUFS: backpressure, never an abort).
 */
#ifndef DM_BUF_H
#define DM_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "dm/compiler.h"

#define DM_BUF_HEADROOM 128u  /* room for Ethernet + IPv4 + TCP with options */
#define DM_BUF_MAGIC    0x646d6266u /* "dmbf": set while a header is live */

/* ol_flags: offload requests on TX, results on RX */
#define DM_BUF_TX_IP_CKSUM   (1u << 0) /* device computes the IPv4 header checksum */
#define DM_BUF_TX_TCP_CKSUM  (1u << 1) /* device computes the TCP checksum (pseudo-header sum preloaded) */
#define DM_BUF_TX_UDP_CKSUM  (1u << 2)
/* TCP segmentation offload (DM_DEV_CAP_TX_TCP_TSO): the device cuts the
 * frame's TCP payload into pieces of the head's tso_segsz bytes, each with
 * a copy of the headers, as DPDK's RTE_MBUF_F_TX_TCP_SEG does. The stack
 * sets l2/l3/l4_len, the IP length of the whole frame, and the TCP
 * checksum field to the pseudo-header sum *without* the length (DPDK's
 * contract); the device writes each piece's IP length, IPv4 ID (+1 a
 * piece), sequence number, checksums, and FIN/PSH on the last piece only
 * and CWR on the first only. Implies DM_BUF_TX_TCP_CKSUM. */
#define DM_BUF_TX_TCP_SEG    (1u << 3)
#define DM_BUF_RX_IP_CKSUM_GOOD  (1u << 8)
#define DM_BUF_RX_L4_CKSUM_GOOD  (1u << 9)
#define DM_BUF_RX_IP_CKSUM_BAD   (1u << 10)
#define DM_BUF_RX_L4_CKSUM_BAD   (1u << 11)
/* The device's receive buffers are running out: whoever keeps this buffer
 * for long (a receive queue the application is slow to read) should copy
 * its bytes and free it, or a few such connections hold the device's whole
 * pool and nothing at all can be received any more. */
#define DM_BUF_RX_SCARCE         (1u << 12)
/* Handed over by another process of a port they share (dm_dev_forward):
 * never handed on again. */
#define DM_BUF_RX_FORWARDED      (1u << 13)

struct dm_bufpool;
struct dm_buf;
typedef void (*dm_buf_free_fn)(struct dm_buf *b, void *arg);

struct dm_buf {
    uint8_t *data;           /* first valid byte of this segment */
    uint32_t len;            /* valid bytes in this segment */
    uint32_t pkt_len;        /* head only: bytes in the whole chain */
    struct dm_buf *next;     /* next segment of the chain */
    uint16_t nb_segs;        /* head only: segments in the chain */
    uint16_t refcnt;         /* holders of this buffer's memory */
    uint32_t ol_flags;       /* DM_BUF_TX_* / DM_BUF_RX_* */
    uint8_t l2_len, l3_len, l4_len, flags_; /* header lengths, for TX offload */
    uint32_t magic;          /* DM_BUF_MAGIC while allocated */
    uint16_t tso_segsz;      /* head, with DM_BUF_TX_TCP_SEG: payload bytes a piece */
    uint8_t *base;           /* memory area */
    uint32_t cap;            /* its size */
    uint32_t pool_idx_;      /* internal */
    struct dm_buf *shared;   /* slice: the buffer whose memory we point into */
    struct dm_bufpool *pool; /* where the header returns; NULL: heap */
    dm_buf_free_fn free_fn;  /* external memory: called when the last ref goes */
    void *free_arg;
    void *dev_priv;          /* owner device's cookie (e.g. struct rte_mbuf *) */
    uint64_t udata;          /* scratch for whoever holds the buffer now */
};

struct dm_instance;

/* Names an anonymous mapping of the datapath's ("[anon:NAME]" in
 * /proc/PID/maps), so that its memory is seen as ours, not the
 * application's heap. Best effort. */
void dm_mem_name(void *p, size_t len, const char *name);
/* Zeroed memory for a table that is used from its start up as it fills (a
 * pool's headers and free list, the queue and op tables): an anonymous
 * mapping, whose pages come when first touched whatever the allocator
 * does. glibc's MALLOC_PERTURB_ (meson's test runner sets it) fills every
 * malloc'd block, and every calloc'd one, at once: 22 ms an instance, all
 * of it in memory, with every lock of the preload held. NULL when none;
 * dm_lazy_free takes the same length. */
void *dm_lazy_alloc(size_t len, const char *name);
void dm_lazy_free(void *p, size_t len);
/* Bytes of [p, p + len) that are in memory now (mincore), for the `mem.*`
 * gauges; 0 when the kernel cannot tell. Slow: only where stats are read. */
size_t dm_mem_resident(const void *p, size_t len);

/* Pools. `data_size` is the usable size after DM_BUF_HEADROOM (0 for a pool
 * of bare headers, used for slices and external wraps). */
struct dm_bufpool *dm_bufpool_create(const char *name, uint32_t count, uint32_t data_size);
void dm_bufpool_destroy(struct dm_bufpool *p);
uint32_t dm_bufpool_avail(const struct dm_bufpool *p);
uint32_t dm_bufpool_data_size(const struct dm_bufpool *p);
/* The contiguous memory of the pool's data areas (for DMA registration). */
void dm_bufpool_region(const struct dm_bufpool *p, void **base, size_t *len);
/* What the pool costs in memory now: its data slots in memory (data) and
 * its headers and free stack as far as they were ever used (meta). */
void dm_bufpool_mem(const struct dm_bufpool *p, size_t *data, size_t *meta);
/* Moves the data region of pool p into [mem, mem + len) (len at least the
 * region's, mem 64-byte aligned): memory a device registered, so that it
 * can send the pool's buffers by reference (AF_XDP's UMEM). The pool's
 * own region is released; mem stays the caller's, and release(arg) runs
 * when the pool is destroyed or placed again, after which the pool no
 * longer touches it. Only while no buffer of the pool is out: -EBUSY
 * otherwise; -EINVAL for a pool without data or too small a len. With
 * mem NULL, only says whether it could (0, -EBUSY, -EINVAL). */
int dm_bufpool_place(struct dm_bufpool *p, void *mem, size_t len, void (*release)(void *arg), void *arg);

/* A buffer from the instance's data pool with headroom reserved, len 0. */
struct dm_buf *dm_buf_alloc(struct dm_instance *inst);
/* A buffer of any size: pool when it fits, heap otherwise (slow path). */
struct dm_buf *dm_buf_alloc_size(struct dm_instance *inst, size_t size);
/* A buffer for the application's bytes (demi_sgaalloc, the preload's
 * copies of what it sends): from the pool while more than its reserve
 * (an eighth) is free, from the heap otherwise. A fitting pool buffer is
 * taken only for size <= the pool's data size, or for any size when
 * partial is set (the caller chains several). The reserve keeps the
 * stack's own frames (ACKs, SYN-ACKs, ARP replies) going when connections
 * whose peers vanished with unread data hold the rest. NULL: out of memory. */
struct dm_buf *dm_buf_alloc_app(struct dm_instance *inst, size_t size, bool partial);
/* A bare header from the header pool, for slices and wraps. */
struct dm_buf *dm_buf_alloc_hdr(struct dm_instance *inst);
/* A new header over bytes [off, off+len) of b's segment (not its chain);
 * b gains a reference. NULL when out of headers. */
struct dm_buf *dm_buf_slice(struct dm_instance *inst, struct dm_buf *b, uint32_t off, uint32_t len);
/* Wraps foreign memory; free_fn(b, arg) runs when the last reference goes. */
struct dm_buf *dm_buf_wrap_ext(struct dm_instance *inst, void *data, uint32_t len,
                               dm_buf_free_fn free_fn, void *arg);
/* Copies a chain into one new buffer (pool or heap). */
struct dm_buf *dm_buf_linearize(struct dm_instance *inst, const struct dm_buf *chain);
/* Copies `len` bytes from offset `off` of a chain into dst; returns bytes copied. */
uint32_t dm_buf_copy_out(const struct dm_buf *chain, uint32_t off, void *dst, uint32_t len);

/* Adds a holder of b's memory. */
static inline void dm_buf_ref(struct dm_buf *b) { b->refcnt++; }
/* Drops one reference on one segment (not the chain). */
void dm_buf_free_seg(struct dm_buf *b);
/* Drops one reference on every segment of a chain. NULL is accepted. */
void dm_buf_free(struct dm_buf *chain);

/* True when p is a live header of ours: used to validate app-provided handles. */
bool dm_buf_valid(const struct dm_buf *b);

static inline uint32_t dm_buf_headroom(const struct dm_buf *b) { return (uint32_t)(b->data - b->base); }
static inline uint32_t dm_buf_tailroom(const struct dm_buf *b) { return (uint32_t)(b->base + b->cap - (b->data + b->len)); }
/* Prepends n bytes (for a header); NULL when there is no headroom. */
static inline uint8_t *dm_buf_prepend(struct dm_buf *b, uint32_t n)
{
    if (dm_unlikely(n > dm_buf_headroom(b)))
        return NULL;
    b->data -= n;
    b->len += n;
    b->pkt_len += n;
    return b->data;
}
/* Removes n bytes from the front of the head segment. */
static inline uint8_t *dm_buf_adj(struct dm_buf *b, uint32_t n)
{
    if (dm_unlikely(n > b->len))
        return NULL;
    b->data += n;
    b->len -= n;
    b->pkt_len -= n;
    return b->data;
}
/* Appends n bytes at the tail of this segment; NULL when no tailroom. */
static inline uint8_t *dm_buf_append(struct dm_buf *b, uint32_t n)
{
    if (dm_unlikely(n > dm_buf_tailroom(b)))
        return NULL;
    uint8_t *p = b->data + b->len;
    b->len += n;
    b->pkt_len += n;
    return p;
}
/* Links `tail` (a chain) after the last segment of `head`'s chain. */
void dm_buf_chain(struct dm_buf *head, struct dm_buf *tail);

#endif /* DM_BUF_H */
