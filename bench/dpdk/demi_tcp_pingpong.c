/* SPDX-License-Identifier: MIT */
/*
 * TCP ping-pong and bulk transfer through the demi API, on whatever
 * backend DEMI_BACKEND selects (dpdk over memif for the benchmark; posix
 * works too, for a sanity check).
 *
 *   demi_tcp_pingpong server -a ADDR -p PORT            echo server
 *   demi_tcp_pingpong client -a ADDR -p PORT -n N -s S  N round trips of S bytes
 *   demi_tcp_pingpong client ... -B BYTES               bulk: send BYTES, wait for
 *                                                       the server's 1-byte ack
 *   demi_tcp_pingpong client ... -n N -o FILE          also write each round trip
 *     longer than 5x the median to FILE: "<index> <start, CLOCK_MONOTONIC ns> <rtt ns>"
 *     (what the tail is made of: bench/dpdk/tail.sh)
 *   demi_tcp_pingpong client ... -B BYTES -v            the same, and a line
 *     "PROGRESS <CLOCK_MONOTONIC ns> <bytes>" on stderr every 64 MiB pushed
 *     (bench/dpdk/profile.sh counts the segments inside its perf window)
 * The server echoes (pop, push the very sgarray back: no copy in the app)
 * until the peer closes, then serves the next connection; with -1 it exits
 * after one connection. In bulk mode the client's first 8 bytes announce
 * the total, and the server acks once it has received it all.
 *
 * Output: "RESULT demi_tcp rtt_ns p50=.. p99=.. p999=.. n=.. size=.. mean=.." or
 * "RESULT demi_tcp_bulk gbps=.. bytes=.. secs=..".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <demi/libos.h>
#include <demi/sga.h>
#include <demi/wait.h>

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int wait_tok(demi_qtoken_t qt, demi_qresult_t *qr)
{
    struct timespec to = { 30, 0 };
    int rc = demi_wait(qr, qt, &to);
    if (rc != 0) {
        fprintf(stderr, "demi_wait: %s\n", strerror(rc));
        return -1;
    }
    if (qr->qr_opcode == DEMI_OPC_FAILED) {
        if (qr->qr_ret != ECONNRESET)
            fprintf(stderr, "operation failed: %s\n", strerror((int)qr->qr_ret));
        return -1;
    }
    return 0;
}

static uint32_t sga_len(const demi_sgarray_t *s)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->sga_numsegs; i++)
        n += s->sga_segs[i].sgaseg_len;
    return n;
}

static int push_wait(int qd, demi_sgarray_t *sga)
{
    demi_qtoken_t qt;
    demi_qresult_t qr;
    int rc = demi_push(&qt, qd, sga);
    if (rc != 0) {
        fprintf(stderr, "demi_push: %s\n", strerror(rc));
        return -1;
    }
    return wait_tok(qt, &qr);
}

/* Graceful close: send our FIN and keep polling until the peer's FIN
 * arrives (or 2 s pass), so the FIN is not lost when the process exits
 * right after - a user-space stack only sends while it is polled. */
static void close_graceful(int qd)
{
    demi_qtoken_t qt;
    demi_qresult_t qr;
    demi_shutdown(qd, SHUT_WR);
    for (int i = 0; i < 100; i++) {
        if (demi_pop(&qt, qd) != 0)
            break;
        struct timespec to = { 2, 0 };
        if (demi_wait(&qr, qt, &to) != 0 || qr.qr_opcode != DEMI_OPC_POP)
            break;
        uint32_t l = sga_len(&qr.qr_value.sga);
        demi_sgafree(&qr.qr_value.sga);
        if (l == 0)
            break;
    }
    demi_close(qd);
}

static int serve(int qd)
{
    uint64_t bulk_total = 0, got = 0;
    int first = 1;
    for (;;) {
        demi_qtoken_t qt;
        demi_qresult_t qr;
        if (demi_pop(&qt, qd) != 0 || wait_tok(qt, &qr) != 0)
            return 0;
        demi_sgarray_t sga = qr.qr_value.sga;
        uint32_t len = sga_len(&sga);
        if (len == 0) { /* peer closed */
            demi_sgafree(&sga);
            return 0;
        }
        if (first && len >= 8 && memcmp(sga.sga_segs[0].sgaseg_buf, "BULK", 4) == 0 &&
            sga.sga_segs[0].sgaseg_len >= 12) {
            memcpy(&bulk_total, (char *)sga.sga_segs[0].sgaseg_buf + 4, 8);
        }
        first = 0;
        if (bulk_total) {
            got += len;
            demi_sgafree(&sga);
            if (got >= bulk_total) {
                demi_sgarray_t ack = demi_sgaalloc(1);
                if (!ack.sga_buf)
                    return -1;
                *(char *)ack.sga_segs[0].sgaseg_buf = 'K';
                push_wait(qd, &ack);
                demi_sgafree(&ack);
                bulk_total = got = 0;
                first = 1;
            }
            continue;
        }
        int rc = push_wait(qd, &sga);
        demi_sgafree(&sga);
        if (rc)
            return 0;
    }
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1";
    int port = 7777, once = 0, progress = 0;
    const char *outliers = NULL;
    long n = 100000, warm = 1000;
    uint32_t size = 64;
    uint64_t bulk = 0;
    if (argc < 2 || (strcmp(argv[1], "server") && strcmp(argv[1], "client"))) {
        fprintf(stderr, "usage: %s server|client [-a addr] [-p port] [-n rtts] [-s size] [-o outliers] [-B bulk_bytes [-v]] [-1]\n",
                argv[0]);
        return 2;
    }
    int server = !strcmp(argv[1], "server");
    int opt;
    optind = 2;
    while ((opt = getopt(argc, argv, "a:p:n:s:B:1vo:")) != -1) {
        switch (opt) {
        case 'a': addr = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'n': n = atol(optarg); break;
        case 's': size = (uint32_t)atoi(optarg); break;
        case 'B': bulk = strtoull(optarg, NULL, 0); break;
        case '1': once = 1; break;
        case 'v': progress = 1; break;
        case 'o': outliers = optarg; break;
        default: return 2;
        }
    }
    struct demi_args da = { .argc = argc, .argv = argv, .callback = NULL };
    int rc = demi_init(&da);
    if (rc != 0) {
        fprintf(stderr, "demi_init: %s\n", strerror(rc));
        return 1;
    }
    /* an address with a ':' is IPv6 */
    int fam = strchr(addr, ':') ? AF_INET6 : AF_INET;
    struct sockaddr_in sa4 = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    struct sockaddr_in6 sa6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };
    if (fam == AF_INET ? inet_pton(AF_INET, addr, &sa4.sin_addr) != 1 : inet_pton(AF_INET6, addr, &sa6.sin6_addr) != 1) {
        fprintf(stderr, "bad address %s\n", addr);
        return 2;
    }
    struct sockaddr *sa = fam == AF_INET ? (struct sockaddr *)&sa4 : (struct sockaddr *)&sa6;
    socklen_t salen = fam == AF_INET ? sizeof(sa4) : sizeof(sa6);
    int qd;
    if ((rc = demi_socket(&qd, fam, SOCK_STREAM, 0)) != 0) {
        fprintf(stderr, "demi_socket: %s\n", strerror(rc));
        return 1;
    }
    demi_qtoken_t qt;
    demi_qresult_t qr;
    if (server) {
        if ((rc = demi_bind(qd, sa, salen)) != 0 || (rc = demi_listen(qd, 16)) != 0) {
            fprintf(stderr, "bind/listen: %s\n", strerror(rc));
            return 1;
        }
        /* serve() reads every segment of a pop: take up to 8 at a time
         * (POP_SEGS=1: one, as apps written for Demikernel read them) */
        int segs = getenv("POP_SEGS") ? atoi(getenv("POP_SEGS")) : DEMI_SGARRAY_MAXSIZE;
        if ((rc = demi_setsockopt(qd, SOL_DEMI, DEMI_SO_POP_SEGS, &segs, sizeof(segs))) != 0) {
            fprintf(stderr, "DEMI_SO_POP_SEGS: %s\n", strerror(rc));
            return 1;
        }
        fprintf(stderr, "server listening on %s:%d\n", addr, port);
        do {
            if (demi_accept(&qt, qd) != 0)
                return 1;
            struct timespec to = { 120, 0 };
            if ((rc = demi_wait(&qr, qt, &to)) != 0 || qr.qr_opcode != DEMI_OPC_ACCEPT) {
                fprintf(stderr, "accept: %s\n", rc ? strerror(rc) : "failed");
                return 1;
            }
            int cqd = qr.qr_value.ares.qd;
            serve(cqd);
            demi_close(cqd);
        } while (!once);
        demi_close(qd);
        return 0;
    }

    /* client: connect, retrying while the server is not up yet */
    int64_t t_end = now_ns() + 30000000000ll;
    for (;;) {
        if (demi_connect(&qt, qd, sa, salen) != 0)
            return 1;
        struct timespec to = { 10, 0 };
        rc = demi_wait(&qr, qt, &to);
        if (rc == 0 && qr.qr_opcode == DEMI_OPC_CONNECT)
            break;
        if (now_ns() > t_end) {
            fprintf(stderr, "connect failed\n");
            return 1;
        }
        demi_close(qd);
        struct timespec ms = { 0, 100000000 };
        nanosleep(&ms, NULL);
        if (demi_socket(&qd, fam, SOCK_STREAM, 0) != 0)
            return 1;
    }

    if (bulk) {
        /* up to `depth` pushes in flight, like a socket send buffer */
        const uint32_t chunk = 256 * 1024;
        enum { depth = 8 };
        demi_qtoken_t inflight[depth];
        int nin = 0;
        int64_t t0 = now_ns();
        uint64_t sent = 0;
        while (sent < bulk || nin) {
            if (sent < bulk && nin < depth) {
                uint32_t l = bulk - sent < chunk ? (uint32_t)(bulk - sent) : chunk;
                if (l < 12)
                    l = 12;
                demi_sgarray_t s = demi_sgaalloc(l);
                if (!s.sga_buf) {
                    fprintf(stderr, "sgaalloc failed\n");
                    return 1;
                }
                char *p = s.sga_segs[0].sgaseg_buf;
                memset(p, (int)(sent >> 18), l);
                if (sent == 0) {
                    memcpy(p, "BULK", 4);
                    memcpy(p + 4, &bulk, 8);
                }
                if ((rc = demi_push(&inflight[nin], qd, &s)) != 0) {
                    fprintf(stderr, "demi_push: %s\n", strerror(rc));
                    return 1;
                }
                nin++;
                demi_sgafree(&s); /* the push keeps its own references */
                if (progress && (sent >> 26) != ((sent + l) >> 26))
                    fprintf(stderr, "PROGRESS %lld %llu\n", (long long)now_ns(), (unsigned long long)sent);
                sent += l;
                continue;
            }
            int off;
            struct timespec to = { 30, 0 };
            if (demi_wait_any(&qr, &off, inflight, nin, &to) != 0 || qr.qr_opcode != DEMI_OPC_PUSH) {
                fprintf(stderr, "push failed\n");
                return 1;
            }
            inflight[off] = inflight[--nin];
        }
        if (demi_pop(&qt, qd) != 0 || wait_tok(qt, &qr) != 0)
            return 1;
        double secs = (double)(now_ns() - t0) / 1e9;
        demi_sgafree(&qr.qr_value.sga);
        printf("RESULT demi_tcp_bulk gbps=%.3f bytes=%llu secs=%.3f\n", (double)sent * 8 / secs / 1e9,
               (unsigned long long)sent, secs);
        close_graceful(qd);
        return 0;
    }

    /* static: outlives every early return (no leak reports on errors) */
    static int64_t *rtt, *start;
    rtt = calloc((size_t)n, sizeof(*rtt));
    start = calloc((size_t)n, sizeof(*start));
    if (!rtt || !start)
        return 1;
    for (long i = -warm; i < n; i++) {
        int64_t t0 = now_ns();
        demi_sgarray_t s = demi_sgaalloc(size);
        if (!s.sga_buf) {
            fprintf(stderr, "sgaalloc failed\n");
            return 1;
        }
        memset(s.sga_segs[0].sgaseg_buf, (int)(i & 0xff), size);
        if (push_wait(qd, &s) != 0)
            return 1;
        demi_sgafree(&s);
        uint32_t got = 0;
        while (got < size) {
            if (demi_pop(&qt, qd) != 0 || wait_tok(qt, &qr) != 0)
                return 1;
            uint32_t l = sga_len(&qr.qr_value.sga);
            demi_sgafree(&qr.qr_value.sga);
            if (l == 0) {
                fprintf(stderr, "server closed\n");
                return 1;
            }
            got += l;
        }
        if (i >= 0) {
            rtt[i] = now_ns() - t0;
            start[i] = t0;
        }
    }
    int64_t sum = 0;
    for (long i = 0; i < n; i++)
        sum += rtt[i];
    if (outliers) {
        int64_t *sorted = malloc((size_t)n * sizeof(*sorted));
        FILE *f = fopen(outliers, "w");
        if (sorted && f) {
            memcpy(sorted, rtt, (size_t)n * sizeof(*sorted));
            qsort(sorted, (size_t)n, sizeof(*sorted), cmp64);
            for (long i = 0; i < n; i++)
                if (rtt[i] > 5 * sorted[n / 2])
                    fprintf(f, "%ld %lld %lld\n", i, (long long)start[i], (long long)rtt[i]);
        }
        if (f)
            fclose(f);
        free(sorted);
    }
    qsort(rtt, (size_t)n, sizeof(*rtt), cmp64);
    printf("RESULT demi_tcp rtt_ns p50=%lld p99=%lld p999=%lld n=%ld size=%u mean=%lld\n", (long long)rtt[n / 2],
           (long long)rtt[(size_t)(n * 0.99)], (long long)rtt[(size_t)(n * 0.999)], n, size, (long long)(sum / n));
    free(rtt);
    free(start);
    rtt = start = NULL;
    close_graceful(qd);
    return 0;
}
