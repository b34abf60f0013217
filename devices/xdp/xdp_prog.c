/* SPDX-License-Identifier: MIT */
/*
 * Loading, attaching and detaching our XDP program (xdp_filter.bpf.c).
 *
 * The object is embedded in the library (embed.py), opened from memory
 * and handed to libxdp (xdp_program__from_bpf_obj + xdp_program__attach):
 * with bpffs mounted libxdp puts it behind its dispatcher, next to other
 * programs (ours from other processes, xdp-filter, ...); without bpffs it
 * attaches it alone (legacy mode), which fails when the interface already
 * has a program.
 *
 * Every process attaches its own copy, with its own XSKMAP and addresses:
 * a copy redirects what is for its addresses on queues where it has a
 * socket, and XDP_PASS hands everything else to the next program and in
 * the end to the kernel.
 *
 * A process that dies without closing leaves its copy attached (XDP
 * attachments belong to the interface, not to a process). The kernel
 * empties the copy's XSKMAP slots when the sockets are released, and the
 * redirect falls back to XDP_PASS, so the copy passes everything on; it
 * still holds a dispatcher slot (libxdp allows 10). The next attach
 * detaches copies whose owner (xdp_owner: pid and pid namespace) is gone.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>
#include "dm/log.h"
#include "xdp_prog.h"

#define XDP_PROG_NAME   "demi_xdp_filter"
#define XDP_PROG_MAX_STALE 16u

/* the value of the program's xdp_owner map */
struct xdp_owner {
    uint64_t pidns;
    uint32_t pid;
    uint32_t pad;
};

struct xdp_prog {
    struct bpf_object *obj;
    struct xdp_program *prog;
    int ifindex;
    int xsks_fd;
    bool legacy;
};

#ifdef DM_XDP_FILTER
extern const unsigned char xdp_filter_obj[];
extern const size_t xdp_filter_obj_len;

int xdp_prog_available(void)
{
    return 1;
}

static uint64_t our_pidns(void)
{
    struct stat st;
    return stat("/proc/self/ns/pid", &st) == 0 ? (uint64_t)st.st_ino : 0;
}

/* The owner recorded in a loaded copy of our program; -errno. */
static int owner_of(struct xdp_program *xp, struct xdp_owner *o)
{
    struct bpf_prog_info info;
    uint32_t ids[8], len = sizeof(info), key = 0;
    int fd = xdp_program__fd(xp), err = -ENOENT;
    if (fd < 0)
        return -EBADF;
    memset(&info, 0, sizeof(info));
    info.nr_map_ids = 8;
    info.map_ids = (uint64_t)(uintptr_t)ids;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
        return -errno;
    for (uint32_t i = 0; i < info.nr_map_ids && i < 8 && err == -ENOENT; i++) {
        struct bpf_map_info mi;
        uint32_t mlen = sizeof(mi);
        int mfd = bpf_map_get_fd_by_id(ids[i]);
        if (mfd < 0)
            continue;
        memset(&mi, 0, sizeof(mi));
        if (bpf_obj_get_info_by_fd(mfd, &mi, &mlen) == 0 && strcmp(mi.name, "xdp_owner") == 0)
            err = bpf_map_lookup_elem(mfd, &key, o) < 0 ? -errno : 0;
        close(mfd);
    }
    return err;
}

/* A copy is stale when its owner was in our pid namespace and is gone.
 * A copy from another pid namespace, or one whose owner is unknown (died
 * between attach and recording itself), is left alone: a wrong guess
 * would cut a live process off. */
static bool is_stale(struct xdp_program *xp, uint64_t pidns)
{
    struct xdp_owner o;
    int err;
    if (strcmp(xdp_program__name(xp), XDP_PROG_NAME) != 0)
        return false;
    if ((err = owner_of(xp, &o)) < 0) {
        DM_DEBUG("xdp", "our XDP program id %u: no owner: %s", xdp_program__id(xp), strerror(-err));
        return false;
    }
    DM_DEBUG("xdp", "our XDP program id %u: owner pid %u", xdp_program__id(xp), o.pid);
    if (!o.pid || !pidns || o.pidns != pidns || o.pid == (uint32_t)getpid())
        return false;
    return kill((pid_t)o.pid, 0) < 0 && errno == ESRCH;
}

static void detach_stale(int ifindex)
{
    struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
    uint32_t ids[XDP_PROG_MAX_STALE];
    unsigned n = 0;
    uint64_t pidns = our_pidns();
    if (!mp || libxdp_get_error(mp))
        return; /* nothing attached, or not readable: nothing to clean */
    enum xdp_attach_mode mode = xdp_multiprog__attach_mode(mp);
    if (xdp_multiprog__is_legacy(mp)) {
        struct xdp_program *xp = xdp_multiprog__main_prog(mp);
        if (xp && is_stale(xp, pidns))
            ids[n++] = xdp_program__id(xp);
    } else {
        for (struct xdp_program *xp = xdp_multiprog__next_prog(NULL, mp); xp && n < XDP_PROG_MAX_STALE;
             xp = xdp_multiprog__next_prog(xp, mp))
            if (is_stale(xp, pidns))
                ids[n++] = xdp_program__id(xp);
    }
    xdp_multiprog__close(mp);
    /* detach after the walk: each detach rebuilds the dispatcher */
    for (unsigned i = 0; i < n; i++) {
        struct xdp_program *xp = xdp_program__from_id(ids[i]);
        if (!xp || libxdp_get_error(xp))
            continue;
        int err = xdp_program__detach(xp, ifindex, mode, 0);
        DM_INFO("xdp", "ifindex %d: %s a copy of our XDP program left by a dead process (id %u)%s%s", ifindex,
                err ? "could not detach" : "detached", ids[i], err ? ": " : "", err ? strerror(-err) : "");
        xdp_program__close(xp);
    }
}

static int map_fd(struct bpf_object *obj, const char *name)
{
    struct bpf_map *m = bpf_object__find_map_by_name(obj, name);
    int fd = m ? bpf_map__fd(m) : -ENOENT;
    return fd < 0 ? -ENOENT : fd;
}

int xdp_prog_attach(struct xdp_prog **out, int ifindex, uint32_t nqueues, const uint32_t *addrs, unsigned naddrs)
{
    DECLARE_LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = XDP_PROG_NAME);
    struct xdp_prog *p;
    int err, fd;
    uint8_t one = 1;
    uint32_t key = 0;

    if (!nqueues || !naddrs || ifindex <= 0)
        return -EINVAL;
    if (!(p = calloc(1, sizeof(*p))))
        return -ENOMEM;
    p->ifindex = ifindex;
    p->obj = bpf_object__open_mem(xdp_filter_obj, xdp_filter_obj_len, &oo);
    if (!p->obj) {
        err = -errno;
        goto fail;
    }
    /* one slot per queue the interface can have, so every process (one
     * XSK per queue each) inserts at its queue index */
    struct bpf_map *xsks = bpf_object__find_map_by_name(p->obj, "xdp_xsks");
    if (!xsks) {
        err = -ENOENT;
        goto fail;
    }
    if ((err = bpf_map__set_max_entries(xsks, nqueues)) < 0)
        goto fail;
    p->prog = xdp_program__from_bpf_obj(p->obj, "xdp");
    if ((err = (int)libxdp_get_error(p->prog)) != 0) {
        p->prog = NULL;
        goto fail;
    }
    detach_stale(ifindex);
    if ((err = xdp_program__attach(p->prog, ifindex, XDP_MODE_UNSPEC, 0)) < 0)
        goto fail;

    struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
    if (mp && !libxdp_get_error(mp)) {
        p->legacy = xdp_multiprog__is_legacy(mp);
        xdp_multiprog__close(mp);
    }
    struct xdp_owner me = { .pidns = our_pidns(), .pid = (uint32_t)getpid() };
    if ((fd = map_fd(p->obj, "xdp_owner")) < 0 || bpf_map_update_elem(fd, &key, &me, BPF_ANY) < 0 ||
        (fd = map_fd(p->obj, "xdp_addrs")) < 0) {
        err = fd < 0 ? fd : -errno;
        goto fail_detach;
    }
    for (unsigned i = 0; i < naddrs; i++) {
        if (bpf_map_update_elem(fd, &addrs[i], &one, BPF_ANY) < 0) {
            err = -errno;
            goto fail_detach;
        }
    }
    if ((p->xsks_fd = map_fd(p->obj, "xdp_xsks")) < 0) {
        err = p->xsks_fd;
        goto fail_detach;
    }
    *out = p;
    return 0;
fail_detach:
    xdp_program__detach(p->prog, ifindex, XDP_MODE_UNSPEC, 0);
fail:
    xdp_program__close(p->prog);
    bpf_object__close(p->obj);
    free(p);
    return err < 0 ? err : -EIO;
}

int xdp_prog_add_xsk(struct xdp_prog *p, struct xsk_socket *xsk)
{
    int err = xsk_socket__update_xskmap(xsk, p->xsks_fd);
    return err < 0 ? err : 0;
}

const char *xdp_prog_mode(const struct xdp_prog *p)
{
    return p->legacy ? "alone (no bpffs: legacy mode)" : "behind libxdp's dispatcher";
}

void xdp_prog_detach(struct xdp_prog *p)
{
    if (!p)
        return;
    enum xdp_attach_mode mode = xdp_program__is_attached(p->prog, p->ifindex);
    int err = mode ? xdp_program__detach(p->prog, p->ifindex, mode, 0) : 0;
    if (err)
        DM_WARN("xdp", "ifindex %d: detaching our XDP program: %s", p->ifindex, strerror(-err));
    xdp_program__close(p->prog);
    bpf_object__close(p->obj);
    free(p);
}

#else /* no clang at build time: no program to load */

int xdp_prog_available(void)
{
    return 0;
}

int xdp_prog_attach(struct xdp_prog **out, int ifindex, uint32_t nqueues, const uint32_t *addrs, unsigned naddrs)
{
    (void)out, (void)ifindex, (void)nqueues, (void)addrs, (void)naddrs;
    return -EOPNOTSUPP;
}

int xdp_prog_add_xsk(struct xdp_prog *p, struct xsk_socket *xsk)
{
    (void)p, (void)xsk;
    return -EOPNOTSUPP;
}

const char *xdp_prog_mode(const struct xdp_prog *p)
{
    (void)p;
    return "none";
}

void xdp_prog_detach(struct xdp_prog *p)
{
    (void)p;
}
#endif
