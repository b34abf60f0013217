/* SPDX-License-Identifier: MIT */
/*
 * TCP input: one received segment at a time, following the event
 * processing of RFC 9293 section 3.10.7:
 *   validate (length, data offset, checksum, options) -> 4-tuple lookup ->
 *   LISTEN (SYN queue, backlog) / SYN-SENT / synchronized states:
 *   PAWS (RFC 7323) -> sequence acceptability -> RST (RFC 5961 3: exact
 *   match resets, in-window sends a challenge ACK) -> SYN (RFC 5961 4:
 *   challenge ACK) -> ACK (RFC 5961 5 bounds, new data acked, dup ACKs,
 *   fast retransmit / recovery, window update) -> data (in order to the
 *   receive queue, out of order to tcp_reass + SACK) -> FIN.
 * Every drop has a counter. The payload buffer is queued as received (the
 * application pops the device's buffer: no copy).
 */
#include <string.h>
#include "tcp_priv.h"
#include "csum.h"
#include "dm/log.h"

struct tcp_seg {
    uint32_t seq, ack, len;   /* len: payload bytes */
    uint32_t wnd;             /* raw field */
    uint8_t flags;
    struct tcp_opts opts;
};

static bool challenge_ok(struct inet_stack *st)
{
    int64_t now = inet_now(st);
    if (now - st->chack_window_start >= DM_NS_PER_S) {
        st->chack_window_start = now;
        st->chack_count = 0;
    }
    if (st->chack_count >= st->chack_limit) {
        st->tcp_st.challenge_ack_limited++;
        return false;
    }
    st->chack_count++;
    return true;
}

static void send_challenge(struct tcp_pcb *p)
{
    if (challenge_ok(p->st)) {
        p->st->tcp_st.rx_challenge_ack++;
        p->flags |= TF_CHALLENGE;
        tcp_schedule_output(p);
    }
}

static void reply_rst(struct inet_stack *st, const struct tcp_hdr *th, const struct tcp_seg *sg)
{
    if (sg->flags & TCP_RST)
        return;
    if (sg->flags & TCP_ACK)
        tcp_send_rst_reply(st, &st->rx.dst, th->dport, &st->rx.src, th->sport, sg->ack, 0, TCP_RST);
    else
        tcp_send_rst_reply(st, &st->rx.dst, th->dport, &st->rx.src, th->sport, 0,
                           sg->seq + sg->len + !!(sg->flags & TCP_SYN) + !!(sg->flags & TCP_FIN),
                           TCP_RST | TCP_ACK);
}

static void take_syn_options(struct tcp_pcb *p, const struct tcp_opts *o, bool active)
{
    p->peer_mss = (o->present & TCP_OPTF_MSS) && o->mss ? o->mss : 536;
    if (o->present & TCP_OPTF_WSCALE) {
        p->flags |= TF_WS;
        p->snd_wscale = o->wscale;
    } else {
        p->flags &= ~TF_WS;
    }
    if (o->present & TCP_OPTF_SACK_PERM)
        p->flags |= TF_SACK;
    else
        p->flags &= ~TF_SACK;
    if (o->present & TCP_OPTF_TS) {
        p->flags |= TF_TS;
        p->ts_recent = o->tsval;
    } else {
        p->flags &= ~TF_TS;
    }
    (void)active;
}

/* ------------------------------------------------------------- LISTEN */
static void listen_input(struct inet_stack *st, struct tcp_pcb *l, const struct tcp_hdr *th,
                         const struct tcp_seg *sg)
{
    if (sg->flags & TCP_RST)
        return;
    if (sg->flags & TCP_ACK) {
        reply_rst(st, th, sg);
        return;
    }
    if (!(sg->flags & TCP_SYN))
        return;
    if (l->nsynq + l->nacceptq >= l->backlog) {
        st->tcp_st.rx_syn_drop_backlog++;
        return;
    }
    struct tcp_pcb *c = tcp_pcb_alloc(st);
    if (!c) {
        st->tcp_st.rx_syn_drop_nomem++;
        return;
    }
    c->lip = st->rx.dst;
    c->lport = th->dport;
    c->rip = st->rx.src;
    c->rport = th->sport;
    c->flags |= l->flags & (TF_NODELAY | TF_KEEPALIVE | TF_V6 | TF_RCVBUF_LOCK);
    c->sndbuf = l->sndbuf;
    c->rcvbuf = l->rcvbuf;
    c->ka_idle_ns = l->ka_idle_ns;
    c->ka_intvl_ns = l->ka_intvl_ns;
    c->ka_cnt = l->ka_cnt;
    c->cc_ops = l->cc_ops;
    c->state = TCPS_SYN_RCVD;
    tcp_setup_conn(c);
    take_syn_options(c, &sg->opts, false);
    c->irs = sg->seq;
    c->rcv_nxt = sg->seq + 1;
    c->rcv_adv = c->rcv_nxt;
    c->snd_wnd = sg->wnd;
    c->snd_wl1 = sg->seq;
    c->iss = tcp_gen_isn(st, c);
    c->snd_una = c->iss;
    c->snd_nxt = c->iss + 1;
    c->snd_end = c->iss + 1;
    c->high_rxt = c->snd_nxt;
    c->recover = c->iss;
    c->parent = l;
    st->tcp_port_refs[ntohs(c->lport)]++;
    c->flags |= TF_BOUND;
    tcp_hash_insert(st, c);
    dm_list_add_tail(&l->synq, &c->child);
    l->nsynq++;
    tcp_send_syn(c);
    tcp_arm_rtx(c);
    inet_schedule_flush(st);
}

/* ---------------------------------------------------------- SYN-SENT */
static void syn_sent_input(struct tcp_pcb *p, const struct tcp_hdr *th, const struct tcp_seg *sg)
{
    struct inet_stack *st = p->st;
    bool ack_ok = false;
    if (sg->flags & TCP_ACK) {
        if (SEQ_LEQ(sg->ack, p->iss) || SEQ_GT(sg->ack, p->snd_nxt)) {
            reply_rst(st, th, sg);
            return;
        }
        ack_ok = true;
    }
    if (sg->flags & TCP_RST) {
        if (ack_ok) {
            st->tcp_st.conn_reset++;
            tcp_set_closed(p, ECONNREFUSED);
        }
        return;
    }
    if (!(sg->flags & TCP_SYN))
        return;
    take_syn_options(p, &sg->opts, true);
    p->irs = sg->seq;
    p->rcv_nxt = sg->seq + 1;
    p->rcv_adv = p->rcv_nxt;
    p->snd_wnd = sg->wnd; /* never scaled in a SYN */
    p->snd_wl1 = sg->seq;
    p->snd_wl2 = sg->ack;
    p->max_sndwnd = p->snd_wnd;
    if (ack_ok) {
        p->snd_una = sg->ack;
        if (p->rtt.timing)
            tcp_rtt_on_ack(&p->rtt, sg->ack, inet_now(st));
        dm_timer_cancel(st->inst, &p->rtx_timer);
        p->state = TCPS_ESTABLISHED;
        tcp_established(p);
        st->tcp_st.conn_active++;
        p->flags |= TF_ACK_NOW;
        if (p->q) {
            struct dm_op *op = dm_queue_first_op(p->q, DEMI_OPC_CONNECT);
            if (op)
                dm_op_complete_connect(op);
        }
        tcp_schedule_output(p);
    } else {
        /* Simultaneous open (RFC 9293 3.5 figure 8). */
        p->state = TCPS_SYN_RCVD;
        p->flags |= TF_ACK_NOW;
        tcp_schedule_output(p);
    }
}

/* --------------------------------------------------------------- ACKs */
static void enter_fast_recovery(struct tcp_pcb *p)
{
    struct inet_stack *st = p->st;
    p->recover = p->snd_nxt;
    p->high_rxt = p->snd_una;
    p->rtx_round_nxt = p->snd_nxt;
    p->lt_segs = 0;
    p->in_rec = REC_FAST;
    tcp_cc_enter_recovery(&p->cc, p->snd_nxt - p->snd_una, inet_now(st), (p->flags & TF_SACK) != 0);
    tcp_rtt_time_cancel(&p->rtt);
    st->tcp_st.tx_fast_retrans++;
    if (!(p->flags & TF_SACK))
        p->flags |= TF_RTX_UNA;
}

static void ack_new(struct tcp_pcb *p, uint32_t ack)
{
    struct inet_stack *st = p->st;
    int64_t now = inet_now(st);
    uint32_t acked = ack - p->snd_una;
    uint32_t sndq_start = p->snd_end - p->sndq_bytes;
    uint32_t upto = SEQ_LT(ack, p->snd_end) ? ack : p->snd_end;
    if (SEQ_GT(upto, sndq_start))
        tcp_sndq_ack(p, upto - sndq_start);
    p->snd_una = ack;
    tcp_rtt_on_ack(&p->rtt, ack, now);
    tcp_rtt_ack_reset(&p->rtt);
    p->persist_backoff = 0;
    if (p->flags & TF_SACK)
        tcp_sack_sb_ack(&p->sb, ack);
    if (p->in_rec == REC_FAST) {
        if (SEQ_GEQ(ack, p->recover)) {
            p->in_rec = REC_NONE;
            tcp_cc_exit_recovery(&p->cc, p->snd_nxt - p->snd_una, now);
        } else if (!(p->flags & TF_SACK)) {
            tcp_cc_partial_ack(&p->cc, acked);
            p->flags |= TF_RTX_UNA;
        }
    } else {
        if (p->in_rec == REC_RTO && SEQ_GEQ(ack, p->recover))
            p->in_rec = REC_NONE;
        tcp_cc_on_ack(&p->cc, acked, tcp_rtt_srtt(&p->rtt), now);
    }
    if (SEQ_LT(p->high_rxt, p->snd_una))
        p->high_rxt = p->snd_una;
    p->dupacks = 0;
    p->lt_segs = 0;
    if (p->snd_una == p->snd_nxt) {
        dm_timer_cancel(st->inst, &p->rtx_timer);
        p->flags &= ~TF_PERSIST;
    } else {
        tcp_arm_rtx(p); /* RFC 6298 5.3 */
    }
    if (p->sndq_bytes < p->sndbuf)
        tcp_fill_sndq(p);
}

static void process_fin(struct tcp_pcb *p)
{
    struct inet_stack *st = p->st;
    p->rcv_nxt++;
    p->flags |= TF_RCVD_FIN | TF_ACK_NOW;
    p->flags &= ~TF_OOO_FIN;
    bool fin_acked = (p->flags & TF_FIN_SENT) && p->snd_una == p->snd_nxt;
    switch (p->state) {
    case TCPS_SYN_RCVD:
    case TCPS_ESTABLISHED:
        p->state = TCPS_CLOSE_WAIT;
        break;
    case TCPS_FIN_WAIT_1:
        if (fin_acked)
            tcp_enter_timewait(p);
        else
            p->state = TCPS_CLOSING;
        break;
    case TCPS_FIN_WAIT_2:
        tcp_enter_timewait(p);
        break;
    default:
        break;
    }
    (void)st;
    tcp_deliver(p);
}

static void rcvq_append(struct tcp_pcb *p, struct dm_buf *c)
{
    c->udata = 0;
    c->ol_flags = 0;
    if (p->rcvq_tail)
        p->rcvq_tail->udata = (uint64_t)(uintptr_t)c;
    else
        p->rcvq_head = c;
    p->rcvq_tail = c;
    p->rcvq_bytes += c->pkt_len;
    p->rcvq_nseg++;
}

static bool rcv_over_limit(const struct tcp_pcb *p)
{
    uint64_t held = (uint64_t)p->rcvq_bytes + tcp_reass_bytes(&p->reass) +
                    (uint64_t)(p->rcvq_nseg + p->reass_nseg) * TCP_SEG_OVERHEAD;
    return held > 2ull * p->rcvbuf;
}

/* The device is short of receive buffers (DM_BUF_RX_SCARCE: DPDK's
 * mempool, XDP's UMEM): data that will wait in a queue for the
 * application moves to a buffer of ours (off our pool's reserve, the heap
 * when needed) and the device's goes back at once (Linux collapses its
 * queues under memory pressure for the same reason). Kept as is when
 * there is no memory at all. */
static struct dm_buf *unpin(struct inet_stack *st, struct dm_buf *m, uint32_t len)
{
    struct dm_buf *c = dm_buf_alloc_app(st->inst, len, false);
    if (!c)
        return m;
    dm_buf_copy_out(m, 0, dm_buf_append(c, len), len);
    dm_buf_free(m);
    st->tcp_st.rx_copy_scarce++;
    return c;
}

/* Trim what we already have and what lies beyond the window. Returns the
 * rest, or NULL when nothing is left (m freed, an ACK due). */
static struct dm_buf *trim_to_window(struct tcp_pcb *p, struct dm_buf *m, uint32_t *seq, uint32_t *len)
{
    if (SEQ_LT(*seq, p->rcv_nxt)) {
        uint32_t skip = p->rcv_nxt - *seq;
        if (skip >= *len) {
            p->st->tcp_st.rx_dup++;
            dm_buf_free(m);
            p->flags |= TF_ACK_NOW;
            return NULL;
        }
        m = inet_buf_pull(m, skip);
        *seq += skip;
        *len -= skip;
    }
    uint32_t wnd = (uint32_t)DM_MAX(tcp_seq_diff(p->rcv_adv, p->rcv_nxt), 0);
    uint32_t room = wnd - (*seq - p->rcv_nxt);
    if (*len > room) {
        if (room == 0) {
            dm_buf_free(m);
            p->flags |= TF_ACK_NOW;
            return NULL;
        }
        inet_buf_trim(m, room);
        *len = room;
    }
    return m;
}

/* Data that is not next in order, or arrives while a hole is open: to
 * tcp_reass. Returns false when it lies beyond a hole (answered at once
 * with a duplicate ACK): nothing new for the application. */
static bool reass_input(struct tcp_pcb *p, struct dm_buf *m, uint32_t seq, uint32_t len)
{
    struct inet_stack *st = p->st;
    bool ooo = seq != p->rcv_nxt;
    int r = tcp_reass_insert(&p->reass, m, seq, len, p->rcv_nxt);
    if (r < 0)
        st->tcp_st.rx_ooo_drop++;
    else if (r > 0)
        p->reass_nseg++;
    if (ooo) {
        st->tcp_st.rx_ooo++;
        if (r > 0)
            tcp_sack_rx_note(&p->sack_rx, seq);
        tcp_send_ack(p); /* immediate dup ACK with SACK (RFC 5681 4.2) */
        inet_schedule_flush(st);
        return false;
    }
    struct dm_buf *c;
    while ((c = tcp_reass_pop(&p->reass, &p->rcv_nxt)))
        rcvq_append(p, c);
    if (tcp_reass_empty(&p->reass))
        p->reass_nseg = 0;
    p->flags |= TF_ACK_NOW; /* filled a hole: ACK at once */
    return true;
}

/* When to ACK data received in order. */
static void schedule_data_ack(struct tcp_pcb *p)
{
    struct inet_stack *st = p->st;
    if (p->rx_unacked < UINT8_MAX)
        p->rx_unacked++;
    if (p->flags & TF_ACK_NOW) {
        /* as decided above */
    } else if (p->rcv_nxt - p->last_ack_sent >= 2u * p->mss || p->rx_unacked >= 2) {
        p->flags |= TF_ACK_NOW; /* RFC 5681: at least every second full segment */
    } else if (st->delack_ns == 0 && (p->flags & TF_PINGPONG)) {
        /* its answers have carried our ACKs: wait for this one's, well
         * within the peer's retransmission floor (Linux: 40 ms against
         * 200; a peer of ours has our floor, which may be set lower) */
        if (!dm_timer_pending(&p->delack_timer))
            dm_timer_arm(st->inst, &p->delack_timer, DM_MIN(TCP_ACK_PINGPONG_NS, p->rtt.rto_min_ns / 5));
    } else if (st->delack_ns == 0) {
        /* Not in this poll: the application, which sees the data when
         * the poll returns, usually answers first, and its segment
         * carries the ACK (a pure ACK per request was half the frames
         * of a 64 B echo over memif). Due at the next poll otherwise. */
        p->flags |= TF_ACK_SOON;
        if (!dm_list_linked(&p->ack_link))
            dm_list_add_tail(&st->tcp_ack_list, &p->ack_link);
    } else {
        tcp_arm_delack(p);
    }
}

/* Data of an acceptable segment; m holds exactly the payload. */
static void data_input(struct tcp_pcb *p, struct dm_buf *m, uint32_t seq, uint32_t len)
{
    struct inet_stack *st = p->st;
    m = trim_to_window(p, m, &seq, &len);
    if (!m)
        return;
    if (dm_unlikely(m->ol_flags & DM_BUF_RX_SCARCE))
        m = unpin(st, m, len);
    if (dm_unlikely(rcv_over_limit(p))) {
        /* Tiny segments filled the buffer accounting: drop, the peer
         * retransmits once the application has read. */
        st->tcp_st.rx_nobuf_drop++;
        dm_buf_free(m);
        return;
    }
    st->tcp_st.rx_data_bytes += len;
    if (seq == p->rcv_nxt && tcp_reass_empty(&p->reass)) {
        rcvq_append(p, m);
        p->rcv_nxt += len;
    } else if (!reass_input(p, m, seq, len)) {
        return;
    }
    if ((p->flags & TF_OOO_FIN) && p->rcv_nxt == p->rcv_fin_seq)
        process_fin(p);
    schedule_data_ack(p);
    if (p->q && dm_queue_pop_segs(p->q) > 1 && st->rx.m) {
        /* A reader of several segments a pop: hand it what the whole
         * burst brought (tcp_output_pending, at the burst's end), one
         * completion instead of one per segment. */
        p->flags |= TF_DELIVER;
        tcp_schedule_output(p);
        return;
    }
    tcp_deliver(p);
}

/* ------------------------------------------------- synchronized states */

/* The peer's send window in bytes: scaled, except in a SYN (RFC 7323 2.2). */
static uint32_t peer_wnd(const struct tcp_pcb *p, const struct tcp_seg *sg)
{
    if (sg->flags & TCP_SYN)
        return sg->wnd;
    return sg->wnd << ((p->flags & TF_WS) ? p->snd_wscale : 0);
}

/* SYN-RECEIVED -> ESTABLISHED: the peer acknowledged our SYN. Only the
 * handshake's final ACK takes an RTT sample here (rtt_sample); the
 * SYN-ACK of a simultaneous open does not. */
static void syn_rcvd_establish(struct tcp_pcb *p, const struct tcp_seg *sg, bool rtt_sample)
{
    p->state = TCPS_ESTABLISHED;
    tcp_established(p);
    p->snd_wnd = peer_wnd(p, sg);
    p->snd_wl1 = sg->seq;
    p->snd_wl2 = sg->ack;
    p->max_sndwnd = p->snd_wnd;
    if (rtt_sample && p->rtt.timing)
        tcp_rtt_on_ack(&p->rtt, sg->ack, inet_now(p->st));
    p->snd_una = sg->ack;
    dm_timer_cancel(p->st->inst, &p->rtx_timer);
    tcp_child_established(p);
}

/* PAWS (RFC 7323 5.3): an older timestamp than the last one taken marks
 * an old duplicate. Returns true when the segment is dropped. */
static bool drop_paws(struct tcp_pcb *p, const struct tcp_seg *sg)
{
    if ((p->flags & TF_TS) && (sg->opts.present & TCP_OPTF_TS) && !(sg->flags & TCP_RST) &&
        tcp_seq_diff(sg->opts.tsval, p->ts_recent) < 0) {
        p->st->tcp_st.rx_paws_drop++;
        p->flags |= TF_ACK_NOW;
        tcp_schedule_output(p);
        return true;
    }
    return false;
}

/* Simultaneous open: the peer's SYN-ACK repeats its SYN (already taken)
 * and acknowledges ours (RFC 9293 3.5 figure 8). Its sequence number is
 * left of the window, so it is recognised before the acceptability test.
 * Returns true when the segment was that SYN-ACK. */
static bool simultaneous_open_synack(struct tcp_pcb *p, const struct tcp_seg *sg)
{
    if (p->state == TCPS_SYN_RCVD && !p->parent && (sg->flags & (TCP_SYN | TCP_ACK | TCP_RST)) == (TCP_SYN | TCP_ACK) &&
        sg->seq == p->irs && tcp_seq_between(sg->ack, p->snd_una + 1, p->snd_nxt)) {
        syn_rcvd_establish(p, sg, false);
        p->flags |= TF_ACK_NOW;
        tcp_schedule_output(p);
        return true;
    }
    return false;
}

/* RFC 9293 3.10.7.4, first check: a segment outside the receive window
 * is dropped and, unless it is a RST, answered with an ACK. Returns true
 * when the segment is dropped. */
static bool drop_unacceptable_seq(struct tcp_pcb *p, const struct tcp_seg *sg)
{
    struct inet_stack *st = p->st;
    uint32_t seglen = sg->len + !!(sg->flags & TCP_SYN) + !!(sg->flags & TCP_FIN);
    uint32_t rcv_wnd = (uint32_t)DM_MAX(tcp_seq_diff(p->rcv_adv, p->rcv_nxt), 0);
    if (tcp_seq_acceptable(sg->seq, seglen, p->rcv_nxt, rcv_wnd))
        return false;
    if (p->state == TCPS_SYN_RCVD && (sg->flags & TCP_SYN) && !(sg->flags & TCP_ACK) && sg->seq == p->irs) {
        p->flags |= TF_ACK_NOW; /* retransmitted SYN: SYN-ACK again */
        tcp_schedule_output(p);
        return true;
    }
    if (SEQ_LEQ(sg->seq + seglen, p->rcv_nxt))
        st->tcp_st.rx_dup++;
    else
        st->tcp_st.rx_out_of_window++;
    if (!(sg->flags & TCP_RST)) {
        p->flags |= TF_ACK_NOW;
        tcp_schedule_output(p);
        if (p->state == TCPS_TIME_WAIT && (sg->flags & TCP_FIN))
            tcp_enter_timewait(p); /* our last ACK was lost: restart 2MSL */
    }
    return true;
}

/* RST in the window (RFC 5961 3.2): exactly at rcv_nxt it resets the
 * connection, anywhere else it only earns a challenge ACK. */
static void rst_input(struct tcp_pcb *p, const struct tcp_seg *sg)
{
    struct inet_stack *st = p->st;
    if (sg->seq != p->rcv_nxt) {
        st->tcp_st.rx_rst_bad++;
        send_challenge(p);
        return;
    }
    st->tcp_st.rx_rst_ok++;
    st->tcp_st.conn_reset++;
    if (p->state == TCPS_SYN_RCVD && p->parent)
        tcp_set_closed(p, 0);
    else
        tcp_set_closed(p, p->state == TCPS_CLOSE_WAIT ? EPIPE : ECONNRESET);
}

/* An acceptable segment with an ACK: the peer is alive. */
static void note_peer_alive(struct tcp_pcb *p, const struct tcp_seg *sg)
{
    if ((p->flags & TF_TS) && (sg->opts.present & TCP_OPTF_TS) && SEQ_LEQ(sg->seq, p->last_ack_sent))
        p->ts_recent = sg->opts.tsval; /* RFC 7323 4.3 */
    p->last_rx_ns = inet_now(p->st);
    p->ka_probes = 0;
}

/* SYN-RECEIVED: an ACK of our SYN establishes the connection; any other
 * ACK is answered with a RST. Returns false when the segment ends here
 * (that RST, or the connection closed while handed to the listener). */
static bool syn_rcvd_ack(struct tcp_pcb *p, const struct tcp_seg *sg)
{
    if (!tcp_seq_between(sg->ack, p->snd_una + 1, p->snd_nxt)) {
        tcp_send_rst_reply(p->st, &p->lip, p->lport, &p->rip, p->rport, sg->ack, 0, TCP_RST);
        return false;
    }
    syn_rcvd_establish(p, sg, true);
    return p->state != TCPS_CLOSED;
}

/* RFC 5961 5.2: an ACK of data not sent yet earns an ACK, one further
 * back than snd_una minus the largest window the peer offered earns a
 * challenge ACK; both are dropped. Returns true when the ACK is acceptable. */
static bool ack_acceptable(struct tcp_pcb *p, const struct tcp_seg *sg)
{
    struct inet_stack *st = p->st;
    if (SEQ_GT(sg->ack, p->snd_nxt)) {
        st->tcp_st.rx_ack_future++;
        p->flags |= TF_ACK_NOW;
        tcp_schedule_output(p);
        return false;
    }
    if (SEQ_LT(sg->ack, p->snd_una - p->max_sndwnd)) {
        st->tcp_st.rx_ack_too_old++;
        send_challenge(p);
        return false;
    }
    return true;
}

/* A duplicate ACK (RFC 5681 2: nothing new, no data, same window, data
 * outstanding): the third starts fast retransmit. */
static void dupack_input(struct tcp_pcb *p)
{
    p->st->tcp_st.rx_dupack++;
    p->dupacks++;
    if (p->in_rec == REC_NONE) {
        if (p->dupacks >= 3)
            enter_fast_recovery(p);
        else
            p->lt_segs = p->dupacks; /* RFC 3042: keep the ACK clock going */
    } else if (p->in_rec == REC_FAST && !(p->flags & TF_SACK)) {
        tcp_cc_dupack(&p->cc);
    }
}

/* SACK blocks, then the cumulative ACK: new data acknowledged or a
 * duplicate ACK. Returns true when either moved the sender on. */
static bool ack_input(struct tcp_pcb *p, const struct tcp_seg *sg, uint32_t wnd)
{
    if ((p->flags & TF_SACK) && (sg->opts.present & TCP_OPTF_SACK)) {
        unsigned bogus = 0;
        tcp_sack_sb_update(&p->sb, sg->opts.sack, sg->opts.nsack, p->snd_una, p->snd_nxt, &bogus);
        p->st->tcp_st.rx_sack_bogus += bogus;
    }
    if (SEQ_GT(sg->ack, p->snd_una)) {
        ack_new(p, sg->ack);
        return true;
    }
    if (sg->ack == p->snd_una && sg->len == 0 && !(sg->flags & TCP_FIN) && wnd == p->snd_wnd &&
        p->snd_nxt != p->snd_una) {
        dupack_input(p);
        return true;
    }
    return false;
}

/* Loss seen through SACK: out of recovery, RFC 6675's IsLost (three
 * segments' worth SACKed above snd_una) starts fast recovery; in
 * recovery, holes retransmitted once and still missing are sent again. */
static void sack_loss_check(struct tcp_pcb *p)
{
    if (p->in_rec == REC_NONE && (p->flags & TF_SACK) && p->sb.n &&
        tcp_sack_sb_is_lost(&p->sb, p->snd_una, p->mss, 3))
        enter_fast_recovery(p);
    else if (p->in_rec != REC_NONE && (p->flags & TF_SACK) && SEQ_GT(p->high_rxt, p->snd_una) &&
             SEQ_GT(tcp_sack_sb_high(&p->sb, p->snd_una), p->rtx_round_nxt + 3u * p->mss)) {
        /* Data sent after our retransmissions is being SACKed while they
         * are still missing: they were lost too (the idea of RACK, RFC
         * 8985, at round granularity). Retransmit the holes again now
         * instead of waiting for the RTO. */
        p->st->tcp_st.tx_rtx_lost++;
        p->high_rxt = p->snd_una;
        p->rtx_round_nxt = p->snd_nxt;
    }
}

/* Send window update (RFC 9293 3.10.7.4, SND.WL1/SND.WL2: only from a
 * segment newer than the last one used). Returns true when it opened. */
static bool update_snd_wnd(struct tcp_pcb *p, const struct tcp_seg *sg, uint32_t wnd)
{
    if (!(SEQ_GEQ(sg->ack, p->snd_una) &&
          (SEQ_LT(p->snd_wl1, sg->seq) || (p->snd_wl1 == sg->seq && SEQ_LEQ(p->snd_wl2, sg->ack)))))
        return false;
    bool opened = wnd > p->snd_wnd;
    p->snd_wnd = wnd;
    p->snd_wl1 = sg->seq;
    p->snd_wl2 = sg->ack;
    if (wnd > p->max_sndwnd)
        p->max_sndwnd = wnd;
    if (wnd && (p->flags & TF_PERSIST)) {
        dm_timer_cancel(p->st->inst, &p->rtx_timer);
        p->flags &= ~TF_PERSIST;
    }
    return opened;
}

/* The closing states move on once our FIN is acknowledged. Returns false
 * when the segment ends here (CLOSING, TIME_WAIT, LAST_ACK done). */
static bool closing_states_ack(struct tcp_pcb *p, const struct tcp_seg *sg)
{
    bool fin_acked = (p->flags & TF_FIN_SENT) && p->snd_una == p->snd_nxt;
    switch (p->state) {
    case TCPS_FIN_WAIT_1:
        if (fin_acked) {
            p->state = TCPS_FIN_WAIT_2;
            if (!p->q)
                tcp_arm_keepalive(p); /* orphan FIN_WAIT_2 timeout */
        }
        return true;
    case TCPS_CLOSING:
        if (fin_acked)
            tcp_enter_timewait(p);
        return false;
    case TCPS_LAST_ACK:
        if (fin_acked) {
            tcp_set_closed(p, 0);
            return false;
        }
        return true;
    case TCPS_TIME_WAIT:
        if (sg->flags & TCP_FIN) {
            p->flags |= TF_ACK_NOW;
            tcp_enter_timewait(p); /* restart 2MSL */
            tcp_schedule_output(p);
        }
        return false;
    default:
        return true;
    }
}

/* States in which the application may still receive data. */
static bool receiving(const struct tcp_pcb *p)
{
    return p->state == TCPS_ESTABLISHED || p->state == TCPS_FIN_WAIT_1 || p->state == TCPS_FIN_WAIT_2;
}

/* Data for a socket the application closed resets the connection (RFC
 * 9293 3.10.7.4, as Linux does). Returns true when it did. */
static bool reset_on_data_after_close(struct tcp_pcb *p)
{
    if (receiving(p) && !p->q && (p->flags & TF_ACCEPTED || !p->parent)) {
        p->st->tcp_st.rx_after_close++;
        tcp_send_rst(p);
        tcp_set_closed(p, 0);
        return true;
    }
    return false;
}

/* The payload of an acceptable segment. Returns the buffer when it is
 * still the caller's to free, NULL once it has been taken. */
static struct dm_buf *text_input(struct tcp_pcb *p, struct dm_buf *m, uint32_t hlen, const struct tcp_seg *sg)
{
    if (!receiving(p)) {
        p->flags |= TF_ACK_NOW; /* data after the peer's FIN: ignore */
        tcp_schedule_output(p);
        return m;
    }
    m = inet_buf_pull(m, hlen);
    if (m && m->pkt_len > sg->len)
        inet_buf_trim(m, sg->len);
    if (m) {
        uint32_t before = p->rcv_nxt;
        data_input(p, m, sg->seq, sg->len);
        if (p->rcv_nxt != before)
            tcp_rcv_rtt_measure(p);
    }
    tcp_schedule_output(p);
    return NULL;
}

/* The peer's FIN: taken when all data before it is in, remembered
 * otherwise (data_input takes it once the hole is filled). */
static void fin_input(struct tcp_pcb *p, const struct tcp_seg *sg)
{
    uint32_t fin_seq = sg->seq + sg->len;
    if (fin_seq == p->rcv_nxt && !(p->flags & TF_RCVD_FIN)) {
        process_fin(p);
    } else if (SEQ_GT(fin_seq, p->rcv_nxt)) {
        p->flags |= TF_OOO_FIN;
        p->rcv_fin_seq = fin_seq;
    }
    p->flags |= TF_ACK_NOW;
    tcp_schedule_output(p);
}

/* A segment for a synchronized connection (or one in SYN-RECEIVED), in
 * the order of RFC 9293 3.10.7.4. Each step either passes the segment on
 * or ends its processing (goto drop). */
static void established_input(struct tcp_pcb *p, struct dm_buf *m, uint32_t hlen, const struct tcp_seg *sg)
{
    if (drop_paws(p, sg) || simultaneous_open_synack(p, sg) || drop_unacceptable_seq(p, sg))
        goto drop;
    if (sg->flags & TCP_RST) {
        rst_input(p, sg);
        goto drop;
    }
    if (sg->flags & TCP_SYN) {
        p->st->tcp_st.rx_syn_in_sync++;
        send_challenge(p); /* RFC 5961 4.2 */
        goto drop;
    }
    if (!(sg->flags & TCP_ACK))
        goto drop;
    note_peer_alive(p, sg);
    if (p->state == TCPS_SYN_RCVD && !syn_rcvd_ack(p, sg))
        goto drop;
    if (!ack_acceptable(p, sg))
        goto drop;
    uint32_t wnd = peer_wnd(p, sg);
    bool progress = ack_input(p, sg, wnd);
    sack_loss_check(p);
    if (update_snd_wnd(p, sg, wnd))
        progress = true;
    if (!closing_states_ack(p, sg))
        goto drop;
    if (progress)
        tcp_schedule_output(p);
    if (sg->len) {
        if (reset_on_data_after_close(p))
            goto drop;
        m = text_input(p, m, hlen, sg);
    }
    if (sg->flags & TCP_FIN)
        fin_input(p, sg);
drop:
    if (m)
        dm_buf_free(m);
}

/* Checks before any lookup: length, data offset, checksum (unless the
 * device verified it), a unicast destination of ours, options. Fills sg
 * and *hlen and returns the header, or NULL (counted) to drop. */
static const struct tcp_hdr *parse_segment(struct inet_stack *st, const struct dm_buf *m, uint32_t *hlen,
                                           struct tcp_seg *sg)
{
    uint32_t tlen = m->pkt_len;
    if (dm_unlikely(m->len < TCP_HLEN_MIN || tlen < TCP_HLEN_MIN)) {
        st->tcp_st.rx_short++;
        return NULL;
    }
    const struct tcp_hdr *th = (const struct tcp_hdr *)m->data;
    *hlen = (uint32_t)(th->off >> 4) * 4;
    if (dm_unlikely(*hlen < TCP_HLEN_MIN || *hlen > tlen || *hlen > m->len)) {
        st->tcp_st.rx_bad_off++;
        return NULL;
    }
    if (!(m->ol_flags & DM_BUF_RX_L4_CKSUM_GOOD)) {
        uint32_t ps = inet_pseudo_sum(&st->rx.src, &st->rx.dst, IPPROTO_TCP_, tlen);
        if (dm_unlikely((m->ol_flags & DM_BUF_RX_L4_CKSUM_BAD) ||
                        inet_csum_fold(inet_csum_chain(m, 0, tlen, ps)) != 0)) {
            st->tcp_st.rx_bad_csum++;
            return NULL;
        }
    }
    /* unicast to one of our addresses only (IPv4 broadcast, IPv6 multicast: no) */
    if (dm_unlikely(!inet_is_ours(st, &st->rx.dst) || th->sport == 0 || th->dport == 0)) {
        st->tcp_st.rx_no_pcb++;
        return NULL;
    }
    if (dm_unlikely(tcp_opt_parse((const uint8_t *)th + TCP_HLEN_MIN, *hlen - TCP_HLEN_MIN, &sg->opts) < 0)) {
        st->tcp_st.rx_bad_opt++;
        return NULL;
    }
    sg->seq = ntohl(th->seq);
    sg->ack = ntohl(th->ack);
    sg->flags = th->flags;
    sg->wnd = ntohs(th->wnd);
    sg->len = tlen - *hlen;
    return th;
}

/* RFC 6191 / RFC 9293 3.6.1: a new incarnation may reuse TIME-WAIT. A
 * plain SYN for an orphan TIME-WAIT connection, above its sequence
 * space or with a newer timestamp, frees it when a listener can take
 * the SYN. Returns the connection for the segment (NULL once freed). */
static struct tcp_pcb *timewait_reuse(struct inet_stack *st, struct tcp_pcb *p, const struct tcp_hdr *th,
                                      const struct tcp_seg *sg)
{
    if (!p->q && (sg->flags & TCP_SYN) && !(sg->flags & (TCP_ACK | TCP_RST)) &&
        (SEQ_GT(sg->seq, p->rcv_nxt) ||
         ((p->flags & TF_TS) && (sg->opts.present & TCP_OPTF_TS) && tcp_seq_diff(sg->opts.tsval, p->ts_recent) > 0))) {
        struct tcp_pcb *l = tcp_lookup_listener(st, &st->rx.dst, th->dport);
        if (l) {
            st->tcp_st.conn_timewait_reuse++;
            tcp_pcb_free(p);
            return NULL;
        }
    }
    return p;
}

/* A segment no connection or listener of ours takes, on a port other
 * processes share: one of them may have it (a connection made after this
 * process's listener closed: nginx's old worker at a reload, whose queue
 * still gets new flows while it finishes its connections; or one whose
 * frames the port placed on our queue after a quiet spell). Handed on as
 * it came (Ethernet header first) instead of a reset; the device takes it
 * round the other processes, each once, and says no when none is left:
 * then the caller resets (RSTs too go round: the owner must see them).
 * True: m consumed. */
static bool forward_stray(struct inet_stack *st, struct dm_buf *m, const struct tcp_hdr *th)
{
    if (!inet_forward_stray(st, m, (uint32_t)m->l2_len + m->l3_len, th->sport, th->dport))
        return false;
    st->tcp_st.rx_forwarded++;
    return true;
}

void tcp_input(struct inet_stack *st, struct dm_buf *m)
{
    st->tcp_st.rx++;
    struct tcp_seg sg;
    uint32_t hlen;
    const struct tcp_hdr *th = parse_segment(st, m, &hlen, &sg);
    if (!th)
        goto drop;
    struct tcp_pcb *p = tcp_lookup(st, &st->rx.dst, th->dport, &st->rx.src, th->sport);
    if (p && p->state == TCPS_TIME_WAIT)
        p = timewait_reuse(st, p, th, &sg);
    if (!p) {
        struct tcp_pcb *l = tcp_lookup_listener(st, &st->rx.dst, th->dport);
        if (l) {
            listen_input(st, l, th, &sg);
        } else if (forward_stray(st, m, th)) {
            return;
        } else if ((sg.flags & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN && dm_dev_peers_starting(st->dev)) {
            /* no process of the port listens yet, but one has just come
             * up (a worker before its listen()): its client sends the SYN
             * again in a second, as to a full backlog, instead of being
             * refused (dm_dev_ops.peers_starting) */
            st->tcp_st.rx_syn_early++;
        } else {
            st->tcp_st.rx_no_pcb++;
            reply_rst(st, th, &sg);
        }
        goto drop;
    }
    if (p->state == TCPS_SYN_SENT) {
        syn_sent_input(p, th, &sg);
        goto drop;
    }
    if (p->state == TCPS_CLOSED || p->state == TCPS_LISTEN)
        goto drop;
    established_input(p, m, hlen, &sg);
    return;
drop:
    dm_buf_free(m);
}
