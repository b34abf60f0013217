/* SPDX-License-Identifier: MIT */
/* The fd table: entries by fd, sparse chunks, limits, and the lock-free
 * check every hook makes (which must say "not ours" inside the shim). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "shim/shim.h"

static struct shim_obj a = { .kind = SHIM_KIND_SOCK, .refs = 1 }, b = { .kind = SHIM_KIND_EPOLL, .refs = 1 };

static void test_fdtab_unset_fds_are_the_kernels(void **state)
{
    (void)state;
    assert_null(shim_fd_get(3));
    assert_false(shim_fd_maybe(3));
    assert_null(shim_fd_get(-1));
    assert_false(shim_fd_maybe(-1));
    assert_null(shim_fd_get(1 << 29)); /* beyond the table: never ours */
}

static void test_fdtab_set_get_clear(void **state)
{
    (void)state;
    assert_int_equal(shim_fd_set(5, &a), 0);
    assert_ptr_equal(shim_fd_get(5), &a);
    assert_true(shim_fd_maybe(5));
    assert_null(shim_fd_get(4));
    assert_null(shim_fd_get(6));
    assert_int_equal(shim_fd_set(6, &b), 0);
    assert_ptr_equal(shim_fd_get(6), &b);
    shim_fd_clear(5);
    assert_null(shim_fd_get(5));
    assert_false(shim_fd_maybe(5));
    assert_ptr_equal(shim_fd_get(6), &b);
    shim_fd_clear(6);
    shim_fd_clear(7); /* clearing a free entry is harmless */
}

static void test_fdtab_sparse_high_fds(void **state)
{
    (void)state;
    int hi = 900000; /* far chunk: allocated on demand */
    assert_int_equal(shim_fd_set(hi, &a), 0);
    assert_ptr_equal(shim_fd_get(hi), &a);
    assert_null(shim_fd_get(hi - 1));
    assert_null(shim_fd_get(hi + 1));
    assert_true(shim_fd_max() >= hi);
    shim_fd_clear(hi);
    assert_null(shim_fd_get(hi));
}

static void test_fdtab_out_of_range_is_emfile(void **state)
{
    (void)state;
    assert_int_equal(shim_fd_set(-1, &a), -EMFILE);
    assert_int_equal(shim_fd_set(1 << 29, &a), -EMFILE);
}

static void test_fdtab_calls_from_inside_the_shim_bypass(void **state)
{
    (void)state;
    assert_int_equal(shim_fd_set(9, &a), 0);
    assert_true(shim_fd_maybe(9));
    shim_depth++; /* as while the datapath runs a libc call of its own */
    assert_false(shim_fd_maybe(9));
    assert_true(shim_bypass());
    shim_depth--;
    assert_true(shim_fd_maybe(9));
    shim_fd_clear(9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fdtab_unset_fds_are_the_kernels),
        cmocka_unit_test(test_fdtab_set_get_clear),
        cmocka_unit_test(test_fdtab_sparse_high_fds),
        cmocka_unit_test(test_fdtab_out_of_range_is_emfile),
        cmocka_unit_test(test_fdtab_calls_from_inside_the_shim_bypass),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
