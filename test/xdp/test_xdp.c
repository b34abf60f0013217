/* SPDX-License-Identifier: MIT */
/*
 * AF_XDP device test on a real interface: a network namespace and a veth
 * pair are created (skipped when not root or when that fails); the "xdp"
 * device is opened on our end, wrapped by pcap through dm_dev_open_stacked,
 * and a tiny hand-written responder answers ARP and ICMP echo for
 * 10.211.N.1 while `ping` runs inside the namespace. The namespace and the
 * veth are deleted in all cases (teardown, atexit, SIGTERM/SIGALRM), and
 * the whole program is bounded by alarm().
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "dm/buf.h"
#include "dm/config.h"
#include "dm/device.h"
#include "dm/instance.h"
#include "dm/stats.h"
#include "dm/time.h"
#include "netns.h"

static int ping_skipped; /* report 77 to meson when the real test could not run */

static int group_setup(void **state)
{
    (void)state;
    netns_setup(90);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    netns_cleanup();
    return 0;
}

static struct dm_instance *make_instance(void)
{
    struct dm_config cfg;
    struct dm_instance *inst = NULL;
    dm_config_init(&cfg);
    dm_config_set(&cfg, "DEMI_BACKEND", "posix");
    assert_int_equal(dm_instance_create(&cfg, &inst), 0);
    return inst;
}

static uint16_t csum(const uint8_t *p, size_t n)
{
    uint32_t s = 0;
    for (; n > 1; p += 2, n -= 2)
        s += (uint32_t)(p[0] << 8 | p[1]);
    if (n)
        s += (uint32_t)p[0] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

struct responder {
    uint8_t mac[6];
    unsigned arp, echo, other;
};

/* Turns an ARP request or ICMP echo request for our_ip into its reply, in
 * place (the received frame is ours). Returns 1 when it is to be sent. */
static int respond(struct responder *r, struct dm_buf *b)
{
    uint8_t *f = b->data;
    if (b->nb_segs != 1 || b->len < 42)
        goto other;
    uint16_t type = (uint16_t)(f[12] << 8 | f[13]);
    if (type == 0x0806) {
        uint8_t *a = f + 14;
        if (a[6] != 0 || a[7] != 1 || memcmp(a + 24, our_ip, 4) != 0)
            goto other;
        a[7] = 2;
        memcpy(a + 18, a + 8, 6);      /* tha = sha */
        memcpy(a + 24, a + 14, 4);     /* tpa = spa */
        memcpy(a + 8, r->mac, 6);      /* sha = us */
        memcpy(a + 14, our_ip, 4);     /* spa = us */
        r->arp++;
    } else if (type == 0x0800) {
        uint8_t *ip = f + 14;
        uint32_t ihl = (ip[0] & 0xfu) * 4u, tot = (uint32_t)(ip[2] << 8 | ip[3]);
        if (ip[9] != 1 || memcmp(ip + 16, our_ip, 4) != 0 || 14 + tot > b->len || tot < ihl + 8)
            goto other;
        uint8_t *icmp = ip + ihl, tmp[4];
        if (icmp[0] != 8)
            goto other;
        memcpy(tmp, ip + 12, 4);
        memcpy(ip + 12, ip + 16, 4);
        memcpy(ip + 16, tmp, 4);
        icmp[0] = 0;
        icmp[2] = icmp[3] = 0;
        uint16_t c = csum(icmp, tot - ihl);
        icmp[2] = (uint8_t)(c >> 8);
        icmp[3] = (uint8_t)c;
        r->echo++;
    } else {
        goto other;
    }
    uint8_t peer[6];
    memcpy(peer, b->data + 6, 6);
    memcpy(b->data, peer, 6);
    memcpy(b->data + 6, r->mac, 6);
    return 1;
other:
    r->other++;
    return 0;
}

/* Runs ping in the namespace while answering on dev; returns its status. */
static int run_ping(struct dm_dev *dev, int wfd, struct responder *r, const char *target, int flood)
{
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        dup2(2, 1); /* ping's summary (rtt min/avg/max) goes to the test log */
        if (flood)
            execlp("ip", "ip", "netns", "exec", ns, "ping", "-n", "-q", "-f", "-c", "3000", "-w", "30", target,
                   (char *)NULL);
        else
            execlp("ip", "ip", "netns", "exec", ns, "ping", "-n", "-c", "5", "-i", "0.2", "-w", "15", target,
                   (char *)NULL);
        _exit(127);
    }
    int status = -1;
    int64_t deadline = dm_clock_ns() + 40 * DM_NS_PER_S;
    while (dm_clock_ns() < deadline) {
        struct pollfd pf = { .fd = wfd, .events = POLLIN };
        poll(&pf, 1, 10); /* sleep on the device's fd (through pcap) */
        struct dm_buf *pk[32], *out[32];
        uint16_t n = dev->rx_burst(dev, pk, 32), m = 0;
        for (uint16_t i = 0; i < n; i++) {
            if (respond(r, pk[i]))
                out[m++] = pk[i];
            else
                dm_buf_free(pk[i]);
        }
        uint16_t sent = 0;
        for (int tries = 0; sent < m && tries < 1000; tries++)
            sent += dev->tx_burst(dev, out + sent, (uint16_t)(m - sent));
        for (uint16_t i = sent; i < m; i++)
            dm_buf_free(out[i]);
        if (waitpid(child, &status, WNOHANG) == child)
            return status;
    }
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
    return -1;
}

static void test_xdp_answers_arp_and_ping_from_netns(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        fprintf(stderr, "not root: cannot create a namespace and veth: skipping\n");
        ping_skipped = 1;
        skip();
    }
    if (!net_ready) {
        ping_skipped = 1;
        fprintf(stderr, "could not create the namespace/veth: skipping\n");
        skip();
    }
    char pcap_path[] = "/tmp/dm_xdp_pcapXXXXXX";
    int pfd = mkstemp(pcap_path);
    assert_true(pfd >= 0);
    close(pfd);

    struct dm_instance *inst = make_instance();
    struct dm_config cfg;
    struct dm_dev *dev;
    struct dm_dev_info info;
    dm_config_init(&cfg);
    dm_config_set(&cfg, "DEMI_XDP_IFACE", ifa);
    dm_config_set(&cfg, "DEMI_PCAP", pcap_path);
    char ip[24]; /* the XDP program redirects frames for this address only */
    snprintf(ip, sizeof(ip), "%s.1/24", subnet);
    dm_config_set(&cfg, "DEMI_IPV4", ip);
    assert_int_equal(dm_dev_open_stacked(inst, "xdp", &cfg, &dev), 0);
    assert_string_equal(dev->ops->name, "pcap");
    assert_int_equal(dev->ops->info(dev, &info), 0);
    assert_true(info.caps & DM_DEV_CAP_CAN_SLEEP);
    int wfd = dev->ops->wait_fd(dev);
    assert_true(wfd >= 0);

    struct responder r = { .arp = 0 };
    memcpy(r.mac, info.mac, 6);

    char target[24];
    snprintf(target, sizeof(target), "%s.1", subnet);
    /* 5 pings (ARP first), then a flood of 3000: 6000 frames through a
     * 4096-frame UMEM shows frames are recycled */
    int status = run_ping(dev, wfd, &r, target, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    unsigned echo1 = r.echo;
    int status2 = run_ping(dev, wfd, &r, target, 1);
    fprintf(stderr, "arp %u echo %u other %u, ping status %d/%d; xdp rx %lld tx %lld tx_kicks %lld fill_kicks %lld\n",
            r.arp, r.echo, r.other, status, status2, (long long)dm_stats_get(inst, "xdp.rx"),
            (long long)dm_stats_get(inst, "xdp.tx"), (long long)dm_stats_get(inst, "xdp.tx_kicks"),
            (long long)dm_stats_get(inst, "xdp.fill_kicks"));
    assert_true(WIFEXITED(status2) && WEXITSTATUS(status2) == 0);
    assert_true(r.arp >= 1);
    assert_true(echo1 >= 5);
    assert_true(r.echo - echo1 >= 2970); /* flood: allow 1% lost to a busy machine */
    assert_true(dm_stats_get(inst, "xdp.rx") >= 6 + 2970);
    assert_true(dm_stats_get(inst, "xdp.tx") >= 6 + 2970);
    int64_t frames = dm_stats_get(inst, "pcap.frames");
    assert_int_equal(frames, dm_stats_get(inst, "xdp.rx") + dm_stats_get(inst, "xdp.tx"));
    dm_dev_close(dev);

    /* the capture holds every frame that went through */
    FILE *f = fopen(pcap_path, "rb");
    assert_non_null(f);
    uint8_t gh[24], rh[16], buf[4096];
    int64_t count = 0;
    assert_int_equal(fread(gh, 1, 24, f), 24);
    while (fread(rh, 1, 16, f) == 16) {
        uint32_t incl;
        memcpy(&incl, rh + 8, 4);
        assert_true(incl <= sizeof(buf));
        assert_int_equal(fread(buf, 1, incl, f), incl);
        count++;
    }
    fclose(f);
    unlink(pcap_path);
    assert_int_equal(count, frames);
    dm_instance_destroy(inst);
}

static void test_xdp_open_without_or_with_unknown_iface_fails(void **state)
{
    (void)state;
    struct dm_instance *inst = make_instance();
    struct dm_config cfg;
    struct dm_dev *dev;
    dm_config_init(&cfg);
    dm_config_set(&cfg, "DEMI_XDP_IFACE", "");
    assert_int_equal(dm_dev_open(inst, "xdp", NULL, &cfg, &dev), -EINVAL);
    dm_config_set(&cfg, "DEMI_XDP_IFACE", "nosuchif0");
    assert_int_equal(dm_dev_open(inst, "xdp", NULL, &cfg, &dev), -ENODEV);
    dm_instance_destroy(inst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xdp_open_without_or_with_unknown_iface_fails),
        cmocka_unit_test(test_xdp_answers_arp_and_ping_from_netns),
    };
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    return rc == 0 && ping_skipped ? 77 : rc;
}
