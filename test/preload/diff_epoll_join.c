/* SPDX-License-Identifier: MIT */
/*
 * Differential: a socket of another thread joins an epoll set while a
 * thread waits in it. The worker waits on its own epoll, which holds only
 * the connection it made; the main thread accepts both ends, adds a
 * connection it made itself and writes to that one's other end, and once
 * the worker has read it, to the other end of the worker's own.
 *
 * Under the preload each thread's connection is in that thread's
 * datapath instance, and a wait on a set of the thread's own instance
 * only holds that instance's lock and drives only it: the wait must see
 * the set change and drive the main thread's instance too (shim.h,
 * Locking). A wait that missed it would time out (10 s) instead.
 *
 * Then a third thread makes a connection of its own and adds it while the
 * worker waits again, its set now in two instances: a wait on several
 * instances holds every lock and had fixed at its start which instances
 * it drives, so it slept through the third one's bytes (Apache's event
 * MPM: its listener's epoll_wait, 10 s long, as workers whose instances
 * were new added keep-alive connections; 1 start in ~20 stalled).
 *
 * Asserts: the worker's waits report the added connection with the main
 * thread's bytes, then its own connection with its bytes, then the third
 * thread's with its bytes, as on Linux.
 */
#include <pthread.h>
#include <sys/epoll.h>
#include "diff.h"

static struct sockaddr_in la;
static int ep, cw;
static int waiting, added_read, waiting3, third_read, third_done;
static char wlog[512]; /* the worker's lines, printed after it ends (in order) */
static size_t wlen;

static void *worker(void *arg)
{
    (void)arg;
    /* its own connection: made here, so in this thread's instance */
    ep = epoll_create1(0);
    cw = connect_to(&la, 0);
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = cw }, out[4];
    if (epoll_ctl(ep, EPOLL_CTL_ADD, cw, &ev) < 0)
        die("epoll_ctl");
    for (int got = 0; got < 3;) {
        __atomic_store_n(got < 2 ? &waiting : &waiting3, 1, __ATOMIC_RELEASE);
        int n = epoll_wait(ep, out, 4, 10000);
        if (n <= 0) {
            wlen += (size_t)snprintf(wlog + wlen, sizeof(wlog) - wlen, "worker: epoll_wait %s\n",
                                     n == 0 ? "timed out" : ename(errno));
            return NULL;
        }
        for (int i = 0; i < n; i++) {
            char buf[64];
            int fd = out[i].data.fd;
            ssize_t r = read(fd, buf, sizeof(buf));
            wlen += (size_t)snprintf(wlog + wlen, sizeof(wlog) - wlen, "worker: %s connection readable: %.*s\n",
                                     fd == cw ? "own" : "added", r > 0 ? (int)r : 0, buf);
            got++;
            if (fd != cw)
                __atomic_store_n(got < 3 ? &added_read : &third_read, 1, __ATOMIC_RELEASE);
        }
    }
    return NULL;
}

static int ch = -1;

/* The third thread: a connection of its own (so in its own instance),
 * added to the worker's set; it lives on until the worker has read it. */
static void *third(void *arg)
{
    (void)arg;
    ch = connect_to(&la, 0);
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = ch };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, ch, &ev) < 0)
        die("epoll_ctl (third)");
    __atomic_store_n(&third_done, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 12000 && !__atomic_load_n(&third_read, __ATOMIC_ACQUIRE); i++)
        ms_sleep(1);
    return NULL;
}

/* Waits up to 10 s for a flag the worker sets. */
static int flag_wait(int *flag)
{
    for (int i = 0; i < 10000 && !__atomic_load_n(flag, __ATOMIC_ACQUIRE); i++)
        ms_sleep(1);
    return __atomic_load_n(flag, __ATOMIC_ACQUIRE) != 0;
}

int main(void)
{
    int l = listener(&la, 0);
    wait_for(l, POLLIN, 0); /* the listener to the datapath first */
    pthread_t w;
    pthread_create(&w, NULL, worker, NULL);
    if (!flag_wait(&waiting))
        die("the worker never waited");
    int sw = accept(l, NULL, NULL);
    int cm = connect_to(&la, 0); /* this thread's: in its instance */
    int sm = accept(l, NULL, NULL);
    if (sw < 0 || sm < 0)
        die("accept");
    ms_sleep(50); /* most likely asleep in epoll_wait now (either way the output is the same) */
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = cm };
    long r1 = epoll_ctl(ep, EPOLL_CTL_ADD, cm, &ev);
    long r2 = write(sm, "main", 4);
    int read_first = flag_wait(&added_read);
    long r3 = write(sw, "own", 3);
    if (!flag_wait(&waiting3))
        die("the worker never waited a third time");
    ms_sleep(50); /* asleep again, most likely, on two instances */
    pthread_t t;
    pthread_create(&t, NULL, third, NULL);
    if (!flag_wait(&third_done))
        die("the third thread did not add its connection");
    int sh = accept(l, NULL, NULL);
    if (sh < 0)
        die("accept (third)");
    ms_sleep(20);
    long r4 = write(sh, "third", 5);
    pthread_join(t, NULL);
    pthread_join(w, NULL);
    show("epoll_ctl(ep, EPOLL_CTL_ADD, cm)", r1);
    show("write(sm, \"main\", 4)", r2);
    printf("the worker read the added connection first: %s\n", read_first ? "yes" : "no");
    show("write(sw, \"own\", 3)", r3);
    show("write(sh, \"third\", 5)", r4);
    fputs(wlog, stdout);
    close(cw);
    close(cm);
    close(sw);
    close(sm);
    close(ch);
    close(sh);
    close(ep);
    close(l);
    return 0;
}
