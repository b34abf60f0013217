/* SPDX-License-Identifier: MIT */
/*
 * posix_spawn: glibc's clones a child that shares our memory (CLONE_VM)
 * and execs from inside libc, where no hook runs: neither our fork nor our
 * exec sees it, so the child inherited placeholders, which are not the
 * connections. Around the real call we do what exec does, reversibly: the
 * queued data is pushed out, and every fd that is not CLOEXEC and names
 * an offloaded connection (or connected UDP socket) holds the kernel
 * socket itself while the child is made (dup3 onto its number), then its
 * placeholder again. The child - preloaded or not - owns the connection
 * at the same fds (its file actions, dup2 onto 0 and 1, see the kernel
 * socket); the parent keeps its own use of it, as after a fork.
 *
 * The lock is held from begin to end, so that no other thread of ours
 * uses those fds while they are swapped (a thread on the kernel's own
 * calls may: it sees the connection instead of the placeholder).
 */
#include <errno.h>
#include <fcntl.h>
#include "dm/instance.h"
#include "dm/log.h"
#include "dm/time.h"
#include "interpose/real.h"
#include "shim/shim.h"

void shim_spawn_begin(struct shim_spawn *sp)
{
    shim_lock();
    sp->n = 0;
    shim_drain(shim_rt.cfg.linger_ms * DM_NS_PER_MS);
    int hi = shim_fd_max();
    for (int fd = 0; fd <= hi && sp->n < SHIM_SPAWN_MAX; fd++) {
        struct shim_obj *o = shim_fd_get(fd);
        if (!o || o->kind != SHIM_KIND_SOCK)
            continue;
        struct shim_sock *s = (struct shim_sock *)o;
        if (s->state != SHIM_OFFLOADED || s->phase == SHIM_LISTENING || !(s->phase == SHIM_CONNECTED || s->type == SOCK_DGRAM) ||
            !shim_dp_live(s->dp))
            continue;
        int fl = DM_REAL(fcntl)(fd, F_GETFD);
        if (fl < 0 || (fl & FD_CLOEXEC))
            continue;
        int kfd = dm_kernel_fd(shim_dp_inst(s->dp), s->qd);
        if (kfd < 0) {
            DM_WARN("shim", "posix_spawn: fd %d is an offloaded socket the child cannot have (%s): it inherits "
                    "only its placeholder", fd, kfd == -EOPNOTSUPP ? "a backend with its own stack" : "no kernel socket");
            continue;
        }
        int saved = DM_REAL(fcntl)(fd, F_DUPFD_CLOEXEC, 0);
        if (saved < 0)
            continue;
        if (DM_REAL(dup3)(kfd, fd, 0) < 0) {
            DM_REAL(close)(saved);
            continue;
        }
        s->shared = true; /* the child's too (shim_sock_close_resets) */
        sp->fd[sp->n] = fd;
        sp->saved[sp->n++] = saved;
    }
}

void shim_spawn_end(struct shim_spawn *sp)
{
    for (int i = 0; i < sp->n; i++) {
        if (DM_REAL(dup3)(sp->saved[i], sp->fd[i], 0) < 0)
            DM_WARN("shim", "posix_spawn: fd %d: cannot put its placeholder back", sp->fd[i]);
        DM_REAL(close)(sp->saved[i]);
    }
    sp->n = 0;
    shim_unlock();
}
