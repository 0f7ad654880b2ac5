/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Saturating arithmetic: sums that stick at the range's ends, counters that never go
 * below zero, durations from doubles that are defined whatever the double. */
#include <math.h>

#include "aop_sat.h"
#include "check_suites.h"

START_TEST(add_and_sub_stick_at_the_ends)
{
    ck_assert_int_eq(aop_sat_add(1, 2), 3);
    ck_assert_int_eq(aop_sat_add(APR_INT64_MAX, 1), APR_INT64_MAX);
    ck_assert_int_eq(aop_sat_add(APR_INT64_MAX, APR_INT64_MAX), APR_INT64_MAX);
    ck_assert_int_eq(aop_sat_add(APR_INT64_MIN, -1), APR_INT64_MIN);
    ck_assert_int_eq(aop_sat_add(APR_INT64_MAX, APR_INT64_MIN), -1);
    ck_assert_int_eq(aop_sat_sub(5, 7), -2);
    ck_assert_int_eq(aop_sat_sub(APR_INT64_MIN, 1), APR_INT64_MIN);
    ck_assert_int_eq(aop_sat_sub(0, APR_INT64_MIN), APR_INT64_MAX);
    ck_assert_int_eq(aop_sat_sub(APR_INT64_MAX, -1), APR_INT64_MAX);
}
END_TEST

START_TEST(mul_sticks_at_the_ends)
{
    /* The report's case: 2^62 tokens times n = 4. */
    ck_assert_int_eq(aop_sat_mul(APR_INT64_C(1) << 62, 4), APR_INT64_MAX);
    ck_assert_int_eq(aop_sat_mul(APR_INT64_MAX, 128), APR_INT64_MAX);
    ck_assert_int_eq(aop_sat_mul(APR_INT64_C(1) << 62, -4), APR_INT64_MIN);
    ck_assert_int_eq(aop_sat_mul(2147483647, 128), APR_INT64_C(274877906816));
    ck_assert_int_eq(aop_sat_mul(-3, -4), 12);
}
END_TEST

START_TEST(nonneg_counters)
{
    ck_assert_int_eq(aop_sat_add_nonneg(10, 5), 15);
    ck_assert_int_eq(aop_sat_add_nonneg(10, -5), 10);          /* a negative adds nothing */
    ck_assert_int_eq(aop_sat_add_nonneg(-10, 5), 5);
    ck_assert_int_eq(aop_sat_add_nonneg(APR_INT64_MAX, APR_INT64_MAX), APR_INT64_MAX);
    ck_assert_int_eq(aop_sat_sub_nonneg(10, 4), 6);
    ck_assert_int_eq(aop_sat_sub_nonneg(10, 40), 0);            /* never below zero */
    ck_assert_int_eq(aop_sat_sub_nonneg(10, -40), 10);          /* nor up by a negative */
    ck_assert_int_eq(aop_sat_sub_nonneg(APR_INT64_MAX, APR_INT64_MIN), APR_INT64_MAX);
    ck_assert_int_eq(aop_sat_clamp(7, 0, 5), 5);
    ck_assert_int_eq(aop_sat_clamp(-7, 0, 5), 0);
    ck_assert_int_eq(aop_sat_clamp(3, 0, 5), 3);
}
END_TEST

START_TEST(unsigned_counters)
{
    ck_assert_uint_eq(aop_sat_addu(APR_UINT64_MAX - 1, 5), APR_UINT64_MAX);
    ck_assert_uint_eq(aop_sat_addu(1, 2), 3);
    ck_assert_uint_eq(aop_sat_subu(3, 5), 0);
    ck_assert_uint_eq(aop_sat_subu(5, 3), 2);
}
END_TEST

START_TEST(durations_from_doubles)
{
    ck_assert_int_eq(aop_sat_usec(1500.0, 1000000), 1500);
    ck_assert_int_eq(aop_sat_usec(1e300, 1000000), 1000000);
    ck_assert_int_eq(aop_sat_usec(INFINITY, 1000000), 1000000);
    ck_assert_int_eq(aop_sat_usec(NAN, 1000000), -1);
    ck_assert_int_eq(aop_sat_usec(-1.0, 1000000), -1);
    ck_assert_int_eq(aop_sat_usec(9.3e18, APR_INT64_MAX), APR_INT64_MAX);
}
END_TEST

Suite *aop_sat_suite(void)
{
    Suite *s = suite_create("sat");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, add_and_sub_stick_at_the_ends);
    tcase_add_test(tc, mul_sticks_at_the_ends);
    tcase_add_test(tc, nonneg_counters);
    tcase_add_test(tc, unsigned_counters);
    tcase_add_test(tc, durations_from_doubles);
    suite_add_tcase(s, tc);
    return s;
}
