/* SPDX-License-Identifier: MIT */
/*
 * A network namespace and a veth pair for the AF_XDP tests: our end (ifa)
 * stays in the root namespace without an address (the XDP program hands
 * its traffic to us), the other end (ifb) lives in the namespace with
 * 10.211.N.2/24, and TX checksum offload off (see below). Names and N
 * come from the pid so runs do not collide.
 * netns_cleanup() runs from the group teardown, atexit and on SIGTERM,
 * SIGINT and SIGALRM (alarm() bounds the whole program).
 */
#ifndef XDP_NETNS_H
#define XDP_NETNS_H

#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char ns[32], ifa[16], ifb[16], subnet[16];
static int net_ready;
static uint8_t our_ip[4];

static inline int sh(const char *fmt, ...)
{
    char cmd[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return system(cmd);
}

static inline void netns_cleanup(void)
{
    if (!ns[0])
        return;
    sh("ip netns del %s >/dev/null 2>&1", ns);
    sh("ip link del %s >/dev/null 2>&1", ifa);
    net_ready = 0;
}

static inline void netns_on_signal(int sig)
{
    netns_cleanup();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Sets net_ready when the namespace and the veth are up; never fails. */
static inline void netns_setup(unsigned alarm_s)
{
    unsigned id = (unsigned)getpid() % 100000;
    snprintf(ns, sizeof(ns), "dmxdp%u", id);
    snprintf(ifa, sizeof(ifa), "dmx%ua", id);
    snprintf(ifb, sizeof(ifb), "dmx%ub", id);
    our_ip[0] = 10, our_ip[1] = 211, our_ip[2] = (uint8_t)(id % 250 + 1), our_ip[3] = 1;
    snprintf(subnet, sizeof(subnet), "10.211.%u", our_ip[2]);
    if (geteuid() != 0)
        return;
    atexit(netns_cleanup);
    signal(SIGTERM, netns_on_signal);
    signal(SIGINT, netns_on_signal);
    signal(SIGALRM, netns_on_signal);
    alarm(alarm_s);
    if (sh("ip netns add %s", ns) != 0)
        return;
    if (sh("ip link add %s type veth peer name %s", ifa, ifb) != 0 ||
        sh("ip link set %s netns %s", ifb, ns) != 0 ||
        sh("ip -n %s addr add %s.2/24 dev %s", ns, subnet, ifb) != 0 ||
        sh("ip -n %s link set %s up", ns, ifb) != 0 ||
        sh("ip -n %s link set lo up", ns) != 0 ||
        sh("ip link set %s up", ifa) != 0) {
        netns_cleanup();
        return;
    }
    sh("sysctl -qw net.ipv6.conf.%s.disable_ipv6=1 >/dev/null 2>&1", ifa);
    /* Linux leaves TCP/UDP checksums to the "NIC" on veth (CHECKSUM_PARTIAL):
     * the device takes those as they are (xdp_csum.c); these tests want
     * complete ones, which the stack verifies, from the namespace's kernel
     * (test_xdp_inet's last test turns the offload back on). */
    if (sh("ip netns exec %s ethtool -K %s tx off >/dev/null 2>&1", ns, ifb) != 0)
        fprintf(stderr, "netns: could not turn off TX checksum offload on %s: TCP/UDP from the namespace "
                        "will arrive with partial checksums\n", ifb);
    net_ready = 1;
}

#endif /* XDP_NETNS_H */
