/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Unit tests for aop_resv.c: claims, releases, the free list, and the sweep that
 * gives back the reservations of dead or stalled owners exactly once. */
#include <stdlib.h>
#include <string.h>

#include "aop_resv.h"
#include "check_suites.h"

#define CAP 4

static aop_resv_table_t *t;
static apr_int64_t given_back[8];
static apr_uint32_t dead_pid;

static void setup(void)
{
    t = calloc(1, aop_resv_size(CAP));
    aop_resv_init(t, CAP);
    memset(given_back, 0, sizeof(given_back));
    dead_pid = 0;
}

static void teardown(void)
{
    free(t);
}

static int alive(void *baton, apr_uint32_t pid)
{
    (void)baton;
    return pid != dead_pid;
}

static int pair_given_back;

static void reclaim(void *baton, int inst, int pair, apr_int64_t tokens)
{
    (void)baton;
    given_back[inst] += tokens;
    pair_given_back = pair;
}

static int sweep(apr_time_t now)
{
    aop_resv_stale_t stale[CAP];
    int n = aop_resv_find_stale(t, now, alive, NULL, stale, CAP);

    return aop_resv_reclaim(t, stale, n, now, reclaim, NULL);
}

START_TEST(claim_release_and_reuse)
{
    aop_resv_ticket_t a = aop_resv_claim(t, 100, 1, -1, 50, 1000);
    aop_resv_ticket_t b = aop_resv_claim(t, 100, 2, -1, 70, 1000);

    ck_assert_int_ge(a.idx, 0);
    ck_assert_int_ne(a.idx, b.idx);
    ck_assert_uint_eq(t->in_use, 2);
    ck_assert_int_eq(aop_resv_release(t, &a), 50);
    ck_assert_int_eq(a.idx, -1);
    /* a second release of the same ticket gives nothing */
    ck_assert_int_eq(aop_resv_release(t, &a), 0);
    ck_assert_uint_eq(t->in_use, 1);
    ck_assert_int_eq(aop_resv_release(t, &b), 70);
    ck_assert_uint_eq(t->in_use, 0);
}
END_TEST

START_TEST(a_full_table_is_counted_and_untracked)
{
    aop_resv_ticket_t k[CAP + 1];
    int i;

    for (i = 0; i < CAP; i++) {
        k[i] = aop_resv_claim(t, 7, 0, -1, 1, 1000);
        ck_assert_int_ge(k[i].idx, 0);
    }
    k[CAP] = aop_resv_claim(t, 7, 0, -1, 1, 1000);
    ck_assert_int_eq(k[CAP].idx, -1);
    ck_assert_uint_eq(t->full, 1);
    ck_assert_int_eq(aop_resv_release(t, &k[CAP]), 0);
    ck_assert_int_eq(aop_resv_release(t, &k[2]), 1);
    ck_assert_int_ge(aop_resv_claim(t, 7, 0, -1, 1, 1000).idx, 0);
}
END_TEST

START_TEST(a_dead_owners_reservations_are_given_back_once)
{
    aop_resv_ticket_t mine = aop_resv_claim(t, 10, 1, -1, 40, 5000);
    aop_resv_ticket_t theirs = aop_resv_claim(t, 11, 1, -1, 60, 5000);

    dead_pid = 11;
    ck_assert_int_eq(sweep(1000), 1);
    ck_assert_int_eq(given_back[1], 60);
    ck_assert_int_eq(sweep(1000), 0);
    ck_assert_int_eq(given_back[1], 60);
    ck_assert_uint_eq(t->reclaimed, 1);
    ck_assert_uint_eq(t->reclaimed_tokens, 60);
    ck_assert_int_eq(aop_resv_release(t, &mine), 40);
    /* the dead owner's ticket is worthless now, even if its record is reused */
    ck_assert_int_ge(aop_resv_claim(t, 12, 3, -1, 5, 5000).idx, 0);
    ck_assert_int_ge(aop_resv_claim(t, 12, 3, -1, 5, 5000).idx, 0);
    ck_assert_int_eq(aop_resv_release(t, &theirs), 0);
}
END_TEST

START_TEST(a_stalled_owner_loses_it_at_the_deadline_unless_it_moves_it_on)
{
    aop_resv_ticket_t k = aop_resv_claim(t, 10, 2, -1, 30, 1000);

    ck_assert_int_eq(sweep(999), 0);
    aop_resv_touch(t, &k, 2000);
    ck_assert_int_eq(sweep(1500), 0);
    ck_assert_int_eq(sweep(2001), 1);
    ck_assert_int_eq(given_back[2], 30);
    /* the late owner's release finds nothing left to give back */
    ck_assert_int_eq(aop_resv_release(t, &k), 0);
    ck_assert_uint_eq(t->in_use, 0);
}
END_TEST

START_TEST(a_release_between_finding_and_reclaiming_wins)
{
    aop_resv_stale_t stale[CAP];
    aop_resv_ticket_t k = aop_resv_claim(t, 11, 1, -1, 25, 5000);
    int n;

    dead_pid = 11;
    n = aop_resv_find_stale(t, 1000, alive, NULL, stale, CAP);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(aop_resv_release(t, &k), 25);
    ck_assert_int_eq(aop_resv_reclaim(t, stale, n, 1000, reclaim, NULL), 0);
    ck_assert_int_eq(given_back[1], 0);
    /* a touch that came after the find keeps a stalled-looking record */
    k = aop_resv_claim(t, 10, 1, -1, 25, 900);
    n = aop_resv_find_stale(t, 1000, alive, NULL, stale, CAP);
    ck_assert_int_eq(n, 1);
    aop_resv_touch(t, &k, 5000);
    ck_assert_int_eq(aop_resv_reclaim(t, stale, n, 1000, reclaim, NULL), 0);
}
END_TEST

/* The deployment's window (its pair) gets its tokens back with the instance's. */
START_TEST(the_pair_comes_back_with_the_sweep)
{
    aop_resv_ticket_t k = aop_resv_claim(t, 9, 2, 17, 30, 1000);

    ck_assert_int_ge(k.idx, 0);
    dead_pid = 9;
    pair_given_back = -1;
    ck_assert_int_eq(sweep(500), 1);
    ck_assert_int_eq(pair_given_back, 17);
}
END_TEST

Suite *aop_resv_suite(void)
{
    Suite *s = suite_create("aop_resv");
    TCase *tc = tcase_create("reservations");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, claim_release_and_reuse);
    tcase_add_test(tc, a_full_table_is_counted_and_untracked);
    tcase_add_test(tc, a_dead_owners_reservations_are_given_back_once);
    tcase_add_test(tc, a_stalled_owner_loses_it_at_the_deadline_unless_it_moves_it_on);
    tcase_add_test(tc, a_release_between_finding_and_reclaiming_wins);
    tcase_add_test(tc, the_pair_comes_back_with_the_sweep);
    suite_add_tcase(s, tc);
    return s;
}
