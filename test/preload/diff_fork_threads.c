/* SPDX-License-Identifier: MIT */
/*
 * Differential: threads of a forked child. The parent runs a connection
 * through its datapath, then forks; the child's two threads each make 20
 * listeners, connect to each, accept and move a byte both ways, close.
 *
 * Asserts: the child's every round trip works and it exits 0; the same
 * output as on the kernel. Under ThreadSanitizer (the 'threads' suite of
 * scripts/test.sh) it also asserts the child's locks are consistent:
 * the process lock re-made and retaken at the fork made TSan report each
 * take by the child's threads as a double lock (exit 66).
 */
#include <pthread.h>
#include "diff.h"

#define ROUNDS 20

/* One listener, one connection to it, a byte each way; 1 if all went. */
static int round_trip(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM, 0), c = -1, s = -1, ok = 0;
    char b = 'x';
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 4) < 0 ||
        getsockname(l, (struct sockaddr *)&a, &al) < 0)
        goto out;
    if ((c = socket(AF_INET, SOCK_STREAM, 0)) < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)) < 0)
        goto out;
    if ((s = accept(l, NULL, NULL)) < 0)
        goto out;
    ok = write(c, &b, 1) == 1 && read(s, &b, 1) == 1 && write(s, &b, 1) == 1 && read(c, &b, 1) == 1 && b == 'x';
out:
    if (s >= 0)
        close(s);
    if (c >= 0)
        close(c);
    if (l >= 0)
        close(l);
    return ok;
}

static void *child_thread(void *arg)
{
    int *good = arg;
    for (int i = 0; i < ROUNDS; i++)
        *good += round_trip();
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    printf("parent round trip: %s\n", round_trip() ? "ok" : "failed");
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        pthread_t t[2];
        int good[2] = { 0, 0 };
        for (int i = 0; i < 2; i++)
            if (pthread_create(&t[i], NULL, child_thread, &good[i]) != 0)
                _exit(2);
        for (int i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
        _exit(good[0] == ROUNDS && good[1] == ROUNDS ? 0 : 3);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    printf("child: %s %d\n", WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    return 0;
}
