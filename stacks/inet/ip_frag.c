/* SPDX-License-Identifier: MIT */
/*
 * IP fragments, both families: reassembly of what the peer fragmented
 * (RFC 791, RFC 8200 4.5) and fragmentation of the datagrams we send
 * that the MTU cannot carry whole.
 *
 * Linux sends a UDP datagram larger than the path MTU as fragments and
 * puts them back together on receipt (up to 64 KiB); an application that
 * sends 8 KiB datagrams to a Linux peer, or receives them, works there
 * and must work here. TCP never needs it (the MSS fits the MTU, and we
 * set DF: path MTU discovery shrinks it).
 *
 * Reassembly keeps up to IPFRAG_CTX datagrams at once, each up to
 * IPFRAG_PIECES fragments, IPFRAG_HELD fragments in all: the pool's
 * buffers are the application's too, and a peer that sends first
 * fragments only must not take them. A datagram is given up (its
 * fragments freed, counted in rx_reasm_drop) when it is not whole
 * IPFRAG_TIMEOUT_NS after its first fragment (Linux's ipfrag_time), when
 * a fragment overlaps another one (RFC 5722; the teardrop attack), when a
 * fragment would end past 64 KiB or past the last one, or when a new
 * datagram needs its slot (the oldest goes). A fragment that repeats one
 * already held is dropped alone. The whole datagram goes on in one buffer
 * (a copy, which UDP would make anyway: a datagram pops as one segment),
 * under the first fragment's header, rewritten to describe it whole.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "inet_priv.h"
#include "csum.h"
#include "dm/time.h"
#include "dm/timer.h"

#define IPFRAG_CTX        16
#define IPFRAG_PIECES     64
#define IPFRAG_HELD       256
#define IPFRAG_MAX        65535u /* a datagram's payload, past the header of its first fragment */
#define IPFRAG_TIMEOUT_NS (30 * DM_NS_PER_S)

struct ipfrag_piece {
    uint32_t off, len;  /* the payload's place in the datagram */
    struct dm_buf *m;   /* the payload; the first piece from its IP header */
};

struct ipfrag_ctx {
    struct inet_addr src, dst;
    uint32_t id;
    uint8_t proto;      /* IPv4: the key's protocol; IPv6: the next header after the fragment header */
    bool used, v6;
    uint8_t n;          /* pieces, sorted by off */
    uint32_t total;     /* payload length, known once the last fragment came (else 0) */
    uint32_t have;      /* payload bytes held */
    uint32_t hdr_len;   /* first fragment: bytes before its payload */
    uint32_t nh_at;     /* IPv6, first fragment: where the next header byte before the fragment header is */
    int64_t start_ns;
    struct ipfrag_piece p[IPFRAG_PIECES];
};

struct ipfrag_table {
    struct ipfrag_ctx ctx[IPFRAG_CTX];
    unsigned live, held;
    bool timer_on;
    struct dm_timer timer;
};

static void ctx_drop(struct inet_stack *st, struct ipfrag_ctx *c)
{
    for (unsigned i = 0; i < c->n; i++)
        dm_buf_free(c->p[i].m);
    st->frag->held -= c->n;
    st->frag->live--;
    c->used = false;
    c->n = 0;
}

static uint64_t *reasm_drop_ctr(struct inet_stack *st, bool v6)
{
    return v6 ? &st->ip6_st.rx_reasm_drop : &st->ip_st.rx_reasm_drop;
}

static void ipfrag_tick(struct dm_timer *t)
{
    struct inet_stack *st = t->arg;
    struct ipfrag_table *ft = st->frag;
    int64_t now = inet_now(st);
    for (unsigned i = 0; i < IPFRAG_CTX; i++) {
        struct ipfrag_ctx *c = &ft->ctx[i];
        if (c->used && now - c->start_ns >= IPFRAG_TIMEOUT_NS) {
            (*reasm_drop_ctr(st, c->v6))++;
            ctx_drop(st, c);
        }
    }
    ft->timer_on = ft->live > 0;
    if (ft->timer_on)
        dm_timer_arm(st->inst, &ft->timer, DM_NS_PER_S);
}

int ipfrag_init(struct inet_stack *st)
{
    st->frag = calloc(1, sizeof(*st->frag));
    if (!st->frag)
        return -ENOMEM;
    dm_timer_init(&st->frag->timer, ipfrag_tick, st);
    return 0;
}

void ipfrag_fini(struct inet_stack *st)
{
    struct ipfrag_table *ft = st->frag;
    if (!ft)
        return;
    if (ft->timer_on)
        dm_timer_cancel(st->inst, &ft->timer);
    for (unsigned i = 0; i < IPFRAG_CTX; i++)
        if (ft->ctx[i].used)
            ctx_drop(st, &ft->ctx[i]);
    free(ft);
    st->frag = NULL;
}

/* The context of (src, dst, id, proto), or a free one, or the oldest one
 * given up for it. */
static struct ipfrag_ctx *ctx_find(struct inet_stack *st, bool v6, uint32_t id, uint8_t proto)
{
    struct ipfrag_table *ft = st->frag;
    struct ipfrag_ctx *free_c = NULL, *oldest = NULL;
    for (unsigned i = 0; i < IPFRAG_CTX; i++) {
        struct ipfrag_ctx *c = &ft->ctx[i];
        if (!c->used) {
            if (!free_c)
                free_c = c;
            continue;
        }
        if (c->v6 == v6 && c->id == id && (v6 || c->proto == proto) && inet_addr_eq(&c->src, &st->rx.src) &&
            inet_addr_eq(&c->dst, &st->rx.dst))
            return c;
        if (!oldest || c->start_ns < oldest->start_ns)
            oldest = c;
    }
    struct ipfrag_ctx *c = free_c;
    if (!c) {
        (*reasm_drop_ctr(st, oldest->v6))++;
        ctx_drop(st, oldest);
        c = oldest;
    }
    memset(c, 0, offsetof(struct ipfrag_ctx, p));
    c->used = true;
    c->v6 = v6;
    c->id = id;
    c->proto = proto;
    c->src = st->rx.src;
    c->dst = st->rx.dst;
    c->start_ns = inet_now(st);
    ft->live++;
    if (!ft->timer_on) {
        ft->timer_on = true;
        dm_timer_arm(st->inst, &ft->timer, DM_NS_PER_S);
    }
    return c;
}

/* One buffer of the whole datagram (UDP and ICMP read their header from
 * the first segment, and a datagram pops as one segment anyway). */
static struct dm_buf *joined(struct inet_stack *st, struct dm_buf *head, bool v6, uint32_t l3_len)
{
    struct dm_buf *one = head->next ? dm_buf_linearize(st->inst, head) : head;
    if (one != head)
        dm_buf_free(head);
    if (!one) {
        (*reasm_drop_ctr(st, v6))++;
        return NULL;
    }
    one->l3_len = (uint8_t)l3_len; /* the first fragment's, which the caller goes on with */
    one->l2_len = 0; /* no frame of its own (what is in front is not an Ethernet header): udp.c */
    if (v6)
        st->ip6_st.rx_reasm_ok++;
    else
        st->ip_st.rx_reasm_ok++;
    return one;
}

/* The whole datagram, its header rewritten; the context freed. */
static struct dm_buf *ctx_join(struct inet_stack *st, struct ipfrag_ctx *c)
{
    struct dm_buf *head = c->p[0].m;
    for (unsigned i = 1; i < c->n; i++)
        dm_buf_chain(head, c->p[i].m);
    st->frag->held -= c->n;
    st->frag->live--;
    c->used = false;
    c->n = 0;
    if (!c->v6) {
        struct ip_hdr *ih = (struct ip_hdr *)head->data;
        ih->len = htons((uint16_t)(c->hdr_len + c->total));
        ih->off = 0;
        ih->csum = 0;
        ih->csum = inet_csum_fold(inet_csum_partial(ih, c->hdr_len, 0));
        return joined(st, head, false, c->hdr_len);
    }
    /* take the fragment header out: what precedes it moves up 8 bytes */
    uint32_t keep = c->hdr_len - IP6_FRAG_HLEN;
    memmove(head->data + IP6_FRAG_HLEN, head->data, keep);
    dm_buf_adj(head, IP6_FRAG_HLEN);
    head->data[c->nh_at] = c->proto;
    struct ip6_hdr *ih = (struct ip6_hdr *)head->data;
    ih->plen = htons((uint16_t)(keep - IP6_HLEN + c->total));
    return joined(st, head, true, keep);
}

struct dm_buf *ipfrag_input(struct inet_stack *st, struct dm_buf *m, const struct ipfrag_in *f)
{
    uint64_t *bad = f->v6 ? &st->ip6_st.rx_frag_drop : &st->ip_st.rx_frag_drop;
    if (f->v6)
        st->ip6_st.rx_frag++;
    else
        st->ip_st.rx_frag++;
    /* every fragment but the last carries a multiple of 8 bytes; the
     * datagram fits 64 KiB (larger ones are the ping of death) */
    if (dm_unlikely(f->len == 0 || (f->more && (f->len & 7)) || f->off + f->len > IPFRAG_MAX ||
                    (f->off == 0 && f->hlen > m->len))) {
        (*bad)++;
        dm_buf_free(m);
        return NULL;
    }
    struct ipfrag_ctx *c = ctx_find(st, f->v6, f->id, f->proto);
    uint32_t end = f->off + f->len;
    /* where it goes, and whether it overlaps (RFC 5722: the whole datagram goes) */
    unsigned at = 0;
    while (at < c->n && c->p[at].off < f->off)
        at++;
    if (at < c->n && c->p[at].off == f->off && c->p[at].len == f->len) {
        (*bad)++; /* a repeat of one we hold */
        dm_buf_free(m);
        return NULL;
    }
    bool overlap = (at > 0 && c->p[at - 1].off + c->p[at - 1].len > f->off) || (at < c->n && c->p[at].off < end);
    bool past_end = (c->total && end > c->total) || (!f->more && ((c->total && c->total != end) ||
                                                                  (c->n && c->p[c->n - 1].off + c->p[c->n - 1].len > end)));
    if (dm_unlikely(overlap || past_end || c->n == IPFRAG_PIECES)) {
        (*bad)++;
        (*reasm_drop_ctr(st, f->v6))++;
        dm_buf_free(m);
        ctx_drop(st, c);
        return NULL;
    }
    if (st->frag->held >= IPFRAG_HELD) {
        /* full: the oldest other datagram goes (this one is the newest) */
        struct ipfrag_ctx *old = NULL;
        for (unsigned i = 0; i < IPFRAG_CTX; i++) {
            struct ipfrag_ctx *o = &st->frag->ctx[i];
            if (o->used && o != c && o->n && (!old || o->start_ns < old->start_ns))
                old = o;
        }
        if (!old) {
            (*bad)++;
            dm_buf_free(m);
            return NULL;
        }
        (*reasm_drop_ctr(st, old->v6))++;
        ctx_drop(st, old);
    }
    if (f->off == 0) {
        c->hdr_len = f->hlen;
        c->nh_at = f->nh_at;
        inet_buf_trim(m, f->hlen + f->len);
    } else {
        m = inet_buf_pull(m, f->hlen);
        if (!m) {
            (*bad)++;
            return NULL;
        }
        inet_buf_trim(m, f->len);
    }
    memmove(&c->p[at + 1], &c->p[at], (c->n - at) * sizeof(c->p[0]));
    c->p[at] = (struct ipfrag_piece){ f->off, f->len, m };
    c->n++;
    st->frag->held++;
    c->have += f->len;
    if (!f->more)
        c->total = end;
    if (f->v6)
        c->proto = f->proto; /* the next header, as the fragment header says */
    if (!c->total || c->have != c->total || c->p[0].off != 0)
        return NULL;
    return ctx_join(st, c);
}

/* ---- sending: a datagram the MTU cannot carry whole ---- */

/* A fragment's buffer: a header buffer with the bytes [off, off+len) of
 * chain m attached (referenced where the device takes chains). */
static struct dm_buf *frag_piece(struct inet_stack *st, struct dm_buf *m, uint32_t off, uint32_t len)
{
    while (m && off >= m->len) { /* the segment where it starts */
        off -= m->len;
        m = m->next;
    }
    struct dm_buf *f = m ? inet_alloc_tx(st, st->tx_multiseg ? 0 : len) : NULL;
    if (!f)
        return NULL;
    if (inet_attach_payload(st, f, m, off, len) < 0) {
        dm_buf_free(f);
        return NULL;
    }
    return f;
}

int ipfrag_output4(struct inet_stack *st, struct dm_buf *m, uint32_t src, uint32_t dst, uint8_t proto,
                   const struct inet_addr *nh)
{
    uint32_t total = m->pkt_len;
    uint32_t per = ((uint32_t)(st->mtu - IP_HLEN_MIN)) & ~7u;
    uint16_t id = htons(st->ip_id++);
    int rc = 0;
    for (uint32_t off = 0; off < total && rc == 0; off += per) {
        uint32_t len = DM_MIN(per, total - off);
        struct dm_buf *f = frag_piece(st, m, off, len);
        struct ip_hdr *ih = f ? (struct ip_hdr *)dm_buf_prepend(f, IP_HLEN_MIN) : NULL;
        if (!ih) {
            st->ip_st.tx_nobuf++;
            dm_buf_free(f);
            rc = -ENOBUFS;
            break;
        }
        ih->vhl = 0x45;
        ih->tos = 0;
        ih->len = htons((uint16_t)(IP_HLEN_MIN + len));
        ih->id = id;
        ih->off = htons((uint16_t)((off >> 3) | (off + len < total ? IP_MF : 0)));
        ih->ttl = IP_DEFAULT_TTL;
        ih->proto = proto;
        ih->src = src;
        ih->dst = dst;
        ih->csum = 0;
        ih->csum = inet_csum_fold(inet_csum_partial(ih, IP_HLEN_MIN, 0));
        f->l3_len = IP_HLEN_MIN;
        st->ip_st.tx++;
        st->ip_st.tx_frag++;
        rc = eth_output_ip(st, f, nh);
    }
    dm_buf_free(m);
    return rc;
}

int ipfrag_output6(struct inet_stack *st, struct dm_buf *m, const struct inet_addr *src,
                   const struct inet_addr *dst, uint8_t nxt, uint8_t hops, const struct inet_addr *nh)
{
    uint32_t total = m->pkt_len;
    uint32_t per = ((uint32_t)(st->mtu - IP6_HLEN - IP6_FRAG_HLEN)) & ~7u;
    uint32_t id = htonl(st->ip6_frag_id++);
    int rc = 0;
    for (uint32_t off = 0; off < total && rc == 0; off += per) {
        uint32_t len = DM_MIN(per, total - off);
        struct dm_buf *f = frag_piece(st, m, off, len);
        uint8_t *fh = f ? dm_buf_prepend(f, IP6_FRAG_HLEN) : NULL;
        struct ip6_hdr *ih = fh ? (struct ip6_hdr *)dm_buf_prepend(f, IP6_HLEN) : NULL;
        if (!ih) {
            st->ip6_st.tx_nobuf++;
            dm_buf_free(f);
            rc = -ENOBUFS;
            break;
        }
        fh[0] = nxt;
        fh[1] = 0;
        uint16_t offm = htons((uint16_t)(off | (off + len < total ? 1u : 0u)));
        memcpy(fh + 2, &offm, 2);
        memcpy(fh + 4, &id, 4);
        ih->vtcfl = htonl(6u << 28);
        ih->plen = htons((uint16_t)(IP6_FRAG_HLEN + len));
        ih->nxt = IP6_NH_FRAGMENT;
        ih->hops = hops;
        memcpy(ih->src, src->b, 16);
        memcpy(ih->dst, dst->b, 16);
        f->l3_len = IP6_HLEN + IP6_FRAG_HLEN;
        st->ip6_st.tx++;
        st->ip6_st.tx_frag++;
        rc = eth_output_ip(st, f, nh);
    }
    dm_buf_free(m);
    return rc;
}
