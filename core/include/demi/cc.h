/* SPDX-License-Identifier: MIT */
/*
 * Compiler annotations used by the public headers. Source compatible with
 * Demikernel's demi/cc.h: the SAL-style markers are empty on GCC/clang.
 *
 * ATTR_NONNULL expands to nothing while the library itself is built
 * (DEMI_BUILDING_LIBRARY): with __attribute__((nonnull)) the compiler would
 * be allowed to delete our NULL checks, and a NULL argument must give EINVAL,
 * never a crash.
 */
#ifndef DEMI_CC_H
#define DEMI_CC_H

#define _In_
#define _In_z_
#define _In_opt_
#define _In_reads_(s)
#define _In_reads_bytes_(b)
#define _Out_
#define _Out_writes_to_(s, c)
#define _Deref_pre_z_

#if defined(__GNUC__) && !defined(DEMI_BUILDING_LIBRARY)
#define ATTR_NONNULL(...) __attribute__((nonnull(__VA_ARGS__)))
#define ATTR_NODISCARD __attribute__((warn_unused_result))
#else
#define ATTR_NONNULL(...)
#define ATTR_NODISCARD
#endif

#if defined(__GNUC__)
#define DEMI_EXPORT __attribute__((visibility("default")))
#else
#define DEMI_EXPORT
#endif

#endif /* DEMI_CC_H */
