/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Strategies: exact shares, smoothness, rotation, eligibility. */
#include <string.h>

#include "aop_select.h"
#include "check_suites.h"

#define N 4

static int run(aop_strategy_e s, aop_cand_t *c, int n, int picks, int *counts,
               int *seq)
{
    apr_int64_t cw[N] = { 0 };
    aop_select_state_t st = { 0, cw };
    int i;

    memset(counts, 0, sizeof(int) * N);
    for (i = 0; i < picks; i++) {
        int k = aop_select(s, c, n, &st);

        if (k < 0) {
            return -1;
        }
        counts[k]++;
        if (seq) {
            seq[i] = k;
        }
    }
    return 0;
}

START_TEST(weighted_is_exact_and_smooth)
{
    aop_cand_t c[2] = { { 100, 3, 1 }, { 100, 1, 1 } };
    int counts[N], seq[400], i, run_len = 0, longest = 0;

    run(AOP_STRATEGY_WEIGHTED, c, 2, 400, counts, seq);
    ck_assert_int_eq(counts[0], 300);
    ck_assert_int_eq(counts[1], 100);
    /* Smooth: the heavier one never gets more than 3 in a row. */
    for (i = 0; i < 400; i++) {
        run_len = seq[i] == 0 ? run_len + 1 : 0;
        longest = run_len > longest ? run_len : longest;
    }
    ck_assert_int_le(longest, 3);
}
END_TEST

START_TEST(weighted_skips_ineligible_and_zero_weight)
{
    aop_cand_t c[3] = { { 1, 2, 1 }, { 1, 5, 0 }, { 1, 0, 1 } };
    int counts[N];

    run(AOP_STRATEGY_WEIGHTED, c, 3, 50, counts, NULL);
    ck_assert_int_eq(counts[0], 50);
    c[0].eligible = 0;
    run(AOP_STRATEGY_WEIGHTED, c, 3, 5, counts, NULL);      /* only weight 0 is left */
    ck_assert_int_eq(counts[2], 5);
    c[2].eligible = 0;
    ck_assert_int_eq(run(AOP_STRATEGY_WEIGHTED, c, 3, 1, counts, NULL), -1);
}
END_TEST

START_TEST(failover_prefers_lowest_priority_and_shares_ties)
{
    aop_cand_t c[3] = { { 200, 1, 1 }, { 100, 1, 1 }, { 100, 3, 1 } };
    int counts[N];

    run(AOP_STRATEGY_FAILOVER, c, 3, 400, counts, NULL);
    ck_assert_int_eq(counts[0], 0);
    ck_assert_int_eq(counts[1], 100);
    ck_assert_int_eq(counts[2], 300);
    c[1].eligible = c[2].eligible = 0;                       /* both cooling down */
    run(AOP_STRATEGY_FAILOVER, c, 3, 10, counts, NULL);
    ck_assert_int_eq(counts[0], 10);
}
END_TEST

START_TEST(round_robin_rotates_strictly)
{
    aop_cand_t c[3] = { { 1, 1, 1 }, { 1, 9, 1 }, { 1, 1, 1 } };
    apr_int64_t cw[3] = { 0 };
    aop_select_state_t st = { 0, cw };
    int i;

    for (i = 0; i < 30; i++) {
        ck_assert_int_eq(aop_select(AOP_STRATEGY_ROUND_ROBIN, c, 3, &st), i % 3);
    }
    c[1].eligible = 0;                                       /* its turn goes on */
    st.cursor = 0;
    ck_assert_int_eq(aop_select(AOP_STRATEGY_ROUND_ROBIN, c, 3, &st), 0);
    ck_assert_int_eq(aop_select(AOP_STRATEGY_ROUND_ROBIN, c, 3, &st), 2);
    ck_assert_int_eq(aop_select(AOP_STRATEGY_ROUND_ROBIN, c, 3, &st), 2);
    ck_assert_int_eq(aop_select(AOP_STRATEGY_ROUND_ROBIN, c, 3, &st), 0);
}
END_TEST

/* While every candidate is eligible, the schedule is what aop_select() would pick,
 * period after period. */
START_TEST(schedule_is_the_all_eligible_sequence)
{
    aop_cand_t c[4] = { { 1, 3, 1 }, { 1, 1, 1 }, { 1, 1, 1 }, { 1, 2, 1 } };
    apr_int64_t cw[4] = { 0 };
    aop_select_state_t st = { 0, cw };
    apr_pool_t *p;
    int len, i, *seq;

    apr_pool_create(&p, NULL);
    seq = aop_select_schedule(p, AOP_STRATEGY_WEIGHTED, c, 4, &len);
    ck_assert_int_eq(len, 7);
    for (i = 0; i < 3 * len; i++) {
        ck_assert_int_eq(seq[i % len], aop_select(AOP_STRATEGY_WEIGHTED, c, 4, &st));
    }
    ck_assert_uint_eq(st.cursor, 3 * (apr_uint64_t)len);    /* it counts picks */
    apr_pool_destroy(p);
}
END_TEST

START_TEST(schedule_per_strategy)
{
    aop_cand_t c[3] = { { 200, 1, 1 }, { 100, 1, 1 }, { 100, 3, 1 } };
    aop_cand_t zero[2] = { { 1, 0, 1 }, { 1, 0, 1 } };
    aop_cand_t some_zero[3] = { { 1, 2, 1 }, { 1, 0, 1 }, { 1, 1, 1 } };
    aop_cand_t heavy[2] = { { 1, 100000, 1 }, { 1, 1, 1 } };
    int len, i, counts[3], *seq;
    apr_pool_t *p;

    apr_pool_create(&p, NULL);
    /* failover: only the lowest priority value, shared by weight */
    seq = aop_select_schedule(p, AOP_STRATEGY_FAILOVER, c, 3, &len);
    ck_assert_int_eq(len, 4);
    memset(counts, 0, sizeof(counts));
    for (i = 0; i < len; i++) {
        counts[seq[i]]++;
    }
    ck_assert_int_eq(counts[0], 0);
    ck_assert_int_eq(counts[1], 1);
    ck_assert_int_eq(counts[2], 3);
    /* round_robin: each once, in order, weights aside */
    seq = aop_select_schedule(p, AOP_STRATEGY_ROUND_ROBIN, c, 3, &len);
    ck_assert_int_eq(len, 3);
    for (i = 0; i < 3; i++) {
        ck_assert_int_eq(seq[i], i);
    }
    /* no weight anywhere: no schedule (aop_select keeps order then) */
    ck_assert_ptr_null(aop_select_schedule(p, AOP_STRATEGY_WEIGHTED, zero, 2, &len));
    ck_assert_int_eq(len, 0);
    /* weight 0 is never scheduled */
    seq = aop_select_schedule(p, AOP_STRATEGY_WEIGHTED, some_zero, 3, &len);
    ck_assert_int_eq(len, 3);
    for (i = 0; i < len; i++) {
        ck_assert_int_ne(seq[i], 1);
    }
    /* heavy weights are scaled into AOP_SCHEDULE_MAX; the light one keeps a turn */
    seq = aop_select_schedule(p, AOP_STRATEGY_WEIGHTED, heavy, 2, &len);
    ck_assert_int_le(len, AOP_SCHEDULE_MAX + 2);
    memset(counts, 0, sizeof(counts));
    for (i = 0; i < len; i++) {
        counts[seq[i]]++;
    }
    ck_assert_int_eq(counts[1], 1);
    ck_assert_int_eq(counts[0], len - 1);
    apr_pool_destroy(p);
}
END_TEST

/* Far more candidates than the 256 a pick once looked at: every one gets its turn,
 * under every strategy, and the schedule names every one. */
#define MANY 1000

START_TEST(every_one_of_many_candidates_is_picked)
{
    static aop_cand_t c[MANY];
    static apr_int64_t cw[MANY];
    static int counts[MANY];
    static const aop_strategy_e strategies[] = { AOP_STRATEGY_WEIGHTED, AOP_STRATEGY_FAILOVER,
                                                 AOP_STRATEGY_ROUND_ROBIN };
    int i, s;

    for (s = 0; s < 3; s++) {
        aop_select_state_t st = { 0, cw };

        memset(cw, 0, sizeof(cw));
        memset(counts, 0, sizeof(counts));
        for (i = 0; i < MANY; i++) {
            c[i].priority = 100;
            c[i].weight = 1;
            c[i].eligible = 1;
        }
        for (i = 0; i < 2 * MANY; i++) {
            int k = aop_select(strategies[s], c, MANY, &st);

            ck_assert_int_ge(k, 0);
            ck_assert_int_lt(k, MANY);
            counts[k]++;
        }
        for (i = 0; i < MANY; i++) {
            ck_assert_int_eq(counts[i], 2);
        }
    }
    /* The last one alone eligible: found however far down it is. */
    for (i = 0; i < MANY; i++) {
        c[i].eligible = i == MANY - 1;
    }
    {
        aop_select_state_t st = { 0, cw };

        ck_assert_int_eq(aop_select(AOP_STRATEGY_WEIGHTED, c, MANY, &st), MANY - 1);
        ck_assert_int_eq(aop_select(AOP_STRATEGY_FAILOVER, c, MANY, &st), MANY - 1);
        ck_assert_int_eq(aop_select(AOP_STRATEGY_ROUND_ROBIN, c, MANY, &st), MANY - 1);
    }
}
END_TEST

START_TEST(schedule_of_more_than_its_maximum_names_each_once)
{
    enum { BIG = AOP_SCHEDULE_MAX + 904 };
    static aop_cand_t c[BIG];
    static int seen[BIG];
    apr_pool_t *p;
    int i, len, *seq;

    apr_pool_create(&p, NULL);
    for (i = 0; i < BIG; i++) {
        c[i].priority = 1;
        c[i].weight = 1 + i % 3;
        c[i].eligible = 1;
    }
    seq = aop_select_schedule(p, AOP_STRATEGY_WEIGHTED, c, BIG, &len);
    ck_assert_ptr_nonnull(seq);
    ck_assert_int_eq(len, BIG);     /* scaled down: each keeps one turn */
    memset(seen, 0, sizeof(seen));
    for (i = 0; i < len; i++) {
        seen[seq[i]]++;
    }
    for (i = 0; i < BIG; i++) {
        ck_assert_int_eq(seen[i], 1);
    }
    apr_pool_destroy(p);
}
END_TEST

/* Equal weights take a shortcut to their schedule: it must be the very sequence
 * smooth weighted round-robin gives, over the whole period. */
START_TEST(equal_weights_schedule_is_what_select_gives)
{
    aop_cand_t c[5] = { { 1, 100, 1 }, { 1, 100, 1 }, { 2, 100, 1 }, { 1, 100, 1 },
                        { 1, 0, 1 } };
    apr_int64_t cw[5] = { 0 };
    aop_select_state_t st = { 0, cw };
    apr_pool_t *p;
    int i, len, *seq;

    apr_pool_create(&p, NULL);
    seq = aop_select_schedule(p, AOP_STRATEGY_WEIGHTED, c, 5, &len);
    ck_assert_int_eq(len, 400);
    for (i = 0; i < len; i++) {
        ck_assert_int_eq(seq[i], aop_select(AOP_STRATEGY_WEIGHTED, c, 5, &st));
    }
    memset(cw, 0, sizeof(cw));
    seq = aop_select_schedule(p, AOP_STRATEGY_FAILOVER, c, 5, &len);
    ck_assert_int_eq(len, 300);
    for (i = 0; i < len; i++) {
        ck_assert_int_eq(seq[i], aop_select(AOP_STRATEGY_FAILOVER, c, 5, &st));
    }
    apr_pool_destroy(p);
}
END_TEST

Suite *aop_select_suite(void)
{
    Suite *s = suite_create("aop_select");
    TCase *tc = tcase_create("select");

    tcase_add_test(tc, weighted_is_exact_and_smooth);
    tcase_add_test(tc, weighted_skips_ineligible_and_zero_weight);
    tcase_add_test(tc, failover_prefers_lowest_priority_and_shares_ties);
    tcase_add_test(tc, round_robin_rotates_strictly);
    tcase_add_test(tc, schedule_is_the_all_eligible_sequence);
    tcase_add_test(tc, schedule_per_strategy);
    tcase_add_test(tc, every_one_of_many_candidates_is_picked);
    tcase_add_test(tc, equal_weights_schedule_is_what_select_gives);
    tcase_add_test(tc, schedule_of_more_than_its_maximum_names_each_once);
    suite_add_tcase(s, tc);
    return s;
}
