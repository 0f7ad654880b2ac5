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

Suite *aop_select_suite(void)
{
    Suite *s = suite_create("aop_select");
    TCase *tc = tcase_create("select");

    tcase_add_test(tc, weighted_is_exact_and_smooth);
    tcase_add_test(tc, weighted_skips_ineligible_and_zero_weight);
    tcase_add_test(tc, failover_prefers_lowest_priority_and_shares_ties);
    tcase_add_test(tc, round_robin_rotates_strictly);
    suite_add_tcase(s, tc);
    return s;
}
