/* SPDX-License-Identifier: MIT */
/*
 * TCP options: parsing received options and writing ours.
 *
 * Parsing (tcp_opt_parse) walks the option bytes of one header once and
 * fills a small struct; the common data-segment layout NOP,NOP,TS is
 * recognised first with one 32-bit compare. Any malformed length (0 or 1,
 * running past the end, or the wrong size for a known kind) makes the whole
 * option area invalid: -EINVAL, and the caller counts and drops the segment
 * (as Linux does for a bad MSS/TS length it would otherwise misread).
 * Unknown kinds with a sane length are skipped. A window scale above 14 is
 * clamped to 14 (RFC 7323 2.3), not rejected.
 *
 * Writing produces 4-byte aligned option blocks padded with NOPs, never more
 * than TCP_OPT_MAX_LEN (40) bytes:
 *   SYN / SYN-ACK: MSS(4) [SACK-permitted+TS (12) | NOP,NOP,TS (12) |
 *                  NOP,NOP,SACK-permitted (4)] [NOP,WS (4)]    (<= 20 bytes)
 *   data / ACK:    [NOP,NOP,TS (12)] [NOP,NOP,SACK (2 + 8n)]  with
 *                  n <= 3 with timestamps, n <= 4 without.
 * All values in the structs are in host byte order.
 */
#ifndef DM_TCP_OPT_H
#define DM_TCP_OPT_H

#include <stddef.h>
#include <stdint.h>
#include "tcp_sack.h"   /* struct tcp_sack_block */

#define TCP_OPT_EOL       0
#define TCP_OPT_NOP       1
#define TCP_OPT_MSS       2
#define TCP_OPT_WSCALE    3
#define TCP_OPT_SACK_PERM 4
#define TCP_OPT_SACK      5
#define TCP_OPT_TS        8

#define TCP_OPT_MAX_LEN       40  /* 60-byte header max - 20-byte fixed part */
#define TCP_OPT_WSCALE_MAX    14  /* RFC 7323 2.3 */
#define TCP_OPT_SACK_MAX      4   /* at most 4 blocks fit in 40 bytes */
#define TCP_OPT_SACK_MAX_TS   3   /* with timestamps: 12 + 4 + 3*8 = 40 */

/* tcp_opts.present bits */
#define TCP_OPTF_MSS       (1u << 0)
#define TCP_OPTF_WSCALE    (1u << 1)
#define TCP_OPTF_SACK_PERM (1u << 2)
#define TCP_OPTF_TS        (1u << 3)
#define TCP_OPTF_SACK      (1u << 4)

/* What a received header carried. Only fields whose bit is in `present` are
 * meaningful. */
struct tcp_opts {
    uint8_t present;     /* TCP_OPTF_* */
    uint8_t wscale;      /* shift count, already clamped to 14 */
    uint8_t nsack;       /* SACK blocks in sack[] (1..4 when TCP_OPTF_SACK) */
    uint8_t wscale_clamped; /* 1 when the peer sent > 14 (caller may log once) */
    uint16_t mss;
    uint32_t tsval;
    uint32_t tsecr;
    struct tcp_sack_block sack[TCP_OPT_SACK_MAX];
};

/*
 * Parses `len` option bytes at `opt` (the bytes after the 20-byte fixed
 * header: opt = hdr + 20, len = data_offset * 4 - 20). `len` may be 0.
 * Returns 0, or -EINVAL when the options are malformed (out is then
 * unspecified; drop the segment). Fills `out` completely (no need to clear).
 */
int tcp_opt_parse(const uint8_t *opt, size_t len, struct tcp_opts *out);

/* What to put into a SYN or SYN-ACK. For a SYN-ACK include only what the
 * peer's SYN offered (RFC 7323: no TS/WS in SYN-ACK unless in the SYN;
 * RFC 2018: SACK-permitted likewise). */
struct tcp_opt_syn {
    uint16_t mss;        /* always sent */
    uint8_t wscale;      /* sent when want_wscale; clamped to 14 */
    uint8_t want_wscale;
    uint8_t want_sack_perm;
    uint8_t want_ts;
    uint32_t tsval;
    uint32_t tsecr;      /* 0 in a SYN; the peer's TSval in a SYN-ACK */
};

/*
 * Writes SYN/SYN-ACK options into dst (room bytes available). Returns the
 * number of bytes written (a multiple of 4, <= 20), or -ENOSPC when room is
 * too small for the requested set.
 */
int tcp_opt_write_syn(uint8_t *dst, size_t room, const struct tcp_opt_syn *syn);

/*
 * Writes options for a data segment or pure ACK: timestamps when ts != 0
 * (tsval, tsecr), then up to `nsack` SACK blocks (first block first: the
 * caller orders them most recent first). Blocks that do not fit are
 * silently dropped (3 with timestamps, 4 without, and never past room).
 * Returns bytes written (multiple of 4, <= 40; 0 when nothing to write),
 * or -ENOSPC when room cannot even hold the timestamps.
 */
int tcp_opt_write_ack(uint8_t *dst, size_t room, int ts, uint32_t tsval, uint32_t tsecr,
                      const struct tcp_sack_block *sack, unsigned nsack);

/* Bytes tcp_opt_write_ack would write for (ts, nsack) with unlimited room:
 * use it to size the header / compute the effective MSS before writing. */
static inline unsigned tcp_opt_ack_len(int ts, unsigned nsack)
{
    unsigned max = ts ? TCP_OPT_SACK_MAX_TS : TCP_OPT_SACK_MAX;
    unsigned n = nsack < max ? nsack : max;
    return (ts ? 12u : 0u) + (n ? 4u + 8u * n : 0u);
}

#endif /* DM_TCP_OPT_H */
