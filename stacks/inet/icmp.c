/* SPDX-License-Identifier: MIT */
/*
 * ICMP (RFC 792): answers echo requests to our address (so `ping` works)
 * by turning the request buffer around in place, sends destination port
 * unreachable for UDP datagrams nobody listens to, and hands one that
 * comes back for a datagram or a SYN of ours to its socket. Other
 * messages are counted and ignored. Path MTU discovery (RFC 1191) is
 * TCP's only: a fragmentation needed shrinks that connection's MSS.
 */
#include <errno.h>
#include <string.h>
#include "inet_priv.h"
#include "csum.h"

/* Destination unreachable, by code: Linux's errno for it and whether it
 * is a hard error (icmp_err_convert). A connected UDP socket hears only
 * of hard ones (the rest with IP_RECVERR, which we do not have); a TCP
 * connection still opening ends with any but "fragmentation needed",
 * which shrinks a connection's segments instead, and an open one keeps
 * it as its soft error (tcp_v4_err). Time exceeded and parameter problem
 * are handled alike (EHOSTUNREACH soft, EPROTO hard). */
static const struct {
    int err;
    bool hard;
} unreach[16] = {
    {ENETUNREACH, false}, {EHOSTUNREACH, false}, {ENOPROTOOPT, true}, {ECONNREFUSED, true},
    {EMSGSIZE, false},    {EOPNOTSUPP, false},   {ENETUNREACH, true}, {EHOSTDOWN, true},
    {ENONET, true},       {ENETUNREACH, true},   {EHOSTUNREACH, true}, {ENETUNREACH, false},
    {EHOSTUNREACH, false}, {EHOSTUNREACH, true}, {EHOSTUNREACH, true}, {EHOSTUNREACH, true},
};
#define ICMP_FRAG_NEEDED 4 /* code */

bool icmp_quote_deliver(struct inet_stack *st, uint8_t proto, const struct inet_addr *src,
                        const struct inet_addr *dst, const uint8_t *l4, int err, bool hard, uint32_t mtu)
{
    uint16_t sport, dport;
    uint32_t seq;
    memcpy(&sport, l4, 2);
    memcpy(&dport, l4 + 2, 2);
    if (proto == IPPROTO_UDP_)
        return hard && !mtu && udp_icmp_error(st, src, sport, dst, dport, err);
    if (proto != IPPROTO_TCP_)
        return false;
    memcpy(&seq, l4 + 4, 4);
    return mtu ? tcp_icmp_pmtu(st, src, sport, dst, dport, ntohl(seq), mtu)
               : tcp_icmp_error(st, src, sport, dst, dport, ntohl(seq), err);
}

/* An error quoting our IP header and 8 bytes past it (RFC 792): the
 * ports of a UDP datagram or TCP segment of ours (and the TCP sequence)
 * tell which socket. err, hard: what Linux makes of it; mtu: a
 * fragmentation needed's next-hop MTU, else 0. */
static void icmp_quote_error(struct inet_stack *st, const struct dm_buf *m, uint32_t off, uint32_t len, int err,
                             bool hard, uint32_t mtu)
{
    uint8_t q[60 + 8];
    uint32_t n = DM_MIN(len - (uint32_t)sizeof(struct icmp_hdr), (uint32_t)sizeof(q));
    if (n < sizeof(struct ip_hdr) + 8 || dm_buf_copy_out(m, off + (uint32_t)sizeof(struct icmp_hdr), q, n) != n)
        return;
    const struct ip_hdr *qi = (const struct ip_hdr *)q;
    uint32_t qhl = (uint32_t)(qi->vhl & 0xf) * 4;
    if ((qi->vhl >> 4) != 4 || qhl < sizeof(struct ip_hdr) || n < qhl + 8 || qi->src != st->ip)
        return;
    struct inet_addr src = inet_addr_v4(qi->src), dst = inet_addr_v4(qi->dst);
    if (icmp_quote_deliver(st, qi->proto, &src, &dst, q + qhl, err, hard, mtu))
        st->icmp_st.rx_unreach_sock++;
}

static void icmp_error_input(struct inet_stack *st, const struct dm_buf *m, uint32_t off, uint32_t len,
                             const struct icmp_hdr *ic)
{
    switch (ic->type) {
    case ICMP_DEST_UNREACH:
        st->icmp_st.rx_unreach++;
        if (ic->code >= DM_ARRAY_SIZE(unreach))
            return;
        if (ic->code == ICMP_FRAG_NEEDED) {
            /* the next hop's MTU: the low half of the last word (RFC 1191) */
            uint32_t mtu = ntohl(ic->rest) & 0xffff;
            if (mtu)
                icmp_quote_error(st, m, off, len, 0, false, mtu);
            return;
        }
        icmp_quote_error(st, m, off, len, unreach[ic->code].err, unreach[ic->code].hard, 0);
        return;
    case ICMP_TIME_EXCEEDED: /* a routing loop, or TTL too small: soft */
        icmp_quote_error(st, m, off, len, EHOSTUNREACH, false, 0);
        return;
    case ICMP_PARAM_PROB:
        icmp_quote_error(st, m, off, len, EPROTO, true, 0);
        return;
    }
}

void icmp_input(struct inet_stack *st, struct dm_buf *m)
{
    st->icmp_st.rx++;
    const struct ip_hdr *ih = (const struct ip_hdr *)m->data;
    uint32_t hlen = (uint32_t)(ih->vhl & 0xf) * 4;
    uint32_t len = m->pkt_len - hlen;
    if (len < sizeof(struct icmp_hdr) || m->len < hlen + sizeof(struct icmp_hdr)) {
        st->icmp_st.rx_short++;
        goto drop;
    }
    if (inet_csum_fold(inet_csum_chain(m, hlen, len, 0)) != 0) {
        st->icmp_st.rx_bad_csum++;
        goto drop;
    }
    struct icmp_hdr *ic = (struct icmp_hdr *)(m->data + hlen);
    if (ic->type == ICMP_DEST_UNREACH || ic->type == ICMP_TIME_EXCEEDED || ic->type == ICMP_PARAM_PROB) {
        if (ic->type != ICMP_DEST_UNREACH)
            st->icmp_st.rx_other++;
        icmp_error_input(st, m, hlen, len, ic);
        goto drop;
    }
    if (ic->type != ICMP_ECHO_REQUEST || ic->code != 0) {
        st->icmp_st.rx_other++;
        goto drop;
    }
    st->icmp_st.rx_echo++;
    if (ih->dst != st->ip)
        goto drop; /* no replies to broadcast pings */
    uint32_t peer = ih->src;
    /* Turn the request into the reply: same id, sequence and payload. */
    ic->type = ICMP_ECHO_REPLY;
    ic->csum = 0;
    ic->csum = inet_csum_fold(inet_csum_chain(m, hlen, len, 0));
    dm_buf_adj(m, hlen);
    m->ol_flags = 0;
    st->icmp_st.tx_echo_reply++;
    ipv4_output(st, m, st->ip, peer, IPPROTO_ICMP_);
    inet_schedule_flush(st);
    return;
drop:
    dm_buf_free(m);
}

void icmp_send_port_unreach(struct inet_stack *st, const struct dm_buf *orig)
{
    const struct ip_hdr *ih = (const struct ip_hdr *)orig->data;
    if (ih->dst != st->ip)
        return; /* never for broadcast (RFC 1122 3.2.2) */
    uint32_t hlen = (uint32_t)(ih->vhl & 0xf) * 4;
    uint32_t quote = DM_MIN(orig->pkt_len, hlen + 8);
    struct dm_buf *m = dm_buf_alloc(st->inst);
    if (!m)
        return;
    struct icmp_hdr *ic = (struct icmp_hdr *)dm_buf_append(m, sizeof(*ic) + quote);
    if (!ic) {
        dm_buf_free(m);
        return;
    }
    ic->type = ICMP_DEST_UNREACH;
    ic->code = ICMP_PORT_UNREACH;
    ic->csum = 0;
    ic->rest = 0;
    dm_buf_copy_out(orig, 0, ic + 1, quote);
    ic->csum = inet_csum_fold(inet_csum_partial(ic, sizeof(*ic) + quote, 0));
    st->icmp_st.tx_unreach++;
    ipv4_output(st, m, st->ip, ih->src, IPPROTO_ICMP_);
    inet_schedule_flush(st);
}
