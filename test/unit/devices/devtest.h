/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the device tests: an instance to own buffer pools, a
 * config builder, and test frames that carry a sequence id so ordering,
 * loss and duplication can be checked at the receiver.
 *
 * A test frame: Ethernet header (dst 02:00:00:00:00:02, src ..:01, type
 * 0x88b5, the "local experimental" ethertype), then a 32-bit id, then
 * filler bytes derived from the id.
 */
#ifndef DEVTEST_H
#define DEVTEST_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include "dm/buf.h"
#include "dm/config.h"
#include "dm/device.h"
#include "dm/instance.h"
#include "dm/stats.h"

#define DEVTEST_ETHERTYPE 0x88b5

/* A config from "KEY=VAL" strings, NULL terminated. */
static inline void devtest_cfg(struct dm_config *cfg, ...)
{
    va_list ap;
    const char *kv;
    dm_config_init(cfg);
    va_start(ap, cfg);
    while ((kv = va_arg(ap, const char *)) != NULL) {
        char key[48];
        const char *eq = strchr(kv, '=');
        assert_non_null(eq);
        snprintf(key, sizeof(key), "%.*s", (int)(eq - kv), kv);
        assert_int_equal(dm_config_set(cfg, key, eq + 1), 0);
    }
    va_end(ap);
}

/* An instance that only provides pools, timers and counters: the posix
 * backend opens no device. */
static inline struct dm_instance *devtest_instance(void)
{
    struct dm_config cfg;
    struct dm_instance *inst = NULL;
    devtest_cfg(&cfg, "DEMI_BACKEND=posix", NULL);
    assert_int_equal(dm_instance_create(&cfg, &inst), 0);
    assert_non_null(inst);
    return inst;
}

static inline void devtest_fill(uint8_t *p, uint32_t len, uint32_t id)
{
    static const uint8_t dst[6] = { 2, 0, 0, 0, 0, 2 }, src[6] = { 2, 0, 0, 0, 0, 1 };
    memcpy(p, dst, 6);
    memcpy(p + 6, src, 6);
    p[12] = DEVTEST_ETHERTYPE >> 8;
    p[13] = DEVTEST_ETHERTYPE & 0xff;
    memcpy(p + 14, &id, 4);
    for (uint32_t i = 18; i < len; i++)
        p[i] = (uint8_t)(id * 31 + i);
}

/* A one-segment frame of `len` bytes (>= 18) carrying `id`. */
static inline struct dm_buf *devtest_frame(struct dm_instance *inst, uint32_t id, uint32_t len)
{
    struct dm_buf *b = dm_buf_alloc(inst);
    assert_non_null(b);
    uint8_t *p = dm_buf_append(b, len);
    assert_non_null(p);
    devtest_fill(p, len, id);
    return b;
}

/* The same frame split into two segments at `split`. */
static inline struct dm_buf *devtest_frame2(struct dm_instance *inst, uint32_t id, uint32_t len, uint32_t split)
{
    uint8_t tmp[2048];
    assert_true(len <= sizeof(tmp) && split < len);
    devtest_fill(tmp, len, id);
    struct dm_buf *a = dm_buf_alloc(inst), *b = dm_buf_alloc(inst);
    assert_non_null(a);
    assert_non_null(b);
    memcpy(dm_buf_append(a, split), tmp, split);
    memcpy(dm_buf_append(b, len - split), tmp + split, len - split);
    dm_buf_chain(a, b);
    assert_int_equal(a->pkt_len, len);
    assert_int_equal(a->nb_segs, 2);
    return a;
}

static inline uint32_t devtest_id(const struct dm_buf *b)
{
    uint32_t id = UINT32_MAX;
    assert_int_equal(dm_buf_copy_out(b, 14, &id, 4), 4);
    return id;
}

static inline void devtest_sleep_us(long us)
{
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
    nanosleep(&ts, NULL);
}

static inline int64_t devtest_stat(struct dm_instance *inst, const char *name)
{
    int64_t v = dm_stats_get(inst, name);
    assert_true(v >= 0);
    return v;
}

/* --- IPv4 frames for the checksum offload tests ---------------------- */

static inline uint32_t devtest_sum16(const uint8_t *p, size_t n, uint32_t s)
{
    for (; n > 1; p += 2, n -= 2)
        s += (uint32_t)(p[0] << 8 | p[1]);
    if (n)
        s += (uint32_t)p[0] << 8;
    return s;
}
static inline uint16_t devtest_fold(uint32_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)s;
}

/* Ethernet + IPv4 + UDP (proto 17) or TCP (6) with `plen` payload bytes,
 * checksums left for the device: IP field 0, L4 field = pseudo-header sum. */
static inline uint32_t devtest_ipv4(uint8_t *f, int proto, uint32_t plen)
{
    uint32_t l4h = proto == 6 ? 20 : 8, l4len = l4h + plen, tot = 20 + l4len;
    memset(f, 0, 14 + tot);
    memcpy(f, "\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00", 14);
    uint8_t *ip = f + 14, *l4 = ip + 20;
    ip[0] = 0x45;
    ip[2] = (uint8_t)(tot >> 8);
    ip[3] = (uint8_t)tot;
    ip[6] = 0x40; /* DF */
    ip[8] = 64;
    ip[9] = (uint8_t)proto;
    memcpy(ip + 12, "\x0a\0\0\x01\x0a\0\0\x02", 8);
    l4[0] = 0x30; l4[1] = 0x39; l4[2] = 0x00; l4[3] = 0x50;
    if (proto == 6)
        l4[12] = 5 << 4;
    else {
        l4[4] = (uint8_t)(l4len >> 8);
        l4[5] = (uint8_t)l4len;
    }
    for (uint32_t i = 0; i < plen; i++)
        l4[l4h + i] = (uint8_t)(i * 7 + 3);
    uint16_t ph = devtest_fold(devtest_sum16(ip + 12, 8, (uint32_t)proto + l4len));
    uint8_t *ck = l4 + (proto == 6 ? 16 : 6);
    ck[0] = (uint8_t)(ph >> 8);
    ck[1] = (uint8_t)ph;
    return 14 + tot;
}

#endif /* DEVTEST_H */
