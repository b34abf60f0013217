/* SPDX-License-Identifier: MIT */
/* Helpers for the stacks/inet tests (see inet_test.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "inet_test.h"
#include "csum.h"
#include "demi/sga.h"
#include "demi/libos.h"

static unsigned pair_seq;

static void make_cfg(struct dm_config *c, const char *link, const char *ip, const char *ip6, const char *mac,
                     const char *peer_arp, const char *faults, const char *const *kv)
{
    dm_config_init(c);
    assert_int_equal(dm_config_set(c, "DEMI_BACKEND", "loop"), 0);
    assert_int_equal(dm_config_set(c, "DEMI_LOOP_LINK", link), 0);
    assert_int_equal(dm_config_set(c, "DEMI_IPV4", ip), 0);
    assert_int_equal(dm_config_set(c, "DEMI_IPV6", ip6), 0);
    assert_int_equal(dm_config_set(c, "DEMI_MAC", mac), 0);
    assert_int_equal(dm_config_set(c, "DEMI_ARP", peer_arp), 0);
    assert_int_equal(dm_config_set(c, "DEMI_TCP_RTO_MIN_MS", "5"), 0);
    assert_int_equal(dm_config_set(c, "DEMI_TCP_RTO_INIT_MS", "50"), 0);
    assert_int_equal(dm_config_set(c, "DEMI_TCP_TIMEWAIT_MS", "20"), 0);
    if (faults)
        assert_int_equal(dm_config_set(c, "DEMI_FAULTS", faults), 0);
    for (; kv && kv[0]; kv += 2)
        assert_int_equal(dm_config_set(c, kv[0], kv[1]), 0);
}

void pair_create(struct pair *p, const char *faults, const char *const *kv)
{
    char link[64];
    p->keep_mld = false;
    snprintf(link, sizeof(link), "inet-test-%d-%u", (int)getpid(), pair_seq++);
    struct dm_config ca, cb;
    make_cfg(&ca, link, IP_A "/24", IP6_A "/64", MAC_A, IP_B "=" MAC_B, faults, kv);
    make_cfg(&cb, link, IP_B "/24", IP6_B "/64", MAC_B, IP_A "=" MAC_A, faults, kv);
    assert_int_equal(dm_instance_create(&ca, &p->a), 0);
    assert_int_equal(dm_instance_create(&cb, &p->b), 0);
}

void pair_destroy(struct pair *p)
{
    /* The loop device moves frames by reference, so b's queues may hold
     * a's buffers and the other way round: close every queue (freeing
     * unread data) and let each side consume what the other sent before
     * any pool goes away. */
    struct dm_instance *both[2] = {p->a, p->b};
    for (int i = 0; i < 2; i++)
        for (int qd = DEMI_QD_BASE; qd < DEMI_QD_BASE + 4096; qd++)
            if (dm_queue_get(both[i], qd))
                dm_close(both[i], qd);
    pair_run_for(p, 5 * DM_NS_PER_MS);
    dm_instance_destroy(p->a);
    dm_instance_destroy(p->b);
    p->a = p->b = NULL;
}

struct inet_stack *stack_of(struct dm_instance *i) { return dm_instance_stack(i); }

void pair_poll(struct pair *p)
{
    dm_poll(p->a, 0);
    dm_poll(p->b, 0);
}

bool pair_run_until(struct pair *p, bool (*cond)(void *), void *arg, int64_t timeout_ns)
{
    int64_t end = dm_clock_ns() + timeout_ns;
    for (;;) {
        if (cond(arg))
            return true;
        if (dm_clock_ns() > end)
            return cond(arg);
        pair_poll(p);
    }
}

void pair_run_for(struct pair *p, int64_t ns)
{
    int64_t end = dm_clock_ns() + ns;
    while (dm_clock_ns() < end)
        pair_poll(p);
}

bool token_done(struct dm_instance *inst, demi_qtoken_t qt) { return dm_token_state(inst, qt) == 1; }

demi_qresult_t pair_wait(struct pair *p, struct dm_instance *inst, demi_qtoken_t qt, int64_t timeout_ns)
{
    int64_t end = dm_clock_ns() + timeout_ns;
    while (!token_done(inst, qt)) {
        if (dm_clock_ns() > end)
            fail_msg("token %llx not done in time", (unsigned long long)qt);
        pair_poll(p);
    }
    demi_qresult_t qr;
    assert_int_equal(dm_wait(inst, &qr, qt, 0), 0);
    return qr;
}

struct sockaddr_in sin_of(const char *ip, uint16_t port)
{
    struct sockaddr_in s;
    memset(&s, 0, sizeof(s));
    s.sin_family = AF_INET;
    s.sin_port = htons(port);
    inet_pton(AF_INET, ip, &s.sin_addr);
    return s;
}

struct sockaddr_in6 sin6_of(const char *ip, uint16_t port)
{
    struct sockaddr_in6 s;
    memset(&s, 0, sizeof(s));
    s.sin6_family = AF_INET6;
    s.sin6_port = htons(port);
    assert_int_equal(inet_pton(AF_INET6, ip, &s.sin6_addr), 1);
    return s;
}

static int listener_at(struct dm_instance *inst, int family, const struct sockaddr *s, socklen_t len, int backlog)
{
    int qd;
    assert_int_equal(dm_socket(inst, &qd, family, SOCK_STREAM, 0), 0);
    assert_int_equal(dm_bind(inst, qd, s, len), 0);
    assert_int_equal(dm_listen(inst, qd, backlog), 0);
    return qd;
}

static void connect_pair_to(struct pair *p, int lqd, int family, const struct sockaddr *s, socklen_t len, int *cqd,
                            int *sqd)
{
    demi_qtoken_t at, ct;
    assert_int_equal(dm_socket(p->a, cqd, family, SOCK_STREAM, 0), 0);
    assert_int_equal(dm_accept(p->b, &at, lqd), 0);
    assert_int_equal(dm_connect(p->a, &ct, *cqd, s, len), 0);
    demi_qresult_t qr = pair_wait(p, p->a, ct, 5 * DM_NS_PER_S);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_CONNECT);
    qr = pair_wait(p, p->b, at, 5 * DM_NS_PER_S);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_ACCEPT);
    *sqd = qr.qr_value.ares.qd;
}

int tcp_listener6(struct dm_instance *inst, const char *ip, uint16_t port, int backlog)
{
    struct sockaddr_in6 s = sin6_of(ip, port);
    return listener_at(inst, AF_INET6, (struct sockaddr *)&s, sizeof(s), backlog);
}

void tcp_connect_pair6(struct pair *p, int lqd, uint16_t port, int *cqd, int *sqd)
{
    struct sockaddr_in6 s = sin6_of(IP6_B, port);
    connect_pair_to(p, lqd, AF_INET6, (struct sockaddr *)&s, sizeof(s), cqd, sqd);
}

int tcp_listener(struct dm_instance *inst, const char *ip, uint16_t port, int backlog)
{
    struct sockaddr_in s = sin_of(ip, port);
    return listener_at(inst, AF_INET, (struct sockaddr *)&s, sizeof(s), backlog);
}

void tcp_connect_pair(struct pair *p, int lqd, uint16_t port, int *cqd, int *sqd)
{
    struct sockaddr_in s = sin_of(IP_B, port);
    connect_pair_to(p, lqd, AF_INET, (struct sockaddr *)&s, sizeof(s), cqd, sqd);
}

demi_qtoken_t push_bytes(struct dm_instance *inst, int qd, const void *data, size_t len)
{
    int err = 0;
    demi_sgarray_t sga = dm_sgaalloc(inst, len, &err);
    assert_int_equal(err, 0);
    memcpy(sga.sga_segs[0].sgaseg_buf, data, len);
    demi_qtoken_t qt;
    assert_int_equal(dm_push(inst, &qt, qd, &sga), 0);
    dm_sgafree(inst, &sga);
    return qt;
}

void pair_udp_connect(struct pair *p, struct dm_instance *inst, int qd, const struct sockaddr *to, socklen_t len)
{
    demi_qtoken_t ct;
    assert_int_equal(dm_connect(inst, &ct, qd, to, len), 0);
    assert_int_equal(pair_wait(p, inst, ct, DM_NS_PER_S).qr_opcode, DEMI_OPC_CONNECT);
}

int64_t stat_of(struct dm_instance *inst, const char *name) { return dm_stats_get(inst, name); }

struct fwd_capture fwd_cap;
static struct dm_dev_ops fwd_ops;
static const struct dm_dev_ops *fwd_orig;
static struct dm_dev *fwd_dev;

static bool capture_forward(struct dm_dev *dev, struct dm_buf *frame, uint32_t flow_hash)
{
    (void)dev, (void)flow_hash;
    fwd_cap.calls++;
    if (fwd_cap.refuse)
        return false; /* every other process has seen it */
    fwd_cap.len = frame->pkt_len <= sizeof(fwd_cap.frame) ? frame->pkt_len : 0;
    if (fwd_cap.len)
        dm_buf_copy_out(frame, 0, fwd_cap.frame, fwd_cap.len);
    dm_buf_free(frame);
    return true;
}

static bool capture_peers_starting(struct dm_dev *dev)
{
    (void)dev;
    return fwd_cap.starting;
}

static bool capture_flow_ours(struct dm_dev *dev, int proto, uint32_t lip, uint16_t lport, uint32_t rip,
                              uint16_t rport)
{
    (void)dev, (void)lip, (void)rip, (void)rport;
    fwd_cap.asked[proto & 0xff]++;
    return !fwd_cap.place_mod || ntohs(lport) % fwd_cap.place_mod == 0;
}

static bool capture_flow_ours6(struct dm_dev *dev, int proto, const uint8_t *lip, uint16_t lport,
                               const uint8_t *rip, uint16_t rport)
{
    (void)lip, (void)rip;
    return capture_flow_ours(dev, proto, 0, lport, 0, rport);
}

void fwd_capture_start(struct dm_instance *inst)
{
    fwd_dev = stack_of(inst)->dev;
    fwd_orig = fwd_dev->ops;
    fwd_ops = *fwd_orig;
    fwd_ops.forward = capture_forward;
    fwd_ops.peers_starting = capture_peers_starting;
    fwd_ops.flow_ours = capture_flow_ours;
    fwd_ops.flow_ours6 = capture_flow_ours6;
    fwd_dev->ops = &fwd_ops;
    memset(&fwd_cap, 0, sizeof(fwd_cap));
}

void fwd_capture_stop(void)
{
    fwd_dev->ops = fwd_orig;
}

void stray_setup(struct pair *p, uint8_t *dg, uint16_t len)
{
    pair_create(p, NULL, NULL);
    fwd_capture_start(p->b);
    struct udp_hdr *uh = (struct udp_hdr *)dg;
    memset(uh, 0, sizeof(*uh));
    uh->sport = htons(1000);
    uh->dport = htons(9999);
    uh->len = htons(len);
    for (unsigned i = sizeof(*uh); i < len; i++)
        dg[i] = (uint8_t)(i * 13);
}

void stray_expect_forwarded(struct pair *p, uint32_t frame_len, const uint8_t *dg, uint16_t dg_len)
{
    uint8_t r[256];
    uint32_t n;
    assert_false(raw_recv_frame(p, r, sizeof(r), &n, 50 * DM_NS_PER_MS));
    assert_int_equal(fwd_cap.calls, 1);
    assert_int_equal(fwd_cap.len, frame_len);
    assert_memory_equal(fwd_cap.frame + frame_len - dg_len, dg, dg_len);
    assert_int_equal(stat_of(p->b, "udp.rx_forwarded"), 1);
    assert_int_equal(stat_of(p->b, "udp.rx_no_port"), 0);
}

/* ------------------------------------------------------------ raw peer */
static void raw_tx(struct pair *p, struct dm_buf *m)
{
    struct inet_stack *sa = stack_of(p->a);
    struct dm_buf *arr[1] = {m};
    assert_int_equal(sa->dev->tx_burst(sa->dev, arr, 1), 1);
}

void raw_send_frame(struct pair *p, const void *frame, uint32_t len)
{
    struct dm_buf *m = dm_buf_alloc_size(p->a, len);
    assert_non_null(m);
    memcpy(dm_buf_append(m, len), frame, len);
    raw_tx(p, m);
}

void raw_send_tcp(struct pair *p, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags,
                  uint16_t wnd, const uint8_t *opts, unsigned optlen, const void *payload, uint32_t len)
{
    uint8_t f[2048];
    assert_true(len + optlen + 54 <= sizeof(f));
    struct eth_hdr *eh = (struct eth_hdr *)f;
    struct ip_hdr *ih = (struct ip_hdr *)(f + 14);
    struct tcp_hdr *th = (struct tcp_hdr *)(f + 34);
    uint32_t tlen = 20 + optlen + len;
    sscanf(MAC_B, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &eh->dst[0], &eh->dst[1], &eh->dst[2], &eh->dst[3], &eh->dst[4], &eh->dst[5]);
    sscanf(MAC_A, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &eh->src[0], &eh->src[1], &eh->src[2], &eh->src[3], &eh->src[4], &eh->src[5]);
    eh->type = htons(ETH_P_IPV4);
    memset(ih, 0, 20);
    ih->vhl = 0x45;
    ih->len = htons((uint16_t)(20 + tlen));
    ih->ttl = 64;
    ih->proto = 6;
    inet_pton(AF_INET, IP_A, &ih->src);
    inet_pton(AF_INET, IP_B, &ih->dst);
    ih->csum = inet_csum_fold(inet_csum_partial(ih, 20, 0));
    th->sport = htons(sport);
    th->dport = htons(dport);
    th->seq = htonl(seq);
    th->ack = htonl(ack);
    th->off = (uint8_t)(((20 + optlen) / 4) << 4);
    th->flags = flags;
    th->wnd = htons(wnd);
    th->csum = 0;
    th->urp = 0;
    if (optlen)
        memcpy(th + 1, opts, optlen);
    if (len)
        memcpy((uint8_t *)(th + 1) + optlen, payload, len);
    th->csum = inet_csum_fold(inet_csum_partial(th, tlen, inet_csum_pseudo(ih->src, ih->dst, 6, (uint16_t)tlen)));
    raw_send_frame(p, f, 34 + tlen);
}

bool raw_recv_tcp(struct pair *p, struct raw_seg *out, int64_t timeout_ns)
{
    struct inet_stack *sa = stack_of(p->a);
    int64_t end = dm_clock_ns() + timeout_ns;
    for (;;) {
        struct dm_buf *m = NULL;
        if (sa->dev->rx_burst(sa->dev, &m, 1) == 1) {
            uint8_t f[2048];
            uint32_t n = dm_buf_copy_out(m, 0, f, DM_MIN(m->pkt_len, sizeof(f)));
            dm_buf_free(m);
            const struct eth_hdr *eh = (const struct eth_hdr *)f;
            if (n < 54 || ntohs(eh->type) != ETH_P_IPV4 || f[14 + 9] != 6)
                continue;
            const struct ip_hdr *ih = (const struct ip_hdr *)(f + 14);
            uint32_t ihl = (ih->vhl & 15) * 4u;
            const struct tcp_hdr *th = (const struct tcp_hdr *)(f + 14 + ihl);
            uint32_t hl = (th->off >> 4) * 4u;
            memset(out, 0, sizeof(*out));
            out->seq = ntohl(th->seq);
            out->ack = ntohl(th->ack);
            out->flags = th->flags;
            out->wnd = ntohs(th->wnd);
            out->sport = ntohs(th->sport);
            out->dport = ntohs(th->dport);
            out->len = ntohs(ih->len) - ihl - hl;
            assert_int_equal(tcp_opt_parse((const uint8_t *)th + 20, hl - 20, &out->opts), 0);
            memcpy(out->payload, (const uint8_t *)th + hl, DM_MIN(out->len, sizeof(out->payload)));
            return true;
        }
        if (dm_clock_ns() > end)
            return false;
        dm_poll(p->b, 0);
    }
}

int raw_drain(struct pair *p)
{
    struct inet_stack *sa = stack_of(p->a);
    int n = 0;
    struct dm_buf *m;
    dm_poll(p->b, 0);
    while (sa->dev->rx_burst(sa->dev, &m, 1) == 1) {
        dm_buf_free(m);
        n++;
    }
    return n;
}

/* An MLD report (to 33:33:00:00:00:16), which every stack sends on its
 * own at start: the raw peer's tests are about other frames. */
static bool is_mld_report(const struct dm_buf *m)
{
    static const uint8_t mld_mac[6] = {0x33, 0x33, 0, 0, 0, 0x16};
    return m->len >= 14 && memcmp(m->data, mld_mac, 6) == 0;
}

bool raw_recv_frame(struct pair *p, uint8_t *buf, uint32_t cap, uint32_t *len, int64_t timeout_ns)
{
    struct inet_stack *sa = stack_of(p->a);
    int64_t end = dm_clock_ns() + timeout_ns;
    for (;;) {
        struct dm_buf *m = NULL;
        if (sa->dev->rx_burst(sa->dev, &m, 1) == 1) {
            if (is_mld_report(m) && !p->keep_mld) {
                dm_buf_free(m);
                continue;
            }
            *len = dm_buf_copy_out(m, 0, buf, DM_MIN(m->pkt_len, cap));
            dm_buf_free(m);
            return true;
        }
        if (dm_clock_ns() > end)
            return false;
        dm_poll(p->b, 0);
    }
}

uint32_t raw_ip_frame(uint8_t *f, uint8_t proto, uint16_t frag_off, const void *l4, uint32_t l4len)
{
    struct eth_hdr *eh = (struct eth_hdr *)f;
    struct ip_hdr *ih = (struct ip_hdr *)(f + 14);
    sscanf(MAC_B, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &eh->dst[0], &eh->dst[1], &eh->dst[2], &eh->dst[3], &eh->dst[4], &eh->dst[5]);
    sscanf(MAC_A, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &eh->src[0], &eh->src[1], &eh->src[2], &eh->src[3], &eh->src[4], &eh->src[5]);
    eh->type = htons(ETH_P_IPV4);
    memset(ih, 0, 20);
    ih->vhl = 0x45;
    ih->len = htons((uint16_t)(20 + l4len));
    ih->off = htons(frag_off);
    ih->ttl = 64;
    ih->proto = proto;
    inet_pton(AF_INET, IP_A, &ih->src);
    inet_pton(AF_INET, IP_B, &ih->dst);
    ih->csum = inet_csum_fold(inet_csum_partial(ih, 20, 0));
    memcpy(f + 34, l4, l4len);
    return 34 + l4len;
}

uint32_t raw_ip6_frame(uint8_t *f, const char *src, const char *dst, uint8_t nxt, const void *l4, uint32_t l4len,
                       uint8_t l4proto, uint32_t l4off)
{
    struct eth_hdr *eh = (struct eth_hdr *)f;
    struct ip6_hdr *ih = (struct ip6_hdr *)(f + 14);
    sscanf(MAC_B, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &eh->dst[0], &eh->dst[1], &eh->dst[2], &eh->dst[3], &eh->dst[4], &eh->dst[5]);
    sscanf(MAC_A, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &eh->src[0], &eh->src[1], &eh->src[2], &eh->src[3], &eh->src[4], &eh->src[5]);
    eh->type = htons(ETH_P_IPV6);
    memset(ih, 0, sizeof(*ih));
    ih->vtcfl = htonl(6u << 28);
    ih->plen = htons((uint16_t)l4len);
    ih->nxt = nxt;
    ih->hops = 64;
    assert_int_equal(inet_pton(AF_INET6, src, ih->src), 1);
    assert_int_equal(inet_pton(AF_INET6, dst, ih->dst), 1);
    uint8_t *l = f + 14 + 40;
    memcpy(l, l4, l4len);
    if (l4proto == IPPROTO_TCP_ || l4proto == IPPROTO_UDP_ || l4proto == IP6_NH_ICMP6) {
        uint32_t coff = l4proto == IPPROTO_TCP_ ? 16 : l4proto == IPPROTO_UDP_ ? 6 : 2;
        uint32_t n = l4len - l4off;
        uint32_t s6[4], d6[4];
        memcpy(s6, ih->src, 16);
        memcpy(d6, ih->dst, 16);
        memset(l + l4off + coff, 0, 2);
        uint16_t c = inet_csum_fold(inet_csum_partial(l + l4off, n, inet_csum_pseudo6(s6, d6, l4proto, n)));
        if (c == 0 && l4proto == IPPROTO_UDP_)
            c = 0xffff;
        memcpy(l + l4off + coff, &c, 2);
    }
    return 14 + 40 + l4len;
}

/* One datagram of `len` bytes from A's socket to B's, popped whole and
 * byte for byte (the pattern names the datagram). */
void udp_roundtrip_whole(struct pair *p, int ua, int ub, const struct sockaddr *to, socklen_t tolen,
                              uint32_t len, uint8_t tag)
{
    demi_qtoken_t pop, qt;
    int err = 0;
    assert_int_equal(dm_pop(p->b, &pop, ub), 0);
    demi_sgarray_t sga = dm_sgaalloc(p->a, len, &err);
    assert_non_null(sga.sga_buf);
    uint32_t off = 0;
    for (uint32_t i = 0; i < sga.sga_numsegs; i++) {
        uint8_t *b = sga.sga_segs[i].sgaseg_buf;
        for (uint32_t j = 0; j < sga.sga_segs[i].sgaseg_len; j++, off++)
            b[j] = (uint8_t)(tag + off * 7 + (off >> 8));
    }
    assert_int_equal(dm_pushto(p->a, &qt, ua, &sga, to, tolen), 0);
    dm_sgafree(p->a, &sga);
    demi_qresult_t qr = pair_wait(p, p->b, pop, 2 * DM_NS_PER_S);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
    off = 0;
    for (uint32_t i = 0; i < qr.qr_value.sga.sga_numsegs; i++) {
        const uint8_t *b = qr.qr_value.sga.sga_segs[i].sgaseg_buf;
        for (uint32_t j = 0; j < qr.qr_value.sga.sga_segs[i].sgaseg_len; j++, off++)
            if (b[j] != (uint8_t)(tag + off * 7 + (off >> 8)))
                fail_msg("datagram %u (%u bytes): byte %u is %u", tag, len, off, b[j]);
    }
    assert_int_equal(off, len);
    dm_sgafree(p->b, &qr.qr_value.sga);
}

void udp_pair_bound(struct pair *p, bool v6, int *ua, int *ub)
{
    int fam = v6 ? AF_INET6 : AF_INET;
    assert_int_equal(dm_socket(p->a, ua, fam, SOCK_DGRAM, 0), 0);
    assert_int_equal(dm_socket(p->b, ub, fam, SOCK_DGRAM, 0), 0);
    if (v6) {
        struct sockaddr_in6 sa = sin6_of(IP6_A, 1111), sb = sin6_of(IP6_B, 2222);
        assert_int_equal(dm_bind(p->a, *ua, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(dm_bind(p->b, *ub, (struct sockaddr *)&sb, sizeof(sb)), 0);
    } else {
        struct sockaddr_in sa = sin_of(IP_A, 1111), sb = sin_of(IP_B, 2222);
        assert_int_equal(dm_bind(p->a, *ua, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(dm_bind(p->b, *ub, (struct sockaddr *)&sb, sizeof(sb)), 0);
    }
}
