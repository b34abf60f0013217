/* SPDX-License-Identifier: MIT */
/*
 * One DPDK port shared by many processes, DPDK's own multi-process model:
 * demi-dpdk-primary (demi_dpdk_primary.c) owns the port and its memory;
 * every preloaded process is a secondary that claims one queue pair.
 *
 * The table (struct dpdk_mp_shm, memzone "dm_mp<port>"): one entry per
 * queue with the pid of its owner and that process's start time. A
 * secondary takes the first entry that is free or whose owner is gone
 * (compare-and-swap on the pid), so a killed process's queue is reclaimed
 * by the next one to attach (and by the primary, which looks every
 * second). Each queue has its own two mempools (RX and copied TX frames;
 * bare mbufs for our buffers by reference): every secondary is lcore 0, so
 * two processes on one pool would share its lcore-0 cache.
 *
 * ARP: the device spreads frames over the queues by a flow hash, and an
 * ARP reply to one process's request may land on another's queue (every
 * process has the same address and MAC). So each ARP frame a secondary
 * receives is also copied, through a ring per queue (mbufs of a pool with
 * no per-lcore cache), to every other live queue, and each secondary
 * takes its ring's frames with its own bursts (F-Stack does the same).
 *
 * Waking: a process that can sleep (a tap port: dpdk_tap.c) publishes an
 * autobound abstract unix socket in its entry; whoever puts a frame in
 * its ring sends it a datagram unless `wake` says one is on its way, so a
 * burst of handed-on frames costs one. The owner clears `wake` once it
 * has taken the datagram (or after a second without one: its sender died
 * between the two steps), then looks at its ring: dm/wake.h, as devices/xdp.
 *
 * Flow placement: when the primary knows the port's hash (Toeplitz with a
 * key it set), qmap[hash % qmap_n] is the queue of a flow; the inet stack
 * asks dpdk_mp_flow_ours before it takes an ephemeral port, so that the
 * replies to a connection we open come back to our own queue.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_memzone.h>
#include <rte_ring.h>
#include "../thash.h"

#include "dm/time.h"
#include "dm/log.h"
#include "dpdk_priv.h"

void dpdk_mp_names(uint16_t port, int q, char *shm, char *rx, char *ext, char *arp_pool, char *arp_ring)
{
    if (shm)
        snprintf(shm, RTE_MEMZONE_NAMESIZE, "dm_mp%u", port);
    if (rx)
        snprintf(rx, RTE_MEMPOOL_NAMESIZE, "dm_rx%u_%d", port, q);
    if (ext)
        snprintf(ext, RTE_MEMPOOL_NAMESIZE, "dm_ext%u_%d", port, q);
    if (arp_pool)
        snprintf(arp_pool, RTE_MEMPOOL_NAMESIZE, "dm_arp%u", port);
    if (arp_ring)
        snprintf(arp_ring, RTE_RING_NAMESIZE, "dm_arpq%u_%d", port, q);
}

uint64_t dpdk_mp_start_time(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command may hold spaces */
    if (!p)
        return 0;
    /* after ") " come fields 3..: state is 3, starttime is 22 */
    unsigned long long v = 0;
    int field = 2;
    for (char *t = strtok(p + 1, " "); t; t = strtok(NULL, " ")) {
        if (++field == 22) {
            v = strtoull(t, NULL, 10);
            break;
        }
    }
    return v;
}

bool dpdk_mp_owner_alive(const struct dpdk_mp_queue *e)
{
    int pid = __atomic_load_n(&e->pid, __ATOMIC_ACQUIRE);
    if (pid <= 0)
        return false;
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return false;
    uint64_t st = dpdk_mp_start_time(pid);
    /* another process now has that pid (st == 0: not ours to see, alive) */
    return st == 0 || e->start_time == 0 || st == e->start_time;
}

/* A claimed queue that another secondary still polls as free
 * (dpdk_mp_adopted_rx): it lets go at its next burst, and a queue takes
 * one poller at a time. One that stays (stopped, gone) is waited for 1 s,
 * then taken from it. */
static void adopter_wait(struct dpdk_mp_queue *e, uint16_t port, int q)
{
    int64_t end = dm_clock_ns_sys() + DM_NS_PER_S;
    int32_t a;
    /* our pid store, then their adopter load; the poller does the
     * reverse (adopt_scan): with a full fence on each side, one of the
     * two sees the other */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    while ((a = __atomic_load_n(&e->adopter, __ATOMIC_ACQUIRE)) != 0) {
        if (dm_clock_ns_sys() > end || (kill(a, 0) != 0 && errno == ESRCH)) {
            if (__atomic_compare_exchange_n(&e->adopter, &a, 0, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
                DM_WARN("dpdk", "port %u queue %d: pid %d polled it and did not let go: taken", port, q, a);
            continue;
        }
        struct timespec ts = { 0, 50 * DM_NS_PER_US };
        nanosleep(&ts, NULL);
    }
}

/* A free queue, else one whose owner is gone: its index, claimed; -1. */
static int claim_queue(struct dpdk_mp_shm *shm, uint16_t port)
{
    int me = (int)getpid();
    uint64_t st = dpdk_mp_start_time(me);
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < shm->nb_queues; i++) {
            struct dpdk_mp_queue *e = &shm->q[i];
            int32_t old = __atomic_load_n(&e->pid, __ATOMIC_ACQUIRE);
            /* first pass: free queues; second: those of dead owners */
            if (old != 0 && (pass == 0 || dpdk_mp_owner_alive(e)))
                continue;
            if (!__atomic_compare_exchange_n(&e->pid, &old, me, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
                continue;
            e->start_time = st;
            e->listening = 0;
            __atomic_store_n(&e->claim_ns, dm_clock_ns_sys(), __ATOMIC_RELAXED);
            e->claims++;
            if (old != 0)
                DM_WARN("dpdk", "port %u queue %d: its owner (pid %d) is gone: reclaimed", port, i, old);
            adopter_wait(e, port, i);
            return i;
        }
    }
    return -1;
}

int dpdk_mp_attach(struct dpdk_dev *d, uint16_t port, int64_t wait_ms)
{
    char zname[RTE_MEMZONE_NAMESIZE], rx[RTE_MEMPOOL_NAMESIZE], ext[RTE_MEMPOOL_NAMESIZE];
    char arp_pool[RTE_MEMPOOL_NAMESIZE], arp_ring[RTE_RING_NAMESIZE];
    dpdk_mp_names(port, 0, zname, NULL, NULL, NULL, NULL);
    const struct rte_memzone *mz = rte_memzone_lookup(zname);
    if (!mz) {
        DM_ERR("dpdk", "port %u: the primary has no queue table (memzone %s): is it demi-dpdk-primary, "
                       "and is DEMI_DPDK_PORT its port?", port, zname);
        return -ENODEV;
    }
    struct dpdk_mp_shm *shm = mz->addr;
    if (shm->magic != DPDK_MP_MAGIC || shm->port != port) {
        DM_ERR("dpdk", "port %u: the primary's queue table is not ready (or another version)", port);
        return -ENODEV;
    }
    int q = claim_queue(shm, port);
    if (q < 0 && wait_ms > 0) {
        /* At nginx's reload the new workers start while the old ones still
         * finish their connections on their queues: wait for one to leave
         * rather than fail (the old one's new flows go to the other
         * processes meanwhile: forward_stray in stacks/inet). */
        DM_WARN("dpdk", "port %u: all %u queues are held by live processes: waiting up to %lld ms for one "
                        "(DEMI_DPDK_CLAIM_WAIT_MS)", port, shm->nb_queues, (long long)wait_ms);
        int64_t end = dm_clock_ns_sys() + wait_ms * DM_NS_PER_MS;
        while (q < 0 && dm_clock_ns_sys() < end) {
            struct timespec ts = { 0, 10 * DM_NS_PER_MS };
            nanosleep(&ts, NULL);
            q = claim_queue(shm, port);
        }
        if (q >= 0)
            DM_INFO("dpdk", "port %u: queue %d came free", port, q);
    }
    if (q < 0) {
        DM_ERR("dpdk", "port %u: all %u queues of demi-dpdk-primary are taken by live processes (raise "
                       "DEMI_DPDK_QUEUES of the primary)", port, shm->nb_queues);
        return -EBUSY;
    }
    dpdk_mp_names(port, q, NULL, rx, ext, arp_pool, arp_ring);
    d->mp = rte_mempool_lookup(rx);
    d->ext_mp = rte_mempool_lookup(ext);
    d->arp_in = shm->nb_queues > 1 ? rte_ring_lookup(arp_ring) : NULL;
    if (shm->nb_queues > 1 && (!shm->arp_mp || rte_mempool_lookup(arp_pool) != shm->arp_mp))
        d->arp_in = NULL;
    if (!d->mp || !d->ext_mp || (shm->nb_queues > 1 && !d->arp_in)) {
        DM_ERR("dpdk", "port %u queue %d: the primary's pools are missing (%s, %s, %s)", port, q, rx, ext,
               arp_ring);
        __atomic_store_n(&shm->q[q].pid, 0, __ATOMIC_RELEASE);
        return -ENODEV;
    }
    /* what a dead owner left in our ring */
    struct rte_mbuf *stale[32];
    unsigned n;
    while (d->arp_in && (n = rte_ring_dequeue_burst(d->arp_in, (void **)stale, 32, NULL)) > 0)
        rte_pktmbuf_free_bulk(stale, n);
    d->queue = (uint16_t)q;
    d->shm = shm;
    d->secondary = true;
    d->adopted = 0;
    d->adopt_poll = 1; /* look for free queues at the first burst */
    DM_INFO("dpdk", "port %u (%s): secondary on queue %d of %u (%s)", port, shm->driver, q, shm->nb_queues,
            shm->place_how);
    return 0;
}

void dpdk_mp_detach(struct dpdk_dev *d)
{
    if (!d->shm)
        return;
    int32_t me = (int32_t)getpid();
    for (int q = 0; q < d->shm->nb_queues; q++) {
        int32_t a = me;
        if (d->adopted & (1u << q))
            __atomic_compare_exchange_n(&d->shm->q[q].adopter, &a, 0, false, __ATOMIC_RELEASE, __ATOMIC_RELAXED);
    }
    d->adopted = 0;
    __atomic_store_n(&d->shm->q[d->queue].listening, 0, __ATOMIC_RELAXED);
    __atomic_compare_exchange_n(&d->shm->q[d->queue].pid, &me, 0, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
    d->shm = NULL;
}

int dpdk_mp_wake_open(struct dpdk_dev *d)
{
    struct dpdk_mp_queue *e = &d->shm->q[d->queue];
    int rc = dm_wake_open(&d->wake, e->wake_name);
    if (rc == 0)
        __atomic_store_n(&e->wake, 0, __ATOMIC_SEQ_CST); /* what a dead owner left set */
    return rc;
}

void dpdk_mp_wake_close(struct dpdk_dev *d)
{
    if (d->shm && d->wake.fd >= 0)
        memset(d->shm->q[d->queue].wake_name, 0, sizeof(d->shm->q[d->queue].wake_name));
    dm_wake_close(&d->wake);
}

/* After a frame went into queue e's ring: wake its owner if it may sleep. */
static void wake_owner(struct dpdk_dev *d, struct dpdk_mp_queue *e)
{
    if (dm_wake_owner(&d->wake, e->wake_name, &e->wake))
        d->st[DPDK_ST_WAKE_SENT]++;
}

/* Before a look at our ring. */
static void wake_take(struct dpdk_dev *d)
{
    if (dm_wake_take(&d->wake, &d->shm->q[d->queue].wake))
        d->st[DPDK_ST_WAKE_TAKEN]++;
}

static inline bool is_arp(const struct rte_mbuf *m)
{
    const struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
    return m->data_len >= sizeof(*eh) && eh->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
}

uint16_t dpdk_mp_arp(struct dpdk_dev *d, struct rte_mbuf **mb, uint16_t nb, uint16_t max)
{
    struct dpdk_mp_shm *shm = d->shm;
    if (!d->arp_in)
        return nb;
    for (uint16_t i = 0; i < nb; i++) {
        if (dm_likely(!is_arp(mb[i])))
            continue;
        for (int q = 0; q < shm->nb_queues; q++) {
            if (q == d->queue || __atomic_load_n(&shm->q[q].pid, __ATOMIC_RELAXED) == 0)
                continue;
            /* ring and pool live in shared memory at one address in every process */
            struct rte_ring *r = shm->arp_ring[q];
            struct rte_mempool *ap = shm->arp_mp;
            struct rte_mbuf *c = rte_pktmbuf_copy(mb[i], ap, 0, UINT32_MAX);
            if (!c)
                continue;
            if (rte_ring_enqueue(r, c) != 0) {
                rte_pktmbuf_free(c); /* its owner does not drain it (stuck or gone) */
            } else {
                shm->q[d->queue].arp_copied++;
                wake_owner(d, &shm->q[q]);
            }
        }
    }
    wake_take(d);
    if (nb < max && !rte_ring_empty(d->arp_in))
        nb = (uint16_t)(nb + rte_ring_dequeue_burst(d->arp_in, (void **)(mb + nb), max - nb, NULL));
    return nb;
}

/* Free queues. A port spreads flows over all its queues (tap's flow hash,
 * a NIC's RSS) whether or not a process claimed each: with fewer
 * secondaries than queues (demi-run --dpdk-primary=4 with 2 workers, a
 * worker that died until another takes its place) the flows of a queue
 * nobody polls were lost. So one live secondary polls each free queue
 * besides its own (its `adopter` in the table, taken by compare-and-swap:
 * one poller per queue, as DPDK wants), takes its frames as its own, and
 * hands on what it has no socket for (dpdk_mp_forward). A process that
 * claims the queue waits for the poller to let go (adopter_wait). */
static void adopt_scan(struct dpdk_dev *d)
{
    struct dpdk_mp_shm *shm = d->shm;
    int32_t me = (int32_t)getpid();
    for (int q = 0; q < shm->nb_queues; q++) {
        struct dpdk_mp_queue *e = &shm->q[q];
        if (q == d->queue || (d->adopted & (1u << q)) || __atomic_load_n(&e->pid, __ATOMIC_ACQUIRE) != 0)
            continue;
        int32_t a = __atomic_load_n(&e->adopter, __ATOMIC_ACQUIRE);
        if (a != 0 && !(kill(a, 0) != 0 && errno == ESRCH))
            continue; /* another live process polls it */
        if (__atomic_compare_exchange_n(&e->adopter, &a, me, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            __atomic_thread_fence(__ATOMIC_SEQ_CST); /* before our next look at pid (adopter_wait) */
            d->adopted |= 1u << q;
            DM_INFO("dpdk", "port %u: queue %d has no process: polled by this one (pid %d) until one claims it",
                    d->port, q, (int)me);
        }
    }
}

uint16_t dpdk_mp_adopted_rx(struct dpdk_dev *d, struct rte_mbuf **mb, uint16_t nb, uint16_t max)
{
    struct dpdk_mp_shm *shm = d->shm;
    if (!shm || shm->nb_queues < 2)
        return nb;
    if (d->adopt_poll == 0 || --d->adopt_poll == 0) {
        d->adopt_poll = DPDK_MP_ADOPT_POLL;
        adopt_scan(d);
    }
    for (uint32_t set = d->adopted; set && nb < max; set &= set - 1) {
        int q = __builtin_ctz(set);
        struct dpdk_mp_queue *e = &shm->q[q];
        if (__atomic_load_n(&e->pid, __ATOMIC_ACQUIRE) != 0) {
            /* claimed: its owner waits for us to let go (adopter_wait) */
            d->adopted &= ~(1u << q);
            __atomic_store_n(&e->adopter, 0, __ATOMIC_RELEASE);
            continue;
        }
        uint16_t got = rte_eth_rx_burst(d->port, (uint16_t)q, mb + nb, (uint16_t)(max - nb));
        if (got) {
            nb = (uint16_t)(nb + got);
            d->st[DPDK_ST_RX_ADOPTED] += got;
            __atomic_store_n(&e->rx, e->rx + got, __ATOMIC_RELAXED); /* the primary's table */
        }
    }
    if (dm_unlikely(d->adopted != d->wait_adopted))
        dpdk_tap_wait_sync(d); /* we sleep on the fds of the queues we poll, and only on those */
    return nb;
}

struct rte_mbuf *dpdk_mp_copy(struct rte_mempool *mp, const struct dm_buf *frame)
{
    /* The pool's mbufs hold 2 KiB: a longer frame (a jumbo one on memif
     * or tap) is a chain of them, which the receiver's rx_wrap takes as
     * it takes a chain from its port. */
    struct rte_mbuf *head = NULL;
    for (uint32_t off = 0; off < frame->pkt_len;) {
        struct rte_mbuf *s = rte_pktmbuf_alloc(mp);
        uint32_t room = s ? rte_pktmbuf_tailroom(s) : 0;
        uint16_t len = (uint16_t)DM_MIN(room, frame->pkt_len - off);
        char *dst = len ? rte_pktmbuf_append(s, len) : NULL;
        if (!dst || (head && rte_pktmbuf_chain(head, s) != 0)) {
            rte_pktmbuf_free(s);
            rte_pktmbuf_free(head);
            return NULL; /* the pool is out, or too many segments */
        }
        if (!head)
            head = s;
        dm_buf_copy_out(frame, off, dst, len);
        off += len;
    }
    return head;
}

bool dpdk_mp_forward(struct dpdk_dev *d, struct dm_buf *frame, uint32_t flow_hash)
{
    struct dpdk_mp_shm *shm = d->shm;
    if (!shm || !d->arp_in || !shm->arp_mp)
        return false;
    /* A frame goes round the processes until one takes it, each at most
     * once: the queues it has been to travel with it (the copy's hash.usr,
     * which nothing else here uses). A SYN wants a listener, but a segment
     * of a connection wants its one owner, which only the owner knows; the
     * last process that does not have it answers with the RST. A handed-on
     * frame whose route we cannot read stops here. */
    uint32_t seen = 1u << d->queue;
    if (frame->ol_flags & DM_BUF_RX_FORWARDED) {
        const struct rte_mbuf *m = dpdk_rx_mbuf(frame);
        if (!m)
            return false;
        seen |= m->hash.usr;
    }
    /* the best of the others (dm_fwd_pick) */
    struct dm_fwd_pick pick;
    dm_fwd_pick_init(&pick);
    uint64_t mine = shm->q[d->queue].start_time;
    for (int q = 0; q < shm->nb_queues; q++) {
        const struct dpdk_mp_queue *e = &shm->q[q];
        if ((seen & (1u << q)) || __atomic_load_n(&e->pid, __ATOMIC_ACQUIRE) == 0)
            continue;
        dm_fwd_pick_offer(&pick, (uint32_t)q, __atomic_load_n(&e->listening, __ATOMIC_RELAXED),
                          mine && e->start_time > mine);
    }
    int to = dm_fwd_pick_get(&pick, flow_hash);
    if (to < 0)
        return false;
    struct rte_mbuf *c = dpdk_mp_copy(shm->arp_mp, frame);
    if (!c)
        return false;
    c->hash.usr = seen;
    if (rte_ring_enqueue(shm->arp_ring[to], c) != 0) {
        rte_pktmbuf_free(c); /* that queue's owner does not drain its ring */
        return false;
    }
    wake_owner(d, &shm->q[to]);
    d->st[DPDK_ST_FWD_OUT]++;
    dm_buf_free(frame);
    return true;
}

void dpdk_mp_listening(struct dpdk_dev *d, bool on)
{
    if (d->shm)
        __atomic_store_n(&d->shm->q[d->queue].listening, on, __ATOMIC_RELAXED);
}

/* Why a window after the claim: nginx's workers (and any forked server)
 * claim their queue when their datapath starts, and listen a moment later;
 * at a reload the old workers have closed their listeners by then. A SYN
 * in between finds no process listening, and a reset would refuse a
 * connection Linux would have queued on the listener they inherited. A
 * Linux client sends its SYN again every second for its first four tries
 * (6.x, tcp_syn_linear_timeouts; older ones after 1 s and 3 s): the window
 * spans them. */
#define DPDK_MP_START_GRACE_NS (5LL * DM_NS_PER_S)

bool dpdk_mp_peers_starting(const struct dpdk_dev *d)
{
    const struct dpdk_mp_shm *shm = d->shm;
    if (!shm)
        return false;
    int64_t now = dm_clock_ns_sys();
    for (int q = 0; q < shm->nb_queues; q++) {
        const struct dpdk_mp_queue *e = &shm->q[q];
        if (__atomic_load_n(&e->pid, __ATOMIC_ACQUIRE) != 0 && !__atomic_load_n(&e->listening, __ATOMIC_RELAXED) &&
            now - __atomic_load_n(&e->claim_ns, __ATOMIC_RELAXED) < DPDK_MP_START_GRACE_NS)
            return true;
    }
    return false;
}

/* Is a flow of proto (IPv6 or not) hashed on its ports by d's port? */
static bool flow_hashed(const struct dpdk_mp_shm *shm, int proto, bool v6)
{
    if (!shm || shm->nb_queues < 2 || shm->place != DPDK_MP_PLACE_TOEPLITZ || !shm->qmap_n)
        return false;
    return (shm->ports & dm_flow_bit(proto, v6)) != 0;
}

bool dpdk_mp_flow_ours(const struct dpdk_dev *d, int proto, uint32_t lip, uint16_t lport, uint32_t rip,
                       uint16_t rport)
{
    const struct dpdk_mp_shm *shm = d->shm;
    if (!flow_hashed(shm, proto, false))
        return true;
    return shm->qmap[dm_thash_v4(shm->rss_key, lip, lport, rip, rport) % shm->qmap_n] == d->queue;
}

bool dpdk_mp_flow_ours6(const struct dpdk_dev *d, int proto, const uint8_t *lip, uint16_t lport, const uint8_t *rip,
                        uint16_t rport)
{
    const struct dpdk_mp_shm *shm = d->shm;
    if (!flow_hashed(shm, proto, true))
        return true;
    return shm->qmap[dm_thash_v6(shm->rss_key, lip, lport, rip, rport) % shm->qmap_n] == d->queue;
}
