/* SPDX-License-Identifier: MIT */
/*
 * Logging: one line per message on stderr, prefixed with the process id and
 * the module, e.g. "demi[1234] warn inet: DEMI_IPV4 is not a CIDR address".
 * When demi_init() was given a callback, lines go to it instead.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <demi/types.h>
#include "dm/compiler.h"
#include "dm/config.h"
#include "dm/log.h"

int dm_log_level = DM_LOG_WARN;
demi_callback_t dm_log_callback;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void dm_log_set_level(int level)
{
    if (level >= DM_LOG_ERROR && level <= DM_LOG_DEBUG)
        __atomic_store_n(&dm_log_level, level, __ATOMIC_RELAXED);
}

void dm_log_configure(const struct dm_config *cfg)
{
    /* DEMI_LOG's choices in table order; the last, "warning", is warn */
    static const int levels[] = {DM_LOG_ERROR, DM_LOG_WARN, DM_LOG_INFO, DM_LOG_DEBUG, DM_LOG_WARN};
    int i;
    if (dm_cfg_raw(cfg, DM_CFG_LOG) && dm_cfg_enum(cfg, DM_CFG_LOG, &i) == 0 && i < (int)DM_ARRAY_SIZE(levels))
        dm_log_set_level(levels[i]);
}

void dm_log_printf(int level, const char *module, const char *fmt, ...)
{
    char line[512];
    int n = snprintf(line, sizeof(line), "demi[%d] %s %s: ", (int)getpid(),
                     level_names[level < 0 ? 0 : level > DM_LOG_DEBUG ? DM_LOG_DEBUG : level], module);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(line))
        vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    size_t len = strnlen(line, sizeof(line) - 2);
    if (dm_log_callback) {
        dm_log_callback(line, (uint32_t)len, (uint64_t)level);
        return;
    }
    line[len++] = '\n';
    /* One write(2) per line so lines of several processes do not interleave. */
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
