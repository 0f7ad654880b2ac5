/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* A fixed map from 64-bit keys (hashes already) to indices, made once and then only
 * read: open addressing, linear probing, at most half full.  Out of every pool
 * (malloc), so that a map made lazily by one thread of a process can be published to
 * the others with one atomic store, and freed with what holds it. */
#ifndef AOP_IDX_MAP_H
#define AOP_IDX_MAP_H

#include <apr.h>

typedef struct aop_idx_map_t aop_idx_map_t;

/* A map of the n keys keys[0..n-1] to their positions; the first of equal keys
 * wins.  NULL when out of memory. */
aop_idx_map_t *aop_idx_map_make(const apr_uint64_t *keys, int n);

/* The position of key, or -1. */
int aop_idx_map_get(const aop_idx_map_t *m, apr_uint64_t key);

void aop_idx_map_free(aop_idx_map_t *m);

#endif
