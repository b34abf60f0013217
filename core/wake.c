/* SPDX-License-Identifier: MIT */
/* Waking a process that may sleep, from another process (dm/wake.h). */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "dm/time.h"
#include "dm/wake.h"

#define WAKE_LOST_NS (1LL * DM_NS_PER_S)

int dm_wake_open(struct dm_wake *w, char *name)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    socklen_t sl = sizeof(sa);
    w->since = 0;
    w->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (w->fd < 0)
        return -errno;
    int err = 0;
    if (bind(w->fd, (struct sockaddr *)&sa, sizeof(sa_family_t)) < 0 || /* autobind */
        getsockname(w->fd, (struct sockaddr *)&sa, &sl) < 0)
        err = -errno;
    else if (sl <= offsetof(struct sockaddr_un, sun_path) + 1 ||
             sl - offsetof(struct sockaddr_un, sun_path) > DM_WAKE_NAME)
        err = -ENAMETOOLONG;
    if (err) {
        dm_wake_close(w);
        return err;
    }
    memset(name, 0, DM_WAKE_NAME);
    memcpy(name, sa.sun_path, sl - offsetof(struct sockaddr_un, sun_path));
    return 0;
}

void dm_wake_close(struct dm_wake *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
}

bool dm_wake_send(const struct dm_wake *w, const char *name)
{
    char n[DM_WAKE_NAME];
    memcpy(n, name, sizeof(n)); /* the owner may rewrite it meanwhile */
    size_t nl = strnlen(n + 1, sizeof(n) - 1);
    if (nl == 0 || w->fd < 0)
        return false;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    memcpy(sa.sun_path, n, nl + 1); /* the leading NUL, then the name */
    char c = 1;
    return sendto(w->fd, &c, 1, MSG_DONTWAIT, (struct sockaddr *)&sa,
                  (socklen_t)(offsetof(struct sockaddr_un, sun_path) + nl + 1)) == 1;
}

bool dm_wake_owner(const struct dm_wake *w, const char *name, uint32_t *flag)
{
    /* we cannot send, or it never sleeps: the flag stays for one who can */
    if (w->fd < 0 || __atomic_load_n(&name[1], __ATOMIC_RELAXED) == '\0')
        return false;
    if (__atomic_exchange_n(flag, 1, __ATOMIC_SEQ_CST) != 0)
        return false; /* one is on its way */
    return dm_wake_send(w, name);
}

bool dm_wake_take(struct dm_wake *w, uint32_t *flag)
{
    if (w->fd < 0 || !__atomic_load_n(flag, __ATOMIC_ACQUIRE))
        return false;
    char c[16];
    bool got = false;
    while (recv(w->fd, c, sizeof(c), MSG_DONTWAIT) >= 0)
        got = true;
    int64_t now = dm_clock_ns();
    if (!got && !w->since)
        w->since = now;
    if (got || now - w->since > WAKE_LOST_NS) {
        /* before the owner looks again: what is put there after this
         * sends a new datagram */
        __atomic_store_n(flag, 0, __ATOMIC_SEQ_CST);
        w->since = 0;
    }
    return got;
}
