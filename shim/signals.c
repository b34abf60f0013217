/* SPDX-License-Identifier: MIT */
/*
 * Which signal interrupted a blocking call, so that it restarts or fails
 * with EINTR exactly as Linux would. Linux decides per signal: a socket
 * call (recv, send, accept, connect) is restarted when the handler that
 * ran has SA_RESTART and the call has no timeout (SO_RCVTIMEO/SO_SNDTIMEO
 * give EINTR); epoll_wait, poll and select never restart. Our waits are
 * partly spent in user space (spinning, and always with DPDK), and a sleep
 * inside io_uring is also interrupted by task work that is no signal, so
 * the EINTR of our own sleep says neither whether a signal ran nor which.
 *
 * So every handler the application installs (sigaction, signal & co.,
 * hooked) is installed wrapped: the kernel runs sig_wrap, which counts the
 * delivery in this thread (and whether that signal had SA_RESTART), then
 * calls the application's handler. A wait takes a mark of those counts at
 * its start and compares it while it waits. Asking sigaction() for the
 * action answers the application's handler and flags, never the wrapper.
 *
 * Handlers installed without us (before the library loaded, by a raw
 * syscall, by glibc internals) are not counted: an EINTR of our sleep with
 * such a handler caught falls back to the old rule (EINTR unless every
 * caught handler has SA_RESTART).
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include "interpose/real.h"
#include "shim/shim.h"

/* The application's action of each signal whose handler we wrap. */
static struct {
    void *fn;  /* sa_handler or sa_sigaction, as flags say */
    int flags; /* the application's sa_flags */
} sig_user[NSIG];

/* Signals that siginterrupt(sig, 1) made interrupting: signal() installs
 * them without SA_RESTART (glibc keeps the same set). */
static sigset_t sig_intr_set;

/* Deliveries of wrapped handlers in this thread: all, and those without
 * SA_RESTART. Written by the handler of the same thread only. */
static __thread uint64_t tls_sig_ran __attribute__((tls_model("initial-exec")));
static __thread uint64_t tls_sig_intr __attribute__((tls_model("initial-exec")));

static void sig_wrap(int sig, siginfo_t *si, void *uc)
{
    void *fn = __atomic_load_n(&sig_user[sig].fn, __ATOMIC_ACQUIRE);
    int flags = __atomic_load_n(&sig_user[sig].flags, __ATOMIC_RELAXED);
    tls_sig_ran++;
    if (!(flags & SA_RESTART))
        tls_sig_intr++;
    struct shim_dp *held = shim_held_dp; /* the interrupted call's (shim.h) */
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (flags & SA_SIGINFO)
        ((void (*)(int, siginfo_t *, void *))fn)(sig, si, uc);
    else if (fn != (void *)SIG_DFL && fn != (void *)SIG_IGN)
        ((void (*)(int))fn)(sig);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    shim_held_dp = held;
}

static bool catches(const struct sigaction *a)
{
    return (a->sa_flags & SA_SIGINFO) ||
           (a->sa_handler != SIG_DFL && a->sa_handler != SIG_IGN);
}

int shim_sigaction(int sig, const struct sigaction *act, struct sigaction *oact)
{
    struct sigaction k, ko;
    bool wrap = act && sig > 0 && sig < NSIG && sig != SIGKILL && sig != SIGSTOP && catches(act);
    void *old_fn = NULL;
    int old_flags = 0;
    if (sig > 0 && sig < NSIG) {
        old_fn = __atomic_load_n(&sig_user[sig].fn, __ATOMIC_ACQUIRE);
        old_flags = __atomic_load_n(&sig_user[sig].flags, __ATOMIC_RELAXED);
    }
    if (wrap) {
        /* the application's handler first: a delivery between this and
         * the kernel's update runs the new handler, as it soon would */
        __atomic_store_n(&sig_user[sig].flags, act->sa_flags, __ATOMIC_RELAXED);
        __atomic_store_n(&sig_user[sig].fn,
                         (act->sa_flags & SA_SIGINFO) ? (void *)act->sa_sigaction : (void *)act->sa_handler,
                         __ATOMIC_RELEASE);
        k = *act;
        k.sa_sigaction = sig_wrap;
        k.sa_flags |= SA_SIGINFO;
    }
    if (DM_REAL(sigaction)(sig, wrap ? &k : act, oact ? &ko : NULL) < 0)
        return -errno;
    if (oact) {
        *oact = ko;
        if ((ko.sa_flags & SA_SIGINFO) && ko.sa_sigaction == sig_wrap) {
            /* the kernel has our wrapper: answer what the application set */
            oact->sa_flags = (ko.sa_flags & ~SA_SIGINFO) | (old_flags & SA_SIGINFO);
            if (old_flags & SA_SIGINFO)
                oact->sa_sigaction = (void (*)(int, siginfo_t *, void *))old_fn;
            else
                oact->sa_handler = (void (*)(int))old_fn;
        }
    }
    return 0;
}

/* signal(), bsd_signal(), sysv_signal(): glibc's, over our sigaction
 * (glibc's own call its internal sigaction, which no hook sees). */
sighandler_t shim_signal(int sig, sighandler_t h, bool sysv, int *err)
{
    if (h == SIG_ERR || sig <= 0 || sig >= NSIG) {
        *err = EINVAL;
        return SIG_ERR;
    }
    struct sigaction a, o;
    memset(&a, 0, sizeof(a));
    a.sa_handler = h;
    sigemptyset(&a.sa_mask);
    if (sysv) {
        a.sa_flags = SA_RESETHAND | SA_NODEFER;
    } else {
        sigaddset(&a.sa_mask, sig);
        a.sa_flags = sigismember(&sig_intr_set, sig) ? 0 : SA_RESTART;
    }
    int r = shim_sigaction(sig, &a, &o);
    if (r < 0) {
        *err = -r;
        return SIG_ERR;
    }
    return o.sa_handler;
}

int shim_siginterrupt(int sig, int interrupt)
{
    struct sigaction a;
    int r = shim_sigaction(sig, NULL, &a);
    if (r < 0)
        return r;
    if (interrupt) {
        sigaddset(&sig_intr_set, sig);
        a.sa_flags &= ~SA_RESTART;
    } else {
        sigdelset(&sig_intr_set, sig);
        a.sa_flags |= SA_RESTART;
    }
    return shim_sigaction(sig, &a, NULL);
}

void shim_sig_mark(struct shim_sigmark *m)
{
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    m->ran = tls_sig_ran;
    m->intr = tls_sig_intr;
}

bool shim_sig_ran(const struct shim_sigmark *m)
{
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    return tls_sig_ran != m->ran;
}

int shim_sig_check(const struct shim_sigmark *m, bool restartable)
{
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (tls_sig_intr != m->intr)
        return -EINTR;
    if (tls_sig_ran != m->ran && !restartable)
        return -EINTR;
    return 0;
}

/* Caught asynchronous signals whose handler is not our wrapper: any
 * (return value), and whether all of those have SA_RESTART. The
 * synchronous ones are left out (a fault of this thread cannot arrive
 * while it sleeps in the kernel; crash handlers rarely set SA_RESTART). */
static bool foreign_caught(bool *all_restart)
{
    bool any = false;
    *all_restart = true;
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction sa;
        if (sig == SIGKILL || sig == SIGSTOP || sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE ||
            sig == SIGILL || sig == SIGTRAP || sig == SIGSYS || DM_REAL(sigaction)(sig, NULL, &sa) < 0)
            continue;
        if (!catches(&sa) || ((sa.sa_flags & SA_SIGINFO) && sa.sa_sigaction == sig_wrap))
            continue;
        any = true;
        if (!(sa.sa_flags & SA_RESTART))
            *all_restart = false;
    }
    return any;
}

int shim_sig_after_eintr(const struct shim_sigmark *m, bool restartable)
{
    if (shim_sig_ran(m))
        return shim_sig_check(m, restartable);
    bool all;
    if (!foreign_caught(&all))
        return 0; /* no signal of ours ran and no other is caught: io_uring task work */
    return restartable && all ? 0 : -EINTR;
}
