/* SPDX-License-Identifier: MIT */
/*
 * IPv4 (RFC 791): validates received headers (version, header length,
 * total length against the frame, header checksum unless the device
 * vouched for it, destination), trims Ethernet padding, has fragments
 * reassembled (ip_frag.c), and hands the L4 payload to ICMP, UDP or TCP
 * with the parse state in st->rx.
 * Output prepends a header (DF set, TTL 64) with the checksum computed here
 * or left to the device when it offers DM_DEV_CAP_TX_IPV4_CKSUM; a
 * datagram longer than the MTU goes as fragments (ip_frag.c).
 */
#include <string.h>
#include "inet_priv.h"
#include "csum.h"
#include "dm/log.h"
#include "tcp_priv.h"

uint32_t inet_next_hop(struct inet_stack *st, uint32_t dst)
{
    if (((dst ^ st->ip) & st->mask) == 0 || dst == 0xffffffffu)
        return dst;
    return st->gw; /* 0: no route */
}

void ipv4_input(struct inet_stack *st, struct dm_buf *m)
{
    st->ip_st.rx++;
    if (dm_unlikely(m->len < IP_HLEN_MIN)) {
        st->ip_st.rx_short++;
        goto drop;
    }
    const struct ip_hdr *ih = (const struct ip_hdr *)m->data;
    if (dm_unlikely((ih->vhl >> 4) != 4)) {
        st->ip_st.rx_bad_version++;
        goto drop;
    }
    uint32_t hlen = (uint32_t)(ih->vhl & 0xf) * 4;
    if (dm_unlikely(hlen < IP_HLEN_MIN || hlen > m->len)) {
        st->ip_st.rx_bad_hlen++;
        goto drop;
    }
    uint32_t tot = ntohs(ih->len);
    if (dm_unlikely(tot < hlen || tot > m->pkt_len)) {
        st->ip_st.rx_bad_len++;
        goto drop;
    }
    if (!(m->ol_flags & DM_BUF_RX_IP_CKSUM_GOOD)) {
        if (dm_unlikely((m->ol_flags & DM_BUF_RX_IP_CKSUM_BAD) ||
                        inet_csum_fold(inet_csum_partial(ih, hlen, 0)) != 0)) {
            st->ip_st.rx_bad_csum++;
            goto drop;
        }
    }
    if (dm_unlikely(ih->dst != st->ip && ih->dst != 0xffffffffu && ih->dst != (st->ip | ~st->mask))) {
        st->ip_st.rx_not_ours++;
        goto drop;
    }
    if (tot < m->pkt_len)
        inet_buf_trim(m, tot); /* Ethernet padding */
    st->rx.src = inet_addr_v4(ih->src);
    st->rx.dst = inet_addr_v4(ih->dst);
    uint16_t off = ntohs(ih->off);
    if (dm_unlikely(off & (IP_MF | IP_OFFMASK))) {
        struct ipfrag_in f = { .id = ntohs(ih->id), .hlen = hlen, .off = (uint32_t)(off & IP_OFFMASK) * 8,
                               .len = tot - hlen, .proto = ih->proto, .more = off & IP_MF };
        m = ipfrag_input(st, m, &f);
        if (!m)
            return; /* held, or dropped and counted */
        ih = (const struct ip_hdr *)m->data;
        hlen = m->l3_len; /* the first fragment's */
    }
    uint8_t proto = ih->proto;
    m->l3_len = (uint8_t)hlen;
    switch (proto) {
    case IPPROTO_TCP_:
        dm_buf_adj(m, hlen);
        tcp_input(st, m);
        return;
    case IPPROTO_UDP_:
        udp_input(st, m); /* keeps the IP header: needed for ICMP errors */
        return;
    case IPPROTO_ICMP_:
        icmp_input(st, m);
        return;
    default:
        st->ip_st.rx_bad_proto++;
        goto drop;
    }
drop:
    dm_buf_free(m);
}

int ipv4_output(struct inet_stack *st, struct dm_buf *m, uint32_t src, uint32_t dst, uint8_t proto)
{
    uint32_t nh = inet_next_hop(st, dst);
    if (dm_unlikely(nh == 0)) {
        st->ip_st.tx_no_route++;
        dm_buf_free(m);
        return -ENETUNREACH;
    }
    if (dm_unlikely(m->pkt_len + IP_HLEN_MIN > st->mtu && proto != IPPROTO_TCP_)) { /* TCP: the MSS fits */
        struct inet_addr nha = inet_addr_v4(nh);
        return ipfrag_output4(st, m, src, dst, proto, &nha);
    }
    struct ip_hdr *ih = (struct ip_hdr *)dm_buf_prepend(m, IP_HLEN_MIN);
    if (dm_unlikely(!ih)) {
        st->ip_st.tx_nobuf++;
        dm_buf_free(m);
        return -ENOBUFS;
    }
    ih->vhl = 0x45;
    ih->tos = 0;
    ih->len = htons((uint16_t)m->pkt_len);
    ih->id = htons(st->ip_id++);
    ih->off = htons(IP_DF);
    ih->ttl = IP_DEFAULT_TTL;
    ih->proto = proto;
    ih->src = src;
    ih->dst = dst;
    ih->csum = 0;
    m->l3_len = IP_HLEN_MIN;
    if (st->tx_ip_csum)
        m->ol_flags |= DM_BUF_TX_IP_CKSUM;
    else
        ih->csum = inet_csum_fold(inet_csum_partial(ih, IP_HLEN_MIN, 0));
    st->ip_st.tx++;
    struct inet_addr nha = inet_addr_v4(nh);
    return eth_output_ip(st, m, &nha);
}
