/* SPDX-License-Identifier: MIT */
/*
 * Differential: a memcached-style server. An acceptor thread accepts
 * (blocking accept()) and hands each connection to a worker thread over
 * that worker's pipe, round robin; each worker serves its connections from
 * its own epoll, non-blocking: workers 0 and 1 level-triggered (one read
 * per event), 2 and 3 edge-triggered (read until EAGAIN). Client threads
 * each hold their connections open at once and run request/response rounds
 * on them in turn, messages of 1 B to 16 KiB cut from the known stream.
 *
 * Asserts: every echoed byte equals what was sent (the first difference is
 * printed); each worker was handed and served exactly its share of the
 * connections and saw each one's end (EOF) on its own thread; no round
 * trip takes 3 s (a worker asleep in epoll_wait while another thread
 * dispatched its data, not woken: the shim's safety slice, 10 s in this
 * test (DEMI_WAKE_SLICE_MS), would end that sleep - loopback round trips
 * take well under 10 ms, and a loaded machine's scheduler adds far less
 * than 3 s);
 * nothing hangs (watchdog).
 */
#include <sys/epoll.h>
#include "diff_thread.h"

#define NWORKERS 4
#define NCLIENTS 8
#define NCONN 16          /* per client thread, open at once */
#define NROUNDS 10
#define MAXMSG 16384
#define TOTAL (NCLIENTS * NCONN)
#define SLOW_MS 3000

struct worker {
    int id;
    int pipe[2];
    bool et;
    int served, ended;    /* connections handed to it, EOFs it saw */
    int errors;
    pthread_t t;
};

static struct worker workers[NWORKERS];
static struct sockaddr_in la;
static int lfd;

/* Non-blocking socket: writes all of it, waiting for room when full. */
static int send_nb(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
        if (r < 0 && errno == EAGAIN) {
            if (!wait_for(fd, POLLOUT, 5000))
                return -1;
            continue;
        }
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* One readiness event of a connection. False: the connection ended. */
static bool serve(struct worker *w, int ep, int fd)
{
    static __thread char buf[65536];
    for (;;) {
        ssize_t r = recv(fd, buf, sizeof(buf), 0);
        if (r > 0) {
            if (send_nb(fd, buf, (size_t)r) < 0)
                __atomic_add_fetch(&w->errors, 1, __ATOMIC_RELAXED);
            if (!w->et)
                return true; /* level-triggered: the rest is reported again */
            continue;
        }
        if (r < 0 && errno == EAGAIN)
            return true;
        if (r < 0)
            __atomic_add_fetch(&w->errors, 1, __ATOMIC_RELAXED);
        epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
        close(fd);
        __atomic_add_fetch(&w->ended, 1, __ATOMIC_RELEASE);
        return false;
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = w->pipe[0] }, out[16];
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, w->pipe[0], &ev) < 0)
        die("worker epoll");
    for (;;) {
        int n = epoll_wait(ep, out, 16, -1);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            int fd = out[i].data.fd;
            if (fd != w->pipe[0]) {
                serve(w, ep, fd);
                continue;
            }
            int c;
            if (read(fd, &c, sizeof(c)) != sizeof(c) || c < 0) {
                close(ep);
                return NULL; /* told to stop */
            }
            fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK);
            struct epoll_event cev = { .events = EPOLLIN | (w->et ? EPOLLET : 0), .data.fd = c };
            if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev) < 0)
                __atomic_add_fetch(&w->errors, 1, __ATOMIC_RELAXED);
            __atomic_add_fetch(&w->served, 1, __ATOMIC_RELEASE);
        }
    }
}

static void *acceptor(void *arg)
{
    (void)arg;
    for (int k = 0; k < TOTAL;) {
        int c = accept(lfd, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            printf("accept: %s\n", ename(errno));
            return NULL;
        }
        if (write(workers[k % NWORKERS].pipe[1], &c, sizeof(c)) != sizeof(c))
            die("hand-over");
        k++;
    }
    return NULL;
}

struct client {
    int id;
    struct dt_trips t;
    long slow_trips;
};

static void *client_main(void *arg)
{
    struct client *cl = arg;
    int fds[NCONN];
    uint64_t pos[NCONN] = { 0 };
    uint32_t rnd = 77u + (uint32_t)cl->id;
    static __thread uint8_t out[MAXMSG], back[MAXMSG];
    for (int i = 0; i < NCONN; i++)
        fds[i] = connect_to(&la, 0);
    for (int round = 0; round < NROUNDS; round++) {
        for (int i = 0; i < NCONN; i++) {
            uint32_t sid = (uint32_t)(cl->id * NCONN + i);
            size_t len = 1 + dt_rand(&rnd) % MAXMSG;
            dt_fill(sid, pos[i], out, len);
            long got = -1;
            struct timespec t0;
            dt_now(&t0);
            if (dt_write_all(fds[i], out, len) == 0)
                got = read_full(fds[i], back, len);
            if (dt_ms_since(&t0) >= SLOW_MS)
                cl->slow_trips++;
            dt_trip_check(&cl->t, sid, round, pos[i], back, len, got);
            pos[i] += len;
        }
    }
    for (int i = 0; i < NCONN; i++)
        close(fds[i]);
    return NULL;
}

int main(void)
{
    dt_watchdog(25);
    lfd = dt_listener(&la, 0, 256);
    for (int i = 0; i < NWORKERS; i++) {
        workers[i].id = i;
        workers[i].et = i >= 2;
        if (pipe(workers[i].pipe) < 0)
            die("pipe");
        pthread_create(&workers[i].t, NULL, worker_main, &workers[i]);
    }
    pthread_t a;
    pthread_create(&a, NULL, acceptor, NULL);

    dt_set_phase("clients: connect and echo rounds");
    static struct client cl[NCLIENTS];
    pthread_t ct[NCLIENTS];
    for (int i = 0; i < NCLIENTS; i++) {
        cl[i].id = i;
        pthread_create(&ct[i], NULL, client_main, &cl[i]);
    }
    long ok = 0, bad = 0, slow = 0;
    for (int i = 0; i < NCLIENTS; i++) {
        pthread_join(ct[i], NULL);
        ok += cl[i].t.ok;
        bad += cl[i].t.bad;
        slow += cl[i].slow_trips;
        if (cl[i].t.bad)
            printf("client %d: %ld bad round trips, first: %s\n", i, cl[i].t.bad, cl[i].t.first_bad);
    }
    printf("%d connections x %d rounds: %ld round trips byte-exact, %ld not\n", TOTAL, NROUNDS, ok, bad);
    printf("round trips of %d ms or more (a lost wake-up): %ld\n", SLOW_MS, slow);

    dt_set_phase("acceptor: all connections accepted");
    pthread_join(a, NULL);
    dt_set_phase("workers: every connection's end seen");
    struct timespec t0;
    dt_now(&t0);
    for (int i = 0; i < NWORKERS; i++)
        while (__atomic_load_n(&workers[i].ended, __ATOMIC_ACQUIRE) < TOTAL / NWORKERS && dt_ms_since(&t0) < 5000)
            ms_sleep(5);
    for (int i = 0; i < NWORKERS; i++) {
        int stop = -1;
        if (write(workers[i].pipe[1], &stop, sizeof(stop)) != sizeof(stop))
            die("stop");
        pthread_join(workers[i].t, NULL);
        printf("worker %d (%s): handed %d connections, saw the end of %d, %d errors\n", i,
               workers[i].et ? "edge" : "level", workers[i].served, workers[i].ended, workers[i].errors);
    }
    close(lfd);
    return 0;
}
