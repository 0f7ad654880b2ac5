/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Named slots planned without the lock and applied under it: a plan finds names,
 * claims free, never-named and unwanted slots in that order, forgets names (and
 * "name\t..." keys) it is told are gone, and sees when another mapping wrote names
 * after it read the table (the case that maps anew under the lock). */
#include <string.h>

#include <apr_strings.h>

#include "aop_slots.h"
#include "check_suites.h"

#define CAP 6
#define NAME 16
#define STRIDE 40                    /* a record with its name first */

typedef struct table_t {
    char mem[CAP * STRIDE];
    apr_uint32_t hwm;
    apr_uint32_t seq;
    aop_slot_table_t tab;
} table_t;

static void table_init(table_t *t, const char *const *names, apr_uint32_t hwm)
{
    apr_uint32_t i;

    memset(t, 0, sizeof(*t));
    for (i = 0; i < hwm; i++) {
        apr_cpystrn(t->mem + i * STRIDE, names[i], NAME);
    }
    t->hwm = hwm;
    t->tab.base = t->mem;
    t->tab.stride = STRIDE;
    t->tab.name_size = NAME;
    t->tab.cap = CAP;
    t->tab.hwm = &t->hwm;
}

static const char *name_at(const table_t *t, int slot)
{
    return t->mem + slot * STRIDE;
}

static int claim(apr_pool_t *p, aop_slots_t *s, const char *name, int *fresh, int *dirty)
{
    return aop_slots_claim(p, s, name, fresh, dirty);
}

START_TEST(found_then_free_then_new_then_stale)
{
    static const char *const names[] = { "a", "", "b", "old" };
    apr_pool_t *p;
    apr_hash_t *wanted;
    table_t t;
    aop_slots_t *s;
    int fresh, dirty;

    apr_pool_create(&p, NULL);
    table_init(&t, names, 4);
    wanted = apr_hash_make(p);
    apr_hash_set(wanted, "a", APR_HASH_KEY_STRING, "");
    apr_hash_set(wanted, "b", APR_HASH_KEY_STRING, "");
    s = aop_slots_read(p, &t.tab, wanted, NULL, 0);
    ck_assert_int_eq(claim(p, s, "b", &fresh, &dirty), 2);
    ck_assert(!fresh && !dirty);
    /* Nameless below the mark first: its record held another name once. */
    ck_assert_int_eq(claim(p, s, "c", &fresh, &dirty), 1);
    ck_assert(fresh && dirty);
    /* Then never named: clean, the mark moves. */
    ck_assert_int_eq(claim(p, s, "d", &fresh, &dirty), 4);
    ck_assert(fresh && !dirty);
    ck_assert_int_eq(claim(p, s, "e", &fresh, &dirty), 5);
    /* The table full: the slot of a name no one wants. */
    ck_assert_int_eq(claim(p, s, "f", &fresh, &dirty), 3);
    ck_assert(fresh && dirty);
    ck_assert_int_eq(claim(p, s, "old", &fresh, &dirty), -1);
    /* The same name twice in a plan: the slot it got. */
    ck_assert_int_eq(claim(p, s, "c", &fresh, &dirty), 1);
    ck_assert(!fresh);
    /* Nothing written until applied. */
    ck_assert_str_eq(name_at(&t, 1), "");
    ck_assert_int_eq(t.hwm, 4);
    ck_assert(aop_slots_unchanged(&t.seq, 0));
    aop_slots_apply(s, &t.seq);
    ck_assert_str_eq(name_at(&t, 1), "c");
    ck_assert_str_eq(name_at(&t, 3), "f");
    ck_assert_str_eq(name_at(&t, 4), "d");
    ck_assert_str_eq(name_at(&t, 5), "e");
    ck_assert_int_eq(t.hwm, 6);
    ck_assert_int_eq(t.seq, 1);
    apr_pool_destroy(p);
}
END_TEST

START_TEST(forgets_names_and_their_keys)
{
    static const char *const inst[] = { "x", "y", "z" };
    static const char *const pairs[] = { "x\tm1", "y\tm1", "x\tm2", "xx\tm1" };
    apr_pool_t *p;
    apr_hash_t *gone;
    table_t ti, tp;
    aop_slots_t *si, *sp;
    int fresh, dirty;

    apr_pool_create(&p, NULL);
    table_init(&ti, inst, 3);
    table_init(&tp, pairs, 4);
    gone = apr_hash_make(p);
    apr_hash_set(gone, "x", APR_HASH_KEY_STRING, "");
    si = aop_slots_read(p, &ti.tab, NULL, gone, 0);
    sp = aop_slots_read(p, &tp.tab, NULL, gone, '\t');
    /* x's slot is free for a new name in the same plan, as are its pairs'. */
    ck_assert_int_eq(claim(p, si, "x", &fresh, &dirty), 0);
    ck_assert(fresh && dirty);
    ck_assert_int_eq(claim(p, sp, "w\tm1", &fresh, &dirty), 0);
    ck_assert_int_eq(claim(p, sp, "w\tm2", &fresh, &dirty), 2);
    ck_assert_int_eq(claim(p, sp, "xx\tm1", &fresh, &dirty), 3);   /* not x's */
    ck_assert(!fresh);
    aop_slots_apply(si, &ti.seq);
    aop_slots_apply(sp, &tp.seq);
    ck_assert_str_eq(name_at(&tp, 0), "w\tm1");
    ck_assert_str_eq(name_at(&tp, 1), "y\tm1");
    ck_assert_str_eq(name_at(&tp, 2), "w\tm2");
    ck_assert_str_eq(name_at(&tp, 3), "xx\tm1");
    ck_assert_str_eq(name_at(&ti, 0), "x");
    apr_pool_destroy(p);
}
END_TEST

/* Only forgetting: the name is cleared and the count moves. */
START_TEST(forgetting_alone_is_a_write)
{
    static const char *const inst[] = { "x", "y" };
    apr_pool_t *p;
    apr_hash_t *gone;
    table_t t;
    aop_slots_t *s;

    apr_pool_create(&p, NULL);
    table_init(&t, inst, 2);
    gone = apr_hash_make(p);
    apr_hash_set(gone, "y", APR_HASH_KEY_STRING, "");
    s = aop_slots_read(p, &t.tab, NULL, gone, 0);
    aop_slots_apply(s, &t.seq);
    ck_assert_str_eq(name_at(&t, 1), "");
    ck_assert_str_eq(name_at(&t, 0), "x");
    ck_assert_int_eq(t.seq, 1);
    /* A plan that finds every name and claims none writes nothing. */
    s = aop_slots_read(p, &t.tab, NULL, NULL, 0);
    {
        int fresh, dirty;

        ck_assert_int_eq(claim(p, s, "x", &fresh, &dirty), 0);
    }
    aop_slots_apply(s, &t.seq);
    ck_assert_int_eq(t.seq, 1);
    apr_pool_destroy(p);
}
END_TEST

/* Two mappings planned from the same table (a publisher without the lock, a
 * process's own mapping meanwhile): the second to apply finds the table changed,
 * and it would have claimed the slot the first wrote. */
START_TEST(a_plan_sees_writes_after_it_read)
{
    static const char *const names[] = { "a" };
    apr_pool_t *p;
    table_t t;
    aop_slots_t *mine, *theirs;
    apr_uint32_t seen;
    int fresh, dirty;

    apr_pool_create(&p, NULL);
    table_init(&t, names, 1);
    seen = aop_slots_seq(&t.seq);
    mine = aop_slots_read(p, &t.tab, NULL, NULL, 0);
    ck_assert_int_eq(claim(p, mine, "new", &fresh, &dirty), 1);
    theirs = aop_slots_read(p, &t.tab, NULL, NULL, 0);
    ck_assert_int_eq(claim(p, theirs, "other", &fresh, &dirty), 1);
    ck_assert(aop_slots_unchanged(&t.seq, seen));
    aop_slots_apply(theirs, &t.seq);
    ck_assert(!aop_slots_unchanged(&t.seq, seen));
    /* Planned anew from the table as it is now: the next slot. */
    seen = aop_slots_seq(&t.seq);
    mine = aop_slots_read(p, &t.tab, NULL, NULL, 0);
    ck_assert_int_eq(claim(p, mine, "new", &fresh, &dirty), 2);
    ck_assert_int_eq(claim(p, mine, "other", &fresh, &dirty), 1);
    ck_assert(!fresh);
    ck_assert(aop_slots_unchanged(&t.seq, seen));
    aop_slots_apply(mine, &t.seq);
    ck_assert_str_eq(name_at(&t, 1), "other");
    ck_assert_str_eq(name_at(&t, 2), "new");
    ck_assert_int_eq(t.hwm, 3);
    apr_pool_destroy(p);
}
END_TEST

/* A name longer than a slot holds is kept as the slot would hold it, and found so
 * by the next plan. */
START_TEST(long_names_cut_to_the_slot)
{
    static const char *const none[] = { "" };
    apr_pool_t *p;
    table_t t;
    aop_slots_t *s;
    int fresh, dirty;

    apr_pool_create(&p, NULL);
    table_init(&t, none, 0);
    s = aop_slots_read(p, &t.tab, NULL, NULL, 0);
    ck_assert_int_eq(claim(p, s, "0123456789abcdefXYZ", &fresh, &dirty), 0);
    aop_slots_apply(s, &t.seq);
    ck_assert_str_eq(name_at(&t, 0), "0123456789abcde");
    s = aop_slots_read(p, &t.tab, NULL, NULL, 0);
    ck_assert_int_eq(claim(p, s, "0123456789abcde", &fresh, &dirty), 0);
    ck_assert(!fresh);
    apr_pool_destroy(p);
}
END_TEST

Suite *aop_slots_suite(void)
{
    Suite *s = suite_create("aop_slots");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, found_then_free_then_new_then_stale);
    tcase_add_test(tc, forgets_names_and_their_keys);
    tcase_add_test(tc, forgetting_alone_is_a_write);
    tcase_add_test(tc, a_plan_sees_writes_after_it_read);
    tcase_add_test(tc, long_names_cut_to_the_slot);
    suite_add_tcase(s, tc);
    return s;
}
