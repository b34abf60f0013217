/* SPDX-License-Identifier: MIT */
/*
 * Helpers of the thread-sharing differential programs (diff_thread_*.c):
 * a watchdog that turns a hang into a fast failure naming the phase, a
 * byte stream whose every byte is known from its position, and whole
 * reads/writes. Nothing here prints anything that differs between runs.
 */
#ifndef DIFF_THREAD_H
#define DIFF_THREAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include "diff.h"

/* ---- watchdog ---- */

/* What the program is doing, named by the watchdog when it fires. */
static const char *volatile dt_phase = "start";

static void dt_raw_write(const char *s)
{
    /* a raw syscall: the watchdog may fire while a thread holds stdio's or
     * the preload's lock, and write() is a hooked call */
    syscall(SYS_write, 1, s, strlen(s));
}

static void dt_watchdog_fire(int sig)
{
    (void)sig;
    dt_raw_write("WATCHDOG: still running after the time limit, in phase: ");
    dt_raw_write(dt_phase);
    dt_raw_write("\n");
    _exit(3);
}

/* A hang fails the program in `sec` seconds (doubled in a sanitizer
 * build: everything is slower there) instead of at meson's timeout. */
static inline void dt_watchdog(unsigned sec)
{
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
    sec *= 2;
#endif
    signal(SIGALRM, dt_watchdog_fire);
    alarm(sec);
}

static inline void dt_set_phase(const char *phase)
{
    dt_phase = phase;
}

/* ---- the known stream ---- */

/* Stream `id` is a sequence of 8-byte records: the record's sequence
 * number (32 bits, little endian) and a hash of it and the stream id. A
 * byte at any position is known, and a piece of the stream placed at the
 * wrong position fails to match (beyond a piece of a few bytes). */
static inline uint32_t dt_mix(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

static inline uint8_t dt_byte(uint32_t id, uint64_t pos)
{
    uint32_t seq = (uint32_t)(pos / 8);
    unsigned k = (unsigned)(pos % 8);
    uint32_t w = k < 4 ? seq : dt_mix(seq ^ (id * 0x9e3779b9U));
    return (uint8_t)(w >> (8 * (k % 4)));
}

static inline void dt_fill(uint32_t id, uint64_t pos, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = dt_byte(id, pos + i);
}

/* The first byte of p[0..n) that is not the stream at pos, or -1. */
static inline long dt_mismatch(uint32_t id, uint64_t pos, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != dt_byte(id, pos + i))
            return (long)i;
    return -1;
}

/* A small deterministic generator (sizes of writes and reads). */
static inline uint32_t dt_rand(uint32_t *state)
{
    *state = *state * 1664525U + 1013904223U;
    return dt_mix(*state);
}

/* ---- I/O ---- */

/* Writes all n bytes (blocking socket); 0, or -1 with errno. */
static inline int dt_write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t r = send(fd, c, n, MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Makes a listener the datapath's before anyone connects: a connection
 * that reached the kernel's listener before its hand-over would be served
 * by the kernel and not test the datapath at all. (A poll of a listener is
 * a data-path use; on the plain kernel it is a no-op.) */
static inline void dt_handover(int lfd)
{
    struct pollfd p = { .fd = lfd, .events = POLLIN };
    poll(&p, 1, 0);
}

/* A listener with room for many connections at once. */
static inline int dt_listener(struct sockaddr_in *out, int flags, int backlog)
{
    int fd = listener(out, flags);
    if (listen(fd, backlog) < 0)
        die("listen");
    dt_handover(fd);
    return fd;
}

/* The fd limit raised towards `want`, at most to the hard limit (many
 * connections in one process: both ends, and the preload's own fds).
 * Returns the limit now in force. */
/* Round trips of a client: how many came back whole, how many not (the
 * first failure described). */
struct dt_trips {
    long ok, bad;
    char first_bad[160];
};

/* One round trip of len bytes on connection sid at stream position pos,
 * of which read gave got bytes into back. */
static inline void dt_trip_check(struct dt_trips *t, uint32_t sid, int round, uint64_t pos, const uint8_t *back,
                                 size_t len, long got)
{
    long bad = got == (long)len ? dt_mismatch(sid, pos, back, len) : 0;
    if (got == (long)len && bad < 0) {
        t->ok++;
        return;
    }
    if (!t->bad++)
        snprintf(t->first_bad, sizeof(t->first_bad),
                 "connection %u round %d: %zu bytes sent, read gave %ld, first wrong byte %ld (%s)", sid, round, len,
                 got, bad, got < 0 ? ename(errno) : "-");
}

/* A connected pair through a listener (handed over first): *cli, *srv. */
static inline int dt_pair(int *cli, int *srv)
{
    struct sockaddr_in la;
    int lfd = dt_listener(&la, 0, 16);
    *cli = connect_to(&la, 0);
    *srv = accept(lfd, NULL, NULL);
    if (*srv < 0)
        die("accept");
    return lfd;
}

static inline rlim_t dt_raise_nofile(rlim_t want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur;
}

static inline long dt_ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static inline void dt_now(struct timespec *t)
{
    clock_gettime(CLOCK_MONOTONIC, t);
}

/* Joins t if it ends within ms; false if it is still running (then the
 * caller reports the hang and exits: the thread cannot be joined). */
static inline bool dt_join_within(pthread_t t, int ms, void **ret)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += ms / 1000;
    dl.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    return pthread_timedjoin_np(t, ret, &dl) == 0;
}

#endif
