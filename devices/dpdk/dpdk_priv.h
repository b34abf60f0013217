/* SPDX-License-Identifier: MIT */
/*
 * Internals of the DPDK device, shared by its files:
 *   dpdk_eal.c  EAL start-up, once per process (argument building)
 *   dpdk.c      ports: open/start/stop/close/info (the control path)
 *   dpdk_io.c   rx_burst / tx_burst (the packet path)
 */
#ifndef DM_DPDK_PRIV_H
#define DM_DPDK_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include "dm/buf.h"
#include "dm/config.h"
#include "dm/device.h"

struct rte_mempool;
struct rte_mbuf;

#define DPDK_BURST 32

/* Counters registered as "dpdk.<name>"; keep in the order of dpdk_stat_names. */
enum {
    DPDK_ST_RX, DPDK_ST_RX_BYTES, DPDK_ST_RX_NOHDR, DPDK_ST_RX_CKSUM_BAD,
    DPDK_ST_TX, DPDK_ST_TX_BYTES, DPDK_ST_TX_FULL, DPDK_ST_TX_NOMBUF,
    DPDK_ST_TX_COPY, DPDK_ST_TX_ZC_SEG, DPDK_ST_TX_DIRECT_SEG, DPDK_ST_TX_DROP_BAD,
    DPDK_ST_RX_NOMBUF, DPDK_ST_IMISSED, DPDK_ST_IERRORS, DPDK_ST_OERRORS, DPDK_ST_RX_SCARCE,
    DPDK_ST_COUNT
};

struct dpdk_dev {
    /* packet path */
    uint16_t port;
    uint16_t queue;
    uint16_t max_segs;       /* longest mbuf chain the port takes */
    bool tx_zc;              /* may hand our memory to the port by reference */
    bool rx_cksum;           /* RX checksum flags are meaningful */
    bool multiseg;           /* port takes mbuf chains */
    uint32_t tx_ol;          /* DM_BUF_TX_* flags the port computes */
    uint32_t tx_copy_max;    /* frames up to this size are copied into one mbuf */
    uint32_t copy_room;      /* bytes one mbuf of mp holds */
    uint32_t hw_poll;        /* rx bursts until the next hardware stats read */
    uint32_t scarce_poll;    /* rx bursts until the next look at the pool */
    uint32_t scarce_below;   /* free mbufs under which RX is scarce */
    bool rx_scarce;          /* mark received buffers DM_BUF_RX_SCARCE */
    bool tx_stuck;           /* the last TX burst took nothing: probe with one */
    struct rte_mempool *mp;      /* RX and copied TX frames */
    struct rte_mempool *ext_mp;  /* bare mbufs that point at our buffers */
    struct dm_instance *inst;
    uint64_t st[DPDK_ST_COUNT];
    /* control path */
    uint8_t mac[6];
    uint16_t mtu;
    uint32_t caps;
    uint32_t link_wait_ms;   /* start() waits this long for the link */
    bool reconnect;          /* restart the port while its link is down (memif) */
    uint64_t started_tsc;    /* when the port was last (re)started */
    bool started;
    bool stats_on;
    char name[32];
};

/* dpdk_eal.c */
/* Starts the EAL once per process from DEMI_DPDK_ARGS (and friends); later
 * calls return the first call's result. 0 or -errno (logged, naming the
 * variable at fault). */
int dpdk_eal_init(const struct dm_config *cfg);
/* Shell-like split of s into at most max words (quotes and backslashes as
 * in sh, no expansion); word storage in buf. Returns the count, -EINVAL on
 * an unterminated quote, -E2BIG when it does not fit. */
int dpdk_split_args(const char *s, char **argv, int max, char *buf, size_t buflen);
/* Builds the final EAL argv from the user's words: adds --no-pci (unless
 * allow_pci), --file-prefix, a single lcore keeping our CPU affinity,
 * --no-telemetry, a log level, and --no-huge when no hugepages are free,
 * each only when the user did not give that option. Returns argc. */
int dpdk_build_eal_argv(char **words, int nwords, bool allow_pci, const char *prefix, int hugepages_free,
                        int log_level, char **argv, int max, char *buf, size_t buflen);

/* dpdk_gate.c: bursts against the EAL interrupt thread (see there). */
struct dpdk_gate_port {
    int in_burst;            /* the packet path is inside a PMD call */
} __attribute__((aligned(64)));
extern struct dpdk_gate_port dpdk_gate_ports[];
extern int dpdk_gate_busy;   /* the interrupt thread runs its callbacks */
extern bool dpdk_gate_fence; /* the packet path fences (no membarrier, or parking) */
void dpdk_gate_init(void);   /* once, after the EAL is up */
/* Native API: the interrupt thread sleeps in a callback of ours between
 * turns, so that its callbacks run only with the bursts held off (once
 * per process; a no-op under the preload). 0 or -errno. */
int dpdk_gate_park_start(const struct dm_config *cfg);

/* Around every PMD call of the packet path; false: do not call it now. */
static inline bool dpdk_gate_enter(uint16_t port)
{
    __atomic_store_n(&dpdk_gate_ports[port].in_burst, 1, __ATOMIC_RELAXED);
    if (__builtin_expect(dpdk_gate_fence, 0))
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
    else
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (__builtin_expect(!__atomic_load_n(&dpdk_gate_busy, __ATOMIC_RELAXED), 1))
        return true;
    __atomic_store_n(&dpdk_gate_ports[port].in_burst, 0, __ATOMIC_RELEASE);
    return false;
}
static inline void dpdk_gate_leave(uint16_t port)
{
    __atomic_store_n(&dpdk_gate_ports[port].in_burst, 0, __ATOMIC_RELEASE);
}

/* dpdk_io.c */
uint16_t dpdk_rx_burst(struct dm_dev *dev, struct dm_buf **pkts, uint16_t n);
uint16_t dpdk_tx_burst(struct dm_dev *dev, struct dm_buf **pkts, uint16_t n);
void dpdk_read_hw_stats(struct dpdk_dev *d);
/* dpdk.c: true when the link is up; a down memif port is restarted, which
 * makes a client that started before its server try to connect again. */
bool dpdk_link_poll(struct dpdk_dev *d);

#endif /* DM_DPDK_PRIV_H */
