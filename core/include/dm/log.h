/* SPDX-License-Identifier: MIT */
/*
 * Logging with levels, to stderr (or the demi_args callback). DEMI_LOG sets
 * the level: error, warn (default), info, debug. dm_log_once() prints a
 * given message site only once per process: for "this differs from Linux"
 * notices that must not flood.
 */
#ifndef DM_LOG_H
#define DM_LOG_H

#include <stdbool.h>

enum dm_log_level { DM_LOG_ERROR = 0, DM_LOG_WARN, DM_LOG_INFO, DM_LOG_DEBUG };

extern int dm_log_level;
void dm_log_set_level(int level);
struct dm_config;
/* DEMI_LOG when it is set and valid (a bad value is reported, not applied). */
void dm_log_configure(const struct dm_config *cfg);
void dm_log_printf(int level, const char *module, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* (the level is read and set with relaxed atomics: instances are made in
 * any thread, each applying DEMI_LOG, while others log) */
#define dm_log(level, module, ...) \
    do { if ((level) <= __atomic_load_n(&dm_log_level, __ATOMIC_RELAXED)) \
             dm_log_printf((level), (module), __VA_ARGS__); } while (0)
#define DM_ERR(mod, ...)   dm_log(DM_LOG_ERROR, mod, __VA_ARGS__)
#define DM_WARN(mod, ...)  dm_log(DM_LOG_WARN, mod, __VA_ARGS__)
#define DM_INFO(mod, ...)  dm_log(DM_LOG_INFO, mod, __VA_ARGS__)
#define DM_DEBUG(mod, ...) dm_log(DM_LOG_DEBUG, mod, __VA_ARGS__)
/* Logs at WARN the first time this line runs, never again. */
#define dm_log_once(mod, ...) \
    do { static bool dm_once_; if (!dm_once_) { dm_once_ = true; DM_WARN(mod, __VA_ARGS__); } } while (0)

#endif /* DM_LOG_H */
