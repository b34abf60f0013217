/* SPDX-License-Identifier: MIT */
/*
 * The table of real functions: dlsym(RTLD_NEXT, name) for every symbol of
 * syms.h. Resolved by a high-priority constructor (before the datapath's
 * own constructors, before the application's) and lazily for any hook that
 * runs even earlier. dlsym may allocate; it never calls a socket function,
 * so there is no recursion into our hooks.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include "interpose/real.h"

struct dm_real_table dm_real;

void *dm_real_resolve_one(void **slot, const char *name)
{
    void *p = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (p)
        return p;
    p = dlsym(RTLD_NEXT, name);
    if (!p) {
        /* Every symbol we hook exists in glibc; a missing one means the
         * program is not linked against glibc (or a very old one). */
        static const char msg[] = "demi-preload: libc lacks an intercepted symbol: ";
        ssize_t (*w)(int, const void *, size_t) = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
        if (w) {
            (void)w(2, msg, sizeof(msg) - 1);
            (void)w(2, name, strlen(name));
            (void)w(2, "\n", 1);
        }
        abort();
    }
    __atomic_store_n(slot, p, __ATOMIC_RELEASE);
    return p;
}

/* Symbols that may legitimately be absent from an older libc are resolved
 * on use only; the rest at load. */
void dm_real_resolve(void)
{
#define DM_REAL_LOAD(name) \
    if (!dm_real.name) { \
        void *p_ = dlsym(RTLD_NEXT, #name); \
        if (p_) __atomic_store_n((void **)&dm_real.name, p_, __ATOMIC_RELEASE); \
    }
    DM_INTERPOSE_SYMS(DM_REAL_LOAD)
#undef DM_REAL_LOAD
}

/* Set once our first constructor ran: before it, a sanitizer runtime we
 * link (TSan) may still be initialising and calling sigaction itself. */
int dm_preload_ready;

__attribute__((constructor(101))) static void dm_real_ctor(void)
{
    dm_real_resolve();
    __atomic_store_n(&dm_preload_ready, 1, __ATOMIC_RELEASE);
}
