/* SPDX-License-Identifier: MIT */
/*
 * The interface's one copy of our XDP program (xdp_filter.bpf.c), shared by
 * every process of the datapath on it.
 *
 * The object is embedded in the library (embed.py), opened from memory
 * and handed to libxdp (xdp_program__from_bpf_obj + xdp_program__attach):
 * behind libxdp's dispatcher where the kernel lets libxdp load it (it
 * needs bpffs and freplace programs; on our 6.18 test kernel its
 * compatibility check fails with EPERM and libxdp falls back), else alone
 * ("legacy mode"). Either way the attachment belongs to the interface, not
 * to the process: the next process finds the program there (by name, in
 * libxdp's view of the interface), opens its maps by id and puts its own
 * socket in the same XSKMAP at its own queue. Nothing is pinned in bpffs,
 * so none is needed.
 *
 * Lifetime: each opener records itself in xdp_queues at its queue; the
 * last one to close (no live owner left) detaches the program. A process
 * that dies leaves its record; the kernel removes its socket from the
 * XSKMAP as it releases it, so the redirect falls back to XDP_PASS and the
 * kernel gets the queue's frames back; the next opener sees a dead owner
 * and takes the queue, and the last close detaches. All of it runs under
 * the interface lock (xdp_if_lock), an abstract unix socket name.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include "dm/log.h"
#include "xdp_fwd.h"
#include "xdp_lib.h"
#include "xdp_prog.h"

#define XDP_PROG_NAME "demi_xdp_filter"

/* the value of the program's xdp_queues map */
struct xdp_qowner {
    uint64_t pidns;                /* inode of the owner's pid namespace */
    uint64_t start;                /* its start time (/proc/PID/stat), against pid reuse */
    uint32_t pid;
    uint32_t pad;
};

void xdp_shared_close(struct xdp_shared *sh)
{
    if (sh->xsks_fd >= 0)
        close(sh->xsks_fd);
    if (sh->queues_fd >= 0)
        close(sh->queues_fd);
    if (sh->neigh_fd >= 0)
        close(sh->neigh_fd);
    if (sh->neigh6_fd >= 0)
        close(sh->neigh6_fd);
    if (sh->fwd_fd >= 0)
        close(sh->fwd_fd);
    sh->xsks_fd = sh->queues_fd = sh->neigh_fd = sh->neigh6_fd = sh->fwd_fd = -1;
}

uint64_t xdp_pidns_self(void)
{
    struct stat st;
    return stat("/proc/self/ns/pid", &st) == 0 ? (uint64_t)st.st_ino : 0;
}

/* Field 22 of /proc/PID/stat: when it started, in clock ticks. 0: gone. */
static uint64_t start_of(uint32_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%u/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the name may hold spaces */
    unsigned long long v = 0;
    for (int field = 2; p && *p; p++) {
        if (*p == ' ' && ++field == 22) {
            v = strtoull(p + 1, NULL, 10);
            break;
        }
    }
    return v;
}

bool xdp_queue_taken(const struct xdp_shared *sh, uint32_t q)
{
    struct xdp_qowner o;
    if (bpf_map_lookup_elem(sh->queues_fd, &q, &o) < 0 || !o.pid)
        return false;
    if (o.pidns != xdp_pidns_self())
        return true; /* cannot check: assume live */
    if (kill((pid_t)o.pid, 0) < 0 && errno == ESRCH)
        return false;
    return start_of(o.pid) == o.start;
}

uint32_t xdp_queue_pid(const struct xdp_shared *sh, uint32_t q)
{
    struct xdp_qowner o;
    return bpf_map_lookup_elem(sh->queues_fd, &q, &o) < 0 ? 0 : o.pid;
}

int xdp_queue_set(const struct xdp_shared *sh, uint32_t q, bool mine)
{
    struct xdp_qowner o = { 0 };
    if (mine) {
        o.pid = (uint32_t)getpid();
        o.pidns = xdp_pidns_self();
        o.start = start_of(o.pid);
    }
    return bpf_map_update_elem(sh->queues_fd, &q, &o, BPF_ANY) < 0 ? -errno : 0;
}

static bool shared_in_use(const struct xdp_shared *sh)
{
    for (uint32_t q = 0; q < sh->nqueues; q++)
        if (xdp_queue_taken(sh, q))
            return true;
    return false;
}

int xdp_if_lock(int ifindex, int timeout_ms)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int len = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "demi-xdp-lock-%d", ifindex);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    for (int waited = 0;; waited += 2) {
        if (bind(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len)) == 0)
            return fd;
        int err = errno;
        if (err != EADDRINUSE || waited >= timeout_ms) {
            close(fd);
            return err == EADDRINUSE ? -ETIMEDOUT : -err;
        }
        struct timespec ts = { 0, 2 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
}

void xdp_if_unlock(int fd)
{
    if (fd >= 0)
        close(fd);
}

#ifdef DM_XDP_FILTER
extern const unsigned char xdp_filter_obj[];
extern const size_t xdp_filter_obj_len;

int xdp_prog_available(void)
{
    return 1;
}

/* The maps of a loaded copy of our program, by name. */
static int maps_of(int prog_fd, struct xdp_shared *sh, int *addrs_fd, int *addrs6_fd)
{
    struct bpf_prog_info info;
    uint32_t ids[8], len = sizeof(info);
    memset(&info, 0, sizeof(info));
    info.nr_map_ids = 8;
    info.map_ids = (uint64_t)(uintptr_t)ids;
    if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) < 0)
        return -errno;
    for (uint32_t i = 0; i < info.nr_map_ids && i < 8; i++) {
        struct bpf_map_info mi;
        uint32_t mlen = sizeof(mi);
        int mfd = bpf_map_get_fd_by_id(ids[i]), *slot = NULL;
        if (mfd < 0)
            return -errno;
        memset(&mi, 0, sizeof(mi));
        if (bpf_obj_get_info_by_fd(mfd, &mi, &mlen) == 0) {
            if (strcmp(mi.name, "xdp_xsks") == 0) {
                slot = &sh->xsks_fd;
                sh->nqueues = mi.max_entries;
            } else if (strcmp(mi.name, "xdp_queues") == 0) {
                slot = &sh->queues_fd;
            } else if (strcmp(mi.name, "xdp_addrs") == 0) {
                slot = addrs_fd;
            } else if (strcmp(mi.name, "xdp_addrs6") == 0) {
                slot = addrs6_fd;
            } else if (strcmp(mi.name, "xdp_neigh") == 0) {
                slot = &sh->neigh_fd;
            } else if (strcmp(mi.name, "xdp_neigh6") == 0) {
                slot = &sh->neigh6_fd;
            } else if (strcmp(mi.name, "xdp_fwd") == 0) {
                slot = &sh->fwd_fd;
            }
        }
        if (slot && *slot < 0)
            *slot = mfd;
        else
            close(mfd);
    }
    return sh->xsks_fd >= 0 && sh->queues_fd >= 0 && sh->neigh_fd >= 0 && sh->neigh6_fd >= 0 && sh->fwd_fd >= 0 &&
           *addrs_fd >= 0 && *addrs6_fd >= 0
               ? 0 : -ENOENT;
}

/* Our program on the interface: its id (0: none) and how it is attached. */
static uint32_t find_ours(int ifindex, enum xdp_attach_mode *mode, bool *legacy, bool *foreign)
{
    struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
    uint32_t id = 0;
    *foreign = false;
    if (!mp || libxdp_get_error(mp))
        return 0;
    *mode = xdp_multiprog__attach_mode(mp);
    *legacy = xdp_multiprog__is_legacy(mp);
    if (*legacy) {
        struct xdp_program *xp = xdp_multiprog__main_prog(mp);
        if (xp && strcmp(xdp_program__name(xp), XDP_PROG_NAME) == 0)
            id = xdp_program__id(xp);
        else if (xp)
            *foreign = true;
    } else {
        for (struct xdp_program *xp = xdp_multiprog__next_prog(NULL, mp); xp && !id;
             xp = xdp_multiprog__next_prog(xp, mp))
            if (strcmp(xdp_program__name(xp), XDP_PROG_NAME) == 0)
                id = xdp_program__id(xp);
    }
    xdp_multiprog__close(mp);
    return id;
}

static int attach_new(int ifindex, uint32_t nqueues)
{
    DECLARE_LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = XDP_PROG_NAME);
    struct bpf_object *obj = bpf_object__open_mem(xdp_filter_obj, xdp_filter_obj_len, &oo);
    struct xdp_program *xp = NULL;
    int err;
    if (!obj)
        return -errno;
    /* one slot per queue the interface can have, in both per-queue maps */
    struct bpf_map *xsks = bpf_object__find_map_by_name(obj, "xdp_xsks");
    struct bpf_map *queues = bpf_object__find_map_by_name(obj, "xdp_queues");
    struct bpf_map *fwd = bpf_object__find_map_by_name(obj, "xdp_fwd");
    if (!xsks || !queues || !fwd) {
        err = -ENOENT;
        goto out;
    }
    if ((err = bpf_map__set_max_entries(xsks, nqueues)) < 0 || (err = bpf_map__set_max_entries(queues, nqueues)) < 0 ||
        (err = bpf_map__set_max_entries(fwd, xdp_fwd_pages(nqueues))) < 0)
        goto out;
    xp = xdp_program__from_bpf_obj(obj, "xdp");
    if ((err = (int)libxdp_get_error(xp)) != 0) {
        xp = NULL;
        goto out;
    }
    err = xdp_program__attach(xp, ifindex, XDP_MODE_UNSPEC, 0);
out:
    /* attached, the kernel holds the program and its maps */
    xdp_program__close(xp);
    bpf_object__close(obj);
    return err;
}

int xdp_shared_get(int ifindex, uint32_t nqueues, const struct xdp_our_addrs *addrs, struct xdp_shared *out)
{
    enum xdp_attach_mode mode = XDP_MODE_UNSPEC;
    bool legacy = false, foreign = false;
    int err = 0, addrs_fd = -1, addrs6_fd = -1;
    uint8_t one = 1;
    if ((err = xdp_lib_load()) < 0)
        return err;

    out->xsks_fd = out->queues_fd = out->neigh_fd = out->neigh6_fd = out->fwd_fd = -1;
    uint32_t id = find_ours(ifindex, &mode, &legacy, &foreign);
    if (!id) {
        if (foreign)
            return -EEXIST;
        if ((err = attach_new(ifindex, nqueues)) < 0)
            return err;
        if (!(id = find_ours(ifindex, &mode, &legacy, &foreign)))
            return -ENOENT;
        DM_INFO("xdp", "ifindex %d: attached our XDP program (id %u, %u queue slots), %s", ifindex, id, nqueues,
                legacy ? "alone (legacy mode)" : "behind libxdp's dispatcher");
    }
    int pfd = bpf_prog_get_fd_by_id(id);
    if (pfd < 0)
        return -errno;
    err = maps_of(pfd, out, &addrs_fd, &addrs6_fd);
    close(pfd);
    if (err == -ENOENT)
        err = -ESTALE; /* our name, not our maps: a copy from another version */
    if (err == 0 && bpf_map_update_elem(addrs_fd, &addrs->v4, &one, BPF_ANY) < 0)
        err = -errno;
    if (err == 0 && addrs->has6 && bpf_map_update_elem(addrs6_fd, addrs->v6, &one, BPF_ANY) < 0)
        err = -errno;
    if (addrs_fd >= 0)
        close(addrs_fd);
    if (addrs6_fd >= 0)
        close(addrs6_fd);
    if (err < 0) {
        xdp_shared_close(out);
        return err;
    }
    out->legacy = legacy;
    return 0;
}

int xdp_shared_put(int ifindex)
{
    enum xdp_attach_mode mode = XDP_MODE_UNSPEC;
    bool legacy = false, foreign = false;
    struct xdp_shared sh = { .xsks_fd = -1, .queues_fd = -1, .neigh_fd = -1, .neigh6_fd = -1, .fwd_fd = -1 };
    int addrs_fd = -1, addrs6_fd = -1;
    if (xdp_lib_load() < 0)
        return -ENOSYS;
    uint32_t id = find_ours(ifindex, &mode, &legacy, &foreign);
    if (!id)
        return 0;
    int pfd = bpf_prog_get_fd_by_id(id);
    if (pfd < 0)
        return -errno;
    int err = maps_of(pfd, &sh, &addrs_fd, &addrs6_fd);
    close(pfd);
    if (addrs_fd >= 0)
        close(addrs_fd);
    if (addrs6_fd >= 0)
        close(addrs6_fd);
    bool busy = err == 0 && shared_in_use(&sh);
    xdp_shared_close(&sh);
    if (busy)
        return 0;
    struct xdp_program *xp = xdp_program__from_id(id);
    if (!xp || libxdp_get_error(xp))
        return -ENOENT;
    err = xdp_program__detach(xp, ifindex, mode, 0);
    xdp_program__close(xp);
    if (err < 0) {
        DM_WARN("xdp", "ifindex %d: detaching our XDP program (id %u): %s", ifindex, id, strerror(-err));
        return err;
    }
    DM_INFO("xdp", "ifindex %d: last user gone, detached our XDP program (id %u)", ifindex, id);
    return 1;
}

#else /* no clang at build time: no program to load */

int xdp_prog_available(void)
{
    return 0;
}

int xdp_shared_get(int ifindex, uint32_t nqueues, const struct xdp_our_addrs *addrs, struct xdp_shared *out)
{
    (void)ifindex, (void)nqueues, (void)addrs;
    out->xsks_fd = out->queues_fd = out->neigh_fd = out->neigh6_fd = out->fwd_fd = -1;
    return -EOPNOTSUPP;
}

int xdp_shared_put(int ifindex)
{
    (void)ifindex;
    return 0;
}
#endif
