/* SPDX-License-Identifier: MIT */
/*
 * Internal to devices/xdp: the interface's receive-side scaling, so that
 * our active opens pick source ports whose replies land on our own queue.
 * See xdp_rss.c.
 */
#ifndef DM_XDP_RSS_H
#define DM_XDP_RSS_H

#include <stdbool.h>
#include <stdint.h>
#include "dm/device.h"

#define XDP_RSS_KEY_MAX   64
#define XDP_RSS_INDIR_MAX 2048

struct xdp_rss {
    uint32_t n;                    /* indirection table entries, 0: not known (no steering) */
    uint32_t key_len;
    uint8_t ports;                 /* DM_FLOW_* (dm/device.h): hashed on both addresses and both ports */
    uint8_t key[XDP_RSS_KEY_MAX] __attribute__((aligned(4))); /* rte_softrss reads it 32 bits at a time */
    uint16_t indir[XDP_RSS_INDIR_MAX]; /* hash % n -> RX queue */
};

/* Reads the RSS of `ifname` (ETHTOOL_GRSSH, ETHTOOL_GRXFH): 0 when it is
 * plain Toeplitz over the addresses and ports of TCP or UDP (r->ports
 * says which), with its key and indirection table in r; -EOPNOTSUPP when
 * it has none we can compute (veth, tap, another hash function, fewer
 * fields, a build without DPDK's rte_thash.h), or -errno. r->n is 0
 * unless 0 is returned. */
int xdp_rss_read(const char *ifname, struct xdp_rss *r);

/* The RX queue the interface gives a segment of proto (IPPROTO_TCP,
 * IPPROTO_UDP) from rip:rport to lip:lport (network order); -1 when r is
 * not known or does not hash that flow's ports. */
int xdp_rss_queue(const struct xdp_rss *r, int proto, uint32_t lip, uint16_t lport, uint32_t rip, uint16_t rport);
/* The same for IPv6 (16-byte addresses). */
int xdp_rss_queue6(const struct xdp_rss *r, int proto, const uint8_t *lip, uint16_t lport, const uint8_t *rip,
                   uint16_t rport);

#endif /* DM_XDP_RSS_H */
