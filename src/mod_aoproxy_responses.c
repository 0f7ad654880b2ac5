/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <apr_strings.h>

#include <http_protocol.h>

#include "mod_aoproxy_private.h"
#include "mod_aoproxy_affinity.h"
#include "mod_aoproxy_responses.h"
#include "mod_aoproxy_shm.h"
#include "mod_aoproxy_token.h"

static const aop_instance_t *instance(const aop_req_t *ctx, int idx)
{
    return APR_ARRAY_IDX(ctx->view->cfg->instances, idx, aop_instance_t *);
}

/* The instance whose name hashes to h, or -1 (removed since). */
static int instance_of_hash(const aop_req_t *ctx, apr_uint64_t h)
{
    return aop_view_by_name_hash(ctx->view, h);
}

static int fail(aop_responses_error_t *err, int status, const char *message,
                const char *param, const char *code)
{
    err->status = status;
    err->message = message;
    err->param = param;
    err->code = code;
    return -1;
}

/* Every enabled instance, in configuration order: where an unknown id is looked for
 * by a call that names no model. */
static apr_array_header_t *all_enabled(request_rec *r, const aop_req_t *ctx)
{
    const apr_array_header_t *all = ctx->view->cfg->instances;
    apr_array_header_t *c = apr_array_make(r->pool, all->nelts > 0 ? all->nelts : 1,
                                           sizeof(int));
    int i;

    for (i = 0; i < all->nelts; i++) {
        if (instance(ctx, i)->enabled) {
            APR_ARRAY_PUSH(c, int) = i;
        }
    }
    return c;
}

static int serves_model(const aop_req_t *ctx, int idx)
{
    int i;

    for (i = 0; ctx->candidates && i < ctx->candidates->nelts; i++) {
        if (APR_ARRAY_IDX(ctx->candidates, i, int) == idx) {
            return 1;
        }
    }
    return 0;
}

/* The id is known: idx holds it (-1: an instance no longer configured). */
static int pin(request_rec *r, aop_req_t *ctx, int idx, aop_responses_error_t *err)
{
    apr_array_header_t *one;

    if (idx < 0) {
        return ctx->by_id
               ? fail(err, HTTP_NOT_FOUND,
                      apr_psprintf(r->pool, "Response with id '%s' not found: the instance "
                                   "that stored it was removed from this gateway.",
                                   ctx->stored_id), NULL, "response_not_found")
               : fail(err, HTTP_BAD_REQUEST,
                      apr_psprintf(r->pool, "Previous response with id '%s' not found: the "
                                   "instance that stored it was removed from this gateway.",
                                   ctx->stored_id), "previous_response_id",
                      "previous_response_not_found");
    }
    if (!instance(ctx, idx)->enabled) {
        return fail(err, HTTP_SERVICE_UNAVAILABLE,
                    apr_psprintf(r->pool, "'%s' is stored on instance `%s`, which cannot serve "
                                 "requests right now: it is disabled.", ctx->stored_id,
                                 instance(ctx, idx)->name), NULL,
                    "response_instance_unavailable");
    }
    if (!ctx->by_id && !serves_model(ctx, idx)) {
        return fail(err, HTTP_BAD_REQUEST,
                    apr_psprintf(r->pool, "'%s' is stored on instance `%s`, which does not "
                                 "serve model `%s`.", ctx->stored_id, instance(ctx, idx)->name,
                                 ctx->info.model), "model", "model_not_available");
    }
    one = apr_array_make(r->pool, 1, sizeof(int));
    APR_ARRAY_PUSH(one, int) = idx;
    ctx->pinned = idx;
    ctx->candidates = one;
    ctx->route = NULL;              /* no schedule, no shared credits: one candidate */
    return 0;
}

int aop_responses_route(request_rec *r, aop_req_t *ctx, aop_responses_error_t *err)
{
    apr_uint64_t h;

    ctx->stored_id = ctx->by_id ? ctx->path.response_id
                     : ctx->info.previous_response_id ? ctx->info.previous_response_id
                     : ctx->info.conversation;
    if (!ctx->stored_id) {
        return 0;
    }
    if (aop_affinity_lookup(r->server, ctx->stored_id, strlen(ctx->stored_id), &h)) {
        return pin(r, ctx, instance_of_hash(ctx, h), err);
    }
    /* Not known here (made before this gateway, or forgotten): asked for in turn. */
    ctx->lookup = 1;
    if (ctx->by_id) {
        ctx->candidates = all_enabled(r, ctx);
        ctx->route = NULL;
    }
    return 0;
}

/* Why the pinned instance is out, in a few words. */
static const char *why_out(const aop_req_t *ctx, apr_time_t now)
{
    const aop_instance_t *inst = instance(ctx, ctx->pinned);
    const aop_shm_inst_t *si = aop_shm_inst(ctx->view->shm_map, ctx->pinned);

    if (!inst->enabled) {
        return "it is disabled";
    }
    if (!aop_token_usable(inst, now)) {
        return "it has no Entra ID token";
    }
    if (si && now < si->unhealthy_until) {
        return "Azure refused its credentials";
    }
    return "it is failing (its circuit is open) or cannot be reached";
}

const char *aop_responses_unavailable(request_rec *r, const aop_req_t *ctx, int status)
{
    const char *name = instance(ctx, ctx->pinned)->name;

    if (status == HTTP_TOO_MANY_REQUESTS) {
        return apr_psprintf(r->pool, "'%s' is stored on instance `%s`, which is rate "
                            "limited right now: retry after the time Retry-After says.",
                            ctx->stored_id, name);
    }
    return apr_psprintf(r->pool, "'%s' is stored on instance `%s`, which cannot serve "
                        "requests right now: %s.", ctx->stored_id, name,
                        why_out(ctx, apr_time_now()));
}

void aop_responses_answered(request_rec *r, aop_req_t *ctx, const char *id)
{
    const char *name = ctx->inst ? ctx->inst->name : NULL;

    if (!name) {
        return;
    }
    if (ctx->op == AOP_OP_RESPONSE && r->method_number == M_DELETE) {
        aop_affinity_forget_id(r->server, ctx->stored_id, strlen(ctx->stored_id));
        return;
    }
    if (id && ctx->op == AOP_OP_RESPONSES) {
        aop_affinity_remember_id(r->server, id, strlen(id), name);
    }
    /* A looked-up id was found here; a conversation lives where its first response
     * was made. */
    if (ctx->stored_id && ctx->pinned < 0) {
        aop_affinity_remember_id(r->server, ctx->stored_id, strlen(ctx->stored_id), name);
    }
}

int aop_responses_not_here(const aop_req_t *ctx, int status)
{
    return (ctx->by_id && status == HTTP_NOT_FOUND)
           || (ctx->lookup && !ctx->by_id && status == HTTP_BAD_REQUEST);
}
