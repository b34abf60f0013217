/* SPDX-License-Identifier: MIT */
/*
 * TCP output: building segments and deciding what to send.
 *
 * tcp_xmit() builds one segment: a header buffer from the pool carries
 * Ethernet + IPv4 + TCP (+ options) in its headroom and the payload follows
 * as slices of the send queue (or a copy when the device cannot take
 * chains). tcp_output() is the sender's decision, in this order:
 *   1. NewReno: the segment at snd_una when a dup-ACK or partial ACK asks;
 *   2. loss recovery: holes (RFC 6675 NextSeg via the SACK scoreboard, or
 *      everything unacknowledged after an RTO) while pipe < cwnd;
 *   3. new data within min(receive window, cwnd), Nagle (RFC 9293
 *      3.7.4) unless TCP_NODELAY, and sender-side SWS avoidance;
 *   4. the FIN once all data has gone;
 *   5. a pure ACK when one is owed and nothing else carried it.
 * It then arms the retransmission or the persist timer.
 */
#include <string.h>
#include "tcp_priv.h"
#include "csum.h"

/* The slice holding seq and seq's offset in it; NULL past the end. */
static struct dm_buf *sndq_find(struct tcp_pcb *p, uint32_t seq, uint32_t *off)
{
    struct dm_buf *s = p->snd_cur;
    if (!s || SEQ_GT((uint32_t)s->udata, seq))
        s = p->sndq_head;
    while (s && SEQ_GEQ(seq, (uint32_t)s->udata + s->len))
        s = s->next;
    if (s)
        *off = seq - (uint32_t)s->udata;
    return s;
}

void tcp_sndq_ack(struct tcp_pcb *p, uint32_t bytes)
{
    if (bytes > p->sndq_bytes)
        bytes = p->sndq_bytes;
    p->sndq_bytes -= bytes;
    while (bytes && p->sndq_head) {
        struct dm_buf *h = p->sndq_head;
        if (h->len <= bytes) {
            bytes -= h->len;
            p->sndq_head = h->next;
            if (p->snd_cur == h)
                p->snd_cur = NULL;
            h->next = NULL;
            dm_buf_free_seg(h);
        } else {
            h->data += bytes;
            h->len -= bytes;
            h->pkt_len = h->len;
            h->udata = (uint32_t)((uint32_t)h->udata + bytes);
            bytes = 0;
        }
    }
    if (!p->sndq_head) {
        p->sndq_tail = NULL;
        p->snd_cur = NULL;
    }
}

uint32_t tcp_rcv_window(struct tcp_pcb *p)
{
    uint32_t used = p->rcvq_bytes + tcp_reass_bytes(&p->reass) +
                    (p->rcvq_nseg + p->reass_nseg) * TCP_SEG_OVERHEAD;
    uint32_t space = used < p->rcvbuf ? p->rcvbuf - used : 0;
    int32_t cur = tcp_seq_diff(p->rcv_adv, p->rcv_nxt);
    if (cur < 0)
        cur = 0;
    /* Receiver SWS avoidance (RFC 9293 3.8.6.2.2): never shrink the right
     * edge, and only move it when it grows by min(rcvbuf/2, mss). */
    uint32_t thresh = DM_MIN(p->rcvbuf / 2, (uint32_t)p->mss);
    if (space <= (uint32_t)cur || space - (uint32_t)cur < thresh)
        return (uint32_t)cur;
    return space;
}

/* The 16-bit window field; updates rcv_adv. */
static uint16_t tcp_wnd_field(struct tcp_pcb *p, bool syn)
{
    uint32_t w = tcp_rcv_window(p);
    uint8_t shift = (!syn && (p->flags & TF_WS)) ? p->rcv_wscale : 0;
    uint32_t f = w >> shift;
    if (f > 0xffff)
        f = 0xffff;
    uint32_t adv = p->rcv_nxt + (f << shift);
    if (SEQ_GT(adv, p->rcv_adv) || syn)
        p->rcv_adv = adv;
    return (uint16_t)f;
}

static void tcp_finish(struct inet_stack *st, struct dm_buf *m, const struct inet_addr *lip,
                       const struct inet_addr *rip)
{
    struct tcp_hdr *th = (struct tcp_hdr *)m->data;
    uint16_t tlen = (uint16_t)m->pkt_len;
    /* TSO: the device adds each segment's length (DM_BUF_TX_TCP_SEG) */
    uint32_t ps = inet_pseudo_sum(lip, rip, IPPROTO_TCP_, (m->ol_flags & DM_BUF_TX_TCP_SEG) ? 0 : tlen);
    th->csum = 0;
    /* IPv6 only on devices that say so (DM_DEV_CAP_TX_L4_CKSUM6) */
    if (st->tx_tcp_csum && (inet_addr_is_v4(rip) || st->tx_l4_csum6)) {
        th->csum = (uint16_t)~inet_csum_fold(ps);
        m->ol_flags |= DM_BUF_TX_TCP_CKSUM;
    } else {
        th->csum = inet_csum_fold(inet_csum_chain(m, 0, tlen, ps));
    }
    st->tcp_st.tx++;
    inet_ip_output(st, m, lip, rip, IPPROTO_TCP_);
}

/* Payload bytes one piece of a TSO frame carries, with l34 bytes of IP
 * and TCP headers: the MSS, or less where the device cuts shorter pieces
 * (dm_dev_info.tso_piece_max: DPDK's tap counts the Ethernet header in
 * its MTU). */
static uint32_t tcp_tso_segsz(const struct tcp_pcb *p, uint32_t l34)
{
    uint32_t seg = p->mss, cap = p->st->info.tso_piece_max;
    if (cap && seg + l34 + ETH_HLEN > cap)
        seg = cap >= l34 + ETH_HLEN + 64u ? cap - l34 - ETH_HLEN : 64u;
    return seg;
}

/*
 * Sends [seq, seq+len) of sequence space with `flags`. len counts data
 * only; SYN and FIN are in flags. Returns 0 or -ENOBUFS.
 */
static int tcp_xmit(struct tcp_pcb *p, uint32_t seq, uint32_t len, uint8_t flags, bool newdata)
{
    struct inet_stack *st = p->st;
    struct dm_buf *m = inet_alloc_tx(st, st->tx_multiseg ? 0 : len);
    if (dm_unlikely(!m)) {
        st->tcp_st.tx_nobuf++;
        return -ENOBUFS;
    }
    if (len) {
        uint32_t off = 0;
        struct dm_buf *s = sndq_find(p, seq, &off);
        if (dm_unlikely(!s || inet_attach_payload(st, m, s, off, len) < 0)) {
            dm_buf_free(m);
            st->tcp_st.tx_nobuf++;
            return -ENOBUFS;
        }
        if (newdata)
            p->snd_cur = s;
    }
    uint8_t opt[TCP_OPT_MAX_LEN];
    int optlen = 0;
    int64_t now = inet_now(st);
    if (flags & TCP_SYN) {
        struct tcp_opt_syn so = {
            .mss = (uint16_t)(st->mtu - tcp_ip_overhead(p)),
            .wscale = p->rcv_wscale,
            .want_wscale = 1,
            .want_sack_perm = 1,
            .want_ts = 1,
            .tsval = tcp_ts_clock(now),
            .tsecr = 0,
        };
        if (p->state == TCPS_SYN_RCVD) { /* SYN-ACK: only what the SYN offered */
            so.want_wscale = !!(p->flags & TF_WS);
            so.want_sack_perm = !!(p->flags & TF_SACK);
            so.want_ts = !!(p->flags & TF_TS);
            so.tsecr = p->ts_recent;
        }
        optlen = tcp_opt_write_syn(opt, sizeof(opt), &so);
    } else {
        struct tcp_sack_block blk[TCP_OPT_SACK_MAX];
        unsigned nblk = 0;
        bool ts = p->flags & TF_TS;
        if ((p->flags & TF_SACK) && !tcp_reass_empty(&p->reass) && (flags & TCP_ACK)) {
            struct tcp_sack_block r[TCP_REASS_MAX_RANGES];
            unsigned nr = tcp_reass_ranges(&p->reass, r, TCP_REASS_MAX_RANGES);
            nblk = tcp_sack_rx_blocks(&p->sack_rx, r, nr, p->rcv_nxt, blk,
                                      ts ? TCP_OPT_SACK_MAX_TS : TCP_OPT_SACK_MAX);
        }
        /* each segment of a TSO frame carries the options */
        int room = (int)st->mtu - (int)tcp_ip_overhead(p) - (int)DM_MIN(len, (uint32_t)p->mss);
        if (room > TCP_OPT_MAX_LEN)
            room = TCP_OPT_MAX_LEN;
        if (room < 0)
            room = 0;
        if (ts || nblk)
            optlen = tcp_opt_write_ack(opt, (size_t)room, ts, tcp_ts_clock(now), p->ts_recent, blk, nblk);
    }
    if (optlen < 0)
        optlen = 0;
    struct tcp_hdr *th = (struct tcp_hdr *)dm_buf_prepend(m, (uint32_t)(TCP_HLEN_MIN + optlen));
    if (dm_unlikely(!th)) {
        dm_buf_free(m);
        st->tcp_st.tx_nobuf++;
        return -ENOBUFS;
    }
    memcpy(th + 1, opt, (size_t)optlen);
    th->sport = p->lport;
    th->dport = p->rport;
    th->seq = htonl(seq);
    th->ack = (flags & TCP_ACK) ? htonl(p->rcv_nxt) : 0;
    th->off = (uint8_t)(((TCP_HLEN_MIN + optlen) / 4) << 4);
    th->flags = flags;
    th->wnd = htons(tcp_wnd_field(p, flags & TCP_SYN));
    th->urp = 0;
    m->l4_len = (uint8_t)(TCP_HLEN_MIN + optlen);
    if (len > p->mss) { /* tcp_tso_len chose it: the device cuts it up */
        uint32_t seg = tcp_tso_segsz(p, tcp_ip_overhead(p) + (uint32_t)optlen);
        uint32_t segs = (len + seg - 1u) / seg;
        m->ol_flags |= DM_BUF_TX_TCP_SEG;
        m->tso_segsz = (uint16_t)seg;
        st->tcp_st.tx_tso++;
        st->tcp_st.tx_tso_segs += segs;
        st->ip_id = (uint16_t)(st->ip_id + segs - 1u); /* the device numbers them */
    }
    if (flags & TCP_ACK) {
        /* data soon after the peer's last segment: the application
         * answers what it gets, and our next ACKs wait for its answers
         * (TF_PINGPONG; Linux's test, tcp_event_data_sent) */
        if (len && p->state == TCPS_ESTABLISHED && inet_now(st) - p->last_rx_ns < TCP_ACK_PINGPONG_NS)
            p->flags |= TF_PINGPONG;
        p->last_ack_sent = p->rcv_nxt;
        p->flags &= ~(TF_ACK_NOW | TF_ACK_SOON); /* (tcp_acks_due skips it) */
        p->rx_unacked = 0;
        if (dm_timer_pending(&p->delack_timer))
            dm_timer_cancel(st->inst, &p->delack_timer);
    }
    if (len) {
        st->tcp_st.tx_data_bytes += len;
        if (!newdata) {
            st->tcp_st.tx_retrans++;
            st->tcp_st.tx_retrans_bytes += len;
        }
    }
    tcp_finish(st, m, &p->lip, &p->rip);
    return 0;
}

int tcp_send_syn(struct tcp_pcb *p)
{
    uint8_t fl = TCP_SYN | (p->state == TCPS_SYN_RCVD ? TCP_ACK : 0);
    return tcp_xmit(p, p->iss, 0, fl, false);
}

void tcp_send_ack(struct tcp_pcb *p)
{
    p->st->tcp_st.tx_ack++;
    tcp_xmit(p, p->snd_nxt, 0, TCP_ACK, false);
}

void tcp_send_probe(struct tcp_pcb *p)
{
    tcp_xmit(p, p->snd_una - 1, 0, TCP_ACK, false);
}

void tcp_send_rst(struct tcp_pcb *p)
{
    p->st->tcp_st.tx_rst++;
    tcp_xmit(p, p->snd_nxt, 0, TCP_RST | TCP_ACK, false);
}

void tcp_send_rst_reply(struct inet_stack *st, const struct inet_addr *lip, uint16_t lport,
                        const struct inet_addr *rip, uint16_t rport, uint32_t seq, uint32_t ack, uint8_t flags)
{
    struct dm_buf *m = inet_alloc_tx(st, 0);
    if (!m) {
        st->tcp_st.tx_nobuf++;
        return;
    }
    struct tcp_hdr *th = (struct tcp_hdr *)dm_buf_prepend(m, TCP_HLEN_MIN);
    th->sport = lport;
    th->dport = rport;
    th->seq = htonl(seq);
    th->ack = htonl(ack);
    th->off = (TCP_HLEN_MIN / 4) << 4;
    th->flags = flags;
    th->wnd = 0;
    th->urp = 0;
    m->l4_len = TCP_HLEN_MIN;
    st->tcp_st.tx_rst++;
    tcp_finish(st, m, lip, rip);
    inet_schedule_flush(st);
}

/* Sends a piece of already-sent sequence space again (data and/or FIN). */
static int tcp_rexmit(struct tcp_pcb *p, uint32_t seq, uint32_t len)
{
    uint32_t data = 0;
    if (SEQ_LT(seq, p->snd_end))
        data = DM_MIN(len, p->snd_end - seq);
    uint8_t fl = TCP_ACK;
    if ((p->flags & TF_FIN_SENT) && seq + data == p->snd_end && SEQ_GEQ(seq + len, p->snd_nxt))
        fl |= TCP_FIN;
    if (data == 0 && !(fl & TCP_FIN))
        return 0;
    tcp_rtt_time_cancel(&p->rtt); /* Karn */
    if (data)
        fl |= TCP_PSH;
    return tcp_xmit(p, seq, data, fl, false);
}

/*
 * How much new data one frame takes, given `room` (unsent data within the
 * windows) of which one MSS passed the sender's tests: with TSO, whole
 * MSS-sized segments up to the device's limit and as many payload slices
 * as its chains take (else the attach would copy); the short tail only
 * when nothing else follows and it would go at once anyway (TCP_NODELAY,
 * a FIN to send): under Nagle it waits as a segment of its own would.
 */
static uint32_t tcp_tso_len(struct tcp_pcb *p, uint32_t room, uint32_t unsent)
{
    struct inet_stack *st = p->st;
    uint32_t mss = p->mss;
    if (!(inet_addr_is_v4(&p->rip) ? st->tx_tso : st->tx_tso6) || room <= mss)
        return DM_MIN(mss, room);
    /* (its pieces counted at their shortest: the most options) */
    uint32_t pieces = DM_DEV_TSO_SEGS_MAX * tcp_tso_segsz(p, tcp_ip_overhead(p) + TCP_OPT_MAX_LEN);
    uint32_t max = DM_MIN(room, DM_MIN(st->tso_max, pieces));
    /* the payload's slices, one per send-queue buffer it spans */
    uint32_t off = 0, got = 0;
    unsigned slices = 0;
    for (struct dm_buf *s = sndq_find(p, p->snd_nxt, &off); s && got < max; s = s->next, off = 0) {
        if (++slices + 1u > st->info.max_segs)
            break;
        got += s->len - off;
    }
    max = DM_MIN(max, got);
    if (max == unsent && (p->flags & (TF_NODELAY | TF_FIN_PENDING)))
        return max; /* everything, its short tail too */
    max -= max % mss;
    return DM_MAX(max, mss);
}

/* Bytes considered in the network (RFC 6675 pipe, or an estimate). */
static uint32_t tcp_pipe(struct tcp_pcb *p)
{
    if (p->in_rec == REC_FAST && (p->flags & TF_SACK))
        return tcp_sack_sb_pipe(&p->sb, p->snd_una, p->snd_nxt, p->high_rxt, p->mss, 3);
    if (p->in_rec == REC_RTO) {
        uint32_t pipe = 0;
        if (SEQ_GT(p->high_rxt, p->snd_una))
            pipe = p->high_rxt - p->snd_una;
        if (SEQ_GT(p->snd_nxt, p->recover))
            pipe += p->snd_nxt - p->recover;
        uint32_t sacked = p->sb.sacked;
        return pipe > sacked ? pipe - sacked : 0;
    }
    return p->snd_nxt - p->snd_una;
}

/* After an RTO everything unacknowledged and not SACKed is lost. */
static bool tcp_next_rto_hole(struct tcp_pcb *p, uint32_t *seq, uint32_t *len)
{
    uint32_t s = SEQ_GT(p->high_rxt, p->snd_una) ? p->high_rxt : p->snd_una;
    uint32_t end = SEQ_LT(p->recover, p->snd_nxt) ? p->recover : p->snd_nxt;
    for (unsigned i = 0; i < p->sb.n; i++) {
        const struct tcp_sack_block *b = &p->sb.r[i];
        if (SEQ_GEQ(s, b->start) && SEQ_LT(s, b->end))
            s = b->end;
    }
    if (SEQ_GEQ(s, end))
        return false;
    for (unsigned i = 0; i < p->sb.n; i++)
        if (SEQ_GT(p->sb.r[i].start, s) && SEQ_LT(p->sb.r[i].start, end))
            end = p->sb.r[i].start;
    *seq = s;
    *len = DM_MIN((uint32_t)p->mss, end - s);
    return true;
}

void tcp_output(struct tcp_pcb *p)
{
    struct inet_stack *st = p->st;
    unsigned sent = 0;
    bool blocked = false;

    if (p->state == TCPS_CLOSED || p->state == TCPS_LISTEN)
        return;
    if (p->state == TCPS_SYN_RCVD || p->state == TCPS_SYN_SENT) {
        if (p->flags & TF_ACK_NOW) {
            p->flags &= ~TF_ACK_NOW;
            if (p->state == TCPS_SYN_RCVD)
                tcp_send_syn(p);
        }
        return;
    }
    if (p->flags & TF_CHALLENGE) {
        p->flags &= ~TF_CHALLENGE;
        tcp_send_ack(p);
        sent++;
    }
    if (tcp_can_send_data(p)) {
        uint32_t cwnd = p->cc.cwnd;
        if (p->in_rec == REC_NONE && p->lt_segs)
            cwnd += (uint32_t)p->lt_segs * p->mss;
        if (p->flags & TF_RTX_UNA) {
            p->flags &= ~TF_RTX_UNA;
            uint32_t l = DM_MIN((uint32_t)p->mss, p->snd_nxt - p->snd_una);
            if (l && tcp_rexmit(p, p->snd_una, l) == 0) {
                sent++;
                if (SEQ_LT(p->high_rxt, p->snd_una + l))
                    p->high_rxt = p->snd_una + l;
            }
        }
        if ((p->in_rec == REC_FAST && (p->flags & TF_SACK)) || p->in_rec == REC_RTO) {
            for (unsigned i = 0; i < 256; i++) {
                if (tcp_pipe(p) >= cwnd)
                    break;
                uint32_t seq, len;
                bool ok = p->in_rec == REC_RTO
                              ? tcp_next_rto_hole(p, &seq, &len)
                              : tcp_sack_sb_next_hole(&p->sb, p->snd_una, p->high_rxt, p->mss, 3, &seq, &len);
                if (!ok)
                    break;
                if (!inet_tx_room(st)) {
                    blocked = true;
                    break;
                }
                if (tcp_rexmit(p, seq, len) < 0)
                    break;
                p->high_rxt = seq + len;
                sent++;
            }
        }
        /* New data. */
        while (!(p->flags & TF_FIN_SENT)) {
            uint32_t unsent = p->snd_end - p->snd_nxt;
            if (!unsent)
                break;
            int32_t wnd_left = tcp_seq_diff(p->snd_una + p->snd_wnd, p->snd_nxt);
            uint32_t pipe = tcp_pipe(p);
            if (wnd_left <= 0 || pipe >= cwnd)
                break;
            uint32_t len = DM_MIN((uint32_t)p->mss, unsent);
            len = DM_MIN(len, (uint32_t)wnd_left);
            len = DM_MIN(len, cwnd - pipe);
            bool idle = p->snd_nxt == p->snd_una;
            if (len < p->mss && len < unsent && !idle)
                break; /* sender SWS avoidance: wait for a bigger window */
            if (len < p->mss && len == unsent && !idle && !(p->flags & (TF_NODELAY | TF_FIN_PENDING)))
                break; /* Nagle */
            if (!inet_tx_room(st)) {
                blocked = true;
                break;
            }
            if (len == p->mss)
                len = tcp_tso_len(p, DM_MIN(DM_MIN(unsent, (uint32_t)wnd_left), cwnd - pipe), unsent);
            bool fin = (p->flags & TF_FIN_PENDING) && len == unsent;
            uint8_t fl = TCP_ACK | TCP_PSH | (fin ? TCP_FIN : 0);
            if (tcp_xmit(p, p->snd_nxt, len, fl, true) < 0)
                break;
            p->snd_nxt += len + fin;
            if (fin)
                p->flags |= TF_FIN_SENT;
            if (!p->rtt.timing)
                tcp_rtt_time_start(&p->rtt, p->snd_nxt, inet_now(st));
            sent++;
        }
        if ((p->flags & TF_FIN_PENDING) && !(p->flags & TF_FIN_SENT) && p->snd_nxt == p->snd_end) {
            if (tcp_xmit(p, p->snd_nxt, 0, TCP_ACK | TCP_FIN, true) == 0) {
                p->snd_nxt++;
                p->flags |= TF_FIN_SENT;
                sent++;
            }
        }
    }
    if ((p->flags & TF_ACK_NOW) && !sent)
        tcp_send_ack(p);
    if (blocked)
        tcp_schedule_output(p); /* device full: go on at the next poll */

    if (p->snd_nxt != p->snd_una) {
        if (!dm_timer_pending(&p->rtx_timer) || (p->flags & TF_PERSIST))
            tcp_arm_rtx(p);
    } else if (p->snd_end != p->snd_nxt && !(p->flags & TF_FIN_SENT) && tcp_can_send_data(p) &&
               !dm_timer_pending(&p->rtx_timer)) {
        tcp_arm_persist(p); /* window closed with data waiting */
    }
}
