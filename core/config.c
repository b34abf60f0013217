/* SPDX-License-Identifier: MIT */
/*
 * The configuration table (config_vars.h) and its one parser. Values are
 * kept as the user wrote them and parsed at each lookup by the table's
 * type and range, so every reader of a variable agrees on what a value
 * means and a bad value gets the same message wherever it is read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "dm/compiler.h"
#include "dm/config.h"
#include "dm/log.h"

const struct dm_cfg_var dm_cfg_vars[DM_CFG_COUNT] = {
#define DM_CFG_ROW(id, type, def, min, max, choices, autor, owner, doc) \
    [DM_CFG_##id] = {"DEMI_" #id, DM_CFG_T_##type, def, min, max, choices, autor, owner, doc},
    DM_CFG_VARS(DM_CFG_ROW)
#undef DM_CFG_ROW
};

int dm_cfg_id_of(const char *name)
{
    for (int i = 0; i < DM_CFG_COUNT; i++)
        if (strcmp(dm_cfg_vars[i].name, name) == 0)
            return i;
    return -ENOENT;
}

/* --- storage ---------------------------------------------------------------- */

static void compact(struct dm_config *cfg)
{
    struct dm_config old = *cfg;
    cfg->used = 0;
    for (int i = 0; i < DM_CFG_COUNT; i++) {
        if (!old.off[i])
            continue;
        const char *v = old.buf + old.off[i] - 1;
        size_t n = strlen(v) + 1;
        memcpy(cfg->buf + cfg->used, v, n);
        cfg->off[i] = (uint16_t)(cfg->used + 1);
        cfg->used = (uint16_t)(cfg->used + n);
    }
}

int dm_cfg_set(struct dm_config *cfg, enum dm_cfg_id id, const char *val)
{
    if (!cfg || !val || (unsigned)id >= DM_CFG_COUNT)
        return -EINVAL;
    size_t n = strlen(val) + 1;
    if (n > DM_CONFIG_VAL_MAX)
        return -EINVAL;
    if (cfg->off[id] && strlen(cfg->buf + cfg->off[id] - 1) + 1 >= n) {
        memcpy(cfg->buf + cfg->off[id] - 1, val, n);
        return 0;
    }
    if (cfg->used + n > sizeof(cfg->buf)) {
        cfg->off[id] = 0;
        compact(cfg);
        if (cfg->used + n > sizeof(cfg->buf))
            return -ENOSPC;
    }
    memcpy(cfg->buf + cfg->used, val, n);
    cfg->off[id] = (uint16_t)(cfg->used + 1);
    cfg->used = (uint16_t)(cfg->used + n);
    return 0;
}

int dm_config_set(struct dm_config *cfg, const char *name, const char *val)
{
    if (!cfg || !name)
        return -EINVAL;
    int id = dm_cfg_id_of(name);
    return id < 0 ? id : dm_cfg_set(cfg, (enum dm_cfg_id)id, val);
}

extern char **environ;

void dm_config_init(struct dm_config *cfg)
{
    static int warned;
    int warn = !__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED);
    memset(cfg, 0, sizeof(*cfg));
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (strncmp(*e, "DEMI_", 5) != 0 || !eq)
            continue;
        char name[64];
        size_t n = (size_t)(eq - *e);
        int id = -ENOENT;
        if (n < sizeof(name)) {
            memcpy(name, *e, n);
            name[n] = 0;
            id = dm_cfg_id_of(name);
        }
        /* a misspelt variable would otherwise do nothing, silently */
        if (id < 0) {
            if (warn)
                DM_WARN("config", "%.*s is not a demi variable (docs/configuration.md lists them); ignored",
                        (int)n, *e);
            continue;
        }
        if (!eq[1])
            continue; /* VAR= is unset, as it always was */
        if (dm_cfg_set(cfg, (enum dm_cfg_id)id, eq + 1) < 0 && warn)
            DM_WARN("config", "%s: value too long; ignored", name);
    }
}

const char *dm_cfg_raw(const struct dm_config *cfg, enum dm_cfg_id id)
{
    if (!cfg || (unsigned)id >= DM_CFG_COUNT || !cfg->off[id])
        return NULL;
    return cfg->buf + cfg->off[id] - 1;
}

const char *dm_cfg_str(const struct dm_config *cfg, enum dm_cfg_id id)
{
    const char *v = dm_cfg_raw(cfg, id);
    return v ? v : dm_cfg_vars[id].def;
}

/* --- the parser ------------------------------------------------------------- */

void dm_cfg_expected(enum dm_cfg_id id, char *out, size_t len)
{
    const struct dm_cfg_var *v = &dm_cfg_vars[id];
    static const char *const unit[] = {
        [DM_CFG_T_INT] = "an integer", [DM_CFG_T_SIZE] = "a size in bytes (k, m, g: KiB, MiB, GiB)",
        [DM_CFG_T_US] = "microseconds", [DM_CFG_T_MS] = "milliseconds", [DM_CFG_T_S] = "seconds",
    };
    int n = 0;
    switch (v->type) {
    case DM_CFG_T_INT: case DM_CFG_T_SIZE: case DM_CFG_T_US: case DM_CFG_T_MS: case DM_CFG_T_S:
        n = snprintf(out, len, "%s in [%lld, %lld]", unit[v->type], (long long)v->min, (long long)v->max);
        break;
    case DM_CFG_T_BOOL:
        n = snprintf(out, len, "1/0, true/false, yes/no or on/off");
        break;
    case DM_CFG_T_ENUM:
        n = snprintf(out, len, "one of ");
        for (const char *c = v->choices; *c && n >= 0 && (size_t)n + 3 < len; c++) {
            if (*c == '|')
                out[n++] = ',', out[n++] = ' ';
            else
                out[n++] = *c;
        }
        if (n >= 0 && (size_t)n < len)
            out[n] = 0;
        break;
    case DM_CFG_T_STR:
        n = snprintf(out, len, "see docs/configuration.md");
        break;
    }
    if (v->auto_rule && n >= 0 && (size_t)n < len)
        snprintf(out + n, len - (size_t)n, ", or auto");
}

static uint32_t value_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h | 1;
}

int dm_cfg_bad(enum dm_cfg_id id, const char *val, const char *what)
{
    /* The last bad value reported per variable: the preload and each of
     * its instances read the same snapshot and would repeat it. */
    static uint32_t reported[DM_CFG_COUNT];
    uint32_t h = value_hash(val ? val : "");
    if (__atomic_exchange_n(&reported[id], h, __ATOMIC_RELAXED) == h)
        return -EINVAL;
    char exp[160];
    if (!what) {
        dm_cfg_expected(id, exp, sizeof(exp));
        what = exp;
    }
    DM_ERR("config", "%s='%s' is not accepted: expected %s", dm_cfg_vars[id].name, val ? val : "", what);
    return -EINVAL;
}

static bool is_auto(const struct dm_cfg_var *v, const char *s)
{
    return v->auto_rule && strcmp(s, "auto") == 0;
}

/* The value, else the default; NULL when neither. */
static const char *value_of(const struct dm_config *cfg, enum dm_cfg_id id)
{
    const char *s = dm_cfg_raw(cfg, id);
    return s ? s : dm_cfg_vars[id].def;
}

static int parse_int(const struct dm_cfg_var *v, const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 0);
    if (end == s || errno)
        return -EINVAL;
    if (v->type == DM_CFG_T_SIZE) {
        int shift = 0;
        switch (*end) {
        case 'k': case 'K': shift = 10; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        default: break;
        }
        if (shift) {
            if (x > (INT64_MAX >> shift) || x < -(INT64_MAX >> shift))
                return -EINVAL;
            x *= 1LL << shift;
            end++;
        }
    }
    if (*end || x < v->min || x > v->max)
        return -EINVAL;
    *out = x;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (unsigned i = 0; i < DM_ARRAY_SIZE(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return *out = 1, 0;
        if (strcasecmp(s, no[i]) == 0)
            return *out = 0, 0;
    }
    return -EINVAL;
}

static int parse_enum(const struct dm_cfg_var *v, const char *s, int *out)
{
    size_t len = strlen(s);
    int i = 0;
    for (const char *c = v->choices; c; i++) {
        const char *bar = strchr(c, '|');
        size_t n = bar ? (size_t)(bar - c) : strlen(c);
        if (n == len && strncasecmp(c, s, n) == 0)
            return *out = i, 0;
        c = bar ? bar + 1 : NULL;
    }
    return -EINVAL;
}

/* Parses s as variable id: 0, DM_CFG_AUTO, or -EINVAL (not reported). */
static int parse(enum dm_cfg_id id, const char *s, int64_t *num, int *small)
{
    const struct dm_cfg_var *v = &dm_cfg_vars[id];
    if (is_auto(v, s))
        return DM_CFG_AUTO;
    switch (v->type) {
    case DM_CFG_T_INT: case DM_CFG_T_SIZE: case DM_CFG_T_US: case DM_CFG_T_MS: case DM_CFG_T_S:
        return parse_int(v, s, num);
    case DM_CFG_T_BOOL:
        return parse_bool(s, small);
    case DM_CFG_T_ENUM:
        return parse_enum(v, s, small);
    case DM_CFG_T_STR:
        return 0;
    }
    return -EINVAL;
}

static int lookup(const struct dm_config *cfg, enum dm_cfg_id id, enum dm_cfg_type want, int64_t *num, int *small)
{
    const struct dm_cfg_var *v = &dm_cfg_vars[id];
    bool numeric = want == DM_CFG_T_INT;
    bool type_ok = numeric ? v->type <= DM_CFG_T_S : v->type == want;
    if (!type_ok) { /* a programming error: the key has another type */
        DM_ERR("config", "%s is not read as its type in the table", v->name);
        return -EINVAL;
    }
    const char *s = value_of(cfg, id);
    if (!s)
        return DM_CFG_AUTO;
    int r = parse(id, s, num, small);
    return r < 0 ? dm_cfg_bad(id, s, NULL) : r;
}

int dm_cfg_int(const struct dm_config *cfg, enum dm_cfg_id id, int64_t *out)
{
    return lookup(cfg, id, DM_CFG_T_INT, out, NULL);
}

int dm_cfg_bool(const struct dm_config *cfg, enum dm_cfg_id id, int *out)
{
    return lookup(cfg, id, DM_CFG_T_BOOL, NULL, out);
}

int dm_cfg_enum(const struct dm_config *cfg, enum dm_cfg_id id, int *out)
{
    return lookup(cfg, id, DM_CFG_T_ENUM, NULL, out);
}

int dm_config_check(const struct dm_config *cfg)
{
    int rc = 0;
    for (int i = 0; i < DM_CFG_COUNT; i++) {
        const char *s = dm_cfg_raw(cfg, (enum dm_cfg_id)i);
        int64_t num;
        int small;
        if (s && parse((enum dm_cfg_id)i, s, &num, &small) < 0)
            rc = dm_cfg_bad((enum dm_cfg_id)i, s, NULL);
    }
    return rc;
}
