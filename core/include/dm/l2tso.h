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

#endif /* DM_L2TSO_H */
