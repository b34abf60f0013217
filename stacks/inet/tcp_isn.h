/* SPDX-License-Identifier: MIT */
/*
 * Initial sequence numbers (RFC 6528):
 *     ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
 * M is a clock ticking every 4 microseconds (wraps in ~4.77 hours, as the
 * RFC 793 ISN generator); F is SipHash-2-4 keyed with a 128-bit secret
 * drawn from getrandom() once per stack instance (never per packet), so
 * ISNs of different 4-tuples are unrelated and unpredictable off-path,
 * while successive connections of one 4-tuple still move forward with M.
 *
 * SipHash-2-4 (Aumasson & Bernstein, 2012) is implemented here and exported
 * for other keyed hashes of the stack (e.g. connection-table hashing, SYN
 * cookies).
 */
#ifndef DM_TCP_ISN_H
#define DM_TCP_ISN_H

#include <stddef.h>
#include <stdint.h>

#define TCP_ISN_TICK_NS 4000 /* M: 4 us per tick (RFC 6528 / RFC 793) */

struct tcp_isn {
    uint8_t key[16];
};

/* Draws the secret from getrandom(). 0, or -errno (e.g. -ENOSYS): the
 * caller must then refuse to create the stack, not fall back to a weak key. */
int tcp_isn_init(struct tcp_isn *s);
/* Uses a given secret (tests, reproducible runs). */
void tcp_isn_init_key(struct tcp_isn *s, const uint8_t key[16]);

/*
 * ISN for a connection. Addresses and ports are taken as raw 32/16-bit
 * values in whatever byte order the caller stores them (consistently);
 * "local" is this host. now_ns is the monotonic clock (dm_clock_ns()).
 */
uint32_t tcp_isn_gen(const struct tcp_isn *s, uint32_t laddr, uint16_t lport,
                     uint32_t raddr, uint16_t rport, int64_t now_ns);

/*
 * SYN cookies (RFC 4987 3.6): when the SYN queue is full, a listener can
 * answer with a SYN-ACK whose ISN encodes what it must remember (the MSS)
 * and keep no state; the final ACK proves the peer received it.
 *   cookie = slot (5 bits) | MSS index (3 bits) | 24-bit keyed hash of
 *            (tuple, peer ISN, slot)
 * slot = now / 64 s: a cookie is valid for 64..128 s. The MSS is rounded
 * down to one of TCP_SYNCOOKIE_MSS_TABLE. Window scale, SACK and
 * timestamps are not encoded: a connection opened by cookie runs without
 * them (Linux encodes them in the timestamp; we do not: the caller should
 * dm_log_once() that difference when it first falls back to cookies).
 */
#define TCP_SYNCOOKIE_SLOT_NS (64LL * 1000000000LL)
uint32_t tcp_syncookie_make(const struct tcp_isn *s, uint32_t laddr, uint16_t lport,
                            uint32_t raddr, uint16_t rport, uint32_t peer_isn, uint16_t mss,
                            int64_t now_ns);
/* On the ACK completing the handshake: cookie = SEG.ACK - 1 and
 * peer_isn = SEG.SEQ - 1. Returns the encoded MSS (> 0), or -EINVAL when
 * the cookie is forged, for another connection, or expired. */
int tcp_syncookie_check(const struct tcp_isn *s, uint32_t laddr, uint16_t lport,
                        uint32_t raddr, uint16_t rport, uint32_t peer_isn, uint32_t cookie,
                        int64_t now_ns);

/* SipHash-2-4 of len bytes with a 16-byte key (little-endian key and
 * output as in the reference implementation). */
uint64_t tcp_siphash24(const uint8_t key[16], const void *data, size_t len);

#endif /* DM_TCP_ISN_H */
