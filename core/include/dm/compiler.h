/* SPDX-License-Identifier: MIT */
/* Small compiler helpers shared by every module. */
#ifndef DM_COMPILER_H
#define DM_COMPILER_H

#include <stddef.h>
#include <stdint.h>

#define dm_likely(x)   __builtin_expect(!!(x), 1)
#define dm_unlikely(x) __builtin_expect(!!(x), 0)
#define dm_prefetch(p) __builtin_prefetch(p)
#define DM_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define dm_container_of(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))
#define DM_MIN(a, b) ((a) < (b) ? (a) : (b))
#define DM_MAX(a, b) ((a) > (b) ? (a) : (b))
#define DM_UNUSED __attribute__((unused))
/* A spin-wait hint to the CPU (and to a hypervisor's pause-loop exiting). */
#if defined(__x86_64__) || defined(__i386__)
#define dm_cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define dm_cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define dm_cpu_relax() __asm__ __volatile__("" ::: "memory")
#endif
/* Runs fn at load time: backends and devices register themselves with it. */
#define DM_CONSTRUCTOR(fn) static void fn(void) __attribute__((constructor)); static void fn(void)
/* Registrations (backends, devices): before every other constructor of the
 * library (the preload's, from 102 on, already ask the registry), whatever
 * the link order. */
#define DM_CONSTRUCTOR_REGISTER(fn) static void fn(void) __attribute__((constructor(101))); static void fn(void)

#endif /* DM_COMPILER_H */
