/* SPDX-License-Identifier: MIT */
/*
 * The Toeplitz hash an RSS port gives a received TCP segment, for the
 * devices that place our active opens on their own queue (devices/dpdk's
 * shared ports, devices/xdp on RSS NICs): DPDK's software Toeplitz,
 * rte_softrss, a header-only inline (nothing of DPDK is linked for it).
 * Include only where DPDK's headers are. Addresses and ports in network
 * order, ours first; the hash is of the segment as the peer sends it
 * (source: the peer).
 */
#ifndef DM_DEV_THASH_H
#define DM_DEV_THASH_H

#include <stdint.h>
#include <string.h>
#include <rte_byteorder.h>
#include <rte_thash.h>

/* key: the port's, read 32 bits at a time (4-byte aligned), 16 bytes at
 * least for IPv4, 40 for IPv6 */
static inline uint32_t dm_thash_v4(const uint8_t *key, uint32_t lip, uint16_t lport, uint32_t rip, uint16_t rport)
{
    /* rte_thash's tuple is in host order, and with dport before sport in
     * memory the 32-bit word is (sport << 16 | dport), as on the wire */
    struct rte_ipv4_tuple t;
    t.src_addr = rte_be_to_cpu_32(rip);
    t.dst_addr = rte_be_to_cpu_32(lip);
    t.sport = rte_be_to_cpu_16(rport);
    t.dport = rte_be_to_cpu_16(lport);
    return rte_softrss((uint32_t *)&t, RTE_THASH_V4_L4_LEN, key);
}

static inline uint32_t dm_thash_v6(const uint8_t *key, const uint8_t *lip, uint16_t lport, const uint8_t *rip,
                                   uint16_t rport)
{
    /* as rte_thash_load_v6_addrs lays them out: each 32-bit word of the
     * addresses in host order */
    union rte_thash_tuple t;
    for (int i = 0; i < 4; i++) {
        uint32_t w;
        memcpy(&w, rip + 4 * i, 4);
        w = rte_be_to_cpu_32(w);
        memcpy(t.v6.src_addr + 4 * i, &w, 4);
        memcpy(&w, lip + 4 * i, 4);
        w = rte_be_to_cpu_32(w);
        memcpy(t.v6.dst_addr + 4 * i, &w, 4);
    }
    t.v6.sport = rte_be_to_cpu_16(rport);
    t.v6.dport = rte_be_to_cpu_16(lport);
    return rte_softrss((uint32_t *)&t, RTE_THASH_V6_L4_LEN, key);
}

#endif /* DM_DEV_THASH_H */
