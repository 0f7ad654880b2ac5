/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Pages of a list of instances for the reports that name every instance (/metrics,
 * /stats/instances): with thousands of instances one answer would be megabytes
 * and take a scrape's whole budget.  A page is the next `limit` names in byte
 * order after the cursor `after` (the last name of the previous page), so paging
 * names every instance exactly once even when instances come and go between pages:
 * a new one appears on the page its name sorts into, a removed one is skipped. */
#ifndef AOP_PAGE_H
#define AOP_PAGE_H

#include <apr_pools.h>

#define AOP_PAGE_LIMIT_MAX 10000     /* the largest page a client may ask for */

typedef struct aop_page_t {
    int *idx;                        /* positions in names, in name order */
    int count;
    const char *next;                /* the cursor for the next page; NULL: the last */
} aop_page_t;

/* The page of names[0..n) after `after` (NULL: from the first), at most limit long. */
aop_page_t *aop_page_select(apr_pool_t *p, const char *const *names, int n,
                            const char *after, int limit);

/* A limit from a query string ("1".."AOP_PAGE_LIMIT_MAX"); NULL when s is none
 * (then *limit is dflt), else the problem with it. */
const char *aop_page_limit(const char *s, int dflt, int *limit);

#endif
