/* SPDX-License-Identifier: MIT */
/*
 * Closing a socket whose data is still queued in the datapath. Linux's
 * close() returns at once and the kernel goes on sending what write()
 * accepted, then the FIN; our backends cancel what is queued when a queue
 * closes. So the last close of such a socket leaves it lingering: off the
 * fd table (the placeholder and its fd number are gone at once), its
 * watches and received data dropped, but still in its instance's qd map,
 * so the completions of its pushes keep being dispatched wherever that
 * instance is driven (any later call or wait, the progress helper, the
 * drain at exit or exec). When the last push is in, its queue closes and
 * the FIN follows the data. Nobody waits for it.
 *
 * SO_LINGER as Linux (inet_release: whatever O_NONBLOCK says): l_linger 0
 * closes at once (the backend cancels what is queued and its kernel
 * socket, which has the option too, resets); l_linger > 0 makes close()
 * wait up to that long for the data to leave, then lingers as above.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include "dm/instance.h"
#include "dm/log.h"
#include "dm/time.h"
#include "shim/shim.h"

/* The SO_LINGER the application set on s (recorded for the hand-over). */
static bool sock_linger(const struct shim_sock *s, struct linger *out)
{
    for (int i = 0; i < s->nopts; i++) {
        const struct shim_opt *o = &s->opts[i];
        if (o->level == SOL_SOCKET && o->name == SO_LINGER && o->len >= sizeof(*out)) {
            memcpy(out, o->val, sizeof(*out));
            return out->l_onoff != 0;
        }
    }
    return false;
}

/* The backend's own kernel socket got SO_LINGER too: once we waited
 * here, its close must wait at most what is left (0: not at all, the
 * kernel sends the rest in the background). */
static void backend_linger(struct shim_sock *s, int64_t left_ns)
{
    struct linger lg = { 0, 0 };
    if (left_ns > 0) {
        lg.l_onoff = 1;
        lg.l_linger = (int)((left_ns + DM_NS_PER_S - 1) / DM_NS_PER_S);
    }
    (void)dm_setsockopt(shim_dp_inst(s->dp), s->qd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

void shim_linger_wait(struct shim_sock *s)
{
    struct linger lg;
    if (!sock_linger(s, &lg) || lg.l_linger <= 0 || !s->tx_count || shim_sock_close_resets(s))
        return; /* (a reset does not wait: Linux's tcp_close) */
    int64_t start = dm_clock_ns(), deadline = start + (int64_t)lg.l_linger * DM_NS_PER_S;
    shim_focus(s->dp);
    while (s->tx_count) {
        shim_progress();
        if (!s->tx_count || shim_block(start, deadline) == -ETIMEDOUT)
            break;
    }
    backend_linger(s, s->tx_count ? 0 : deadline - dm_clock_ns());
}

bool shim_linger_take(struct shim_sock *s)
{
    struct linger lg;
    bool set = sock_linger(s, &lg);
    if (set && lg.l_linger == 0)
        return false; /* a reset: drop it all */
    if (set)
        backend_linger(s, 0);
    shim_watch_drop_all(s);
    shim_sock_rx_drop(s);
    s->closed = true;
    shim_leaf_lock(&shim_rt.linger_lock);
    s->lnext = shim_rt.lingering;
    shim_rt.lingering = s;
    shim_leaf_unlock(&shim_rt.linger_lock);
    DM_DEBUG("shim", "qd %d: closed with %u sends in flight; they go on in the background", s->qd, s->tx_count);
    return true;
}

void shim_linger_check(struct shim_sock *s)
{
    if (dm_likely(!s->closed) || s->tx_count)
        return;
    /* (under s's instance lock only, from a completion: nobody else can
     * reach s, which is off the fd table and has no watches) */
    shim_leaf_lock(&shim_rt.linger_lock);
    for (struct shim_sock **pp = &shim_rt.lingering; *pp; pp = &(*pp)->lnext) {
        if (*pp == s) {
            *pp = s->lnext;
            break;
        }
    }
    shim_leaf_unlock(&shim_rt.linger_lock);
    shim_sock_free(s);
}

struct shim_dp *shim_linger_dp(void)
{
    struct shim_dp *dp = NULL;
    shim_leaf_lock(&shim_rt.linger_lock);
    for (struct shim_sock *s = shim_rt.lingering; s && !dp; s = s->lnext)
        if (shim_dp_live(s->dp))
            dp = s->dp;
    shim_leaf_unlock(&shim_rt.linger_lock);
    return dp;
}
