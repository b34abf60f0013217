/* SPDX-License-Identifier: MIT */
/*
 * Tests of the loop device: link pairs deliver in order and by reference,
 * a full ring pushes back (tx_burst accepts fewer) without losing frames,
 * self mode echoes, the registry gives ends 0/1 then -EBUSY and frees the
 * link, and checksum offload fills on TX and verifies on RX.
 */
#include <stdlib.h>
#include "dm/time.h"
#include "devtest.h"

struct pair {
    struct dm_instance *ia, *ib;
    struct dm_dev *a, *b;
};

static void pair_open(struct pair *p, const char *link, const char *ring)
{
    struct dm_config cfg;
    p->ia = devtest_instance();
    p->ib = devtest_instance();
    devtest_cfg(&cfg, link, ring, NULL);
    assert_int_equal(dm_dev_open(p->ia, "loop", NULL, &cfg, &p->a), 0);
    assert_int_equal(dm_dev_open(p->ib, "loop", NULL, &cfg, &p->b), 0);
}

static void pair_close(struct pair *p)
{
    dm_dev_close(p->a);
    dm_dev_close(p->b);
    dm_instance_destroy(p->ia);
    dm_instance_destroy(p->ib);
}

static void test_loop_pair_delivers_in_order_by_reference(void **state)
{
    (void)state;
    struct pair p;
    struct dm_dev_info ia, ib;
    pair_open(&p, "DEMI_LOOP_LINK=order", "DEMI_LOOP_RING=1024");

    assert_int_equal(p.a->ops->info(p.a, &ia), 0);
    assert_int_equal(p.b->ops->info(p.b, &ib), 0);
    static const uint8_t mac0[6] = { 2, 0, 0, 0, 0, 1 }, mac1[6] = { 2, 0, 0, 0, 0, 2 };
    assert_memory_equal(ia.mac, mac0, 6);
    assert_memory_equal(ib.mac, mac1, 6);
    assert_int_equal(ia.mtu, 1500);
    assert_true(ia.link_up && ib.link_up);
    assert_true(ia.caps & DM_DEV_CAP_TX_MULTISEG);

    /* a -> b: 500 frames in bursts of 16, some of them chains */
    struct dm_buf *sent[500], *pk[32];
    uint32_t next = 0, got = 0;
    for (uint32_t i = 0; i < 500; i += 16) {
        uint16_t n = (uint16_t)DM_MIN(16u, 500 - i);
        for (uint16_t j = 0; j < n; j++)
            sent[i + j] = pk[j] = (i + j) % 3 ? devtest_frame(p.ia, i + j, 60 + (i + j) % 1400)
                                              : devtest_frame2(p.ia, i + j, 200, 50);
        assert_int_equal(p.a->tx_burst(p.a, pk, n), n);
        /* nothing comes back on the sender's side */
        assert_int_equal(p.a->rx_burst(p.a, pk, 32), 0);
        uint16_t k = p.b->rx_burst(p.b, pk, 32);
        for (uint16_t j = 0; j < k; j++, got++) {
            assert_int_equal(devtest_id(pk[j]), next);
            assert_ptr_equal(pk[j], sent[next]); /* zero copy */
            next++;
            dm_buf_free(pk[j]);
        }
    }
    assert_int_equal(got, 500);

    /* and b -> a */
    pk[0] = devtest_frame(p.ib, 7, 64);
    assert_int_equal(p.b->tx_burst(p.b, pk, 1), 1);
    assert_int_equal(p.a->rx_burst(p.a, pk, 32), 1);
    assert_int_equal(devtest_id(pk[0]), 7);
    dm_buf_free(pk[0]);

    assert_int_equal(devtest_stat(p.ia, "loop.tx"), 500);
    assert_int_equal(devtest_stat(p.ib, "loop.rx"), 500);
    assert_int_equal(devtest_stat(p.ia, "loop.rx"), 1);
    pair_close(&p);
}

static void test_loop_full_ring_pushes_back_without_loss(void **state)
{
    (void)state;
    struct pair p;
    struct dm_buf *pk[100], *rx[128];
    pair_open(&p, "DEMI_LOOP_LINK=bp", "DEMI_LOOP_RING=64");

    for (uint32_t i = 0; i < 100; i++)
        pk[i] = devtest_frame(p.ia, i, 64);
    uint16_t k = p.a->tx_burst(p.a, pk, 100);
    assert_int_equal(k, 64);                          /* ring size */
    assert_int_equal(p.a->tx_burst(p.a, pk + k, 36), 0); /* still full */
    assert_int_equal(devtest_stat(p.ia, "loop.tx_full"), 36 + 36);

    uint32_t next = 0;
    uint16_t r = p.b->rx_burst(p.b, rx, 10);
    assert_int_equal(r, 10);
    /* 10 slots free now: exactly 10 more are accepted */
    assert_int_equal(p.a->tx_burst(p.a, pk + k, 36), 10);
    k += 10;
    for (uint16_t j = 0; j < r; j++, next++) {
        assert_int_equal(devtest_id(rx[j]), next);
        dm_buf_free(rx[j]);
    }
    while (next < 100) {
        if (k < 100)
            k += p.a->tx_burst(p.a, pk + k, (uint16_t)(100 - k));
        r = p.b->rx_burst(p.b, rx, 128);
        assert_true(r > 0);
        for (uint16_t j = 0; j < r; j++, next++) {
            assert_int_equal(devtest_id(rx[j]), next);
            dm_buf_free(rx[j]);
        }
    }
    assert_int_equal(p.b->rx_burst(p.b, rx, 128), 0);
    assert_int_equal(devtest_stat(p.ib, "loop.rx"), 100);
    pair_close(&p);
}

static void test_loop_self_mode_echoes_to_own_rx(void **state)
{
    (void)state;
    struct dm_instance *inst = devtest_instance();
    struct dm_config cfg;
    struct dm_dev *d;
    struct dm_dev_info info;
    struct dm_buf *pk[8];

    devtest_cfg(&cfg, "DEMI_MTU=9000", "DEMI_MAC=0a:bb:cc:dd:ee:0f", NULL);
    assert_int_equal(dm_dev_open(inst, "loop", NULL, &cfg, &d), 0);
    assert_int_equal(d->ops->info(d, &info), 0);
    static const uint8_t mac[6] = { 0x0a, 0xbb, 0xcc, 0xdd, 0xee, 0x0f };
    assert_memory_equal(info.mac, mac, 6);
    assert_int_equal(info.mtu, 9000);
    assert_true(info.link_up);
    assert_int_equal(d->ops->wait_fd(d), -1);

    for (uint32_t i = 0; i < 8; i++)
        pk[i] = devtest_frame(inst, 100 + i, 64);
    assert_int_equal(d->tx_burst(d, pk, 8), 8);
    assert_int_equal(d->rx_burst(d, pk, 8), 8);
    for (uint32_t i = 0; i < 8; i++) {
        assert_int_equal(devtest_id(pk[i]), 100 + i);
        dm_buf_free(pk[i]);
    }
    /* frames left unread are freed by close (ASan would see a leak) */
    pk[0] = devtest_frame(inst, 1, 64);
    assert_int_equal(d->tx_burst(d, pk, 1), 1);
    dm_dev_close(d);
    dm_instance_destroy(inst);
}

static void test_loop_registry_ends_busy_and_reuse(void **state)
{
    (void)state;
    struct dm_instance *inst = devtest_instance();
    struct dm_config cfg;
    struct dm_dev *a, *b, *c;
    struct dm_dev_info info;

    devtest_cfg(&cfg, "DEMI_LOOP_LINK=reg", NULL);
    assert_int_equal(dm_dev_open(inst, "loop", NULL, &cfg, &a), 0);
    assert_int_equal(a->ops->info(a, &info), 0);
    assert_false(info.link_up);               /* no peer yet */
    assert_int_equal(dm_dev_open(inst, "loop", NULL, &cfg, &b), 0);
    assert_int_equal(dm_dev_open(inst, "loop", NULL, &cfg, &c), -EBUSY);
    assert_int_equal(a->ops->info(a, &info), 0);
    assert_true(info.link_up);

    /* a frame waiting for b is freed when b closes (ASan checks) */
    struct dm_buf *pk = devtest_frame(inst, 1, 64);
    assert_int_equal(a->tx_burst(a, &pk, 1), 1);
    dm_dev_close(b);
    assert_int_equal(a->ops->info(a, &info), 0);
    assert_false(info.link_up);
    /* the free end is taken again */
    assert_int_equal(dm_dev_open(inst, "loop", NULL, &cfg, &b), 0);
    assert_int_equal(b->ops->info(b, &info), 0);
    assert_int_equal(info.mac[5], 2);
    assert_int_equal(b->rx_burst(b, &pk, 1), 0);
    dm_dev_close(a);
    dm_dev_close(b);

    /* both closed: the link is gone, a new opener is end 0 again */
    assert_int_equal(dm_dev_open(inst, "loop", NULL, &cfg, &a), 0);
    assert_int_equal(a->ops->info(a, &info), 0);
    assert_int_equal(info.mac[5], 1);
    dm_dev_close(a);
    dm_instance_destroy(inst);
}

static void test_loop_bad_config_is_einval(void **state)
{
    (void)state;
    struct dm_instance *inst = devtest_instance();
    struct dm_config cfg;
    struct dm_dev *d;
    devtest_cfg(&cfg, "DEMI_MAC=zz:00:00:00:00:00", NULL);
    assert_int_equal(dm_dev_open(inst, "loop", NULL, &cfg, &d), -EINVAL);
    devtest_cfg(&cfg, "DEMI_MTU=9001", NULL);
    assert_int_equal(dm_dev_open(inst, "loop", NULL, &cfg, &d), -EINVAL);
    devtest_cfg(&cfg, "DEMI_LOOP_RING=100", NULL);
    assert_int_equal(dm_dev_open(inst, "loop", NULL, &cfg, &d), -EINVAL);
    dm_instance_destroy(inst);
}

static void test_loop_oversize_and_runt_frames_are_dropped_and_counted(void **state)
{
    (void)state;
    struct dm_instance *inst = devtest_instance();
    struct dm_config cfg;
    struct dm_dev *d;
    struct dm_buf *pk[3];

    devtest_cfg(&cfg, "DEMI_MTU=1000", NULL);
    assert_int_equal(dm_dev_open(inst, "loop", NULL, &cfg, &d), 0);
    pk[0] = devtest_frame(inst, 1, 1018);    /* MTU + Ethernet + VLAN: fits */
    pk[1] = devtest_frame2(inst, 2, 1019, 500);
    pk[2] = dm_buf_alloc(inst);
    memset(dm_buf_append(pk[2], 10), 0, 10);
    assert_int_equal(d->tx_burst(d, pk, 3), 3); /* taken (and dropped), not refused */
    assert_int_equal(d->rx_burst(d, pk, 3), 1);
    assert_int_equal(devtest_id(pk[0]), 1);
    dm_buf_free(pk[0]);
    assert_int_equal(devtest_stat(inst, "loop.tx_bad"), 2);
    dm_dev_close(d);
    dm_instance_destroy(inst);
}

/* --- checksum offload ---------------------------------------------------- */

static int ip_ok(const uint8_t *f) { return devtest_fold(devtest_sum16(f + 14, 20, 0)) == 0xffff; }
static int l4_ok(const uint8_t *f, int proto, uint32_t len)
{
    const uint8_t *ip = f + 14;
    uint32_t l4len = len - 34;
    return devtest_fold(devtest_sum16(ip + 20, l4len, devtest_sum16(ip + 12, 8, (uint32_t)proto + l4len))) == 0xffff;
}

static void test_loop_csum_offload_fills_on_tx_and_verifies_on_rx(void **state)
{
    (void)state;
    struct dm_instance *inst = devtest_instance();
    struct dm_config cfg;
    struct dm_dev *d;
    struct dm_dev_info info;
    uint8_t f[1600], out[1600];

    devtest_cfg(&cfg, "DEMI_LOOP_CSUM_OFFLOAD=1", NULL);
    assert_int_equal(dm_dev_open(inst, "loop", NULL, &cfg, &d), 0);
    assert_int_equal(d->ops->info(d, &info), 0);
    uint32_t want = DM_DEV_CAP_TX_IPV4_CKSUM | DM_DEV_CAP_TX_TCP_CKSUM | DM_DEV_CAP_TX_UDP_CKSUM |
                    DM_DEV_CAP_RX_CKSUM;
    assert_int_equal(info.caps & want, want);

    for (int proto = 6; proto <= 17; proto += 11) {
        for (uint32_t plen = 0; plen < 40; plen += 13) { /* odd and even lengths */
            uint32_t len = devtest_ipv4(f, proto, plen);
            /* header and payload in two segments split at an odd offset */
            struct dm_buf *a = dm_buf_alloc(inst), *b = dm_buf_alloc(inst);
            uint32_t split = 14 + 20 + (proto == 6 ? 20 : 8) + (plen ? 1 : 0) - (plen ? 0 : 1);
            memcpy(dm_buf_append(a, split), f, split);
            memcpy(dm_buf_append(b, len - split), f + split, len - split);
            dm_buf_chain(a, b);
            a->ol_flags = DM_BUF_TX_IP_CKSUM | (proto == 6 ? DM_BUF_TX_TCP_CKSUM : DM_BUF_TX_UDP_CKSUM);
            a->l2_len = 14;
            a->l3_len = 20;
            assert_int_equal(d->tx_burst(d, &a, 1), 1);
            assert_int_equal(d->rx_burst(d, &a, 1), 1);
            assert_int_equal(a->ol_flags, DM_BUF_RX_IP_CKSUM_GOOD | DM_BUF_RX_L4_CKSUM_GOOD);
            assert_int_equal(dm_buf_copy_out(a, 0, out, len), len);
            assert_true(ip_ok(out));
            assert_true(l4_ok(out, proto, len));
            dm_buf_free(a);
        }
    }

    /* a frame with a wrong L4 checksum and no TX request is reported BAD */
    uint32_t len = devtest_ipv4(f, 17, 30);
    struct dm_buf *a = dm_buf_alloc(inst);
    memcpy(dm_buf_append(a, len), f, len);
    a->ol_flags = DM_BUF_TX_IP_CKSUM;
    assert_int_equal(d->tx_burst(d, &a, 1), 1);
    assert_int_equal(d->rx_burst(d, &a, 1), 1);
    assert_int_equal(a->ol_flags, DM_BUF_RX_IP_CKSUM_GOOD | DM_BUF_RX_L4_CKSUM_BAD);
    dm_buf_free(a);

    /* without offload the receiver gets no verdict */
    dm_dev_close(d);
    devtest_cfg(&cfg, "DEMI_LOOP_CSUM_OFFLOAD=0", NULL);
    assert_int_equal(dm_dev_open(inst, "loop", NULL, &cfg, &d), 0);
    assert_int_equal(d->ops->info(d, &info), 0);
    assert_int_equal(info.caps & want, 0);
    a = dm_buf_alloc(inst);
    memcpy(dm_buf_append(a, len), f, len);
    assert_int_equal(d->tx_burst(d, &a, 1), 1);
    assert_int_equal(d->rx_burst(d, &a, 1), 1);
    assert_int_equal(a->ol_flags, 0);
    dm_buf_free(a);
    dm_dev_close(d);
    dm_instance_destroy(inst);
}

/* DEMI_LOOP_TSO: a 5000-byte TCP payload in a chain of four, cut into
 * MSS-sized segments with what a NIC writes into each: IP length, ID +1,
 * sequence, FIN/PSH on the last only, CWR on the first only, checksums
 * from the preloaded pseudo-header sum without the length. */
static void test_loop_tso_cuts_frames_as_a_nic_does(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p, "DEMI_LOOP_LINK=tso", "DEMI_LOOP_TSO=1");
    struct dm_dev_info info;
    assert_int_equal(p.a->ops->info(p.a, &info), 0);
    uint32_t want = DM_DEV_CAP_TX_TCP_TSO | DM_DEV_CAP_TX_TCP_TSO6 | DM_DEV_CAP_TX_TCP_CKSUM;
    assert_int_equal(info.caps & want, want);
    assert_true(info.tso_max >= 60000);

    static uint8_t f[6000], out[2000];
    const uint32_t plen = 5000, seg = 1448, hl = 54;
    uint32_t len = devtest_ipv4(f, 6, plen);
    uint8_t *ip = f + 14, *th = ip + 20;
    ip[4] = 0x12, ip[5] = 0x34;                      /* ID */
    memcpy(th + 4, "\xff\xff\xf0\x00", 4);            /* a sequence that wraps */
    th[13] = 0x80 | 0x10 | 0x08 | 0x01;              /* CWR ACK PSH FIN */
    uint16_t ph = devtest_fold(devtest_sum16(ip + 12, 8, 6)); /* without the length */
    th[16] = (uint8_t)(ph >> 8), th[17] = (uint8_t)ph;
    const uint32_t cut[] = {hl, 2001, 1999, len - hl - 4000};
    struct dm_buf *head = NULL;
    for (uint32_t i = 0, off = 0; i < 4; off += cut[i++]) {
        struct dm_buf *b = dm_buf_alloc(p.ia);
        memcpy(dm_buf_append(b, cut[i]), f + off, cut[i]);
        if (head)
            dm_buf_chain(head, b);
        else
            head = b;
    }
    head->ol_flags = DM_BUF_TX_TCP_SEG | DM_BUF_TX_TCP_CKSUM | DM_BUF_TX_IP_CKSUM;
    head->l2_len = 14, head->l3_len = 20, head->l4_len = 20;
    head->tso_segsz = (uint16_t)seg;
    assert_int_equal(p.a->tx_burst(p.a, &head, 1), 1);

    struct dm_buf *rx[8];
    assert_int_equal(p.b->rx_burst(p.b, rx, 8), 4);
    for (uint32_t i = 0; i < 4; i++) {
        uint32_t pl = i < 3 ? seg : plen - 3 * seg, fl = rx[i]->pkt_len;
        assert_int_equal(fl, hl + pl);
        assert_int_equal(rx[i]->ol_flags, DM_BUF_RX_IP_CKSUM_GOOD | DM_BUF_RX_L4_CKSUM_GOOD);
        assert_int_equal(dm_buf_copy_out(rx[i], 0, out, fl), fl);
        assert_true(ip_ok(out));
        assert_true(l4_ok(out, 6, fl));
        assert_int_equal(out[16] << 8 | out[17], 40 + pl);
        assert_int_equal(out[18] << 8 | out[19], 0x1234 + i);
        uint32_t sq = (uint32_t)out[38] << 24 | (uint32_t)out[39] << 16 | (uint32_t)out[40] << 8 | out[41];
        assert_int_equal(sq, 0xfffff000u + i * seg);
        assert_int_equal(out[47], i == 0 ? 0x90 : i < 3 ? 0x10 : 0x19);
        assert_memory_equal(out + hl, f + hl + i * seg, pl);
        dm_buf_free(rx[i]);
    }
    assert_int_equal(devtest_stat(p.ia, "loop.tx_tso"), 1);
    assert_int_equal(devtest_stat(p.ia, "loop.tx"), 4);

    /* a frame that asks for TSO but cannot be cut (no segment size) is
     * dropped and counted, as a NIC refuses a bad descriptor */
    head = dm_buf_alloc(p.ia);
    memcpy(dm_buf_append(head, 200), f, 200);
    head->ol_flags = DM_BUF_TX_TCP_SEG | DM_BUF_TX_TCP_CKSUM;
    head->l2_len = 14, head->l3_len = 20, head->l4_len = 20;
    assert_int_equal(p.a->tx_burst(p.a, &head, 1), 1);
    assert_int_equal(p.b->rx_burst(p.b, rx, 8), 0);
    assert_int_equal(devtest_stat(p.ia, "loop.tx_bad"), 1);
    pair_close(&p);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* --bench ROUNDS [FAULTS]: cost of a 32-frame tx_burst + rx_burst across a
 * link pair (the same buffers go round: device overhead only), optionally
 * through the fault wrapper with a DEMI_FAULTS spec that neither drops nor
 * holds frames ("" for pass-through, "corrupt=0.01"). Prints p50/p99/p99.9
 * per burst and ns per frame. */
static int bench(long rounds, const char *faults)
{
    struct dm_instance *inst = devtest_instance();
    struct dm_config cfg;
    struct dm_dev *a, *b;
    struct dm_buf *pk[32];
    int64_t *lat = calloc((size_t)rounds, sizeof(int64_t));
    devtest_cfg(&cfg, "DEMI_LOOP_LINK=bench", NULL);
    if (!lat || dm_dev_open(inst, "loop", NULL, &cfg, &a) < 0 || dm_dev_open(inst, "loop", NULL, &cfg, &b) < 0)
        return 1;
    if (faults) {
        struct dm_dev *w;
        dm_config_set(&cfg, "DEMI_FAULTS", faults);
        if (dm_dev_open(inst, "fault", a, &cfg, &w) < 0)
            return 1;
        a = w;
    }
    for (int i = 0; i < 32; i++)
        pk[i] = devtest_frame(inst, (uint32_t)i, 64);
    int64_t t0 = dm_clock_ns();
    for (long r = 0; r < rounds; r++) {
        int64_t s = dm_clock_ns();
        uint16_t k = a->tx_burst(a, pk, 32), g = 0;
        for (int spin = 0; g < k && spin < 1000000; spin++)
            g += b->rx_burst(b, pk + g, (uint16_t)(k - g));
        if (g != k) {
            fprintf(stderr, "bench: frames lost (DEMI_FAULTS must not drop or hold)\n");
            return 1;
        }
        lat[r] = dm_clock_ns() - s;
        if (k != 32)
            return 1;
    }
    int64_t total = dm_clock_ns() - t0;
    qsort(lat, (size_t)rounds, sizeof(int64_t), cmp_i64);
    printf("loop pair%s%s: %ld bursts of 32: per burst p50 %lld ns p99 %lld ns p99.9 %lld ns; %.1f ns/frame, %.1f Mframes/s\n",
           faults ? " + fault " : "", faults ? (*faults ? faults : "(none)") : "", rounds,
           (long long)lat[rounds / 2], (long long)lat[rounds * 99 / 100], (long long)lat[rounds * 999 / 1000],
           (double)total / (double)(rounds * 32), (double)(rounds * 32) * 1e3 / (double)total);
    for (int i = 0; i < 32; i++)
        dm_buf_free(pk[i]);
    dm_dev_close(a);
    dm_dev_close(b);
    dm_instance_destroy(inst);
    free(lat);
    return 0;
}

static void test_loop_csum_offload_never_writes_shared_headers(void **state)
{
    (void)state;
    struct dm_instance *inst = devtest_instance();
    struct dm_config cfg;
    struct dm_dev *d;
    uint8_t f[256], kept[256], out[256];

    devtest_cfg(&cfg, "DEMI_LOOP_CSUM_OFFLOAD=1", NULL);
    assert_int_equal(dm_dev_open(inst, "loop", NULL, &cfg, &d), 0);
    uint32_t len = devtest_ipv4(f, 6, 33);
    struct dm_buf *hdr = dm_buf_alloc(inst);
    memcpy(dm_buf_append(hdr, len), f, len);
    /* the stack keeps the frame to send it again (a reference of its own) */
    for (int round = 0; round < 2; round++) {
        hdr->ol_flags = DM_BUF_TX_IP_CKSUM | DM_BUF_TX_TCP_CKSUM;
        dm_buf_ref(hdr);
        struct dm_buf *p = hdr;
        assert_int_equal(d->tx_burst(d, &p, 1), 1);
        assert_int_equal(d->rx_burst(d, &p, 1), 1);
        assert_int_equal(p->ol_flags, DM_BUF_RX_IP_CKSUM_GOOD | DM_BUF_RX_L4_CKSUM_GOOD);
        assert_int_equal(dm_buf_copy_out(p, 0, out, len), len);
        assert_true(l4_ok(out, 6, len));
        dm_buf_free(p);
        /* the kept bytes still hold the pseudo-header sum, as with a NIC */
        assert_int_equal(dm_buf_copy_out(hdr, 0, kept, len), len);
        assert_memory_equal(kept, f, len);
    }
    assert_int_equal(devtest_stat(inst, "loop.tx_csum_copy"), 2);
    dm_buf_free(hdr);
    dm_dev_close(d);
    dm_instance_destroy(inst);
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "--bench") == 0)
        return bench(atol(argv[2]), argc >= 4 ? argv[3] : NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loop_pair_delivers_in_order_by_reference),
        cmocka_unit_test(test_loop_full_ring_pushes_back_without_loss),
        cmocka_unit_test(test_loop_self_mode_echoes_to_own_rx),
        cmocka_unit_test(test_loop_registry_ends_busy_and_reuse),
        cmocka_unit_test(test_loop_bad_config_is_einval),
        cmocka_unit_test(test_loop_oversize_and_runt_frames_are_dropped_and_counted),
        cmocka_unit_test(test_loop_csum_offload_fills_on_tx_and_verifies_on_rx),
        cmocka_unit_test(test_loop_csum_offload_never_writes_shared_headers),
        cmocka_unit_test(test_loop_tso_cuts_frames_as_a_nic_does),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
