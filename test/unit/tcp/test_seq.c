/* SPDX-License-Identifier: MIT */
/* tcp_seq.h: modular sequence comparisons, windows, RFC 9293 acceptability. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "tcp_seq.h"

static void test_seq_ordering_basic(void **state)
{
    (void)state;
    assert_true(SEQ_LT(1, 2));
    assert_false(SEQ_LT(2, 2));
    assert_true(SEQ_LEQ(2, 2));
    assert_true(SEQ_GT(3, 2));
    assert_true(SEQ_GEQ(3, 3));
    assert_false(SEQ_GEQ(2, 3));
}

static void test_seq_wraparound(void **state)
{
    (void)state;
    uint32_t a = 0xfffffff0u, b = a + 0x20; /* b wrapped to 0x10 */
    assert_int_equal(b, 0x10u);
    assert_true(SEQ_LT(a, b));
    assert_true(SEQ_GT(b, a));
    assert_false(SEQ_GT(a, b));
    assert_int_equal(tcp_seq_diff(b, a), 0x20);
    assert_int_equal(tcp_seq_diff(a, b), -0x20);
    assert_int_equal(tcp_seq_max(a, b), b);
    assert_int_equal(tcp_seq_min(a, b), a);
    /* A plain unsigned compare would get every one of these wrong. */
    assert_true(a > b);
    /* Half the circle away is the limit of meaningful comparison. */
    assert_true(SEQ_LT(0, 0x7fffffffu));
    assert_true(SEQ_GT(0, 0x80000001u));
}

static void test_seq_in_window_across_wrap(void **state)
{
    (void)state;
    uint32_t left = 0xffffff00u;
    uint32_t len = 0x200;              /* window [0xffffff00, 0x100) */
    assert_true(tcp_seq_in_window(left, left, len));
    assert_true(tcp_seq_in_window(0xffffffffu, left, len));
    assert_true(tcp_seq_in_window(0, left, len));
    assert_true(tcp_seq_in_window(0xff, left, len));
    assert_false(tcp_seq_in_window(0x100, left, len));
    assert_false(tcp_seq_in_window(left - 1, left, len));
    assert_false(tcp_seq_in_window(left, left, 0));
    assert_true(tcp_seq_in_range(5, 0xfffffffbu, 10));
    assert_false(tcp_seq_in_range(10, 0xfffffffbu, 10));
    assert_true(tcp_seq_between(0, 0xffffffffu, 1));
    assert_true(tcp_seq_between(1, 0xffffffffu, 1));
    assert_false(tcp_seq_between(2, 0xffffffffu, 1));
}

static void test_seq_acceptability_four_cases(void **state)
{
    (void)state;
    uint32_t nxt = 0xfffffffeu;
    /* len 0, wnd 0: only exactly rcv_nxt */
    assert_true(tcp_seq_acceptable(nxt, 0, nxt, 0));
    assert_false(tcp_seq_acceptable(nxt + 1, 0, nxt, 0));
    /* len 0, wnd > 0: inside the window */
    assert_true(tcp_seq_acceptable(nxt + 5, 0, nxt, 10));
    assert_false(tcp_seq_acceptable(nxt + 10, 0, nxt, 10));
    assert_false(tcp_seq_acceptable(nxt - 1, 0, nxt, 10));
    /* len > 0, wnd 0: never */
    assert_false(tcp_seq_acceptable(nxt, 1, nxt, 0));
    /* len > 0, wnd > 0: first or last byte inside (across the wrap) */
    assert_true(tcp_seq_acceptable(nxt - 5, 10, nxt, 10));   /* tail inside */
    assert_false(tcp_seq_acceptable(nxt - 10, 10, nxt, 10)); /* ends just before */
    assert_true(tcp_seq_acceptable(nxt + 9, 100, nxt, 10));  /* head inside */
    assert_false(tcp_seq_acceptable(nxt + 10, 1, nxt, 10));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seq_ordering_basic),
        cmocka_unit_test(test_seq_wraparound),
        cmocka_unit_test(test_seq_in_window_across_wrap),
        cmocka_unit_test(test_seq_acceptability_four_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
