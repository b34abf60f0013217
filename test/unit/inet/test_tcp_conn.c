/* SPDX-License-Identifier: MIT */
/*
 * TCP between two of our stacks on a loop link: handshake and options,
 * refusal and timeouts, half-close and both close orders, TIME_WAIT, the
 * listen backlog, send-buffer backpressure, zero window, Nagle, keepalive,
 * and resets on close with unread data.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/tcp.h>
#include "inet_test.h"
#include "demi/sga.h"

static demi_qresult_t pop_one(struct pair *p, struct dm_instance *inst, int qd)
{
    demi_qtoken_t qt;
    assert_int_equal(dm_pop(inst, &qt, qd), 0);
    return pair_wait(p, inst, qt, 5 * DM_NS_PER_S);
}

/* Pops until `len` bytes arrived; returns them in buf. */
static void pop_exact(struct pair *p, struct dm_instance *inst, int qd, uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        demi_qresult_t qr = pop_one(p, inst, qd);
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
}

static void test_tcp_handshake_negotiates_mss_wscale_timestamps_sack(void **s)
{
    (void)s;
    struct pair p;
    pair_create(&p, NULL, NULL);
    int lqd = tcp_listener(p.b, IP_B, 80, 8), c, d;
    tcp_connect_pair(&p, lqd, 80, &c, &d);
    struct tcp_pcb *pc = pcb_of(p.a, c), *pd = pcb_of(p.b, d);
    assert_int_equal(pc->state, TCPS_ESTABLISHED);
    assert_int_equal(pd->state, TCPS_ESTABLISHED);
    assert_true(pc->flags & TF_TS);
    assert_true(pc->flags & TF_SACK);
    assert_true(pc->flags & TF_WS);
    assert_true(pd->flags & TF_TS && pd->flags & TF_SACK && pd->flags & TF_WS);
    assert_int_equal(pc->mss, 1500 - 40 - 12); /* RFC 6691: options come out of the MSS */
    assert_int_equal(pc->snd_wscale, pd->rcv_wscale);
    assert_int_equal(pd->snd_wscale, pc->rcv_wscale);
    int v;
    socklen_t l = sizeof(v);
    assert_int_equal(dm_getsockopt(p.a, c, IPPROTO_TCP, TCP_MAXSEG, &v, &l), 0);
    assert_int_equal(v, 1448);
    /* echo */
    push_bytes(p.a, c, "ping", 4);
    uint8_t b[4];
    pop_exact(&p, p.b, d, b, 4);
    assert_memory_equal(b, "ping", 4);
    pair_destroy(&p);
}

static void test_tcp_mss_follows_jumbo_mtu(void **s)
{
    (void)s;
    const char *kv[] = {"DEMI_MTU", "9000", NULL};
    struct pair p;
    pair_create(&p, NULL, kv);
    int lqd = tcp_listener(p.b, IP_B, 80, 8), c, d;
    tcp_connect_pair(&p, lqd, 80, &c, &d);
    assert_int_equal(pcb_of(p.a, c)->mss, 9000 - 40 - 12);
    static uint8_t big[100000], back[100000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7);
    push_bytes(p.a, c, big, 60000);
    push_bytes(p.a, c, big + 60000, 40000);
    pop_exact(&p, p.b, d, back, sizeof(back));
    assert_memory_equal(big, back, sizeof(big));
    pair_destroy(&p);
}

static void test_tcp_connect_to_closed_port_is_refused(void **s)
{
    (void)s;
    struct pair p;
    pair_create(&p, NULL, NULL);
    int c;
    demi_qtoken_t qt;
    assert_int_equal(dm_socket(p.a, &c, AF_INET, SOCK_STREAM, 0), 0);
    struct sockaddr_in dst = sin_of(IP_B, 9);
    assert_int_equal(dm_connect(p.a, &qt, c, (struct sockaddr *)&dst, sizeof(dst)), 0);
    demi_qresult_t qr = pair_wait(&p, p.a, qt, DM_NS_PER_S);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_FAILED);
    assert_int_equal(qr.qr_ret, ECONNREFUSED);
    assert_true(stat_of(p.b, "tcp.rx_no_pcb") >= 1);
    assert_true(stat_of(p.b, "tcp.tx_rst") >= 1);
    pair_destroy(&p);
}

static void test_tcp_connect_times_out_when_syns_go_unanswered(void **s)
{
    (void)s;
    const char *kv[] = {"DEMI_TCP_SYN_RETRIES", "2", "DEMI_TCP_RTO_INIT_MS", "10", NULL};
    struct pair p;
    pair_create(&p, "drop=1", kv);
    int c;
    demi_qtoken_t qt;
    assert_int_equal(dm_socket(p.a, &c, AF_INET, SOCK_STREAM, 0), 0);
    struct sockaddr_in dst = sin_of(IP_B, 80);
    assert_int_equal(dm_connect(p.a, &qt, c, (struct sockaddr *)&dst, sizeof(dst)), 0);
    demi_qresult_t qr = pair_wait(&p, p.a, qt, 5 * DM_NS_PER_S);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_FAILED);
    assert_int_equal(qr.qr_ret, ETIMEDOUT);
    assert_int_equal(stat_of(p.a, "tcp.tx_syn_retrans"), 2);
    assert_int_equal(stat_of(p.a, "tcp.conn_timeout"), 1);
    pair_destroy(&p);
}

static void test_tcp_connect_errors_match_linux(void **s)
{
    (void)s;
    struct pair p;
    pair_create(&p, NULL, NULL);
    int lqd = tcp_listener(p.b, IP_B, 80, 8), c, d;
    tcp_connect_pair(&p, lqd, 80, &c, &d);
    demi_qtoken_t qt;
    struct sockaddr_in dst = sin_of(IP_B, 80);
    assert_int_equal(dm_connect(p.a, &qt, c, (struct sockaddr *)&dst, sizeof(dst)), -EISCONN);
    int e;
    assert_int_equal(dm_socket(p.a, &e, AF_INET, SOCK_STREAM, 0), 0);
    assert_int_equal(dm_connect(p.a, &qt, e, (struct sockaddr *)&dst, sizeof(dst)), 0);
    assert_int_equal(dm_connect(p.a, &qt, e, (struct sockaddr *)&dst, sizeof(dst)), -EALREADY);
    /* push/pop on a socket that is not connected */
    int f;
    assert_int_equal(dm_socket(p.a, &f, AF_INET, SOCK_STREAM, 0), 0);
    int err = 0;
    demi_sgarray_t sga = dm_sgaalloc(p.a, 8, &err);
    assert_int_equal(dm_push(p.a, &qt, f, &sga), -ENOTCONN);
    dm_sgafree(p.a, &sga);
    assert_int_equal(dm_pop(p.a, &qt, lqd == 0 ? f : f), -ENOTCONN);
    /* bind: address not ours, port in use */
    struct sockaddr_in other = sin_of("10.0.0.77", 81);
    assert_int_equal(dm_bind(p.b, f == 0 ? 0 : lqd, (struct sockaddr *)&other, sizeof(other)), -EINVAL);
    int g;
    assert_int_equal(dm_socket(p.b, &g, AF_INET, SOCK_STREAM, 0), 0);
    assert_int_equal(dm_bind(p.b, g, (struct sockaddr *)&other, sizeof(other)), -EADDRNOTAVAIL);
    struct sockaddr_in used = sin_of(IP_B, 80);
    assert_int_equal(dm_bind(p.b, g, (struct sockaddr *)&used, sizeof(used)), -EADDRINUSE);
    pair_destroy(&p);
}

static void test_tcp_half_close_peer_sees_eof_and_can_still_send(void **s)
{
    (void)s;
    struct pair p;
    pair_create(&p, NULL, NULL);
    int lqd = tcp_listener(p.b, IP_B, 80, 8), c, d;
    tcp_connect_pair(&p, lqd, 80, &c, &d);
    push_bytes(p.a, c, "request", 7);
    assert_int_equal(dm_shutdown(p.a, c, SHUT_WR), 0);
    uint8_t b[16];
    pop_exact(&p, p.b, d, b, 7);
    demi_qresult_t qr = pop_one(&p, p.b, d);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
    assert_int_equal(qr.qr_value.sga.sga_numsegs, 0); /* EOF */
    pair_run_for(&p, 2 * DM_NS_PER_MS);
    assert_int_equal(pcb_of(p.b, d)->state, TCPS_CLOSE_WAIT);
    assert_int_equal(pcb_of(p.a, c)->state, TCPS_FIN_WAIT_2);
    push_bytes(p.b, d, "response", 8);
    pop_exact(&p, p.a, c, b, 8);
    assert_memory_equal(b, "response", 8);
    /* pushing after SHUT_WR is EPIPE */
    int err = 0;
    demi_qtoken_t qt;
    demi_sgarray_t sga = dm_sgaalloc(p.a, 8, &err);
    assert_int_equal(dm_push(p.a, &qt, c, &sga), -EPIPE);
    dm_sgafree(p.a, &sga);
    assert_int_equal(dm_shutdown(p.b, d, SHUT_WR), 0);
    qr = pop_one(&p, p.a, c);
    assert_int_equal(qr.qr_value.sga.sga_numsegs, 0);
    assert_int_equal(pcb_of(p.a, c)->state, TCPS_TIME_WAIT);
    pair_run_for(&p, 10 * DM_NS_PER_MS);
    assert_int_equal(pcb_of(p.b, d)->state, TCPS_CLOSED); /* LAST_ACK -> CLOSED */
    pair_destroy(&p);
}

static bool both_closed(void *arg)
{
    struct tcp_pcb **pp = arg;
    return pp[0]->state == TCPS_CLOSED && pp[1]->state == TCPS_CLOSED;
}

static void test_tcp_simultaneous_close_goes_through_closing_to_time_wait(void **s)
{
    (void)s;
    struct pair p;
    pair_create(&p, NULL, NULL);
    int lqd = tcp_listener(p.b, IP_B, 80, 8), c, d;
    tcp_connect_pair(&p, lqd, 80, &c, &d);
    /* Both FINs leave before either arrives. */
    assert_int_equal(dm_shutdown(p.a, c, SHUT_WR), 0);
    assert_int_equal(dm_shutdown(p.b, d, SHUT_WR), 0);
    tcp_output_pending(stack_of(p.a));
    tcp_output_pending(stack_of(p.b));
    inet_tx_flush(stack_of(p.a));
    inet_tx_flush(stack_of(p.b));
    dm_poll(p.a, 0);
    dm_poll(p.b, 0);
    struct tcp_pcb *pc = pcb_of(p.a, c), *pd = pcb_of(p.b, d);
    assert_true(pc->state == TCPS_CLOSING || pc->state == TCPS_TIME_WAIT);
    pair_run_for(&p, 2 * DM_NS_PER_MS);
    assert_int_equal(pc->state, TCPS_TIME_WAIT);
    assert_int_equal(pd->state, TCPS_TIME_WAIT);
    /* DEMI_TCP_TIMEWAIT_MS=20 in the tests */
    struct tcp_pcb *pp[2] = {pc, pd};
    assert_true(pair_run_until(&p, both_closed, pp, DM_NS_PER_S));
    pair_destroy(&p);
}

static void test_tcp_time_wait_is_configurable_and_frees_the_port(void **s)
{
    (void)s;
    struct pair p;
    pair_create(&p, NULL, NULL);
    int lqd = tcp_listener(p.b, IP_B, 80, 8), c, d;
    tcp_connect_pair(&p, lqd, 80, &c, &d);
    struct sockaddr_in name;
    socklen_t nl = sizeof(name);
    assert_int_equal(dm_getsockname(p.a, c, (struct sockaddr *)&name, &nl), 0);
    uint32_t ip_a, ip_b;
    inet_pton(AF_INET, IP_A, &ip_a);
    inet_pton(AF_INET, IP_B, &ip_b);
    assert_int_equal(dm_close(p.a, c), 0); /* active close: a ends in TIME_WAIT */
    pair_run_for(&p, 2 * DM_NS_PER_MS);
    assert_int_equal(dm_close(p.b, d), 0);
    pair_run_for(&p, 2 * DM_NS_PER_MS);
    struct tcp_pcb *tw = tcp_lookup4(stack_of(p.a), ip_a, name.sin_port, ip_b, htons(80));
    assert_non_null(tw);
    assert_int_equal(tw->state, TCPS_TIME_WAIT);
    pair_run_for(&p, 60 * DM_NS_PER_MS);
    assert_null(tcp_lookup4(stack_of(p.a), ip_a, name.sin_port, ip_b, htons(80)));
    assert_int_equal(stack_of(p.a)->tcp_port_refs[ntohs(name.sin_port)], 0);
    pair_destroy(&p);
}

static void test_tcp_listen_backlog_overflow_drops_syns_until_accept(void **s)
{
    (void)s;
    struct pair p;
    pair_create(&p, NULL, NULL);
    int lqd = tcp_listener(p.b, IP_B, 80, 2);
    int c[4];
    demi_qtoken_t ct[4];
    struct sockaddr_in dst = sin_of(IP_B, 80);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(dm_socket(p.a, &c[i], AF_INET, SOCK_STREAM, 0), 0);
        assert_int_equal(dm_connect(p.a, &ct[i], c[i], (struct sockaddr *)&dst, sizeof(dst)), 0);
    }
    pair_run_for(&p, 20 * DM_NS_PER_MS);
    int done = 0;
    for (int i = 0; i < 4; i++)
        done += token_done(p.a, ct[i]);
    assert_int_equal(done, 2);
    assert_true(stat_of(p.b, "tcp.rx_syn_drop_backlog") >= 2);
    /* Accepting makes room: the retransmitted SYNs get in. */
    for (int i = 0; i < 4; i++) {
        demi_qtoken_t at;
        assert_int_equal(dm_accept(p.b, &at, lqd), 0);
        demi_qresult_t qr = pair_wait(&p, p.b, at, 3 * DM_NS_PER_S);
        assert_int_equal(qr.qr_opcode, DEMI_OPC_ACCEPT);
    }
    for (int i = 0; i < 4; i++) {
        demi_qresult_t qr = pair_wait(&p, p.a, ct[i], 3 * DM_NS_PER_S);
        assert_int_equal(qr.qr_opcode, DEMI_OPC_CONNECT);
    }
    assert_true(stat_of(p.a, "tcp.tx_syn_retrans") >= 2);
    pair_destroy(&p);
}

/* A connection between 8 KiB send and receive buffers, and 40 pushes of
 * 1000 bytes of data (40,000) from a to b: most wait for SO_SNDBUF. */
static void pushes_over_sndbuf(struct pair *p, int *c, int *d, const uint8_t *data, demi_qtoken_t qt[40])
{
    const char *kv[] = {"DEMI_TCP_RCVBUF", "8192", "DEMI_TCP_SNDBUF", "8192", NULL};
    pair_create(p, NULL, kv);
    int lqd = tcp_listener(p->b, IP_B, 80, 8);
    tcp_connect_pair(p, lqd, 80, c, d);
    for (int i = 0; i < 40; i++)
        qt[i] = push_bytes(p->a, *c, data + i * 1000, 1000);
}

static void test_tcp_push_stays_pending_while_over_sndbuf(void **s)
{
    (void)s;
    struct pair p;
    int c, d;
    static uint8_t data[40000];
    demi_qtoken_t qt[40];
    pushes_over_sndbuf(&p, &c, &d, data, qt);
    pair_run_for(&p, 20 * DM_NS_PER_MS);
    /* b never pops: 8 KiB in b's buffer, 8 KiB in a's: the rest waits. */
    int done = 0;
    for (int i = 0; i < 40; i++)
        done += token_done(p.a, qt[i]);
    assert_true(done >= 8 && done < 40);
    assert_false(token_done(p.a, qt[39]));
    assert_true(pcb_of(p.a, c)->snd_wnd == 0 || pcb_of(p.a, c)->snd_wnd < 1000);
    /* zero window: a probes */
    pair_run_for(&p, 100 * DM_NS_PER_MS);
    assert_true(stat_of(p.a, "tcp.tx_zwp") >= 1);
    /* b reads everything: every push completes, bytes all arrive */
    static uint8_t back[40000];
    pop_exact(&p, p.b, d, back, sizeof(back));
    for (int i = 0; i < 40; i++)
        pair_wait(&p, p.a, qt[i], DM_NS_PER_S);
    pair_destroy(&p);
}

/* shutdown(SHUT_WR) behind pushes still waiting for SO_SNDBUF: they go
 * out before the FIN (the preload had told the application they were
 * sent; failing them lost the end of a node stream's pipe()). */
static void test_tcp_shutdown_behind_pending_pushes_sends_them_first(void **s)
{
    (void)s;
    struct pair p;
    int c, d;
    static uint8_t data[40000], back[40000];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7 + 3);
    demi_qtoken_t qt[40];
    pushes_over_sndbuf(&p, &c, &d, data, qt);
    assert_false(token_done(p.a, qt[39])); /* over SO_SNDBUF: pending */
    assert_int_equal(dm_shutdown(p.a, c, SHUT_WR), 0);
    pop_exact(&p, p.b, d, back, sizeof(back));
    assert_memory_equal(back, data, sizeof(data));
    demi_qresult_t qr = pop_one(&p, p.b, d);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
    assert_int_equal(qr.qr_value.sga.sga_numsegs, 0); /* then the end */
    for (int i = 0; i < 40; i++)
        pair_wait(&p, p.a, qt[i], DM_NS_PER_S);
    pair_destroy(&p);
}

static void test_tcp_nagle_coalesces_small_pushes_unless_nodelay(void **s)
{
    (void)s;
    struct pair p;
    pair_create(&p, NULL, NULL);
    int lqd = tcp_listener(p.b, IP_B, 80, 8), c, d;
    tcp_connect_pair(&p, lqd, 80, &c, &d);
    for (int round = 0; round < 2; round++) {
        if (round == 1) {
            int one = 1;
            assert_int_equal(dm_setsockopt(p.a, c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
        }
        int64_t before = stat_of(p.a, "tcp.tx");
        for (int i = 0; i < 10; i++) {
            push_bytes(p.a, c, "x", 1);
            dm_poll(p.a, 0); /* b is not polled: nothing gets acknowledged */
        }
        int64_t segs = stat_of(p.a, "tcp.tx") - before;
        if (round == 0)
            assert_int_equal(segs, 1); /* Nagle: one small segment in flight */
        else
            assert_int_equal(segs, 10);
        uint8_t b[10];
        pop_exact(&p, p.b, d, b, 10);
    }
    pair_destroy(&p);
}

/* The server end d closes; what the peer c's pending pop gets. */
static demi_qresult_t peer_pop_after_close(struct pair *p, int c, int d)
{
    demi_qtoken_t qt;
    assert_int_equal(dm_pop(p->a, &qt, c), 0);
    assert_int_equal(dm_close(p->b, d), 0);
    return pair_wait(p, p->a, qt, DM_NS_PER_S);
}

static void leave_data_unread(struct pair *p, int c, int d)
{
    (void)d;
    push_bytes(p->a, c, "unread", 6);
    pair_run_for(p, 2 * DM_NS_PER_MS);
}

/* SO_LINGER {1, 0} resets as Linux; the preload sets it on a close with
 * bytes its own buffers hold unread, which the stack never sees. */
static void set_linger_zero(struct pair *p, int c, int d)
{
    (void)c;
    struct linger lg = { 1, 0 };
    assert_int_equal(dm_setsockopt(p->b, d, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
}

/* After prep, the server end's close resets: the peer's pop fails. */
static void close_resets_the_peer(void (*prep)(struct pair *, int, int))
{
    struct pair p;
    pair_create(&p, NULL, NULL);
    int lqd = tcp_listener(p.b, IP_B, 80, 8), c, d;
    tcp_connect_pair(&p, lqd, 80, &c, &d);
    prep(&p, c, d);
    demi_qresult_t qr = peer_pop_after_close(&p, c, d);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_FAILED);
    assert_int_equal(qr.qr_ret, ECONNRESET);
    pair_destroy(&p);
}

static void test_tcp_close_with_unread_data_resets_the_peer(void **s)
{
    (void)s;
    close_resets_the_peer(leave_data_unread);
}

static void test_tcp_close_with_linger_zero_resets_the_peer(void **s)
{
    (void)s;
    close_resets_the_peer(set_linger_zero);
}

/* l_linger > 0 (or off) closes with a FIN: the peer reads end of stream. */
static void test_tcp_close_with_linger_nonzero_sends_fin(void **s)
{
    (void)s;
    struct pair p;
    pair_create(&p, NULL, NULL);
    int lqd = tcp_listener(p.b, IP_B, 80, 8), c, d;
    tcp_connect_pair(&p, lqd, 80, &c, &d);
    struct linger lg = { 1, 0 };
    assert_int_equal(dm_setsockopt(p.b, d, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    lg.l_linger = 5;
    assert_int_equal(dm_setsockopt(p.b, d, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    assert_int_equal(dm_setsockopt(p.b, d, SOL_SOCKET, SO_LINGER, &lg, sizeof(int)), -EINVAL);
    demi_qresult_t qr = peer_pop_after_close(&p, c, d);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
    assert_int_equal(qr.qr_value.sga.sga_numsegs, 0); /* EOF */
    pair_destroy(&p);
}

/* A connection closed with data still to send is the stack's business
 * until its FIN is acknowledged (ops->tx_busy): a process that exits
 * (the preload polls at exit while it says so) must not drop that data. */
static bool tx_idle(void *arg)
{
    return !dm_instance_tx_busy(arg);
}

static void test_tcp_closed_with_data_in_flight_is_busy_until_its_fin_is_acked(void **s)
{
    (void)s;
    struct pair p;
    pair_create(&p, NULL, NULL);
    int lqd = tcp_listener(p.b, IP_B, 80, 8), c, d;
    tcp_connect_pair(&p, lqd, 80, &c, &d);
    assert_false(dm_instance_tx_busy(p.b));
    size_t len = 1u << 20, got = 0;
    uint8_t *data = malloc(len);
    assert_non_null(data);
    for (size_t i = 0; i < len; i++)
        data[i] = (uint8_t)(i * 7);
    push_bytes(p.b, d, data, len);
    assert_int_equal(dm_close(p.b, d), 0);
    assert_true(dm_instance_tx_busy(p.b)); /* nothing was polled: all of it is ours */
    for (;;) {
        demi_qtoken_t qt;
        assert_int_equal(dm_pop(p.a, &qt, c), 0);
        demi_qresult_t qr = pair_wait(&p, p.a, qt, 5 * DM_NS_PER_S);
        assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
        const demi_sgarray_t *sga = &qr.qr_value.sga;
        if (sga->sga_numsegs == 0)
            break; /* the FIN, after every byte */
        for (uint32_t i = 0; i < sga->sga_numsegs; i++) {
            assert_true(got + sga->sga_segs[i].sgaseg_len <= len);
            assert_memory_equal(sga->sga_segs[i].sgaseg_buf, data + got, sga->sga_segs[i].sgaseg_len);
            got += sga->sga_segs[i].sgaseg_len;
        }
        dm_sgafree(p.a, &qr.qr_value.sga);
    }
    assert_int_equal(got, len);
    assert_true(pair_run_until(&p, tx_idle, p.b, DM_NS_PER_S));
    free(data);
    pair_destroy(&p);
}

/* TCP_INFO as Linux fills it, from our connection's own state. */
static void test_tcp_info_reports_state_rtt_mss_and_window(void **s)
{
    (void)s;
    struct pair p;
    pair_create(&p, NULL, NULL);
    int lqd = tcp_listener(p.b, IP_B, 80, 8), c, d;
    tcp_connect_pair(&p, lqd, 80, &c, &d);
    static uint8_t data[64 * 1024];
    demi_qtoken_t pt = push_bytes(p.a, c, data, sizeof(data));
    size_t got = 0;
    while (got < sizeof(data)) {
        demi_qtoken_t qt;
        assert_int_equal(dm_pop(p.b, &qt, d), 0);
        demi_qresult_t qr = pair_wait(&p, p.b, qt, DM_NS_PER_S);
        assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
        for (uint32_t i = 0; i < qr.qr_value.sga.sga_numsegs; i++)
            got += qr.qr_value.sga.sga_segs[i].sgaseg_len;
        dm_sgafree(p.b, &qr.qr_value.sga);
    }
    assert_int_equal(pair_wait(&p, p.a, pt, DM_NS_PER_S).qr_opcode, DEMI_OPC_PUSH);
    pair_run_for(&p, 2 * DM_NS_PER_MS);
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    assert_int_equal(dm_getsockopt(p.a, c, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
    assert_int_equal(len, sizeof(ti));
    assert_int_equal(ti.tcpi_state, TCP_ESTABLISHED);
    assert_true(ti.tcpi_options & TCPI_OPT_SACK);
    assert_true(ti.tcpi_options & TCPI_OPT_TIMESTAMPS);
    assert_true(ti.tcpi_options & TCPI_OPT_WSCALE);
    assert_int_equal(ti.tcpi_snd_mss, 1460 - 12); /* MTU 1500, timestamps on */
    assert_true(ti.tcpi_rtt > 0 && ti.tcpi_rto >= ti.tcpi_rtt);
    assert_true(ti.tcpi_snd_cwnd >= 10);
    assert_int_equal(ti.tcpi_unacked, 0);
    len = 8; /* a short buffer gets the start, as Linux */
    assert_int_equal(dm_getsockopt(p.a, c, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
    assert_int_equal(len, 8);
    assert_int_equal(dm_close(p.b, d), 0);
    pair_run_for(&p, 2 * DM_NS_PER_MS);
    len = sizeof(ti);
    assert_int_equal(dm_getsockopt(p.a, c, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
    assert_int_equal(ti.tcpi_state, TCP_CLOSE_WAIT);
    pair_destroy(&p);
}

/* Sends len bytes c -> d, the receiver taking everything as it comes
 * (64 pops posted: a pop takes one segment). */
static void stream_one_way(struct pair *p, int c, int d, size_t len)
{
    static uint8_t chunk[256 * 1024];
    size_t sent = 0, got = 0;
    demi_qtoken_t pt = 0, qt[64];
    bool pushing = false;
    for (int i = 0; i < 64; i++)
        assert_int_equal(dm_pop(p->b, &qt[i], d), 0);
    int64_t deadline = dm_clock_ns() + 30 * DM_NS_PER_S;
    while (got < len) {
        assert_true(dm_clock_ns() < deadline);
        if (!pushing && sent < len) {
            size_t n = DM_MIN(sizeof(chunk), len - sent);
            pt = push_bytes(p->a, c, chunk, n);
            sent += n;
            pushing = true;
        }
        pair_poll(p);
        demi_qresult_t qr;
        if (pushing && token_done(p->a, pt)) {
            assert_int_equal(dm_wait(p->a, &qr, pt, 0), 0);
            assert_int_equal(qr.qr_opcode, DEMI_OPC_PUSH);
            pushing = false;
        }
        for (int i = 0; i < 64; i++) {
            if (!token_done(p->b, qt[i]))
                continue;
            assert_int_equal(dm_wait(p->b, &qr, qt[i], 0), 0);
            assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
            for (uint32_t k = 0; k < qr.qr_value.sga.sga_numsegs; k++)
                got += qr.qr_value.sga.sga_segs[k].sgaseg_len;
            dm_sgafree(p->b, &qr.qr_value.sga);
            assert_int_equal(dm_pop(p->b, &qt[i], d), 0);
        }
    }
}

static int rcvbuf_of(struct dm_instance *inst, int qd)
{
    int v = 0;
    socklen_t l = sizeof(v);
    assert_int_equal(dm_getsockopt(inst, qd, SOL_SOCKET, SO_RCVBUF, &v, &l), 0);
    return v;
}

/* Receive buffer auto-tuning: a receiver that keeps up with a sender
 * limited by its window grows the window (up to DEMI_TCP_RCVBUF_MAX);
 * one whose application set SO_RCVBUF (here on the listener: accepted
 * connections inherit it) keeps that size. */
static void test_tcp_rcvbuf_grows_for_a_reader_that_keeps_up_unless_set(void **s)
{
    (void)s;
    struct pair p;
    const char *kv[] = { "DEMI_TCP_RCVBUF_MAX", "2m", NULL };
    pair_create(&p, NULL, kv);
    int lqd = tcp_listener(p.b, IP_B, 80, 8), c, d;
    tcp_connect_pair(&p, lqd, 80, &c, &d);
    assert_int_equal(rcvbuf_of(p.b, d), 256 * 1024);
    stream_one_way(&p, c, d, 32u << 20);
    int grown = rcvbuf_of(p.b, d);
    assert_true(grown > 256 * 1024);
    assert_true(grown <= 2 * 1024 * 1024);
    assert_true(stat_of(p.b, "tcp.rcvbuf_grow") > 0);
    assert_int_equal(dm_close(p.a, c), 0);
    assert_int_equal(dm_close(p.b, d), 0);

    int l2 = tcp_listener(p.b, IP_B, 81, 8), c2, d2, v = 64 * 1024;
    assert_int_equal(dm_setsockopt(p.b, l2, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)), 0);
    tcp_connect_pair(&p, l2, 81, &c2, &d2);
    int64_t grows = stat_of(p.b, "tcp.rcvbuf_grow");
    stream_one_way(&p, c2, d2, 8u << 20);
    assert_int_equal(rcvbuf_of(p.b, d2), 128 * 1024); /* doubled, as Linux */
    assert_int_equal(stat_of(p.b, "tcp.rcvbuf_grow"), grows);
    pair_destroy(&p);
}

static void test_tcp_keepalive_probes_then_drops_a_dead_peer(void **s)
{
    (void)s;
    struct pair p;
    pair_create(&p, NULL, NULL);
    int lqd = tcp_listener(p.b, IP_B, 80, 8), c, d;
    tcp_connect_pair(&p, lqd, 80, &c, &d);
    int one = 1;
    assert_int_equal(dm_setsockopt(p.a, c, IPPROTO_TCP, TCP_KEEPIDLE, &one, sizeof(one)), 0);
    assert_int_equal(dm_setsockopt(p.a, c, IPPROTO_TCP, TCP_KEEPINTVL, &one, sizeof(one)), 0);
    assert_int_equal(dm_setsockopt(p.a, c, IPPROTO_TCP, TCP_KEEPCNT, &one, sizeof(one)), 0);
    assert_int_equal(dm_setsockopt(p.a, c, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)), 0);
    pair_run_for(&p, 1300 * DM_NS_PER_MS);
    assert_true(stat_of(p.a, "tcp.tx_keepalive") >= 1);
    assert_int_equal(pcb_of(p.a, c)->state, TCPS_ESTABLISHED); /* the peer answered */
    /* Now the peer goes silent (b is no longer polled). */
    demi_qtoken_t qt;
    assert_int_equal(dm_pop(p.a, &qt, c), 0);
    int64_t end = dm_clock_ns() + 5 * DM_NS_PER_S;
    while (!token_done(p.a, qt) && dm_clock_ns() < end)
        dm_poll(p.a, 0);
    demi_qresult_t qr;
    assert_int_equal(dm_wait(p.a, &qr, qt, 0), 0);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_FAILED);
    assert_int_equal(qr.qr_ret, ETIMEDOUT);
    assert_int_equal(stat_of(p.a, "tcp.conn_keepalive_drop"), 1);
    pair_destroy(&p);
}

static void test_tcp_congestion_control_selectable(void **s)
{
    (void)s;
    const char *kv[] = {"DEMI_TCP_CC", "newreno", NULL};
    struct pair p;
    pair_create(&p, NULL, kv);
    int q;
    assert_int_equal(dm_socket(p.a, &q, AF_INET, SOCK_STREAM, 0), 0);
    char name[16];
    socklen_t l = sizeof(name);
    assert_int_equal(dm_getsockopt(p.a, q, IPPROTO_TCP, TCP_CONGESTION, name, &l), 0);
    assert_string_equal(name, "newreno");
    assert_int_equal(dm_setsockopt(p.a, q, IPPROTO_TCP, TCP_CONGESTION, "cubic", 6), 0);
    l = sizeof(name);
    assert_int_equal(dm_getsockopt(p.a, q, IPPROTO_TCP, TCP_CONGESTION, name, &l), 0);
    assert_string_equal(name, "cubic");
    assert_int_equal(dm_setsockopt(p.a, q, IPPROTO_TCP, TCP_CONGESTION, "bbr", 4), -ENOENT);
    pair_destroy(&p);
}

static void test_tcp_bad_config_is_einval(void **s)
{
    (void)s;
    const char *bad[][2] = {{"DEMI_IPV4", "10.0.0.300/24"}, {"DEMI_IPV4", "10.0.0.1/40"},
                            {"DEMI_GATEWAY", "192.168.1.1"}, {"DEMI_TCP_CC", "vegas"},
                            {"DEMI_MAC", "zz:00:00:00:00:01"}, {"DEMI_ARP", "10.0.0.2"},
                            {"DEMI_TCP_MAX_CONNS", "0"}};
    for (size_t i = 0; i < DM_ARRAY_SIZE(bad); i++) {
        struct dm_config c;
        dm_config_init(&c);
        dm_config_set(&c, "DEMI_BACKEND", "loop");
        dm_config_set(&c, bad[i][0], bad[i][1]);
        struct dm_instance *inst = NULL;
        assert_int_equal(dm_instance_create(&c, &inst), -EINVAL);
    }
}

static void test_tcp_simultaneous_open_connects_both_ends(void **s)
{
    (void)s;
    struct pair p;
    pair_create(&p, NULL, NULL);
    int qa, qb;
    assert_int_equal(dm_socket(p.a, &qa, AF_INET, SOCK_STREAM, 0), 0);
    assert_int_equal(dm_socket(p.b, &qb, AF_INET, SOCK_STREAM, 0), 0);
    struct sockaddr_in la = sin_of(IP_A, 5000), lb = sin_of(IP_B, 6000);
    assert_int_equal(dm_bind(p.a, qa, (struct sockaddr *)&la, sizeof(la)), 0);
    assert_int_equal(dm_bind(p.b, qb, (struct sockaddr *)&lb, sizeof(lb)), 0);
    demi_qtoken_t ca, cb;
    assert_int_equal(dm_connect(p.a, &ca, qa, (struct sockaddr *)&lb, sizeof(lb)), 0);
    assert_int_equal(dm_connect(p.b, &cb, qb, (struct sockaddr *)&la, sizeof(la)), 0);
    /* both SYNs are on the wire before either side reads */
    inet_tx_flush(stack_of(p.a));
    inet_tx_flush(stack_of(p.b));
    demi_qresult_t qr = pair_wait(&p, p.a, ca, DM_NS_PER_S);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_CONNECT);
    qr = pair_wait(&p, p.b, cb, DM_NS_PER_S);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_CONNECT);
    assert_int_equal(pcb_of(p.a, qa)->state, TCPS_ESTABLISHED);
    assert_int_equal(pcb_of(p.b, qb)->state, TCPS_ESTABLISHED);
    push_bytes(p.a, qa, "sim", 3);
    uint8_t b[3];
    pop_exact(&p, p.b, qb, b, 3);
    assert_memory_equal(b, "sim", 3);
    pair_destroy(&p);
}

/* 1 MiB from a to b over a link that corrupts 2% of frames, the loop
 * device's checksum offload on: byte-exact, the corrupted frames caught
 * (returns b's count of frames dropped as bad). */
static int64_t offload_transfer_kv(struct pair *p, bool v6, const char *faults, const char *const *kv)
{
    pair_create(p, faults, kv);
    assert_true(v6 ? stack_of(p->a)->tx_l4_csum6 : stack_of(p->a)->tx_tcp_csum);
    int lqd = v6 ? tcp_listener6(p->b, "::", 80, 8) : tcp_listener(p->b, IP_B, 80, 8), c, d;
    if (v6)
        tcp_connect_pair6(p, lqd, 80, &c, &d);
    else
        tcp_connect_pair(p, lqd, 80, &c, &d);
    static uint8_t data[1 << 20], back[1 << 20];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * (v6 ? 29 : 31) + (i >> 9));
    for (size_t off = 0; off < sizeof(data); off += 1900)
        push_bytes(p->a, c, data + off, DM_MIN(1900u, sizeof(data) - off));
    pop_exact(p, p->b, d, back, sizeof(back));
    assert_memory_equal(data, back, sizeof(data));
    return stat_of(p->b, "tcp.rx_bad_csum") + stat_of(p->b, "ip.rx_bad_csum") + stat_of(p->b, "eth.rx_not_ours") +
           stat_of(p->b, "ip.rx_bad_len") + stat_of(p->b, "ip.rx_not_ours") + stat_of(p->b, "tcp.rx_bad_off");
}

static int64_t offload_transfer(struct pair *p, bool v6, const char *faults)
{
    const char *kv[] = {"DEMI_LOOP_CSUM_OFFLOAD", "1", NULL};
    return offload_transfer_kv(p, v6, faults, kv);
}

/* TCP segmentation offload (DEMI_LOOP_TSO): new data leaves in frames of
 * several segments that the device cuts up (l2tso.c). Over a clean link
 * every such frame is cut by the loop device and b sees MSS-sized
 * segments only; through drops, reordering, duplicates and corruption
 * (the fault wrapper cuts the frames first and faults the segments) 1 MiB
 * still arrives byte-exact over IPv4 and IPv6, the retransmissions going
 * as single segments. DEMI_TSO=0 sends one segment a frame. */
static void test_tcp_sends_tso_frames_the_device_cuts_up(void **s)
{
    (void)s;
    const char *kv[] = {"DEMI_LOOP_TSO", "1", NULL};
    struct pair p;
    assert_int_equal(offload_transfer_kv(&p, false, NULL, kv), 0);
    struct inet_stack *sa = stack_of(p.a);
    assert_true(sa->tx_tso && sa->tx_tso6);
    int64_t frames = stat_of(p.a, "tcp.tx_tso"), segs = stat_of(p.a, "tcp.tx_tso_segs");
    assert_true(frames > 0);
    assert_true(segs >= 2 * frames);
    assert_int_equal(stat_of(p.a, "loop.tx_tso"), frames);
    assert_int_equal(stat_of(p.a, "loop.tx_bad"), 0);
    /* b received segments, never a frame above its MTU */
    assert_true(stat_of(p.b, "tcp.rx") >= (1 << 20) / 1448);
    assert_true(stat_of(p.b, "tcp.rx_data_bytes") >= (1 << 20));
    pair_destroy(&p);

    for (int v6 = 0; v6 <= 1; v6++) {
        assert_true(offload_transfer_kv(&p, v6, "corrupt=0.02,drop=0.01,reorder=0.02,dup=0.01,seed=9", kv) > 0);
        assert_true(stat_of(p.a, "tcp.tx_tso") > 0);
        assert_true(stat_of(p.a, "tcp.tx_retrans") > 0);
        assert_int_equal(stat_of(p.a, "loop.tx_bad"), 0);
        pair_destroy(&p);
    }

    const char *off[] = {"DEMI_LOOP_TSO", "1", "DEMI_TSO", "0", NULL};
    assert_int_equal(offload_transfer_kv(&p, false, NULL, off), 0);
    assert_int_equal(stat_of(p.a, "tcp.tx_tso"), 0);
    pair_destroy(&p);
}

static void test_tcp_uses_device_checksum_offload_and_still_rejects_corruption(void **s)
{
    (void)s;
    struct pair p;
    assert_true(offload_transfer(&p, false, "corrupt=0.02,drop=0.01,seed=3") > 0);
    pair_destroy(&p);
}

/* The same over IPv6, which the device also offloads
 * (DM_DEV_CAP_TX_L4_CKSUM6): the loop device fills what the stack left
 * (the pseudo-header sum preloaded) and verifies on receive with its own
 * pseudo-header, so a wrong preload or fill fails the byte check; the
 * corrupted frames are caught. A UDP datagram goes the same way. */
static void test_tcp_uses_device_checksum_offload_over_ipv6_and_still_rejects_corruption(void **s)
{
    (void)s;
    const char *kv[] = {"DEMI_LOOP_CSUM_OFFLOAD", "1", NULL};
    struct pair p;
    assert_true(offload_transfer(&p, true, "corrupt=0.02,drop=0.01,seed=5") > 0);
    pair_destroy(&p);

    pair_create(&p, NULL, kv);
    int ua, ub;
    udp_pair_bound(&p, true, &ua, &ub);
    struct sockaddr_in6 to = sin6_of(IP6_B, 2222);
    udp_roundtrip_whole(&p, ua, ub, (struct sockaddr *)&to, sizeof(to), 1200, 7);
    assert_int_equal(stat_of(p.b, "udp.rx_bad_csum"), 0);
    pair_destroy(&p);
}

static void test_tcp_delayed_ack_when_configured(void **s)
{
    (void)s;
    /* RTO floor above the delayed-ACK timeout, as on Linux (200 ms vs 40 ms) */
    const char *kv[] = {"DEMI_TCP_DELACK_MS", "40", "DEMI_TCP_RTO_MIN_MS", "200", NULL};
    struct pair p;
    pair_create(&p, NULL, kv);
    int lqd = tcp_listener(p.b, IP_B, 80, 8), c, d;
    tcp_connect_pair(&p, lqd, 80, &c, &d);
    pair_run_for(&p, 2 * DM_NS_PER_MS);
    int64_t acks = stat_of(p.b, "tcp.tx_ack");
    push_bytes(p.a, c, "one", 3);
    pair_run_for(&p, 10 * DM_NS_PER_MS);
    if (stat_of(p.b, "tcp.tx_ack") != acks)
        dm_stats_dump(p.b, stderr, 0);
    assert_int_equal(stat_of(p.b, "tcp.tx_ack"), acks); /* held back */
    assert_int_equal(pcb_of(p.a, c)->snd_una + 3, pcb_of(p.a, c)->snd_nxt);
    pair_run_for(&p, 60 * DM_NS_PER_MS);
    assert_int_equal(stat_of(p.b, "tcp.tx_ack"), acks + 1); /* the timer sent it */
    assert_int_equal(pcb_of(p.a, c)->snd_una, pcb_of(p.a, c)->snd_nxt);
    pair_destroy(&p);
}

/* One request and its answer, the answer sent `answer_after` ns after b
 * got the request (b and a polling meanwhile). */
static void ping_pong(struct pair *p, int c, int d, int64_t answer_after)
{
    demi_qtoken_t qt;
    push_bytes(p->a, c, "request", 7);
    assert_int_equal(dm_pop(p->b, &qt, d), 0);
    demi_qresult_t qr = pair_wait(p, p->b, qt, DM_NS_PER_S);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
    dm_sgafree(p->b, &qr.qr_value.sga);
    if (answer_after)
        pair_run_for(p, answer_after);
    push_bytes(p->b, d, "answer", 6);
    assert_int_equal(dm_pop(p->a, &qt, c), 0);
    qr = pair_wait(p, p->a, qt, DM_NS_PER_S);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
    dm_sgafree(p->a, &qr.qr_value.sga);
}

/* Without a delayed-ACK timer, data is ACKed by the answer when the
 * application answers before the stack's next poll (a request/response
 * peer): no pure ACK per request. Once answers have carried its ACKs
 * (TF_PINGPONG), an ACK with no answer waits for one up to
 * TCP_ACK_PINGPONG_NS, then goes alone and ends the mode (as Linux's
 * delayed-ACK timer does); out of it, data is ACKed at the next poll. */
static void test_tcp_answer_carries_the_ack_no_pure_ack_per_request(void **s)
{
    (void)s;
    const char *kv[] = {"DEMI_TCP_RTO_MIN_MS", "200", NULL}; /* Linux's floor: the full wait */
    struct pair p;
    pair_create(&p, NULL, kv);
    int lqd = tcp_listener(p.b, IP_B, 80, 8), c, d;
    tcp_connect_pair(&p, lqd, 80, &c, &d);
    pair_run_for(&p, 2 * DM_NS_PER_MS);
    int64_t acks_a = stat_of(p.a, "tcp.tx_ack"), acks_b = stat_of(p.b, "tcp.tx_ack");
    for (int i = 0; i < 50; i++)
        ping_pong(&p, c, d, 0); /* answered before b polls again */
    if (stat_of(p.b, "tcp.tx_ack") - acks_b > 5 || stat_of(p.a, "tcp.tx_ack") - acks_a > 5) {
        dm_stats_dump(p.a, stderr, 0);
        dm_stats_dump(p.b, stderr, 0);
    }
    assert_true(stat_of(p.b, "tcp.tx_ack") - acks_b <= 5); /* 50 without the answer carrying it */
    assert_true(stat_of(p.a, "tcp.tx_ack") - acks_a <= 5);
    /* nobody answers */
    assert_true(pcb_of(p.b, d)->flags & TF_PINGPONG);
    push_bytes(p.a, c, "more", 4);
    /* 1 ms of the 10: real time, so a 9 ms stall of this process (a busy
     * CI machine) is what it takes to see the ACK already gone */
    pair_run_for(&p, DM_NS_PER_MS);
    assert_int_equal(pcb_of(p.a, c)->snd_una + 4, pcb_of(p.a, c)->snd_nxt); /* waiting */
    assert_true(dm_timer_pending(&pcb_of(p.b, d)->delack_timer));
    pair_run_for(&p, TCP_ACK_PINGPONG_NS);
    assert_int_equal(pcb_of(p.a, c)->snd_una, pcb_of(p.a, c)->snd_nxt);
    assert_false(pcb_of(p.b, d)->flags & TF_PINGPONG);
    assert_int_equal(stat_of(p.a, "tcp.tx_retrans"), 0);
    push_bytes(p.a, c, "again", 5);
    pair_run_for(&p, DM_NS_PER_MS);
    assert_int_equal(pcb_of(p.a, c)->snd_una, pcb_of(p.a, c)->snd_nxt);
    pair_destroy(&p);
}

/* A busy server answers a request after polling many times (nginx over
 * XDP: ~2 ms after it came, the requests queued before it first): once
 * its answers carry its ACKs, the ACK waits for the answer however many
 * polls come between (a pure ACK per request before: half its frames).
 * Two data segments unanswered are ACKed at once. With a low
 * retransmission floor (this harness's 5 ms) the wait is a fifth of it, so
 * a peer of ours never retransmits for it. */
static void test_tcp_slow_answer_carries_the_ack_in_pingpong_mode(void **s)
{
    (void)s;
    const char *kv[] = {"DEMI_TCP_RTO_MIN_MS", "200", NULL};
    struct pair p;
    pair_create(&p, NULL, kv);
    int lqd = tcp_listener(p.b, IP_B, 80, 8), c, d;
    tcp_connect_pair(&p, lqd, 80, &c, &d);
    pair_run_for(&p, 2 * DM_NS_PER_MS);
    int64_t acks_b = stat_of(p.b, "tcp.tx_ack");
    for (int i = 0; i < 20; i++)
        ping_pong(&p, c, d, 2 * DM_NS_PER_MS); /* polls, polls: the answer takes its time */
    int64_t pure = stat_of(p.b, "tcp.tx_ack") - acks_b;
    if (pure > 1)
        dm_stats_dump(p.b, stderr, 0);
    assert_true(pure <= 1); /* the first request's, before the mode: 20 before */
    /* two segments with no answer: ACKed at once (a without Nagle, which
     * would hold the second until the first's ACK: Linux's 40 ms, our
     * TCP_ACK_PINGPONG_NS) */
    int one = 1;
    assert_int_equal(dm_setsockopt(p.a, c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
    int64_t acks = stat_of(p.b, "tcp.tx_ack");
    push_bytes(p.a, c, "one", 3);
    pair_run_for(&p, DM_NS_PER_MS);
    push_bytes(p.a, c, "two", 3);
    pair_run_for(&p, DM_NS_PER_MS);
    assert_int_equal(pcb_of(p.a, c)->snd_una, pcb_of(p.a, c)->snd_nxt);
    assert_int_equal(stat_of(p.b, "tcp.tx_ack"), acks + 1);
    pair_destroy(&p);

    /* the harness's floor of 5 ms: an unanswered request is ACKed within
     * 1 ms, before the sender would retransmit it */
    pair_create(&p, NULL, NULL);
    lqd = tcp_listener(p.b, IP_B, 80, 8);
    tcp_connect_pair(&p, lqd, 80, &c, &d);
    for (int i = 0; i < 3; i++)
        ping_pong(&p, c, d, 0);
    assert_true(pcb_of(p.b, d)->flags & TF_PINGPONG);
    push_bytes(p.a, c, "more", 4);
    pair_run_for(&p, 2 * DM_NS_PER_MS);
    assert_int_equal(pcb_of(p.a, c)->snd_una, pcb_of(p.a, c)->snd_nxt);
    assert_int_equal(stat_of(p.a, "tcp.tx_retrans"), 0);
    pair_destroy(&p);
}

static void test_tcp_pop_returns_one_sga_segment_even_for_chained_segments(void **s)
{
    (void)s;
    struct pair p;
    pair_create(&p, NULL, NULL);
    int lqd = tcp_listener(p.b, IP_B, 80, 8), c, d;
    tcp_connect_pair(&p, lqd, 80, &c, &d);
    uint8_t data[1000];
    for (int i = 0; i < 1000; i++)
        data[i] = (uint8_t)(i * 13);
    for (int i = 0; i < 10; i++)
        push_bytes(p.a, c, data + i * 100, 100); /* leave in one segment of 10 slices */
    int64_t tx0 = stat_of(p.a, "tcp.tx");
    uint8_t got[1000];
    size_t n = 0;
    while (n < sizeof(got)) {
        demi_qresult_t qr = pop_one(&p, p.b, d);
        assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
        assert_int_equal(qr.qr_value.sga.sga_numsegs, 1);
        memcpy(got + n, qr.qr_value.sga.sga_segs[0].sgaseg_buf, qr.qr_value.sga.sga_segs[0].sgaseg_len);
        n += qr.qr_value.sga.sga_segs[0].sgaseg_len;
        dm_sgafree(p.b, &qr.qr_value.sga);
    }
    assert_int_equal(stat_of(p.a, "tcp.tx") - tx0, 1); /* one segment carried all ten pushes */
    assert_memory_equal(got, data, sizeof(data));
    pair_destroy(&p);
}

/* Pops on qd until len bytes came, byte for byte against want; the most
 * segments any pop returned. */
static uint32_t pop_all_segs(struct pair *p, int qd, const uint8_t *want, size_t len, uint32_t max_segs)
{
    static uint8_t got[65536];
    size_t n = 0;
    uint32_t most = 0;
    assert_true(len <= sizeof(got));
    while (n < len) {
        demi_qresult_t qr = pop_one(p, p->b, qd);
        assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
        demi_sgarray_t *sga = &qr.qr_value.sga;
        assert_true(sga->sga_numsegs >= 1 && sga->sga_numsegs <= max_segs);
        most = sga->sga_numsegs > most ? sga->sga_numsegs : most;
        for (uint32_t i = 0; i < sga->sga_numsegs; i++) {
            assert_true(sga->sga_segs[i].sgaseg_len > 0);
            assert_true(n + sga->sga_segs[i].sgaseg_len <= len);
            memcpy(got + n, sga->sga_segs[i].sgaseg_buf, sga->sga_segs[i].sgaseg_len);
            n += sga->sga_segs[i].sgaseg_len;
        }
        dm_sgafree(p->b, sga);
    }
    assert_memory_equal(got, want, len);
    return most;
}

static void test_tcp_pop_segs_option_takes_a_burst_in_one_pop(void **s)
{
    (void)s;
    struct pair p;
    pair_create(&p, NULL, NULL);
    int lqd = tcp_listener(p.b, IP_B, 80, 8), c, d, v = 0;
    socklen_t l = sizeof(v);
    /* bad values are EINVAL, other names ENOPROTOOPT, as Linux's options */
    v = 0;
    assert_int_equal(dm_setsockopt(p.b, lqd, SOL_DEMI, DEMI_SO_POP_SEGS, &v, sizeof(v)), -EINVAL);
    v = DEMI_SGARRAY_MAXSIZE + 1;
    assert_int_equal(dm_setsockopt(p.b, lqd, SOL_DEMI, DEMI_SO_POP_SEGS, &v, sizeof(v)), -EINVAL);
    v = 4;
    assert_int_equal(dm_setsockopt(p.b, lqd, SOL_DEMI, DEMI_SO_POP_SEGS, &v, 2), -EINVAL);
    assert_int_equal(dm_setsockopt(p.b, lqd, SOL_DEMI, 99, &v, sizeof(v)), -ENOPROTOOPT);
    assert_int_equal(dm_getsockopt(p.b, lqd, SOL_DEMI, DEMI_SO_POP_SEGS, &v, &l), 0);
    assert_int_equal(v, 1); /* the default: one segment, as Demikernel */
    v = 4;
    assert_int_equal(dm_setsockopt(p.b, lqd, SOL_DEMI, DEMI_SO_POP_SEGS, &v, sizeof(v)), 0);
    tcp_connect_pair(&p, lqd, 80, &c, &d);
    v = 0;
    assert_int_equal(dm_getsockopt(p.b, d, SOL_DEMI, DEMI_SO_POP_SEGS, &v, &l), 0);
    assert_int_equal(v, 4); /* inherited from the listener */

    static uint8_t data[20000];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7 + i / 251);
    /* a pop already waiting when a burst of segments lands: it takes
     * several of them (delivered at the burst's end), not the first only */
    demi_qtoken_t qt;
    assert_int_equal(dm_pop(p.b, &qt, d), 0);
    push_bytes(p.a, c, data, 8000);
    demi_qresult_t qr = pair_wait(&p, p.b, qt, 5 * DM_NS_PER_S);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
    assert_true(qr.qr_value.sga.sga_numsegs > 1);
    uint32_t first = 0;
    for (uint32_t i = 0; i < qr.qr_value.sga.sga_numsegs; i++)
        first += qr.qr_value.sga.sga_segs[i].sgaseg_len;
    assert_memory_equal(qr.qr_value.sga.sga_segs[0].sgaseg_buf, data, qr.qr_value.sga.sga_segs[0].sgaseg_len);
    dm_sgafree(p.b, &qr.qr_value.sga);
    (void)pop_all_segs(&p, d, data + first, 8000 - first, 4); /* the rest, byte-exact */

    /* queued segments: pops of up to four each, byte-exact */
    push_bytes(p.a, c, data, sizeof(data));
    pair_run_for(&p, 5 * DM_NS_PER_MS);
    assert_int_equal(pop_all_segs(&p, d, data, sizeof(data), 4), 4);

    /* back to one segment a pop */
    v = 1;
    assert_int_equal(dm_setsockopt(p.b, d, SOL_DEMI, DEMI_SO_POP_SEGS, &v, sizeof(v)), 0);
    push_bytes(p.a, c, data, sizeof(data));
    pair_run_for(&p, 5 * DM_NS_PER_MS);
    assert_int_equal(pop_all_segs(&p, d, data, sizeof(data), 1), 1);
    pair_destroy(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_handshake_negotiates_mss_wscale_timestamps_sack),
        cmocka_unit_test(test_tcp_pop_segs_option_takes_a_burst_in_one_pop),
        cmocka_unit_test(test_tcp_mss_follows_jumbo_mtu),
        cmocka_unit_test(test_tcp_connect_to_closed_port_is_refused),
        cmocka_unit_test(test_tcp_connect_times_out_when_syns_go_unanswered),
        cmocka_unit_test(test_tcp_connect_errors_match_linux),
        cmocka_unit_test(test_tcp_half_close_peer_sees_eof_and_can_still_send),
        cmocka_unit_test(test_tcp_simultaneous_close_goes_through_closing_to_time_wait),
        cmocka_unit_test(test_tcp_time_wait_is_configurable_and_frees_the_port),
        cmocka_unit_test(test_tcp_listen_backlog_overflow_drops_syns_until_accept),
        cmocka_unit_test(test_tcp_push_stays_pending_while_over_sndbuf),
        cmocka_unit_test(test_tcp_shutdown_behind_pending_pushes_sends_them_first),
        cmocka_unit_test(test_tcp_nagle_coalesces_small_pushes_unless_nodelay),
        cmocka_unit_test(test_tcp_close_with_unread_data_resets_the_peer),
        cmocka_unit_test(test_tcp_closed_with_data_in_flight_is_busy_until_its_fin_is_acked),
        cmocka_unit_test(test_tcp_close_with_linger_zero_resets_the_peer),
        cmocka_unit_test(test_tcp_close_with_linger_nonzero_sends_fin),
        cmocka_unit_test(test_tcp_info_reports_state_rtt_mss_and_window),
        cmocka_unit_test(test_tcp_rcvbuf_grows_for_a_reader_that_keeps_up_unless_set),
        cmocka_unit_test(test_tcp_keepalive_probes_then_drops_a_dead_peer),
        cmocka_unit_test(test_tcp_congestion_control_selectable),
        cmocka_unit_test(test_tcp_bad_config_is_einval),
        cmocka_unit_test(test_tcp_simultaneous_open_connects_both_ends),
        cmocka_unit_test(test_tcp_uses_device_checksum_offload_and_still_rejects_corruption),
        cmocka_unit_test(test_tcp_sends_tso_frames_the_device_cuts_up),
        cmocka_unit_test(test_tcp_uses_device_checksum_offload_over_ipv6_and_still_rejects_corruption),
        cmocka_unit_test(test_tcp_delayed_ack_when_configured),
        cmocka_unit_test(test_tcp_answer_carries_the_ack_no_pure_ack_per_request),
        cmocka_unit_test(test_tcp_slow_answer_carries_the_ack_in_pingpong_mode),
        cmocka_unit_test(test_tcp_pop_returns_one_sga_segment_even_for_chained_segments),
    };
    if (getenv("TEST_FILTER"))
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
