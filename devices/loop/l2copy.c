/* SPDX-License-Identifier: MIT */
/*
 * The TCP/UDP checksum of a frame completed while a device copies it
 * (dm/l2copy.h): on a port without checksum offload whose every frame is
 * copied anyway (memif: DPDK's tx_copy into an mbuf, our memif device's
 * copy into the shared ring), the stack hands its checksums to the device
 * and the bytes are read once instead of twice. test/unit/devices checks
 * it against the software offload model
 * (dm/l2csum.h) on any chain. SSE2 on any x86-64; AVX2 where the CPU has
 * it (looked up once), both checked by that test.
 */
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif
#include "dm/compiler.h"
#include "dm/l2copy.h"

/* What the SIMD loops leave (under 32 or 64 bytes): copied and summed
 * 8 and 2 bytes at a time. */
static inline uint64_t copy_sum_tail(uint8_t *dst, const uint8_t *src, uint32_t len, uint64_t s)
{
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
    return copy_sum_tail(dst, src, len, s);
}

#if defined(__x86_64__) && defined(__GNUC__)
#define L2COPY_AVX2 1
/* The same 32 bytes a register: a frame read from the last level cache
 * or memory (a bulk sender's payload) goes through in fewer turns. */
__attribute__((target("avx2"))) static uint64_t copy_sum_avx2(uint8_t *dst, const uint8_t *src, uint32_t len)
{
    uint64_t s = 0;
    if (len >= 64) {
        const __m256i m = _mm256_set1_epi32(0xffff);
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, b0 = a0, b1 = a0;
        while (len >= 64) {
            __m256i v0 = _mm256_loadu_si256((const __m256i *)src);
            __m256i v1 = _mm256_loadu_si256((const __m256i *)(src + 32));
            _mm256_storeu_si256((__m256i *)dst, v0);
            _mm256_storeu_si256((__m256i *)(dst + 32), v1);
            a0 = _mm256_add_epi32(a0, _mm256_and_si256(v0, m));
            b0 = _mm256_add_epi32(b0, _mm256_srli_epi32(v0, 16));
            a1 = _mm256_add_epi32(a1, _mm256_and_si256(v1, m));
            b1 = _mm256_add_epi32(b1, _mm256_srli_epi32(v1, 16));
            src += 64;
            dst += 64;
            len -= 64;
        }
        uint32_t l[8];
        _mm256_storeu_si256((__m256i *)l, _mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(b0, b1)));
        for (int i = 0; i < 8; i++)
            s += l[i]; /* each below 2^28 for 64 KiB: no carry lost */
    }
    return copy_sum_tail(dst, src, len, s);
}

/* -1: not looked yet; 0: SSE2; 1: AVX2 (the CPU has it). */
static int use_avx2 = -1;

void dm_l2copy_simd(int avx2)
{
    use_avx2 = avx2 && __builtin_cpu_supports("avx2");
}
#else
void dm_l2copy_simd(int avx2)
{
    (void)avx2;
}
#endif

static uint16_t fold16(uint64_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)s;
}

/* One piece's copy and sum with the loop the CPU runs best. */
static inline uint16_t copy_fold(uint8_t *dst, const uint8_t *src, uint32_t n)
{
#ifdef L2COPY_AVX2
    if (dm_unlikely(use_avx2 < 0))
        dm_l2copy_simd(1);
    return fold16(use_avx2 ? copy_sum_avx2(dst, src, n) : copy_sum(dst, src, n));
#else
    return fold16(copy_sum(dst, src, n));
#endif
}

uint16_t dm_l2copy_sum(uint8_t *dst, const struct dm_buf *b, uint32_t off, uint32_t len)
{
    uint64_t sum = 0;
    uint32_t pos = 0;
    while (b && off >= b->len) {
        off -= b->len;
        b = b->next;
    }
    for (; b && pos < len; b = b->next, off = 0) {
        uint32_t n = DM_MIN(b->len - off, len - pos);
        if (!n)
            continue;
        uint16_t part = copy_fold(dst + pos, b->data + off, n);
        sum += pos & 1 ? __builtin_bswap16(part) : part;
        pos += n;
    }
    return fold16(sum);
}

void dm_l2copy_l4_cksum(uint8_t *p, const struct dm_buf *b, uint32_t ol)
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
        uint16_t part = copy_fold(p + pos, src, n);
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

