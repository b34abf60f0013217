/* SPDX-License-Identifier: MIT */
/*
 * The rdma backend end to end, over the in-process EMULATED verbs provider
 * (this machine has no RDMA device): two instances in one process, a
 * "server" and a "client", joined through the emulated fabric, driven by
 * the dm_* API. Each wait pumps both instances.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <cmocka.h>
#include "dm/instance.h"
#include "dm/stats.h"
#include "dm/time.h"
#include "rdma_glue.h"

static struct dm_instance *srv, *cli;
static uint16_t next_port = 7000;

static const char *sq_depth_override;

static struct dm_instance *make_with(const char *rq_depth, const char *bufs, const char *linger_ms)
{
    struct dm_config cfg;
    dm_config_init(&cfg);
    if (sq_depth_override)
        dm_config_set(&cfg, "DEMI_RDMA_SQ_DEPTH", sq_depth_override);
    dm_config_set(&cfg, "DEMI_BACKEND", "rdma");
    dm_config_set(&cfg, "DEMI_RDMA_PROVIDER", "emu");
    dm_config_set(&cfg, "DEMI_BUF_COUNT", bufs ? bufs : "16384");
    /* both ends run in this one thread: a wait's spin could only wait for
     * itself (and test_idle_wait_sleeps_not_spins counts polls) */
    dm_config_set(&cfg, "DEMI_SPIN_US", "0");
    if (rq_depth)
        dm_config_set(&cfg, "DEMI_RDMA_RQ_DEPTH", rq_depth);
    if (linger_ms)
        dm_config_set(&cfg, "DEMI_RDMA_LINGER_MS", linger_ms);
    struct dm_instance *in = NULL;
    assert_int_equal(dm_instance_create(&cfg, &in), 0);
    return in;
}

static struct dm_instance *make(const char *rq_depth) { return make_with(rq_depth, NULL, NULL); }

static int setup(void **s)
{
    (void)s;
    srv = make(NULL);
    cli = make(NULL);
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    dm_instance_destroy(cli);
    dm_instance_destroy(srv);
    cli = srv = NULL;
    /* Every id, QP, CQ, MR, PD and channel went back. */
    assert_int_equal(rdma_emu_live_objects(), 0);
    return 0;
}

static void pump(void)
{
    assert_true(dm_poll(srv, 0) >= 0);
    assert_true(dm_poll(cli, 0) >= 0);
}

static demi_qresult_t wait_on(struct dm_instance *in, demi_qtoken_t qt)
{
    demi_qresult_t qr;
    int64_t deadline = dm_clock_ns() + 10 * DM_NS_PER_S;
    for (;;) {
        int rc = dm_wait(in, &qr, qt, 0);
        if (rc == 0)
            return qr;
        assert_int_equal(rc, -ETIMEDOUT);
        pump();
        assert_true(dm_clock_ns() < deadline);
    }
}

static struct sockaddr_in addr(const char *ip, uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static int listener(uint16_t port)
{
    int qd;
    struct sockaddr_in a = addr("10.9.0.1", port);
    assert_int_equal(dm_socket(srv, &qd, AF_INET, SOCK_STREAM, 0), 0);
    assert_int_equal(dm_bind(srv, qd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(dm_listen(srv, qd, 256), 0);
    return qd;
}

static void connect_pair(int lqd, uint16_t port, int *c, int *s)
{
    demi_qtoken_t at, ct;
    struct sockaddr_in a = addr("10.9.0.1", port);
    assert_int_equal(dm_socket(cli, c, AF_INET, SOCK_STREAM, 0), 0);
    assert_int_equal(dm_accept(srv, &at, lqd), 0);
    assert_int_equal(dm_connect(cli, &ct, *c, (struct sockaddr *)&a, sizeof(a)), 0);
    demi_qresult_t qr = wait_on(cli, ct);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_CONNECT);
    qr = wait_on(srv, at);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_ACCEPT);
    *s = qr.qr_value.ares.qd;
}

static demi_qtoken_t push_bytes(struct dm_instance *in, int qd, const uint8_t *p, size_t n)
{
    int err;
    demi_sgarray_t sga = dm_sgaalloc(in, n, &err);
    assert_int_equal(err, 0);
    memcpy(sga.sga_segs[0].sgaseg_buf, p, n);
    demi_qtoken_t qt;
    assert_int_equal(dm_push(in, &qt, qd, &sga), 0);
    assert_int_equal(dm_sgafree(in, &sga), 0);
    return qt;
}

/* Pops until n bytes (or EOF); returns the bytes. */
static size_t pop_exact(struct dm_instance *in, int qd, uint8_t *out, size_t n)
{
    size_t got = 0;
    while (got < n) {
        demi_qtoken_t qt;
        assert_int_equal(dm_pop(in, &qt, qd), 0);
        demi_qresult_t qr = wait_on(in, qt);
        assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
        demi_sgarray_t *sga = &qr.qr_value.sga;
        if (sga->sga_numsegs == 0)
            break;
        for (uint32_t i = 0; i < sga->sga_numsegs; i++) {
            assert_true(got + sga->sga_segs[i].sgaseg_len <= n);
            memcpy(out + got, sga->sga_segs[i].sgaseg_buf, sga->sga_segs[i].sgaseg_len);
            got += sga->sga_segs[i].sgaseg_len;
        }
        assert_int_equal(dm_sgafree(in, sga), 0);
    }
    return got;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

static void test_connect_accept_and_names(void **s)
{
    (void)s;
    uint16_t port = next_port++;
    int l = listener(port), c, sv;
    connect_pair(l, port, &c, &sv);
    struct sockaddr_in a, b;
    socklen_t la = sizeof(a), lb = sizeof(b);
    assert_int_equal(dm_getpeername(cli, c, (struct sockaddr *)&a, &la), 0);
    assert_int_equal(ntohs(a.sin_port), port);
    assert_int_equal(dm_getsockname(cli, c, (struct sockaddr *)&b, &lb), 0);
    struct sockaddr_in p;
    socklen_t lp = sizeof(p);
    assert_int_equal(dm_getpeername(srv, sv, (struct sockaddr *)&p, &lp), 0);
    assert_int_equal(p.sin_port, b.sin_port);
    assert_int_equal(dm_getpeername(srv, l, (struct sockaddr *)&p, &lp), -ENOTCONN);
    assert_int_equal(dm_stats_get(cli, "rdma.connects"), 1);
    assert_int_equal(dm_stats_get(srv, "rdma.accepts"), 1);
    dm_close(cli, c);
    dm_close(srv, sv);
    dm_close(srv, l);
}

static void test_echo_1b_to_1mib_byte_exact(void **s)
{
    (void)s;
    uint16_t port = next_port++;
    int l = listener(port), c, sv;
    connect_pair(l, port, &c, &sv);
    static const size_t sizes[] = {1, 63, 64, 65, 100, 2047, 2048, 2049, 65536, 1 << 20};
    uint8_t *tx = malloc(1 << 20), *rx = malloc(1 << 20);
    for (unsigned k = 0; k < DM_ARRAY_SIZE(sizes); k++) {
        size_t n = sizes[k];
        fill(tx, n, k + 7);
        demi_qtoken_t p1 = push_bytes(cli, c, tx, n);
        assert_int_equal(pop_exact(srv, sv, rx, n), n);
        assert_memory_equal(rx, tx, n);
        assert_int_equal(wait_on(cli, p1).qr_opcode, DEMI_OPC_PUSH);
        demi_qtoken_t p2 = push_bytes(srv, sv, rx, n);
        memset(rx, 0, n);
        assert_int_equal(pop_exact(cli, c, rx, n), n);
        assert_memory_equal(rx, tx, n);
        assert_int_equal(wait_on(srv, p2).qr_opcode, DEMI_OPC_PUSH);
    }
    /* Small pushes went inline, pool buffers in place, heap ones bounced. */
    assert_true(dm_stats_get(cli, "rdma.tx_inline") > 0);
    assert_true(dm_stats_get(cli, "rdma.tx_zero_copy") > 0);
    assert_true(dm_stats_get(cli, "rdma.tx_bounce") > 0);
    free(tx);
    free(rx);
    dm_close(cli, c);
    dm_close(srv, sv);
    dm_close(srv, l);
}

/* 64 MiB one way through a receive ring of 4 buffers: the sender must wait
 * for credits again and again, and never overrun the receiver (no RNR). */
static void test_bulk_64mib_small_ring_waits_for_credits_never_rnr(void **s)
{
    (void)s;
    dm_instance_destroy(cli);
    dm_instance_destroy(srv);
    srv = make("4");
    cli = make("4");
    uint64_t rnr0 = rdma_emu_counters()->rnr_naks;
    uint16_t port = next_port++;
    int l = listener(port), c, sv;
    connect_pair(l, port, &c, &sv);
    enum { PER = 2048, TOTAL = 64 << 20, WINDOW = 64 };
    /* Pool-sized pushes (sent in place, zero copy), WINDOW of them in flight. */
    demi_qtoken_t ring[WINDOW];
    int head = 0, n = 0;
    size_t sent = 0, recvd = 0;
    while (recvd < TOTAL) {
        while (sent < TOTAL && n < WINDOW) {
            int err;
            demi_sgarray_t sga = dm_sgaalloc(cli, PER, &err);
            assert_int_equal(err, 0);
            uint8_t *p = sga.sga_segs[0].sgaseg_buf;
            for (size_t j = 0; j < PER; j++)
                p[j] = (uint8_t)((sent + j) * 131u >> 3);
            assert_int_equal(dm_push(cli, &ring[(head + n) % WINDOW], c, &sga), 0);
            assert_int_equal(dm_sgafree(cli, &sga), 0);
            n++;
            sent += PER;
        }
        demi_qtoken_t qt;
        assert_int_equal(dm_pop(srv, &qt, sv), 0);
        demi_qresult_t qr = wait_on(srv, qt);
        assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
        assert_true(qr.qr_value.sga.sga_numsegs > 0);
        for (uint32_t i = 0; i < qr.qr_value.sga.sga_numsegs; i++) {
            const uint8_t *p = qr.qr_value.sga.sga_segs[i].sgaseg_buf;
            for (uint32_t j = 0; j < qr.qr_value.sga.sga_segs[i].sgaseg_len; j++, recvd++)
                if (p[j] != (uint8_t)(recvd * 131u >> 3))
                    fail_msg("byte %zu differs", recvd);
        }
        dm_sgafree(srv, &qr.qr_value.sga);
        while (n && dm_token_state(cli, ring[head]) == 1) {
            assert_int_equal(wait_on(cli, ring[head]).qr_opcode, DEMI_OPC_PUSH);
            head = (head + 1) % WINDOW;
            n--;
        }
    }
    assert_int_equal(recvd, TOTAL);
    while (n) {
        wait_on(cli, ring[head]);
        head = (head + 1) % WINDOW;
        n--;
    }
    printf("# 64 MiB: credit stalls %lld, CREDIT messages %lld, grants %lld, RNR NAKs %llu\n",
           (long long)dm_stats_get(cli, "rdma.credit_stalls"), (long long)dm_stats_get(srv, "rdma.credit_tx"),
           (long long)dm_stats_get(cli, "rdma.credit_rx_grants"),
           (unsigned long long)(rdma_emu_counters()->rnr_naks - rnr0));
    assert_true(dm_stats_get(cli, "rdma.credit_stalls") > 100);
    assert_true(dm_stats_get(srv, "rdma.credit_tx") > 100);
    assert_int_equal(dm_stats_get(cli, "rdma.rnr_errors"), 0);
    assert_int_equal(rdma_emu_counters()->rnr_naks - rnr0, 0);
    dm_close(cli, c);
    dm_close(srv, sv);
    dm_close(srv, l);
}

/* Both directions at once through tiny rings: credits return on data. */
static void test_bidirectional_small_ring_no_deadlock(void **s)
{
    (void)s;
    dm_instance_destroy(cli);
    dm_instance_destroy(srv);
    srv = make("4");
    cli = make("4");
    uint16_t port = next_port++;
    int l = listener(port), c, sv;
    connect_pair(l, port, &c, &sv);
    enum { N = 4 << 20 };
    uint8_t *a = malloc(N), *b = malloc(N), *ra = malloc(N), *rb = malloc(N);
    fill(a, N, 3);
    fill(b, N, 4);
    demi_qtoken_t pa = push_bytes(cli, c, a, N), pb = push_bytes(srv, sv, b, N);
    size_t ga = 0, gb = 0;
    demi_qtoken_t oa = 0, ob = 0;
    int64_t deadline = dm_clock_ns() + 20 * DM_NS_PER_S;
    while (ga < N || gb < N) {
        if (!oa && gb < N)
            assert_int_equal(dm_pop(cli, &oa, c), 0);
        if (!ob && ga < N)
            assert_int_equal(dm_pop(srv, &ob, sv), 0);
        pump();
        demi_qresult_t qr;
        if (oa && dm_wait(cli, &qr, oa, 0) == 0) {
            for (uint32_t i = 0; i < qr.qr_value.sga.sga_numsegs; i++) {
                memcpy(rb + gb, qr.qr_value.sga.sga_segs[i].sgaseg_buf, qr.qr_value.sga.sga_segs[i].sgaseg_len);
                gb += qr.qr_value.sga.sga_segs[i].sgaseg_len;
            }
            dm_sgafree(cli, &qr.qr_value.sga);
            oa = 0;
        }
        if (ob && dm_wait(srv, &qr, ob, 0) == 0) {
            for (uint32_t i = 0; i < qr.qr_value.sga.sga_numsegs; i++) {
                memcpy(ra + ga, qr.qr_value.sga.sga_segs[i].sgaseg_buf, qr.qr_value.sga.sga_segs[i].sgaseg_len);
                ga += qr.qr_value.sga.sga_segs[i].sgaseg_len;
            }
            dm_sgafree(srv, &qr.qr_value.sga);
            ob = 0;
        }
        assert_true(dm_clock_ns() < deadline);
    }
    assert_memory_equal(ra, a, N);
    assert_memory_equal(rb, b, N);
    wait_on(cli, pa);
    wait_on(srv, pb);
    assert_int_equal(dm_stats_get(cli, "rdma.rnr_errors") + dm_stats_get(srv, "rdma.rnr_errors"), 0);
    free(a);
    free(b);
    free(ra);
    free(rb);
    dm_close(cli, c);
    dm_close(srv, sv);
    dm_close(srv, l);
}

static void test_100_concurrent_connections(void **s)
{
    (void)s;
    enum { N = 100 };
    uint16_t port = next_port++;
    int l = listener(port), c[N], sv[N];
    for (int i = 0; i < N; i++)
        connect_pair(l, port, &c[i], &sv[i]);
    demi_qtoken_t pt[N], ot[N];
    for (int i = 0; i < N; i++) {
        char msg[16];
        int n = snprintf(msg, sizeof(msg), "conn-%03d", i);
        pt[i] = push_bytes(cli, c[i], (uint8_t *)msg, (size_t)n);
        assert_int_equal(dm_pop(srv, &ot[i], sv[i]), 0);
    }
    for (int i = N - 1; i >= 0; i--) {
        demi_qresult_t qr = wait_on(srv, ot[i]);
        char want[16];
        snprintf(want, sizeof(want), "conn-%03d", i);
        assert_int_equal(qr.qr_value.sga.sga_segs[0].sgaseg_len, 8);
        assert_memory_equal(qr.qr_value.sga.sga_segs[0].sgaseg_buf, want, 8);
        /* Echo back on the same connection. */
        demi_qtoken_t e;
        assert_int_equal(dm_push(srv, &e, sv[i], &qr.qr_value.sga), 0);
        dm_sgafree(srv, &qr.qr_value.sga);
        uint8_t back[8];
        assert_int_equal(pop_exact(cli, c[i], back, 8), 8);
        assert_memory_equal(back, want, 8);
        wait_on(srv, e);
    }
    for (int i = 0; i < N; i++) {
        wait_on(cli, pt[i]);
        dm_close(cli, c[i]);
        dm_close(srv, sv[i]);
    }
    dm_close(srv, l);
    for (int i = 0; i < 50; i++)
        pump();
}

static void test_close_gives_peer_eof_after_data(void **s)
{
    (void)s;
    uint16_t port = next_port++;
    int l = listener(port), c, sv;
    connect_pair(l, port, &c, &sv);
    uint8_t msg[5000];
    fill(msg, sizeof(msg), 9);
    push_bytes(cli, c, msg, sizeof(msg)); /* token dropped: close cancels it, the data still goes */
    assert_int_equal(dm_close(cli, c), 0);
    uint8_t got[5000];
    assert_int_equal(pop_exact(srv, sv, got, sizeof(got)), sizeof(got));
    assert_memory_equal(got, msg, sizeof(msg));
    demi_qtoken_t qt;
    assert_int_equal(dm_pop(srv, &qt, sv), 0);
    demi_qresult_t qr = wait_on(srv, qt);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
    assert_int_equal(qr.qr_value.sga.sga_numsegs, 0); /* EOF */
    /* And again: EOF is sticky. */
    assert_int_equal(dm_pop(srv, &qt, sv), 0);
    qr = wait_on(srv, qt);
    assert_int_equal(qr.qr_value.sga.sga_numsegs, 0);
    /* Writing to a closed peer fails. */
    demi_qtoken_t pt;
    for (int i = 0; i < 20; i++)
        pump();
    int err;
    demi_sgarray_t sga = dm_sgaalloc(srv, 4, &err);
    int rc = dm_push(srv, &pt, sv, &sga);
    if (rc == 0) {
        qr = wait_on(srv, pt);
        assert_int_equal(qr.qr_opcode, DEMI_OPC_FAILED);
    } else {
        assert_true(rc == -EPIPE || rc == -ECONNRESET);
    }
    dm_sgafree(srv, &sga);
    dm_close(srv, sv);
    dm_close(srv, l);
}

static void test_abortive_close_gives_peer_econnreset(void **s)
{
    (void)s;
    uint16_t port = next_port++;
    int l = listener(port), c, sv;
    connect_pair(l, port, &c, &sv);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    assert_int_equal(dm_setsockopt(cli, c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    demi_qtoken_t qt;
    assert_int_equal(dm_pop(srv, &qt, sv), 0);
    assert_int_equal(dm_close(cli, c), 0);
    demi_qresult_t qr = wait_on(srv, qt);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_FAILED);
    assert_int_equal(qr.qr_ret, ECONNRESET);
    dm_close(srv, sv);
    dm_close(srv, l);
}

static void test_connect_nobody_listens_is_refused(void **s)
{
    (void)s;
    int c;
    demi_qtoken_t ct;
    struct sockaddr_in a = addr("10.9.0.1", 9);
    assert_int_equal(dm_socket(cli, &c, AF_INET, SOCK_STREAM, 0), 0);
    assert_int_equal(dm_connect(cli, &ct, c, (struct sockaddr *)&a, sizeof(a)), 0);
    demi_qresult_t qr = wait_on(cli, ct);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_FAILED);
    assert_int_equal(qr.qr_ret, ECONNREFUSED);
    /* The socket may try again, and succeed once someone listens. */
    uint16_t port = next_port++;
    int l = listener(port), sv;
    demi_qtoken_t at;
    a = addr("10.9.0.1", port);
    assert_int_equal(dm_accept(srv, &at, l), 0);
    assert_int_equal(dm_connect(cli, &ct, c, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(wait_on(cli, ct).qr_opcode, DEMI_OPC_CONNECT);
    qr = wait_on(srv, at);
    sv = qr.qr_value.ares.qd;
    dm_close(cli, c);
    dm_close(srv, sv);
    dm_close(srv, l);
}

static void test_bad_arguments_give_linux_errno(void **s)
{
    (void)s;
    int qd, qd2;
    demi_qtoken_t qt;
    /* Datagrams are not served: a clear errno (and a log line). */
    assert_int_equal(dm_socket(cli, &qd, AF_INET, SOCK_DGRAM, 0), -EPROTONOSUPPORT);
    assert_int_equal(dm_socket(cli, &qd, AF_INET6, SOCK_STREAM, 0), -EAFNOSUPPORT);
    assert_int_equal(dm_socket(cli, &qd, AF_INET, SOCK_STREAM, 0), 0);
    int err;
    demi_sgarray_t sga = dm_sgaalloc(cli, 4, &err);
    assert_int_equal(dm_push(cli, &qt, qd, &sga), -ENOTCONN);
    assert_int_equal(dm_pop(cli, &qt, qd), -ENOTCONN);
    assert_int_equal(dm_accept(cli, &qt, qd), -EINVAL); /* not listening */
    assert_int_equal(dm_shutdown(cli, qd, SHUT_WR), -ENOTCONN);
    uint16_t port = next_port++;
    struct sockaddr_in a = addr("10.9.0.2", port);
    assert_int_equal(dm_bind(cli, qd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(dm_bind(cli, qd, (struct sockaddr *)&a, sizeof(a)), -EINVAL); /* already bound */
    assert_int_equal(dm_socket(cli, &qd2, AF_INET, SOCK_STREAM, 0), 0);
    assert_int_equal(dm_bind(cli, qd2, (struct sockaddr *)&a, sizeof(a)), -EADDRINUSE);
    struct sockaddr_in any = addr("0.0.0.0", port);
    assert_int_equal(dm_bind(cli, qd2, (struct sockaddr *)&any, sizeof(any)), -EADDRINUSE);
    assert_int_equal(dm_listen(cli, qd, 4), 0);
    assert_int_equal(dm_pop(cli, &qt, qd), -ENOTCONN);
    assert_int_equal(dm_push(cli, &qt, qd, &sga), -ENOTCONN);
    assert_int_equal(dm_connect(cli, &qt, qd, (struct sockaddr *)&a, sizeof(a)), -EISCONN);
    int v = 1;
    assert_int_equal(dm_setsockopt(cli, qd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)), 0);
    socklen_t lv = sizeof(v);
    v = 0;
    assert_int_equal(dm_getsockopt(cli, qd, IPPROTO_TCP, TCP_NODELAY, &v, &lv), 0);
    assert_int_equal(v, 1);
    assert_int_equal(dm_setsockopt(cli, qd, IPPROTO_TCP, TCP_NODELAY, &v, 1), -EINVAL);
    assert_int_equal(dm_setsockopt(cli, qd, IPPROTO_IP, 12345, &v, sizeof(v)), -ENOPROTOOPT);
    lv = sizeof(v);
    assert_int_equal(dm_getsockopt(cli, qd, SOL_SOCKET, SO_TYPE, &v, &lv), 0);
    assert_int_equal(v, SOCK_STREAM);
    /* Connect twice while the first is in progress. */
    uint16_t p2 = next_port++;
    int l = listener(p2), c;
    struct sockaddr_in to = addr("10.9.0.1", p2);
    assert_int_equal(dm_socket(cli, &c, AF_INET, SOCK_STREAM, 0), 0);
    demi_qtoken_t ct, ct2;
    assert_int_equal(dm_connect(cli, &ct, c, (struct sockaddr *)&to, sizeof(to)), 0);
    assert_int_equal(dm_connect(cli, &ct2, c, (struct sockaddr *)&to, sizeof(to)), -EALREADY);
    assert_int_equal(wait_on(cli, ct).qr_opcode, DEMI_OPC_CONNECT);
    assert_int_equal(dm_connect(cli, &ct2, c, (struct sockaddr *)&to, sizeof(to)), -EISCONN);
    assert_int_equal(dm_shutdown(cli, c, SHUT_WR), 0);
    assert_int_equal(dm_push(cli, &qt, c, &sga), -EPIPE);
    dm_sgafree(cli, &sga);
    dm_close(cli, c);
    dm_close(cli, qd);
    dm_close(cli, qd2);
    dm_close(srv, l);
}

/* An idle application sleeps on wait_fd; a completion wakes it. */
static void test_wait_fd_wakes_on_completion(void **s)
{
    (void)s;
    uint16_t port = next_port++;
    int l = listener(port), c, sv;
    connect_pair(l, port, &c, &sv);
    int fd = dm_instance_wait_fd(cli);
    assert_true(fd >= 0);
    demi_qtoken_t qt;
    assert_int_equal(dm_pop(cli, &qt, c), 0);
    for (int i = 0; i < 5; i++)
        pump(); /* idle: the CQ gets armed */
    struct epoll_event ev;
    assert_int_equal(epoll_wait(fd, &ev, 1, 0), 0);
    push_bytes(srv, sv, (const uint8_t *)"wake", 4);
    assert_int_equal(epoll_wait(fd, &ev, 1, 1000), 1);
    demi_qresult_t qr = wait_on(cli, qt);
    assert_int_equal(qr.qr_value.sga.sga_segs[0].sgaseg_len, 4);
    dm_sgafree(cli, &qr.qr_value.sga);
    assert_true(dm_stats_get(cli, "rdma.cq_wakeups") >= 1);
    dm_close(cli, c);
    dm_close(srv, sv);
    dm_close(srv, l);
}

/* Connections the listener completed but the app never accepted are reset
 * when the listener closes (Linux sends RST). */
static void test_listener_close_resets_unaccepted(void **s)
{
    (void)s;
    uint16_t port = next_port++;
    int l = listener(port), c;
    demi_qtoken_t ct, ot;
    struct sockaddr_in a = addr("10.9.0.1", port);
    assert_int_equal(dm_socket(cli, &c, AF_INET, SOCK_STREAM, 0), 0);
    assert_int_equal(dm_connect(cli, &ct, c, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(wait_on(cli, ct).qr_opcode, DEMI_OPC_CONNECT); /* in the accept queue */
    assert_int_equal(dm_pop(cli, &ot, c), 0);
    assert_int_equal(dm_close(srv, l), 0);
    demi_qresult_t qr = wait_on(cli, ot);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_FAILED);
    assert_int_equal(qr.qr_ret, ECONNRESET);
    dm_close(cli, c);
}

static void test_backlog_full_refuses(void **s)
{
    (void)s;
    uint16_t port = next_port++;
    int l, c1, c2;
    struct sockaddr_in a = addr("10.9.0.1", port);
    assert_int_equal(dm_socket(srv, &l, AF_INET, SOCK_STREAM, 0), 0);
    assert_int_equal(dm_bind(srv, l, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(dm_listen(srv, l, 1), 0);
    demi_qtoken_t t1, t2;
    assert_int_equal(dm_socket(cli, &c1, AF_INET, SOCK_STREAM, 0), 0);
    assert_int_equal(dm_socket(cli, &c2, AF_INET, SOCK_STREAM, 0), 0);
    assert_int_equal(dm_connect(cli, &t1, c1, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(wait_on(cli, t1).qr_opcode, DEMI_OPC_CONNECT);
    assert_int_equal(dm_connect(cli, &t2, c2, (struct sockaddr *)&a, sizeof(a)), 0);
    demi_qresult_t qr = wait_on(cli, t2);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_FAILED);
    assert_int_equal(qr.qr_ret, ECONNREFUSED);
    assert_int_equal(dm_stats_get(srv, "rdma.rejected_backlog"), 1);
    dm_close(cli, c1);
    dm_close(cli, c2);
    dm_close(srv, l);
}

/* Out of buffers: new connections fail cleanly, old ones keep working. */
static void test_buffer_exhaustion_fails_new_connections_cleanly(void **s)
{
    (void)s;
    dm_instance_destroy(srv);
    srv = make_with("16", "64", NULL); /* 64 buffers: room for 3 receive rings of 16 */
    uint16_t port = next_port++;
    int l = listener(port), c[8], sv = -1;
    int ok = 0, refused = 0;
    struct sockaddr_in a = addr("10.9.0.1", port);
    for (int i = 0; i < 8; i++) {
        demi_qtoken_t ct, at;
        assert_int_equal(dm_socket(cli, &c[i], AF_INET, SOCK_STREAM, 0), 0);
        assert_int_equal(dm_connect(cli, &ct, c[i], (struct sockaddr *)&a, sizeof(a)), 0);
        demi_qresult_t qr = wait_on(cli, ct);
        if (qr.qr_opcode == DEMI_OPC_CONNECT) {
            ok++;
            assert_int_equal(dm_accept(srv, &at, l), 0);
            int q = wait_on(srv, at).qr_value.ares.qd;
            if (sv < 0)
                sv = q;
        } else {
            assert_int_equal(qr.qr_ret, ECONNREFUSED);
            refused++;
        }
    }
    assert_true(ok >= 1 && ok <= 4);
    assert_true(refused >= 4);
    /* The first connection still carries data both ways. */
    uint8_t buf[3000], got[3000];
    fill(buf, sizeof(buf), 5);
    demi_qtoken_t pt = push_bytes(cli, c[0], buf, sizeof(buf));
    assert_int_equal(pop_exact(srv, sv, got, sizeof(got)), sizeof(got));
    assert_memory_equal(got, buf, sizeof(buf));
    wait_on(cli, pt);
    for (int i = 0; i < 8; i++)
        dm_close(cli, c[i]);
    dm_close(srv, l);
}

/* A closed connection whose peer never reads is aborted after the linger
 * limit: the peer reads what fitted, then sees a reset, never a hang. */
static void test_close_linger_limit_aborts(void **s)
{
    (void)s;
    dm_instance_destroy(cli);
    dm_instance_destroy(srv);
    srv = make_with("4", NULL, NULL);
    cli = make_with("4", NULL, "20");
    uint16_t port = next_port++;
    int l = listener(port), c, sv;
    connect_pair(l, port, &c, &sv);
    enum { N = 256 * 1024 };
    uint8_t *buf = malloc(N);
    fill(buf, N, 11);
    push_bytes(cli, c, buf, N);
    assert_int_equal(dm_close(cli, c), 0);
    int64_t end = dm_clock_ns() + 100 * DM_NS_PER_MS;
    while (dm_clock_ns() < end)
        pump();
    assert_int_equal(dm_stats_get(cli, "rdma.aborted"), 1);
    size_t got = 0;
    for (;;) {
        demi_qtoken_t qt;
        assert_int_equal(dm_pop(srv, &qt, sv), 0);
        demi_qresult_t qr = wait_on(srv, qt);
        if (qr.qr_opcode == DEMI_OPC_FAILED) {
            assert_int_equal(qr.qr_ret, ECONNRESET);
            break;
        }
        assert_true(qr.qr_value.sga.sga_numsegs > 0); /* no EOF: the stream was cut */
        for (uint32_t i = 0; i < qr.qr_value.sga.sga_numsegs; i++) {
            assert_memory_equal(qr.qr_value.sga.sga_segs[i].sgaseg_buf, buf + got,
                                qr.qr_value.sga.sga_segs[i].sgaseg_len);
            got += qr.qr_value.sga.sga_segs[i].sgaseg_len;
        }
        dm_sgafree(srv, &qr.qr_value.sga);
    }
    assert_true(got < N);
    free(buf);
    dm_close(srv, sv);
    dm_close(srv, l);
}

/* An array of several segments of the app's own memory (not ours): copied
 * into registered bounce buffers, byte exact; SHUT_RD then reads EOF. */
static void test_multi_segment_foreign_memory_and_shut_rd(void **s)
{
    (void)s;
    uint16_t port = next_port++;
    int l = listener(port), c, sv;
    connect_pair(l, port, &c, &sv);
    static uint8_t mem[8][3000];
    demi_sgarray_t sga;
    memset(&sga, 0, sizeof(sga));
    sga.sga_numsegs = 8;
    for (int i = 0; i < 8; i++) {
        fill(mem[i], sizeof(mem[i]), (uint32_t)i + 20);
        sga.sga_segs[i].sgaseg_buf = mem[i];
        sga.sga_segs[i].sgaseg_len = (uint32_t)(100 + i * 300);
    }
    size_t total = 0;
    for (int i = 0; i < 8; i++)
        total += sga.sga_segs[i].sgaseg_len;
    demi_qtoken_t pt;
    assert_int_equal(dm_push(cli, &pt, c, &sga), 0);
    uint8_t *got = malloc(total);
    assert_int_equal(pop_exact(srv, sv, got, total), total);
    size_t off = 0;
    for (int i = 0; i < 8; i++) {
        assert_memory_equal(got + off, mem[i], sga.sga_segs[i].sgaseg_len);
        off += sga.sga_segs[i].sgaseg_len;
    }
    wait_on(cli, pt);
    assert_int_equal(dm_shutdown(srv, sv, SHUT_RD), 0);
    demi_qtoken_t ot;
    assert_int_equal(dm_pop(srv, &ot, sv), 0);
    assert_int_equal(wait_on(srv, ot).qr_value.sga.sga_numsegs, 0);
    free(got);
    dm_close(cli, c);
    dm_close(srv, sv);
    dm_close(srv, l);
}

static void test_close_while_connecting_leaks_nothing(void **s)
{
    (void)s;
    uint16_t port = next_port++;
    int l = listener(port), c;
    demi_qtoken_t ct;
    struct sockaddr_in a = addr("10.9.0.1", port);
    assert_int_equal(dm_socket(cli, &c, AF_INET, SOCK_STREAM, 0), 0);
    assert_int_equal(dm_connect(cli, &ct, c, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(dm_close(cli, c), 0); /* mid-resolution */
    demi_qresult_t qr;
    assert_int_equal(dm_wait(cli, &qr, ct, 0), 0);
    assert_int_equal(qr.qr_ret, ECANCELED);
    for (int i = 0; i < 10; i++)
        pump();
    dm_close(srv, l);
}

/* Random traffic both ways through the smallest rings (4 receive buffers,
 * 8 send slots): random sizes, random kinds of memory (pool: zero copy,
 * heap: bounce, the app's own: copied), pops and pushes interleaved at
 * random. Both byte streams must arrive exact and no RNR may ever happen. */
static uint8_t pat(uint32_t dir, uint64_t pos) { return (uint8_t)((pos * 2654435761u) >> (11 + dir)); }

struct dirstate {
    struct dm_instance *tx_in, *rx_in;
    int tx_qd, rx_qd;
    uint64_t sent, recvd, total;
    demi_qtoken_t push_qt[16];
    int npush;
    demi_qtoken_t pop_qt;
    uint32_t dir;
};

static uint32_t rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

static void random_step(struct dirstate *d, uint64_t *seed)
{
    static uint8_t foreign[70000];
    uint32_t r = rnd(seed);
    if (d->sent < d->total && d->npush < 16 && (r & 3) != 0) {
        uint32_t kind = rnd(seed) % 3, n;
        switch (kind) {
        case 0: n = 1 + rnd(seed) % 2048; break;   /* one pool buffer */
        case 1: n = 2049 + rnd(seed) % 60000; break; /* heap */
        default: n = 1 + rnd(seed) % 70000; break; /* the app's memory */
        }
        if (n > d->total - d->sent)
            n = (uint32_t)(d->total - d->sent);
        demi_sgarray_t sga;
        int err = 0;
        if (kind < 2) {
            sga = dm_sgaalloc(d->tx_in, n, &err);
            assert_int_equal(err, 0);
        } else {
            memset(&sga, 0, sizeof(sga));
            sga.sga_numsegs = 1;
            sga.sga_segs[0].sgaseg_buf = foreign;
            sga.sga_segs[0].sgaseg_len = n;
        }
        uint8_t *p = sga.sga_segs[0].sgaseg_buf;
        for (uint32_t j = 0; j < n; j++)
            p[j] = pat(d->dir, d->sent + j);
        assert_int_equal(dm_push(d->tx_in, &d->push_qt[d->npush++], d->tx_qd, &sga), 0);
        if (kind < 2)
            assert_int_equal(dm_sgafree(d->tx_in, &sga), 0);
        d->sent += n;
    }
    if (!d->pop_qt && d->recvd < d->total && (rnd(seed) & 1))
        assert_int_equal(dm_pop(d->rx_in, &d->pop_qt, d->rx_qd), 0);
    demi_qresult_t qr;
    if (d->pop_qt && dm_wait(d->rx_in, &qr, d->pop_qt, 0) == 0) {
        d->pop_qt = 0;
        assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
        assert_true(qr.qr_value.sga.sga_numsegs > 0);
        for (uint32_t i = 0; i < qr.qr_value.sga.sga_numsegs; i++) {
            const uint8_t *p = qr.qr_value.sga.sga_segs[i].sgaseg_buf;
            for (uint32_t j = 0; j < qr.qr_value.sga.sga_segs[i].sgaseg_len; j++, d->recvd++)
                if (p[j] != pat(d->dir, d->recvd))
                    fail_msg("direction %u: byte %llu differs", d->dir, (unsigned long long)d->recvd);
        }
        dm_sgafree(d->rx_in, &qr.qr_value.sga);
    }
    for (int i = 0; i < d->npush; i++) {
        if (dm_token_state(d->tx_in, d->push_qt[i]) == 1) {
            assert_int_equal(dm_wait(d->tx_in, &qr, d->push_qt[i], 0), 0);
            assert_int_equal(qr.qr_opcode, DEMI_OPC_PUSH);
            d->push_qt[i--] = d->push_qt[--d->npush];
        }
    }
}

static void test_random_traffic_both_ways_smallest_rings(void **s)
{
    (void)s;
    for (uint64_t run = 1; run <= 3; run++) {
        dm_instance_destroy(cli);
        dm_instance_destroy(srv);
        sq_depth_override = "8";
        /* Runs 1-2: credits are the limit (run 2 with a ring that is not a
         * power of two); run 3: the send queue is. */
        const char *rq = run == 3 ? "64" : run == 2 ? "6" : "4";
        srv = make(rq);
        cli = make(rq);
        sq_depth_override = NULL;
        uint16_t port = next_port++;
        int l = listener(port), c, sv;
        connect_pair(l, port, &c, &sv);
        uint64_t seed = run * 0x9e3779b97f4a7c15ull;
        struct dirstate a = {cli, srv, c, sv, 0, 0, 3u << 20, {0}, 0, 0, 0};
        struct dirstate b = {srv, cli, sv, c, 0, 0, 2u << 20, {0}, 0, 0, 1};
        int64_t deadline = dm_clock_ns() + 30 * DM_NS_PER_S;
        while (a.recvd < a.total || b.recvd < b.total || a.npush || b.npush) {
            random_step(&a, &seed);
            random_step(&b, &seed);
            pump();
            assert_true(dm_clock_ns() < deadline);
        }
        assert_int_equal(dm_stats_get(cli, "rdma.rnr_errors") + dm_stats_get(srv, "rdma.rnr_errors"), 0);
        assert_int_equal(dm_stats_get(cli, "rdma.wc_errors") + dm_stats_get(srv, "rdma.wc_errors"), 0);
        if (run < 3)
            assert_true(dm_stats_get(cli, "rdma.credit_stalls") > 0);
        dm_close(cli, c);
        dm_close(srv, sv);
        dm_close(srv, l);
    }
}

/* An idle wait sleeps in the wait fd instead of spinning: a 100 ms wait for
 * a pop that never comes takes a handful of poll iterations. */
static void test_idle_wait_sleeps_not_spins(void **s)
{
    (void)s;
    uint16_t port = next_port++;
    int l = listener(port), c, sv;
    connect_pair(l, port, &c, &sv);
    for (int i = 0; i < 5; i++)
        pump();
    demi_qtoken_t qt;
    assert_int_equal(dm_pop(cli, &qt, c), 0);
    int64_t polls0 = dm_stats_get(cli, "core.polls");
    demi_qresult_t qr;
    assert_int_equal(dm_wait(cli, &qr, qt, 100 * DM_NS_PER_MS), -ETIMEDOUT);
    int64_t polls = dm_stats_get(cli, "core.polls") - polls0;
    assert_true(polls >= 1);
    assert_true(polls < 20);
    push_bytes(srv, sv, (const uint8_t *)"x", 1);
    qr = wait_on(cli, qt);
    assert_int_equal(qr.qr_value.sga.sga_segs[0].sgaseg_len, 1);
    dm_sgafree(cli, &qr.qr_value.sga);
    dm_close(cli, c);
    dm_close(srv, sv);
    dm_close(srv, l);
}

/* A listener asleep in its wait fd is woken by a connection request
 * (the rdmacm event channel is in the same epoll set as the CQ channel). */
static void test_wait_fd_wakes_on_connection_request(void **s)
{
    (void)s;
    uint16_t port = next_port++;
    int l = listener(port), c;
    demi_qtoken_t at, ct;
    assert_int_equal(dm_accept(srv, &at, l), 0);
    for (int i = 0; i < 3; i++)
        assert_true(dm_poll(srv, 0) >= 0);
    int fd = dm_instance_wait_fd(srv);
    struct epoll_event ev;
    assert_int_equal(epoll_wait(fd, &ev, 1, 0), 0);
    struct sockaddr_in a = addr("10.9.0.1", port);
    assert_int_equal(dm_socket(cli, &c, AF_INET, SOCK_STREAM, 0), 0);
    assert_int_equal(dm_connect(cli, &ct, c, (struct sockaddr *)&a, sizeof(a)), 0);
    for (int i = 0; i < 3; i++)
        assert_true(dm_poll(cli, 0) >= 0); /* address, route, connect */
    assert_int_equal(epoll_wait(fd, &ev, 1, 1000), 1);
    assert_int_equal(wait_on(cli, ct).qr_opcode, DEMI_OPC_CONNECT);
    demi_qresult_t qr = wait_on(srv, at);
    dm_close(srv, qr.qr_value.ares.qd);
    dm_close(cli, c);
    dm_close(srv, l);
}

static void test_real_provider_without_device_says_enodev(void **s)
{
    (void)s;
    int n = 0;
    struct ibv_device **list = rdma_glue_real.get_device_list(&n);
    if (list)
        rdma_glue_real.free_device_list(list);
    if (n > 0)
        skip(); /* a real device exists here: nothing to check */
    struct dm_config cfg;
    dm_config_init(&cfg);
    dm_config_set(&cfg, "DEMI_BACKEND", "rdma");
    dm_config_set(&cfg, "DEMI_RDMA_PROVIDER", "real");
    struct dm_instance *in = NULL;
    assert_int_equal(dm_instance_create(&cfg, &in), -ENODEV);
    dm_config_set(&cfg, "DEMI_RDMA_PROVIDER", "bogus");
    assert_int_equal(dm_instance_create(&cfg, &in), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_connect_accept_and_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_echo_1b_to_1mib_byte_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bulk_64mib_small_ring_waits_for_credits_never_rnr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bidirectional_small_ring_no_deadlock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_100_concurrent_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_gives_peer_eof_after_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abortive_close_gives_peer_econnreset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_nobody_listens_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments_give_linux_errno, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wait_fd_wakes_on_completion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listener_close_resets_unaccepted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backlog_full_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_buffer_exhaustion_fails_new_connections_cleanly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_linger_limit_aborts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multi_segment_foreign_memory_and_shut_rd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_while_connecting_leaks_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_traffic_both_ways_smallest_rings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_wait_sleeps_not_spins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wait_fd_wakes_on_connection_request, setup, teardown),
        cmocka_unit_test(test_real_provider_without_device_says_enodev),
    };
    return cmocka_run_group_tests_name("rdma", tests, NULL, NULL);
}
