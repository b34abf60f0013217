/* SPDX-License-Identifier: MIT */
/*
 * ICMP (RFC 792): answers echo requests to our address (so `ping` works)
 * by turning the request buffer around in place, sends destination port
 * unreachable for UDP datagrams nobody listens to, and hands one that
 * comes back for a datagram of ours to its connected socket. Other
 * messages are counted and ignored (no PMTU discovery: we never send
 * above DEMI_MTU).
 */
#include <errno.h>
#include <string.h>
#include "inet_priv.h"
#include "csum.h"

/* Destination unreachable, by code: the errno of the hard errors that
 * Linux reports to a connected UDP socket (icmp_err_convert's fatal
 * ones); the others (0: none) only with IP_RECVERR, which we do not have. */
static const int unreach_err[16] = {
    [2] = ENOPROTOOPT, [3] = ECONNREFUSED, [6] = ENETUNREACH, [7] = EHOSTDOWN, [8] = ENONET,
    [9] = ENETUNREACH, [10] = EHOSTUNREACH, [13] = EHOSTUNREACH, [14] = EHOSTUNREACH, [15] = EHOSTUNREACH,
};

/* It quotes our IP header and 8 bytes past it (RFC 792): a UDP datagram
 * of ours tells which socket. */
static void icmp_unreach(struct inet_stack *st, const struct dm_buf *m, uint32_t off, uint32_t len, uint8_t code)
{
    st->icmp_st.rx_unreach++;
    uint8_t q[60 + 8];
    uint32_t n = DM_MIN(len - (uint32_t)sizeof(struct icmp_hdr), (uint32_t)sizeof(q));
    if (code >= DM_ARRAY_SIZE(unreach_err) || !unreach_err[code] || n < sizeof(struct ip_hdr) + 8 ||
        dm_buf_copy_out(m, off + (uint32_t)sizeof(struct icmp_hdr), q, n) != n)
        return;
    const struct ip_hdr *qi = (const struct ip_hdr *)q;
    uint32_t qhl = (uint32_t)(qi->vhl & 0xf) * 4;
    if ((qi->vhl >> 4) != 4 || qhl < sizeof(struct ip_hdr) || n < qhl + 8 || qi->proto != IPPROTO_UDP_ ||
        qi->src != st->ip)
        return;
    const struct udp_hdr *qu = (const struct udp_hdr *)(q + qhl);
    struct inet_addr src = inet_addr_v4(qi->src), dst = inet_addr_v4(qi->dst);
    if (udp_icmp_error(st, &src, qu->sport, &dst, qu->dport, unreach_err[code]))
        st->icmp_st.rx_unreach_sock++;
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
    if (ic->type == ICMP_DEST_UNREACH) {
        icmp_unreach(st, m, hlen, len, ic->code);
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
