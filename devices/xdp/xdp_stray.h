/* SPDX-License-Identifier: MIT */
/*
 * Internal to devices/xdp: the frames for our address that arrive on a
 * queue no process of ours has a socket on, through a packet socket.
 * See xdp_stray.c.
 */
#ifndef DM_XDP_STRAY_H
#define DM_XDP_STRAY_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <linux/if_packet.h>

struct xdp_our_addrs;

struct xdp_stray {
    int fd;                        /* the packet socket, -1: none */
    int nl_fd;                     /* netlink: the kernel's addresses changed */
    uint8_t *ring;                 /* TPACKET_V2 RX ring, mapped */
    size_t ring_len;
    uint32_t frame_nr, next;
    bool kernel_has;               /* the kernel has one of our addresses: its frames are its own */
    int64_t nl_seen_ns;            /* when nl_fd was last read */
    uint32_t v4;                   /* ours, network order */
    bool has6;
    uint8_t v6[16];
};

static inline struct tpacket2_hdr *xdp_stray_hdr(const struct xdp_stray *s, uint32_t i)
{
    return (struct tpacket2_hdr *)(s->ring + (size_t)i * 4096u);
}

/* Opens the packet socket on `ifindex` for frames to `addr` (IPv4 TCP,
 * UDP and ICMP; ARP for it; IPv6 to it, and neighbour solicitations for
 * it), in a fanout group of the processes with that address on that
 * interface. `pkt_fd`: a packet socket made for us (the helper's, which
 * this takes over), or -1: one is made here (CAP_NET_RAW). 0, or -errno
 * (s->fd stays -1). */
int xdp_stray_open(struct xdp_stray *s, int ifindex, const struct xdp_our_addrs *addr, int pkt_fd);
void xdp_stray_close(struct xdp_stray *s);

/* A frame is waiting: one load of a line the kernel writes only when it
 * gives us one. */
static inline bool xdp_stray_pending(const struct xdp_stray *s)
{
    return s->ring && (__atomic_load_n(&xdp_stray_hdr(s, s->next)->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER);
}

/* The oldest frame: its bytes and length (*trunc: longer than the ring's
 * frames, cut); NULL when none. xdp_stray_pop() when copied out. */
const uint8_t *xdp_stray_peek(struct xdp_stray *s, uint32_t *len, bool *trunc);
void xdp_stray_pop(struct xdp_stray *s);

/* Does the kernel have one of our addresses now? (looked up again when
 * the kernel said its addresses changed, which is read at most once a
 * millisecond; else the last answer) */
bool xdp_stray_kernel_has(struct xdp_stray *s);

#endif /* DM_XDP_STRAY_H */
