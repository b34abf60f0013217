/* SPDX-License-Identifier: MIT */
/*
 * Ethernet, ARP, IPv4, ICMP and UDP of stacks/inet: ARP replies and
 * resolution with queueing, ping, UDP with peer addresses and port
 * unreachable, and malformed input counted per reason and dropped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "inet_test.h"
#include "csum.h"
#include "demi/sga.h"

static void test_arp_request_for_our_address_gets_a_reply(void **st)
{
    (void)st;
    struct pair p;
    pair_create(&p, NULL, NULL);
    uint8_t f[60] = {0};
    struct eth_hdr *eh = (struct eth_hdr *)f;
    struct arp_hdr *a = (struct arp_hdr *)(f + 14);
    memset(eh->dst, 0xff, 6);
    sscanf(MAC_A, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &eh->src[0], &eh->src[1], &eh->src[2], &eh->src[3], &eh->src[4], &eh->src[5]);
    eh->type = htons(ETH_P_ARP);
    a->hrd = htons(1);
    a->pro = htons(ETH_P_IPV4);
    a->hln = 6;
    a->pln = 4;
    a->op = htons(ARP_OP_REQUEST);
    memcpy(a->sha, eh->src, 6);
    inet_pton(AF_INET, IP_A, &a->spa);
    inet_pton(AF_INET, IP_B, &a->tpa);
    raw_send_frame(&p, f, sizeof(f));
    uint8_t r[128];
    uint32_t n;
    assert_true(raw_recv_frame(&p, r, sizeof(r), &n, 200 * DM_NS_PER_MS));
    const struct arp_hdr *ra = (const struct arp_hdr *)(r + 14);
    assert_int_equal(ntohs(((struct eth_hdr *)r)->type), ETH_P_ARP);
    assert_int_equal(ntohs(ra->op), ARP_OP_REPLY);
    assert_memory_equal(ra->tha, eh->src, 6);
    uint8_t mac_b[6];
    sscanf(MAC_B, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac_b[0], &mac_b[1], &mac_b[2], &mac_b[3], &mac_b[4], &mac_b[5]);
    assert_memory_equal(ra->sha, mac_b, 6);
    /* a request for someone else gets nothing */
    inet_pton(AF_INET, "10.0.0.99", &a->tpa);
    raw_send_frame(&p, f, sizeof(f));
    assert_false(raw_recv_frame(&p, r, sizeof(r), &n, 20 * DM_NS_PER_MS));
    assert_int_equal(stat_of(p.b, "arp.tx_reply"), 1);
    pair_destroy(&p);
}

static void test_arp_resolution_queues_packets_until_the_reply(void **st)
{
    (void)st;
    const char *kv[] = {"DEMI_ARP", "", NULL}; /* no static entries */
    struct pair p;
    pair_create(&p, NULL, kv);
    /* UDP echo between the two stacks: the first datagram waits for ARP. */
    int ua, ub;
    assert_int_equal(dm_socket(p.a, &ua, AF_INET, SOCK_DGRAM, 0), 0);
    assert_int_equal(dm_socket(p.b, &ub, AF_INET, SOCK_DGRAM, 0), 0);
    struct sockaddr_in sb = sin_of(IP_B, 5353);
    assert_int_equal(dm_bind(p.b, ub, (struct sockaddr *)&sb, sizeof(sb)), 0);
    demi_qtoken_t pop;
    assert_int_equal(dm_pop(p.b, &pop, ub), 0);
    int err = 0;
    demi_sgarray_t sga = dm_sgaalloc(p.a, 5, &err);
    memcpy(sga.sga_segs[0].sgaseg_buf, "hello", 5);
    demi_qtoken_t qt;
    assert_int_equal(dm_pushto(p.a, &qt, ua, &sga, (struct sockaddr *)&sb, sizeof(sb)), 0);
    dm_sgafree(p.a, &sga);
    demi_qresult_t qr = pair_wait(&p, p.b, pop, DM_NS_PER_S);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
    assert_int_equal(qr.qr_value.sga.sga_segs[0].sgaseg_len, 5);
    assert_memory_equal(qr.qr_value.sga.sga_segs[0].sgaseg_buf, "hello", 5);
    dm_sgafree(p.b, &qr.qr_value.sga);
    assert_int_equal(stat_of(p.a, "arp.tx_request"), 1);
    assert_int_equal(stat_of(p.a, "arp.resolved"), 1);
    assert_int_equal(stat_of(p.b, "arp.tx_reply"), 1);
    pair_destroy(&p);
}

static void test_icmp_echo_request_to_our_address_gets_a_reply(void **st)
{
    (void)st;
    struct pair p;
    pair_create(&p, NULL, NULL);
    uint8_t icmp[8 + 32];
    memset(icmp, 0, sizeof(icmp));
    icmp[0] = ICMP_ECHO_REQUEST;
    icmp[4] = 0x12; /* id */
    icmp[7] = 7;    /* seq */
    for (int i = 0; i < 32; i++)
        icmp[8 + i] = (uint8_t)i;
    uint16_t c = inet_csum_fold(inet_csum_partial(icmp, sizeof(icmp), 0));
    memcpy(icmp + 2, &c, 2);
    uint8_t f[128];
    uint32_t n = raw_ip_frame(f, IPPROTO_ICMP_, 0, icmp, sizeof(icmp));
    raw_send_frame(&p, f, n);
    uint8_t r[128];
    assert_true(raw_recv_frame(&p, r, sizeof(r), &n, 200 * DM_NS_PER_MS));
    assert_int_equal(n, 34 + sizeof(icmp));
    assert_int_equal(r[34], ICMP_ECHO_REPLY);
    assert_memory_equal(r + 34 + 4, icmp + 4, sizeof(icmp) - 4); /* id, seq, payload */
    assert_int_equal(inet_csum_fold(inet_csum_partial(r + 34, sizeof(icmp), 0)), 0);
    assert_int_equal(inet_csum_fold(inet_csum_partial(r + 14, 20, 0)), 0);
    /* a corrupted request is counted, not answered */
    f[34 + 10] ^= 1;
    raw_send_frame(&p, f, 34 + sizeof(icmp));
    assert_false(raw_recv_frame(&p, r, sizeof(r), &n, 20 * DM_NS_PER_MS));
    assert_int_equal(stat_of(p.b, "icmp.rx_bad_csum"), 1);
    pair_destroy(&p);
}

static void test_udp_pushto_and_pop_carry_the_peer_address(void **st)
{
    (void)st;
    struct pair p;
    pair_create(&p, NULL, NULL);
    int ua, ub;
    udp_pair_bound(&p, false, &ua, &ub);
    struct sockaddr_in sa = sin_of(IP_A, 1111), sb = sin_of(IP_B, 2222);
    demi_qtoken_t pop, qt;
    assert_int_equal(dm_pop(p.b, &pop, ub), 0);
    int err = 0;
    demi_sgarray_t sga = dm_sgaalloc(p.a, 1000, &err);
    memset(sga.sga_segs[0].sgaseg_buf, 'u', 1000);
    assert_int_equal(dm_pushto(p.a, &qt, ua, &sga, (struct sockaddr *)&sb, sizeof(sb)), 0);
    dm_sgafree(p.a, &sga);
    demi_qresult_t qr = pair_wait(&p, p.b, pop, DM_NS_PER_S);
    assert_int_equal(qr.qr_value.sga.sga_segs[0].sgaseg_len, 1000);
    assert_int_equal(qr.qr_value.sga.sga_addr.sin_port, htons(1111));
    assert_int_equal(qr.qr_value.sga.sga_addr.sin_addr.s_addr, sa.sin_addr.s_addr);
    /* echo back to where it came from */
    struct sockaddr_in from = qr.qr_value.sga.sga_addr;
    assert_int_equal(dm_pushto(p.b, &qt, ub, &qr.qr_value.sga, (struct sockaddr *)&from, sizeof(from)), 0);
    dm_sgafree(p.b, &qr.qr_value.sga);
    assert_int_equal(dm_pop(p.a, &pop, ua), 0);
    qr = pair_wait(&p, p.a, pop, DM_NS_PER_S);
    assert_int_equal(qr.qr_value.sga.sga_segs[0].sgaseg_len, 1000);
    assert_int_equal(qr.qr_value.sga.sga_addr.sin_port, htons(2222));
    dm_sgafree(p.a, &qr.qr_value.sga);
    /* too big for IPv4: 65535 - 20 - 8 */
    sga = dm_sgaalloc(p.a, 65508, &err);
    assert_int_equal(dm_pushto(p.a, &qt, ua, &sga, (struct sockaddr *)&sb, sizeof(sb)), -EMSGSIZE);
    /* unconnected push without an address */
    assert_int_equal(dm_push(p.a, &qt, ua, &sga), -EDESTADDRREQ);
    dm_sgafree(p.a, &sga);
    pair_destroy(&p);
}

static void test_udp_to_an_unbound_port_gets_icmp_port_unreachable(void **st)
{
    (void)st;
    struct pair p;
    pair_create(&p, NULL, NULL);
    uint8_t udp[8 + 4] = {0};
    struct udp_hdr *uh = (struct udp_hdr *)udp;
    uh->sport = htons(1000);
    uh->dport = htons(9999);
    uh->len = htons(12);
    memcpy(udp + 8, "abcd", 4); /* checksum 0: none (allowed on IPv4) */
    uint8_t f[128], r[256];
    uint32_t n = raw_ip_frame(f, IPPROTO_UDP_, 0, udp, sizeof(udp));
    raw_send_frame(&p, f, n);
    assert_true(raw_recv_frame(&p, r, sizeof(r), &n, 200 * DM_NS_PER_MS));
    assert_int_equal(r[14 + 9], IPPROTO_ICMP_);
    assert_int_equal(r[34], ICMP_DEST_UNREACH);
    assert_int_equal(r[35], ICMP_PORT_UNREACH);
    assert_memory_equal(r + 34 + 8, f + 14, 28); /* quotes the IP header + 8 bytes */
    assert_int_equal(stat_of(p.b, "udp.rx_no_port"), 1);
    pair_destroy(&p);
}

/* On a port other processes share (devices/dpdk's secondaries), the
 * device takes a datagram no socket here wants, as the frame it came in;
 * no port unreachable then, nor while a process of the port is starting
 * when none has the socket. */
static void test_udp_stray_datagram_is_forwarded_as_the_whole_frame(void **st)
{
    (void)st;
    struct pair p;
    pair_create(&p, NULL, NULL);
    fwd_capture_start(p.b);
    uint8_t udp[8 + 4] = {0};
    struct udp_hdr *uh = (struct udp_hdr *)udp;
    uh->sport = htons(1000);
    uh->dport = htons(9999);
    uh->len = htons(12);
    memcpy(udp + 8, "abcd", 4);
    uint8_t f[128], r[256];
    uint32_t n = raw_ip_frame(f, IPPROTO_UDP_, 0, udp, sizeof(udp));
    raw_send_frame(&p, f, n);
    assert_false(raw_recv_frame(&p, r, sizeof(r), &n, 50 * DM_NS_PER_MS)); /* no port unreachable */
    assert_int_equal(fwd_cap.calls, 1);
    assert_int_equal(fwd_cap.len, 14 + 20 + 12);
    assert_memory_equal(fwd_cap.frame, f, fwd_cap.len); /* Ethernet header first, as it came */
    assert_int_equal(stat_of(p.b, "udp.rx_forwarded"), 1);
    assert_int_equal(stat_of(p.b, "udp.rx_no_port"), 0);
    /* every process has seen it: dropped while one of them has just come
     * up (it may bind the port in a moment), else port unreachable */
    fwd_cap.refuse = true;
    fwd_cap.starting = true;
    n = raw_ip_frame(f, IPPROTO_UDP_, 0, udp, sizeof(udp));
    raw_send_frame(&p, f, n);
    assert_false(raw_recv_frame(&p, r, sizeof(r), &n, 50 * DM_NS_PER_MS));
    assert_int_equal(stat_of(p.b, "udp.rx_early"), 1);
    fwd_cap.starting = false;
    n = raw_ip_frame(f, IPPROTO_UDP_, 0, udp, sizeof(udp));
    raw_send_frame(&p, f, n);
    assert_true(raw_recv_frame(&p, r, sizeof(r), &n, 200 * DM_NS_PER_MS));
    assert_int_equal(r[34], ICMP_DEST_UNREACH);
    assert_int_equal(stat_of(p.b, "udp.rx_no_port"), 1);
    fwd_capture_stop();
    pair_destroy(&p);
}

static uint16_t local_port(struct dm_instance *inst, int qd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    assert_int_equal(dm_getsockname(inst, qd, (struct sockaddr *)&ss, &len), 0);
    return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
}

/* On a port other processes share, the ephemeral port a connect or a
 * first sendto takes is one whose replies the device places on our queue
 * (here: multiples of 8), for TCP and for UDP, IPv4 and IPv6; a bind to
 * port 0 (no peer known yet) takes any. */
static void test_ephemeral_ports_bring_the_replies_to_our_queue(void **st)
{
    (void)st;
    struct pair p;
    pair_create(&p, NULL, NULL);
    fwd_capture_start(p.a);
    fwd_cap.place_mod = 8;
    int lq = tcp_listener(p.b, IP_B, 80, 16), lq6 = tcp_listener6(p.b, "::", 81, 16), ub;
    assert_int_equal(dm_socket(p.b, &ub, AF_INET, SOCK_DGRAM, 0), 0);
    struct sockaddr_in sb = sin_of(IP_B, 2222);
    struct sockaddr_in6 sb6 = sin6_of(IP6_B, 2222);
    for (int i = 0; i < 4; i++) {
        int cq, sq;
        tcp_connect_pair(&p, lq, 80, &cq, &sq);
        assert_int_equal(local_port(p.a, cq) % 8, 0);
        tcp_connect_pair6(&p, lq6, 81, &cq, &sq);
        assert_int_equal(local_port(p.a, cq) % 8, 0);
        int u, u6, uf;
        assert_int_equal(dm_socket(p.a, &u, AF_INET, SOCK_DGRAM, 0), 0);
        pair_udp_connect(&p, p.a, u, (struct sockaddr *)&sb, sizeof(sb));
        assert_int_equal(local_port(p.a, u) % 8, 0);
        assert_int_equal(dm_socket(p.a, &u6, AF_INET6, SOCK_DGRAM, 0), 0);
        pair_udp_connect(&p, p.a, u6, (struct sockaddr *)&sb6, sizeof(sb6));
        assert_int_equal(local_port(p.a, u6) % 8, 0);
        /* unbound, unconnected: its first datagram's peer places it */
        assert_int_equal(dm_socket(p.a, &uf, AF_INET, SOCK_DGRAM, 0), 0);
        int err = 0;
        demi_qtoken_t qt;
        demi_sgarray_t sga = dm_sgaalloc(p.a, 8, &err);
        assert_int_equal(dm_pushto(p.a, &qt, uf, &sga, (struct sockaddr *)&sb, sizeof(sb)), 0);
        dm_sgafree(p.a, &sga);
        assert_int_equal(local_port(p.a, uf) % 8, 0);
    }
    assert_true(fwd_cap.asked[IPPROTO_TCP] >= 8);
    assert_true(fwd_cap.asked[IPPROTO_UDP] >= 12);
    /* a bind to port 0 asks nothing: no peer to place by */
    uint32_t asked = fwd_cap.asked[IPPROTO_UDP];
    int ubind;
    assert_int_equal(dm_socket(p.a, &ubind, AF_INET, SOCK_DGRAM, 0), 0);
    struct sockaddr_in any = sin_of(IP_A, 0);
    assert_int_equal(dm_bind(p.a, ubind, (struct sockaddr *)&any, sizeof(any)), 0);
    assert_int_equal(fwd_cap.asked[IPPROTO_UDP], asked);
    fwd_capture_stop();
    pair_destroy(&p);
}

/* As Linux: a connected UDP socket whose datagram comes back as a port
 * unreachable gets ECONNREFUSED once, from its pending pop or, with none
 * pending, from its next one (before any datagram queued meanwhile); an
 * unconnected socket hears nothing. */
static void test_udp_connected_socket_gets_econnrefused_from_port_unreachable(void **st)
{
    (void)st;
    struct pair p;
    pair_create(&p, NULL, NULL);
    int ua, uu, ub;
    assert_int_equal(dm_socket(p.a, &ua, AF_INET, SOCK_DGRAM, 0), 0);
    struct sockaddr_in closed = sin_of(IP_B, 9999), sa = sin_of(IP_A, 1111);
    assert_int_equal(dm_bind(p.a, ua, (struct sockaddr *)&sa, sizeof(sa)), 0);
    pair_udp_connect(&p, p.a, ua, (struct sockaddr *)&closed, sizeof(closed));
    demi_qtoken_t pop, qt;
    assert_int_equal(dm_pop(p.a, &pop, ua), 0);
    push_bytes(p.a, ua, "ping", 4);
    demi_qresult_t qr = pair_wait(&p, p.a, pop, DM_NS_PER_S);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_FAILED);
    assert_int_equal(qr.qr_ret, ECONNREFUSED);
    assert_int_equal(stat_of(p.a, "icmp.rx_unreach_sock"), 1);
    /* none pending: the next pop fails at once, and only that one; a
     * datagram B sends meanwhile (port 9999 now bound) comes after */
    push_bytes(p.a, ua, "ping", 4);
    pair_run_for(&p, 5 * DM_NS_PER_MS);
    assert_int_equal(stat_of(p.a, "icmp.rx_unreach_sock"), 2);
    int err = 0;
    demi_sgarray_t sga = dm_sgaalloc(p.b, 4, &err);
    memcpy(sga.sga_segs[0].sgaseg_buf, "pong", 4);
    assert_int_equal(dm_socket(p.b, &ub, AF_INET, SOCK_DGRAM, 0), 0);
    assert_int_equal(dm_bind(p.b, ub, (struct sockaddr *)&closed, sizeof(closed)), 0);
    assert_int_equal(dm_pushto(p.b, &qt, ub, &sga, (struct sockaddr *)&sa, sizeof(sa)), 0);
    dm_sgafree(p.b, &sga);
    pair_run_for(&p, 5 * DM_NS_PER_MS);
    assert_int_equal(dm_pop(p.a, &pop, ua), 0);
    qr = pair_wait(&p, p.a, pop, DM_NS_PER_S);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_FAILED);
    assert_int_equal(qr.qr_ret, ECONNREFUSED);
    assert_int_equal(dm_pop(p.a, &pop, ua), 0);
    qr = pair_wait(&p, p.a, pop, DM_NS_PER_S);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
    assert_int_equal(qr.qr_value.sga.sga_segs[0].sgaseg_len, 4);
    dm_sgafree(p.a, &qr.qr_value.sga);
    /* an unconnected socket's datagram to a closed port: counted, not told */
    assert_int_equal(dm_socket(p.a, &uu, AF_INET, SOCK_DGRAM, 0), 0);
    assert_int_equal(dm_pop(p.a, &pop, uu), 0);
    struct sockaddr_in other = sin_of(IP_B, 9998);
    sga = dm_sgaalloc(p.a, 4, &err);
    assert_int_equal(dm_pushto(p.a, &qt, uu, &sga, (struct sockaddr *)&other, sizeof(other)), 0);
    pair_run_for(&p, 5 * DM_NS_PER_MS);
    assert_int_equal(stat_of(p.a, "icmp.rx_unreach"), 3);
    assert_int_equal(stat_of(p.a, "icmp.rx_unreach_sock"), 2);
    assert_false(token_done(p.a, pop));
    dm_sgafree(p.a, &sga);
    pair_destroy(&p);
}

/* As Linux: a datagram larger than the MTU goes as fragments and comes
 * out whole at the other end, whatever order the link gives the fragments
 * in; up to 65507 bytes. (Repeats: the raw test below. A repeat that
 * comes after its datagram was whole starts a new one, held until it
 * times out; here, where the two stacks share their buffers, that would
 * outlive the sender's pool.) */
static void test_udp_datagrams_past_the_mtu_are_fragmented_and_reassembled(void **st)
{
    (void)st;
    struct pair p;
    const char *kv[] = {"DEMI_ARP", "", NULL}; /* the first datagram's fragments wait for ARP */
    pair_create(&p, "reorder=0.3,seed=11", kv);
    int ua, ub;
    udp_pair_bound(&p, false, &ua, &ub);
    struct sockaddr_in sb = sin_of(IP_B, 2222);
    static const uint32_t sizes[] = { 65507, 1472, 1473, 2961, 8000, 30001 };
    uint64_t frags = 0;
    for (unsigned i = 0; i < DM_ARRAY_SIZE(sizes); i++) {
        udp_roundtrip_whole(&p, ua, ub, (struct sockaddr *)&sb, sizeof(sb), sizes[i], (uint8_t)i);
        if (sizes[i] + 8 > 1480)
            frags += (sizes[i] + 8 + 1479) / 1480;
    }
    assert_int_equal(stat_of(p.a, "ip.tx_frag"), frags);
    assert_int_equal(stat_of(p.b, "ip.rx_reasm_ok"), DM_ARRAY_SIZE(sizes) - 1);
    assert_int_equal(stat_of(p.b, "ip.rx_frag"), frags);
    assert_int_equal(stat_of(p.a, "arp.resolved"), 1);
    assert_int_equal(stat_of(p.a, "arp.queue_drop"), 0);
    assert_true(stat_of(p.b, "fault.reordered") + stat_of(p.a, "fault.reordered") > 0);
    pair_destroy(&p);
}

/* Sends A's raw IPv4 fragment of a datagram of protocol proto, dgram: id,
 * the bytes [off, off + len), MF. */
static void send_frag_of(struct pair *p, uint8_t proto, uint16_t id, uint32_t off, bool more, const uint8_t *dgram,
                         uint32_t len)
{
    static uint8_t f[2048];
    uint32_t n = raw_ip_frame(f, proto, (uint16_t)((off / 8) | (more ? IP_MF : 0)), dgram + off, len);
    struct ip_hdr *ih = (struct ip_hdr *)(f + 14);
    ih->id = htons(id);
    ih->csum = 0;
    ih->csum = inet_csum_fold(inet_csum_partial(ih, 20, 0));
    raw_send_frame(p, f, n);
}

static void send_frag(struct pair *p, uint16_t id, uint32_t off, bool more, const uint8_t *dgram, uint32_t len)
{
    send_frag_of(p, IPPROTO_ICMP_, id, off, more, dgram, len);
}

/* Fragments carry no ports: a shared port spreads them by addresses
 * alone, so a datagram for another process's socket is reassembled here.
 * It goes on whole, as one frame with a header of its own. */
static void test_udp_stray_reassembled_datagram_is_forwarded_as_one_frame(void **st)
{
    (void)st;
    struct pair p;
    static uint8_t dg[3000];
    stray_setup(&p, dg, sizeof(dg));
    send_frag_of(&p, IPPROTO_UDP_, 9, 1480, true, dg, 1480);
    send_frag_of(&p, IPPROTO_UDP_, 9, 0, true, dg, 1480);
    send_frag_of(&p, IPPROTO_UDP_, 9, 2960, false, dg, 40);
    stray_expect_forwarded(&p, 14 + 20 + sizeof(dg), dg, sizeof(dg));
    const uint8_t *fr = fwd_cap.frame;
    uint8_t mac_b[6];
    sscanf(MAC_B, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac_b[0], &mac_b[1], &mac_b[2], &mac_b[3], &mac_b[4], &mac_b[5]);
    assert_memory_equal(fr, mac_b, 6);
    assert_int_equal(fr[12] << 8 | fr[13], ETH_P_IPV4);
    const struct ip_hdr *ih = (const struct ip_hdr *)(fr + 14);
    assert_int_equal(ntohs(ih->len), 20 + sizeof(dg));
    assert_int_equal(ih->off, 0); /* whole: no MF, no offset */
    assert_int_equal(ih->proto, IPPROTO_UDP_);
    assert_int_equal(inet_csum_fold(inet_csum_partial(ih, 20, 0)), 0);
    assert_int_equal(stat_of(p.b, "ip.rx_reasm_ok"), 1);
    fwd_capture_stop();
    pair_destroy(&p);
}

/* A 2000-byte ping in three fragments, the last first and the first twice:
 * answered once, the answer itself in two fragments. Fragments that
 * overlap (RFC 5722) lose their datagram. */
static void test_ipv4_fragments_in_any_order_make_one_datagram_overlaps_none(void **st)
{
    (void)st;
    struct pair p;
    pair_create(&p, NULL, NULL);
    static uint8_t icmp[2000], r[2048];
    icmp[0] = ICMP_ECHO_REQUEST;
    icmp[5] = 7; /* id */
    icmp[7] = 1; /* seq */
    for (unsigned i = 8; i < sizeof(icmp); i++)
        icmp[i] = (uint8_t)(i * 13);
    uint16_t c = inet_csum_fold(inet_csum_partial(icmp, sizeof(icmp), 0));
    memcpy(icmp + 2, &c, 2);
    send_frag(&p, 5, 1600, false, icmp, 400);
    send_frag(&p, 5, 0, true, icmp, 800);
    send_frag(&p, 5, 0, true, icmp, 800); /* a repeat */
    uint32_t rn;
    assert_false(raw_recv_frame(&p, r, sizeof(r), &rn, 20 * DM_NS_PER_MS)); /* not whole yet */
    send_frag(&p, 5, 800, true, icmp, 800);
    /* the answer: 1480 + 520 bytes of ICMP */
    static uint8_t reply[2000];
    uint32_t got = 0;
    for (int k = 0; k < 2; k++) {
        assert_true(raw_recv_frame(&p, r, sizeof(r), &rn, 200 * DM_NS_PER_MS));
        const struct ip_hdr *ih = (const struct ip_hdr *)(r + 14);
        uint16_t off = ntohs(ih->off);
        assert_int_equal(inet_csum_fold(inet_csum_partial(ih, 20, 0)), 0);
        assert_int_equal(off & IP_DF, 0);
        assert_int_equal(!!(off & IP_MF), k == 0);
        assert_int_equal((off & IP_OFFMASK) * 8u, k == 0 ? 0u : 1480u);
        uint32_t plen = ntohs(ih->len) - 20u;
        assert_int_equal(plen, k == 0 ? 1480u : 520u);
        memcpy(reply + (off & IP_OFFMASK) * 8, r + 34, plen);
        got += plen;
    }
    assert_int_equal(got, sizeof(icmp));
    assert_int_equal(reply[0], ICMP_ECHO_REPLY);
    assert_int_equal(inet_csum_fold(inet_csum_partial(reply, sizeof(reply), 0)), 0);
    assert_memory_equal(reply + 4, icmp + 4, sizeof(icmp) - 4);
    assert_false(raw_recv_frame(&p, r, sizeof(r), &rn, 20 * DM_NS_PER_MS)); /* answered once */
    assert_int_equal(stat_of(p.b, "ip.rx_frag"), 4);
    assert_int_equal(stat_of(p.b, "ip.rx_frag_drop"), 1);
    assert_int_equal(stat_of(p.b, "ip.rx_reasm_ok"), 1);
    assert_int_equal(stat_of(p.b, "ip.tx_frag"), 2);
    assert_int_equal(stat_of(p.b, "icmp.tx_echo_reply"), 1);
    /* overlapping fragments: the datagram is given up, and a later
     * fragment starts it again: only a whole new set completes it */
    send_frag(&p, 6, 0, true, icmp, 800);
    send_frag(&p, 6, 792, true, icmp, 808);
    send_frag(&p, 6, 1600, false, icmp, 400);
    assert_false(raw_recv_frame(&p, r, sizeof(r), &rn, 30 * DM_NS_PER_MS));
    assert_int_equal(stat_of(p.b, "ip.rx_reasm_drop"), 1);
    assert_int_equal(stat_of(p.b, "ip.rx_reasm_ok"), 1);
    assert_int_equal(stat_of(p.b, "icmp.tx_echo_reply"), 1);
    send_frag(&p, 6, 0, true, icmp, 800);
    send_frag(&p, 6, 800, true, icmp, 800);
    assert_true(raw_recv_frame(&p, r, sizeof(r), &rn, 200 * DM_NS_PER_MS));
    assert_true(raw_recv_frame(&p, r, sizeof(r), &rn, 200 * DM_NS_PER_MS));
    assert_int_equal(stat_of(p.b, "ip.rx_reasm_ok"), 2);
    assert_int_equal(stat_of(p.b, "icmp.tx_echo_reply"), 2);
    pair_destroy(&p);
}

static void test_ipv4_malformed_packets_are_counted_by_reason_and_dropped(void **st)
{
    (void)st;
    struct pair p;
    pair_create(&p, NULL, NULL);
    uint8_t icmp[8] = {ICMP_ECHO_REQUEST, 0, 0, 0, 0, 1, 0, 1};
    uint16_t c = inet_csum_fold(inet_csum_partial(icmp, 8, 0));
    memcpy(icmp + 2, &c, 2);
    uint8_t f[128], r[128];
    uint32_t n, rn;
    /* a fragment (MF set) whose length is not a multiple of 8 */
    n = raw_ip_frame(f, IPPROTO_ICMP_, IP_MF, icmp, 7);
    raw_send_frame(&p, f, n);
    /* a fragment that would end past 64 KiB */
    n = raw_ip_frame(f, IPPROTO_ICMP_, 8191, icmp, 8);
    raw_send_frame(&p, f, n);
    /* bad header checksum */
    n = raw_ip_frame(f, IPPROTO_ICMP_, 0, icmp, 8);
    f[14 + 8] = 1; /* ttl changed after the checksum */
    raw_send_frame(&p, f, n);
    /* bad version */
    n = raw_ip_frame(f, IPPROTO_ICMP_, 0, icmp, 8);
    f[14] = 0x65;
    raw_send_frame(&p, f, n);
    /* header length beyond the packet */
    n = raw_ip_frame(f, IPPROTO_ICMP_, 0, icmp, 8);
    f[14] = 0x4f;
    raw_send_frame(&p, f, n);
    /* truncated below an IPv4 header */
    raw_send_frame(&p, f, 14 + 10);
    /* not for our address */
    n = raw_ip_frame(f, IPPROTO_ICMP_, 0, icmp, 8);
    f[14 + 19] = 77;
    struct ip_hdr *ih = (struct ip_hdr *)(f + 14);
    ih->csum = 0;
    ih->csum = inet_csum_fold(inet_csum_partial(ih, 20, 0));
    raw_send_frame(&p, f, n);
    /* unknown protocol */
    n = raw_ip_frame(f, 99, 0, icmp, 8);
    raw_send_frame(&p, f, n);
    /* runt Ethernet frame (the loop device would drop it: inject it) */
    struct dm_buf *m = dm_buf_alloc(p.b);
    memcpy(dm_buf_append(m, 10), f, 10);
    inet_input_frame(stack_of(p.b), m);
    /* unknown ethertype (LLDP) */
    n = raw_ip_frame(f, IPPROTO_ICMP_, 0, icmp, 8);
    f[12] = 0x88;
    f[13] = 0xcc;
    raw_send_frame(&p, f, n);
    assert_false(raw_recv_frame(&p, r, sizeof(r), &rn, 30 * DM_NS_PER_MS));
    assert_int_equal(stat_of(p.b, "ip.rx_frag_drop"), 2);
    assert_int_equal(stat_of(p.b, "ip.rx_bad_csum"), 1);
    assert_int_equal(stat_of(p.b, "ip.rx_bad_version"), 1);
    assert_int_equal(stat_of(p.b, "ip.rx_bad_hlen"), 1);
    assert_int_equal(stat_of(p.b, "ip.rx_short"), 1);
    assert_int_equal(stat_of(p.b, "ip.rx_not_ours"), 1);
    assert_int_equal(stat_of(p.b, "ip.rx_bad_proto"), 1);
    assert_int_equal(stat_of(p.b, "eth.rx_short"), 1);
    assert_int_equal(stat_of(p.b, "eth.rx_bad_type"), 1);
    /* and the stack still answers a good ping */
    n = raw_ip_frame(f, IPPROTO_ICMP_, 0, icmp, 8);
    raw_send_frame(&p, f, n);
    assert_true(raw_recv_frame(&p, r, sizeof(r), &rn, 200 * DM_NS_PER_MS));
    assert_int_equal(r[34], ICMP_ECHO_REPLY);
    pair_destroy(&p);
}

static void test_arp_retries_then_gives_up_and_entries_expire(void **st)
{
    (void)st;
    const char *kv[] = {"DEMI_ARP", "", NULL};
    struct pair p;
    pair_create(&p, NULL, kv);
    int u;
    assert_int_equal(dm_socket(p.b, &u, AF_INET, SOCK_DGRAM, 0), 0);
    struct sockaddr_in nobody = sin_of("10.0.0.77", 9);
    int err = 0;
    demi_sgarray_t sga = dm_sgaalloc(p.b, 10, &err);
    demi_qtoken_t qt;
    assert_int_equal(dm_pushto(p.b, &qt, u, &sga, (struct sockaddr *)&nobody, sizeof(nobody)), 0);
    dm_sgafree(p.b, &sga);
    /* requests at 0, 200, 400, 600 ms, then the queued datagram is dropped */
    int64_t end = dm_clock_ns() + 2 * DM_NS_PER_S;
    while (stat_of(p.b, "arp.timeout") == 0 && dm_clock_ns() < end)
        raw_drain(&p);
    assert_int_equal(stat_of(p.b, "arp.timeout"), 1);
    assert_int_equal(stat_of(p.b, "arp.tx_request"), 4);
    /* a learnt entry ages out: the next packet asks again */
    struct sockaddr_in a = sin_of(IP_A, 9);
    sga = dm_sgaalloc(p.b, 10, &err);
    assert_int_equal(dm_pushto(p.b, &qt, u, &sga, (struct sockaddr *)&a, sizeof(a)), 0);
    dm_sgafree(p.b, &sga);
    pair_run_for(&p, 5 * DM_NS_PER_MS); /* a (a full stack here) answers */
    assert_int_equal(stat_of(p.b, "arp.resolved"), 1);
    struct inet_stack *sb = stack_of(p.b);
    uint32_t ip_a;
    inet_pton(AF_INET, IP_A, &ip_a);
    for (unsigned i = 0; i < ARP_TABLE_SIZE; i++)
        if (sb->arp[i].ip.w[3] == ip_a && inet_addr_is_v4(&sb->arp[i].ip))
            sb->arp[i].expires_ns = dm_now_ns(p.b); /* as if DEMI_ARP_TTL_S had passed */
    pair_run_for(&p, 150 * DM_NS_PER_MS);            /* the 100 ms sweep */
    int64_t req = stat_of(p.b, "arp.tx_request");
    sga = dm_sgaalloc(p.b, 10, &err);
    assert_int_equal(dm_pushto(p.b, &qt, u, &sga, (struct sockaddr *)&a, sizeof(a)), 0);
    dm_sgafree(p.b, &sga);
    pair_run_for(&p, 5 * DM_NS_PER_MS);
    assert_int_equal(stat_of(p.b, "arp.tx_request"), req + 1);
    assert_int_equal(stat_of(p.b, "arp.resolved"), 2);
    pair_destroy(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arp_request_for_our_address_gets_a_reply),
        cmocka_unit_test(test_arp_resolution_queues_packets_until_the_reply),
        cmocka_unit_test(test_arp_retries_then_gives_up_and_entries_expire),
        cmocka_unit_test(test_icmp_echo_request_to_our_address_gets_a_reply),
        cmocka_unit_test(test_udp_pushto_and_pop_carry_the_peer_address),
        cmocka_unit_test(test_udp_to_an_unbound_port_gets_icmp_port_unreachable),
        cmocka_unit_test(test_udp_stray_datagram_is_forwarded_as_the_whole_frame),
        cmocka_unit_test(test_udp_connected_socket_gets_econnrefused_from_port_unreachable),
        cmocka_unit_test(test_ephemeral_ports_bring_the_replies_to_our_queue),
        cmocka_unit_test(test_ipv4_malformed_packets_are_counted_by_reason_and_dropped),
        cmocka_unit_test(test_udp_datagrams_past_the_mtu_are_fragmented_and_reassembled),
        cmocka_unit_test(test_udp_stray_reassembled_datagram_is_forwarded_as_one_frame),
        cmocka_unit_test(test_ipv4_fragments_in_any_order_make_one_datagram_overlaps_none),
    };
    if (getenv("TEST_FILTER"))
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
