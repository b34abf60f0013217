/* SPDX-License-Identifier: MIT */
/*
 * Differential: close() of a TCP socket that has received data the
 * application did not read. Linux resets the connection (RFC 2525 2.17,
 * tcp_close's data_was_unread) instead of sending a FIN: the peer's next
 * recv gives ECONNRESET (then 0), a send after that EPIPE - or, when the
 * peer sends first, the send gives ECONNRESET. A server that read
 * everything closes with a FIN (recv gives 0), and so does one that shared
 * the connection with a forked child: the parent's close of its copy
 * (bytes unread there) does not close the connection, the child's does.
 * Bytes that arrived while the server made no socket call are unread too,
 * wherever they wait: under the preload with io_uring, in a receive's
 * completion that nobody took from the ring yet.
 *
 * Prints each of the peer's calls and its errno's name. With an argument,
 * "landed", only that last case.
 */
#include "diff_thread.h"

#define BIG (4u << 20)

static uint8_t *buf;

/* Waits until the reset (or FIN) has reached fd: it is readable then. */
static void wait_end(int fd)
{
    if (!wait_for(fd, POLLIN, 5000))
        die("the peer's close never arrived");
}

/* s has received what c sent: it polls readable. */
static void wait_received(int s)
{
    if (!wait_for(s, POLLIN, 5000))
        die("the data never arrived");
}

static void print_call(const char *what, ssize_t r)
{
    if (r < 0)
        printf("  %-22s -> -1 %s\n", what, ename(errno));
    else
        printf("  %-22s -> %zd\n", what, r);
}

/* The peer reads first: recv, recv, send. */
static void peer_reads(int c)
{
    char b[16];
    wait_end(c);
    print_call("recv", recv(c, b, sizeof(b), 0));
    print_call("recv again", recv(c, b, sizeof(b), 0));
    print_call("send", send(c, "x", 1, MSG_NOSIGNAL));
}

/* The peer writes first (a client that sends its next command): send,
 * send, recv. */
static void peer_writes(int c)
{
    char b[16];
    wait_end(c);
    print_call("send", send(c, "x", 1, MSG_NOSIGNAL));
    print_call("send again", send(c, "x", 1, MSG_NOSIGNAL));
    print_call("recv", recv(c, b, sizeof(b), 0));
}

/* The server receives `n` bytes, reads `nread` of them and closes. */
static void small_case(const char *what, size_t nread, void (*peer)(int))
{
    int c, s;
    dt_set_phase(what);
    int lfd = dt_pair(&c, &s);
    if (dt_write_all(c, "hello", 5) < 0)
        die("send");
    wait_received(s);
    char b[8];
    if (nread && read_full(s, b, nread) != (long)nread)
        die("server read");
    printf("%s:\n", what);
    print_call("server close", close(s));
    peer(c);
    close(c);
    close(lfd);
}

/* The peer sends more than the server's side buffers (non-blocking, until
 * EAGAIN); the server reads none of it and closes. */
static void big_case(void)
{
    int c, s;
    dt_set_phase("4 MB unread");
    int lfd = dt_pair(&c, &s);
    fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK);
    size_t sent = 0;
    while (sent < BIG) {
        ssize_t r = send(c, buf + sent, BIG - sent, MSG_NOSIGNAL);
        if (r < 0 && errno == EAGAIN)
            break;
        if (r <= 0)
            die("send");
        sent += (size_t)r;
    }
    wait_received(s);
    ms_sleep(50); /* let the server's side take what it will */
    printf("4 MB sent, none read:\n");
    print_call("server close", close(s));
    fcntl(c, F_SETFL, fcntl(c, F_GETFL) & ~O_NONBLOCK);
    peer_reads(c);
    close(c);
    close(lfd);
}

/* Fork per connection: the parent had the request (unread) when it forked
 * and closes its copy at once; the child reads it, answers, closes. */
static void fork_case(void)
{
    int c, s;
    dt_set_phase("forked server");
    int lfd = dt_pair(&c, &s);
    if (dt_write_all(c, "hello", 5) < 0)
        die("send");
    wait_received(s);
    pid_t pid = fork();
    if (pid == 0) {
        char b[8];
        ms_sleep(100); /* after the parent's close */
        if (read_full(s, b, 5) != 5 || memcmp(b, "hello", 5) != 0 || dt_write_all(s, "world", 5) < 0)
            _exit(2);
        _exit(close(s) == 0 ? 0 : 3);
    }
    if (pid < 0)
        die("fork");
    printf("forked server, the parent closes with the request unread:\n");
    print_call("parent close", close(s));
    char b[8];
    print_call("read the answer", read_full(c, b, 5));
    print_call("recv", recv(c, b, sizeof(b), 0));
    int st = 0;
    waitpid(pid, &st, 0);
    printf("  child exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    close(c);
    close(lfd);
}

/* The peer of landed_case: sends, waits for "go" (pipe 0), sends again,
 * says so (pipe 1), and reads once the server closed (the second "go"). */
static void landed_peer(struct peer *p, void *arg)
{
    (void)arg;
    char t;
    int c = connect_to(&p->la, 0), go = p->pipes[0][0], sent = p->pipes[1][1];
    if (dt_write_all(c, "hello", 5) < 0 || read(go, &t, 1) != 1 || dt_write_all(c, "again", 5) < 0 ||
        write(sent, "s", 1) != 1 || read(go, &t, 1) != 1)
        _exit(2);
    peer_reads(c);
}

/* The peer (another process: none of its calls drives the server's
 * datapath) writes again once the server has read its first bytes; the
 * server makes no socket call until its close. The short sleep lets a
 * backend's receive complete (a receive that had not would leave the bytes
 * in the kernel, which resets the connection itself). */
static void landed_case(void)
{
    struct peer p;
    peer_start(&p, 2, landed_peer, NULL);
    int go = p.pipes[0][1], sent = p.pipes[1][0];
    dt_set_phase("unread bytes arrived with no socket call");
    char b[8], t;
    int s = accept(p.lfd, NULL, NULL);
    if (s < 0 || read_full(s, b, 5) != 5 || write(go, "g", 1) != 1 || read(sent, &t, 1) != 1)
        die("first bytes");
    ms_sleep(20);
    printf("5 bytes unread, arrived with no socket call since:\n");
    print_call("server close", close(s));
    fflush(stdout);
    if (write(go, "g", 1) != 1) /* the peer's lines after ours */
        die("pipe write");
    printf("  peer exit %d\n", peer_wait(&p));
}

int main(int argc, char **argv)
{
    dt_watchdog(40);
    if (argc > 1 && strcmp(argv[1], "landed") == 0) {
        landed_case();
        return 0;
    }
    buf = malloc(BIG);
    if (!buf)
        die("malloc");
    memset(buf, 'a', BIG);

    small_case("5 bytes unread, the peer reads", 0, peer_reads);
    small_case("5 bytes unread, the peer writes", 0, peer_writes);
    small_case("2 of 5 bytes read, the peer reads", 2, peer_reads);
    small_case("all read, the peer reads", 5, peer_reads);
    big_case();
    fork_case();
    landed_case();
    free(buf);
    return 0;
}
