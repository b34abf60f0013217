/* SPDX-License-Identifier: MIT */
/*
 * Differential: a server that sets a small SO_RCVBUF and does not read
 * must push back on its peer as Linux does. Linux buffers about the
 * doubled SO_RCVBUF on the receiving side (plus the sender's own send
 * buffer): a client that writes without blocking gets EAGAIN after a few
 * hundred KiB at most. The preload took up to DEMI_RCVBUF (1 MiB) from
 * the kernel whatever the application set.
 *
 * The client is this program exec'd without the preload (LD_PRELOAD
 * removed), so its side is the kernel's on both runs: what differs can
 * only be the server's receive side. It writes until EAGAIN (twice, with
 * a pause between: the datapath may take more meanwhile), reports the
 * total through a pipe, then the server reads everything and checks it.
 *
 * Prints the server's SO_RCVBUF as getsockopt reads it, whether the
 * client's total stayed under BOUND, and whether the server read exactly
 * those bytes in order.
 */
#include "diff_thread.h"

#define ID 5u
#define RCVBUF 16384
#define SNDBUF 16384
/* Measured with 16 KiB each side: Linux 56 KiB; the preload 88-96 KiB
 * (posix), 128 KiB (uring: its queue, the shim's, the kernel's); before
 * it followed SO_RCVBUF, 312 KiB (posix) and 2.2 MB (uring). */
#define BOUND (224u << 10)
#define MAX (16u << 20)

static uint8_t *buf;

static int client(int port, int out)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    /* a fixed send buffer: Linux would grow it up to 4 MB (tcp_wmem) */
    int c = socket(AF_INET, SOCK_STREAM, 0), sb = SNDBUF;
    if (c < 0 || setsockopt(c, SOL_SOCKET, SO_SNDBUF, &sb, sizeof(sb)) < 0 ||
        connect(c, (struct sockaddr *)&a, sizeof(a)) < 0)
        return 4;
    fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK);
    size_t sent = 0;
    int pauses = 0;
    while (sent < MAX && pauses < 2) {
        ssize_t r = send(c, buf + sent, MAX - sent < 65536 ? MAX - sent : 65536, MSG_NOSIGNAL);
        if (r < 0 && errno == EAGAIN) {
            pauses++;
            ms_sleep(200);
            continue;
        }
        if (r <= 0)
            return 2;
        sent += (size_t)r;
        pauses = 0;
    }
    uint64_t n = sent;
    if (write(out, &n, sizeof(n)) != sizeof(n))
        return 3;
    /* the server reads it all now: the end of the stream follows the data */
    fcntl(c, F_SETFL, fcntl(c, F_GETFL) & ~O_NONBLOCK);
    shutdown(c, SHUT_WR);
    char b;
    (void)!read(c, &b, 1); /* until the server closes */
    return 0;
}

int main(int argc, char **argv)
{
    dt_watchdog(40);
    buf = malloc(MAX);
    if (!buf)
        die("malloc");
    dt_fill(ID, 0, buf, MAX);
    if (argc == 4 && strcmp(argv[1], "client") == 0)
        return client(atoi(argv[2]), atoi(argv[3]));

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, rb = RCVBUF;
    if (lfd < 0)
        die("socket");
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof(rb)) < 0)
        die("SO_RCVBUF");
    struct sockaddr_in la = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t ll = sizeof(la);
    if (bind(lfd, (struct sockaddr *)&la, sizeof(la)) < 0 || listen(lfd, 4) < 0 ||
        getsockname(lfd, (struct sockaddr *)&la, &ll) < 0)
        die("bind/listen");
    dt_handover(lfd);

    int p[2];
    if (pipe(p) < 0)
        die("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        char port[16], fd[16];
        snprintf(port, sizeof(port), "%d", ntohs(la.sin_port));
        snprintf(fd, sizeof(fd), "%d", p[1]);
        unsetenv("LD_PRELOAD");
        execl("/proc/self/exe", argv[0], "client", port, fd, (char *)NULL);
        _exit(9);
    }
    if (pid < 0)
        die("fork");
    close(p[1]);
    int s = accept(lfd, NULL, NULL);
    if (s < 0)
        die("accept");
    int v = 0;
    socklen_t vl = sizeof(v);
    getsockopt(s, SOL_SOCKET, SO_RCVBUF, &v, &vl);
    printf("SO_RCVBUF %d set on the listener; the accepted socket reads %d\n", RCVBUF, v);

    /* An event loop that does not read this connection now (no interest
     * in its input) waits for something else: the client's report. */
    struct pollfd w[2] = { { .fd = p[0], .events = POLLIN }, { .fd = s, .events = 0 } };
    for (int i = 0; i < 100 && !(w[0].revents & (POLLIN | POLLHUP)); i++)
        poll(w, 2, 100);
    uint64_t sent = 0;
    if (read(p[0], &sent, sizeof(sent)) != sizeof(sent))
        die("the client failed");
    printf("a client that writes until EAGAIN: %s\n",
           sent < BOUND ? "pushed back under the bound" : "NOT pushed back (over the bound)");
    if (getenv("DIFF_RCVBUF_SHOW"))
        fprintf(stderr, "client wrote %llu bytes\n", (unsigned long long)sent);

    static uint8_t in[65536];
    uint64_t got = 0;
    long bad = -1, r;
    while ((r = recv(s, in, sizeof(in), 0)) > 0) {
        long k = dt_mismatch(ID, got, in, (size_t)r);
        if (k >= 0 && bad < 0)
            bad = (long)(got + (uint64_t)k);
        got += (uint64_t)r;
    }
    printf("the server read %s bytes the client wrote%s, then recv -> %s\n",
           got == sent ? "all the" : got < sent ? "FEWER than the" : "MORE than the", bad < 0 ? " in order" : " (WRONG bytes)",
           r == 0 ? "0" : ename(errno));
    close(s);
    int st = 0;
    waitpid(pid, &st, 0);
    printf("client exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    close(lfd);
    free(buf);
    return 0;
}
