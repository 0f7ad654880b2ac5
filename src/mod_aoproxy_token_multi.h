/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The token task's fetches in flight, all at once (one libcurl multi handle): a
 * token endpoint that accepts and never answers holds its own fetch until its
 * timeout, not the task, so every other credential is still renewed on time.  The
 * task starts the fetches that are due and drives them for a short while each tick
 * (aop_token_multi_run()); a fetch lives across ticks until it is answered or times
 * out.  Only the watchdog thread of the one process that runs the task uses it (no
 * lock); a process that stops abandons its fetches (aop_token_multi_stop()). */
#ifndef MOD_AOPROXY_TOKEN_MULTI_H
#define MOD_AOPROXY_TOKEN_MULTI_H

#include <httpd.h>

#include "aop_token.h"

/* A finished fetch: its answer (allocated in p, the fetch's pool, destroyed once
 * this returns: the form with the secret and the token go with it). */
typedef void aop_token_multi_done_fn(void *baton, apr_pool_t *p,
                                     const aop_token_answer_t *ans, const char *endpoint,
                                     apr_time_t start);

/* A pool for a new fetch: the caller puts its baton there, then starts the fetch
 * with it, or destroys it. */
apr_pool_t *aop_token_multi_pool(void);

/* Starts the fetch of a token for inst, given at most timeout (connecting
 * included), its lifetime counted from start.  APR_SUCCESS: p now belongs to the
 * fetch until done has been called.  Else out->error (in p, still the caller's)
 * says why no request could be made, and *endpoint is NULL. */
apr_status_t aop_token_multi_start(apr_pool_t *p, const aop_instance_t *inst,
                                   apr_interval_time_t timeout, apr_time_t start,
                                   void *baton, aop_token_answer_t *out,
                                   const char **endpoint);

/* Moves every fetch on for at most wait (returning as soon as none is left), and
 * calls done for each one that finished. */
void aop_token_multi_run(apr_interval_time_t wait, aop_token_multi_done_fn *done);

/* How many fetches are in flight. */
int aop_token_multi_count(void);

/* Abandons every fetch (the task stops): no done is called. */
void aop_token_multi_stop(void);

#endif
