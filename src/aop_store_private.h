/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* What the instance store's files share beyond aop_store.h: aop_store.c keeps the
 * database, aop_store_import.c reads the Python version's state file and hands its
 * instances over as one batch.  No other file includes this. */
#ifndef AOP_STORE_PRIVATE_H
#define AOP_STORE_PRIVATE_H

#include "aop_store.h"

/* Fills res as every failure of the store does ("instance store PATH: ...", the
 * status, the instance's name or NULL) and returns the matching APR status. */
apr_status_t aop_store_failed(apr_pool_t *p, aop_store_result_t *res, const char *path,
                              aop_store_status_e status, const char *name,
                              const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Pushes the changes of a batch (aop_store_change_t, by value) onto changes; on
 * failure fills res (aop_store_failed) and nothing is written. */
typedef apr_status_t aop_store_batch_fn(apr_pool_t *p, void *baton,
                                        apr_array_header_t *changes,
                                        aop_store_result_t *res);

/* In one write transaction: when the store has no instance rows at all (not even
 * deletions), asks build for a batch and applies it all or nothing, as
 * aop_store_put_many() would, and sets *applied to its size; otherwise build is not
 * called and *applied is 0.  So two processes starting at once import once. */
apr_status_t aop_store_put_many_if_empty(apr_pool_t *p, const char *path, const char *who,
                                         aop_store_batch_fn *build, void *baton,
                                         int *applied, aop_store_result_t *res);

#endif
