/* SPDX-License-Identifier: MIT */
/*
 * The table of real functions: dlsym(RTLD_NEXT, name) for every symbol of
 * syms.h (the condition variable's in its current ABI: dm_real_lookup).
 * Resolved by a high-priority constructor (before the datapath's own
 * constructors, before the application's) and lazily for any hook that
 * runs even earlier. dlsym may allocate; it never calls a socket function
 * nor, in glibc, pthread_mutex_lock through its symbol, so there is no
 * recursion into our hooks.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include "interpose/real.h"

struct dm_real_table dm_real;

/* glibc has two condition variables: the current one
 * (pthread_cond_wait@@GLIBC_2.3.2, the default) and, where glibc is older
 * than it (x86_64, i386), the one before (@GLIBC_2.2.5, @GLIBC_2.0),
 * whose functions take a different object. Our hooks are exported
 * unversioned, so they interpose a call to either; they call the current
 * one, which every program built since 2003 uses (ThreadSanitizer's
 * interceptors do the same). dlsym gives the default version in the
 * glibc we know (2.36, checked); asking for GLIBC_2.3.2 by name makes
 * sure, but only where dlsym's answer is in the same library: an
 * interposer between us and libc (ThreadSanitizer's, whose unversioned
 * symbols dlvsym passes over) stays the one we call. Where glibc began
 * later (aarch64) there is one version, and dlvsym finds none. */
static const char *const dm_real_cond[] = { "pthread_cond_wait", "pthread_cond_timedwait" };
#define DM_COND_ABI "GLIBC_2.3.2"

static void *dm_real_lookup(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    for (size_t i = 0; i < sizeof(dm_real_cond) / sizeof(dm_real_cond[0]); i++) {
        if (strcmp(name, dm_real_cond[i]) != 0)
            continue;
        void *v = dlvsym(RTLD_NEXT, name, DM_COND_ABI); /* NULL where glibc began later: one version */
        Dl_info pi, vi;
        if (v && v != p && (!p || (dladdr(p, &pi) && dladdr(v, &vi) && pi.dli_fbase == vi.dli_fbase)))
            p = v;
    }
    return p;
}

void *dm_real_resolve_one(void **slot, const char *name)
{
    void *p = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (p)
        return p;
    p = dm_real_lookup(name);
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
        void *p_ = dm_real_lookup(#name); \
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
