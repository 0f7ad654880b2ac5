/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <apr_strings.h>

#include <http_protocol.h>
#include <mod_proxy.h>
#include <apr_optional_hooks.h>

#include "mod_aoproxy_private.h"
#include "mod_aoproxy_body.h"
#include "mod_aoproxy_ctx.h"
#include "mod_aoproxy_errors.h"
#include "mod_aoproxy_fallback.h"
#include "mod_aoproxy_lbmethod.h"
#include "mod_aoproxy_outcome.h"
#include "mod_aoproxy_proxy.h"
#include "mod_aoproxy_reservations.h"
#include "mod_aoproxy_responses.h"
#include "mod_aoproxy_resume.h"
#include "mod_aoproxy_stats.h"
#include "mod_aoproxy_stream_timer.h"
#include "mod_aoproxy_token.h"

/* mod_proxy_http's note that it handed an error status to us (ProxyErrorOverride). */
#define OVERRIDE_NOTE "proxy-error-override"
/* ... and that the backend did not answer within the worker's timeout (it then
 * returns 502, not 504). */
#define TIMEOUT_NOTE "proxy_timedout"

/* Client headers that must not reach Azure: credentials meant for us (or for
 * OpenAI), cookies, and Accept-Encoding (usage must be readable in the answer).  The
 * first two are where an instance's credential goes (DROPPED_*, in this order). */
enum { DROPPED_AUTHORIZATION, DROPPED_API_KEY };
static const char *const dropped_headers[] = {
    "Authorization", "api-key", "OpenAI-Organization", "OpenAI-Project", "Cookie",
    "Accept-Encoding", "Proxy-Authorization", NULL
};

/* For each first and third byte of a header name, the dropped headers (bits by
 * index: eight at most) that have them, in either case: filled at registration.  By
 * 5 bits of each (letters fold; other bytes may share a cell: a compare more, never
 * one less), so that Content-Type and Content-Length, beside Cookie, cost no compare,
 * nor Accept-Encoding beside Authorization and api-key: by the first byte alone, a
 * client's usual headers were compared about seven times a request. */
#define DROP_CELL(c) ((unsigned char)(c) & 31u)
static unsigned char dropped_by_bytes[32][32];

static void index_dropped_headers(void)
{
    int j;

    for (j = 0; dropped_headers[j]; j++) {
        const char *h = dropped_headers[j];

        dropped_by_bytes[DROP_CELL(h[0])][DROP_CELL(h[2])] |= (unsigned char)(1u << j);
    }
}

/* The dropped headers key may be (bits by index of dropped_headers). */
static unsigned dropped_candidates(const char *key)
{
    if (!key || !key[0] || !key[1] || !key[2]) {
        return 0;               /* each dropped name is longer */
    }
    return dropped_by_bytes[DROP_CELL(key[0])][DROP_CELL(key[2])];
}

/* The statuses mod_proxy_http hands to us instead of the client (sorted, as
 * mod_proxy's binary search wants them). */
static apr_array_header_t *override_codes;
/* ... and every error status, for an attempt that resumes a stream: the client has
 * its 200 and part of the answer, and must never get an error body inside it. */
static apr_array_header_t *resume_codes;
/* ... and with 400 too, for an attempt that looks for a previous response: its
 * "previous_response_not_found" moves on to the next instance. */
static apr_array_header_t *lookup_codes;

/* Entries of a per-dir configuration vector that loaded modules use (their highest
 * module_index + 1): what a copy of one must hold. */
static apr_size_t conf_slots;

void aop_proxy_prepare(apr_pool_t *pconf)
{
    static const int codes[] = { 401, 403, 404, 408, 429, 500, 502, 503, 504 };
    size_t i;
    module *m;

    conf_slots = 0;
    for (m = ap_top_module; m; m = m->next) {
        if ((apr_size_t)m->module_index + 1 > conf_slots) {
            conf_slots = (apr_size_t)m->module_index + 1;
        }
    }
    override_codes = apr_array_make(pconf, (int)(sizeof(codes) / sizeof(codes[0])),
                                    sizeof(int));
    lookup_codes = apr_array_make(pconf, (int)(sizeof(codes) / sizeof(codes[0])) + 1,
                                  sizeof(int));
    APR_ARRAY_PUSH(lookup_codes, int) = HTTP_BAD_REQUEST;
    resume_codes = apr_array_make(pconf, 200, sizeof(int));
    for (i = 400; i < 600; i++) {
        APR_ARRAY_PUSH(resume_codes, int) = (int)i;
    }
    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        APR_ARRAY_PUSH(override_codes, int) = codes[i];
        APR_ARRAY_PUSH(lookup_codes, int) = codes[i];
    }
}

/* A private copy of this request's directory configuration in which mod_proxy's
 * part says "ProxyErrorOverride On 401 ... 504": the operator's own settings for
 * other locations stay as they are. */
void aop_proxy_override_errors(request_rec *r)
{
    proxy_dir_conf *base = ap_get_module_config(r->per_dir_config, &proxy_module);
    proxy_dir_conf *mine;
    ap_conf_vector_t *copy;

    if (!base) {
        return;
    }
    mine = apr_pmemdup(r->pool, base, sizeof(*base));
    mine->error_override = 1;
    mine->error_override_set = 1;
    mine->error_override_codes = override_codes;
    /* A shallow copy of the vector (a pointer per loaded module): merging it
     * (ap_merge_per_dir_configs) would run every module's merger per request. */
    copy = apr_pmemdup(r->pool, r->per_dir_config, conf_slots * sizeof(void *));
    ap_set_module_config(copy, &proxy_module, mine);
    r->per_dir_config = copy;
}

/* balancer_fixup() re-runs the canon handlers once our finder picked an instance:
 * the whole backend URL is built here, for this instance. */
static int aop_canon(request_rec *r, char *url)
{
    aop_req_t *ctx = aop_req_get(r);

    if (!ctx || !ctx->inst || ap_cstr_casecmpn(url, "balancer:", 9) == 0) {
        return DECLINED;
    }
    r->filename = aop_route_backend_url(r->pool, "proxy:", ctx->inst, ctx->deployment,
                                        ctx->op, ctx->path.response_id, r->args);
    /* This instance's deployment as the body's model, where its path names none. */
    ctx->model_splice.text = NULL;
    if (!ctx->by_id && ctx->deployment && ctx->body.data
        && aop_route_model_in_body(ctx->inst, ctx->op)) {
        aop_request_model_splice(r->pool, ctx->body.data, &ctx->info, ctx->deployment,
                                 &ctx->model_splice);
    }
    return OK;
}

/* Runs on mod_proxy's temporary copy of the request headers, so the key never
 * enters r->headers_in (and so never a log line that prints them). */
static int aop_proxy_fixups(request_rec *r)
{
    aop_req_t *ctx = aop_req_get(r);
    const apr_array_header_t *headers;
    const char *cred;
    unsigned sent = 0;
    int i, j, cred_at;

    if (!ctx || !ctx->inst) {
        return DECLINED;
    }
    /* One look at each header the client sent; a by-name unset of every dropped
     * header, whether sent or not, cost about 650 instructions a request. */
    headers = apr_table_elts(r->headers_in);
    for (i = 0; i < headers->nelts; i++) {
        const char *key = ((const apr_table_entry_t *)(void *)headers->elts)[i].key;

        unsigned maybe = dropped_candidates(key);

        for (j = 0; maybe; j++, maybe >>= 1) {
            if ((maybe & 1) && ap_cstr_casecmp(key, dropped_headers[j]) == 0) {
                sent |= 1u << j;
            }
        }
    }
    /* The header the instance's credential goes in replaces the client's own (setn
     * removes every other entry of its name): no unset of it first, a table scan
     * of about 250 instructions for every client that sends an api-key. */
    if (aop_auth_of(ctx->inst) == AOP_AUTH_API_KEY) {
        cred_at = DROPPED_API_KEY;
        cred = ctx->inst->api_key;
    }
    else {
        /* Entra ID: the token the task renews (the pick left out an instance without
         * one; one that expired since goes out and Azure's 401 fails over). */
        cred_at = DROPPED_AUTHORIZATION;
        cred = aop_token_bearer(r->pool, ctx->inst);
    }
    for (j = 0; dropped_headers[j]; j++) {
        if ((sent & (1u << j)) && !(j == cred_at && cred)) {
            apr_table_unset(r->headers_in, dropped_headers[j]);
        }
    }
    if (cred) {
        apr_table_setn(r->headers_in, dropped_headers[cred_at], cred);
    }
    return OK;
}

/* Forgets what an overridden answer left in the request, before the next attempt. */
static void forget_answer(request_rec *r)
{
    apr_table_unset(r->notes, OVERRIDE_NOTE);
    apr_table_clear(r->headers_out);
    r->status = HTTP_OK;
    r->status_line = NULL;
}

/* The attempt failed without reaching the client: mod_proxy moves to the next
 * member only when the scheme handler says 503, and then puts the worker in error
 * for its retry interval; that is right for a refused connection only. */
static int move_on(aop_req_t *ctx, proxy_worker *worker, int soft, int next)
{
    if (soft && !PROXY_WORKER_IS(worker, PROXY_WORKER_IN_ERROR)) {
        ctx->soft_failed = worker;
    }
    /* Nothing left: end mod_proxy's loop here (any status but 503 does). */
    return next ? HTTP_SERVICE_UNAVAILABLE : HTTP_BAD_GATEWAY;
}

/* Remembers a failed attempt for the final log line (AOP00041): "east (429), west
 * (refused)".  Names and statuses only: nothing secret. */
static void note_failed(request_rec *r, aop_req_t *ctx, const char *what)
{
    const char *one = apr_psprintf(r->pool, "%s (%s)", ctx->inst->name, what);

    ctx->failed = ctx->failed ? apr_pstrcat(r->pool, ctx->failed, ", ", one, NULL) : one;
}

/* A stored response is not on this instance: the next one is asked, and this one is
 * not held to blame (it answered as it should). */
static int after_not_here(request_rec *r, aop_req_t *ctx, proxy_worker *worker, int status)
{
    int next;

    note_failed(r, ctx, "not here");
    ctx->last_status = status;
    aop_reservation_release(ctx, 0);
    next = ctx->lookup && aop_lb_next_exists(r, ctx);
    aop_stats_attempt(r, ctx, status, AOP_KIND_SUCCESS, next, 0);
    if (!next) {
        return status;
    }
    forget_answer(r);
    return move_on(ctx, worker, 1, next);
}

/* Looking for a previous response: its 400 is "not here" unless this attempt is the
 * last one, whose answer (which may be another 400, the request's own fault) the
 * client gets as Azure wrote it. */
static void override_for_attempt(request_rec *r, const aop_req_t *ctx)
{
    proxy_dir_conf *mine = ap_get_module_config(r->per_dir_config, &proxy_module);

    if (mine && ctx->resuming) {
        mine->error_override_codes = resume_codes;
    }
    else if (mine && ctx->lookup && !ctx->by_id) {
        /* Another candidate ready now (this one is marked tried already): a hint; if
         * it is gone by then, the 400 is answered as previous_response_not_found. */
        mine->error_override_codes = aop_lb_next_exists(r, ctx) ? lookup_codes
                                                                : override_codes;
    }
}

/* Azure answered with one of the override statuses. */
static int after_error_answer(request_rec *r, aop_req_t *ctx, proxy_worker *worker,
                              int status)
{
    int cooldown, next;

    if (aop_responses_not_here(ctx, status)) {
        return after_not_here(r, ctx, worker, status);
    }
    cooldown = aop_outcome_note(r, ctx, status);
    note_failed(r, ctx, apr_itoa(r->pool, status));
    ctx->last_status = status;
    aop_reservation_release(ctx, 0);
    /* Another instance or a fallback; else, for a short Retry-After, the same again. */
    next = aop_fallback_next_attempt(r, ctx)
           || (status == HTTP_TOO_MANY_REQUESTS && aop_fallback_wait_retry(r, ctx));
    aop_stats_attempt(r, ctx, status, 0, next, cooldown);
    if (!next) {
        return status;               /* request_status answers it in OpenAI's shape */
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOPLOGNO(00046)
                  "instance %s answered %d for model %s: trying the next instance",
                  ctx->inst->name, status, ctx->info.model);
    forget_answer(r);
    return move_on(ctx, worker, 1, next);
}

static long msec_until(apr_time_t until)
{
    apr_time_t now = apr_time_now();

    return until > now ? (long)apr_time_as_msec(until - now) : 0;
}

/* No HTTP answer: refused (503), reset or closed (502), or timed out (mod_proxy_http
 * answers 502 with its TIMEOUT_NOTE, or 504).  The instance rests like after a 5xx; a
 * refused one is left out by mod_proxy for its retry interval instead (the worker
 * stays in error: AOProxyRetryInterval is the operator's say on that). */
static int after_transport_failure(request_rec *r, aop_req_t *ctx, proxy_worker *worker,
                                   int status)
{
    int refused = status == HTTP_SERVICE_UNAVAILABLE, next, rested;
    int timed_out = status == HTTP_GATEWAY_TIME_OUT || apr_table_get(r->notes, TIMEOUT_NOTE);
    aop_kind_e kind = refused ? AOP_KIND_CONNECTION : timed_out ? AOP_KIND_TIMEOUT
                                                                : AOP_KIND_RESET;
    apr_time_t until;

    ctx->last_status = timed_out ? HTTP_GATEWAY_TIME_OUT : status;
    rested = aop_outcome_unreachable(ctx, ctx->last_status, !refused, &until);
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, refused ? AOPLOGNO(00040)
                  "instance %s could not be reached (attempt %d for model %s): left out for "
                  "%ld ms" : AOPLOGNO(00042) "instance %s failed before answering "
                  "(attempt %d for model %s): resting it for %ld ms", ctx->inst->name,
                  ctx->attempts, ctx->info.model, refused
                  ? (long)apr_time_as_msec(worker->s->retry) : msec_until(until));
    note_failed(r, ctx, refused ? "refused" : timed_out ? "timed out" : "reset");
    aop_reservation_release(ctx, 0);
    next = aop_fallback_next_attempt(r, ctx);
    aop_stats_attempt(r, ctx, 0, kind, next, rested);
    return move_on(ctx, worker, !refused, next);
}

/* A stream's first event did not come within routing.first_token_timeout
 * (mod_aoproxy_stream_timer.c) and the hold filter dropped its headers: the client saw
 * nothing, so the request moves on, and the instance rests, as after a timeout. */
static int after_first_token_late(request_rec *r, aop_req_t *ctx, proxy_worker *worker)
{
    int next, rested;
    apr_time_t until;

    ctx->last_status = HTTP_GATEWAY_TIME_OUT;
    rested = aop_outcome_unreachable(ctx, HTTP_GATEWAY_TIME_OUT, 1, &until);
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, AOPLOGNO(00340)
                  "instance %s sent no event of its stream within the first token timeout "
                  "of %.3g s (attempt %d for model %s): resting it for %ld ms",
                  ctx->inst->name, aop_config_first_token_timeout(ctx->view->fleet->boot_cfg,
                                                                  ctx->info.model),
                  ctx->attempts, ctx->info.model, msec_until(until));
    note_failed(r, ctx, "no first token in time");
    aop_reservation_release(ctx, 0);
    next = aop_lb_next_exists(r, ctx);
    aop_stats_attempt(r, ctx, 0, AOP_KIND_TIMEOUT, next, rested);
    return move_on(ctx, worker, 1, next);
}

/* The answer broke off while the hold filter still had it (mod_aoproxy_hold.c): the
 * client saw none of it, so the request moves on as after a reset, and the instance
 * rests as after one.  Without a status line, it was one: mod_proxy_http then closes
 * a keep-alive client's connection without an answer, "to trigger a retry by the
 * client", unless the hold filter keeps that from it. */
static int after_broken_answer(request_rec *r, aop_req_t *ctx, proxy_worker *worker)
{
    int answered = r->status, next, rested, had_answer = r->sent_bodyct != 0;
    apr_time_t until;

    ctx->broken = ctx->dropped = 0;
    forget_answer(r);
    /* mod_proxy_http says "body sent" as it starts relaying one; none went out. */
    r->sent_bodyct = 0;
    if (!had_answer) {
        return after_transport_failure(r, ctx, worker, HTTP_BAD_GATEWAY);
    }
    if (ctx->stream_timeout == AOP_STREAM_TIMEOUT_FIRST_TOKEN) {
        return after_first_token_late(r, ctx, worker);
    }
    rested = aop_outcome_unreachable(ctx, HTTP_BAD_GATEWAY, 1, &until);
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, AOPLOGNO(00220)
                  "instance %s broke off its answer (%d) before the client got any of it "
                  "(attempt %d for model %s): resting it for %ld ms", ctx->inst->name,
                  answered, ctx->attempts, ctx->info.model, msec_until(until));
    note_failed(r, ctx, "truncated");
    ctx->last_status = HTTP_BAD_GATEWAY;
    aop_reservation_release(ctx, 0);
    next = aop_fallback_next_attempt(r, ctx);
    aop_stats_attempt(r, ctx, answered, AOP_KIND_TRUNCATED, next, rested);
    return move_on(ctx, worker, 1, next);
}

/* Azure refused the prompt as too long for the model's context window, and the hold
 * filter, which kept that from the client, moved the request to a fallback with a
 * larger one: the next attempt is on it.  The instance answered as it should. */
static int after_context_exceeded(request_rec *r, aop_req_t *ctx, proxy_worker *worker)
{
    const char *model = ctx->info.model;

    ctx->context_exceeded = 0;
    forget_answer(r);
    r->sent_bodyct = 0;
    note_failed(r, ctx, "context_length_exceeded");
    ctx->last_status = HTTP_BAD_REQUEST;
    aop_reservation_release(ctx, 0);
    /* Booked to the model that refused it. */
    ctx->info.model = ctx->context_from;
    aop_stats_attempt(r, ctx, HTTP_BAD_REQUEST, AOP_KIND_SUCCESS, 1, 0);
    ctx->info.model = model;
    return move_on(ctx, worker, 1, 1);
}

/* An attempt that was to resume a cut stream failed before its first byte: the
 * client, which has its 200 and part of the answer, gets no other answer's status or
 * body; the next instance that resumes, or the original break. */
static int after_resume_failed(request_rec *r, aop_req_t *ctx, proxy_worker *worker,
                               int status)
{
    int answered = apr_table_get(r->notes, OVERRIDE_NOTE) != NULL;

    apr_table_unset(r->notes, OVERRIDE_NOTE);
    note_failed(r, ctx, answered ? apr_itoa(r->pool, status) : "no resume");
    if (!answered && (ctx->dropped || status == OK || status == DONE)) {
        status = ctx->stream_timeout ? HTTP_GATEWAY_TIME_OUT : HTTP_BAD_GATEWAY;
    }
    r->status = HTTP_OK;
    if (aop_resume_failed(r, ctx, status, answered)) {
        return move_on(ctx, worker, 1, 1);
    }
    return OK;
}

/* The stream broke after the client had part of it, and the usage filter took it
 * over (mod_aoproxy_resume.c): on to an instance that continues it. */
static int after_cut_stream(request_rec *r, aop_req_t *ctx, proxy_worker *worker)
{
    note_failed(r, ctx, "cut mid-stream");
    if (aop_resume_next(r, ctx)) {
        return move_on(ctx, worker, 1, 1);
    }
    return OK;
}

/* Wraps the real scheme handler for each attempt: the body is replayed from the
 * start, so a failover resends it whole; the outcome decides what comes next. */
static int aop_scheme_handler(request_rec *r, proxy_worker *worker, proxy_server_conf *conf,
                              char *url, const char *proxyhost, apr_port_t proxyport)
{
    aop_req_t *ctx = aop_req_get(r);
    int status;

    if (!ctx || !ctx->inst || ctx->in_scheme_handler) {
        return DECLINED;
    }
    ctx->in_scheme_handler = 1;
    ctx->attempts++;
    ctx->attempt_start = apr_time_now();
    ctx->attempt_recorded = 0;
    ctx->broken = ctx->dropped = 0;
    ctx->stream_timeout = AOP_STREAM_TIMEOUT_NONE;
    apr_table_unset(r->notes, TIMEOUT_NOTE);
    ctx->ttfb = -1;
    aop_body_rewind(r, ctx);
    override_for_attempt(r, ctx);
    status = proxy_run_scheme_handler(r, worker, conf, url, proxyhost, proxyport);
    ctx->in_scheme_handler = 0;
    if (ctx->resume_wanted) {
        return after_cut_stream(r, ctx, worker);
    }
    if (ctx->resuming && (apr_table_get(r->notes, OVERRIDE_NOTE) || ctx->dropped
                          || status == HTTP_SERVICE_UNAVAILABLE
                          || status == HTTP_BAD_GATEWAY || status == HTTP_GATEWAY_TIME_OUT)) {
        return after_resume_failed(r, ctx, worker, status);
    }
    /* mod_proxy_http notes an overridden answer and returns its status, never OK (as
     * mod_proxy's own loop reads it): a served answer costs no look in r->notes,
     * about 150 instructions among mod_proxy's many "proxy-" notes. */
    if (status != OK && apr_table_get(r->notes, OVERRIDE_NOTE)) {
        return after_error_answer(r, ctx, worker, status);
    }
    if (ctx->context_exceeded) {
        return after_context_exceeded(r, ctx, worker);
    }
    if (ctx->dropped) {
        return after_broken_answer(r, ctx, worker);
    }
    ctx->last_status = status;
    if (status == HTTP_SERVICE_UNAVAILABLE
        || ((status == HTTP_BAD_GATEWAY || status == HTTP_GATEWAY_TIME_OUT)
            && !r->sent_bodyct)) {
        return after_transport_failure(r, ctx, worker, status);
    }
    if (status != OK && status != DONE && !ctx->attempt_recorded) {
        aop_stats_attempt(r, ctx, status, AOP_KIND_SUCCESS, 0, 0);
    }
    /* An answer that reached the client is counted when it ends (aop_stats_finish). */
    return status;
}

/* ------------------------------------------------------------------ final answers */

static void answer_rate_limited(request_rec *r, aop_req_t *ctx)
{
    const char *msg = aop_rate_limited(r, r->headers_out, ctx->info.model,
                                       aop_lb_retry_after(r, ctx));

    aop_send_error(r, HTTP_TOO_MANY_REQUESTS, msg, NULL, "rate_limit_exceeded");
}

/* The last attempt's status when every instance failed over. */
static void answer_last_error(request_rec *r, aop_req_t *ctx, int status)
{
    const char *model = ctx->info.model;

    if (status == HTTP_TOO_MANY_REQUESTS) {
        answer_rate_limited(r, ctx);
    }
    else if (status == HTTP_BAD_REQUEST && ctx->lookup) {
        aop_send_error(r, HTTP_BAD_REQUEST,
                       apr_psprintf(r->pool, "Previous response with id '%s' not found.",
                                    ctx->stored_id), "previous_response_id",
                       "previous_response_not_found");
    }
    else if (status == HTTP_NOT_FOUND && ctx->by_id) {
        aop_send_error(r, HTTP_NOT_FOUND,
                       apr_psprintf(r->pool, "Response with id '%s' not found.",
                                    ctx->stored_id), NULL, NULL);
    }
    else if (status == HTTP_NOT_FOUND) {
        aop_send_error(r, HTTP_NOT_FOUND,
                       apr_psprintf(r->pool, "No instance has a deployment for model `%s` "
                                    "(Azure answered DeploymentNotFound).", model),
                       "model", "deployment_not_found");
    }
    else if (status == HTTP_UNAUTHORIZED || status == HTTP_FORBIDDEN) {
        aop_send_error(r, HTTP_BAD_GATEWAY,
                       apr_psprintf(r->pool, "The Azure OpenAI instance refused the proxy's "
                                    "credentials for model `%s`.", model),
                       NULL, "upstream_authentication_failed");
    }
    else {
        aop_send_error(r, status == HTTP_SERVICE_UNAVAILABLE ? HTTP_SERVICE_UNAVAILABLE
                          : (status == HTTP_GATEWAY_TIME_OUT || status == HTTP_REQUEST_TIME_OUT)
                          ? HTTP_GATEWAY_TIME_OUT : HTTP_BAD_GATEWAY,
                       apr_psprintf(r->pool, "The upstream Azure OpenAI service answered %d "
                                    "for model `%s` (%d attempt%s).", status, model,
                                    ctx->attempts, ctx->attempts == 1 ? "" : "s"),
                       NULL, "upstream_error");
    }
}

/* No HTTP answer at all from the last attempt, or none could be made. */
static void answer_unreachable(request_rec *r, aop_req_t *ctx)
{
    if (ctx->attempts == 0) {
        if (aop_lb_retry_after(r, ctx) > 0) {
            answer_rate_limited(r, ctx);
            return;
        }
        aop_send_error(r, HTTP_SERVICE_UNAVAILABLE,
                       apr_psprintf(r->pool, "No instance can serve model `%s` right now.",
                                    ctx->info.model), NULL, "no_instance_available");
        return;
    }
    aop_send_error(r, ctx->last_status == HTTP_GATEWAY_TIME_OUT ? HTTP_GATEWAY_TIME_OUT
                                                                : HTTP_BAD_GATEWAY,
                   apr_psprintf(r->pool, "The upstream Azure OpenAI service did not answer "
                                "(%d attempt%s for model `%s`).", ctx->attempts,
                                ctx->attempts == 1 ? "" : "s", ctx->info.model),
                   NULL, "upstream_unavailable");
}

/* Which instances failed, and how: the operator's first question. */
static const char *failed_instances(request_rec *r, const aop_req_t *ctx)
{
    if (ctx->failed) {
        return apr_pstrcat(r->pool, "tried ", ctx->failed, NULL);
    }
    if (ctx->inst && ctx->attempts > 0) {
        return apr_pstrcat(r->pool, "tried ", ctx->inst->name, NULL);
    }
    return "no instance could be tried";
}

/* When mod_proxy gives up or hands us Azure's error, the client gets an OpenAI
 * error instead of an HTML page or Azure's own shape. */
static int aop_request_status(int *status, request_rec *r)
{
    aop_req_t *ctx = aop_req_get(r);
    int overridden;

    if (!ctx) {
        return DECLINED;
    }
    aop_lb_restore_soft_failed(ctx);
    if (r->sent_bodyct) {
        return DECLINED;        /* the answer is out (the look in r->notes spared) */
    }
    overridden = apr_table_get(r->notes, OVERRIDE_NOTE) != NULL;
    if (*status < 400 && !overridden) {
        return DECLINED;
    }
    apr_table_clear(r->headers_out);
    if (overridden) {
        apr_table_unset(r->notes, OVERRIDE_NOTE);
        answer_last_error(r, ctx, ctx->last_status);
    }
    else {
        answer_unreachable(r, ctx);
    }
    /* A stored response no instance holds is the client's question answered, not a
     * failure of the gateway's. */
    ap_log_rerror(APLOG_MARK, r->status == HTTP_TOO_MANY_REQUESTS || ctx->lookup
                              ? APLOG_INFO : APLOG_ERR,
                  0, r, AOPLOGNO(00041) "request for %s %s failed with %d after %d "
                  "attempt(s): %s", ctx->by_id ? "response" : "model",
                  ctx->by_id ? ctx->stored_id : ctx->info.model, r->status, ctx->attempts,
                  failed_instances(r, ctx));
    *status = OK;
    return OK;
}

void aop_proxy_register_hooks(apr_pool_t *p)
{
    index_dropped_headers();
    proxy_hook_canon_handler(aop_canon, NULL, NULL, APR_HOOK_REALLY_FIRST);
    proxy_hook_scheme_handler(aop_scheme_handler, NULL, NULL, APR_HOOK_REALLY_FIRST);
    APR_OPTIONAL_HOOK(proxy, fixups, aop_proxy_fixups, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(proxy, request_status, aop_request_status, NULL, NULL,
                      APR_HOOK_MIDDLE);
}
