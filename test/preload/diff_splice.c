/* SPDX-License-Identifier: MIT */
/* Differential: splice between an offloaded connection and a pipe, both
 * ways, and what Linux refuses: no pipe on either side (EINVAL), an
 * offset on the socket (EINVAL), tee on a socket (EINVAL), a
 * splice from a non-blocking socket with nothing there (EAGAIN). Unhooked, splice
 * worked on the placeholder, which never gets a byte. */
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
