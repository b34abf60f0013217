/* SPDX-License-Identifier: MIT */
/*
 * The copy that completes a TCP/UDP checksum on the way (devices/loop/
 * l2copy.c, used on memif through DPDK and by our memif device) against the software offload
 * model (dm/l2csum.h): the same IPv4 and IPv6 frames, split into chains
 * at every kind of place (odd lengths, inside the headers, one byte long),
 * must come out
 * byte for byte as the model fills them, and verify as good.
 */
#include <stdlib.h>
#include "devtest.h"
#include "dm/l2csum.h"
#include "dm/l2copy.h"
#include "dm/l2tso.h"

#define MAXF 2048

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v; }

/* An Ethernet + IPv4 (or IPv6) + TCP (or UDP) frame of len bytes with
 * random payload, the L4 checksum field holding the folded pseudo-header
 * sum. */
static void make_frame(uint8_t *f, uint32_t len, int udp, int v6)
{
    for (uint32_t i = 0; i < len; i++)
        f[i] = (uint8_t)(rand() % 3 ? 0xff : rand());
    uint8_t *ip = f + 14;
    uint32_t l3 = v6 ? 40 : 20, l4len = len - 14 - l3;
    uint64_t ps = (uint64_t)(udp ? 17 : 6) + l4len;
    if (v6) {
        wr16(f + 12, 0x86dd);
        ip[0] = 0x60;
        wr16(ip + 4, (uint16_t)l4len);
        ip[6] = udp ? 17 : 6;
        for (int i = 8; i < 40; i += 2)
            ps += rd16(ip + i);
    } else {
        wr16(f + 12, 0x0800);
        ip[0] = 0x45;
        wr16(ip + 2, (uint16_t)(len - 14));
        ip[6] = ip[7] = 0; /* not a fragment */
        ip[9] = udp ? 17 : 6;
        ps += (uint64_t)rd16(ip + 12) + rd16(ip + 14) + rd16(ip + 16) + rd16(ip + 18);
    }
    uint8_t *l4 = ip + l3;
    if (udp)
        wr16(l4 + 4, (uint16_t)l4len);
    else
        l4[12] = 0x50; /* data offset: 20 bytes */
    wr16(l4 + (udp ? 6 : 16), dm_l2csum_fold(ps));
}

/* Splits the frame into a chain at the given cut points. */
static struct dm_buf *chain_of(struct dm_buf *segs, uint8_t *f, uint32_t len, const uint32_t *cuts, int ncuts,
                               uint32_t ol, uint8_t l3_len)
{
    memset(segs, 0, sizeof(segs[0]) * (size_t)(ncuts + 1));
    uint32_t at = 0;
    for (int i = 0; i <= ncuts; i++) {
        uint32_t end = i < ncuts ? cuts[i] : len;
        segs[i].data = f + at;
        segs[i].len = end - at;
        segs[i].next = i < ncuts ? &segs[i + 1] : NULL;
        at = end;
    }
    segs[0].pkt_len = len;
    segs[0].nb_segs = (uint16_t)(ncuts + 1);
    segs[0].ol_flags = ol;
    segs[0].l2_len = 14;
    segs[0].l3_len = l3_len;
    return &segs[0];
}

/* kind: bit 0 UDP (else TCP), bit 1 IPv6 (else IPv4; also for a frame
 * too short for IPv6 and TCP) */
static void check(uint32_t len, int kind, const uint32_t *cuts, int ncuts)
{
    if (len < 74)
        kind &= 1;
    static uint8_t f[MAXF], model[MAXF], out[MAXF];
    struct dm_buf segs[8], flat;
    int udp = kind & 1, v6 = (kind >> 1) & 1;
    uint8_t l3 = v6 ? 40 : 20;
    uint32_t ol = udp ? DM_BUF_TX_UDP_CKSUM : DM_BUF_TX_TCP_CKSUM, at = 14u + l3 + (udp ? 6 : 16);
    make_frame(f, len, udp, v6);
    memcpy(model, f, len);
    chain_of(&flat, model, len, NULL, 0, ol, l3);
    dm_l2csum_tx_fill(&flat);
    struct dm_buf *c = chain_of(segs, f, len, cuts, ncuts, ol, l3);
    memset(out, 0xa5, sizeof(out));
    dm_l2copy_l4_cksum(out, c, ol);
    if (memcmp(out, model, len) != 0)
        fail_msg("%s/%s frame of %u B in %d pieces: copy differs from the model (checksum %#x, model %#x)",
                 udp ? "UDP" : "TCP", v6 ? "IPv6" : "IPv4", len, ncuts + 1, rd16(out + at), rd16(model + at));
    assert_int_equal(out[len], 0xa5); /* nothing written past the frame */
    chain_of(&flat, out, len, NULL, 0, 0, l3);
    assert_true(dm_l2csum_rx_flags(&flat) & DM_BUF_RX_L4_CKSUM_GOOD);
}

static void test_copy_checksum_of_one_piece_matches_the_model_at_every_length(void **st)
{
    (void)st;
    for (int avx2 = 0; avx2 <= 1; avx2++) {
        dm_l2copy_simd(avx2);
        srand(3);
        for (uint32_t len = 54; len <= 1514; len++) {
            check(len, 0, NULL, 0);
            check(len, 1, NULL, 0);
            if (len >= 74) { /* IPv6 */
                check(len, 2, NULL, 0);
                check(len, 3, NULL, 0);
            }
        }
    }
}

static void chains_split_anywhere(void)
{
    srand(5);
    /* header buffer + payload slices as the stack sends them, odd pieces,
     * one-byte pieces, a cut inside the IP header and one inside TCP's */
    static const uint32_t fixed[][3] = {
        { 66, 67, 1000 }, { 54, 55, 56 }, { 20, 40, 41 }, { 33, 35, 777 }, { 14, 34, 1001 }, { 1, 2, 3 },
    };
    for (uint32_t len = 120; len <= 1514; len += 7)
        for (size_t k = 0; k < DM_ARRAY_SIZE(fixed); k++) {
            uint32_t cuts[3];
            int n = 0;
            for (int i = 0; i < 3; i++)
                if (fixed[k][i] < len && (n == 0 || fixed[k][i] > cuts[n - 1]))
                    cuts[n++] = fixed[k][i];
            check(len, (int)(len & 3), cuts, n);
        }
    for (int r = 0; r < 3000; r++) {
        uint32_t len = 60 + (uint32_t)rand() % 1455, cuts[6];
        int n = 0;
        uint32_t at = 0;
        while (n < 6) {
            at += 1 + (uint32_t)rand() % 400;
            if (at >= len)
                break;
            cuts[n++] = at;
        }
        check(len, r & 3, cuts, n);
    }
}

static void test_copy_checksum_of_chains_split_anywhere_matches_the_model(void **st)
{
    (void)st;
    dm_l2copy_simd(0);
    chains_split_anywhere();
    dm_l2copy_simd(1);
    chains_split_anywhere();
}

/* A TSO frame of len bytes (payload: len - hl) cut in a device's copy
 * (dm_l2tso_cut_piece, memif's and DPDK memif's GSO): each piece a frame
 * that verifies, with its own length, IPv4 ID, sequence number and flags,
 * and the frame's payload slice byte for byte. */
static void check_cut(uint32_t len, int v6, uint16_t mss, const uint32_t *cuts, int ncuts)
{
    static uint8_t f[16384], out[MAXF + 64];
    struct dm_buf segs[8], piece;
    uint8_t l3 = v6 ? 40 : 20;
    uint32_t hl = 14u + l3 + 20u;
    make_frame(f, len, 0, v6);
    uint8_t *ip = f + 14, *tcp = ip + l3;
    /* DPDK's contract for TSO: the pseudo-header sum without the length */
    uint64_t ps = 6;
    for (int i = v6 ? 8 : 12; i < (v6 ? 40 : 20); i += 2)
        ps += rd16(ip + i);
    wr16(tcp + 16, dm_l2csum_fold(ps));
    wr16(tcp + 4, 0xffff), wr16(tcp + 6, 0xf000); /* the sequence number wraps */
    if (!v6)
        wr16(ip + 4, 0xfffe);                     /* and the IPv4 ID */
    tcp[13] = 0x80 | 0x10 | 0x08 | 0x01;          /* CWR ACK PSH FIN */
    struct dm_buf *c = chain_of(segs, f, len, cuts, ncuts, DM_BUF_TX_TCP_SEG | DM_BUF_TX_TCP_CKSUM |
                                (v6 ? 0 : DM_BUF_TX_IP_CKSUM), l3);
    c->l4_len = 20;
    c->tso_segsz = mss;
    struct dm_l2tso_cut cut;
    assert_int_equal(dm_l2tso_cut_init(&cut, c), 0);
    uint32_t n = (len - hl + mss - 1) / mss;
    assert_int_equal(cut.n, n);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t plen = len - hl - i * mss < mss ? len - hl - i * mss : mss;
        memset(out, 0xa5, sizeof(out));
        assert_int_equal(dm_l2tso_cut_piece(&cut, i, out), hl + plen);
        assert_int_equal(out[hl + plen], 0xa5); /* nothing past the piece */
        memset(&piece, 0, sizeof(piece));
        piece.data = out, piece.len = piece.pkt_len = hl + plen, piece.nb_segs = 1;
        uint32_t fl = dm_l2csum_rx_flags(&piece);
        if (!(fl & DM_BUF_RX_L4_CKSUM_GOOD) || (!v6 && !(fl & DM_BUF_RX_IP_CKSUM_GOOD)))
            fail_msg("%s piece %u of %u (%u B frame, MSS %u): checksum bad (flags %#x)", v6 ? "IPv6" : "IPv4", i, n,
                     len, mss, fl);
        const uint8_t *oip = out + 14, *otcp = oip + l3;
        assert_int_equal(((uint32_t)rd16(otcp + 4) << 16 | rd16(otcp + 6)), (uint32_t)(0xfffff000u + i * mss));
        if (v6) {
            assert_int_equal(rd16(oip + 4), 20 + plen);
        } else {
            assert_int_equal(rd16(oip + 2), 40 + plen);
            assert_int_equal(rd16(oip + 4), (uint16_t)(0xfffe + i));
        }
        uint8_t want = 0x10 | (i == 0 ? 0x80 : 0) | (i + 1 == n ? 0x08 | 0x01 : 0);
        assert_int_equal(otcp[13], want);
        assert_memory_equal(out + hl, f + hl + i * mss, plen);
    }
}

static void test_tso_cut_in_the_copy_gives_pieces_that_verify(void **st)
{
    (void)st;
    srand(7);
    for (int avx2 = 0; avx2 <= 1; avx2++) {
        dm_l2copy_simd(avx2);
        for (int v6 = 0; v6 <= 1; v6++) {
            uint32_t hl = 14u + (v6 ? 40u : 20u) + 20u;
            /* the stack's shape: headers, then payload slices, odd cuts */
            const uint32_t cuts[] = { hl, hl + 1, hl + 1449, hl + 5000, hl + 5001, hl + 9999 };
            for (uint32_t len = hl + 1; len < 16000; len += 997) {
                int n = 0;
                uint32_t cc[6];
                for (int i = 0; i < 6; i++)
                    if (cuts[i] < len)
                        cc[n++] = cuts[i];
                check_cut(len, v6, 1448, cc, n);
                check_cut(len, v6, 1001, cc, n); /* an odd MSS */
                check_cut(len, v6, 536, NULL, 0);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_checksum_of_one_piece_matches_the_model_at_every_length),
        cmocka_unit_test(test_copy_checksum_of_chains_split_anywhere_matches_the_model),
        cmocka_unit_test(test_tso_cut_in_the_copy_gives_pieces_that_verify),
    };
    return cmocka_run_group_tests_name("dev_l2copy", tests, NULL, NULL);
}
