/* SPDX-License-Identifier: MIT */
/*
 * Differential: the memcached pattern. The main thread accepts in its own
 * epoll and hands each connection to a worker thread (round robin, over a
 * pipe); each worker serves its connections from its own epoll. The first
 * connection goes to worker 0 and closes at once (a readiness probe); the
 * second, served by worker 1, echoes 300 messages.
 *
 * The wake-up a worker sleeps for may be found by another thread (whoever
 * drove the datapath dispatches the data to the socket): that thread must
 * wake it. A wake-up lost there is covered by the shim's safety slice
 * (10 s in this test: DEMI_WAKE_SLICE_MS), so the output checks each round
 * trip's time against a bound (3 s) that a lost wake-up exceeds and a found
 * one never comes near, even on a loaded machine (loopback).
 */
#include <pthread.h>
#include <sys/epoll.h>
#include "diff.h"

#define NWORKERS 2
#define NMSG 300
#define SLOW_MS 3000

static int pipes[NWORKERS][2];

static void *worker(void *arg)
{
    int id = (int)(long)arg;
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = pipes[id][0] }, out[8];
    epoll_ctl(ep, EPOLL_CTL_ADD, pipes[id][0], &ev);
    for (;;) {
        int n = epoll_wait(ep, out, 8, -1);
        for (int i = 0; i < n; i++) {
            int fd = out[i].data.fd;
            if (fd == pipes[id][0]) {
                int c;
                if (read(fd, &c, sizeof(c)) != sizeof(c) || c < 0) {
                    close(ep);
                    return NULL; /* told to stop */
                }
                struct epoll_event cev = { .events = EPOLLIN, .data.fd = c };
                epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                continue;
            }
            char buf[256];
            ssize_t r = read(fd, buf, sizeof(buf));
            if (r <= 0) {
                epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
                close(fd);
            } else if (write(fd, buf, (size_t)r) != r) {
                printf("worker %d: short write\n", id);
            }
        }
    }
}

static struct sockaddr_in la;
static int lfd;

static void *acceptor(void *arg)
{
    (void)arg;
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfd }, out;
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    for (int next = 0; next < 2;) {
        if (epoll_wait(ep, &out, 1, -1) != 1)
            continue;
        int c = accept(lfd, NULL, NULL);
        if (c < 0)
            continue;
        if (write(pipes[next % NWORKERS][1], &c, sizeof(c)) != sizeof(c))
            printf("hand-over failed\n");
        next++;
    }
    close(ep);
    return NULL;
}

static long ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

int main(void)
{
    lfd = listener(&la, 0);
    /* the listener goes to the datapath now (a poll is a data-path use): a
     * connection that reached the kernel's listener before the acceptor's
     * first call would be served by the kernel, not the datapath */
    wait_for(lfd, POLLIN, 0);
    pthread_t w[NWORKERS], a;
    for (long i = 0; i < NWORKERS; i++) {
        if (pipe(pipes[i]) < 0)
            die("pipe");
        pthread_create(&w[i], NULL, worker, (void *)i);
    }
    pthread_create(&a, NULL, acceptor, NULL);

    close(connect_to(&la, 0)); /* the probe: worker 0 */
    int c = connect_to(&la, 0); /* worker 1 */
    int ok = 0, slow = 0;
    for (int i = 0; i < NMSG; i++) {
        char msg[32], back[32];
        int n = snprintf(msg, sizeof(msg), "m%d;", i);
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (write(c, msg, (size_t)n) != n || read_full(c, back, (size_t)n) != n || memcmp(msg, back, (size_t)n))
            break;
        if (ms_since(&t0) > SLOW_MS)
            slow++;
        ok++;
    }
    printf("echoed %d of %d messages through worker 1\n", ok, NMSG);
    printf("round trips over %d ms (a lost wake-up): %d\n", SLOW_MS, slow);
    close(c);
    pthread_join(a, NULL);
    for (int i = 0; i < NWORKERS; i++) {
        int stop = -1;
        if (write(pipes[i][1], &stop, sizeof(stop)) != sizeof(stop))
            die("stop");
        pthread_join(w[i], NULL);
    }
    close(lfd);
    return 0;
}
