/* SPDX-License-Identifier: MIT */
/*
 * TCP option parsing and writing (see tcp_opt.h for the layouts).
 *
 * The parser is a single bounded walk: every read is checked against the
 * end of the option area before it happens, so a hostile header can make
 * us return -EINVAL but never read out of bounds. Multi-byte fields are
 * read byte by byte (options are not aligned on the wire).
 */
#include <errno.h>
#include <string.h>
#include "dm/compiler.h"
#include "dm/l2csum.h" /* dm_rd16 and the like */
#include "tcp_opt.h"

int tcp_opt_parse(const uint8_t *opt, size_t len, struct tcp_opts *out)
{
    out->present = 0;
    out->wscale = 0;
    out->wscale_clamped = 0;
    out->nsack = 0;
    out->mss = 0;
    out->tsval = out->tsecr = 0;

    if (len > TCP_OPT_MAX_LEN || (len && !opt))
        return -EINVAL;

    /* Fast path: the layout every data segment of a TS connection uses. */
    if (len == 12 && opt[0] == TCP_OPT_NOP && opt[1] == TCP_OPT_NOP &&
        opt[2] == TCP_OPT_TS && opt[3] == 10) {
        out->present = TCP_OPTF_TS;
        out->tsval = dm_rd32(opt + 4);
        out->tsecr = dm_rd32(opt + 8);
        return 0;
    }

    size_t i = 0;
    while (i < len) {
        uint8_t kind = opt[i];
        if (kind == TCP_OPT_EOL)
            break;
        if (kind == TCP_OPT_NOP) {
            i++;
            continue;
        }
        if (i + 1 >= len)
            return -EINVAL;           /* kind without a length byte */
        uint8_t olen = opt[i + 1];
        if (olen < 2 || olen > len - i)
            return -EINVAL;           /* would loop forever or run past the end */
        const uint8_t *p = opt + i;
        switch (kind) {
        case TCP_OPT_MSS:
            if (olen != 4)
                return -EINVAL;
            out->mss = dm_rd16(p + 2);
            out->present |= TCP_OPTF_MSS;
            break;
        case TCP_OPT_WSCALE:
            if (olen != 3)
                return -EINVAL;
            out->wscale = p[2];
            if (out->wscale > TCP_OPT_WSCALE_MAX) {
                out->wscale = TCP_OPT_WSCALE_MAX;
                out->wscale_clamped = 1;
            }
            out->present |= TCP_OPTF_WSCALE;
            break;
        case TCP_OPT_SACK_PERM:
            if (olen != 2)
                return -EINVAL;
            out->present |= TCP_OPTF_SACK_PERM;
            break;
        case TCP_OPT_TS:
            if (olen != 10)
                return -EINVAL;
            out->tsval = dm_rd32(p + 2);
            out->tsecr = dm_rd32(p + 6);
            out->present |= TCP_OPTF_TS;
            break;
        case TCP_OPT_SACK: {
            unsigned n = (olen - 2u) / 8u;
            if ((olen - 2u) % 8u != 0 || n == 0 || n > TCP_OPT_SACK_MAX)
                return -EINVAL;
            for (unsigned k = 0; k < n; k++) {
                out->sack[k].start = dm_rd32(p + 2 + 8 * k);
                out->sack[k].end = dm_rd32(p + 6 + 8 * k);
            }
            out->nsack = (uint8_t)n;
            out->present |= TCP_OPTF_SACK;
            break;
        }
        default:
            break;                    /* unknown kind, sane length: skip */
        }
        i += olen;
    }
    return 0;
}

int tcp_opt_write_syn(uint8_t *dst, size_t room, const struct tcp_opt_syn *syn)
{
    size_t need = 4 + (syn->want_ts ? 12 : (syn->want_sack_perm ? 4 : 0)) +
                  (syn->want_wscale ? 4 : 0);
    if (need > room)
        return -ENOSPC;

    uint8_t *p = dst;
    p[0] = TCP_OPT_MSS;
    p[1] = 4;
    dm_wr16(p + 2, syn->mss);
    p += 4;
    if (syn->want_ts) {
        /* SACK-permitted rides in the 2 bytes the TS option needs for alignment. */
        if (syn->want_sack_perm) {
            p[0] = TCP_OPT_SACK_PERM;
            p[1] = 2;
        } else {
            p[0] = TCP_OPT_NOP;
            p[1] = TCP_OPT_NOP;
        }
        p[2] = TCP_OPT_TS;
        p[3] = 10;
        dm_wr32(p + 4, syn->tsval);
        dm_wr32(p + 8, syn->tsecr);
        p += 12;
    } else if (syn->want_sack_perm) {
        p[0] = TCP_OPT_NOP;
        p[1] = TCP_OPT_NOP;
        p[2] = TCP_OPT_SACK_PERM;
        p[3] = 2;
        p += 4;
    }
    if (syn->want_wscale) {
        p[0] = TCP_OPT_NOP;
        p[1] = TCP_OPT_WSCALE;
        p[2] = 3;
        p[3] = syn->wscale > TCP_OPT_WSCALE_MAX ? TCP_OPT_WSCALE_MAX : syn->wscale;
        p += 4;
    }
    return (int)(p - dst);
}

int tcp_opt_write_ack(uint8_t *dst, size_t room, int ts, uint32_t tsval, uint32_t tsecr,
                      const struct tcp_sack_block *sack, unsigned nsack)
{
    if (room > TCP_OPT_MAX_LEN)
        room = TCP_OPT_MAX_LEN;
    uint8_t *p = dst;
    if (ts) {
        if (room < 12)
            return -ENOSPC;
        p[0] = TCP_OPT_NOP;
        p[1] = TCP_OPT_NOP;
        p[2] = TCP_OPT_TS;
        p[3] = 10;
        dm_wr32(p + 4, tsval);
        dm_wr32(p + 8, tsecr);
        p += 12;
        room -= 12;
    }
    if (nsack && sack) {
        unsigned fit = room >= 4 ? (unsigned)((room - 4) / 8) : 0;
        unsigned n = DM_MIN(nsack, fit);
        n = DM_MIN(n, (unsigned)TCP_OPT_SACK_MAX);
        if (n) {
            p[0] = TCP_OPT_NOP;
            p[1] = TCP_OPT_NOP;
            p[2] = TCP_OPT_SACK;
            p[3] = (uint8_t)(2 + 8 * n);
            for (unsigned k = 0; k < n; k++) {
                dm_wr32(p + 4 + 8 * k, sack[k].start);
                dm_wr32(p + 8 + 8 * k, sack[k].end);
            }
            p += 4 + 8 * n;
        }
    }
    return (int)(p - dst);
}
