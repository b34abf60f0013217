/* SPDX-License-Identifier: MIT */
/*
 * The TCP/UDP checksum of a frame completed while tx_copy copies it into
 * its mbuf (dpdk_csum.h): on a port without checksum offload whose every
 * frame is copied anyway (memif), the stack hands its checksums to the
 * device and the bytes are read once instead of twice. No DPDK here, so
 * test/unit/devices checks it against the software offload model
 * (dm/l2csum.h) on any chain.
 */
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include "dm/compiler.h"
#include "dpdk_csum.h"

/* Copies len bytes and returns their ones' complement sum, unfolded, as
 * 16-bit words read in host order (a lone last byte is the low byte of
 * its word), so a frame's L4 checksum costs no pass of its own: the copy
 * reads every byte anyway. */
static uint64_t copy_sum(uint8_t *dst, const uint8_t *src, uint32_t len)
{
    uint64_t s = 0;
#ifdef __SSE2__
    if (len >= 64) {
        /* 16-bit halves of 32-bit words into 32-bit lanes: a frame of at
         * most 64 KiB adds 2^11 values to a lane, far from a carry out */
        const __m128i m = _mm_set1_epi32(0xffff);
        __m128i a0 = _mm_setzero_si128(), a1 = a0, b0 = a0, b1 = a0;
        while (len >= 32) {
            __m128i v0 = _mm_loadu_si128((const __m128i *)src), v1 = _mm_loadu_si128((const __m128i *)(src + 16));
            _mm_storeu_si128((__m128i *)dst, v0);
            _mm_storeu_si128((__m128i *)(dst + 16), v1);
            a0 = _mm_add_epi32(a0, _mm_and_si128(v0, m));
            b0 = _mm_add_epi32(b0, _mm_srli_epi32(v0, 16));
            a1 = _mm_add_epi32(a1, _mm_and_si128(v1, m));
            b1 = _mm_add_epi32(b1, _mm_srli_epi32(v1, 16));
            src += 32;
            dst += 32;
            len -= 32;
        }
        uint32_t l[4];
        _mm_storeu_si128((__m128i *)l, _mm_add_epi32(_mm_add_epi32(a0, a1), _mm_add_epi32(b0, b1)));
        s += (uint64_t)l[0] + l[1] + l[2] + l[3]; /* each below 2^29: no carry lost */
    }
#endif
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, src, 8);
        memcpy(dst, &w, 8);
        s += (w & 0xffff) + ((w >> 16) & 0xffff) + ((w >> 32) & 0xffff) + (w >> 48);
        src += 8;
        dst += 8;
        len -= 8;
    }
    while (len >= 2) {
        uint16_t w;
        memcpy(&w, src, 2);
        memcpy(dst, &w, 2);
        s += w;
        src += 2;
        dst += 2;
        len -= 2;
    }
    if (len) {
        *dst = *src;
        s += *src;
    }
    return s;
}

static uint16_t fold16(uint64_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)s;
}

void dpdk_copy_l4_cksum(uint8_t *p, const struct dm_buf *b, uint32_t ol)
{
    uint32_t l4 = (uint32_t)b->l2_len + b->l3_len, pos = 0;
    uint64_t sum = 0;
    for (const struct dm_buf *s = b; s; s = s->next) {
        const uint8_t *src = s->data;
        uint32_t n = s->len;
        if (pos < l4) { /* Ethernet and IP headers: copied, not summed */
            uint32_t h = DM_MIN(n, l4 - pos);
            memcpy(p + pos, src, h);
            pos += h;
            src += h;
            n -= h;
        }
        if (!n)
            continue;
        uint16_t part = fold16(copy_sum(p + pos, src, n));
        /* a piece starting at an odd offset of the L4 bytes lands byte-swapped (RFC 1071 2(B)) */
        sum += (pos - l4) & 1 ? __builtin_bswap16(part) : part;
        pos += n;
    }
    uint16_t *ck = (uint16_t *)(p + l4 + ((ol & DM_BUF_TX_TCP_CKSUM) ? 16 : 6));
    uint16_t c = (uint16_t)~fold16(sum);
    if ((ol & DM_BUF_TX_UDP_CKSUM) && c == 0)
        c = 0xffff; /* UDP: 0 means "no checksum" (RFC 768) */
    memcpy(ck, &c, 2);
}

