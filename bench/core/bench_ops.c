/* SPDX-License-Identifier: MIT */
/*
 * Cost of the queue API itself, in ns per operation (median, p99, p99.9):
 *
 *  core   push+wait and pop+wait against a "null" backend that completes
 *         every op at once: what the token table, sgarrays and wait cost,
 *         with no network underneath (compare with Demikernel's ~53 ns to
 *         dispatch an operation).
 *  echo   a 64 B push on one connection and the pop+wait of it on the other,
 *         over a real backend (DEMI_BACKEND: loop = our TCP on the in-memory
 *         device, posix, uring), client and server in one instance.
 *
 * Usage: bench_ops [core|echo] [iterations]
 * Each operation is timed alone with clock_gettime (vDSO); the clock's own
 * cost, measured first, is subtracted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dm/instance.h"
#include "dm/stack.h"
#include "dm/time.h"

static struct dm_buf *null_buf;
static int nl_create(struct dm_instance *i, const struct dm_config *c, void **st) { (void)c; *st = i; return 0; }
static void nl_destroy(void *st) { (void)st; }
static int nl_socket(void *st, struct dm_queue *q, int d, int t, int p) { (void)st; (void)q; (void)d; (void)t; (void)p; return 0; }
static int nl_bind(void *st, struct dm_queue *q, const union dm_sockaddr *a) { (void)st; (void)q; (void)a; return 0; }
static int nl_listen(void *st, struct dm_queue *q, int b) { (void)st; (void)q; (void)b; return 0; }
static int nl_accept(void *st, struct dm_queue *q, struct dm_op *op) { (void)st; (void)q; (void)op; return -EOPNOTSUPP; }
static int nl_connect(void *st, struct dm_queue *q, struct dm_op *op) { (void)st; (void)q; dm_op_complete_connect(op); return 0; }
static int nl_push(void *st, struct dm_queue *q, struct dm_op *op) { (void)st; (void)q; dm_op_complete_push(op); return 0; }
static int nl_pop(void *st, struct dm_queue *q, struct dm_op *op)
{
    (void)q;
    struct dm_buf *b = dm_buf_alloc(st);
    b->len = b->pkt_len = 64;
    dm_op_complete_pop(op, b, NULL);
    return 0;
}
static int nl_close(void *st, struct dm_queue *q) { (void)st; (void)q; return 0; }
static int nl_poll(void *st, int64_t b) { (void)st; (void)b; return 0; }
static const struct dm_stack_ops null_ops = {
    .name = "null", .create = nl_create, .destroy = nl_destroy, .socket = nl_socket, .bind = nl_bind,
    .listen = nl_listen, .accept = nl_accept, .connect = nl_connect, .push = nl_push, .pop = nl_pop,
    .close = nl_close, .poll = nl_poll,
};

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void report(const char *what, int64_t *v, int n, int64_t clock_cost)
{
    for (int i = 0; i < n; i++)
        v[i] = v[i] > clock_cost ? v[i] - clock_cost : 0;
    qsort(v, (size_t)n, sizeof(*v), cmp64);
    printf("%-28s p50 %6lld ns   p99 %6lld ns   p99.9 %7lld ns   (n=%d)\n", what, (long long)v[n / 2],
           (long long)v[(int)(n * 0.99)], (long long)v[(int)(n * 0.999)], n);
}

static int64_t clock_cost(void)
{
    int64_t best = INT64_MAX;
    for (int i = 0; i < 10000; i++) {
        int64_t a = dm_clock_ns(), b = dm_clock_ns();
        if (b - a < best)
            best = b - a;
    }
    return best;
}

static int bench_core(int n)
{
    struct dm_config cfg;
    dm_config_init(&cfg);
    dm_config_set(&cfg, "DEMI_BACKEND", "null");
    struct dm_instance *inst;
    if (dm_stack_register(&null_ops) < 0 || dm_instance_create(&cfg, &inst) < 0)
        return 1;
    int qd, err;
    dm_socket(inst, &qd, AF_INET, SOCK_STREAM, 0);
    int64_t *push = malloc(sizeof(int64_t) * (size_t)n), *pop = malloc(sizeof(int64_t) * (size_t)n);
    int64_t cc = clock_cost();
    demi_sgarray_t sga = dm_sgaalloc(inst, 64, &err);
    (void)null_buf;
    for (int i = 0; i < n; i++) {
        demi_qtoken_t qt;
        demi_qresult_t qr;
        int64_t t0 = dm_clock_ns();
        dm_push(inst, &qt, qd, &sga);
        dm_wait(inst, &qr, qt, -1);
        int64_t t1 = dm_clock_ns();
        dm_pop(inst, &qt, qd);
        dm_wait(inst, &qr, qt, -1);
        dm_sgafree(inst, &qr.qr_value.sga);
        int64_t t2 = dm_clock_ns();
        push[i] = t1 - t0;
        pop[i] = t2 - t1;
    }
    printf("core (null backend), clock cost %lld ns subtracted\n", (long long)cc);
    report("push+wait", push, n, cc);
    report("pop+wait+sgafree", pop, n, cc);
    dm_sgafree(inst, &sga);
    dm_instance_destroy(inst);
    free(push);
    free(pop);
    return 0;
}

static int bench_echo(int n)
{
    struct dm_instance *inst;
    if (dm_instance_create(NULL, &inst) < 0)
        return 1;
    const char *addr = getenv("DEMI_TEST_ADDR");
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(45678)};
    inet_pton(AF_INET, addr ? addr : "127.0.0.1", &sin.sin_addr);
    int l, c, s, err;
    demi_qtoken_t at, ct, qt;
    demi_qresult_t qr;
    if (dm_socket(inst, &l, AF_INET, SOCK_STREAM, 0) || dm_bind(inst, l, (struct sockaddr *)&sin, sizeof(sin)) ||
        dm_listen(inst, l, 16) || dm_socket(inst, &c, AF_INET, SOCK_STREAM, 0) || dm_accept(inst, &at, l) ||
        dm_connect(inst, &ct, c, (struct sockaddr *)&sin, sizeof(sin)) || dm_wait(inst, &qr, ct, -1) ||
        qr.qr_opcode != DEMI_OPC_CONNECT || dm_wait(inst, &qr, at, -1)) {
        fprintf(stderr, "echo setup failed on backend %s\n", dm_instance_backend(inst));
        return 1;
    }
    s = qr.qr_value.ares.qd;
    int one = 1;
    dm_setsockopt(inst, c, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof(one));
    int64_t *push = malloc(sizeof(int64_t) * (size_t)n), *pop = malloc(sizeof(int64_t) * (size_t)n);
    int64_t cc = clock_cost();
    for (int i = 0; i < n; i++) {
        demi_sgarray_t sga = dm_sgaalloc(inst, 64, &err);
        int64_t t0 = dm_clock_ns();
        dm_push(inst, &qt, c, &sga);
        int64_t t1 = dm_clock_ns();
        dm_sgafree(inst, &sga);
        demi_qtoken_t pt;
        dm_pop(inst, &pt, s);
        dm_wait(inst, &qr, pt, -1);
        int64_t t2 = dm_clock_ns();
        dm_sgafree(inst, &qr.qr_value.sga);
        dm_wait(inst, &qr, qt, -1);
        push[i] = t1 - t0;
        pop[i] = t2 - t1;
    }
    printf("echo over backend %s (64 B, one instance), clock cost %lld ns subtracted\n", dm_instance_backend(inst),
           (long long)cc);
    report("push (call)", push, n, cc);
    report("pop+wait (to data)", pop, n, cc);
    dm_close(inst, c);
    dm_close(inst, s);
    dm_close(inst, l);
    dm_instance_destroy(inst);
    free(push);
    free(pop);
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "core";
    int n = argc > 2 ? atoi(argv[2]) : 200000;
    if (n < 1000)
        n = 1000;
    return strcmp(mode, "echo") == 0 ? bench_echo(n) : bench_core(n);
}
