/* SPDX-License-Identifier: MIT */
/*
 * One interface, two owners: our stack (DEMI_BACKEND=xdp) on address A
 * (10.211.N.1) and the Linux kernel on address B (10.211.N.3) of the same
 * veth end, with a kernel TCP echo listener on B. From the namespace at
 * the other end, at the same time: a TCP echo to our stack on A, a TCP
 * echo to the kernel's listener on B, and pings of A and B. With our XDP
 * program (DEMI_XDP_FILTER=ip, the default) all of it works and none of
 * B's frames reach our socket. With DEMI_XDP_FILTER=all (libxdp's
 * default program) the kernel's listener cannot be reached at all.
 *
 * Skips (exit 77) when not root, when the namespace cannot be made, when
 * this build has no "xdp" backend or no XDP program (no clang). Bounded
 * by alarm() and deadlines; the namespace is removed in all cases.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include "dm/config.h"
#include "dm/instance.h"
#include "dm/stack.h"
#include "dm/stats.h"
#include "dm/time.h"
#include "netns.h"

#define OUR_PORT    7801
#define KERNEL_PORT 7802
#define ECHO_BYTES  (256 << 10)

static int skipped, have_b;
static char addr_a[24], addr_b[24];

static int group_setup(void **state)
{
    (void)state;
    netns_setup(120);
    snprintf(addr_a, sizeof(addr_a), "%s.1", subnet);
    snprintf(addr_b, sizeof(addr_b), "%s.3", subnet);
    /* B: the kernel's own address on the interface our datapath uses */
    have_b = net_ready && sh("ip addr add %s/24 dev %s", addr_b, ifa) == 0;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    netns_cleanup();
    return 0;
}

static int can_run(void)
{
    if (geteuid() != 0 || !net_ready || !have_b) {
        fprintf(stderr, "needs root and a namespace/veth with a second address: skipping\n");
        return 0;
    }
    if (!dm_stack_find("xdp")) {
        fprintf(stderr, "no 'xdp' backend in this build (stacks/inet not built): skipping\n");
        return 0;
    }
#ifndef DM_XDP_FILTER
    fprintf(stderr, "built without clang: no XDP program, the kernel cannot share the interface: skipping\n");
    return 0;
#else
    return 1;
#endif
}

/* Starts `argv` inside the namespace; returns the child's pid. */
static pid_t spawn_in_ns(const char *const *argv)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const char *args[16] = { "ip", "netns", "exec", ns };
        int i = 4;
        for (; *argv && i < 15; argv++)
            args[i++] = *argv;
        args[i] = NULL;
        dup2(2, 1);
        execvp("ip", (char *const *)args);
        _exit(127);
    }
    return pid;
}

/* A kernel TCP listener on B: a child echoes one connection and exits 0
 * when it echoed exactly `bytes`, 2 when nobody connected within `wait_s`,
 * 1 otherwise. Listening before it returns, so the client cannot race. */
static pid_t kernel_echo(int bytes, int wait_s)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(KERNEL_PORT) };
    int one = 1, lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(lfd >= 0);
    assert_int_equal(inet_pton(AF_INET, addr_b, &sin.sin_addr), 1);
    assert_int_equal(setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(lfd, 4), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct pollfd pf = { .fd = lfd, .events = POLLIN };
        if (poll(&pf, 1, wait_s * 1000) != 1)
            _exit(2);
        int c = accept(lfd, NULL, NULL);
        struct timeval tv = { .tv_sec = 10 };
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        char buf[16384];
        long total = 0;
        ssize_t n;
        while ((n = read(c, buf, sizeof(buf))) > 0) {
            for (ssize_t off = 0, w; off < n; off += w)
                if ((w = write(c, buf + off, (size_t)(n - off))) <= 0)
                    _exit(1);
            total += n;
        }
        _exit(total == bytes ? 0 : 1);
    }
    close(lfd);
    return pid;
}

static struct dm_instance *xdp_instance(const char *filter)
{
    struct dm_config cfg;
    struct dm_instance *inst = NULL;
    char ip[32];
    snprintf(ip, sizeof(ip), "%s/24", addr_a);
    dm_config_init(&cfg);
    dm_config_set(&cfg, "DEMI_BACKEND", "xdp");
    dm_config_set(&cfg, "DEMI_XDP_IFACE", ifa);
    dm_config_set(&cfg, "DEMI_IPV4", ip);
    dm_config_set(&cfg, "DEMI_XDP_FILTER", filter);
    assert_int_equal(dm_instance_create(&cfg, &inst), 0);
    return inst;
}

/* Our echo server on A: runs the instance until `client` exits; returns
 * its status, and the bytes we echoed in *echoed. */
static int serve_echo_until_exit(struct dm_instance *inst, pid_t client, uint64_t *echoed)
{
    int lqd, cqd = -1, status = -1;
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(OUR_PORT) };
    demi_qtoken_t qt_acc, qt_pop = 0;
    assert_int_equal(dm_socket(inst, &lqd, AF_INET, SOCK_STREAM, 0), 0);
    assert_int_equal(dm_bind(inst, lqd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(dm_listen(inst, lqd, 4), 0);
    assert_int_equal(dm_accept(inst, &qt_acc, lqd), 0);
    *echoed = 0;
    int64_t deadline = dm_clock_ns() + 60 * DM_NS_PER_S;
    while (dm_clock_ns() < deadline) {
        if (waitpid(client, &status, WNOHANG) == client)
            break;
        if (cqd < 0) { /* not connected yet, or done: keep the stack running */
            demi_qresult_t qr;
            int off;
            if (cqd == -1 && dm_wait_any(inst, &qr, &off, &qt_acc, 1, 5 * DM_NS_PER_MS) == 0) {
                assert_int_equal(qr.qr_opcode, DEMI_OPC_ACCEPT);
                cqd = qr.qr_value.ares.qd;
                assert_int_equal(dm_pop(inst, &qt_pop, cqd), 0);
            } else if (cqd == -2) {
                dm_poll(inst, DM_NS_PER_MS);
            }
            continue;
        }
        demi_qresult_t qr;
        int off, rc = dm_wait_any(inst, &qr, &off, &qt_pop, 1, 5 * DM_NS_PER_MS);
        if (rc == -ETIMEDOUT)
            continue;
        assert_int_equal(rc, 0);
        assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
        demi_sgarray_t *sga = &qr.qr_value.sga;
        uint32_t len = 0;
        for (uint32_t i = 0; i < sga->sga_numsegs; i++)
            len += sga->sga_segs[i].sgaseg_len;
        if (len == 0) { /* the client closed */
            dm_sgafree(inst, sga);
            dm_close(inst, cqd);
            cqd = -2;
            continue;
        }
        demi_qtoken_t qt_push;
        assert_int_equal(dm_push(inst, &qt_push, cqd, sga), 0);
        dm_sgafree(inst, sga);
        *echoed += len;
        assert_int_equal(dm_pop(inst, &qt_pop, cqd), 0);
    }
    if (waitpid(client, &status, WNOHANG) == 0) {
        kill(client, SIGKILL);
        waitpid(client, &status, 0);
        status = -1;
    }
    if (cqd >= 0)
        dm_close(inst, cqd);
    dm_close(inst, lqd);
    return status;
}

static int reap(pid_t pid, int timeout_s)
{
    int status;
    for (int i = 0; i < timeout_s * 100; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return status;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

static void test_xdp_filter_shares_the_interface_with_a_kernel_listener(void **state)
{
    (void)state;
    if (!can_run()) {
        skipped = 1;
        skip();
    }
    pid_t kern = kernel_echo(ECHO_BYTES, 30); /* before the instance: the child holds none of its state */
    struct dm_instance *inst = xdp_instance("ip");
    char script[2048];
    snprintf(script, sizeof(script),
             "import os,socket,subprocess,sys,threading\n"
             "def echo(host,port):\n"
             "  data=os.urandom(%d)\n"
             "  s=socket.create_connection((host,port),timeout=10)\n"
             "  t=threading.Thread(target=lambda:s.sendall(data));t.start()\n"
             "  got=bytearray()\n"
             "  while len(got)<len(data):\n"
             "    b=s.recv(65536)\n"
             "    if not b: break\n"
             "    got+=b\n"
             "  t.join();s.close()\n"
             "  return got==data\n"
             "def ping(host):\n"
             "  return subprocess.run(['ping','-n','-c','3','-i','0.2','-w','10',host],stdout=sys.stderr).returncode==0\n"
             "res={}\n"
             "def run(name,f,*a):\n"
             "  try: res[name]=f(*a)\n"
             "  except Exception as e: print(name,'failed:',e,file=sys.stderr); res[name]=False\n"
             "ts=[threading.Thread(target=run,args=a) for a in [('echo ours',echo,'%s',%d),('echo kernel',echo,'%s',%d),"
             "('ping ours',ping,'%s'),('ping kernel',ping,'%s')]]\n"
             "for t in ts: t.start()\n"
             "for t in ts: t.join()\n"
             "print(res,file=sys.stderr)\n"
             "sys.exit(0 if len(res)==4 and all(res.values()) else 1)\n",
             ECHO_BYTES, addr_a, OUR_PORT, addr_b, KERNEL_PORT, addr_a, addr_b);
    const char *py[] = { "python3", "-c", script, NULL };
    uint64_t echoed;
    int st = serve_echo_until_exit(inst, spawn_in_ns(py), &echoed);
    int kst = reap(kern, 15);
    int64_t not_ours = dm_stats_get(inst, "ip.rx_not_ours"), rx = dm_stats_get(inst, "xdp.rx");
    fprintf(stderr, "client status %d, kernel echo status %d; we echoed %llu bytes; xdp.rx %lld ip.rx_not_ours %lld "
            "icmp.rx_echo %lld\n", st, kst, (unsigned long long)echoed, (long long)rx, (long long)not_ours,
            (long long)dm_stats_get(inst, "icmp.rx_echo"));
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);   /* all four worked */
    assert_true(WIFEXITED(kst) && WEXITSTATUS(kst) == 0); /* the kernel echoed every byte */
    assert_int_equal(echoed, ECHO_BYTES);
    assert_true(dm_stats_get(inst, "icmp.rx_echo") >= 3);
    assert_int_equal(not_ours, 0); /* nothing of B's reached our socket */
    dm_instance_destroy(inst);
}

/* The counter-case: libxdp's default program takes the whole queue, and
 * the kernel's listener on B never sees the connection. */
static void test_xdp_filter_all_cuts_the_kernel_off(void **state)
{
    (void)state;
    if (!can_run()) {
        skipped = 1;
        skip();
    }
    pid_t kern = kernel_echo(0, 8);
    struct dm_instance *inst = xdp_instance("all");
    char script[512];
    snprintf(script, sizeof(script),
             "import socket,sys\n"
             "try:\n"
             "  socket.create_connection(('%s',%d),timeout=3).close()\n"
             "  print('connected to the kernel listener',file=sys.stderr);sys.exit(1)\n"
             "except OSError as e:\n"
             "  print('connect failed as expected:',e,file=sys.stderr);sys.exit(0)\n",
             addr_b, KERNEL_PORT);
    const char *py[] = { "python3", "-c", script, NULL };
    pid_t client = spawn_in_ns(py);
    int st = -1;
    int64_t deadline = dm_clock_ns() + 20 * DM_NS_PER_S;
    while (dm_clock_ns() < deadline && waitpid(client, &st, WNOHANG) != client)
        dm_poll(inst, DM_NS_PER_MS);
    if (dm_clock_ns() >= deadline) {
        kill(client, SIGKILL);
        waitpid(client, &st, 0);
    }
    int kst = reap(kern, 15);
    fprintf(stderr, "client status %d, kernel listener status %d; xdp.rx %lld\n", st, kst,
            (long long)dm_stats_get(inst, "xdp.rx"));
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_true(WIFEXITED(kst) && WEXITSTATUS(kst) == 2); /* nobody ever reached it */
    assert_true(dm_stats_get(inst, "xdp.rx") > 0);         /* its frames came to us instead */
    dm_instance_destroy(inst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xdp_filter_shares_the_interface_with_a_kernel_listener),
        cmocka_unit_test(test_xdp_filter_all_cuts_the_kernel_off),
    };
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    return rc == 0 && skipped ? 77 : rc;
}
