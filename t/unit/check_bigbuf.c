/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The large buffers of request bodies: sized in powers of two, reused while other
 * bodies are in flight, and all unmapped once the last one is given back. */
#include <string.h>

#include "aop_bigbuf.h"
#include "check_suites.h"

static void counts(int flight, int kept)
{
    int f, k;

    aop_bigbuf_counts(&f, &k);
    ck_assert_int_eq(f, flight);
    ck_assert_int_eq(k, kept);
}

START_TEST(sizes_are_powers_of_two)
{
    apr_size_t cap;
    char *a = aop_bigbuf_get(1, &cap);

    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(cap, AOP_BIGBUF_MIN);
    aop_bigbuf_put(a, cap);
    a = aop_bigbuf_get(1024 * 1024 + 1, &cap);
    ck_assert_uint_eq(cap, 2 * 1024 * 1024);
    memset(a, 'x', cap);          /* all of it is ours to write */
    aop_bigbuf_put(a, cap);
    counts(0, 0);
}
END_TEST

START_TEST(kept_while_others_are_in_flight)
{
    apr_size_t ca, cb, cc, cd;
    char *a = aop_bigbuf_get(1 << 20, &ca), *b = aop_bigbuf_get(1 << 20, &cb);
    char *c = aop_bigbuf_get(1 << 20, &cc), *d;

    counts(3, 0);
    /* a given back while b and c are in flight: kept, and the next body takes it. */
    aop_bigbuf_put(a, ca);
    counts(2, 1);
    d = aop_bigbuf_get(1000 * 1000, &cd);
    ck_assert_ptr_eq(d, a);
    ck_assert_uint_eq(cd, ca);
    counts(3, 0);
    /* Another size class does not take it. */
    aop_bigbuf_put(d, cd);
    d = aop_bigbuf_get(100 * 1024, &cd);
    ck_assert_ptr_ne(d, a);
    counts(3, 1);
    aop_bigbuf_put(d, cd);
    counts(2, 2);
    /* Never more kept than in flight, and the last one given back empties it all. */
    aop_bigbuf_put(b, cb);
    counts(1, 1);
    aop_bigbuf_put(c, cc);
    counts(0, 0);
}
END_TEST

START_TEST(huge_ones_are_never_kept)
{
    apr_size_t ca, cb;
    char *a = aop_bigbuf_get(AOP_BIGBUF_CACHE_MAX_CAP + 1, &ca);
    char *b = aop_bigbuf_get(10, &cb);

    ck_assert_ptr_nonnull(a);
    aop_bigbuf_put(a, ca);
    counts(1, 0);
    aop_bigbuf_put(b, cb);
    counts(0, 0);
}
END_TEST

Suite *aop_bigbuf_suite(void)
{
    Suite *s = suite_create("aop_bigbuf");
    TCase *tc = tcase_create("bigbuf");

    tcase_add_test(tc, sizes_are_powers_of_two);
    tcase_add_test(tc, kept_while_others_are_in_flight);
    tcase_add_test(tc, huge_ones_are_never_kept);
    suite_add_tcase(s, tc);
    return s;
}
