/* SPDX-License-Identifier: MIT */
/*
 * Inside the emulated verbs provider (see rdma_glue.h). The fabric is
 * process-wide, as a real fabric and kernel are: every instance in the
 * process shares its one device, its port table and its key space, so two
 * instances (or one instance talking to itself over 127.0.0.1) connect
 * through it. It is single threaded: every instance that uses it must be
 * driven from one thread (the tests and the conformance suite are).
 */
#ifndef DM_RDMA_EMU_PRIV_H
#define DM_RDMA_EMU_PRIV_H

#include <stdint.h>
#include "dm/list.h"
#include "rdma_glue.h"

#define EMU_MAX_SGE     16
#define EMU_MAX_INLINE  256
#define EMU_MAX_WR      16384
#define EMU_MAX_CQE     (1 << 22)

struct emu_mr {
    struct ibv_mr mr;
    struct dm_list link;
};

struct emu_cq;

struct emu_compch {
    struct ibv_comp_channel ch;
    struct dm_list pending;     /* emu_cq.ev_link: CQs with an undelivered event */
    int ncqs;
};

struct emu_cq {
    struct ibv_cq cq;
    struct ibv_wc *ring;
    uint32_t size, head, count;
    int armed;                  /* next completion raises a channel event */
    int users;                  /* QPs using this CQ */
    struct dm_list ev_link;     /* in emu_compch.pending */
};

/* A send work request as the "hardware" holds it until it is executed. */
struct emu_swr {
    uint64_t wr_id;
    uint32_t len;
    uint32_t imm;               /* network order, as the verbs carry it */
    uint8_t with_imm, signaled, inl, nsge;
    struct ibv_sge sge[EMU_MAX_SGE];
    uint8_t data[EMU_MAX_INLINE];
};

struct emu_rwr {
    uint64_t wr_id;
    uint32_t nsge;
    struct ibv_sge sge[EMU_MAX_SGE];
};

struct emu_qp {
    struct ibv_qp qp;
    struct emu_swr *sq;
    uint32_t sq_size, sq_head, sq_count;
    struct emu_rwr *rq;
    uint32_t rq_size, rq_head, rq_count;
    uint32_t max_inline, max_sge;
    struct emu_qp *peer;        /* the connected QP; NULL: none (sends fail after "retries") */
    uint8_t rnr_retry;          /* 7: retry forever (the WR stalls); else report RNR_RETRY_EXC */
    uint8_t stalled;            /* head WR waits for a peer RECV */
};

struct emu_fabric {
    int init;
    struct ibv_device dev;
    struct ibv_context ctx;
    struct dm_list mrs;
    struct dm_list ids;         /* emu_id.bind_link: ids holding a port */
    struct dm_list all_ids;     /* emu_id.all_link */
    uint32_t next_key;
    uint32_t next_qpn;
    uint16_t next_port;
    unsigned live;
    struct rdma_emu_counters ctr;
};

extern struct emu_fabric emu_fab;

void emu_fabric_init(void);
void emu_signal_fd(int fd);
void emu_drain_fd(int fd);

/* verbs side, used by the CM side */
struct emu_qp *emu_qp_create(struct ibv_context *ctx, struct ibv_pd *pd, struct ibv_qp_init_attr *attr);
void emu_qp_destroy(struct emu_qp *qp);
void emu_qp_error(struct emu_qp *qp);    /* to IBV_QPS_ERR: flush everything posted */
void emu_qp_connect(struct emu_qp *a, struct emu_qp *b);
void emu_qp_unpair(struct emu_qp *qp);

/* glue entries implemented in emu_cm.c are static there; these are emu_verbs.c's */
struct ibv_device **emu_get_device_list(int *num);
void emu_free_device_list(struct ibv_device **list);
int emu_query_device(struct ibv_context *ctx, struct ibv_device_attr *attr);
struct ibv_pd *emu_alloc_pd(struct ibv_context *ctx);
int emu_dealloc_pd(struct ibv_pd *pd);
struct ibv_mr *emu_reg_mr(struct ibv_pd *pd, void *addr, size_t len, int access);
int emu_dereg_mr(struct ibv_mr *mr);
struct ibv_comp_channel *emu_create_comp_channel(struct ibv_context *ctx);
int emu_destroy_comp_channel(struct ibv_comp_channel *ch);
struct ibv_cq *emu_create_cq(struct ibv_context *ctx, int cqe, void *cq_context, struct ibv_comp_channel *ch,
                             int comp_vector);
int emu_destroy_cq(struct ibv_cq *cq);
int emu_req_notify_cq(struct ibv_cq *cq, int solicited_only);
int emu_get_cq_event(struct ibv_comp_channel *ch, struct ibv_cq **cq, void **cq_context);
void emu_ack_cq_events(struct ibv_cq *cq, unsigned int n);
int emu_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc);
int emu_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad);
int emu_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad);

#endif /* DM_RDMA_EMU_PRIV_H */
