/* SPDX-License-Identifier: MIT */
/*
 * Ethernet II: demultiplexes received frames to ARP, IPv4 and IPv6, and
 * frames outgoing IP packets for the next hop (through ARP or neighbour
 * discovery). Frames not for our MAC, broadcast, or one of the IPv6
 * multicast MACs we joined (33:33:ff + the low 24 bits of each of our
 * addresses for the solicited-node groups, 33:33:00:00:00:01 for all-nodes)
 * are dropped and counted: the loop and AF_XDP devices may hand us
 * everything on the wire.
 */
#include <string.h>
#include "inet_priv.h"

static const uint8_t eth_bcast[ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static bool eth_mcast_ours(const struct inet_stack *st, const uint8_t *dst)
{
    for (unsigned i = 0; i < st->n_mc_mac; i++)
        if (memcmp(dst, st->mc_mac[i], ETH_ALEN) == 0)
            return true;
    return false;
}

void eth_input(struct inet_stack *st, struct dm_buf *m)
{
    st->eth_st.rx++;
    if (dm_unlikely(m->len < ETH_HLEN || m->pkt_len < ETH_HLEN)) {
        st->eth_st.rx_short++;
        dm_buf_free(m);
        return;
    }
    const struct eth_hdr *eh = (const struct eth_hdr *)m->data;
    if (dm_unlikely(memcmp(eh->dst, st->mac, ETH_ALEN) != 0 &&
                    memcmp(eh->dst, eth_bcast, ETH_ALEN) != 0 && !eth_mcast_ours(st, eh->dst))) {
        st->eth_st.rx_not_ours++;
        dm_buf_free(m);
        return;
    }
    uint16_t type = ntohs(eh->type);
    /* kept: a frame handed on whole (forward_stray) is put back at it */
    m->l2_len = ETH_HLEN;
    dm_buf_adj(m, ETH_HLEN);
    if (dm_likely(type == ETH_P_IPV4))
        ipv4_input(st, m);
    else if (type == ETH_P_IPV6)
        ipv6_input(st, m);
    else if (type == ETH_P_ARP)
        arp_input(st, m);
    else {
        st->eth_st.rx_bad_type++;
        dm_buf_free(m);
    }
}

void eth_output_raw(struct inet_stack *st, struct dm_buf *m, const uint8_t *dst, uint16_t type)
{
    struct eth_hdr *eh = (struct eth_hdr *)dm_buf_prepend(m, ETH_HLEN);
    if (dm_unlikely(!eh)) {
        st->eth_st.tx_drop_full++;
        dm_buf_free(m);
        return;
    }
    memcpy(eh->dst, dst, ETH_ALEN);
    memcpy(eh->src, st->mac, ETH_ALEN);
    eh->type = htons(type);
    m->l2_len = ETH_HLEN;
    /* Short frames are padded by the device (as NICs do); the loop device
     * carries them as they are. */
    st->eth_st.tx++;
    inet_tx_enqueue(st, m);
}

int eth_output_ip(struct inet_stack *st, struct dm_buf *m, const struct inet_addr *nexthop)
{
    uint8_t mac[ETH_ALEN];
    int r = arp_resolve(st, nexthop, m, mac);
    if (r <= 0)
        return r; /* queued (0) or dropped (<0): m consumed */
    eth_output_raw(st, m, mac, inet_addr_is_v4(nexthop) ? ETH_P_IPV4 : ETH_P_IPV6);
    return 0;
}
