/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The per-request state: made once, found by every hook of the request. */
#include "mod_aoproxy_private.h"
#include "mod_aoproxy_ctx.h"
#include "mod_aoproxy_shm.h"

aop_req_t *aop_req_make(request_rec *r)
{
    aop_req_t *ctx = apr_pcalloc(r->pool, sizeof(*ctx));

    ctx->r = r;
    ctx->sc = aop_srv_conf(r->server);
    ctx->chosen = -1;
    ctx->preselected = -1;
    ctx->pinned = -1;
    ctx->ttfb = -1;
    ap_set_module_config(r->request_config, &aoproxy_module, ctx);
    return ctx;
}

aop_req_t *aop_req_get(const request_rec *r)
{
    return ap_get_module_config(r->request_config, &aoproxy_module);
}

/* The memo for candidate idx and the model now tried, looked up if it is another's.
 * The view, and with it the instances and the shared map, stays the request's. */
static void memo_for(const aop_req_t *ctx, int idx)
{
    /* Cast: the memo is a cache, not part of what the request's state says. */
    aop_req_t *w = (aop_req_t *)(void *)ctx;
    const aop_instance_t *inst = APR_ARRAY_IDX(ctx->view->cfg->instances, idx,
                                               aop_instance_t *);
    int i;

    if (w->pair_memo.model != ctx->info.model || w->pair_memo.idx != idx) {
        w->pair_memo.idx = idx;
        w->pair_memo.model = ctx->info.model;
        i = aop_instance_model_index(inst, ctx->info.model);
        w->pair_memo.slot = aop_shm_pair_slot_at(ctx->view->shm_map, idx, i);
        if (i >= 0 && i < inst->models_indexed) {
            /* A view's decoded instance: its maps read once, when it was decoded. */
            w->pair_memo.limits = inst->limits_at[i];
            w->pair_memo.deployment = inst->deployment_at[i];
        }
        else {
            w->pair_memo.limits = aop_instance_limits(inst, ctx->info.model);
            w->pair_memo.deployment = aop_instance_deployment(inst, ctx->info.model);
        }
    }
}

aop_shm_pair_t *aop_req_pair(const aop_req_t *ctx, int idx)
{
    if (idx < 0 || !ctx->info.model) {
        return NULL;
    }
    memo_for(ctx, idx);
    return aop_shm_pair_slot(ctx->pair_memo.slot);
}

int aop_req_pair_slot(const aop_req_t *ctx, int idx)
{
    if (idx < 0 || !ctx->info.model) {
        return -1;
    }
    memo_for(ctx, idx);
    return ctx->pair_memo.slot;
}

const aop_deployment_limits_t *aop_req_limits(const aop_req_t *ctx, int idx)
{
    if (idx < 0 || !ctx->info.model) {
        return NULL;
    }
    memo_for(ctx, idx);
    return ctx->pair_memo.limits;
}

const char *aop_req_deployment(const aop_req_t *ctx, int idx)
{
    if (idx < 0 || !ctx->info.model) {
        return NULL;
    }
    memo_for(ctx, idx);
    return ctx->pair_memo.deployment;
}
