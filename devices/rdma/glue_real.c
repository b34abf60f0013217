/* SPDX-License-Identifier: MIT */
/*
 * The real provider: every glue entry forwards to libibverbs/librdmacm,
 * opened at the first use.
 * The data path entries (post_send, post_recv, poll_cq, req_notify_cq) are
 * static inlines in verbs.h that jump through the device's ops; here they
 * become one extra indirect call, as with DPDK's mlx5_glue.
 *
 * rdma_glue_select() also lives here: it is the only place that asks the
 * real library whether a device exists.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include "dm/config.h"
#include "dm/log.h"
#include "rdma_glue.h"

/* libibverbs and librdmacm are opened when a provider is first chosen
 * (rdma_glue_select asks for the device list), not linked: linked, they
 * and the libnl libraries they pull in were loaded into every process of
 * the preload, whatever its backend (0.74 MB of an idle redis-server's RSS
 * under uring). Every call of theirs goes through the glue already; the
 * data path entries below never reach the libraries (verbs.h inlines). */
#define REAL_SYMS(X)                                                                                       \
    X(ibv_get_device_list) X(ibv_free_device_list) X(ibv_query_device) X(ibv_alloc_pd)                     \
    X(ibv_dealloc_pd) X(ibv_reg_mr_iova2) X(ibv_dereg_mr) X(ibv_create_comp_channel)                       \
    X(ibv_destroy_comp_channel) X(ibv_create_cq) X(ibv_destroy_cq) X(ibv_get_cq_event) X(ibv_ack_cq_events) \
    X(ibv_wc_status_str) X(rdma_create_event_channel) X(rdma_destroy_event_channel) X(rdma_create_id)      \
    X(rdma_destroy_id) X(rdma_bind_addr) X(rdma_listen) X(rdma_resolve_addr) X(rdma_resolve_route)         \
    X(rdma_create_qp) X(rdma_destroy_qp) X(rdma_connect) X(rdma_accept) X(rdma_reject) X(rdma_disconnect)  \
    X(rdma_get_cm_event) X(rdma_ack_cm_event) X(rdma_event_str)

static struct {
#define REAL_PTR(f) __typeof__(f) *f;
    REAL_SYMS(REAL_PTR)
#undef REAL_PTR
} lib;
static bool lib_ok;
static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void lib_load(void)
{
    /* RTLD_LOCAL: their symbols stay out of the application's namespace,
     * as they were when linked behind our version script */
    void *v = dlopen("libibverbs.so.1", RTLD_NOW | RTLD_LOCAL);
    void *c = v ? dlopen("librdmacm.so.1", RTLD_NOW | RTLD_LOCAL) : NULL;
    if (!v || !c) {
        DM_DEBUG("rdma", "libibverbs/librdmacm not loaded (%s): no real RDMA devices", dlerror());
        return;
    }
#define REAL_SYM(f)                                                                                        \
    if (!(lib.f = (__typeof__(f) *)dlsym(!strncmp(#f, "ibv_", 4) ? v : c, #f))) {                            \
        DM_WARN("rdma", "%s not found in libibverbs/librdmacm: no real RDMA devices", #f);                   \
        return;                                                                                            \
    }
    REAL_SYMS(REAL_SYM)
#undef REAL_SYM
    lib_ok = true;
}

static bool real_loaded(void)
{
    (void)pthread_once(&lib_once, lib_load);
    return lib_ok;
}

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

/* The first entry anyone calls (rdma_glue_select, a test asking for
 * devices): it loads the libraries; no list when they are not there. */
static struct ibv_device **real_get_device_list(int *n)
{
    if (!real_loaded()) {
        if (n)
            *n = 0;
        errno = ENOSYS;
        return NULL;
    }
    return lib.ibv_get_device_list(n);
}

/* ibv_reg_mr is a macro of verbs.h; this is what it calls for flags not
 * known at compile time */
static struct ibv_mr *real_reg_mr(struct ibv_pd *pd, void *addr, size_t len, int access)
{
    return lib.ibv_reg_mr_iova2(pd, addr, len, (uintptr_t)addr, (unsigned)access);
}

/* For the emulation's error strings too (emu_cm.c); "unknown" when the
 * libraries are not there. */
const char *rdma_real_wc_status_str(enum ibv_wc_status s)
{
    return real_loaded() ? lib.ibv_wc_status_str(s) : "unknown";
}

const char *rdma_real_event_str(enum rdma_cm_event_type e)
{
    return real_loaded() ? lib.rdma_event_str(e) : "unknown";
}

static void real_free_device_list(struct ibv_device **l) { lib.ibv_free_device_list(l); }
static int real_query_device(struct ibv_context *x, struct ibv_device_attr *a) { return lib.ibv_query_device(x, a); }
static struct ibv_pd *real_alloc_pd(struct ibv_context *x) { return lib.ibv_alloc_pd(x); }
static int real_dealloc_pd(struct ibv_pd *pd) { return lib.ibv_dealloc_pd(pd); }
static int real_dereg_mr(struct ibv_mr *mr) { return lib.ibv_dereg_mr(mr); }
static struct ibv_comp_channel *real_create_comp_channel(struct ibv_context *x) { return lib.ibv_create_comp_channel(x); }
static int real_destroy_comp_channel(struct ibv_comp_channel *ch) { return lib.ibv_destroy_comp_channel(ch); }
static struct ibv_cq *real_create_cq(struct ibv_context *x, int cqe, void *cq_context, struct ibv_comp_channel *ch,
                                     int vec)
{
    return lib.ibv_create_cq(x, cqe, cq_context, ch, vec);
}
static int real_destroy_cq(struct ibv_cq *cq) { return lib.ibv_destroy_cq(cq); }
static int real_get_cq_event(struct ibv_comp_channel *ch, struct ibv_cq **cq, void **ctx)
{
    return lib.ibv_get_cq_event(ch, cq, ctx);
}
static void real_ack_cq_events(struct ibv_cq *cq, unsigned n) { lib.ibv_ack_cq_events(cq, n); }
static struct rdma_event_channel *real_create_event_channel(void) { return lib.rdma_create_event_channel(); }
static void real_destroy_event_channel(struct rdma_event_channel *ch) { lib.rdma_destroy_event_channel(ch); }
static int real_create_id(struct rdma_event_channel *ch, struct rdma_cm_id **id, void *ctx, enum rdma_port_space ps)
{
    return lib.rdma_create_id(ch, id, ctx, ps);
}
static int real_destroy_id(struct rdma_cm_id *id) { return lib.rdma_destroy_id(id); }
static int real_bind_addr(struct rdma_cm_id *id, struct sockaddr *a) { return lib.rdma_bind_addr(id, a); }
static int real_listen(struct rdma_cm_id *id, int backlog) { return lib.rdma_listen(id, backlog); }
static int real_resolve_addr(struct rdma_cm_id *id, struct sockaddr *src, struct sockaddr *dst, int ms)
{
    return lib.rdma_resolve_addr(id, src, dst, ms);
}
static int real_resolve_route(struct rdma_cm_id *id, int ms) { return lib.rdma_resolve_route(id, ms); }
static int real_create_qp(struct rdma_cm_id *id, struct ibv_pd *pd, struct ibv_qp_init_attr *a)
{
    return lib.rdma_create_qp(id, pd, a);
}
static void real_destroy_qp(struct rdma_cm_id *id) { lib.rdma_destroy_qp(id); }
static int real_connect(struct rdma_cm_id *id, struct rdma_conn_param *p) { return lib.rdma_connect(id, p); }
static int real_accept(struct rdma_cm_id *id, struct rdma_conn_param *p) { return lib.rdma_accept(id, p); }
static int real_reject(struct rdma_cm_id *id, const void *pdata, uint8_t len) { return lib.rdma_reject(id, pdata, len); }
static int real_disconnect(struct rdma_cm_id *id) { return lib.rdma_disconnect(id); }
static int real_get_cm_event(struct rdma_event_channel *ch, struct rdma_cm_event **ev)
{
    return lib.rdma_get_cm_event(ch, ev);
}
static int real_ack_cm_event(struct rdma_cm_event *ev) { return lib.rdma_ack_cm_event(ev); }

const struct rdma_glue rdma_glue_real = {
    .name = "real",
    .emulated = 0,
    .get_device_list = real_get_device_list,
    .free_device_list = real_free_device_list,
    .query_device = real_query_device,
    .alloc_pd = real_alloc_pd,
    .dealloc_pd = real_dealloc_pd,
    .reg_mr = real_reg_mr,
    .dereg_mr = real_dereg_mr,
    .create_comp_channel = real_create_comp_channel,
    .destroy_comp_channel = real_destroy_comp_channel,
    .create_cq = real_create_cq,
    .destroy_cq = real_destroy_cq,
    .req_notify_cq = real_req_notify_cq,
    .get_cq_event = real_get_cq_event,
    .ack_cq_events = real_ack_cq_events,
    .poll_cq = real_poll_cq,
    .post_send = real_post_send,
    .post_recv = real_post_recv,
    .create_event_channel = real_create_event_channel,
    .destroy_event_channel = real_destroy_event_channel,
    .create_id = real_create_id,
    .destroy_id = real_destroy_id,
    .bind_addr = real_bind_addr,
    .listen = real_listen,
    .resolve_addr = real_resolve_addr,
    .resolve_route = real_resolve_route,
    .create_qp = real_create_qp,
    .destroy_qp = real_destroy_qp,
    .connect = real_connect,
    .accept = real_accept,
    .reject = real_reject,
    .disconnect = real_disconnect,
    .get_cm_event = real_get_cm_event,
    .ack_cm_event = real_ack_cm_event,
    .wc_status_str = rdma_real_wc_status_str,
    .event_str = rdma_real_event_str,
};

/* How many real devices there are (0 when the kernel has no RDMA support,
 * or the libraries are not installed). */
static int real_device_count(void)
{
    int n = 0;
    struct ibv_device **list = real_get_device_list(&n);
    if (!list)
        return 0;
    real_free_device_list(list);
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
