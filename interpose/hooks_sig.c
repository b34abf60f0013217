/* SPDX-License-Identifier: MIT */
/*
 * Hooks of the calls that install signal handlers. Each handler is
 * installed wrapped (shim/signals.c), so that a blocking call knows which
 * signal interrupted it and restarts or fails with EINTR as Linux does for
 * that signal. glibc's signal variants and siginterrupt call its internal
 * sigaction, which no hook sees: each is hooked and re-done over ours.
 */
#include "interpose/hooks.h"

DM_HOOK int sigaction(int sig, const struct sigaction *act, struct sigaction *oact)
{
    int saved = errno;
    return (int)dm_ret(shim_sigaction(sig, act, oact), saved);
}

static sighandler_t signal_as(int sig, sighandler_t h, bool sysv)
{
    int err = 0;
    sighandler_t r = shim_signal(sig, h, sysv, &err);
    if (r == SIG_ERR)
        errno = err;
    return r;
}

/* BSD semantics: the handler stays, SA_RESTART unless siginterrupt. */
DM_HOOK sighandler_t signal(int sig, sighandler_t h)
{
    return signal_as(sig, h, false);
}

DM_HOOK sighandler_t bsd_signal(int sig, sighandler_t h)
{
    return signal_as(sig, h, false);
}

/* System V semantics: reset on delivery, not blocked, no restart. What
 * signal() is for programs built without _DEFAULT_SOURCE. */
DM_HOOK sighandler_t sysv_signal(int sig, sighandler_t h)
{
    return signal_as(sig, h, true);
}

DM_HOOK sighandler_t __sysv_signal(int sig, sighandler_t h)
{
    return signal_as(sig, h, true);
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
DM_HOOK int siginterrupt(int sig, int interrupt)
{
    int saved = errno;
    return (int)dm_ret(shim_siginterrupt(sig, interrupt), saved);
}
#pragma GCC diagnostic pop
