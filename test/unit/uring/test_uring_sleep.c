/* SPDX-License-Identifier: MIT */
/*
 * Sleeping inside the ring (dm_instance_sleep_arm / dm_instance_sleep,
 * stacks/uring/uring_sleep.c): what the preload's blocking calls, epoll and
 * poll rely on. A kernel peer's send wakes the sleep; so does a watched
 * kernel fd, also one that was ready before the sleep; a signal gives
 * EINTR; another thread that takes the instance over wakes the sleeper
 * first. None of it asks for the wait fd, so the ring keeps deferred task
 * work (it would move to a shared ring on this kernel otherwise).
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "ur_test.h"

#define SLEEP_NS (5LL * 1000 * 1000 * 1000) /* a wake-up that never came costs the whole of it */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Arms and sleeps as the preload does; returns the sleep's result and how
 * long it slept. */
static int sleep_once(struct dm_instance *inst, const struct pollfd *w, const uint64_t *ids, int n,
                      int64_t *slept)
{
    while (dm_poll(inst, 0) > 0)
        ;
    int r = dm_instance_sleep_arm(inst, w, ids, n);
    if (r > 0) {
        *slept = 0;
        return 1; /* look again */
    }
    assert_int_equal(r, 0);
    int64_t t0 = now_ns();
    r = dm_instance_sleep(inst, SLEEP_NS);
    *slept = now_ns() - t0;
    return r;
}

static struct dm_instance *bound_instance(void)
{
    struct dm_instance *inst = ut_instance(NULL);
    ut_skip_without(inst, UR_F_DEFER_TASKRUN | UR_F_SINGLE_ISSUER);
    assert_true(dm_instance_can_sleep_inside(inst));
    return inst;
}

static void test_a_peers_send_wakes_a_sleep_inside_the_ring(void **st)
{
    (void)st;
    struct dm_instance *inst = bound_instance();
    uint16_t port;
    int l = ut_listen(inst, SOCK_STREAM, &port);
    demi_qtoken_t at, qt;
    assert_int_equal(dm_accept(inst, &at, l), 0);
    int k = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = ut_addr(port);
    assert_int_equal(connect(k, (struct sockaddr *)&sin, sizeof(sin)), 0);
    int s = ut_wait(inst, at).qr_value.ares.qd;
    for (int round = 0; round < 5; round++) {
        assert_int_equal(dm_pop(inst, &qt, s), 0);
        dm_poll(inst, 0);
        pid_t child = fork();
        if (child == 0) {
            usleep(20000); /* the parent is asleep by then */
            _exit(send(k, "r", 1, 0) == 1 ? 0 : 1);
        }
        int64_t slept = 0, longest = 0;
        demi_qresult_t qr;
        int r, tries = 0;
        while ((r = dm_wait(inst, &qr, qt, 0)) == -ETIMEDOUT && tries++ < 4) {
            assert_int_equal(sleep_once(inst, NULL, NULL, 0, &slept) < 0, 0);
            longest = slept > longest ? slept : longest;
        }
        if (r != 0 || longest >= SLEEP_NS / 2)
            fail_msg("round %d: the peer's send did not wake the sleep (%d, %lld ns)", round, r, (long long)longest);
        assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
        dm_sgafree(inst, &qr.qr_value.sga);
        int wst;
        waitpid(child, &wst, 0);
    }
    assert_true(ut_stat(inst, "uring.sleeps") > 0);
    assert_int_equal(ut_stat(inst, "uring.ring_moves"), 0);
    assert_true(dm_uring_features(inst) & UR_F_DEFER_TASKRUN);
    close(k);
    dm_close(inst, s);
    dm_close(inst, l);
    dm_instance_destroy(inst);
}

struct writer {
    int fd;
    int delay_us;
};

static void *write_later(void *arg)
{
    struct writer *w = arg;
    usleep((useconds_t)w->delay_us);
    uint64_t one = 1;
    ssize_t DM_UNUSED r = write(w->fd, &one, sizeof(one));
    return NULL;
}

static void test_a_watched_fd_wakes_the_sleep_and_stays_armed(void **st)
{
    (void)st;
    struct dm_instance *inst = bound_instance();
    int efd = eventfd(0, EFD_NONBLOCK);
    struct pollfd w = { .fd = efd, .events = POLLIN };
    uint64_t id = 77, v;
    int64_t slept;
    for (int round = 0; round < 4; round++) {
        /* written while asleep: the first round arms the poll, the later
         * ones find it armed */
        struct writer wr = { efd, 20000 };
        pthread_t t;
        pthread_create(&t, NULL, write_later, &wr);
        int r = sleep_once(inst, &w, &id, 1, &slept);
        pthread_join(t, NULL);
        if (r == 1) /* it fired while we looked: fine, drain and look again */
            r = 0, slept = 0;
        assert_int_equal(r, 0);
        if (slept >= SLEEP_NS / 2)
            fail_msg("round %d: the watched fd did not wake the sleep", round);
        assert_int_equal(read(efd, &v, sizeof(v)), (ssize_t)sizeof(v));
        while (dm_poll(inst, 0) > 0)
            ;
        /* its CQE came: the next arm says "look again" once */
        if (dm_instance_sleep_arm(inst, &w, &id, 1) == 0)
            (void)dm_instance_sleep(inst, 0);
    }
    /* ready before the sleep, under a new id (a new file for that number):
     * armed anew, level-checked at once */
    uint64_t one = 1, id2 = 78;
    assert_int_equal(write(efd, &one, sizeof(one)), (ssize_t)sizeof(one));
    int r = sleep_once(inst, &w, &id2, 1, &slept);
    assert_true(r == 0 || r == 1);
    if (slept >= SLEEP_NS / 2)
        fail_msg("an fd ready before the sleep did not end it");
    close(efd);
    dm_instance_destroy(inst);
}

static volatile sig_atomic_t alarms;
static void on_alarm(int s) { (void)s; alarms++; }

static void test_a_signal_interrupts_the_sleep_with_eintr(void **st)
{
    (void)st;
    struct dm_instance *inst = bound_instance();
    struct sigaction sa = { .sa_handler = on_alarm }; /* no SA_RESTART */
    sigaction(SIGALRM, &sa, NULL);
    int efd = eventfd(0, EFD_NONBLOCK);
    struct pollfd w = { .fd = efd, .events = POLLIN };
    uint64_t id = 5;
    for (int round = 0; round < 2; round++) {
        /* round 0 submits the new watch in the sleep; round 1 does not */
        struct itimerval it = { .it_value = { 0, 100000 } }; /* well after the arm */
        setitimer(ITIMER_REAL, &it, NULL);
        int64_t slept;
        int r = sleep_once(inst, &w, &id, 1, &slept);
        if (r != -EINTR)
            fail_msg("round %d: the sleep returned %d after %lld ns, not -EINTR", round, r, (long long)slept);
        assert_true(alarms == round + 1);
    }
    signal(SIGALRM, SIG_DFL);
    close(efd);
    dm_instance_destroy(inst);
}

/* Thread B drives the instance while A sleeps in A's ring: B moves every
 * socket to a ring of its own, and A must not sleep on in the old one
 * (ur_sleeper_evict wakes it first; tearing the old ring down would too). */
struct takeover {
    struct dm_instance *inst;
    int64_t slept;
    int r;
};

static void *sleeper(void *arg)
{
    struct takeover *t = arg;
    t->r = sleep_once(t->inst, NULL, NULL, 0, &t->slept);
    return NULL;
}

static void test_a_sleeper_is_woken_when_another_thread_takes_the_instance_over(void **st)
{
    (void)st;
    /* the instance is made (and its ring bound) on thread A */
    struct takeover t = { 0 };
    struct dm_instance *inst = bound_instance();
    t.inst = inst;
    /* A is this test's own thread in the preload; here A is a new thread,
     * so the ring must first be bound to it: it drives the instance once */
    pthread_t a;
    pthread_create(&a, NULL, sleeper, &t);
    usleep(100000); /* A moved the ring to itself and sleeps in it */
    int64_t t0 = now_ns();
    dm_poll(inst, 0); /* B (this thread) takes the instance over */
    pthread_join(a, NULL);
    int64_t took = now_ns() - t0;
    assert_int_equal(t.r == 0 || t.r == 1, 1);
    if (took >= SLEEP_NS / 2)
        fail_msg("the sleeper was not woken by the move (%lld ns)", (long long)took);
    assert_true(ut_stat(inst, "uring.ring_moves") >= 1);
    dm_instance_destroy(inst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_peers_send_wakes_a_sleep_inside_the_ring),
        cmocka_unit_test(test_a_watched_fd_wakes_the_sleep_and_stays_armed),
        cmocka_unit_test(test_a_signal_interrupts_the_sleep_with_eintr),
        cmocka_unit_test(test_a_sleeper_is_woken_when_another_thread_takes_the_instance_over),
    };
    return cmocka_run_group_tests_name("uring_sleep", tests, NULL, NULL);
}
