/* SPDX-License-Identifier: MIT */
/* Differential: datagrams that reach a bound UDP socket before its first
 * use (its hand-over to the datapath) are all read first, in order, as on
 * Linux - not only the first 16 (the shim's receive ring) - and the ones
 * sent after them follow. */
#include "diff.h"

#define EARLY 100

int main(void)
{
    int r = socket(AF_INET, SOCK_DGRAM, 0), w = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t l = sizeof(a);
    if (r < 0 || w < 0 || bind(r, (struct sockaddr *)&a, sizeof(a)) < 0)
        die("setup");
    getsockname(r, (struct sockaddr *)&a, &l);
    for (int i = 0; i < EARLY; i++) {
        char m[16];
        int n = snprintf(m, sizeof(m), "%d", i);
        if (sendto(w, m, (size_t)n, 0, (struct sockaddr *)&a, sizeof(a)) != n)
            die("sendto");
    }
    ms_sleep(50);
    int got = 0, in_order = 1;
    char b[16];
    for (;;) {
        ssize_t n = recv(r, b, sizeof(b) - 1, MSG_DONTWAIT); /* the first use: the hand-over */
        if (n < 0)
            break;
        b[n] = 0;
        if (atoi(b) != got)
            in_order = 0;
        got++;
        if (got == EARLY / 2)
            SHOWV(sendto(w, "late", 4, 0, (struct sockaddr *)&a, sizeof(a)));
        if (got == EARLY)
            break;
    }
    printf("early datagrams read: %d, in order %d\n", got, in_order);
    struct pollfd p = { .fd = r, .events = POLLIN };
    SHOWV(poll(&p, 1, 2000));
    memset(b, 0, sizeof(b));
    SHOWV(recv(r, b, sizeof(b) - 1, 0));
    printf("then '%s'\n", b);
    SHOW(recv(r, b, sizeof(b), MSG_DONTWAIT));
    close(r), close(w);
    return 0;
}
