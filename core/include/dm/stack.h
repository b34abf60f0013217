/* SPDX-License-Identifier: MIT */
/*
 * Stacks (backends): what serves the socket queues of an instance. One ops
 * table per backend, registered by name at load time (DM_STACK_REGISTER);
 * DEMI_BACKEND picks one per instance. Nothing above core/ knows which.
 *
 * All ops return 0 or -errno (the errno Linux would give for the same
 * socket call). Async ops (accept, connect, push, pop) get an op that is
 * already on q->ops; they may complete it at once or later from poll().
 * Returning an error from an async op means "not started": the core then
 * releases the op itself and the caller gets the error synchronously.
 *
 * poll(st, block_ns): make progress (RX, TX, completions). A backend that
 * can sleep (kernel sockets) may block up to block_ns when it has nothing
 * to do; block_ns 0 means do not block. Returns the number of events
 * handled (>= 0) or -errno.
 */
#ifndef DM_STACK_H
#define DM_STACK_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include "dm/addr.h"
#include "dm/compiler.h"
#include "dm/config.h"
#include "dm/queue.h"

struct dm_instance;

struct dm_stack_ops {
    const char *name;
    int (*create)(struct dm_instance *inst, const struct dm_config *cfg, void **st);
    void (*destroy)(void *st);
    int (*socket)(void *st, struct dm_queue *q, int domain, int type, int protocol);
    /* Addresses are sockaddr_in or sockaddr_in6 by family (dm/addr.h);
     * a backend without inet6 refuses AF_INET6 with -EAFNOSUPPORT. */
    int (*bind)(void *st, struct dm_queue *q, const union dm_sockaddr *addr);
    int (*listen)(void *st, struct dm_queue *q, int backlog);
    int (*accept)(void *st, struct dm_queue *q, struct dm_op *op);
    int (*connect)(void *st, struct dm_queue *q, struct dm_op *op); /* peer in op->addr */
    int (*push)(void *st, struct dm_queue *q, struct dm_op *op);    /* data in op->chain; op->addr if has_addr */
    int (*pop)(void *st, struct dm_queue *q, struct dm_op *op);
    int (*shutdown)(void *st, struct dm_queue *q, int how);
    int (*close)(void *st, struct dm_queue *q);
    int (*setsockopt)(void *st, struct dm_queue *q, int level, int name, const void *val, socklen_t len);
    int (*getsockopt)(void *st, struct dm_queue *q, int level, int name, void *val, socklen_t *len);
    int (*getsockname)(void *st, struct dm_queue *q, union dm_sockaddr *out);
    int (*getpeername)(void *st, struct dm_queue *q, union dm_sockaddr *out);
    int (*poll)(void *st, int64_t block_ns);
    /* Optional: a kernel fd that becomes readable when poll() has work, so
     * an application's epoll/poll can sleep on it; -1 when busy polling is
     * the only way (DPDK). */
    int (*wait_fd)(void *st);
    /* Optional: the caller is about to sleep on wait_fd. Makes sure any
     * work from now on makes it readable, and returns > 0 when work is
     * already there (then do not sleep). A caller that uses it may let the
     * backend skip keeping wait_fd quiet on every poll (io_uring: a read
     * of its eventfd per poll). */
    int (*wait_arm)(void *st);
    /* Optional: sleeping inside the backend instead of on wait_fd, for a
     * backend whose wake-ups are cheaper there (io_uring with deferred task
     * work: a thread waiting in io_uring_enter is woken by the completion
     * itself; the ring's eventfd may be signalled late, and the plain task
     * work that signals it at once interrupts the thread per completion).
     * sleep_arm(st, watch, ids, n), caller's lock held: the kernel fds in
     * watch wake the sleep too (their events); ids[i] names watch[i]'s open
     * file and is never used for another one (0: unknown), so a backend
     * may keep a watch armed across sleeps. Returns 0: call sleep() next;
     * > 0: work is already there, look again; -EAGAIN: not from this
     * thread now (sleep on wait_fd instead). sleep(st, timeout_ns) runs
     * with the caller's lock dropped and touches only the kernel; returns
     * 0 (woken or timed out) or -EINTR. Either both or neither. */
    int (*sleep_arm)(void *st, const struct pollfd *watch, const uint64_t *ids, int nwatch);
    int (*sleep)(void *st, int64_t timeout_ns);
    /* Optional, for backends over kernel sockets: several instances in
     * one process are independent, so the preload gives each thread its
     * own (thread_instances), and a connected socket moves between them:
     * detach(st, q) hands back its kernel fd when nothing is in flight or
     * queued on it (-EBUSY otherwise; the queue is then released by the
     * core, the fd left open); adopt(st, q, fd) serves a connected kernel
     * socket on a new queue. */
    bool thread_instances;
    int (*detach)(void *st, struct dm_queue *q);
    int (*adopt)(void *st, struct dm_queue *q, int fd);
    /* Optional, for backends over kernel sockets: the kernel socket that
     * serves q (>= 0), without touching anything. The preload's forked
     * child reads it from its copy of the parent's instance (the fd
     * number is the child's own copy) to serve the connection itself, and
     * an exec hands it to the new program. */
    int (*kernel_fd)(void *st, struct dm_queue *q);
    /* Optional: called in a forked child on its copy of the parent's
     * instance, which it never drives. Closes the child's copies of the
     * kernel fds that no queue names (connections accepted ahead of
     * accept ops, sockets whose close is still queued): the parent serves
     * or closes them, and a copy here would hold their FIN back. Touches
     * nothing else. */
    void (*fork_child)(void *st);
    /* Optional, backends whose protocols run in this process: connections
     * the application closed still have data or a FIN to deliver, which
     * only this process's polls will send and retransmit. The preload's
     * exit and exec keep polling while it says so (up to DEMI_LINGER_MS
     * without progress), as the kernel would deliver them after the
     * process is gone. */
    bool (*tx_busy)(void *st);
    /* Optional, with tx_busy: a count that moves while those connections
     * make progress (new data sent, segments from the peer: a slow reader
     * answering zero-window probes), which keeps that linger going. */
    uint64_t (*tx_progress)(void *st);
    /* The protocols run in this process (our TCP/IP over an L2 device):
     * ACKs, ARP replies and retransmission timers happen only while
     * someone polls, so the preload polls from a helper thread while the
     * application is away (sleeping, computing, blocked in a kernel call).
     * Backends over kernel sockets leave it false: the kernel does that. */
    bool needs_polling;
    /* The backend has addresses of its own (our TCP/IP on a device, RDMA):
     * DEMI_IPV4 is its address, which the kernel does not have, and it
     * cannot reach the kernel's loopback. Backends over kernel sockets
     * leave it false. */
    bool own_addresses;
    /* The backend serves AF_INET6 sockets (kernel sockets: the kernel does
     * the IPv6 work). Without it, socket(AF_INET6) fails -EAFNOSUPPORT and
     * the preload leaves AF_INET6 sockets in the kernel. */
    bool inet6;
    /* The backend reads no time (dm_now_ns) and arms no core timers: the
     * kernel keeps its protocol clocks. API calls then skip the clock
     * read; waits and polls still read it for their own deadlines. */
    bool no_clock;
    /* The backend is a protocol stack over any L2 device (dm/device.h):
     * it serves every DEMI_BACKEND that names a registered device other
     * than a wrapper (DEMI_BACKEND=dpdk: this stack over device "dpdk"),
     * and its create() finds the device's name in dm_instance_backend().
     * A new device then needs no edit of the stack. Found by a device's
     * name only, never by its own. */
    bool l2;
    /* poll() never sleeps, whatever its block_ns (a device that can only
     * be polled): the instance then needs no clock read after it. */
    bool poll_returns_at_once;
    /* Optional: the kernel's part of a poll, run with the caller's lock
     * dropped so that threads with their own instances do not queue behind
     * each other's syscalls (io_uring: submit the queued SQEs and run the
     * deferred task work; the completions stay in the CQ ring for the next
     * poll, which then makes no syscall unless new work came). The caller
     * guarantees that nothing else touches the instance meanwhile.
     * kstep_wanted(st), lock held: would kstep() enter the kernel now, from
     * this thread? kstep(st): does it. */
    bool (*kstep_wanted)(void *st);
    void (*kstep)(void *st);
    /* TCP_CORK is done by the backend's own batching: pushes made before
     * its next kernel step go as one send (io_uring: they join the
     * prepared SQE), and what it holds goes at that step, never later
     * than Linux's cork would let it. The backend takes the option
     * without passing it on; the preload keeps its value. */
    bool cork_by_batch;
    /* Optional: completions wait that poll() has not delivered yet, as far
     * as memory tells, with no syscall (io_uring: CQEs in the ring, or task
     * work pending that will post them). The preload asks before the last
     * close of a connection that has a pop posted and nothing unread: a
     * receive that completed there took the bytes out of the kernel, so
     * they are unread data and the close must reset (Linux's close with
     * data unread), and only then is a poll worth its cost. Without it the
     * answer is no: right for a backend that takes bytes from the kernel
     * only inside poll(), where a close leaves them to the kernel's own
     * reset. */
    bool (*has_completions)(void *st);
};

int dm_stack_register(const struct dm_stack_ops *ops); /* -EINVAL missing op, -EEXIST taken */
const struct dm_stack_ops *dm_stack_find(const char *name);
/* DEMI_BACKEND is one name or a preference list ("uring,posix"): the
 * first registered backend of the list (NULL: none), which is what an
 * instance would try first. */
const struct dm_stack_ops *dm_stack_first(const char *list);
/* Names of the registered stacks, for messages: "posix, uring, ..." */
void dm_stack_names(char *buf, size_t len);

/* A backend that cannot register (an op missing, a name taken) says so:
 * otherwise it would just be absent from DEMI_BACKEND's choices. */
void dm_stack_register_failed(const struct dm_stack_ops *ops, int err);
#define DM_STACK_REGISTER(ops)                                  \
    DM_CONSTRUCTOR_REGISTER(dm_stack_register_##ops)            \
    {                                                           \
        int dm_reg_err_ = dm_stack_register(&(ops));            \
        if (dm_reg_err_ < 0)                                    \
            dm_stack_register_failed(&(ops), dm_reg_err_);      \
    }

#endif /* DM_STACK_H */
