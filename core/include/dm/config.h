/* SPDX-License-Identifier: MIT */
/*
 * Configuration: DEMI_* variables. A config object reads the environment,
 * and tests (or a program embedding two instances) can override keys with
 * dm_config_set() so that two instances in one process differ.
 *
 * Getters return the override, else the environment, else the default.
 * dm_config_int() returns -EINVAL (and logs the variable's name) when the
 * value is not a number in [min, max].
 */
#ifndef DM_CONFIG_H
#define DM_CONFIG_H

#include <stdint.h>

#define DM_CONFIG_MAX_KEYS 32

struct dm_config {
    int nkeys;
    struct { char key[48]; char val[208]; } kv[DM_CONFIG_MAX_KEYS];
};

void dm_config_init(struct dm_config *cfg);          /* empty: environment only */
int dm_config_set(struct dm_config *cfg, const char *key, const char *val); /* -ENOSPC when full */
const char *dm_config_str(const struct dm_config *cfg, const char *key, const char *def);
/* Parses an integer (accepts k/m/g suffixes); *out = def when unset. */
int dm_config_int(const struct dm_config *cfg, const char *key, int64_t def, int64_t min, int64_t max, int64_t *out);
/* 1/0 for true/false/yes/no/on/off/1/0; def when unset; -EINVAL otherwise. */
int dm_config_bool(const struct dm_config *cfg, const char *key, int def);

#endif /* DM_CONFIG_H */
