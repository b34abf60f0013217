/* SPDX-License-Identifier: MIT */
/*
 * Differential: close() of a TCP socket whose data the peer has not read
 * yet. Linux returns at once and delivers everything write() accepted in
 * the background, then the FIN - on a non-blocking and on a blocking
 * socket alike. SO_LINGER changes that: l_linger 0 resets the connection,
 * l_linger > 0 makes close() wait up to that long (then the rest still
 * goes in the background).
 *
 * Cases in one process (the peer reads only after close returned, so a
 * close that waits for the peer waits for nothing), and the usual shape
 * of a server: a child process sends 5 MB to a client that starts
 * reading 300 ms later, closes, and exits.
 *
 * Asserts: how long close() took (fast, or about l_linger), and that the
 * peer reads exactly the bytes accepted, in order, then 0 - or a reset.
 */
#include "diff_thread.h"

#define MAX (64u << 20)
#define BIG (5u << 20)
#define ID 11u

static uint8_t *buf;

/* Writes without blocking until the send side is full; returns the bytes
 * accepted. */
static size_t fill(int fd)
{
    size_t sent = 0;
    while (sent < MAX) {
        ssize_t r = send(fd, buf + sent, 65536, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r < 0 && errno == EAGAIN) {
            /* full for now; once more after the datapath had a moment */
            ms_sleep(20);
            r = send(fd, buf + sent, 65536, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (r < 0 && errno == EAGAIN)
                break;
        }
        if (r <= 0)
            die("send");
        sent += (size_t)r;
    }
    if (sent == MAX)
        die("the send side never filled");
    return sent;
}

/* Reads to the end; prints whether it got exactly `sent` bytes in order
 * and how the stream ended (after a reset: only how it ended, the bytes
 * that arrived before it vary). */
static void drain(int fd, size_t sent, bool reset)
{
    static uint8_t in[65536];
    size_t got = 0;
    long bad = -1, last;
    for (;;) {
        last = recv(fd, in, sizeof(in), 0);
        if (last <= 0)
            break;
        long k = dt_mismatch(ID, got, in, (size_t)last);
        if (k >= 0 && bad < 0)
            bad = (long)got + k;
        got += (size_t)last;
    }
    if (reset) {
        printf("  the peer's recv ends with %s%s\n", last == 0 ? "0" : ename(errno), bad < 0 ? "" : " (WRONG bytes)");
        return;
    }
    printf("  the peer read %s the bytes written%s, then recv -> %s\n",
           got == sent ? "all" : got < sent ? "FEWER than" : "MORE than", bad < 0 ? " in order" : " (WRONG bytes)",
           last == 0 ? "0" : ename(errno));
    if (got != sent)
        printf("  written %zu, read %zu\n", sent, got);
}

/* Times close(fd): "fast" under 500 ms (Linux: microseconds), "about
 * 1 s" for SO_LINGER's 1 s (with room for a loaded machine), else how
 * long it took. */
static void timed_close(int fd, const char *what)
{
    struct timespec t0;
    dt_now(&t0);
    int r = close(fd);
    long ms = dt_ms_since(&t0);
    if (ms < 500)
        printf("%s: close -> %d, fast\n", what, r);
    else if (ms >= 900 && ms < 2000)
        printf("%s: close -> %d after about 1 s\n", what, r);
    else
        printf("%s: close -> %d after %.1f s\n", what, r, (double)ms / 1000);
}

/* One process: c fills its send side and closes; then s reads. */
static void local_case(const char *what, bool nonblock, const struct linger *lg)
{
    int c, s;
    dt_set_phase(what);
    int lfd = dt_pair(&c, &s);
    if (nonblock)
        fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK);
    if (lg && setsockopt(c, SOL_SOCKET, SO_LINGER, lg, sizeof(*lg)) < 0)
        die("SO_LINGER");
    size_t sent = fill(c);
    timed_close(c, what);
    drain(s, sent, lg && lg->l_onoff && !lg->l_linger);
    close(s);
    close(lfd);
}

/* The server is a child process: it sends BIG bytes (non-blocking, poll
 * for room), closes at once and exits; the client starts reading 300 ms
 * after it connected. The child's exit status says how long close took. */
static void server_case(void)
{
    int p[2];
    dt_set_phase("5 MB from a child server");
    if (pipe(p) < 0)
        die("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        struct sockaddr_in la;
        int lfd = dt_listener(&la, 0, 16);
        if (write(p[1], &la, sizeof(la)) != sizeof(la))
            _exit(4);
        int s = accept(lfd, NULL, NULL);
        if (s < 0)
            _exit(4);
        fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
        size_t sent = 0;
        while (sent < BIG) {
            ssize_t r = send(s, buf + sent, BIG - sent, MSG_NOSIGNAL);
            if (r < 0 && errno == EAGAIN) {
                if (!wait_for(s, POLLOUT, 5000))
                    _exit(5);
                continue;
            }
            if (r <= 0)
                _exit(6);
            sent += (size_t)r;
        }
        struct timespec t0;
        dt_now(&t0);
        int r = close(s);
        _exit(r == 0 && dt_ms_since(&t0) < 500 ? 0 : 3);
    }
    struct sockaddr_in la;
    if (pid < 0 || read(p[0], &la, sizeof(la)) != sizeof(la))
        die("child server");
    int c = connect_to(&la, 0);
    ms_sleep(300);
    printf("5 MB from a child server that closes at once:\n");
    drain(c, BIG, false);
    int st = 0;
    waitpid(pid, &st, 0);
    printf("  the server's close: %s\n", WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "fast" :
           WIFEXITED(st) && WEXITSTATUS(st) == 3 ? "SLOW" : "the server failed");
    close(c);
}

int main(void)
{
    dt_watchdog(40);
    buf = malloc(MAX);
    if (!buf)
        die("malloc");
    dt_fill(ID, 0, buf, MAX);

    local_case("non-blocking, unread data", true, NULL);
    local_case("blocking, unread data", false, NULL);
    local_case("SO_LINGER off", true, &(struct linger){ 0, 5 });
    local_case("SO_LINGER 0 (reset)", false, &(struct linger){ 1, 0 });
    local_case("SO_LINGER 1 s", true, &(struct linger){ 1, 1 });
    server_case();
    free(buf);
    return 0;
}
