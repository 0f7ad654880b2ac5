/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <string.h>

#include <apr_strings.h>

#include "aop_slots.h"

apr_uint32_t aop_slots_seq(const volatile apr_uint32_t *seq)
{
    return __atomic_load_n(seq, __ATOMIC_ACQUIRE);
}

int aop_slots_unchanged(const volatile apr_uint32_t *seq, apr_uint32_t seen)
{
    return __atomic_load_n(seq, __ATOMIC_ACQUIRE) == seen;
}

static char *slot_at(const aop_slot_table_t *tab, int slot)
{
    return tab->base + (apr_size_t)slot * tab->stride;
}

/* Whether name is one of gone, or starts with one of them followed by sep. */
static int is_gone(apr_hash_t *gone, const char *name, apr_size_t len, char sep)
{
    const char *end = sep ? memchr(name, sep, len) : NULL;

    return gone && apr_hash_get(gone, name, end ? (apr_ssize_t)(end - name) : (apr_ssize_t)len);
}

aop_slots_t *aop_slots_read(apr_pool_t *p, const aop_slot_table_t *tab, apr_hash_t *wanted,
                            apr_hash_t *gone, char sep)
{
    aop_slots_t *s = apr_pcalloc(p, sizeof(*s));
    apr_uint32_t i;

    s->tab = tab;
    s->hwm = *tab->hwm < tab->cap ? *tab->hwm : tab->cap;
    s->slot_of = apr_hash_make(p);
    s->free = apr_array_make(p, 16, sizeof(int));
    s->stale = apr_array_make(p, 16, sizeof(int));
    s->claims = apr_array_make(p, 4, sizeof(aop_slot_claim_t));
    s->cleared = apr_array_make(p, 4, sizeof(int));
    s->name_at = apr_pcalloc(p, sizeof(char *) * ((apr_size_t)s->hwm + 1));
    for (i = 0; i < s->hwm; i++) {
        const char *at = slot_at(tab, (int)i);
        /* Bounded: another process may be writing it (the last byte is never a
         * name's, but the plan does not rely on it). */
        apr_size_t len = strnlen(at, tab->name_size - 1);
        char *n;

        if (len && is_gone(gone, at, len, sep)) {
            APR_ARRAY_PUSH(s->cleared, int) = (int)i;
            len = 0;
        }
        if (!len) {
            APR_ARRAY_PUSH(s->free, int) = (int)i;
            continue;
        }
        s->name_at[i] = n = apr_pstrmemdup(p, at, len);
        apr_hash_set(s->slot_of, n, APR_HASH_KEY_STRING, (void *)(apr_uintptr_t)(i + 1));
        if (wanted && !apr_hash_get(wanted, n, APR_HASH_KEY_STRING)) {
            APR_ARRAY_PUSH(s->stale, int) = (int)i;
        }
    }
    return s;
}

int aop_slots_claim(apr_pool_t *p, aop_slots_t *s, const char *name, int *fresh, int *dirty)
{
    apr_uintptr_t v = (apr_uintptr_t)apr_hash_get(s->slot_of, name, APR_HASH_KEY_STRING);
    aop_slot_claim_t *c;
    int slot;

    *fresh = *dirty = 0;
    if (v) {
        return (int)(v - 1);
    }
    *fresh = 1;
    if (s->free_at < s->free->nelts) {
        slot = APR_ARRAY_IDX(s->free, s->free_at++, int);
        *dirty = 1;
    }
    else if (s->hwm < s->tab->cap) {
        slot = (int)s->hwm++;
    }
    else if (s->stale_at < s->stale->nelts) {
        slot = APR_ARRAY_IDX(s->stale, s->stale_at++, int);
        apr_hash_set(s->slot_of, s->name_at[slot], APR_HASH_KEY_STRING, NULL);
        *dirty = 1;
    }
    else {
        return -1;
    }
    c = apr_array_push(s->claims);
    c->slot = slot;
    c->dirty = *dirty;
    c->name = apr_pstrndup(p, name, s->tab->name_size - 1);
    apr_hash_set(s->slot_of, c->name, APR_HASH_KEY_STRING, (void *)(apr_uintptr_t)(slot + 1));
    return slot;
}

void aop_slots_apply(aop_slots_t *s, volatile apr_uint32_t *seq)
{
    int i;

    if (!s->cleared->nelts && !s->claims->nelts && s->hwm == *s->tab->hwm) {
        return;
    }
    for (i = 0; i < s->cleared->nelts; i++) {
        slot_at(s->tab, APR_ARRAY_IDX(s->cleared, i, int))[0] = '\0';
    }
    for (i = 0; i < s->claims->nelts; i++) {
        const aop_slot_claim_t *c = &APR_ARRAY_IDX(s->claims, i, aop_slot_claim_t);

        apr_cpystrn(slot_at(s->tab, c->slot), c->name, s->tab->name_size);
    }
    if (s->hwm > *s->tab->hwm) {
        *s->tab->hwm = s->hwm;
    }
    /* After the names: a plan that read the count before them sees it moved. */
    __atomic_add_fetch(seq, 1, __ATOMIC_RELEASE);
}
