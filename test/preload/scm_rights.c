/* SPDX-License-Identifier: MIT */
/* Passes a connection over a unix socket (SCM_RIGHTS), as a server that
 * hands connections to another process does; scm-rights.sh checks that
 * the preload says, once, that an offloaded socket cannot go that way. */
#include <sys/un.h>
#include "diff.h"

int main(void)
{
    int l, c, s, pair[2];
    tcp_conn(&l, &c, &s);
    if (write(c, "x", 1) != 1 || socketpair(AF_UNIX, SOCK_STREAM, 0, pair) < 0)
        die("setup");
    char b;
    if (read(s, &b, 1) != 1) /* the connection is in use: the datapath's */
        die("read");
    SHOWV(send_fd_over(pair[0], s));
    SHOWV(send_fd_over(pair[0], s)); /* logged once */
    close(pair[0]), close(pair[1]), close(c), close(s), close(l);
    return 0;
}
