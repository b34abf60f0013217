/* SPDX-License-Identifier: MIT */
/* Differential: posix_spawn/posix_spawnp of a program given an offloaded
 * connection (file action dup2 onto fd 3, the CGI pattern): the child
 * reads the peer's question and answers on it, the parent goes on using
 * the connection afterwards. Unhooked, glibc's child (its exec no hook
 * sees) inherited the placeholder, which is not the connection. */
#include <spawn.h>
#include "diff.h"

extern char **environ;

static void run(int s, int use_p, const char *script)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, s, 3);
    char *argv[] = { "sh", "-c", (char *)script, NULL };
    pid_t pid;
    int r = use_p ? posix_spawnp(&pid, "sh", &fa, NULL, argv, environ)
                  : posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, environ);
    printf("%s -> %s\n", use_p ? "posix_spawnp" : "posix_spawn", r ? ename(r) : "ok");
    posix_spawn_file_actions_destroy(&fa);
    int st = -1;
    if (r == 0)
        waitpid(pid, &st, 0);
    printf("child exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

int main(void)
{
    alarm(20);
    int l, c, s;
    tcp_conn(&l, &c, &s);
    char buf[64];

    /* the child reads the question the parent never touched */
    SHOWV(write(c, "question\n", 9));
    run(s, 1, "read x <&3 && printf \"answer to $x\" >&3");
    long n = SHOWV(read_full(c, buf, 18));
    printf("peer got \"%.*s\"\n", (int)(n > 0 ? n : 0), buf);

    run(s, 0, "printf spawned >&3");
    n = SHOWV(read_full(c, buf, 7));
    printf("peer got \"%.*s\"\n", (int)(n > 0 ? n : 0), buf);

    /* the parent's connection still works, both ways */
    SHOWV(write(s, "parent", 6));
    n = SHOWV(read_full(c, buf, 6));
    printf("peer got \"%.*s\"\n", (int)(n > 0 ? n : 0), buf);
    SHOWV(write(c, "back", 4));
    n = SHOWV(read_full(s, buf, 4));
    printf("parent got \"%.*s\"\n", (int)(n > 0 ? n : 0), buf);
    close(s);
    SHOWV(read(c, buf, sizeof(buf)));
    close(c);
    close(l);
    return 0;
}
