/* SPDX-License-Identifier: MIT */
/*
 * Internal to devices/xdp.
 *
 * xdp_prog.c: the interface's one copy of our XDP program
 * (xdp_filter.bpf.c, embedded in the library), shared by every process
 * that runs the datapath on that interface: the first loads and attaches
 * it, the next find it on the interface and use its maps; the last one
 * out detaches it. Its xdp_queues map says which process holds which
 * queue (for auto placement, the last-out test and diagnostics); the
 * kernel's own rule that one XSK binds a queue is what enforces it.
 *
 * xdp_xsk.c: an AF_XDP socket set up by hand, split at the privilege line.
 * xdp_helper.c: the privileged helper for workers that dropped root.
 */
#ifndef DM_XDP_PROG_H
#define DM_XDP_PROG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xdp/xsk.h>

/* Multi-buffer AF_XDP (Linux 6.6), newer than some installed headers */
#ifndef XDP_USE_SG
#define XDP_USE_SG (1 << 4)
#endif
#ifndef XDP_MAX_TX_SKB_BUDGET
#define XDP_MAX_TX_SKB_BUDGET 9 /* Linux 6.17 */
#endif
#ifndef SOL_XDP
#define SOL_XDP 283
#endif
#ifndef XDP_PKT_CONTD
#define XDP_PKT_CONTD (1 << 0)
#endif
/* TX metadata (Linux 6.8; the UMEM flag that asks for it, 6.11): a
 * struct before each TX frame in the UMEM, read for descriptors with
 * XDP_TX_METADATA; we use its checksum request only. */
#ifndef XDP_UMEM_TX_METADATA_LEN
#define XDP_UMEM_TX_SW_CSUM      (1 << 1)
#define XDP_UMEM_TX_METADATA_LEN (1 << 2)
#endif
#ifndef XDP_TX_METADATA
#define XDP_TX_METADATA (1 << 1)
#endif
#define XDP_TXMD_CSUM   (1 << 1) /* XDP_TXMD_FLAGS_CHECKSUM */
/* struct xsk_tx_metadata as of Linux 6.14 (launch_time after the checksum
 * request); earlier kernels read the first 16 bytes of the same layout */
struct xdp_tx_meta {
    uint64_t flags;
    uint16_t csum_start;  /* from the frame's first byte */
    uint16_t csum_offset; /* from csum_start */
    uint32_t pad_;
    uint64_t launch_time;
};
#define XDP_TX_META_LEN 24u /* sizeof(struct xdp_tx_meta): a multiple of 8 */

/* 1 when this build carries the program (clang was found), else 0. */
int xdp_prog_available(void);

/* The maps of the shared program, as a process uses them. */
struct xdp_shared {
    int xsks_fd;                   /* XSKMAP, one slot per queue */
    int queues_fd;                 /* owner of each queue (struct xdp_qowner) */
    int neigh_fd;                  /* ARP senders seen on any queue: IPv4 -> MAC */
    int neigh6_fd;                 /* NA targets seen on any queue: IPv6 -> MAC */
    int fwd_fd;                    /* frames handed between processes (xdp_fwd.c), mmapable */
    uint32_t nqueues;              /* slots in xsks and queues */
    bool legacy;                   /* attached alone, not behind libxdp's dispatcher */
};

struct xdp_our_addrs; /* below */

/* Finds our program on `ifindex` or loads and attaches it (XSKMAP sized
 * `nqueues`, xdp_fwd xdp_fwd_pages(nqueues)), and adds the addresses (network order) it redirects.
 * Privileged (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN to find it); run with
 * the interface lock held. -EOPNOTSUPP without the program in this build,
 * -EEXIST when another program holds the interface alone, -ESTALE when a
 * copy of ours from another version does, or -errno. */
int xdp_shared_get(int ifindex, uint32_t nqueues, const struct xdp_our_addrs *addrs, struct xdp_shared *out);

/* Detaches our program from `ifindex` when no live process holds a queue.
 * Privileged; interface lock held. 1 detached, 0 still in use or absent. */
int xdp_shared_put(int ifindex);

void xdp_shared_close(struct xdp_shared *sh);

/* The inode of our pid namespace (0: unknown): a pid recorded by a
 * process of another one cannot be checked from here. */
uint64_t xdp_pidns_self(void);

/* Queue ownership in xdp_queues: a live owner (this pid namespace: the pid
 * runs and started when recorded; another namespace: assumed live). */
bool xdp_queue_taken(const struct xdp_shared *sh, uint32_t q);
/* Records this process as the owner of q (mine) or clears it. -errno. */
int xdp_queue_set(const struct xdp_shared *sh, uint32_t q, bool mine);
/* The pid recorded for q (0: none), for the log. */
uint32_t xdp_queue_pid(const struct xdp_shared *sh, uint32_t q);

/* The interface lock: serializes attach, claim, release and detach between
 * processes (an abstract unix socket name, so it is per network namespace
 * like the interface and goes away with a process that dies holding it).
 * Returns a fd to pass to xdp_if_unlock, or -ETIMEDOUT/-errno. */
int xdp_if_lock(int ifindex, int timeout_ms);
void xdp_if_unlock(int fd);

/* xdp_xsk.c */
struct xdp_xsk {
    struct xsk_ring_prod fill, tx;
    struct xsk_ring_cons comp, rx;
    void *map[4];
    size_t len[4];
    int fd;
};
/* An AF_XDP socket with `len` bytes of memfd as its UMEM (*flags: 0 or
 * XDP_UMEM_UNALIGNED_CHUNK_FLAG, and XDP_UMEM_TX_METADATA_LEN for
 * XDP_TX_META_LEN bytes of TX metadata, with XDP_UMEM_TX_SW_CSUM or not).
 * A kernel that takes no TX metadata gets a UMEM without it: those two
 * bits are cleared in *flags. Privileged (CAP_NET_RAW; pinning:
 * CAP_IPC_LOCK or RLIMIT_MEMLOCK). fd or -errno. */
int xdp_xsk_umem_socket(int memfd, size_t len, uint32_t frame_size, uint32_t *flags);
/* Rings of `size` entries, mapped (MADV_DONTFORK). Unprivileged. -errno. */
int xdp_xsk_rings(struct xdp_xsk *x, int fd, uint32_t size);
/* sg: multi-buffer (XDP_USE_SG: a frame in several descriptors).
 * -EBUSY: the queue has a socket. Unprivileged. */
int xdp_xsk_bind(int fd, int ifindex, uint32_t queue, bool zerocopy, bool sg);
void xdp_xsk_unmap(struct xdp_xsk *x);

/* xdp.c: what the device and the helper both read from the configuration */
struct dm_config;
/* DEMI_IPV4 as an address in network order: 0, -ENOENT unset, -EINVAL. */
int xdp_our_ipv4(const struct dm_config *cfg, uint32_t *addr);
/* The addresses our XDP program redirects: DEMI_IPV4, and DEMI_IPV6's
 * when set (not the link-local one: it comes from the interface's MAC,
 * which the kernel's own link-local address shares). */
struct xdp_our_addrs {
    uint32_t v4;                   /* network order */
    bool has6;
    uint8_t v6[16];
};
/* 0, -ENOENT (DEMI_IPV4 unset), -EINVAL (either one bad). */
int xdp_our_addrs_get(const struct dm_config *cfg, struct xdp_our_addrs *a);
/* Queues the interface can have (ethtool's maximum, else sysfs), at least
 * queue + 1; *now: how many it has (0: unknown). */
uint32_t xdp_iface_queues(const char *ifname, uint32_t queue, uint32_t *now);

/* xdp_helper.c */
/* >= 0 when this process has a helper (started at load by a privileged
 * parent before it dropped privileges), else -1. */
int xdp_helper_fd(void);
/* Asks the helper for xdp_shared_get() and xdp_xsk_umem_socket(): on
 * success *xsk_fd and sh's fds are ours, and *pkt_fd a packet socket not
 * bound yet (xdp_stray_open), or -1. -errno (the helper's). */
int xdp_helper_get(int memfd, size_t len, uint32_t *umem_flags, struct xdp_shared *sh, int *xsk_fd, int *pkt_fd);
/* Asks the helper for xdp_shared_put(). */
int xdp_helper_put(void);

#endif /* DM_XDP_PROG_H */
