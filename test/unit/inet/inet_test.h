/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers for the stacks/inet tests: two instances on one loop link
 * ("pair"), a loop that drives both until a condition or a deadline, token
 * waits that keep both ends moving, and a raw peer that speaks Ethernet
 * frames directly on an instance's device (to craft segments the stack
 * would never send and to observe exactly what it sends).
 */
#ifndef INET_TEST_H
#define INET_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include "dm/instance.h"
#include "dm/config.h"
#include "dm/stats.h"
#include "dm/time.h"
#include "inet_priv.h"
#include "tcp_priv.h"

#define IP_A "10.0.0.1"
#define IP_B "10.0.0.2"
#define MAC_A "02:00:00:00:00:01"
#define MAC_B "02:00:00:00:00:02"
/* Every pair also has IPv6 (DEMI_IPV6); link-local addresses follow from the MACs. */
#define IP6_A "fd00::1"
#define IP6_B "fd00::2"
#define LL6_A "fe80::ff:fe00:1"
#define LL6_B "fe80::ff:fe00:2"

struct pair {
    struct dm_instance *a, *b;
    bool keep_mld; /* raw_recv_frame returns MLD reports too (skipped by default) */
};

/* Extra config for both ends: NULL-terminated key/value list; `faults`
 * (may be NULL) goes to DEMI_FAULTS of both. */
void pair_create(struct pair *p, const char *faults, const char *const *kv);
/* Only b is a stack user; a is driven raw (its device only). */
void pair_destroy(struct pair *p);
struct inet_stack *stack_of(struct dm_instance *i);
void pair_poll(struct pair *p);
/* Polls both until cond(arg) or timeout; returns cond's last value. */
bool pair_run_until(struct pair *p, bool (*cond)(void *), void *arg, int64_t timeout_ns);
void pair_run_for(struct pair *p, int64_t ns);
/* Waits for token qt of inst (polling both); asserts it completed. */
demi_qresult_t pair_wait(struct pair *p, struct dm_instance *inst, demi_qtoken_t qt, int64_t timeout_ns);
/* Is qt of inst done yet (without consuming it)? */
bool token_done(struct dm_instance *inst, demi_qtoken_t qt);

struct sockaddr_in sin_of(const char *ip, uint16_t port);
struct sockaddr_in6 sin6_of(const char *ip, uint16_t port);
int tcp_listener(struct dm_instance *inst, const char *ip, uint16_t port, int backlog);
/* An AF_INET6 listener (ip: an IPv6 address, "::" for the wildcard). */
int tcp_listener6(struct dm_instance *inst, const char *ip, uint16_t port, int backlog);
/* Connects a (client) to b's listener lqd: *cqd on a, *sqd on b. */
void tcp_connect_pair(struct pair *p, int lqd, uint16_t port, int *cqd, int *sqd);
/* The same over IPv6 (an AF_INET6 client to IP6_B). */
void tcp_connect_pair6(struct pair *p, int lqd, uint16_t port, int *cqd, int *sqd);
demi_qtoken_t push_bytes(struct dm_instance *inst, int qd, const void *data, size_t len);
/* Connects the UDP socket qd of inst to `to` (waits for it). */
void pair_udp_connect(struct pair *p, struct dm_instance *inst, int qd, const struct sockaddr *to, socklen_t len);
/* UDP sockets *ua on A bound to A:1111 and *ub on B bound to B:2222
 * (IPv6 addresses when v6). */
void udp_pair_bound(struct pair *p, bool v6, int *ua, int *ub);
/* A datagram of len bytes (a pattern named by tag) from A's UDP socket ua
 * to B's ub, popped whole and checked byte for byte. */
void udp_roundtrip_whole(struct pair *p, int ua, int ub, const struct sockaddr *to, socklen_t tolen, uint32_t len,
                         uint8_t tag);
int64_t stat_of(struct dm_instance *inst, const char *name);

/* inst's device made a port other processes share whose forward op keeps
 * a copy of the frame it is handed (fwd_cap) instead of sending it on, or
 * refuses it as when no process is left (refuse), and whose peers_starting
 * says `starting`; fwd_capture_stop puts its ops back. Its flow_ours and
 * flow_ours6 say a flow is ours when our port is a multiple of place_mod
 * (0: always), counting the questions by transport (asked[IPPROTO_*]). */
struct fwd_capture {
    uint8_t frame[9216];
    uint32_t len, calls;
    bool refuse, starting;
    uint16_t place_mod;
    uint32_t asked[256];
};
extern struct fwd_capture fwd_cap;
void fwd_capture_start(struct dm_instance *inst);
void fwd_capture_stop(void);
/* A pair whose B captures what it hands on (fwd_capture_start), and a
 * UDP datagram of len bytes (header included) from port 1000 to 9999, no
 * socket's, its payload a known pattern; checksum 0. */
void stray_setup(struct pair *p, uint8_t *dg, uint16_t len);
/* No answer came back to A (no port unreachable), and the device took one
 * frame of frame_len bytes whose last dg_len are dg: the datagram, whole. */
void stray_expect_forwarded(struct pair *p, uint32_t frame_len, const uint8_t *dg, uint16_t dg_len);

/* ---- raw peer on instance a's device ---- */
struct raw_seg {
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t wnd;
    uint32_t len;               /* payload */
    struct tcp_opts opts;
    uint16_t sport, dport;      /* host order */
    uint8_t payload[64];        /* first bytes of payload */
};
/* Sends a TCP segment from A (raw) to B. opts/optlen raw option bytes. */
void raw_send_tcp(struct pair *p, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags,
                  uint16_t wnd, const uint8_t *opts, unsigned optlen, const void *payload, uint32_t len);
/* Sends any bytes as a frame payload after an Ethernet header to B. */
void raw_send_frame(struct pair *p, const void *frame, uint32_t len);
/* Polls b (only) and collects the next TCP segment that reached A. */
bool raw_recv_tcp(struct pair *p, struct raw_seg *out, int64_t timeout_ns);
/* Polls b and copies the next frame that reached A (any type). */
bool raw_recv_frame(struct pair *p, uint8_t *buf, uint32_t cap, uint32_t *len, int64_t timeout_ns);
/* Builds Ethernet + IPv4 (A -> B) around an L4 payload; returns frame length. */
uint32_t raw_ip_frame(uint8_t *f, uint8_t proto, uint16_t frag_off, const void *l4, uint32_t l4len);
/* Builds Ethernet + IPv6 (src -> dst, hop limit 64, to B's MAC) around
 * `l4` (which may start with extension headers; `nxt` is the first next
 * header); when l4proto is TCP, UDP or ICMPv6 its checksum at l4 + l4off
 * is filled in. Returns the frame length. */
uint32_t raw_ip6_frame(uint8_t *f, const char *src, const char *dst, uint8_t nxt, const void *l4, uint32_t l4len,
                       uint8_t l4proto, uint32_t l4off);
/* Drains whatever reached A (returns frame count). */
int raw_drain(struct pair *p);



/* tcp_lookup with IPv4 addresses (network order). */
static inline struct tcp_pcb *tcp_lookup4(struct inet_stack *st, uint32_t lip, uint16_t lport, uint32_t rip,
                                          uint16_t rport)
{
    struct inet_addr l = inet_addr_v4(lip), r = inet_addr_v4(rip);
    return tcp_lookup(st, &l, lport, &r, rport);
}

/* The PCB behind a TCP queue (core internal lookup). */
struct dm_queue *dm_queue_get(struct dm_instance *inst, int qd);
static inline struct tcp_pcb *pcb_of(struct dm_instance *inst, int qd)
{
    struct dm_queue *q = dm_queue_get(inst, qd);
    return q ? q->priv : NULL;
}
#endif /* INET_TEST_H */
