/* SPDX-License-Identifier: MIT */
/*
 * Waking a process that may sleep, from another process.
 *
 * The owner has a wake socket (an autobound abstract unix datagram
 * socket, in its wait set) whose name it publishes in memory the others
 * map, beside a flag. A process that puts something there for the owner
 * (a frame in its ring) sets the flag and sends a datagram only when the
 * flag was clear, so a burst costs one. The owner, before it looks at
 * what the wake is for, takes the datagram and clears the flag, or clears
 * it after a second without one (its sender died between its two steps).
 * devices/xdp (xdp_fwd.c) and devices/dpdk (dpdk_mp.c) hand frames over so.
 */
#ifndef DM_WAKE_H
#define DM_WAKE_H

#include <stdbool.h>
#include <stdint.h>

#define DM_WAKE_NAME 8 /* a published name: the leading NUL, then autobind's 5 hex digits */

struct dm_wake {
    int fd;        /* -1: none (we neither sleep nor send) */
    int64_t since; /* the flag found set without a datagram: since when, 0 not */
};

/* Opens w's socket and writes its name into name (DM_WAKE_NAME bytes);
 * 0, or -errno with w->fd -1. */
int dm_wake_open(struct dm_wake *w, char *name);
void dm_wake_close(struct dm_wake *w);
/* A datagram from w's socket to the owner named name (nothing when the
 * name is empty or we have no socket); true when it went. */
bool dm_wake_send(const struct dm_wake *w, const char *name);
/* The sender's step, after it put something where the owner looks: the
 * flag set, and a datagram when it was clear. true when one went. */
bool dm_wake_owner(const struct dm_wake *w, const char *name, uint32_t *flag);
/* The owner's step, before it looks: true when it took a datagram. */
bool dm_wake_take(struct dm_wake *w, uint32_t *flag);

#endif
