/* SPDX-License-Identifier: MIT */
/*
 * Differential: shutdown(SHUT_WR) right after writes that the peer has not
 * read yet. Linux sends everything write() accepted, then the FIN; the
 * peer reads every byte, then 0. The sender writes (non-blocking) until
 * the send side is full - in the preload that is data still queued in
 * the datapath, not yet in any kernel socket - and shuts down at once;
 * only then does the peer start reading.
 *
 * Asserts: the peer reads exactly the bytes write() accepted, in order,
 * then 0 (end of stream).
 */
#include "diff_thread.h"

#define MAX (64u << 20)
#define ID 9u

int main(void)
{
    dt_watchdog(25);
    struct sockaddr_in la;
    int lfd = dt_listener(&la, 0, 16);
    int c = connect_to(&la, 0);
    int s = accept(lfd, NULL, NULL);
    if (s < 0)
        die("accept");
    uint8_t *buf = malloc(MAX);
    if (!buf)
        die("malloc");
    dt_fill(ID, 0, buf, MAX);

    dt_set_phase("write until the send side is full");
    fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK);
    size_t sent = 0;
    while (sent < MAX) {
        ssize_t r = send(c, buf + sent, MAX - sent < 65536 ? MAX - sent : 65536, MSG_NOSIGNAL);
        if (r < 0 && errno == EAGAIN) {
            /* full for now; once more after the datapath had a moment */
            ms_sleep(20);
            r = send(c, buf + sent, 65536, MSG_NOSIGNAL);
            if (r < 0 && errno == EAGAIN)
                break;
        }
        if (r <= 0)
            die("send");
        sent += (size_t)r;
    }
    printf("writes until the send side was full: %s\n", sent < MAX ? "done" : "never full");
    SHOW(shutdown(c, SHUT_WR));

    dt_set_phase("the peer reads");
    size_t got = 0;
    long bad = -1, last;
    static uint8_t in[65536];
    for (;;) {
        last = recv(s, in, sizeof(in), 0);
        if (last <= 0)
            break;
        long k = dt_mismatch(ID, got, in, (size_t)last);
        if (k >= 0 && bad < 0)
            bad = (long)got + k;
        got += (size_t)last;
    }
    printf("the peer read %s the bytes written%s, then recv -> %s\n",
           got == sent ? "all" : got < sent ? "FEWER than" : "MORE than", bad < 0 ? " in order" : " (WRONG bytes)",
           last == 0 ? "0" : ename(errno));
    if (got != sent)
        printf("  written %zu, read %zu: %zu missing\n", sent, got, sent - got);
    close(c);
    close(s);
    close(lfd);
    free(buf);
    return 0;
}
