/* SPDX-License-Identifier: MIT */
/*
 * "xdp": an L2 device on one queue of a Linux interface through an AF_XDP
 * socket (libxdp's xsk API), sharing the interface with the kernel: our
 * XDP program (xdp_filter.bpf.c, attached by xdp_prog.c) redirects to the
 * socket only IPv4 TCP/UDP/ICMP for our DEMI_IPV4 address and ARP whose
 * target is that address, and passes everything else to the kernel.
 * README.md: queues, flow placement, privileges, what a crash leaves.
 *
 * Configuration: DEMI_XDP_IFACE (required), DEMI_XDP_QUEUE (default 0),
 * DEMI_XDP_FILTER=ip|all (default ip: our program, needs DEMI_IPV4; all:
 * libxdp's default program, every frame of the queue, as does a build
 * without clang), DEMI_XDP_FRAMES (UMEM frames of 4 KiB, default 4096),
 * DEMI_XDP_COPY=1 (skip the zero-copy attempt), DEMI_MAC (default: the
 * interface's MAC).
 *
 * How it works
 *  - Open: attach our program (its XSKMAP sized for every queue the
 *    interface can have), create the socket without libxdp's program
 *    (XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD), put it in the XSKMAP at its
 *    queue. Close: delete the socket, then detach the program.
 *  - One UMEM (our own mmap) of DEMI_XDP_FRAMES frames. Frames that belong
 *    to us sit on one free stack (an array of frame addresses); the rest
 *    are with the kernel (fill ring, RX ring, TX ring, completion ring) or
 *    with the stack/application as received dm_bufs.
 *  - RX: each descriptor's frame is wrapped as a dm_buf (dm_buf_wrap_ext, a
 *    header from the instance's header pool: no copy, no malloc). When the
 *    last reference goes, xdp_frame_free() pushes the frame back on the free
 *    stack; rx_burst refills the fill ring from it in one batch. Out of
 *    headers: the rest of the batch stays on the RX ring (backpressure).
 *  - TX: copies each chain into a free frame (a copy, for now: zero-copy TX
 *    would need the stack's buffers to live in the UMEM) and frees the
 *    chain; completions are reaped in a batch before each TX burst. Out of
 *    frames or TX ring full: tx_burst accepts fewer. The kernel is kicked
 *    with sendto() only when the TX ring says it needs a wakeup
 *    (XDP_USE_NEED_WAKEUP), and the fill ring with recvfrom() only when
 *    nothing was received and it asks for one.
 *  - Bind: XDP_ZEROCOPY first, then XDP_COPY (veth and most virtual
 *    devices only do copy mode).
 *  - Slow readers: past half of the UMEM held as received dm_bufs, new ones
 *    carry DM_BUF_RX_SCARCE (xdp.rx_scarce) and TCP copies what it queues,
 *    so connections nobody reads cannot hold every frame.
 *  - wait_fd() is the XSK fd: readable when RX has descriptors.
 *  - Close with received buffers still held by the application: the UMEM
 *    stays mapped until the last one is freed, so a late free is safe.
 *  - No checksum offload: AF_XDP carries no checksum metadata. On veth,
 *    Linux leaves TCP/UDP checksums "to the NIC" (CHECKSUM_PARTIAL), so
 *    frames from the peer arrive with only the pseudo-header sum unless
 *    the peer turns TX offload off (ethtool -K <peer> tx off); real NICs
 *    put complete checksums on the wire. Frames are limited to one UMEM
 *    frame (4 KiB minus XDP headroom): no multi-buffer/jumbo RX.
 */
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>
#include "dm/compiler.h"
#include "dm/device.h"
#include "dm/log.h"
#include "dm/stats.h"
#include "xdp_prog.h"

#define XDP_FRAME_SIZE   XSK_UMEM__DEFAULT_FRAME_SIZE
#define XDP_RING_SIZE    2048u
#define XDP_BATCH        64u
#define XDP_MAX_SEGS     64u

enum {
    XDP_C_RX, XDP_C_TX, XDP_C_TX_FULL, XDP_C_TX_BAD, XDP_C_RX_NO_HDR, XDP_C_FILL_EMPTY,
    XDP_C_TX_KICKS, XDP_C_FILL_KICKS, XDP_C_RX_SCARCE, XDP_NCTR
};
static const char *const xdp_ctr_names[XDP_NCTR] = {
    "rx", "tx", "tx_full", "tx_bad", "rx_no_hdr", "fill_empty", "tx_kicks", "fill_kicks", "rx_scarce",
};

struct xdp_dev {
    struct xsk_ring_cons rx;
    struct xsk_ring_prod tx;
    struct xsk_ring_prod fill;
    struct xsk_ring_cons comp;
    uint8_t *area;                 /* the UMEM */
    uint32_t nfree;                /* frames on the free stack */
    uint32_t outstanding;          /* RX frames held as dm_bufs */
    bool closed;                   /* device closed, waiting for outstanding */
    int fd;
    struct dm_dev *dev;
    struct xsk_umem *umem;
    struct xsk_socket *xsk;
    struct xdp_prog *prog;         /* our XDP program; NULL: libxdp's default */
    size_t area_len;
    uint32_t nframes;
    uint64_t ctr[XDP_NCTR];
    struct dm_dev_info info;
    uint64_t *free_frames;         /* the free stack */
};

static void xdp_release(struct xdp_dev *xd)
{
    if (xd->area)
        munmap(xd->area, xd->area_len);
    free(xd->free_frames);
    free(xd);
}

/* free_fn of received buffers: the frame goes back on the free stack. */
static void xdp_frame_free(struct dm_buf *b, void *arg)
{
    struct xdp_dev *xd = arg;
    xd->free_frames[xd->nfree++] = (uint64_t)(uintptr_t)b->dev_priv;
    xd->outstanding--;
    if (dm_unlikely(xd->closed && xd->outstanding == 0))
        xdp_release(xd);
}

/* Moves free frames to the fill ring, in one batch, keeping a quarter of
 * the UMEM for TX so a burst of RX cannot starve transmission. */
static void xdp_refill(struct xdp_dev *xd)
{
    uint32_t reserve = xd->nframes / 4, idx;
    if (xd->nfree <= reserve)
        return;
    uint32_t want = DM_MIN(xsk_prod_nb_free(&xd->fill, XDP_BATCH), xd->nfree - reserve);
    if (!want)
        return;
    if (xsk_ring_prod__reserve(&xd->fill, want, &idx) != want)
        return;
    for (uint32_t i = 0; i < want; i++)
        *xsk_ring_prod__fill_addr(&xd->fill, idx + i) = xd->free_frames[--xd->nfree];
    xsk_ring_prod__submit(&xd->fill, want);
}

static void xdp_reap_completions(struct xdp_dev *xd)
{
    uint32_t idx, n = xsk_ring_cons__peek(&xd->comp, XDP_RING_SIZE, &idx);
    for (uint32_t i = 0; i < n; i++)
        xd->free_frames[xd->nfree++] = *xsk_ring_cons__comp_addr(&xd->comp, idx + i);
    if (n)
        xsk_ring_cons__release(&xd->comp, n);
}

static uint16_t xdp_rx(struct dm_dev *dev, struct dm_buf **pkts, uint16_t n)
{
    struct xdp_dev *xd = dev->priv;
    uint32_t idx, got, k = 0;

    xdp_refill(xd);
    got = xsk_ring_cons__peek(&xd->rx, n, &idx);
    if (!got) {
        if (xsk_ring_prod__needs_wakeup(&xd->fill)) {
            xd->ctr[XDP_C_FILL_KICKS]++;
            recvfrom(xd->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
        }
        if (xd->nfree <= xd->nframes / 4 && xsk_prod_nb_free(&xd->fill, XDP_RING_SIZE) == XDP_RING_SIZE)
            xd->ctr[XDP_C_FILL_EMPTY]++; /* the application holds every RX frame */
        return 0;
    }
    /* Half the UMEM held by the stack and the application (RX may use
     * three quarters of it, the rest is TX's): ask whoever keeps these for
     * long to copy them (DM_BUF_RX_SCARCE). */
    uint32_t scarce = xd->outstanding + got > xd->nframes / 2 ? DM_BUF_RX_SCARCE : 0;
    for (; k < got; k++) {
        const struct xdp_desc *d = xsk_ring_cons__rx_desc(&xd->rx, idx + k);
        uint64_t addr = xsk_umem__add_offset_to_addr(d->addr);
        struct dm_buf *b = dm_buf_wrap_ext(dev->inst, xd->area + addr, d->len, xdp_frame_free, xd);
        if (dm_unlikely(!b)) {
            xd->ctr[XDP_C_RX_NO_HDR]++;
            break;
        }
        b->dev_priv = (void *)(uintptr_t)(addr & ~(uint64_t)(XDP_FRAME_SIZE - 1));
        b->ol_flags |= scarce;
        pkts[k] = b;
    }
    if (k < got)
        xsk_ring_cons__cancel(&xd->rx, got - k);
    xsk_ring_cons__release(&xd->rx, k);
    xd->outstanding += k;
    xd->ctr[XDP_C_RX] += k;
    if (scarce)
        xd->ctr[XDP_C_RX_SCARCE] += k;
    return (uint16_t)k;
}

static uint16_t xdp_tx(struct dm_dev *dev, struct dm_buf **pkts, uint16_t n)
{
    struct xdp_dev *xd = dev->priv;
    uint32_t idx, sent = 0;
    uint16_t i;

    xdp_reap_completions(xd);
    for (i = 0; i < n; i++) {
        struct dm_buf *p = pkts[i];
        if (dm_unlikely(p->pkt_len > XDP_FRAME_SIZE || p->pkt_len < 14)) {
            xd->ctr[XDP_C_TX_BAD]++;
            dm_buf_free(p); /* taken and dropped, as a NIC would */
            continue;
        }
        if (dm_unlikely(!xd->nfree || xsk_ring_prod__reserve(&xd->tx, 1, &idx) != 1))
            break;
        uint64_t addr = xd->free_frames[--xd->nfree];
        dm_buf_copy_out(p, 0, xd->area + addr, p->pkt_len);
        struct xdp_desc *d = xsk_ring_prod__tx_desc(&xd->tx, idx);
        d->addr = addr;
        d->len = p->pkt_len;
        d->options = 0;
        dm_buf_free(p);
        sent++;
    }
    if (sent)
        xsk_ring_prod__submit(&xd->tx, sent);
    /* kick when asked to, and also when we are stuck so completions flow */
    if ((sent || i < n) && xsk_ring_prod__needs_wakeup(&xd->tx)) {
        xd->ctr[XDP_C_TX_KICKS]++;
        sendto(xd->fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
    }
    xd->ctr[XDP_C_TX] += sent;
    xd->ctr[XDP_C_TX_FULL] += (uint64_t)(n - i);
    return i;
}

static int iface_query(const char *ifname, struct dm_dev_info *info, bool want_mac)
{
    struct ifreq ifr;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;
    if (s < 0)
        return -errno;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    if (want_mac) {
        if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0) {
            err = -errno;
            goto out;
        }
        memcpy(info->mac, ifr.ifr_hwaddr.sa_data, 6);
    }
    if (ioctl(s, SIOCGIFMTU, &ifr) == 0)
        info->mtu = (uint16_t)DM_MIN(ifr.ifr_mtu, XDP_FRAME_SIZE - XDP_PACKET_HEADROOM - 18);
    if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0)
        info->link_up = (ifr.ifr_flags & IFF_UP) && (ifr.ifr_flags & IFF_RUNNING);
out:
    close(s);
    return err;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    int used = 0;
    if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%n", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &used) != 6 ||
        s[used] != '\0')
        return -EINVAL;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)v[i];
    return 0;
}

/* How many RX queues the interface can have (ethtool's maximum, so that
 * channels added later still have an XSKMAP slot), at least queue + 1.
 * *now gets the current count when known, else 0. */
static uint32_t iface_queues(const char *ifname, uint32_t queue, uint32_t *now)
{
    struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
    struct ifreq ifr;
    uint32_t n = 0;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    *now = 0;
    if (s >= 0) {
        memset(&ifr, 0, sizeof(ifr));
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
        ifr.ifr_data = (void *)&ch;
        if (ioctl(s, SIOCETHTOOL, &ifr) == 0) {
            n = DM_MAX(ch.max_rx, ch.max_combined);
            *now = DM_MAX(ch.rx_count, ch.combined_count);
        }
        close(s);
    }
    if (!n) { /* no ethtool channels (e.g. some virtual devices): sysfs */
        char path[64];
        snprintf(path, sizeof(path), "/sys/class/net/%s/queues", ifname);
        DIR *d = opendir(path);
        for (struct dirent *e; d && (e = readdir(d));)
            n += strncmp(e->d_name, "rx-", 3) == 0;
        if (d)
            closedir(d);
        *now = n;
    }
    return DM_MAX(n, queue + 1);
}

/* Our address for the XDP program: DEMI_IPV4 (a.b.c.d[/len]), as the
 * stack on top reads it; the device sees the same configuration. */
static int our_ipv4(const struct dm_config *cfg, uint32_t *addr)
{
    const char *v = dm_cfg_str(cfg, DM_CFG_IPV4);
    char ip[INET_ADDRSTRLEN];
    struct in_addr a;
    if (!v || !*v)
        return -ENOENT;
    size_t len = strcspn(v, "/");
    if (len >= sizeof(ip))
        return -EINVAL;
    memcpy(ip, v, len);
    ip[len] = '\0';
    if (inet_pton(AF_INET, ip, &a) != 1 || a.s_addr == 0)
        return -EINVAL;
    *addr = a.s_addr;
    return 0;
}

/* DEMI_XDP_FILTER=ip (default): our XDP program, with our address. "all"
 * (or ip in a build without clang): libxdp's default program, which takes
 * every frame of the queue. Returns 1 for ip, 0 for all, -EINVAL. */
static int filter_mode(const struct dm_config *cfg, uint32_t *addr)
{
    enum { FILTER_IP, FILTER_ALL }; /* DEMI_XDP_FILTER's choices, in table order */
    int f, err;
    if ((err = dm_cfg_enum(cfg, DM_CFG_XDP_FILTER, &f)) < 0)
        return err;
    if (f == FILTER_ALL)
        return 0;
    if ((err = our_ipv4(cfg, addr)) < 0) {
        DM_ERR("xdp", "DEMI_XDP_FILTER=ip needs our address in DEMI_IPV4 (%s); DEMI_XDP_FILTER=all takes "
               "every frame instead", err == -ENOENT ? "unset" : "not an IPv4 address");
        return -EINVAL;
    }
    return 1;
}

/* libbpf/libxdp chatter ("no bpffs, falling back...") goes to our log at
 * debug level instead of stderr. */
static int xdp_lib_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    char msg[256];
    if (dm_log_level < DM_LOG_DEBUG && level != LIBBPF_WARN)
        return 0;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    DM_DEBUG("xdp", "lib: %s", msg);
    return 0;
}

static int xdp_libxdp_print(enum libxdp_print_level level, const char *fmt, va_list ap)
{
    return xdp_lib_print(level == LIBXDP_WARN ? LIBBPF_WARN : LIBBPF_DEBUG, fmt, ap);
}

static int xdp_open(struct dm_dev *dev, const struct dm_config *cfg)
{
    const char *ifname = dm_cfg_str(cfg, DM_CFG_XDP_IFACE);
    const char *mac = dm_cfg_str(cfg, DM_CFG_MAC);
    int64_t queue, frames;
    int err, force_copy, filter;
    uint32_t addr = 0, nq_now;

    if (!ifname || !*ifname) {
        DM_ERR("xdp", "DEMI_XDP_IFACE is not set: which interface?");
        return -EINVAL;
    }
    if (!if_nametoindex(ifname)) {
        DM_ERR("xdp", "DEMI_XDP_IFACE=%s: no such interface", ifname);
        return -ENODEV;
    }
    /* DEMI_XDP_FRAMES' minimum in the table is 2 * XDP_RING_SIZE */
    _Static_assert(2 * XDP_RING_SIZE == 4096, "DEMI_XDP_FRAMES: the table's minimum is two rings");
    if ((err = dm_cfg_int(cfg, DM_CFG_XDP_QUEUE, &queue)) < 0 ||
        (err = dm_cfg_int(cfg, DM_CFG_XDP_FRAMES, &frames)) < 0 ||
        (err = dm_cfg_bool(cfg, DM_CFG_XDP_COPY, &force_copy)) < 0)
        return err;
    if ((filter = filter_mode(cfg, &addr)) < 0)
        return filter;
    uint32_t nqueues = iface_queues(ifname, (uint32_t)queue, &nq_now);
    if (nq_now && queue >= nq_now) {
        DM_ERR("xdp", "DEMI_XDP_QUEUE=%lld: %s has %u queue(s)", (long long)queue, ifname, nq_now);
        return -EINVAL;
    }
    if (filter && !xdp_prog_available()) {
        DM_ERR("xdp", "built without clang: no XDP filter, libxdp's default program takes every frame of %s "
               "queue %lld and the kernel's traffic on that queue is lost", ifname, (long long)queue);
        filter = 0;
    } else if (!filter) {
        DM_WARN("xdp", "DEMI_XDP_FILTER=all: every frame of %s queue %lld is ours, the kernel sees none of them",
                ifname, (long long)queue);
    }

    libbpf_set_print(xdp_lib_print);
    libxdp_set_print(xdp_libxdp_print);
    struct xdp_dev *xd = calloc(1, sizeof(*xd));
    if (!xd)
        return -ENOMEM;
    xd->dev = dev;
    xd->nframes = (uint32_t)frames;
    xd->area_len = (size_t)frames * XDP_FRAME_SIZE;
    xd->free_frames = malloc((size_t)frames * sizeof(uint64_t));
    void *area = mmap(NULL, xd->area_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (!xd->free_frames || area == MAP_FAILED) {
        free(xd->free_frames);
        free(xd);
        return -ENOMEM;
    }
    xd->area = area;
    for (uint32_t i = 0; i < xd->nframes; i++)
        xd->free_frames[i] = (uint64_t)(xd->nframes - 1 - i) * XDP_FRAME_SIZE;
    xd->nfree = xd->nframes;

    struct xsk_umem_config ucfg = {
        .fill_size = XDP_RING_SIZE,
        .comp_size = XDP_RING_SIZE,
        .frame_size = XDP_FRAME_SIZE,
        .frame_headroom = 0,
        .flags = 0,
    };
    err = xsk_umem__create(&xd->umem, xd->area, xd->area_len, &xd->fill, &xd->comp, &ucfg);
    if (err) {
        DM_ERR("xdp", "DEMI_XDP_IFACE=%s: xsk_umem__create: %s", ifname, strerror(-err));
        goto fail;
    }
    if (filter && (err = xdp_prog_attach(&xd->prog, (int)if_nametoindex(ifname), nqueues, &addr, 1)) < 0) {
        DM_ERR("xdp", "DEMI_XDP_IFACE=%s: attaching our XDP program: %s%s", ifname, strerror(-err),
               err == -EEXIST || err == -EBUSY ? " (another XDP program holds it and bpffs is not mounted: "
                                                 "mount -t bpf bpf /sys/fs/bpf lets libxdp share it)" : "");
        goto fail;
    }
    struct xsk_socket_config scfg = {
        .rx_size = XDP_RING_SIZE,
        .tx_size = XDP_RING_SIZE,
        /* with our program, the socket goes in its XSKMAP below; without,
         * libxdp loads its default program, which redirects everything */
        .libxdp_flags = xd->prog ? XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD : 0,
        .xdp_flags = 0,
        .bind_flags = XDP_USE_NEED_WAKEUP | XDP_ZEROCOPY,
    };
    const char *mode = "zero-copy";
    err = force_copy ? -EOPNOTSUPP
                     : xsk_socket__create(&xd->xsk, ifname, (uint32_t)queue, xd->umem, &xd->rx, &xd->tx, &scfg);
    if (err) {
        scfg.bind_flags = XDP_USE_NEED_WAKEUP | XDP_COPY;
        mode = "copy";
        err = xsk_socket__create(&xd->xsk, ifname, (uint32_t)queue, xd->umem, &xd->rx, &xd->tx, &scfg);
        /* The kernel releases a just-closed XSK of this queue asynchronously
         * (deferred socket destruction): EBUSY then means "not yet", so a
         * process that reopens the queue at once waits for it, up to 2 s. */
        for (int tries = 0; err == -EBUSY && tries < 40; tries++) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
            err = xsk_socket__create(&xd->xsk, ifname, (uint32_t)queue, xd->umem, &xd->rx, &xd->tx, &scfg);
        }
    }
    if (err) {
        DM_ERR("xdp", "DEMI_XDP_IFACE=%s queue %lld: xsk_socket__create: %s", ifname, (long long)queue,
               strerror(-err));
        goto fail;
    }
    xd->fd = xsk_socket__fd(xd->xsk);
    if (xd->prog && (err = xdp_prog_add_xsk(xd->prog, xd->xsk)) < 0) {
        DM_ERR("xdp", "DEMI_XDP_IFACE=%s queue %lld: putting the socket in the XSKMAP: %s", ifname,
               (long long)queue, strerror(-err));
        goto fail;
    }

    if ((err = iface_query(ifname, &xd->info, !mac)) < 0) {
        DM_ERR("xdp", "DEMI_XDP_IFACE=%s: cannot read its MAC: %s", ifname, strerror(-err));
        goto fail;
    }
    if (mac && parse_mac(mac, xd->info.mac) < 0) {
        DM_ERR("xdp", "DEMI_MAC=%s: expected xx:xx:xx:xx:xx:xx", mac);
        err = -EINVAL;
        goto fail;
    }
    snprintf(xd->info.name, sizeof(xd->info.name), "xdp:%.16s:%lld", ifname, (long long)queue);
    xd->info.caps = DM_DEV_CAP_TX_MULTISEG | DM_DEV_CAP_CAN_SLEEP;
    xd->info.max_segs = XDP_MAX_SEGS;
    xdp_refill(xd);

    dev->priv = xd;
    dev->rx_burst = xdp_rx;
    dev->tx_burst = xdp_tx;
    (void)dm_stats_register(dev->inst, "xdp", xdp_ctr_names, xd->ctr, XDP_NCTR);
    if (xd->prog) {
        char ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &addr, ip, sizeof(ip));
        DM_INFO("xdp", "%s queue %lld (of %u): %s mode, %u frames; XDP program %s redirects %s, passes the rest",
                ifname, (long long)queue, nqueues, mode, xd->nframes, xdp_prog_mode(xd->prog), ip);
    } else {
        DM_INFO("xdp", "%s queue %lld: %s mode, %u frames; libxdp's default program", ifname, (long long)queue,
                mode, xd->nframes);
    }
    return 0;
fail:
    if (xd->xsk)
        xsk_socket__delete(xd->xsk);
    if (xd->umem)
        xsk_umem__delete(xd->umem);
    xdp_prog_detach(xd->prog);
    xdp_release(xd);
    return err < 0 ? err : -EIO;
}

static void xdp_close(struct dm_dev *dev)
{
    struct xdp_dev *xd = dev->priv;
    if (!xd)
        return;
    dm_stats_unregister(dev->inst, xd->ctr);
    xsk_socket__delete(xd->xsk);
    xsk_umem__delete(xd->umem);
    xdp_prog_detach(xd->prog); /* after the socket: no frame redirected to a closed one */
    xd->prog = NULL;
    dev->priv = NULL;
    if (xd->outstanding) {
        DM_INFO("xdp", "closed with %u received buffers still held: UMEM freed with the last", xd->outstanding);
        xd->closed = true;
        return;
    }
    xdp_release(xd);
}

static int xdp_info(struct dm_dev *dev, struct dm_dev_info *info)
{
    struct xdp_dev *xd = dev->priv;
    *info = xd->info;
    return 0;
}

static int xdp_wait_fd(struct dm_dev *dev)
{
    struct xdp_dev *xd = dev->priv;
    return xd->fd;
}

static const struct dm_dev_ops xdp_ops = {
    .name = "xdp",
    .open = xdp_open,
    .close = xdp_close,
    .info = xdp_info,
    .wait_fd = xdp_wait_fd,
};
DM_DEV_REGISTER(xdp_ops)
