/* SPDX-License-Identifier: MIT */
/*
 * bench_uring_echo: echo over loopback, three ways, in one run:
 *   uring  - the demi queue API on the io_uring backend (client and server)
 *   posix  - the same demi program on the posix (epoll) backend
 *   epoll  - plain kernel sockets in a hand-written epoll echo
 * Each variant runs its server in one thread and its client in another
 * (each demi side has its own instance, as two processes would).
 *
 * Measured: RTT of 64 B, 1 KiB and 64 KiB messages on one connection
 * (p50/p99/p99.9), and throughput with 1 and 32 connections (each keeps
 * `window` messages of `tsize` bytes in flight; echoed bytes per second).
 * Ratios are against the epoll row. Nothing here asserts a timing.
 *
 * Usage: bench_uring_echo [-n rtt_iters] [-t seconds] [-s tput_size]
 *                         [-w window] [-r rounds] [-v variants] [-T|-R|-L]
 * -T: only the 32-connection throughput; -R: only the RTTs (to profile one);
 * -L: only the 64 KiB RTT.
* Variants: uring, uring-nospin, posix, epoll (default), uring-busy (busy polling),
 * uring-srv / posix-srv (that server with the epoll client: isolates the
 * server's share), uring-shared / uring-shared-srv (DEMI_URING_SHARED=1: a
 * ring any thread may drive, where the preload ends when threads take
 * turns), uring-nospin / posix-nospin (DEMI_SPIN_US=0: a wait sleeps at
 * once, like the epoll loop; by default it polls 50 us first). DEMI_URING_*
 * and DEMI_SPIN_US in the environment apply to every demi instance (to try
 * a setting).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <demi/libos.h>
#include "dm/instance.h"
#include "dm/time.h"

#define MAXC 64
#define MAXMSG (64 * 1024)

struct variant {
    const char *name;
    const char *backend;   /* server; NULL: plain epoll */
    int busypoll;
    int epoll_client;      /* the client is the epoll one whatever the server */
    int shared;            /* DEMI_URING_SHARED=1: a ring any thread may drive */
    int nospin;            /* DEMI_SPIN_US=0: sleep at once, as the epoll loop does */
};

struct results {
    double p50[3], p99[3], p999[3];
    double tput[2];        /* MB/s for 1 and 32 connections */
};

static int g_iters = 20000;
static double g_secs = 2.0;
static int g_tsize = 16384;
static int g_window = 4;
static int g_tput_only;   /* -T: skip the RTT and 1-connection phases */
static int g_rtt_only;    /* -R: skip the throughput phases */
static int g_big_only;    /* -L: of the RTTs, only 64 KiB (implies -R) */
static const size_t rtt_sizes[3] = { 64, 1024, 65536 };

static atomic_int srv_port;
static atomic_int srv_stop;

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void pct(int64_t *v, int n, double *p50, double *p99, double *p999)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_i64);
    *p50 = (double)v[n / 2] / 1000.0;
    *p99 = (double)v[(int)((double)n * 0.99)] / 1000.0;
    *p999 = (double)v[(int)((double)n * 0.999)] / 1000.0;
}

static struct dm_instance *mk_instance(const struct variant *v)
{
    struct dm_config cfg;
    dm_config_init(&cfg);
    /* DEMI_URING_* and DEMI_SPIN_US from the environment apply (to try a setting) */
    extern char **environ;
    for (char **e = environ; *e; e++) {
        char key[64];
        const char *eq = strchr(*e, '=');
        if ((strncmp(*e, "DEMI_URING_", 11) && strncmp(*e, "DEMI_SPIN_US=", 13) && strncmp(*e, "DEMI_STATS=", 11)) || !eq || (size_t)(eq - *e) >= sizeof(key))
            continue;
        memcpy(key, *e, (size_t)(eq - *e));
        key[eq - *e] = 0;
        dm_config_set(&cfg, key, eq + 1);
    }
    dm_config_set(&cfg, "DEMI_BACKEND", v->backend);
    if (v->busypoll)
        dm_config_set(&cfg, "DEMI_URING_BUSYPOLL", "1");
    if (v->shared)
        dm_config_set(&cfg, "DEMI_URING_SHARED", "1");
    if (v->nospin)
        dm_config_set(&cfg, "DEMI_SPIN_US", "0");
    struct dm_instance *inst;
    int rc = dm_instance_create(&cfg, &inst);
    if (rc < 0) {
        fprintf(stderr, "instance (%s): %s\n", v->backend, strerror(-rc));
        exit(1);
    }
    return inst;
}

static void dm_nodelay(struct dm_instance *inst, int qd)
{
    int one = 1;
    dm_setsockopt(inst, qd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* ---- demi server: pop, push the popped array back (zero copy) ---- */
static void *demi_server(void *arg)
{
    const struct variant *v = arg;
    struct dm_instance *inst = mk_instance(v);
    int l;
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    dm_socket(inst, &l, AF_INET, SOCK_STREAM, 0);
    dm_bind(inst, l, (struct sockaddr *)&sin, sizeof(sin));
    dm_listen(inst, l, 128);
    socklen_t len = sizeof(sin);
    dm_getsockname(inst, l, (struct sockaddr *)&sin, &len);
    demi_qtoken_t qt;
    dm_accept(inst, &qt, l);
    atomic_store(&srv_port, ntohs(sin.sin_port));
    demi_qresult_t qrs[64];
    while (!atomic_load(&srv_stop)) {
        int n = 0;
        if (dm_wait_next_n(inst, qrs, 64, &n, 20 * DM_NS_PER_MS) < 0)
            continue;
        for (int i = 0; i < n; i++) {
            demi_qresult_t *qr = &qrs[i];
            switch (qr->qr_opcode) {
            case DEMI_OPC_ACCEPT:
                dm_nodelay(inst, qr->qr_value.ares.qd);
                dm_pop(inst, &qt, qr->qr_value.ares.qd);
                dm_accept(inst, &qt, l);
                break;
            case DEMI_OPC_POP:
                if (qr->qr_value.sga.sga_numsegs == 0) {
                    dm_close(inst, qr->qr_qd);
                    break;
                }
                dm_push(inst, &qt, qr->qr_qd, &qr->qr_value.sga);
                dm_sgafree(inst, &qr->qr_value.sga);
                dm_pop(inst, &qt, qr->qr_qd);
                break;
            case DEMI_OPC_FAILED:
                if (qr->qr_qd != l && qr->qr_ret != ECANCELED)
                    dm_close(inst, qr->qr_qd);
                break;
            default:
                break;
            }
        }
    }
    dm_instance_destroy(inst);
    return NULL;
}

/* ---- epoll server: non-blocking, a pending-output buffer per socket ---- */
struct econn {
    int fd;
    uint32_t off, len;
    uint8_t buf[MAXMSG];
};

static void *epoll_server(void *arg)
{
    (void)arg;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bind(l, (struct sockaddr *)&sin, sizeof(sin));
    listen(l, 128);
    socklen_t slen = sizeof(sin);
    getsockname(l, (struct sockaddr *)&sin, &slen);
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
    atomic_store(&srv_port, ntohs(sin.sin_port));
    struct epoll_event evs[64];
    while (!atomic_load(&srv_stop)) {
        int n = epoll_wait(ep, evs, 64, 20);
        for (int i = 0; i < n; i++) {
            struct econn *c = evs[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(l, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    int one = 1;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    c = calloc(1, sizeof(*c));
                    c->fd = fd;
                    struct epoll_event e = { .events = EPOLLIN, .data.ptr = c };
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
                }
                continue;
            }
            bool closed = false;
            for (;;) {
                if (c->len > c->off) { /* flush first */
                    ssize_t w = write(c->fd, c->buf + c->off, c->len - c->off);
                    if (w < 0) {
                        if (errno == EAGAIN)
                            break;
                        closed = true;
                        break;
                    }
                    c->off += (uint32_t)w;
                    continue;
                }
                ssize_t r = read(c->fd, c->buf, sizeof(c->buf));
                if (r <= 0) {
                    if (r < 0 && errno == EAGAIN)
                        break;
                    closed = true;
                    break;
                }
                c->off = 0;
                c->len = (uint32_t)r;
            }
            if (closed) {
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                free(c);
                continue;
            }
            struct epoll_event e = { .events = c->len > c->off ? EPOLLOUT : EPOLLIN, .data.ptr = c };
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
        }
    }
    close(ep);
    close(l);
    return NULL;
}

/* ---- clients ---- */
struct client {
    const struct variant *v;
    const char *cb;        /* the client's backend, NULL: epoll */
    struct dm_instance *inst;
    int ep;
    int fd[MAXC];          /* qds (demi) or fds (epoll) */
    int n;
};

static void client_connect(struct client *c, int n)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                               .sin_port = htons((uint16_t)atomic_load(&srv_port)) };
    c->n = n;
    for (int i = 0; i < n; i++) {
        if (c->cb) {
            demi_qtoken_t qt;
            demi_qresult_t qr;
            dm_socket(c->inst, &c->fd[i], AF_INET, SOCK_STREAM, 0);
            dm_nodelay(c->inst, c->fd[i]);
            dm_connect(c->inst, &qt, c->fd[i], (struct sockaddr *)&sin, sizeof(sin));
            if (dm_wait(c->inst, &qr, qt, 5 * DM_NS_PER_S) < 0 || qr.qr_opcode != DEMI_OPC_CONNECT) {
                fprintf(stderr, "connect failed\n");
                exit(1);
            }
        } else {
            int fd = socket(AF_INET, SOCK_STREAM, 0);
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
                perror("connect");
                exit(1);
            }
            fcntl(fd, F_SETFL, O_NONBLOCK);
            struct epoll_event e = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
            epoll_ctl(c->ep, EPOLL_CTL_ADD, fd, &e);
            c->fd[i] = fd;
        }
    }
}

static void client_close(struct client *c)
{
    for (int i = 0; i < c->n; i++) {
        if (c->cb)
            dm_close(c->inst, c->fd[i]);
        else {
            epoll_ctl(c->ep, EPOLL_CTL_DEL, c->fd[i], NULL);
            close(c->fd[i]);
        }
    }
    c->n = 0;
}

static uint8_t g_msg[MAXMSG];

/* Sends one message on connection i (whole, for epoll: loops on EAGAIN
 * through epoll for writability). */
static void send_msg(struct client *c, int i, size_t size, demi_sgarray_t *sga)
{
    if (c->cb) {
        demi_qtoken_t qt;
        dm_push(c->inst, &qt, c->fd[i], sga);
        return;
    }
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(c->fd[i], g_msg + off, size - off);
        if (w > 0) {
            off += (size_t)w;
        } else if (errno == EAGAIN) {
            struct pollfd p = { .fd = c->fd[i], .events = POLLOUT };
            poll(&p, 1, 100);
        } else {
            perror("write");
            exit(1);
        }
    }
}

/* RTT on connection 0: returns latencies (ns) in lat[]. */
static void run_rtt(struct client *c, size_t size, int iters, int64_t *lat)
{
    int err;
    demi_sgarray_t sga = {0};
    if (c->cb) {
        sga = dm_sgaalloc(c->inst, size, &err);
        memset(sga.sga_segs[0].sgaseg_buf, 'x', size);
    }
    static uint8_t rbuf[MAXMSG];
    int warm = iters / 10;
    for (int it = -warm; it < iters; it++) {
        int64_t t0 = dm_clock_ns();
        send_msg(c, 0, size, &sga);
        size_t got = 0;
        while (got < size) {
            if (c->cb) {
                demi_qtoken_t qt;
                demi_qresult_t qr;
                dm_pop(c->inst, &qt, c->fd[0]);
                dm_wait(c->inst, &qr, qt, -1);
                if (qr.qr_opcode != DEMI_OPC_POP || qr.qr_value.sga.sga_numsegs == 0) {
                    fprintf(stderr, "pop failed\n");
                    exit(1);
                }
                for (uint32_t k = 0; k < qr.qr_value.sga.sga_numsegs; k++)
                    got += qr.qr_value.sga.sga_segs[k].sgaseg_len;
                dm_sgafree(c->inst, &qr.qr_value.sga);
            } else {
                ssize_t r = read(c->fd[0], rbuf, sizeof(rbuf));
                if (r > 0) {
                    got += (size_t)r;
                    continue;
                }
                if (r == 0 || errno != EAGAIN) {
                    perror("read");
                    exit(1);
                }
                struct epoll_event e;
                epoll_wait(c->ep, &e, 1, -1);
            }
        }
        if (it >= 0)
            lat[it] = dm_clock_ns() - t0;
    }
    if (c->cb) {
        /* push tokens were never waited: reap them */
        demi_qresult_t qrs[64];
        int n;
        while (dm_wait_next_n(c->inst, qrs, 64, &n, 0) == 0 && n > 0)
            ;
        dm_sgafree(c->inst, &sga);
    }
}

/* Throughput: every connection keeps `window` messages in flight. */
static double run_tput(struct client *c, size_t size, int window, double secs)
{
    uint64_t rx[MAXC] = {0}, total = 0;
    int err;
    demi_sgarray_t sga = {0};
    if (c->cb) {
        sga = dm_sgaalloc(c->inst, size, &err);
        memset(sga.sga_segs[0].sgaseg_buf, 'y', size);
    }
    for (int i = 0; i < c->n; i++)
        for (int w = 0; w < window; w++)
            send_msg(c, i, size, &sga);
    int qmap[MAXC];
    if (c->cb)
        for (int i = 0; i < c->n; i++) {
            demi_qtoken_t qt;
            dm_pop(c->inst, &qt, c->fd[i]);
            qmap[i] = c->fd[i];
        }
    int64_t t0 = dm_clock_ns(), end = t0 + (int64_t)(secs * 1e9);
    static uint8_t rbuf[MAXMSG];
    while (dm_clock_ns() < end) {
        if (c->cb) {
            demi_qresult_t qrs[64];
            int n = 0;
            if (dm_wait_next_n(c->inst, qrs, 64, &n, 10 * DM_NS_PER_MS) < 0)
                continue;
            for (int k = 0; k < n; k++) {
                if (qrs[k].qr_opcode != DEMI_OPC_POP)
                    continue;
                int i = 0;
                while (i < c->n && qmap[i] != qrs[k].qr_qd)
                    i++;
                uint64_t got = 0;
                for (uint32_t s = 0; s < qrs[k].qr_value.sga.sga_numsegs; s++)
                    got += qrs[k].qr_value.sga.sga_segs[s].sgaseg_len;
                dm_sgafree(c->inst, &qrs[k].qr_value.sga);
                uint64_t before = rx[i] / size;
                rx[i] += got;
                total += got;
                for (uint64_t m = before; m < rx[i] / size; m++)
                    send_msg(c, i, size, &sga);
                demi_qtoken_t qt;
                dm_pop(c->inst, &qt, c->fd[i]);
            }
        } else {
            struct epoll_event evs[MAXC];
            int n = epoll_wait(c->ep, evs, MAXC, 10);
            for (int k = 0; k < n; k++) {
                int i = (int)evs[k].data.u32;
                ssize_t r;
                while ((r = read(c->fd[i], rbuf, sizeof(rbuf))) > 0) {
                    uint64_t before = rx[i] / size;
                    rx[i] += (uint64_t)r;
                    total += (uint64_t)r;
                    for (uint64_t m = before; m < rx[i] / size; m++)
                        send_msg(c, i, size, &sga);
                }
            }
        }
    }
    double el = (double)(dm_clock_ns() - t0) / 1e9;
    /* Drain what is still in flight so the next phase starts clean. */
    uint64_t want = 0;
    for (int i = 0; i < c->n; i++)
        want += (rx[i] / size + (uint64_t)window) * size - rx[i];
    int64_t dend = dm_clock_ns() + 5 * DM_NS_PER_S;
    while (want > 0 && dm_clock_ns() < dend) {
        if (c->cb) {
            demi_qresult_t qrs[64];
            int n = 0;
            if (dm_wait_next_n(c->inst, qrs, 64, &n, 10 * DM_NS_PER_MS) < 0)
                continue;
            for (int k = 0; k < n; k++) {
                if (qrs[k].qr_opcode != DEMI_OPC_POP)
                    continue;
                uint64_t got = 0;
                for (uint32_t s = 0; s < qrs[k].qr_value.sga.sga_numsegs; s++)
                    got += qrs[k].qr_value.sga.sga_segs[s].sgaseg_len;
                dm_sgafree(c->inst, &qrs[k].qr_value.sga);
                want -= got < want ? got : want;
                demi_qtoken_t qt;
                if (want)
                    dm_pop(c->inst, &qt, qrs[k].qr_qd);
            }
        } else {
            struct epoll_event evs[MAXC];
            int n = epoll_wait(c->ep, evs, MAXC, 10);
            for (int k = 0; k < n; k++) {
                ssize_t r;
                while ((r = read(c->fd[evs[k].data.u32], rbuf, sizeof(rbuf))) > 0)
                    want -= (uint64_t)r < want ? (uint64_t)r : want;
            }
        }
    }
    if (c->cb)
        dm_sgafree(c->inst, &sga);
    return (double)total / el / 1e6;
}

static void run_variant(const struct variant *v, struct results *res)
{
    atomic_store(&srv_port, 0);
    atomic_store(&srv_stop, 0);
    pthread_t th;
    pthread_create(&th, NULL, v->backend ? demi_server : epoll_server, (void *)v);
    while (atomic_load(&srv_port) == 0)
        usleep(1000);
    struct client c = { .v = v, .ep = -1, .cb = v->epoll_client ? NULL : v->backend };
    if (c.cb)
        c.inst = mk_instance(v);
    else
        c.ep = epoll_create1(0);
    int64_t *lat = malloc(sizeof(int64_t) * (size_t)g_iters);
    client_connect(&c, 1);
    for (int s = g_big_only ? 2 : 0; s < 3 && !g_tput_only; s++) {
        int iters = rtt_sizes[s] >= 65536 ? g_iters / 4 : g_iters;
        run_rtt(&c, rtt_sizes[s], iters, lat);
        pct(lat, iters, &res->p50[s], &res->p99[s], &res->p999[s]);
    }
    if (!g_tput_only && !g_rtt_only)
        res->tput[0] = run_tput(&c, (size_t)g_tsize, g_window, g_secs);
    client_close(&c);
    if (!g_rtt_only) {
        client_connect(&c, 32);
        res->tput[1] = run_tput(&c, (size_t)g_tsize, g_window, g_secs);
        client_close(&c);
    }
    atomic_store(&srv_stop, 1);
    pthread_join(th, NULL);
    if (c.cb)
        dm_instance_destroy(c.inst);
    else
        close(c.ep);
    free(lat);
}

static double med(double *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return v[n / 2];
}

#define MAXR 15
int main(int argc, char **argv)
{
    static const struct variant all[] = {
        { "uring", "uring", 0, 0, 0, 0 }, { "posix", "posix", 0, 0, 0, 0 }, { "epoll", NULL, 0, 0, 0, 0 },
        { "uring-busy", "uring", 1, 0, 0, 0 }, { "uring-srv", "uring", 0, 1, 0, 0 }, { "posix-srv", "posix", 0, 1, 0, 0 },
        { "uring-shared", "uring", 0, 0, 1, 0 }, { "uring-shared-srv", "uring", 0, 1, 1, 0 },
        { "uring-nospin", "uring", 0, 0, 0, 1 }, { "posix-nospin", "posix", 0, 0, 0, 1 },
    };
    const char *want = "uring,uring-nospin,posix,epoll";
    int rounds = 3, opt;
    while ((opt = getopt(argc, argv, "n:t:s:w:v:r:TRL")) != -1) {
        switch (opt) {
        case 'n': g_iters = atoi(optarg); break;
        case 't': g_secs = atof(optarg); break;
        case 's': g_tsize = atoi(optarg); break;
        case 'w': g_window = atoi(optarg); break;
        case 'v': want = optarg; break;
        case 'r': rounds = atoi(optarg); break;
        case 'T': g_tput_only = 1; break;
        case 'R': g_rtt_only = 1; break;
        case 'L': g_rtt_only = g_big_only = 1; break;
        default:
            fprintf(stderr, "usage: %s [-n rtt_iters] [-t secs] [-s tput_size] [-w window] [-r rounds] [-v list] [-T|-R|-L]\n",
                    argv[0]);
            return 2;
        }
    }
    if (g_iters < 100 || g_tsize <= 0 || g_tsize > MAXMSG || g_window <= 0 || rounds < 1 || rounds > MAXR) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    memset(g_msg, 'z', sizeof(g_msg));
    const struct variant *ran[DM_ARRAY_SIZE(all)];
    int nran = 0;
    char list[160];
    snprintf(list, sizeof(list), ",%s,", want);
    for (unsigned i = 0; i < DM_ARRAY_SIZE(all); i++) {
        char key[32];
        snprintf(key, sizeof(key), ",%s,", all[i].name);
        if (strstr(list, key))
            ran[nran++] = &all[i];
    }
    if (nran == 0) {
        fprintf(stderr, "no variant selected\n");
        return 2;
    }
    /* Rounds interleave the variants (rotating the order), and each figure
     * is the median over rounds: a shared machine's noise hits all alike. */
    static struct results per[DM_ARRAY_SIZE(all)][MAXR];
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < nran; k++) {
            int i = (k + r) % nran;
            fprintf(stderr, "round %d/%d: %s\n", r + 1, rounds, ran[i]->name);
            run_variant(ran[i], &per[i][r]);
            struct results *pr = &per[i][r];
            fprintf(stderr, "  p50 %.1f / %.1f / %.1f us, %.0f / %.0f MB/s\n", pr->p50[0], pr->p50[1], pr->p50[2],
                    pr->tput[0], pr->tput[1]);
        }
    struct results res[DM_ARRAY_SIZE(all)];
    for (int i = 0; i < nran; i++) {
        double v[MAXR];
#define MED(field) do { for (int r = 0; r < rounds; r++) v[r] = per[i][r].field; res[i].field = med(v, rounds); } while (0)
        for (int s = 0; s < 3; s++) {
            MED(p50[s]);
            MED(p99[s]);
            MED(p999[s]);
        }
        MED(tput[0]);
        MED(tput[1]);
#undef MED
    }
    int base = -1;
    for (int i = 0; i < nran; i++)
        if (!ran[i]->backend)
            base = i;
    printf("echo over loopback, medians of %d interleaved rounds: RTT %d iterations (64 KiB: %d), "
           "throughput %.1f s with %d B messages x %d in flight per connection\n",
           rounds, g_iters, g_iters / 4, g_secs, g_tsize, g_window);
    printf("%-11s | %-26s | %-26s | %-26s | %-11s | %-11s\n", "variant", "RTT 64 B p50/p99/p99.9 us",
           "RTT 1 KiB p50/p99/p99.9 us", "RTT 64 KiB p50/p99/p99.9 us", "1 conn MB/s", "32 conn MB/s");
    for (int i = 0; i < nran; i++) {
        struct results *r = &res[i];
        printf("%-11s |", ran[i]->name);
        for (int s = 0; s < 3; s++)
            printf(" %7.1f %7.1f %8.1f   |", r->p50[s], r->p99[s], r->p999[s]);
        printf(" %11.0f | %11.0f\n", r->tput[0], r->tput[1]);
    }
    if (base >= 0) {
        printf("\nratios vs epoll (p50 latency: lower is better; throughput: higher is better)\n");
        for (int i = 0; i < nran; i++) {
            if (i == base)
                continue;
            struct results *r = &res[i], *b = &res[base];
            if (!g_tput_only)
                printf("%-11s | p50 64 B x%.2f  1 KiB x%.2f  64 KiB x%.2f", ran[i]->name, r->p50[0] / b->p50[0],
                       r->p50[1] / b->p50[1], r->p50[2] / b->p50[2]);
            else
                printf("%-11s", ran[i]->name);
            if (!g_rtt_only && !g_tput_only)
                printf(" | tput 1 conn x%.2f", r->tput[0] / b->tput[0]);
            if (!g_rtt_only)
                printf(" | tput 32 conn x%.2f", r->tput[1] / b->tput[1]);
            printf("\n");
        }
    }
    return 0;
}
