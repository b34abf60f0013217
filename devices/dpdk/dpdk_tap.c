/* SPDX-License-Identifier: MIT */
/*
 * The tap PMD's signal per received frame, turned off.
 *
 * DPDK 22.11's net_tap, in the process that creates a queue's fd, installs
 * a handler on a free real-time signal and asks the kernel for that signal
 * on every frame queued to the fd (O_ASYNC, F_SETSIG, F_SETOWN). The
 * handler bumps a counter; a burst that sees it unchanged returns 0 without
 * a readv. So every received frame costs a signal: its delivery interrupts
 * whatever the process is running, and it ends in an rt_sigreturn. Worse,
 * demi-dpdk-primary makes the fds of every queue and never receives, so it
 * took a signal for every frame of every secondary (nginx over a shared tap
 * port: the primary's threads 44% of the workers' CPU). And when the
 * signal queue is full the kernel sends SIGIO instead, whose default
 * action ends the process.
 *
 * We clear O_ASYNC on those fds once the port has started. A process that
 * receives calls the handler itself before each burst (dpdk_tap_kick), so
 * each burst reads until EAGAIN, as a secondary's always has (the handler
 * is not installed there: its counter stays 0, which the PMD reads as "no
 * trigger"). One readv that finds nothing costs less than a signal per
 * frame, and a busy queue rarely finds nothing.
 *
 * The handler is found by where it lives (librte_net_tap), the fds by their
 * owner and signal; anything else is left as the PMD set it.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dm/log.h"
#include "dpdk_priv.h"

/* The real-time signal whose handler is the tap PMD's, or -1. */
static int tap_signal(void (**handler)(int))
{
    for (int s = SIGRTMIN; s <= SIGRTMAX; s++) {
        struct sigaction sa;
        Dl_info dl;
        if (sigaction(s, NULL, &sa) < 0 || (sa.sa_flags & SA_SIGINFO) || sa.sa_handler == SIG_DFL ||
            sa.sa_handler == SIG_IGN)
            continue;
        if (dladdr((void *)sa.sa_handler, &dl) && dl.dli_fname && strstr(dl.dli_fname, "rte_net_tap")) {
            *handler = sa.sa_handler;
            return s;
        }
    }
    return -1;
}

int dpdk_tap_signals_off(struct dpdk_tap_kick *k)
{
    void (*handler)(int) = NULL;
    int signo = tap_signal(&handler);
    k->fn = NULL;
    if (signo < 0) {
        /* another DPDK's tap, or a static one: left as the PMD set it */
        DM_WARN("dpdk", "tap: the PMD's receive signal not found: each received frame still signals its fd's owner");
        return 0;
    }
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    int n = 0, ours = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[64], link[64];
        int fd = atoi(e->d_name);
        if (e->d_name[0] == '.' || fd == dirfd(d))
            continue;
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        ssize_t len = readlink(path, link, sizeof(link) - 1);
        if (len <= 0)
            continue;
        link[len] = '\0';
        if (strcmp(link, "/dev/net/tun") != 0 || fcntl(fd, F_GETSIG) != signo || fcntl(fd, F_GETOWN) != getpid())
            continue;
        ours++;
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0 && (fl & O_ASYNC) && fcntl(fd, F_SETFL, fl & ~O_ASYNC) == 0)
            n++;
    }
    closedir(d);
    /* the trigger is one per process: every tap port here kicks it, a
     * second port's fds having been changed with the first's */
    if (ours > 0) {
        k->fn = handler;
        k->signo = signo;
    }
    DM_INFO("dpdk", "tap: %d queue fds no longer signal us per frame (signal %d)", n, signo);
    return n;
}
