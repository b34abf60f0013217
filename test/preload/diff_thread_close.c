/* SPDX-License-Identifier: MIT */
/*
 * Differential: close() from one thread while another is blocked on the
 * socket - in recv(), or in epoll_wait() on an epoll holding it.
 *
 * What Linux does (the outcomes accepted): close() removes the fd but not
 * the socket a blocked call already holds, so a blocked recv() sleeps on
 * and returns what the peer then does (its data, or 0 after its FIN); a
 * blocked epoll_wait() stops reporting the socket at once (its last
 * reference is gone) and returns by its timeout or for another fd of the
 * set. The preload may end a recv() blocked on a closed fd with EBADF at
 * once (the fd no longer names its socket), which is accepted too;
 * reading from another socket that took the fd number, a report of the
 * closed socket by epoll_wait(), a crash, or a hang is not.
 *
 * Asserts, case by case: the blocked call returns within a bound after
 * what should end it (the peer's action, the timeout, another fd's event);
 * its result is in the accepted set (printed as such, or printed as it is
 * when not); afterwards a new connection still echoes. A watchdog ends a
 * hang.
 */
#include <sys/epoll.h>
#include "diff_thread.h"

#define BOUND_MS 2000     /* a blocked call returns this soon after its cause */

static struct sockaddr_in la;
static int lfd;

static void conn_pair(int *c, int *s)
{
    *c = connect_to(&la, 0);
    *s = accept(lfd, NULL, NULL);
    if (*s < 0)
        die("accept");
}

/* The blocked call, run by another thread. */
struct blocked {
    int fd;               /* recv: the socket; epoll: the epoll */
    int timeout_ms;       /* epoll_wait's */
    bool epoll;
    long r;
    int err;
    char byte;            /* recv: the first byte read */
    struct epoll_event ev[8];
    pthread_t t;
};

static void *blocked_main(void *arg)
{
    struct blocked *b = arg;
    if (b->epoll) {
        do
            b->r = epoll_wait(b->fd, b->ev, 8, b->timeout_ms);
        while (b->r < 0 && errno == EINTR);
    } else {
        char buf[64];
        do
            b->r = recv(b->fd, buf, sizeof(buf), 0);
        while (b->r < 0 && errno == EINTR);
        b->byte = b->r > 0 ? buf[0] : 0;
    }
    b->err = errno;
    return NULL;
}

static void start(struct blocked *b)
{
    pthread_create(&b->t, NULL, blocked_main, b);
    ms_sleep(200); /* into its sleep (if not, it sees the closed fd: accepted too) */
}

/* Waits for the blocked thread; a hang is the end of the program. */
static void finish(const char *what, struct blocked *b, int ms)
{
    if (!dt_join_within(b->t, ms, NULL)) {
        printf("%s: still blocked %d ms after it should have returned\n", what, ms);
        fflush(stdout);
        _exit(1);
    }
}

static const char *got(const struct blocked *b)
{
    static char s[64];
    if (b->r < 0)
        snprintf(s, sizeof(s), "-1 %s", ename(b->err));
    else
        snprintf(s, sizeof(s), "%ld", b->r);
    return s;
}

/* recv() blocked, the fd closed, then the peer sends a byte (send) or its
 * FIN. With reuse, a new unconnected socket takes the fd number first: the
 * blocked call must not end up reading that one (ENOTCONN). */
static void recv_case(const char *what, bool send_byte, bool reuse)
{
    int c, s;
    conn_pair(&c, &s);
    struct blocked b = { .fd = s };
    dt_set_phase(what);
    start(&b);
    close(s);
    int other = -1;
    if (reuse && (other = socket(AF_INET, SOCK_STREAM, 0)) < 0)
        die("socket");
    ms_sleep(100);
    if (send_byte) {
        if (write(c, "x", 1) != 1)
            die("peer write");
    } else {
        close(c);
        c = -1;
    }
    finish(what, &b, BOUND_MS);
    bool linux_like = send_byte ? b.r == 1 && b.byte == 'x' : b.r == 0;
    bool ok = linux_like || (b.r == -1 && b.err == EBADF);
    printf("%-58s -> %s\n", what, ok ? "returned, as Linux (or EBADF)" : got(&b));
    if (other >= 0)
        close(other);
    if (c >= 0)
        close(c);
}

/* epoll_wait() blocked on an epoll holding the socket (and a pipe, with
 * the pipe written after the close), the socket closed, then the peer
 * sends: the wait returns by its timeout, or for the pipe, and never
 * reports the closed socket. */
static void epoll_case(const char *what, bool with_pipe)
{
    int c, s, pfd[2];
    conn_pair(&c, &s);
    if (pipe(pfd) < 0)
        die("pipe");
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 1 };
    epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
    ev.data.u64 = 2;
    if (with_pipe)
        epoll_ctl(ep, EPOLL_CTL_ADD, pfd[0], &ev);
    struct blocked b = { .fd = ep, .epoll = true, .timeout_ms = with_pipe ? 5000 : 1000 };
    dt_set_phase(what);
    struct timespec t0;
    dt_now(&t0);
    start(&b);
    close(s);
    ms_sleep(100);
    if (write(c, "x", 1) != 1)
        die("peer write");
    ms_sleep(100);
    if (with_pipe && write(pfd[1], "p", 1) != 1)
        die("pipe write");
    finish(what, &b, with_pipe ? BOUND_MS : b.timeout_ms + BOUND_MS);
    long ms = dt_ms_since(&t0);
    bool ok = with_pipe ? b.r == 1 && b.ev[0].data.u64 == 2 : b.r == 0 && ms >= b.timeout_ms - 50;
    printf("%-58s -> %s\n", what, ok ? (with_pipe ? "the pipe only, as Linux" : "timed out, as Linux") : got(&b));
    if (!ok)
        for (long i = 0; i < b.r; i++)
            printf("  reported: %s\n", b.ev[i].data.u64 == 1 ? "the closed socket" : "the pipe");
    close(ep);
    close(pfd[0]);
    close(pfd[1]);
    close(c);
}

/* The epoll itself closed while a thread waits in it, then its socket
 * gets data. Linux: the wait goes on over the set it holds and reports
 * the socket. Accepted as well: EBADF, or the timeout. */
static void epoll_closed_case(const char *what)
{
#ifdef __SANITIZE_THREAD__
    /* The program closes an fd another thread is blocked on: an fd race by
     * design, which ThreadSanitizer reports as such (the preload passes
     * the close on to the kernel epoll the waiter sleeps in). */
    printf("%-58s -> not run under ThreadSanitizer\n", what);
    return;
#endif
    int c, s;
    conn_pair(&c, &s);
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 1 };
    epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
    struct blocked b = { .fd = ep, .epoll = true, .timeout_ms = 1000 };
    dt_set_phase(what);
    start(&b);
    close(ep);
    ms_sleep(100);
    if (write(c, "x", 1) != 1)
        die("peer write");
    finish(what, &b, b.timeout_ms + BOUND_MS);
    bool ok = (b.r == 1 && b.ev[0].data.u64 == 1) || b.r == 0 || (b.r == -1 && b.err == EBADF);
    printf("%-58s -> %s\n", what, ok ? "returned, as Linux (or EBADF/timeout)" : got(&b));
    close(s);
    close(c);
}

/* The shim is still whole: a new connection echoes. */
static void still_works(void)
{
    int c, s;
    char buf[8];
    dt_set_phase("a new connection afterwards");
    conn_pair(&c, &s);
    bool ok = write(c, "ping", 4) == 4 && read_full(s, buf, 4) == 4 && write(s, buf, 4) == 4 &&
              read_full(c, buf, 4) == 4 && memcmp(buf, "ping", 4) == 0;
    printf("%-58s -> %s\n", "afterwards, a new connection echoes", ok ? "yes" : "no");
    close(c);
    close(s);
}

int main(void)
{
    dt_watchdog(25);
    lfd = dt_listener(&la, 0, 16);
    recv_case("recv blocked, fd closed, then the peer sends", true, false);
    recv_case("recv blocked, fd closed, then the peer closes", false, false);
    recv_case("recv blocked, fd closed and reused, the peer sends", true, true);
    epoll_case("epoll_wait blocked, its socket closed, the peer sends", false);
    epoll_case("epoll_wait blocked, socket closed, then a pipe event", true);
    epoll_closed_case("epoll_wait blocked, the epoll fd closed, the peer sends");
    still_works();
    close(lfd);
    return 0;
}
