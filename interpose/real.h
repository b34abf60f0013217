/* SPDX-License-Identifier: MIT */
/*
 * The real libc functions behind every hook: one pointer per symbol of
 * syms.h, typed from libc's own declarations. dm_real is filled by a
 * constructor that runs before any other of ours, and any entry still NULL
 * is resolved on first use (a hook can run before our constructor when
 * another library's constructor does I/O). The shim calls kernel functions
 * only through this table, never through the libc names (which would land
 * in our own hooks).
 */
#ifndef DM_INTERPOSE_REAL_H
#define DM_INTERPOSE_REAL_H

#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#include <linux/close_range.h>
#include "interpose/syms.h"

/* Fortified entry points: glibc declares them only under _FORTIFY_SOURCE. */
ssize_t __read_chk(int fd, void *buf, size_t nbytes, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
                       struct sockaddr *addr, socklen_t *addrlen);
int __poll_chk(struct pollfd *fds, nfds_t nfds, int timeout, size_t fdslen);
int __ppoll_chk(struct pollfd *fds, nfds_t nfds, const struct timespec *timeout,
                const sigset_t *ss, size_t fdslen);

/* Declared by glibc only for X/Open without POSIX 2008. */
__sighandler_t bsd_signal(int sig, __sighandler_t handler);

/* siginterrupt is deprecated; the table still needs its type. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
struct dm_real_table {
#define DM_REAL_FIELD(name) __typeof__(name) *name;
    DM_INTERPOSE_SYMS(DM_REAL_FIELD)
#undef DM_REAL_FIELD
};
#pragma GCC diagnostic pop

extern struct dm_real_table dm_real;

/* Resolves every entry (idempotent; safe to call from any hook). */
void dm_real_resolve(void);
/* Resolves one entry by its index in the table. */
void *dm_real_resolve_one(void **slot, const char *name);

/* The pointer to call: resolves lazily when a hook runs before our
 * constructor. Never NULL for a symbol libc has (aborts otherwise). */
#define DM_REAL(name) \
    (__builtin_expect(dm_real.name != NULL, 1) ? dm_real.name \
     : (__typeof__(name) *)dm_real_resolve_one((void **)&dm_real.name, #name))

#endif /* DM_INTERPOSE_REAL_H */
