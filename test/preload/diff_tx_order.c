/* SPDX-License-Identifier: MIT */
/*
 * Differential: a socket option set right after a send acts after it, as
 * on Linux, even when the preload left the send's submission to the end
 * of the event-loop turn (DEMI_TX_BATCH). The server's epoll_wait returns
 * two clients; it answers the first and then corks that socket
 * (TCP_CORK, as nginx does before a file): on Linux the answer left with
 * send(), before the cork, so the client has it at once; sent after the
 * cork it would sit in the kernel for the cork's 200 ms timer.
 *
 * Prints whether the answer came within 150 ms (a loopback delivery takes
 * microseconds; the cork timer 200 ms).
 */
#include <netinet/tcp.h>
#include <stdbool.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include "diff.h"

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "FATAL timed out\n";
    if (write(1, msg, sizeof(msg) - 1) < 0)
        _exit(2);
    _exit(1);
}

static long ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* nginx's answer with tcp_nopush: cork, a header, the file, uncork, an
 * answer per turn of one event (a turn's last send goes at once). Nagle
 * is on (no TCP_NODELAY): an answer cut in two and sent uncorked would
 * leave its second part to the peer's ACK of the first, which the peer
 * delays (~40 ms once past its first quick ACKs). Linux's uncork pushes
 * both together. Prints whether 60 answers took under 800 ms. */
static void corked_answers(void)
{
    enum { ROUNDS = 60 };
    struct sockaddr_in a;
    int l = listener(&a, 0);
    if (l < 0)
        die("listener");
    wait_for(l, POLLIN, 0); /* hands it over before the client connects */
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        int c = connect_to(&a, 0);
        char buf[64];
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int i = 0; i < ROUNDS; i++)
            if (send(c, "?", 1, 0) != 1 || read_full(c, buf, 40) != 40 || memcmp(buf + 20, "body", 4) != 0)
                die("answer");
        _exit(ms_since(&t0) < 800 ? 0 : 3);
    }
    int s = accept(l, NULL, NULL), one = 1, zero = 0;
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = s }, out;
    if (s < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) != 0)
        die("setup");
    bool ok = true;
    for (int i = 0; i < ROUNDS && ok; i++) {
        char q;
        ok = epoll_wait(ep, &out, 1, 5000) == 1 && recv(s, &q, 1, 0) == 1 &&
             setsockopt(s, IPPROTO_TCP, TCP_CORK, &one, sizeof(one)) == 0 &&
             send(s, "header:.............", 20, 0) == 20 && send(s, "body................", 20, 0) == 20 &&
             setsockopt(s, IPPROTO_TCP, TCP_CORK, &zero, sizeof(zero)) == 0;
    }
    printf("%-48s -> %d\n", "60 corked answers sent", ok);
    int st = 0;
    waitpid(pid, &st, 0);
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    printf("%-48s -> %s\n", "60 corked answers", code == 0 ? "prompt" : code == 3 ? "late (Nagle, delayed ACK)" : "lost");
    close(ep);
    close(s);
    close(l);
}

int main(void)
{
    signal(SIGALRM, on_alarm);
    alarm(20);
    struct sockaddr_in a;
    int l = listener(&a, 0), go[2];
    if (l < 0 || pipe(go) < 0)
        die("setup");
    /* A poll of the listener hands it over (a no-op on the kernel) before
     * the client connects: a connect racing the hand-over may land on
     * the kernel's listener and be accepted ahead of an earlier one, or
     * be reset (shim/README.md), and the answers would go astray. */
    wait_for(l, POLLIN, 0);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        close(go[1]);
        int c1 = connect_to(&a, 0), c2 = connect_to(&a, 0);
        if (c1 < 0 || c2 < 0)
            die("connect");
        if (send(c1, "1", 1, 0) != 1 || send(c2, "2", 1, 0) != 1)
            die("send");
        char r = 0, w;
        if (read(go[0], &w, 1) != 1) /* the server is about to answer */
            die("go");
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (read_full(c1, &r, 1) != 1 || r != 'A')
            die("answer");
        long ms = ms_since(&t0);
        if (read_full(c2, &r, 1) != 1 || r != 'B')
            die("second answer");
        _exit(ms < 150 ? 0 : 3); /* the parent prints it: one writer, one order */
    }
    close(go[0]);
    int s1 = accept(l, NULL, NULL), s2 = accept(l, NULL, NULL);
    if (s1 < 0 || s2 < 0)
        die("accept");
    printf("%-48s -> %d\n", "epoll_wait: ready", one_turn(s1, s2)); /* one turn sees both */
    char q;
    SHOWV(recv(s1, &q, 1, 0));
    if (write(go[1], "!", 1) != 1)
        die("go");
    SHOWV(send(s1, "A", 1, 0));
    int one = 1;
    SHOW(setsockopt(s1, IPPROTO_TCP, TCP_CORK, &one, sizeof(one)));
    ms_sleep(400); /* past the cork's timer: the client has looked by now */
    SHOWV(recv(s2, &q, 1, 0));
    SHOWV(send(s2, "B", 1, 0));
    int st = 0;
    waitpid(pid, &st, 0);
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    printf("%-48s -> %s\n", "first answer", code == 0 ? "prompt" : code == 3 ? "late (held by the cork)" : "lost");
    corked_answers();
    return 0;
}
