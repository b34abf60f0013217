/* SPDX-License-Identifier: MIT */
/*
 * Selective acknowledgements (RFC 2018, RFC 6675), both sides.
 *
 * Receiver (struct tcp_sack_rx): the data itself lives in the reassembly
 * queue (tcp_reass.h), which reports its disjoint out-of-order ranges with
 * tcp_reass_ranges(). The receiver only remembers, most recent first, a few
 * sequence numbers of segments it recently queued out of order, so that the
 * blocks it sends follow RFC 2018 section 4: the first block holds the most
 * recently received segment, the following ones repeat the most recently
 * reported ranges, then any others (highest first).
 *
 * Sender (struct tcp_sack_sb, the "scoreboard"): a small sorted array of
 * disjoint SACKed ranges above snd_una, merged as blocks arrive. It is
 * bounded (TCP_SACK_SB_MAX ranges); when full the lowest range is forgotten,
 * which is always safe (we may retransmit something the peer already has,
 * never the reverse). The scoreboard is advisory: the peer may renege
 * (RFC 2018 section 8), so the sender must keep SACKed data until it is
 * cumulatively ACKed and must call tcp_sack_sb_reset() on RTO.
 * tcp_sack_sb_next_hole() is RFC 6675 NextSeg() rule (1) simplified:
 * the first un-SACKed range above high_rxt that IsLost().
 *
 * Everything here is pure and fixed-size: no allocation, no I/O.
 */
#ifndef DM_TCP_SACK_H
#define DM_TCP_SACK_H

#include <stdbool.h>
#include <stdint.h>

/* One range [start, end) of sequence space, host byte order. */
struct tcp_sack_block {
    uint32_t start;
    uint32_t end;
};

/* ---------------------------------------------------------- receiver side */

#define TCP_SACK_RX_RECENT 4

struct tcp_sack_rx {
    uint32_t recent[TCP_SACK_RX_RECENT]; /* seqs of recently queued OOO segments, [0] newest */
    uint32_t dsack_start, dsack_end;     /* pending D-SACK report */
    uint8_t nrecent;
    uint8_t dsack;                       /* a D-SACK block is pending */
};

static inline void tcp_sack_rx_init(struct tcp_sack_rx *rx) { rx->nrecent = 0; rx->dsack = 0; }

/* D-SACK (RFC 2883): a duplicate segment [start, end) arrived (entirely
 * below rcv_nxt, or already queued: tcp_reass_insert returned 0). The next
 * tcp_sack_rx_blocks call reports it once as the first block, followed by
 * the out-of-order range containing it, if any. Lets the sender detect
 * spurious retransmissions. A later duplicate replaces a pending one. */
static inline void tcp_sack_rx_dsack(struct tcp_sack_rx *rx, uint32_t start, uint32_t end)
{
    if ((int32_t)(end - start) <= 0)
        return;
    rx->dsack_start = start;
    rx->dsack_end = end;
    rx->dsack = 1;
}

/* Call after queueing an out-of-order segment that starts at seq (any
 * sequence number inside the data it added works). */
void tcp_sack_rx_note(struct tcp_sack_rx *rx, uint32_t seq);

/*
 * Builds the SACK blocks to send. `ranges` are the out-of-order ranges held
 * (from tcp_reass_ranges(), any order, disjoint); ranges at or below rcv_nxt
 * are ignored. Writes at most `max` blocks to out (pass 3 with timestamps, 4
 * without), most recent first, no duplicates, after a pending D-SACK block
 * (consumed by this call). Returns the block count (0 when nothing is out
 * of order and no D-SACK is pending). Also forgets recent entries that are
 * no longer out of order.
 */
unsigned tcp_sack_rx_blocks(struct tcp_sack_rx *rx, const struct tcp_sack_block *ranges,
                            unsigned nranges, uint32_t rcv_nxt,
                            struct tcp_sack_block *out, unsigned max);

/* ------------------------------------------------------------ sender side */

#define TCP_SACK_SB_MAX 8

struct tcp_sack_sb {
    uint8_t n;                                /* ranges in r[] */
    uint32_t sacked;                          /* bytes covered by r[] */
    struct tcp_sack_block r[TCP_SACK_SB_MAX]; /* sorted by start, disjoint, non-adjacent */
};

/* Empties the scoreboard: at connection start and on every RTO (reneging). */
static inline void tcp_sack_sb_reset(struct tcp_sack_sb *sb) { sb->n = 0; sb->sacked = 0; }

/*
 * Merges received SACK blocks (from tcp_opts.sack) into the scoreboard.
 * Blocks are validated against the sender's state: a block must satisfy
 * snd_una < start < end <= snd_nxt after clipping to [snd_una, snd_nxt);
 * D-SACK blocks (RFC 2883, at or below snd_una) and bogus blocks (empty,
 * inverted, beyond snd_nxt, longer than 2^30) are ignored, never trusted.
 * snd_nxt here is the highest sequence number ever sent (snd_max, if the
 * sender rewinds snd_nxt for a go-back-N retransmission after an RTO):
 * blocks up to it are legitimate.
 * Returns the number of bytes newly SACKed by this call (0 if none).
 * `*bogus` (may be NULL) receives how many blocks were ignored as invalid
 * (excluding D-SACK), so the caller can count them.
 */
uint32_t tcp_sack_sb_update(struct tcp_sack_sb *sb, const struct tcp_sack_block *blocks,
                            unsigned nblocks, uint32_t snd_una, uint32_t snd_nxt,
                            unsigned *bogus);

/* Cumulative ACK advanced to snd_una: forgets everything below it. */
void tcp_sack_sb_ack(struct tcp_sack_sb *sb, uint32_t snd_una);

/* True when every byte of [seq, seq+len) is SACKed (len 0: false). The
 * sender skips such segments when retransmitting. */
bool tcp_sack_sb_is_sacked(const struct tcp_sack_sb *sb, uint32_t seq, uint32_t len);

/* Bytes SACKed strictly above seq. */
uint32_t tcp_sack_sb_sacked_above(const struct tcp_sack_sb *sb, uint32_t seq);

/* End of the highest SACKed range (the RFC 6675 "HighACK"-side bound), or
 * snd_una when the scoreboard is empty. */
static inline uint32_t tcp_sack_sb_high(const struct tcp_sack_sb *sb, uint32_t snd_una)
{
    return sb->n ? sb->r[sb->n - 1].end : snd_una;
}

/*
 * RFC 6675 IsLost(seq): true when at least `dupthresh` discontiguous SACKed
 * ranges lie above seq, or more than (dupthresh - 1) * mss bytes above seq
 * are SACKed. (Ranges stand in for the RFC's segments: a conservative
 * reading, since one range may hold several segments, the byte rule covers it.)
 */
bool tcp_sack_sb_is_lost(const struct tcp_sack_sb *sb, uint32_t seq, uint32_t mss,
                         unsigned dupthresh);

/*
 * NextSeg() rule (1), simplified: finds the lowest un-SACKed byte S with
 * S >= max(snd_una, high_rxt), S below the highest SACKed byte, and
 * IsLost(S). On success stores the range to retransmit in *seq / *len
 * (len <= mss, never overlapping a SACKed range) and returns true.
 * high_rxt is the first sequence number not yet retransmitted in this
 * recovery (RFC 6675 HighRxt + 1; pass snd_una at recovery start).
 * Rules (2)/(3) (new data, un-SACKed but not lost data) are the sender's call.
 */
bool tcp_sack_sb_next_hole(const struct tcp_sack_sb *sb, uint32_t snd_una, uint32_t high_rxt,
                           uint32_t mss, unsigned dupthresh, uint32_t *seq, uint32_t *len);

/*
 * RFC 6675 SetPipe(), simplified to ranges: the bytes in flight between
 * snd_una and snd_nxt, minus SACKed bytes, minus bytes in holes that are
 * IsLost() and not yet retransmitted (below high_rxt counts as retransmitted,
 * hence in flight again).
 */
uint32_t tcp_sack_sb_pipe(const struct tcp_sack_sb *sb, uint32_t snd_una, uint32_t snd_nxt,
                          uint32_t high_rxt, uint32_t mss, unsigned dupthresh);

#endif /* DM_TCP_SACK_H */
