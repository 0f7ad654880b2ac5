/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <apr_strings.h>

#include "mod_aoproxy_private.h"
#include "mod_aoproxy_fallback.h"
#include "mod_aoproxy_lbmethod.h"
#include "mod_aoproxy_shm.h"

/* A call on a stored response belongs to one instance: it never moves to another
 * model. */
static int belongs_to_one(const aop_req_t *ctx)
{
    return ctx->by_id || ctx->pinned >= 0 || ctx->lookup;
}

static apr_size_t instances(const aop_req_t *ctx)
{
    return (apr_size_t)(ctx->view->cfg->instances->nelts > 0
                        ? ctx->view->cfg->instances->nelts : 1);
}

/* The next model of list from *at on that enabled instances serve (*at moved past
 * it), or NULL. */
static const aop_route_t *next_served(const aop_req_t *ctx, const apr_array_header_t *list,
                                      int *at, const char **model)
{
    while (list && *at < list->nelts) {
        const aop_route_t *rt;

        *model = APR_ARRAY_IDX(list, *at, const char *);
        (*at)++;
        if ((rt = aop_route_find(ctx->view->routes, *model)) != NULL) {
            return rt;
        }
    }
    return NULL;
}

/* The request is for model now; its deployments are others (on the same instances,
 * maybe), none tried yet. */
static void take_model(aop_req_t *ctx, const char *model, const aop_route_t *rt)
{
    ctx->info.model = model;
    ctx->route = rt;
    ctx->candidates = rt->candidates;
    memset(ctx->tried, 0, instances(ctx));
}

int aop_fallback_switch(request_rec *r, aop_req_t *ctx)
{
    const aop_route_t *rt;
    const char *model;

    if (belongs_to_one(ctx) || !ctx->asked_model) {
        return 0;
    }
    rt = next_served(ctx, aop_config_fallbacks(ctx->view->cfg, ctx->asked_model, 0),
                     &ctx->fallback_at, &model);
    if (!rt) {
        return 0;
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOPLOGNO(00350)
                  "no instance of model %s can serve the request: falling back to %s",
                  ctx->info.model, model);
    take_model(ctx, model, rt);
    return 1;
}

int aop_fallback_context_possible(const aop_req_t *ctx)
{
    const apr_array_header_t *list;

    if (!ctx->view || belongs_to_one(ctx)) {
        return 0;
    }
    list = aop_config_fallbacks(ctx->view->cfg, ctx->info.model, 1);
    return list && ctx->context_at < list->nelts;
}

int aop_fallback_context_switch(request_rec *r, aop_req_t *ctx)
{
    const apr_array_header_t *list = aop_config_fallbacks(ctx->view->cfg, ctx->info.model, 1);
    const char *from = ctx->info.model, *model;
    const aop_route_t *was = ctx->route, *rt;
    const apr_array_header_t *was_cands = ctx->candidates;
    unsigned char *was_tried = apr_pmemdup(r->pool, ctx->tried, instances(ctx));

    while (ctx->attempts <= ctx->view->cfg->retries
           && (rt = next_served(ctx, list, &ctx->context_at, &model)) != NULL) {
        take_model(ctx, model, rt);
        if (aop_lb_next_exists(r, ctx)) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOPLOGNO(00352)
                          "model %s: the prompt exceeds its context window "
                          "(context_length_exceeded): moving on to %s", from, model);
            ctx->context_from = from;
            return 1;
        }
        /* None of it can take the request now: the request stays as it was. */
        ctx->info.model = from;
        ctx->route = was;
        ctx->candidates = was_cands;
        memcpy(ctx->tried, was_tried, instances(ctx));
    }
    return 0;
}

int aop_fallback_next_attempt(request_rec *r, aop_req_t *ctx)
{
    if (aop_lb_next_exists(r, ctx)) {
        return 1;
    }
    while (ctx->attempts <= ctx->view->cfg->retries && aop_fallback_switch(r, ctx)) {
        if (aop_lb_next_exists(r, ctx)) {
            return 1;
        }
    }
    return 0;
}

int aop_fallback_wait_retry(request_rec *r, aop_req_t *ctx)
{
    /* The 429 rests the deployment (instance and model), not the instance. */
    const aop_shm_pair_t *sp = ctx->chosen >= 0 && ctx->inst
                               ? aop_req_pair(ctx, ctx->chosen) : NULL;
    apr_time_t now = apr_time_now(), until;
    apr_interval_time_t wait, limit = (apr_interval_time_t)(ctx->view->cfg->max_retry_wait
                                                            * APR_USEC_PER_SEC);
    apr_interval_time_t budget = (apr_interval_time_t)(ctx->view->cfg->timeout
                                                       * APR_USEC_PER_SEC);

    if (!sp || ctx->waited || ctx->by_id || ctx->lookup || limit <= 0
        || ctx->attempts > ctx->view->cfg->retries) {
        return 0;
    }
    until = sp->cooldown_until;
    wait = until > now ? until - now : 0;
    /* Never closer than its Retry-After; never past the request's own time. */
    if (wait > limit || now + wait - r->request_time > budget) {
        return 0;
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOPLOGNO(00351)
                  "instance %s is the only one left for model %s: waiting %" APR_TIME_T_FMT
                  " ms (its Retry-After) to try it again", ctx->inst->name, ctx->info.model,
                  apr_time_as_msec(wait));
    ctx->waited = 1;
    if (wait > 0) {
        apr_sleep(wait);
    }
    ctx->tried[ctx->chosen] = 0;
    return 1;
}

void aop_fallback_headers(request_rec *r, const aop_req_t *ctx)
{
    if (!ctx->inst) {
        return;
    }
    if (ctx->info.model && *ctx->info.model) {
        apr_table_setn(r->headers_out, "x-aoproxy-model", ctx->info.model);
    }
    apr_table_setn(r->headers_out, "x-aoproxy-instance", ctx->inst->name);
    if (ctx->asked_model && ctx->info.model && strcmp(ctx->asked_model, ctx->info.model)) {
        apr_table_setn(r->headers_out, "x-aoproxy-fallback", ctx->asked_model);
    }
}
