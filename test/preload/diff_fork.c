/* SPDX-License-Identifier: MIT */
/* Differential: processes. (1) nginx-style: bind+listen, fork two workers
 * that each accept and serve; (2) Redis-style: a child closes its copies of
 * the parent's connection and listener, the parent keeps serving; (3) a
 * listener already in use before fork keeps working in the parent; (4)
 * exec: CLOEXEC sockets vanish, data written before exec arrives. */
#include <sys/epoll.h>
#include "diff.h"

static void worker(int l)
{
    int ep = epoll_create1(0);
    struct epoll_event e = { .events = EPOLLIN, .data.fd = l };
    epoll_ctl(ep, EPOLL_CTL_ADD, l, &e);
    for (int served = 0; served < 50;) {
        struct epoll_event got;
        int n = epoll_wait(ep, &got, 1, 3000);
        if (n <= 0)
            break;
        int s = accept4(l, NULL, NULL, 0);
        if (s < 0)
            continue;
        char buf[16];
        long r = read_full(s, buf, 4);
        if (r == 4 && write(s, buf, 4) == 4)
            served++;
        close(s);
    }
    _exit(0);
}

int main(int argc, char **argv)
{
    struct sockaddr_in la;
    char buf[16];
    int st;

    if (argc > 2 && strcmp(argv[1], "exec-child") == 0) {
        /* (4) the exec'd program: only the pipe it was given */
        printf("exec child: fd %s valid %d\n", "cloexec", fcntl(atoi(argv[2]), F_GETFD) >= 0);
        return 0;
    }

    /* (1) prefork */
    int l = listener(&la, SOCK_NONBLOCK);
    pid_t w[2];
    for (int i = 0; i < 2; i++)
        if ((w[i] = fork()) == 0)
            worker(l);
    int ok = 0;
    for (int i = 0; i < 20; i++) {
        int c = connect_to(&la, 0);
        char msg[4] = { 'r', 'q', (char)('a' + i), '!' };
        if (write(c, msg, 4) == 4 && read_full(c, buf, 4) == 4 && memcmp(buf, msg, 4) == 0)
            ok++;
        close(c);
    }
    printf("prefork: %d of 20 requests served\n", ok);
    for (int i = 0; i < 2; i++) {
        kill(w[i], SIGTERM);
        waitpid(w[i], &st, 0);
    }
    close(l);

    /* (2) child closes its copies; the parent's connection is untouched */
    l = listener(&la, 0);
    int c = connect_to(&la, 0);
    int s = accept(l, NULL, NULL);
    SHOWV(write(c, "ping", 4));
    SHOWV(read_full(s, buf, 4));
    pid_t k = fork();
    if (k == 0) {
        close(s);
        close(c);
        close(l);
        _exit(7);
    }
    waitpid(k, &st, 0);
    printf("child exit %d\n", WEXITSTATUS(st));
    SHOWV(write(s, "pong", 4));
    SHOWV(read_full(c, buf, 4));
    printf("got '%.4s'\n", buf);
    int c2 = connect_to(&la, 0);
    int s2 = accept(l, NULL, NULL);
    show("accept after fork", s2);
    SHOWV(write(c2, "more", 4));
    SHOWV(read_full(s2, buf, 4));
    close(c2);
    close(s2);

    /* (4) exec: the data written just before exec arrives */
    k = fork();
    if (k == 0) {
        if (write(s, "bye!", 4) != 4)
            _exit(1);
        int p = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        char fdtxt[16];
        snprintf(fdtxt, sizeof(fdtxt), "%d", p);
        execl("/proc/self/exe", argv[0], "exec-child", fdtxt, (char *)NULL);
        _exit(2);
    }
    waitpid(k, &st, 0);
    printf("exec child exit %d\n", WEXITSTATUS(st));
    close(s);
    close(c);
    close(l);
    return 0;
}
