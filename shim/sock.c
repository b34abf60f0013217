/* SPDX-License-Identifier: MIT */
/*
 * Socket objects: creation, the hand-over to the datapath, connection set
 * up and tear down, names, options, fcntl/ioctl and dup. See shim.h for the
 * life cycle. Until the hand-over every call that is not data-path goes to
 * the placeholder, which is the real kernel socket; after it, the
 * placeholder still receives every option the application sets, so that
 * Linux validates arguments and getsockopt() reads back Linux's own answer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include "dm/instance.h"
#include "dm/log.h"
#include "dm/time.h"
#include "interpose/real.h"
#include "shim/shim.h"

/* "a.b.c.d:port" or "[v6]:port", for messages */
#define ADDR_STRLEN (INET6_ADDRSTRLEN + 8)
#define SIN_FMT "%s"
#define SIN_ARG(a, buf) addr_str(a, buf, sizeof(buf))

static const char *addr_str(const union dm_sockaddr *a, char *buf, size_t n)
{
    char ip[INET6_ADDRSTRLEN];
    if (a->sa.sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &a->sin6.sin6_addr, ip, sizeof(ip));
        snprintf(buf, n, "[%s]:%u", ip, ntohs(a->sin6.sin6_port));
    } else {
        inet_ntop(AF_INET, &a->sin.sin_addr, ip, sizeof(ip));
        snprintf(buf, n, "%s:%u", ip, ntohs(a->sin.sin_port));
    }
    return buf;
}

int shim_copy_addr(const union dm_sockaddr *sa, struct sockaddr *a, socklen_t *len)
{
    if (!a || !len)
        return a || len ? -EFAULT : 0;
    if ((int)*len < 0)
        return -EINVAL;
    socklen_t full = dm_addr_len(&sa->sa);
    memcpy(a, sa, DM_MIN((size_t)*len, (size_t)full));
    *len = full;
    return 0;
}

int shim_check_addr(const struct sockaddr *a, socklen_t len, int family, union dm_sockaddr *out)
{
    if (!a)
        return -EFAULT;
    if ((int)len < (int)sizeof(sa_family_t))
        return -EINVAL;
    if (family == AF_INET6) {
        /* as inet6_bind and tcp_v6_connect: the length first (the 24
         * bytes of RFC 2133 without a scope id are enough) */
        if (len < offsetof(struct sockaddr_in6, sin6_scope_id))
            return -EINVAL;
        if (a->sa_family != AF_INET6)
            return -EAFNOSUPPORT;
        memset(out, 0, sizeof(*out));
        memcpy(out, a, DM_MIN((size_t)len, sizeof(out->sin6)));
        return 0;
    }
    if (a->sa_family != AF_INET)
        return -EAFNOSUPPORT;
    if (len < sizeof(struct sockaddr_in))
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    memcpy(out, a, sizeof(out->sin));
    return 0;
}

bool shim_addr_eq(const union dm_sockaddr *a, const union dm_sockaddr *b)
{
    if (a->sa.sa_family != b->sa.sa_family)
        return false;
    if (a->sa.sa_family == AF_INET6)
        return a->sin6.sin6_port == b->sin6.sin6_port &&
               IN6_ARE_ADDR_EQUAL(&a->sin6.sin6_addr, &b->sin6.sin6_addr);
    return a->sin.sin_port == b->sin.sin_port && a->sin.sin_addr.s_addr == b->sin.sin_addr.s_addr;
}

/* The port of either family (same offset, but say which field). */
static in_port_t addr_port(const union dm_sockaddr *a)
{
    return a->sa.sa_family == AF_INET6 ? a->sin6.sin6_port : a->sin.sin_port;
}

static bool addr_is_any(const union dm_sockaddr *a)
{
    if (a->sa.sa_family == AF_INET6)
        return IN6_IS_ADDR_UNSPECIFIED(&a->sin6.sin6_addr);
    return a->sin.sin_addr.s_addr == htonl(INADDR_ANY);
}

struct shim_sock *shim_sock_new(int type)
{
    struct shim_sock *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    shim_mem_add(&shim_mem.shim_sock_bytes, sizeof(*s));
    s->obj.kind = SHIM_KIND_SOCK;
    s->obj.refs = 1;
    s->type = type;
    s->family = AF_INET;
    s->qd = -1;
    s->kfd = -1;
    s->rcvlowat = 1;
    dm_list_init(&s->watches);
    return s;
}

void shim_sock_changed(struct shim_sock *s)
{
    s->gen_in++;
    s->gen_out++;
    shim_kick_for(s);
}
void shim_sock_changed_in(struct shim_sock *s)
{
    s->gen_in++;
    shim_kick_for(s);
}
void shim_sock_changed_out(struct shim_sock *s)
{
    s->gen_out++;
    shim_kick_for(s);
}

static bool sock_live(const struct shim_sock *s)
{
    return s->state == SHIM_OFFLOADED && s->inst_gen == shim_rt.inst_gen && shim_dp_live(s->dp);
}

void shim_sock_rx_drop(struct shim_sock *s)
{
    bool live = sock_live(s);
    while (s->rx_count) {
        struct shim_rxseg *seg = &s->rx[s->rx_head];
        if (live)
            dm_sgafree(shim_dp_inst(s->dp), &seg->sga);
        s->rx_head = (s->rx_head + 1) % SHIM_RXRING;
        s->rx_count--;
    }
    s->rx_bytes = 0;
    if (s->ubl) {
        for (uint32_t i = s->ubl_head; live && i < s->ubl_n; i++)
            dm_sgafree(shim_dp_inst(s->dp), &s->ubl[i].sga);
        free(s->ubl);
        s->ubl = NULL;
        s->ubl_head = s->ubl_n = 0;
    }
}

void shim_sock_ubl_refill(struct shim_sock *s)
{
    while (s->ubl_head < s->ubl_n && s->rx_count < SHIM_RXRING) {
        struct shim_rxseg *seg = &s->ubl[s->ubl_head++];
        s->rx[(s->rx_head + s->rx_count) % SHIM_RXRING] = *seg;
        s->rx_count++;
        s->rx_bytes += seg->len;
    }
    if (s->ubl_head == s->ubl_n) {
        free(s->ubl);
        s->ubl = NULL;
        s->ubl_head = s->ubl_n = 0;
        shim_sock_post(s); /* the datapath's datagrams now */
    }
}

/* Linux resets a connection closed with received bytes the application
 * did not read (RFC 2525 2.17, tcp_close's data_was_unread), and drops
 * what it had still to send: the peer learns that its data was not
 * consumed. Not a connection another process also has: closing our copy
 * does not close it (the child may read and answer). */
bool shim_sock_close_resets(const struct shim_sock *s)
{
    return s->type == SOCK_STREAM && s->phase == SHIM_CONNECTED && s->rx_bytes && !s->shared && !s->closed;
}

/* Before the last close of a connection: a receive that completed in the
 * backend, not yet harvested, took the bytes out of the kernel (io_uring:
 * a CQE in the ring), so they are unread too and the close must reset.
 * Only a socket with a pop posted and nothing unread asks, and its backend
 * answers from memory (dm_instance_has_completions): the poll comes only
 * when something is there, not once per close. */
static void sock_close_harvest(struct shim_sock *s)
{
    if (s->obj.refs == 1 && s->pop_pending && !s->rx_bytes && s->type == SOCK_STREAM && s->phase == SHIM_CONNECTED &&
        !s->shared && !s->closed && sock_live(s) && dm_instance_has_completions(shim_dp_inst(s->dp)))
        shim_progress_dp(s->dp);
}

/* What the datapath took from the kernel is read as far as the kernel
 * knows: SO_LINGER {1, 0} makes the backend's close reset (its kernel
 * socket, or our own TCP). */
static void sock_close_reset(struct shim_sock *s)
{
    struct linger lg = { 1, 0 };
    int r = dm_setsockopt(shim_dp_inst(s->dp), s->qd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    if (r < 0)
        DM_DEBUG("shim", "qd %d: closed with unread data, no reset: %s", s->qd, strerror(-r));
    else
        DM_DEBUG("shim", "qd %d: closed with %zu bytes unread: reset", s->qd, s->rx_bytes);
}

void shim_sock_free(struct shim_sock *s)
{
    if (dm_unlikely(s->shared) && shim_relay_free(s))
        return; /* a child still holds the connection: relay.c frees it */
    bool reset = sock_live(s) && shim_sock_close_resets(s);
    if (reset)
        sock_close_reset(s);
    else if (s->tx_count && !s->closed && sock_live(s) && shim_linger_take(s))
        return; /* its sends go on; linger.c frees it */
    shim_watch_drop_all(s);
    if (sock_live(s)) {
        shim_sock_rx_drop(s);
        while (s->acc_count) {
            /* connections the application never accepted: reset, as
             * Linux's listener resets its accept queue at close */
            struct linger lg = { 1, 0 };
            (void)dm_setsockopt(shim_dp_inst(s->dp), s->accq[s->acc_head].qd, SOL_SOCKET, SO_LINGER, &lg,
                                sizeof(lg));
            dm_close(shim_dp_inst(s->dp), s->accq[s->acc_head].qd);
            s->acc_head = (s->acc_head + 1) % SHIM_ACCQ;
            s->acc_count--;
        }
        shim_qmap_del(s);
        dm_close(shim_dp_inst(s->dp), s->qd);
    } else if (s->state != SHIM_PENDING && shim_dp_live(s->dp)) {
        shim_qmap_del(s);
    }
    for (unsigned i = 0; i < s->kacc_count; i++) {
        struct linger lg = { 1, 0 }; /* (the same) */
        (void)DM_REAL(setsockopt)(s->kaccq[i], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        DM_REAL(close)(s->kaccq[i]);
    }
    if (s->kfd >= 0)
        DM_REAL(close)(s->kfd); /* an inherited connection: this process's reference */
    free(s->carry);
    shim_sock_discard(s);
}

void shim_sock_discard(struct shim_sock *s)
{
    if (!s)
        return;
    free(s->kaccq);
    shim_mem_add(&shim_mem.shim_sock_bytes, -(int64_t)sizeof(*s));
    free(s);
}

void shim_sock_unref(struct shim_sock *s)
{
    if (--s->obj.refs == 0)
        shim_sock_free(s);
}

/* The socket leaves the shim: every fd naming it becomes a plain kernel fd. */
void shim_sock_to_kernel(struct shim_sock *s, int fd)
{
    int hi = shim_fd_max();
    shim_watch_to_kernel(s, fd);
    for (int i = 0; i <= hi; i++)
        if (shim_fd_get(i) == &s->obj)
            shim_fd_clear(i);
    shim_sock_discard(s);
}

/* Every fd of this process naming s gets kernel socket kfd (keeping its
 * CLOEXEC flag; kfd is closed), then s leaves the shim. */
void shim_sock_onto_kernel(struct shim_sock *s, int kfd)
{
    int hi = shim_fd_max(), first = -1;
    for (int i = 0; i <= hi; i++) {
        if (shim_fd_get(i) != &s->obj)
            continue;
        int fl = DM_REAL(fcntl)(i, F_GETFD);
        if (DM_REAL(dup3)(kfd, i, fl > 0 && (fl & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0)
            DM_WARN("shim", "fd %d: cannot put its kernel socket there: %s", i, strerror(errno));
        if (first < 0)
            first = i;
    }
    if (s->kfd == kfd)
        s->kfd = -1;
    DM_REAL(close)(kfd);
    free(s->carry);
    s->carry = NULL;
    if (first >= 0)
        shim_sock_to_kernel(s, first);
    else
        shim_sock_discard(s);
}

static void sock_replay_opts(struct shim_sock *s, int kfd)
{
    for (int i = 0; i < s->nopts; i++) {
        struct shim_opt *o = &s->opts[i];
        if (kfd >= 0) {
            (void)DM_REAL(setsockopt)(kfd, o->level, o->name, o->val, o->len);
            continue;
        }
        int r = dm_setsockopt(shim_dp_inst(s->dp), s->qd, o->level, o->name, o->val, o->len);
        if (r < 0)
            DM_DEBUG("shim", "qd %d: the datapath did not take %s at hand-over: %s", s->qd,
                     shim_opt_name(o->level, o->name), strerror(-r));
    }
}

/* Datagrams the placeholder received before the hand-over (sent to the
 * port before the program's first recv or poll) are read first, as on
 * Linux: they move to the socket's receive queue, those beyond its
 * SHIM_RXRING slots to its backlog (ubl), all that the kernel had queued
 * (its SO_RCVBUF bounds them). Only a pool or heap that has no room
 * drops one (counted in the debug log). */
static bool ubl_add(struct shim_sock *s, const struct shim_rxseg *seg)
{
    if (s->ubl_n == 0 || (s->ubl_n >= SHIM_RXRING && (s->ubl_n & (s->ubl_n - 1)) == 0)) { /* full: 16, 32... */
        struct shim_rxseg *n = realloc(s->ubl, sizeof(*n) * (s->ubl_n ? s->ubl_n * 2 : SHIM_RXRING));
        if (!n)
            return false;
        s->ubl = n;
    }
    s->ubl[s->ubl_n++] = *seg;
    return true;
}

static void udp_take_queued(struct shim_sock *s, int fd, struct dm_instance *inst)
{
    unsigned took = 0, dropped = 0;
    for (;;) {
        /* The datagram's size first (MSG_TRUNC), then it lands in its own
         * buffer: no bounce buffer (a 64 KiB one per thread was static TLS
         * that every thread of the program paid for). */
        ssize_t n = DM_REAL(recvfrom)(fd, NULL, 0, MSG_DONTWAIT | MSG_PEEK | MSG_TRUNC, NULL, NULL);
        if (n < 0)
            break;
        int err = 0;
        demi_sgarray_t sga = dm_sgaalloc(inst, (size_t)DM_MAX(n, 1), &err);
        if (err) {
            (void)DM_REAL(recvfrom)(fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
            dropped++;
            continue;
        }
        union dm_sockaddr from = { 0 };
        socklen_t fl = sizeof(from);
        n = DM_REAL(recvfrom)(fd, sga.sga_segs[0].sgaseg_buf, (size_t)n, MSG_DONTWAIT, &from.sa, &fl);
        if (n < 0) {
            dm_sgafree(inst, &sga);
            break;
        }
        sga.sga_segs[0].sgaseg_len = (uint32_t)n;
        memcpy(&sga.sga_addr6, &from, DM_MIN(sizeof(sga.sga_addr6), (size_t)fl));
        struct shim_rxseg one = { .sga = sga, .off = 0, .len = (uint32_t)n };
        if (s->rx_count < SHIM_RXRING && !s->ubl) {
            s->rx[(s->rx_head + s->rx_count) % SHIM_RXRING] = one;
            s->rx_count++;
            s->rx_bytes += (size_t)n;
        } else if (!ubl_add(s, &one)) {
            dm_sgafree(inst, &sga);
            dropped++;
            continue;
        }
        took++;
    }
    if (took || dropped)
        DM_DEBUG("shim", "fd %d: %u datagrams received before the hand-over are queued, %u dropped", fd, took,
                 dropped);
}

/* Where a socket being handed over binds in the datapath. */
struct act_addr {
    union dm_sockaddr local;
    bool bound;     /* a port: the placeholder holds it in the kernel */
    bool addr_only; /* an address alone, the port picked at connect */
};

/* The placeholder's address, with the application's own address where
 * the placeholder holds the wildcard. */
static void activate_addr(const struct shim_sock *s, int fd, struct act_addr *aa)
{
    socklen_t llen = sizeof(aa->local);
    memset(&aa->local, 0, sizeof(aa->local));
    if (DM_REAL(getsockname)(fd, &aa->local.sa, &llen) < 0 || aa->local.sa.sa_family != s->family) {
        memset(&aa->local, 0, sizeof(aa->local));
        aa->local.sa.sa_family = (sa_family_t)s->family;
    }
    if (s->own_bind) { /* the placeholder holds the wildcard */
        if (s->family == AF_INET)
            aa->local.sin.sin_addr = s->local.sin.sin_addr;
        else
            aa->local.sin6.sin6_addr = s->local.sin6.sin6_addr;
    }
    aa->bound = addr_port(&aa->local) != 0;
    /* bind(ip:0) with IP_BIND_ADDRESS_NO_PORT (or a stack's own address
     * with port 0): the kernel picks the port only at connect, but the
     * source address is the application's choice all the same */
    aa->addr_only = !aa->bound && !addr_is_any(&aa->local);
    if (s->phase == SHIM_LISTENING && s->refork) {
        /* a listener re-created in a forked child: its address was recorded */
        aa->local = s->local;
        aa->bound = true;
    }
}

/* The datapath that takes the socket, or NULL (*why says why not). */
static struct shim_dp *activate_choose(const struct shim_sock *s, const struct act_addr *aa,
                                       const union dm_sockaddr *dest, const char **why)
{
    if (!shim_offload_decide_addr(shim_offload_rules, &shim_rt.cfg, s->type,
                                  aa->bound || aa->addr_only ? &aa->local : NULL, dest, why))
        return NULL;
    struct shim_dp *dp = shim_dp_mine();
    if (dp && s->family == AF_INET6 && !dm_instance_inet6(shim_dp_inst(dp))) {
        *why = "the backend has no IPv6"; /* (socket() already kept them with DEMI_BACKEND's first choice) */
        return NULL;
    }
    if (!dp) {
        *why = "the datapath did not start";
        return NULL;
    }
    if (s->kernel_why) {
        *why = s->kernel_why; /* ancillary data: the kernel gives it */
        return NULL;
    }
    return dp;
}

/* UDP has no listen state to stop: a fresh unbound placeholder takes
 * the fd so that the kernel delivers nothing to it, once what it had
 * received is ours. */
static void udp_swap_placeholder(struct shim_sock *s, int fd, struct dm_instance *inst)
{
    udp_take_queued(s, fd, inst);
    int fdfl = DM_REAL(fcntl)(fd, F_GETFD);
    int nfd = DM_REAL(socket)(s->family, SOCK_DGRAM | (s->nonblock ? SOCK_NONBLOCK : 0), 0);
    if (nfd >= 0) {
        DM_REAL(dup3)(nfd, fd, fdfl > 0 && (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0);
        DM_REAL(close)(nfd);
        sock_replay_opts(s, fd);
    }
}

/* The datapath's socket binds the port the placeholder holds. */
static int bind_placeholder_port(struct shim_sock *s, int fd, struct dm_instance *inst, const union dm_sockaddr *local,
                                 bool *drained)
{
    int one = 1;
    /* The placeholder keeps the port reserved in the kernel; with
     * SO_REUSEADDR on both and the placeholder not listening, the
     * datapath's own socket may bind the same address. */
    (void)DM_REAL(setsockopt)(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (s->type == SOCK_DGRAM)
        udp_swap_placeholder(s, fd, inst);
    if (s->phase == SHIM_LISTENING)
        (void)dm_setsockopt(inst, s->qd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    int r = dm_bind(inst, s->qd, &local->sa, dm_addr_len(&local->sa));
    if (r == -EADDRINUSE && s->phase == SHIM_LISTENING && !s->refork) {
        /* SO_REUSEPORT needs the same user on both sockets: a worker
         * that dropped privileges (nginx) must stop the kernel
         * listener first, then bind (new connections wait for their
         * second SYN meanwhile; one in the microseconds between its
         * stop and our listen is refused) */
        shim_handover_stop(s, fd, SHIM_HANDOVER_AFTER, false);
        *drained = true;
        r = dm_bind(inst, s->qd, &local->sa, dm_addr_len(&local->sa));
    }
    return r;
}

/* The datapath's socket takes the placeholder's address, if it had one. */
static int activate_bind(struct shim_sock *s, int fd, struct dm_instance *inst, const struct act_addr *aa,
                         bool *drained)
{
    char b[ADDR_STRLEN];
    int r;
    if (aa->bound)
        r = bind_placeholder_port(s, fd, inst, &aa->local, drained);
    else if (aa->addr_only)
        r = dm_bind(inst, s->qd, &aa->local.sa, dm_addr_len(&aa->local.sa));
    else
        return 0;
    if (r < 0) {
        DM_ERR("shim", "fd %d: the datapath could not bind " SIN_FMT ": %s", fd, SIN_ARG(&aa->local, b),
               strerror(-r));
        return r;
    }
    s->local = aa->local;
    s->udp_pop_ok = true;
    return 0;
}

static int activate_listen(struct shim_sock *s, int fd, struct dm_instance *inst, const struct act_addr *aa,
                           bool drained)
{
    char b[ADDR_STRLEN];
    bool stop = aa->bound && !s->refork && !drained;
    bool first = stop && shim_handover_first(s, fd); /* (before ours joins its group) */
    int r = dm_listen(inst, s->qd, s->backlog);
    if (r < 0) {
        DM_ERR("shim", "fd %d: the datapath could not listen on " SIN_FMT ": %s", fd, SIN_ARG(&aa->local, b),
               strerror(-r));
        return r;
    }
    /* Only now that the datapath listens (SO_REUSEPORT on both) does
     * the kernel listener stop: no window in which a connect is
     * refused (prefork servers hand over while clients connect), and
     * none it took is lost (handover.c). */
    if (stop) {
        int dfd = dm_kernel_fd(inst, s->qd);
        shim_handover_stop(s, fd, dfd >= 0 ? dfd : SHIM_HANDOVER_NONE, first);
    }
    return 0;
}

/* The datapath's socket, with the options the application set so far. */
static int activate_socket(struct shim_sock *s, int fd, struct dm_instance *inst)
{
    int qd, one = 1;
    int r = dm_socket(inst, &qd, s->family, s->type, 0);
    if (r < 0) {
        DM_ERR("shim", "fd %d: the datapath refused a socket: %s", fd, strerror(-r));
        return r;
    }
    s->qd = qd;
    (void)dm_setsockopt(inst, qd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (s->type == SOCK_STREAM) {
        /* recv copies out of every segment of a pop (sga_copy): take up to
         * all a burst brought in one pop rather than one per packet */
        int segs = DEMI_SGARRAY_MAXSIZE;
        (void)dm_setsockopt(inst, qd, SOL_DEMI, DEMI_SO_POP_SEGS, &segs, sizeof(segs));
    }
    sock_replay_opts(s, -1);
    return 0;
}

int shim_activate(struct shim_sock *s, int fd, const union dm_sockaddr *dest)
{
    char b1[ADDR_STRLEN], b2[ADDR_STRLEN];
    struct act_addr aa;
    const char *why = NULL;
    bool drained = false;

    if (s->state == SHIM_OFFLOADED)
        return 0;
    if (s->state == SHIM_ORPHAN)
        return -EIO;
    if (s->kshared)
        return SHIM_ACT_SHARED;
    activate_addr(s, fd, &aa);
    struct shim_dp *dp = activate_choose(s, &aa, dest, &why);
    if (!dp) {
        DM_DEBUG("shim", "fd %d: %s socket " SIN_FMT " -> " SIN_FMT " stays in the kernel: %s", fd,
                 s->type == SOCK_STREAM ? "TCP" : "UDP", SIN_ARG(&aa.local, b1),
                 SIN_ARG(dest ? dest : &aa.local, b2), why);
        shim_sock_to_kernel(s, fd);
        return 1;
    }
    struct dm_instance *inst = shim_dp_inst(dp);
    if (s->phase == SHIM_LISTENING && shim_listen_shared(s, fd, inst))
        return SHIM_ACT_SHARED;
    s->dp = dp;
    int r = activate_socket(s, fd, inst);
    if (r < 0)
        return r;
    r = activate_bind(s, fd, inst, &aa, &drained);
    if (r == 0 && s->phase == SHIM_LISTENING)
        r = activate_listen(s, fd, inst, &aa, drained);
    if (r < 0) {
        dm_close(inst, s->qd);
        s->qd = -1;
        return r;
    }
    s->state = SHIM_OFFLOADED;
    s->inst_gen = shim_rt.inst_gen;
    s->refork = false;
    shim_watch_mark(s);
    shim_watch_note_dp(s);
    shim_qmap_put(s);
    DM_DEBUG("shim", "fd %d: %s socket " SIN_FMT "%s offloaded as qd %d: %s", fd,
             s->type == SOCK_STREAM ? (s->phase == SHIM_LISTENING ? "listening TCP" : "TCP") : "UDP", SIN_ARG(&aa.local, b1),
             dest ? " (connecting)" : "", s->qd, why);
    shim_sock_post(s);
    return 0;
}

/* What a socket buffers before it stops posting receives: Linux buffers
 * about its doubled SO_RCVBUF, so a peer sending to a slow reader is
 * pushed back as there (the backend then stops taking data from the
 * kernel too, and the kernel's window closes). */
static int64_t sock_rcv_limit(const struct shim_sock *s)
{
    return s->rcvbuf ? DM_MIN(s->rcvbuf, shim_rt.cfg.rcvbuf) : shim_rt.cfg.rcvbuf;
}

bool shim_sock_rx_full(const struct shim_sock *s)
{
    return s->rx_count >= SHIM_RXRING || (int64_t)s->rx_bytes >= sock_rcv_limit(s);
}

/* The SO_RCVBUF the application set, to the backend's socket again: one
 * that moved to another instance, or was adopted there, is a new socket
 * to the backend, whose limit on what it queues comes from this option. */
void shim_sock_rcvbuf_to_backend(struct shim_sock *s)
{
    for (int i = 0; i < s->nopts; i++) {
        const struct shim_opt *o = &s->opts[i];
        if (o->level == SOL_SOCKET && o->name == SO_RCVBUF)
            (void)dm_setsockopt(shim_dp_inst(s->dp), s->qd, SOL_SOCKET, SO_RCVBUF, o->val, o->len);
    }
}

/* A fresh connection moves to this thread's instance: the common
 * hand-off (accept on one thread, serve on another) then costs one move,
 * and each ring is driven only by its own thread. */
static void sock_move_here(struct shim_sock *s)
{
    struct shim_dp *mine = shim_dp_mine();
    if (!mine || mine == s->dp || !shim_rt.per_thread)
        return;
    int fd = dm_detach(shim_dp_inst(s->dp), s->qd);
    if (fd < 0) {
        DM_DEBUG("shim", "qd %d: stays on datapath %u: %s", s->qd, s->dp->idx, strerror(-fd));
        return;
    }
    int qd, r = dm_adopt(shim_dp_inst(mine), &qd, fd);
    struct shim_dp *to = mine;
    if (r < 0 && dm_adopt(shim_dp_inst(s->dp), &qd, fd) == 0) {
        to = s->dp; /* back where it was */
    } else if (r < 0) {
        DM_ERR("shim", "qd %d: lost in a move between datapaths: %s", s->qd, strerror(-r));
        DM_REAL(close)(fd);
        shim_qmap_del(s);
        s->rd_err = s->so_error = EIO;
        s->wr_dead = true;
        s->state = SHIM_ORPHAN;
        return;
    }
    DM_DEBUG("shim", "qd %d of datapath %u: moved to datapath %u as qd %d", s->qd, s->dp->idx, to->idx, qd);
    shim_qmap_del(s);
    s->dp = to;
    s->qd = qd;
    shim_qmap_put(s);
    shim_watch_note_dp(s);
    if (s->rcvbuf)
        shim_sock_rcvbuf_to_backend(s);
}

void shim_sock_use(struct shim_sock *s)
{
    if (dm_likely(!s->fresh))
        return;
    s->fresh = false;
    if (sock_live(s))
        sock_move_here(s);
    shim_sock_post(s);
}

void shim_sock_post(struct shim_sock *s)
{
    int r;

    if (!sock_live(s) || s->fresh || s->closed)
        return;
    struct dm_instance *inst = shim_dp_inst(s->dp);
    if (s->phase == SHIM_LISTENING) {
        if (!s->accept_pending && s->acc_count + 1 < SHIM_ACCQ) {
            r = dm_accept(inst, &s->accept_qt, s->qd);
            if (r == 0)
                s->accept_pending = true;
            else
                DM_DEBUG("shim", "qd %d: accept not posted: %s", s->qd, strerror(-r));
        }
        return;
    }
    bool can = s->type == SOCK_STREAM ? s->phase == SHIM_CONNECTED : s->udp_pop_ok;
    if (!can || s->ubl || s->rx_lazy || s->pop_pending || s->eof || s->rd_err || s->rx_count >= SHIM_RXRING ||
        (int64_t)s->rx_bytes >= sock_rcv_limit(s))
        return;
    r = dm_pop(inst, &s->pop_qt, s->qd);
    if (r == 0) {
        s->pop_pending = true;
    } else if (r != -ENOBUFS) {
        DM_DEBUG("shim", "qd %d: pop not posted: %s", s->qd, strerror(-r));
        s->rd_err = -r;
        shim_sock_changed(s);
    }
}

uint32_t shim_sock_events(struct shim_sock *s, int fd)
{
    uint32_t ev = 0;

    if (s->state == SHIM_PENDING) {
        struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT | POLLRDHUP | POLLPRI };
        if (DM_REAL(poll)(&p, 1, 0) == 1)
            ev = (uint32_t)p.revents;
        return ev;
    }
    if (s->state == SHIM_INHERITED) {
        /* not adopted yet: the kernel socket itself, and what the
         * parent had received */
        struct pollfd p = { .fd = s->kfd, .events = POLLIN | POLLOUT | POLLRDHUP | POLLPRI };
        if (DM_REAL(poll)(&p, 1, 0) == 1)
            ev = (uint32_t)p.revents;
        return ev | (s->carry_len ? EPOLLIN | EPOLLRDNORM : 0);
    }
    if (s->state == SHIM_ORPHAN)
        return EPOLLERR | EPOLLHUP;
    if (s->so_error)
        ev |= EPOLLERR;
    if (s->phase == SHIM_LISTENING)
        return ev | (s->acc_count || s->kacc_count ? EPOLLIN | EPOLLRDNORM : 0);
    if (s->type == SOCK_DGRAM) {
        if (s->rx_count)
            ev |= EPOLLIN | EPOLLRDNORM;
        if ((int64_t)s->tx_bytes < shim_rt.cfg.sndbuf && s->tx_count < SHIM_TXRING)
            ev |= EPOLLOUT | EPOLLWRNORM;
        return ev;
    }
    if (s->phase == SHIM_CONNECTING)
        return ev;
    if (s->phase != SHIM_CONNECTED) /* never connected, or the connect failed: Linux's TCP_CLOSE */
        return ev | EPOLLOUT | EPOLLWRNORM | EPOLLHUP |
               (s->phase == SHIM_CONN_FAILED ? EPOLLIN | EPOLLRDNORM | EPOLLRDHUP : 0);
    if (s->rd_err)
        return ev | EPOLLIN | EPOLLRDNORM | EPOLLRDHUP | EPOLLOUT | EPOLLWRNORM | EPOLLHUP;
    /* SO_RCVLOWAT bytes, as tcp_poll; or all the receive may hold */
    if ((s->rx_bytes && ((int64_t)s->rx_bytes >= s->rcvlowat || shim_sock_rx_full(s))) || s->eof || s->shut_rd)
        ev |= EPOLLIN | EPOLLRDNORM;
    if (s->eof || s->shut_rd)
        ev |= EPOLLRDHUP;
    if ((s->eof || s->shut_rd) && s->shut_wr)
        ev |= EPOLLHUP;
    if (s->shut_wr || s->wr_dead ||
        ((int64_t)s->tx_bytes < shim_rt.cfg.sndbuf && s->tx_count < SHIM_TXRING))
        ev |= EPOLLOUT | EPOLLWRNORM;
    return ev;
}

/* ---- calls ---- */

#define SHIM_GET_SOCK(fd, s)                                          \
    struct shim_obj *o_##s = shim_fd_get(fd);                         \
    if (!o_##s || o_##s->kind != SHIM_KIND_SOCK ||                    \
        shim_sock_claim((struct shim_sock *)o_##s, fd) == 1) {        \
        shim_unlock();                                                \
        return SHIM_PASS;                                             \
    }                                                                 \
    struct shim_sock *s = (struct shim_sock *)o_##s

/* The same for names and options, which a connection relayed from the
 * parent's datapath answers as the TCP socket it is (relay.c), relayed
 * or not yet. */
#define SHIM_GET_SOCK_NAMED(fd, s)                                    \
    struct shim_obj *o_##s = shim_fd_get(fd);                         \
    if (!o_##s || o_##s->kind != SHIM_KIND_SOCK ||                    \
        (!shim_sock_remote((struct shim_sock *)o_##s) &&              \
         shim_sock_claim((struct shim_sock *)o_##s, fd) == 1)) {      \
        shim_unlock();                                                \
        return SHIM_PASS;                                             \
    }                                                                 \
    struct shim_sock *s = (struct shim_sock *)o_##s

int shim_socket(int domain, int type, int protocol)
{
    int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    int fd = DM_REAL(socket)(domain, type, protocol);
    if (fd < 0)
        return -errno;
    shim_lock();
    const char *why = NULL;
    if (domain != AF_INET && domain != AF_INET6)
        why = "only AF_INET and AF_INET6 are offloaded";
    else if (domain == AF_INET6 && !shim_rt.cfg.inet6)
        why = "the backend has no IPv6 (DEMI_BACKEND)";
    else if (base != SOCK_STREAM && base != SOCK_DGRAM)
        why = "only TCP and UDP are offloaded";
    else if ((base == SOCK_STREAM && protocol != 0 && protocol != IPPROTO_TCP) ||
             (base == SOCK_DGRAM && protocol != 0 && protocol != IPPROTO_UDP))
        why = "protocol is not TCP/UDP";
    else if (shim_rt.cfg.offload_none)
        why = "DEMI_OFFLOAD=none";
    else if (base == SOCK_DGRAM && !shim_rt.cfg.offload_udp)
        why = "DEMI_OFFLOAD_UDP=0";
    if (why) {
        DM_DEBUG("shim", "fd %d: socket(%d, %d, %d) stays in the kernel: %s", fd, domain, type, protocol, why);
        shim_unlock();
        return fd;
    }
    struct shim_sock *s = shim_sock_new(base);
    if (!s || shim_fd_set(fd, &s->obj) < 0) {
        shim_sock_discard(s);
        shim_unlock();
        DM_REAL(close)(fd);
        return -ENOMEM;
    }
    s->nonblock = (type & SOCK_NONBLOCK) != 0;
    s->family = domain;
    DM_DEBUG("shim", "fd %d: %s socket, offload candidate (decided at its first I/O)", fd,
             base == SOCK_STREAM ? "TCP" : "UDP");
    shim_unlock();
    return fd;
}

/* bind() before the hand-over goes to the placeholder (the kernel checks
 * it). A stack with its own addresses (dpdk, xdp) owns DEMI_IPV4's and
 * DEMI_IPV6's addresses, which the kernel does not have (EADDRNOTAVAIL):
 * the placeholder then reserves the port on the wildcard and the socket
 * remembers the real address, which the hand-over binds on the datapath. */
static bool is_own_addr(const struct shim_sock *s, const union dm_sockaddr *ua)
{
    const struct shim_cfg *c = &shim_rt.cfg;
    if (s->family == AF_INET)
        return c->own_addr && ua->sin.sin_addr.s_addr == c->own_addr;
    const struct in6_addr *a6 = &ua->sin6.sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a6))
        return c->own_addr && memcmp(&a6->s6_addr[12], &c->own_addr, 4) == 0;
    return c->own6 && memcmp(a6, &c->own_addr6, sizeof(*a6)) == 0;
}

static int bind_own_addr(struct shim_sock *s, int fd, const struct sockaddr *a, socklen_t len)
{
    union dm_sockaddr ua, any;
    socklen_t l = sizeof(any);
    if (DM_REAL(bind)(fd, a, len) == 0)
        return 0;
    int err = errno;
    if (err != EADDRNOTAVAIL || shim_check_addr(a, len, s->family, &ua) < 0 || !is_own_addr(s, &ua))
        return -err;
    any = ua;
    if (s->family == AF_INET)
        any.sin.sin_addr.s_addr = htonl(INADDR_ANY);
    else
        any.sin6.sin6_addr = in6addr_any;
    if (DM_REAL(bind)(fd, &any.sa, dm_addr_len(&any.sa)) < 0)
        return -errno;
    if (DM_REAL(getsockname)(fd, &any.sa, &l) == 0) { /* port 0: the kernel's pick */
        if (s->family == AF_INET)
            ua.sin.sin_port = any.sin.sin_port;
        else
            ua.sin6.sin6_port = any.sin6.sin6_port;
    }
    s->local = ua;
    s->own_bind = true;
    char b[ADDR_STRLEN];
    DM_DEBUG("shim", "fd %d: bound to the datapath's own address " SIN_FMT " (the kernel holds the port on the "
             "wildcard)", fd, SIN_ARG(&ua, b));
    return 0;
}

int shim_bind(int fd, const struct sockaddr *a, socklen_t len)
{
    shim_lock();
    SHIM_GET_SOCK(fd, s);
    int r = SHIM_PASS;
    if (s->state == SHIM_OFFLOADED) {
        /* bind after the hand-over: a UDP client that sent first, say */
        union dm_sockaddr sin;
        r = shim_check_addr(a, len, s->family, &sin);
        if (r == 0)
            r = dm_bind(shim_dp_inst(s->dp), s->qd, a, len);
        if (r == 0) {
            socklen_t l = sizeof(s->local);
            if (dm_getsockname(shim_dp_inst(s->dp), s->qd, &s->local.sa, &l) < 0)
                s->local = sin;
            s->udp_pop_ok = true;
            shim_sock_post(s);
        }
    } else if (s->state == SHIM_ORPHAN) {
        r = -EINVAL;
    } else {
        r = bind_own_addr(s, fd, a, len);
    }
    shim_unlock();
    return r;
}

int shim_listen(int fd, int backlog)
{
    shim_lock();
    SHIM_GET_SOCK(fd, s);
    int r;
    if (s->state == SHIM_PENDING) {
        /* SO_REUSEADDR on the kernel listener now, so that the connections
         * it accepts inherit it and do not block the datapath's bind of the
         * same port at hand-over (the application's value is kept apart) */
        int one = 1;
        (void)DM_REAL(setsockopt)(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        (void)DM_REAL(setsockopt)(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
        r = DM_REAL(listen)(fd, backlog);
        if (r < 0) {
            r = -errno;
        } else {
            s->phase = SHIM_LISTENING;
            s->backlog = backlog;
        }
    } else if (s->phase == SHIM_LISTENING) {
        s->backlog = backlog; /* Linux: listen again adjusts the backlog */
        r = 0;
    } else {
        r = s->phase == SHIM_CONNECTED || s->phase == SHIM_CONNECTING ? -EINVAL : -EOPNOTSUPP;
        if (s->type == SOCK_DGRAM)
            r = -EOPNOTSUPP;
    }
    shim_unlock();
    return r;
}


/* A socket accepted by Linux is a copy of its listener: it has the
 * options the application set there (SO_RCVBUF, SO_LINGER, TCP_NODELAY...),
 * and getsockopt says so. The backend's own accepted socket has them from
 * the backend's listener; the placeholder gets them here. */
void shim_sock_inherit_opts(struct shim_sock *ns, const struct shim_sock *l, int nfd)
{
    for (int i = 0; i < l->nopts; i++) {
        const struct shim_opt *o = &l->opts[i];
        /* (the reuse flags: getsockopt answers from ours, no syscall) */
        if (o->level != SOL_SOCKET || (o->name != SO_REUSEADDR && o->name != SO_REUSEPORT))
            (void)DM_REAL(setsockopt)(nfd, o->level, o->name, o->val, o->len);
    }
    memcpy(ns->opts, l->opts, sizeof(ns->opts));
    ns->nopts = l->nopts;
    ns->reuseaddr = l->reuseaddr;
    ns->reuseport = l->reuseport;
    ns->rcvbuf = l->rcvbuf;
}

/* A connection the kernel listener had queued before the hand-over
 * (shim_handover_stop): it stays the kernel's. */
static int accept_kernel_queued(struct shim_sock *s, struct sockaddr *a, socklen_t *alen, int flags)
{
    int k = s->kaccq[0];
    memmove(&s->kaccq[0], &s->kaccq[1], (s->kacc_count - 1) * sizeof(int));
    s->kacc_count--;
    if (flags & SOCK_NONBLOCK)
        DM_REAL(fcntl)(k, F_SETFL, DM_REAL(fcntl)(k, F_GETFL) | O_NONBLOCK);
    if (!(flags & SOCK_CLOEXEC))
        DM_REAL(fcntl)(k, F_SETFD, 0);
    union dm_sockaddr peer = { 0 };
    socklen_t pl = sizeof(peer);
    peer.sa.sa_family = (sa_family_t)s->family;
    DM_REAL(getpeername)(k, &peer.sa, &pl);
    int r = shim_copy_addr(&peer, a, alen);
    return r < 0 ? r : k;
}

/* The connection at the head of the listener's queue becomes ns. */
static void accept_take_head(struct shim_sock *s, struct shim_sock *ns, int flags)
{
    ns->state = SHIM_OFFLOADED;
    ns->inst_gen = shim_rt.inst_gen;
    ns->dp = s->dp;
    /* with an instance per thread, it moves to the thread that
     * first uses it, so nothing is posted on it before */
    ns->fresh = shim_rt.per_thread;
    ns->family = s->family;
    ns->qd = s->accq[s->acc_head].qd;
    ns->peer = s->accq[s->acc_head].addr;
    ns->local = s->local;
    ns->phase = SHIM_CONNECTED;
    ns->nonblock = (flags & SOCK_NONBLOCK) != 0;
    s->acc_head = (s->acc_head + 1) % SHIM_ACCQ;
    s->acc_count--;
}

/* A connection the datapath accepted: a socket of the shim's on a
 * kernel placeholder fd. */
static int accept_offloaded(struct shim_sock *s, int fd, struct sockaddr *a, socklen_t *alen, int flags)
{
    int nfd = DM_REAL(socket)(s->family, SOCK_STREAM | flags, 0);
    if (nfd < 0)
        return -errno;
    struct shim_sock *ns = shim_sock_new(SOCK_STREAM);
    if (!ns || shim_fd_set(nfd, &ns->obj) < 0) {
        free(ns);
        DM_REAL(close)(nfd);
        return -ENOMEM;
    }
    accept_take_head(s, ns, flags);
    shim_sock_inherit_opts(ns, s, nfd);
    shim_qmap_put(ns);
    shim_sock_post(ns);
    shim_sock_post(s);
    char b[ADDR_STRLEN];
    DM_DEBUG("shim", "fd %d: accepted " SIN_FMT " as fd %d (qd %d)", fd, SIN_ARG(&ns->peer, b), nfd, ns->qd);
    /* Linux fills the address even when the caller's buffer is
     * short; a bad pointer would have faulted in the kernel. */
    (void)shim_copy_addr(&ns->peer, a, alen);
    return nfd;
}

/* One look at the listener; false: nothing to accept yet. */
static bool accept_once(struct shim_sock *s, int fd, struct sockaddr *a, socklen_t *alen, int flags, int *r)
{
    if (s->kacc_count) {
        *r = accept_kernel_queued(s, a, alen, flags);
    } else if (s->acc_count) {
        *r = accept_offloaded(s, fd, a, alen, flags);
    } else if (s->so_error) {
        *r = -s->so_error;
        s->so_error = 0;
    } else {
        return false;
    }
    return true;
}

/* A pending listener is handed over at its first accept. 0: go on;
 * SHIM_PASS: the kernel's call; SHIM_ACT_SHARED: a listener shared by
 * processes (listen_shared.c). */
static int accept_enter(struct shim_sock *s, int fd)
{
    if (s->state == SHIM_PENDING) {
        if (s->phase != SHIM_LISTENING)
            return SHIM_PASS; /* the kernel says EINVAL */
        int r = shim_activate(s, fd, NULL);
        if (r != 0)
            return r == 1 ? SHIM_PASS : r;
    }
    if (s->phase != SHIM_LISTENING || s->state != SHIM_OFFLOADED)
        return -EINVAL;
    return 0;
}

int shim_accept(int fd, struct sockaddr *a, socklen_t *alen, int flags)
{
    if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
        return -EINVAL;
    if (a && !alen)
        return -EFAULT;
    shim_lock();
    SHIM_GET_SOCK(fd, s);
    int r = accept_enter(s, fd);
    if (r == SHIM_ACT_SHARED) {
        r = shim_listen_shared_accept(s, fd, a, alen, flags);
        shim_unlock();
        return r;
    }
    if (r != 0) {
        shim_unlock();
        return r;
    }
    shim_focus(s->dp);
    s->obj.refs++;
    struct shim_wait w = { .nonblock = s->nonblock, .timeo_ns = s->rcvtimeo_ns };
    while (!accept_once(s, fd, a, alen, flags, &r)) {
        shim_sock_post(s);
        if ((r = shim_wait_turn(&w, s, fd)) < 0)
            break;
    }
    shim_sock_unref(s);
    shim_unlock();
    return r;
}

/* A UDP connect (or AF_UNSPEC disconnect) reaches the backend's socket
 * too: a kernel socket then takes Linux's local address for the route
 * (getsockname) and reports ICMP errors (ECONNREFUSED), which Linux does
 * only on a connected socket; like Linux's, it binds a port if it had
 * none. 1: the backend cannot connect a datagram socket, the association
 * is the shim's alone (recv filters by peer). */
static int udp_connect_backend(struct shim_sock *s, const struct sockaddr *a, socklen_t len)
{
    demi_qtoken_t qt;
    int r = dm_connect(shim_dp_inst(s->dp), &qt, s->qd, a, len);
    if (r == -EOPNOTSUPP)
        return 1;
    if (r < 0)
        return r;
    socklen_t l = sizeof(s->local);
    (void)dm_getsockname(shim_dp_inst(s->dp), s->qd, (struct sockaddr *)&s->local, &l);
    return 0;
}

/* connect(AF_UNSPEC): a connected UDP socket forgets its peer; Linux
 * disconnects a TCP socket too, which the shim does not. */
static int connect_unspec(struct shim_sock *s, const struct sockaddr *a, socklen_t len)
{
    if (s->type == SOCK_DGRAM && s->state == SHIM_OFFLOADED) {
        s->udp_has_peer = false;
        return DM_MIN(udp_connect_backend(s, a, len), 0);
    }
    return s->state == SHIM_PENDING ? SHIM_PASS : -EOPNOTSUPP;
}

/* The destination, checked; a pending socket leaves a listener or a bad
 * address to the kernel (its errno). */
/* Linux connects to the unspecified address (0.0.0.0, ::, ::ffff:0.0.0.0)
 * as to this host: to the socket's own address when it is bound to one,
 * to loopback otherwise (ip_route_output_key_hash), and getpeername says
 * so. A UDP socket connected to 0.0.0.0:port receives from 127.0.0.1:port
 * (a server's getsockname() after binding the wildcard, passed to its
 * client as is). */
static void connect_any_is_here(struct shim_sock *s, int fd, union dm_sockaddr *dest)
{
    bool v4 = dest->sa.sa_family == AF_INET;
    struct in6_addr *d6 = &dest->sin6.sin6_addr;
    if (v4 ? dest->sin.sin_addr.s_addr != htonl(INADDR_ANY)
           : !IN6_IS_ADDR_UNSPECIFIED(d6) && !(IN6_IS_ADDR_V4MAPPED(d6) && d6->s6_addr32[3] == htonl(INADDR_ANY)))
        return; /* the usual case: no syscall */
    union dm_sockaddr me = s->local;
    socklen_t l = sizeof(me);
    if (s->state != SHIM_OFFLOADED && DM_REAL(getsockname)(fd, &me.sa, &l) < 0)
        me.sa.sa_family = AF_UNSPEC;
    bool own4 = me.sa.sa_family == AF_INET && me.sin.sin_addr.s_addr != htonl(INADDR_ANY);
    bool own6 = me.sa.sa_family == AF_INET6 && !IN6_IS_ADDR_UNSPECIFIED(&me.sin6.sin6_addr);
    if (v4)
        dest->sin.sin_addr.s_addr = own4 ? me.sin.sin_addr.s_addr : htonl(INADDR_LOOPBACK);
    else if (IN6_IS_ADDR_UNSPECIFIED(d6))
        *d6 = own6 ? me.sin6.sin6_addr : in6addr_loopback;
    else /* ::ffff:0.0.0.0 */
        d6->s6_addr32[3] = own6 && IN6_IS_ADDR_V4MAPPED(&me.sin6.sin6_addr) ? me.sin6.sin6_addr.s6_addr32[3]
                                                                           : htonl(INADDR_LOOPBACK);
}

static int connect_dest(struct shim_sock *s, int fd, const struct sockaddr *a, socklen_t len,
                        union dm_sockaddr *dest)
{
    if (s->state == SHIM_PENDING && (s->phase == SHIM_LISTENING || shim_check_addr(a, len, s->family, dest) < 0))
        return SHIM_PASS;
    if (s->state == SHIM_ORPHAN)
        return -EIO;
    if (s->state == SHIM_OFFLOADED) {
        int r = shim_check_addr(a, len, s->family, dest);
        if (r < 0)
            return r;
    }
    if (s->state == SHIM_PENDING || s->state == SHIM_OFFLOADED) /* dest filled */
        connect_any_is_here(s, fd, dest);
    return 0;
}

/* A UDP connect: the peer recv filters by and send defaults to. */
static int connect_udp(struct shim_sock *s, int fd, const union dm_sockaddr *dest)
{
    int r = shim_activate(s, fd, dest);
    if (r != 0)
        return r == 1 ? SHIM_PASS : r;
    r = udp_connect_backend(s, &dest->sa, dm_addr_len(&dest->sa));
    if (r < 0)
        return r;
    if (r == 1 && !s->udp_pop_ok) {
        /* the shim's own association: a port to receive on first */
        union dm_sockaddr any = { .sa.sa_family = (sa_family_t)s->family };
        socklen_t l = sizeof(any);
        r = dm_bind(shim_dp_inst(s->dp), s->qd, &any.sa, dm_addr_len(&any.sa));
        if (r < 0)
            return r;
        if (dm_getsockname(shim_dp_inst(s->dp), s->qd, (struct sockaddr *)&s->local, &l) < 0)
            s->local = any;
    }
    s->udp_pop_ok = true;
    shim_sock_post(s);
    s->peer = *dest;
    s->udp_has_peer = true;
    return 0;
}

/* A TCP socket's state answers the call without a connect: true, *r
 * the answer (as Linux's for the same state). */
static bool connect_settled(struct shim_sock *s, int *r)
{
    if (s->phase == SHIM_LISTENING) {
        *r = -EISCONN;
    } else if (s->phase == SHIM_CONNECTED) {
        /* Linux: the first connect() after a non-blocking one completed
         * reports success, later ones EISCONN */
        *r = s->nb_connect ? 0 : -EISCONN;
        s->nb_connect = false;
    } else if (s->phase == SHIM_CONNECTING) {
        *r = -EALREADY;
    } else if (s->phase == SHIM_CONN_FAILED && s->so_error) {
        /* the status of a failed non-blocking connect, as Linux reports it */
        *r = -s->so_error;
        s->so_error = 0;
    } else {
        return false;
    }
    return true;
}

static bool connect_state_first(struct shim_sock *s, int *r)
{
    if (s->state != SHIM_OFFLOADED || s->type != SOCK_STREAM ||
        (s->phase != SHIM_CONNECTED && s->phase != SHIM_CONNECTING && s->phase != SHIM_LISTENING))
        return false;
    return connect_settled(s, r);
}

/* Waits for a blocking connect to finish; its SO_SNDTIMEO passed, the
 * connect goes on and the call says EINPROGRESS, as Linux's. */
static int connect_wait(struct shim_sock *s)
{
    int r;
    s->obj.refs++;
    int64_t start = dm_clock_ns();
    int64_t deadline = s->sndtimeo_ns ? start + s->sndtimeo_ns : -1;
    for (;;) {
        shim_progress();
        if (s->phase != SHIM_CONNECTING) {
            if (s->phase == SHIM_CONNECTED) {
                r = 0;
            } else {
                r = -(s->so_error ? s->so_error : ECONNREFUSED);
                s->so_error = 0;
            }
            break;
        }
        r = shim_block(start, deadline);
        if (r < 0) {
            r = r == -ETIMEDOUT ? -EINPROGRESS : r;
            break;
        }
    }
    shim_sock_unref(s);
    return r;
}

static int connect_stream(struct shim_sock *s, int fd, const union dm_sockaddr *dest)
{
    int r;
    if (s->state == SHIM_PENDING) {
        r = shim_activate(s, fd, dest);
        if (r != 0)
            return r == 1 ? SHIM_PASS : r;
    }
    if (connect_settled(s, &r))
        return r;
    shim_focus(s->dp);
    r = dm_connect(shim_dp_inst(s->dp), &s->connect_qt, s->qd, &dest->sa, dm_addr_len(&dest->sa));
    if (r < 0)
        return r;
    s->connect_pending = true;
    s->phase = SHIM_CONNECTING;
    s->peer = *dest;
    shim_sock_changed(s);
    if (s->nonblock) {
        shim_progress();
        s->nb_connect = true;
        return -EINPROGRESS; /* always, as Linux (even when loopback finished it) */
    }
    return connect_wait(s);
}

/* A connection passed to another process (SCM_RIGHTS) is the kernel's
 * again, in this process too, when the datapath has taken nothing of it
 * yet (no receive posted, nothing buffered or in flight: the accepted
 * connection that Node.js's cluster primary, or a prefork server's
 * acceptor, hands to a worker): every fd naming it becomes the backend's
 * kernel socket, so the message carries the connection itself and both
 * processes share it as on Linux. True: so handed back. */
static bool scm_hand_back(struct shim_sock *s, int fd)
{
    if (s->type != SOCK_STREAM || s->phase != SHIM_CONNECTED || s->rx_count || s->tx_count || s->pop_pending ||
        s->shared || s->closed || !shim_dp_live(s->dp))
        return false;
    int hi = shim_fd_max(), nfds = 0;
    for (int i = 0; i <= hi; i++)
        nfds += shim_fd_get(i) == &s->obj;
    if (s->obj.refs != nfds)
        return false; /* another thread's call holds it */
    struct dm_instance *inst = shim_dp_inst(s->dp);
    if (dm_kernel_fd(inst, s->qd) < 0)
        return false; /* a stack of its own (dpdk, xdp): no kernel socket */
    int k = dm_detach(inst, s->qd); /* -EBUSY: a receive is armed */
    if (k < 0) {
        DM_DEBUG("shim", "fd %d: passed to another process, stays on the datapath: %s", fd, strerror(-k));
        return false;
    }
    shim_qmap_del(s);
    int fl = O_RDWR | (s->nonblock ? O_NONBLOCK : 0);
    (void)DM_REAL(fcntl)(k, F_SETFL, fl);
    sock_replay_opts(s, k);
    DM_DEBUG("shim", "fd %d: passed to another process (SCM_RIGHTS): the kernel's connection again", fd);
    shim_sock_onto_kernel(s, k);
    return true;
}

void shim_scm_rights_check(const struct msghdr *msg)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR((struct msghdr *)msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const int *fds = (const int *)CMSG_DATA(cm);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, fds + i, sizeof(fd));
            if (!shim_fd_maybe(fd))
                continue;
            shim_lock();
            struct shim_obj *o = shim_fd_get(fd);
            struct shim_sock *s = o && o->kind == SHIM_KIND_SOCK ? (struct shim_sock *)o : NULL;
            bool stays = s && s->state == SHIM_OFFLOADED && !scm_hand_back(s, fd);
            shim_unlock();
            if (stays)
                dm_log_once("shim", "fd %d, passed to another process (SCM_RIGHTS), is a socket of the datapath "
                            "that has used it: the other process gets its kernel placeholder, which is not the "
                            "connection (shim/README.md; first of possibly several)", fd);
        }
    }
}

int shim_connect(int fd, const struct sockaddr *a, socklen_t len)
{
    union dm_sockaddr dest;
    shim_lock();
    shim_dp_ahead(fd); /* (a connect offloads the socket in this thread's instance) */
    SHIM_GET_SOCK(fd, s);
    int r;
    if (a && len >= sizeof(sa_family_t) && a->sa_family == AF_UNSPEC)
        r = connect_unspec(s, a, len);
    else if (a && len >= sizeof(sa_family_t) && connect_state_first(s, &r))
        ; /* Linux: a connected or listening stream says so before it looks at the address */
    else if ((r = connect_dest(s, fd, a, len, &dest)) == 0)
        r = s->type == SOCK_DGRAM ? connect_udp(s, fd, &dest) : connect_stream(s, fd, &dest);
    shim_unlock();
    return r;
}

static void obj_unref(struct shim_obj *o)
{
    if (o->kind == SHIM_KIND_SOCK)
        shim_sock_unref((struct shim_sock *)o);
    else
        shim_epoll_unref((struct shim_epoll *)o);
}

int shim_close(int fd)
{
    shim_lock();
    struct shim_obj *o = shim_fd_get(fd);
    if (!o) {
        shim_unlock();
        return SHIM_PASS;
    }
    struct shim_dp *dp = NULL;
    if (o->kind == SHIM_KIND_SOCK && ((struct shim_sock *)o)->state == SHIM_OFFLOADED) {
        struct shim_sock *s = (struct shim_sock *)o;
        dp = s->dp;
        sock_close_harvest(s);
        if (o->refs == 1)
            shim_linger_wait(s);
    }
    shim_fd_clear(fd);
    obj_unref(o);
    /* a backend may need a few rounds to close (cancel, then close): do
     * them now, the peer expects the FIN */
    if (shim_dp_live(dp)) {
        for (int i = 0; i < 3 && dm_poll(shim_dp_inst(dp), 0) > 0; i++)
            ;
        shim_focus(dp);
    }
    shim_progress();
    int r = DM_REAL(close)(fd);
    r = r < 0 ? -errno : 0;
    shim_unlock();
    return r;
}

void shim_close_range(unsigned first, unsigned last)
{
    shim_lock();
    int hi = shim_fd_max();
    for (unsigned fd = first; fd <= last && (int)fd <= hi && (int)fd >= 0; fd++) {
        struct shim_obj *o = shim_fd_get((int)fd);
        if (!o)
            continue;
        if (o->kind == SHIM_KIND_SOCK)
            sock_close_harvest((struct shim_sock *)o);
        shim_fd_clear((int)fd);
        obj_unref(o);
    }
    shim_unlock();
}

int shim_shutdown(int fd, int how)
{
    shim_lock();
    shim_tx_order();
    SHIM_GET_SOCK_NAMED(fd, s);
    if (dm_unlikely(shim_sock_remote(s)))
        return shim_relay_shutdown(s, fd, how); /* (unlocks) */
    int r;
    if (s->state != SHIM_OFFLOADED) {
        shim_unlock();
        return s->state == SHIM_ORPHAN ? shim_orphan_eio() : SHIM_PASS;
    }
    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR) {
        r = -EINVAL;
    } else if (s->type == SOCK_STREAM && s->phase != SHIM_CONNECTED && s->phase != SHIM_LISTENING) {
        r = -ENOTCONN;
    } else {
        shim_focus(s->dp);
        r = dm_shutdown(shim_dp_inst(s->dp), s->qd, how);
        if (r == 0 || s->type == SOCK_DGRAM) {
            if (how != SHUT_WR)
                s->shut_rd = true;
            if (how != SHUT_RD)
                s->shut_wr = true;
            r = 0;
            shim_sock_changed(s);
        }
        shim_progress(); /* the FIN must leave now, not at our next call */
    }
    shim_unlock();
    return r;
}

int shim_getsockname(int fd, struct sockaddr *a, socklen_t *len)
{
    shim_lock();
    SHIM_GET_SOCK_NAMED(fd, s);
    if (s->state == SHIM_PENDING && !s->own_bind) {
        shim_unlock();
        return SHIM_PASS;
    }
    union dm_sockaddr sin = s->local;
    socklen_t l = sizeof(sin);
    if (sock_live(s) && dm_getsockname(shim_dp_inst(s->dp), s->qd, &sin.sa, &l) < 0)
        sin = s->local;
    sin.sa.sa_family = (sa_family_t)s->family;
    int r = shim_copy_addr(&sin, a, len);
    shim_unlock();
    return r;
}

int shim_getpeername(int fd, struct sockaddr *a, socklen_t *len)
{
    shim_lock();
    SHIM_GET_SOCK_NAMED(fd, s);
    int r;
    if (s->state == SHIM_PENDING) {
        shim_unlock();
        return SHIM_PASS;
    }
    if (s->type == SOCK_STREAM ? s->phase != SHIM_CONNECTED : !s->udp_has_peer)
        r = -ENOTCONN;
    else
        r = shim_copy_addr(&s->peer, a, len);
    shim_unlock();
    return r;
}

int shim_put_int(int v, void *val, socklen_t *len)
{
    if (!val || !len)
        return -EFAULT;
    if ((int)*len < 0)
        return -EINVAL;
    socklen_t n = DM_MIN(*len, (socklen_t)sizeof(int));
    memcpy(val, &v, n);
    *len = n;
    return 0;
}

/* TCP_CORK on a connection whose backend's batching does the cork's work
 * (dm_stack_ops.cork_by_batch): the value is ours to keep. nginx with
 * tcp_nopush (Debian's default) corks and uncorks around each file it
 * sends: each was two syscalls and a submission of the turn's sends. */
static bool opt_cork_by_batch(const struct shim_sock *s, int level, int name)
{
    return level == IPPROTO_TCP && name == TCP_CORK && s->type == SOCK_STREAM && s->state == SHIM_OFFLOADED &&
           sock_live(s) && dm_instance_cork_by_batch(shim_dp_inst(s->dp));
}

/* The index of the recorded option, or s->nopts when none is. */
static int opt_index(const struct shim_sock *s, int level, int name)
{
    int i;
    for (i = 0; i < s->nopts; i++)
        if (s->opts[i].level == level && s->opts[i].name == name)
            break;
    return i;
}

int shim_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    shim_lock();
    shim_tx_order();
    SHIM_GET_SOCK_NAMED(fd, s);
    int r = SHIM_PASS;
    if (dm_unlikely(shim_sock_remote(s))) {
        r = shim_relay_getsockopt(s, fd, level, name, val, len);
        shim_unlock();
        return r;
    }
    if (level == SOL_SOCKET && (name == SO_REUSEADDR || name == SO_REUSEPORT) &&
        (s->phase == SHIM_LISTENING || s->state != SHIM_PENDING)) {
        r = shim_put_int(name == SO_REUSEADDR ? s->reuseaddr : s->reuseport, val, len);
    } else if (s->state != SHIM_PENDING && level == SOL_SOCKET) {
        if (name == SO_ERROR) {
            if (s->state == SHIM_OFFLOADED)
                shim_focus(s->dp);
            shim_progress();
            /* reported once, as by a send or recv: a reset read here
             * leaves recv the end of the stream (Linux's sk_err) */
            r = shim_put_int(s->so_error, val, len);
            if (r == 0)
                (void)shim_sock_take_error(s);
        } else if (name == SO_ACCEPTCONN) {
            r = shim_put_int(s->phase == SHIM_LISTENING, val, len);
        } else if (name == SO_REUSEADDR) {
            r = shim_put_int(s->reuseaddr, val, len);
        }
    }
    if (s->state == SHIM_OFFLOADED && s->type == SOCK_STREAM && level == IPPROTO_TCP && name == TCP_INFO)
        r = shim_tcp_info(s, val, len);
    if (opt_cork_by_batch(s, level, name)) {
        int i = opt_index(s, level, name), v = 0;
        if (i < s->nopts && s->opts[i].len >= sizeof(int))
            memcpy(&v, s->opts[i].val, sizeof(int));
        r = shim_put_int(v != 0, val, len); /* Linux reads back 0 or 1 */
    }
    shim_unlock();
    return r;
}

static void opt_record(struct shim_sock *s, int level, int name, const void *val, socklen_t len)
{
    if (!val || len > sizeof(s->opts[0].val))
        return;
    int i = opt_index(s, level, name);
    if (i == s->nopts) {
        if (s->nopts == SHIM_NOPTS) {
            dm_log_once("shim", "more than %d socket options on one socket: the oldest are not replayed", SHIM_NOPTS);
            return;
        }
        s->nopts++;
    }
    s->opts[i].level = level;
    s->opts[i].name = name;
    s->opts[i].len = len;
    memcpy(s->opts[i].val, val, len);
}

/* An int option set to 0 turns its messages off (Linux reads an int, or
 * a struct for SO_TIMESTAMPING whose first field is the flags). */
static bool opt_is_off(const void *val, socklen_t len)
{
    int iv = 1;
    if (len >= sizeof(int))
        memcpy(&iv, val, sizeof(int));
    else if (len == 1)
        iv = *(const uint8_t *)val;
    return iv == 0;
}

/* The limit follows what Linux made of the value (doubled, clamped to
 * rmem_max): the placeholder has just taken it. */
static void sock_rcvbuf_set(struct shim_sock *s, int fd)
{
    int v = 0;
    socklen_t vl = sizeof(v);
    if (DM_REAL(getsockopt)(fd, SOL_SOCKET, SO_RCVBUF, &v, &vl) == 0 && v > 0) {
        s->rcvbuf = v;
        shim_sock_post(s); /* a larger one may take more now */
    }
}

int shim_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    shim_lock();
    SHIM_GET_SOCK_NAMED(fd, s);
    int cls = shim_opt_class(level, name, true);
    int r;
    if (opt_cork_by_batch(s, level, name)) {
        /* (nothing to order: a send before it goes no later than Linux's) */
        if (!val || len < (socklen_t)sizeof(int)) {
            r = val ? -EINVAL : -EFAULT;
        } else {
            int v;
            memcpy(&v, val, sizeof(v));
            opt_record(s, level, name, val, len);
            r = dm_setsockopt(shim_dp_inst(s->dp), s->qd, level, name, val, len);
            bool was = s->corked;
            s->corked = v != 0;
            if (was && !s->corked)
                shim_tx_uncorked(s);
        }
        goto out;
    }
    shim_tx_order();
    if (dm_unlikely(shim_sock_remote(s))) {
        r = shim_relay_setsockopt(s, fd, level, name, val, len);
        goto out;
    }
    if (cls == SHIM_OPT_UNSUPPORTED && s->state == SHIM_OFFLOADED) {
        dm_log_once("shim", "fd %d: %s is not supported on an offloaded socket: ENOPROTOOPT (first of possibly "
                    "several)", fd, shim_opt_name(level, name));
        r = -ENOPROTOOPT;
        goto out;
    }
    /* Linux validates and keeps the value on the placeholder. */
    r = DM_REAL(setsockopt)(fd, level, name, val, len);
    if (r < 0) {
        r = -errno;
        goto out;
    }
    if (level == SOL_SOCKET) {
        int iv = 0;
        if (len >= sizeof(int))
            memcpy(&iv, val, sizeof(int));
        if (name == SO_REUSEADDR)
            s->reuseaddr = iv != 0;
        else if (name == SO_REUSEPORT)
            s->reuseport = iv != 0;
        else if (name == SO_RCVLOWAT)
            s->rcvlowat = iv < 1 ? 1 : iv;
        else if (name == SO_RCVBUF || name == SO_RCVBUFFORCE)
            sock_rcvbuf_set(s, fd);
        else if ((name == SO_RCVTIMEO || name == SO_SNDTIMEO) && len >= sizeof(struct timeval)) {
            struct timeval tv;
            memcpy(&tv, val, sizeof(tv));
            int64_t ns = (int64_t)tv.tv_sec * DM_NS_PER_S + (int64_t)tv.tv_usec * 1000;
            if (name == SO_RCVTIMEO)
                s->rcvtimeo_ns = ns;
            else
                s->sndtimeo_ns = ns;
        }
    }
    if (cls == SHIM_OPT_BACKEND || cls == SHIM_OPT_BACKEND_STRICT) {
        opt_record(s, level, name, val, len);
        if (sock_live(s)) {
            r = dm_setsockopt(shim_dp_inst(s->dp), s->qd, level, name, val, len);
            if (r < 0 && cls == SHIM_OPT_BACKEND) {
                dm_log_once("shim", "fd %d: the datapath does not apply %s (%s); accepted as Linux does for "
                            "an option that does not apply (first of possibly several)", fd,
                            shim_opt_name(level, name), strerror(-r));
                r = 0;
            }
        }
    } else if (cls == SHIM_OPT_ANCILLARY) {
        if (s->state == SHIM_PENDING) {
            /* where they work; the placeholder holds every such
             * option's value (one turned off again asks nothing) */
            s->kernel_why = shim_ancillary_on(fd);
        } else if (s->state == SHIM_OFFLOADED && !opt_is_off(val, len)) {
            dm_log_once("shim", "fd %d: %s set after the socket's first use: its control messages are not "
                        "delivered on an offloaded socket (set before, it keeps the socket in the kernel; "
                        "first of possibly several)", fd, shim_opt_name(level, name));
        }
    } else if (cls == SHIM_OPT_KERNEL && s->state == SHIM_OFFLOADED) {
        dm_log_once("shim", "socket option %s (level %d, %d) is kept by the kernel placeholder only; the "
                    "datapath does not apply it (first of possibly several)", shim_opt_name(level, name), level, name);
    }
out:
    shim_unlock();
    return r;
}

int shim_fcntl(int fd, int cmd, long arg)
{
    shim_lock();
    struct shim_obj *o = shim_fd_get(fd);
    if (!o || (cmd != F_SETFL && cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC)) {
        shim_unlock();
        return SHIM_PASS;
    }
    int r = DM_REAL(fcntl)(fd, cmd, arg);
    if (r < 0) {
        r = -errno;
    } else if (cmd == F_SETFL) {
        if (o->kind == SHIM_KIND_SOCK)
            ((struct shim_sock *)o)->nonblock = (arg & O_NONBLOCK) != 0;
    } else {
        int e = shim_fd_set(r, o);
        if (e < 0) {
            DM_REAL(close)(r);
            r = e;
        } else {
            o->refs++;
        }
    }
    shim_unlock();
    return r;
}

int shim_ioctl(int fd, unsigned long req, void *arg)
{
    shim_lock();
    shim_tx_order();
    SHIM_GET_SOCK(fd, s);
    int r = SHIM_PASS;
    if (req == FIONBIO) {
        r = DM_REAL(ioctl)(fd, req, arg);
        if (r < 0)
            r = -errno;
        else
            s->nonblock = *(int *)arg != 0;
    } else if ((req == SIOCINQ || req == SIOCOUTQ) && s->state == SHIM_OFFLOADED && s->type == SOCK_STREAM) {
        /* what the shim, the datapath and its kernel socket hold */
        int v = 0;
        if (s->phase != SHIM_LISTENING && req == SIOCINQ) {
            shim_sock_use(s);
            shim_sock_want_rx(s);
            shim_focus(s->dp);
        }
        r = shim_tcp_queued(s, req, &v);
        if (r == 0 && !arg)
            r = -EFAULT;
        else if (r == 0)
            memcpy(arg, &v, sizeof(v));
    } else if (req == FIONREAD && s->state == SHIM_OFFLOADED) {
        if (s->phase == SHIM_LISTENING) {
            r = -EINVAL;
        } else {
            shim_sock_use(s); /* (a fresh connection gets its pop) */
            shim_sock_want_rx(s);
            shim_focus(s->dp);
            shim_progress();
            int v = (int)DM_MIN(s->rx_bytes, (size_t)INT32_MAX);
            if (s->type == SOCK_DGRAM)
                v = s->rx_count ? (int)s->rx[s->rx_head].len : 0;
            if (!arg) {
                r = -EFAULT;
            } else {
                memcpy(arg, &v, sizeof(v));
                r = 0;
            }
        }
    }
    shim_unlock();
    return r;
}

int shim_dup(int oldfd, int newfd, int flags, int mode)
{
    shim_lock();
    struct shim_obj *o = shim_fd_get(oldfd);
    struct shim_obj *t = mode ? shim_fd_get(newfd) : NULL;
    if ((!o && !t) || (mode && oldfd == newfd)) {
        shim_unlock();
        return SHIM_PASS;
    }
    int r = mode == 0 ? DM_REAL(dup)(oldfd)
          : mode == 2 ? DM_REAL(dup2)(oldfd, newfd)
                      : DM_REAL(dup3)(oldfd, newfd, flags);
    if (r < 0) {
        r = -errno;
        goto out;
    }
    if (t) {
        shim_fd_clear(r);
        obj_unref(t);
    }
    if (o) {
        int e = shim_fd_set(r, o);
        if (e < 0) {
            DM_REAL(close)(r);
            r = e;
        } else {
            o->refs++;
        }
    }
out:
    shim_unlock();
    return r;
}
