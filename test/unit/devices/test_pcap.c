/* SPDX-License-Identifier: MIT */
/*
 * Tests of the pcap wrapper: the file has a valid classic pcap global header
 * (nanosecond magic, Ethernet) and one record per frame sent and received,
 * with the frames' bytes; refused frames are not recorded; chains are
 * written whole.
 *
 * Also a tool mode for the tshark check (pcap_tshark.sh):
 *   test_dev_pcap --write FILE N   writes N frames sent + N received.
 */
#include <glob.h>
#include <stdlib.h>
#include <unistd.h>
#include "devtest.h"

struct gh {
    uint32_t magic;
    uint16_t vmaj, vmin;
    int32_t zone;
    uint32_t sigfigs, snaplen, linktype;
};
struct rh {
    uint32_t sec, nsec, incl, orig;
};

/* Opens loop (self mode, ring `ring`) wrapped by pcap writing to path. */
static struct dm_dev *open_pcap(struct dm_instance *inst, const char *path, const char *ring)
{
    struct dm_config cfg;
    struct dm_dev *lower, *dev;
    devtest_cfg(&cfg, ring, NULL);
    if (dm_dev_open(inst, "loop", NULL, &cfg, &lower) < 0)
        return NULL;
    assert_int_equal(dm_config_set(&cfg, "DEMI_PCAP", path), 0);
    if (dm_dev_open(inst, "pcap", lower, &cfg, &dev) < 0) {
        dm_dev_close(lower);
        return NULL;
    }
    return dev;
}

/* Sends n frames (every third a chain) and receives them back. */
static void write_frames(struct dm_instance *inst, struct dm_dev *dev, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        struct dm_buf *p = i % 3 ? devtest_frame(inst, i, 60 + i % 1000) : devtest_frame2(inst, i, 300, 100);
        assert_int_equal(dev->tx_burst(dev, &p, 1), 1);
        assert_int_equal(dev->rx_burst(dev, &p, 1), 1);
        dm_buf_free(p);
    }
}

static void test_pcap_file_has_header_and_one_record_per_frame(void **state)
{
    (void)state;
    char path[] = "/tmp/dm_pcap_testXXXXXX";
    int fdp = mkstemp(path);
    assert_true(fdp >= 0);
    close(fdp);
    struct dm_instance *inst = devtest_instance();
    struct dm_dev *dev = open_pcap(inst, path, "DEMI_LOOP_RING=4");
    assert_non_null(dev);

    write_frames(inst, dev, 30);
    /* a refused frame is not recorded: fill the 4-slot ring, then offer 2 */
    struct dm_buf *pk[6];
    for (uint32_t i = 0; i < 6; i++)
        pk[i] = devtest_frame(inst, 1000 + i, 64);
    assert_int_equal(dev->tx_burst(dev, pk, 6), 4);
    assert_int_equal(pk[4]->refcnt, 1); /* our temporary reference is gone */
    dm_buf_free(pk[4]);
    dm_buf_free(pk[5]);
    assert_int_equal(dev->rx_burst(dev, pk, 6), 4);
    for (int i = 0; i < 4; i++)
        dm_buf_free(pk[i]);
    assert_int_equal(devtest_stat(inst, "pcap.frames"), 2 * 30 + 2 * 4);
    dm_dev_close(dev);

    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    struct gh g;
    assert_int_equal(fread(&g, sizeof(g), 1, f), 1);
    assert_int_equal(g.magic, 0xa1b23c4d);
    assert_int_equal(g.vmaj, 2);
    assert_int_equal(g.vmin, 4);
    assert_int_equal(g.linktype, 1);
    assert_true(g.snaplen >= 1518);

    struct rh r;
    uint8_t data[2048], want[2048];
    uint32_t count = 0;
    uint32_t prev_sec = 0;
    while (fread(&r, sizeof(r), 1, f) == 1) {
        assert_true(r.incl <= sizeof(data));
        assert_int_equal(r.incl, r.orig);
        assert_true(r.nsec < 1000000000u);
        assert_true(r.sec >= prev_sec && r.sec > 1600000000u); /* wall clock */
        prev_sec = r.sec;
        assert_int_equal(fread(data, 1, r.incl, f), r.incl);
        if (count < 60) { /* frames i sent then received: same bytes twice */
            uint32_t i = count / 2, len = i % 3 ? 60 + i % 1000 : 300;
            assert_int_equal(r.incl, len);
            devtest_fill(want, len, i);
            assert_memory_equal(data, want, len);
        }
        count++;
    }
    assert_int_equal(count, 68);
    assert_true(feof(f));
    fclose(f);
    unlink(path);
    dm_instance_destroy(inst);
}

static void test_pcap_bad_path_fails_open(void **state)
{
    (void)state;
    struct dm_instance *inst = devtest_instance();
    assert_null(open_pcap(inst, "/nonexistent-dir/x.pcap", "DEMI_LOOP_RING=4"));
    assert_null(open_pcap(inst, "", "DEMI_LOOP_RING=4"));
    dm_instance_destroy(inst);
}

static void test_pcap_name_template_gives_one_file_per_device(void **state)
{
    (void)state;
    char tmpl[96], pat[96];
    glob_t g;
    snprintf(tmpl, sizeof(tmpl), "/tmp/dm_pcap_tmpl_%%p_%%d.pcap");
    snprintf(pat, sizeof(pat), "/tmp/dm_pcap_tmpl_%d_*.pcap", (int)getpid());
    struct dm_instance *inst = devtest_instance();
    struct dm_dev *d1 = open_pcap(inst, tmpl, "DEMI_LOOP_RING=4");
    struct dm_dev *d2 = open_pcap(inst, tmpl, "DEMI_LOOP_RING=4");
    assert_non_null(d1);
    assert_non_null(d2);
    write_frames(inst, d1, 3);
    write_frames(inst, d2, 5);
    dm_dev_close(d1);
    dm_dev_close(d2);
    assert_int_equal(glob(pat, 0, NULL, &g), 0);
    assert_int_equal(g.gl_pathc, 2);
    long sizes[2];
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(g.gl_pathv[i], "rb");
        assert_non_null(f);
        fseek(f, 0, SEEK_END);
        sizes[i] = ftell(f);
        fclose(f);
        unlink(g.gl_pathv[i]);
    }
    assert_true(sizes[0] != sizes[1]); /* 6 and 10 records: two separate files */
    globfree(&g);
    dm_instance_destroy(inst);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--write") == 0) {
        struct dm_instance *inst = devtest_instance();
        struct dm_dev *dev = open_pcap(inst, argv[2], "DEMI_LOOP_RING=64");
        if (!dev)
            return 1;
        write_frames(inst, dev, (uint32_t)atoi(argv[3]));
        dm_dev_close(dev);
        dm_instance_destroy(inst);
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pcap_file_has_header_and_one_record_per_frame),
        cmocka_unit_test(test_pcap_bad_path_fails_open),
        cmocka_unit_test(test_pcap_name_template_gives_one_file_per_device),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
