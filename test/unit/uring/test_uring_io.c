/* SPDX-License-Identifier: MIT */
/*
 * uring backend, data path: TCP echo over every feature combination (each
 * DEMI_URING_DISABLE variant plays a kernel without that feature), the
 * 1 GiB byte-exact transfer, 1000 concurrent connections, UDP, and the
 * errno of failed socket calls.
 */
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include "ur_test.h"

/* Echo of several sizes over 4 connections; the data comes back intact. */
static void echo_on(struct dm_instance *inst)
{
    static const size_t sizes[] = { 1, 100, 4096, 65536, 300000 };
    uint16_t port;
    int l = ut_listen(inst, SOCK_STREAM, &port);
    int c[4], s[4];
    for (int i = 0; i < 4; i++)
        ut_pair(inst, l, port, &c[i], &s[i]);
    uint8_t *out = malloc(300000), *in = malloc(300000);
    assert_non_null(out);
    assert_non_null(in);
    for (unsigned k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        for (int i = 0; i < 4; i++) {
            size_t len = sizes[k];
            ut_fill(out, len, (uint32_t)(k * 4 + (unsigned)i));
            demi_qtoken_t pt = ut_push(inst, c[i], out, len);
            ut_echo_back(inst, s[i], len);
            memset(in, 0, len);
            ut_pop_exact(inst, c[i], in, len);
            assert_memory_equal(in, out, len);
            assert_int_equal(ut_wait(inst, pt).qr_opcode, DEMI_OPC_PUSH);
        }
    }
    /* Orderly close: the server sees end of stream. */
    for (int i = 0; i < 4; i++) {
        assert_int_equal(dm_close(inst, c[i]), 0);
        demi_qtoken_t qt;
        assert_int_equal(dm_pop(inst, &qt, s[i]), 0);
        demi_qresult_t qr = ut_wait(inst, qt);
        assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
        assert_int_equal(qr.qr_value.sga.sga_numsegs, 0);
        assert_int_equal(dm_close(inst, s[i]), 0);
    }
    assert_int_equal(dm_close(inst, l), 0);
    free(out);
    free(in);
}

static void test_tcp_echo_all_features(void **st)
{
    (void)st;
    struct dm_instance *inst = ut_instance(NULL);
    uint32_t f = dm_uring_features(inst);
    /* This code needs Linux 5.19+, where all of these exist. */
    assert_true(f & UR_F_MULTISHOT_ACCEPT);
    assert_true(f & UR_F_BUF_RING);
    assert_true(f & UR_F_FIXED_FILES);
    echo_on(inst);
    if (f & UR_F_MULTISHOT_RECV)
        assert_true(ut_stat(inst, "uring.rx_chunks") > 0);
    /* mem.*: what the backend holds, not what it could map. 256 SQEs;
     * the published receive buffers (512 KiB either way: 4 x 128 KiB, or
     * 8 x 64 KiB without buf_inc) are populated, the rest of the 6-10 MiB
     * mapping only as used; the 9 sockets took slots from the start of a
     * 16,384-slot stack. */
    assert_true(ut_stat(inst, "mem.uring_ring_bytes") >= 256 * 64);
    int64_t rx = ut_stat(inst, "mem.uring_rx_bytes");
    assert_true(rx >= 512 * 1024 && rx < 6 * 1024 * 1024);
    int64_t files = ut_stat(inst, "mem.uring_files_bytes");
    assert_true(files > 0 && files <= 64 * (int64_t)sizeof(int));
    assert_true(ut_stat(inst, "mem.table_bytes") > 0);
    dm_instance_destroy(inst);
}

static void echo_without(const char *features, uint32_t must_be_off)
{
    struct dm_instance *inst = ut_instance("DEMI_URING_DISABLE", features, NULL);
    assert_int_equal(dm_uring_features(inst) & must_be_off, 0);
    echo_on(inst);
    dm_instance_destroy(inst);
}

static void test_tcp_echo_without_multishot_recv(void **st)
{
    (void)st;
    echo_without("multishot_recv", UR_F_MULTISHOT_RECV);
}

static void test_tcp_echo_without_buffer_ring(void **st)
{
    (void)st;
    echo_without("buf_ring", UR_F_BUF_RING | UR_F_MULTISHOT_RECV);
}

static void test_tcp_echo_without_incremental_buffers(void **st)
{
    (void)st;
    echo_without("buf_inc", UR_F_BUF_INC);
}

static void test_tcp_echo_without_multishot_accept(void **st)
{
    (void)st;
    echo_without("multishot_accept", UR_F_MULTISHOT_ACCEPT);
}

static void test_tcp_echo_without_fixed_files(void **st)
{
    (void)st;
    echo_without("fixed_files", UR_F_FIXED_FILES);
}

static void test_tcp_echo_without_defer_taskrun(void **st)
{
    (void)st;
    echo_without("defer_taskrun", UR_F_DEFER_TASKRUN);
}

static void test_tcp_echo_with_no_optional_feature(void **st)
{
    (void)st;
    echo_without("multishot_accept,multishot_recv,buf_ring,fixed_files,send_zc,defer_taskrun,single_issuer",
                 UR_F_MULTISHOT_ACCEPT | UR_F_MULTISHOT_RECV | UR_F_BUF_RING | UR_F_FIXED_FILES | UR_F_SEND_ZC | UR_F_DEFER_TASKRUN);
}

static void test_without_io_uring_the_backend_list_goes_on_to_posix(void **st)
{
    (void)st;
    /* A kernel that refuses io_uring (too old, io_uring_disabled,
     * seccomp): the preload's list "uring,posix" is served by epoll, and
     * the instance says so; DEMI_BACKEND=uring alone refuses to start. */
    struct dm_config cfg;
    dm_config_init(&cfg);
    assert_int_equal(dm_config_set(&cfg, "DEMI_BACKEND", "uring,posix"), 0);
    assert_int_equal(dm_config_set(&cfg, "DEMI_URING_DISABLE", "io_uring"), 0);
    struct dm_instance *inst = NULL;
    assert_int_equal(dm_instance_create(&cfg, &inst), 0);
    assert_string_equal(dm_instance_backend(inst), "posix");
    echo_on(inst);
    assert_true(ut_stat(inst, "posix.epoll_waits") > 0);
    assert_int_equal(dm_stats_get(inst, "uring.enters"), -1);
    dm_instance_destroy(inst);

    assert_int_equal(dm_config_set(&cfg, "DEMI_BACKEND", "uring"), 0);
    inst = NULL;
    assert_int_equal(dm_instance_create(&cfg, &inst), -ENOSYS);
    assert_null(inst);
}

static void test_tcp_echo_sqpoll(void **st)
{
    (void)st;
    struct dm_instance *inst = ut_instance("DEMI_URING_SQPOLL", "1", NULL);
    assert_true(dm_uring_features(inst) & UR_F_SQPOLL);
    echo_on(inst);
    dm_instance_destroy(inst);
}

/* This process's SQ polling threads ("iou-sqp-PID"); the CPUs the last
 * one found may run on, in cpus. */
static int sq_threads(char *cpus, size_t len)
{
    int n = 0;
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));) {
        char path[300], line[256];
        snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
        FILE *f = e->d_name[0] != '.' ? fopen(path, "r") : NULL;
        if (!f)
            continue;
        bool sq = false;
        while (fgets(line, sizeof(line), f)) {
            if (strncmp(line, "Name:\tiou-sqp", 13) == 0)
                sq = true;
            if (sq && cpus && sscanf(line, "Cpus_allowed_list: %255s", line) == 1)
                snprintf(cpus, len, "%s", line);
        }
        fclose(f);
        n += sq;
    }
    closedir(d);
    return n;
}

/* The SQ thread goes some time after its last ring (the kernel's teardown
 * runs in a work queue). */
static int sq_threads_settled(int want)
{
    int n = sq_threads(NULL, 0);
    for (int i = 0; i < 1000 && n != want; i++) {
        usleep(10000);
        n = sq_threads(NULL, 0);
    }
    return n;
}

/* One SQ thread per process, however many SQPOLL instances: Apache's
 * event MPM, a ring per thread, had one each (24 polling kernel threads
 * on its CPU). It goes with the last of them. */
static void test_sqpoll_instances_share_one_sq_thread(void **st)
{
    (void)st;
    assert_int_equal(sq_threads_settled(0), 0);
    struct dm_instance *a = ut_instance("DEMI_URING_SQPOLL", "1", NULL);
    struct dm_instance *b = ut_instance("DEMI_URING_SQPOLL", "1", NULL);
    struct dm_instance *c = ut_instance("DEMI_URING_SQPOLL", "1", NULL);
    assert_true(dm_uring_features(b) & UR_F_SQPOLL);
    assert_true(dm_uring_features(c) & UR_F_SQPOLL);
    echo_on(b);
    echo_on(c);
    assert_int_equal(sq_threads(NULL, 0), 1);
    dm_instance_destroy(a); /* the first, whose ring the others attached to */
    echo_on(b);
    struct dm_instance *d = ut_instance("DEMI_URING_SQPOLL", "1", NULL);
    echo_on(d);
    assert_int_equal(sq_threads(NULL, 0), 1);
    dm_instance_destroy(b);
    dm_instance_destroy(c);
    dm_instance_destroy(d);
    assert_int_equal(sq_threads_settled(0), 0);
}

/* The process's first SQPOLL instance, with no SQ thread left from an
 * earlier test; *anchor: the fd that keeps its thread. */
static struct dm_instance *sq_first(int *anchor)
{
    assert_int_equal(sq_threads_settled(0), 0);
    struct dm_instance *inst = ut_instance("DEMI_URING_SQPOLL", "1", NULL);
    *anchor = dm_uring_sq_anchor_fd();
    assert_true(*anchor >= 0);
    return inst;
}

/* The application closed our anchor (a daemon's close of every fd) and
 * the number is another file now: the next SQPOLL ring cannot attach to
 * it, starts a thread of its own, and leaves that file alone. */
static void test_sqpoll_survives_a_closed_anchor(void **st)
{
    (void)st;
    int fd;
    struct dm_instance *a = sq_first(&fd);
    int null = open("/dev/null", O_RDONLY);
    assert_true(null >= 0);
    assert_int_equal(dup2(null, fd), fd);
    close(null);
    struct dm_instance *b = ut_instance("DEMI_URING_SQPOLL", "1", NULL);
    assert_true(dm_uring_features(b) & UR_F_SQPOLL);
    echo_on(a);
    echo_on(b);
    assert_int_equal(sq_threads(NULL, 0), 2);
    assert_true(fcntl(fd, F_GETFD) >= 0); /* the application's /dev/null */
    dm_instance_destroy(a);
    dm_instance_destroy(b);
    assert_int_equal(sq_threads_settled(0), 0);
    assert_int_equal(close(fd), 0);
}

/* A forked child: the parent's anchor is closed in it at the fork, and
 * its own SQPOLL instance gets a thread of its own (the kernel would
 * refuse an attach to the parent's). The child reports by exit status,
 * without cmocka. */
static int sq_child(int parent_anchor)
{
    if (fcntl(parent_anchor, F_GETFD) != -1 || errno != EBADF)
        return 2;
    if (dm_uring_sq_anchor_fd() != -1)
        return 3;
    struct dm_config cfg;
    dm_config_init(&cfg);
    struct dm_instance *inst = NULL;
    if (dm_config_set(&cfg, "DEMI_BACKEND", "uring") || dm_config_set(&cfg, "DEMI_URING_SQPOLL", "1") ||
        dm_instance_create(&cfg, &inst))
        return 4;
    if (!(dm_uring_features(inst) & UR_F_SQPOLL) || dm_uring_sq_anchor_fd() < 0)
        return 5;
    int n = sq_threads_settled(1);
    dm_instance_destroy(inst);
    return n == 1 ? 0 : 10 + n;
}

static void test_sqpoll_forked_child_makes_its_own_sq_thread(void **st)
{
    (void)st;
    int fd;
    struct dm_instance *a = sq_first(&fd);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(sq_child(fd));
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(dm_uring_sq_anchor_fd(), fd); /* the parent's is untouched */
    echo_on(a);
    dm_instance_destroy(a);
    assert_int_equal(sq_threads_settled(0), 0);
}

/* DEMI_URING_SQPOLL_CPU binds the SQ thread (IORING_SETUP_SQ_AFF). */
static void test_sqpoll_cpu_binds_the_sq_thread(void **st)
{
    (void)st;
    assert_int_equal(sq_threads_settled(0), 0);
    long last = sysconf(_SC_NPROCESSORS_ONLN) - 1;
    char want[24], got[256] = "";
    snprintf(want, sizeof(want), "%ld", last);
    struct dm_instance *inst = ut_instance("DEMI_URING_SQPOLL", "1", "DEMI_URING_SQPOLL_CPU", want, NULL);
    assert_true(dm_uring_features(inst) & UR_F_SQPOLL);
    echo_on(inst);
    assert_int_equal(sq_threads(got, sizeof(got)), 1);
    assert_string_equal(got, want);
    dm_instance_destroy(inst);
    assert_int_equal(sq_threads_settled(0), 0);
}

static void test_tcp_echo_busy_poll(void **st)
{
    (void)st;
    struct dm_instance *inst = ut_instance("DEMI_URING_BUSYPOLL", "1", NULL);
    echo_on(inst);
    dm_instance_destroy(inst);
}

static void test_tcp_echo_zero_copy_send(void **st)
{
    (void)st;
    struct dm_instance *inst = ut_instance("DEMI_URING_ZC_MIN", "4096", NULL);
    ut_skip_without(inst, UR_F_SEND_ZC);
    echo_on(inst);
    assert_true(ut_stat(inst, "uring.tx_zc") > 0);
    dm_instance_destroy(inst);
}

static void test_zero_copy_send_from_registered_pool(void **st)
{
    (void)st;
    /* Pool buffers (demi_sgaalloc of <= 2 KiB) go out SEND_ZC through the
     * pool registered as fixed buffers. */
    struct dm_instance *inst = ut_instance("DEMI_URING_ZC_MIN", "512", NULL);
    ut_skip_without(inst, UR_F_SEND_ZC);
    uint16_t port;
    int l = ut_listen(inst, SOCK_STREAM, &port), c, s;
    ut_pair(inst, l, port, &c, &s);
    uint8_t out[1500 * 50], in[1500 * 50];
    ut_fill(out, sizeof(out), 77);
    demi_qtoken_t pts[50];
    for (int i = 0; i < 50; i++)
        pts[i] = ut_push(inst, c, out + i * 1500, 1500);
    ut_pop_exact(inst, s, in, sizeof(in));
    assert_memory_equal(in, out, sizeof(in));
    for (int i = 0; i < 50; i++)
        assert_int_equal(ut_wait(inst, pts[i]).qr_opcode, DEMI_OPC_PUSH);
    assert_true(ut_stat(inst, "uring.tx_zc") > 0);
    if (dm_uring_features(inst) & (1u << 8))
        assert_true(ut_stat(inst, "uring.tx_zc_fixed") > 0);
    dm_close(inst, c);
    dm_close(inst, s);
    dm_close(inst, l);
    dm_instance_destroy(inst);
}

/* 1 GiB one way, pipelined, checked byte for byte. The pattern has a prime
 * period so a lost, repeated or reordered chunk cannot match by chance. */
#define T_CHUNK (256u * 1024u)
#define T_PERIOD 251u
static void test_transfer_1gib_byte_exact(void **st)
{
    (void)st;
    uint64_t total = 1ull << 30;
    const char *san = getenv("DEMI_TEST_SANITIZED");
    if (san && *san && strcmp(san, "0") != 0)
        total = 128ull << 20; /* sanitizers make every byte ~10x dearer */
    struct dm_instance *inst = ut_instance(NULL);
    uint16_t port;
    int l = ut_listen(inst, SOCK_STREAM, &port), c, s;
    ut_pair(inst, l, port, &c, &s);
    uint8_t *src = malloc(T_CHUNK + T_PERIOD + 65536);
    assert_non_null(src);
    for (size_t i = 0; i < T_CHUNK + T_PERIOD + 65536; i++)
        src[i] = (uint8_t)(i % T_PERIOD);

    uint64_t sent = 0, recvd = 0;
    int inflight = 0, pop_pending = 0;
    demi_qresult_t qrs[32];
    while (recvd < total) {
        while (inflight < 8 && sent < total) {
            struct dm_buf *b = dm_buf_wrap_ext(inst, src + (sent % T_PERIOD), T_CHUNK, NULL, NULL);
            assert_non_null(b);
            demi_qtoken_t qt;
            assert_int_equal(dm_push_chain(inst, &qt, c, b, NULL), 0);
            sent += T_CHUNK;
            inflight++;
        }
        if (!pop_pending) {
            demi_qtoken_t qt;
            assert_int_equal(dm_pop(inst, &qt, s), 0);
            pop_pending = 1;
        }
        int n = 0;
        assert_int_equal(dm_wait_next_n(inst, qrs, 32, &n, UR_WAIT_NS), 0);
        for (int i = 0; i < n; i++) {
            demi_qresult_t *qr = &qrs[i];
            if (qr->qr_opcode == DEMI_OPC_PUSH) {
                inflight--;
                continue;
            }
            assert_int_equal(qr->qr_opcode, DEMI_OPC_POP);
            pop_pending = 0;
            demi_sgarray_t *sga = &qr->qr_value.sga;
            assert_true(sga->sga_numsegs >= 1);
            for (uint32_t k = 0; k < sga->sga_numsegs; k++) {
                uint32_t len = sga->sga_segs[k].sgaseg_len;
                assert_true(len <= 65536 + T_CHUNK);
                if (memcmp(sga->sga_segs[k].sgaseg_buf, src + (recvd % T_PERIOD), len) != 0)
                    fail_msg("data differs in the chunk at offset %llu", (unsigned long long)recvd);
                recvd += len;
            }
            assert_int_equal(dm_sgafree(inst, sga), 0);
        }
    }
    assert_int_equal(recvd, total);
    while (inflight > 0) {
        int n = 0;
        assert_int_equal(dm_wait_next_n(inst, qrs, 32, &n, UR_WAIT_NS), 0);
        for (int i = 0; i < n; i++) {
            assert_int_equal(qrs[i].qr_opcode, DEMI_OPC_PUSH);
            inflight--;
        }
    }
    assert_int_equal(ut_stat(inst, "uring.rx_bytes") >= (int64_t)total, 1);
    dm_close(inst, c);
    dm_close(inst, s);
    dm_close(inst, l);
    dm_instance_destroy(inst);
    free(src);
}

/* 1000 connections open at once, each echoes its own message. */
#define T_CONNS 1000
static void test_1000_concurrent_connections(void **st)
{
    (void)st;
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < 2 * T_CONNS + 64) {
        rl.rlim_cur = rl.rlim_max;
        if (rl.rlim_cur < 2 * T_CONNS + 64 || setrlimit(RLIMIT_NOFILE, &rl) < 0)
            skip(); /* cannot open 2000 fds here */
    }
    struct dm_instance *inst = ut_instance(NULL);
    uint16_t port;
    int l = ut_listen(inst, SOCK_STREAM, &port);
    static int c[T_CONNS], s[T_CONNS];
    static demi_qtoken_t qt[T_CONNS * 2];
    struct sockaddr_in sin = ut_addr(port);
    for (int i = 0; i < T_CONNS; i++) {
        assert_int_equal(dm_socket(inst, &c[i], AF_INET, SOCK_STREAM, 0), 0);
        assert_int_equal(dm_accept(inst, &qt[T_CONNS + i], l), 0);
        assert_int_equal(dm_connect(inst, &qt[i], c[i], (struct sockaddr *)&sin, sizeof(sin)), 0);
    }
    for (int i = 0; i < T_CONNS; i++)
        assert_int_equal(ut_wait(inst, qt[i]).qr_opcode, DEMI_OPC_CONNECT);
    for (int i = 0; i < T_CONNS; i++) {
        demi_qresult_t qr = ut_wait(inst, qt[T_CONNS + i]);
        assert_int_equal(qr.qr_opcode, DEMI_OPC_ACCEPT);
        s[i] = qr.qr_value.ares.qd;
    }
    /* The server side learns which client it is from the message. */
    static int who[T_CONNS];
    for (int i = 0; i < T_CONNS; i++) {
        uint32_t msg[16];
        for (int k = 0; k < 16; k++)
            msg[k] = (uint32_t)i;
        qt[i] = ut_push(inst, c[i], msg, sizeof(msg));
    }
    for (int i = 0; i < T_CONNS; i++) {
        uint32_t msg[16];
        ut_pop_exact(inst, s[i], (uint8_t *)msg, sizeof(msg));
        assert_true(msg[0] < T_CONNS);
        for (int k = 1; k < 16; k++)
            assert_int_equal(msg[k], msg[0]);
        who[i] = (int)msg[0];
        qt[T_CONNS + i] = ut_push(inst, s[i], msg, sizeof(msg));
    }
    for (int i = 0; i < T_CONNS; i++) {
        assert_int_equal(ut_wait(inst, qt[i]).qr_opcode, DEMI_OPC_PUSH);
        assert_int_equal(ut_wait(inst, qt[T_CONNS + i]).qr_opcode, DEMI_OPC_PUSH);
    }
    static int seen[T_CONNS];
    for (int i = 0; i < T_CONNS; i++) {
        uint32_t msg[16];
        ut_pop_exact(inst, c[i], (uint8_t *)msg, sizeof(msg));
        assert_int_equal(msg[0], (uint32_t)i); /* its own message came back */
        seen[who[i]]++;
    }
    for (int i = 0; i < T_CONNS; i++) {
        assert_int_equal(seen[i], 1);
        assert_int_equal(dm_close(inst, c[i]), 0);
        assert_int_equal(dm_close(inst, s[i]), 0);
    }
    assert_int_equal(ut_stat(inst, "uring.accepts"), T_CONNS);
    dm_close(inst, l);
    /* Let the close SQEs run before the ring goes. */
    dm_poll(inst, 0);
    dm_instance_destroy(inst);
}

/* Pushes made before the ring is entered join the send prepared for the
 * first (ur_tx_join): one send for many, the bytes in push order. The 33rd
 * segment and later wait for the next send; a datagram never joins. */
static void test_pushes_join_a_send_not_yet_submitted(void **st)
{
    (void)st;
    struct dm_instance *inst = ut_instance(NULL);
    uint16_t port;
    int l = ut_listen(inst, SOCK_STREAM, &port), c, s;
    ut_pair(inst, l, port, &c, &s);
    enum { NPUSH = 48 };
    static uint8_t out[NPUSH * 2000], in[sizeof(out)];
    size_t len = 0;
    demi_qtoken_t pt[NPUSH];
    int64_t sends0 = ut_stat(inst, "uring.tx_sends"), joined0 = ut_stat(inst, "uring.tx_joined");
    for (int i = 0; i < NPUSH; i++) {
        size_t n = 1 + (size_t)(i * 397) % 1999; /* odd and even, 1..1999 */
        ut_fill(out + len, n, (uint32_t)i);
        pt[i] = ut_push(inst, c, out + len, n);
        len += n;
    }
    ut_pop_exact(inst, s, in, len);
    assert_memory_equal(in, out, len);
    for (int i = 0; i < NPUSH; i++)
        assert_int_equal(ut_wait(inst, pt[i]).qr_opcode, DEMI_OPC_PUSH);
    /* 31 pushes joined the first send; the rest went in one or two more */
    assert_int_equal(ut_stat(inst, "uring.tx_joined") - joined0, 31);
    assert_true(ut_stat(inst, "uring.tx_sends") - sends0 <= 3);

    uint16_t pa, pb;
    int a = ut_listen(inst, SOCK_DGRAM, &pa), b = ut_listen(inst, SOCK_DGRAM, &pb);
    struct sockaddr_in to = ut_addr(pb);
    for (int i = 0; i < 3; i++) {
        int err;
        demi_sgarray_t d = dm_sgaalloc(inst, 100 + (size_t)i, &err);
        assert_int_equal(err, 0);
        demi_qtoken_t qt;
        assert_int_equal(dm_pushto(inst, &qt, a, &d, (struct sockaddr *)&to, sizeof(to)), 0);
        dm_sgafree(inst, &d);
    }
    for (int i = 0; i < 3; i++) {
        demi_sgarray_t d = ut_pop_one(inst, b);
        assert_int_equal(d.sga_numsegs, 1);
        assert_int_equal(d.sga_segs[0].sgaseg_len, 100 + i);
        dm_sgafree(inst, &d);
    }
    dm_close(inst, a);
    dm_close(inst, b);
    dm_close(inst, c);
    dm_close(inst, s);
    dm_close(inst, l);
    dm_instance_destroy(inst);
}

static void test_udp_echo_carries_source_address(void **st)
{
    (void)st;
    struct dm_instance *inst = ut_instance(NULL);
    uint16_t pa, pb;
    int a = ut_listen(inst, SOCK_DGRAM, &pa), b = ut_listen(inst, SOCK_DGRAM, &pb);
    for (int round = 0; round < 20; round++) {
        uint8_t msg[1400], in[1400];
        size_t len = 1 + (size_t)round * 60;
        ut_fill(msg, len, (uint32_t)round);
        int err;
        demi_sgarray_t sga = dm_sgaalloc(inst, len, &err);
        memcpy(sga.sga_segs[0].sgaseg_buf, msg, len);
        struct sockaddr_in to = ut_addr(pb);
        demi_qtoken_t pt, ot;
        assert_int_equal(dm_pushto(inst, &pt, a, &sga, (struct sockaddr *)&to, sizeof(to)), 0);
        dm_sgafree(inst, &sga);
        assert_int_equal(dm_pop(inst, &ot, b), 0);
        demi_qresult_t qr = ut_wait(inst, ot);
        assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
        assert_int_equal(qr.qr_value.sga.sga_segs[0].sgaseg_len, len);
        assert_int_equal(ntohs(qr.qr_value.sga.sga_addr.sin_port), pa);
        /* echo to where it came from */
        struct sockaddr_in back = qr.qr_value.sga.sga_addr;
        assert_int_equal(dm_pushto(inst, &pt, b, &qr.qr_value.sga, (struct sockaddr *)&back, sizeof(back)), 0);
        dm_sgafree(inst, &qr.qr_value.sga);
        assert_int_equal(dm_pop(inst, &ot, a), 0);
        qr = ut_wait(inst, ot);
        assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
        assert_int_equal(qr.qr_value.sga.sga_segs[0].sgaseg_len, len);
        memcpy(in, qr.qr_value.sga.sga_segs[0].sgaseg_buf, len);
        assert_memory_equal(in, msg, len);
        dm_sgafree(inst, &qr.qr_value.sga);
    }
    /* Unconnected UDP without a destination: as send(2). */
    demi_qtoken_t qt;
    uint8_t x = 1;
    int err;
    demi_sgarray_t sga = dm_sgaalloc(inst, 1, &err);
    memcpy(sga.sga_segs[0].sgaseg_buf, &x, 1);
    assert_int_equal(dm_push(inst, &qt, a, &sga), -EDESTADDRREQ);
    dm_sgafree(inst, &sga);
    dm_close(inst, a);
    dm_close(inst, b);
    dm_instance_destroy(inst);
}

static void test_connect_to_closed_port_gives_econnrefused(void **st)
{
    (void)st;
    struct dm_instance *inst = ut_instance(NULL);
    uint16_t port;
    int l = ut_listen(inst, SOCK_STREAM, &port);
    dm_close(inst, l); /* the port is now closed */
    dm_poll(inst, 1000000);
    int c;
    demi_qtoken_t ct;
    assert_int_equal(dm_socket(inst, &c, AF_INET, SOCK_STREAM, 0), 0);
    struct sockaddr_in sin = ut_addr(port);
    assert_int_equal(dm_connect(inst, &ct, c, (struct sockaddr *)&sin, sizeof(sin)), 0);
    demi_qresult_t qr = ut_wait(inst, ct);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_FAILED);
    assert_int_equal(qr.qr_ret, ECONNREFUSED);
    /* A socket whose connect failed can push nothing: ENOTCONN. */
    uint8_t x = 0;
    int err;
    demi_sgarray_t sga = dm_sgaalloc(inst, 1, &err);
    memcpy(sga.sga_segs[0].sgaseg_buf, &x, 1);
    assert_int_equal(dm_push(inst, &ct, c, &sga), -ENOTCONN);
    dm_sgafree(inst, &sga);
    dm_close(inst, c);
    dm_instance_destroy(inst);
}

static void test_bind_in_use_gives_eaddrinuse(void **st)
{
    (void)st;
    struct dm_instance *inst = ut_instance(NULL);
    uint16_t port;
    int l = ut_listen(inst, SOCK_STREAM, &port), b;
    assert_int_equal(dm_socket(inst, &b, AF_INET, SOCK_STREAM, 0), 0);
    struct sockaddr_in sin = ut_addr(port);
    assert_int_equal(dm_bind(inst, b, (struct sockaddr *)&sin, sizeof(sin)), -EADDRINUSE);
    /* already bound */
    struct sockaddr_in other = ut_addr(0);
    assert_int_equal(dm_bind(inst, l, (struct sockaddr *)&other, sizeof(other)), -EINVAL);
    dm_close(inst, b);
    dm_close(inst, l);
    dm_instance_destroy(inst);
}

static void test_socket_call_errors_match_linux(void **st)
{
    (void)st;
    struct dm_instance *inst = ut_instance(NULL);
    uint16_t port;
    int l = ut_listen(inst, SOCK_STREAM, &port), c, s;
    demi_qtoken_t qt;
    assert_int_equal(dm_pop(inst, &qt, l), -ENOTCONN);        /* recv on a listener */
    ut_pair(inst, l, port, &c, &s);
    assert_int_equal(dm_accept(inst, &qt, c), -EINVAL);        /* not listening */
    struct sockaddr_in sin = ut_addr(port);
    assert_int_equal(dm_connect(inst, &qt, c, (struct sockaddr *)&sin, sizeof(sin)), -EISCONN);
    assert_int_equal(dm_shutdown(inst, c, SHUT_WR), 0);
    uint8_t x = 7;
    int err;
    demi_sgarray_t sga = dm_sgaalloc(inst, 1, &err);
    memcpy(sga.sga_segs[0].sgaseg_buf, &x, 1);
    assert_int_equal(dm_push(inst, &qt, c, &sga), -EPIPE);     /* after SHUT_WR */
    dm_sgafree(inst, &sga);
    /* the peer sees end of stream and can still answer (half close) */
    assert_int_equal(dm_pop(inst, &qt, s), 0);
    demi_qresult_t qr = ut_wait(inst, qt);
    assert_int_equal(qr.qr_opcode, DEMI_OPC_POP);
    assert_int_equal(qr.qr_value.sga.sga_numsegs, 0);
    demi_qtoken_t pt = ut_push(inst, s, "late", 4);
    uint8_t in[4];
    ut_pop_exact(inst, c, in, 4);
    assert_memory_equal(in, "late", 4);
    ut_wait(inst, pt);
    int fresh;
    assert_int_equal(dm_socket(inst, &fresh, AF_INET, SOCK_STREAM, 0), 0);
    assert_int_equal(dm_shutdown(inst, fresh, SHUT_RDWR), -ENOTCONN);
    assert_int_equal(dm_listen(inst, s, 5), -EINVAL);          /* connected */
    dm_close(inst, fresh);
    dm_close(inst, c);
    dm_close(inst, s);
    dm_close(inst, l);
    dm_instance_destroy(inst);
}

/* An accepted connection (movable, as the preload makes them) takes its
 * fixed-file slot by an SQE at its first pop. Where the kernel refuses
 * it, the receive already issued on the empty slot is issued again
 * through the fd: the bytes arrive, and the next connection gets a slot
 * as before. */
static void test_refused_slot_falls_back_to_the_fd(void **st)
{
    (void)st;
    struct dm_instance *inst = ut_instance("DEMI_MOVABLE_ACCEPTS", "1", NULL);
    ut_skip_without(inst, UR_F_FIXED_FILES);
    uint16_t port;
    int l = ut_listen(inst, SOCK_STREAM, &port);
    uint8_t out[3000], in[3000];
    for (int round = 0; round < 3; round++) {
        int c, s;
        ut_pair(inst, l, port, &c, &s);
        if (round == 1)
            dm_uring_refuse_next_slot(inst); /* s's, at its first pop */
        for (int k = 0; k < 3; k++) {
            ut_fill(out, sizeof(out), (uint32_t)(round * 3 + k));
            demi_qtoken_t pt = ut_push(inst, c, out, sizeof(out));
            ut_echo_back(inst, s, sizeof(out));
            memset(in, 0, sizeof(in));
            ut_pop_exact(inst, c, in, sizeof(in));
            assert_memory_equal(in, out, sizeof(out));
            assert_int_equal(ut_wait(inst, pt).qr_opcode, DEMI_OPC_PUSH);
        }
        assert_int_equal(ut_stat(inst, "uring.slot_set_fail"), round >= 1 ? 1 : 0);
        assert_int_equal(dm_close(inst, c), 0);
        assert_int_equal(dm_close(inst, s), 0);
    }
    assert_int_equal(dm_close(inst, l), 0);
    dm_instance_destroy(inst);
}

static void test_bad_feature_name_is_refused(void **st)
{
    (void)st;
    struct dm_config cfg;
    dm_config_init(&cfg);
    dm_config_set(&cfg, "DEMI_BACKEND", "uring");
    dm_config_set(&cfg, "DEMI_URING_DISABLE", "multishot_recv,warp_drive");
    struct dm_instance *inst = NULL;
    assert_int_equal(dm_instance_create(&cfg, &inst), -EINVAL);
    dm_config_set(&cfg, "DEMI_URING_DISABLE", "");
    dm_config_set(&cfg, "DEMI_URING_BUF_COUNT", "1000"); /* not a power of two */
    assert_int_equal(dm_instance_create(&cfg, &inst), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_echo_all_features),
        cmocka_unit_test(test_tcp_echo_without_multishot_recv),
        cmocka_unit_test(test_tcp_echo_without_buffer_ring),
        cmocka_unit_test(test_tcp_echo_without_incremental_buffers),
        cmocka_unit_test(test_tcp_echo_without_multishot_accept),
        cmocka_unit_test(test_tcp_echo_without_fixed_files),
        cmocka_unit_test(test_tcp_echo_without_defer_taskrun),
        cmocka_unit_test(test_tcp_echo_with_no_optional_feature),
        cmocka_unit_test(test_without_io_uring_the_backend_list_goes_on_to_posix),
        cmocka_unit_test(test_tcp_echo_sqpoll),
        cmocka_unit_test(test_sqpoll_instances_share_one_sq_thread),
        cmocka_unit_test(test_sqpoll_survives_a_closed_anchor),
        cmocka_unit_test(test_sqpoll_forked_child_makes_its_own_sq_thread),
        cmocka_unit_test(test_sqpoll_cpu_binds_the_sq_thread),
        cmocka_unit_test(test_tcp_echo_busy_poll),
        cmocka_unit_test(test_tcp_echo_zero_copy_send),
        cmocka_unit_test(test_zero_copy_send_from_registered_pool),
        cmocka_unit_test(test_transfer_1gib_byte_exact),
        cmocka_unit_test(test_1000_concurrent_connections),
        cmocka_unit_test(test_pushes_join_a_send_not_yet_submitted),
        cmocka_unit_test(test_udp_echo_carries_source_address),
        cmocka_unit_test(test_connect_to_closed_port_gives_econnrefused),
        cmocka_unit_test(test_bind_in_use_gives_eaddrinuse),
        cmocka_unit_test(test_socket_call_errors_match_linux),
        cmocka_unit_test(test_refused_slot_falls_back_to_the_fd),
        cmocka_unit_test(test_bad_feature_name_is_refused),
    };
    return cmocka_run_group_tests_name("uring_io", tests, NULL, NULL);
}
