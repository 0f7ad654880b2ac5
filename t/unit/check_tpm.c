/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* TPM windows: one-second buckets over 60 seconds, reservations, Azure's count. */
#include "aop_tpm.h"
#include "check_suites.h"

static const apr_int64_t T0 = 1800000000;

START_TEST(window_rolls)
{
    aop_tpm_t t;

    aop_tpm_init(&t);
    aop_tpm_commit(&t, 0, 100, T0);
    aop_tpm_commit(&t, 0, 50, T0 + 30);
    ck_assert_int_eq(aop_tpm_used(&t, T0), 100);
    ck_assert_int_eq(aop_tpm_used(&t, T0 + 30), 150);
    ck_assert_int_eq(aop_tpm_used(&t, T0 + 59), 150);
    ck_assert_int_eq(aop_tpm_used(&t, T0 + 60), 50);      /* the first second left */
    ck_assert_int_eq(aop_tpm_used(&t, T0 + 90), 0);
    /* A bucket reused 60 s later starts from zero. */
    aop_tpm_commit(&t, 0, 7, T0 + 60);
    ck_assert_int_eq(aop_tpm_used(&t, T0 + 60), 57);
}
END_TEST

START_TEST(reservations_count_until_committed)
{
    aop_tpm_t t;

    aop_tpm_init(&t);
    aop_tpm_reserve(&t, 600);
    ck_assert(aop_tpm_fits(&t, 1000, 400, T0));
    ck_assert(!aop_tpm_fits(&t, 1000, 401, T0));
    aop_tpm_commit(&t, 600, 150, T0);                      /* it used less */
    ck_assert_int_eq(t.reserved, 0);
    ck_assert(aop_tpm_fits(&t, 1000, 850, T0));
    ck_assert(!aop_tpm_fits(&t, 1000, 851, T0));
    aop_tpm_commit(&t, 999, 0, T0);                        /* never below zero */
    ck_assert_int_eq(t.reserved, 0);
    ck_assert(aop_tpm_fits(&t, 0, 1 << 30, T0));           /* unlimited */
}
END_TEST

START_TEST(oversized_request_needs_an_empty_window)
{
    aop_tpm_t t;

    aop_tpm_init(&t);
    ck_assert(aop_tpm_fits(&t, 1000, 5000, T0));
    aop_tpm_commit(&t, 0, 1, T0);
    ck_assert(!aop_tpm_fits(&t, 1000, 5000, T0));
    ck_assert_int_eq(aop_tpm_fits_at(&t, 1000, 5000, T0 + 10), T0 + 60);
}
END_TEST

START_TEST(fits_at_finds_when_budget_frees)
{
    aop_tpm_t t;

    aop_tpm_init(&t);
    aop_tpm_commit(&t, 0, 400, T0);
    aop_tpm_commit(&t, 0, 400, T0 + 20);
    ck_assert_int_eq(aop_tpm_fits_at(&t, 1000, 200, T0 + 25), T0 + 25);
    /* 300 more needs the first 400 gone: at T0 + 60. */
    ck_assert_int_eq(aop_tpm_fits_at(&t, 1000, 300, T0 + 25), T0 + 60);
    /* 700 needs both gone: at T0 + 80. */
    ck_assert_int_eq(aop_tpm_fits_at(&t, 1000, 700, T0 + 25), T0 + 80);
}
END_TEST

START_TEST(remote_remaining_bounds_the_budget)
{
    aop_tpm_t t;

    aop_tpm_init(&t);
    aop_tpm_remote(&t, 300, T0);
    ck_assert(aop_tpm_fits(&t, 0, 300, T0 + 1));
    ck_assert(!aop_tpm_fits(&t, 0, 301, T0 + 1));
    aop_tpm_commit(&t, 0, 100, T0 + 2);                    /* spends from Azure's count */
    ck_assert(!aop_tpm_fits(&t, 100000, 201, T0 + 2));
    ck_assert_int_eq(aop_tpm_fits_at(&t, 100000, 201, T0 + 2), T0 + 60);
    ck_assert(aop_tpm_fits(&t, 100000, 5000, T0 + 60));   /* stale after a minute */
}
END_TEST

/* The window summed from the buckets, whatever the cache says. */
static apr_int64_t uncached(const aop_tpm_t *t, apr_int64_t now)
{
    aop_tpm_t copy = *t;

    copy.cache_sec = 0;
    return aop_tpm_used(&copy, now);
}

START_TEST(cache_follows_commits_and_seconds)
{
    aop_tpm_t t;
    apr_int64_t s;

    aop_tpm_init(&t);
    for (s = 0; s < 150; s++) {
        aop_tpm_refresh(&t, T0 + s);
        aop_tpm_commit(&t, 0, 10 + s % 7, T0 + s);
        aop_tpm_commit(&t, 0, 3, T0 + s);
        ck_assert_int_eq(aop_tpm_used(&t, T0 + s), uncached(&t, T0 + s));
    }
    /* A cache of an older second is never used for a newer one. */
    aop_tpm_refresh(&t, T0 + 149);
    ck_assert_int_eq(aop_tpm_used(&t, T0 + 300), 0);
}
END_TEST

/* The lock-free hint agrees with aop_tpm_fits() while the cache is this second's,
 * says "maybe" otherwise, and never hides Azure's own "no". */
START_TEST(hint_uses_only_this_seconds_cache)
{
    aop_tpm_t t;

    aop_tpm_init(&t);
    aop_tpm_refresh(&t, T0);
    aop_tpm_commit(&t, 0, 900, T0);
    ck_assert_int_eq(aop_tpm_fits_hint(&t, 1000, 50, T0), aop_tpm_fits(&t, 1000, 50, T0));
    ck_assert_int_eq(aop_tpm_fits_hint(&t, 1000, 200, T0), 0);
    ck_assert_int_eq(aop_tpm_fits(&t, 1000, 200, T0), 0);
    /* next second: the window still holds the 900, but the cache is old: maybe */
    ck_assert_int_eq(aop_tpm_fits_hint(&t, 1000, 200, T0 + 1), 1);
    ck_assert_int_eq(aop_tpm_fits(&t, 1000, 200, T0 + 1), 0);
    aop_tpm_refresh(&t, T0 + 1);
    ck_assert_int_eq(aop_tpm_fits_hint(&t, 1000, 200, T0 + 1), 0);
    ck_assert_int_eq(aop_tpm_fits_hint(&t, 0, 1000000, T0 + 1), 1);
    aop_tpm_remote(&t, 10, T0 + 1);
    ck_assert_int_eq(aop_tpm_fits_hint(&t, 0, 100, T0 + 1), 0);
}
END_TEST

/* Issue 12: a reservation of -9.2e18 let a request pass a spent budget and left
 * reserved at +9.2e18 after it ended, so that max_tpm was never enforced again.
 * Every sum now saturates, and reserved never goes below zero. */
START_TEST(wild_numbers_never_wrap_a_budget)
{
    aop_tpm_t t;

    aop_tpm_init(&t);
    aop_tpm_commit(&t, 0, 1000, T0);                       /* the budget is spent */
    ck_assert(!aop_tpm_fits(&t, 1000, 1, T0));
    ck_assert(!aop_tpm_fits(&t, 1000, APR_INT64_MAX, T0));
    /* A negative estimate counts as 0: it cannot make room in a spent budget. */
    ck_assert(!aop_tpm_fits(&t, 999, APR_INT64_MIN, T0));
    ck_assert_int_eq(aop_tpm_fits(&t, 1000, APR_INT64_MIN, T0), aop_tpm_fits(&t, 1000, 0, T0));
    /* A reservation at the top of the range: nothing else fits, and it goes back. */
    aop_tpm_reserve(&t, APR_INT64_MAX);
    aop_tpm_reserve(&t, 5);
    ck_assert_int_eq(t.reserved, APR_INT64_MAX);
    ck_assert(!aop_tpm_fits(&t, APR_INT64_MAX - 1, 1, T0));
    aop_tpm_refresh(&t, T0);
    ck_assert(!aop_tpm_fits_hint(&t, 1000, 1, T0));
    aop_tpm_commit(&t, APR_INT64_MAX, 0, T0);
    ck_assert_int_eq(t.reserved, 0);
    /* A negative reservation is none: it cannot make room, nor be "given back" into
     * a positive balance. */
    aop_tpm_reserve(&t, -APR_INT64_C(9200000000000000000));
    ck_assert_int_eq(t.reserved, 0);
    aop_tpm_commit(&t, -APR_INT64_C(9200000000000000000), 0, T0);
    ck_assert_int_eq(t.reserved, 0);
    ck_assert(!aop_tpm_fits(&t, 1000, 1, T0));
    ck_assert(!aop_tpm_fits(&t, 999, -5, T0));
    /* Usage counts at the top of the range: held there, the window still sums. */
    aop_tpm_commit(&t, 0, APR_INT64_MAX, T0 + 1);
    aop_tpm_commit(&t, 0, APR_INT64_MAX, T0 + 1);
    aop_tpm_commit(&t, 0, APR_INT64_MAX, T0 + 2);
    ck_assert_int_eq(aop_tpm_used(&t, T0 + 2), APR_INT64_MAX);
    aop_tpm_refresh(&t, T0 + 3);
    ck_assert_int_eq(t.cache_used, APR_INT64_MAX);
    aop_tpm_commit(&t, 0, 10, T0 + 3);
    ck_assert_int_eq(aop_tpm_used(&t, T0 + 3), APR_INT64_MAX);
    ck_assert(!aop_tpm_fits(&t, APR_INT64_MAX - 1, 1, T0 + 3));
    ck_assert_int_eq(aop_tpm_fits_at(&t, 1000, 1, T0 + 3), T0 + 62);   /* T0 + 2 left */
    ck_assert(aop_tpm_fits(&t, 1000, 1, T0 + 62));
}
END_TEST

Suite *aop_tpm_suite(void)
{
    Suite *s = suite_create("aop_tpm");
    TCase *tc = tcase_create("tpm");

    tcase_add_test(tc, window_rolls);
    tcase_add_test(tc, reservations_count_until_committed);
    tcase_add_test(tc, oversized_request_needs_an_empty_window);
    tcase_add_test(tc, fits_at_finds_when_budget_frees);
    tcase_add_test(tc, remote_remaining_bounds_the_budget);
    tcase_add_test(tc, cache_follows_commits_and_seconds);
    tcase_add_test(tc, hint_uses_only_this_seconds_cache);
    tcase_add_test(tc, wild_numbers_never_wrap_a_budget);
    suite_add_tcase(s, tc);
    return s;
}
