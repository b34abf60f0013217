/* SPDX-License-Identifier: MIT */
/*
 * Backend conformance suite: the same behaviour over every backend, using
 * only the public demi API. The backend comes from DEMI_BACKEND; the
 * address the server listens on from DEMI_TEST_ADDR (default 127.0.0.1;
 * for our own stack, its DEMI_IPV4 address; an IPv6 address runs every
 * test over AF_INET6 sockets). Server and client live in the
 * same process and instance, so every wait drives both ends.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <demi/libos.h>
#include <demi/sga.h>
#include <demi/wait.h>

static const struct timespec FOREVER_5S = {5, 0};
static uint16_t next_port;

/* The address the tests use: IPv4, or IPv6 when DEMI_TEST_ADDR has a ':'
 * (every test then runs over AF_INET6 sockets). The port is at the same
 * offset in both kinds (sin_port, sin6_port). */
union taddr {
    struct sockaddr sa;
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
};

static const char *test_addr(void)
{
    const char *a = getenv("DEMI_TEST_ADDR");
    return a ? a : "127.0.0.1";
}

static int fam(void) { return strchr(test_addr(), ':') ? AF_INET6 : AF_INET; }
static socklen_t alen(void) { return fam() == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in); }

static union taddr addr_of(uint16_t port)
{
    union taddr a;
    memset(&a, 0, sizeof(a));
    a.sa.sa_family = (sa_family_t)fam();
    a.sin.sin_port = htons(port);
    if (fam() == AF_INET6)
        inet_pton(AF_INET6, test_addr(), &a.sin6.sin6_addr);
    else
        inet_pton(AF_INET, test_addr(), &a.sin.sin_addr);
    return a;
}

static uint16_t fresh_port(void)
{
    if (!next_port)
        next_port = (uint16_t)(20000 + (getpid() % 20000));
    return next_port++;
}

static demi_qresult_t wait_ok(demi_qtoken_t qt)
{
    demi_qresult_t qr;
    int rc = demi_wait(&qr, qt, &FOREVER_5S);
    assert_int_equal(rc, 0);
    return qr;
}

/* Listens on *port, moving to the next port while it is taken: over
 * kernel-socket backends other programs on the machine share the range. */
static int listen_on_any(uint16_t *port, int type)
{
    int qd, rc;
    assert_int_equal(demi_socket(&qd, fam(), type, 0), 0);
    for (int tries = 0;; tries++) {
        union taddr sin = addr_of(*port);
        rc = demi_bind(qd, &sin.sa, alen());
        if (rc != EADDRINUSE || tries == 50)
            break;
        *port = fresh_port();
    }
    assert_int_equal(rc, 0);
    if (type == SOCK_STREAM)
        assert_int_equal(demi_listen(qd, 128), 0);
    return qd;
}
#define listen_on(port, type) listen_on_any(&(port), (type))

/* Connects a client to a listener; returns both ends. */
static void connect_pair(int lqd, uint16_t port, int *cqd, int *sqd)
{
    demi_qtoken_t at, ct;
    assert_int_equal(demi_socket(cqd, fam(), SOCK_STREAM, 0), 0);
    union taddr sin = addr_of(port);
    assert_int_equal(demi_accept(&at, lqd), 0);
    assert_int_equal(demi_connect(&ct, *cqd, &sin.sa, alen()), 0);
    demi_qresult_t qr = wait_ok(ct);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_CONNECT);
    qr = wait_ok(at);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_ACCEPT);
    *sqd = qr.qr_value.ares.qd;
    assert_true(*sqd >= DEMI_QD_BASE);
}

static void push_bytes(int qd, const uint8_t *data, size_t len, demi_qtoken_t *qt)
{
    demi_sgarray_t sga = demi_sgaalloc(len);
    assert_int_equal(sga.sga_numsegs, 1);
    memcpy(sga.sga_segs[0].sgaseg_buf, data, len);
    assert_int_equal(demi_push(qt, qd, &sga), 0);
    /* Freed while the push is in flight: the library keeps its reference. */
    assert_int_equal(demi_sgafree(&sga), 0);
}

/* Pops until `len` bytes arrived (a stream may split them); returns bytes. */
static size_t pop_exact(int qd, uint8_t *out, size_t len)
{
    size_t got = 0;
    while (got < len) {
        demi_qtoken_t qt;
        assert_int_equal(demi_pop(&qt, qd), 0);
        demi_qresult_t qr = wait_ok(qt);
        assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
        if (qr.qr_value.sga.sga_numsegs == 0)
            break; /* EOF */
        for (uint32_t i = 0; i < qr.qr_value.sga.sga_numsegs; i++) {
            uint32_t n = qr.qr_value.sga.sga_segs[i].sgaseg_len;
            assert_true(got + n <= len);
            memcpy(out + got, qr.qr_value.sga.sga_segs[i].sgaseg_buf, n);
            got += n;
        }
        assert_int_equal(demi_sgafree(&qr.qr_value.sga), 0);
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

static void test_tcp_echo_1b_to_1mib(void **s)
{
    (void)s;
    uint16_t port = fresh_port();
    int l = listen_on(port, SOCK_STREAM), c, sv;
    connect_pair(l, port, &c, &sv);
    static const size_t sizes[] = {1, 100, 1460, 1461, 65536, 1 << 20};
    uint8_t *tx = malloc(1 << 20), *rx = malloc(1 << 20);
    for (unsigned k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t n = sizes[k];
        fill(tx, n, (uint32_t)k + 1);
        demi_qtoken_t p1, p2;
        push_bytes(c, tx, n, &p1);
        assert_int_equal(pop_exact(sv, rx, n), n);
        assert_memory_equal(rx, tx, n);
        assert_int_equal(wait_ok(p1).qr_opcode, DEMI_OPC_PUSH);
        push_bytes(sv, rx, n, &p2); /* echo */
        memset(rx, 0, n);
        assert_int_equal(pop_exact(c, rx, n), n);
        assert_memory_equal(rx, tx, n);
        wait_ok(p2);
    }
    free(tx);
    free(rx);
    demi_close(c);
    demi_close(sv);
    demi_close(l);
}

static void test_tcp_many_concurrent_connections_echo(void **s)
{
    (void)s;
    enum { N = 100 };
    uint16_t port = fresh_port();
    int l = listen_on(port, SOCK_STREAM);
    int c[N], sv[N];
    for (int i = 0; i < N; i++)
        connect_pair(l, port, &c[i], &sv[i]);
    /* Every client pushes at once, then every server pops and echoes. */
    demi_qtoken_t pt[N], ot[N];
    for (int i = 0; i < N; i++) {
        char msg[32];
        int n = snprintf(msg, sizeof(msg), "conn-%03d", i);
        push_bytes(c[i], (uint8_t *)msg, (size_t)n, &pt[i]);
        assert_int_equal(demi_pop(&ot[i], sv[i]), 0);
    }
    int done = 0;
    demi_qtoken_t tokens[N];
    int idx[N];
    for (int i = 0; i < N; i++) {
        tokens[i] = ot[i];
        idx[i] = i;
    }
    int left = N;
    while (left > 0) {
        demi_qresult_t qr;
        int off;
        assert_int_equal(demi_wait_any(&qr, &off, tokens, left, &FOREVER_5S), 0);
        int i = idx[off];
        char want[32];
        snprintf(want, sizeof(want), "conn-%03d", i);
        assert_int_equal(qr.qr_value.sga.sga_segs[0].sgaseg_len, 8);
        assert_memory_equal(qr.qr_value.sga.sga_segs[0].sgaseg_buf, want, 8);
        demi_sgafree(&qr.qr_value.sga);
        tokens[off] = tokens[left - 1];
        idx[off] = idx[left - 1];
        left--;
        done++;
    }
    assert_int_equal(done, N);
    for (int i = 0; i < N; i++) {
        wait_ok(pt[i]);
        demi_close(c[i]);
        demi_close(sv[i]);
    }
    demi_close(l);
}

/* Skips the test on a streams-only backend (rdma). */
static void skip_without_udp(void)
{
    int probe, prc = demi_socket(&probe, fam(), SOCK_DGRAM, 0);
    if (prc == EPROTONOSUPPORT)
        skip();
    assert_int_equal(prc, 0);
    demi_close(probe);
}

static void test_udp_echo_carries_peer_address(void **s)
{
    (void)s;
    skip_without_udp();
    uint16_t sport = fresh_port(), cport = fresh_port();
    int sv = listen_on(sport, SOCK_DGRAM), c = listen_on(cport, SOCK_DGRAM);
    union taddr to = addr_of(sport);
    demi_sgarray_t sga = demi_sgaalloc(5);
    memcpy(sga.sga_segs[0].sgaseg_buf, "ping!", 5);
    demi_qtoken_t pt, ot;
    assert_int_equal(demi_pushto(&pt, c, &sga, &to.sa, alen()), 0);
    demi_sgafree(&sga);
    assert_int_equal(demi_pop(&ot, sv), 0);
    demi_qresult_t qr = wait_ok(ot);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
    assert_int_equal(qr.qr_value.sga.sga_segs[0].sgaseg_len, 5);
    assert_memory_equal(qr.qr_value.sga.sga_segs[0].sgaseg_buf, "ping!", 5);
    union taddr from;
    memcpy(&from.sin6, &qr.qr_value.sga.sga_addr6, sizeof(from.sin6));
    assert_int_equal(from.sa.sa_family, fam());
    assert_int_equal(ntohs(from.sin.sin_port), cport);
    /* Echo to where it came from. */
    assert_int_equal(demi_pushto(&pt, sv, &qr.qr_value.sga, &from.sa, alen()), 0);
    demi_sgafree(&qr.qr_value.sga);
    assert_int_equal(demi_pop(&ot, c), 0);
    qr = wait_ok(ot);
    assert_memory_equal(qr.qr_value.sga.sga_segs[0].sgaseg_buf, "ping!", 5);
    assert_int_equal(ntohs(qr.qr_value.sga.sga_addr.sin_port), sport);
    demi_sgafree(&qr.qr_value.sga);
    demi_close(c);
    demi_close(sv);
}

static void test_udp_datagram_bigger_than_a_buffer_arrives_whole(void **s)
{
    (void)s;
    skip_without_udp();
    /* 8000 B: above a 2 KiB pool buffer and a 1500 B Ethernet MTU. It is
     * delivered whole (stacks/inet: in fragments, reassembled), or (a
     * backend that cannot) refused with EMSGSIZE: never cut short. */
    enum { LEN = 8000 };
    static uint8_t out[LEN];
    fill(out, LEN, 77);
    uint16_t sport = fresh_port(), cport = fresh_port();
    int sv = listen_on(sport, SOCK_DGRAM), c = listen_on(cport, SOCK_DGRAM);
    union taddr to = addr_of(sport);
    demi_sgarray_t sga = demi_sgaalloc(LEN);
    assert_int_equal(sga.sga_numsegs, 1);
    memcpy(sga.sga_segs[0].sgaseg_buf, out, LEN);
    demi_qtoken_t pt, ot;
    int rc = demi_pushto(&pt, c, &sga, &to.sa, alen());
    demi_sgafree(&sga);
    if (rc == 0) {
        demi_qresult_t qr = wait_ok(pt);
        if (qr.qr_opcode == DEMI_OPC_FAILED)
            rc = qr.qr_ret;
    }
    if (rc == EMSGSIZE) {
        demi_close(c);
        demi_close(sv);
        return;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(demi_pop(&ot, sv), 0);
    demi_qresult_t qr = wait_ok(ot);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
    uint32_t got = 0;
    for (uint32_t i = 0; i < qr.qr_value.sga.sga_numsegs; i++) {
        assert_true(got + qr.qr_value.sga.sga_segs[i].sgaseg_len <= LEN);
        assert_memory_equal(qr.qr_value.sga.sga_segs[i].sgaseg_buf, out + got, qr.qr_value.sga.sga_segs[i].sgaseg_len);
        got += qr.qr_value.sga.sga_segs[i].sgaseg_len;
    }
    assert_int_equal(got, LEN);
    demi_sgafree(&qr.qr_value.sga);
    demi_close(c);
    demi_close(sv);
}

static void test_tcp_half_close_then_reply(void **s)
{
    (void)s;
    uint16_t port = fresh_port();
    int l = listen_on(port, SOCK_STREAM), c, sv;
    connect_pair(l, port, &c, &sv);
    demi_qtoken_t pt;
    push_bytes(c, (const uint8_t *)"request", 7, &pt);
    wait_ok(pt);
    assert_int_equal(demi_shutdown(c, SHUT_WR), 0);
    uint8_t buf[16];
    assert_int_equal(pop_exact(sv, buf, 7), 7);
    /* Then end of stream: a zero-length pop. */
    demi_qtoken_t ot;
    assert_int_equal(demi_pop(&ot, sv), 0);
    demi_qresult_t qr = wait_ok(ot);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
    assert_int_equal(qr.qr_value.sga.sga_numsegs, 0);
    assert_int_equal(qr.qr_value.sga.sga_segs[0].sgaseg_len, 0);
    /* The other direction still works. */
    push_bytes(sv, (const uint8_t *)"reply", 5, &pt);
    assert_int_equal(pop_exact(c, buf, 5), 5);
    assert_memory_equal(buf, "reply", 5);
    wait_ok(pt);
    demi_close(sv);
    /* After the server closes, the client sees EOF too. */
    assert_int_equal(demi_pop(&ot, c), 0);
    qr = wait_ok(ot);
    assert_int_equal(qr.qr_value.sga.sga_numsegs, 0);
    demi_close(c);
    demi_close(l);
}

/* shutdown(SHUT_WR) right after pushes bigger than any send buffer, the
 * peer not reading yet: as on Linux, every pushed byte arrives before the
 * end of stream, and a push after the shutdown fails with EPIPE. */
static void test_tcp_shutdown_wr_after_large_push_delivers_all_then_eof(void **s)
{
    (void)s;
    /* Our own stack fails the pushes still waiting for buffer space
     * instead (stacks/inet/tcp.c, tcp_shutdown): a known gap, skipped
     * with a word rather than failed or passed. */
    const char *be = getenv("DEMI_BACKEND");
    if (be && (!strcmp(be, "loop") || !strcmp(be, "dpdk") || !strcmp(be, "xdp"))) {
        printf("skip: %s fails pushes queued behind shutdown(SHUT_WR) (known gap of stacks/inet)\n", be);
        skip();
    }
    enum { NPUSH = 32, PUSH_LEN = 1 << 20 };
    const size_t total = (size_t)NPUSH * PUSH_LEN;
    uint16_t port = fresh_port();
    int l = listen_on(port, SOCK_STREAM), c, sv;
    connect_pair(l, port, &c, &sv);
    uint8_t *tx = malloc(total), *rx = malloc(total);
    assert_non_null(tx);
    assert_non_null(rx);
    fill(tx, total, 9);
    demi_qtoken_t pt[NPUSH];
    for (int i = 0; i < NPUSH; i++)
        push_bytes(c, tx + (size_t)i * PUSH_LEN, PUSH_LEN, &pt[i]);
    assert_int_equal(demi_shutdown(c, SHUT_WR), 0);
    demi_sgarray_t late = demi_sgaalloc(1);
    demi_qtoken_t lt;
    assert_int_equal(demi_push(&lt, c, &late), EPIPE);
    demi_sgafree(&late);
    assert_int_equal(pop_exact(sv, rx, total), total);
    assert_memory_equal(rx, tx, total);
    demi_qtoken_t ot;
    assert_int_equal(demi_pop(&ot, sv), 0);
    demi_qresult_t qr = wait_ok(ot);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
    assert_int_equal(qr.qr_value.sga.sga_numsegs, 0);
    for (int i = 0; i < NPUSH; i++)
        assert_int_equal(wait_ok(pt[i]).qr_opcode, DEMI_OPC_PUSH);
    free(tx);
    free(rx);
    demi_close(c);
    demi_close(sv);
    demi_close(l);
}

static void test_close_completes_pending_pop_with_ecanceled(void **s)
{
    (void)s;
    uint16_t port = fresh_port();
    int l = listen_on(port, SOCK_STREAM), c, sv;
    connect_pair(l, port, &c, &sv);
    demi_qtoken_t ot;
    assert_int_equal(demi_pop(&ot, sv), 0);
    demi_qresult_t qr;
    const struct timespec short_ts = {0, 20 * 1000 * 1000};
    assert_int_equal(demi_wait(&qr, ot, &short_ts), ETIMEDOUT); /* still pending afterwards */
    assert_int_equal(demi_close(sv), 0);
    qr = wait_ok(ot);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_FAILED);
    assert_int_equal(qr.qr_ret, ECANCELED);
    assert_int_equal(demi_wait(&qr, ot, &short_ts), EINVAL); /* consumed */
    demi_close(c);
    demi_close(l);
}

static void test_connect_to_closed_port_is_refused(void **s)
{
    (void)s;
    int c, hold;
    demi_qtoken_t ct;
    /* a port bound but not listening: nobody else (a test running beside
     * this one, over kernel sockets) can be listening on it meanwhile */
    assert_int_equal(demi_socket(&hold, fam(), SOCK_STREAM, 0), 0);
    union taddr sin;
    int rc, tries = 0;
    do {
        sin = addr_of(fresh_port());
        rc = demi_bind(hold, &sin.sa, alen());
    } while (rc == EADDRINUSE && ++tries < 100);
    assert_int_equal(rc, 0);
    assert_int_equal(demi_socket(&c, fam(), SOCK_STREAM, 0), 0);
    assert_int_equal(demi_connect(&ct, c, &sin.sa, alen()), 0);
    demi_qresult_t qr = wait_ok(ct);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_FAILED);
    assert_int_equal(qr.qr_ret, ECONNREFUSED);
    demi_close(c);
    demi_close(hold);
}

static void test_bind_twice_and_address_in_use(void **s)
{
    (void)s;
    uint16_t port = fresh_port();
    int a = listen_on(port, SOCK_STREAM), b;
    assert_int_equal(demi_socket(&b, fam(), SOCK_STREAM, 0), 0);
    union taddr sin = addr_of(port);
    assert_int_equal(demi_bind(b, &sin.sa, alen()), EADDRINUSE);
    union taddr other = addr_of(fresh_port());
    assert_int_equal(demi_bind(a, &other.sa, alen()), EINVAL); /* already bound */
    demi_close(a);
    demi_close(b);
}

static void test_names_of_connected_sockets(void **s)
{
    (void)s;
    uint16_t port = fresh_port();
    int l = listen_on(port, SOCK_STREAM), c, sv;
    connect_pair(l, port, &c, &sv);
    union taddr a, b;
    socklen_t la = sizeof(a), lb = sizeof(b);
    assert_int_equal(demi_getpeername(c, &a.sa, &la), 0);
    assert_int_equal(a.sa.sa_family, fam());
    assert_int_equal(ntohs(a.sin.sin_port), port);
    assert_int_equal(demi_getsockname(c, &b.sa, &lb), 0);
    union taddr p;
    socklen_t lp = sizeof(p);
    assert_int_equal(demi_getpeername(sv, &p.sa, &lp), 0);
    assert_int_equal(p.sin.sin_port, b.sin.sin_port);
    assert_int_equal(lp, alen());
    socklen_t z = sizeof(a);
    assert_int_equal(demi_getpeername(l, &a.sa, &z), ENOTCONN);
    int one = 1, v = 0;
    socklen_t lv = sizeof(v);
    assert_int_equal(demi_setsockopt(c, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof(one)), 0);
    assert_int_equal(demi_getsockopt(c, IPPROTO_TCP, 1 /* TCP_NODELAY */, &v, &lv), 0);
    assert_true(v != 0);
    demi_close(c);
    demi_close(sv);
    demi_close(l);
}

static void test_bad_arguments_never_crash(void **s)
{
    (void)s;
    int qd;
    demi_qtoken_t qt;
    demi_qresult_t qr;
    union taddr sin = addr_of(1);
    assert_int_equal(demi_socket(NULL, fam(), SOCK_STREAM, 0), EINVAL);
    assert_int_equal(demi_socket(&qd, AF_UNIX, SOCK_STREAM, 0), EAFNOSUPPORT);
    assert_int_equal(demi_bind(12345, &sin.sa, alen()), EBADF);
    assert_int_equal(demi_listen(-1, 1), EBADF);
    assert_int_equal(demi_accept(NULL, 5), EINVAL);
    assert_int_equal(demi_accept(&qt, DEMI_QD_BASE + 999), EBADF);
    assert_int_equal(demi_connect(&qt, -3, &sin.sa, alen()), EBADF);
    assert_int_equal(demi_close(-1), EBADF);
    assert_int_equal(demi_push(&qt, DEMI_QD_BASE + 999, NULL), EBADF);
    assert_int_equal(demi_pop(NULL, 1), EINVAL);
    assert_int_equal(demi_wait(NULL, 1, NULL), EINVAL);
    assert_int_equal(demi_wait(&qr, 0x123456789ull, &FOREVER_5S), EINVAL);
    struct timespec bad = {0, 2000000000L};
    assert_int_equal(demi_wait(&qr, 1, &bad), EINVAL);
    assert_int_equal(demi_wait_any(&qr, NULL, &qt, 1, NULL), EINVAL);
    int n;
    assert_int_equal(demi_wait_next_n(&qr, 0, &n, NULL), EINVAL);
    assert_int_equal(demi_sgafree(NULL), EINVAL);
    demi_sgarray_t z = demi_sgaalloc(0);
    assert_int_equal(z.sga_numsegs, 0);
    assert_int_equal(demi_setsockopt(-1, SOL_SOCKET, SO_REUSEADDR, &n, sizeof(n)), EBADF);
    socklen_t l = sizeof(sin);
    assert_int_equal(demi_getsockname(-1, (struct sockaddr *)&sin, &l), EBADF);
    assert_int_equal(demi_socket(&qd, fam(), SOCK_STREAM, 0), 0);
    assert_int_equal(demi_connect(&qt, qd, NULL, sizeof(sin)), EFAULT);
    assert_int_equal(demi_bind(qd, (struct sockaddr *)&sin, 3), EINVAL);
    assert_int_equal(demi_pop(&qt, qd), ENOTCONN);        /* never connected */
    demi_sgarray_t sga = demi_sgaalloc(4);
    assert_int_equal(demi_push(&qt, qd, &sga), ENOTCONN);
    demi_sgafree(&sga);
    assert_int_equal(demi_close(qd), 0);
}

int main(void)
{
    const char *be = getenv("DEMI_BACKEND");
    struct demi_args args = {0, NULL, NULL};
    int rc = demi_init(&args);
    if (rc == ENODEV) {
        printf("backend %s is not built: skipped\n", be ? be : "(default)");
        return 77;
    }
    if (rc != 0) {
        printf("demi_init failed: %s\n", strerror(rc));
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_echo_1b_to_1mib),
        cmocka_unit_test(test_tcp_many_concurrent_connections_echo),
        cmocka_unit_test(test_udp_echo_carries_peer_address),
        cmocka_unit_test(test_udp_datagram_bigger_than_a_buffer_arrives_whole),
        cmocka_unit_test(test_tcp_half_close_then_reply),
        cmocka_unit_test(test_tcp_shutdown_wr_after_large_push_delivers_all_then_eof),
        cmocka_unit_test(test_close_completes_pending_pop_with_ecanceled),
        cmocka_unit_test(test_connect_to_closed_port_is_refused),
        cmocka_unit_test(test_bind_twice_and_address_in_use),
        cmocka_unit_test(test_names_of_connected_sockets),
        cmocka_unit_test(test_bad_arguments_never_crash),
    };
    return cmocka_run_group_tests_name(be ? be : "posix", tests, NULL, NULL);
}
