/* SPDX-License-Identifier: MIT */
/*
 * The progress helper: a thread that polls the datapath while no thread of
 * the application does.
 *
 * With our own TCP/IP (DPDK, XDP: dm_instance_needs_polling) nothing but a
 * poll sends ACKs, answers ARP, fires retransmission timers or takes in
 * what the peer sends. An application that sleeps, computes or blocks in a
 * kernel call (a read of a pipe, a condition variable) would leave its
 * peers waiting: a client that sends a request and then sleeps is never
 * sent the answer past the first window, and a server that computes has
 * its connections time out. OpenOnload answers the same need with
 * interrupts and a kernel helper; we have no interrupts on DPDK, so the
 * helper wakes every DEMI_HELPER_US (default 1000) and, when no thread
 * polled since its last look and the lock is free, polls once. While the
 * application keeps polling, it looks half as often each time, down to
 * once every 64 periods: a program that leaves is noticed within 64 ms,
 * then polled every millisecond.
 *
 * It never competes with the application: an application thread inside our
 * calls polls (progress_gen moves) and the helper only looks; a held lock
 * is skipped (shim_trylock_all). It blocks every signal (they are the
 * application's), and its own calls go to the kernel (shim_internal).
 * A forked child has no helper (threads do not survive fork); DEMI_HELPER_US=0
 * turns it off. While relays to forked children are alive it looks every
 * SHIM_RELAY_HELPER_NS instead, as long as the application is away: a
 * fork-per-connection parent waits in waitpid while its children's bytes
 * go through its datapath (one asleep in our own waits is woken by them:
 * relay.c).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include "dm/instance.h"
#include "dm/log.h"
#include "dm/sigmask.h"
#include "dm/time.h"
#include "shim/shim.h"

static bool helper_started;
bool shim_helper_on;

static void *helper_main(void *arg)
{
    (void)arg; /* (started with the application's signals blocked: shim_helper_start) */
    shim_internal = 2; /* this thread's libc calls are the kernel's */
    const int64_t period = shim_rt.cfg.helper_ns;
    int64_t cur = period;
    unsigned seen = __atomic_load_n(&shim_rt.progress_gen, __ATOMIC_RELAXED);
    for (;;) {
        /* relays to forked children (relay.c) move only when the
         * datapath is polled: while the application leaves it (a
         * fork-per-connection parent in waitpid), they are polled at
         * their own pace, not once a period. A thread asleep in our waits
         * watches them itself (relay.c: a child's bytes wake it): no
         * need, and looking every 20 us then cost PostgreSQL's postmaster
         * over a tap port a fifth of its transactions. */
        int64_t nap = cur;
        if (cur == period && __atomic_load_n(&shim_relay_live, __ATOMIC_RELAXED) &&
            !__atomic_load_n(&shim_rt.nasleep, __ATOMIC_RELAXED))
            nap = DM_MIN(cur, SHIM_RELAY_HELPER_NS);
        struct timespec ts = { .tv_sec = nap / DM_NS_PER_S, .tv_nsec = nap % DM_NS_PER_S };
        clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
        if (__atomic_load_n(&shim_rt.progress_gen, __ATOMIC_RELAXED) != seen) {
            /* the application drives it: look less often (its wake-ups
             * would otherwise land in a busy-polling program's tail) */
            cur = DM_MIN(cur * 2, period * 64);
        } else if (shim_trylock_all()) {
            shim_progress();
            shim_unlock();
            cur = period;
        }
        seen = __atomic_load_n(&shim_rt.progress_gen, __ATOMIC_RELAXED);
    }
    return NULL;
}

void shim_helper_start(void)
{
    if (helper_started || shim_rt.cfg.helper_ns == 0 || !shim_rt.inst || !dm_instance_needs_polling(shim_rt.inst))
        return;
    helper_started = true;
    __atomic_store_n(&shim_helper_on, true, __ATOMIC_RELAXED);
    pthread_attr_t a;
    pthread_t t;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    sigset_t old;
    dm_sig_block_async(&old); /* the application's signals are not ours to take (dm/sigmask.h) */
    int r = pthread_create(&t, &a, helper_main, NULL);
    dm_sig_restore(&old);
    pthread_attr_destroy(&a);
    if (r != 0) {
        DM_WARN("shim", "no progress helper thread (%s): the datapath moves only inside our calls", strerror(r));
        return;
    }
    pthread_setname_np(t, "demi-helper");
    DM_INFO("shim", "progress helper: polls every %lld us while the application is away",
            (long long)(shim_rt.cfg.helper_ns / DM_NS_PER_US));
}
