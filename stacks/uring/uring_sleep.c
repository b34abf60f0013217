/* SPDX-License-Identifier: MIT */
/*
 * Sleeping inside the ring (dm_stack_ops.sleep_arm / sleep).
 *
 * Why: on a ring with deferred task work (DEFER_TASKRUN + SINGLE_ISSUER),
 * a completion is only queued for the owner thread; it is posted when that
 * thread next enters the ring. A thread that sleeps *in* io_uring_enter
 * (GETEVENTS, min_complete 1) is woken by the completion itself and posts
 * it on the way out: no interrupt per completion, no eventfd. The other
 * ways to sleep cost more here: the ring's eventfd is signalled 15-40 ms
 * late for deferred task work on Linux 6.18.44 (ur_evfd_prompt), and the
 * shared ring used instead runs every receive as plain task work that
 * interrupts the thread at once, while the sender's softirq still holds
 * the socket lock: redis-server under the preload spent 66% of its CPU in
 * the socket lock's spin (perf, redis-benchmark -c 50; 0.38x the kernel).
 *
 * What the caller watches besides the ring (its kernel epoll, its kick
 * eventfd) becomes a multishot POLL_ADD, armed at the first sleep that
 * watches it and kept: the caller names each fd with an id that is never
 * reused for another open file, so a poll stays valid while that file
 * does. Armed, it checks readiness at once; after that each wake-up of the
 * fd posts a CQE, and a CQE seen outside a sleep makes the next arm say
 * "look again" (level semantics over the edges). A watch not asked for
 * again is cancelled only when its slot is needed (one spurious wake-up).
 * New polls are submitted by the sleeping thread with the lock dropped
 * (the SQ tail is published under the caller's lock, so SQEs another
 * thread queues meanwhile are not taken half-written). Once the watches
 * are armed a sleep is one syscall, as with epoll_wait.
 *
 * Threads: only the ring's owner sleeps here (a shared ring uses the wait
 * fd). Another thread that must replace the ring (ur_move_ring) first
 * evicts the sleeper: a write to wake_fd, whose poll every sleep keeps
 * armed, then waits until it has left io_uring_enter.
 */
#include <errno.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "dm/log.h"
#include "uring.h"

#define UR_UD_WATCH_FIRST 8u

void ur_sleep_cqe(struct ur_stack *st, uint64_t ud, uint32_t flags)
{
    if (ud == UR_UD_WAKE) {
        if (!(flags & IORING_CQE_F_MORE)) {
            uint64_t v;
            ssize_t DM_UNUSED r = read(st->wake_fd, &v, sizeof(v));
            st->wake_armed = false;
        }
        return;
    }
    for (unsigned i = 0; i < UR_WATCH_MAX; i++) {
        struct ur_watch *w = &st->watch[i];
        if (w->ud != ud)
            continue;
        st->watch_fired = true;
        if (!(flags & IORING_CQE_F_MORE))
            w->ud = 0; /* the poll ended (an error, or CQ overflow): armed again when asked */
        return;
    }
}

/* The ring is being replaced (ur_move_ring): its polls go with it. */
void ur_sleep_ring_gone(struct ur_stack *st)
{
    st->wake_armed = false;
    for (unsigned i = 0; i < UR_WATCH_MAX; i++)
        st->watch[i].ud = 0;
    st->watch_fired = true; /* what the old polls would have said */
}

void ur_sleeper_evict(struct ur_stack *st)
{
    if (!__atomic_load_n(&st->sleeping, __ATOMIC_ACQUIRE))
        return;
    uint64_t one = 1;
    ssize_t DM_UNUSED r = write(st->wake_fd, &one, sizeof(one));
    while (__atomic_load_n(&st->sleeping, __ATOMIC_ACQUIRE))
        sched_yield();
}

/* Publishes the SQEs handed out so far, as liburing's submit does before
 * it enters (its flush is not exported): the kernel takes exactly these at
 * the sleep's enter. Through the index array where the ring has one
 * (liburing up to 2.3 fills it here; later ones keep it the identity,
 * which this also writes). */
static unsigned ur_sq_publish(struct io_uring *ring)
{
    struct io_uring_sq *sq = &ring->sq;
    unsigned mask = sq->ring_mask, ktail = *sq->ktail;
    while (sq->sqe_head != sq->sqe_tail) {
        if (sq->array)
            sq->array[ktail & mask] = sq->sqe_head & mask;
        ktail++;
        sq->sqe_head++;
    }
    io_uring_smp_store_release(sq->ktail, ktail);
    return ktail - io_uring_smp_load_acquire(sq->khead);
}

static uint64_t ur_watch_ud(struct ur_stack *st)
{
    st->watch_next = st->watch_next + 4 >= UR_UD_WATCH_END || st->watch_next < UR_UD_WATCH_FIRST
                         ? UR_UD_WATCH_FIRST : st->watch_next + 4;
    return st->watch_next;
}

/* The slot watching fd under id, armed now if it is not: 0, or -EAGAIN
 * when every slot is in use by this sleep. */
static int ur_watch_get(struct ur_stack *st, const struct pollfd *p, uint64_t id, uint64_t turn)
{
    struct ur_watch *w, *victim = NULL;
    for (unsigned i = 0; i < UR_WATCH_MAX; i++) {
        w = &st->watch[i];
        if (w->id == id && w->fd == p->fd && w->events == p->events) {
            w->turn = turn;
            if (w->ud)
                return 0;
            victim = w; /* its poll ended: arm it again */
            goto arm;
        }
        if (w->turn != turn && (!victim || w->turn < victim->turn))
            victim = w;
    }
    if (!victim)
        return -EAGAIN;
    if (victim->ud) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&st->ring);
        io_uring_prep_cancel64(sqe, victim->ud, 0);
        sqe->user_data = UR_UD_IGNORE;
    }
    victim->id = id;
    victim->fd = p->fd;
    victim->events = p->events;
    victim->turn = turn;
arm:;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&st->ring);
    io_uring_prep_poll_multishot(sqe, p->fd, (unsigned)p->events);
    victim->ud = ur_watch_ud(st);
    sqe->user_data = victim->ud;
    return 0;
}

int ur_sleep_arm(void *stp, const struct pollfd *watch, const uint64_t *ids, int nwatch)
{
    struct ur_stack *st = stp;
    /* Only a ring bound to this thread with deferred task work: anywhere
     * else the wait fd is prompt (shared ring) or the only way. */
    if (__atomic_load_n(&st->sleep_off, __ATOMIC_RELAXED) || !(st->feat & UR_F_DEFER_TASKRUN) || st->busypoll ||
        ur_foreign(st) || (st->owner_tid == 0 && st->creator_tid != ur_gettid()) || st->wake_fd < 0)
        return -EAGAIN;
    for (int i = 0; i < nwatch; i++)
        if (watch[i].fd >= 0 && ids[i] == 0)
            return -EAGAIN; /* a file we could not tell from a later one of that number */
    if (st->watch_fired) {
        st->watch_fired = false;
        return 1; /* a watched fd woke since the last look */
    }
    if (io_uring_cq_ready(&st->ring) || !dm_list_empty(&st->retry))
        return 1;
    if (io_uring_sq_space_left(&st->ring) < (unsigned)(2 * UR_WATCH_MAX + 1))
        return 1; /* the caller's progress submits first */
    uint64_t turn = ++st->watch_turn;
    for (int i = 0; i < nwatch; i++)
        if (watch[i].fd >= 0 && ur_watch_get(st, &watch[i], ids[i], turn) < 0) {
            st->sleep_submit = 0;
            return -EAGAIN; /* more fds than slots: what was armed stays for later */
        }
    if (!st->wake_armed) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&st->ring);
        io_uring_prep_poll_add(sqe, st->wake_fd, POLLIN);
        sqe->user_data = UR_UD_WAKE;
        st->wake_armed = true;
    }
    st->sleep_submit = ur_sq_publish(&st->ring);
    st->c.sleeps++;
    __atomic_store_n(&st->sleeping, 1, __ATOMIC_RELEASE);
    return 0;
}

int ur_sleep(void *stp, int64_t timeout_ns)
{
    struct ur_stack *st = stp;
    int r = 0;
    /* New polls go in first, on their own: an enter that submitted
     * returns the count even when a signal cut its wait short, and the
     * caller must see that EINTR. (Watches persist: rarely taken.) */
    if (st->sleep_submit) {
        r = io_uring_enter2((unsigned)st->ring.ring_fd, st->sleep_submit, 0, 0, NULL, 0);
        if (r == -1)
            r = -errno; /* liburing built with the libc syscall() */
    }
    if (r >= 0) {
        struct __kernel_timespec ts = { .tv_sec = timeout_ns / 1000000000LL, .tv_nsec = timeout_ns % 1000000000LL };
        struct io_uring_getevents_arg arg = { .ts = timeout_ns < 0 ? 0 : (uint64_t)(uintptr_t)&ts };
        r = io_uring_enter2((unsigned)st->ring.ring_fd, 0, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG,
                            (sigset_t *)&arg, sizeof(arg));
        if (r == -1)
            r = -errno;
    }
    __atomic_store_n(&st->sleeping, 0, __ATOMIC_RELEASE);
    if (r == -EINTR)
        return -EINTR;
    if (r == -EEXIST) /* not the ring's issuer after all: the wait fd from now on */
        __atomic_store_n(&st->sleep_off, true, __ATOMIC_RELAXED);
    return 0;
}
