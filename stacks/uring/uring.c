/* SPDX-License-Identifier: MIT */
/*
 * stacks/uring: ring setup, feature probing, the poll loop, CQE dispatch.
 *
 * Setup asks for the fastest ring the kernel gives (SINGLE_ISSUER +
 * DEFER_TASKRUN, or SQPOLL when DEMI_URING_SQPOLL=1) and steps down on
 * EINVAL; optional features (see UR_F_*) are probed and each can be turned
 * off with DEMI_URING_DISABLE=a,b,c, which is how the tests play an older
 * kernel. The features in use are logged once at DEMI_LOG=info.
 * DEMI_URING_SHARED=1 gives a ring any thread may drive: no SINGLE_ISSUER,
 * no deferred or cooperative task work (the kernel interrupts the
 * submitting thread to post a completion, so the wait fd wakes whoever
 * sleeps on it), no registered ring fd (a per-thread index). It costs: on
 * this VM redis-benchmark -c 50 ran 2.5x slower than on a thread-bound
 * ring (an interrupt per completion). So the default, auto, starts bound
 * to the creating thread; the first time another thread drives the
 * instance every socket moves to a ring bound to that one (a program that
 * starts in one thread and serves from another), the next time to a shared
 * ring (uring_share.c); 0 keeps it bound for good.
 *
 * poll(): retry work that found the SQ full, reap what is in the CQ ring
 * (no syscall), then make at most one io_uring_enter: submit + wait with a
 * timeout when nothing was ready and the caller may block (an idle server
 * sleeps in the kernel), or submit + run deferred task work otherwise. The
 * IORING_SQ_TASKRUN flag tells whether completions are pending, so a busy
 * poller makes no syscall while idle.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include "dm/log.h"
#include "dm/stack.h"
#include "dm/stats.h"
#include "uring.h"

static const char *const ur_feat_names[] = UR_F_NAMES;
static const char *const ur_counter_names[] = UR_COUNTER_NAMES;

struct io_uring_sqe *ur_sqe(struct ur_stack *st)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&st->ring);
    if (dm_unlikely(!sqe)) {
        /* SQ ring full: hand what we have to the kernel and take a slot
         * again. Rare (batches larger than DEMI_URING_ENTRIES). */
        st->c.sq_full++;
        io_uring_submit(&st->ring);
        st->c.enters++;
        if (st->feat & UR_F_SQPOLL)
            io_uring_sqring_wait(&st->ring);
        sqe = io_uring_get_sqe(&st->ring);
        if (!sqe)
            return NULL;
    }
    st->c.sqes++;
    return sqe;
}

void ur_sqe_file(struct io_uring_sqe *sqe, const struct ur_sock *s)
{
    if (s->slot >= 0) {
        sqe->fd = s->slot;
        sqe->flags |= IOSQE_FIXED_FILE;
    }
}

void ur_retry_later(struct ur_sock *s, uint32_t need)
{
    s->need |= need;
    if (!s->in_retry) {
        s->in_retry = 1;
        dm_list_add_tail(&s->st->retry, &s->link);
    }
}

void ur_req_issued(struct ur_req *r, bool multishot)
{
    r->inflight = 1;
    r->multishot = multishot;
    r->canceling = 0;
    r->s->nr_inflight++;
}

void ur_req_done(struct ur_req *r)
{
    struct ur_sock *s = r->s;
    if (!r->inflight)
        return;
    r->inflight = 0;
    r->multishot = 0;
    r->canceling = 0;
    s->nr_inflight--;
    if (!s->q)
        ur_sock_maybe_finish(s);
}

int ur_map_err(int res)
{
    return res < 0 ? -res : EIO;
}

/* Runs the work that earlier found the SQ ring full (or no buffer);
 * returns how many sockets it visited (it may have completed ops). */
static int ur_retry_run(struct ur_stack *st)
{
    int visited = 0;
    struct dm_list *pos, *tmp;
    struct dm_list todo;
    dm_list_init(&todo);
    /* Move the list aside: handlers may queue the socket again. */
    if (!dm_list_empty(&st->retry)) {
        todo.next = st->retry.next;
        todo.prev = st->retry.prev;
        todo.next->prev = &todo;
        todo.prev->next = &todo;
        dm_list_init(&st->retry);
    }
    dm_list_for_each_safe(pos, tmp, &todo) {
        struct ur_sock *s = dm_list_entry(pos, struct ur_sock, link);
        uint32_t need = s->need;
        dm_list_del(&s->link);
        s->in_retry = 0;
        s->need = 0;
        visited++;
        if (need & UR_NEED_CANCEL)
            ur_cancel_all(s);
        if (need & UR_NEED_RX) {
            ur_rx_deliver(s);
            ur_rx_arm(s);
        }
        if (need & UR_NEED_TX)
            ur_tx_kick(s);
        if (need & UR_NEED_ACCEPT)
            ur_acc_arm(s);
        if (need & UR_NEED_CONNECT)
            ur_conn_submit(s);
        if (need & UR_NEED_SHUT)
            ur_shut_kick(s);
        if (need & UR_NEED_FINISH)
            ur_sock_finish(s); /* may free s: last */
    }
    return visited;
}

/* A late CQE for a socket the application already closed: release what
 * the request carried, never touch an op. */
static void ur_late_cqe(struct ur_stack *st, struct ur_req *r, int res, uint32_t flags)
{
    struct ur_sock *s = r->s;
    st->c.late_cqes++;
    if (r->kind == UR_RQ_RX) {
        if (flags & IORING_CQE_F_BUFFER) {
            uint16_t bid = (uint16_t)(flags >> IORING_CQE_BUFFER_SHIFT);
            ur_br_take(st->br, bid, res > 0 ? (uint32_t)res : 0, flags);
            ur_br_put(st->br, bid);
        }
        if (!(flags & IORING_CQE_F_MORE) && s->rx_buf) {
            dm_buf_free(s->rx_buf);
            s->rx_buf = NULL;
        }
    } else if (r->kind == UR_RQ_ACCEPT) {
        if (res >= 0)
            close(res);
    } else if (r->kind == UR_RQ_TX) {
        if (!(flags & IORING_CQE_F_MORE))
            ur_tx_cqe(s, res, flags); /* releases held segments */
        return;
    }
    if (!(flags & IORING_CQE_F_MORE))
        ur_req_done(r); /* may free s */
}

void ur_dispatch(struct ur_stack *st, uint64_t ud, int res, uint32_t flags)
{
    if (ud == UR_UD_IGNORE)
        return;
    if (ud & 1) {
        if (ud & 2)
            ur_slot_set_cqe(st, (int)(ud >> 2), res);
        else
            ur_slot_put(st, (int)(ud >> 2)); /* closed: only now may it be reused */
        return;
    }
    if (ur_ud_is_sleep(ud)) {
        ur_sleep_cqe(st, ud, flags);
        return;
    }
    struct ur_req *r = (struct ur_req *)(uintptr_t)ud;
    struct ur_sock *s = r->s;
    if (dm_unlikely(!s->q)) {
        ur_late_cqe(st, r, res, flags);
        return;
    }
    if (dm_unlikely(res == -EBADF) && s->slot_lost && (r->kind == UR_RQ_RX || r->kind == UR_RQ_TX))
        res = -ECANCELED; /* issued on a slot the kernel refused: again, by fd */
    switch (r->kind) {
    case UR_RQ_RX:      ur_rx_cqe(s, res, flags); break;
    case UR_RQ_TX:      ur_tx_cqe(s, res, flags); break;
    case UR_RQ_ACCEPT:  ur_acc_cqe(s, res, flags); break;
    case UR_RQ_CONNECT: ur_conn_cqe(s, res); break;
    case UR_RQ_SHUT:    ur_shut_cqe(s, res); break;
    default: break;
    }
}

/* A server's CQEs each name another connection, whose state is rarely
 * still in the cache: ask for it a few CQEs ahead, so that the misses of
 * a batch overlap. A request sits inside its socket, after its head (a
 * receive's or a send's: state, queue, flags on the line before it, the
 * receive queue's head on the line after), so the addresses come from
 * user_data alone, never from a load: a socket an earlier CQE of the
 * batch freed is not read. (A prefetch never faults; tagged user_data
 * is skipped all the same.) */
#define UR_PREFETCH_AHEAD 4
static inline void ur_prefetch_req(uint64_t ud)
{
    /* the sleep's tags (ur_ud_is_sleep: below 4096) are not requests:
     * no address is formed from them */
    if (!ur_ud_is_sleep(ud) && !(ud & 7)) {
        __builtin_prefetch((const void *)(uintptr_t)(ud - 64));
        __builtin_prefetch((const void *)(uintptr_t)ud);
        __builtin_prefetch((const void *)(uintptr_t)(ud + 64));
    }
}

/* Copies CQEs out in batches and frees their ring slots before handling
 * them, so handlers can queue SQEs (and the kernel post CQEs) freely. */
int ur_reap(struct ur_stack *st)
{
    struct { uint64_t ud; int32_t res; uint32_t flags; } batch[64];
    int total = 0;
    for (;;) {
        struct io_uring_cqe *cqe;
        unsigned head, n = 0;
        io_uring_for_each_cqe(&st->ring, head, cqe) {
            batch[n].ud = cqe->user_data;
            batch[n].res = cqe->res;
            batch[n].flags = cqe->flags;
            if (++n == DM_ARRAY_SIZE(batch))
                break;
        }
        if (n == 0)
            break;
        io_uring_cq_advance(&st->ring, n);
        st->c.cqes += n;
        for (unsigned i = 0; i < n && i < UR_PREFETCH_AHEAD; i++)
            ur_prefetch_req(batch[i].ud);
        for (unsigned i = 0; i < n; i++) {
            if (i + UR_PREFETCH_AHEAD < n)
                ur_prefetch_req(batch[i + UR_PREFETCH_AHEAD].ud);
            st->next_ud = i + 1 < n ? batch[i + 1].ud : 0;
            ur_dispatch(st, batch[i].ud, batch[i].res, batch[i].flags);
        }
        st->next_ud = 0;
        total += (int)n;
        if (n < DM_ARRAY_SIZE(batch))
            break;
    }
    return total;
}

static bool ur_kernel_has_work(struct ur_stack *st)
{
    unsigned kflags = IO_URING_READ_ONCE(*st->ring.sq.kflags);
    return kflags & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW);
}

static void ur_enter_error(int r)
{
    if (r == -EEXIST)
        dm_log_once(UR_MOD, "io_uring_enter: EEXIST: the ring is used from a thread (or a forked child) other "
                    "than the one that created the instance (IORING_SETUP_SINGLE_ISSUER); set "
                    "DEMI_URING_SHARED=1 to allow that");
    else
        DM_DEBUG(UR_MOD, "io_uring_enter: %s", strerror(-r));
}

static int ur_poll(void *stp, int64_t block_ns)
{
    struct ur_stack *st = stp;
    int n = 0;

    if (ur_foreign(st)) {
        n += ur_move_ring(st);
        if (dm_unlikely(ur_foreign(st)))
            return n; /* the move waits for the owner (ur_move_ring): not ours to enter */
    }

    if (st->evfd >= 0 && !st->evfd_armed) {
        /* Drain the wakeup before looking, so a CQE posted after this read
         * signals the application's epoll again. (A caller of wait_arm
         * drains only before it sleeps: a syscall per poll saved.) */
        uint64_t v;
        ssize_t DM_UNUSED rr = read(st->evfd, &v, sizeof(v));
    }
    if (!dm_list_empty(&st->retry))
        n += ur_retry_run(st); /* counted: ops may have completed, do not sleep */
    if (!dm_list_empty(&st->starved))
        ur_rx_rearm_starved(st);
    n += ur_reap(st);

    bool sqpoll = st->feat & UR_F_SQPOLL;
    unsigned pending = io_uring_sq_ready(&st->ring);
    if (n == 0 && block_ns > 0 && !st->busypoll) {
        struct io_uring_cqe *cqe;
        struct __kernel_timespec ts = { .tv_sec = block_ns / 1000000000LL,
                                        .tv_nsec = block_ns % 1000000000LL };
        st->c.enters++;
        /* An unbounded wait needs no kernel timer. */
        int r = block_ns >= 3600 * 1000000000LL ? io_uring_submit_and_wait(&st->ring, 1)
                                               : io_uring_submit_and_wait_timeout(&st->ring, &cqe, 1, &ts, NULL);
        if (r < 0 && r != -ETIME && r != -EINTR && r != -EBUSY && r != -EAGAIN)
            ur_enter_error(r);
        n += ur_reap(st);
    } else if (pending || ur_kernel_has_work(st)) {
        st->c.enters++;
        int r = sqpoll ? io_uring_submit(&st->ring) /* enters only to wake the SQ thread */
                       : io_uring_submit_and_get_events(&st->ring);
        if (r < 0 && r != -EINTR && r != -EBUSY && r != -EAGAIN)
            ur_enter_error(r);
        n += ur_reap(st);
    }
    /* CQEs the CQ ring had no room for (a burst of accepts, of receives)
     * wait in the kernel's overflow list until an enter flushes it: this
     * thread's, while it holds the instance, so that no other thread
     * finds the list full at a move (ur_move_ring). */
    for (int i = 0; i < 64 && !sqpoll && !ur_foreign(st) &&
                    (IO_URING_READ_ONCE(*st->ring.sq.kflags) & IORING_SQ_CQ_OVERFLOW); i++) {
        st->c.enters++;
        st->c.cq_flushes++;
        int r = io_uring_get_events(&st->ring);
        if (r < 0 && r != -EINTR && r != -EBUSY && r != -EAGAIN) {
            ur_enter_error(r);
            break;
        }
        n += ur_reap(st);
    }
    /* Handlers run in this call may have queued new SQEs (rearms, the next
     * send): they ride on the next enter, unless nothing else would come. */
    return n;
}

/* Before the caller sleeps on the eventfd: drain it, then look once more
 * (a CQE posted before the drain is in the CQ ring now; one posted after
 * it signals the eventfd again). */
static int ur_wait_arm(void *stp)
{
    struct ur_stack *st = stp;
    if (st->evfd < 0)
        return 0;
    st->evfd_armed = true;
    uint64_t v;
    ssize_t DM_UNUSED rr = read(st->evfd, &v, sizeof(v));
    if (dm_unlikely(ur_foreign(st)))
        return io_uring_cq_ready(&st->ring) > 0; /* a move waiting for the owner: only what it posted */
    /* queued SQEs: the caller polls (and submits) first */
    return io_uring_sq_ready(&st->ring) || io_uring_cq_ready(&st->ring) || ur_kernel_has_work(st) ||
           !dm_list_empty(&st->retry);
}

static bool ur_evfd_prompt(void);

static int ur_wait_fd(void *stp)
{
    struct ur_stack *st = stp;
    if (st->evfd >= 0)
        return st->evfd;
    if (ur_foreign(st))
        (void)ur_move_ring(st); /* registering needs the owner, or a shared ring */
    /* Someone will sleep on this fd (the preload does, in poll/epoll). If
     * the kernel signals it late for deferred task work (ur_evfd_prompt),
     * move to a shared ring, whose plain task work signals it at once. Not
     * to a thread-bound ring with cooperative task work: faster (sockperf
     * under the preload 7.5 against 13 us), but its move to another thread
     * can miss a receive's CQE, since its owner runs task work on any
     * return from the kernel (the memcached-pattern preload test hung 1 run
     * in 4); unbound, cooperative task work did not wake a thread sleeping
     * while another had submitted. Moving from a deferred ring is safe
     * (uring_share.c), and the preload does it before it has any socket. */
    if (st->defer_auto && (st->feat & UR_F_DEFER_TASKRUN) && st->owner_tid && !ur_evfd_prompt()) {
        static bool said; /* info, not a warning: nothing the application sees but speed */
        if (!said)
            DM_INFO(UR_MOD, "this kernel signals the wait fd late for deferred task work (15-40 ms on "
                    "6.18.44): moving to a shared ring");
        said = true;
        st->rebinds_left = 0;
        (void)ur_move_ring(st);
    }
    /* An eventfd signalled by the ring (also for deferred task work), made
     * on first use: without an epoll user the signalling is pure cost. */
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0)
        return st->ring.ring_fd;
    if (dm_unlikely(ur_foreign(st))) {
        /* the move waits for the owner (ur_move_ring), and registers this
         * on the new ring; until then a waiter looks at each slice */
        st->evfd = fd;
        return fd;
    }
    if (io_uring_register_eventfd(&st->ring, fd) < 0) {
        close(fd);
        return st->ring.ring_fd;
    }
    st->evfd = fd;
    return fd;
}

static int ur_parse_disable(const char *list, uint32_t *off)
{
    const char *p = list;
    while (p && *p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        bool found = len == 0;
        for (unsigned i = 0; i < DM_ARRAY_SIZE(ur_feat_names); i++) {
            if (strlen(ur_feat_names[i]) == len && strncmp(p, ur_feat_names[i], len) == 0) {
                *off |= 1u << i;
                found = true;
            }
        }
        if (!found) {
            char known[256];
            size_t o = 0;
            for (unsigned i = 0; i < DM_ARRAY_SIZE(ur_feat_names) && o < sizeof(known); i++)
                if ((1u << i) != UR_F_SQPOLL)
                    o += (size_t)snprintf(known + o, sizeof(known) - o, "%s%s", o ? ", " : "", ur_feat_names[i]);
            DM_ERR(UR_MOD, "DEMI_URING_DISABLE: unknown feature '%.*s' (known: %s)", (int)len, p, known);
            return -EINVAL;
        }
        p = e ? e + 1 : NULL;
    }
    return 0;
}

/* One SQ thread per process: every SQPOLL ring attaches to the first
 * one's (IORING_SETUP_ATTACH_WQ). With a ring and its SQ thread per
 * application thread, Apache's event MPM (25 threads a child) had 24
 * kernel threads polling on the CPU its workers needed: 15 req/s against
 * 22k without SQPOLL. The anchor is a close-on-exec duplicate of the first
 * ring's fd, kept while the process has SQPOLL rings, so rings that come
 * and go keep the one thread; a forked child (another thread group: the
 * kernel refuses the attach) makes its own. */
static pthread_mutex_t sq_anchor_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    int fd;         /* -1: none */
    pid_t pid;      /* the process the fields are about */
    unsigned rings; /* its SQPOLL rings */
} sq_anchor = { -1, 0, 0 };

/* Called with sq_anchor_lock: forget a parent's anchor. A fork through
 * libc closed it already (sq_anchor_child); after any other clone the
 * number may be the application's by now: left alone. */
static void sq_anchor_here(void)
{
    pid_t me = getpid();
    if (sq_anchor.pid != me) {
        sq_anchor.fd = -1;
        sq_anchor.rings = 0;
        sq_anchor.pid = me;
    }
}

/* fork: the lock is not held across it (a child would inherit it held by
 * a thread it does not have), and the child closes the parent's anchor
 * while the number is surely still ours. */
static void sq_anchor_prepare(void) { pthread_mutex_lock(&sq_anchor_lock); }
static void sq_anchor_parent(void) { pthread_mutex_unlock(&sq_anchor_lock); }
static void sq_anchor_child(void)
{
    if (sq_anchor.fd >= 0)
        close(sq_anchor.fd);
    sq_anchor.fd = -1;
    sq_anchor.rings = 0;
    sq_anchor.pid = getpid();
    pthread_mutex_unlock(&sq_anchor_lock);
}

__attribute__((constructor)) static void sq_anchor_atfork(void)
{
    (void)pthread_atfork(sq_anchor_prepare, sq_anchor_parent, sq_anchor_child);
}

static int ur_ring_init_low(struct ur_stack *st, unsigned entries, uint32_t want, int wq_fd, bool quiet);

int ur_ring_init(struct ur_stack *st, unsigned entries, uint32_t want)
{
    if (!(want & UR_F_SQPOLL))
        return ur_ring_init_low(st, entries, want, -1, false);
    pthread_mutex_lock(&sq_anchor_lock);
    sq_anchor_here();
    int wq = sq_anchor.fd;
    int r = ur_ring_init_low(st, entries, want, wq, wq >= 0);
    if (r < 0 && wq >= 0) {
        /* the application closed our anchor (a daemon's close of every
         * fd) and the number may be another file now: not ours to close */
        sq_anchor.fd = wq = -1;
        r = ur_ring_init_low(st, entries, want, -1, false);
    }
    if (r == 0 && (st->feat & UR_F_SQPOLL)) {
        sq_anchor.rings++;
        st->sq_pid = sq_anchor.pid;
        if (wq < 0) {
            sq_anchor.fd = fcntl(st->ring.ring_fd, F_DUPFD_CLOEXEC, 0);
            cpu_set_t cpus;
            if (st->sq_cpu < 0 && sched_getaffinity(0, sizeof(cpus), &cpus) == 0 && CPU_COUNT(&cpus) == 1)
                DM_WARN(UR_MOD, "DEMI_URING_SQPOLL: the SQ thread shares this process's only CPU, where it "
                                "polls for up to 50 ms after each submission; DEMI_URING_SQPOLL_CPU binds it "
                                "to a CPU of its own");
        }
    }
    pthread_mutex_unlock(&sq_anchor_lock);
    return r;
}

/* st's ring is about to go: the last SQPOLL ring of the process lets the
 * anchor, and with it the SQ thread, go too. */
static void ur_ring_exit_sq(struct ur_stack *st)
{
    if (!st->sq_pid)
        return;
    pthread_mutex_lock(&sq_anchor_lock);
    if (sq_anchor.pid == st->sq_pid && getpid() == st->sq_pid && --sq_anchor.rings == 0 && sq_anchor.fd >= 0) {
        close(sq_anchor.fd);
        sq_anchor.fd = -1;
    }
    pthread_mutex_unlock(&sq_anchor_lock);
    st->sq_pid = 0;
}

static int ur_ring_init_low(struct ur_stack *st, unsigned entries, uint32_t want, int wq_fd, bool quiet)
{
    /* From the fastest setup down to the plainest one the kernel takes. */
    for (int step = 0; step < 4; step++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof(p));
        p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
        p.cq_entries = entries * 4;
        uint32_t got = 0;
        if (want & UR_F_SQPOLL) {
            if (step >= 2)
                continue;
            p.flags |= IORING_SETUP_SQPOLL;
            p.sq_thread_idle = 50; /* ms before the SQ thread sleeps */
            if (wq_fd >= 0) {
                p.flags |= IORING_SETUP_ATTACH_WQ;
                p.wq_fd = (uint32_t)wq_fd;
            } else if (st->sq_cpu >= 0) {
                p.flags |= IORING_SETUP_SQ_AFF;
                p.sq_thread_cpu = (uint32_t)st->sq_cpu;
            }
            got |= UR_F_SQPOLL;
            if (step == 1)
                p.flags &= ~IORING_SETUP_SUBMIT_ALL;
        } else {
            bool coop = want & UR_F_COOP_TASKRUN;
            if (step == 0 && (want & UR_F_DEFER_TASKRUN) && (want & UR_F_SINGLE_ISSUER)) {
                p.flags |= IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                           IORING_SETUP_TASKRUN_FLAG;
                got |= UR_F_SINGLE_ISSUER | UR_F_DEFER_TASKRUN;
            } else if (step <= 1) {
                if (coop) {
                    p.flags |= IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
                    got |= UR_F_COOP_TASKRUN;
                }
                if (want & UR_F_SINGLE_ISSUER) {
                    p.flags |= IORING_SETUP_SINGLE_ISSUER;
                    got |= UR_F_SINGLE_ISSUER;
                }
            } else if (step == 2) {
                if (coop) {
                    p.flags |= IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
                    got |= UR_F_COOP_TASKRUN;
                }
            } else {
                p.flags &= ~IORING_SETUP_SUBMIT_ALL;
            }
        }
        int r = io_uring_queue_init_params(entries, &st->ring, &p);
        if (r == 0) {
            st->feat |= got;
            if (!(p.features & IORING_FEAT_EXT_ARG) || !(p.features & IORING_FEAT_NODROP)) {
                io_uring_queue_exit(&st->ring);
                DM_ERR(UR_MOD, "the kernel's io_uring lacks EXT_ARG/NODROP (Linux 5.19+ needed)");
                return -ENOSYS;
            }
            return 0;
        }
        if (r != -EINVAL) {
            if (!quiet)
                DM_ERR(UR_MOD, "io_uring_queue_init(%u): %s%s", entries, strerror(-r),
                       r == -EPERM ? " (io_uring disabled by kernel.io_uring_disabled?)" : "");
            return r;
        }
    }
    if (quiet)
        return -EINVAL;
    if ((want & UR_F_SQPOLL) && st->sq_cpu >= 0 && wq_fd < 0)
        DM_ERR(UR_MOD, "DEMI_URING_SQPOLL_CPU=%d: the kernel refused it (offline, or outside this process's "
               "cpuset)", st->sq_cpu);
    else
        DM_ERR(UR_MOD, "io_uring_queue_init(%u): no accepted setup", entries);
    return -EINVAL;
}

static const char *ur_feat_list(uint32_t feat, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = 0;
    for (unsigned i = 0; i < DM_ARRAY_SIZE(ur_feat_names) && o < len; i++)
        if (feat & (1u << i))
            o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? "," : "", ur_feat_names[i]);
    if (!buf[0])
        snprintf(buf, len, "none");
    return buf;
}


/* Does this kernel signal a ring's registered eventfd as soon as deferred
 * task work is queued (a receive's data arrived)? The preload sleeps in
 * poll/epoll on that eventfd (the wait fd), so it must. Some kernels
 * (6.18 on this project's machine) signal it only tens of milliseconds
 * later (the RCU path of io_uring's eventfd code, it seems): sockperf
 * under the uring preload then takes milliseconds per half round trip
 * instead of microseconds (CHANGELOG.md has the figures). Without
 * DEFER_TASKRUN the signal is prompt there. Probed once per process: a
 * receive armed on a DEFER_TASKRUN ring, a byte written to its socket, the
 * eventfd read right after the write returned. A probe that cannot be set
 * up says yes (the features are probed on their own). */
static bool ur_evfd_prompt(void)
{
    static int cached = -1; /* a race only repeats the probe */
    int c = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (c >= 0)
        return c;
    bool prompt = true;
    struct io_uring ring;
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    int efd = -1, sv[2] = { -1, -1 };
    if (io_uring_queue_init_params(4, &ring, &p) < 0)
        goto out;
    char buf[8], byte = 'p';
    efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct io_uring_sqe *sqe;
    if (efd >= 0 && io_uring_register_eventfd(&ring, efd) == 0 &&
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0 && (sqe = io_uring_get_sqe(&ring))) {
        io_uring_prep_recv(sqe, sv[0], buf, sizeof(buf), 0);
        uint64_t v;
        if (io_uring_submit(&ring) == 1 && read(efd, &v, sizeof(v)) < 0 &&
            write(sv[1], &byte, 1) == 1)
            prompt = read(efd, &v, sizeof(v)) == (ssize_t)sizeof(v);
    }
    io_uring_queue_exit(&ring);
out:
    if (efd >= 0)
        close(efd);
    if (sv[0] >= 0) {
        close(sv[0]);
        close(sv[1]);
    }
    __atomic_store_n(&cached, prompt, __ATOMIC_RELAXED);
    return prompt;
}

/* The opcodes we need (Linux 5.19+), and whether the kernel has those of
 * 5.19 (multishot accept, the buffer ring: IORING_OP_SOCKET came with
 * them) and 6.0 (multishot recv, SEND_ZC). A kernel that still refuses one
 * at run time gets it turned off there (EINVAL on arm). */
static int ur_probe(struct ur_stack *st, bool *has_519, bool *has_60)
{
    struct io_uring_probe *probe = io_uring_get_probe_ring(&st->ring);
    static const uint8_t required[] = { IORING_OP_SEND, IORING_OP_RECV, IORING_OP_SENDMSG,
        IORING_OP_RECVMSG, IORING_OP_ACCEPT, IORING_OP_CONNECT, IORING_OP_CLOSE,
        IORING_OP_SHUTDOWN, IORING_OP_ASYNC_CANCEL };
    for (unsigned i = 0; probe && i < sizeof(required); i++) {
        if (!io_uring_opcode_supported(probe, required[i])) {
            DM_WARN(UR_MOD, "the kernel's io_uring lacks opcode %u (Linux 5.19+ needed)", required[i]);
            io_uring_free_probe(probe);
            return -ENOSYS;
        }
    }
    *has_519 = probe && io_uring_opcode_supported(probe, IORING_OP_SOCKET);
    *has_60 = probe && io_uring_opcode_supported(probe, IORING_OP_SEND_ZC);
    if (probe)
        io_uring_free_probe(probe);
    return 0;
}

int ur_slot_get(struct ur_stack *st)
{
    if (st->slot_top)
        return st->slot_free[--st->slot_top];
    return st->slot_fresh < st->nslots ? st->slot_fresh++ : -1;
}

void ur_slot_put(struct ur_stack *st, int slot)
{
    if (st->slot_top < st->slot_fresh)
        st->slot_free[st->slot_top++] = slot;
}

size_t ur_slots_mem(const struct ur_stack *st) { return (size_t)st->slot_fresh * sizeof(*st->slot_free); }

/* Registered (fixed) files: no fd table lookup per operation. Without
 * them (no memory, a kernel that refuses) plain fds serve. */
static void ur_files_setup(struct ur_stack *st, int64_t nfiles)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (int64_t)rl.rlim_cur < nfiles)
        nfiles = (int64_t)rl.rlim_cur;
    st->slot_free = malloc((size_t)nfiles * sizeof(int));
    if (st->slot_free && io_uring_register_files_sparse(&st->ring, (unsigned)nfiles) == 0) {
        st->nslots = (int)nfiles;
        st->slot_top = st->slot_fresh = 0;
        st->feat |= UR_F_FIXED_FILES;
    } else {
        free(st->slot_free);
        st->slot_free = NULL;
    }
}

/* The provided buffer ring for receives; count, size, hot 0: automatic. */
static int ur_bufring_setup(struct ur_stack *st, uint32_t want, uint32_t count, uint32_t size, uint32_t hot)
{
    /* Automatic sizing. With incremental consumption: big buffers
     * (small messages share one; a 64 KiB message is rarely split
     * across two, which costs a CQE, a pop and a send more: 64 KiB
     * buffers made 64 KiB echoes 25% slower), 32 x 128 KiB with 4
     * published at a time. Without it every receive takes a whole
     * buffer: 128 x 64 KiB with 8 published. Few published buffers
     * keep the receive copies in cache, and under load the kernel
     * runs through them between two of our polls: that socket's
     * multishot ends (ENOBUFS) and is re-armed once we caught up, so
     * its next receive takes what piled up meanwhile in one piece
     * instead of one CQE per segment. Measured with bench_uring_echo
     * -T (32 connections) against the hand-written epoll echo in the
     * same run, with and without buf_inc: CHANGELOG.md, 2026-12-03. */
    bool want_inc = want & UR_F_BUF_INC;
    int r = -EOPNOTSUPP;
    if (!count && !size && want_inc)
        r = ur_br_create(st, 32, 128 * 1024, hot ? hot : 4, true, true);
    if (r == -EOPNOTSUPP)
        r = ur_br_create(st, count ? count : 128, size ? size : 65536, hot ? hot : (count || size ? 0 : 8),
                         want_inc, false);
    return r;
}

/* What DEMI_URING_* ask of a new instance. */
struct ur_opts {
    int64_t entries, buf_count, buf_size, buf_hot, zc_min, rx_limit, nfiles, sq_cpu;
    int sqpoll, busy, shared, defer, movable, share_auto, prompt;
    uint32_t off; /* UR_F_* turned off by DEMI_URING_DISABLE (and SHARED) */
};

static int ur_opts_read(const struct dm_config *cfg, struct ur_opts *o)
{
    int r;
    memset(o, 0, sizeof(*o));
    /* BUF_COUNT/SIZE/HOT: auto stays 0, which the ring setup reads as auto */
    if ((r = dm_cfg_int(cfg, DM_CFG_URING_ENTRIES, &o->entries)) < 0 ||
        (r = dm_cfg_int(cfg, DM_CFG_URING_BUF_COUNT, &o->buf_count)) < 0 ||
        (r = dm_cfg_int(cfg, DM_CFG_URING_BUF_SIZE, &o->buf_size)) < 0 ||
        (r = dm_cfg_int(cfg, DM_CFG_URING_BUF_HOT, &o->buf_hot)) < 0 ||
        (r = dm_cfg_int(cfg, DM_CFG_URING_ZC_MIN, &o->zc_min)) < 0 ||
        (r = dm_cfg_int(cfg, DM_CFG_URING_RX_QUEUE, &o->rx_limit)) < 0 ||
        (r = dm_cfg_int(cfg, DM_CFG_URING_FILES, &o->nfiles)) < 0)
        return -EINVAL;
    if ((r = dm_cfg_int(cfg, DM_CFG_URING_SQPOLL_CPU, &o->sq_cpu)) < 0)
        return -EINVAL;
    if (r == DM_CFG_AUTO)
        o->sq_cpu = -1;
    int64_t bc = o->buf_count, bs = o->buf_size;
    if ((bc & (bc - 1)) || (bc && bc < 8) || (bs && bs < 512)) {
        DM_ERR(UR_MOD, "DEMI_URING_BUF_COUNT must be a power of two >= 8 and DEMI_URING_BUF_SIZE >= 512 "
               "(got %lld, %lld; 0: automatic)", (long long)bc, (long long)bs);
        return -EINVAL;
    }
    /* DEMI_URING_SHARED, DEMI_URING_DEFER_TASKRUN: auto or a boolean.
     * DEFER_TASKRUN auto: probe the kernel (ur_evfd_prompt); 1: use it
     * when the kernel has it (a program that never sleeps on the wait fd);
     * 0: never. */
    o->defer = -1;
    if ((r = dm_cfg_bool(cfg, DM_CFG_URING_SQPOLL, &o->sqpoll)) < 0 ||
        (r = dm_cfg_bool(cfg, DM_CFG_URING_BUSYPOLL, &o->busy)) < 0 ||
        (r = dm_cfg_bool(cfg, DM_CFG_MOVABLE_ACCEPTS, &o->movable)) < 0 ||
        (r = dm_cfg_bool(cfg, DM_CFG_PROMPT_READINESS, &o->prompt)) < 0 ||
        (o->share_auto = dm_cfg_bool(cfg, DM_CFG_URING_SHARED, &o->shared)) < 0 ||
        (r = dm_cfg_bool(cfg, DM_CFG_URING_DEFER_TASKRUN, &o->defer)) < 0)
        return -EINVAL;
    o->share_auto = o->share_auto == DM_CFG_AUTO;
    if (o->sqpoll == 1 && o->prompt == 1) {
        /* With an SQ thread, a receive completes when that thread gets to
         * its task work: a poll(0) or MSG_DONTWAIT recv right after the
         * peer's send missed data Linux already showed (14 of the
         * preload's 66 uring diff tests failed, 2026-12-07). */
        dm_log_once(UR_MOD, "DEMI_URING_SQPOLL is not taken under the preload: with an SQ thread, a look that "
                            "does not wait could miss data Linux already shows (shim/README.md)");
        o->sqpoll = 0;
    }
    if (ur_parse_disable(dm_cfg_str(cfg, DM_CFG_URING_DISABLE), &o->off) < 0)
        return -EINVAL;
    if (o->shared)
        o->off |= UR_F_THREAD_BOUND;
    return 0;
}

/* The UR_F_* to ask the ring for; DEFER_TASKRUN=0 makes the ring shared. */
static uint32_t ur_opts_want(struct ur_opts *o)
{
    uint32_t want = ~o->off & ~UR_F_SQPOLL;
    if (o->sqpoll)
        want = (want | UR_F_SQPOLL) & ~(UR_F_DEFER_TASKRUN | UR_F_SINGLE_ISSUER);
    /* 0: a shared ring, as with DEMI_URING_SHARED=1 (ur_wait_fd says why a
     * thread-bound ring without deferred task work is not used). */
    if (o->defer == 0) {
        want &= ~UR_F_THREAD_BOUND;
        o->shared = 1; /* entered from any thread: no registered ring fd either */
    }
    return want;
}

static struct ur_stack *ur_stack_alloc(struct dm_instance *inst, const struct ur_opts *o)
{
    struct ur_stack *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    st->inst = inst;
    st->evfd = -1;
    st->sentinel = -1;
    st->wake_fd = -1;
    st->entries = (unsigned)o->entries;
    st->sq_cpu = (int)o->sq_cpu;
    st->busypoll = o->busy;
    st->zc_min = (uint32_t)o->zc_min;
    st->rx_limit = (uint32_t)o->rx_limit;
    st->defer_auto = o->defer == -1;
    st->movable_accepts = o->movable == 1;
    dm_list_init(&st->retry);
    dm_list_init(&st->starved);
    dm_list_init(&st->socks);
    return st;
}

/* The optional features the kernel has (ur_probe) and we want: none of
 * them failing stops the instance, it just runs without. */
static void ur_features_setup(struct ur_stack *st, const struct ur_opts *o, uint32_t want, bool has_519,
                              bool has_60)
{
    if (has_519 && (want & UR_F_MULTISHOT_ACCEPT))
        st->feat |= UR_F_MULTISHOT_ACCEPT;
    if (has_60 && (want & UR_F_SEND_ZC))
        st->feat |= UR_F_SEND_ZC;
    if (want & UR_F_FIXED_FILES && o->nfiles > 0)
        ur_files_setup(st, o->nfiles);
    if (has_519 && (want & UR_F_BUF_RING) &&
        ur_bufring_setup(st, want, (uint32_t)o->buf_count, (uint32_t)o->buf_size, (uint32_t)o->buf_hot) == 0) {
        st->feat |= UR_F_BUF_RING;
        if (has_60 && (want & UR_F_MULTISHOT_RECV))
            st->feat |= UR_F_MULTISHOT_RECV;
    }
    /* A sparse table for registered buffers, filled by ur_fixbuf_index(). */
    if ((st->feat & UR_F_SEND_ZC) && (want & UR_F_FIXED_BUFFERS) &&
        io_uring_register_buffers_sparse(&st->ring, DM_ARRAY_SIZE(st->fixbuf)) == 0)
        st->feat |= UR_F_FIXED_BUFFERS;
}

/* Which threads may drive the ring: the wake fd, the owner of a
 * thread-bound ring in auto mode, the registered ring fd. */
static void ur_threads_setup(struct ur_stack *st, const struct ur_opts *o, uint32_t want)
{
    st->creator_tid = ur_gettid();
    if (st->feat & UR_F_DEFER_TASKRUN)
        st->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); /* -1: never sleeps in the ring */
    /* Auto mode on a thread-bound ring: remember the owner. */
    if (o->share_auto && (st->feat & UR_F_SINGLE_ISSUER)) {
        st->owner_tid = ur_gettid();
        st->owner_pid = getpid();
        st->bound_want = want;
        st->rebinds_left = 1;
        ur_sentinel_plant(st);
    }
    /* Optional: cheaper enters. A registered ring fd is an index into the
     * registering thread's table, so a shared ring (entered from any
     * thread, or from a forked child) keeps using the plain fd; so does a
     * ring that may be replaced (the registration would keep it alive, and
     * only its owner could undo it). */
    if (!o->shared && !st->owner_tid)
        io_uring_register_ring_fd(&st->ring);
}

static const char *const ur_mem_names[] = { "uring_ring_bytes", "uring_rx_bytes", "uring_files_bytes" };
_Static_assert(sizeof(struct ur_mem) / sizeof(uint64_t) == DM_ARRAY_SIZE(ur_mem_names), "uring mem names");

static void ur_mem_refresh(void *arg)
{
    struct ur_stack *st = arg;
    const struct io_uring *r = &st->ring;
    /* one mapping for both rings where the kernel has SINGLE_MMAP */
    size_t rings = (r->features & IORING_FEAT_SINGLE_MMAP) ? DM_MAX(r->sq.ring_sz, r->cq.ring_sz)
                                                           : r->sq.ring_sz + r->cq.ring_sz;
    size_t sqe = (r->flags & IORING_SETUP_SQE128) ? 128 : sizeof(struct io_uring_sqe);
    st->mem.uring_ring_bytes = rings + (size_t)r->sq.ring_entries * sqe;
    st->mem.uring_rx_bytes = st->br ? ur_br_mem(st->br) : 0;
    st->mem.uring_files_bytes = ur_slots_mem(st);
}

static void ur_announce(struct ur_stack *st, const struct ur_opts *o)
{
    dm_stats_register(st->inst, UR_MOD, ur_counter_names, &st->c.enters,
                      sizeof(st->c) / sizeof(uint64_t));
    dm_stats_register_gauges(st->inst, "mem", ur_mem_names, &st->mem.uring_ring_bytes,
                             DM_ARRAY_SIZE(ur_mem_names), ur_mem_refresh, st);
    char buf[200];
    DM_INFO(UR_MOD, "io_uring backend: features in use: %s; %u entries%s%s", ur_feat_list(st->feat, buf, sizeof(buf)),
            (unsigned)o->entries, o->busy ? "; busy polling" : "",
            st->zc_min ? "; SEND_ZC from DEMI_URING_ZC_MIN bytes" : "");
}

static int ur_create(struct dm_instance *inst, const struct dm_config *cfg, void **out)
{
    struct ur_opts o;
    int r;
    if ((r = ur_opts_read(cfg, &o)) < 0)
        return r;
    uint32_t want = ur_opts_want(&o);
    struct ur_stack *st = ur_stack_alloc(inst, &o);
    if (!st)
        return -ENOMEM;
    /* DEMI_URING_DISABLE=io_uring plays a kernel that refuses io_uring. */
    r = (o.off & UR_F_IO_URING) ? -ENOSYS : ur_ring_init(st, (unsigned)o.entries, want);
    if (r < 0) {
        /* too old, kernel.io_uring_disabled, a seccomp filter: the caller's
         * DEMI_BACKEND list goes on (the preload's: "uring,posix") */
        free(st);
        return r;
    }
    bool has_519, has_60;
    if ((r = ur_probe(st, &has_519, &has_60)) < 0) {
        ur_ring_exit_sq(st);
        io_uring_queue_exit(&st->ring);
        free(st);
        return r;
    }
    ur_features_setup(st, &o, want, has_519, has_60);
    ur_threads_setup(st, &o, want);
    ur_announce(st, &o);
    *out = st;
    return 0;
}

static void ur_destroy(void *stp)
{
    struct ur_stack *st = stp;
    struct dm_list *pos, *tmp;
    dm_list_for_each_safe(pos, tmp, &st->socks)
        ur_sock_free_now(dm_list_entry(pos, struct ur_sock, alink));
    dm_stats_unregister(st->inst, &st->c.enters);
    ur_ring_exit_sq(st);
    io_uring_queue_exit(&st->ring);
    ur_br_destroy(st);
    if (st->evfd >= 0)
        close(st->evfd);
    if (st->wake_fd >= 0)
        close(st->wake_fd);
    if (st->sentinel >= 0)
        close(st->sentinel);
    free(st->slot_free);
    free(st->slot_set_fds);
    free(st);
}

/* For the tests (uring_hooks.h) */
uint32_t dm_uring_features(struct dm_instance *inst)
{
    if (!inst || strcmp(dm_instance_backend(inst), "uring") != 0)
        return 0;
    struct ur_stack *st = dm_instance_stack(inst);
    return st ? st->feat : 0;
}

int dm_uring_sq_anchor_fd(void)
{
    pthread_mutex_lock(&sq_anchor_lock);
    int fd = sq_anchor.pid == getpid() ? sq_anchor.fd : -1;
    pthread_mutex_unlock(&sq_anchor_lock);
    return fd;
}

void dm_uring_refuse_next_slot(struct dm_instance *inst)
{
    if (dm_uring_features(inst))
        ((struct ur_stack *)dm_instance_stack(inst))->slot_refuse = true;
}

int dm_uring_buf_id(struct dm_instance *inst, const void *p)
{
    if (!dm_uring_features(inst))
        return -1;
    struct ur_stack *st = dm_instance_stack(inst);
    return st->br ? ur_br_id(st->br, p) : -1;
}

/* The enter of ur_poll() alone, for a caller that drops its lock around
 * it (dm_stack_ops.kstep): the SQ flush and the enter touch only the SQ
 * ring, which nobody else fills meanwhile, and the kernel. Not for a
 * thread that would have to move the ring first, nor with SQPOLL (its
 * enter only wakes the SQ thread: ur_poll does that). */
static bool ur_op_kstep_wanted(void *stp)
{
    struct ur_stack *st = stp;
    if ((st->feat & UR_F_SQPOLL) || ur_foreign(st))
        return false;
    return io_uring_sq_ready(&st->ring) || ur_kernel_has_work(st);
}

static void ur_op_kstep(void *stp)
{
    struct ur_stack *st = stp;
    st->c.enters++;
    st->c.ksteps++;
    int r = io_uring_submit_and_get_events(&st->ring);
    if (r < 0 && r != -EINTR && r != -EBUSY && r != -EAGAIN)
        ur_enter_error(r);
}

/* dm_stack_ops.has_completions: CQEs in the ring, or task work pending
 * that will post them (the flag the kernel sets with TASKRUN_FLAG). */
static bool ur_op_has_completions(void *stp)
{
    struct ur_stack *st = stp;
    return io_uring_cq_ready(&st->ring) || ur_kernel_has_work(st);
}

static int ur_op_kernel_fd(void *stp, struct dm_queue *q)
{
    (void)stp;
    struct ur_sock *s = q->priv;
    return s && s->fd >= 0 ? s->fd : -EBADF;
}

static void ur_op_fork_child(void *stp)
{
    ur_fork_child(stp);
}

static const struct dm_stack_ops ur_ops = {
    .name = "uring",
    .create = ur_create,
    .destroy = ur_destroy,
    .socket = ur_socket,
    .inet6 = true,
    .cork_by_batch = true, /* ur_tx_join */
    .no_clock = true,
    .bind = ur_bind,
    .listen = ur_listen,
    .accept = ur_accept,
    .connect = ur_connect,
    .push = ur_push,
    .pop = ur_pop,
    .shutdown = ur_shutdown,
    .close = ur_close,
    .setsockopt = ur_setsockopt,
    .getsockopt = ur_getsockopt,
    .getsockname = ur_getsockname,
    .getpeername = ur_getpeername,
    .poll = ur_poll,
    .wait_fd = ur_wait_fd,
    .wait_arm = ur_wait_arm,
    .sleep_arm = ur_sleep_arm,
    .sleep = ur_sleep,
    .thread_instances = true,
    .detach = ur_detach,
    .adopt = ur_adopt,
    .kstep_wanted = ur_op_kstep_wanted,
    .kstep = ur_op_kstep,
    .has_completions = ur_op_has_completions,
    .kernel_fd = ur_op_kernel_fd,
    .fork_child = ur_op_fork_child,
};
DM_STACK_REGISTER(ur_ops)
