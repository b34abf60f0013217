/* SPDX-License-Identifier: MIT */
/*
 * TCP connections: the preallocated PCB table, the 4-tuple hash, the
 * listeners, ephemeral ports, and the socket calls (bind, listen, accept,
 * connect, push, pop, shutdown, close, options) on top of tcp_in/tcp_out.
 *
 * Lookup: a power-of-two array of bucket heads (twice DEMI_TCP_MAX_CONNS)
 * chained through pcb->hnext, keyed by a seeded multiplicative hash of the
 * 4-tuple: O(1), no allocation. Addresses are 16 bytes (IPv4 v4-mapped):
 * the hash mixes the low word of each address as before plus, folded, the
 * upper 12 bytes (constant for IPv4, so IPv4 spreads as it did). Listeners
 * sit in their own small table by port; a listener on a wildcard takes
 * its family (0.0.0.0: IPv4; [::]: both unless IPV6_V6ONLY).
 * tcp_port_refs[] counts the PCBs using each local port, so bind() and
 * ephemeral allocation answer "in use?" in O(1).
 *
 * Lifetime: a PCB belongs to its queue (q) until the application closes it;
 * the connection then finishes in the background (FIN, TIME_WAIT) and the
 * PCB is freed when it reaches CLOSED with no queue (TF_FREE_ME, reaped by
 * the output pass so no caller up the stack holds a freed PCB).
 */
#include <stdlib.h>
#include <string.h>
#include <netinet/tcp.h>
#include <sys/random.h>
#include "tcp_priv.h"
#include "dm/log.h"

#define TCP_EPH_LO 49152u
#define TCP_EPH_N  16384u

static inline uint32_t tuple_hash(const struct inet_stack *st, const struct inet_addr *lip, uint16_t lport,
                                  const struct inet_addr *rip, uint16_t rport)
{
    uint64_t h = ((uint64_t)rip->w[3] << 32 | (uint32_t)lport << 16 | rport) ^ st->hash_seed;
    uint64_t hi = (lip->q[0] ^ (uint64_t)lip->w[2]) ^ ((rip->q[0] ^ (uint64_t)rip->w[2]) * 0xc2b2ae3d27d4eb4full);
    h ^= ((uint64_t)lip->w[3] ^ hi) * 0x9e3779b97f4a7c15ull;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return (uint32_t)h & st->hash_mask;
}

struct tcp_pcb *tcp_lookup(struct inet_stack *st, const struct inet_addr *lip, uint16_t lport,
                           const struct inet_addr *rip, uint16_t rport)
{
    struct tcp_pcb *p = st->hash[tuple_hash(st, lip, lport, rip, rport)];
    for (; p; p = p->hnext)
        if (p->lport == lport && p->rport == rport && inet_addr_eq(&p->rip, rip) && inet_addr_eq(&p->lip, lip))
            return p;
    return NULL;
}

void tcp_hash_insert(struct inet_stack *st, struct tcp_pcb *p)
{
    struct tcp_pcb **b = &st->hash[tuple_hash(st, &p->lip, p->lport, &p->rip, p->rport)];
    p->hnext = *b;
    *b = p;
}

static void tcp_hash_remove(struct inet_stack *st, struct tcp_pcb *p)
{
    struct tcp_pcb **b = &st->hash[tuple_hash(st, &p->lip, p->lport, &p->rip, p->rport)];
    while (*b && *b != p)
        b = &(*b)->hnext;
    if (*b)
        *b = p->hnext;
    p->hnext = NULL;
}

static unsigned lbucket(uint16_t port) { return (ntohs(port) * 2654435761u) >> 26; }

/* Would a socket bound to `bound` (v6only: IPV6_V6ONLY) take a
 * connection to dst? */
static bool addr_takes(const struct inet_addr *bound, bool v6only, const struct inet_addr *dst)
{
    if (inet_addr_is_zero(bound)) /* [::] */
        return !(v6only && inet_addr_is_v4(dst));
    if (inet_addr_is_any(bound)) /* 0.0.0.0 */
        return inet_addr_is_v4(dst);
    return inet_addr_eq(bound, dst);
}

/* Do two bindings of one port overlap (Linux: EADDRINUSE)? */
static bool addr_overlap(const struct inet_addr *a, bool a6only, const struct inet_addr *b, bool b6only)
{
    if (!inet_addr_is_any(a))
        return addr_takes(b, b6only, a);
    if (!inet_addr_is_any(b))
        return addr_takes(a, a6only, b);
    /* two wildcards: do their families meet? */
    unsigned fa = inet_addr_is_zero(a) ? (a6only ? 2u : 3u) : 1u;
    unsigned fb = inet_addr_is_zero(b) ? (b6only ? 2u : 3u) : 1u;
    return (fa & fb) != 0;
}

struct tcp_pcb *tcp_lookup_listener(struct inet_stack *st, const struct inet_addr *lip, uint16_t lport)
{
    struct tcp_pcb *wild = NULL;
    for (struct tcp_pcb *l = st->listeners[lbucket(lport)]; l; l = l->lnext) {
        if (l->lport != lport || !addr_takes(&l->lip, l->flags & TF_V6ONLY, lip))
            continue;
        if (!inet_addr_is_any(&l->lip))
            return l; /* the exact address wins over a wildcard */
        wild = l;
    }
    return wild;
}

/* A listener on port whose addresses overlap (a, v6only)? */
static struct tcp_pcb *listener_overlapping(struct inet_stack *st, const struct inet_addr *a, bool v6only,
                                            uint16_t port)
{
    for (struct tcp_pcb *l = st->listeners[lbucket(port)]; l; l = l->lnext)
        if (l->lport == port && addr_overlap(&l->lip, l->flags & TF_V6ONLY, a, v6only))
            return l;
    return NULL;
}

static void listener_remove(struct inet_stack *st, struct tcp_pcb *l)
{
    struct tcp_pcb **b = &st->listeners[lbucket(l->lport)];
    while (*b && *b != l)
        b = &(*b)->lnext;
    if (*b) {
        *b = l->lnext;
        if (--st->nlisteners == 0)
            dm_dev_listening(st->dev, false); /* a port's other processes stop handing us segments */
    }
    l->lnext = NULL;
}

uint32_t tcp_gen_isn(struct inet_stack *st, struct tcp_pcb *p)
{
    struct tcp_isn k;
    memcpy(k.key, st->isn_key, sizeof(k.key));
    if (inet_addr_is_v4(&p->rip))
        return tcp_isn_gen(&k, p->lip.w[3], p->lport, p->rip.w[3], p->rport, dm_clock_ns());
    /* IPv6: the same RFC 6528 F over the whole 4-tuple */
    uint8_t t[36];
    memcpy(t, p->lip.b, 16);
    memcpy(t + 16, p->rip.b, 16);
    memcpy(t + 32, &p->lport, 2);
    memcpy(t + 34, &p->rport, 2);
    uint32_t f = (uint32_t)tcp_siphash24(k.key, t, sizeof(t));
    return (uint32_t)((uint64_t)dm_clock_ns() / TCP_ISN_TICK_NS) + f;
}

/* ------------------------------------------------------------ PCBs */
/* The table is full: give the oldest TIME_WAIT connection that the
 * application has closed back to the free list (as Linux does when its
 * TIME_WAIT buckets overflow). Without this a burst of short connections
 * (each leaves a PCB in TIME_WAIT for DEMI_TCP_TIMEWAIT_MS) fills the
 * table and every new SYN and connect() is refused until they expire. */
static bool tcp_recycle_timewait(struct inet_stack *st)
{
    struct dm_list *n;
    for (n = st->tcp_tw_list.next; n != &st->tcp_tw_list; n = n->next) {
        struct tcp_pcb *tw = dm_container_of(n, struct tcp_pcb, tw_link);
        if (tw->q || tw->state != TCPS_TIME_WAIT)
            continue;
        dm_log_once("inet", "TCP connection table full (DEMI_TCP_MAX_CONNS): recycling the oldest TIME_WAIT "
                            "connections early");
        st->tcp_st.conn_timewait_recycle++;
        tcp_pcb_free(tw);
        return true;
    }
    return false;
}

struct tcp_pcb *tcp_pcb_alloc(struct inet_stack *st)
{
    struct tcp_pcb *p = st->free_pcbs;
    if (!p && tcp_recycle_timewait(st))
        p = st->free_pcbs;
    if (!p)
        return NULL;
    st->free_pcbs = p->hnext;
    st->nfree--;
    memset(p, 0, sizeof(*p));
    p->s.kind = INET_SOCK_TCP;
    p->st = st;
    p->sndbuf = st->sndbuf_def;
    p->rcvbuf = st->rcvbuf_def;
    p->cc_ops = st->cc;
    p->ka_idle_ns = 7200 * DM_NS_PER_S;
    p->ka_intvl_ns = 75 * DM_NS_PER_S;
    p->ka_cnt = 9;
    dm_list_init(&p->child);
    dm_list_init(&p->synq);
    dm_list_init(&p->acceptq);
    dm_list_init(&p->out_link);
    dm_list_init(&p->ack_link);
    dm_list_init(&p->tw_link);
    tcp_timers_init(p);
    return p;
}

/* Buffers and algorithms for a connection about to send its SYN. */
void tcp_setup_conn(struct tcp_pcb *p)
{
    struct inet_stack *st = p->st;
    /* the window may grow up to the auto-tuning ceiling: scale for it */
    uint32_t big = DM_MAX(p->flags & TF_RCVBUF_LOCK ? p->rcvbuf : DM_MAX(p->rcvbuf, st->rcvbuf_max), 65535u);
    uint8_t ws = 0;
    while (ws < TCP_OPT_WSCALE_MAX && (big >> ws) > 65535u)
        ws++;
    p->rcv_wscale = ws;
    p->mss = (uint16_t)(st->mtu - tcp_ip_overhead(p));
    p->peer_mss = 536;
    tcp_reass_init(&p->reass, p->rcvbuf);
    tcp_sack_rx_init(&p->sack_rx);
    tcp_sack_sb_reset(&p->sb);
    struct tcp_rtt_cfg rc = {.rto_min_ns = st->rto_min_ns, .rto_max_ns = st->rto_max_ns,
                             .rto_initial_ns = st->rto_init_ns};
    tcp_rtt_init(&p->rtt, &rc);
    tcp_cc_init(&p->cc, p->cc_ops, p->mss, inet_now(st));
    p->syn_retries_left = (uint8_t)st->syn_retries;
    p->last_rx_ns = inet_now(st);
}

void tcp_established(struct tcp_pcb *p)
{
    struct inet_stack *st = p->st;
    /* A hostile or odd peer may announce a tiny MSS: keep at least 64
     * bytes of payload per segment (Linux uses a similar floor). */
    uint32_t mss = DM_MIN((uint32_t)DM_MAX(p->peer_mss, 88u), (uint32_t)st->mtu - tcp_ip_overhead(p));
    if (p->flags & TF_TS)
        mss -= 12;
    p->mss = (uint16_t)mss;
    if (!(p->flags & TF_WS)) {
        p->snd_wscale = 0;
        p->rcv_wscale = 0;
    }
    tcp_cc_init(&p->cc, p->cc_ops, p->mss, inet_now(st));
    if (!p->rtt.has_sample && p->rtt.backoff)
        tcp_rtt_syn_fallback(&p->rtt);
    tcp_rtt_ack_reset(&p->rtt);
    p->high_rxt = p->snd_nxt;
    p->recover = p->snd_nxt;
    p->last_rx_ns = inet_now(st);
    if (p->flags & TF_KEEPALIVE)
        tcp_arm_keepalive(p);
}

static void free_chain_list(struct dm_buf **head, struct dm_buf **tail, bool udata_linked)
{
    struct dm_buf *b = *head;
    while (b) {
        struct dm_buf *n = udata_linked ? (struct dm_buf *)(uintptr_t)b->udata : b->next;
        if (udata_linked) {
            b->udata = 0;
            dm_buf_free(b);
        } else {
            b->next = NULL;
            dm_buf_free_seg(b);
        }
        b = n;
    }
    *head = *tail = NULL;
}

/* Drops everything a connection holds on the network side. */
static void tcp_release(struct tcp_pcb *p)
{
    struct inet_stack *st = p->st;
    tcp_timers_stop(p);
    if (dm_list_linked(&p->tw_link))
        dm_list_del(&p->tw_link);
    /* Always look: a PCB at the tail of a bucket's chain has hnext NULL and
     * is not the head, yet is in the table. Left there, its hnext becomes
     * the free-list link and the chain runs into free PCBs (a lookup loop
     * once they are reused). Removing one that is not there is harmless. */
    tcp_hash_remove(st, p);
    if (p->state == TCPS_LISTEN)
        listener_remove(st, p);
    if (p->flags & TF_BOUND) {
        st->tcp_port_refs[ntohs(p->lport)]--;
        p->flags &= ~TF_BOUND;
    }
    free_chain_list(&p->sndq_head, &p->sndq_tail, false);
    p->snd_cur = NULL;
    p->sndq_bytes = 0;
    tcp_reass_reset(&p->reass);
    p->reass_nseg = 0;
    if (dm_list_linked(&p->child)) {
        struct tcp_pcb *par = p->parent;
        dm_list_del(&p->child);
        if (par) {
            if (p->flags & TF_ACCEPTED || p->state != TCPS_SYN_RCVD)
                par->nacceptq--;
            else
                par->nsynq--;
        }
    }
    p->parent = NULL;
}

void tcp_pcb_free(struct tcp_pcb *p)
{
    struct inet_stack *st = p->st;
    /* Children of a listener that never got accepted die with it. */
    while (!dm_list_empty(&p->synq) || !dm_list_empty(&p->acceptq)) {
        struct dm_list *h = !dm_list_empty(&p->synq) ? &p->synq : &p->acceptq;
        struct tcp_pcb *c = dm_list_first(h, struct tcp_pcb, child);
        tcp_send_rst(c);
        c->parent = NULL;
        dm_list_del(&c->child);
        tcp_release(c);
        free_chain_list(&c->rcvq_head, &c->rcvq_tail, true);
        if (dm_list_linked(&c->out_link))
            dm_list_del(&c->out_link);
        if (dm_list_linked(&c->ack_link))
            dm_list_del(&c->ack_link);
        c->state = TCPS_CLOSED;
        c->hnext = st->free_pcbs;
        st->free_pcbs = c;
        st->nfree++;
    }
    p->nsynq = p->nacceptq = 0;
    tcp_release(p);
    free_chain_list(&p->rcvq_head, &p->rcvq_tail, true);
    p->rcvq_bytes = 0;
    p->rcvq_nseg = 0;
    if (dm_list_linked(&p->out_link))
        dm_list_del(&p->out_link);
    if (dm_list_linked(&p->ack_link))
        dm_list_del(&p->ack_link);
    p->flags &= ~TF_ACK_SOON;
    p->state = TCPS_CLOSED;
    p->q = NULL;
    p->hnext = st->free_pcbs;
    st->free_pcbs = p;
    st->nfree++;
}

void tcp_schedule_output(struct tcp_pcb *p)
{
    if (!dm_list_linked(&p->out_link))
        dm_list_add_tail(&p->st->tcp_out_list, &p->out_link);
    inet_schedule_flush(p->st);
}

void tcp_acks_due(struct inet_stack *st)
{
    while (!dm_list_empty(&st->tcp_ack_list)) {
        struct tcp_pcb *p = dm_list_first(&st->tcp_ack_list, struct tcp_pcb, ack_link);
        dm_list_del(&p->ack_link);
        if (p->flags & TF_ACK_SOON) {
            p->flags = (p->flags & ~TF_ACK_SOON) | TF_ACK_NOW;
            tcp_schedule_output(p);
        }
    }
}

void tcp_output_pending(struct inet_stack *st)
{
    /* Work on what is queued now: a connection the device pushed back on
     * (TX full) re-queues itself for the next poll. */
    struct dm_list batch;
    if (dm_list_empty(&st->tcp_out_list))
        return;
    batch.next = st->tcp_out_list.next;
    batch.prev = st->tcp_out_list.prev;
    batch.next->prev = &batch;
    batch.prev->next = &batch;
    dm_list_init(&st->tcp_out_list);
    while (!dm_list_empty(&batch)) {
        struct tcp_pcb *p = dm_list_first(&batch, struct tcp_pcb, out_link);
        dm_list_del(&p->out_link);
        if (p->flags & TF_FREE_ME) {
            if (!p->q)
                tcp_pcb_free(p);
            continue;
        }
        if (p->flags & TF_DELIVER) {
            p->flags &= ~TF_DELIVER;
            tcp_deliver(p);
        }
        tcp_output(p);
    }
}

void tcp_fail_ops(struct tcp_pcb *p, int err)
{
    if (!p->q)
        return;
    struct dm_op *op;
    while ((op = dm_queue_first_op(p->q, DEMI_OPC_CONNECT)))
        dm_op_fail(op, err);
    while ((op = dm_queue_first_op(p->q, DEMI_OPC_PUSH)))
        dm_op_fail(op, err == ECONNREFUSED || err == ETIMEDOUT ? err : (err ? err : EPIPE));
    tcp_deliver(p);
}

bool tcp_icmp_error(struct inet_stack *st, const struct inet_addr *src, uint16_t sport,
                    const struct inet_addr *dst, uint16_t dport, uint32_t seq, int err)
{
    /* As Linux's tcp_v4_err/tcp_v6_err: only a quote of what is in
     * flight counts (a blind ICMP must guess the sequence); an active
     * open ends with the error (a connect refused by a firewall's ICMP
     * port unreachable fails at once, not after its SYN retries); any
     * other only keeps it as a soft error, which a timeout reports
     * instead of ETIMEDOUT (tcp_timeout_err; Linux's passive one in
     * SYN-RECEIVED drops it, ours keeps it and, unaccepted, tells no
     * one). */
    struct tcp_pcb *p = tcp_lookup(st, src, sport, dst, dport);
    if (!p || p->state == TCPS_LISTEN || p->state == TCPS_CLOSED || SEQ_LT(seq, p->snd_una) ||
        SEQ_GT(seq, p->snd_nxt))
        return false;
    if (p->state != TCPS_SYN_SENT) {
        p->soft_err = err;
        return true;
    }
    st->tcp_st.conn_reset++;
    tcp_set_closed(p, err);
    return true;
}

bool tcp_icmp_pmtu(struct inet_stack *st, const struct inet_addr *src, uint16_t sport,
                   const struct inet_addr *dst, uint16_t dport, uint32_t seq, uint32_t mtu)
{
    /* We send with DF set (and IPv6 routers never fragment): a router on
     * a narrower path drops our full segments and says so here (RFC 1191
     * fragmentation needed, RFC 8201 packet too big). As Linux's
     * tcp_v4_mtu_reduced and tcp_simple_retransmit: a smaller MSS from
     * now on, and what is in flight goes again at that size, with no cut
     * of the congestion window (nothing was lost to congestion). The
     * quote must name a sequence in flight; an MTU below the protocol's
     * floor (576 for IPv4, as Linux's min_pmtu 552 rounded up to what
     * every IPv4 host takes; 1280 for IPv6) is taken as that floor. */
    struct tcp_pcb *p = tcp_lookup(st, src, sport, dst, dport);
    if (!p || !tcp_can_send_data(p) || SEQ_LT(seq, p->snd_una) || SEQ_GEQ(seq, p->snd_nxt))
        return false;
    uint32_t floor = inet_addr_is_v4(&p->rip) ? 576 : 1280;
    uint32_t mss = DM_MAX(mtu, floor) - tcp_ip_overhead(p) - ((p->flags & TF_TS) ? 12 : 0);
    if (mss >= p->mss)
        return false;
    p->mss = (uint16_t)mss;
    p->cc.mss = mss;
    st->tcp_st.tx_pmtu_shrink++;
    if (p->in_rec == REC_NONE) {
        p->in_rec = REC_RTO;
        p->recover = p->snd_nxt;
        p->rtx_round_nxt = p->snd_nxt;
        p->dupacks = 0;
    }
    p->high_rxt = p->snd_una;
    tcp_schedule_output(p);
    return true;
}

void tcp_set_closed(struct tcp_pcb *p, int err)
{
    struct inet_stack *st = p->st;
    struct tcp_pcb *par = p->parent;
    bool was_child = par && !(p->flags & TF_ACCEPTED);
    if (err)
        p->err = err;
    tcp_release(p);
    p->state = TCPS_CLOSED;
    if (p->q) {
        tcp_fail_ops(p, err);
        return;
    }
    (void)was_child;
    p->flags |= TF_FREE_ME;
    tcp_schedule_output(p);
    (void)st;
}

void tcp_enter_timewait(struct tcp_pcb *p)
{
    struct inet_stack *st = p->st;
    p->state = TCPS_TIME_WAIT;
    /* (Re)entering TIME_WAIT makes this the youngest. */
    if (dm_list_linked(&p->tw_link))
        dm_list_del(&p->tw_link);
    dm_list_add_tail(&st->tcp_tw_list, &p->tw_link);
    dm_timer_cancel(st->inst, &p->rtx_timer);
    dm_timer_cancel(st->inst, &p->delack_timer);
    free_chain_list(&p->sndq_head, &p->sndq_tail, false);
    p->sndq_bytes = 0;
    p->snd_cur = NULL;
    tcp_arm_keepalive(p); /* the misc timer runs TIME_WAIT */
    tcp_deliver(p);
}

/*
 * Receive buffer auto-tuning, as Linux's (tcp_rcv_space_adjust, "dynamic
 * right-sizing"): a window of DEMI_TCP_RCVBUF limits a fast sender to
 * one window per round trip, and a round trip between two busy-polling
 * processes on a loaded machine is long (bulk over memif: 4.7-5.2 Gbit/s
 * with the 256 KiB default, 9.8-11.4 with 4 MiB). Each receive RTT (the
 * time a window's worth of data takes to arrive, measured below) the
 * bytes the application took are compared with the most taken in one
 * before; when it took more, the buffer becomes twice that, up to
 * DEMI_TCP_RCVBUF_MAX. An application that set SO_RCVBUF keeps its size.
 */
void tcp_rcv_rtt_measure(struct tcp_pcb *p)
{
    int64_t now = inet_now(p->st);
    if (p->rcv_rtt_start_ns) {
        if (SEQ_LT(p->rcv_nxt, p->rcv_rtt_seq))
            return;
        int64_t s = DM_MAX(now - p->rcv_rtt_start_ns, (int64_t)1);
        /* the smallest is the link's; a larger one creeps in by eighths */
        if (!p->rcv_rtt_ns || s < p->rcv_rtt_ns)
            p->rcv_rtt_ns = s;
        else
            p->rcv_rtt_ns += (s - p->rcv_rtt_ns) >> 3;
    }
    p->rcv_rtt_seq = p->rcv_nxt + DM_MAX(tcp_rcv_window(p), (uint32_t)p->mss);
    p->rcv_rtt_start_ns = now;
}

static void rcv_space_adjust(struct tcp_pcb *p, uint32_t taken)
{
    if (p->flags & TF_RCVBUF_LOCK)
        return;
    int64_t now = inet_now(p->st);
    p->space_copied += taken;
    if (!p->space_ns) {
        p->space_ns = now;
        p->space = DM_MIN(p->rcvbuf, 10u * p->mss); /* Linux: the initial window */
        return;
    }
    if (!p->rcv_rtt_ns || now - p->space_ns < p->rcv_rtt_ns)
        return;
    if (p->space_copied > p->space) {
        uint32_t want = (uint32_t)DM_MIN(2ull * p->space_copied, (uint64_t)p->st->rcvbuf_max);
        if (want > p->rcvbuf) {
            p->rcvbuf = want;
            p->reass.limit = want;
            p->st->tcp_st.rcvbuf_grow++;
        }
        p->space = p->space_copied;
    }
    p->space_copied = 0;
    p->space_ns = now;
}

/* The receive queue's first buffer segment, unlinked (NULL: empty).
 * Apps written for Demikernel read sga_segs[0] only, so a pop hands out
 * buffer segments, not packets: a packet's chain is split, zero copy, and
 * its rest stays at the head of the queue. */
static struct dm_buf *rcvq_take_seg(struct tcp_pcb *p)
{
    struct dm_buf *c;
    while ((c = p->rcvq_head)) {
        if (c->next) {
            struct dm_buf *rest = c->next;
            rest->pkt_len = c->pkt_len - c->len;
            rest->nb_segs = (uint16_t)(c->nb_segs > 1 ? c->nb_segs - 1 : 1);
            rest->udata = c->udata;
            if (p->rcvq_tail == c)
                p->rcvq_tail = rest;
            p->rcvq_head = rest;
            c->next = NULL;
            c->pkt_len = c->len;
            c->nb_segs = 1;
            c->udata = 0;
            p->rcvq_bytes -= c->len;
            if (c->len == 0) { /* an empty header segment: drop it */
                dm_buf_free(c);
                continue;
            }
            return c;
        }
        p->rcvq_head = (struct dm_buf *)(uintptr_t)c->udata;
        if (!p->rcvq_head)
            p->rcvq_tail = NULL;
        c->udata = 0;
        p->rcvq_bytes -= c->pkt_len;
        p->rcvq_nseg--;
        if (c->len == 0) {
            dm_buf_free(c);
            continue;
        }
        return c;
    }
    return NULL;
}

/* Completes pending pops: data first, then EOF or the error. */
void tcp_deliver(struct tcp_pcb *p)
{
    if (!p->q)
        return;
    struct dm_op *op;
    bool popped = false;
    uint32_t taken = 0;
    uint32_t before = tcp_seq_diff(p->rcv_adv, p->rcv_nxt) > 0 ? (uint32_t)tcp_seq_diff(p->rcv_adv, p->rcv_nxt) : 0;
    const uint32_t max_segs = dm_queue_pop_segs(p->q);
    while ((op = dm_queue_first_op(p->q, DEMI_OPC_POP))) {
        struct dm_buf *c = rcvq_take_seg(p);
        if (c) {
            /* up to DEMI_SO_POP_SEGS segments, linked into one chain */
            uint32_t bytes = c->len;
            uint16_t n = 1;
            for (struct dm_buf *t = c, *s; n < max_segs && (s = rcvq_take_seg(p)); t = s, n++) {
                t->next = s;
                bytes += s->len;
            }
            c->pkt_len = bytes;
            c->nb_segs = n;
            taken += bytes;
            dm_op_complete_pop(op, c, NULL);
            popped = true;
        } else if ((p->flags & TF_RCVD_FIN) || (p->flags & TF_SHUT_RD)) {
            dm_op_complete_pop(op, NULL, NULL);
        } else if (p->state == TCPS_CLOSED) {
            /* As Linux: the reset is reported once, then reads see EOF. */
            if (p->err) {
                dm_op_fail(op, p->err);
                p->err = 0;
            } else {
                dm_op_complete_pop(op, NULL, NULL);
            }
        } else {
            break;
        }
    }
    if (taken)
        rcv_space_adjust(p, taken);
    /* Window update when popping opened the window noticeably. */
    if (popped && p->state != TCPS_CLOSED && !(p->flags & TF_RCVD_FIN)) {
        uint32_t now = tcp_rcv_window(p);
        if (now > before && (before < p->mss || now - before >= DM_MIN(p->rcvbuf / 2, 2u * p->mss))) {
            p->flags |= TF_ACK_NOW;
            tcp_schedule_output(p);
        }
    }
}

/* Admits pushes waiting for send-buffer space. */
void tcp_fill_sndq(struct tcp_pcb *p)
{
    if (!p->q)
        return;
    struct dm_op *op;
    bool added = false;
    while (p->sndq_bytes < p->sndbuf && (op = dm_queue_first_op(p->q, DEMI_OPC_PUSH))) {
        if (!tcp_can_send_data(p) || (p->flags & TF_FIN_PENDING)) {
            dm_op_fail(op, p->err ? p->err : EPIPE);
            continue;
        }
        /* The op's chain is its own (references to the application's
         * buffers, or copies): its segments move into the send queue as
         * they are, each on its own, instead of a slice of each. */
        struct dm_buf *first = NULL, *last = NULL, *seg = op->chain;
        uint32_t seq = p->snd_end, n = 0;
        op->chain = NULL;
        while (seg) {
            struct dm_buf *next = seg->next;
            seg->next = NULL;
            if (!seg->len) {
                dm_buf_free_seg(seg);
                seg = next;
                continue;
            }
            seg->pkt_len = seg->len;
            seg->nb_segs = 1;
            seg->udata = seq;
            seq += seg->len;
            n += seg->len;
            if (last)
                last->next = seg;
            else
                first = seg;
            last = seg;
            seg = next;
        }
        if (first) {
            if (p->sndq_tail)
                p->sndq_tail->next = first;
            else
                p->sndq_head = first;
            p->sndq_tail = last;
            p->sndq_bytes += n;
            p->snd_end = seq;
            added = true;
        }
        dm_op_complete_push(op);
    }
    if (added)
        tcp_schedule_output(p);
}

/* A passive child finished its handshake: to the accept queue. */
void tcp_child_established(struct tcp_pcb *c)
{
    struct inet_stack *st = c->st;
    struct tcp_pcb *l = c->parent;
    if (!l) {
        st->tcp_st.conn_active++;
        /* Simultaneous open: an active connection's connect completes. */
        if (c->q) {
            struct dm_op *op = dm_queue_first_op(c->q, DEMI_OPC_CONNECT);
            if (op)
                dm_op_complete_connect(op);
        }
        tcp_schedule_output(c);
        return;
    }
    st->tcp_st.conn_passive++;
    dm_list_del(&c->child);
    l->nsynq--;
    dm_list_add_tail(&l->acceptq, &c->child);
    l->nacceptq++;
    tcp_accept_ready(l);
}

void tcp_accept_ready(struct tcp_pcb *l)
{
    struct inet_stack *st = l->st;
    struct dm_op *op;
    while (l->q && !dm_list_empty(&l->acceptq) && (op = dm_queue_first_op(l->q, DEMI_OPC_ACCEPT))) {
        struct tcp_pcb *c = dm_list_first(&l->acceptq, struct tcp_pcb, child);
        struct dm_queue *nq = dm_queue_new(st->inst, SOCK_STREAM);
        if (!nq) {
            dm_op_fail(op, EMFILE);
            continue;
        }
        dm_list_del(&c->child);
        l->nacceptq--;
        c->parent = NULL;
        c->flags |= TF_ACCEPTED;
        c->q = nq;
        nq->priv = c;
        union dm_sockaddr peer;
        inet_sockaddr_out(&c->rip, c->rport, c->flags & TF_V6, &peer);
        dm_op_complete_accept(op, nq, &peer.sa);
        /* Whatever arrived before accept (data, FIN, RST) is now visible. */
        tcp_deliver(c);
    }
}

/* ------------------------------------------------------------ socket API */
int tcp_socket(struct inet_stack *st, struct dm_queue *q, bool v6)
{
    struct tcp_pcb *p = tcp_pcb_alloc(st);
    if (!p)
        return -ENOBUFS;
    if (v6)
        p->flags |= TF_V6;
    else
        p->lip = inet_addr_v4(0); /* unbound: 0.0.0.0 (an AF_INET6 socket's is [::]) */
    p->q = q;
    q->priv = p;
    return 0;
}

static bool port_free(struct inet_stack *st, const struct inet_addr *a, bool v6only, uint16_t port_be, bool reuse)
{
    if (!st->tcp_port_refs[ntohs(port_be)])
        return true;
    if (!reuse)
        return false;
    /* SO_REUSEADDR: fine unless someone listens there (Linux). */
    return listener_overlapping(st, a, v6only, port_be) == NULL;
}

int tcp_bind(struct inet_stack *st, struct tcp_pcb *p, const struct inet_addr *a, uint16_t port)
{
    if (p->flags & TF_BOUND || p->state != TCPS_CLOSED)
        return -EINVAL;
    if (!inet_addr_is_any(a) && !inet_is_ours(st, a))
        return -EADDRNOTAVAIL;
    if (port == 0) {
        for (uint32_t i = 0; i < TCP_EPH_N; i++) {
            uint16_t cand = htons((uint16_t)(TCP_EPH_LO + (st->tcp_next_port++ % TCP_EPH_N)));
            if (!st->tcp_port_refs[ntohs(cand)]) {
                port = cand;
                break;
            }
        }
        if (port == 0)
            return -EADDRINUSE;
    } else if (!port_free(st, a, p->flags & TF_V6ONLY, port, p->flags & TF_REUSEADDR)) {
        return -EADDRINUSE;
    }
    p->lip = *a;
    p->lport = port;
    st->tcp_port_refs[ntohs(port)]++;
    p->flags |= TF_BOUND;
    return 0;
}

int tcp_listen(struct inet_stack *st, struct tcp_pcb *p, int backlog)
{
    if (p->state == TCPS_LISTEN) {
        p->backlog = (uint16_t)DM_MAX(DM_MIN(backlog, 4096), 1);
        return 0;
    }
    if (p->state != TCPS_CLOSED)
        return -EINVAL;
    if (!(p->flags & TF_BOUND)) {
        struct inet_addr any = p->lip; /* the family's wildcard */
        int r = tcp_bind(st, p, &any, 0);
        if (r < 0)
            return r;
    }
    if (listener_overlapping(st, &p->lip, p->flags & TF_V6ONLY, p->lport))
        return -EADDRINUSE;
    p->backlog = (uint16_t)DM_MAX(DM_MIN(backlog, 4096), 1);
    p->state = TCPS_LISTEN;
    unsigned b = lbucket(p->lport);
    p->lnext = st->listeners[b];
    st->listeners[b] = p;
    if (st->nlisteners++ == 0)
        dm_dev_listening(st->dev, true);
    return 0;
}

int tcp_accept(struct inet_stack *st, struct tcp_pcb *p, struct dm_op *op)
{
    (void)st;
    (void)op;
    if (p->state != TCPS_LISTEN)
        return -EINVAL;
    tcp_accept_ready(p);
    return 0;
}

static int tcp_pick_port(struct inet_stack *st, struct tcp_pcb *p, const struct inet_addr *src)
{
    for (uint32_t i = 0; i < TCP_EPH_N; i++) {
        uint16_t cand = htons((uint16_t)(TCP_EPH_LO + (st->tcp_next_port++ % TCP_EPH_N)));
        if (tcp_lookup_listener(st, src, cand))
            continue;
        if (st->tcp_port_refs[ntohs(cand)] && tcp_lookup(st, src, cand, &p->rip, p->rport))
            continue;
        /* a port shared by processes: the replies must reach our queue
         * (after half a round without one, any port: see devices/dpdk) */
        if (i < TCP_EPH_N / 2 &&
            !(inet_addr_is_v4(src) ? dm_dev_flow_ours(st->dev, IPPROTO_TCP_, src->w[3], cand, p->rip.w[3], p->rport)
                                   : dm_dev_flow_ours6(st->dev, IPPROTO_TCP_, src->b, cand, p->rip.b, p->rport)))
            continue;
        p->lport = cand;
        st->tcp_port_refs[ntohs(cand)]++;
        p->flags |= TF_BOUND;
        return 0;
    }
    return -EADDRNOTAVAIL;
}

int tcp_connect(struct inet_stack *st, struct tcp_pcb *p, const struct inet_addr *a, uint16_t port,
                struct dm_op *op)
{
    (void)op;
    switch (p->state) {
    case TCPS_CLOSED:
        break;
    case TCPS_SYN_SENT:
    case TCPS_SYN_RCVD:
        return -EALREADY;
    case TCPS_LISTEN:
        return -EISCONN;
    default:
        return -EISCONN;
    }
    if (p->err || p->iss)
        return -EISCONN; /* a connection ended on this socket: Linux says EISCONN/EINVAL */
    if (inet_addr_is_any(a) || port == 0)
        return -ECONNREFUSED;
    if (!inet_reachable(st, a))
        return -ENETUNREACH;
    /* the source: the bound address when it is one of a's family, else ours */
    struct inet_addr src;
    if (!inet_addr_is_any(&p->lip) && inet_addr_is_v4(&p->lip) == inet_addr_is_v4(a))
        src = p->lip;
    else if (!inet_src_for(st, a, &src))
        return -ENETUNREACH;
    else if ((p->flags & TF_BOUND) && !inet_addr_is_any(&p->lip))
        return -EINVAL; /* bound to an address of the other family */
    p->rip = *a;
    p->rport = port;
    if (!(p->flags & TF_BOUND)) {
        int r = tcp_pick_port(st, p, &src);
        if (r < 0)
            return r;
    } else if (tcp_lookup(st, &src, p->lport, &p->rip, p->rport)) {
        return -EADDRNOTAVAIL;
    }
    p->lip = src;
    p->state = TCPS_SYN_SENT;
    tcp_setup_conn(p);
    p->iss = tcp_gen_isn(st, p);
    if (p->iss == 0)
        p->iss = 1;
    p->snd_una = p->iss;
    p->snd_nxt = p->iss + 1;
    p->snd_end = p->iss + 1;
    p->high_rxt = p->snd_nxt;
    p->recover = p->iss;
    p->rcv_adv = 0;
    tcp_hash_insert(st, p);
    tcp_rtt_time_start(&p->rtt, p->snd_nxt, inet_now(st));
    tcp_send_syn(p);
    tcp_arm_rtx(p);
    inet_schedule_flush(st);
    return 0;
}

int tcp_push(struct inet_stack *st, struct tcp_pcb *p, struct dm_op *op)
{
    (void)st;
    switch (p->state) {
    case TCPS_ESTABLISHED:
    case TCPS_CLOSE_WAIT:
        break;
    case TCPS_CLOSED:
        return p->iss ? -EPIPE : -ENOTCONN;
    case TCPS_LISTEN:
    case TCPS_SYN_SENT:
    case TCPS_SYN_RCVD:
        return -ENOTCONN;
    default:
        return -EPIPE;
    }
    if (p->flags & TF_FIN_PENDING)
        return -EPIPE;
    if (dm_queue_first_op(p->q, DEMI_OPC_PUSH) == op)
        tcp_fill_sndq(p);
    return 0;
}

int tcp_pop(struct inet_stack *st, struct tcp_pcb *p, struct dm_op *op)
{
    (void)st;
    (void)op;
    if (p->state == TCPS_LISTEN)
        return -ENOTCONN;
    if (p->state == TCPS_CLOSED && !p->iss && !p->err)
        return -ENOTCONN;
    tcp_deliver(p);
    return 0;
}

static void tcp_queue_fin(struct tcp_pcb *p)
{
    if (p->flags & TF_FIN_PENDING)
        return;
    p->flags |= TF_FIN_PENDING;
    if (p->state == TCPS_ESTABLISHED || p->state == TCPS_SYN_RCVD)
        p->state = TCPS_FIN_WAIT_1;
    else if (p->state == TCPS_CLOSE_WAIT)
        p->state = TCPS_LAST_ACK;
    tcp_schedule_output(p);
}

/* Every push still waiting for SO_SNDBUF, into the send queue now: what
 * a shutdown or a close must send before its FIN. The memory is bounded by
 * what the application pushed (the preload's own send buffer). */
static void tcp_admit_pending(struct tcp_pcb *p)
{
    if (!p->q || !dm_queue_first_op(p->q, DEMI_OPC_PUSH) || !tcp_can_send_data(p))
        return;
    uint32_t keep = p->sndbuf;
    p->sndbuf = UINT32_MAX;
    tcp_fill_sndq(p);
    p->sndbuf = keep;
}

int tcp_shutdown(struct inet_stack *st, struct tcp_pcb *p, int how)
{
    (void)st;
    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
        return -EINVAL;
    if (p->state == TCPS_LISTEN || p->state == TCPS_SYN_SENT || (p->state == TCPS_CLOSED && !p->iss))
        return -ENOTCONN;
    if (how == SHUT_RD || how == SHUT_RDWR) {
        p->flags |= TF_SHUT_RD;
        tcp_deliver(p);
    }
    if ((how == SHUT_WR || how == SHUT_RDWR) && p->state != TCPS_CLOSED) {
        /* Pushes still waiting for buffer space go out before the FIN,
         * all of them, as at close: the application was told they were
         * sent (the preload's send() returns once its own buffer, not
         * ours, took them: a node stream's pipe() ends with shutdown
         * behind a megabyte of pushes). Failing them lost those bytes. */
        tcp_admit_pending(p);
        tcp_queue_fin(p);
        tcp_fill_sndq(p); /* fails what is left (no buffer for a slice) */
    }
    return 0;
}

/* SO_LINGER {1, 0} resets a connection that still has a peer to tell
 * (Linux's tcp_need_reset); the preload sets it when its own buffers had
 * bytes the application did not read. */
static bool tcp_linger0_resets(const struct tcp_pcb *p)
{
    return (p->flags & TF_LINGER0) &&
           (p->state == TCPS_ESTABLISHED || p->state == TCPS_CLOSE_WAIT || p->state == TCPS_FIN_WAIT_1 ||
            p->state == TCPS_FIN_WAIT_2 || p->state == TCPS_SYN_RCVD);
}

int tcp_close(struct inet_stack *st, struct tcp_pcb *p)
{
    struct dm_queue *q = p->q;
    (void)q;
    switch (p->state) {
    case TCPS_CLOSED:
    case TCPS_LISTEN:
    case TCPS_SYN_SENT:
        p->q = NULL;
        tcp_pcb_free(p);
        return 0;
    default:
        break;
    }
    tcp_admit_pending(p); /* pushes still pending (over SO_SNDBUF) would be lost */
    p->q = NULL;
    if (p->rcvq_head || tcp_reass_bytes(&p->reass) || tcp_linger0_resets(p)) {
        /* Unread data: abort (RFC 2525 2.17, as Linux) */
        tcp_send_rst(p);
        inet_schedule_flush(st);
        tcp_set_closed(p, 0);
        return 0;
    }
    if (p->state == TCPS_ESTABLISHED || p->state == TCPS_CLOSE_WAIT || p->state == TCPS_SYN_RCVD)
        tcp_queue_fin(p);
    else if (p->state == TCPS_FIN_WAIT_2)
        tcp_arm_keepalive(p); /* orphan timeout */
    tcp_schedule_output(p);
    return 0;
}

/* Walks the connection hash (live connections only): called while a
 * process exits, not per packet. */
bool tcp_orphans_busy(struct inet_stack *st)
{
    for (uint32_t b = 0; b <= st->hash_mask; b++) {
        for (const struct tcp_pcb *p = st->hash[b]; p; p = p->hnext) {
            if (p->q)
                continue;
            if (p->state == TCPS_FIN_WAIT_1 || p->state == TCPS_CLOSING || p->state == TCPS_LAST_ACK)
                return true; /* our FIN (and what precedes it) is not acknowledged */
        }
    }
    return false;
}

/* A connection with data for a peer that shut its window and still
 * answers our probes (a slow reader; the preload's close leaves it to
 * finish, open until its last push is in, then orphaned): it waits on the
 * peer, nothing is lost. Heard from within the last minute, whatever the
 * probes' spacing (and Linux's limit on answering them) by then. */
bool tcp_peers_slow(struct inet_stack *st)
{
    int64_t now = inet_now(st);
    for (uint32_t b = 0; b <= st->hash_mask; b++)
        for (const struct tcp_pcb *p = st->hash[b]; p; p = p->hnext)
            if (p->snd_wnd == 0 && p->persist_backoff && now - p->last_rx_ns < 60 * DM_NS_PER_S)
                return true;
    return false;
}

/* Only l_linger 0 acts here (close resets); a close that waits for the
 * data to leave is the caller's (the preload waits in close()). */
static int tcp_set_linger(struct tcp_pcb *p, const void *val, socklen_t len)
{
    struct linger lg;
    if (len < (socklen_t)sizeof(lg))
        return -EINVAL;
    memcpy(&lg, val, sizeof(lg));
    if (lg.l_onoff && lg.l_linger == 0)
        p->flags |= TF_LINGER0;
    else
        p->flags &= ~TF_LINGER0;
    return 0;
}

int tcp_setsockopt(struct inet_stack *st, struct tcp_pcb *p, int level, int name, const void *val, socklen_t len)
{
    (void)st;
    if (level == IPPROTO_TCP && name == TCP_CONGESTION) {
        char nm[TCP_CC_NAME_MAX] = {0};
        memcpy(nm, val, DM_MIN((size_t)len, sizeof(nm) - 1));
        const struct tcp_cc_ops *o = tcp_cc_find(nm);
        if (!o)
            return -ENOENT;
        p->cc_ops = o;
        if (p->state >= TCPS_SYN_SENT) {
            p->cc.ops = o;
            o->init(&p->cc, inet_now(st));
        }
        return 0;
    }
    if (level == SOL_SOCKET && name == SO_LINGER)
        return tcp_set_linger(p, val, len);
    if (len < (socklen_t)sizeof(int))
        return -EINVAL;
    int v;
    memcpy(&v, val, sizeof(v));
    if (level == SOL_SOCKET) {
        switch (name) {
        case SO_SNDBUF:
            p->sndbuf = (uint32_t)DM_MAX(DM_MIN((int64_t)v * 2, 64 << 20), 4608);
            tcp_fill_sndq(p);
            return 0;
        case SO_RCVBUF:
            p->rcvbuf = (uint32_t)DM_MAX(DM_MIN((int64_t)v * 2, 64 << 20), 2304);
            p->reass.limit = p->rcvbuf;
            p->flags |= TF_RCVBUF_LOCK; /* as Linux: the application's size holds */
            return 0;
        case SO_KEEPALIVE:
            if (v)
                p->flags |= TF_KEEPALIVE;
            else
                p->flags &= ~TF_KEEPALIVE;
            if (p->state == TCPS_ESTABLISHED)
                tcp_arm_keepalive(p);
            return 0;
        case SO_REUSEADDR:
        case SO_REUSEPORT:
            if (v)
                p->flags |= TF_REUSEADDR;
            else
                p->flags &= ~TF_REUSEADDR;
            return 0;
        case SO_RCVLOWAT:
        case SO_SNDLOWAT:
            return 0;
        default:
            return -ENOPROTOOPT;
        }
    }
    if (level == IPPROTO_TCP) {
        switch (name) {
        case TCP_NODELAY:
            if (v)
                p->flags |= TF_NODELAY;
            else
                p->flags &= ~TF_NODELAY;
            tcp_schedule_output(p);
            return 0;
        case TCP_KEEPIDLE:
            if (v < 1 || v > 32767)
                return -EINVAL;
            p->ka_idle_ns = (int64_t)v * DM_NS_PER_S;
            if (p->state == TCPS_ESTABLISHED && (p->flags & TF_KEEPALIVE))
                tcp_arm_keepalive(p);
            return 0;
        case TCP_KEEPINTVL:
            if (v < 1 || v > 32767)
                return -EINVAL;
            p->ka_intvl_ns = (int64_t)v * DM_NS_PER_S;
            return 0;
        case TCP_KEEPCNT:
            if (v < 1 || v > 127)
                return -EINVAL;
            p->ka_cnt = (uint8_t)v;
            return 0;
        case TCP_MAXSEG:
        case TCP_QUICKACK:
            return 0;
        default:
            return -ENOPROTOOPT;
        }
    }
    if (level == IPPROTO_IP)
        return name == IP_TOS || name == IP_TTL ? 0 : -ENOPROTOOPT;
    if (level == IPPROTO_IPV6 && (p->flags & TF_V6)) {
        if (name == IPV6_V6ONLY) {
            if (p->state != TCPS_CLOSED || (p->flags & TF_BOUND))
                return -EINVAL; /* as Linux: only before bind */
            if (v)
                p->flags |= TF_V6ONLY;
            else
                p->flags &= ~TF_V6ONLY;
            return 0;
        }
        return name == IPV6_TCLASS || name == IPV6_UNICAST_HOPS ? 0 : -ENOPROTOOPT;
    }
    return -ENOPROTOOPT;
}

/* Linux's TCP_* state numbers (include/net/tcp_states.h), by ours. */
static const uint8_t linux_state[] = {
    [TCPS_CLOSED] = 7,      [TCPS_LISTEN] = 10,    [TCPS_SYN_SENT] = 2,  [TCPS_SYN_RCVD] = 3,
    [TCPS_ESTABLISHED] = 1, [TCPS_FIN_WAIT_1] = 4, [TCPS_FIN_WAIT_2] = 5, [TCPS_CLOSE_WAIT] = 8,
    [TCPS_CLOSING] = 11,    [TCPS_LAST_ACK] = 9,   [TCPS_TIME_WAIT] = 6,
};

/* getsockopt(TCP_INFO) as Linux fills it, for the fields this stack
 * keeps (times in us, windows in segments); the others stay zero. */
static int tcp_info_get(const struct tcp_pcb *p, void *val, socklen_t *len)
{
    struct tcp_info ti;
    memset(&ti, 0, sizeof(ti));
    ti.tcpi_state = p->state < DM_ARRAY_SIZE(linux_state) ? linux_state[p->state] : 7;
    ti.tcpi_options = (p->flags & TF_TS ? TCPI_OPT_TIMESTAMPS : 0) | (p->flags & TF_SACK ? TCPI_OPT_SACK : 0) |
                      (p->flags & TF_WS ? TCPI_OPT_WSCALE : 0);
    if (p->flags & TF_WS) {
        ti.tcpi_snd_wscale = p->snd_wscale;
        ti.tcpi_rcv_wscale = p->rcv_wscale;
    }
    uint32_t mss = p->mss ? p->mss : 536;
    ti.tcpi_backoff = p->rtt.backoff;
    ti.tcpi_rto = (uint32_t)(p->rtt.rto_ns / 1000);
    ti.tcpi_snd_mss = mss;
    ti.tcpi_rcv_mss = p->peer_mss ? p->peer_mss : mss;
    ti.tcpi_advmss = mss;
    ti.tcpi_unacked = (tcp_seq_diff(p->snd_nxt, p->snd_una) + mss - 1) / mss;
    ti.tcpi_rtt = (uint32_t)(p->rtt.srtt_ns / 1000);
    ti.tcpi_rttvar = (uint32_t)(p->rtt.rttvar_ns / 1000);
    ti.tcpi_snd_ssthresh = p->cc.ssthresh == UINT32_MAX ? 0x7fffffff : p->cc.ssthresh / mss;
    ti.tcpi_snd_cwnd = p->cc.cwnd / mss;
    ti.tcpi_rcv_space = p->rcvbuf;
    socklen_t n = DM_MIN(*len, (socklen_t)sizeof(ti));
    memcpy(val, &ti, n);
    *len = n;
    return 0;
}

int tcp_getsockopt(struct inet_stack *st, struct tcp_pcb *p, int level, int name, void *val, socklen_t *len)
{
    (void)st;
    if (level == IPPROTO_TCP && name == TCP_INFO)
        return tcp_info_get(p, val, len);
    if (level == IPPROTO_TCP && name == TCP_CONGESTION) {
        const char *nm = p->cc_ops ? p->cc_ops->name : tcp_cc_default()->name;
        size_t n = DM_MIN((size_t)*len, strlen(nm) + 1);
        memcpy(val, nm, n);
        *len = (socklen_t)n;
        return 0;
    }
    if (*len < (socklen_t)sizeof(int))
        return -EINVAL;
    int v;
    if (level == SOL_SOCKET) {
        switch (name) {
        case SO_SNDBUF: v = (int)p->sndbuf; break;
        case SO_RCVBUF: v = (int)p->rcvbuf; break;
        case SO_KEEPALIVE: v = !!(p->flags & TF_KEEPALIVE); break;
        case SO_REUSEADDR: v = !!(p->flags & TF_REUSEADDR); break;
        case SO_TYPE: v = SOCK_STREAM; break;
        case SO_ACCEPTCONN: v = p->state == TCPS_LISTEN; break;
        case SO_ERROR: v = p->err; p->err = 0; break;
        default: return -ENOPROTOOPT;
        }
    } else if (level == IPPROTO_TCP) {
        switch (name) {
        case TCP_NODELAY: v = !!(p->flags & TF_NODELAY); break;
        case TCP_MAXSEG: v = p->mss; break;
        case TCP_KEEPIDLE: v = (int)(p->ka_idle_ns / DM_NS_PER_S); break;
        case TCP_KEEPINTVL: v = (int)(p->ka_intvl_ns / DM_NS_PER_S); break;
        case TCP_KEEPCNT: v = p->ka_cnt; break;
        default: return -ENOPROTOOPT;
        }
    } else if (level == IPPROTO_IPV6 && name == IPV6_V6ONLY && (p->flags & TF_V6)) {
        v = !!(p->flags & TF_V6ONLY);
    } else {
        return -ENOPROTOOPT;
    }
    memcpy(val, &v, sizeof(v));
    *len = sizeof(v);
    return 0;
}

/* ------------------------------------------------------------ init */
int tcp_init(struct inet_stack *st, const struct dm_config *cfg)
{
    (void)cfg;
    uint32_t nb = 1;
    while (nb < st->max_conns * 2)
        nb <<= 1;
    st->pcbs = calloc(st->max_conns, sizeof(*st->pcbs));
    st->hash = calloc(nb, sizeof(*st->hash));
    st->tcp_port_refs = calloc(65536, sizeof(*st->tcp_port_refs));
    if (!st->pcbs || !st->hash || !st->tcp_port_refs)
        return -ENOMEM;
    st->hash_mask = nb - 1;
    for (uint32_t i = st->max_conns; i-- > 0;) {
        st->pcbs[i].hnext = st->free_pcbs;
        st->free_pcbs = &st->pcbs[i];
    }
    st->nfree = st->max_conns;
    dm_list_init(&st->tcp_tw_list);
    struct tcp_isn k;
    int r = tcp_isn_init(&k);
    if (r < 0)
        return r;
    memcpy(st->isn_key, k.key, sizeof(st->isn_key));
    uint32_t seed;
    if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
        seed = (uint32_t)dm_clock_ns();
    st->hash_seed = seed;
    st->tcp_next_port = (uint16_t)(seed >> 16);
    dm_list_init(&st->tcp_out_list);
    dm_list_init(&st->tcp_ack_list);
    return 0;
}

void tcp_fini(struct inet_stack *st)
{
    if (st->pcbs) {
        for (uint32_t i = 0; i < st->max_conns; i++) {
            struct tcp_pcb *p = &st->pcbs[i];
            if (p->s.kind == INET_SOCK_TCP && (p->state != TCPS_CLOSED || p->rcvq_head || p->sndq_head)) {
                tcp_timers_stop(p);
                free_chain_list(&p->sndq_head, &p->sndq_tail, false);
                free_chain_list(&p->rcvq_head, &p->rcvq_tail, true);
                tcp_reass_reset(&p->reass);
            }
        }
    }
    free(st->pcbs);
    free(st->hash);
    free(st->tcp_port_refs);
    st->pcbs = NULL;
    st->hash = NULL;
    st->tcp_port_refs = NULL;
}
