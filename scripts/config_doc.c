/* SPDX-License-Identifier: MIT */
/*
 * Writes docs/configuration.md from the configuration table
 * (core/include/dm/config_vars.h), so that the document cannot drift from
 * what the code parses. `ninja -C build config-doc` rewrites it; the
 * core_config_doc test runs this with --check and fails when the
 * committed document differs.
 *
 *   demi-config-doc                 print the document
 *   demi-config-doc --write FILE    write it
 *   demi-config-doc --check FILE    exit 1 when FILE differs
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dm/config.h"

static const struct { const char *owner, *title; } sections[] = {
    {"core", "Every instance (core)"},
    {"fault", "Fault injection (devices/fault)"},
    {"pcap", "Packet capture (devices/pcap)"},
    {"shim", "The preload (shim, interpose)"},
    {"inet", "TCP/IP stack (stacks/inet: loop, dpdk, memif, xdp backends)"},
    {"loop", "Loop device (devices/loop)"},
    {"dpdk", "DPDK device (devices/dpdk)"},
    {"memif", "memif device, our own driver (devices/memif)"},
    {"xdp", "AF_XDP device (devices/xdp)"},
    {"uring", "io_uring backend (stacks/uring)"},
    {"rdma", "RDMA backend (stacks/rdma, devices/rdma)"},
    {"scripts", "Scripts (read by scripts/, not by the library)"},
    {"test", "Tests (read by test programs, not by the library)"},
};

static const char *const type_names[] = {
    [DM_CFG_T_INT] = "integer", [DM_CFG_T_SIZE] = "size", [DM_CFG_T_US] = "µs", [DM_CFG_T_MS] = "ms",
    [DM_CFG_T_S] = "s", [DM_CFG_T_BOOL] = "bool", [DM_CFG_T_ENUM] = "choice", [DM_CFG_T_STR] = "text",
};

static void emit(FILE *f)
{
    fputs("# Configuration\n\n"
          "<!-- Generated from core/include/dm/config_vars.h by scripts/config_doc.c:\n"
          "     edit the table there, then run `ninja -C build config-doc`. -->\n\n"
          "Every `DEMI_*` environment variable the library reads, with its default and\n"
          "the values it accepts. The environment is read once: the preload takes a\n"
          "snapshot when it loads (servers that clear their workers' environment keep\n"
          "it), the native API when an instance is created (`demi_init`).\n\n"
          "- A value outside what is accepted is an error: it is logged once, naming\n"
          "  the variable, the value and what is accepted, and the datapath does not\n"
          "  start (under the preload, sockets then stay in the kernel). `DEMI_OFFLOAD`\n"
          "  is the exception: a bad rule offloads nothing.\n"
          "- A `DEMI_*` name that is not listed here is warned about and ignored.\n"
          "- Sizes take `k`, `m`, `g` (KiB, MiB, GiB); numbers may be written in hex\n"
          "  (`0x`). Booleans: `1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off`.\n"
          "- `auto` is accepted only where a variable says what it means.\n"
          "- An empty value (`VAR=`) is the same as unset.\n",
          f);
    for (unsigned s = 0; s < sizeof(sections) / sizeof(sections[0]); s++) {
        fprintf(f, "\n## %s\n\n| variable | type | default | accepted | meaning |\n|---|---|---|---|---|\n",
                sections[s].title);
        for (int i = 0; i < DM_CFG_COUNT; i++) {
            const struct dm_cfg_var *v = &dm_cfg_vars[i];
            if (strcmp(v->owner, sections[s].owner) != 0)
                continue;
            char exp[160];
            if (v->type == DM_CFG_T_STR)
                snprintf(exp, sizeof(exp), "text");
            else
                dm_cfg_expected((enum dm_cfg_id)i, exp, sizeof(exp));
            fprintf(f, "| `%s` | %s | %s%s%s | %s | %s", v->name, type_names[v->type], v->def ? "`" : "",
                    v->def ? v->def : "unset", v->def ? "`" : "", exp, v->doc);
            if (v->auto_rule)
                fprintf(f, " `auto`: %s.", v->auto_rule);
            fputs(" |\n", f);
        }
    }
}

int main(int argc, char **argv)
{
    char *doc = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&doc, &len);
    if (!m)
        return 2;
    emit(m);
    fclose(m);
    for (int i = 0; i < DM_CFG_COUNT; i++) { /* every owner has a section */
        unsigned s = 0;
        while (s < sizeof(sections) / sizeof(sections[0]) && strcmp(sections[s].owner, dm_cfg_vars[i].owner))
            s++;
        if (s == sizeof(sections) / sizeof(sections[0])) {
            fprintf(stderr, "%s: owner '%s' has no section in scripts/config_doc.c\n", dm_cfg_vars[i].name,
                    dm_cfg_vars[i].owner);
            return 1;
        }
    }
    if (argc == 1) {
        fwrite(doc, 1, len, stdout);
        return 0;
    }
    if (argc != 3 || (strcmp(argv[1], "--write") && strcmp(argv[1], "--check"))) {
        fprintf(stderr, "usage: %s [--write FILE | --check FILE]\n", argv[0]);
        return 2;
    }
    if (strcmp(argv[1], "--write") == 0) {
        FILE *f = fopen(argv[2], "w");
        if (!f || fwrite(doc, 1, len, f) != len || fclose(f) != 0) {
            perror(argv[2]);
            return 1;
        }
        return 0;
    }
    FILE *f = fopen(argv[2], "r");
    char *have = malloc(len + 2);
    size_t n = f && have ? fread(have, 1, len + 1, f) : 0;
    if (f)
        fclose(f);
    int same = have && n == len && memcmp(have, doc, len) == 0;
    free(have);
    free(doc);
    if (!same) {
        fprintf(stderr, "%s is out of date with core/include/dm/config_vars.h: run `ninja -C build config-doc`\n",
                argv[2]);
        return 1;
    }
    return 0;
}
