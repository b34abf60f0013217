/* SPDX-License-Identifier: MIT */
/*
 * Differential: an answer sent within an event-loop turn, then a call
 * that blocks in the kernel with no fd of ours. Under the preload the
 * sends of a turn (the events one epoll_wait returned) may leave their
 * submission to the turn's end (DEMI_TX_BATCH, shim/README.md); a call
 * such as waitpid, nanosleep or sigsuspend must submit them first, or
 * the answer waits in the submission queue for as long as it blocks.
 *
 * UDP, because a datagram is always queued (a stream's send into an
 * empty socket may leave at once, from the caller's memory). The
 * server's epoll_wait returns its two sockets at once; it answers the
 * first, then, still in that turn, blocks in the call under test until
 * the client, which needs that answer, ends it: by exiting (the wait
 * calls) or with SIGUSR1 (the others; sent again every 10 ms until the
 * server acknowledges through a pipe, so that one lands while it
 * sleeps). On Linux the answer left with its send: no deadlock.
 *
 * Then two turns that block in a raw system call, which no hook sees:
 * there the turn's own sends must have flushed. One answers a TCP client
 * first (a send that leaves at once, from the caller's memory) and a UDP
 * one second: the second is the turn's last. The other forks in its turn
 * and the child answers: a child is not in its parent's turn.
 *
 * Prints each step; a hang is ended by alarm() with a FATAL line.
 */
#include <stdbool.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include "diff.h"

enum mode { WAITPID, WAIT, WAIT3, WAIT4, WAITID, NANOSLEEP, CLOCK_NANOSLEEP, SLEEP, USLEEP, PAUSE,
            SELECT0, SIGSUSPEND, SIGWAIT, SIGWAITINFO, SIGTIMEDWAIT, NMODES };
static const char *const mode_name[NMODES] = { "waitpid", "wait", "wait3", "wait4", "waitid", "nanosleep",
    "clock_nanosleep", "sleep", "usleep", "pause", "select(0)", "sigsuspend", "sigwait", "sigwaitinfo",
    "sigtimedwait" };

/* The calls that end when the client exits; the others end on SIGUSR1. */
static bool ends_at_exit(enum mode m) { return m <= WAITID; }
/* The calls that take SIGUSR1 blocked (as pending, or unblock it themselves). */
static bool usr1_blocked(enum mode m) { return m >= SIGSUSPEND; }

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "FATAL timed out: an answer was held back\n";
    if (write(1, msg, sizeof(msg) - 1) < 0)
        _exit(2);
    _exit(1);
}

static void on_usr1(int sig) { (void)sig; }

static int udp_bound(struct sockaddr_in *a)
{
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in b = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t l = sizeof(*a);
    if (u < 0 || bind(u, (struct sockaddr *)&b, sizeof(b)) < 0 || getsockname(u, (struct sockaddr *)a, &l) < 0)
        die("udp socket");
    /* its first poll hands it over (a no-op on the kernel) */
    struct pollfd p = { .fd = u, .events = POLLIN };
    poll(&p, 1, 0);
    return u;
}

/* The client: a datagram to each server socket, the answer, then it ends
 * the server's block. */
static void client(const struct sockaddr_in *a1, const struct sockaddr_in *a2, int ack, enum mode m)
{
    int c = socket(AF_INET, SOCK_DGRAM, 0);
    if (c < 0)
        die("client socket");
    if (sendto(c, "1", 1, 0, (const struct sockaddr *)a1, sizeof(*a1)) != 1 ||
        sendto(c, "2", 1, 0, (const struct sockaddr *)a2, sizeof(*a2)) != 1)
        die("client sendto");
    char r = 0;
    if (recv(c, &r, 1, 0) != 1 || r != 'A')
        die("answer");
    if (!ends_at_exit(m))
        for (int i = 0; i < 2000 && !wait_for(ack, POLLIN, 10); i++)
            kill(getppid(), SIGUSR1);
    close(c);
    _exit(0);
}

/* The call under test; 1 when it ended as the client made it end. */
static int block_in(enum mode m, pid_t pid)
{
    struct timespec ts = { 30, 0 };
    struct timeval tv = { 30, 0 };
    sigset_t usr1, others;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_SETMASK, NULL, &others);
    sigdelset(&others, SIGUSR1);
    int st = 0, sig = 0;
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    switch (m) {
    case WAITPID: return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    case WAIT: return wait(&st) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    case WAIT3: return wait3(&st, 0, NULL) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    case WAIT4: return wait4(pid, &st, 0, NULL) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    case WAITID: return waitid(P_PID, (id_t)pid, &si, WEXITED) == 0 && si.si_status == 0;
    case NANOSLEEP: return nanosleep(&ts, NULL) == -1 && errno == EINTR;
    case CLOCK_NANOSLEEP: return clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL) == EINTR;
    case SLEEP: return sleep(30) > 0;
    case USLEEP: return usleep(30000000) == -1 && errno == EINTR;
    case PAUSE: return pause() == -1 && errno == EINTR;
    case SELECT0: return select(0, NULL, NULL, NULL, &tv) == -1 && errno == EINTR;
    case SIGSUSPEND: return sigsuspend(&others) == -1 && errno == EINTR;
    case SIGWAIT: return sigwait(&usr1, &sig) == 0 && sig == SIGUSR1;
    case SIGWAITINFO: return sigwaitinfo(&usr1, &si) == SIGUSR1;
    case SIGTIMEDWAIT: return sigtimedwait(&usr1, &si, &ts) == SIGUSR1;
    default: return 0;
    }
}

static void round_of(enum mode m)
{
    struct sockaddr_in a1, a2;
    int u1 = udp_bound(&a1), u2 = udp_bound(&a2), ack[2];
    if (pipe(ack) < 0)
        die("pipe");
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    if (usr1_blocked(m))
        sigprocmask(SIG_BLOCK, &usr1, NULL);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        close(ack[1]);
        client(&a1, &a2, ack[0], m);
    }
    close(ack[0]);
    int n = one_turn(u1, u2); /* one turn sees both */
    printf("%-16s %-31s -> %d\n", mode_name[m], "epoll_wait: ready", n);
    /* the turn: answer the first, block until the client has the answer */
    char q = 0;
    struct sockaddr_in from;
    socklen_t fl = sizeof(from);
    showv("recvfrom(u1)", recvfrom(u1, &q, 1, 0, (struct sockaddr *)&from, &fl));
    showv("sendto(u1, \"A\")", sendto(u1, "A", 1, 0, (struct sockaddr *)&from, fl));
    int ended = block_in(m, pid);
    printf("%-16s %-31s -> %d\n", mode_name[m], "ended by the client", ended);
    if (!ends_at_exit(m) && write(ack[1], "!", 1) != 1)
        die("ack");
    showv("recv(u2)", recv(u2, &q, 1, 0));
    int st = 0;
    if (!ends_at_exit(m))
        printf("%-48s -> %d\n", "client exit", waitpid(pid, &st, 0) == pid && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    if (usr1_blocked(m)) {
        /* a SIGUSR1 sent after the one taken is still pending */
        struct timespec zero = { 0, 0 };
        while (sigtimedwait(&usr1, NULL, &zero) == SIGUSR1)
            ;
        sigprocmask(SIG_UNBLOCK, &usr1, NULL);
    }
    close(ack[1]);
    close(u1);
    close(u2);
}

/* A wait for pid that no hook sees; its exit status or -1. */
static int raw_wait(pid_t pid)
{
    int st = 0;
    if (syscall(SYS_wait4, pid, &st, 0, NULL) != pid || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}


/* A TCP answer first, then a UDP one in two datagrams: the UDP one is
 * the turn's last, both its sends count as one answer, and they must go
 * before the raw wait for the client that needs all three. */
static void round_send_now_first(void)
{
    struct sockaddr_in la, ua;
    int l = listener(&la, 0), u = udp_bound(&ua);
    struct pollfd lp = { .fd = l, .events = POLLIN };
    poll(&lp, 1, 0); /* hands it over before the client connects */
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        int c = connect_to(&la, 0), d = socket(AF_INET, SOCK_DGRAM, 0);
        char r = 0, r2 = 0, r3 = 0;
        if (d < 0 || send(c, "1", 1, 0) != 1 || sendto(d, "2", 1, 0, (struct sockaddr *)&ua, sizeof(ua)) != 1)
            die("client send");
        if (read_full(c, &r, 1) != 1 || recv(d, &r2, 1, 0) != 1 || recv(d, &r3, 1, 0) != 1 || r != 'A' ||
            r2 != 'B' || r3 != 'C')
            die("answers");
        _exit(0);
    }
    int s = accept(l, NULL, NULL);
    if (s < 0)
        die("accept");
    printf("%-48s -> %d\n", "tcp+udp epoll_wait: ready", one_turn(s, u));
    char q = 0;
    struct sockaddr_in from;
    socklen_t fl = sizeof(from);
    showv("recv(s)", recv(s, &q, 1, 0));
    showv("send(s, \"A\")", send(s, "A", 1, 0));
    showv("recvfrom(u)", recvfrom(u, &q, 1, 0, (struct sockaddr *)&from, &fl));
    showv("sendto(u, \"B\")", sendto(u, "B", 1, 0, (struct sockaddr *)&from, fl));
    showv("sendto(u, \"C\")", sendto(u, "C", 1, 0, (struct sockaddr *)&from, fl));
    printf("%-48s -> %d\n", "client exit (raw wait4)", raw_wait(pid));
    close(s);
    close(l);
    close(u);
}

/* The server forks in its turn; the child answers, then blocks in a raw
 * read of a pipe that the client writes once it has the answer. */
static void round_fork_in_turn(void)
{
    struct sockaddr_in a1, a2;
    int u1 = udp_bound(&a1), u2 = udp_bound(&a2), p[2];
    if (pipe(p) < 0)
        die("pipe");
    pid_t client_pid = fork();
    if (client_pid < 0)
        die("fork");
    if (client_pid == 0) {
        int c = socket(AF_INET, SOCK_DGRAM, 0);
        char r = 0;
        if (c < 0 || sendto(c, "1", 1, 0, (struct sockaddr *)&a1, sizeof(a1)) != 1 ||
            sendto(c, "2", 1, 0, (struct sockaddr *)&a2, sizeof(a2)) != 1)
            die("client sendto");
        if (recv(c, &r, 1, 0) != 1 || r != 'A' || write(p[1], "!", 1) != 1)
            die("answer");
        _exit(0);
    }
    printf("%-48s -> %d\n", "fork in turn: epoll_wait: ready", one_turn(u1, u2));
    char q = 0;
    struct sockaddr_in from;
    socklen_t fl = sizeof(from);
    showv("recvfrom(u1)", recvfrom(u1, &q, 1, 0, (struct sockaddr *)&from, &fl));
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        int w = socket(AF_INET, SOCK_DGRAM, 0);
        char k = 0;
        if (w < 0 || sendto(w, "A", 1, 0, (struct sockaddr *)&from, fl) != 1)
            _exit(3);
        _exit(syscall(SYS_read, p[0], &k, 1) == 1 ? 0 : 4);
    }
    printf("%-48s -> %d\n", "answering child exit", waitpid(pid, NULL, 0) == pid);
    showv("recv(u2)", recv(u2, &q, 1, 0));
    printf("%-48s -> %d\n", "client exit", raw_wait(client_pid));
    close(p[0]);
    close(p[1]);
    close(u1);
    close(u2);
}

int main(void)
{
    signal(SIGALRM, on_alarm);
    struct sigaction sa = { .sa_handler = on_usr1 }; /* no SA_RESTART: the sleeps end with EINTR */
    sigaction(SIGUSR1, &sa, NULL);
    alarm(20);
    for (int m = 0; m < NMODES; m++)
        round_of((enum mode)m);
    round_send_now_first();
    round_fork_in_turn();
    return 0;
}
