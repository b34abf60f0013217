/* SPDX-License-Identifier: MIT */
/* The configuration table and its parser (core/config.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "dm/addr.h"
#include "dm/config.h"
#include "dm/instance.h"
#include "dm/stack.h"
#include "dm/stats.h"

static void cfg_with(struct dm_config *c, const char *name, const char *val)
{
    memset(c, 0, sizeof(*c)); /* no environment: only what the test sets */
    assert_int_equal(dm_config_set(c, name, val), 0);
}

static void test_config_table_is_consistent(void **s)
{
    (void)s;
    static const struct dm_config none;
    for (int i = 0; i < DM_CFG_COUNT; i++) {
        const struct dm_cfg_var *v = &dm_cfg_vars[i];
        assert_non_null(v->name);
        assert_int_equal(strncmp(v->name, "DEMI_", 5), 0);
        assert_non_null(v->owner);
        assert_true(v->doc && *v->doc);
        assert_int_equal(dm_cfg_id_of(v->name), i); /* names are unique */
        assert_true(v->min <= v->max);
        assert_true(v->type != DM_CFG_T_ENUM || v->choices);
        if (v->def && strcmp(v->def, "auto") == 0)
            assert_non_null(v->auto_rule);
        /* every default parses within its own range */
        int64_t n;
        int b;
        switch (v->type) {
        case DM_CFG_T_ENUM:
            assert_true(dm_cfg_enum(&none, (enum dm_cfg_id)i, &b) >= 0);
            break;
        case DM_CFG_T_BOOL:
            assert_true(dm_cfg_bool(&none, (enum dm_cfg_id)i, &b) >= 0);
            break;
        case DM_CFG_T_STR:
            break;
        default:
            assert_non_null(v->def); /* a number always has a default */
            assert_true(dm_cfg_int(&none, (enum dm_cfg_id)i, &n) >= 0);
        }
    }
}

static void test_config_sizes_take_suffixes_counts_do_not(void **s)
{
    (void)s;
    struct dm_config c;
    int64_t v;
    cfg_with(&c, "DEMI_RCVBUF", "1m");
    assert_int_equal(dm_cfg_int(&c, DM_CFG_RCVBUF, &v), 0);
    assert_int_equal(v, 1 << 20);
    cfg_with(&c, "DEMI_TCP_SNDBUF", "64K");
    assert_int_equal(dm_cfg_int(&c, DM_CFG_TCP_SNDBUF, &v), 0);
    assert_int_equal(v, 65536);
    cfg_with(&c, "DEMI_RCVBUF", "1g");
    assert_int_equal(dm_cfg_int(&c, DM_CFG_RCVBUF, &v), 0);
    assert_int_equal(v, 1 << 30);
    cfg_with(&c, "DEMI_RCVBUF", "2g"); /* above the range */
    assert_int_equal(dm_cfg_int(&c, DM_CFG_RCVBUF, &v), -EINVAL);
    cfg_with(&c, "DEMI_RCVBUF", "9999999999999g"); /* overflows */
    assert_int_equal(dm_cfg_int(&c, DM_CFG_RCVBUF, &v), -EINVAL);
    cfg_with(&c, "DEMI_RCVBUF", "1mb");
    assert_int_equal(dm_cfg_int(&c, DM_CFG_RCVBUF, &v), -EINVAL);
    cfg_with(&c, "DEMI_BUF_COUNT", "4k"); /* a count, not a size */
    assert_int_equal(dm_cfg_int(&c, DM_CFG_BUF_COUNT, &v), -EINVAL);
}

static void test_config_ranges_and_bad_numbers(void **s)
{
    (void)s;
    struct dm_config c;
    int64_t v = 0;
    memset(&c, 0, sizeof(c));
    assert_int_equal(dm_cfg_int(&c, DM_CFG_SPIN_US, &v), 0); /* unset: the default */
    assert_int_equal(v, 50);
    cfg_with(&c, "DEMI_SPIN_US", "10000000");
    assert_int_equal(dm_cfg_int(&c, DM_CFG_SPIN_US, &v), 0);
    assert_int_equal(v, 10000000);
    cfg_with(&c, "DEMI_SPIN_US", "0x10");
    assert_int_equal(dm_cfg_int(&c, DM_CFG_SPIN_US, &v), 0);
    assert_int_equal(v, 16);
    static const char *const bad[] = {"10000001", "-1", "", "12abc", "abc", "1.5", "99999999999999999999"};
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cfg_with(&c, "DEMI_SPIN_US", bad[i]);
        v = 1234;
        assert_int_equal(dm_cfg_int(&c, DM_CFG_SPIN_US, &v), -EINVAL);
        assert_int_equal(v, 1234); /* untouched */
    }
}

static void test_config_auto_only_where_the_table_says(void **s)
{
    (void)s;
    struct dm_config c;
    int64_t v = 99;
    int b;
    memset(&c, 0, sizeof(c));
    assert_int_equal(dm_cfg_int(&c, DM_CFG_SPIN_YIELD_US, &v), DM_CFG_AUTO); /* default auto */
    assert_int_equal(v, 99);
    cfg_with(&c, "DEMI_SPIN_YIELD_US", "auto");
    assert_int_equal(dm_cfg_int(&c, DM_CFG_SPIN_YIELD_US, &v), DM_CFG_AUTO);
    cfg_with(&c, "DEMI_SPIN_YIELD_US", "7");
    assert_int_equal(dm_cfg_int(&c, DM_CFG_SPIN_YIELD_US, &v), 0);
    assert_int_equal(v, 7);
    cfg_with(&c, "DEMI_SPIN_US", "auto"); /* no auto rule */
    assert_int_equal(dm_cfg_int(&c, DM_CFG_SPIN_US, &v), -EINVAL);
    cfg_with(&c, "DEMI_OFFLOAD_LOOPBACK", "auto");
    assert_int_equal(dm_cfg_bool(&c, DM_CFG_OFFLOAD_LOOPBACK, &b), DM_CFG_AUTO);
    cfg_with(&c, "DEMI_OFFLOAD_LOOPBACK", "off");
    assert_int_equal(dm_cfg_bool(&c, DM_CFG_OFFLOAD_LOOPBACK, &b), 0);
    assert_int_equal(b, 0);
    cfg_with(&c, "DEMI_URING_BUF_COUNT", "auto");
    assert_int_equal(dm_cfg_int(&c, DM_CFG_URING_BUF_COUNT, &v), DM_CFG_AUTO);
    char exp[160];
    dm_cfg_expected(DM_CFG_SPIN_YIELD_US, exp, sizeof(exp));
    assert_string_equal(exp, "microseconds in [0, 10000000], or auto");
}

static void test_config_bools_and_enums(void **s)
{
    (void)s;
    struct dm_config c;
    int b = -1;
    static const char *const yes[] = {"1", "true", "YES", "on"}, *const no[] = {"0", "false", "no", "Off"};
    for (unsigned i = 0; i < 4; i++) {
        cfg_with(&c, "DEMI_OFFLOAD_UDP", yes[i]);
        assert_int_equal(dm_cfg_bool(&c, DM_CFG_OFFLOAD_UDP, &b), 0);
        assert_int_equal(b, 1);
        cfg_with(&c, "DEMI_OFFLOAD_UDP", no[i]);
        assert_int_equal(dm_cfg_bool(&c, DM_CFG_OFFLOAD_UDP, &b), 0);
        assert_int_equal(b, 0);
    }
    cfg_with(&c, "DEMI_OFFLOAD_UDP", "maybe");
    assert_int_equal(dm_cfg_bool(&c, DM_CFG_OFFLOAD_UDP, &b), -EINVAL);
    cfg_with(&c, "DEMI_LOG", "DEBUG");
    assert_int_equal(dm_cfg_enum(&c, DM_CFG_LOG, &b), 0);
    assert_int_equal(b, 3);
    cfg_with(&c, "DEMI_LOG", "loud");
    assert_int_equal(dm_cfg_enum(&c, DM_CFG_LOG, &b), -EINVAL);
    cfg_with(&c, "DEMI_XDP_FILTER", "all");
    assert_int_equal(dm_cfg_enum(&c, DM_CFG_XDP_FILTER, &b), 0);
    assert_int_equal(b, 1);
    char exp[160];
    dm_cfg_expected(DM_CFG_XDP_FILTER, exp, sizeof(exp));
    assert_string_equal(exp, "one of ip, all");
    /* reading a variable as another type is refused, not misparsed */
    assert_int_equal(dm_cfg_bool(&c, DM_CFG_SPIN_US, &b), -EINVAL);
}

static void test_config_set_by_name_and_storage(void **s)
{
    (void)s;
    struct dm_config c;
    memset(&c, 0, sizeof(c));
    assert_int_equal(dm_config_set(&c, "DEMI_NO_SUCH_VARIABLE", "1"), -ENOENT);
    assert_int_equal(dm_config_set(&c, "DEMI_SPIN_US", "1"), 0);
    assert_string_equal(dm_cfg_raw(&c, DM_CFG_SPIN_US), "1");
    assert_null(dm_cfg_raw(&c, DM_CFG_SPIN_YIELD_US));
    assert_string_equal(dm_cfg_str(&c, DM_CFG_TCP_CC), "cubic"); /* the default */
    assert_null(dm_cfg_str(&c, DM_CFG_IPV4));                    /* none */
    static char big[DM_CONFIG_VAL_MAX + 1];
    memset(big, 'x', sizeof(big) - 1);
    assert_int_equal(dm_config_set(&c, "DEMI_DPDK_ARGS", big), -EINVAL);
    /* rewriting values with longer ones reuses the space (compaction) */
    char val[1500];
    for (int round = 0; round < 40; round++) {
        memset(val, 'a' + round % 26, sizeof(val) - 1);
        val[sizeof(val) - 1 - round] = 0;
        assert_int_equal(dm_config_set(&c, round % 2 ? "DEMI_DPDK_ARGS" : "DEMI_FAULTS", val), 0);
        assert_string_equal(dm_cfg_raw(&c, round % 2 ? DM_CFG_DPDK_ARGS : DM_CFG_FAULTS), val);
        assert_string_equal(dm_cfg_raw(&c, DM_CFG_SPIN_US), "1");
    }
    struct dm_config copy = c; /* a config copies by assignment */
    assert_string_equal(dm_cfg_raw(&copy, DM_CFG_SPIN_US), "1");
}

static void test_config_is_a_snapshot_of_the_environment(void **s)
{
    (void)s;
    struct dm_config c;
    setenv("DEMI_SPIN_US", "77", 1);
    setenv("DEMI_MTU", "", 1);
    setenv("DEMI_NOT_A_VARIABLE", "1", 1); /* warned about, ignored */
    dm_config_init(&c);
    unsetenv("DEMI_SPIN_US");
    unsetenv("DEMI_MTU");
    unsetenv("DEMI_NOT_A_VARIABLE");
    int64_t v;
    assert_int_equal(dm_cfg_int(&c, DM_CFG_SPIN_US, &v), 0);
    assert_int_equal(v, 77); /* read at init, not at lookup */
    assert_null(dm_cfg_raw(&c, DM_CFG_MTU)); /* VAR= is unset */
    struct dm_config later;
    dm_config_init(&later);
    assert_null(dm_cfg_raw(&later, DM_CFG_SPIN_US));
}

static void test_config_bad_value_refuses_the_instance(void **s)
{
    (void)s;
    struct dm_config c;
    struct dm_instance *inst = NULL;
    /* a variable the posix backend never reads still stops it: a typo
     * anywhere is found at start, not when that code first runs */
    dm_config_init(&c);
    dm_config_set(&c, "DEMI_BACKEND", "posix");
    dm_config_set(&c, "DEMI_URING_ENTRIES", "lots");
    assert_int_equal(dm_config_check(&c), -EINVAL);
    assert_int_equal(dm_instance_create(&c, &inst), -EINVAL);
    dm_config_set(&c, "DEMI_URING_ENTRIES", "64");
    dm_config_set(&c, "DEMI_SPIN_YIELD_US", "auto");
    dm_config_set(&c, "DEMI_HDR_COUNT", "auto");
    assert_int_equal(dm_config_check(&c), 0);
    assert_int_equal(dm_instance_create(&c, &inst), 0);
    dm_instance_destroy(inst);
}

static void test_config_stats_target(void **s)
{
    (void)s;
    struct dm_config c;
    const char *file = "unchanged";
    memset(&c, 0, sizeof(c));
    assert_false(dm_stats_wanted(&c, &file));
    cfg_with(&c, "DEMI_STATS", "0");
    assert_false(dm_stats_wanted(&c, &file));
    cfg_with(&c, "DEMI_STATS", "1");
    assert_true(dm_stats_wanted(&c, &file));
    assert_null(file);
    cfg_with(&c, "DEMI_STATS", "/tmp/demi.stats");
    assert_true(dm_stats_wanted(&c, &file));
    assert_string_equal(file, "/tmp/demi.stats");
}

/* DEMI_BACKEND as a preference list: the first that is built and starts;
 * one unknown name alone, or an empty list, starts nothing. */
/* DEMI_MAC and DEMI_ARP entries: one parser for every device and stack. */
static void test_config_mac_addresses(void **s)
{
    (void)s;
    uint8_t m[6];
    assert_int_equal(dm_mac_parse("02:00:0a:Bc:d:ff", m), 0);
    const uint8_t want[6] = { 0x02, 0x00, 0x0a, 0xbc, 0x0d, 0xff };
    assert_memory_equal(m, want, 6);
    const char *bad[] = { "", "02:00:00:00:00", "02:00:00:00:00:01:", "02:00:00:00:00:01 ", "002:00:00:00:00:01",
                          "02:00:00:00:00:0g", "02-00-00-00-00-01", "02::00:00:00:01", ":02:00:00:00:00:01" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (dm_mac_parse(bad[i], m) != -EINVAL)
            fail_msg("'%s' was taken", bad[i]);
}

static void test_config_backend_preference_list(void **s)
{
    (void)s;
    struct dm_config c;
    struct dm_instance *inst = NULL;
    dm_config_init(&c);
    assert_int_equal(dm_config_set(&c, "DEMI_BACKEND", "nosuch,posix"), 0);
    assert_int_equal(dm_instance_create(&c, &inst), 0);
    assert_string_equal(dm_instance_backend(inst), "posix");
    dm_instance_destroy(inst);
    inst = NULL;
    assert_int_equal(dm_config_set(&c, "DEMI_BACKEND", "nosuch"), 0);
    assert_int_equal(dm_instance_create(&c, &inst), -ENODEV);
    assert_null(inst);
    assert_int_equal(dm_config_set(&c, "DEMI_BACKEND", ","), 0);
    assert_true(dm_instance_create(&c, &inst) < 0);
    /* what the preload asks before it has an instance */
    assert_string_equal(dm_stack_first("nosuch,posix")->name, "posix");
    assert_false(dm_stack_first("posix")->own_addresses);
    assert_true(dm_stack_first("loop")->own_addresses);
    assert_null(dm_stack_first("nosuch"));
    /* a device's name is a backend (the L2 stack over it); the L2 stack's
     * own name and a wrapper device's are not */
    assert_true(dm_stack_find("loop")->l2);
    assert_null(dm_stack_find(dm_stack_find("loop")->name));
    assert_null(dm_stack_find("fault"));
    assert_false(dm_stack_find("posix")->l2);
    char names[256];
    dm_stack_names(names, sizeof(names));
    assert_non_null(strstr(names, "posix"));
    assert_non_null(strstr(names, "loop"));
    assert_null(strstr(names, "fault"));
    assert_int_equal(dm_config_set(&c, "DEMI_BACKEND", "loop"), 0);
    assert_int_equal(dm_instance_create(&c, &inst), 0);
    assert_string_equal(dm_instance_backend(inst), "loop");
    dm_instance_destroy(inst);
    inst = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_table_is_consistent),
        cmocka_unit_test(test_config_sizes_take_suffixes_counts_do_not),
        cmocka_unit_test(test_config_ranges_and_bad_numbers),
        cmocka_unit_test(test_config_auto_only_where_the_table_says),
        cmocka_unit_test(test_config_bools_and_enums),
        cmocka_unit_test(test_config_set_by_name_and_storage),
        cmocka_unit_test(test_config_is_a_snapshot_of_the_environment),
        cmocka_unit_test(test_config_bad_value_refuses_the_instance),
        cmocka_unit_test(test_config_stats_target),
        cmocka_unit_test(test_config_backend_preference_list),
        cmocka_unit_test(test_config_mac_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
