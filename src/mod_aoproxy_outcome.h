/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* What an attempt's answer says about its instance and its deployment (the instance
 * x model pair), kept in shared memory for every process: 429/408/5xx rest the
 * deployment (cooldown; Azure's limits and outages are per deployment, the
 * instance's other models go on), 401/403 mark the instance's key refused (or, for
 * an Entra ID instance, its token: a short rest while a new one is fetched), 404
 * marks the deployment missing for that model, and Azure's remaining-token count
 * bounds the instance's budget. */
#ifndef MOD_AOPROXY_OUTCOME_H
#define MOD_AOPROXY_OUTCOME_H

#include <httpd.h>

#include "mod_aoproxy_ctx.h"

/* How long a refused key or a missing deployment keeps an instance (or instance and
 * model) out, unless a reload comes first. */
#define AOP_UNHEALTHY_INTERVAL apr_time_from_sec(300)

/* Records the status Azure answered (headers in r->headers_out); returns 1 when it
 * started or extended a cooldown.  The _locked form is for callers that hold the
 * shm lock; they log afterwards with aop_outcome_log (never under the lock). */
int aop_outcome_note(request_rec *r, aop_req_t *ctx, int status);
int aop_outcome_note_locked(request_rec *r, aop_req_t *ctx, int status, apr_time_t now,
                            apr_time_t *until);
void aop_outcome_log(request_rec *r, aop_req_t *ctx, int status, apr_time_t until,
                     apr_time_t now);

/* The attempt failed without an answer the client can use: refused (503), reset
 * (502) or timed out (504) before answering, or its answer broke off (502).  With
 * rest, as for a 5xx, the deployment's consecutive failures grow (once it may be
 * tried again, it takes one request at a time until one succeeds: aop_circuit.h) and
 * it rests for AOProxyCooldown, longer after a failed probe (a new cooldown never
 * shortens a running one); a refused connection (no rest) fails the instance as a
 * whole and needs no rest of ours: mod_proxy leaves its worker out for
 * AOProxyRetryInterval.  Returns
 * 1 when it started or extended a cooldown, *until: when that ends (0: none).  The
 * _locked form is for callers that hold the shm lock. */
int aop_outcome_unreachable(aop_req_t *ctx, int status, int rest, apr_time_t *until);
int aop_outcome_failed_locked(aop_req_t *ctx, int status, int rest, apr_time_t now,
                              apr_time_t *until);
/* After aop_outcome_failed_locked for an answer that broke off once the client had
 * part of it (never under the lock). */
void aop_outcome_log_broken(request_rec *r, aop_req_t *ctx, apr_time_t until, apr_time_t now);

/* Whether a status from Azure is worth another instance. */
int aop_outcome_fails_over(int status);

#endif
