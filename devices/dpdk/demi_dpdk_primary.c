/* SPDX-License-Identifier: MIT */
/*
 * demi-dpdk-primary: owns one DPDK port for many processes.
 *
 *   demi-dpdk-primary [-q QUEUES] [-p PREFIX] [-g USER|GROUP] [-r RUNDIR] [-R READY_FILE]
 *
 * Runs the EAL as DPDK's primary process (--proc-type=primary,
 * --iova-mode=va, --file-prefix PREFIX, runtime files under RUNDIR/dpdk),
 * opens the port of DEMI_DPDK_ARGS (DEMI_DPDK_PORT) with QUEUES queue
 * pairs, two mempools per queue, and a table in a memzone that the
 * secondaries claim queues from (devices/dpdk/dpdk_mp.c). Then it stays up
 * until SIGTERM/SIGINT: every second it frees the queues of processes
 * that are gone and gives the group (-g) access to new runtime and
 * hugepage files. SIGUSR1 prints the table (queue, owner, frames).
 *
 * Each option has its DEMI_* variable (DEMI_DPDK_QUEUES, DEMI_DPDK_PREFIX,
 * DEMI_DPDK_MP_GROUP, DEMI_DPDK_RUNDIR); DEMI_DPDK_MBUFS, _RXD, _TXD,
 * DEMI_MAC and DEMI_MTU apply to the port as for a process of its own.
 * Needs root (the port, hugepages) and free hugepages: the secondaries map
 * the primary's memory, which --no-huge memory cannot give them.
 *
 * Flow placement (how received flows are spread over the queues):
 *   net_tap        an rte_flow RSS rule (tap's BPF Toeplitz, our key) when
 *                  the kernel takes it, else the tun driver's own choice
 *   RSS ports      the port's Toeplitz key and redirection table
 *   net_af_packet  refused: DPDK 22.11 maps its rings in the primary only
 *   memif          the peer picks the queue
 * The table says which, and holds the key and queue map when we know the
 * hash (the stack then picks ephemeral ports whose replies come back to
 * the opener's own queue).
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_flow.h>
#include <rte_memzone.h>

#include "dm/config.h"
#include "dm/log.h"
#include "dpdk_priv.h"

#define MAX_ARGS 64

/* Toeplitz key (the common 40-byte default of Intel NICs, as in DPDK's
 * testpmd): symmetric enough for tests, and any key works with softrss. */
static const uint8_t rss_key[40] = {
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
    0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
    0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};

static int grant_gid = -1;
static char huge_dir[512];
static char run_dir[512];
static char prefix[96];

static void usage(void)
{
    fprintf(stderr, "usage: demi-dpdk-primary [-q QUEUES] [-p PREFIX] [-g USER|GROUP] [-r RUNDIR] [-R READY_FILE]\n"
                    "  the port: DEMI_DPDK_ARGS (e.g. --vdev=net_tap0,iface=dtap0), DEMI_DPDK_PORT\n");
    exit(2);
}

/* chown to the group and open to it whatever is under path (files g+rw,
 * directories g+rwx), each time: the EAL adds files as it goes. */
static void grant(const char *path, int depth)
{
    struct stat sb;
    if (grant_gid < 0 || lstat(path, &sb) != 0)
        return;
    if (sb.st_gid != (gid_t)grant_gid)
        (void)!chown(path, (uid_t)-1, (gid_t)grant_gid);
    mode_t want = S_ISDIR(sb.st_mode) ? (sb.st_mode | S_IRWXG) : (sb.st_mode | S_IRGRP | S_IWGRP);
    if ((sb.st_mode & 07777) != (want & 07777) && !S_ISLNK(sb.st_mode))
        (void)!chmod(path, want & 07777);
    if (!S_ISDIR(sb.st_mode) || depth <= 0)
        return;
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char p[1024];
        snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
        grant(p, depth - 1);
    }
    closedir(d);
}

/* The hugepage files of our prefix (PREFIXmap_N, in the huge dir). */
static void grant_huge(void)
{
    if (grant_gid < 0 || !huge_dir[0])
        return;
    DIR *d = opendir(huge_dir);
    if (!d)
        return;
    struct dirent *e;
    size_t pl = strlen(prefix);
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, pl) != 0)
            continue;
        char p[1024];
        snprintf(p, sizeof(p), "%s/%s", huge_dir, e->d_name);
        grant(p, 0);
    }
    closedir(d);
}

static void grant_all(void)
{
    char p[700];
    grant(run_dir, 0);
    snprintf(p, sizeof(p), "%s/dpdk", run_dir);
    grant(p, 0);
    snprintf(p, sizeof(p), "%s/dpdk/%s", run_dir, prefix);
    grant(p, 1);
    grant_huge();
}

/* --huge-dir of the arguments, else the first hugetlbfs mount. */
static void find_huge_dir(char **w, int n)
{
    for (int i = 0; i < n; i++) {
        if (!strncmp(w[i], "--huge-dir=", 11)) {
            snprintf(huge_dir, sizeof(huge_dir), "%s", w[i] + 11);
            return;
        }
        if (!strcmp(w[i], "--huge-dir") && i + 1 < n) {
            snprintf(huge_dir, sizeof(huge_dir), "%s", w[i + 1]);
            return;
        }
    }
    FILE *f = fopen("/proc/mounts", "r");
    char dev[256], dir[512], type[64];
    while (f && fscanf(f, "%255s %511s %63s %*[^\n]", dev, dir, type) == 3) {
        if (!strcmp(type, "hugetlbfs")) {
            snprintf(huge_dir, sizeof(huge_dir), "%s", dir);
            break;
        }
    }
    if (f)
        fclose(f);
}

static int resolve_group(const char *name)
{
    struct group *g = getgrnam(name);
    if (g)
        return (int)g->gr_gid;
    struct passwd *pw = getpwnam(name);
    if (pw)
        return (int)pw->pw_gid;
    char *end;
    long v = strtol(name, &end, 10);
    return *end == 0 && v >= 0 ? (int)v : -1;
}

/* net_tap: spread flows with an RSS rule (tap implements it with a BPF
 * program computing Toeplitz over the IPv4 addresses and ports with our
 * key; queue = queues[hash % n]). */
static int tap_rss(uint16_t port, uint16_t nq, struct dpdk_mp_shm *shm)
{
    struct rte_flow_attr attr = {.ingress = 1};
    struct rte_flow_item pattern[] = {
        {.type = RTE_FLOW_ITEM_TYPE_ETH},
        {.type = RTE_FLOW_ITEM_TYPE_IPV4},
        {.type = RTE_FLOW_ITEM_TYPE_END},
    };
    uint16_t queues[DPDK_MP_MAX_QUEUES];
    for (uint16_t q = 0; q < nq; q++)
        queues[q] = q;
    struct rte_flow_action_rss rss = {
        .func = RTE_ETH_HASH_FUNCTION_DEFAULT,
        .level = 0,
        .types = RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_NONFRAG_IPV4_UDP,
        .key_len = sizeof(rss_key),
        .key = rss_key,
        .queue_num = nq,
        .queue = queues,
    };
    struct rte_flow_action actions[] = {
        {.type = RTE_FLOW_ACTION_TYPE_RSS, .conf = &rss},
        {.type = RTE_FLOW_ACTION_TYPE_END},
    };
    struct rte_flow_error err;
    memset(&err, 0, sizeof(err));
    struct rte_flow *f = rte_flow_create(port, &attr, pattern, actions, &err);
    if (!f) {
        DM_WARN("dpdk-primary", "net_tap RSS rule refused (%s): flows are placed by the tun driver",
                err.message ? err.message : "no reason given");
        return -1;
    }
    shm->place = DPDK_MP_PLACE_TOEPLITZ;
    shm->ports = DM_FLOW_TCP4 | DM_FLOW_UDP4; /* the rule's types */
    shm->rss_key_len = sizeof(rss_key);
    memcpy(shm->rss_key, rss_key, sizeof(rss_key));
    shm->qmap_n = nq;
    for (uint16_t q = 0; q < nq; q++)
        shm->qmap[q] = q;
    snprintf(shm->place_how, sizeof(shm->place_how), "tap RSS rule: Toeplitz on IPv4 addresses and ports");
    return 0;
}

/* A port configured with RSS: its key and redirection table. */
static void port_rss(uint16_t port, struct dpdk_mp_shm *shm)
{
    struct rte_eth_dev_info di;
    struct rte_eth_rss_conf rc;
    uint8_t key[64];
    if (rte_eth_dev_info_get(port, &di) != 0 || !di.reta_size || di.reta_size > 512)
        return;
    memset(&rc, 0, sizeof(rc));
    rc.rss_key = key;
    rc.rss_key_len = sizeof(key);
    if (rte_eth_dev_rss_hash_conf_get(port, &rc) != 0 || !rc.rss_hf || rc.rss_key_len > 64)
        return;
    struct rte_eth_rss_reta_entry64 reta[512 / RTE_ETH_RETA_GROUP_SIZE];
    memset(reta, 0, sizeof(reta));
    for (unsigned i = 0; i < di.reta_size / RTE_ETH_RETA_GROUP_SIZE; i++)
        reta[i].mask = ~0ULL;
    if (rte_eth_dev_rss_reta_query(port, reta, di.reta_size) != 0)
        return;
    for (unsigned i = 0; i < di.reta_size; i++)
        shm->qmap[i] = reta[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE];
    shm->qmap_n = di.reta_size;
    shm->rss_key_len = rc.rss_key_len;
    memcpy(shm->rss_key, key, rc.rss_key_len);
    shm->place = DPDK_MP_PLACE_TOEPLITZ;
    bool key6 = rc.rss_key_len >= 40; /* IPv6's tuple: 36 B */
    shm->ports = (uint8_t)((rc.rss_hf & RTE_ETH_RSS_NONFRAG_IPV4_TCP ? DM_FLOW_TCP4 : 0) |
                           (rc.rss_hf & RTE_ETH_RSS_NONFRAG_IPV4_UDP ? DM_FLOW_UDP4 : 0) |
                           (key6 && (rc.rss_hf & RTE_ETH_RSS_NONFRAG_IPV6_TCP) ? DM_FLOW_TCP6 : 0) |
                           (key6 && (rc.rss_hf & RTE_ETH_RSS_NONFRAG_IPV6_UDP) ? DM_FLOW_UDP6 : 0));
    static const char *const names[] = { "tcp4", "udp4", "tcp6", "udp6" };
    char on[32] = "none";
    for (unsigned i = 0, n = 0; i < 4; i++)
        if (shm->ports & (1u << i))
            n += (unsigned)snprintf(on + n, sizeof(on) - n, "%s%s", n ? "," : "", names[i]);
    snprintf(shm->place_how, sizeof(shm->place_how), "the port's Toeplitz RSS (%u-entry table; ports of %s)",
             di.reta_size, on);
}

static void print_table(const struct dpdk_mp_shm *shm)
{
    struct rte_eth_stats s;
    bool hw = rte_eth_stats_get(shm->port, &s) == 0;
    printf("demi-dpdk-primary: port %u (%s), %u queues, flows: %s\n", shm->port, shm->driver, shm->nb_queues,
           shm->place_how);
    for (int q = 0; q < shm->nb_queues; q++) {
        const struct dpdk_mp_queue *e = &shm->q[q];
        printf("queue %d: pid %d claims %u rx %llu tx %llu arp_copied %llu port_rx %llu\n", q, (int)e->pid,
               e->claims, (unsigned long long)e->rx, (unsigned long long)e->tx,
               (unsigned long long)e->arp_copied,
               (unsigned long long)(hw && q < RTE_ETHDEV_QUEUE_STAT_CNTRS ? s.q_ipackets[q] : 0));
    }
    fflush(stdout);
}

/* The options; each sets its DEMI_* key. Returns the -R file or NULL. */
static const char *parse_args(int argc, char **argv, struct dm_config *cfg)
{
    const char *ready = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "q:p:g:r:R:h")) != -1) {
        switch (opt) {
        case 'q': dm_cfg_set(cfg, DM_CFG_DPDK_QUEUES, optarg); break;
        case 'p': dm_cfg_set(cfg, DM_CFG_DPDK_PREFIX, optarg); break;
        case 'g': dm_cfg_set(cfg, DM_CFG_DPDK_MP_GROUP, optarg); break;
        case 'r': dm_cfg_set(cfg, DM_CFG_DPDK_RUNDIR, optarg); break;
        case 'R': ready = optarg; break;
        default: usage();
        }
    }
    return ready;
}

/* The queues, the port, the group (grant_gid) and the prefix. */
static int read_settings(struct dm_config *cfg, int64_t *nq64, int64_t *port64, const char **grp)
{
    dm_log_configure(cfg);
    if (dm_config_check(cfg) < 0)
        return -1;
    if (dm_cfg_int(cfg, DM_CFG_DPDK_QUEUES, nq64) < 0 || dm_cfg_int(cfg, DM_CFG_DPDK_PORT, port64) < 0)
        return -1;
    *grp = dm_cfg_str(cfg, DM_CFG_DPDK_MP_GROUP);
    if (*grp && **grp && (grant_gid = resolve_group(*grp)) < 0) {
        DM_ERR("dpdk-primary", "DEMI_DPDK_MP_GROUP=%s: no such group or user", *grp);
        return -1;
    }
    const char *p = dm_cfg_str(cfg, DM_CFG_DPDK_PREFIX);
    snprintf(prefix, sizeof(prefix), "%s", p && *p ? p : DPDK_MP_DEFAULT_PREFIX);
    return 0;
}

/* Free hugepages, and no argument that asks for none: the secondaries map
 * the primary's memory. Returns how many are free, or -1. */
static int hugepages_check(char **words, int nw)
{
    int free_pages = dpdk_hugepages_free();
    bool user_nohuge = false;
    for (int i = 0; i < nw; i++)
        user_nohuge |= !strcmp(words[i], "--no-huge") || !strcmp(words[i], "--in-memory");
    if (free_pages <= 0 || user_nohuge) {
        DM_ERR("dpdk-primary", "needs hugepages (free: %d%s): the secondaries map the primary's memory, which "
                               "--no-huge/--in-memory cannot share (e.g. sysctl vm.nr_hugepages=256)",
               free_pages, user_nohuge ? ", and DEMI_DPDK_ARGS asks for none" : "");
        return -1;
    }
    return free_pages;
}

/* The EAL's arguments: the user's, then ours. Returns their count, or -1.
 * Static storage: the EAL is handed pointers into it. */
static int eal_args(const struct dm_config *cfg, char ***eal_argv_out)
{
    static char user_buf[4096], final_buf[8192];
    static char *words[MAX_ARGS], *eal_argv[MAX_ARGS + 16];
    const char *args = dm_cfg_str(cfg, DM_CFG_DPDK_ARGS);
    if (!args || !*args) {
        DM_ERR("dpdk-primary", "DEMI_DPDK_ARGS is not set: give the port, e.g. --vdev=net_tap0,iface=dtap0");
        return -1;
    }
    int nw = dpdk_split_args(args, words, MAX_ARGS - 3, user_buf, sizeof(user_buf));
    if (nw < 0) {
        DM_ERR("dpdk-primary", "DEMI_DPDK_ARGS: unterminated quote or too long");
        return -1;
    }
    int free_pages = hugepages_check(words, nw);
    if (free_pages < 0)
        return -1;
    words[nw++] = "--proc-type=primary";
    bool iova = false;
    for (int i = 0; i < nw; i++)
        iova |= !strncmp(words[i], "--iova-mode", 11);
    if (!iova)
        words[nw++] = "--iova-mode=va";
    /* Every secondary maps the memory at the primary's addresses. Left to
     * the kernel, the primary's land in the mmap area near the libraries,
     * where a secondary's own mappings may already be: an
     * AddressSanitizer build's (its shadow and allocator) always were
     * ("Cannot reserve ... at [0x7f9dfb400000]"), and so may another
     * program's. 32 TiB is above ASan's shadow, below its allocator and
     * the mmap area, and empty in an ordinary process. */
    bool base = false;
    for (int i = 0; i < nw; i++)
        base |= !strncmp(words[i], "--base-virtaddr", 15);
    if (!base)
        words[nw++] = "--base-virtaddr=0x200000000000";
    int allow_pci = 0;
    (void)dm_cfg_bool(cfg, DM_CFG_DPDK_ALLOW_PCI, &allow_pci);
    int eargc = dpdk_build_eal_argv(words, nw, allow_pci, prefix, free_pages, dm_log_level, eal_argv,
                                    MAX_ARGS + 16, final_buf, sizeof(final_buf));
    if (eargc < 0) {
        DM_ERR("dpdk-primary", "DEMI_DPDK_ARGS: too many arguments");
        return -1;
    }
    find_huge_dir(words, nw);
    *eal_argv_out = eal_argv;
    return eargc;
}

/* RUNDIR (DEMI_DPDK_RUNDIR), and no live primary with our prefix. */
static int run_dir_prepare(const struct dm_config *cfg)
{
    char cfgpath[600];
    dpdk_mp_rundir(cfg, prefix, cfgpath, sizeof(cfgpath));
    const char *rd = dm_cfg_str(cfg, DM_CFG_DPDK_RUNDIR);
    snprintf(run_dir, sizeof(run_dir), "%s", rd && *rd ? rd : "/run/demi-dpdk");
    if (mkdir(run_dir, 0755) != 0 && errno != EEXIST) {
        DM_ERR("dpdk-primary", "cannot create %s (DEMI_DPDK_RUNDIR): %s", run_dir, strerror(errno));
        return -1;
    }
    if (access(cfgpath, F_OK) == 0 && rte_eal_primary_proc_alive(cfgpath)) {
        DM_ERR("dpdk-primary", "a primary with prefix %s is already running (%s)", prefix, cfgpath);
        return -1;
    }
    return 0;
}

static int eal_start(int eargc, char **eal_argv)
{
    char shown[2048];
    size_t o = 0;
    for (int i = 0; i < eargc && o < sizeof(shown) - 2; i++)
        o += (size_t)snprintf(shown + o, sizeof(shown) - o, "%s%s", i ? " " : "", eal_argv[i]);
    DM_INFO("dpdk-primary", "EAL arguments: %s", shown);
    if (rte_eal_init(eargc, eal_argv) < 0) {
        DM_ERR("dpdk-primary", "rte_eal_init failed (%s); EAL arguments: %s", rte_strerror(rte_errno), shown);
        return -1;
    }
    return 0;
}

/* At most as many queues as the table, the port and (tap) the fds one
 * message to a secondary can carry. */
static uint16_t queues_limit(const struct rte_eth_dev_info *di, uint16_t nq)
{
    uint16_t lim = DPDK_MP_MAX_QUEUES;
    const char *why = "this program's table";
    if (di->max_rx_queues < lim)
        lim = di->max_rx_queues, why = "the port's RX queues";
    if (di->max_tx_queues < lim)
        lim = di->max_tx_queues, why = "the port's TX queues";
    /* tap hands each secondary all its queue fds in one message */
    if (!strcmp(di->driver_name, "net_tap") && lim > RTE_MP_MAX_FD_NUM / 2)
        lim = RTE_MP_MAX_FD_NUM / 2, why = "net_tap in a secondary (RTE_MP_MAX_FD_NUM fds for RX and TX)";
    if (nq > lim) {
        DM_WARN("dpdk-primary", "DEMI_DPDK_QUEUES=%u: %u at most (%s)", nq, lim, why);
        nq = lim;
    }
    return nq;
}

/* DEMI_DPDK_PORT, if it exists and secondaries can drive it. */
static int port_pick(int64_t port64, uint16_t *port, struct rte_eth_dev_info *di)
{
    *port = (uint16_t)port64;
    if (port64 >= RTE_MAX_ETHPORTS || !rte_eth_dev_is_valid_port(*port)) {
        DM_ERR("dpdk-primary", "DEMI_DPDK_PORT=%lld: no such port (%u available)", (long long)port64,
               rte_eth_dev_count_avail());
        return -1;
    }
    if (rte_eth_dev_info_get(*port, di) != 0)
        return -1;
    if (!strcmp(di->driver_name, "net_af_packet")) {
        DM_ERR("dpdk-primary", "port %u: net_af_packet cannot be driven from secondary processes in DPDK 22.11 "
                               "(its packet rings are mmap()ed in the primary only): use net_tap", *port);
        return -1;
    }
    return 0;
}

/* The claim table, in a memzone the secondaries look up by name. */
static struct dpdk_mp_shm *table_create(uint16_t port)
{
    char zname[RTE_MEMZONE_NAMESIZE];
    dpdk_mp_names(port, 0, zname, NULL, NULL, NULL, NULL);
    const struct rte_memzone *mz = rte_memzone_reserve(zname, sizeof(struct dpdk_mp_shm), SOCKET_ID_ANY, 0);
    if (!mz) {
        DM_ERR("dpdk-primary", "cannot reserve memzone %s (%s)", zname, rte_strerror(rte_errno));
        return NULL;
    }
    struct dpdk_mp_shm *shm = mz->addr;
    memset(shm, 0, sizeof(*shm));
    return shm;
}

/* Queues, pools and offloads as for a process of its own, then start. */
static int port_open(const struct dm_config *cfg, uint16_t port, uint16_t nq, struct dpdk_mp_shm *shm)
{
    static struct dpdk_dev scratch __attribute__((aligned(64)));
    if (dpdk_primary_port_setup(&scratch, cfg, port, nq, shm) < 0)
        return -1;
    int rc = rte_eth_dev_start(port);
    if (rc < 0) {
        DM_ERR("dpdk-primary", "port %u: rte_eth_dev_start failed (%s)", port, strerror(-rc));
        return -1;
    }
    return 0;
}

/* How received flows reach the queues (the table at the top of the file). */
static void flows_place(uint16_t port, uint16_t nq, const char *driver, struct dpdk_mp_shm *shm)
{
    snprintf(shm->place_how, sizeof(shm->place_how), "one queue");
    if (nq <= 1)
        return;
    if (!strcmp(driver, "net_tap")) {
        if (tap_rss(port, nq, shm) < 0)
            snprintf(shm->place_how, sizeof(shm->place_how),
                     "the tun driver: the kernel's flow hash, then the queue each flow last sent on");
    } else if (!strcmp(driver, "net_af_packet")) {
        snprintf(shm->place_how, sizeof(shm->place_how),
                 "PACKET_FANOUT_HASH: the kernel's symmetric flow hash (seeded at boot)");
    } else if (!strcmp(driver, "net_memif")) {
        snprintf(shm->place_how, sizeof(shm->place_how), "memif: the peer picks the queue");
    } else {
        snprintf(shm->place_how, sizeof(shm->place_how), "the port's own (unknown hash)");
        port_rss(port, shm);
    }
}

/* Our pid, whole or not at all. */
static void ready_write(const char *ready)
{
    if (!ready)
        return;
    char tmp[600];
    snprintf(tmp, sizeof(tmp), "%s.tmp", ready);
    FILE *f = fopen(tmp, "w");
    if (f) {
        fprintf(f, "%d\n", (int)getpid());
        fclose(f);
        rename(tmp, ready);
    }
}

/* The queues whose owner is gone are free again. */
static void queues_reap(uint16_t port, uint16_t nq, struct dpdk_mp_shm *shm)
{
    for (int q = 0; q < nq; q++) {
        struct dpdk_mp_queue *e = &shm->q[q];
        int32_t pid = __atomic_load_n(&e->pid, __ATOMIC_ACQUIRE);
        if (pid != 0 && !dpdk_mp_owner_alive(e) &&
            __atomic_compare_exchange_n(&e->pid, &pid, 0, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            char rxn[RTE_MEMPOOL_NAMESIZE];
            dpdk_mp_names(port, q, NULL, rxn, NULL, NULL, NULL);
            struct rte_mempool *mp = rte_mempool_lookup(rxn);
            /* what it held (its connections' data) is lost to the pool */
            printf("demi-dpdk-primary: queue %d: pid %d is gone: the queue is free again (%u of %u RX mbufs "
                   "out of its pool)\n", q, (int)pid, mp ? rte_mempool_in_use_count(mp) : 0, shm->nb_mbufs);
            fflush(stdout);
        }
    }
}

/* Until SIGTERM/SIGINT (blocked, taken with sigtimedwait): SIGUSR1/SIGHUP
 * print the table, and every second free the queues of the dead and give
 * the group the EAL's new files. */
static void serve(const sigset_t *set, uint16_t port, uint16_t nq, struct dpdk_mp_shm *shm)
{
    for (;;) {
        struct timespec ts = {.tv_sec = 1};
        int sig = sigtimedwait(set, NULL, &ts);
        if (sig == SIGUSR1 || sig == SIGHUP) {
            print_table(shm);
            continue;
        }
        if (sig == SIGTERM || sig == SIGINT)
            break;
        queues_reap(port, nq, shm);
        grant_all();
    }
}

static void signals_block(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGUSR1);
    sigaddset(set, SIGHUP);
    sigprocmask(SIG_BLOCK, set, NULL);
}

int main(int argc, char **argv)
{
    struct dm_config cfg;
    dm_config_init(&cfg);
    /* Blocked before the EAL makes its threads, which inherit the mask: a
     * SIGUSR1 sent while the main thread was not in sigtimedwait went to
     * one of them, whose default action ended the primary (seen under
     * AddressSanitizer, where printing the table takes longer). */
    sigset_t set;
    signals_block(&set);
    const char *ready = parse_args(argc, argv, &cfg), *grp = NULL;
    int64_t nq64 = 2, port64 = 0;
    char **eal_argv;
    int eargc;
    if (read_settings(&cfg, &nq64, &port64, &grp) < 0 || (eargc = eal_args(&cfg, &eal_argv)) < 0 ||
        run_dir_prepare(&cfg) < 0 || eal_start(eargc, eal_argv) < 0)
        return 1;
    uint16_t port;
    struct rte_eth_dev_info di;
    struct dpdk_mp_shm *shm;
    if (port_pick(port64, &port, &di) < 0)
        goto fail;
    uint16_t nq = queues_limit(&di, (uint16_t)nq64);
    if (!(shm = table_create(port)) || port_open(&cfg, port, nq, shm) < 0)
        goto fail;
    flows_place(port, nq, di.driver_name, shm);
    /* it never receives: no signal per frame of the secondaries (dpdk_tap.c) */
    struct dpdk_tap_kick kick;
    if (!strcmp(di.driver_name, "net_tap")) {
        dpdk_tap_signals_off(&kick);
        dpdk_tap_fds_serve(); /* so that they can sleep on them */
    }
    shm->primary_pid = (int32_t)getpid();
    __atomic_store_n(&shm->magic, DPDK_MP_MAGIC, __ATOMIC_RELEASE);
    grant_all();

    printf("demi-dpdk-primary: ready: pid %d, port %u (%s), %u queues, prefix %s, runtime %s/dpdk/%s%s%s\n",
           (int)getpid(), port, di.driver_name, nq, prefix, run_dir, prefix, grant_gid >= 0 ? ", group " : "",
           grant_gid >= 0 ? grp : "");
    print_table(shm);
    ready_write(ready);
    serve(&set, port, nq, shm);
    print_table(shm);
    shm->magic = 0;
    rte_eth_dev_stop(port);
    rte_eth_dev_close(port);
    rte_eal_cleanup();
    printf("demi-dpdk-primary: stopped\n");
    return 0;
fail:
    /* the hugepage files and runtime dir go with the EAL */
    rte_eal_cleanup();
    return 1;
}
