/* SPDX-License-Identifier: MIT */
/*
 * stacks/uring: the provided buffer ring (group 0) that receives pick from.
 *
 * `count` buffers of `size` bytes in one anonymous mapping, published to
 * the kernel through a shared ring of buffer descriptors (liburing 2.3 has
 * no io_uring_setup_buf_ring(), so the ring is mapped and registered here).
 *
 * Incremental consumption (IOU_PBUF_RING_INC, Linux 6.12+, used when the
 * kernel takes it): a receive uses only the bytes it needs, and the next
 * receive - possibly of another socket - continues in the same buffer
 * (CQE flag BUF_MORE: the kernel is not done with it). So a 64 B message
 * does not pin a 64 KiB buffer, and big buffers cost nothing to small
 * messages. We track each buffer's fill offset (where the next chunk's
 * data starts), the chunks handed out (refs), and whether the kernel still
 * owns it; the buffer is published again when both are done.
 *
 * Only a few buffers are published at a time (`hot`); the others wait on
 * a stack of spares. The kernel takes buffers in ring order, so every
 * published buffer is written before any is reused: the receive copies'
 * working set is the published buffers plus those the application holds,
 * not the whole ring. A buffer that comes back while `hot` are published
 * goes on the stack; when the kernel finishes one, the most recently
 * returned spare (still in cache) is published in its place. The spares
 * are the reserve for an application that holds many chunks; the kernel
 * runs dry (ENOBUFS) only once they are all out, or when it ran through
 * the published ones between two of our polls: then that socket's
 * receive waits until we caught up and takes what piled up in one piece.
 * Measured faster than publishing every buffer with bench_uring_echo -T
 * (32 connections) against the epoll loop in the same run (the figures
 * are in CHANGELOG.md, 2026-12-03).
 *
 * Each buffer has `slack` bytes (a quarter of its size) before and after
 * it that the kernel never sees. A message the kernel split across two
 * buffers (the first filled to its end, the rest at the start of the next;
 * with incremental consumption and mixed sizes, about every other 64 KiB
 * message in a 128 KiB buffer) is joined there: the smaller part is copied
 * next to the larger (uring_rx.c), so the application pops one piece and
 * an echo sends once. Measured in bench_uring_echo -R, both threads on one
 * CPU (README.md).
 *
 * A chunk reaches the application as a dm_buf wrapping its bytes; its free
 * callback drops the chunk's reference. If the instance is destroyed while
 * the application still holds chunks, the memory is kept (br->dead) and
 * released when the last one comes back.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "dm/log.h"
#include "uring.h"

#ifndef IOU_PBUF_RING_INC
#define IOU_PBUF_RING_INC 2           /* linux/io_uring.h, 6.12 */
#endif
#ifndef IORING_CQE_F_BUF_MORE
#define IORING_CQE_F_BUF_MORE (1U << 4)
#endif

struct ur_br_desc {
    struct ur_bufring *br;
    uint32_t off;        /* fill offset: the kernel's next write goes here */
    uint16_t refs;       /* chunks of this buffer not yet put */
    uint16_t bid;
    uint8_t kernel;      /* published, the kernel may still write into it */
};

struct ur_bufring {
    struct io_uring_buf_ring *ring;
    size_t ring_len;
    uint8_t *mem;
    size_t mem_len;
    uint32_t count, size;
    uint32_t slack;      /* bytes before and after each buffer, ours only */
    size_t stride;       /* slack + size + slack */
    int mask;
    bool inc;
    uint32_t avail;      /* published buffers the kernel has not finished */
    uint32_t hot;        /* publish no more than this many at a time */
    uint32_t nspare;     /* buffers free but not published (spare[], a stack) */
    uint32_t out;        /* chunks lent to the application */
    bool dead;           /* the stack is gone */
    uint16_t *spare;
    struct ur_br_desc desc[];
};

void *ur_br_addr(const struct ur_bufring *br, uint16_t bid)
{
    return br->mem + (size_t)bid * br->stride + br->slack;
}

uint8_t *ur_br_ptr(const struct ur_bufring *br, uint16_t bid, uint32_t off)
{
    return (uint8_t *)ur_br_addr(br, bid) + (int32_t)off; /* off may reach back into the slack */
}

uint32_t ur_br_size(const struct ur_bufring *br) { return br->size; }

int ur_br_id(const struct ur_bufring *br, const void *p)
{
    const uint8_t *b = p;
    if (b < br->mem || b >= br->mem + br->mem_len)
        return -1;
    return (int)((size_t)(b - br->mem) / br->stride);
}

uint32_t ur_br_slack(const struct ur_bufring *br) { return br->slack; }

size_t ur_br_mem(const struct ur_bufring *br)
{
    return dm_mem_resident(br->mem, br->mem_len) + br->ring_len;
}

uint32_t ur_br_avail(const struct ur_bufring *br) { return br->avail + br->nspare; }

static void ur_br_publish(struct ur_bufring *br, uint16_t bid)
{
    struct ur_br_desc *d = &br->desc[bid];
    d->off = 0;
    d->kernel = 1;
    io_uring_buf_ring_add(br->ring, ur_br_addr(br, bid), br->size, bid, br->mask, 0);
    io_uring_buf_ring_advance(br->ring, 1);
    br->avail++;
}

/* A buffer is free again: publish it, or keep it as a spare when enough
 * are published. */
static void ur_br_release(struct ur_bufring *br, uint16_t bid)
{
    if (br->avail < br->hot)
        ur_br_publish(br, bid);
    else
        br->spare[br->nspare++] = bid;
}

uint32_t ur_br_take(struct ur_bufring *br, uint16_t bid, uint32_t len, uint32_t cqe_flags)
{
    struct ur_br_desc *d = &br->desc[bid];
    uint32_t off = br->inc ? d->off : 0;
    d->off = off + len;
    d->refs++;
    if (!br->inc || !(cqe_flags & IORING_CQE_F_BUF_MORE)) {
        d->kernel = 0; /* the kernel moved past this buffer */
        br->avail--;
        if (br->nspare)
            ur_br_publish(br, br->spare[--br->nspare]); /* the warmest spare */
    }
    return off;
}

void ur_br_put(struct ur_bufring *br, uint16_t bid)
{
    struct ur_br_desc *d = &br->desc[bid];
    if (--d->refs == 0 && !d->kernel)
        ur_br_release(br, bid);
}

static void ur_br_unmap(struct ur_bufring *br)
{
    munmap(br->ring, br->ring_len);
    munmap(br->mem, br->mem_len);
    free(br->spare);
    free(br);
}

static void ur_br_free_cb(struct dm_buf *b, void *arg)
{
    (void)b;
    struct ur_br_desc *d = arg;
    struct ur_bufring *br = d->br;
    br->out--;
    if (dm_unlikely(br->dead)) {
        if (br->out == 0)
            ur_br_unmap(br);
        return;
    }
    ur_br_put(br, d->bid);
}

struct dm_buf *ur_br_wrap(struct ur_stack *st, uint16_t bid, uint32_t off, uint32_t len)
{
    struct ur_bufring *br = st->br;
    uint8_t *p = ur_br_ptr(br, bid, off);
    struct dm_buf *b = dm_buf_wrap_ext(st->inst, p, len, ur_br_free_cb, &br->desc[bid]);
    if (b)
        br->out++;
    return b;
}

int ur_br_create(struct ur_stack *st, uint32_t count, uint32_t size, uint32_t hot, bool inc, bool inc_only)
{
    struct ur_bufring *br = calloc(1, sizeof(*br) + count * sizeof(struct ur_br_desc));
    if (!br)
        return -ENOMEM;
    br->spare = calloc(count, sizeof(*br->spare));
    if (!br->spare) {
        free(br);
        return -ENOMEM;
    }
    br->hot = hot && hot < count ? hot : count;
    br->count = count;
    br->size = size;
    br->mask = io_uring_buf_ring_mask(count);
    br->ring_len = (count * sizeof(struct io_uring_buf) + 4095) & ~(size_t)4095;
    br->ring = mmap(NULL, br->ring_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    br->slack = size / 4;
    br->stride = (size_t)br->slack * 2 + size;
    br->mem_len = (size_t)count * br->stride;
    /* Only the hot buffers are populated now (no page fault on the
     * receive path for them); a spare costs memory once it is first used.
     * Populating all of them made 6 MiB of an idle redis-server's RSS
     * (24 MB against the kernel's 12.7). */
    br->mem = mmap(NULL, br->mem_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (br->ring == MAP_FAILED || br->mem == MAP_FAILED) {
        if (br->ring != MAP_FAILED)
            munmap(br->ring, br->ring_len);
        if (br->mem != MAP_FAILED)
            munmap(br->mem, br->mem_len);
        free(br->spare);
        free(br);
        return -ENOMEM;
    }
    dm_mem_name(br->mem, br->mem_len, "demi uring rx");
    /* The buffers only: the slack around each is written only when a split
     * message is joined there (a quarter of the size on each side: 256 KiB
     * of the 768 KiB the hot buffers and their slack would populate). */
    for (uint32_t i = 0; i < br->hot; i++) /* 5.14+; else faulted in */
        (void)madvise((uint8_t *)ur_br_addr(br, (uint16_t)i), size, MADV_POPULATE_WRITE);
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (uint64_t)(uintptr_t)br->ring;
    reg.ring_entries = count;
    reg.bgid = 0;
    int r = -EINVAL;
    if (inc) {
        reg.pad = IOU_PBUF_RING_INC; /* the kernel's `flags` (liburing 2.3 calls it pad) */
        r = io_uring_register_buf_ring(&st->ring, &reg, 0);
        br->inc = r == 0;
    }
    if (r < 0 && inc_only) {
        ur_br_unmap(br);
        return -EOPNOTSUPP;
    }
    if (r < 0) {
        reg.pad = 0;
        r = io_uring_register_buf_ring(&st->ring, &reg, 0);
    }
    if (r < 0) {
        DM_INFO(UR_MOD, "buffer ring not available (%s): receives use pool buffers", strerror(-r));
        ur_br_unmap(br);
        return r;
    }
    io_uring_buf_ring_init(br->ring);
    for (uint32_t i = 0; i < count; i++) {
        br->desc[i].br = br;
        br->desc[i].bid = (uint16_t)i;
    }
    for (uint32_t i = 0; i < br->hot; i++) {
        br->desc[i].kernel = 1;
        io_uring_buf_ring_add(br->ring, ur_br_addr(br, (uint16_t)i), size, (uint16_t)i, br->mask, (int)i);
    }
    io_uring_buf_ring_advance(br->ring, (int)br->hot);
    br->avail = br->hot;
    for (uint32_t i = count; i > br->hot; i--) /* bid hot on top */
        br->spare[br->nspare++] = (uint16_t)(i - 1);
    st->br = br;
    if (br->inc)
        st->feat |= UR_F_BUF_INC;
    return 0;
}

int ur_br_rebind(struct ur_stack *st)
{
    struct ur_bufring *br = st->br;
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (uint64_t)(uintptr_t)br->ring;
    reg.ring_entries = br->count;
    reg.bgid = 0;
    reg.pad = br->inc ? IOU_PBUF_RING_INC : 0;
    int r = io_uring_register_buf_ring(&st->ring, &reg, 0);
    if (r < 0)
        return r;
    /* The new ring starts reading at entry 0: publish afresh what the old
     * one still owned. An incrementally consumed buffer resumes at its
     * fill offset, as the old ring had rewritten its entry. */
    io_uring_buf_ring_init(br->ring);
    int n = 0;
    for (uint32_t i = 0; i < br->count; i++) {
        struct ur_br_desc *d = &br->desc[i];
        if (!d->kernel)
            continue;
        uint32_t off = br->inc ? d->off : 0;
        io_uring_buf_ring_add(br->ring, (uint8_t *)ur_br_addr(br, d->bid) + off, br->size - off, d->bid,
                              br->mask, n++);
    }
    io_uring_buf_ring_advance(br->ring, n);
    return 0;
}

void ur_br_destroy(struct ur_stack *st)
{
    struct ur_bufring *br = st->br;
    if (!br)
        return;
    st->br = NULL;
    if (br->out) {
        br->dead = true; /* the application still holds some: free later */
        return;
    }
    ur_br_unmap(br);
}
