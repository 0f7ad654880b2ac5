/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* GET /metrics: the Prometheus text exposition format (version 0.0.4), scrapeable
 * as is.  Counters and histograms per instance and model count since start or the
 * last reset; gauges tell the present.  The instance label is "aoproxy_instance":
 * Prometheus itself owns "instance" (the scraped target). */
#include <apr_strings.h>

#include <http_protocol.h>

#include "aop_page.h"
#include "mod_aoproxy_private.h"
#include "mod_aoproxy_api.h"
#include "mod_aoproxy_api_handlers.h"
#include "mod_aoproxy_snapshot.h"

/* Instances a scrape covers unless ?limit= says otherwise: a fleet of up to this
 * many is scraped whole, a larger one in pages (?after=, the cursor given by the
 * last page). */
#define AOP_METRICS_PAGE 1000

static const char *const kind_names[AOP_KIND_COUNT] = {
    "success", "rate_limited", "timeout", "connection", "upstream_5xx", "client_4xx",
    "reset", "truncated", "content_filter"
};

/* A label value with backslash, double quote and newline escaped. */
static const char *label(apr_pool_t *p, const char *v)
{
    char *out = apr_palloc(p, strlen(v) * 2 + 1), *o = out;

    for (; *v; v++) {
        if (*v == '\\' || *v == '"') {
            *o++ = '\\';
            *o++ = *v;
        }
        else if (*v == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        }
        else {
            *o++ = *v;
        }
    }
    *o = '\0';
    return out;
}

/* A bucket bound in seconds, written from integer microseconds ("0.005", "2.5",
 * "60"): no locale, and no printf that drops the leading zero. */
static const char *bound_label(apr_pool_t *p, apr_int64_t us)
{
    char *s = apr_psprintf(p, "%" APR_INT64_T_FMT ".%06" APR_INT64_T_FMT, us / 1000000,
                           us % 1000000);
    char *end = s + strlen(s) - 1;

    while (*end == '0') {
        *end-- = '\0';
    }
    if (*end == '.') {
        *end = '\0';
    }
    return s;
}

static void header(request_rec *r, const char *name, const char *type, const char *help)
{
    ap_rprintf(r, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* What every series of a page is written with, made once a page: each pair's
 * labels and the histograms' `le` bounds (a page of 250 instances has some 13 000
 * bucket lines). */
typedef struct page_text_t {
    const char **name;               /* [k]: the page's k-th instance's name, escaped */
    const char ***labels;            /* [k][j]: its j-th model's pair labels */
    const char *bound[AOP_HIST_BUCKETS];   /* set where aop_hist_ends_power() */
} page_text_t;

typedef struct series_t {
    request_rec *r;
    const aop_snapshot_t *snap;
    const aop_page_t *page;
    const page_text_t *text;
    int idx;                         /* instance */
    int m;                           /* model index in its supported_models */
    const char *labels;              /* aoproxy_instance="..",model=".." */
    const aop_counts_t *counts;
    const aop_tally_t *c;            /* &counts->n */
} series_t;

typedef void series_fn(const series_t *s);

static const page_text_t *page_text(request_rec *r, const aop_snapshot_t *snap,
                                    const aop_page_t *page)
{
    page_text_t *t = apr_pcalloc(r->pool, sizeof(*t));
    int b, j, k;

    t->labels = apr_palloc(r->pool, sizeof(char **) * (apr_size_t)(page->count + 1));
    t->name = apr_palloc(r->pool, sizeof(char *) * (apr_size_t)(page->count + 1));
    for (k = 0; k < page->count; k++) {
        const aop_instance_t *inst = APR_ARRAY_IDX(snap->view->cfg->instances, page->idx[k],
                                                   aop_instance_t *);
        const char *name = t->name[k] = label(r->pool, inst->name);

        t->labels[k] = apr_palloc(r->pool, sizeof(char *)
                                           * (apr_size_t)(inst->supported_models->nelts + 1));
        for (j = 0; j < inst->supported_models->nelts; j++) {
            t->labels[k][j] = apr_pstrcat(r->pool, "aoproxy_instance=\"", name, "\",model=\"",
                                          label(r->pool, APR_ARRAY_IDX(inst->supported_models,
                                                                       j, const char *)),
                                          "\"", NULL);
        }
    }
    for (b = 0; b < AOP_HIST_BUCKETS; b++) {
        if (aop_hist_ends_power(b)) {
            t->bound[b] = bound_label(r->pool, aop_hist_upper_us(b));
        }
    }
    return t;
}

/* Calls fn for every instance x model pair of the page. */
static void each_pair(request_rec *r, const aop_snapshot_t *snap, const aop_page_t *page,
                      const page_text_t *text, series_fn *fn)
{
    series_t s;
    int i, j, k;

    s.r = r;
    s.snap = snap;
    s.page = page;
    s.text = text;
    for (k = 0; k < page->count; k++) {
        const aop_instance_t *inst = APR_ARRAY_IDX(snap->view->cfg->instances,
                                                   (i = page->idx[k]), aop_instance_t *);

        for (j = 0; j < inst->supported_models->nelts; j++) {
            s.idx = i;
            s.m = j;
            s.counts = &snap->life[i][j];
            s.c = &s.counts->n;
            s.labels = text->labels[k][j];
            fn(&s);
        }
    }
}

static void requests_series(const series_t *s)
{
    int k;

    ap_rprintf(s->r, "aoproxy_requests_total{%s,outcome=\"success\"} %" APR_UINT64_T_FMT "\n",
               s->labels, s->c->successes);
    for (k = 1; k < AOP_KIND_COUNT; k++) {
        ap_rprintf(s->r, "aoproxy_requests_total{%s,outcome=\"%s\"} %" APR_UINT64_T_FMT "\n",
                   s->labels, kind_names[k], s->c->by_kind[k]);
    }
}

static void tokens_series(const series_t *s)
{
    ap_rprintf(s->r, "aoproxy_tokens_total{%s,type=\"prompt\"} %" APR_UINT64_T_FMT "\n"
               "aoproxy_tokens_total{%s,type=\"completion\"} %" APR_UINT64_T_FMT "\n",
               s->labels, s->c->prompt_tokens, s->labels, s->c->completion_tokens);
}

static void estimated_series(const series_t *s)
{
    ap_rprintf(s->r, "aoproxy_estimated_tokens_total{%s} %" APR_UINT64_T_FMT "\n", s->labels,
               s->c->estimated_tokens);
}

static void failover_series(const series_t *s)
{
    ap_rprintf(s->r, "aoproxy_failovers_total{%s} %" APR_UINT64_T_FMT "\n", s->labels,
               s->c->failovers);
}

static void filtered_series(const series_t *s)
{
    ap_rprintf(s->r, "aoproxy_content_filtered_answers_total{%s} %" APR_UINT64_T_FMT "\n",
               s->labels, s->c->filtered_answers);
}

/* A deployment's circuit (aop_circuit.h): one sample per state, 1 for the present. */
static void circuit_series(const series_t *s)
{
    const aop_snap_pair_t *sp = &s->snap->pairs[s->idx][s->m];
    aop_circuit_state_e now = aop_circuit_state(sp->consecutive_failures, sp->cooldown_until,
                                                s->snap->now);
    int st;

    for (st = AOP_CIRCUIT_CLOSED; st <= AOP_CIRCUIT_HALF_OPEN; st++) {
        ap_rprintf(s->r, "aoproxy_circuit_state{%s,state=\"%s\"} %d\n", s->labels,
                   aop_circuit_state_name((aop_circuit_state_e)st), (int)now == st);
    }
}

static void cooldown_series(const series_t *s)
{
    ap_rprintf(s->r, "aoproxy_cooldowns_total{%s} %" APR_UINT64_T_FMT "\n", s->labels,
               s->c->cooldowns);
}

/* The fine buckets (aop_stats.h) are exported at every power of two of microseconds,
 * 32 us to 268 s: a fixed, sensible set of `le` bounds that are exact bucket bounds,
 * so each cumulative count is exact.  /stats computes its percentiles from all of
 * them. */
static void histogram(const series_t *s, const char *name, const aop_hist_t *h)
{
    apr_uint64_t cumulative = 0;
    int b;

    for (b = 0; b < AOP_HIST_BUCKETS; b++) {
        cumulative += h->bucket[b];
        if (aop_hist_ends_power(b)) {
            ap_rprintf(s->r, "%s_bucket{%s,le=\"%s\"} %" APR_UINT64_T_FMT "\n", name,
                       s->labels, s->text->bound[b], cumulative);
        }
    }
    ap_rprintf(s->r, "%s_bucket{%s,le=\"+Inf\"} %" APR_UINT64_T_FMT "\n", name, s->labels,
               cumulative);
    ap_rprintf(s->r, "%s_sum{%s} %.6f\n%s_count{%s} %" APR_UINT64_T_FMT "\n", name, s->labels,
               (double)h->sum_us / 1e6, name, s->labels, cumulative);
}

static void latency_series(const series_t *s)
{
    histogram(s, "aoproxy_request_duration_seconds", &s->counts->latency);
}

static void ttfb_series(const series_t *s)
{
    histogram(s, "aoproxy_time_to_first_byte_seconds", &s->counts->ttfb);
}

typedef enum { G_USED, G_RESERVED, G_LIMIT, G_COOLDOWN } gauge_e;

static double gauge_value(const aop_snapshot_t *snap, int i, gauge_e g)
{
    const aop_shm_inst_t *si = &snap->inst[i];

    switch (g) {
    case G_USED:
        return (double)aop_tpm_used(&si->tpm, apr_time_sec(snap->now));
    case G_RESERVED:
        return (double)si->tpm.reserved;
    case G_LIMIT:
        return (double)APR_ARRAY_IDX(snap->view->cfg->instances, i, aop_instance_t *)->max_tpm;
    default:
        return si->cooldown_until > snap->now ? (double)(si->cooldown_until - snap->now) / 1e6
                                              : 0.0;
    }
}

/* One gauge family, every instance's sample together (the format wants them so). */
static void gauge(request_rec *r, const aop_snapshot_t *snap, const aop_page_t *page,
                  const page_text_t *text, const char *name, gauge_e g, const char *help)
{
    int i, k;

    header(r, name, "gauge", help);
    for (k = 0; k < page->count; k++) {
        i = page->idx[k];
        ap_rprintf(r, "%s{aoproxy_instance=\"%s\"} %.3f\n", name, text->name[k],
                   gauge_value(snap, i, g));
    }
}

static void instance_gauges(request_rec *r, const aop_snapshot_t *snap,
                            const aop_page_t *page, const page_text_t *text)
{
    int i, h, k;

    gauge(r, snap, page, text, "aoproxy_tpm_used", G_USED, "Tokens an instance used in the last 60 "
          "seconds.");
    gauge(r, snap, page, text, "aoproxy_tpm_reserved", G_RESERVED, "Tokens reserved by requests in "
          "flight.");
    gauge(r, snap, page, text, "aoproxy_tpm_limit", G_LIMIT, "The instance's max_tpm (0: unlimited).");
    gauge(r, snap, page, text, "aoproxy_cooldown_remaining_seconds", G_COOLDOWN, "Seconds until the "
          "instance may be picked again after a 429 or 5xx.");
    header(r, "aoproxy_instance_health", "gauge", "1 for the instance's current health.");
    for (k = 0; k < page->count; k++) {
        i = page->idx[k];
        for (h = AOP_HEALTHY; h <= AOP_DISABLED; h++) {
            ap_rprintf(r, "aoproxy_instance_health{aoproxy_instance=\"%s\",status=\"%s\"} "
                       "%d\n", text->name[k], aop_health_name((aop_health_e)h),
                       (int)snap->health[i].status == h);
        }
    }
    header(r, "aoproxy_instance_circuit_state", "gauge", "1 for the present state of the "
           "instance's own circuit (refused keys and connections rest the whole instance).");
    for (k = 0; k < page->count; k++) {
        i = page->idx[k];
        for (h = AOP_CIRCUIT_CLOSED; h <= AOP_CIRCUIT_HALF_OPEN; h++) {
            ap_rprintf(r, "aoproxy_instance_circuit_state{aoproxy_instance=\"%s\",state=\"%s\"} "
                       "%d\n", text->name[k], aop_circuit_state_name((aop_circuit_state_e)h),
                       snap->circuit[i] == h);
        }
    }
}

static void overall_counters(request_rec *r, const aop_snapshot_t *snap)
{
    const aop_tally_t *c = &snap->overall_life.n;
    int k;

    header(r, "aoproxy_client_requests_total", "counter", "Client requests, whether or not an "
           "instance served them, by outcome.");
    ap_rprintf(r, "aoproxy_client_requests_total{outcome=\"success\"} %" APR_UINT64_T_FMT "\n",
               c->successes);
    for (k = 1; k < AOP_KIND_COUNT; k++) {
        ap_rprintf(r, "aoproxy_client_requests_total{outcome=\"%s\"} %" APR_UINT64_T_FMT "\n",
                   kind_names[k], c->by_kind[k]);
    }
}

/* A page that is not the last says where the next begins: a Link header (set
 * before the body), and a comment at the end, which Prometheus' parser skips. */
static const char *next_page(request_rec *r, const aop_page_t *page)
{
    const char *next;

    if (!page->next) {
        return NULL;
    }
    next = apr_psprintf(r->pool, "after=%s&limit=%d", ap_escape_urlencoded(r->pool, page->next),
                        page->count);
    apr_table_setn(r->headers_out, "Link", apr_psprintf(r->pool, "<%s?%s>; rel=\"next\"",
                                                       r->uri, next));
    return next;
}

void aop_api_get_metrics(aop_api_t *q)
{
    request_rec *r = q->r;
    aop_page_t *page = aop_api_page(q, AOP_METRICS_PAGE);
    aop_snapshot_t *snap;
    const page_text_t *text;
    const char *next;

    if (!page) {
        return;
    }
    snap = aop_snapshot_take_page(r->pool, q->view, AOP_SNAP_PAIRS | AOP_SNAP_WINDOW_TALLY,
                                  page->idx, page->count);
    text = page_text(r, snap, page);
    next = next_page(r, page);
    ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");
    header(r, "aoproxy_requests_total", "counter", "Attempts at an instance for a model, by "
           "outcome.");
    each_pair(r, snap, page, text, requests_series);
    header(r, "aoproxy_tokens_total", "counter", "Tokens used, by type (Azure's usage, else "
           "an estimate).");
    each_pair(r, snap, page, text, tokens_series);
    header(r, "aoproxy_estimated_tokens_total", "counter", "The part of the tokens that was "
           "estimated because the answer had no usage.");
    each_pair(r, snap, page, text, estimated_series);
    header(r, "aoproxy_failovers_total", "counter", "Attempts that moved on to another "
           "instance.");
    each_pair(r, snap, page, text, failover_series);
    header(r, "aoproxy_cooldowns_total", "counter", "Cooldowns started by a 429 or 5xx.");
    each_pair(r, snap, page, text, cooldown_series);
    header(r, "aoproxy_content_filtered_answers_total", "counter", "Answers Azure's content "
           "filter cut short (finish_reason content_filter); refused prompts are "
           "aoproxy_requests_total{outcome=\"content_filter\"}.");
    each_pair(r, snap, page, text, filtered_series);
    header(r, "aoproxy_circuit_state", "gauge", "1 for the present state of a deployment's "
           "circuit: closed, open (resting) or half_open (one probe at a time).");
    each_pair(r, snap, page, text, circuit_series);
    header(r, "aoproxy_request_duration_seconds", "histogram", "Duration of attempts.");
    each_pair(r, snap, page, text, latency_series);
    header(r, "aoproxy_time_to_first_byte_seconds", "histogram", "Time to the first byte of "
           "streamed answers.");
    each_pair(r, snap, page, text, ttfb_series);
    instance_gauges(r, snap, page, text);
    overall_counters(r, snap);
    if (next) {
        ap_rprintf(r, "# aoproxy_next_page %s\n", next);
    }
}
