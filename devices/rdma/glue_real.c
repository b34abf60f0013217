/* SPDX-License-Identifier: MIT */
/*
 * The real provider: every glue entry forwards to libibverbs/librdmacm.
 * The data path entries (post_send, post_recv, poll_cq, req_notify_cq) are
 * static inlines in verbs.h that jump through the device's ops; here they
 * become one extra indirect call, as with DPDK's mlx5_glue.
 *
 * rdma_glue_select() also lives here: it is the only place that asks the
 * real library whether a device exists.
 */
#include <errno.h>
#include <string.h>
#include "dm/config.h"
#include "dm/log.h"
#include "rdma_glue.h"

static int real_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad)
{
    return ibv_post_send(qp, wr, bad);
}

static int real_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad)
{
    return ibv_post_recv(qp, wr, bad);
}

static int real_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc)
{
    return ibv_poll_cq(cq, n, wc);
}

static int real_req_notify_cq(struct ibv_cq *cq, int solicited_only)
{
    return ibv_req_notify_cq(cq, solicited_only);
}

static struct ibv_mr *real_reg_mr(struct ibv_pd *pd, void *addr, size_t len, int access)
{
    return ibv_reg_mr(pd, addr, len, access);
}

static int real_query_device(struct ibv_context *ctx, struct ibv_device_attr *attr)
{
    return ibv_query_device(ctx, attr);
}

static int real_reject(struct rdma_cm_id *id, const void *pdata, uint8_t len)
{
    return rdma_reject(id, pdata, len);
}

static const char *real_wc_status_str(enum ibv_wc_status s) { return ibv_wc_status_str(s); }
static const char *real_event_str(enum rdma_cm_event_type e) { return rdma_event_str(e); }

const struct rdma_glue rdma_glue_real = {
    .name = "real",
    .emulated = 0,
    .get_device_list = ibv_get_device_list,
    .free_device_list = ibv_free_device_list,
    .query_device = real_query_device,
    .alloc_pd = ibv_alloc_pd,
    .dealloc_pd = ibv_dealloc_pd,
    .reg_mr = real_reg_mr,
    .dereg_mr = ibv_dereg_mr,
    .create_comp_channel = ibv_create_comp_channel,
    .destroy_comp_channel = ibv_destroy_comp_channel,
    .create_cq = ibv_create_cq,
    .destroy_cq = ibv_destroy_cq,
    .req_notify_cq = real_req_notify_cq,
    .get_cq_event = ibv_get_cq_event,
    .ack_cq_events = ibv_ack_cq_events,
    .poll_cq = real_poll_cq,
    .post_send = real_post_send,
    .post_recv = real_post_recv,
    .create_event_channel = rdma_create_event_channel,
    .destroy_event_channel = rdma_destroy_event_channel,
    .create_id = rdma_create_id,
    .destroy_id = rdma_destroy_id,
    .bind_addr = rdma_bind_addr,
    .listen = rdma_listen,
    .resolve_addr = rdma_resolve_addr,
    .resolve_route = rdma_resolve_route,
    .create_qp = rdma_create_qp,
    .destroy_qp = rdma_destroy_qp,
    .connect = rdma_connect,
    .accept = rdma_accept,
    .reject = real_reject,
    .disconnect = rdma_disconnect,
    .get_cm_event = rdma_get_cm_event,
    .ack_cm_event = rdma_ack_cm_event,
    .wc_status_str = real_wc_status_str,
    .event_str = real_event_str,
};

/* How many real devices there are (0 when the kernel has no RDMA support). */
static int real_device_count(void)
{
    int n = 0;
    struct ibv_device **list = ibv_get_device_list(&n);
    if (!list)
        return 0;
    ibv_free_device_list(list);
    return n;
}

int rdma_glue_select(const struct dm_config *cfg, const struct rdma_glue **out)
{
    enum { PROV_REAL, PROV_EMU }; /* DEMI_RDMA_PROVIDER's choices, in table order */
    int prov = PROV_REAL;
    int rc = dm_cfg_enum(cfg, DM_CFG_RDMA_PROVIDER, &prov);
    if (rc < 0)
        return rc;
    bool chosen = rc == 0; /* else auto: real when a device is found */
    if (chosen && prov == PROV_EMU) {
        dm_log_once("rdma", "DEMI_RDMA_PROVIDER=emu: RDMA is EMULATED in-process (no hardware, "
                            "no wire); figures measured over it are software overhead only");
        *out = &rdma_glue_emu;
        return 0;
    }
    int n = real_device_count();
    if (n > 0) {
        *out = &rdma_glue_real;
        return 0;
    }
    if (chosen) {
        DM_ERR("rdma", "DEMI_RDMA_PROVIDER=real but ibv_get_device_list() found no RDMA device "
                       "(no rxe/siw/hardware driver loaded)");
        return -ENODEV;
    }
    dm_log_once("rdma", "no RDMA device found: using the in-process EMULATED verbs provider "
                        "(DEMI_RDMA_PROVIDER=emu); this is not RDMA hardware");
    *out = &rdma_glue_emu;
    return 0;
}
