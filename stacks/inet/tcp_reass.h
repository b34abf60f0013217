/* SPDX-License-Identifier: MIT */
/*
 * Out-of-order reassembly queue (per connection).
 *
 * Holds received segments that start after rcv_nxt until the hole before
 * them is filled. The queue is a small sorted array of disjoint,
 * non-adjacent ranges; each range is one dm_buf chain whose bytes are
 * exactly the range's sequence numbers (head->pkt_len == len). A segment
 * that touches or overlaps existing ranges is trimmed and chained to them,
 * so the array holds one entry per *gap*, not per segment, and the caller
 * gets back a ready-to-deliver chain.
 *
 * Overlap policy (duplicates and overlapping retransmissions never
 * duplicate bytes): bytes already queued at the edges of a new segment are
 * kept and the new segment is trimmed to the gap; a range lying entirely
 * inside the new segment is replaced by it (as Linux does). Trimming only
 * moves dm_buf data pointers and frees whole segments: no copy, no slice.
 *
 * Bounds on out-of-order data: at most TCP_REASS_MAX_RANGES - 1 gaps,
 * `limit` queued bytes and max_segs buffers (limit / 512, within
 * [64, 65535]: a peer sending 1-byte segments must not drain the buffer
 * pool). A segment that would exceed any of them is dropped (freed,
 * -ENOBUFS): the peer retransmits it; nothing already queued (maybe SACKed)
 * is reneged. Data starting at rcv_nxt is always accepted (it leaves at the
 * next tcp_reass_pop), so a full queue can never block the segment that
 * fills the hole.
 *
 * Ownership: tcp_reass_insert always takes the buffer (queued or freed).
 * Requires dm_buf_free() / dm_buf_free_seg() from core.
 */
#ifndef DM_TCP_REASS_H
#define DM_TCP_REASS_H

#include <stdint.h>
#include "dm/buf.h"
#include "tcp_sack.h"   /* struct tcp_sack_block */

#define TCP_REASS_MAX_RANGES 8

struct tcp_reass_range {
    struct dm_buf *head;   /* chain holding exactly [seq, seq + len) */
    struct dm_buf *tail;   /* its last segment, for O(1) appends */
    uint32_t seq;
    uint32_t len;
};

struct tcp_reass {
    uint32_t n;        /* ranges in use */
    uint32_t bytes;    /* bytes queued */
    uint32_t limit;    /* max bytes queued (e.g. the receive buffer) */
    uint32_t segs;     /* dm_buf segments held */
    uint32_t max_segs; /* bound on segs: tiny segments must not drain the pool */
    uint32_t dropped;  /* segments dropped for limit/ranges/segs (per connection, diag) */
    struct tcp_reass_range r[TCP_REASS_MAX_RANGES]; /* sorted by seq */
};

/* Empty queue holding at most `limit` bytes. */
void tcp_reass_init(struct tcp_reass *q, uint32_t limit);
/* Frees every queued buffer (connection reset/close); the queue stays usable. */
void tcp_reass_reset(struct tcp_reass *q);

/*
 * Queues `len` payload bytes of chain `b` starting at sequence `seq`.
 * b->data must point at the first payload byte (headers already removed
 * with dm_buf_adj); bytes of the chain beyond len (e.g. Ethernet padding)
 * are trimmed. Bytes before rcv_nxt are trimmed (old duplicates). seq may
 * equal rcv_nxt (then tcp_reass_pop returns it at once).
 * Returns the number of new bytes queued (>= 0; 0 = pure duplicate, b freed),
 * -ENOBUFS when dropped for the byte limit or the range table (b freed),
 * -EINVAL for len 0, len > pkt_len or len >= 2^30 (b freed).
 * The caller must ensure seq lies in the receive window.
 */
int tcp_reass_insert(struct tcp_reass *q, struct dm_buf *b, uint32_t seq, uint32_t len,
                     uint32_t rcv_nxt);

/*
 * If data starting at or before *rcv_nxt is queued, removes it and returns
 * its chain trimmed to start exactly at *rcv_nxt (stale data wholly below
 * *rcv_nxt is freed), and advances *rcv_nxt by the chain's pkt_len.
 * Returns NULL when the next byte is still missing. Call in a loop (ranges
 * are merged, so one call normally drains everything contiguous).
 */
struct dm_buf *tcp_reass_pop(struct tcp_reass *q, uint32_t *rcv_nxt);

/* Copies the queued ranges (ascending) into out (at most max); returns the
 * count written. For tcp_sack_rx_blocks(). */
unsigned tcp_reass_ranges(const struct tcp_reass *q, struct tcp_sack_block *out, unsigned max);

static inline uint32_t tcp_reass_bytes(const struct tcp_reass *q) { return q->bytes; }
static inline int tcp_reass_empty(const struct tcp_reass *q) { return q->n == 0; }

#endif /* DM_TCP_REASS_H */
