/* SPDX-License-Identifier: MIT */
/*
 * The XDP program in front of our AF_XDP socket: it takes from the
 * interface only the frames that belong to the datapath and leaves the
 * rest to the kernel, so SSH, the kernel's own addresses and listeners
 * keep working on an interface we share with it.
 *
 * Redirected to the XSK of the receiving queue (xdp_xsks, indexed by
 * rx_queue_index):
 *  - IPv4 (no VLAN tag) whose destination is in xdp_addrs and whose
 *    protocol is TCP, UDP or ICMP: what stacks/inet handles;
 *  - ARP (Ethernet/IPv4) whose target protocol address is in xdp_addrs:
 *    requests for our address and replies to our own requests; their
 *    sender is recorded in xdp_neigh for the processes on other queues;
 *  - IPv6 (no VLAN tag) to an address in xdp_addrs6 (DEMI_IPV6), any next
 *    header (stacks/inet skips or counts extension headers), and neighbour
 *    solicitations sent to a multicast group whose target is one of ours
 *    (the solicited-node group is shared by every address with the same
 *    low 24 bits: the kernel's own ones may be in it). Link-local IPv6
 *    stays the kernel's: ours derives from the interface's MAC, as the
 *    kernel's does. Solicited advertisements to one of our addresses
 *    with a target link-layer option: their target is recorded in
 *    xdp_neigh6 for the processes on other queues, as ARP's sender is.
 * Everything else: XDP_PASS. The redirect falls back to XDP_PASS when the
 * queue has no XSK in the map (another queue, or our process is gone: the
 * kernel removes a socket from the map when it is released), so a stale
 * copy of this program never blackholes traffic.
 *
 * One copy per interface serves every process of the datapath on it:
 * each puts its socket in xdp_xsks at its own queue and its address in
 * xdp_addrs (xdp_prog.c). Under libxdp's dispatcher XDP_PASS goes on to
 * the next program in the chain (XDP_RUN_CONFIG below).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <xdp/xdp_helpers.h>

#define XDP_FILTER_MAX_ADDRS 16

struct {
    __uint(type, BPF_MAP_TYPE_XSKMAP);
    __uint(max_entries, 1);          /* resized to the queue count before load */
    __type(key, __u32);
    __type(value, __u32);
} xdp_xsks SEC(".maps");

/* our IPv4 addresses, network byte order -> unused */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, XDP_FILTER_MAX_ADDRS);
    __type(key, __u32);
    __type(value, __u8);
} xdp_addrs SEC(".maps");

/* our IPv6 addresses -> unused */
struct xdp_in6 {
    __u8 a[16];
};
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, XDP_FILTER_MAX_ADDRS);
    __type(key, struct xdp_in6);
    __type(value, __u8);
} xdp_addrs6 SEC(".maps");

/* Which process holds each queue (struct xdp_qowner in xdp_prog.c): the
 * processes sharing this copy of the program claim and release queues
 * here, and the last one out detaches it. Written by user space only. */
struct xdp_qowner {
    __u64 pidns;                     /* inode of the owner's pid namespace */
    __u64 start;                     /* its start time, against pid reuse */
    __u32 pid;
    __u32 pad;
};
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);          /* resized to the queue count before load */
    __type(key, __u32);
    __type(value, struct xdp_qowner);
} xdp_queues SEC(".maps");

/* The senders of ARP frames addressed to us (requests for our address,
 * replies to our requests), IPv4 address (network order) -> MAC: the peer
 * sends its ARP on one queue only (the hash of a frame without ports), so
 * the process on another queue would never hear the answer to its own
 * request. Its device looks the answer up here instead (xdp.c). */
struct xdp_neigh_mac {
    __u8 mac[6];
    __u16 pad;
};
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 1024);
    __type(key, __u32);
    __type(value, struct xdp_neigh_mac);
} xdp_neigh SEC(".maps");

/* The targets of neighbour advertisements sent to one of our IPv6
 * addresses (the answers to our solicitations), IPv6 address -> MAC (the
 * target link-layer option): as xdp_neigh for ARP, the answer to one
 * process's solicitation lands on the queue its addresses hash to. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 1024);
    __type(key, struct xdp_in6);
    __type(value, struct xdp_neigh_mac);
} xdp_neigh6 SEC(".maps");

/* Frames the processes of this interface hand each other (xdp_fwd.c):
 * per queue a header page and XDP_FWD_SLOTS frame slots. The program
 * never touches it (user space maps it, BPF_F_MMAPABLE); it lives here so
 * that it lives as long as the program and the next process finds it with
 * the others. */
struct xdp_fwd_page {
    __u8 b[4096];
};
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(map_flags, BPF_F_MMAPABLE);
    __uint(max_entries, 1);          /* resized before load: queues x (1 + slots) */
    __type(key, __u32);
    __type(value, struct xdp_fwd_page);
} xdp_fwd SEC(".maps");

/* Under the dispatcher: run early (lower runs first) and go on with the
 * next program on XDP_PASS only. */
struct {
    __uint(priority, 20);
    __uint(XDP_PASS, 1);
} XDP_RUN_CONFIG(demi_xdp_filter);

struct arp_eth_ipv4 {
    __be16 htype, ptype;
    __u8 hlen, plen;
    __be16 op;
    __u8 sha[6];
    __u8 spa[4];
    __u8 tha[6];
    __u8 tpa[4];
} __attribute__((packed));

struct ipv4_hdr {
    __u8 vihl, tos;
    __be16 tot_len, id, frag_off;
    __u8 ttl, protocol;
    __sum16 check;
    __be32 saddr, daddr;
};

struct ipv6_hdr {
    __be32 vtc_flow;
    __be16 payload_len;
    __u8 nexthdr, hop_limit;
    struct xdp_in6 saddr, daddr;
};

/* ICMPv6 neighbour solicitation (RFC 4861 4.3), up to its target */
struct nd_solicit {
    __u8 type, code;
    __sum16 check;
    __be32 reserved;
    struct xdp_in6 target;
};

/* ICMPv6 neighbour advertisement (RFC 4861 4.4), up to its target */
struct nd_advert {
    __u8 type, code;
    __sum16 check;
    __be32 flags;
    struct xdp_in6 target;
};

#define IPPROTO_ICMPV6_ 58
#define ND_NEIGHBOR_SOLICIT_ 135
#define ND_NEIGHBOR_ADVERT_ 136
#define ND_OPT_TARGET_LLADDR_ 2
#define ND_NA_SOLICITED_ 0x40000000
#define ND_OPTS_MAX 4                /* options looked at: Linux sends one */

static __always_inline int is_ours(__u32 addr)
{
    return bpf_map_lookup_elem(&xdp_addrs, &addr) != 0;
}

static __always_inline int is_ours6(const struct xdp_in6 *a)
{
    struct xdp_in6 k;
    __builtin_memcpy(&k, a, sizeof(k)); /* a map key from the stack */
    return bpf_map_lookup_elem(&xdp_addrs6, &k) != 0;
}

/* A solicited advertisement (hop limit 255, code 0, RFC 4861 7.1.2) with
 * a unicast target link-layer option: its target -> that MAC in
 * xdp_neigh6. The frame is redirected (or passed) as before either way;
 * the checksum is left to the stack that receives it, and a bad one only
 * costs a map entry the peer would answer anyway. */
static __always_inline void nd_record(struct ipv6_hdr *ip6, void *end)
{
    struct nd_advert *na = (void *)(ip6 + 1);
    if (ip6->nexthdr != IPPROTO_ICMPV6_ || ip6->hop_limit != 255 || (void *)(na + 1) > end ||
        na->type != ND_NEIGHBOR_ADVERT_ || na->code != 0 || !(na->flags & bpf_htonl(ND_NA_SOLICITED_)) ||
        na->target.a[0] == 0xff)
        return;
    __u8 *o = (void *)(na + 1);
    for (int i = 0; i < ND_OPTS_MAX; i++) {
        if ((void *)(o + 8) > end)
            return;
        if (o[1] == 0)
            return; /* RFC 4861 7.1.2: invalid */
        if (o[0] == ND_OPT_TARGET_LLADDR_) {
            struct xdp_neigh_mac nm = { .pad = 0 };
            struct xdp_in6 k;
            __builtin_memcpy(nm.mac, o + 2, 6);
            __builtin_memcpy(&k, &na->target, sizeof(k));
            if (!(nm.mac[0] & 1))
                bpf_map_update_elem(&xdp_neigh6, &k, &nm, BPF_ANY);
            return;
        }
        o += (__u32)o[1] * 8;
    }
}

SEC("xdp")
int demi_xdp_filter(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    __u32 zero = 0;

    /* Only maps the code refers to are listed with the loaded program,
     * and the next process finds xdp_queues and xdp_fwd through that
     * list: refer to them. An array lookup at index 0 cannot fail (and
     * the verifier turns it into an address computation). */
    if (!bpf_map_lookup_elem(&xdp_queues, &zero) || !bpf_map_lookup_elem(&xdp_fwd, &zero))
        return XDP_PASS;
    if ((void *)(eth + 1) > end)
        return XDP_PASS;
    if (eth->h_proto == bpf_htons(ETH_P_IP)) {
        struct ipv4_hdr *ip = (void *)(eth + 1);
        if ((void *)(ip + 1) > end || (ip->vihl >> 4) != 4 || !is_ours(ip->daddr))
            return XDP_PASS;
        if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP && ip->protocol != IPPROTO_ICMP)
            return XDP_PASS;
    } else if (eth->h_proto == bpf_htons(ETH_P_ARP)) {
        struct arp_eth_ipv4 *arp = (void *)(eth + 1);
        __u32 tpa;
        if ((void *)(arp + 1) > end || arp->htype != bpf_htons(1) || arp->ptype != bpf_htons(ETH_P_IP) ||
            arp->hlen != 6 || arp->plen != 4)
            return XDP_PASS;
        __builtin_memcpy(&tpa, arp->tpa, 4);
        if (!is_ours(tpa))
            return XDP_PASS;
        struct xdp_neigh_mac nm = { .pad = 0 };
        __u32 spa;
        __builtin_memcpy(&spa, arp->spa, 4);
        __builtin_memcpy(nm.mac, arp->sha, 6);
        if (spa && !(nm.mac[0] & 1))
            bpf_map_update_elem(&xdp_neigh, &spa, &nm, BPF_ANY);
    } else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
        struct ipv6_hdr *ip6 = (void *)(eth + 1);
        if ((void *)(ip6 + 1) > end || (ip6->vtc_flow & bpf_htonl(0xf0000000)) != bpf_htonl(0x60000000))
            return XDP_PASS;
        if (ip6->daddr.a[0] == 0xff) {
            struct nd_solicit *ns = (void *)(ip6 + 1);
            if (ip6->nexthdr != IPPROTO_ICMPV6_ || (void *)(ns + 1) > end || ns->type != ND_NEIGHBOR_SOLICIT_ ||
                !is_ours6(&ns->target))
                return XDP_PASS;
        } else if (!is_ours6(&ip6->daddr)) {
            return XDP_PASS;
        } else if (ip6->nexthdr == IPPROTO_ICMPV6_) {
            nd_record(ip6, end);
        }
    } else {
        return XDP_PASS;
    }
    return bpf_redirect_map(&xdp_xsks, ctx->rx_queue_index, XDP_PASS);
}

char _license[] SEC("license") = "Dual MIT/GPL";
