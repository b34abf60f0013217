/* SPDX-License-Identifier: MIT */
/*
 * Which sockets go to the datapath. socket() already kept AF_UNIX, raw and
 * netlink sockets in the kernel (and AF_INET6 ones when the backend has no
 * inet6); this decides, at hand-over, for a TCP/UDP socket given its local
 * address and (for connect) its peer. The rules are IPv4's: an AF_INET6
 * address is judged as the IPv4 address it stands for (::ffff:a.b.c.d as
 * a.b.c.d, ::1 as 127.0.0.1, :: as 0.0.0.0) and any other IPv6 address as
 * one that no net= rule matches (port= rules still do):
 *   DEMI_OFFLOAD=none           nothing is offloaded (the preload is inert)
 *   DEMI_OFFLOAD=port=6379,port=8000-8100,net=10.0.0.0/8
 *                               only sockets whose local or remote port /
 *                               address matches one rule
 *   DEMI_OFFLOAD_UDP=0          UDP stays in the kernel
 *   loopback                    with a backend that has its own stack
 *                               (dpdk, xdp) 127.0.0.0/8 cannot be reached
 *                               through it and stays in the kernel
 *                               (DEMI_OFFLOAD_LOOPBACK overrides).
 *   own address                 such a stack sends only from its own
 *                               address: a socket bound to another stays
 *                               in the kernel.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "shim/shim.h"

struct shim_rule {
    uint8_t is_net;
    uint16_t port_lo, port_hi;   /* host order */
    uint32_t net, mask;          /* host order */
};

struct shim_rules {
    int n;
    struct shim_rule r[];
};

static int parse_one(const char *tok, struct shim_rule *out)
{
    char *end;
    memset(out, 0, sizeof(*out));
    if (strncmp(tok, "port=", 5) == 0) {
        unsigned long lo = strtoul(tok + 5, &end, 10), hi = lo;
        if (end == tok + 5)
            return -EINVAL;
        if (*end == '-') {
            const char *p = end + 1;
            hi = strtoul(p, &end, 10);
            if (end == p)
                return -EINVAL;
        }
        if (*end || lo > 65535 || hi > 65535 || lo > hi)
            return -EINVAL;
        out->port_lo = (uint16_t)lo;
        out->port_hi = (uint16_t)hi;
        return 0;
    }
    if (strncmp(tok, "net=", 4) == 0) {
        char buf[32];
        const char *slash = strchr(tok + 4, '/');
        size_t alen = slash ? (size_t)(slash - (tok + 4)) : strlen(tok + 4);
        if (alen == 0 || alen >= sizeof(buf))
            return -EINVAL;
        memcpy(buf, tok + 4, alen);
        buf[alen] = 0;
        struct in_addr a;
        if (inet_pton(AF_INET, buf, &a) != 1)
            return -EINVAL;
        unsigned long len = 32;
        if (slash) {
            len = strtoul(slash + 1, &end, 10);
            if (end == slash + 1 || *end || len > 32)
                return -EINVAL;
        }
        out->is_net = 1;
        out->mask = len == 0 ? 0 : 0xffffffffu << (32 - len);
        out->net = ntohl(a.s_addr) & out->mask;
        return 0;
    }
    return -EINVAL;
}

int shim_rules_parse(const char *spec, struct shim_rules **out)
{
    int n = 1;
    for (const char *p = spec; *p; p++)
        n += *p == ',';
    struct shim_rules *rs = calloc(1, sizeof(*rs) + (size_t)n * sizeof(rs->r[0]));
    char *copy = strdup(spec);
    if (!rs || !copy) {
        free(rs);
        free(copy);
        return -ENOMEM;
    }
    char *save = NULL;
    for (char *tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        if (parse_one(tok, &rs->r[rs->n]) < 0) {
            free(copy);
            free(rs);
            return -EINVAL;
        }
        rs->n++;
    }
    free(copy);
    if (rs->n == 0) {
        free(rs);
        return -EINVAL;
    }
    *out = rs;
    return 0;
}

void shim_rules_free(struct shim_rules *r) { free(r); }

void shim_offload_v4view(const union dm_sockaddr *a, struct sockaddr_in *out)
{
    memset(out, 0, sizeof(*out));
    out->sin_family = AF_INET;
    if (a->sa.sa_family != AF_INET6) {
        *out = a->sin;
        return;
    }
    const struct in6_addr *ip6 = &a->sin6.sin6_addr;
    out->sin_port = a->sin6.sin6_port;
    if (IN6_IS_ADDR_V4MAPPED(ip6))
        memcpy(&out->sin_addr, &ip6->s6_addr[12], 4);
    else if (IN6_IS_ADDR_LOOPBACK(ip6))
        out->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* else 0.0.0.0: "any" for ::, and no net= rule matches it (rule_hits) */
}

int shim_offload_decide_addr(const struct shim_rules *r, const struct shim_cfg *c, int type,
                             const union dm_sockaddr *local, const union dm_sockaddr *remote,
                             const char **why)
{
    struct sockaddr_in l4, r4;
    if (local)
        shim_offload_v4view(local, &l4);
    if (remote)
        shim_offload_v4view(remote, &r4);
    return shim_offload_decide(r, c, type, local ? &l4 : NULL, remote ? &r4 : NULL, why);
}

static bool rule_hits(const struct shim_rule *r, const struct sockaddr_in *a)
{
    if (!a)
        return false;
    if (r->is_net) {
        uint32_t ip = ntohl(a->sin_addr.s_addr);
        return ip != 0 && (ip & r->mask) == r->net;
    }
    uint16_t port = ntohs(a->sin_port);
    return port != 0 && port >= r->port_lo && port <= r->port_hi;
}

bool shim_rules_match(const struct shim_rules *r, const struct sockaddr_in *local,
                      const struct sockaddr_in *remote)
{
    if (!r)
        return true;
    for (int i = 0; i < r->n; i++)
        if (rule_hits(&r->r[i], local) || rule_hits(&r->r[i], remote))
            return true;
    return false;
}

bool shim_offload_addr_ok(const struct sockaddr_in *a, int offload_loopback)
{
    if (!a || offload_loopback)
        return true;
    return (ntohl(a->sin_addr.s_addr) >> 24) != 127;
}

int shim_offload_decide(const struct shim_rules *r, const struct shim_cfg *c, int type,
                        const struct sockaddr_in *local, const struct sockaddr_in *remote,
                        const char **why)
{
    if (c->offload_none) {
        *why = "DEMI_OFFLOAD=none";
        return 0;
    }
    if (type == SOCK_DGRAM && !c->offload_udp) {
        *why = "DEMI_OFFLOAD_UDP=0";
        return 0;
    }
    if (!shim_offload_addr_ok(local, c->offload_loopback) || !shim_offload_addr_ok(remote, c->offload_loopback)) {
        *why = "loopback traffic stays in the kernel with this backend (DEMI_OFFLOAD_LOOPBACK)";
        return 0;
    }
    /* A stack with its own address (dpdk, xdp) sends only from that one:
     * a socket bound to another of the host's addresses (a source
     * address chosen before connect, say) stays the kernel's. */
    if (c->own_addr && local && local->sin_addr.s_addr != htonl(INADDR_ANY) &&
        local->sin_addr.s_addr != c->own_addr && (ntohl(local->sin_addr.s_addr) >> 24) != 127) {
        *why = "bound to an address that is not the datapath's own (DEMI_IPV4)";
        return 0;
    }
    if (!shim_rules_match(r, local, remote)) {
        *why = "no DEMI_OFFLOAD rule matches its addresses";
        return 0;
    }
    *why = r ? "a DEMI_OFFLOAD rule matches" : "TCP/UDP is offloaded by default";
    return 1;
}
