/* SPDX-License-Identifier: MIT */
/* Shared by the hook files: export marker and the errno boundary. */
#ifndef DM_INTERPOSE_HOOKS_H
#define DM_INTERPOSE_HOOKS_H

#include <errno.h>
#include "interpose/real.h"
#include "shim/shim.h"

#define DM_HOOK __attribute__((visibility("default")))

/* The one place errno is written: a negative result becomes -1/errno; a
 * success leaves the caller's errno as it was. */
static inline long dm_ret(long r, int saved)
{
    if (r < 0) {
        errno = (int)-r;
        return -1;
    }
    errno = saved;
    return r;
}

/* Runs `call` (a shim function) when fd may be ours; falls through to the
 * real function when the shim says SHIM_PASS. */
#define DM_TRY(cond, call)                         \
    do {                                           \
        if (cond) {                                \
            int saved_ = errno;                    \
            long r_ = (long)(call);                \
            if (r_ != SHIM_PASS)                   \
                return dm_ret(r_, saved_);         \
            errno = saved_;                        \
        }                                          \
    } while (0)

/* Before a call that may block in the kernel where no call of ours
 * follows (waitpid, nanosleep, sigsuspend, a select of no fd): the sends
 * this thread's turn left to its end (DEMI_TX_BATCH) are submitted first,
 * or a peer waiting for one of them would wait as long as we block.
 * errno is the caller's. */
static inline void dm_before_block(void)
{
    if (__builtin_expect(shim_tx_owed, 0) && !shim_bypass()) {
        int saved = errno;
        shim_tx_flush_owed();
        errno = saved;
    }
}

void __chk_fail(void) __attribute__((noreturn));

#endif /* DM_INTERPOSE_HOOKS_H */
