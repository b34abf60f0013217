/* SPDX-License-Identifier: MIT */
/*
 * EAL start-up for the DPDK device, once per process.
 *
 * rte_eal_init() can run only once in a process, so the first open of a
 * "dpdk" device starts it and every later open (another instance, another
 * port) reuses the outcome, success or failure. The arguments come from
 * DEMI_DPDK_ARGS, split like a shell would (quotes, backslashes, no
 * expansion), and we add what a library embedded in someone else's program
 * needs unless the user already said otherwise:
 *   --no-pci           never grab the machine's own NIC by accident
 *                      (DEMI_DPDK_ALLOW_PCI=1 lifts this, for real NICs)
 *   --file-prefix      DEMI_DPDK_PREFIX, else demi<pid>: two processes on
 *                      one machine must not share EAL runtime files
 *   --lcores=0@(cpus)  one lcore allowed on the CPUs we already run on: the
 *                      default would pin the caller's thread to CPU 0 and
 *                      start a worker thread per core
 *   --no-telemetry     no extra thread and socket
 *   --log-level        follows DEMI_LOG
 *   --no-huge -m 256   when /proc/meminfo shows no free hugepage, or no
 *                      hugetlbfs is mounted to use them through
 * The EAL prints its whole usage text on stdout when it rejects an
 * argument; we silence stdout for the call (its own one-line reason still
 * goes to stderr through its log) and then log one line that names
 * DEMI_DPDK_ARGS.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_interrupts.h>

#include "dm/device.h"
#include "dm/log.h"
#include "dpdk_priv.h"

#define EAL_MAX_ARGS 64

int dpdk_split_args(const char *s, char **argv, int max, char *buf, size_t buflen)
{
    int n = 0;
    size_t o = 0;
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == '\n')
            s++;
        if (!*s)
            break;
        if (n >= max)
            return -E2BIG;
        argv[n++] = buf + o;
        char q = 0;
        while (*s && (q || (*s != ' ' && *s != '\t' && *s != '\n'))) {
            char c = *s++;
            if (q == '\'') {
                if (c == '\'') {
                    q = 0;
                    continue;
                }
            } else if (c == '\\' && *s && (q == 0 || *s == '"' || *s == '\\')) {
                c = *s++;
            } else if (q == '"' && c == '"') {
                q = 0;
                continue;
            } else if (!q && (c == '\'' || c == '"')) {
                q = c;
                continue;
            }
            if (o + 1 >= buflen)
                return -E2BIG;
            buf[o++] = c;
        }
        if (q)
            return -EINVAL;
        if (o + 1 >= buflen)
            return -E2BIG;
        buf[o++] = '\0';
    }
    return n;
}

/* Does the user's argument list already carry one of these options (as
 * "--opt", "--opt=x" or a short "-l"/"-l0")? */
static bool has_opt(char **w, int n, const char *const *opts)
{
    for (int i = 0; i < n; i++) {
        for (const char *const *o = opts; *o; o++) {
            size_t l = strlen(*o);
            if (strncmp(w[i], *o, l) != 0)
                continue;
            if (w[i][l] == '\0' || w[i][l] == '=' || (*o)[1] != '-')
                return true;
        }
    }
    return false;
}

static int push_arg(char **argv, int *argc, int max, char *buf, size_t buflen, size_t *off, const char *fmt,
                    const char *a)
{
    if (*argc >= max)
        return -E2BIG;
    int l = snprintf(buf + *off, buflen - *off, fmt, a);
    if (l < 0 || (size_t)l + 1 > buflen - *off)
        return -E2BIG;
    argv[(*argc)++] = buf + *off;
    *off += (size_t)l + 1;
    return 0;
}

static void cpu_list(char *out, size_t len)
{
    cpu_set_t set;
    size_t o = 0;
    int first = 1;
    out[0] = '\0';
    if (sched_getaffinity(0, sizeof(set), &set) != 0)
        return;
    for (int c = 0; c < CPU_SETSIZE && o + 8 < len; c++) {
        if (!CPU_ISSET(c, &set))
            continue;
        o += (size_t)snprintf(out + o, len - o, "%s%d", first ? "" : ",", c);
        first = 0;
    }
}

int dpdk_build_eal_argv(char **words, int nwords, bool allow_pci, const char *prefix, int hugepages_free,
                        int log_level, char **argv, int max, char *buf, size_t buflen)
{
    static const char *const o_pci[] = { "--no-pci", NULL };
    static const char *const o_prefix[] = { "--file-prefix", NULL };
    static const char *const o_lcores[] = { "-l", "-c", "--lcores", NULL };
    static const char *const o_tele[] = { "--telemetry", "--no-telemetry", NULL };
    static const char *const o_log[] = { "--log-level", NULL };
    static const char *const o_huge[] = { "--no-huge", "--huge-dir", "--in-memory", NULL };
    static const char *const o_mem[] = { "-m", "--socket-mem", NULL };
    static const char *const levels[] = { "error", "warning", "notice", "info" };
    size_t off = 0;
    int argc = 0, rc;
    char cpus[512];

    if ((rc = push_arg(argv, &argc, max, buf, buflen, &off, "%s", "demi")) < 0)
        return rc;
    for (int i = 0; i < nwords; i++)
        if ((rc = push_arg(argv, &argc, max, buf, buflen, &off, "%s", words[i])) < 0)
            return rc;
    if (!allow_pci && !has_opt(words, nwords, o_pci))
        if ((rc = push_arg(argv, &argc, max, buf, buflen, &off, "%s", "--no-pci")) < 0)
            return rc;
    if (!has_opt(words, nwords, o_prefix))
        if ((rc = push_arg(argv, &argc, max, buf, buflen, &off, "--file-prefix=%s", prefix)) < 0)
            return rc;
    cpu_list(cpus, sizeof(cpus));
    if (!has_opt(words, nwords, o_lcores) && cpus[0])
        if ((rc = push_arg(argv, &argc, max, buf, buflen, &off, "--lcores=0@(%s)", cpus)) < 0)
            return rc;
    if (!has_opt(words, nwords, o_tele))
        if ((rc = push_arg(argv, &argc, max, buf, buflen, &off, "%s", "--no-telemetry")) < 0)
            return rc;
    if (!has_opt(words, nwords, o_log)) {
        int l = log_level < 0 ? 0 : log_level > 3 ? 3 : log_level;
        if ((rc = push_arg(argv, &argc, max, buf, buflen, &off, "--log-level=%s", levels[l])) < 0)
            return rc;
    }
    if (hugepages_free <= 0 && !has_opt(words, nwords, o_huge)) {
        if ((rc = push_arg(argv, &argc, max, buf, buflen, &off, "%s", "--no-huge")) < 0)
            return rc;
        if (!has_opt(words, nwords, o_mem) &&
            ((rc = push_arg(argv, &argc, max, buf, buflen, &off, "%s", "-m")) < 0 ||
             (rc = push_arg(argv, &argc, max, buf, buflen, &off, "%s", "256")) < 0))
            return rc;
    }
    if (argc >= max)
        return -E2BIG;
    argv[argc] = NULL;
    return argc;
}

int dpdk_own_memory_words(char **words, int nwords, int max, int hugepages_free)
{
    static const char *const o_mine[] = { "--no-huge", "--in-memory", "--legacy-mem", "--huge-unlink",
                                          "--single-file-segments", "--proc-type", NULL };
    if (hugepages_free <= 0 || has_opt(words, nwords, o_mine))
        return nwords;
    if (nwords >= max)
        return -E2BIG;
    words[nwords++] = "--huge-unlink";
    return nwords;
}

/* Is a hugetlbfs mounted anywhere? Pages reserved (vm.nr_hugepages) with
 * no mount to map them through are of no use to the EAL, which then fails
 * ("Cannot get hugepage information") where --no-huge would have run. */
static bool hugetlbfs_mounted(void)
{
    FILE *f = fopen("/proc/mounts", "r");
    char line[512];
    bool found = false;
    if (!f)
        return false;
    while (!found && fgets(line, sizeof(line), f)) {
        char dev[128], dir[256], type[64];
        found = sscanf(line, "%127s %255s %63s", dev, dir, type) == 3 && strcmp(type, "hugetlbfs") == 0;
    }
    fclose(f);
    return found;
}

int dpdk_hugepages_free(void)
{
    if (!hugetlbfs_mounted())
        return 0;
    FILE *f = fopen("/proc/meminfo", "r");
    char line[128];
    int n = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "HugePages_Free: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}

/* The EAL keeps its runtime files in /var/run/dpdk/<prefix>; with a prefix
 * per process they would pile up, so remove them at exit. Only the files:
 * the EAL itself (and its memory) stays up until the process is gone,
 * because buffers we handed out may still be freed by other exit handlers. */
static char eal_runtime_dir[512];

static void eal_remove_runtime_dir(void)
{
    DIR *d = opendir(eal_runtime_dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", eal_runtime_dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(eal_runtime_dir);
}

static pthread_mutex_t eal_lock = PTHREAD_MUTEX_INITIALIZER;
static int eal_state = 1; /* 1: not tried; 0: up; <0: failed with this -errno */

/* The EAL's interrupt thread (link state, memif's control channel): it
 * re-creates its epoll whenever its sources change, long after start-up. */
static bool eal_thread_is_intr(void) { return rte_thread_is_intr() != 0; }

static bool eal_secondary;
extern char **environ;

/* The environment's value of name (not a DEMI_* variable: those come from
 * the configuration table), to put it back after the EAL read ours. */
static const char *env_value(const char *name)
{
    size_t l = strlen(name);
    for (char **e = environ; e && *e; e++)
        if (!strncmp(*e, name, l) && (*e)[l] == '=')
            return *e + l + 1;
    return NULL;
}

bool dpdk_eal_is_secondary(void) { return eal_secondary; }

void dpdk_mp_rundir(const struct dm_config *cfg, const char *prefix, char *config_path, size_t len)
{
    const char *dir = dm_cfg_str(cfg, DM_CFG_DPDK_RUNDIR);
    if (!dir || !*dir)
        dir = "/run/demi-dpdk";
    setenv("RUNTIME_DIRECTORY", dir, 1);
    snprintf(config_path, len, "%s/dpdk/%s/config", dir, prefix);
}

/* DPDK opens tens of descriptors of its own while it starts (hugepage
 * files, eventfds, its interrupt thread's epoll, a vdev's sockets), at the
 * lowest free numbers. A program expects its sockets low: select() stops
 * at FD_SETSIZE, and event loops are sized to their connections (wrk's
 * holds 10 + 3 per connection: its connects failed when the EAL's
 * descriptors had pushed its sockets past that). So while the EAL and
 * the port start, /dev/null holds every free number below the floor and
 * DPDK's land above it. A quarter of RLIMIT_NOFILE at most. */
#define DPDK_FD_FLOOR 256

void dpdk_fd_floor_raise(struct dpdk_fd_floor *f)
{
    struct rlimit rl;
    int floor = DPDK_FD_FLOOR, fd;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 4 * (rlim_t)floor)
        floor = (int)(rl.rlim_cur / 4);
    f->n = 0;
    while (f->n < (int)DM_ARRAY_SIZE(f->fds) && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0) {
        if (fd >= floor) {
            close(fd);
            break;
        }
        f->fds[f->n++] = fd;
    }
}

void dpdk_fd_floor_drop(struct dpdk_fd_floor *f)
{
    for (int i = 0; i < f->n; i++)
        close(f->fds[i]);
    f->n = 0;
}

/* rte_eal_init with stdout silenced (the EAL prints its whole usage text
 * there when it rejects an argument). */
static int eal_init_quiet(int argc, char **argv, int *err)
{
    /* The EAL parses argv in place (getopt permutes it): give it a copy of
     * the pointer array and keep ours for the messages. */
    static char *eal_argv[EAL_MAX_ARGS + 16];
    if (argc < 0 || argc >= (int)DM_ARRAY_SIZE(eal_argv))
        return *err = EINVAL, -1;
    /* the caller's array may be shorter than ours: its argc words only
     * (copying sizeof(eal_argv) read past a secondary's argv: ASan) */
    memcpy(eal_argv, argv, (size_t)argc * sizeof(*argv));
    eal_argv[argc] = NULL;
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (saved >= 0 && devnull >= 0)
        dup2(devnull, STDOUT_FILENO);
    if (devnull >= 0)
        close(devnull);
    struct dpdk_fd_floor floor;
    dpdk_fd_floor_raise(&floor);
    int rc = rte_eal_init(argc, eal_argv);
    *err = rte_errno;
    dpdk_fd_floor_drop(&floor);
    fflush(stdout);
    if (saved >= 0) {
        dup2(saved, STDOUT_FILENO);
        close(saved);
    }
    return rc;
}

/* A secondary of demi-dpdk-primary: no --vdev or memory options of its
 * own (the port, the memory and the hugepage settings are the primary's),
 * DEMI_DPDK_ARGS is not read. The runtime directory is DEMI_DPDK_RUNDIR's,
 * whoever we run as (an unprivileged worker would otherwise look in /tmp).
 * The primary's IOVA mode is VA, which needs no privilege here. */
static int eal_start_secondary(const struct dm_config *cfg, const char *prefix)
{
    static char final_buf[4096];
    static char *argv[EAL_MAX_ARGS];
    char *words[] = { "--proc-type=secondary", "--iova-mode=va" };
    char shown[1024], cfgpath[512], keep[512];
    int allow_pci = 0;
    if (dm_cfg_bool(cfg, DM_CFG_DPDK_ALLOW_PCI, &allow_pci) < 0)
        return -EINVAL;
    int argc = dpdk_build_eal_argv(words, 2, allow_pci, prefix, 1, dm_log_level, argv, (int)DM_ARRAY_SIZE(argv),
                                   final_buf, sizeof(final_buf));
    if (argc < 0)
        return -EINVAL;
    size_t o = 0;
    for (int i = 0; i < argc && o < sizeof(shown) - 2; i++)
        o += (size_t)snprintf(shown + o, sizeof(shown) - o, "%s%s", i ? " " : "", argv[i]);
    const char *saved = env_value("RUNTIME_DIRECTORY");
    snprintf(keep, sizeof(keep), "%s", saved ? saved : "");
    dpdk_mp_rundir(cfg, prefix, cfgpath, sizeof(cfgpath));
    DM_INFO("dpdk", "secondary of demi-dpdk-primary (prefix %s, %s): EAL arguments: %s", prefix, cfgpath, shown);
    int rc = -ENOENT, err = 0;
    if (access(cfgpath, R_OK | W_OK) != 0) {
        err = errno;
        DM_ERR("dpdk", "DEMI_DPDK_PROC: no demi-dpdk-primary with prefix '%s' to attach to (%s: %s)%s", prefix,
               cfgpath, strerror(err),
               err == EACCES ? "; start the primary with DEMI_DPDK_MP_GROUP naming our user or group" : "");
        rc = err == EACCES ? -EACCES : -ENODEV;
    } else if (!rte_eal_primary_proc_alive(cfgpath)) {
        DM_ERR("dpdk", "DEMI_DPDK_PROC: the demi-dpdk-primary of prefix '%s' is not running (%s is left from "
                       "one that exited)", prefix, cfgpath);
        rc = -ENODEV;
    } else {
        rc = eal_init_quiet(argc, argv, &err);
        if (rc < 0) {
            DM_ERR("dpdk", "rte_eal_init as a secondary failed (%s): is demi-dpdk-primary (prefix %s) running, "
                           "and may uid %d use its files? (EAL arguments: %s)",
                   strerror(err), prefix, (int)getuid(), shown);
            rc = err > 0 ? -err : -EINVAL;
        }
    }
    if (saved)
        setenv("RUNTIME_DIRECTORY", keep, 1);
    else
        unsetenv("RUNTIME_DIRECTORY");
    if (rc < 0)
        return rc;
    eal_secondary = true;
    dm_internal_thread_check_register(eal_thread_is_intr);
    dpdk_gate_init();
    return 0;
}

/* DEMI_DPDK_PROC: own (0), secondary (1). auto: secondary when a primary
 * with our prefix holds its config file locked (rte_eal_primary_proc_alive). */
static int proc_mode(const struct dm_config *cfg, const char *user_prefix, char *prefix, size_t plen)
{
    int mode = 0;
    if (dm_cfg_enum(cfg, DM_CFG_DPDK_PROC, &mode) < 0)
        return -EINVAL;
    snprintf(prefix, plen, "%s", user_prefix && *user_prefix ? user_prefix : DPDK_MP_DEFAULT_PREFIX);
    if (mode == 1)
        return 0;
    if (mode == 2)
        return 1;
    char cfgpath[512];
    const char *saved = env_value("RUNTIME_DIRECTORY");
    char keep[512];
    snprintf(keep, sizeof(keep), "%s", saved ? saved : "");
    dpdk_mp_rundir(cfg, prefix, cfgpath, sizeof(cfgpath));
    if (saved)
        setenv("RUNTIME_DIRECTORY", keep, 1);
    else
        unsetenv("RUNTIME_DIRECTORY");
    return access(cfgpath, F_OK) == 0 && rte_eal_primary_proc_alive(cfgpath) ? 1 : 0;
}

static int eal_start(const struct dm_config *cfg)
{
    /* Kept for the life of the process: the EAL may keep pointers into argv. */
    static char user_buf[4096], final_buf[8192];
    static char *words[EAL_MAX_ARGS], *argv[EAL_MAX_ARGS + 16];
    char prefix[96], shown[2048];

    const char *p = dm_cfg_str(cfg, DM_CFG_DPDK_PREFIX);
    int secondary = proc_mode(cfg, p, prefix, sizeof(prefix));
    if (secondary < 0)
        return secondary;
    if (secondary)
        return eal_start_secondary(cfg, prefix);
    const char *args = dm_cfg_str(cfg, DM_CFG_DPDK_ARGS);
    if (!args || !*args) {
        DM_ERR("dpdk", "DEMI_DPDK_ARGS is not set: give the EAL arguments of the port to use, e.g. "
                       "DEMI_DPDK_ARGS='--vdev=net_memif0,role=server,socket=/tmp/demi.sock'");
        return -EINVAL;
    }
    int nw = dpdk_split_args(args, words, EAL_MAX_ARGS, user_buf, sizeof(user_buf));
    if (nw < 0) {
        DM_ERR("dpdk", "DEMI_DPDK_ARGS: %s", nw == -EINVAL ? "unterminated quote" : "too long");
        return -EINVAL;
    }
    int allow_pci;
    if (dm_cfg_bool(cfg, DM_CFG_DPDK_ALLOW_PCI, &allow_pci) < 0)
        return -EINVAL;
    if (p && *p)
        snprintf(prefix, sizeof(prefix), "%s", p);
    else
        snprintf(prefix, sizeof(prefix), "demi%d", (int)getpid());
    int huge_free = dpdk_hugepages_free();
    if ((nw = dpdk_own_memory_words(words, nw, EAL_MAX_ARGS, huge_free)) < 0) {
        DM_ERR("dpdk", "DEMI_DPDK_ARGS: too long");
        return -EINVAL;
    }
    int argc = dpdk_build_eal_argv(words, nw, allow_pci, prefix, huge_free, dm_log_level, argv,
                                   (int)DM_ARRAY_SIZE(argv), final_buf, sizeof(final_buf));
    if (argc < 0) {
        DM_ERR("dpdk", "DEMI_DPDK_ARGS: too many arguments");
        return -EINVAL;
    }
    size_t o = 0;
    for (int i = 0; i < argc && o < sizeof(shown) - 2; i++)
        o += (size_t)snprintf(shown + o, sizeof(shown) - o, "%s%s", i ? " " : "", argv[i]);
    DM_INFO("dpdk", "EAL arguments: %s", shown);

    int err, rc = eal_init_quiet(argc, argv, &err);
    if (rc < 0) {
        DM_ERR("dpdk", "rte_eal_init failed (%s): check DEMI_DPDK_ARGS (EAL arguments were: %s)",
               strerror(err), shown);
        return err > 0 ? -err : -EINVAL;
    }
    dm_internal_thread_check_register(eal_thread_is_intr);
    dpdk_gate_init();
    snprintf(eal_runtime_dir, sizeof(eal_runtime_dir), "%s", rte_eal_get_runtime_dir());
    if (!p || !*p)
        atexit(eal_remove_runtime_dir);
    return 0;
}

int dpdk_eal_init(const struct dm_config *cfg)
{
    pthread_mutex_lock(&eal_lock);
    if (eal_state == 1)
        eal_state = eal_start(cfg);
    else if (eal_state < 0)
        DM_ERR("dpdk", "the EAL failed to start earlier in this process (%s); fix DEMI_DPDK_ARGS and restart",
               strerror(-eal_state));
    int rc = eal_state;
    pthread_mutex_unlock(&eal_lock);
    return rc;
}
