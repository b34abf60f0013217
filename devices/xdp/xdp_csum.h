/* SPDX-License-Identifier: MIT */
/*
 * Internal to devices/xdp: received TCP/UDP checksums on a veth, where the
 * peer's kernel leaves them to "the NIC". See xdp_csum.c.
 */
#ifndef DM_XDP_CSUM_H
#define DM_XDP_CSUM_H

#include <stdbool.h>
#include <stdint.h>

/* DM_BUF_RX_L4_CKSUM_GOOD when frame f (Ethernet, len bytes) is an
 * unfragmented IPv4 or IPv6 TCP/UDP packet whose checksum field holds
 * exactly its pseudo-header sum: what Linux leaves in a packet it sends
 * with CHECKSUM_PARTIAL, the rest being the NIC's job. 0 otherwise (a
 * complete checksum, which the stack verifies as usual). */
uint32_t xdp_csum_rx_partial(const uint8_t *f, uint32_t len);

/* Is ifname a veth (ethtool's driver name)? Its frames come from the
 * kernel of the same host, never from a wire. */
bool xdp_csum_iface_is_veth(const char *ifname);

#endif /* DM_XDP_CSUM_H */
