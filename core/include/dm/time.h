/* SPDX-License-Identifier: MIT */
/* Monotonic time in nanoseconds (vDSO clock_gettime: no syscall). */
#ifndef DM_TIME_H
#define DM_TIME_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define DM_NS_PER_US 1000LL
#define DM_NS_PER_MS 1000000LL
#define DM_NS_PER_S  1000000000LL

/* CLOCK_MONOTONIC itself: for stamps another process compares. */
static inline int64_t dm_clock_ns_sys(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * DM_NS_PER_S + ts.tv_nsec;
}

/* The TSC's scale to nanoseconds (core/clock.c): CLOCK_MONOTONIC's
 * value ns0 at tick t0, ns per tick << 32. Past refine_ticks from t0,
 * the next read takes the scale again over the longer span (once). */
struct dm_tsc_scale {
    uint64_t t0;
    int64_t ns0;
    uint64_t mult;
    int64_t refine_ticks;
};
extern const struct dm_tsc_scale *dm_tsc; /* NULL: clock_gettime */
int64_t dm_clock_ns_slow(void);
int64_t dm_clock_ns_refine(const struct dm_tsc_scale *s, uint64_t t);
void dm_clock_use_sys(void); /* DEMI_CLOCK=sys, from the next read on */

static inline int64_t dm_tsc_scale_at(const struct dm_tsc_scale *s, uint64_t t)
{
    int64_t d = (int64_t)(t - s->t0);
    return s->ns0 + (int64_t)(((__int128)d * (__int128)s->mult) >> 32);
}

/* The datapath's clock: CLOCK_MONOTONIC, or the TSC scaled to it where
 * the kernel keeps time with the TSC (core/clock.c: 11 ns a read against
 * clock_gettime's 29 on this VM). */
static inline int64_t dm_clock_ns(void)
{
#if defined(__x86_64__)
    const struct dm_tsc_scale *s = __atomic_load_n(&dm_tsc, __ATOMIC_ACQUIRE);
    if (s) {
        uint64_t t = __builtin_ia32_rdtsc();
        /* one unsigned compare: past the refinement, or a TSC behind the
         * anchor (reset by a suspend): the slow path sorts it out */
        if (t - s->t0 < (uint64_t)__atomic_load_n(&s->refine_ticks, __ATOMIC_RELAXED))
            return dm_tsc_scale_at(s, t);
        return dm_clock_ns_refine(s, t);
    }
#endif
    return dm_clock_ns_slow();
}

/* A spinning wait shares its CPU with whatever else is runnable there (a
 * client and a server pinned together, more threads than cores): it
 * yields `first` ns into the spin, then each time the spin has doubled
 * (first, 2 first, 4 first...). A peer on the same CPU then runs within
 * microseconds instead of after the whole spin; a reply from another CPU
 * that comes before `first` costs no syscall. `first` 0: never yield.
 * A yield that took long (dm_spin_yield: another task ran meanwhile) says
 * the CPU is shared: the next wait yields at once, the way a sleeping
 * wait would give it up; a quick one goes back to `first`. */
/* DEMI_SPIN_YIELD_US, for the native API and the preload alike: unset or
 * "auto" is DM_SPIN_YIELD_US_PINNED for a thread that may run on one CPU
 * only (taskset -c N, a one-CPU cpuset: whatever else runs there is on
 * the same CPU for sure), 0 otherwise. Each yield is a syscall: spread
 * over two CPUs, a redis-benchmark -c 1 against redis-server, both under
 * the uring preload, lost a tenth of its rate or more to them
 * (CHANGELOG.md, 2026-12-03). */
#define DM_SPIN_YIELD_US_PINNED 4
static inline int64_t dm_spin_yield_auto_us(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) == 1)
        return DM_SPIN_YIELD_US_PINNED;
    return 0;
}

struct dm_spin {
    int64_t start, next;
};

static inline void dm_spin_begin(struct dm_spin *s, int64_t now, int64_t first)
{
    s->start = now;
    s->next = first > 0 ? now + first : INT64_MAX;
}

static inline int dm_spin_yield_due(struct dm_spin *s, int64_t now)
{
    if (now < s->next)
        return 0;
    s->next = now + (now - s->start);
    return 1;
}

/* Yields the CPU; returns the `first` the next wait should use. */
/* True when more tasks are runnable than there are CPUs (core/crowd.c):
 * a spin then takes a CPU another task waits for. Looked up at most once
 * a millisecond per thread; `now` is dm_clock_ns(). */
bool dm_cpu_crowded(int64_t now);

#define DM_SPIN_SHARED_NS 2000 /* a yield with nobody else to run: ~0.3 us here */
static inline int64_t dm_spin_yield(int64_t base_first)
{
    int64_t t0 = dm_clock_ns();
    sched_yield();
    return base_first > 0 && dm_clock_ns() - t0 > DM_SPIN_SHARED_NS ? 1 : base_first;
}

#endif /* DM_TIME_H */
