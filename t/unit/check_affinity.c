/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Unit tests for aop_affinity.c: remembering, finding and forgetting ids, the
 * oldest entry overwritten when a key's buckets are full, a 1M-entry table at 70%,
 * 80% and 90% load, and processes writing and reading one shared table at once with no
 * torn answer. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <apr_strings.h>

#include "aop_affinity.h"
#include "aop_idx_map.h"
#include "check_suites.h"

#define SEC(n) apr_time_from_sec(n)
#define T0 SEC(1700000000)

static const unsigned char seed[AOP_AFFINITY_SEED_LEN] = "0123456789abcdef";

/* A zero-filled shared block, as the module gets from apr_shm_create. */
static void *block(apr_size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    ck_assert_ptr_ne(p, MAP_FAILED);
    return p;
}

static aop_affinity_t *table(apr_uint64_t n, apr_interval_time_t max_age, apr_size_t *size)
{
    aop_affinity_t *t;

    *size = aop_affinity_size(n);
    ck_assert_uint_gt(*size, 0);
    /* An odd offset (apr_shm's usable address is 8 bytes into the mapping). */
    t = aop_affinity_init((char *)block(*size + 8) + 8, *size, n, seed, max_age);
    ck_assert_ptr_nonnull(t);
    return t;
}

static int find(const aop_affinity_t *t, const char *key, apr_time_t now, apr_uint64_t want)
{
    return aop_affinity_find(t, key, strlen(key), now) == want;
}

static int remember(aop_affinity_t *t, const char *key, apr_uint64_t name, apr_time_t now)
{
    return aop_affinity_remember(t, key, strlen(key), name, now);
}

START_TEST(siphash_reference_vectors)
{
    /* vectors_sip128 of the reference implementation (github.com/veorq/SipHash):
     * key 00..0f, message 00..(len-1), output as two little-endian words. */
    static const struct { int len; apr_uint64_t lo, hi; } v[] = {
        { 0, APR_UINT64_C(0xe6a825ba047f81a3), APR_UINT64_C(0x930255c71472f66d) },
        { 1, APR_UINT64_C(0x44af996bd8c187da), APR_UINT64_C(0x45fc229b11597634) },
        { 7, APR_UINT64_C(0x53c1dbd8beebf1a1), APR_UINT64_C(0x3982f01fa64ab8c0) },
        { 8, APR_UINT64_C(0x61f55862baa9623b), APR_UINT64_C(0xb49714f364e2830f) },
    };
    unsigned char key[16], msg[16];
    apr_uint64_t out[2];
    size_t i;

    for (i = 0; i < 16; i++) {
        key[i] = msg[i] = (unsigned char)i;
    }
    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        aop_affinity_siphash128(key, msg, (apr_size_t)v[i].len, out);
        ck_assert_msg(out[0] == v[i].lo && out[1] == v[i].hi, "length %d", v[i].len);
    }
}
END_TEST

START_TEST(sizes_and_bounds)
{
    apr_size_t size;
    aop_affinity_t *t;
    void *b;

    ck_assert_uint_eq(aop_affinity_size(0), 0);
    ck_assert_uint_eq(aop_affinity_size(AOP_AFFINITY_MAX_ENTRIES + 1), 0);
    /* 32 bytes an entry, whole buckets, plus header and alignment. */
    ck_assert_uint_eq(aop_affinity_size(1024), 1024 * 32 + 128);
    ck_assert_uint_eq(aop_affinity_size(1025), 1032 * 32 + 128);
    ck_assert_uint_eq(aop_affinity_size(AOP_AFFINITY_MAX_ENTRIES),
                      (apr_size_t)AOP_AFFINITY_MAX_ENTRIES * 32 + 128);
    b = block(aop_affinity_size(1024));
    ck_assert_ptr_null(aop_affinity_init(b, aop_affinity_size(1024) - 1, 1024, seed, 0));
    ck_assert_ptr_null(aop_affinity_attach(b, aop_affinity_size(1024), 1024));
    t = aop_affinity_init(b, aop_affinity_size(1024), 1025, seed, 0);
    ck_assert_ptr_null(t);
    t = table(1000, 0, &size);
    ck_assert_uint_eq(aop_affinity_capacity(t), 1000);
    ck_assert(aop_affinity_attach((char *)t - 56, size, 1000) == t);
    ck_assert_ptr_null(aop_affinity_attach((char *)t - 56, size, 1024));
    ck_assert_uint_eq(aop_affinity_used(t), 0);
}
END_TEST

START_TEST(remember_find_forget)
{
    apr_size_t size;
    aop_affinity_t *t = table(1024, 0, &size);
    apr_uint64_t east = aop_affinity_name_hash("east"), west = aop_affinity_name_hash("west");
    char big[AOP_AFFINITY_KEY_MAX + 2];

    ck_assert_uint_ne(east, 0);
    ck_assert_uint_ne(east, west);
    ck_assert_uint_eq(east, aop_affinity_name_hash("east"));
    ck_assert(find(t, "resp_1", T0, 0));
    ck_assert(remember(t, "resp_1", east, T0));
    ck_assert(remember(t, "conv_1", west, T0));
    ck_assert(find(t, "resp_1", T0, east));
    ck_assert(find(t, "conv_1", T0, west));
    ck_assert(find(t, "resp_2", T0, 0));
    /* a prefix or an extension of a key is another key */
    ck_assert_uint_eq(aop_affinity_find(t, "resp_1", 5, T0), 0);
    ck_assert_uint_eq(aop_affinity_used(t), 2);
    /* remembered again elsewhere: the new instance, still one entry */
    ck_assert(remember(t, "resp_1", west, T0 + 1));
    ck_assert(find(t, "resp_1", T0, west));
    ck_assert_uint_eq(aop_affinity_used(t), 2);
    ck_assert(aop_affinity_forget(t, "resp_1", 6));
    ck_assert(find(t, "resp_1", T0, 0));
    ck_assert(!aop_affinity_forget(t, "resp_1", 6));
    ck_assert(find(t, "conv_1", T0, west));
    ck_assert_uint_eq(aop_affinity_used(t), 1);
    /* refused: empty, too long, no instance */
    memset(big, 'x', sizeof(big));
    ck_assert(!aop_affinity_remember(t, "", 0, east, T0));
    ck_assert(!aop_affinity_remember(t, big, AOP_AFFINITY_KEY_MAX + 1, east, T0));
    ck_assert(aop_affinity_remember(t, big, AOP_AFFINITY_KEY_MAX, east, T0));
    ck_assert_uint_eq(aop_affinity_find(t, big, AOP_AFFINITY_KEY_MAX, T0), east);
    ck_assert_uint_eq(aop_affinity_find(t, big, AOP_AFFINITY_KEY_MAX + 1, T0), 0);
    ck_assert(!remember(t, "resp_3", 0, T0));
    ck_assert_uint_eq(aop_affinity_find(NULL, "resp_1", 6, T0), 0);
}
END_TEST

START_TEST(max_age)
{
    apr_size_t size;
    aop_affinity_t *t = table(1024, SEC(60), &size);

    ck_assert(remember(t, "resp_1", 7, T0));
    ck_assert(find(t, "resp_1", T0 + SEC(60), 7));
    ck_assert(find(t, "resp_1", T0 + SEC(61), 0));
    /* remembered again: young again */
    ck_assert(remember(t, "resp_1", 7, T0 + SEC(61)));
    ck_assert(find(t, "resp_1", T0 + SEC(61), 7));
}
END_TEST

START_TEST(full_bucket_overwrites_the_oldest)
{
    /* One bucket: every key has it as both choices. */
    apr_size_t size;
    aop_affinity_t *t = table(AOP_AFFINITY_BUCKET, 0, &size);
    char key[16];
    int i;

    for (i = 0; i < AOP_AFFINITY_BUCKET; i++) {
        apr_snprintf(key, sizeof(key), "resp_%d", i);
        ck_assert(remember(t, key, 100 + i, T0 + i));
    }
    /* resp_0 is used again: resp_1 becomes the oldest */
    ck_assert(remember(t, "resp_0", 100, T0 + 10));
    ck_assert(remember(t, "resp_new", 999, T0 + 11));
    ck_assert(find(t, "resp_new", T0, 999));
    ck_assert(find(t, "resp_1", T0, 0));
    ck_assert(find(t, "resp_0", T0, 100));
    for (i = 2; i < AOP_AFFINITY_BUCKET; i++) {
        apr_snprintf(key, sizeof(key), "resp_%d", i);
        ck_assert(find(t, key, T0, 100 + (apr_uint64_t)i));
    }
    ck_assert_uint_eq(aop_affinity_used(t), AOP_AFFINITY_BUCKET);
    /* a forgotten entry is the first one taken */
    ck_assert(aop_affinity_forget(t, "resp_0", 6));
    ck_assert(remember(t, "resp_newer", 1000, T0 + 12));
    ck_assert(find(t, "resp_2", T0, 102));
}
END_TEST

/* Fills a table of n entries with n * load_pct / 100 keys; the keys it lost. */
static unsigned long lost_at(apr_uint64_t n, unsigned load_pct)
{
    apr_size_t size;
    aop_affinity_t *t = table(n, 0, &size);
    unsigned long keys = (unsigned long)(n * load_pct / 100), i, lost = 0, wrong = 0;
    char key[64];

    for (i = 0; i < keys; i++) {
        int len = apr_snprintf(key, sizeof(key), "resp_68b1%016lx", i);

        ck_assert(aop_affinity_remember(t, key, (apr_size_t)len, (i % 97) + 1,
                                        T0 + (apr_time_t)i));
    }
    for (i = 0; i < keys; i++) {
        int len = apr_snprintf(key, sizeof(key), "resp_68b1%016lx", i);
        apr_uint64_t got = aop_affinity_find(t, key, (apr_size_t)len, T0);

        lost += got == 0;
        wrong += got && got != (i % 97) + 1;
    }
    for (i = 0; i < 100000; i++) {
        int len = apr_snprintf(key, sizeof(key), "resp_none%016lx", i);

        wrong += aop_affinity_find(t, key, (apr_size_t)len, T0) != 0;
    }
    ck_assert_uint_eq(wrong, 0);
    ck_assert_uint_eq(aop_affinity_used(t) + lost, keys);
    fprintf(stderr, "affinity: %lu keys in %lu entries (%u%%): %lu lost\n", keys,
            (unsigned long)n, load_pct, lost);
    munmap((char *)t - 64, size + 8);
    return lost;
}

START_TEST(a_million_entries_at_70_80_90_percent)
{
    /* Two choices of eight-entry buckets: no loss at 70% (two choices of four
     * lost 0.3%), about 2 keys in 10 000 at 80%, under 1% at 90%. */
    ck_assert_uint_eq(lost_at(1024 * 1024, 70), 0);
    ck_assert_uint_lt(lost_at(1024 * 1024, 80), 1024 * 1024 / 2000);
    ck_assert_uint_lt(lost_at(1024 * 1024, 90), 1024 * 1024 / 100);
}
END_TEST

/* ------------------------------------------------------------------ concurrency */

#define KEYS 64
#define WRITERS 2
#define READERS 2

/* The name hash a writer stores for key k: the key in the high half, the writer and
 * a round in the low half, so that a reader can tell a name meant for another key. */
static apr_uint64_t name_for(int k, int writer, unsigned round)
{
    return ((apr_uint64_t)(k + 1) << 32) | ((apr_uint64_t)writer << 24) | (round & 0xffffff);
}

static void writer(aop_affinity_t *t, int id, apr_time_t until)
{
    unsigned round = 0;
    char key[16];

    while (apr_time_now() < until) {
        int k = (int)(round * 7 + (unsigned)id * 13) % KEYS;
        int len = apr_snprintf(key, sizeof(key), "resp_%d", k);

        if (round % 5 == 4) {
            aop_affinity_forget(t, key, (apr_size_t)len);
        }
        else {
            aop_affinity_remember(t, key, (apr_size_t)len, name_for(k, id, round),
                                  apr_time_now());
        }
        round++;
    }
    _exit(0);
}

/* Exits 1 on a torn or foreign name; writes its hits and reads to out. */
static void reader(const aop_affinity_t *t, apr_time_t until, unsigned long *out)
{
    unsigned long reads = 0, hits = 0;
    char key[16];

    while (apr_time_now() < until) {
        int k = (int)(reads % KEYS);
        int len = apr_snprintf(key, sizeof(key), "resp_%d", k);
        apr_uint64_t got = aop_affinity_find(t, key, (apr_size_t)len, apr_time_now());

        if (got && (got >> 32) != (apr_uint64_t)(k + 1)) {
            fprintf(stderr, "key %d: name %016llx\n", k, (unsigned long long)got);
            _exit(1);
        }
        hits += got != 0;
        reads++;
    }
    out[0] = reads;
    out[1] = hits;
    _exit(0);
}

START_TEST(processes_never_see_a_torn_name)
{
    /* 16 entries (two buckets) for 64 keys: writers overwrite each other's entries
     * all the time. */
    apr_size_t size;
    aop_affinity_t *t = table(16, 0, &size);
    unsigned long *counts = block(sizeof(unsigned long) * 2 * READERS), reads = 0, hits = 0;
    apr_time_t until = apr_time_now() + apr_time_from_msec(700);
    pid_t pid[WRITERS + READERS];
    int i, status;

    for (i = 0; i < WRITERS + READERS; i++) {
        pid[i] = fork();
        ck_assert_int_ge(pid[i], 0);
        if (pid[i] == 0) {
            if (i < WRITERS) {
                writer(t, i, until);
            }
            reader(t, until, counts + 2 * (i - WRITERS));
        }
    }
    for (i = 0; i < WRITERS + READERS; i++) {
        ck_assert_int_eq(waitpid(pid[i], &status, 0), pid[i]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "process %d failed", i);
    }
    for (i = 0; i < READERS; i++) {
        reads += counts[2 * i];
        hits += counts[2 * i + 1];
    }
    fprintf(stderr, "affinity: %lu concurrent reads, %lu hits\n", reads, hits);
    ck_assert_uint_gt(hits, 1000);
    ck_assert_uint_le(aop_affinity_used(t), 16);
}
END_TEST

/* The index of names by hash (aop_idx_map): where a stored response's instance is. */
START_TEST(name_index_finds_every_instance)
{
    enum { N = 5000 };
    apr_uint64_t *keys = malloc(sizeof(apr_uint64_t) * N);
    aop_idx_map_t *m;
    char name[32];
    int i;

    for (i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "inst-%d", i);
        keys[i] = aop_affinity_name_hash(name);
    }
    keys[N - 1] = keys[7];                  /* equal keys: the first wins */
    m = aop_idx_map_make(keys, N);
    ck_assert_ptr_nonnull(m);
    for (i = 0; i < N - 1; i++) {
        ck_assert_int_eq(aop_idx_map_get(m, keys[i]), i);
    }
    ck_assert_int_eq(aop_idx_map_get(m, aop_affinity_name_hash("inst-5000")), -1);
    aop_idx_map_free(m);
    m = aop_idx_map_make(keys, 0);          /* an empty fleet */
    ck_assert_int_eq(aop_idx_map_get(m, keys[0]), -1);
    aop_idx_map_free(m);
    free(keys);
}
END_TEST

Suite *aop_affinity_suite(void)
{
    Suite *s = suite_create("affinity");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, siphash_reference_vectors);
    tcase_add_test(tc, sizes_and_bounds);
    tcase_add_test(tc, remember_find_forget);
    tcase_add_test(tc, max_age);
    tcase_add_test(tc, full_bucket_overwrites_the_oldest);
    tcase_add_test(tc, a_million_entries_at_70_80_90_percent);
    tcase_add_test(tc, processes_never_see_a_torn_name);
    tcase_add_test(tc, name_index_finds_every_instance);
    suite_add_tcase(s, tc);
    return s;
}
