/* SPDX-License-Identifier: MIT */
/*
 * Internet checksum (RFC 1071) in software. Sums are kept as 32-bit
 * partial sums (folded only at the end) so a header, a pseudo-header and a
 * chain of payload segments of any (odd) lengths can be summed piecewise.
 */
#ifndef INET_CSUM_H
#define INET_CSUM_H

#include <stdint.h>
#include "dm/buf.h"

/* Partial sum of len bytes; `odd` says the bytes start at an odd offset of
 * the whole summed stream (their bytes then land swapped). */
uint32_t inet_csum_partial(const void *p, uint32_t len, uint32_t sum);
/* Partial sum over `len` bytes of a chain starting at byte `off` of it. */
uint32_t inet_csum_chain(const struct dm_buf *b, uint32_t off, uint32_t len, uint32_t sum);

static inline uint16_t inet_csum_fold(uint32_t sum)
{
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Pseudo-header sum for TCP/UDP (addresses in network order). */
static inline uint32_t inet_csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint16_t l4len)
{
    uint64_t s = (uint64_t)(src & 0xffff) + (src >> 16) + (dst & 0xffff) + (dst >> 16);
    /* proto and length in network order, summed as 16-bit words */
    s += (uint32_t)__builtin_bswap16((uint16_t)proto) + __builtin_bswap16(l4len);
    while (s >> 32)
        s = (s & 0xffffffffu) + (s >> 32);
    return (uint32_t)s;
}

/* IPv6 pseudo-header sum (RFC 8200 8.1): 16-byte addresses as four
 * network-order words each, the 32-bit upper-layer length, the next
 * header. Summing 32-bit words with end-around carry gives the same
 * ones'-complement sum as 16-bit words. */
static inline uint32_t inet_csum_pseudo6(const uint32_t *src, const uint32_t *dst, uint8_t proto, uint32_t len)
{
    uint64_t s = 0;
    for (int i = 0; i < 4; i++)
        s += (uint64_t)src[i] + dst[i];
    s += (uint64_t)__builtin_bswap32(len) + __builtin_bswap32((uint32_t)proto);
    while (s >> 32)
        s = (s & 0xffffffffu) + (s >> 32);
    return (uint32_t)s;
}

/* Adds a 32-bit partial sum into another without overflow loss. */
static inline uint32_t inet_csum_add(uint32_t a, uint32_t b)
{
    uint32_t s = a + b;
    return s + (s < a);
}

#endif /* INET_CSUM_H */
