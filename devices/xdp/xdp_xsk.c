/* SPDX-License-Identifier: MIT */
/*
 * An AF_XDP socket set up by hand (what libxdp's xsk_umem__create and
 * xsk_socket__create do in one call), split where the privileges are
 * needed: creating the socket needs CAP_NET_RAW and registering the UMEM
 * pins its pages (CAP_IPC_LOCK or RLIMIT_MEMLOCK, charged to the caller);
 * the rings, their mmap, bind and the XSKMAP insert need nothing (measured
 * on 6.18 as uid 65534 with the socket passed over SCM_RIGHTS). So a
 * process that dropped its privileges gets the socket from the helper
 * (xdp_helper.c) and does the rest itself; a privileged one does all here.
 *
 * The UMEM is a memfd mapped MAP_SHARED: the helper registers it from its
 * own mapping of the same pages, which the kernel then holds pinned.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_xdp.h>
#include "xdp_prog.h"

#ifndef SOL_XDP
#define SOL_XDP 283
#endif
#ifndef AF_XDP
#define AF_XDP 44
#endif

/* struct xdp_umem_reg as of Linux 6.8 (installed headers may be older) */
struct umem_reg {
    uint64_t addr, len;
    uint32_t chunk_size, headroom, flags, tx_metadata_len;
};

int xdp_xsk_umem_socket(int memfd, size_t len, uint32_t frame_size, uint32_t *flags)
{
    void *area = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    if (area == MAP_FAILED)
        return -errno;
    int fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0), err = 0;
    if (fd < 0) {
        err = -errno;
    } else {
        struct umem_reg mr = {
            .addr = (uint64_t)(uintptr_t)area, .len = len, .chunk_size = frame_size, .headroom = 0,
            .flags = *flags, .tx_metadata_len = *flags & XDP_UMEM_TX_METADATA_LEN ? XDP_TX_META_LEN : 0,
        };
        int r = setsockopt(fd, SOL_XDP, XDP_UMEM_REG, &mr, sizeof(mr));
        if (r < 0 && errno == EINVAL && (*flags & XDP_UMEM_TX_METADATA_LEN)) {
            /* before 6.11 the flag is unknown (and before 6.8 the field
             * silently ignored): no metadata rather than a guess */
            *flags &= ~(uint32_t)(XDP_UMEM_TX_METADATA_LEN | XDP_UMEM_TX_SW_CSUM);
            mr.flags = *flags;
            mr.tx_metadata_len = 0;
            r = setsockopt(fd, SOL_XDP, XDP_UMEM_REG, &mr, sizeof(mr));
        }
        if (r < 0) {
            err = -errno;
            close(fd);
        }
    }
    munmap(area, len); /* the kernel keeps the pages pinned */
    return err < 0 ? err : fd;
}

static void *ring_map(int fd, uint64_t pgoff, size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, (off_t)pgoff);
    if (p == MAP_FAILED)
        return NULL;
    /* a forked child must not keep the socket alive through a mapping
     * (the queue would stay bound after we exit) */
    madvise(p, len, MADV_DONTFORK);
    return p;
}

#define RING_INIT(r, base, o, sz, prod)                                                                        \
    do {                                                                                                       \
        (r)->producer = (void *)((char *)(base) + (o).producer);                                             \
        (r)->consumer = (void *)((char *)(base) + (o).consumer);                                             \
        (r)->flags = (void *)((char *)(base) + (o).flags);                                                   \
        (r)->ring = (char *)(base) + (o).desc;                                                                \
        (r)->mask = (sz) - 1;                                                                                  \
        (r)->size = (sz);                                                                                      \
        (r)->cached_prod = *(r)->producer;                                                                     \
        (r)->cached_cons = *(r)->consumer + ((prod) ? (sz) : 0);                                               \
    } while (0)

int xdp_xsk_rings(struct xdp_xsk *x, int fd, uint32_t size)
{
    struct xdp_mmap_offsets off;
    socklen_t olen = sizeof(off);
    int sz = (int)size;
    memset(x, 0, sizeof(*x));
    x->fd = fd;
    if (setsockopt(fd, SOL_XDP, XDP_UMEM_FILL_RING, &sz, sizeof(sz)) < 0 ||
        setsockopt(fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &sz, sizeof(sz)) < 0 ||
        setsockopt(fd, SOL_XDP, XDP_RX_RING, &sz, sizeof(sz)) < 0 ||
        setsockopt(fd, SOL_XDP, XDP_TX_RING, &sz, sizeof(sz)) < 0 ||
        getsockopt(fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &olen) < 0)
        return -errno;
    x->len[0] = off.fr.desc + size * sizeof(uint64_t);
    x->len[1] = off.cr.desc + size * sizeof(uint64_t);
    x->len[2] = off.rx.desc + size * sizeof(struct xdp_desc);
    x->len[3] = off.tx.desc + size * sizeof(struct xdp_desc);
    /* before bind: the kernel maps the rings of an unbound socket only */
    if (!(x->map[0] = ring_map(fd, XDP_UMEM_PGOFF_FILL_RING, x->len[0])) ||
        !(x->map[1] = ring_map(fd, XDP_UMEM_PGOFF_COMPLETION_RING, x->len[1])) ||
        !(x->map[2] = ring_map(fd, XDP_PGOFF_RX_RING, x->len[2])) ||
        !(x->map[3] = ring_map(fd, XDP_PGOFF_TX_RING, x->len[3]))) {
        int err = -errno;
        xdp_xsk_unmap(x);
        return err;
    }
    RING_INIT(&x->fill, x->map[0], off.fr, size, 1);
    RING_INIT(&x->comp, x->map[1], off.cr, size, 0);
    RING_INIT(&x->rx, x->map[2], off.rx, size, 0);
    RING_INIT(&x->tx, x->map[3], off.tx, size, 1);
    return 0;
}

int xdp_xsk_bind(int fd, int ifindex, uint32_t queue, bool zerocopy, bool sg)
{
    struct sockaddr_xdp sx = {
        .sxdp_family = AF_XDP,
        .sxdp_ifindex = (uint32_t)ifindex,
        .sxdp_queue_id = queue,
        .sxdp_flags = (uint16_t)(XDP_USE_NEED_WAKEUP | (zerocopy ? XDP_ZEROCOPY : XDP_COPY) | (sg ? XDP_USE_SG : 0)),
    };
    return bind(fd, (struct sockaddr *)&sx, sizeof(sx)) < 0 ? -errno : 0;
}

void xdp_xsk_unmap(struct xdp_xsk *x)
{
    for (int i = 0; i < 4; i++) {
        if (x->map[i])
            munmap(x->map[i], x->len[i]);
        x->map[i] = NULL;
    }
}
