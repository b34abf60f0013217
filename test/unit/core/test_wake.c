/* SPDX-License-Identifier: MIT */
/* dm/wake.h: a burst of wakes sends one datagram; the owner's take makes
 * its socket quiet and lets the next wake send again; an owner that never
 * sleeps (no name) and a sender without a socket leave the flag alone. */
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "dm/wake.h"

static bool readable(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    return poll(&p, 1, 0) == 1;
}

static void test_burst_sends_one(void **state)
{
    (void)state;
    struct dm_wake owner, sender;
    char name[DM_WAKE_NAME], sname[DM_WAKE_NAME];
    uint32_t flag = 0;
    assert_int_equal(dm_wake_open(&owner, name), 0);
    assert_int_equal(dm_wake_open(&sender, sname), 0);
    assert_int_equal(name[0], 0); /* abstract */
    assert_true(name[1] != 0);
    assert_false(readable(owner.fd));
    assert_false(dm_wake_take(&owner, &flag)); /* nothing announced */

    assert_true(dm_wake_owner(&sender, name, &flag));
    assert_false(dm_wake_owner(&sender, name, &flag)); /* on its way */
    assert_false(dm_wake_owner(&sender, name, &flag));
    assert_int_equal(flag, 1);
    assert_true(readable(owner.fd));

    assert_true(dm_wake_take(&owner, &flag));
    assert_int_equal(flag, 0);
    assert_false(readable(owner.fd)); /* one datagram for the burst */

    assert_true(dm_wake_owner(&sender, name, &flag)); /* the next one sends again */
    assert_true(dm_wake_take(&owner, &flag));
    dm_wake_close(&owner);
    dm_wake_close(&sender);
    assert_int_equal(owner.fd, -1);
}

static void test_nobody_to_wake(void **state)
{
    (void)state;
    struct dm_wake sender, none = { .fd = -1 };
    char sname[DM_WAKE_NAME], empty[DM_WAKE_NAME] = { 0 };
    uint32_t flag = 0;
    assert_int_equal(dm_wake_open(&sender, sname), 0);
    assert_false(dm_wake_owner(&sender, empty, &flag)); /* an owner that never sleeps */
    assert_int_equal(flag, 0);
    assert_false(dm_wake_owner(&none, sname, &flag)); /* we cannot send */
    assert_int_equal(flag, 0);
    dm_wake_close(&sender);
}

static void test_announced_not_arrived(void **state)
{
    (void)state;
    struct dm_wake owner;
    char name[DM_WAKE_NAME];
    uint32_t flag = 1; /* a sender set it and died before its datagram */
    assert_int_equal(dm_wake_open(&owner, name), 0);
    assert_false(dm_wake_take(&owner, &flag));
    assert_int_equal(flag, 1); /* a moment later, it may still come */
    assert_true(owner.since != 0);
    owner.since -= 2000000000LL; /* as if a second and more went by */
    assert_false(dm_wake_take(&owner, &flag));
    assert_int_equal(flag, 0);
    dm_wake_close(&owner);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_sends_one),
        cmocka_unit_test(test_nobody_to_wake),
        cmocka_unit_test(test_announced_not_arrived),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
