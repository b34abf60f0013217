/* SPDX-License-Identifier: MIT */
/*
 * TCP timers, three per connection on the instance's timing wheel:
 *   rtx_timer    retransmission (RFC 6298: back-off, Karn via tcp_rtt),
 *                SYN / SYN-ACK retransmission, and the zero-window persist
 *                timer (TF_PERSIST: probes with seq snd_una - 1, backed off);
 *   misc_timer   keepalive (SO_KEEPALIVE, TCP_KEEPIDLE/INTVL/CNT),
 *                TIME_WAIT (DEMI_TCP_TIMEWAIT_MS) and the timeout of an
 *                orphaned FIN_WAIT_2;
 *   delack_timer delayed ACK when DEMI_TCP_DELACK_MS > 0.
 * Callbacks run from the instance's poll loop; they queue segments and let
 * the flush task hand them to the device, and never free a PCB directly
 * (tcp_set_closed defers that to the output pass).
 */
#include "tcp_priv.h"

static void rtx_fire(struct dm_timer *t)
{
    struct tcp_pcb *p = t->arg;
    struct inet_stack *st = p->st;
    int64_t now = inet_now(st);

    if (p->flags & TF_PERSIST) {
        st->tcp_st.tx_zwp++;
        tcp_send_probe(p);
        if (p->persist_backoff < 16)
            p->persist_backoff++;
        tcp_arm_persist(p);
        inet_schedule_flush(st);
        return;
    }
    if (p->state == TCPS_SYN_SENT || p->state == TCPS_SYN_RCVD) {
        if (p->syn_retries_left == 0) {
            st->tcp_st.conn_timeout++;
            tcp_set_closed(p, p->state == TCPS_SYN_SENT ? tcp_timeout_err(p) : 0);
            return;
        }
        p->syn_retries_left--;
        tcp_rtt_backoff(&p->rtt);
        st->tcp_st.tx_syn_retrans++;
        tcp_send_syn(p);
        tcp_arm_rtx(p);
        inet_schedule_flush(st);
        return;
    }
    if (p->snd_una == p->snd_nxt || !tcp_can_send_data(p))
        return;
    if (tcp_rtt_backoffs(&p->rtt) >= st->rtx_retries) {
        st->tcp_st.conn_timeout++;
        tcp_send_rst(p);
        tcp_set_closed(p, tcp_timeout_err(p));
        inet_schedule_flush(st);
        return;
    }
    st->tcp_st.tx_rto++;
    tcp_cc_on_rto(&p->cc, p->snd_nxt - p->snd_una, now);
    /* Keep the scoreboard on the first timeout (retransmit only what the
     * peer lacks); forget it on repeated ones in case the peer reneged
     * (RFC 2018 8: SACKed data stays queued until cumulatively ACKed). */
    if (tcp_rtt_backoffs(&p->rtt) > 0)
        tcp_sack_sb_reset(&p->sb);
    tcp_rtt_backoff(&p->rtt);
    p->in_rec = REC_RTO;
    p->recover = p->snd_nxt;
    p->high_rxt = p->snd_una;
    p->rtx_round_nxt = p->snd_nxt;
    p->dupacks = 0;
    p->flags &= ~TF_RTX_UNA;
    tcp_output(p);
    if (!dm_timer_pending(&p->rtx_timer))
        tcp_arm_rtx(p);
    inet_schedule_flush(st);
}

static void misc_fire(struct dm_timer *t)
{
    struct tcp_pcb *p = t->arg;
    struct inet_stack *st = p->st;
    int64_t now = inet_now(st);
    switch (p->state) {
    case TCPS_TIME_WAIT:
        tcp_set_closed(p, 0);
        return;
    case TCPS_FIN_WAIT_2:
        if (!p->q) {
            tcp_set_closed(p, 0);
            return;
        }
        break;
    default:
        break;
    }
    if (!(p->flags & TF_KEEPALIVE) || p->state < TCPS_ESTABLISHED)
        return;
    int64_t idle = now - p->last_rx_ns;
    if (p->ka_probes == 0 && idle < p->ka_idle_ns) {
        dm_timer_arm(st->inst, &p->misc_timer, p->ka_idle_ns - idle);
        return;
    }
    if (p->ka_probes > 0 && idle < p->ka_idle_ns) {
        /* the peer answered since the last probe */
        p->ka_probes = 0;
        dm_timer_arm(st->inst, &p->misc_timer, p->ka_idle_ns - idle);
        return;
    }
    if (p->ka_probes >= p->ka_cnt) {
        st->tcp_st.conn_keepalive_drop++;
        tcp_send_rst(p);
        tcp_set_closed(p, tcp_timeout_err(p));
        inet_schedule_flush(st);
        return;
    }
    p->ka_probes++;
    st->tcp_st.tx_keepalive++;
    tcp_send_probe(p);
    inet_schedule_flush(st);
    dm_timer_arm(st->inst, &p->misc_timer, p->ka_intvl_ns);
}

static void delack_fire(struct dm_timer *t)
{
    struct tcp_pcb *p = t->arg;
    p->flags &= ~TF_PINGPONG; /* no answer came in time: ACK at once from now on */
    if (p->rcv_nxt != p->last_ack_sent && p->state >= TCPS_ESTABLISHED) {
        p->flags |= TF_ACK_NOW;
        tcp_schedule_output(p);
    }
}

void tcp_timers_init(struct tcp_pcb *p)
{
    dm_timer_init(&p->rtx_timer, rtx_fire, p);
    dm_timer_init(&p->misc_timer, misc_fire, p);
    dm_timer_init(&p->delack_timer, delack_fire, p);
}

void tcp_timers_stop(struct tcp_pcb *p)
{
    struct dm_instance *inst = p->st->inst;
    dm_timer_cancel(inst, &p->rtx_timer);
    dm_timer_cancel(inst, &p->misc_timer);
    dm_timer_cancel(inst, &p->delack_timer);
    p->flags &= ~TF_PERSIST;
}

void tcp_arm_rtx(struct tcp_pcb *p)
{
    p->flags &= ~TF_PERSIST;
    dm_timer_arm(p->st->inst, &p->rtx_timer, tcp_rtt_rto(&p->rtt));
}

void tcp_arm_persist(struct tcp_pcb *p)
{
    struct inet_stack *st = p->st;
    int64_t d = tcp_rtt_rto(&p->rtt);
    for (unsigned i = 0; i < p->persist_backoff && d < st->rto_max_ns; i++)
        d *= 2;
    if (d > st->rto_max_ns)
        d = st->rto_max_ns;
    p->flags |= TF_PERSIST;
    dm_timer_arm(st->inst, &p->rtx_timer, d);
}

void tcp_arm_keepalive(struct tcp_pcb *p)
{
    struct inet_stack *st = p->st;
    if (p->state == TCPS_TIME_WAIT) {
        dm_timer_arm(st->inst, &p->misc_timer, st->timewait_ns);
    } else if (p->state == TCPS_FIN_WAIT_2 && !p->q) {
        dm_timer_arm(st->inst, &p->misc_timer, DM_MAX(st->timewait_ns, 10 * DM_NS_PER_S));
    } else if (p->flags & TF_KEEPALIVE) {
        p->ka_probes = 0;
        dm_timer_arm(st->inst, &p->misc_timer, p->ka_idle_ns);
    } else {
        dm_timer_cancel(st->inst, &p->misc_timer);
    }
}

void tcp_arm_delack(struct tcp_pcb *p)
{
    if (!dm_timer_pending(&p->delack_timer))
        dm_timer_arm(p->st->inst, &p->delack_timer, p->st->delack_ns);
}
