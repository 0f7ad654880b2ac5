/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* /stats, /stats/windows, /stats/instances, /stats/health, /stats/reset and
 * /instances/{name}: what every instance is doing, the same from any process. */
#include <apr_strings.h>

#include <http_protocol.h>
#include <util_script.h>

#include "aop_json.h"
#include "aop_page.h"
#include "aop_sat.h"
#include "mod_aoproxy_private.h"
#include "mod_aoproxy_affinity.h"
#include "mod_aoproxy_api.h"
#include "mod_aoproxy_api_handlers.h"
#include "mod_aoproxy_errors.h"
#include "mod_aoproxy_snapshot.h"

/* Instances a page of /stats/instances holds unless ?limit= says otherwise. */
#define AOP_STATS_PAGE 1000

/* JSON integers here are signed 64-bit: a counter held at APR_UINT64_MAX shows as
 * INT64_MAX, never as a negative number. */
static json_object *u64_json(apr_uint64_t v)
{
    return json_object_new_int64(v > (apr_uint64_t)APR_INT64_MAX ? APR_INT64_MAX
                                                                 : (apr_int64_t)v);
}

static json_object *ms_or_null(double seconds)
{
    return seconds < 0 ? NULL : json_object_new_double(seconds * 1000.0);
}

static json_object *latency_json(const aop_hist_t *h)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "count", u64_json(h->count));
    json_object_object_add(o, "avg", h->count ? json_object_new_double(
                                                    (double)h->sum_us / 1000.0
                                                    / (double)h->count) : NULL);
    json_object_object_add(o, "p50", ms_or_null(aop_hist_quantile(h, 0.50)));
    json_object_object_add(o, "p95", ms_or_null(aop_hist_quantile(h, 0.95)));
    json_object_object_add(o, "p99", ms_or_null(aop_hist_quantile(h, 0.99)));
    return o;
}

static void add_u64(json_object *o, const char *key, apr_uint64_t v)
{
    json_object_object_add(o, key, u64_json(v));
}

static json_object *errors_json(const aop_tally_t *c)
{
    json_object *o = json_object_new_object(), *cls = json_object_new_object();
    json_object *kind = json_object_new_object();

    add_u64(cls, "4xx", c->errors_4xx);
    add_u64(cls, "5xx", c->errors_5xx);
    add_u64(cls, "other", c->errors_other);
    add_u64(kind, "rate_limited", c->by_kind[AOP_KIND_RATE_LIMITED]);
    add_u64(kind, "timeout", c->by_kind[AOP_KIND_TIMEOUT]);
    add_u64(kind, "connection", c->by_kind[AOP_KIND_CONNECTION]);
    add_u64(kind, "upstream_5xx", c->by_kind[AOP_KIND_UPSTREAM_5XX]);
    add_u64(kind, "client_4xx", c->by_kind[AOP_KIND_CLIENT_4XX]);
    add_u64(kind, "reset", c->by_kind[AOP_KIND_RESET]);
    add_u64(kind, "truncated", c->by_kind[AOP_KIND_TRUNCATED]);
    add_u64(kind, "content_filter", c->by_kind[AOP_KIND_CONTENT_FILTER]);
    add_u64(o, "total", aop_sat_subu(c->requests, c->successes));
    json_object_object_add(o, "by_class", cls);
    json_object_object_add(o, "by_kind", kind);
    return o;
}

/* Azure's content filter at work: prompts it refused (also errors.by_kind's) and
 * answers it cut short (successes). */
static json_object *content_filter_json(const aop_tally_t *c)
{
    json_object *o = json_object_new_object();

    add_u64(o, "refused", c->by_kind[AOP_KIND_CONTENT_FILTER]);
    add_u64(o, "filtered_answers", c->filtered_answers);
    return o;
}

static json_object *tokens_json(const aop_tally_t *c)
{
    json_object *o = json_object_new_object();

    add_u64(o, "prompt", c->prompt_tokens);
    add_u64(o, "completion", c->completion_tokens);
    add_u64(o, "total", c->total_tokens);
    add_u64(o, "estimated", c->estimated_tokens);
    add_u64(o, "estimated_requests", c->estimated_requests);
    return o;
}

/* One set of counters (a window, or since start) as JSON. */
static json_object *counts_json(const aop_counts_t *counts, int minutes)
{
    json_object *o = json_object_new_object();
    const aop_tally_t *c = &counts->n;

    if (minutes > 0) {
        json_object_object_add(o, "window_minutes", json_object_new_int(minutes));
    }
    add_u64(o, "requests", c->requests);
    add_u64(o, "successes", c->successes);
    json_object_object_add(o, "errors", errors_json(c));
    json_object_object_add(o, "error_rate", json_object_new_double(
                               c->requests ? (double)aop_sat_subu(c->requests, c->successes)
                                             / (double)c->requests : 0.0));
    json_object_object_add(o, "tokens", tokens_json(c));
    json_object_object_add(o, "latency_ms", latency_json(&counts->latency));
    json_object_object_add(o, "ttfb_ms", latency_json(&counts->ttfb));
    add_u64(o, "failovers", c->failovers);
    add_u64(o, "cooldowns", c->cooldowns);
    json_object_object_add(o, "content_filter", content_filter_json(c));
    return o;
}

static json_object *window_json(const aop_snapshot_t *snap, int idx, int minutes)
{
    aop_counts_t c;

    aop_snapshot_window(snap, idx, minutes, &c);
    return counts_json(&c, minutes);
}

static const aop_instance_t *instance_at(const aop_snapshot_t *snap, int idx)
{
    return APR_ARRAY_IDX(snap->view->cfg->instances, idx, aop_instance_t *);
}

static json_object *health_json(apr_pool_t *p, const aop_snapshot_t *snap, int idx)
{
    const aop_shm_inst_t *si = &snap->inst[idx];
    json_object *o = json_object_new_object(), *last = NULL;

    json_object_object_add(o, "status", json_object_new_string(
                               aop_health_name(snap->health[idx].status)));
    json_object_object_add(o, "reason", snap->health[idx].reason
                           ? json_object_new_string(snap->health[idx].reason) : NULL);
    json_object_object_add(o, "cooldown_until", si->cooldown_until > snap->now
                           ? aop_api_time(p, si->cooldown_until) : NULL);
    json_object_object_add(o, "consecutive_failures",
                           json_object_new_int((int)si->consecutive_failures));
    if (si->last_error_at) {
        last = json_object_new_object();
        json_object_object_add(last, "status", json_object_new_int(si->last_status));
        json_object_object_add(last, "at", aop_api_time(p, si->last_error_at));
    }
    json_object_object_add(o, "last_error", last);
    json_object_object_add(o, "circuit", json_object_new_string(
                               aop_circuit_state_name((aop_circuit_state_e)snap->circuit[idx])));
    return o;
}

static json_object *limit_or_null(apr_int64_t v)
{
    return v > 0 ? json_object_new_int64(v) : NULL;
}

/* A deployment's own state: its circuit (429/408/5xx, timeouts and resets rest it
 * alone), and its request and token windows against its own limits. */
static json_object *deployment_state(apr_pool_t *p, const aop_snapshot_t *snap, int idx,
                                     int j, const char *model)
{
    const aop_instance_t *inst = instance_at(snap, idx);
    const aop_snap_pair_t *sp = &snap->pairs[idx][j];
    const aop_deployment_limits_t *lim = aop_instance_limits(inst, model);
    json_object *o = json_object_new_object(), *rpm = json_object_new_object(),
                *tpm = json_object_new_object(), *last = NULL;

    json_object_object_add(o, "deployment", json_object_new_string(
                               aop_instance_deployment(inst, model)));
    json_object_object_add(o, "circuit", json_object_new_string(aop_circuit_state_name(
                               aop_circuit_state(sp->consecutive_failures,
                                                 sp->cooldown_until, snap->now))));
    json_object_object_add(o, "cooldown_until", sp->cooldown_until > snap->now
                           ? aop_api_time(p, sp->cooldown_until) : NULL);
    json_object_object_add(o, "consecutive_failures",
                           json_object_new_int((int)sp->consecutive_failures));
    json_object_object_add(o, "probe_in_flight", json_object_new_boolean(
                               sp->consecutive_failures && sp->probe_until > snap->now));
    if (sp->last_error_at) {
        last = json_object_new_object();
        json_object_object_add(last, "status", json_object_new_int(sp->last_status));
        json_object_object_add(last, "at", aop_api_time(p, sp->last_error_at));
    }
    json_object_object_add(o, "last_error", last);
    json_object_object_add(rpm, "last_second", json_object_new_int64(sp->rpm_second));
    json_object_object_add(rpm, "last_10_seconds", json_object_new_int64(sp->rpm_ten));
    json_object_object_add(rpm, "max_rpm", limit_or_null(lim ? lim->max_rpm : 0));
    json_object_object_add(o, "rpm", rpm);
    json_object_object_add(tpm, "used", json_object_new_int64(sp->tpm_used));
    json_object_object_add(tpm, "reserved", json_object_new_int64(sp->tpm_reserved));
    json_object_object_add(tpm, "max_tpm", limit_or_null(lim ? lim->max_tpm : 0));
    json_object_object_add(o, "tpm", tpm);
    return o;
}

static json_object *deployments_state(apr_pool_t *p, const aop_snapshot_t *snap, int idx)
{
    const apr_array_header_t *models = instance_at(snap, idx)->supported_models;
    json_object *o = json_object_new_object();
    int j;

    for (j = 0; snap->pairs[idx] && j < models->nelts; j++) {
        const char *model = APR_ARRAY_IDX(models, j, const char *);

        json_object_object_add(o, model, deployment_state(p, snap, idx, j, model));
    }
    return o;
}

static json_object *tpm_json(const aop_snapshot_t *snap, int idx)
{
    const aop_shm_inst_t *si = &snap->inst[idx];
    apr_int64_t max = instance_at(snap, idx)->max_tpm;
    apr_int64_t used = aop_tpm_used(&si->tpm, apr_time_sec(snap->now));
    json_object *o = json_object_new_object();

    json_object_object_add(o, "used", json_object_new_int64(used));
    json_object_object_add(o, "reserved", json_object_new_int64(si->tpm.reserved));
    json_object_object_add(o, "max_tpm", json_object_new_int64(max));
    json_object_object_add(o, "utilization", max > 0
                           ? json_object_new_double((double)aop_sat_add_nonneg(
                                                        used, si->tpm.reserved)
                                                    / (double)max) : NULL);
    return o;
}

static json_object *rpm_json(const aop_snapshot_t *snap, int idx)
{
    const aop_shm_inst_t *si = &snap->inst[idx];
    apr_int64_t sec = apr_time_sec(snap->now);
    json_object *o = json_object_new_object();

    json_object_object_add(o, "last_second", json_object_new_int64(
                               aop_rpm_in_second(&si->rpm, sec)));
    json_object_object_add(o, "last_10_seconds", json_object_new_int64(
                               aop_rpm_in_ten(&si->rpm, sec)));
    json_object_object_add(o, "max_rpm", limit_or_null(instance_at(snap, idx)->max_rpm));
    return o;
}

/* An instance's state: health, budget and its main window (no secret). */
static json_object *instance_state(apr_pool_t *p, const aop_snapshot_t *snap, int idx)
{
    const aop_instance_t *inst = instance_at(snap, idx);
    json_object *o = json_object_new_object();

    json_object_object_add(o, "name", json_object_new_string(inst->name));
    json_object_object_add(o, "enabled", json_object_new_boolean(inst->enabled));
    json_object_object_add(o, "health", health_json(p, snap, idx));
    json_object_object_add(o, "tpm", tpm_json(snap, idx));
    json_object_object_add(o, "rpm", rpm_json(snap, idx));
    json_object_object_add(o, "deployments", deployments_state(p, snap, idx));
    json_object_object_add(o, "stats", window_json(snap, idx,
                                                   snap->view->cfg->stats_window_minutes));
    return o;
}

/* The response-affinity table (one per httpd), or null when it is off. */
static json_object *affinity_json(void)
{
    apr_uint64_t capacity, used;
    json_object *o;

    if (!aop_affinity_usage(&capacity, &used)) {
        return NULL;
    }
    o = json_object_new_object();
    add_u64(o, "capacity", capacity);
    add_u64(o, "used", used);
    return o;
}

static aop_snapshot_t *snapshot(aop_api_t *q, json_object **root)
{
    *root = aop_json_own(q->r->pool, json_object_new_object());
    return aop_snapshot_take(q->r->pool, q->view, 0);
}

void aop_api_get_stats(aop_api_t *q)
{
    json_object *root;
    aop_snapshot_t *snap = snapshot(q, &root);

    json_object_object_add(root, "status", json_object_new_string(
                               aop_health_name(aop_snapshot_overall_health(snap))));
    json_object_object_add(root, "since", aop_api_time(q->r->pool, snap->since));
    json_object_object_add(root, "window", window_json(snap, -1,
                                                       q->view->cfg->stats_window_minutes));
    json_object_object_add(root, "total", counts_json(&snap->overall_life, 0));
    json_object_object_add(root, "affinity", affinity_json());
    aop_api_send(q, root);
}

static json_object *one_window(apr_pool_t *p, const aop_snapshot_t *snap, int minutes)
{
    json_object *o = json_object_new_object(), *insts = json_object_new_object();
    int i;

    json_object_object_add(o, "minutes", json_object_new_int(minutes));
    json_object_object_add(o, "overall", window_json(snap, -1, minutes));
    for (i = 0; i < snap->n; i++) {
        json_object_object_add(insts, instance_at(snap, i)->name, window_json(snap, i, minutes));
    }
    json_object_object_add(o, "instances", insts);
    return o;
}

void aop_api_get_stats_windows(aop_api_t *q)
{
    json_object *root, *arr = json_object_new_array();
    aop_snapshot_t *snap = snapshot(q, &root);
    const apr_array_header_t *extra = q->view->cfg->additional_windows;
    int i;

    json_object_array_add(arr, one_window(q->r->pool, snap, q->view->cfg->stats_window_minutes));
    for (i = 0; i < extra->nelts; i++) {
        json_object_array_add(arr, one_window(q->r->pool, snap, APR_ARRAY_IDX(extra, i, int)));
    }
    json_object_object_add(root, "windows", arr);
    aop_api_send(q, root);
}

struct aop_page_t *aop_api_page(aop_api_t *q, int default_limit)
{
    const apr_array_header_t *insts = q->view->cfg->instances;
    const char **names = apr_palloc(q->r->pool, sizeof(char *) * (insts->nelts + 1));
    apr_table_t *args = NULL;
    const char *problem, *after;
    int i, limit;

    ap_args_to_table(q->r, &args);
    if ((problem = aop_page_limit(apr_table_get(args, "limit"), default_limit, &limit))) {
        aop_send_error(q->r, HTTP_BAD_REQUEST, apr_pstrcat(q->r->pool, problem, ".", NULL),
                       "limit", "invalid_value");
        return NULL;
    }
    after = apr_table_get(args, "after");
    for (i = 0; i < insts->nelts; i++) {
        names[i] = APR_ARRAY_IDX(insts, i, aop_instance_t *)->name;
    }
    return aop_page_select(q->r->pool, names, insts->nelts, after && *after ? after : NULL,
                           limit);
}

/* ?limit= (default AOP_STATS_PAGE) instances in name order after ?after=; "next"
 * is the cursor of the next page (null on the last). */
void aop_api_get_stats_instances(aop_api_t *q)
{
    json_object *root, *arr;
    aop_page_t *page = aop_api_page(q, AOP_STATS_PAGE);
    aop_snapshot_t *snap;
    int k;

    if (!page) {
        return;
    }
    root = aop_json_own(q->r->pool, json_object_new_object());
    snap = aop_snapshot_take_page(q->r->pool, q->view, 0, page->idx, page->count);
    arr = json_object_new_array_ext(page->count);
    for (k = 0; k < page->count; k++) {
        json_object_array_add(arr, instance_state(q->r->pool, snap, page->idx[k]));
    }
    json_object_object_add(root, "window_minutes",
                           json_object_new_int(q->view->cfg->stats_window_minutes));
    json_object_object_add(root, "instances", arr);
    json_object_object_add(root, "total", json_object_new_int(snap->n));
    json_object_object_add(root, "next", page->next ? json_object_new_string(page->next)
                                                    : NULL);
    aop_api_send(q, root);
}

void aop_api_get_stats_health(aop_api_t *q)
{
    json_object *root, *counts = json_object_new_object(), *list = json_object_new_array();
    aop_snapshot_t *snap = snapshot(q, &root);
    int i, tally[AOP_DISABLED + 1] = { 0 };

    for (i = 0; i < snap->n; i++) {
        json_object *one = json_object_new_object();

        tally[snap->health[i].status]++;
        json_object_object_add(one, "name", json_object_new_string(instance_at(snap, i)->name));
        json_object_object_add(one, "health", health_json(q->r->pool, snap, i));
        json_object_array_add(list, one);
    }
    for (i = 0; i <= AOP_DISABLED; i++) {
        json_object_object_add(counts, aop_health_name((aop_health_e)i),
                               json_object_new_int(tally[i]));
    }
    json_object_object_add(root, "status", json_object_new_string(
                               aop_health_name(aop_snapshot_overall_health(snap))));
    json_object_object_add(root, "counts", counts);
    json_object_object_add(root, "instances", list);
    aop_api_send(q, root);
}

void aop_api_post_stats_reset(aop_api_t *q)
{
    json_object *root = aop_json_own(q->r->pool, json_object_new_object());

    aop_shm_reset_stats();
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, q->r, AOPLOGNO(00060)
                  "statistics reset through the admin API");
    json_object_object_add(root, "reset", json_object_new_boolean(1));
    json_object_object_add(root, "at", aop_api_time(q->r->pool, apr_time_now()));
    aop_api_send(q, root);
}

void aop_api_get_instance(aop_api_t *q)
{
    json_object *root, *state;
    aop_snapshot_t *snap = snapshot(q, &root);
    int idx = aop_view_find(snap->view, q->arg);

    if (idx < 0) {
        aop_send_error(q->r, HTTP_NOT_FOUND, apr_psprintf(q->r->pool, "No instance named "
                                                          "`%s`.", q->arg),
                       "name", "instance_not_found");
        return;
    }
    state = instance_state(q->r->pool, snap, idx);
    json_object_object_add(state, "config",
                           aop_api_instance_config(instance_at(snap, idx)));
    aop_api_send(q, aop_json_own(q->r->pool, state));
}
