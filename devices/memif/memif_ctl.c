/* SPDX-License-Identifier: MIT */
/*
 * memif's control path (memif_proto.h has the protocol): the socket, the
 * handshake, the shared memory, and what happens when a peer leaves.
 *
 * Nothing here blocks: the socket is non-blocking, and memif_ctl_poll()
 * moves things on a step at a time from the packet path (every few
 * hundred bursts) or from start()'s wait. A client whose server is not
 * there yet, or went away, tries again every 100 ms; a server takes its
 * next client once the last one left (one at a time: a second one is told
 * "already connected").
 *
 * What a peer sends is checked before we rely on it: message sizes, the
 * version, ring and region indexes, that a ring and its descriptors lie
 * inside a region and that a region's file is as long as announced (a
 * mapping past a file's end would fault on first touch). A peer that gets
 * any of it wrong is disconnected with a reason and counted (ctl_bad).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include "dm/log.h"
#include "dm/time.h"
#include "memif_priv.h"

#define MEMIF_RETRY_NS (100 * DM_NS_PER_MS) /* a client's next connect try */
#define RING_C2S 0
#define RING_S2C 1

/* Our descriptors go above the low numbers, as DPDK's do (devices/dpdk,
 * dpdk_fd_floor_raise): a program expects its sockets low (select() stops
 * at FD_SETSIZE, event loops are sized to their connections), and a
 * client opens five of ours at each connect, at any time. */
static int fd_high(int fd)
{
    if (fd < 0)
        return fd;
    static int floor;
    if (!floor) {
        struct rlimit rl;
        floor = 256;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 4 * (rlim_t)floor)
            floor = (int)(rl.rlim_cur / 4);
    }
    if (fd >= floor)
        return fd;
    int h = fcntl(fd, F_DUPFD_CLOEXEC, floor);
    if (h < 0)
        return fd;
    close(fd);
    return h;
}

static size_t ring_bytes(uint8_t log2)
{
    return sizeof(struct memif_ring) + sizeof(struct memif_desc) * ((size_t)1 << log2);
}

static socklen_t sock_addr(const struct memif_dev *d, struct sockaddr_un *un)
{
    memset(un, 0, sizeof(*un));
    un->sun_family = AF_UNIX;
    size_t n = strlen(d->path);
    if (d->abstract) { /* as DPDK's net_memif by default: "\0path", no file */
        memcpy(un->sun_path + 1, d->path, n);
        return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
    }
    memcpy(un->sun_path, d->path, n);
    return (socklen_t)sizeof(*un);
}

static int msg_send(int fd, const struct memif_msg *m, int afd)
{
    struct iovec iov = { .iov_base = (void *)m, .iov_len = sizeof(*m) };
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (afd >= 0) {
        memset(&ctl, 0, sizeof(ctl));
        mh.msg_control = ctl.buf;
        mh.msg_controllen = sizeof(ctl.buf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &afd, sizeof(int));
    }
    return sendmsg(fd, &mh, MSG_NOSIGNAL) == (ssize_t)sizeof(*m) ? 0 : -errno;
}

/* 1: a message (and *afd the fd it carried, or -1); 0: none waiting;
 * -1: the peer closed or sent something that is not a message. */
static int msg_recv(int fd, struct memif_msg *m, int *afd)
{
    struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
    union {
        char buf[CMSG_SPACE(sizeof(int) * 4)];
        struct cmsghdr align;
    } ctl;
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
    *afd = -1;
    ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); n >= 0 && c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < nfd; i++) {
            int f;
            memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (*afd < 0)
                *afd = fd_high(f);
            else
                close(f); /* one fd a message; more is the peer's mistake */
        }
    }
    if (n != (ssize_t)sizeof(*m) || (mh.msg_flags & MSG_TRUNC)) {
        if (*afd >= 0)
            close(*afd);
        *afd = -1;
        return -1;
    }
    return 1;
}

static void send_simple(struct memif_dev *d, uint16_t type)
{
    struct memif_msg m = { .type = type };
    if (type == MEMIF_MSG_CONNECTED || type == MEMIF_MSG_CONNECT)
        snprintf((char *)m.connect.if_name, sizeof(m.connect.if_name), "%s", d->info.name);
    (void)msg_send(d->cc_fd, &m, -1);
}

/* The fds a sleeping instance wakes on (memif_priv.h, ep_fd): added as
 * they come, taken out before they close (a peer may hold the same file
 * open, which would keep it in the set). */
static void ep_add(struct memif_dev *d, int fd)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
    if (d->ep_fd >= 0 && fd >= 0)
        (void)epoll_ctl(d->ep_fd, EPOLL_CTL_ADD, fd, &ev);
}

static void close_fd(struct memif_dev *d, int *fd)
{
    if (*fd < 0)
        return;
    if (d->ep_fd >= 0)
        (void)epoll_ctl(d->ep_fd, EPOLL_CTL_DEL, *fd, NULL);
    close(*fd);
    *fd = -1;
}

static void unmap_all(struct memif_dev *d)
{
    for (uint16_t i = 0; i < MEMIF_REGIONS_MAX; i++) {
        struct memif_region *r = &d->reg[i];
        if (r->base)
            munmap(r->base, r->size);
        if (r->fd >= 0)
            close(r->fd);
        r->base = NULL;
        r->size = 0;
        r->fd = -1;
    }
    d->nregions = 0;
    for (int k = 0; k < 2; k++) {
        close_fd(d, &d->ring_fd[k]);
        d->have_ring[k] = false;
    }
    d->rx_intr_fd = d->tx_intr_fd = -1;
    d->armed = false;
    d->tx_room = 0;
}

/* Ends the connection (telling the peer why, when there is a reason) and
 * forgets everything it set up. The packet path sees rx == NULL at once. */
static void teardown(struct memif_dev *d, const char *why, bool bad)
{
    if (d->cc_fd >= 0) {
        if (why) {
            struct memif_msg m = { .type = MEMIF_MSG_DISCONNECT };
            snprintf((char *)m.disconnect.reason, sizeof(m.disconnect.reason), "%s", why);
            (void)msg_send(d->cc_fd, &m, -1);
        }
        close_fd(d, &d->cc_fd);
    }
    if (d->state == MEMIF_UP) {
        d->st[MEMIF_ST_DISCONNECTS]++;
        DM_INFO("memif", "%s: %s disconnected%s%s", d->info.name, d->peer_name, why ? ": " : "", why ? why : "");
    } else if (why) {
        DM_WARN("memif", "%s: handshake with %s failed: %s", d->info.name, d->server ? "a client" : "the server",
                why);
    }
    if (bad)
        d->st[MEMIF_ST_CTL_BAD]++;
    d->rx = d->tx = NULL;
    d->state = MEMIF_DOWN;
    unmap_all(d);
    d->retry_at_ns = dm_clock_ns() + MEMIF_RETRY_NS;
}

/* ------------------------------------------------------------ client */

/* Region 0, ours: the C2S ring, the S2C ring, then 2 x 2^log2 buffers
 * (slot i of C2S uses buffer i, slot j of S2C buffer 2^log2 + j). */
static int client_region(struct memif_dev *d)
{
    size_t rb = ring_bytes(d->log2_ring), n = (size_t)1 << d->log2_ring;
    uint64_t size = 2 * rb + 2 * n * (uint64_t)d->buf_size;
    int fd = fd_high(memfd_create("memif_region_0", MFD_ALLOW_SEALING | MFD_CLOEXEC));
    if (fd < 0)
        return -errno;
    if (ftruncate(fd, (off_t)size) < 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        int e = -errno;
        close(fd);
        return e;
    }
    d->reg[0] = (struct memif_region){ .base = p, .size = size, .fd = fd };
    d->buf_off = 2 * rb;
    d->nregions = 1;
    for (int k = 0; k < 2; k++) {
        struct memif_ring *r = (struct memif_ring *)((uint8_t *)p + k * rb);
        r->cookie = MEMIF_COOKIE;
        for (size_t i = 0; i < n; i++) {
            r->desc[i].region = 0;
            r->desc[i].offset = (uint32_t)(2 * rb + ((size_t)k * n + i) * d->buf_size);
            r->desc[i].length = d->buf_size;
        }
        d->ring_off[k] = (uint32_t)(k * rb);
        d->ring_fd[k] = fd_high(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
        if (d->ring_fd[k] < 0)
            return -errno;
    }
    return 0;
}

static void client_hello(struct memif_dev *d, const struct memif_msg *m)
{
    const struct memif_msg_hello *h = &m->hello;
    if (h->min_version > MEMIF_VERSION || h->max_version < MEMIF_VERSION)
        return teardown(d, "incompatible memif version", true);
    snprintf(d->peer_name, sizeof(d->peer_name), "%.*s", MEMIF_NAME_LEN, (const char *)h->name);
    d->peer_fences = strcmp(d->peer_name, MEMIF_OUR_NAME) == 0;
    d->log2_ring = d->log2_cfg;
    if (h->max_log2_ring_size && h->max_log2_ring_size < d->log2_ring)
        d->log2_ring = h->max_log2_ring_size;
    if (d->log2_ring < MEMIF_LOG2_RING_MIN)
        return teardown(d, "rings of fewer than 64 descriptors", true);
    int err = client_region(d);
    if (err < 0) {
        DM_ERR("memif", "%s: shared memory: %s", d->info.name, strerror(-err));
        return teardown(d, "client out of memory", false);
    }
    struct memif_msg init = { .type = MEMIF_MSG_INIT };
    init.init.version = MEMIF_VERSION;
    init.init.id = d->id;
    init.init.mode = MEMIF_MODE_ETHERNET;
    memcpy(init.init.secret, d->secret, strlen(d->secret));
    snprintf((char *)init.init.name, sizeof(init.init.name), "%s", MEMIF_OUR_NAME);
    struct memif_msg reg = { .type = MEMIF_MSG_ADD_REGION };
    reg.add_region.index = 0;
    reg.add_region.size = d->reg[0].size;
    struct memif_msg ring[2];
    for (int k = 0; k < 2; k++) {
        ring[k] = (struct memif_msg){ .type = MEMIF_MSG_ADD_RING };
        ring[k].add_ring.flags = k == RING_C2S ? MEMIF_RING_FLAG_C2S : MEMIF_RING_FLAG_S2C;
        ring[k].add_ring.index = 0;
        ring[k].add_ring.region = 0;
        ring[k].add_ring.offset = d->ring_off[k];
        ring[k].add_ring.log2_ring_size = d->log2_ring;
    }
    /* All at once: the server answers each in turn (ACK, then CONNECTED). */
    if (msg_send(d->cc_fd, &init, -1) < 0 || msg_send(d->cc_fd, &reg, d->reg[0].fd) < 0 ||
        msg_send(d->cc_fd, &ring[RING_C2S], d->ring_fd[RING_C2S]) < 0 ||
        msg_send(d->cc_fd, &ring[RING_S2C], d->ring_fd[RING_S2C]) < 0)
        return teardown(d, NULL, false);
    send_simple(d, MEMIF_MSG_CONNECT);
}

/* The server reset both rings' head and tail when it took CONNECT; we
 * post every S2C buffer for it to fill and start. */
static void client_connected(struct memif_dev *d)
{
    size_t rb = ring_bytes(d->log2_ring);
    struct memif_ring *c2s = (struct memif_ring *)d->reg[0].base, *s2c = (struct memif_ring *)(d->reg[0].base + rb);
    uint16_t n = (uint16_t)(1u << d->log2_ring);
    d->ring_mask = (uint16_t)(n - 1);
    d->tx_cur = __atomic_load_n(&c2s->head, __ATOMIC_RELAXED);
    d->tx_room = 0;
    d->rx_cur = __atomic_load_n(&s2c->tail, __ATOMIC_ACQUIRE);
    s2c->flags = MEMIF_RING_MASK_INT; /* we poll: no eventfd write per burst */
    __atomic_store_n(&s2c->head, (uint16_t)(d->rx_cur + n), __ATOMIC_RELEASE);
    d->tx_intr_fd = d->ring_fd[RING_C2S];
    d->rx_intr_fd = d->ring_fd[RING_S2C];
    ep_add(d, d->rx_intr_fd);
    d->tx = c2s;
    d->rx = s2c;
    d->state = MEMIF_UP;
    d->st[MEMIF_ST_CONNECTS]++;
    DM_INFO("memif", "%s: connected to %s (ring %u, buffers %u B)", d->info.name, d->peer_name, n, d->buf_size);
}

static void client_try(struct memif_dev *d)
{
    if (dm_clock_ns() < d->retry_at_ns)
        return;
    int fd = fd_high(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    if (fd < 0)
        return;
    struct sockaddr_un un;
    socklen_t len = sock_addr(d, &un);
    if (connect(fd, (struct sockaddr *)&un, len) < 0) {
        close(fd);
        d->retry_at_ns = dm_clock_ns() + MEMIF_RETRY_NS;
        return;
    }
    (void)fcntl(fd, F_SETFL, O_NONBLOCK);
    d->cc_fd = fd;
    ep_add(d, fd);
    d->state = MEMIF_HANDSHAKE;
}

/* ------------------------------------------------------------ server */

/* Does a server answer on our (file) path? */
static bool path_alive(const struct memif_dev *d)
{
    struct sockaddr_un un;
    socklen_t len = sock_addr(d, &un);
    int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    bool live = probe >= 0 && connect(probe, (struct sockaddr *)&un, len) == 0;
    if (probe >= 0)
        close(probe);
    return live;
}

static int server_listen(struct memif_dev *d)
{
    int fd = fd_high(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd < 0)
        return -errno;
    struct sockaddr_un un;
    socklen_t len = sock_addr(d, &un);
    int rc = bind(fd, (struct sockaddr *)&un, len);
    if (rc < 0 && errno == EADDRINUSE && !d->abstract && !path_alive(d)) {
        unlink(d->path); /* a file left by a server that died */
        rc = bind(fd, (struct sockaddr *)&un, len);
    }
    if (rc < 0 || listen(fd, 4) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    d->listen_fd = fd;
    ep_add(d, fd);
    return 0;
}

static void server_accept(struct memif_dev *d)
{
    int fd;
    while ((fd = fd_high(accept4(d->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC))) >= 0) {
        if (d->cc_fd >= 0) { /* one client at a time */
            struct memif_msg m = { .type = MEMIF_MSG_DISCONNECT };
            snprintf((char *)m.disconnect.reason, sizeof(m.disconnect.reason), "already connected");
            (void)msg_send(fd, &m, -1);
            close(fd);
            continue;
        }
        d->cc_fd = fd;
        ep_add(d, fd);
        d->state = MEMIF_HANDSHAKE;
        snprintf(d->peer_name, sizeof(d->peer_name), "a client");
        struct memif_msg h = { .type = MEMIF_MSG_HELLO };
        snprintf((char *)h.hello.name, sizeof(h.hello.name), "%s", MEMIF_OUR_NAME);
        h.hello.min_version = h.hello.max_version = MEMIF_VERSION;
        h.hello.max_region = MEMIF_REGIONS_MAX - 1;
        h.hello.max_c2s_ring = h.hello.max_s2c_ring = 0; /* one queue pair */
        h.hello.max_log2_ring_size = MEMIF_LOG2_RING_MAX;
        if (msg_send(fd, &h, -1) < 0)
            teardown(d, NULL, false);
    }
}

/* CONNECT: map what the client gave us, check it, and start. */
static const char *server_connect(struct memif_dev *d)
{
    if (!d->have_ring[RING_C2S] || !d->have_ring[RING_S2C])
        return "a ring each way is needed";
    for (uint16_t i = 0; i < d->nregions; i++) {
        struct memif_region *r = &d->reg[i];
        struct stat sb;
        if (fstat(r->fd, &sb) < 0 || (uint64_t)sb.st_size < r->size)
            return "region shorter than announced";
        void *p = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
        if (p == MAP_FAILED)
            return "region cannot be mapped";
        r->base = p;
        int seals = fcntl(r->fd, F_GET_SEALS);
        if (seals < 0 || !(seals & F_SEAL_SHRINK))
            DM_WARN("memif", "%s: the client's region %u may shrink under us (not a sealed memfd)",
                         d->info.name, i);
    }
    struct memif_ring *ring[2];
    for (int k = 0; k < 2; k++) {
        if (d->ring_region[k] >= d->nregions || d->ring_log2[k] > MEMIF_LOG2_RING_MAX)
            return "bad ring";
        if (d->ring_log2[k] < MEMIF_LOG2_RING_MIN)
            return "rings of fewer than 64 descriptors";
        const struct memif_region *r = &d->reg[d->ring_region[k]];
        if ((uint64_t)d->ring_off[k] + ring_bytes(d->ring_log2[k]) > r->size || d->ring_off[k] % 8)
            return "ring outside its region";
        ring[k] = (struct memif_ring *)(r->base + d->ring_off[k]);
        if (ring[k]->cookie != MEMIF_COOKIE)
            return "bad ring cookie";
    }
    if (d->ring_log2[0] != d->ring_log2[1])
        return "rings of two sizes";
    d->log2_ring = d->ring_log2[0];
    d->ring_mask = (uint16_t)((1u << d->log2_ring) - 1);
    for (int k = 0; k < 2; k++) {
        __atomic_store_n(&ring[k]->head, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&ring[k]->tail, 0, __ATOMIC_RELAXED);
    }
    ring[RING_C2S]->flags = MEMIF_RING_MASK_INT; /* we poll */
    d->rx_cur = d->tx_cur = d->tx_room = 0;
    d->rx_intr_fd = d->ring_fd[RING_C2S];
    d->tx_intr_fd = d->ring_fd[RING_S2C];
    ep_add(d, d->rx_intr_fd);
    d->rx = ring[RING_C2S];
    d->tx = ring[RING_S2C];
    return NULL;
}

/* One message from the client; false when it ended the connection. */
static bool server_msg(struct memif_dev *d, const struct memif_msg *m, int afd)
{
    const char *bad = NULL;
    /* once connected, the rings and regions are fixed: a region or ring
     * added now would be one the packet path never mapped */
    uint16_t type = d->state == MEMIF_UP && m->type != MEMIF_MSG_DISCONNECT && m->type != MEMIF_MSG_ACK
                        ? (uint16_t)0xffff
                        : m->type;
    switch (type) {
    case 0xffff:
        bad = "message after connect";
        break;
    case MEMIF_MSG_INIT:
        if (m->init.version != MEMIF_VERSION)
            bad = "incompatible memif version";
        else if (m->init.id != d->id)
            bad = "ID not found";
        else if (m->init.mode != MEMIF_MODE_ETHERNET)
            bad = "only ethernet mode supported";
        else if (d->secret[0] && strncmp(d->secret, (const char *)m->init.secret, MEMIF_SECRET_LEN) != 0)
            bad = "incorrect secret";
        else
            snprintf(d->peer_name, sizeof(d->peer_name), "%.*s", MEMIF_NAME_LEN, (const char *)m->init.name);
        d->peer_fences = strcmp(d->peer_name, MEMIF_OUR_NAME) == 0;
        break;
    case MEMIF_MSG_ADD_REGION:
        if (afd < 0)
            bad = "missing region fd";
        else if (m->add_region.index != d->nregions || d->nregions >= MEMIF_REGIONS_MAX)
            bad = "invalid region index";
        else if (m->add_region.size == 0 || m->add_region.size > ((uint64_t)1 << 40))
            bad = "invalid region size";
        else {
            d->reg[d->nregions++] = (struct memif_region){ .base = NULL, .size = m->add_region.size, .fd = afd };
            afd = -1;
        }
        break;
    case MEMIF_MSG_ADD_RING: {
        int k = (m->add_ring.flags & MEMIF_RING_FLAG_C2S) ? RING_C2S : RING_S2C;
        if (afd < 0)
            bad = "missing interrupt fd";
        else if (m->add_ring.index != 0 || d->have_ring[k])
            bad = "invalid ring index";
        else {
            d->have_ring[k] = true;
            d->ring_off[k] = m->add_ring.offset;
            d->ring_region[k] = m->add_ring.region;
            d->ring_log2[k] = m->add_ring.log2_ring_size;
            d->ring_fd[k] = afd;
            afd = -1;
        }
        break;
    }
    case MEMIF_MSG_CONNECT:
        bad = server_connect(d);
        if (!bad) {
            send_simple(d, MEMIF_MSG_CONNECTED);
            d->state = MEMIF_UP;
            d->st[MEMIF_ST_CONNECTS]++;
            DM_INFO("memif", "%s: %s connected (ring %u)", d->info.name, d->peer_name, d->ring_mask + 1u);
            return true;
        }
        break;
    case MEMIF_MSG_DISCONNECT:
        if (afd >= 0)
            close(afd);
        teardown(d, NULL, false);
        return false;
    case MEMIF_MSG_ACK:
        break;
    default:
        bad = "unknown message type";
    }
    if (afd >= 0)
        close(afd);
    if (bad) {
        teardown(d, bad, true);
        return false;
    }
    if (m->type != MEMIF_MSG_ACK)
        send_simple(d, MEMIF_MSG_ACK);
    return true;
}

/* ------------------------------------------------------------ both */

/* One message from the server; false when the connection ended. */
static bool client_msg(struct memif_dev *d, const struct memif_msg *m, int afd)
{
    if (afd >= 0)
        close(afd); /* a server sends no fds */
    switch (m->type) {
    case MEMIF_MSG_HELLO:
        if (d->nregions)
            break; /* a second HELLO: ignored */
        client_hello(d, m);
        return d->cc_fd >= 0;
    case MEMIF_MSG_ACK:
        return true;
    case MEMIF_MSG_CONNECTED:
        if (d->nregions && d->state == MEMIF_HANDSHAKE)
            client_connected(d);
        return true;
    case MEMIF_MSG_DISCONNECT: {
        char why[97];
        snprintf(why, sizeof(why), "%.*s", 96, (const char *)m->disconnect.reason);
        if (d->state != MEMIF_UP)
            DM_WARN("memif", "%s: the server refused us: %s", d->info.name, why);
        teardown(d, NULL, false);
        return false;
    }
    default:
        break;
    }
    teardown(d, "unexpected message", true);
    return false;
}

void memif_ctl_fail(struct memif_dev *d, const char *why)
{
    teardown(d, why, true);
}

void memif_ctl_poll(struct memif_dev *d)
{
    /* one poll() says which socket has something: a non-blocking accept
     * that finds nothing still costs a socket and a file in the kernel */
    struct pollfd pf[2] = { { .fd = d->listen_fd, .events = POLLIN }, { .fd = d->cc_fd, .events = POLLIN } };
    if (poll(pf, 2, 0) <= 0 && d->cc_fd >= 0)
        return;
    if (d->server && (pf[0].revents & POLLIN))
        server_accept(d);
    else if (!d->server && d->cc_fd < 0)
        client_try(d);
    while (d->cc_fd >= 0) {
        struct memif_msg m;
        int afd, r = msg_recv(d->cc_fd, &m, &afd);
        if (r == 0)
            break;
        if (r < 0) {
            teardown(d, NULL, false); /* the peer left (or broke the framing) */
            break;
        }
        if (!(d->server ? server_msg(d, &m, afd) : client_msg(d, &m, afd)))
            break;
    }
}

int memif_ctl_open(struct memif_dev *d)
{
    d->cc_fd = d->listen_fd = -1;
    d->ep_fd = fd_high(epoll_create1(EPOLL_CLOEXEC));
    if (d->ep_fd < 0)
        return -errno;
    for (int i = 0; i < MEMIF_REGIONS_MAX; i++)
        d->reg[i].fd = -1;
    d->ring_fd[0] = d->ring_fd[1] = -1;
    d->rx_intr_fd = d->tx_intr_fd = -1;
    d->state = MEMIF_DOWN;
    if (d->server) {
        int err = server_listen(d);
        if (err < 0) {
            DM_ERR("memif", "%s: cannot listen on %s%s: %s%s", d->info.name, d->abstract ? "@" : "", d->path,
                   strerror(-err),
                   err == -EADDRINUSE ? " (another process serves it: one process per memif interface; "
                                        "workers forked from one server each open the datapath, and need "
                                        "DPDK's shared port, devices/memif/README.md)" : "");
            close(d->ep_fd);
            d->ep_fd = -1;
            return err;
        }
    }
    memif_ctl_poll(d);
    return 0;
}

void memif_ctl_close(struct memif_dev *d)
{
    teardown(d, d->state == MEMIF_UP ? "closed" : NULL, false);
    if (d->listen_fd >= 0 && !d->abstract)
        unlink(d->path);
    close_fd(d, &d->listen_fd);
    if (d->ep_fd >= 0)
        close(d->ep_fd);
    d->ep_fd = -1;
}

