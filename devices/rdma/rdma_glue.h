/* SPDX-License-Identifier: MIT */
/*
 * The verbs/rdmacm calls the RDMA backend uses, as a table of function
 * pointers (the idea of DPDK's mlx5_glue): stacks/rdma calls verbs only
 * through a `struct rdma_glue`, so one backend runs over two providers:
 *
 *   real  forwards every entry to libibverbs / librdmacm (glue_real.c);
 *   emu   an in-process emulation of an RDMA fabric (emu_*.c): RC queue
 *         pairs joined through memory inside one process, SEND matched to
 *         the peer's posted RECV with a memcpy between registered regions,
 *         completions on CQs with completion channels, a connection manager
 *         with listen/connect/accept/reject/disconnect events, and RNR
 *         behaviour as hardware reports it after its retries.
 *
 * Both use the real rdma-core types (struct ibv_qp, struct rdma_cm_id, ...)
 * and the real calling conventions: rdma_* return 0 or -1 with errno set,
 * ibv_post_* return 0 or a positive errno with *bad_wr, ibv_poll_cq
 * returns a count or < 0. The emulation is NOT RDMA hardware: it checks
 * our use of verbs (keys, queue depths, credits, ordering, connection
 * states), it says nothing about wire latency.
 *
 * rdma_glue_select() picks the provider: DEMI_RDMA_PROVIDER=real|emu,
 * default real when ibv_get_device_list() finds a device, else emu with a
 * one-time warning that says this is an emulation.
 */
#ifndef DM_RDMA_GLUE_H
#define DM_RDMA_GLUE_H

#include <stdint.h>
#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

struct dm_config;

struct rdma_glue {
    const char *name;      /* "real" or "emu" */
    int emulated;          /* 1 for emu: say so in logs */
    /* verbs: devices and resources */
    struct ibv_device **(*get_device_list)(int *num);
    void (*free_device_list)(struct ibv_device **list);
    int (*query_device)(struct ibv_context *ctx, struct ibv_device_attr *attr);
    struct ibv_pd *(*alloc_pd)(struct ibv_context *ctx);
    int (*dealloc_pd)(struct ibv_pd *pd);
    struct ibv_mr *(*reg_mr)(struct ibv_pd *pd, void *addr, size_t len, int access);
    int (*dereg_mr)(struct ibv_mr *mr);
    struct ibv_comp_channel *(*create_comp_channel)(struct ibv_context *ctx);
    int (*destroy_comp_channel)(struct ibv_comp_channel *ch);
    struct ibv_cq *(*create_cq)(struct ibv_context *ctx, int cqe, void *cq_context,
                                struct ibv_comp_channel *ch, int comp_vector);
    int (*destroy_cq)(struct ibv_cq *cq);
    int (*req_notify_cq)(struct ibv_cq *cq, int solicited_only);
    int (*get_cq_event)(struct ibv_comp_channel *ch, struct ibv_cq **cq, void **cq_context);
    void (*ack_cq_events)(struct ibv_cq *cq, unsigned int nevents);
    /* verbs: data path */
    int (*poll_cq)(struct ibv_cq *cq, int n, struct ibv_wc *wc);
    int (*post_send)(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad_wr);
    int (*post_recv)(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad_wr);
    /* rdmacm */
    struct rdma_event_channel *(*create_event_channel)(void);
    void (*destroy_event_channel)(struct rdma_event_channel *ch);
    int (*create_id)(struct rdma_event_channel *ch, struct rdma_cm_id **id, void *context,
                     enum rdma_port_space ps);
    int (*destroy_id)(struct rdma_cm_id *id);
    int (*bind_addr)(struct rdma_cm_id *id, struct sockaddr *addr);
    int (*listen)(struct rdma_cm_id *id, int backlog);
    int (*resolve_addr)(struct rdma_cm_id *id, struct sockaddr *src, struct sockaddr *dst, int timeout_ms);
    int (*resolve_route)(struct rdma_cm_id *id, int timeout_ms);
    int (*create_qp)(struct rdma_cm_id *id, struct ibv_pd *pd, struct ibv_qp_init_attr *attr);
    void (*destroy_qp)(struct rdma_cm_id *id);
    int (*connect)(struct rdma_cm_id *id, struct rdma_conn_param *param);
    int (*accept)(struct rdma_cm_id *id, struct rdma_conn_param *param);
    int (*reject)(struct rdma_cm_id *id, const void *pdata, uint8_t pdata_len);
    int (*disconnect)(struct rdma_cm_id *id);
    int (*get_cm_event)(struct rdma_event_channel *ch, struct rdma_cm_event **ev);
    int (*ack_cm_event)(struct rdma_cm_event *ev);
    /* names for messages */
    const char *(*wc_status_str)(enum ibv_wc_status status);
    const char *(*event_str)(enum rdma_cm_event_type ev);
};

extern const struct rdma_glue rdma_glue_real;
extern const struct rdma_glue rdma_glue_emu;
/* libibverbs' and librdmacm's names for a status and an event (glue_real.c:
 * the libraries are opened on first use, "unknown" without them). */
const char *rdma_real_wc_status_str(enum ibv_wc_status s);
const char *rdma_real_event_str(enum rdma_cm_event_type e);

/* Chooses the provider from DEMI_RDMA_PROVIDER (see above). Returns 0, or
 * -EINVAL for a bad value, -ENODEV when "real" is asked for and no device
 * exists (the log says which). */
int rdma_glue_select(const struct dm_config *cfg, const struct rdma_glue **out);

/* Counters of the emulated fabric (process-wide), for tests and stats. */
struct rdma_emu_counters {
    uint64_t sends;          /* SEND work requests delivered into a peer's RECV */
    uint64_t bytes;          /* bytes copied between registered regions */
    uint64_t inline_sends;   /* of those, carried inline in the WQE */
    uint64_t rnr_naks;       /* a SEND found no posted RECV (receiver not ready) */
    uint64_t rnr_retry_exc;  /* ... and the retries ran out: IBV_WC_RNR_RETRY_EXC_ERR */
    uint64_t rnr_stalls;     /* ... and rnr_retry 7 (infinite) kept it queued */
    uint64_t retry_exc;      /* a SEND to a QP that is gone: IBV_WC_RETRY_EXC_ERR */
    uint64_t prot_errs;      /* bad lkey or range: IBV_WC_LOC_PROT_ERR */
    uint64_t len_errs;       /* message larger than the posted RECV: IBV_WC_LOC_LEN_ERR */
    uint64_t flushed;        /* work requests completed with IBV_WC_WR_FLUSH_ERR */
    uint64_t cq_overruns;    /* completions lost because a CQ was full */
    uint64_t cm_events;      /* connection manager events queued */
    uint64_t rejects;        /* connection requests rejected (no listener, backlog, app) */
};
const struct rdma_emu_counters *rdma_emu_counters(void);
/* Ids, QPs, MRs, CQs and channels the emulation still holds (leak checks). */
unsigned rdma_emu_live_objects(void);

#endif /* DM_RDMA_GLUE_H */
