/* SPDX-License-Identifier: MIT */
/*
 * Differential: a reader thread and a writer thread on one socket, at both
 * ends of a connection. The client's writer sends 8 MiB of the known
 * stream (random write sizes up to 64 KiB) while the client's reader takes
 * the echo; the server's reader puts what it receives into a ring that the
 * server's writer sends back from. So each socket has a send blocked on a
 * full window while a recv on the same socket sleeps for data, both ways
 * at once. Once the whole echo is back (or 10 s passed) the client shuts
 * its side down; the server's reader sees the end, its writer shuts down.
 *
 * Asserts: the server received exactly the 8 MiB (checksum), the echo is
 * byte-exact (first differing offset printed) with the same checksum,
 * both readers see the end of stream after exactly 8 MiB; no hang.
 *
 * (The shutdown waits for the echo so that no data is still queued in the
 * datapath when it comes: that case is diff_shutdown_queued's.)
 */
#include "diff_thread.h"

#define STREAM (8u << 20)
#define ID 3u
#define RING (256u << 10)

static int cli, srv;

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

#define FNV0 0xcbf29ce484222325ULL

/* ---- client ---- */
static uint64_t sent_sum = FNV0;
static uint64_t echoed;   /* echo bytes the client's reader has (atomic) */

static void *cli_writer(void *arg)
{
    (void)arg;
    static uint8_t buf[65536];
    uint32_t rnd = 11;
    for (uint64_t pos = 0; pos < STREAM;) {
        size_t n = 1 + dt_rand(&rnd) % sizeof(buf);
        if (n > STREAM - pos)
            n = STREAM - pos;
        dt_fill(ID, pos, buf, n);
        sent_sum = fnv(sent_sum, buf, n);
        if (dt_write_all(cli, buf, n) < 0) {
            printf("client writer: send failed at %llu: %s\n", (unsigned long long)pos, ename(errno));
            break;
        }
        pos += n;
    }
    struct timespec t0;
    dt_now(&t0);
    while (__atomic_load_n(&echoed, __ATOMIC_ACQUIRE) < STREAM && dt_ms_since(&t0) < 10000)
        ms_sleep(1);
    shutdown(cli, SHUT_WR);
    return NULL;
}

struct rx_result {
    uint64_t bytes, sum;
    long first_bad;       /* stream offset of the first wrong byte, -1 none */
    long last;            /* the last recv(): 0 end of stream */
    int err;
};

static struct rx_result echo;

static void *cli_reader(void *arg)
{
    (void)arg;
    static uint8_t buf[65536];
    uint32_t rnd = 12;
    echo.sum = FNV0;
    echo.first_bad = -1;
    for (;;) {
        size_t want = 1 + dt_rand(&rnd) % sizeof(buf);
        ssize_t n = recv(cli, buf, want, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            echo.last = n;
            echo.err = n < 0 ? errno : 0;
            break;
        }
        long bad = dt_mismatch(ID, echo.bytes, buf, (size_t)n);
        if (bad >= 0 && echo.first_bad < 0)
            echo.first_bad = (long)echo.bytes + bad;
        echo.sum = fnv(echo.sum, buf, (size_t)n);
        echo.bytes += (uint64_t)n;
        __atomic_store_n(&echoed, echo.bytes, __ATOMIC_RELEASE);
    }
    return NULL;
}

/* ---- server: its reader fills a ring its writer drains ---- */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t more, room;
    uint8_t buf[RING];
    size_t head, count;
    bool eof;
} ring = { .mu = PTHREAD_MUTEX_INITIALIZER, .more = PTHREAD_COND_INITIALIZER, .room = PTHREAD_COND_INITIALIZER };

static struct rx_result srv_in;

static void *srv_reader(void *arg)
{
    (void)arg;
    static uint8_t buf[65536];
    srv_in.sum = FNV0;
    srv_in.first_bad = -1;
    for (;;) {
        ssize_t n = recv(srv, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            srv_in.last = n;
            srv_in.err = n < 0 ? errno : 0;
            break;
        }
        srv_in.sum = fnv(srv_in.sum, buf, (size_t)n);
        srv_in.bytes += (uint64_t)n;
        for (size_t off = 0; off < (size_t)n;) {
            pthread_mutex_lock(&ring.mu);
            while (ring.count == RING)
                pthread_cond_wait(&ring.room, &ring.mu);
            size_t tail = (ring.head + ring.count) % RING;
            size_t k = RING - ring.count;
            if (k > RING - tail)
                k = RING - tail;
            if (k > (size_t)n - off)
                k = (size_t)n - off;
            memcpy(ring.buf + tail, buf + off, k);
            ring.count += k;
            off += k;
            pthread_cond_signal(&ring.more);
            pthread_mutex_unlock(&ring.mu);
        }
    }
    pthread_mutex_lock(&ring.mu);
    ring.eof = true;
    pthread_cond_signal(&ring.more);
    pthread_mutex_unlock(&ring.mu);
    return NULL;
}

static void *srv_writer(void *arg)
{
    (void)arg;
    static uint8_t buf[65536];
    for (;;) {
        pthread_mutex_lock(&ring.mu);
        while (ring.count == 0 && !ring.eof)
            pthread_cond_wait(&ring.more, &ring.mu);
        if (ring.count == 0) {
            pthread_mutex_unlock(&ring.mu);
            break;
        }
        size_t k = ring.count < sizeof(buf) ? ring.count : sizeof(buf);
        if (k > RING - ring.head)
            k = RING - ring.head;
        memcpy(buf, ring.buf + ring.head, k);
        ring.head = (ring.head + k) % RING;
        ring.count -= k;
        pthread_cond_signal(&ring.room);
        pthread_mutex_unlock(&ring.mu);
        if (dt_write_all(srv, buf, k) < 0) {
            printf("server writer: send failed: %s\n", ename(errno));
            break;
        }
    }
    shutdown(srv, SHUT_WR);
    return NULL;
}

static const char *last_str(const struct rx_result *r)
{
    return r->last == 0 ? "0 (end of stream)" : ename(r->err);
}

int main(void)
{
    dt_watchdog(25);
    int lfd = dt_pair(&cli, &srv);

    dt_set_phase("8 MiB each way, a reader and a writer on each socket");
    pthread_t t[4];
    pthread_create(&t[0], NULL, srv_reader, NULL);
    pthread_create(&t[1], NULL, srv_writer, NULL);
    pthread_create(&t[2], NULL, cli_reader, NULL);
    pthread_create(&t[3], NULL, cli_writer, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);

    printf("client sent %u bytes\n", STREAM);
    printf("server received %llu bytes, checksum %s, last recv -> %s\n", (unsigned long long)srv_in.bytes,
           srv_in.sum == sent_sum ? "equal" : "DIFFERENT", last_str(&srv_in));
    printf("client received %llu bytes of echo, checksum %s, last recv -> %s\n", (unsigned long long)echo.bytes,
           echo.sum == sent_sum ? "equal" : "DIFFERENT", last_str(&echo));
    if (echo.first_bad >= 0)
        printf("echo: first wrong byte at offset %ld\n", echo.first_bad);
    else
        printf("echo: every byte as sent\n");
    close(cli);
    close(srv);
    close(lfd);
    return 0;
}
