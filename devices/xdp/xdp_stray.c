/* SPDX-License-Identifier: MIT */
/*
 * Frames for our address on a queue no process of ours holds.
 *
 * An XSK receives one queue's frames only, and the peer (a NIC's RSS,
 * veth's flow hash) spreads flows over every queue the interface has: a
 * process alone on a 2-queue interface, or 2 nginx workers on a NIC of 8
 * queues, would see the flows of its own queues and no others. Our XDP
 * program passes a frame whose queue has no socket to the kernel, which
 * does not have our address and drops it: a one-process server on a
 * 2-queue veth lost 10 of 16 connections (xdp-mp.sh's `alone`).
 *
 * So each process also holds a packet socket on the interface. It sees
 * what the kernel receives there, that is what XDP passed, never what
 * went to an XSK; a classic BPF filter keeps the frames to our address
 * (those our program would have redirected), a TPACKET_V2 ring brings
 * them with no syscall per frame (the RX path's look is one load), and
 * the processes with the same address on the interface form one fanout
 * group, hashed by flow: each stray frame goes to one of them, the same
 * one for a flow, which takes it like a frame of its own queue, or hands
 * it round to the process that has the connection (xdp_fwd.c). This is
 * the slow path (the kernel's skb, a copy in and a copy out): with a
 * process per queue nothing takes it.
 *
 * The kernel with one of our addresses (co-hosting, xdp-mp.sh's `pass`)
 * answers the frames it gets itself: then we leave them to it. Whether it
 * has one is looked up at open and again each time its addresses change
 * (a netlink socket on the address groups, read when a frame comes).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/ethernet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include "dm/time.h"
#include "xdp_prog.h"
#include "xdp_stray.h"

#define STRAY_FRAME   4096u        /* one frame of up to ~4,000 bytes: our MTU stays below */
#define STRAY_BLOCK   (16u * STRAY_FRAME)
#define STRAY_BLOCKS  16u          /* 256 frames, 1 MiB */
#define XDP_STRAY_NL_EVERY DM_NS_PER_MS

/* A classic BPF program with forward jumps to labels, resolved at the end. */
enum { L_NEXT = -1, L_ACCEPT, L_REJECT, L_V4, L_ARP, L_V6, L_NS, L_COUNT };
#define CBPF_MAX 48
struct cbpf {
    struct sock_filter ins[CBPF_MAX];
    int jt[CBPF_MAX], jf[CBPF_MAX]; /* labels, L_NEXT: fall through */
    int at[L_COUNT];                /* where each label is */
    unsigned n;
};

static void c_stmt(struct cbpf *c, uint16_t code, uint32_t k)
{
    c->jt[c->n] = c->jf[c->n] = L_NEXT;
    c->ins[c->n++] = (struct sock_filter)BPF_STMT(code, k);
}

static void c_jeq(struct cbpf *c, uint32_t k, int jt, int jf)
{
    c->jt[c->n] = jt;
    c->jf[c->n] = jf;
    c->ins[c->n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, k, 0, 0);
}

static void c_label(struct cbpf *c, int l)
{
    c->at[l] = (int)c->n;
}

/* 16 bytes at `off` equal to a: four loads and compares, to `yes` or L_REJECT */
static void c_eq16(struct cbpf *c, uint32_t off, const uint8_t *a, int yes)
{
    for (int i = 0; i < 4; i++) {
        uint32_t w;
        memcpy(&w, a + 4 * i, 4);
        c_stmt(c, BPF_LD | BPF_W | BPF_ABS, off + 4u * (uint32_t)i);
        c_jeq(c, ntohl(w), i == 3 ? yes : L_NEXT, L_REJECT);
    }
}

/* What our XDP program redirects (xdp_filter.bpf.c), at the same fixed
 * offsets: IPv4 TCP/UDP/ICMP to v4, ARP for v4, IPv6 to v6, and ICMPv6
 * neighbour solicitations (multicast) whose target is v6. */
static int build_filter(struct cbpf *c, const struct xdp_stray *s)
{
    memset(c, 0, sizeof(*c));
    c_stmt(c, BPF_LD | BPF_H | BPF_ABS, 12);
    c_jeq(c, ETHERTYPE_IP, L_V4, L_NEXT);
    c_jeq(c, ETHERTYPE_ARP, L_ARP, L_NEXT);
    c_jeq(c, ETHERTYPE_IPV6, L_V6, L_REJECT);
    c_label(c, L_V4);
    c_stmt(c, BPF_LD | BPF_W | BPF_ABS, 14 + 16);
    c_jeq(c, ntohl(s->v4), L_NEXT, L_REJECT);
    c_stmt(c, BPF_LD | BPF_B | BPF_ABS, 14 + 9);
    c_jeq(c, IPPROTO_TCP, L_ACCEPT, L_NEXT);
    c_jeq(c, IPPROTO_UDP, L_ACCEPT, L_NEXT);
    c_jeq(c, IPPROTO_ICMP, L_ACCEPT, L_REJECT);
    c_label(c, L_ARP);
    c_stmt(c, BPF_LD | BPF_W | BPF_ABS, 14 + 24); /* target protocol address */
    c_jeq(c, ntohl(s->v4), L_ACCEPT, L_REJECT);
    c_label(c, L_V6);
    if (s->has6) {
        c_stmt(c, BPF_LD | BPF_B | BPF_ABS, 14 + 24);
        c_jeq(c, 0xff, L_NS, L_NEXT);
        c_eq16(c, 14 + 24, s->v6, L_ACCEPT);
        c_label(c, L_NS);
        c_stmt(c, BPF_LD | BPF_B | BPF_ABS, 14 + 6);
        c_jeq(c, IPPROTO_ICMPV6, L_NEXT, L_REJECT);
        c_stmt(c, BPF_LD | BPF_B | BPF_ABS, 14 + 40);
        c_jeq(c, 135, L_NEXT, L_REJECT);
        c_eq16(c, 14 + 40 + 8, s->v6, L_ACCEPT);
    } else {
        c_stmt(c, BPF_RET | BPF_K, 0);
        c->at[L_NS] = c->at[L_V6];
    }
    c_label(c, L_ACCEPT);
    c_stmt(c, BPF_RET | BPF_K, 0x40000);
    c_label(c, L_REJECT);
    c_stmt(c, BPF_RET | BPF_K, 0);
    for (unsigned i = 0; i < c->n; i++) {
        if (BPF_CLASS(c->ins[i].code) != BPF_JMP)
            continue;
        int t = c->jt[i] == L_NEXT ? (int)i + 1 : c->at[c->jt[i]];
        int f = c->jf[i] == L_NEXT ? (int)i + 1 : c->at[c->jf[i]];
        if (t <= (int)i || f <= (int)i || t - (int)i - 1 > 255 || f - (int)i - 1 > 255)
            return -EINVAL;
        c->ins[i].jt = (uint8_t)(t - (int)i - 1);
        c->ins[i].jf = (uint8_t)(f - (int)i - 1);
    }
    return 0;
}

static bool kernel_has_now(const struct xdp_stray *s)
{
    struct ifaddrs *ifa, *i;
    bool has = false;
    if (getifaddrs(&ifa) < 0)
        return false;
    for (i = ifa; i && !has; i = i->ifa_next) {
        if (!i->ifa_addr)
            continue;
        if (i->ifa_addr->sa_family == AF_INET)
            has = ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr == s->v4;
        else if (i->ifa_addr->sa_family == AF_INET6 && s->has6)
            has = memcmp(&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, s->v6, 16) == 0;
    }
    freeifaddrs(ifa);
    return has;
}

bool xdp_stray_kernel_has(struct xdp_stray *s)
{
    char buf[4096];
    bool changed = false;
    ssize_t r;
    /* a look at the netlink socket is a syscall: once a millisecond at
     * most, not per batch of frames */
    int64_t now = dm_clock_ns();
    if (now - s->nl_seen_ns < XDP_STRAY_NL_EVERY)
        return s->kernel_has;
    s->nl_seen_ns = now;
    while ((r = recv(s->nl_fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0 || (r < 0 && errno == ENOBUFS))
        changed = true;
    if (changed)
        s->kernel_has = kernel_has_now(s);
    return s->kernel_has;
}

/* The fanout group of the processes with our address on the interface */
static uint16_t fanout_id(int ifindex, uint32_t v4)
{
    uint32_t h = ((uint32_t)ifindex * 0x9e3779b1u) ^ v4;
    h ^= h >> 16;
    return (uint16_t)(h * 0x85ebca6bu >> 16);
}

int xdp_stray_open(struct xdp_stray *s, int ifindex, const struct xdp_our_addrs *addr, int pkt_fd)
{
    struct cbpf c;
    int err, one = 1, v = TPACKET_V2;
    memset(s, 0, sizeof(*s));
    s->fd = s->nl_fd = -1;
    s->v4 = addr->v4;
    s->has6 = addr->has6;
    memcpy(s->v6, addr->v6, 16);
    if ((err = build_filter(&c, s)) < 0) {
        if (pkt_fd >= 0)
            close(pkt_fd);
        return err;
    }
    struct sock_fprog prog = { .len = (unsigned short)c.n, .filter = c.ins };
    struct tpacket_req req = { .tp_block_size = STRAY_BLOCK, .tp_block_nr = STRAY_BLOCKS,
                               .tp_frame_size = STRAY_FRAME, .tp_frame_nr = STRAY_BLOCKS * (STRAY_BLOCK / STRAY_FRAME) };
    struct sockaddr_nl snl = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR };
    /* protocol 0: nothing arrives before the filter is set and the bind */
    s->fd = pkt_fd >= 0 ? pkt_fd : socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    s->nl_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
    if (s->fd < 0 || s->nl_fd < 0 || bind(s->nl_fd, (struct sockaddr *)&snl, sizeof(snl)) < 0 ||
        setsockopt(s->fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0 ||
        setsockopt(s->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) < 0 ||
        setsockopt(s->fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)) < 0 ||
        setsockopt(s->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0)
        goto fail;
    s->ring_len = (size_t)STRAY_BLOCK * STRAY_BLOCKS;
    void *ring = mmap(NULL, s->ring_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, s->fd, 0);
    if (ring == MAP_FAILED)
        goto fail;
    s->ring = ring;
    (void)madvise(ring, s->ring_len, MADV_DONTFORK); /* a forked child does not read it */
    s->frame_nr = req.tp_frame_nr;
    /* The addresses after the netlink socket is subscribed: a change in
     * between is seen at the first frame. */
    s->kernel_has = kernel_has_now(s);
    struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = ifindex };
    int fan = fanout_id(ifindex, s->v4) | (PACKET_FANOUT_HASH << 16);
    if (bind(s->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0 ||
        setsockopt(s->fd, SOL_PACKET, PACKET_FANOUT, &fan, sizeof(fan)) < 0)
        goto fail;
    return 0;
fail:
    err = -errno;
    xdp_stray_close(s);
    return err;
}

void xdp_stray_close(struct xdp_stray *s)
{
    if (s->ring)
        munmap(s->ring, s->ring_len);
    if (s->fd >= 0)
        close(s->fd);
    if (s->nl_fd >= 0)
        close(s->nl_fd);
    s->ring = NULL;
    s->fd = s->nl_fd = -1;
}

const uint8_t *xdp_stray_peek(struct xdp_stray *s, uint32_t *len, bool *trunc)
{
    if (!xdp_stray_pending(s))
        return NULL;
    struct tpacket2_hdr *h = xdp_stray_hdr(s, s->next);
    *len = h->tp_snaplen;
    *trunc = h->tp_snaplen < h->tp_len || h->tp_mac + h->tp_snaplen > STRAY_FRAME;
    return (const uint8_t *)h + h->tp_mac;
}

void xdp_stray_pop(struct xdp_stray *s)
{
    __atomic_store_n(&xdp_stray_hdr(s, s->next)->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    s->next = s->next + 1 == s->frame_nr ? 0 : s->next + 1;
}
