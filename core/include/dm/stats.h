/* SPDX-License-Identifier: MIT */
/*
 * Per-instance counters. A module keeps its counters in its own struct of
 * uint64_t and registers it with a table of names, so that a stats tool can
 * list every counter without knowing the modules:
 *
 *   static const char *const udp_names[] = { "rx", "rx_bad_csum", ... };
 *   dm_stats_register(inst, "udp", udp_names, &st->counters.rx, 2);
 *
 * DEMI_STATS=1 prints every non-zero counter to stderr when the instance is
 * destroyed (or at exit for the default instance); DEMI_STATS=FILE writes
 * them there.
 *
 * Gauges (the datapath's memory: `mem.*`) are registered the same way with
 * a refresh function, which computes their values each time they are read
 * (dumped or looked up), so that nothing on the data path maintains them.
 */
#ifndef DM_STATS_H
#define DM_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct dm_instance;
struct dm_config;

int dm_stats_register(struct dm_instance *inst, const char *module, const char *const *names,
                      uint64_t *values, unsigned count);
int dm_stats_register_gauges(struct dm_instance *inst, const char *module, const char *const *names,
                             uint64_t *values, unsigned count, void (*refresh)(void *arg), void *arg);
void dm_stats_unregister(struct dm_instance *inst, const uint64_t *values);
/* Value of "module.name", or -1 when no such counter. */
int64_t dm_stats_get(struct dm_instance *inst, const char *qualified_name);
void dm_stats_dump(struct dm_instance *inst, FILE *out, int include_zero);
/* DEMI_STATS, for the instance and the preload alike: true when counters
 * are wanted; *file is then NULL for stderr, else the file to append to. */
bool dm_stats_wanted(const struct dm_config *cfg, const char **file);

#endif /* DM_STATS_H */
