/* SPDX-License-Identifier: MIT */
/*
 * stacks/uring: the provided buffer ring (group 0) that receives pick from.
 *
 * `count` buffers of `size` bytes in one anonymous mapping, published to
 * the kernel through a shared ring of buffer descriptors (liburing 2.3 has
 * no io_uring_setup_buf_ring(), so the ring is mapped and registered here).
 * A received chunk reaches the application as a dm_buf wrapping the ring
 * buffer; its free callback publishes the buffer again. If the instance is
 * destroyed while the application still holds such buffers, the memory is
 * kept (br->dead) and released when the last one comes back.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "dm/log.h"
#include "uring.h"

struct ur_br_desc {
    struct ur_bufring *br;
    uint16_t bid;
};

struct ur_bufring {
    struct io_uring_buf_ring *ring;
    size_t ring_len;
    uint8_t *mem;
    size_t mem_len;
    uint32_t count, size;
    int mask;
    uint32_t avail;      /* buffers the kernel can pick */
    uint32_t out;        /* buffers lent to the application */
    bool dead;           /* the stack is gone */
    struct ur_stack *st;
    struct ur_br_desc desc[];
};

void *ur_br_addr(const struct ur_bufring *br, uint16_t bid)
{
    return br->mem + (size_t)bid * br->size;
}

uint32_t ur_br_size(const struct ur_bufring *br) { return br->size; }
uint32_t ur_br_avail(const struct ur_bufring *br) { return br->avail; }
void ur_br_taken(struct ur_bufring *br) { br->avail--; }

void ur_br_recycle(struct ur_bufring *br, uint16_t bid)
{
    io_uring_buf_ring_add(br->ring, ur_br_addr(br, bid), br->size, bid, br->mask, 0);
    io_uring_buf_ring_advance(br->ring, 1);
    br->avail++;
}

static void ur_br_unmap(struct ur_bufring *br)
{
    munmap(br->ring, br->ring_len);
    munmap(br->mem, br->mem_len);
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
    ur_br_recycle(br, d->bid);
}

struct dm_buf *ur_br_wrap(struct ur_stack *st, uint16_t bid, uint32_t len)
{
    struct ur_bufring *br = st->br;
    struct dm_buf *b = dm_buf_wrap_ext(st->inst, ur_br_addr(br, bid), len, ur_br_free_cb, &br->desc[bid]);
    if (b)
        br->out++;
    return b;
}

int ur_br_create(struct ur_stack *st, uint32_t count, uint32_t size)
{
    struct ur_bufring *br = calloc(1, sizeof(*br) + count * sizeof(struct ur_br_desc));
    if (!br)
        return -ENOMEM;
    br->count = count;
    br->size = size;
    br->mask = io_uring_buf_ring_mask(count);
    br->st = st;
    br->ring_len = (count * sizeof(struct io_uring_buf) + 4095) & ~(size_t)4095;
    br->ring = mmap(NULL, br->ring_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    br->mem_len = (size_t)count * size;
    /* Populated now: no page fault on the receive path. */
    br->mem = mmap(NULL, br->mem_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (br->ring == MAP_FAILED || br->mem == MAP_FAILED) {
        if (br->ring != MAP_FAILED)
            munmap(br->ring, br->ring_len);
        if (br->mem != MAP_FAILED)
            munmap(br->mem, br->mem_len);
        free(br);
        return -ENOMEM;
    }
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (uint64_t)(uintptr_t)br->ring;
    reg.ring_entries = count;
    reg.bgid = 0;
    int r = io_uring_register_buf_ring(&st->ring, &reg, 0);
    if (r < 0) {
        DM_INFO(UR_MOD, "buffer ring not available (%s): receives use pool buffers", strerror(-r));
        ur_br_unmap(br);
        return r;
    }
    io_uring_buf_ring_init(br->ring);
    for (uint32_t i = 0; i < count; i++) {
        br->desc[i].br = br;
        br->desc[i].bid = (uint16_t)i;
        io_uring_buf_ring_add(br->ring, ur_br_addr(br, (uint16_t)i), size, (uint16_t)i, br->mask, (int)i);
    }
    io_uring_buf_ring_advance(br->ring, (int)count);
    br->avail = count;
    st->br = br;
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
