/* SPDX-License-Identifier: MIT */
/*
 * ICMPv6 (RFC 4443) and neighbour discovery (RFC 4861) for a host.
 *
 * ICMPv6: answers echo requests to our unicast addresses by turning the
 * request around in place (no replies to multicast pings), sends
 * destination unreachable / port unreachable for UDP datagrams nobody
 * listens to (never for multicast destinations or unspecified/multicast
 * sources, RFC 4443 2.4 e), and counts and ignores received errors (no
 * PMTU discovery: we never send above DEMI_MTU).
 *
 * Neighbour discovery: a solicitation for one of our addresses (hop limit
 * 255, checksum, length and options checked, RFC 4861 7.1.1) gets a
 * solicited advertisement with our MAC; its source link-layer option
 * creates or refreshes the sender's entry. Advertisements refresh entries
 * we have (a pending one resolves and its queued frames leave). We send
 * solicitations to the target's solicited-node group when the shared
 * neighbour cache (arp.c) resolves a next hop. Router advertisements,
 * redirects and DAD are ignored: addresses and the gateway are static.
 *
 * MLDv2 (RFC 3810), host side: switches that snoop MLD forward a
 * multicast group only to ports that reported it, so our solicited-node
 * groups are reported (to ff02::16, from the link-local address, hop
 * limit 1, with a Router Alert hop-by-hop option) twice at start and
 * within 100 ms of every query. All-nodes is never reported (RFC 3810 6).
 */
#include <string.h>
#include "inet_priv.h"
#include "dm/time.h"

static const struct inet_addr all_nodes = {.b = {0xff, 0x02, [15] = 1}};

static uint16_t icmp6_csum(const struct dm_buf *m, uint32_t off, uint32_t len, const struct inet_addr *src,
                           const struct inet_addr *dst)
{
    return inet_csum_fold(inet_csum_chain(m, off, len, inet_csum_pseudo6(src->w, dst->w, IP6_NH_ICMP6, len)));
}

/* ------------------------------------------------------------ ND */
static void nd6_send(struct inet_stack *st, uint8_t type, uint32_t flags, const struct inet_addr *target,
                     const struct inet_addr *src, const struct inet_addr *dst)
{
    struct dm_buf *m = dm_buf_alloc(st->inst);
    if (!m) {
        st->nd_st.nobuf++;
        return;
    }
    uint32_t len = sizeof(struct nd_msg) + sizeof(struct nd_opt_lla);
    struct nd_msg *nd = (struct nd_msg *)dm_buf_append(m, len);
    if (!nd) {
        dm_buf_free(m);
        st->nd_st.nobuf++;
        return;
    }
    nd->h.type = type;
    nd->h.code = 0;
    nd->h.csum = 0;
    nd->h.rest = htonl(flags);
    memcpy(nd->target, target->b, 16);
    struct nd_opt_lla *o = (struct nd_opt_lla *)(nd + 1);
    o->type = type == ND_NEIGHBOR_SOLICIT ? ND_OPT_SOURCE_LLADDR : ND_OPT_TARGET_LLADDR;
    o->len = 1;
    memcpy(o->mac, st->mac, ETH_ALEN);
    nd->h.csum = icmp6_csum(m, 0, len, src, dst);
    if (type == ND_NEIGHBOR_SOLICIT)
        st->nd_st.tx_request++;
    else
        st->nd_st.tx_reply++;
    ipv6_output(st, m, src, dst, IP6_NH_ICMP6, ND_HOP_LIMIT);
}

void nd6_send_ns(struct inet_stack *st, const struct inet_addr *target)
{
    struct inet_addr src, dst = ipv6_solicited_node(target);
    if (!inet_src_for(st, target, &src))
        src = st->ip6_ll;
    nd6_send(st, ND_NEIGHBOR_SOLICIT, 0, target, &src, &dst);
}

/* m: data at the IPv6 header, the ND message at `off`, `len` bytes long. */
static void nd6_input(struct inet_stack *st, struct dm_buf *m, uint32_t off, uint32_t len)
{
    st->nd_st.rx++;
    const struct ip6_hdr *ih = (const struct ip6_hdr *)m->data;
    const struct nd_msg *nd = (const struct nd_msg *)(m->data + off);
    struct inet_addr target;
    if (len < sizeof(*nd) || m->len < off + sizeof(*nd) || ih->hops != ND_HOP_LIMIT || nd->h.code != 0)
        goto bad;
    memcpy(target.b, nd->target, 16);
    if (inet_addr_is_mcast6(&target))
        goto bad;
    /* options (in the first segment; a chained tail is not looked at) */
    const uint8_t *mac = NULL;
    const uint8_t *o = (const uint8_t *)(nd + 1);
    uint32_t olen = DM_MIN(len, m->len - off) - (uint32_t)sizeof(*nd);
    uint8_t want = nd->h.type == ND_NEIGHBOR_SOLICIT ? ND_OPT_SOURCE_LLADDR : ND_OPT_TARGET_LLADDR;
    while (olen >= 2) {
        uint32_t ol = (uint32_t)o[1] * 8;
        if (ol == 0 || ol > olen)
            goto bad; /* RFC 4861 7.1: a zero-length option invalidates the message */
        if (o[0] == want && ol >= 8)
            mac = o + 2;
        o += ol;
        olen -= ol;
    }
    bool unspec_src = inet_addr_is_zero(&st->rx.src);
    if (nd->h.type == ND_NEIGHBOR_SOLICIT) {
        st->nd_st.rx_request++;
        /* DAD probes come from :: to the solicited-node group, without a
         * source link-layer option */
        if (unspec_src && (mac || !inet_addr_is_mcast6(&st->rx.dst)))
            goto bad;
        if (!inet_is_ours(st, &target) || inet_addr_is_v4(&target))
            goto done;
        if (mac && !(mac[0] & 1))
            arp_update(st, &st->rx.src, mac, true);
        struct inet_addr dst = unspec_src ? all_nodes : st->rx.src;
        uint32_t flags = ND_NA_FLAG_OVERRIDE | (unspec_src ? 0 : ND_NA_FLAG_SOLICITED);
        dm_buf_free(m);
        nd6_send(st, ND_NEIGHBOR_ADVERT, flags, &target, &target, &dst);
        inet_schedule_flush(st);
        return;
    }
    st->nd_st.rx_reply++;
    if ((ntohl(nd->h.rest) & ND_NA_FLAG_SOLICITED) && inet_addr_is_mcast6(&st->rx.dst))
        goto bad;
    if (mac && !(mac[0] & 1))
        arp_update(st, &target, mac, false);
    goto done;
bad:
    st->nd_st.rx_bad++;
done:
    dm_buf_free(m);
}

/* ------------------------------------------------------------ MLD */
#define MLD_UNSOLICITED_NS (1000 * DM_NS_PER_MS)

static const struct inet_addr all_mld_routers = {.b = {0xff, 0x02, [15] = 0x16}};

static void mld_send_report(struct inet_stack *st, uint8_t rectype)
{
    struct inet_addr groups[2];
    unsigned ng = 0;
    groups[ng++] = ipv6_solicited_node(&st->ip6_ll);
    if (!inet_addr_is_zero(&st->ip6)) {
        groups[ng] = ipv6_solicited_node(&st->ip6);
        if (!inet_addr_eq(&groups[ng], &groups[0]))
            ng++;
    }
    struct dm_buf *m = dm_buf_alloc(st->inst);
    if (!m)
        return;
    uint32_t mlen = 8 + 20 * ng;
    uint8_t *p = dm_buf_append(m, 8 + mlen);
    if (!p) {
        dm_buf_free(m);
        return;
    }
    /* hop-by-hop: next ICMPv6, Router Alert (MLD), PadN of 2 */
    static const uint8_t hbh[8] = {IP6_NH_ICMP6, 0, 5, 2, 0, 0, 1, 0};
    memcpy(p, hbh, 8);
    uint8_t *r = p + 8;
    memset(r, 0, mlen);
    r[0] = MLDV2_LISTENER_REPORT;
    r[7] = (uint8_t)ng;
    for (unsigned i = 0; i < ng; i++) {
        uint8_t *rec = r + 8 + 20 * i;
        rec[0] = rectype;
        memcpy(rec + 4, groups[i].b, 16);
    }
    uint16_t c = inet_csum_fold(inet_csum_partial(r, mlen,
                                                  inet_csum_pseudo6(st->ip6_ll.w, all_mld_routers.w,
                                                                    IP6_NH_ICMP6, mlen)));
    memcpy(r + 2, &c, 2);
    st->icmp6_st.tx_mld_report++;
    ipv6_output(st, m, &st->ip6_ll, &all_mld_routers, IP6_NH_HOPOPTS, 1);
    inet_schedule_flush(st);
}

void mld_start(struct inet_stack *st)
{
    st->mld_left = 2;
    st->mld_rectype = MLDV2_CHANGE_TO_EXCLUDE;
    st->mld_next_ns = 0; /* at the first tick */
}

void mld_tick(struct inet_stack *st, int64_t now)
{
    mld_send_report(st, st->mld_rectype);
    st->mld_left--;
    st->mld_next_ns = now + MLD_UNSOLICITED_NS;
}

/* A query (RFC 3810 5.1): from a link-local router, hop limit 1. We
 * answer every valid one with our whole state at the next tick (within
 * 100 ms, inside any Maximum Response Delay a router uses). */
static void mld_query(struct inet_stack *st, const struct dm_buf *m, uint32_t len)
{
    const struct ip6_hdr *ih = (const struct ip6_hdr *)m->data;
    if (len < 24 || ih->hops != 1 || !inet_addr_is_ll6(&st->rx.src)) {
        st->icmp6_st.rx_other++;
        return;
    }
    st->icmp6_st.rx_mld_query++;
    if (!st->mld_left || st->mld_rectype != MLDV2_MODE_IS_EXCLUDE) {
        st->mld_left = 1;
        st->mld_rectype = MLDV2_MODE_IS_EXCLUDE;
        st->mld_next_ns = 0;
    }
}

/* ------------------------------------------------------------ ICMPv6 */
/* Destination unreachable, by code: Linux's errno and whether it is a
 * hard error (icmpv6_err_convert); used as for IPv4 (icmp.c). */
static const struct {
    int err;
    bool hard;
} unreach6[7] = {
    {ENETUNREACH, false}, {EACCES, true}, {EHOSTUNREACH, false}, {EHOSTUNREACH, false},
    {ECONNREFUSED, true}, {EACCES, true}, {EACCES, true},
};

/* An error quoting our packet (RFC 4443 3.1): a UDP datagram or TCP
 * segment of ours right behind its IPv6 header tells which socket. err,
 * hard: what Linux makes of it; mtu: a packet too big's, else 0. */
static void icmp6_quote_error(struct inet_stack *st, const struct dm_buf *m, uint32_t off, uint32_t len, int err,
                              bool hard, uint32_t mtu)
{
    uint8_t q[IP6_HLEN + 8];
    if (len < sizeof(struct icmp6_hdr) + sizeof(q) ||
        dm_buf_copy_out(m, off + (uint32_t)sizeof(struct icmp6_hdr), q, sizeof(q)) != sizeof(q))
        return;
    const struct ip6_hdr *qi = (const struct ip6_hdr *)q;
    if ((ntohl(qi->vtcfl) >> 28) != 6)
        return;
    struct inet_addr src, dst;
    memcpy(src.b, qi->src, 16);
    memcpy(dst.b, qi->dst, 16);
    if (!inet_is_ours(st, &src))
        return;
    if (icmp_quote_deliver(st, qi->nxt, &src, &dst, q + IP6_HLEN, err, hard, mtu))
        st->icmp6_st.rx_unreach_sock++;
}

void icmp6_input(struct inet_stack *st, struct dm_buf *m)
{
    st->icmp6_st.rx++;
    uint32_t off = m->l3_len;
    uint32_t len = m->pkt_len - off;
    if (len < sizeof(struct icmp6_hdr) || m->len < off + sizeof(struct icmp6_hdr)) {
        st->icmp6_st.rx_short++;
        goto drop;
    }
    if (icmp6_csum(m, off, len, &st->rx.src, &st->rx.dst) != 0) {
        st->icmp6_st.rx_bad_csum++;
        goto drop;
    }
    struct icmp6_hdr *ic = (struct icmp6_hdr *)(m->data + off);
    switch (ic->type) {
    case ND_NEIGHBOR_SOLICIT:
    case ND_NEIGHBOR_ADVERT:
        nd6_input(st, m, off, len);
        return;
    case ICMP6_ECHO_REQUEST:
        break;
    case MLD_LISTENER_QUERY:
        mld_query(st, m, len);
        goto drop;
    case ICMP6_DST_UNREACH:
        if (ic->code < DM_ARRAY_SIZE(unreach6))
            icmp6_quote_error(st, m, off, len, unreach6[ic->code].err, unreach6[ic->code].hard, 0);
        st->icmp6_st.rx_error++;
        goto drop;
    case ICMP6_PACKET_TOO_BIG:
        if (ntohl(ic->rest) != 0)
            icmp6_quote_error(st, m, off, len, 0, false, ntohl(ic->rest));
        st->icmp6_st.rx_error++;
        goto drop;
    case ICMP6_TIME_EXCEEDED: /* soft, as Linux's icmpv6_err_convert */
        icmp6_quote_error(st, m, off, len, EHOSTUNREACH, false, 0);
        st->icmp6_st.rx_error++;
        goto drop;
    case ICMP6_PARAM_PROB:
        icmp6_quote_error(st, m, off, len, EPROTO, true, 0);
        st->icmp6_st.rx_error++;
        goto drop;
    default:
        st->icmp6_st.rx_other++;
        goto drop;
    }
    st->icmp6_st.rx_echo++;
    if (ic->code != 0 || !inet_is_ours(st, &st->rx.dst) || inet_addr_is_zero(&st->rx.src))
        goto drop; /* no replies to multicast pings */
    struct inet_addr peer = st->rx.src, me = st->rx.dst;
    /* Turn the request into the reply: same id, sequence and payload; the
     * pseudo-header sum does not change when source and destination swap. */
    ic->type = ICMP6_ECHO_REPLY;
    ic->csum = 0;
    ic->csum = icmp6_csum(m, off, len, &me, &peer);
    dm_buf_adj(m, off); /* extension headers are not echoed */
    m->ol_flags = 0;
    st->icmp6_st.tx_echo_reply++;
    ipv6_output(st, m, &me, &peer, IP6_NH_ICMP6, IP6_DEFAULT_HOPS);
    inet_schedule_flush(st);
    return;
drop:
    dm_buf_free(m);
}

void icmp6_send_port_unreach(struct inet_stack *st, const struct dm_buf *orig)
{
    struct inet_addr me = st->rx.dst, peer = st->rx.src;
    if (!inet_is_ours(st, &me) || inet_addr_is_zero(&peer) || inet_addr_is_mcast6(&peer))
        return;
    struct dm_buf *m = dm_buf_alloc(st->inst);
    if (!m)
        return;
    /* as much of the invoking packet as fits the minimum MTU (RFC 4443 3.1) */
    uint32_t quote = DM_MIN(orig->pkt_len, (uint32_t)(IP6_MIN_MTU - IP6_HLEN - sizeof(struct icmp6_hdr)));
    uint32_t room = dm_buf_tailroom(m);
    if (room < sizeof(struct icmp6_hdr)) {
        dm_buf_free(m);
        return;
    }
    quote = DM_MIN(quote, room - (uint32_t)sizeof(struct icmp6_hdr));
    struct icmp6_hdr *ic = (struct icmp6_hdr *)dm_buf_append(m, (uint32_t)sizeof(*ic) + quote);
    if (!ic) {
        dm_buf_free(m);
        return;
    }
    ic->type = ICMP6_DST_UNREACH;
    ic->code = ICMP6_PORT_UNREACH;
    ic->csum = 0;
    ic->rest = 0;
    dm_buf_copy_out(orig, 0, ic + 1, quote);
    ic->csum = icmp6_csum(m, 0, (uint32_t)sizeof(*ic) + quote, &me, &peer);
    st->icmp6_st.tx_unreach++;
    ipv6_output(st, m, &me, &peer, IP6_NH_ICMP6, IP6_DEFAULT_HOPS);
    inet_schedule_flush(st);
}
