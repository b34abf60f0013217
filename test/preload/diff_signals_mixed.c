/* SPDX-License-Identifier: MIT */
/* Differential: Linux decides restart-or-EINTR per signal. Two handlers
 * are caught, SIGUSR1 with SA_RESTART and SIGUSR2 without. A thread
 * blocked in recv/accept on an offloaded socket goes on after SIGUSR1 and
 * fails with EINTR after SIGUSR2; with SO_RCVTIMEO even SIGUSR1 gives
 * EINTR; epoll_wait fails with EINTR after either. Another thread sends
 * the signals to the blocked one (pthread_kill) at fixed times. */
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/time.h>
#include "diff.h"

static volatile sig_atomic_t got1, got2;
static void on_usr1(int s) { (void)s; got1++; }
static void on_usr2(int s) { (void)s; got2++; }

static pthread_t target;
static int seq[4]; /* signals to send, 0 ends */
static int data_fd = -1; /* write a byte here after the signals, if >= 0 */

static void *signaller(void *arg)
{
    (void)arg;
    for (int i = 0; seq[i]; i++) {
        ms_sleep(100);
        pthread_kill(target, seq[i]);
    }
    if (data_fd >= 0) {
        ms_sleep(100);
        if (write(data_fd, "x", 1) != 1)
            die("write");
    }
    return NULL;
}

static void start(pthread_t *t, int a, int b, int fd)
{
    got1 = got2 = 0;
    seq[0] = a;
    seq[1] = b;
    seq[2] = 0;
    data_fd = fd;
    target = pthread_self();
    pthread_create(t, NULL, signaller, NULL);
}

static void report(pthread_t t)
{
    /* what had run when the call returned decides the line */
    printf("  handlers at return: usr1 %d usr2 %d\n", got1, got2);
    pthread_join(t, NULL);
}

int main(void)
{
    alarm(20);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = on_usr2;
    sa.sa_flags = 0;
    sigaction(SIGUSR2, &sa, NULL);

    /* the application sees its own handler and flags */
    struct sigaction o;
    sigaction(SIGUSR1, NULL, &o);
    printf("SIGUSR1: own handler %d, SA_RESTART %d, SA_SIGINFO %d\n", o.sa_handler == on_usr1,
           !!(o.sa_flags & SA_RESTART), !!(o.sa_flags & SA_SIGINFO));

    struct sockaddr_in la;
    char buf[8];
    pthread_t t;
    int l = listener(&la, 0);
    /* a poll of the listener hands it over (a no-op on the kernel): the
     * connection is the datapath's, not one the kernel accepted before */
    struct pollfd lp = { .fd = l, .events = POLLIN };
    poll(&lp, 1, 0);
    int c = connect_to(&la, 0);
    int s = accept(l, NULL, NULL);

    start(&t, SIGUSR1, SIGUSR2, -1);
    SHOW(recv(s, buf, sizeof(buf), 0));
    report(t);

    start(&t, SIGUSR1, 0, c);
    SHOWV(recv(s, buf, sizeof(buf), 0));
    report(t);

    start(&t, SIGUSR1, SIGUSR2, -1);
    SHOW(accept(l, NULL, NULL));
    report(t);

    struct timeval tv = { 5, 0 };
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    start(&t, SIGUSR1, 0, -1);
    SHOW(recv(s, buf, sizeof(buf), 0));
    report(t);

    int ep = epoll_create1(0);
    struct epoll_event e = { .events = EPOLLIN, .data.u32 = 1 };
    epoll_ctl(ep, EPOLL_CTL_ADD, s, &e);
    start(&t, SIGUSR1, 0, -1);
    SHOW(epoll_wait(ep, &e, 1, 5000));
    report(t);

    /* signal(): BSD semantics, SA_RESTART unless siginterrupt() */
    signal(SIGUSR2, on_usr2);
    tv.tv_sec = 0;
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    start(&t, SIGUSR2, 0, c);
    SHOWV(recv(s, buf, sizeof(buf), 0));
    report(t);

    close(ep);
    close(s);
    close(c);
    close(l);
    return 0;
}
