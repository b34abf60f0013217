/* SPDX-License-Identifier: MIT */
/*
 * The one list of libc symbols the preload intercepts. Everything that must
 * agree on it is generated from this list:
 *   - the table of real functions (real.h: one pointer per symbol, typed
 *     with __typeof__ of libc's own declaration, resolved with
 *     dlsym(RTLD_NEXT) in real.c);
 *   - the linker version script (gen-map.py turns every DM_SYM(x) into an
 *     exported "x;", everything else stays local);
 *   - the export test (test/preload/check-exports.sh).
 * Each symbol has exactly one hook in hooks*.c with libc's prototype.
 * Keep one DM_SYM per line: gen-map.py reads this file with a regex.
 */
#ifndef DM_INTERPOSE_SYMS_H
#define DM_INTERPOSE_SYMS_H

#define DM_INTERPOSE_SYMS(DM_SYM) \
    DM_SYM(socket) \
    DM_SYM(socketpair) \
    DM_SYM(bind) \
    DM_SYM(listen) \
    DM_SYM(accept) \
    DM_SYM(accept4) \
    DM_SYM(connect) \
    DM_SYM(read) \
    DM_SYM(readv) \
    DM_SYM(write) \
    DM_SYM(writev) \
    DM_SYM(recv) \
    DM_SYM(recvfrom) \
    DM_SYM(recvmsg) \
    DM_SYM(recvmmsg) \
    DM_SYM(send) \
    DM_SYM(sendto) \
    DM_SYM(sendmsg) \
    DM_SYM(sendmmsg) \
    DM_SYM(sendfile) \
    DM_SYM(sendfile64) \
    DM_SYM(splice) \
    DM_SYM(close) \
    DM_SYM(close_range) \
    DM_SYM(closefrom) \
    DM_SYM(shutdown) \
    DM_SYM(getsockname) \
    DM_SYM(getpeername) \
    DM_SYM(getsockopt) \
    DM_SYM(setsockopt) \
    DM_SYM(fcntl) \
    DM_SYM(fcntl64) \
    DM_SYM(ioctl) \
    DM_SYM(dup) \
    DM_SYM(dup2) \
    DM_SYM(dup3) \
    DM_SYM(poll) \
    DM_SYM(ppoll) \
    DM_SYM(select) \
    DM_SYM(pselect) \
    DM_SYM(epoll_create) \
    DM_SYM(epoll_create1) \
    DM_SYM(epoll_ctl) \
    DM_SYM(epoll_wait) \
    DM_SYM(epoll_pwait) \
    DM_SYM(epoll_pwait2) \
    DM_SYM(fork) \
    DM_SYM(vfork) \
    DM_SYM(daemon) \
    DM_SYM(execve) \
    DM_SYM(execv) \
    DM_SYM(execvp) \
    DM_SYM(execvpe) \
    DM_SYM(execl) \
    DM_SYM(execlp) \
    DM_SYM(execle) \
    DM_SYM(fexecve) \
    DM_SYM(posix_spawn) \
    DM_SYM(posix_spawnp) \
    DM_SYM(_exit) \
    DM_SYM(_Exit) \
    DM_SYM(__read_chk) \
    DM_SYM(__recv_chk) \
    DM_SYM(__recvfrom_chk) \
    DM_SYM(__poll_chk) \
    DM_SYM(__ppoll_chk) \
    DM_SYM(sigaction) \
    DM_SYM(signal) \
    DM_SYM(bsd_signal) \
    DM_SYM(sysv_signal) \
    DM_SYM(__sysv_signal) \
    DM_SYM(siginterrupt) \
    DM_SYM(waitpid) \
    DM_SYM(wait) \
    DM_SYM(wait3) \
    DM_SYM(wait4) \
    DM_SYM(waitid) \
    DM_SYM(nanosleep) \
    DM_SYM(clock_nanosleep) \
    DM_SYM(sleep) \
    DM_SYM(usleep) \
    DM_SYM(pause) \
    DM_SYM(sigsuspend) \
    DM_SYM(sigwait) \
    DM_SYM(sigwaitinfo) \
    DM_SYM(sigtimedwait) \
    DM_SYM(pthread_cond_wait) \
    DM_SYM(pthread_cond_timedwait) \
    DM_SYM(pthread_cond_clockwait) \
    DM_SYM(sem_wait) \
    DM_SYM(sem_timedwait) \
    DM_SYM(sem_clockwait) \
    DM_SYM(pthread_join) \
    DM_SYM(pthread_timedjoin_np) \
    DM_SYM(pthread_clockjoin_np) \
    DM_SYM(pthread_barrier_wait) \
    DM_SYM(pthread_mutex_lock) \
    DM_SYM(pthread_mutex_timedlock) \
    DM_SYM(pthread_mutex_clocklock) \
    DM_SYM(pthread_rwlock_rdlock) \
    DM_SYM(pthread_rwlock_wrlock) \
    DM_SYM(pthread_rwlock_timedrdlock) \
    DM_SYM(pthread_rwlock_timedwrlock) \
    DM_SYM(pthread_rwlock_clockrdlock) \
    DM_SYM(pthread_rwlock_clockwrlock) \
    DM_SYM(pthread_spin_lock) \
    DM_SYM(syscall)

#endif /* DM_INTERPOSE_SYMS_H */
