/* SPDX-License-Identifier: MIT */
/* Differential: shutdown(2) of a listener wakes an accept blocked on it in
 * another thread with EINVAL, and every accept after it fails the same
 * way (Linux); another listener of the process accepts as before (under
 * uring the first EINVAL was taken for a kernel that refuses multishot
 * accepts, and turned them off for every listener). */
#include "diff_thread.h"

static int lfd;
static int accept_errno;

static void *acceptor(void *arg)
{
    (void)arg;
    int r = accept(lfd, NULL, NULL);
    accept_errno = r < 0 ? errno : 0;
    return NULL;
}

int main(void)
{
    dt_watchdog(30);
    struct sockaddr_in la, lb;
    lfd = dt_listener(&la, 0, 16);
    int l2 = dt_listener(&lb, 0, 16);

    dt_set_phase("accept blocked, then shutdown");
    pthread_t t;
    if (pthread_create(&t, NULL, acceptor, NULL) != 0)
        die("pthread_create");
    ms_sleep(100);
    SHOW(shutdown(lfd, SHUT_RDWR));
    pthread_join(t, NULL);
    printf("blocked accept: %s\n", accept_errno ? ename(accept_errno) : "ok");
    SHOW(accept(lfd, NULL, NULL));
    SHOW(accept4(lfd, NULL, NULL, SOCK_NONBLOCK));

    dt_set_phase("the other listener");
    for (int i = 0; i < 3; i++) {
        int c = connect_to(&lb, 0);
        int s = accept(l2, NULL, NULL);
        printf("other listener, connection %d: %s\n", i, s >= 0 ? "accepted" : ename(errno));
        char b = 0;
        if (s >= 0 && write(c, "k", 1) == 1 && read(s, &b, 1) == 1)
            printf("  byte '%c'\n", b);
        close(c);
        if (s >= 0)
            close(s);
    }
    close(lfd), close(l2);
    return 0;
}
