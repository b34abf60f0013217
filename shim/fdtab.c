/* SPDX-License-Identifier: MIT */
/*
 * The fd table: fd -> shim object (socket or epoll set), or NULL for every
 * fd that is the kernel's. Two levels of 1024 entries so that a process
 * with a million fds costs only the chunks it uses. Writers hold all the
 * shim's locks, so a call that holds one instance's lock reads a stable
 * table (shim.h, Locking); the hooks' first check (shim_fd_maybe) reads
 * without any, which is safe because entries are pointers written
 * atomically and the locked path looks again.
 */
#include <errno.h>
#include <stdlib.h>
#include "shim/shim.h"

#define FD_CHUNK_BITS 10
#define FD_CHUNK (1u << FD_CHUNK_BITS)
#define FD_NCHUNKS 1024u /* up to 1M fds (fs.nr_open's default) */

static struct shim_obj **fd_chunks[FD_NCHUNKS];
static int fd_hi = -1;

static inline struct shim_obj **fd_slot(int fd, bool create)
{
    if (fd < 0 || (unsigned)fd >= FD_CHUNK * FD_NCHUNKS)
        return NULL;
    unsigned c = (unsigned)fd >> FD_CHUNK_BITS;
    struct shim_obj **chunk = __atomic_load_n(&fd_chunks[c], __ATOMIC_ACQUIRE);
    if (!chunk) {
        if (!create)
            return NULL;
        chunk = calloc(FD_CHUNK, sizeof(*chunk));
        if (!chunk)
            return NULL;
        shim_mem_add(&shim_mem.shim_fdtab_bytes, FD_CHUNK * sizeof(*chunk));
        __atomic_store_n(&fd_chunks[c], chunk, __ATOMIC_RELEASE);
    }
    return &chunk[(unsigned)fd & (FD_CHUNK - 1)];
}

/* In the table, not asking whether the caller is the datapath itself. */
static inline bool fd_in_table(int fd)
{
    struct shim_obj **p = fd_slot(fd, false);
    return p && __atomic_load_n(p, __ATOMIC_ACQUIRE) != NULL;
}

enum fd_call { FD_CALL_ANY, FD_CALL_RW, FD_CALL_NOPEER };

/* Does this call on a kernel fd wait for no peer that our owed sends
 * would wake, so that a turn's batch may wait for the turn's end? A close
 * waits for nothing (a kernel socket's SO_LINGER: its own peer, for a
 * bounded time), and a read or write of a regular file (or a block
 * device) for the disk at most. Else nginx's access log and the close of
 * each file it serves (a request each) cost a submission and a harvest
 * per request; the fstat is far cheaper, and made only while sends are
 * owed. Any other call may (fcntl's lock, ioctl). */
static bool call_waits_for_no_peer(int fd, enum fd_call kind)
{
    if (kind == FD_CALL_ANY || !shim_tx_owed_batched_only())
        return false;
    if (kind == FD_CALL_NOPEER)
        return true;
    struct stat st;
    return fstat(fd, &st) == 0 && shim_mode_no_peer(st.st_mode);
}

static inline bool fd_check(int fd, enum fd_call kind)
{
    if (shim_bypass())
        return false; /* the datapath's own call: nothing to submit first */
    if (fd_in_table(fd))
        return true;
    /* a call on a kernel fd may block, where nothing would submit the
     * sends this thread left to the end of its turn */
    if (dm_unlikely(shim_tx_owed) && !call_waits_for_no_peer(fd, kind))
        shim_tx_flush_owed();
    return false;
}

bool shim_fd_maybe(int fd) { return fd_check(fd, FD_CALL_ANY); }
bool shim_fd_maybe_rw(int fd) { return fd_check(fd, FD_CALL_RW); }
bool shim_fd_maybe_nopeer(int fd) { return fd_check(fd, FD_CALL_NOPEER); }

struct shim_obj *shim_fd_get(int fd)
{
    struct shim_obj **p = fd_slot(fd, false);
    return p ? *p : NULL;
}

int shim_fd_set(int fd, struct shim_obj *o)
{
    if (fd < 0 || (unsigned)fd >= FD_CHUNK * FD_NCHUNKS)
        return -EMFILE;
    struct shim_obj **p = fd_slot(fd, true);
    if (!p)
        return -ENOMEM;
    __atomic_store_n(p, o, __ATOMIC_RELEASE);
    if (fd > fd_hi)
        fd_hi = fd;
    return 0;
}

void shim_fd_clear(int fd)
{
    struct shim_obj **p = fd_slot(fd, false);
    if (p)
        __atomic_store_n(p, NULL, __ATOMIC_RELEASE);
}

int shim_fd_max(void) { return fd_hi; }
