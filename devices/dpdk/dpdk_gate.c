/* SPDX-License-Identifier: MIT */
/*
 * The packet path against DPDK's interrupt thread.
 *
 * Some PMDs change, on the EAL's interrupt thread, memory their burst
 * functions read: memif unmaps its rings and buffers there when the peer
 * goes away (memif_disconnect -> memif_free_regions), and checks "connected"
 * only once, at the top of a burst. A burst that is copying a frame into the
 * ring when the peer exits faults on unmapped memory. It takes a peer that
 * leaves while we answer it, but that is exactly what a short-lived client
 * does (its FIN, then its memif close, and our FIN-ACK goes out in between).
 *
 * So the interrupt thread and the bursts take turns: the preload sees that
 * thread's epoll_wait (dm_internal_thread_gate), and when it wakes up to run
 * its callbacks it raises `busy` and waits until no burst is in flight;
 * a burst that starts while busy is raised does nothing (returns 0, as for
 * a link that is down). busy drops when the thread goes back to sleep.
 *
 * The packet path pays two plain stores and a load per burst: the fence
 * that the pattern (store mine, load theirs, on both sides) needs is taken
 * on the slow side only, by membarrier(PRIVATE_EXPEDITED), which runs a
 * barrier on every thread of the process. Without membarrier the packet
 * path takes a real fence.
 *
 * Without the preload (a program on the native API) nobody sees that
 * thread's epoll_wait, so once a memif port is open we bring the thread to
 * us instead (dpdk_gate_park_start): a callback of ours, on an eventfd that
 * stays readable, runs on every round of the thread's loop, and the thread
 * sleeps in it with the gate open. Every turn it raises busy, waits for
 * the burst in flight and returns;
 * the EAL runs whatever became ready meanwhile (memif's disconnect among
 * them) with busy raised, polls its epoll set again, finds our eventfd
 * still readable and comes straight back to sleep. So the callbacks run
 * only with the bursts held off, as under the preload; they run up to one
 * turn late (a memif handshake of a few messages takes a few turns), and
 * the packet path is held off for the length of a turn. Under the preload
 * the callback sees the hook drive the gate and takes itself out.
 *
 * A turn is short (DPDK_PARK_SHORT_US) while a parked port's link is
 * down, since a handshake takes a few turns, and DEMI_DPDK_INTR_TURN_US
 * once every link is up: then all the thread may have to do is notice
 * that the peer left, which can wait. Each wake-up takes a CPU from a
 * busy-polling thread for a moment and holds the bursts off for a turn:
 * at 1000 a second, 64 B echo over memif between two processes on this
 * 2-CPU VM had ~1000 involuntary switches a second in each process and a
 * p99.9 of 35 us to 7 ms against a p50 of 2.2 us.
 *
 * The fence: with turns of DPDK_PARK_MEMBARRIER_US or longer the thread
 * raises busy with a membarrier, as under the preload, and the packet
 * path pays a compiler barrier. With shorter ones (DEMI_DPDK_INTR_TURN_US
 * set low) a thousand membarriers a second, each an IPI to every CPU of
 * the process (dear on a VM), would cost more than a real fence per burst,
 * which the packet path then takes (it was two thirds of an idle poll's
 * dpdk_rx_burst in bench/dpdk/profile.sh). While a link is down, turns
 * are short but nothing flows.
 */
/* rte_intr_instance_alloc and its accessors are experimental in 22.11 and
 * the only way to give the EAL an interrupt source of our own. */
#define ALLOW_EXPERIMENTAL_API
#include <errno.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <rte_config.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_interrupts.h>
#include <rte_pause.h>

#include "dm/device.h"
#include "dm/log.h"
#include "dpdk_priv.h"

struct dpdk_gate_port dpdk_gate_ports[RTE_MAX_ETHPORTS];
int dpdk_gate_busy;
bool dpdk_gate_fence;

static void gate_set(bool busy)
{
    if (!busy) {
        __atomic_store_n(&dpdk_gate_busy, 0, __ATOMIC_RELEASE);
        return;
    }
    __atomic_store_n(&dpdk_gate_busy, 1, __ATOMIC_RELAXED);
    if (dpdk_gate_fence || syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0)
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
    /* Now a burst either saw busy (and does nothing) or is visible here. */
    for (unsigned p = 0; p < RTE_MAX_ETHPORTS; p++) {
        unsigned spins = 0;
        while (__atomic_load_n(&dpdk_gate_ports[p].in_burst, __ATOMIC_ACQUIRE)) {
            if (++spins < 1024)
                rte_pause();
            else
                sched_yield(); /* the burst's thread may be off its CPU */
        }
    }
}

/* The preload's hook of the interrupt thread's epoll_wait drives the gate
 * (a test may drive it from another thread: that is not the hook). */
static bool gate_hooked;

static void gate_hook(bool busy)
{
    if (rte_thread_is_intr())
        __atomic_store_n(&gate_hooked, true, __ATOMIC_RELAXED);
    gate_set(busy);
}

static bool membarrier_ok;

void dpdk_gate_init(void)
{
    /* The packet path uses a compiler barrier only once membarrier works. */
    membarrier_ok = syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
    if (!membarrier_ok) {
        dpdk_gate_fence = true;
        DM_INFO("dpdk", "membarrier unavailable (%s): bursts take a fence against the interrupt thread",
                strerror(errno));
    }
    dm_internal_thread_gate_register(gate_hook);
}

/* ---- parking the interrupt thread (native API) ---- */

#define DPDK_PARK_SHORT_US 1000
#define DPDK_PARK_MEMBARRIER_US 5000

static struct rte_intr_handle *park_ih; /* our source: an eventfd kept readable */
static bool park_started;
static struct timespec park_turn, park_turn_short;
static uint64_t park_ports; /* bit p: port p is a memif port (parking is for them) */
static pthread_mutex_t park_lock = PTHREAD_MUTEX_INITIALIZER;

/* ih is the EAL's copy of our handle, which the EAL frees itself. */
static void park_released(struct rte_intr_handle *ih, void *arg)
{
    (void)arg;
    close(rte_intr_fd_get(ih));
    rte_intr_instance_free(park_ih);
    park_ih = NULL;
}

/* Whether every parked port's link is up; with busy raised (no burst in
 * flight). Only a primary asks: memif's link_update in a secondary
 * sends a request to the primary, not something for this thread. */
static bool park_links_up(void)
{
    if (rte_eal_process_type() != RTE_PROC_PRIMARY)
        return false;
    uint64_t ports = __atomic_load_n(&park_ports, __ATOMIC_RELAXED);
    for (unsigned p = 0; ports; p++, ports >>= 1) {
        struct rte_eth_link link;
        if (!(ports & 1))
            continue;
        memset(&link, 0, sizeof(link));
        if (rte_eth_link_get_nowait((uint16_t)p, &link) != 0 || link.link_status != RTE_ETH_LINK_UP)
            return false;
    }
    return true;
}

/* Runs on the interrupt thread, once per round of its loop. */
static void park_cb(void *arg)
{
    (void)arg;
    if (__atomic_load_n(&gate_hooked, __ATOMIC_RELAXED)) {
        /* the preload's hook takes turns at epoll_wait already */
        DM_DEBUG("dpdk", "interrupt thread: the preload gates it, no parking");
        if (rte_intr_callback_unregister_pending(park_ih, park_cb, NULL, park_released) < 0)
            DM_WARN("dpdk", "interrupt thread: cannot stop parking it");
        /* either side's fence will do while bursts switch over */
        __atomic_store_n(&dpdk_gate_fence, !membarrier_ok, __ATOMIC_RELAXED);
        return;
    }
    const struct timespec *turn = park_links_up() ? &park_turn : &park_turn_short;
    gate_set(false);
    /* A sleep, not a wait on anything: what the thread has to do next
     * (memif's socket, alarms) is in the EAL's epoll set, which it polls
     * as soon as we return. */
    (void)clock_nanosleep(CLOCK_MONOTONIC, 0, turn, NULL);
    gate_set(true);
}

int dpdk_gate_park_start(const struct dm_config *cfg, uint16_t port)
{
    int64_t turn_us;
    int rc = dm_cfg_int(cfg, DM_CFG_DPDK_INTR_TURN_US, &turn_us);
    if (rc < 0)
        return rc;
    if (port < 64)
        __atomic_fetch_or(&park_ports, 1ull << port, __ATOMIC_RELAXED);
    pthread_mutex_lock(&park_lock);
    if (park_started || __atomic_load_n(&gate_hooked, __ATOMIC_RELAXED)) {
        pthread_mutex_unlock(&park_lock);
        return 0; /* already parking, or the preload gates the thread */
    }
    park_turn.tv_sec = turn_us / 1000000;
    park_turn.tv_nsec = (turn_us % 1000000) * 1000;
    int64_t short_us = turn_us < DPDK_PARK_SHORT_US ? turn_us : DPDK_PARK_SHORT_US;
    park_turn_short.tv_sec = 0;
    park_turn_short.tv_nsec = short_us * 1000;
    int fd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK); /* readable until closed: never read */
    struct rte_intr_handle *ih = fd >= 0 ? rte_intr_instance_alloc(RTE_INTR_INSTANCE_F_PRIVATE) : NULL;
    rc = fd < 0 ? -errno : ih ? 0 : -ENOMEM;
    if (rc == 0 && (rte_intr_fd_set(ih, fd) != 0 || rte_intr_type_set(ih, RTE_INTR_HANDLE_EXT) != 0))
        rc = -EINVAL;
    if (rc == 0) {
        /* Bursts stay off from here until the thread first parks: it may
         * be running callbacks right now. We are the packet path, so no
         * burst is in flight. */
        bool fence = !membarrier_ok || turn_us < DPDK_PARK_MEMBARRIER_US;
        __atomic_store_n(&dpdk_gate_fence, fence, __ATOMIC_RELAXED);
        gate_set(true);
        park_ih = ih; /* before the callback can first run */
        rc = rte_intr_callback_register(ih, park_cb, NULL);
        if (rc < 0) {
            park_ih = NULL;
            gate_set(false);
            __atomic_store_n(&dpdk_gate_fence, !membarrier_ok, __ATOMIC_RELAXED);
        }
    }
    if (rc < 0) {
        if (ih)
            rte_intr_instance_free(ih);
        if (fd >= 0)
            close(fd);
        pthread_mutex_unlock(&park_lock);
        DM_ERR("dpdk", "cannot park the interrupt thread (%s)", strerror(-rc));
        return rc;
    }
    park_started = true;
    pthread_mutex_unlock(&park_lock);
    DM_INFO("dpdk", "interrupt thread parks between turns of %lld us once the link is up, %lld us before "
            "(memif unmaps on it)", (long long)turn_us, (long long)short_us);
    return 0;
}
