/* SPDX-License-Identifier: MIT */
/*
 * The socket calls on an explicit instance: argument checks with Linux's
 * errno values, then the backend's op. Async calls make an op first and
 * release it again if the backend refuses to start it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <netinet/in.h>
#include "core_priv.h"

#define SOCK_TYPE_MASK 0xf

int dm_socket(struct dm_instance *inst, int *qd, int domain, int type, int protocol)
{
    if (!qd)
        return -EINVAL;
    dm_refresh_for_call(inst);
    int base = type & SOCK_TYPE_MASK;
    if (type & ~(SOCK_TYPE_MASK | SOCK_NONBLOCK | SOCK_CLOEXEC))
        return -EINVAL;
    /* AF_INET6 only where the backend takes it (kernel sockets) */
    if (domain != AF_INET && !(domain == AF_INET6 && inst->ops->inet6))
        return -EAFNOSUPPORT;
    if (base != SOCK_STREAM && base != SOCK_DGRAM) {
        if (base == 0 || base > SOCK_PACKET)
            return -EINVAL;
        return base == SOCK_RAW ? -EPROTONOSUPPORT : -ESOCKTNOSUPPORT;
    }
    if (base == SOCK_STREAM && protocol != 0 && protocol != IPPROTO_TCP)
        return -EPROTONOSUPPORT;
    if (base == SOCK_DGRAM && protocol != 0 && protocol != IPPROTO_UDP)
        return -EPROTONOSUPPORT;
    struct dm_queue *q = dm_queue_new(inst, base);
    if (!q)
        return -EMFILE;
    int rc = inst->ops->socket(inst->st, q, domain, base, protocol);
    if (rc < 0) {
        dm_queue_release(q);
        return rc;
    }
    q->domain = domain;
    *qd = q->qd;
    return 0;
}

/* Checks a sockaddr argument the way Linux's inet sockets do and copies
 * it into out. An AF_INET6 address may be the 24 bytes of RFC 2133 (no
 * scope id). An AF_INET address on an AF_INET6 socket goes on to the
 * backend: Linux refuses it for bind and TCP connect (-EINVAL: too short)
 * but a UDP socket sends to it over IPv4 unless IPV6_V6ONLY. */
static int check_addr(const struct dm_queue *q, const struct sockaddr *addr, socklen_t len,
                      union dm_sockaddr *out)
{
    if (!addr)
        return -EFAULT;
    if (len < (socklen_t)sizeof(struct sockaddr_in))
        return -EINVAL;
    if (addr->sa_family != AF_INET && addr->sa_family != AF_INET6)
        return -EAFNOSUPPORT;
    memset(out, 0, sizeof(*out));
    if (addr->sa_family == AF_INET6) {
        if (q->domain == AF_INET)
            return -EAFNOSUPPORT;
        if (len < (socklen_t)offsetof(struct sockaddr_in6, sin6_scope_id)) /* SIN6_LEN_RFC2133 */
            return -EINVAL;
        memcpy(out, addr, DM_MIN((size_t)len, sizeof(struct sockaddr_in6)));
    } else {
        memcpy(out, addr, sizeof(struct sockaddr_in));
    }
    return 0;
}

#define GET_QUEUE(inst, qd, q)              \
    struct dm_queue *q = dm_queue_get(inst, qd); \
    if (!q)                                 \
        return -EBADF;                      \
    dm_refresh_for_call(inst)

int dm_bind(struct dm_instance *inst, int qd, const struct sockaddr *addr, socklen_t len)
{
    GET_QUEUE(inst, qd, q);
    union dm_sockaddr a;
    int rc = check_addr(q, addr, len, &a);
    if (rc < 0)
        return rc;
    return inst->ops->bind(inst->st, q, &a);
}

int dm_listen(struct dm_instance *inst, int qd, int backlog)
{
    GET_QUEUE(inst, qd, q);
    if (q->type != SOCK_STREAM)
        return -EOPNOTSUPP;
    if (backlog < 0)
        backlog = 0;
    if (backlog > 65535)
        backlog = 65535;
    return inst->ops->listen(inst->st, q, backlog);
}

/* Starts an async op: make it, hand it to the backend, undo on refusal. */
static int start_op(struct dm_instance *inst, struct dm_queue *q, int opcode, demi_qtoken_t *qt,
                    struct dm_buf *chain, const struct sockaddr *addr)
{
    struct dm_op *op = dm_op_new(inst, q, opcode);
    if (!op) {
        dm_buf_free(chain);
        return -ENOBUFS;
    }
    op->chain = chain;
    if (addr) {
        memcpy(&op->addr6, addr, dm_addr_len(addr));
        op->has_addr = 1;
    }
    /* The token is valid before the backend runs: it may complete the op
     * at once, and the caller still waits on it. */
    demi_qtoken_t token = op->token;
    int rc;
    switch (opcode) {
    case DEMI_OPC_ACCEPT: rc = inst->ops->accept(inst->st, q, op); break;
    case DEMI_OPC_CONNECT: rc = inst->ops->connect(inst->st, q, op); break;
    case DEMI_OPC_PUSH: rc = inst->ops->push(inst->st, q, op); break;
    default: rc = inst->ops->pop(inst->st, q, op); break;
    }
    if (rc < 0) {
        if (op->state == DM_OP_PENDING && op->token == token)
            dm_op_release(op);
        return rc;
    }
    *qt = token;
    return 0;
}

int dm_accept(struct dm_instance *inst, demi_qtoken_t *qt, int qd)
{
    if (!qt)
        return -EINVAL;
    GET_QUEUE(inst, qd, q);
    if (q->type != SOCK_STREAM)
        return -EOPNOTSUPP;
    return start_op(inst, q, DEMI_OPC_ACCEPT, qt, NULL, NULL);
}

int dm_connect(struct dm_instance *inst, demi_qtoken_t *qt, int qd, const struct sockaddr *addr, socklen_t len)
{
    if (!qt)
        return -EINVAL;
    GET_QUEUE(inst, qd, q);
    union dm_sockaddr a = { 0 };
    if (addr && len >= (socklen_t)sizeof(sa_family_t) && addr->sa_family == AF_UNSPEC && q->type == SOCK_DGRAM) {
        /* connect(AF_UNSPEC): a datagram socket forgets its peer */
        a.sa.sa_family = AF_UNSPEC;
        return start_op(inst, q, DEMI_OPC_CONNECT, qt, NULL, &a.sa);
    }
    int rc = check_addr(q, addr, len, &a);
    if (rc < 0)
        return rc;
    return start_op(inst, q, DEMI_OPC_CONNECT, qt, NULL, &a.sa);
}

int dm_close(struct dm_instance *inst, int qd)
{
    GET_QUEUE(inst, qd, q);
    int rc = inst->ops->close(inst->st, q);
    dm_queue_cancel_ops(q);
    dm_queue_release(q);
    return rc;
}

int dm_detach(struct dm_instance *inst, int qd)
{
    GET_QUEUE(inst, qd, q);
    if (!inst->ops->detach)
        return -EOPNOTSUPP;
    if (!dm_list_empty(&q->ops))
        return -EBUSY;
    int fd = inst->ops->detach(inst->st, q);
    if (fd < 0)
        return fd;
    dm_queue_release(q);
    return fd;
}

int dm_adopt(struct dm_instance *inst, int *qd, int fd)
{
    if (!qd || fd < 0)
        return -EINVAL;
    if (!inst->ops->adopt)
        return -EOPNOTSUPP;
    dm_refresh_for_call(inst);
    struct dm_queue *q = dm_queue_new(inst, SOCK_STREAM);
    if (!q)
        return -EMFILE;
    int rc = inst->ops->adopt(inst->st, q, fd);
    if (rc < 0) {
        dm_queue_release(q);
        return rc;
    }
    *qd = q->qd;
    return 0;
}

int dm_kernel_fd(struct dm_instance *inst, int qd)
{
    /* no GET_QUEUE: nothing of the instance is written (a forked child
     * asks the parent's) */
    struct dm_queue *q = dm_queue_get(inst, qd);
    if (!q)
        return -EBADF;
    if (!inst->ops->kernel_fd)
        return -EOPNOTSUPP;
    return inst->ops->kernel_fd(inst->st, q);
}

void dm_instance_fork_child(struct dm_instance *inst)
{
    if (inst->ops->fork_child)
        inst->ops->fork_child(inst->st);
}

bool dm_instance_inet6(const struct dm_instance *inst)
{
    return inst->ops->inet6;
}

bool dm_instance_cork_by_batch(const struct dm_instance *inst)
{
    return inst->ops->cork_by_batch;
}

bool dm_instance_adopts(const struct dm_instance *inst)
{
    return inst->ops->adopt != NULL;
}

bool dm_instance_thread_instances(const struct dm_instance *inst)
{
    return inst->ops->thread_instances && inst->ops->detach && inst->ops->adopt;
}

int dm_shutdown(struct dm_instance *inst, int qd, int how)
{
    GET_QUEUE(inst, qd, q);
    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
        return -EINVAL;
    if (!inst->ops->shutdown)
        return -EOPNOTSUPP;
    return inst->ops->shutdown(inst->st, q, how);
}

static int check_sga(const demi_sgarray_t *sga)
{
    if (!sga)
        return -EINVAL;
    if (sga->sga_numsegs == 0 || sga->sga_numsegs > DEMI_SGARRAY_MAXSIZE)
        return -EINVAL;
    uint64_t total = 0;
    for (uint32_t i = 0; i < sga->sga_numsegs; i++) {
        if (sga->sga_segs[i].sgaseg_len && !sga->sga_segs[i].sgaseg_buf)
            return -EFAULT;
        total += sga->sga_segs[i].sgaseg_len;
    }
    return total ? 0 : -EINVAL;
}

int dm_pushto(struct dm_instance *inst, demi_qtoken_t *qt, int qd, const demi_sgarray_t *sga,
              const struct sockaddr *addr, socklen_t len)
{
    if (!qt)
        return -EINVAL;
    GET_QUEUE(inst, qd, q);
    int rc = check_sga(sga);
    if (rc < 0)
        return rc;
    union dm_sockaddr a;
    const struct sockaddr *to = NULL;
    if (addr || len) {
        if ((rc = check_addr(q, addr, len, &a)) < 0)
            return rc;
        to = &a.sa;
    }
    struct dm_buf *chain;
    if ((rc = dm_sga_to_chain(inst, sga, &chain)) < 0)
        return rc;
    demi_qtoken_t token = 0;
    rc = start_op(inst, q, DEMI_OPC_PUSH, &token, chain, to);
    if (rc < 0)
        return rc;
    /* A push's result carries the array that was pushed (as Demikernel). */
    struct dm_op *op = dm_op_lookup(inst, token);
    if (op)
        op->qr.qr_value.sga = *sga;
    *qt = token;
    return 0;
}

int dm_push(struct dm_instance *inst, demi_qtoken_t *qt, int qd, const demi_sgarray_t *sga)
{
    return dm_pushto(inst, qt, qd, sga, NULL, 0);
}

int dm_push_chain(struct dm_instance *inst, demi_qtoken_t *qt, int qd, struct dm_buf *chain,
                  const struct sockaddr *to)
{
    struct dm_queue *q = dm_queue_get(inst, qd);
    if (!qt || !chain || !q) {
        dm_buf_free(chain);
        return !q ? -EBADF : -EINVAL;
    }
    dm_refresh_for_call(inst);
    return start_op(inst, q, DEMI_OPC_PUSH, qt, chain, to);
}

int dm_pop(struct dm_instance *inst, demi_qtoken_t *qt, int qd)
{
    if (!qt)
        return -EINVAL;
    /* No clock read: a pop sends nothing itself (a window update it
     * opens goes out from the next poll, which reads the clock), and
     * what it measures (receive-buffer auto-tuning) is on the scale of
     * a round trip, not of the last poll's age. A bulk receiver pops
     * once per segment. */
    struct dm_queue *q = dm_queue_get(inst, qd);
    if (!q)
        return -EBADF;
    return start_op(inst, q, DEMI_OPC_POP, qt, NULL, NULL);
}

/* SOL_DEMI: options of the queue API itself, the same on every backend. */
static int demi_opt_set(struct dm_queue *q, int name, const void *val, socklen_t len)
{
    if (name != DEMI_SO_POP_SEGS)
        return -ENOPROTOOPT;
    int v;
    if (len < (socklen_t)sizeof(v))
        return -EINVAL;
    memcpy(&v, val, sizeof(v));
    if (v < 1 || v > DEMI_SGARRAY_MAXSIZE)
        return -EINVAL;
    q->pop_segs = (uint8_t)v;
    return 0;
}

static int demi_opt_get(struct dm_queue *q, int name, void *val, socklen_t *len)
{
    if (name != DEMI_SO_POP_SEGS)
        return -ENOPROTOOPT;
    if ((int)*len < 0)
        return -EINVAL;
    int v = (int)dm_queue_pop_segs(q);
    /* as Linux's int options: copy what fits */
    memcpy(val, &v, DM_MIN((size_t)*len, sizeof(v)));
    *len = (socklen_t)DM_MIN((size_t)*len, sizeof(v));
    return 0;
}

int dm_setsockopt(struct dm_instance *inst, int qd, int level, int name, const void *val, socklen_t len)
{
    GET_QUEUE(inst, qd, q);
    if (!val)
        return -EFAULT;
    if (level == SOL_DEMI)
        return demi_opt_set(q, name, val, len);
    if (!inst->ops->setsockopt)
        return -ENOPROTOOPT;
    return inst->ops->setsockopt(inst->st, q, level, name, val, len);
}

int dm_getsockopt(struct dm_instance *inst, int qd, int level, int name, void *val, socklen_t *len)
{
    GET_QUEUE(inst, qd, q);
    if (!val || !len)
        return -EFAULT;
    if (level == SOL_DEMI)
        return demi_opt_get(q, name, val, len);
    if (!inst->ops->getsockopt)
        return -ENOPROTOOPT;
    return inst->ops->getsockopt(inst->st, q, level, name, val, len);
}

static int name_common(struct dm_instance *inst, int qd, struct sockaddr *addr, socklen_t *len, int peer)
{
    GET_QUEUE(inst, qd, q);
    if (!addr || !len)
        return -EFAULT;
    if ((int)*len < 0)
        return -EINVAL;
    union dm_sockaddr a;
    memset(&a, 0, sizeof(a));
    int (*fn)(void *, struct dm_queue *, union dm_sockaddr *) =
        peer ? inst->ops->getpeername : inst->ops->getsockname;
    if (!fn)
        return -EOPNOTSUPP;
    int rc = fn(inst->st, q, &a);
    if (rc < 0)
        return rc;
    /* As Linux: copy what fits, report the full length. */
    socklen_t full = dm_addr_len(&a.sa);
    memcpy(addr, &a, DM_MIN((size_t)*len, (size_t)full));
    *len = full;
    return 0;
}

int dm_getsockname(struct dm_instance *inst, int qd, struct sockaddr *addr, socklen_t *len)
{
    return name_common(inst, qd, addr, len, 0);
}

int dm_getpeername(struct dm_instance *inst, int qd, struct sockaddr *addr, socklen_t *len)
{
    return name_common(inst, qd, addr, len, 1);
}
