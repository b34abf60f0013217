/* SPDX-License-Identifier: MIT */
/*
 * What memif.c (the packet path, the device ops) and memif_ctl.c (the
 * control socket, the shared memory) share. One struct memif_dev per
 * device; everything in it is touched by the instance's own thread only.
 */
#ifndef MEMIF_PRIV_H
#define MEMIF_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dm/device.h"
#include "memif_proto.h"

#define MEMIF_REGIONS_MAX 8      /* regions a server takes from its client */
#define MEMIF_LOG2_RING_MAX 14   /* what we tell a client in HELLO */
#define MEMIF_LOG2_RING_MIN 6    /* a TSO frame's pieces (up to 45) go in at once */
#define MEMIF_SOCK_PATH_MAX 107  /* sockaddr_un's sun_path less its NUL */

enum memif_state {
    MEMIF_DOWN,      /* client: no server yet; server: listening */
    MEMIF_HANDSHAKE, /* the control messages are under way */
    MEMIF_UP,        /* rings mapped, frames move */
};

enum {
    MEMIF_ST_RX, MEMIF_ST_RX_BYTES, MEMIF_ST_TX, MEMIF_ST_TX_BYTES, MEMIF_ST_TX_FULL, MEMIF_ST_TX_DOWN, MEMIF_ST_TX_BAD, MEMIF_ST_RX_BAD_DESC,
    MEMIF_ST_RX_NOBUF, MEMIF_ST_TX_INTR, MEMIF_ST_CONNECTS, MEMIF_ST_DISCONNECTS, MEMIF_ST_CTL_BAD,
    MEMIF_NST
};

struct memif_region {
    uint8_t *base;
    uint64_t size;
    int fd;
};

struct memif_dev {
    /* packet path: read on every burst */
    struct memif_ring *rx, *tx;  /* NULL unless MEMIF_UP */
    uint16_t rx_cur;             /* client: next S2C slot to read; server: next C2S slot */
    uint16_t tx_cur;             /* client: C2S head; server: S2C tail (ours to move) */
    uint16_t tx_room;            /* slots from tx_cur we know we may fill (tx_room_now) */
    uint16_t ring_mask;
    bool server;
    uint32_t buf_size;           /* client: our buffers' size */
    size_t buf_off;              /* client: where the buffers start in region 0 */
    uint32_t max_frame;          /* MTU + Ethernet header + one VLAN tag */
    uint32_t rx_ol;              /* DM_BUF_RX_L4_CKSUM_GOOD when we trust the peer's checksums */
    uint32_t ctl_countdown;      /* bursts until the clock is read */
    int64_t ctl_next_ns;         /* when the control socket is looked at next */
    int rx_intr_fd, tx_intr_fd;  /* eventfds of the rings: the peer's wake-ups, ours */
    bool armed;                  /* MASK_INT cleared on the ring we read: a sleep is coming */
    bool peer_fences;            /* the peer is ours (MEMIF_OUR_NAME): its sleeps fence for us */
    struct memif_region reg[MEMIF_REGIONS_MAX];
    uint16_t nregions;
    uint64_t st[MEMIF_NST];

    /* control path */
    enum memif_state state;
    int listen_fd;               /* server */
    int ep_fd;                   /* the wait fd: an epoll set of the listening and control
                                  * sockets and the eventfd of the ring we read */
    int cc_fd;                   /* the control connection */
    uint32_t id;
    uint8_t log2_cfg;            /* client: what we ask for (DEMI_MEMIF_RING) */
    uint8_t log2_ring;           /* what runs */
    uint32_t ring_off[2];        /* server: offsets of the C2S and S2C rings from ADD_RING */
    uint16_t ring_region[2];
    uint8_t ring_log2[2];
    int ring_fd[2];              /* eventfds from ADD_RING (server) */
    bool have_ring[2];
    bool abstract;
    char path[MEMIF_SOCK_PATH_MAX + 1];
    char secret[MEMIF_SECRET_LEN + 1];
    char peer_name[MEMIF_NAME_LEN + 1];
    int64_t retry_at_ns;         /* client: the next connect attempt */
    uint32_t link_wait_ms;
    uint8_t *scratch;            /* a frame longer than one buffer is completed here */
    struct dm_dev_info info;
};

/* memif_ctl.c */
int memif_ctl_open(struct memif_dev *d);   /* server: listen; client: the first connect try */
void memif_ctl_close(struct memif_dev *d); /* says DISCONNECT, unmaps, closes everything */
/* Moves the handshake on, takes a new client, notices a peer that left.
 * Called every few hundred bursts, and in a loop while start() waits. */
void memif_ctl_poll(struct memif_dev *d);
/* The packet path found the peer's rings broken: disconnect it, saying why. */
void memif_ctl_fail(struct memif_dev *d, const char *why);

/* This process is registered for MEMBARRIER_CMD_GLOBAL_EXPEDITED: a
 * burst's index store needs no fence where the peer is ours (memif.c,
 * memif_tx). */
extern bool memif_asym_fence;
/* Our name in HELLO and INIT: a peer that gives it calls membarrier before
 * it sleeps (memif_wait_arm). */
#define MEMIF_OUR_NAME "demi-mb"

#endif /* MEMIF_PRIV_H */
