/* SPDX-License-Identifier: MIT */
/*
 * uring backend, limits and lifetimes: receive backpressure (multishot
 * paused when nobody pops), an exhausted buffer ring (ENOBUFS, then
 * recovery), a tiny submission ring, close with requests in flight (run it
 * under ASan: no op or buffer may be touched after close), an idle wait
 * that sleeps in the kernel, busy polling, and the wait fd.
 */
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <unistd.h>
#include "ur_test.h"

/* Client pushes `len` bytes in 64 KiB pushes while the server does not
 * pop; then the server pops all of it, checked byte for byte. */
static void push_unpopped_then_drain(struct dm_instance *inst, size_t len, int64_t idle_ns)
{
    uint16_t port;
    int l = ut_listen(inst, SOCK_STREAM, &port), c, s;
    ut_pair(inst, l, port, &c, &s);
    uint8_t *out = malloc(len), *in = malloc(len);
    assert_non_null(out);
    assert_non_null(in);
    ut_fill(out, len, 99);
    size_t npush = (len + 65535) / 65536;
    demi_qtoken_t *pts = calloc(npush, sizeof(*pts));
    for (size_t i = 0; i < npush; i++)
        pts[i] = ut_push(inst, c, out + i * 65536, DM_MIN(65536, len - i * 65536));
    /* Nobody pops for a while: the backend must hold back, not lose. */
    int64_t end = idle_ns;
    while (end > 0) {
        dm_poll(inst, 5 * 1000 * 1000);
        end -= 5 * 1000 * 1000;
    }
    ut_pop_exact(inst, s, in, len);
    assert_memory_equal(in, out, len);
    for (size_t i = 0; i < npush; i++)
        assert_int_equal(ut_wait(inst, pts[i]).qr_opcode, DEMI_OPC_PUSH);
    dm_close(inst, c);
    dm_close(inst, s);
    dm_close(inst, l);
    free(pts);
    free(out);
    free(in);
}

static void test_unpopped_data_pauses_multishot_and_is_not_lost(void **st)
{
    (void)st;
    struct dm_instance *inst = ut_instance("DEMI_URING_RX_QUEUE", "4", NULL);
    ut_skip_without(inst, UR_F_MULTISHOT_RECV);
    push_unpopped_then_drain(inst, 8u << 20, 100 * 1000 * 1000);
    assert_true(ut_stat(inst, "uring.rx_paused") > 0);
    dm_instance_destroy(inst);
}

static void test_empty_buffer_ring_enobufs_then_recovers(void **st)
{
    (void)st;
    /* 8 ring buffers and a queue limit above that: the ring runs dry
     * before the queue is full, so the kernel ends the multishot with
     * ENOBUFS; pops recycle buffers and re-arm it. */
    struct dm_instance *inst = ut_instance("DEMI_URING_BUF_COUNT", "8", "DEMI_URING_BUF_SIZE", "4096",
                                           "DEMI_URING_RX_QUEUE", "32", NULL);
    ut_skip_without(inst, UR_F_MULTISHOT_RECV);
    push_unpopped_then_drain(inst, 2u << 20, 50 * 1000 * 1000);
    assert_true(ut_stat(inst, "uring.rx_enobufs") > 0);
    dm_instance_destroy(inst);
}

/* Pushes 1 MiB on a fresh pair and pops it holding up to `hold` popped
 * arrays (ring buffers lent out) before giving them back in a burst;
 * every byte must arrive, in order. */
static void push_then_pop_holding(struct dm_instance *inst, int hold, uint32_t seed)
{
    uint16_t port;
    int l = ut_listen(inst, SOCK_STREAM, &port), c, s;
    ut_pair(inst, l, port, &c, &s);
    size_t len = 1u << 20;
    uint8_t *out = malloc(len), *in = malloc(len);
    ut_fill(out, len, seed);
    demi_qtoken_t pt = ut_push(inst, c, out, len);
    demi_sgarray_t held[32];
    assert_true(hold <= 32);
    int nheld = 0;
    size_t got = 0;
    while (got < len) {
        demi_sgarray_t sga = ut_pop_one(inst, s);
        for (uint32_t i = 0; i < sga.sga_numsegs; i++) {
            assert_true(got + sga.sga_segs[i].sgaseg_len <= len);
            memcpy(in + got, sga.sga_segs[i].sgaseg_buf, sga.sga_segs[i].sgaseg_len);
            got += sga.sga_segs[i].sgaseg_len;
        }
        held[nheld++] = sga;
        if (nheld == hold) { /* give back in bursts */
            for (int i = 0; i < nheld; i++)
                dm_sgafree(inst, &held[i]);
            nheld = 0;
        }
    }
    for (int i = 0; i < nheld; i++)
        dm_sgafree(inst, &held[i]);
    assert_memory_equal(in, out, len);
    ut_wait(inst, pt);
    dm_close(inst, c);
    dm_close(inst, s);
    dm_close(inst, l);
    free(out);
    free(in);
}

static void test_popped_buffers_held_by_app_starve_ring_without_loss(void **st)
{
    (void)st;
    /* The application keeps every popped array (ring buffers lent out)
     * until all data arrived: the ring is empty most of the time. */
    struct dm_instance *inst = ut_instance("DEMI_URING_BUF_COUNT", "16", "DEMI_URING_BUF_SIZE", "4096", NULL);
    push_then_pop_holding(inst, 12, 5);
    dm_instance_destroy(inst);
}

/* Pops `len` bytes on s, freeing each array at once; returns how many
 * distinct ring buffers the data came in. */
static int pop_count_buffers(struct dm_instance *inst, int s, const uint8_t *want, size_t len)
{
    int seen[256];
    int nseen = 0;
    size_t got = 0;
    while (got < len) {
        demi_sgarray_t sga = ut_pop_one(inst, s);
        for (uint32_t i = 0; i < sga.sga_numsegs; i++) {
            demi_sgaseg_t *g = &sga.sga_segs[i];
            assert_true(got + g->sgaseg_len <= len);
            assert_memory_equal(g->sgaseg_buf, want + got, g->sgaseg_len);
            got += g->sgaseg_len;
            int bid = dm_uring_buf_id(inst, g->sgaseg_buf);
            assert_true(bid >= 0); /* popped in place, not copied */
            int k = 0;
            while (k < nseen && seen[k] != bid)
                k++;
            if (k == nseen && nseen < 256)
                seen[nseen++] = bid;
        }
        dm_sgafree(inst, &sga);
    }
    return nseen;
}

static void test_receives_reuse_a_few_warm_buffers_not_the_whole_ring(void **st)
{
    (void)st;
    /* 64 ring buffers, 2 published at a time. An application that frees
     * what it popped gets its data in the same few buffers over and over
     * (the receive copies stay in cache), not in all 64 in turn. */
    struct dm_instance *inst = ut_instance("DEMI_URING_BUF_COUNT", "64", "DEMI_URING_BUF_SIZE", "4096",
                                           "DEMI_URING_BUF_HOT", "2", NULL);
    ut_skip_without(inst, UR_F_MULTISHOT_RECV);
    uint16_t port;
    int l = ut_listen(inst, SOCK_STREAM, &port), c, s;
    ut_pair(inst, l, port, &c, &s);
    size_t len = 1u << 20;
    uint8_t *out = malloc(len);
    ut_fill(out, len, 17);
    demi_qtoken_t pt = ut_push(inst, c, out, len);
    int nbufs = pop_count_buffers(inst, s, out, len);
    ut_wait(inst, pt);
    /* 256 buffers' worth went through; the two published, the one being
     * popped and one spare returned meanwhile are all it may take. */
    assert_true(nbufs >= 2);
    assert_true(nbufs <= 4);
    dm_close(inst, c);
    dm_close(inst, s);
    dm_close(inst, l);
    dm_instance_destroy(inst);
    free(out);
}

static void test_spare_buffers_serve_while_the_app_holds_chunks(void **st)
{
    (void)st;
    /* 2 published, 30 spares: the application holds 24 popped arrays at
     * a time. The spares are published as the kernel uses up buffers, so
     * the data keeps coming and none is lost. */
    struct dm_instance *inst = ut_instance("DEMI_URING_BUF_COUNT", "32", "DEMI_URING_BUF_SIZE", "4096",
                                           "DEMI_URING_BUF_HOT", "2", NULL);
    push_then_pop_holding(inst, 24, 23);
    dm_instance_destroy(inst);
}

/* Pushes len bytes (pattern seed) on c, waits until s's ring received
 * them all without popping, then pops once: the message must come whole. */
static void message_pops_whole(struct dm_instance *inst, int c, int s, size_t len, uint32_t seed)
{
    uint8_t *out = malloc(len);
    ut_fill(out, len, seed);
    int64_t before = ut_stat(inst, "uring.rx_bytes");
    demi_qtoken_t pt = ut_push(inst, c, out, len);
    for (int i = 0; i < 1000 && ut_stat(inst, "uring.rx_bytes") - before < (int64_t)len; i++)
        dm_poll(inst, 1000 * 1000);
    assert_int_equal(ut_stat(inst, "uring.rx_bytes") - before, (int64_t)len);
    demi_sgarray_t sga = ut_pop_one(inst, s);
    assert_int_equal(sga.sga_numsegs, 1);
    assert_int_equal(sga.sga_segs[0].sgaseg_len, len);
    assert_memory_equal(sga.sga_segs[0].sgaseg_buf, out, len);
    assert_true(dm_uring_buf_id(inst, sga.sga_segs[0].sgaseg_buf) >= 0); /* in the ring */
    dm_sgafree(inst, &sga);
    ut_wait(inst, pt);
    free(out);
}

static void split_messages_pop_whole(const char *disable)
{
    /* 4 KiB buffers (1 KiB of slack each side). */
    struct dm_instance *inst = ut_instance("DEMI_URING_BUF_COUNT", "8", "DEMI_URING_BUF_SIZE", "4096",
                                           "DEMI_URING_DISABLE", disable, NULL);
    ut_skip_without(inst, UR_F_MULTISHOT_RECV | UR_F_BUF_RING | (*disable ? 0 : UR_F_BUF_INC));
    uint32_t f = dm_uring_features(inst);
    uint16_t port;
    int l = ut_listen(inst, SOCK_STREAM, &port), c, s;
    ut_pair(inst, l, port, &c, &s);
    int64_t joined = ut_stat(inst, "uring.rx_joined");
    if (f & UR_F_BUF_INC) {
        /* Incremental: 3000 B fill buffer A to 3000; 1500 B split 1096 in A
         * + 404 in B: the 404 are copied after A's end. 3392 B fill B to
         * 3796; 2000 B split 300 in B + 1700 in C: the 300 are copied
         * before C's start. */
        message_pops_whole(inst, c, s, 3000, 1);
        message_pops_whole(inst, c, s, 1500, 2);
        message_pops_whole(inst, c, s, 3392, 3);
        message_pops_whole(inst, c, s, 2000, 4);
        assert_int_equal(ut_stat(inst, "uring.rx_joined") - joined, 2);
    } else {
        /* Whole buffers: 5000 B are 4096 in one and 904 in the next. */
        message_pops_whole(inst, c, s, 5000, 5);
        message_pops_whole(inst, c, s, 4500, 6);
        assert_int_equal(ut_stat(inst, "uring.rx_joined") - joined, 2);
    }
    /* A part bigger than the slack on both sides stays two pieces, and
     * nothing is lost: 6000 B at 4096 + 1904 (whole buffers), or wherever
     * the fill offset puts them. */
    size_t len = 3u * 4096u;
    uint8_t *out = malloc(len);
    ut_fill(out, len, 7);
    demi_qtoken_t pt = ut_push(inst, c, out, len);
    ut_pop_exact(inst, s, out, len);
    ut_wait(inst, pt);
    free(out);
    dm_close(inst, c);
    dm_close(inst, s);
    dm_close(inst, l);
    dm_instance_destroy(inst);
}

static void test_a_message_split_across_two_buffers_pops_as_one_piece(void **st)
{
    (void)st;
    split_messages_pop_whole("");
    split_messages_pop_whole("buf_inc");
}

static void test_out_of_buffer_headers_copies_instead_of_losing(void **st)
{
    (void)st;
    /* 64 bare headers; the app keeps 100 popped arrays: wrapping ring
     * buffers fails, chunks are copied into pool/heap buffers instead. */
    struct dm_instance *inst = ut_instance("DEMI_HDR_COUNT", "64", "DEMI_URING_BUF_COUNT", "256",
                                           "DEMI_URING_BUF_SIZE", "1024", NULL);
    uint16_t port;
    int l = ut_listen(inst, SOCK_STREAM, &port), c, s;
    ut_pair(inst, l, port, &c, &s);
    enum { N = 100, SZ = 1000 };
    static uint8_t out[N * SZ], in[N * SZ];
    ut_fill(out, sizeof(out), 3);
    demi_sgarray_t held[N * 2];
    int nheld = 0;
    size_t got = 0;
    demi_qtoken_t pt = ut_push(inst, c, out, sizeof(out)), qt; /* one header, before they run out */
    ut_wait(inst, pt);
    while (got < sizeof(out)) {
        assert_int_equal(dm_pop(inst, &qt, s), 0);
        demi_qresult_t qr = ut_wait(inst, qt);
        assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
        uint32_t n = qr.qr_value.sga.sga_segs[0].sgaseg_len;
        assert_true(got + n <= sizeof(out));
        memcpy(in + got, qr.qr_value.sga.sga_segs[0].sgaseg_buf, n);
        got += n;
        assert_true(nheld < N * 2);
        held[nheld++] = qr.qr_value.sga;
    }
    assert_memory_equal(in, out, sizeof(out));
    assert_true(ut_stat(inst, "uring.rx_copied") > 0);
    for (int i = 0; i < nheld; i++)
        dm_sgafree(inst, &held[i]);
    dm_close(inst, c);
    dm_close(inst, s);
    dm_close(inst, l);
    dm_instance_destroy(inst);
}

static void test_tiny_submission_ring_loses_no_request(void **st)
{
    (void)st;
    /* 8 SQ entries for 64 connections doing everything at once. */
    struct dm_instance *inst = ut_instance("DEMI_URING_ENTRIES", "8", NULL);
    uint16_t port;
    int l = ut_listen(inst, SOCK_STREAM, &port);
    enum { N = 64 };
    int c[N], s[N];
    demi_qtoken_t qt[2 * N];
    struct sockaddr_in sin = ut_addr(port);
    for (int i = 0; i < N; i++) {
        assert_int_equal(dm_socket(inst, &c[i], AF_INET, SOCK_STREAM, 0), 0);
        assert_int_equal(dm_accept(inst, &qt[N + i], l), 0);
        assert_int_equal(dm_connect(inst, &qt[i], c[i], (struct sockaddr *)&sin, sizeof(sin)), 0);
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(ut_wait(inst, qt[i]).qr_opcode, DEMI_OPC_CONNECT);
    for (int i = 0; i < N; i++)
        s[i] = ut_wait(inst, qt[N + i]).qr_value.ares.qd;
    uint8_t msg[4096], in[4096];
    for (int i = 0; i < N; i++) {
        ut_fill(msg, sizeof(msg), (uint32_t)i);
        qt[i] = ut_push(inst, c[i], msg, sizeof(msg));
        assert_int_equal(dm_pop(inst, &qt[N + i], s[i]), 0);
    }
    for (int i = 0; i < N; i++)
        ut_wait(inst, qt[i]);
    for (int i = 0; i < N; i++) {
        demi_qresult_t qr = ut_wait(inst, qt[N + i]);
        assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
        size_t n = qr.qr_value.sga.sga_segs[0].sgaseg_len;
        memcpy(in, qr.qr_value.sga.sga_segs[0].sgaseg_buf, n);
        dm_sgafree(inst, &qr.qr_value.sga);
        if (n < sizeof(in))
            ut_pop_exact(inst, s[i], in + n, sizeof(in) - n);
        ut_fill(msg, sizeof(msg), (uint32_t)i);
        assert_memory_equal(in, msg, sizeof(msg));
    }
    assert_true(ut_stat(inst, "uring.sq_full") > 0);
    for (int i = 0; i < N; i++) {
        dm_close(inst, c[i]);
        dm_close(inst, s[i]);
    }
    dm_close(inst, l);
    dm_instance_destroy(inst);
}

static void test_close_with_requests_in_flight(void **st)
{
    (void)st;
    struct dm_instance *inst = ut_instance(NULL);
    uint16_t port;
    int l = ut_listen(inst, SOCK_STREAM, &port), c, s;
    ut_pair(inst, l, port, &c, &s);
    /* c: a pop waiting, and a push too large for the socket buffers
     * (the server does not read) still in flight. */
    size_t big = 64u << 20; /* more than loopback socket buffers hold */
    uint8_t *blob = calloc(1, big);
    demi_qtoken_t pop_t, push_t, acc_t;
    assert_int_equal(dm_pop(inst, &pop_t, c), 0);
    push_t = ut_push(inst, c, blob, big);
    assert_int_equal(dm_accept(inst, &acc_t, l), 0);
    demi_qresult_t qr;
    assert_int_equal(dm_wait(inst, &qr, push_t, 30 * 1000 * 1000), -ETIMEDOUT);
    assert_int_equal(dm_close(inst, c), 0);
    assert_int_equal(dm_close(inst, l), 0);
    qr = ut_wait(inst, pop_t);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_FAILED);
    assert_int_equal(qr.qr_ret, ECANCELED);
    qr = ut_wait(inst, push_t);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_FAILED);
    assert_int_equal(qr.qr_ret, ECANCELED);
    qr = ut_wait(inst, acc_t);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_FAILED);
    /* The kernel hands back the canceled requests; none touches an op. */
    for (int i = 0; i < 20 && ut_stat(inst, "uring.late_cqes") < 2; i++)
        dm_poll(inst, 5 * 1000 * 1000);
    assert_true(ut_stat(inst, "uring.late_cqes") >= 2);
    /* The server side then sees the data that made it, then EOF or reset. */
    size_t got = 0;
    for (;;) {
        demi_qtoken_t qt;
        assert_int_equal(dm_pop(inst, &qt, s), 0);
        qr = ut_wait(inst, qt);
        if (qr.qr_opcode == DEMI_OPC_FAILED || qr.qr_value.sga.sga_numsegs == 0)
            break;
        got += qr.qr_value.sga.sga_segs[0].sgaseg_len;
        dm_sgafree(inst, &qr.qr_value.sga);
    }
    assert_true(got < big);
    dm_close(inst, s);
    dm_instance_destroy(inst);
    free(blob);
}

static void test_close_with_popped_buffers_still_held(void **st)
{
    (void)st;
    struct dm_instance *inst = ut_instance(NULL);
    uint16_t port;
    int l = ut_listen(inst, SOCK_STREAM, &port), c, s;
    ut_pair(inst, l, port, &c, &s);
    demi_qtoken_t pt = ut_push(inst, c, "hold me", 7), qt;
    ut_wait(inst, pt);
    assert_int_equal(dm_pop(inst, &qt, s), 0);
    demi_qresult_t qr = ut_wait(inst, qt);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
    assert_memory_equal(qr.qr_value.sga.sga_segs[0].sgaseg_buf, "hold me", 7);
    /* Sockets closed while the app holds the array (a ring buffer):
     * freeing it afterwards must be safe (ASan checks). */
    dm_close(inst, c);
    dm_close(inst, s);
    dm_close(inst, l);
    dm_sgafree(inst, &qr.qr_value.sga);
    dm_instance_destroy(inst);
}

static void test_idle_wait_sleeps_in_the_kernel(void **st)
{
    (void)st;
    struct dm_instance *inst = ut_instance(NULL);
    uint16_t port;
    int l = ut_listen(inst, SOCK_STREAM, &port), c, s;
    ut_pair(inst, l, port, &c, &s);
    demi_qtoken_t qt;
    assert_int_equal(dm_pop(inst, &qt, s), 0);
    int64_t enters = ut_stat(inst, "uring.enters");
    demi_qresult_t qr;
    assert_int_equal(dm_wait(inst, &qr, qt, 200 * 1000 * 1000), -ETIMEDOUT);
    /* 200 ms of waiting is one or two sleeps on the ring, not a spin. */
    assert_true(ut_stat(inst, "uring.enters") - enters <= 4);
    dm_close(inst, c);
    dm_close(inst, s);
    dm_close(inst, l);
    dm_instance_destroy(inst);
}

static void test_busy_poll_makes_no_syscall_when_idle(void **st)
{
    (void)st;
    struct dm_instance *inst = ut_instance("DEMI_URING_BUSYPOLL", "1", NULL);
    uint16_t port;
    int l = ut_listen(inst, SOCK_STREAM, &port), c, s;
    ut_pair(inst, l, port, &c, &s);
    demi_qtoken_t qt;
    assert_int_equal(dm_pop(inst, &qt, s), 0);
    dm_poll(inst, 0);
    int64_t enters = ut_stat(inst, "uring.enters");
    int64_t polls = ut_stat(inst, "core.polls");
    demi_qresult_t qr;
    assert_int_equal(dm_wait(inst, &qr, qt, 20 * 1000 * 1000), -ETIMEDOUT);
    assert_true(ut_stat(inst, "core.polls") - polls > 10); /* it spun */
    assert_true(ut_stat(inst, "uring.enters") - enters <= 1); /* ...in user space */
    /* and still sees data when it comes */
    demi_qtoken_t pt = ut_push(inst, c, "x", 1);
    qr = ut_wait(inst, qt);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
    dm_sgafree(inst, &qr.qr_value.sga);
    ut_wait(inst, pt);
    dm_close(inst, c);
    dm_close(inst, s);
    dm_close(inst, l);
    dm_instance_destroy(inst);
}

/* armed: the application calls dm_instance_wait_arm() before each sleep,
 * as the preload does; the backend then drains the fd only there. */
static void wait_fd_wakes_mode(const char *disable, bool armed)
{
    struct dm_instance *inst = ut_instance("DEMI_URING_DISABLE", disable, NULL);
    int wfd = dm_instance_wait_fd(inst);
    assert_true(wfd >= 0);
    uint16_t port;
    int l = ut_listen(inst, SOCK_STREAM, &port), c, s;
    ut_pair(inst, l, port, &c, &s);
    demi_qtoken_t qt;
    assert_int_equal(dm_pop(inst, &qt, s), 0);
    demi_qtoken_t pt = ut_push(inst, c, "wake", 4);
    dm_poll(inst, 0); /* submits the send */
    /* The application's epoll sleeps on the wait fd, then polls. */
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN }, out;
    assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, wfd, &ev), 0);
    int ready = 0;
    for (int i = 0; i < 50 && !ready; i++) {
        if (armed && dm_instance_wait_arm(inst) > 0) {
            dm_poll(inst, 0);
            ready = dm_token_state(inst, qt) == 1;
            continue;
        }
        int n = epoll_wait(ep, &out, 1, 100);
        assert_true(n >= 0 || errno == EINTR);
        if (n == 1)
            dm_poll(inst, 0);
        ready = dm_token_state(inst, qt) == 1;
    }
    assert_true(ready);
    demi_qresult_t qr = ut_wait(inst, qt);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
    dm_sgafree(inst, &qr.qr_value.sga);
    ut_wait(inst, pt);
    /* Drained: idle again, the fd goes quiet. Kernel 6.18.44 may signal it
     * once more after the drain (task work that interrupts the sleep with
     * EINTR, then a signal with no CQE behind it): one spurious wake-up is
     * harmless; an fd that stays ready would spin an idle server. */
    int quiet = -1, wakes = 0;
    for (int round = 0; round < 5 && quiet != 0; round++) {
        dm_poll(inst, 0);
        if (armed)
            assert_int_equal(dm_instance_wait_arm(inst), 0); /* nothing left: sleep */
        do /* io_uring task work may interrupt a sleep (EINTR), as signals do */
            quiet = epoll_wait(ep, &out, 1, 20);
        while (quiet < 0 && errno == EINTR);
        if (quiet > 0)
            wakes++;
    }
    if (quiet != 0 || wakes > 1)
        fail_msg("wait fd still ready after draining: %d (%s), %d wake-ups", quiet,
                 quiet < 0 ? strerror(errno) : "readable", wakes);
    close(ep);
    dm_close(inst, c);
    dm_close(inst, s);
    dm_close(inst, l);
    dm_instance_destroy(inst);
}

static void wait_fd_wakes(const char *disable) { wait_fd_wakes_mode(disable, false); }

/* The wait fd must be ready by the time a peer's send returns (the data is
 * in our socket then): an application sleeping on it in poll/epoll wakes at
 * once. Linux 6.18.44 signals it 15-40 ms late on a DEFER_TASKRUN ring; the
 * default (auto) probes that and runs without deferred task work there. */
static void wait_fd_ready_when_the_peer_has_sent(const char *defer)
{
    struct dm_instance *inst = ut_instance("DEMI_URING_DEFER_TASKRUN", defer, NULL);
    int wfd = dm_instance_wait_fd(inst);
    assert_true(wfd >= 0);
    uint16_t port;
    int l = ut_listen(inst, SOCK_STREAM, &port);
    demi_qtoken_t at, qt;
    assert_int_equal(dm_accept(inst, &at, l), 0);
    int k = socket(AF_INET, SOCK_STREAM, 0); /* the peer: a kernel socket */
    struct sockaddr_in sin = ut_addr(port);
    assert_int_equal(connect(k, (struct sockaddr *)&sin, sizeof(sin)), 0);
    demi_qresult_t qr = ut_wait(inst, at);
    int s = qr.qr_value.ares.qd;
    for (int round = 0; round < 3; round++) {
        assert_int_equal(dm_pop(inst, &qt, s), 0);
        dm_poll(inst, 0); /* the receive is armed */
        dm_poll(inst, 0); /* and the fd drained */
        struct pollfd p = { .fd = wfd, .events = POLLIN };
        assert_int_equal(poll(&p, 1, 0), 0);
        assert_int_equal(send(k, "r", 1, 0), 1);
        if (poll(&p, 1, 0) != 1)
            fail_msg("round %d: the wait fd was not ready when the peer's send returned", round);
        qr = ut_wait(inst, qt);
        assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
        dm_sgafree(inst, &qr.qr_value.sga);
    }
    close(k);
    dm_close(inst, s);
    dm_close(inst, l);
    dm_instance_destroy(inst);
}

static void test_wait_fd_is_ready_when_the_peers_send_returns(void **st)
{
    (void)st;
    wait_fd_ready_when_the_peer_has_sent("auto");
    wait_fd_ready_when_the_peer_has_sent("0");
}

static void test_wait_fd_wakes_an_epoll_that_arms_before_sleeping(void **st)
{
    (void)st;
    wait_fd_wakes_mode("", true);
    wait_fd_wakes_mode("single_issuer,defer_taskrun,coop_taskrun", true);
}

static void test_wait_fd_wakes_an_application_epoll(void **st)
{
    (void)st;
    wait_fd_wakes("");
}

static void test_wait_fd_wakes_without_defer_taskrun(void **st)
{
    (void)st;
    wait_fd_wakes("defer_taskrun");
}

/* DEMI_URING_SHARED (the preload's mode): thread A arms the receive and
 * then sleeps outside the ring (in pthread_join); thread B sends, sleeps
 * on the wait fd and drives the ring. B's io_uring_enter must be accepted
 * (no SINGLE_ISSUER) and the receive's completion, whose task work belongs
 * to A, must reach the CQ ring and the wait fd while A sleeps. */
struct shared_drive {
    struct dm_instance *inst;
    int c;
    demi_qtoken_t qt;
    int ready;
};

static void *shared_drive_thread(void *arg)
{
    struct shared_drive *d = arg;
    int wfd = dm_instance_wait_fd(d->inst);
    demi_qtoken_t pt = ut_push(d->inst, d->c, "other", 5);
    dm_poll(d->inst, 0); /* submits the send from this thread */
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN }, out;
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, wfd, &ev) < 0)
        return NULL;
    /* Only the wait fd may bring the completion: no poll without it. */
    for (int i = 0; i < 30 && !d->ready; i++) {
        int n = epoll_wait(ep, &out, 1, 100);
        if (n == 1)
            dm_poll(d->inst, 0);
        d->ready = dm_token_state(d->inst, d->qt) == 1;
    }
    close(ep);
    if (d->ready)
        ut_wait(d->inst, pt);
    return NULL;
}

static void test_shared_ring_is_driven_by_another_thread(void **st)
{
    (void)st;
    struct dm_instance *inst = ut_instance("DEMI_URING_SHARED", "1", NULL);
    assert_int_equal(dm_uring_features(inst) & (UR_F_DEFER_TASKRUN | UR_F_SINGLE_ISSUER | UR_F_COOP_TASKRUN), 0);
    assert_true(dm_instance_wait_fd(inst) >= 0);
    uint16_t port;
    int l = ut_listen(inst, SOCK_STREAM, &port), c, s;
    ut_pair(inst, l, port, &c, &s);
    struct shared_drive d = { .inst = inst, .c = c };
    assert_int_equal(dm_pop(inst, &d.qt, s), 0);
    dm_poll(inst, 0); /* this thread submits the receive */
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, shared_drive_thread, &d), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    if (!d.ready)
        fail_msg("the other thread was not woken by the wait fd for a receive armed here");
    demi_qresult_t qr = ut_wait(inst, d.qt);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
    assert_int_equal(qr.qr_value.sga.sga_segs[0].sgaseg_len, 5);
    assert_memory_equal(qr.qr_value.sga.sga_segs[0].sgaseg_buf, "other", 5);
    dm_sgafree(inst, &qr.qr_value.sga);
    dm_close(inst, c);
    dm_close(inst, s);
    dm_close(inst, l);
    dm_instance_destroy(inst);
}

static void test_wait_fd_wakes_in_shared_mode(void **st)
{
    (void)st;
    wait_fd_wakes("single_issuer,defer_taskrun,coop_taskrun");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unpopped_data_pauses_multishot_and_is_not_lost),
        cmocka_unit_test(test_empty_buffer_ring_enobufs_then_recovers),
        cmocka_unit_test(test_popped_buffers_held_by_app_starve_ring_without_loss),
        cmocka_unit_test(test_receives_reuse_a_few_warm_buffers_not_the_whole_ring),
        cmocka_unit_test(test_spare_buffers_serve_while_the_app_holds_chunks),
        cmocka_unit_test(test_a_message_split_across_two_buffers_pops_as_one_piece),
        cmocka_unit_test(test_out_of_buffer_headers_copies_instead_of_losing),
        cmocka_unit_test(test_tiny_submission_ring_loses_no_request),
        cmocka_unit_test(test_close_with_requests_in_flight),
        cmocka_unit_test(test_close_with_popped_buffers_still_held),
        cmocka_unit_test(test_idle_wait_sleeps_in_the_kernel),
        cmocka_unit_test(test_busy_poll_makes_no_syscall_when_idle),
        cmocka_unit_test(test_wait_fd_wakes_an_application_epoll),
        cmocka_unit_test(test_wait_fd_wakes_an_epoll_that_arms_before_sleeping),
        cmocka_unit_test(test_wait_fd_wakes_without_defer_taskrun),
        cmocka_unit_test(test_wait_fd_is_ready_when_the_peers_send_returns),
        cmocka_unit_test(test_wait_fd_wakes_in_shared_mode),
        cmocka_unit_test(test_shared_ring_is_driven_by_another_thread),
    };
    return cmocka_run_group_tests_name("uring_limits", tests, NULL, NULL);
}
