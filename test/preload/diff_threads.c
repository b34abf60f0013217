/* SPDX-License-Identifier: MIT */
/* Differential: several threads using sockets at once - a blocking accept
 * loop, a thread per connection, clients in parallel threads. */
#include <pthread.h>
#include "diff.h"

#define NCLIENTS 6
#define NMSG 200

static struct sockaddr_in la;
static int lfd;

static void *conn_thread(void *arg)
{
    int s = (int)(long)arg;
    char buf[64];
    for (;;) {
        ssize_t r = read(s, buf, sizeof(buf));
        if (r <= 0)
            break;
        if (write(s, buf, (size_t)r) != r)
            break;
    }
    close(s);
    return NULL;
}

static void *acceptor(void *arg)
{
    (void)arg;
    for (int i = 0; i < NCLIENTS; i++) {
        int s = accept(lfd, NULL, NULL);
        if (s < 0)
            break;
        pthread_t t;
        pthread_create(&t, NULL, conn_thread, (void *)(long)s);
        pthread_detach(t);
    }
    return NULL;
}

static void *client(void *arg)
{
    long ok = 0;
    int c = connect_to(&la, 0);
    for (int i = 0; i < NMSG; i++) {
        char msg[32], back[32];
        int n = snprintf(msg, sizeof(msg), "c%ld-m%d;", (long)arg, i);
        if (write(c, msg, (size_t)n) != n || read_full(c, back, (size_t)n) != n || memcmp(msg, back, (size_t)n))
            break;
        ok++;
    }
    close(c);
    return (void *)ok;
}

int main(void)
{
    lfd = listener(&la, 0);
    /* the listener goes to the datapath now (a poll is a data-path use): a
     * connection that reached the kernel's listener before the acceptor's
     * first call would be served by the kernel, not the datapath */
    wait_for(lfd, POLLIN, 0);
    pthread_t a, c[NCLIENTS];
    pthread_create(&a, NULL, acceptor, NULL);
    for (long i = 0; i < NCLIENTS; i++)
        pthread_create(&c[i], NULL, client, (void *)i);
    long total = 0;
    for (int i = 0; i < NCLIENTS; i++) {
        void *r;
        pthread_join(c[i], &r);
        total += (long)r;
    }
    pthread_join(a, NULL);
    printf("echoed %ld of %d messages\n", total, NCLIENTS * NMSG);
    close(lfd);
    return 0;
}
