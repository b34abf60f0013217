/* SPDX-License-Identifier: MIT */
/*
 * Our TCP/IP stack on the DPDK device, end to end: two processes over
 * net_memif, each running stacks/inet (DEMI_BACKEND=dpdk), one instance
 * each, driven through the dm_* API.
 *
 * The child is a server (10.9.0.1, fd09::1): TCP echo on 7 (on 17 over
 * IPv6), a TCP "verify sink" on
 * 9 (the stream starts with its 8-byte length, the rest must follow
 * pattern(offset); it answers "OK" or "BAD" once all arrived), UDP echo on
 * 7, and UDP control on 8 ("CONNECT a.b.c.d port": it connects back and
 * sends a greeting; "QUIT": it exits 0). The parent (10.9.0.2) runs the
 * checks. Skips (77) when the library has no "dpdk" backend.
 *
 * DPDK_STACK_MTU=9000 runs the same checks with that MTU on both ends,
 * the client's memif buffers made to hold a whole frame (bsize=), and
 * checks that frames that long did cross (dpdk_stack_memif_jumbo).
 *
 * STACK_DEVS=S,C puts the server (S) and the client (C) each on `dpdk`
 * (DPDK's net_memif) or `memif` (our own driver, devices/memif): both on
 * ours (memif_stack), and ours against DPDK's either way round
 * (memif_stack_dpdk_server, memif_stack_dpdk_client), which is the
 * protocol's interoperability test. With MTU 9000 our client keeps its
 * 2048 B buffers, so each long frame spans several descriptors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "dm/instance.h"
#include "dm/stack.h"
#include "dm/stats.h"

#define SRV_IP "10.9.0.1"
#define CLI_IP "10.9.0.2"
#define SRV_IP6 "fd09::1"
#define CLI_IP6 "fd09::2"
#define SEC 1000000000ll

static char sock_path[128];
static pid_t server_pid;
static struct dm_instance *inst;

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * SEC + ts.tv_nsec;
}

static inline uint8_t pattern(uint64_t o)
{
    uint32_t x = (uint32_t)(o >> 2) * 2654435761u;
    return (uint8_t)(x >> (8 * (o & 3)));
}

static int test_mtu(void)
{
    const char *m = getenv("DPDK_STACK_MTU");
    return m && *m ? atoi(m) : 0;
}

/* DPDK_STACK_HUGE=1 (test/dpdk/memif_huge.sh, with hugepages): the client
 * (this process) leaves the memory to the EAL, which maps hugepage files;
 * the server stays on --no-huge. */
static bool test_huge(void)
{
    const char *z = getenv("DPDK_STACK_HUGE");
    return z && *z == '1';
}

/* The device of role (server, client): dpdk unless STACK_DEVS says memif. */
static bool role_native(bool client)
{
    const char *d = getenv("STACK_DEVS");
    if (!d || !*d)
        return false;
    const char *c = strchr(d, ',');
    return client ? c && !strcmp(c + 1, "memif") : !strncmp(d, "memif", 5) && (d[5] == ',' || !d[5]);
}

/* The client's device counter `what` ("dpdk.tx", "memif.tx"). */
static const char *cli_stat(const char *what)
{
    static char b[2][32];
    static int i;
    i ^= 1;
    snprintf(b[i], sizeof(b[i]), "%s.%s", role_native(true) ? "memif" : "dpdk", what);
    return b[i];
}

static bool any_dpdk(void)
{
    return !role_native(false) || !role_native(true);
}

static int make_instance(const char *role, const char *ip, struct dm_instance **out)
{
    struct dm_config cfg;
    char args[256], cidr[32], mtu[16];
    dm_config_init(&cfg);
    bool client = !strcmp(role, "client");
    if (role_native(client)) {
        snprintf(cidr, sizeof(cidr), "%s/24", ip);
        dm_config_set(&cfg, "DEMI_BACKEND", "memif");
        dm_config_set(&cfg, "DEMI_MEMIF_ROLE", role);
        dm_config_set(&cfg, "DEMI_MEMIF_SOCKET", sock_path);
        dm_config_set(&cfg, "DEMI_MEMIF_RX_CKSUM", "verify");
        dm_config_set(&cfg, "DEMI_MEMIF_LINK_WAIT_MS", "20000");
        dm_config_set(&cfg, "DEMI_IPV6", client ? CLI_IP6 "/64" : SRV_IP6 "/64");
        if (test_mtu()) {
            snprintf(mtu, sizeof(mtu), "%d", test_mtu());
            dm_config_set(&cfg, "DEMI_MTU", mtu);
            /* DPDK's server would merge chained frames (see the last
             * test): against it, a buffer a frame */
            if (any_dpdk())
                dm_config_set(&cfg, "DEMI_MEMIF_BUF_SIZE", "16384");
        }
        dm_config_set(&cfg, "DEMI_IPV4", cidr);
        return dm_instance_create(&cfg, out);
    }
    snprintf(args, sizeof(args), "%s--vdev=net_memif0,role=%s,socket=%s%s",
             client && test_huge() ? "" : "--no-huge -m 512 ", role, sock_path,
             test_mtu() && client ? ",bsize=16384" : "");
    snprintf(cidr, sizeof(cidr), "%s/24", ip);
    /* both ends verify what crosses (the default trusts memif), so that a
     * checksum the sender's copy completed wrongly fails the test */
    dm_config_set(&cfg, "DEMI_DPDK_MEMIF_RX_CKSUM", "verify");
    dm_config_set(&cfg, "DEMI_IPV6", client ? CLI_IP6 "/64" : SRV_IP6 "/64");
    if (test_mtu()) {
        snprintf(mtu, sizeof(mtu), "%d", test_mtu());
        dm_config_set(&cfg, "DEMI_MTU", mtu);
    }
    dm_config_set(&cfg, "DEMI_BACKEND", "dpdk");
    dm_config_set(&cfg, "DEMI_DPDK_ARGS", args);
    dm_config_set(&cfg, "DEMI_DPDK_LINK_WAIT_MS", "20000");
    dm_config_set(&cfg, "DEMI_IPV4", cidr);
    return dm_instance_create(&cfg, out);
}

static struct sockaddr_in sin_of(const char *ip, int port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, ip, &sa.sin_addr);
    return sa;
}

static uint32_t sga_len(const demi_sgarray_t *s)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->sga_numsegs; i++)
        n += s->sga_segs[i].sgaseg_len;
    return n;
}

/* ---------------- server (child) ---------------- */

enum kind { K_ACC_ECHO, K_ACC_SINK, K_ACC_STALL, K_ECHO, K_SINK, K_UDP_ECHO, K_UDP_CTL, K_CONNECT, K_PUSH, K_PUSH_CLOSE };
struct tok {
    demi_qtoken_t qt;
    enum kind kind;
    int qd;
};
struct sink {
    uint64_t total, got;
    int bad;
};
#define MAX_TOKS 1024
static struct tok toks[MAX_TOKS];
static demi_qtoken_t qts[MAX_TOKS];
static int ntoks;
static struct sink sinks[4096];

static void add(struct dm_instance *si, enum kind k, int qd, demi_qtoken_t qt)
{
    (void)si;
    if (ntoks < MAX_TOKS) {
        toks[ntoks] = (struct tok){ qt, k, qd };
        qts[ntoks++] = qt;
    }
}

static int server_main(void)
{
    struct dm_instance *si;
    int rc = make_instance("server", SRV_IP, &si);
    if (rc < 0)
        return 10;
    int lecho, lsink, lstall, uecho, uctl, lecho6;
    struct sockaddr_in a;
    struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(17) };
    demi_qtoken_t qt;
    inet_pton(AF_INET6, SRV_IP6, &a6.sin6_addr);
    if (dm_socket(si, &lecho6, AF_INET6, SOCK_STREAM, 0) || dm_bind(si, lecho6, (struct sockaddr *)&a6, sizeof(a6)) ||
        dm_listen(si, lecho6, 16))
        return 11;
    if (dm_socket(si, &lecho, AF_INET, SOCK_STREAM, 0) || dm_socket(si, &lsink, AF_INET, SOCK_STREAM, 0) ||
        dm_socket(si, &uecho, AF_INET, SOCK_DGRAM, 0) || dm_socket(si, &uctl, AF_INET, SOCK_DGRAM, 0) ||
        dm_socket(si, &lstall, AF_INET, SOCK_STREAM, 0))
        return 11;
    a = sin_of(SRV_IP, 7);
    if (dm_bind(si, lecho, (struct sockaddr *)&a, sizeof(a)) || dm_listen(si, lecho, 128))
        return 12;
    if (dm_bind(si, uecho, (struct sockaddr *)&a, sizeof(a)))
        return 12;
    a = sin_of(SRV_IP, 9);
    if (dm_bind(si, lsink, (struct sockaddr *)&a, sizeof(a)) || dm_listen(si, lsink, 16))
        return 12;
    a = sin_of(SRV_IP, 8);
    if (dm_bind(si, uctl, (struct sockaddr *)&a, sizeof(a)))
        return 12;
    a = sin_of(SRV_IP, 10); /* accepts and never reads */
    if (dm_bind(si, lstall, (struct sockaddr *)&a, sizeof(a)) || dm_listen(si, lstall, 128))
        return 12;
    dm_accept(si, &qt, lecho), add(si, K_ACC_ECHO, lecho, qt);
    dm_accept(si, &qt, lecho6), add(si, K_ACC_ECHO, lecho6, qt);
    dm_accept(si, &qt, lsink), add(si, K_ACC_SINK, lsink, qt);
    dm_accept(si, &qt, lstall), add(si, K_ACC_STALL, lstall, qt);
    dm_pop(si, &qt, uecho), add(si, K_UDP_ECHO, uecho, qt);
    dm_pop(si, &qt, uctl), add(si, K_UDP_CTL, uctl, qt);
    int64_t idle_since = mono_ns();
    for (;;) {
        demi_qresult_t qr;
        int off;
        rc = dm_wait_any(si, &qr, &off, qts, ntoks, SEC / 10);
        if (rc == -ETIMEDOUT) {
            if (mono_ns() - idle_since > 60 * SEC)
                return 13; /* the parent is gone */
            continue;
        }
        if (rc < 0)
            return 14;
        idle_since = mono_ns();
        struct tok t = toks[off];
        toks[off] = toks[ntoks - 1];
        qts[off] = qts[ntoks - 1];
        ntoks--;
        int failed = qr.qr_opcode == DEMI_OPC_FAILED;
        demi_sgarray_t sga = qr.qr_value.sga;
        switch (t.kind) {
        case K_ACC_STALL:
            if (dm_accept(si, &qt, t.qd) == 0)
                add(si, t.kind, t.qd, qt);
            break;
        case K_ACC_ECHO:
        case K_ACC_SINK:
            if (!failed) {
                int c = qr.qr_value.ares.qd;
                if (t.kind == K_ACC_SINK && c >= 0)
                    sinks[c % 4096] = (struct sink){ 0, 0, 0 };
                if (dm_pop(si, &qt, c) == 0)
                    add(si, t.kind == K_ACC_ECHO ? K_ECHO : K_SINK, c, qt);
            }
            if (dm_accept(si, &qt, t.qd) == 0)
                add(si, t.kind, t.qd, qt);
            break;
        case K_ECHO:
            if (failed || sga_len(&sga) == 0) {
                if (!failed)
                    dm_sgafree(si, &sga);
                dm_close(si, t.qd);
                break;
            }
            if (dm_push(si, &qt, t.qd, &sga) == 0)
                add(si, K_PUSH, t.qd, qt);
            dm_sgafree(si, &sga); /* the push holds its own references */
            if (dm_pop(si, &qt, t.qd) == 0)
                add(si, K_ECHO, t.qd, qt);
            break;
        case K_SINK: {
            struct sink *s = &sinks[t.qd % 4096];
            if (failed || sga_len(&sga) == 0) {
                if (!failed)
                    dm_sgafree(si, &sga);
                dm_close(si, t.qd);
                break;
            }
            for (uint32_t i = 0; i < sga.sga_numsegs; i++) {
                const uint8_t *p = sga.sga_segs[i].sgaseg_buf;
                for (uint32_t j = 0; j < sga.sga_segs[i].sgaseg_len; j++, s->got++) {
                    if (s->got < 8)
                        s->total |= (uint64_t)p[j] << (8 * s->got);
                    else if (p[j] != pattern(s->got - 8))
                        s->bad = 1;
                }
            }
            dm_sgafree(si, &sga);
            if (s->got >= 8 && s->got - 8 >= s->total) {
                demi_sgarray_t r = dm_sgaalloc(si, 3, &rc);
                memcpy(r.sga_segs[0].sgaseg_buf, s->bad || s->got - 8 != s->total ? "BAD" : "OK!", 3);
                if (dm_push(si, &qt, t.qd, &r) == 0)
                    add(si, K_PUSH, t.qd, qt);
                dm_sgafree(si, &r);
            }
            if (dm_pop(si, &qt, t.qd) == 0)
                add(si, K_SINK, t.qd, qt);
            break;
        }
        case K_UDP_ECHO:
            if (!failed) {
                struct sockaddr_in from = sga.sga_addr;
                if (dm_pushto(si, &qt, t.qd, &sga, (struct sockaddr *)&from, sizeof(from)) == 0)
                    add(si, K_PUSH, t.qd, qt);
                dm_sgafree(si, &sga);
            }
            if (dm_pop(si, &qt, t.qd) == 0)
                add(si, K_UDP_ECHO, t.qd, qt);
            break;
        case K_UDP_CTL: {
            char cmd[64] = { 0 };
            if (!failed) {
                uint32_t l = sga_len(&sga);
                memcpy(cmd, sga.sga_segs[0].sgaseg_buf, l < 63 ? l : 63);
                dm_sgafree(si, &sga);
            }
            char ip[32];
            int port;
            if (strcmp(cmd, "QUIT") == 0) {
                dm_instance_destroy(si);
                return 0;
            }
            if (sscanf(cmd, "CONNECT %31s %d", ip, &port) == 2) {
                int c;
                struct sockaddr_in to = sin_of(ip, port);
                if (dm_socket(si, &c, AF_INET, SOCK_STREAM, 0) == 0 &&
                    dm_connect(si, &qt, c, (struct sockaddr *)&to, sizeof(to)) == 0)
                    add(si, K_CONNECT, c, qt);
            }
            if (dm_pop(si, &qt, t.qd) == 0)
                add(si, K_UDP_CTL, t.qd, qt);
            break;
        }
        case K_CONNECT:
            if (!failed) {
                demi_sgarray_t r = dm_sgaalloc(si, 17, &rc);
                memcpy(r.sga_segs[0].sgaseg_buf, "hello-from-server", 17);
                if (dm_push(si, &qt, t.qd, &r) == 0)
                    add(si, K_PUSH_CLOSE, t.qd, qt);
                dm_sgafree(si, &r);
            } else {
                dm_close(si, t.qd);
            }
            break;
        case K_PUSH:
            break;
        case K_PUSH_CLOSE:
            dm_close(si, t.qd);
            break;
        }
    }
}

/* ---------------- client helpers ---------------- */

static void wait_ok(demi_qtoken_t qt, demi_qresult_t *qr, int64_t timeout_s)
{
    int rc = dm_wait(inst, qr, qt, timeout_s * SEC);
    assert_int_equal(rc, 0);
    if (qr->qr_opcode == DEMI_OPC_FAILED)
        fail_msg("operation failed: %s", strerror((int)qr->qr_ret));
}

static int tcp_connect(int port)
{
    int qd;
    demi_qtoken_t qt;
    demi_qresult_t qr;
    struct sockaddr_in to = sin_of(SRV_IP, port);
    assert_int_equal(dm_socket(inst, &qd, AF_INET, SOCK_STREAM, 0), 0);
    assert_int_equal(dm_connect(inst, &qt, qd, (struct sockaddr *)&to, sizeof(to)), 0);
    wait_ok(qt, &qr, 20);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_CONNECT);
    return qd;
}

static int tcp_connect6(int port)
{
    int qd;
    demi_qtoken_t qt;
    demi_qresult_t qr;
    struct sockaddr_in6 to = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };
    inet_pton(AF_INET6, SRV_IP6, &to.sin6_addr);
    assert_int_equal(dm_socket(inst, &qd, AF_INET6, SOCK_STREAM, 0), 0);
    assert_int_equal(dm_connect(inst, &qt, qd, (struct sockaddr *)&to, sizeof(to)), 0);
    wait_ok(qt, &qr, 20);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_CONNECT);
    return qd;
}

/* Pushes len bytes (one sgarray) and pops the echo concurrently; checks it. */
static void echo_check(int qd, uint32_t len, uint32_t salt)
{
    int err;
    demi_sgarray_t s = dm_sgaalloc(inst, len, &err);
    assert_int_equal(err, 0);
    uint8_t *p = s.sga_segs[0].sgaseg_buf;
    for (uint32_t i = 0; i < len; i++)
        p[i] = pattern(i + salt);
    demi_qtoken_t w[2];
    assert_int_equal(dm_push(inst, &w[0], qd, &s), 0);
    assert_int_equal(dm_sgafree(inst, &s), 0);
    assert_int_equal(dm_pop(inst, &w[1], qd), 0);
    int pushing = 1;
    uint32_t got = 0;
    int64_t deadline = mono_ns() + 60 * SEC;
    while (pushing || got < len) {
        demi_qresult_t qr;
        int off;
        int n = pushing ? 2 : 1;
        demi_qtoken_t *ws = pushing ? w : &w[1];
        int rc = dm_wait_any(inst, &qr, &off, ws, n, SEC);
        assert_true(mono_ns() < deadline);
        if (rc == -ETIMEDOUT)
            continue;
        assert_int_equal(rc, 0);
        if (qr.qr_opcode == DEMI_OPC_FAILED)
            fail_msg("echo of %u bytes: %s after %u", len, strerror((int)qr.qr_ret), got);
        if (qr.qr_opcode == DEMI_OPC_PUSH) {
            pushing = 0;
            continue;
        }
        demi_sgarray_t *r = &qr.qr_value.sga;
        assert_true(sga_len(r) > 0);
        for (uint32_t i = 0; i < r->sga_numsegs; i++) {
            const uint8_t *q = r->sga_segs[i].sgaseg_buf;
            for (uint32_t j = 0; j < r->sga_segs[i].sgaseg_len; j++, got++) {
                assert_true(got < len);
                if (q[j] != pattern(got + salt))
                    fail_msg("echo of %u bytes differs at %u", len, got);
            }
        }
        dm_sgafree(inst, r);
        if (got < len)
            assert_int_equal(dm_pop(inst, &w[1], qd), 0);
    }
}

static void udp_send(int qd, const char *ip, int port, const void *data, uint32_t len)
{
    int err;
    demi_qtoken_t qt;
    demi_qresult_t qr;
    demi_sgarray_t s = dm_sgaalloc(inst, len, &err);
    assert_int_equal(err, 0);
    memcpy(s.sga_segs[0].sgaseg_buf, data, len);
    struct sockaddr_in to = sin_of(ip, port);
    assert_int_equal(dm_pushto(inst, &qt, qd, &s, (struct sockaddr *)&to, sizeof(to)), 0);
    dm_sgafree(inst, &s);
    wait_ok(qt, &qr, 10);
}

/* ---------------- setup ---------------- */

static int fd_before; /* the lowest free descriptor before the datapath starts */

static int group_setup(void **state)
{
    (void)state;
    fd_before = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd_before >= 0)
        close(fd_before);
    snprintf(sock_path, sizeof(sock_path), "/tmp/demi_dpdk_stack_%d.sock", (int)getpid());
    unlink(sock_path);
    fflush(NULL);
    server_pid = fork();
    if (server_pid == 0) {
        alarm(300);
        exit(server_main()); /* exit, not _exit: atexit removes the EAL runtime dir */
    }
    int rc = make_instance("client", CLI_IP, &inst);
    if (rc < 0) {
        fprintf(stderr, "client instance: %s\n", strerror(-rc));
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (inst)
        dm_instance_destroy(inst);
    int rc = 0;
    if (server_pid > 0) {
        int status = 0;
        /* a server that died on its own is a failure (a crash shows here) */
        if (waitpid(server_pid, &status, WNOHANG) == server_pid) {
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "the server died: %s %d\n", WIFSIGNALED(status) ? "signal" : "exit status",
                        WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
                rc = -1;
            }
        } else {
            kill(server_pid, SIGKILL);
            waitpid(server_pid, NULL, 0);
        }
    }
    unlink(sock_path);
    return rc;
}

/* ---------------- tests ---------------- */

/* The EAL and the memif port are up (group_setup), or our memif device
 * and its connection: their descriptors sit above 256, so the program's
 * next ones are low (select, small event loops: wrk's connects failed
 * when they were not). */
static void test_dpdk_descriptors_leave_the_low_numbers_free(void **state)
{
    (void)state;
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    close(fd);
    fprintf(stderr, "first free descriptor: %d before the datapath started, %d after\n", fd_before, fd);
    if (fd > fd_before + 4)
        fail_msg("the first free descriptor was %d before the datapath started, %d after", fd_before, fd);
}

static void test_tcp_echo_1B_to_1MiB(void **state)
{
    (void)state;
    static const uint32_t sizes[] = { 1, 2, 63, 64, 1000, 1460, 1461, 2920, 4096, 65535, 65536, 262144, 1 << 20 };
    int qd = tcp_connect(7);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        echo_check(qd, sizes[i], (uint32_t)i * 977);
    assert_int_equal(dm_close(inst, qd), 0);
}

/* The same over IPv6: memif has no checksum offload, and the device
 * completes the stack's IPv6 TCP checksums in its copy as it does IPv4's
 * (DM_DEV_CAP_TX_L4_CKSUM6); both ends verify them here. */
static void test_tcp_echo_over_ipv6(void **state)
{
    (void)state;
    static const uint32_t sizes[] = { 1, 63, 1000, 1440, 1441, 65536, 1 << 20 };
    int64_t bad = dm_stats_get(inst, "tcp.rx_bad_csum");
    int qd = tcp_connect6(17);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        echo_check(qd, sizes[i], (uint32_t)i * 1013);
    assert_int_equal(dm_close(inst, qd), 0);
    assert_int_equal(dm_stats_get(inst, "tcp.rx_bad_csum"), bad);
}

static void test_tcp_bulk_64MiB_byte_exact(void **state)
{
    (void)state;
    const uint64_t total = 64ull << 20;
    const uint32_t chunk = 256 * 1024;
    int64_t tx0 = dm_stats_get(inst, cli_stat("tx")), txb0 = dm_stats_get(inst, cli_stat("tx_bytes"));
    int64_t gso0 = role_native(true) ? 0 : dm_stats_get(inst, "dpdk.tx_gso");
    int qd = tcp_connect(9);
    int err;
    demi_qtoken_t qt;
    demi_qresult_t qr;
    demi_sgarray_t h = dm_sgaalloc(inst, 8, &err);
    memcpy(h.sga_segs[0].sgaseg_buf, &total, 8);
    assert_int_equal(dm_push(inst, &qt, qd, &h), 0);
    dm_sgafree(inst, &h);
    wait_ok(qt, &qr, 10);
    int64_t t0 = mono_ns();
    /* up to 4 pushes in flight */
    demi_qtoken_t inflight[4];
    int nin = 0;
    for (uint64_t off = 0; off < total || nin; ) {
        if (off < total && nin < 4) {
            demi_sgarray_t s = dm_sgaalloc(inst, chunk, &err);
            assert_int_equal(err, 0);
            uint8_t *p = s.sga_segs[0].sgaseg_buf;
            for (uint32_t i = 0; i < chunk; i++)
                p[i] = pattern(off + i);
            assert_int_equal(dm_push(inst, &inflight[nin++], qd, &s), 0);
            dm_sgafree(inst, &s);
            off += chunk;
            continue;
        }
        int o;
        assert_int_equal(dm_wait_any(inst, &qr, &o, inflight, nin, 60 * SEC), 0);
        assert_int_equal(qr.qr_opcode, DEMI_OPC_PUSH);
        inflight[o] = inflight[--nin];
    }
    assert_int_equal(dm_pop(inst, &qt, qd), 0);
    wait_ok(qt, &qr, 60);
    double secs = (double)(mono_ns() - t0) / SEC;
    assert_int_equal(sga_len(&qr.qr_value.sga), 3);
    assert_memory_equal(qr.qr_value.sga.sga_segs[0].sgaseg_buf, "OK!", 3);
    dm_sgafree(inst, &qr.qr_value.sga);
    fprintf(stderr, "64 MiB verified by the peer in %.2f s (%.2f Gbit/s)\n", secs, total * 8 / secs / 1e9);
    dm_close(inst, qd);
    if (!role_native(true)) {
        /* DPDK's memif has no TSO: we cut the stack's 64 KiB frames
         * ourselves (dpdk_io.c, gso_pump), and the peer got every byte */
        int64_t gso = dm_stats_get(inst, "dpdk.tx_gso") - gso0;
        fprintf(stderr, "%lld TSO frames cut by the device\n", (long long)gso);
        assert_true(gso >= (int64_t)(total / 65536 / 2)); /* most of the bytes */
    }
    if (test_mtu() > 1500) {
        /* the data went in frames of the MTU: on average well above the
         * 1514 B a frame of the port's own MTU can hold */
        int64_t frames = dm_stats_get(inst, cli_stat("tx")) - tx0, bytes = dm_stats_get(inst, cli_stat("tx_bytes")) - txb0;
        fprintf(stderr, "%lld frames, %lld B each on average\n", (long long)frames,
                (long long)(frames ? bytes / frames : 0));
        assert_true(frames > 0 && bytes / frames > 4000);
    }
}

static void test_tcp_100_concurrent_connections(void **state)
{
    (void)state;
    enum { N = 100 };
    int qds[N];
    demi_qtoken_t qts_[N];
    demi_qresult_t qr;
    struct sockaddr_in to = sin_of(SRV_IP, 7);
    for (int i = 0; i < N; i++) {
        assert_int_equal(dm_socket(inst, &qds[i], AF_INET, SOCK_STREAM, 0), 0);
        assert_int_equal(dm_connect(inst, &qts_[i], qds[i], (struct sockaddr *)&to, sizeof(to)), 0);
    }
    for (int i = 0; i < N; i++) {
        wait_ok(qts_[i], &qr, 30);
        assert_int_equal(qr.qr_opcode, DEMI_OPC_CONNECT);
    }
    /* a distinct message on each, all in flight at once */
    for (int i = 0; i < N; i++) {
        int err;
        demi_sgarray_t s = dm_sgaalloc(inst, 100, &err);
        memset(s.sga_segs[0].sgaseg_buf, 'A' + i % 26, 100);
        memcpy(s.sga_segs[0].sgaseg_buf, &i, sizeof(i));
        demi_qtoken_t pt;
        assert_int_equal(dm_push(inst, &pt, qds[i], &s), 0);
        dm_sgafree(inst, &s);
    }
    for (int i = 0; i < N; i++) {
        uint8_t got[100];
        uint32_t n = 0;
        while (n < 100) {
            demi_qtoken_t pt;
            assert_int_equal(dm_pop(inst, &pt, qds[i]), 0);
            wait_ok(pt, &qr, 30);
            uint32_t l = sga_len(&qr.qr_value.sga);
            assert_true(l > 0 && n + l <= 100);
            for (uint32_t k = 0; k < qr.qr_value.sga.sga_numsegs; k++) {
                memcpy(got + n, qr.qr_value.sga.sga_segs[k].sgaseg_buf, qr.qr_value.sga.sga_segs[k].sgaseg_len);
                n += qr.qr_value.sga.sga_segs[k].sgaseg_len;
            }
            dm_sgafree(inst, &qr.qr_value.sga);
        }
        int id;
        memcpy(&id, got, sizeof(id));
        assert_int_equal(id, i);
        assert_int_equal(got[99], 'A' + i % 26);
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(dm_close(inst, qds[i]), 0);
}

static void test_udp_echo(void **state)
{
    (void)state;
    int qd;
    demi_qtoken_t qt;
    demi_qresult_t qr;
    assert_int_equal(dm_socket(inst, &qd, AF_INET, SOCK_DGRAM, 0), 0);
    struct sockaddr_in me = sin_of(CLI_IP, 5555);
    assert_int_equal(dm_bind(inst, qd, (struct sockaddr *)&me, sizeof(me)), 0);
    static const uint32_t sizes[] = { 1, 18, 100, 1000, 1472 };
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        uint8_t msg[1472];
        for (uint32_t j = 0; j < sizes[i]; j++)
            msg[j] = pattern(j + 31 * i);
        int ok = 0;
        /* UDP may lose the first datagram while ARP resolves: resend, with
         * the same pop still pending */
        assert_int_equal(dm_pop(inst, &qt, qd), 0);
        for (int attempt = 0; attempt < 5 && !ok; attempt++) {
            udp_send(qd, SRV_IP, 7, msg, sizes[i]);
            if (dm_wait(inst, &qr, qt, SEC) != 0)
                continue;
            assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
            assert_int_equal(sga_len(&qr.qr_value.sga), sizes[i]);
            assert_memory_equal(qr.qr_value.sga.sga_segs[0].sgaseg_buf, msg, sizes[i]);
            assert_int_equal(ntohs(qr.qr_value.sga.sga_addr.sin_port), 7);
            dm_sgafree(inst, &qr.qr_value.sga);
            ok = 1;
        }
        /* drain duplicates of resent datagrams */
        for (int k = 0; ok && k < 5; k++) {
            assert_int_equal(dm_pop(inst, &qt, qd), 0);
            if (dm_wait(inst, &qr, qt, SEC / 20) != 0)
                break;
            dm_sgafree(inst, &qr.qr_value.sga);
        }
        assert_true(ok);
    }
    dm_close(inst, qd);
}

static void test_tcp_connect_from_the_other_side(void **state)
{
    (void)state;
    int lqd, uqd;
    demi_qtoken_t qt;
    demi_qresult_t qr;
    assert_int_equal(dm_socket(inst, &lqd, AF_INET, SOCK_STREAM, 0), 0);
    struct sockaddr_in me = sin_of(CLI_IP, 8000);
    assert_int_equal(dm_bind(inst, lqd, (struct sockaddr *)&me, sizeof(me)), 0);
    assert_int_equal(dm_listen(inst, lqd, 4), 0);
    assert_int_equal(dm_accept(inst, &qt, lqd), 0);
    assert_int_equal(dm_socket(inst, &uqd, AF_INET, SOCK_DGRAM, 0), 0);
    udp_send(uqd, SRV_IP, 8, "CONNECT " CLI_IP " 8000", (uint32_t)strlen("CONNECT " CLI_IP " 8000"));
    wait_ok(qt, &qr, 20);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_ACCEPT);
    int c = qr.qr_value.ares.qd;
    assert_int_equal(qr.qr_value.ares.addr.sin_addr.s_addr, sin_of(SRV_IP, 0).sin_addr.s_addr);
    char got[32];
    uint32_t n = 0;
    while (n < 17) {
        assert_int_equal(dm_pop(inst, &qt, c), 0);
        wait_ok(qt, &qr, 10);
        uint32_t l = sga_len(&qr.qr_value.sga);
        assert_true(l > 0 && n + l <= 17);
        memcpy(got + n, qr.qr_value.sga.sga_segs[0].sgaseg_buf, l);
        n += l;
        dm_sgafree(inst, &qr.qr_value.sga);
    }
    assert_memory_equal(got, "hello-from-server", 17);
    dm_close(inst, c);
    dm_close(inst, lqd);
    /* and let the server go: it exits 0 on QUIT */
    udp_send(uqd, SRV_IP, 8, "QUIT", 4);
    int status = 0;
    int64_t t0 = mono_ns();
    while (waitpid(server_pid, &status, WNOHANG) == 0) {
        assert_true(mono_ns() - t0 < 10 * SEC);
        usleep(10000);
        dm_poll(inst, 0);
    }
    server_pid = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    dm_close(inst, uqd);
}

/* Connections whose application never reads: the server keeps what they
 * send, up to its receive window each. 80 x 200 KiB is more than its
 * port's 8191 mbufs hold, and once the pool was gone nothing could be
 * received at all (not even an ACK). Past three quarters used the port
 * marks what it receives scarce and TCP copies what it queues: every byte
 * is taken in, and a fresh connection still echoes. */
static void test_tcp_unread_connections_do_not_starve_the_port(void **state)
{
    (void)state;
    enum { N = 80, LEN = 200 << 10 };
    int qd[N];
    demi_qtoken_t qt[N];
    for (int i = 0; i < N; i++) {
        int err;
        qd[i] = tcp_connect(10);
        demi_sgarray_t s = dm_sgaalloc(inst, LEN, &err);
        assert_int_equal(err, 0);
        memset(s.sga_segs[0].sgaseg_buf, i, LEN);
        assert_int_equal(dm_push(inst, &qt[i], qd[i], &s), 0);
        assert_int_equal(dm_sgafree(inst, &s), 0);
    }
    /* every push completes: the server took in all 16 MB */
    int left = N;
    int64_t deadline = mono_ns() + 60 * SEC;
    while (left > 0) {
        demi_qresult_t qr;
        int off;
        int rc = dm_wait_any(inst, &qr, &off, qt, left, SEC);
        assert_true(mono_ns() < deadline);
        if (rc == -ETIMEDOUT)
            continue;
        assert_int_equal(rc, 0);
        assert_int_equal(qr.qr_opcode, DEMI_OPC_PUSH);
        qt[off] = qt[--left];
    }
    int e = tcp_connect(7);
    echo_check(e, 1000, 3);
    echo_check(e, 100000, 5);
    dm_close(inst, e);
    for (int i = 0; i < N; i++)
        dm_close(inst, qd[i]);
}

/* In a child (its own EAL): creating an instance with cfg's keys fails
 * with want (0: any error). */
static void expect_create_fails(const char *const *kv, int want)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        struct dm_config cfg;
        struct dm_instance *ci;
        dm_config_init(&cfg);
        unsetenv("DEMI_DPDK_ARGS");
        dm_config_set(&cfg, "DEMI_BACKEND", "dpdk");
        dm_config_set(&cfg, "DEMI_IPV4", "10.9.0.3/24");
        dm_config_set(&cfg, "DEMI_LOG", "error");
        for (; kv[0]; kv += 2)
            dm_config_set(&cfg, kv[0], kv[1]);
        int rc = dm_instance_create(&cfg, &ci);
        _exit(rc < 0 && (!want || rc == want) ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_bad_dpdk_config_fails_instance_creation(void **state)
{
    (void)state;
    const char *none[] = { NULL };
    expect_create_fails(none, 0); /* no DEMI_DPDK_ARGS: no port */
}

/* A client asking memif for frames longer than its buffers (bsize=, 2048
 * by default) is refused: DPDK 22.11's memif would merge such frames once
 * its ring wraps (devices/dpdk/dpdk.c memif_jumbo_check). */
static void test_memif_jumbo_needs_a_buffer_per_frame(void **state)
{
    (void)state;
    char args[256];
    snprintf(args, sizeof(args), "--no-huge -m 128 --vdev=net_memif0,role=client,socket=/tmp/demi_nobody_%d.sock",
             (int)getpid());
    const char *kv[] = { "DEMI_DPDK_ARGS", args, "DEMI_DPDK_LINK_WAIT_MS", "0", "DEMI_MTU", "9000", NULL };
    expect_create_fails(kv, -EINVAL);
}

int main(void)
{
    /* before this process starts its EAL: the child must start its own */
    const struct CMUnitTest config[] = {
        cmocka_unit_test(test_bad_dpdk_config_fails_instance_creation),
        cmocka_unit_test(test_memif_jumbo_needs_a_buffer_per_frame),
    };
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dpdk_descriptors_leave_the_low_numbers_free),
        cmocka_unit_test(test_tcp_echo_1B_to_1MiB),
        cmocka_unit_test(test_udp_echo),
        cmocka_unit_test(test_tcp_echo_over_ipv6),
        cmocka_unit_test(test_tcp_100_concurrent_connections),
        cmocka_unit_test(test_tcp_bulk_64MiB_byte_exact),
        cmocka_unit_test(test_tcp_unread_connections_do_not_starve_the_port),
        cmocka_unit_test(test_tcp_connect_from_the_other_side), /* last: the server quits */
    };
    if (any_dpdk() && !dm_stack_find("dpdk")) {
        fprintf(stderr, "SKIP: this build has no DEMI_BACKEND=dpdk (stacks/inet over devices/dpdk)\n");
        return 77;
    }
    int fails = 0;
    if (any_dpdk())
        fails += cmocka_run_group_tests_name("dpdk_stack_config", config, NULL, NULL);
    fails += cmocka_run_group_tests_name("dpdk_stack_memif", tests, group_setup, group_teardown);
    return fails ? 1 : 0;
}
