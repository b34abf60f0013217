/* SPDX-License-Identifier: MIT */
/*
 * The emulated verbs provider on its own: that it reports what an RC QP
 * reports (RNR after retries, retry forever with rnr_retry 7, protection
 * errors, length errors, flushes), so the backend's tests over it mean
 * something. This is an EMULATION; these tests say nothing about hardware.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include "rdma_glue.h"

static const struct rdma_glue *g = &rdma_glue_emu;

struct side {
    struct rdma_event_channel *ch;
    struct rdma_cm_id *id;
    struct ibv_pd *pd;
    struct ibv_cq *cq;
    struct ibv_mr *mr;
    uint8_t mem[4096];
};

static struct rdma_cm_event *next_event(struct side *s, enum rdma_cm_event_type want)
{
    struct rdma_cm_event *ev;
    assert_int_equal(g->get_cm_event(s->ch, &ev), 0);
    assert_int_equal(ev->event, want);
    return ev;
}

static void open_side(struct side *s, struct ibv_context *ctx)
{
    s->pd = g->alloc_pd(ctx);
    s->cq = g->create_cq(ctx, 64, NULL, NULL, 0);
    s->mr = g->reg_mr(s->pd, s->mem, sizeof(s->mem), IBV_ACCESS_LOCAL_WRITE);
    assert_non_null(s->pd);
    assert_non_null(s->cq);
    assert_non_null(s->mr);
}

static void make_qp(struct side *s)
{
    struct ibv_qp_init_attr a;
    memset(&a, 0, sizeof(a));
    a.send_cq = a.recv_cq = s->cq;
    a.cap.max_send_wr = a.cap.max_recv_wr = 16;
    a.cap.max_send_sge = a.cap.max_recv_sge = 1;
    a.cap.max_inline_data = 64;
    a.qp_type = IBV_QPT_RC;
    assert_int_equal(g->create_qp(s->id, s->pd, &a), 0);
}

/* Server and client connected through the emulated CM. */
static void connect_sides(struct side *sv, struct side *cl, struct rdma_cm_id **lid, uint8_t rnr_retry)
{
    memset(sv, 0, sizeof(*sv));
    memset(cl, 0, sizeof(*cl));
    sv->ch = g->create_event_channel();
    cl->ch = g->create_event_channel();
    assert_int_equal(g->create_id(sv->ch, lid, NULL, RDMA_PS_TCP), 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(4791)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(g->bind_addr(*lid, (struct sockaddr *)&a), 0);
    assert_int_equal(g->listen(*lid, 4), 0);
    assert_int_equal(g->create_id(cl->ch, &cl->id, NULL, RDMA_PS_TCP), 0);
    assert_int_equal(g->resolve_addr(cl->id, NULL, (struct sockaddr *)&a, 100), 0);
    g->ack_cm_event(next_event(cl, RDMA_CM_EVENT_ADDR_RESOLVED));
    assert_int_equal(g->resolve_route(cl->id, 100), 0);
    g->ack_cm_event(next_event(cl, RDMA_CM_EVENT_ROUTE_RESOLVED));
    open_side(cl, cl->id->verbs);
    make_qp(cl);
    struct rdma_conn_param p;
    memset(&p, 0, sizeof(p));
    p.rnr_retry_count = rnr_retry;
    p.private_data = "hi";
    p.private_data_len = 2;
    assert_int_equal(g->connect(cl->id, &p), 0);
    struct rdma_cm_event *ev = next_event(sv, RDMA_CM_EVENT_CONNECT_REQUEST);
    assert_ptr_equal(ev->listen_id, *lid);
    assert_int_equal(ev->param.conn.private_data_len, 2);
    assert_memory_equal(ev->param.conn.private_data, "hi", 2);
    sv->id = ev->id;
    g->ack_cm_event(ev);
    open_side(sv, sv->id->verbs);
    make_qp(sv);
    assert_int_equal(g->accept(sv->id, &p), 0);
    g->ack_cm_event(next_event(cl, RDMA_CM_EVENT_ESTABLISHED));
    g->ack_cm_event(next_event(sv, RDMA_CM_EVENT_ESTABLISHED));
}

static void close_side(struct side *s)
{
    if (s->id) {
        g->destroy_qp(s->id);
        g->destroy_id(s->id);
    }
    g->dereg_mr(s->mr);
    g->destroy_cq(s->cq);
    g->dealloc_pd(s->pd);
    g->destroy_event_channel(s->ch);
}

static int post_send(struct side *s, uint64_t id, uint32_t off, uint32_t len, uint32_t lkey)
{
    struct ibv_sge sge = {.addr = (uintptr_t)(s->mem + off), .length = len, .lkey = lkey};
    struct ibv_send_wr wr, *bad;
    memset(&wr, 0, sizeof(wr));
    wr.wr_id = id;
    wr.sg_list = &sge;
    wr.num_sge = 1;
    wr.opcode = IBV_WR_SEND_WITH_IMM;
    wr.imm_data = htonl(0xabc);
    wr.send_flags = IBV_SEND_SIGNALED;
    return g->post_send(s->id->qp, &wr, &bad);
}

static int post_recv(struct side *s, uint64_t id, uint32_t off, uint32_t len)
{
    struct ibv_sge sge = {.addr = (uintptr_t)(s->mem + off), .length = len, .lkey = s->mr->lkey};
    struct ibv_recv_wr wr = {.wr_id = id, .sg_list = &sge, .num_sge = 1}, *bad;
    return g->post_recv(s->id->qp, &wr, &bad);
}

static struct ibv_wc one_wc(struct side *s)
{
    struct ibv_wc wc;
    assert_int_equal(g->poll_cq(s->cq, 1, &wc), 1);
    return wc;
}

static void finish(struct side *sv, struct side *cl, struct rdma_cm_id *lid)
{
    g->destroy_id(lid);
    close_side(cl);
    close_side(sv);
    assert_int_equal(rdma_emu_live_objects(), 0);
}

static void test_send_lands_in_posted_recv_with_imm(void **st)
{
    (void)st;
    struct side sv, cl;
    struct rdma_cm_id *lid;
    connect_sides(&sv, &cl, &lid, 1);
    assert_int_equal(post_recv(&sv, 7, 100, 1000), 0);
    memcpy(cl.mem, "payload!", 8);
    assert_int_equal(post_send(&cl, 9, 0, 8, cl.mr->lkey), 0);
    struct ibv_wc wc = one_wc(&sv);
    assert_int_equal(wc.status, IBV_WC_SUCCESS);
    assert_int_equal(wc.opcode, IBV_WC_RECV);
    assert_int_equal(wc.wr_id, 7);
    assert_int_equal(wc.byte_len, 8);
    assert_true(wc.wc_flags & IBV_WC_WITH_IMM);
    assert_int_equal(ntohl(wc.imm_data), 0xabc);
    assert_memory_equal(sv.mem + 100, "payload!", 8);
    wc = one_wc(&cl);
    assert_int_equal(wc.status, IBV_WC_SUCCESS);
    assert_int_equal(wc.wr_id, 9);
    finish(&sv, &cl, lid);
}

static void test_no_recv_posted_reports_rnr_retry_exceeded(void **st)
{
    (void)st;
    struct side sv, cl;
    struct rdma_cm_id *lid;
    connect_sides(&sv, &cl, &lid, 1);
    uint64_t before = rdma_emu_counters()->rnr_retry_exc;
    assert_int_equal(post_send(&cl, 1, 0, 8, cl.mr->lkey), 0);
    assert_int_equal(post_send(&cl, 2, 0, 8, cl.mr->lkey), 0);
    struct ibv_wc wc = one_wc(&cl);
    assert_int_equal(wc.status, IBV_WC_RNR_RETRY_EXC_ERR);
    assert_int_equal(wc.wr_id, 1);
    wc = one_wc(&cl); /* the QP is in error: the next WR is flushed */
    assert_int_equal(wc.status, IBV_WC_WR_FLUSH_ERR);
    assert_int_equal(wc.wr_id, 2);
    assert_int_equal(rdma_emu_counters()->rnr_retry_exc - before, 1);
    assert_int_equal(cl.id->qp->state, IBV_QPS_ERR);
    finish(&sv, &cl, lid);
}

static void test_rnr_retry_7_waits_for_the_recv(void **st)
{
    (void)st;
    struct side sv, cl;
    struct rdma_cm_id *lid;
    connect_sides(&sv, &cl, &lid, 7);
    memcpy(cl.mem, "late", 4);
    assert_int_equal(post_send(&cl, 1, 0, 4, cl.mr->lkey), 0);
    struct ibv_wc wc;
    assert_int_equal(g->poll_cq(cl.cq, 1, &wc), 0); /* stalled, not failed */
    assert_int_equal(post_recv(&sv, 5, 0, 64), 0);
    wc = one_wc(&sv);
    assert_int_equal(wc.status, IBV_WC_SUCCESS);
    assert_memory_equal(sv.mem, "late", 4);
    assert_int_equal(one_wc(&cl).status, IBV_WC_SUCCESS);
    finish(&sv, &cl, lid);
}

static void test_bad_lkey_and_short_recv_are_errors(void **st)
{
    (void)st;
    struct side sv, cl;
    struct rdma_cm_id *lid;
    connect_sides(&sv, &cl, &lid, 1);
    assert_int_equal(post_recv(&sv, 1, 0, 64), 0);
    assert_int_equal(post_send(&cl, 2, 0, 8, cl.mr->lkey + 1), 0);
    assert_int_equal(one_wc(&cl).status, IBV_WC_LOC_PROT_ERR);
    finish(&sv, &cl, lid);

    connect_sides(&sv, &cl, &lid, 1);
    assert_int_equal(post_recv(&sv, 1, 0, 4), 0);
    assert_int_equal(post_send(&cl, 2, 0, 8, cl.mr->lkey), 0);
    assert_int_equal(one_wc(&sv).status, IBV_WC_LOC_LEN_ERR);
    assert_int_equal(one_wc(&cl).status, IBV_WC_REM_INV_REQ_ERR);
    finish(&sv, &cl, lid);
}

static void test_disconnect_flushes_and_notifies_both(void **st)
{
    (void)st;
    struct side sv, cl;
    struct rdma_cm_id *lid;
    connect_sides(&sv, &cl, &lid, 1);
    assert_int_equal(post_recv(&sv, 3, 0, 64), 0);
    assert_int_equal(g->disconnect(cl.id), 0);
    g->ack_cm_event(next_event(&cl, RDMA_CM_EVENT_DISCONNECTED));
    g->ack_cm_event(next_event(&sv, RDMA_CM_EVENT_DISCONNECTED));
    /* The passive side disconnects too: its posted receive is flushed. */
    assert_int_equal(g->disconnect(sv.id), 0);
    struct ibv_wc wc = one_wc(&sv);
    assert_int_equal(wc.status, IBV_WC_WR_FLUSH_ERR);
    assert_int_equal(wc.wr_id, 3);
    finish(&sv, &cl, lid);
}

static void test_connect_without_listener_is_rejected(void **st)
{
    (void)st;
    struct rdma_event_channel *ch = g->create_event_channel();
    struct rdma_cm_id *id;
    assert_int_equal(g->create_id(ch, &id, NULL, RDMA_PS_TCP), 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(1)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(g->resolve_addr(id, NULL, (struct sockaddr *)&a, 100), 0);
    struct rdma_cm_event *ev;
    assert_int_equal(g->get_cm_event(ch, &ev), 0);
    g->ack_cm_event(ev);
    assert_int_equal(g->resolve_route(id, 100), 0);
    assert_int_equal(g->get_cm_event(ch, &ev), 0);
    g->ack_cm_event(ev);
    struct ibv_pd *pd = g->alloc_pd(id->verbs);
    struct ibv_cq *cq = g->create_cq(id->verbs, 8, NULL, NULL, 0);
    struct ibv_qp_init_attr qa;
    memset(&qa, 0, sizeof(qa));
    qa.send_cq = qa.recv_cq = cq;
    qa.cap.max_send_wr = qa.cap.max_recv_wr = 4;
    qa.cap.max_send_sge = qa.cap.max_recv_sge = 1;
    qa.qp_type = IBV_QPT_RC;
    assert_int_equal(g->create_qp(id, pd, &qa), 0);
    struct rdma_conn_param p;
    memset(&p, 0, sizeof(p));
    assert_int_equal(g->connect(id, &p), 0);
    assert_int_equal(g->get_cm_event(ch, &ev), 0);
    assert_int_equal(ev->event, RDMA_CM_EVENT_REJECTED);
    g->ack_cm_event(ev);
    assert_int_equal(g->get_cm_event(ch, &ev), -1);
    assert_int_equal(errno, EAGAIN);
    g->destroy_qp(id);
    g->destroy_id(id);
    g->destroy_cq(cq);
    g->dealloc_pd(pd);
    g->destroy_event_channel(ch);
    assert_int_equal(rdma_emu_live_objects(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_send_lands_in_posted_recv_with_imm),
        cmocka_unit_test(test_no_recv_posted_reports_rnr_retry_exceeded),
        cmocka_unit_test(test_rnr_retry_7_waits_for_the_recv),
        cmocka_unit_test(test_bad_lkey_and_short_recv_are_errors),
        cmocka_unit_test(test_disconnect_flushes_and_notifies_both),
        cmocka_unit_test(test_connect_without_listener_is_rejected),
    };
    return cmocka_run_group_tests_name("rdma_emu", tests, NULL, NULL);
}
