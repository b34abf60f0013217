/* SPDX-License-Identifier: MIT */
/*
 * stacks/uring: what the backend shows its tests (test/unit/uring),
 * declared once: its feature bits, read-only hooks and one fault.
 */
#ifndef UR_HOOKS_H
#define UR_HOOKS_H

#include <stdint.h>

struct dm_instance;

/* Features (bit set), each can be turned off with DEMI_URING_DISABLE. */
enum {
    UR_F_MULTISHOT_ACCEPT = 1u << 0,
    UR_F_MULTISHOT_RECV   = 1u << 1,
    UR_F_BUF_RING         = 1u << 2,
    UR_F_FIXED_FILES      = 1u << 3,
    UR_F_SEND_ZC          = 1u << 4,
    UR_F_DEFER_TASKRUN    = 1u << 5,
    UR_F_SINGLE_ISSUER    = 1u << 6,
    UR_F_SQPOLL           = 1u << 7,
    UR_F_FIXED_BUFFERS    = 1u << 8,
    UR_F_BUF_INC          = 1u << 9,  /* buffer ring consumed incrementally (6.12+) */
    UR_F_IO_URING         = 1u << 10, /* io_uring itself: off = the posix fallback */
    UR_F_COOP_TASKRUN     = 1u << 11, /* task work waits for the submitter's next enter */
};

/* The features an instance runs with (0: not a uring instance). */
uint32_t dm_uring_features(struct dm_instance *inst);
/* The ring buffer that byte p lies in (or in whose slack), or -1. */
int dm_uring_buf_id(struct dm_instance *inst, const void *p);
/* The fd that keeps this process's SQ polling thread (DEMI_URING_SQPOLL), or -1. */
int dm_uring_sq_anchor_fd(void);
/* Tests only: the next fixed-file slot filled by an SQE names no file, so
 * the kernel refuses it as it would for want of memory. */
void dm_uring_refuse_next_slot(struct dm_instance *inst);

#endif /* UR_HOOKS_H */
