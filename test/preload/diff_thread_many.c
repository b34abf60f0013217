/* SPDX-License-Identifier: MIT */
/*
 * Differential: 32 client threads x 100 connections each, echoed by a
 * server of 4 threads in the same program, three of which start once the
 * clients' burst has begun (the listener's instance then changes threads
 * under load: a move of its ring lost an accept, 1 run in 20). Every
 * server thread has its own epoll holding the one non-blocking listener
 * (level-triggered: all wake, the ones that lose the race get EAGAIN) and
 * serves the connections it accepted itself. Each client thread opens its 100 connections, holds
 * them all open, runs two rounds of a message (1 B-2 KiB, its own stream
 * per connection) on each, and closes them.
 *
 * Asserts: every one of the 6400 round trips comes back byte-exact (the
 * first difference is printed); the server accepted exactly 3200
 * connections and saw each one end; no hang (watchdog).
 */
#include <sys/epoll.h>
#include "diff_thread.h"

#define NSERVERS 4
#define NCLIENTS 32
#define NCONN 100
#define NROUNDS 2
#define MAXMSG 2048
#define TOTAL (NCLIENTS * NCONN)
#define LATE_AFTER 8 /* servers 2-4 start after this client */

static struct sockaddr_in la;
static int lfd;
static int stop_pipe[2];
static int accepted, ended, srv_errors;

static void *server_main(void *arg)
{
    (void)arg;
    static __thread char buf[65536];
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfd }, out[64];
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
        die("server epoll");
    ev.data.fd = stop_pipe[0];
    epoll_ctl(ep, EPOLL_CTL_ADD, stop_pipe[0], &ev);
    for (;;) {
        int n = epoll_wait(ep, out, 64, -1);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            int fd = out[i].data.fd;
            if (fd == stop_pipe[0]) {
                close(ep);
                return NULL;
            }
            if (fd == lfd) {
                int c;
                while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    struct epoll_event cev = { .events = EPOLLIN, .data.fd = c };
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev) < 0)
                        __atomic_add_fetch(&srv_errors, 1, __ATOMIC_RELAXED);
                    __atomic_add_fetch(&accepted, 1, __ATOMIC_RELAXED);
                }
                if (errno != EAGAIN && errno != ECONNABORTED && errno != EINTR)
                    __atomic_add_fetch(&srv_errors, 1, __ATOMIC_RELAXED);
                continue;
            }
            ssize_t r = recv(fd, buf, sizeof(buf), 0);
            if (r > 0) {
                for (ssize_t off = 0; off < r;) {
                    ssize_t w = send(fd, buf + off, (size_t)(r - off), MSG_NOSIGNAL);
                    if (w < 0 && errno == EAGAIN && wait_for(fd, POLLOUT, 5000))
                        continue;
                    if (w <= 0) {
                        __atomic_add_fetch(&srv_errors, 1, __ATOMIC_RELAXED);
                        break;
                    }
                    off += w;
                }
            } else if (r == 0 || errno != EAGAIN) {
                if (r < 0)
                    __atomic_add_fetch(&srv_errors, 1, __ATOMIC_RELAXED);
                epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
                close(fd);
                __atomic_add_fetch(&ended, 1, __ATOMIC_RELEASE);
            }
        }
    }
}

struct client {
    int id;
    int connected;
    struct dt_trips t;
};

static void *client_main(void *arg)
{
    struct client *cl = arg;
    int fds[NCONN];
    uint64_t pos[NCONN] = { 0 };
    uint32_t rnd = 1u + (uint32_t)cl->id;
    uint8_t out[MAXMSG], back[MAXMSG];
    for (int i = 0; i < NCONN; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[i] >= 0 && connect(fds[i], (struct sockaddr *)&la, sizeof(la)) == 0) {
            cl->connected++;
        } else if (!cl->t.bad++) {
            snprintf(cl->t.first_bad, sizeof(cl->t.first_bad), "connection %d: connect: %s", i, ename(errno));
        }
    }
    for (int round = 0; round < NROUNDS; round++) {
        for (int i = 0; i < NCONN; i++) {
            uint32_t sid = (uint32_t)(cl->id * NCONN + i);
            size_t len = 1 + dt_rand(&rnd) % MAXMSG;
            dt_fill(sid, pos[i], out, len);
            long got = -1;
            if (dt_write_all(fds[i], out, len) == 0)
                got = read_full(fds[i], back, len);
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
    /* both ends of 3200 connections, and under the preload each has a
     * kernel socket in the backend besides its fd */
    if (dt_raise_nofile(65536) < 16384) {
        printf("the fd limit (ulimit -Hn) is below 16384: 32 x 100 connections do not fit\n");
        return 77;
    }
    lfd = dt_listener(&la, SOCK_NONBLOCK, 4096);
    if (pipe(stop_pipe) < 0)
        die("pipe");
    pthread_t st[NSERVERS];
    pthread_create(&st[0], NULL, server_main, NULL);

    dt_set_phase("32 clients x 100 connections");
    static struct client cl[NCLIENTS];
    pthread_t ct[NCLIENTS];
    for (int i = 0; i < NCLIENTS; i++) {
        cl[i].id = i;
        if (pthread_create(&ct[i], NULL, client_main, &cl[i]) != 0)
            die("pthread_create");
        if (i == LATE_AFTER) {
            /* the other servers join during the burst: the listener's
             * instance moves to another thread's ring, then to a shared
             * one, with hundreds of connections coming in */
            ms_sleep(50);
            for (int j = 1; j < NSERVERS; j++)
                pthread_create(&st[j], NULL, server_main, NULL);
        }
    }
    long ok = 0, bad = 0, connected = 0;
    for (int i = 0; i < NCLIENTS; i++) {
        pthread_join(ct[i], NULL);
        ok += cl[i].t.ok;
        bad += cl[i].t.bad;
        connected += cl[i].connected;
        if (cl[i].t.bad)
            printf("client %d: %ld failures, first: %s\n", i, cl[i].t.bad, cl[i].t.first_bad);
    }
    printf("%ld of %d connections made; %ld round trips byte-exact, %ld not\n", connected, TOTAL, ok, bad);

    dt_set_phase("server: every connection's end seen");
    struct timespec t0;
    dt_now(&t0);
    while (__atomic_load_n(&ended, __ATOMIC_ACQUIRE) < TOTAL && dt_ms_since(&t0) < 5000)
        ms_sleep(5);
    if (write(stop_pipe[1], "s", 1) != 1)
        die("stop");
    for (int i = 0; i < NSERVERS; i++)
        pthread_join(st[i], NULL);
    printf("server: accepted %d, saw the end of %d, %d errors\n", accepted, ended, srv_errors);
    close(lfd);
    return 0;
}
