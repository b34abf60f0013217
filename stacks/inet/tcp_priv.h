/* SPDX-License-Identifier: MIT */
/*
 * TCP internals shared by tcp.c (PCBs, table, socket API), tcp_in.c
 * (segment arrival, RFC 9293 3.10.7), tcp_out.c (segment construction,
 * what to send next) and tcp_timer.c (RTO, persist, delayed ACK,
 * keepalive, TIME_WAIT).
 *
 * A connection is one struct tcp_pcb from a table preallocated at create
 * (DEMI_TCP_MAX_CONNS): no allocation on any packet path. The first cache
 * lines hold what every segment touches (lookup keys, sequence variables,
 * flags); buffers, algorithms and timers follow.
 *
 * Send queue: every pushed segment becomes a dm_buf slice (a reference on
 * the application's buffer, no copy) linked through `next`, whose `udata`
 * holds the sequence number of its first byte. Segments sent to the device
 * are slices of those slices chained after a header buffer. The queue is
 * trimmed as ACKs arrive, so data lives exactly until it is acknowledged.
 *
 * Receive queue: in-order payload chains linked through `udata`, popped one
 * received segment per demi_pop. Out-of-order data waits in tcp_reass.
 *
 * Sequence space: snd_nxt never moves backwards; retransmissions (fast
 * recovery holes, RTO go-back) are driven by high_rxt, so "what has been
 * sent at least once" and "what is being resent" stay apart.
 */
#ifndef INET_TCP_PRIV_H
#define INET_TCP_PRIV_H

#include "inet_priv.h"
#include "tcp_cc.h"
#include "tcp_isn.h"
#include "tcp_opt.h"
#include "tcp_reass.h"
#include "tcp_rtt.h"
#include "tcp_sack.h"
#include "tcp_seq.h"

enum tcp_state {
    TCPS_CLOSED = 0,
    TCPS_LISTEN,
    TCPS_SYN_SENT,
    TCPS_SYN_RCVD,
    TCPS_ESTABLISHED,
    TCPS_FIN_WAIT_1,
    TCPS_FIN_WAIT_2,
    TCPS_CLOSE_WAIT,
    TCPS_CLOSING,
    TCPS_LAST_ACK,
    TCPS_TIME_WAIT,
};

/* pcb->flags */
#define TF_ACK_NOW     (1u << 0)  /* send an ACK at the next output */
#define TF_NODELAY     (1u << 1)  /* TCP_NODELAY: no Nagle */
#define TF_FIN_PENDING (1u << 2)  /* shutdown(WR)/close: FIN goes after the data */
#define TF_FIN_SENT    (1u << 3)  /* our FIN has a sequence number (snd_end) */
#define TF_RCVD_FIN    (1u << 4)  /* peer's FIN consumed: EOF for pops */
#define TF_TS          (1u << 5)  /* timestamps negotiated */
#define TF_SACK        (1u << 6)  /* SACK negotiated */
#define TF_WS          (1u << 7)  /* window scaling negotiated */
#define TF_KEEPALIVE   (1u << 8)
#define TF_REUSEADDR   (1u << 9)
#define TF_SHUT_RD     (1u << 10)
#define TF_BOUND       (1u << 11) /* holds a ref on tcp_port_refs[lport] */
#define TF_FREE_ME     (1u << 12) /* orphaned and closed: free at the next output pass */
#define TF_OOO_FIN     (1u << 13) /* a FIN beyond rcv_nxt was seen at rcv_fin_seq */
#define TF_RTX_UNA     (1u << 14) /* NewReno: retransmit the segment at snd_una now */
#define TF_ACCEPTED    (1u << 15) /* child handed to the application */
#define TF_PERSIST     (1u << 16) /* rtx timer is the zero-window persist timer */
#define TF_CHALLENGE   (1u << 17) /* send a challenge ACK (RFC 5961) */
#define TF_V6          (1u << 18) /* an AF_INET6 socket (addresses reported as sockaddr_in6) */
#define TF_V6ONLY      (1u << 19) /* IPV6_V6ONLY: a :: listener takes no IPv4 */
#define TF_ACK_SOON    (1u << 20) /* in-order data to ACK: by our next segment (the
                                     application's answer), else at the next poll */
#define TF_LINGER0     (1u << 21) /* SO_LINGER {1, 0}: close resets */
#define TF_RCVBUF_LOCK (1u << 22) /* SO_RCVBUF set: no receive buffer auto-tuning */
#define TF_PINGPONG    (1u << 23) /* the application's answers carry our ACKs: wait for them */
#define TF_DELIVER     (1u << 24) /* data queued for pops: deliver at the end of the RX burst */

enum { REC_NONE = 0, REC_FAST, REC_RTO };

/* How long in-order data waits for the application's answer to carry
 * its ACK on a connection whose answers have been doing so (TF_PINGPONG,
 * Linux's "pingpong" mode; with DEMI_TCP_DELACK_MS=0, the default). A
 * busy server answers a request only after those queued before it: nginx
 * over XDP (1 worker, wrk -c256, ~110k req/s) answered ~2 ms after a
 * request came, and the ACK due at the next poll went out alone for every
 * request, a frame and a device kick as dear as the answer's. Linux waits
 * 40 ms at least; its ACK timer firing ends the mode (the application
 * did not answer: it waits for more, as a Nagle-bound client's next
 * small write), as here. Two data segments are ACKed at once, as Linux
 * does (its receive MSS follows the segments it gets). */
#define TCP_ACK_PINGPONG_NS (10 * DM_NS_PER_MS)

/* What a queued received segment costs beyond its payload (buffer header,
 * unused buffer space), like Linux's truesize: a peer sending tiny
 * segments must not pin thousands of pool buffers per connection. The
 * receive window accounts it, and a connection holds at most
 * 2 * SO_RCVBUF of payload + overhead. */
#define TCP_SEG_OVERHEAD 256u

struct tcp_pcb {
    /* --- lookup and per-segment hot state --- */
    struct inet_sock s;
    uint8_t state;
    uint8_t in_rec;          /* REC_* */
    uint8_t dupacks;
    uint8_t lt_segs;         /* RFC 3042 limited transmit: segments allowed beyond cwnd */
    uint32_t flags;          /* TF_* */
    struct tcp_pcb *hnext;   /* hash chain; free list link */
    uint16_t lport, rport;   /* network order */
    struct inet_addr lip, rip; /* IPv4 v4-mapped; lip may be a wildcard (unbound, listener) */

    uint32_t snd_una, snd_nxt, snd_wnd, snd_wl1, snd_wl2, max_sndwnd;
    uint32_t snd_end;        /* seq after the last queued byte (where a FIN goes) */
    uint32_t iss, recover, high_rxt;
    uint32_t rtx_round_nxt;  /* snd_nxt when this round of retransmissions began */
    uint32_t rcv_nxt, rcv_adv, irs, rcv_fin_seq;
    uint32_t ts_recent, last_ack_sent;
    uint16_t mss;            /* effective send MSS (payload, options excluded) */
    uint16_t peer_mss;
    uint8_t snd_wscale, rcv_wscale;
    uint8_t syn_retries_left;
    uint8_t ka_probes;

    /* --- buffers --- */
    struct dm_buf *sndq_head, *sndq_tail;
    struct dm_buf *snd_cur;  /* cursor: a slice at or before snd_nxt (or NULL) */
    uint32_t sndq_bytes, sndbuf;
    struct dm_buf *rcvq_head, *rcvq_tail;
    uint32_t rcvq_bytes, rcvbuf;
    uint32_t rcvq_nseg, reass_nseg; /* buffers held (reass: an upper bound) */
    /* receive buffer auto-tuning (Linux's tcp_rcv_space_adjust, tcp.c) */
    uint32_t rcv_rtt_seq;    /* this receive-RTT measurement ends when rcv_nxt passes it */
    uint32_t space_copied;   /* bytes the application took since space_ns */
    uint32_t space;          /* the most it took in one receive RTT so far */
    int64_t rcv_rtt_ns;      /* time for a window of data to arrive (0: not measured) */
    int64_t rcv_rtt_start_ns, space_ns;
    struct dm_queue *q;      /* NULL once the application closed it */
    struct inet_stack *st;
    int err;                 /* pending error (positive errno) for SO_ERROR / ops */
    int soft_err;            /* an ICMP error seen while open: a timeout reports it instead of ETIMEDOUT */

    /* --- listener / child --- */
    struct tcp_pcb *parent;
    struct tcp_pcb *lnext;   /* listener hash chain */
    struct dm_list child;    /* in the parent's synq or acceptq */
    struct dm_list synq, acceptq;
    uint16_t backlog, nsynq, nacceptq;

    struct dm_list out_link; /* in st->tcp_out_list */
    struct dm_list ack_link; /* in st->tcp_ack_list while TF_ACK_SOON */
    struct dm_list tw_link;  /* in st->tcp_tw_list while in TIME_WAIT */

    /* --- algorithms --- */
    struct tcp_cc cc;
    struct tcp_rtt rtt;
    struct tcp_sack_sb sb;
    struct tcp_sack_rx sack_rx;
    struct tcp_reass reass;

    /* --- timers --- */
    struct dm_timer rtx_timer;   /* RTO / SYN retransmit / persist */
    struct dm_timer misc_timer;  /* keepalive, TIME_WAIT, orphan FIN_WAIT_2 */
    struct dm_timer delack_timer;
    int64_t last_rx_ns;
    int64_t ka_idle_ns, ka_intvl_ns;
    uint8_t ka_cnt;
    uint8_t persist_backoff;
    uint8_t rx_unacked;      /* data segments since our last ACK (2: ACK at once) */
    const struct tcp_cc_ops *cc_ops;
};

/* tcp.c */
int tcp_init(struct inet_stack *st, const struct dm_config *cfg);
void tcp_fini(struct inet_stack *st);
struct tcp_pcb *tcp_lookup(struct inet_stack *st, const struct inet_addr *lip, uint16_t lport,
                           const struct inet_addr *rip, uint16_t rport);
struct tcp_pcb *tcp_lookup_listener(struct inet_stack *st, const struct inet_addr *lip, uint16_t lport);
struct tcp_pcb *tcp_pcb_alloc(struct inet_stack *st);
void tcp_hash_insert(struct inet_stack *st, struct tcp_pcb *p);
void tcp_setup_conn(struct tcp_pcb *p);       /* buffers/algorithms before SYN */
void tcp_established(struct tcp_pcb *p);       /* negotiated options -> mss etc. */
/* Moves to CLOSED with error err (0: graceful); frees when orphaned. */
void tcp_set_closed(struct tcp_pcb *p, int err);
void tcp_pcb_free(struct tcp_pcb *p);
void tcp_schedule_output(struct tcp_pcb *p);
/* The ACKs left for an answer that did not come: due now (inet_poll, before
 * it reads the device). */
void tcp_acks_due(struct inet_stack *st);
void tcp_output_pending(struct inet_stack *st);
void tcp_deliver(struct tcp_pcb *p);           /* complete pops from rcvq */
void tcp_fill_sndq(struct tcp_pcb *p);         /* admit pending pushes */
void tcp_child_established(struct tcp_pcb *c);
void tcp_accept_ready(struct tcp_pcb *l);
void tcp_fail_ops(struct tcp_pcb *p, int err);
void tcp_enter_timewait(struct tcp_pcb *p);
uint32_t tcp_gen_isn(struct inet_stack *st, struct tcp_pcb *p);

int tcp_socket(struct inet_stack *st, struct dm_queue *q, bool v6);
int tcp_bind(struct inet_stack *st, struct tcp_pcb *p, const struct inet_addr *a, uint16_t port);
int tcp_listen(struct inet_stack *st, struct tcp_pcb *p, int backlog);
int tcp_accept(struct inet_stack *st, struct tcp_pcb *p, struct dm_op *op);
int tcp_connect(struct inet_stack *st, struct tcp_pcb *p, const struct inet_addr *a, uint16_t port,
                struct dm_op *op);
int tcp_push(struct inet_stack *st, struct tcp_pcb *p, struct dm_op *op);
int tcp_pop(struct inet_stack *st, struct tcp_pcb *p, struct dm_op *op);
int tcp_shutdown(struct inet_stack *st, struct tcp_pcb *p, int how);
int tcp_close(struct inet_stack *st, struct tcp_pcb *p);
/* In-order data advanced rcv_nxt: one step of the receive-RTT measurement. */
void tcp_rcv_rtt_measure(struct tcp_pcb *p);
/* A connection the application closed still has data or its FIN to get
 * acknowledged (ops->tx_busy). */
bool tcp_orphans_busy(struct inet_stack *st);
bool tcp_peers_slow(struct inet_stack *st);
int tcp_setsockopt(struct inet_stack *st, struct tcp_pcb *p, int level, int name, const void *val, socklen_t len);
int tcp_getsockopt(struct inet_stack *st, struct tcp_pcb *p, int level, int name, void *val, socklen_t *len);

/* tcp_in.c */
void tcp_input(struct inet_stack *st, struct dm_buf *m);

/* tcp_out.c */
void tcp_output(struct tcp_pcb *p);
int tcp_send_syn(struct tcp_pcb *p);           /* SYN or SYN-ACK (by state) */
void tcp_send_ack(struct tcp_pcb *p);
void tcp_send_probe(struct tcp_pcb *p);        /* seq snd_una-1: keepalive / zero window */
void tcp_send_rst(struct tcp_pcb *p);          /* abort: RST from our state */
/* RST in reply to a segment that has no connection (RFC 9293 3.10.7.1). */
void tcp_send_rst_reply(struct inet_stack *st, const struct inet_addr *lip, uint16_t lport,
                        const struct inet_addr *rip, uint16_t rport, uint32_t seq, uint32_t ack, uint8_t flags);
uint32_t tcp_rcv_window(struct tcp_pcb *p);    /* what we would advertise now */
void tcp_sndq_ack(struct tcp_pcb *p, uint32_t bytes);

/* tcp_timer.c */
void tcp_timers_init(struct tcp_pcb *p);
void tcp_timers_stop(struct tcp_pcb *p);
void tcp_arm_rtx(struct tcp_pcb *p);
void tcp_arm_persist(struct tcp_pcb *p);
void tcp_arm_keepalive(struct tcp_pcb *p);
void tcp_arm_delack(struct tcp_pcb *p);

/* IP + TCP header bytes per segment on this connection (MSS = MTU - this). */
static inline uint32_t tcp_ip_overhead(const struct tcp_pcb *p)
{
    return inet_addr_is_v4(&p->rip) ? IP_HLEN_MIN + TCP_HLEN_MIN : IP6_HLEN + TCP_HLEN_MIN;
}

/* What a connection that timed out reports: the last ICMP error it saw
 * (a router's host unreachable), else ETIMEDOUT (Linux's tcp_write_err,
 * sk_err_soft). */
static inline int tcp_timeout_err(const struct tcp_pcb *p) { return p->soft_err ? p->soft_err : ETIMEDOUT; }

static inline bool tcp_can_send_data(const struct tcp_pcb *p)
{
    return p->state == TCPS_ESTABLISHED || p->state == TCPS_CLOSE_WAIT || p->state == TCPS_FIN_WAIT_1 ||
           p->state == TCPS_CLOSING || p->state == TCPS_LAST_ACK;
}

#endif /* INET_TCP_PRIV_H */
