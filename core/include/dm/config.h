/* SPDX-License-Identifier: MIT */
/*
 * Configuration: the DEMI_* variables of config_vars.h. A config object is
 * a snapshot of the DEMI_* environment taken by dm_config_init(), plus
 * overrides (dm_config_set: tests, a program with two instances), so
 * nothing reads the environment after that: the preload snapshots it when
 * it loads, before a server (nginx) clears its workers' environment.
 *
 * Lookups name a variable by its key, DM_CFG_<NAME>, and parse it by the
 * table: a bad value is reported once, by one function, at error level
 * with the variable, the value and what is accepted; the getter then
 * returns -EINVAL and whoever asked refuses to start (an instance checks
 * every set variable before it starts: dm_config_check).
 */
#ifndef DM_CONFIG_H
#define DM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dm/config_vars.h"

enum dm_cfg_id {
#define DM_CFG_ENUM_ID(id, ...) DM_CFG_##id,
    DM_CFG_VARS(DM_CFG_ENUM_ID)
#undef DM_CFG_ENUM_ID
    DM_CFG_COUNT
};

enum dm_cfg_type { DM_CFG_T_INT, DM_CFG_T_SIZE, DM_CFG_T_US, DM_CFG_T_MS, DM_CFG_T_S,
                   DM_CFG_T_BOOL, DM_CFG_T_ENUM, DM_CFG_T_STR };

struct dm_cfg_var {
    const char *name;        /* "DEMI_SPIN_US" */
    enum dm_cfg_type type;
    const char *def;         /* as written by a user; NULL: unset */
    int64_t min, max;
    const char *choices;     /* ENUM: "a|b|c" */
    const char *auto_rule;   /* NULL: "auto" is not accepted */
    const char *owner;
    const char *doc;
};

extern const struct dm_cfg_var dm_cfg_vars[DM_CFG_COUNT];

/* Values live in one buffer so that a config copies by assignment (the
 * preload hands each instance its own copy). */
#define DM_CONFIG_BUF 8192
#define DM_CONFIG_VAL_MAX 2048

struct dm_config {
    uint16_t off[DM_CFG_COUNT];  /* 1 + offset of the value in buf; 0: unset */
    uint16_t used;
    char buf[DM_CONFIG_BUF];
};

/* A getter's answer when the value is "auto" (or unset, with an "auto"
 * default): the owner applies the variable's auto rule. */
#define DM_CFG_AUTO 1

/* The DEMI_* environment now; a DEMI_* name not in the table is warned
 * about (once per process) and ignored, as is an empty value. */
void dm_config_init(struct dm_config *cfg);
/* Overrides by name: -ENOENT for a name not in the table, -EINVAL for a
 * value longer than DM_CONFIG_VAL_MAX, -ENOSPC when the buffer is full. */
int dm_config_set(struct dm_config *cfg, const char *name, const char *val);
int dm_cfg_set(struct dm_config *cfg, enum dm_cfg_id id, const char *val);
int dm_cfg_id_of(const char *name);  /* the key of a name, -ENOENT */

/* The raw value, NULL when unset (not the default). */
const char *dm_cfg_raw(const struct dm_config *cfg, enum dm_cfg_id id);
/* STR: the value, else the default (NULL when it has none). */
const char *dm_cfg_str(const struct dm_config *cfg, enum dm_cfg_id id);
/* INT, SIZE, durations (in the variable's unit): 0 and *out, DM_CFG_AUTO
 * (*out untouched), or -EINVAL (reported). */
int dm_cfg_int(const struct dm_config *cfg, enum dm_cfg_id id, int64_t *out);
/* BOOL: 0 and *out = 0/1, DM_CFG_AUTO, or -EINVAL (reported). */
int dm_cfg_bool(const struct dm_config *cfg, enum dm_cfg_id id, int *out);
/* ENUM: 0 and *out = the index of the value in CHOICES, DM_CFG_AUTO, or
 * -EINVAL (reported). */
int dm_cfg_enum(const struct dm_config *cfg, enum dm_cfg_id id, int *out);

/* Every variable that is set: reports each bad one, -EINVAL if any. STR
 * variables are their owners' to check. */
int dm_config_check(const struct dm_config *cfg);

/* The one error message for a bad value: "DEMI_<NAME>='v' is not accepted:
 * expected <what>"; what NULL: the table's range or choices. Reported once
 * per variable and value in a process (the preload and the instance read
 * the same snapshot). Returns -EINVAL. */
int dm_cfg_bad(enum dm_cfg_id id, const char *val, const char *what);
/* "an integer in [64, 16777216]", "one of ip, all", ... (+ ", or auto") */
void dm_cfg_expected(enum dm_cfg_id id, char *out, size_t len);

#endif /* DM_CONFIG_H */
