/* SPDX-License-Identifier: MIT */
/*
 * The rings the XDP device's processes hand each other frames through
 * (devices/xdp/xdp_fwd.c), without an interface: a memfd stands for the
 * program's xdp_fwd map and an eventfd for each XSK. Three participants
 * on queues 0, 1 and 2 of one region, in this process (so all alive),
 * except where a forked child plays an owner that died.
 */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include "devtest.h"
#include "../../../devices/xdp/xdp_fwd.h"

#define NQ 3

struct fx {
    int mem;
    int xsk[NQ];
    struct xdp_fwd f[NQ];
};

static void copy_bytes(void *arg, uint8_t *dst, uint32_t len)
{
    memcpy(dst, arg, len);
}

static int send_bytes(struct xdp_fwd *f, const void *p, uint32_t len, uint64_t route, uint32_t hash)
{
    return xdp_fwd_send(f, len, copy_bytes, (void *)p, route, hash);
}

static bool readable(int fd, int ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    return poll(&p, 1, ms) == 1;
}

static int setup(void **state)
{
    struct fx *x = calloc(1, sizeof(*x));
    x->mem = memfd_create("xdp-fwd-test", MFD_CLOEXEC);
    assert_int_equal(ftruncate(x->mem, (off_t)xdp_fwd_pages(NQ) * XDP_FWD_PAGE), 0);
    for (int q = 0; q < NQ; q++) {
        x->xsk[q] = eventfd(0, EFD_CLOEXEC);
        assert_int_equal(xdp_fwd_map(&x->f[q], x->mem, NQ), 0);
        assert_int_equal(xdp_fwd_open(&x->f[q], (uint32_t)q, x->xsk[q]), 0);
        usleep(1000); /* claim times in queue order: later ones "started after" */
    }
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fx *x = *state;
    for (int q = 0; q < NQ; q++) {
        xdp_fwd_close(&x->f[q]);
        close(x->xsk[q]);
    }
    close(x->mem);
    free(x);
    return 0;
}

/* Takes q's oldest frame: the one expected, its bytes and route. */
static void take_one(struct fx *x, int q, const uint8_t *want, uint32_t want_len, uint64_t want_route)
{
    struct xdp_fwd *f = &x->f[q];
    uint32_t len;
    uint64_t route;
    assert_true(xdp_fwd_pending(f));
    xdp_fwd_wake_take(f);
    const uint8_t *d = xdp_fwd_peek(f, &len, &route);
    assert_non_null(d);
    assert_int_equal(len, want_len);
    assert_memory_equal(d, want, want_len);
    assert_int_equal(route, want_route);
    xdp_fwd_pop(f);
}

static void test_fwd_hands_a_frame_on_and_wakes_its_owner(void **state)
{
    struct fx *x = *state;
    uint8_t frame[1514];
    for (size_t i = 0; i < sizeof(frame); i++)
        frame[i] = (uint8_t)(i * 7 + 3);
    assert_false(xdp_fwd_pending(&x->f[1]));
    assert_false(readable(x->f[1].ep_fd, 0));
    /* 1 and 2 both started after 0 and listen on nothing: the hash picks */
    assert_int_equal(send_bytes(&x->f[0], frame, sizeof(frame), 0, 0), 1);
    assert_false(xdp_fwd_pending(&x->f[2]));
    assert_true(readable(x->f[1].ep_fd, 1000)); /* the wake reached its wait fd */
    take_one(x, 1, frame, sizeof(frame), 1u << 0);
    assert_false(xdp_fwd_pending(&x->f[1])); /* that one only */
    assert_false(readable(x->f[1].ep_fd, 0)); /* and went quiet once taken */
    /* the same hash, the same process */
    assert_int_equal(send_bytes(&x->f[0], frame, 60, 0, 0), 1);
    take_one(x, 1, frame, 60, 1u << 0);
}

static void test_fwd_goes_round_each_process_once_then_none_is_left(void **state)
{
    struct fx *x = *state;
    uint8_t frame[100] = { 1, 2, 3 };
    /* came from 0 to 1; 1 hands it on: only 2 has not had it */
    assert_int_equal(send_bytes(&x->f[1], frame, sizeof(frame), 1u << 0, 0), 1);
    assert_int_equal(send_bytes(&x->f[1], frame, sizeof(frame), 1u << 0, 1), 1);
    take_one(x, 2, frame, sizeof(frame), (1u << 0) | (1u << 1));
    take_one(x, 2, frame, sizeof(frame), (1u << 0) | (1u << 1));
    /* 2 had it last: everyone has */
    assert_int_equal(send_bytes(&x->f[2], frame, sizeof(frame), (1u << 0) | (1u << 1), 0), -ENOENT);
    assert_false(xdp_fwd_pending(&x->f[0]));
}

static void test_fwd_prefers_a_listener_whatever_the_hash(void **state)
{
    struct fx *x = *state;
    uint8_t frame[64] = { 9 };
    xdp_fwd_listening(&x->f[2], true);
    for (uint32_t h = 0; h < 8; h++)
        assert_int_equal(send_bytes(&x->f[0], frame, sizeof(frame), 0, h), 1);
    assert_false(xdp_fwd_pending(&x->f[1]));
    for (int i = 0; i < 8; i++)
        take_one(x, 2, frame, sizeof(frame), 1u << 0);
}

static void test_fwd_full_ring_drops_and_too_long_is_refused(void **state)
{
    struct fx *x = *state;
    uint8_t frame[XDP_FWD_DATA + 1];
    memset(frame, 0x5a, sizeof(frame));
    xdp_fwd_listening(&x->f[2], true);
    assert_int_equal(send_bytes(&x->f[0], frame, XDP_FWD_DATA + 1, 0, 0), -E2BIG);
    for (uint32_t i = 0; i < XDP_FWD_SLOTS; i++)
        assert_int_equal(send_bytes(&x->f[0], frame, XDP_FWD_DATA, 0, 0), 1);
    /* nobody takes them: dropped after a moment, then at once */
    assert_int_equal(send_bytes(&x->f[0], frame, 100, 0, 0), 0);
    assert_int_equal(send_bytes(&x->f[0], frame, 100, 0, 0), 0);
    /* the ring as it was, in order */
    for (uint32_t i = 0; i < XDP_FWD_SLOTS; i++)
        take_one(x, 2, frame, XDP_FWD_DATA, 1u << 0);
    assert_false(xdp_fwd_pending(&x->f[2]));
}

static void test_fwd_skips_owners_that_left_or_died(void **state)
{
    struct fx *x = *state;
    uint8_t frame[80] = { 4 };
    /* 1 leaves; 2 is taken over by a process that dies */
    xdp_fwd_close(&x->f[1]);
    xdp_fwd_close(&x->f[2]);
    pid_t c = fork();
    if (c == 0) {
        struct xdp_fwd g;
        _exit(xdp_fwd_map(&g, x->mem, NQ) == 0 && xdp_fwd_open(&g, 2, x->xsk[2]) == 0 ? 0 : 1);
    }
    int st;
    assert_int_equal(waitpid(c, &st, 0), c);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(send_bytes(&x->f[0], frame, sizeof(frame), 0, 0), -ENOENT);
    /* a new owner of 2: what the dead one left is not handed to it */
    assert_int_equal(xdp_fwd_map(&x->f[2], x->mem, NQ), 0);
    assert_int_equal(xdp_fwd_open(&x->f[2], 2, x->xsk[2]), 0);
    assert_false(xdp_fwd_pending(&x->f[2]));
    assert_int_equal(send_bytes(&x->f[0], frame, sizeof(frame), 0, 0), 1);
    take_one(x, 2, frame, sizeof(frame), 1u << 0);
}

static void test_fwd_peers_starting_until_they_listen(void **state)
{
    struct fx *x = *state;
    assert_true(xdp_fwd_peers_starting(&x->f[0]));
    for (int q = 0; q < NQ; q++)
        xdp_fwd_listening(&x->f[q], true);
    assert_false(xdp_fwd_peers_starting(&x->f[0]));
    xdp_fwd_listening(&x->f[1], false);
    assert_true(xdp_fwd_peers_starting(&x->f[2]));
}

/* A process waiting for a queue (a new worker at a reload, every queue
 * held by an old one) counts as starting for the others, so that a SYN
 * no process listens for is dropped, not refused, while it waits. */
static void test_fwd_a_process_waiting_for_a_queue_counts_as_starting(void **state)
{
    struct fx *x = *state;
    for (int q = 0; q < NQ; q++)
        xdp_fwd_listening(&x->f[q], true);
    assert_false(xdp_fwd_peers_starting(&x->f[0]));
    struct xdp_fwd w;
    assert_int_equal(xdp_fwd_map(&w, x->mem, NQ), 0); /* mapped, no queue yet */
    xdp_fwd_waiting(&w);
    assert_true(xdp_fwd_peers_starting(&x->f[0]));
    assert_true(xdp_fwd_peers_starting(&x->f[2]));
    xdp_fwd_close(&w);
}

static void test_fwd_alone_does_not_take_part(void **state)
{
    (void)state;
    struct xdp_fwd f;
    int mem = memfd_create("xdp-fwd-one", MFD_CLOEXEC), e = eventfd(0, EFD_CLOEXEC);
    assert_int_equal(ftruncate(mem, (off_t)xdp_fwd_pages(1) * XDP_FWD_PAGE), 0);
    assert_int_equal(xdp_fwd_map(&f, mem, 1), -ENOTSUP);
    assert_int_equal(xdp_fwd_open(&f, 0, e), -ENOTSUP);
    assert_null(f.me);
    assert_false(xdp_fwd_pending(&f));
    assert_int_equal(send_bytes(&f, "x", 1, 0, 0), -ENOENT);
    xdp_fwd_close(&f);
    close(mem);
    close(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fwd_hands_a_frame_on_and_wakes_its_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fwd_goes_round_each_process_once_then_none_is_left, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fwd_prefers_a_listener_whatever_the_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fwd_full_ring_drops_and_too_long_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fwd_skips_owners_that_left_or_died, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fwd_peers_starting_until_they_listen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fwd_a_process_waiting_for_a_queue_counts_as_starting, setup, teardown),
        cmocka_unit_test(test_fwd_alone_does_not_take_part),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
