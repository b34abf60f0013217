/* SPDX-License-Identifier: MIT */
/* The fd table: entries by fd, sparse chunks, limits, and the lock-free
 * check every hook makes (which must say "not ours" inside the shim). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/socket.h>
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

/* Sends a turn left for its end (shim_tx_owed) are submitted before a
 * call on a kernel fd that may wait for a peer, not before one that
 * cannot: close, or a read or write of a regular file (nginx's access
 * log and the files it serves, once a request each). */
static void test_fdtab_owed_sends_wait_past_regular_files_only(void **state)
{
    (void)state;
    char path[] = "/tmp/demi_fdtab_XXXXXX";
    int file = mkstemp(path), p[2], sv[2], null = open("/dev/null", O_WRONLY);
    assert_true(file >= 0 && null >= 0);
    unlink(path);
    assert_int_equal(pipe(p), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);

    shim_tx_owed = true;
    assert_false(shim_fd_maybe_rw(file));
    assert_true(shim_tx_owed); /* a file: the sends keep waiting */
    assert_false(shim_fd_maybe_nopeer(p[0]));
    assert_true(shim_tx_owed); /* close waits for no peer */
    for (int i = 0; i < 4; i++) {
        int fd = (int[]){ p[0], p[1], sv[0], null }[i];
        shim_tx_owed = true;
        assert_false(shim_fd_maybe_rw(fd));
        assert_false(shim_tx_owed); /* a pipe, a socket, a device: submitted */
    }
    shim_tx_owed = true;
    assert_false(shim_fd_maybe(file));
    assert_false(shim_tx_owed); /* any other call: fcntl's lock may wait */
    shim_tx_owed = true;
    assert_false(shim_fd_maybe_rw(-1));
    assert_false(shim_tx_owed); /* no fstat: submitted */
    /* the datapath's own calls (a backend's kernel send) submit nothing:
     * the thread is inside the submission already */
    shim_tx_owed = true;
    shim_depth++;
    assert_false(shim_fd_maybe(p[1]));
    assert_false(shim_fd_maybe_rw(p[1]));
    assert_false(shim_fd_maybe_nopeer(p[1]));
    assert_true(shim_tx_owed);
    shim_depth--;
    shim_tx_owed = false;

    close(file);
    close(null);
    close(p[0]);
    close(p[1]);
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fdtab_unset_fds_are_the_kernels),
        cmocka_unit_test(test_fdtab_set_get_clear),
        cmocka_unit_test(test_fdtab_sparse_high_fds),
        cmocka_unit_test(test_fdtab_out_of_range_is_emfile),
        cmocka_unit_test(test_fdtab_calls_from_inside_the_shim_bypass),
        cmocka_unit_test(test_fdtab_owed_sends_wait_past_regular_files_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
