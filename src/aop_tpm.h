/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Tokens-per-minute budgets: a rolling 60-second window of one-second buckets plus
 * the estimates of requests still in flight.  Plain fixed-size structs: they live in
 * shared memory, and every mutation happens under the module's global mutex. */
#ifndef AOP_TPM_H
#define AOP_TPM_H

#include <apr.h>

#define AOP_TPM_WINDOW 60        /* seconds */

typedef struct aop_tpm_t {
    /* What every pick reads, first and together (one or two cache lines; the
     * buckets are summed once a second). */
    apr_int64_t reserved;                /* estimates of requests in flight */
    apr_int64_t remote_remaining;        /* Azure's x-ratelimit-remaining-tokens, -1 = none */
    apr_int64_t remote_at;               /* the second it was seen */
    apr_int64_t cache_sec;               /* the second cache_used is the window sum for */
    apr_int64_t cache_used;
    apr_int64_t sec[AOP_TPM_WINDOW];     /* the epoch second a bucket counts, 0 = empty */
    apr_int64_t tokens[AOP_TPM_WINDOW];  /* tokens used in that second */
} aop_tpm_t;

void aop_tpm_init(aop_tpm_t *t);

/* Tokens used in the window ending at now (the last 60 seconds, now included): from
 * the cache when it is for this second, else summed over the buckets. */
apr_int64_t aop_tpm_used(const aop_tpm_t *t, apr_int64_t now);

/* Sums the window for now into the cache (once a second per instance; commits keep it
 * up to date within the second), so that picking among many instances stays cheap. */
void aop_tpm_refresh(aop_tpm_t *t, apr_int64_t now);

/* Whether estimate more tokens fit the budget now (max_tpm 0 = unlimited).  A request
 * larger than the whole budget fits an empty window, else it could never run. */
int aop_tpm_fits(const aop_tpm_t *t, apr_int64_t max_tpm, apr_int64_t estimate,
                 apr_int64_t now);

/* The same from this second's cache alone, without the lock and without summing
 * the window: 1 ("maybe") when the cache is for another second.  A hint for a
 * first pass over many candidates; aop_tpm_fits() decides. */
int aop_tpm_fits_hint(const aop_tpm_t *t, apr_int64_t max_tpm, apr_int64_t estimate,
                      apr_int64_t now);

/* The first second, at or after now, at which estimate fits (assuming nothing else
 * arrives and reservations stay); now when it fits already. */
apr_int64_t aop_tpm_fits_at(const aop_tpm_t *t, apr_int64_t max_tpm, apr_int64_t estimate,
                            apr_int64_t now);

void aop_tpm_reserve(aop_tpm_t *t, apr_int64_t estimate);

/* Ends a request: its reservation goes, the tokens it really used count at now. */
void aop_tpm_commit(aop_tpm_t *t, apr_int64_t reserved, apr_int64_t used, apr_int64_t now);

/* Azure said how many tokens its own limit has left (x-ratelimit-remaining-tokens). */
void aop_tpm_remote(aop_tpm_t *t, apr_int64_t remaining, apr_int64_t now);

#endif
