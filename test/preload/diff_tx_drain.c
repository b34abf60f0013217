/* SPDX-License-Identifier: MIT */
/* Differential: a thread that sends more than the kernel's socket buffer
 * holds on a blocking socket, then joins the thread that reads it slowly:
 * every byte arrives. Linux's send returns once the bytes are in the
 * kernel; ours returned once they were in our buffer, and the rest waited
 * for a call into the datapath that the joining thread never made. */
#include "diff_thread.h"

#define TOTAL (4u << 20)

static int rfd;
static long rgot, rbad = -1;

static void *reader(void *arg)
{
    (void)arg;
    static uint8_t buf[65536];
    while (rgot < (long)TOTAL) {
        ms_sleep(1); /* slower than the sender */
        ssize_t n = read(rfd, buf, sizeof(buf));
        if (n <= 0)
            break;
        long bad = dt_mismatch(2, (uint64_t)rgot, buf, (size_t)n);
        if (bad >= 0 && rbad < 0)
            rbad = rgot + bad;
        rgot += n;
    }
    return NULL;
}

int main(void)
{
    dt_watchdog(40);
    int l, c, s;
    tcp_conn(&l, &c, &s);
    rfd = s;
    pthread_t t;
    dt_set_phase("send, then join the slow reader");
    if (pthread_create(&t, NULL, reader, NULL) != 0)
        die("pthread_create");
    uint8_t *buf = malloc(TOTAL);
    if (!buf)
        die("malloc");
    dt_fill(2, 0, buf, TOTAL);
    printf("sent all %d\n", dt_write_all(c, buf, TOTAL) == 0);
    pthread_join(t, NULL);
    printf("read %ld of %u, first wrong byte %ld\n", rgot, TOTAL, rbad);
    free(buf);
    close(c), close(s), close(l);
    return 0;
}
