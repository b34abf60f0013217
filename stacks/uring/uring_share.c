/* SPDX-License-Identifier: MIT */
/*
 * stacks/uring: moving an instance's sockets from its thread-bound ring to
 * another ring (auto mode, DEMI_URING_SHARED=auto, the default).
 *
 * Why: a ring with IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN runs its
 * completions only when its owner asks for them, in batches, with no
 * interrupt per completion; a ring any thread may drive cannot have that.
 * Most programs drive their sockets from one thread, so they get the fast
 * ring. When another thread drives the instance (ur_poll or wait_fd from a
 * thread that is not the owner) we move instead of failing with EEXIST:
 * the first time to a ring bound to the new thread (wrk connects once from
 * its main thread, then serves from a worker), after that to a shared ring
 * (threads that take turns: memcached's acceptor and workers).
 *
 * How, from a thread that may not enter the old ring at all:
 *  1. Reap the CQEs already posted (no syscall needed). If the owner
 *     thread exited, the kernel canceled its requests: those CQEs are
 *     here too, and are re-issued, not reported as failures.
 *  2. Nothing else of the old ring's can have happened or can happen: on a
 *     DEFER_TASKRUN ring a request does its work (receives, accepts,
 *     sends) in task work only the owner runs, and the owner is not in
 *     the ring (callers serialise calls into an instance). Stream sends
 *     are never MSG_WAITALL (uring_tx.c), so no send has sent part of its
 *     bytes without a CQE. When the old ring is torn down its requests are
 *     canceled without running.
 *  3. Make the new ring; register on it what the old one had: the
 *     eventfd (so the wait fd the caller knows stays the same), each live
 *     socket's fixed-file slot, the provided buffer ring (same memory,
 *     republished from where the kernel had got to).
 *  4. SQEs queued but never submitted: closes of plain fds are done here
 *     (they must happen); closes of fixed slots are moot (the new table
 *     never had them); cancels are moot; requests are re-issued below (a
 *     connect the kernel never saw is issued as a connect again).
 *  5. Tear the old ring down and wait until the kernel has (see
 *     ur_wait_old_ring), then complete every request that was in
 *     flight on it with -ECANCELED through the normal handlers: they
 *     re-arm receives and accepts, resend pushes from where the last CQE
 *     left them, and free closed sockets. A connect in progress is waited
 *     for with POLLOUT + SO_ERROR (the kernel keeps connecting); a
 *     shutdown is issued again (idempotent).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "dm/log.h"
#include "uring.h"

static __thread int ur_tid __attribute__((tls_model("initial-exec"))); /* no __tls_get_addr per sleep */

static void ur_tid_reset(void) { ur_tid = 0; }

int ur_gettid(void)
{
    if (dm_unlikely(ur_tid == 0))
        ur_tid = (int)gettid();
    return ur_tid;
}

__attribute__((constructor)) static void ur_tid_atfork(void)
{
    /* A forked child's thread has the forking thread's cache: forget it. */
    (void)pthread_atfork(NULL, NULL, ur_tid_reset);
}

void ur_sentinel_plant(struct ur_stack *st)
{
    int p[2];
    int slot = (st->feat & UR_F_FIXED_FILES) ? ur_slot_get(st) : -1;
    if (slot < 0)
        return;
    if (pipe2(p, O_CLOEXEC) < 0) {
        ur_slot_put(st, slot);
        return;
    }
    if (io_uring_register_files_update(&st->ring, (unsigned)slot, &p[1], 1) != 1) {
        ur_slot_put(st, slot);
        close(p[0]);
        close(p[1]);
        return;
    }
    close(p[1]); /* the ring's table holds the only write end now */
    st->sentinel = p[0];
}

/* Waits until the old ring is gone. Why: io_uring waits on a listener
 * exclusively (EPOLLEXCLUSIVE), and the old ring's accept, queued first,
 * would take the wake-up of the next connection and drop it (its task work
 * never runs) until the kernel's teardown, asynchronous, removed it; a
 * connection that came in meanwhile would wait for the next one. The
 * teardown frees the ring's file table last, so the sentinel's EOF says
 * that no request of the old ring is left. */
static void ur_wait_old_ring(struct ur_stack *st, bool accepting)
{
    if (!accepting) {
        /* Nothing to wait for without an accept in flight: receives wake
         * every waiter, and the old ring's task work, run by the kernel's
         * teardown, cancels instead of receiving. A thread pool whose
         * workers take turns on connections (Apache's event MPM) moves
         * each worker's instance twice at its start, and the waits, with
         * every lock held, stalled the whole process for seconds. */
        if (st->sentinel >= 0)
            close(st->sentinel);
        st->sentinel = -1;
        return;
    }
    st->c.old_ring_waits++;
    if (st->sentinel < 0) {
        usleep(50 * 1000); /* no fixed files: the teardown takes microseconds */
        return;
    }
    struct pollfd p = { .fd = st->sentinel, .events = POLLIN };
    int r;
    do
        r = poll(&p, 1, 2000);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        DM_WARN(UR_MOD, "the old ring is still alive 2 s after the move to a new one (a forked child "
                "holds it?): new connections may wait for the next one until it is gone");
    close(st->sentinel);
    st->sentinel = -1;
}

/* SQEs handed out by liburing but not consumed by the kernel. */
static void ur_old_sqes(struct io_uring *old)
{
    struct io_uring_sq *sq = &old->sq;
    unsigned mask = sq->ring_mask;
    unsigned head = IO_URING_READ_ONCE(*sq->khead), ktail = IO_URING_READ_ONCE(*sq->ktail);
    for (unsigned i = head; i != sq->sqe_tail; i++) {
        /* [khead, ktail): flushed (through the index array); beyond: not yet */
        unsigned idx = (int)(i - ktail) < 0 ? sq->array[i & mask] : i & mask;
        const struct io_uring_sqe *sqe = &sq->sqes[idx & mask];
        if (sqe->opcode == IORING_OP_CLOSE && sqe->file_index == 0 && sqe->fd >= 0)
            close(sqe->fd);
        else if (sqe->opcode == IORING_OP_CONNECT && sqe->user_data && !(sqe->user_data & 1))
            ((struct ur_req *)(uintptr_t)sqe->user_data)->stale = 2; /* the kernel never saw it */
    }
}

static int ur_new_ring(struct ur_stack *st, bool bound)
{
    uint32_t keep = st->feat & ~UR_F_THREAD_BOUND;
    st->feat = keep; /* ur_ring_init adds what it got */
    int r = ur_ring_init(st, st->entries, bound ? st->bound_want : ~(uint32_t)UR_F_THREAD_BOUND & ~UR_F_SQPOLL);
    if (r < 0)
        return r;
    if (st->evfd >= 0 && (r = io_uring_register_eventfd(&st->ring, st->evfd)) < 0)
        goto fail;
    if (st->feat & UR_F_FIXED_FILES) {
        if ((r = io_uring_register_files_sparse(&st->ring, (unsigned)st->nslots)) < 0)
            goto fail;
        /* The free list again: every slot but the live sockets'. (Slots
         * whose close was pending were never in the new table.) */
        char *used = calloc((size_t)st->slot_fresh + 1, 1);
        if (!used) {
            r = -ENOMEM;
            goto fail;
        }
        struct dm_list *pos;
        dm_list_for_each(pos, &st->socks) {
            struct ur_sock *s = dm_list_entry(pos, struct ur_sock, alink);
            if (s->slot < 0)
                continue;
            if (io_uring_register_files_update(&st->ring, (unsigned)s->slot, &s->fd, 1) == 1)
                used[s->slot] = 1;
            else
                s->slot = -1; /* served through its plain fd */
        }
        st->slot_top = 0;
        for (int i = st->slot_fresh - 1; i >= 0; i--) /* [slot_fresh, nslots) stay fresh */
            if (!used[i])
                st->slot_free[st->slot_top++] = i;
        free(used);
    }
    if (st->br && (r = ur_br_rebind(st)) < 0)
        goto fail;
    if (st->feat & UR_F_FIXED_BUFFERS) {
        /* registered again on first use */
        st->nfixbuf = 0;
        if (io_uring_register_buffers_sparse(&st->ring, DM_ARRAY_SIZE(st->fixbuf)) < 0)
            st->feat &= ~UR_F_FIXED_BUFFERS;
    }
    return 0;
fail:
    io_uring_queue_exit(&st->ring);
    return r;
}

/* Completes, as canceled, every request of s that was in flight on the
 * old ring. s may be freed (a closed socket's last request). */
static void ur_sock_requeue(struct ur_stack *st, struct ur_sock *s)
{
    struct ur_req *reqs[] = { &s->conn, &s->shut, &s->acc, &s->tx, &s->rx };
    struct ur_req *todo[DM_ARRAY_SIZE(reqs)];
    unsigned n = 0;
    for (unsigned i = 0; i < DM_ARRAY_SIZE(reqs); i++)
        if (reqs[i]->stale)
            todo[n++] = reqs[i];
    if (s->tx_zc) {
        /* A zero-copy send's pages may still be read by the kernel (its
         * notification is lost with the old ring): never reuse them. */
        dm_log_once(UR_MOD, "moving to a new ring with a zero-copy send in flight: its buffers are not reused");
        s->tx_zc = 0;
        s->tx_held = 0;
        s->tx_nsegs = 0;
    }
    for (unsigned i = 0; i < n; i++) {
        struct ur_req *r = todo[i];
        uint8_t stale = r->stale;
        r->stale = 0;
        if (s->q && r == &s->conn) {
            s->conn_resume = stale == 1; /* submitted: the kernel is connecting */
            ur_req_done(r);
            ur_conn_submit(s);
        } else if (s->q && r == &s->shut) {
            ur_req_done(r);
            ur_shut_kick(s);
        } else {
            /* the handlers' own path for a canceled request; on a closed
             * socket the last one frees s */
            bool last = !s->q && i == n - 1;
            ur_dispatch(st, (uint64_t)(uintptr_t)r, -ECANCELED, 0);
            if (last)
                return;
        }
    }
}

int ur_move_ring(struct ur_stack *st)
{
    if (getpid() != st->owner_pid)
        return 0; /* a forked child on its parent's instance: not ours to move */
    /* 0. the owner may be asleep in the ring (uring_sleep.c) */
    ur_sleeper_evict(st);
    /* 1. what the kernel already posted (if the owner exited, the
     * cancellations of its requests too: handlers re-issue them) */
    st->moving = true;
    int n = ur_reap(st);
    st->moving = false;
    /* A dead owner took no turn: a thread-per-connection server hands
     * the instance from each exiting thread to the next, and every one of
     * them deserves a ring bound to it. (tgkill 0: ESRCH when it is gone.) */
    bool owner_gone = st->owner_tid && syscall(SYS_tgkill, st->owner_pid, st->owner_tid, 0) < 0 && errno == ESRCH;
    if (IO_URING_READ_ONCE(*st->ring.sq.kflags) & IORING_SQ_CQ_OVERFLOW) {
        /* 1b. CQEs the CQ ring had no room for wait in the kernel's
         * overflow list, and only the owner may flush it (an enter with
         * GETEVENTS; EEXIST from anyone else). The teardown would drop
         * them: accepted connections nobody knows of, received bytes
         * gone. So the move waits for the owner, which flushes at its next
         * poll of this instance (ur_poll never leaves the list full).
         * (The preload's threads-and-listener test lost an accept so, 1
         * run in 20 where the listener's ring moved during a burst of
         * 3,000 connections.) */
        if (!owner_gone) {
            st->c.move_waits++;
            return n;
        }
        DM_ERR(UR_MOD, "the thread that drove this instance exited with completions the kernel could not "
               "post (CQ overflow): they are lost with its ring (connections accepted, bytes received)");
    }

    /* 2. mark what is still in flight there */
    struct dm_list *pos, *tmp;
    bool accepting = false;
    dm_list_for_each(pos, &st->socks) {
        struct ur_sock *s = dm_list_entry(pos, struct ur_sock, alink);
        struct ur_req *reqs[] = { &s->rx, &s->tx, &s->acc, &s->conn, &s->shut };
        for (unsigned i = 0; i < DM_ARRAY_SIZE(reqs); i++)
            reqs[i]->stale = reqs[i]->inflight; /* (ur_req_done clears canceling) */
        accepting |= s->acc.inflight;
    }

    /* 3. the new ring */
    struct io_uring old = st->ring;
    uint32_t old_feat = st->feat;
    bool bound = owner_gone || st->rebinds_left > 0;
    int r = ur_new_ring(st, bound);
    if (r < 0) {
        st->ring = old;
        st->feat = old_feat;
        DM_ERR(UR_MOD, "another thread drives this instance, but no new ring could be made (%s): "
               "its calls fail with EEXIST", strerror(-r));
        st->owner_tid = 0; /* do not try again on every call */
        dm_list_for_each(pos, &st->socks) {
            struct ur_sock *s = dm_list_entry(pos, struct ur_sock, alink);
            s->rx.stale = s->tx.stale = s->acc.stale = s->conn.stale = s->shut.stale = 0;
        }
        return n;
    }
    /* 4., 5. */
    static bool told;
    if (!owner_gone && !told) {
        /* The kernel's teardown runs a task work on each thread that used
         * the old ring (TWA_SIGNAL): a kernel call the owner is blocked in
         * now is interrupted as by a signal with no handler. Info, not a
         * warning: most owners are in our own waits then, which retry. */
        told = true;
        DM_INFO(UR_MOD, "moving an instance off thread %d's ring: a blocking call on a kernel fd that thread is "
                "in now returns what it had done (a short MSG_WAITALL recv or blocking send; epoll_wait: EINTR), "
                "as after a signal (shim/README.md)", st->owner_tid);
    }
    ur_sleep_ring_gone(st);
    ur_old_sqes(&old);
    io_uring_queue_exit(&old);
    ur_wait_old_ring(st, accepting || !(old_feat & UR_F_DEFER_TASKRUN));
    st->c.ring_moves++;
    if (bound && (st->feat & UR_F_SINGLE_ISSUER)) {
        if (!owner_gone)
            st->rebinds_left--;
        st->owner_tid = ur_gettid();
        ur_sentinel_plant(st);
        DM_INFO(UR_MOD, "another thread drives this instance: moved to a ring bound to it (thread %d)", st->owner_tid);
    } else {
        st->owner_tid = 0;
        DM_INFO(UR_MOD, "threads take turns driving this instance: moved to a shared ring (no deferred task work)");
    }
    dm_list_for_each_safe(pos, tmp, &st->socks) {
        struct ur_sock *s = dm_list_entry(pos, struct ur_sock, alink);
        ur_sock_requeue(st, s);
    }
    return n + 1; /* ops may have completed: the caller looks again */
}
