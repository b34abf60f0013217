/* SPDX-License-Identifier: MIT */
/* Differential: poll, ppoll, select and pselect over sets that mix our
 * sockets with pipes; timeouts, POLLNVAL, EBADF. */
#include <sys/select.h>
#include "diff.h"

int main(void)
{
    struct sockaddr_in la;
    char buf[16];
    int l = listener(&la, 0);
    int c = connect_to(&la, 0);
    int s = accept(l, NULL, NULL);
    int p[2];
    if (pipe(p) < 0)
        die("pipe");

    struct pollfd f[5] = {
        { .fd = s, .events = POLLIN }, { .fd = p[0], .events = POLLIN },
        { .fd = c, .events = POLLOUT }, { .fd = -1, .events = POLLIN }, { .fd = 987, .events = POLLIN },
    };
    int n = poll(f, 5, 50);
    printf("poll n=%d revents %x %x %x %x %x\n", n, f[0].revents, f[1].revents, f[2].revents, f[3].revents, f[4].revents);
    f[4].fd = -1;
    f[2].events = 0;
    n = poll(f, 5, 50);
    printf("poll idle n=%d\n", n);
    if (write(c, "x", 1) != 1 || write(p[1], "y", 1) != 1)
        die("write");
    ms_sleep(20);
    n = poll(f, 5, 1000);
    printf("poll n=%d revents %x %x\n", n, f[0].revents, f[1].revents);
    struct timespec ts = { 1, 0 };
    sigset_t ss;
    sigemptyset(&ss);
    n = ppoll(f, 2, &ts, &ss);
    printf("ppoll n=%d revents %x %x\n", n, f[0].revents, f[1].revents);

    fd_set r, w;
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_SET(s, &r);
    FD_SET(p[0], &r);
    FD_SET(c, &w);
    int maxfd = s > c ? s : c;
    maxfd = maxfd > p[0] ? maxfd : p[0];
    struct timeval tv = { 1, 0 };
    n = select(maxfd + 1, &r, &w, NULL, &tv);
    printf("select n=%d s %d pipe %d c-writable %d\n", n, FD_ISSET(s, &r), FD_ISSET(p[0], &r), FD_ISSET(c, &w));
    SHOWV(read(s, buf, sizeof(buf)));
    SHOWV(read(p[0], buf, sizeof(buf)));
    FD_ZERO(&r);
    FD_SET(s, &r);
    FD_SET(p[0], &r);
    tv.tv_sec = 0;
    tv.tv_usec = 50000;
    n = select(maxfd + 1, &r, NULL, NULL, &tv);
    printf("select idle n=%d timeout left %ld\n", n, (long)tv.tv_sec + tv.tv_usec);
    struct timespec pts = { 0, 50000000 };
    FD_ZERO(&r);
    FD_SET(s, &r);
    n = pselect(s + 1, &r, NULL, NULL, &pts, &ss);
    printf("pselect idle n=%d\n", n);
    SHOW(close(c));
    FD_ZERO(&r);
    FD_SET(s, &r);
    tv.tv_sec = 1;
    n = select(s + 1, &r, NULL, NULL, &tv);
    printf("select after peer close n=%d readable %d\n", n, FD_ISSET(s, &r));
    SHOWV(read(s, buf, sizeof(buf)));
    struct pollfd hp = { .fd = s, .events = POLLIN | POLLRDHUP };
    n = poll(&hp, 1, 1000);
    printf("poll after EOF n=%d IN %d RDHUP %d\n", n, (hp.revents & POLLIN) != 0, (hp.revents & POLLRDHUP) != 0);
    FD_ZERO(&r);
    FD_SET(c, &r); /* closed fd */
    tv.tv_sec = 0;
    SHOW(select(c + 1, &r, NULL, NULL, &tv));
    close(s);
    close(l);
    return 0;
}
