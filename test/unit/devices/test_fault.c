/* SPDX-License-Identifier: MIT */
/*
 * Tests of the fault wrapper (over a loop device in self mode): configured
 * rates are met within statistical tolerance, a seed fixes the sequence,
 * corruption never touches the sender's buffer, duplicates are references,
 * reordering and backpressure never lose frames, delay holds frames until
 * due, bad DEMI_FAULTS is -EINVAL, and info/wait_fd pass through.
 */
#include <stdlib.h>
#include <unistd.h>
#include "devtest.h"

struct fx {
    struct dm_instance *inst;
    struct dm_dev *lower, *dev;
};

static int fx_open(struct fx *x, const char *faults, const char *ring)
{
    struct dm_config cfg;
    x->inst = devtest_instance();
    devtest_cfg(&cfg, ring ? ring : "DEMI_LOOP_RING=4096", faults, NULL);
    assert_int_equal(dm_dev_open(x->inst, "loop", NULL, &cfg, &x->lower), 0);
    int err = dm_dev_open(x->inst, "fault", x->lower, &cfg, &x->dev);
    if (err < 0)
        dm_dev_close(x->lower);
    return err;
}

static void fx_close(struct fx *x)
{
    dm_dev_close(x->dev); /* closes lower too */
    dm_instance_destroy(x->inst);
}

/* Lets time pass (past hold_us/delay_us) so held frames are released. */
static void fx_settle(struct fx *x, long us)
{
    devtest_sleep_us(us);
    assert_true(dm_poll(x->inst, 0) >= 0);
}

/* Sends `count` frames, receiving as it goes; records received ids in
 * ids[] (up to cap) and returns how many arrived. */
static uint32_t fx_run(struct fx *x, uint32_t count, uint32_t *ids, uint32_t cap)
{
    struct dm_buf *pk[32];
    uint32_t sent = 0, got = 0;
    while (sent < count) {
        uint16_t n = (uint16_t)DM_MIN(32u, count - sent);
        for (uint16_t j = 0; j < n; j++)
            pk[j] = devtest_frame(x->inst, sent + j, 64);
        uint16_t k = x->dev->tx_burst(x->dev, pk, n);
        for (uint16_t j = k; j < n; j++)
            dm_buf_free(pk[j]); /* refused: retried as fresh frames below */
        sent += k;
        uint16_t r;
        while ((r = x->dev->rx_burst(x->dev, pk, 32)) > 0)
            for (uint16_t j = 0; j < r; j++, got++) {
                if (got < cap)
                    ids[got] = devtest_id(pk[j]);
                dm_buf_free(pk[j]);
            }
    }
    for (int tries = 0; tries < 200; tries++) {
        fx_settle(x, 200);
        uint16_t r = x->dev->rx_burst(x->dev, pk, 32);
        for (uint16_t j = 0; j < r; j++, got++) {
            if (got < cap)
                ids[got] = devtest_id(pk[j]);
            dm_buf_free(pk[j]);
        }
        if (!r && tries > 10)
            break;
    }
    return got;
}

static void assert_near(int64_t got, double want, double tol)
{
    if (got < want * (1 - tol) || got > want * (1 + tol))
        fail_msg("got %lld, want %.0f +- %.0f%%", (long long)got, want, tol * 100);
}

static void test_fault_rates_match_config_over_100k_frames(void **state)
{
    (void)state;
    struct fx x;
    const uint32_t N = 100000;
    assert_int_equal(fx_open(&x, "DEMI_FAULTS=drop=0.02,reorder=0.05,dup=0.01,corrupt=0.001,seed=7", NULL), 0);
    uint32_t got = fx_run(&x, N, NULL, 0);

    int64_t dropped = devtest_stat(x.inst, "fault.dropped");
    int64_t dup = devtest_stat(x.inst, "fault.duplicated");
    /* tolerances are > 4 standard deviations of a binomial */
    assert_near(dropped, 0.02 * N, 0.10);
    assert_near(dup, 0.01 * N * 0.98, 0.15);
    assert_near(devtest_stat(x.inst, "fault.corrupted"), 0.001 * N * 0.98, 0.45);
    assert_near(devtest_stat(x.inst, "fault.reordered"), 0.05 * N * 0.98, 0.10);
    assert_int_equal(devtest_stat(x.inst, "fault.delayed"), 0);
    /* everything not dropped arrived, plus the duplicates */
    assert_int_equal(got, N - (uint32_t)dropped + (uint32_t)dup);
    fx_close(&x);
}

static void run_seq(const char *faults, uint32_t *ids, uint32_t cap, uint32_t *got, int64_t ctr[4])
{
    struct fx x;
    assert_int_equal(fx_open(&x, faults, NULL), 0);
    *got = fx_run(&x, 3000, ids, cap);
    ctr[0] = devtest_stat(x.inst, "fault.dropped");
    ctr[1] = devtest_stat(x.inst, "fault.reordered");
    ctr[2] = devtest_stat(x.inst, "fault.duplicated");
    ctr[3] = devtest_stat(x.inst, "fault.corrupted");
    fx_close(&x);
}

static void test_fault_same_seed_gives_same_sequence(void **state)
{
    (void)state;
    enum { CAP = 4000 };
    uint32_t *a = calloc(CAP, 4), *b = calloc(CAP, 4), *c = calloc(CAP, 4), ga, gb, gc;
    int64_t ca[4], cb[4], cc[4];
    const char *f7 = "DEMI_FAULTS=drop=0.05,reorder=0.1,dup=0.05,corrupt=0.01,seed=7";
    run_seq(f7, a, CAP, &ga, ca);
    run_seq(f7, b, CAP, &gb, cb);
    run_seq("DEMI_FAULTS=drop=0.05,reorder=0.1,dup=0.05,corrupt=0.01,seed=8", c, CAP, &gc, cc);
    assert_int_equal(ga, gb);
    assert_memory_equal(ca, cb, sizeof(ca));
    assert_memory_equal(a, b, ga * sizeof(uint32_t));
    assert_true(ca[0] > 0 && ca[1] > 0 && ca[2] > 0 && ca[3] > 0);
    /* another seed, another sequence */
    assert_true(ga != gc || memcmp(a, c, ga * sizeof(uint32_t)) != 0);
    free(a);
    free(b);
    free(c);
}

static void test_fault_corrupt_flips_one_bit_of_a_copy_never_the_sender_buffer(void **state)
{
    (void)state;
    struct fx x;
    assert_int_equal(fx_open(&x, "DEMI_FAULTS=corrupt=1,seed=3", NULL), 0);
    for (uint32_t i = 0; i < 50; i++) {
        uint8_t before[300], after[300], rxd[300];
        struct dm_buf *p = i % 2 ? devtest_frame(x.inst, i, 300) : devtest_frame2(x.inst, i, 300, 77);
        /* the sender keeps slices of the data, like a TCP retransmission queue */
        struct dm_buf *keep = dm_buf_slice(x.inst, p, 0, p->len);
        assert_non_null(keep);
        if (p->next)
            dm_buf_chain(keep, dm_buf_slice(x.inst, p->next, 0, p->next->len));
        assert_int_equal(dm_buf_copy_out(p, 0, before, 300), 300);
        assert_int_equal(x.dev->tx_burst(x.dev, &p, 1), 1);
        struct dm_buf *r;
        assert_int_equal(x.dev->rx_burst(x.dev, &r, 1), 1);
        assert_ptr_not_equal(r, p);
        assert_int_equal(r->pkt_len, 300);
        assert_int_equal(dm_buf_copy_out(keep, 0, after, 300), 300);
        assert_memory_equal(before, after, 300);
        assert_int_equal(dm_buf_copy_out(r, 0, rxd, 300), 300);
        int bits = 0;
        for (int j = 0; j < 300; j++)
            bits += __builtin_popcount((unsigned)(before[j] ^ rxd[j]));
        assert_int_equal(bits, 1);
        dm_buf_free(r);
        dm_buf_free(keep);
    }
    assert_int_equal(devtest_stat(x.inst, "fault.corrupted"), 50);
    fx_close(&x);
}

static void test_fault_dup_sends_a_reference_not_a_copy(void **state)
{
    (void)state;
    struct fx x;
    struct dm_buf *p, *r[4];
    assert_int_equal(fx_open(&x, "DEMI_FAULTS=dup=1", NULL), 0);
    p = devtest_frame2(x.inst, 42, 200, 60);
    assert_int_equal(x.dev->tx_burst(x.dev, &p, 1), 1);
    assert_int_equal(x.dev->rx_burst(x.dev, r, 4), 2);
    assert_int_equal(devtest_id(r[0]), 42);
    assert_int_equal(devtest_id(r[1]), 42);
    assert_int_equal(r[1]->pkt_len, 200);
    assert_int_equal(r[1]->nb_segs, 2);
    /* same bytes in memory, two headers */
    assert_ptr_not_equal(r[0], r[1]);
    assert_ptr_equal(r[0]->data, r[1]->data);
    assert_ptr_equal(r[0]->next->data, r[1]->next->data);
    dm_buf_free(r[0]);
    dm_buf_free(r[1]);
    assert_int_equal(devtest_stat(x.inst, "fault.duplicated"), 1);
    fx_close(&x);
}

static void test_fault_dup_over_csum_offload_gives_two_good_frames(void **state)
{
    (void)state;
    struct fx x;
    struct dm_buf *p, *r[4];
    uint8_t f[200];
    assert_int_equal(fx_open(&x, "DEMI_FAULTS=dup=1", "DEMI_LOOP_CSUM_OFFLOAD=1"), 0);
    for (int proto = 6; proto <= 17; proto += 11) {
        uint32_t len = devtest_ipv4(f, proto, 41);
        p = dm_buf_alloc(x.inst);
        memcpy(dm_buf_append(p, len), f, len);
        p->ol_flags = DM_BUF_TX_IP_CKSUM | (proto == 6 ? DM_BUF_TX_TCP_CKSUM : DM_BUF_TX_UDP_CKSUM);
        assert_int_equal(x.dev->tx_burst(x.dev, &p, 1), 1);
        assert_int_equal(x.dev->rx_burst(x.dev, r, 4), 2);
        /* the two references share memory: each checksum is filled once */
        for (int i = 0; i < 2; i++) {
            assert_int_equal(r[i]->ol_flags, DM_BUF_RX_IP_CKSUM_GOOD | DM_BUF_RX_L4_CKSUM_GOOD);
            dm_buf_free(r[i]);
        }
    }
    fx_close(&x);
}

static void test_fault_corruption_lands_after_offloaded_checksums(void **state)
{
    (void)state;
    struct fx x;
    struct dm_buf *p, *r;
    uint8_t f[200], got[200];
    int detected = 0, in_eth = 0;
    assert_int_equal(fx_open(&x, "DEMI_FAULTS=corrupt=1,seed=9", "DEMI_LOOP_CSUM_OFFLOAD=1"), 0);
    for (int i = 0; i < 200; i++) {
        int proto = i % 2 ? 6 : 17;
        uint32_t len = devtest_ipv4(f, proto, 60);
        p = dm_buf_alloc(x.inst);
        memcpy(dm_buf_append(p, len), f, len);
        p->ol_flags = DM_BUF_TX_IP_CKSUM | (proto == 6 ? DM_BUF_TX_TCP_CKSUM : DM_BUF_TX_UDP_CKSUM);
        assert_int_equal(x.dev->tx_burst(x.dev, &p, 1), 1);
        assert_int_equal(x.dev->rx_burst(x.dev, &r, 1), 1);
        assert_int_equal(dm_buf_copy_out(r, 0, got, len), len);
        /* f holds no final checksums: compare outside the checksum fields */
        uint32_t l4ck = proto == 6 ? 14 + 20 + 16 : 14 + 20 + 6;
        for (uint32_t j = 24; j < 26; j++)
            got[j] = f[j];
        got[l4ck] = f[l4ck];
        got[l4ck + 1] = f[l4ck + 1];
        /* the flipped bit is in the Ethernet header (IP/L4 intact), or the
         * receiver's checksum check catches it */
        if (memcmp(got, f, 14) != 0) {
            in_eth++;
        } else {
            assert_true(r->ol_flags != (DM_BUF_RX_IP_CKSUM_GOOD | DM_BUF_RX_L4_CKSUM_GOOD));
            detected++;
        }
        dm_buf_free(r);
    }
    assert_int_equal(detected + in_eth, 200);
    assert_true(detected > 150);
    fx_close(&x);
}

static void check_each_once(const uint32_t *ids, uint32_t got, uint32_t n, uint32_t *inversions)
{
    uint8_t *seen = calloc(n, 1);
    assert_int_equal(got, n);
    *inversions = 0;
    for (uint32_t i = 0; i < got; i++) {
        assert_true(ids[i] < n);
        assert_int_equal(seen[ids[i]], 0);
        seen[ids[i]] = 1;
        if (i && ids[i] < ids[i - 1])
            (*inversions)++;
    }
    free(seen);
}

static void test_fault_reorder_delivers_everything_out_of_order(void **state)
{
    (void)state;
    struct fx x;
    enum { N = 20000 };
    uint32_t *ids = calloc(N, 4), inv;
    assert_int_equal(fx_open(&x, "DEMI_FAULTS=reorder=0.3,depth=8,hold_us=500,seed=11", NULL), 0);
    uint32_t got = fx_run(&x, N, ids, N);
    check_each_once(ids, got, N, &inv);
    assert_true(inv > N / 10);
    assert_true(devtest_stat(x.inst, "fault.reordered") > N / 5);
    fx_close(&x);

    /* a lone frame held back is released by time, not kept forever */
    assert_int_equal(fx_open(&x, "DEMI_FAULTS=reorder=1,hold_us=300", NULL), 0);
    struct dm_buf *p = devtest_frame(x.inst, 9, 64);
    assert_int_equal(x.dev->tx_burst(x.dev, &p, 1), 1);
    assert_int_equal(x.dev->rx_burst(x.dev, &p, 1), 0);
    uint16_t r = 0;
    for (int i = 0; i < 100 && !r; i++) {
        fx_settle(&x, 100);
        r = x.dev->rx_burst(x.dev, &p, 1);
    }
    assert_int_equal(r, 1);
    assert_int_equal(devtest_id(p), 9);
    dm_buf_free(p);
    assert_int_equal(devtest_stat(x.inst, "fault.hold_timeout"), 1);
    fx_close(&x);
    free(ids);
}

static void test_fault_lower_ring_full_pushes_back_without_loss(void **state)
{
    (void)state;
    struct fx x;
    enum { N = 5000 };
    struct dm_buf *pk[64];
    uint32_t *ids = calloc(N, 4), got = 0, sent = 0, inv;
    /* a tiny lower ring: fault queues, then refuses (tx_full), never drops */
    assert_int_equal(fx_open(&x, "DEMI_FAULTS=reorder=0.2,seed=5", "DEMI_LOOP_RING=16"), 0);
    int refused = 0;
    while (got < N) {
        if (sent < N) {
            uint16_t n = (uint16_t)DM_MIN(64u, N - sent);
            for (uint16_t j = 0; j < n; j++)
                pk[j] = devtest_frame(x.inst, sent + j, 64);
            uint16_t k = x.dev->tx_burst(x.dev, pk, n);
            refused += k < n;
            for (uint16_t j = k; j < n; j++)
                dm_buf_free(pk[j]);
            sent += k;
        }
        /* drain slowly so the fault FIFO fills */
        uint16_t r = x.dev->rx_burst(x.dev, pk, sent < N ? 4 : 64);
        for (uint16_t j = 0; j < r; j++) {
            assert_true(got < N);
            ids[got++] = devtest_id(pk[j]);
            dm_buf_free(pk[j]);
        }
        if (sent == N && !r)
            fx_settle(&x, 1100); /* past hold_us */
    }
    check_each_once(ids, got, N, &inv);
    assert_true(refused > 0);
    assert_true(devtest_stat(x.inst, "fault.tx_full") > 0);
    assert_int_equal(devtest_stat(x.inst, "fault.dropped"), 0);
    fx_close(&x);
    free(ids);
}

static void test_fault_delay_holds_frames_until_due(void **state)
{
    (void)state;
    struct fx x;
    struct dm_buf *p[2];
    assert_int_equal(fx_open(&x, "DEMI_FAULTS=delay_us=3000", NULL), 0);
    assert_true(dm_poll(x.inst, 0) >= 0);
    int64_t t0 = dm_now_ns(x.inst);
    p[0] = devtest_frame(x.inst, 1, 64);
    p[1] = devtest_frame(x.inst, 2, 64);
    assert_int_equal(x.dev->tx_burst(x.dev, p, 2), 2);
    assert_int_equal(x.dev->rx_burst(x.dev, p, 2), 0);
    uint16_t r = 0;
    int64_t t1 = 0;
    for (int i = 0; i < 200 && !r; i++) {
        fx_settle(&x, 100);
        r = x.dev->rx_burst(x.dev, p, 2);
        t1 = dm_now_ns(x.inst);
    }
    assert_int_equal(r, 2);
    assert_true(t1 - t0 >= 3000 * 1000);
    assert_int_equal(devtest_id(p[0]), 1);
    assert_int_equal(devtest_id(p[1]), 2);
    dm_buf_free(p[0]);
    dm_buf_free(p[1]);
    assert_int_equal(devtest_stat(x.inst, "fault.delayed"), 2);
    fx_close(&x);
}

static void test_fault_timer_releases_delayed_frames_without_traffic(void **state)
{
    (void)state;
    struct fx x;
    struct dm_buf *p;
    assert_int_equal(fx_open(&x, "DEMI_FAULTS=delay_us=1000", NULL), 0);
    p = devtest_frame(x.inst, 5, 64);
    assert_int_equal(x.dev->tx_burst(x.dev, &p, 1), 1);
    /* no tx/rx on the fault device any more: only the instance's poll
     * loop runs, and its timer must hand the frame to the lower device */
    uint16_t r = 0;
    for (int i = 0; i < 300 && !r; i++) {
        devtest_sleep_us(100);
        assert_true(dm_poll(x.inst, 0) >= 0);
        r = x.lower->rx_burst(x.lower, &p, 1);
    }
    assert_int_equal(r, 1);
    assert_int_equal(devtest_id(p), 5);
    dm_buf_free(p);
    fx_close(&x);
}

static void test_fault_bad_spec_is_einval(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "DEMI_FAULTS=drop=2", "DEMI_FAULTS=bogus=1", "DEMI_FAULTS=drop", "DEMI_FAULTS=seed=-1",
        "DEMI_FAULTS=drop=0.1x", "DEMI_FAULTS=depth=0", "DEMI_FAULTS=delay_us=-5", "DEMI_FAULTS==3",
    };
    for (size_t i = 0; i < DM_ARRAY_SIZE(bad); i++) {
        struct fx x;
        assert_int_equal(fx_open(&x, bad[i], NULL), -EINVAL);
        dm_instance_destroy(x.inst);
    }
    /* no lower device */
    struct dm_instance *inst = devtest_instance();
    struct dm_config cfg;
    struct dm_dev *d;
    devtest_cfg(&cfg, NULL);
    assert_int_equal(dm_dev_open(inst, "fault", NULL, &cfg, &d), -EINVAL);
    dm_instance_destroy(inst);
}

static void test_fault_passes_info_and_wait_fd_through(void **state)
{
    (void)state;
    struct fx x;
    struct dm_dev_info a, b;
    assert_int_equal(fx_open(&x, "DEMI_FAULTS=", NULL), 0);
    assert_int_equal(x.dev->ops->info(x.dev, &a), 0);
    assert_int_equal(x.lower->ops->info(x.lower, &b), 0);
    assert_memory_equal(&a, &b, sizeof(a));
    assert_int_equal(x.dev->ops->wait_fd(x.dev), x.lower->ops->wait_fd(x.lower));
    /* and with no faults configured, frames pass untouched and in order */
    uint32_t ids[100], inv;
    uint32_t got = fx_run(&x, 100, ids, 100);
    check_each_once(ids, got, 100, &inv);
    assert_int_equal(inv, 0);
    fx_close(&x);
}

static void test_fault_and_pcap_stack_from_config_pcap_outermost(void **state)
{
    (void)state;
    char path[] = "/tmp/dm_fault_pcapXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct dm_instance *inst = devtest_instance();
    struct dm_config cfg;
    struct dm_dev *dev;
    struct dm_buf *pk[10];
    devtest_cfg(&cfg, "DEMI_FAULTS=drop=1", NULL);
    assert_int_equal(dm_config_set(&cfg, "DEMI_PCAP", path), 0);
    assert_int_equal(dm_dev_open_stacked(inst, "loop", &cfg, &dev), 0);
    assert_string_equal(dev->ops->name, "pcap");
    assert_string_equal(dev->lower->ops->name, "fault");
    assert_string_equal(dev->lower->lower->ops->name, "loop");
    for (uint32_t i = 0; i < 10; i++)
        pk[i] = devtest_frame(inst, i, 64);
    assert_int_equal(dev->tx_burst(dev, pk, 10), 10);
    assert_int_equal(dev->rx_burst(dev, pk, 10), 0);
    /* pcap saw what the stack sent; fault dropped all of it below */
    assert_int_equal(devtest_stat(inst, "pcap.frames"), 10);
    assert_int_equal(devtest_stat(inst, "fault.dropped"), 10);
    assert_int_equal(devtest_stat(inst, "loop.tx"), 0);
    dm_dev_close(dev);
    unlink(path);
    dm_instance_destroy(inst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fault_rates_match_config_over_100k_frames),
        cmocka_unit_test(test_fault_same_seed_gives_same_sequence),
        cmocka_unit_test(test_fault_corrupt_flips_one_bit_of_a_copy_never_the_sender_buffer),
        cmocka_unit_test(test_fault_dup_sends_a_reference_not_a_copy),
        cmocka_unit_test(test_fault_dup_over_csum_offload_gives_two_good_frames),
        cmocka_unit_test(test_fault_corruption_lands_after_offloaded_checksums),
        cmocka_unit_test(test_fault_reorder_delivers_everything_out_of_order),
        cmocka_unit_test(test_fault_lower_ring_full_pushes_back_without_loss),
        cmocka_unit_test(test_fault_delay_holds_frames_until_due),
        cmocka_unit_test(test_fault_timer_releases_delayed_frames_without_traffic),
        cmocka_unit_test(test_fault_bad_spec_is_einval),
        cmocka_unit_test(test_fault_passes_info_and_wait_fd_through),
        cmocka_unit_test(test_fault_and_pcap_stack_from_config_pcap_outermost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
