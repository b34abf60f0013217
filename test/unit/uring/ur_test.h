/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the uring tests: instances with per-test overrides,
 * loopback listeners on ephemeral ports (so runs never collide), and
 * byte-exact push/pop helpers driven through the dm_* API.
 */
#ifndef UR_TEST_H
#define UR_TEST_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <demi/libos.h>
#include "dm/instance.h"
#include "dm/stats.h"

#define UR_WAIT_NS (10LL * 1000 * 1000 * 1000)

#include "../../../stacks/uring/uring_hooks.h"

/* An instance on the uring backend; extra "KEY", "VAL" pairs, NULL-ended. */
static inline struct dm_instance *ut_instance(const char *key, ...)
{
    struct dm_config cfg;
    dm_config_init(&cfg);
    assert_int_equal(dm_config_set(&cfg, "DEMI_BACKEND", "uring"), 0);
    va_list ap;
    va_start(ap, key);
    for (const char *k = key; k; k = va_arg(ap, const char *)) {
        const char *v = va_arg(ap, const char *);
        assert_int_equal(dm_config_set(&cfg, k, v), 0);
    }
    va_end(ap);
    struct dm_instance *inst = NULL;
    int rc = dm_instance_create(&cfg, &inst);
    if (rc == -ENOSYS || rc == -EPERM)
        skip(); /* io_uring missing or disabled on this machine */
    assert_int_equal(rc, 0);
    assert_string_equal(dm_instance_backend(inst), "uring");
    return inst;
}

/* Skips the test (destroying inst) unless the instance runs with every
 * feature bit of `feat`. */
static inline void ut_skip_without(struct dm_instance *inst, uint32_t feat)
{
    if ((dm_uring_features(inst) & feat) != feat) {
        dm_instance_destroy(inst);
        skip();
    }
}

static inline int64_t ut_stat(struct dm_instance *inst, const char *name)
{
    int64_t v = dm_stats_get(inst, name);
    assert_true(v >= 0);
    return v;
}

static inline struct sockaddr_in ut_addr(uint16_t port)
{
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sin;
}

/* A socket bound to 127.0.0.1:0 (listening for TCP); *port is the port. */
static inline int ut_listen(struct dm_instance *inst, int type, uint16_t *port)
{
    int qd;
    assert_int_equal(dm_socket(inst, &qd, AF_INET, type, 0), 0);
    struct sockaddr_in sin = ut_addr(0);
    assert_int_equal(dm_bind(inst, qd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    if (type == SOCK_STREAM)
        assert_int_equal(dm_listen(inst, qd, 1024), 0);
    socklen_t len = sizeof(sin);
    assert_int_equal(dm_getsockname(inst, qd, (struct sockaddr *)&sin, &len), 0);
    *port = ntohs(sin.sin_port);
    return qd;
}

static inline demi_qresult_t ut_wait(struct dm_instance *inst, demi_qtoken_t qt)
{
    demi_qresult_t qr;
    assert_int_equal(dm_wait(inst, &qr, qt, UR_WAIT_NS), 0);
    return qr;
}

static inline void ut_pair(struct dm_instance *inst, int l, uint16_t port, int *c, int *s)
{
    demi_qtoken_t at, ct;
    assert_int_equal(dm_socket(inst, c, AF_INET, SOCK_STREAM, 0), 0);
    assert_int_equal(dm_accept(inst, &at, l), 0);
    struct sockaddr_in sin = ut_addr(port);
    assert_int_equal(dm_connect(inst, &ct, *c, (struct sockaddr *)&sin, sizeof(sin)), 0);
    demi_qresult_t qr = ut_wait(inst, ct);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_CONNECT);
    qr = ut_wait(inst, at);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_ACCEPT);
    *s = qr.qr_value.ares.qd;
}

static inline demi_qtoken_t ut_push(struct dm_instance *inst, int qd, const void *data, size_t len)
{
    int err;
    demi_sgarray_t sga = dm_sgaalloc(inst, len, &err);
    assert_int_equal(err, 0);
    memcpy(sga.sga_segs[0].sgaseg_buf, data, len);
    demi_qtoken_t qt;
    assert_int_equal(dm_push(inst, &qt, qd, &sga), 0);
    assert_int_equal(dm_sgafree(inst, &sga), 0);
    return qt;
}

/* Pops exactly len bytes into dst (fails on error or early EOF). */
/* One pop on qd, waited: the array it returned (the caller frees it). */
static inline demi_sgarray_t ut_pop_one(struct dm_instance *inst, int qd)
{
    demi_qtoken_t qt;
    assert_int_equal(dm_pop(inst, &qt, qd), 0);
    demi_qresult_t qr = ut_wait(inst, qt);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
    return qr.qr_value.sga;
}

static inline void ut_pop_exact(struct dm_instance *inst, int qd, uint8_t *dst, size_t len)
{
    size_t got = 0;
    while (got < len) {
        demi_sgarray_t arr = ut_pop_one(inst, qd), *sga = &arr;
        assert_true(sga->sga_numsegs >= 1);
        for (uint32_t i = 0; i < sga->sga_numsegs; i++) {
            uint32_t n = sga->sga_segs[i].sgaseg_len;
            assert_true(got + n <= len);
            memcpy(dst + got, sga->sga_segs[i].sgaseg_buf, n);
            got += n;
        }
        assert_int_equal(dm_sgafree(inst, sga), 0);
    }
}

/* Server side of an echo: pops until len bytes went back (zero copy: the
 * popped array is pushed as is). Push tokens are waited at the end. */
static inline void ut_echo_back(struct dm_instance *inst, int qd, size_t len)
{
    size_t got = 0;
    demi_qtoken_t pts[4096];
    int npts = 0;
    while (got < len) {
        demi_qtoken_t qt;
        assert_int_equal(dm_pop(inst, &qt, qd), 0);
        demi_qresult_t qr = ut_wait(inst, qt);
        assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
        demi_sgarray_t sga = qr.qr_value.sga;
        assert_true(sga.sga_numsegs >= 1);
        for (uint32_t i = 0; i < sga.sga_numsegs; i++)
            got += sga.sga_segs[i].sgaseg_len;
        assert_true(npts < (int)(sizeof(pts) / sizeof(pts[0])));
        assert_int_equal(dm_push(inst, &pts[npts++], qd, &sga), 0);
        assert_int_equal(dm_sgafree(inst, &sga), 0);
    }
    assert_int_equal(got, len);
    for (int i = 0; i < npts; i++)
        assert_int_equal(ut_wait(inst, pts[i]).qr_opcode, DEMI_OPC_PUSH);
}

static inline void ut_fill(uint8_t *p, size_t len, uint32_t seed)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)((i * 131u + seed) % 251u);
}

#endif /* UR_TEST_H */
