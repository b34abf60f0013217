/* SPDX-License-Identifier: MIT */
/*
 * Our echo test server on the demi API: TCP and UDP echo on one port, any
 * number of connections at once, one thread, one demi_wait_any loop. Every
 * popped sgarray is pushed back as is (no copy in the application). Runs
 * until killed or until -t seconds pass without any event.
 *
 *   demi_echo_server -a ADDR -p PORT [-t idle_secs] [-L listen_after_ms]
 * ADDR with a ':' is IPv6 (AF_INET6 sockets; "::" also takes IPv4 clients).
 * -L: the datapath runs that long before the server listens.
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

enum kind { K_ACCEPT, K_TCP, K_UDP, K_PUSH };
#define MAX_TOKS 4096
static demi_qtoken_t qts[MAX_TOKS];
static struct { enum kind kind; int qd; } meta[MAX_TOKS];
static int n;
/* Per connection: pushes not yet completed, and whether a pop is parked
 * because of them (backpressure: an echo server must not read faster than
 * its peer drains the echo). */
#define MAX_CONNS 65536
#define MAX_PUSHES 64
static uint16_t pushes[MAX_CONNS];
static uint8_t parked[MAX_CONNS];
static unsigned slot(int qd) { return (unsigned)(qd - DEMI_QD_BASE) % MAX_CONNS; }

static void add(enum kind k, int qd, demi_qtoken_t qt)
{
    if (n == MAX_TOKS) {
        fprintf(stderr, "echo server: too many operations in flight\n");
        exit(1);
    }
    qts[n] = qt;
    meta[n].kind = k;
    meta[n].qd = qd;
    n++;
}

int main(int argc, char **argv)
{
    const char *addr = "0.0.0.0";
    int port = 7, idle = 300, late_ms = 0, opt;
    while ((opt = getopt(argc, argv, "a:p:t:L:")) != -1) {
        switch (opt) {
        case 'a': addr = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 't': idle = atoi(optarg); break;
        case 'L': late_ms = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: %s [-a addr] [-p port] [-t idle_secs] [-L listen_after_ms]\n", argv[0]);
            return 2;
        }
    }
    struct demi_args da = { .argc = argc, .argv = argv, .callback = NULL };
    int rc = demi_init(&da);
    if (rc != 0) {
        fprintf(stderr, "demi_init: %s\n", strerror(rc));
        return 1;
    }
    int fam = strchr(addr, ':') ? AF_INET6 : AF_INET;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    struct sockaddr_in6 sa6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };
    if (fam == AF_INET ? inet_pton(AF_INET, addr, &sa.sin_addr) != 1 : inet_pton(AF_INET6, addr, &sa6.sin6_addr) != 1) {
        fprintf(stderr, "echo server: bad address %s\n", addr);
        return 2;
    }
    struct sockaddr *bsa = fam == AF_INET ? (struct sockaddr *)&sa : (struct sockaddr *)&sa6;
    socklen_t blen = fam == AF_INET ? sizeof(sa) : sizeof(sa6);
    int lqd, uqd;
    demi_qtoken_t qt;
    if (late_ms > 0) {
        /* the datapath up and polled, no listener for late_ms: a worker
         * between its start and its listen() (test/dpdk/mp.sh) */
        demi_qresult_t qr;
        struct sockaddr_in ta = sa;
        ta.sin_port = htons((uint16_t)(port + 1));
        if ((rc = demi_socket(&uqd, AF_INET, SOCK_DGRAM, 0)) || (rc = demi_bind(uqd, (struct sockaddr *)&ta, sizeof(ta))) ||
            (rc = demi_pop(&qt, uqd))) {
            fprintf(stderr, "echo server: %s\n", strerror(rc));
            return 1;
        }
        fprintf(stderr, "datapath up: listening in %d ms\n", late_ms);
        struct timespec to = { late_ms / 1000, (late_ms % 1000) * 1000000L };
        (void)demi_wait(&qr, qt, &to);
        demi_close(uqd);
    }
    if ((rc = demi_socket(&lqd, fam, SOCK_STREAM, 0)) || (rc = demi_bind(lqd, bsa, blen)) ||
        (rc = demi_listen(lqd, 256)) || (rc = demi_socket(&uqd, fam, SOCK_DGRAM, 0)) ||
        (rc = demi_bind(uqd, bsa, blen))) {
        fprintf(stderr, "echo server setup: %s\n", strerror(rc));
        return 1;
    }
    demi_accept(&qt, lqd), add(K_ACCEPT, lqd, qt);
    demi_pop(&qt, uqd), add(K_UDP, uqd, qt);
    fprintf(stderr, "echo server on %s:%d (tcp+udp)\n", addr, port);
    time_t last = time(NULL);
    for (;;) {
        demi_qresult_t qr;
        int off;
        struct timespec to = { 1, 0 };
        rc = demi_wait_any(&qr, &off, qts, n, &to);
        if (rc == ETIMEDOUT) {
            if (time(NULL) - last > idle)
                return 0;
            continue;
        }
        if (rc != 0) {
            fprintf(stderr, "demi_wait_any: %s\n", strerror(rc));
            return 1;
        }
        last = time(NULL);
        enum kind k = meta[off].kind;
        int qd = meta[off].qd;
        qts[off] = qts[n - 1];
        meta[off] = meta[n - 1];
        n--;
        int failed = qr.qr_opcode == DEMI_OPC_FAILED;
        demi_sgarray_t sga = qr.qr_value.sga;
        switch (k) {
        case K_ACCEPT:
            if (!failed) {
                pushes[slot(qr.qr_value.ares.qd)] = 0;
                parked[slot(qr.qr_value.ares.qd)] = 0;
                if (demi_pop(&qt, qr.qr_value.ares.qd) == 0)
                    add(K_TCP, qr.qr_value.ares.qd, qt);
            }
            if (demi_accept(&qt, lqd) == 0)
                add(K_ACCEPT, lqd, qt);
            break;
        case K_TCP:
            if (failed || sga.sga_numsegs == 0) {
                if (!failed)
                    demi_sgafree(&sga);
                demi_close(qd);
                break;
            }
            if (demi_push(&qt, qd, &sga) == 0) {
                add(K_PUSH, qd, qt);
                pushes[slot(qd)]++;
            }
            demi_sgafree(&sga);
            if (pushes[slot(qd)] >= MAX_PUSHES)
                parked[slot(qd)] = 1;
            else if (demi_pop(&qt, qd) == 0)
                add(K_TCP, qd, qt);
            break;
        case K_UDP:
            if (!failed) {
                struct sockaddr_in6 from = sga.sga_addr6; /* either family */
                socklen_t flen = from.sin6_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
                if (demi_pushto(&qt, qd, &sga, (struct sockaddr *)&from, flen) == 0)
                    add(K_PUSH, qd, qt);
                demi_sgafree(&sga);
            }
            if (demi_pop(&qt, qd) == 0)
                add(K_UDP, qd, qt);
            break;
        case K_PUSH:
            if (pushes[slot(qd)])
                pushes[slot(qd)]--;
            if (parked[slot(qd)] && pushes[slot(qd)] < MAX_PUSHES / 2) {
                parked[slot(qd)] = 0;
                if (demi_pop(&qt, qd) == 0)
                    add(K_TCP, qd, qt);
            }
            break;
        }
    }
}
