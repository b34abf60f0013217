/* SPDX-License-Identifier: MIT */
/*
 * Copy and checksum in one pass (dpdk_csum.c).
 */
#ifndef DPDK_CSUM_H
#define DPDK_CSUM_H

#include <stdint.h>
#include "dm/buf.h"

/* Copies frame b (a chain, pkt_len bytes) to p and completes in the copy
 * the checksum that ol asks for (DM_BUF_TX_TCP_CKSUM or _UDP_CKSUM), with
 * DPDK's contract: the L4 checksum field holds the folded pseudo-header
 * sum, l2_len and l3_len say where L4 starts. The caller checks that the
 * field lies inside the frame. */
void dpdk_copy_l4_cksum(uint8_t *p, const struct dm_buf *b, uint32_t ol);
/* Which loop it uses: AVX2 when avx2 is set and the CPU has it (the
 * default), else SSE2. For tests, which check both. */
void dpdk_csum_simd(int avx2);

#endif /* DPDK_CSUM_H */
