/* SPDX-License-Identifier: MIT */
/*
 * Differential: closing a listener resets the connections in its accept
 * queue (inet_csk_listen_stop), so their clients' reads fail with
 * ECONNRESET instead of reading an orderly end. Under the preload a
 * datapath accepts ahead of the application (io_uring's multishot
 * accept, our TCP's accept queue): those connections, never accepted by
 * the application, must be reset too. A connection the application did
 * accept lives on; a new one is refused.
 */
#include "diff.h"

int main(void)
{
    int l, c0, s0;
    tcp_conn(&l, &c0, &s0);
    struct sockaddr_in la;
    socklen_t al = sizeof(la);
    getsockname(l, (struct sockaddr *)&la, &al);
    int c1 = connect_to(&la, 0), c2 = connect_to(&la, 0);
    SHOWV(send(c1, "q", 1, 0)); /* queued with bytes, or not */
    ms_sleep(100);              /* (the datapath's accept ahead has run) */
    SHOWV(close(l));
    ms_sleep(100);
    char b[8];
    SHOWV(recv(c1, b, sizeof(b), 0));
    SHOWV(recv(c2, b, sizeof(b), 0));
    SHOWV(send(c0, "alive", 5, 0));
    SHOWV(read_full(s0, b, 5));
    int c3 = socket(AF_INET, SOCK_STREAM, 0);
    SHOWV(connect(c3, (struct sockaddr *)&la, sizeof(la)));
    close(c0);
    close(c1);
    close(c2);
    close(c3);
    close(s0);
    return 0;
}
