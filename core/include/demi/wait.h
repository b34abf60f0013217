/* SPDX-License-Identifier: MIT */
/*
 * Waiting for tokens. All progress of the datapath happens inside these
 * calls (the library has no threads of its own). A timeout of NULL waits
 * forever; a zero timeout polls once.
 */
#ifndef DEMI_WAIT_H_IS_INCLUDED
#define DEMI_WAIT_H_IS_INCLUDED

#include <demi/types.h>
#include <demi/cc.h>
#include <time.h>
#if defined(__GLIBC__)
/* Under strict -std=c99, <time.h> hides struct timespec; our prototypes
 * need it whatever flags the application builds with. */
#include <bits/types/struct_timespec.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Waits for one token. On success the token is consumed: waiting on it
 * again gives EINVAL.
 * @return 0 (see qr_out->qr_opcode; DEMI_OPC_FAILED carries the errno in
 *   qr_ret); EINVAL (qr_out NULL, unknown or already consumed token, bad
 *   timespec); ETIMEDOUT.
 */
ATTR_NONNULL(1)
DEMI_EXPORT extern int demi_wait(_Out_ demi_qresult_t *qr_out, _In_ demi_qtoken_t qt,
                                 _In_opt_ const struct timespec *timeout);

/**
 * Waits for the first of several tokens; *ready_offset is its index.
 * @return 0; EINVAL (a NULL pointer, num_qts <= 0, an unknown token, bad
 *   timespec); ETIMEDOUT.
 */
ATTR_NONNULL(1, 2, 3)
DEMI_EXPORT extern int demi_wait_any(_Out_ demi_qresult_t *qr_out, _Out_ int *ready_offset,
                                     _In_reads_(num_qts) const demi_qtoken_t qts[], _In_ int num_qts,
                                     _In_opt_ const struct timespec *timeout);

/**
 * Returns up to num_qrs completed operations, of any token, oldest first,
 * consuming their tokens.
 * @return 0 with *num_qrs_out >= 1; EINVAL (a NULL pointer, num_qrs <= 0,
 *   bad timespec); ETIMEDOUT (nothing completed in time, *num_qrs_out 0).
 */
ATTR_NONNULL(1, 3)
DEMI_EXPORT extern int demi_wait_next_n(_Out_writes_to_(num_qrs, *num_qrs_out) demi_qresult_t *qr_out,
                                        _In_ int num_qrs, _Out_ int *num_qrs_out,
                                        _In_opt_ const struct timespec *timeout);

#ifdef __cplusplus
}
#endif

#endif /* DEMI_WAIT_H_IS_INCLUDED */
