/* SPDX-License-Identifier: MIT */
/*
 * Differential: a listener shared by processes, which one of them closes
 * while clients connect. On Linux the processes that inherited a
 * listening socket through fork hold one socket: a process that closes
 * its copy, or exits, loses no connection (nginx's old workers at a
 * reload). Under the preload it stays the kernel's one listener
 * (shim/listen_shared.c): a per-process listener would reset what was
 * queued on it.
 *
 * Each round: a listener (backlog 512), not used before the fork; the
 * parent accepts with two threads (one in a blocking accept, one waiting
 * in epoll_wait first), the child with one (epoll_wait first); each
 * connection sends a byte and gets it back. The child stops after 48
 * connections and exits (closing its copy) while the parent's client
 * threads (raw system calls, unseen by the preload) still connect: 4
 * threads, 64 connections each. Then "stop" connections end the
 * accepting threads that are left. Prints each round's totals.
 */
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include "diff_thread.h"

#define ROUNDS 10
#define CLIENTS 4
#define PER_CLIENT 64
#define CHILD_SHARE 48

static struct sockaddr_in addr;
static atomic_int parent_left;

struct client {
    pthread_t t;
    int answered, reset, refused, timed_out, other;
};

/* One connection: sends c, reads the answer (sec seconds at most). 0,
 * or the errno. */
static int trip(char c, int sec)
{
    struct timeval tv = { sec, 0 };
    int fd = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    syscall(SYS_setsockopt, fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int e = 0;
    char b = 0;
    if (syscall(SYS_connect, fd, &addr, sizeof(addr)) < 0 || syscall(SYS_write, fd, &c, 1) != 1)
        e = errno;
    else if (syscall(SYS_read, fd, &b, 1) != 1)
        e = errno ? errno : EPROTO;
    syscall(SYS_close, fd);
    return e;
}

static void *client_main(void *arg)
{
    struct client *c = arg;
    for (int i = 0; i < PER_CLIENT; i++) {
        errno = 0;
        int e = trip('x', 5);
        if (e == 0)
            c->answered++;
        else if (e == ECONNRESET || e == EPIPE)
            c->reset++;
        else if (e == ECONNREFUSED)
            c->refused++;
        else if (e == EAGAIN)
            c->timed_out++;
        else
            c->other++;
    }
    return NULL;
}

struct server {
    pthread_t t;
    int lfd, limit;
    bool epoll_first;
};

/* Accepts and answers until a stop connection ('q') or limit served
 * (0: none). */
static void *server_main(void *arg)
{
    struct server *s = arg;
    int ep = -1, served = 0;
    if (s->epoll_first) {
        struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE };
        ep = epoll_create1(EPOLL_CLOEXEC);
        if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, s->lfd, &ev) < 0)
            die("epoll");
    }
    for (;;) {
        struct epoll_event ev;
        if (ep >= 0 && epoll_wait(ep, &ev, 1, -1) < 0 && errno != EINTR)
            die("epoll_wait");
        int c = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            die("accept4");
        }
        char b = 0;
        if (read(c, &b, 1) == 1)
            (void)write(c, &b, 1);
        close(c);
        if (b == 'q' || (s->limit && ++served == s->limit))
            break;
    }
    if (ep >= 0)
        close(ep);
    return NULL;
}

static void *parent_server(void *arg)
{
    server_main(arg);
    atomic_fetch_sub(&parent_left, 1);
    return NULL;
}

static void round_run(int r)
{
    int lfd = listener(&addr, 0);
    if (listen(lfd, 512) < 0)
        die("listen");
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        /* (one thread: ThreadSanitizer reports the shim's lock taken by
         * threads of a forked child, its fork handling, not ours) */
        struct server sv = { .lfd = lfd, .limit = CHILD_SHARE, .epoll_first = true };
        server_main(&sv);
        close(lfd);
        _exit(0);
    }
    struct server sv[2];
    atomic_store(&parent_left, 2);
    for (int i = 0; i < 2; i++) {
        sv[i] = (struct server){ .lfd = lfd, .epoll_first = i == 1 };
        pthread_create(&sv[i].t, NULL, parent_server, &sv[i]);
    }
    struct client cl[CLIENTS] = { 0 };
    for (int i = 0; i < CLIENTS; i++)
        pthread_create(&cl[i].t, NULL, client_main, &cl[i]);
    struct client sum = { 0 };
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(cl[i].t, NULL);
        sum.answered += cl[i].answered;
        sum.reset += cl[i].reset;
        sum.refused += cl[i].refused;
        sum.timed_out += cl[i].timed_out;
        sum.other += cl[i].other;
    }
    /* the accepting threads left, in either process */
    int status = 0;
    bool child_done = false;
    while (atomic_load(&parent_left) > 0 || !child_done) {
        if (!child_done && waitpid(pid, &status, WNOHANG) == pid)
            child_done = true;
        else if (trip('q', 1) != 0)
            ms_sleep(1);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(sv[i].t, NULL);
    close(lfd);
    printf("round %d: %d connections: %d answered, %d reset, %d refused, %d timed out, %d other; child exit %d\n",
           r, CLIENTS * PER_CLIENT, sum.answered, sum.reset, sum.refused, sum.timed_out, sum.other,
           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    fflush(stdout);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    dt_watchdog(40);
    for (int r = 0; r < ROUNDS; r++) {
        dt_set_phase("a round");
        round_run(r);
    }
    return 0;
}
