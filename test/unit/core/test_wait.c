/* SPDX-License-Identifier: MIT */
/* Waiting with a timeout: DEMI_SPIN_US of polling first, then a sleep in
 * the backend (an idle wait must not busy-loop to its deadline). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>
#include <unistd.h>
#include <sys/socket.h>
#include <cmocka.h>
#include "dm/instance.h"
#include "dm/stack.h"
#include "dm/stats.h"
#include "dm/time.h"

struct pair {
    struct dm_instance *inst;
    int c, sv;
};

static void pair_open_crowd(struct pair *p, const char *backend, const char *spin_us, const char *crowded)
{
    struct dm_config cfg;
    dm_config_init(&cfg);
    dm_config_set(&cfg, "DEMI_BACKEND", backend);
    if (spin_us)
        dm_config_set(&cfg, "DEMI_SPIN_US", spin_us);
    dm_config_set(&cfg, "DEMI_SPIN_CROWDED", crowded);
    assert_int_equal(dm_instance_create(&cfg, &p->inst), 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    socklen_t len = sizeof(sin);
    int l;
    assert_int_equal(dm_socket(p->inst, &l, AF_INET, SOCK_STREAM, 0), 0);
    assert_int_equal(dm_bind(p->inst, l, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(dm_listen(p->inst, l, 4), 0);
    assert_int_equal(dm_getsockname(p->inst, l, (struct sockaddr *)&sin, &len), 0);
    demi_qtoken_t at, ct;
    demi_qresult_t qr;
    assert_int_equal(dm_socket(p->inst, &p->c, AF_INET, SOCK_STREAM, 0), 0);
    assert_int_equal(dm_accept(p->inst, &at, l), 0);
    assert_int_equal(dm_connect(p->inst, &ct, p->c, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(dm_wait(p->inst, &qr, ct, 5 * DM_NS_PER_S), 0);
    assert_int_equal(dm_wait(p->inst, &qr, at, 5 * DM_NS_PER_S), 0);
    p->sv = qr.qr_value.ares.qd;
}

/* (the spin is what these tests look at: it spins whatever else runs,
 * as other tests in parallel may crowd the CPUs) */
static void pair_open(struct pair *p, const char *backend, const char *spin_us)
{
    pair_open_crowd(p, backend, spin_us, "1");
}

static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * DM_NS_PER_S + ts.tv_nsec;
}

/* A pop that nothing answers, waited for 200 ms: returns ETIMEDOUT; the
 * number of polls and the CPU time it took. */
static void idle_wait(struct pair *p, int64_t *polls, int64_t *cpu_ns)
{
    demi_qtoken_t qt;
    demi_qresult_t qr;
    assert_int_equal(dm_pop(p->inst, &qt, p->sv), 0);
    int64_t p0 = dm_stats_get(p->inst, "core.polls"), c0 = thread_cpu_ns();
    assert_int_equal(dm_wait(p->inst, &qr, qt, 200 * DM_NS_PER_MS), -ETIMEDOUT);
    *cpu_ns = thread_cpu_ns() - c0;
    *polls = dm_stats_get(p->inst, "core.polls") - p0;
}

static void check_backend(const char *backend)
{
    struct pair p;
    int64_t polls, cpu;

    /* no spin: a handful of sleeping polls, no CPU to speak of */
    pair_open(&p, backend, "0");
    idle_wait(&p, &polls, &cpu);
    assert_true(polls >= 1 && polls < 50);
    assert_true(cpu < 100 * DM_NS_PER_MS);
    dm_instance_destroy(p.inst);

    /* 20 ms of spin: many polls without sleeping, then a sleep (the
     * wait did not spin for all of its 200 ms) */
    pair_open(&p, backend, "20000");
    idle_wait(&p, &polls, &cpu);
    assert_true(polls > 100);
    assert_true(cpu < 150 * DM_NS_PER_MS);
    dm_instance_destroy(p.inst);

    /* the default spins (50 us): the data that arrives is still popped */
    pair_open(&p, backend, NULL);
    char msg[] = "ping";
    demi_qtoken_t qt;
    demi_qresult_t qr;
    struct dm_buf *b = dm_buf_alloc(p.inst);
    memcpy(dm_buf_append(b, sizeof(msg)), msg, sizeof(msg));
    assert_int_equal(dm_push_chain(p.inst, &qt, p.c, b, NULL), 0);
    assert_int_equal(dm_pop(p.inst, &qt, p.sv), 0);
    assert_int_equal(dm_wait(p.inst, &qr, qt, 5 * DM_NS_PER_S), 0);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
    assert_int_equal(qr.qr_value.sga.sga_segs[0].sgaseg_len, sizeof(msg));
    assert_memory_equal(qr.qr_value.sga.sga_segs[0].sgaseg_buf, msg, sizeof(msg));
    dm_sgafree(p.inst, &qr.qr_value.sga);
    dm_instance_destroy(p.inst);
}

static void test_wait_spins_then_sleeps_posix(void **s)
{
    (void)s;
    check_backend("posix");
}

static void test_wait_spins_then_sleeps_uring(void **s)
{
    (void)s;
    if (!dm_stack_find("uring"))
        skip();
    check_backend("uring");
}

static void test_spin_config_out_of_range_is_refused(void **s)
{
    (void)s;
    struct dm_config cfg;
    struct dm_instance *inst = NULL;
    dm_config_init(&cfg);
    dm_config_set(&cfg, "DEMI_BACKEND", "posix");
    dm_config_set(&cfg, "DEMI_SPIN_US", "-5");
    assert_int_equal(dm_instance_create(&cfg, &inst), -EINVAL);
    assert_null(inst);
}

static void test_spin_yields_at_first_then_each_time_it_doubled(void **s)
{
    (void)s;
    struct dm_spin sp;
    dm_spin_begin(&sp, 1000, 4000);
    int64_t yields[8];
    int n = 0;
    for (int64_t t = 1000; t <= 1000 + 70000 && n < 8; t += 100)
        if (dm_spin_yield_due(&sp, t))
            yields[n++] = t - 1000;
    /* 4, 8, 16, 32, 64 us into the spin, on a 100 ns polling grid */
    assert_int_equal(n, 5);
    assert_int_equal(yields[0], 4000);
    assert_int_equal(yields[1], 8000);
    assert_int_equal(yields[2], 16000);
    assert_int_equal(yields[3], 32000);
    assert_int_equal(yields[4], 64000);
    /* 0: never */
    dm_spin_begin(&sp, 0, 0);
    assert_false(dm_spin_yield_due(&sp, INT64_MAX - 1));
}

struct late_writer {
    int fd;
};

static void *late_writer_main(void *arg)
{
    struct late_writer *w = arg;
    usleep(20 * 1000); /* runnable again once the other thread spins */
    ssize_t DM_UNUSED r = write(w->fd, "late", 4);
    return NULL;
}

static void test_spinning_wait_lets_a_peer_on_its_cpu_run(void **s)
{
    (void)s;
    /* Both threads on one CPU, SCHED_FIFO at the same priority: the
     * writer runs only if the waiter gives the CPU up. The waiter spins
     * for all of its 2 s wait (DEMI_SPIN_US 10 s): without its yields the
     * data could never arrive and the pop would time out. */
    cpu_set_t one, all;
    sched_getaffinity(0, sizeof(all), &all);
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu() >= 0 ? sched_getcpu() : 0, &one);
    struct sched_param fifo = {.sched_priority = 1}, other = {.sched_priority = 0};
    if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &fifo) != 0)
        skip(); /* not allowed here (no root, or no RT budget in this cgroup) */
    assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);

    struct dm_config cfg;
    struct dm_instance *inst;
    dm_config_init(&cfg);
    dm_config_set(&cfg, "DEMI_BACKEND", "posix");
    dm_config_set(&cfg, "DEMI_SPIN_US", "10000000");
    assert_int_equal(dm_instance_create(&cfg, &inst), 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    socklen_t len = sizeof(sin);
    int l;
    assert_int_equal(dm_socket(inst, &l, AF_INET, SOCK_STREAM, 0), 0);
    assert_int_equal(dm_bind(inst, l, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(dm_listen(inst, l, 4), 0);
    assert_int_equal(dm_getsockname(inst, l, (struct sockaddr *)&sin, &len), 0);
    int kfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(kfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    demi_qtoken_t qt;
    demi_qresult_t qr;
    assert_int_equal(dm_accept(inst, &qt, l), 0);
    assert_int_equal(dm_wait(inst, &qr, qt, 5 * DM_NS_PER_S), 0);
    int sv = qr.qr_value.ares.qd;

    struct late_writer w = {kfd};
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setinheritsched(&at, PTHREAD_INHERIT_SCHED); /* FIFO, same CPU */
    pthread_t th;
    assert_int_equal(pthread_create(&th, &at, late_writer_main, &w), 0);
    assert_int_equal(dm_pop(inst, &qt, sv), 0);
    int rc = dm_wait(inst, &qr, qt, 2 * DM_NS_PER_S);
    pthread_setschedparam(pthread_self(), SCHED_OTHER, &other);
    pthread_join(th, NULL);
    sched_setaffinity(0, sizeof(all), &all);
    assert_int_equal(rc, 0);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
    assert_int_equal(qr.qr_value.sga.sga_segs[0].sgaseg_len, 4);
    dm_sgafree(inst, &qr.qr_value.sga);
    close(kfd);
    dm_instance_destroy(inst);
}

/* More runnable tasks than CPUs: a wait sleeps at once instead of
 * spinning (its spin would take a CPU a task waits for, maybe the one
 * that answers); with DEMI_SPIN_CROWDED=1 it spins as before. */
static atomic_int crowd_stop, crowd_up;
static void *crowd_thread(void *arg)
{
    (void)arg;
    atomic_fetch_add(&crowd_up, 1);
    while (!atomic_load_explicit(&crowd_stop, memory_order_relaxed))
        ;
    return NULL;
}

static void test_wait_does_not_spin_while_tasks_wait_for_a_cpu(void **s)
{
    (void)s;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int n = (int)(ncpu < 1 ? 1 : ncpu) + 1;
    pthread_t th[n];
    atomic_store(&crowd_stop, 0);
    atomic_store(&crowd_up, 0);
    for (int i = 0; i < n; i++)
        assert_int_equal(pthread_create(&th[i], NULL, crowd_thread, NULL), 0);
    while (atomic_load(&crowd_up) < n)
        usleep(1000);
    struct pair p;
    int64_t polls, cpu;
    pair_open_crowd(&p, "posix", "20000", "0");
    usleep(5 * 1000); /* past the last look's millisecond */
    assert_true(dm_cpu_crowded(dm_clock_ns()));
    idle_wait(&p, &polls, &cpu);
    dm_instance_destroy(p.inst);
    pair_open_crowd(&p, "posix", "20000", "1");
    int64_t polls_spun, cpu_spun;
    idle_wait(&p, &polls_spun, &cpu_spun);
    dm_instance_destroy(p.inst);
    atomic_store(&crowd_stop, 1);
    for (int i = 0; i < n; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    /* 20 ms of spin (check_backend: > 100 polls) not taken; taken when told */
    assert_true(polls < 50);
    assert_true(polls_spun > 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wait_spins_then_sleeps_posix),
        cmocka_unit_test(test_wait_spins_then_sleeps_uring),
        cmocka_unit_test(test_spin_config_out_of_range_is_refused),
        cmocka_unit_test(test_spin_yields_at_first_then_each_time_it_doubled),
        cmocka_unit_test(test_spinning_wait_lets_a_peer_on_its_cpu_run),
        cmocka_unit_test(test_wait_does_not_spin_while_tasks_wait_for_a_cpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
