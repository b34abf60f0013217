/* SPDX-License-Identifier: MIT */
/*
 * The "dpdk" device: our stack on any DPDK ethdev port (memif, tap,
 * af_packet, af_xdp, virtio-user, real NICs). This file is the control
 * path; the packet path is in dpdk_io.c and EAL start-up in dpdk_eal.c.
 *
 * open: start the EAL (once per process), pick DEMI_DPDK_PORT (default 0),
 * create the two mempools of this port (once per port per process, so a
 * port can be closed and opened again while popped buffers are still out),
 * configure one RX and one TX queue with the offloads the port reports
 * (IPv4/TCP/UDP TX checksums, RX checksum flags, multi-segment TX), apply
 * DEMI_MAC. start: rte_eth_dev_start, optionally wait for the link
 * (DEMI_DPDK_LINK_WAIT_MS). close: stop the port and drop our state; the
 * port itself stays probed for a later open.
 *
 * Keys: DEMI_DPDK_ARGS, DEMI_DPDK_ALLOW_PCI, DEMI_DPDK_PREFIX (dpdk_eal.c),
 * DEMI_DPDK_PORT, DEMI_MAC, DEMI_DPDK_MBUFS (mbufs per pool, default
 * 8191), DEMI_DPDK_RXD / DEMI_DPDK_TXD (ring sizes, default 1024),
 * DEMI_DPDK_TX_COPY (frames up to this many bytes are copied into a fresh
 * mbuf instead of attached by reference; default 256, and every frame on
 * memif, where that measured faster),
 * DEMI_DPDK_LINK_WAIT_MS (default 0: do not wait), DEMI_DPDK_MEMIF_RX_CKSUM
 * (memif: trust or verify received checksums), DEMI_MTU; DEMI_DPDK_INTR_TURN_US
 * in dpdk_gate.c.
 */
/* rte_dev_dma_map/unmap are experimental in DPDK 22.11 (port_dma_map) */
#define ALLOW_EXPERIMENTAL_API
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_bus.h>
#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_devargs.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "dm/addr.h"
#include "dm/buf.h"
#include "dm/instance.h"
#include "dm/device.h"
#include "dm/log.h"
#include "dm/sigmask.h"
#include "dm/stats.h"
#include "dpdk_priv.h"

static const char *const dpdk_stat_names[DPDK_ST_COUNT] = {
    "rx", "rx_bytes", "rx_nohdr", "rx_cksum_bad",
    "tx", "tx_bytes", "tx_full", "tx_nombuf",
    "tx_copy", "tx_zc_seg", "tx_direct_seg", "tx_drop_bad", "tx_gso",
    "rx_nombuf", "imissed", "ierrors", "oerrors", "rx_scarce",
    "fwd_out", "fwd_in", "rx_adopted", "wake_sent", "wake_taken",
};

/* Per-port process state: the pools outlive a close because the
 * application may still hold buffers that point into them. */
static struct {
    struct rte_mempool *mp, *ext_mp;
    bool open;
} dpdk_ports[RTE_MAX_ETHPORTS];
static pthread_mutex_t dpdk_ports_lock = PTHREAD_MUTEX_INITIALIZER;

static bool port_is_vdev(uint16_t port, const struct rte_eth_dev_info *di)
{
    (void)port;
    if (!di->device)
        return false;
    const struct rte_bus *bus = rte_dev_bus(di->device);
    return bus && strcmp(rte_bus_name(bus), "vdev") == 0;
}

/* The primary of a shared port: two pools per queue (dpdk_mp.c says why),
 * the ARP pool and rings; pools[q] is queue q's RX pool. */
static int pools_shared(struct dpdk_dev *d, uint16_t nq, int64_t nb_mbufs, uint32_t data_room,
                        struct rte_mempool **pools, struct dpdk_mp_shm *shm)
{
    char rx[RTE_MEMPOOL_NAMESIZE], ext[RTE_MEMPOOL_NAMESIZE], ap[RTE_MEMPOOL_NAMESIZE], ar[RTE_RING_NAMESIZE];
    int socket = rte_eth_dev_socket_id(d->port);
    if (socket < 0)
        socket = SOCKET_ID_ANY;
    unsigned cache = nb_mbufs >= 1024 ? 256 : 0;
    uint16_t priv = 0; /* bare mbufs; their shared info is the sender's (dpdk_ext_init) */
    for (uint16_t q = 0; q < nq; q++) {
        dpdk_mp_names(d->port, q, NULL, rx, ext, ap, ar);
        pools[q] = rte_pktmbuf_pool_create(rx, (unsigned)nb_mbufs, cache, 0, (uint16_t)data_room, socket);
        struct rte_mempool *e = rte_pktmbuf_pool_create(ext, (unsigned)nb_mbufs, cache, priv, 0, socket);
        if (!pools[q] || !e) {
            DM_ERR("dpdk", "port %u queue %u: cannot create its pools of %lld mbufs (%s): lower DEMI_DPDK_MBUFS "
                           "or DEMI_DPDK_QUEUES, or give the EAL more memory (-m)",
                   d->port, q, (long long)nb_mbufs, rte_strerror(rte_errno));
            return -ENOMEM;
        }
        if (nq > 1) {
            shm->arp_ring[q] = rte_ring_create(ar, DPDK_MP_ARP_RING, socket, 0);
            if (!shm->arp_ring[q]) {
                DM_ERR("dpdk", "port %u: cannot create ring %s (%s)", d->port, ar, rte_strerror(rte_errno));
                return -ENOMEM;
            }
        }
    }
    if (nq > 1) {
        shm->arp_mp = rte_pktmbuf_pool_create(ap, DPDK_MP_ARP_RING * nq * 2, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                              socket);
        if (!shm->arp_mp) {
            DM_ERR("dpdk", "port %u: cannot create pool %s (%s)", d->port, ap, rte_strerror(rte_errno));
            return -ENOMEM;
        }
    }
    d->mp = pools[0];
    return 0;
}

static int pools_get(struct dpdk_dev *d, int64_t nb_mbufs, uint32_t data_room)
{
    char name[RTE_MEMPOOL_NAMESIZE];
    int socket = rte_eth_dev_socket_id(d->port);
    if (socket < 0)
        socket = SOCKET_ID_ANY;
    unsigned cache = nb_mbufs >= 1024 ? 256 : 0;
    if (!dpdk_ports[d->port].mp) {
        snprintf(name, sizeof(name), "dm_rx%u", d->port);
        dpdk_ports[d->port].mp = rte_pktmbuf_pool_create(name, (unsigned)nb_mbufs, cache, 0,
                                                         (uint16_t)data_room, socket);
        if (!dpdk_ports[d->port].mp) {
            DM_ERR("dpdk", "port %u: cannot create a pool of %lld mbufs (%s): lower DEMI_DPDK_MBUFS or give "
                           "the EAL more memory (-m in DEMI_DPDK_ARGS)",
                   d->port, (long long)nb_mbufs, rte_strerror(rte_errno));
            return -ENOMEM;
        }
    }
    if (!dpdk_ports[d->port].ext_mp) {
        /* Bare mbufs (no data room) that point at our buffers; their
         * shared info is in our table (dpdk_ext_init), which outlives them. */
        uint16_t priv = 0;
        snprintf(name, sizeof(name), "dm_ext%u", d->port);
        dpdk_ports[d->port].ext_mp = rte_pktmbuf_pool_create(name, (unsigned)nb_mbufs, cache, priv, 0, socket);
        if (!dpdk_ports[d->port].ext_mp) {
            DM_ERR("dpdk", "port %u: cannot create the pool of external-buffer mbufs (%s)", d->port,
                   rte_strerror(rte_errno));
            return -ENOMEM;
        }
    }
    d->mp = dpdk_ports[d->port].mp;
    d->ext_mp = dpdk_ports[d->port].ext_mp;
    return 0;
}

/* Offloads, chains and capabilities from what the port was configured
 * with (by us, or by the primary of a shared port). */
static void caps_from_conf(struct dpdk_dev *d, uint64_t rx_ol, uint64_t tx_ol, uint16_t max_segs)
{
    d->multiseg = (tx_ol & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) != 0;
    d->max_segs = d->multiseg ? max_segs : 1;
    /* Per-packet flags whenever the port checks anything; the capability
     * (every checksum checked) only when it checks all three. */
    d->rx_cksum = (rx_ol & RTE_ETH_RX_OFFLOAD_CHECKSUM) != 0;
    bool rx_all = (rx_ol & RTE_ETH_RX_OFFLOAD_CHECKSUM) == RTE_ETH_RX_OFFLOAD_CHECKSUM;
    d->tx_ol = 0;
    d->caps = 0;
    if (tx_ol & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM)
        d->tx_ol |= DM_BUF_TX_IP_CKSUM, d->caps |= DM_DEV_CAP_TX_IPV4_CKSUM;
    if (tx_ol & RTE_ETH_TX_OFFLOAD_TCP_CKSUM)
        d->tx_ol |= DM_BUF_TX_TCP_CKSUM, d->caps |= DM_DEV_CAP_TX_TCP_CKSUM;
    if (tx_ol & RTE_ETH_TX_OFFLOAD_UDP_CKSUM)
        d->tx_ol |= DM_BUF_TX_UDP_CKSUM, d->caps |= DM_DEV_CAP_TX_UDP_CKSUM;
    /* DPDK's L4 offloads take IPv6 (RTE_MBUF_F_TX_IPV6, the pseudo-header
     * sum preloaded as for IPv4: tx_offload) */
    if (tx_ol & (RTE_ETH_TX_OFFLOAD_TCP_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM))
        d->caps |= DM_DEV_CAP_TX_L4_CKSUM6;
    if (rx_all)
        d->caps |= DM_DEV_CAP_RX_CKSUM;
    /* TSO frames are chains with their TCP checksum left to the port;
     * whether it gets them: port_tx_mode */
    d->tso = (tx_ol & RTE_ETH_TX_OFFLOAD_TCP_TSO) && (tx_ol & RTE_ETH_TX_OFFLOAD_TCP_CKSUM) && d->multiseg;
    d->tso6 = false;
    /* We take chains on any port: where the port cannot, we copy them into
     * one mbuf. Say so only when chains go out without that copy. */
    if (d->multiseg)
        d->caps |= DM_DEV_CAP_TX_MULTISEG;
}

/* port_setup's working state: the DEMI_* keys, what the port says of
 * itself, and the configuration we give it. */
struct port_plan {
    int64_t nb_mbufs, rxd, txd, copy, mtu;
    int copy_auto;
    bool memif_jumbo; /* DEMI_MTU above what memif reports: see memif_jumbo_check */
    uint32_t data_room;
    uint16_t nq, nrx, ntx;
    struct rte_eth_dev_info di;
    struct rte_eth_conf conf;
    struct rte_mempool *qpools[DPDK_MP_MAX_QUEUES];
};

/* memif in DPDK 22.11 says it receives at most 1518 B frames, but its
 * rings carry any length: a frame longer than one memif buffer spans
 * several, flagged "next". Its TX never clears that flag on a frame's
 * first buffer, though, so once the ring wraps onto a buffer that was the
 * head of a chain, two frames merge into one. A frame that fits in one
 * memif buffer never sets the flag. So a larger MTU is safe where every
 * frame fits one buffer: the client creates the buffers (bsize= in its
 * vdev arguments, 2048 by default), which we check; a server takes the
 * client's and cannot see them, so both ends must be given the same
 * DEMI_MTU (a client at 1500 still keeps TCP at its MSS). */
static int memif_jumbo_check(const struct dpdk_dev *d, struct port_plan *p)
{
    p->memif_jumbo = false;
    if (p->mtu <= 0 || strcmp(p->di.driver_name, "net_memif") != 0 || !p->di.max_rx_pktlen ||
        (uint32_t)p->mtu + RTE_ETHER_HDR_LEN <= p->di.max_rx_pktlen)
        return 0;
    const struct rte_devargs *da = p->di.device ? rte_dev_devargs(p->di.device) : NULL;
    const char *args = da && da->args ? da->args : "";
    long bsize = 2048;
    const char *b = strstr(args, "bsize=");
    if (b)
        bsize = strtol(b + 6, NULL, 0);
    uint32_t frame = (uint32_t)p->mtu + RTE_ETHER_HDR_LEN;
    if (!strstr(args, "role=server") && bsize < (long)frame) {
        DM_ERR("dpdk", "DEMI_MTU=%lld on memif port %u needs a memif buffer per frame: add bsize=%u "
                       "(or more) to its vdev arguments (now %ld)",
               (long long)p->mtu, d->port, 1u << (32 - __builtin_clz(frame - 1)), bsize);
        return -EINVAL;
    }
    p->memif_jumbo = true;
    return 0;
}

static int port_plan_read(struct dpdk_dev *d, const struct dm_config *cfg, uint16_t nq, struct port_plan *p)
{
    int rc;
    p->copy = 256;
    p->mtu = 0;
    p->copy_auto = 0;
    p->nq = nq;
    /* DEMI_MTU auto: 0, the port's; DEMI_DPDK_TX_COPY auto: 256, or every
     * frame on memif (port_tx_mode) */
    if ((rc = dm_cfg_int(cfg, DM_CFG_DPDK_MBUFS, &p->nb_mbufs)) < 0 ||
        (rc = dm_cfg_int(cfg, DM_CFG_DPDK_RXD, &p->rxd)) < 0 ||
        (rc = dm_cfg_int(cfg, DM_CFG_DPDK_TXD, &p->txd)) < 0 ||
        (rc = p->copy_auto = dm_cfg_int(cfg, DM_CFG_DPDK_TX_COPY, &p->copy)) < 0 ||
        (rc = dm_cfg_int(cfg, DM_CFG_MTU, &p->mtu)) < 0)
        return rc;
    if (p->mtu > 9000)
        return dm_cfg_bad(DM_CFG_MTU, dm_cfg_raw(cfg, DM_CFG_MTU), "at most 9000 on a DPDK port");
    if ((rc = rte_eth_dev_info_get(d->port, &p->di)) != 0) {
        DM_ERR("dpdk", "port %u: cannot read device info (%s)", d->port, strerror(-rc));
        return rc;
    }
    return memif_jumbo_check(d, p);
}

/* The RX pool of each queue (shared ones when we are the primary). */
static int port_pools(struct dpdk_dev *d, struct port_plan *p, struct dpdk_mp_shm *shm)
{
    int rc;
    p->data_room = RTE_MBUF_DEFAULT_BUF_SIZE;
    /* memif copies a frame into as many mbufs as it takes: one per frame
     * keeps the stack's input and our TX copy on one buffer */
    if (p->memif_jumbo)
        p->data_room = RTE_PKTMBUF_HEADROOM +
                       RTE_ALIGN_CEIL((uint32_t)p->mtu + RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN, 1024);
    if ((rc = shm ? pools_shared(d, p->nq, p->nb_mbufs, p->data_room, p->qpools, shm)
                  : pools_get(d, p->nb_mbufs, p->data_room)) < 0)
        return rc;
    if (!shm)
        p->qpools[0] = d->mp;
    d->scarce_below = (uint32_t)(p->nb_mbufs / 4);
    d->scarce_poll = 32;
    d->copy_room = p->data_room - RTE_PKTMBUF_HEADROOM;
    return 0;
}

/* The offloads we use of those the port has, the MTU, RSS over nq > 1. */
static int port_conf_build(const struct dpdk_dev *d, struct port_plan *p)
{
    const struct rte_eth_dev_info *di = &p->di;
    struct rte_eth_conf *conf = &p->conf;
    memset(conf, 0, sizeof(*conf));
    uint64_t tx_want = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_CKSUM |
                       RTE_ETH_TX_OFFLOAD_UDP_CKSUM | RTE_ETH_TX_OFFLOAD_MULTI_SEGS | RTE_ETH_TX_OFFLOAD_TCP_TSO;
    conf->txmode.offloads = di->tx_offload_capa & tx_want;
    conf->rxmode.offloads = di->rx_offload_capa & RTE_ETH_RX_OFFLOAD_CHECKSUM;
    /* tap: the queues' fds as RX interrupt vectors, to sleep on (dpdk_tap.c) */
    if (strcmp(di->driver_name, "net_tap") == 0)
        conf->intr_conf.rxq = 1;
    if (p->mtu > 0 && !p->memif_jumbo) {
        uint32_t frame = (uint32_t)p->mtu + RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN;
        if (frame > d->copy_room) {
            if (!(di->rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER)) {
                DM_ERR("dpdk", "DEMI_MTU=%lld: port %u cannot receive frames longer than one mbuf (%u B)",
                       (long long)p->mtu, d->port, d->copy_room);
                return -EINVAL;
            }
            conf->rxmode.offloads |= RTE_ETH_RX_OFFLOAD_SCATTER;
        }
        conf->rxmode.mtu = (uint32_t)p->mtu;
    }
    if (p->nq > 1 && di->flow_type_rss_offloads && strcmp(di->driver_name, "net_tap") != 0) {
        /* A port with RSS in its configuration (real NICs, virtio): the
         * primary reads back its key and table (demi_dpdk_primary.c). */
        conf->rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
        conf->rx_adv_conf.rss_conf.rss_hf = di->flow_type_rss_offloads &
            (RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_NONFRAG_IPV4_UDP | RTE_ETH_RSS_IPV6 |
             RTE_ETH_RSS_NONFRAG_IPV6_TCP | RTE_ETH_RSS_NONFRAG_IPV6_UDP);
    }
    return 0;
}

static int port_configure(const struct dpdk_dev *d, struct port_plan *p)
{
    struct rte_eth_conf *conf = &p->conf;
    int rc = rte_eth_dev_configure(d->port, p->nq, p->nq, conf);
    if (rc < 0 && conf->rxmode.offloads) {
        /* Some PMDs list offloads they then refuse in a given mode. */
        DM_WARN("dpdk", "port %u: configure with offloads failed (%s), retrying without", d->port,
                strerror(-rc));
        conf->rxmode.offloads &= RTE_ETH_RX_OFFLOAD_SCATTER;
        conf->txmode.offloads &= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
        rc = rte_eth_dev_configure(d->port, p->nq, p->nq, conf);
    }
    if (rc < 0) {
        DM_ERR("dpdk", "port %u (%s): rte_eth_dev_configure failed (%s)", d->port, p->di.driver_name,
               strerror(-rc));
        return rc;
    }
    return 0;
}

/* One RX and one TX queue per queue pair, ring sizes as the port allows. */
static int port_queues_setup(const struct dpdk_dev *d, struct port_plan *p)
{
    int rc;
    p->nrx = (uint16_t)p->rxd;
    p->ntx = (uint16_t)p->txd;
    rte_eth_dev_adjust_nb_rx_tx_desc(d->port, &p->nrx, &p->ntx);
    int socket = rte_eth_dev_socket_id(d->port);
    if (socket < 0)
        socket = SOCKET_ID_ANY;
    struct rte_eth_rxconf rxc = p->di.default_rxconf;
    rxc.offloads = p->conf.rxmode.offloads;
    struct rte_eth_txconf txc = p->di.default_txconf;
    txc.offloads = p->conf.txmode.offloads;
    for (uint16_t q = 0; q < p->nq; q++) {
        if ((rc = rte_eth_rx_queue_setup(d->port, q, p->nrx, (unsigned)socket, &rxc, p->qpools[q])) < 0 ||
            (rc = rte_eth_tx_queue_setup(d->port, q, p->ntx, (unsigned)socket, &txc)) < 0) {
            DM_ERR("dpdk", "port %u (%s): setup of queue %u failed (%s)", d->port, p->di.driver_name, q,
                   strerror(-rc));
            return rc;
        }
    }
    return 0;
}

/* Our capabilities from the configuration, and for the secondaries of a
 * shared port the same in its table. */
static void port_caps(struct dpdk_dev *d, const struct port_plan *p, struct dpdk_mp_shm *shm)
{
    d->queue = 0;
    uint16_t lim = p->di.tx_desc_lim.nb_mtu_seg_max ? p->di.tx_desc_lim.nb_mtu_seg_max : 32;
    caps_from_conf(d, p->conf.rxmode.offloads, p->conf.txmode.offloads, lim > 32 ? 32 : lim);
    if (shm) {
        shm->rx_offloads = p->conf.rxmode.offloads;
        shm->tx_offloads = p->conf.txmode.offloads;
        shm->max_segs = d->max_segs;
        shm->data_room = p->data_room;
        shm->nb_mbufs = (uint32_t)p->nb_mbufs;
        shm->nb_queues = p->nq;
        snprintf(shm->driver, sizeof(shm->driver), "%s", p->di.driver_name);
    }
}

/* A NIC reads what it sends by DMA: for it to send our buffers by
 * reference, the instance's pool must be registered with DPDK and in the
 * port's DMA map (its IOMMU's). Only with IOVA as VA (the address we give
 * a segment is its IOVA: tx_seg). DEMI_DPDK_DMA_MAP=1 maps a virtual port
 * too (tests: it needs none, but the frames outside the pool are then
 * copied as on a NIC). Failing to map costs nothing but the copies. */
static int port_dma_map(struct dpdk_dev *d, const struct dm_config *cfg, const struct rte_eth_dev_info *di)
{
    int mode = 0;
    if (dm_cfg_enum(cfg, DM_CFG_DPDK_DMA_MAP, &mode) < 0)
        return -EINVAL;
    bool vdev = port_is_vdev(d->port, di);
    /* auto (0 here: the choices' order) maps NICs; "0" (1) never; "1" (2) always */
    if (mode == 1 || (mode == 0 && vdev) || !d->inst || !di->device)
        return 0;
    if (rte_eal_iova_mode() != RTE_IOVA_VA) {
        DM_WARN("dpdk", "port %u (%s): IOVA as physical addresses: our buffer pool cannot be DMA-mapped, TX copies "
                        "(run the EAL with --iova-mode=va, which needs an IOMMU, for sends by reference)",
                d->port, di->driver_name);
        return 0;
    }
    void *base;
    size_t len, pg = (size_t)sysconf(_SC_PAGESIZE);
    dm_bufpool_region(dm_instance_data_pool(d->inst), &base, &len);
    len = RTE_ALIGN_CEIL(len, pg); /* the pool is its own mapping: whole pages */
    if (!base || ((uintptr_t)base & (pg - 1))) {
        DM_WARN("dpdk", "port %u: the buffer pool is not page-aligned: not DMA-mapped, TX copies", d->port);
        return 0;
    }
    if (rte_extmem_register(base, len, NULL, 0, pg) != 0 && rte_errno != EEXIST) {
        DM_WARN("dpdk", "port %u: rte_extmem_register of the buffer pool failed (%s): TX copies", d->port,
                rte_strerror(rte_errno));
        return 0;
    }
    if (rte_dev_dma_map(di->device, base, (uint64_t)(uintptr_t)base, len) != 0 &&
        !(vdev && rte_errno == ENOTSUP)) { /* a virtual port reads with the CPU: nothing to map */
        DM_WARN("dpdk", "port %u (%s): rte_dev_dma_map of the buffer pool failed (%s): TX copies", d->port,
                di->driver_name, rte_strerror(rte_errno));
        rte_extmem_unregister(base, len);
        return 0;
    }
    d->dma_base = (uintptr_t)base;
    d->dma_len = len;
    d->dma_dev = di->device;
    d->tx_zc = true;
    DM_INFO("dpdk", "port %u (%s): buffer pool DMA-mapped (%zu KiB): TX by reference from it", d->port,
            di->driver_name, len >> 10);
    return 0;
}

static void port_dma_unmap(struct dpdk_dev *d)
{
    if (!d->dma_len)
        return;
    void *base = (void *)d->dma_base;
    rte_dev_dma_unmap(d->dma_dev, base, (uint64_t)d->dma_base, d->dma_len);
    rte_extmem_unregister(base, d->dma_len);
    d->dma_len = 0;
}

/* What a PMD gets wrong on TX, whether the port is ours or a primary's. */
static void pmd_tx_quirks(struct dpdk_dev *d, const char *driver)
{
    /* DPDK 22.11's tap sums a chain's L4 checksum one mbuf at a time
     * (dpdk_io.c, tx_odd_inner_seg) */
    d->tx_odd_seg_sum_bad = strcmp(driver, "net_tap") == 0;
}

/* By reference or by copy, memif's reconnects and its gate. */
static int port_tx_mode(struct dpdk_dev *d, const struct dm_config *cfg, const struct port_plan *p, bool own)
{
    const struct rte_eth_dev_info *di = &p->di;
    bool memif = strcmp(di->driver_name, "net_memif") == 0;
    int rc;
    /* Handing the port our own memory by reference needs no DMA mapping
     * for virtual devices (they copy with the CPU); a NIC needs the pool
     * in its DMA map (port_dma_map), else it gets copies. */
    d->tx_zc = port_is_vdev(d->port, di);
    /* virtio-user is the exception: the vhost process on the other end
     * reads our frames through the DPDK memory it was given by fd, which
     * does not include our buffer pool. */
    if (strcmp(di->driver_name, "net_virtio_user") == 0)
        d->tx_zc = false;
    else if (own && (rc = port_dma_map(d, cfg, di)) < 0)
        return rc;
    if (!d->tx_zc)
        dm_log_once("dpdk", "port %u (%s) cannot read our buffer pool (not DMA-mapped / not shared): "
                            "TX copies frames into mbufs", d->port, di->driver_name);
    /* TSO frames go by reference (a copy is one mbuf, never 64 KiB). The
     * tap PMD cuts them with librte_gso: TCP over IPv4 only in 22.11. */
    d->tso = d->tso && d->tx_zc;
    bool tap = d->tap = strcmp(di->driver_name, "net_tap") == 0;
    pmd_tx_quirks(d, di->driver_name);
    d->tso6 = d->tso && !tap;
    /* and it refuses a piece longer than its MTU with the Ethernet header
     * counted in (rte_eth_tap.c: tso_segsz + l2 + l3 + l4 > mtu) */
    d->tso_piece_in_mtu = d->tso && tap;
    if (d->tso)
        d->tx_ol |= DM_BUF_TX_TCP_SEG;
    d->tx_copy_max = (uint32_t)p->copy;
    /* memif clients (the default role) connect once at start; servers wait */
    d->reconnect = false;
    if (memif && di->device) {
        const struct rte_devargs *da = rte_dev_devargs(di->device);
        d->reconnect = !(da && da->args && strstr(da->args, "role=server"));
    }
    /* memif unmaps its rings on the interrupt thread when the peer leaves:
     * that thread and our bursts must take turns (dpdk_gate.c) */
    if (memif && (rc = dpdk_gate_park_start(cfg, d->port)) < 0)
        return rc;
    /* memif copies every frame into its shared ring anyway, and its fast
     * copy path only runs when all mbufs of a burst come from one pool
     * with data room: mbufs pointing at our buffers take its slow path.
     * Measured on 64 MiB bulk TCP (bench/dpdk): copying whole frames into
     * fresh mbufs gave 1.6-1.7 Gbit/s against 0.7-1.4 by reference, and
     * the same 64 B RTT. So on memif we copy unless told otherwise. */
    if (p->copy_auto == DM_CFG_AUTO && memif)
        d->tx_copy_max = d->copy_room;
    /* memif has no checksum offload, and every frame is copied (above):
     * we take the stack's TCP/UDP checksums (IPv4 and IPv6: the copy
     * sums from the L4 header on, over the preloaded pseudo-header sum)
     * and complete them in that copy, which reads every byte anyway,
     * instead of the stack's own pass over the payload. */
    d->tx_sw_l4 = 0;
    if (memif && d->tx_copy_max >= d->copy_room && !d->tx_ol) {
        d->tx_sw_l4 = DM_BUF_TX_TCP_CKSUM | DM_BUF_TX_UDP_CKSUM;
        d->caps |= DM_DEV_CAP_TX_TCP_CKSUM | DM_DEV_CAP_TX_UDP_CKSUM | DM_DEV_CAP_TX_L4_CKSUM6;
        /* and, as Linux's GSO for a device without TSO, we cut the
         * stack's 64 KiB TCP frames into those copies ourselves: one pass
         * of the stack per 45 segments instead of per segment (the
         * pieces, hl + MSS, fit an mbuf: port_mtu_pick) */
        d->gso = !d->tso && d->multiseg;
        if (d->gso)
            d->caps |= DM_DEV_CAP_TX_IPV4_CKSUM; /* tx_copy completes it (sw_cksum) */
    }
    /* A memif frame crossed shared memory between two processes of this
     * host, no wire: like Linux across a veth pair (CHECKSUM_UNNECESSARY)
     * we take its TCP/UDP checksum as good instead of a second pass over
     * every payload (the IPv4 header's is still checked).
     * DEMI_DPDK_MEMIF_RX_CKSUM=verify for a peer that corrupts on purpose. */
    int rx_mode = 0;
    if (dm_cfg_enum(cfg, DM_CFG_DPDK_MEMIF_RX_CKSUM, &rx_mode) < 0)
        return -EINVAL;
    d->rx_trust_ol = memif && rx_mode == 0 && !d->rx_cksum ? DM_BUF_RX_L4_CKSUM_GOOD : 0;
    return 0;
}

/* DEMI_MTU or the port's, within what it can receive; and our name. */
static void port_mtu_pick(struct dpdk_dev *d, const struct port_plan *p)
{
    const struct rte_eth_dev_info *di = &p->di;
    uint16_t port_mtu = 1500;
    if (rte_eth_dev_get_mtu(d->port, &port_mtu) != 0 || port_mtu == 0)
        port_mtu = 1500;
    d->mtu = p->mtu > 0 ? (uint16_t)p->mtu : port_mtu;
    /* Never above what the port says it can receive (memif: one 2 KiB
     * buffer; frames spanning several trip a PMD bug, see test/dpdk). */
    if (di->max_rx_pktlen && (uint32_t)d->mtu + RTE_ETHER_HDR_LEN > di->max_rx_pktlen && !p->memif_jumbo)
        d->mtu = (uint16_t)(di->max_rx_pktlen > RTE_ETHER_HDR_LEN + 576 ? di->max_rx_pktlen - RTE_ETHER_HDR_LEN
                                                                        : 576);
    if (!(p->conf.rxmode.offloads & RTE_ETH_RX_OFFLOAD_SCATTER) &&
        (uint32_t)d->mtu + RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN > d->copy_room)
        d->mtu = (uint16_t)(d->copy_room - RTE_ETHER_HDR_LEN - RTE_ETHER_CRC_LEN);
    snprintf(d->name, sizeof(d->name), "dpdk%u:%s", d->port, di->driver_name);
}

/* Our MAC: DEMI_MAC when given (set on the port if the PMD lets us,
 * else listen promiscuously), the port's own otherwise. */
static int port_mac(struct dpdk_dev *d, const struct dm_config *cfg, const struct rte_eth_dev_info *di)
{
    struct rte_ether_addr ea;
    int rc;
    const char *mac = dm_cfg_str(cfg, DM_CFG_MAC);
    if (mac && *mac) {
        if (dm_mac_parse(mac, d->mac) < 0 || (d->mac[0] & 1)) { /* multicast is no station address */
            DM_ERR("dpdk", "DEMI_MAC='%s': expected a unicast address like 02:00:00:00:00:01", mac);
            return -EINVAL;
        }
        memcpy(ea.addr_bytes, d->mac, 6);
        rc = rte_eth_dev_default_mac_addr_set(d->port, &ea);
        if (rc != 0) {
            DM_WARN("dpdk", "port %u (%s) does not take DEMI_MAC (%s): receiving promiscuously instead", d->port,
                    di->driver_name, strerror(-rc));
            rte_eth_promiscuous_enable(d->port);
        }
    } else {
        if ((rc = rte_eth_macaddr_get(d->port, &ea)) != 0) {
            DM_ERR("dpdk", "port %u: no MAC address (%s): set DEMI_MAC", d->port, strerror(-rc));
            return rc;
        }
        memcpy(d->mac, ea.addr_bytes, 6);
    }
    return 0;
}

/* On failure nothing is undone: the pools belong to the port for the
 * rest of the process (pools_get), and the next open configures it anew. */
static int port_setup(struct dpdk_dev *d, const struct dm_config *cfg, uint16_t nq, struct dpdk_mp_shm *shm)
{
    struct port_plan p;
    int rc;
    if ((rc = port_plan_read(d, cfg, nq, &p)) < 0 || (rc = port_pools(d, &p, shm)) < 0 ||
        (rc = port_conf_build(d, &p)) < 0 || (rc = port_configure(d, &p)) < 0 ||
        (rc = port_queues_setup(d, &p)) < 0)
        return rc;
    port_caps(d, &p, shm);
    if ((rc = port_tx_mode(d, cfg, &p, shm == NULL)) < 0)
        return rc;
    port_mtu_pick(d, &p);
    if ((rc = port_mac(d, cfg, &p.di)) < 0)
        return rc;
    if (shm) {
        shm->mtu = d->mtu;
        memcpy(shm->mac, d->mac, 6);
    }
    DM_INFO("dpdk", "port %u (%s): mtu %u, %u mbufs, rxd %u txd %u, tx offloads 0x%llx, rx offloads 0x%llx, "
                    "max segs %u, tx by reference %s (copy up to %u B)",
            d->port, p.di.driver_name, d->mtu, (unsigned)p.nb_mbufs, p.nrx, p.ntx,
            (unsigned long long)p.conf.txmode.offloads, (unsigned long long)p.conf.rxmode.offloads, d->max_segs,
            d->tx_zc ? "yes" : "no", d->tx_copy_max);
    return 0;
}

/* A secondary of demi-dpdk-primary: the port is configured and started
 * by the primary; we claim a queue and take its settings from the table. */
static int secondary_setup(struct dpdk_dev *d, const struct dm_config *cfg)
{
    struct rte_eth_dev_info di;
    int64_t copy = 256, mtu = 0;
    int rc, copy_auto;
    if ((rc = copy_auto = dm_cfg_int(cfg, DM_CFG_DPDK_TX_COPY, &copy)) < 0 || (rc = dm_cfg_int(cfg, DM_CFG_MTU, &mtu)) < 0)
        return rc;
    if ((rc = rte_eth_dev_info_get(d->port, &di)) != 0) {
        DM_ERR("dpdk", "port %u: cannot read device info (%s)", d->port, strerror(-rc));
        return rc;
    }
    if (!strcmp(di.driver_name, "net_af_packet")) {
        /* measured: the first burst faults (test/dpdk/README.md) */
        DM_ERR("dpdk", "port %u (net_af_packet) cannot be used from a secondary process in DPDK 22.11: its "
                       "packet rings are mmap()ed by the primary alone (the queue's rd/map point into the "
                       "primary's address space); share a net_tap port instead", d->port);
        return -ENOTSUP;
    }
    int64_t claim_wait_ms;
    if ((rc = dm_cfg_int(cfg, DM_CFG_DPDK_CLAIM_WAIT_MS, &claim_wait_ms)) < 0 ||
        (rc = dpdk_mp_attach(d, d->port, claim_wait_ms)) < 0)
        return rc;
    const struct dpdk_mp_shm *shm = d->shm;
    caps_from_conf(d, shm->rx_offloads, shm->tx_offloads, shm->max_segs);
    /* No TSO from a secondary: the tap PMD cuts frames into mbufs of one
     * GSO pool per port, with a per-lcore cache, and every secondary is
     * lcore 0. */
    d->tso = d->tso6 = false;
    d->scarce_below = shm->nb_mbufs / 4;
    d->scarce_poll = 32;
    d->copy_room = shm->data_room - RTE_PKTMBUF_HEADROOM;
    /* Our buffers are this process's own memory: by reference only to
     * PMDs that copy the frame inside the burst, in the calling process
     * (tap: writev on the queue's fd; memif: into the shared region).
     * Anything else (a NIC's DMA, a vhost peer) gets copies. */
    d->tx_zc = strcmp(di.driver_name, "net_tap") == 0 || strcmp(di.driver_name, "net_memif") == 0;
    pmd_tx_quirks(d, di.driver_name);
    d->tx_copy_max = (uint32_t)copy;
    if (copy_auto == DM_CFG_AUTO && strcmp(di.driver_name, "net_memif") == 0)
        d->tx_copy_max = d->copy_room;
    d->mtu = shm->mtu;
    if (mtu > 0 && mtu < d->mtu)
        d->mtu = (uint16_t)mtu;
    memcpy(d->mac, shm->mac, 6);
    d->reconnect = false;
    snprintf(d->name, sizeof(d->name), "dpdk%u.%u:%s", d->port, d->queue, di.driver_name);
    if (strcmp(di.driver_name, "net_tap") == 0) {
        /* the others wake us when they hand us a frame; then our queue's fd */
        if (d->arp_in && (rc = dpdk_mp_wake_open(d)) < 0)
            DM_WARN("dpdk", "port %u queue %u: no wake socket (%s): frames the other processes hand us wait "
                            "for our next look while we sleep", d->port, d->queue, strerror(-rc));
        dpdk_tap_wait_open(d);
    }
    return 0;
}

static void dev_zero(struct dpdk_dev *d)
{
    memset(d, 0, sizeof(*d));
    d->wait_fd = d->wake.fd = -1;
    for (unsigned q = 0; q < sizeof(d->q_fd) / sizeof(d->q_fd[0]); q++)
        d->q_fd[q] = -1;
}

int dpdk_primary_port_setup(struct dpdk_dev *d, const struct dm_config *cfg, uint16_t port, uint16_t nq,
                            struct dpdk_mp_shm *shm)
{
    dev_zero(d);
    d->port = port;
    shm->port = port;
    return port_setup(d, cfg, nq, shm);
}

static void dpdk_close(struct dm_dev *dev);

static int dpdk_open_low(struct dm_dev *dev, const struct dm_config *cfg);

/* The EAL, the port's memory and queues, its start: the descriptors DPDK
 * opens meanwhile stay above the low numbers (dpdk_fd_floor_raise), and
 * the threads it starts (the EAL's interrupt and multi-process threads, a
 * PMD's) block the application's signals (dm/sigmask.h); the caller's
 * wait until the port is up (at most DEMI_DPDK_LINK_WAIT_MS at its start). */
static int dpdk_open(struct dm_dev *dev, const struct dm_config *cfg)
{
    struct dpdk_fd_floor floor;
    sigset_t old;
    dm_sig_block_async(&old);
    dpdk_fd_floor_raise(&floor);
    int rc = dpdk_open_low(dev, cfg);
    dpdk_fd_floor_drop(&floor);
    dm_sig_restore(&old);
    return rc;
}

static int dpdk_start_low(struct dm_dev *dev);

static int dpdk_start(struct dm_dev *dev)
{
    struct dpdk_fd_floor floor;
    sigset_t old;
    dm_sig_block_async(&old);
    dpdk_fd_floor_raise(&floor);
    int rc = dpdk_start_low(dev);
    dpdk_fd_floor_drop(&floor);
    dm_sig_restore(&old);
    return rc;
}

static int dpdk_open_low(struct dm_dev *dev, const struct dm_config *cfg)
{
    int64_t port;
    int rc = dpdk_eal_init(cfg);
    if (rc < 0)
        return rc;
    if ((rc = dm_cfg_int(cfg, DM_CFG_DPDK_PORT, &port)) < 0)
        return rc;
    if (port >= RTE_MAX_ETHPORTS || !rte_eth_dev_is_valid_port((uint16_t)port)) {
        unsigned n = rte_eth_dev_count_avail();
        if (n == 0)
            DM_ERR("dpdk", "no DPDK port: DEMI_DPDK_ARGS has no usable --vdev (and PCI is off unless "
                           "DEMI_DPDK_ALLOW_PCI=1)");
        else
            DM_ERR("dpdk", "DEMI_DPDK_PORT=%lld: no such port (%u available, numbered from 0)", (long long)port,
                   n);
        return -ENODEV;
    }
    struct dpdk_dev *d = aligned_alloc(64, (sizeof(*d) + 63) & ~(size_t)63);
    if (!d)
        return -ENOMEM;
    dev_zero(d);
    d->port = (uint16_t)port;
    d->inst = dev->inst;

    pthread_mutex_lock(&dpdk_ports_lock);
    if (dpdk_ports[d->port].open) {
        pthread_mutex_unlock(&dpdk_ports_lock);
        DM_ERR("dpdk", "DEMI_DPDK_PORT=%u is already open in this process", d->port);
        free(d);
        return -EBUSY;
    }
    rc = dpdk_eal_is_secondary() ? secondary_setup(d, cfg) : port_setup(d, cfg, 1, NULL);
    if (rc == 0)
        dpdk_ports[d->port].open = true;
    pthread_mutex_unlock(&dpdk_ports_lock);
    if (rc < 0) {
        free(d);
        return rc;
    }
    dev->priv = d;
    if ((rc = dpdk_ext_init(d)) < 0) {
        dpdk_close(dev);
        return rc;
    }
    d->hw_poll = 1u << 16;
    if (dm_stats_register(dev->inst, "dpdk", dpdk_stat_names, d->st, DPDK_ST_COUNT) == 0)
        d->stats_on = true;
    dev->priv = d;
    dev->rx_burst = dpdk_rx_burst;
    dev->tx_burst = dpdk_tx_burst;

    int64_t wait_ms;
    if ((rc = dm_cfg_int(cfg, DM_CFG_DPDK_LINK_WAIT_MS, &wait_ms)) < 0)
        wait_ms = 0;
    d->link_wait_ms = (uint32_t)wait_ms;
    return 0;
}

bool dpdk_link_poll(struct dpdk_dev *d)
{
    struct rte_eth_link link;
    memset(&link, 0, sizeof(link));
    rte_eth_link_get_nowait(d->port, &link);
    if (link.link_status == RTE_ETH_LINK_UP)
        return true;
    /* give a handshake half a second before starting over */
    if (d->reconnect && rte_get_tsc_cycles() - d->started_tsc > rte_get_tsc_hz() / 2 &&
        dpdk_gate_enter(d->port)) {
        if (d->started)
            rte_eth_dev_stop(d->port);
        d->started = rte_eth_dev_start(d->port) == 0;
        d->started_tsc = rte_get_tsc_cycles();
        dpdk_gate_leave(d->port);
    }
    return false;
}

static int dpdk_start_low(struct dm_dev *dev)
{
    struct dpdk_dev *d = dev->priv;
    uint32_t wait_ms = d->link_wait_ms;
    if (d->secondary) {
        /* the primary started the port; our queue is ours from now on */
        d->started = true;
        return 0;
    }
    int rc = rte_eth_dev_start(d->port);
    d->started_tsc = rte_get_tsc_cycles();
    if (rc < 0 && d->reconnect) {
        /* memif client before its server: we keep trying from the poll loop */
        DM_INFO("dpdk", "port %u: memif peer not there yet, will retry", d->port);
        d->started = false;
    } else if (rc < 0) {
        DM_ERR("dpdk", "port %u: rte_eth_dev_start failed (%s)", d->port, strerror(rc == -1 ? EIO : -rc));
        return rc == -1 ? -EIO : rc;
    } else {
        d->started = true;
        if (d->tap) {
            dpdk_tap_signals_off(&d->tap_kick);
            if (d->wait_fd < 0)
                dpdk_tap_wait_open(d);
        }
    }
    if (wait_ms) {
        bool up = false;
        for (uint32_t t = 0; t < wait_ms && !up; t += 10) {
            up = dpdk_link_poll(d);
            if (!up)
                usleep(10000);
        }
        if (!up)
            DM_WARN("dpdk", "port %u: link still down after %u ms (DEMI_DPDK_LINK_WAIT_MS)", d->port, wait_ms);
    }
    return 0;
}

static void dpdk_stop(struct dm_dev *dev)
{
    struct dpdk_dev *d = dev->priv;
    if (d && d->secondary) {
        d->started = false; /* the port is the primary's to stop */
        return;
    }
    if (d)
        dpdk_gso_drop(d);
    if (d && d->started) {
        dpdk_read_hw_stats(d);
        /* memif's stop is its disconnect: not while the interrupt thread
         * runs its callbacks on the same port (dpdk_gate.c) */
        while (!dpdk_gate_enter(d->port))
            sched_yield();
        rte_eth_dev_stop(d->port);
        dpdk_gate_leave(d->port);
        d->started = false;
    }
}

static void dpdk_close(struct dm_dev *dev)
{
    struct dpdk_dev *d = dev->priv;
    if (!d)
        return;
    dpdk_stop(dev);
    port_dma_unmap(d);
    dpdk_tap_wait_close(d);
    dpdk_mp_wake_close(d);
    dpdk_mp_detach(d);
    if (d->stats_on)
        dm_stats_unregister(dev->inst, d->st);
    pthread_mutex_lock(&dpdk_ports_lock);
    dpdk_ports[d->port].open = false;
    pthread_mutex_unlock(&dpdk_ports_lock);
    dpdk_ext_fini(d);
    free(d);
    dev->priv = NULL;
}

static int dpdk_info(struct dm_dev *dev, struct dm_dev_info *info)
{
    struct dpdk_dev *d = dev->priv;
    struct rte_eth_link link;
    memset(info, 0, sizeof(*info));
    snprintf(info->name, sizeof(info->name), "%s", d->name);
    memcpy(info->mac, d->mac, 6);
    info->mtu = d->mtu;
    info->caps = d->caps | (d->wait_fd >= 0 ? DM_DEV_CAP_CAN_SLEEP : 0);
    info->max_segs = d->max_segs;
    if (d->tso) {
        info->caps |= DM_DEV_CAP_TX_TCP_TSO | (d->tso6 ? DM_DEV_CAP_TX_TCP_TSO6 : 0);
        info->tso_max = DM_DEV_TSO_MAX_DEFAULT;
        if (d->tso_piece_in_mtu)
            info->tso_piece_max = d->mtu;
    } else if (d->gso) {
        info->caps |= DM_DEV_CAP_TX_TCP_TSO | DM_DEV_CAP_TX_TCP_TSO6;
        info->tso_max = DM_DEV_TSO_MAX_DEFAULT;
    }
    memset(&link, 0, sizeof(link));
    /* a secondary does not ask the PMD: tap's link query is an ioctl on a
     * socket fd of the primary's, a number that means nothing here */
    if (d->secondary)
        info->link_up = d->started;
    else if (rte_eth_link_get_nowait(d->port, &link) == 0)
        info->link_up = link.link_status == RTE_ETH_LINK_UP;
    dpdk_read_hw_stats(d);
    return 0;
}

/* Tap ports: an epoll set of the queues' fds (dpdk_tap.c); any other
 * port busy-polls. */
static int dpdk_wait_fd(struct dm_dev *dev)
{
    struct dpdk_dev *d = dev->priv;
    return d->wait_fd;
}

static bool dpdk_flow_ours(struct dm_dev *dev, int proto, uint32_t lip, uint16_t lport, uint32_t rip,
                           uint16_t rport)
{
    return dpdk_mp_flow_ours(dev->priv, proto, lip, lport, rip, rport);
}

static bool dpdk_flow_ours6(struct dm_dev *dev, int proto, const uint8_t *lip, uint16_t lport, const uint8_t *rip,
                            uint16_t rport)
{
    return dpdk_mp_flow_ours6(dev->priv, proto, lip, lport, rip, rport);
}

static bool dpdk_forward(struct dm_dev *dev, struct dm_buf *frame, uint32_t flow_hash)
{
    struct dpdk_dev *d = dev->priv;
    return d->secondary && dpdk_mp_forward(d, frame, flow_hash);
}

static void dpdk_listening(struct dm_dev *dev, bool on)
{
    dpdk_mp_listening(dev->priv, on);
}

static bool dpdk_peers_starting(struct dm_dev *dev)
{
    struct dpdk_dev *d = dev->priv;
    return d->secondary && dpdk_mp_peers_starting(d);
}

static const struct dm_dev_ops dpdk_ops = {
    .flow_ours = dpdk_flow_ours,
    .flow_ours6 = dpdk_flow_ours6,
    .forward = dpdk_forward,
    .peers_starting = dpdk_peers_starting,
    .listening = dpdk_listening,
    .name = "dpdk",
    .open = dpdk_open,
    .start = dpdk_start,
    .stop = dpdk_stop,
    .close = dpdk_close,
    .info = dpdk_info,
    .wait_fd = dpdk_wait_fd,
};
DM_DEV_REGISTER(dpdk_ops)
