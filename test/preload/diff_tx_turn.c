/* SPDX-License-Identifier: MIT */
/*
 * Differential: sends inside one event-loop turn. Under the preload, the
 * sends of a turn (the events one epoll_wait returned) may leave their
 * submission to the turn's end (DEMI_TX_BATCH, shim/README.md); what
 * must never happen is a reply held back while the server blocks
 * somewhere else. Here the server's epoll_wait returns two clients at
 * once; it answers the first, then - still in that turn - blocks reading
 * a pipe that the client writes only after it has the first answer. On
 * Linux the first answer left with its send(): no deadlock. Then the
 * same with poll().
 *
 * Prints each step; a hang is ended by alarm() with a FATAL line.
 */
#include "diff.h"

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "FATAL timed out: a reply was held back\n";
    if (write(1, msg, sizeof(msg) - 1) < 0)
        _exit(2);
    _exit(1);
}

/* The client: both requests at once, the first answer, then tell the
 * server through the pipe, then the second answer. */
static void client(const struct sockaddr_in *a, int tell)
{
    int c1 = connect_to(a, 0), c2 = connect_to(a, 0);
    if (c1 < 0 || c2 < 0)
        die("connect");
    if (send(c1, "1", 1, 0) != 1 || send(c2, "2", 1, 0) != 1)
        die("send");
    char r = 0;
    if (read_full(c1, &r, 1) != 1 || r != 'A')
        die("first answer");
    if (write(tell, "!", 1) != 1)
        die("pipe write");
    if (read_full(c2, &r, 1) != 1 || r != 'B')
        die("second answer");
    close(c1);
    close(c2);
    _exit(0);
}

/* One round: poll_mode 0 epoll_wait, 1 poll. */
static void round_of(int poll_mode)
{
    struct sockaddr_in a;
    int l = listener(&a, 0), p[2];
    if (l < 0 || pipe(p) < 0)
        die("setup");
    /* A poll of the listener hands it over (a no-op on the kernel) before
     * the client connects: a connect racing the hand-over may land on
     * the kernel's listener and be accepted ahead of an earlier one, or
     * be reset (shim/README.md), and the answers would go astray. */
    struct pollfd lp = { .fd = l, .events = POLLIN };
    poll(&lp, 1, 0);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        close(p[0]);
        client(&a, p[1]);
    }
    close(p[1]);
    int s1 = accept(l, NULL, NULL), s2 = accept(l, NULL, NULL);
    if (s1 < 0 || s2 < 0)
        die("accept");
    /* the first accepted is the first connected (one client, in order) */
    char q1 = 0, q2 = 0;
    int n; /* one turn sees both */
    if (poll_mode == 0) {
        n = one_turn(s1, s2);
    } else {
        both_readable(s1, s2);
        struct pollfd pf[2] = { { .fd = s1, .events = POLLIN }, { .fd = s2, .events = POLLIN } };
        n = poll(pf, 2, 5000);
    }
    printf("%-48s -> %d\n", poll_mode ? "poll: ready" : "epoll_wait: ready", n);
    /* the turn: answer the first, wait for the client's word, answer the second */
    SHOWV(recv(s1, &q1, 1, 0));
    SHOWV(send(s1, "A", 1, 0));
    char w = 0;
    SHOWV(read(p[0], &w, 1));
    SHOWV(recv(s2, &q2, 1, 0));
    SHOWV(send(s2, "B", 1, 0));
    int st = 0;
    waitpid(pid, &st, 0);
    printf("%-48s -> %d\n", "client exit", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    close(s1);
    close(s2);
    close(l);
    close(p[0]);
}

int main(void)
{
    signal(SIGALRM, on_alarm);
    alarm(20);
    round_of(0);
    round_of(1);
    return 0;
}
