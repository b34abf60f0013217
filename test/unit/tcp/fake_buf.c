/* SPDX-License-Identifier: MIT */
/*
 * Strict test double of dm_buf_free / dm_buf_free_seg for tcp_reass unit
 * tests: heap buffers with the buf.h refcount semantics, a live count for
 * leak checks and a counter (instead of core's silent log-once) for double
 * frees, so a test fails on either.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>
#include "fake_buf.h"

static long live, bad;

long fake_live(void) { return live; }
long fake_bad_frees(void) { return bad; }

static struct dm_buf *one(const uint8_t *src, uint32_t len, uint32_t pad)
{
    uint32_t cap = DM_BUF_HEADROOM + len + pad + 1;
    struct dm_buf *b = calloc(1, sizeof(*b) + cap);
    b->base = (uint8_t *)(b + 1);
    b->cap = cap;
    b->data = b->base + DM_BUF_HEADROOM;
    memcpy(b->data, src, len);
    memset(b->data + len, 0xee, pad);
    b->len = b->pkt_len = len + pad;
    b->nb_segs = 1;
    b->refcnt = 1;
    b->magic = DM_BUF_MAGIC;
    live++;
    return b;
}

struct dm_buf *fake_chain(const uint8_t *data, uint32_t len, unsigned nsegs, uint32_t pad)
{
    if (nsegs == 0)
        nsegs = 1;
    struct dm_buf *head = NULL, *tail = NULL;
    uint32_t off = 0;
    for (unsigned i = 0; i < nsegs; i++) {
        uint32_t n = i == nsegs - 1 ? len - off : len / nsegs;
        struct dm_buf *b = one(data + off, n, i == nsegs - 1 ? pad : 0);
        off += n;
        if (!head) {
            head = tail = b;
        } else {
            tail->next = b;
            tail = b;
            head->pkt_len += b->len;
            head->nb_segs++;
        }
    }
    return head;
}

void dm_buf_free_seg(struct dm_buf *b)
{
    if (!b || b->magic != DM_BUF_MAGIC || b->refcnt == 0) {
        bad++;
        return;
    }
    if (--b->refcnt)
        return;
    b->magic = 0;
    live--;
    free(b);
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

uint32_t fake_copy(const struct dm_buf *chain, uint8_t *dst, uint32_t max)
{
    uint32_t n = 0;
    unsigned segs = 0;
    for (const struct dm_buf *b = chain; b; b = b->next) {
        assert_int_equal(b->magic, DM_BUF_MAGIC);
        assert_true(n + b->len <= max);
        memcpy(dst + n, b->data, b->len);
        n += b->len;
        segs++;
    }
    assert_int_equal(chain->pkt_len, n);
    assert_int_equal(chain->nb_segs, segs);
    return n;
}
