/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Cooldowns from rate-limit headers: order of precedence, formats, caps. */
#include <string.h>

#include <apr_date.h>

#include "aop_cooldown.h"
#include "check_suites.h"

static const char *const *headers;

static const char *get(void *baton, const char *name)
{
    int i;

    for (i = 0; headers[i]; i += 2) {
        if (strcasecmp(headers[i], name) == 0) {
            return headers[i + 1];
        }
    }
    return NULL;
}

static apr_interval_time_t cooldown(const char *const *h)
{
    headers = h;
    return aop_cooldown_from_headers(get, NULL, apr_time_from_sec(1800000000),
                                     apr_time_from_sec(10));
}

START_TEST(precedence)
{
    const char *const all[] = { "Retry-After", "3", "retry-after-ms", "1500",
                                "x-ratelimit-reset-tokens", "20", NULL };
    const char *const no_ms[] = { "Retry-After", "3", "x-ratelimit-reset-tokens", "20", NULL };
    const char *const resets[] = { "x-ratelimit-reset-requests", "7",
                                   "x-ratelimit-reset-tokens", "20", NULL };
    const char *const none[] = { "Content-Type", "application/json", NULL };

    ck_assert_int_eq(cooldown(all), 1500000);
    ck_assert_int_eq(cooldown(no_ms), apr_time_from_sec(3));
    ck_assert_int_eq(cooldown(resets), apr_time_from_sec(20));   /* tokens first */
    ck_assert_int_eq(cooldown(none), apr_time_from_sec(10));
}
END_TEST

START_TEST(formats)
{
    const char *const date[] = { "Retry-After", "Fri, 15 Jan 2027 08:00:30 GMT", NULL };
    const char *const past[] = { "Retry-After", "Mon, 01 Jan 2001 00:00:00 GMT", NULL };
    const char *const junk[] = { "Retry-After", "soon", "x-ratelimit-reset-tokens", "1m", NULL };
    const char *const huge[] = { "Retry-After", "999999", NULL };
    apr_interval_time_t d;

    headers = date;
    d = aop_cooldown_from_headers(get, NULL,
                                  apr_date_parse_http("Fri, 15 Jan 2027 08:00:00 GMT"), 0);
    ck_assert_int_eq(d, apr_time_from_sec(30));
    ck_assert_int_eq(cooldown(past), 0);
    ck_assert_int_eq(cooldown(junk), apr_time_from_sec(60));
    ck_assert_int_eq(cooldown(huge), AOP_COOLDOWN_MAX);
    ck_assert_int_eq(aop_cooldown_parse_duration("6m0s"), apr_time_from_sec(360));
    ck_assert_int_eq(aop_cooldown_parse_duration("1.5s"), 1500000);
    ck_assert_int_eq(aop_cooldown_parse_duration("250ms"), 250000);
    ck_assert_int_eq(aop_cooldown_parse_duration("1h2m"), apr_time_from_sec(3720));
    ck_assert_int_eq(aop_cooldown_parse_duration("12"), apr_time_from_sec(12));
    ck_assert_int_eq(aop_cooldown_parse_duration("0.5"), 500000);
    ck_assert_int_eq(aop_cooldown_parse_duration("5x"), -1);
    ck_assert_int_eq(aop_cooldown_parse_duration(""), -1);
    ck_assert_int_eq(aop_cooldown_parse_duration("-3"), -1);
}
END_TEST

/* Issue 12: header values that strtod takes but that are no duration (inf, nan,
 * exponents far beyond the range) were converted to an integer out of range. */
START_TEST(wild_values_are_bounded)
{
    const char *const ms_huge[] = { "retry-after-ms", "1e300", "Retry-After", "4", NULL };
    const char *const ms_digits[] = { "retry-after-ms", "99999999999999999999999999", NULL };
    const char *const ms_nan[] = { "retry-after-ms", "nan", "Retry-After", "4", NULL };
    const char *const ra_inf[] = { "Retry-After", "inf", NULL };
    const char *const ra_digits[] = { "Retry-After", "999999999999999999999999999999", NULL };
    const char *const reset_huge[] = { "x-ratelimit-reset-tokens", "99999999999999999999h",
                                       NULL };

    ck_assert_int_eq(cooldown(ms_huge), apr_time_from_sec(4));       /* not a number: next */
    ck_assert_int_eq(cooldown(ms_digits), AOP_COOLDOWN_MAX);
    ck_assert_int_eq(cooldown(ms_nan), apr_time_from_sec(4));
    ck_assert_int_eq(cooldown(ra_inf), apr_time_from_sec(10));       /* the default */
    ck_assert_int_eq(cooldown(ra_digits), AOP_COOLDOWN_MAX);
    ck_assert_int_eq(cooldown(reset_huge), AOP_COOLDOWN_MAX);
    ck_assert_int_eq(aop_cooldown_parse_duration("99999999999999999999h"), AOP_DURATION_MAX);
    ck_assert_int_eq(aop_cooldown_parse_duration("1e999"), -1);
    ck_assert_int_eq(aop_cooldown_parse_duration("inf"), -1);
    ck_assert_int_eq(aop_cooldown_parse_duration("nan"), -1);
    ck_assert_int_eq(aop_cooldown_parse_duration("0x10"), -1);
    ck_assert_int_eq(aop_cooldown_parse_duration("."), -1);
    ck_assert_int_eq(aop_cooldown_parse_duration("25h"), AOP_DURATION_MAX);
    ck_assert_int_eq(aop_cooldown_parse_duration(".5s"), 500000);
}
END_TEST

Suite *aop_cooldown_suite(void)
{
    Suite *s = suite_create("aop_cooldown");
    TCase *tc = tcase_create("cooldown");

    tcase_add_test(tc, precedence);
    tcase_add_test(tc, formats);
    tcase_add_test(tc, wild_values_are_bounded);
    suite_add_tcase(s, tc);
    return s;
}
