#include <apr_optional.h>

#include <ap_provider.h>
#include <mod_proxy.h>

#include "mod_aoproxy_private.h"
#include "mod_aoproxy_lbmethod.h"
#include "mod_aoproxy_proxy.h"
#include "mod_aoproxy_request.h"

static APR_OPTIONAL_FN_TYPE(ap_proxy_retry_worker) *retry_worker;

/* In error, but its retry interval has passed: mod_proxy will let it back in. */
static int retry_due(const proxy_worker *w)
{
    return PROXY_WORKER_IS(w, PROXY_WORKER_IN_ERROR)
           && !PROXY_WORKER_IS(w, PROXY_WORKER_NOT_USABLE_BITMAP & ~PROXY_WORKER_IN_ERROR)
           && apr_time_now() > w->s->error_time + w->s->retry;
}

/* Usable now, or let back in by mod_proxy because its retry interval has passed. */
static int worker_usable(proxy_worker *w, request_rec *r)
{
    if (PROXY_WORKER_IS_USABLE(w)) {
        return 1;
    }
    if (retry_due(w) && retry_worker) {
        retry_worker("BALANCER", w, r->server);
    }
    return PROXY_WORKER_IS_USABLE(w);
}

/* The worker of a candidate this request may still try, or NULL. */
static proxy_worker *untried(const aop_req_t *ctx, int idx)
{
    return ctx->tried[idx] ? NULL : ctx->sc->workers[idx];
}

int aop_lb_next_exists(request_rec *r, const aop_req_t *ctx)
{
    int i;

    if (ctx->attempts > ctx->sc->cfg->retries) {
        return 0;
    }
    for (i = 0; i < ctx->candidates->nelts; i++) {
        proxy_worker *w = untried(ctx, APR_ARRAY_IDX(ctx->candidates, i, int));

        if (w && (PROXY_WORKER_IS_USABLE(w) || retry_due(w))) {
            return 1;
        }
    }
    return 0;
}

/* Lower priority value wins; equal priorities go to the heavier weight, then to
 * the instance listed first. */
static int better(const aop_instance_t *a, const aop_instance_t *b)
{
    if (!b) {
        return 1;
    }
    if (a->priority != b->priority) {
        return a->priority < b->priority;
    }
    return a->weight > b->weight;
}

static proxy_worker *aop_finder(proxy_balancer *balancer, request_rec *r)
{
    aop_req_t *ctx = aop_req_get(r);
    const aop_instance_t *best = NULL;
    int i, best_idx = -1;

    if (!ctx || !ctx->candidates || !ctx->sc->workers) {
        return NULL;
    }
    aop_proxy_restore_soft_failed(ctx);
    for (i = 0; i < ctx->candidates->nelts; i++) {
        int idx = APR_ARRAY_IDX(ctx->candidates, i, int);
        const aop_instance_t *inst = APR_ARRAY_IDX(ctx->sc->cfg->instances, idx,
                                                   aop_instance_t *);
        proxy_worker *w = untried(ctx, idx);

        if (!w || !worker_usable(w, r)) {
            continue;
        }
        if (better(inst, best)) {
            best = inst;
            best_idx = idx;
        }
    }
    if (best_idx < 0) {
        ctx->chosen = -1;
        ctx->inst = NULL;
        return NULL;
    }
    ctx->chosen = best_idx;
    ctx->inst = best;
    ctx->deployment = aop_instance_deployment(best, ctx->info.model);
    ctx->tried[best_idx] = 1;
    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r, "aoproxy: attempt %d -> instance %s",
                  ctx->attempts + 1, best->name);
    return ctx->sc->workers[best_idx];
}

static apr_status_t aop_lb_reset(proxy_balancer *balancer, server_rec *s)
{
    return APR_SUCCESS;
}

static apr_status_t aop_lb_age(proxy_balancer *balancer, server_rec *s)
{
    return APR_SUCCESS;
}

static const proxy_balancer_method aop_lbmethod = {
    AOP_LBMETHOD_NAME,
    &aop_finder,
    NULL,
    &aop_lb_reset,
    &aop_lb_age,
    NULL
};

int aop_lbmethod_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                             server_rec *s)
{
    retry_worker = APR_RETRIEVE_OPTIONAL_FN(ap_proxy_retry_worker);
    if (!retry_worker) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s, AOPLOGNO(00030)
                     "mod_proxy must be loaded before mod_aoproxy");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

void aop_lbmethod_register_hooks(apr_pool_t *p)
{
    ap_register_provider(p, PROXY_LBMETHOD, AOP_LBMETHOD_NAME, "0", &aop_lbmethod);
}
