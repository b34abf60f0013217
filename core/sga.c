/* SPDX-License-Identifier: MIT */
/*
 * Scatter-gather arrays <-> buffer chains.
 *
 * An sgarray handed out by us has sga_buf = the head of a dm_buf chain whose
 * i-th buffer holds segment i. Pushing it makes slices of those buffers
 * (zero copy; the slices keep the memory alive even if the app frees the
 * array at once). Segments that do not lie inside a buffer of ours (an
 * array the app built itself) are copied: correct, just slower.
 */
#include <errno.h>
#include <string.h>
#include "core_priv.h"

static struct dm_buf *find_owner(struct dm_buf *chain, unsigned idx, const uint8_t *p, uint32_t len)
{
    if (!dm_buf_valid(chain))
        return NULL;
    struct dm_buf *b = chain;
    for (unsigned i = 0; b && i < idx; i++)
        b = b->next;
    /* Usual case: segment i is in buffer i. Otherwise search the chain. */
    for (int pass = 0; pass < 2; pass++) {
        for (struct dm_buf *s = pass ? chain : b; s; s = pass ? s->next : NULL) {
            if (!dm_buf_valid(s))
                return NULL;
            if (p >= s->base && p + len <= s->base + s->cap)
                return s;
        }
    }
    return NULL;
}

int dm_sga_to_chain(struct dm_instance *inst, const demi_sgarray_t *sga, struct dm_buf **out)
{
    struct dm_buf *head = NULL;
    *out = NULL;
    for (uint32_t i = 0; i < sga->sga_numsegs; i++) {
        const demi_sgaseg_t *seg = &sga->sga_segs[i];
        if (seg->sgaseg_len == 0)
            continue;
        uint8_t *p = seg->sgaseg_buf;
        struct dm_buf *owner = find_owner(sga->sga_buf, i, p, seg->sgaseg_len);
        struct dm_buf *s;
        if (owner) {
            s = dm_buf_alloc_hdr(inst);
            if (s) {
                struct dm_buf *root = owner->shared ? owner->shared : owner;
                dm_buf_ref(root);
                s->shared = root;
                s->base = root->base;
                s->cap = root->cap;
                s->data = p;
                s->len = s->pkt_len = seg->sgaseg_len;
                s->dev_priv = root->dev_priv;
            }
        } else {
            s = dm_buf_alloc_app(inst, seg->sgaseg_len, false);
            if (s) {
                memcpy(s->data, p, seg->sgaseg_len);
                s->len = s->pkt_len = seg->sgaseg_len;
            }
        }
        if (!s) {
            dm_buf_free(head);
            return -ENOBUFS;
        }
        if (head)
            dm_buf_chain(head, s);
        else
            head = s;
    }
    *out = head;
    return 0;
}

void dm_chain_to_sga(struct dm_instance *inst, struct dm_buf *chain, demi_sgarray_t *sga)
{
    if (chain->next && (chain->nb_segs > DEMI_SGARRAY_MAXSIZE || chain->nb_segs == 0)) {
        struct dm_buf *lin = dm_buf_linearize(inst, chain);
        if (lin) {
            dm_buf_free(chain);
            chain = lin;
        }
        /* Out of memory: hand out the first MAXSIZE segments' worth below;
         * the rest stays reachable through sga_buf and is freed with it. */
    }
    sga->sga_buf = chain;
    uint32_t n = 0;
    for (struct dm_buf *s = chain; s && n < DEMI_SGARRAY_MAXSIZE; s = s->next) {
        if (s->len == 0)
            continue;
        sga->sga_segs[n].sgaseg_buf = s->data;
        sga->sga_segs[n].sgaseg_len = s->len;
        n++;
    }
    sga->sga_numsegs = n;
}

demi_sgarray_t dm_sgaalloc(struct dm_instance *inst, size_t size, int *err)
{
    demi_sgarray_t sga;
    memset(&sga, 0, sizeof(sga));
    if (size == 0 || size > (1u << 30)) {
        *err = -EINVAL;
        return sga;
    }
    /* no clock read: allocating reads no time (a client allocating per
     * message paid a vDSO read per round trip for nothing) */
    struct dm_buf *b = dm_buf_alloc_app(inst, size, false);
    if (!b) {
        *err = size > dm_bufpool_data_size(inst->data_pool) ? -ENOMEM : -ENOBUFS;
        return sga;
    }
    b->len = b->pkt_len = (uint32_t)size;
    sga.sga_buf = b;
    sga.sga_numsegs = 1;
    sga.sga_segs[0].sgaseg_buf = b->data;
    sga.sga_segs[0].sgaseg_len = (uint32_t)size;
    *err = 0;
    return sga;
}

int dm_sgafree(struct dm_instance *inst, demi_sgarray_t *sga)
{
    (void)inst;
    if (!sga)
        return -EINVAL;
    if (!sga->sga_buf)
        return sga->sga_numsegs == 0 ? 0 : -EINVAL;
    struct dm_buf *b = sga->sga_buf;
    if (!dm_buf_valid(b))
        return -EINVAL;
    dm_buf_free(b);
    sga->sga_buf = NULL;
    sga->sga_numsegs = 0;
    return 0;
}
