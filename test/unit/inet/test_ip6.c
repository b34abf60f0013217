/* SPDX-License-Identifier: MIT */
/*
 * IPv6 of stacks/inet: ICMPv6 echo (with extension headers skipped),
 * neighbour discovery (solicitations answered, our own solicitations and
 * the packets queued behind them, resolution between two stacks), UDP and
 * TCP over IPv6 with sockaddr_in6 addresses, dual-stack listeners, port
 * unreachable, and malformed IPv6 counted per reason and dropped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "inet_test.h"
#include "csum.h"
#include "demi/sga.h"

/* B knows A's IPv6 addresses statically: raw tests need no ND dance. */
static const char *const static_nd[] = {
    "DEMI_ARP", IP_A "=" MAC_A ";" IP_B "=" MAC_B ";" IP6_A "=" MAC_A ";" LL6_A "=" MAC_A, NULL};

static void mac_of(const char *s, uint8_t *mac)
{
    sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]);
}

static void addr6_of(const char *s, uint8_t *a) { assert_int_equal(inet_pton(AF_INET6, s, a), 1); }

/* The next IPv6 frame that reached A whose L4 (no extension headers) is
 * `nxt` and, for ICMPv6, of `type`; others are skipped. */
static bool recv6(struct pair *p, uint8_t nxt, int type, uint8_t *f, uint32_t cap, uint32_t *n, int64_t timeout_ns)
{
    int64_t end = dm_clock_ns() + timeout_ns;
    while (dm_clock_ns() < end) {
        if (!raw_recv_frame(p, f, cap, n, end - dm_clock_ns()))
            return false;
        if (*n < 14 + 40 + 4 || f[12] != 0x86 || f[13] != 0xdd || f[14 + 6] != nxt)
            continue;
        if (type >= 0 && f[54] != type)
            continue;
        return true;
    }
    return false;
}

/* Is the ICMPv6/UDP/TCP checksum of a received frame (no ext headers) right? */
static bool csum6_ok(const uint8_t *f, uint32_t n)
{
    const struct ip6_hdr *ih = (const struct ip6_hdr *)(f + 14);
    uint32_t len = ntohs(ih->plen), s6[4], d6[4];
    if (14 + 40 + len > n)
        return false;
    memcpy(s6, ih->src, 16);
    memcpy(d6, ih->dst, 16);
    return inet_csum_fold(inet_csum_partial(f + 54, len, inet_csum_pseudo6(s6, d6, ih->nxt, len))) == 0;
}

static uint32_t echo_req(uint8_t *icmp, uint16_t seq)
{
    memset(icmp, 0, 8 + 32);
    icmp[0] = ICMP6_ECHO_REQUEST;
    icmp[4] = 0x12;
    icmp[6] = (uint8_t)(seq >> 8);
    icmp[7] = (uint8_t)seq;
    for (int i = 0; i < 32; i++)
        icmp[8 + i] = (uint8_t)i;
    return 40;
}

static void test_icmp6_echo_to_our_addresses_gets_a_reply(void **st)
{
    (void)st;
    struct pair p;
    pair_create(&p, NULL, static_nd);
    uint8_t icmp[40], f[256], r[256];
    uint32_t n;
    const char *dsts[] = {IP6_B, LL6_B};
    const char *srcs[] = {IP6_A, LL6_A};
    for (int i = 0; i < 2; i++) {
        uint32_t l = echo_req(icmp, (uint16_t)i);
        n = raw_ip6_frame(f, srcs[i], dsts[i], IP6_NH_ICMP6, icmp, l, IP6_NH_ICMP6, 0);
        raw_send_frame(&p, f, n);
        assert_true(recv6(&p, IP6_NH_ICMP6, ICMP6_ECHO_REPLY, r, sizeof(r), &n, 200 * DM_NS_PER_MS));
        assert_int_equal(n, 54 + l);
        assert_true(csum6_ok(r, n));
        assert_memory_equal(r + 54 + 4, icmp + 4, l - 4); /* id, seq, payload */
        assert_memory_equal(r + 14 + 8, f + 14 + 24, 16);  /* from the address pinged */
        assert_memory_equal(r + 14 + 24, f + 14 + 8, 16);  /* to the sender */
    }
    /* hop-by-hop (PadN) and destination options (Pad1s) are skipped */
    uint8_t ext[16 + 40] = {IP6_NH_DSTOPTS, 0, 1, 4, 0, 0, 0, 0, IP6_NH_ICMP6, 0, 0, 0, 0, 0, 0, 0};
    uint32_t l = echo_req(ext + 16, 7);
    n = raw_ip6_frame(f, IP6_A, IP6_B, IP6_NH_HOPOPTS, ext, 16 + l, IP6_NH_ICMP6, 16);
    raw_send_frame(&p, f, n);
    assert_true(recv6(&p, IP6_NH_ICMP6, ICMP6_ECHO_REPLY, r, sizeof(r), &n, 200 * DM_NS_PER_MS));
    assert_int_equal(n, 54 + l); /* the reply carries no extension headers */
    assert_true(csum6_ok(r, n));
    /* a multicast ping (all-nodes) is not answered */
    l = echo_req(icmp, 9);
    n = raw_ip6_frame(f, IP6_A, "ff02::1", IP6_NH_ICMP6, icmp, l, IP6_NH_ICMP6, 0);
    memcpy(f, "\x33\x33\x00\x00\x00\x01", 6);
    raw_send_frame(&p, f, n);
    assert_false(recv6(&p, IP6_NH_ICMP6, ICMP6_ECHO_REPLY, r, sizeof(r), &n, 20 * DM_NS_PER_MS));
    assert_int_equal(stat_of(p.b, "icmp6.rx_echo"), 4);
    assert_int_equal(stat_of(p.b, "icmp6.tx_echo_reply"), 3);
    pair_destroy(&p);
}

static uint32_t nd_msg(uint8_t *m, uint8_t type, uint32_t flags, const char *target, uint8_t opt, const char *mac)
{
    memset(m, 0, 32);
    m[0] = type;
    uint32_t fl = htonl(flags);
    memcpy(m + 4, &fl, 4);
    addr6_of(target, m + 8);
    if (!opt)
        return 24;
    m[24] = opt;
    m[25] = 1;
    mac_of(mac, m + 26);
    return 32;
}

static void test_nd_solicitation_for_our_address_gets_an_advertisement(void **st)
{
    (void)st;
    struct pair p;
    pair_create(&p, NULL, NULL);
    uint8_t ns[32], f[256], r[256], mac_a[6], mac_b[6];
    mac_of(MAC_A, mac_a);
    mac_of(MAC_B, mac_b);
    uint32_t l = nd_msg(ns, ND_NEIGHBOR_SOLICIT, 0, IP6_B, ND_OPT_SOURCE_LLADDR, MAC_A);
    uint32_t n = raw_ip6_frame(f, IP6_A, "ff02::1:ff00:2", IP6_NH_ICMP6, ns, l, IP6_NH_ICMP6, 0);
    memcpy(f, "\x33\x33\xff\x00\x00\x02", 6); /* the solicited-node group's MAC */
    f[14 + 7] = ND_HOP_LIMIT;
    raw_send_frame(&p, f, n);
    assert_true(recv6(&p, IP6_NH_ICMP6, ND_NEIGHBOR_ADVERT, r, sizeof(r), &n, 200 * DM_NS_PER_MS));
    assert_true(csum6_ok(r, n));
    assert_memory_equal(r, mac_a, 6);                  /* unicast back to the solicitor */
    assert_int_equal(r[14 + 7], ND_HOP_LIMIT);
    uint8_t a6[16];
    addr6_of(IP6_A, a6);
    assert_memory_equal(r + 14 + 24, a6, 16);
    assert_int_equal(r[54 + 4], 0x60);                 /* solicited | override */
    addr6_of(IP6_B, a6);
    assert_memory_equal(r + 54 + 8, a6, 16);           /* target */
    assert_int_equal(r[54 + 24], ND_OPT_TARGET_LLADDR);
    assert_memory_equal(r + 54 + 26, mac_b, 6);
    /* the solicitor's source link-layer option taught B its MAC */
    struct inet_addr ia;
    memcpy(ia.b, a6, 16);
    addr6_of(IP6_A, ia.b);
    struct arp_entry *e = arp_find(stack_of(p.b), &ia);
    assert_non_null(e);
    assert_int_equal(e->state, ARP_RESOLVED);
    assert_memory_equal(e->mac, mac_a, 6);
    /* for the link-local address too */
    l = nd_msg(ns, ND_NEIGHBOR_SOLICIT, 0, LL6_B, ND_OPT_SOURCE_LLADDR, MAC_A);
    n = raw_ip6_frame(f, LL6_A, "ff02::1:ff00:2", IP6_NH_ICMP6, ns, l, IP6_NH_ICMP6, 0);
    memcpy(f, "\x33\x33\xff\x00\x00\x02", 6);
    f[14 + 7] = ND_HOP_LIMIT;
    raw_send_frame(&p, f, n);
    assert_true(recv6(&p, IP6_NH_ICMP6, ND_NEIGHBOR_ADVERT, r, sizeof(r), &n, 200 * DM_NS_PER_MS));
    /* not ours: no answer; a forwarded one (hop limit 64): invalid */
    l = nd_msg(ns, ND_NEIGHBOR_SOLICIT, 0, "fd00::99", ND_OPT_SOURCE_LLADDR, MAC_A);
    n = raw_ip6_frame(f, IP6_A, IP6_B, IP6_NH_ICMP6, ns, l, IP6_NH_ICMP6, 0);
    f[14 + 7] = ND_HOP_LIMIT;
    raw_send_frame(&p, f, n);
    l = nd_msg(ns, ND_NEIGHBOR_SOLICIT, 0, IP6_B, ND_OPT_SOURCE_LLADDR, MAC_A);
    n = raw_ip6_frame(f, IP6_A, IP6_B, IP6_NH_ICMP6, ns, l, IP6_NH_ICMP6, 0);
    raw_send_frame(&p, f, n);
    assert_false(recv6(&p, IP6_NH_ICMP6, ND_NEIGHBOR_ADVERT, r, sizeof(r), &n, 20 * DM_NS_PER_MS));
    assert_int_equal(stat_of(p.b, "nd.rx_bad"), 1);
    assert_int_equal(stat_of(p.b, "nd.tx_na"), 2);
    pair_destroy(&p);
}

static void test_nd_our_solicitation_holds_the_packet_until_the_advertisement(void **st)
{
    (void)st;
    struct pair p;
    pair_create(&p, NULL, NULL);
    uint8_t icmp[40], f[256], r[256], mac_b[6];
    mac_of(MAC_B, mac_b);
    uint32_t l = echo_req(icmp, 1);
    uint32_t n = raw_ip6_frame(f, IP6_A, IP6_B, IP6_NH_ICMP6, icmp, l, IP6_NH_ICMP6, 0);
    raw_send_frame(&p, f, n);
    /* B does not know A: it solicits A's solicited-node group first */
    assert_true(recv6(&p, IP6_NH_ICMP6, ND_NEIGHBOR_SOLICIT, r, sizeof(r), &n, 200 * DM_NS_PER_MS));
    assert_memory_equal(r, "\x33\x33\xff\x00\x00\x01", 6);
    assert_int_equal(r[14 + 7], ND_HOP_LIMIT);
    assert_true(csum6_ok(r, n));
    uint8_t a6[16];
    addr6_of("ff02::1:ff00:1", a6);
    assert_memory_equal(r + 14 + 24, a6, 16);
    addr6_of(IP6_A, a6);
    assert_memory_equal(r + 54 + 8, a6, 16);
    assert_int_equal(r[54 + 24], ND_OPT_SOURCE_LLADDR);
    assert_memory_equal(r + 54 + 26, mac_b, 6);
    assert_int_equal(stat_of(p.b, "nd.tx_ns"), 1);
    /* the advertisement releases the queued echo reply */
    uint8_t na[32];
    l = nd_msg(na, ND_NEIGHBOR_ADVERT, ND_NA_FLAG_SOLICITED | ND_NA_FLAG_OVERRIDE, IP6_A, ND_OPT_TARGET_LLADDR, MAC_A);
    n = raw_ip6_frame(f, IP6_A, IP6_B, IP6_NH_ICMP6, na, l, IP6_NH_ICMP6, 0);
    f[14 + 7] = ND_HOP_LIMIT;
    raw_send_frame(&p, f, n);
    assert_true(recv6(&p, IP6_NH_ICMP6, ICMP6_ECHO_REPLY, r, sizeof(r), &n, 200 * DM_NS_PER_MS));
    assert_int_equal(stat_of(p.b, "nd.resolved"), 1);
    assert_int_equal(stat_of(p.b, "nd.rx_na"), 1);
    pair_destroy(&p);
}

static void test_udp6_between_two_stacks_resolves_by_nd_and_carries_sockaddr_in6(void **st)
{
    (void)st;
    struct pair p;
    pair_create(&p, NULL, NULL);
    int ua, ub;
    assert_int_equal(dm_socket(p.a, &ua, AF_INET6, SOCK_DGRAM, 0), 0);
    assert_int_equal(dm_socket(p.b, &ub, AF_INET6, SOCK_DGRAM, 0), 0);
    struct sockaddr_in6 sa = sin6_of("::", 1111), sb = sin6_of(IP6_B, 2222);
    assert_int_equal(dm_bind(p.a, ua, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(dm_bind(p.b, ub, (struct sockaddr *)&sb, sizeof(sb)), 0);
    demi_qtoken_t pop, qt;
    assert_int_equal(dm_pop(p.b, &pop, ub), 0);
    int err = 0;
    demi_sgarray_t sga = dm_sgaalloc(p.a, 1000, &err);
    memset(sga.sga_segs[0].sgaseg_buf, 'v', 1000);
    assert_int_equal(dm_pushto(p.a, &qt, ua, &sga, (struct sockaddr *)&sb, sizeof(sb)), 0);
    dm_sgafree(p.a, &sga);
    demi_qresult_t qr = pair_wait(&p, p.b, pop, DM_NS_PER_S);
    assert_int_equal(qr.qr_value.sga.sga_segs[0].sgaseg_len, 1000);
    struct sockaddr_in6 from = qr.qr_value.sga.sga_addr6;
    assert_int_equal(from.sin6_family, AF_INET6);
    assert_int_equal(from.sin6_port, htons(1111));
    struct sockaddr_in6 a6 = sin6_of(IP6_A, 0);
    assert_memory_equal(&from.sin6_addr, &a6.sin6_addr, 16);
    /* echo back to where it came from */
    assert_int_equal(dm_pushto(p.b, &qt, ub, &qr.qr_value.sga, (struct sockaddr *)&from, sizeof(from)), 0);
    dm_sgafree(p.b, &qr.qr_value.sga);
    assert_int_equal(dm_pop(p.a, &pop, ua), 0);
    qr = pair_wait(&p, p.a, pop, DM_NS_PER_S);
    assert_int_equal(qr.qr_value.sga.sga_segs[0].sgaseg_len, 1000);
    assert_int_equal(qr.qr_value.sga.sga_addr6.sin6_port, htons(2222));
    dm_sgafree(p.a, &qr.qr_value.sga);
    assert_int_equal(stat_of(p.a, "nd.tx_ns"), 1);
    assert_int_equal(stat_of(p.a, "nd.resolved"), 1);
    assert_int_equal(stat_of(p.b, "nd.tx_na"), 1);
    /* the dual-stack socket also sends to IPv4 (v4-mapped) */
    struct sockaddr_in6 m4 = sin6_of("::ffff:" IP_B, 2222);
    int u4;
    assert_int_equal(dm_socket(p.b, &u4, AF_INET, SOCK_DGRAM, 0), 0);
    struct sockaddr_in s4 = sin_of(IP_B, 2223);
    assert_int_equal(dm_bind(p.b, u4, (struct sockaddr *)&s4, sizeof(s4)), 0);
    m4.sin6_port = htons(2223);
    assert_int_equal(dm_pop(p.b, &pop, u4), 0);
    sga = dm_sgaalloc(p.a, 10, &err);
    assert_int_equal(dm_pushto(p.a, &qt, ua, &sga, (struct sockaddr *)&m4, sizeof(m4)), 0);
    dm_sgafree(p.a, &sga);
    qr = pair_wait(&p, p.b, pop, DM_NS_PER_S);
    assert_int_equal(qr.qr_value.sga.sga_addr.sin_family, AF_INET);
    assert_int_equal(qr.qr_value.sga.sga_addr.sin_port, htons(1111));
    dm_sgafree(p.b, &qr.qr_value.sga);
    /* too big for IPv6 without jumbograms: 65535 - 8 */
    sga = dm_sgaalloc(p.a, 65528, &err);
    assert_int_equal(dm_pushto(p.a, &qt, ua, &sga, (struct sockaddr *)&sb, sizeof(sb)), -EMSGSIZE);
    dm_sgafree(p.a, &sga);
    sga = dm_sgaalloc(p.a, 1452, &err);
    assert_int_equal(dm_pushto(p.a, &qt, ua, &sga, (struct sockaddr *)&sb, sizeof(sb)), 0);
    /* no route off link without DEMI_GATEWAY6 */
    struct sockaddr_in6 far = sin6_of("2001:db8::1", 9);
    assert_int_equal(dm_pushto(p.a, &qt, ua, &sga, (struct sockaddr *)&far, sizeof(far)), -ENETUNREACH);
    dm_sgafree(p.a, &sga);
    /* an AF_INET socket takes no sockaddr_in6 */
    sga = dm_sgaalloc(p.b, 10, &err);
    assert_int_equal(dm_pushto(p.b, &qt, u4, &sga, (struct sockaddr *)&sb, sizeof(sb)), -EAFNOSUPPORT);
    dm_sgafree(p.b, &sga);
    pair_destroy(&p);
}

/* As over IPv4 (test_ip.c): a connected socket's datagram answered by
 * an ICMPv6 port unreachable fails its pending pop with ECONNREFUSED. */
static void test_udp6_connected_socket_gets_econnrefused_from_port_unreachable(void **st)
{
    (void)st;
    struct pair p;
    pair_create(&p, NULL, NULL);
    int ua;
    assert_int_equal(dm_socket(p.a, &ua, AF_INET6, SOCK_DGRAM, 0), 0);
    struct sockaddr_in6 closed = sin6_of(IP6_B, 9999);
    pair_udp_connect(&p, p.a, ua, (struct sockaddr *)&closed, sizeof(closed));
    demi_qtoken_t pop;
    assert_int_equal(dm_pop(p.a, &pop, ua), 0);
    push_bytes(p.a, ua, "ping", 4);
    demi_qresult_t qr = pair_wait(&p, p.a, pop, DM_NS_PER_S);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_FAILED);
    assert_int_equal(qr.qr_ret, ECONNREFUSED);
    assert_int_equal(stat_of(p.a, "icmp6.rx_unreach_sock"), 1);
    pair_destroy(&p);
}

/* A connect whose SYN comes back as an ICMPv6 port unreachable fails at
 * once with ECONNREFUSED (tcp_v6_err); a packet too big quoting it does
 * not end it (only an open connection shrinks its segments). */
static void test_tcp6_connect_ends_at_an_icmp6_port_unreachable(void **st)
{
    (void)st;
    const char *kv[] = {"DEMI_ARP", IP6_A "=" MAC_A, NULL};
    struct pair p;
    pair_create(&p, NULL, kv);
    int q;
    demi_qtoken_t qt;
    assert_int_equal(dm_socket(p.b, &q, AF_INET6, SOCK_STREAM, 0), 0);
    struct sockaddr_in6 dst = sin6_of(IP6_A, 80);
    assert_int_equal(dm_connect(p.b, &qt, q, (struct sockaddr *)&dst, sizeof(dst)), 0);
    uint8_t r[256], f[256];
    uint32_t n;
    assert_true(recv6(&p, IPPROTO_TCP_, -1, r, sizeof(r), &n, DM_NS_PER_S));
    uint8_t icmp[8 + 48] = {ICMP6_PACKET_TOO_BIG, 0, 0, 0, 0, 0, 1280 >> 8, 1280 & 0xff};
    memcpy(icmp + 8, r + 14, 48);
    raw_send_frame(&p, f, raw_ip6_frame(f, IP6_A, IP6_B, IP6_NH_ICMP6, icmp, sizeof(icmp), IP6_NH_ICMP6, 0));
    int64_t end = dm_clock_ns() + 20 * DM_NS_PER_MS;
    while (dm_clock_ns() < end)
        dm_poll(p.b, 0);
    assert_false(token_done(p.b, qt));
    memset(icmp, 0, 8);
    icmp[0] = ICMP6_DST_UNREACH;
    icmp[1] = ICMP6_PORT_UNREACH;
    raw_send_frame(&p, f, raw_ip6_frame(f, IP6_A, IP6_B, IP6_NH_ICMP6, icmp, sizeof(icmp), IP6_NH_ICMP6, 0));
    demi_qresult_t qr = pair_wait(&p, p.b, qt, DM_NS_PER_S);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_FAILED);
    assert_int_equal(qr.qr_ret, ECONNREFUSED);
    assert_int_equal(stat_of(p.b, "icmp6.rx_unreach_sock"), 1);
    assert_int_equal(stat_of(p.b, "icmp6.rx_error"), 2);
    pair_destroy(&p);
}

static void test_udp6_to_an_unbound_port_gets_port_unreachable(void **st)
{
    (void)st;
    struct pair p;
    pair_create(&p, NULL, static_nd);
    uint8_t udp[12] = {0x03, 0xe8, 0x27, 0x0f, 0, 12, 0, 0, 'a', 'b', 'c', 'd'}; /* 1000 -> 9999 */
    uint8_t f[256], r[512];
    uint32_t n = raw_ip6_frame(f, IP6_A, IP6_B, IPPROTO_UDP_, udp, sizeof(udp), IPPROTO_UDP_, 0);
    raw_send_frame(&p, f, n);
    uint32_t rn;
    assert_true(recv6(&p, IP6_NH_ICMP6, ICMP6_DST_UNREACH, r, sizeof(r), &rn, 200 * DM_NS_PER_MS));
    assert_int_equal(r[55], ICMP6_PORT_UNREACH);
    assert_true(csum6_ok(r, rn));
    assert_int_equal(rn, 54 + 8 + (n - 14));
    assert_memory_equal(r + 54 + 8, f + 14, n - 14); /* the whole invoking packet */
    assert_int_equal(stat_of(p.b, "udp.rx_no_port"), 1);
    assert_int_equal(stat_of(p.b, "icmp6.tx_unreach"), 1);
    /* a zero UDP checksum is invalid over IPv6: dropped, no error */
    n = raw_ip6_frame(f, IP6_A, IP6_B, IPPROTO_UDP_, udp, sizeof(udp), 0, 0);
    raw_send_frame(&p, f, n);
    assert_false(recv6(&p, IP6_NH_ICMP6, -1, r, sizeof(r), &rn, 20 * DM_NS_PER_MS));
    assert_int_equal(stat_of(p.b, "udp.rx_bad_csum"), 1);
    pair_destroy(&p);
}

/* IPv6 as IPv4: a datagram past the MTU goes in fragments (a fragment
 * header each) and comes out whole, in whatever order they come; the
 * first one waits for neighbour discovery with all its fragments. */
static void test_udp6_datagrams_past_the_mtu_are_fragmented_and_reassembled(void **st)
{
    (void)st;
    struct pair p;
    pair_create(&p, "reorder=0.3,seed=5", NULL);
    int ua, ub;
    udp_pair_bound(&p, true, &ua, &ub);
    struct sockaddr_in6 sb = sin6_of(IP6_B, 2222);
    static const uint32_t sizes[] = { 65527, 1452, 1453, 4000, 20001 };
    uint64_t frags = 0;
    for (unsigned i = 0; i < DM_ARRAY_SIZE(sizes); i++) {
        udp_roundtrip_whole(&p, ua, ub, (struct sockaddr *)&sb, sizeof(sb), sizes[i], (uint8_t)(i + 40));
        if (sizes[i] + 8 > 1460)
            frags += (sizes[i] + 8 + 1447) / 1448; /* 1500 - 40 - 8, a multiple of 8 */
    }
    assert_int_equal(stat_of(p.a, "ip6.tx_frag"), frags);
    assert_int_equal(stat_of(p.b, "ip6.rx_frag"), frags);
    assert_int_equal(stat_of(p.b, "ip6.rx_reasm_ok"), DM_ARRAY_SIZE(sizes) - 1);
    assert_int_equal(stat_of(p.a, "nd.queue_drop"), 0);
    assert_true(stat_of(p.b, "fault.reordered") + stat_of(p.a, "fault.reordered") > 0);
    pair_destroy(&p);
}

/* Sends A's raw IPv6 fragment: the fragment header, then the bytes
 * [off, off + len) of the datagram dgram, whose header is nh. */
static void send_frag6_of(struct pair *p, uint8_t nh, uint32_t id, uint32_t off, bool more, const uint8_t *dgram,
                          uint32_t len)
{
    static uint8_t l4[2048], f[2048];
    memset(l4, 0, 8);
    l4[0] = nh;
    uint16_t om = htons((uint16_t)(off | (more ? 1u : 0u)));
    memcpy(l4 + 2, &om, 2);
    uint32_t idn = htonl(id);
    memcpy(l4 + 4, &idn, 4);
    memcpy(l4 + 8, dgram + off, len);
    raw_send_frame(p, f, raw_ip6_frame(f, IP6_A, IP6_B, IP6_NH_FRAGMENT, l4, 8 + len, 0, 0));
}

static void send_frag6(struct pair *p, uint32_t id, uint32_t off, bool more, const uint8_t *dgram, uint32_t len)
{
    send_frag6_of(p, IP6_NH_ICMP6, id, off, more, dgram, len);
}

/* As over IPv4 (test_ip.c): a UDP datagram reassembled for another
 * process's socket goes on whole, as one frame, its fragment header gone. */
static void test_udp6_stray_reassembled_datagram_is_forwarded_as_one_frame(void **st)
{
    (void)st;
    struct pair p;
    static uint8_t dg[3000];
    stray_setup(&p, dg, sizeof(dg));
    struct udp_hdr *uh = (struct udp_hdr *)dg;
    struct inet_addr a, b;
    addr6_of(IP6_A, a.b);
    addr6_of(IP6_B, b.b);
    uh->csum = inet_csum_fold(inet_csum_partial(dg, sizeof(dg), inet_pseudo_sum(&a, &b, IPPROTO_UDP_, sizeof(dg))));
    send_frag6_of(&p, IPPROTO_UDP_, 9, 1448, true, dg, 1448);
    send_frag6_of(&p, IPPROTO_UDP_, 9, 0, true, dg, 1448);
    send_frag6_of(&p, IPPROTO_UDP_, 9, 2896, false, dg, 104);
    stray_expect_forwarded(&p, 14 + 40 + sizeof(dg), dg, sizeof(dg));
    const uint8_t *fr = fwd_cap.frame;
    assert_int_equal(fr[12] << 8 | fr[13], ETH_P_IPV6);
    assert_int_equal(fr[14 + 6], IPPROTO_UDP_); /* next header: the fragment header is gone */
    assert_int_equal(fr[14 + 4] << 8 | fr[14 + 5], sizeof(dg));
    assert_int_equal(stat_of(p.b, "ip6.rx_reasm_ok"), 1);
    fwd_capture_stop();
    pair_destroy(&p);
}

/* A 3000-byte echo request in three fragments, out of order with a
 * repeat: answered once, in fragments; an overlap loses the datagram;
 * an atomic fragment (offset 0, no M: RFC 6946) is the datagram itself. */
static void test_ipv6_fragments_in_any_order_make_one_datagram(void **st)
{
    (void)st;
    struct pair p;
    pair_create(&p, NULL, static_nd);
    static uint8_t icmp[3000], r[2048], reply[3000];
    icmp[0] = ICMP6_ECHO_REQUEST;
    icmp[4] = 0x12;
    for (unsigned i = 8; i < sizeof(icmp); i++)
        icmp[i] = (uint8_t)(i * 5);
    uint32_t s6[4], d6[4];
    assert_int_equal(inet_pton(AF_INET6, IP6_A, s6), 1);
    assert_int_equal(inet_pton(AF_INET6, IP6_B, d6), 1);
    uint16_t c = inet_csum_fold(inet_csum_partial(icmp, sizeof(icmp),
                                                  inet_csum_pseudo6(s6, d6, IP6_NH_ICMP6, sizeof(icmp))));
    memcpy(icmp + 2, &c, 2);
    uint32_t rn;
    send_frag6(&p, 77, 2400, false, icmp, 600);
    send_frag6(&p, 77, 1200, true, icmp, 1200);
    send_frag6(&p, 77, 1200, true, icmp, 1200); /* a repeat */
    assert_false(recv6(&p, IP6_NH_FRAGMENT, -1, r, sizeof(r), &rn, 20 * DM_NS_PER_MS));
    send_frag6(&p, 77, 0, true, icmp, 1200);
    uint32_t got = 0;
    for (int k = 0; k < 3; k++) {
        if (!recv6(&p, IP6_NH_FRAGMENT, -1, r, sizeof(r), &rn, 200 * DM_NS_PER_MS))
            break;
        const struct ip6_hdr *ih = (const struct ip6_hdr *)(r + 14);
        const uint8_t *fh = r + 54;
        uint16_t om;
        memcpy(&om, fh + 2, 2);
        om = ntohs(om);
        uint32_t off = om & ~7u, len = ntohs(ih->plen) - 8u;
        assert_int_equal(fh[0], IP6_NH_ICMP6);
        assert_true(off + len <= sizeof(reply));
        memcpy(reply + off, fh + 8, len);
        got += len;
        if (!(om & 1))
            assert_int_equal(off + len, sizeof(icmp));
    }
    assert_int_equal(got, sizeof(icmp));
    assert_int_equal(reply[0], ICMP6_ECHO_REPLY);
    assert_int_equal(inet_csum_fold(inet_csum_partial(reply, sizeof(reply),
                                                      inet_csum_pseudo6(d6, s6, IP6_NH_ICMP6, sizeof(reply)))), 0);
    assert_memory_equal(reply + 4, icmp + 4, sizeof(icmp) - 4);
    assert_int_equal(stat_of(p.b, "ip6.rx_frag"), 4);
    assert_int_equal(stat_of(p.b, "ip6.rx_frag_drop"), 1);
    assert_int_equal(stat_of(p.b, "ip6.rx_reasm_ok"), 1);
    assert_int_equal(stat_of(p.b, "ip6.tx_frag"), 3);
    /* an overlap: given up; the whole set again completes it */
    send_frag6(&p, 78, 0, true, icmp, 1200);
    send_frag6(&p, 78, 1192, true, icmp, 1208);
    assert_false(recv6(&p, IP6_NH_FRAGMENT, -1, r, sizeof(r), &rn, 20 * DM_NS_PER_MS));
    assert_int_equal(stat_of(p.b, "ip6.rx_reasm_drop"), 1);
    send_frag6(&p, 78, 0, true, icmp, 1200);
    send_frag6(&p, 78, 1200, true, icmp, 1200);
    send_frag6(&p, 78, 2400, false, icmp, 600);
    for (int k = 0; k < 3; k++)
        assert_true(recv6(&p, IP6_NH_FRAGMENT, -1, r, sizeof(r), &rn, 200 * DM_NS_PER_MS));
    assert_int_equal(stat_of(p.b, "ip6.rx_reasm_ok"), 2);
    /* an atomic fragment: answered at once, unfragmented */
    uint8_t small[40];
    uint32_t l = echo_req(small, 9);
    c = inet_csum_fold(inet_csum_partial(small, l, inet_csum_pseudo6(s6, d6, IP6_NH_ICMP6, l)));
    memcpy(small + 2, &c, 2);
    send_frag6(&p, 79, 0, false, small, l);
    assert_true(recv6(&p, IP6_NH_ICMP6, ICMP6_ECHO_REPLY, r, sizeof(r), &rn, 200 * DM_NS_PER_MS));
    assert_true(csum6_ok(r, rn));
    assert_int_equal(stat_of(p.b, "ip6.rx_reasm_ok"), 2);
    pair_destroy(&p);
}

static void test_ipv6_malformed_packets_are_counted_by_reason_and_dropped(void **st)
{
    (void)st;
    struct pair p;
    pair_create(&p, NULL, static_nd);
    uint8_t icmp[40], f[512], r[512], ext[128];
    uint32_t l = echo_req(icmp, 1), n, rn;
    /* shorter than an IPv6 header */
    n = raw_ip6_frame(f, IP6_A, IP6_B, IP6_NH_ICMP6, icmp, l, IP6_NH_ICMP6, 0);
    raw_send_frame(&p, f, 14 + 30);
    /* version 4 in an IPv6 ethertype */
    n = raw_ip6_frame(f, IP6_A, IP6_B, IP6_NH_ICMP6, icmp, l, IP6_NH_ICMP6, 0);
    f[14] = 0x45;
    raw_send_frame(&p, f, n);
    /* payload length beyond the frame */
    n = raw_ip6_frame(f, IP6_A, IP6_B, IP6_NH_ICMP6, icmp, l, IP6_NH_ICMP6, 0);
    f[14 + 4] = 0x05;
    raw_send_frame(&p, f, n);
    /* multicast source */
    n = raw_ip6_frame(f, "ff02::1", IP6_B, IP6_NH_ICMP6, icmp, l, IP6_NH_ICMP6, 0);
    raw_send_frame(&p, f, n);
    /* not our address */
    n = raw_ip6_frame(f, IP6_A, "fd00::77", IP6_NH_ICMP6, icmp, l, IP6_NH_ICMP6, 0);
    raw_send_frame(&p, f, n);
    /* a first fragment (M set) whose length is not a multiple of 8 */
    memset(ext, 0, sizeof(ext));
    ext[0] = IP6_NH_ICMP6;
    ext[3] = 1;
    memcpy(ext + 8, icmp, l);
    n = raw_ip6_frame(f, IP6_A, IP6_B, IP6_NH_FRAGMENT, ext, 8 + 13, 0, 0);
    raw_send_frame(&p, f, n);
    /* hop-by-hop after a destination options header */
    memset(ext, 0, sizeof(ext));
    ext[0] = IP6_NH_HOPOPTS;
    ext[2] = 1; ext[3] = 4;
    ext[8] = IP6_NH_ICMP6;
    ext[10] = 1; ext[11] = 4;
    memcpy(ext + 16, icmp, l);
    n = raw_ip6_frame(f, IP6_A, IP6_B, IP6_NH_DSTOPTS, ext, 16 + l, IP6_NH_ICMP6, 16);
    raw_send_frame(&p, f, n);
    /* an unknown option of the "discard" kind (type 0x80) */
    memset(ext, 0, sizeof(ext));
    ext[0] = IP6_NH_ICMP6;
    ext[2] = 0x80; ext[3] = 4;
    memcpy(ext + 8, icmp, l);
    n = raw_ip6_frame(f, IP6_A, IP6_B, IP6_NH_DSTOPTS, ext, 8 + l, IP6_NH_ICMP6, 8);
    raw_send_frame(&p, f, n);
    /* a routing header with segments left (we do not forward) */
    memset(ext, 0, sizeof(ext));
    ext[0] = IP6_NH_ICMP6;
    ext[2] = 4; ext[3] = 1;
    memcpy(ext + 8, icmp, l);
    n = raw_ip6_frame(f, IP6_A, IP6_B, IP6_NH_ROUTING, ext, 8 + l, IP6_NH_ICMP6, 8);
    raw_send_frame(&p, f, n);
    /* an extension header running past the packet */
    memset(ext, 0, sizeof(ext));
    ext[0] = IP6_NH_ICMP6;
    ext[1] = 200;
    n = raw_ip6_frame(f, IP6_A, IP6_B, IP6_NH_DSTOPTS, ext, 16, 0, 0);
    raw_send_frame(&p, f, n);
    /* a chain of 9 destination options headers */
    memset(ext, 0, sizeof(ext));
    for (int i = 0; i < 9; i++)
        ext[i * 8] = i < 8 ? IP6_NH_DSTOPTS : IP6_NH_ICMP6;
    memcpy(ext + 72, icmp, l);
    n = raw_ip6_frame(f, IP6_A, IP6_B, IP6_NH_DSTOPTS, ext, 72 + l, IP6_NH_ICMP6, 72);
    raw_send_frame(&p, f, n);
    /* unknown next header */
    n = raw_ip6_frame(f, IP6_A, IP6_B, 99, icmp, l, 0, 0);
    raw_send_frame(&p, f, n);
    /* bad ICMPv6 checksum, and an ICMPv6 message shorter than its header */
    n = raw_ip6_frame(f, IP6_A, IP6_B, IP6_NH_ICMP6, icmp, l, IP6_NH_ICMP6, 0);
    f[54 + 10] ^= 1;
    raw_send_frame(&p, f, n);
    n = raw_ip6_frame(f, IP6_A, IP6_B, IP6_NH_ICMP6, icmp, 4, 0, 0);
    raw_send_frame(&p, f, n);
    /* a TCP header cut short, and one with a bad checksum */
    uint8_t tcp[20] = {0, 80, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, TCP_SYN, 0xff, 0xff};
    n = raw_ip6_frame(f, IP6_A, IP6_B, IPPROTO_TCP_, tcp, 12, 0, 0);
    raw_send_frame(&p, f, n);
    n = raw_ip6_frame(f, IP6_A, IP6_B, IPPROTO_TCP_, tcp, 20, IPPROTO_TCP_, 0);
    f[54 + 17] ^= 1;
    raw_send_frame(&p, f, n);
    /* truncated frames at every length up to the whole ICMPv6 echo */
    uint32_t whole = raw_ip6_frame(f, IP6_A, IP6_B, IP6_NH_ICMP6, icmp, l, IP6_NH_ICMP6, 0);
    for (uint32_t cut = 15; cut < whole; cut++) {
        struct dm_buf *m = dm_buf_alloc(p.b);
        memcpy(dm_buf_append(m, cut), f, cut);
        inet_input_frame(stack_of(p.b), m);
    }
    assert_false(recv6(&p, IP6_NH_ICMP6, ICMP6_ECHO_REPLY, r, sizeof(r), &rn, 30 * DM_NS_PER_MS));
    assert_int_equal(stat_of(p.b, "ip6.rx_short"), 1 + 40 - 1);
    assert_int_equal(stat_of(p.b, "ip6.rx_bad_version"), 1);
    assert_int_equal(stat_of(p.b, "ip6.rx_bad_len"), 1 + l);
    assert_int_equal(stat_of(p.b, "ip6.rx_bad_src"), 1);
    assert_int_equal(stat_of(p.b, "ip6.rx_not_ours"), 1);
    assert_int_equal(stat_of(p.b, "ip6.rx_frag_drop"), 1);
    assert_int_equal(stat_of(p.b, "ip6.rx_bad_ext"), 4);
    assert_int_equal(stat_of(p.b, "ip6.rx_ext_unknown_opt"), 1);
    assert_int_equal(stat_of(p.b, "ip6.rx_bad_proto"), 1);
    assert_int_equal(stat_of(p.b, "icmp6.rx_bad_csum"), 1);
    assert_int_equal(stat_of(p.b, "icmp6.rx_short"), 1);
    assert_int_equal(stat_of(p.b, "tcp.rx_short"), 1);
    assert_int_equal(stat_of(p.b, "tcp.rx_bad_csum"), 1);
    /* and the stack still answers a good ping */
    n = raw_ip6_frame(f, IP6_A, IP6_B, IP6_NH_ICMP6, icmp, l, IP6_NH_ICMP6, 0);
    raw_send_frame(&p, f, n);
    assert_true(recv6(&p, IP6_NH_ICMP6, ICMP6_ECHO_REPLY, r, sizeof(r), &rn, 200 * DM_NS_PER_MS));
    pair_destroy(&p);
}

static void sockname6(struct dm_instance *inst, int qd, bool peer, const char *ip, uint16_t port)
{
    union dm_sockaddr a;
    socklen_t len = sizeof(a);
    if (peer)
        assert_int_equal(dm_getpeername(inst, qd, &a.sa, &len), 0);
    else
        assert_int_equal(dm_getsockname(inst, qd, &a.sa, &len), 0);
    assert_int_equal(len, sizeof(struct sockaddr_in6));
    assert_int_equal(a.sin6.sin6_family, AF_INET6);
    struct sockaddr_in6 want = sin6_of(ip, port);
    assert_memory_equal(&a.sin6.sin6_addr, &want.sin6_addr, 16);
    if (port)
        assert_int_equal(a.sin6.sin6_port, htons(port));
}

static void test_tcp_over_ipv6_transfers_bytes_with_ipv6_addresses_and_mss(void **st)
{
    (void)st;
    struct pair p;
    pair_create(&p, NULL, NULL);
    int lqd = tcp_listener6(p.b, "::", 80, 8);
    int cqd, sqd;
    tcp_connect_pair6(&p, lqd, 80, &cqd, &sqd);
    sockname6(p.a, cqd, true, IP6_B, 80);
    sockname6(p.a, cqd, false, IP6_A, 0);
    sockname6(p.b, sqd, false, IP6_B, 80);
    sockname6(p.b, sqd, true, IP6_A, 0);
    sockname6(p.b, lqd, false, "::", 80);
    /* MSS from the IPv6 MTU: 1500 - 40 - 20, less 12 of timestamps */
    assert_int_equal(pcb_of(p.a, cqd)->mss, 1500 - 60 - 12);
    assert_int_equal(pcb_of(p.b, sqd)->mss, 1500 - 60 - 12);
    static uint8_t buf[200000];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 7 + (i >> 9));
    size_t off = 0, got = 0;
    static uint8_t rx[sizeof(buf)];
    demi_qtoken_t pop;
    assert_int_equal(dm_pop(p.b, &pop, sqd), 0);
    int64_t end = dm_clock_ns() + 10 * DM_NS_PER_S;
    while (got < sizeof(buf) && dm_clock_ns() < end) {
        if (off < sizeof(buf)) {
            size_t k = DM_MIN((size_t)1900, sizeof(buf) - off);
            push_bytes(p.a, cqd, buf + off, k);
            off += k;
        }
        pair_poll(&p);
        if (token_done(p.b, pop)) {
            demi_qresult_t qr;
            assert_int_equal(dm_wait(p.b, &qr, pop, 0), 0);
            assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
            for (uint32_t k = 0; k < qr.qr_value.sga.sga_numsegs; k++) {
                uint32_t sl = qr.qr_value.sga.sga_segs[k].sgaseg_len;
                assert_true(got + sl <= sizeof(rx));
                memcpy(rx + got, qr.qr_value.sga.sga_segs[k].sgaseg_buf, sl);
                got += sl;
            }
            dm_sgafree(p.b, &qr.qr_value.sga);
            assert_int_equal(dm_pop(p.b, &pop, sqd), 0);
        }
    }
    assert_int_equal(got, sizeof(buf));
    assert_memory_equal(rx, buf, sizeof(buf));
    assert_true(stat_of(p.a, "ip6.tx") > 100);
    assert_int_equal(stat_of(p.a, "ip.tx"), 0);
    assert_int_equal(stat_of(p.a, "tcp.rx_bad_csum") + stat_of(p.b, "tcp.rx_bad_csum"), 0);
    /* an unused port answers with a reset over IPv6 */
    int c2;
    demi_qtoken_t ct;
    assert_int_equal(dm_socket(p.a, &c2, AF_INET6, SOCK_STREAM, 0), 0);
    struct sockaddr_in6 closed = sin6_of(IP6_B, 81);
    assert_int_equal(dm_connect(p.a, &ct, c2, (struct sockaddr *)&closed, sizeof(closed)), 0);
    demi_qresult_t qr = pair_wait(&p, p.a, ct, DM_NS_PER_S);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_FAILED);
    assert_int_equal(qr.qr_ret, ECONNREFUSED);
    /* off link without a gateway */
    int c3;
    assert_int_equal(dm_socket(p.a, &c3, AF_INET6, SOCK_STREAM, 0), 0);
    struct sockaddr_in6 far = sin6_of("2001:db8::1", 80);
    assert_int_equal(dm_connect(p.a, &ct, c3, (struct sockaddr *)&far, sizeof(far)), -ENETUNREACH);
    /* and over the link-local addresses */
    int c4, s4;
    demi_qtoken_t at;
    assert_int_equal(dm_socket(p.a, &c4, AF_INET6, SOCK_STREAM, 0), 0);
    struct sockaddr_in6 ll = sin6_of(LL6_B, 80);
    assert_int_equal(dm_accept(p.b, &at, lqd), 0);
    assert_int_equal(dm_connect(p.a, &ct, c4, (struct sockaddr *)&ll, sizeof(ll)), 0);
    qr = pair_wait(&p, p.a, ct, DM_NS_PER_S);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_CONNECT);
    qr = pair_wait(&p, p.b, at, DM_NS_PER_S);
    s4 = qr.qr_value.ares.qd;
    sockname6(p.a, c4, false, LL6_A, 0);
    sockname6(p.b, s4, true, LL6_A, 0);
    pair_destroy(&p);
}

static void test_dual_stack_listener_takes_ipv4_clients_as_v4_mapped(void **st)
{
    (void)st;
    struct pair p;
    pair_create(&p, NULL, NULL);
    int lqd = tcp_listener6(p.b, "::", 80, 8);
    int cqd, sqd;
    tcp_connect_pair(&p, lqd, 80, &cqd, &sqd); /* an AF_INET client */
    demi_qtoken_t at;
    (void)at;
    sockname6(p.b, sqd, true, "::ffff:" IP_A, 0);
    sockname6(p.b, sqd, false, "::ffff:" IP_B, 80);
    assert_int_equal(pcb_of(p.b, sqd)->mss, 1500 - 40 - 12);
    push_bytes(p.a, cqd, "v4 over a v6 socket", 19);
    demi_qtoken_t pop;
    assert_int_equal(dm_pop(p.b, &pop, sqd), 0);
    demi_qresult_t qr = pair_wait(&p, p.b, pop, DM_NS_PER_S);
    assert_int_equal(qr.qr_value.sga.sga_segs[0].sgaseg_len, 19);
    dm_sgafree(p.b, &qr.qr_value.sga);
    /* IPV6_V6ONLY: IPv4 clients are refused */
    int l6;
    assert_int_equal(dm_socket(p.b, &l6, AF_INET6, SOCK_STREAM, 0), 0);
    int one = 1;
    assert_int_equal(dm_setsockopt(p.b, l6, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)), 0);
    struct sockaddr_in6 any = sin6_of("::", 90);
    assert_int_equal(dm_bind(p.b, l6, (struct sockaddr *)&any, sizeof(any)), 0);
    assert_int_equal(dm_listen(p.b, l6, 8), 0);
    int c;
    demi_qtoken_t ct;
    assert_int_equal(dm_socket(p.a, &c, AF_INET, SOCK_STREAM, 0), 0);
    struct sockaddr_in s4 = sin_of(IP_B, 90);
    assert_int_equal(dm_connect(p.a, &ct, c, (struct sockaddr *)&s4, sizeof(s4)), 0);
    qr = pair_wait(&p, p.a, ct, DM_NS_PER_S);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_FAILED);
    assert_int_equal(qr.qr_ret, ECONNREFUSED);
    /* ... and then an IPv4 listener can share the port (SO_REUSEADDR) */
    int l4;
    assert_int_equal(dm_socket(p.b, &l4, AF_INET, SOCK_STREAM, 0), 0);
    assert_int_equal(dm_setsockopt(p.b, l4, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
    struct sockaddr_in any4 = sin_of("0.0.0.0", 90);
    assert_int_equal(dm_bind(p.b, l4, (struct sockaddr *)&any4, sizeof(any4)), 0);
    assert_int_equal(dm_listen(p.b, l4, 8), 0);
    /* but not next to a dual-stack [::] listener */
    int l5;
    assert_int_equal(dm_socket(p.b, &l5, AF_INET, SOCK_STREAM, 0), 0);
    assert_int_equal(dm_setsockopt(p.b, l5, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
    struct sockaddr_in any80 = sin_of("0.0.0.0", 80);
    assert_int_equal(dm_bind(p.b, l5, (struct sockaddr *)&any80, sizeof(any80)), -EADDRINUSE);
    /* an AF_INET6 socket refuses a v4-mapped peer with IPV6_V6ONLY, and sockaddr_in for TCP */
    int c6;
    assert_int_equal(dm_socket(p.a, &c6, AF_INET6, SOCK_STREAM, 0), 0);
    assert_int_equal(dm_setsockopt(p.a, c6, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)), 0);
    struct sockaddr_in6 m4 = sin6_of("::ffff:" IP_B, 80);
    assert_int_equal(dm_connect(p.a, &ct, c6, (struct sockaddr *)&m4, sizeof(m4)), -ENETUNREACH);
    assert_int_equal(dm_connect(p.a, &ct, c6, (struct sockaddr *)&s4, sizeof(s4)), -EINVAL);
    pair_destroy(&p);
}

static void test_ipv6_off_link_goes_through_the_gateway(void **st)
{
    (void)st;
    const char *kv[] = {"DEMI_ARP", IP6_A "=" MAC_A, "DEMI_GATEWAY6", IP6_A, NULL};
    struct pair p;
    pair_create(&p, NULL, kv);
    int u, err = 0;
    demi_qtoken_t qt;
    assert_int_equal(dm_socket(p.b, &u, AF_INET6, SOCK_DGRAM, 0), 0);
    struct sockaddr_in6 far = sin6_of("2001:db8::5", 9);
    demi_sgarray_t sga = dm_sgaalloc(p.b, 4, &err);
    memcpy(sga.sga_segs[0].sgaseg_buf, "far!", 4);
    assert_int_equal(dm_pushto(p.b, &qt, u, &sga, (struct sockaddr *)&far, sizeof(far)), 0);
    dm_sgafree(p.b, &sga);
    uint8_t r[256], mac_a[6], a6[16];
    uint32_t n;
    assert_true(recv6(&p, IPPROTO_UDP_, -1, r, sizeof(r), &n, 200 * DM_NS_PER_MS));
    mac_of(MAC_A, mac_a);
    assert_memory_equal(r, mac_a, 6);          /* to the gateway's MAC */
    addr6_of("2001:db8::5", a6);
    assert_memory_equal(r + 14 + 24, a6, 16);  /* for the far address */
    addr6_of(IP6_B, a6);
    assert_memory_equal(r + 14 + 8, a6, 16);   /* from DEMI_IPV6's */
    assert_true(csum6_ok(r, n));
    assert_memory_equal(r + 54 + 8, "far!", 4);
    pair_destroy(&p);
}

/* The next MLD report that reached A. */
static bool recv_mld(struct pair *p, uint8_t *f, uint32_t cap, uint32_t *n, int64_t timeout_ns)
{
    int64_t end = dm_clock_ns() + timeout_ns;
    while (dm_clock_ns() < end)
        if (raw_recv_frame(p, f, cap, n, end - dm_clock_ns()) && memcmp(f, "\x33\x33\x00\x00\x00\x16", 6) == 0)
            return true;
    return false;
}

static void check_mld_report(const uint8_t *r, uint32_t n, uint8_t rectype)
{
    uint8_t a6[16];
    assert_true(n >= 14 + 40 + 8 + 28);
    assert_int_equal(r[12], 0x86);
    assert_int_equal(r[13], 0xdd);
    const struct ip6_hdr *ih = (const struct ip6_hdr *)(r + 14);
    assert_int_equal(ih->nxt, IP6_NH_HOPOPTS);
    assert_int_equal(ih->hops, 1);
    addr6_of(LL6_B, a6);
    assert_memory_equal(ih->src, a6, 16);
    addr6_of("ff02::16", a6);
    assert_memory_equal(ih->dst, a6, 16);
    static const uint8_t hbh[8] = {IP6_NH_ICMP6, 0, 5, 2, 0, 0, 1, 0}; /* Router Alert: MLD */
    assert_memory_equal(r + 54, hbh, 8);
    const uint8_t *m = r + 62;
    uint32_t mlen = ntohs(ih->plen) - 8, s6[4], d6[4];
    assert_int_equal(mlen, 8 + 20);  /* one group: LL6_B and IP6_B share ff02::1:ff00:2 */
    assert_int_equal(m[0], MLDV2_LISTENER_REPORT);
    assert_int_equal(m[7], 1);
    assert_int_equal(m[8], rectype);
    addr6_of("ff02::1:ff00:2", a6);
    assert_memory_equal(m + 12, a6, 16);
    memcpy(s6, ih->src, 16);
    memcpy(d6, ih->dst, 16);
    assert_int_equal(inet_csum_fold(inet_csum_partial(m, mlen, inet_csum_pseudo6(s6, d6, IP6_NH_ICMP6, mlen))), 0);
}

static void test_mld_reports_our_groups_at_start_and_on_query(void **st)
{
    (void)st;
    struct pair p;
    pair_create(&p, NULL, NULL);
    p.keep_mld = true;
    uint8_t r[256], f[256];
    uint32_t n;
    /* unsolicited: at the first 100 ms tick, again 1 s later */
    assert_true(recv_mld(&p, r, sizeof(r), &n, 500 * DM_NS_PER_MS));
    check_mld_report(r, n, MLDV2_CHANGE_TO_EXCLUDE);
    assert_true(recv_mld(&p, r, sizeof(r), &n, 1500 * DM_NS_PER_MS));
    check_mld_report(r, n, MLDV2_CHANGE_TO_EXCLUDE);
    assert_int_equal(stat_of(p.b, "icmp6.tx_mld_report"), 2);
    /* a general query from a router gets our state (MODE_IS_EXCLUDE) */
    uint8_t q[8 + 28] = {IP6_NH_ICMP6, 0, 5, 2, 0, 0, 1, 0, MLD_LISTENER_QUERY, 0, 0, 0, 0x03, 0xe8};
    n = raw_ip6_frame(f, LL6_A, "ff02::1", IP6_NH_HOPOPTS, q, sizeof(q), IP6_NH_ICMP6, 8);
    memcpy(f, "\x33\x33\x00\x00\x00\x01", 6);
    f[14 + 7] = 1;
    raw_send_frame(&p, f, n);
    assert_true(recv_mld(&p, r, sizeof(r), &n, 300 * DM_NS_PER_MS));
    check_mld_report(r, n, MLDV2_MODE_IS_EXCLUDE);
    assert_int_equal(stat_of(p.b, "icmp6.rx_mld_query"), 1);
    /* one that was forwarded (hop limit 64) or not from a link-local router is not a query */
    n = raw_ip6_frame(f, LL6_A, "ff02::1", IP6_NH_HOPOPTS, q, sizeof(q), IP6_NH_ICMP6, 8);
    memcpy(f, "\x33\x33\x00\x00\x00\x01", 6);
    raw_send_frame(&p, f, n);
    n = raw_ip6_frame(f, IP6_A, "ff02::1", IP6_NH_HOPOPTS, q, sizeof(q), IP6_NH_ICMP6, 8);
    memcpy(f, "\x33\x33\x00\x00\x00\x01", 6);
    f[14 + 7] = 1;
    raw_send_frame(&p, f, n);
    assert_false(recv_mld(&p, r, sizeof(r), &n, 300 * DM_NS_PER_MS));
    assert_int_equal(stat_of(p.b, "icmp6.rx_mld_query"), 1);
    assert_int_equal(stat_of(p.b, "icmp6.tx_mld_report"), 3);
    pair_destroy(&p);
}

static int create_with(const char *ip6, const char *gw6, const char *mtu)
{
    struct dm_config c;
    dm_config_init(&c);
    assert_int_equal(dm_config_set(&c, "DEMI_BACKEND", "loop"), 0);
    assert_int_equal(dm_config_set(&c, "DEMI_LOG", "error"), 0);
    if (ip6)
        assert_int_equal(dm_config_set(&c, "DEMI_IPV6", ip6), 0);
    if (gw6)
        assert_int_equal(dm_config_set(&c, "DEMI_GATEWAY6", gw6), 0);
    if (mtu)
        assert_int_equal(dm_config_set(&c, "DEMI_MTU", mtu), 0);
    struct dm_instance *i = NULL;
    int r = dm_instance_create(&c, &i);
    if (r == 0) {
        struct inet_stack *sp = stack_of(i);
        char ll[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, sp->ip6_ll.b, ll, sizeof(ll));
        assert_string_equal(ll, "fe80::ff:fe00:1"); /* loop's MAC 02:00:0a:00:00:01 */
        assert_true(sp->ip6_plen == 64 || !ip6 || strchr(ip6, '/'));
        dm_instance_destroy(i);
    }
    return r;
}

static void test_ipv6_config_is_checked_at_create(void **st)
{
    (void)st;
    assert_int_equal(create_with(NULL, NULL, NULL), 0);          /* link-local only */
    assert_int_equal(create_with("fd00::1", NULL, NULL), 0);     /* /64 by default */
    assert_int_equal(create_with("fd00::1/48", "fd00::fe", NULL), 0);
    assert_int_equal(create_with("fd00::1/64", "fe80::1", NULL), 0);
    assert_int_equal(create_with("fe80::1/64", NULL, NULL), -EINVAL);  /* link-local: from the MAC */
    assert_int_equal(create_with("ff02::1", NULL, NULL), -EINVAL);
    assert_int_equal(create_with("::ffff:10.0.0.1", NULL, NULL), -EINVAL);
    assert_int_equal(create_with("fd00::1/129", NULL, NULL), -EINVAL);
    assert_int_equal(create_with("fd00::1/", NULL, NULL), -EINVAL);
    assert_int_equal(create_with("10.0.0.1", NULL, NULL), -EINVAL);
    assert_int_equal(create_with("fd00::1", "2001:db8::1", NULL), -EINVAL); /* off link */
    assert_int_equal(create_with(NULL, "fd00::fe", NULL), -EINVAL);
    assert_int_equal(create_with("fd00::1", NULL, "1000"), -EINVAL);        /* below IPv6's 1280 */
    assert_int_equal(create_with(NULL, NULL, "1000"), 0);
}

static void test_udp6_family_rules_follow_linux(void **st)
{
    (void)st;
    struct pair p;
    pair_create(&p, NULL, NULL);
    int u, one = 1, err = 0;
    demi_qtoken_t qt;
    assert_int_equal(dm_socket(p.a, &u, AF_INET6, SOCK_DGRAM, 0), 0);
    assert_int_equal(dm_setsockopt(p.a, u, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)), 0);
    int v = 0;
    socklen_t vl = sizeof(v);
    assert_int_equal(dm_getsockopt(p.a, u, IPPROTO_IPV6, IPV6_V6ONLY, &v, &vl), 0);
    assert_int_equal(v, 1);
    struct sockaddr_in s4 = sin_of(IP_B, 9);
    struct sockaddr_in6 m4 = sin6_of("::ffff:" IP_B, 9);
    assert_int_equal(dm_connect(p.a, &qt, u, (struct sockaddr *)&s4, sizeof(s4)), -EAFNOSUPPORT);
    assert_int_equal(dm_connect(p.a, &qt, u, (struct sockaddr *)&m4, sizeof(m4)), -ENETUNREACH);
    demi_sgarray_t sga = dm_sgaalloc(p.a, 10, &err);
    assert_int_equal(dm_pushto(p.a, &qt, u, &sga, (struct sockaddr *)&s4, sizeof(s4)), -ENETUNREACH);
    assert_int_equal(dm_pushto(p.a, &qt, u, &sga, (struct sockaddr *)&m4, sizeof(m4)), -ENETUNREACH);
    dm_sgafree(p.a, &sga);
    assert_int_equal(dm_bind(p.a, u, (struct sockaddr *)&m4, sizeof(m4)), -EINVAL);
    struct sockaddr_in6 other = sin6_of("fd00::99", 9);
    assert_int_equal(dm_bind(p.a, u, (struct sockaddr *)&other, sizeof(other)), -EADDRNOTAVAIL);
    struct sockaddr_in6 mine = sin6_of(IP6_A, 9);
    assert_int_equal(dm_bind(p.a, u, (struct sockaddr *)&mine, sizeof(mine)), 0);
    assert_int_equal(dm_setsockopt(p.a, u, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)), -EINVAL); /* bound */
    sockname6(p.a, u, false, IP6_A, 9);
    /* a dual-stack UDP socket bound to [::] takes IPv4 datagrams, v4-mapped */
    int d;
    assert_int_equal(dm_socket(p.b, &d, AF_INET6, SOCK_DGRAM, 0), 0);
    struct sockaddr_in6 any = sin6_of("::", 7);
    assert_int_equal(dm_bind(p.b, d, (struct sockaddr *)&any, sizeof(any)), 0);
    int c4;
    assert_int_equal(dm_socket(p.a, &c4, AF_INET, SOCK_DGRAM, 0), 0);
    struct sockaddr_in to = sin_of(IP_B, 7);
    demi_qtoken_t pop;
    assert_int_equal(dm_pop(p.b, &pop, d), 0);
    sga = dm_sgaalloc(p.a, 3, &err);
    assert_int_equal(dm_pushto(p.a, &qt, c4, &sga, (struct sockaddr *)&to, sizeof(to)), 0);
    dm_sgafree(p.a, &sga);
    demi_qresult_t qr = pair_wait(&p, p.b, pop, DM_NS_PER_S);
    assert_int_equal(qr.qr_value.sga.sga_addr6.sin6_family, AF_INET6);
    struct sockaddr_in6 want = sin6_of("::ffff:" IP_A, 0);
    assert_memory_equal(&qr.qr_value.sga.sga_addr6.sin6_addr, &want.sin6_addr, 16);
    dm_sgafree(p.b, &qr.qr_value.sga);
    pair_destroy(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_icmp6_echo_to_our_addresses_gets_a_reply),
        cmocka_unit_test(test_nd_solicitation_for_our_address_gets_an_advertisement),
        cmocka_unit_test(test_nd_our_solicitation_holds_the_packet_until_the_advertisement),
        cmocka_unit_test(test_udp6_between_two_stacks_resolves_by_nd_and_carries_sockaddr_in6),
        cmocka_unit_test(test_udp6_to_an_unbound_port_gets_port_unreachable),
        cmocka_unit_test(test_udp6_connected_socket_gets_econnrefused_from_port_unreachable),
        cmocka_unit_test(test_tcp6_connect_ends_at_an_icmp6_port_unreachable),
        cmocka_unit_test(test_ipv6_malformed_packets_are_counted_by_reason_and_dropped),
        cmocka_unit_test(test_udp6_datagrams_past_the_mtu_are_fragmented_and_reassembled),
        cmocka_unit_test(test_udp6_stray_reassembled_datagram_is_forwarded_as_one_frame),
        cmocka_unit_test(test_ipv6_fragments_in_any_order_make_one_datagram),
        cmocka_unit_test(test_tcp_over_ipv6_transfers_bytes_with_ipv6_addresses_and_mss),
        cmocka_unit_test(test_dual_stack_listener_takes_ipv4_clients_as_v4_mapped),
        cmocka_unit_test(test_udp6_family_rules_follow_linux),
        cmocka_unit_test(test_ipv6_off_link_goes_through_the_gateway),
        cmocka_unit_test(test_mld_reports_our_groups_at_start_and_on_query),
        cmocka_unit_test(test_ipv6_config_is_checked_at_create),
    };
    if (getenv("TEST_FILTER"))
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
