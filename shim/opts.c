/* SPDX-License-Identifier: MIT */
/*
 * Socket option mapping. Every option the application sets is first set on
 * the placeholder kernel socket - Linux validates it and gives the exact
 * errno, and getsockopt() later reads back exactly what Linux would (e.g.
 * the doubled SO_RCVBUF). Then, by class:
 *   BACKEND         also applied to the datapath queue (replayed at
 *                   hand-over); if the backend does not support it the
 *                   difference is logged once and the call still succeeds,
 *                   as Linux does for an option that does not apply.
 *   BACKEND_STRICT  applied to the datapath; its error is the answer
 *                   (multicast membership: silently ignoring it would lose
 *                   traffic).
 *   SHIM            the shim's own state (timeouts, low-water mark,
 *                   SO_ERROR, SO_ACCEPTCONN).
 *   KERNEL          only on the placeholder; harmless for the datapath.
 *   UNSUPPORTED     ENOPROTOOPT once offloaded (e.g. socket filters).
 *   ANCILLARY       asks for control messages (IP_PKTINFO, SO_TIMESTAMP,
 *                   UDP_GRO...) that the datapath's receive path does not
 *                   carry: set on a socket not yet handed over, it keeps
 *                   that socket in the kernel, where they work; set on an
 *                   offloaded one, the difference is logged once.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/socket.h>
#include "interpose/real.h"
#include "shim/shim.h"

int shim_opt_class(int level, int name, bool set)
{
    switch (level) {
    case SOL_SOCKET:
        switch (name) {
        case SO_REUSEADDR: case SO_REUSEPORT: case SO_KEEPALIVE: case SO_LINGER:
        case SO_RCVBUF: case SO_SNDBUF: case SO_BROADCAST:
            return SHIM_OPT_BACKEND;
        case SO_RCVLOWAT: case SO_RCVTIMEO: case SO_SNDTIMEO:
            return SHIM_OPT_SHIM;
        case SO_ERROR: case SO_ACCEPTCONN: case SO_TYPE: case SO_DOMAIN: case SO_PROTOCOL:
            return set ? SHIM_OPT_KERNEL : SHIM_OPT_SHIM; /* the kernel gives ENOPROTOOPT on set */
        case SO_ATTACH_FILTER: case SO_ATTACH_BPF: case SO_ATTACH_REUSEPORT_CBPF:
        case SO_ATTACH_REUSEPORT_EBPF:
            return SHIM_OPT_UNSUPPORTED;
        case SO_TIMESTAMP_OLD: case SO_TIMESTAMPNS_OLD: case SO_TIMESTAMPING_OLD:
        case SO_TIMESTAMP_NEW: case SO_TIMESTAMPNS_NEW: case SO_TIMESTAMPING_NEW:
        case SO_RXQ_OVFL:
            return set ? SHIM_OPT_ANCILLARY : SHIM_OPT_KERNEL;
        default:
            return SHIM_OPT_KERNEL;
        }
    case IPPROTO_TCP:
        switch (name) {
        case TCP_NODELAY: case TCP_KEEPIDLE: case TCP_KEEPINTVL: case TCP_KEEPCNT:
        case TCP_QUICKACK: case TCP_CORK: case TCP_USER_TIMEOUT:
            return SHIM_OPT_BACKEND;
        default:
            return SHIM_OPT_KERNEL;
        }
    case IPPROTO_IP:
        switch (name) {
        case IP_TOS: case IP_TTL:
            return SHIM_OPT_BACKEND;
        case IP_ADD_MEMBERSHIP: case IP_DROP_MEMBERSHIP: case IP_MULTICAST_IF:
        case IP_MULTICAST_TTL: case IP_MULTICAST_LOOP:
            return SHIM_OPT_BACKEND_STRICT;
        case IP_PKTINFO: case IP_RECVTOS: case IP_RECVTTL: case IP_RECVOPTS: case IP_RETOPTS:
        case IP_RECVORIGDSTADDR: case IP_RECVERR: case IP_RECVFRAGSIZE:
            return set ? SHIM_OPT_ANCILLARY : SHIM_OPT_KERNEL;
        default:
            return SHIM_OPT_KERNEL;
        }
    case IPPROTO_IPV6:
        switch (name) {
        /* IPV6_V6ONLY decides whether a [::] listener takes IPv4: the
         * datapath's socket needs it before its bind (replayed first) */
        case IPV6_V6ONLY: case IPV6_TCLASS: case IPV6_UNICAST_HOPS:
            return SHIM_OPT_BACKEND;
        case IPV6_RECVPKTINFO: case IPV6_2292PKTINFO: case IPV6_RECVTCLASS: case IPV6_RECVHOPLIMIT:
        case IPV6_2292HOPLIMIT: case IPV6_RECVORIGDSTADDR: case IPV6_RECVERR: case IPV6_RECVFRAGSIZE:
            return set ? SHIM_OPT_ANCILLARY : SHIM_OPT_KERNEL;
        default:
            return SHIM_OPT_KERNEL;
        }
    case IPPROTO_UDP:
        /* GRO hands back one buffer of many datagrams with a segment-size
         * message; a socket-wide UDP_SEGMENT is GSO on every send */
        return set && (name == UDP_GRO || name == UDP_SEGMENT) ? SHIM_OPT_ANCILLARY : SHIM_OPT_KERNEL;
    default:
        return SHIM_OPT_KERNEL;
    }
}

const char *shim_ancillary_on(int fd)
{
    static const struct { int level, name; } opts[] = {
        { SOL_SOCKET, SO_TIMESTAMP_OLD }, { SOL_SOCKET, SO_TIMESTAMPNS_OLD }, { SOL_SOCKET, SO_TIMESTAMPING_OLD },
        { SOL_SOCKET, SO_RXQ_OVFL }, { IPPROTO_IP, IP_PKTINFO }, { IPPROTO_IP, IP_RECVTOS },
        { IPPROTO_IP, IP_RECVTTL }, { IPPROTO_IP, IP_RECVOPTS }, { IPPROTO_IP, IP_RETOPTS },
        { IPPROTO_IP, IP_RECVORIGDSTADDR }, { IPPROTO_IP, IP_RECVERR }, { IPPROTO_IP, IP_RECVFRAGSIZE },
        { IPPROTO_IPV6, IPV6_RECVPKTINFO }, { IPPROTO_IPV6, IPV6_2292PKTINFO }, { IPPROTO_IPV6, IPV6_RECVTCLASS },
        { IPPROTO_IPV6, IPV6_RECVHOPLIMIT }, { IPPROTO_IPV6, IPV6_2292HOPLIMIT },
        { IPPROTO_IPV6, IPV6_RECVORIGDSTADDR }, { IPPROTO_IPV6, IPV6_RECVERR }, { IPPROTO_IPV6, IPV6_RECVFRAGSIZE },
        { IPPROTO_UDP, UDP_GRO }, { IPPROTO_UDP, UDP_SEGMENT },
    };
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        int v = 0;
        socklen_t l = sizeof(v);
        /* an option of the other family (IPv6 on AF_INET) fails: off */
        if (DM_REAL(getsockopt)(fd, opts[i].level, opts[i].name, &v, &l) == 0 && v != 0)
            return shim_opt_name(opts[i].level, opts[i].name);
    }
    return NULL;
}

const char *shim_cmsg_unsupported(const struct msghdr *msg, uint16_t *gso)
{
    *gso = 0;
    if (!msg->msg_control || msg->msg_controllen < sizeof(struct cmsghdr))
        return NULL;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR((struct msghdr *)msg, c)) {
        if (c->cmsg_level == IPPROTO_UDP && c->cmsg_type == UDP_SEGMENT &&
            c->cmsg_len == CMSG_LEN(sizeof(uint16_t))) {
            memcpy(gso, CMSG_DATA(c), sizeof(*gso)); /* the shim cuts the datagrams itself */
            continue;
        }
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO)
            return "IP_PKTINFO";
        if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO)
            return "IPV6_PKTINFO";
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS)
            return "IP_TOS";
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL)
            return "IP_TTL";
        if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS)
            return "IPV6_TCLASS";
        if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT)
            return "IPV6_HOPLIMIT";
        return "a control message";
    }
    return NULL;
}

const char *shim_opt_name(int level, int name)
{
#define N(l, n) if (level == (l) && name == (n)) return #n;
    N(SOL_SOCKET, SO_REUSEADDR) N(SOL_SOCKET, SO_REUSEPORT) N(SOL_SOCKET, SO_KEEPALIVE)
    N(SOL_SOCKET, SO_LINGER) N(SOL_SOCKET, SO_RCVBUF) N(SOL_SOCKET, SO_SNDBUF)
    N(SOL_SOCKET, SO_RCVLOWAT) N(SOL_SOCKET, SO_ERROR) N(SOL_SOCKET, SO_TYPE)
    N(SOL_SOCKET, SO_RCVTIMEO) N(SOL_SOCKET, SO_SNDTIMEO) N(SOL_SOCKET, SO_BROADCAST)
    N(SOL_SOCKET, SO_ATTACH_FILTER) N(SOL_SOCKET, SO_BINDTODEVICE) N(SOL_SOCKET, SO_PRIORITY)
    N(IPPROTO_TCP, TCP_NODELAY) N(IPPROTO_TCP, TCP_KEEPIDLE) N(IPPROTO_TCP, TCP_KEEPINTVL)
    N(IPPROTO_TCP, TCP_KEEPCNT) N(IPPROTO_TCP, TCP_QUICKACK) N(IPPROTO_TCP, TCP_CORK)
    N(IPPROTO_TCP, TCP_DEFER_ACCEPT) N(IPPROTO_TCP, TCP_FASTOPEN) N(IPPROTO_TCP, TCP_USER_TIMEOUT)
    N(IPPROTO_IP, IP_TOS) N(IPPROTO_IP, IP_TTL) N(IPPROTO_IP, IP_ADD_MEMBERSHIP)
    N(IPPROTO_IPV6, IPV6_V6ONLY) N(IPPROTO_IPV6, IPV6_TCLASS) N(IPPROTO_IPV6, IPV6_UNICAST_HOPS)
    N(SOL_SOCKET, SO_TIMESTAMP_OLD) N(SOL_SOCKET, SO_TIMESTAMPNS_OLD) N(SOL_SOCKET, SO_TIMESTAMPING_OLD)
    N(SOL_SOCKET, SO_TIMESTAMP_NEW) N(SOL_SOCKET, SO_TIMESTAMPNS_NEW) N(SOL_SOCKET, SO_TIMESTAMPING_NEW)
    N(SOL_SOCKET, SO_RXQ_OVFL)
    N(IPPROTO_IP, IP_PKTINFO) N(IPPROTO_IP, IP_RECVTOS) N(IPPROTO_IP, IP_RECVTTL) N(IPPROTO_IP, IP_RECVOPTS)
    N(IPPROTO_IP, IP_RETOPTS) N(IPPROTO_IP, IP_RECVORIGDSTADDR) N(IPPROTO_IP, IP_RECVERR)
    N(IPPROTO_IP, IP_RECVFRAGSIZE)
    N(IPPROTO_IPV6, IPV6_RECVPKTINFO) N(IPPROTO_IPV6, IPV6_2292PKTINFO) N(IPPROTO_IPV6, IPV6_RECVTCLASS)
    N(IPPROTO_IPV6, IPV6_RECVHOPLIMIT) N(IPPROTO_IPV6, IPV6_2292HOPLIMIT) N(IPPROTO_IPV6, IPV6_RECVORIGDSTADDR)
    N(IPPROTO_IPV6, IPV6_RECVERR) N(IPPROTO_IPV6, IPV6_RECVFRAGSIZE)
    N(IPPROTO_UDP, UDP_GRO) N(IPPROTO_UDP, UDP_SEGMENT)
#undef N
    return "(option)";
}
