/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <string.h>
#include <http_protocol.h>

#include "mod_aoproxy_private.h"
#include "mod_aoproxy_outcome.h"
#include "mod_aoproxy_reservations.h"
#include "mod_aoproxy_shm.h"
#include "mod_aoproxy_stats.h"
#include "mod_aoproxy_stream_timer.h"

static apr_int64_t minute_of(apr_time_t t)
{
    return apr_time_sec(t) / 60;
}

/* Tokens go with the attempt that produced the answer the client got. */
static void add_tokens(const aop_req_t *ctx, aop_stats_event_t *ev)
{
    ev->prompt_tokens = ctx->used_prompt;
    ev->completion_tokens = ctx->used_completion;
    ev->total_tokens = ctx->used_tokens;
    ev->estimated = ctx->usage_estimated;
}

/* What the status says, and the answer's body when Azure's content filter spoke in
 * it: a 400 that refused the prompt is a kind of its own. */
static aop_kind_e answer_kind(const aop_req_t *ctx, int status)
{
    if (status == HTTP_BAD_REQUEST && ctx->content_filtered) {
        return AOP_KIND_CONTENT_FILTER;
    }
    return aop_stats_kind(status, 0);
}

/* failure: what went wrong when the status alone does not tell (a reset, a timeout,
 * an answer broken off after its 200); AOP_KIND_SUCCESS: the status tells. */
static void attempt_event(aop_req_t *ctx, int status, aop_kind_e failure, int failover,
                          int cooldown, apr_time_t now, aop_stats_event_t *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->request = 1;
    ev->status = status;
    ev->kind = failure != AOP_KIND_SUCCESS ? failure : answer_kind(ctx, status);
    ev->latency = now - ctx->attempt_start;
    ev->ttfb = status >= 200 && status < 300 ? ctx->ttfb : -1;
    ev->failovers = failover;
    ev->cooldowns = cooldown ? 1 : 0;
    if (ev->kind == AOP_KIND_SUCCESS) {
        add_tokens(ctx, ev);
        ev->filtered_answer = ctx->content_filtered;
    }
}

/* Caller holds the shm lock. */
static void record_attempt_locked(aop_req_t *ctx, const aop_stats_event_t *ev, apr_time_t now)
{
    aop_shm_inst_t *si = aop_shm_inst(ctx->view->shm_map, ctx->chosen);
    aop_shm_pair_t *pair = aop_req_pair(ctx, ctx->chosen);

    ctx->attempt_recorded = 1;
    if (si) {
        aop_stats_record(aop_shm_ring(si), minute_of(now), ev);
    }
    if (pair) {
        aop_counts_add(&pair->life, ev);
    }
}

void aop_stats_attempt(request_rec *r, aop_req_t *ctx, int status, aop_kind_e failure,
                       int failover, int cooldown)
{
    apr_time_t now = apr_time_now();
    aop_stats_event_t ev;

    attempt_event(ctx, status, failure, failover, cooldown, now, &ev);
    ctx->cooldowns += ev.cooldowns;
    aop_shm_lock();
    record_attempt_locked(ctx, &ev, now);
    aop_shm_unlock();
}

/* An answer that broke off after the client had part of it: a stream that went
 * silent past routing.stream_idle_timeout counts as a timeout (and rests the instance
 * as one), any other break as truncated. */
static int stalled(const aop_req_t *ctx)
{
    return ctx->stream_timeout == AOP_STREAM_TIMEOUT_IDLE;
}

static aop_kind_e broken_kind(const aop_req_t *ctx)
{
    return stalled(ctx) ? AOP_KIND_TIMEOUT : AOP_KIND_TRUNCATED;
}

static void log_stalled(request_rec *r, aop_req_t *ctx, apr_time_t until, apr_time_t now)
{
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, AOPLOGNO(00341)
                  "instance %s went silent mid-stream for model %s longer than the stream "
                  "idle timeout (%.3g s): the client got an error event; counted as a "
                  "timeout, resting it for %" APR_TIME_T_FMT " ms", ctx->inst->name,
                  ctx->info.model, ctx->view->fleet->boot_cfg->stream_idle_timeout,
                  until > now ? apr_time_as_msec(until - now) : 0);
}

/* Every client request of ours, answered by Azure or by us (400, 404, 413, 429...). */
static void overall_event(request_rec *r, aop_req_t *ctx, apr_time_t now, aop_stats_event_t *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->request = 1;
    ev->status = r->status;
    /* A 200 whose body broke off is no success for the client. */
    ev->kind = ctx->broken ? broken_kind(ctx) : answer_kind(ctx, r->status);
    ev->filtered_answer = ev->kind == AOP_KIND_SUCCESS && ctx->content_filtered;
    ev->latency = now - r->request_time;
    ev->ttfb = ctx->ttfb;
    ev->failovers = ctx->attempts > 1 ? ctx->attempts - 1 : 0;
    ev->cooldowns = ctx->cooldowns;
    add_tokens(ctx, ev);
}

/* The end of a request touches shared memory once: its token reservation becomes
 * its usage, the answering attempt's outcome and counts, and the overall counts. */
void aop_stats_finish(request_rec *r, aop_req_t *ctx)
{
    aop_shm_overall_t *all = aop_shm_overall();
    apr_time_t now = apr_time_now(), until = 0;
    aop_stats_event_t attempt, overall;
    int count_attempt, rested = 0;

    if (ctx->finished || r->main) {
        return;
    }
    ctx->finished = 1;
    count_attempt = ctx->inst && ctx->attempt_start && !ctx->attempt_recorded;
    aop_shm_lock();
    aop_reservation_release_locked(ctx, ctx->used_tokens);
    if (count_attempt) {
        /* The attempt whose answer the client got (failed ones were counted as
         * they failed). */
        rested = ctx->broken ? aop_outcome_failed_locked(ctx, stalled(ctx) ? HTTP_GATEWAY_TIME_OUT
                                                                           : HTTP_BAD_GATEWAY,
                                                         1, now, &until)
                             : aop_outcome_note_locked(r, ctx, r->status, now, &until);
        attempt_event(ctx, r->status, ctx->broken ? broken_kind(ctx) : AOP_KIND_SUCCESS,
                      0, rested, now, &attempt);
        record_attempt_locked(ctx, &attempt, now);
        ctx->cooldowns += attempt.cooldowns;
    }
    /* Overall, a request counts the cooldowns all its attempts started. */
    overall_event(r, ctx, now, &overall);
    if (all) {
        aop_stats_record(&all->ring, minute_of(now), &overall);
        aop_counts_add(&all->life, &overall);
    }
    aop_shm_unlock();
    if (count_attempt && ctx->broken && stalled(ctx)) {
        log_stalled(r, ctx, until, now);
    }
    else if (count_attempt && ctx->broken) {
        aop_outcome_log_broken(r, ctx, until, now);
    }
    else if (count_attempt) {
        aop_outcome_log(r, ctx, r->status, until, now);
    }
}

static int aop_log_transaction(request_rec *r)
{
    aop_req_t *ctx = aop_req_get(r);

    if (ctx) {
        aop_stats_finish(r, ctx);
    }
    return DECLINED;
}

void aop_stats_register_hooks(apr_pool_t *p)
{
    ap_hook_log_transaction(aop_log_transaction, NULL, NULL, APR_HOOK_MIDDLE);
}
