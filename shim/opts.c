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
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
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
        default:
            return SHIM_OPT_KERNEL;
        }
    case IPPROTO_IPV6:
        switch (name) {
        /* IPV6_V6ONLY decides whether a [::] listener takes IPv4: the
         * datapath's socket needs it before its bind (replayed first) */
        case IPV6_V6ONLY: case IPV6_TCLASS: case IPV6_UNICAST_HOPS:
            return SHIM_OPT_BACKEND;
        default:
            return SHIM_OPT_KERNEL;
        }
    default:
        return SHIM_OPT_KERNEL;
    }
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
#undef N
    return "(option)";
}
