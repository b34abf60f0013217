/* SPDX-License-Identifier: MIT */
/*
 * The reference: Linux kernel TCP over loopback with the same message
 * pattern as demi_tcp_pingpong (S-byte messages, one outstanding, N round
 * trips after a warm-up). Blocking sockets with TCP_NODELAY, the way an
 * ordinary application would do it.
 *
 *   kernel_tcp_pingpong server -p PORT
 *   kernel_tcp_pingpong client -a ADDR -p PORT -n N -s S
 * Output: "RESULT kernel_tcp rtt_ns p50=.. p99=.. p999=.. n=.. size=..".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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

static int full(int fd, char *buf, size_t len, int rd)
{
    size_t done = 0;
    while (done < len) {
        ssize_t r = rd ? read(fd, buf + done, len - done) : write(fd, buf + done, len - done);
        if (r <= 0) {
            if (r < 0 && errno == EINTR)
                continue;
            return -1;
        }
        done += (size_t)r;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1";
    int port = 7778, opt, one = 1;
    long n = 100000, warm = 1000;
    size_t size = 64;
    if (argc < 2 || (strcmp(argv[1], "server") && strcmp(argv[1], "client"))) {
        fprintf(stderr, "usage: %s server|client [-a addr] [-p port] [-n rtts] [-s size]\n", argv[0]);
        return 2;
    }
    int server = !strcmp(argv[1], "server");
    optind = 2;
    while ((opt = getopt(argc, argv, "a:p:n:s:")) != -1) {
        switch (opt) {
        case 'a': addr = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'n': n = atol(optarg); break;
        case 's': size = (size_t)atol(optarg); break;
        default: return 2;
        }
    }
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, addr, &sa.sin_addr);
    char *buf = calloc(1, size);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (server) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
            perror("bind/listen");
            return 1;
        }
        int c = accept(fd, NULL, NULL);
        if (c < 0)
            return 1;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        while (full(c, buf, size, 1) == 0 && full(c, buf, size, 0) == 0)
            ;
        close(c);
        close(fd);
        return 0;
    }
    int64_t t_end = now_ns() + 10000000000ll;
    while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (now_ns() > t_end) {
            perror("connect");
            return 1;
        }
        close(fd);
        fd = socket(AF_INET, SOCK_STREAM, 0);
        usleep(50000);
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int64_t *rtt = calloc((size_t)n, sizeof(*rtt));
    for (long i = -warm; i < n; i++) {
        int64_t t0 = now_ns();
        if (full(fd, buf, size, 0) || full(fd, buf, size, 1)) {
            fprintf(stderr, "connection lost\n");
            return 1;
        }
        if (i >= 0)
            rtt[i] = now_ns() - t0;
    }
    qsort(rtt, (size_t)n, sizeof(*rtt), cmp64);
    printf("RESULT kernel_tcp rtt_ns p50=%lld p99=%lld p999=%lld n=%ld size=%zu\n", (long long)rtt[n / 2],
           (long long)rtt[(size_t)(n * 0.99)], (long long)rtt[(size_t)(n * 0.999)], n, size);
    close(fd);
    return 0;
}
