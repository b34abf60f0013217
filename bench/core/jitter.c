/* SPDX-License-Identifier: MIT */
/*
 * What the machine takes from a spinning thread: one thread per CPU reads
 * the monotonic clock in a loop that touches nothing else, and every gap
 * between two reads longer than 1 us is time the CPU was taken away
 * (timer interrupts, on a VM their exits to the host, the host's own
 * preemptions, other tasks). Each CPU prints its gaps per second by size
 * and the share of its time they took, like OpenOnload's sysjitter.
 *
 * A spinning datapath meets the same gaps: a round trip of R ns on CPUs
 * that lose G gaps a second each is hit by about G x R of them in every
 * round trip, so when that passes 0.1% the p99.9 is a gap's length, not
 * the datapath's (bench/dpdk/preload.sh measures the same with the raw
 * memif ping-pong padded to a stack's round trip).
 *
 * Usage: demi_jitter [seconds (default 3)] [cpu...] (default: every CPU
 * this process may run on). Nothing is asserted.
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define GAP_MIN_NS 1000
#define NBUCKETS 8
static const int64_t bucket_hi_ns[NBUCKETS] = {2000, 5000, 10000, 20000, 50000, 100000, 1000000, INT64_MAX};
static const char *const bucket_name[NBUCKETS] = {"1-2us", "2-5us", "5-10us", "10-20us",
                                                  "20-50us", "50-100us", "0.1-1ms", ">1ms"};

struct meter {
    pthread_t th;
    int cpu;
    double secs;
    int64_t count[NBUCKETS];
    int64_t lost_ns, ran_ns, worst_ns;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *measure(void *arg)
{
    struct meter *m = arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(m->cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
        fprintf(stderr, "demi_jitter: cannot run on CPU %d\n", m->cpu);
        m->ran_ns = -1;
        return NULL;
    }
    int64_t start = now_ns(), end = start + (int64_t)(m->secs * 1e9), prev = start;
    while (prev < end) {
        int64_t t = now_ns(), gap = t - prev;
        prev = t;
        if (gap < GAP_MIN_NS)
            continue;
        int b = 0;
        while (gap >= bucket_hi_ns[b])
            b++;
        m->count[b]++;
        m->lost_ns += gap;
        if (gap > m->worst_ns)
            m->worst_ns = gap;
    }
    m->ran_ns = prev - start;
    return NULL;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 3.0;
    if (secs <= 0)
        secs = 3.0;
    int cpus[CPU_SETSIZE], n = 0;
    if (argc > 2) {
        for (int i = 2; i < argc && n < CPU_SETSIZE; i++)
            cpus[n++] = atoi(argv[i]);
    } else {
        cpu_set_t set;
        if (sched_getaffinity(0, sizeof(set), &set) != 0)
            return 1;
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &set))
                cpus[n++] = c;
    }
    struct meter *m = calloc((size_t)n, sizeof(*m));
    if (!m)
        return 1;
    for (int i = 0; i < n; i++) {
        m[i].cpu = cpus[i], m[i].secs = secs;
        if (pthread_create(&m[i].th, NULL, measure, &m[i]) != 0)
            return 1;
    }
    printf("# demi_jitter: gaps of >= 1 us in a spinning clock loop, per second, %.1f s per CPU\n", secs);
    printf("%-4s", "cpu");
    for (int b = 0; b < NBUCKETS; b++)
        printf(" %9s", bucket_name[b]);
    printf(" %9s %9s %10s\n", ">=10us/s", "lost %", "worst us");
    int rc = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(m[i].th, NULL);
        if (m[i].ran_ns <= 0) {
            rc = 1;
            continue;
        }
        double s = (double)m[i].ran_ns / 1e9;
        int64_t big = 0;
        printf("%-4d", m[i].cpu);
        for (int b = 0; b < NBUCKETS; b++) {
            printf(" %9.0f", (double)m[i].count[b] / s);
            if (b >= 3)
                big += m[i].count[b];
        }
        printf(" %9.0f %9.2f %10.1f\n", (double)big / s, 100.0 * (double)m[i].lost_ns / (double)m[i].ran_ns,
               (double)m[i].worst_ns / 1e3);
    }
    free(m);
    return rc;
}
