/* SPDX-License-Identifier: MIT */
/*
 * Hooks of calls that block in the kernel with no fd of ours: waiting for
 * a child, sleeping, waiting for a signal. Within an event-loop turn the
 * sends leave their submission to the turn's end (DEMI_TX_BATCH,
 * shim/rt.c), which the next call of ours provides: a socket call, a
 * wait, a call on a kernel fd (shim_fd_maybe). These calls have no fd and
 * would otherwise be where the thread sleeps with an answer still in its
 * io_uring submission queue: a server that answers one client, then
 * waits for a child that needs that answer, waits forever (test:
 * diff_tx_block). Each submits what its turn left (dm_before_block), then
 * is libc's own. glibc's wait, sleep and usleep call their kernel
 * functions internally, unhooked, so each is hooked itself.
 */
#include "interpose/hooks.h"

DM_HOOK pid_t waitpid(pid_t pid, int *status, int options)
{
    dm_before_block();
    return DM_REAL(waitpid)(pid, status, options);
}

DM_HOOK pid_t wait(int *status)
{
    dm_before_block();
    return DM_REAL(wait)(status);
}

DM_HOOK pid_t wait3(int *status, int options, struct rusage *ru)
{
    dm_before_block();
    return DM_REAL(wait3)(status, options, ru);
}

DM_HOOK pid_t wait4(pid_t pid, int *status, int options, struct rusage *ru)
{
    dm_before_block();
    return DM_REAL(wait4)(pid, status, options, ru);
}

DM_HOOK int waitid(idtype_t type, id_t id, siginfo_t *info, int options)
{
    dm_before_block();
    return DM_REAL(waitid)(type, id, info, options);
}

DM_HOOK int nanosleep(const struct timespec *req, struct timespec *rem)
{
    dm_before_block();
    return DM_REAL(nanosleep)(req, rem);
}

DM_HOOK int clock_nanosleep(clockid_t clk, int flags, const struct timespec *req, struct timespec *rem)
{
    dm_before_block();
    return DM_REAL(clock_nanosleep)(clk, flags, req, rem);
}

DM_HOOK unsigned int sleep(unsigned int seconds)
{
    dm_before_block();
    return DM_REAL(sleep)(seconds);
}

DM_HOOK int usleep(useconds_t usec)
{
    dm_before_block();
    return DM_REAL(usleep)(usec);
}

DM_HOOK int pause(void)
{
    dm_before_block();
    return DM_REAL(pause)();
}

DM_HOOK int sigsuspend(const sigset_t *mask)
{
    dm_before_block();
    return DM_REAL(sigsuspend)(mask);
}

DM_HOOK int sigwait(const sigset_t *set, int *sig)
{
    dm_before_block();
    return DM_REAL(sigwait)(set, sig);
}

DM_HOOK int sigwaitinfo(const sigset_t *set, siginfo_t *info)
{
    dm_before_block();
    return DM_REAL(sigwaitinfo)(set, info);
}

DM_HOOK int sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *ts)
{
    dm_before_block();
    return DM_REAL(sigtimedwait)(set, info, ts);
}
