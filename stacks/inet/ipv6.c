/* SPDX-License-Identifier: MIT */
/*
 * IPv6 (RFC 8200) for a host on one link: validates received headers
 * (version, payload length against the frame, source not multicast,
 * destination one of ours: the link-local address derived from the MAC,
 * DEMI_IPV6's, their solicited-node groups, all-nodes), trims Ethernet
 * padding, walks the extension headers a host must understand (hop-by-hop
 * first only, destination options, routing with no segments left, the
 * fragment header: ip_frag.c reassembles) and drops the rest with a
 * counter: options whose type says "discard if
 * unrecognized", routing headers that would make us forward, chains longer
 * than IP6_MAX_EXT headers or 255 bytes (the L3 length is a byte in
 * dm_buf). The L4 payload goes to ICMPv6, UDP or TCP with the parse state
 * in st->rx and m->l3_len covering the IPv6 and extension headers.
 *
 * Output prepends a 40-byte header (hop limit 64, 255 for neighbour
 * discovery) and resolves the next hop: the destination when on link
 * (link-local, multicast, or inside DEMI_IPV6's prefix), else
 * DEMI_GATEWAY6; a datagram longer than the MTU goes as fragments
 * (ip_frag.c). No router discovery, SLAAC or DAD: the configuration is
 * static.
 */
#include <string.h>
#include "inet_priv.h"
#include "dm/log.h"
#include "tcp_priv.h"

#define IP6_MAX_EXT 8

static const struct inet_addr all_nodes = {.b = {0xff, 0x02, [15] = 1}};

struct inet_addr ipv6_solicited_node(const struct inet_addr *a)
{
    struct inet_addr g = {.b = {0xff, 0x02, [11] = 0x01, [12] = 0xff}};
    memcpy(&g.b[13], &a->b[13], 3);
    return g;
}

static void add_mc_mac(struct inet_stack *st, const struct inet_addr *g)
{
    uint8_t mac[ETH_ALEN] = {0x33, 0x33};
    memcpy(mac + 2, &g->b[12], 4);
    for (unsigned i = 0; i < st->n_mc_mac; i++)
        if (memcmp(st->mc_mac[i], mac, ETH_ALEN) == 0)
            return;
    if (st->n_mc_mac < DM_ARRAY_SIZE(st->mc_mac))
        memcpy(st->mc_mac[st->n_mc_mac++], mac, ETH_ALEN);
}

void ipv6_init_addrs(struct inet_stack *st)
{
    /* fe80::/64 with the modified EUI-64 of the MAC (RFC 4291 2.5.1, RFC 2464 4) */
    memset(&st->ip6_ll, 0, sizeof(st->ip6_ll));
    st->ip6_ll.b[0] = 0xfe;
    st->ip6_ll.b[1] = 0x80;
    st->ip6_ll.b[8] = st->mac[0] ^ 0x02;
    st->ip6_ll.b[9] = st->mac[1];
    st->ip6_ll.b[10] = st->mac[2];
    st->ip6_ll.b[11] = 0xff;
    st->ip6_ll.b[12] = 0xfe;
    memcpy(&st->ip6_ll.b[13], &st->mac[3], 3);
    st->n_mc_mac = 0;
    struct inet_addr g = ipv6_solicited_node(&st->ip6_ll);
    add_mc_mac(st, &g);
    if (!inet_addr_is_zero(&st->ip6)) {
        g = ipv6_solicited_node(&st->ip6);
        add_mc_mac(st, &g);
    }
    add_mc_mac(st, &all_nodes);
}

bool inet_is_ours6(struct inet_stack *st, const struct inet_addr *a)
{
    return inet_addr_eq(a, &st->ip6_ll) || (!inet_addr_is_zero(&st->ip6) && inet_addr_eq(a, &st->ip6));
}

/* Multicast groups we are in: all-nodes and our solicited-node groups. */
static bool ip6_group_ours(struct inet_stack *st, const struct inet_addr *a)
{
    if (inet_addr_eq(a, &all_nodes))
        return true;
    struct inet_addr g = ipv6_solicited_node(&st->ip6_ll);
    if (inet_addr_eq(a, &g))
        return true;
    if (inet_addr_is_zero(&st->ip6))
        return false;
    g = ipv6_solicited_node(&st->ip6);
    return inet_addr_eq(a, &g);
}

static bool ip6_prefix_match(const struct inet_addr *a, const struct inet_addr *b, unsigned plen)
{
    unsigned full = plen / 8, rest = plen % 8;
    if (memcmp(a->b, b->b, full) != 0)
        return false;
    if (!rest)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return ((a->b[full] ^ b->b[full]) & mask) == 0;
}

bool ipv6_on_link(const struct inet_stack *st, const struct inet_addr *dst)
{
    return inet_addr_is_ll6(dst) || inet_addr_is_mcast6(dst) ||
           (!inet_addr_is_zero(&st->ip6) && ip6_prefix_match(dst, &st->ip6, st->ip6_plen));
}

static bool ip6_next_hop(struct inet_stack *st, const struct inet_addr *dst, struct inet_addr *nh)
{
    if (ipv6_on_link(st, dst)) {
        *nh = *dst;
        return true;
    }
    if (!inet_addr_is_zero(&st->gw6)) {
        *nh = st->gw6;
        return true;
    }
    return false;
}

bool inet_reachable(struct inet_stack *st, const struct inet_addr *dst)
{
    if (inet_addr_is_v4(dst))
        return inet_next_hop(st, dst->w[3]) != 0;
    struct inet_addr nh, src;
    return ip6_next_hop(st, dst, &nh) && inet_src_for(st, dst, &src);
}

bool inet_src_for(struct inet_stack *st, const struct inet_addr *dst, struct inet_addr *src)
{
    if (inet_addr_is_v4(dst)) {
        *src = inet_addr_v4(st->ip);
        return true;
    }
    /* link-local scope (unicast or link-scope multicast): the link-local
     * address (RFC 6724 rule 2); global scope needs DEMI_IPV6 */
    if (inet_addr_is_ll6(dst) || (inet_addr_is_mcast6(dst) && (dst->b[1] & 0x0f) <= 2)) {
        *src = st->ip6_ll;
        return true;
    }
    if (inet_addr_is_zero(&st->ip6))
        return false;
    *src = st->ip6;
    return true;
}

/* Hop-by-hop / destination options (RFC 8200 4.2): Pad1 and PadN are
 * the only ones we know; an unknown one whose two high type bits are not
 * 00 ("skip") means the packet must be discarded. */
static bool ip6_opts_ok(const uint8_t *o, uint32_t len)
{
    uint32_t i = 0;
    while (i < len) {
        uint8_t t = o[i];
        if (t == 0) { /* Pad1 */
            i++;
            continue;
        }
        if (i + 2 > len || i + 2u + o[i + 1] > len)
            return false;
        if (t != 1 && (t >> 6) != 0)
            return false;
        i += 2u + o[i + 1];
    }
    return true;
}

void ipv6_input(struct inet_stack *st, struct dm_buf *m)
{
    st->ip6_st.rx++;
    if (dm_unlikely(m->len < IP6_HLEN)) {
        st->ip6_st.rx_short++;
        goto drop;
    }
    const struct ip6_hdr *ih = (const struct ip6_hdr *)m->data;
    if (dm_unlikely((m->data[0] >> 4) != 6)) {
        st->ip6_st.rx_bad_version++;
        goto drop;
    }
    uint32_t tot = IP6_HLEN + (uint32_t)ntohs(ih->plen);
    if (dm_unlikely(tot > m->pkt_len)) {
        st->ip6_st.rx_bad_len++;
        goto drop;
    }
    memcpy(st->rx.src.b, ih->src, 16);
    memcpy(st->rx.dst.b, ih->dst, 16);
    if (dm_unlikely(inet_addr_is_mcast6(&st->rx.src))) {
        st->ip6_st.rx_bad_src++;
        goto drop;
    }
    if (dm_unlikely(!inet_is_ours(st, &st->rx.dst) && !ip6_group_ours(st, &st->rx.dst))) {
        st->ip6_st.rx_not_ours++;
        goto drop;
    }
    if (tot < m->pkt_len)
        inet_buf_trim(m, tot); /* Ethernet padding */
    uint32_t off = IP6_HLEN, nh_at = offsetof(struct ip6_hdr, nxt);
    uint8_t nh = ih->nxt;
    for (unsigned n = 0;; n++) {
        if (nh != IP6_NH_HOPOPTS && nh != IP6_NH_DSTOPTS && nh != IP6_NH_ROUTING)
            break;
        /* hop-by-hop only right after the IPv6 header (RFC 8200 4.1); the
         * whole header in the first segment (it is, from every device) */
        if (dm_unlikely((nh == IP6_NH_HOPOPTS && n != 0) || n >= IP6_MAX_EXT || off + 8 > m->len ||
                        off + 8 > tot)) {
            st->ip6_st.rx_bad_ext++;
            goto drop;
        }
        const uint8_t *h = m->data + off;
        uint32_t hl = ((uint32_t)h[1] + 1) * 8;
        if (dm_unlikely(off + hl > m->len || off + hl > tot || off + hl > 255)) {
            st->ip6_st.rx_bad_ext++;
            goto drop;
        }
        if (nh == IP6_NH_ROUTING) {
            if (h[3] != 0) { /* segments left: we would have to forward it */
                st->ip6_st.rx_bad_ext++;
                goto drop;
            }
        } else if (!ip6_opts_ok(h + 2, hl - 2)) {
            st->ip6_st.rx_ext_unknown_opt++;
            goto drop;
        }
        nh = h[0];
        nh_at = off;
        off += hl;
    }
    if (dm_unlikely(nh == IP6_NH_FRAGMENT)) {
        /* the fragment header, then what follows it in the first segment */
        if (off + IP6_FRAG_HLEN > m->len || off + IP6_FRAG_HLEN > tot) {
            st->ip6_st.rx_frag_drop++;
            goto drop;
        }
        const uint8_t *fh = m->data + off;
        uint16_t om;
        uint32_t id;
        memcpy(&om, fh + 2, 2);
        memcpy(&id, fh + 4, 4);
        om = ntohs(om);
        struct ipfrag_in f = { .id = ntohl(id), .hlen = off + IP6_FRAG_HLEN, .off = om & ~7u,
                               .len = tot - off - IP6_FRAG_HLEN, .nh_at = nh_at, .proto = fh[0],
                               .more = om & 1, .v6 = true };
        if (dm_unlikely(f.off == 0 && !f.more)) {
            /* an atomic fragment (RFC 6946): the datagram itself */
            memmove(m->data + IP6_FRAG_HLEN, m->data, off);
            dm_buf_adj(m, IP6_FRAG_HLEN);
            m->data[nh_at] = f.proto;
            ih = (const struct ip6_hdr *)m->data;
            ((struct ip6_hdr *)m->data)->plen = htons((uint16_t)(ntohs(ih->plen) - IP6_FRAG_HLEN));
        } else {
            m = ipfrag_input(st, m, &f);
            if (!m)
                return; /* held, or dropped and counted */
            off = m->l3_len; /* the first fragment's headers, less its fragment header */
        }
        nh = f.proto;
    }
    m->l3_len = (uint8_t)off;
    switch (nh) {
    case IPPROTO_TCP_:
        dm_buf_adj(m, off);
        tcp_input(st, m);
        return;
    case IPPROTO_UDP_:
        udp_input(st, m); /* keeps the IP header: needed for ICMP errors */
        return;
    case IP6_NH_ICMP6:
        icmp6_input(st, m);
        return;
    default:
        st->ip6_st.rx_bad_proto++;
        goto drop;
    }
drop:
    dm_buf_free(m);
}

int ipv6_output(struct inet_stack *st, struct dm_buf *m, const struct inet_addr *src,
                const struct inet_addr *dst, uint8_t nxt, uint8_t hops)
{
    struct inet_addr nh;
    if (dm_unlikely(!ip6_next_hop(st, dst, &nh))) {
        st->ip6_st.tx_no_route++;
        dm_buf_free(m);
        return -ENETUNREACH;
    }
    uint32_t plen = m->pkt_len;
    if (dm_unlikely(plen + IP6_HLEN > st->mtu && nxt != IPPROTO_TCP_)) /* TCP: the MSS fits */
        return ipfrag_output6(st, m, src, dst, nxt, hops, &nh);
    struct ip6_hdr *ih = (struct ip6_hdr *)dm_buf_prepend(m, IP6_HLEN);
    if (dm_unlikely(!ih)) {
        st->ip6_st.tx_nobuf++;
        dm_buf_free(m);
        return -ENOBUFS;
    }
    ih->vtcfl = htonl(6u << 28);
    ih->plen = htons((uint16_t)plen);
    ih->nxt = nxt;
    ih->hops = hops;
    memcpy(ih->src, src->b, 16);
    memcpy(ih->dst, dst->b, 16);
    m->l3_len = IP6_HLEN;
    st->ip6_st.tx++;
    return eth_output_ip(st, m, &nh);
}

int inet_ip_output(struct inet_stack *st, struct dm_buf *m, const struct inet_addr *src,
                   const struct inet_addr *dst, uint8_t proto)
{
    if (dm_likely(inet_addr_is_v4(dst)))
        return ipv4_output(st, m, src->w[3], dst->w[3], proto);
    return ipv6_output(st, m, src, dst, proto, IP6_DEFAULT_HOPS);
}
