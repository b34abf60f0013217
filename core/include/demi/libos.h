/* SPDX-License-Identifier: MIT */
/*
 * The native queue API: sockets as I/O queues whose operations return
 * tokens (demi_qtoken_t) that complete, exactly once, inside demi_wait*().
 * Source compatible with Demikernel's include/demi/libos.h.
 *
 * Every call returns 0 on success or a positive errno. No call crashes on a
 * NULL pointer or a bad descriptor. Errors common to all calls:
 *   EINVAL  a required pointer argument is NULL
 *   EBADF   the queue descriptor is not open
 *   EIO     the datapath could not be started (see the log line naming the
 *           configuration variable), for any call that starts it lazily
 *
 * Queue descriptors are at least DEMI_QD_BASE so they never collide with
 * kernel file descriptors.
 */
#ifndef DEMI_LIBOS_H_IS_INCLUDED
#define DEMI_LIBOS_H_IS_INCLUDED

#include <demi/types.h>
#include <demi/cc.h>
#include <stddef.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Smallest queue descriptor: above any kernel fd (fs.nr_open <= 2^30). */
#define DEMI_QD_BASE (1 << 30)

/**
 * Initialises the library; the backend comes from DEMI_BACKEND
 * (posix, uring, loop, dpdk, xdp, rdma; default posix).
 * Other calls initialise lazily when demi_init() was not called.
 * @return 0; EINVAL (args NULL, argc < 0, or bad configuration: the log
 *   names the variable); EEXIST (already initialised); ENODEV (backend not
 *   built in); ENOMEM; or the backend's error.
 */
ATTR_NONNULL(1)
DEMI_EXPORT extern int demi_init(_In_ const struct demi_args *args);

/**
 * Creates a socket queue.
 * @return 0; EINVAL (sockqd_out NULL, bad type flags); EAFNOSUPPORT (domain
 *   not AF_INET); ESOCKTNOSUPPORT/EPROTONOSUPPORT (type/protocol not
 *   TCP/UDP); EMFILE (queue table full); ENOBUFS/ENOMEM.
 */
ATTR_NONNULL(1)
DEMI_EXPORT extern int demi_socket(_Out_ int *sockqd_out, _In_ int domain, _In_ int type, _In_ int protocol);

/**
 * Marks a socket queue passive (listening); an unbound socket gets an
 * ephemeral port as on Linux.
 * @return 0; EBADF; ENOTSUP/EOPNOTSUPP (not a stream socket); EINVAL
 *   (connected); EADDRINUSE.
 */
DEMI_EXPORT extern int demi_listen(_In_ int sockqd, _In_ int backlog);

/**
 * Binds an address to a socket queue.
 * @return 0; EBADF; EFAULT (addr NULL); EINVAL (size too small, already
 *   bound); EAFNOSUPPORT (not AF_INET); EADDRINUSE; EADDRNOTAVAIL (not one of
 *   our addresses).
 */
ATTR_NONNULL(2)
DEMI_EXPORT extern int demi_bind(_In_ int sockqd, _In_reads_bytes_(size) const struct sockaddr *addr, _In_ socklen_t size);

/**
 * Asynchronously accepts a connection. The result (DEMI_OPC_ACCEPT) carries
 * the new queue in qr_value.ares.
 * @return 0; EINVAL (qt_out NULL, socket not listening); EBADF; ENOBUFS (no
 *   free operation slots).
 */
ATTR_NONNULL(1)
DEMI_EXPORT extern int demi_accept(_Out_ demi_qtoken_t *qt_out, _In_ int sockqd);

/**
 * Asynchronously connects. A refused or timed-out connection completes with
 * DEMI_OPC_FAILED and qr_ret ECONNREFUSED / ETIMEDOUT / ENETUNREACH. On a
 * UDP queue it sets the default peer (a kernel-socket backend then reports
 * ICMP errors as failed pops/pushes, ECONNREFUSED), and AF_UNSPEC forgets it.
 * @return 0; EINVAL (qt_out NULL, size too small); EFAULT (addr NULL);
 *   EAFNOSUPPORT; EISCONN; EALREADY (connect in progress); EBADF; ENOBUFS.
 */
ATTR_NONNULL(1, 3)
DEMI_EXPORT extern int demi_connect(_Out_ demi_qtoken_t *qt_out, _In_ int sockqd,
                                    _In_reads_bytes_(size) const struct sockaddr *addr, _In_ socklen_t size);

/**
 * Closes a queue. Its pending operations complete with DEMI_OPC_FAILED and
 * qr_ret ECANCELED; their tokens must still be waited on (or are reaped by
 * demi_wait_next_n). Data already pushed is still delivered (TCP).
 * @return 0; EBADF.
 */
DEMI_EXPORT extern int demi_close(_In_ int qd);

/**
 * Asynchronously pushes an sgarray. Zero copy when the segments come from
 * demi_sgaalloc(): the library holds a reference, so demi_sgafree() right
 * after the push is safe. Treat the memory as read-only until freed.
 * @return 0; EINVAL (qt_out or sga NULL, no segments, more than
 *   DEMI_SGARRAY_MAXSIZE, zero total length); EFAULT (a segment with a NULL
 *   buffer); EBADF; ENOTCONN; EPIPE (shut down for writing); EMSGSIZE (UDP
 *   datagram too large); EDESTADDRREQ (unconnected UDP); ENOBUFS.
 */
ATTR_NONNULL(1, 3)
DEMI_EXPORT extern int demi_push(_Out_ demi_qtoken_t *qt_out, _In_ int qd, _In_ const demi_sgarray_t *sga);

/**
 * Asynchronously pushes an sgarray to an address (UDP; on TCP the address is
 * ignored as by sendto()).
 * @return as demi_push(), and EFAULT (dest_addr NULL), EINVAL (size too
 *   small), EAFNOSUPPORT.
 */
ATTR_NONNULL(1, 3, 4)
DEMI_EXPORT extern int demi_pushto(_Out_ demi_qtoken_t *qt_out, _In_ int sockqd, _In_ const demi_sgarray_t *sga,
                                   _In_reads_bytes_(size) const struct sockaddr *dest_addr, _In_ socklen_t size);

/**
 * Asynchronously pops data. The popped sgarray belongs to the caller (free
 * it with demi_sgafree). A pop whose peer has closed completes with a
 * zero-length sgarray (sga_numsegs 0, sga_segs[0].sgaseg_len 0).
 * @return 0; EINVAL (qt_out NULL); EBADF; ENOTCONN (listening socket);
 *   ENOBUFS.
 */
ATTR_NONNULL(1)
DEMI_EXPORT extern int demi_pop(_Out_ demi_qtoken_t *qt_out, _In_ int qd);

/**
 * Sets a socket option (SOL_SOCKET, IPPROTO_TCP, IPPROTO_IP, SOL_DEMI levels).
 * @return 0; EBADF; EFAULT (optval NULL); EINVAL (optlen too small, or a
 *   SOL_DEMI value out of range); ENOPROTOOPT (unknown option).
 */
ATTR_NONNULL(4)
DEMI_EXPORT extern int demi_setsockopt(_In_ int qd, _In_ int level, _In_ int optname,
                                       _In_reads_bytes_(optlen) const void *optval, _In_ socklen_t optlen);

/**
 * Gets a socket option; *optlen is updated.
 * @return 0; EBADF; EFAULT (optval or optlen NULL); EINVAL; ENOPROTOOPT.
 */
ATTR_NONNULL(4)
DEMI_EXPORT extern int demi_getsockopt(_In_ int qd, _In_ int level, _In_ int optname,
                                       _Out_writes_to_(optlen, *optlen) void *optval, _In_ socklen_t *optlen);

/**
 * Returns the peer address.
 * @return 0; EBADF; EFAULT (addr or addrlen NULL); EINVAL; ENOTCONN.
 */
ATTR_NONNULL(2)
DEMI_EXPORT extern int demi_getpeername(_In_ int qd, _Out_writes_to_(addrlen, *addrlen) struct sockaddr *addr,
                                        _In_ socklen_t *addrlen);

/**
 * Returns the local address (an extension; not in Demikernel).
 * @return 0; EBADF; EFAULT (addr or addrlen NULL); EINVAL.
 */
ATTR_NONNULL(2)
DEMI_EXPORT extern int demi_getsockname(_In_ int qd, _Out_writes_to_(addrlen, *addrlen) struct sockaddr *addr,
                                        _In_ socklen_t *addrlen);

/**
 * Shuts down one or both directions (an extension; SHUT_RD/WR/RDWR).
 * @return 0; EBADF; EINVAL (bad how); ENOTCONN.
 */
DEMI_EXPORT extern int demi_shutdown(_In_ int qd, _In_ int how);

#ifdef __cplusplus
}
#endif

#endif /* DEMI_LIBOS_H_IS_INCLUDED */
