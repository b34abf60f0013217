/* SPDX-License-Identifier: MIT */
/*
 * stacks/inet: our Ethernet/ARP/IPv4/IPv6/ICMP/UDP/TCP stack behind the
 * backend ops (dm/stack.h), over any L2 device (dm/device.h): core gives
 * it every backend named after a device (dm_stack_ops.l2): "loop" (for
 * tests and benchmarks), "dpdk", "xdp", and whatever device comes next.
 *
 * Configuration: DEMI_IPV4, DEMI_GATEWAY, DEMI_IPV6, DEMI_GATEWAY6,
 * DEMI_MAC, DEMI_ARP, DEMI_MTU, DEMI_ARP_TTL_S and DEMI_TCP_*
 * (core/include/dm/config_vars.h, described in docs/configuration.md); a
 * bad value fails create with -EINVAL.
 *
 * Sockets of both families (the `inet6` capability): an AF_INET6 socket
 * takes IPv6 and, unless IPV6_V6ONLY, IPv4 as v4-mapped addresses.
 *
 * poll(): one rx_burst, each frame through eth_input(); then the output
 * pass of the connections the burst touched (so a burst of segments costs
 * one ACK per connection); then one tx_burst. The same output + flush runs
 * as a task after timers and after application calls.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "inet_priv.h"
#include "tcp_priv.h"
#include "dm/addr.h"
#include "dm/log.h"
#include "dm/stack.h"
#include "dm/stats.h"

/* ------------------------------------------------------------ counters */
static const char *const eth_names[] = {"rx", "rx_short", "rx_not_ours", "rx_bad_type", "tx", "tx_drop_full", "rx_nobuf"};
static const char *const arp_names[] = {"rx", "rx_bad", "rx_request", "rx_reply", "tx_request", "tx_reply",
                                        "resolved", "queue_drop", "timeout", "nobuf"};
static const char *const ip_names[] = {"rx", "rx_short", "rx_bad_version", "rx_bad_hlen", "rx_bad_len",
                                       "rx_bad_csum", "rx_not_ours", "rx_frag_drop", "rx_bad_proto",
                                       "rx_ttl_zero", "tx", "tx_no_route", "tx_nobuf", "rx_frag",
                                       "rx_reasm_ok", "rx_reasm_drop", "tx_frag"};
static const char *const icmp_names[] = {"rx", "rx_short", "rx_bad_csum", "rx_echo", "tx_echo_reply",
                                         "tx_unreach", "rx_other", "rx_unreach", "rx_unreach_sock"};
static const char *const ip6_names[] = {"rx", "rx_short", "rx_bad_version", "rx_bad_len", "rx_bad_src",
                                        "rx_not_ours", "rx_frag_drop", "rx_bad_ext", "rx_ext_unknown_opt",
                                        "rx_bad_proto", "tx", "tx_no_route", "tx_nobuf", "rx_frag",
                                        "rx_reasm_ok", "rx_reasm_drop", "tx_frag"};
static const char *const icmp6_names[] = {"rx", "rx_short", "rx_bad_csum", "rx_echo", "tx_echo_reply",
                                          "tx_unreach", "rx_error", "rx_other", "rx_mld_query",
                                          "tx_mld_report", "rx_unreach_sock"};
static const char *const nd_names[] = {"rx", "rx_bad", "rx_ns", "rx_na", "tx_ns", "tx_na",
                                       "resolved", "queue_drop", "timeout", "nobuf"};
static const char *const udp_names[] = {"rx", "rx_short", "rx_bad_len", "rx_bad_csum", "rx_no_port",
                                        "rx_queue_full", "tx", "tx_nobuf", "rx_forwarded", "rx_early"};
static const char *const tcp_names[] = {
    "rx", "rx_short", "rx_bad_off", "rx_bad_csum", "rx_bad_opt", "rx_no_pcb", "rx_syn_drop_backlog",
    "rx_syn_drop_nomem", "rx_out_of_window", "rx_rst_bad", "rx_rst_ok", "rx_challenge_ack",
    "rx_ack_too_old", "rx_ack_future", "rx_dup", "rx_ooo", "rx_ooo_drop", "rx_data_bytes",
    "rx_syn_in_sync", "rx_sack_bogus", "rx_nobuf_drop", "rx_dupack",
    "tx", "tx_data_bytes", "tx_retrans", "tx_retrans_bytes", "tx_fast_retrans", "tx_rto",
    "tx_rst", "tx_ack", "tx_nobuf", "tx_zwp", "tx_keepalive", "tx_syn_retrans",
    "conn_active", "conn_passive", "conn_reset", "conn_timeout", "conn_timewait_reuse",
    "conn_keepalive_drop", "challenge_ack_limited", "rx_paws_drop", "rx_after_close", "tx_rtx_lost",
    "conn_timewait_recycle", "rx_copy_scarce", "rcvbuf_grow", "tx_pmtu_shrink", "rx_forwarded", "rx_syn_early",
    "tx_tso", "tx_tso_segs"};
_Static_assert(sizeof(struct eth_stats) / 8 == DM_ARRAY_SIZE(eth_names), "eth names");
_Static_assert(sizeof(struct arp_stats) / 8 == DM_ARRAY_SIZE(arp_names), "arp names");
_Static_assert(sizeof(struct ip_stats) / 8 == DM_ARRAY_SIZE(ip_names), "ip names");
_Static_assert(sizeof(struct icmp_stats) / 8 == DM_ARRAY_SIZE(icmp_names), "icmp names");
_Static_assert(sizeof(struct ip6_stats) / 8 == DM_ARRAY_SIZE(ip6_names), "ip6 names");
_Static_assert(sizeof(struct icmp6_stats) / 8 == DM_ARRAY_SIZE(icmp6_names), "icmp6 names");
_Static_assert(sizeof(struct arp_stats) / 8 == DM_ARRAY_SIZE(nd_names), "nd names");
_Static_assert(sizeof(struct udp_stats) / 8 == DM_ARRAY_SIZE(udp_names), "udp names");
_Static_assert(sizeof(struct tcp_stats) / 8 == DM_ARRAY_SIZE(tcp_names), "tcp names");

/* ------------------------------------------------------------ buffers */
struct dm_buf *inet_buf_pull(struct dm_buf *m, uint32_t n)
{
    while (m) {
        if (n < m->len || (n == m->len && !m->next)) {
            m->data += n;
            m->len -= n;
            m->pkt_len -= n;
            if (m->len == 0 && !m->next) {
                dm_buf_free(m);
                return NULL;
            }
            if (m->len)
                return m;
            n = 0;
        }
        /* the head segment is used up: the next one becomes the head */
        struct dm_buf *next = m->next;
        if (!next) { /* asked for more than the chain holds */
            dm_buf_free(m);
            return NULL;
        }
        n -= m->len;
        next->pkt_len = m->pkt_len - m->len;
        next->nb_segs = (uint16_t)(m->nb_segs - 1);
        m->next = NULL;
        dm_buf_free_seg(m);
        m = next;
        if (n == 0 && m->len)
            return m;
    }
    return m;
}

void inet_buf_trim(struct dm_buf *m, uint32_t len)
{
    uint32_t acc = 0;
    uint16_t nsegs = 0;
    for (struct dm_buf *s = m; s; s = s->next) {
        nsegs++;
        if (acc + s->len >= len) {
            s->len = len - acc;
            struct dm_buf *rest = s->next;
            s->next = NULL;
            while (rest) {
                struct dm_buf *n = rest->next;
                rest->next = NULL;
                dm_buf_free_seg(rest);
                rest = n;
            }
            break;
        }
        acc += s->len;
    }
    m->pkt_len = len;
    m->nb_segs = nsegs;
}

struct dm_buf *inet_alloc_tx(struct inet_stack *st, uint32_t copy_len)
{
    struct dm_buf *m = dm_buf_alloc(st->inst);
    if (dm_likely(m && dm_buf_tailroom(m) >= copy_len && dm_buf_headroom(m) >= DM_BUF_HEADROOM))
        return m;
    if (m)
        dm_buf_free(m);
    m = dm_buf_alloc_size(st->inst, (size_t)copy_len + DM_BUF_HEADROOM);
    if (!m)
        return NULL;
    if (dm_buf_headroom(m) < DM_BUF_HEADROOM) {
        m->data = m->base + DM_BUF_HEADROOM;
        m->len = 0;
        m->pkt_len = 0;
    }
    if (dm_buf_tailroom(m) < copy_len) {
        dm_buf_free(m);
        return NULL;
    }
    return m;
}

static void copy_payload(uint8_t *dst, struct dm_buf *seg, uint32_t off, uint32_t len)
{
    while (len && seg) {
        uint32_t n = DM_MIN(seg->len - off, len);
        memcpy(dst, seg->data + off, n);
        dst += n;
        len -= n;
        off = 0;
        seg = seg->next;
    }
}

/* Payloads up to this size are copied behind the headers even where the
 * device takes chains: a 64 B copy costs less than a slice (a header
 * taken, a reference, a free at completion) and a second segment for the
 * device to walk, as Linux copies small sends into an skb's linear part. */
#define INET_TX_COPY_MAX 256u

int inet_attach_payload(struct inet_stack *st, struct dm_buf *hdr, struct dm_buf *seg, uint32_t off, uint32_t len)
{
    if (!st->tx_multiseg || (len <= INET_TX_COPY_MAX && dm_buf_tailroom(hdr) >= len)) {
        uint8_t *d = dm_buf_append(hdr, len);
        if (!d)
            return -ENOBUFS;
        copy_payload(d, seg, off, len);
        return 0;
    }
    /* How many segments would it take? Beyond the device's limit, copy. */
    unsigned need = 0;
    uint32_t o = off, l = len;
    for (struct dm_buf *s = seg; s && l; s = s->next, o = 0) {
        l -= DM_MIN(s->len - o, l);
        need++;
    }
    if (need + 1u > st->info.max_segs) {
        struct dm_buf *c = dm_buf_alloc_size(st->inst, len);
        if (!c)
            return -ENOBUFS;
        uint8_t *d = dm_buf_append(c, len);
        if (!d) {
            dm_buf_free(c);
            return -ENOBUFS;
        }
        copy_payload(d, seg, off, len);
        dm_buf_chain(hdr, c);
        return 0;
    }
    while (len && seg) {
        uint32_t n = DM_MIN(seg->len - off, len);
        struct dm_buf *s = dm_buf_slice(st->inst, seg, off, n);
        if (!s)
            return -ENOBUFS;
        dm_buf_chain(hdr, s);
        len -= n;
        off = 0;
        seg = seg->next;
    }
    return len ? -EINVAL : 0;
}

/* ------------------------------------------------------------ TX batch */
void inet_tx_flush(struct inet_stack *st)
{
    if (!st->ntx)
        return;
    uint16_t n = st->dev->tx_burst(st->dev, st->tx, st->ntx);
    if (n < st->ntx)
        memmove(&st->tx[0], &st->tx[n], (size_t)(st->ntx - n) * sizeof(st->tx[0]));
    st->ntx = (uint16_t)(st->ntx - n);
}

bool inet_tx_room(struct inet_stack *st)
{
    if (dm_likely(st->ntx < INET_TX_BATCH))
        return true;
    inet_tx_flush(st);
    return st->ntx < INET_TX_BATCH;
}

void inet_tx_enqueue(struct inet_stack *st, struct dm_buf *frame)
{
    if (dm_unlikely(st->ntx == INET_TX_BATCH)) {
        inet_tx_flush(st);
        if (st->ntx == INET_TX_BATCH) {
            /* Device ring full: drop (TCP retransmits), never block. */
            st->eth_st.tx_drop_full++;
            dm_buf_free(frame);
            return;
        }
    }
    st->tx[st->ntx++] = frame;
}

static void flush_task(struct dm_task *t)
{
    struct inet_stack *st = t->arg;
    tcp_output_pending(st);
    inet_tx_flush(st);
}

void inet_schedule_flush(struct inet_stack *st)
{
    dm_task_schedule(st->inst, &st->flush_task);
}

int inet_input_frame(struct inet_stack *st, struct dm_buf *m)
{
    st->rx.m = m;
    eth_input(st, m);
    st->rx.m = NULL;
    return 0;
}

static int inet_poll(void *sp, int64_t block_ns)
{
    struct inet_stack *st = sp;
    (void)block_ns;
    struct dm_buf *pkts[INET_RX_BURST];
    if (dm_unlikely(!dm_list_empty(&st->tcp_ack_list)))
        tcp_acks_due(st);
    uint16_t n = st->dev->rx_burst(st->dev, pkts, INET_RX_BURST);
    for (uint16_t i = 0; i < n; i++) {
        if (i + 1 < n)
            dm_prefetch(pkts[i + 1]->data);
        inet_input_frame(st, pkts[i]);
    }
    tcp_output_pending(st);
    inet_tx_flush(st);
    return n;
}

/* ------------------------------------------------------------ config */
static int parse_ip(const char *s, uint32_t *out)
{
    struct in_addr a;
    if (inet_pton(AF_INET, s, &a) != 1)
        return -EINVAL;
    *out = a.s_addr;
    return 0;
}

/* An address of either family (IPv4 v4-mapped). */
static int parse_addr(const char *s, struct inet_addr *out)
{
    uint32_t v4;
    if (parse_ip(s, &v4) == 0) {
        *out = inet_addr_v4(v4);
        return 0;
    }
    struct in6_addr a6;
    if (inet_pton(AF_INET6, s, &a6) != 1)
        return -EINVAL;
    memcpy(out->b, &a6, 16);
    return 0;
}

/* Our own formats (addresses, MAC, ARP entries) are reported in the
 * table's one format; what is accepted is said here. */
static int bad(enum dm_cfg_id id, const char *val, const char *what)
{
    if (!val) {
        DM_ERR("inet", "%s is not set: it is required here (%s)", dm_cfg_vars[id].name, what);
        return -EINVAL;
    }
    return dm_cfg_bad(id, val, what);
}

/* Integer variables, each stored scaled (a duration in ns, ...). */
static int cfg_num(const struct dm_config *cfg, enum dm_cfg_id id, int64_t scale, int64_t *out)
{
    int64_t x;
    int rc = dm_cfg_int(cfg, id, &x);
    if (rc < 0)
        return rc;
    *out = x * scale;
    return 0;
}

/* DEMI_IPV6=addr[/len] and DEMI_GATEWAY6 (the link-local address comes
 * from the MAC, later). */
static int parse_ipv6(struct inet_stack *st, const struct dm_config *cfg)
{
    static const char fmt[] = "an IPv6 unicast address, not link-local, with an optional /LEN, LEN 1..128";
    const char *v = dm_cfg_str(cfg, DM_CFG_IPV6);
    if (v && *v) {
        char buf[96];
        snprintf(buf, sizeof(buf), "%s", v);
        char *slash = strchr(buf, '/');
        long prefix = 64;
        if (slash) {
            *slash = 0;
            char *end;
            prefix = strtol(slash + 1, &end, 10);
            if (*end || end == slash + 1 || prefix < 1 || prefix > 128)
                return bad(DM_CFG_IPV6, v, fmt);
        }
        if (parse_addr(buf, &st->ip6) < 0 || inet_addr_is_v4(&st->ip6) || inet_addr_is_zero(&st->ip6) ||
            inet_addr_is_mcast6(&st->ip6) || inet_addr_is_ll6(&st->ip6)) {
            memset(&st->ip6, 0, sizeof(st->ip6));
            return bad(DM_CFG_IPV6, v, fmt);
        }
        st->ip6_plen = (uint8_t)prefix;
    }
    v = dm_cfg_str(cfg, DM_CFG_GATEWAY6);
    if (v && *v) {
        /* link-local (as routers advertise themselves), or on our prefix */
        if (parse_addr(v, &st->gw6) < 0 || inet_addr_is_v4(&st->gw6) || inet_addr_is_zero(&st->gw6) ||
            inet_addr_is_mcast6(&st->gw6) ||
            !ipv6_on_link(st, &st->gw6)) {
            memset(&st->gw6, 0, sizeof(st->gw6));
            return bad(DM_CFG_GATEWAY6, v, "a link-local IPv6 address, or one inside DEMI_IPV6's prefix");
        }
    }
    return 0;
}

static int parse_config(struct inet_stack *st, const struct dm_config *cfg, const char *devname)
{
    const char *v = dm_cfg_str(cfg, DM_CFG_IPV4);
    if (!v && strcmp(devname, "loop") == 0)
        v = "10.0.0.1/24";
    static const char ipv4_fmt[] = "A.B.C.D[/LEN], LEN 1..32";
    if (!v)
        return bad(DM_CFG_IPV4, NULL, ipv4_fmt);
    char ipbuf[64];
    snprintf(ipbuf, sizeof(ipbuf), "%s", v);
    char *slash = strchr(ipbuf, '/');
    long prefix = 24;
    if (slash) {
        *slash = 0;
        char *end;
        prefix = strtol(slash + 1, &end, 10);
        if (*end || end == slash + 1 || prefix < 1 || prefix > 32)
            return bad(DM_CFG_IPV4, v, ipv4_fmt);
    }
    if (parse_ip(ipbuf, &st->ip) < 0 || st->ip == 0)
        return bad(DM_CFG_IPV4, v, ipv4_fmt);
    st->mask = htonl(prefix == 32 ? 0xffffffffu : ~(0xffffffffu >> prefix));
    v = dm_cfg_str(cfg, DM_CFG_GATEWAY);
    if (v && *v) {
        if (parse_ip(v, &st->gw) < 0 || ((st->gw ^ st->ip) & st->mask))
            return bad(DM_CFG_GATEWAY, v, "an IPv4 address on DEMI_IPV4's subnet");
    }
    int rc = parse_ipv6(st, cfg);
    if (rc < 0)
        return rc;
    int64_t x;
    rc = dm_cfg_int(cfg, DM_CFG_MTU, &x);
    if (rc < 0)
        return rc;
    if (rc == DM_CFG_AUTO)
        x = st->info.mtu ? st->info.mtu : 1500;
    st->mtu = (uint16_t)x;
    if (!inet_addr_is_zero(&st->ip6) && st->mtu < IP6_MIN_MTU) {
        /* RFC 8200 5: every link carrying IPv6 has an MTU of at least 1280 */
        char m[16];
        snprintf(m, sizeof(m), "%u", st->mtu);
        return dm_cfg_bad(DM_CFG_MTU, m, "at least 1280 with DEMI_IPV6 (RFC 8200)");
    }
    int64_t max_conns, sndbuf, rcvbuf, rcvbuf_max, syn_retries, retries;
    if ((rc = cfg_num(cfg, DM_CFG_TCP_MAX_CONNS, 1, &max_conns)) < 0 ||
        (rc = cfg_num(cfg, DM_CFG_TCP_SNDBUF, 1, &sndbuf)) < 0 ||
        (rc = cfg_num(cfg, DM_CFG_TCP_RCVBUF, 1, &rcvbuf)) < 0 ||
        (rc = cfg_num(cfg, DM_CFG_TCP_RCVBUF_MAX, 1, &rcvbuf_max)) < 0 ||
        (rc = cfg_num(cfg, DM_CFG_TCP_TIMEWAIT_MS, DM_NS_PER_MS, &st->timewait_ns)) < 0 ||
        (rc = cfg_num(cfg, DM_CFG_TCP_DELACK_MS, DM_NS_PER_MS, &st->delack_ns)) < 0 ||
        (rc = cfg_num(cfg, DM_CFG_TCP_RTO_MIN_MS, DM_NS_PER_MS, &st->rto_min_ns)) < 0 ||
        (rc = cfg_num(cfg, DM_CFG_TCP_RTO_INIT_MS, DM_NS_PER_MS, &st->rto_init_ns)) < 0 ||
        (rc = cfg_num(cfg, DM_CFG_TCP_SYN_RETRIES, 1, &syn_retries)) < 0 ||
        (rc = cfg_num(cfg, DM_CFG_TCP_RETRIES, 1, &retries)) < 0 ||
        (rc = cfg_num(cfg, DM_CFG_ARP_TTL_S, DM_NS_PER_S, &st->arp_ttl_ns)) < 0)
        return rc;
    st->max_conns = (uint32_t)max_conns;
    st->sndbuf_def = (uint32_t)sndbuf;
    st->rcvbuf_def = (uint32_t)rcvbuf;
    st->rcvbuf_max = (uint32_t)DM_MAX(rcvbuf_max, rcvbuf);
    st->syn_retries = (uint32_t)syn_retries;
    st->rtx_retries = (uint32_t)retries;
    st->rto_max_ns = TCP_RTO_MAX_NS;
    v = dm_cfg_str(cfg, DM_CFG_TCP_CC);
    st->cc = tcp_cc_find(v);
    if (!st->cc)
        return bad(DM_CFG_TCP_CC, v, "cubic or newreno");
    v = dm_cfg_str(cfg, DM_CFG_MAC);
    if (v && *v) {
        if (dm_mac_parse(v, st->mac) < 0 || (st->mac[0] & 1))
            return bad(DM_CFG_MAC, v, "a unicast MAC like 02:00:00:00:00:01");
    } else {
        memcpy(st->mac, st->info.mac, ETH_ALEN);
        static const uint8_t zero[ETH_ALEN];
        if (memcmp(st->mac, zero, ETH_ALEN) == 0) {
            st->mac[0] = 0x02;
            st->mac[1] = 0x00;
            memcpy(&st->mac[2], &st->ip, 4);
        }
    }
    return 0;
}

static int parse_static_arp(struct inet_stack *st, const struct dm_config *cfg)
{
    const char *v = dm_cfg_str(cfg, DM_CFG_ARP);
    if (!v || !*v)
        return 0;
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", v);
    char *save = NULL;
    for (char *e = strtok_r(buf, ";,", &save); e; e = strtok_r(NULL, ";,", &save)) {
        char *eq = strchr(e, '=');
        struct inet_addr ip;
        uint8_t mac[ETH_ALEN];
        if (!eq)
            return bad(DM_CFG_ARP, v, "ip=mac entries separated by ; or , (IPv4 or IPv6 addresses)");
        *eq = 0;
        if (parse_addr(e, &ip) < 0 || dm_mac_parse(eq + 1, mac) < 0)
            return bad(DM_CFG_ARP, v, "ip=mac entries separated by ; or , (IPv4 or IPv6 addresses)");
        arp_add_static(st, &ip, mac);
    }
    return 0;
}

/* ------------------------------------------------------------ create */
static void inet_destroy(void *sp);

static int inet_create_dev(struct dm_instance *inst, const struct dm_config *cfg, const char *devname, void **out)
{
    struct inet_stack *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    st->inst = inst;
    dm_task_init(&st->flush_task, flush_task, st);
    dm_list_init(&st->tcp_out_list);
    dm_list_init(&st->tcp_ack_list);
    int r = dm_dev_open_stacked(inst, devname, cfg, &st->dev);
    if (r < 0) {
        DM_ERR("inet", "cannot open device '%s': %d", devname, r);
        free(st);
        return r;
    }
    r = st->dev->ops->info(st->dev, &st->info);
    if (r < 0)
        goto fail;
    if (st->info.max_segs == 0)
        st->info.max_segs = 1;
    r = parse_config(st, cfg, devname);
    if (r < 0)
        goto fail;
    ipv6_init_addrs(st);
    if (st->mtu > st->info.mtu && st->info.mtu) {
        DM_ERR("inet", "DEMI_MTU %u is above the device MTU %u", st->mtu, st->info.mtu);
        r = -EINVAL;
        goto fail;
    }
    st->tx_multiseg = (st->info.caps & DM_DEV_CAP_TX_MULTISEG) && st->info.max_segs > 1;
    st->tx_ip_csum = st->info.caps & DM_DEV_CAP_TX_IPV4_CKSUM;
    st->tx_tcp_csum = st->info.caps & DM_DEV_CAP_TX_TCP_CKSUM;
    st->tx_udp_csum = st->info.caps & DM_DEV_CAP_TX_UDP_CKSUM;
    st->rx_csum = st->info.caps & DM_DEV_CAP_RX_CKSUM;
    st->tx_l4_csum6 = st->info.caps & DM_DEV_CAP_TX_L4_CKSUM6;
    int tso = 1;
    if ((r = dm_cfg_bool(cfg, DM_CFG_TSO, &tso)) < 0)
        goto fail;
    /* TSO frames are chains with their TCP checksum left to the device */
    if (tso && st->tx_multiseg && st->tx_tcp_csum && st->info.tso_max > 0) {
        st->tx_tso = (st->info.caps & DM_DEV_CAP_TX_TCP_TSO) && st->tx_ip_csum; /* each piece's IP header */
        st->tx_tso6 = (st->info.caps & DM_DEV_CAP_TX_TCP_TSO6) && st->tx_l4_csum6;
        /* the IP length field holds the whole frame */
        st->tso_max = DM_MIN((uint32_t)st->info.tso_max, 65535u - 60u - 60u);
    }
    st->chack_limit = 1000;
    r = tcp_init(st, cfg);
    if (r < 0)
        goto fail;
    r = ipfrag_init(st);
    if (r < 0)
        goto fail;
    st->ip6_frag_id = st->hash_seed;
    arp_init(st);
    mld_start(st);
    r = parse_static_arp(st, cfg);
    if (r < 0)
        goto fail;
    dm_stats_register(inst, "eth", eth_names, &st->eth_st.rx, DM_ARRAY_SIZE(eth_names));
    dm_stats_register(inst, "arp", arp_names, &st->arp_st.rx, DM_ARRAY_SIZE(arp_names));
    dm_stats_register(inst, "ip", ip_names, &st->ip_st.rx, DM_ARRAY_SIZE(ip_names));
    dm_stats_register(inst, "icmp", icmp_names, &st->icmp_st.rx, DM_ARRAY_SIZE(icmp_names));
    dm_stats_register(inst, "ip6", ip6_names, &st->ip6_st.rx, DM_ARRAY_SIZE(ip6_names));
    dm_stats_register(inst, "icmp6", icmp6_names, &st->icmp6_st.rx, DM_ARRAY_SIZE(icmp6_names));
    dm_stats_register(inst, "nd", nd_names, &st->nd_st.rx, DM_ARRAY_SIZE(nd_names));
    dm_stats_register(inst, "udp", udp_names, &st->udp_st.rx, DM_ARRAY_SIZE(udp_names));
    dm_stats_register(inst, "tcp", tcp_names, &st->tcp_st.rx, DM_ARRAY_SIZE(tcp_names));
    *out = st;
    return 0;
fail:
    inet_destroy(st);
    return r;
}

static void inet_destroy(void *sp)
{
    struct inet_stack *st = sp;
    if (!st)
        return;
    dm_task_cancel(&st->flush_task);
    if (st->inst) {
        dm_stats_unregister(st->inst, &st->eth_st.rx);
        dm_stats_unregister(st->inst, &st->arp_st.rx);
        dm_stats_unregister(st->inst, &st->ip_st.rx);
        dm_stats_unregister(st->inst, &st->icmp_st.rx);
        dm_stats_unregister(st->inst, &st->ip6_st.rx);
        dm_stats_unregister(st->inst, &st->icmp6_st.rx);
        dm_stats_unregister(st->inst, &st->nd_st.rx);
        dm_stats_unregister(st->inst, &st->udp_st.rx);
        dm_stats_unregister(st->inst, &st->tcp_st.rx);
    }
    if (st->arp_timer.fn)
        arp_fini(st);
    ipfrag_fini(st);
    tcp_fini(st);
    for (uint16_t i = 0; i < st->ntx; i++)
        dm_buf_free(st->tx[i]);
    st->ntx = 0;
    if (st->dev)
        dm_dev_close(st->dev);
    free(st);
}

/* Core hands us every backend named after an L2 device (dm_stack_ops.l2). */
static int inet_create(struct dm_instance *i, const struct dm_config *c, void **st)
{
    return inet_create_dev(i, c, dm_instance_backend(i), st);
}

/* ------------------------------------------------------------ socket ops */
static int inet_socket(void *sp, struct dm_queue *q, int domain, int type, int protocol)
{
    struct inet_stack *st = sp;
    if (domain != AF_INET && domain != AF_INET6)
        return -EAFNOSUPPORT;
    type &= ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (type == SOCK_STREAM) {
        if (protocol != 0 && protocol != IPPROTO_TCP)
            return -EPROTONOSUPPORT;
        return tcp_socket(st, q, domain == AF_INET6);
    }
    if (type == SOCK_DGRAM) {
        if (protocol != 0 && protocol != IPPROTO_UDP)
            return -EPROTONOSUPPORT;
        return udp_socket(st, q, domain == AF_INET6);
    }
    return -ESOCKTNOSUPPORT;
}

#define SOCK_KIND(q) (((struct inet_sock *)(q)->priv)->kind)
#define IS_TCP(q) ((q)->priv && SOCK_KIND(q) == INET_SOCK_TCP)

void inet_sockaddr_out(const struct inet_addr *a, uint16_t port, bool v6, union dm_sockaddr *out)
{
    memset(out, 0, sizeof(*out));
    if (v6) {
        out->sin6.sin6_family = AF_INET6;
        out->sin6.sin6_port = port;
        memcpy(&out->sin6.sin6_addr, a->b, 16);
    } else {
        out->sin.sin_family = AF_INET;
        out->sin.sin_port = port;
        out->sin.sin_addr.s_addr = a->w[3];
    }
}

/* The socket's family and IPV6_V6ONLY. */
static void sock_family(struct dm_queue *q, bool *v6, bool *v6only)
{
    if (IS_TCP(q)) {
        const struct tcp_pcb *p = q->priv;
        *v6 = p->flags & TF_V6;
        *v6only = p->flags & TF_V6ONLY;
    } else {
        const struct udp_sock *u = q->priv;
        *v6 = u->v6;
        *v6only = u->v6only;
    }
}

/*
 * The address of a bind/connect/pushto on q as an inet_addr, refused as
 * Linux does. On an AF_INET6 socket: an AF_INET address fails with v4_err
 * (0: taken, over IPv4 - UDP connect and sendto), with v4_v6only_err
 * under IPV6_V6ONLY; a v4-mapped one with mapped_err under IPV6_V6ONLY.
 */
static int sock_addr_in(struct dm_queue *q, const union dm_sockaddr *ua, int v4_err, int v4_v6only_err,
                        int mapped_err, struct inet_addr *out, uint16_t *port)
{
    bool v6, v6only;
    sock_family(q, &v6, &v6only);
    if (ua->sa.sa_family == AF_INET6) {
        if (!v6)
            return -EAFNOSUPPORT;
        memcpy(out->b, &ua->sin6.sin6_addr, 16);
        *port = ua->sin6.sin6_port;
        if (v6only && inet_addr_is_v4(out))
            return mapped_err;
        return 0;
    }
    if (ua->sa.sa_family != AF_INET)
        return -EAFNOSUPPORT;
    if (v6 && v4_err)
        return v4_err;
    if (v6 && v6only)
        return v4_v6only_err;
    *out = inet_addr_v4(ua->sin.sin_addr.s_addr);
    *port = ua->sin.sin_port;
    return 0;
}

static int inet_bind(void *sp, struct dm_queue *q, const union dm_sockaddr *ua)
{
    struct inet_addr a;
    uint16_t port;
    int r = sock_addr_in(q, ua, -EINVAL, -EINVAL, -EINVAL, &a, &port);
    if (r < 0)
        return r;
    if (IS_TCP(q))
        return tcp_bind(sp, q->priv, &a, port);
    return udp_bind(sp, q->priv, &a, port);
}

static int inet_listen(void *sp, struct dm_queue *q, int backlog)
{
    if (!IS_TCP(q))
        return -EOPNOTSUPP;
    return tcp_listen(sp, q->priv, backlog);
}

static int inet_accept(void *sp, struct dm_queue *q, struct dm_op *op)
{
    if (!IS_TCP(q))
        return -EOPNOTSUPP;
    return tcp_accept(sp, q->priv, op);
}

static int inet_connect(void *sp, struct dm_queue *q, struct dm_op *op)
{
    const union dm_sockaddr *ua = (const union dm_sockaddr *)&op->addr6;
    if (ua->sa.sa_family == AF_UNSPEC && !IS_TCP(q))
        return udp_connect(sp, q->priv, NULL, 0, op);
    struct inet_addr a;
    uint16_t port;
    /* TCP: as tcp_v6_connect; UDP: as ip6_datagram_connect */
    int r = sock_addr_in(q, ua, IS_TCP(q) ? -EINVAL : 0, -EAFNOSUPPORT, -ENETUNREACH, &a, &port);
    if (r < 0)
        return r;
    if (IS_TCP(q))
        return tcp_connect(sp, q->priv, &a, port, op);
    return udp_connect(sp, q->priv, &a, port, op);
}

static int inet_push(void *sp, struct dm_queue *q, struct dm_op *op)
{
    if (IS_TCP(q))
        return tcp_push(sp, q->priv, op);
    if (!op->has_addr)
        return udp_push(sp, q->priv, NULL, 0, op);
    struct inet_addr a;
    uint16_t port;
    /* as udpv6_sendmsg */
    int r = sock_addr_in(q, (const union dm_sockaddr *)&op->addr6, 0, -ENETUNREACH, -ENETUNREACH, &a, &port);
    if (r < 0)
        return r;
    return udp_push(sp, q->priv, &a, port, op);
}

static int inet_pop(void *sp, struct dm_queue *q, struct dm_op *op)
{
    if (IS_TCP(q))
        return tcp_pop(sp, q->priv, op);
    return udp_pop(sp, q->priv, op);
}

static int inet_shutdown(void *sp, struct dm_queue *q, int how)
{
    if (IS_TCP(q))
        return tcp_shutdown(sp, q->priv, how);
    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
        return -EINVAL;
    struct udp_sock *u = q->priv;
    return u->connected ? 0 : -ENOTCONN;
}

bool inet_forward_stray(struct inet_stack *st, struct dm_buf *m, uint32_t back, uint16_t sport, uint16_t dport)
{
    if (!dm_buf_prepend(m, back))
        return false;
    uint32_t h = st->rx.src.w[3] ^ st->rx.src.w[2] ^ st->rx.src.w[1] ^ st->rx.src.w[0];
    h = (h ^ ((uint32_t)sport << 16 | dport)) * 0x9e3779b1u;
    if (dm_dev_forward(st->dev, m, h >> 7))
        return true;
    dm_buf_adj(m, back);
    return false;
}

static bool inet_tx_busy(void *sp)
{
    return tcp_orphans_busy(sp);
}

/* New data sent and segments received; and time itself while a peer
 * that reads slowly keeps its window shut and answers our probes, whose
 * spacing grows past any fixed wait. Retransmissions to a silent peer do
 * not count: that one is gone. */
static uint64_t inet_tx_progress(void *sp)
{
    struct inet_stack *st = sp;
    uint64_t n = st->tcp_st.tx_data_bytes - st->tcp_st.tx_retrans_bytes + st->tcp_st.rx;
    if (tcp_peers_slow(st))
        n += (uint64_t)inet_now(st);
    return n;
}

static int inet_close(void *sp, struct dm_queue *q)
{
    int r;
    if (!q->priv)
        return 0;
    if (IS_TCP(q))
        r = tcp_close(sp, q->priv);
    else
        r = udp_close(sp, q->priv);
    q->priv = NULL;
    return r;
}

static int inet_setsockopt(void *sp, struct dm_queue *q, int level, int name, const void *val, socklen_t len)
{
    if (IS_TCP(q))
        return tcp_setsockopt(sp, q->priv, level, name, val, len);
    struct udp_sock *u = q->priv;
    if (level == IPPROTO_IPV6 && u->v6 && len >= (socklen_t)sizeof(int)) {
        int v;
        memcpy(&v, val, sizeof(v));
        if (name == IPV6_V6ONLY) {
            if (u->bound)
                return -EINVAL; /* as Linux: only before bind */
            u->v6only = v != 0;
            return 0;
        }
        if (name == IPV6_TCLASS || name == IPV6_UNICAST_HOPS)
            return 0;
    }
    if (level == SOL_SOCKET && len >= (socklen_t)sizeof(int)) {
        int v;
        memcpy(&v, val, sizeof(v));
        if (name == SO_RCVBUF) {
            u->rcvbuf = (uint32_t)DM_MAX(DM_MIN((int64_t)v * 2, 64 << 20), 2304);
            return 0;
        }
        if (name == SO_SNDBUF || name == SO_REUSEADDR || name == SO_REUSEPORT || name == SO_BROADCAST)
            return 0;
    }
    if (len < (socklen_t)sizeof(int))
        return -EINVAL;
    return -ENOPROTOOPT;
}

static int inet_getsockopt(void *sp, struct dm_queue *q, int level, int name, void *val, socklen_t *len)
{
    if (IS_TCP(q))
        return tcp_getsockopt(sp, q->priv, level, name, val, len);
    if (*len < (socklen_t)sizeof(int))
        return -EINVAL;
    struct udp_sock *u = q->priv;
    int v;
    if (level == SOL_SOCKET && name == SO_RCVBUF)
        v = (int)u->rcvbuf;
    else if (level == SOL_SOCKET && name == SO_TYPE)
        v = SOCK_DGRAM;
    else if (level == SOL_SOCKET && name == SO_ERROR)
        v = 0;
    else if (level == IPPROTO_IPV6 && name == IPV6_V6ONLY && u->v6)
        v = u->v6only;
    else
        return -ENOPROTOOPT;
    memcpy(val, &v, sizeof(v));
    *len = sizeof(v);
    return 0;
}

static int inet_getsockname(void *sp, struct dm_queue *q, union dm_sockaddr *ua)
{
    (void)sp;
    if (IS_TCP(q)) {
        struct tcp_pcb *p = q->priv;
        inet_sockaddr_out(&p->lip, p->lport, p->flags & TF_V6, ua);
    } else {
        struct udp_sock *u = q->priv;
        inet_sockaddr_out(&u->lip, u->lport, u->v6, ua);
    }
    return 0;
}

static int inet_getpeername(void *sp, struct dm_queue *q, union dm_sockaddr *ua)
{
    (void)sp;
    if (IS_TCP(q)) {
        struct tcp_pcb *p = q->priv;
        if (p->state < TCPS_SYN_SENT || p->state == TCPS_SYN_SENT)
            return -ENOTCONN;
        inet_sockaddr_out(&p->rip, p->rport, p->flags & TF_V6, ua);
        return 0;
    }
    struct udp_sock *u = q->priv;
    if (!u->connected)
        return -ENOTCONN;
    inet_sockaddr_out(&u->rip, u->rport, u->v6, ua);
    return 0;
}

static int inet_wait_fd(void *sp)
{
    struct inet_stack *st = sp;
    if (st->dev->ops->wait_fd && (st->info.caps & DM_DEV_CAP_CAN_SLEEP))
        return st->dev->ops->wait_fd(st->dev);
    return -1;
}

/* Before the caller sleeps on the device's wait fd: the device asks its
 * peer for a signal (memif), or says frames are waiting. */
static int inet_wait_arm(void *sp)
{
    struct inet_stack *st = sp;
    if (!(st->info.caps & DM_DEV_CAP_CAN_SLEEP))
        return 0;
    return dm_dev_wait_arm(st->dev);
}

static const struct dm_stack_ops inet_ops = {
    .name = "inet",
    .create = inet_create,
    .destroy = inet_destroy,
    .socket = inet_socket,
    .bind = inet_bind,
    .listen = inet_listen,
    .accept = inet_accept,
    .connect = inet_connect,
    .push = inet_push,
    .pop = inet_pop,
    .shutdown = inet_shutdown,
    .close = inet_close,
    .setsockopt = inet_setsockopt,
    .getsockopt = inet_getsockopt,
    .getsockname = inet_getsockname,
    .getpeername = inet_getpeername,
    .poll = inet_poll,
    .poll_returns_at_once = true,
    .wait_fd = inet_wait_fd,
    .wait_arm = inet_wait_arm,
    .tx_busy = inet_tx_busy,
    .tx_progress = inet_tx_progress,
    .needs_polling = true,
    .own_addresses = true,
    .inet6 = true,
    .l2 = true,
};
DM_STACK_REGISTER(inet_ops)
