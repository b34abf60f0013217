/* SPDX-License-Identifier: MIT */
/*
 * Differential: the datapath started while several threads make their
 * first socket calls. 8 threads wait at a barrier with no socket used yet
 * in the process, then each at once makes a listener, hands it over (the
 * first to get there starts the datapath; the others' socket(), bind()
 * and poll() run meanwhile), connects to it, accepts, and echoes 64 KiB
 * of its own stream through the connection.
 *
 * Asserts: every thread's 64 KiB arrive and come back byte-exact (one
 * datapath, started once, serves them all); no hang. Under the
 * ThreadSanitizer build, any unordered access to the runtime's state
 * during the start is a report.
 */
#include "diff_thread.h"

#define NTHREADS 8
#define LEN 65536

static pthread_barrier_t go;

static void *run(void *arg)
{
    uint32_t id = (uint32_t)(long)arg;
    static __thread uint8_t out[LEN], in[LEN];
    pthread_barrier_wait(&go);
    struct sockaddr_in la;
    int l = dt_listener(&la, 0, 16);
    int c = connect_to(&la, 0);
    int s = accept(l, NULL, NULL);
    if (s < 0)
        die("accept");
    dt_fill(id, 0, out, LEN);
    bool ok = dt_write_all(c, out, LEN) == 0 && read_full(s, in, LEN) == LEN &&
              dt_mismatch(id, 0, in, LEN) < 0 && dt_write_all(s, in, LEN) == 0 &&
              read_full(c, in, LEN) == LEN && dt_mismatch(id, 0, in, LEN) < 0;
    close(c);
    close(s);
    close(l);
    return (void *)(long)ok;
}

int main(void)
{
    dt_watchdog(25);
    pthread_t t[NTHREADS];
    pthread_barrier_init(&go, NULL, NTHREADS);
    for (long i = 0; i < NTHREADS; i++)
        pthread_create(&t[i], NULL, run, (void *)i);
    int ok = 0;
    for (int i = 0; i < NTHREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        ok += (int)(long)r;
    }
    printf("%d threads making their first socket calls at once: %d echoes of 64 KiB byte-exact\n", NTHREADS, ok);
    pthread_barrier_destroy(&go);
    return 0;
}
