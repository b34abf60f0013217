/* SPDX-License-Identifier: MIT */
/*
 * Our XDP program on an interface (xdp_filter.bpf.c, embedded in the
 * library): loaded and attached through libxdp, which puts it behind its
 * dispatcher when bpffs is mounted (other XDP programs keep running) and
 * attaches it alone otherwise. Internal to devices/xdp.
 */
#ifndef DM_XDP_PROG_H
#define DM_XDP_PROG_H

#include <stdint.h>

struct xdp_prog;
struct xsk_socket;

/* 1 when this build carries the program (clang was found), else 0. */
int xdp_prog_available(void);

/* Loads the program with an XSKMAP of `nqueues` slots and `naddrs` IPv4
 * addresses (network order) to redirect, and attaches it to `ifindex`.
 * Copies left there by processes that died are detached first.
 * -EOPNOTSUPP without the program in this build, -EINVAL for a bad
 * argument, -EEXIST when another program holds the interface and libxdp
 * cannot share it (no bpffs: legacy single-program mode), or the -errno
 * of libbpf/libxdp/the kernel (-EPERM without CAP_BPF/CAP_NET_ADMIN). */
int xdp_prog_attach(struct xdp_prog **out, int ifindex, uint32_t nqueues, const uint32_t *addrs, unsigned naddrs);

/* Puts the socket in the XSKMAP at its queue. -errno. */
int xdp_prog_add_xsk(struct xdp_prog *p, struct xsk_socket *xsk);

/* "dispatcher" or "legacy": how libxdp attached it (for the log). */
const char *xdp_prog_mode(const struct xdp_prog *p);

/* Detaches and frees; NULL is a no-op. */
void xdp_prog_detach(struct xdp_prog *p);

#endif /* DM_XDP_PROG_H */
