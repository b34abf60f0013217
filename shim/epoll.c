/* SPDX-License-Identifier: MIT */
/*
 * epoll over sets that mix our sockets with kernel fds.
 *
 * Every epoll the application creates is a real kernel epoll (so its fd
 * number, close, dup and fork behave as Linux's). Kernel fds are added to it
 * directly; our sockets are not (their placeholders never become ready) but
 * get a watch in user space: struct shim_watch, on the epoll's list and the
 * socket's list. The datapath's wait fd is added to the kernel epoll with a
 * private marker, so one epoll_wait() sleeps on both worlds.
 *
 * epoll_wait(): harvest completions, check the watches that may be ready
 * (level: ready now; edge: ready and the socket's event generation moved
 * since the last report; one-shot: disabled after one report until
 * EPOLL_CTL_MOD), take what the kernel has without blocking, and only when
 * nothing is ready spin DEMI_SPIN_US, then sleep in the kernel epoll (wait
 * fd included). Watches that were reported move to the back of the list,
 * and kernel and our events take turns to come first, so a full events[]
 * starves neither.
 *
 * "May be ready" is ep->ready, so a wait costs what is ready, not what is
 * watched (10,000 idle keep-alive connections): a socket's change puts its
 * watches there (shim_kick_for), a check takes off those not ready and
 * those reported edge-triggered or one-shot. Every 1024th turn, and
 * before a sleep if 10 ms have passed since, every watch goes back on it:
 * a change that came another way would be late, not lost.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include "dm/instance.h"
#include "dm/log.h"
#include "dm/time.h"
#include "interpose/real.h"
#include "shim/shim.h"

/* The events that may go with EPOLLEXCLUSIVE (fs/eventpoll.c) */
#define EP_EXCLUSIVE_OK \
    (EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE)

static const char shim_wait_marker; /* data.ptr of the wait fd's entry */

int shim_epoll_create(int flags)
{
    int kfd = DM_REAL(epoll_create1)(flags);
    if (kfd < 0)
        return -errno;
    /* Created by another thread while the datapath starts: a thread the
     * device spawned (DPDK's EAL interrupt thread). Its epoll stays the
     * kernel's: registering it would wait for the lock the starting thread
     * holds (a memif link could never come up during the start), and a
     * wait on it would then spin polling the datapath from that thread. */
    int starter = __atomic_load_n(&shim_rt.starting_tid, __ATOMIC_ACQUIRE);
    if (starter && starter != (int)gettid())
        return kfd;
    struct shim_epoll *ep = calloc(1, sizeof(*ep));
    shim_lock();
    if (!ep || shim_fd_set(kfd, &ep->obj) < 0) {
        shim_unlock();
        free(ep);
        DM_REAL(close)(kfd);
        return -ENOMEM;
    }
    ep->obj.kind = SHIM_KIND_EPOLL;
    ep->obj.refs = 1;
    pthread_mutex_init(&ep->lock, NULL);
    ep->kfd = kfd;
    ep->kick_fd = -1;
    ep->nest_fd = -1;
    ep->relay_fd = -1;
    ep->wait_gen = shim_rt.inst_gen;
    ep->watch_id = shim_watch_id();
    dm_list_init(&ep->watches);
    dm_list_init(&ep->ready);
    dm_list_init(&ep->sleepers);
    shim_unlock();
    return kfd;
}

/* The epoll's lock held. */
static void ready_del(struct shim_watch *w)
{
    if (w->on_ready) {
        w->on_ready = false;
        dm_list_del(&w->rlink);
    }
}

/* Every watch onto the ready list: the safety net for a readiness change
 * that did not come through shim_kick_for() (before a sleep, and now and
 * then while spinning). */
static void ready_refill(struct shim_epoll *ep)
{
    struct dm_list *pos;
    shim_leaf_lock(&ep->lock);
    dm_list_for_each(pos, &ep->watches)
        shim_watch_ready(dm_list_entry(pos, struct shim_watch, elink), &ep->ready);
    shim_leaf_unlock(&ep->lock);
}

void shim_watch_mark(struct shim_sock *s)
{
    struct dm_list *pos;
    dm_list_for_each(pos, &s->watches) {
        struct shim_watch *w = dm_list_entry(pos, struct shim_watch, slink);
        shim_leaf_lock(&w->ep->lock);
        shim_watch_ready(w, &w->ep->ready);
        shim_leaf_unlock(&w->ep->lock);
    }
}

/* The epoll learns which instance its sockets are in: all in one (the
 * waiting thread's, normally) lets it sleep inside that instance. True
 * when the instances changed (dps_gen moved): a wait going on in the set
 * must drive the new one too (shim_epoll_wait refocuses). */
static bool ep_note_dp(struct shim_epoll *ep, struct shim_dp *dp)
{
    bool changed = false;
    if (ep->wait_gen != shim_rt.inst_gen) {
        ep->wait_gen = shim_rt.inst_gen; /* a forked child: the parent's are gone */
        ep->wait_mask = 0;
        ep->relay_fd = -1;
        ep->ndps = 0;
        ep->mixed = false;
        changed = true;
    }
    if (dp && !ep->mixed) {
        unsigned i = 0;
        while (i < ep->ndps && ep->dps[i] != dp)
            i++;
        if (i == ep->ndps) {
            if (ep->ndps < SHIM_FOCUS_MAX)
                ep->dps[ep->ndps++] = dp;
            else
                ep->mixed = true;
            changed = true;
        }
    }
    if (changed)
        ep->dps_gen++;
    return changed;
}

void shim_watch_note_dp(struct shim_sock *s)
{
    struct dm_list *pos;
    dm_list_for_each(pos, &s->watches) {
        struct shim_watch *w = dm_list_entry(pos, struct shim_watch, slink);
        if (ep_note_dp(w->ep, s->dp)) {
            /* a thread asleep in the set drives the instance the socket
             * left, not the one it joined: it must look again */
            shim_leaf_lock(&w->ep->lock);
            shim_kick_list(&w->ep->sleepers);
            shim_leaf_unlock(&w->ep->lock);
        }
    }
}

static void watch_free(struct shim_watch *w)
{
    shim_leaf_lock(&w->ep->lock);
    ready_del(w);
    shim_leaf_unlock(&w->ep->lock);
    dm_list_del(&w->elink);
    dm_list_del(&w->slink);
    free(w);
}

void shim_epoll_unref(struct shim_epoll *ep)
{
    if (--ep->obj.refs > 0)
        return;
    struct dm_list *pos, *tmp;
    dm_list_for_each_safe(pos, tmp, &ep->watches)
        watch_free(dm_list_entry(pos, struct shim_watch, elink));
    if (ep->kick_fd >= 0)
        DM_REAL(close)(ep->kick_fd);
    if (ep->nest_fd >= 0)
        DM_REAL(close)(ep->nest_fd);
    for (unsigned i = 0; i < ep->nnested; i++)
        shim_epoll_unref(ep->nested[i]);
    pthread_mutex_destroy(&ep->lock);
    free(ep);
}

void shim_watch_drop_all(struct shim_sock *s)
{
    struct dm_list *pos, *tmp;
    dm_list_for_each_safe(pos, tmp, &s->watches)
        watch_free(dm_list_entry(pos, struct shim_watch, slink));
}

/* A kernel fd into (or out of) one of our epolls: counted, so that a wait
 * on a set of our sockets only does not ask the kernel on every turn. */
static int kernel_ctl(struct shim_epoll *ep, int op, int fd, struct epoll_event *ev)
{
    if (DM_REAL(epoll_ctl)(ep->kfd, op, fd, ev) < 0)
        return -errno;
    if (op == EPOLL_CTL_ADD)
        ep->nkernel++;
    else if (op == EPOLL_CTL_DEL && ep->nkernel > 0)
        ep->nkernel--;
    return 0;
}

void shim_watch_to_kernel(struct shim_sock *s, int fd)
{
    struct dm_list *pos, *tmp;
    (void)fd;
    dm_list_for_each_safe(pos, tmp, &s->watches) {
        struct shim_watch *w = dm_list_entry(pos, struct shim_watch, slink);
        struct epoll_event ev = { .events = w->disabled ? 0 : w->events, .data.u64 = w->data };
        if (kernel_ctl(w->ep, EPOLL_CTL_ADD, w->fd, &ev) < 0)
            DM_WARN("shim", "fd %d: could not move its epoll registration to the kernel: %m", w->fd);
        watch_free(w);
    }
}

/* Edge triggering: a watch fires when an event it listens for happened
 * since its last report (Linux filters wake-ups by the watch's events), and
 * then reports everything that is ready, as Linux does. */
uint32_t shim_watch_check(struct shim_watch *w, uint32_t ready, uint32_t gen_in, uint32_t gen_out)
{
    if (w->disabled)
        return 0;
    uint32_t m = ready & (w->events | EPOLLERR | EPOLLHUP);
    if (!m)
        return 0;
    if (w->events & EPOLLET) {
        const uint32_t in = EPOLLIN | EPOLLRDNORM | EPOLLRDBAND | EPOLLPRI | EPOLLRDHUP;
        const uint32_t out = EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND;
        bool new_in = gen_in != w->seen_in, new_out = gen_out != w->seen_out;
        bool fire = ((m & in) && new_in) || ((m & out) && new_out) ||
                    ((m & (EPOLLERR | EPOLLHUP)) && (new_in || new_out));
        if (!fire)
            return 0;
        w->seen_in = gen_in;
        w->seen_out = gen_out;
    }
    if (w->events & EPOLLONESHOT)
        w->disabled = true;
    return m;
}

/* shim_watch_check without its effects: would a wait report w now? */
static bool watch_would_fire(const struct shim_watch *w)
{
    struct shim_watch probe = *w;
    return shim_watch_check(&probe, shim_sock_events(w->s, w->fd), w->s->gen_in, w->s->gen_out) != 0;
}

/* ---- an epoll of ours waited on as a fd ----
 *
 * poll, select or another epoll on this epoll's fd see its kernel set
 * only, where our sockets are not. So once it is waited on that way, an
 * eventfd in the set (nest_fd, a marker its own waits drop) is kept
 * readable while one of our sockets in it is ready: set when a watch
 * becomes ready (shim_kick_for), synced at each look from outside and at
 * the end of each of its own waits. The epoll's lock held. */
static void nest_write(struct shim_epoll *ep, bool on)
{
    if (on == ep->nest_set)
        return;
    uint64_t v = 1;
    ssize_t DM_UNUSED r = on ? DM_REAL(write)(ep->nest_fd, &v, sizeof(v)) : DM_REAL(read)(ep->nest_fd, &v, sizeof(v));
    ep->nest_set = on;
}

void shim_epoll_nest(struct shim_epoll *ep)
{
    if (ep->nest_fd < 0) {
        int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        struct epoll_event kev = { .events = EPOLLIN, .data.ptr = (void *)&shim_wait_marker };
        if (fd < 0 || DM_REAL(epoll_ctl)(ep->kfd, EPOLL_CTL_ADD, fd, &kev) < 0) {
            if (fd >= 0)
                DM_REAL(close)(fd);
            dm_log_once("shim", "an epoll waited on as a fd does not report our sockets (no eventfd: %m)");
            return;
        }
        shim_leaf_lock(&ep->lock);
        ep->nest_fd = fd;
        ep->nest_set = false;
        shim_leaf_unlock(&ep->lock);
        ready_refill(ep); /* what is ready now, not only what changes next */
    }
    bool any = false;
    struct dm_list *pos;
    shim_leaf_lock(&ep->lock);
    dm_list_for_each(pos, &ep->ready) {
        if (watch_would_fire(dm_list_entry(pos, struct shim_watch, rlink))) {
            any = true;
            break;
        }
    }
    nest_write(ep, any);
    shim_leaf_unlock(&ep->lock);
}

void shim_epoll_nest_kick(struct shim_epoll *ep, struct shim_watch *w)
{
    if (!ep->nest_set && watch_would_fire(w))
        nest_write(ep, true);
}

/* An epoll of ours put in (or taken out of) another's set. */
static void nest_in(struct shim_epoll *outer, struct shim_epoll *inner, int op)
{
    unsigned i = 0;
    while (i < outer->nnested && outer->nested[i] != inner)
        i++;
    if (op == EPOLL_CTL_DEL) {
        if (i < outer->nnested) {
            outer->nested[i] = outer->nested[--outer->nnested];
            shim_epoll_unref(inner);
        }
        return;
    }
    shim_epoll_nest(inner);
    if (i < outer->nnested)
        return;
    if (outer->nnested == SHIM_EPOLL_NESTED) {
        dm_log_once("shim", "more than %d epolls in one epoll: the others' readiness is not withdrawn at once "
                    "after it is read", SHIM_EPOLL_NESTED);
        return;
    }
    inner->obj.refs++;
    outer->nested[outer->nnested++] = inner;
}

static struct shim_watch *watch_find(struct shim_epoll *ep, struct shim_sock *s, int fd)
{
    struct dm_list *pos, *tmp;
    dm_list_for_each_safe(pos, tmp, &s->watches) {
        struct shim_watch *w = dm_list_entry(pos, struct shim_watch, slink);
        if (w->ep == ep && w->fd == fd)
            return w;
    }
    return NULL;
}

int shim_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    shim_lock();
    if (op != EPOLL_CTL_DEL)
        shim_dp_ahead(fd); /* (a fresh connection moves to this thread's instance below) */
    struct shim_obj *eo = shim_fd_get(epfd);
    struct shim_obj *so = shim_fd_get(fd);
    int r = 0;
    if (!eo || eo->kind != SHIM_KIND_EPOLL) {
        shim_unlock();
        return SHIM_PASS;
    }
    if (!so || so->kind != SHIM_KIND_SOCK) {
        r = kernel_ctl((struct shim_epoll *)eo, op, fd, ev);
        if (r == 0 && so && so->kind == SHIM_KIND_EPOLL)
            nest_in((struct shim_epoll *)eo, (struct shim_epoll *)so, op);
        shim_unlock();
        return r;
    }
    struct shim_epoll *ep = (struct shim_epoll *)eo;
    struct shim_sock *s = (struct shim_sock *)so;
    if (op != EPOLL_CTL_ADD && op != EPOLL_CTL_MOD && op != EPOLL_CTL_DEL) {
        r = -EINVAL;
        goto out;
    }
    if (op != EPOLL_CTL_DEL && !ev) {
        r = -EFAULT;
        goto out;
    }
    if (s->kshared) {
        r = kernel_ctl(ep, op, fd, ev); /* a shared listener: the kernel's readiness */
        goto out;
    }
    if ((op != EPOLL_CTL_DEL || s->state == SHIM_RELAYED) && shim_sock_claim(s, fd) == 1) {
        r = kernel_ctl(ep, op, fd, ev); /* it went to the kernel */
        goto out;
    }
    if (op == EPOLL_CTL_ADD && s->state == SHIM_PENDING && (s->phase == SHIM_LISTENING || s->type == SOCK_DGRAM)) {
        /* first use of a listener / datagram socket in this process */
        r = shim_activate(s, fd, NULL);
        if (r != 0) {
            if (r == 1 || r == SHIM_ACT_SHARED) /* it went to the kernel, or its listener serves it */
                r = kernel_ctl(ep, op, fd, ev);
            goto out;
        }
    }
    if (op != EPOLL_CTL_DEL && s->state == SHIM_OFFLOADED)
        shim_sock_use(s); /* a fresh connection moves to this thread's instance */
    if (op != EPOLL_CTL_DEL && s->state == SHIM_OFFLOADED && (ev->events & (EPOLLIN | EPOLLRDHUP)))
        shim_sock_want_rx(s);
    struct shim_watch *w = watch_find(ep, s, fd);
    switch (op) {
    case EPOLL_CTL_ADD:
        if (w) {
            r = -EEXIST;
            break;
        }
        if ((ev->events & EPOLLEXCLUSIVE) && (ev->events & ~EP_EXCLUSIVE_OK)) {
            r = -EINVAL; /* ep_ctl: only these bits go with EPOLLEXCLUSIVE */
            break;
        }
        w = calloc(1, sizeof(*w));
        if (!w) {
            r = -ENOMEM;
            break;
        }
        w->ep = ep;
        w->s = s;
        w->fd = fd;
        w->events = ev->events;
        w->data = ev->data.u64;
        w->seen_in = s->gen_in - 1; /* the first check reports what is ready now */
        w->seen_out = s->gen_out - 1;
        dm_list_add_tail(&ep->watches, &w->elink);
        dm_list_add_tail(&s->watches, &w->slink);
        shim_leaf_lock(&ep->lock);
        shim_watch_ready(w, &ep->ready);
        shim_leaf_unlock(&ep->lock);
        if (s->state == SHIM_OFFLOADED)
            ep_note_dp(ep, s->dp);
        break;
    case EPOLL_CTL_MOD:
        if (!w) {
            r = -ENOENT;
            break;
        }
        if ((ev->events | w->events) & EPOLLEXCLUSIVE) {
            r = -EINVAL;
            break;
        }
        w->events = ev->events;
        w->data = ev->data.u64;
        w->disabled = false;
        w->seen_in = s->gen_in - 1;
        w->seen_out = s->gen_out - 1;
        shim_leaf_lock(&ep->lock);
        shim_watch_ready(w, &ep->ready);
        shim_leaf_unlock(&ep->lock);
        break;
    case EPOLL_CTL_DEL:
        if (!w) {
            r = -ENOENT;
            break;
        }
        watch_free(w);
        break;
    }
    /* as Linux: a socket added (or re-armed) ready wakes a thread that
     * sleeps on this epoll */
    if (r == 0 && op != EPOLL_CTL_DEL) {
        shim_leaf_lock(&ep->lock);
        shim_kick_list(&ep->sleepers);
        shim_leaf_unlock(&ep->lock);
    }
out:
    shim_unlock();
    return r;
}

/* ---- the reported sockets, in order, for the calls that follow ----
 *
 * A server's turn reads and answers the sockets a wait reported, in the
 * order reported, and each was last touched when its completion came in,
 * a whole turn of other connections earlier (a busy server with hundreds
 * of connections serves about as many in a turn): its state has left the
 * cache by then.
 * The wait keeps the order; each receive or send on the next socket of it
 * (shim_epoll_pf_next) asks for what the ones after it will touch, a step
 * at a time so that no load waits for memory: three sockets ahead its
 * head, two ahead its receive slot and its datapath queue, one ahead the
 * bytes to be read and the backend's socket. Only for sockets of this
 * thread's own instance, which no other thread drives meanwhile. */
#define EP_ORDER_MAX 256
static __thread struct {
    int fd[EP_ORDER_MAX];
    unsigned n, next;
} tls_pf __attribute__((tls_model("initial-exec")));

static inline void pf_add(int fd)
{
    if (tls_pf.n < EP_ORDER_MAX)
        tls_pf.fd[tls_pf.n++] = fd;
}

/* The socket of the k-th reported fd, if that fd still names one of ours. */
static inline struct shim_sock *pf_sock(unsigned k)
{
    if (k >= tls_pf.n)
        return NULL;
    struct shim_obj *o = shim_fd_get(tls_pf.fd[k]);
    return o && o->kind == SHIM_KIND_SOCK ? (struct shim_sock *)o : NULL;
}

static inline void pf_head(unsigned k)
{
    if (k >= tls_pf.n)
        return;
    const char *o = (const char *)shim_fd_get(tls_pf.fd[k]); /* the pointer only: nothing read */
    if (o) {
        dm_prefetch(o);
        dm_prefetch(o + 64);
        dm_prefetch(o + 128);
    }
}

/* The k-th reported socket, offloaded into this thread's instance. */
static inline const struct shim_sock *pf_mine(unsigned k, const struct shim_dp *mine)
{
    const struct shim_sock *s = pf_sock(k);
    return s && s->state == SHIM_OFFLOADED && s->dp == mine && !s->fresh ? s : NULL;
}

void shim_epoll_pf_next(int fd)
{
    if (tls_pf.next >= tls_pf.n || tls_pf.fd[tls_pf.next] != fd)
        return;
    unsigned k = ++tls_pf.next;
    struct shim_dp *mine = shim_dp_current();
    if (!mine || __atomic_load_n(&mine->stepping, __ATOMIC_RELAXED))
        return;
    pf_head(k + 2);
    const struct shim_sock *s = pf_mine(k + 1, mine);
    if (s) {
        dm_queue_prefetch(mine->inst, s->qd, 0);
        if (s->rx_count) {
            const char *seg = (const char *)&s->rx[s->rx_head % SHIM_RXRING];
            dm_prefetch(seg);
            dm_prefetch(seg + 64);
            dm_prefetch(seg + 128);
        }
    }
    if ((s = pf_mine(k, mine))) {
        dm_queue_prefetch(mine->inst, s->qd, 1);
        const struct shim_rxseg *seg = &s->rx[s->rx_head % SHIM_RXRING];
        if (s->rx_count && seg->sga.sga_numsegs) {
            const char *p = (const char *)seg->sga.sga_segs[0].sgaseg_buf + seg->off;
            dm_prefetch(p);
            dm_prefetch(p + 64);
        }
    }
}

/* Our sockets' events into evs; reported watches rotate to the back. */
static int scan_watches(struct shim_epoll *ep, struct epoll_event *evs, int max)
{
    struct dm_list *pos, *tmp, *stop = NULL;
    int n = 0;
    if (max <= 0)
        return 0;
    shim_leaf_lock(&ep->lock);
    dm_list_for_each_safe(pos, tmp, &ep->ready) {
        struct shim_watch *w = dm_list_entry(pos, struct shim_watch, rlink);
        struct shim_sock *s = w->s;
        uint32_t m = shim_watch_check(w, shim_sock_events(s, w->fd), s->gen_in, s->gen_out);
        /* Off the list until the socket changes: not ready (level), or
         * reported (edge, one-shot). A socket not handed over yet is the
         * kernel's to say: asked every time. */
        if ((!m || (w->events & (EPOLLET | EPOLLONESHOT))) && s->state != SHIM_PENDING)
            ready_del(w);
        if (!m)
            continue;
        evs[n].events = m;
        evs[n].data.u64 = w->data;
        pf_add(w->fd);
        if (++n == max) {
            stop = tmp;
            break;
        }
    }
    if (stop && stop != &ep->ready) {
        /* start the next scan after the last reported watch */
        dm_list_del(&ep->ready);
        dm_list_add_tail(stop, &ep->ready);
    }
    shim_leaf_unlock(&ep->lock);
    return n;
}

static int drop_marker(struct epoll_event *evs, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        if (evs[i].data.ptr != &shim_wait_marker)
            evs[k++] = evs[i];
    return k;
}

/* The epoll's kick eventfd in the kernel set (another thread's progress
 * made one of our sockets ready), and, for a sleep on it, the datapath's
 * wait fd. (EPOLLEXCLUSIVE on the wait fd, one thread waking to drive the
 * datapath and kicking the others, lost wake-ups when the wait fd is
 * itself an epoll - the posix backend's - so every sleeper wakes on it.) */
static void ensure_kick_fd(struct shim_epoll *ep, int kfd)
{
    if (ep->kick_fd >= 0)
        return;
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event kev = { .events = EPOLLIN, .data.ptr = (void *)&shim_wait_marker };
    if (fd >= 0 && DM_REAL(epoll_ctl)(kfd, EPOLL_CTL_ADD, fd, &kev) < 0) {
        DM_REAL(close)(fd);
        fd = -1;
    }
    ep->kick_fd = fd;
}

/* The wait fds of the instances this wait watches (shim_wait_fds) in the
 * kernel set. False: one had to be made just now, look again first. */
static bool ensure_wait_fds(struct shim_epoll *ep, int kfd)
{
    ensure_kick_fd(ep, kfd);
    ep_note_dp(ep, NULL);
    struct shim_dp *dps[SHIM_MAX_DPS + 1];
    int n = 0;
    bool ready = shim_wait_dps(dps, SHIM_MAX_DPS + 1, &n);
    for (int i = 0; i < n; i++) {
        if (ep->wait_mask & (1ull << dps[i]->idx))
            continue;
        struct epoll_event wev = { .events = EPOLLIN, .data.ptr = (void *)&shim_wait_marker };
        if (DM_REAL(epoll_ctl)(kfd, EPOLL_CTL_ADD, dps[i]->wait_fd, &wev) < 0 && errno == EEXIST)
            DM_REAL(epoll_ctl)(kfd, EPOLL_CTL_MOD, dps[i]->wait_fd, &wev);
        ep->wait_mask |= 1ull << dps[i]->idx;
    }
    /* a parent that relays its children's connections (all locks: relay.c's state) */
    int rfd = shim_locked_all() ? shim_relay_wait_fd() : -1;
    if (rfd >= 0 && rfd != ep->relay_fd) {
        struct epoll_event rev = { .events = EPOLLIN, .data.ptr = (void *)&shim_wait_marker };
        if (DM_REAL(epoll_ctl)(kfd, EPOLL_CTL_ADD, rfd, &rev) == 0 || errno == EEXIST)
            ep->relay_fd = rfd;
    }
    return ready;
}

/* Every offloaded socket in the set is in this thread's instance (and
 * those that are not handed over change only with all locks held): a wait
 * on it needs that instance's lock only. */
static bool ep_mine_only(const struct shim_epoll *ep, const struct shim_dp *mine)
{
    return ep->wait_gen == shim_rt.inst_gen && !ep->mixed && ep->ndps == 1 && ep->dps[0] == mine;
}

/* What epfd names, with the call's lock: this thread's instance's for a
 * set of its own (ep_mine_only), else all locks. */
static struct shim_obj *ep_enter(int epfd, struct shim_dp *mine)
{
    if (dm_likely(mine != NULL) && shim_dp_live(mine) && !__atomic_load_n(&shim_relay_live, __ATOMIC_RELAXED)) {
        shim_lock_dp(mine);
        struct shim_obj *o = shim_fd_get(epfd);
        if (o && o->kind == SHIM_KIND_EPOLL && ep_mine_only((struct shim_epoll *)o, mine))
            return o;
        shim_unlock();
    }
    shim_lock();
    return shim_fd_get(epfd);
}

/* The instances the wait drives: normally only this thread's (then it
 * sleeps in it; others wake it through their wait fds); more than
 * SHIM_FOCUS_MAX of them: all. */
static void ep_focus(struct shim_epoll *ep)
{
    ep_note_dp(ep, NULL);
    if (ep->mixed)
        shim_focus_all();
    else
        shim_focus_set(ep->dps, ep->ndps);
}

/* The application's kernel fds in a set with our sockets are asked about
 * on every turn of a wait while they have events, and once quiet, at most
 * every KPOLL_GAP_MAX_NS (the gap doubles from 1 us): redis's module pipe
 * and libevent's notify pipe, quiet in a set of our sockets, had cost an
 * epoll_wait syscall on every turn of every wait (redis over XDP: 4.5 per
 * request). A sleep watches them in the kernel, so this delays an event
 * of theirs only while the thread spins or serves our sockets. */
#define KPOLL_GAP_MAX_NS (32 * 1000)

static inline bool kernel_due(const struct shim_epoll *ep, int64_t now)
{
    return now - ep->kpoll_ns >= ep->kpoll_gap_ns;
}

static inline void kernel_polled(struct shim_epoll *ep, int64_t now, int r)
{
    __atomic_fetch_add(&shim_ctr.epoll_kernel_asks, 1, __ATOMIC_RELAXED);
    ep->kpoll_ns = now;
    ep->kpoll_gap_ns = r > 0 ? 0 : DM_MIN(KPOLL_GAP_MAX_NS, ep->kpoll_gap_ns * 2 + 1000);
}

int shim_epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout_ms, const sigset_t *sigmask)
{
    struct shim_dp *mine = shim_dp_fast();
    struct shim_obj *eo = ep_enter(epfd, mine);
    shim_turn_begin();
    if (!eo || eo->kind != SHIM_KIND_EPOLL || dm_list_empty(&((struct shim_epoll *)eo)->watches)) {
        /* no socket of ours in the set: but the wait fd may be there, or
         * the datapath may still have data to send */
        if (eo && eo->kind == SHIM_KIND_EPOLL && max > 0) {
            struct shim_epoll *ep0 = (struct shim_epoll *)eo;
            if (!ep0->wait_mask && !shim_rt.inst && !ep0->nnested) {
                shim_unlock();
                return SHIM_PASS;
            }
        } else {
            shim_unlock();
            return SHIM_PASS;
        }
    }
    if (max <= 0 || shim_bad_ptr(evs)) {
        shim_unlock();
        return max <= 0 ? -EINVAL : -EFAULT;
    }
    struct shim_epoll *ep = (struct shim_epoll *)eo;
    ep->obj.refs++;
    tls_pf.n = tls_pf.next = 0;
    ep_focus(ep);
    uint32_t focus_gen = ep->dps_gen;
    int64_t start = dm_clock_ns();
    int64_t deadline = timeout_ms < 0 ? -1 : start + (int64_t)timeout_ms * DM_NS_PER_MS;
    struct shim_sigmark sm; /* Linux never restarts these after a handler */
    shim_sig_mark(&sm);
    static __thread unsigned flip, turn;
    int n = 0, r;
    int64_t now = start;
    bool slept = false;
    for (;;) {
        shim_progress_step();
        for (unsigned i = 0; dm_unlikely(i < ep->nnested); i++)
            shim_epoll_nest(ep->nested[i]); /* their kernel fds say what is ready now */
        if (dm_unlikely(ep->dps_gen != focus_gen)) {
            /* epoll_ctl added a socket of another instance (or one moved
             * to another) while the lock was down: drive that one too.
             * (The focus used to be refreshed only by a wait that held
             * its own instance's lock alone; one on several instances,
             * with every lock, kept its first focus and slept through
             * the new instance's events: Apache event's listener, as
             * its workers' new instances joined, 1 start in ~20.) */
            if (!shim_locked_all() && !ep_mine_only(ep, mine))
                shim_lock_escalate();
            ep_focus(ep);
            focus_gen = ep->dps_gen;
        }
        if ((++ep->turns & 1023) == 0)
            ready_refill(ep);
        if (slept) {
            /* the kernel's events of this round are in evs[0..n) */
            n += scan_watches(ep, evs + n, max - n);
        } else if (!ep->nkernel ? (++turn & 31) != 0 : !kernel_due(ep, now)) {
            /* only our sockets in the set (now and then the kernel's set is
             * looked at anyway: a kernel fd we did not see go in), or its
             * kernel fds were asked about a moment ago */
            n += scan_watches(ep, evs + n, max - n);
        } else if ((++flip & 1) && n == 0) {
            r = DM_REAL(epoll_wait)(epfd, evs, max, 0);
            kernel_polled(ep, now, r);
            n = r > 0 ? drop_marker(evs, r) : 0;
            n += scan_watches(ep, evs + n, max - n);
        } else {
            n += scan_watches(ep, evs + n, max - n);
            if (n < max) {
                r = DM_REAL(epoll_wait)(epfd, evs + n, max - n, 0);
                kernel_polled(ep, now, r);
                if (r > 0)
                    n += drop_marker(evs + n, r);
            }
        }
        if (n > 0 || timeout_ms == 0) {
            r = n;
            break;
        }
        now = dm_clock_ns();
        if (deadline >= 0 && now >= deadline) {
            r = 0;
            break;
        }
        if (shim_sig_ran(&sm)) {
            r = -EINTR; /* a handler ran while we spun or looked */
            break;
        }
        if ((shim_spin_on(now - start, now) || shim_spin_only()) && !sigmask) {
            shim_spin_pause_at(now - start);
            continue;
        }
        if (now - ep->refill_ns > 10 * DM_NS_PER_MS) {
            /* a look at every watch before a sleep (at most every 10 ms:
             * with 10,000 idle ones, this is what costs) */
            ep->refill_ns = now;
            ready_refill(ep);
            if ((n = scan_watches(ep, evs, max)) > 0) {
                r = n;
                break;
            }
        }
        if (!shim_may_sleep())
            continue; /* harvested something, or the backend has work */
        int64_t cap = shim_rt.cfg.wait_slice_ms;
        int tmo = (int)(deadline < 0 ? cap : DM_MIN((deadline - now + DM_NS_PER_MS - 1) / DM_NS_PER_MS, cap));
        if (!sigmask) {
            /* inside the datapath, the kernel epoll (the application's
             * kernel fds and our kick) watched there */
            ensure_kick_fd(ep, epfd);
            struct shim_sleeper sl;
            struct pollfd watch = { .fd = epfd, .events = POLLIN };
            shim_sleep_begin(&sl, &ep->sleepers, &ep->lock, ep->kick_fd);
            int sr = shim_sleep_inside(&watch, &ep->watch_id, 1, (int64_t)tmo * DM_NS_PER_MS);
            shim_sleep_end(&sl);
            if (sr != -EAGAIN) {
                if (sr == -EINTR && shim_sig_after_eintr(&sm, false) < 0) {
                    r = -EINTR;
                    break;
                }
                if (shim_fd_get(epfd) != &ep->obj) {
                    r = -EBADF;
                    break;
                }
                if (ep->nkernel) {
                    /* what the kernel has for the application this round */
                    r = DM_REAL(epoll_wait)(epfd, evs, max, 0);
                    n = r > 0 ? drop_marker(evs, r) : 0;
                    slept = true;
                }
                continue;
            }
        }
        if (!ensure_wait_fds(ep, epfd))
            continue;
        if (shim_spin_only())
            tmo = 0;
        struct shim_sleeper sl;
        shim_sleep_begin(&sl, &ep->sleepers, &ep->lock, ep->kick_fd);
        shim_unlock();
        r = DM_REAL(epoll_pwait)(epfd, evs, max, tmo, sigmask); /* the app's fd: dups share the set */
        int e = errno;
        shim_relock();
        shim_sleep_end(&sl);
        if (r < 0 && e == EINTR && !sigmask && shim_sig_after_eintr(&sm, false) == 0) {
            n = 0;
            slept = false;
            continue; /* io_uring task work, not a signal: the deadline stands */
        }
        if (r < 0) {
            r = -e;
            break;
        }
        n = drop_marker(evs, r);
        slept = true;
        if (shim_fd_get(epfd) != &ep->obj) {
            r = n ? n : -EBADF;
            break;
        }
        /* loop: harvest and add our events to what the kernel gave */
    }
    if (dm_unlikely(ep->nest_fd >= 0))
        shim_epoll_nest(ep); /* what it reported may have been all there was */
    if (dm_unlikely(ep->obj.refs == 1))
        shim_lock_escalate(); /* closed meanwhile: the last ref frees it */
    shim_epoll_unref(ep);
    shim_turn_end(r);
    pf_head(0);
    pf_head(1);
    pf_head(2);
    shim_unlock();
    return r;
}
