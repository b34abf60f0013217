/* SPDX-License-Identifier: MIT */
/*
 * Software model of a NIC's TCP segmentation offload (DM_BUF_TX_TCP_SEG),
 * for the devices that stand in for hardware: loop cuts such frames before
 * they reach the ring, and fault cuts them into what would be on the wire
 * before it drops, reorders or corrupts pieces of them.
 *
 *  - dm_l2tso_count(): how many pieces a frame is cut into (1 for a frame
 *    that does not ask for TSO).
 *  - dm_l2tso_segment(): cuts a frame into pieces, each a fresh buffer of
 *    inst holding a copy of the headers, chained to slices of the frame's
 *    payload (no payload copy). Each piece asks for its own checksums as
 *    an ordinary frame does (DM_BUF_TX_IP_CKSUM for IPv4,
 *    DM_BUF_TX_TCP_CKSUM with its pseudo-header sum, length included,
 *    preloaded), for dm_l2csum_tx_fill() to serve. Frees the frame and
 *    returns the number of pieces; -ENOBUFS (out of buffers) or -EINVAL
 *    (not an Ethernet + IPv4/IPv6 + TCP frame with its headers in the head
 *    segment, a zero tso_segsz, more than max pieces) leave it untouched.
 */
#ifndef DM_L2TSO_H
#define DM_L2TSO_H

#include "dm/buf.h"

struct dm_instance;

unsigned dm_l2tso_count(const struct dm_buf *pkt);
/* The header length of a TSO frame these cut (Ethernet, IPv4 or IPv6
 * without extension headers, TCP, all in the head segment; *v6 says
 * which), or 0 for any other frame: for a device that cuts in its own
 * copy (memif). */
uint32_t dm_l2tso_hlen(const struct dm_buf *pkt, int *v6);
int dm_l2tso_segment(struct dm_instance *inst, struct dm_buf *pkt, struct dm_buf **out, unsigned max);

/* A TSO frame cut by a device into memory of its own (memif's ring, an
 * mbuf): each piece written whole, headers fixed, its TCP checksum summed
 * in the copy of its payload and its IPv4 one computed. The headers' sums
 * are taken once a frame from the stack's copy (in the cache): a piece's
 * checksums are these plus its own words, never read back from where it
 * was written (a ring's lines are the peer CPU's: reading them back
 * stalled on the copy's stores, a third of memif's TX time). */
struct dm_l2tso_cut {
    const struct dm_buf *pkt;
    uint32_t hl, l3, l4, seg, payload, n, seq0;
    uint64_t ps, ip_base, tcp_base;
    uint16_t id0;
    uint8_t flags, doff;
    int v6;
};
/* 0, or -EINVAL for a frame dm_l2tso_hlen does not take. */
int dm_l2tso_cut_init(struct dm_l2tso_cut *c, const struct dm_buf *pkt);
/* Piece i (< c->n) written to dst, which has room for hl + seg bytes;
 * returns its length. */
uint32_t dm_l2tso_cut_piece(const struct dm_l2tso_cut *c, uint32_t i, uint8_t *dst);

#endif /* DM_L2TSO_H */
