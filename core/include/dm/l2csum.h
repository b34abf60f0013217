/* SPDX-License-Identifier: MIT */
/*
 * Software model of a NIC's checksum offload, for the devices that stand in
 * for hardware (loop; fault uses it to corrupt *after* the checksum, as a
 * wire would). Works on dm_buf chains of Ethernet frames carrying IPv4, or
 * IPv6 whose next header is TCP or UDP (optionally one 802.1Q tag);
 * anything else is left alone.
 *
 *  - dm_l2csum_tx_fill(): performs what the frame's ol_flags request, with
 *    DPDK's contract: DM_BUF_TX_IP_CKSUM recomputes the IPv4 header
 *    checksum; DM_BUF_TX_TCP/UDP_CKSUM expects the stack to have preloaded
 *    the L4 checksum field with the (uncomplemented, folded) pseudo-header
 *    sum and completes it over the L4 header and payload. Writes only the
 *    checksum fields, in place. Clears the request bits it served. A
 *    NIC writes checksums on the wire, not in host memory: a device model
 *    that fills in place must first check dm_l2csum_tx_shared().
 *  - dm_l2csum_rx_flags(): verifies the IPv4 header and TCP/UDP checksums
 *    and returns DM_BUF_RX_{IP,L4}_CKSUM_{GOOD,BAD} bits (no IP bit for
 *    IPv6; none for what it does not understand, e.g. fragments).
 */
#ifndef DM_L2CSUM_H
#define DM_L2CSUM_H

#include <stdint.h>
#include "dm/buf.h"

#define DM_L2CSUM_TX_MASK (DM_BUF_TX_IP_CKSUM | DM_BUF_TX_TCP_CKSUM | DM_BUF_TX_UDP_CKSUM)

/* Ones' complement sum (not folded) of `len` bytes of a chain from `off`,
 * added to `sum`. Bytes past the chain's end count as absent. */
uint64_t dm_l2csum_sum(const struct dm_buf *chain, uint32_t off, uint32_t len, uint64_t sum);
/* Header fields in network byte order, at any alignment. */
static inline uint16_t dm_rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t dm_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void dm_wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void dm_wr32(uint8_t *p, uint32_t v)
{
    dm_wr16(p, (uint16_t)(v >> 16));
    dm_wr16(p + 2, (uint16_t)v);
}
/* Ones' complement sum (not folded) of n (even) bytes of flat memory, as
 * host-order words: for a checksum stored back with memcpy (memif's and
 * the TSO cutter's header sums). */
static inline uint64_t dm_l2csum_words(const uint8_t *p, uint32_t n)
{
    uint64_t s = 0;
    for (uint32_t i = 0; i + 1 < n; i += 2) {
        uint16_t w;
        __builtin_memcpy(&w, p + i, 2);
        s += w;
    }
    return s;
}
static inline uint16_t dm_l2csum_fold(uint64_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)s;
}
void dm_l2csum_tx_fill(struct dm_buf *pkt);
/* True when a checksum field that dm_l2csum_tx_fill() would write lies in
 * a segment someone else also holds (refcnt > 1, or a slice): writing it
 * would change their bytes too, and an L4 fill is not idempotent (it sums
 * over the field's current value). The caller then fills a private copy. */
int dm_l2csum_tx_shared(const struct dm_buf *pkt);
uint32_t dm_l2csum_rx_flags(const struct dm_buf *pkt);

#endif /* DM_L2CSUM_H */
