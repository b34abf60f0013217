/* SPDX-License-Identifier: MIT */
/*
 * Queue descriptors and tokens, driven through a scripted backend defined
 * here ("script"): its ops stay pending until the test completes them, so
 * the core's rules can be checked one by one.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <demi/libos.h>
#include "dm/instance.h"
#include "dm/stack.h"
#include "dm/stats.h"

static int sc_refuse;     /* next async op fails with this -errno */
static int sc_closed;
static int sc_create(struct dm_instance *i, const struct dm_config *c, void **st) { (void)c; *st = i; return 0; }
static void sc_destroy(void *st) { (void)st; }
static int sc_socket(void *st, struct dm_queue *q, int d, int t, int p) { (void)st; (void)q; (void)d; (void)t; (void)p; return 0; }
static int sc_bind(void *st, struct dm_queue *q, const union dm_sockaddr *a) { (void)st; (void)q; (void)a; return 0; }
static int sc_listen(void *st, struct dm_queue *q, int b) { (void)st; (void)q; (void)b; return 0; }
static int sc_async(void *st, struct dm_queue *q, struct dm_op *op) { (void)st; (void)q; (void)op; int r = sc_refuse; sc_refuse = 0; return r; }
static int sc_close(void *st, struct dm_queue *q) { (void)st; (void)q; sc_closed++; return 0; }
static int sc_poll(void *st, int64_t b) { (void)st; (void)b; return 0; }
static const struct dm_stack_ops script_ops = {
    .name = "script", .create = sc_create, .destroy = sc_destroy, .socket = sc_socket, .bind = sc_bind,
    .listen = sc_listen, .accept = sc_async, .connect = sc_async, .push = sc_async, .pop = sc_async,
    .close = sc_close, .poll = sc_poll,
};

static struct dm_instance *inst;

static int setup(void **s)
{
    (void)s;
    static int registered;
    if (!registered) {
        assert_int_equal(dm_stack_register(&script_ops), 0);
        registered = 1;
    }
    struct dm_config cfg;
    dm_config_init(&cfg);
    dm_config_set(&cfg, "DEMI_BACKEND", "script");
    dm_config_set(&cfg, "DEMI_BUF_COUNT", "64");
    dm_config_set(&cfg, "DEMI_MAX_OPS", "16");
    dm_config_set(&cfg, "DEMI_MAX_QUEUES", "16");
    return dm_instance_create(&cfg, &inst);
}

static int teardown(void **s)
{
    (void)s;
    dm_instance_destroy(inst);
    return 0;
}

/* The op behind a token (core-internal lookup, exposed for tests). */
struct dm_op *dm_op_lookup(struct dm_instance *, demi_qtoken_t);
static struct dm_op *op_of(demi_qtoken_t qt)
{
    return dm_op_lookup(inst, qt);
}

static void test_qd_never_collides_with_kernel_fds(void **s)
{
    (void)s;
    int qd;
    assert_int_equal(dm_socket(inst, &qd, AF_INET, SOCK_STREAM, 0), 0);
    assert_true(qd >= DEMI_QD_BASE);
    assert_int_equal(dm_close(inst, qd), 0);
    assert_int_equal(dm_close(inst, qd), -EBADF);
    assert_int_equal(dm_close(inst, 3), -EBADF);
}

static void test_token_completes_exactly_once(void **s)
{
    (void)s;
    int qd;
    demi_qtoken_t qt;
    demi_qresult_t qr;
    dm_socket(inst, &qd, AF_INET, SOCK_STREAM, 0);
    assert_int_equal(dm_pop(inst, &qt, qd), 0);
    assert_int_equal(dm_token_state(inst, qt), 0);
    assert_int_equal(dm_wait(inst, &qr, qt, 0), -ETIMEDOUT);
    dm_op_complete_pop(op_of(qt), NULL, NULL);
    assert_int_equal(dm_token_state(inst, qt), 1);
    assert_int_equal(dm_wait(inst, &qr, qt, 0), 0);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
    assert_int_equal(qr.qr_qt, qt);
    assert_int_equal(qr.qr_qd, qd);
    assert_int_equal(qr.qr_value.sga.sga_numsegs, 0); /* EOF: zero length */
    assert_int_equal(dm_wait(inst, &qr, qt, 0), -EINVAL);
    /* The slot is reused with a new generation: the old token stays dead. */
    demi_qtoken_t qt2;
    assert_int_equal(dm_pop(inst, &qt2, qd), 0);
    assert_int_not_equal(qt2, qt);
    assert_int_equal(dm_token_state(inst, qt), -EINVAL);
    dm_close(inst, qd);
    assert_int_equal(dm_wait(inst, &qr, qt2, 0), 0);
}

static void test_close_cancels_pending_ops(void **s)
{
    (void)s;
    int qd;
    demi_qtoken_t a, b;
    demi_qresult_t qr;
    dm_socket(inst, &qd, AF_INET, SOCK_STREAM, 0);
    dm_pop(inst, &a, qd);
    dm_pop(inst, &b, qd);
    int before = sc_closed;
    assert_int_equal(dm_close(inst, qd), 0);
    assert_int_equal(sc_closed, before + 1);
    int off;
    demi_qtoken_t both[2] = {a, b};
    assert_int_equal(dm_wait_any(inst, &qr, &off, both, 2, 0), 0);
    assert_int_equal(off, 0);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_FAILED);
    assert_int_equal(qr.qr_ret, ECANCELED);
    assert_int_equal(dm_wait(inst, &qr, b, 0), 0);
    assert_int_equal(qr.qr_ret, ECANCELED);
}

static void test_backend_refusal_releases_the_op(void **s)
{
    (void)s;
    int qd;
    demi_qtoken_t qt;
    dm_socket(inst, &qd, AF_INET, SOCK_STREAM, 0);
    for (int i = 0; i < 40; i++) { /* more than the 16 slots: none may leak */
        sc_refuse = -ENOTCONN;
        assert_int_equal(dm_pop(inst, &qt, qd), -ENOTCONN);
    }
    assert_int_equal(dm_pop(inst, &qt, qd), 0);
    dm_close(inst, qd);
    demi_qresult_t qr;
    dm_wait(inst, &qr, qt, 0);
}

static void test_op_table_exhaustion_is_enobufs(void **s)
{
    (void)s;
    int qd;
    demi_qtoken_t qt[17];
    dm_socket(inst, &qd, AF_INET, SOCK_STREAM, 0);
    for (int i = 0; i < 16; i++)
        assert_int_equal(dm_pop(inst, &qt[i], qd), 0);
    assert_int_equal(dm_pop(inst, &qt[16], qd), -ENOBUFS);
    dm_close(inst, qd);
    int n;
    demi_qresult_t qrs[16];
    assert_int_equal(dm_wait_next_n(inst, qrs, 16, &n, 0), 0);
    assert_int_equal(n, 16);
    for (int i = 0; i < 16; i++)
        assert_int_equal(qrs[i].qr_qt, qt[i]); /* oldest first */
    assert_int_equal(dm_wait_next_n(inst, qrs, 16, &n, 0), -ETIMEDOUT);
    assert_int_equal(n, 0);
}

static void test_bad_arguments_get_linux_errnos(void **s)
{
    (void)s;
    int qd;
    demi_qtoken_t qt;
    struct sockaddr_in sin = {.sin_family = AF_INET};
    assert_int_equal(dm_socket(inst, NULL, AF_INET, SOCK_STREAM, 0), -EINVAL);
    assert_int_equal(dm_socket(inst, &qd, AF_UNIX, SOCK_STREAM, 0), -EAFNOSUPPORT);
    assert_int_equal(dm_socket(inst, &qd, AF_INET6, SOCK_STREAM, 0), -EAFNOSUPPORT); /* no inet6 */
    assert_int_equal(dm_socket(inst, &qd, AF_INET, SOCK_STREAM, IPPROTO_UDP), -EPROTONOSUPPORT);
    assert_int_equal(dm_socket(inst, &qd, AF_INET, SOCK_SEQPACKET, 0), -ESOCKTNOSUPPORT);
    assert_int_equal(dm_socket(inst, &qd, AF_INET, 99, 0), -EINVAL);
    assert_int_equal(dm_socket(inst, &qd, AF_INET, SOCK_STREAM, 0), 0);
    assert_int_equal(dm_bind(inst, qd, NULL, sizeof(sin)), -EFAULT);
    assert_int_equal(dm_bind(inst, qd, (struct sockaddr *)&sin, 4), -EINVAL);
    sin.sin_family = AF_INET6;
    assert_int_equal(dm_bind(inst, qd, (struct sockaddr *)&sin, sizeof(sin)), -EAFNOSUPPORT);
    assert_int_equal(dm_connect(inst, NULL, qd, (struct sockaddr *)&sin, sizeof(sin)), -EINVAL);
    assert_int_equal(dm_push(inst, &qt, qd, NULL), -EINVAL);
    demi_sgarray_t sga;
    memset(&sga, 0, sizeof(sga));
    assert_int_equal(dm_push(inst, &qt, qd, &sga), -EINVAL);          /* no segments */
    sga.sga_numsegs = DEMI_SGARRAY_MAXSIZE + 1;
    assert_int_equal(dm_push(inst, &qt, qd, &sga), -EINVAL);          /* too many */
    sga.sga_numsegs = 1;
    sga.sga_segs[0].sgaseg_len = 10;
    assert_int_equal(dm_push(inst, &qt, qd, &sga), -EFAULT);          /* NULL buffer */
    assert_int_equal(dm_push(inst, &qt, qd + 5, &sga), -EBADF);
    assert_int_equal(dm_wait(inst, NULL, 1, 0), -EINVAL);
    assert_int_equal(dm_wait(inst, &(demi_qresult_t){0}, 0, 0), -EINVAL);
    assert_int_equal(dm_wait(inst, &(demi_qresult_t){0}, 0xdeadbeef00000003ull, 0), -EINVAL);
    assert_int_equal(dm_wait_any(inst, &(demi_qresult_t){0}, &(int){0}, &qt, 0, 0), -EINVAL);
    assert_int_equal(dm_sgafree(inst, NULL), -EINVAL);
    assert_int_equal(dm_setsockopt(inst, qd, SOL_SOCKET, SO_REUSEADDR, NULL, 4), -EFAULT);
    assert_int_equal(dm_getsockname(inst, qd, NULL, NULL), -EFAULT);
    assert_int_equal(dm_shutdown(inst, qd, 7), -EINVAL);
    dm_close(inst, qd);
}

static void test_sgaalloc_free_and_foreign_sga(void **s)
{
    (void)s;
    int err;
    demi_sgarray_t sga = dm_sgaalloc(inst, 100, &err);
    assert_int_equal(err, 0);
    assert_int_equal(sga.sga_numsegs, 1);
    assert_int_equal(sga.sga_segs[0].sgaseg_len, 100);
    assert_int_equal(dm_sgafree(inst, &sga), 0);
    demi_sgarray_t z = dm_sgaalloc(inst, 0, &err);
    assert_int_equal(err, -EINVAL);
    assert_int_equal(z.sga_numsegs, 0);
    assert_int_equal(dm_sgafree(inst, &z), 0); /* an empty array is accepted */
    char junk[64] = {0};
    demi_sgarray_t bad = {.sga_buf = junk, .sga_numsegs = 1};
    assert_int_equal(dm_sgafree(inst, &bad), -EINVAL);
    /* 1 MiB: larger than a pool buffer, still one segment. */
    demi_sgarray_t big = dm_sgaalloc(inst, 1 << 20, &err);
    assert_int_equal(big.sga_numsegs, 1);
    assert_int_equal(dm_sgafree(inst, &big), 0);
}

static void test_push_of_app_memory_is_copied_and_sgafree_during_push_is_safe(void **s)
{
    (void)s;
    int qd, err;
    demi_qtoken_t qt;
    dm_socket(inst, &qd, AF_INET, SOCK_STREAM, 0);
    demi_sgarray_t sga = dm_sgaalloc(inst, 8, &err);
    memcpy(sga.sga_segs[0].sgaseg_buf, "zerocopy", 8);
    assert_int_equal(dm_push(inst, &qt, qd, &sga), 0);
    struct dm_op *op = op_of(qt);
    assert_ptr_equal(op->chain->data, sga.sga_segs[0].sgaseg_buf); /* zero copy */
    assert_int_equal(dm_sgafree(inst, &sga), 0);                  /* in flight: still safe */
    assert_memory_equal(op->chain->data, "zerocopy", 8);
    char app[5] = "abcde";
    demi_sgarray_t mine = {.sga_numsegs = 1, .sga_segs = {{app, 5}}};
    demi_qtoken_t qt2;
    assert_int_equal(dm_push(inst, &qt2, qd, &mine), 0);
    struct dm_op *op2 = op_of(qt2);
    assert_ptr_not_equal(op2->chain->data, app);                  /* not ours: copied */
    assert_memory_equal(op2->chain->data, "abcde", 5);
    dm_close(inst, qd);
    demi_qresult_t qr;
    dm_wait(inst, &qr, qt, 0);
    dm_wait(inst, &qr, qt2, 0);
}

static void test_stats_and_registry(void **s)
{
    (void)s;
    int qd;
    demi_qtoken_t qt;
    dm_socket(inst, &qd, AF_INET, SOCK_STREAM, 0);
    assert_int_equal(dm_stats_get(inst, "core.ops_started"), 0);
    dm_pop(inst, &qt, qd);
    assert_int_equal(dm_stats_get(inst, "core.ops_started"), 1);
    dm_close(inst, qd);
    assert_int_equal(dm_stats_get(inst, "core.ops_canceled"), 1);
    assert_int_equal(dm_stats_get(inst, "core.nope"), -1);
    assert_int_equal(dm_stack_register(&script_ops), -EEXIST);
    struct dm_stack_ops partial = {.name = "partial"};
    assert_int_equal(dm_stack_register(&partial), -EINVAL);
    assert_non_null(dm_stack_find("posix"));
}

static void test_config_overrides_and_bad_values(void **s)
{
    (void)s;
    /* the parser itself: test_config.c */
    struct dm_config bad;
    dm_config_init(&bad);
    dm_config_set(&bad, "DEMI_BACKEND", "nonexistent");
    struct dm_instance *x;
    assert_int_equal(dm_instance_create(&bad, &x), -ENODEV);
    dm_config_set(&bad, "DEMI_BACKEND", "posix");
    dm_config_set(&bad, "DEMI_BUF_COUNT", "-5");
    assert_int_equal(dm_instance_create(&bad, &x), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_qd_never_collides_with_kernel_fds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_completes_exactly_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_cancels_pending_ops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backend_refusal_releases_the_op, setup, teardown),
        cmocka_unit_test_setup_teardown(test_op_table_exhaustion_is_enobufs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments_get_linux_errnos, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sgaalloc_free_and_foreign_sga, setup, teardown),
        cmocka_unit_test_setup_teardown(test_push_of_app_memory_is_copied_and_sgafree_during_push_is_safe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_and_registry, setup, teardown),
        cmocka_unit_test(test_config_overrides_and_bad_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
