/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <stdlib.h>

#include "aop_idx_map.h"

typedef struct {
    apr_uint64_t key;
    int idx;                    /* -1: empty */
} slot_t;

struct aop_idx_map_t {
    apr_size_t mask;            /* slots - 1: a power of two at least twice n */
    slot_t slot[];
};

/* The keys are hashes already: their low bits spread well; mixed once more anyway,
 * so that keys that differ only in high bits do not pile up. */
static apr_size_t home(const aop_idx_map_t *m, apr_uint64_t key)
{
    return (apr_size_t)((key ^ (key >> 29)) * APR_UINT64_C(0x9E3779B97F4A7C15) >> 17)
           & m->mask;
}

aop_idx_map_t *aop_idx_map_make(const apr_uint64_t *keys, int n)
{
    apr_size_t slots = 16, i, at;
    aop_idx_map_t *m;
    int k;

    while (slots < (apr_size_t)(n > 0 ? n : 0) * 2) {
        slots *= 2;
    }
    if (!(m = malloc(sizeof(*m) + slots * sizeof(slot_t)))) {
        return NULL;
    }
    m->mask = slots - 1;
    for (i = 0; i < slots; i++) {
        m->slot[i].idx = -1;
    }
    for (k = 0; k < n; k++) {
        for (at = home(m, keys[k]); m->slot[at].idx >= 0; at = (at + 1) & m->mask) {
            if (m->slot[at].key == keys[k]) {
                break;
            }
        }
        if (m->slot[at].idx < 0) {
            m->slot[at].key = keys[k];
            m->slot[at].idx = k;
        }
    }
    return m;
}

int aop_idx_map_get(const aop_idx_map_t *m, apr_uint64_t key)
{
    apr_size_t at;

    for (at = home(m, key); m->slot[at].idx >= 0; at = (at + 1) & m->mask) {
        if (m->slot[at].key == key) {
            return m->slot[at].idx;
        }
    }
    return -1;
}

void aop_idx_map_free(aop_idx_map_t *m)
{
    free(m);
}
