/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <apr_strings.h>

#include "aop_circuit.h"
#include "aop_cooldown.h"
#include "aop_event_stream.h"
#include "mod_aoproxy_private.h"
#include "mod_aoproxy_outcome.h"
#include "mod_aoproxy_shm.h"
#include "mod_aoproxy_token.h"

int aop_outcome_fails_over(int status)
{
    switch (status) {
    case HTTP_UNAUTHORIZED:
    case HTTP_FORBIDDEN:
    case HTTP_NOT_FOUND:
    case HTTP_REQUEST_TIME_OUT:
    case HTTP_TOO_MANY_REQUESTS:
    case HTTP_INTERNAL_SERVER_ERROR:
    case HTTP_BAD_GATEWAY:
    case HTTP_SERVICE_UNAVAILABLE:
    case HTTP_GATEWAY_TIME_OUT:
        return 1;
    default:
        return 0;
    }
}

static const char *header(void *baton, const char *name)
{
    return apr_table_get(baton, name);
}

static int resting_status(int status)
{
    return status == HTTP_TOO_MANY_REQUESTS || status == HTTP_REQUEST_TIME_OUT
           || status >= 500;
}

/* The deployment the attempt went to: the (instance, model) pair. */
static aop_shm_pair_t *attempt_pair(aop_req_t *ctx)
{
    return aop_req_pair(ctx, ctx->chosen);
}

/* Held at INT32_MAX: it is shown as a JSON int, and must never wrap back to 0 (which
 * reads as healthy). */
static void count(apr_uint32_t *failures)
{
    if (*failures < APR_INT32_MAX) {
        (*failures)++;
    }
}

/* A new cooldown never shortens one already running; says whether it lengthened it.
 * A failure after the first (a probe of a half-open circuit that failed) rests the
 * deployment exponentially longer (aop_circuit_backoff); a 429 is Azure's quota
 * working as agreed, its Retry-After stands as given. */
static int rest_for(aop_shm_pair_t *sp, int status, apr_interval_time_t wait, apr_time_t now)
{
    apr_time_t until;

    if (now + wait > sp->base_until) {
        sp->base_until = now + wait;
    }
    if (status != HTTP_TOO_MANY_REQUESTS) {
        apr_interval_time_t grown = aop_circuit_backoff(wait, sp->consecutive_failures);

        wait = grown > wait ? grown : wait;
    }
    until = now + wait;
    if (until > sp->cooldown_until) {
        sp->cooldown_until = until;
        return 1;
    }
    return 0;
}

static int rest(request_rec *r, aop_req_t *ctx, aop_shm_pair_t *sp, int status, apr_time_t now)
{
    return rest_for(sp, status, aop_cooldown_from_headers(header, r->headers_out, now,
                                                          ctx->sc->cooldown.value), now);
}

/* What a failure of the deployment alone leaves on it: a probe's failure is its
 * outcome; 429 (rate limiting) is not a failure of the deployment. */
static void pair_failed(aop_shm_pair_t *sp, int status, apr_time_t now)
{
    if (status != HTTP_TOO_MANY_REQUESTS) {
        count(&sp->consecutive_failures);
    }
    sp->probe_until = 0;
    sp->last_status = status;
    sp->last_error_at = now;
}

static void note_remaining(request_rec *r, aop_shm_inst_t *si, apr_time_t now)
{
    const char *v = apr_table_get(r->headers_out, "x-ratelimit-remaining-tokens");
    char *end;
    apr_int64_t n;

    if (v && (n = apr_strtoi64(v, &end, 10)) >= 0 && end != v && !*end) {
        aop_tpm_remote(&si->tpm, n, apr_time_sec(now));
    }
}

void aop_outcome_log(request_rec *r, aop_req_t *ctx, int status, apr_time_t until,
                     apr_time_t now)
{
    const char *name = ctx->inst->name;

    if (resting_status(status)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOPLOGNO(00043)
                      "instance %s answered %d for model %s: its deployment %s rests for %"
                      APR_TIME_T_FMT " ms (the instance's other models go on)",
                      name, status, ctx->info.model, ctx->deployment,
                      apr_time_as_msec(until > now ? until - now : 0));
    }
    else if ((status == HTTP_UNAUTHORIZED || status == HTTP_FORBIDDEN)
             && aop_auth_of(ctx->inst) != AOP_AUTH_API_KEY) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, AOPLOGNO(00307)
                      "instance %s refused its Entra ID token (%d, auth.type %s): a new "
                      "token is requested; left out until it is in, at most %d s",
                      name, status, ctx->inst->auth_type,
                      (int)apr_time_sec(AOP_TOKEN_REFUSED_REST));
    }
    else if (status == HTTP_UNAUTHORIZED || status == HTTP_FORBIDDEN) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOPLOGNO(00044)
                      "instance %s refused its api key (%d): left out for %d s or until "
                      "the configuration is reloaded", name, status,
                      (int)apr_time_sec(AOP_UNHEALTHY_INTERVAL));
    }
    else if (status == HTTP_NOT_FOUND) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, AOPLOGNO(00045)
                      "instance %s has no deployment %s for model %s (404): left out for "
                      "this model", name, ctx->deployment, ctx->info.model);
    }
}

/* 401/403: the key (or token) is the instance's, refused for every model. */
static void key_refused(aop_req_t *ctx, aop_shm_inst_t *si, apr_time_t now)
{
    count(&si->consecutive_failures);
    if (aop_auth_of(ctx->inst) != AOP_AUTH_API_KEY) {
        /* A refused Bearer token: the token task fetches another and ends the
         * rest once it is in (aop_token_refused()). */
        si->unhealthy_until = now + AOP_TOKEN_REFUSED_REST;
        aop_token_refused(ctx->inst, now);
    }
    else {
        si->unhealthy_until = now + AOP_UNHEALTHY_INTERVAL;
    }
}

/* It answered (a 400 is the client's): the instance's circuit and its deployment's
 * close, a probe of either is over. */
static void answered(aop_shm_inst_t *si, aop_shm_pair_t *sp)
{
    si->consecutive_failures = 0;
    si->probe_until = 0;
    if (sp) {
        sp->consecutive_failures = 0;
        sp->probe_until = 0;
    }
}

int aop_outcome_note_locked(request_rec *r, aop_req_t *ctx, int status, apr_time_t now,
                            apr_time_t *until)
{
    aop_shm_inst_t *si = ctx->chosen >= 0 ? aop_shm_inst(ctx->view->shm_map, ctx->chosen) : NULL;
    aop_shm_pair_t *sp = si ? attempt_pair(ctx) : NULL;
    int rested = 0;

    *until = 0;
    if (!si) {
        return 0;
    }
    note_remaining(r, si, now);
    if (!aop_outcome_fails_over(status)) {
        answered(si, sp);
    }
    else {
        si->probe_until = 0;         /* a probe's failure is its outcome */
        si->last_status = status;
        si->last_error_at = now;
        if (status == HTTP_UNAUTHORIZED || status == HTTP_FORBIDDEN) {
            key_refused(ctx, si, now);
        }
        else if (!sp) {
            /* A model the instance does not list (a pinned stored response's
             * instance): the instance as a whole. */
            count(&si->consecutive_failures);
        }
        else {
            /* Azure's limits and outages are per deployment: the instance's other
             * models go on. */
            pair_failed(sp, status, now);
            if (status == HTTP_NOT_FOUND) {
                aop_shm_mark_missing(si, ctx->info.model, now + AOP_UNHEALTHY_INTERVAL);
            }
            else {
                rested = rest(r, ctx, sp, status, now);
                *until = sp->cooldown_until;
            }
        }
    }
    return rested;
}

int aop_outcome_note(request_rec *r, aop_req_t *ctx, int status)
{
    apr_time_t now = apr_time_now(), until;
    int rested;

    aop_shm_lock();
    rested = aop_outcome_note_locked(r, ctx, status, now, &until);
    aop_shm_unlock();
    aop_outcome_log(r, ctx, status, until, now);
    return rested;
}

/* A timeout, a reset or a broken answer fails the deployment (the pair): its circuit
 * opens for AOProxyCooldown (no header says how long), longer for a failed probe.  A
 * refused connection (no rest: mod_proxy's worker error state covers the host)
 * fails the instance as a whole. */
int aop_outcome_failed_locked(aop_req_t *ctx, int status, int rest, apr_time_t now,
                              apr_time_t *until)
{
    aop_shm_inst_t *si = ctx->chosen >= 0 ? aop_shm_inst(ctx->view->shm_map, ctx->chosen) : NULL;
    aop_shm_pair_t *sp = si && rest ? attempt_pair(ctx) : NULL;
    int rested = 0;

    *until = 0;
    if (!si) {
        return 0;
    }
    si->last_status = status;
    si->last_error_at = now;
    si->probe_until = 0;             /* a probe's failure is its outcome */
    if (!sp) {
        count(&si->consecutive_failures);
        return 0;
    }
    pair_failed(sp, status, now);
    rested = rest_for(sp, status, ctx->sc->cooldown.value, now);
    *until = sp->cooldown_until;
    return rested;
}

int aop_outcome_unreachable(aop_req_t *ctx, int status, int rest, apr_time_t *until)
{
    int rested;

    aop_shm_lock();
    rested = aop_outcome_failed_locked(ctx, status, rest, apr_time_now(), until);
    aop_shm_unlock();
    return rested;
}

void aop_outcome_log_broken(request_rec *r, aop_req_t *ctx, apr_time_t until, apr_time_t now)
{
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, AOPLOGNO(00221)
                  "instance %s broke off its answer for model %s after the client had part "
                  "of it (%s): counted as truncated, resting it for %" APR_TIME_T_FMT " ms",
                  ctx->inst->name, ctx->info.model,
                  aop_is_event_stream(r->content_type)
                  ? "a stream without its end" : "a body shorter than announced",
                  until > now ? apr_time_as_msec(until - now) : 0);
}
