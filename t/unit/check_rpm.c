/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Azure's RPM windows: RPM/60 in any second, RPM/6 in any ten, rounded down and at
 * least one; buckets reused as seconds pass; bounds. */
#include <string.h>

#include "aop_rpm.h"
#include "check_suites.h"

#define T0 1800000000

START_TEST(limits_per_window)
{
    ck_assert_int_eq(aop_rpm_per_second(0), 0);
    ck_assert_int_eq(aop_rpm_per_ten_seconds(0), 0);
    ck_assert_int_eq(aop_rpm_per_second(900), 15);
    ck_assert_int_eq(aop_rpm_per_ten_seconds(900), 150);
    /* Rounded down, never below one. */
    ck_assert_int_eq(aop_rpm_per_second(119), 1);
    ck_assert_int_eq(aop_rpm_per_ten_seconds(119), 19);
    ck_assert_int_eq(aop_rpm_per_second(12), 1);
    ck_assert_int_eq(aop_rpm_per_ten_seconds(12), 2);
    ck_assert_int_eq(aop_rpm_per_second(1), 1);
    ck_assert_int_eq(aop_rpm_per_ten_seconds(1), 1);
    /* Held at AOP_RPM_MAX. */
    ck_assert_int_eq(aop_rpm_per_second(APR_INT64_MAX), AOP_RPM_MAX / 60);
    ck_assert_int_eq(aop_rpm_per_ten_seconds(-7), 0);
}
END_TEST

START_TEST(one_second_window)
{
    aop_rpm_t t;
    int i;

    memset(&t, 0, sizeof(t));
    ck_assert(aop_rpm_fits(&t, 0, T0));
    /* 600 RPM: 10 a second, 100 in ten. */
    for (i = 0; i < 10; i++) {
        ck_assert(aop_rpm_fits(&t, 600, T0));
        aop_rpm_take(&t, T0);
    }
    ck_assert(!aop_rpm_fits(&t, 600, T0));
    ck_assert(aop_rpm_fits(&t, 0, T0));
    ck_assert_int_eq(aop_rpm_in_second(&t, T0), 10);
    ck_assert_int_eq(aop_rpm_fits_at(&t, 600, T0), T0 + 1);
    ck_assert(aop_rpm_fits(&t, 600, T0 + 1));
    ck_assert_int_eq(aop_rpm_in_second(&t, T0 + 1), 0);
}
END_TEST

START_TEST(ten_second_window)
{
    aop_rpm_t t;
    int i;

    memset(&t, 0, sizeof(t));
    /* 12 RPM: 1 a second, 2 in ten. */
    ck_assert(aop_rpm_fits(&t, 12, T0));
    aop_rpm_take(&t, T0);
    ck_assert(!aop_rpm_fits(&t, 12, T0));
    ck_assert(aop_rpm_fits(&t, 12, T0 + 3));
    aop_rpm_take(&t, T0 + 3);
    for (i = 3; i < 10; i++) {
        ck_assert(!aop_rpm_fits(&t, 12, T0 + i));
    }
    ck_assert_int_eq(aop_rpm_in_ten(&t, T0 + 9), 2);
    ck_assert_int_eq(aop_rpm_fits_at(&t, 12, T0 + 4), T0 + 10);
    /* T0's request left the window at T0 + 10: one fits again. */
    ck_assert(aop_rpm_fits(&t, 12, T0 + 10));
    ck_assert_int_eq(aop_rpm_in_ten(&t, T0 + 10), 1);
    aop_rpm_take(&t, T0 + 10);     /* reuses T0's bucket */
    ck_assert_int_eq(aop_rpm_in_second(&t, T0 + 10), 1);
    ck_assert_int_eq(aop_rpm_in_ten(&t, T0 + 10), 2);
    ck_assert_int_eq(aop_rpm_in_ten(&t, T0 + 100), 0);
}
END_TEST

START_TEST(counts_are_bounded)
{
    aop_rpm_t t;

    memset(&t, 0, sizeof(t));
    t.sec[T0 % AOP_RPM_BUCKETS] = T0;
    t.count[T0 % AOP_RPM_BUCKETS] = APR_UINT32_MAX;
    aop_rpm_take(&t, T0);
    ck_assert_uint_eq(t.count[T0 % AOP_RPM_BUCKETS], APR_UINT32_MAX);
    ck_assert(!aop_rpm_fits(&t, AOP_RPM_MAX, T0));
    /* A clock at 0 or before counts nowhere it could be mistaken for now. */
    ck_assert_int_eq(aop_rpm_in_second(&t, 0), 0);
    ck_assert_int_eq(aop_rpm_fits_at(&t, 12, T0), T0 + AOP_RPM_BUCKETS);
    aop_rpm_take(&t, -5);
    ck_assert_int_eq(aop_rpm_in_ten(&t, T0), 0);
}
END_TEST

Suite *aop_rpm_suite(void)
{
    Suite *s = suite_create("rpm");
    TCase *tc = tcase_create("windows");

    tcase_add_test(tc, limits_per_window);
    tcase_add_test(tc, one_second_window);
    tcase_add_test(tc, ten_second_window);
    tcase_add_test(tc, counts_are_bounded);
    suite_add_tcase(s, tc);
    return s;
}
