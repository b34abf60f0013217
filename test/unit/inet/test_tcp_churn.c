/* SPDX-License-Identifier: MIT */
/*
 * Many short TCP connections between two of our stacks on a loop link
 * (the nginx + wrk "Connection: close" pattern): every connection must
 * give back everything it took. After the churn and TIME_WAIT, both
 * instances' buffer and header pools are back at their starting levels,
 * the PCB tables are back to their starting occupancy, nothing was
 * dropped for lack of buffers, and a new connection still works.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "inet_test.h"
#include "demi/sga.h"

#define CHURN_CONNS 20000

static void pop_exact(struct pair *p, struct dm_instance *inst, int qd, const char *want, size_t len)
{
    uint8_t buf[256];
    size_t got = 0;
    assert_true(len <= sizeof(buf));
    while (got < len) {
        demi_qtoken_t qt;
        assert_int_equal(dm_pop(inst, &qt, qd), 0);
        demi_qresult_t qr = pair_wait(p, inst, qt, 5 * DM_NS_PER_S);
        assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
        assert_true(qr.qr_value.sga.sga_numsegs >= 1);
        for (uint32_t i = 0; i < qr.qr_value.sga.sga_numsegs; i++) {
            uint32_t n = qr.qr_value.sga.sga_segs[i].sgaseg_len;
            assert_true(got + n <= len);
            memcpy(buf + got, qr.qr_value.sga.sga_segs[i].sgaseg_buf, n);
            got += n;
        }
        dm_sgafree(inst, &qr.qr_value.sga);
    }
    assert_memory_equal(buf, want, len);
}

static uint32_t pcbs_in_use(struct dm_instance *i)
{
    struct inet_stack *st = stack_of(i);
    return st->max_conns - st->nfree;
}

static void dump_states(const char *who, struct dm_instance *i)
{
    struct inet_stack *st = stack_of(i);
    unsigned h[16] = {0}, flagsamp = 0;
    for (uint32_t k = 0; k < st->max_conns; k++) {
        h[st->pcbs[k].state & 15]++;
        if (st->pcbs[k].state != TCPS_CLOSED)
            flagsamp = st->pcbs[k].flags;
    }
    fprintf(stderr, "%s states:", who);
    for (int k = 0; k < 12; k++)
        fprintf(stderr, " %d:%u", k, h[k]);
    fprintf(stderr, " flags %#x\n", flagsamp);
}

static const char req[] = "GET / HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n";
static const char rsp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

static void churn_connect(struct pair *p, int lqd, int *cqd, int *sqd)
{
    demi_qtoken_t at, ct;
    assert_int_equal(dm_socket(p->a, cqd, AF_INET, SOCK_STREAM, 0), 0);
    struct sockaddr_in s = sin_of(IP_B, 80);
    assert_int_equal(dm_accept(p->b, &at, lqd), 0);
    assert_int_equal(dm_connect(p->a, &ct, *cqd, (struct sockaddr *)&s, sizeof(s)), 0);
    int64_t end = dm_clock_ns() + 2 * DM_NS_PER_S;
    while (!token_done(p->a, ct) && dm_clock_ns() < end)
        pair_poll(p);
    if (!token_done(p->a, ct)) {
        struct tcp_pcb *pc = pcb_of(p->a, *cqd);
        struct inet_stack *sb = stack_of(p->b);
        struct tcp_pcb *pb = tcp_lookup(sb, &pc->rip, pc->rport, &pc->lip, pc->lport);
        fprintf(stderr, "connect stuck: a state %d port %u iss %u ts %d; b pcb %p state %d rcv_nxt %u q %p flags %#x\n",
                pc->state, ntohs(pc->lport), pc->iss, !!(pc->flags & TF_TS), (void *)pb, pb ? pb->state : -1,
                pb ? pb->rcv_nxt : 0, pb ? (void *)pb->q : NULL, pb ? pb->flags : 0);
        dm_stats_dump(p->b, stderr, 0);
        fail();
    }
    demi_qresult_t qr = pair_wait(p, p->a, ct, 0);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_CONNECT);
    qr = pair_wait(p, p->b, at, 5 * DM_NS_PER_S);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_ACCEPT);
    *sqd = qr.qr_value.ares.qd;
}

/* One request/response; mode 0: client closes first, 1: server closes
 * first, 2: client aborts (closes with the reply unread: RST). */
static void one_conn(struct pair *p, int lqd, int mode)
{
    int c, d;
    churn_connect(p, lqd, &c, &d);
    pair_wait(p, p->a, push_bytes(p->a, c, req, sizeof(req) - 1), 5 * DM_NS_PER_S);
    pop_exact(p, p->b, d, req, sizeof(req) - 1);
    pair_wait(p, p->b, push_bytes(p->b, d, rsp, sizeof(rsp) - 1), 5 * DM_NS_PER_S);
    if (mode == 2) {
        /* Let the reply land unread, then abort. */
        for (int k = 0; k < 4; k++)
            pair_poll(p);
        assert_int_equal(dm_close(p->a, c), 0);
        pair_poll(p);
        assert_int_equal(dm_close(p->b, d), 0);
    } else {
        pop_exact(p, p->a, c, rsp, sizeof(rsp) - 1);
        if (mode == 0) {
            assert_int_equal(dm_close(p->a, c), 0);
            pair_poll(p);
            assert_int_equal(dm_close(p->b, d), 0);
        } else {
            assert_int_equal(dm_close(p->b, d), 0);
            pair_poll(p);
            assert_int_equal(dm_close(p->a, c), 0);
        }
    }
    for (int k = 0; k < 4; k++)
        pair_poll(p);
}

static int64_t drops(struct dm_instance *i)
{
    static const char *const names[] = {"eth.rx_nobuf", "eth.tx_drop_full", "arp.nobuf", "arp.queue_drop",
                                        "ip.tx_nobuf", "tcp.rx_nobuf_drop", "tcp.tx_nobuf",
                                        "tcp.rx_syn_drop_nomem", "tcp.rx_syn_drop_backlog"};
    int64_t n = 0;
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        int64_t v = stat_of(i, names[k]);
        if (v > 0) {
            fprintf(stderr, "drop counter %s = %lld\n", names[k], (long long)v);
            n += v;
        }
    }
    return n;
}

static void churn(const char *tw_ms, bool expect_recycle)

{
    const char *kv[] = {"DEMI_TCP_TIMEWAIT_MS", tw_ms, NULL};
    struct pair p;
    pair_create(&p, NULL, kv);
    int lqd = tcp_listener(p.b, IP_B, 80, 64);
    /* Warm up (first-use allocations), then wait out TIME_WAIT. */
    one_conn(&p, lqd, 0);
    pair_run_for(&p, 600 * DM_NS_PER_MS);
    int64_t tw_reuse0 = stat_of(p.b, "tcp.conn_timewait_reuse");
    uint32_t bufs0 = dm_instance_bufs_avail(p.a) + dm_instance_bufs_avail(p.b);
    uint32_t hdrs0 = dm_instance_hdrs_avail(p.a) + dm_instance_hdrs_avail(p.b);
    uint32_t pa0 = pcbs_in_use(p.a), pb0 = pcbs_in_use(p.b);
    uint32_t peak = 0;
    if (getenv("CHURN_DEBUG2")) {
        for (int m = 0; m < 3; m++) {
            for (int i = 0; i < 100; i++)
                one_conn(&p, lqd, m);
            pair_run_for(&p, 100 * DM_NS_PER_MS);
            fprintf(stderr, "mode %d:\n", m);
            dump_states("a", p.a);
            dump_states("b", p.b);
        }
    }
    for (int i = 0; i < CHURN_CONNS; i++) {
        one_conn(&p, lqd, i % 3);
        uint32_t u = pcbs_in_use(p.a) + pcbs_in_use(p.b);
        if (u > peak)
            peak = u;
        if (i >= 16000 && i % 250 == 0 && getenv("CHURN_DEBUG")) {
            fprintf(stderr, "=== %d a\n", i);
            dm_stats_dump(p.a, stderr, 0);
            fprintf(stderr, "=== b\n");
            dm_stats_dump(p.b, stderr, 0);
        }
        if (i % 2000 == 1999 && getenv("CHURN_DEBUG")) {
            dump_states("a", p.a);
            dump_states("b", p.b);
            fprintf(stderr, "t=%lld ms\n", (long long)(dm_clock_ns() / DM_NS_PER_MS));
        }
        if (i % 2000 == 1999)
            fprintf(stderr, "churn %d: pcbs a=%u b=%u bufs=%u/%u hdrs=%u/%u\n", i + 1, pcbs_in_use(p.a),
                    pcbs_in_use(p.b), dm_instance_bufs_avail(p.a) + dm_instance_bufs_avail(p.b), bufs0,
                    dm_instance_hdrs_avail(p.a) + dm_instance_hdrs_avail(p.b), hdrs0);
    }
    pair_run_for(&p, 700 * DM_NS_PER_MS); /* DEMI_TCP_TIMEWAIT_MS=500 */
    fprintf(stderr, "after: pcbs a=%u/%u b=%u/%u peak=%u bufs=%u/%u hdrs=%u/%u\n", pcbs_in_use(p.a), pa0,
            pcbs_in_use(p.b), pb0, peak, dm_instance_bufs_avail(p.a) + dm_instance_bufs_avail(p.b), bufs0,
            dm_instance_hdrs_avail(p.a) + dm_instance_hdrs_avail(p.b), hdrs0);
    /* TIME_WAIT and orphaned PCBs are reclaimed (on time or, when the
     * table is full, early), and nothing else stays behind. */
    if (expect_recycle) {
        assert_true(stat_of(p.a, "tcp.conn_timewait_recycle") > 0);
        assert_true(stat_of(p.b, "tcp.conn_timewait_recycle") > 0);
    }
    fprintf(stderr, "timewait reuse by SYN on b: %lld\n", (long long)(stat_of(p.b, "tcp.conn_timewait_reuse") - tw_reuse0));
    assert_int_equal(pcbs_in_use(p.a), pa0);
    assert_int_equal(pcbs_in_use(p.b), pb0);
    assert_int_equal(stack_of(p.a)->tcp_port_refs[80], 0);
    /* Every buffer and header is back. */
    assert_int_equal(dm_instance_bufs_avail(p.a) + dm_instance_bufs_avail(p.b), bufs0);
    assert_int_equal(dm_instance_hdrs_avail(p.a) + dm_instance_hdrs_avail(p.b), hdrs0);
    assert_int_equal(drops(p.a) + drops(p.b), 0);
    /* And the stack still serves. */
    int c, d;
    tcp_connect_pair(&p, lqd, 80, &c, &d);
    pair_wait(&p, p.a, push_bytes(p.a, c, req, sizeof(req) - 1), 5 * DM_NS_PER_S);
    pop_exact(&p, p.b, d, req, sizeof(req) - 1);
    pair_destroy(&p);
}

/* TIME_WAIT (500 ms) outlasts the churn: both 4096-entry tables fill and
 * new connections must recycle the oldest TIME_WAIT PCBs. */
static void test_tcp_short_connection_churn_recycles_time_wait_when_table_full(void **s)
{
    (void)s;
    churn("500", true);
}

/* Short TIME_WAIT (20 ms): the table never fills, but the client's
 * ephemeral ports (16384) wrap while the server may still hold the old
 * 4-tuple in TIME_WAIT: the new SYN must take it over. */
static void test_tcp_short_connection_churn_returns_every_buffer_and_pcb(void **s)
{
    (void)s;
    churn("20", false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_short_connection_churn_returns_every_buffer_and_pcb),
        cmocka_unit_test(test_tcp_short_connection_churn_recycles_time_wait_when_table_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
