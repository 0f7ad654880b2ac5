/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <apr_strings.h>

#include "aop_cooldown.h"
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

/* A new cooldown never shortens one already running; says whether it lengthened it. */
static int rest(request_rec *r, aop_req_t *ctx, aop_shm_inst_t *si, apr_time_t now)
{
    apr_time_t until = now + aop_cooldown_from_headers(header, r->headers_out, now,
                                                       ctx->sc->cooldown.value);

    if (until > si->cooldown_until) {
        si->cooldown_until = until;
        return 1;
    }
    return 0;
}

/* Held at INT32_MAX: it is shown as a JSON int, and must never wrap back to 0 (which
 * reads as healthy). */
static void count_failure(aop_shm_inst_t *si)
{
    if (si->consecutive_failures < APR_INT32_MAX) {
        si->consecutive_failures++;
    }
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
                      "instance %s answered %d: resting for %" APR_TIME_T_FMT " ms",
                      name, status, apr_time_as_msec(until - now));
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

int aop_outcome_note_locked(request_rec *r, aop_req_t *ctx, int status, apr_time_t now,
                            apr_time_t *until)
{
    aop_shm_inst_t *si = ctx->chosen >= 0 ? aop_shm_inst(ctx->view->shm_map, ctx->chosen) : NULL;
    int rested = 0;

    *until = 0;
    if (!si) {
        return 0;
    }
    note_remaining(r, si, now);
    if (!aop_outcome_fails_over(status)) {
        /* It answered (a 400 is the client's): the circuit closes, a probe is over. */
        si->consecutive_failures = 0;
        si->probe_until = 0;
    }
    else {
        /* Rate limiting is Azure working as agreed, not a failure of the instance. */
        if (status != HTTP_TOO_MANY_REQUESTS) {
            count_failure(si);
        }
        si->probe_until = 0;         /* a probe's failure is its outcome */
        si->last_status = status;
        si->last_error_at = now;
        if (resting_status(status)) {
            rested = rest(r, ctx, si, now);
            *until = si->cooldown_until;
        }
        else if (status == HTTP_NOT_FOUND) {
            aop_shm_mark_missing(si, ctx->info.model, now + AOP_UNHEALTHY_INTERVAL);
        }
        else if (aop_auth_of(ctx->inst) != AOP_AUTH_API_KEY) {
            /* A refused Bearer token: the token task fetches another and ends the
             * rest once it is in (aop_token_refused()). */
            si->unhealthy_until = now + AOP_TOKEN_REFUSED_REST;
            aop_token_refused(ctx->inst, now);
        }
        else {
            si->unhealthy_until = now + AOP_UNHEALTHY_INTERVAL;
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

/* No header says how long: AOProxyCooldown, as for a 5xx without one. */
static int rest_default(aop_req_t *ctx, aop_shm_inst_t *si, apr_time_t now)
{
    apr_time_t until = now + ctx->sc->cooldown.value;

    if (until > si->cooldown_until) {
        si->cooldown_until = until;
        return 1;
    }
    return 0;
}

int aop_outcome_failed_locked(aop_req_t *ctx, int status, int rest, apr_time_t now,
                              apr_time_t *until)
{
    aop_shm_inst_t *si = ctx->chosen >= 0 ? aop_shm_inst(ctx->view->shm_map, ctx->chosen) : NULL;
    int rested = 0;

    *until = 0;
    if (!si) {
        return 0;
    }
    count_failure(si);
    si->last_status = status;
    si->last_error_at = now;
    si->probe_until = 0;             /* a probe's failure is its outcome */
    if (rest) {
        rested = rest_default(ctx, si, now);
        *until = si->cooldown_until;
    }
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
                  r->content_type && !ap_cstr_casecmpn(r->content_type, "text/event-stream", 17)
                  ? "a stream without its end" : "a body shorter than announced",
                  until > now ? apr_time_as_msec(until - now) : 0);
}
