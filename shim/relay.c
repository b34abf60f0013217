/* SPDX-License-Identifier: MIT */
/*
 * Relays: a forked child serves a connection of the parent's own stack.
 *
 * With a backend over kernel sockets a forked child adopts its copy of the
 * kernel socket (inherit.c). With a stack of its own (dpdk, xdp: the
 * backend answers dm_kernel_fd with -EOPNOTSUPP) the connection is state
 * in the parent's memory, driven through the parent's device queue: the
 * child cannot touch it. So the parent relays it:
 *
 *   fork     when the process has such connections, a control socket
 *            pair (AF_UNIX SOCK_SEQPACKET) is made; the parent keeps one
 *            end per child (struct relay_ctl), the child the other
 *            (up_fd, each such socket's relay_up). Each such connection
 *            (struct relay_conn) counts one reference per child that has
 *            it, and is marked shared. In the child those sockets are
 *            REMOTE; a child that forks again introduces its child to
 *            the datapath (RELAY_FORK: see "fork of a child" below), so
 *            that a grandchild claims and holds them the same way.
 *   claim    a REMOTE socket's first use in the child (anything but
 *            close, dup, fcntl, names and options): the child makes a
 *            socketpair (AF_UNIX SOCK_STREAM), sends one end with
 *            RELAY_CLAIM naming the connection (the parent's qd and
 *            datapath generation), waits for RELAY_ANSWER, then dup3s
 *            its end onto every fd naming the socket: RELAYED. The
 *            kernel does that fd's I/O, poll, epoll and select; the shim
 *            answers names and options as the TCP socket (the old
 *            placeholder, kept in s->kfd, holds the TCP options).
 *   drop     a child's close of a REMOTE socket sends RELAY_DROP; its
 *            last close of a RELAYED one is the unix socket's EOF, told
 *            from a shutdown (below), which ends that relay; a child
 *            that exits closes its control end, and the parent's EOF
 *            drops every reference that child still held.
 *   pump     the parent's progress path (shim_progress, hence also the
 *            progress helper while the parent sleeps in a kernel call)
 *            polls the control sockets and the relays' unix sockets,
 *            nonblocking, at most every RELAY_PERIOD_NS unless the last
 *            step moved something; with none alive it costs a counter
 *            check. A parent that sleeps in our waits (a datapath that
 *            can sleep: a tap port, AF_XDP) watches them too: they are in
 *            an epoll of their own (relay_epfd), which the sleeps watch
 *            beside the datapath's wait fds; the last look before a
 *            sleep is a whole step, which also sets what each is watched
 *            for (shim_relay_before_sleep). A child's bytes, claim or
 *            exit wake the parent as a frame does. Bytes move with
 *            backpressure both ways and none is
 *            lost: received TCP bytes leave the socket's receive buffer
 *            only as far as the unix socket takes them (so the TCP window
 *            closes behind a slow child), and bytes read from the unix
 *            socket wait in the relay's buffer until the connection has
 *            send room. The child's EOF is its shutdown(SHUT_WR), which
 *            sends the FIN at once, or its last close (its shim tells a
 *            shutdown first: "child: a relayed fd's calls" below); the
 *            peer's FIN shuts the unix socket's sending side; a reset is
 *            told to the child, which reports it as Linux does
 *            (ECONNRESET), and ends the relay.
 *   refs     the parent's close of a shared connection only drops its
 *            own reference (shim_sock_free asks shim_relay_free): the
 *            socket leaves the fd table and stays in the datapath while
 *            a child holds it (not claimed and neither closed nor exited,
 *            or a relay). The last reference closes it as the shim's
 *            close does (FIN, or RST with unread bytes), Linux's
 *            refcount semantics.
 *
 * A grandchild shares its parent's RELAYED sockets natively (unix
 * sockets), but is not told of a reset there (it reads the end of the
 * stream).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include "dm/instance.h"
#include "dm/log.h"
#include "dm/time.h"
#include "interpose/real.h"
#include "shim/shim.h"

#define RELAY_BUF 65536                       /* bytes read from a child, not yet pushed */
#define RELAY_PERIOD_NS (20 * DM_NS_PER_US)   /* the longest an idle relay waits for a look */
#define RELAY_ANSWER_MS 10000                 /* a claim's wait for the parent's answer */
#define RELAY_UPS_MAX 8                       /* control sockets toward datapaths, one per ancestor */
#define RELAY_FORK_MAX 256                    /* connections one fork passes on to a grandchild */

/* child -> parent: CLAIM (with the unix socket), DROP, SHUT (err: how),
 * FORK (with the grandchild's control socket; qd: how many struct
 * relay_ent follow, err: its pid); parent -> child: ANSWER, RESET (err:
 * the connection's error) */
enum { RELAY_CLAIM = 1, RELAY_DROP, RELAY_ANSWER, RELAY_SHUT, RELAY_RESET, RELAY_FORK };
struct relay_msg {
    uint32_t op;
    int32_t qd;     /* the connection: its qd in the parent ... */
    uint32_t gen;   /* ... and that datapath's generation */
    int32_t err;    /* ANSWER: 0 or an errno; RESET: the errno; SHUT: how */
};
struct relay_ent {
    int32_t qd;
    uint32_t gen;
};
#define RELAY_MSG_MAX (sizeof(struct relay_msg) + RELAY_FORK_MAX * sizeof(struct relay_ent))

/* Child, at its own fork: the REMOTE sockets of one ancestor's datapath
 * (reached through control socket up), to which the grandchild is
 * introduced with a control socket of its own (sv[0] goes there). */
struct relay_fwd {
    int up;
    int sv[2];
    unsigned n;
    struct relay_ent e[RELAY_FORK_MAX];
};

/* Parent: a connection that children hold. */
struct relay_conn {
    struct shim_sock *s;
    int qd;
    uint32_t gen;
    unsigned refs;       /* children's references: held by a control (not
                            claimed yet) or by a relay */
    bool kept;           /* the parent's last fd is closed: s is ours */
    struct relay_conn *next;
};

/* Parent: one forked child's control socket. */
struct relay_ctl {
    int fd;
    pid_t pid;
    struct relay_conn **held; /* its references not claimed yet */
    unsigned nheld;
    short armed;         /* what relay_epfd watches it for */
    struct relay_ctl *next;
};

/* Parent: one claimed connection. */
struct relay {
    struct relay_conn *c;
    struct relay_ctl *ctl; /* the child's control socket (NULL: it is gone) */
    int fd;              /* the parent's end of the child's unix socket */
    pid_t pid;
    bool shut;           /* the child's shim told its shutdown(SHUT_WR) */
    bool up_done;        /* the child's EOF seen (its FIN queued, or it closed) */
    bool down_done;      /* the peer's FIN passed on, or the child is gone */
    uint8_t *buf;        /* read from fd, not pushed yet: buf[off..len) */
    size_t off, len;
    short armed;
    struct relay *next;
};

unsigned shim_relay_live;
static struct relay_conn *conns;
static struct relay_ctl *ctls;
static struct relay_ctl *ctls_new;   /* made in a step: joins ctls at its end */
static struct relay *relays;
static unsigned nctls, nrelays;
static int up_fd = -1;               /* child: the control socket to the parent */
static int ups[RELAY_UPS_MAX];       /* child: every control socket toward a datapath
                                        (the parent's, up_fd, and ancestors') */
static unsigned nups;
static struct relay_fwd fwds[RELAY_UPS_MAX]; /* fork: grandchild introductions */
static unsigned nfwds;
static struct shim_sock **pend;      /* fork: the connections offered */
static unsigned npend, pend_cap;
static struct pollfd *pf;            /* a step's poll set */
static unsigned pf_cap;
static int relay_epfd = -1;          /* parent: its sleeps' watch on the fds below */

/* relay_epfd watches fd for want (POLLIN, POLLOUT: EPOLLIN, EPOLLOUT),
 * or not at all with 0 (so that a hang-up nobody waits for does not
 * keep waking a sleep). Without an epoll the progress helper's looks
 * are all there is, as before. */
static void watch(int fd, short *armed, short want)
{
    if (want == *armed)
        return;
    if (relay_epfd < 0 && (relay_epfd = DM_REAL(epoll_create1)(EPOLL_CLOEXEC)) < 0) {
        dm_log_once("shim", "no epoll for the relays (%m): a parent asleep sees its children's bytes only at the "
                    "progress helper's looks");
        return;
    }
    struct epoll_event ev = { .events = (uint32_t)want, .data.fd = fd };
    int op = !*armed ? EPOLL_CTL_ADD : want ? EPOLL_CTL_MOD : EPOLL_CTL_DEL;
    if (DM_REAL(epoll_ctl)(relay_epfd, op, fd, &ev) == 0)
        *armed = want;
}

static void live_update(void)
{
    __atomic_store_n(&shim_relay_live, nctls + nrelays, __ATOMIC_RELAXED); /* (the helper reads it) */
}

static void close_fd(int fd)
{
    if (fd >= 0)
        DM_REAL(close)(fd);
}

/* ---- fork ---- */

static bool relayable(const struct shim_sock *s)
{
    return s->state == SHIM_OFFLOADED && s->type == SOCK_STREAM && s->phase == SHIM_CONNECTED && !s->closed &&
           shim_dp_live(s->dp) && dm_kernel_fd(shim_dp_inst(s->dp), s->qd) == -EOPNOTSUPP;
}

static bool pend_has(const struct shim_sock *s)
{
    for (unsigned i = 0; i < npend; i++)
        if (pend[i] == s)
            return true;
    return false;
}

/* ---- fork of a child: its REMOTE sockets go on to the grandchild ----
 *
 * A REMOTE socket lives in an ancestor's datapath, which counts one
 * reference per process holding it through that process's control
 * socket. So that a grandchild can claim it too (and hold it after its
 * parent closed it or exited, as Linux's last close decides), the
 * ancestor is introduced to the grandchild: before the fork a new control
 * pair per ancestor; after it the child sends one end, with the
 * connections it holds there, in RELAY_FORK on its own control socket
 * (before any DROP it may send next, so the ancestor counts the
 * grandchild's references first); the grandchild keeps the other end as
 * those sockets' control socket. A RELAYED socket is a unix socket the
 * grandchild shares natively (not told of a reset there). */

static struct relay_fwd *fwd_for(int up)
{
    for (unsigned i = 0; i < nfwds; i++)
        if (fwds[i].up == up)
            return &fwds[i];
    if (nfwds == RELAY_UPS_MAX)
        return NULL;
    struct relay_fwd *f = &fwds[nfwds++];
    f->up = up;
    f->sv[0] = f->sv[1] = -1;
    f->n = 0;
    return f;
}

static bool fwd_has(const struct relay_fwd *f, const struct shim_sock *s)
{
    for (unsigned i = 0; i < f->n; i++)
        if (f->e[i].qd == s->qd && f->e[i].gen == s->inst_gen)
            return true;
    return false;
}

static void fwd_begin(void)
{
    nfwds = 0;
    unsigned lost = 0;
    int hi = shim_fd_max();
    for (int fd = 0; fd <= hi; fd++) {
        struct shim_obj *o = shim_fd_get(fd);
        struct shim_sock *s = (struct shim_sock *)o;
        if (!o || o->kind != SHIM_KIND_SOCK || s->state != SHIM_REMOTE || s->relay_up < 0)
            continue;
        struct relay_fwd *f = fwd_for(s->relay_up);
        if (f && fwd_has(f, s))
            continue;
        if (!f || f->n == RELAY_FORK_MAX) {
            lost++;
            continue;
        }
        f->e[f->n++] = (struct relay_ent){ s->qd, s->inst_gen };
    }
    for (unsigned i = 0; i < nfwds; i++) {
        struct relay_fwd *f = &fwds[i];
        if (DM_REAL(socketpair)(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, f->sv) < 0) {
            f->sv[0] = f->sv[1] = -1;
            lost += f->n;
        }
    }
    if (lost)
        DM_WARN("shim", "fork: %u connections inherited from an ancestor's datapath can only be closed in the "
                "child (no control socket for it)", lost);
}

static int send_buf(int fd, const void *buf, size_t len, int passfd, int flags);

static void fwd_parent(pid_t pid)
{
    for (unsigned i = 0; i < nfwds; i++) {
        struct relay_fwd *f = &fwds[i];
        if (pid > 0 && f->sv[0] >= 0) {
            uint8_t b[RELAY_MSG_MAX];
            struct relay_msg m = { .op = RELAY_FORK, .qd = (int32_t)f->n, .err = (int32_t)pid };
            memcpy(b, &m, sizeof(m));
            memcpy(b + sizeof(m), f->e, f->n * sizeof(f->e[0]));
            int r = send_buf(f->up, b, sizeof(m) + f->n * sizeof(f->e[0]), f->sv[0], MSG_DONTWAIT);
            if (r < 0)
                DM_WARN("shim", "fork: child %d cannot reach the datapath of %u connections it inherits (%s): "
                        "it can only close them", (int)pid, f->n, strerror(-r));
            else
                DM_DEBUG("shim", "fork: child %d introduced to the datapath of %u connections we inherited",
                         (int)pid, f->n);
        }
        close_fd(f->sv[0]);
        close_fd(f->sv[1]);
    }
    nfwds = 0;
}

/* In the grandchild: each REMOTE socket's control socket is the one made
 * for it (-1: none, it can only be closed); ours are closed. */
static void fwd_child(void)
{
    int hi = shim_fd_max();
    for (int fd = 0; fd <= hi; fd++) {
        struct shim_obj *o = shim_fd_get(fd);
        struct shim_sock *s = (struct shim_sock *)o;
        if (!o || o->kind != SHIM_KIND_SOCK || !shim_sock_remote(s))
            continue;
        bool mapped = false; /* (a socket named by several fds: seen already) */
        for (unsigned i = 0; i < nfwds && !mapped; i++)
            mapped = s->relay_up >= 0 && fwds[i].sv[1] == s->relay_up;
        if (mapped)
            continue;
        int up = -1;
        for (unsigned i = 0; i < nfwds && up < 0; i++)
            if (s->state == SHIM_REMOTE && fwds[i].up == s->relay_up && fwd_has(&fwds[i], s))
                up = fwds[i].sv[1];
        s->relay_up = up;
    }
    for (unsigned i = 0; i < nups; i++)
        close_fd(ups[i]);
    nups = 0;
    for (unsigned i = 0; i < nfwds; i++) {
        close_fd(fwds[i].sv[0]);
        if (fwds[i].sv[1] >= 0)
            ups[nups++] = fwds[i].sv[1];
    }
    nfwds = 0;
}

void shim_relay_fork_begin(int ctl[2])
{
    ctl[0] = ctl[1] = -1;
    npend = 0;
    int hi = shim_fd_max();
    for (int fd = 0; fd <= hi; fd++) {
        struct shim_obj *o = shim_fd_get(fd);
        struct shim_sock *s = (struct shim_sock *)o;
        if (!o || o->kind != SHIM_KIND_SOCK || !relayable(s) || pend_has(s))
            continue;
        if (npend == pend_cap) {
            unsigned cap = pend_cap ? pend_cap * 2 : 16;
            struct shim_sock **p = realloc(pend, cap * sizeof(*p));
            if (!p)
                break;
            pend = p;
            pend_cap = cap;
        }
        /* the child answers getsockname from this (its own instance
         * never had the connection) */
        socklen_t l = sizeof(s->local);
        (void)dm_getsockname(shim_dp_inst(s->dp), s->qd, &s->local.sa, &l);
        s->local.sa.sa_family = (sa_family_t)s->family;
        pend[npend++] = s;
    }
    if (npend && DM_REAL(socketpair)(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0) {
        DM_WARN("shim", "fork: no control socket for the child (%s): the %u connections of this datapath it "
                "inherits can only be closed there", strerror(errno), npend);
        ctl[0] = ctl[1] = -1;
        npend = 0;
    }
    fwd_begin();
}

static struct relay_conn *conn_find(const struct shim_sock *s)
{
    for (struct relay_conn *c = conns; c; c = c->next)
        if (c->s == s)
            return c;
    return NULL;
}

void shim_relay_fork_parent(int ctl[2], pid_t pid)
{
    fwd_parent(pid);
    close_fd(ctl[1]);
    if (ctl[0] < 0)
        return;
    struct relay_ctl *t = pid > 0 ? calloc(1, sizeof(*t)) : NULL;
    if (t)
        t->held = malloc(npend * sizeof(*t->held));
    if (!t || !t->held) {
        if (pid > 0)
            DM_WARN("shim", "fork: no memory for the child's relay: its %u inherited connections will give EIO",
                    npend);
        if (t)
            free(t);
        close_fd(ctl[0]);
        npend = 0;
        return;
    }
    t->fd = ctl[0];
    t->pid = pid;
    for (unsigned i = 0; i < npend; i++) {
        struct relay_conn *c = conn_find(pend[i]);
        if (!c && (c = calloc(1, sizeof(*c))) != NULL) {
            c->s = pend[i];
            c->qd = pend[i]->qd;
            c->gen = pend[i]->inst_gen;
            c->next = conns;
            conns = c;
        }
        if (!c)
            continue; /* (the child's claim is answered EBADF: EIO there) */
        c->refs++;
        t->held[t->nheld++] = c;
    }
    npend = 0;
    t->next = ctls;
    ctls = t;
    nctls++;
    live_update();
    DM_DEBUG("shim", "fork: child %d holds %u connections of this datapath (relayed at its first use there)",
             (int)pid, t->nheld);
}

void shim_relay_fork_child(int ctl[2])
{
    /* The parent's side of its relays is the parent's: our copies of its
     * fds would hold its other children's sockets open. The sockets
     * themselves are copies nobody uses here. */
    while (ctls) {
        struct relay_ctl *t = ctls;
        ctls = t->next;
        close_fd(t->fd);
        free(t->held);
        free(t);
    }
    while (relays) {
        struct relay *r = relays;
        relays = r->next;
        close_fd(r->fd);
        free(r->buf);
        free(r);
    }
    while (conns) {
        struct relay_conn *c = conns;
        conns = c->next;
        free(c);
    }
    nctls = nrelays = 0;
    live_update();
    close_fd(relay_epfd);
    relay_epfd = -1;
    fwd_child(); /* (closes our parent's control socket among ours) */
    close_fd(ctl[0]);
    up_fd = ctl[1];
    if (up_fd < 0)
        npend = 0;
    else if (nups < RELAY_UPS_MAX)
        ups[nups++] = up_fd;
}

bool shim_relay_offered(struct shim_sock *s)
{
    if (up_fd < 0 || !pend_has(s))
        return false;
    s->relay_up = up_fd;
    return true;
}

/* ---- child ---- */

static int send_buf(int fd, const void *buf, size_t len, int passfd, int flags)
{
    struct iovec v = { (void *)buf, len };
    union {
        char b[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } cb;
    struct msghdr mh = { .msg_iov = &v, .msg_iovlen = 1 };
    if (passfd >= 0) {
        memset(&cb, 0, sizeof(cb));
        mh.msg_control = cb.b;
        mh.msg_controllen = sizeof(cb.b);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &passfd, sizeof(int));
    }
    ssize_t k;
    do
        k = DM_REAL(sendmsg)(fd, &mh, flags | MSG_NOSIGNAL);
    while (k < 0 && errno == EINTR);
    return k == (ssize_t)len ? 0 : k < 0 ? -errno : -EIO;
}

static int send_msg(int fd, const struct relay_msg *m, int passfd, int flags)
{
    return send_buf(fd, m, sizeof(*m), passfd, flags);
}

/* A message from a datapath (on control socket up) other than a claim's
 * answer: a reset of a connection it relays to us becomes that socket's
 * pending error. */
static void relay_note(int up, const struct relay_msg *m)
{
    if (m->op != RELAY_RESET || m->err <= 0)
        return;
    int hi = shim_fd_max();
    for (int fd = 0; fd <= hi; fd++) {
        struct shim_obj *o = shim_fd_get(fd);
        struct shim_sock *s = (struct shim_sock *)o;
        if (o && o->kind == SHIM_KIND_SOCK && s->state == SHIM_RELAYED && s->relay_up == up && s->qd == m->qd &&
            s->inst_gen == m->gen) {
            s->so_error = m->err;
            DM_DEBUG("shim", "fd %d: the parent's datapath saw its connection end: %s", fd, strerror(m->err));
            return;
        }
    }
}

/* Reads what the datapath behind control socket up said, nonblocking (a
 * reset comes before the end of the stream it explains, so this finds it
 * there). Lock held. */
static void relay_learn(int up)
{
    while (up >= 0) {
        struct relay_msg m;
        ssize_t k = DM_REAL(recv)(up, &m, sizeof(m), MSG_DONTWAIT);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return;
        if (k == (ssize_t)sizeof(m))
            relay_note(up, &m);
    }
}

/* The datapath's answer (on control socket up) to our claim of qd: 0 or
 * -errno. */
static int claim_answer(int up, int qd)
{
    int64_t end = dm_clock_ns() + (int64_t)RELAY_ANSWER_MS * DM_NS_PER_MS;
    for (;;) {
        int64_t left = end - dm_clock_ns();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd p = { .fd = up, .events = POLLIN };
        int n = DM_REAL(poll)(&p, 1, (int)(left / DM_NS_PER_MS) + 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            continue;
        struct relay_msg m;
        ssize_t k = DM_REAL(recv)(up, &m, sizeof(m), MSG_DONTWAIT);
        if (k < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (k <= 0)
            return k == 0 ? -EPIPE : -errno; /* the parent is gone */
        if (k == (ssize_t)sizeof(m) && m.op == RELAY_ANSWER && m.qd == qd)
            return -m.err;
        if (k == (ssize_t)sizeof(m))
            relay_note(up, &m);
    }
}

/* Our end of the relay goes onto every fd naming s, with the socket's
 * blocking mode and timeouts; the placeholder stays as s->kfd. */
static void relay_install(struct shim_sock *s, int fd, int mine)
{
    s->kfd = DM_REAL(fcntl)(fd, F_DUPFD_CLOEXEC, 0);
    if (s->nonblock)
        DM_REAL(fcntl)(mine, F_SETFL, DM_REAL(fcntl)(mine, F_GETFL) | O_NONBLOCK);
    struct timeval tv;
    if (s->rcvtimeo_ns) {
        tv = (struct timeval){ s->rcvtimeo_ns / DM_NS_PER_S, (s->rcvtimeo_ns % DM_NS_PER_S) / 1000 };
        (void)DM_REAL(setsockopt)(mine, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    }
    if (s->sndtimeo_ns) {
        tv = (struct timeval){ s->sndtimeo_ns / DM_NS_PER_S, (s->sndtimeo_ns % DM_NS_PER_S) / 1000 };
        (void)DM_REAL(setsockopt)(mine, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    }
    int hi = shim_fd_max();
    for (int i = 0; i <= hi; i++) {
        if (shim_fd_get(i) != &s->obj)
            continue;
        int fl = DM_REAL(fcntl)(i, F_GETFD);
        if (DM_REAL(dup3)(mine, i, fl > 0 && (fl & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0)
            DM_WARN("shim", "fd %d: cannot put its relay there: %s", i, strerror(errno));
    }
    close_fd(mine);
    s->state = SHIM_RELAYED;
    shim_watch_to_kernel(s, fd); /* an inherited epoll's registrations: the kernel's now */
}

int shim_relay_claim(struct shim_sock *s, int fd)
{
    if (s->state == SHIM_RELAYED)
        return 1;
    int sv[2] = { -1, -1 }, r = -EPIPE, up = s->relay_up;
    if (up >= 0 && DM_REAL(socketpair)(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        r = -errno;
    else if (up >= 0) {
        struct relay_msg m = { .op = RELAY_CLAIM, .qd = s->qd, .gen = s->inst_gen };
        r = send_msg(up, &m, sv[1], 0);
        close_fd(sv[1]);
        if (r == 0)
            r = claim_answer(up, s->qd);
    }
    if (r < 0) {
        close_fd(sv[0]);
        s->state = SHIM_ORPHAN;
        DM_WARN("shim", "fd %d: the parent's datapath could not relay this inherited connection (%s): it can only "
                "be closed here", fd, strerror(-r));
        return 0;
    }
    relay_install(s, fd, sv[0]);
    DM_DEBUG("shim", "fd %d: inherited connection relayed by the parent's datapath (its qd %d)", fd, s->qd);
    return 1;
}

/* ---- child: a relayed fd's calls ----
 *
 * The kernel does the I/O on the unix socket; the shim makes the call
 * (not libc after a SHIM_PASS) only to see its end:
 *   reset     the parent sends RESET on the control socket, then closes
 *             its end. The unix socket then reads as the end of the
 *             stream (after every byte received before the reset, as
 *             TCP), so at a read's 0, or a write's EPIPE, we read the
 *             control socket and report the error once, as Linux's
 *             sk_err: ECONNRESET from the first read or write (the next
 *             read gives 0, the next write EPIPE), or from SO_ERROR.
 *             AF_UNIX's own ECONNRESET was the other way: it is given
 *             only where the closing end has unread bytes, which the
 *             parent cannot put in its own end's queue; and reading the
 *             control socket at each call would cost a syscall per call,
 *             where this costs one at the end of the stream.
 *   shutdown  SHUT_WR and SHUT_RDWR are told (SHUT) before the unix
 *             socket is shut: the parent reads its control socket when
 *             it sees the EOF, so it knows a shutdown (the FIN now,
 *             whoever else holds the connection) from a close (only this
 *             process's reference; the FIN at the last one).
 * A program exec'd with the fd, or a grandchild sharing a RELAYED fd,
 * has no control socket for it: there a reset reads as the end of the
 * stream, and the parent takes an EOF of a unix socket still open
 * (POLLHUP not set) for a shutdown, of one closed for a close. poll and
 * epoll are the unix socket's: no POLLERR after a reset. */

/* The RELAYED socket fd names (lock held), else NULL. */
static struct shim_sock *relayed(int fd)
{
    struct shim_obj *o = shim_fd_get(fd);
    struct shim_sock *s = (struct shim_sock *)o;
    return o && o->kind == SHIM_KIND_SOCK && s->state == SHIM_RELAYED ? s : NULL;
}

bool shim_relay_io(int fd)
{
    return relayed(fd) != NULL;
}

/* The unix socket said err (0: the end of the stream, or EPIPE): what
 * the TCP socket says, the parent's reset reported once. */
static int relay_end(int fd, int err)
{
    shim_lock();
    struct shim_sock *s = relayed(fd);
    if (s) {
        relay_learn(s->relay_up);
        if (s->so_error && (err == 0 || err == EPIPE))
            err = s->so_error;
        s->so_error = 0; /* reported: by us, or by AF_UNIX's own ECONNRESET */
    }
    shim_unlock();
    return -err;
}

ssize_t shim_relay_recvmsg(int fd, struct msghdr *msg, int flags)
{
    shim_unlock();
    ssize_t k = DM_REAL(recvmsg)(fd, msg, flags);
    if (k > 0 || (k < 0 && errno != ECONNRESET))
        return k < 0 ? -errno : k;
    if (k == 0) {
        size_t want = 0;
        for (size_t i = 0; i < msg->msg_iovlen; i++)
            want += msg->msg_iov[i].iov_len;
        if (want == 0)
            return 0; /* (Linux: no error taken by an empty read) */
    }
    return relay_end(fd, k < 0 ? ECONNRESET : 0);
}

ssize_t shim_relay_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    shim_unlock();
    /* TCP ignores a destination on a connected socket; AF_UNIX would
     * answer EISCONN. SIGPIPE is ours to raise (not for ECONNRESET). */
    struct msghdr m = *msg;
    m.msg_name = NULL;
    m.msg_namelen = 0;
    ssize_t k = DM_REAL(sendmsg)(fd, &m, flags | MSG_NOSIGNAL);
    if (k >= 0 || errno != EPIPE)
        return k < 0 ? -errno : k;
    return relay_end(fd, EPIPE);
}

int shim_relay_shutdown(struct shim_sock *s, int fd, int how)
{
    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR) {
        shim_unlock();
        return -EINVAL;
    }
    if (shim_relay_claim(s, fd) == 0) {
        shim_unlock();
        return shim_orphan_eio();
    }
    if (how != SHUT_RD && s->relay_up >= 0) {
        struct relay_msg m = { .op = RELAY_SHUT, .qd = s->qd, .gen = s->inst_gen, .err = how };
        int r = send_msg(s->relay_up, &m, -1, MSG_DONTWAIT);
        if (r < 0)
            DM_DEBUG("shim", "fd %d: the parent was not told of this shutdown (%s): it sends the FIN only "
                     "when the unix socket is still open", fd, strerror(-r));
    }
    shim_unlock();
    return DM_REAL(shutdown)(fd, how) < 0 ? -errno : 0;
}

/* ---- names and options of a REMOTE or RELAYED socket ---- */

/* The kernel TCP socket that takes the options: the placeholder (at fd
 * until the claim, then kept as s->kfd). */
static int opt_fd(const struct shim_sock *s, int fd)
{
    return s->state == SHIM_RELAYED ? s->kfd : fd;
}

int shim_relay_getsockopt(struct shim_sock *s, int fd, int level, int name, void *val, socklen_t *len)
{
    if (level == SOL_SOCKET) {
        switch (name) {
        case SO_TYPE: return shim_put_int(SOCK_STREAM, val, len);
        case SO_DOMAIN: return shim_put_int(s->family, val, len);
        case SO_PROTOCOL: return shim_put_int(IPPROTO_TCP, val, len);
        case SO_ACCEPTCONN: return shim_put_int(0, val, len);
        case SO_REUSEADDR: return shim_put_int(s->reuseaddr, val, len);
        case SO_REUSEPORT: return shim_put_int(s->reuseport, val, len);
        case SO_ERROR: {
            if (s->state == SHIM_RELAYED)
                relay_learn(s->relay_up); /* a reset the parent saw */
            int r = shim_put_int(s->so_error, val, len);
            if (r == 0)
                s->so_error = 0;
            return r;
        }
        default: break;
        }
    }
    int k = opt_fd(s, fd);
    if (k < 0)
        return -ENOPROTOOPT;
    if (DM_REAL(getsockopt)(k, level, name, val, len) < 0)
        return -errno;
    if (level == IPPROTO_TCP && name == TCP_INFO && val && len && *len >= 1)
        ((struct tcp_info *)val)->tcpi_state = TCP_ESTABLISHED; /* (the placeholder never connected) */
    return 0;
}

int shim_relay_setsockopt(struct shim_sock *s, int fd, int level, int name, const void *val, socklen_t len)
{
    /* Linux validates and keeps it on a TCP socket (TCP_NODELAY and
     * friends are accepted; the parent's stack sends as it does) */
    int k = opt_fd(s, fd);
    if (k < 0)
        return -ENOPROTOOPT;
    if (DM_REAL(setsockopt)(k, level, name, val, len) < 0)
        return -errno;
    int iv = 0;
    if (val && len >= sizeof(int))
        memcpy(&iv, val, sizeof(int));
    if (level == SOL_SOCKET && name == SO_REUSEADDR)
        s->reuseaddr = iv != 0;
    else if (level == SOL_SOCKET && name == SO_REUSEPORT)
        s->reuseport = iv != 0;
    /* buffers and timeouts act on the unix socket, which does the I/O */
    if (level == SOL_SOCKET && s->state == SHIM_RELAYED)
        (void)DM_REAL(setsockopt)(fd, level, name, val, len);
    return 0;
}

/* ---- parent: references ---- */

static void conn_unref(struct relay_conn *c)
{
    if (--c->refs)
        return;
    for (struct relay_conn **pp = &conns; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    struct shim_sock *s = c->s;
    /* this process's alone again: its last close decides FIN or RST */
    s->shared = false;
    if (c->kept) {
        DM_DEBUG("shim", "qd %d: the last child's reference is gone: closed", c->qd);
        shim_sock_free(s);
    }
    free(c);
}

bool shim_relay_free(struct shim_sock *s)
{
    if (s->state == SHIM_REMOTE) {
        if (s->relay_up >= 0) {
            struct relay_msg m = { .op = RELAY_DROP, .qd = s->qd, .gen = s->inst_gen };
            (void)send_msg(s->relay_up, &m, -1, MSG_DONTWAIT); /* (not sent: our exit drops it) */
        }
        return false;
    }
    struct relay_conn *c = s->state == SHIM_OFFLOADED ? conn_find(s) : NULL;
    if (!c)
        return false;
    c->kept = true;
    shim_watch_drop_all(s);
    DM_DEBUG("shim", "qd %d: closed here while a child holds it: the connection stays", c->qd);
    return true;
}

/* ---- parent: control messages ---- */

static int held_find(const struct relay_ctl *t, const struct relay_msg *m)
{
    for (unsigned i = 0; i < t->nheld; i++)
        if (t->held[i]->qd == m->qd && t->held[i]->gen == m->gen)
            return (int)i;
    return -1;
}

static void held_take(struct relay_ctl *t, int i)
{
    t->held[i] = t->held[--t->nheld];
}

static int relay_new(struct relay_conn *c, int fd, struct relay_ctl *t)
{
    struct relay *r = calloc(1, sizeof(*r));
    uint8_t *b = r ? malloc(RELAY_BUF) : NULL;
    if (!b) {
        free(r);
        return ENOMEM;
    }
    DM_REAL(fcntl)(fd, F_SETFL, DM_REAL(fcntl)(fd, F_GETFL) | O_NONBLOCK);
    r->c = c;
    r->ctl = t;
    r->fd = fd;
    r->pid = t->pid;
    r->buf = b;
    r->next = relays;
    relays = r;
    nrelays++;
    live_update();
    struct shim_sock *s = c->s;
    shim_sock_want_rx(s); /* the child reads: keep a receive posted */
    shim_sock_post(s);
    DM_DEBUG("shim", "qd %d: relayed to child %d through a unix socket", c->qd, (int)t->pid);
    return 0;
}

/* t's relay of the connection m names, or NULL. */
static struct relay *relay_find(const struct relay_ctl *t, const struct relay_msg *m)
{
    for (struct relay *r = relays; r; r = r->next)
        if (r->ctl == t && r->c->qd == m->qd && r->c->gen == m->gen)
            return r;
    return NULL;
}

/* t's process forked: the child (a grandchild of ours, with control
 * socket fd) holds a reference to each of the n connections e that t
 * holds (a REMOTE socket of t's process). */
static void ctl_fork(struct relay_ctl *t, pid_t pid, const uint8_t *e, unsigned n, int fd)
{
    struct relay_ctl *g = fd >= 0 ? calloc(1, sizeof(*g)) : NULL;
    if (g)
        g->held = malloc((n ? n : 1) * sizeof(*g->held));
    if (!g || !g->held) {
        if (fd >= 0)
            DM_WARN("shim", "fork: no memory for child %d of child %d: its %u inherited connections will give "
                    "EIO", (int)pid, (int)t->pid, n);
        free(g);
        close_fd(fd);
        return;
    }
    g->fd = fd;
    g->pid = pid;
    for (unsigned i = 0; i < n; i++) {
        struct relay_ent en;
        memcpy(&en, e + i * sizeof(en), sizeof(en));
        struct relay_msg q = { .qd = en.qd, .gen = en.gen };
        int k = held_find(t, &q);
        if (k < 0)
            continue; /* (its claim is answered EBADF: EIO there) */
        t->held[k]->refs++;
        g->held[g->nheld++] = t->held[k];
    }
    g->next = ctls_new; /* (ctls may be walked now) */
    ctls_new = g;
    nctls++;
    DM_DEBUG("shim", "fork: child %d of child %d holds %u connections of this datapath", (int)pid, (int)t->pid,
             g->nheld);
}

static void ctl_message(struct relay_ctl *t, const struct relay_msg *m, int fd)
{
    if (m->op == RELAY_SHUT) {
        struct relay *r = relay_find(t, m);
        if (r && m->err != SHUT_RD)
            r->shut = true; /* its EOF, which follows, is a shutdown */
        close_fd(fd);
        return;
    }
    int i = held_find(t, m);
    if (m->op == RELAY_DROP) {
        if (i >= 0) {
            struct relay_conn *c = t->held[i];
            DM_DEBUG("shim", "qd %d: child %d closed it unused: its reference is dropped", c->qd, (int)t->pid);
            held_take(t, i);
            conn_unref(c);
        }
        close_fd(fd);
        return;
    }
    if (m->op != RELAY_CLAIM) {
        close_fd(fd);
        return;
    }
    int err = i < 0 ? EBADF : fd < 0 ? EINVAL : relay_new(t->held[i], fd, t);
    if (err == 0)
        held_take(t, i); /* the relay has that reference now */
    else
        close_fd(fd);
    struct relay_msg a = { .op = RELAY_ANSWER, .qd = m->qd, .gen = m->gen, .err = err };
    (void)send_msg(t->fd, &a, -1, MSG_DONTWAIT);
}

/* Reads t's messages; false when the child's end is closed (it exited). */
static bool ctl_read(struct relay_ctl *t)
{
    for (;;) {
        union {
            struct relay_msg m;
            uint8_t b[RELAY_MSG_MAX];
        } u;
        struct iovec v = { &u, sizeof(u) };
        union {
            char b[CMSG_SPACE(sizeof(int))];
            struct cmsghdr align;
        } cb;
        struct msghdr mh = { .msg_iov = &v, .msg_iovlen = 1, .msg_control = cb.b, .msg_controllen = sizeof(cb.b) };
        ssize_t k = DM_REAL(recvmsg)(t->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (k < 0)
            return errno == EAGAIN || errno == EINTR;
        if (k == 0)
            return false;
        int fd = -1;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
            if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS && cm->cmsg_len >= CMSG_LEN(sizeof(int)))
                memcpy(&fd, CMSG_DATA(cm), sizeof(int));
        if (k >= (ssize_t)sizeof(u.m) && u.m.op == RELAY_FORK && u.m.qd >= 0 &&
            (size_t)k == sizeof(u.m) + (size_t)u.m.qd * sizeof(struct relay_ent))
            ctl_fork(t, u.m.err, u.b + sizeof(u.m), (unsigned)u.m.qd, fd);
        else if (k == (ssize_t)sizeof(u.m) && u.m.op != RELAY_FORK)
            ctl_message(t, &u.m, fd);
        else
            close_fd(fd);
    }
}

static void ctl_free(struct relay_ctl *t)
{
    DM_DEBUG("shim", "child %d: its control socket closed: %u connections it had not used are dropped",
             (int)t->pid, t->nheld);
    for (unsigned i = 0; i < t->nheld; i++)
        conn_unref(t->held[i]);
    for (struct relay *r = relays; r; r = r->next)
        if (r->ctl == t)
            r->ctl = NULL;
    watch(t->fd, &t->armed, 0); /* (a child's copy of the file may outlive our fd) */
    close_fd(t->fd);
    free(t->held);
    free(t);
    nctls--;
}

/* ---- parent: pumps ---- */

/* The connection's sending side ends after what was pushed (the FIN). */
static void tcp_shut_wr(struct shim_sock *s)
{
    if (s->shut_wr || s->wr_dead)
        return;
    int r = dm_shutdown(shim_dp_inst(s->dp), s->qd, SHUT_WR);
    if (r < 0)
        DM_DEBUG("shim", "qd %d: the relay's shutdown: %s", s->qd, strerror(-r));
    s->shut_wr = true;
    shim_sock_changed(s);
}

/* What to poll r's unix socket for. */
static short relay_events(const struct relay *r)
{
    const struct shim_sock *s = r->c->s;
    short ev = 0;
    if (!r->up_done && r->off == r->len && shim_sock_tx_space(s))
        ev |= POLLIN;
    if (!r->down_done && s->rx_bytes)
        ev |= POLLOUT;
    return ev;
}

/* TCP to the child. */
static int pump_down(struct relay *r, short rev)
{
    struct shim_sock *s = r->c->s;
    int work = 0;
    if (s->rx_bytes && (rev & POLLOUT)) {
        ssize_t k = shim_sock_rx_to_fd(s, r->fd);
        if (k > 0)
            work++;
        else if (k < 0 && k != -EAGAIN && k != -EINTR)
            r->down_done = true; /* it reads no more (SHUT_RD, or closed: its EOF ends the rest) */
    }
    if (s->rx_bytes || r->down_done)
        return work;
    if (s->rd_err) {
        /* a reset: the relay ends, the child told first (its read of
         * the end of the stream, or write, reports it: see the child's
         * side above) */
        struct relay_msg m = { .op = RELAY_RESET, .qd = r->c->qd, .gen = r->c->gen, .err = s->rd_err };
        int e = r->ctl ? send_msg(r->ctl->fd, &m, -1, MSG_DONTWAIT) : -EPIPE;
        if (e < 0)
            DM_DEBUG("shim", "qd %d: child %d not told of the reset (%s): it reads the end of the stream",
                     r->c->qd, (int)r->pid, strerror(-e));
        r->down_done = r->up_done = true;
        work++;
    } else if (s->eof || s->shut_rd) {
        (void)DM_REAL(shutdown)(r->fd, SHUT_WR);
        r->down_done = true;
        work++;
    }
    return work;
}

/* The child's end gave EOF, after every byte it wrote (or ECONNRESET: it
 * closed with bytes of ours unread): its shutdown(SHUT_WR) or its last
 * close. Linux: a shutdown sends the FIN at once, whoever else holds the
 * connection; a close drops this reference only, and the last one
 * closes (conn_unref). The child's shim tells its shutdown on the
 * control socket before the unix socket's, so that message, if any, is
 * there to read now. */
static void child_eof(struct relay *r)
{
    struct shim_sock *s = r->c->s;
    if (!r->shut && r->ctl && !ctl_read(r->ctl))
        DM_DEBUG("shim", "child %d: its control socket is closed (it exited)", (int)r->pid);
    struct pollfd p = { .fd = r->fd, .events = POLLIN };
    bool closed = DM_REAL(poll)(&p, 1, 0) == 1 && (p.revents & POLLHUP);
    if (r->shut || !closed) {
        /* (not closed and not told: a program without our shim, exec'd
         * with the fd or a grandchild, shut it down) */
        DM_DEBUG("shim", "qd %d: child %d shut it down: FIN", r->c->qd, (int)r->pid);
        tcp_shut_wr(s); /* the FIN follows its bytes */
        r->up_done = true;
        return;
    }
    DM_DEBUG("shim", "qd %d: child %d closed it: its reference is dropped", r->c->qd, (int)r->pid);
    r->up_done = r->down_done = true;
}

/* The child to TCP. */
static int pump_up(struct relay *r, short rev)
{
    struct shim_sock *s = r->c->s;
    int work = 0;
    if (r->off == r->len && (rev & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t k = DM_REAL(recv)(r->fd, r->buf, RELAY_BUF, MSG_DONTWAIT);
        if (k > 0) {
            r->off = 0;
            r->len = (size_t)k;
        } else if (k == 0) {
            child_eof(r);
            return 1;
        } else if (errno != EAGAIN && errno != EINTR) {
            /* ECONNRESET: it closed with bytes of ours unread, maybe
             * after its shutdown: that still sends the FIN */
            child_eof(r);
            r->down_done = true;
            return 1;
        }
    }
    while (r->off < r->len) {
        ssize_t k = shim_sock_push(s, r->buf + r->off, r->len - r->off);
        if (k == -EAGAIN)
            break;
        if (k < 0) {
            /* the connection sends no more: the child's writes fail as
             * they would on it (EPIPE) */
            (void)DM_REAL(shutdown)(r->fd, SHUT_RD);
            r->off = r->len = 0;
            r->up_done = true;
            break;
        }
        r->off += (size_t)k;
        work++;
    }
    return work;
}

/* false when r is done (the caller frees it). */
static bool relay_pump(struct relay *r, short rev, int *work)
{
    struct shim_sock *s = r->c->s;
    if (s->state != SHIM_OFFLOADED || !shim_dp_live(s->dp)) {
        r->up_done = r->down_done = true;
    } else {
        if (!r->down_done)
            *work += pump_down(r, rev);
        if (!r->up_done)
            *work += pump_up(r, rev);
        /* hung up with its input read: the child can take nothing more */
        if (r->up_done && (rev & POLLHUP))
            r->down_done = true;
    }
    return !r->up_done || !r->down_done;
}

/* r is done and out of the list. */
static void relay_free(struct relay *r)
{
    DM_DEBUG("shim", "qd %d: relay to child %d done", r->c->qd, (int)r->pid);
    watch(r->fd, &r->armed, 0);
    close_fd(r->fd);
    free(r->buf);
    struct relay_conn *c = r->c;
    free(r);
    nrelays--;
    conn_unref(c);
}

static bool step_busy;
static int relay_step(bool whole);

int shim_relay_step(void) { return relay_step(false); }

int shim_relay_before_sleep(void)
{
    return nctls + nrelays ? relay_step(true) : 0;
}

int shim_relay_wait_fd(void)
{
    return nctls + nrelays ? relay_epfd : -1;
}

/* whole: whatever the time since the last one */
static int relay_step(bool whole)
{
    static bool stepping;
    static int64_t last;
    if (stepping)
        return 0; /* (a push inside polled the datapath) */
    int64_t now = dm_clock_ns();
    if (!whole && !step_busy && now - last < RELAY_PERIOD_NS)
        return 0;
    last = now;
    unsigned n = nctls + nrelays;
    if (n > pf_cap) {
        unsigned cap = n * 2;
        struct pollfd *p = realloc(pf, cap * sizeof(*p));
        if (!p)
            return 0;
        pf = p;
        pf_cap = cap;
    }
    stepping = true;
    unsigned i = 0;
    for (struct relay *r = relays; r; r = r->next)
        pf[i++] = (struct pollfd){ .fd = r->fd, .events = relay_events(r) };
    for (struct relay_ctl *t = ctls; t; t = t->next)
        pf[i++] = (struct pollfd){ .fd = t->fd, .events = POLLIN };
    if (DM_REAL(poll)(pf, n, 0) < 0)
        memset(pf, 0, n * sizeof(*pf)); /* (EINTR: the pumps' own work still runs) */
    int work = 0;
    i = 0;
    /* relays first: a claim below adds one at the head (as one read by
     * child_eof does, before the relay it pumps: pp may be stale then) */
    for (struct relay **pp = &relays; *pp;) {
        struct relay *r = *pp, *next = r->next;
        if (relay_pump(r, pf[i++].revents, &work)) {
            pp = &r->next;
            continue;
        }
        if (*pp != r)
            for (pp = &relays; *pp != r;)
                pp = &(*pp)->next;
        *pp = next;
        relay_free(r);
        work++;
    }
    for (struct relay_ctl **pp = &ctls; *pp;) {
        struct relay_ctl *t = *pp;
        short rev = pf[i++].revents;
        if (!rev || ctl_read(t)) {
            pp = &t->next;
            continue;
        }
        *pp = t->next;
        ctl_free(t);
        work++;
    }
    while (ctls_new) { /* (grandchildren introduced by the reads above) */
        struct relay_ctl *t = ctls_new;
        ctls_new = t->next;
        t->next = ctls;
        ctls = t;
        work++;
    }
    /* Before a sleep: what it waits for (the TCP side wakes it with the
     * datapath's own wait fd: bytes to pass down, send room). Only then:
     * a relay that streams would change it at nearly every step, a
     * syscall each, and only a sleep looks at it. */
    for (struct relay *r = relays; whole && r; r = r->next)
        watch(r->fd, &r->armed, relay_events(r));
    for (struct relay_ctl *t = ctls; whole && t; t = t->next)
        watch(t->fd, &t->armed, POLLIN);
    live_update();
    step_busy = work > 0;
    stepping = false;
    return work;
}

void shim_relay_drain(int64_t deadline)
{
    if (nrelays)
        DM_DEBUG("shim", "exit: %u relays to children still move bytes: up to DEMI_LINGER_MS for them", nrelays);
    while (nrelays && dm_clock_ns() < deadline) {
        shim_focus_all();
        shim_progress();
        if (!nrelays)
            break;
        struct timespec ts = { 0, RELAY_PERIOD_NS };
        DM_REAL(nanosleep)(&ts, NULL);
    }
    if (nrelays)
        DM_WARN("shim", "exit: %u connections relayed to children end with this process (the datapath is its)",
                nrelays);
}
