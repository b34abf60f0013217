/* SPDX-License-Identifier: MIT */
/* tcp_rtt: RFC 6298 estimator, Karn's rule, timestamps, back-off. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <setjmp.h>
#include <cmocka.h>
#include "tcp_rtt.h"

#define MS DM_NS_PER_MS
#define US DM_NS_PER_US

static void test_rtt_initial_rto_is_one_second(void **state)
{
    (void)state;
    struct tcp_rtt r;
    assert_int_equal(tcp_rtt_init(&r, NULL), 0);
    assert_int_equal(tcp_rtt_rto(&r), 1000 * MS);
    assert_int_equal(tcp_rtt_srtt(&r), 0);
}

/* Reference model: RFC 6298 2.2/2.3 in plain floating point. */
static void test_rtt_estimator_matches_rfc6298(void **state)
{
    (void)state;
    struct tcp_rtt_cfg cfg = {.rto_min_ns = 1, .rto_max_ns = 120 * DM_NS_PER_S,
                              .granularity_ns = 1 * US};
    struct tcp_rtt r;
    assert_int_equal(tcp_rtt_init(&r, &cfg), 0);
    const int64_t samples[] = {100 * MS, 120 * MS, 80 * MS, 300 * MS, 90 * MS, 95 * MS, 100 * MS, 2 * MS};
    double srtt = 0, var = 0;
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        double s = (double)samples[i];
        if (i == 0) {
            srtt = s;
            var = s / 2;
        } else {
            var = 0.75 * var + 0.25 * (srtt > s ? srtt - s : s - srtt);
            srtt = 0.875 * srtt + 0.125 * s;
        }
        assert_int_equal(tcp_rtt_sample(&r, samples[i]), 0);
        double rto = srtt + (4 * var > 1000 ? 4 * var : 1000);
        /* integer ns arithmetic: within a few ns of the exact value */
        assert_true(llabs(tcp_rtt_srtt(&r) - (int64_t)srtt) <= 8);
        assert_true(llabs(tcp_rtt_rttvar(&r) - (int64_t)var) <= 8);
        assert_true(llabs(tcp_rtt_rto(&r) - (int64_t)rto) <= 40);
    }
}

static void test_rtt_rto_clamped_to_min_and_granularity(void **state)
{
    (void)state;
    struct tcp_rtt r;
    tcp_rtt_init(&r, NULL);
    /* 10 us LAN RTT: RFC formula gives 30 us, the 200 ms floor wins */
    tcp_rtt_sample(&r, 10 * US);
    assert_int_equal(tcp_rtt_rto(&r), 200 * MS);

    struct tcp_rtt_cfg cfg = {.rto_min_ns = 1 * US, .granularity_ns = 50 * US};
    tcp_rtt_init(&r, &cfg);
    for (int i = 0; i < 200; i++)
        tcp_rtt_sample(&r, 10 * US);       /* RTTVAR decays to ~0 */
    assert_true(tcp_rtt_rttvar(&r) < 1 * US);
    assert_int_equal(tcp_rtt_srtt(&r), 10 * US);
    /* G dominates 4*RTTVAR: RTO = SRTT + G */
    assert_int_equal(tcp_rtt_rto(&r), 60 * US);
}

static void test_rtt_backoff_doubles_until_cap(void **state)
{
    (void)state;
    struct tcp_rtt_cfg cfg = {.rto_max_ns = 60 * DM_NS_PER_S};
    struct tcp_rtt r;
    tcp_rtt_init(&r, &cfg);
    int64_t expect = 1000 * MS;
    assert_int_equal(tcp_rtt_rto(&r), expect);
    for (int i = 1; i <= 300; i++) {       /* far past the counter's 255 saturation */
        int64_t rto = tcp_rtt_backoff(&r);
        expect = expect * 2 > 60 * DM_NS_PER_S ? 60 * DM_NS_PER_S : expect * 2;
        assert_int_equal(rto, expect);
        assert_int_equal(tcp_rtt_rto(&r), expect);
    }
    assert_int_equal(tcp_rtt_backoffs(&r), 255);
    /* new ACK: back to the un-backed-off value */
    tcp_rtt_ack_reset(&r);
    assert_int_equal(tcp_rtt_backoffs(&r), 0);
    assert_int_equal(tcp_rtt_rto(&r), 1000 * MS);
}

static void test_rtt_karn_no_sample_from_retransmission(void **state)
{
    (void)state;
    struct tcp_rtt r;
    tcp_rtt_init(&r, NULL);
    int64_t t0 = 5 * DM_NS_PER_S;
    tcp_rtt_time_start(&r, 0xfffffff0u + 1460, t0);  /* end seq wraps */
    /* a second start while timing must not restart the clock */
    tcp_rtt_time_start(&r, 0x5000, t0 + 10 * MS);
    /* partial ACK below the timed end: no sample */
    assert_false(tcp_rtt_on_ack(&r, 0xfffffff0u + 100, t0 + 40 * MS));
    /* covering ACK (past the wrap): sample = 50 ms */
    assert_true(tcp_rtt_on_ack(&r, 0xfffffff0u + 2000, t0 + 50 * MS));
    assert_int_equal(tcp_rtt_srtt(&r), 50 * MS);

    /* Karn: the timed segment is retransmitted -> its ACK gives no sample */
    tcp_rtt_time_start(&r, 9000, t0 + 100 * MS);
    tcp_rtt_time_cancel(&r);
    assert_false(tcp_rtt_on_ack(&r, 9000, t0 + 5000 * MS));
    assert_int_equal(tcp_rtt_srtt(&r), 50 * MS);

    /* A timeout cancels timing too (the segment will be resent). */
    tcp_rtt_time_start(&r, 12000, t0 + 200 * MS);
    tcp_rtt_backoff(&r);
    assert_false(tcp_rtt_on_ack(&r, 12000, t0 + 3000 * MS));
    assert_int_equal(tcp_rtt_srtt(&r), 50 * MS);
}

static void test_rtt_timestamp_samples(void **state)
{
    (void)state;
    struct tcp_rtt r;
    tcp_rtt_init(&r, NULL);
    /* TS clock wrapped between send and echo: 0xfffffffe -> 3 is 5 ticks */
    assert_int_equal(tcp_rtt_sample_ts(&r, 0xfffffffeu, 3, TCP_TS_TICK_NS), 0);
    assert_int_equal(tcp_rtt_srtt(&r), 5 * MS);
    /* echo from the future or no echo: rejected, state unchanged */
    assert_int_equal(tcp_rtt_sample_ts(&r, 100, 50, TCP_TS_TICK_NS), -EINVAL);
    assert_int_equal(tcp_rtt_sample_ts(&r, 0, 50, TCP_TS_TICK_NS), -EINVAL);
    assert_int_equal(tcp_rtt_srtt(&r), 5 * MS);
    assert_int_equal(tcp_ts_clock(1234 * MS + 999999), 1234u);
}

static void test_rtt_hostile_inputs(void **state)
{
    (void)state;
    struct tcp_rtt r;
    struct tcp_rtt_cfg bad = {.rto_min_ns = 10 * DM_NS_PER_S, .rto_max_ns = 1 * DM_NS_PER_S};
    assert_int_equal(tcp_rtt_init(&r, &bad), -EINVAL);
    assert_int_equal(tcp_rtt_rto(&r), 1000 * MS);      /* defaults */
    struct tcp_rtt_cfg neg = {.rto_min_ns = -1};
    assert_int_equal(tcp_rtt_init(&r, &neg), -EINVAL);
    assert_int_equal(tcp_rtt_sample(&r, -5), -EINVAL);
    assert_int_equal(tcp_rtt_srtt(&r), 0);
    /* a huge sample (clock jump) is capped at rto_max and cannot overflow */
    assert_int_equal(tcp_rtt_sample(&r, INT64_MAX), 0);
    assert_int_equal(tcp_rtt_rto(&r), TCP_RTO_MAX_NS);
    assert_int_equal(tcp_rtt_sample(&r, INT64_MAX), 0);
    assert_true(tcp_rtt_srtt(&r) > 0);
    assert_int_equal(tcp_rtt_rto(&r), TCP_RTO_MAX_NS);
}

static void test_rtt_syn_timeout_fallback_3s(void **state)
{
    (void)state;
    struct tcp_rtt r;
    tcp_rtt_init(&r, NULL);
    tcp_rtt_backoff(&r);                   /* SYN timed out once */
    tcp_rtt_ack_reset(&r);
    tcp_rtt_syn_fallback(&r);
    assert_int_equal(tcp_rtt_rto(&r), 3 * DM_NS_PER_S);
    /* with a sample, the fallback does not apply */
    tcp_rtt_init(&r, NULL);
    tcp_rtt_sample(&r, 10 * MS);
    tcp_rtt_syn_fallback(&r);
    assert_int_equal(tcp_rtt_rto(&r), 200 * MS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rtt_initial_rto_is_one_second),
        cmocka_unit_test(test_rtt_estimator_matches_rfc6298),
        cmocka_unit_test(test_rtt_rto_clamped_to_min_and_granularity),
        cmocka_unit_test(test_rtt_backoff_doubles_until_cap),
        cmocka_unit_test(test_rtt_karn_no_sample_from_retransmission),
        cmocka_unit_test(test_rtt_timestamp_samples),
        cmocka_unit_test(test_rtt_hostile_inputs),
        cmocka_unit_test(test_rtt_syn_timeout_fallback_3s),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
