/* SPDX-License-Identifier: MIT */
/*
 * Hooks of the process calls. fork and vfork both run shim_fork(): a vfork
 * child shares its parent's memory and stack, so letting it run our code
 * (and return from this function) would corrupt the parent; a real fork is
 * the safe equivalent. daemon() is re-implemented because glibc's calls
 * its internal fork, which no hook sees. Every exec variant first pushes
 * out queued data (glibc's execvp & co. call execve internally, unhooked,
 * so each variant is hooked). _exit and _Exit skip the destructors, where
 * data still in flight (a closed socket's included) is pushed out: they
 * do that first, as the kernel would go on sending after the process.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include "interpose/hooks.h"

DM_HOOK pid_t fork(void)
{
    if (shim_bypass())
        return DM_REAL(fork)();
    int saved = errno;
    return (pid_t)dm_ret(shim_fork(), saved);
}

DM_HOOK pid_t vfork(void)
{
    return fork();
}

DM_HOOK int daemon(int nochdir, int noclose)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid > 0)
        _exit(0);
    if (setsid() < 0)
        return -1;
    if (!nochdir && chdir("/") < 0)
        return -1;
    if (!noclose) {
        int fd = open("/dev/null", O_RDWR);
        if (fd < 0)
            return -1;
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2)
            close(fd);
    }
    return 0;
}

DM_HOOK void _exit(int status)
{
    if (!shim_bypass())
        shim_at_exit();
    DM_REAL(_exit)(status);
    __builtin_unreachable();
}

DM_HOOK void _Exit(int status)
{
    _exit(status);
}

static inline void before_exec(void)
{
    if (!shim_bypass())
        shim_before_exec();
}

/* exec returned: it failed. Keeps the caller's errno. */
static inline int exec_failed(int r)
{
    int e = errno;
    if (!shim_bypass())
        shim_exec_failed();
    errno = e;
    return r;
}

DM_HOOK int execve(const char *path, char *const argv[], char *const envp[])
{
    before_exec();
    return exec_failed(DM_REAL(execve)(path, argv, envp));
}

/* posix_spawn execs in a child no hook sees: the connections it inherits
 * get their kernel sockets around the call (shim/spawn.c). Returns an
 * error number, errno untouched, as glibc's. */
DM_HOOK int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                        const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    if (shim_bypass())
        return DM_REAL(posix_spawn)(pid, path, fa, attr, argv, envp);
    struct shim_spawn sp;
    shim_spawn_begin(&sp);
    int r = DM_REAL(posix_spawn)(pid, path, fa, attr, argv, envp);
    shim_spawn_end(&sp);
    return r;
}

DM_HOOK int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
                         const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    if (shim_bypass())
        return DM_REAL(posix_spawnp)(pid, file, fa, attr, argv, envp);
    struct shim_spawn sp;
    shim_spawn_begin(&sp);
    int r = DM_REAL(posix_spawnp)(pid, file, fa, attr, argv, envp);
    shim_spawn_end(&sp);
    return r;
}

DM_HOOK int execv(const char *path, char *const argv[])
{
    before_exec();
    return exec_failed(DM_REAL(execv)(path, argv));
}

DM_HOOK int execvp(const char *file, char *const argv[])
{
    before_exec();
    return exec_failed(DM_REAL(execvp)(file, argv));
}

DM_HOOK int execvpe(const char *file, char *const argv[], char *const envp[])
{
    before_exec();
    return exec_failed(DM_REAL(execvpe)(file, argv, envp));
}

DM_HOOK int fexecve(int fd, char *const argv[], char *const envp[])
{
    before_exec();
    return exec_failed(DM_REAL(fexecve)(fd, argv, envp));
}

/* execl*: collect the variadic list, then run the vector form. */
#define COLLECT_ARGS(arg0, ap, argv, extra)                     \
    size_t n_ = 1;                                              \
    va_start(ap, arg0);                                         \
    while (va_arg(ap, char *))                                  \
        n_++;                                                   \
    va_end(ap);                                                 \
    char *argv[n_ + 1];                                         \
    va_start(ap, arg0);                                         \
    argv[0] = (char *)(arg0);                                   \
    for (size_t i_ = 1; i_ <= n_; i_++)                         \
        argv[i_] = va_arg(ap, char *);                          \
    extra;                                                      \
    va_end(ap)

DM_HOOK int execl(const char *path, const char *arg, ...)
{
    va_list ap;
    COLLECT_ARGS(arg, ap, argv, (void)0);
    before_exec();
    return exec_failed(DM_REAL(execv)(path, argv));
}

DM_HOOK int execlp(const char *file, const char *arg, ...)
{
    va_list ap;
    COLLECT_ARGS(arg, ap, argv, (void)0);
    before_exec();
    return exec_failed(DM_REAL(execvp)(file, argv));
}

DM_HOOK int execle(const char *path, const char *arg, ...)
{
    va_list ap;
    char **envp;
    COLLECT_ARGS(arg, ap, argv, envp = va_arg(ap, char **));
    before_exec();
    return exec_failed(DM_REAL(execve)(path, argv, envp));
}
