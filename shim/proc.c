/* SPDX-License-Identifier: MIT */
/*
 * Processes: fork, exec and exit.
 *
 * fork(): the lock is held across the real fork so the child's copy of the
 * shim is consistent. The child drops the parent's datapath (its memory is
 * a copy-on-write leftover nobody touches; its kernel objects - epoll,
 * io_uring, sockets - belong to the parent) and starts its own on first
 * use. Its sockets:
 *   PENDING    untouched: nginx's master binds and listens, its workers
 *              share the listener (marked shared: with uring and posix
 *              it stays the kernel's, listen_shared.c; with dpdk and xdp
 *              each worker hands it to its own datapath at first use);
 *   listeners  offloaded in the parent become PENDING again with their
 *              address recorded: the child re-creates them (SO_REUSEPORT),
 *              so a pre-forking server serves from every process;
 *   others     with a backend over kernel sockets, the child's copy of
 *              the kernel socket: a connection is adopted by the child's
 *              datapath at its first use there, a UDP socket becomes the
 *              kernel's (inherit.c); closing either process's copy leaves
 *              the other's alone (a Redis BGSAVE child closing the clients,
 *              a forking server's parent closing the accepted connection).
 *              With a stack of its own (dpdk, xdp) the connection stays
 *              in the parent's datapath, which relays it to the child
 *              through a unix socket from its first use there, and keeps
 *              it while the child holds it (relay.c).
 *
 * exec and exit: data the application wrote may still be queued in the
 * datapath; it is pushed out (up to DEMI_LINGER_MS) before the process
 * image goes away, as the kernel would keep sending it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "dm/instance.h"
#include "dm/log.h"
#include "dm/stats.h"
#include "dm/time.h"
#include "interpose/real.h"
#include "shim/shim.h"

/* After a fork both processes have every connection: closing one copy
 * does not end it, so neither may reset it (shim_sock_close_resets). */
static void mark_shared(void)
{
    int hi = shim_fd_max();
    for (int fd = 0; fd <= hi; fd++) {
        struct shim_obj *o = shim_fd_get(fd);
        if (o && o->kind == SHIM_KIND_SOCK)
            ((struct shim_sock *)o)->shared = true;
    }
}

static void child_reset(void)
{
    if (shim_rt.inst) {
        /* the parent's instances: never touched again here (their memory
         * is a copy-on-write leftover; their kernel objects the parent's),
         * but our copies of the sockets no queue names are closed */
        for (struct shim_dp *dp = shim_rt.dps; dp; dp = dp->next)
            dm_instance_fork_child(dp->inst);
        shim_rt.inst = NULL;
        shim_rt.dps = NULL;
        shim_rt.ndps = 0;
        shim_rt.inst_gen++;
    }
    shim_rt.inst_err = 0;
    for (struct shim_sock *s = shim_rt.lingering; s; s = s->lnext)
        shim_inherit_child_lingering(s);
    shim_rt.lingering = NULL; /* the parent's to send */
    shim_sleepers_child_reset();
    /* Not in its parent's turn: counted in it, its first sends would wait
     * for the turn's last, which is the parent's to make (a child that
     * answers, then blocks where no call of ours follows, would hold its
     * answer); what the turn left is in the parent's ring. */
    shim_tx_turn_forget();
    int hi = shim_fd_max();
    for (int fd = 0; fd <= hi; fd++) {
        struct shim_obj *o = shim_fd_get(fd);
        if (!o || o->kind != SHIM_KIND_SOCK)
            continue;
        struct shim_sock *s = (struct shim_sock *)o;
        s->qnext = NULL;
        if (s->state != SHIM_OFFLOADED)
            continue;
        /* reads the parent's buffers and instance (copies), so first */
        shim_inherit_child(s);
        if (shim_fd_get(fd) != o)
            continue; /* a UDP socket: the kernel's now */
        s->pop_pending = s->accept_pending = s->connect_pending = false;
        s->rx_count = s->rx_head = 0;
        s->rx_bytes = 0;
        s->acc_count = s->acc_head = 0;
        s->tx_count = s->tx_head = 0;
        s->tx_bytes = 0;
        for (unsigned i = 0; i < s->kacc_count; i++)
            DM_REAL(close)(s->kaccq[i]); /* the parent serves them */
        s->kacc_count = 0;
        if (s->phase == SHIM_LISTENING) {
            s->state = SHIM_PENDING;
            s->refork = true;
            s->qd = -1;
        }
        shim_watch_mark(s);
    }
}

pid_t shim_fork(void)
{
    shim_lock();
    /* Receives this thread's instance completed are taken into the
     * sockets' buffers first: a child that serves a connection gets them
     * (inherit.c); left in the ring, the parent would reap them. */
    for (int i = 0; i < 4 && shim_progress() > 0; i++)
        ;
    int ctl[2];
    shim_relay_fork_begin(ctl);
    pid_t pid = DM_REAL(fork)();
    if (pid > 0)
        mark_shared();
    if (pid != 0) {
        int e = errno;
        shim_relay_fork_parent(ctl, pid);
        shim_unlock();
        return pid < 0 ? -e : pid;
    }
    /* child: only this thread exists, and it holds all locks (the
     * parent's instances' stay held: never used again). It keeps the
     * process lock it took above and drops it below, as the same thread:
     * made fresh and taken again here, ThreadSanitizer counted it taken
     * twice and dropped once, and reported every later take by the
     * child's threads as a double lock (diff_fork_threads). The leaf
     * locks, which no thread holds without an instance lock, are made
     * fresh in shim_sleepers_child_reset. */
    mark_shared();
    shim_relay_fork_child(ctl);
    child_reset();
    shim_unlock();
    return 0;
}

/* The instance of a socket with pushes in flight (open, or closed and
 * lingering), or of closed connections whose data is not delivered yet,
 * or NULL. */
static struct shim_dp *pushes_pending(void)
{
    int hi = shim_fd_max();
    for (int fd = 0; fd <= hi; fd++) {
        struct shim_obj *o = shim_fd_get(fd);
        if (o && o->kind == SHIM_KIND_SOCK && ((struct shim_sock *)o)->state == SHIM_OFFLOADED &&
            ((struct shim_sock *)o)->tx_count && shim_dp_live(((struct shim_sock *)o)->dp))
            return ((struct shim_sock *)o)->dp;
    }
    struct shim_dp *dp = shim_linger_dp();
    if (dp)
        return dp;
    /* pushes all in: our own TCP may still hold what they sent */
    for (dp = shim_rt.dps; dp; dp = dp->next)
        if (shim_dp_live(dp) && dm_instance_tx_busy(shim_dp_inst(dp)))
            return dp;
    return NULL;
}

/* Moves while our own stacks' closed connections make progress. */
static uint64_t tx_progress_all(void)
{
    uint64_t n = 0;
    for (struct shim_dp *dp = shim_rt.dps; dp; dp = dp->next)
        if (shim_dp_live(dp))
            n += dm_instance_tx_progress(shim_dp_inst(dp));
    return n;
}

/* At most this long in all, however slowly a peer keeps reading. */
#define DRAIN_MAX_NS (600 * DM_NS_PER_S)

/* Lock held. Drives only the instances that still have data to send (an
 * instance of another thread is driven from here only then). The kernel
 * delivers a closed socket's data after its process is gone, at whatever
 * pace the peer reads; our stack lives in the process, so the process
 * stays while the data still moves (an nginx worker that exits at a
 * reload while a slow client downloads the rest of a file): the limit is
 * timeout_ns without progress (dm_instance_tx_progress), DRAIN_MAX_NS in
 * all. */
void shim_drain(int64_t timeout_ns)
{
    if (!shim_rt.inst)
        return;
    int64_t start = dm_clock_ns(), deadline = start + timeout_ns, cap = start + DRAIN_MAX_NS;
    if (dm_unlikely(shim_relay_live))
        shim_relay_drain(deadline); /* first: what they move is sent below */
    uint64_t moved = tx_progress_all();
    for (;;) {
        struct shim_dp *dp = pushes_pending();
        if (!dp)
            return;
        shim_focus(dp);
        shim_progress();
        if (!pushes_pending())
            return;
        uint64_t now_moved = tx_progress_all();
        if (now_moved != moved) {
            moved = now_moved;
            int64_t d = dm_clock_ns() + timeout_ns;
            deadline = d < cap ? d : cap;
        }
        if (shim_block(start, deadline) == -ETIMEDOUT && (tx_progress_all() == moved || dm_clock_ns() >= cap)) {
            DM_WARN("shim", "data still queued after %lld ms without progress (DEMI_LINGER_MS) "
                            "or %lld s in all; it is dropped",
                    (long long)(timeout_ns / DM_NS_PER_MS), (long long)(DRAIN_MAX_NS / DM_NS_PER_S));
            return;
        }
    }
}

/* Listeners whose kernel socket we made listen again for an exec. */
static int relisten[64];
static int nrelisten;

/* A listener handed to the datapath has a kernel placeholder that no
 * longer listens (still bound). A program exec'd with it inherited (nginx's
 * binary upgrade, a supervisor) must get a live listening socket: listen
 * on the placeholder again; the new program adopts it (rt.c). */
void shim_before_exec(void)
{
    shim_lock();
    shim_drain(shim_rt.cfg.linger_ms * DM_NS_PER_MS);
    nrelisten = 0;
    int hi = shim_fd_max();
    for (int fd = 0; fd <= hi; fd++) {
        struct shim_obj *o = shim_fd_get(fd);
        if (!o || o->kind != SHIM_KIND_SOCK)
            continue;
        struct shim_sock *s = (struct shim_sock *)o;
        int fl = DM_REAL(fcntl)(fd, F_GETFD);
        if (fl < 0 || (fl & FD_CLOEXEC))
            continue;
        int acc = 0;
        socklen_t l = sizeof(acc);
        if (s->phase == SHIM_LISTENING) {
            if (DM_REAL(getsockopt)(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l) < 0 || acc)
                continue;
            /* a port the kernel chose at bind(0) went with the shutdown
             * (getsockname still shows it): bind it again; EINVAL means
             * the socket kept its binding */
            /* (sin_port and sin6_port share their offset) */
            if (s->local.sin.sin_port && DM_REAL(bind)(fd, &s->local.sa, dm_addr_len(&s->local.sa)) < 0 &&
                errno != EINVAL)
                DM_WARN("shim", "exec: fd %d: cannot bind its kernel socket to port %u again: %s", fd,
                        ntohs(s->local.sin.sin_port), strerror(errno));
            if (DM_REAL(listen)(fd, s->backlog) == 0 && nrelisten < (int)DM_ARRAY_SIZE(relisten))
                relisten[nrelisten++] = fd;
            DM_DEBUG("shim", "exec: fd %d: its kernel socket listens again for the new program", fd);
        } else if (s->state != SHIM_PENDING) {
            shim_inherit_exec(s, fd); /* the new program gets the kernel socket */
        }
    }
    shim_unlock();
}

void shim_exec_failed(void)
{
    shim_lock();
    for (int i = 0; i < nrelisten; i++)
        (void)DM_REAL(shutdown)(relisten[i], SHUT_RD); /* back to datapath-only */
    nrelisten = 0;
    shim_inherit_exec_failed();
    shim_unlock();
}

__attribute__((destructor)) static void at_exit(void)
{
    shim_at_exit();
}

void shim_at_exit(void)
{
    static bool done;
    if (shim_depth || !shim_rt.inst || done)
        return;
    /* Another thread may hold the lock for a moment (the progress helper,
     * every DEMI_HELPER_US) or for good (blocked inside a call of ours):
     * wait a little, never forever. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 200 * DM_NS_PER_MS;
    if (until.tv_nsec >= DM_NS_PER_S) {
        until.tv_sec++;
        until.tv_nsec -= DM_NS_PER_S;
    }
    if (!shim_lock_all_until(&until))
        return;
    done = true;
    shim_drain(shim_rt.cfg.linger_ms * DM_NS_PER_MS);
    /* the instance's copy of the snapshot: a worker whose environment the
     * server cleared still has DEMI_STATS */
    const char *file;
    if (dm_stats_wanted(dm_instance_config(shim_rt.inst), &file)) {
        FILE *f = file ? fopen(file, "a") : stderr;
        if (!f)
            DM_WARN("shim", "DEMI_STATS=%s: %s; the counters go to stderr", file, strerror(errno));
        for (struct shim_dp *dp = shim_rt.dps; dp; dp = dp->next)
            dm_stats_dump(shim_dp_inst(dp), f ? f : stderr, 0);
        fprintf(f ? f : stderr,
                "# demi stats, the preload\nshim.instances %u\nshim.lock_contended %llu\nshim.dp_lock_contended %llu\n",
                shim_rt.ndps, (unsigned long long)__atomic_load_n(&shim_rt.lock_contended, __ATOMIC_RELAXED),
                (unsigned long long)__atomic_load_n(&shim_rt.dp_lock_contended, __ATOMIC_RELAXED));
        if (f && f != stderr)
            fclose(f);
    }
    shim_unlock();
}
