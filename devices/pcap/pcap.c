/* SPDX-License-Identifier: MIT */
/*
 * "pcap": a wrapper device that records every frame sent and received to
 * DEMI_PCAP=FILE in classic pcap format (nanosecond magic 0xa1b23c4d,
 * LINKTYPE_ETHERNET), readable by tcpdump/tshark/wireshark.
 *
 * How it works
 *  - RX: frames returned by the lower device are ours; each is written and
 *    handed up.
 *  - TX: only the frames the lower device accepted are written, so a frame
 *    refused (ring full) and retried later is not recorded twice. Because
 *    the lower device owns accepted frames (and may free them at once), we
 *    first make a "shadow" chain of slices over each frame (no copy: it
 *    only holds references on the memory), write from it after the call,
 *    then free it. Writing after the call also records what went on the
 *    wire, e.g. checksums a device filled in. Out of headers: the frame is
 *    sent but not recorded (counted in missed_no_hdr).
 *  - Timestamps: the instance's dm_now_ns() (monotonic) plus the offset to
 *    CLOCK_REALTIME taken at open, so readers show wall-clock times.
 *  - Buffered stdio with a 1 MiB buffer: it is a debug switch, not a
 *    datapath; the file is flushed and closed on close. Frames longer than
 *    the snap length (65535) are truncated (orig_len keeps the real size).
 *  - Two instances in one process (a loop link pair) read the same
 *    environment: "%p" in DEMI_PCAP becomes the pid and "%d" the number of
 *    pcap devices opened before in this process (0, 1, ...), e.g.
 *    DEMI_PCAP=/tmp/run-%d.pcap gives one file per device.
 *  - Counters ("pcap"): frames (written), write_errors, missed_no_hdr.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "dm/compiler.h"
#include "dm/device.h"
#include "dm/instance.h"
#include "dm/log.h"
#include "dm/stats.h"
#include "dm/time.h"

#define PCAP_MAGIC_NS   0xa1b23c4du
#define PCAP_SNAPLEN    65535u
#define PCAP_LINKTYPE_ETHERNET 1u
#define PCAP_STDIO_BUF  (1u << 20)

struct pcap_global_hdr {
    uint32_t magic;
    uint16_t version_major, version_minor;
    int32_t thiszone;
    uint32_t sigfigs, snaplen, linktype;
};

struct pcap_rec_hdr {
    uint32_t ts_sec, ts_nsec, incl_len, orig_len;
};

enum { PCAP_FRAMES, PCAP_WRITE_ERRORS, PCAP_NO_HDR, PCAP_NCTR };
static const char *const pcap_ctr_names[PCAP_NCTR] = { "frames", "write_errors", "missed_no_hdr" };

struct pcap_dev {
    FILE *f;
    char *iobuf;
    int64_t realtime_off;     /* CLOCK_REALTIME - CLOCK_MONOTONIC, ns */
    uint64_t ctr[PCAP_NCTR];
};

static void pcap_write(struct dm_dev *dev, struct pcap_dev *pd, const struct dm_buf *p)
{
    int64_t t = dm_now_ns(dev->inst) + pd->realtime_off;
    uint32_t incl = DM_MIN(p->pkt_len, PCAP_SNAPLEN), left = incl;
    struct pcap_rec_hdr h = {
        .ts_sec = (uint32_t)(t / DM_NS_PER_S),
        .ts_nsec = (uint32_t)(t % DM_NS_PER_S),
        .incl_len = incl,
        .orig_len = p->pkt_len,
    };
    int ok = fwrite(&h, sizeof(h), 1, pd->f) == 1;
    for (const struct dm_buf *s = p; s && left && ok; s = s->next) {
        uint32_t n = DM_MIN(s->len, left);
        ok = fwrite(s->data, 1, n, pd->f) == n;
        left -= n;
    }
    if (dm_likely(ok && !left)) {
        pd->ctr[PCAP_FRAMES]++;
    } else {
        /* pkt_len and the segments disagree, or the disk is full: pad so
         * the file stays parseable */
        static const uint8_t zeros[256];
        while (ok && left) {
            uint32_t n = DM_MIN(left, (uint32_t)sizeof(zeros));
            ok = fwrite(zeros, 1, n, pd->f) == n;
            left -= n;
        }
        pd->ctr[PCAP_WRITE_ERRORS]++;
    }
}

static uint16_t pcap_rx(struct dm_dev *dev, struct dm_buf **pkts, uint16_t n)
{
    struct pcap_dev *pd = dev->priv;
    uint16_t k = dev->lower->rx_burst(dev->lower, pkts, n);
    for (uint16_t i = 0; i < k; i++)
        pcap_write(dev, pd, pkts[i]);
    return k;
}

/* A second chain of slices over the frame's segments: keeps its bytes
 * alive and reachable whatever the lower device does with the frame (it
 * may free it, and freeing a chain unlinks its headers). NULL when out of
 * headers. */
static struct dm_buf *shadow(struct dm_instance *inst, struct dm_buf *p)
{
    struct dm_buf *head = NULL;
    for (struct dm_buf *s = p; s; s = s->next) {
        struct dm_buf *sl = dm_buf_slice(inst, s, 0, s->len);
        if (!sl) {
            dm_buf_free(head);
            return NULL;
        }
        if (head)
            dm_buf_chain(head, sl);
        else
            head = sl;
    }
    return head;
}

static uint16_t pcap_tx(struct dm_dev *dev, struct dm_buf **pkts, uint16_t n)
{
    struct pcap_dev *pd = dev->priv;
    struct dm_buf *sh[64];
    uint16_t done = 0;

    while (done < n) {
        uint16_t m = (uint16_t)DM_MIN((uint32_t)(n - done), DM_ARRAY_SIZE(sh));
        for (uint16_t i = 0; i < m; i++)
            sh[i] = shadow(dev->inst, pkts[done + i]);
        uint16_t k = dev->lower->tx_burst(dev->lower, pkts + done, m);
        for (uint16_t i = 0; i < m; i++) {
            if (i < k) {
                if (sh[i])
                    pcap_write(dev, pd, sh[i]);
                else
                    pd->ctr[PCAP_NO_HDR]++;
            }
            dm_buf_free(sh[i]);
        }
        done += k;
        if (k < m)
            break;
    }
    return done;
}

static atomic_uint pcap_opened; /* devices opened in this process, for %d */

/* Expands %p (pid), %d (device sequence number) and %% in the file name. */
static int pcap_path(const char *tmpl, char *out, size_t len)
{
    unsigned seq = atomic_fetch_add(&pcap_opened, 1);
    size_t o = 0;
    for (const char *s = tmpl; *s; s++) {
        int n;
        if (s[0] == '%' && s[1] == 'p')
            n = snprintf(out + o, len - o, "%d", (int)getpid());
        else if (s[0] == '%' && s[1] == 'd')
            n = snprintf(out + o, len - o, "%u", seq);
        else if (s[0] == '%' && s[1] == '%')
            n = snprintf(out + o, len - o, "%%");
        else {
            if (o + 1 >= len)
                return -ENAMETOOLONG;
            out[o++] = *s;
            continue;
        }
        if (n < 0 || (size_t)n >= len - o)
            return -ENAMETOOLONG;
        o += (size_t)n;
        s++;
    }
    out[o] = '\0';
    return 0;
}

static int pcap_open(struct dm_dev *dev, const struct dm_config *cfg)
{
    const char *tmpl = dm_cfg_str(cfg, DM_CFG_PCAP);
    char path[4096];
    struct timespec rt;

    if (!dev->lower) {
        DM_ERR("pcap", "the pcap device wraps another device: no lower device given");
        return -EINVAL;
    }
    if (!tmpl || !*tmpl) {
        DM_ERR("pcap", "DEMI_PCAP is not set: no file to write");
        return -EINVAL;
    }
    if (pcap_path(tmpl, path, sizeof(path)) < 0) {
        DM_ERR("pcap", "DEMI_PCAP=%s: name too long", tmpl);
        return -ENAMETOOLONG;
    }
    struct pcap_dev *pd = calloc(1, sizeof(*pd));
    if (!pd)
        return -ENOMEM;
    pd->f = fopen(path, "wb");
    if (!pd->f) {
        int err = -errno;
        DM_ERR("pcap", "DEMI_PCAP=%s: %s", path, strerror(errno));
        free(pd);
        return err;
    }
    pd->iobuf = malloc(PCAP_STDIO_BUF);
    if (pd->iobuf)
        setvbuf(pd->f, pd->iobuf, _IOFBF, PCAP_STDIO_BUF);
    clock_gettime(CLOCK_REALTIME, &rt);
    pd->realtime_off = (int64_t)rt.tv_sec * DM_NS_PER_S + rt.tv_nsec - dm_clock_ns();

    struct pcap_global_hdr g = {
        .magic = PCAP_MAGIC_NS,
        .version_major = 2,
        .version_minor = 4,
        .snaplen = PCAP_SNAPLEN,
        .linktype = PCAP_LINKTYPE_ETHERNET,
    };
    if (fwrite(&g, sizeof(g), 1, pd->f) != 1 || fflush(pd->f) != 0) {
        int err = -(errno ? errno : EIO);
        DM_ERR("pcap", "DEMI_PCAP=%s: cannot write the header", path);
        fclose(pd->f);
        free(pd->iobuf);
        free(pd);
        return err;
    }
    dev->priv = pd;
    dev->rx_burst = pcap_rx;
    dev->tx_burst = pcap_tx;
    (void)dm_stats_register(dev->inst, "pcap", pcap_ctr_names, pd->ctr, PCAP_NCTR);
    DM_INFO("pcap", "recording to %s", path);
    return 0;
}

static void pcap_close(struct dm_dev *dev)
{
    struct pcap_dev *pd = dev->priv;
    if (!pd)
        return;
    dm_stats_unregister(dev->inst, pd->ctr);
    if (fclose(pd->f) != 0)
        DM_WARN("pcap", "closing the capture file: %s", strerror(errno));
    free(pd->iobuf);
    free(pd);
    dev->priv = NULL;
}

static const struct dm_dev_ops pcap_ops = {
    .name = "pcap",
    .open = pcap_open,
    .close = pcap_close,
    .info = dm_dev_lower_info,      /* a wrapper is what lies below */
    .wait_fd = dm_dev_lower_wait_fd,
    .wrap_order = 2 /* over fault: it sees what the stack sent and what reached it */,
    .wrap_var = DM_CFG_PCAP,
};
DM_DEV_REGISTER(pcap_ops)
