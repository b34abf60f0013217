/* SPDX-License-Identifier: MIT */
/*
 * L2 devices: what stacks/inet sends Ethernet frames through. As in DPDK,
 * the control path (struct dm_dev_ops: open/start/stop/info/close) is apart
 * from the packet path (rx_burst/tx_burst, called straight through the
 * struct dm_dev so the hot path is one indirect call per burst).
 *
 *  rx_burst(dev, pkts, n): fills up to n received frames (dm_buf chains,
 *      data at the Ethernet header); the caller owns them. Returns the count.
 *  tx_burst(dev, pkts, n): sends up to n frames; the device owns (and
 *      frees) the first `ret` of them, the caller keeps the rest (ring full:
 *      retry later or drop). Returns the count, never an error.
 *
 * Devices register themselves by name at load time (DM_DEV_REGISTER) and
 * are opened by name; a wrapper device (fault injection, pcap) takes the
 * device below it as `lower`.
 */
#ifndef DM_DEVICE_H
#define DM_DEVICE_H

#include <stdbool.h>
#include <stdint.h>
#include "dm/buf.h"
#include "dm/config.h"

/* Capabilities reported by info() */
#define DM_DEV_CAP_TX_IPV4_CKSUM (1u << 0)
#define DM_DEV_CAP_TX_TCP_CKSUM  (1u << 1)
#define DM_DEV_CAP_TX_UDP_CKSUM  (1u << 2)
#define DM_DEV_CAP_RX_CKSUM      (1u << 3) /* RX sets DM_BUF_RX_*_CKSUM_* */
#define DM_DEV_CAP_TX_MULTISEG   (1u << 4) /* tx_burst takes chains */
#define DM_DEV_CAP_CAN_SLEEP     (1u << 5) /* wait_fd() gives an fd to sleep on */
/* TX_TCP/UDP_CKSUM for IPv6 frames too (no extension headers; l3_len is
 * the IPv6 header's): without it the stack sums IPv6 in software */
#define DM_DEV_CAP_TX_L4_CKSUM6  (1u << 6)
/* DM_BUF_TX_TCP_SEG for TCP over IPv4 (TSO; with TX_TCP_CKSUM and
 * TX_MULTISEG), and for TCP over IPv6 (no extension headers) */
#define DM_DEV_CAP_TX_TCP_TSO    (1u << 7)
#define DM_DEV_CAP_TX_TCP_TSO6   (1u << 8)
/* A TSO frame is cut into at most this many segments (DPDK's GSO library,
 * which the tap PMD cuts with, makes no more) */
#define DM_DEV_TSO_SEGS_MAX 64u
/* What a device that cuts any TSO frame says as its tso_max: 64 KiB
 * less the headers, rounded down (the IPv4 length field holds the frame) */
#define DM_DEV_TSO_MAX_DEFAULT 65000u

struct dm_dev_info {
    char name[32];
    uint8_t mac[6];
    uint16_t mtu;         /* IP MTU (frame payload), e.g. 1500 */
    uint32_t caps;        /* DM_DEV_CAP_* */
    uint16_t max_segs;    /* longest chain tx_burst accepts */
    uint16_t tso_max;     /* with TX_TCP_TSO: the most TCP payload bytes in one frame */
    uint16_t tso_piece_max; /* with TX_TCP_TSO: the longest piece it cuts, Ethernet header
                             * included (0: the MTU + 14, as NICs do) */
    uint8_t link_up;
};

struct dm_dev;
struct dm_instance;
typedef uint16_t (*dm_dev_burst_fn)(struct dm_dev *dev, struct dm_buf **pkts, uint16_t n);

struct dm_dev_ops {
    const char *name;
    /* Sets dev->priv, dev->rx_burst, dev->tx_burst. Reads its DEMI_* keys
     * from cfg. A wrapper gets dev->lower already opened. */
    int (*open)(struct dm_dev *dev, const struct dm_config *cfg);
    int (*start)(struct dm_dev *dev);                 /* optional */
    void (*stop)(struct dm_dev *dev);                 /* optional */
    void (*close)(struct dm_dev *dev);                /* frees priv */
    int (*info)(struct dm_dev *dev, struct dm_dev_info *info);
    int (*wait_fd)(struct dm_dev *dev);               /* optional: fd readable on RX, or -1 */
    /* optional, with wait_fd: the caller is about to sleep on it. Makes
     * sure a frame from now on makes it readable (a device whose peer
     * signals only on request asks for it here) and returns > 0 when
     * frames are already waiting (then do not sleep). The next rx_burst
     * may stop the signals again. */
    int (*wait_arm)(struct dm_dev *dev);
    /* Wrappers only (fault injection, capture): stacked over whatever
     * device an instance opens when the variable wrap_var is set, lowest
     * wrap_order first. 0: not a wrapper. */
    uint8_t wrap_order;
    enum dm_cfg_id wrap_var;
    /* optional: a port whose queues several processes share (one each)
     * spreads received flows by a hash; would the peer's frames of this
     * flow of transport proto (IPPROTO_TCP or IPPROTO_UDP; addresses and
     * ports in network order, ours first) reach this device's queue?
     * Absent, or a port that does not hash proto's ports: yes (no port
     * would do better). Asked by the stack when it picks an ephemeral
     * port, so that replies come back to us. */
    bool (*flow_ours)(struct dm_dev *dev, int proto, uint32_t lip, uint16_t lport, uint32_t rip, uint16_t rport);
    /* optional: the same for an IPv6 flow (16-byte addresses) */
    bool (*flow_ours6)(struct dm_dev *dev, int proto, const uint8_t *lip, uint16_t lport, const uint8_t *rip,
                       uint16_t rport);
    /* optional, a port several processes share: a received frame (at its
     * Ethernet header) that no socket of this process takes - a SYN for a
     * listener this process closed, as an old nginx worker does at a
     * reload - goes to one of the other processes, the same one for the
     * same flow_hash while they are the same set. A frame that came that
     * way (DM_BUF_RX_FORWARDED) goes on to one it has not been to yet.
     * True: taken (consumed); false: not possible (none left, no room),
     * frame untouched. */
    bool (*forward)(struct dm_dev *dev, struct dm_buf *frame, uint32_t flow_hash);
    /* optional, with forward: this process now listens on some TCP port
     * (on), or no longer on any; forward prefers processes that do. */
    void (*listening)(struct dm_dev *dev, bool on);
    /* optional, with forward: a process of the port (this one included)
     * came up moments ago and listens on nothing yet - a worker between
     * its start and its listen() - so a SYN no process takes now may be
     * taken a second later: the stack drops it (the client sends it again)
     * instead of refusing the connection. */
    bool (*peers_starting)(struct dm_dev *dev);
};

struct dm_dev {
    dm_dev_burst_fn rx_burst;       /* packet path first: hot */
    dm_dev_burst_fn tx_burst;
    void *priv;
    struct dm_instance *inst;       /* buffers come from its pools */
    struct dm_dev *lower;           /* wrappers: the device below */
    const struct dm_dev_ops *ops;
};

int dm_dev_register(const struct dm_dev_ops *ops); /* -EINVAL missing op, -EEXIST name taken */
const struct dm_dev_ops *dm_dev_find(const char *name);
/* Opens device `name` (lower may be NULL) and starts it. */
int dm_dev_open(struct dm_instance *inst, const char *name, struct dm_dev *lower,
                const struct dm_config *cfg, struct dm_dev **out);
/* Opens `name`, then stacks over it each registered wrapper whose
 * wrap_var is set, in wrap_order (fault, then pcap outermost, so that it
 * sees what the stack sent and what reached it). */
int dm_dev_open_stacked(struct dm_instance *inst, const char *name,
                        const struct dm_config *cfg, struct dm_dev **out);
/* Stops and closes dev, then its lower devices: a wrapper's close() must
 * release only its own state, never its lower device. */
void dm_dev_close(struct dm_dev *dev);

/* Which flows a port's receive hash takes over their ports as well as
 * their addresses (a bit set; the others are placed by their addresses
 * alone, which no choice of port changes), and the bit of one flow of
 * proto (IPPROTO_TCP/UDP), IPv6 or not (0 for another transport). */
enum { DM_FLOW_TCP4 = 1, DM_FLOW_UDP4 = 2, DM_FLOW_TCP6 = 4, DM_FLOW_UDP6 = 8 };
static inline unsigned dm_flow_bit(int proto, bool v6)
{
    return proto == 6 ? (v6 ? DM_FLOW_TCP6 : DM_FLOW_TCP4) : proto == 17 ? (v6 ? DM_FLOW_UDP6 : DM_FLOW_UDP4) : 0;
}

/* flow_ours of dev, or of the first device below it that has one (the
 * wrappers have none); true when none has. */
bool dm_dev_flow_ours(struct dm_dev *dev, int proto, uint32_t lip, uint16_t lport, uint32_t rip, uint16_t rport);
/* flow_ours6 the same way */
bool dm_dev_flow_ours6(struct dm_dev *dev, int proto, const uint8_t *lip, uint16_t lport, const uint8_t *rip,
                       uint16_t rport);
/* forward of dev, or of the first device below it that has one; false
 * when none has (or it could not). */
bool dm_dev_forward(struct dm_dev *dev, struct dm_buf *frame, uint32_t flow_hash);
/* listening of dev, or of the first device below it that has one. */
void dm_dev_listening(struct dm_dev *dev, bool on);
/* peers_starting of dev, or of the first device below it that has one. */
bool dm_dev_peers_starting(struct dm_dev *dev);
/* wait_arm of dev, or of the first device below it that has one; 0 when
 * none has. */
int dm_dev_wait_arm(struct dm_dev *dev);

/* For a forward op: which of a port's other processes gets a stray frame.
 * The best class first: listening and started after us (at a reload, the
 * new workers), then listening, then started after us, then any live
 * one; among equals the flow's hash picks, the same one while they are
 * the same set. Offer each live process the frame has not been to, then
 * take the pick: its queue, or -1 when none was offered. */
#define DM_FWD_PICK_MAX 64
struct dm_fwd_pick {
    int best;
    uint32_t n;
    uint16_t q[DM_FWD_PICK_MAX];
};
static inline void dm_fwd_pick_init(struct dm_fwd_pick *p)
{
    p->best = -1;
    p->n = 0;
}
static inline void dm_fwd_pick_offer(struct dm_fwd_pick *p, uint32_t q, bool listening, bool newer)
{
    int cls = 2 * listening + newer;
    if (cls > p->best) {
        p->best = cls;
        p->n = 0;
    }
    if (cls == p->best && p->n < DM_FWD_PICK_MAX)
        p->q[p->n++] = (uint16_t)q;
}
static inline int dm_fwd_pick_get(const struct dm_fwd_pick *p, uint32_t hash)
{
    return p->n ? p->q[hash % p->n] : -1;
}

/* For wrapper devices: info() and wait_fd() of the device below. */
int dm_dev_lower_info(struct dm_dev *dev, struct dm_dev_info *info);
int dm_dev_lower_wait_fd(struct dm_dev *dev);

/* Threads a device runs for itself (DPDK's interrupt thread): the preload
 * leaves their calls to the kernel, or such a thread waiting on its own
 * epoll would drive (and spin on) the datapath, fighting the application
 * for it. A device that starts threads registers a predicate once. */
typedef bool (*dm_thread_check_fn)(void);
void dm_internal_thread_check_register(dm_thread_check_fn fn);
bool dm_thread_is_internal(void);
/* Such a thread may change what the packet path reads (memif unmaps its
 * rings on DPDK's interrupt thread): the device registers a gate, which
 * the preload calls with busy=true when the thread wakes up from its wait
 * (before its callbacks run) and busy=false when it goes back to sleep. */
typedef void (*dm_thread_gate_fn)(bool busy);
void dm_internal_thread_gate_register(dm_thread_gate_fn fn);
void dm_internal_thread_gate(bool busy);

/* A device that cannot register says so (it would just be missing). */
void dm_dev_register_failed(const struct dm_dev_ops *ops, int err);
#define DM_DEV_REGISTER(ops)                                    \
    DM_CONSTRUCTOR_REGISTER(dm_dev_register_##ops)              \
    {                                                           \
        int dm_reg_err_ = dm_dev_register(&(ops));              \
        if (dm_reg_err_ < 0)                                    \
            dm_dev_register_failed(&(ops), dm_reg_err_);        \
    }

#endif /* DM_DEVICE_H */
