/* SPDX-License-Identifier: MIT */
/*
 * Backends and devices register themselves by name from constructors
 * (DM_STACK_REGISTER / DM_DEV_REGISTER), so core has no list of them: a
 * backend whose dependency is missing is simply not linked in.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core_priv.h"
#include "dm/device.h"

#define MAX_STACKS 16
#define MAX_DEVS 16

static const struct dm_stack_ops *stacks[MAX_STACKS];
static unsigned nstacks;
static const struct dm_dev_ops *devs[MAX_DEVS];
static unsigned ndevs;

int dm_stack_register(const struct dm_stack_ops *o)
{
    if (!o || !o->name || !o->create || !o->destroy || !o->socket || !o->bind || !o->listen || !o->accept ||
        !o->connect || !o->push || !o->pop || !o->close || !o->poll)
        return -EINVAL;
    if (dm_stack_find(o->name))
        return -EEXIST;
    if (nstacks >= MAX_STACKS)
        return -ENOSPC;
    stacks[nstacks++] = o;
    return 0;
}

/* The stack that serves L2 devices (dm_stack_ops.l2), if one is built. */
static const struct dm_stack_ops *stack_l2(void)
{
    for (unsigned i = 0; i < nstacks; i++)
        if (stacks[i]->l2)
            return stacks[i];
    return NULL;
}

static bool dev_is_backend(const struct dm_dev_ops *d) { return d->wrap_order == 0; }

/* A backend's name is a stack's (uring, posix, rdma) or a device's
 * (loop, dpdk, xdp), which the L2 stack serves. */
const struct dm_stack_ops *dm_stack_find(const char *name)
{
    for (unsigned i = 0; i < nstacks; i++)
        if (!stacks[i]->l2 && strcmp(stacks[i]->name, name) == 0)
            return stacks[i];
    const struct dm_dev_ops *d = dm_dev_find(name);
    return d && dev_is_backend(d) ? stack_l2() : NULL;
}

void dm_dev_register_failed(const struct dm_dev_ops *ops, int err)
{
    DM_ERR("core", "device %s not registered: %s", ops && ops->name ? ops->name : "(unnamed)",
           err == -EINVAL ? "an op it must have is missing" : err == -EEXIST ? "the name is taken" : strerror(-err));
}

void dm_stack_register_failed(const struct dm_stack_ops *ops, int err)
{
    DM_ERR("core", "backend %s not registered: %s", ops && ops->name ? ops->name : "(unnamed)",
           err == -EINVAL ? "an op it must have is missing" : err == -EEXIST ? "the name is taken" : strerror(-err));
}

/* The list's names, one by one: copies name i into out, false past the end. */
bool dm_backend_list_at(const char *list, unsigned i, char *out, size_t len)
{
    const char *p = list;
    for (;;) {
        size_t n = strcspn(p, ",");
        if (i == 0) {
            if (n == 0 && !p[n])
                return false;
            if (n >= len)
                n = len - 1;
            memcpy(out, p, n);
            out[n] = 0;
            return true;
        }
        if (!p[n])
            return false;
        p += n + 1;
        i--;
    }
}

const struct dm_stack_ops *dm_stack_first(const char *list)
{
    char name[32];
    for (unsigned i = 0; list && dm_backend_list_at(list, i, name, sizeof(name)); i++) {
        const struct dm_stack_ops *o = dm_stack_find(name);
        if (o)
            return o;
    }
    return NULL;
}

static void names_add(char *buf, size_t len, size_t *off, const char *name)
{
    if (*off >= len)
        return;
    int n = snprintf(buf + *off, len - *off, "%s%s", *off ? ", " : "", name);
    if (n > 0)
        *off += (size_t)n;
}

void dm_stack_names(char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = 0;
    for (unsigned i = 0; i < nstacks; i++)
        if (!stacks[i]->l2)
            names_add(buf, len, &off, stacks[i]->name);
    for (unsigned i = 0; i < ndevs && stack_l2(); i++)
        if (dev_is_backend(devs[i]))
            names_add(buf, len, &off, devs[i]->name);
}

int dm_dev_register(const struct dm_dev_ops *o)
{
    if (!o || !o->name || !o->open || !o->close || !o->info)
        return -EINVAL;
    if (dm_dev_find(o->name))
        return -EEXIST;
    if (ndevs >= MAX_DEVS)
        return -ENOSPC;
    devs[ndevs++] = o;
    return 0;
}

const struct dm_dev_ops *dm_dev_find(const char *name)
{
    for (unsigned i = 0; i < ndevs; i++)
        if (strcmp(devs[i]->name, name) == 0)
            return devs[i];
    return NULL;
}

int dm_dev_open(struct dm_instance *inst, const char *name, struct dm_dev *lower, const struct dm_config *cfg,
                struct dm_dev **out)
{
    const struct dm_dev_ops *ops = dm_dev_find(name);
    if (!ops) {
        DM_ERR("dev", "device '%s' is not built into this library", name);
        return -ENODEV;
    }
    struct dm_dev *dev = calloc(1, sizeof(*dev));
    if (!dev)
        return -ENOMEM;
    dev->inst = inst;
    dev->lower = lower;
    dev->ops = ops;
    int rc = ops->open(dev, cfg);
    if (rc < 0) {
        free(dev);
        return rc;
    }
    if (ops->start && (rc = ops->start(dev)) < 0) {
        ops->close(dev);
        free(dev);
        return rc;
    }
    *out = dev;
    return 0;
}

int dm_dev_open_stacked(struct dm_instance *inst, const char *name, const struct dm_config *cfg,
                        struct dm_dev **out)
{
    struct dm_dev *dev;
    int rc = dm_dev_open(inst, name, NULL, cfg, &dev);
    if (rc < 0)
        return rc;
    /* the wrappers, each once, lowest order first (a handful: no sort) */
    for (unsigned order = 1; order <= UINT8_MAX; order++) {
        bool more = false;
        for (unsigned i = 0; i < ndevs; i++) {
            const struct dm_dev_ops *w = devs[i];
            more |= w->wrap_order > order;
            if (w->wrap_order != order || !dm_cfg_raw(cfg, w->wrap_var))
                continue;
            struct dm_dev *top;
            rc = dm_dev_open(inst, w->name, dev, cfg, &top);
            if (rc < 0) {
                DM_ERR("dev", "%s is set but the '%s' wrapper could not be opened: %s", dm_cfg_vars[w->wrap_var].name,
                       w->name, strerror(-rc));
                dm_dev_close(dev);
                return rc;
            }
            dev = top;
        }
        if (!more)
            break;
    }
    *out = dev;
    return 0;
}

void dm_dev_close(struct dm_dev *dev)
{
    while (dev) {
        struct dm_dev *lower = dev->lower;
        if (dev->ops->stop)
            dev->ops->stop(dev);
        dev->ops->close(dev);
        free(dev);
        dev = lower;
    }
}

int dm_dev_lower_info(struct dm_dev *dev, struct dm_dev_info *info)
{
    return dev->lower->ops->info(dev->lower, info);
}

bool dm_dev_flow_ours(struct dm_dev *dev, int proto, uint32_t lip, uint16_t lport, uint32_t rip, uint16_t rport)
{
    for (; dev; dev = dev->lower)
        if (dev->ops && dev->ops->flow_ours)
            return dev->ops->flow_ours(dev, proto, lip, lport, rip, rport);
    return true;
}

bool dm_dev_flow_ours6(struct dm_dev *dev, int proto, const uint8_t *lip, uint16_t lport, const uint8_t *rip,
                       uint16_t rport)
{
    for (; dev; dev = dev->lower)
        if (dev->ops && dev->ops->flow_ours6)
            return dev->ops->flow_ours6(dev, proto, lip, lport, rip, rport);
    return true;
}

bool dm_dev_forward(struct dm_dev *dev, struct dm_buf *frame, uint32_t flow_hash)
{
    for (; dev; dev = dev->lower)
        if (dev->ops && dev->ops->forward)
            return dev->ops->forward(dev, frame, flow_hash);
    return false;
}

void dm_dev_listening(struct dm_dev *dev, bool on)
{
    for (; dev; dev = dev->lower)
        if (dev->ops && dev->ops->listening) {
            dev->ops->listening(dev, on);
            return;
        }
}

bool dm_dev_peers_starting(struct dm_dev *dev)
{
    for (; dev; dev = dev->lower)
        if (dev->ops && dev->ops->peers_starting)
            return dev->ops->peers_starting(dev);
    return false;
}

int dm_dev_wait_arm(struct dm_dev *dev)
{
    for (; dev; dev = dev->lower)
        if (dev->ops && dev->ops->wait_arm)
            return dev->ops->wait_arm(dev);
    return 0;
}

int dm_dev_lower_wait_fd(struct dm_dev *dev)
{
    struct dm_dev *l = dev->lower;
    return l->ops->wait_fd ? l->ops->wait_fd(l) : -1;
}

static dm_thread_check_fn internal_checks[4];
static unsigned n_internal_checks;

void dm_internal_thread_check_register(dm_thread_check_fn fn)
{
    for (unsigned i = 0; i < __atomic_load_n(&n_internal_checks, __ATOMIC_ACQUIRE); i++)
        if (internal_checks[i] == fn)
            return;
    if (n_internal_checks < DM_ARRAY_SIZE(internal_checks)) {
        internal_checks[n_internal_checks] = fn;
        __atomic_store_n(&n_internal_checks, n_internal_checks + 1, __ATOMIC_RELEASE);
    }
}

bool dm_thread_is_internal(void)
{
    unsigned n = __atomic_load_n(&n_internal_checks, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++)
        if (internal_checks[i]())
            return true;
    return false;
}

static dm_thread_gate_fn internal_gate;

void dm_internal_thread_gate_register(dm_thread_gate_fn fn)
{
    __atomic_store_n(&internal_gate, fn, __ATOMIC_RELEASE);
}

void dm_internal_thread_gate(bool busy)
{
    dm_thread_gate_fn fn = __atomic_load_n(&internal_gate, __ATOMIC_ACQUIRE);
    if (fn)
        fn(busy);
}
