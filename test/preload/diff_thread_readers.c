/* SPDX-License-Identifier: MIT */
/*
 * Differential: two threads reading one TCP socket. The peer (a thread of
 * this program) sends a known stream of records with sequence numbers in
 * writes of random sizes; two reader threads take turns in blocking recv()
 * on the same socket, with random buffer sizes (some of 1-7 bytes,
 * cutting records), each keeping the pieces it got, in its order. Once
 * the readers hold the whole stream (or 5 s passed) the peer shuts its
 * side down, while both readers are blocked in recv().
 *
 * Asserts: the two readers together read exactly the stream's length; the
 * pieces can be merged - each reader's in its own order - into exactly
 * the stream (so no byte was lost, duplicated, reordered, or given to
 * both); the FIN wakes both blocked readers with 0; nothing hangs.
 *
 * (The shutdown waits for the readers so that this program tests the two
 * readers only: a shutdown(SHUT_WR) with data still queued in the sender's
 * datapath is diff_shutdown_queued's subject.)
 */
#include "diff_thread.h"

#define STREAM (4u << 20)
#define ID 7u

struct reader {
    int id;
    uint8_t *data;        /* the pieces, back to back */
    uint32_t *len;        /* their lengths */
    size_t nbytes, npieces, cap_pieces;
    long last;            /* the last recv(): 0 end of stream, -1 error */
    int err;
};

static int srv;           /* the socket both read */
static size_t read_total; /* both readers' bytes (atomic) */

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    uint32_t rnd = 1000u + (uint32_t)r->id;
    size_t cap = (size_t)STREAM + 65536;
    for (;;) {
        uint32_t x = dt_rand(&rnd);
        size_t want = (x & 15) == 0 ? 1 + (x >> 4) % 7 : 1 + (x >> 4) % 4096;
        if (want > cap - r->nbytes)
            want = cap - r->nbytes;
        if (want == 0) {
            r->last = -1; /* far more than the stream: counted as wrong below */
            break;
        }
        ssize_t n = recv(srv, r->data + r->nbytes, want, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            r->last = n;
            r->err = n < 0 ? errno : 0;
            break;
        }
        if (r->npieces == r->cap_pieces) {
            r->cap_pieces = r->cap_pieces ? 2 * r->cap_pieces : 4096;
            r->len = realloc(r->len, r->cap_pieces * sizeof(*r->len));
            if (!r->len)
                die("realloc");
        }
        r->len[r->npieces++] = (uint32_t)n;
        r->nbytes += (size_t)n;
        __atomic_add_fetch(&read_total, (size_t)n, __ATOMIC_RELEASE);
    }
    return NULL;
}

static int cli;

static void *sender_main(void *arg)
{
    (void)arg;
    static uint8_t buf[9000];
    uint32_t rnd = 5;
    for (uint64_t pos = 0; pos < STREAM;) {
        size_t n = 1 + dt_rand(&rnd) % sizeof(buf);
        if (n > STREAM - pos)
            n = STREAM - pos;
        dt_fill(ID, pos, buf, n);
        if (dt_write_all(cli, buf, n) < 0) {
            printf("sender: write failed: %s\n", ename(errno));
            break;
        }
        pos += n;
    }
    struct timespec t0;
    dt_now(&t0);
    while (__atomic_load_n(&read_total, __ATOMIC_ACQUIRE) < STREAM && dt_ms_since(&t0) < 5000)
        ms_sleep(1);
    ms_sleep(20); /* both readers back in recv() */
    shutdown(cli, SHUT_WR);
    return NULL;
}

/*
 * Can the two readers' pieces be interleaved, each reader's in its order,
 * into exactly the stream? At each point the next piece is either reader
 * A's next or reader B's next, and it must match the stream there. When
 * both match (a few bytes that happen to recur), try A's first and come
 * back to B's if A's leads nowhere: a depth-first search over (i, j).
 * Positions are implied: pos = bytes of A's first i + B's first j pieces.
 */
struct frame {
    size_t i, j, offa, offb;
    int tried;            /* 0 nothing, 1 A's piece, 2 both */
};

static bool piece_fits(const struct reader *r, size_t k, size_t off, uint64_t pos)
{
    if (k >= r->npieces || pos + r->len[k] > STREAM)
        return false;
    return dt_mismatch(ID, pos, r->data + off, r->len[k]) < 0;
}

static int merge(const struct reader *a, const struct reader *b)
{
    size_t depth = a->npieces + b->npieces + 1;
    struct frame *st = calloc(depth, sizeof(*st));
    if (!st)
        die("calloc");
    size_t sp = 0;
    long budget = 100000000; /* piece comparisons: far above any real input */
    st[0] = (struct frame){ 0, 0, 0, 0, 0 };
    int found = 0;
    while (budget-- > 0) {
        struct frame *f = &st[sp];
        if (f->i == a->npieces && f->j == b->npieces) {
            found = f->offa + f->offb == STREAM;
            break;
        }
        uint64_t pos = f->offa + f->offb;
        if (f->tried == 0) {
            f->tried = 1;
            if (piece_fits(a, f->i, f->offa, pos)) {
                st[sp + 1] = (struct frame){ f->i + 1, f->j, f->offa + a->len[f->i], f->offb, 0 };
                sp++;
            }
            continue;
        }
        if (f->tried == 1) {
            f->tried = 2;
            if (piece_fits(b, f->j, f->offb, pos)) {
                st[sp + 1] = (struct frame){ f->i, f->j + 1, f->offa, f->offb + b->len[f->j], 0 };
                sp++;
            }
            continue;
        }
        if (sp == 0)
            break; /* nothing fits: not the stream */
        sp--;
    }
    free(st);
    return budget <= 0 ? -1 : found;
}

int main(void)
{
    dt_watchdog(25);
    int lfd = dt_pair(&cli, &srv);

    dt_set_phase("two readers, one sender");
    static struct reader rd[2];
    pthread_t rt[2], st;
    for (int i = 0; i < 2; i++) {
        rd[i].id = i;
        rd[i].data = malloc((size_t)STREAM + 65536);
        if (!rd[i].data)
            die("malloc");
        pthread_create(&rt[i], NULL, reader_main, &rd[i]);
    }
    pthread_create(&st, NULL, sender_main, NULL);
    pthread_join(st, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(rt[i], NULL);

    dt_set_phase("merge");
    size_t total = rd[0].nbytes + rd[1].nbytes;
    printf("stream of %u bytes sent; the two readers read %zu together\n", STREAM, total);
    for (int i = 0; i < 2; i++)
        printf("reader %d: last recv -> %s\n", i,
               rd[i].last == 0 ? "0 (end of stream)" : rd[i].last < 0 ? ename(rd[i].err) : "?");
    int m = total == STREAM ? merge(&rd[0], &rd[1]) : 0;
    printf("the pieces merge into exactly the stream: %s\n", m > 0 ? "yes" : m < 0 ? "undecided" : "no");
    fprintf(stderr, "reader 0: %zu pieces %zu bytes; reader 1: %zu pieces %zu bytes\n", rd[0].npieces,
            rd[0].nbytes, rd[1].npieces, rd[1].nbytes);
    close(srv);
    close(cli);
    close(lfd);
    return 0;
}
