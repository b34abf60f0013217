/* SPDX-License-Identifier: MIT */
/*
 * A native-API echo server over memif (the demi API, memif server role, no
 * preload) and short-lived clients, one after the other, each its own
 * process on the demi API: some echo 96 KB byte-exact and exit, some are
 * killed with SIGKILL in the middle of their transfer, some stop their
 * memif port while a window's worth of data is still being echoed. The
 * server must survive all of them and serve every one.
 *
 * What it pins: a memif peer that leaves makes the PMD unmap the shared
 * rings on the EAL interrupt thread (memif_disconnect); a burst of the
 * server's packet path that is inside the PMD at that moment faults
 * (devices/dpdk/dpdk_gate.c). That takes the packet path being held up in
 * the middle of a burst, which a busy machine does rarely but surely; here
 * the server's mbuf pool stalls 100 us on every refill and flush of its
 * per-lcore cache, and memif refills in the middle of RX and flushes in the
 * middle of TX, so the server sits inside its bursts often enough for the
 * race to show within a few clients.
 *
 * DPDK_CLIENTS_HUGE=1 (test/dpdk/memif_huge.sh): the clients run on
 * hugepage files (their own, unlinked at creation).
 *
 * Skips (77) when the library has no dpdk backend.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <demi/libos.h>
#include <demi/sga.h>
#include <demi/wait.h>

#include <rte_ethdev.h>
#include <rte_mempool.h>

#include "dm/stack.h"

#define N_CLIENTS 30
#define ECHO_LEN (96 << 10)    /* bytes each finishing client echoes */
#define CHUNK (8 << 10)
#define SEC 1000000000ll

static char sock_path[128];
static char prefix[64];
static pid_t server_pid = -1;

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * SEC + ts.tv_nsec;
}

static inline uint8_t pattern(int client, uint64_t o)
{
    uint32_t x = (uint32_t)(o >> 2) * 2654435761u + (uint32_t)client * 40503u;
    return (uint8_t)(x >> (8 * (o & 3)));
}

static void set_env(const char *role, const char *ip, const char *pfx)
{
    char args[384], cidr[32];
    /* DPDK_CLIENTS_HUGE=1 (test/dpdk/memif_huge.sh): clients on hugepages */
    const char *h = getenv("DPDK_CLIENTS_HUGE");
    bool huge = h && *h == '1' && strcmp(role, "client") == 0;
    snprintf(args, sizeof(args), "%s--vdev=net_memif0,role=%s,socket=%s", huge ? "" : "--no-huge -m 256 ", role,
             sock_path);
    snprintf(cidr, sizeof(cidr), "%s/24", ip);
    setenv("DEMI_BACKEND", "dpdk", 1);
    setenv("DEMI_DPDK_ARGS", args, 1);
    setenv("DEMI_DPDK_PREFIX", pfx, 1);
    setenv("DEMI_DPDK_LINK_WAIT_MS", "10000", 1);
    setenv("DEMI_IPV4", cidr, 1);
    /* DPDK_CLIENTS_LOG=info shows each process's EAL arguments */
    setenv("DEMI_LOG", getenv("DPDK_CLIENTS_LOG") ? getenv("DPDK_CLIENTS_LOG") : "error", 1);
}

/* A child reports its own crash as a signal, not through cmocka's handlers. */
static void default_signals(void)
{
    const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        signal(sigs[i], SIG_DFL);
}

static void remove_runtime_dir(const char *pfx)
{
    /* a killed process leaves its EAL runtime directory behind */
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf /var/run/dpdk/%s /run/user/%d/dpdk/%s", pfx, (int)getuid(), pfx);
    (void)system(cmd);
}

/* ---------------- the server (child process) ---------------- */

/* The server's pool, slowed where the PMD calls it from inside a burst. */
static rte_mempool_enqueue_t pool_enqueue;
static rte_mempool_dequeue_t pool_dequeue;

static void stall(void)
{
    static unsigned calls;
    if (++calls % 16)
        return;
    struct timespec d = { 0, 100 * 1000 };
    nanosleep(&d, NULL);
}

static int slow_enqueue(struct rte_mempool *mp, void *const *objs, unsigned n)
{
    stall();
    return pool_enqueue(mp, objs, n);
}

static int slow_dequeue(struct rte_mempool *mp, void **objs, unsigned n)
{
    stall();
    return pool_dequeue(mp, objs, n);
}

static int slow_down_pool(void)
{
    /* the device's RX pool of port 0 (devices/dpdk/dpdk.c: "dm_rx%u") */
    struct rte_mempool *mp = rte_mempool_lookup("dm_rx0");
    if (!mp)
        return -1;
    struct rte_mempool_ops *ops = &rte_mempool_ops_table.ops[mp->ops_index];
    pool_enqueue = ops->enqueue;
    pool_dequeue = ops->dequeue;
    ops->enqueue = slow_enqueue;
    ops->dequeue = slow_dequeue;
    mp->cache_size = 0;
    return 0;
}

enum kind { K_ACCEPT, K_POP, K_PUSH };
#define MAX_TOKS 4096

/* TCP echo on 10.9.0.1:7 through the demi API until killed: every popped
 * sgarray is pushed back as is. Exit status: 10 setup, 11 too many
 * operations, 12 wait failed. */
static int server_main(void)
{
    static demi_qtoken_t qts[MAX_TOKS];
    static struct { enum kind kind; int qd; } meta[MAX_TOKS];
    int n = 0, lqd, rc;
    struct demi_args da = { 0 };
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(7) };
    inet_pton(AF_INET, "10.9.0.1", &sa.sin_addr);
    if (demi_init(&da) != 0 || slow_down_pool() != 0 || demi_socket(&lqd, AF_INET, SOCK_STREAM, 0) != 0 ||
        demi_bind(lqd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || demi_listen(lqd, 64) != 0 ||
        demi_accept(&qts[0], lqd) != 0)
        return 10;
    meta[0].kind = K_ACCEPT, meta[0].qd = lqd, n = 1;
    for (;;) {
        demi_qresult_t qr;
        demi_qtoken_t qt;
        int off;
        struct timespec to = { 1, 0 };
        rc = demi_wait_any(&qr, &off, qts, n, &to);
        if (rc == ETIMEDOUT)
            continue;
        if (rc != 0)
            return 12;
        enum kind k = meta[off].kind;
        int qd = meta[off].qd;
        qts[off] = qts[--n];
        meta[off] = meta[n];
        if (n + 2 > MAX_TOKS)
            return 11;
        bool failed = qr.qr_opcode == DEMI_OPC_FAILED;
        demi_sgarray_t sga = qr.qr_value.sga;
        switch (k) {
        case K_ACCEPT:
            if (!failed && demi_pop(&qt, qr.qr_value.ares.qd) == 0)
                qts[n] = qt, meta[n].kind = K_POP, meta[n++].qd = qr.qr_value.ares.qd;
            if (demi_accept(&qt, lqd) == 0)
                qts[n] = qt, meta[n].kind = K_ACCEPT, meta[n++].qd = lqd;
            break;
        case K_POP:
            if (failed || sga.sga_numsegs == 0) {
                if (!failed)
                    demi_sgafree(&sga);
                demi_close(qd);
                break;
            }
            if (demi_push(&qt, qd, &sga) == 0)
                qts[n] = qt, meta[n].kind = K_PUSH, meta[n++].qd = qd;
            demi_sgafree(&sga);
            if (demi_pop(&qt, qd) == 0)
                qts[n] = qt, meta[n].kind = K_POP, meta[n++].qd = qd;
            break;
        case K_PUSH:
            break;
        }
    }
}

/* ---------------- a client (child process) ---------------- */

static int wait_op(demi_qtoken_t qt, demi_qresult_t *qr)
{
    struct timespec to = { 10, 0 };
    if (demi_wait(qr, qt, &to) != 0 || qr->qr_opcode == DEMI_OPC_FAILED)
        return -1;
    return 0;
}

/* Echoes len bytes in chunks, checking every byte; after the first chunk
 * it writes one byte to progress_fd (the parent may kill it from then on).
 * Exit status: 0 all echoed, 2 setup, 3 connect, 4 push, 5 pop, 6 bad byte. */
static int client_main(int id, size_t len, int progress_fd)
{
    struct demi_args da = { 0 };
    if (demi_init(&da) != 0)
        return 2;
    int qd;
    demi_qtoken_t qt;
    demi_qresult_t qr;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(7) };
    inet_pton(AF_INET, "10.9.0.1", &sa.sin_addr);
    if (demi_socket(&qd, AF_INET, SOCK_STREAM, 0) != 0)
        return 2;
    if (demi_connect(&qt, qd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || wait_op(qt, &qr) != 0)
        return 3;
    size_t sent = 0, got = 0;
    while (got < len) {
        size_t n = len - sent < CHUNK ? len - sent : CHUNK;
        demi_sgarray_t s = demi_sgaalloc(n);
        if (!s.sga_buf)
            return 4;
        uint8_t *p = s.sga_segs[0].sgaseg_buf;
        for (size_t i = 0; i < n; i++)
            p[i] = pattern(id, sent + i);
        if (demi_push(&qt, qd, &s) != 0 || wait_op(qt, &qr) != 0)
            return 4;
        demi_sgafree(&s);
        sent += n;
        while (got < sent) {
            if (demi_pop(&qt, qd) != 0 || wait_op(qt, &qr) != 0 || qr.qr_opcode != DEMI_OPC_POP)
                return 5;
            demi_sgarray_t r = qr.qr_value.sga;
            if (r.sga_numsegs == 0)
                return 5;
            for (uint32_t k = 0; k < r.sga_numsegs; k++) {
                const uint8_t *q = r.sga_segs[k].sgaseg_buf;
                for (uint32_t i = 0; i < r.sga_segs[k].sgaseg_len; i++, got++)
                    if (q[i] != pattern(id, got))
                        return 6;
            }
            demi_sgafree(&r);
        }
        if (progress_fd >= 0 && write(progress_fd, "+", 1) == 1) {
            close(progress_fd);
            progress_fd = -1;
        }
    }
    demi_close(qd);
    return 0;
}

/* Pushes `len` bytes without waiting, and once the echo has started
 * stops its memif port and exits: the server sees its peer go away (the
 * control socket closes at once) while it is still receiving and echoing
 * a window's worth of frames, i.e. in the middle of its bursts. */
static int client_stop_main(int id, size_t len)
{
    struct demi_args da = { 0 };
    if (demi_init(&da) != 0)
        return 2;
    int qd;
    demi_qtoken_t qt;
    demi_qresult_t qr;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(7) };
    inet_pton(AF_INET, "10.9.0.1", &sa.sin_addr);
    if (demi_socket(&qd, AF_INET, SOCK_STREAM, 0) != 0)
        return 2;
    if (demi_connect(&qt, qd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || wait_op(qt, &qr) != 0)
        return 3;
    for (size_t sent = 0; sent < len; sent += CHUNK) {
        demi_sgarray_t s = demi_sgaalloc(CHUNK);
        if (!s.sga_buf)
            return 4;
        memset(s.sga_segs[0].sgaseg_buf, id, CHUNK);
        if (demi_push(&qt, qd, &s) != 0)
            return 4;
        demi_sgafree(&s);
    }
    if (demi_pop(&qt, qd) != 0 || wait_op(qt, &qr) != 0 || qr.qr_opcode != DEMI_OPC_POP)
        return 5;
    /* the port of the default instance: DEMI_DPDK_PORT=0 */
    (void)rte_eth_dev_stop(0);
    return 0;
}

/* ---------------- the test (parent) ---------------- */

static bool server_alive(int *status)
{
    return waitpid(server_pid, status, WNOHANG) == 0;
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(sock_path, sizeof(sock_path), "/tmp/demi_memif_clients_%d.sock", (int)getpid());
    snprintf(prefix, sizeof(prefix), "dmmc%d_srv", (int)getpid());
    fflush(NULL);
    server_pid = fork();
    if (server_pid == 0) {
        default_signals();
        set_env("server", "10.9.0.1", prefix);
        _exit(server_main());
    }
    return server_pid > 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
    }
    remove_runtime_dir(prefix);
    unlink(sock_path);
    return 0;
}

/* Runs client i to the end, or kills it once it has echoed its first
 * chunk. Returns its wait status. */
enum how { FINISH, KILL_MIDWAY, STOP_MIDWAY };

static int run_client(int i, enum how how)
{
    char pfx[64];
    int pfd[2];
    snprintf(pfx, sizeof(pfx), "dmmc%d_c%d", (int)getpid(), i);
    assert_int_equal(pipe(pfd), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        default_signals();
        set_env("client", "10.9.0.2", pfx);
        if (how == STOP_MIDWAY)
            _exit(client_stop_main(i, 2 << 20));
        _exit(client_main(i, how == KILL_MIDWAY ? (size_t)1 << 30 : ECHO_LEN, pfd[1]));
    }
    close(pfd[1]);
    int status;
    if (how == KILL_MIDWAY) {
        char c;
        ssize_t r = read(pfd[0], &c, 1); /* EOF if it died before */
        if (r == 1) {
            /* somewhere in the transfer: 0..3 ms after its first echo */
            struct timespec d = { 0, (long)(rand() % 3000) * 1000 };
            nanosleep(&d, NULL);
            kill(pid, SIGKILL);
        }
        waitpid(pid, &status, 0);
        if (r != 1)
            print_error("client %d died before its first echo (status 0x%x)\n", i, status);
        assert_int_equal(r, 1);
    } else {
        waitpid(pid, &status, 0);
    }
    close(pfd[0]);
    remove_runtime_dir(pfx);
    return status;
}

static void test_memif_server_survives_clients_that_come_and_go(void **state)
{
    (void)state;
    int64_t t0 = mono_ns();
    srand((unsigned)getpid());
    for (int i = 0; i < N_CLIENTS; i++) {
        enum how how = i % 3 == 1 ? KILL_MIDWAY : i % 3 == 2 ? STOP_MIDWAY : FINISH;
        int status = run_client(i, how);
        int sst;
        if (!server_alive(&sst)) {
            print_error("server died after client %d (%s): %s %d\n", i,
                        how == KILL_MIDWAY ? "killed" : how == STOP_MIDWAY ? "stopped its port" : "finished",
                        WIFSIGNALED(sst) ? "signal" : "exit", WIFSIGNALED(sst) ? WTERMSIG(sst) : WEXITSTATUS(sst));
            server_pid = -1;
            fail();
        }
        if (how == KILL_MIDWAY) {
            assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        } else {
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                print_error("client %d: status 0x%x\n", i, status);
            assert_true(WIFEXITED(status));
            assert_int_equal(WEXITSTATUS(status), 0);
        }
    }
    print_message("%d clients in %.1f s\n", N_CLIENTS, (double)(mono_ns() - t0) / SEC);
}

int main(void)
{
    if (!dm_stack_find("dpdk")) {
        fprintf(stderr, "SKIP: this build has no DEMI_BACKEND=dpdk (stacks/inet over devices/dpdk)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memif_server_survives_clients_that_come_and_go),
    };
    return cmocka_run_group_tests_name("dpdk_memif_clients", tests, group_setup, group_teardown) ? 1 : 0;
}
