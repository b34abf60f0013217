/* SPDX-License-Identifier: MIT */
/*
 * Software overhead of the rdma backend, measured over the in-process
 * EMULATED verbs provider (this machine has no RDMA device).
 *
 * What the numbers are: CPU time our code spends per operation (demi
 * push/pop/wait, the stack's credits and rings, and the emulation's copy
 * standing in for the NIC). What they are not: RDMA latency. The emulated
 * "wire" is a memcpy inside post_send, so an echo round trip here has no
 * NIC, no PCIe and no wire in it.
 *
 *   1. emu verbs alone: post_recv + post_send(64 B) + 2 x poll_cq, the
 *      emulated device's own cost, to subtract;
 *   2. 64 B echo through the backend between two instances: one round trip
 *      is 2 pushes + 2 pops + the waits (p50/p99/p99.9), and per message
 *      one way = RTT / 2;
 *   3. one-way streaming of 2 KiB pool buffers (zero copy): ns per message.
 *
 * Usage: bench_rdma [iterations]   (default 200000)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "dm/instance.h"
#include "dm/stats.h"
#include "dm/time.h"
#include "rdma_glue.h"

static struct dm_instance *srv, *cli;

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, int64_t *v, int n, double div)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_i64);
    printf("%-46s p50 %7.0f ns  p99 %7.0f ns  p99.9 %7.0f ns\n", what, v[n / 2] / div, v[(int)(n * 0.99)] / div,
           v[(int)(n * 0.999)] / div);
}

static struct dm_instance *make(void)
{
    struct dm_config cfg;
    dm_config_init(&cfg);
    dm_config_set(&cfg, "DEMI_BACKEND", "rdma");
    dm_config_set(&cfg, "DEMI_RDMA_PROVIDER", "emu");
    dm_config_set(&cfg, "DEMI_BUF_COUNT", "16384");
    struct dm_instance *in;
    if (dm_instance_create(&cfg, &in) < 0)
        exit(1);
    return in;
}

static demi_qresult_t wait_on(struct dm_instance *in, struct dm_instance *other, demi_qtoken_t qt)
{
    demi_qresult_t qr;
    while (dm_wait(in, &qr, qt, 0) != 0)
        dm_poll(other, 0);
    return qr;
}

/* 1: the emulated device alone. */
static void bench_emu_verbs(int iters)
{
    const struct rdma_glue *g = &rdma_glue_emu;
    struct rdma_event_channel *ch = g->create_event_channel();
    struct rdma_cm_id *lid, *a, *b;
    struct rdma_cm_event *ev;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(4999)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    g->create_id(ch, &lid, NULL, RDMA_PS_TCP);
    g->bind_addr(lid, (struct sockaddr *)&sa);
    g->listen(lid, 1);
    g->create_id(ch, &a, NULL, RDMA_PS_TCP);
    g->resolve_addr(a, NULL, (struct sockaddr *)&sa, 100);
    g->get_cm_event(ch, &ev), g->ack_cm_event(ev);
    g->resolve_route(a, 100);
    g->get_cm_event(ch, &ev), g->ack_cm_event(ev);
    struct ibv_pd *pd = g->alloc_pd(a->verbs);
    struct ibv_cq *cq = g->create_cq(a->verbs, 256, NULL, NULL, 0);
    static uint8_t mem[8192];
    struct ibv_mr *mr = g->reg_mr(pd, mem, sizeof(mem), IBV_ACCESS_LOCAL_WRITE);
    struct ibv_qp_init_attr qa = {.send_cq = cq, .recv_cq = cq, .qp_type = IBV_QPT_RC};
    qa.cap.max_send_wr = qa.cap.max_recv_wr = 64;
    qa.cap.max_send_sge = qa.cap.max_recv_sge = 1;
    g->create_qp(a, pd, &qa);
    struct rdma_conn_param p = {0};
    g->connect(a, &p);
    g->get_cm_event(ch, &ev);
    b = ev->id;
    g->ack_cm_event(ev);
    g->create_qp(b, pd, &qa);
    g->accept(b, &p);
    g->get_cm_event(ch, &ev), g->ack_cm_event(ev);
    g->get_cm_event(ch, &ev), g->ack_cm_event(ev);
    int64_t *v = malloc(sizeof(int64_t) * (size_t)iters);
    struct ibv_wc wc[2];
    for (int i = 0; i < iters; i++) {
        int64_t t0 = dm_clock_ns();
        struct ibv_sge rs = {.addr = (uintptr_t)mem + 4096, .length = 2048, .lkey = mr->lkey};
        struct ibv_recv_wr rw = {.wr_id = 1, .sg_list = &rs, .num_sge = 1}, *rbad;
        g->post_recv(b->qp, &rw, &rbad);
        struct ibv_sge ss = {.addr = (uintptr_t)mem, .length = 64, .lkey = mr->lkey};
        struct ibv_send_wr sw = {.wr_id = 2, .sg_list = &ss, .num_sge = 1, .opcode = IBV_WR_SEND_WITH_IMM,
                                 .send_flags = IBV_SEND_SIGNALED}, *sbad;
        g->post_send(a->qp, &sw, &sbad);
        int got = 0;
        while (got < 2)
            got += g->poll_cq(cq, 2, wc);
        v[i] = dm_clock_ns() - t0;
    }
    report("emu device: recv+send 64 B+2 polls", v, iters, 1);
    free(v);
    g->destroy_qp(a);
    g->destroy_qp(b);
    g->destroy_id(a);
    g->destroy_id(b);
    g->destroy_id(lid);
    g->dereg_mr(mr);
    g->destroy_cq(cq);
    g->dealloc_pd(pd);
    g->destroy_event_channel(ch);
}

int main(int argc, char **argv)
{
    int iters = argc > 1 ? atoi(argv[1]) : 200000;
    if (iters < 1000)
        iters = 1000;
    printf("# rdma backend over the EMULATED verbs provider: software overhead only, NOT RDMA latency\n");
    bench_emu_verbs(iters);

    srv = make();
    cli = make();
    int l, c, sv, err;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(5001)};
    inet_pton(AF_INET, "10.1.0.1", &a.sin_addr);
    dm_socket(srv, &l, AF_INET, SOCK_STREAM, 0);
    dm_bind(srv, l, (struct sockaddr *)&a, sizeof(a));
    dm_listen(srv, l, 16);
    dm_socket(cli, &c, AF_INET, SOCK_STREAM, 0);
    demi_qtoken_t at, ct, qt;
    dm_accept(srv, &at, l);
    dm_connect(cli, &ct, c, (struct sockaddr *)&a, sizeof(a));
    wait_on(cli, srv, ct);
    sv = wait_on(srv, cli, at).qr_value.ares.qd;

    /* 2: 64 B echo. */
    int64_t *v = malloc(sizeof(int64_t) * (size_t)iters);
    for (int i = 0; i < iters + 1000; i++) {
        int64_t t0 = dm_clock_ns();
        demi_sgarray_t sga = dm_sgaalloc(cli, 64, &err);
        dm_push(cli, &qt, c, &sga);
        dm_sgafree(cli, &sga);
        demi_qtoken_t pt = qt;
        dm_pop(srv, &qt, sv);
        demi_qresult_t qr = wait_on(srv, cli, qt);
        demi_qtoken_t et;
        dm_push(srv, &et, sv, &qr.qr_value.sga);
        dm_sgafree(srv, &qr.qr_value.sga);
        dm_pop(cli, &qt, c);
        qr = wait_on(cli, srv, qt);
        dm_sgafree(cli, &qr.qr_value.sga);
        wait_on(cli, srv, pt);
        wait_on(srv, cli, et);
        if (i >= 1000)
            v[i - 1000] = dm_clock_ns() - t0;
    }
    report("backend: 64 B echo round trip", v, iters, 1);
    report("backend: 64 B one way (RTT/2)", v, iters, 2);

    /* 3: streaming 2 KiB pool buffers one way, 32 in flight. */
    enum { W = 32 };
    demi_qtoken_t ring[W];
    int head = 0, n = 0, sent = 0, recvd = 0;
    int64_t t0 = dm_clock_ns();
    while (recvd < iters) {
        while (sent < iters && n < W) {
            demi_sgarray_t sga = dm_sgaalloc(cli, 2048, &err);
            dm_push(cli, &ring[(head + n++) % W], c, &sga);
            dm_sgafree(cli, &sga);
            sent++;
        }
        dm_pop(srv, &qt, sv);
        demi_qresult_t qr = wait_on(srv, cli, qt);
        for (uint32_t i = 0; i < qr.qr_value.sga.sga_numsegs; i++)
            recvd += (int)(qr.qr_value.sga.sga_segs[i].sgaseg_len / 2048);
        dm_sgafree(srv, &qr.qr_value.sga);
        while (n && dm_token_state(cli, ring[head]) == 1) {
            wait_on(cli, srv, ring[head]);
            head = (head + 1) % W;
            n--;
        }
    }
    int64_t dt = dm_clock_ns() - t0;
    printf("%-46s %7.0f ns/msg  (%.2f Gbit/s of emulated memcpy)\n", "backend: stream 2 KiB zero-copy, one way",
           (double)dt / iters, (double)iters * 2048 * 8 / (double)dt);
    printf("# zero-copy sends %lld, inline %lld, bounce %lld, credit stalls %lld\n",
           (long long)dm_stats_get(cli, "rdma.tx_zero_copy"), (long long)dm_stats_get(cli, "rdma.tx_inline"),
           (long long)dm_stats_get(cli, "rdma.tx_bounce"), (long long)dm_stats_get(cli, "rdma.credit_stalls"));
    free(v);
    dm_close(cli, c);
    dm_close(srv, sv);
    dm_close(srv, l);
    dm_instance_destroy(cli);
    dm_instance_destroy(srv);
    return 0;
}
