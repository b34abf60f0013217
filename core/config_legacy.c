/* SPDX-License-Identifier: MIT */
/*
 * The string-keyed lookups, kept only while the modules move to the
 * table's keys (dm_cfg_*); removed once none calls them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "dm/config.h"
#include "dm/log.h"

const char *dm_config_str(const struct dm_config *cfg, const char *key, const char *def)
{
    int id = dm_cfg_id_of(key);
    const char *v = id < 0 ? NULL : dm_cfg_raw(cfg, (enum dm_cfg_id)id);
    return v ? v : def;
}

int dm_config_int(const struct dm_config *cfg, const char *key, int64_t def, int64_t min, int64_t max, int64_t *out)
{
    const char *s = dm_config_str(cfg, key, NULL);
    if (!s) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 0);
    if (end == s || errno)
        goto bad;
    switch (*end) {
    case 'k': case 'K': v *= 1024; end++; break;
    case 'm': case 'M': v *= 1024 * 1024; end++; break;
    case 'g': case 'G': v *= 1024LL * 1024 * 1024; end++; break;
    default: break;
    }
    if (*end || v < min || v > max)
        goto bad;
    *out = v;
    return 0;
bad:
    DM_ERR("config", "%s=%s is not a number in [%lld, %lld]", key, s, (long long)min, (long long)max);
    return -EINVAL;
}

int dm_config_bool(const struct dm_config *cfg, const char *key, int def)
{
    const char *s = dm_config_str(cfg, key, NULL);
    if (!s)
        return def;
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (unsigned i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return 1;
        if (strcasecmp(s, no[i]) == 0)
            return 0;
    }
    DM_ERR("config", "%s=%s is not a boolean (1/0, true/false, yes/no, on/off)", key, s);
    return -EINVAL;
}
