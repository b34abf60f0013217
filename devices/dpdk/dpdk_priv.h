/* SPDX-License-Identifier: MIT */
/*
 * Internals of the DPDK device, shared by its files:
 *   dpdk_eal.c  EAL start-up, once per process (argument building)
 *   dpdk.c      ports: open/start/stop/close/info (the control path)
 *   dpdk_io.c   rx_burst / tx_burst (the packet path)
 *   dpdk_mp.c   one port shared by processes: the primary's table, queue
 *               claims, ARP copies to every queue, RSS flow placement
 */
#ifndef DM_DPDK_PRIV_H
#define DM_DPDK_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include "dm/buf.h"
#include "dm/config.h"
#include "dm/device.h"
#include "dm/l2tso.h"
#include "dm/wake.h"

struct rte_mempool;
struct rte_mbuf;
struct rte_ring;
struct dpdk_mp_shm;

#define DPDK_BURST 32

/* Counters registered as "dpdk.<name>"; keep in the order of dpdk_stat_names. */
enum {
    DPDK_ST_RX, DPDK_ST_RX_BYTES, DPDK_ST_RX_NOHDR, DPDK_ST_RX_CKSUM_BAD,
    DPDK_ST_TX, DPDK_ST_TX_BYTES, DPDK_ST_TX_FULL, DPDK_ST_TX_NOMBUF,
    DPDK_ST_TX_COPY, DPDK_ST_TX_ZC_SEG, DPDK_ST_TX_DIRECT_SEG, DPDK_ST_TX_DROP_BAD, DPDK_ST_TX_GSO,
    DPDK_ST_RX_NOMBUF, DPDK_ST_IMISSED, DPDK_ST_IERRORS, DPDK_ST_OERRORS, DPDK_ST_RX_SCARCE,
    DPDK_ST_FWD_OUT, DPDK_ST_FWD_IN, DPDK_ST_RX_ADOPTED, DPDK_ST_WAKE_SENT, DPDK_ST_WAKE_TAKEN,
    DPDK_ST_COUNT
};

struct dpdk_ext; /* dpdk_io.c */

#define DPDK_MP_MAX_QUEUES 16 /* queues of a port shared by processes (dpdk_mp.c) */

/* The tap PMD's receive trigger, which we call ourselves (dpdk_tap.c). */
struct dpdk_tap_kick {
    void (*fn)(int); /* NULL: not a tap port, or its signal left on */
    int signo;
};
struct rte_device;

struct dpdk_dev {
    /* packet path */
    uint16_t port;
    uint16_t queue;
    uint16_t max_segs;       /* longest mbuf chain the port takes */
    bool tx_zc;              /* may hand our memory to the port by reference */
    bool rx_cksum;           /* RX checksum flags are meaningful */
    uint32_t rx_trust_ol;    /* else every frame gets these (memif: L4 good) */
    bool multiseg;           /* port takes mbuf chains */
    bool tso, tso6;          /* the port cuts TSO frames: TCP over IPv4 (and IPv6) */
    bool tso_piece_in_mtu;   /* a TSO piece with its Ethernet header must fit the MTU (tap) */
    bool gso;                /* we cut TSO frames ourselves, into copies (memif: dpdk_io.c, tx_gso) */
    struct dm_buf *gso_frame; /* a TSO frame being cut: ours (the stack was told it was sent) */
    struct dm_l2tso_cut gso_cut; /* how to cut it */
    uint32_t gso_next;       /* its next piece */
    uint32_t tx_ol;          /* DM_BUF_TX_* flags the port computes */
    uint32_t tx_sw_l4;       /* DM_BUF_TX_{TCP,UDP}_CKSUM we complete in tx_copy */
    uint32_t tx_copy_max;    /* frames up to this size are copied into one mbuf */
    uint32_t copy_room;      /* bytes one mbuf of mp holds */
    uint32_t hw_poll;        /* rx bursts until the next hardware stats read */
    uint32_t scarce_poll;    /* rx bursts until the next look at the pool */
    uint32_t scarce_below;   /* free mbufs under which RX is scarce */
    bool rx_scarce;          /* mark received buffers DM_BUF_RX_SCARCE */
    bool tx_stuck;           /* the last TX burst took nothing: probe with one */
    bool tap;                /* a net_tap port of our own (not a secondary's) */
    bool tx_odd_seg_sum_bad; /* net_tap: its software L4 checksum of a chain
                                is wrong past a segment of odd length (tx_build) */
    struct dpdk_tap_kick tap_kick; /* tap: bump its trigger before each burst */
    bool secondary;          /* a queue of a port that demi-dpdk-primary owns */
    /* sleeping (tap, dpdk_tap.c): an epoll set of our queue's fd, the
     * fds of the queues we adopted and our wake socket; -1: busy polling */
    int wait_fd;
    int q_fd[DPDK_MP_MAX_QUEUES]; /* each queue's fd, -1 unknown (a secondary's are its own to close) */
    uint32_t wait_adopted;   /* adopted queues whose fds are in wait_fd */
    struct dm_wake wake;     /* secondary: the other processes wake us (dm/wake.h); fd -1: not */
    struct dpdk_mp_shm *shm; /* secondary: the primary's table */
    struct rte_ring *arp_in; /* secondary: frames other queues hand over (ARP copies, forwarded flows) */
    uint32_t adopted;        /* secondary: free queues we poll too, bit per queue (dpdk_mp_adopted_rx) */
    uint32_t adopt_poll;     /* rx bursts until the next look for free queues */
    struct rte_mempool *mp;      /* RX and copied TX frames */
    struct rte_mempool *ext_mp;  /* bare mbufs that point at our buffers */
    struct dpdk_ext *ext_free;   /* their shared info, one per buffer out (dpdk_ext_init) */
    uintptr_t dma_base;          /* DEMI_DPDK_DMA_MAP: our pool as the port reads it by DMA */
    size_t dma_len;              /* 0: not mapped (the port reads with the CPU, or gets copies) */
    struct rte_device *dma_dev;
    struct dpdk_ext *ext_tab;
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

/* ---- one port, many processes (dpdk_mp.c, demi_dpdk_primary.c) ----
 * demi-dpdk-primary owns the port: it runs the EAL as DPDK's primary
 * process, configures N queue pairs, makes per-queue mempools and the
 * table below in a memzone, and stays up. Each preloaded process is a
 * secondary (DEMI_DPDK_PROC) that claims one free queue of the table and
 * bursts on it alone. */
#define DPDK_MP_MAGIC 0x646d6d71u /* "dmmq": this layout */
#define DPDK_MP_DEFAULT_PREFIX "demi_mp"
#define DPDK_MP_ARP_RING 256

/* How a received flow's queue is chosen. */
enum { DPDK_MP_PLACE_NONE, DPDK_MP_PLACE_TOEPLITZ };

struct dpdk_mp_queue {
    int32_t pid;             /* owner; 0: free (a dead owner's queue is reclaimed) */
    uint32_t claims;         /* times claimed */
    uint64_t start_time;     /* the owner's start time (/proc/PID/stat), against pid reuse */
    uint64_t rx, tx;         /* frames, published by the owner */
    uint64_t arp_copied;     /* ARP frames this queue copied to the others */
    uint32_t listening;      /* the owner listens on some TCP port: stray segments go to it first */
    int64_t claim_ns;        /* CLOCK_MONOTONIC when claimed (dpdk_mp_peers_starting) */
    int32_t adopter;         /* free queue: the secondary that polls it (pid), 0: none */
    char wake_name[DM_WAKE_NAME]; /* the owner's wake socket (dm/wake.h), "" when it never sleeps */
    uint32_t wake;           /* 1: a wake datagram is on its way to the owner */
} __attribute__((aligned(64)));

struct dpdk_mp_shm {
    uint32_t magic;
    int32_t primary_pid;
    uint16_t port;
    uint16_t nb_queues;
    uint16_t mtu;            /* IP MTU settled by the primary */
    uint16_t max_segs;
    uint8_t mac[6];          /* every process's (the port's, or DEMI_MAC) */
    uint64_t rx_offloads, tx_offloads;
    uint32_t data_room;      /* of the RX pools */
    uint32_t nb_mbufs;       /* per pool */
    char driver[32];
    /* flow placement: queue = qmap[toeplitz(src ip, dst ip, src port, dst
     * port of the frame as received) % qmap_n] */
    uint8_t place;           /* DPDK_MP_PLACE_* */
    uint8_t rss_key_len;
    uint8_t ports;           /* DM_FLOW_* (dm/device.h): the flows hashed on their ports too */
    uint8_t rss_key[64] __attribute__((aligned(4))); /* rte_softrss reads it 32 bits at a time */
    uint16_t qmap_n;
    uint16_t qmap[512];
    char place_how[96];      /* for the logs: which hash spreads the flows */
    struct dpdk_mp_queue q[DPDK_MP_MAX_QUEUES];
    /* ARP copies: one ring per queue, mbufs from a pool without a cache
     * (shared memory: the same address in every process) */
    struct rte_mempool *arp_mp;
    struct rte_ring *arp_ring[DPDK_MP_MAX_QUEUES];
};

/* Names of what the primary creates and the secondaries look up. */
void dpdk_mp_names(uint16_t port, int q, char *shm, char *rx, char *ext, char *arp_pool, char *arp_ring);
/* This process's start time (field 22 of /proc/PID/stat), 0 if unknown. */
uint64_t dpdk_mp_start_time(int pid);
/* Is the owner recorded in e still running? */
bool dpdk_mp_owner_alive(const struct dpdk_mp_queue *e);
/* Secondary: look up the table and claim a free queue of port (waiting up
 * to wait_ms while live processes hold them all); fills d's queue, pools
 * and ARP ring. 0 or -errno (logged). */
int dpdk_mp_attach(struct dpdk_dev *d, uint16_t port, int64_t wait_ms);
void dpdk_mp_detach(struct dpdk_dev *d);
/* dm_dev_ops.forward of a secondary: a copy of frame into the ring of the
 * live queue flow_hash picks among the others. */
bool dpdk_mp_forward(struct dpdk_dev *d, struct dm_buf *frame, uint32_t flow_hash);
/* A copy of frame in mbufs of mp, chained when it is longer than one; NULL
 * when the pool is out (or the chain would be too long). */
struct rte_mbuf *dpdk_mp_copy(struct rte_mempool *mp, const struct dm_buf *frame);
/* The mbuf a received dm_buf wraps (its head), or NULL: not a wrap. */
struct rte_mbuf *dpdk_rx_mbuf(const struct dm_buf *b);
void dpdk_mp_listening(struct dpdk_dev *d, bool on);
/* Secondary: the socket other processes wake us with when they put a
 * frame in our ring while we may sleep (0, or -errno: then a sleep lasts
 * until our own queue has a frame or the helper polls). */
int dpdk_mp_wake_open(struct dpdk_dev *d);
void dpdk_mp_wake_close(struct dpdk_dev *d);
/* A process of the port claimed its queue moments ago and listens on nothing yet. */
bool dpdk_mp_peers_starting(const struct dpdk_dev *d);
/* Secondary RX: hand the ARP frames of burst to every other live queue,
 * and take the ones they handed us (appended to mb, up to max). */
uint16_t dpdk_mp_arp(struct dpdk_dev *d, struct rte_mbuf **mb, uint16_t nb, uint16_t max);
/* Frames of the free queues this secondary polls (nobody claimed them, or
 * their owner died), after mb[0..nb): the new count. Every DPDK_MP_ADOPT_POLL
 * bursts it looks for free queues nobody polls, and lets go of those a
 * process claimed. */
#define DPDK_MP_ADOPT_POLL 256
uint16_t dpdk_mp_adopted_rx(struct dpdk_dev *d, struct rte_mbuf **mb, uint16_t nb, uint16_t max);
/* Would the peer's frames of this flow of proto (IPPROTO_TCP, _UDP;
 * addresses and ports in network order, ours first) arrive on d's queue?
 * Yes too when the port does not hash that flow's ports. */
bool dpdk_mp_flow_ours(const struct dpdk_dev *d, int proto, uint32_t lip, uint16_t lport, uint32_t rip,
                       uint16_t rport);
bool dpdk_mp_flow_ours6(const struct dpdk_dev *d, int proto, const uint8_t *lip, uint16_t lport, const uint8_t *rip,
                        uint16_t rport);

/* dpdk.c: the primary configures port with nq queue pairs, their pools
 * and the table's port settings (d is scratch for the settings). */
int dpdk_primary_port_setup(struct dpdk_dev *d, const struct dm_config *cfg, uint16_t port, uint16_t nq,
                            struct dpdk_mp_shm *shm);

/* dpdk_eal.c */
/* Starts the EAL once per process from DEMI_DPDK_ARGS (and friends); later
 * calls return the first call's result. 0 or -errno (logged, naming the
 * variable at fault). */
int dpdk_eal_init(const struct dm_config *cfg);
/* Keeps DPDK's own descriptors above the low numbers a program expects
 * for its sockets, from raise to drop (dpdk_eal.c). */
struct dpdk_fd_floor {
    int fds[256];
    int n;
};
void dpdk_fd_floor_raise(struct dpdk_fd_floor *f);
void dpdk_fd_floor_drop(struct dpdk_fd_floor *f);
/* After dpdk_eal_init: is this process a secondary of demi-dpdk-primary? */
bool dpdk_eal_is_secondary(void);

/* Once a tap port has started here: its queue fds no longer signal this
 * process per received frame; k tells a receiver how to make each burst
 * read (dpdk_tap.c). Returns how many fds were changed. */
int dpdk_tap_signals_off(struct dpdk_tap_kick *k);
/* The primary answers the secondaries' requests for a tap port's queue
 * fds (DPDK's IPC); 0 or -errno. */
int dpdk_tap_fds_serve(void);
/* Sleeping on a tap port, once it runs (own port, or a secondary's
 * queue): makes d->wait_fd, or leaves it -1 (logged). */
void dpdk_tap_wait_open(struct dpdk_dev *d);
void dpdk_tap_wait_close(struct dpdk_dev *d);
/* The adopted queues changed: their fds in or out of the wait set. */
void dpdk_tap_wait_sync(struct dpdk_dev *d);
/* Points the EAL's runtime directory (RUNTIME_DIRECTORY) at
 * DEMI_DPDK_RUNDIR and returns the config file of a primary with that
 * prefix (for rte_eal_primary_proc_alive). */
void dpdk_mp_rundir(const struct dm_config *cfg, const char *prefix, char *config_path, size_t len);
/* Shell-like split of s into at most max words (quotes and backslashes as
 * in sh, no expansion); word storage in buf. Returns the count, -EINVAL on
 * an unterminated quote, -E2BIG when it does not fit. */
int dpdk_split_args(const char *s, char **argv, int max, char *buf, size_t buflen);
/* Builds the final EAL argv from the user's words: adds --no-pci (unless
 * allow_pci), --file-prefix, a single lcore keeping our CPU affinity,
 * --no-telemetry, a log level, and --no-huge when no hugepages are free,
 * each only when the user did not give that option. Returns argc. */
/* Free 2 MiB pages (/proc/meminfo HugePages_Free), 0 when unknown. */
int dpdk_hugepages_free(void);
int dpdk_build_eal_argv(char **words, int nwords, bool allow_pci, const char *prefix, int hugepages_free,
                        int log_level, char **argv, int max, char *buf, size_t buflen);
/* A process that runs its own port from hugetlbfs files gets the EAL's
 * "--huge-unlink": its hugepage files, never removed by the EAL at exit
 * nor when killed, would keep their pages until someone deletes them
 * (26 MiB per process of the default pools). Not with the user's own
 * memory options; never for demi-dpdk-primary, whose secondaries map
 * its files. Returns the new count or -E2BIG. */
int dpdk_own_memory_words(char **words, int nwords, int max, int hugepages_free);

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
int dpdk_gate_park_start(const struct dm_config *cfg, uint16_t port);

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
/* Frees a TSO frame dpdk_tx_burst was still cutting (the port stops). */
void dpdk_gso_drop(struct dpdk_dev *d);
/* The table of shared infos for buffers sent by reference, one per mbuf
 * of ext_mp: -ENOMEM. fini after the port has let go of every mbuf. */
int dpdk_ext_init(struct dpdk_dev *d);
void dpdk_ext_fini(struct dpdk_dev *d);
void dpdk_read_hw_stats(struct dpdk_dev *d);
/* dpdk.c: true when the link is up; a down memif port is restarted, which
 * makes a client that started before its server try to connect again. */
bool dpdk_link_poll(struct dpdk_dev *d);

#endif /* DM_DPDK_PRIV_H */
