/* SPDX-License-Identifier: MIT */
/* Differential: a blocking recv(MSG_WAITALL) larger than the receive
 * buffer fills as the bytes come, as Linux's does (ours waited for all of
 * them to be buffered first, which they never can be: a hang); and a
 * reset read through SO_ERROR is reported once, recv then reads the end
 * of the stream. */
#include "diff_thread.h"

#define BIG (3u << 20) /* three times DEMI_RCVBUF's default */

static int sender_fd;

static void *sender(void *arg)
{
    (void)arg;
    static uint8_t chunk[65536];
    for (uint64_t pos = 0; pos < BIG; pos += sizeof(chunk)) {
        dt_fill(1, pos, chunk, sizeof(chunk));
        if (dt_write_all(sender_fd, chunk, sizeof(chunk)) < 0)
            die("write");
    }
    return NULL;
}

int main(void)
{
    dt_watchdog(30);
    int l, c, s;
    tcp_conn(&l, &c, &s);
    struct sockaddr_in la;
    socklen_t lal = sizeof(la);
    getsockname(l, (struct sockaddr *)&la, &lal);

    dt_set_phase("waitall");
    sender_fd = c;
    pthread_t t;
    if (pthread_create(&t, NULL, sender, NULL) != 0)
        die("pthread_create");
    uint8_t *buf = malloc(BIG);
    if (!buf)
        die("malloc");
    SHOWV(recv(s, buf, BIG, MSG_WAITALL));
    pthread_join(t, NULL);
    printf("first byte not the stream's: %ld\n", dt_mismatch(1, 0, buf, BIG));
    free(buf);
    close(c), close(s);

    dt_set_phase("reset");
    c = connect_to(&la, 0);
    s = accept(l, NULL, NULL);
    struct linger lg = { 1, 0 };
    SHOW(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
    SHOW(close(s));
    ms_sleep(50);
    int e = -1;
    socklen_t el = sizeof(e);
    SHOW(getsockopt(c, SOL_SOCKET, SO_ERROR, &e, &el));
    printf("SO_ERROR %s\n", e ? ename(e) : "0");
    SHOW(getsockopt(c, SOL_SOCKET, SO_ERROR, &e, &el));
    printf("SO_ERROR again %s\n", e ? ename(e) : "0");
    char b[4];
    SHOWV(recv(c, b, sizeof(b), 0));
    close(c), close(l);
    return 0;
}
