/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <string.h>

#include <apr_shm.h>
#include <apr_strings.h>

#include "mod_aoproxy_private.h"
#include "mod_aoproxy_token_table.h"

#define TABLE_MAGIC 0x414f5054u     /* "AOPT" */
#define TABLE_LAYOUT 2u
#define KEY_FREE 0
#define KEY_FREED (~APR_UINT64_C(0))
/* A reader that finds the slot being written that many times in a row gives up
 * (the writer copies a few KiB; it was stopped if it takes longer). */
#define READ_TRIES 100000

struct aop_token_slot_t {
    apr_uint32_t seq;            /* odd while the slot is written */
    apr_uint32_t token_len;
    apr_uint64_t key;            /* the credential's fingerprint; free, freed */
    apr_int64_t refused_at;      /* written by any process, atomically (not seq) */
    aop_token_state_t st;
    char token[AOP_TOKEN_MAX];
};

typedef struct {
    apr_uint32_t magic;
    apr_uint32_t layout;
    apr_uint32_t nslots;
    apr_uint32_t pad;
    aop_token_slot_t slot[];
} table_t;

typedef struct {
    apr_shm_t *shm;
} retained_t;

static table_t *table;

/* ------------------------------------------------------------------ the segment */

/* The retained segment is this build's table (magic, layout, size). */
static int same_layout(apr_shm_t *shm, apr_size_t size)
{
    const table_t *t = apr_shm_baseaddr_get(shm);

    return apr_shm_size_get(shm) >= size && t->magic == TABLE_MAGIC
           && t->layout == TABLE_LAYOUT && t->nslots == AOP_TOKEN_SLOTS;
}

apr_status_t aop_token_table_setup(server_rec *s)
{
    retained_t *kept = ap_retained_data_get("mod_aoproxy_token_table");
    apr_size_t size = sizeof(table_t) + sizeof(aop_token_slot_t) * AOP_TOKEN_SLOTS;
    apr_status_t rv;

    if (!kept) {
        kept = ap_retained_data_create("mod_aoproxy_token_table", sizeof(*kept));
    }
    if (kept->shm && !same_layout(kept->shm, size)) {
        /* A new build's table across a graceful restart (the module was upgraded):
         * tokens are fetched again into a new one.  The old children that still
         * serve keep their own mapping of the old segment until they exit. */
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, AOPLOGNO(00310)
                     "the Entra ID token table changed layout (a new module build): "
                     "tokens are fetched anew");
        apr_shm_destroy(kept->shm);
        kept->shm = NULL;
    }
    if (!kept->shm) {
        if ((rv = apr_shm_create(&kept->shm, size, NULL, s->process->pool)) != APR_SUCCESS) {
            kept->shm = NULL;
            return rv;
        }
        /* An anonymous segment comes zero-filled: every slot free. */
        table = apr_shm_baseaddr_get(kept->shm);
        table->magic = TABLE_MAGIC;
        table->layout = TABLE_LAYOUT;
        table->nslots = AOP_TOKEN_SLOTS;
    }
    table = apr_shm_baseaddr_get(kept->shm);
    return APR_SUCCESS;
}

void aop_token_table_reset(void)
{
    table = NULL;
}

/* ------------------------------------------------------------------ finding */

static apr_uint64_t key_of(const aop_token_slot_t *slot)
{
    return __atomic_load_n(&slot->key, __ATOMIC_ACQUIRE);
}

/* Probing from the key's place: the slot with key, else NULL (a free slot ends the
 * search; a freed one does not, as a key may lie beyond it). */
static aop_token_slot_t *find(apr_uint64_t key)
{
    apr_uint32_t i;

    if (!table || key == KEY_FREE || key == KEY_FREED) {
        return NULL;
    }
    for (i = 0; i < table->nslots; i++) {
        aop_token_slot_t *slot = &table->slot[(key + i) % table->nslots];
        apr_uint64_t k = key_of(slot);

        if (k == key) {
            return slot;
        }
        if (k == KEY_FREE) {
            return NULL;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------ readers */

/* A consistent copy of the slot, or 0 when it stayed busy (a stopped writer). */
static int copy(const aop_token_slot_t *slot, aop_token_state_t *st, char *token,
                apr_size_t cap, apr_uint32_t *len)
{
    int tries;

    for (tries = 0; tries < READ_TRIES; tries++) {
        apr_uint32_t s1 = __atomic_load_n(&slot->seq, __ATOMIC_ACQUIRE), s2, n;

        if (s1 & 1) {
            continue;
        }
        *st = slot->st;
        n = slot->token_len;
        if (n >= AOP_TOKEN_MAX) {
            n = 0;
        }
        if (token && cap) {
            n = n < cap ? n : (apr_uint32_t)cap - 1;
            memcpy(token, slot->token, n);
            token[n] = '\0';
        }
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        s2 = __atomic_load_n(&slot->seq, __ATOMIC_RELAXED);
        if (s1 == s2) {
            st->error[sizeof(st->error) - 1] = '\0';
            st->refused_at = __atomic_load_n(&slot->refused_at, __ATOMIC_ACQUIRE);
            *len = n;
            return 1;
        }
    }
    return 0;
}

int aop_token_table_read(apr_uint64_t key, aop_token_state_t *st, char *token,
                         apr_size_t cap)
{
    aop_token_slot_t *slot = find(key);
    apr_uint32_t len = 0;

    memset(st, 0, sizeof(*st));
    if (token && cap) {
        *token = '\0';
    }
    return slot && copy(slot, st, token, cap, &len);
}

int aop_token_table_ready(apr_uint64_t key, apr_time_t now)
{
    aop_token_slot_t *slot = find(key);
    int tries;

    for (tries = 0; slot && tries < READ_TRIES; tries++) {
        apr_uint32_t s1 = __atomic_load_n(&slot->seq, __ATOMIC_ACQUIRE), s2;
        int ready;

        if (s1 & 1) {
            continue;
        }
        ready = slot->token_len > 0 && now < slot->st.expires_at;
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        s2 = __atomic_load_n(&slot->seq, __ATOMIC_RELAXED);
        if (s1 == s2) {
            return ready;
        }
    }
    return 0;
}

void aop_token_table_refuse(apr_uint64_t key, apr_time_t now)
{
    aop_token_slot_t *slot = find(key);
    apr_int64_t was;

    if (!slot) {
        return;
    }
    /* a maximum: a late answer to an older request never moves it back */
    was = __atomic_load_n(&slot->refused_at, __ATOMIC_RELAXED);
    while (was < now && !__atomic_compare_exchange_n(&slot->refused_at, &was, now, 0,
                                                     __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
    }
}

/* ------------------------------------------------------------------ the writer */

/* Takes the slot for writing; 0 when another writer has it (an old generation's
 * task still finishing after a graceful restart). */
static int begin(aop_token_slot_t *slot)
{
    apr_uint32_t s = __atomic_load_n(&slot->seq, __ATOMIC_RELAXED);

    return !(s & 1) && __atomic_compare_exchange_n(&slot->seq, &s, s + 1, 0,
                                                   __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

static void end(aop_token_slot_t *slot)
{
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_add_fetch(&slot->seq, 1, __ATOMIC_RELEASE);
}

aop_token_slot_t *aop_token_table_claim(apr_uint64_t key)
{
    aop_token_slot_t *slot = find(key), *spare = NULL;
    apr_uint32_t i;

    if (slot || !table || key == KEY_FREE || key == KEY_FREED) {
        return slot;
    }
    for (i = 0; i < table->nslots && !spare; i++) {
        aop_token_slot_t *s = &table->slot[(key + i) % table->nslots];
        apr_uint64_t k = key_of(s);

        if ((k == KEY_FREE || k == KEY_FREED) && begin(s)) {
            memset(&s->st, 0, sizeof(s->st));
            s->token_len = 0;
            __atomic_store_n(&s->refused_at, 0, __ATOMIC_RELEASE);
            if (__atomic_compare_exchange_n(&s->key, &k, key, 0, __ATOMIC_ACQ_REL,
                                            __ATOMIC_RELAXED)) {
                spare = s;
            }
            end(s);
        }
    }
    return spare;
}

void aop_token_table_want(aop_token_slot_t *slot, apr_time_t now)
{
    if (begin(slot)) {
        slot->st.wanted = now;
        end(slot);
    }
}

void aop_token_table_store(aop_token_slot_t *slot, const char *token, apr_size_t len,
                           apr_time_t fetched, apr_time_t expires_at, apr_time_t refresh_at,
                           unsigned refusals)
{
    if (len >= AOP_TOKEN_MAX || !begin(slot)) {
        return;
    }
    memcpy(slot->token, token, len);
    slot->token_len = (apr_uint32_t)len;
    slot->st.fetched = fetched;
    slot->st.expires_at = expires_at;
    slot->st.refresh_at = refresh_at;
    slot->st.next_try = 0;
    slot->st.failures = 0;
    slot->st.refusals = refusals;
    slot->st.aad_code = 0;
    slot->st.error[0] = '\0';
    end(slot);
}

void aop_token_table_fail(aop_token_slot_t *slot, const char *error, int aad_code,
                          apr_time_t next_try)
{
    if (!begin(slot)) {
        return;
    }
    apr_cpystrn(slot->st.error, error, sizeof(slot->st.error));
    slot->st.aad_code = aad_code;
    slot->st.next_try = next_try;
    slot->st.failures++;
    end(slot);
}

void aop_token_table_state(aop_token_slot_t *slot, aop_token_state_t *st)
{
    apr_uint32_t len;

    if (!copy(slot, st, NULL, 0, &len)) {
        memset(st, 0, sizeof(*st));
    }
}

int aop_token_table_sweep(apr_time_t before)
{
    apr_uint32_t i;
    int n = 0;

    for (i = 0; table && i < table->nslots; i++) {
        aop_token_slot_t *slot = &table->slot[i];
        apr_uint64_t k = key_of(slot);

        if (k == KEY_FREE || k == KEY_FREED || slot->st.wanted >= before || !begin(slot)) {
            continue;
        }
        /* The token goes with the slot: nothing of it stays in memory. */
        memset(slot->token, 0, sizeof(slot->token));
        slot->token_len = 0;
        memset(&slot->st, 0, sizeof(slot->st));
        __atomic_store_n(&slot->refused_at, 0, __ATOMIC_RELEASE);
        __atomic_store_n(&slot->key, KEY_FREED, __ATOMIC_RELEASE);
        end(slot);
        n++;
    }
    return n;
}
