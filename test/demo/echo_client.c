/* SPDX-License-Identifier: MIT */
/*
 * A TCP echo client against the Demikernel C API: sends N messages of SIZE
 * bytes, checks each echo byte for byte, prints the median round trip.
 * Usage: echo_client ADDR PORT [N] [SIZE]
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c99 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <demi/libos.h>
#include <demi/sga.h>
#include <demi/wait.h>

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

int main(int argc, char *const argv[])
{
    struct demi_args args;
    struct sockaddr_in addr;
    demi_qtoken_t qt;
    demi_qresult_t qr;
    int qd, rc, i, n, size;
    double *rtt;
    unsigned char *msg, *got;

    if (argc < 3) {
        fprintf(stderr, "usage: %s ADDR PORT [N] [SIZE]\n", argv[0]);
        return 2;
    }
    n = argc > 3 ? atoi(argv[3]) : 1000;
    size = argc > 4 ? atoi(argv[4]) : 64;
    if (n < 1 || size < 1)
        return 2;
    args.argc = argc;
    args.argv = argv;
    args.callback = NULL;
    if ((rc = demi_init(&args)) != 0) {
        fprintf(stderr, "demi_init: %s\n", strerror(rc));
        return 1;
    }
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)atoi(argv[2]));
    inet_pton(AF_INET, argv[1], &addr.sin_addr);
    if ((rc = demi_socket(&qd, AF_INET, SOCK_STREAM, 0)) != 0 ||
        (rc = demi_connect(&qt, qd, (const struct sockaddr *)&addr, sizeof(addr))) != 0 ||
        (rc = demi_wait(&qr, qt, NULL)) != 0 || qr.qr_opcode != DEMI_OPC_CONNECT) {
        fprintf(stderr, "connect failed: %s\n", strerror(rc ? rc : (int)qr.qr_ret));
        return 1;
    }
    rtt = malloc(sizeof(double) * (size_t)n);
    msg = malloc((size_t)size);
    got = malloc((size_t)size);
    for (i = 0; i < n; i++) {
        int have = 0, j;
        demi_sgarray_t sga = demi_sgaalloc((size_t)size);
        double t0 = now_us();
        for (j = 0; j < size; j++)
            msg[j] = (unsigned char)(i + j);
        memcpy(sga.sga_segs[0].sgaseg_buf, msg, (size_t)size);
        demi_push(&qt, qd, &sga);
        demi_sgafree(&sga);
        demi_wait(&qr, qt, NULL);
        while (have < size) {
            unsigned s;
            demi_pop(&qt, qd);
            if (demi_wait(&qr, qt, NULL) != 0 || qr.qr_opcode != DEMI_OPC_POP || qr.qr_value.sga.sga_numsegs == 0) {
                fprintf(stderr, "echo %d: connection lost\n", i);
                return 1;
            }
            for (s = 0; s < qr.qr_value.sga.sga_numsegs; s++) {
                unsigned len = qr.qr_value.sga.sga_segs[s].sgaseg_len;
                if (have + (int)len > size) {
                    fprintf(stderr, "echo %d: too many bytes\n", i);
                    return 1;
                }
                memcpy(got + have, qr.qr_value.sga.sga_segs[s].sgaseg_buf, len);
                have += (int)len;
            }
            demi_sgafree(&qr.qr_value.sga);
        }
        rtt[i] = now_us() - t0;
        if (memcmp(got, msg, (size_t)size) != 0) {
            fprintf(stderr, "echo %d: bytes differ\n", i);
            return 1;
        }
    }
    qsort(rtt, (size_t)n, sizeof(double), cmp);
    printf("%d echoes of %d bytes ok: rtt p50 %.1f us, p99 %.1f us\n", n, size, rtt[n / 2], rtt[(n * 99) / 100]);
    demi_close(qd);
    free(rtt);
    free(msg);
    free(got);
    return 0;
}
