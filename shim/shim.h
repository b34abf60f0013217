/* SPDX-License-Identifier: MIT */
/*
 * The shim: POSIX socket semantics over the datapath's queues, for the
 * interpose layer. Every entry point takes the application's fd and returns
 * a result >= 0, a negative errno, or SHIM_PASS ("not ours: call libc").
 * errno is never written here (interpose/ does that).
 *
 * Objects. The fd table (fdtab.c) maps an fd to a shim object: a socket
 * (struct shim_sock) or an epoll set (struct shim_epoll). dup()ed fds point
 * at the same object (refs counts them). Every object sits on a real kernel
 * fd of the same number - the placeholder - so our fd numbers never collide
 * with the application's kernel fds, and dup/close/fcntl of kernel fds stay
 * exactly Linux's.
 *
 * Socket life cycle (sock.c):
 *   PENDING    the placeholder is the real socket: bind, listen and options
 *              go to the kernel (exact Linux validation and errno). Nothing
 *              in the datapath exists yet, so fork() before the first I/O
 *              (nginx master -> workers) needs nothing special.
 *   OFFLOADED  at the first data-path use in this process (accept, connect,
 *              send/recv on UDP, epoll/poll of a listener) the socket is
 *              handed to the datapath: a queue is created, the options are
 *              replayed, bind/listen are replayed on the recorded address.
 *              A listener shared by processes (not used before a fork)
 *              stays PENDING with a backend over kernel sockets: the
 *              kernel's one listener serves them all, and what accept()
 *              takes from it is INHERITED (listen_shared.c).
 *   (kernel)   an offload rule said no (DEMI_OFFLOAD, loopback policy, no
 *              datapath): the object is dropped and the fd is a plain
 *              kernel socket from then on.
 *   INHERITED  an offloaded connection inherited through fork() (or, with
 *              bytes the old image had received, through exec; or accepted
 *              from a listener shared by processes), with a
 *              backend over kernel sockets: kfd is this process's copy of
 *              the kernel socket; its first use here adopts it into this
 *              process's datapath (inherit.c). Listeners are re-created in
 *              the child instead; UDP sockets become the kernel's there.
 *   ORPHAN     the same with a backend of its own stack (dpdk, xdp) when
 *              no relay could be set up: the connection lives in the
 *              parent's datapath; the child may only close it.
 *   REMOTE     such a connection with a relay offered (relay.c): the
 *              parent keeps it alive while this child holds it; its first
 *              use here asks the parent to relay it through a unix socket.
 *   RELAYED    after that: the fd is the unix socket (the kernel does the
 *              I/O, poll and epoll); the shim answers names and options.
 *
 * Instances (rt.c, struct shim_dp): one per thread that does socket I/O
 * where the backend allows (uring, posix), else one per process. A socket
 * is in one instance (s->dp); a fresh accepted one moves to the instance
 * of the thread that first uses it (shim_sock_use).
 *
 * Progress (rt.c): a thread drives its own instance, plus the instance of
 * the socket it waits on (shim_focus) or all of them (an epoll or poll set
 * that mixes instances); completions are harvested with dm_wait_next_n()
 * and dispatched to sockets by queue descriptor; a connected socket keeps one
 * pop posted while its receive buffer is below DEMI_RCVBUF (or the smaller
 * SO_RCVBUF the application set), a listener one accept, so readiness is
 * known without asking the backend.
 *
 * Locking. Three kinds of mutex, in this order (never the other way):
 *   1. the process lock (shim_rt.lock), then every instance lock: "all
 *      locks" (shim_lock). Slow paths hold them: socket creation, hand-over
 *      and moves between instances, the fd table's and the epoll sets'
 *      membership (epoll_ctl, close, dup), fork/exec/exit, instance
 *      creation, config load, and every call or wait that involves another
 *      thread's instance (poll/select, an epoll set that mixes instances,
 *      a socket not yet handed over or fresh). Instance locks are taken
 *      in idx order (shim_rt.dpv), with the process lock held.
 *   2. one instance's lock (shim_dp.lock, shim_lock_dp): the fast path.
 *      recv/send (io.c) on an offloaded, not fresh socket of the thread's
 *      own instance, and epoll_wait on a set whose offloaded sockets are
 *      all in it (and stay so: checked again after every drop of the lock)
 *      hold only that. It guards the instance (dm_instance, qmap, wait fd)
 *      and the state of the sockets in it; a thread that holds one never
 *      takes another, nor the process lock (it drops its own and takes all
 *      instead: shim_lock_escalate). While relays to forked children are
 *      alive (relay.c, which needs all locks) no call takes this path.
 *   3. leaf locks, taken with one of the above held and nothing taken
 *      inside them: an epoll's (shim_epoll.lock: its ready list, the
 *      watches' on_ready, its sleepers), the poll/blocking sleepers'
 *      (shim_rt.sleep_lock) and the lingering list's (shim_rt.linger_lock).
 *      A completion dispatched under an instance lock marks its watches
 *      ready and kicks sleepers under these.
 * So what is written only with all locks held (a socket's state, dp and
 * fresh, its watch lists, the fd table, an epoll's instances) may be read
 * under any one instance lock, and an object an fd names is freed only
 * with all locks held (a fast path that would drop the last ref escalates
 * first; a lingering socket, which no fd names, is freed under its
 * instance's lock by its last send's completion): a thread that looked
 * an fd up holding its instance lock may use the object until it drops
 * that lock, and after a drop it holds a ref and looks again
 * (shim_sock_still). Counters shared by every instance (progress_gen,
 * the memory gauges) are atomics; none is a locked instruction per call
 * (one drains the store buffer: behind a send's copy of a cold value,
 * ~1% of a memcached request).
 * No lock is held across a syscall that may block: blocking calls drop
 * what they hold while they sleep (inside their instance, or on the
 * instances' wait fds), and the kernel's part of a poll of a thread's
 * own instance (io_uring_enter: submit, run deferred task work) runs with
 * them dropped (shim_progress_step), the instance marked so that another
 * thread that takes its lock meanwhile waits before it touches it
 * (shim_dp_inst).
 * memcached -t 2 under uring, both threads on two CPUs with the load:
 * 1.3x the ops/s of one lock held across the enter.
 */
#ifndef DM_SHIM_H
#define DM_SHIM_H

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <demi/types.h>
#include "dm/addr.h"
#include "dm/compiler.h"
#include "dm/list.h"
#include "dm/time.h"

/* "Not one of ours: let libc do it." Outside the errno range. */
#define SHIM_PASS (-100000)

/* ---- objects ---- */
#define SHIM_FOCUS_MAX 4 /* instances one wait drives by name (more: all) */
#define SHIM_WATCH_MAX (SHIM_FOCUS_MAX + 2) /* kernel fds one sleep inside an instance watches */
enum shim_kind { SHIM_KIND_SOCK = 1, SHIM_KIND_EPOLL = 2 };
/* (INHERITED and after: shim_sock_claim acts at a socket's first use) */
enum shim_state { SHIM_PENDING = 0, SHIM_OFFLOADED, SHIM_ORPHAN, SHIM_INHERITED, SHIM_REMOTE, SHIM_RELAYED };
/* Where a socket is in the connection's life, whatever its state above
 * (a PENDING listener is LISTENING already: listen() went to the kernel).
 * One at a time: connect() moves UNCONNECTED to CONNECTING, its
 * completion to CONNECTED or CONN_FAILED (connect() may start again from
 * there); listen() and accept() (the new socket) set the rest. */
enum shim_phase { SHIM_UNCONNECTED = 0, SHIM_LISTENING, SHIM_CONNECTING, SHIM_CONNECTED, SHIM_CONN_FAILED };

struct shim_obj {
    int kind;
    int refs; /* fds naming this object */
};

#define SHIM_RXRING 16  /* popped segments buffered per socket */
#define SHIM_TXRING 64  /* pushes in flight per socket */
#define SHIM_ACCQ 32    /* accepted connections waiting for accept() */
#define SHIM_NOPTS 16   /* socket options remembered for replay */

struct shim_rxseg {
    demi_sgarray_t sga;
    uint32_t off;  /* bytes of it already read */
    uint32_t len;  /* total bytes */
};

struct shim_opt {
    int level, name;
    socklen_t len;
    uint8_t val[16];
};

struct shim_sock {
    /* What an event on an established connection touches comes first, in
     * the first cache lines; listener, option and hand-over state after:
     * a server with thousands of connections misses the cache on each
     * socket it serves (memcached, 256 connections: the struct spans 5 KiB
     * and its hot fields were spread over 8 lines). */
    struct shim_obj obj;
    enum shim_state state;
    int type;                /* SOCK_STREAM / SOCK_DGRAM */
    int family;              /* AF_INET / AF_INET6 */
    int qd;                  /* datapath queue, -1 before hand-over */
    uint32_t inst_gen;       /* the datapath generation that owns qd */
    struct shim_dp *dp;      /* the datapath instance qd is in */
    bool fresh;              /* accepted, not used yet: nothing posted, so it
                                may move to the instance of the thread that
                                first uses it (shim_sock_use) */
    /* flags */
    enum shim_phase phase;
    bool nonblock;
    bool corked;             /* TCP_CORK kept by the preload (cork_by_batch):
                                its sends wait for the uncork or the turn */
    bool eof, shut_rd, shut_wr, udp_has_peer, udp_pop_ok;
    bool pop_pending, accept_pending, connect_pending;
    bool refork;             /* listener re-created in a forked child */
    bool own_bind;           /* bound to the datapath's own address, which the
                                kernel does not have: the placeholder holds the
                                port on 0.0.0.0, s->local has the real address */
    bool wr_dead;            /* writes give EPIPE from now on */
    bool nb_connect;         /* a non-blocking connect not yet reported by connect() */
    bool rx_lazy;            /* adopted after a fork/exec: no receive posted until
                                this process reads or waits for input (the socket
                                is shared: one that only writes must not take
                                the bytes another process reads) */
    bool closed;             /* closed with sends in flight: lingering (linger.c) */
    int so_error;            /* pending error, read by SO_ERROR / next call */
    int rd_err;              /* sticky receive error (ECONNRESET) */
    uint32_t gen_in;         /* bumped when input readiness changes (edge triggering) */
    uint32_t gen_out;        /* bumped when it becomes writable (edge triggering) */
    unsigned rx_head, rx_count; /* receive buffer: rx[] below */
    size_t rx_bytes;
    int64_t rcvbuf;          /* SO_RCVBUF as Linux reads it back (doubled), if
                                the application set one (accepted sockets: the
                                listener's); 0: none */
    unsigned tx_head, tx_count; /* pushes in flight: tx[] below */
    size_t tx_bytes;
    demi_qtoken_t pop_qt;
    demi_qtoken_t tx_fail_qt;    /* the push that failed (send reports it) */
    struct shim_sock *qnext; /* qd map chain */
    struct dm_list watches;  /* struct shim_watch.slink */
    int kfd;                 /* INHERITED: this process's copy of the kernel socket;
                                RELAYED: the placeholder (takes SOL_TCP options), else -1 */
    int rcvlowat;
    int64_t rcvtimeo_ns, sndtimeo_ns; /* 0: none */
    union dm_sockaddr local, peer; /* of s->family (v4-mapped peers on [::]) */
    struct shim_rxseg rx[SHIM_RXRING];
    /* UDP: datagrams the placeholder had queued before the hand-over
     * beyond the ring, oldest first, moved in as it empties; no pop is
     * posted meanwhile (they are older than anything it would bring) */
    struct shim_rxseg *ubl;
    uint32_t ubl_head, ubl_n;
    struct { demi_qtoken_t qt; uint32_t len; } tx[SHIM_TXRING];
    /* listeners and connecting sockets */
    int backlog;
    int reuseaddr, reuseport;/* what the application set */
    bool reuseport_inherited;/* an inherited listener had SO_REUSEPORT on: other
                                listeners may share its group (handover.c) */
    bool kshared;            /* a listener shared by processes: it stays the
                                kernel's (PENDING), accept() adopts what it
                                takes (listen_shared.c) */
    demi_qtoken_t accept_qt, connect_qt;
    /* accepted, not yet returned */
    struct { int qd; union dm_sockaddr addr; } accq[SHIM_ACCQ];
    unsigned acc_head, acc_count;
    int *kaccq;              /* kernel connections drained at hand-over (all
                                the kernel had queued), in order */
    unsigned kacc_count, kacc_cap;
    /* options to replay at hand-over */
    struct shim_opt opts[SHIM_NOPTS];
    int nopts;
    uint8_t *carry;          /* INHERITED: bytes received before the fork/exec, not read yet */
    size_t carry_len;
    int relay_up;            /* REMOTE, RELAYED: the control socket toward the datapath
                                that holds the connection (relay.c), -1: none */
    struct shim_sock *lnext; /* shim_rt.lingering chain */
    bool shared;             /* a forked or spawned child has the connection too:
                                our close does not end it, so it never resets */
    const char *kernel_why;  /* PENDING: why its hand-over must leave it in the
                                kernel (it asked for ancillary data), else NULL */
};

struct shim_epoll {
    struct shim_obj obj;
    pthread_mutex_t lock;    /* leaf: ready, the watches' on_ready/rlink, sleepers */
    int kfd;                 /* the kernel epoll (same number as the app's fd) */
    uint32_t wait_gen;       /* datapath generation of wait_mask, dp, mixed */
    uint64_t wait_mask;      /* instances (shim_dp.idx) whose wait fd is in kfd */
    int relay_fd;            /* the relays' wait fd in kfd (wait_gen's), or -1 */
    struct shim_dp *dps[SHIM_FOCUS_MAX]; /* the instances of the offloaded sockets watched */
    unsigned ndps;
    bool mixed;              /* ... more of them than that (sticky): all are driven */
    uint32_t dps_gen;        /* bumped when dps or mixed change: a wait refocuses */
    unsigned nkernel;        /* kernel fds the application put in kfd (as far
                                as we saw: a closed fd leaves it silently) */
    int kick_fd;             /* eventfd in kfd: another thread's progress made
                                one of our sockets ready (-1 until first sleep) */
    int nest_fd;             /* eventfd in kfd, readable while one of our
                                sockets in the set is: this epoll is itself
                                waited on (poll, select, another epoll), which
                                sees kfd only (-1 until then; shim_epoll_nest) */
    bool nest_set;
#define SHIM_EPOLL_NESTED 8
    struct shim_epoll *nested[SHIM_EPOLL_NESTED]; /* epolls of ours in this
                                one's set (a ref each): synced before it looks */
    unsigned nnested;
    struct dm_list watches;  /* struct shim_watch.elink */
    struct dm_list ready;    /* struct shim_watch.rlink: watches that may be
                                ready (a wait looks at these, not at all) */
    unsigned turns;          /* wait iterations: now and then all watches */
    int32_t kpoll_gap_ns;    /* kernel fds in kfd: how long they may go unasked */
    int64_t kpoll_ns;        /* when kfd was last asked for them */
    int64_t refill_ns;       /* when all watches were last put on ready */
    struct dm_list sleepers; /* struct shim_sleeper.link: threads asleep in kfd */
    uint64_t watch_id;       /* names kfd's open file to the datapath (shim_watch_id) */
};

/* A thread asleep in the kernel with the lock dropped, on the stack of its
 * wait. Progress made by another thread can change what it waits for (our
 * sockets' readiness is not the kernel's): that thread writes kick_fd,
 * which the sleeper has in its set. Without it, the sleeper would wake only
 * when the datapath's wait fd fires for it - and the thread that drained
 * the wait fd and dispatched the completion may not be the one waiting. */
struct shim_sleeper {
    struct dm_list link;     /* in shim_rt.sleepers or an epoll's sleepers */
    pthread_mutex_t *lock;   /* that list's (leaf) lock */
    int kick_fd;
    bool kicked;
    bool counted;            /* in shim_rt.nasleep */
};

struct shim_watch {
    struct dm_list elink, slink;
    struct shim_epoll *ep;
    struct shim_sock *s;
    int fd;
    uint32_t events;
    uint64_t data;
    uint32_t seen_in, seen_out; /* EPOLLET: generations last reported */
    bool disabled;           /* EPOLLONESHOT fired */
    bool on_ready;           /* on ep->ready (rlink) */
    struct dm_list rlink;
};

/* The watch may be ready: epoll_wait looks at it (ep->ready) until it is
 * found not ready. Every readiness change of a socket comes through
 * shim_kick_for() (shim_sock_changed*), which calls this for its watches.
 * The epoll's lock held. */
static inline void shim_watch_ready(struct shim_watch *w, struct dm_list *ready)
{
    if (!w->on_ready) {
        w->on_ready = true;
        dm_list_add_tail(ready, &w->rlink);
    }
}

/* ---- runtime (rt.c) ---- */
struct dm_instance;

/* One datapath instance. With a backend over kernel sockets
 * (dm_instance_thread_instances: uring, posix) each thread that does
 * socket I/O gets its own, so a ring is only ever driven by its thread;
 * an accepted connection moves to the instance of the thread that first
 * uses it (the accept-then-hand-off pattern). Other backends (DPDK, XDP:
 * one device queue) have one instance for the process. */
struct shim_dp {
    pthread_mutex_t lock;    /* the instance and its sockets (see Locking) */
    unsigned lock_waiters;   /* threads blocked on it */
    struct dm_instance *inst;
    int wait_fd;             /* asked for only when needed (shim_dp_wait_fd), else -1 */
    bool sleep_inside;       /* the backend can sleep itself (shim_sleep_inside) */
    int tid;                 /* the thread it serves; 0: that thread exited, free for the next */
    unsigned idx;            /* 0..63: its bit in shim_epoll.wait_mask */
    uint32_t gen;            /* shim_rt.inst_gen when made (a forked child drops them) */
    uint64_t wait_id;        /* names wait_fd to a sleep inside another instance */
    int stepping;            /* its thread runs a kernel step with the lock
                                dropped (shim_progress_step): others wait
                                before they touch the instance (shim_dp_inst) */
    struct shim_sock **qmap; /* qd -> socket, chained hash */
    unsigned qmap_mask;
    unsigned qmap_count;     /* sockets in it: it grows past one per two buckets */
    struct shim_dp *next;
};
#define SHIM_MAX_DPS 64
/* DEMI_BACKEND unset: io_uring where the kernel allows it, else epoll. */
#define SHIM_BACKENDS "uring,posix"

struct shim_cfg {
    int64_t spin_ns;
    int64_t spin_yield_ns;   /* DEMI_SPIN_YIELD_US: first yield of a spin, then doubling */
    bool spin_crowded;       /* DEMI_SPIN_CROWDED: spin while tasks wait for a CPU too */
    int64_t rcvbuf, sndbuf;
    int64_t linger_ms;
    int64_t block_slice_ns;  /* DEMI_WAKE_SLICE_MS: a blocking call's longest sleep */
    int64_t wait_slice_ms;   /* the same for epoll_wait/poll/select */
    int64_t helper_ns;       /* DEMI_HELPER_US: the progress helper's period, 0 off */
    int tx_batch;            /* DEMI_TX_BATCH: at most this many sends of a turn per flush */
    int offload_udp;
    int offload_loopback;    /* 1 offload 127/8 (and ::1), 0 keep in kernel */
    int inet6;               /* the backend serves AF_INET6 (else those stay in the kernel) */
    int offload_none;
    uint32_t own_addr;       /* network order: the backend's own IPv4 address
                                (DEMI_IPV4 of a stack with its own addresses), 0 none */
    struct in6_addr own_addr6; /* the backend's own IPv6 address (DEMI_IPV6) */
    bool own6;               /* own_addr6 is set */
};

struct shim_rt {
    pthread_mutex_t lock;        /* the process lock (see Locking) */
    pthread_mutex_t sleep_lock;  /* leaf: sleepers */
    pthread_mutex_t linger_lock; /* leaf: lingering */
    struct dm_instance *inst;    /* the first instance: the datapath runs */
    struct shim_dp *dps;         /* every instance of this process, newest first */
    unsigned ndps;
    struct shim_dp *dpv[SHIM_MAX_DPS]; /* the same by idx: the order of their locks */
    bool per_thread;             /* an instance per thread (dm_instance_thread_instances) */
    int inst_err;            /* nonzero: the datapath failed to start */
    int starting_tid;        /* thread starting the datapath (lock held), 0 none;
                                read without the lock */
    uint32_t inst_gen;       /* bumped when a child drops the parent's datapath */
    struct shim_cfg cfg;
    bool cfg_loaded;
    unsigned lock_waiters;   /* threads blocked on the process lock */
    unsigned dp_lock_waiters; /* ... on an instance lock (all of them) */
    uint64_t lock_contended; /* takes of the process lock that found it held
                                (DEMI_STATS: shim.lock_contended) */
    uint64_t dp_lock_contended; /* the same for instance locks
                                   (shim.dp_lock_contended) */
    /* poll/select/blocking-call sleepers (epoll sleepers are on their epoll) */
    struct dm_list sleepers;
    unsigned nsleepers;      /* on it; read without sleep_lock (shim_kick_for) */
    unsigned nasleep;        /* threads asleep in our waits, epoll's too, counted
                                while relays live (the helper reads it: they
                                watch the relays) */
    unsigned progress_gen;   /* moved by shim_progress() while the helper runs; read
                                without the lock (helper.c) */
    struct shim_sock *lingering; /* closed sockets whose sends go on (linger.c) */
};

extern struct shim_rt shim_rt;

/* The shim's own memory, process-wide ("mem" gauges of the first
 * instance); counted where it is allocated, which is never per packet. */
struct shim_mem {
    uint64_t shim_sock_bytes;    /* socket objects alive */
    uint64_t shim_fdtab_bytes;   /* fd table chunks */
    uint64_t shim_scratch_bytes; /* per-thread bounce buffers (shim_scratch) */
};
extern struct shim_mem shim_mem;
/* The shim's counters, process-wide ("shim" counters of the first
 * instance); each counts something that costs a syscall anyway. */
struct shim_ctr {
    uint64_t epoll_kernel_asks; /* epoll_wait(0)s on a set's kernel part during a wait's turns */
    uint64_t poll_kernel_asks;  /* poll(0)s on a poll/select's kernel entries during its turns */
};
extern struct shim_ctr shim_ctr;
static inline void shim_mem_add(uint64_t *gauge, int64_t bytes)
{
    __atomic_fetch_add(gauge, (uint64_t)bytes, __ATOMIC_RELAXED);
}
extern __thread int shim_depth __attribute__((tls_model("initial-exec")));

void shim_lock(void);   /* at a call's start, all locks: also clears its focus */
/* At a call's start, only dp's lock (the fast path; see Locking). */
void shim_lock_dp(struct shim_dp *dp);
/* Inside a call that holds one instance lock: all locks instead (what was
 * seen under the one lock must be looked at again). */
void shim_lock_escalate(void);
bool shim_locked_all(void); /* this call holds all locks */
/* Which locks the call holds (NULL: all). A signal handler may make calls
 * of its own while a call of this thread sleeps with its locks dropped:
 * the wrapper (signals.c) keeps the sleeping call's. */
extern __thread struct shim_dp *shim_held_dp __attribute__((tls_model("initial-exec")));
/* All locks if they are free now (the progress helper), or before
 * `until` (CLOCK_REALTIME: the exit's drain); false: none taken. */
bool shim_trylock_all(void);
bool shim_lock_all_until(const struct timespec *until);
void shim_relock(void); /* inside a call, after dropping its lock(s) to sleep or yield */
void shim_unlock(void);
/* A leaf lock (see Locking), past the preload's pthread_mutex_lock hook. */
void shim_leaf_lock(pthread_mutex_t *m);
static inline void shim_leaf_unlock(pthread_mutex_t *m) { pthread_mutex_unlock(m); }
/* This thread's own instance, without a lock (NULL: none yet, or shared
 * with threads past SHIM_MAX_DPS: their calls take all locks). */
struct shim_dp *shim_dp_fast(void);
/* helper.c: the progress helper thread (lock held; once the datapath runs). */
void shim_helper_start(void);
extern bool shim_helper_on; /* the helper runs: shim_progress moves progress_gen */
void shim_spin_pause(void);
/* A spin turn of a wait that has spun `spun` ns: also yields on the
 * DEMI_SPIN_YIELD_US schedule (dm_spin in dm/time.h). */
void shim_spin_pause_at(int64_t spun);
/* Loads DEMI_* settings once (called under the lock). */
void shim_cfg_load(void);
/* This thread's datapath instance, started on first use (NULL when none
 * can start); shim_dp_current: the same without starting one. */
struct shim_dp *shim_dp_mine(void);
struct shim_dp *shim_dp_current(void);
/* Called with the lock just taken by a call on fd, before it looks
 * anything up: where this call will make the thread's own instance (its
 * first use of a fresh connection, which moves to it, or of a pending
 * socket, offloaded in it), the instance is made now with the locks
 * dropped for that time (0.1-0.5 ms in which every other thread's socket
 * calls waited); the caller looks up after. */
void shim_dp_ahead(int fd);
struct dm_instance *shim_instance(void);
static inline bool shim_dp_live(const struct shim_dp *dp) { return dp && dp->gen == shim_rt.inst_gen; }
/* Every use of an instance goes through this (lock held): it waits while
 * the instance's thread runs a kernel step without the lock. */
void shim_dp_wait_step(struct shim_dp *dp);
static inline struct dm_instance *shim_dp_inst(struct shim_dp *dp)
{
    if (dm_unlikely(__atomic_load_n(&dp->stepping, __ATOMIC_ACQUIRE)))
        shim_dp_wait_step(dp);
    return dp->inst;
}
/* What shim_progress() drives besides this thread's instance: the
 * instance of the socket a call waits on (shim_focus), or every instance
 * (shim_focus_all: an epoll or poll set that mixes them, or no own one). */
void shim_focus(struct shim_dp *dp);
void shim_focus_set(struct shim_dp *const *dps, unsigned n);
void shim_focus_all(void);
/* Harvests completions and updates sockets; returns how many. A call that
 * returns 0 has also flushed work the backend queued (io_uring SQEs), so
 * it is what must run right before sleeping. Lock held. */
int shim_progress(void);
int shim_progress_dp(struct shim_dp *dp);
/* The same, with the kernel's part for this thread's own instance (the
 * io_uring_enter that submits and runs deferred task work) done with the
 * lock dropped, so that threads do not queue behind each other's
 * syscalls. Only for callers that hold refs on what they use across it
 * (the wait loops, recv and send). */
int shim_progress_step(void);
/* Sends within an event-loop turn (DEMI_TX_BATCH). After a wait
 * (epoll_wait, poll, select) returned k events, the first k-1 sends on
 * the thread's own instance leave their submission to the next call that
 * polls (the next wait, a recv that finds nothing, a call on a kernel
 * fd, a call that blocks with no fd: interpose/hooks_block.c): one
 * io_uring_enter per turn instead of one per send. The k-th send
 * of the turn flushes at once, as every send outside a turn does.
 * shim_turn_begin/end: at a wait's start and with what it returns;
 * shim_tx_after_send: at a send's end, lock held, the caller's ref on s;
 * shim_tx_flush_owed: lock not held. */
extern __thread bool shim_tx_owed __attribute__((tls_model("initial-exec")));
void shim_turn_begin(void);
void shim_turn_end(int nevents);
void shim_tx_after_send(struct shim_sock *s, int fd);
/* s's TCP_CORK (kept by the preload) was cleared: its sends go now if
 * they would have gone at once uncorked. Lock held. */
void shim_tx_uncorked(const struct shim_sock *s);
void shim_tx_flush_owed(void);
/* The owed sends are only a turn's batch, none a blocking send whose
 * bytes are still on their way (those go before anything that takes
 * time, as Linux's send would have returned after them): they may wait
 * past a call that waits for no peer. */
bool shim_tx_owed_batched_only(void);
/* A forked child: its parent's turn is not its own (lock held). */
void shim_tx_turn_forget(void);
/* A call that acts on a socket at once (setsockopt: TCP_CORK, TCP_NODELAY;
 * shutdown; ioctl; getsockopt) first submits the sends its turn left, so
 * that it acts after them, as on Linux. Lock held, nothing in hand. */
static inline void shim_tx_order(void)
{
    if (dm_unlikely(shim_tx_owed)) {
        shim_tx_owed = false;
        shim_progress_step();
    }
}
/* The last step before sleeping: progress, then the backends' wait_arm.
 * False: do not sleep, look again. Lock held. */
bool shim_may_sleep(void);
/* Sleeps until the datapath may have work or the deadline (ns, -1 none).
 * Lock held on entry and exit (dropped while sleeping). spin_start is the
 * time the caller began waiting: the first call with a new one starts a
 * wait (its signal mark). Returns 0, -ETIMEDOUT or -EINTR (a signal that
 * Linux would not restart the call after: see shim_sig_check). */
int shim_block(int64_t spin_start, int64_t deadline);
/* The wait of one blocking socket call (recv, send, accept): the first
 * turn only steps the datapath, later ones sleep in shim_block. */
struct shim_wait {
    bool nonblock;    /* O_NONBLOCK or MSG_DONTWAIT: never sleep */
    bool polled;      /* stepped since the caller last looked */
    int64_t timeo_ns; /* SO_RCVTIMEO/SO_SNDTIMEO, 0 none */
    int64_t start, deadline;
};
/* One turn of that wait, lock held. 0: look at the socket again; <0: the
 * call ends with it: -EAGAIN (nonblocking, or the timeout passed), -EINTR,
 * or -EBADF when another thread closed fd meanwhile. */
int shim_wait_turn(struct shim_wait *w, struct shim_sock *s, int fd);
/* A datapath that can only be polled (DPDK): waits spin, never sleep.
 * (sleep_inside first: wait_fd is set later only where it is true, so the
 * progress helper may ask this without the instance's lock.) */
static inline bool shim_dp_spin_only(const struct shim_dp *dp)
{
    return dp && !dp->sleep_inside && dp->wait_fd < 0;
}
static inline bool shim_spin_only(void) { return shim_dp_spin_only(shim_dp_current()); }
/* Whether a wait that has spun `spun` ns of its DEMI_SPIN_US spins on:
 * not while other tasks wait for a CPU (dm_cpu_crowded). */
static inline bool shim_spin_on(int64_t spun, int64_t now)
{
    return spun < shim_rt.cfg.spin_ns && (shim_rt.cfg.spin_crowded || !dm_cpu_crowded(now));
}
/* The instances a wait must watch other than the thread's own (focus):
 * fills out[] (at most max), returns how many. */
int shim_focus_others(struct shim_dp **out, int max);
/* An instance's wait fd, asked for on first need (a backend may change
 * mode when someone sleeps on it: io_uring); -1 none. Lock held. */
int shim_dp_wait_fd(struct shim_dp *dp);
/* Before a sleep on dp's wait fd: false when it had to be made just now
 * (what completed before it existed did not signal it: look again). */
bool shim_dp_wait_fd_ready(struct shim_dp *dp);
/* Sleeps inside this thread's instance (io_uring: in io_uring_enter,
 * where a completion wakes the thread at once) until it has work, one of
 * the watched kernel fds is ready, or timeout_ns (< 0: none); after
 * shim_may_sleep() said yes, the caller on its sleepers' list. Lock held
 * on entry and exit (dropped while asleep). 0: slept, or something is
 * there to look at; -EINTR; -EAGAIN: not possible now (another instance
 * is involved, a shared ring...): sleep on the wait fds instead. */
int shim_sleep_inside(const struct pollfd *watch, const uint64_t *ids, int nwatch, int64_t timeout_ns);
/* The wait fds a sleep outside the backend watches (this thread's
 * instance and the focused others) into p; false when one had to be made
 * just now: look again first. */
bool shim_wait_fds(struct pollfd *p, int max, int *n);
bool shim_wait_dps(struct shim_dp **dps, int max, int *n); /* the same, as instances */
/* A number never given out before: names an open file we keep open (an
 * epoll's, a kick eventfd's) for a sleep inside the datapath. */
uint64_t shim_watch_id(void);
/* The id of this thread's kick eventfd (shim_thread_kick_fd). */
uint64_t shim_thread_kick_id(void);
/* Signals (signals.c): handlers are installed wrapped, so that a wait
 * knows which signal ran in its thread and restarts or fails as Linux.
 * mark: at a wait's start. check: -EINTR when a signal that ran since
 * must end the wait (one without SA_RESTART, or any when !restartable:
 * a wait with a timeout, epoll/poll/select), else 0. after_eintr: the
 * same after the kernel's EINTR of our sleep, which may also be io_uring
 * task work (0: sleep again) or a handler installed without us (EINTR
 * unless every such one has SA_RESTART). */
struct shim_sigmark { uint64_t ran, intr; };
void shim_sig_mark(struct shim_sigmark *m);
bool shim_sig_ran(const struct shim_sigmark *m);
int shim_sig_check(const struct shim_sigmark *m, bool restartable);
int shim_sig_after_eintr(const struct shim_sigmark *m, bool restartable);
/* Around a posix_spawn (spawn.c): the fds of offloaded connections that
 * the child inherits hold their kernel sockets meanwhile. begin takes the
 * lock, end gives it back. */
#define SHIM_SPAWN_MAX 64
struct shim_spawn { int n; int fd[SHIM_SPAWN_MAX], saved[SHIM_SPAWN_MAX]; };
void shim_spawn_begin(struct shim_spawn *sp);
void shim_spawn_end(struct shim_spawn *sp);
/* splice() with an offloaded socket on one side (splice.c). Lock not held. */
ssize_t shim_splice(int in, loff_t *off_in, int out, loff_t *off_out, size_t len, unsigned flags);
/* TCP_INFO and SIOCINQ/SIOCOUTQ of an offloaded TCP socket (tcpinfo.c).
 * Lock held. */
int shim_tcp_info(struct shim_sock *s, void *val, socklen_t *len);
int shim_tcp_queued(struct shim_sock *s, unsigned long req, int *out);
/* The hooks of sigaction, signal/bsd_signal/sysv_signal, siginterrupt. */
int shim_sigaction(int sig, const struct sigaction *act, struct sigaction *oact);
sighandler_t shim_signal(int sig, sighandler_t h, bool sysv, int *err);
int shim_siginterrupt(int sig, int interrupt);
/* Sleepers (rt.c). begin: on `list` (guarded by the leaf lock `lock`)
 * with this thread's own kick eventfd (kick_fd < 0: none could be made,
 * the caller's slice bounds the wait); end: off the list, the kick
 * drained. Lock held. shim_kick_list: the list's lock held. */
void shim_sleep_begin(struct shim_sleeper *sl, struct dm_list *list, pthread_mutex_t *lock, int kick_fd);
void shim_sleep_end(struct shim_sleeper *sl);
int shim_thread_kick_fd(void);
void shim_sleepers_child_reset(void);
/* This thread's bounce buffer for one copying path (SHIM_SCRATCH_SIZE
 * bytes), made on first use; NULL when memory is short. One per path, as a
 * splice's send may run a GSO send's activation and so on. */
enum shim_scratch { SHIM_SCRATCH_SPLICE_IN, SHIM_SCRATCH_SPLICE_OUT, SHIM_SCRATCH_GSO, SHIM_SCRATCH_N };
#define SHIM_SCRATCH_SIZE 65536
void *shim_scratch(enum shim_scratch which);
/* Wakes the sleepers that a change of s may concern. Lock held. */
void shim_kick_for(struct shim_sock *s);
void shim_kick_list(struct dm_list *list);
/* qd map of the socket's instance */
void shim_qmap_put(struct shim_sock *s);
void shim_qmap_del(struct shim_sock *s);

/* ---- fd table (fdtab.c) ---- */
struct shim_obj *shim_fd_get(int fd);
int shim_fd_set(int fd, struct shim_obj *o); /* -EMFILE / -ENOMEM */
void shim_fd_clear(int fd);
int shim_fd_max(void);                       /* highest fd ever set, for scans */
/* A thread of the datapath's own device (rt.c): 0 not known yet, 1 no, 2 yes. */
extern __thread signed char shim_internal __attribute__((tls_model("initial-exec")));
bool shim_thread_internal_slow(void);
static inline bool shim_thread_internal(void)
{
    return dm_likely(shim_internal != 0) ? shim_internal == 2 : shim_thread_internal_slow();
}
/* epoll_wait of a device's own thread: the kernel's, between the
 * device's gate (dm_internal_thread_gate) opened and closed. */
int shim_internal_epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout, const sigset_t *ss);
/* Calls made from inside the datapath, or by the device's own threads. */
static inline bool shim_bypass(void) { return shim_depth != 0 || shim_thread_internal(); }
/* Fast unlocked check used by every hook before taking the lock: is fd
 * in our table (never, for the datapath's own calls)? When it is the
 * kernel's, whose call may block, shim_fd_maybe also submits the sends
 * this thread's turn left (shim_tx_owed). Calls that wait for no peer
 * leave a turn's batch for its end: shim_fd_maybe_nopeer for close and
 * sendfile's file, shim_fd_maybe_rw for a read or write (read, write,
 * readv, writev) that an fstat shows is of a regular file or block
 * device. */
bool shim_fd_maybe(int fd);
bool shim_fd_maybe_rw(int fd);
bool shim_fd_maybe_nopeer(int fd);
/* A read or write of this kind of file waits for the disk at most, never
 * for a peer that the turn's owed sends would wake (fstat's st_mode). */
static inline bool shim_mode_no_peer(mode_t m) { return S_ISREG(m) || S_ISBLK(m); }

/* ---- sockets (sock.c) ---- */
struct shim_sock *shim_sock_new(int type);
void shim_sock_unref(struct shim_sock *s);   /* last ref: close the queue */
void shim_sock_free(struct shim_sock *s);    /* (refs gone) */
/* The object alone goes (no queue, no fd of the datapath): its memory,
 * counted by shim_sock_new in mem.shim_sock_bytes, and kaccq. NULL: none. */
void shim_sock_discard(struct shim_sock *s);
/* Hands a PENDING socket to the datapath. dest: connect() peer or NULL.
 * 0 offloaded; 1 the socket went to the kernel (fd no longer ours);
 * SHIM_ACT_SHARED a listener shared by processes: the kernel's listener
 * serves it, waits and polls included, but it stays ours for accept
 * (listen_shared.c). */
#define SHIM_ACT_SHARED 2
int shim_activate(struct shim_sock *s, int fd, const union dm_sockaddr *dest);
void shim_sock_post(struct shim_sock *s);    /* keeps pop/accept posted */
/* A data-path use by this thread (recv, send, epoll/poll of it): a fresh
 * accepted socket moves to this thread's instance and gets its pop. */
void shim_sock_use(struct shim_sock *s);
/* A use that wants input (recv, FIONREAD, a wait for EPOLLIN/POLLIN). */
static inline void shim_sock_want_rx(struct shim_sock *s)
{
    if (dm_unlikely(s->rx_lazy)) {
        s->rx_lazy = false;
        shim_sock_post(s);
    }
}
/* Its watches' epolls learn its instance (after a hand-over or a move). */
void shim_watch_note_dp(struct shim_sock *s);
uint32_t shim_sock_events(struct shim_sock *s, int fd); /* EPOLL* bits now */
/* The pending error (0: none), taken: reported once, whichever call
 * comes first (Linux's sk_err). */
int shim_sock_take_error(struct shim_sock *s);
/* An epoll of ours waited on as a fd (poll, select, another epoll): its
 * kernel fd made readable while one of our sockets in it is ready. */
void shim_epoll_nest(struct shim_epoll *ep);
void shim_epoll_nest_kick(struct shim_epoll *ep, struct shim_watch *w);
/* A message to a kernel socket passing fds (SCM_RIGHTS): a connection of
 * ours that the datapath has not used becomes the kernel's; one it has
 * reaches the other process as its placeholder (logged). */
void shim_scm_rights_check(const struct msghdr *msg);
/* After a recvmsg: connections another process passed (SCM_RIGHTS) are
 * adopted by the datapath at their first use (inherit.c). */
void shim_scm_rights_adopt(const struct msghdr *msg);
/* The UDP backlog (ubl) into the ring, as far as it has room. */
void shim_sock_ubl_refill(struct shim_sock *s);
/* A datagram of sga comes from s's connected peer. */
bool shim_dgram_from_peer(const struct shim_sock *s, const demi_sgarray_t *sga);
void shim_sock_changed(struct shim_sock *s);     /* input and output */
void shim_sock_changed_in(struct shim_sock *s);
void shim_sock_changed_out(struct shim_sock *s);
void shim_sock_rx_drop(struct shim_sock *s);
bool shim_sock_close_resets(const struct shim_sock *s);
void shim_sock_rcvbuf_to_backend(struct shim_sock *s);
/* Holds all it may receive: no more comes until the application reads. */
bool shim_sock_rx_full(const struct shim_sock *s);
/* After a sleep (lock dropped, the caller holds a ref): does fd still name s? */
static inline bool shim_sock_still(struct shim_sock *s, int fd) { return shim_fd_get(fd) == &s->obj; }

int shim_socket(int domain, int type, int protocol);
int shim_bind(int fd, const struct sockaddr *a, socklen_t len);
int shim_listen(int fd, int backlog);
int shim_accept(int fd, struct sockaddr *a, socklen_t *len, int flags);
int shim_connect(int fd, const struct sockaddr *a, socklen_t len);
int shim_close(int fd);
/* Forgets our objects on fds [first, last] (the caller closes the fds). */
void shim_close_range(unsigned first, unsigned last);
int shim_shutdown(int fd, int how);
int shim_getsockname(int fd, struct sockaddr *a, socklen_t *len);
int shim_getpeername(int fd, struct sockaddr *a, socklen_t *len);
int shim_getsockopt(int fd, int level, int name, void *val, socklen_t *len);
int shim_setsockopt(int fd, int level, int name, const void *val, socklen_t len);
int shim_fcntl(int fd, int cmd, long arg);
int shim_ioctl(int fd, unsigned long req, void *arg);
int shim_dup(int oldfd, int newfd, int flags, int mode); /* mode: 0 dup, 2 dup2, 3 dup3 */

/* The options the application set on listener l, onto ns, accepted from
 * it, whose placeholder is nfd (as Linux copies them). */
void shim_sock_inherit_opts(struct shim_sock *ns, const struct shim_sock *l, int nfd);

/* ---- a listener shared by processes (listen_shared.c) ---- */
/* s (fd), PENDING and listening, at its first use, inst this thread's
 * instance: true if it stays the kernel's shared listener (then
 * s->kshared is set). */
bool shim_listen_shared(struct shim_sock *s, int fd, struct dm_instance *inst);
/* accept() on such a listener: the kernel's accept; the connection is
 * adopted by the datapath of the thread that first uses it. Lock held;
 * dropped while the kernel's accept blocks. */
int shim_listen_shared_accept(struct shim_sock *s, int fd, struct sockaddr *a, socklen_t *alen, int flags);

/* ---- a listener's hand-over (handover.c) ---- */
/* The listening placeholder fd is its SO_REUSEPORT group's first socket,
 * and stays so while it listens. Asked before the datapath's socket joins
 * the group. */
bool shim_handover_first(const struct shim_sock *s, int fd);
/* The kernel listener fd stops listening, every connection it took
 * accepted onto s->kaccq. dfd: the datapath's listening kernel socket,
 * in fd's SO_REUSEPORT group; SHIM_HANDOVER_AFTER: the datapath's kernel
 * socket binds the port once fd has stopped; SHIM_HANDOVER_NONE: the
 * datapath's listener is not a kernel socket (dpdk, xdp). first:
 * shim_handover_first() said so. */
#define SHIM_HANDOVER_AFTER (-1)
#define SHIM_HANDOVER_NONE (-2)
void shim_handover_stop(struct shim_sock *s, int fd, int dfd, bool first);

/* ---- close with data in flight (linger.c) ---- */
/* The last ref of s is gone with sends in flight: true when s lingers
 * (its sends go on, shim_linger_check frees it), false for SO_LINGER 0. */
bool shim_linger_take(struct shim_sock *s);
/* After a send of s completed: a lingering socket whose last one is in
 * closes (s may be freed). */
void shim_linger_check(struct shim_sock *s);
/* close() with SO_LINGER l_linger > 0: waits up to that for its sends. */
void shim_linger_wait(struct shim_sock *s);
/* The instance of a lingering socket (to drain at exit), or NULL. */
struct shim_dp *shim_linger_dp(void);

/* ---- data (io.c) ---- */
ssize_t shim_recvmsg(int fd, struct msghdr *msg, int flags);
ssize_t shim_sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t shim_sendfile(int out_fd, int in_fd, off_t *offset, size_t count);
int shim_recvmmsg(int fd, struct mmsghdr *v, unsigned n, int flags, struct timespec *tmo);
int shim_sendmmsg(int fd, struct mmsghdr *v, unsigned n, int flags);

/* ---- readiness (epoll.c, poll.c) ---- */
int shim_epoll_create(int flags);
int shim_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
int shim_epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout_ms, const sigset_t *sigmask);
/* A receive or send on fd, lock held: when fd is the next of the sockets
 * this thread's last epoll_wait reported, the state of the ones after it
 * is asked into the cache (epoll.c). */
void shim_epoll_pf_next(int fd);
void shim_epoll_unref(struct shim_epoll *ep);
void shim_watch_drop_all(struct shim_sock *s);
void shim_watch_mark(struct shim_sock *s); /* its watches may be ready */
/* Moves a socket's watches into the kernel epolls (socket went kernel). */
void shim_watch_to_kernel(struct shim_sock *s, int fd);
/* Pure readiness step of one watch: events to report (0 none); updates
 * seen_gen / disabled for ET / ONESHOT. Unit tested. */
uint32_t shim_watch_check(struct shim_watch *w, uint32_t ready, uint32_t gen_in, uint32_t gen_out);
int shim_poll(struct pollfd *fds, nfds_t n, int64_t timeout_ns, const sigset_t *sigmask);
int shim_select(int nfds, fd_set *r, fd_set *w, fd_set *e, int64_t timeout_ns, const sigset_t *sigmask);
bool shim_poll_needed(const struct pollfd *fds, nfds_t n);

/* ---- inherited connections (inherit.c) ---- */
/* Forked child, before its buffers are reset: an offloaded socket of the
 * parent becomes INHERITED (TCP), the kernel's (UDP) or ORPHAN (a stack
 * of its own); a listener's accepted-ahead connections are closed here. */
void shim_inherit_child(struct shim_sock *s);
/* Forked child: a socket the parent closed while its sends go on
 * (linger.c) is the parent's to finish; our copy of it is closed. */
void shim_inherit_child_lingering(struct shim_sock *s);
int shim_inherit_claim(struct shim_sock *s, int fd);
/* Lock held, at a call on fd's socket (not close/dup/fcntl): an INHERITED
 * one is adopted by this process's datapath now, a REMOTE one relayed
 * (relay.c). 1: fd is a kernel socket now (the caller passes the call on
 * to libc; a RELAYED socket stays ours for names and options), else 0. */
static inline int shim_sock_claim(struct shim_sock *s, int fd)
{
    return dm_likely(s->state < SHIM_INHERITED) ? 0 : shim_inherit_claim(s, fd);
}
/* A connection that lives in the parent's datapath, relayed or not yet. */
static inline bool shim_sock_remote(const struct shim_sock *s) { return s->state >= SHIM_REMOTE; }
/* Before exec: fd (not CLOEXEC) names connection s; it gets the kernel
 * socket itself. Lock held. */
void shim_inherit_exec(struct shim_sock *s, int fd);
/* A call on an ORPHAN: logged once, -EIO. */
int shim_orphan_eio(void);
void shim_inherit_exec_failed(void);
/* The socket leaves the shim: every fd naming it is a kernel fd (sock.c). */
void shim_sock_to_kernel(struct shim_sock *s, int fd);
/* The same, each of those fds made kernel socket kfd first (sock.c). */
void shim_sock_onto_kernel(struct shim_sock *s, int kfd);

/* ---- relays of inherited connections, own stack (relay.c) ---- */
/* Control sockets and relays alive in this process: while 0, progress
 * pays one check for them. Lock held. */
extern unsigned shim_relay_live;
#define SHIM_RELAY_HELPER_NS (20 * 1000) /* the progress helper's period meanwhile */
/* fork, lock held. begin: before the real fork, makes the control pair
 * (ctl[0] the parent's end) when connections will need a relay, else
 * leaves -1s (and pairs for our REMOTE sockets' datapaths). parent: after
 * it (pid < 0: it failed), the parent's refs, and the child introduced
 * to those datapaths. child: before child_reset, so that
 * shim_inherit_child asks shim_relay_offered (true: s is REMOTE, its
 * relay_up set). */
void shim_relay_fork_begin(int ctl[2]);
void shim_relay_fork_parent(int ctl[2], pid_t pid);
void shim_relay_fork_child(int ctl[2]);
bool shim_relay_offered(struct shim_sock *s);
/* A REMOTE socket's first use: 1 relayed (fd is the unix socket now), 0
 * it became ORPHAN (no relay). RELAYED: 1. */
int shim_relay_claim(struct shim_sock *s, int fd);
/* From shim_sock_free of a shared socket: true when a child still holds
 * the connection (the parent's last fd closed; the relay keeps s). */
bool shim_relay_free(struct shim_sock *s);
/* From shim_progress: control messages and relay bytes, throttled. */
int shim_relay_step(void);
/* The last look before a sleep (shim_may_sleep): a whole step, which
 * also sets what the relays' wait fd watches; > 0: something moved, do
 * not sleep. The wait fd: readable when a child's bytes, claim or exit
 * wait (a sleep watches it with the datapath's), -1 with no relays.
 * All locks held. */
int shim_relay_before_sleep(void);
int shim_relay_wait_fd(void);
/* At exit or exec (shim_drain): the relays' bytes still move, until they
 * are done or the deadline (the connections end with this datapath). */
void shim_relay_drain(int64_t deadline);
/* A RELAYED fd's calls, lock held (they release it): the unix socket's
 * I/O, with what the parent told of the connection's end (a reset). */
bool shim_relay_io(int fd);
ssize_t shim_relay_recvmsg(int fd, struct msghdr *msg, int flags);
ssize_t shim_relay_sendmsg(int fd, const struct msghdr *msg, int flags);
/* s REMOTE or RELAYED: claimed, the parent told, then the unix socket's
 * shutdown. */
int shim_relay_shutdown(struct shim_sock *s, int fd, int how);
int shim_relay_getsockopt(struct shim_sock *s, int fd, int level, int name, void *val, socklen_t *len);
int shim_relay_setsockopt(struct shim_sock *s, int fd, int level, int name, const void *val, socklen_t len);
/* io.c: a relay's byte pumps over a connected stream s (no fd of the
 * application). rx_to_fd: what s received, to fd (nonblocking), bytes
 * or -errno. push: up to len bytes of buf as sends of s (what fits),
 * -EAGAIN no room, -EPIPE it sends no more. space: the send room. */
ssize_t shim_sock_rx_to_fd(struct shim_sock *s, int fd);
ssize_t shim_sock_push(struct shim_sock *s, const void *buf, size_t len);
size_t shim_sock_tx_space(const struct shim_sock *s);
/* The unread bytes of s's receive buffer as iovecs, in order; their
 * count (at most SHIM_RX_IOV_MAX). */
#define SHIM_RX_IOV_MAX (SHIM_RXRING * DEMI_SGARRAY_MAXSIZE)
int shim_sock_rx_iov(const struct shim_sock *s, struct iovec *v);
/* getsockopt's answer of an int, cut to *len as Linux does (sock.c). */
int shim_put_int(int v, void *val, socklen_t *len);

/* ---- processes (proc.c) ---- */
pid_t shim_fork(void);
void shim_before_exec(void);
void shim_exec_failed(void);  /* the exec returned: undo what before_exec did */
void shim_drain(int64_t timeout_ns);
/* At exit (the destructor, or _exit): pushes out what is still in flight,
 * up to DEMI_LINGER_MS; once. */
void shim_at_exit(void);

/* ---- policy (offload.c) and options (opts.c): pure, unit tested ---- */
struct shim_rules;
int shim_rules_parse(const char *spec, struct shim_rules **out); /* -EINVAL on syntax */
void shim_rules_free(struct shim_rules *r);
/* Does a socket with this local and remote address go to the datapath? */
bool shim_rules_match(const struct shim_rules *r, const struct sockaddr_in *local,
                      const struct sockaddr_in *remote);
bool shim_offload_addr_ok(const struct sockaddr_in *a, int offload_loopback);
int shim_offload_decide(const struct shim_rules *r, const struct shim_cfg *c, int type,
                        const struct sockaddr_in *local, const struct sockaddr_in *remote,
                        const char **why);
/* The same for either family: an IPv6 address is judged as the IPv4
 * address the rules would see (shim_offload_v4view). */
int shim_offload_decide_addr(const struct shim_rules *r, const struct shim_cfg *c, int type,
                             const union dm_sockaddr *local, const union dm_sockaddr *remote,
                             const char **why);
void shim_offload_v4view(const union dm_sockaddr *a, struct sockaddr_in *out);
extern struct shim_rules *shim_offload_rules;

enum shim_optclass {
    SHIM_OPT_BACKEND = 1,  /* forwarded to the datapath and mirrored on the placeholder */
    SHIM_OPT_SHIM,         /* answered by the shim's own state */
    SHIM_OPT_KERNEL,       /* kept on the placeholder only (harmless to us) */
    SHIM_OPT_UNSUPPORTED,  /* ENOPROTOOPT */
    SHIM_OPT_BACKEND_STRICT, /* forwarded; the datapath's error is the answer */
    SHIM_OPT_ANCILLARY,    /* asks for ancillary data the datapath does not
                              give: a socket not yet handed over stays in the
                              kernel */
};
int shim_opt_class(int level, int name, bool set);
/* The first option asking for ancillary data that is on for the kernel
 * socket fd (its name), NULL when none is. */
const char *shim_ancillary_on(int fd);
/* The first control message of a send that the datapath cannot honour
 * (its name), NULL when there is none. *gso: UDP_SEGMENT's size, 0 none. */
const char *shim_cmsg_unsupported(const struct msghdr *msg, uint16_t *gso);
const char *shim_opt_name(int level, int name);

/* Helpers */
/* A pointer argument into the zero page (NULL, a member of a NULL
 * struct): the kernel's copy would fault, so the call is EFAULT where the
 * shim's own access would crash the program. Other bad pointers are not
 * looked for (that would cost a system call). */
static inline bool shim_bad_ptr(const void *p)
{
    return dm_unlikely((uintptr_t)p < 4096);
}
int shim_copy_addr(const union dm_sockaddr *sa, struct sockaddr *a, socklen_t *len);
/* An address argument for a socket of this family, checked as Linux does. */
int shim_check_addr(const struct sockaddr *a, socklen_t len, int family, union dm_sockaddr *out);
bool shim_addr_eq(const union dm_sockaddr *a, const union dm_sockaddr *b); /* address and port */

#endif /* DM_SHIM_H */
