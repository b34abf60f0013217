/* SPDX-License-Identifier: MIT */
/*
 * The memif wire protocol, version 2.0 (as libmemif, VPP and DPDK's
 * net_memif speak it): what crosses the control socket and what lies in
 * the shared memory. Our own definitions of the public layout.
 *
 *  - Control: an AF_UNIX SOCK_SEQPACKET socket; the server listens, the
 *    client connects. Every message is 128 bytes; a region's memfd and a
 *    ring's eventfd ride along as SCM_RIGHTS. Server: HELLO; client: INIT,
 *    then ADD_REGION for each region, ADD_RING for each ring, CONNECT,
 *    each answered by the server's ACK (CONNECT by CONNECTED). Either
 *    side: DISCONNECT with a reason, or just closing the socket.
 *  - Memory: the client creates every region (a memfd), lays out the
 *    rings and the packet buffers, and owns every descriptor. A ring is a
 *    header of two cache lines (cookie, flags, head; tail) and 2^n
 *    descriptors; a descriptor names a buffer by region and offset.
 *  - Client to server (C2S) rings: the client fills descriptors at head
 *    and moves head; the server reads up to head and moves tail to hand
 *    the slots back. Server to client (S2C): the client posts empty
 *    buffers by moving head; the server fills them, up to head, and moves
 *    tail; the client reads up to tail and posts them again.
 *  - A frame longer than a buffer takes several descriptors, all but the
 *    last flagged NEXT. A receiver that sets MASK_INT on its ring asks
 *    the sender not to write the ring's eventfd (it polls).
 */
#ifndef MEMIF_PROTO_H
#define MEMIF_PROTO_H

#include <stdint.h>

#define MEMIF_COOKIE    0x3E31F20u
#define MEMIF_VERSION   0x0200u /* 2.0 */
#define MEMIF_NAME_LEN  32
#define MEMIF_SECRET_LEN 24

enum memif_msg_type {
    MEMIF_MSG_NONE,
    MEMIF_MSG_ACK,
    MEMIF_MSG_HELLO,
    MEMIF_MSG_INIT,
    MEMIF_MSG_ADD_REGION,
    MEMIF_MSG_ADD_RING,
    MEMIF_MSG_CONNECT,
    MEMIF_MSG_CONNECTED,
    MEMIF_MSG_DISCONNECT,
};

#define MEMIF_MODE_ETHERNET 0
#define MEMIF_RING_FLAG_S2C 0 /* ADD_RING flags: 1 = client to server */
#define MEMIF_RING_FLAG_C2S 1
#define MEMIF_DESC_NEXT     1 /* descriptor flags: the frame goes on */
#define MEMIF_RING_MASK_INT 1 /* ring flags: the receiver polls */

struct __attribute__((packed)) memif_msg_hello {
    uint8_t name[MEMIF_NAME_LEN];
    uint16_t min_version, max_version;
    uint16_t max_region;      /* highest region index it takes */
    uint16_t max_s2c_ring;    /* highest ring index, server to client */
    uint16_t max_c2s_ring;
    uint8_t max_log2_ring_size;
};

struct __attribute__((packed)) memif_msg_init {
    uint16_t version;
    uint32_t id;
    uint8_t mode;
    uint8_t secret[MEMIF_SECRET_LEN];
    uint8_t name[MEMIF_NAME_LEN];
};

struct __attribute__((packed)) memif_msg_add_region {
    uint16_t index;
    uint64_t size;
};

struct __attribute__((packed)) memif_msg_add_ring {
    uint16_t flags;           /* MEMIF_RING_FLAG_C2S or not */
    uint16_t index;
    uint16_t region;
    uint32_t offset;          /* of the ring header in its region */
    uint8_t log2_ring_size;
    uint16_t private_hdr_size;
};

struct __attribute__((packed)) memif_msg_connect {
    uint8_t if_name[MEMIF_NAME_LEN];
};

struct __attribute__((packed)) memif_msg_disconnect {
    uint32_t code;
    uint8_t reason[96];
};

struct __attribute__((packed, aligned(128))) memif_msg {
    uint16_t type;
    union {
        struct memif_msg_hello hello;
        struct memif_msg_init init;
        struct memif_msg_add_region add_region;
        struct memif_msg_add_ring add_ring;
        struct memif_msg_connect connect;
        struct memif_msg_disconnect disconnect;
    };
};
_Static_assert(sizeof(struct memif_msg) == 128, "memif messages are 128 bytes");

struct __attribute__((packed)) memif_desc {
    uint16_t flags;
    uint16_t region;
    uint32_t length;
    uint32_t offset;
    uint32_t metadata;
};
_Static_assert(sizeof(struct memif_desc) == 16, "memif descriptors are 16 bytes");

struct memif_ring {
    uint32_t cookie;
    uint16_t flags;
    uint16_t head;            /* volatile across processes: atomics only */
    uint8_t pad0_[56];
    uint16_t tail;
    uint8_t pad1_[62];
    struct memif_desc desc[];
};
_Static_assert(sizeof(struct memif_ring) == 128, "memif ring header: two cache lines");

#endif /* MEMIF_PROTO_H */
