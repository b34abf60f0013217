/* SPDX-License-Identifier: MIT */
/*
 * UDP (RFC 768): sockets bound to a local port (hash of 256 chains),
 * datagrams queued per socket up to its receive buffer and popped one per
 * demi_pop with the sender's address, pushto() with the destination, and
 * ICMP port unreachable for datagrams to ports nobody has bound.
 *
 * A queued datagram keeps its IPv4 and UDP headers in front of the data
 * (data points at the IPv4 header): the source address is read from them
 * when it is popped, so nothing else has to be stored per datagram.
 * Queue links use dm_buf.udata.
 */
#include <stdlib.h>
#include <string.h>
#include "inet_priv.h"
#include "csum.h"
#include "dm/log.h"

#define UDP_RCVBUF_DEF (256u * 1024u)

static unsigned udp_bucket(uint16_t port_be) { return (ntohs(port_be) * 2654435761u) >> 24; }

static struct udp_sock *udp_lookup(struct inet_stack *st, uint16_t port_be)
{
    for (struct udp_sock *u = st->udp_ports[udp_bucket(port_be)]; u; u = u->hnext)
        if (u->lport == port_be)
            return u;
    return NULL;
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
static struct dm_buf *udp_dequeue(struct udp_sock *u, struct sockaddr_in *from)
{
    struct dm_buf *m = u->rcvq_head;
    u->rcvq_head = (struct dm_buf *)(uintptr_t)m->udata;
    if (!u->rcvq_head)
        u->rcvq_tail = NULL;
    m->udata = 0;
    const struct ip_hdr *ih = (const struct ip_hdr *)m->data;
    uint32_t hlen = (uint32_t)(ih->vhl & 0xf) * 4;
    const struct udp_hdr *uh = (const struct udp_hdr *)(m->data + hlen);
    memset(from, 0, sizeof(*from));
    from->sin_family = AF_INET;
    from->sin_addr.s_addr = ih->src;
    from->sin_port = uh->sport;
    u->rcvq_bytes -= m->pkt_len - hlen - (uint32_t)sizeof(*uh);
    m->ol_flags = 0;
    return inet_buf_pull(m, hlen + (uint32_t)sizeof(*uh));
}

void udp_input(struct inet_stack *st, struct dm_buf *m)
{
    st->udp_st.rx++;
    const struct ip_hdr *ih = (const struct ip_hdr *)m->data;
    uint32_t hlen = (uint32_t)(ih->vhl & 0xf) * 4;
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
    if (uh->csum != 0 && !(m->ol_flags & DM_BUF_RX_L4_CKSUM_GOOD)) {
        uint32_t s = inet_csum_pseudo(ih->src, ih->dst, IPPROTO_UDP_, (uint16_t)ulen);
        if (inet_csum_fold(inet_csum_chain(m, hlen, ulen, s)) != 0) {
            st->udp_st.rx_bad_csum++;
            goto drop;
        }
    }
    struct udp_sock *u = udp_lookup(st, uh->dport);
    if (!u || (u->connected && (u->rip != ih->src || u->rport != uh->sport)) ||
        (u->lip != 0 && u->lip != ih->dst)) {
        st->udp_st.rx_no_port++;
        icmp_send_port_unreach(st, m);
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
        struct sockaddr_in from;
        struct dm_buf *p = udp_dequeue(u, &from);
        dm_op_complete_pop(op, p, (const struct sockaddr *)&from);
    }
    return;
drop:
    dm_buf_free(m);
}

int udp_socket(struct inet_stack *st, struct dm_queue *q)
{
    struct udp_sock *u = calloc(1, sizeof(*u));
    if (!u)
        return -ENOMEM;
    u->s.kind = INET_SOCK_UDP;
    u->rcvbuf = st->rcvbuf_def ? st->rcvbuf_def : UDP_RCVBUF_DEF;
    u->q = q;
    q->priv = u;
    return 0;
}

static int udp_autobind(struct inet_stack *st, struct udp_sock *u)
{
    for (unsigned i = 0; i < 16384; i++) {
        uint16_t p = (uint16_t)(49152 + (st->udp_next_port++ % 16384));
        if (!udp_lookup(st, htons(p))) {
            u->lport = htons(p);
            u->bound = true;
            udp_hash_add(st, u);
            return 0;
        }
    }
    return -EADDRINUSE;
}

int udp_bind(struct inet_stack *st, struct udp_sock *u, const struct sockaddr_in *a)
{
    if (u->bound)
        return -EINVAL;
    if (a->sin_addr.s_addr != INADDR_ANY && a->sin_addr.s_addr != st->ip)
        return -EADDRNOTAVAIL;
    if (a->sin_port == 0) {
        u->lip = a->sin_addr.s_addr;
        return udp_autobind(st, u);
    }
    if (udp_lookup(st, a->sin_port))
        return -EADDRINUSE;
    u->lip = a->sin_addr.s_addr;
    u->lport = a->sin_port;
    u->bound = true;
    udp_hash_add(st, u);
    return 0;
}

int udp_connect(struct inet_stack *st, struct udp_sock *u, struct dm_op *op)
{
    if (op->addr.sin_family == AF_UNSPEC) {
        u->connected = false;
        dm_op_complete_connect(op);
        return 0;
    }
    if (!u->bound) {
        int r = udp_autobind(st, u);
        if (r < 0)
            return r;
    }
    u->rip = op->addr.sin_addr.s_addr;
    u->rport = op->addr.sin_port;
    u->connected = true;
    dm_op_complete_connect(op);
    return 0;
}

int udp_push(struct inet_stack *st, struct udp_sock *u, struct dm_op *op)
{
    uint32_t dst;
    uint16_t dport;
    if (op->has_addr) {
        dst = op->addr.sin_addr.s_addr;
        dport = op->addr.sin_port;
    } else if (u->connected) {
        dst = u->rip;
        dport = u->rport;
    } else {
        return -EDESTADDRREQ;
    }
    if (dport == 0)
        return -EINVAL;
    uint32_t plen = op->chain ? op->chain->pkt_len : 0;
    if (plen + sizeof(struct udp_hdr) + IP_HLEN_MIN > st->mtu)
        return -EMSGSIZE;
    if (!u->bound) {
        int r = udp_autobind(st, u);
        if (r < 0)
            return r;
    }
    if (inet_next_hop(st, dst) == 0)
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
    uint32_t src = st->ip;
    uint32_t s = inet_csum_pseudo(src, dst, IPPROTO_UDP_, (uint16_t)(plen + sizeof(*uh)));
    m->l4_len = sizeof(*uh);
    if (st->tx_udp_csum) {
        uh->csum = (uint16_t)~inet_csum_fold(s);
        m->ol_flags |= DM_BUF_TX_UDP_CKSUM;
    } else {
        uint16_t c = inet_csum_fold(inet_csum_chain(m, 0, m->pkt_len, s));
        uh->csum = c ? c : 0xffff;
    }
    st->udp_st.tx++;
    int r = ipv4_output(st, m, src, dst, IPPROTO_UDP_);
    if (r < 0 && r != -ENOBUFS)
        return r;
    inet_schedule_flush(st);
    dm_op_complete_push(op);
    return 0;
}

int udp_pop(struct inet_stack *st, struct udp_sock *u, struct dm_op *op)
{
    (void)st;
    if (u->rcvq_head && dm_queue_first_op(u->q, DEMI_OPC_POP) == op) {
        struct sockaddr_in from;
        struct dm_buf *p = udp_dequeue(u, &from);
        dm_op_complete_pop(op, p, (const struct sockaddr *)&from);
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

void udp_fini(struct inet_stack *st)
{
    (void)st; /* sockets are freed by close(), which the core calls for each open queue */
}
