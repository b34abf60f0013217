/* SPDX-License-Identifier: MIT */
/*
 * The signal mask of the threads the library starts.
 *
 * A new thread inherits the mask of the thread that creates it, and the
 * kernel hands a process-directed signal (SIGCHLD, SIGUSR1, SIGTERM, a
 * kill() of the pid) to any thread that does not block it. A thread of
 * ours (the progress helper, and the EAL's interrupt and multi-process
 * threads, which DPDK starts inside our calls) would then run
 * the application's handler, concurrently with the application's own
 * threads, and a blocking call of the application would not be
 * interrupted (EINTR) by a signal it waits for. PostgreSQL 15's postmaster
 * does all its work in its handlers, with signals blocked outside its
 * sleep: two of them ran at once in DPDK's threads, its bookkeeping of
 * parallel workers went wrong (a count(*) short by 24,522 rows, 1 run in
 * 60) and it once spun in all four threads. So every thread we start
 * begins with every signal blocked but the synchronous ones (a fault in
 * our thread is still reported as it would be in the application's).
 * Meanwhile the calling thread's own signals wait, pending, and arrive at
 * the restore: keep the span to the calls that start threads.
 *
 *   sigset_t old;
 *   dm_sig_block_async(&old);   ... pthread_create / rte_eal_init ...
 *   dm_sig_restore(&old);
 */
#ifndef DM_SIGMASK_H
#define DM_SIGMASK_H

#include <pthread.h>
#include <signal.h>

static inline void dm_sig_block_async(sigset_t *old)
{
    static const int sync_sigs[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT };
    sigset_t all;
    sigfillset(&all);
    for (unsigned i = 0; i < sizeof(sync_sigs) / sizeof(sync_sigs[0]); i++)
        sigdelset(&all, sync_sigs[i]);
    pthread_sigmask(SIG_BLOCK, &all, old);
}

static inline void dm_sig_restore(const sigset_t *old)
{
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

#endif /* DM_SIGMASK_H */
