/* SPDX-License-Identifier: MIT */
/*
 * bench_epoll_idle: a plain-sockets program (run it with and without the
 * preload) that ping-pongs 64 B on one connection while N idle connections
 * sit in the same epoll set, as a server with many keep-alive clients has.
 * Prints the mean round trip: it should not grow with N.
 *
 *   build/bench/preload/bench_epoll_idle 4000
 *   scripts/demi-run --backend uring -- build/bench/preload/bench_epoll_idle 4000
 *
 * Each connection is two sockets of this process: N = 4000 needs 8000 fds.
 */
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1000, iters = argc > 2 ? atoi(argv[2]) : 20000;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (n < 0 || iters <= 0 || (rlim_t)(2 * n + 16) > rl.rlim_cur) {
        fprintf(stderr, "usage: bench_epoll_idle [idle (2 fds each; limit %llu fds)] [iters]\n",
                (unsigned long long)rl.rlim_cur);
        return 2;
    }
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof(a);
    if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 4096) < 0 ||
        getsockname(l, (struct sockaddr *)&a, &al) < 0) {
        perror("listener");
        return 1;
    }
    int ep = epoll_create1(0);
    int *c = malloc(sizeof(int) * (size_t)(n + 1)), *s = malloc(sizeof(int) * (size_t)(n + 1));
    for (int i = 0; i <= n; i++) {
        c[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(c[i], (struct sockaddr *)&a, sizeof(a)) < 0 || (s[i] = accept(l, NULL, NULL)) < 0) {
            perror("connect/accept");
            return 1;
        }
        struct epoll_event e = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
        epoll_ctl(ep, EPOLL_CTL_ADD, s[i], &e);
    }
    int one = 1;
    setsockopt(c[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(s[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    char b[64] = { 0 };
    struct epoll_event ev[64];
    long long t0 = 0;
    for (int it = -iters / 10; it < iters; it++) {
        if (it == 0)
            t0 = now_ns();
        if (write(c[0], b, sizeof(b)) != (ssize_t)sizeof(b))
            return 1;
        for (int got = 0; !got;) {
            int k = epoll_wait(ep, ev, 64, -1);
            for (int j = 0; j < k; j++)
                got |= ev[j].data.u32 == 0;
        }
        if (read(s[0], b, sizeof(b)) <= 0 || write(s[0], b, sizeof(b)) != (ssize_t)sizeof(b) ||
            read(c[0], b, sizeof(b)) <= 0)
            return 1;
    }
    printf("%d idle connections in the set: %.2f us per round trip (mean of %d)\n", n,
           (double)(now_ns() - t0) / 1000.0 / iters, iters);
    return 0;
}
