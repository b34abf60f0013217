/* SPDX-License-Identifier: MIT */
/*
 * What the kernel knows about a TCP connection, for an offloaded one:
 * getsockopt(TCP_INFO) and ioctl(SIOCINQ/SIOCOUTQ). The placeholder is
 * not connected, so it cannot answer. With a backend over kernel sockets
 * (uring, posix) the datapath's kernel socket is the connection: it
 * answers, and the queues add what the shim and the datapath hold (bytes
 * received and not read; sends still in flight). With a stack of its own
 * (dpdk, xdp) our TCP fills TCP_INFO (state, rtt, rto, mss, cwnd,
 * ssthresh, unacked, options); a socket it does not know (a listener
 * before its hand-over) gives the state the shim knows, the rest zero.
 */
#include <errno.h>
#include <linux/sockios.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/ioctl.h>
#include "dm/instance.h"
#include "interpose/real.h"
#include "shim/shim.h"

/* The kernel socket under s, or -1 (none: a stack of its own). */
static int sock_kfd(struct shim_sock *s)
{
    if (s->state != SHIM_OFFLOADED || !s->dp || s->qd < 0)
        return -1;
    int k = dm_kernel_fd(shim_dp_inst(s->dp), s->qd);
    return k >= 0 ? k : -1;
}

/* The state as the shim sees it (Linux's names, nearest match). */
static uint8_t shim_tcp_state(const struct shim_sock *s)
{
    if (s->phase == SHIM_LISTENING)
        return TCP_LISTEN;
    if (s->phase == SHIM_CONNECTING)
        return TCP_SYN_SENT;
    if (s->phase != SHIM_CONNECTED)
        return TCP_CLOSE;
    if (s->eof && s->shut_wr)
        return TCP_CLOSE;
    if (s->eof)
        return TCP_CLOSE_WAIT;
    if (s->shut_wr)
        return TCP_FIN_WAIT2;
    return TCP_ESTABLISHED;
}

int shim_tcp_info(struct shim_sock *s, void *val, socklen_t *len)
{
    if (!val || !len)
        return -EFAULT;
    if ((int)*len < 0)
        return -EINVAL;
    shim_progress();
    int k = sock_kfd(s);
    if (k >= 0)
        return DM_REAL(getsockopt)(k, IPPROTO_TCP, TCP_INFO, val, len) < 0 ? -errno : 0;
    if (s->state == SHIM_OFFLOADED && s->dp && s->qd >= 0 && s->phase != SHIM_LISTENING) {
        /* our own TCP knows its connection (rtt, cwnd, mss...) */
        int r = dm_getsockopt(shim_dp_inst(s->dp), s->qd, IPPROTO_TCP, TCP_INFO, val, len);
        if (r != -ENOPROTOOPT && r != -EOPNOTSUPP)
            return r;
    }
    struct tcp_info ti;
    memset(&ti, 0, sizeof(ti));
    ti.tcpi_state = shim_tcp_state(s);
    socklen_t n = DM_MIN(*len, (socklen_t)sizeof(ti));
    memcpy(val, &ti, n);
    *len = n;
    return 0;
}

int shim_tcp_queued(struct shim_sock *s, unsigned long req, int *out)
{
    if (s->phase == SHIM_LISTENING)
        return -EINVAL; /* as Linux */
    shim_progress();
    int64_t v = req == SIOCINQ ? (int64_t)s->rx_bytes : (int64_t)s->tx_bytes;
    int k = sock_kfd(s);
    int kv = 0;
    if (k >= 0 && DM_REAL(ioctl)(k, req, &kv) == 0)
        v += kv;
    *out = (int)DM_MIN(v, (int64_t)INT32_MAX);
    return 0;
}
