/* SPDX-License-Identifier: MIT */
/*
 * Software TCP segmentation offload (see l2tso.h): what a NIC does with a
 * frame marked DM_BUF_TX_TCP_SEG, written out so that the stack's TSO path
 * runs against a real segmenter in the tests (loop, fault), with every
 * piece checked by the receiving stack as any other segment.
 */
#include <errno.h>
#include <string.h>
#include "dm/l2tso.h"
#include "dm/l2copy.h"
#include "dm/l2csum.h"

#define TCP_FIN 0x01u
#define TCP_PSH 0x08u
#define TCP_CWR 0x80u
#define TSO_HDR_MAX 192u

uint32_t dm_l2tso_hlen(const struct dm_buf *pkt, int *v6)
{
    uint32_t hl = (uint32_t)pkt->l2_len + pkt->l3_len + pkt->l4_len;
    if (!(pkt->ol_flags & DM_BUF_TX_TCP_SEG) || !pkt->tso_segsz || pkt->l4_len < 20 || hl > TSO_HDR_MAX ||
        hl > pkt->len || pkt->l2_len < 14)
        return 0;
    uint8_t ver = pkt->data[pkt->l2_len] >> 4;
    if (ver == 4 && pkt->l3_len >= 20 && pkt->data[pkt->l2_len + 9] == 6)
        *v6 = 0;
    else if (ver == 6 && pkt->l3_len == 40 && pkt->data[pkt->l2_len + 6] == 6)
        *v6 = 1;
    else
        return 0;
    return hl;
}

unsigned dm_l2tso_count(const struct dm_buf *pkt)
{
    int v6;
    uint32_t hl = dm_l2tso_hlen(pkt, &v6);
    if (!hl || pkt->pkt_len <= hl)
        return 1;
    return (pkt->pkt_len - hl + pkt->tso_segsz - 1u) / pkt->tso_segsz;
}

/* Slices of pkt's bytes [off, off + len) chained after h. */
static int tso_attach(struct dm_instance *inst, struct dm_buf *h, const struct dm_buf *pkt, uint32_t off, uint32_t len)
{
    const struct dm_buf *s = pkt;
    while (s && off >= s->len) {
        off -= s->len;
        s = s->next;
    }
    for (; s && len; s = s->next, off = 0) {
        uint32_t n = DM_MIN(s->len - off, len);
        if (!n)
            continue;
        struct dm_buf *sl = dm_buf_slice(inst, (struct dm_buf *)s, off, n);
        if (!sl)
            return -ENOBUFS;
        dm_buf_chain(h, sl);
        len -= n;
    }
    return len ? -EINVAL : 0;
}

int dm_l2tso_segment(struct dm_instance *inst, struct dm_buf *pkt, struct dm_buf **out, unsigned max)
{
    int v6 = 0;
    uint32_t hl = dm_l2tso_hlen(pkt, &v6);
    if (!hl || pkt->pkt_len <= hl)
        return -EINVAL;
    uint32_t seg = pkt->tso_segsz, payload = pkt->pkt_len - hl;
    unsigned n = (payload + seg - 1u) / seg;
    if (n > max)
        return -EINVAL;
    const uint8_t *hdr = pkt->data;
    uint32_t l3 = pkt->l2_len, l4 = l3 + pkt->l3_len;
    uint32_t seq0 = dm_rd32(hdr + l4 + 4);
    uint16_t id0 = v6 ? 0 : dm_rd16(hdr + l3 + 4);
    uint8_t flags = hdr[l4 + 13];
    /* the stack preloaded the pseudo-header sum without its length (the
     * contract a NIC holds it to): each piece adds its own */
    uint64_t ps = dm_rd16(hdr + l4 + 16);
    for (unsigned i = 0; i < n; i++) {
        uint32_t plen = DM_MIN(seg, payload - i * seg);
        struct dm_buf *h = dm_buf_alloc(inst);
        uint8_t *p = h ? dm_buf_append(h, hl) : NULL;
        if (!p || tso_attach(inst, h, pkt, hl + i * seg, plen) < 0) {
            dm_buf_free(h);
            for (unsigned j = 0; j < i; j++)
                dm_buf_free(out[j]);
            return -ENOBUFS;
        }
        memcpy(p, hdr, hl);
        uint32_t l4len = pkt->l4_len + plen;
        if (v6) {
            dm_wr16(p + l3 + 4, (uint16_t)l4len);
        } else {
            dm_wr16(p + l3 + 2, (uint16_t)(pkt->l3_len + l4len));
            dm_wr16(p + l3 + 4, (uint16_t)(id0 + i));
            dm_wr16(p + l3 + 10, 0);
        }
        dm_wr32(p + l4 + 4, seq0 + i * seg);
        uint8_t f = flags;
        if (i + 1 < n)
            f &= (uint8_t)~(TCP_FIN | TCP_PSH);
        if (i > 0)
            f &= (uint8_t)~TCP_CWR;
        p[l4 + 13] = f;
        dm_wr16(p + l4 + 16, dm_l2csum_fold(ps + l4len));
        h->l2_len = pkt->l2_len;
        h->l3_len = pkt->l3_len;
        h->l4_len = pkt->l4_len;
        h->ol_flags = DM_BUF_TX_TCP_CKSUM | (v6 ? 0 : DM_BUF_TX_IP_CKSUM);
        out[i] = h;
    }
    dm_buf_free(pkt);
    return (int)n;
}

/* ---- cutting in a device's own copy ---- */

/* The word at p as dm_l2csum_words adds it (host order of the bytes). */
static inline uint64_t word_at(const uint8_t *p)
{
    uint16_t w;
    memcpy(&w, p, 2);
    return w;
}

/* A value written big-endian (dm_wr16), as dm_l2csum_words would add it. */
static inline uint64_t be_word(uint16_t v)
{
    uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
    return word_at(b);
}

int dm_l2tso_cut_init(struct dm_l2tso_cut *c, const struct dm_buf *p)
{
    uint32_t hl = dm_l2tso_hlen(p, &c->v6);
    if (!hl || p->pkt_len <= hl)
        return -EINVAL;
    const uint8_t *hdr = p->data;
    c->pkt = p;
    c->hl = hl;
    c->l3 = p->l2_len;
    c->l4 = c->l3 + p->l3_len;
    c->seg = p->tso_segsz;
    c->payload = p->pkt_len - hl;
    c->n = (c->payload + c->seg - 1) / c->seg;
    c->seq0 = dm_rd32(hdr + c->l4 + 4);
    c->id0 = c->v6 ? 0 : dm_rd16(hdr + c->l3 + 4);
    c->flags = hdr[c->l4 + 13];
    c->doff = hdr[c->l4 + 12];
    c->ps = dm_rd16(hdr + c->l4 + 16); /* pseudo-header sum without the length (DPDK's contract) */
    /* the headers' sums less the words each piece changes */
    c->ip_base = c->v6 ? 0
                       : dm_l2csum_words(hdr + c->l3, p->l3_len) - word_at(hdr + c->l3 + 2) - word_at(hdr + c->l3 + 4) -
                             word_at(hdr + c->l3 + 10);
    c->tcp_base = dm_l2csum_words(hdr + c->l4, p->l4_len) - word_at(hdr + c->l4 + 4) - word_at(hdr + c->l4 + 6) -
                  word_at(hdr + c->l4 + 12) - word_at(hdr + c->l4 + 16);
    return 0;
}

uint32_t dm_l2tso_cut_piece(const struct dm_l2tso_cut *c, uint32_t i, uint8_t *dst)
{
    const struct dm_buf *p = c->pkt;
    uint32_t plen = c->payload - i * c->seg < c->seg ? c->payload - i * c->seg : c->seg;
    uint32_t l3 = c->l3, l4 = c->l4, l4len = p->l4_len + plen;
    memcpy(dst, p->data, c->hl);
    if (c->v6) {
        dm_wr16(dst + l3 + 4, (uint16_t)l4len);
    } else {
        uint16_t tot = (uint16_t)(p->l3_len + l4len), id = (uint16_t)(c->id0 + i);
        dm_wr16(dst + l3 + 2, tot);
        dm_wr16(dst + l3 + 4, id);
        uint16_t ck = (uint16_t)~dm_l2csum_fold(c->ip_base + be_word(tot) + be_word(id));
        memcpy(dst + l3 + 10, &ck, 2);
    }
    uint32_t seq = c->seq0 + i * c->seg;
    dm_wr32(dst + l4 + 4, seq);
    uint8_t f = c->flags;
    if (i + 1 < c->n)
        f &= (uint8_t)~(TCP_FIN | TCP_PSH); /* the last piece only */
    if (i > 0)
        f &= (uint8_t)~TCP_CWR;             /* the first only */
    dst[l4 + 13] = f;
    uint8_t doff_flags[2] = { c->doff, f };
    uint64_t sum = c->tcp_base + be_word((uint16_t)(seq >> 16)) + be_word((uint16_t)seq) + word_at(doff_flags) +
                   be_word(dm_l2csum_fold(c->ps + l4len)) + dm_l2copy_sum(dst + c->hl, p, c->hl + i * c->seg, plen);
    uint16_t ck = (uint16_t)~dm_l2csum_fold(sum);
    memcpy(dst + l4 + 16, &ck, 2);
    return c->hl + plen;
}
