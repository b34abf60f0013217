/* SPDX-License-Identifier: MIT */
/* Buffers: pools, slices keeping memory alive, chains, exhaustion. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "dm/buf.h"
#include "dm/config.h"
#include "dm/instance.h"
#include "dm/stats.h"

static struct dm_instance *mk(const char *nbufs)
{
    struct dm_config cfg;
    dm_config_init(&cfg);
    dm_config_set(&cfg, "DEMI_BACKEND", "posix");
    dm_config_set(&cfg, "DEMI_BUF_COUNT", nbufs);
    dm_config_set(&cfg, "DEMI_HDR_COUNT", nbufs);
    struct dm_instance *inst;
    assert_int_equal(dm_instance_create(&cfg, &inst), 0);
    return inst;
}

static void test_buf_alloc_has_headroom_and_returns_to_pool(void **s)
{
    (void)s;
    struct dm_instance *inst = mk("64");
    struct dm_buf *b = dm_buf_alloc(inst);
    assert_non_null(b);
    assert_int_equal(dm_buf_headroom(b), DM_BUF_HEADROOM);
    assert_true(dm_buf_tailroom(b) >= 2048);
    uint8_t *h = dm_buf_prepend(b, 54);
    assert_ptr_equal(h, b->data);
    assert_int_equal(b->len, 54);
    dm_buf_free(b);
    /* LIFO: the same buffer comes back. */
    struct dm_buf *b2 = dm_buf_alloc(inst);
    assert_ptr_equal(b2, b);
    dm_buf_free(b2);
    dm_instance_destroy(inst);
}

static void test_buf_pool_exhaustion_gives_null_not_abort(void **s)
{
    (void)s;
    struct dm_instance *inst = mk("64");
    struct dm_buf *bufs[64];
    for (int i = 0; i < 64; i++)
        assert_non_null(bufs[i] = dm_buf_alloc(inst));
    assert_null(dm_buf_alloc(inst));
    for (int i = 0; i < 64; i++)
        dm_buf_free(bufs[i]);
    assert_non_null(bufs[0] = dm_buf_alloc(inst));
    dm_buf_free(bufs[0]);
    dm_instance_destroy(inst);
}

/* The application's buffers leave the last eighth of the pool to the
 * stack: past it they come from the heap, and the stack's own allocations
 * still find pool buffers (an ACK when every connection's data is stuck). */
static void test_buf_app_allocs_leave_a_reserve_for_the_stack(void **s)
{
    (void)s;
    struct dm_instance *inst = mk("64");
    struct dm_buf *app[70], *stack[8];
    for (int i = 0; i < 56; i++) {
        assert_non_null(app[i] = dm_buf_alloc_app(inst, 100, false));
        assert_non_null(app[i]->pool); /* from the pool down to the reserve */
    }
    for (int i = 56; i < 70; i++) {
        assert_non_null(app[i] = dm_buf_alloc_app(inst, 100, i & 1));
        assert_null(app[i]->pool); /* heap: the reserve is not the app's */
        assert_true(dm_buf_tailroom(app[i]) >= 100);
    }
    assert_int_equal(dm_stats_get(inst, "core.buf_reserve_hit"), 14);
    for (int i = 0; i < 8; i++)
        assert_non_null(stack[i] = dm_buf_alloc(inst));
    assert_null(dm_buf_alloc(inst));
    for (int i = 0; i < 8; i++)
        dm_buf_free(stack[i]);
    for (int i = 0; i < 70; i++)
        dm_buf_free(app[i]);
    struct dm_buf *all[64];
    for (int i = 0; i < 64; i++) /* every pool buffer came back */
        assert_non_null(all[i] = dm_buf_alloc(inst));
    assert_null(dm_buf_alloc(inst));
    for (int i = 0; i < 64; i++)
        dm_buf_free(all[i]);
    /* above the reserve, a size beyond one slot is the heap's unless partial */
    struct dm_buf *big = dm_buf_alloc_app(inst, 5000, false), *part = dm_buf_alloc_app(inst, 5000, true);
    assert_null(big->pool);
    assert_non_null(part->pool);
    dm_buf_free(big);
    dm_buf_free(part);
    dm_instance_destroy(inst);
}

static void test_buf_slice_keeps_memory_alive_after_owner_freed(void **s)
{
    (void)s;
    struct dm_instance *inst = mk("64");
    struct dm_buf *b = dm_buf_alloc(inst);
    memcpy(dm_buf_append(b, 10), "0123456789", 10);
    struct dm_buf *sl = dm_buf_slice(inst, b, 2, 5);
    assert_non_null(sl);
    assert_int_equal(b->refcnt, 2);
    dm_buf_free(b); /* the owner's holder lets go */
    assert_int_equal(b->refcnt, 1);
    assert_memory_equal(sl->data, "23456", 5);
    /* A slice of a slice points at the owner, not at the slice. */
    struct dm_buf *sl2 = dm_buf_slice(inst, sl, 1, 2);
    assert_ptr_equal(sl2->shared, b);
    assert_memory_equal(sl2->data, "34", 2);
    dm_buf_free(sl);
    dm_buf_free(sl2);
    assert_int_equal(b->magic, 0); /* back in the pool */
    assert_null(dm_buf_slice(inst, dm_buf_alloc(inst), 1, 1)); /* out of range of an empty buffer */
    dm_instance_destroy(inst);
}

static int ext_freed;
static void ext_free(struct dm_buf *b, void *arg)
{
    (void)b;
    ext_freed += *(int *)arg;
}

static void test_buf_wrap_ext_calls_owner_once(void **s)
{
    (void)s;
    struct dm_instance *inst = mk("64");
    static char mem[100];
    int one = 1;
    ext_freed = 0;
    struct dm_buf *b = dm_buf_wrap_ext(inst, mem, sizeof(mem), ext_free, &one);
    struct dm_buf *sl = dm_buf_slice(inst, b, 0, 10);
    dm_buf_free(b);
    assert_int_equal(ext_freed, 0);
    dm_buf_free(sl);
    assert_int_equal(ext_freed, 1);
    dm_instance_destroy(inst);
}

static void test_buf_chain_linearize_and_copy_out(void **s)
{
    (void)s;
    struct dm_instance *inst = mk("64");
    struct dm_buf *a = dm_buf_alloc(inst), *b = dm_buf_alloc(inst), *c = dm_buf_alloc(inst);
    memcpy(dm_buf_append(a, 3), "abc", 3);
    memcpy(dm_buf_append(b, 2), "de", 2);
    memcpy(dm_buf_append(c, 4), "fghi", 4);
    dm_buf_chain(a, b);
    dm_buf_chain(a, c);
    assert_int_equal(a->pkt_len, 9);
    assert_int_equal(a->nb_segs, 3);
    char out[9];
    assert_int_equal(dm_buf_copy_out(a, 2, out, 5), 5);
    assert_memory_equal(out, "cdefg", 5);
    struct dm_buf *l = dm_buf_linearize(inst, a);
    assert_int_equal(l->len, 9);
    assert_memory_equal(l->data, "abcdefghi", 9);
    dm_buf_free(a);
    dm_buf_free(l);
    dm_instance_destroy(inst);
}

static int released;
static void count_release(void *arg)
{
    (void)arg;
    released++;
}

/* A pool moves into a device's memory (AF_XDP's UMEM) only while every
 * buffer is home; afterwards every buffer lies in that memory, and the
 * owner hears when the pool is done with it. */
static void test_buf_pool_place_moves_buffers_only_when_all_are_home(void **s)
{
    (void)s;
    struct dm_instance *inst = mk("64");
    struct dm_bufpool *p = dm_instance_data_pool(inst);
    void *base;
    size_t len;
    dm_bufpool_region(p, &base, &len);
    assert_true(len >= 64 * 2048);
    static uint8_t mem[64 * 4096] __attribute__((aligned(4096)));
    assert_true(len <= sizeof(mem));
    assert_int_equal(dm_bufpool_place(p, mem, len - 1, count_release, NULL), -EINVAL);
    struct dm_buf *b = dm_buf_alloc(inst);
    assert_int_equal(dm_bufpool_place(p, NULL, 0, NULL, NULL), -EBUSY);
    assert_int_equal(dm_bufpool_place(p, mem, len, count_release, NULL), -EBUSY);
    dm_buf_free(b);
    assert_int_equal(dm_bufpool_place(p, NULL, 0, NULL, NULL), 0); /* only asks */
    dm_bufpool_region(p, &base, &len);
    assert_ptr_not_equal(base, mem);
    released = 0;
    assert_int_equal(dm_bufpool_place(p, mem, len, count_release, NULL), 0);
    dm_bufpool_region(p, &base, &len);
    assert_ptr_equal(base, mem);
    struct dm_buf *bufs[64];
    for (int i = 0; i < 64; i++) {
        assert_non_null(bufs[i] = dm_buf_alloc(inst));
        assert_true(bufs[i]->base >= mem && bufs[i]->base + bufs[i]->cap <= mem + len);
        memset(bufs[i]->data, i, 2048);
    }
    for (int i = 0; i < 64; i++)
        dm_buf_free(bufs[i]);
    assert_int_equal(released, 0);
    dm_instance_destroy(inst);
    assert_int_equal(released, 1);
}

static void test_buf_large_alloc_comes_from_heap(void **s)
{
    (void)s;
    struct dm_instance *inst = mk("64");
    struct dm_buf *b = dm_buf_alloc_size(inst, 1 << 20);
    assert_non_null(b);
    assert_null(b->pool);
    assert_true(dm_buf_tailroom(b) >= (1u << 20));
    memset(dm_buf_append(b, 1 << 20), 7, 1 << 20);
    dm_buf_free(b);
    dm_instance_destroy(inst);
}

/* mem.* shows what the pool costs: the data slots written, not the
 * count configured (its mapping is touched only as buffers are used). */
static void test_buf_mem_gauges_count_only_the_buffers_used(void **s)
{
    (void)s;
    struct dm_instance *inst = mk("4096");
    int64_t data0 = dm_stats_get(inst, "mem.pool_data_bytes");
    int64_t meta0 = dm_stats_get(inst, "mem.pool_meta_bytes");
    assert_true(data0 >= 0 && data0 < 64 * 1024); /* 4096 x 2 KiB configured */
    assert_true(meta0 >= 0 && meta0 < 4096);
    assert_true(dm_stats_get(inst, "mem.table_bytes") > 0);
    struct dm_buf *bufs[100];
    for (int i = 0; i < 100; i++) {
        assert_non_null(bufs[i] = dm_buf_alloc(inst));
        memset(dm_buf_append(bufs[i], 2048), i, 2048);
    }
    int64_t data1 = dm_stats_get(inst, "mem.pool_data_bytes");
    assert_true(data1 >= data0 + 100 * 2048);
    assert_true(data1 < data0 + 100 * 2048 + 200 * 1024);
    assert_true(dm_stats_get(inst, "mem.pool_meta_bytes") >= meta0 + 100 * (int64_t)sizeof(struct dm_buf));
    for (int i = 0; i < 100; i++)
        dm_buf_free(bufs[i]);
    dm_instance_destroy(inst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_alloc_has_headroom_and_returns_to_pool),
        cmocka_unit_test(test_buf_pool_exhaustion_gives_null_not_abort),
        cmocka_unit_test(test_buf_slice_keeps_memory_alive_after_owner_freed),
        cmocka_unit_test(test_buf_wrap_ext_calls_owner_once),
        cmocka_unit_test(test_buf_chain_linearize_and_copy_out),
        cmocka_unit_test(test_buf_large_alloc_comes_from_heap),
        cmocka_unit_test(test_buf_pool_place_moves_buffers_only_when_all_are_home),
        cmocka_unit_test(test_buf_app_allocs_leave_a_reserve_for_the_stack),
        cmocka_unit_test(test_buf_mem_gauges_count_only_the_buffers_used),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
