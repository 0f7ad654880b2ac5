/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The response-affinity table: see aop_affinity.h for what it promises and why an
 * entry needs no lock. */
#include <string.h>

#include "aop_affinity.h"

#define MAGIC 0x414f5041u            /* "AOPA" */
#define LAYOUT 1u
#define LINE 64
/* A writer whose chosen entry was taken by another writer chooses again, this many
 * times, then gives the key up (a miss later, never a wrong answer). */
#define CLAIM_TRIES 4

/* A bucket's words by kind, so that a lookup scans the eight tags in one cache line
 * and reads the name and seal of a match in two more; the stamps are only read by
 * writers. */
typedef struct {
    apr_uint64_t tag[AOP_AFFINITY_BUCKET];    /* the key's first hash, never 0; 0: free */
    apr_uint64_t name[AOP_AFFINITY_BUCKET];   /* the instance's name hash */
    apr_uint64_t seal[AOP_AFFINITY_BUCKET];   /* the key's second hash XOR name */
    apr_uint64_t stamp[AOP_AFFINITY_BUCKET];  /* when remembered (apr_time_t) */
} bucket_t;

/* One entry: a bucket and a place in it. */
typedef struct {
    bucket_t *b;
    int i;
} slot_t;

struct aop_affinity_t {
    apr_uint32_t magic;
    apr_uint32_t layout;
    apr_uint64_t capacity;           /* entries: nbuckets * AOP_AFFINITY_BUCKET */
    apr_uint64_t nbuckets;
    apr_int64_t max_age;             /* 0: no limit */
    unsigned char seed[AOP_AFFINITY_SEED_LEN];
    apr_uint64_t used;               /* entries whose tag is not 0 */
    apr_uint64_t spare;
    bucket_t bucket[];               /* from byte 64 of the aligned block */
};

/* What a key hashes to: its tag and check, its two buckets. */
typedef struct {
    apr_uint64_t tag;
    apr_uint64_t check;
    bucket_t *b[2];
    int nb;                          /* 1 when both choices are one bucket */
} place_t;

/* ------------------------------------------------------------------ SipHash */

#define ROTL(x, b) (apr_uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND \
    do { \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32); \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2; \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0; \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32); \
    } while (0)

static apr_uint64_t le64(const unsigned char *p)
{
    apr_uint64_t v = 0;
    int i;

    for (i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* The reference SipHash-2-4 (Aumasson and Bernstein) with its 128-bit output. */
void aop_affinity_siphash128(const unsigned char key[16], const void *data, apr_size_t len,
                             apr_uint64_t out[2])
{
    const unsigned char *in = data, *end = in + (len - len % 8);
    apr_uint64_t k0 = le64(key), k1 = le64(key + 8), m, b = (apr_uint64_t)len << 56;
    apr_uint64_t v0 = APR_UINT64_C(0x736f6d6570736575) ^ k0;
    apr_uint64_t v1 = APR_UINT64_C(0x646f72616e646f6d) ^ k1 ^ 0xee;
    apr_uint64_t v2 = APR_UINT64_C(0x6c7967656e657261) ^ k0;
    apr_uint64_t v3 = APR_UINT64_C(0x7465646279746573) ^ k1;
    int i;

    for (; in != end; in += 8) {
        m = le64(in);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    for (i = (int)(len % 8) - 1; i >= 0; i--) {
        b |= (apr_uint64_t)in[i] << (8 * i);
    }
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xee;
    SIPROUND; SIPROUND; SIPROUND; SIPROUND;
    out[0] = v0 ^ v1 ^ v2 ^ v3;
    v1 ^= 0xdd;
    SIPROUND; SIPROUND; SIPROUND; SIPROUND;
    out[1] = v0 ^ v1 ^ v2 ^ v3;
}

apr_uint64_t aop_affinity_name_hash(const char *name)
{
    /* Unkeyed on purpose: every process and generation must agree. */
    static const unsigned char key[16] = "aoproxy-instance";
    apr_uint64_t h[2];

    aop_affinity_siphash128(key, name, strlen(name), h);
    return h[0] ? h[0] : 1;
}

/* ------------------------------------------------------------------ the block */

static apr_uint64_t buckets_for(apr_uint64_t n)
{
    return (n + AOP_AFFINITY_BUCKET - 1) / AOP_AFFINITY_BUCKET;
}

apr_size_t aop_affinity_size(apr_uint64_t n)
{
    if (n == 0 || n > AOP_AFFINITY_MAX_ENTRIES) {
        return 0;
    }
    return LINE + sizeof(aop_affinity_t) + (apr_size_t)buckets_for(n) * sizeof(bucket_t);
}

/* The block's first cache line boundary: where the table starts. */
static aop_affinity_t *aligned(void *block)
{
    apr_uintptr_t a = ((apr_uintptr_t)block + LINE - 1) & ~(apr_uintptr_t)(LINE - 1);

    return (aop_affinity_t *)a;
}

aop_affinity_t *aop_affinity_init(void *block, apr_size_t size, apr_uint64_t n,
                                  const unsigned char seed[AOP_AFFINITY_SEED_LEN],
                                  apr_interval_time_t max_age)
{
    apr_size_t need = aop_affinity_size(n);
    aop_affinity_t *t = aligned(block);

    if (!block || !need || size < need) {
        return NULL;
    }
    /* The entries are left alone: zero is free, and a page stays unallocated until
     * an entry in it is written. */
    t->nbuckets = buckets_for(n);
    t->capacity = t->nbuckets * AOP_AFFINITY_BUCKET;
    t->max_age = max_age > 0 ? max_age : 0;
    memcpy(t->seed, seed, AOP_AFFINITY_SEED_LEN);
    t->used = 0;
    t->layout = LAYOUT;
    t->magic = MAGIC;
    return t;
}

aop_affinity_t *aop_affinity_attach(void *block, apr_size_t size, apr_uint64_t n)
{
    apr_size_t need = aop_affinity_size(n);
    aop_affinity_t *t = aligned(block);

    if (!block || !need || size < need || t->magic != MAGIC || t->layout != LAYOUT
        || t->nbuckets != buckets_for(n) || t->capacity != t->nbuckets * AOP_AFFINITY_BUCKET) {
        return NULL;
    }
    return t;
}

apr_uint64_t aop_affinity_capacity(const aop_affinity_t *t)
{
    return t ? t->capacity : 0;
}

apr_uint64_t aop_affinity_used(const aop_affinity_t *t)
{
    return t ? __atomic_load_n(&t->used, __ATOMIC_RELAXED) : 0;
}

/* ------------------------------------------------------------------ places */

/* x (32 bits) onto 0..n-1 without a division (Lemire's multiply-shift). */
static apr_uint64_t range(apr_uint64_t x32, apr_uint64_t n)
{
    return (x32 * n) >> 32;
}

static int place_of(const aop_affinity_t *t, const char *key, apr_size_t len, place_t *pl)
{
    apr_uint64_t h[2], b0, b1;

    if (!t || !key || len == 0 || len > AOP_AFFINITY_KEY_MAX) {
        return 0;
    }
    aop_affinity_siphash128(t->seed, key, len, h);
    pl->tag = h[0] ? h[0] : 1;
    pl->check = h[1];
    /* The two halves of the tag pick the two buckets independently. */
    b0 = range(h[0] >> 32, t->nbuckets);
    b1 = range(h[0] & 0xffffffffu, t->nbuckets);
    pl->b[0] = (bucket_t *)&t->bucket[b0];
    pl->b[1] = (bucket_t *)&t->bucket[b1];
    pl->nb = b0 == b1 ? 1 : 2;
    return 1;
}

static apr_uint64_t load(const apr_uint64_t *w)
{
    return __atomic_load_n(w, __ATOMIC_ACQUIRE);
}

static void store(apr_uint64_t *w, apr_uint64_t v)
{
    __atomic_store_n(w, v, __ATOMIC_RELEASE);
}

static int cas(apr_uint64_t *w, apr_uint64_t was, apr_uint64_t v)
{
    return __atomic_compare_exchange_n(w, &was, v, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

/* Whether entry i of b holds the key of pl now: its name, else 0.  Each word is read
 * once and atomically; a name and a seal from two different writes fail the check. */
static apr_uint64_t holds(const bucket_t *b, int i, const place_t *pl)
{
    apr_uint64_t name;

    if (load(&b->tag[i]) != pl->tag) {
        return 0;
    }
    name = load(&b->name[i]);
    return name && (load(&b->seal[i]) ^ name) == pl->check ? name : 0;
}

/* ------------------------------------------------------------------ readers */

static int expired(const aop_affinity_t *t, const bucket_t *b, int i, apr_time_t now)
{
    apr_int64_t stamp = (apr_int64_t)load(&b->stamp[i]);

    return t->max_age && now - stamp > t->max_age;
}

apr_uint64_t aop_affinity_find(const aop_affinity_t *t, const char *key, apr_size_t key_len,
                               apr_time_t now)
{
    place_t pl;
    int k, i;

    if (!place_of(t, key, key_len, &pl)) {
        return 0;
    }
    for (k = 0; k < pl.nb; k++) {
        for (i = 0; i < AOP_AFFINITY_BUCKET; i++) {
            apr_uint64_t name = holds(pl.b[k], i, &pl);

            if (name && !expired(t, pl.b[k], i, now)) {
                return name;
            }
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ writers */

static void fill(slot_t e, const place_t *pl, apr_uint64_t name, apr_time_t now)
{
    /* The stamp first, so that other writers see the entry as new at once. */
    store(&e.b->stamp[e.i], (apr_uint64_t)now);
    store(&e.b->name[e.i], name);
    store(&e.b->seal[e.i], pl->check ^ name);
}

/* Rewrites every entry that holds the key (two racing first writers may have left
 * two); whether there was one. */
static int refresh(const place_t *pl, apr_uint64_t name, apr_time_t now)
{
    int k, i, found = 0;

    for (k = 0; k < pl->nb; k++) {
        for (i = 0; i < AOP_AFFINITY_BUCKET; i++) {
            slot_t e = { pl->b[k], i };
            apr_uint64_t had = holds(e.b, i, pl);

            if (had == name) {
                store(&e.b->stamp[i], (apr_uint64_t)now);
            }
            else if (had) {
                fill(e, pl, name, now);
            }
            found |= had != 0;
        }
    }
    return found;
}

/* The entry to write: a free one in the emptier bucket, else the one remembered
 * longest ago of both buckets. */
static slot_t victim(const place_t *pl)
{
    slot_t oldest = { NULL, 0 }, free_in[2] = { { NULL, 0 }, { NULL, 0 } };
    apr_uint64_t oldest_stamp = 0;
    int k, i, nfree[2] = { 0, 0 };

    for (k = 0; k < pl->nb; k++) {
        bucket_t *b = pl->b[k];

        for (i = 0; i < AOP_AFFINITY_BUCKET; i++) {
            apr_uint64_t stamp;

            if (load(&b->tag[i]) == 0) {
                if (!nfree[k]++) {
                    free_in[k].b = b;
                    free_in[k].i = i;
                }
                continue;
            }
            stamp = load(&b->stamp[i]);
            if (!oldest.b || stamp < oldest_stamp) {
                oldest.b = b;
                oldest.i = i;
                oldest_stamp = stamp;
            }
        }
    }
    if (nfree[0] || nfree[1]) {
        return nfree[1] > nfree[0] ? free_in[1] : free_in[0];
    }
    return oldest;
}

int aop_affinity_remember(aop_affinity_t *t, const char *key, apr_size_t key_len,
                          apr_uint64_t name_hash, apr_time_t now)
{
    place_t pl;
    int tries;

    if (name_hash == 0 || !place_of(t, key, key_len, &pl)) {
        return 0;
    }
    if (refresh(&pl, name_hash, now)) {
        return 1;
    }
    for (tries = 0; tries < CLAIM_TRIES; tries++) {
        slot_t e = victim(&pl);
        apr_uint64_t was = load(&e.b->tag[e.i]);

        /* The tag changes hands by compare-and-swap only, so that the count of
         * entries in use stays exact. */
        if (cas(&e.b->tag[e.i], was, pl.tag)) {
            if (was == 0) {
                __atomic_add_fetch(&t->used, 1, __ATOMIC_RELAXED);
            }
            fill(e, &pl, name_hash, now);
            return 1;
        }
    }
    return 0;
}

int aop_affinity_forget(aop_affinity_t *t, const char *key, apr_size_t key_len)
{
    place_t pl;
    int k, i, n = 0;

    if (!place_of(t, key, key_len, &pl)) {
        return 0;
    }
    for (k = 0; k < pl.nb; k++) {
        bucket_t *b = pl.b[k];

        for (i = 0; i < AOP_AFFINITY_BUCKET; i++) {
            apr_uint64_t name = holds(b, i, &pl);

            /* The seal goes first, and only if no writer changed it meanwhile: a
             * reader stops finding the key at once, and a new writer's seal (written
             * after ours) is never wiped. */
            if (!name || !cas(&b->seal[i], pl.check ^ name, 0)) {
                continue;
            }
            if (cas(&b->tag[i], pl.tag, 0)) {
                __atomic_sub_fetch(&t->used, 1, __ATOMIC_RELAXED);
            }
            n++;
        }
    }
    return n > 0;
}
