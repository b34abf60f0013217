/* SPDX-License-Identifier: MIT */
/*
 * bench_new_threads: a plain-sockets program (run it with and without the
 * preload) in which one thread ping-pongs 1 B with an echo server while N
 * new threads, one after the other, each make a connection of their own
 * and keep it, as a thread pool's workers do at their first request.
 * Prints how many round trips the pinging thread made meanwhile and their
 * latencies: under the preload each new thread makes its own datapath
 * instance, and the other threads' calls must not wait for that.
 *
 *   scripts/demi-run --backend uring -- build/bench/preload/bench_new_threads 40
 *
 * The echo server is this program again, exec'd without the preload (a
 * kernel peer on 127.0.0.1).
 */
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_NEW 256
#define MAX_LAT 1000000

static int port;
static volatile int stop, window, ndone;
static double lat[MAX_LAT];
static int nlat;

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

/* The echo server: one epoll loop, every connection echoed. */
static __attribute__((noreturn)) void serve(uint16_t p)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(p), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 512) < 0)
        die("echo server");
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd }, evs[64];
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    char buf[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 64, -1);
        for (int i = 0; i < n; i++) {
            int c = evs[i].data.fd;
            if (c == fd) {
                int a = accept(fd, NULL, NULL);
                struct epoll_event e = { .events = EPOLLIN, .data.fd = a };
                if (a >= 0)
                    epoll_ctl(ep, EPOLL_CTL_ADD, a, &e);
                continue;
            }
            ssize_t r = read(c, buf, sizeof(buf));
            if (r <= 0 || write(c, buf, (size_t)r) != r)
                close(c);
        }
    }
}

/* A connection to the echo server; the first one waits (3 s at most) for
 * the server to listen. */
static int dial(void)
{
    int s = -1, one = 1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    for (int tries = 0; s < 0 && tries < 300; tries++) {
        s = socket(AF_INET, SOCK_STREAM, 0);
        if (s >= 0 && connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
            close(s);
            s = -1;
            usleep(10000);
        }
    }
    if (s < 0)
        die("connect");
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return s;
}

static void *pinger(void *p)
{
    int s = *(int *)p;
    char c = 'x';
    while (!stop) {
        double t = now_us();
        if (write(s, &c, 1) != 1 || read(s, &c, 1) != 1)
            die("ping");
        if (window && nlat < MAX_LAT)
            lat[nlat++] = now_us() - t;
    }
    return NULL;
}

static void *newcomer(void *p)
{
    (void)p;
    int s = dial();
    char c = 'y';
    if (write(s, &c, 1) != 1 || read(s, &c, 1) != 1)
        die("newcomer");
    __atomic_add_fetch(&ndone, 1, __ATOMIC_SEQ_CST);
    while (!stop)
        usleep(1000);
    close(s);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "serve") == 0)
        serve((uint16_t)atoi(argv[2]));
    int n = argc > 1 ? atoi(argv[1]) : 40;
    if (n <= 0 || n > MAX_NEW) {
        fprintf(stderr, "usage: bench_new_threads [new threads, 1..%d]\n", MAX_NEW);
        return 2;
    }
    /* a free port for the server, which the child binds */
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof(a);
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || getsockname(l, (struct sockaddr *)&a, &al) < 0)
        die("bind");
    port = ntohs(a.sin_port);
    close(l);
    pid_t child = fork();
    if (child == 0) {
        unsetenv("LD_PRELOAD");
        char ps[16];
        snprintf(ps, sizeof(ps), "%d", port);
        execl("/proc/self/exe", argv[0], "serve", ps, (char *)NULL);
        die("exec");
    }
    int s = dial();
    pthread_t pt, ts[MAX_NEW];
    pthread_create(&pt, NULL, pinger, &s);
    usleep(200000);
    window = 1;
    double t0 = now_us();
    for (int i = 0; i < n; i++) {
        pthread_create(&ts[i], NULL, newcomer, NULL);
        while (ndone <= i)
            usleep(50);
    }
    double t1 = now_us();
    window = 0;
    usleep(100000);
    stop = 1;
    pthread_join(pt, NULL);
    for (int i = 0; i < n; i++)
        pthread_join(ts[i], NULL);
    kill(child, SIGTERM);
    waitpid(child, NULL, 0);
    if (nlat == 0) {
        printf("%d new threads in %.1f ms; no round trip meanwhile\n", n, (t1 - t0) / 1e3);
        return 0;
    }
    qsort(lat, (size_t)nlat, sizeof(double), cmp);
    printf("%d new threads in %.1f ms; %d round trips of another thread meanwhile: p50 %.0f us, p99 %.0f us, "
           "max %.0f us\n",
           n, (t1 - t0) / 1e3, nlat, lat[nlat / 2], lat[nlat * 99 / 100], lat[nlat - 1]);
    return 0;
}
