/* SPDX-License-Identifier: MIT */
/*
 * Differential: connections queued on a listener before its first
 * accept. Linux keeps every one its backlog holds, and accept returns
 * them all. Under the preload the first accept hands the listener over
 * to the datapath; what the kernel had queued by then must still be
 * accepted and served (the kernel serves those), none reset.
 *
 * Asserts: 64 clients connected and sent before the first accept; the
 * server accepts 64 and echoes each message; every client gets its own
 * message back.
 */
#include "diff_thread.h"

#define N 64

int main(void)
{
    dt_watchdog(30);
    dt_raise_nofile(4 * N + 64);
    struct sockaddr_in la;
    int lfd = listener(&la, 0); /* not handed over: the kernel queues */
    if (listen(lfd, 2 * N) < 0)
        die("listen");
    int c[N];
    char msg[16], back[16];
    struct timeval tv = { 5, 0 };
    dt_set_phase("connect and send before any accept");
    for (int i = 0; i < N; i++) {
        c[i] = connect_to(&la, 0);
        setsockopt(c[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        snprintf(msg, sizeof(msg), "client %03d", i);
        if (send(c[i], msg, 10, 0) != 10)
            die("send");
    }
    printf("%d clients connected and sent, nothing accepted yet\n", N);

    dt_set_phase("accept and echo");
    int accepted = 0, served = 0;
    for (int i = 0; i < N; i++) {
        int s = accept(lfd, NULL, NULL);
        if (s < 0)
            break;
        accepted++;
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (read_full(s, msg, 10) == 10 && send(s, msg, 10, 0) == 10)
            served++;
        close(s);
    }
    printf("accepted %d, echoed %d\n", accepted, served);

    dt_set_phase("clients read");
    int ok = 0, reset = 0;
    for (int i = 0; i < N; i++) {
        snprintf(msg, sizeof(msg), "client %03d", i);
        long r = read_full(c[i], back, 10);
        if (r == 10 && memcmp(back, msg, 10) == 0)
            ok++;
        else if (r < 0 && errno == ECONNRESET)
            reset++;
        close(c[i]);
    }
    printf("clients with their message back: %d, reset: %d, other: %d\n", ok, reset, N - ok - reset);
    close(lfd);
    return 0;
}
