/* SPDX-License-Identifier: MIT */
/*
 * stacks/inet internals: the per-instance context (struct inet_stack) that
 * every module of the stack works on, the sockets, and the module entry
 * points. Nothing here is visible outside stacks/inet (and its tests).
 *
 * Ownership and flow:
 *   inet.c   poll(): rx_burst -> eth_input() per frame -> arp/ipv4/ipv6 ->
 *            icmp/icmp6(+nd6)/udp/tcp input; then TCP output of the
 *            connections touched by the burst; then one tx_burst of
 *            everything queued.
 *   Output:  a module builds its L4 header in front of the payload (in the
 *            headroom of a header buffer), inet_ip_output() prepends IPv4
 *            or IPv6 by the destination's family, eth_output_ip() resolves
 *            the next hop (ARP or neighbour discovery: one neighbour cache,
 *            arp.c) and queues the frame in st->tx; inet_tx_flush() hands
 *            the batch to the device.
 * Addresses of sockets and connections are struct inet_addr: 16 bytes,
 * IPv4 stored v4-mapped (::ffff:a.b.c.d), so one compare and one hash
 * serve both families and a dual-stack listener sees IPv4 peers as Linux
 * reports them. Addresses and ports are kept in network byte order
 * everywhere (they are compared against and copied to headers); sequence
 * numbers in host order.
 */
#ifndef INET_PRIV_H
#define INET_PRIV_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include "dm/buf.h"
#include "dm/device.h"
#include "dm/instance.h"
#include "dm/list.h"
#include "dm/queue.h"
#include "dm/timer.h"
#include "csum.h"
#include "wire.h"

#define INET_RX_BURST   32
#define INET_TX_BATCH   64
#define ARP_TABLE_SIZE  256          /* power of two */
#define ARP_PENDING_MAX 48           /* frames queued per unresolved entry: a 64 KiB datagram's fragments */

struct tcp_pcb;
struct tcp_cc_ops;

/* ------------------------------------------------------------ addresses */
/* An address of either family; IPv4 is ::ffff:a.b.c.d (RFC 4291 2.5.5.2).
 * Wildcards: ::ffff:0.0.0.0 is IPv4's INADDR_ANY, :: is IPv6's (which a
 * dual-stack socket uses for both). */
struct inet_addr {
    union {
        uint8_t b[16];
        uint32_t w[4];
        uint64_t q[2];
    };
};

static inline bool inet_addr_eq(const struct inet_addr *a, const struct inet_addr *b)
{
    return a->q[0] == b->q[0] && a->q[1] == b->q[1];
}
static inline bool inet_addr_is_v4(const struct inet_addr *a)
{
    return a->q[0] == 0 && a->w[2] == htonl(0xffff);
}
static inline bool inet_addr_is_zero(const struct inet_addr *a) { return (a->q[0] | a->q[1]) == 0; }
/* Either wildcard (see above). */
static inline bool inet_addr_is_any(const struct inet_addr *a)
{
    return inet_addr_is_zero(a) || (inet_addr_is_v4(a) && a->w[3] == 0);
}
static inline struct inet_addr inet_addr_v4(uint32_t ip)
{
    struct inet_addr a = {.w = {0, 0, htonl(0xffff), ip}};
    return a;
}
static inline bool inet_addr_is_mcast6(const struct inet_addr *a) { return a->b[0] == 0xff; }
static inline bool inet_addr_is_ll6(const struct inet_addr *a) { return a->b[0] == 0xfe && (a->b[1] & 0xc0) == 0x80; }

/* ------------------------------------------------------------ counters */
/* Each struct is registered with dm_stats under its module name; the name
 * tables live in inet.c next to the registration and must follow the field
 * order here. */
struct eth_stats {
    uint64_t rx, rx_short, rx_not_ours, rx_bad_type, tx, tx_drop_full, rx_nobuf;
};
struct arp_stats {
    uint64_t rx, rx_bad, rx_request, rx_reply, tx_request, tx_reply, resolved,
        queue_drop, timeout, nobuf;
};
struct ip_stats {
    uint64_t rx, rx_short, rx_bad_version, rx_bad_hlen, rx_bad_len, rx_bad_csum,
        rx_not_ours, rx_frag_drop, rx_bad_proto, rx_ttl_zero, tx, tx_no_route, tx_nobuf,
        rx_frag, rx_reasm_ok, rx_reasm_drop, tx_frag;
};
struct icmp_stats {
    uint64_t rx, rx_short, rx_bad_csum, rx_echo, tx_echo_reply, tx_unreach, rx_other, rx_unreach,
        rx_unreach_sock;
};
struct ip6_stats {
    uint64_t rx, rx_short, rx_bad_version, rx_bad_len, rx_bad_src, rx_not_ours, rx_frag_drop,
        rx_bad_ext, rx_ext_unknown_opt, rx_bad_proto, tx, tx_no_route, tx_nobuf,
        rx_frag, rx_reasm_ok, rx_reasm_drop, tx_frag;
};
struct icmp6_stats {
    uint64_t rx, rx_short, rx_bad_csum, rx_echo, tx_echo_reply, tx_unreach, rx_error, rx_other,
        rx_mld_query, tx_mld_report, rx_unreach_sock;
};
struct udp_stats {
    uint64_t rx, rx_short, rx_bad_len, rx_bad_csum, rx_no_port, rx_queue_full, tx, tx_nobuf, rx_forwarded,
        rx_early;
};
struct tcp_stats {
    uint64_t rx, rx_short, rx_bad_off, rx_bad_csum, rx_bad_opt, rx_no_pcb, rx_syn_drop_backlog,
        rx_syn_drop_nomem, rx_out_of_window, rx_rst_bad, rx_rst_ok, rx_challenge_ack,
        rx_ack_too_old, rx_ack_future, rx_dup, rx_ooo, rx_ooo_drop, rx_data_bytes,
        rx_syn_in_sync, rx_sack_bogus, rx_nobuf_drop, rx_dupack,
        tx, tx_data_bytes, tx_retrans, tx_retrans_bytes, tx_fast_retrans, tx_rto,
        tx_rst, tx_ack, tx_nobuf, tx_zwp, tx_keepalive, tx_syn_retrans,
        conn_active, conn_passive, conn_reset, conn_timeout, conn_timewait_reuse,
        conn_keepalive_drop, challenge_ack_limited, rx_paws_drop, rx_after_close, tx_rtx_lost,
        conn_timewait_recycle, rx_copy_scarce, rcvbuf_grow, tx_pmtu_shrink, rx_forwarded, rx_syn_early,
        tx_tso, tx_tso_segs;
};

/* ------------------------------------------------------------ neighbours */
/* One cache for ARP (IPv4) and neighbour discovery (IPv6), told apart by
 * the address family; counters in arp_st / nd_st (same layout). */
enum { ARP_FREE = 0, ARP_PENDING, ARP_RESOLVED, ARP_STATIC };

struct arp_entry {
    struct inet_addr ip;          /* all zero = never used slot */
    uint8_t mac[ETH_ALEN];
    uint8_t state;
    uint8_t retries;
    uint8_t npending;
    int64_t expires_ns;           /* resolved: age out; pending: next retry */
    struct dm_buf *pending[ARP_PENDING_MAX];
};

/* ------------------------------------------------------------ sockets */
enum inet_sock_kind { INET_SOCK_UDP = 1, INET_SOCK_TCP = 2 };

/* Common head of a queue's backend socket (q->priv). */
struct inet_sock {
    uint8_t kind;
};

struct udp_sock {
    struct inet_sock s;
    bool bound, connected;
    bool v6, v6only;              /* an AF_INET6 socket; IPV6_V6ONLY */
    struct inet_addr lip, rip;
    uint16_t lport, rport;
    uint32_t rcvq_bytes, rcvbuf;
    struct dm_buf *rcvq_head, *rcvq_tail; /* datagrams; udata links, ol_flags free */
    struct dm_queue *q;
    struct udp_sock *hnext;       /* port hash chain */
    int err;                      /* an ICMP error not reported yet (Linux's sk_err) */
};

/* ------------------------------------------------------------ the stack */
struct ipfrag_table;
struct inet_stack {
    struct dm_instance *inst;
    struct dm_dev *dev;
    struct dm_dev_info info;
    uint8_t mac[ETH_ALEN];
    uint32_t ip, mask, gw;        /* network order; gw 0 = none */
    /* IPv6: the link-local address (from the MAC, always), the configured
     * one (DEMI_IPV6; zero: none) and its prefix, the gateway (DEMI_GATEWAY6;
     * zero: none), and the multicast MACs we accept (solicited-node groups
     * of our addresses, all-nodes). */
    struct inet_addr ip6_ll, ip6, gw6;
    uint8_t ip6_plen;
    uint8_t n_mc_mac;
    uint8_t mc_mac[3][ETH_ALEN];
    /* MLDv2 reports still to send for our solicited-node groups (so that
     * switches that snoop MLD forward solicitations to us), and when */
    uint8_t mld_left, mld_rectype;
    int64_t mld_next_ns;
    uint16_t mtu;                 /* IP MTU */
    bool tx_multiseg;             /* device takes chains: payload is never copied */
    bool tx_ip_csum, tx_tcp_csum, tx_udp_csum, rx_csum;
    bool tx_l4_csum6;              /* tx_tcp_csum and tx_udp_csum hold for IPv6 too */
    bool tx_tso, tx_tso6;          /* DEMI_TSO and the device's TSO for TCP over IPv4 / IPv6 */
    uint32_t tso_max;              /* the most TCP payload in one TSO frame */
    uint16_t ip_id;
    uint32_t ip6_frag_id;
    struct ipfrag_table *frag;    /* ip_frag.c: datagrams being reassembled */

    /* TX batch, flushed once per poll and by the flush task */
    uint16_t ntx;
    struct dm_buf *tx[INET_TX_BATCH];
    struct dm_task flush_task;

    /* per-packet parse state of the frame being processed (not file statics) */
    struct {
        struct dm_buf *m;         /* the frame */
        struct inet_addr src, dst;
        int64_t now;
    } rx;

    /* ARP */
    struct arp_entry arp[ARP_TABLE_SIZE];
    struct dm_timer arp_timer;
    int64_t arp_ttl_ns;

    /* UDP */
    struct udp_sock *udp_ports[256];  /* hash by local port */
    uint16_t udp_next_port;

    /* TCP */
    struct tcp_pcb *pcbs;         /* preallocated table */
    uint32_t max_conns, nfree;
    struct tcp_pcb *free_pcbs;
    struct tcp_pcb **hash;        /* 4-tuple hash buckets */
    uint32_t hash_mask;
    struct tcp_pcb *listeners[64];/* by local port */
    uint32_t nlisteners;          /* in listeners[] (the device hears when it is 0 or not) */
    uint16_t *tcp_port_refs;      /* pcbs using each local port (65536) */
    uint16_t tcp_next_port;
    uint32_t hash_seed;
    uint8_t isn_key[16];
    struct dm_list tcp_out_list;  /* pcbs that have output to do after RX */
    struct dm_list tcp_ack_list;  /* pcbs with TF_ACK_SOON */
    struct dm_list tcp_tw_list;   /* TIME_WAIT pcbs, oldest first (recycled when the table is full) */
    const struct tcp_cc_ops *cc;
    int64_t timewait_ns, delack_ns, rto_min_ns, rto_init_ns, rto_max_ns;
    uint32_t sndbuf_def, rcvbuf_def;
    uint32_t rcvbuf_max;          /* DEMI_TCP_RCVBUF_MAX: auto-tuning's ceiling */
    uint32_t syn_retries, rtx_retries;
    int64_t chack_window_start;   /* RFC 5961 challenge ACK rate limit */
    uint32_t chack_count, chack_limit;

    struct eth_stats eth_st;
    struct arp_stats arp_st;
    struct ip_stats ip_st;
    struct icmp_stats icmp_st;
    struct ip6_stats ip6_st;
    struct icmp6_stats icmp6_st;
    struct arp_stats nd_st;
    struct udp_stats udp_st;
    struct tcp_stats tcp_st;
};

/* ------------------------------------------------------------ helpers */
static inline int64_t inet_now(struct inet_stack *st) { return dm_now_ns(st->inst); }

/* Removes n bytes from the front of a chain, freeing segments emptied;
 * returns the new head (NULL if all consumed, then the chain is freed). */
struct dm_buf *inet_buf_pull(struct dm_buf *m, uint32_t n);
/* Truncates a chain to len bytes (Ethernet padding), freeing tail segments. */
void inet_buf_trim(struct dm_buf *m, uint32_t len);
/* Does dst need the gateway? returns the next-hop address, 0 when unreachable. */
uint32_t inet_next_hop(struct inet_stack *st, uint32_t dst);
/* Either family: is dst reachable (on link or through a gateway)? */
bool inet_reachable(struct inet_stack *st, const struct inet_addr *dst);
/* A received frame no socket of this process takes, on a port other
 * processes share: put back at its Ethernet header (back: the bytes
 * before m->data) and handed to the device, which takes it round the
 * other processes (dm_dev_forward), picked by the flow's ports and the
 * sender. True: m consumed; false: m as it was. */
bool inet_forward_stray(struct inet_stack *st, struct dm_buf *m, uint32_t back, uint16_t sport, uint16_t dport);
/* Our source address towards dst (IPv6: link-local for link-local
 * destinations, DEMI_IPV6's otherwise); false when we have none. */
bool inet_src_for(struct inet_stack *st, const struct inet_addr *dst, struct inet_addr *src);
/* Is a one of our IPv6 unicast addresses? */
bool inet_is_ours6(struct inet_stack *st, const struct inet_addr *a);
/* Prepends the IP header of dst's family and sends. Consumes m. */
int inet_ip_output(struct inet_stack *st, struct dm_buf *m, const struct inet_addr *src,
                   const struct inet_addr *dst, uint8_t proto);
/* TCP/UDP pseudo-header sum for either family. */
static inline uint32_t inet_pseudo_sum(const struct inet_addr *src, const struct inet_addr *dst, uint8_t proto,
                                       uint32_t len)
{
    if (dm_likely(inet_addr_is_v4(dst)))
        return inet_csum_pseudo(src->w[3], dst->w[3], proto, (uint16_t)len);
    return inet_csum_pseudo6(src->w, dst->w, proto, len);
}
/* Is a one of our unicast addresses (either family)? */
static inline bool inet_is_ours(const struct inet_stack *st, const struct inet_addr *a);
/* IP header + extension headers in front of the L4 data in a frame that
 * still starts at its IP header (m->l3_len, set by ipv4/ipv6 input). */
static inline uint32_t inet_l3_len(const struct dm_buf *m) { return m->l3_len; }

/* inet.c */
void inet_tx_enqueue(struct inet_stack *st, struct dm_buf *frame);
void inet_tx_flush(struct inet_stack *st);
/* Room for one more frame in the TX batch (flushing if needed)? false when
 * the device is full: senders stop and retry at the next poll. */
bool inet_tx_room(struct inet_stack *st);
void inet_schedule_flush(struct inet_stack *st);
int inet_input_frame(struct inet_stack *st, struct dm_buf *m); /* fuzz entry too */

/* eth.c */
void eth_input(struct inet_stack *st, struct dm_buf *m);
/* Prepends Ethernet and queues for TX (resolving the next hop via ARP or
 * neighbour discovery by its family). Consumes m. */
int eth_output_ip(struct inet_stack *st, struct dm_buf *m, const struct inet_addr *nexthop);
void eth_output_raw(struct inet_stack *st, struct dm_buf *m, const uint8_t *dst, uint16_t type);

/* arp.c */
void arp_init(struct inet_stack *st);
void arp_fini(struct inet_stack *st);
void arp_input(struct inet_stack *st, struct dm_buf *m);
/* 1: mac filled; 0: m queued waiting for resolution (consumed); <0 error (m freed). */
int arp_resolve(struct inet_stack *st, const struct inet_addr *ip, struct dm_buf *m, uint8_t *mac);
int arp_add_static(struct inet_stack *st, const struct inet_addr *ip, const uint8_t *mac);
/* A neighbour told us its MAC (ARP or ND); creates the entry if `create`. */
void arp_update(struct inet_stack *st, const struct inet_addr *ip, const uint8_t *mac, bool create);
struct arp_entry *arp_find(struct inet_stack *st, const struct inet_addr *ip);

/* ipv4.c */
void ipv4_input(struct inet_stack *st, struct dm_buf *m);
/* Prepends an IPv4 header in front of the L4 data at m->data and sends.
 * Consumes m. */
int ipv4_output(struct inet_stack *st, struct dm_buf *m, uint32_t src, uint32_t dst, uint8_t proto);

/* icmp.c */
void icmp_input(struct inet_stack *st, struct dm_buf *m);
/* m: the offending packet with data at its IP header (not consumed). */
void icmp_send_port_unreach(struct inet_stack *st, const struct dm_buf *m);

/* ipv6.c */
void ipv6_input(struct inet_stack *st, struct dm_buf *m);
/* Prepends an IPv6 header (hop limit `hops`) in front of the L4 data and
 * sends. Consumes m. */
int ipv6_output(struct inet_stack *st, struct dm_buf *m, const struct inet_addr *src,
                const struct inet_addr *dst, uint8_t nxt, uint8_t hops);

/* ip_frag.c. A fragment as ipv4_input/ipv6_input parsed it: hlen bytes
 * before its payload (the IPv6 one's fragment header included), its
 * payload's offset and length, MF; IPv6: nh_at, where the next header byte
 * that names the fragment header is, and proto, the one after it. */
struct ipfrag_in {
    uint32_t id, hlen, off, len, nh_at;
    uint8_t proto;
    bool more, v6;
};
int ipfrag_init(struct inet_stack *st);
void ipfrag_fini(struct inet_stack *st);
/* Consumes m; returns the whole datagram (at its IP header, as if it had
 * come in one piece, l3_len the length of its IP headers) when m
 * completes one, else NULL. */
struct dm_buf *ipfrag_input(struct inet_stack *st, struct dm_buf *m, const struct ipfrag_in *f);
/* m (the IP payload) too long for the MTU: sends it as fragments through
 * next hop nh. Consumes m. */
int ipfrag_output4(struct inet_stack *st, struct dm_buf *m, uint32_t src, uint32_t dst, uint8_t proto,
                   const struct inet_addr *nh);
int ipfrag_output6(struct inet_stack *st, struct dm_buf *m, const struct inet_addr *src,
                   const struct inet_addr *dst, uint8_t nxt, uint8_t hops, const struct inet_addr *nh);
/* Link-local, multicast, or inside DEMI_IPV6's prefix? */
bool ipv6_on_link(const struct inet_stack *st, const struct inet_addr *dst);
/* ff02::1:ffXX:XXXX for a */
struct inet_addr ipv6_solicited_node(const struct inet_addr *a);
void ipv6_init_addrs(struct inet_stack *st);

/* icmp6.c (ICMPv6 and neighbour discovery) */
void icmp6_input(struct inet_stack *st, struct dm_buf *m);
/* m: the offending packet with data at its IPv6 header (not consumed). */
void icmp6_send_port_unreach(struct inet_stack *st, const struct dm_buf *m);
void nd6_send_ns(struct inet_stack *st, const struct inet_addr *target);
/* Sends a due MLDv2 report (from the neighbour timer). */
void mld_tick(struct inet_stack *st, int64_t now);
/* Announces our groups: two unsolicited reports, 1 s apart (RFC 3810 6.1). */
void mld_start(struct inet_stack *st);

/* udp.c */
void udp_input(struct inet_stack *st, struct dm_buf *m);
int udp_socket(struct inet_stack *st, struct dm_queue *q, bool v6);
int udp_bind(struct inet_stack *st, struct udp_sock *u, const struct inet_addr *a, uint16_t port);
/* a NULL: forget the peer (connect AF_UNSPEC) */
int udp_connect(struct inet_stack *st, struct udp_sock *u, const struct inet_addr *a, uint16_t port,
                struct dm_op *op);
/* dst NULL: the connected peer */
int udp_push(struct inet_stack *st, struct udp_sock *u, const struct inet_addr *dst, uint16_t dport,
             struct dm_op *op);
int udp_pop(struct inet_stack *st, struct udp_sock *u, struct dm_op *op);
/* An ICMP or ICMPv6 error quoting a packet of ours (icmp.c): proto and
 * the addresses from the quoted IP header, l4 its first 8 bytes past it;
 * err and hard as Linux converts the error, mtu a fragmentation needed's
 * or packet too big's (else 0). True when a socket took it. */
bool icmp_quote_deliver(struct inet_stack *st, uint8_t proto, const struct inet_addr *src,
                        const struct inet_addr *dst, const uint8_t *l4, int err, bool hard, uint32_t mtu);
/* A destination-unreachable error quoting a datagram we sent: true when a
 * connected socket took it (err, an errno, for its next pop). */
bool udp_icmp_error(struct inet_stack *st, const struct inet_addr *src, uint16_t sport,
                    const struct inet_addr *dst, uint16_t dport, int err);
/* The same quoting a TCP segment of ours (seq: its sequence number): true
 * when a connection still opening took it and ended (tcp.c). */
bool tcp_icmp_error(struct inet_stack *st, const struct inet_addr *src, uint16_t sport,
                    const struct inet_addr *dst, uint16_t dport, uint32_t seq, int err);
/* The same for a path MTU below ours (fragmentation needed, packet too
 * big): true when the connection's MSS shrank (tcp.c). */
bool tcp_icmp_pmtu(struct inet_stack *st, const struct inet_addr *src, uint16_t sport,
                   const struct inet_addr *dst, uint16_t dport, uint32_t seq, uint32_t mtu);
int udp_close(struct inet_stack *st, struct udp_sock *u);

/* inet.c: an address as a socket of family AF_INET6 (v6) or AF_INET
 * reports it (an AF_INET6 socket sees IPv4 peers v4-mapped, as Linux). */
void inet_sockaddr_out(const struct inet_addr *a, uint16_t port, bool v6, union dm_sockaddr *out);

/* tcp*.c: see tcp_priv.h */



static inline bool inet_is_ours(const struct inet_stack *st, const struct inet_addr *a)
{
    if (dm_likely(inet_addr_is_v4(a)))
        return a->w[3] == st->ip;
    return inet_is_ours6((struct inet_stack *)st, a);
}

/* A buffer for an outgoing packet: DM_BUF_HEADROOM in front for headers
 * and, when `copy_len` > 0, that much tailroom for a payload copy. */
struct dm_buf *inet_alloc_tx(struct inet_stack *st, uint32_t copy_len);
/* Appends bytes [off, off+len) of the chain starting at seg to hdr: slices
 * (zero copy) when the device takes chains, else a copy into hdr's tailroom
 * (hdr must come from inet_alloc_tx(st, len)). 0 or -ENOBUFS (hdr intact
 * apart from partially chained slices, which the caller frees with hdr). */
int inet_attach_payload(struct inet_stack *st, struct dm_buf *hdr, struct dm_buf *seg,
                        uint32_t off, uint32_t len);
#endif /* INET_PRIV_H */
