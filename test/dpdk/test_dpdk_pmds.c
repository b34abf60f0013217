/* SPDX-License-Identifier: MIT */
/*
 * The DPDK device against the Linux kernel, before any stack: on net_tap
 * and on net_af_packet (over a veth pair), a minimal ARP + ICMP echo
 * responder written on dm_dev rx/tx bursts answers `ping` run by the
 * kernel. The kernel checks every checksum, so this exercises RX wrapping,
 * the TX paths (copy for small frames, the received mbuf sent back in place
 * for big ones) and the IPv4 checksum offload where the port reports it.
 *
 * Each case runs in a forked child that first moves into a fresh network
 * namespace (unshare), so the interfaces it creates vanish with it and the
 * machine's own interfaces are never seen. Needs root: skipped otherwise.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "dm/device.h"
#include "dm/instance.h"
#include "dm/stats.h"

#define OUR_IP "10.9.3.1"

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static uint16_t csum(const void *p, size_t len)
{
    const uint8_t *b = p;
    uint32_t s = 0;
    for (size_t i = 0; i + 1 < len; i += 2)
        s += (uint32_t)(b[i] << 8 | b[i + 1]);
    if (len & 1)
        s += (uint32_t)b[len - 1] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return htons((uint16_t)~s);
}

/* Answers ARP for our address and ICMP echo requests to it; returns the
 * number of echo replies sent. */
static int respond(struct dm_dev *dev, const struct dm_dev_info *info, uint32_t ip, struct dm_buf *b)
{
    uint8_t *p = b->data;
    if (b->len != b->pkt_len || b->len < 42) {
        dm_buf_free(b);
        return 0;
    }
    uint16_t type = (uint16_t)(p[12] << 8 | p[13]);
    if (type == 0x0806 && p[21] == 1 && memcmp(p + 38, &ip, 4) == 0) {
        struct dm_buf *r = dm_buf_alloc(dev->inst);
        uint8_t *q = r ? dm_buf_append(r, 42) : NULL;
        if (!q) {
            dm_buf_free(r);
            dm_buf_free(b);
            return 0;
        }
        memcpy(q, p + 6, 6);
        memcpy(q + 6, info->mac, 6);
        q[12] = 0x08, q[13] = 0x06;
        memcpy(q + 14, p + 14, 6);         /* htype, ptype, hlen, plen */
        q[20] = 0, q[21] = 2;              /* reply */
        memcpy(q + 22, info->mac, 6);
        memcpy(q + 28, &ip, 4);
        memcpy(q + 32, p + 22, 10);        /* requester's MAC and IP */
        dm_buf_free(b);
        while (dev->tx_burst(dev, &r, 1) == 0)
            ;
        return 0;
    }
    if (type == 0x0800 && p[23] == 1 && memcmp(p + 30, &ip, 4) == 0 && (p[14] & 0xf) == 5 && p[34] == 8) {
        /* answer in place: the received buffer goes back out */
        uint8_t mac[6], sip[4];
        memcpy(mac, p, 6), memcpy(p, p + 6, 6), memcpy(p + 6, mac, 6);
        memcpy(sip, p + 26, 4), memcpy(p + 26, p + 30, 4), memcpy(p + 30, sip, 4);
        uint16_t iplen = (uint16_t)(p[16] << 8 | p[17]);
        p[34] = 0;                           /* echo reply */
        p[36] = p[37] = 0;
        uint16_t c = csum(p + 34, (size_t)iplen - 20);
        memcpy(p + 36, &c, 2);
        p[24] = p[25] = 0;
        if (info->caps & DM_DEV_CAP_TX_IPV4_CKSUM) {
            b->ol_flags = DM_BUF_TX_IP_CKSUM;
            b->l2_len = 14;
            b->l3_len = 20;
        } else {
            b->ol_flags = 0;
            c = csum(p + 14, 20);
            memcpy(p + 24, &c, 2);
        }
        int64_t t0 = mono_ns();
        while (dev->tx_burst(dev, &b, 1) == 0)
            if (mono_ns() - t0 > 1000000000ll) {
                dm_buf_free(b);
                return 0;
            }
        return 1;
    }
    dm_buf_free(b);
    return 0;
}

static int sh(const char *fmt, ...)
{
    char cmd[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* The child: fresh netns, the port, the responder, two pings. */
static int pmd_case(const char *pmd)
{
    if (unshare(CLONE_NEWNET) != 0)
        return 77;
    sh("ip link set lo up");
    char args[256];
    const char *kiface;
    if (strcmp(pmd, "tap") == 0) {
        snprintf(args, sizeof(args), "--no-huge -m 256 --vdev=net_tap0,iface=dmtap0");
        kiface = "dmtap0";
    } else {
        if (sh("ip link add dmv0 type veth peer name dmv1") != 0)
            return 20;
        sh("ip link set dmv0 up; ip link set dmv1 up; sysctl -qw net.ipv6.conf.dmv0.disable_ipv6=1");
        sh("ethtool -K dmv1 tx off >/dev/null 2>&1");
        if (strcmp(pmd, "af_xdp") == 0)
            snprintf(args, sizeof(args), "--no-huge -m 256 --vdev=net_af_xdp0,iface=dmv0,start_queue=0,queue_count=1");
        else
            snprintf(args, sizeof(args), "--no-huge -m 256 --vdev=net_af_packet0,iface=dmv0");
        kiface = "dmv1";
    }
    struct dm_config cfg;
    struct dm_instance *inst;
    struct dm_dev *dev;
    dm_config_init(&cfg);
    dm_config_set(&cfg, "DEMI_BACKEND", "posix");
    dm_config_set(&cfg, "DEMI_BUF_COUNT", "4096");
    dm_config_set(&cfg, "DEMI_DPDK_ARGS", args);
    dm_config_set(&cfg, "DEMI_DPDK_LINK_WAIT_MS", "3000");
    if (dm_instance_create(&cfg, &inst) < 0)
        return 21;
    if (dm_dev_open(inst, "dpdk", NULL, &cfg, &dev) < 0)
        return 22;
    sh("sysctl -qw net.ipv6.conf.%s.disable_ipv6=1; ip addr add 10.9.3.2/24 dev %s; ip link set %s up", kiface,
       kiface, kiface);
    struct dm_dev_info info;
    dev->ops->info(dev, &info);
    fprintf(stderr, "%s: %s caps 0x%x mtu %u link %u\n", pmd, info.name, info.caps, info.mtu, info.link_up);
    uint32_t ip;
    inet_pton(AF_INET, OUR_IP, &ip);
    /* ping in the background; we answer until it is done */
    fflush(NULL);
    pid_t pp = fork();
    if (pp == 0) {
        int a = sh("ping -c 3 -i 0.2 -W 2 " OUR_IP " >/dev/null");
        int b = sh("ping -c 3 -i 0.2 -W 2 -s 1200 " OUR_IP " >/dev/null");
        _exit(a == 0 && b == 0 ? 0 : 1);
    }
    /* tap: we sleep on the queue's fd between frames (dpdk_tap.c) */
    bool tap = strcmp(pmd, "tap") == 0;
    int wfd = (info.caps & DM_DEV_CAP_CAN_SLEEP) ? dev->ops->wait_fd(dev) : -1;
    if (tap && wfd < 0)
        return 27;
    int replies = 0, status = 0, woken = 0;
    int64_t t0 = mono_ns();
    while (waitpid(pp, &status, WNOHANG) == 0) {
        struct dm_buf *pkts[32];
        struct pollfd w = { .fd = wfd, .events = POLLIN };
        if (tap)
            woken += poll(&w, 1, 100) > 0;
        uint16_t n = dev->rx_burst(dev, pkts, 32);
        for (uint16_t i = 0; i < n; i++)
            replies += respond(dev, &info, ip, pkts[i]);
        if (mono_ns() - t0 > 30000000000ll) {
            kill(pp, SIGKILL);
            waitpid(pp, &status, 0);
            return 23;
        }
    }
    int64_t direct = dm_stats_get(inst, "dpdk.tx_direct_seg");
    /* drained, the fd says so (a level, not a stale edge); three tries,
     * in case the kernel sent something of its own meanwhile */
    bool quiet = !tap;
    for (int t = 0; t < 3 && !quiet; t++) {
        struct dm_buf *rest[32];
        uint16_t left;
        while ((left = dev->rx_burst(dev, rest, 32)) > 0)
            for (uint16_t i = 0; i < left; i++)
                dm_buf_free(rest[i]);
        struct pollfd w = { .fd = wfd, .events = POLLIN };
        quiet = poll(&w, 1, 0) == 0;
    }
    dm_dev_close(dev);
    dm_instance_destroy(inst);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return 24; /* the kernel did not accept our replies */
    if (replies < 6)
        return 25;
    if (direct < 3)
        return 26; /* big replies should have gone back as the received mbufs */
    if (tap && (woken == 0 || !quiet))
        return 28; /* the requests should have woken our poll of the fd, and it be quiet once drained */
    return 0;
}

static void run_case(const char *pmd)
{
    if (getuid() != 0)
        skip();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(60);
        exit(pmd_case(pmd)); /* atexit removes the EAL runtime dir */
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77)
        skip();
    if (WEXITSTATUS(status) != 0)
        fail_msg("%s case failed with code %d", pmd, WEXITSTATUS(status));
}

static void test_dpdk_tap_answers_kernel_ping(void **state)
{
    (void)state;
    run_case("tap");
}

static void test_dpdk_af_packet_answers_kernel_ping(void **state)
{
    (void)state;
    run_case("af_packet");
}

static void test_dpdk_af_xdp_answers_kernel_ping(void **state)
{
    (void)state;
    run_case("af_xdp");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dpdk_tap_answers_kernel_ping),
        cmocka_unit_test(test_dpdk_af_packet_answers_kernel_ping),
        cmocka_unit_test(test_dpdk_af_xdp_answers_kernel_ping),
    };
    return cmocka_run_group_tests_name("dpdk_pmds", tests, NULL, NULL);
}
