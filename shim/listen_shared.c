/* SPDX-License-Identifier: MIT */
/*
 * A listener shared by processes stays the kernel's one listener.
 *
 * On Linux every process that holds a listening socket (nginx's master
 * and its workers, by fork) holds the same socket: a process that closes
 * its copy, or exits, loses nothing, the others accept what is queued.
 * A hand-over (handover.c) gives each process a datapath listener of its
 * own in the port's SO_REUSEPORT group instead, which accepts ahead of
 * the application: when one of them closes (nginx's old workers at a
 * reload), what the kernel had queued on its socket and what its
 * datapath had accepted are reset (three clients connecting in a loop
 * through 15-20 nginx reloads: 5-15 of ~150,000 reset under uring and
 * posix, none on the kernel; tcp_migrate_req makes it fewer, not none).
 *
 * So, with a backend over kernel sockets (uring, posix: they adopt a
 * connected kernel socket), a listener that was not used before a fork
 * (s->shared: another process had it then; nothing tells whether it
 * still has, so a child that exited since leaves this path taken, at the
 * cost below, with nothing lost) is not handed over: its epoll and
 * poll readiness is the kernel's (its fd is a kernel fd in the set, like
 * the application's own), accept() is the kernel's accept (one syscall,
 * no accept ahead), and the connection becomes INHERITED: the datapath of
 * the thread that first uses it adopts it then (inherit.c), as a
 * connection inherited through fork, so its I/O is offloaded as before.
 * A listener offloaded before the fork has no kernel listener left to
 * share (its placeholder stopped): the child re-creates it (proc.c).
 *
 * Cost: an epoll set of offloaded sockets with a kernel fd in it looks at
 * the kernel's set on its turns (epoll.c); nginx's workers have one
 * already (the channel to the master). Per connection: the accept, a
 * placeholder socket, a getsockname, and the adoption at first use, where
 * the hand-over's path had a multishot accept's completion.
 *
 * With dpdk and xdp the datapath cannot take a kernel connection: those
 * hand over as before.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "dm/instance.h"
#include "dm/log.h"
#include "interpose/real.h"
#include "shim/shim.h"

bool shim_listen_shared(struct shim_sock *s, int fd, struct dm_instance *inst)
{
    if (s->kshared)
        return true;
    /* (refork: its kernel listener was stopped in the parent) */
    if (!s->shared || s->refork || s->type != SOCK_STREAM || !dm_instance_adopts(inst))
        return false;
    s->kshared = true;
    DM_DEBUG("shim", "fd %d: listener shared by processes: stays the kernel's; its connections are adopted", fd);
    return true;
}

int shim_listen_shared_accept(struct shim_sock *s, int fd, struct sockaddr *a, socklen_t *alen, int flags)
{
    /* The application's fd first, so that it is the lowest free number,
     * as Linux's accept gives; the connection's own fd (the datapath's
     * once adopted, CLOEXEC like every fd of the datapath) comes after. */
    int ph = DM_REAL(socket)(s->family, SOCK_STREAM | flags, 0);
    if (ph < 0)
        return -errno;
    union dm_sockaddr peer;
    socklen_t pl = sizeof(peer);
    memset(&peer, 0, sizeof(peer));
    s->obj.refs++;
    /* no lock across a call that may block (the listener's mode is the
     * application's: the placeholder is the listener) */
    shim_unlock();
    int k = DM_REAL(accept4)(fd, &peer.sa, &pl, SOCK_CLOEXEC);
    int e = errno;
    shim_lock();
    struct shim_sock *ns = k >= 0 ? shim_sock_new(SOCK_STREAM) : NULL;
    if (k < 0 || !ns || shim_fd_set(ph, &ns->obj) < 0) {
        shim_sock_discard(ns);
        DM_REAL(close)(ph);
        if (k >= 0)
            DM_REAL(close)(k);
        shim_sock_unref(s);
        return k < 0 ? -e : -ENOMEM;
    }
    ns->state = SHIM_INHERITED;
    ns->kfd = k;
    ns->family = s->family;
    ns->phase = SHIM_CONNECTED;
    ns->nonblock = (flags & SOCK_NONBLOCK) != 0;
    ns->peer = peer;
    socklen_t ll = sizeof(ns->local);
    if (DM_REAL(getsockname)(k, &ns->local.sa, &ll) < 0)
        ns->local = s->local;
    shim_sock_inherit_opts(ns, s, ph);
    shim_sock_unref(s);
    DM_DEBUG("shim", "fd %d: the kernel accepted fd %d (its socket %d): adopted at its first use", fd, ph, k);
    (void)shim_copy_addr(&peer, a, alen);
    return ph;
}
