/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The circuit breaker's half-open state: one probe at a time after a failure, its
 * window, and a closed circuit that never holds anything back. */
#include <math.h>

#include "aop_circuit.h"
#include "check_suites.h"

#define T0 apr_time_from_sec(1800000000)
#define WINDOW apr_time_from_sec(4)

START_TEST(closed_circuit_admits_everything)
{
    ck_assert(aop_circuit_admits(0, 0, T0));
    /* A stale probe time from an earlier failure does not matter once closed. */
    ck_assert(aop_circuit_admits(0, T0 + WINDOW, T0));
    ck_assert_int_eq(aop_circuit_sent(0, T0 + WINDOW, T0, WINDOW), 0);
}
END_TEST

START_TEST(half_open_admits_one_probe_at_a_time)
{
    apr_time_t probe;

    ck_assert(aop_circuit_admits(1, 0, T0));
    probe = aop_circuit_sent(1, 0, T0, WINDOW);
    ck_assert_int_eq(probe, T0 + WINDOW);
    /* While the probe is out, nobody else goes. */
    ck_assert(!aop_circuit_admits(1, probe, T0));
    ck_assert(!aop_circuit_admits(3, probe, T0 + WINDOW - 1));
    /* A send that was not admitted does not push the probe's deadline. */
    ck_assert_int_eq(aop_circuit_sent(1, probe, T0 + 10, WINDOW), probe);
    /* The probe never reported (its process died): the next one may go. */
    ck_assert(aop_circuit_admits(1, probe, T0 + WINDOW));
    ck_assert_int_eq(aop_circuit_sent(1, probe, T0 + WINDOW, WINDOW), T0 + 2 * WINDOW);
}
END_TEST

START_TEST(window_is_the_timeout_and_a_second)
{
    ck_assert_int_eq(aop_circuit_window(3.0), apr_time_from_sec(4));
    ck_assert_int_eq(aop_circuit_window(0.5), apr_time_from_msec(1500));
    ck_assert_int_eq(aop_circuit_window(0.0), apr_time_from_sec(1));
    ck_assert_int_eq(aop_circuit_window(-5.0), apr_time_from_sec(1));
    ck_assert_int_eq(aop_circuit_window(1e300), apr_time_from_sec(86401));
    ck_assert_int_eq(aop_circuit_window(NAN), apr_time_from_sec(1));
    ck_assert_int_eq(aop_circuit_sent(1, 0, T0, -1), T0);
}
END_TEST

START_TEST(backoff_doubles_from_the_second_failure_capped)
{
    apr_interval_time_t base = apr_time_from_sec(2);

    ck_assert_int_eq(aop_circuit_backoff(base, 0), base);
    ck_assert_int_eq(aop_circuit_backoff(base, 1), base);
    ck_assert_int_eq(aop_circuit_backoff(base, 2), 2 * base);
    ck_assert_int_eq(aop_circuit_backoff(base, 3), 4 * base);
    ck_assert_int_eq(aop_circuit_backoff(base, 4), 4 * base);
    ck_assert_int_eq(aop_circuit_backoff(base, 7), 4 * base);
    ck_assert_int_eq(aop_circuit_backoff(base, APR_UINT32_MAX), 4 * base);
    /* The cap: 100 s x 4 would be 400 s. */
    ck_assert_int_eq(aop_circuit_backoff(apr_time_from_sec(100), 4), AOP_CIRCUIT_BACKOFF_MAX);
    /* A base longer than the cap stands as it is; a negative one is none. */
    ck_assert_int_eq(aop_circuit_backoff(apr_time_from_sec(900), 9), apr_time_from_sec(900));
    ck_assert_int_eq(aop_circuit_backoff(-5, 3), 0);
}
END_TEST

START_TEST(states_closed_open_half_open)
{
    ck_assert_int_eq(aop_circuit_state(0, 0, T0), AOP_CIRCUIT_CLOSED);
    /* A 429 rests without a failure: open, then closed again. */
    ck_assert_int_eq(aop_circuit_state(0, T0 + 1, T0), AOP_CIRCUIT_OPEN);
    ck_assert_int_eq(aop_circuit_state(0, T0 + 1, T0 + 1), AOP_CIRCUIT_CLOSED);
    ck_assert_int_eq(aop_circuit_state(2, T0 + 1, T0), AOP_CIRCUIT_OPEN);
    ck_assert_int_eq(aop_circuit_state(2, T0 + 1, T0 + 1), AOP_CIRCUIT_HALF_OPEN);
    ck_assert_str_eq(aop_circuit_state_name(AOP_CIRCUIT_CLOSED), "closed");
    ck_assert_str_eq(aop_circuit_state_name(AOP_CIRCUIT_OPEN), "open");
    ck_assert_str_eq(aop_circuit_state_name(AOP_CIRCUIT_HALF_OPEN), "half_open");
}
END_TEST

Suite *aop_circuit_suite(void)
{
    Suite *s = suite_create("circuit");
    TCase *tc = tcase_create("half_open");

    tcase_add_test(tc, closed_circuit_admits_everything);
    tcase_add_test(tc, half_open_admits_one_probe_at_a_time);
    tcase_add_test(tc, window_is_the_timeout_and_a_second);
    tcase_add_test(tc, backoff_doubles_from_the_second_failure_capped);
    tcase_add_test(tc, states_closed_open_half_open);
    suite_add_tcase(s, tc);
    return s;
}
