/* SPDX-License-Identifier: MIT */
/*
 * poll() and select() over sets that mix our sockets with kernel fds.
 * Our entries are answered from socket state; the kernel ones by a copy of
 * the array in which our entries are disabled (fd -1), to which the
 * datapath's wait fd is appended for sleeping. select() is poll() with the
 * Linux POLLIN_SET / POLLOUT_SET / POLLEX_SET mapping.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include "dm/instance.h"
#include "dm/log.h"
#include "dm/time.h"
#include "interpose/real.h"
#include "shim/shim.h"

bool shim_poll_needed(const struct pollfd *fds, nfds_t n)
{
    if (shim_bypass())
        return false;
    /* Once this process has a datapath, every wait drives it: data the
     * application wrote, a FIN, a close, timers must progress even while
     * it waits on kernel fds only. */
    if (__atomic_load_n(&shim_rt.inst, __ATOMIC_RELAXED))
        return true;
    for (nfds_t i = 0; i < n; i++)
        if (shim_fd_maybe(fds[i].fd))
            return true;
    return false;
}

/* Our entries' revents; returns how many are ready. Their instances go
 * to dps (*ndps of them; more than SHIM_FOCUS_MAX: *ndps past it).
 * *posted: a receive was posted just now for an entry that had none (a
 * connection not used yet, a socket nobody read: what the peer sent, or
 * its FIN, is not known before the datapath has been polled once more). */
static int scan_ours(struct pollfd *fds, nfds_t n, struct pollfd *k, struct shim_dp **dps, unsigned *ndps,
                     bool *posted)
{
    int ready = 0;
    for (nfds_t i = 0; i < n; i++) {
        struct shim_obj *o = fds[i].fd >= 0 ? shim_fd_get(fds[i].fd) : NULL;
        if (o && o->kind == SHIM_KIND_EPOLL) {
            /* an epoll of ours: the kernel answers, from its set, where
             * an eventfd stands for our sockets */
            shim_epoll_nest((struct shim_epoll *)o);
            continue;
        }
        if (!o || o->kind != SHIM_KIND_SOCK)
            continue;
        struct shim_sock *s = (struct shim_sock *)o;
        if (shim_sock_claim(s, fds[i].fd) == 1)
            continue; /* now a kernel fd */
        if (s->state == SHIM_PENDING && (s->phase == SHIM_LISTENING || s->type == SOCK_DGRAM)) {
            int r = shim_activate(s, fds[i].fd, NULL);
            if (r == 1 || r == SHIM_ACT_SHARED)
                continue; /* now a kernel fd, or a listener the kernel serves */
        }
        if (s->state == SHIM_OFFLOADED) {
            *posted |= s->fresh; /* its first receive is posted now */
            shim_sock_use(s); /* a fresh connection moves to this thread's instance */
            if (fds[i].events & (POLLIN | POLLRDHUP)) {
                *posted |= s->rx_lazy;
                shim_sock_want_rx(s);
            }
            unsigned j = 0;
            while (j < *ndps && j < SHIM_FOCUS_MAX && dps[j] != s->dp)
                j++;
            if (j == *ndps) {
                if (j < SHIM_FOCUS_MAX)
                    dps[j] = s->dp;
                ++*ndps;
            }
        }
        k[i].fd = -1;
        fds[i].revents = (short)(shim_sock_events(s, fds[i].fd) & ((uint32_t)fds[i].events | POLLERR | POLLHUP));
        if (fds[i].revents)
            ready++;
    }
    return ready;
}

int shim_poll(struct pollfd *fds, nfds_t n, int64_t timeout_ns, const sigset_t *sigmask)
{
    struct pollfd kstack[34 + SHIM_MAX_DPS];
    struct pollfd *k = n + 2 + SHIM_MAX_DPS <= DM_ARRAY_SIZE(kstack) ? kstack
                                                                      : malloc((n + 2 + SHIM_MAX_DPS) * sizeof(*k));
    if (!k)
        return -ENOMEM;
    shim_lock();
    shim_turn_begin();
    shim_focus(NULL);
    int64_t start = dm_clock_ns();
    int64_t deadline = timeout_ns < 0 ? -1 : start + timeout_ns;
    struct shim_sigmark sm; /* Linux never restarts these after a handler */
    shim_sig_mark(&sm);
    int r;
    bool kernel_done = false, posted = false, looked_again = false;
    for (;;) {
        shim_progress_step();
        if (!kernel_done)
            for (nfds_t i = 0; i < n; i++)
                k[i] = (struct pollfd){ .fd = fds[i].fd, .events = fds[i].events };
        struct shim_dp *dps[SHIM_FOCUS_MAX];
        unsigned ndps = 0;
        int ready = scan_ours(fds, n, k, dps, &ndps, &posted);
        if (ndps > SHIM_FOCUS_MAX)
            shim_focus_all();
        else
            shim_focus_set(dps, ndps);
        if (!kernel_done) {
            /* a set of our sockets only asks the kernel nothing */
            bool kernel = false;
            for (nfds_t i = 0; i < n && !kernel; i++)
                kernel = k[i].fd >= 0;
            int kr = 0;
            if (kernel) {
                kr = DM_REAL(poll)(k, n, 0);
                __atomic_fetch_add(&shim_ctr.poll_kernel_asks, 1, __ATOMIC_RELAXED);
            }
            if (kr < 0) {
                r = -errno;
                break;
            }
        }
        kernel_done = false;
        for (nfds_t i = 0; i < n; i++)
            if (k[i].fd >= 0 || fds[i].fd < 0) {
                fds[i].revents = fds[i].fd < 0 ? 0 : k[i].revents;
                if (fds[i].revents)
                    ready++;
            }
        if (posted && !looked_again) {
            /* Linux answers from what arrived before the call: poll the
             * datapath once with the new receives posted, then look
             * again (a pool's poll(fd, POLLIN, 0) asking whether the
             * peer closed a connection it never read from) */
            looked_again = true;
            continue;
        }
        if (ready || timeout_ns == 0) {
            r = ready;
            break;
        }
        int64_t now = dm_clock_ns();
        if (deadline >= 0 && now >= deadline) {
            r = 0;
            break;
        }
        if (shim_sig_ran(&sm)) {
            r = -EINTR; /* a handler ran while we spun or looked */
            break;
        }
        if ((shim_spin_on(now - start, now) || shim_spin_only()) && !sigmask) {
            shim_spin_pause_at(now - start);
            continue;
        }
        if (!shim_may_sleep())
            continue; /* harvested something, or the backend has work */
        struct shim_sleeper sl;
        int kick = shim_thread_kick_fd();
        int64_t cap = shim_rt.cfg.wait_slice_ms * DM_NS_PER_MS; /* bounds a missed wake-up */
        int64_t slice = deadline < 0 ? cap : DM_MIN(deadline - now, cap);
        nfds_t kn = n;
        if (kick >= 0)
            k[kn++] = (struct pollfd){ .fd = kick, .events = POLLIN };
        bool ours_only = true; /* no kernel fd: the kick is all there is to watch */
        for (nfds_t i = 0; i < n && ours_only; i++)
            ours_only = k[i].fd < 0;
        if (!sigmask && ours_only) {
            /* inside the datapath, the kick watched there (kernel fds
             * have no id that outlives them: the wait fd then) */
            uint64_t kick_id = shim_thread_kick_id();
            shim_sleep_begin(&sl, &shim_rt.sleepers, &shim_rt.sleep_lock, kick);
            int sr = shim_sleep_inside(&k[n], &kick_id, kick >= 0, slice);
            shim_sleep_end(&sl);
            if (sr != -EAGAIN) {
                if (sr == -EINTR && shim_sig_after_eintr(&sm, false) < 0) {
                    r = -EINTR;
                    break;
                }
                continue; /* the kernel entries are looked at again */
            }
        }
        int nw = 0;
        if (!shim_wait_fds(&k[kn], SHIM_MAX_DPS, &nw))
            continue;
        kn += (nfds_t)nw;
        if (shim_spin_only())
            slice = 0;
        struct timespec ts = { .tv_sec = slice / DM_NS_PER_S, .tv_nsec = slice % DM_NS_PER_S };
        shim_sleep_begin(&sl, &shim_rt.sleepers, &shim_rt.sleep_lock, kick);
        shim_unlock();
        int kr = DM_REAL(ppoll)(k, kn, &ts, sigmask);
        int e = errno;
        shim_relock();
        shim_sleep_end(&sl);
        if (kr < 0 && e == EINTR && !sigmask && shim_sig_after_eintr(&sm, false) == 0)
            continue; /* io_uring task work, not a signal: the deadline stands */
        if (kr < 0) {
            r = -e;
            break;
        }
        /* the kernel entries' revents are fresh: keep them for this round */
        kernel_done = kr > 0;
    }
    shim_turn_end(r);
    shim_unlock();
    if (k != kstack)
        free(k);
    return r;
}

int shim_select(int nfds, fd_set *rs, fd_set *ws, fd_set *es, int64_t timeout_ns, const sigset_t *sigmask)
{
    struct pollfd stack[64];
    if (nfds < 0 || nfds > FD_SETSIZE)
        return -EINVAL;
    struct pollfd *p = (size_t)nfds <= DM_ARRAY_SIZE(stack) ? stack : malloc((size_t)nfds * sizeof(*p));
    if (!p)
        return -ENOMEM;
    nfds_t n = 0;
    for (int fd = 0; fd < nfds; fd++) {
        short ev = 0;
        if (rs && FD_ISSET(fd, rs))
            ev |= POLLIN;
        if (ws && FD_ISSET(fd, ws))
            ev |= POLLOUT;
        if (es && FD_ISSET(fd, es))
            ev |= POLLPRI;
        if (ev)
            p[n++] = (struct pollfd){ .fd = fd, .events = ev };
    }
    int r = shim_poll(p, n, timeout_ns, sigmask);
    if (r >= 0) {
        for (nfds_t i = 0; i < n; i++)
            if (p[i].revents & POLLNVAL) {
                r = -EBADF;
                break;
            }
    }
    if (r >= 0) {
        int count = 0;
        if (rs)
            FD_ZERO(rs);
        if (ws)
            FD_ZERO(ws);
        if (es)
            FD_ZERO(es);
        for (nfds_t i = 0; i < n; i++) {
            short re = p[i].revents, ev = p[i].events;
            if ((ev & POLLIN) && (re & (POLLIN | POLLRDNORM | POLLRDBAND | POLLHUP | POLLERR))) {
                FD_SET(p[i].fd, rs);
                count++;
            }
            if ((ev & POLLOUT) && (re & (POLLOUT | POLLWRNORM | POLLWRBAND | POLLERR))) {
                FD_SET(p[i].fd, ws);
                count++;
            }
            if ((ev & POLLPRI) && (re & POLLPRI)) {
                FD_SET(p[i].fd, es);
                count++;
            }
        }
        r = count;
    }
    if (p != stack)
        free(p);
    return r;
}
