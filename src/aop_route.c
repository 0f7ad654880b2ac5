/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>

#include "aop_route.h"
#include "aop_select.h"
#include "aop_url.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static aop_route_t *route_of(apr_pool_t *p, aop_route_table_t *t, const char *model,
                             int room)
{
    aop_route_t *rt = apr_hash_get(t->by_model, model, APR_HASH_KEY_STRING);

    if (!rt) {
        rt = apr_pcalloc(p, sizeof(*rt));
        rt->candidates = apr_array_make(p, room, sizeof(int));
        rt->kept_head = rt->kept_tail = -1;
        apr_hash_set(t->by_model, model, APR_HASH_KEY_STRING, rt);
        APR_ARRAY_PUSH(t->models, const char *) = model;
    }
    return rt;
}

static void add_candidate(apr_pool_t *p, aop_route_table_t *t, const char *model, int idx)
{
    APR_ARRAY_PUSH(route_of(p, t, model, 4)->candidates, int) = idx;
}

/* The strategy's order over the route's candidates while all are eligible (their
 * weights read from cfg unless rt->cand has them). */
static void add_schedule(apr_pool_t *p, const aop_config_t *cfg, aop_route_t *rt)
{
    int i, n = rt->candidates->nelts;
    aop_cand_t *c = rt->cand;

    if (!c) {
        c = apr_palloc(p, sizeof(*c) * (apr_size_t)(n > 0 ? n : 1));
        for (i = 0; i < n; i++) {
            const aop_instance_t *inst = APR_ARRAY_IDX(cfg->instances,
                                                       APR_ARRAY_IDX(rt->candidates, i, int),
                                                       aop_instance_t *);

            c[i].priority = inst->priority;
            c[i].weight = inst->weight;
            c[i].eligible = 1;
        }
        rt->cand = c;
    }
    rt->schedule = aop_select_schedule(p, cfg->strategy, c, n, &rt->schedule_len);
}

/* The table's models in order, each route with its strategy's schedule: the last
 * step of a build and of a patch. */
/* Whether a stream of model cut on one candidate may resume on another: known per
 * route, so that a request asks once, not each candidate. */
static void note_resumes(const aop_config_t *cfg, const char *model, aop_route_t *rt)
{
    int k;

    rt->resumes = 0;
    for (k = 0; k < rt->candidates->nelts && !rt->resumes; k++) {
        rt->resumes = aop_instance_resumes(APR_ARRAY_IDX(cfg->instances,
                                                         APR_ARRAY_IDX(rt->candidates, k, int),
                                                         aop_instance_t *), model);
    }
}

static aop_route_table_t *with_schedules(apr_pool_t *p, const aop_config_t *cfg,
                                         aop_route_table_t *t)
{
    int i;

    qsort(t->models->elts, t->models->nelts, sizeof(const char *), cmp_str);
    for (i = 0; i < t->models->nelts; i++) {
        const char *model = APR_ARRAY_IDX(t->models, i, const char *);
        aop_route_t *rt = apr_hash_get(t->by_model, model, APR_HASH_KEY_STRING);

        add_schedule(p, cfg, rt);
        note_resumes(cfg, model, rt);
    }
    return t;
}

aop_route_table_t *aop_route_table_build(apr_pool_t *p, const aop_config_t *cfg)
{
    aop_route_table_t *t = apr_pcalloc(p, sizeof(*t));
    int i, j;

    t->cfg = cfg;
    t->by_model = apr_hash_make(p);
    t->models = apr_array_make(p, 16, sizeof(const char *));
    for (i = 0; i < cfg->instances->nelts; i++) {
        const aop_instance_t *inst = APR_ARRAY_IDX(cfg->instances, i, aop_instance_t *);

        if (!inst->enabled) {
            continue;
        }
        for (j = 0; j < inst->supported_models->nelts; j++) {
            add_candidate(p, t, APR_ARRAY_IDX(inst->supported_models, j, const char *), i);
        }
    }
    return with_schedules(p, cfg, t);
}

/* The first of the n sorted candidates c that is at least idx. */
static int first_at_least(const int *c, int n, int idx)
{
    int lo = 0, hi = n;

    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;

        if (c[mid] < idx) {
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    return lo;
}

/* The instances between head and n - tail that serve each model (a change's few). */
static apr_hash_t *middle_candidates(apr_pool_t *p, const aop_config_t *cfg, int head,
                                     int tail)
{
    apr_hash_t *mid = apr_hash_make(p);
    int i, j, n = cfg->instances->nelts;

    for (i = head; i < n - tail; i++) {
        const aop_instance_t *inst = APR_ARRAY_IDX(cfg->instances, i, aop_instance_t *);

        for (j = 0; inst->enabled && j < inst->supported_models->nelts; j++) {
            const char *model = APR_ARRAY_IDX(inst->supported_models, j, const char *);
            apr_array_header_t *a = apr_hash_get(mid, model, APR_HASH_KEY_STRING);

            if (!a) {
                a = apr_array_make(p, 2, sizeof(int));
                apr_hash_set(mid, model, APR_HASH_KEY_STRING, a);
            }
            APR_ARRAY_PUSH(a, int) = i;
        }
    }
    return mid;
}

/* Model's route in t: prev's (pr, may be NULL) kept candidates, shifted by shift,
 * around the instances between (mc, may be NULL). */
static void patch_route(apr_pool_t *p, aop_route_table_t *t, const aop_config_t *cfg,
                        const char *model, const aop_route_t *pr,
                        const apr_array_header_t *mc, int head, int cut, int shift)
{
    int np = pr ? pr->candidates->nelts : 0, nm = mc ? mc->nelts : 0, lo = 0, hi = np, i;
    const int *pc = pr ? (const int *)pr->candidates->elts : NULL;
    aop_route_t *rt;
    int *c;

    if (pr) {
        lo = first_at_least(pc, np, head);
        hi = first_at_least(pc, np, cut);
    }
    if (lo + nm + (np - hi) == 0) {
        return;                      /* no instance serves the model any more */
    }
    rt = route_of(p, t, apr_pstrdup(p, model), lo + nm + (np - hi) + 1);
    rt->candidates->nelts = lo + nm + (np - hi);
    c = (int *)rt->candidates->elts;
    rt->cand = apr_palloc(p, sizeof(aop_cand_t) * (apr_size_t)(rt->candidates->nelts + 1));
    if (lo) {
        memcpy(c, pc, sizeof(int) * (apr_size_t)lo);
        memcpy(rt->cand, pr->cand, sizeof(aop_cand_t) * (apr_size_t)lo);
    }
    for (i = 0; i < nm; i++) {
        const aop_instance_t *inst = APR_ARRAY_IDX(cfg->instances, APR_ARRAY_IDX(mc, i, int),
                                                   aop_instance_t *);

        c[lo + i] = APR_ARRAY_IDX(mc, i, int);
        rt->cand[lo + i].priority = inst->priority;
        rt->cand[lo + i].weight = inst->weight;
        rt->cand[lo + i].eligible = 1;
    }
    for (i = hi; i < np; i++) {
        c[lo + nm + i - hi] = pc[i] + shift;
    }
    if (np > hi) {
        memcpy(rt->cand + lo + nm, pr->cand + hi, sizeof(aop_cand_t) * (apr_size_t)(np - hi));
    }
    rt->kept_head = lo;
    rt->kept_tail = np - hi;
}

aop_route_table_t *aop_route_table_patch(apr_pool_t *p, const aop_config_t *cfg,
                                         const aop_route_table_t *prev, int head, int tail,
                                         int prev_n)
{
    aop_route_table_t *t = apr_pcalloc(p, sizeof(*t));
    apr_hash_t *mid = middle_candidates(p, cfg, head, tail);
    apr_hash_index_t *hi;
    int i, shift = cfg->instances->nelts - prev_n;

    t->cfg = cfg;
    t->by_model = apr_hash_make(p);
    t->models = apr_array_make(p, prev->models->nelts + 4, sizeof(const char *));
    for (i = 0; i < prev->models->nelts; i++) {
        const char *model = APR_ARRAY_IDX(prev->models, i, const char *);

        patch_route(p, t, cfg, model, aop_route_find(prev, model),
                    apr_hash_get(mid, model, APR_HASH_KEY_STRING), head, prev_n - tail, shift);
    }
    for (hi = apr_hash_first(p, mid); hi; hi = apr_hash_next(hi)) {
        if (!aop_route_find(prev, apr_hash_this_key(hi))) {
            patch_route(p, t, cfg, apr_hash_this_key(hi), NULL, apr_hash_this_val(hi), head,
                        prev_n - tail, shift);
        }
    }
    return with_schedules(p, cfg, t);
}

const aop_route_t *aop_route_find(const aop_route_table_t *t, const char *model)
{
    if (!t || !model) {
        return NULL;
    }
    return apr_hash_get(t->by_model, model, APR_HASH_KEY_STRING);
}

const apr_array_header_t *aop_route_candidates(const aop_route_table_t *t, const char *model)
{
    const aop_route_t *rt = aop_route_find(t, model);

    return rt ? rt->candidates : NULL;
}

int aop_route_is_v1(const aop_instance_t *inst)
{
    return inst->api_version && strcmp(inst->api_version, AOP_API_VERSION_V1) == 0;
}

int aop_route_model_in_body(const aop_instance_t *inst, aop_op_e op)
{
    return op == AOP_OP_RESPONSES || aop_route_is_v1(inst);
}

/* query without its api-version parameters ("" when nothing is left). */
static const char *client_query(apr_pool_t *p, const char *query)
{
    char *out, *o;
    const char *q = query;

    if (!query || !*query) {
        return "";
    }
    out = o = apr_palloc(p, strlen(query) + 1);
    while (*q) {
        const char *amp = strchr(q, '&');
        apr_size_t n = amp ? (apr_size_t)(amp - q) : strlen(q);

        if (n && !(n >= 11 && strncmp(q, "api-version", 11) == 0
                   && (n == 11 || q[11] == '='))) {
            if (o != out) {
                *o++ = '&';
            }
            memcpy(o, q, n);
            o += n;
        }
        q += n + (amp ? 1 : 0);
    }
    *o = '\0';
    return out;
}

/* "/responses", "/responses/ID", "/responses/ID/cancel"... */
static const char *responses_path(apr_pool_t *p, aop_op_e op, const char *id)
{
    if (!aop_path_op_by_id(op) || !id) {
        return "/responses";
    }
    return apr_pstrcat(p, "/responses/", aop_url_escape(p, id),
                       op == AOP_OP_RESPONSE_CANCEL ? "/cancel"
                       : op == AOP_OP_RESPONSE_ITEMS ? "/input_items" : "", NULL);
}

/* A string and its length: the pieces of a backend URL. */
typedef struct {
    const char *s;
    apr_size_t n;
} piece_t;

static piece_t piece(const char *s)
{
    piece_t pc = { s, strlen(s) };

    return pc;
}

/* The pieces joined in one allocation.  A chat's URL has eight; apr_pstrcat walked
 * its arguments twice and the two nested calls copied the path twice, some 850
 * instructions a request (callgrind) against about 250 so. */
static char *join(apr_pool_t *p, const piece_t *pc, int n)
{
    apr_size_t len = 0;
    char *out, *o;
    int i;

    for (i = 0; i < n; i++) {
        len += pc[i].n;
    }
    o = out = apr_palloc(p, len + 1);
    for (i = 0; i < n; i++) {
        memcpy(o, pc[i].s, pc[i].n);
        o += pc[i].n;
    }
    *o = '\0';
    return out;
}

/* before + (with_origin: the instance's origin) + the backend path. */
static char *backend_url(apr_pool_t *p, const char *before, int with_origin,
                         const aop_instance_t *inst, const char *deployment,
                         aop_op_e op, const char *response_id, const char *query)
{
    const char *base = inst->base_path ? inst->base_path : "";
    const char *origin = with_origin && inst->origin ? inst->origin : "";
    int by_id = aop_path_op_by_id(op), responses = op == AOP_OP_RESPONSES || by_id;
    int v1 = aop_route_is_v1(inst);
    const char *q;

    if (!v1 && !responses) {
        /* The path of nearly every request: BASE/openai/deployments/D/OP?api-version=V */
        const char *suffix = aop_path_op_suffix(op);
        piece_t pc[9];

        pc[0] = piece(before);
        pc[1] = piece(origin);
        pc[2] = piece(base);
        pc[3] = piece("/openai/deployments/");
        pc[4] = piece(aop_url_escape(p, deployment));
        pc[5] = piece("/");
        if (!suffix) {
            return join(p, pc, 6);      /* no call has this path (as apr_pstrcat ended) */
        }
        pc[6] = piece(suffix);
        pc[7] = piece("?api-version=");
        pc[8] = piece(aop_url_escape(p, inst->api_version));
        return join(p, pc, 9);
    }
    q = by_id ? client_query(p, query) : "";
    if (v1) {
        return apr_pstrcat(p, before, origin, base, "/openai/v1",
                           responses ? responses_path(p, op, response_id)
                                     : apr_pstrcat(p, "/", aop_path_op_suffix(op), NULL),
                           *q ? "?" : "", q, NULL);
    }
    return apr_pstrcat(p, before, origin, base, "/openai", responses_path(p, op, response_id),
                       "?api-version=", aop_url_escape(p, inst->responses_api_version
                                                         ? inst->responses_api_version
                                                         : AOP_RESPONSES_API_VERSION),
                       *q ? "&" : "", q, NULL);
}

const char *aop_route_backend_path(apr_pool_t *p, const aop_instance_t *inst,
                                   const char *deployment, aop_op_e op,
                                   const char *response_id, const char *query)
{
    return backend_url(p, "", 0, inst, deployment, op, response_id, query);
}

char *aop_route_backend_url(apr_pool_t *p, const char *before,
                            const aop_instance_t *inst, const char *deployment,
                            aop_op_e op, const char *response_id, const char *query)
{
    return backend_url(p, before, 1, inst, deployment, op, response_id, query);
}
