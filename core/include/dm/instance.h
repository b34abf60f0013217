/* SPDX-License-Identifier: MIT */
/*
 * An instance: one datapath (a backend with its queues, tokens, buffer
 * pools, timers, task queue and counters). The public demi_* API uses one
 * default instance per process; tests make two on a loop device pair and
 * drive them with the dm_* calls, which return 0 or -errno.
 *
 * The poll loop (dm_poll): run the backend's poll, then due timers, then
 * scheduled tasks. demi_wait*() call it until their token completes.
 * Single threaded: an instance is used by one thread at a time.
 */
#ifndef DM_INSTANCE_H
#define DM_INSTANCE_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <time.h>
#include <demi/types.h>
#include "dm/buf.h"
#include "dm/config.h"
#include "dm/list.h"
#include "dm/queue.h"
#include "dm/timer.h"

struct dm_instance;

/* Tasks: deferred per-connection work (e.g. "send what is queued"), run
 * once per poll iteration after the backend and the timers. */
struct dm_task {
    struct dm_list link;
    void (*fn)(struct dm_task *t);
    void *arg;
};
void dm_task_init(struct dm_task *t, void (*fn)(struct dm_task *), void *arg);
void dm_task_schedule(struct dm_instance *inst, struct dm_task *t); /* idempotent */
void dm_task_cancel(struct dm_task *t);

/* Creates an instance; cfg NULL means environment only. The backend is
 * DEMI_BACKEND (default "posix"). */
int dm_instance_create(const struct dm_config *cfg, struct dm_instance **out);
void dm_instance_destroy(struct dm_instance *inst);
const char *dm_instance_backend(const struct dm_instance *inst);
const struct dm_config *dm_instance_config(const struct dm_instance *inst);
int64_t dm_now_ns(const struct dm_instance *inst);   /* cached per poll iteration */
int dm_instance_wait_fd(struct dm_instance *inst);   /* see dm_stack_ops.wait_fd */
int dm_instance_wait_arm(struct dm_instance *inst);  /* see dm_stack_ops.wait_arm: > 0 do not sleep */
/* Sleeping inside the backend (dm_stack_ops.sleep_arm/sleep): can it,
 * arm (lock held: 0 sleep next, > 0 look again, -EAGAIN use the wait fd),
 * sleep (lock dropped: 0 or -EINTR). */
bool dm_instance_can_sleep_inside(const struct dm_instance *inst);
/* The kernel's part of a poll, for the caller to run with its own lock
 * dropped (dm_stack_ops.kstep): wanted: would it enter the kernel now?
 * (false for a backend without one). kstep: nothing else may touch the
 * instance until it returns. */
bool dm_instance_kstep_wanted(struct dm_instance *inst);
void dm_instance_kstep(struct dm_instance *inst);
int dm_instance_sleep_arm(struct dm_instance *inst, const struct pollfd *watch, const uint64_t *ids, int nwatch);
int dm_instance_sleep(struct dm_instance *inst, int64_t timeout_ns);
bool dm_instance_needs_polling(const struct dm_instance *inst); /* see dm_stack_ops.needs_polling */
/* Completions wait that the next poll would deliver: ops done and not
 * reaped, or the backend's (dm_stack_ops.has_completions). No syscall. */
bool dm_instance_has_completions(struct dm_instance *inst);
void *dm_instance_stack(struct dm_instance *inst);   /* the backend's state */
/* Free buffers / bare headers left in the instance's pools (leak checks). */
uint32_t dm_instance_bufs_avail(struct dm_instance *inst);
uint32_t dm_instance_hdrs_avail(struct dm_instance *inst);
/* The instance's data pool (dm_buf_alloc's), for a device that registers
 * or places its memory (dm_bufpool_region, dm_bufpool_place). */
struct dm_bufpool *dm_instance_data_pool(struct dm_instance *inst);

/* One poll iteration; may block up to block_ns when idle and the backend
 * can sleep. Returns events handled or -errno. */
int dm_poll(struct dm_instance *inst, int64_t block_ns);

/* The queue API on an explicit instance: 0 or -errno. */
int dm_socket(struct dm_instance *inst, int *qd, int domain, int type, int protocol);
int dm_bind(struct dm_instance *inst, int qd, const struct sockaddr *addr, socklen_t len);
int dm_listen(struct dm_instance *inst, int qd, int backlog);
int dm_accept(struct dm_instance *inst, demi_qtoken_t *qt, int qd);
int dm_connect(struct dm_instance *inst, demi_qtoken_t *qt, int qd, const struct sockaddr *addr, socklen_t len);
int dm_close(struct dm_instance *inst, int qd);
/* A connected TCP socket between instances (dm_stack_ops.detach/adopt):
 * dm_detach gives its kernel fd (>= 0) and closes qd without closing it;
 * -EBUSY while something is in flight or queued, -EOPNOTSUPP. dm_adopt
 * makes a queue for such an fd. */
int dm_detach(struct dm_instance *inst, int qd);
int dm_adopt(struct dm_instance *inst, int *qd, int fd);
/* The kernel socket under qd (dm_stack_ops.kernel_fd): >= 0, -EBADF,
 * -EOPNOTSUPP (a stack of its own: dpdk, xdp). Only reads the instance's
 * memory, so a forked child may ask its copy of the parent's instance. */
int dm_kernel_fd(struct dm_instance *inst, int qd);
/* ops->tx_busy: closed connections still have data to deliver (false
 * without the op). */
bool dm_instance_tx_busy(struct dm_instance *inst);
/* ops->tx_progress: moves while closed connections make progress (0
 * without the op). */
uint64_t dm_instance_tx_progress(struct dm_instance *inst);
/* In a forked child, on its copy of the parent's instance: see
 * dm_stack_ops.fork_child. */
void dm_instance_fork_child(struct dm_instance *inst);
/* The backend serves AF_INET6 sockets (dm_stack_ops.inet6). */
bool dm_instance_inet6(const struct dm_instance *inst);
/* TCP_CORK is the backend's batching (dm_stack_ops.cork_by_batch). */
bool dm_instance_cork_by_batch(const struct dm_instance *inst);
/* The backend makes a queue of a connected kernel socket (dm_adopt): its
 * sockets are the kernel's (uring, posix). */
bool dm_instance_adopts(const struct dm_instance *inst);
/* Instances of this backend are independent (one per thread is fine). */
bool dm_instance_thread_instances(const struct dm_instance *inst);
int dm_shutdown(struct dm_instance *inst, int qd, int how);
int dm_push(struct dm_instance *inst, demi_qtoken_t *qt, int qd, const demi_sgarray_t *sga);
int dm_pushto(struct dm_instance *inst, demi_qtoken_t *qt, int qd, const demi_sgarray_t *sga,
              const struct sockaddr *addr, socklen_t len);
/* Push of a chain the caller built (the op takes over the caller's refs). */
int dm_push_chain(struct dm_instance *inst, demi_qtoken_t *qt, int qd, struct dm_buf *chain,
                  const struct sockaddr *to);
int dm_pop(struct dm_instance *inst, demi_qtoken_t *qt, int qd);
/* A hint that qd's next operation is near: its queue is asked into the
 * cache (stage 0), or, once the queue is in, the backend's socket it
 * points at (stage 1). Reads nothing but the queue table, and the queue
 * at stage 1; an unknown qd is ignored. */
void dm_queue_prefetch(struct dm_instance *inst, int qd, int stage);
int dm_setsockopt(struct dm_instance *inst, int qd, int level, int name, const void *val, socklen_t len);
int dm_getsockopt(struct dm_instance *inst, int qd, int level, int name, void *val, socklen_t *len);
int dm_getsockname(struct dm_instance *inst, int qd, struct sockaddr *addr, socklen_t *len);
int dm_getpeername(struct dm_instance *inst, int qd, struct sockaddr *addr, socklen_t *len);
/* timeout_ns < 0: forever; 0: poll once. */
int dm_wait(struct dm_instance *inst, demi_qresult_t *qr, demi_qtoken_t qt, int64_t timeout_ns);
int dm_wait_any(struct dm_instance *inst, demi_qresult_t *qr, int *offset, const demi_qtoken_t *qts, int n,
                int64_t timeout_ns);
int dm_wait_next_n(struct dm_instance *inst, demi_qresult_t *qrs, int n, int *nout, int64_t timeout_ns);
/* Is this token's op done (1), pending (0), or unknown (-EINVAL)? */
int dm_token_state(struct dm_instance *inst, demi_qtoken_t qt);
demi_sgarray_t dm_sgaalloc(struct dm_instance *inst, size_t size, int *err);
int dm_sgafree(struct dm_instance *inst, demi_sgarray_t *sga);

/* The process's default instance (the one the demi_* API uses); created on
 * first use from the environment. Returns NULL and sets *err on failure. */
struct dm_instance *dm_default_instance(int *err);
/* Creates the default instance now: -EEXIST when it already exists. */
int dm_default_instance_init(void);

#endif /* DM_INSTANCE_H */
