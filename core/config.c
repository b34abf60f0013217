/* SPDX-License-Identifier: MIT */
/*
 * Configuration lookup: explicit overrides first (dm_config_set), then the
 * environment. Values are parsed where they are used, so a bad value is
 * reported with the name of the variable that holds it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "dm/config.h"
#include "dm/log.h"

void dm_config_init(struct dm_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
}

int dm_config_set(struct dm_config *cfg, const char *key, const char *val)
{
    if (!cfg || !key || !val || strlen(key) >= sizeof(cfg->kv[0].key) || strlen(val) >= sizeof(cfg->kv[0].val))
        return -EINVAL;
    for (int i = 0; i < cfg->nkeys; i++) {
        if (strcmp(cfg->kv[i].key, key) == 0) {
            strcpy(cfg->kv[i].val, val);
            return 0;
        }
    }
    if (cfg->nkeys >= DM_CONFIG_MAX_KEYS)
        return -ENOSPC;
    strcpy(cfg->kv[cfg->nkeys].key, key);
    strcpy(cfg->kv[cfg->nkeys].val, val);
    cfg->nkeys++;
    return 0;
}

const char *dm_config_str(const struct dm_config *cfg, const char *key, const char *def)
{
    if (cfg)
        for (int i = 0; i < cfg->nkeys; i++)
            if (strcmp(cfg->kv[i].key, key) == 0)
                return cfg->kv[i].val;
    const char *v = getenv(key);
    return (v && *v) ? v : def;
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
