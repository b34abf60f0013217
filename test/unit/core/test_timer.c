/* SPDX-License-Identifier: MIT */
/* Timer wheel: never early, in order, cancel, re-arm from a callback,
 * timers beyond one turn of the wheel. Time is driven by dm_poll on a posix
 * instance with nothing to do. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "dm/instance.h"
#include "dm/time.h"
#include "dm/timer.h"

struct rec {
    struct dm_timer t;
    struct dm_instance *inst;
    int64_t fired_at;
    int count;
    int rearm;
};



static void on_fire(struct dm_timer *t)
{
    struct rec *r = t->arg;
    r->fired_at = dm_now_ns(r->inst);
    r->count++;

    if (r->rearm > 0) {
        r->rearm--;
        dm_timer_arm(r->inst, t, 200 * DM_NS_PER_US);
    }
}

static struct dm_instance *mk(void)
{
    struct dm_config cfg;
    dm_config_init(&cfg);
    dm_config_set(&cfg, "DEMI_BACKEND", "posix");
    dm_config_set(&cfg, "DEMI_BUF_COUNT", "64");
    struct dm_instance *inst;
    assert_int_equal(dm_instance_create(&cfg, &inst), 0);
    return inst;
}

static void run_for(struct dm_instance *inst, int64_t ns)
{
    int64_t end = dm_clock_ns() + ns;
    while (dm_clock_ns() < end)
        dm_poll(inst, 50 * DM_NS_PER_US);
}

/* Polls until the timer fired (or 5 s), checking after every iteration the
 * invariant that matters whatever the scheduler does: it has not fired
 * while the instance's time was before its expiry. */
static void poll_until_fired(struct dm_instance *inst, struct rec *r, int64_t expiry)
{
    int64_t give_up = dm_clock_ns() + 5 * DM_NS_PER_S;
    while (r->count == 0 && dm_clock_ns() < give_up) {
        dm_poll(inst, 50 * DM_NS_PER_US);
        if (dm_now_ns(inst) < expiry)
            assert_int_equal(r->count, 0);
    }
    assert_int_equal(r->count, 1);
    assert_true(r->fired_at >= expiry);
}

static void test_timer_never_fires_early(void **s)
{
    (void)s;
    struct dm_instance *inst = mk();
    struct rec r = {.inst = inst};
    dm_poll(inst, 0);
    dm_timer_init(&r.t, on_fire, &r);
    int64_t armed = dm_now_ns(inst);
    dm_timer_arm(inst, &r.t, 2 * DM_NS_PER_MS);
    assert_true(dm_timer_pending(&r.t));
    poll_until_fired(inst, &r, armed + 2 * DM_NS_PER_MS);
    assert_false(dm_timer_pending(&r.t));
    dm_instance_destroy(inst);
}

static void test_timer_cancel_prevents_firing(void **s)
{
    (void)s;
    struct dm_instance *inst = mk();
    struct rec r = {.inst = inst};
    dm_timer_init(&r.t, on_fire, &r);
    dm_timer_arm(inst, &r.t, 500 * DM_NS_PER_US);
    dm_timer_cancel(inst, &r.t);
    dm_timer_cancel(inst, &r.t); /* twice is harmless */
    run_for(inst, 2 * DM_NS_PER_MS);
    assert_int_equal(r.count, 0);
    dm_instance_destroy(inst);
}

static void test_timer_rearm_from_callback(void **s)
{
    (void)s;
    struct dm_instance *inst = mk();
    struct rec r = {.inst = inst, .rearm = 3};
    dm_timer_init(&r.t, on_fire, &r);
    dm_timer_arm(inst, &r.t, 100 * DM_NS_PER_US);
    int64_t give_up = dm_clock_ns() + 5 * DM_NS_PER_S;
    while (r.count < 4 && dm_clock_ns() < give_up)
        dm_poll(inst, 50 * DM_NS_PER_US);
    assert_int_equal(r.count, 4);        /* armed once, re-armed three times */
    assert_false(dm_timer_pending(&r.t)); /* and no more */
    dm_instance_destroy(inst);
}

static void test_timer_beyond_one_wheel_turn(void **s)
{
    (void)s;
    struct dm_instance *inst = mk();
    /* 1024 slots of 100 us: 150 ms is past one turn; the slot comes round
     * at ~102 ms and the timer's rounds must hold it. */
    struct rec r = {.inst = inst};
    dm_timer_init(&r.t, on_fire, &r);
    dm_poll(inst, 0);
    int64_t armed = dm_now_ns(inst);
    dm_timer_arm(inst, &r.t, 150 * DM_NS_PER_MS);
    poll_until_fired(inst, &r, armed + 150 * DM_NS_PER_MS);
    dm_instance_destroy(inst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timer_never_fires_early),
        cmocka_unit_test(test_timer_cancel_prevents_firing),
        cmocka_unit_test(test_timer_rearm_from_callback),
        cmocka_unit_test(test_timer_beyond_one_wheel_turn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
