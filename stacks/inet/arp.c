/* SPDX-License-Identifier: MIT */
/*
 * ARP (RFC 826) for IPv4 over Ethernet, and the neighbour cache that IPv6
 * neighbour discovery (icmp6.c) shares: a fixed open-addressed table
 * (ARP_TABLE_SIZE entries, linear probing on a hash of the address),
 * requests with retries, replies to requests for our address, and a short
 * queue of frames per unresolved entry that leave as soon as the reply
 * arrives. Entries learnt from the wire expire after arp_ttl_ns; static
 * entries (DEMI_ARP) never do. One periodic timer (100 ms) drives retries
 * and expiry (and IPv6's MLD reports, icmp6.c); it costs nothing when the
 * table is quiet.
 *
 * A queued frame already holds its IP header; only the Ethernet header is
 * missing, which eth_output_raw() adds when the entry resolves. An entry's
 * family (IPv4 is stored v4-mapped) picks ARP or a neighbour solicitation,
 * the counters (arp.* or nd.*) and the frame's ethertype.
 */
#include <string.h>
#include "inet_priv.h"
#include "dm/log.h"
#include "dm/time.h"

#define ARP_TICK_NS     (100 * DM_NS_PER_MS)
#define ARP_RETRY_NS    (200 * DM_NS_PER_MS)
#define ARP_MAX_RETRIES 3

static const uint8_t bcast[ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static struct arp_stats *arp_stats_of(struct inet_stack *st, const struct inet_addr *ip)
{
    return inet_addr_is_v4(ip) ? &st->arp_st : &st->nd_st;
}

static uint32_t arp_slot(const struct inet_addr *ip)
{
    uint32_t h = ntohl(ip->w[3] ^ ip->w[2] ^ ip->w[1] ^ ip->w[0]);
    h ^= h >> 16;
    h *= 0x45d9f3bu;
    h ^= h >> 16;
    return h & (ARP_TABLE_SIZE - 1);
}

struct arp_entry *arp_find(struct inet_stack *st, const struct inet_addr *ip)
{
    uint32_t i = arp_slot(ip);
    for (unsigned n = 0; n < ARP_TABLE_SIZE; n++, i = (i + 1) & (ARP_TABLE_SIZE - 1)) {
        struct arp_entry *e = &st->arp[i];
        if (inet_addr_eq(&e->ip, ip))
            return e;
        if (e->state == ARP_FREE && inet_addr_is_zero(&e->ip))
            return NULL;
    }
    return NULL;
}

/* Finds or creates the entry for ip; NULL when the table is full of
 * live entries (then an old dynamic entry is recycled). */
static struct arp_entry *arp_get(struct inet_stack *st, const struct inet_addr *ip)
{
    struct arp_entry *e = arp_find(st, ip);
    if (e)
        return e;
    uint32_t i = arp_slot(ip);
    for (unsigned n = 0; n < ARP_TABLE_SIZE; n++, i = (i + 1) & (ARP_TABLE_SIZE - 1)) {
        e = &st->arp[i];
        if (inet_addr_is_zero(&e->ip)) {
            memset(e, 0, sizeof(*e));
            e->ip = *ip;
            return e;
        }
    }
    /* Full: recycle the probe start if it is dynamic and resolved. */
    e = &st->arp[arp_slot(ip)];
    if (e->state != ARP_RESOLVED)
        return NULL;
    /* Moving an entry would break other probe chains; reuse in place by
     * giving this slot to the new address (its old address re-resolves). */
    memset(e, 0, sizeof(*e));
    e->ip = *ip;
    return e;
}

static void arp_send(struct inet_stack *st, uint16_t op, const uint8_t *tha, uint32_t tpa)
{
    struct dm_buf *m = dm_buf_alloc(st->inst);
    if (!m) {
        st->arp_st.nobuf++;
        return;
    }
    struct arp_hdr *a = (struct arp_hdr *)dm_buf_append(m, sizeof(*a));
    if (!a) {
        dm_buf_free(m);
        st->arp_st.nobuf++;
        return;
    }
    a->hrd = htons(ARP_HRD_ETHER);
    a->pro = htons(ETH_P_IPV4);
    a->hln = ETH_ALEN;
    a->pln = 4;
    a->op = htons(op);
    memcpy(a->sha, st->mac, ETH_ALEN);
    a->spa = st->ip;
    if (op == ARP_OP_REPLY)
        memcpy(a->tha, tha, ETH_ALEN);
    else
        memset(a->tha, 0, ETH_ALEN);
    a->tpa = tpa;
    if (op == ARP_OP_REQUEST)
        st->arp_st.tx_request++;
    else
        st->arp_st.tx_reply++;
    eth_output_raw(st, m, op == ARP_OP_REPLY ? tha : bcast, ETH_P_ARP);
}

/* Asks for ip's MAC: an ARP request or a neighbour solicitation. */
static void arp_solicit(struct inet_stack *st, const struct inet_addr *ip)
{
    if (inet_addr_is_v4(ip))
        arp_send(st, ARP_OP_REQUEST, NULL, ip->w[3]);
    else
        nd6_send_ns(st, ip);
    inet_schedule_flush(st);
}

static void arp_release_pending(struct arp_entry *e)
{
    for (unsigned i = 0; i < e->npending; i++)
        dm_buf_free(e->pending[i]);
    e->npending = 0;
}

void arp_update(struct inet_stack *st, const struct inet_addr *ip, const uint8_t *mac, bool create)
{
    struct arp_entry *e = create ? arp_get(st, ip) : arp_find(st, ip);
    if (!e || e->state == ARP_STATIC)
        return;
    memcpy(e->mac, mac, ETH_ALEN);
    bool was_pending = e->state == ARP_PENDING;
    e->state = ARP_RESOLVED;
    e->retries = 0;
    e->expires_ns = inet_now(st) + st->arp_ttl_ns;
    if (was_pending) {
        bool v4 = inet_addr_is_v4(ip);
        arp_stats_of(st, ip)->resolved++;
        for (unsigned i = 0; i < e->npending; i++)
            eth_output_raw(st, e->pending[i], e->mac, v4 ? ETH_P_IPV4 : ETH_P_IPV6);
        e->npending = 0;
        inet_schedule_flush(st);
    }
}

void arp_input(struct inet_stack *st, struct dm_buf *m)
{
    st->arp_st.rx++;
    if (m->len < sizeof(struct arp_hdr)) {
        st->arp_st.rx_bad++;
        dm_buf_free(m);
        return;
    }
    const struct arp_hdr *a = (const struct arp_hdr *)m->data;
    if (ntohs(a->hrd) != ARP_HRD_ETHER || ntohs(a->pro) != ETH_P_IPV4 || a->hln != ETH_ALEN ||
        a->pln != 4 || (a->sha[0] & 1) || a->spa == 0 || a->spa == 0xffffffffu) {
        st->arp_st.rx_bad++;
        dm_buf_free(m);
        return;
    }
    uint16_t op = ntohs(a->op);
    bool for_us = a->tpa == st->ip;
    /* RFC 826: update an existing entry from any packet; create one only
     * when the packet is addressed to us. */
    struct inet_addr spa = inet_addr_v4(a->spa);
    arp_update(st, &spa, a->sha, for_us);
    if (op == ARP_OP_REQUEST) {
        st->arp_st.rx_request++;
        if (for_us) {
            uint8_t sha[ETH_ALEN];
            uint32_t spa = a->spa;
            memcpy(sha, a->sha, ETH_ALEN);
            dm_buf_free(m);
            arp_send(st, ARP_OP_REPLY, sha, spa);
            inet_schedule_flush(st);
            return;
        }
    } else if (op == ARP_OP_REPLY) {
        st->arp_st.rx_reply++;
    } else {
        st->arp_st.rx_bad++;
    }
    dm_buf_free(m);
}

int arp_resolve(struct inet_stack *st, const struct inet_addr *ip, struct dm_buf *m, uint8_t *mac)
{
    struct arp_entry *e = arp_find(st, ip);
    if (dm_likely(e && e->state >= ARP_RESOLVED)) {
        memcpy(mac, e->mac, ETH_ALEN);
        return 1;
    }
    if (inet_is_ours(st, ip)) { /* to ourselves (loop device in self mode) */
        memcpy(mac, st->mac, ETH_ALEN);
        return 1;
    }
    if (inet_addr_is_v4(ip) && (ip->w[3] == 0xffffffffu || ip->w[3] == (st->ip | ~st->mask))) {
        memcpy(mac, bcast, ETH_ALEN);
        return 1;
    }
    if (inet_addr_is_mcast6(ip)) { /* RFC 2464 7: 33:33 and the group's low 32 bits */
        mac[0] = 0x33;
        mac[1] = 0x33;
        memcpy(mac + 2, &ip->b[12], 4);
        return 1;
    }
    struct arp_stats *as = arp_stats_of(st, ip);
    if (!e) {
        e = arp_get(st, ip);
        if (!e) {
            as->queue_drop++;
            dm_buf_free(m);
            return -ENOBUFS;
        }
    }
    if (e->state == ARP_FREE) {
        e->state = ARP_PENDING;
        e->retries = 0;
        e->expires_ns = inet_now(st) + ARP_RETRY_NS;
        arp_solicit(st, ip);
    }
    if (e->npending >= ARP_PENDING_MAX) {
        /* Keep the newest frames: drop the oldest (TCP retransmits it). */
        as->queue_drop++;
        dm_buf_free(e->pending[0]);
        memmove(&e->pending[0], &e->pending[1], (ARP_PENDING_MAX - 1) * sizeof(e->pending[0]));
        e->npending--;
    }
    e->pending[e->npending++] = m;
    return 0;
}

int arp_add_static(struct inet_stack *st, const struct inet_addr *ip, const uint8_t *mac)
{
    struct arp_entry *e = arp_get(st, ip);
    if (!e)
        return -ENOSPC;
    memcpy(e->mac, mac, ETH_ALEN);
    e->state = ARP_STATIC;
    return 0;
}

static void arp_tick(struct dm_timer *t)
{
    struct inet_stack *st = t->arg;
    int64_t now = inet_now(st);
    for (unsigned i = 0; i < ARP_TABLE_SIZE; i++) {
        struct arp_entry *e = &st->arp[i];
        if (e->state == ARP_PENDING && now >= e->expires_ns) {
            if (++e->retries > ARP_MAX_RETRIES) {
                arp_stats_of(st, &e->ip)->timeout++;
                arp_release_pending(e);
                /* Keep the slot (probe chains) but mark it unresolved. */
                e->state = ARP_FREE;
                continue;
            }
            e->expires_ns = now + ARP_RETRY_NS;
            arp_solicit(st, &e->ip);
        } else if (e->state == ARP_RESOLVED && now >= e->expires_ns) {
            /* Expired: the next packet re-resolves. */
            e->state = ARP_FREE;
        }
    }
    if (st->mld_left && now >= st->mld_next_ns)
        mld_tick(st, now);
    dm_timer_arm(st->inst, &st->arp_timer, ARP_TICK_NS);
}

void arp_init(struct inet_stack *st)
{
    dm_timer_init(&st->arp_timer, arp_tick, st);
    dm_timer_arm(st->inst, &st->arp_timer, ARP_TICK_NS);
}

void arp_fini(struct inet_stack *st)
{
    dm_timer_cancel(st->inst, &st->arp_timer);
    for (unsigned i = 0; i < ARP_TABLE_SIZE; i++)
        arp_release_pending(&st->arp[i]);
}
