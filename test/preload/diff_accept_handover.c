/* SPDX-License-Identifier: MIT */
/*
 * Differential: connections made while a listener is handed over. Under
 * the preload a listener is the kernel's until its first data-path use
 * (accept, poll, epoll_ctl); then the datapath's own listener takes the
 * port and the kernel's stops listening. Clients that connect in that
 * moment - their SYN taken by the kernel's listener just before it
 * stopped, or their handshake half done there - must not be reset or
 * left hanging: on Linux every connect to a listener with room in its
 * backlog is accepted.
 *
 * Each round: a fresh listener (backlog 512); client threads connect in a
 * tight loop, 32 connections each; once the first connect completed, the
 * server makes its first use of the listener - accept(), poll() or
 * epoll_ctl(), by round - and accepts every connection, sending a byte on
 * each; each client reads that byte and answers one, which the server
 * reads. Some rounds the listener has SO_REUSEPORT, and some have two
 * listeners on the port with SO_REUSEPORT (the application's own group:
 * the kernel spreads the connections over both). The clients are plain
 * kernel sockets (raw system calls, unseen by the preload): the server
 * alone is under test, as deployed.
 *
 * Prints the totals; a round that loses a connection prints what it saw
 * (accepted, answered, reset, refused, timed out) and ends the program.
 */
#include <linux/filter.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include "diff_thread.h"

/* 40 rounds in the sanitized build of scripts/test.sh, which has run the
 * 120 over the same code already; rounds 19 and 39 still have two
 * listeners */
#define ROUNDS 120
#define ROUNDS_SANITIZED 40
#define THREADS 8
#define PER_THREAD 32
#define N (THREADS * PER_THREAD)

static struct sockaddr_in addr;
static atomic_int go, connected;

struct client {
    pthread_t t;
    int fds[PER_THREAD];
    int answered, reset, refused, timed_out, other;
};

/* Connects PER_THREAD times as fast as it can, then reads each greeting
 * and answers it. */
static void *client_main(void *arg)
{
    struct client *c = arg;
    struct timeval tv = { 5, 0 };
    while (!atomic_load(&go))
        ;
    for (int i = 0; i < PER_THREAD; i++) {
        int fd = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        c->fds[i] = fd;
        if (fd < 0) {
            c->other++;
            continue;
        }
        syscall(SYS_setsockopt, fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (syscall(SYS_connect, fd, &addr, sizeof(addr)) < 0) {
            if (errno == ECONNREFUSED)
                c->refused++;
            else
                c->other++;
            syscall(SYS_close, fd);
            c->fds[i] = -1;
            continue;
        }
        atomic_fetch_add(&connected, 1);
    }
    for (int i = 0; i < PER_THREAD; i++) {
        int fd = c->fds[i];
        if (fd < 0)
            continue;
        char b = 0;
        long r = syscall(SYS_read, fd, &b, 1);
        if (r == 1 && b == 'S' && syscall(SYS_write, fd, "C", 1) == 1)
            c->answered++;
        else if (r < 0 && (errno == ECONNRESET || errno == EPIPE))
            c->reset++;
        else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            c->timed_out++;
        else
            c->other++;
    }
    return NULL;
}

static const char *const use_name[] = { "accept", "poll", "epoll_ctl" };
static const char *const group_name[] = { "one listener", "one with SO_REUSEPORT", "two with SO_REUSEPORT" };

/* The round's listeners on one port, not handed over yet: one (group 0,
 * 1: with SO_REUSEPORT) or two with SO_REUSEPORT, non-blocking (group 2). */
static int make_listeners(int group, int *l)
{
    int one = 1, n = group == 2 ? 2 : 1;
    addr = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    for (int i = 0; i < n; i++) {
        l[i] = socket(AF_INET, SOCK_STREAM | (n > 1 ? SOCK_NONBLOCK : 0), 0);
        if (l[i] < 0)
            die("socket");
        if (group > 0)
            setsockopt(l[i], SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
        if (bind(l[i], (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(l[i], 512) < 0)
            die("bind/listen");
        socklen_t al = sizeof(addr);
        getsockname(l[i], (struct sockaddr *)&addr, &al);
    }
    return n;
}

/* The listeners' first data-path use, then every connection accepted
 * (each gets its greeting at once); returns how many. */
static int accept_all(const int *l, int nl, int use, int *srv)
{
    int n = 0, ep = -1;
    if (use == 0) {
        /* one is queued (on one of two: the other says EAGAIN) */
        for (int i = 0; i < nl; i++) {
            int s = accept(l[i], NULL, NULL);
            if (s >= 0)
                srv[n++] = s;
            else if (nl == 1 || errno != EAGAIN)
                die("first accept");
        }
    } else if (use == 1) {
        struct pollfd p[2] = { { .fd = l[0], .events = POLLIN }, { .fd = l[nl - 1], .events = POLLIN } };
        poll(p, (nfds_t)nl, 0);
    } else {
        ep = epoll_create1(EPOLL_CLOEXEC);
        for (int i = 0; i < nl; i++) {
            struct epoll_event ev = { .events = EPOLLIN, .data.fd = l[i] };
            if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, l[i], &ev) < 0)
                die("epoll_ctl");
        }
    }
    for (int i = 0; i < n; i++)
        if (send(srv[i], "S", 1, MSG_NOSIGNAL) != 1)
            die("send");
    while (n < N) {
        /* a lost connection shows as nothing more to accept */
        struct pollfd p[2] = { { .fd = l[0], .events = POLLIN }, { .fd = l[nl - 1], .events = POLLIN } };
        if (ep >= 0) {
            struct epoll_event ev[2];
            int k = epoll_wait(ep, ev, 2, 3000);
            if (k <= 0)
                break;
            for (int i = 0; i < nl; i++)
                for (int j = 0; j < k; j++)
                    if (ev[j].data.fd == l[i])
                        p[i].revents = POLLIN;
        } else if (poll(p, (nfds_t)nl, 3000) <= 0) {
            break;
        }
        for (int i = 0; i < nl; i++) {
            if (!(p[i].revents & POLLIN))
                continue;
            int s;
            while (n < N && (s = accept(l[i], NULL, NULL)) >= 0) {
                if (send(s, "S", 1, MSG_NOSIGNAL) != 1)
                    die("send");
                srv[n++] = s;
                if (nl == 1)
                    break; /* (a blocking listener: wait again first) */
            }
            if (nl > 1 && n < N && errno != EAGAIN)
                die("accept");
        }
    }
    if (ep >= 0)
        close(ep);
    return n;
}

/* Two listeners on a port: during the hand-over the preload keeps new
 * connections from the kernel's listener with a socket filter, which some
 * kernels refuse to an unprivileged process (shim/README.md: such a
 * connection may then be reset); there, those rounds have one. */
static bool tcp_filter_allowed(void)
{
    struct sock_filter all[] = { { BPF_RET | BPF_K, 0, 0, 0xffffffff } };
    struct sock_fprog prog = { .len = 1, .filter = all };
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool ok = fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

int main(void)
{
    dt_watchdog(240);
    dt_raise_nofile(4 * N + 64);
    static struct client cl[THREADS];
    static int srv[N];
    struct timespec t0;
    dt_now(&t0);
    bool pairs = tcp_filter_allowed();
    int rounds = getenv("DEMI_TEST_SANITIZED") ? ROUNDS_SANITIZED : ROUNDS;
    if (!pairs)
        fprintf(stderr, "no TCP socket filter for this process here: no rounds with two listeners\n");
    for (int round = 0; round < rounds; round++) {
        /* two listeners: a SYN of the moment may wait for its second try
         * (a second) under the preload, so fewer of those rounds */
        int use = round % 3, group = round % 20 == 19 ? (pairs ? 2 : 1) : round % 4 == 1 ? 1 : 0;
        int l[2];
        int nl = make_listeners(group, l);
        atomic_store(&go, 0);
        atomic_store(&connected, 0);
        memset(cl, 0, sizeof(cl));
        for (int i = 0; i < THREADS; i++)
            if (pthread_create(&cl[i].t, NULL, client_main, &cl[i]) != 0)
                die("pthread_create");
        dt_set_phase("clients connect while the listener is handed over");
        atomic_store(&go, 1);
        while (atomic_load(&connected) == 0)
            ;
        int accepted = accept_all(l, nl, use, srv);

        dt_set_phase("the server reads every answer");
        int answers = 0;
        struct timeval tv = { 5, 0 };
        for (int i = 0; i < accepted; i++) {
            char b = 0;
            setsockopt(srv[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
            if (read(srv[i], &b, 1) == 1 && b == 'C')
                answers++;
        }
        dt_set_phase("the clients end");
        struct client sum = { 0 };
        for (int i = 0; i < THREADS; i++) {
            if (!dt_join_within(cl[i].t, 30000, NULL)) {
                printf("round %d: a client thread hangs\n", round);
                exit(1);
            }
            sum.answered += cl[i].answered;
            sum.reset += cl[i].reset;
            sum.refused += cl[i].refused;
            sum.timed_out += cl[i].timed_out;
            sum.other += cl[i].other;
            for (int j = 0; j < PER_THREAD; j++)
                if (cl[i].fds[j] >= 0)
                    syscall(SYS_close, cl[i].fds[j]);
        }
        for (int i = 0; i < accepted; i++)
            close(srv[i]);
        for (int i = 0; i < nl; i++)
            close(l[i]);
        if (accepted != N || answers != N || sum.answered != N) {
            printf("round %d (%s, first use: %s): accepted %d of %d, answers read %d; clients: %d answered, "
                   "%d reset, %d refused, %d timed out, %d other\n",
                   round, group_name[group], use_name[use], accepted, N, answers, sum.answered, sum.reset,
                   sum.refused, sum.timed_out, sum.other);
            return 1;
        }
    }
    printf("%d rounds: first use of the listener by accept, poll or epoll_ctl while %d threads connect\n", rounds,
           THREADS);
    printf("every one of %d connections a round accepted, a byte each way\n", N);
    fprintf(stderr, "%d rounds in %ld ms\n", rounds, dt_ms_since(&t0));
    return 0;
}
