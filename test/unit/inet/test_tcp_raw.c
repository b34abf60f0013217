/* SPDX-License-Identifier: MIT */
/*
 * TCP against a raw peer: instance a is not a stack here, only its device;
 * the test writes segments by hand and reads exactly what stack b sends.
 * This covers what two well-behaved stacks never do to each other: options
 * refused, resets in SYN-RECEIVED, RST and SYN guesses (RFC 5961), dup ACKs
 * without SACK, a silent peer (RTO back-off), out-of-order data, bad
 * checksums and offsets, TIME_WAIT reuse and zero windows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/tcp.h>
#include "inet_test.h"
#include "csum.h"
#include "demi/sga.h"

#define RAW_PORT 40000
#define SRV_PORT 80

static const uint8_t opt_sack_perm[] = {2, 4, 0x05, 0xb4, 1, 1, 4, 2}; /* MSS 1460, NOP NOP SACK-perm */

static uint16_t want_dport; /* 0: any */

/* A segment from b (to want_dport when set), skipping anything else. */
static bool recv_seg(struct pair *p, struct raw_seg *s, int64_t ms)
{
    int64_t end = dm_clock_ns() + ms * DM_NS_PER_MS;
    while (dm_clock_ns() < end)
        if (raw_recv_tcp(p, s, end - dm_clock_ns()) && (!want_dport || s->dport == want_dport))
            return true;
    return false;
}

struct raw_conn {
    uint16_t sport;
    uint32_t snd_nxt; /* raw side */
    uint32_t rcv_nxt; /* next byte from b */
    int sqd;          /* b's accepted queue */
};

/* Raw handshake with b's listener lqd. */
static void raw_establish(struct pair *p, int lqd, struct raw_conn *c, uint16_t sport, const uint8_t *opts,
                          unsigned optlen, uint16_t wnd)
{
    struct raw_seg s;
    c->sport = sport;
    c->snd_nxt = 1000;
    raw_send_tcp(p, sport, SRV_PORT, c->snd_nxt, 0, TCP_SYN, wnd, opts, optlen, NULL, 0);
    assert_true(recv_seg(p, &s, 200));
    assert_int_equal(s.flags, TCP_SYN | TCP_ACK);
    assert_int_equal(s.ack, c->snd_nxt + 1);
    c->snd_nxt++;
    c->rcv_nxt = s.seq + 1;
    demi_qtoken_t at;
    assert_int_equal(dm_accept(p->b, &at, lqd), 0);
    raw_send_tcp(p, sport, SRV_PORT, c->snd_nxt, c->rcv_nxt, TCP_ACK, wnd, NULL, 0, NULL, 0);
    int64_t end = dm_clock_ns() + DM_NS_PER_S;
    while (!token_done(p->b, at) && dm_clock_ns() < end)
        dm_poll(p->b, 0);
    demi_qresult_t qr;
    assert_int_equal(dm_wait(p->b, &qr, at, 0), 0);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_ACCEPT);
    c->sqd = qr.qr_value.ares.qd;
}

static void setup_pair(struct pair *p, int *lqd, const char *const *kv)
{
    pair_create(p, NULL, kv);
    *lqd = tcp_listener(p->b, IP_B, SRV_PORT, 8);
}

static void test_tcp_syn_without_options_gets_synack_with_mss_only(void **st)
{
    (void)st;
    struct pair p;
    int lqd;
    setup_pair(&p, &lqd, NULL);
    raw_send_tcp(&p, RAW_PORT, SRV_PORT, 5000, 0, TCP_SYN, 8192, NULL, 0, NULL, 0);
    struct raw_seg s;
    assert_true(recv_seg(&p, &s, 200));
    assert_int_equal(s.flags, TCP_SYN | TCP_ACK);
    assert_int_equal(s.ack, 5001);
    assert_int_equal(s.opts.present, TCP_OPTF_MSS); /* WS, SACK, TS refused: the SYN had none */
    assert_int_equal(s.opts.mss, 1460);
    pair_destroy(&p);
}

static void test_tcp_syn_with_all_options_gets_them_back(void **st)
{
    (void)st;
    struct pair p;
    int lqd;
    setup_pair(&p, &lqd, NULL);
    const uint8_t opts[] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0x30, 0x39, 0, 0, 0, 0, 1, 3, 3, 7};
    raw_send_tcp(&p, RAW_PORT, SRV_PORT, 5000, 0, TCP_SYN, 65535, opts, sizeof(opts), NULL, 0);
    struct raw_seg s;
    assert_true(recv_seg(&p, &s, 200));
    assert_int_equal(s.flags, TCP_SYN | TCP_ACK);
    assert_int_equal(s.opts.present & (TCP_OPTF_MSS | TCP_OPTF_WSCALE | TCP_OPTF_SACK_PERM | TCP_OPTF_TS),
                     TCP_OPTF_MSS | TCP_OPTF_WSCALE | TCP_OPTF_SACK_PERM | TCP_OPTF_TS);
    assert_int_equal(s.opts.tsecr, 12345);
    assert_true(s.opts.wscale >= 2); /* 256 KiB receive buffer */
    pair_destroy(&p);
}

static void test_tcp_rst_in_syn_rcvd_frees_the_embryonic_connection(void **st)
{
    (void)st;
    struct pair p;
    int lqd;
    setup_pair(&p, &lqd, NULL);
    raw_send_tcp(&p, RAW_PORT, SRV_PORT, 5000, 0, TCP_SYN, 8192, NULL, 0, NULL, 0);
    struct raw_seg s;
    assert_true(recv_seg(&p, &s, 200));
    struct tcp_pcb *l = pcb_of(p.b, lqd);
    assert_int_equal(l->nsynq, 1);
    raw_send_tcp(&p, RAW_PORT, SRV_PORT, 5001, 0, TCP_RST, 0, NULL, 0, NULL, 0);
    raw_drain(&p);
    assert_int_equal(l->nsynq, 0);
    assert_int_equal(stat_of(p.b, "tcp.rx_rst_ok"), 1);
    /* The handshake's ACK now finds no connection: RST (seq = its ack). */
    raw_send_tcp(&p, RAW_PORT, SRV_PORT, 5001, s.seq + 1, TCP_ACK, 8192, NULL, 0, NULL, 0);
    assert_true(recv_seg(&p, &s, 200));
    assert_int_equal(s.flags, TCP_RST);
    assert_int_equal(s.seq, s.seq); /* = our ack */
    pair_destroy(&p);
}

static void test_tcp_rst_with_exact_sequence_resets_the_connection(void **st)
{
    (void)st;
    struct pair p;
    int lqd;
    setup_pair(&p, &lqd, NULL);
    struct raw_conn c;
    raw_establish(&p, lqd, &c, RAW_PORT, NULL, 0, 8192);
    demi_qtoken_t qt;
    assert_int_equal(dm_pop(p.b, &qt, c.sqd), 0);
    raw_send_tcp(&p, RAW_PORT, SRV_PORT, c.snd_nxt, 0, TCP_RST, 0, NULL, 0, NULL, 0);
    raw_drain(&p);
    assert_true(token_done(p.b, qt));
    demi_qresult_t qr;
    assert_int_equal(dm_wait(p.b, &qr, qt, 0), 0);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_FAILED);
    assert_int_equal(qr.qr_ret, ECONNRESET);
    pair_destroy(&p);
}

static void test_tcp_rst_in_window_but_not_exact_gets_a_challenge_ack(void **st)
{
    (void)st;
    struct pair p;
    int lqd;
    setup_pair(&p, &lqd, NULL);
    struct raw_conn c;
    raw_establish(&p, lqd, &c, RAW_PORT, NULL, 0, 8192);
    raw_send_tcp(&p, RAW_PORT, SRV_PORT, c.snd_nxt + 100, 0, TCP_RST, 0, NULL, 0, NULL, 0);
    struct raw_seg s;
    assert_true(recv_seg(&p, &s, 200));
    assert_int_equal(s.flags, TCP_ACK);
    assert_int_equal(s.ack, c.snd_nxt);
    assert_int_equal(s.seq, c.rcv_nxt);
    assert_int_equal(stat_of(p.b, "tcp.rx_challenge_ack"), 1);
    assert_int_equal(pcb_of(p.b, c.sqd)->state, TCPS_ESTABLISHED);
    pair_destroy(&p);
}

static void test_tcp_rst_outside_the_window_is_ignored(void **st)
{
    (void)st;
    struct pair p;
    int lqd;
    setup_pair(&p, &lqd, NULL);
    struct raw_conn c;
    raw_establish(&p, lqd, &c, RAW_PORT, NULL, 0, 8192);
    raw_send_tcp(&p, RAW_PORT, SRV_PORT, c.snd_nxt + 10000000, 0, TCP_RST, 0, NULL, 0, NULL, 0);
    struct raw_seg s;
    assert_false(recv_seg(&p, &s, 20));
    assert_int_equal(pcb_of(p.b, c.sqd)->state, TCPS_ESTABLISHED);
    assert_int_equal(stat_of(p.b, "tcp.rx_out_of_window"), 1);
    pair_destroy(&p);
}

static void test_tcp_syn_on_an_established_connection_gets_a_challenge_ack(void **st)
{
    (void)st;
    struct pair p;
    int lqd;
    setup_pair(&p, &lqd, NULL);
    struct raw_conn c;
    raw_establish(&p, lqd, &c, RAW_PORT, NULL, 0, 8192);
    raw_send_tcp(&p, RAW_PORT, SRV_PORT, c.snd_nxt + 5, 0, TCP_SYN, 8192, NULL, 0, NULL, 0);
    struct raw_seg s;
    assert_true(recv_seg(&p, &s, 200));
    assert_int_equal(s.flags, TCP_ACK);
    assert_int_equal(s.ack, c.snd_nxt);
    assert_int_equal(stat_of(p.b, "tcp.rx_syn_in_sync"), 1);
    assert_int_equal(pcb_of(p.b, c.sqd)->state, TCPS_ESTABLISHED);
    pair_destroy(&p);
}

static void test_tcp_ack_of_unsent_data_is_answered_and_dropped(void **st)
{
    (void)st;
    struct pair p;
    int lqd;
    setup_pair(&p, &lqd, NULL);
    struct raw_conn c;
    raw_establish(&p, lqd, &c, RAW_PORT, NULL, 0, 8192);
    raw_send_tcp(&p, RAW_PORT, SRV_PORT, c.snd_nxt, c.rcv_nxt + 5000, TCP_ACK, 8192, NULL, 0, "zz", 2);
    struct raw_seg s;
    assert_true(recv_seg(&p, &s, 200));
    assert_int_equal(s.ack, c.snd_nxt); /* the data was not taken */
    assert_int_equal(stat_of(p.b, "tcp.rx_ack_future"), 1);
    pair_destroy(&p);
}

static void test_tcp_fast_retransmit_after_three_dupacks(void **st)
{
    (void)st;
    const char *kv[] = {"DEMI_TCP_RTO_MIN_MS", "1000", "DEMI_TCP_RTO_INIT_MS", "1000", NULL};
    struct pair p;
    int lqd;
    setup_pair(&p, &lqd, kv);
    struct raw_conn c;
    static const uint8_t mss_only[] = {2, 4, 0x05, 0xb4};
    raw_establish(&p, lqd, &c, RAW_PORT, mss_only, sizeof(mss_only), 65535); /* no SACK: classic dup ACKs */
    static uint8_t data[6000];
    push_bytes(p.b, c.sqd, data, sizeof(data));
    struct raw_seg s;
    int nseg = 0;
    while (recv_seg(&p, &s, 20)) {
        assert_true(s.len > 0);
        nseg++;
    }
    assert_int_equal(nseg, 4); /* 4 x 1460; Nagle holds the last 160 bytes */
    /* The first segment "was lost": ACK the handshake only, three times. */
    for (int i = 0; i < 3; i++)
        raw_send_tcp(&p, RAW_PORT, SRV_PORT, c.snd_nxt, c.rcv_nxt, TCP_ACK, 65535, NULL, 0, NULL, 0);
    assert_true(recv_seg(&p, &s, 100)); /* long before the 1 s RTO */
    assert_int_equal(s.seq, c.rcv_nxt);
    assert_int_equal(s.len, 1460);
    assert_int_equal(stat_of(p.b, "tcp.tx_fast_retrans"), 1);
    assert_int_equal(stat_of(p.b, "tcp.tx_rto"), 0);
    pair_destroy(&p);
}

/* The next IPv4 TCP frame b sent with at least min_payload bytes of
 * payload, whole, into r (ARP and the like skipped): its payload length,
 * or -1 after 8 frames or 4 s. */
static int recv_tcp_frame(struct pair *p, uint8_t *r, uint32_t cap, uint32_t min_payload)
{
    uint32_t n;
    for (int i = 0; i < 8; i++) {
        if (!raw_recv_frame(p, r, cap, &n, 500 * DM_NS_PER_MS) || n < 54 || r[12] != 0x08 || r[13] != 0x00 ||
            r[14 + 9] != IPPROTO_TCP_)
            continue;
        uint32_t len = ntohs(*(uint16_t *)(r + 14 + 2)) - 20 - (uint32_t)(r[14 + 20 + 12] >> 4) * 4;
        if (len >= min_payload)
            return (int)len;
    }
    return -1;
}

/* An ICMP error to b (type, code, its rest word in host order) quoting
 * the IP header and first 8 TCP bytes of frame r; seq_xor spoils the
 * quoted sequence. */
static void send_icmp_quoting(struct pair *p, uint8_t type, uint8_t code, uint32_t rest, const uint8_t *r,
                              uint8_t seq_xor)
{
    uint8_t icmp[8 + 28] = {type, code};
    uint32_t rest_be = htonl(rest);
    memcpy(icmp + 4, &rest_be, 4);
    memcpy(icmp + 8, r + 14, 28);
    icmp[8 + 20 + 4] ^= seq_xor;
    uint16_t c = inet_csum_fold(inet_csum_partial(icmp, sizeof(icmp), 0));
    memcpy(icmp + 2, &c, 2);
    uint8_t f[128];
    raw_send_frame(p, f, raw_ip_frame(f, IPPROTO_ICMP_, 0, icmp, sizeof(icmp)));
}

/* Polls b alone (a's stack would reset what it never knew) until qt is
 * done, at most ns: its result. */
static demi_qresult_t wait_b(struct pair *p, demi_qtoken_t qt, int64_t ns)
{
    int64_t end = dm_clock_ns() + ns;
    while (!token_done(p->b, qt) && dm_clock_ns() < end)
        dm_poll(p->b, 0);
    demi_qresult_t qr;
    assert_int_equal(dm_wait(p->b, &qr, qt, 0), 0);
    return qr;
}

/* A connect from b to the raw side: its token, once its SYN is in r. */
static demi_qtoken_t connect_to_raw(struct pair *p, uint8_t *r, uint32_t cap)
{
    int q;
    demi_qtoken_t qt;
    assert_int_equal(dm_socket(p->b, &q, AF_INET, SOCK_STREAM, 0), 0);
    struct sockaddr_in dst = sin_of(IP_A, 80);
    assert_int_equal(dm_connect(p->b, &qt, q, (struct sockaddr *)&dst, sizeof(dst)), 0);
    assert_int_equal(recv_tcp_frame(p, r, cap, 0), 0);
    return qt;
}

/* A connect answered by an ICMP port unreachable (a firewall's reject)
 * fails at once with ECONNREFUSED, as Linux's tcp_v4_err, not after its
 * SYN retries; one that quotes a sequence not in flight is ignored; a
 * time exceeded (a TTL that ran out on the way) ends one with
 * EHOSTUNREACH. */
static void test_tcp_connect_ends_at_an_icmp_port_unreachable(void **st)
{
    (void)st;
    struct pair p;
    pair_create(&p, NULL, NULL);
    uint8_t r[256];
    demi_qtoken_t qt = connect_to_raw(&p, r, sizeof(r));
    send_icmp_quoting(&p, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0, r, 0x80);
    int64_t end = dm_clock_ns() + 20 * DM_NS_PER_MS;
    while (dm_clock_ns() < end)
        dm_poll(p.b, 0);
    assert_false(token_done(p.b, qt));
    assert_int_equal(stat_of(p.b, "icmp.rx_unreach"), 1);
    send_icmp_quoting(&p, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0, r, 0);
    demi_qresult_t qr = wait_b(&p, qt, DM_NS_PER_S);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_FAILED);
    assert_int_equal(qr.qr_ret, ECONNREFUSED);
    assert_int_equal(stat_of(p.b, "icmp.rx_unreach_sock"), 1);
    qt = connect_to_raw(&p, r, sizeof(r));
    send_icmp_quoting(&p, 11 /* time exceeded */, 0, 0, r, 0);
    qr = wait_b(&p, qt, DM_NS_PER_S);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_FAILED);
    assert_int_equal(qr.qr_ret, EHOSTUNREACH);
    pair_destroy(&p);
}

/* A router's "fragmentation needed" (RFC 1191) quoting a full segment in
 * flight: the connection's segments shrink to the MTU it names and what
 * was in flight goes again at once at that size, not at the next RTO. */
static void test_tcp_fragmentation_needed_shrinks_segments_and_resends(void **st)
{
    (void)st;
    struct pair p;
    int l;
    setup_pair(&p, &l, NULL);
    struct raw_conn c;
    raw_establish(&p, l, &c, RAW_PORT, opt_sack_perm, sizeof(opt_sack_perm), 65535);
    static uint8_t data[4000];
    memset(data, 'p', sizeof(data));
    push_bytes(p.b, c.sqd, data, sizeof(data));
    uint8_t r[1600];
    assert_int_equal(recv_tcp_frame(&p, r, sizeof(r), 1460), 1460);
    uint32_t seq;
    memcpy(&seq, r + 14 + 20 + 4, 4);
    seq = ntohl(seq);
    raw_drain(&p);
    send_icmp_quoting(&p, ICMP_DEST_UNREACH, 4 /* fragmentation needed */, 1000 /* next-hop MTU */, r, 0);
    /* well before the first RTO (1 s): the segment at seq again, 960 B */
    struct raw_seg s;
    bool again = false;
    int64_t end = dm_clock_ns() + 300 * DM_NS_PER_MS;
    while (!again && dm_clock_ns() < end)
        again = raw_recv_tcp(&p, &s, end - dm_clock_ns()) && s.seq == seq && s.len == 960;
    assert_true(again);
    assert_int_equal(stat_of(p.b, "icmp.rx_unreach_sock"), 1);
    assert_int_equal(stat_of(p.b, "tcp.tx_pmtu_shrink"), 1);
    int mss = 0;
    socklen_t ol = sizeof(mss);
    assert_int_equal(dm_getsockopt(p.b, c.sqd, IPPROTO_TCP, TCP_MAXSEG, &mss, &ol), 0);
    assert_int_equal(mss, 960);
    pair_destroy(&p);
}

/* An ICMP host unreachable quoting data in flight does not end an open
 * connection; when its retransmissions then time out, the error it
 * reports is that one, not ETIMEDOUT (Linux's sk_err_soft). */
static void test_tcp_timeout_reports_the_last_icmp_error(void **st)
{
    (void)st;
    const char *kv[] = {"DEMI_TCP_RTO_MIN_MS", "10", "DEMI_TCP_RTO_INIT_MS", "10", "DEMI_TCP_RETRIES", "2", NULL};
    struct pair p;
    int l;
    setup_pair(&p, &l, kv);
    struct raw_conn c;
    raw_establish(&p, l, &c, RAW_PORT, opt_sack_perm, sizeof(opt_sack_perm), 65535);
    demi_qtoken_t pop;
    assert_int_equal(dm_pop(p.b, &pop, c.sqd), 0);
    push_bytes(p.b, c.sqd, "data", 4);
    uint8_t r[256];
    assert_int_equal(recv_tcp_frame(&p, r, sizeof(r), 4), 4);
    send_icmp_quoting(&p, ICMP_DEST_UNREACH, 1 /* host unreachable: soft */, 0, r, 0);
    demi_qresult_t qr = wait_b(&p, pop, 5 * DM_NS_PER_S);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_FAILED);
    assert_int_equal(qr.qr_ret, EHOSTUNREACH);
    assert_int_equal(stat_of(p.b, "icmp.rx_unreach_sock"), 1);
    assert_int_equal(stat_of(p.b, "tcp.conn_timeout"), 1);
    pair_destroy(&p);
}

static void test_tcp_rto_backs_off_exponentially(void **st)
{
    (void)st;
    const char *kv[] = {"DEMI_TCP_RTO_INIT_MS", "40", "DEMI_TCP_SYN_RETRIES", "3", NULL};
    struct pair p;
    pair_create(&p, NULL, kv);
    int q;
    demi_qtoken_t qt;
    assert_int_equal(dm_socket(p.b, &q, AF_INET, SOCK_STREAM, 0), 0);
    struct sockaddr_in dst = sin_of(IP_A, 80);
    assert_int_equal(dm_connect(p.b, &qt, q, (struct sockaddr *)&dst, sizeof(dst)), 0);
    int64_t t[4];
    struct raw_seg s;
    for (int i = 0; i < 4; i++) {
        assert_true(recv_seg(&p, &s, 1000));
        assert_int_equal(s.flags, TCP_SYN);
        t[i] = dm_clock_ns();
    }
    int64_t d1 = t[1] - t[0], d2 = t[2] - t[1], d3 = t[3] - t[2];
    /* 40, 80, 160 ms. Only lower bounds: the timer is armed when a SYN
     * leaves, so a loaded machine makes one late but never the next early
     * (ratios between them failed under two test runs at once). A fixed
     * RTO would give 40, 40, 40. */
    assert_true(d1 >= 35 * DM_NS_PER_MS);
    assert_true(d2 >= 70 * DM_NS_PER_MS);
    assert_true(d3 >= 140 * DM_NS_PER_MS);
    /* then the connect fails */
    int64_t end = dm_clock_ns() + 2 * DM_NS_PER_S;
    while (!token_done(p.b, qt) && dm_clock_ns() < end)
        dm_poll(p.b, 0);
    demi_qresult_t qr;
    assert_int_equal(dm_wait(p.b, &qr, qt, 0), 0);
    assert_int_equal(qr.qr_ret, ETIMEDOUT);
    pair_destroy(&p);
}

static void test_tcp_out_of_order_data_is_sacked_then_reassembled(void **st)
{
    (void)st;
    struct pair p;
    int lqd;
    setup_pair(&p, &lqd, NULL);
    struct raw_conn c;
    raw_establish(&p, lqd, &c, RAW_PORT, opt_sack_perm, sizeof(opt_sack_perm), 65535);
    uint8_t d[300];
    for (int i = 0; i < 300; i++)
        d[i] = (uint8_t)i;
    /* bytes 100..199 first, then 200..299, then the hole 0..99 */
    raw_send_tcp(&p, RAW_PORT, SRV_PORT, c.snd_nxt + 100, c.rcv_nxt, TCP_ACK, 65535, NULL, 0, d + 100, 100);
    struct raw_seg s;
    assert_true(recv_seg(&p, &s, 200));
    assert_int_equal(s.ack, c.snd_nxt);
    assert_true(s.opts.present & TCP_OPTF_SACK);
    assert_int_equal(s.opts.sack[0].start, c.snd_nxt + 100);
    assert_int_equal(s.opts.sack[0].end, c.snd_nxt + 200);
    raw_send_tcp(&p, RAW_PORT, SRV_PORT, c.snd_nxt + 200, c.rcv_nxt, TCP_ACK, 65535, NULL, 0, d + 200, 100);
    assert_true(recv_seg(&p, &s, 200));
    assert_int_equal(s.opts.sack[0].end, c.snd_nxt + 300);
    raw_send_tcp(&p, RAW_PORT, SRV_PORT, c.snd_nxt, c.rcv_nxt, TCP_ACK, 65535, NULL, 0, d, 100);
    assert_true(recv_seg(&p, &s, 200));
    assert_int_equal(s.ack, c.snd_nxt + 300);
    assert_false(s.opts.present & TCP_OPTF_SACK);
    uint8_t got[300];
    size_t n = 0;
    while (n < 300) {
        demi_qtoken_t qt;
        assert_int_equal(dm_pop(p.b, &qt, c.sqd), 0);
        assert_true(token_done(p.b, qt));
        demi_qresult_t qr;
        assert_int_equal(dm_wait(p.b, &qr, qt, 0), 0);
        for (uint32_t i = 0; i < qr.qr_value.sga.sga_numsegs; i++) {
            memcpy(got + n, qr.qr_value.sga.sga_segs[i].sgaseg_buf, qr.qr_value.sga.sga_segs[i].sgaseg_len);
            n += qr.qr_value.sga.sga_segs[i].sgaseg_len;
        }
        dm_sgafree(p.b, &qr.qr_value.sga);
    }
    assert_memory_equal(got, d, 300);
    assert_int_equal(stat_of(p.b, "tcp.rx_ooo"), 2);
    pair_destroy(&p);
}

static void test_tcp_bad_checksum_and_bad_offset_are_counted_and_dropped(void **st)
{
    (void)st;
    struct pair p;
    int lqd;
    setup_pair(&p, &lqd, NULL);
    uint8_t f[54 + 4];
    /* build a valid SYN, then break it */
    raw_send_tcp(&p, RAW_PORT, SRV_PORT, 1, 0, TCP_SYN, 100, NULL, 0, NULL, 0);
    struct dm_buf *m;
    struct raw_seg s;
    assert_true(recv_seg(&p, &s, 200)); /* the valid one */
    struct inet_stack *sa = stack_of(p.a);
    (void)sa;
    (void)m;
    /* hand-made frames: copy of a SYN with a flipped payload byte */
    memset(f, 0, sizeof(f));
    raw_send_tcp(&p, RAW_PORT + 1, SRV_PORT, 1, 0, TCP_SYN, 100, NULL, 0, "abcd", 4);
    /* corrupt: resend through raw_send_frame with one byte changed */
    uint8_t frame[128];
    {
        /* rebuild the same frame and flip the last payload byte */
        struct eth_hdr *eh = (struct eth_hdr *)frame;
        (void)eh;
    }
    raw_drain(&p);
    int64_t bad0 = stat_of(p.b, "tcp.rx_bad_csum");
    /* craft: valid frame bytes then flip */
    struct {
        uint8_t b[58];
    } fr;
    memset(&fr, 0, sizeof(fr));
    /* Use the stack's own builder through a captured copy: simplest is to
     * generate via raw_send_tcp into a sink; here we handcraft instead. */
    struct ip_hdr *ih = (struct ip_hdr *)(fr.b + 14);
    struct tcp_hdr *th = (struct tcp_hdr *)(fr.b + 34);
    struct eth_hdr *eh = (struct eth_hdr *)fr.b;
    sscanf(MAC_B, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &eh->dst[0], &eh->dst[1], &eh->dst[2], &eh->dst[3], &eh->dst[4], &eh->dst[5]);
    eh->type = htons(ETH_P_IPV4);
    ih->vhl = 0x45;
    ih->len = htons(44);
    ih->ttl = 64;
    ih->proto = 6;
    inet_pton(AF_INET, IP_A, &ih->src);
    inet_pton(AF_INET, IP_B, &ih->dst);
    ih->csum = inet_csum_fold(inet_csum_partial(ih, 20, 0));
    th->sport = htons(RAW_PORT + 2);
    th->dport = htons(SRV_PORT);
    th->off = 5 << 4;
    th->flags = TCP_SYN;
    th->wnd = htons(100);
    memcpy(fr.b + 54, "abcd", 4);
    th->csum = inet_csum_fold(inet_csum_partial(th, 24, inet_csum_pseudo(ih->src, ih->dst, 6, 24)));
    fr.b[57] ^= 0x40; /* corrupted after the checksum */
    want_dport = RAW_PORT + 2;
    raw_send_frame(&p, fr.b, sizeof(fr.b));
    if (recv_seg(&p, &s, 20))
        fail_msg("unexpected answer flags %x seq %u ack %u dport %u", s.flags, s.seq, s.ack, s.dport);
    assert_int_equal(stat_of(p.b, "tcp.rx_bad_csum"), bad0 + 1);
    /* data offset larger than the segment */
    fr.b[57] ^= 0x40;
    th->off = 15 << 4;
    th->csum = 0;
    th->csum = inet_csum_fold(inet_csum_partial(th, 24, inet_csum_pseudo(ih->src, ih->dst, 6, 24)));
    raw_send_frame(&p, fr.b, sizeof(fr.b));
    if (recv_seg(&p, &s, 20))
        fail_msg("unexpected answer flags %x seq %u ack %u dport %u", s.flags, s.seq, s.ack, s.dport);
    assert_int_equal(stat_of(p.b, "tcp.rx_bad_off"), 1);
    /* data offset below 5 words */
    th->off = 3 << 4;
    th->csum = 0;
    th->csum = inet_csum_fold(inet_csum_partial(th, 24, inet_csum_pseudo(ih->src, ih->dst, 6, 24)));
    raw_send_frame(&p, fr.b, sizeof(fr.b));
    assert_false(recv_seg(&p, &s, 20));
    assert_int_equal(stat_of(p.b, "tcp.rx_bad_off"), 2);
    /* truncated: IP says 44 bytes but the frame carries 14 + 30 */
    raw_send_frame(&p, fr.b, 14 + 30);
    assert_false(recv_seg(&p, &s, 20));
    assert_int_equal(stat_of(p.b, "ip.rx_bad_len"), 1);
    want_dport = 0;
    pair_destroy(&p);
}

static void test_tcp_segment_for_no_connection_gets_rst(void **st)
{
    (void)st;
    struct pair p;
    int lqd;
    setup_pair(&p, &lqd, NULL);
    raw_send_tcp(&p, RAW_PORT, 4444, 777, 0, TCP_SYN, 100, NULL, 0, NULL, 0);
    struct raw_seg s;
    assert_true(recv_seg(&p, &s, 200));
    assert_int_equal(s.flags, TCP_RST | TCP_ACK);
    assert_int_equal(s.seq, 0);
    assert_int_equal(s.ack, 778);
    raw_send_tcp(&p, RAW_PORT, 4444, 777, 0x12345678, TCP_ACK, 100, NULL, 0, "x", 1);
    assert_true(recv_seg(&p, &s, 200));
    assert_int_equal(s.flags, TCP_RST);
    assert_int_equal(s.seq, 0x12345678);
    /* never a RST for a RST */
    raw_send_tcp(&p, RAW_PORT, 4444, 777, 0, TCP_RST, 0, NULL, 0, NULL, 0);
    assert_false(recv_seg(&p, &s, 20));
    pair_destroy(&p);
}

/* On a port other processes share (devices/dpdk's secondaries), the
 * device takes a segment no socket here wants, as the frame it came in. */
static void test_tcp_stray_segment_is_forwarded_as_the_whole_frame(void **st)
{
    (void)st;
    struct pair p;
    int lqd;
    setup_pair(&p, &lqd, NULL);
    fwd_capture_start(p.b);
    /* no listener on 4444: what the peer sent goes on, Ethernet header first */
    raw_send_tcp(&p, RAW_PORT, 4444, 777, 0, TCP_SYN, 100, NULL, 0, NULL, 0);
    struct raw_seg sg;
    assert_false(recv_seg(&p, &sg, 50)); /* no RST */
    assert_int_equal(fwd_cap.calls, 1);
    assert_int_equal(fwd_cap.len, 14 + 20 + 20);
    const uint8_t *fwd_frame = fwd_cap.frame;
    uint8_t mac_b[6];
    sscanf(MAC_B, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac_b[0], &mac_b[1], &mac_b[2], &mac_b[3], &mac_b[4], &mac_b[5]);
    assert_memory_equal(fwd_frame, mac_b, 6);
    assert_int_equal(fwd_frame[12] << 8 | fwd_frame[13], ETH_P_IPV4);
    assert_int_equal(fwd_frame[14], 0x45);
    assert_int_equal(fwd_frame[34] << 8 | fwd_frame[35], RAW_PORT);  /* TCP source port */
    assert_int_equal(fwd_frame[36] << 8 | fwd_frame[37], 4444);
    assert_int_equal(stat_of(p.b, "tcp.rx_forwarded"), 1);
    fwd_capture_stop();
    pair_destroy(&p);
}

/* The last process of a port a SYN went round, none listening: while
 * one of them has only just come up (a worker before its listen()), the
 * SYN is dropped (its client sends it again) instead of refused. */
static void test_tcp_syn_nobody_takes_waits_for_a_starting_peer_then_is_refused(void **st)
{
    (void)st;
    struct pair p;
    int lqd;
    setup_pair(&p, &lqd, NULL);
    fwd_capture_start(p.b);
    fwd_cap.refuse = true;
    fwd_cap.starting = true;
    raw_send_tcp(&p, RAW_PORT, 4444, 777, 0, TCP_SYN, 100, NULL, 0, NULL, 0);
    struct raw_seg sg;
    assert_false(recv_seg(&p, &sg, 50)); /* no RST */
    assert_int_equal(fwd_cap.calls, 1);
    assert_int_equal(stat_of(p.b, "tcp.rx_syn_early"), 1);
    assert_int_equal(stat_of(p.b, "tcp.tx_rst"), 0);
    /* nobody starting: refused as Linux refuses a port nobody listens on */
    fwd_cap.starting = false;
    raw_send_tcp(&p, RAW_PORT, 4444, 777, 0, TCP_SYN, 100, NULL, 0, NULL, 0);
    assert_true(recv_seg(&p, &sg, 200));
    assert_int_equal(sg.flags, TCP_RST | TCP_ACK);
    assert_int_equal(sg.ack, 778);
    assert_int_equal(stat_of(p.b, "tcp.rx_syn_early"), 1);
    fwd_capture_stop();
    pair_destroy(&p);
}

static void test_tcp_time_wait_is_reused_by_a_syn_with_higher_sequence(void **st)
{
    (void)st;
    const char *kv[] = {"DEMI_TCP_TIMEWAIT_MS", "10000", NULL};
    struct pair p;
    int lqd;
    setup_pair(&p, &lqd, kv);
    struct raw_conn c;
    raw_establish(&p, lqd, &c, RAW_PORT, NULL, 0, 8192);
    assert_int_equal(dm_close(p.b, c.sqd), 0); /* b closes first: b will sit in TIME_WAIT */
    struct raw_seg s;
    assert_true(recv_seg(&p, &s, 200));
    assert_true(s.flags & TCP_FIN);
    raw_send_tcp(&p, RAW_PORT, SRV_PORT, c.snd_nxt, s.seq + 1, TCP_ACK | TCP_FIN, 8192, NULL, 0, NULL, 0);
    assert_true(recv_seg(&p, &s, 200));
    assert_int_equal(s.flags, TCP_ACK);
    uint32_t ip_a, ip_b;
    inet_pton(AF_INET, IP_A, &ip_a);
    inet_pton(AF_INET, IP_B, &ip_b);
    struct tcp_pcb *tw = tcp_lookup4(stack_of(p.b), ip_b, htons(SRV_PORT), ip_a, htons(RAW_PORT));
    assert_non_null(tw);
    assert_int_equal(tw->state, TCPS_TIME_WAIT);
    /* a new incarnation, same 4-tuple */
    raw_send_tcp(&p, RAW_PORT, SRV_PORT, c.snd_nxt + 100000, 0, TCP_SYN, 8192, NULL, 0, NULL, 0);
    assert_true(recv_seg(&p, &s, 200));
    assert_int_equal(s.flags, TCP_SYN | TCP_ACK);
    assert_int_equal(s.ack, c.snd_nxt + 100001);
    assert_int_equal(stat_of(p.b, "tcp.conn_timewait_reuse"), 1);
    pair_destroy(&p);
}

static void test_tcp_zero_window_peer_gets_window_probes(void **st)
{
    (void)st;
    struct pair p;
    int lqd;
    setup_pair(&p, &lqd, NULL);
    struct raw_conn c;
    raw_establish(&p, lqd, &c, RAW_PORT, NULL, 0, 0); /* window 0 from the start */
    push_bytes(p.b, c.sqd, "hello", 5);
    struct raw_seg s;
    assert_true(recv_seg(&p, &s, 500));
    assert_int_equal(s.len, 0);
    assert_int_equal(s.seq, c.rcv_nxt - 1); /* probe: seq snd_una - 1 */
    assert_true(stat_of(p.b, "tcp.tx_zwp") >= 1);
    /* the window opens: data flows */
    raw_send_tcp(&p, RAW_PORT, SRV_PORT, c.snd_nxt, c.rcv_nxt, TCP_ACK, 8192, NULL, 0, NULL, 0);
    do
        assert_true(recv_seg(&p, &s, 500));
    while (s.len == 0);
    assert_int_equal(s.len, 5);
    assert_memory_equal(s.payload, "hello", 5);
    pair_destroy(&p);
}

static void test_tcp_tiny_segment_flood_cannot_pin_unbounded_buffers(void **st)
{
    (void)st;
    const char *kv[] = {"DEMI_TCP_RCVBUF", "8192", NULL};
    struct pair p;
    int lqd;
    setup_pair(&p, &lqd, kv);
    struct raw_conn c;
    raw_establish(&p, lqd, &c, RAW_PORT, NULL, 0, 8192);
    for (int i = 0; i < 300; i++) {
        raw_send_tcp(&p, RAW_PORT, SRV_PORT, c.snd_nxt + (uint32_t)i, c.rcv_nxt, TCP_ACK, 8192, NULL, 0, "z", 1);
        if (i % 16 == 15)
            raw_drain(&p);
    }
    raw_drain(&p);
    struct tcp_pcb *pc = pcb_of(p.b, c.sqd);
    assert_true(stat_of(p.b, "tcp.rx_nobuf_drop") > 0);
    assert_true(pc->rcvq_nseg * TCP_SEG_OVERHEAD + pc->rcvq_bytes <= 2u * 8192u + TCP_SEG_OVERHEAD + 1);
    assert_true(tcp_rcv_window(pc) < 8192); /* the overhead shows in the window */
    /* reading frees the accounting; the rest is accepted when resent */
    uint32_t got = pc->rcvq_bytes;
    assert_true(got > 0 && got < 300);
    pair_destroy(&p);
}

static void test_tcp_syn_flood_is_bounded_and_spares_the_established_connection(void **st)
{
    (void)st;
    struct pair p;
    int lqd;
    setup_pair(&p, &lqd, NULL);
    struct raw_conn c;
    raw_establish(&p, lqd, &c, RAW_PORT, NULL, 0, 65535);
    uint32_t nfree0 = stack_of(p.b)->nfree;
    for (int i = 0; i < 2000; i++) {
        raw_send_tcp(&p, (uint16_t)(10000 + i), SRV_PORT, (uint32_t)i * 7919u, 0, TCP_SYN, 1024, NULL, 0, NULL, 0);
        if (i % 32 == 31)
            raw_drain(&p);
    }
    raw_drain(&p);
    /* backlog 8: at most 8 embryonic connections, the rest counted and dropped */
    assert_true(stack_of(p.b)->nfree >= nfree0 - 8);
    assert_true(stat_of(p.b, "tcp.rx_syn_drop_backlog") >= 2000 - 8);
    /* the established connection still carries data both ways */
    raw_send_tcp(&p, RAW_PORT, SRV_PORT, c.snd_nxt, c.rcv_nxt, TCP_ACK | TCP_PSH, 65535, NULL, 0, "alive", 5);
    want_dport = RAW_PORT;
    struct raw_seg s;
    assert_true(recv_seg(&p, &s, 200));
    assert_int_equal(s.ack, c.snd_nxt + 5);
    push_bytes(p.b, c.sqd, "yes", 3);
    do
        assert_true(recv_seg(&p, &s, 200));
    while (s.len == 0);
    assert_memory_equal(s.payload, "yes", 3);
    want_dport = 0;
    pair_destroy(&p);
}

static void test_tcp_blind_rst_and_data_guesses_never_break_the_connection(void **st)
{
    (void)st;
    struct pair p;
    int lqd;
    setup_pair(&p, &lqd, NULL);
    struct raw_conn c;
    raw_establish(&p, lqd, &c, RAW_PORT, NULL, 0, 65535);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 3000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint32_t seq = (uint32_t)x;
        if (seq == c.snd_nxt)
            continue;
        uint8_t fl = (i & 1) ? TCP_RST : (TCP_ACK | TCP_PSH);
        raw_send_tcp(&p, RAW_PORT, SRV_PORT, seq, (uint32_t)(x >> 32), fl, 65535, NULL, 0, "evil", fl == TCP_RST ? 0 : 4);
        if (i % 32 == 31)
            raw_drain(&p);
    }
    raw_drain(&p);
    struct tcp_pcb *pc = pcb_of(p.b, c.sqd);
    assert_int_equal(pc->state, TCPS_ESTABLISHED);
    assert_int_equal(pc->rcv_nxt, c.snd_nxt);     /* no guessed byte was accepted */
    assert_int_equal(pc->rcvq_bytes, 0);
    assert_true(stat_of(p.b, "tcp.rx_out_of_window") + stat_of(p.b, "tcp.rx_rst_bad") +
                stat_of(p.b, "tcp.rx_ack_too_old") + stat_of(p.b, "tcp.rx_ack_future") > 0);
    /* challenge ACKs are rate limited (RFC 5961 7) */
    assert_true(stat_of(p.b, "tcp.rx_challenge_ack") <= 1000);
    raw_send_tcp(&p, RAW_PORT, SRV_PORT, c.snd_nxt, c.rcv_nxt, TCP_ACK | TCP_PSH, 65535, NULL, 0, "good", 4);
    raw_drain(&p);
    assert_int_equal(pc->rcvq_bytes, 4);
    pair_destroy(&p);
}

/* The TCP hash chains: with one bucket every connection shares a chain, and
 * the first one made sits at its tail (hnext NULL, not the head). Freeing
 * it must unhash it; left behind, its hnext became the free-list link and a
 * lookup walked into free PCBs, then looped forever once one was reused. */
static unsigned chain_len(struct inet_stack *s, unsigned limit)
{
    unsigned n = 0;
    for (struct tcp_pcb *q = s->hash[0]; q && n <= limit; q = q->hnext)
        n++;
    return n;
}

static void test_tcp_freeing_the_tail_of_a_hash_chain_unhashes_it(void **st)
{
    (void)st;
    struct pair p;
    int lqd;
    setup_pair(&p, &lqd, NULL);
    struct inet_stack *s = stack_of(p.b);
    s->hash_mask = 0; /* one bucket: every connection collides */
    uint32_t ip_a, ip_b;
    inet_pton(AF_INET, IP_A, &ip_a);
    inet_pton(AF_INET, IP_B, &ip_b);
    struct raw_conn c[4];
    for (int i = 0; i < 3; i++)
        raw_establish(&p, lqd, &c[i], (uint16_t)(RAW_PORT + 1 + i), NULL, 0, 8192);
    assert_int_equal(chain_len(s, 100), 3);
    struct tcp_pcb *tail = tcp_lookup4(s, ip_b, htons(SRV_PORT), ip_a, htons(RAW_PORT + 1));
    assert_non_null(tail);
    assert_null(tail->hnext); /* the first connection is the chain's tail */
    /* the peer resets it (exact sequence), the application closes it */
    raw_send_tcp(&p, RAW_PORT + 1, SRV_PORT, c[0].snd_nxt, 0, TCP_RST, 0, NULL, 0, NULL, 0);
    raw_drain(&p);
    assert_int_equal(dm_close(p.b, c[0].sqd), 0);
    for (int i = 0; i < 10; i++)
        dm_poll(p.b, 0);
    assert_null(tcp_lookup4(s, ip_b, htons(SRV_PORT), ip_a, htons(RAW_PORT + 1)));
    assert_int_equal(chain_len(s, 100), 2);
    /* a new connection reuses the freed PCB: the chain stays a list */
    raw_establish(&p, lqd, &c[3], (uint16_t)(RAW_PORT + 4), NULL, 0, 8192);
    assert_int_equal(chain_len(s, 100), 3);
    for (int i = 1; i < 4; i++)
        assert_non_null(tcp_lookup4(s, ip_b, htons(SRV_PORT), ip_a, htons(c[i].sport)));
    pair_destroy(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_syn_without_options_gets_synack_with_mss_only),
        cmocka_unit_test(test_tcp_syn_with_all_options_gets_them_back),
        cmocka_unit_test(test_tcp_rst_in_syn_rcvd_frees_the_embryonic_connection),
        cmocka_unit_test(test_tcp_rst_with_exact_sequence_resets_the_connection),
        cmocka_unit_test(test_tcp_rst_in_window_but_not_exact_gets_a_challenge_ack),
        cmocka_unit_test(test_tcp_rst_outside_the_window_is_ignored),
        cmocka_unit_test(test_tcp_syn_on_an_established_connection_gets_a_challenge_ack),
        cmocka_unit_test(test_tcp_ack_of_unsent_data_is_answered_and_dropped),
        cmocka_unit_test(test_tcp_fast_retransmit_after_three_dupacks),
        cmocka_unit_test(test_tcp_rto_backs_off_exponentially),
        cmocka_unit_test(test_tcp_connect_ends_at_an_icmp_port_unreachable),
        cmocka_unit_test(test_tcp_fragmentation_needed_shrinks_segments_and_resends),
        cmocka_unit_test(test_tcp_timeout_reports_the_last_icmp_error),
        cmocka_unit_test(test_tcp_out_of_order_data_is_sacked_then_reassembled),
        cmocka_unit_test(test_tcp_bad_checksum_and_bad_offset_are_counted_and_dropped),
        cmocka_unit_test(test_tcp_segment_for_no_connection_gets_rst),
        cmocka_unit_test(test_tcp_stray_segment_is_forwarded_as_the_whole_frame),
        cmocka_unit_test(test_tcp_syn_nobody_takes_waits_for_a_starting_peer_then_is_refused),
        cmocka_unit_test(test_tcp_time_wait_is_reused_by_a_syn_with_higher_sequence),
        cmocka_unit_test(test_tcp_zero_window_peer_gets_window_probes),
        cmocka_unit_test(test_tcp_tiny_segment_flood_cannot_pin_unbounded_buffers),
        cmocka_unit_test(test_tcp_syn_flood_is_bounded_and_spares_the_established_connection),
        cmocka_unit_test(test_tcp_blind_rst_and_data_guesses_never_break_the_connection),
        cmocka_unit_test(test_tcp_freeing_the_tail_of_a_hash_chain_unhashes_it),
    };
    if (getenv("TEST_FILTER"))
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
