/* SPDX-License-Identifier: MIT */
/*
 * The public demi_* API: the default instance, created on first use, and
 * the conversion from our -errno returns to Demikernel's positive errno.
 * errno itself is left alone except by demi_sgaalloc, whose only error
 * channel it is.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <demi/libos.h>
#include <demi/sga.h>
#include <demi/wait.h>
#include "core_priv.h"

#define WITH_INSTANCE(inst)                               \
    int err_ = 0;                                         \
    struct dm_instance *inst = dm_default_instance(&err_); \
    if (!inst)                                            \
        return err_ == -ENODEV ? ENODEV : EIO

static int ts_to_ns(const struct timespec *ts, int64_t *ns)
{
    if (!ts) {
        *ns = -1;
        return 0;
    }
    if (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= DM_NS_PER_S)
        return -EINVAL;
    if (ts->tv_sec > INT64_MAX / DM_NS_PER_S - 1)
        *ns = -1;
    else
        *ns = (int64_t)ts->tv_sec * DM_NS_PER_S + ts->tv_nsec;
    return 0;
}

DEMI_EXPORT int demi_init(const struct demi_args *args)
{
    if (!args || args->argc < 0)
        return EINVAL;
    if (args->callback)
        dm_log_callback = args->callback;
    int rc = dm_default_instance_init();
    return -rc;
}

DEMI_EXPORT int demi_socket(int *sockqd_out, int domain, int type, int protocol)
{
    if (!sockqd_out)
        return EINVAL;
    WITH_INSTANCE(inst);
    return -dm_socket(inst, sockqd_out, domain, type, protocol);
}

DEMI_EXPORT int demi_listen(int sockqd, int backlog)
{
    WITH_INSTANCE(inst);
    return -dm_listen(inst, sockqd, backlog);
}

DEMI_EXPORT int demi_bind(int sockqd, const struct sockaddr *addr, socklen_t size)
{
    WITH_INSTANCE(inst);
    return -dm_bind(inst, sockqd, addr, size);
}

DEMI_EXPORT int demi_accept(demi_qtoken_t *qt_out, int sockqd)
{
    if (!qt_out)
        return EINVAL;
    WITH_INSTANCE(inst);
    return -dm_accept(inst, qt_out, sockqd);
}

DEMI_EXPORT int demi_connect(demi_qtoken_t *qt_out, int sockqd, const struct sockaddr *addr, socklen_t size)
{
    if (!qt_out)
        return EINVAL;
    WITH_INSTANCE(inst);
    return -dm_connect(inst, qt_out, sockqd, addr, size);
}

DEMI_EXPORT int demi_close(int qd)
{
    WITH_INSTANCE(inst);
    return -dm_close(inst, qd);
}

DEMI_EXPORT int demi_shutdown(int qd, int how)
{
    WITH_INSTANCE(inst);
    return -dm_shutdown(inst, qd, how);
}

DEMI_EXPORT int demi_push(demi_qtoken_t *qt_out, int qd, const demi_sgarray_t *sga)
{
    if (!qt_out)
        return EINVAL;
    WITH_INSTANCE(inst);
    return -dm_push(inst, qt_out, qd, sga);
}

DEMI_EXPORT int demi_pushto(demi_qtoken_t *qt_out, int sockqd, const demi_sgarray_t *sga,
                            const struct sockaddr *dest_addr, socklen_t size)
{
    if (!qt_out)
        return EINVAL;
    if (!dest_addr)
        return EFAULT;
    WITH_INSTANCE(inst);
    return -dm_pushto(inst, qt_out, sockqd, sga, dest_addr, size);
}

DEMI_EXPORT int demi_pop(demi_qtoken_t *qt_out, int qd)
{
    if (!qt_out)
        return EINVAL;
    WITH_INSTANCE(inst);
    return -dm_pop(inst, qt_out, qd);
}

DEMI_EXPORT int demi_setsockopt(int qd, int level, int optname, const void *optval, socklen_t optlen)
{
    WITH_INSTANCE(inst);
    return -dm_setsockopt(inst, qd, level, optname, optval, optlen);
}

DEMI_EXPORT int demi_getsockopt(int qd, int level, int optname, void *optval, socklen_t *optlen)
{
    WITH_INSTANCE(inst);
    return -dm_getsockopt(inst, qd, level, optname, optval, optlen);
}

DEMI_EXPORT int demi_getpeername(int qd, struct sockaddr *addr, socklen_t *addrlen)
{
    WITH_INSTANCE(inst);
    return -dm_getpeername(inst, qd, addr, addrlen);
}

DEMI_EXPORT int demi_getsockname(int qd, struct sockaddr *addr, socklen_t *addrlen)
{
    WITH_INSTANCE(inst);
    return -dm_getsockname(inst, qd, addr, addrlen);
}

DEMI_EXPORT int demi_wait(demi_qresult_t *qr_out, demi_qtoken_t qt, const struct timespec *timeout)
{
    int64_t ns;
    if (!qr_out || ts_to_ns(timeout, &ns) < 0)
        return EINVAL;
    WITH_INSTANCE(inst);
    return -dm_wait(inst, qr_out, qt, ns);
}

DEMI_EXPORT int demi_wait_any(demi_qresult_t *qr_out, int *ready_offset, const demi_qtoken_t qts[], int num_qts,
                              const struct timespec *timeout)
{
    int64_t ns;
    if (!qr_out || !ready_offset || !qts || num_qts <= 0 || ts_to_ns(timeout, &ns) < 0)
        return EINVAL;
    WITH_INSTANCE(inst);
    return -dm_wait_any(inst, qr_out, ready_offset, qts, num_qts, ns);
}

DEMI_EXPORT int demi_wait_next_n(demi_qresult_t *qr_out, int num_qrs, int *num_qrs_out,
                                 const struct timespec *timeout)
{
    int64_t ns;
    if (!qr_out || !num_qrs_out || num_qrs <= 0 || ts_to_ns(timeout, &ns) < 0)
        return EINVAL;
    WITH_INSTANCE(inst);
    return -dm_wait_next_n(inst, qr_out, num_qrs, num_qrs_out, ns);
}

DEMI_EXPORT demi_sgarray_t demi_sgaalloc(size_t size)
{
    int err = 0;
    demi_sgarray_t sga;
    struct dm_instance *inst = dm_default_instance(&err);
    if (!inst) {
        memset(&sga, 0, sizeof(sga));
        errno = EIO;
        return sga;
    }
    sga = dm_sgaalloc(inst, size, &err);
    if (err)
        errno = -err;
    return sga;
}

DEMI_EXPORT int demi_sgafree(demi_sgarray_t *sga)
{
    if (!sga)
        return EINVAL;
    WITH_INSTANCE(inst);
    return -dm_sgafree(inst, sga);
}
