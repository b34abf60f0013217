/* SPDX-License-Identifier: MIT */
/*
 * The floor: raw DPDK ping-pong over net_memif between two processes, no
 * stack at all. The server echoes every frame it receives; the client sends
 * one frame of -s bytes, busy-polls for the echo, and records the round trip
 * (TSC). After -n round trips (plus a warm-up) it prints p50/p99/p99.9 and a
 * machine-readable line "RESULT raw_memif rtt_ns p50=.. p99=.. p999=..".
 *
 * -b mode measures the raw packet rate instead: the client streams
 * full-size frames as fast as the ring takes them for -t seconds and the
 * server counts them ("RESULT raw_memif_rate pps=.. gbps=..").
 *
 * -m BSIZE gives memif buffers of BSIZE bytes (the client's vdev bsize=)
 * and frames up to that size (-s), for the jumbo-frame floor.
 *
 * -w NS pads each round trip with NS ns of spinning, half on each side
 * (the server before it echoes, the client before it sends): a datapath
 * that costs nothing but time and adds no stalls of its own. Its p99.9 /
 * p50 at a stack's p50 is what the machine alone allows that stack
 * (bench/dpdk/preload.sh: timer interrupts and the host's stalls hit a
 * longer round trip more often).
 *
 * Usage: raw_memif_pingpong server|client [-S socket] [-n rtts] [-s size] [-b] [-t secs] [-m bsize] [-w ns]
 * EAL arguments are built here (--no-pci always; --no-huge; one lcore that
 * keeps the calling thread's CPU affinity; a per-process --file-prefix).
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#define BURST 32

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* EAL leaves its runtime directory (/var/run/dpdk/<prefix>) behind; with a
 * per-process prefix that would pile up, so remove it after cleanup. */
static void eal_cleanup_all(void)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", rte_eal_get_runtime_dir());
    rte_eal_cleanup();
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* stands for a datapath's work: `cycles` of TSC, nothing else touched */
static void spin(uint64_t cycles)
{
    if (!cycles)
        return;
    uint64_t end = rte_rdtsc() + cycles;
    while (rte_rdtsc() < end)
        rte_pause();
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* "--lcores=0@(a,b,..)": one lcore pinned to the CPUs we may already run
 * on, so two processes on a small machine are not both forced onto CPU 0. */
static void lcores_arg(char *buf, size_t len)
{
    cpu_set_t set;
    size_t off = (size_t)snprintf(buf, len, "--lcores=0@(");
    int first = 1;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        for (int c = 0; c < CPU_SETSIZE && off < len - 8; c++) {
            if (CPU_ISSET(c, &set)) {
                off += (size_t)snprintf(buf + off, len - off, "%s%d", first ? "" : ",", c);
                first = 0;
            }
        }
    }
    if (first)
        off += (size_t)snprintf(buf + off, len - off, "0");
    snprintf(buf + off, len - off, ")");
}

int main(int argc, char **argv)
{
    const char *sock = "/tmp/demi_raw_memif.sock";
    long n = 100000, warm = 2000;
    unsigned size = 64;
    int rate_mode = 0;
    double secs = 3.0;
    if (argc < 2 || (strcmp(argv[1], "server") && strcmp(argv[1], "client"))) {
        fprintf(stderr, "usage: %s server|client [-S socket] [-n rtts] [-s size] [-b] [-t secs] [-m bsize] [-w ns]\n",
                argv[0]);
        return 2;
    }
    int server = !strcmp(argv[1], "server");
    int opt;
    optind = 2;
    unsigned bsize = 0;
    long pad_ns = 0;
    while ((opt = getopt(argc, argv, "S:n:s:bt:m:w:")) != -1) {
        switch (opt) {
        case 'S': sock = optarg; break;
        case 'n': n = atol(optarg); break;
        case 's': size = (unsigned)atoi(optarg); break;
        case 'b': rate_mode = 1; break;
        case 't': secs = atof(optarg); break;
        case 'm': bsize = (unsigned)atoi(optarg); break;
        case 'w': pad_ns = atol(optarg); break;
        default: return 2;
        }
    }
    if (size < 60)
        size = 60;
    unsigned max_frame = bsize > 1514 ? (bsize > 9014 ? 9014 : bsize) : 1514;
    if (size > max_frame)
        size = max_frame;

    char vdev[256], prefix[64], lcores[256];
    snprintf(vdev, sizeof(vdev), "--vdev=net_memif0,role=%s,socket=%s", server ? "server" : "client", sock);
    if (bsize && !server)
        snprintf(vdev + strlen(vdev), sizeof(vdev) - strlen(vdev), ",bsize=%u", bsize);
    snprintf(prefix, sizeof(prefix), "--file-prefix=rawpp%d", (int)getpid());
    lcores_arg(lcores, sizeof(lcores));
    /* RAW_PMD_DIR: where DPDK's drivers are when not where this DPDK was
     * built to look (a machine without DPDK installed: bench/scale/device.sh) */
    const char *pmd_dir = getenv("RAW_PMD_DIR");
    char *eal[] = { argv[0], "--no-pci", "--no-huge", "-m", "256", "--no-telemetry",
                    "--log-level=*:warning", lcores, prefix, vdev, "-d", (char *)pmd_dir };
    int eal_argc = (int)(sizeof(eal) / sizeof(eal[0])) - (pmd_dir && *pmd_dir ? 0 : 2);
    if (rte_eal_init(eal_argc, eal) < 0) {
        fprintf(stderr, "rte_eal_init failed: %s\n", rte_strerror(rte_errno));
        return 1;
    }
    uint16_t port = 0;
    if (!rte_eth_dev_is_valid_port(port)) {
        fprintf(stderr, "no DPDK port (memif vdev missing?)\n");
        return 1;
    }
    /* one mbuf per frame, as our stack's pool holds them (devices/dpdk) */
    uint16_t room = max_frame > 1514 ? (uint16_t)(RTE_PKTMBUF_HEADROOM + ((max_frame + 4 + 1023) & ~1023u))
                                     : RTE_MBUF_DEFAULT_BUF_SIZE;
    struct rte_mempool *mp = rte_pktmbuf_pool_create("rawpp", 4095, 256, 0, room, SOCKET_ID_ANY);
    if (!mp) {
        fprintf(stderr, "mempool: %s\n", rte_strerror(rte_errno));
        return 1;
    }
    struct rte_eth_conf conf;
    memset(&conf, 0, sizeof(conf));
    if (rte_eth_dev_configure(port, 1, 1, &conf) < 0 ||
        rte_eth_rx_queue_setup(port, 0, 1024, SOCKET_ID_ANY, NULL, mp) < 0 ||
        rte_eth_tx_queue_setup(port, 0, 1024, SOCKET_ID_ANY, NULL) < 0 ||
        rte_eth_dev_start(port) < 0) {
        fprintf(stderr, "port setup failed\n");
        return 1;
    }
    /* Wait for the peer to connect (memif link up). */
    double t0 = now_s();
    struct rte_eth_link link;
    for (;;) {
        rte_eth_link_get_nowait(port, &link);
        if (link.link_status)
            break;
        if (now_s() - t0 > 20) {
            fprintf(stderr, "memif link did not come up in 20 s\n");
            return 1;
        }
        usleep(1000);
    }

    struct rte_mbuf *pkts[BURST];
    /* each side's half of -w, in TSC cycles */
    uint64_t pad = pad_ns > 0 ? (uint64_t)pad_ns * rte_get_tsc_hz() / 2000000000ull : 0;
    if (server) {
        /* Echo until the client sends its end marker (a frame of 61 bytes)
         * or goes quiet for 5 s after having started. */
        uint64_t count = 0, bytes = 0;
        double last = now_s(), first_rx = 0;
        for (;;) {
            uint16_t nb = rte_eth_rx_burst(port, 0, pkts, BURST);
            if (nb == 0) {
                if ((count && now_s() - last > 5) || (!count && now_s() - t0 > 60))
                    break;
                continue;
            }
            int end = 0;
            for (uint16_t i = 0; i < nb; i++) {
                if (pkts[i]->pkt_len == 61)
                    end = 1;
                bytes += pkts[i]->pkt_len;
            }
            if (!count)
                first_rx = now_s();
            count += nb;
            last = now_s();
            if (rate_mode) {
                rte_pktmbuf_free_bulk(pkts, nb);
            } else {
                spin(pad);
                uint16_t sent = 0;
                while (sent < nb)
                    sent += rte_eth_tx_burst(port, 0, pkts + sent, nb - sent);
            }
            if (end)
                break;
        }
        if (rate_mode && last > first_rx) {
            double dt = last - first_rx;
            printf("RESULT raw_memif_rate pps=%.0f gbps=%.3f frames=%lu frame_bytes=%lu\n",
                   (double)count / dt, (double)bytes * 8 / dt / 1e9, (unsigned long)count,
                   (unsigned long)(bytes / count));
        }
        rte_eth_dev_stop(port);
        rte_eth_dev_close(port);
        eal_cleanup_all();
        return 0;
    }

    /* client */
    static uint8_t frame[9014];
    memset(frame, 0, sizeof(frame));
    memset(frame, 0xff, 6);                      /* dst: broadcast */
    frame[6] = 0x02;                             /* src: locally administered */
    frame[12] = 0x88, frame[13] = 0xb5;          /* local experimental ethertype */
    int rc = 0;
    if (rate_mode) {
        uint64_t sent_total = 0;
        double start = now_s();
        while (now_s() - start < secs) {
            if (rte_pktmbuf_alloc_bulk(mp, pkts, BURST) != 0)
                continue;
            for (int i = 0; i < BURST; i++)
                memcpy(rte_pktmbuf_append(pkts[i], (uint16_t)size), frame, size);
            uint16_t s = rte_eth_tx_burst(port, 0, pkts, BURST);
            sent_total += s;
            if (s < BURST)
                rte_pktmbuf_free_bulk(pkts + s, BURST - s);
        }
        printf("client sent %lu frames of %u B in %.1f s\n", (unsigned long)sent_total, size, secs);
    } else {
        uint64_t *rtt = calloc((size_t)n, sizeof(*rtt));
        uint64_t hz = rte_get_tsc_hz();
        for (long i = -warm; i < n; i++) {
            struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
            if (!m) {
                fprintf(stderr, "out of mbufs\n");
                rc = 1;
                break;
            }
            memcpy(rte_pktmbuf_append(m, (uint16_t)size), frame, size);
            uint64_t t = rte_rdtsc();
            spin(pad);
            while (rte_eth_tx_burst(port, 0, &m, 1) == 0)
                ;
            uint16_t nb;
            uint64_t deadline = t + hz * 2;
            while ((nb = rte_eth_rx_burst(port, 0, pkts, BURST)) == 0) {
                if (rte_rdtsc() > deadline)
                    break;
            }
            uint64_t d = rte_rdtsc() - t;
            if (nb == 0) {
                fprintf(stderr, "lost echo at %ld\n", i);
                rc = 1;
                break;
            }
            rte_pktmbuf_free_bulk(pkts, nb);
            if (i >= 0)
                rtt[i] = d * 1000000000ull / hz;
        }
        if (rc == 0) {
            qsort(rtt, (size_t)n, sizeof(*rtt), cmp_u64);
            printf("RESULT raw_memif rtt_ns p50=%lu p99=%lu p999=%lu n=%ld size=%u pad_ns=%ld\n",
                   (unsigned long)rtt[n / 2], (unsigned long)rtt[(size_t)(n * 0.99)],
                   (unsigned long)rtt[(size_t)(n * 0.999)], n, size, pad_ns);
        }
        free(rtt);
    }
    /* end marker */
    struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
    if (m) {
        memcpy(rte_pktmbuf_append(m, 61), frame, 61);
        for (int tries = 0; tries < 1000 && rte_eth_tx_burst(port, 0, &m, 1) == 0; tries++)
            usleep(100);
    }
    usleep(100000);
    rte_eth_dev_stop(port);
    rte_eth_dev_close(port);
    eal_cleanup_all();
    return rc;
}
