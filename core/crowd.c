/* SPDX-License-Identifier: MIT */
/*
 * core: whether tasks are waiting for a CPU now (dm_cpu_crowded).
 *
 * Why: a wait spins DEMI_SPIN_US before it sleeps, so that a reply that
 * comes soon costs no wake-up. That CPU time is free only while no other
 * task wants it. Where the runnable tasks outnumber the CPUs (Apache's
 * prefork children, PostgreSQL's backends, eight processes on two CPUs),
 * every spin delays the very process that would answer. Apache prefork, 8
 * children on 2 CPUs under the uring preload: 35,656 req/s spinning,
 * 52,862 not (the kernel: 60,999).
 *
 * How: the fourth field of /proc/loadavg counts the tasks runnable now
 * (the caller included), system-wide; more than the online CPUs means one
 * waits. Read at most once a millisecond per thread (three syscalls),
 * with raw syscalls: the preload interposes read and close.
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "dm/time.h"

#define CROWD_CHECK_NS DM_NS_PER_MS

static long crowd_ncpu(void)
{
    static _Atomic long ncpu;
    long n = atomic_load_explicit(&ncpu, memory_order_relaxed);
    if (n == 0) {
        n = sysconf(_SC_NPROCESSORS_ONLN);
        if (n < 1)
            n = 1;
        atomic_store_explicit(&ncpu, n, memory_order_relaxed);
    }
    return n;
}

/* Runnable tasks now, from /proc/loadavg ("0.52 0.58 0.59 3/215 12345");
 * -1 when it cannot be read. */
static long crowd_running(void)
{
    char buf[128];
    int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/loadavg", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    long n = syscall(SYS_read, fd, buf, sizeof(buf) - 1);
    (void)syscall(SYS_close, fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    const char *p = buf;
    for (int i = 0; i < 3 && p; i++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    return p ? strtol(p, NULL, 10) : -1;
}

bool dm_cpu_crowded(int64_t now)
{
    static __thread int64_t next __attribute__((tls_model("initial-exec"))); /* no __tls_get_addr per wait */
    static __thread bool crowded __attribute__((tls_model("initial-exec")));
    if (now < next)
        return crowded;
    next = now + CROWD_CHECK_NS;
    crowded = crowd_running() > crowd_ncpu();
    return crowded;
}
