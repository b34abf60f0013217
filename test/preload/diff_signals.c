/* SPDX-License-Identifier: MIT */
/* Differential: signals and blocking socket calls. A handler without
 * SA_RESTART interrupts a blocking read/accept with EINTR; with SA_RESTART
 * the call is restarted and completes; epoll_wait is always interrupted. */
#include <sys/epoll.h>
#include <sys/time.h>
#include "diff.h"

static volatile sig_atomic_t fired;
static void on_alarm(int s) { (void)s; fired++; }

static void arm(int restart, int ms)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = { .it_value = { 0, ms * 1000 } };
    setitimer(ITIMER_REAL, &it, NULL);
}

int main(void)
{
    struct sockaddr_in la;
    char buf[8];
    int l = listener(&la, 0);
    int c = connect_to(&la, 0);
    int s = accept(l, NULL, NULL);

    fired = 0;
    arm(0, 50);
    SHOW(read(s, buf, sizeof(buf)));
    printf("handler ran %d\n", fired);

    fired = 0;
    arm(0, 50);
    SHOW(accept(l, NULL, NULL));
    printf("handler ran %d\n", fired);

    /* SA_RESTART: accept goes on and gets the connection a child makes
     * later (the child uses a socket of its own) */
    pid_t k = fork();
    if (k == 0) {
        ms_sleep(200);
        int c3 = connect_to(&la, 0);
        long w = write(c3, "late", 4);
        ms_sleep(100);
        close(c3);
        _exit(w == 4 ? 0 : 1);
    }
    fired = 0;
    arm(1, 50);
    int s3 = accept(l, NULL, NULL);
    show("accept (SA_RESTART)", s3);
    printf("handler ran %d\n", fired);
    SHOWV(read_full(s3, buf, 4));
    int st = -1;
    waitpid(k, &st, 0);
    printf("child exit %d\n", WEXITSTATUS(st));
    close(s3);

    int ep = epoll_create1(0);
    struct epoll_event e = { .events = EPOLLIN, .data.u32 = 1 };
    epoll_ctl(ep, EPOLL_CTL_ADD, s, &e);
    fired = 0;
    arm(1, 50);
    SHOW(epoll_wait(ep, &e, 1, 2000));
    printf("handler ran %d\n", fired);
    close(ep);
    close(s);
    close(c);
    close(l);
    return 0;
}
