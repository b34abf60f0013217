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
 * Without the preload (a program on the native API) nobody calls the gate
 * and busy stays down: the race remains there.
 */
#include <errno.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <rte_config.h>
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

void dpdk_gate_init(void)
{
    /* The packet path uses a compiler barrier only once membarrier works. */
    if (syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) != 0) {
        dpdk_gate_fence = true;
        DM_INFO("dpdk", "membarrier unavailable (%s): bursts take a fence against the interrupt thread",
                strerror(errno));
    }
    dm_internal_thread_gate_register(gate_set);
}
