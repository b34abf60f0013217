/* SPDX-License-Identifier: MIT */
/*
 * UDP (RFC 768): sockets bound to a local port (hash of 256 chains),
 * datagrams queued per socket up to its receive buffer and popped one per
 * demi_pop with the sender's address, pushto() with the destination, and
 * ICMP port unreachable for datagrams to ports nobody has bound; one that
 * comes back for a connected socket's datagram fails its pop with
 * ECONNREFUSED, as Linux's next recv.
 *
 * A queued datagram keeps its IP and UDP headers in front of the data
 * (data points at the IPv4 or IPv6 header, m->l3_len says where UDP
 * starts): the source address is read from them when it is popped, so
 * nothing else has to be stored per datagram. Queue links use dm_buf.udata.
 *
 * IPv6: an AF_INET6 socket takes both families unless IPV6_V6ONLY (IPv4
 * peers are ::ffff:a.b.c.d, as on Linux); a zero UDP checksum is invalid
 * over IPv6 (RFC 8200 8.1) and the datagram is dropped.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "inet_priv.h"
#include "csum.h"
#include "dm/log.h"

#define UDP_RCVBUF_DEF (256u * 1024u)
#define UDP_MAX_PAYLOAD4 65507u /* 65535 less the IPv4 and UDP headers */
#define UDP_MAX_PAYLOAD6 65527u /* 65535 less the UDP header (no jumbograms) */

static unsigned udp_bucket(uint16_t port_be) { return (ntohs(port_be) * 2654435761u) >> 24; }

static struct udp_sock *udp_lookup(struct inet_stack *st, uint16_t port_be)
{
    for (struct udp_sock *u = st->udp_ports[udp_bucket(port_be)]; u; u = u->hnext)
        if (u->lport == port_be)
            return u;
    return NULL;
}

/* Does u take a datagram to dst (of family v4)? A wildcard takes its
 * family, :: both unless IPV6_V6ONLY; a bound address only itself. */
static bool udp_takes(const struct udp_sock *u, const struct inet_addr *dst, bool v4)
{
    if (inet_addr_is_zero(&u->lip))
        return !(v4 && u->v6only);
    if (inet_addr_is_any(&u->lip))
        return v4;
    return inet_addr_eq(&u->lip, dst);
}

static void udp_hash_add(struct inet_stack *st, struct udp_sock *u)
{
    unsigned b = udp_bucket(u->lport);
    u->hnext = st->udp_ports[b];
    st->udp_ports[b] = u;
}

static void udp_hash_del(struct inet_stack *st, struct udp_sock *u)
{
    struct udp_sock **pp = &st->udp_ports[udp_bucket(u->lport)];
    while (*pp && *pp != u)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = u->hnext;
}

/* Pops the oldest datagram: returns its payload and fills from. */
static struct dm_buf *udp_dequeue(struct udp_sock *u, union dm_sockaddr *from)
{
    struct dm_buf *m = u->rcvq_head;
    u->rcvq_head = (struct dm_buf *)(uintptr_t)m->udata;
    if (!u->rcvq_head)
        u->rcvq_tail = NULL;
    m->udata = 0;
    uint32_t hlen = inet_l3_len(m);
    const struct udp_hdr *uh = (const struct udp_hdr *)(m->data + hlen);
    struct inet_addr src;
    if ((m->data[0] >> 4) == 4) {
        uint32_t s4;
        memcpy(&s4, m->data + offsetof(struct ip_hdr, src), 4);
        src = inet_addr_v4(s4);
    } else {
        memcpy(src.b, m->data + offsetof(struct ip6_hdr, src), 16);
    }
    inet_sockaddr_out(&src, uh->sport, u->v6, from);
    u->rcvq_bytes -= m->pkt_len - hlen - (uint32_t)sizeof(*uh);
    m->ol_flags = 0;
    return inet_buf_pull(m, hlen + (uint32_t)sizeof(*uh));
}

/* A datagram reassembled from fragments (ip_frag.c) came in no frame of
 * its own (l2_len 0): it goes on as one, an Ethernet header (to our MAC,
 * which every process of the port shares) in front of its rewritten IP
 * header. Fragments carry no ports, so a port spreads them by addresses
 * alone: every fragmented datagram of a peer reaches the same process,
 * whichever of them has the socket. False: no room in front, or a length
 * its header cannot say. */
static bool udp_frame_reassembled(struct inet_stack *st, struct dm_buf *m, bool v4)
{
    uint32_t want = v4 ? ntohs(((const struct ip_hdr *)m->data)->len)
                       : IP6_HLEN + ntohs(((const struct ip6_hdr *)m->data)->plen);
    if (want != m->pkt_len)
        return false;
    struct eth_hdr *e = (struct eth_hdr *)dm_buf_prepend(m, ETH_HLEN);
    if (!e)
        return false;
    memcpy(e->dst, st->mac, ETH_ALEN);
    memcpy(e->src, st->mac, ETH_ALEN);
    e->type = htons(v4 ? ETH_P_IPV4 : ETH_P_IPV6);
    dm_buf_adj(m, ETH_HLEN);
    m->l2_len = ETH_HLEN;
    return true;
}

/* As TCP's forward_stray: a datagram to a port no socket of this process
 * has, on a port other processes share (a reply to another worker's
 * query, placed on our queue), goes round them as it came; the last one
 * answers port unreachable. A broadcast or multicast one reached every
 * process that wants it already. True: m consumed. */
static bool udp_forward_stray(struct inet_stack *st, struct dm_buf *m, const struct udp_hdr *uh, bool v4)
{
    struct inet_addr me = inet_addr_v4(st->ip);
    if (inet_addr_is_v4(&st->rx.dst) ? !inet_addr_eq(&st->rx.dst, &me) : st->rx.dst.b[0] == 0xff)
        return false;
    if (!m->l2_len && !udp_frame_reassembled(st, m, v4))
        return false;
    if (!inet_forward_stray(st, m, m->l2_len, uh->sport, uh->dport))
        return false;
    st->udp_st.rx_forwarded++;
    return true;
}

void udp_input(struct inet_stack *st, struct dm_buf *m)
{
    st->udp_st.rx++;
    uint32_t hlen = inet_l3_len(m);
    bool v4 = inet_addr_is_v4(&st->rx.src);
    if (m->len < hlen + sizeof(struct udp_hdr)) {
        st->udp_st.rx_short++;
        goto drop;
    }
    const struct udp_hdr *uh = (const struct udp_hdr *)(m->data + hlen);
    uint32_t ulen = ntohs(uh->len);
    if (ulen < sizeof(*uh) || ulen > m->pkt_len - hlen) {
        st->udp_st.rx_bad_len++;
        goto drop;
    }
    if (ulen < m->pkt_len - hlen)
        inet_buf_trim(m, hlen + ulen);
    if (dm_unlikely(uh->csum == 0 && !v4)) {
        st->udp_st.rx_bad_csum++;
        goto drop;
    }
    if (uh->csum != 0 && !(m->ol_flags & DM_BUF_RX_L4_CKSUM_GOOD)) {
        uint32_t s = inet_pseudo_sum(&st->rx.src, &st->rx.dst, IPPROTO_UDP_, ulen);
        if (inet_csum_fold(inet_csum_chain(m, hlen, ulen, s)) != 0) {
            st->udp_st.rx_bad_csum++;
            goto drop;
        }
    }
    struct udp_sock *u = udp_lookup(st, uh->dport);
    if (!u || (u->connected && (!inet_addr_eq(&u->rip, &st->rx.src) || u->rport != uh->sport)) ||
        !udp_takes(u, &st->rx.dst, v4)) {
        if (udp_forward_stray(st, m, uh, v4))
            return;
        if (dm_dev_peers_starting(st->dev)) {
            /* as TCP's SYN (tcp_input): a process of the port that has
             * just come up may bind it in a moment, where Linux would
             * have queued this on the socket it inherited; a port
             * unreachable would fail a connected sender's next call */
            st->udp_st.rx_early++;
            goto drop;
        }
        st->udp_st.rx_no_port++;
        if (v4)
            icmp_send_port_unreach(st, m);
        else
            icmp6_send_port_unreach(st, m);
        goto drop;
    }
    uint32_t plen = ulen - (uint32_t)sizeof(*uh);
    if (u->rcvq_bytes + plen > u->rcvbuf) {
        st->udp_st.rx_queue_full++;
        goto drop;
    }
    if (m->next) {
        /* A datagram pops as one sga segment (Demikernel apps read
         * sga_segs[0] only): copy the rare multi-segment one (loop device). */
        struct dm_buf *lin = dm_buf_linearize(st->inst, m);
        if (!lin) {
            st->udp_st.rx_queue_full++;
            goto drop;
        }
        dm_buf_free(m);
        m = lin;
    }
    m->udata = 0;
    if (u->rcvq_tail)
        u->rcvq_tail->udata = (uint64_t)(uintptr_t)m;
    else
        u->rcvq_head = m;
    u->rcvq_tail = m;
    u->rcvq_bytes += plen;
    struct dm_op *op;
    while (u->q && u->rcvq_head && (op = dm_queue_first_op(u->q, DEMI_OPC_POP))) {
        union dm_sockaddr from;
        struct dm_buf *p = udp_dequeue(u, &from);
        dm_op_complete_pop(op, p, &from.sa);
    }
    return;
drop:
    dm_buf_free(m);
}

int udp_socket(struct inet_stack *st, struct dm_queue *q, bool v6)
{
    struct udp_sock *u = calloc(1, sizeof(*u));
    if (!u)
        return -ENOMEM;
    u->s.kind = INET_SOCK_UDP;
    u->v6 = v6;
    /* unbound: the wildcard of the socket's family */
    u->lip = v6 ? (struct inet_addr){{{0}}} : inet_addr_v4(0);
    u->rcvbuf = st->rcvbuf_def ? st->rcvbuf_def : UDP_RCVBUF_DEF;
    u->q = q;
    q->priv = u;
    return 0;
}

/* An ephemeral port for u. With the peer known (connect), as TCP's
 * tcp_pick_port: on a port other processes share, one whose replies the
 * device places on our queue, for the first half of the range (then any:
 * they reach us handed on, inet_forward_stray's other end). */
/* u's source toward dst: its bound address if one of dst's family, else
 * ours for dst; false when we have no route. */
static bool udp_src(struct inet_stack *st, const struct udp_sock *u, const struct inet_addr *dst,
                    struct inet_addr *src)
{
    if (!inet_addr_is_any(&u->lip) && inet_addr_is_v4(&u->lip) == inet_addr_is_v4(dst)) {
        *src = u->lip;
        return true;
    }
    return inet_src_for(st, dst, src);
}

static int udp_autobind(struct inet_stack *st, struct udp_sock *u, const struct inet_addr *ra, uint16_t rport)
{
    struct inet_addr src;
    if (ra && !udp_src(st, u, ra, &src))
        ra = NULL; /* unreachable: the send will say so */
    for (unsigned i = 0; i < 16384; i++) {
        uint16_t p = (uint16_t)(49152 + (st->udp_next_port++ % 16384));
        if (udp_lookup(st, htons(p)))
            continue;
        if (ra && i < 16384 / 2 &&
            !(inet_addr_is_v4(ra) ? dm_dev_flow_ours(st->dev, IPPROTO_UDP_, src.w[3], htons(p), ra->w[3], rport)
                                  : dm_dev_flow_ours6(st->dev, IPPROTO_UDP_, src.b, htons(p), ra->b, rport)))
            continue;
        u->lport = htons(p);
        u->bound = true;
        udp_hash_add(st, u);
        return 0;
    }
    return -EADDRINUSE;
}

int udp_bind(struct inet_stack *st, struct udp_sock *u, const struct inet_addr *a, uint16_t port)
{
    if (u->bound)
        return -EINVAL;
    if (!inet_addr_is_any(a) && !inet_is_ours(st, a))
        return -EADDRNOTAVAIL;
    if (port == 0) {
        u->lip = *a;
        return udp_autobind(st, u, NULL, 0);
    }
    if (udp_lookup(st, port))
        return -EADDRINUSE;
    u->lip = *a;
    u->lport = port;
    u->bound = true;
    udp_hash_add(st, u);
    return 0;
}

int udp_connect(struct inet_stack *st, struct udp_sock *u, const struct inet_addr *a, uint16_t port,
                struct dm_op *op)
{
    if (!a) {
        u->connected = false;
        dm_op_complete_connect(op);
        return 0;
    }
    if (!u->bound) {
        int r = udp_autobind(st, u, a, port);
        if (r < 0)
            return r;
    }
    u->rip = *a;
    u->rport = port;
    u->connected = true;
    dm_op_complete_connect(op);
    return 0;
}

int udp_push(struct inet_stack *st, struct udp_sock *u, const struct inet_addr *dsta, uint16_t dport,
             struct dm_op *op)
{
    if (!dsta) {
        if (!u->connected)
            return -EDESTADDRREQ;
        dsta = &u->rip;
        dport = u->rport;
    }
    if (dport == 0)
        return -EINVAL;
    struct inet_addr dst = *dsta, src;
    bool v4 = inet_addr_is_v4(&dst);
    uint32_t plen = op->chain ? op->chain->pkt_len : 0;
    /* as Linux: up to 64 KiB less the headers, fragmented past the MTU */
    if (plen > (v4 ? UDP_MAX_PAYLOAD4 : UDP_MAX_PAYLOAD6))
        return -EMSGSIZE;
    bool frag = plen + sizeof(struct udp_hdr) + (v4 ? IP_HLEN_MIN : IP6_HLEN) > st->mtu;
    if (!u->bound) {
        /* a sendto's first peer places it too: a client's usual one */
        int r = udp_autobind(st, u, &dst, dport);
        if (r < 0)
            return r;
    }
    if (!inet_reachable(st, &dst))
        return -ENETUNREACH;
    if (!udp_src(st, u, &dst, &src))
        return -ENETUNREACH;
    struct dm_buf *m = inet_alloc_tx(st, st->tx_multiseg ? 0 : plen);
    if (!m) {
        st->udp_st.tx_nobuf++;
        return -ENOBUFS;
    }
    if (plen && inet_attach_payload(st, m, op->chain, 0, plen) < 0) {
        dm_buf_free(m);
        st->udp_st.tx_nobuf++;
        return -ENOBUFS;
    }
    struct udp_hdr *uh = (struct udp_hdr *)dm_buf_prepend(m, sizeof(*uh));
    uh->sport = u->lport;
    uh->dport = dport;
    uh->len = htons((uint16_t)(plen + sizeof(*uh)));
    uh->csum = 0;
    uint32_t s = inet_pseudo_sum(&src, &dst, IPPROTO_UDP_, plen + (uint32_t)sizeof(*uh));
    m->l4_len = sizeof(*uh);
    /* fragments: no device sums a datagram across them */
    if (st->tx_udp_csum && (v4 || st->tx_l4_csum6) && !frag) {
        uh->csum = (uint16_t)~inet_csum_fold(s);
        m->ol_flags |= DM_BUF_TX_UDP_CKSUM;
    } else {
        uint16_t c = inet_csum_fold(inet_csum_chain(m, 0, m->pkt_len, s));
        uh->csum = c ? c : 0xffff;
    }
    st->udp_st.tx++;
    int r = inet_ip_output(st, m, &src, &dst, IPPROTO_UDP_);
    if (r < 0 && r != -ENOBUFS)
        return r;
    inet_schedule_flush(st);
    dm_op_complete_push(op);
    return 0;
}

bool udp_icmp_error(struct inet_stack *st, const struct inet_addr *src, uint16_t sport,
                    const struct inet_addr *dst, uint16_t dport, int err)
{
    /* As Linux without IP_RECVERR: only a connected socket hears of it,
     * and only of its own peer (__udp4_lib_err: a hard error on a
     * socket in TCP_ESTABLISHED, its connected state). */
    struct udp_sock *u = udp_lookup(st, sport);
    if (!u || !u->connected || u->rport != dport || !inet_addr_eq(&u->rip, dst) ||
        (!inet_addr_is_zero(&u->lip) && !inet_addr_is_any(&u->lip) && !inet_addr_eq(&u->lip, src)))
        return false;
    struct dm_op *op = u->q ? dm_queue_first_op(u->q, DEMI_OPC_POP) : NULL;
    if (op)
        dm_op_fail(op, err); /* nothing is queued while a pop waits */
    else
        u->err = err;
    return true;
}

int udp_pop(struct inet_stack *st, struct udp_sock *u, struct dm_op *op)
{
    (void)st;
    if (dm_unlikely(u->err) && dm_queue_first_op(u->q, DEMI_OPC_POP) == op) {
        /* reported before the queued datagrams, once (__skb_recv_udp) */
        int err = u->err;
        u->err = 0;
        dm_op_fail(op, err);
        return 0;
    }
    if (u->rcvq_head && dm_queue_first_op(u->q, DEMI_OPC_POP) == op) {
        union dm_sockaddr from;
        struct dm_buf *p = udp_dequeue(u, &from);
        dm_op_complete_pop(op, p, &from.sa);
    }
    return 0;
}

int udp_close(struct inet_stack *st, struct udp_sock *u)
{
    if (u->bound)
        udp_hash_del(st, u);
    while (u->rcvq_head) {
        struct dm_buf *m = u->rcvq_head;
        u->rcvq_head = (struct dm_buf *)(uintptr_t)m->udata;
        dm_buf_free(m);
    }
    free(u);
    return 0;
}
