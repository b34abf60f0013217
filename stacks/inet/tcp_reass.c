/* SPDX-License-Identifier: MIT */
/*
 * Out-of-order reassembly queue (see tcp_reass.h for the policy).
 *
 * Insertion of [seq, end) finds the ranges it touches (overlapping or
 * adjacent), keeps the leftmost one if it starts at or before seq and the
 * rightmost one if it ends at or after end, frees the ones in between
 * (entirely covered by the new data), trims the new chain to the gap and
 * links left + new + right into one chain. Every check (limits) happens
 * before anything is modified, so a refused segment leaves the queue as it
 * was. The chain helpers keep head->pkt_len / nb_segs exact, since the
 * caller hands the popped chain to the application as is.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include "dm/compiler.h"
#include "tcp_reass.h"
#include "tcp_seq.h"

#define REASS_MAX_LEN (1u << 30)

/* Drops the first n bytes of a chain (n < pkt_len); returns the new head. */
static struct dm_buf *chain_trim_front(struct dm_buf *h, uint32_t n)
{
    while (n >= h->len && h->next) {
        struct dm_buf *next = h->next;
        n -= h->len;
        next->pkt_len = h->pkt_len - h->len;
        next->nb_segs = (uint16_t)(h->nb_segs - 1);
        h->next = NULL;
        dm_buf_free_seg(h);
        h = next;
    }
    dm_buf_adj(h, n);
    return h;
}

/* Keeps the first `keep` bytes (0 < keep <= pkt_len); frees the rest of the
 * chain. Returns the last segment kept. */
static struct dm_buf *chain_trim_tail(struct dm_buf *h, uint32_t keep)
{
    struct dm_buf *s = h;
    uint32_t acc = 0;
    uint16_t count = 1;
    while (acc + s->len < keep && s->next) {
        acc += s->len;
        s = s->next;
        count++;
    }
    s->len = keep - acc;
    if (s->next) {
        dm_buf_free(s->next);
        s->next = NULL;
    }
    h->pkt_len = keep;
    h->nb_segs = count;
    return s;
}

static struct dm_buf *chain_last(struct dm_buf *h)
{
    while (h->next)
        h = h->next;
    return h;
}

/* Appends chain b (with tail bt) after chain a (with tail at). */
static void chain_join(struct tcp_reass_range *a, struct dm_buf *b, struct dm_buf *bt, uint32_t blen)
{
    a->tail->next = b;
    a->head->pkt_len += b->pkt_len;
    a->head->nb_segs = (uint16_t)(a->head->nb_segs + b->nb_segs);
    a->tail = bt;
    a->len += blen;
}

void tcp_reass_init(struct tcp_reass *q, uint32_t limit)
{
    memset(q, 0, sizeof(*q));
    q->limit = limit;
    uint32_t ms = limit / 512;
    q->max_segs = ms < 64 ? 64 : ms > 65535 ? 65535 : ms;
}

void tcp_reass_reset(struct tcp_reass *q)
{
    for (uint32_t i = 0; i < q->n; i++)
        dm_buf_free(q->r[i].head);
    q->n = 0;
    q->bytes = 0;
    q->segs = 0;
}

int tcp_reass_insert(struct tcp_reass *q, struct dm_buf *b, uint32_t seq, uint32_t len,
                     uint32_t rcv_nxt)
{
    if (!b)
        return -EINVAL;
    /* Recount the chain: its head fields must be exact before we trim. */
    uint32_t total = 0, cnt = 0;
    for (struct dm_buf *x = b; x; x = x->next) {
        total += x->len;
        cnt++;
    }
    b->pkt_len = total;
    b->nb_segs = (uint16_t)(cnt > 65535 ? 65535 : cnt);
    if (cnt > 65535 || len == 0 || len > b->pkt_len || len >= REASS_MAX_LEN) {
        dm_buf_free(b);
        return -EINVAL;
    }
    uint32_t end = seq + len;
    if (tcp_seq_leq(end, rcv_nxt)) {          /* entirely old: a duplicate */
        dm_buf_free(b);
        return 0;
    }
    if (b->pkt_len > len)                     /* link-layer padding */
        chain_trim_tail(b, len);
    if (tcp_seq_lt(seq, rcv_nxt)) {
        b = chain_trim_front(b, rcv_nxt - seq);
        seq = rcv_nxt;
        len = end - seq;
    }

    /* Ranges touching [seq, end): first..last (first > last: none). */
    uint32_t first = 0;
    while (first < q->n && tcp_seq_lt(q->r[first].seq + q->r[first].len, seq))
        first++;
    uint32_t last = first;
    while (last < q->n && tcp_seq_leq(q->r[last].seq, end))
        last++;
    /* now [first, last) touch; */
    uint32_t ntouch = last - first;

    if (ntouch == 1 && tcp_seq_leq(q->r[first].seq, seq) &&
        tcp_seq_geq(q->r[first].seq + q->r[first].len, end)) {
        dm_buf_free(b);                       /* nothing new */
        return 0;
    }

    struct tcp_reass_range *left = NULL, *right = NULL;
    uint32_t old_bytes = 0;
    for (uint32_t i = first; i < last; i++)
        old_bytes += q->r[i].len;
    if (ntouch && tcp_seq_leq(q->r[first].seq, seq))
        left = &q->r[first];
    if (ntouch && tcp_seq_geq(q->r[last - 1].seq + q->r[last - 1].len, end) &&
        &q->r[last - 1] != left)
        right = &q->r[last - 1];
    uint32_t ustart = left ? left->seq : seq;
    uint32_t uend = right ? right->seq + right->len : end;
    uint32_t new_bytes = (uend - ustart) - old_bytes;

    /* Segments the result would hold (estimate before trimming: an upper
     * bound, trimming only frees segments). */
    uint32_t covered_segs = 0;
    for (uint32_t i = first; i < last; i++)
        if (&q->r[i] != left && &q->r[i] != right)
            covered_segs += q->r[i].head->nb_segs;
    uint32_t bsegs = b->nb_segs;

    /* Data at rcv_nxt leaves at the next pop: never refuse it, or a queue
     * full of far-ahead data would block the hole's own retransmission
     * forever. Out-of-order data may use all but one range slot, so an
     * in-order insert always finds one. */
    bool in_order = seq == rcv_nxt;
    if (!in_order &&
        (q->bytes + (uint64_t)new_bytes > q->limit ||
         (ntouch == 0 && q->n >= TCP_REASS_MAX_RANGES - 1) ||
         q->segs - covered_segs + (uint64_t)bsegs > q->max_segs)) {
        q->dropped++;
        dm_buf_free(b);
        return -ENOBUFS;
    }

    /* Trim the new chain to the gap between left and right. */
    uint32_t nseq = seq, nlen = len;
    if (left) {
        uint32_t ov = left->seq + left->len - seq;
        b = chain_trim_front(b, ov);
        nseq += ov;
        nlen -= ov;
    }
    struct dm_buf *btail;
    if (right) {
        uint32_t keep = right->seq - nseq;
        btail = chain_trim_tail(b, keep);
        nlen = keep;
    } else {
        btail = chain_last(b);
    }
    /* Free the covered ranges. */
    for (uint32_t i = first; i < last; i++) {
        if (&q->r[i] == left || &q->r[i] == right)
            continue;
        q->segs -= q->r[i].head->nb_segs;
        dm_buf_free(q->r[i].head);
    }
    q->segs += b->nb_segs;

    struct tcp_reass_range merged;
    if (left) {
        merged = *left;
        chain_join(&merged, b, btail, nlen);
    } else {
        merged.head = b;
        merged.tail = btail;
        merged.seq = nseq;
        merged.len = nlen;
    }
    if (right) {
        struct tcp_reass_range rr = *right;
        chain_join(&merged, rr.head, rr.tail, rr.len);
    }

    /* Replace r[first, last) by the merged range. */
    if (ntouch == 0) {
        memmove(&q->r[first + 1], &q->r[first], (q->n - first) * sizeof(q->r[0]));
        q->n++;
    } else if (ntouch > 1) {
        memmove(&q->r[first + 1], &q->r[last], (q->n - last) * sizeof(q->r[0]));
        q->n -= ntouch - 1;
    }
    q->r[first] = merged;
    q->bytes += new_bytes;
    return (int)new_bytes;
}

struct dm_buf *tcp_reass_pop(struct tcp_reass *q, uint32_t *rcv_nxt)
{
    while (q->n) {
        struct tcp_reass_range r = q->r[0];
        if (tcp_seq_gt(r.seq, *rcv_nxt))
            return NULL;                      /* the hole is still there */
        memmove(&q->r[0], &q->r[1], (q->n - 1) * sizeof(q->r[0]));
        q->n--;
        q->bytes -= r.len;
        q->segs -= r.head->nb_segs;
        if (tcp_seq_leq(r.seq + r.len, *rcv_nxt)) {
            dm_buf_free(r.head);              /* delivered meanwhile by another path */
            continue;
        }
        struct dm_buf *h = r.head;
        if (r.seq != *rcv_nxt)
            h = chain_trim_front(h, *rcv_nxt - r.seq);
        *rcv_nxt += h->pkt_len;
        return h;
    }
    return NULL;
}

unsigned tcp_reass_ranges(const struct tcp_reass *q, struct tcp_sack_block *out, unsigned max)
{
    unsigned n = q->n < max ? q->n : max;
    for (unsigned i = 0; i < n; i++) {
        out[i].start = q->r[i].seq;
        out[i].end = q->r[i].seq + q->r[i].len;
    }
    return n;
}
