/* SPDX-License-Identifier: MIT */
/*
 * Differential: fds closed and duplicated through syscall(2), as libuv
 * (Node.js) closes every fd: syscall(SYS_close, fd). The peer sees the
 * connection end; the number, reused by the next socket, names that
 * socket; a descriptor made by syscall(SYS_dup) or SYS_fcntl's F_DUPFD
 * is the same connection. Past the shim, the close had left the
 * connection open (the peer read nothing, and waited) and the number
 * taken for the closed connection.
 */
#include <fcntl.h>
#include <sys/syscall.h>
#include "diff.h"

int main(void)
{
    int l, c, s;
    tcp_conn(&l, &c, &s);
    char b[16];
    SHOWV(syscall(SYS_close, s));
    printf("peer sees the end at once %d\n", wait_for(c, POLLIN, 3000) > 0);
    SHOWV(recv(c, b, sizeof(b), MSG_DONTWAIT));
    close(c);

    struct sockaddr_in la;
    socklen_t al = sizeof(la);
    getsockname(l, (struct sockaddr *)&la, &al);
    int c2 = connect_to(&la, 0);
    int s2 = accept(l, NULL, NULL);
    printf("the number is reused %d\n", s2 == s);
    SHOWV(send(c2, "again", 5, 0));
    memset(b, 0, sizeof(b));
    SHOWV(read_full(s2, b, 5));
    printf("read '%s'\n", b);

    int d = (int)syscall(SYS_dup, s2);
    int f = (int)syscall(SYS_fcntl, s2, F_DUPFD_CLOEXEC, 100);
    SHOWV(d >= 0);
    SHOWV(f >= 100);
    SHOWV(write(d, "dup", 3));
    SHOWV(write(f, "fcn", 3));
    memset(b, 0, sizeof(b));
    SHOWV(read_full(c2, b, 6));
    printf("read '%s'\n", b);
    SHOWV(syscall(SYS_close, s2));
    SHOWV(syscall(SYS_close, d));
    SHOWV(send(c2, "x", 1, 0)); /* f still holds it */
    SHOWV(read_full(f, b, 1));
    SHOWV(syscall(SYS_close, f));
    printf("peer sees the end at once %d\n", wait_for(c2, POLLIN, 3000) > 0);
    SHOWV(recv(c2, b, sizeof(b), MSG_DONTWAIT));
    SHOWV(syscall(SYS_close, f)); /* EBADF */
    close(c2);
    close(l);
    return 0;
}
