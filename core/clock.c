/* SPDX-License-Identifier: MIT */
/*
 * core: the datapath's clock (dm_clock_ns), the TSC read directly where
 * the kernel itself keeps time with it.
 *
 * Why: the stack and the wait loop read the clock several times per
 * round trip (each wait, the turn after work, the timers). The vDSO's
 * clock_gettime costs 29 ns on this VM (a fenced rdtsc, a seqlock on the
 * kernel's time data, a scale); a plain rdtsc and a multiply cost 11 ns.
 * The 64 B echo on the loop device (bench/inet, ONLY=rtt): 1,162 ns ->
 * 1,052 ns median.
 *
 * How: where /sys says the kernel's clocksource is "tsc" (the kernel has
 * checked that the TSC is constant and in step across CPUs, or it would
 * have switched away from it), dm_clock_ns reads clock_gettime for the
 * first CLOCK_CALIB_NS of the process and takes a (TSC, ns) pair at each
 * end; their ratio then scales the TSC. A pair counts only when the two
 * system reads around its rdtsc were at most CLOCK_PAIR_NS apart (a
 * preempted read would skew the scale): until then, clock_gettime. After
 * CLOCK_REFINE_NS the scale is taken again over the longer span, from the
 * value the clock has then (no step), which leaves it within a part per
 * million or so of CLOCK_MONOTONIC's rate. Elsewhere (kvm-clock, hpet,
 * another architecture) dm_clock_ns stays clock_gettime.
 *
 * Readers see a scale through one pointer, never one being written: the
 * first scale and the refined one are separate records. A TSC found
 * behind the anchor (reset by a suspend, which servers do not do) turns
 * the scale off for good.
 *
 * Stamps that other processes compare (devices/xdp, devices/dpdk shared
 * tables) use dm_clock_ns_sys. DEMI_CLOCK=sys keeps clock_gettime (to
 * compare): it applies from the first instance made with it.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "dm/time.h"

#define CLOCK_CALIB_NS  (50 * DM_NS_PER_MS)
#define CLOCK_REFINE_NS (2 * DM_NS_PER_S)
#define CLOCK_PAIR_NS   1000
#define CLOCK_RETRY_NS  DM_NS_PER_MS /* between tries at a clean pair */

const struct dm_tsc_scale *dm_tsc;

enum { CAL_UNKNOWN, CAL_FIRST, CAL_RUNNING, CAL_SCALED, CAL_DONE, CAL_OFF };
static int cal_phase; /* CAL_*, changed under cal_busy */
static int cal_busy;  /* one thread calibrates; the others read the system clock */
static uint64_t cal_tsc; /* the first good pair */
static int64_t cal_ns;
static int64_t cal_tried_ns; /* the last try at a pair */
static struct dm_tsc_scale scales[2]; /* the first scale, the refined one */

/* Raw syscalls: the preload interposes read and close. */
static bool clocksource_is_tsc(void)
{
    int fd = (int)syscall(SYS_openat, AT_FDCWD, "/sys/devices/system/clocksource/clocksource0/current_clocksource",
                          O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[32];
    long n = syscall(SYS_read, fd, buf, sizeof(buf) - 1);
    syscall(SYS_close, fd);
    return n == 4 && memcmp(buf, "tsc\n", 4) == 0;
}

#if defined(__x86_64__)
/* A (TSC, ns) pair: of three tries, the one whose system reads were
 * nearest each other. False when even that one was too far apart. */
static bool read_pair(uint64_t *tsc, int64_t *ns)
{
    int64_t best = INT64_MAX;
    for (int i = 0; i < 3; i++) {
        int64_t a = dm_clock_ns_sys();
        uint64_t t = __builtin_ia32_rdtsc();
        int64_t b = dm_clock_ns_sys();
        if (b - a < best) {
            best = b - a;
            *tsc = t;
            *ns = a + (b - a) / 2;
        }
    }
    return best <= CLOCK_PAIR_NS;
}

/* ns per tick << 32, from the first pair to (t, ns); 0 if it makes no sense */
static uint64_t scale_to(uint64_t t, int64_t ns)
{
    int64_t dt = (int64_t)(t - cal_tsc), dn = ns - cal_ns;
    if (dt <= 0 || dn <= 0)
        return 0;
    return (uint64_t)(((unsigned __int128)dn << 32) / (uint64_t)dt);
}

/* One step of the calibration; under cal_busy. Returns the next phase. */
static int calibrate(int phase, int64_t now)
{
    uint64_t t;
    int64_t ns;
    if (phase == CAL_UNKNOWN)
        return clocksource_is_tsc() ? CAL_FIRST : CAL_OFF;
    /* a busy machine (or valgrind) spoils pairs: a try a millisecond
     * (the refinement's own bound moves on instead, below) */
    if (phase != CAL_SCALED && now - cal_tried_ns < CLOCK_RETRY_NS)
        return phase;
    switch (phase) {
    case CAL_FIRST:
        cal_tried_ns = now;
        return read_pair(&cal_tsc, &cal_ns) ? CAL_RUNNING : CAL_FIRST;
    case CAL_RUNNING:
        if (now - cal_ns < CLOCK_CALIB_NS)
            return phase;
        cal_tried_ns = now;
        if (!read_pair(&t, &ns))
            return phase;
        scales[0] = (struct dm_tsc_scale){.t0 = t, .ns0 = ns, .mult = scale_to(t, ns)};
        if (!scales[0].mult)
            return CAL_OFF;
        scales[0].refine_ticks = (int64_t)(((unsigned __int128)CLOCK_REFINE_NS << 32) / scales[0].mult);
        __atomic_store_n(&dm_tsc, &scales[0], __ATOMIC_RELEASE);
        return CAL_SCALED;
    case CAL_SCALED:
        if (!read_pair(&t, &ns)) {
            /* a busy moment: again a little later (readers see the
             * bound move: an atomic store) */
            int64_t r = __atomic_load_n(&scales[0].refine_ticks, __ATOMIC_RELAXED);
            __atomic_store_n(&scales[0].refine_ticks, r + r / 16, __ATOMIC_RELAXED);
            return phase;
        }
        scales[1] = (struct dm_tsc_scale){.t0 = t, .ns0 = dm_tsc_scale_at(&scales[0], t), .mult = scale_to(t, ns),
                                          .refine_ticks = INT64_MAX};
        if (scales[1].mult)
            __atomic_store_n(&dm_tsc, &scales[1], __ATOMIC_RELEASE);
        else /* keep the first scale, and no more tries */
            __atomic_store_n(&scales[0].refine_ticks, INT64_MAX, __ATOMIC_RELAXED);
        return CAL_DONE;
    default:
        return phase;
    }
}
#endif

int64_t dm_clock_ns_slow(void)
{
    int64_t now = dm_clock_ns_sys();
#if defined(__x86_64__)
    int phase = __atomic_load_n(&cal_phase, __ATOMIC_RELAXED);
    if (phase >= CAL_DONE || __atomic_exchange_n(&cal_busy, 1, __ATOMIC_ACQUIRE))
        return now;
    phase = __atomic_load_n(&cal_phase, __ATOMIC_RELAXED);
    __atomic_store_n(&cal_phase, calibrate(phase, now), __ATOMIC_RELAXED);
    __atomic_store_n(&cal_busy, 0, __ATOMIC_RELEASE);
#endif
    return now;
}

int64_t dm_clock_ns_refine(const struct dm_tsc_scale *s, uint64_t t)
{
    int64_t behind = (int64_t)(s->t0 - t);
    if (behind > 0) {
        /* A read a few ticks before the anchor (another CPU's TSC, an
         * rdtsc run early) is the anchor's time, near enough; a TSC that
         * went back a millisecond or more (a suspend and resume can
         * reset it) leaves the scale meaning nothing. */
        if (behind < (int64_t)(((unsigned __int128)DM_NS_PER_MS << 32) / s->mult))
            return s->ns0;
        dm_clock_use_sys();
        return dm_clock_ns_sys();
    }
    int64_t v = dm_tsc_scale_at(s, t);
#if defined(__x86_64__)
    if (__atomic_exchange_n(&cal_busy, 1, __ATOMIC_ACQUIRE))
        return v;
    int phase = __atomic_load_n(&cal_phase, __ATOMIC_RELAXED);
    if (phase == CAL_SCALED && s == &scales[0])
        __atomic_store_n(&cal_phase, calibrate(phase, v), __ATOMIC_RELAXED);
    __atomic_store_n(&cal_busy, 0, __ATOMIC_RELEASE);
#endif
    return v;
}

void dm_clock_use_sys(void)
{
    while (__atomic_exchange_n(&cal_busy, 1, __ATOMIC_ACQUIRE))
        ;
    __atomic_store_n(&dm_tsc, NULL, __ATOMIC_RELEASE);
    __atomic_store_n(&cal_phase, CAL_OFF, __ATOMIC_RELAXED);
    __atomic_store_n(&cal_busy, 0, __ATOMIC_RELEASE);
}
