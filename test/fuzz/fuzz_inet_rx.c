/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the stacks/inet receive path, from Ethernet up.
 *
 * Each input is a sequence of records: u16 length (little endian), one
 * flags byte, then `length` bytes of Ethernet frame. For every input the
 * harness builds a fresh stack (loop device in self mode, small pools)
 * with a TCP listener on :80 that has one established connection (peer
 * 10.0.0.1:40000, data in flight both ways) and a UDP socket on :53, and
 * over IPv6 (fd00::2, peer fd00::1) an AF_INET6 listener on [::]:8080 and
 * a UDP socket on [::]:5353, then
 * feeds the frames to inet_input_frame() and lets timers and output run.
 * Flags help the fuzzer past the checks it cannot solve by mutation:
 *   bit 0  fix the IPv4 header checksum and the TCP/UDP/ICMP checksum
 *          (IPv6: the TCP/UDP/ICMPv6 checksum right after the header);
 *   bit 1  for TCP to the established connection, seq/ack are offsets
 *          from its rcv_nxt/snd_una.
 * Built with -Dfuzz=true under clang as a libFuzzer binary; otherwise (gcc
 * CI) as a program replaying the files or directories given as arguments.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include "dm/instance.h"
#include "dm/log.h"
#include "dm/stats.h"
#include "inet_priv.h"
#include "tcp_priv.h"
#include "csum.h"
#include "demi/sga.h"

#define PEER_IP   "10.0.0.1"
#define OUR_IP    "10.0.0.2"
#define PEER_PORT 40000

struct harness {
    struct dm_instance *inst;
    struct inet_stack *st;
    struct tcp_pcb *conn;
    uint32_t ip_us, ip_peer;
};

static void fix_checksums6(uint8_t *f, uint32_t len)
{
    if (len < 54)
        return;
    const struct ip6_hdr *ih = (const struct ip6_hdr *)(f + 14);
    uint32_t l4len = DM_MIN((uint32_t)ntohs(ih->plen), len - 54), coff;
    if (ih->nxt == IPPROTO_TCP_ && l4len >= 20)
        coff = 16;
    else if (ih->nxt == IPPROTO_UDP_ && l4len >= 8)
        coff = 6;
    else if (ih->nxt == IP6_NH_ICMP6 && l4len >= 4)
        coff = 2;
    else
        return;
    uint32_t s6[4], d6[4];
    memcpy(s6, ih->src, 16);
    memcpy(d6, ih->dst, 16);
    memset(f + 54 + coff, 0, 2);
    uint16_t c = inet_csum_fold(inet_csum_partial(f + 54, l4len, inet_csum_pseudo6(s6, d6, ih->nxt, l4len)));
    memcpy(f + 54 + coff, &c, 2);
}

static void fix_checksums(uint8_t *f, uint32_t len)
{
    if (len >= 14 && f[12] == 0x86 && f[13] == 0xdd) {
        fix_checksums6(f, len);
        return;
    }
    if (len < 34 || f[12] != 0x08 || f[13] != 0x00)
        return;
    struct ip_hdr *ih = (struct ip_hdr *)(f + 14);
    uint32_t hl = (ih->vhl & 15u) * 4u;
    if (hl < 20 || 14 + hl > len)
        return;
    ih->csum = 0;
    ih->csum = inet_csum_fold(inet_csum_partial(ih, hl, 0));
    uint32_t tot = ntohs(ih->len);
    if (tot < hl || 14 + tot > len)
        return;
    uint8_t *l4 = f + 14 + hl;
    uint32_t l4len = tot - hl;
    if (ih->proto == IPPROTO_TCP_ && l4len >= 20) {
        struct tcp_hdr *th = (struct tcp_hdr *)l4;
        th->csum = 0;
        th->csum = inet_csum_fold(inet_csum_partial(l4, l4len, inet_csum_pseudo(ih->src, ih->dst, 6, (uint16_t)l4len)));
    } else if (ih->proto == IPPROTO_UDP_ && l4len >= 8) {
        struct udp_hdr *uh = (struct udp_hdr *)l4;
        uh->csum = 0;
        uh->csum = inet_csum_fold(inet_csum_partial(l4, l4len, inet_csum_pseudo(ih->src, ih->dst, 17, (uint16_t)l4len)));
    } else if (ih->proto == IPPROTO_ICMP_ && l4len >= 8) {
        struct icmp_hdr *ic = (struct icmp_hdr *)l4;
        ic->csum = 0;
        ic->csum = inet_csum_fold(inet_csum_partial(l4, l4len, 0));
    }
}

static void relative_seq(struct harness *h, uint8_t *f, uint32_t len)
{
    if (!h->conn || h->conn->state == TCPS_CLOSED || len < 54 || f[12] != 0x08 || f[13] != 0x00)
        return;
    struct ip_hdr *ih = (struct ip_hdr *)(f + 14);
    uint32_t hl = (ih->vhl & 15u) * 4u;
    if (ih->proto != IPPROTO_TCP_ || hl < 20 || 14 + hl + 20 > len)
        return;
    struct tcp_hdr *th = (struct tcp_hdr *)(f + 14 + hl);
    th->seq = htonl(ntohl(th->seq) + h->conn->rcv_nxt);
    th->ack = htonl(ntohl(th->ack) + h->conn->snd_una);
}

static void settle(struct harness *h)
{
    for (int i = 0; i < 4; i++)
        dm_poll(h->inst, 0);
}

static void inject(struct harness *h, const uint8_t *frame, uint32_t len, uint8_t flags)
{
    struct dm_buf *m = dm_buf_alloc_size(h->inst, len ? len : 1);
    if (!m)
        return;
    uint8_t *d = dm_buf_append(m, len);
    if (!d) {
        dm_buf_free(m);
        return;
    }
    memcpy(d, frame, len);
    if (flags & 2)
        relative_seq(h, d, len);
    if (flags & 1)
        fix_checksums(d, len);
    inet_input_frame(h->st, m);
    tcp_output_pending(h->st);
    inet_tx_flush(h->st);
}

/* A TCP frame from the peer to us, checksums right. */
static void peer_tcp(struct harness *h, uint32_t seq, uint32_t ack, uint8_t flags, const uint8_t *opt,
                     unsigned optlen, const char *data)
{
    uint8_t f[256];
    uint32_t dlen = data ? (uint32_t)strlen(data) : 0;
    memset(f, 0, sizeof(f));
    struct eth_hdr *eh = (struct eth_hdr *)f;
    memcpy(eh->dst, h->st->mac, 6);
    memcpy(eh->src, "\x02\x00\x00\x00\x00\x09", 6);
    eh->type = htons(ETH_P_IPV4);
    struct ip_hdr *ih = (struct ip_hdr *)(f + 14);
    ih->vhl = 0x45;
    ih->len = htons((uint16_t)(40 + optlen + dlen));
    ih->ttl = 64;
    ih->proto = 6;
    ih->src = h->ip_peer;
    ih->dst = h->ip_us;
    struct tcp_hdr *th = (struct tcp_hdr *)(f + 34);
    th->sport = htons(PEER_PORT);
    th->dport = htons(80);
    th->seq = htonl(seq);
    th->ack = htonl(ack);
    th->off = (uint8_t)(((20 + optlen) / 4) << 4);
    th->flags = flags;
    th->wnd = htons(65535);
    memcpy(f + 54, opt, optlen);
    if (dlen)
        memcpy(f + 54 + optlen, data, dlen);
    inject(h, f, 54 + optlen + dlen, 1);
}

static int harness_up(struct harness *h)
{
    struct dm_config c;
    dm_config_init(&c);
    dm_config_set(&c, "DEMI_BACKEND", "loop");
    dm_config_set(&c, "DEMI_IPV4", OUR_IP "/24");
    dm_config_set(&c, "DEMI_MAC", "02:00:00:00:00:02");
    dm_config_set(&c, "DEMI_IPV6", "fd00::2/64");
    dm_config_set(&c, "DEMI_ARP", PEER_IP "=02:00:00:00:00:09;fd00::1=02:00:00:00:00:09");
    dm_config_set(&c, "DEMI_BUF_COUNT", "512");
    dm_config_set(&c, "DEMI_HDR_COUNT", "1024");
    dm_config_set(&c, "DEMI_MAX_QUEUES", "64");
    dm_config_set(&c, "DEMI_MAX_OPS", "256");
    dm_config_set(&c, "DEMI_TCP_MAX_CONNS", "32");
    dm_config_set(&c, "DEMI_TCP_RTO_MIN_MS", "1");
    dm_config_set(&c, "DEMI_TCP_RTO_INIT_MS", "1");
    dm_config_set(&c, "DEMI_TCP_TIMEWAIT_MS", "1");
    dm_config_set(&c, "DEMI_LOG", "error");
    memset(h, 0, sizeof(*h));
    int r = dm_instance_create(&c, &h->inst);
    if (r < 0) {
        fprintf(stderr, "fuzz_inet_rx: cannot create the instance: %d\n", r);
        abort(); /* a harness that silently does nothing would fuzz nothing */
    }
    h->st = dm_instance_stack(h->inst);
    inet_pton(AF_INET, OUR_IP, &h->ip_us);
    inet_pton(AF_INET, PEER_IP, &h->ip_peer);
    int lq, uq, cq;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(80), .sin_addr.s_addr = h->ip_us};
    dm_socket(h->inst, &lq, AF_INET, SOCK_STREAM, 0);
    dm_bind(h->inst, lq, (struct sockaddr *)&a, sizeof(a));
    dm_listen(h->inst, lq, 4);
    demi_qtoken_t qt;
    dm_accept(h->inst, &qt, lq);
    dm_accept(h->inst, &qt, lq);
    a.sin_port = htons(53);
    dm_socket(h->inst, &uq, AF_INET, SOCK_DGRAM, 0);
    dm_bind(h->inst, uq, (struct sockaddr *)&a, sizeof(a));
    dm_pop(h->inst, &qt, uq);
    /* IPv6: a dual-stack listener and a UDP socket */
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(8080)};
    dm_socket(h->inst, &lq, AF_INET6, SOCK_STREAM, 0);
    dm_bind(h->inst, lq, (struct sockaddr *)&a6, sizeof(a6));
    dm_listen(h->inst, lq, 4);
    dm_accept(h->inst, &qt, lq);
    a6.sin6_port = htons(5353);
    dm_socket(h->inst, &uq, AF_INET6, SOCK_DGRAM, 0);
    dm_bind(h->inst, uq, (struct sockaddr *)&a6, sizeof(a6));
    dm_pop(h->inst, &qt, uq);
    /* The established connection: handshake with all options. */
    static const uint8_t synopt[] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7};
    peer_tcp(h, 1000, 0, TCP_SYN, synopt, sizeof(synopt), NULL);
    {
        struct inet_addr us = inet_addr_v4(h->ip_us), peer = inet_addr_v4(h->ip_peer);
        h->conn = tcp_lookup(h->st, &us, htons(80), &peer, htons(PEER_PORT));
    }
    if (!h->conn)
        return 0;
    static const uint8_t tsopt[] = {1, 1, 8, 10, 0, 0, 0, 2, 0, 0, 0, 0};
    peer_tcp(h, 1001, h->conn->iss + 1, TCP_ACK, tsopt, sizeof(tsopt), "hello");
    settle(h);
    if (h->conn->q) {
        cq = h->conn->q->qd;
        dm_pop(h->inst, &qt, cq);
        int err = 0;
        demi_sgarray_t sga = dm_sgaalloc(h->inst, 3000, &err);
        if (!err) {
            memset(sga.sga_segs[0].sgaseg_buf, 'x', 3000);
            dm_push(h->inst, &qt, cq, &sga);
            dm_sgafree(h->inst, &sga);
        }
    }
    settle(h);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct harness h;
    if (harness_up(&h) < 0)
        return 0;
    while (size >= 3) {
        uint32_t len = (uint32_t)data[0] | (uint32_t)data[1] << 8;
        uint8_t flags = data[2];
        data += 3;
        size -= 3;
        if (len > size)
            len = (uint32_t)size;
        if (len > 9018)
            len = 9018;
        inject(&h, data, len, flags);
        data += len;
        size -= len;
    }
    settle(&h);
    if (getenv("FUZZ_STATS")) /* to check what an input reaches */
        dm_stats_dump(h.inst, stderr, 0);
    dm_instance_destroy(h.inst);
    return 0;
}

#ifndef DM_FUZZING
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    return 0;
}

int main(int argc, char **argv)
{
    int files = 0;
    for (int i = 1; i < argc; i++) {
        struct stat sb;
        if (stat(argv[i], &sb) < 0) {
            fprintf(stderr, "%s: not found\n", argv[i]);
            return 1;
        }
        if (S_ISDIR(sb.st_mode)) {
            DIR *d = opendir(argv[i]);
            struct dirent *e;
            while (d && (e = readdir(d))) {
                if (e->d_name[0] == '.')
                    continue;
                char p[4096];
                snprintf(p, sizeof(p), "%s/%s", argv[i], e->d_name);
                if (replay_file(p) == 0)
                    files++;
            }
            if (d)
                closedir(d);
        } else if (replay_file(argv[i]) == 0) {
            files++;
        }
    }
    printf("replayed %d inputs\n", files);
    return files ? 0 : 1;
}
#endif
