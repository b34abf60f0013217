/* SPDX-License-Identifier: MIT */
/* The posix backend: pushes longer than one sendmsg's iovec array. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "dm/instance.h"

static void test_posix_push_of_40_segments_arrives_whole(void **s)
{
    (void)s;
    struct dm_config cfg;
    dm_config_init(&cfg);
    dm_config_set(&cfg, "DEMI_BACKEND", "posix");
    struct dm_instance *inst;
    assert_int_equal(dm_instance_create(&cfg, &inst), 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    int l, c;
    socklen_t len = sizeof(sin);
    assert_int_equal(dm_socket(inst, &l, AF_INET, SOCK_STREAM, 0), 0);
    assert_int_equal(dm_bind(inst, l, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(dm_listen(inst, l, 4), 0);
    assert_int_equal(dm_getsockname(inst, l, (struct sockaddr *)&sin, &len), 0);
    demi_qtoken_t at, ct, pt;
    demi_qresult_t qr;
    assert_int_equal(dm_socket(inst, &c, AF_INET, SOCK_STREAM, 0), 0);
    assert_int_equal(dm_accept(inst, &at, l), 0);
    assert_int_equal(dm_connect(inst, &ct, c, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(dm_wait(inst, &qr, ct, 5000000000LL), 0);
    assert_int_equal(dm_wait(inst, &qr, at, 5000000000LL), 0);
    int sv = qr.qr_value.ares.qd;

    enum { SEGS = 40, SEG = 100 };
    struct dm_buf *chain = NULL;
    for (int i = 0; i < SEGS; i++) {
        struct dm_buf *b = dm_buf_alloc(inst);
        memset(dm_buf_append(b, SEG), 'a' + i % 26, SEG);
        if (chain)
            dm_buf_chain(chain, b);
        else
            chain = b;
    }
    assert_int_equal(dm_push_chain(inst, &pt, c, chain, NULL), 0);
    uint8_t got[SEGS * SEG];
    uint32_t have = 0;
    while (have < sizeof(got)) {
        demi_qtoken_t ot;
        assert_int_equal(dm_pop(inst, &ot, sv), 0);
        assert_int_equal(dm_wait(inst, &qr, ot, 5000000000LL), 0);
        assert_true(qr.qr_value.sga.sga_numsegs > 0);
        uint32_t n = qr.qr_value.sga.sga_segs[0].sgaseg_len;
        assert_true(have + n <= sizeof(got));
        memcpy(got + have, qr.qr_value.sga.sga_segs[0].sgaseg_buf, n);
        have += n;
        dm_sgafree(inst, &qr.qr_value.sga);
    }
    for (int i = 0; i < SEGS * SEG; i++)
        assert_int_equal(got[i], 'a' + (i / SEG) % 26);
    assert_int_equal(dm_wait(inst, &qr, pt, 5000000000LL), 0);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_PUSH);
    dm_close(inst, c);
    dm_close(inst, sv);
    dm_close(inst, l);
    dm_instance_destroy(inst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_posix_push_of_40_segments_arrives_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
