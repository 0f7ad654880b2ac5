/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <apr_atomic.h>
#include <apr_strings.h>

#include <mod_proxy.h>

#include "aop_json.h"
#include "aop_layers.h"
#include "mod_aoproxy_private.h"
#include "mod_aoproxy_balancer.h"
#include "mod_aoproxy_view.h"
#include "mod_aoproxy_shm.h"

/* ------------------------------------------------------------------ views */

static apr_status_t free_view(aop_view_t *view)
{
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

/* The slots the publisher mapped for instance i (mod_aoproxy_publish.c), taken out
 * of o; 0 when o has none (a document of an older module: the view maps itself). */
static int read_slots(aop_view_t *view, struct aop_shm_map_t *map, int i, json_object *o)
{
    json_object *slot, *pairs;
    size_t j, n;

    if (!map || !json_object_object_get_ex(o, "_slot", &slot)
        || !json_object_object_get_ex(o, "_pairs", &pairs)
        || !json_object_is_type(pairs, json_type_array)) {
        return 0;
    }
    n = json_object_array_length(pairs);
    map->inst_slot[i] = json_object_get_int(slot);
    map->pair_slot[i] = apr_palloc(view->pool, sizeof(int) * (n + 1));
    for (j = 0; j < n; j++) {
        map->pair_slot[i][j] = json_object_get_int(json_object_array_get_idx(pairs, j));
    }
    map->pair_slot[i][n] = -1;
    json_object_object_del(o, "_slot");
    json_object_object_del(o, "_pairs");
    return 1;
}

static apr_status_t build_instances(aop_view_t *view, json_object *list,
                                    struct aop_shm_map_t **pmap, const char **perr)
{
    size_t i, n = json_object_array_length(list);

    view->effective = apr_array_make(view->pool, (int)n + 1, sizeof(aop_effective_t *));
    view->cfg->instances = apr_array_make(view->pool, (int)n + 1, sizeof(aop_instance_t *));
    view->worker_names = apr_pcalloc(view->pool, sizeof(char *) * (n + 1));
    view->workers = apr_pcalloc(view->pool, sizeof(proxy_worker *) * (n + 1));
    *pmap = aop_shm_map_make(view->pool, (int)n);
    for (i = 0; i < n; i++) {
        json_object *o = json_object_array_get_idx(list, i), *w;
        aop_effective_t *e;

        if (json_object_object_get_ex(o, "_worker", &w)) {
            view->worker_names[i] = apr_pstrdup(view->pool, json_object_get_string(w));
            json_object_object_del(o, "_worker");
        }
        if (!read_slots(view, *pmap, (int)i, o)) {
            *pmap = NULL;
        }
        if (aop_effective_from_json(view->pool, o, &e, perr) != APR_SUCCESS) {
            return APR_EINVAL;
        }
        APR_ARRAY_PUSH(view->effective, aop_effective_t *) = e;
        APR_ARRAY_PUSH(view->cfg->instances, aop_instance_t *) = e->inst;
    }
    return APR_SUCCESS;
}

/* The models' slots of the document; NULL when it has none. */
static struct aop_shm_map_t *read_models(aop_view_t *view, struct aop_shm_map_t *map,
                                         json_object *root)
{
    json_object *models;

    if (!map || !json_object_object_get_ex(root, "_models", &models)
        || !json_object_is_type(models, json_type_object)) {
        return NULL;
    }
    json_object_object_foreach(models, model, slot) {
        int *v = apr_palloc(view->pool, sizeof(int));

        *v = json_object_get_int(slot);
        apr_hash_set(map->model_slot, apr_pstrdup(view->pool, model), APR_HASH_KEY_STRING, v);
    }
    return map;
}

/* The slots the document names (no lock, no search), when it names them all and
 * they lie in the segment; else the view maps itself under the shm lock. */
static struct aop_shm_map_t *map_view(aop_view_t *view, struct aop_shm_map_t *map)
{
    if (map) {
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

aop_view_t *aop_view_build(aop_fleet_t *fleet, const char *doc, apr_uint64_t generation,
                           const char **perr)
{
    apr_pool_t *pool, *scratch;
    aop_view_t *view;
    json_object *root, *list, *settings;
    struct aop_shm_map_t *map = NULL;

    /* Unmanaged: a view outlives no parent and dies with its last holder, whatever
     * thread that is. */
    if (apr_pool_create_unmanaged_ex(&pool, NULL, NULL) != APR_SUCCESS) {
        *perr = "out of memory";
        return NULL;
    }
    view = apr_pcalloc(pool, sizeof(*view));
    view->pool = pool;
    view->fleet = fleet;
    view->generation = generation;
    view->refs = 1;
    view->cfg = apr_pmemdup(pool, fleet->boot_cfg, sizeof(*view->cfg));
    view->cfg->instances = apr_array_make(pool, 1, sizeof(aop_instance_t *));
    /* The document's JSON only while the view is built: the view keeps what it
     * decoded, not the tree (hundreds of instances' worth in every process). */
    apr_pool_create(&scratch, pool);
    root = aop_json_parse(scratch, doc, strlen(doc), perr);
    if (!root || !json_object_object_get_ex(root, "instances", &list)
        || !json_object_is_type(list, json_type_array)) {
        *perr = *perr ? *perr : "no instances";
        apr_pool_destroy(pool);
        return NULL;
    }
    if (build_instances(view, list, &map, perr) != APR_SUCCESS) {
        apr_pool_destroy(pool);
        return NULL;
    }
    if (json_object_object_get_ex(root, "settings", &settings)) {
        apply_settings(view->cfg, settings);
    }
    map = read_models(view, map, root);
    apr_pool_destroy(scratch);
    view->routes = aop_route_table_build(pool, view->cfg);
    if (!(view->shm_map = map_view(view, map))) {
        *perr = "shared memory has no room for the instances";
        apr_pool_destroy(pool);
        return NULL;
    }
    return view;
}

/* This process's view of the fleet's current document, or NULL (logged). */
static aop_view_t *build_current(aop_fleet_t *fleet, server_rec *s, apr_uint64_t serving)
{
    apr_pool_t *tmp;
    apr_uint64_t gen = 0;
    const char *doc, *err = NULL;
    aop_view_t *view;

    apr_pool_create_unmanaged_ex(&tmp, NULL, NULL);
    doc = aop_shm_read_doc(tmp, fleet->id, &gen);
    view = doc ? aop_view_build(fleet, doc, gen, &err) : NULL;
    apr_pool_destroy(tmp);

    if (!view) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, AOPLOGNO(00080)
                     "cannot build the instances of generation %" APR_UINT64_T_FMT
                     ": %s; serving generation %" APR_UINT64_T_FMT " still", gen,
                     err ? err : "no document", serving);
        return NULL;
    }
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, AOPLOGNO(00081)
                 "instances of generation %" APR_UINT64_T_FMT ": %d", gen,
                 view->cfg->instances->nelts);
    return view;
}

aop_view_t *aop_view_acquire(request_rec *r, aop_fleet_t *fleet)
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
        if ((next = build_current(fleet, r->server,
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
        apr_pool_cleanup_register(r->pool, view, unref_cleanup, apr_pool_cleanup_null);
    }
    return view;
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
