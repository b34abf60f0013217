/* SPDX-License-Identifier: MIT */
/*
 * Timers: a hashed timing wheel per instance (DM_TIMER_TICK_NS resolution,
 * O(1) arm and cancel). Callbacks run inside demi_wait*(), from the
 * instance's poll loop, never from a signal.
 */
#ifndef DM_TIMER_H
#define DM_TIMER_H

#include <stdbool.h>
#include <stdint.h>
#include "dm/list.h"

#define DM_TIMER_TICK_NS 100000LL /* 100 us */

struct dm_timer;
typedef void (*dm_timer_fn)(struct dm_timer *t);

struct dm_timer {
    struct dm_list link;
    int64_t expires_ns;
    uint32_t rounds;
    dm_timer_fn fn;
    void *arg;
};

struct dm_instance;

void dm_timer_init(struct dm_timer *t, dm_timer_fn fn, void *arg);
/* (Re)arms to fire `delay_ns` from the instance's current time. */
void dm_timer_arm(struct dm_instance *inst, struct dm_timer *t, int64_t delay_ns);
void dm_timer_cancel(struct dm_instance *inst, struct dm_timer *t);
static inline bool dm_timer_pending(const struct dm_timer *t) { return dm_list_linked(&t->link); }

#endif /* DM_TIMER_H */
