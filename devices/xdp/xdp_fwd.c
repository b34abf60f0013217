/* SPDX-License-Identifier: MIT */
/*
 * Frames handed between the processes of one interface.
 *
 * Each process owns the frames of its own queue, but the peer (veth's
 * flow hash, a NIC's RSS) places flows without asking us: the replies to
 * a connection we opened come back on the queue the peer's hash picks,
 * maybe another process's, and a connection the peer re-hashes after a
 * retransmission timeout moves to another queue. A process that gets a
 * frame no socket of its own takes hands it on (stacks/inet's
 * forward_stray, dm_dev_ops.forward), round the others, each at most
 * once, until its owner takes it; the last one answers it as Linux would
 * (a reset). As devices/dpdk does through its primary's rings.
 *
 * Where: the program's xdp_fwd map (BPF_F_MMAPABLE), which every process
 * of the interface can open (the helper passes it to unprivileged ones)
 * and map, and which lives as long as the program. Per queue a header
 * page, then XDP_FWD_SLOTS slots of one frame each: a ring with one
 * consumer (the queue's owner, lock-free) and producers that take turns
 * through a lock word holding the writer's pid (a writer that died
 * holding it is found out by the next one). A frame costs a copy in and a
 * copy out, and a datagram to wake the owner if it sleeps: this is the
 * path of the odd stray, not of a flow's every packet.
 *
 * Waking: the owner waits on its XSK fd for frames from the wire; a frame
 * on its ring is announced with a datagram to its wake socket (autobound
 * abstract unix name, published in its header), and its wait fd is an
 * epoll set of both. `wake` says one is on its way, so a burst sends one;
 * the owner clears it when it has taken the datagram (or after a second
 * without one: its sender died between the two steps). dm/wake.h, which
 * devices/dpdk shares.
 */
#include <errno.h>
#include <signal.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>
#include "dm/compiler.h"
#include "dm/device.h"
#include "dm/log.h"
#include "dm/time.h"
#include "xdp_fwd.h"
#include "xdp_prog.h"

/* this layout: "Xfd" and the slot count (a map of another layout is
 * refused by its size, or by this) */
#define XDP_FWD_MAGIC (0x64665800u | (XDP_FWD_SLOTS & 0xffu))
/* nginx's workers (and any forked server) take their queue when their
 * datapath starts and listen a moment later; at a reload the old ones
 * have closed their listeners by then. A Linux client sends its SYN
 * again every second for its first four tries: the window spans them. */
#define XDP_FWD_START_GRACE (5LL * DM_NS_PER_S)
#define XDP_FWD_WAIT_GRACE  (1LL * DM_NS_PER_S)
#define XDP_FWD_FULL_WAIT   (100LL * DM_NS_PER_US)
#define XDP_FWD_SLOW_SKIP   (10LL * DM_NS_PER_MS)

/* A queue's header page. Written by its owner, and by the processes that
 * hand it frames (lock, tail, wake): those on a line of their own. */
struct xdp_fwd_q {
    uint32_t magic;                /* XDP_FWD_MAGIC once an owner set it up */
    uint32_t pid;                  /* owner, 0: none */
    uint64_t pidns;                /* its pid namespace */
    int64_t claim_ns;              /* CLOCK_MONOTONIC when it took the queue */
    uint32_t listening;            /* it listens on some TCP port */
    char wake_name[DM_WAKE_NAME];  /* its wake socket's name (dm/wake.h) */
    uint32_t head;                 /* next slot the owner takes */
    uint8_t pad0[64 - 40];
    uint32_t lock;                 /* pid of the process writing a slot, 0: free */
    uint32_t tail;                 /* next slot written */
    uint32_t wake;                 /* 1: a wake datagram is on its way */
    int64_t waiting_ns;            /* queue 0's only: when a process last said it waits for a queue */
};
_Static_assert(sizeof(struct xdp_fwd_q) <= XDP_FWD_PAGE, "a header page");
_Static_assert(__builtin_offsetof(struct xdp_fwd_q, lock) == 64, "producers' line");

struct xdp_fwd_slot {
    uint32_t len;
    uint32_t pad;
    uint64_t route;                /* queues it has been to, bit per queue */
    uint8_t data[XDP_FWD_DATA];
};
_Static_assert(sizeof(struct xdp_fwd_slot) == XDP_FWD_PAGE, "a slot page");

static inline struct xdp_fwd_q *hdr_of(const struct xdp_fwd *f, uint32_t q)
{
    return (struct xdp_fwd_q *)(f->base + (size_t)q * (1 + XDP_FWD_SLOTS) * XDP_FWD_PAGE);
}

static inline struct xdp_fwd_slot *slot_of(const struct xdp_fwd *f, uint32_t q, uint32_t i)
{
    return (struct xdp_fwd_slot *)((uint8_t *)hdr_of(f, q) + (size_t)(1 + i % XDP_FWD_SLOTS) * XDP_FWD_PAGE);
}

/* Is pid (of pid namespace ns) running? Another namespace's: assume so. */
static bool alive(const struct xdp_fwd *f, uint32_t pid, uint64_t ns)
{
    if (!pid)
        return false;
    if (ns != f->pidns)
        return true;
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/* The producers' lock of queue h. Held for a copy of one frame; a
 * holder that died (its pid gone) is taken over. */
static bool q_lock(const struct xdp_fwd *f, struct xdp_fwd_q *h, uint32_t me)
{
    for (int i = 0; i < 4096; i++) {
        uint32_t cur = 0;
        if (__atomic_compare_exchange_n(&h->lock, &cur, me, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return true;
        if ((i & 1023) == 1023 && !alive(f, cur, f->pidns) &&
            __atomic_compare_exchange_n(&h->lock, &cur, me, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return true;
        if (i > 64)
            sched_yield();
    }
    return false;
}

static void q_unlock(struct xdp_fwd_q *h)
{
    __atomic_store_n(&h->lock, 0, __ATOMIC_RELEASE);
}

int xdp_fwd_map(struct xdp_fwd *f, int map_fd, uint32_t nqueues)
{
    memset(f, 0, sizeof(*f));
    f->wake.fd = f->ep_fd = -1;
    f->nq = nqueues < XDP_FWD_MAX_Q ? nqueues : XDP_FWD_MAX_Q;
    if (map_fd < 0 || f->nq < 2)
        return -ENOTSUP; /* alone on the interface */
    f->len = (size_t)xdp_fwd_pages(nqueues) * XDP_FWD_PAGE;
    void *m = mmap(NULL, f->len, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
    if (m == MAP_FAILED)
        return -errno;
    f->base = m;
    f->pidns = xdp_pidns_self();
    return 0;
}

void xdp_fwd_waiting(struct xdp_fwd *f)
{
    if (f->base)
        __atomic_store_n(&hdr_of(f, 0)->waiting_ns, dm_clock_ns_sys(), __ATOMIC_RELAXED);
}

int xdp_fwd_open(struct xdp_fwd *f, uint32_t q, int xsk_fd)
{
    if (!f->base || q >= f->nq)
        return -ENOTSUP; /* not mapped, or a queue past the first XDP_FWD_MAX_Q */
    f->q = q;
    int err;
    char name[DM_WAKE_NAME];
    struct epoll_event ev = { .events = EPOLLIN };
    if ((err = dm_wake_open(&f->wake, name)) < 0) {
        xdp_fwd_close(f);
        return err;
    }
    f->ep_fd = epoll_create1(EPOLL_CLOEXEC);
    if (f->ep_fd < 0 || epoll_ctl(f->ep_fd, EPOLL_CTL_ADD, xsk_fd, &ev) < 0 ||
        epoll_ctl(f->ep_fd, EPOLL_CTL_ADD, f->wake.fd, &ev) < 0) {
        err = -errno;
        xdp_fwd_close(f);
        return err;
    }
    struct xdp_fwd_q *h = hdr_of(f, q);
    uint32_t me = (uint32_t)getpid();
    if (!q_lock(f, h, me)) {
        xdp_fwd_close(f);
        return -EBUSY;
    }
    /* what the last owner left unread is not ours to take */
    h->head = __atomic_load_n(&h->tail, __ATOMIC_RELAXED);
    __atomic_store_n(&h->wake, 0, __ATOMIC_RELAXED);
    memcpy(h->wake_name, name, sizeof(h->wake_name));
    h->pidns = f->pidns;
    h->listening = 0;
    h->claim_ns = dm_clock_ns_sys();
    h->magic = XDP_FWD_MAGIC;
    __atomic_store_n(&h->pid, me, __ATOMIC_RELEASE);
    q_unlock(h);
    f->me = h;
    return 0;
}

void xdp_fwd_close(struct xdp_fwd *f)
{
    if (f->me) {
        __atomic_store_n(&f->me->listening, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&f->me->pid, 0, __ATOMIC_RELEASE);
    }
    f->me = NULL;
    if (f->base)
        munmap(f->base, f->len);
    f->base = NULL;
    dm_wake_close(&f->wake);
    if (f->ep_fd >= 0)
        close(f->ep_fd);
    f->ep_fd = -1;
}

bool xdp_fwd_pending(const struct xdp_fwd *f)
{
    const struct xdp_fwd_q *h = f->me;
    return h && (__atomic_load_n(&h->tail, __ATOMIC_ACQUIRE) != h->head || __atomic_load_n(&h->wake, __ATOMIC_RELAXED));
}

void xdp_fwd_wake_take(struct xdp_fwd *f)
{
    if (f->me)
        (void)dm_wake_take(&f->wake, &f->me->wake);
}

const uint8_t *xdp_fwd_peek(struct xdp_fwd *f, uint32_t *len, uint64_t *route)
{
    struct xdp_fwd_q *h = f->me;
    if (!h || __atomic_load_n(&h->tail, __ATOMIC_ACQUIRE) == h->head)
        return NULL;
    const struct xdp_fwd_slot *s = slot_of(f, f->q, h->head);
    *len = s->len <= XDP_FWD_DATA ? s->len : 0;
    *route = s->route;
    return s->data;
}

void xdp_fwd_pop(struct xdp_fwd *f)
{
    __atomic_store_n(&f->me->head, f->me->head + 1, __ATOMIC_RELEASE);
}

int xdp_fwd_send(struct xdp_fwd *f, uint32_t len, void (*copy)(void *arg, uint8_t *dst, uint32_t len), void *arg,
                 uint64_t route, uint32_t hash)
{
    if (!f->me)
        return -ENOENT;
    if (len > XDP_FWD_DATA)
        return -E2BIG;
    route |= 1ull << f->q;
    /* the best of the others (dm_fwd_pick) */
    struct dm_fwd_pick pick;
    dm_fwd_pick_init(&pick);
    int64_t mine = f->me->claim_ns;
    for (uint32_t q = 0; q < f->nq; q++) {
        const struct xdp_fwd_q *h = hdr_of(f, q);
        if ((route >> q & 1) || __atomic_load_n(&h->magic, __ATOMIC_RELAXED) != XDP_FWD_MAGIC ||
            !alive(f, __atomic_load_n(&h->pid, __ATOMIC_ACQUIRE), h->pidns))
            continue;
        dm_fwd_pick_offer(&pick, q, __atomic_load_n(&h->listening, __ATOMIC_RELAXED), h->claim_ns > mine);
    }
    int picked = dm_fwd_pick_get(&pick, hash);
    if (picked < 0)
        return -ENOENT;
    uint32_t to = (uint32_t)picked;
    struct xdp_fwd_q *h = hdr_of(f, to);
    if (!q_lock(f, h, (uint32_t)getpid()))
        return 0;
    uint32_t tail = h->tail;
    /* Full: its owner is behind, or asleep with frames it had no room
     * for when it last looked (it takes them as its application frees
     * buffers): woken, and a moment for it, then dropped, as by a full
     * NIC queue: the sender retransmits. */
    for (int64_t until = 0; tail - __atomic_load_n(&h->head, __ATOMIC_ACQUIRE) >= XDP_FWD_SLOTS;) {
        int64_t now = dm_clock_ns_sys();
        if (!until && now < f->slow_until[to]) {
            until = now;
        } else if (!until) {
            until = now + XDP_FWD_FULL_WAIT;
            /* the owner is behind: a datagram now, whatever the flag says */
            __atomic_store_n(&h->wake, 1, __ATOMIC_SEQ_CST);
            (void)dm_wake_send(&f->wake, h->wake_name);
        }
        if (now >= until) {
            /* one that does not keep up (stopped, overloaded) is not
             * waited for again for a while: that would stall our own */
            f->slow_until[to] = now + XDP_FWD_SLOW_SKIP;
            q_unlock(h);
            return 0;
        }
        sched_yield();
    }
    struct xdp_fwd_slot *s = slot_of(f, to, tail);
    copy(arg, s->data, len);
    s->len = len;
    s->route = route;
    __atomic_store_n(&h->tail, tail + 1, __ATOMIC_SEQ_CST);
    q_unlock(h);
    (void)dm_wake_owner(&f->wake, h->wake_name, &h->wake);
    return 1;
}

void xdp_fwd_listening(struct xdp_fwd *f, bool on)
{
    if (f->me)
        __atomic_store_n(&f->me->listening, on, __ATOMIC_RELAXED);
}

bool xdp_fwd_peers_starting(const struct xdp_fwd *f)
{
    if (!f->me)
        return false;
    int64_t now = dm_clock_ns_sys();
    if (now - __atomic_load_n(&hdr_of(f, 0)->waiting_ns, __ATOMIC_RELAXED) < XDP_FWD_WAIT_GRACE)
        return true; /* a worker waits for a queue (at a reload, for an old one's) */
    for (uint32_t q = 0; q < f->nq; q++) {
        const struct xdp_fwd_q *h = hdr_of(f, q);
        if (__atomic_load_n(&h->magic, __ATOMIC_RELAXED) == XDP_FWD_MAGIC &&
            !__atomic_load_n(&h->listening, __ATOMIC_RELAXED) && now - h->claim_ns < XDP_FWD_START_GRACE &&
            alive(f, __atomic_load_n(&h->pid, __ATOMIC_ACQUIRE), h->pidns))
            return true;
    }
    return false;
}
