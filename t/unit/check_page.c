/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Pages of instances: every name exactly once, in name order, bounded pages. */
#include <apr_strings.h>
#include <string.h>

#include "aop_page.h"
#include "check_suites.h"

#define N 1001

START_TEST(pages_name_every_instance_once)
{
    apr_pool_t *p;
    const char *names[N], *after = NULL, *last = "";
    static int seen[N];
    int i, pages = 0;

    apr_pool_create(&p, NULL);
    for (i = 0; i < N; i++) {           /* not in name order */
        names[i] = apr_psprintf(p, "inst%04d", (i * 7919) % N);
    }
    memset(seen, 0, sizeof(seen));
    do {
        aop_page_t *page = aop_page_select(p, names, N, after, 100);

        ck_assert_int_le(page->count, 100);
        ck_assert_int_gt(page->count, 0);
        for (i = 0; i < page->count; i++) {
            ck_assert_int_gt(strcmp(names[page->idx[i]], last), 0);
            last = names[page->idx[i]];
            seen[page->idx[i]]++;
        }
        after = page->next;
        pages++;
    } while (after);
    ck_assert_int_eq(pages, 11);
    for (i = 0; i < N; i++) {
        ck_assert_int_eq(seen[i], 1);
    }
    apr_pool_destroy(p);
}
END_TEST

START_TEST(a_cursor_survives_changes_between_pages)
{
    apr_pool_t *p;
    const char *before[] = { "a", "b", "c", "d" }, *now[] = { "d", "bb", "a", "c" };
    aop_page_t *page;

    apr_pool_create(&p, NULL);
    page = aop_page_select(p, before, 4, NULL, 2);
    ck_assert_int_eq(page->count, 2);
    ck_assert_str_eq(page->next, "b");
    /* "b" removed, "bb" added: the next page starts after the cursor all the same */
    page = aop_page_select(p, now, 4, "b", 2);
    ck_assert_int_eq(page->count, 2);
    ck_assert_str_eq(now[page->idx[0]], "bb");
    ck_assert_str_eq(now[page->idx[1]], "c");
    ck_assert_str_eq(page->next, "c");
    page = aop_page_select(p, now, 4, "c", 2);
    ck_assert_int_eq(page->count, 1);
    ck_assert_ptr_null(page->next);
    page = aop_page_select(p, now, 4, "zz", 2);
    ck_assert_int_eq(page->count, 0);
    ck_assert_ptr_null(page->next);
    apr_pool_destroy(p);
}
END_TEST

START_TEST(limits_are_bounded)
{
    int v;

    ck_assert_ptr_null(aop_page_limit(NULL, 500, &v));
    ck_assert_int_eq(v, 500);
    ck_assert_ptr_null(aop_page_limit("1", 500, &v));
    ck_assert_int_eq(v, 1);
    ck_assert_ptr_null(aop_page_limit("10000", 500, &v));
    ck_assert_int_eq(v, 10000);
    ck_assert_ptr_nonnull(aop_page_limit("0", 500, &v));
    ck_assert_ptr_nonnull(aop_page_limit("10001", 500, &v));
    ck_assert_ptr_nonnull(aop_page_limit("-3", 500, &v));
    ck_assert_ptr_nonnull(aop_page_limit("5x", 500, &v));
    ck_assert_ptr_nonnull(aop_page_limit("", 500, &v));
    ck_assert_ptr_nonnull(aop_page_limit("99999999999999999999", 500, &v));
}
END_TEST

Suite *aop_page_suite(void)
{
    Suite *s = suite_create("aop_page");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, pages_name_every_instance_once);
    tcase_add_test(tc, a_cursor_survives_changes_between_pages);
    tcase_add_test(tc, limits_are_bounded);
    suite_add_tcase(s, tc);
    return s;
}
