/* SPDX-License-Identifier: MIT */
/*
 * libxdp and libbpf opened at first use (see xdp_lib.h), RTLD_LOCAL: their
 * symbols stay out of the application's namespace, as they did when linked
 * behind the preload's version script.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include "dm/log.h"
#include "xdp_lib.h"

struct xdp_lib xdp_lib;
static int lib_err = -ENOSYS;
static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void lib_open(void)
{
    void *x = dlopen("libxdp.so.1", RTLD_NOW | RTLD_LOCAL);
    void *b = dlopen("libbpf.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!x || !b) {
        DM_ERR("xdp", "libxdp/libbpf cannot be opened (%s): no AF_XDP device", dlerror());
        return;
    }
#define XDP_LIB_SYM(f)                                                                                     \
    {                                                                                                      \
        void *p = dlsym(x, #f);                                                                            \
        if (!p)                                                                                            \
            p = dlsym(b, #f);                                                                              \
        if (!p) {                                                                                          \
            DM_ERR("xdp", "%s not found in libxdp/libbpf: no AF_XDP device", #f);                            \
            return;                                                                                        \
        }                                                                                                  \
        memcpy(&xdp_lib.f, &p, sizeof(p));                                                                 \
    }
    XDP_LIB_SYMS(XDP_LIB_SYM)
#undef XDP_LIB_SYM
    lib_err = 0;
}

int xdp_lib_load(void)
{
    (void)pthread_once(&lib_once, lib_open);
    return lib_err;
}
