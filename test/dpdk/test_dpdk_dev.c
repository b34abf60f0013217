/* SPDX-License-Identifier: MIT */
/*
 * The DPDK device on its own, below any stack: raw Ethernet frames through
 * dm_dev rx/tx bursts between two processes over net_memif (each process
 * its own EAL, the only way memif is used in production too).
 *
 * The parent is the memif client and runs the checks; a forked child is the
 * memif server and echoes every frame back (through the device as well, so
 * received mbufs go out again by the "direct" path), except for command
 * frames: payload byte 0 'P' makes it stop reading for a while (to fill the
 * ring), 'Q' makes it exit with its own verdict (0: no buffer leaked).
 *
 * Configuration errors need a fresh process each (the EAL starts once per
 * process), so each of those checks runs in a forked child.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "dm/device.h"
#include "dm/instance.h"
#include "dm/stats.h"
#include "../../core/core_priv.h"
#include "../../devices/dpdk/dpdk_priv.h"
#include "../rss_vectors.h"

#define ETHERTYPE_TEST 0x88b5

static char sock_path[128];
static pid_t server_pid;
static struct dm_instance *inst;
static struct dm_dev *dev;
static uint32_t pool_start;

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static int open_dev(const char *role, struct dm_instance **pi, struct dm_dev **pd, int64_t link_wait_ms)
{
    struct dm_config cfg;
    char args[256], wait[32];
    dm_config_init(&cfg);
    snprintf(args, sizeof(args), "--no-huge -m 256 --vdev=net_memif0,role=%s,socket=%s", role, sock_path);
    snprintf(wait, sizeof(wait), "%lld", (long long)link_wait_ms);
    dm_config_set(&cfg, "DEMI_DPDK_ARGS", args);
    dm_config_set(&cfg, "DEMI_DPDK_LINK_WAIT_MS", wait);
    /* memif copies by default (faster there); these tests cover both paths */
    dm_config_set(&cfg, "DEMI_DPDK_TX_COPY", "256");
    dm_config_set(&cfg, "DEMI_BACKEND", "posix");
    dm_config_set(&cfg, "DEMI_BUF_COUNT", "8192");
    int rc = dm_instance_create(&cfg, pi);
    if (rc < 0)
        return rc;
    rc = dm_dev_open(*pi, "dpdk", NULL, &cfg, pd);
    if (rc < 0)
        dm_instance_destroy(*pi);
    return rc;
}

/* ---- the echo server (child) ---- */

static int server_main(void)
{
    struct dm_instance *si;
    struct dm_dev *sd;
    if (open_dev("server", &si, &sd, 20000) < 0)
        return 10;
    uint32_t start = dm_bufpool_avail(si->hdr_pool);
    struct dm_buf *pkts[DPDK_BURST];
    int64_t last = mono_ns();
    for (;;) {
        uint16_t n = sd->rx_burst(sd, pkts, DPDK_BURST);
        if (n == 0) {
            if (mono_ns() - last > 20ll * 1000000000)
                return 11; /* parent vanished */
            continue;
        }
        last = mono_ns();
        uint16_t k = 0;
        int quit = 0;
        for (uint16_t i = 0; i < n; i++) {
            uint8_t cmd = pkts[i]->len > 14 ? pkts[i]->data[14] : 0;
            if (cmd == 'Q' || cmd == 'P') {
                dm_buf_free(pkts[i]);
                if (cmd == 'Q')
                    quit = 1;
                else
                    usleep(300000);
                continue;
            }
            /* swap MACs so it looks like a reply */
            uint8_t tmp[6];
            memcpy(tmp, pkts[i]->data, 6);
            memcpy(pkts[i]->data, pkts[i]->data + 6, 6);
            memcpy(pkts[i]->data + 6, tmp, 6);
            pkts[k++] = pkts[i];
        }
        uint16_t sent = 0;
        int64_t t0 = mono_ns();
        while (sent < k && mono_ns() - t0 < 2000000000ll)
            sent += sd->tx_burst(sd, pkts + sent, (uint16_t)(k - sent));
        for (uint16_t i = sent; i < k; i++)
            dm_buf_free(pkts[i]);
        if (quit)
            break;
    }
    int leaked = dm_bufpool_avail(si->hdr_pool) != start;
    /* echoed frames above the copy threshold went back as the very mbufs
     * they arrived in */
    int direct = dm_stats_get(si, "dpdk.tx_direct_seg") > 0;
    dm_dev_close(sd);
    dm_instance_destroy(si);
    return leaked ? 12 : !direct ? 13 : 0;
}

/* ---- helpers for the client ---- */

static struct dm_buf *make_frame(uint32_t len, uint32_t seq, uint8_t cmd)
{
    struct dm_buf *b = dm_buf_alloc_size(inst, len);
    uint8_t *p = b ? dm_buf_append(b, len) : NULL;
    if (!p) {
        dm_buf_free(b);
        fail_msg("no buffer for a %u-byte frame", len);
        return NULL;
    }
    memset(p, 0xff, 6);
    memset(p + 6, 0x02, 6);
    p[12] = ETHERTYPE_TEST >> 8;
    p[13] = ETHERTYPE_TEST & 0xff;
    p[14] = cmd;
    memcpy(p + 15, &seq, 4);
    for (uint32_t i = 19; i < len; i++)
        p[i] = (uint8_t)(seq * 7 + i);
    return b;
}

/* A frame as a chain: a header buffer plus payload split in `parts` buffers. */
static struct dm_buf *make_chain(uint32_t len, uint32_t seq, int parts)
{
    struct dm_buf *flat = make_frame(len, seq, 'E');
    struct dm_buf *head = dm_buf_alloc(inst);
    memcpy(dm_buf_append(head, 19), flat->data, 19);
    uint32_t off = 19, left = len - 19;
    for (int i = 0; i < parts; i++) {
        uint32_t l = i == parts - 1 ? left : left / (uint32_t)(parts - i);
        struct dm_buf *s = dm_buf_alloc(inst);
        memcpy(dm_buf_append(s, l), flat->data + off, l);
        dm_buf_chain(head, s);
        off += l;
        left -= l;
    }
    dm_buf_free(flat);
    assert_int_equal(head->pkt_len, len);
    return head;
}

static void send_all(struct dm_buf **pkts, uint16_t n)
{
    uint16_t sent = 0;
    int64_t t0 = mono_ns();
    while (sent < n) {
        sent += dev->tx_burst(dev, pkts + sent, (uint16_t)(n - sent));
        assert_true(mono_ns() - t0 < 5000000000ll);
    }
}

/* Receives one frame (5 s bound) and checks it is the echo of frame seq. */
static void expect_echo(uint32_t len, uint32_t seq)
{
    struct dm_buf *b = NULL;
    int64_t t0 = mono_ns();
    while (dev->rx_burst(dev, &b, 1) == 0)
        assert_true(mono_ns() - t0 < 5000000000ll);
    if (b->pkt_len != len) {
        uint32_t gs = 0;
        dm_buf_copy_out(b, 15, &gs, 4);
        fail_msg("expected the echo of frame %u (%u B), got frame %u (%u B, %u segs)", seq, len, gs, b->pkt_len,
                 b->nb_segs);
    }
    struct dm_buf *want = make_frame(len, seq, 'E');
    uint8_t *got = malloc(len);
    assert_int_equal(dm_buf_copy_out(b, 0, got, len), len);
    assert_memory_equal(got, want->data + 6, 6);      /* MACs swapped by the echo */
    assert_memory_equal(got + 12, want->data + 12, len - 12);
    free(got);
    dm_buf_free(want);
    dm_buf_free(b);
}

static int64_t stat(const char *name)
{
    return dm_stats_get(inst, name);
}

/* ---- setup / teardown: the server child and our own port ---- */

static int group_setup(void **state)
{
    (void)state;
    snprintf(sock_path, sizeof(sock_path), "/tmp/demi_dpdk_test_%d.sock", (int)getpid());
    unlink(sock_path);
    fflush(NULL);
    server_pid = fork();
    if (server_pid == 0) {
        alarm(60);
        exit(server_main()); /* exit, not _exit: atexit removes the EAL runtime dir */
    }
    if (open_dev("client", &inst, &dev, 20000) < 0)
        return -1;
    pool_start = dm_bufpool_avail(inst->data_pool);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (dev)
        dm_dev_close(dev);
    if (inst)
        dm_instance_destroy(inst);
    if (server_pid > 0) {
        kill(server_pid, SIGKILL);
        waitpid(server_pid, NULL, 0);
    }
    unlink(sock_path);
    return 0;
}

/* ---- the tests ---- */

static void test_dpdk_link_up_and_info(void **state)
{
    (void)state;
    struct dm_dev_info info;
    assert_int_equal(dev->ops->info(dev, &info), 0);
    assert_int_equal(info.link_up, 1);
    assert_int_equal(info.mtu, 1500);
    assert_true(info.max_segs >= 1);
    assert_non_null(strstr(info.name, "memif"));
    static const uint8_t zero[6];
    assert_memory_not_equal(info.mac, zero, 6);
    assert_int_equal(dev->ops->wait_fd(dev), -1);
}

static void test_dpdk_frames_round_trip_all_sizes(void **state)
{
    (void)state;
    static const uint32_t sizes[] = { 60, 64, 100, 255, 256, 257, 512, 1000, 1514 };
    uint32_t seq = 1;
    int64_t copies = stat("dpdk.tx_copy"), zc = stat("dpdk.tx_zc_seg");
    for (int rep = 0; rep < 20; rep++) {
        for (size_t i = 0; i < DM_ARRAY_SIZE(sizes); i++) {
            struct dm_buf *b = make_frame(sizes[i], seq, 'E');
            send_all(&b, 1);
            expect_echo(sizes[i], seq);
            seq++;
        }
    }
    /* small frames went by copy, big ones by reference */
    assert_true(stat("dpdk.tx_copy") - copies >= 20 * 5);
    assert_true(stat("dpdk.tx_zc_seg") - zc >= 20 * 4);
}

/* memif frames cross shared memory, no wire: their TCP/UDP checksums are
 * taken as good (DEMI_DPDK_MEMIF_RX_CKSUM=trust, the default), and the
 * checksum is completed in the TX copy only where every frame is copied
 * (this port copies up to 256 B only). */
static void test_dpdk_memif_rx_checksums_are_trusted_by_default(void **state)
{
    (void)state;
    struct dm_dev_info info;
    assert_int_equal(dev->ops->info(dev, &info), 0);
    assert_false(info.caps & DM_DEV_CAP_TX_TCP_CKSUM);
    struct dm_buf *f = make_frame(300, 777, 'E');
    send_all(&f, 1);
    struct dm_buf *b = NULL;
    int64_t t0 = mono_ns();
    while (dev->rx_burst(dev, &b, 1) == 0)
        assert_true(mono_ns() - t0 < 5000000000ll);
    assert_int_equal(b->pkt_len, 300);
    assert_true(b->ol_flags & DM_BUF_RX_L4_CKSUM_GOOD);
    assert_false(b->ol_flags & (DM_BUF_RX_L4_CKSUM_BAD | DM_BUF_RX_IP_CKSUM_GOOD));
    dm_buf_free(b);
}

static void test_dpdk_burst_of_64_in_order(void **state)
{
    (void)state;
    struct dm_buf *pkts[64];
    for (uint32_t i = 0; i < 64; i++)
        pkts[i] = make_frame(60 + i * 20, 1000 + i, 'E');
    send_all(pkts, 64);
    for (uint32_t i = 0; i < 64; i++)
        expect_echo(60 + i * 20, 1000 + i);
}

static void test_dpdk_chained_frames_sent_without_copy(void **state)
{
    (void)state;
    int64_t zc = stat("dpdk.tx_zc_seg"), copies = stat("dpdk.tx_copy");
    for (uint32_t i = 0; i < 50; i++) {
        struct dm_buf *c = make_chain(600 + i * 18, 5000 + i, 1 + (int)(i % 3));
        send_all(&c, 1);
        expect_echo(600 + i * 18, 5000 + i);
    }
    struct dm_dev_info info;
    dev->ops->info(dev, &info);
    if (info.caps & DM_DEV_CAP_TX_MULTISEG) {
        assert_true(stat("dpdk.tx_zc_seg") - zc >= 100);
        assert_int_equal(stat("dpdk.tx_copy"), copies);
    } else {
        assert_true(stat("dpdk.tx_copy") - copies >= 50);
    }
}

static void test_dpdk_jumbo_frame_arrives_as_mbuf_chain(void **state)
{
    (void)state;
    struct dm_dev_info info;
    dev->ops->info(dev, &info);
    if (!(info.caps & DM_DEV_CAP_TX_MULTISEG))
        skip();
    /* 5000 bytes cross several 2 KiB memif buffers and mbufs: the server
     * receives a chain (wrapped segment by segment), echoes it back as the
     * same mbufs, and we receive a chain again. */
    for (uint32_t i = 0; i < 10; i++) {
        uint32_t len = 4000 + i * 100;
        struct dm_buf *c = make_chain(len, 30000 + i, 3);
        send_all(&c, 1);
        struct dm_buf *b = NULL;
        int64_t t0 = mono_ns();
        while (dev->rx_burst(dev, &b, 1) == 0)
            assert_true(mono_ns() - t0 < 5000000000ll);
        assert_true(b->nb_segs >= 2);
        uint32_t sum = 0, segs = 0;
        for (struct dm_buf *s = b; s; s = s->next)
            sum += s->len, segs++;
        assert_int_equal(segs, b->nb_segs);
        assert_int_equal(sum, len);
        assert_int_equal(b->pkt_len, len);
        struct dm_buf *want = make_frame(len, 30000 + i, 'E');
        uint8_t *got = malloc(len);
        assert_int_equal(dm_buf_copy_out(b, 0, got, len), len);
        assert_memory_equal(got + 12, want->data + 12, len - 12);
        free(got);
        dm_buf_free(want);
        dm_buf_free(b);
    }
}

/* A frame one process of a shared port hands to another (dpdk_mp_forward)
 * is copied into the 2 KiB mbufs of the ARP pool: a jumbo one (memif or
 * tap at MTU 9000) as a chain of them, whole, onto the other's ring. */
static void test_dpdk_mp_forward_copies_a_jumbo_frame_whole(void **state)
{
    (void)state;
    struct rte_mempool *mp = rte_pktmbuf_pool_create("t_fwd", 16, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    struct rte_ring *r0 = rte_ring_create("t_fwd0", 16, SOCKET_ID_ANY, 0);
    struct rte_ring *r1 = rte_ring_create("t_fwd1", 16, SOCKET_ID_ANY, 0);
    assert_non_null(mp);
    assert_non_null(r0);
    assert_non_null(r1);
    static struct dpdk_mp_shm shm;
    struct dpdk_dev d;
    memset(&shm, 0, sizeof(shm));
    memset(&d, 0, sizeof(d));
    shm.nb_queues = 2;
    shm.q[0].pid = shm.q[1].pid = (int32_t)getpid();
    shm.arp_mp = mp;
    shm.arp_ring[0] = r0;
    shm.arp_ring[1] = r1;
    d.shm = &shm;
    d.queue = 0;
    d.arp_in = r0;

    const uint32_t len = 9014;
    struct dm_buf *f = make_chain(len, 40000, 5);
    assert_true(dpdk_mp_forward(&d, f, 7)); /* consumed */
    struct rte_mbuf *c = NULL;
    assert_int_equal(rte_ring_dequeue(r1, (void **)&c), 0);
    assert_int_equal(c->pkt_len, len);
    assert_int_equal(c->nb_segs, (len + 2047) / 2048);
    assert_int_equal(c->hash.usr, 1u << 0); /* the queues it has been to */
    struct dm_buf *want = make_frame(len, 40000, 'E');
    uint8_t *got = malloc(len);
    assert_non_null(rte_pktmbuf_read(c, 0, len, got));
    assert_memory_equal(rte_pktmbuf_read(c, 0, len, got), want->data, len);
    free(got);
    dm_buf_free(want);
    rte_pktmbuf_free(c);

    /* a pool too small for the whole chain: not handed on, nothing leaked */
    struct rte_mbuf *hold[14];
    assert_int_equal(rte_pktmbuf_alloc_bulk(mp, hold, 14), 0);
    f = make_chain(len, 40001, 5);
    assert_false(dpdk_mp_forward(&d, f, 7));
    assert_int_equal(f->pkt_len, len); /* untouched: the caller resets it */
    dm_buf_free(f);
    assert_int_equal(rte_mempool_avail_count(mp), 2);
    for (int i = 0; i < 14; i++)
        rte_pktmbuf_free(hold[i]);
    rte_ring_free(r0);
    rte_ring_free(r1);
    rte_mempool_free(mp);
}

static void test_dpdk_tx_full_leaves_rest_with_caller(void **state)
{
    (void)state;
    struct dm_buf *p = make_frame(60, 0, 'P');
    send_all(&p, 1);
    usleep(50000); /* the server is now asleep, not reading */
    int64_t full0 = stat("dpdk.tx_full");
    enum { N = 4096 };
    static struct dm_buf *pkts[N];
    for (uint32_t i = 0; i < N; i++)
        pkts[i] = make_frame(300, 9000 + i, 'E');
    uint16_t sent = 0, r;
    do {
        r = dev->tx_burst(dev, pkts + sent, (uint16_t)(N - sent));
        sent += r;
    } while (r > 0 && sent < N);
    assert_true(sent < N);                    /* the ring filled */
    assert_true(stat("dpdk.tx_full") > full0);
    for (uint32_t i = sent; i < N; i++) {     /* the rest is still ours, intact */
        assert_true(dm_buf_valid(pkts[i]));
        assert_int_equal(pkts[i]->pkt_len, 300);
        uint32_t seq;
        memcpy(&seq, pkts[i]->data + 15, 4);
        assert_int_equal(seq, 9000 + i);
        dm_buf_free(pkts[i]);
    }
    /* the server wakes up and echoes what got through, in order */
    for (uint32_t i = 0; i < sent; i++)
        expect_echo(300, 9000 + i);
}

/* While DPDK's interrupt thread runs its callbacks (memif unmaps its rings
 * there when the peer leaves) the preload closes the device's gate; here
 * the test closes it. No burst touches the port meanwhile: a frame to send
 * stays with the caller, a frame waiting in the ring stays there; both
 * move once the gate opens. */
static void test_dpdk_gate_holds_bursts_while_interrupt_thread_runs(void **state)
{
    (void)state;
    struct dm_buf *b = make_frame(100, 777, 'E');
    dm_internal_thread_gate(true);
    for (int i = 0; i < 100; i++)
        assert_int_equal(dev->tx_burst(dev, &b, 1), 0);
    assert_true(dm_buf_valid(b));
    dm_internal_thread_gate(false);
    send_all(&b, 1);
    usleep(50000); /* the echo is in our ring by now */
    dm_internal_thread_gate(true);
    struct dm_buf *r = NULL;
    for (int i = 0; i < 1000; i++)
        assert_int_equal(dev->rx_burst(dev, &r, 1), 0);
    dm_internal_thread_gate(false);
    expect_echo(100, 777);
}

static void test_dpdk_held_rx_buffers_return_to_pool(void **state)
{
    (void)state;
    struct rte_mempool *mp = rte_mempool_lookup("dm_rx0");
    assert_non_null(mp);
    unsigned before = rte_mempool_avail_count(mp);
    enum { N = 200 };
    struct dm_buf *pkts[N];
    for (uint32_t i = 0; i < N; i++)
        pkts[i] = make_frame(1200, 20000 + i, 'E');
    send_all(pkts, N);
    struct dm_buf *held[N];
    uint32_t got = 0;
    int64_t t0 = mono_ns();
    while (got < N) {
        got += dev->rx_burst(dev, held + got, (uint16_t)(N - got > DPDK_BURST ? DPDK_BURST : N - got));
        assert_true(mono_ns() - t0 < 5000000000ll);
    }
    /* Held by us (like an application holding popped data): out of the pool. */
    assert_true(rte_mempool_avail_count(mp) + N / 2 <= before);
    for (uint32_t i = 0; i < N; i++) {
        assert_null(held[i]->next); /* 1200 B fits one mbuf */
        assert_int_equal(held[i]->pkt_len, 1200);
        dm_buf_free(held[i]);
    }
    assert_true(rte_mempool_avail_count(mp) >= before - 64); /* back, up to the RX refill slack */
    assert_int_equal(dm_bufpool_avail(inst->data_pool), pool_start);
}

static void test_dpdk_no_buffer_leaks(void **state)
{
    (void)state;
    assert_int_equal(dm_bufpool_avail(inst->data_pool), pool_start);
    assert_int_equal(stat("dpdk.rx_nohdr"), 0);
    assert_true(stat("dpdk.rx") > 0);
    assert_true(stat("dpdk.tx") > 0);
    /* tell the server to finish and check its own verdict */
    struct dm_buf *q = make_frame(60, 0, 'Q');
    send_all(&q, 1);
    int status = 0;
    int64_t t0 = mono_ns();
    while (waitpid(server_pid, &status, WNOHANG) == 0) {
        assert_true(mono_ns() - t0 < 10000000000ll);
        usleep(10000);
    }
    server_pid = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- configuration errors: one fresh process each ---- */

static int child_open(const char *const *kv)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(30);
        struct dm_config cfg;
        struct dm_instance *ci;
        struct dm_dev *cd;
        dm_config_init(&cfg);
        unsetenv("DEMI_DPDK_ARGS");
        for (; kv[0]; kv += 2)
            dm_config_set(&cfg, kv[0], kv[1]);
        dm_config_set(&cfg, "DEMI_BACKEND", "posix");
        dm_config_set(&cfg, "DEMI_BUF_COUNT", "1024");
        dm_config_set(&cfg, "DEMI_LOG", "error");
        if (dm_instance_create(&cfg, &ci) < 0)
            _exit(100);
        int rc = dm_dev_open(ci, "dpdk", NULL, &cfg, &cd);
        if (rc == 0) {
            /* DEMI_MAC, when given, is the address the device reports */
            const char *mac = dm_cfg_str(&cfg, DM_CFG_MAC);
            struct dm_dev_info info;
            cd->ops->info(cd, &info);
            char got[32];
            snprintf(got, sizeof(got), "%02x:%02x:%02x:%02x:%02x:%02x", info.mac[0], info.mac[1], info.mac[2],
                     info.mac[3], info.mac[4], info.mac[5]);
            dm_dev_close(cd);
            exit(mac && strcmp(mac, got) != 0 ? 98 : 0);
        }
        exit(rc < 0 && rc > -100 ? -rc : 99);
    }
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status))
        return -1000; /* crashed */
    return -WEXITSTATUS(status);
}

static void test_dpdk_missing_args_is_einval(void **state)
{
    (void)state;
    const char *kv[] = { NULL };
    assert_int_equal(child_open(kv), -EINVAL);
}

static void test_dpdk_unterminated_quote_is_einval(void **state)
{
    (void)state;
    const char *kv[] = { "DEMI_DPDK_ARGS", "--vdev='net_null0", NULL };
    assert_int_equal(child_open(kv), -EINVAL);
}

static void test_dpdk_bad_eal_option_fails_without_crash(void **state)
{
    (void)state;
    const char *kv[] = { "DEMI_DPDK_ARGS", "--no-huge --this-is-not-an-eal-option", NULL };
    int rc = child_open(kv);
    assert_true(rc < 0 && rc != -1000);
}

static void test_dpdk_no_port_is_enodev(void **state)
{
    (void)state;
    const char *kv[] = { "DEMI_DPDK_ARGS", "--no-huge -m 128", NULL };
    assert_int_equal(child_open(kv), -ENODEV);
}

static void test_dpdk_port_out_of_range_is_enodev(void **state)
{
    (void)state;
    const char *kv[] = { "DEMI_DPDK_ARGS", "--no-huge -m 128 --vdev=net_null0", "DEMI_DPDK_PORT", "3", NULL };
    assert_int_equal(child_open(kv), -ENODEV);
}

static void test_dpdk_bad_mac_is_einval(void **state)
{
    (void)state;
    const char *kv[] = { "DEMI_DPDK_ARGS", "--no-huge -m 128 --vdev=net_null0", "DEMI_MAC", "01:zz:00:00:00:01",
                         NULL };
    assert_int_equal(child_open(kv), -EINVAL);
}

static void test_dpdk_memif_rx_cksum_takes_trust_or_verify(void **state)
{
    (void)state;
    const char *ok[] = { "DEMI_DPDK_ARGS", "--no-huge -m 128 --vdev=net_null0", "DEMI_DPDK_MEMIF_RX_CKSUM", "verify",
                         NULL };
    assert_int_equal(child_open(ok), 0);
    const char *bad[] = { "DEMI_DPDK_ARGS", "--no-huge -m 128 --vdev=net_null0", "DEMI_DPDK_MEMIF_RX_CKSUM", "maybe",
                          NULL };
    /* the configuration table refuses it before any device opens */
    assert_int_equal(child_open(bad), -100);
}

static void test_dpdk_second_port_and_mac_override(void **state)
{
    (void)state;
    const char *kv[] = { "DEMI_DPDK_ARGS", "--no-huge -m 128 --vdev=net_null0 --vdev=net_null1", "DEMI_DPDK_PORT", "1",
                         "DEMI_MAC", "02:00:00:00:00:0a", NULL };
    assert_int_equal(child_open(kv), 0);
}

static void test_dpdk_null_port_opens(void **state)
{
    (void)state;
    const char *kv[] = { "DEMI_DPDK_ARGS", "--no-huge -m 128 --vdev=net_null0", "DEMI_MAC", "02:00:00:00:00:09",
                         NULL };
    assert_int_equal(child_open(kv), 0);
}

/* DEMI_DPDK_DMA_MAP: the pool registered and mapped for the port's DMA
 * (on net_null, a virtual port, only when forced: a NIC's auto). A frame
 * in the pool goes by reference; one in memory the port could not read by
 * DMA (here a static array, as a heap buffer) is copied. Without the map
 * a virtual port takes both by reference. Exit status: 0 as expected. */
static void noop_free(struct dm_buf *b, void *arg)
{
    (void)b;
    (void)arg;
}

static int child_dma(const char *mode)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(30);
        static uint8_t outside[300];
        struct dm_config cfg;
        struct dm_instance *ci;
        struct dm_dev *cd;
        dm_config_init(&cfg);
        unsetenv("DEMI_DPDK_ARGS");
        dm_config_set(&cfg, "DEMI_DPDK_ARGS", "--no-huge -m 128 --vdev=net_null0");
        dm_config_set(&cfg, "DEMI_MAC", "02:00:00:00:00:09");
        dm_config_set(&cfg, "DEMI_DPDK_DMA_MAP", mode);
        dm_config_set(&cfg, "DEMI_DPDK_TX_COPY", "0");
        dm_config_set(&cfg, "DEMI_BACKEND", "posix");
        dm_config_set(&cfg, "DEMI_BUF_COUNT", "1024");
        dm_config_set(&cfg, "DEMI_LOG", "error");
        if (dm_instance_create(&cfg, &ci) < 0 || dm_dev_open(ci, "dpdk", NULL, &cfg, &cd) < 0)
            _exit(100);
        bool mapped = ((struct dpdk_dev *)cd->priv)->dma_len > 0;
        struct dm_buf *f[2] = { dm_buf_alloc(ci), dm_buf_wrap_ext(ci, outside, sizeof(outside), noop_free, NULL) };
        memset(dm_buf_append(f[0], 300), 0x5a, 300);
        memset(outside, 0xa5, sizeof(outside));
        if (cd->tx_burst(cd, f, 2) != 2)
            _exit(101);
        int64_t zc = dm_stats_get(ci, "dpdk.tx_zc_seg"), copy = dm_stats_get(ci, "dpdk.tx_copy");
        dm_dev_close(cd);
        dm_instance_destroy(ci);
        if (strcmp(mode, "1") == 0)
            _exit(mapped && zc == 1 && copy == 1 ? 0 : 102);
        _exit(!mapped && zc == 2 && copy <= 0 ? 0 : 103);
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_dpdk_dma_map_sends_only_the_pool_by_reference(void **state)
{
    (void)state;
    assert_int_equal(child_dma("1"), 0);
    assert_int_equal(child_dma("auto"), 0); /* a virtual port: no map, no copy */
}

/* ---- argument handling (pure functions) ---- */

static void test_dpdk_split_args_like_a_shell(void **state)
{
    (void)state;
    char *w[8], buf[256];
    int n = dpdk_split_args("  a 'b c' \"d \\\"e\\\"\" f\\ g  --x=y'z' ", w, 8, buf, sizeof(buf));
    assert_int_equal(n, 5);
    assert_string_equal(w[0], "a");
    assert_string_equal(w[1], "b c");
    assert_string_equal(w[2], "d \"e\"");
    assert_string_equal(w[3], "f g");
    assert_string_equal(w[4], "--x=yz");
    assert_int_equal(dpdk_split_args("a \"b", w, 8, buf, sizeof(buf)), -EINVAL);
    assert_int_equal(dpdk_split_args("a b c", w, 2, buf, sizeof(buf)), -E2BIG);
    assert_int_equal(dpdk_split_args("", w, 8, buf, sizeof(buf)), 0);
}

static int find(char **argv, int argc, const char *prefix)
{
    for (int i = 0; i < argc; i++)
        if (strncmp(argv[i], prefix, strlen(prefix)) == 0)
            return i;
    return -1;
}

static void test_dpdk_eal_argv_adds_safety_options(void **state)
{
    (void)state;
    char *w[] = { "--vdev=net_null0" };
    char *argv[32], buf[2048];
    int n = dpdk_build_eal_argv(w, 1, false, "pfx", 0, 1, argv, 32, buf, sizeof(buf));
    assert_true(n > 0);
    assert_string_equal(argv[0], "demi");
    assert_true(find(argv, n, "--no-pci") > 0);
    assert_true(find(argv, n, "--file-prefix=pfx") > 0);
    assert_true(find(argv, n, "--lcores=0@(") > 0);
    assert_true(find(argv, n, "--no-telemetry") > 0);
    assert_true(find(argv, n, "--log-level=warning") > 0);
    assert_true(find(argv, n, "--no-huge") > 0); /* no free hugepage */
    assert_null(argv[n]);
    /* with hugepages free, no --no-huge */
    n = dpdk_build_eal_argv(w, 1, false, "pfx", 512, 1, argv, 32, buf, sizeof(buf));
    assert_int_equal(find(argv, n, "--no-huge"), -1);
    /* PCI allowed on request */
    n = dpdk_build_eal_argv(w, 1, true, "pfx", 512, 1, argv, 32, buf, sizeof(buf));
    assert_int_equal(find(argv, n, "--no-pci"), -1);
}

static void test_dpdk_eal_argv_keeps_user_options(void **state)
{
    (void)state;
    char *w[] = { "-l", "1", "--file-prefix", "mine", "--log-level=debug", "--telemetry", "--no-huge", "-m", "64" };
    char *argv[32], buf[2048];
    int n = dpdk_build_eal_argv(w, 9, false, "pfx", 0, 1, argv, 32, buf, sizeof(buf));
    assert_int_equal(n, 1 + 9 + 1); /* demi + words + --no-pci */
    assert_int_equal(find(argv, n, "--lcores"), -1);
    assert_int_equal(find(argv, n, "--file-prefix=pfx"), -1);
    assert_int_equal(find(argv, n, "--no-telemetry"), -1);
}

/* A process on its own port unlinks its hugepage files (--huge-unlink)
 * unless its user chose the memory options. */
static void test_dpdk_own_memory_words(void **state)
{
    (void)state;
    char *w[4] = { "--vdev=net_tap0" };
    assert_int_equal(dpdk_own_memory_words(w, 1, 4, 512), 2);
    assert_string_equal(w[1], "--huge-unlink");
    assert_int_equal(dpdk_own_memory_words(w, 1, 4, 0), 1); /* no hugepages: --no-huge */
    static const char *const mine[] = { "--no-huge", "--in-memory", "--legacy-mem", "--huge-unlink=never",
                                        "--single-file-segments", "--proc-type=primary" };
    for (size_t i = 0; i < sizeof(mine) / sizeof(mine[0]); i++) {
        w[1] = (char *)mine[i];
        assert_int_equal(dpdk_own_memory_words(w, 2, 4, 512), 2);
    }
    assert_int_equal(dpdk_own_memory_words(w, 1, 1, 512), -E2BIG);
}

/* Flow placement on a Toeplitz RSS port (dpdk_mp_flow_ours, _ours6): the
 * verification vectors of Microsoft's RSS specification (test/rss_vectors.h),
 * IPv4 and IPv6, whose tuple is the same for TCP and UDP. Source is the
 * peer (the frame as received): the queue of hash % table. Without a known
 * hash (tun, memif), or for a flow whose ports the port does not hash
 * (`ports`: UDP on many NICs, IPv6 on some), every port is fine. */
static void check_placement(bool v6, int proto)
{
    static struct dpdk_mp_shm shm;
    struct dpdk_dev d;
    const struct rss_spec_vector *v = v6 ? rss_spec_v6 : rss_spec_v4;
    size_t nv = v6 ? DM_ARRAY_SIZE(rss_spec_v6) : DM_ARRAY_SIZE(rss_spec_v4);
    unsigned bit = proto == IPPROTO_TCP ? (v6 ? DM_FLOW_TCP6 : DM_FLOW_TCP4)
                                        : (v6 ? DM_FLOW_UDP6 : DM_FLOW_UDP4);
    memset(&shm, 0, sizeof(shm));
    memset(&d, 0, sizeof(d));
    shm.nb_queues = 4;
    shm.place = DPDK_MP_PLACE_TOEPLITZ;
    shm.ports = (uint8_t)bit;
    memcpy(shm.rss_key, rss_spec_key, sizeof(rss_spec_key));
    shm.rss_key_len = sizeof(rss_spec_key);
    shm.qmap_n = 128; /* a NIC-like table: entry i -> queue i % 4 */
    for (unsigned i = 0; i < 128; i++)
        shm.qmap[i] = (uint16_t)(i % 4);
    d.shm = &shm;
    for (size_t i = 0; i < nv; i++) {
        uint8_t s[16], t[16];
        uint32_t s4 = 0, t4 = 0;
        assert_int_equal(rss_spec_addrs(&v[i], v6, s, t, &s4, &t4), 0);
        unsigned want = (v[i].hash % 128) % 4, ours = 0, any = 0;
        for (uint16_t q = 0; q < 4; q++) {
            d.queue = q;
            /* ours first: we are the destination of the received frame */
            shm.ports = (uint8_t)bit;
            bool yes = v6 ? dpdk_mp_flow_ours6(&d, proto, t, htons(v[i].dport), s, htons(v[i].sport))
                          : dpdk_mp_flow_ours(&d, proto, t4, htons(v[i].dport), s4, htons(v[i].sport));
            assert_int_equal(yes, q == want);
            ours += yes;
            /* every flow but this one's kind hashed on its ports */
            shm.ports = (uint8_t)(0xf & ~bit);
            any += v6 ? dpdk_mp_flow_ours6(&d, proto, t, htons(v[i].dport), s, htons(v[i].sport))
                      : dpdk_mp_flow_ours(&d, proto, t4, htons(v[i].dport), s4, htons(v[i].sport));
        }
        assert_int_equal(ours, 1);
        assert_int_equal(any, 4);
    }
    d.queue = 3;
    shm.ports = 0xf;
    shm.place = DPDK_MP_PLACE_NONE;
    assert_true(v6 ? dpdk_mp_flow_ours6(&d, proto, rss_spec_key, 2, rss_spec_key + 16, 4)
                   : dpdk_mp_flow_ours(&d, proto, 1, 2, 3, 4));
}

static void test_dpdk_mp_flow_queue_is_toeplitz_of_the_received_tuple(void **state)
{
    (void)state;
    check_placement(false, IPPROTO_TCP);
    check_placement(false, IPPROTO_UDP);
}

static void test_dpdk_mp_flow_queue_is_toeplitz_of_the_received_tuple_v6(void **state)
{
    (void)state;
    check_placement(true, IPPROTO_TCP);
    check_placement(true, IPPROTO_UDP);
}

static int check_pool(void **state)
{
    (void)state;
    if (getenv("DPDK_TEST_DEBUG"))
        fprintf(stderr, "pool avail %u of %u, zc %lld copy %lld direct %lld\n", dm_bufpool_avail(inst->data_pool),
                pool_start, (long long)stat("dpdk.tx_zc_seg"), (long long)stat("dpdk.tx_copy"),
                (long long)stat("dpdk.tx_direct_seg"));
    return 0;
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_dpdk_split_args_like_a_shell),
        cmocka_unit_test(test_dpdk_eal_argv_adds_safety_options),
        cmocka_unit_test(test_dpdk_eal_argv_keeps_user_options),
        cmocka_unit_test(test_dpdk_own_memory_words),
        cmocka_unit_test(test_dpdk_mp_flow_queue_is_toeplitz_of_the_received_tuple),
        cmocka_unit_test(test_dpdk_mp_flow_queue_is_toeplitz_of_the_received_tuple_v6),
    };
    const struct CMUnitTest config[] = {
        cmocka_unit_test(test_dpdk_missing_args_is_einval),
        cmocka_unit_test(test_dpdk_unterminated_quote_is_einval),
        cmocka_unit_test(test_dpdk_bad_eal_option_fails_without_crash),
        cmocka_unit_test(test_dpdk_no_port_is_enodev),
        cmocka_unit_test(test_dpdk_port_out_of_range_is_enodev),
        cmocka_unit_test(test_dpdk_bad_mac_is_einval),
        cmocka_unit_test(test_dpdk_null_port_opens),
        cmocka_unit_test(test_dpdk_dma_map_sends_only_the_pool_by_reference),
        cmocka_unit_test(test_dpdk_second_port_and_mac_override),
        cmocka_unit_test(test_dpdk_memif_rx_cksum_takes_trust_or_verify),
    };
    const struct CMUnitTest memif[] = {
        cmocka_unit_test_teardown(test_dpdk_link_up_and_info, check_pool),
        cmocka_unit_test_teardown(test_dpdk_frames_round_trip_all_sizes, check_pool),
        cmocka_unit_test(test_dpdk_burst_of_64_in_order),
        cmocka_unit_test(test_dpdk_memif_rx_checksums_are_trusted_by_default),
        cmocka_unit_test_teardown(test_dpdk_chained_frames_sent_without_copy, check_pool),
        cmocka_unit_test_teardown(test_dpdk_tx_full_leaves_rest_with_caller, check_pool),
        cmocka_unit_test_teardown(test_dpdk_gate_holds_bursts_while_interrupt_thread_runs, check_pool),
        cmocka_unit_test_teardown(test_dpdk_held_rx_buffers_return_to_pool, check_pool),
        cmocka_unit_test_teardown(test_dpdk_mp_forward_copies_a_jumbo_frame_whole, check_pool),
        /* last traffic before the end: the memif PMD of DPDK 22.11 leaves the
         * "next" flag on ring slots used by frames longer than one memif
         * buffer, which merges frames once the ring wraps onto those slots
         * (eth_memif_tx never clears a packet's first descriptor flags); our
         * stack never sends such frames (the MTU is clamped to the port's
         * max_rx_pktlen), only this test does */
        cmocka_unit_test_teardown(test_dpdk_jumbo_frame_arrives_as_mbuf_chain, check_pool),
        cmocka_unit_test_teardown(test_dpdk_no_buffer_leaks, check_pool),
    };
    int fails = cmocka_run_group_tests_name("dpdk_args", pure, NULL, NULL);
    fails += cmocka_run_group_tests_name("dpdk_config", config, NULL, NULL);
    fails += cmocka_run_group_tests_name("dpdk_memif", memif, group_setup, group_teardown);
    return fails ? 1 : 0;
}
