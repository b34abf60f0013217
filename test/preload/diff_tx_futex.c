/* SPDX-License-Identifier: MIT */
/*
 * Differential: an answer sent within an event-loop turn, then a wait on
 * another thread (a futex). Under the preload the sends of a turn (the
 * events one epoll_wait returned) may leave their submission to the
 * turn's end (DEMI_TX_BATCH, shim/README.md); a thread that then waits
 * on a condition variable, a semaphore, a join, a barrier, a mutex, a
 * read-write lock or a spin lock held by another thread or a raw futex
 * must submit them first, or the answer waits for as long as the thread
 * does. On Linux it left with its send.
 *
 * The server's epoll_wait returns two connections at once; it answers the
 * first, then, still in that turn, waits in the call under test. Only a
 * helper thread ends that wait, and only once it has read the client's
 * verdict from a pipe (a kernel fd: the helper's read makes no call of
 * the preload's that could submit the server's sends for it): 'A' when
 * the client had the answer, 'T' when it gave up after 3 s without it.
 * The server prints the verdict, so no time is measured on the good path;
 * an answer held back shows as 'T' instead of the kernel's 'A'.
 *
 * Prints each step; a hang is ended by alarm() with a FATAL line.
 */
#include <linux/futex.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include "diff.h"

enum mode { COND_WAIT, COND_TIMEDWAIT, COND_CLOCKWAIT, SEM_WAIT, SEM_TIMEDWAIT, SEM_CLOCKWAIT, JOIN,
            TIMEDJOIN, CLOCKJOIN, BARRIER, MUTEX_LOCK, MUTEX_TIMEDLOCK, MUTEX_CLOCKLOCK, RW_RDLOCK, RW_WRLOCK,
            RW_TIMEDRDLOCK, RW_TIMEDWRLOCK, RW_CLOCKRDLOCK, RW_CLOCKWRLOCK, SPIN_LOCK, FUTEX, NMODES };
static const char *const mode_name[NMODES] = { "cond_wait", "cond_timedwait", "cond_clockwait", "sem_wait",
    "sem_timedwait", "sem_clockwait", "join", "timedjoin_np", "clockjoin_np", "barrier_wait", "mutex_lock",
    "mutex_timedlock", "mutex_clocklock", "rwlock_rdlock", "rwlock_wrlock", "rwlock_timedrd", "rwlock_timedwr",
    "rwlock_clockrd", "rwlock_clockwr", "spin_lock", "futex" };

/* What the server waits on; the helper ends the wait. */
static pthread_mutex_t mx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static sem_t sem, helper_ready;
static pthread_barrier_t barrier;
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER, free_rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_spinlock_t spin;
static bool done;
static unsigned futex_word;
static char verdict;

struct helper_arg {
    enum mode m;
    int verdict_fd;
};

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "FATAL timed out: a wait was never ended\n";
    if (write(1, msg, sizeof(msg) - 1) < 0)
        _exit(2);
    _exit(1);
}

static bool is_mutex(enum mode m)
{
    return m >= MUTEX_LOCK && m <= MUTEX_CLOCKLOCK;
}

static bool is_rwlock(enum mode m)
{
    return m >= RW_RDLOCK && m <= RW_CLOCKWRLOCK;
}

/* The helper: holds the lock in the lock modes (a read-write lock for
 * writing: readers and writers both wait), reads the verdict, then ends
 * the server's wait as the mode says. */
static void *helper(void *p)
{
    const struct helper_arg *a = p;
    if (is_mutex(a->m))
        pthread_mutex_lock(&mx);
    else if (is_rwlock(a->m))
        pthread_rwlock_wrlock(&rw);
    else if (a->m == SPIN_LOCK)
        pthread_spin_lock(&spin);
    sem_post(&helper_ready);
    char v = 'E';
    if (read(a->verdict_fd, &v, 1) != 1)
        v = 'E'; /* the client died */
    verdict = v;
    switch (a->m) {
    case COND_WAIT: case COND_TIMEDWAIT: case COND_CLOCKWAIT:
        pthread_mutex_lock(&mx);
        done = true;
        pthread_cond_signal(&cv);
        pthread_mutex_unlock(&mx);
        break;
    case SEM_WAIT: case SEM_TIMEDWAIT: case SEM_CLOCKWAIT:
        sem_post(&sem);
        break;
    case BARRIER:
        pthread_barrier_wait(&barrier);
        break;
    case MUTEX_LOCK: case MUTEX_TIMEDLOCK: case MUTEX_CLOCKLOCK:
        pthread_mutex_unlock(&mx);
        break;
    case RW_RDLOCK: case RW_WRLOCK: case RW_TIMEDRDLOCK: case RW_TIMEDWRLOCK: case RW_CLOCKRDLOCK: case RW_CLOCKWRLOCK:
        pthread_rwlock_unlock(&rw);
        break;
    case SPIN_LOCK:
        pthread_spin_unlock(&spin);
        break;
    case FUTEX:
        __atomic_store_n(&futex_word, 1, __ATOMIC_RELEASE);
        syscall(SYS_futex, &futex_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
        break;
    default: /* the joins: returning ends them */
        break;
    }
    return NULL;
}

/* A deadline no wait here reaches: the helper always ends it first. */
static struct timespec far_off(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    ts.tv_sec += 30;
    return ts;
}

/* The wait under test; 0 when it ended as the helper made it end. */
static int wait_in(enum mode m, pthread_t h)
{
    struct timespec rt = far_off(CLOCK_REALTIME), mono = far_off(CLOCK_MONOTONIC);
    int r = 0;
    switch (m) {
    case COND_WAIT: case COND_TIMEDWAIT: case COND_CLOCKWAIT:
        pthread_mutex_lock(&mx);
        while (!done && r == 0)
            r = m == COND_WAIT ? pthread_cond_wait(&cv, &mx)
              : m == COND_TIMEDWAIT ? pthread_cond_timedwait(&cv, &mx, &rt)
                                    : pthread_cond_clockwait(&cv, &mx, CLOCK_MONOTONIC, &mono);
        pthread_mutex_unlock(&mx);
        return r;
    case SEM_WAIT: case SEM_TIMEDWAIT: case SEM_CLOCKWAIT:
        do
            r = m == SEM_WAIT ? sem_wait(&sem)
              : m == SEM_TIMEDWAIT ? sem_timedwait(&sem, &rt) : sem_clockwait(&sem, CLOCK_MONOTONIC, &mono);
        while (r < 0 && errno == EINTR);
        return r < 0 ? errno : 0;
    case JOIN: return pthread_join(h, NULL);
    case TIMEDJOIN: return pthread_timedjoin_np(h, NULL, &rt);
    case CLOCKJOIN: return pthread_clockjoin_np(h, NULL, CLOCK_MONOTONIC, &mono);
    case BARRIER:
        r = pthread_barrier_wait(&barrier);
        return r == PTHREAD_BARRIER_SERIAL_THREAD ? 0 : r;
    case MUTEX_LOCK: case MUTEX_TIMEDLOCK: case MUTEX_CLOCKLOCK:
        r = m == MUTEX_LOCK ? pthread_mutex_lock(&mx)
          : m == MUTEX_TIMEDLOCK ? pthread_mutex_timedlock(&mx, &rt)
                                 : pthread_mutex_clocklock(&mx, CLOCK_MONOTONIC, &mono);
        if (r == 0)
            pthread_mutex_unlock(&mx);
        return r;
    case RW_RDLOCK: case RW_WRLOCK: case RW_TIMEDRDLOCK: case RW_TIMEDWRLOCK: case RW_CLOCKRDLOCK: case RW_CLOCKWRLOCK:
        r = m == RW_RDLOCK ? pthread_rwlock_rdlock(&rw)
          : m == RW_WRLOCK ? pthread_rwlock_wrlock(&rw)
          : m == RW_TIMEDRDLOCK ? pthread_rwlock_timedrdlock(&rw, &rt)
          : m == RW_TIMEDWRLOCK ? pthread_rwlock_timedwrlock(&rw, &rt)
          : m == RW_CLOCKRDLOCK ? pthread_rwlock_clockrdlock(&rw, CLOCK_MONOTONIC, &mono)
                                : pthread_rwlock_clockwrlock(&rw, CLOCK_MONOTONIC, &mono);
        if (r == 0)
            pthread_rwlock_unlock(&rw);
        return r;
    case SPIN_LOCK:
        r = pthread_spin_lock(&spin);
        if (r == 0)
            pthread_spin_unlock(&spin);
        return r;
    case FUTEX:
        while (__atomic_load_n(&futex_word, __ATOMIC_ACQUIRE) == 0)
            if (syscall(SYS_futex, &futex_word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0) < 0 && errno != EAGAIN &&
                errno != EINTR)
                return errno;
        return 0;
    default:
        return -1;
    }
}

/* The timed read-write lock of mode m, on a free lock with a deadline
 * glibc refuses: EINVAL, as glibc checks it before it looks at the lock,
 * also under the preload, where a thread that owes sends tries the lock
 * first. 0 for the other modes. */
static int bad_deadline(enum mode m)
{
    struct timespec bad = { 0, 1000000000L };
    int r = m == RW_TIMEDRDLOCK ? pthread_rwlock_timedrdlock(&free_rw, &bad)
          : m == RW_TIMEDWRLOCK ? pthread_rwlock_timedwrlock(&free_rw, &bad)
          : m == RW_CLOCKRDLOCK ? pthread_rwlock_clockrdlock(&free_rw, CLOCK_MONOTONIC, &bad)
          : m == RW_CLOCKWRLOCK ? pthread_rwlock_clockwrlock(&free_rw, CLOCK_MONOTONIC, &bad) : 0;
    if (r == 0 && m >= RW_TIMEDRDLOCK && m <= RW_CLOCKWRLOCK)
        pthread_rwlock_unlock(&free_rw);
    return r;
}

/* The client: a request on each connection, then its verdict: whether
 * the first answer came while the server waits. */
static void client(const struct sockaddr_in *a, int verdict_fd)
{
    int c1 = connect_to(a, 0), c2 = connect_to(a, 0);
    if (send(c1, "1", 1, 0) != 1 || send(c2, "2", 1, 0) != 1)
        die("client send");
    char r = 0;
    bool answered = wait_for(c1, POLLIN, 3000) && read_full(c1, &r, 1) == 1 && r == 'A';
    if (write(verdict_fd, answered ? "A" : "T", 1) != 1)
        die("verdict");
    if (read_full(c2, &r, 1) != 1 || r != 'B')
        die("second answer");
    if (!answered && (read_full(c1, &r, 1) != 1 || r != 'A'))
        die("first answer, late");
    close(c1);
    close(c2);
    _exit(0);
}

static void client_peer(struct peer *p, void *arg)
{
    (void)arg;
    peer_close_end(&p->pipes[0][0]);
    client(&p->la, p->pipes[0][1]);
}

static void round_of(enum mode m)
{
    struct peer p;
    peer_start(&p, 1, client_peer, NULL);
    peer_close_end(&p.pipes[0][1]); /* the helper's read sees the client's end */
    done = false;
    futex_word = 0;
    verdict = 0;
    sem_init(&sem, 0, 0);
    pthread_barrier_init(&barrier, NULL, 2);
    struct helper_arg ha = { m, p.pipes[0][0] };
    pthread_t h;
    if (pthread_create(&h, NULL, helper, &ha) != 0)
        die("pthread_create");
    while (sem_wait(&helper_ready) < 0 && errno == EINTR)
        ;
    int s1 = accept(p.lfd, NULL, NULL), s2 = accept(p.lfd, NULL, NULL);
    if (s1 < 0 || s2 < 0)
        die("accept");
    printf("%-16s %-31s -> %d\n", mode_name[m], "epoll_wait: ready", one_turn(s1, s2));
    /* the turn: answer the first, wait until the helper ends the wait */
    char q = 0;
    showv("recv(s1)", recv(s1, &q, 1, 0));
    showv("send(s1, \"A\")", send(s1, "A", 1, 0));
    if (m >= RW_TIMEDRDLOCK && m <= RW_CLOCKWRLOCK) {
        int e = bad_deadline(m); /* still owing the answer: nothing printed is flushed */
        printf("%-16s %-31s -> %s\n", mode_name[m], "deadline refused, lock free", e ? ename(e) : "0");
    }
    int r = wait_in(m, h);
    printf("%-16s %-31s -> %d %c\n", mode_name[m], "wait ended; client's verdict", r, verdict);
    showv("recv(s2)", recv(s2, &q, 1, 0));
    showv("send(s2, \"B\")", send(s2, "B", 1, 0));
    printf("%-48s -> %d\n", "client exit", peer_wait(&p));
    if (m != JOIN && m != TIMEDJOIN && m != CLOCKJOIN)
        pthread_join(h, NULL);
    pthread_barrier_destroy(&barrier);
    sem_destroy(&sem);
    close(s1);
    close(s2);
}

/* Under ThreadSanitizer (the threads suite's build), the modes whose call
 * it does not intercept (gcc 12's libtsan: the clock variants and a raw
 * futex): it sees no synchronization there and reports the helper's
 * writes as races, a mutex taken by pthread_mutex_clocklock as unlocked,
 * and a thread ended by pthread_clockjoin_np as alive (the next thread
 * with its id stops the program). Skipped in both runs, so the outputs
 * still compare. */
static bool tsan_blind(enum mode m)
{
#if defined(__SANITIZE_THREAD__)
    return m == CLOCKJOIN || m == SEM_CLOCKWAIT || m == MUTEX_CLOCKLOCK || m == RW_CLOCKRDLOCK ||
           m == RW_CLOCKWRLOCK || m == FUTEX;
#else
    (void)m;
    return false;
#endif
}

int main(void)
{
    signal(SIGALRM, on_alarm);
    alarm(55);
    sem_init(&helper_ready, 0, 0);
    pthread_spin_init(&spin, PTHREAD_PROCESS_PRIVATE);
    for (int m = 0; m < NMODES; m++)
        if (!tsan_blind((enum mode)m))
            round_of((enum mode)m);
    return 0;
}
