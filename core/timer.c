/* SPDX-License-Identifier: MIT */
/*
 * Hashed timing wheel (Varghese & Lauck): DM_WHEEL_SLOTS lists indexed by
 * tick; a timer further away than one turn carries a count of whole turns
 * (`rounds`) to wait. Arm and cancel are O(1); each tick visits one slot.
 * When no timer is armed the wheel jumps straight to the current tick, so
 * an idle instance pays nothing for the time it slept.
 */
#include "core_priv.h"

void dm_wheel_init(struct dm_wheel *w, int64_t now_ns)
{
    for (unsigned i = 0; i < DM_WHEEL_SLOTS; i++)
        dm_list_init(&w->slots[i]);
    w->cur_tick = now_ns / DM_TIMER_TICK_NS;
    w->count = 0;
}

void dm_timer_init(struct dm_timer *t, dm_timer_fn fn, void *arg)
{
    dm_list_init(&t->link);
    t->expires_ns = 0;
    t->rounds = 0;
    t->fn = fn;
    t->arg = arg;
}

void dm_timer_arm(struct dm_instance *inst, struct dm_timer *t, int64_t delay_ns)
{
    struct dm_wheel *w = &inst->wheel;
    if (dm_timer_pending(t)) {
        dm_list_del(&t->link);
        w->count--;
    }
    if (delay_ns < 0)
        delay_ns = 0;
    t->expires_ns = inst->now_ns + delay_ns;
    /* Round up so a timer never fires early; never into the current tick,
     * which may already have been visited. */
    int64_t tick = (t->expires_ns + DM_TIMER_TICK_NS - 1) / DM_TIMER_TICK_NS;
    if (tick <= w->cur_tick)
        tick = w->cur_tick + 1;
    int64_t delta = tick - w->cur_tick;
    t->rounds = (uint32_t)((delta - 1) / DM_WHEEL_SLOTS);
    dm_list_add_tail(&w->slots[tick % DM_WHEEL_SLOTS], &t->link);
    w->count++;
}

void dm_timer_cancel(struct dm_instance *inst, struct dm_timer *t)
{
    if (dm_timer_pending(t)) {
        dm_list_del(&t->link);
        inst->wheel.count--;
    }
}

int dm_wheel_run(struct dm_instance *inst, int64_t now_ns)
{
    struct dm_wheel *w = &inst->wheel;
    int64_t target = now_ns / DM_TIMER_TICK_NS;
    int fired = 0;
    if (w->count == 0) {
        if (target > w->cur_tick)
            w->cur_tick = target;
        return 0;
    }
    while (w->cur_tick < target) {
        w->cur_tick++;
        struct dm_list *slot = &w->slots[w->cur_tick % DM_WHEEL_SLOTS];
        if (dm_list_empty(slot))
            continue;
        /* Detach the slot: callbacks may arm or cancel any timer. */
        struct dm_list local;
        dm_list_init(&local);
        local.next = slot->next;
        local.prev = slot->prev;
        local.next->prev = &local;
        local.prev->next = &local;
        dm_list_init(slot);
        while (!dm_list_empty(&local)) {
            struct dm_timer *t = dm_list_first(&local, struct dm_timer, link);
            dm_list_del(&t->link);
            if (t->rounds) {
                t->rounds--;
                dm_list_add_tail(slot, &t->link);
                continue;
            }
            w->count--;
            t->fn(t);
            fired++;
        }
        if (w->count == 0) {
            w->cur_tick = target;
            break;
        }
    }
    return fired;
}
