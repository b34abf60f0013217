/* SPDX-License-Identifier: MIT */
/*
 * Differential: a send after the peer has gone. The peer, another
 * process, closes its end; the server sends one byte (Linux takes it: the
 * peer only finished sending), the peer's kernel answers that byte with a
 * reset, and the server's next send fails at once with EPIPE (and
 * SIGPIPE without MSG_NOSIGNAL), as does every send after it. A server
 * that learns it a call late writes a reply into a connection that is
 * gone and takes the failure for the next one. Once with the server never
 * having read (it has not seen the FIN), once after reading the end.
 */
#include <signal.h>
#include <stdbool.h>
#include "diff.h"

static volatile sig_atomic_t pipes;

static void on_pipe(int sig)
{
    (void)sig;
    pipes++;
}

static void one(const char *how, bool read_end)
{
    /* The peer forks first and learns the port over a pipe: a listener
     * shared with it would make the server's connection one adopted from
     * the kernel, which posts no receive while it only writes (it may be
     * another process's to read, shim/README.md). */
    int pp[2];
    if (pipe(pp) < 0)
        die("pipe");
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        struct sockaddr_in pa;
        close(pp[1]);
        if (read(pp[0], &pa, sizeof(pa)) != (ssize_t)sizeof(pa))
            _exit(1);
        int c = connect_to(&pa, 0);
        ms_sleep(100);
        close(c);
        _exit(0);
    }
    close(pp[0]);
    struct sockaddr_in la;
    int l = listener(&la, 0);
    if (write(pp[1], &la, sizeof(la)) != (ssize_t)sizeof(la))
        die("write");
    close(pp[1]);
    int s = accept(l, NULL, NULL);
    if (s < 0)
        die("accept");
    waitpid(pid, NULL, 0);
    ms_sleep(200); /* the peer's FIN is here */
    printf("%s\n", how);
    char b[8];
    if (read_end)
        SHOWV(read(s, b, sizeof(b)));
    SHOWV(send(s, "1", 1, MSG_NOSIGNAL));
    ms_sleep(200); /* the peer's reset is here */
    SHOWV(send(s, "2", 1, MSG_NOSIGNAL));
    SHOWV(send(s, "3", 1, MSG_NOSIGNAL));
    pipes = 0;
    SHOWV(write(s, "4", 1));
    printf("SIGPIPE %d\n", (int)pipes);
    SHOWV(read(s, b, sizeof(b)));
    close(s);
    close(l);
}

int main(void)
{
    signal(SIGPIPE, on_pipe);
    one("not read", false);
    one("end read", true);
    return 0;
}
