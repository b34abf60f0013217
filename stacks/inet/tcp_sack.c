/* SPDX-License-Identifier: MIT */
/*
 * SACK receiver block generation and sender scoreboard (see tcp_sack.h).
 *
 * Both sides work on tiny arrays (<= 8 entries), so linear scans and
 * memmove beat any tree. All comparisons are modular (tcp_seq.h): ranges
 * are always within 2^30 of snd_una / rcv_nxt, which the validation in
 * tcp_sack_sb_update enforces for peer-supplied blocks.
 */
#include <string.h>
#include "dm/compiler.h"
#include "tcp_sack.h"
#include "tcp_seq.h"

#define SACK_MAX_SPAN (1u << 30)

/* ---------------------------------------------------------- receiver side */

void tcp_sack_rx_note(struct tcp_sack_rx *rx, uint32_t seq)
{
    unsigned n = rx->nrecent < TCP_SACK_RX_RECENT ? rx->nrecent : TCP_SACK_RX_RECENT - 1;
    memmove(&rx->recent[1], &rx->recent[0], n * sizeof(rx->recent[0]));
    rx->recent[0] = seq;
    rx->nrecent = (uint8_t)(n + 1);
}

unsigned tcp_sack_rx_blocks(struct tcp_sack_rx *rx, const struct tcp_sack_block *ranges,
                            unsigned nranges, uint32_t rcv_nxt,
                            struct tcp_sack_block *out, unsigned max)
{
    /* Candidate ranges strictly above rcv_nxt (clipped), at most 32 looked at. */
    struct tcp_sack_block cand[32];
    uint8_t used[32];
    unsigned nc = 0;
    for (unsigned i = 0; i < nranges && nc < DM_ARRAY_SIZE(cand); i++) {
        struct tcp_sack_block b = ranges[i];
        if (!tcp_seq_lt(b.start, b.end) || tcp_seq_leq(b.end, rcv_nxt))
            continue;
        if (tcp_seq_lt(b.start, rcv_nxt))
            b.start = rcv_nxt;
        cand[nc] = b;
        used[nc] = 0;
        nc++;
    }

    unsigned nout = 0, first = 0;
    if (rx->dsack && max > 0) {
        /* RFC 2883: the duplicate first, then the range holding it. */
        rx->dsack = 0;
        out[nout++] = (struct tcp_sack_block){rx->dsack_start, rx->dsack_end};
        first = 1;
        for (unsigned i = 0; i < nc && nout < max; i++) {
            if (tcp_seq_in_range(rx->dsack_start, cand[i].start, cand[i].end)) {
                used[i] = 1;
                out[nout++] = cand[i];
                break;
            }
        }
    }
    /* RFC 2018 4: newest segment's block first, then the ones reported most
     * recently (recent[] is kept in that order). */
    for (unsigned j = 0; j < rx->nrecent && nout < max; j++) {
        for (unsigned i = 0; i < nc; i++) {
            if (!used[i] && tcp_seq_in_range(rx->recent[j], cand[i].start, cand[i].end)) {
                used[i] = 1;
                out[nout++] = cand[i];
                break;
            }
        }
    }
    /* Then any other range, highest first (closest to what the sender sent last). */
    while (nout < max) {
        int best = -1;
        for (unsigned i = 0; i < nc; i++)
            if (!used[i] && (best < 0 || tcp_seq_gt(cand[i].start, cand[best].start)))
                best = (int)i;
        if (best < 0)
            break;
        used[best] = 1;
        out[nout++] = cand[best];
    }

    /* What we just reported becomes the recency order for next time; stale
     * entries (now in order or gone) disappear. */
    unsigned nr = nout - first < TCP_SACK_RX_RECENT ? nout - first : TCP_SACK_RX_RECENT;
    for (unsigned i = 0; i < nr; i++)
        rx->recent[i] = out[first + i].start;
    rx->nrecent = (uint8_t)nr;
    return nout;
}

/* ------------------------------------------------------------ sender side */

static void sb_recount(struct tcp_sack_sb *sb)
{
    uint32_t s = 0;
    for (unsigned i = 0; i < sb->n; i++)
        s += sb->r[i].end - sb->r[i].start;
    sb->sacked = s;
}

/* Inserts [s, e) into the sorted, disjoint array, merging overlapping and
 * adjacent ranges; when the array overflows, the lowest range is dropped. */
static void sb_insert(struct tcp_sack_sb *sb, uint32_t s, uint32_t e)
{
    struct tcp_sack_block tmp[TCP_SACK_SB_MAX + 1];
    unsigned n = 0, i = 0;

    /* ranges entirely below s (not touching) */
    while (i < sb->n && tcp_seq_lt(sb->r[i].end, s))
        tmp[n++] = sb->r[i++];
    /* ranges touching/overlapping [s, e) merge into it */
    while (i < sb->n && tcp_seq_leq(sb->r[i].start, e)) {
        s = tcp_seq_min(s, sb->r[i].start);
        e = tcp_seq_max(e, sb->r[i].end);
        i++;
    }
    tmp[n].start = s;
    tmp[n].end = e;
    n++;
    while (i < sb->n)
        tmp[n++] = sb->r[i++];

    unsigned drop = n > TCP_SACK_SB_MAX ? n - TCP_SACK_SB_MAX : 0;
    memcpy(sb->r, tmp + drop, (n - drop) * sizeof(tmp[0]));
    sb->n = (uint8_t)(n - drop);
}

uint32_t tcp_sack_sb_update(struct tcp_sack_sb *sb, const struct tcp_sack_block *blocks,
                            unsigned nblocks, uint32_t snd_una, uint32_t snd_nxt,
                            unsigned *bogus)
{
    unsigned nbad = 0;
    uint32_t before = sb->sacked;

    for (unsigned k = 0; k < nblocks; k++) {
        uint32_t s = blocks[k].start, e = blocks[k].end;
        if (!tcp_seq_lt(s, e) || e - s >= SACK_MAX_SPAN) {
            nbad++;                              /* empty, inverted or absurd */
            continue;
        }
        if (tcp_seq_leq(e, snd_una))
            continue;                            /* D-SACK (RFC 2883): not new info */
        if (tcp_seq_gt(e, snd_nxt)) {
            nbad++;                              /* SACKs data we never sent */
            continue;
        }
        if (tcp_seq_lt(s, snd_una))
            s = snd_una;                         /* partly below the cumulative ACK */
        if (s == e)
            continue;
        sb_insert(sb, s, e);
    }
    sb_recount(sb);
    if (bogus)
        *bogus = nbad;
    return sb->sacked > before ? sb->sacked - before : 0;
}

void tcp_sack_sb_ack(struct tcp_sack_sb *sb, uint32_t snd_una)
{
    unsigned i = 0;
    while (i < sb->n && tcp_seq_leq(sb->r[i].end, snd_una))
        i++;
    if (i) {
        memmove(sb->r, sb->r + i, (sb->n - i) * sizeof(sb->r[0]));
        sb->n = (uint8_t)(sb->n - i);
    }
    if (sb->n && tcp_seq_lt(sb->r[0].start, snd_una))
        sb->r[0].start = snd_una;
    sb_recount(sb);
}

bool tcp_sack_sb_is_sacked(const struct tcp_sack_sb *sb, uint32_t seq, uint32_t len)
{
    if (len == 0)
        return false;
    for (unsigned i = 0; i < sb->n; i++)
        if (tcp_seq_leq(sb->r[i].start, seq) && tcp_seq_leq(seq + len, sb->r[i].end))
            return true;
    return false;
}

uint32_t tcp_sack_sb_sacked_above(const struct tcp_sack_sb *sb, uint32_t seq)
{
    uint32_t sum = 0;
    for (unsigned i = 0; i < sb->n; i++) {
        const struct tcp_sack_block *b = &sb->r[i];
        if (tcp_seq_gt(b->start, seq))
            sum += b->end - b->start;
        else if (tcp_seq_gt(b->end, seq + 1))
            sum += b->end - (seq + 1);
    }
    return sum;
}

/* Ranges lying entirely above seq. */
static unsigned ranges_above(const struct tcp_sack_sb *sb, uint32_t seq)
{
    unsigned c = 0;
    for (unsigned i = 0; i < sb->n; i++)
        if (tcp_seq_gt(sb->r[i].start, seq))
            c++;
    return c;
}

bool tcp_sack_sb_is_lost(const struct tcp_sack_sb *sb, uint32_t seq, uint32_t mss,
                         unsigned dupthresh)
{
    if (dupthresh == 0)
        dupthresh = 1;
    if (ranges_above(sb, seq) >= dupthresh)
        return true;
    return tcp_sack_sb_sacked_above(sb, seq) > (uint64_t)(dupthresh - 1) * mss;
}

bool tcp_sack_sb_next_hole(const struct tcp_sack_sb *sb, uint32_t snd_una, uint32_t high_rxt,
                           uint32_t mss, unsigned dupthresh, uint32_t *seq, uint32_t *len)
{
    if (mss == 0)
        return false;
    uint32_t from = tcp_seq_max(snd_una, high_rxt);
    uint32_t hole_start = snd_una;
    for (unsigned i = 0; i < sb->n; i++) {
        uint32_t hs = tcp_seq_max(hole_start, from), he = sb->r[i].start;
        hole_start = sb->r[i].end;
        if (!tcp_seq_lt(hs, he))
            continue;                 /* empty, or already retransmitted */
        /* Every byte of a hole has the same SACKed data above it, and
         * IsLost only weakens as seq grows: the first candidate decides. */
        if (!tcp_sack_sb_is_lost(sb, hs, mss, dupthresh))
            return false;
        *seq = hs;
        *len = DM_MIN(he - hs, mss);
        return true;
    }
    return false;
}

/* Bytes of [a, b) below `lim`. */
static uint32_t below(uint32_t a, uint32_t b, uint32_t lim)
{
    if (!tcp_seq_lt(a, lim))
        return 0;
    return tcp_seq_lt(b, lim) ? b - a : lim - a;
}

uint32_t tcp_sack_sb_pipe(const struct tcp_sack_sb *sb, uint32_t snd_una, uint32_t snd_nxt,
                          uint32_t high_rxt, uint32_t mss, unsigned dupthresh)
{
    uint64_t pipe = 0;
    uint32_t hs = snd_una;
    if (tcp_seq_lt(high_rxt, snd_una))
        high_rxt = snd_una;
    for (unsigned i = 0; i <= sb->n; i++) {
        uint32_t he = i < sb->n ? sb->r[i].start : snd_nxt;
        if (i < sb->n && tcp_seq_lt(he, snd_una)) {
            hs = tcp_seq_max(hs, sb->r[i].end);
            continue;
        }
        if (tcp_seq_gt(he, snd_nxt))
            he = snd_nxt;
        if (tcp_seq_lt(hs, he)) {
            /* RFC 6675 SetPipe: an un-SACKed octet counts once if not lost
             * (original still in flight) and once more if retransmitted. */
            if (!tcp_sack_sb_is_lost(sb, hs, mss, dupthresh))
                pipe += he - hs;
            pipe += below(hs, he, high_rxt);
        }
        if (i < sb->n)
            hs = tcp_seq_max(hs, sb->r[i].end);
    }
    return pipe > UINT32_MAX ? UINT32_MAX : (uint32_t)pipe;
}
