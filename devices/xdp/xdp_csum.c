/* SPDX-License-Identifier: MIT */
/*
 * Checksums the peer left to the NIC, on a veth.
 *
 * Linux sends TCP and UDP over a veth with CHECKSUM_PARTIAL: the checksum
 * field holds the pseudo-header sum and the NIC would sum the rest. A veth
 * has no wire, and the peer's kernel takes such a frame as good as it is.
 * Our XDP program hands it to the XSK byte for byte, and AF_XDP carries no
 * checksum metadata, so the stack saw a bad checksum and dropped every
 * segment: a peer had to turn its TX offload off (ethtool -K <if> tx off)
 * for anything to work, which no container set-up does. On a veth we take
 * a frame whose field is exactly its pseudo-header sum as Linux would,
 * and skip summing its payload; a complete checksum is verified by the
 * stack as before. A frame damaged on its way (there is no way on a veth)
 * would pass only if its field happened to equal that sum: 1 in 65,536.
 */
#include <stdio.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include "dm/buf.h"
#include "dm/l2csum.h"
#include "xdp_csum.h"

static inline uint32_t sum_words(const uint8_t *p, uint32_t n, uint32_t s)
{
    for (uint32_t i = 0; i < n; i += 2)
        s += dm_rd16(p + i);
    return s;
}

static inline uint32_t fold(uint32_t s)
{
    s = (s & 0xffff) + (s >> 16);
    return (s & 0xffff) + (s >> 16);
}

uint32_t xdp_csum_rx_partial(const uint8_t *f, uint32_t len)
{
    uint32_t et, proto, l4len, s;
    const uint8_t *l4;
    if (len < 14 + 20)
        return 0;
    et = dm_rd16(f + 12);
    const uint8_t *ip = f + 14;
    if (et == 0x0800) {
        uint32_t ihl = (uint32_t)(ip[0] & 0x0f) * 4, tot = dm_rd16(ip + 2);
        if ((ip[0] >> 4) != 4 || ihl < 20 || tot < ihl || tot > len - 14 || (dm_rd16(ip + 6) & 0x3fff))
            return 0; /* not IPv4, or a fragment: its checksum spans the datagram */
        proto = ip[9];
        l4 = ip + ihl;
        l4len = tot - ihl;
        s = sum_words(ip + 12, 8, 0);
    } else if (et == 0x86dd) {
        if (len < 14 + 40 || (ip[0] >> 4) != 6)
            return 0;
        proto = ip[6]; /* extension headers: not from Linux's TCP or UDP */
        l4 = ip + 40;
        l4len = dm_rd16(ip + 4);
        if (l4len > len - 14 - 40)
            return 0;
        s = sum_words(ip + 8, 32, 0);
    } else {
        return 0;
    }
    uint32_t field;
    if (proto == 6 && l4len >= 20)
        field = dm_rd16(l4 + 16);
    else if (proto == 17 && l4len >= 8 && (field = dm_rd16(l4 + 6)) != 0)
        ;
    else
        return 0; /* UDP without a checksum needs no verdict */
    s += proto + (l4len & 0xffff) + (l4len >> 16);
    return fold(s) == field ? DM_BUF_RX_L4_CKSUM_GOOD : 0;
}

bool xdp_csum_iface_is_veth(const char *ifname)
{
    struct ethtool_drvinfo di = { .cmd = ETHTOOL_GDRVINFO };
    struct ifreq ifr;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return false;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    ifr.ifr_data = (void *)&di;
    bool veth = ioctl(s, SIOCETHTOOL, &ifr) == 0 && strcmp(di.driver, "veth") == 0;
    close(s);
    return veth;
}
