/* SPDX-License-Identifier: MIT */
/*
 * Source ports for active opens that bring the replies to our own queue.
 *
 * A NIC places each received flow on a queue by RSS: the Toeplitz hash of
 * the 4-tuple with its key, then its indirection table. The replies to a
 * connection we open land wherever that puts them: on a multi-queue
 * interface, on another process's queue, which then hands every frame on
 * (xdp_fwd.c), or on a queue nobody holds (xdp_stray.c): correct, at a
 * copy per frame. As mTCP and F-Stack do, we read the interface's key and
 * table (ethtool's ioctls, no privilege needed) and the stack takes an
 * ephemeral port only if the reply's hash maps to our queue
 * (dm_dev_ops.flow_ours). The hash is DPDK's software Toeplitz,
 * rte_softrss (a header-only inline: nothing of DPDK is linked), as
 * devices/dpdk does for its shared ports; a build without DPDK's headers
 * steers nothing.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#ifdef DM_XDP_SOFTRSS
#include "../thash.h"
#endif
#include "xdp_rss.h"

/* ethtool's hash functions, bit by bit (linux/ethtool.h keeps the names
 * out of the UAPI): bit 0 is Toeplitz */
#define XDP_RSS_HASH_TOP 0x01u

static int ethtool(int s, const char *ifname, void *data)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    ifr.ifr_data = data;
    return ioctl(s, SIOCETHTOOL, &ifr) < 0 ? -errno : 0;
}

int xdp_rss_read(const char *ifname, struct xdp_rss *r)
{
    r->n = 0;
#ifndef DM_XDP_SOFTRSS
    (void)ifname;
    return -EOPNOTSUPP;
#else
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err;
    if (s < 0)
        return -errno;
    /* which flows are hashed on both addresses and both ports (NICs
     * often hash UDP on its addresses alone: no port changes its queue) */
    static const struct {
        uint32_t flow_type;
        uint8_t bit;
    } flows[] = { { TCP_V4_FLOW, DM_FLOW_TCP4 }, { UDP_V4_FLOW, DM_FLOW_UDP4 },
                  { TCP_V6_FLOW, DM_FLOW_TCP6 }, { UDP_V6_FLOW, DM_FLOW_UDP6 } };
    const uint64_t want = RXH_IP_SRC | RXH_IP_DST | RXH_L4_B_0_1 | RXH_L4_B_2_3;
    struct ethtool_rxfh sz = { .cmd = ETHTOOL_GRSSH };
    struct ethtool_rxfh *h = NULL;
    if ((err = ethtool(s, ifname, &sz)) < 0)
        goto out;
    r->ports = 0;
    for (size_t i = 0; i < sizeof(flows) / sizeof(flows[0]); i++) {
        struct ethtool_rxnfc fh = { .cmd = ETHTOOL_GRXFH, .flow_type = flows[i].flow_type };
        /* IPv6's 36 bytes of tuple take a key of 40 */
        if ((flows[i].bit & (DM_FLOW_TCP6 | DM_FLOW_UDP6)) && sz.key_size < 40)
            continue;
        if (ethtool(s, ifname, &fh) == 0 && (fh.data & want) == want)
            r->ports |= flows[i].bit;
    }
    err = -EOPNOTSUPP;
    if (!r->ports || !sz.indir_size || sz.indir_size > XDP_RSS_INDIR_MAX || sz.key_size < 16 ||
        sz.key_size > XDP_RSS_KEY_MAX)
        goto out;
    h = calloc(1, sizeof(*h) + sz.indir_size * sizeof(uint32_t) + sz.key_size);
    if (!h) {
        err = -ENOMEM;
        goto out;
    }
    h->cmd = ETHTOOL_GRSSH;
    h->indir_size = sz.indir_size;
    h->key_size = sz.key_size;
    if ((err = ethtool(s, ifname, h)) < 0)
        goto out;
    /* plain Toeplitz: not XOR or CRC32, and no symmetric transformation
     * (the byte after hfunc: input_xfrm since Linux 6.7, reserved and 0
     * before, as in the headers we build with) */
    err = -EOPNOTSUPP;
    if (h->hfunc != XDP_RSS_HASH_TOP || h->rsvd8[0] != 0)
        goto out;
    for (uint32_t i = 0; i < h->indir_size; i++) {
        if (h->rss_config[i] > UINT16_MAX)
            goto out;
        r->indir[i] = (uint16_t)h->rss_config[i];
    }
    memcpy(r->key, (const uint8_t *)(h->rss_config + h->indir_size), h->key_size);
    r->key_len = h->key_size;
    r->n = h->indir_size;
    err = 0;
out:
    free(h);
    close(s);
    return err;
#endif
}

/* Is a flow of proto (IPv6 or not) placed by a hash r knows, ports included? */
static bool hashed(const struct xdp_rss *r, int proto, bool v6)
{
    return r->n && (r->ports & dm_flow_bit(proto, v6));
}

int xdp_rss_queue(const struct xdp_rss *r, int proto, uint32_t lip, uint16_t lport, uint32_t rip, uint16_t rport)
{
    if (!hashed(r, proto, false))
        return -1;
#ifndef DM_XDP_SOFTRSS
    (void)lip, (void)lport, (void)rip, (void)rport;
    return -1;
#else
    return r->indir[dm_thash_v4(r->key, lip, lport, rip, rport) % r->n];
#endif
}

int xdp_rss_queue6(const struct xdp_rss *r, int proto, const uint8_t *lip, uint16_t lport, const uint8_t *rip,
                   uint16_t rport)
{
    if (!hashed(r, proto, true))
        return -1;
#ifndef DM_XDP_SOFTRSS
    (void)lip, (void)lport, (void)rip, (void)rport;
    return -1;
#else
    return r->indir[dm_thash_v6(r->key, lip, lport, rip, rport) % r->n];
#endif
}
