/* SPDX-License-Identifier: MIT */
/*
 * Internal to devices/xdp: frames the processes of one interface hand
 * each other (dm_dev_ops.forward), through the program's xdp_fwd map
 * mapped into each of them. See xdp_fwd.c.
 */
#ifndef DM_XDP_FWD_H
#define DM_XDP_FWD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dm/wake.h"

#define XDP_FWD_PAGE   4096u
#define XDP_FWD_SLOTS  128u                 /* frames waiting per queue: two RX bursts */
#define XDP_FWD_MAX_Q  16u                  /* queues that take part */
#define XDP_FWD_DATA   (XDP_FWD_PAGE - 16u) /* longest frame a slot holds */

/* Pages of xdp_fwd for an interface of `nqueues` queue slots: a header
 * and XDP_FWD_SLOTS slots per queue, for the first XDP_FWD_MAX_Q. */
static inline uint32_t xdp_fwd_pages(uint32_t nqueues)
{
    return (nqueues < XDP_FWD_MAX_Q ? nqueues : XDP_FWD_MAX_Q) * (1 + XDP_FWD_SLOTS);
}

struct xdp_fwd_q;

/* One process's side: its own queue's header, everyone's rings. */
struct xdp_fwd {
    struct xdp_fwd_q *me;          /* NULL: not taking part */
    uint8_t *base;                 /* the map, mapped */
    size_t len;
    uint32_t nq, q;                /* queues taking part, ours */
    uint64_t pidns;                /* our pid namespace (liveness checks) */
    struct dm_wake wake;           /* datagrams from the others: "look at your ring" (dm/wake.h) */
    int ep_fd;                     /* our wait fd: the XSK's and the wake socket's readiness */
    int64_t slow_until[XDP_FWD_MAX_Q]; /* a queue whose ring stayed full: not waited for until then */
};

/* Maps `map_fd`, the rings of an interface with `nqueues` queue slots.
 * 0, or -errno (-ENOTSUP: alone on the interface): not taking part. */
int xdp_fwd_map(struct xdp_fwd *f, int map_fd, uint32_t nqueues);
/* A process waits for a queue to come free (DEMI_XDP_CLAIM_WAIT_MS): the
 * others count it as starting (xdp_fwd_peers_starting) for a second
 * after each call. Mapped, not taking part yet. */
void xdp_fwd_waiting(struct xdp_fwd *f);
/* Takes part on queue q (mapped): resets q's ring (under the interface
 * lock: the only other user of q's header then is a process handing us a
 * frame), records us as its owner, and makes the wait fd (xsk_fd or a
 * wake). 0, or -errno: not taking part (f->me NULL), the device works on
 * without it. */
int xdp_fwd_open(struct xdp_fwd *f, uint32_t q, int xsk_fd);
/* Leaves: no more frames for us; unmaps, closes. */
void xdp_fwd_close(struct xdp_fwd *f);

/* Does our ring have a frame, or a wake to take? (the RX path's look:
 * two loads of a line the others write only when they hand us one) */
bool xdp_fwd_pending(const struct xdp_fwd *f);
/* Takes a wake datagram that has come (so the wait fd goes quiet). */
void xdp_fwd_wake_take(struct xdp_fwd *f);
/* The oldest frame on our ring: its bytes, length and route (queues it
 * has been to); NULL when none. xdp_fwd_pop() when copied out. */
const uint8_t *xdp_fwd_peek(struct xdp_fwd *f, uint32_t *len, uint64_t *route);
void xdp_fwd_pop(struct xdp_fwd *f);

/* Hands `len` bytes (read by copy(arg, dst, len)) to another live
 * process that has not had it (route: the queues it has been to), the
 * same one for the same hash while they are the same set, preferring
 * listeners and those started after us. 1 handed on, 0 dropped (its ring
 * is full: the sender retransmits, as after a full NIC queue), -ENOENT
 * none left, -E2BIG too long. */
int xdp_fwd_send(struct xdp_fwd *f, uint32_t len, void (*copy)(void *arg, uint8_t *dst, uint32_t len), void *arg,
                 uint64_t route, uint32_t hash);

/* Are we listening on some TCP port (the others prefer us for SYNs)? */
void xdp_fwd_listening(struct xdp_fwd *f, bool on);
/* Did a process of the interface (us included) take its queue less than
 * XDP_FWD_START_GRACE ago, and listen on nothing yet; or does one wait
 * for a queue? */
bool xdp_fwd_peers_starting(const struct xdp_fwd *f);

#endif /* DM_XDP_FWD_H */
