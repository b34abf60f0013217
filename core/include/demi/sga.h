/* SPDX-License-Identifier: MIT */
/*
 * Scatter-gather arrays. demi_sgaalloc() returns one segment of the asked
 * size from the library's buffer pool (the datapath sends it without a
 * copy); larger sizes than a pool buffer come from a slower heap path.
 */
#ifndef DEMI_SGA_H_IS_INCLUDED
#define DEMI_SGA_H_IS_INCLUDED

#include <demi/types.h>
#include <demi/cc.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Allocates an sgarray of one segment of `size` bytes.
 * @return the array; on failure sga_numsegs is 0 and errno is EINVAL
 *   (size 0 or over 1 GiB) or ENOMEM/ENOBUFS.
 */
ATTR_NODISCARD
DEMI_EXPORT extern demi_sgarray_t demi_sgaalloc(_In_ size_t size);

/**
 * Releases an sgarray from demi_sgaalloc() or a pop. An array with no
 * segments (a failed allocation, an end-of-stream pop) is accepted.
 * @return 0; EINVAL (sga NULL, or not an array of ours / already freed).
 */
DEMI_EXPORT extern int demi_sgafree(_In_ demi_sgarray_t *sga);

#ifdef __cplusplus
}
#endif

#endif /* DEMI_SGA_H_IS_INCLUDED */
