/* SPDX-License-Identifier: MIT */
/*
 * stacks/inet benchmarks on the loop device (two instances, one process,
 * one thread). Every metric prints median / p99 / p99.9 over its samples;
 * nothing is asserted.
 *
 *  rx:    a burst of 32 TCP segments (64 B, TCP_NODELAY) waits in b's ring
 *         with 32 pops pending; one dm_poll(b) receives, checks, queues and
 *         completes them: ns per packet = time of that poll / 32 (includes
 *         the ACK b sends for the burst).
 *  push:  32 pushes of 64 B on a, then the dm_poll(a) that segments,
 *         checksums and hands them to the device: ns per push.
 *  rtt:   64 B echo a -> b -> a, both polled by this thread.
 *  bulk:  one direction, MTU 1500 and 9000, Gbit/s of payload.
 * Usage: bench_inet [iterations (default 20000)] [bulk MiB (default 256; 0: no bulk)] [ipv6]
 * With "ipv6" every metric runs over IPv6 (fd00::1 <-> fd00::2) instead;
 * with ONLY=rtt in the environment, the echo alone (to profile it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include "dm/instance.h"
#include "dm/config.h"
#include "dm/stats.h"
#include "dm/time.h"
#include "demi/sga.h"
#include "inet_priv.h"

struct pair {
    struct dm_instance *a, *b;
};

static bool use_v6; /* connections over IPv6 */

static int cmp64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return a < b ? -1 : a > b;
}

static void report(const char *name, int64_t *v, size_t n, const char *unit, double div)
{
    qsort(v, n, sizeof(*v), cmp64);
    printf("%-34s median %9.1f  p99 %9.1f  p99.9 %9.1f %s  (n=%zu)\n", name, (double)v[n / 2] / div,
           (double)v[n * 99 / 100] / div, (double)v[n * 999 / 1000] / div, unit, n);
}

static void die(const char *what, int r)
{
    fprintf(stderr, "bench_inet: %s: %d\n", what, r);
    exit(1);
}

static void pair_up(struct pair *p, const char *mtu)
{
    static int seq;
    char link[64];
    snprintf(link, sizeof(link), "bench-%d-%d", (int)getpid(), seq++);
    struct dm_config c[2];
    const char *ip[2] = {"10.0.0.1/24", "10.0.0.2/24"};
    const char *mac[2] = {"02:00:00:00:00:01", "02:00:00:00:00:02"};
    const char *arp[2] = {"10.0.0.2=02:00:00:00:00:02;fd00::2=02:00:00:00:00:02",
                          "10.0.0.1=02:00:00:00:00:01;fd00::1=02:00:00:00:00:01"};
    const char *ip6[2] = {"fd00::1/64", "fd00::2/64"};
    for (int i = 0; i < 2; i++) {
        dm_config_init(&c[i]);
        dm_config_set(&c[i], "DEMI_BACKEND", "loop");
        dm_config_set(&c[i], "DEMI_LOOP_LINK", link);
        dm_config_set(&c[i], "DEMI_IPV4", ip[i]);
        dm_config_set(&c[i], "DEMI_IPV6", ip6[i]);
        dm_config_set(&c[i], "DEMI_MAC", mac[i]);
        dm_config_set(&c[i], "DEMI_ARP", arp[i]);
        dm_config_set(&c[i], "DEMI_MTU", mtu);
        dm_config_set(&c[i], "DEMI_TCP_SNDBUF", "4m");
        dm_config_set(&c[i], "DEMI_TCP_RCVBUF", "4m");
        if (strcmp(mtu, "9000") == 0)
            dm_config_set(&c[i], "DEMI_BUF_SIZE", "9216");
        /* the loop device's offload models, from the environment */
        static const char *const pass[] = {"DEMI_LOOP_CSUM_OFFLOAD", "DEMI_LOOP_TSO", "DEMI_TSO"};
        for (size_t k = 0; k < sizeof(pass) / sizeof(pass[0]); k++)
            if (getenv(pass[k]))
                dm_config_set(&c[i], pass[k], getenv(pass[k]));
    }
    int r;
    if ((r = dm_instance_create(&c[0], &p->a)) < 0 || (r = dm_instance_create(&c[1], &p->b)) < 0)
        die("instance", r);
}

static void poll2(struct pair *p)
{
    dm_poll(p->a, 0);
    dm_poll(p->b, 0);
}

/* The loop device hands buffers by reference: b's unacknowledged echo
 * still points into a's pool until a ACKs it, which pingpong mode delays
 * up to 10 ms. Poll until every ACK is out before destroying either. */
static void settle2(struct pair *p)
{
    int64_t end = dm_clock_ns() + 50 * 1000 * 1000;
    while (dm_clock_ns() < end)
        poll2(p);
}

static demi_qresult_t wait2(struct pair *p, struct dm_instance *inst, demi_qtoken_t qt)
{
    while (dm_token_state(inst, qt) != 1)
        poll2(p);
    demi_qresult_t qr;
    dm_wait(inst, &qr, qt, 0);
    return qr;
}

static void connect2(struct pair *p, int *c, int *s)
{
    int l, fam = use_v6 ? AF_INET6 : AF_INET;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(80)};
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(80)};
    inet_pton(AF_INET, "10.0.0.2", &a.sin_addr);
    inet_pton(AF_INET6, "fd00::2", &a6.sin6_addr);
    struct sockaddr *sa = use_v6 ? (struct sockaddr *)&a6 : (struct sockaddr *)&a;
    socklen_t salen = use_v6 ? sizeof(a6) : sizeof(a);
    dm_socket(p->b, &l, fam, SOCK_STREAM, 0);
    dm_bind(p->b, l, sa, salen);
    dm_listen(p->b, l, 16);
    demi_qtoken_t at, ct;
    dm_socket(p->a, c, fam, SOCK_STREAM, 0);
    dm_accept(p->b, &at, l);
    dm_connect(p->a, &ct, *c, sa, salen);
    wait2(p, p->a, ct);
    *s = wait2(p, p->b, at).qr_value.ares.qd;
    int one = 1;
    dm_setsockopt(p->a, *c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    dm_setsockopt(p->b, *s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void push64(struct dm_instance *inst, int qd)
{
    int err = 0;
    demi_sgarray_t sga = dm_sgaalloc(inst, 64, &err);
    if (err)
        die("sgaalloc", err);
    memset(sga.sga_segs[0].sgaseg_buf, 'b', 64);
    demi_qtoken_t qt;
    int r = dm_push(inst, &qt, qd, &sga);
    if (r)
        die("push", r);
    dm_sgafree(inst, &sga);
}

static void reap(struct dm_instance *inst)
{
    demi_qresult_t qrs[64];
    int n;
    while (dm_wait_next_n(inst, qrs, 64, &n, 0) == 0 && n > 0)
        for (int i = 0; i < n; i++)
            if (qrs[i].qr_opcode == DEMI_OPC_POP)
                dm_sgafree(inst, &qrs[i].qr_value.sga);
}

static void bench_rx_push_rtt(int iters)
{
    struct pair p;
    pair_up(&p, "1500");
    int c, s;
    connect2(&p, &c, &s);
    int64_t *rx = calloc((size_t)iters, sizeof(int64_t));
    int64_t *tx = calloc((size_t)iters, sizeof(int64_t));
    int64_t *api = calloc((size_t)iters, sizeof(int64_t));
    /* ONLY=rtt: the echo alone, for a profile of its round trip */
    int bursts = getenv("ONLY") && strcmp(getenv("ONLY"), "rtt") == 0 ? 0 : iters;
    for (int it = 0; it < bursts; it++) {
        /* push: each push and the poll that segments and transmits it */
        int64_t t0 = dm_clock_ns(), tapi = 0;
        for (int i = 0; i < 32; i++) {
            int64_t a0 = dm_clock_ns();
            push64(p.a, c);
            tapi += dm_clock_ns() - a0;
            dm_poll(p.a, 0);
        }
        int64_t t2 = dm_clock_ns();
        api[it] = tapi / 32;
        tx[it] = (t2 - t0) / 32;
        /* rx: 32 segments wait in b's ring, 32 pops wait in b */
        demi_qtoken_t qt;
        for (int i = 0; i < 32; i++)
            dm_pop(p.b, &qt, s);
        int64_t r0 = dm_stats_get(p.b, "eth.rx");
        int64_t t3 = dm_clock_ns();
        dm_poll(p.b, 0);
        int64_t t4 = dm_clock_ns();
        int64_t n = dm_stats_get(p.b, "eth.rx") - r0;
        if (n <= 0)
            die("rx burst empty", (int)n);
        rx[it] = (t4 - t3) / n;
        reap(p.b);
        dm_poll(p.b, 0);
        reap(p.b);
        dm_poll(p.a, 0); /* ACKs */
        reap(p.a);
    }
    if (bursts) {
        report("push: API call (dm_push)", api, (size_t)iters, "ns/push", 1);
        report("push: call + poll that sends it", tx, (size_t)iters, "ns/push", 1);
        report("rx: packet to completed pop", rx, (size_t)iters, "ns/pkt", 1);
    }
    /* echo RTT */

    int64_t *rtt = calloc((size_t)iters, sizeof(int64_t));
    for (int it = 0; it < iters; it++) {
        demi_qtoken_t pa, pb, qt;
        dm_pop(p.b, &pb, s);
        dm_pop(p.a, &pa, c);
        int64_t t0 = dm_clock_ns();
        push64(p.a, c);
        demi_qresult_t qr = wait2(&p, p.b, pb);
        dm_push(p.b, &qt, s, &qr.qr_value.sga);
        dm_sgafree(p.b, &qr.qr_value.sga);
        qr = wait2(&p, p.a, pa);
        rtt[it] = dm_clock_ns() - t0;
        dm_sgafree(p.a, &qr.qr_value.sga);
        reap(p.a);
        reap(p.b);
    }
    report("echo RTT 64 B (loop, one thread)", rtt, (size_t)iters, "ns", 1);
    free(rx);
    free(tx);
    free(api);
    free(rtt);
    settle2(&p);
    dm_instance_destroy(p.a);
    dm_instance_destroy(p.b);
}

static void bench_bulk(const char *mtu, uint64_t bytes, int runs)
{
    int64_t *gbps = calloc((size_t)runs, sizeof(int64_t));
    for (int r = 0; r < runs; r++) {
        struct pair p;
        pair_up(&p, mtu);
        int c, s;
        connect2(&p, &c, &s);
        uint32_t chunk = strcmp(mtu, "9000") == 0 ? 8948 : 1448 * 8;
        uint64_t sent = 0, rcvd = 0;
        int inflight = 0;
        demi_qtoken_t qt;
        for (int i = 0; i < 16; i++)
            dm_pop(p.b, &qt, s);
        int64_t t0 = dm_clock_ns();
        while (rcvd < bytes) {
            while (inflight < 64 && sent < bytes) {
                int err = 0;
                demi_sgarray_t sga = dm_sgaalloc(p.a, chunk, &err);
                if (err)
                    break;
                if (dm_push(p.a, &qt, c, &sga) != 0) {
                    dm_sgafree(p.a, &sga);
                    break;
                }
                dm_sgafree(p.a, &sga);
                sent += chunk;
                inflight++;
            }
            demi_qresult_t qrs[64];
            int n = 0;
            if (dm_wait_next_n(p.a, qrs, 64, &n, 0) == 0)
                for (int i = 0; i < n; i++)
                    if (qrs[i].qr_opcode == DEMI_OPC_PUSH)
                        inflight--;
            n = 0;
            if (dm_wait_next_n(p.b, qrs, 64, &n, 0) == 0)
                for (int i = 0; i < n; i++)
                    if (qrs[i].qr_opcode == DEMI_OPC_POP) {
                        for (uint32_t k = 0; k < qrs[i].qr_value.sga.sga_numsegs; k++)
                            rcvd += qrs[i].qr_value.sga.sga_segs[k].sgaseg_len;
                        dm_sgafree(p.b, &qrs[i].qr_value.sga);
                        dm_pop(p.b, &qt, s);
                    }
        }
        int64_t ns = dm_clock_ns() - t0;
        gbps[r] = (int64_t)((double)rcvd * 8 / (double)ns * 1000); /* Mbit/s */
        settle2(&p);
        dm_instance_destroy(p.a);
        dm_instance_destroy(p.b);
    }
    char name[64];
    snprintf(name, sizeof(name), "bulk one way, MTU %s", mtu);
    report(name, gbps, (size_t)runs, "Gbit/s", 1000.0);
    free(gbps);
}

int main(int argc, char **argv)
{
    int iters = argc > 1 ? atoi(argv[1]) : 20000;
    uint64_t mib = argc > 2 ? strtoull(argv[2], NULL, 10) : 256;
    use_v6 = argc > 3 && strcmp(argv[3], "ipv6") == 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("# bench_inet: stacks/inet over the loop device, one thread drives both instances, %s\n",
           use_v6 ? "IPv6" : "IPv4");
    bench_rx_push_rtt(iters);
    if (!mib)
        return 0;
    bench_bulk("1500", mib << 20, 5);
    bench_bulk("9000", mib << 20, 5);
    return 0;
}
