/* SPDX-License-Identifier: MIT */
/*
 * Hooks of the readiness calls: poll, ppoll, select, pselect and epoll.
 * A set with none of our fds goes straight to the kernel (no lock, no
 * copy); an epoll fd is ours when it was created through these hooks.
 */
#include <limits.h>
#include <sys/time.h>
#include "dm/time.h"
#include "interpose/hooks.h"

static bool fdset_has_ours(int nfds, const fd_set *r, const fd_set *w, const fd_set *e)
{
    if (shim_bypass() || nfds <= 0)
        return false;
    if (__atomic_load_n(&shim_rt.inst, __ATOMIC_RELAXED))
        return true; /* the datapath must keep moving while the app waits */
    for (int fd = 0; fd < nfds && fd < FD_SETSIZE; fd++)
        if (((r && FD_ISSET(fd, r)) || (w && FD_ISSET(fd, w)) || (e && FD_ISSET(fd, e))) && shim_fd_maybe(fd))
            return true;
    return false;
}

DM_HOOK int poll(struct pollfd *fds, nfds_t n, int timeout)
{
    DM_TRY(fds && shim_poll_needed(fds, n),
           shim_poll(fds, n, timeout < 0 ? -1 : (int64_t)timeout * DM_NS_PER_MS, NULL));
    return DM_REAL(poll)(fds, n, timeout);
}

DM_HOOK int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *ss)
{
    if (fds && shim_poll_needed(fds, n)) {
        if (ts && (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= DM_NS_PER_S)) {
            errno = EINVAL;
            return -1;
        }
        int64_t ns = ts ? (int64_t)ts->tv_sec * DM_NS_PER_S + ts->tv_nsec : -1;
        DM_TRY(true, shim_poll(fds, n, ns, ss));
    }
    return DM_REAL(ppoll)(fds, n, ts, ss);
}

DM_HOOK int select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv)
{
    if (fdset_has_ours(nfds, r, w, e)) {
        if (tv && (tv->tv_sec < 0 || tv->tv_usec < 0)) {
            errno = EINVAL;
            return -1;
        }
        int64_t ns = tv ? (int64_t)tv->tv_sec * DM_NS_PER_S + (int64_t)tv->tv_usec * 1000 : -1;
        int64_t t0 = dm_clock_ns();
        int saved = errno;
        long rr = shim_select(nfds, r, w, e, ns, NULL);
        if (tv) {
            /* Linux writes back the time not slept */
            int64_t left = rr == 0 ? 0 : DM_MAX(ns - (dm_clock_ns() - t0), (int64_t)0);
            tv->tv_sec = left / DM_NS_PER_S;
            tv->tv_usec = (left % DM_NS_PER_S) / 1000;
        }
        return dm_ret(rr, saved);
    }
    dm_before_block(); /* select(0, ...): a sleep */
    return DM_REAL(select)(nfds, r, w, e, tv);
}

DM_HOOK int pselect(int nfds, fd_set *r, fd_set *w, fd_set *e, const struct timespec *ts, const sigset_t *ss)
{
    if (fdset_has_ours(nfds, r, w, e)) {
        if (ts && (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= DM_NS_PER_S)) {
            errno = EINVAL;
            return -1;
        }
        int64_t ns = ts ? (int64_t)ts->tv_sec * DM_NS_PER_S + ts->tv_nsec : -1;
        DM_TRY(true, shim_select(nfds, r, w, e, ns, ss));
    }
    dm_before_block();
    return DM_REAL(pselect)(nfds, r, w, e, ts, ss);
}

DM_HOOK int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
    if (fdslen / sizeof(*fds) < n)
        __chk_fail();
    return poll(fds, n, timeout);
}

DM_HOOK int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *ss, size_t fdslen)
{
    if (fdslen / sizeof(*fds) < n)
        __chk_fail();
    return ppoll(fds, n, ts, ss);
}

DM_HOOK int epoll_create(int size)
{
    if (size <= 0) {
        errno = EINVAL;
        return -1;
    }
    DM_TRY(!shim_bypass(), shim_epoll_create(0));
    return DM_REAL(epoll_create)(size);
}

DM_HOOK int epoll_create1(int flags)
{
    DM_TRY(!shim_bypass(), shim_epoll_create(flags));
    return DM_REAL(epoll_create1)(flags);
}

DM_HOOK int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    DM_TRY(shim_fd_maybe(epfd), shim_epoll_ctl(epfd, op, fd, ev));
    return DM_REAL(epoll_ctl)(epfd, op, fd, ev);
}

DM_HOOK int epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
    DM_TRY(shim_fd_maybe(epfd), shim_epoll_wait(epfd, evs, max, timeout, NULL));
    if (dm_unlikely(shim_thread_internal())) /* DPDK's interrupt thread */
        return shim_internal_epoll_wait(epfd, evs, max, timeout, NULL);
    return DM_REAL(epoll_wait)(epfd, evs, max, timeout);
}

DM_HOOK int epoll_pwait(int epfd, struct epoll_event *evs, int max, int timeout, const sigset_t *ss)
{
    DM_TRY(shim_fd_maybe(epfd), shim_epoll_wait(epfd, evs, max, timeout, ss));
    if (dm_unlikely(shim_thread_internal()))
        return shim_internal_epoll_wait(epfd, evs, max, timeout, ss);
    return DM_REAL(epoll_pwait)(epfd, evs, max, timeout, ss);
}

/* epoll_wait with a timespec: the shim waits in whole milliseconds, so a
 * timeout is rounded up (a wait never ends early). */
DM_HOOK int epoll_pwait2(int epfd, struct epoll_event *evs, int max, const struct timespec *ts, const sigset_t *ss)
{
    if (shim_fd_maybe(epfd)) {
        if (ts && (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= DM_NS_PER_S)) {
            errno = EINVAL;
            return -1;
        }
        int ms = -1;
        if (ts) {
            int64_t t = ts->tv_sec > INT_MAX / 1000 ? (int64_t)INT_MAX * DM_NS_PER_MS
                                                     : (int64_t)ts->tv_sec * DM_NS_PER_S + ts->tv_nsec;
            ms = (int)DM_MIN((t + DM_NS_PER_MS - 1) / DM_NS_PER_MS, (int64_t)INT_MAX);
        }
        DM_TRY(true, shim_epoll_wait(epfd, evs, max, ms, ss));
    }
    return DM_REAL(epoll_pwait2)(epfd, evs, max, ts, ss);
}
