/* SPDX-License-Identifier: MIT */
/*
 * Counter registry: modules register arrays of uint64_t with their names;
 * nothing is copied, so incrementing a counter stays a plain add.
 */
#include <errno.h>
#include <string.h>
#include "core_priv.h"

int dm_stats_register_gauges(struct dm_instance *inst, const char *module, const char *const *names,
                             uint64_t *values, unsigned count, void (*refresh)(void *arg), void *arg)
{
    if (!inst || !module || !names || !values || count == 0)
        return -EINVAL;
    if (inst->nstats >= DM_MAX_STATS_GROUPS)
        return -ENOSPC;
    struct dm_stats_group *g = &inst->stats[inst->nstats++];
    g->module = module;
    g->names = names;
    g->values = values;
    g->count = count;
    g->refresh = refresh;
    g->arg = arg;
    return 0;
}

int dm_stats_register(struct dm_instance *inst, const char *module, const char *const *names,
                      uint64_t *values, unsigned count)
{
    return dm_stats_register_gauges(inst, module, names, values, count, NULL, NULL);
}

void dm_stats_unregister(struct dm_instance *inst, const uint64_t *values)
{
    for (unsigned i = 0; i < inst->nstats; i++) {
        if (inst->stats[i].values == values) {
            inst->stats[i] = inst->stats[--inst->nstats];
            return;
        }
    }
}

int64_t dm_stats_get(struct dm_instance *inst, const char *qualified)
{
    const char *dot = strchr(qualified, '.');
    if (!dot)
        return -1;
    size_t mlen = (size_t)(dot - qualified);
    for (unsigned i = 0; i < inst->nstats; i++) {
        struct dm_stats_group *g = &inst->stats[i];
        if (strlen(g->module) != mlen || strncmp(g->module, qualified, mlen) != 0)
            continue;
        for (unsigned j = 0; j < g->count; j++)
            if (strcmp(g->names[j], dot + 1) == 0) {
                if (g->refresh)
                    g->refresh(g->arg);
                return (int64_t)g->values[j];
            }
    }
    return -1;
}

void dm_stats_dump(struct dm_instance *inst, FILE *out, int include_zero)
{
    for (unsigned i = 0; i < inst->nstats; i++) {
        struct dm_stats_group *g = &inst->stats[i];
        if (g->refresh)
            g->refresh(g->arg);
        for (unsigned j = 0; j < g->count; j++)
            if (include_zero || g->values[j])
                fprintf(out, "%s.%s %llu\n", g->module, g->names[j], (unsigned long long)g->values[j]);
    }
}

bool dm_stats_wanted(const struct dm_config *cfg, const char **file)
{
    const char *v = dm_cfg_str(cfg, DM_CFG_STATS);
    if (!v || strcmp(v, "0") == 0)
        return false;
    *file = strcmp(v, "1") == 0 ? NULL : v;
    return true;
}
