/* SPDX-License-Identifier: MIT */
/*
 * The floor of our own memif driver (devices/memif): raw frames between
 * two processes through the device's rx_burst/tx_burst, no stack, as
 * raw_memif_pingpong does through DPDK's net_memif. The server sends
 * every frame it receives back; the client sends one frame of -s bytes,
 * polls for its echo and records the round trip. After -n round trips
 * (and a warm-up) it prints "RESULT raw_dm_memif rtt_ns p50=.. p99=..
 * p999=..". With -b the client streams frames of -s bytes for -t seconds
 * and the server counts them: "RESULT raw_dm_memif_rate pps=.. gbps=..".
 *
 * Buffers come from an instance of the posix backend (the device only
 * needs its pools). Usage:
 *   raw_dm_memif server|client [-S socket] [-n rtts] [-s size] [-b] [-t secs]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "dm/buf.h"
#include "dm/config.h"
#include "dm/device.h"
#include "dm/instance.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static struct dm_buf *frame(struct dm_instance *inst, uint32_t size)
{
    struct dm_buf *b = dm_buf_alloc(inst);
    if (!b)
        return NULL;
    uint8_t *p = dm_buf_append(b, size);
    memset(p, 0xab, size);
    memset(p, 0xff, 12);
    p[12] = 0x88, p[13] = 0xb5; /* an experimental ethertype */
    return b;
}

int main(int argc, char **argv)
{
    const char *sock = "/tmp/raw_dm_memif.sock";
    long n = 100000, secs = 2;
    uint32_t size = 64;
    int bulk = 0, c;
    if (argc < 2 || (strcmp(argv[1], "server") && strcmp(argv[1], "client"))) {
        fprintf(stderr, "usage: %s server|client [-S socket] [-n rtts] [-s size] [-b] [-t secs]\n", argv[0]);
        return 2;
    }
    bool server = !strcmp(argv[1], "server");
    optind = 2;
    while ((c = getopt(argc, argv, "S:n:s:bt:")) != -1) {
        switch (c) {
        case 'S': sock = optarg; break;
        case 'n': n = atol(optarg); break;
        case 's': size = (uint32_t)atoi(optarg); break;
        case 'b': bulk = 1; break;
        case 't': secs = atol(optarg); break;
        default: return 2;
        }
    }
    if (size < 14 || size > 1514)
        size = 64;
    struct dm_config cfg;
    dm_config_init(&cfg);
    dm_config_set(&cfg, "DEMI_BACKEND", "posix");
    dm_config_set(&cfg, "DEMI_BUF_COUNT", "8192");
    dm_config_set(&cfg, "DEMI_MEMIF_ROLE", server ? "server" : "client");
    dm_config_set(&cfg, "DEMI_MEMIF_SOCKET", sock);
    dm_config_set(&cfg, "DEMI_MEMIF_LINK_WAIT_MS", server ? "30000" : "10000");
    struct dm_instance *inst;
    struct dm_dev *dev;
    if (dm_instance_create(&cfg, &inst) < 0 || dm_dev_open(inst, "memif", NULL, &cfg, &dev) < 0) {
        fprintf(stderr, "raw_dm_memif: cannot open the device\n");
        return 1;
    }
    struct dm_buf *pk[32];
    if (server) {
        uint64_t frames = 0, bytes = 0, t0 = 0, last = 0;
        for (uint64_t idle = now_ns();;) {
            uint16_t k = dev->rx_burst(dev, pk, 32);
            if (!k) {
                if (now_ns() - idle > 3000000000ull && (frames || now_ns() - idle > 60000000000ull))
                    break; /* the client is done */
                continue;
            }
            idle = now_ns();
            if (bulk) {
                if (!frames)
                    t0 = idle;
                last = idle;
                frames += k;
                for (uint16_t i = 0; i < k; i++) {
                    bytes += pk[i]->pkt_len;
                    dm_buf_free(pk[i]);
                }
                continue;
            }
            frames += k;
            uint16_t s = 0;
            while (s < k)
                s = (uint16_t)(s + dev->tx_burst(dev, pk + s, (uint16_t)(k - s)));
        }
        if (bulk && last > t0) {
            double t = (double)(last - t0) / 1e9;
            printf("RESULT raw_dm_memif_rate pps=%.0f gbps=%.3f frames=%llu frame_bytes=%u\n", (double)frames / t,
                   (double)bytes * 8 / t / 1e9, (unsigned long long)frames, size);
        }
        dm_dev_close(dev);
        dm_instance_destroy(inst);
        return 0;
    }
    if (bulk) {
        uint64_t end = now_ns() + (uint64_t)secs * 1000000000ull;
        while (now_ns() < end) {
            uint16_t m = 0;
            while (m < 32 && (pk[m] = frame(inst, size)))
                m++;
            uint16_t s = dev->tx_burst(dev, pk, m);
            for (uint16_t i = s; i < m; i++)
                dm_buf_free(pk[i]);
            while (dev->rx_burst(dev, pk, 32))
                ; /* nothing comes back; keeps the control path turning */
        }
        dm_dev_close(dev);
        dm_instance_destroy(inst);
        return 0;
    }
    long warm = n / 10 + 100;
    uint64_t *rtt = malloc(sizeof(*rtt) * (size_t)n);
    for (long i = -warm; i < n; i++) {
        struct dm_buf *b = frame(inst, size);
        uint64_t t0 = now_ns();
        while (!dev->tx_burst(dev, &b, 1))
            ;
        uint16_t k;
        while (!(k = dev->rx_burst(dev, pk, 32)))
            ;
        uint64_t t1 = now_ns();
        for (uint16_t j = 0; j < k; j++)
            dm_buf_free(pk[j]);
        if (i >= 0)
            rtt[i] = t1 - t0;
    }
    qsort(rtt, (size_t)n, sizeof(*rtt), cmp64);
    printf("RESULT raw_dm_memif rtt_ns p50=%llu p99=%llu p999=%llu n=%ld size=%u\n", (unsigned long long)rtt[n / 2],
           (unsigned long long)rtt[(size_t)(n * 0.99)], (unsigned long long)rtt[(size_t)(n * 0.999)], n, size);
    free(rtt);
    dm_dev_close(dev);
    dm_instance_destroy(inst);
    return 0;
}
