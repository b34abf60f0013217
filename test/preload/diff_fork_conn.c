/* SPDX-License-Identifier: MIT */
/* Differential: connections inherited across fork and exec. (1) A
 * fork-per-connection server: accept, fork, the parent closes at once,
 * the child serves (the request sent before the accept included) and its
 * close is the one the client sees. (2) Parent and child both keep it:
 * the child's exit leaves the parent's copy working, the parent's close
 * leaves the child's, and a child holds nothing of the connections its
 * parent accepts later or closed with data still on its way. (3) The parent read part of a request before the
 * fork: the child reads the rest. (4) inetd: dup2 onto stdin and stdout,
 * exec /bin/cat; (5) CGI: the child read the head, the exec'd program
 * reads the body from stdin. (6) An inherited UDP socket sends from the
 * child. Only the first process prints; children report by exit code. */
#include <sys/epoll.h>
#include "diff.h"

/* The exec'd helper of (5): the rest of the request from stdin, answered
 * on stdout. */
static int cgi_helper(void)
{
    char buf[64];
    long n = read_full(0, buf, 4);
    if (n != 4)
        return 3;
    char out[80];
    int k = snprintf(out, sizeof(out), "body=%.4s", buf);
    return write(1, out, (size_t)k) == k ? 0 : 4;
}

/* Waits for one byte on the pipe (a go from the other process). */
static void await(int fd)
{
    char b;
    if (read(fd, &b, 1) != 1)
        _exit(9);
}

static void go(int fd)
{
    if (write(fd, "g", 1) != 1)
        die("pipe");
}

static int child_status(pid_t k)
{
    int st;
    if (waitpid(k, &st, 0) != k)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

/* Reads until EOF or n bytes; how many. */
static long read_to_eof(int fd, char *buf, size_t n)
{
    size_t got = 0;
    for (;;) {
        if (wait_for(fd, POLLIN, 3000) == 0) {
            errno = ETIMEDOUT; /* no EOF: someone still holds the connection */
            return -1;
        }
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0)
            return r < 0 ? -1 : (long)got;
        got += (size_t)r;
        if (got == n)
            return (long)got;
    }
}

static void fork_per_connection(int l, const struct sockaddr_in *la)
{
    char buf[64];
    int c = connect_to(la, 0);
    /* sent before the accept: under the preload the parent must not have
     * taken it from the kernel for itself */
    SHOWV(write(c, "early", 5));
    int p[2];
    if (pipe(p) < 0)
        die("pipe");
    int s = accept(l, NULL, NULL);
    pid_t k = fork();
    if (k == 0) {
        close(p[1]);
        await(p[0]); /* the parent has closed its copy */
        if (read_full(s, buf, 5) != 5 || memcmp(buf, "early", 5) != 0)
            _exit(1);
        if (write(s, "served", 6) != 6)
            _exit(2);
        if (read_full(s, buf, 4) != 4 || memcmp(buf, "more", 4) != 0)
            _exit(3);
        if (write(s, "bye", 3) != 3)
            _exit(4);
        close(s);
        _exit(0);
    }
    close(p[0]);
    SHOW(close(s));
    go(p[1]);
    SHOWV(read_full(c, buf, 6));
    printf("got '%.6s'\n", buf);
    SHOWV(write(c, "more", 4));
    SHOWV(read_to_eof(c, buf, sizeof(buf)));
    printf("got '%.3s' then EOF\n", buf);
    printf("child exit %d\n", child_status(k));
    close(p[1]);
    close(c);
}

static void both_keep(int l, const struct sockaddr_in *la)
{
    char buf[64];
    int c = connect_to(la, 0);
    int s = accept(l, NULL, NULL);
    int p[2];
    if (pipe(p) < 0)
        die("pipe");
    pid_t k = fork();
    if (k == 0) {
        /* a child that only writes takes nothing its parent reads, even
         * while its event loop waits with the connection in it for output
         * (under the preload: while it drives its datapath) */
        close(p[1]);
        if (write(s, "c1", 2) != 2)
            _exit(1);
        int ep = epoll_create1(0);
        struct epoll_event ev = { .events = EPOLLOUT | EPOLLET, .data.fd = s };
        struct epoll_event pe = { .events = EPOLLIN, .data.fd = p[0] };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &pe) < 0)
            _exit(2);
        for (int i = 0; i < 500; i++) {
            struct epoll_event got;
            if (epoll_wait(ep, &got, 1, 10) == 1 && got.data.fd == p[0])
                break;
        }
        await(p[0]);
        _exit(0); /* exit closes the child's copy */
    }
    close(p[0]);
    SHOWV(read_full(c, buf, 2));
    printf("got '%.2s'\n", buf);
    SHOWV(write(c, "q", 1));
    SHOWV(read_full(s, buf, 1));
    go(p[1]);
    close(p[1]);
    printf("child exit %d\n", child_status(k));
    SHOWV(write(s, "p1", 2));
    SHOWV(read_full(c, buf, 2));
    printf("got '%.2s'\n", buf);
    SHOWV(write(c, "r", 1));
    SHOWV(read_full(s, buf, 1));

    /* now the parent, which used it, closes first */
    if (pipe(p) < 0)
        die("pipe");
    k = fork();
    if (k == 0) {
        close(p[1]);
        await(p[0]);
        if (write(s, "c2", 2) != 2)
            _exit(1);
        if (read_full(s, buf, 1) != 1 || buf[0] != 'x')
            _exit(2);
        if (write(s, "c3", 2) != 2)
            _exit(3);
        _exit(0);
    }
    close(p[0]);
    SHOW(close(s));
    go(p[1]);
    SHOWV(read_full(c, buf, 2));
    printf("got '%.2s'\n", buf);
    SHOWV(write(c, "x", 1));
    SHOWV(read_to_eof(c, buf, sizeof(buf)));
    printf("got '%.2s' then EOF\n", buf);
    printf("child exit %d\n", child_status(k));
    close(p[1]);
    close(c);
}

/* Two connections wait when the first is accepted and forked: that child
 * must not hold the second, whose own child's close() is its EOF. */
static void sibling_holds_nothing(int l, const struct sockaddr_in *la)
{
    char buf[64];
    int c1 = connect_to(la, 0), c2 = connect_to(la, 0);
    ms_sleep(50); /* both established before the first accept */
    int p[2];
    if (pipe(p) < 0)
        die("pipe");
    int s1 = accept(l, NULL, NULL);
    pid_t a = fork();
    if (a == 0) {
        close(p[1]);
        await(p[0]); /* lives until the second connection is done */
        _exit(write(s1, "a", 1) == 1 ? 0 : 1);
    }
    close(p[0]);
    SHOW(close(s1));
    int s2 = accept(l, NULL, NULL);
    pid_t b = fork();
    if (b == 0)
        _exit(write(s2, "b", 1) == 1 && close(s2) == 0 ? 0 : 1);
    SHOW(close(s2));
    SHOWV(read_to_eof(c2, buf, sizeof(buf)));
    printf("second child exit %d\n", child_status(b));
    go(p[1]);
    SHOWV(read_to_eof(c1, buf, sizeof(buf)));
    printf("first child exit %d\n", child_status(a));
    close(p[1]);
    close(c1);
    close(c2);
}

/* The same with many connections waiting (more than the preload's
 * listener queue holds: the rest were accepted ahead by its backend):
 * while the first child lives, every later one's close() is its EOF. */
#define MANY 40
static void many_waiting(void)
{
    char buf[64];
    struct sockaddr_in la = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t ll = sizeof(la);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    if (bind(l, (struct sockaddr *)&la, sizeof(la)) < 0 || listen(l, 128) < 0 ||
        getsockname(l, (struct sockaddr *)&la, &ll) < 0)
        die("listener");
    /* in use before the burst (under the preload a listener's first use
     * hands it to the datapath; that is not what this case is about) */
    SHOW(wait_for(l, POLLIN, 0));
    int c[MANY], eofs = 0;
    for (int i = 0; i < MANY; i++)
        c[i] = connect_to(&la, 0);
    ms_sleep(100);
    int p[2];
    if (pipe(p) < 0)
        die("pipe");
    int s = accept(l, NULL, NULL);
    pid_t a = fork();
    if (a == 0) {
        close(p[1]);
        await(p[0]);
        _exit(write(s, "a", 1) == 1 ? 0 : 1);
    }
    close(p[0]);
    close(s);
    for (int i = 1; i < MANY; i++) {
        s = accept(l, NULL, NULL);
        pid_t b = fork();
        if (b == 0)
            _exit(write(s, "b", 1) == 1 && close(s) == 0 ? 0 : 1);
        close(s);
        if (child_status(b) == 0 && read_to_eof(c[i], buf, sizeof(buf)) == 1)
            eofs++;
    }
    printf("%d of %d later connections closed while the first child lives\n", eofs, MANY - 1);
    go(p[1]);
    SHOWV(read_to_eof(c[0], buf, sizeof(buf)));
    printf("first child exit %d\n", child_status(a));
    close(p[1]);
    for (int i = 0; i < MANY; i++)
        close(c[i]);
    close(l);
}

/* The parent closes a connection whose data is still on its way, then
 * forks: the child must not hold the FIN that follows the data back. */
static void closed_with_data_then_fork(int l, const struct sockaddr_in *la)
{
    static char big[1 << 16];
    int c = connect_to(la, 0);
    int s = accept(l, NULL, NULL);
    fcntl(s, F_SETFL, O_NONBLOCK);
    long sent = 0, w;
    while (sent < (64L << 20) && (w = write(s, big, sizeof(big))) > 0)
        sent += w;
    printf("filled until %s\n", sent > 0 && errno == EAGAIN ? "EAGAIN" : "?");
    SHOW(close(s));
    int p[2];
    if (pipe(p) < 0)
        die("pipe");
    pid_t k = fork();
    if (k == 0) {
        close(p[1]);
        await(p[0]);
        _exit(0);
    }
    close(p[0]);
    long got = 0, r;
    while (wait_for(c, POLLIN, 3000) && (r = read(c, big, sizeof(big))) > 0)
        got += r;
    printf("all bytes then EOF while the child lives: %s\n", got == sent && r == 0 ? "yes" : "no");
    go(p[1]);
    printf("child exit %d\n", child_status(k));
    close(p[1]);
    close(c);
}

static void read_before_fork(int l, const struct sockaddr_in *la)
{
    char buf[64];
    int c = connect_to(la, 0);
    int s = accept(l, NULL, NULL);
    SHOWV(write(c, "HEADrest", 8));
    /* both parts arrive together; the parent reads the first only */
    while (wait_for(s, POLLIN, 5000) && recv(s, buf, 8, MSG_PEEK) < 8)
        ms_sleep(1);
    SHOWV(read_full(s, buf, 4));
    int p[2];
    if (pipe(p) < 0)
        die("pipe");
    pid_t k = fork();
    if (k == 0) {
        close(p[1]);
        await(p[0]);
        if (read_full(s, buf, 4) != 4 || memcmp(buf, "rest", 4) != 0)
            _exit(1);
        if (write(s, "ok", 2) != 2)
            _exit(2);
        _exit(0);
    }
    close(p[0]);
    SHOW(close(s));
    go(p[1]);
    SHOWV(read_to_eof(c, buf, sizeof(buf)));
    printf("got '%.2s' then EOF\n", buf);
    printf("child exit %d\n", child_status(k));
    close(p[1]);
    close(c);
}

static void inetd_cat(int l, const struct sockaddr_in *la)
{
    char buf[64];
    int c = connect_to(la, 0);
    int s = accept(l, NULL, NULL);
    pid_t k = fork();
    if (k == 0) {
        dup2(s, 0);
        dup2(s, 1);
        close(s);
        close(l);
        execl("/bin/cat", "cat", (char *)NULL);
        _exit(2);
    }
    SHOW(close(s));
    SHOWV(write(c, "hello cat\n", 10));
    SHOW(shutdown(c, SHUT_WR));
    SHOWV(read_to_eof(c, buf, sizeof(buf)));
    printf("got '%.9s' then EOF\n", buf);
    printf("cat exit %d\n", child_status(k));
    close(c);
}

static void cgi_exec(int l, const struct sockaddr_in *la)
{
    char buf[64];
    int c = connect_to(la, 0);
    int s = accept(l, NULL, NULL);
    SHOWV(write(c, "HEADbody", 8));
    pid_t k = fork();
    if (k == 0) {
        /* the head here, the body for the program: under the preload this
         * read hands the connection to the child's datapath, which takes
         * the body too */
        while (wait_for(s, POLLIN, 5000) && recv(s, buf, 8, MSG_PEEK) < 8)
            ms_sleep(1);
        if (read_full(s, buf, 4) != 4 || memcmp(buf, "HEAD", 4) != 0)
            _exit(1);
        dup2(s, 0);
        dup2(s, 1);
        close(s);
        close(l);
        execl("/proc/self/exe", "diff_fork_conn", "cgi", (char *)NULL);
        _exit(2);
    }
    SHOW(close(s));
    SHOWV(read_to_eof(c, buf, sizeof(buf)));
    printf("got '%.9s' then EOF\n", buf);
    printf("cgi exit %d\n", child_status(k));
    close(c);
}

static void udp_inherited(void)
{
    char buf[64];
    int r = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in ra = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t rl = sizeof(ra);
    if (bind(r, (struct sockaddr *)&ra, sizeof(ra)) < 0 || getsockname(r, (struct sockaddr *)&ra, &rl) < 0)
        die("udp bind");
    /* the receiver in use before anything is sent to it (the preload drops
     * what its placeholder got before: not what this test is about) */
    SHOW(recv(r, buf, sizeof(buf), MSG_DONTWAIT));
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    SHOW(connect(u, (struct sockaddr *)&ra, sizeof(ra)));
    SHOWV(send(u, "m0", 2, 0)); /* the parent uses it first */
    SHOWV(recv(r, buf, sizeof(buf), 0));
    pid_t k = fork();
    if (k == 0)
        _exit(send(u, "from-child", 10, 0) == 10 ? 0 : 1);
    printf("child exit %d\n", child_status(k));
    if (!wait_for(r, POLLIN, 5000))
        printf("nothing from the child\n");
    long n = SHOWV(recv(r, buf, sizeof(buf), MSG_DONTWAIT));
    printf("got '%.*s'\n", (int)(n > 0 ? n : 0), buf);
    SHOWV(send(u, "m2", 2, 0));
    n = SHOWV(recv(r, buf, sizeof(buf), 0));
    printf("got '%.*s'\n", (int)(n > 0 ? n : 0), buf);
    close(u);
    close(r);
}

int main(int argc, char **argv)
{
    struct sockaddr_in la;

    if (argc > 1 && strcmp(argv[1], "cgi") == 0)
        return cgi_helper();
    setvbuf(stdout, NULL, _IOLBF, 0); /* what it got to, if the alarm ends it */
    alarm(50);
    int l = listener(&la, 0);
    printf("-- fork per connection\n");
    fork_per_connection(l, &la);
    printf("-- both keep it\n");
    both_keep(l, &la);
    printf("-- a sibling holds nothing of the next connection\n");
    sibling_holds_nothing(l, &la);
    printf("-- ... with many connections waiting\n");
    many_waiting();
    printf("-- closed with data on its way, then fork\n");
    closed_with_data_then_fork(l, &la);
    printf("-- read before fork\n");
    read_before_fork(l, &la);
    printf("-- inetd: /bin/cat on stdin and stdout\n");
    inetd_cat(l, &la);
    printf("-- cgi: exec after reading the head\n");
    cgi_exec(l, &la);
    printf("-- inherited udp\n");
    udp_inherited();
    close(l);
    return 0;
}
