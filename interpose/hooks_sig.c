/* SPDX-License-Identifier: MIT */
/*
 * Hooks of the calls that install signal handlers. Each handler is
 * installed wrapped (shim/signals.c), so that a blocking call knows which
 * signal interrupted it and restarts or fails with EINTR as Linux does for
 * that signal. glibc's signal variants and siginterrupt call its internal
 * sigaction, which no hook sees: each is hooked and re-done over ours.
 */
#include <dlfcn.h>
#include "interpose/hooks.h"

/* Before our constructors ran, these go straight to the next definition.
 * A ThreadSanitizer build: TSan's runtime, a dependency of ours, calls
 * sigaction from its own initialiser, which runs first and finds this
 * hook; nothing instrumented may run then (this file is built without
 * TSan, interpose/meson.build), so neither the shim nor DM_REAL. */
extern int dm_preload_ready;
static inline bool sig_early(void) { return !__atomic_load_n(&dm_preload_ready, __ATOMIC_ACQUIRE); }

static int early_sigaction(int sig, const struct sigaction *act, struct sigaction *oact)
{
    static int (*next)(int, const struct sigaction *, struct sigaction *);
    if (!next)
        next = (int (*)(int, const struct sigaction *, struct sigaction *))dlsym(RTLD_NEXT, "sigaction");
    if (!next) {
        errno = ENOSYS;
        return -1;
    }
    return next(sig, act, oact);
}

DM_HOOK int sigaction(int sig, const struct sigaction *act, struct sigaction *oact)
{
    if (dm_unlikely(sig_early()))
        return early_sigaction(sig, act, oact);
    int saved = errno;
    return (int)dm_ret(shim_sigaction(sig, act, oact), saved);
}

static sighandler_t signal_as(int sig, sighandler_t h, bool sysv)
{
    if (dm_unlikely(sig_early())) {
        struct sigaction sa = { .sa_handler = h, .sa_flags = sysv ? SA_RESETHAND | SA_NODEFER : SA_RESTART }, old;
        sigemptyset(&sa.sa_mask);
        return early_sigaction(sig, &sa, &old) < 0 ? SIG_ERR : old.sa_handler;
    }
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
    if (dm_unlikely(sig_early())) {
        struct sigaction sa;
        if (early_sigaction(sig, NULL, &sa) < 0)
            return -1;
        sa.sa_flags = interrupt ? sa.sa_flags & ~SA_RESTART : sa.sa_flags | SA_RESTART;
        return early_sigaction(sig, &sa, NULL);
    }
    int saved = errno;
    return (int)dm_ret(shim_siginterrupt(sig, interrupt), saved);
}
#pragma GCC diagnostic pop
