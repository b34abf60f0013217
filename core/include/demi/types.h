/* SPDX-License-Identifier: MIT */
/*
 * Types of the native queue API. Names, field types and packing follow
 * Demikernel's include/demi/types.h so that a program written for Demikernel
 * builds against us unchanged. One difference: a scatter-gather array may
 * carry up to DEMI_SGARRAY_MAXSIZE segments (Demikernel: 1). Popped arrays
 * always use sga_segs[0] first, so code that reads only segment 0 of a pop
 * works; pushes may use every segment. Another: addresses in results
 * (sga_addr, ares.addr) share a union with their sockaddr_in6 (sga_addr6,
 * ares.addr6) for IPv6 sockets; read the family first.
 */
#ifndef DEMI_TYPES_H_IS_INCLUDED
#define DEMI_TYPES_H_IS_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <demi/cc.h>
#include <netinet/in.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Maximum number of segments in a scatter-gather array. */
#define DEMI_SGARRAY_MAXSIZE 8

/**
 * Options of the queue API itself (an extension; not in Demikernel), for
 * demi_setsockopt/demi_getsockopt at level SOL_DEMI:
 *   DEMI_SO_POP_SEGS  int, 1..DEMI_SGARRAY_MAXSIZE (default 1): the most
 *     buffer segments a pop of a stream queue returns. Demikernel's apps read
 *     sga_segs[0] only, so a pop gives one segment unless the app says it
 *     reads them all; with more, a reader behind a burst takes up to that
 *     many received segments in one pop, zero copy (a bulk receiver's pop,
 *     completion and wait are paid once per burst instead of per segment).
 *     Accepted queues inherit the listener's value.
 */
#define SOL_DEMI 0x64656d69 /* "demi" */
#define DEMI_SO_POP_SEGS 1

/** An I/O queue token: names one asynchronous operation; completes once. */
typedef uint64_t demi_qtoken_t;

/** A segment of a scatter-gather array. */
typedef struct __attribute__((__packed__)) demi_sgaseg {
    void *sgaseg_buf;    /**< Underlying data.       */
    uint32_t sgaseg_len; /**< Size in bytes of data. */
} demi_sgaseg_t;

/** A scatter-gather array. */
typedef struct __attribute__((__packed__)) demi_sgarray {
    void *sga_buf;                                /**< Reserved: the library's buffer handle. */
    uint32_t sga_numsegs;                         /**< Number of segments in use.             */
    demi_sgaseg_t sga_segs[DEMI_SGARRAY_MAXSIZE]; /**< Segments.                              */
    union {
        struct sockaddr_in sga_addr;              /**< Source address of a popped datagram.   */
        struct sockaddr_in6 sga_addr6;            /**< The same, when sa_family is AF_INET6.  */
    };
} demi_sgarray_t;

/** Opcodes for an asynchronous I/O operation. */
typedef enum demi_opcode {
    DEMI_OPC_INVALID = 0, /**< Invalid operation. */
    DEMI_OPC_PUSH,        /**< Push operation.    */
    DEMI_OPC_POP,         /**< Pop operation.     */
    DEMI_OPC_ACCEPT,      /**< Accept operation.  */
    DEMI_OPC_CONNECT,     /**< Connect operation. */
    DEMI_OPC_CLOSE,       /**< Close operation.   */
    DEMI_OPC_FAILED,      /**< Operation failed: qr_ret holds a positive errno. */
} demi_opcode_t;

/** Result value for an accept operation. */
typedef struct __attribute__((__packed__)) demi_accept_result {
    int32_t qd;              /**< Queue descriptor of the accepted connection. */
    union {
        struct sockaddr_in addr;   /**< Remote address of the accepted connection. */
        struct sockaddr_in6 addr6; /**< The same, when sa_family is AF_INET6.       */
    };
} demi_accept_result_t;

/** Result of an asynchronous I/O operation. */
typedef struct __attribute__((__packed__)) demi_qresult {
    enum demi_opcode qr_opcode; /**< Opcode of the completed operation.          */
    int32_t qr_qd;              /**< Queue descriptor of the operation.          */
    demi_qtoken_t qr_qt;        /**< Token of the completed operation.           */
    int64_t qr_ret;             /**< 0, or a positive errno when FAILED.         */
    union {
        demi_sgarray_t sga;        /**< Pushed/popped scatter-gather array. */
        demi_accept_result_t ares; /**< Accept result.                      */
    } qr_value;
} demi_qresult_t;

/** Callback function (accepted for compatibility; called for log lines). */
typedef void (*demi_callback_t)(const char *, uint32_t, uint64_t);

/** Arguments of demi_init(). */
struct __attribute__((__packed__)) demi_args {
    int argc;                 /**< Number of command-line arguments. */
    char *const *argv;        /**< Command-line arguments.           */
    demi_callback_t callback; /**< Callback function (may be NULL).  */
};

#ifdef __cplusplus
}
#endif

#endif /* DEMI_TYPES_H_IS_INCLUDED */
