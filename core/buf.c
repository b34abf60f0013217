/* SPDX-License-Identifier: MIT */
/*
 * Buffer pools and buffer operations (see dm/buf.h for the model).
 *
 * A pool is two preallocated arrays: headers (struct dm_buf) and, for data
 * pools, one contiguous data region of `count` equal slots. Free headers
 * sit on a LIFO stack of indices, so a just-freed (cache-hot) buffer is the
 * next one handed out. Data memory is mapped with MAP_NORESERVE and touched
 * only when used. Buffers larger than a pool slot come from the heap: the
 * slow path for big sgaalloc() requests.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include "core_priv.h"

struct dm_bufpool {
    struct dm_buf *hdrs;
    uint8_t *data;
    size_t data_len;
    uint32_t count;
    uint32_t slot;          /* bytes per data slot (headroom + data_size) */
    uint32_t data_size;
    uint32_t *free;         /* stack of free indices */
    uint32_t nfree;         /* on that stack */
    uint32_t fresh;         /* hdrs[fresh..count) never handed out, not touched yet */
    uint32_t reserve;       /* application buffers stop here (dm_buf_alloc_app) */
    void (*placed_release)(void *arg); /* data lives in someone's memory (dm_bufpool_place) */
    void *placed_arg;
    char name[32];
};

void dm_mem_name(void *p, size_t len, const char *name)
{
    /* Linux 5.17+ with CONFIG_ANON_VMA_NAME; elsewhere the mapping keeps
     * its blank name */
    (void)prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)p, len, (unsigned long)name);
}

void *dm_lazy_alloc(size_t len, const char *name)
{
    if (len == 0)
        return NULL;
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    dm_mem_name(m, len, name);
    return m;
}

void dm_lazy_free(void *p, size_t len)
{
    if (p)
        munmap(p, len);
}

size_t dm_mem_resident(const void *p, size_t len)
{
    if (!p || !len)
        return 0;
    const size_t pg = 4096;
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)(pg - 1);
    size_t n = ((uintptr_t)p + len - a + pg - 1) / pg;
    unsigned char vec[256];
    size_t in = 0;
    for (size_t i = 0; i < n; i += sizeof(vec)) {
        size_t k = DM_MIN(n - i, sizeof(vec));
        if (mincore((void *)(a + i * pg), k * pg, vec) < 0)
            return 0;
        for (size_t j = 0; j < k; j++)
            in += vec[j] & 1;
    }
    return in * pg;
}

struct dm_bufpool *dm_bufpool_create(const char *name, uint32_t count, uint32_t data_size)
{
    if (count == 0)
        return NULL;
    struct dm_bufpool *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    snprintf(p->name, sizeof(p->name), "%s", name ? name : "pool");
    p->count = count;
    p->data_size = data_size;
    p->slot = data_size ? ((DM_BUF_HEADROOM + data_size + 63u) & ~63u) : 0;
    p->hdrs = dm_lazy_alloc((size_t)count * sizeof(struct dm_buf), "demi buffer headers");
    p->free = dm_lazy_alloc((size_t)count * sizeof(uint32_t), "demi buffer headers");
    if (!p->hdrs || !p->free)
        goto fail;
    if (p->slot) {
        p->data_len = (size_t)count * p->slot;
        void *m = mmap(NULL, p->data_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED)
            goto fail;
        p->data = m;
        dm_mem_name(m, p->data_len, "demi buffers");
    }
    /* Buffers are handed out freed-last-first, then upward from the never
     * used rest, whose headers are only touched when reached: an instance
     * per thread (the preload) costs the buffers it uses, not 32,768
     * headers each. */
    p->nfree = 0;
    p->fresh = 0;
    p->reserve = p->slot ? count / 8 : 0;
    return p;
fail:
    dm_bufpool_destroy(p);
    return NULL;
}

void dm_bufpool_destroy(struct dm_bufpool *p)
{
    if (!p)
        return;
    if (p->placed_release)
        p->placed_release(p->placed_arg);
    else if (p->data)
        munmap(p->data, p->data_len);
    dm_lazy_free(p->hdrs, (size_t)p->count * sizeof(struct dm_buf));
    dm_lazy_free(p->free, (size_t)p->count * sizeof(uint32_t));
    free(p);
}

void dm_bufpool_mem(const struct dm_bufpool *p, size_t *data, size_t *meta)
{
    *data = dm_mem_resident(p->data, p->data_len);
    /* entries are handed out upward from the never-used rest (fresh), so
     * only [0, fresh) was ever touched */
    *meta = sizeof(*p) + (size_t)p->fresh * (sizeof(struct dm_buf) + sizeof(uint32_t));
}

static inline uint32_t pool_avail(const struct dm_bufpool *p) { return p->nfree + (p->count - p->fresh); }
uint32_t dm_bufpool_avail(const struct dm_bufpool *p) { return pool_avail(p); }
uint32_t dm_bufpool_data_size(const struct dm_bufpool *p) { return p->data_size; }

void dm_bufpool_region(const struct dm_bufpool *p, void **base, size_t *len)
{
    *base = p->data;
    *len = p->data_len;
}

int dm_bufpool_place(struct dm_bufpool *p, void *mem, size_t len, void (*release)(void *arg), void *arg)
{
    if (!p->data || (mem && len < p->data_len))
        return -EINVAL;
    /* Each pool_get() computes b->base from p->data, and nothing else
     * keeps a pointer into the region: with every buffer home, the region
     * can move. */
    if (pool_avail(p) != p->count)
        return -EBUSY;
    if (!mem)
        return 0; /* only asked whether it could */
    if (p->placed_release)
        p->placed_release(p->placed_arg);
    else
        munmap(p->data, p->data_len);
    p->data = mem;
    p->placed_release = release;
    p->placed_arg = arg;
    return 0;
}

static inline void buf_reset(struct dm_buf *b)
{
    b->next = NULL;
    b->nb_segs = 1;
    b->refcnt = 1;
    b->ol_flags = 0;
    b->l2_len = b->l3_len = b->l4_len = 0;
    b->flags_ = 0;
    b->magic = DM_BUF_MAGIC;
    b->tso_segsz = 0;
    b->shared = NULL;
    b->free_fn = NULL;
    b->free_arg = NULL;
    b->dev_priv = NULL;
    b->udata = 0;
    b->len = 0;
    b->pkt_len = 0;
}

static struct dm_buf *pool_get(struct dm_bufpool *p)
{
    struct dm_buf *b;
    if (dm_likely(p->nfree)) {
        b = &p->hdrs[p->free[--p->nfree]];
    } else if (p->fresh < p->count) {
        b = &p->hdrs[p->fresh];
        b->pool = p;
        b->pool_idx_ = p->fresh++;
    } else {
        return NULL;
    }
    buf_reset(b);
    if (p->slot) {
        b->base = p->data + (size_t)b->pool_idx_ * p->slot;
        b->cap = p->slot;
        b->data = b->base + DM_BUF_HEADROOM;
    } else {
        b->base = b->data = NULL;
        b->cap = 0;
    }
    return b;
}

struct dm_buf *dm_buf_alloc(struct dm_instance *inst)
{
    struct dm_buf *b = pool_get(inst->data_pool);
    if (dm_unlikely(!b))
        inst->ctr.buf_alloc_fail++;
    return b;
}

struct dm_buf *dm_buf_alloc_hdr(struct dm_instance *inst)
{
    struct dm_buf *b = pool_get(inst->hdr_pool);
    if (dm_unlikely(!b))
        inst->ctr.hdr_alloc_fail++;
    return b;
}

static struct dm_buf *heap_buf(struct dm_instance *inst, size_t size)
{
    if (size > (1u << 30))
        return NULL;
    struct dm_buf *b = malloc(sizeof(*b) + DM_BUF_HEADROOM + size);
    if (!b)
        return NULL;
    buf_reset(b);
    b->pool = NULL;
    b->pool_idx_ = 0;
    b->base = (uint8_t *)(b + 1);
    b->cap = (uint32_t)(DM_BUF_HEADROOM + size);
    b->data = b->base + DM_BUF_HEADROOM;
    inst->ctr.heap_bufs++;
    return b;
}

struct dm_buf *dm_buf_alloc_size(struct dm_instance *inst, size_t size)
{
    if (size <= inst->data_pool->data_size)
        return dm_buf_alloc(inst);
    return heap_buf(inst, size);
}

struct dm_buf *dm_buf_alloc_app(struct dm_instance *inst, size_t size, bool partial)
{
    struct dm_bufpool *p = inst->data_pool;
    uint32_t avail = pool_avail(p);
    if (dm_likely(avail > p->reserve) && (partial || size <= p->data_size))
        return pool_get(p);
    if (avail <= p->reserve)
        inst->ctr.buf_reserve_hit++;
    return heap_buf(inst, size ? size : 1);
}

struct dm_buf *dm_buf_slice(struct dm_instance *inst, struct dm_buf *b, uint32_t off, uint32_t len)
{
    if (dm_unlikely(off > b->len || len > b->len - off))
        return NULL;
    struct dm_buf *s = dm_buf_alloc_hdr(inst);
    if (!s)
        return NULL;
    /* Always point at the owner of the memory, never at another slice, so
     * a slice of a slice does not keep a chain of headers alive. */
    struct dm_buf *owner = b->shared ? b->shared : b;
    dm_buf_ref(owner);
    s->shared = owner;
    s->base = owner->base;
    s->cap = owner->cap;
    s->data = b->data + off;
    s->len = len;
    s->pkt_len = len;
    s->dev_priv = owner->dev_priv;
    return s;
}

struct dm_buf *dm_buf_wrap_ext(struct dm_instance *inst, void *data, uint32_t len, dm_buf_free_fn free_fn, void *arg)
{
    struct dm_buf *b = dm_buf_alloc_hdr(inst);
    if (!b)
        return NULL;
    b->base = b->data = data;
    b->cap = b->len = b->pkt_len = len;
    b->free_fn = free_fn;
    b->free_arg = arg;
    return b;
}

uint32_t dm_buf_copy_out(const struct dm_buf *chain, uint32_t off, void *dst, uint32_t len)
{
    uint8_t *d = dst;
    uint32_t done = 0;
    for (const struct dm_buf *s = chain; s && done < len; s = s->next) {
        if (off >= s->len) {
            off -= s->len;
            continue;
        }
        uint32_t n = DM_MIN(s->len - off, len - done);
        memcpy(d + done, s->data + off, n);
        done += n;
        off = 0;
    }
    return done;
}

struct dm_buf *dm_buf_linearize(struct dm_instance *inst, const struct dm_buf *chain)
{
    uint32_t total = 0;
    for (const struct dm_buf *s = chain; s; s = s->next)
        total += s->len;
    struct dm_buf *b = dm_buf_alloc_size(inst, total);
    if (!b)
        return NULL;
    dm_buf_copy_out(chain, 0, b->data, total);
    b->len = b->pkt_len = total;
    b->ol_flags = chain->ol_flags;
    b->l2_len = chain->l2_len;
    b->l3_len = chain->l3_len;
    b->l4_len = chain->l4_len;
    b->tso_segsz = chain->tso_segsz;
    return b;
}

void dm_buf_free_seg(struct dm_buf *b)
{
    if (dm_unlikely(b->refcnt == 0 || b->magic != DM_BUF_MAGIC)) {
        dm_log_once("buf", "double free or foreign buffer %p ignored", (void *)b);
        return;
    }
    if (--b->refcnt)
        return;
    struct dm_buf *owner = b->shared;
    if (b->free_fn)
        b->free_fn(b, b->free_arg);
    b->magic = 0;
    if (b->pool) {
        struct dm_bufpool *p = b->pool;
        p->free[p->nfree++] = b->pool_idx_;
    } else {
        free(b);
    }
    if (owner)
        dm_buf_free_seg(owner);
}

void dm_buf_free(struct dm_buf *chain)
{
    while (chain) {
        struct dm_buf *next = chain->next;
        chain->next = NULL;
        dm_buf_free_seg(chain);
        chain = next;
    }
}

bool dm_buf_valid(const struct dm_buf *b)
{
    return b && b->magic == DM_BUF_MAGIC && b->refcnt > 0;
}

void dm_buf_chain(struct dm_buf *head, struct dm_buf *tail)
{
    struct dm_buf *last = head;
    while (last->next)
        last = last->next;
    last->next = tail;
    uint16_t segs = 0;
    uint32_t bytes = 0;
    for (struct dm_buf *s = tail; s; s = s->next) {
        segs++;
        bytes += s->len;
    }
    head->nb_segs = (uint16_t)(head->nb_segs + segs);
    head->pkt_len += bytes;
}
