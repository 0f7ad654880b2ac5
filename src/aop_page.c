/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <stdlib.h>
#include <string.h>

#include "aop_page.h"

typedef struct named_t {
    const char *name;
    int idx;
} named_t;

static int by_name(const void *a, const void *b)
{
    return strcmp(((const named_t *)a)->name, ((const named_t *)b)->name);
}

aop_page_t *aop_page_select(apr_pool_t *p, const char *const *names, int n,
                            const char *after, int limit)
{
    aop_page_t *page = apr_pcalloc(p, sizeof(*page));
    named_t *all = apr_palloc(p, sizeof(*all) * (apr_size_t)(n + 1));
    int i, first = 0;

    page->idx = apr_palloc(p, sizeof(int) * (apr_size_t)(limit > 0 ? limit : 1));
    for (i = 0; i < n; i++) {
        all[i].name = names[i];
        all[i].idx = i;
    }
    qsort(all, (size_t)n, sizeof(*all), by_name);
    while (after && first < n && strcmp(all[first].name, after) <= 0) {
        first++;
    }
    for (i = first; i < n && page->count < limit; i++) {
        page->idx[page->count++] = all[i].idx;
    }
    if (i < n && page->count > 0) {
        page->next = all[i - 1].name;
    }
    return page;
}

const char *aop_page_limit(const char *s, int dflt, int *limit)
{
    char *end;
    long v;

    *limit = dflt;
    if (!s) {
        return NULL;
    }
    v = strtol(s, &end, 10);
    if (!*s || *end || end - s > 6 || v < 1 || v > AOP_PAGE_LIMIT_MAX) {
        return "limit must be a whole number from 1 to 10000";
    }
    *limit = (int)v;
    return NULL;
}
