/* SPDX-License-Identifier: MIT */
/* Differential: splice between an offloaded connection and a pipe, both
 * ways, and what Linux refuses: no pipe on either side (EINVAL), an
 * offset on the socket (EINVAL), tee on a socket (EINVAL), a
 * splice from a non-blocking socket with nothing there (EAGAIN), and one
 * into a non-blocking socket with no room (EAGAIN: the pipe keeps its
 * bytes; the preload once read them and waited). Unhooked, splice
 * worked on the placeholder, which never gets a byte. */
#include <sys/ioctl.h>
#include "diff.h"

int main(void)
{
    alarm(20);
    int l, c, s;
    tcp_conn(&l, &c, &s);
    int p[2];
    if (pipe(p) < 0)
        die("pipe");
    char buf[64];

    /* socket -> pipe */
    SHOWV(write(c, "from the peer", 13));
    wait_for(s, POLLIN, 2000);
    SHOWV(splice(s, NULL, p[1], NULL, 1000, 0));
    long n = SHOWV(read(p[0], buf, sizeof(buf)));
    printf("pipe got \"%.*s\"\n", (int)(n > 0 ? n : 0), buf);
    /* SPLICE_F_NONBLOCK is the pipe's: the socket's O_NONBLOCK decides */
    fcntl(s, F_SETFL, O_NONBLOCK);
    SHOW(splice(s, NULL, p[1], NULL, 1000, 0));
    fcntl(s, F_SETFL, 0);

    /* pipe -> socket */
    SHOWV(write(p[1], "to the peer", 11));
    SHOWV(splice(p[0], NULL, s, NULL, 1000, 0));
    n = SHOWV(read_full(c, buf, 11));
    printf("peer got \"%.*s\"\n", (int)(n > 0 ? n : 0), buf);

    /* pipe -> a non-blocking socket with no room: EAGAIN, and the pipe
     * keeps its bytes; once the peer reads, they go. The socket is filled
     * again 50 ms later until a round finds no room at all, so that no
     * ACK frees room meanwhile (under the preload a send queued in the
     * ring completes when the kernel takes it, which a loaded machine can
     * delay past one round: seen once in a full test run). */
    fcntl(s, F_SETFL, O_NONBLOCK);
    static char big[65536], sink[65536];
    long filled = 0, w = 0;
    int err = 0;
    for (int round = 0; round < 40; round++) {
        long before = filled;
        while ((w = send(s, big, sizeof(big), 0)) > 0)
            filled += w;
        err = w < 0 ? errno : 0;
        if (round > 0 && filled == before)
            break;
        ms_sleep(50);
    }
    printf("send until full -> %s\n", err ? ename(err) : "0");
    SHOWV(write(p[1], "queued", 6));
    SHOW(splice(p[0], NULL, s, NULL, 1000, 0));
    int avail = -1;
    ioctl(p[0], FIONREAD, &avail);
    printf("pipe holds %d\n", avail);
    for (long got = 0; got < filled;) {
        wait_for(c, POLLIN, 2000);
        long r = read(c, sink, (size_t)(filled - got < (long)sizeof(sink) ? filled - got : (long)sizeof(sink)));
        if (r <= 0)
            die("read the filled bytes");
        got += r;
    }
    wait_for(s, POLLOUT, 2000);
    SHOWV(splice(p[0], NULL, s, NULL, 1000, 0));
    n = SHOWV(read_full(c, buf, 6));
    printf("peer got \"%.*s\"\n", (int)(n > 0 ? n : 0), buf);
    fcntl(s, F_SETFL, 0);

    /* a blocking splice waits for the peer's bytes */
    pid_t k = fork();
    if (k == 0) {
        ms_sleep(100);
        _exit(write(c, "later", 5) == 5 ? 0 : 1);
    }
    SHOWV(splice(s, NULL, p[1], NULL, 1000, 0));
    n = SHOWV(read(p[0], buf, sizeof(buf)));
    printf("pipe got \"%.*s\"\n", (int)(n > 0 ? n : 0), buf);
    int st;
    waitpid(k, &st, 0);

    /* what Linux refuses */
    int q[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, q);
    SHOW(splice(s, NULL, q[0], NULL, 10, SPLICE_F_NONBLOCK));
    loff_t off = 0;
    SHOW(splice(s, &off, p[1], NULL, 10, SPLICE_F_NONBLOCK));
    SHOW(splice(p[0], NULL, s, &off, 10, SPLICE_F_NONBLOCK));
    SHOW(tee(s, p[1], 10, SPLICE_F_NONBLOCK));
    SHOW(tee(p[0], s, 10, SPLICE_F_NONBLOCK));

    /* the peer closes: splice reads the end (0) */
    close(c);
    wait_for(s, POLLIN, 2000);
    SHOWV(splice(s, NULL, p[1], NULL, 1000, 0));
    close(q[0]);
    close(q[1]);
    close(p[0]);
    close(p[1]);
    close(s);
    close(l);
    return 0;
}
