/* SPDX-License-Identifier: MIT */
/*
 * Differential: a connection handed to another process over a unix
 * socket (SCM_RIGHTS), as Node.js's cluster primary hands each accepted
 * connection to a worker (its default, round-robin), or a prefork
 * server's acceptor does. The parent accepts, passes the connection
 * untouched and closes its copy; the worker serves it. The worker gets
 * the connection itself (the file, with its O_NONBLOCK), and so does the
 * parent's fd until it closes it. Under the preload the datapath had
 * taken nothing of it yet, so it is the kernel's again: before, the
 * worker got an unconnected placeholder.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <sys/un.h>
#include <sys/wait.h>
#include "diff.h"

static int take_fd(int via)
{
    char ctl[CMSG_SPACE(sizeof(int))], b;
    struct iovec iov = { &b, 1 };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl) };
    if (recvmsg(via, &m, 0) != 1)
        return -1;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    int fd = -1;
    if (cm && cm->cmsg_type == SCM_RIGHTS)
        memcpy(&fd, CMSG_DATA(cm), sizeof(int));
    return fd;
}

/* The worker: serves each connection it is given (its reply says what
 * it found: the bytes, and O_NONBLOCK); only the parent prints. */
static void worker(int via)
{
    for (int i = 0; i < 2; i++) {
        int fd = take_fd(via);
        if (fd < 0)
            _exit(2);
        int fl = fcntl(fd, F_GETFL);
        bool nb = fl >= 0 && (fl & O_NONBLOCK);
        if (nb)
            fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
        char b[8] = { 0 }, reply[16];
        if (read_full(fd, b, 4) != 4)
            _exit(3);
        snprintf(reply, sizeof(reply), "pong:%s:nb%d", b, nb);
        if (write(fd, reply, 13) != 13)
            _exit(4);
        close(fd);
    }
    _exit(0);
}

int main(void)
{
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) < 0)
        die("socketpair");
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        close(sp[0]);
        worker(sp[1]);
    }
    close(sp[1]);
    struct sockaddr_in la;
    int l = listener(&la, 0);
    struct pollfd lp = { .fd = l, .events = POLLIN };
    poll(&lp, 1, 0); /* the listener is the datapath's */
    for (int i = 0; i < 2; i++) {
        int c = connect_to(&la, 0);
        int s = accept4(l, NULL, NULL, i ? SOCK_NONBLOCK : 0);
        if (s < 0)
            die("accept");
        if (send_fd_over(sp[0], s) != 1)
            die("sendmsg");
        struct sockaddr_in pa;
        socklen_t pl = sizeof(pa);
        SHOWV(getpeername(s, (struct sockaddr *)&pa, &pl)); /* still the connection here */
        SHOWV(close(s));
        SHOWV(write(c, "ping", 4));
        char b[16] = { 0 };
        SHOWV(read_full(c, b, 13));
        printf("client: '%s'\n", b);
        fflush(stdout);
        close(c);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    printf("worker exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    close(l);
    return 0;
}
