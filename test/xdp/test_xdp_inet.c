/* SPDX-License-Identifier: MIT */
/*
 * Our TCP/IP stack (stacks/inet) on the AF_XDP device, against the Linux
 * stack in a namespace: an instance with DEMI_BACKEND=xdp on our veth end
 * (10.211.N.1) answers ping (also -s 5000: IPv4 fragments both ways),
 * and echoes a 1 MiB TCP stream that a Python
 * client inside the namespace sends and checks byte for byte; then the
 * same echo with faults injected on our TX (DEMI_FAULTS); then IPv6
 * (DEMI_IPV6, neighbour discovery with Linux): ping -6 (also -s 3000:
 * fragments both ways), the echo from
 * Linux, and our client against a Linux server; then a bulk transfer from
 * us to a Linux sink whose every frame goes out by reference
 * (DEMI_XDP_TX_REF=1: no copy into a UMEM frame), and the same by copy;
 * last, the echo from a peer that leaves its checksums to the NIC.
 *
 * Skips (exit 77) when not root, when the namespace cannot be made, or
 * when this build has no "xdp" backend. Bounded by alarm() and deadlines;
 * the namespace is removed in all cases (netns.h).
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <bpf/bpf.h>
#include <xdp/libxdp.h>
#include <cmocka.h>
#include "dm/config.h"
#include "dm/instance.h"
#include "dm/stack.h"
#include "dm/stats.h"
#include "dm/time.h"
#include "netns.h"

#define ECHO_PORT 7777
#define ECHO_BYTES (1 << 20)

static int skipped;

static int group_setup(void **state)
{
    (void)state;
    netns_setup(120);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    netns_cleanup();
    return 0;
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

/* Polls the instance until the child exits or the deadline; its status or -1. */
static int poll_until_exit(struct dm_instance *inst, pid_t pid, int64_t timeout_ns)
{
    int status;
    int64_t deadline = dm_clock_ns() + timeout_ns;
    while (dm_clock_ns() < deadline) {
        dm_poll(inst, DM_NS_PER_MS);
        if (waitpid(pid, &status, WNOHANG) == pid)
            return status;
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

static struct dm_instance *xdp_instance_v(const char *faults, const char *const *kv)
{
    struct dm_config cfg;
    struct dm_instance *inst = NULL;
    char ip[32];
    if (geteuid() != 0 || !net_ready) {
        fprintf(stderr, "needs root and a namespace/veth: skipping\n");
        return NULL;
    }
    if (!dm_stack_find("xdp")) {
        fprintf(stderr, "no 'xdp' backend in this build (stacks/inet not built): skipping\n");
        return NULL;
    }
    snprintf(ip, sizeof(ip), "%s.1/24", subnet);
    dm_config_init(&cfg);
    dm_config_set(&cfg, "DEMI_BACKEND", "xdp");
    dm_config_set(&cfg, "DEMI_XDP_IFACE", ifa);
    dm_config_set(&cfg, "DEMI_IPV4", ip);
    /* the kernel completes the checksums our frames ask for in software,
     * so that the namespace's kernel verifies them (with `offload` a veth
     * passes them on unsummed, and a wrong request would go unseen) */
    dm_config_set(&cfg, "DEMI_XDP_TX_CKSUM", "sw");
    if (faults)
        dm_config_set(&cfg, "DEMI_FAULTS", faults);
    for (; kv && kv[0]; kv += 2)
        dm_config_set(&cfg, kv[0], kv[1]);
    assert_int_equal(dm_instance_create(&cfg, &inst), 0);
    return inst;
}

static struct dm_instance *xdp_instance(const char *faults) { return xdp_instance_v(faults, NULL); }

/* Does this kernel take AF_XDP TX metadata (Linux 6.11+)? */
static bool xdp_tx_meta_kernel(void)
{
    struct utsname u;
    unsigned maj = 0, min = 0;
    return uname(&u) == 0 && sscanf(u.release, "%u.%u", &maj, &min) == 2 && (maj > 6 || (maj == 6 && min >= 11));
}

/* Our and the namespace's IPv6 addresses (per run, like the subnet). */
static void addr6(char *out, size_t len, int host)
{
    snprintf(out, len, "fd11:%u::%d", (unsigned)our_ip[2], host);
}

/* An instance with DEMI_IPV6 = host 1 of the run's IPv6 prefix (its
 * address in ours); the test is skipped when XDP cannot start here. */
static struct dm_instance *xdp_instance6(char *ours, size_t len)
{
    char cidr[56];
    addr6(ours, len, 1);
    snprintf(cidr, sizeof(cidr), "%s/64", ours);
    const char *kv[] = { "DEMI_IPV6", cidr, NULL };
    struct dm_instance *inst = xdp_instance_v(NULL, kv);
    if (!inst) {
        skipped = 1;
        skip();
    }
    return inst;
}

/* Serves one TCP echo connection on `port` while a Python client in the
 * namespace sends `bytes` random bytes to `host` (NULL: our IPv4 address;
 * an IPv6 one: the listener is an AF_INET6 [::]) and checks what comes back. */
static void tcp_echo_to(struct dm_instance *inst, uint16_t port, int bytes, const char *host)
{
    int lqd, cqd = -1;
    char v4host[24];
    snprintf(v4host, sizeof(v4host), "%s.1", subnet);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
    struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
    assert_int_equal(dm_socket(inst, &lqd, host ? AF_INET6 : AF_INET, SOCK_STREAM, 0), 0);
    if (host)
        assert_int_equal(dm_bind(inst, lqd, (struct sockaddr *)&sin6, sizeof(sin6)), 0);
    else
        assert_int_equal(dm_bind(inst, lqd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(dm_listen(inst, lqd, 4), 0);
    demi_qtoken_t qt_acc, qt_pop = 0;
    assert_int_equal(dm_accept(inst, &qt_acc, lqd), 0);

    char script[1024];
    snprintf(script, sizeof(script),
             "import os,socket,sys,threading\n"
             "data=os.urandom(%d)\n"
             "s=socket.create_connection(('%s',%d),timeout=20)\n"
             "t=threading.Thread(target=lambda:s.sendall(data));t.start()\n"
             "got=bytearray()\n"
             "while len(got)<len(data):\n"
             "  b=s.recv(65536)\n"
             "  if not b: break\n"
             "  got+=b\n"
             "t.join();s.close()\n"
             "print('echoed',len(got),'bytes, match' if got==data else 'MISMATCH')\n"
             "sys.exit(0 if got==data else 1)\n",
             bytes, host ? host : v4host, port);
    const char *py[] = { "python3", "-c", script, NULL };
    pid_t pid = spawn_in_ns(py);

    int status = -1, done = 0;
    uint64_t echoed = 0;
    int64_t deadline = dm_clock_ns() + 60 * DM_NS_PER_S;
    while (!done && dm_clock_ns() < deadline) {
        demi_qtoken_t qt = cqd == -1 ? qt_acc : qt_pop;
        int off;
        demi_qresult_t qr;
        if (cqd == -2) { /* echo finished: keep the stack running (FIN, ACKs) */
            dm_poll(inst, DM_NS_PER_MS);
            if (waitpid(pid, &status, WNOHANG) == pid)
                done = 1;
            continue;
        }
        int rc = dm_wait_any(inst, &qr, &off, &qt, 1, 5 * DM_NS_PER_MS);
        if (rc == 0) {
            if (qr.qr_opcode == DEMI_OPC_ACCEPT) {
                cqd = qr.qr_value.ares.qd;
                assert_int_equal(dm_pop(inst, &qt_pop, cqd), 0);
            } else if (qr.qr_opcode == DEMI_OPC_POP) {
                demi_sgarray_t *sga = &qr.qr_value.sga;
                uint32_t len = 0;
                for (uint32_t i = 0; i < sga->sga_numsegs; i++)
                    len += sga->sga_segs[i].sgaseg_len;
                if (len == 0) { /* peer closed */
                    dm_sgafree(inst, sga);
                    dm_close(inst, cqd);
                    cqd = -2;
                } else {
                    demi_qtoken_t qt_push;
                    assert_int_equal(dm_push(inst, &qt_push, cqd, sga), 0);
                    dm_sgafree(inst, sga); /* the push holds its own references */
                    echoed += len;
                    assert_int_equal(dm_pop(inst, &qt_pop, cqd), 0);
                }
            } else {
                fail_msg("unexpected completion: opcode %d ret %lld", qr.qr_opcode, (long long)qr.qr_ret);
            }
        } else {
            assert_int_equal(rc, -ETIMEDOUT);
        }
        if (waitpid(pid, &status, WNOHANG) == pid)
            done = 1;
    }
    if (!done) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    fprintf(stderr, "echoed %llu bytes; xdp rx %lld tx %lld\n", (unsigned long long)echoed,
            (long long)dm_stats_get(inst, "xdp.rx"), (long long)dm_stats_get(inst, "xdp.tx"));
    assert_true(done);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(echoed >= (uint64_t)bytes);
    if (cqd >= 0)
        dm_close(inst, cqd);
    dm_close(inst, lqd);
}

static void tcp_echo(struct dm_instance *inst, uint16_t port, int bytes) { tcp_echo_to(inst, port, bytes, NULL); }

static void test_inet_over_xdp_answers_ping_and_echoes_tcp(void **state)
{
    (void)state;
    struct dm_instance *inst = xdp_instance(NULL);
    if (!inst) {
        skipped = 1;
        skip();
    }
    char target[24];
    snprintf(target, sizeof(target), "%s.1", subnet);
    const char *ping[] = { "ping", "-n", "-c", "5", "-i", "0.2", "-w", "15", target, NULL };
    int st = poll_until_exit(inst, spawn_in_ns(ping), 30 * DM_NS_PER_S);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* past the MTU: Linux's fragments put together by our stack, our
     * answer's fragments by Linux (5008 B of ICMP: 4 fragments each way) */
    const char *big[] = { "ping", "-n", "-c", "3", "-i", "0.2", "-w", "15", "-s", "5000", target, NULL };
    st = poll_until_exit(inst, spawn_in_ns(big), 30 * DM_NS_PER_S);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_true(dm_stats_get(inst, "ip.rx_reasm_ok") >= 3);
    assert_true(dm_stats_get(inst, "ip.tx_frag") >= 12);
    tcp_echo(inst, ECHO_PORT, ECHO_BYTES);
    /* the kernel summed our TCP (AF_XDP TX metadata, Linux 6.11+) */
    if (xdp_tx_meta_kernel())
        assert_true(dm_stats_get(inst, "xdp.tx_csum") > 100);
    dm_instance_destroy(inst);
}

/* The same echo with our TX faulted (fault wrapper under the stack):
 * TCP must recover from drops, reordering, duplicates and corruption
 * against a real peer, and the faults must really have happened. */
static void test_inet_over_xdp_recovers_from_injected_faults(void **state)
{
    (void)state;
    struct dm_instance *inst = xdp_instance("drop=0.02,reorder=0.02,dup=0.01,corrupt=0.01,seed=3");
    if (!inst) {
        skipped = 1;
        skip();
    }
    tcp_echo(inst, ECHO_PORT + 1, ECHO_BYTES);
    fprintf(stderr, "faults: dropped %lld reordered %lld duplicated %lld corrupted %lld\n",
            (long long)dm_stats_get(inst, "fault.dropped"), (long long)dm_stats_get(inst, "fault.reordered"),
            (long long)dm_stats_get(inst, "fault.duplicated"), (long long)dm_stats_get(inst, "fault.corrupted"));
    assert_true(dm_stats_get(inst, "fault.dropped") > 0);
    assert_true(dm_stats_get(inst, "fault.reordered") > 0);
    assert_true(dm_stats_get(inst, "fault.duplicated") > 0);
    assert_true(dm_stats_get(inst, "fault.corrupted") > 0);
    dm_instance_destroy(inst);
}

/* Connections nobody reads on our side: the Linux peer opens 40 and sends
 * 200 KiB on each, and waits until every byte is acknowledged (SIOCOUTQ
 * 0). What they hold is UMEM frames (4096, one per segment, three
 * quarters of them for RX): 40 x 200 KiB is more, and once they were all
 * held nothing more could be received (not even ACKs). Past half of the
 * UMEM held, received frames are marked scarce and TCP copies what it
 * queues. Then an echo still works. */
static void test_inet_over_xdp_unread_connections_do_not_hold_the_umem(void **state)
{
    (void)state;
    struct dm_instance *inst = xdp_instance(NULL);
    if (!inst) {
        skipped = 1;
        skip();
    }
    enum { PORT = ECHO_PORT + 2, CONNS = 40 };
    int lqd, held[CONNS], nheld = 0;
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(PORT) };
    assert_int_equal(dm_socket(inst, &lqd, AF_INET, SOCK_STREAM, 0), 0);
    assert_int_equal(dm_bind(inst, lqd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(dm_listen(inst, lqd, 64), 0);
    demi_qtoken_t qt_acc;
    assert_int_equal(dm_accept(inst, &qt_acc, lqd), 0);
    char script[1024];
    snprintf(script, sizeof(script),
             "import fcntl,socket,struct,sys,termios,time\n"
             "ss=[socket.create_connection(('%s.1',%d),timeout=30) for _ in range(%d)]\n"
             "for s in ss: s.sendall(b'x'*(200<<10))\n"
             "end=time.time()+30\n"
             "def outq(s): return struct.unpack('i',fcntl.ioctl(s,termios.TIOCOUTQ,b'\\0'*4))[0]\n"
             "while time.time()<end and any(outq(s) for s in ss): time.sleep(0.05)\n"
             "left=sum(outq(s) for s in ss)\n"
             "print('unacknowledged bytes:',left)\n"
             "sys.exit(0 if left==0 else 1)\n",
             subnet, PORT, CONNS);
    const char *py[] = { "python3", "-c", script, NULL };
    pid_t pid = spawn_in_ns(py);
    int status = -1, done = 0;
    int64_t deadline = dm_clock_ns() + 60 * DM_NS_PER_S;
    while (!done && dm_clock_ns() < deadline) {
        demi_qresult_t qr;
        int off;
        if (dm_wait_any(inst, &qr, &off, &qt_acc, 1, 5 * DM_NS_PER_MS) == 0) {
            assert_int_equal(qr.qr_opcode, DEMI_OPC_ACCEPT);
            assert_true(nheld < CONNS);
            held[nheld++] = qr.qr_value.ares.qd; /* never read */
            assert_int_equal(dm_accept(inst, &qt_acc, lqd), 0);
        }
        if (waitpid(pid, &status, WNOHANG) == pid)
            done = 1;
    }
    if (!done) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    fprintf(stderr, "held %d connections; xdp.rx_scarce %lld tcp.rx_copy_scarce %lld\n", nheld,
            (long long)dm_stats_get(inst, "xdp.rx_scarce"), (long long)dm_stats_get(inst, "tcp.rx_copy_scarce"));
    assert_true(done && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(nheld, CONNS);
    assert_true(dm_stats_get(inst, "tcp.rx_copy_scarce") > 0);
    tcp_echo(inst, ECHO_PORT + 3, 256 << 10);
    for (int i = 0; i < nheld; i++)
        dm_close(inst, held[i]);
    dm_close(inst, lqd);
    dm_instance_destroy(inst);
}

/* A Python server in the namespace that echoes `conns` TCP connections, one
 * after the other, on [::]:port; its pid. */
static pid_t echo_server6(uint16_t port, int conns)
{
    static char script[512];
    snprintf(script, sizeof(script),
             "import socket\n"
             "l=socket.socket(socket.AF_INET6);l.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
             "l.bind(('::',%d));l.listen(1);l.settimeout(20)\n"
             "for _ in range(%d):\n"
             " c,_=l.accept();c.settimeout(20)\n"
             " while True:\n"
             "  b=c.recv(65536)\n"
             "  if not b: break\n"
             "  c.sendall(b)\n"
             " c.close()\n", port, conns);
    const char *py[] = { "python3", "-c", script, NULL };
    return spawn_in_ns(py);
}

/* A connected TCP socket of ours to `to`: the server in the namespace
 * starts on its own time, so a refused connect is made again every
 * 100 ms, for up to 20 s. */
static int connect_until_listening(struct dm_instance *inst, const struct sockaddr *to, socklen_t len)
{
    int64_t deadline = dm_clock_ns() + 20 * DM_NS_PER_S;
    for (;;) {
        int c = -1;
        demi_qtoken_t qt;
        demi_qresult_t qr;
        assert_int_equal(dm_socket(inst, &c, to->sa_family, SOCK_STREAM, 0), 0);
        assert_int_equal(dm_connect(inst, &qt, c, to, len), 0);
        assert_int_equal(dm_wait(inst, &qr, qt, 5 * DM_NS_PER_S), 0);
        if (qr.qr_opcode == DEMI_OPC_CONNECT)
            return c;
        dm_close(inst, c);
        assert_true(dm_clock_ns() < deadline);
        int64_t t = dm_clock_ns() + 100 * DM_NS_PER_MS;
        while (dm_clock_ns() < t)
            dm_poll(inst, DM_NS_PER_MS);
    }
}

/* Our client: connects to [host]:port (again until the server listens),
 * sends `n` bytes (at most 256 KiB), checks the echo, closes; bytes back. */
static uint32_t client_echo6(struct dm_instance *inst, const char *host, uint16_t port, uint32_t n)
{
    static uint8_t out[256 << 10], back[256 << 10];
    struct sockaddr_in6 to = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
    assert_true(n <= sizeof(out) && n % 8192 == 0);
    assert_int_equal(inet_pton(AF_INET6, host, &to.sin6_addr), 1);
    int c = connect_until_listening(inst, (struct sockaddr *)&to, sizeof(to));
    demi_qtoken_t qt;
    demi_qresult_t qr;
    for (uint32_t i = 0; i < n; i++)
        out[i] = (uint8_t)(i * 13 + (i >> 8));
    for (uint32_t off = 0; off < n; off += 8192) {
        demi_sgarray_t sga = dm_sgaalloc(inst, 8192, &(int){0});
        assert_int_equal(sga.sga_numsegs, 1);
        memcpy(sga.sga_segs[0].sgaseg_buf, out + off, 8192);
        assert_int_equal(dm_push(inst, &qt, c, &sga), 0);
        dm_sgafree(inst, &sga);
    }
    uint32_t got = 0;
    while (got < n) {
        assert_int_equal(dm_pop(inst, &qt, c), 0);
        assert_int_equal(dm_wait(inst, &qr, qt, 10 * DM_NS_PER_S), 0);
        assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
        for (uint32_t i = 0; i < qr.qr_value.sga.sga_numsegs; i++) {
            uint32_t l = qr.qr_value.sga.sga_segs[i].sgaseg_len;
            assert_true(l > 0 && got + l <= n);
            memcpy(back + got, qr.qr_value.sga.sga_segs[i].sgaseg_buf, l);
            got += l;
        }
        dm_sgafree(inst, &qr.qr_value.sga);
    }
    assert_memory_equal(back, out, n);
    dm_close(inst, c);
    return got;
}

/* IPv6 with Linux as the peer, through our XDP program (DEMI_XDP_FILTER=ip,
 * the default): DEMI_IPV6's traffic and the solicitations for it are
 * ours, the rest (link-local) the kernel's. */
static void test_inet_over_xdp_ipv6_ping_and_tcp_both_ways(void **state)
{
    (void)state;
    char ours[48], peer[48];
    struct dm_instance *inst = xdp_instance6(ours, sizeof(ours));
    addr6(peer, sizeof(peer), 2);
    sh("ip netns exec %s sysctl -qw net.ipv6.conf.%s.disable_ipv6=0", ns, ifb);
    assert_int_equal(sh("ip -n %s addr add %s/64 dev %s nodad", ns, peer, ifb), 0);
    const char *ping[] = { "ping", "-6", "-n", "-c", "3", "-i", "0.2", "-w", "15", ours, NULL };
    int st = poll_until_exit(inst, spawn_in_ns(ping), 30 * DM_NS_PER_S);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_true(dm_stats_get(inst, "nd.tx_na") > 0 || dm_stats_get(inst, "nd.rx_na") > 0);
    /* fragments both ways (3008 B of ICMPv6: 3 fragments each way) */
    const char *big[] = { "ping", "-6", "-c", "3", "-i", "0.2", "-w", "15", "-s", "3000", ours, NULL };
    st = poll_until_exit(inst, spawn_in_ns(big), 30 * DM_NS_PER_S);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_true(dm_stats_get(inst, "ip6.rx_reasm_ok") >= 3);
    assert_true(dm_stats_get(inst, "ip6.tx_frag") >= 9);
    /* Linux -> us; our segments ask the kernel for their checksums
     * (DM_DEV_CAP_TX_L4_CKSUM6), which Linux verifies (`sw`) */
    int64_t asked = dm_stats_get(inst, "xdp.tx_csum");
    tcp_echo_to(inst, ECHO_PORT + 4, ECHO_BYTES, ours);
    if (xdp_tx_meta_kernel())
        assert_true(dm_stats_get(inst, "xdp.tx_csum") - asked > 100);
    /* us -> Linux: a Python server in the namespace echoes 256 KiB */
    pid_t pid = echo_server6(ECHO_PORT + 5, 1);
    uint32_t got = client_echo6(inst, peer, ECHO_PORT + 5, 256 << 10);
    fprintf(stderr, "IPv6: our client got its %u bytes back from Linux\n", got);
    st = poll_until_exit(inst, pid, 10 * DM_NS_PER_S);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    dm_instance_destroy(inst);
}

/* The map our program records advertisements in (xdp_neigh6), through the
 * copy of the program attached to our end (alone or behind libxdp's
 * dispatcher); -1 when not found. */
static int neigh6_map_fd(void)
{
    int fd = -1;
    struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex((int)if_nametoindex(ifa));
    if (!mp || libxdp_get_error(mp))
        return -1;
    struct xdp_program *xp = xdp_multiprog__is_legacy(mp) ? xdp_multiprog__main_prog(mp)
                                                           : xdp_multiprog__next_prog(NULL, mp);
    for (; xp && fd < 0; xp = xdp_multiprog__is_legacy(mp) ? NULL : xdp_multiprog__next_prog(xp, mp)) {
        uint32_t ids[8], len;
        struct bpf_prog_info info;
        int pfd = bpf_prog_get_fd_by_id(xdp_program__id(xp));
        if (pfd < 0)
            continue;
        memset(&info, 0, sizeof(info));
        info.nr_map_ids = 8;
        info.map_ids = (uint64_t)(uintptr_t)ids;
        len = sizeof(info);
        if (bpf_obj_get_info_by_fd(pfd, &info, &len) == 0) {
            for (uint32_t i = 0; i < info.nr_map_ids && i < 8 && fd < 0; i++) {
                struct bpf_map_info mi;
                uint32_t mlen = sizeof(mi);
                int mfd = bpf_map_get_fd_by_id(ids[i]);
                memset(&mi, 0, sizeof(mi));
                if (mfd >= 0 && bpf_obj_get_info_by_fd(mfd, &mi, &mlen) == 0 && strcmp(mi.name, "xdp_neigh6") == 0)
                    fd = mfd;
                else if (mfd >= 0)
                    close(mfd);
            }
        }
        close(pfd);
    }
    xdp_multiprog__close(mp);
    return fd;
}

/* Neighbour discovery shared between the processes of an interface (the
 * README's "How flows are placed"): an advertisement answering one
 * process's solicitation may land on another's queue, so the program
 * records it in xdp_neigh6 and the device hands it to whoever solicited.
 * One process here: first the program records Linux's answer to our
 * solicitation for the peer (the target's MAC in the map); then a
 * neighbour whose advertisement never reaches us (an address on the
 * peer's lo: Linux answers solicitations on ifb only for ifb's addresses)
 * is resolved from an entry in the map alone, as one recorded on another
 * queue would be, and a TCP echo to it runs. */
static void test_inet_over_xdp_ipv6_resolves_from_advertisements_heard_on_other_queues(void **state)
{
    (void)state;
    char ours[48], peer[48], hidden[48];
    struct dm_instance *inst = xdp_instance6(ours, sizeof(ours));
    addr6(peer, sizeof(peer), 2);
    addr6(hidden, sizeof(hidden), 3);
    int fd = neigh6_map_fd();
    if (fd < 0) { /* libxdp's default program (a build without clang) */
        dm_instance_destroy(inst);
        fprintf(stderr, "our XDP program is not on %s: skipping\n", ifa);
        skipped = 1;
        skip();
    }
    sh("ip netns exec %s sysctl -qw net.ipv6.conf.%s.disable_ipv6=0", ns, ifb);
    assert_int_equal(sh("ip -n %s addr replace %s/64 dev %s nodad", ns, peer, ifb), 0);
    assert_int_equal(sh("ip -n %s addr replace %s/128 dev lo nodad", ns, hidden), 0);
    uint8_t mac[6] = { 0 };
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "ip netns exec %s cat /sys/class/net/%s/address", ns, ifb);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4],
                            &mac[5]), 6);
    pclose(p);
    struct { uint8_t mac[6]; uint16_t pad; } v = { .pad = 0 };
    uint8_t key[16];

    pid_t pid = echo_server6(ECHO_PORT + 6, 2);
    /* the program records the advertisement for the peer */
    client_echo6(inst, peer, ECHO_PORT + 6, 8192);
    assert_int_equal(inet_pton(AF_INET6, peer, key), 1);
    assert_int_equal(bpf_map_lookup_elem(fd, key, &v), 0);
    assert_memory_equal(v.mac, mac, 6);
    /* nobody advertises `hidden` to us: the map entry alone resolves it */
    int64_t shared = dm_stats_get(inst, "xdp.nd_shared");
    assert_int_equal(inet_pton(AF_INET6, hidden, key), 1);
    assert_int_not_equal(bpf_map_lookup_elem(fd, key, &v), 0);
    memcpy(v.mac, mac, 6);
    assert_int_equal(bpf_map_update_elem(fd, key, &v, BPF_ANY), 0);
    int64_t t0 = dm_clock_ns();
    uint32_t got = client_echo6(inst, hidden, ECHO_PORT + 6, 64 << 10);
    assert_true(dm_stats_get(inst, "xdp.nd_shared") > shared);
    fprintf(stderr, "IPv6: %s resolved from xdp_neigh6 alone (xdp.nd_shared %llu), %u bytes echoed in %lld ms\n",
            hidden, (unsigned long long)dm_stats_get(inst, "xdp.nd_shared"), got,
            (long long)((dm_clock_ns() - t0) / DM_NS_PER_MS));
    int st = poll_until_exit(inst, pid, 10 * DM_NS_PER_S);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    close(fd);
    dm_instance_destroy(inst);
}

/* Our client sends `mib` MiB in pool buffers of 2 KiB (dm_sgaalloc: the
 * instance's pool, which the device placed in the UMEM) to a Python sink in
 * the namespace that checks the bytes (sha256) and reports its rate. */
static void bulk_send(struct dm_instance *inst, uint16_t port, int mib)
{
    enum { BLK = 2048 };
    int nblk = mib * (1 << 20) / BLK;
    char script[1024];
    snprintf(script, sizeof(script),
             "import hashlib,socket,sys,time\n"
             "bl=[bytes((k*31+j)&255 for j in range(256))*8 for k in range(256)]\n"
             "e=hashlib.sha256()\n"
             "for k in range(%d): e.update(bl[k%%256])\n"
             "l=socket.socket();l.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
             "l.bind(('0.0.0.0',%d));l.listen(1);l.settimeout(20)\n"
             "c,_=l.accept();c.settimeout(20)\n"
             "h=hashlib.sha256();n=0;t0=time.time()\n"
             "while True:\n"
             "  b=c.recv(1<<20)\n"
             "  if not b: break\n"
             "  n+=len(b);h.update(b)\n"
             "dt=time.time()-t0;ok=n==%d and h.digest()==e.digest()\n"
             "print('sink: %%d bytes in %%.3f s, %%.0f Mbit/s, %%s'%%(n,dt,n*8/dt/1e6,'match' if ok else 'MISMATCH'))\n"
             "sys.exit(0 if ok else 1)\n",
             nblk, port, nblk * BLK);
    const char *py[] = { "python3", "-c", script, NULL };
    pid_t pid = spawn_in_ns(py);
    char peer[24];
    snprintf(peer, sizeof(peer), "%s.2", subnet);
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port) };
    inet_pton(AF_INET, peer, &to.sin_addr);
    /* the sink first computes what it expects, then listens */
    int c = connect_until_listening(inst, (struct sockaddr *)&to, sizeof(to));
    demi_qtoken_t qt;
    demi_qresult_t qr;
    int64_t t0 = dm_clock_ns();
    for (int k = 0; k < nblk; k++) {
        demi_sgarray_t sga = dm_sgaalloc(inst, BLK, &(int){0});
        assert_int_equal(sga.sga_numsegs, 1);
        uint8_t *d = sga.sga_segs[0].sgaseg_buf;
        for (int j = 0; j < BLK; j++)
            d[j] = (uint8_t)(k * 31 + j);
        assert_int_equal(dm_push(inst, &qt, c, &sga), 0);
        dm_sgafree(inst, &sga); /* the push holds its own references */
        assert_int_equal(dm_wait(inst, &qr, qt, 10 * DM_NS_PER_S), 0); /* queued (SO_SNDBUF) */
        assert_int_equal(qr.qr_opcode, DEMI_OPC_PUSH);
    }
    dm_close(inst, c); /* the FIN follows the data; the sink's check is the end */
    int st = poll_until_exit(inst, pid, 30 * DM_NS_PER_S);
    double secs = (double)(dm_clock_ns() - t0) / 1e9;
    fprintf(stderr, "bulk %d MiB in %.3f s (%.0f Mbit/s): xdp.tx %lld tx_zc %lld (descriptors %lld) tx_copy %lld "
            "tx_kicks %lld\n", mib, secs, mib * 8.0 * 1.048576 / secs, (long long)dm_stats_get(inst, "xdp.tx"),
            (long long)dm_stats_get(inst, "xdp.tx_zc"), (long long)dm_stats_get(inst, "xdp.tx_zc_descs"),
            (long long)dm_stats_get(inst, "xdp.tx_copy"), (long long)dm_stats_get(inst, "xdp.tx_kicks"));
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Bulk data from us to Linux with DEMI_XDP_TX_REF=1: the stack's frames
 * (headers in pool buffers, payload slices of the application's pool
 * buffers) all lie in the UMEM, so none is copied, each goes out in
 * several descriptors (XDP_USE_SG), completions come back in order, and
 * the bytes arrive intact. Then the default (DEMI_XDP_TX_REF=0), which
 * copies every frame. Both print the sink's rate. */
static void test_inet_over_xdp_bulk_send_goes_by_reference(void **state)
{
    (void)state;
    /* `offload`: the kernel's software sum (`sw`) covers a frame's first
     * descriptor only, so the device copies such frames; the sink's hash
     * checks the bytes, the copy below (`sw`) the checksum requests */
    const char *ref[] = { "DEMI_XDP_TX_REF", "1", "DEMI_XDP_TX_CKSUM", "offload", NULL };
    struct dm_instance *inst = xdp_instance_v(NULL, ref);
    if (!inst) {
        skipped = 1;
        skip();
    }
    bulk_send(inst, ECHO_PORT + 8, 32);
    assert_true(dm_stats_get(inst, "xdp.tx_zc") > 0);
    assert_int_equal(dm_stats_get(inst, "xdp.tx_copy"), 0);
    assert_int_equal(dm_stats_get(inst, "xdp.comp_order"), 0);
    if (xdp_tx_meta_kernel())
        assert_true(dm_stats_get(inst, "xdp.tx_csum") > 100);
    dm_instance_destroy(inst);

    const char *copy[] = { "DEMI_XDP_TX_REF", "0", NULL };
    inst = xdp_instance_v(NULL, copy);
    bulk_send(inst, ECHO_PORT + 9, 32);
    assert_int_equal(dm_stats_get(inst, "xdp.tx_zc"), 0);
    assert_true(dm_stats_get(inst, "xdp.tx_copy") > 0);
    dm_instance_destroy(inst);
}

/* A peer that leaves its TCP checksums to the NIC, as Linux does on any
 * veth unless told otherwise (ethtool -K tx on, the default): its frames
 * carry only the pseudo-header sum, which the device takes as good on a
 * veth (xdp.rx_csum_partial). Before, every segment was dropped as a bad
 * checksum and the echo never connected. We leave ours to the kernel as
 * well (the default, `offload`), which on a veth sums nothing. Last: it
 * turns the peer's offload back off for nothing after it. */
static void test_inet_over_xdp_takes_a_veth_peers_partial_checksums(void **state)
{
    (void)state;
    const char *offload[] = { "DEMI_XDP_TX_CKSUM", "offload", NULL };
    struct dm_instance *inst = xdp_instance_v(NULL, offload);
    if (!inst) {
        skipped = 1;
        skip();
    }
    assert_int_equal(sh("ip netns exec %s ethtool -K %s tx on >/dev/null 2>&1", ns, ifb), 0);
    tcp_echo(inst, ECHO_PORT + 10, ECHO_BYTES);
    assert_true(dm_stats_get(inst, "xdp.rx_csum_partial") > 100);
    assert_int_equal(dm_stats_get(inst, "tcp.rx_bad_csum"), 0);
    dm_instance_destroy(inst);
    sh("ip netns exec %s ethtool -K %s tx off >/dev/null 2>&1", ns, ifb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inet_over_xdp_answers_ping_and_echoes_tcp),
        cmocka_unit_test(test_inet_over_xdp_recovers_from_injected_faults),
        cmocka_unit_test(test_inet_over_xdp_unread_connections_do_not_hold_the_umem),
        cmocka_unit_test(test_inet_over_xdp_ipv6_ping_and_tcp_both_ways),
        cmocka_unit_test(test_inet_over_xdp_ipv6_resolves_from_advertisements_heard_on_other_queues),
        cmocka_unit_test(test_inet_over_xdp_bulk_send_goes_by_reference),
        cmocka_unit_test(test_inet_over_xdp_takes_a_veth_peers_partial_checksums),
    };
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    return rc == 0 && skipped ? 77 : rc;
}
