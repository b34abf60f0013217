/* SPDX-License-Identifier: MIT */
/*
 * Hooks of the calls where a thread waits for another: a condition
 * variable, a semaphore, a join, a barrier, a mutex, read-write lock or
 * spin lock another thread holds, a raw futex wait. As with the calls of
 * hooks_block.c, a thread that answered within an event-loop turn
 * (DEMI_TX_BATCH, shim/rt.c) may still owe the submission of those
 * answers, and would hold them back for as long as it waits (a server
 * that hands work to a pool and waits for it, test: diff_tx_futex). Each submits what its turn left
 * (dm_before_block), then is libc's own; when nothing is owed, which is
 * every call outside such a turn, the hook costs one thread-local load.
 * A lock submits them only when it would wait (lock_try_else_flush).
 *
 * pthread_cond_wait and pthread_cond_timedwait have an older ABI in
 * glibc too; real.c says which one the hooks call.
 */
#include <sched.h>
#include <stdarg.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include "interpose/hooks.h"

DM_HOOK int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
    dm_before_block();
    return DM_REAL(pthread_cond_wait)(c, m);
}

DM_HOOK int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *abstime)
{
    dm_before_block();
    return DM_REAL(pthread_cond_timedwait)(c, m, abstime);
}

DM_HOOK int pthread_cond_clockwait(pthread_cond_t *c, pthread_mutex_t *m, clockid_t clk, const struct timespec *abstime)
{
    dm_before_block();
    return DM_REAL(pthread_cond_clockwait)(c, m, clk, abstime);
}

DM_HOOK int sem_wait(sem_t *s)
{
    dm_before_block();
    return DM_REAL(sem_wait)(s);
}

DM_HOOK int sem_timedwait(sem_t *s, const struct timespec *abstime)
{
    dm_before_block();
    return DM_REAL(sem_timedwait)(s, abstime);
}

DM_HOOK int sem_clockwait(sem_t *s, clockid_t clk, const struct timespec *abstime)
{
    dm_before_block();
    return DM_REAL(sem_clockwait)(s, clk, abstime);
}

DM_HOOK int pthread_join(pthread_t t, void **ret)
{
    dm_before_block();
    return DM_REAL(pthread_join)(t, ret);
}

DM_HOOK int pthread_timedjoin_np(pthread_t t, void **ret, const struct timespec *abstime)
{
    dm_before_block();
    return DM_REAL(pthread_timedjoin_np)(t, ret, abstime);
}

DM_HOOK int pthread_clockjoin_np(pthread_t t, void **ret, clockid_t clk, const struct timespec *abstime)
{
    dm_before_block();
    return DM_REAL(pthread_clockjoin_np)(t, ret, clk, abstime);
}

DM_HOOK int pthread_barrier_wait(pthread_barrier_t *b)
{
    dm_before_block();
    return DM_REAL(pthread_barrier_wait)(b);
}

/* A lock is free far more often than not, and then nothing waits: a
 * thread that owes sends tries the lock first, and submits them only when
 * it is held elsewhere (trylock's EBUSY). Any other result is the lock
 * call's too (0; EOWNERDEAD, taken, for a robust mutex; EAGAIN, a read
 * lock with too many readers); a lock of its own gets EDEADLK from the
 * lock call, after the submission (its trylock says EBUSY). The
 * submission takes the shim's lock, which the shim takes past this hook
 * (DM_REAL in shim/rt.c); inside the preload nothing is submitted
 * (shim_bypass). */
static int lock_try_else_flush(int trylock_result)
{
    if (trylock_result == EBUSY)
        dm_before_block();
    return trylock_result;
}

/* EBUSY: call the lock function (it may wait, nothing is owed any more);
 * else the lock call's result, which the trylock gave. Nothing owed, or
 * not `ok` to try: EBUSY, no trylock (and `ok` is not evaluated when
 * nothing is owed: the common path is the thread-local load). */
#define LOCK_TRY(ok, trylock) \
    (__builtin_expect(shim_tx_owed, 0) && (ok) ? lock_try_else_flush(trylock) : EBUSY)

/* pthread_mutex_lock is the one hook on a hot path of its own (every
 * lock of the program, and of its libraries, comes through): its common
 * path is a thread-local load, a load of the real function and a jump,
 * with no frame. An uncontended lock and unlock, 200M in a loop on one
 * CPU, best of 3, 5 runs: 2.73-3.03 ns on the kernel, 2.83-3.02 under
 * the preload (2.52-2.84 under one without this hook). */
static __attribute__((noinline)) int mutex_lock_slow(pthread_mutex_t *m)
{
    int r;
    if (shim_tx_owed && (r = lock_try_else_flush(pthread_mutex_trylock(m))) != EBUSY)
        return r;
    return DM_REAL(pthread_mutex_lock)(m);
}

DM_HOOK int pthread_mutex_lock(pthread_mutex_t *m)
{
    int (*real)(pthread_mutex_t *) = dm_real.pthread_mutex_lock;
    if (__builtin_expect(shim_tx_owed || !real, 0))
        return mutex_lock_slow(m);
    return real(m);
}

DM_HOOK int pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *abstime)
{
    int r = LOCK_TRY(true, pthread_mutex_trylock(m));
    return r != EBUSY ? r : DM_REAL(pthread_mutex_timedlock)(m, abstime);
}

DM_HOOK int pthread_mutex_clocklock(pthread_mutex_t *m, clockid_t clk, const struct timespec *abstime)
{
    int r = LOCK_TRY(true, pthread_mutex_trylock(m));
    return r != EBUSY ? r : DM_REAL(pthread_mutex_clocklock)(m, clk, abstime);
}

/* Read-write locks: a reader that waits for a writer (or a writer for
 * either) waits for another thread as a mutex's does. */
DM_HOOK int pthread_rwlock_rdlock(pthread_rwlock_t *l)
{
    int r = LOCK_TRY(true, pthread_rwlock_tryrdlock(l));
    return r != EBUSY ? r : DM_REAL(pthread_rwlock_rdlock)(l);
}

DM_HOOK int pthread_rwlock_wrlock(pthread_rwlock_t *l)
{
    int r = LOCK_TRY(true, pthread_rwlock_trywrlock(l));
    return r != EBUSY ? r : DM_REAL(pthread_rwlock_wrlock)(l);
}

/* glibc checks a read-write lock's clock and deadline before it looks at
 * the lock (EINVAL, even when the lock is free): a trylock must not take
 * one that the call refuses, so a bad one goes to it untried. */
static bool rwlock_deadline_ok(clockid_t clk, const struct timespec *t)
{
    return (clk == CLOCK_REALTIME || clk == CLOCK_MONOTONIC) && t && t->tv_nsec >= 0 && t->tv_nsec < 1000000000L;
}

DM_HOOK int pthread_rwlock_timedrdlock(pthread_rwlock_t *l, const struct timespec *abstime)
{
    int r = LOCK_TRY(rwlock_deadline_ok(CLOCK_REALTIME, abstime), pthread_rwlock_tryrdlock(l));
    return r != EBUSY ? r : DM_REAL(pthread_rwlock_timedrdlock)(l, abstime);
}

DM_HOOK int pthread_rwlock_timedwrlock(pthread_rwlock_t *l, const struct timespec *abstime)
{
    int r = LOCK_TRY(rwlock_deadline_ok(CLOCK_REALTIME, abstime), pthread_rwlock_trywrlock(l));
    return r != EBUSY ? r : DM_REAL(pthread_rwlock_timedwrlock)(l, abstime);
}

DM_HOOK int pthread_rwlock_clockrdlock(pthread_rwlock_t *l, clockid_t clk, const struct timespec *abstime)
{
    int r = LOCK_TRY(rwlock_deadline_ok(clk, abstime), pthread_rwlock_tryrdlock(l));
    return r != EBUSY ? r : DM_REAL(pthread_rwlock_clockrdlock)(l, clk, abstime);
}

DM_HOOK int pthread_rwlock_clockwrlock(pthread_rwlock_t *l, clockid_t clk, const struct timespec *abstime)
{
    int r = LOCK_TRY(rwlock_deadline_ok(clk, abstime), pthread_rwlock_trywrlock(l));
    return r != EBUSY ? r : DM_REAL(pthread_rwlock_clockwrlock)(l, clk, abstime);
}

/* A spin lock found held spins until its holder lets go: the holder may
 * be waiting for the very answer this thread owes (a spin lock used as a
 * hand-off), so it is submitted before the spinning starts. */
DM_HOOK int pthread_spin_lock(pthread_spinlock_t *l)
{
    int r = LOCK_TRY(true, pthread_spin_trylock(l));
    return r != EBUSY ? r : DM_REAL(pthread_spin_lock)(l);
}

/* The futex operations that may sleep (C++'s std::atomic::wait and
 * std::counting_semaphore, and any lock of a program's own, reach the
 * kernel through syscall()). Other system calls made through syscall()
 * go to the kernel untouched: only futex waits are submitted for. */
static bool futex_may_sleep(long nr, long op)
{
#ifdef SYS_futex_waitv
    if (nr == SYS_futex_waitv)
        return true;
#endif
#ifdef SYS_futex_time64
    if (nr == SYS_futex_time64)
        nr = SYS_futex;
#endif
    if (nr != SYS_futex)
        return false;
    switch (op & FUTEX_CMD_MASK) {
    case FUTEX_WAIT: case FUTEX_WAIT_BITSET: case FUTEX_LOCK_PI: case FUTEX_WAIT_REQUEUE_PI:
#ifdef FUTEX_LOCK_PI2
    case FUTEX_LOCK_PI2:
#endif
        return true;
    default:
        return false;
    }
}

/* A vfork through syscall(): the child would run on this function's
 * frame, which the parent returns through after it (libc's syscall has
 * none). As the vfork hook (hooks_proc.c), a fork instead. */
static bool vfork_like(long nr, long flags, long stack)
{
#ifdef SYS_vfork
    if (nr == SYS_vfork)
        return true;
#endif
    return nr == SYS_clone && stack == 0 && flags == (CLONE_VM | CLONE_VFORK | SIGCHLD);
}

/* The calls on fds that change which object a number names, made through
 * syscall(): libuv (Node.js) closes every fd with syscall(SYS_close, fd).
 * Past the shim they would leave our table naming a closed number - a
 * connection never closed, and the next socket the kernel gives that
 * number taken for it - so, on a number the shim knows, they go to the
 * hooks of the same name, which set errno and return -1 as syscall()
 * does. On other numbers they stay raw system calls (a program that
 * makes its sockets with syscall() keeps them the kernel's, and past the
 * interceptors of a sanitizer's runtime). */
static bool fd_call(long nr, long a, long b)
{
    switch (nr) {
    case SYS_close: case SYS_dup: case SYS_fcntl:
        return shim_fd_maybe((int)a);
    case SYS_dup3:
#ifdef SYS_dup2
    case SYS_dup2:
#endif
        return shim_fd_maybe((int)a) || shim_fd_maybe((int)b);
#ifdef SYS_close_range
    case SYS_close_range:
        return true;
#endif
    default:
        return false;
    }
}

static long fd_syscall(long nr, long a, long b, long c)
{
    switch (nr) {
    case SYS_close: return close((int)a);
    case SYS_dup: return dup((int)a);
    case SYS_dup3: return dup3((int)a, (int)b, (int)c);
#ifdef SYS_dup2
    case SYS_dup2: return dup2((int)a, (int)b);
#endif
#ifdef SYS_close_range
    case SYS_close_range: return close_range((unsigned)a, (unsigned)b, (int)c);
#endif
    default: return fcntl((int)a, (int)b, c);
    }
}

/* syscall() takes at most six arguments after the number; reading six
 * when the caller passed fewer reads registers (and a stack slot) that
 * hold nothing of its, which the kernel ignores as libc's own does. */
DM_HOOK long syscall(long nr, ...)
{
    va_list ap;
    va_start(ap, nr);
    long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
    long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
    va_end(ap);
    if (__builtin_expect(shim_tx_owed, 0) && futex_may_sleep(nr, b))
        dm_before_block();
    if (__builtin_expect(vfork_like(nr, a, b), 0))
        return fork();
    if (__builtin_expect(fd_call(nr, a, b), 0))
        return fd_syscall(nr, a, b, c);
    return DM_REAL(syscall)(nr, a, b, c, d, e, f);
}
