/* SPDX-License-Identifier: MIT */
/* Monotonic time in nanoseconds (vDSO clock_gettime: no syscall). */
#ifndef DM_TIME_H
#define DM_TIME_H

#include <stdint.h>
#include <time.h>

#define DM_NS_PER_US 1000LL
#define DM_NS_PER_MS 1000000LL
#define DM_NS_PER_S  1000000000LL

static inline int64_t dm_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * DM_NS_PER_S + ts.tv_nsec;
}

#endif /* DM_TIME_H */
