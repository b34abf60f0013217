/* SPDX-License-Identifier: MIT */
/* Differential: blocking TCP - connect/accept, partial reads, readv/writev,
 * recv flags (PEEK, DONTWAIT, WAITALL), names, options, FIONREAD,
 * shutdown, end of stream, EPIPE/SIGPIPE, sendfile. */
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include "diff.h"

static volatile sig_atomic_t got_sigpipe;
static void on_sigpipe(int s) { (void)s; got_sigpipe++; }

int main(void)
{
    struct sockaddr_in la, a;
    socklen_t al = sizeof(a);
    char buf[256];
    int one = 1, v = 0;
    socklen_t vl = sizeof(v);

    signal(SIGPIPE, on_sigpipe);
    int l = listener(&la, 0);
    int c = connect_to(&la, 0);
    int s = accept(l, (struct sockaddr *)&a, &al);
    show("accept", s);
    printf("accept addr family %d len %u loopback %d\n", a.sin_family, al, a.sin_addr.s_addr == htonl(INADDR_LOOPBACK));

    /* names */
    struct sockaddr_in n1, n2;
    socklen_t l1 = sizeof(n1), l2 = sizeof(n2);
    SHOW(getsockname(c, (struct sockaddr *)&n1, &l1));
    SHOW(getpeername(s, (struct sockaddr *)&n2, &l2));
    printf("client port == accepted peer port: %d\n", n1.sin_port == n2.sin_port);
    l2 = sizeof(n2);
    SHOW(getpeername(c, (struct sockaddr *)&n2, &l2));
    printf("client peer == listener: %d\n", n2.sin_port == la.sin_port);
    l1 = 4;
    SHOW(getsockname(s, (struct sockaddr *)&n1, &l1));
    printf("short getsockname len %u\n", l1);

    /* options */
    SHOW(setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)));
    SHOW(getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &v, &vl));
    printf("TCP_NODELAY %d\n", v != 0);
    /* TCP_CORK (uring keeps it itself): it reads back as 0 or 1, a short
     * value is refused, and corked bytes arrive once uncorked */
    int five = 5, zero = 0;
    SHOW(setsockopt(c, IPPROTO_TCP, TCP_CORK, &five, sizeof(five)));
    vl = sizeof(v);
    SHOW(getsockopt(c, IPPROTO_TCP, TCP_CORK, &v, &vl));
    printf("TCP_CORK %d len %u\n", v, vl);
    SHOW(setsockopt(c, IPPROTO_TCP, TCP_CORK, &zero, 2));
    SHOWV(write(c, "cork", 4));
    SHOW(setsockopt(c, IPPROTO_TCP, TCP_CORK, &zero, sizeof(zero)));
    vl = sizeof(v);
    SHOW(getsockopt(c, IPPROTO_TCP, TCP_CORK, &v, &vl));
    printf("TCP_CORK %d len %u\n", v, vl);
    SHOWV(read_full(s, buf, 4));
    printf("uncorked '%.4s'\n", buf);
    vl = sizeof(v);
    vl = sizeof(v);
    SHOW(getsockopt(c, SOL_SOCKET, SO_TYPE, &v, &vl));
    printf("SO_TYPE %d\n", v);
    vl = sizeof(v);
    SHOW(getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &v, &vl));
    printf("listener SO_ACCEPTCONN %d\n", v);
    vl = sizeof(v);
    SHOW(getsockopt(c, SOL_SOCKET, SO_ERROR, &v, &vl));
    printf("SO_ERROR %d\n", v);
    SHOW(setsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)));
    int idle = 30;
    SHOW(setsockopt(c, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)));
    SHOW(setsockopt(c, SOL_SOCKET, 9999, &one, sizeof(one)));
    SHOW(setsockopt(c, 9999, 1, &one, sizeof(one)));
    SHOW(setsockopt(c, SOL_SOCKET, SO_RCVBUF, &one, 1));

    /* partial reads */
    SHOWV(write(c, "hello world", 11));
    SHOWV(read_full(s, buf, 3));
    printf("got '%.3s'\n", buf);
    int avail = -1;
    SHOW(ioctl(s, FIONREAD, &avail));
    printf("FIONREAD %d\n", avail);
    SHOWV(recv(s, buf, 4, MSG_PEEK));
    printf("peek '%.4s'\n", buf);
    SHOWV(read(s, buf, sizeof(buf)));
    printf("rest '%.8s'\n", buf);
    SHOWV(recv(s, buf, sizeof(buf), MSG_DONTWAIT));

    /* readv / writev */
    struct iovec wv[3] = { { "ab", 2 }, { "cde", 3 }, { "fghij", 5 } };
    SHOWV(writev(c, wv, 3));
    char r1[4], r2[6];
    struct iovec rv[2] = { { r1, 4 }, { r2, 6 } };
    SHOWV(recv(s, buf, 10, MSG_WAITALL | MSG_PEEK) >= 1);
    SHOWV(recv(s, buf, 10, MSG_WAITALL));
    SHOWV(write(c, "0123456789", 10));
    ms_sleep(20);
    SHOWV(readv(s, rv, 2));
    printf("readv '%.4s' '%.6s'\n", r1, r2);

    /* recvfrom on TCP: no address */
    struct sockaddr_in from;
    socklen_t fl = sizeof(from);
    SHOWV(send(c, "xy", 2, 0));
    SHOWV(recvfrom(s, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl));
    printf("recvfrom addrlen %u\n", fl);

    /* bigger transfer in both directions */
    static char big[300000], big2[300000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)(i * 7 + 3);
    pid_t pid = fork();
    if (pid == 0) {
        long w = write(s, big, sizeof(big));
        _exit(w == (long)sizeof(big) ? 0 : 1);
    }
    SHOWV(read_full(c, big2, sizeof(big2)));
    printf("big transfer equal %d\n", memcmp(big, big2, sizeof(big)) == 0);
    int st;
    waitpid(pid, &st, 0);
    printf("writer child status %d\n", WEXITSTATUS(st));

    /* sendfile */
    char tmpl[] = "/tmp/diff_tcp_XXXXXX";
    int f = mkstemp(tmpl);
    unlink(tmpl);
    if (write(f, big, 50000) != 50000)
        die("write file");
    off_t off = 1000;
    SHOWV(sendfile(s, f, &off, 20000));
    printf("sendfile offset %ld\n", (long)off);
    SHOWV(read_full(c, big2, 20000));
    printf("sendfile data equal %d\n", memcmp(big + 1000, big2, 20000) == 0);
    close(f);

    /* half close, end of stream */
    SHOW(shutdown(c, SHUT_WR));
    SHOWV(read(s, buf, sizeof(buf)));
    SHOWV(write(s, "after", 5));
    SHOWV(read_full(c, buf, 5));
    SHOWV(write(c, "x", 1));
    printf("sigpipe %d\n", got_sigpipe);
    SHOW(shutdown(c, 99));

    /* peer closes: a write is accepted, then EPIPE once the RST arrived */
    SHOW(close(s));
    ms_sleep(50);
    SHOWV(read(c, buf, sizeof(buf)));
    SHOW(close(c));

    int c2 = connect_to(&la, 0);
    int s2 = accept(l, NULL, NULL);
    SHOW(close(s2));
    ms_sleep(30);
    SHOWV(send(c2, "a", 1, MSG_NOSIGNAL));
    ms_sleep(30);
    got_sigpipe = 0;
    /* The reset is reported by the first send after it arrived (Linux) or,
     * when the datapath sends asynchronously, by the next one: either way
     * the error is EPIPE (peer had sent FIN), without SIGPIPE here. */
    long e1 = -1;
    int tries = 0;
    while (tries < 3 && (e1 = send(c2, "b", 1, MSG_NOSIGNAL)) >= 0) {
        tries++;
        ms_sleep(30);
    }
    printf("first failing send: %s; sigpipe %d\n", e1 < 0 ? ename(errno) : "none", got_sigpipe);
    SHOWV(send(c2, "c", 1, 0));
    printf("sigpipe %d\n", got_sigpipe);
    SHOWV(read(c2, buf, 1));
    SHOW(close(c2));
    /* MSG_TRUNC on a stream discards what it takes, without copying: a
     * NULL buffer is valid (Linux's tcp_recvmsg) */
    int c3 = connect_to(&la, 0);
    int s3 = accept(l, NULL, NULL);
    SHOWV(send(c3, "0123456789", 10, 0));
    ms_sleep(30);
    SHOWV(recv(s3, NULL, 4, MSG_TRUNC | MSG_PEEK));
    SHOWV(recv(s3, NULL, 4, MSG_TRUNC));
    memset(buf, 0, sizeof(buf));
    SHOWV(recv(s3, buf, 6, 0));
    printf("after the discarded 4: '%.6s'\n", buf);
    SHOW(close(c3));
    SHOW(close(s3));
    SHOW(close(l));
    SHOW(close(l));
    return 0;
}
