/* SPDX-License-Identifier: MIT */
/* The datapath's clock (core/clock.c): once the TSC is scaled, it keeps
 * to CLOCK_MONOTONIC and never runs backwards on a thread, also when the
 * scale is refined; a TSC that went back turns it off; where the kernel's
 * clocksource is not the TSC, it is CLOCK_MONOTONIC; DEMI_CLOCK=sys turns
 * the TSC off from the next read. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "dm/time.h"

static bool kernel_uses_tsc(void)
{
    char buf[32] = {0};
    FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
    if (!f)
        return false;
    bool tsc = fgets(buf, sizeof(buf), f) && strcmp(buf, "tsc\n") == 0;
    fclose(f);
    return tsc;
}

static const struct dm_tsc_scale *scale_now(void)
{
    return __atomic_load_n(&dm_tsc, __ATOMIC_ACQUIRE);
}

/* Reads until the TSC is scaled (50 ms in, or later if the machine is so
 * busy that no (TSC, ns) pair was read cleanly), for 5 s at most. */
static void read_past_calibration(void)
{
    int64_t t0 = dm_clock_ns_sys();
    while (!scale_now() && dm_clock_ns_sys() - t0 < 5 * DM_NS_PER_S)
        (void)dm_clock_ns();
}

/* Reads for ms milliseconds: past the millisecond between tries at a pair,
 * so a scale that could come back would. */
static void read_for(int64_t ms)
{
    int64_t t0 = dm_clock_ns_sys();
    while (dm_clock_ns_sys() - t0 < ms * DM_NS_PER_MS)
        (void)dm_clock_ns();
}

static void test_clock_keeps_to_monotonic(void **state)
{
    (void)state;
    read_past_calibration();
#if defined(__x86_64__)
    if (kernel_uses_tsc())
        assert_non_null(scale_now());
    else
        assert_null(scale_now());
#endif
    /* 300 ms more: each read lies between two system reads around it, give
     * or take the scale's error (under a microsecond here), and never
     * before the last one */
    int64_t last = dm_clock_ns(), worst = 0, t0 = dm_clock_ns_sys();
    long n = 0;
    for (int64_t s0 = t0; s0 - t0 < 300 * DM_NS_PER_MS; n++) {
        s0 = dm_clock_ns_sys();
        int64_t c = dm_clock_ns();
        int64_t s1 = dm_clock_ns_sys();
        assert_true(c >= last);
        last = c;
        int64_t off = c < s0 ? s0 - c : c > s1 ? c - s1 : 0;
        if (off > worst)
            worst = off;
    }
    print_message("%ld reads, worst distance from CLOCK_MONOTONIC %lld ns\n", n, (long long)worst);
    assert_true(n > 1000);
    assert_true(worst < 100 * DM_NS_PER_US);
}

/* 2 s in, the scale is taken again over the longer span: the reads go on
 * from where they were, not a step back. */
static void test_clock_refined_without_a_step(void **state)
{
    (void)state;
    read_past_calibration();
    const struct dm_tsc_scale *first = scale_now();
    if (!first) {
        print_message("the kernel does not keep time with the TSC here: nothing to refine\n");
        return;
    }
    int64_t last = dm_clock_ns(), t0 = dm_clock_ns_sys();
    while (scale_now() == first && dm_clock_ns_sys() - t0 < 8 * DM_NS_PER_S) {
        int64_t c = dm_clock_ns();
        assert_true(c >= last);
        last = c;
    }
    assert_ptr_not_equal(scale_now(), first);
    int64_t s0 = dm_clock_ns_sys(), c = dm_clock_ns(), s1 = dm_clock_ns_sys();
    assert_true(c >= last);
    print_message("refined; then %lld ns from CLOCK_MONOTONIC\n",
                  (long long)(c < s0 ? s0 - c : c > s1 ? c - s1 : 0));
    assert_true(c > s0 - 100 * DM_NS_PER_US && c < s1 + 100 * DM_NS_PER_US);
}

/* A TSC behind the anchor: a few ticks (another CPU, an early rdtsc) read
 * as the anchor's time; a millisecond or more (a reset by a suspend) turns
 * the scale off for good, and the reads are CLOCK_MONOTONIC's again. */
static void test_clock_tsc_behind_the_anchor(void **state)
{
    (void)state;
#if defined(__x86_64__)
    read_past_calibration();
    const struct dm_tsc_scale *cur = scale_now();
    if (!cur) {
        print_message("the kernel does not keep time with the TSC here: nothing to test\n");
        return;
    }
    uint64_t now = __builtin_ia32_rdtsc();
    uint64_t ms = (uint64_t)(((unsigned __int128)DM_NS_PER_MS << 32) / cur->mult);
    struct dm_tsc_scale s = *cur;
    s.t0 = now + 100;
    s.ns0 = 12345;
    assert_int_equal(dm_clock_ns_refine(&s, now), 12345);
    assert_ptr_equal(scale_now(), cur); /* still on */
    s.t0 = now + 5 * ms;
    int64_t s0 = dm_clock_ns_sys(), c = dm_clock_ns_refine(&s, now), s1 = dm_clock_ns_sys();
    assert_true(c >= s0 && c <= s1);
    assert_null(scale_now());
    read_for(100); /* and it stays off */
    assert_null(scale_now());
#endif
}

/* DEMI_CLOCK=sys on a live scale, in a child: once off, the scale stays
 * off for the process, and the test after this one needs it on. */
static void test_clock_sys_on_request(void **state)
{
    (void)state;
    read_past_calibration();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dm_clock_use_sys();
        bool ok = scale_now() == NULL;
        read_for(100); /* and it stays off */
        ok = ok && scale_now() == NULL;
        int64_t s0 = dm_clock_ns_sys(), c = dm_clock_ns(), s1 = dm_clock_ns_sys();
        _exit(ok && c >= s0 && c <= s1 ? 0 : 1);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clock_keeps_to_monotonic),
        cmocka_unit_test(test_clock_refined_without_a_step),
        cmocka_unit_test(test_clock_sys_on_request),
        cmocka_unit_test(test_clock_tsc_behind_the_anchor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
