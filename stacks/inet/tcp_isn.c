/* SPDX-License-Identifier: MIT */
/*
 * RFC 6528 initial sequence numbers with a SipHash-2-4 keyed hash.
 *
 * SipHash-2-4, written from the paper's description: 4 64-bit lanes
 * initialised from the key and "somepseudorandomlygeneratedbytes", the
 * message absorbed 8 bytes (little endian) at a time with 2 SipRounds per
 * word, the length in the top byte of the last word, then 4 finalisation
 * rounds. The 4-tuple is packed into 12 bytes in a fixed order so both
 * directions of the stack hash identically. SYN cookies hash a different,
 * longer message (tagged 'C'), so they never collide with ISN inputs.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include "tcp_isn.h"

static inline uint64_t rotl(uint64_t x, unsigned b) { return (x << b) | (x >> (64 - b)); }

static inline uint64_t load_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

#define SIPROUND(v0, v1, v2, v3)                                              \
    do {                                                                      \
        v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);             \
        v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;                                \
        v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;                                \
        v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);             \
    } while (0)

uint64_t tcp_siphash24(const uint8_t key[16], const void *data, size_t len)
{
    const uint8_t *in = data;
    uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
    uint64_t v0 = k0 ^ 0x736f6d6570736575ULL;
    uint64_t v1 = k1 ^ 0x646f72616e646f6dULL;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ULL;
    uint64_t v3 = k1 ^ 0x7465646279746573ULL;

    size_t full = len & ~(size_t)7;
    for (size_t off = 0; off < full; off += 8) {
        uint64_t m = load_le64(in + off);
        v3 ^= m;
        SIPROUND(v0, v1, v2, v3);
        SIPROUND(v0, v1, v2, v3);
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t i = 0; i < (len & 7); i++)
        b |= (uint64_t)in[full + i] << (8 * i);
    v3 ^= b;
    SIPROUND(v0, v1, v2, v3);
    SIPROUND(v0, v1, v2, v3);
    v0 ^= b;
    v2 ^= 0xff;
    for (int i = 0; i < 4; i++)
        SIPROUND(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

int tcp_isn_init(struct tcp_isn *s)
{
    size_t got = 0;
    while (got < sizeof(s->key)) {
        ssize_t n = getrandom(s->key + got, sizeof(s->key) - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            memset(s->key, 0, sizeof(s->key));
            return -e;
        }
        got += (size_t)n;
    }
    return 0;
}

void tcp_isn_init_key(struct tcp_isn *s, const uint8_t key[16])
{
    memcpy(s->key, key, sizeof(s->key));
}

uint32_t tcp_isn_gen(const struct tcp_isn *s, uint32_t laddr, uint16_t lport,
                     uint32_t raddr, uint16_t rport, int64_t now_ns)
{
    uint8_t t[12];
    memcpy(t, &laddr, 4);
    memcpy(t + 4, &raddr, 4);
    memcpy(t + 8, &lport, 2);
    memcpy(t + 10, &rport, 2);
    uint32_t f = (uint32_t)tcp_siphash24(s->key, t, sizeof(t));
    uint32_t m = (uint32_t)((uint64_t)now_ns / TCP_ISN_TICK_NS);
    return m + f;
}

static const uint16_t syncookie_mss[8] = {536, 1200, 1300, 1400, 1440, 1460, 4312, 8960};

static uint32_t syncookie_hash(const struct tcp_isn *s, uint32_t laddr, uint16_t lport,
                               uint32_t raddr, uint16_t rport, uint32_t peer_isn, uint32_t slot,
                               uint32_t idx)
{
    uint8_t t[22];
    memcpy(t, &laddr, 4);
    memcpy(t + 4, &raddr, 4);
    memcpy(t + 8, &lport, 2);
    memcpy(t + 10, &rport, 2);
    memcpy(t + 12, &peer_isn, 4);
    memcpy(t + 16, &slot, 4);
    t[20] = 'C';
    t[21] = (uint8_t)idx;              /* the MSS choice is authenticated too */
    return (uint32_t)tcp_siphash24(s->key, t, sizeof(t)) & 0xffffffu;
}

static uint32_t syncookie_slot(int64_t now_ns)
{
    return (uint32_t)((uint64_t)now_ns / (uint64_t)TCP_SYNCOOKIE_SLOT_NS);
}

uint32_t tcp_syncookie_make(const struct tcp_isn *s, uint32_t laddr, uint16_t lport,
                            uint32_t raddr, uint16_t rport, uint32_t peer_isn, uint16_t mss,
                            int64_t now_ns)
{
    uint32_t idx = 0;
    for (uint32_t i = 0; i < 8; i++)
        if (syncookie_mss[i] <= mss)
            idx = i;
    uint32_t slot = syncookie_slot(now_ns);
    uint32_t h = syncookie_hash(s, laddr, lport, raddr, rport, peer_isn, slot, idx);
    return ((slot & 0x1fu) << 27) | (idx << 24) | h;
}

int tcp_syncookie_check(const struct tcp_isn *s, uint32_t laddr, uint16_t lport,
                        uint32_t raddr, uint16_t rport, uint32_t peer_isn, uint32_t cookie,
                        int64_t now_ns)
{
    uint32_t now_slot = syncookie_slot(now_ns);
    uint32_t cslot5 = cookie >> 27;
    /* Only the current and the previous slot are valid. */
    for (uint32_t back = 0; back < 2; back++) {
        uint32_t slot = now_slot - back;
        if ((slot & 0x1fu) != cslot5)
            continue;
        uint32_t idx = (cookie >> 24) & 7u;
        uint32_t h = syncookie_hash(s, laddr, lport, raddr, rport, peer_isn, slot, idx);
        if ((cookie & 0xffffffu) != h)
            return -EINVAL;
        return syncookie_mss[idx];
    }
    return -EINVAL;
}
