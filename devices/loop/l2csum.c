/* SPDX-License-Identifier: MIT */
/*
 * Software checksum offload (see l2csum.h). The frame's headers are copied
 * out into a small local array to parse them (they may span segments); the
 * sums run over the chain in place, carrying an odd byte across segment
 * boundaries so any split of the payload gives the same result.
 */
#include "dm/l2csum.h"

#define ETH_HLEN      14u
#define ETH_P_IPV4    0x0800u
#define ETH_P_IPV6    0x86ddu
#define ETH_P_8021Q   0x8100u
#define IPPROTO_TCP_  6u
#define IPPROTO_UDP_  17u

struct l2csum_hdr {
    uint32_t l3off, ihl, l4off, l4len, proto;
    int v6;
    uint8_t ip[60];
};

uint64_t dm_l2csum_sum(const struct dm_buf *b, uint32_t off, uint32_t len, uint64_t sum)
{
    int have_odd = 0;   /* a high byte waiting for its partner */
    uint8_t odd = 0;

    for (; b && len; b = b->next) {
        if (off >= b->len) {
            off -= b->len;
            continue;
        }
        const uint8_t *p = b->data + off;
        uint32_t n = DM_MIN(b->len - off, len);
        off = 0;
        len -= n;
        if (have_odd && n) {
            sum += (uint32_t)(odd << 8 | p[0]);
            p++;
            n--;
            have_odd = 0;
        }
        for (; n > 1; p += 2, n -= 2)
            sum += dm_rd16(p);
        if (n) {
            odd = p[0];
            have_odd = 1;
        }
    }
    if (have_odd)
        sum += (uint32_t)odd << 8;
    return sum;
}

static uint64_t sum_flat(const uint8_t *p, uint32_t n)
{
    uint64_t s = 0;
    for (; n > 1; p += 2, n -= 2)
        s += dm_rd16(p);
    if (n)
        s += (uint32_t)p[0] << 8;
    return s;
}

/* Pointer to byte `off` of the chain, or NULL past its end. */
static uint8_t *byte_at(struct dm_buf *b, uint32_t off)
{
    for (; b; b = b->next) {
        if (off < b->len)
            return b->data + off;
        off -= b->len;
    }
    return NULL;
}

static void chain_wr16(struct dm_buf *pkt, uint32_t off, uint16_t v)
{
    uint8_t *hi = byte_at(pkt, off), *lo = byte_at(pkt, off + 1);
    if (hi && lo) {
        *hi = (uint8_t)(v >> 8);
        *lo = (uint8_t)v;
    }
}

/* Parses Ethernet (+ one VLAN tag) and IPv4, or IPv6 without extension
 * headers (what a device checksums: its next header is the transport); 0
 * when it is neither. l4len is bounded by both the IP length and the
 * frame. */
static int parse(const struct dm_buf *pkt, struct l2csum_hdr *h)
{
    uint8_t eth[ETH_HLEN + 4];
    uint32_t plen = pkt->pkt_len;

    if (dm_buf_copy_out(pkt, 0, eth, sizeof(eth)) < ETH_HLEN)
        return 0;
    h->l3off = ETH_HLEN;
    uint16_t type = dm_rd16(eth + 12);
    if (type == ETH_P_8021Q) {
        type = dm_rd16(eth + 16);
        h->l3off += 4;
    }
    h->v6 = type == ETH_P_IPV6;
    if (h->v6) {
        if (plen < h->l3off + 40 || dm_buf_copy_out(pkt, h->l3off, h->ip, 40) != 40 || (h->ip[0] >> 4) != 6)
            return 0;
        h->ihl = 40;
        h->proto = h->ip[6];
        h->l4off = h->l3off + 40;
        h->l4len = dm_rd16(h->ip + 4);
        return plen >= h->l4off + h->l4len;
    }
    if (type != ETH_P_IPV4 || plen < h->l3off + 20)
        return 0;
    if (dm_buf_copy_out(pkt, h->l3off, h->ip, 20) != 20 || (h->ip[0] >> 4) != 4)
        return 0;
    h->ihl = (h->ip[0] & 0xfu) * 4u;
    uint32_t tot = dm_rd16(h->ip + 2);
    if (h->ihl < 20 || tot < h->ihl || plen < h->l3off + tot)
        return 0;
    if (h->ihl > 20 && dm_buf_copy_out(pkt, h->l3off + 20, h->ip + 20, h->ihl - 20) != h->ihl - 20)
        return 0;
    h->proto = h->ip[9];
    h->l4off = h->l3off + h->ihl;
    h->l4len = tot - h->ihl;
    return 1;
}

static int is_fragment(const struct l2csum_hdr *h)
{
    /* IPv4: MF set or offset != 0; an IPv6 fragment has a next header of
     * its own (44), not TCP or UDP, and is left alone below */
    return !h->v6 && (dm_rd16(h->ip + 6) & 0x3fffu) != 0;
}

static uint64_t pseudo_sum(const struct l2csum_hdr *h)
{
    uint64_t s = 0;
    uint32_t from = h->v6 ? 8 : 12, to = h->v6 ? 40 : 20; /* the addresses */
    for (uint32_t i = from; i < to; i += 2)
        s += dm_rd16(h->ip + i);
    return s + h->proto + (h->l4len >> 16) + (h->l4len & 0xffff);
}

void dm_l2csum_tx_fill(struct dm_buf *pkt)
{
    struct l2csum_hdr h;
    uint32_t req = pkt->ol_flags & DM_L2CSUM_TX_MASK;

    if (!req)
        return;
    pkt->ol_flags &= ~DM_L2CSUM_TX_MASK;
    if (!parse(pkt, &h))
        return;
    if ((req & DM_BUF_TX_IP_CKSUM) && !h.v6) {
        h.ip[10] = h.ip[11] = 0;
        uint16_t c = (uint16_t)~dm_l2csum_fold(sum_flat(h.ip, h.ihl));
        chain_wr16(pkt, h.l3off + 10, c);
    }
    if ((req & DM_BUF_TX_TCP_CKSUM) && h.proto == IPPROTO_TCP_ && h.l4len >= 20) {
        /* the field holds the preloaded pseudo-header sum: sum over it */
        uint16_t c = (uint16_t)~dm_l2csum_fold(dm_l2csum_sum(pkt, h.l4off, h.l4len, 0));
        chain_wr16(pkt, h.l4off + 16, c);
    } else if ((req & DM_BUF_TX_UDP_CKSUM) && h.proto == IPPROTO_UDP_ && h.l4len >= 8) {
        uint16_t c = (uint16_t)~dm_l2csum_fold(dm_l2csum_sum(pkt, h.l4off, h.l4len, 0));
        chain_wr16(pkt, h.l4off + 6, c ? c : 0xffff); /* 0 means "no checksum" in UDP */
    }
}

static int seg_shared_at(const struct dm_buf *b, uint32_t off)
{
    for (; b; b = b->next) {
        if (off < b->len)
            return b->refcnt > 1 || b->shared != NULL;
        off -= b->len;
    }
    return 0;
}

int dm_l2csum_tx_shared(const struct dm_buf *pkt)
{
    struct l2csum_hdr h;
    uint32_t req = pkt->ol_flags & DM_L2CSUM_TX_MASK;
    if (!req || !parse(pkt, &h))
        return 0;
    if ((req & DM_BUF_TX_IP_CKSUM) && !h.v6 &&
        (seg_shared_at(pkt, h.l3off + 10) || seg_shared_at(pkt, h.l3off + 11)))
        return 1;
    uint32_t f = (req & DM_BUF_TX_TCP_CKSUM) && h.proto == IPPROTO_TCP_ ? h.l4off + 16
               : (req & DM_BUF_TX_UDP_CKSUM) && h.proto == IPPROTO_UDP_ ? h.l4off + 6 : 0;
    return f && (seg_shared_at(pkt, f) || seg_shared_at(pkt, f + 1));
}

uint32_t dm_l2csum_rx_flags(const struct dm_buf *pkt)
{
    struct l2csum_hdr h;
    uint32_t fl;

    if (!parse(pkt, &h))
        return 0;
    if (h.v6)
        fl = 0; /* IPv6 has no header checksum */
    else
        fl = dm_l2csum_fold(sum_flat(h.ip, h.ihl)) == 0xffff ? DM_BUF_RX_IP_CKSUM_GOOD : DM_BUF_RX_IP_CKSUM_BAD;
    if (is_fragment(&h))
        return fl;
    if (h.proto == IPPROTO_TCP_ && h.l4len >= 20) {
        uint64_t s = dm_l2csum_sum(pkt, h.l4off, h.l4len, pseudo_sum(&h));
        fl |= dm_l2csum_fold(s) == 0xffff ? DM_BUF_RX_L4_CKSUM_GOOD : DM_BUF_RX_L4_CKSUM_BAD;
    } else if (h.proto == IPPROTO_UDP_ && h.l4len >= 8) {
        uint8_t f[2];
        dm_buf_copy_out(pkt, h.l4off + 6, f, 2);
        if (dm_rd16(f) == 0) {
            fl |= DM_BUF_RX_L4_CKSUM_GOOD; /* sender chose no checksum */
        } else {
            uint64_t s = dm_l2csum_sum(pkt, h.l4off, h.l4len, pseudo_sum(&h));
            fl |= dm_l2csum_fold(s) == 0xffff ? DM_BUF_RX_L4_CKSUM_GOOD : DM_BUF_RX_L4_CKSUM_BAD;
        }
    }
    return fl;
}
