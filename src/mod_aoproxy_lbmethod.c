/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <apr_optional.h>

#include <ap_provider.h>
#include <mod_proxy.h>

#include "aop_circuit.h"
#include "aop_select.h"
#include "mod_aoproxy_private.h"
#include "mod_aoproxy_lbmethod.h"
#include "mod_aoproxy_view.h"
#include "mod_aoproxy_reservations.h"
#include "mod_aoproxy_shm.h"
#include "mod_aoproxy_token.h"

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
static const aop_instance_t *instance(const aop_req_t *ctx, int idx)
{
    return APR_ARRAY_IDX(ctx->view->cfg->instances, idx, aop_instance_t *);
}

/* The worker of a candidate this request may still try, or NULL.  A stream that
 * resumes goes only where the deployment continues a prefill. */
static proxy_worker *untried(const aop_req_t *ctx, proxy_balancer *b, int idx)
{
    if (ctx->tried[idx]
        || (ctx->resuming && !aop_instance_resumes(instance(ctx, idx), ctx->info.model))) {
        return NULL;
    }
    return aop_view_worker(ctx->view, b, idx);
}

/* The candidate's deployment of the request's model (its pair), or NULL. */
static aop_shm_pair_t *pair_of(const aop_req_t *ctx, int idx)
{
    return aop_req_pair(ctx, idx);
}

static apr_int64_t pair_max_tpm(const aop_req_t *ctx, int idx)
{
    const aop_deployment_limits_t *lim = aop_req_limits(ctx, idx);

    return lim ? lim->max_tpm : 0;
}

static apr_int64_t pair_max_rpm(const aop_req_t *ctx, int idx)
{
    const aop_deployment_limits_t *lim = aop_req_limits(ctx, idx);

    return lim ? lim->max_rpm : 0;
}

/* The deployment: not resting, and its own request and token windows (if it has
 * limits) have room. */
static int pair_available(const aop_req_t *ctx, int idx, apr_time_t now, int exact)
{
    const aop_shm_pair_t *sp = pair_of(ctx, idx);
    apr_int64_t max_tpm = pair_max_tpm(ctx, idx), sec = apr_time_sec(now);

    if (!sp) {
        return 1;
    }
    /* The backoff's growth keeps a flapping deployment out while others serve; when
     * nothing else is left (probes_ignored), a probe may go once its plain rest is
     * over, rather than a 429 while healthy capacity waits. */
    return (now >= sp->cooldown_until || (ctx->probes_ignored && now >= sp->base_until))
           && aop_rpm_fits(&sp->rpm, pair_max_rpm(ctx, idx), sec)
           && (exact ? aop_tpm_fits(&sp->tpm, max_tpm, ctx->info.estimate, sec)
                     : aop_tpm_fits_hint(&sp->tpm, max_tpm, ctx->info.estimate, sec));
}

/* Key not refused, deployment neither missing nor resting after a 429/5xx or a
 * failure, and the request fits the instance's and the deployment's request and
 * token budgets.  exact: under the lock, the token windows as they are; else a
 * lock-free hint from their per-second cache ("maybe" when that is old). */
static int check_available(const aop_req_t *ctx, int idx, apr_time_t now, int exact)
{
    const aop_shm_inst_t *si = aop_shm_inst(ctx->view->shm_map, idx);
    const aop_instance_t *inst = instance(ctx, idx);
    apr_int64_t sec = apr_time_sec(now);

    if (!si) {
        return 1;
    }
    return now >= si->cooldown_until && now >= si->unhealthy_until
           && aop_token_usable(inst, now)
           && !aop_shm_model_missing(si, ctx->info.model, now)
           && aop_rpm_fits(&si->rpm, inst->max_rpm, sec)
           && (exact ? aop_tpm_fits(&si->tpm, inst->max_tpm, ctx->info.estimate, sec)
                     : aop_tpm_fits_hint(&si->tpm, inst->max_tpm, ctx->info.estimate, sec))
           && pair_available(ctx, idx, now, exact);
}

static int available(const aop_req_t *ctx, int idx, apr_time_t now)
{
    return check_available(ctx, idx, now, 1);
}

static int maybe_available(const aop_req_t *ctx, int idx, apr_time_t now)
{
    return check_available(ctx, idx, now, 0);
}

/* Under the lock: the budgets' windows brought to this second, then the exact check. */
static int available_locked(const aop_req_t *ctx, int idx, apr_time_t now)
{
    aop_shm_inst_t *si = aop_shm_inst(ctx->view->shm_map, idx);
    aop_shm_pair_t *sp = pair_of(ctx, idx);

    if (si) {
        aop_tpm_refresh(&si->tpm, apr_time_sec(now));
    }
    if (sp) {
        aop_tpm_refresh(&sp->tpm, apr_time_sec(now));
    }
    return available(ctx, idx, now);
}

static apr_time_t later(apr_time_t a, apr_time_t b)
{
    return a > b ? a : b;
}

/* When the deployment's own rest and windows let the request in. */
static apr_time_t pair_available_at(const aop_req_t *ctx, int idx, apr_time_t now)
{
    const aop_shm_pair_t *sp = pair_of(ctx, idx);
    apr_int64_t sec = apr_time_sec(now);

    if (!sp) {
        return now;
    }
    return later(sp->cooldown_until, later(
        apr_time_from_sec(aop_tpm_fits_at(&sp->tpm, pair_max_tpm(ctx, idx),
                                          ctx->info.estimate, sec)),
        apr_time_from_sec(aop_rpm_fits_at(&sp->rpm, pair_max_rpm(ctx, idx), sec))));
}

/* When candidate idx could take the request, or 0 when only a reload can help. */
static apr_time_t available_at(const aop_req_t *ctx, int idx, apr_time_t now)
{
    const aop_shm_inst_t *si = aop_shm_inst(ctx->view->shm_map, idx);
    const aop_instance_t *inst = instance(ctx, idx);
    apr_int64_t sec = apr_time_sec(now);
    apr_time_t at;

    if (!si) {
        return now;
    }
    if (now < si->unhealthy_until || aop_shm_model_missing(si, ctx->info.model, now)
        || !aop_token_usable(inst, now)) {
        return 0;
    }
    at = later(apr_time_from_sec(aop_tpm_fits_at(&si->tpm, inst->max_tpm,
                                                 ctx->info.estimate, sec)),
               apr_time_from_sec(aop_rpm_fits_at(&si->rpm, inst->max_rpm, sec)));
    return later(later(at, si->cooldown_until), pair_available_at(ctx, idx, now));
}

/* After a failure, one request at a time until one succeeds (aop_circuit.h), unless
 * this pick takes what is left (pick()): the instance's circuit (refused keys and
 * connections) and its deployment's (what failed for this model alone). */
static int probe_allows(const aop_req_t *ctx, int idx, apr_time_t now)
{
    const aop_shm_inst_t *si = aop_shm_inst(ctx->view->shm_map, idx);
    const aop_shm_pair_t *sp = pair_of(ctx, idx);

    return !si || ctx->probes_ignored
           || (aop_circuit_admits(si->consecutive_failures, si->probe_until, now)
               && (!sp || aop_circuit_admits(sp->consecutive_failures, sp->probe_until, now)));
}

/* Out only for the growth of its backoff: its plain rest is over. */
static int in_backoff(const aop_req_t *ctx, int idx, apr_time_t now)
{
    const aop_shm_pair_t *sp = pair_of(ctx, idx);

    return sp && now < sp->cooldown_until && now >= sp->base_until;
}

/* Each candidate's eligibility, read without the lock: a hint.  This is the part
 * that grows with the number of instances (only when the scheduled one cannot take
 * the request), so it stays outside the lock; the pick under the lock then only runs
 * the strategy's arithmetic and checks the one it chose against the state as it is
 * (choose()). */
static aop_cand_t *hint(request_rec *r, aop_req_t *ctx, proxy_balancer *b, int n,
                        apr_time_t now)
{
    aop_cand_t *c = apr_palloc(r->pool, sizeof(*c) * n);
    int i;

    for (i = 0; i < n; i++) {
        int idx = APR_ARRAY_IDX(ctx->candidates, i, int);
        proxy_worker *w = untried(ctx, b, idx);

        c[i].priority = instance(ctx, idx)->priority;
        c[i].weight = instance(ctx, idx)->weight;
        c[i].eligible = w && worker_usable(w, r) && maybe_available(ctx, idx, now);
        if (c[i].eligible && !probe_allows(ctx, idx, now)) {
            c[i].eligible = 0;
            ctx->probe_blocked = 1;
        }
        else if (!c[i].eligible && w && in_backoff(ctx, idx, now)) {
            ctx->probe_blocked = 1;     /* a second pass may probe it (pick()) */
        }
    }
    return c;
}

/* Under the lock: the strategy picks among the hinted candidates; if what it picked
 * is no longer available (another process took the budget meanwhile), it is left
 * out and the strategy picks again. */
/* Under the lock: the strategy's credits of the model's candidates are their pairs'
 * in shared memory (aop_shm_route_credits), gathered into cw for the pick and
 * written back after; without them (no segment) cw is this pick's alone. */
static int choose(aop_req_t *ctx, aop_shm_model_t *sm, aop_cand_t *c, int n,
                  apr_int64_t *cw, apr_time_t now)
{
    /* Candidates other than the model's route's (a pinned or looked-up stored
     * response) have no shared credits: this pick's alone. */
    const int *slot = ctx->route ? aop_shm_route_credits(ctx->view->shm_map, ctx->info.model)
                                 : NULL;
    apr_int64_t *credit = aop_shm_credits();
    aop_select_state_t st = { sm ? sm->cursor : 0, cw };
    int i, k, idx = -1;

    for (i = 0; slot && credit && i < n; i++) {
        cw[i] = slot[i] >= 0 ? credit[slot[i]] : 0;
    }
    while ((k = aop_select(ctx->view->cfg->strategy, c, n, &st)) >= 0) {
        idx = APR_ARRAY_IDX(ctx->candidates, k, int);
        if (available_locked(ctx, idx, now) && probe_allows(ctx, idx, now)) {
            break;
        }
        c[k].eligible = 0;
        idx = -1;
    }
    for (i = 0; slot && credit && i < n; i++) {
        if (slot[i] >= 0) {
            credit[slot[i]] = cw[i];
        }
    }
    if (sm) {
        sm->cursor = st.cursor;
    }
    return idx;
}

/* Under the lock, for the candidate picked: the request counts in the instance's
 * and the deployment's request windows, and is the probe of a half-open circuit. */
static void send_probe(const aop_req_t *ctx, int idx, apr_time_t now)
{
    aop_shm_inst_t *si = aop_shm_inst(ctx->view->shm_map, idx);
    aop_shm_pair_t *sp = pair_of(ctx, idx);
    apr_interval_time_t window = aop_circuit_window(ctx->view->cfg->timeout);

    if (si) {
        si->probe_until = aop_circuit_sent(si->consecutive_failures, si->probe_until, now,
                                           window);
        aop_rpm_take(&si->rpm, apr_time_sec(now));
    }
    if (sp) {
        sp->probe_until = aop_circuit_sent(sp->consecutive_failures, sp->probe_until, now,
                                           window);
        aop_rpm_take(&sp->rpm, apr_time_sec(now));
    }
}

/* The common case in O(1), whatever the number of candidates: the one the route's
 * schedule names at the model's cursor, if it can take the request as it is (under
 * the lock: exactly).  -1 sends the pick to the full pass (pick()), which also
 * handles a worker whose retry interval is due (mod_proxy's call, not made under
 * our lock). */
static int pick_scheduled(aop_req_t *ctx, proxy_balancer *b, aop_shm_model_t *sm,
                          apr_time_t now)
{
    const aop_route_t *rt = ctx->route;
    proxy_worker *w;
    int idx;

    aop_shm_lock();
    idx = APR_ARRAY_IDX(ctx->candidates, rt->schedule[sm->cursor % rt->schedule_len], int);
    w = untried(ctx, b, idx);
    if (w && PROXY_WORKER_IS_USABLE(w) && available_locked(ctx, idx, now)
        && probe_allows(ctx, idx, now)) {
        sm->cursor++;
        aop_reservation_take_locked(ctx, idx, now);
        send_probe(ctx, idx, now);
    }
    else {
        idx = -1;
    }
    aop_shm_unlock();
    return idx;
}

/* The full pass: hints outside the lock, the strategy and the exact check under it. */
static int pick_full(request_rec *r, aop_req_t *ctx, proxy_balancer *b, aop_shm_model_t *sm,
                     int n, apr_time_t now)
{
    aop_cand_t *c = hint(r, ctx, b, n, now);
    apr_int64_t *cw = apr_pcalloc(r->pool, sizeof(*cw) * (apr_size_t)n);
    int idx;

    aop_shm_lock();
    idx = choose(ctx, sm, c, n, cw, now);
    if (idx >= 0) {
        aop_reservation_take_locked(ctx, idx, now);
        send_probe(ctx, idx, now);
    }
    aop_shm_unlock();
    return idx;
}

/* Picks and reserves under the lock; -1 when no candidate is eligible. */
static int pick(request_rec *r, aop_req_t *ctx, proxy_balancer *b)
{
    int n = ctx->candidates->nelts;
    apr_time_t now = apr_time_now();
    aop_shm_model_t *sm = aop_shm_model(ctx->view->shm_map, ctx->info.model);
    int idx;

    if (sm && ctx->route && ctx->route->schedule_len
        && (idx = pick_scheduled(ctx, b, sm, now)) >= 0) {
        return idx;
    }
    ctx->probe_blocked = 0;
    if ((idx = pick_full(r, ctx, b, sm, n, now)) < 0 && ctx->probe_blocked) {
        /* Only instances whose probe is out, or whose rest grew after failed
         * probes, are left: one of them rather than a 429 for the whole model (a
         * lone instance, say, or one that recovered while the others fail). */
        ctx->probes_ignored = 1;
        idx = pick_full(r, ctx, b, sm, n, now);
        ctx->probes_ignored = 0;
    }
    return idx;
}

void aop_lb_restore_soft_failed(aop_req_t *ctx)
{
    if (ctx->soft_failed) {
        ctx->soft_failed->s->status &= ~PROXY_WORKER_IN_ERROR;
        ctx->soft_failed = NULL;
    }
}

static proxy_worker *aop_finder(proxy_balancer *balancer, request_rec *r)
{
    aop_req_t *ctx = aop_req_get(r);
    int idx;

    if (!ctx || !ctx->candidates || !ctx->view) {
        return NULL;
    }
    if (ctx->preselected >= 0) {
        idx = ctx->preselected;         /* picked and reserved in fixups */
        ctx->preselected = -1;
    }
    else {
        aop_lb_restore_soft_failed(ctx);
        aop_reservation_release(ctx, 0);   /* an earlier attempt's, if it failed */
        idx = pick(r, ctx, balancer);
    }
    ctx->chosen = idx;
    ctx->inst = idx >= 0 ? instance(ctx, idx) : NULL;
    if (idx < 0) {
        return NULL;
    }
    ctx->deployment = aop_req_deployment(ctx, idx);
    ctx->tried[idx] = 1;
    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r, "aoproxy: attempt %d -> instance %s",
                  ctx->attempts + 1, ctx->inst->name);
    return aop_view_worker(ctx->view, balancer, idx);
}

/* Whether any untried candidate is usable (or due) and available; reads the shared
 * state without the lock: a hint, the finder decides under it. */
static int any_ready(request_rec *r, const aop_req_t *ctx, apr_time_t now)
{
    int i;

    for (i = 0; i < ctx->candidates->nelts; i++) {
        int idx = APR_ARRAY_IDX(ctx->candidates, i, int);
        proxy_worker *w = untried(ctx, ctx->sc->balancer, idx);

        /* One out only for its backoff's growth counts: the pick takes it when
         * nothing else is left (pick()). */
        if (w && (PROXY_WORKER_IS_USABLE(w) || retry_due(w))
            && (available(ctx, idx, now) || in_backoff(ctx, idx, now))) {
            return 1;
        }
    }
    return 0;
}

int aop_lb_next_exists(request_rec *r, const aop_req_t *ctx)
{
    return ctx->attempts <= ctx->view->cfg->retries && any_ready(r, ctx, apr_time_now());
}

apr_interval_time_t aop_lb_retry_after(request_rec *r, const aop_req_t *ctx)
{
    apr_time_t now = apr_time_now(), best = 0;
    int i;

    aop_shm_lock();
    for (i = 0; i < ctx->candidates->nelts; i++) {
        apr_time_t at = available_at(ctx, APR_ARRAY_IDX(ctx->candidates, i, int), now);

        if (at && (!best || at < best)) {
            best = at;
        }
    }
    aop_shm_unlock();
    return best > now ? best - now : 0;
}

int aop_lb_pick_first(request_rec *r, aop_req_t *ctx, apr_interval_time_t *retry_after)
{
    if ((ctx->preselected = pick(r, ctx, ctx->sc->balancer)) >= 0) {
        return OK;
    }
    *retry_after = aop_lb_retry_after(r, ctx);
    return *retry_after > 0 ? HTTP_TOO_MANY_REQUESTS : HTTP_SERVICE_UNAVAILABLE;
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

int aop_lb_bind_proxy(server_rec *s)
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
