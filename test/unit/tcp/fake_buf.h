/* SPDX-License-Identifier: MIT */
/* Strict test double for the dm_buf calls tcp_reass makes (see fake_buf.c). */
#ifndef TCP_TEST_FAKE_BUF_H
#define TCP_TEST_FAKE_BUF_H

#include <stdint.h>
#include "dm/buf.h"

/* A chain of `nsegs` heap buffers holding data[0..len) split evenly, then
 * `pad` bytes of 0xEE garbage in the last segment; headroom in front. */
struct dm_buf *fake_chain(const uint8_t *data, uint32_t len, unsigned nsegs, uint32_t pad);
/* Buffers currently allocated (0 at the end of a test: no leak). */
long fake_live(void);
/* Double frees / frees of foreign headers seen (must stay 0). */
long fake_bad_frees(void);
/* Copies a chain's bytes out, checking pkt_len/nb_segs consistency. */
uint32_t fake_copy(const struct dm_buf *chain, uint8_t *dst, uint32_t max);

#endif
