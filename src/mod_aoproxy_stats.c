#include <http_protocol.h>

#include "mod_aoproxy_private.h"
#include "mod_aoproxy_outcome.h"
#include "mod_aoproxy_shm.h"
#include "mod_aoproxy_stats.h"

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

void aop_stats_attempt(request_rec *r, aop_req_t *ctx, int status, int timed_out,
                       int failover, int cooldown)
{
    aop_shm_inst_t *si = aop_shm_inst(ctx->sc->shm_map, ctx->chosen);
    aop_shm_pair_t *pair = aop_shm_pair(ctx->sc->shm_map, ctx->inst, ctx->chosen,
                                        ctx->info.model);
    apr_time_t now = apr_time_now();
    aop_stats_event_t ev = { 0 };

    ctx->attempt_recorded = 1;
    if (!si) {
        return;
    }
    ev.request = 1;
    ev.status = status;
    ev.kind = aop_stats_kind(status, timed_out);
    ev.latency = now - ctx->attempt_start;
    ev.ttfb = status >= 200 && status < 300 ? ctx->ttfb : -1;
    ev.failovers = failover;
    ev.cooldown = cooldown;
    if (ev.kind == AOP_KIND_SUCCESS) {
        add_tokens(ctx, &ev);
    }
    aop_shm_lock();
    aop_stats_record(&si->ring, minute_of(now), &ev);
    if (pair) {
        aop_counts_add(&pair->life, &ev);
    }
    aop_shm_unlock();
}

/* Every client request of ours, answered by Azure or by us (400, 404, 413, 429...). */
static void record_overall(request_rec *r, aop_req_t *ctx)
{
    aop_shm_overall_t *all = aop_shm_overall();
    apr_time_t now = apr_time_now();
    aop_stats_event_t ev = { 0 };

    if (!all) {
        return;
    }
    ev.request = 1;
    ev.status = r->status;
    ev.kind = aop_stats_kind(r->status, 0);
    ev.latency = now - r->request_time;
    ev.ttfb = ctx->ttfb;
    ev.failovers = ctx->attempts > 1 ? ctx->attempts - 1 : 0;
    add_tokens(ctx, &ev);
    aop_shm_lock();
    aop_stats_record(&all->ring, minute_of(now), &ev);
    aop_counts_add(&all->life, &ev);
    aop_shm_unlock();
}

void aop_stats_finish(request_rec *r, aop_req_t *ctx)
{
    if (ctx->finished || r->main) {
        return;
    }
    ctx->finished = 1;
    if (ctx->inst && ctx->attempt_start && !ctx->attempt_recorded) {
        /* The attempt whose answer the client got (failed ones were counted as
         * they failed). */
        aop_stats_attempt(r, ctx, r->status, 0, 0, aop_outcome_note(r, ctx, r->status));
    }
    record_overall(r, ctx);
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
