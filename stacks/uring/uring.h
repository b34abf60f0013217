/* SPDX-License-Identifier: MIT */
/*
 * stacks/uring: kernel sockets driven through io_uring (internal header).
 *
 * How this backend works
 *  - One ring per instance. Every socket call that waits (accept, connect,
 *    send, recv, sendmsg/recvmsg, shutdown, close) is an SQE; SQEs are only
 *    queued by the ops and submitted by poll(), so one wait loop costs one
 *    io_uring_enter (submit + reap + optional sleep, all in one call).
 *  - CQE user_data is never a dm_op: it is one of the request records
 *    (struct ur_req) embedded in our socket (struct ur_sock). Ops are looked
 *    up on the queue at completion time (dm_queue_first_op), so once close()
 *    detached the socket from its queue no completion can reach a stale op.
 *    A closed socket lives on until its last in-flight request came back,
 *    then its fd and fixed-file slot are closed by SQEs and it is freed.
 *  - TCP receive: a multishot recv picks buffers from a provided buffer
 *    ring (uring_bufring.c); chunks that arrive while no pop is pending are
 *    queued per socket (rxq) and handed to pops by reference (the dm_buf
 *    wraps the ring buffer; freeing it recycles the buffer). A full rxq
 *    cancels the multishot (backpressure: data stays in the kernel), which
 *    is re-armed when pops drained it. Without multishot/buffer ring, one
 *    single-shot recv per pending pop into a pool dm_buf.
 *  - TCP send: one send in flight per socket, gathering the pending pushes
 *    into one sendmsg; short sends advance through the chain and resubmit.
 *  - Anything that could not get an SQE (ring full) is remembered in
 *    ur_sock.need and retried at the next poll: never dropped.
 *
 * Files: uring.c (setup, probing, poll loop, CQE dispatch), uring_sock.c
 * (socket control ops, shutdown, close), uring_rx.c (pop/recv),
 * uring_tx.c (push/send), uring_conn.c (accept/connect), uring_bufring.c.
 */
#ifndef DM_URING_H
#define DM_URING_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/types.h>
#include <sys/uio.h>
#include "dm/instance.h"
#include "dm/list.h"
#include "dm/queue.h"
#include "dm/stack.h"
#include "uring_hooks.h"

#define UR_MOD "uring"

/* A shared ring (DEMI_URING_SHARED=1, or auto mode once a second thread
 * drove the instance): any thread may drive it (callers serialise) and a
 * completion wakes a thread sleeping outside the ring (plain task work
 * signals the submitter): these are off. */
#define UR_F_THREAD_BOUND (UR_F_DEFER_TASKRUN | UR_F_SINGLE_ISSUER | UR_F_COOP_TASKRUN)
#define UR_F_NAMES { "multishot_accept", "multishot_recv", "buf_ring", "fixed_files", \
                     "send_zc", "defer_taskrun", "single_issuer", "sqpoll", "fixed_buffers", \
                     "buf_inc", "io_uring", "coop_taskrun" }

/* user_data encoding: 0 = ignore the CQE; odd = a fixed-file slot was
 * closed ((slot << 2) | 1) or filled ((slot << 2) | 3); other = struct
 * ur_req * (8-byte aligned). */
#define UR_UD_IGNORE 0ull
#define UR_UD_SLOT(slot) (((uint64_t)(slot) << 2) | 1u)
#define UR_UD_SLOT_SET(slot) (((uint64_t)(slot) << 2) | 3u)
/* even and below 4096: the polls of a sleep inside the ring (uring_sleep.c) */
#define UR_UD_WAKE 4ull
#define UR_WATCH_MAX 8         /* kernel fds one sleep can watch */

enum ur_req_kind { UR_RQ_RX = 1, UR_RQ_TX, UR_RQ_ACCEPT, UR_RQ_CONNECT, UR_RQ_SHUT };

struct ur_sock;

struct ur_req {
    uint8_t kind;        /* enum ur_req_kind */
    uint8_t inflight;    /* an SQE is out, its final CQE not yet seen */
    uint8_t multishot;   /* the in-flight SQE is multishot */
    uint8_t canceling;   /* a cancel SQE was sent for it */
    uint8_t stale;       /* in flight on a ring being replaced (ur_move_ring) */
    struct ur_sock *s;
};

/* Retry bits (ur_sock.need): work that found the SQ ring full. */
enum { UR_NEED_RX = 1u << 0, UR_NEED_TX = 1u << 1, UR_NEED_ACCEPT = 1u << 2,
       UR_NEED_CANCEL = 1u << 3, UR_NEED_FINISH = 1u << 4, UR_NEED_SHUT = 1u << 5,
       UR_NEED_CONNECT = 1u << 6 };

enum ur_state { UR_S_NEW = 0, UR_S_LISTEN, UR_S_CONNECTING, UR_S_CONNECTED };

/* A received chunk waiting for a pop: a ring buffer (b == NULL, bid) or a
 * dm_buf already filled (single-shot recv, UDP: its source in rx_from). */
struct ur_chunk {
    struct dm_buf *b;
    uint32_t len;
    uint32_t off;              /* where in ring buffer bid (signed: may be in the slack before it) */
    uint16_t bid;
};

/* An accepted connection waiting for an accept op. */
struct ur_accepted {
    int fd;
    int has_addr;
    union dm_sockaddr addr;
};

#define UR_RXQ_MAX 64          /* per-socket chunk queue (power of 2) */
#define UR_MAX_IOV 32          /* segments gathered into one sendmsg */

struct ur_stack;

struct ur_sock {
    struct ur_stack *st;
    struct dm_queue *q;        /* NULL once closed */
    int fd;
    int slot;                  /* fixed-file index, -1 when none */
    uint8_t type;              /* SOCK_STREAM / SOCK_DGRAM */
    uint8_t family;            /* AF_INET / AF_INET6 (sockets from ur_socket) */
    uint8_t state;             /* enum ur_state */
    uint8_t bound;
    uint8_t shut_rd, shut_wr;  /* shutdown requested */
    uint8_t shut_sent;         /* SHUT_WR SQE issued (how in shut_how) */
    uint8_t eof;               /* peer finished (recv returned 0) */
    uint8_t tx_reset;          /* a send saw the reset (ECONNRESET): see ur_rx_cqe */
    uint8_t rx_paused;         /* multishot canceled because rxq is full */
    uint8_t rx_starved;        /* buffer ring ran dry (ENOBUFS): rearm later */
    uint8_t tx_zc;             /* in-flight send is zero-copy (refs held) */
    uint8_t tx_held;           /* refs taken on tx_segs (closed while sending) */
    uint8_t in_retry, in_starved;
    uint8_t conn_resume;       /* connect started on a replaced ring: poll for its end */
    uint8_t slot_later;        /* accepted, movable: its fixed slot at its first pop */
    uint8_t slot_lost;         /* the kernel refused its slot: EBADF means "again, by fd" */
    uint8_t acc_single;        /* a listener shut down: single-shot accepts only */
    int shut_how;
    int rx_err;                /* error to report on the next pop (positive) */
    uint32_t need;             /* UR_NEED_* */
    unsigned nr_inflight;      /* requests with an SQE out */
    struct dm_list link;       /* in st->retry */
    struct dm_list slink;      /* in st->starved */
    struct dm_list alink;      /* in st->socks (every live socket) */

    struct ur_req rx, tx, acc, conn, shut;

    /* receive */
    uint32_t rcvbuf;           /* SO_RCVBUF as Linux reads it back, if set: rxq
                                  holds about that many bytes at most */
    uint32_t rxq_bytes;        /* in rxq and ovf */
    uint16_t rxq_head, rxq_count;
    struct ur_chunk rxq[UR_RXQ_MAX];
    struct dm_buf *ovf_head, *ovf_tail; /* chunks past a full rxq (rare) */
    struct dm_buf *rx_buf;     /* single-shot recv target */
    struct msghdr rx_msg;
    struct iovec rx_iov;
    union dm_sockaddr rx_from;

    /* send */
    uint32_t tx_bytes;         /* bytes in the in-flight send */
    uint16_t tx_nsegs;
    unsigned tx_sqe_pos;       /* its SQE's place in the SQ ring (ur_tx_join) */
    struct io_uring_sqe *tx_sqe; /* that SQE while later pushes may join it */
    struct dm_buf *tx_segs[UR_MAX_IOV];
    struct iovec tx_iov[UR_MAX_IOV];
    struct msghdr tx_msg;
    union dm_sockaddr tx_to;

    /* connect */
    union dm_sockaddr peer;

    /* accept (listening sockets) */
    struct ur_accepted *accq;
    uint32_t accq_head, accq_count, accq_cap;
    union dm_sockaddr acc_addr;
    socklen_t acc_addrlen;
};

struct ur_bufring;

struct ur_counters {
    uint64_t enters, sqes, cqes, sq_full, rx_chunks, rx_bytes, rx_enobufs, rx_paused,
             rx_copied, tx_sends, tx_short, tx_bytes, tx_zc, accepts, accept_paused,
             late_cqes, rx_overflow, tx_zc_fixed, ring_moves, rx_merged_wait,
             rx_joined, rx_join_bytes, sleeps, ksteps, move_waits, cq_flushes,
             old_ring_waits, tx_joined, slot_set_fail;
};
#define UR_COUNTER_NAMES { "enters", "sqes", "cqes", "sq_full", "rx_chunks", "rx_bytes", \
                           "rx_enobufs", "rx_paused", "rx_copied", "tx_sends", "tx_short", \
                           "tx_bytes", "tx_zc", "accepts", "accept_paused", "late_cqes", \
                           "rx_overflow", "tx_zc_fixed", "ring_moves", "rx_merged_wait", \
                           "rx_joined", "rx_join_bytes", "sleeps", "ksteps", "move_waits", \
                           "cq_flushes", "old_ring_waits", "tx_joined", "slot_set_fail" }

/* Memory of the backend ("mem" gauges, computed when read: ur_mem_refresh). */
struct ur_mem {
    uint64_t uring_ring_bytes;   /* SQ and CQ rings and SQEs, shared with the kernel */
    uint64_t uring_rx_bytes;     /* provided receive buffers and their ring, in memory */
    uint64_t uring_files_bytes;  /* fixed-file slot stack, as far as used */
};

struct ur_stack {
    /* Set when io_uring is unavailable: every op goes to this backend. */
    struct io_uring ring;
    struct dm_instance *inst;
    uint32_t feat;             /* UR_F_* in use */
    bool busypoll;
    bool movable_accepts;      /* DEMI_MOVABLE_ACCEPTS: no receive before an accepted socket's first pop */
    uint64_t next_ud;          /* ur_reap: the CQE after the one dispatched (0: none yet) */
    /* Auto mode (DEMI_URING_SHARED=auto, the default): the ring is bound to
     * the thread that made it (fast: deferred task work) until another
     * thread drives the instance; then ur_move_ring() moves every socket
     * to a ring bound to that thread, and the next time to a shared ring.
     * owner_tid is 0 when the ring is shared or fixed in its mode. */
    int owner_tid;
    pid_t owner_pid;
    uint32_t bound_want;       /* the UR_F_* a thread-bound ring asks for */
    bool defer_auto;           /* DEMI_URING_DEFER_TASKRUN=auto: probe before a wait fd is made */
    uint8_t rebinds_left;      /* moves to a ring bound to the new thread before
                                  a move to a shared one */
    bool moving;               /* in ur_move_ring: a cancel is not a failure */
    int sentinel;              /* read end of a pipe whose write end only the
                                  ring holds (a fixed file): EOF = the ring is gone */
    unsigned entries;
    int sq_cpu;                /* DEMI_URING_SQPOLL_CPU, -1: none */
    pid_t sq_pid;              /* the process whose SQ thread the ring uses (0: none) */
    int creator_tid;           /* the thread that made the ring (a ring bound for good) */
    /* Sleeping inside the ring (uring_sleep.c) */
    int wake_fd;               /* eventfd: another thread evicts the sleeper */
    bool wake_armed;           /* a poll on wake_fd is in the ring */
    bool sleep_off;            /* the ring refused this thread's sleep (EEXIST) */
    int sleeping;              /* a thread is in ur_sleep (atomic) */
    unsigned sleep_submit;     /* SQEs that sleep's enter submits */
    uint64_t watch_next;       /* user_data of the last watch armed */
    uint64_t watch_turn;       /* sleeps armed (LRU clock of the watches) */
    bool watch_fired;          /* a watch's CQE came since the last arm */
    struct ur_watch { uint64_t id, ud, turn; int fd; short events; } watch[UR_WATCH_MAX];
    int evfd;                  /* eventfd registered lazily by wait_fd(), or -1 */
    bool evfd_armed;           /* the caller calls wait_arm() before it sleeps:
                                  poll() need not drain evfd */
    uint32_t zc_min;           /* pushes of at least this many bytes go SEND_ZC */
    uint32_t rx_limit;         /* rxq chunks before the multishot is paused */
    struct ur_bufring *br;     /* NULL without UR_F_BUF_RING */
    int *slot_free;            /* fixed-file slots given back (a stack) */
    int nslots, slot_top;
    int slot_fresh;            /* slots [slot_fresh, nslots) never used: taken in
                                  order, so slot_free is touched only as far as
                                  the process uses slots, not 64 KiB up front */
    int *slot_set_fds;         /* the fd each slot-filling SQE names, by SQE index */
    unsigned slot_set_cap;
    bool slot_refuse;          /* dm_uring_refuse_next_slot (tests) */
    /* Registered (fixed) buffers: buffer pools seen in zero-copy sends,
     * registered on first sight so the kernel need not pin per send. */
    struct { const struct dm_bufpool *pool; uint8_t *base; size_t len; int ok; } fixbuf[8];
    unsigned nfixbuf;
    struct dm_list retry;      /* sockets with need != 0 */
    struct dm_list starved;    /* sockets waiting for ring buffers */
    struct dm_list socks;      /* every socket not yet freed */
    struct ur_counters c;
    struct ur_mem mem;
};

/* uring.c */
/* A free fixed-file slot, or -1 when none is left; a slot given back. */
int ur_slot_get(struct ur_stack *st);
void ur_slot_put(struct ur_stack *st, int slot);
size_t ur_slots_mem(const struct ur_stack *st);
struct io_uring_sqe *ur_sqe(struct ur_stack *st);
/* Auto mode: called from a thread other than the ring's owner, before
 * anything enters the ring. Moves every socket to a ring bound to this
 * thread the first time, to a shared ring after (see uring_share.c). */
int ur_move_ring(struct ur_stack *st);
/* Auto mode: plants the sentinel in the ring's fixed-file table. */
void ur_sentinel_plant(struct ur_stack *st);
int ur_ring_init(struct ur_stack *st, unsigned entries, uint32_t want);
int ur_gettid(void);
static inline bool ur_foreign(const struct ur_stack *st)
{
    return st->owner_tid != 0 && dm_unlikely(st->owner_tid != ur_gettid());
}
void ur_sqe_file(struct io_uring_sqe *sqe, const struct ur_sock *s);
void ur_retry_later(struct ur_sock *s, uint32_t need);
void ur_req_issued(struct ur_req *r, bool multishot);
/* Marks the request's final CQE; frees a closed socket with nothing left. */
void ur_req_done(struct ur_req *r);
int ur_map_err(int res); /* positive errno from a CQE result */
/* Handles CQEs in the CQ ring (no syscall); returns how many. */
int ur_reap(struct ur_stack *st);
/* One CQE's worth: to the request's handler (or slot free list). */
void ur_dispatch(struct ur_stack *st, uint64_t ud, int res, uint32_t flags);

/* uring_sleep.c */
int ur_sleep_arm(void *stp, const struct pollfd *watch, const uint64_t *ids, int nwatch);
int ur_sleep(void *stp, int64_t timeout_ns);
/* user_data below 4096 is never a struct ur_req (ur_dispatch): the
 * sleep's tags */
#define UR_UD_WATCH_END 4096u
static inline bool ur_ud_is_sleep(uint64_t ud) { return ud < UR_UD_WATCH_END; }
void ur_sleep_cqe(struct ur_stack *st, uint64_t ud, uint32_t flags);
void ur_sleep_ring_gone(struct ur_stack *st);
/* Before the ring is replaced: wakes a thread asleep in it, waits until it left. */
void ur_sleeper_evict(struct ur_stack *st);

/* uring_sock.c */
struct ur_sock *ur_sock_new(struct ur_stack *st, int fd, int type);
/* Registers s in the ring's fixed-file table when a slot is free: at
 * once (ur_sock_take_slot), or by an SQE ahead of the next ones
 * (ur_sock_take_slot_sqe: a connected socket's, no syscall). */
void ur_sock_take_slot(struct ur_sock *s);
void ur_sock_take_slot_sqe(struct ur_sock *s);
/* The CQE of that SQE. */
void ur_slot_set_cqe(struct ur_stack *st, int slot, int res);
void ur_sock_maybe_finish(struct ur_sock *s);
void ur_sock_finish(struct ur_sock *s);
void ur_shut_kick(struct ur_sock *s);
void ur_shut_cqe(struct ur_sock *s, int res);
void ur_cancel_all(struct ur_sock *s);
void ur_sock_free_now(struct ur_sock *s); /* destroy path */
int ur_socket(void *stp, struct dm_queue *q, int domain, int type, int protocol);
int ur_bind(void *stp, struct dm_queue *q, const union dm_sockaddr *addr);
int ur_listen(void *stp, struct dm_queue *q, int backlog);
int ur_shutdown(void *stp, struct dm_queue *q, int how);
int ur_close(void *stp, struct dm_queue *q);
int ur_detach(void *stp, struct dm_queue *q);
int ur_adopt(void *stp, struct dm_queue *q, int fd);
void ur_fork_child(struct ur_stack *st);
int ur_setsockopt(void *stp, struct dm_queue *q, int level, int name, const void *val, socklen_t len);
int ur_getsockopt(void *stp, struct dm_queue *q, int level, int name, void *val, socklen_t *len);
int ur_getsockname(void *stp, struct dm_queue *q, union dm_sockaddr *out);
int ur_getpeername(void *stp, struct dm_queue *q, union dm_sockaddr *out);

/* uring_rx.c */
int ur_pop(void *stp, struct dm_queue *q, struct dm_op *op);
void ur_rx_arm(struct ur_sock *s);
void ur_rx_cqe(struct ur_sock *s, int res, uint32_t flags);
void ur_rx_deliver(struct ur_sock *s);
void ur_rx_drop_all(struct ur_sock *s);
void ur_rx_rearm_starved(struct ur_stack *st);

/* uring_tx.c */
int ur_fixbuf_index(struct ur_stack *st, const struct dm_buf *seg);
int ur_push(void *stp, struct dm_queue *q, struct dm_op *op);
void ur_tx_kick(struct ur_sock *s);
void ur_tx_cqe(struct ur_sock *s, int res, uint32_t flags);
void ur_tx_hold(struct ur_sock *s);
bool ur_tx_idle(struct ur_sock *s);

/* uring_conn.c */
int ur_accept(void *stp, struct dm_queue *q, struct dm_op *op);
int ur_connect(void *stp, struct dm_queue *q, struct dm_op *op);
void ur_acc_arm(struct ur_sock *s);
void ur_acc_cqe(struct ur_sock *s, int res, uint32_t flags);
void ur_acc_drop_all(struct ur_sock *s);
void ur_conn_submit(struct ur_sock *s);
void ur_conn_cqe(struct ur_sock *s, int res);

/* uring_bufring.c: the provided buffer ring (group 0). */
/* hot: buffers published at a time (0: all); inc_only: fail with
 * -EOPNOTSUPP unless incremental consumption works. */
int ur_br_create(struct ur_stack *st, uint32_t count, uint32_t size, uint32_t hot, bool inc, bool inc_only);
void ur_br_destroy(struct ur_stack *st);
void *ur_br_addr(const struct ur_bufring *br, uint16_t bid);
/* Byte off of buffer bid; off is signed: a joined chunk may start in the
 * slack before the buffer. */
uint8_t *ur_br_ptr(const struct ur_bufring *br, uint16_t bid, uint32_t off);
uint32_t ur_br_size(const struct ur_bufring *br);
/* The buffer whose slot (slack included) holds p, or -1. */
int ur_br_id(const struct ur_bufring *br, const void *p);
/* Bytes before and after each buffer that only joins of split receives use. */
uint32_t ur_br_slack(const struct ur_bufring *br);
/* Free buffers: published and not finished, or spare. */
uint32_t ur_br_avail(const struct ur_bufring *br);
size_t ur_br_mem(const struct ur_bufring *br); /* its buffers and ring in memory now */
/* A CQE put `len` bytes into buffer bid: returns their offset in it and
 * holds the buffer until ur_br_put() (one per take). */
uint32_t ur_br_take(struct ur_bufring *br, uint16_t bid, uint32_t len, uint32_t cqe_flags);
void ur_br_put(struct ur_bufring *br, uint16_t bid);
/* Registers the same buffers with st->ring (a new ring): what the kernel
 * had not consumed is published again, from where it had got to. */
int ur_br_rebind(struct ur_stack *st);
/* Wraps a chunk of buffer bid as a dm_buf whose free puts the chunk. */
struct dm_buf *ur_br_wrap(struct ur_stack *st, uint16_t bid, uint32_t off, uint32_t len);

#endif /* DM_URING_H */
