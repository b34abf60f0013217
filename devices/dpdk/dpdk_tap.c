/* SPDX-License-Identifier: MIT */
/*
 * The tap PMD's signal per received frame, turned off.
 *
 * DPDK 22.11's net_tap, in the process that creates a queue's fd, installs
 * a handler on a free real-time signal and asks the kernel for that signal
 * on every frame queued to the fd (O_ASYNC, F_SETSIG, F_SETOWN). The
 * handler bumps a counter; a burst that sees it unchanged returns 0 without
 * a readv. So every received frame costs a signal: its delivery interrupts
 * whatever the process is running, and it ends in an rt_sigreturn. Worse,
 * demi-dpdk-primary makes the fds of every queue and never receives, so it
 * took a signal for every frame of every secondary (nginx over a shared tap
 * port: the primary's threads 44% of the workers' CPU). And when the
 * signal queue is full the kernel sends SIGIO instead, whose default
 * action ends the process.
 *
 * We clear O_ASYNC on those fds once the port has started. A process that
 * receives calls the handler itself before each burst (dpdk_tap_kick), so
 * each burst reads until EAGAIN, as a secondary's always has (the handler
 * is not installed there: its counter stays 0, which the PMD reads as "no
 * trigger"). One readv that finds nothing costs less than a signal per
 * frame, and a busy queue rarely finds nothing.
 *
 * The handler is found by where it lives (librte_net_tap), the fds by their
 * owner and signal; anything else is left as the PMD set it.
 *
 * Sleeping. A queue's fd is readable while the kernel holds frames for
 * it, so a process with nothing to do can sleep on it instead of spinning
 * (as DPDK's l3fwd-power sleeps on a NIC's RX interrupt): an idle nginx
 * worker, or one that shares its CPU with others, gives the CPU back.
 * DPDK's way to that fd is the port's RX interrupt vector (intr_conf.rxq,
 * which we set on tap ports): rte_eth_dev_rx_intr_ctl_q_get_fd. A
 * secondary has no vector (the PMD makes it at dev_start, in the
 * primary), so it asks the primary for the fds over DPDK's IPC, as the PMD
 * gets its own queue fds there. The wait fd is an epoll set of our queue's
 * fd, those of the free queues we poll too (dpdk_mp.c adopts them), and
 * the socket the other processes wake us with when they put a frame in
 * our ring (dpdk_mp_wake_open).
 */
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/epoll.h>

#include <rte_eal.h>
#include <rte_ethdev.h>

#include "dm/log.h"
#include "dpdk_priv.h"

/* The real-time signal whose handler is the tap PMD's, or -1. */
static int tap_signal(void (**handler)(int))
{
    for (int s = SIGRTMIN; s <= SIGRTMAX; s++) {
        struct sigaction sa;
        Dl_info dl;
        if (sigaction(s, NULL, &sa) < 0 || (sa.sa_flags & SA_SIGINFO) || sa.sa_handler == SIG_DFL ||
            sa.sa_handler == SIG_IGN)
            continue;
        if (dladdr((void *)sa.sa_handler, &dl) && dl.dli_fname && strstr(dl.dli_fname, "rte_net_tap")) {
            *handler = sa.sa_handler;
            return s;
        }
    }
    return -1;
}

int dpdk_tap_signals_off(struct dpdk_tap_kick *k)
{
    void (*handler)(int) = NULL;
    int signo = tap_signal(&handler);
    k->fn = NULL;
    if (signo < 0) {
        /* another DPDK's tap, or a static one: left as the PMD set it */
        DM_WARN("dpdk", "tap: the PMD's receive signal not found: each received frame still signals its fd's owner");
        return 0;
    }
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    int n = 0, ours = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[64], link[64];
        int fd = atoi(e->d_name);
        if (e->d_name[0] == '.' || fd == dirfd(d))
            continue;
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        ssize_t len = readlink(path, link, sizeof(link) - 1);
        if (len <= 0)
            continue;
        link[len] = '\0';
        if (strcmp(link, "/dev/net/tun") != 0 || fcntl(fd, F_GETSIG) != signo || fcntl(fd, F_GETOWN) != getpid())
            continue;
        ours++;
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0 && (fl & O_ASYNC) && fcntl(fd, F_SETFL, fl & ~O_ASYNC) == 0)
            n++;
    }
    closedir(d);
    /* the trigger is one per process: every tap port here kicks it, a
     * second port's fds having been changed with the first's */
    if (ours > 0) {
        k->fn = handler;
        k->signo = signo;
    }
    DM_INFO("dpdk", "tap: %d queue fds no longer signal us per frame (signal %d)", n, signo);
    return n;
}

/* ---- the queue fds, for sleeping ---- */

#define TAP_FDS_ACTION "dm_tap_rx_fds"

struct tap_fds_req {
    uint16_t port;
    uint16_t nq;
};

/* In the primary's IPC thread: every queue's fd, or none. */
static int tap_fds_answer(const struct rte_mp_msg *msg, const void *peer)
{
    struct rte_mp_msg reply;
    struct tap_fds_req req;
    memset(&reply, 0, sizeof(reply));
    snprintf(reply.name, sizeof(reply.name), "%s", TAP_FDS_ACTION);
    if (msg->len_param == (int)sizeof(req)) {
        memcpy(&req, msg->param, sizeof(req));
        for (uint16_t q = 0; q < req.nq && q < RTE_MP_MAX_FD_NUM; q++) {
            int fd = rte_eth_dev_rx_intr_ctl_q_get_fd(req.port, q);
            if (fd < 0) {
                reply.num_fds = 0;
                break;
            }
            reply.fds[reply.num_fds++] = fd;
        }
    }
    return rte_mp_reply(&reply, peer);
}

int dpdk_tap_fds_serve(void)
{
    if (rte_mp_action_register(TAP_FDS_ACTION, tap_fds_answer) < 0 && rte_errno != EEXIST) {
        DM_WARN("dpdk", "tap: cannot answer the secondaries' requests for queue fds (%s): they busy-poll",
                rte_strerror(rte_errno));
        return -rte_errno;
    }
    return 0;
}

/* A secondary's copies of the queue fds (received as new fds), 0 or -errno. */
static int tap_fds_ask(struct dpdk_dev *d, uint16_t nq)
{
    struct rte_mp_msg req;
    struct rte_mp_reply rep;
    struct timespec ts = { 1, 0 };
    struct tap_fds_req r = { .port = d->port, .nq = nq };
    memset(&req, 0, sizeof(req));
    memset(&rep, 0, sizeof(rep));
    snprintf(req.name, sizeof(req.name), "%s", TAP_FDS_ACTION);
    req.len_param = sizeof(r);
    memcpy(req.param, &r, sizeof(r));
    if (rte_mp_request_sync(&req, &rep, &ts) < 0)
        return -(rte_errno ? rte_errno : EIO);
    int rc = -ENOENT;
    if (rep.nb_received == 1 && rep.msgs[0].num_fds == nq) {
        for (uint16_t q = 0; q < nq; q++)
            d->q_fd[q] = rep.msgs[0].fds[q];
        rc = 0;
    } else {
        for (int i = 0; i < rep.nb_received; i++)
            for (int k = 0; k < rep.msgs[i].num_fds; k++)
                close(rep.msgs[i].fds[k]);
    }
    free(rep.msgs);
    return rc;
}

static int wait_add(struct dpdk_dev *d, int fd)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
    return epoll_ctl(d->wait_fd, EPOLL_CTL_ADD, fd, &ev);
}

void dpdk_tap_wait_open(struct dpdk_dev *d)
{
    uint16_t nq = d->secondary ? d->shm->nb_queues : 1;
    int rc = 0;
    if (d->secondary) {
        if (nq > RTE_MP_MAX_FD_NUM || (rc = tap_fds_ask(d, nq)) < 0) {
            DM_WARN("dpdk", "port %u queue %u: the primary gave no queue fds (%s): this process busy-polls",
                    d->port, d->queue, strerror(rc < 0 ? -rc : E2BIG));
            return;
        }
    } else if ((d->q_fd[d->queue] = rte_eth_dev_rx_intr_ctl_q_get_fd(d->port, d->queue)) < 0) {
        d->q_fd[d->queue] = -1;
        DM_WARN("dpdk", "port %u: no RX interrupt fd for queue %u: this process busy-polls", d->port, d->queue);
        return;
    }
    d->wait_fd = epoll_create1(EPOLL_CLOEXEC);
    if (d->wait_fd < 0 || wait_add(d, d->q_fd[d->queue]) < 0 || (d->wake.fd >= 0 && wait_add(d, d->wake.fd) < 0)) {
        DM_WARN("dpdk", "port %u queue %u: cannot make the wait set (%s): this process busy-polls", d->port,
                d->queue, strerror(errno));
        dpdk_tap_wait_close(d);
        return;
    }
    d->wait_adopted = 0;
    dpdk_tap_wait_sync(d);
    DM_INFO("dpdk", "port %u queue %u: sleeps on its queue's fd when idle (DEMI_SPIN_US)", d->port, d->queue);
}

void dpdk_tap_wait_close(struct dpdk_dev *d)
{
    if (d->wait_fd >= 0)
        close(d->wait_fd);
    d->wait_fd = -1;
    for (unsigned q = 0; q < sizeof(d->q_fd) / sizeof(d->q_fd[0]); q++) {
        if (d->secondary && d->q_fd[q] >= 0)
            close(d->q_fd[q]); /* our copies; a port of our own keeps its PMD's */
        d->q_fd[q] = -1;
    }
    d->wait_adopted = 0;
}

void dpdk_tap_wait_sync(struct dpdk_dev *d)
{
    if (d->wait_fd < 0)
        return;
    for (uint32_t diff = d->adopted ^ d->wait_adopted; diff; diff &= diff - 1) {
        unsigned q = (unsigned)__builtin_ctz(diff);
        int fd = d->q_fd[q];
        if (fd < 0)
            continue;
        if (d->adopted & (1u << q))
            (void)wait_add(d, fd);
        else
            (void)epoll_ctl(d->wait_fd, EPOLL_CTL_DEL, fd, NULL);
    }
    d->wait_adopted = d->adopted;
}
