/* SPDX-License-Identifier: MIT */
/*
 * A listener's hand-over: the kernel's listener (the placeholder) stops
 * listening once the datapath's listens, and no connection it took is
 * lost.
 *
 * Stopping a TCP listener resets what it holds: the connections queued for
 * accept(), and the half-open ones (SYN in, the client's ACK still to
 * come), which the kernel resets when that ACK finds the listener gone.
 * So, before the shutdown:
 *
 * 1. Nothing new reaches it. The datapath's socket, where it is a kernel
 *    socket (uring, posix), shares the placeholder's SO_REUSEPORT group.
 *    Where the placeholder is that group's socket 0, a classic BPF
 *    program returning 1 (SO_ATTACH_REUSEPORT_CBPF, on the whole group)
 *    sends every new connection to socket 1, a listener that keeps
 *    listening: ours, a forked sibling's datapath socket, or (below) a
 *    listener that joined after ours. Linux fills a leaving socket's
 *    slot with the group's last one, so slot 0 stays the placeholder's
 *    while it listens if it was there: when it made the group (the
 *    application did not ask for SO_REUSEPORT: the shim set it just
 *    before listen()), or when it was the only listener on its address
 *    and port before ours joined (shim_handover_first). Otherwise (the
 *    application's own group with other listeners in it: nginx
 *    `reuseport`; a datapath socket that could not join), a socket filter
 *    on the placeholder drops new SYNs: the client sends its SYN again a
 *    second later, to a listener then.
 * 2. A SYN that a CPU was processing under the old choice when the
 *    program or filter went in is done after an RCU grace period (a
 *    softirq is a read-side section): membarrier(MEMBARRIER_CMD_GLOBAL)
 *    is synchronize_rcu(), 8-16 ms on a 2-CPU VM (2026-12-05).
 * 3. What it holds is accepted until nothing is pending: each connection
 *    a listener holds, queued or half-open, holds a reference to it, and
 *    /proc/net/tcp shows a listener's references (1 when none). A
 *    half-open one is waited for (a round trip), HANDOVER_WAIT_MS at most
 *    (the requests of a SYN flood never complete).
 *
 * Then shutdown(SHUT_RD) stops it (the port stays bound to it), and the
 * program or filter goes. What was accepted here is served by the kernel
 * (s->kaccq), before the datapath's connections. With dpdk and xdp the
 * datapath's listener is not in the kernel: a connection kept from the
 * kernel's would find no listener there later, so that one is only
 * emptied once, then stopped.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/membarrier.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "dm/log.h"
#include "dm/time.h"
#include "interpose/real.h"
#include "shim/shim.h"

#define HANDOVER_WAIT_MS 1000

/* The group's socket 1 takes every new connection. */
static const struct sock_filter steer_insns[] = {
    BPF_STMT(BPF_RET | BPF_K, 1),
};
/* An index beyond the group: Linux chooses by hash, as with no program
 * (for kernels before 5.3, which cannot detach one). */
static const struct sock_filter hash_insns[] = {
    BPF_STMT(BPF_RET | BPF_K, 0xffffffff),
};
/* A socket filter on a TCP socket reads from the TCP header: its flags are
 * byte 13. A SYN without ACK (a new connection) is dropped; anything else
 * (the ACK that completes a half-open one) is kept whole. */
static const struct sock_filter nosyn_insns[] = {
    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 13),
    BPF_STMT(BPF_ALU | BPF_AND | BPF_K, TH_SYN | TH_ACK),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TH_SYN, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, 0),
    BPF_STMT(BPF_RET | BPF_K, 0xffffffff),
};

static bool attach(int fd, int name, const struct sock_filter *insns, unsigned short n)
{
    struct sock_fprog prog = { .len = n, .filter = (struct sock_filter *)insns };
    return DM_REAL(setsockopt)(fd, SOL_SOCKET, name, &prog, sizeof(prog)) == 0;
}

/* The placeholder has no socket filter of the application's (SO_GET_FILTER
 * answers the number of instructions; ours may be there already, put by
 * a forked sibling handing over the same socket). */
static bool filter_free(int fd)
{
    struct sock_filter cur[DM_ARRAY_SIZE(nosyn_insns)];
    socklen_t n = DM_ARRAY_SIZE(cur);
    if (DM_REAL(getsockopt)(fd, SOL_SOCKET, SO_GET_FILTER, cur, &n) < 0)
        return errno == ENOPROTOOPT;
    return n == 0 || (n == DM_ARRAY_SIZE(nosyn_insns) && memcmp(cur, nosyn_insns, sizeof(nosyn_insns)) == 0);
}

/* /proc/net/tcp's local address of a socket bound to a (as the kernel
 * prints it: each 32-bit word as read from memory, then the port). */
static void proc_addr(const union dm_sockaddr *a, char *out, size_t len)
{
    uint32_t w[4];
    if (a->sa.sa_family == AF_INET6) {
        memcpy(w, &a->sin6.sin6_addr, sizeof(w));
        snprintf(out, len, "%08X%08X%08X%08X:%04X", w[0], w[1], w[2], w[3], ntohs(a->sin6.sin6_port));
    } else {
        memcpy(w, &a->sin.sin_addr, sizeof(w[0]));
        snprintf(out, len, "%08X:%04X", w[0], ntohs(a->sin.sin_port));
    }
}

/* The listening sockets in /proc/net/tcp (or tcp6): how many are bound
 * where fd is (*same, fd included), and the references to fd (*refs).
 * Listeners come first in the file, a line each: "sl local remote st
 * queues timer retransmits uid timeout inode refs ...". False when fd is
 * not among them (it does not listen) or the file cannot be read. */
static bool proc_listeners(int fd, int family, int *same, int *refs)
{
    struct stat st;
    union dm_sockaddr la;
    socklen_t ll = sizeof(la);
    char want[48];
    if (fstat(fd, &st) < 0 || DM_REAL(getsockname)(fd, &la.sa, &ll) < 0)
        return false;
    proc_addr(&la, want, sizeof(want));
    int pf = open(family == AF_INET6 ? "/proc/self/net/tcp6" : "/proc/self/net/tcp", O_RDONLY | O_CLOEXEC);
    if (pf < 0)
        return false;
    char buf[8192];
    size_t have = 0;
    bool found = false, more = true;
    *same = 0;
    while (more) {
        ssize_t n = DM_REAL(read)(pf, buf + have, sizeof(buf) - 1 - have);
        if (n <= 0)
            break;
        have += (size_t)n;
        buf[have] = '\0';
        char *line = buf, *nl;
        while (more && (nl = strchr(line, '\n')) != NULL) {
            *nl = '\0';
            char local[48];
            unsigned state;
            unsigned long ino;
            int r;
            if (sscanf(line, "%*s %47s %*s %x %*s %*s %*s %*s %*s %lu %d", local, &state, &ino, &r) == 4) {
                if (state != TCP_LISTEN) {
                    more = false; /* the listeners are behind */
                } else {
                    if (strcmp(local, want) == 0)
                        (*same)++;
                    if (ino == st.st_ino) {
                        found = true;
                        *refs = r;
                    }
                }
            }
            line = nl + 1;
        }
        have = (size_t)(buf + have - line);
        memmove(buf, line, have);
        if (have == sizeof(buf) - 1)
            break; /* a line longer than the buffer: not the format above */
    }
    DM_REAL(close)(pf);
    return found;
}

bool shim_handover_first(const struct shim_sock *s, int fd)
{
    if (!s->reuseport && !s->reuseport_inherited)
        return true; /* it made its group at listen() */
    int same = 0, refs = 0;
    return proc_listeners(fd, s->family, &same, &refs) && same == 1;
}

/* Connections fd holds (queued or half-open), or -1: unknown, or it does
 * not listen. */
static int kernel_pending(int fd, int family)
{
    int same, refs;
    return proc_listeners(fd, family, &same, &refs) ? refs - 1 : -1;
}

/* Room for one more accepted connection; false when memory ran out. */
static bool kaccq_room(struct shim_sock *s)
{
    if (s->kacc_count < s->kacc_cap)
        return true;
    unsigned cap = s->kacc_cap ? 2 * s->kacc_cap : 16;
    int *q = realloc(s->kaccq, cap * sizeof(*q));
    if (!q)
        return false;
    s->kaccq = q;
    s->kacc_cap = cap;
    return true;
}

/* Accepts everything queued on the kernel listener fd (non-blocking);
 * false when it could not (out of memory or fds: what is left is lost). */
static bool accept_queued(struct shim_sock *s, int fd, bool filtered)
{
    int zero = 0;
    for (;;) {
        if (!kaccq_room(s)) {
            errno = ENOMEM;
            break;
        }
        int k = DM_REAL(accept4)(fd, NULL, NULL, SOCK_CLOEXEC);
        if (k < 0 && (errno == ECONNABORTED || errno == EINTR))
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EINVAL)) /* (EINVAL: it does not listen) */
            return true;
        if (k < 0)
            break;
        if (filtered) /* a connection is a copy of its listener: the filter too */
            (void)DM_REAL(setsockopt)(k, SOL_SOCKET, SO_DETACH_FILTER, &zero, sizeof(zero));
        DM_DEBUG("shim", "fd %d: connection %d arrived before the hand-over; the kernel serves it", fd, k);
        s->kaccq[s->kacc_count++] = k;
    }
    DM_ERR("shim", "fd %d: at hand-over: %s: the connections still queued in the kernel are reset", fd,
           strerror(errno));
    return false;
}

/* Waits until no CPU is still processing a packet under the group's or
 * the socket's previous program. Where membarrier is refused (nohz_full
 * CPUs, a seccomp policy), a short sleep is the best there is. */
static void settle(void)
{
    if (syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) < 0) {
        struct timespec ts = { 0, 2 * DM_NS_PER_MS };
        DM_REAL(nanosleep)(&ts, NULL);
    }
}

void shim_handover_stop(struct shim_sock *s, int fd, int dfd, bool first)
{
    int fl = DM_REAL(fcntl)(fd, F_GETFL);
    if (fl >= 0 && !(fl & O_NONBLOCK))
        DM_REAL(fcntl)(fd, F_SETFL, fl | O_NONBLOCK);
    int acc = 0, zero = 0;
    socklen_t al = sizeof(acc);
    enum { OPEN, STEERED, FILTERED } how = OPEN;
    /* (without a kernel listener of the datapath's to come, a SYN kept
     * from this one would only be refused later) */
    if (dfd != SHIM_HANDOVER_NONE && DM_REAL(getsockopt)(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) == 0 && acc) {
        const char *why = NULL;
        if (dfd >= 0 && first && attach(fd, SO_ATTACH_REUSEPORT_CBPF, steer_insns, DM_ARRAY_SIZE(steer_insns)))
            how = STEERED;
        else if (!filter_free(fd))
            why = "the application's socket filter is on it";
        else if (attach(fd, SO_ATTACH_FILTER, nosyn_insns, DM_ARRAY_SIZE(nosyn_insns)))
            how = FILTERED;
        else /* (EPERM: some kernels refuse a TCP socket filter to an unprivileged process) */
            why = strerror(errno);
        if (how != OPEN)
            settle();
        else
            dm_log_once("shim", "fd %d: a connection made while a listener is handed over may be reset: nothing "
                        "keeps it from the kernel's listener (%s)", fd, why);
    }
    /* (OPEN: it does not listen, or nothing could keep new connections
     * away: what is queued now is what is saved) */
    int64_t t0 = dm_clock_ns();
    int pending = 0;
    for (;;) {
        if (!accept_queued(s, fd, how == FILTERED))
            break;
        /* (-1, /proc unreadable: what is still half-open is lost) */
        pending = how == OPEN ? 0 : kernel_pending(fd, s->family);
        if (pending <= 0 || dm_clock_ns() - t0 >= HANDOVER_WAIT_MS * DM_NS_PER_MS)
            break;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        DM_REAL(poll)(&p, 1, 10);
    }
    if (pending > 0)
        DM_INFO("shim", "fd %d: %d half-open connections on the kernel listener did not complete in %d ms; "
                "stopping it resets them", fd, pending, HANDOVER_WAIT_MS);
    else if (how != OPEN)
        DM_DEBUG("shim", "fd %d: kernel listener %s, emptied in %lld us", fd,
                 how == STEERED ? "steered away from" : "filtered",
                 (long long)((dm_clock_ns() - t0) / DM_NS_PER_US));
    if (fl >= 0 && !(fl & O_NONBLOCK))
        DM_REAL(fcntl)(fd, F_SETFL, fl);
    (void)DM_REAL(shutdown)(fd, SHUT_RD); /* stops listening; the port stays bound to it */
    if (how == STEERED) {
        /* the placeholder left the group: the program is the rest's */
        if (DM_REAL(setsockopt)(dfd, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, &zero, sizeof(zero)) < 0 &&
            errno == ENOPROTOOPT)
            attach(dfd, SO_ATTACH_REUSEPORT_CBPF, hash_insns, DM_ARRAY_SIZE(hash_insns));
        /* (a sibling stopped it first: the program made a group of its own) */
        (void)DM_REAL(setsockopt)(fd, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, &zero, sizeof(zero));
    } else if (how == FILTERED) {
        (void)DM_REAL(setsockopt)(fd, SOL_SOCKET, SO_DETACH_FILTER, &zero, sizeof(zero));
    }
}
