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
#include <sys/stat.h>
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

bool shim_fd_maybe(int fd)
{
    if (shim_bypass())
        return false; /* the datapath's own call: nothing to submit first */
    if (fd_in_table(fd))
        return true;
    /* a call on a kernel fd may block, where nothing would submit the
     * sends this thread left to the end of its turn */
    if (dm_unlikely(shim_tx_owed))
        shim_tx_flush_owed();
    return false;
}

/* A read or write of a regular file (or a block device) waits for the
 * disk at most, and a close for nothing (a kernel socket's SO_LINGER: its
 * own peer, for a bounded time): neither waits for a peer that our owed
 * sends would wake, so a turn's batch waits for the turn's end. Else
 * nginx's access log and the close of each file it serves (a request
 * each) cost a submission and a harvest per request. The fstat is far
 * cheaper, and made only while sends are owed. */
bool shim_fd_maybe_rw(int fd)
{
    if (shim_bypass())
        return false;
    if (fd_in_table(fd))
        return true;
    if (dm_unlikely(shim_tx_owed)) {
        struct stat st;
        if (!shim_tx_owed_batched_only() || fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)))
            shim_tx_flush_owed();
    }
    return false;
}

bool shim_fd_maybe_nopeer(int fd)
{
    if (shim_bypass())
        return false;
    if (fd_in_table(fd))
        return true;
    if (dm_unlikely(shim_tx_owed) && !shim_tx_owed_batched_only())
        shim_tx_flush_owed();
    return false;
}

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
