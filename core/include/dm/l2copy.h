/* SPDX-License-Identifier: MIT */
/*
 * Copy and checksum in one pass (devices/loop/l2copy.c), for devices that
 * copy every frame anyway (memif, whether through DPDK or our own driver):
 * the stack hands its TCP/UDP checksums to the device, and the bytes are
 * read once instead of twice.
 */
#ifndef DM_L2COPY_H
#define DM_L2COPY_H

#include <stdint.h>
#include "dm/buf.h"

/* Copies frame b (a chain, pkt_len bytes) to p and completes in the copy
 * the checksum that ol asks for (DM_BUF_TX_TCP_CKSUM or _UDP_CKSUM), with
 * DPDK's contract: the L4 checksum field holds the folded pseudo-header
 * sum, l2_len and l3_len say where L4 starts. The caller checks that the
 * field lies inside the frame. */
void dm_l2copy_l4_cksum(uint8_t *p, const struct dm_buf *b, uint32_t ol);
/* Copies bytes [off, off + len) of chain b to dst and returns their ones'
 * complement sum, folded, as 16-bit words read in host order from dst
 * (memcpy a checksum computed from it back the same way): a device that
 * cuts TSO frames sums each piece's payload in the copy. */
uint16_t dm_l2copy_sum(uint8_t *dst, const struct dm_buf *b, uint32_t off, uint32_t len);
/* Which loop it uses: AVX2 when avx2 is set and the CPU has it (the
 * default), else SSE2. For tests, which check both. */
void dm_l2copy_simd(int avx2);

#endif /* DM_L2COPY_H */
