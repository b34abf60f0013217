/* SPDX-License-Identifier: MIT */
/*
 * A TCP echo server written against the Demikernel C API, as an application
 * would write it: it builds with -std=c99 -Wall -Wextra -Werror against
 * <demi/libos.h>, <demi/sga.h>, <demi/wait.h> and nothing of ours.
 * Usage: echo_server ADDR PORT [MAX_CONNECTIONS]
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <demi/libos.h>
#include <demi/sga.h>
#include <demi/wait.h>

#define MAX_TOKENS 1024

int main(int argc, char *const argv[])
{
    struct demi_args args;
    struct sockaddr_in addr;
    demi_qtoken_t qts[MAX_TOKENS];
    int nqts = 0, lqd, served = 0, max_conns, rc;

    if (argc < 3) {
        fprintf(stderr, "usage: %s ADDR PORT [MAX_CONNECTIONS]\n", argv[0]);
        return 2;
    }
    max_conns = argc > 3 ? atoi(argv[3]) : 1;
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
    if ((rc = demi_socket(&lqd, AF_INET, SOCK_STREAM, 0)) != 0 ||
        (rc = demi_bind(lqd, (const struct sockaddr *)&addr, sizeof(addr))) != 0 ||
        (rc = demi_listen(lqd, 16)) != 0 || (rc = demi_accept(&qts[nqts++], lqd)) != 0) {
        fprintf(stderr, "listen: %s\n", strerror(rc));
        return 1;
    }
    printf("listening on %s:%s\n", argv[1], argv[2]);
    fflush(stdout);

    while (nqts > 0) {
        demi_qresult_t qr;
        int off;
        if ((rc = demi_wait_any(&qr, &off, qts, nqts, NULL)) != 0) {
            fprintf(stderr, "demi_wait_any: %s\n", strerror(rc));
            return 1;
        }
        qts[off] = qts[--nqts];
        switch (qr.qr_opcode) {
        case DEMI_OPC_ACCEPT:
            demi_pop(&qts[nqts++], qr.qr_value.ares.qd);
            if (++served < max_conns)
                demi_accept(&qts[nqts++], lqd);
            break;
        case DEMI_OPC_POP:
            if (qr.qr_value.sga.sga_numsegs == 0) { /* peer closed */
                demi_close(qr.qr_qd);
                break;
            }
            demi_push(&qts[nqts++], qr.qr_qd, &qr.qr_value.sga); /* echo, zero copy */
            demi_sgafree(&qr.qr_value.sga);
            demi_pop(&qts[nqts++], qr.qr_qd);
            break;
        case DEMI_OPC_PUSH:
            break;
        case DEMI_OPC_FAILED:
            if (qr.qr_qd != lqd)
                demi_close(qr.qr_qd);
            break;
        default:
            break;
        }
    }
    demi_close(lqd);
    printf("served %d connections\n", served);
    return 0;
}
