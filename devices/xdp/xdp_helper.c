/* SPDX-License-Identifier: MIT */
/*
 * The privileged helper: the datapath for processes that dropped root.
 *
 * nginx's stock model starts a master as root and forks workers that
 * become nobody/www-data before they touch a socket, so the datapath
 * starts after the drop. What needs privilege is small (xdp_xsk.c):
 * creating the AF_XDP socket and pinning its UMEM, and finding or
 * attaching the interface's XDP program. The rest (rings, bind, XSKMAP
 * insert through a map fd) works unprivileged.
 *
 * So a process that loads the library with DEMI_BACKEND=xdp while it can
 * create AF_XDP sockets (DEMI_XDP_HELPER=auto: root, CAP_NET_RAW) starts a
 * helper at load (a constructor: single-threaded, before main): a
 * double-forked copy of itself that serves requests over a SOCK_SEQPACKET
 * socketpair whose other end the process keeps at a high fd number (close
 * on exec: a new program starts its own). Its forked workers inherit that
 * end. A worker that cannot create the socket itself sends a request with
 * a reply socket and its UMEM memfd; the helper answers with the socket
 * (UMEM registered from its own mapping of the memfd, the pages pinned
 * and charged to root) and the program's XSKMAP and queue map, then closes
 * its copies: the worker holds the only reference, so when it dies the
 * queue is free and its XSKMAP slot empty at once, as for any process.
 *
 * The helper uses its own configuration (the environment at load) for the
 * interface and the address to redirect, never the worker's request. It
 * exits when the last holder of the channel is gone (end of file), after
 * detaching the program if no live process holds a queue. It sits in its
 * own session so a terminal's ^C reaches the server, not it.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "dm/config.h"
#include "dm/log.h"
#include "xdp_prog.h"

#ifndef AF_XDP
#define AF_XDP 44
#endif

enum { HELPER_GET = 1, HELPER_PUT = 2 };
#define HELPER_MAGIC 0x64784850u /* "PHxd" */

struct helper_req {
    uint32_t magic, op;
    uint64_t len;                  /* GET: UMEM bytes in the memfd */
    uint32_t umem_flags;           /* GET: xdp_xsk_umem_socket's */
    uint32_t pad;
};

/* a GET's answer carries the socket and the shared maps: xsks, queues,
 * neigh (ARP), neigh6 (ND), fwd; then, with `pkt`, a packet socket
 * (xdp_stray.c: creating one takes CAP_NET_RAW, setting it up nothing) */
#define HELPER_FDS 7

struct helper_res {
    int32_t err;
    uint32_t nqueues;
    uint32_t legacy;
    uint32_t pkt;
    uint32_t umem_flags;           /* GET: those the kernel took */
    uint32_t pad;
};

static int helper_ch = -1;

int xdp_helper_fd(void)
{
    return helper_ch;
}

static int send_fds(int s, const void *msg, size_t len, const int *fds, int nfds)
{
    char cbuf[CMSG_SPACE(sizeof(int) * HELPER_FDS)];
    struct iovec iov = { (void *)msg, len };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (nfds) {
        memset(cbuf, 0, sizeof(cbuf));
        m.msg_control = cbuf;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    return sendmsg(s, &m, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* One message and up to `max` fds (the rest closed); bytes read, 0 at end
 * of file, or -errno. *nfds: fds received. */
static ssize_t recv_fds(int s, void *msg, size_t len, int *fds, int max, int *nfds)
{
    char cbuf[CMSG_SPACE(sizeof(int) * HELPER_FDS) + CMSG_SPACE(sizeof(struct ucred))];
    struct iovec iov = { msg, len };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
    ssize_t n = recvmsg(s, &m, MSG_CMSG_CLOEXEC);
    *nfds = 0;
    if (n < 0)
        return -errno;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int)), got[HELPER_FDS];
        if (k > HELPER_FDS)
            k = HELPER_FDS; /* cbuf holds no more */
        memcpy(got, CMSG_DATA(c), sizeof(int) * (size_t)k);
        for (int i = 0; i < k; i++) {
            if (*nfds < max)
                fds[(*nfds)++] = got[i];
            else
                close(got[i]);
        }
    }
    return n;
}

/* ---- the helper process ---- */

static struct {
    int ifindex;
    uint32_t nqueues;
    struct xdp_our_addrs addr;
} hcfg;

static void serve_get(int reply, int memfd, uint64_t len, uint32_t umem_flags)
{
    struct helper_res res = { 0 };
    struct xdp_shared sh = { .xsks_fd = -1, .queues_fd = -1, .neigh_fd = -1, .neigh6_fd = -1, .fwd_fd = -1 };
    struct stat st;
    int xsk = -1;
    const uint32_t known = XDP_UMEM_UNALIGNED_CHUNK_FLAG | XDP_UMEM_TX_METADATA_LEN | XDP_UMEM_TX_SW_CSUM;
    if (len == 0 || len > (4096ull << 20) || (umem_flags & ~known) || fstat(memfd, &st) < 0 ||
        (uint64_t)st.st_size < len) {
        res.err = -EINVAL;
    } else if ((res.err = xdp_shared_get(hcfg.ifindex, hcfg.nqueues, &hcfg.addr, &sh)) == 0 &&
               (xsk = xdp_xsk_umem_socket(memfd, (size_t)len, XSK_UMEM__DEFAULT_FRAME_SIZE, &umem_flags)) < 0) {
        res.err = xsk;
    }
    res.umem_flags = umem_flags;
    if (res.err == 0) {
        /* protocol 0: it receives nothing until the worker binds it */
        int pkt = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        int fds[HELPER_FDS] = { xsk, sh.xsks_fd, sh.queues_fd, sh.neigh_fd, sh.neigh6_fd, sh.fwd_fd, pkt };
        res.nqueues = sh.nqueues;
        res.legacy = sh.legacy;
        res.pkt = pkt >= 0;
        res.err = send_fds(reply, &res, sizeof(res), fds, HELPER_FDS - (pkt < 0));
        if (pkt >= 0)
            close(pkt);
    } else {
        DM_ERR("xdp", "helper: the datapath for a worker: %s", strerror(-res.err));
        send_fds(reply, &res, sizeof(res), NULL, 0);
    }
    if (xsk >= 0)
        close(xsk);
    xdp_shared_close(&sh);
}

static void helper_main(int ch)
{
    setsid();
    /* stdin and stdout stay nobody's pipe (a shell's $(...) waits for
     * them); stderr keeps our error lines */
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        close(null);
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    DM_DEBUG("xdp", "helper %d: serving ifindex %d", (int)getpid(), hcfg.ifindex);
    for (;;) {
        struct helper_req req;
        int fds[2], nfds;
        ssize_t n = recv_fds(ch, &req, sizeof(req), fds, 2, &nfds);
        if (n == 0 || (n < 0 && n != -EINTR))
            break; /* every process that could ask is gone */
        if (n == (ssize_t)sizeof(req) && req.magic == HELPER_MAGIC && nfds >= 1) {
            if (req.op == HELPER_GET && nfds == 2) {
                serve_get(fds[0], fds[1], req.len, req.umem_flags);
            } else if (req.op == HELPER_PUT) {
                struct helper_res res = { .err = xdp_shared_put(hcfg.ifindex) };
                send_fds(fds[0], &res, sizeof(res), NULL, 0);
            }
        }
        for (int i = 0; i < nfds; i++)
            close(fds[i]);
    }
    int lk = xdp_if_lock(hcfg.ifindex, 5000);
    if (lk >= 0) {
        xdp_shared_put(hcfg.ifindex);
        xdp_if_unlock(lk);
    }
    _exit(0);
}

static bool backend_is_xdp(const char *be)
{
    /* a preference list: the first entry is the one that runs when it starts */
    return be && strncmp(be, "xdp", 3) == 0 && (be[3] == '\0' || be[3] == ',');
}

__attribute__((constructor)) static void xdp_helper_start(void)
{
    struct dm_config cfg;
    int on, sv[2];
    if (!xdp_prog_available())
        return;
    dm_config_init(&cfg); /* the environment at load, as the preload's snapshot */
    const char *be = dm_cfg_str(&cfg, DM_CFG_BACKEND), *ifname = dm_cfg_str(&cfg, DM_CFG_XDP_IFACE);
    if (!backend_is_xdp(be) || !ifname)
        return;
    if (dm_cfg_bool(&cfg, DM_CFG_XDP_HELPER, &on) == 0 && !on)
        return;
    int filter;
    if (dm_cfg_enum(&cfg, DM_CFG_XDP_FILTER, &filter) != 0 || filter != 0)
        return; /* DEMI_XDP_FILTER=all: libxdp's program, privileged processes only */
    int probe = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (probe < 0)
        return; /* not privileged: nothing to hand down */
    close(probe);
    if (!(hcfg.ifindex = (int)if_nametoindex(ifname)) || xdp_our_addrs_get(&cfg, &hcfg.addr) < 0)
        return; /* the datapath's own open reports these */
    uint32_t now;
    hcfg.nqueues = xdp_iface_queues(ifname, 0, &now);
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return;
    /* out of the way of the application's own fd numbers */
    int high = fcntl(sv[0], F_DUPFD_CLOEXEC, 512);
    if (high >= 0) {
        close(sv[0]);
        sv[0] = high;
    }
    pid_t pid = _Fork(); /* no atfork handlers, not the preload's fork */
    if (pid == 0) {
        if (_Fork() != 0)
            _exit(0); /* the helper is not the application's child */
        close(sv[0]);
        helper_main(sv[1]);
    }
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        return;
    }
    waitpid(pid, NULL, 0);
    helper_ch = sv[0];
}

/* ---- the worker's side ---- */

static int helper_call(uint32_t op, int memfd, uint64_t len, uint32_t umem_flags, struct helper_res *res, int *fds,
                       int *nfds)
{
    struct helper_req req = { .magic = HELPER_MAGIC, .op = op, .len = len, .umem_flags = umem_flags };
    int rp[2], sfds[2], err;
    if (helper_ch < 0)
        return -ENOENT;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, rp) < 0)
        return -errno;
    sfds[0] = rp[1];
    sfds[1] = memfd;
    err = send_fds(helper_ch, &req, sizeof(req), sfds, memfd >= 0 ? 2 : 1);
    close(rp[1]);
    if (err == 0) {
        struct pollfd pf = { .fd = rp[0], .events = POLLIN };
        ssize_t n = poll(&pf, 1, 10000) == 1 ? recv_fds(rp[0], res, sizeof(*res), fds, HELPER_FDS, nfds) : -ETIMEDOUT;
        err = n < 0 ? (int)n : n != (ssize_t)sizeof(*res) ? -EPIPE : res->err;
    }
    close(rp[0]);
    return err;
}

int xdp_helper_get(int memfd, size_t len, uint32_t *umem_flags, struct xdp_shared *sh, int *xsk_fd, int *pkt_fd)
{
    struct helper_res res;
    int fds[HELPER_FDS], nfds = 0;
    int err = helper_call(HELPER_GET, memfd, len, *umem_flags, &res, fds, &nfds);
    if (err == 0 && nfds != HELPER_FDS - !res.pkt)
        err = -EPROTO;
    if (err < 0) {
        for (int i = 0; i < nfds; i++)
            close(fds[i]);
        return err;
    }
    *xsk_fd = fds[0];
    sh->xsks_fd = fds[1];
    sh->queues_fd = fds[2];
    sh->neigh_fd = fds[3];
    sh->neigh6_fd = fds[4];
    sh->fwd_fd = fds[5];
    *pkt_fd = res.pkt ? fds[6] : -1;
    sh->nqueues = res.nqueues;
    sh->legacy = res.legacy;
    *umem_flags = res.umem_flags;
    return 0;
}

int xdp_helper_put(void)
{
    struct helper_res res;
    int fds[HELPER_FDS], nfds = 0;
    int err = helper_call(HELPER_PUT, -1, 0, 0, &res, fds, &nfds);
    for (int i = 0; i < nfds; i++)
        close(fds[i]);
    return err;
}
