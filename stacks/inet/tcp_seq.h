/* SPDX-License-Identifier: MIT */
/*
 * TCP sequence-number arithmetic (RFC 9293 section 3.4, RFC 1982 style).
 *
 * Sequence numbers live in a 32-bit circle: "a is before b" means the
 * signed 32-bit distance b - a is positive. This is only meaningful while
 * the two numbers are less than 2^31 apart, which TCP guarantees for live
 * windows (windows are < 2^30 even with scaling). Every comparison of
 * sequence or acknowledgement numbers in the stack goes through these
 * helpers: a plain `<` on two sequence numbers is a bug at wraparound.
 *
 * Ranges are half open: [start, end) with end = start + len (mod 2^32).
 *
 * The TCP algorithm modules (branch tcpalgo) are: tcp_seq.h (header only),
 * tcp_opt, tcp_rtt, tcp_cc (+ tcp_cc_newreno, tcp_cc_cubic), tcp_sack,
 * tcp_reass, tcp_isn. stacks/inet/meson.build must compile:
 *   tcp_opt.c tcp_rtt.c tcp_cc.c tcp_cc_newreno.c tcp_cc_cubic.c
 *   tcp_sack.c tcp_reass.c tcp_isn.c
 * and link libm (CUBIC uses cbrt()).
 */
#ifndef DM_TCP_SEQ_H
#define DM_TCP_SEQ_H

#include <stdbool.h>
#include <stdint.h>

/* Signed distance from b to a (a - b), valid when |a - b| < 2^31. */
static inline int32_t tcp_seq_diff(uint32_t a, uint32_t b) { return (int32_t)(a - b); }

static inline bool tcp_seq_lt(uint32_t a, uint32_t b)  { return (int32_t)(a - b) < 0; }
static inline bool tcp_seq_leq(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }
static inline bool tcp_seq_gt(uint32_t a, uint32_t b)  { return (int32_t)(a - b) > 0; }
static inline bool tcp_seq_geq(uint32_t a, uint32_t b) { return (int32_t)(a - b) >= 0; }

#define SEQ_LT(a, b)  tcp_seq_lt((a), (b))
#define SEQ_LEQ(a, b) tcp_seq_leq((a), (b))
#define SEQ_GT(a, b)  tcp_seq_gt((a), (b))
#define SEQ_GEQ(a, b) tcp_seq_geq((a), (b))

static inline uint32_t tcp_seq_max(uint32_t a, uint32_t b) { return tcp_seq_gt(a, b) ? a : b; }
static inline uint32_t tcp_seq_min(uint32_t a, uint32_t b) { return tcp_seq_lt(a, b) ? a : b; }

/* left <= seq < left + len (modular). len 0 contains nothing.
 * Unsigned subtraction makes this exact for any len < 2^32. */
static inline bool tcp_seq_in_window(uint32_t seq, uint32_t left, uint32_t len)
{
    return (uint32_t)(seq - left) < len;
}

/* start <= seq < end (modular), for a range known to be < 2^31 long. */
static inline bool tcp_seq_in_range(uint32_t seq, uint32_t start, uint32_t end)
{
    return (uint32_t)(seq - start) < (uint32_t)(end - start);
}

/* lo <= seq <= hi (modular, both ends inclusive): e.g. an acceptable ACK is
 * snd_una <= SEG.ACK <= snd_nxt (RFC 9293 3.10.7.4 "If SND.UNA =< SEG.ACK =< SND.NXT"). */
static inline bool tcp_seq_between(uint32_t seq, uint32_t lo, uint32_t hi)
{
    return (uint32_t)(seq - lo) <= (uint32_t)(hi - lo);
}

/*
 * RFC 9293 3.10.7.4 segment acceptability test, the four cases:
 *   len 0, wnd 0:  SEG.SEQ = RCV.NXT
 *   len 0, wnd >0: RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND
 *   len >0, wnd 0: not acceptable
 *   len >0, wnd >0: first or last byte of the segment inside the window
 * seg_len counts SYN and FIN (each occupies one sequence number).
 */
static inline bool tcp_seq_acceptable(uint32_t seg_seq, uint32_t seg_len,
                                      uint32_t rcv_nxt, uint32_t rcv_wnd)
{
    if (seg_len == 0) {
        if (rcv_wnd == 0)
            return seg_seq == rcv_nxt;
        return tcp_seq_in_window(seg_seq, rcv_nxt, rcv_wnd);
    }
    if (rcv_wnd == 0)
        return false;
    return tcp_seq_in_window(seg_seq, rcv_nxt, rcv_wnd) ||
           tcp_seq_in_window(seg_seq + seg_len - 1, rcv_nxt, rcv_wnd);
}

#endif /* DM_TCP_SEQ_H */
