/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <apr_atomic.h>
#include <apr_strings.h>

#include <mod_proxy.h>

#include "aop_doc.h"
#include "aop_json.h"
#include "aop_layers.h"
#include "mod_aoproxy_private.h"
#include "mod_aoproxy_balancer.h"
#include "mod_aoproxy_view.h"
#include "mod_aoproxy_shm.h"

/* ------------------------------------------------------------------ batches */

/* Instances decoded together, in a pool of their own that lives as long as a view
 * holds one of them. */
typedef struct aop_view_batch_t {
    apr_pool_t *pool;
    volatile apr_uint32_t refs;
} aop_view_batch_t;

/* More batches than this in one view (a long run of single changes): the next view
 * decodes everything anew, into one. */
#define MAX_BATCHES 32

/* The instances the configuration was loaded with (in pconf, as long as the
 * configuration's generation): the first view's, never freed by a view. */
static aop_view_batch_t boot_batch;

static void batch_unref(aop_view_batch_t *b)
{
    if (b != &boot_batch && apr_atomic_dec32(&b->refs) == 0) {
        apr_pool_destroy(b->pool);
    }
}

static aop_view_batch_t *batch_make(void)
{
    apr_pool_t *pool;
    aop_view_batch_t *b;

    if (apr_pool_create_unmanaged_ex(&pool, NULL, NULL) != APR_SUCCESS) {
        return NULL;
    }
    b = apr_pcalloc(pool, sizeof(*b));
    b->pool = pool;
    b->refs = 0;
    return b;
}

/* ------------------------------------------------------------------ views */

static apr_status_t free_view(aop_view_t *view)
{
    int i;

    for (i = 0; view->batches && i < view->batches->nelts; i++) {
        batch_unref(APR_ARRAY_IDX(view->batches, i, aop_view_batch_t *));
    }
    apr_pool_destroy(view->pool);
    return APR_SUCCESS;
}

static void unref(aop_view_t *view)
{
    if (view && apr_atomic_dec32(&view->refs) == 0) {
        free_view(view);
    }
}

static apr_status_t unref_cleanup(void *data)
{
    unref(data);
    return APR_SUCCESS;
}

/* The settings a document may change (a reload re-reads them), and the YAML files
 * they came from; the rest stays as loaded at start-up. */
static void apply_settings(aop_config_t *cfg, json_object *settings)
{
    json_object *v, *arr;
    size_t i;

    if (json_object_object_get_ex(settings, "strategy", &v)) {
        aop_strategy_e st;

        if (aop_strategy_parse(json_object_get_string(v), &st)) {
            cfg->strategy = st;
        }
    }
    if (json_object_object_get_ex(settings, "retries", &v)) {
        cfg->retries = json_object_get_int(v);
    }
    if (json_object_object_get_ex(settings, "stats_window_minutes", &v)) {
        cfg->stats_window_minutes = json_object_get_int(v);
    }
    if (json_object_object_get_ex(settings, "files", &arr)) {
        cfg->files = apr_array_make(cfg->instances->pool, 2, sizeof(const char *));
        for (i = 0; i < json_object_array_length(arr); i++) {
            APR_ARRAY_PUSH(cfg->files, const char *) = apr_pstrdup(
                cfg->instances->pool, json_object_get_string(json_object_array_get_idx(arr, i)));
        }
    }
    if (json_object_object_get_ex(settings, "additional_windows", &arr)) {
        cfg->additional_windows = apr_array_make(cfg->instances->pool, 4, sizeof(int));
        for (i = 0; i < json_object_array_length(arr); i++) {
            APR_ARRAY_PUSH(cfg->additional_windows, int) =
                json_object_get_int(json_object_array_get_idx(arr, i));
        }
    }
}

/* prev's instance with this record, or -1. */
static int reusable(const aop_view_t *prev, const aop_doc_line_t *line)
{
    apr_uintptr_t at;

    if (!prev || !prev->by_rev) {
        return -1;
    }
    at = (apr_uintptr_t)apr_hash_get(prev->by_rev, &line->rev, sizeof(line->rev));
    if (!at || strcmp(APR_ARRAY_IDX(prev->cfg->instances, at - 1, aop_instance_t *)->name,
                      line->name) != 0) {
        return -1;
    }
    return (int)(at - 1);
}

/* Instance i from its line: prev's decoding when the record is the same, else
 * decoded into the batch made for this view (*fresh). */
static apr_status_t take_instance(aop_view_t *view, const aop_view_t *prev, int i,
                                  aop_doc_line_t *line, aop_view_batch_t **fresh,
                                  apr_pool_t *scratch, const char **perr)
{
    int at = reusable(prev, line);
    aop_effective_t *e;
    json_object *o;

    if (at >= 0) {
        e = APR_ARRAY_IDX(prev->effective, at, aop_effective_t *);
        view->batch_of[i] = prev->batch_of[at];
        if (prev->worker_names && prev->worker_names[at]
            && strcmp(prev->worker_names[at], line->worker) == 0) {
            /* The same member: its worker as prev found it (the balancer's, living as
             * long; a search of the balancer by name at the first request each
             * instance gets in the new view is what this saves). */
            view->workers[i] = prev->workers ? prev->workers[at] : NULL;
        }
    }
    else {
        if (!*fresh && !(*fresh = batch_make())) {
            *perr = "out of memory";
            return APR_ENOMEM;
        }
        o = aop_json_parse(scratch, line->json, line->json_len, perr);
        if (!o || aop_effective_from_json((*fresh)->pool, o, &e, perr) != APR_SUCCESS) {
            *perr = *perr ? *perr : "an instance's record cannot be read";
            return APR_EINVAL;
        }
        view->batch_of[i] = *fresh;
    }
    APR_ARRAY_PUSH(view->effective, aop_effective_t *) = e;
    APR_ARRAY_PUSH(view->cfg->instances, aop_instance_t *) = e->inst;
    view->worker_names[i] = strcmp(line->worker, "-") ? apr_pstrdup(view->pool, line->worker)
                                                      : NULL;
    view->rev[i] = line->rev;
    apr_hash_set(view->by_rev, &view->rev[i], sizeof(view->rev[i]),
                 (void *)(apr_uintptr_t)(i + 1));
    return APR_SUCCESS;
}

/* The batches the view's instances are in, each held once. */
static void hold_batches(aop_view_t *view, int n)
{
    apr_hash_t *seen = apr_hash_make(view->pool);
    int i;

    view->batches = apr_array_make(view->pool, 4, sizeof(aop_view_batch_t *));
    for (i = 0; i < n; i++) {
        aop_view_batch_t *b = view->batch_of[i];

        if (b != &boot_batch && !apr_hash_get(seen, &b, sizeof(b))) {
            aop_view_batch_t **key = apr_pmemdup(view->pool, &b, sizeof(b));

            apr_hash_set(seen, key, sizeof(b), b);
            apr_atomic_inc32(&b->refs);
            APR_ARRAY_PUSH(view->batches, aop_view_batch_t *) = b;
        }
    }
}

static apr_status_t build_instances(aop_view_t *view, const aop_view_t *prev, aop_doc_t *doc,
                                    apr_pool_t *scratch, const char **perr)
{
    aop_view_batch_t *fresh = NULL;
    int i, n = doc->n;
    apr_status_t rv = APR_SUCCESS;

    if (prev && prev->batches && prev->batches->nelts >= MAX_BATCHES) {
        prev = NULL;                 /* decode everything anew, into one batch */
    }
    view->effective = apr_array_make(view->pool, n + 1, sizeof(aop_effective_t *));
    view->cfg->instances = apr_array_make(view->pool, n + 1, sizeof(aop_instance_t *));
    view->worker_names = apr_pcalloc(view->pool, sizeof(char *) * (n + 1));
    view->workers = apr_pcalloc(view->pool, sizeof(proxy_worker *) * (n + 1));
    view->batch_of = apr_pcalloc(view->pool, sizeof(aop_view_batch_t *) * (n + 1));
    view->rev = apr_pcalloc(view->pool, sizeof(apr_uint64_t) * (n + 1));
    view->by_rev = apr_hash_make(view->pool);
    for (i = 0; i < n && rv == APR_SUCCESS; i++) {
        rv = take_instance(view, prev, i, &doc->inst[i], &fresh, scratch, perr);
    }
    if (rv == APR_SUCCESS) {
        hold_batches(view, n);
    }
    else {
        view->batches = NULL;
    }
    if (fresh && fresh->refs == 0) {
        apr_pool_destroy(fresh->pool);   /* failed before any instance was kept */
    }
    return rv;
}

/* The shared-memory slots the document names (no lock, no search), when they lie
 * in the segment; else the view maps itself under the shm lock. */
static struct aop_shm_map_t *map_view(aop_view_t *view, const aop_doc_t *doc)
{
    struct aop_shm_map_t *map = aop_shm_map_make(view->pool, doc->n);
    json_object *models;
    int i;

    for (i = 0; i < doc->n; i++) {
        map->inst_slot[i] = doc->inst[i].slot;
        map->pair_slot[i] = apr_pmemdup(view->pool, doc->inst[i].pairs,
                                        sizeof(int) * (apr_size_t)(doc->inst[i].npairs + 1));
        if (doc->inst[i].npairs
            != APR_ARRAY_IDX(view->cfg->instances, i, aop_instance_t *)->supported_models->nelts) {
            map = NULL;
            break;
        }
    }
    if (map && json_object_object_get_ex(doc->header, "_models", &models)
        && json_object_is_type(models, json_type_object)) {
        json_object_object_foreach(models, model, slot) {
            int *v = apr_palloc(view->pool, sizeof(int));

            *v = json_object_get_int(slot);
            apr_hash_set(map->model_slot, apr_pstrdup(view->pool, model), APR_HASH_KEY_STRING,
                         v);
        }
        aop_shm_map_routes(view->pool, map, view->cfg, view->routes);
        if (aop_shm_map_valid(map, view->cfg)) {
            return map;
        }
    }
    aop_shm_lock();
    map = aop_shm_map_locked(view->pool, view->cfg, view->routes, NULL, NULL);
    aop_shm_unlock();
    return map;
}

static aop_view_t *view_make(aop_fleet_t *fleet, apr_uint64_t generation)
{
    apr_pool_t *pool;
    aop_view_t *view;

    /* Unmanaged: a view outlives no parent and dies with its last holder, whatever
     * thread that is. */
    if (apr_pool_create_unmanaged_ex(&pool, NULL, NULL) != APR_SUCCESS) {
        return NULL;
    }
    view = apr_pcalloc(pool, sizeof(*view));
    view->pool = pool;
    view->fleet = fleet;
    view->generation = generation;
    view->refs = 1;
    view->cfg = apr_pmemdup(pool, fleet->boot_cfg, sizeof(*view->cfg));
    view->cfg->instances = apr_array_make(pool, 1, sizeof(aop_instance_t *));
    return view;
}

aop_view_t *aop_view_seed(apr_pool_t *p, aop_fleet_t *fleet,
                          const apr_array_header_t *eff, const char *const *text)
{
    aop_view_t *seed = apr_pcalloc(p, sizeof(*seed));
    int i, n = eff->nelts;

    seed->fleet = fleet;
    seed->pool = p;
    seed->cfg = apr_pmemdup(p, fleet->boot_cfg, sizeof(*seed->cfg));
    seed->cfg->instances = apr_array_make(p, n + 1, sizeof(aop_instance_t *));
    seed->effective = (apr_array_header_t *)eff;
    seed->batch_of = apr_palloc(p, sizeof(aop_view_batch_t *) * (apr_size_t)(n + 1));
    seed->rev = apr_palloc(p, sizeof(apr_uint64_t) * (apr_size_t)(n + 1));
    seed->by_rev = apr_hash_make(p);
    for (i = 0; i < n; i++) {
        APR_ARRAY_PUSH(seed->cfg->instances, aop_instance_t *) =
            APR_ARRAY_IDX(eff, i, aop_effective_t *)->inst;
        seed->batch_of[i] = &boot_batch;
        seed->rev[i] = aop_doc_rev(text[i], strlen(text[i]));
        apr_hash_set(seed->by_rev, &seed->rev[i], sizeof(seed->rev[i]),
                     (void *)(apr_uintptr_t)(i + 1));
    }
    return seed;
}

/* The view of doc, a private copy it cuts up. */
static aop_view_t *build_from(aop_fleet_t *fleet, char *text, apr_uint64_t generation,
                              const aop_view_t *prev, const char **perr)
{
    apr_pool_t *scratch;
    aop_view_t *view = view_make(fleet, generation);
    json_object *settings;
    aop_doc_t doc;

    if (!view) {
        *perr = "out of memory";
        return NULL;
    }
    /* The document's JSON only while the view is built: the view keeps what it
     * decoded, not the text (megabytes with thousands of instances). */
    apr_pool_create(&scratch, view->pool);
    if (aop_doc_read_instances(scratch, text, &doc, perr) != APR_SUCCESS
        || build_instances(view, prev, &doc, scratch, perr) != APR_SUCCESS) {
        free_view(view);
        return NULL;
    }
    if (json_object_object_get_ex(doc.header, "settings", &settings)) {
        apply_settings(view->cfg, settings);
    }
    view->routes = aop_route_table_build(view->pool, view->cfg);
    view->shm_map = map_view(view, &doc);
    apr_pool_destroy(scratch);
    if (!view->shm_map) {
        *perr = "shared memory has no room for the instances";
        free_view(view);
        return NULL;
    }
    return view;
}

aop_view_t *aop_view_build(aop_fleet_t *fleet, const char *text, apr_uint64_t generation,
                           const aop_view_t *prev, const char **perr)
{
    apr_pool_t *tmp;
    aop_view_t *view;

    if (apr_pool_create_unmanaged_ex(&tmp, NULL, NULL) != APR_SUCCESS) {
        *perr = "out of memory";
        return NULL;
    }
    view = build_from(fleet, apr_pstrdup(tmp, text), generation, prev, perr);
    apr_pool_destroy(tmp);
    return view;
}

/* This process's view of the fleet's current document, or NULL (logged). */
static aop_view_t *build_current(aop_fleet_t *fleet, server_rec *s, apr_uint64_t serving)
{
    apr_pool_t *tmp;
    apr_uint64_t gen = 0;
    const char *err = NULL;
    char *doc;
    aop_view_t *view;
    apr_time_t t0 = apr_time_now(), t1;

    apr_pool_create_unmanaged_ex(&tmp, NULL, NULL);
    doc = aop_shm_read_doc(tmp, fleet->id, &gen, aop_doc_view_len);
    t1 = apr_time_now();
    view = doc ? build_from(fleet, doc, gen, fleet->current, &err) : NULL;
    apr_pool_destroy(tmp);

    if (!view) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, AOPLOGNO(00080)
                     "cannot build the instances of generation %" APR_UINT64_T_FMT
                     ": %s; serving generation %" APR_UINT64_T_FMT " still", gen,
                     err ? err : "no document", serving);
        return NULL;
    }
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, AOPLOGNO(00081)
                 "instances of generation %" APR_UINT64_T_FMT ": %d, view built in %"
                 APR_TIME_T_FMT " us (the document's copy %" APR_TIME_T_FMT " us)", gen,
                 view->cfg->instances->nelts, apr_time_now() - t0, t1 - t0);
    return view;
}

aop_view_t *aop_view_hold(apr_pool_t *p, server_rec *s, aop_fleet_t *fleet)
{
    aop_view_t *view, *next;
    apr_uint64_t gen;

    if (!fleet) {
        return NULL;
    }
    gen = aop_shm_generation(fleet->id);
#if APR_HAS_THREADS
    apr_thread_mutex_lock(fleet->mutex);
#endif
    /* A change is seen by the next request in every process (the API promises it):
     * the process's threads wait for the one that builds the next view.  Building
     * takes neither the shared-state lock nor a search (the document names the
     * slots), so the wait is the parse of the document alone. */
    if (!fleet->current || fleet->current->generation != gen) {
        if ((next = build_current(fleet, s,
                                  fleet->current ? fleet->current->generation : 0))) {
            unref(fleet->current);
            fleet->current = next;
        }
    }
    if ((view = fleet->current)) {
        apr_atomic_inc32(&view->refs);
    }
#if APR_HAS_THREADS
    apr_thread_mutex_unlock(fleet->mutex);
#endif
    if (view) {
        apr_pool_cleanup_register(p, view, unref_cleanup, apr_pool_cleanup_null);
    }
    return view;
}

aop_view_t *aop_view_acquire(request_rec *r, aop_fleet_t *fleet)
{
    return aop_view_hold(r->pool, r->server, fleet);
}

struct proxy_worker *aop_view_worker(aop_view_t *view, struct proxy_balancer *balancer,
                                     int idx)
{
    proxy_balancer *b = balancer ? balancer : view->fleet->balancer;
    int cache = b == view->fleet->balancer;
    proxy_worker *w = cache ? view->workers[idx] : NULL;

    if (w || !b || !view->worker_names[idx]) {
        return w;
    }
    w = aop_balancer_worker_named(b, view->worker_names[idx]);
    if (w && cache) {
        view->workers[idx] = w;      /* racing threads store the same pointer */
    }
    return w;
}

int aop_view_find(const aop_view_t *view, const char *name)
{
    int i;

    for (i = 0; i < view->cfg->instances->nelts; i++) {
        if (strcmp(APR_ARRAY_IDX(view->cfg->instances, i, aop_instance_t *)->name, name) == 0) {
            return i;
        }
    }
    return -1;
}
