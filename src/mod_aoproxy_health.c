/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <apr_strings.h>

#include <mod_proxy.h>

#include "aop_sat.h"
#include "mod_aoproxy_private.h"
#include "mod_aoproxy_health.h"
#include "mod_aoproxy_token.h"

const char *aop_health_name(aop_health_e h)
{
    static const char *const names[] = {
        "healthy", "degraded", "rate_limited", "unhealthy", "disabled"
    };

    return names[h];
}

/* The client's own mistakes and the content filter's refusals of its prompts say
 * nothing of the instance. */
apr_uint64_t aop_health_errors(const aop_counts_t *c)
{
    return aop_sat_subu(aop_sat_subu(aop_sat_subu(c->n.requests, c->n.successes),
                                     c->n.by_kind[AOP_KIND_CLIENT_4XX]),
                        c->n.by_kind[AOP_KIND_CONTENT_FILTER]);
}

static aop_health_t judged(aop_health_e status, const char *reason)
{
    aop_health_t h;

    h.status = status;
    h.reason = reason;
    return h;
}

static int worker_refusing(aop_view_t *view, int idx, apr_time_t now)
{
    proxy_worker *w = aop_view_worker(view, NULL, idx);

    return w && PROXY_WORKER_IS(w, PROXY_WORKER_IN_ERROR)
           && now <= w->s->error_time + w->s->retry;
}

static int any_missing(const aop_shm_inst_t *si, apr_time_t now)
{
    int i;

    for (i = 0; i < AOP_SHM_MAX_MISSING; i++) {
        if (si->missing_until[i] > now) {
            return 1;
        }
    }
    return 0;
}

/* Reasons an instance cannot serve at all, worst first. */
static const char *out_of_service(apr_pool_t *p, aop_view_t *view, int idx,
                                  const aop_shm_inst_t *si, apr_time_t now)
{
    const char *why = aop_token_problem(p, APR_ARRAY_IDX(view->cfg->instances, idx,
                                                         aop_instance_t *), now);

    if (why) {
        return why;
    }
    if (now < si->unhealthy_until) {
        return aop_auth_of(APR_ARRAY_IDX(view->cfg->instances, idx, aop_instance_t *))
               == AOP_AUTH_API_KEY
               ? apr_psprintf(p, "Azure refused the api key (%d)", si->last_status)
               : apr_psprintf(p, "Azure refused its Entra ID token (%d): waiting for a "
                              "new one", si->last_status);
    }
    if (worker_refusing(view, idx, now)) {
        return "connections fail; mod_proxy retries after AOProxyRetryInterval";
    }
    return NULL;
}

aop_health_t aop_health_of(apr_pool_t *p, aop_view_t *view, int idx,
                           const aop_shm_inst_t *si, const aop_counts_t *window,
                           apr_time_t now)
{
    const aop_instance_t *inst = APR_ARRAY_IDX(view->cfg->instances, idx, aop_instance_t *);
    apr_uint64_t errors = aop_health_errors(window);
    const char *why;

    if (!inst->enabled) {
        return judged(AOP_DISABLED, "disabled in the configuration");
    }
    if ((why = out_of_service(p, view, idx, si, now))) {
        return judged(AOP_UNHEALTHY, why);
    }
    if (now < si->cooldown_until) {
        return judged(si->last_status == 429 ? AOP_RATE_LIMITED : AOP_DEGRADED,
                      apr_psprintf(p, "answered %d: resting until the cooldown ends",
                                   si->last_status));
    }
    if (inst->max_tpm > 0
        && aop_sat_add_nonneg(aop_tpm_used(&si->tpm, apr_time_sec(now)), si->tpm.reserved)
           >= inst->max_tpm) {
        return judged(AOP_RATE_LIMITED, "its tokens-per-minute budget is spent");
    }
    if (any_missing(si, now)) {
        return judged(AOP_DEGRADED, "a deployment answered DeploymentNotFound");
    }
    if (si->consecutive_failures > 0) {
        return judged(AOP_DEGRADED, apr_psprintf(p, "%u consecutive failures",
                                                 si->consecutive_failures));
    }
    if (window->n.requests >= AOP_DEGRADED_MIN_REQUESTS
        && (double)errors / (double)window->n.requests >= AOP_DEGRADED_ERROR_RATE) {
        return judged(AOP_DEGRADED, apr_psprintf(p, "error rate %.0f%% in the last %d "
                                                 "minutes", 100.0 * (double)errors
                                                 / (double)window->n.requests,
                                                 view->cfg->stats_window_minutes));
    }
    return judged(AOP_HEALTHY, NULL);
}

aop_health_e aop_health_overall(const aop_health_e *each, int n, aop_view_t *view)
{
    int i, enabled = 0, healthy = 0, serving = 0;

    for (i = 0; i < n; i++) {
        if (each[i] == AOP_DISABLED) {
            continue;
        }
        enabled++;
        healthy += each[i] == AOP_HEALTHY;
        serving += each[i] == AOP_HEALTHY || each[i] == AOP_DEGRADED;
    }
    if (enabled > 0 && healthy == enabled) {
        return AOP_HEALTHY;
    }
    return serving > 0 ? AOP_DEGRADED : AOP_UNHEALTHY;
}
