/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <apr_atomic.h>
#include <apr_strings.h>
#include <stdlib.h>
#include <string.h>

#include <mod_proxy.h>

#include "aop_affinity.h"
#include "aop_doc.h"
#include "aop_idx_map.h"
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

/* Fleets whose last lines and worker names a process keeps (the others' views read
 * every line). */
#define LAST_DOCS 16

/* Each view built by this process (and its parent before the fork) has its own. */
static apr_uint64_t serials;

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

    aop_idx_map_free(view->by_name_hash);
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

/* prev's instances by record: its own index, or one made when a build reads many
 * lines (a scan of prev for each of a change's few). */
typedef struct {
    const aop_view_t *prev;
    apr_hash_t *by_rev;
} rev_index_t;

static void rev_index_init(rev_index_t *x, const aop_view_t *prev, int lines,
                           apr_pool_t *scratch)
{
    int i, n = prev ? prev->cfg->instances->nelts : 0;

    x->prev = prev;
    x->by_rev = prev ? prev->by_rev : NULL;
    if (prev && !x->by_rev && lines > 16) {
        x->by_rev = apr_hash_make(scratch);
        for (i = 0; i < n; i++) {
            apr_hash_set(x->by_rev, &prev->rev[i], sizeof(prev->rev[i]),
                         (void *)(apr_uintptr_t)(i + 1));
        }
    }
}

/* prev's instance with this record, or -1. */
static int reusable(const rev_index_t *x, const aop_doc_line_t *line)
{
    const aop_view_t *prev = x->prev;
    apr_uintptr_t at = 0;
    int i;

    if (!prev) {
        return -1;
    }
    if (x->by_rev) {
        at = (apr_uintptr_t)apr_hash_get(x->by_rev, &line->rev, sizeof(line->rev));
    }
    for (i = 0; !x->by_rev && !at && i < prev->cfg->instances->nelts; i++) {
        at = prev->rev[i] == line->rev ? (apr_uintptr_t)(i + 1) : 0;
    }
    if (!at || strcmp(APR_ARRAY_IDX(prev->cfg->instances, at - 1, aop_instance_t *)->name,
                      line->name) != 0) {
        return -1;
    }
    return (int)(at - 1);
}

/* A child's worker names, each once for its life (as many as its balancers have
 * members), so that a view shares them with the next instead of copying thousands;
 * used under the fleet's mutex. */
static struct {
    apr_pool_t *pool;
    apr_hash_t *names;
} interned[LAST_DOCS];

/* name as kept for fleet's views (intern 0: in the view's pool). */
static const char *worker_name(aop_view_t *view, int intern, const char *name)
{
    int id = view->fleet->id;
    const char *got;

    if (!intern) {
        return apr_pstrdup(view->pool, name);
    }
    if (!interned[id].names) {
        apr_pool_create_unmanaged_ex(&interned[id].pool, NULL, NULL);
        interned[id].names = apr_hash_make(interned[id].pool);
    }
    if (!(got = apr_hash_get(interned[id].names, name, APR_HASH_KEY_STRING))) {
        got = apr_pstrdup(interned[id].pool, name);
        apr_hash_set(interned[id].names, got, APR_HASH_KEY_STRING, got);
    }
    return got;
}

/* The shared-memory slots of instance i, from its line, at *at in pair_flat. */
static void slots_from_line(aop_view_t *view, int i, const aop_doc_line_t *line,
                            apr_size_t *at)
{
    view->shm_map->inst_slot[i] = line->slot;
    view->shm_map->pair_slot[i] = view->pair_flat + *at;
    memcpy(view->pair_flat + *at, line->pairs, sizeof(int) * (apr_size_t)(line->npairs + 1));
    *at += (apr_size_t)(line->npairs + 1);
}

/* Instance i from its line: prev's decoding when the record is the same, else
 * decoded into the batch made for this view (*fresh). */
static apr_status_t take_instance(aop_view_t *view, const rev_index_t *x, int i,
                                  aop_doc_line_t *line, aop_view_batch_t **fresh,
                                  apr_size_t *flat_at, apr_pool_t *scratch, const char **perr)
{
    const aop_view_t *prev = x->prev;
    int at = reusable(x, line);
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
        aop_instance_index_models((*fresh)->pool, e->inst);
        view->batch_of[i] = *fresh;
    }
    if (line->npairs != e->inst->supported_models->nelts) {
        view->doc_slots = 0;         /* the document's slots do not fit: map anew */
    }
    APR_ARRAY_IDX(view->effective, i, aop_effective_t *) = e;
    APR_ARRAY_IDX(view->cfg->instances, i, aop_instance_t *) = e->inst;
    view->worker_names[i] = strcmp(line->worker, "-")
                            ? worker_name(view, view->names_interned, line->worker) : NULL;
    view->rev[i] = line->rev;
    slots_from_line(view, i, line, flat_at);
    return APR_SUCCESS;
}

/* How many pair-slot ints prev's instances [j, j + k) have. */
static apr_size_t pairs_of(const aop_view_t *prev, int j, int k)
{
    const int *from;

    if (!k) {
        return 0;
    }
    from = prev->shm_map->pair_slot[j];
    return j + k < prev->cfg->instances->nelts
           ? (apr_size_t)(prev->shm_map->pair_slot[j + k] - from)
           : prev->pair_total - (apr_size_t)(from - prev->pair_flat);
}

/* Instances [i, i + k) as prev's [j, j + k), whose lines are the same (a splice's
 * head or tail): shared, not read again (their pair slots a block of pair_flat
 * from at on, as in prev's). */
static void copy_instances(aop_view_t *view, const aop_view_t *prev, int i, int j, int k,
                           apr_size_t at)
{
    const int *from = k ? prev->shm_map->pair_slot[j] : NULL;
    apr_size_t len = pairs_of(prev, j, k);
    int t;

    if (!k) {
        return;
    }
    memcpy(&APR_ARRAY_IDX(view->effective, i, aop_effective_t *),
           &APR_ARRAY_IDX(prev->effective, j, aop_effective_t *), sizeof(void *) * (apr_size_t)k);
    memcpy(&APR_ARRAY_IDX(view->cfg->instances, i, aop_instance_t *),
           &APR_ARRAY_IDX(prev->cfg->instances, j, aop_instance_t *),
           sizeof(void *) * (apr_size_t)k);
    memcpy(view->batch_of + i, prev->batch_of + j, sizeof(void *) * (apr_size_t)k);
    memcpy(view->workers + i, prev->workers + j, sizeof(void *) * (apr_size_t)k);
    memcpy(view->rev + i, prev->rev + j, sizeof(apr_uint64_t) * (apr_size_t)k);
    memcpy(view->shm_map->inst_slot + i, prev->shm_map->inst_slot + j,
           sizeof(int) * (apr_size_t)k);
    if (len) {
        memcpy(view->pair_flat + at, from, sizeof(int) * len);
    }
    for (t = 0; t < k; t++) {
        view->shm_map->pair_slot[i + t] = view->pair_flat + at
                                          + (prev->shm_map->pair_slot[j + t] - from);
    }
    if (prev->names_interned && view->names_interned) {
        memcpy(view->worker_names + i, prev->worker_names + j, sizeof(void *) * (apr_size_t)k);
        return;
    }
    for (t = 0; t < k; t++) {
        view->worker_names[i + t] = prev->worker_names[j + t]
                                    ? worker_name(view, view->names_interned,
                                                  prev->worker_names[j + t]) : NULL;
    }
}

/* The batches the view's instances are in, each held once: prev's and the fresh
 * one (a batch none of them uses any more lives on until a view counts them, when
 * there are many), or counted. */
static void hold_batches(aop_view_t *view, const aop_view_t *prev, aop_view_batch_t *fresh,
                         int n)
{
    apr_hash_t *seen;
    int i;

    if (prev && prev->batches && prev->batches->nelts + 1 < MAX_BATCHES / 2) {
        view->batches = apr_array_copy(view->pool, prev->batches);
        if (fresh && fresh->refs == 0) {
            APR_ARRAY_PUSH(view->batches, aop_view_batch_t *) = fresh;
        }
        for (i = 0; i < view->batches->nelts; i++) {
            apr_atomic_inc32(&APR_ARRAY_IDX(view->batches, i, aop_view_batch_t *)->refs);
        }
        return;
    }
    seen = apr_hash_make(view->pool);
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

/* The view's instances: prev's first sp->head and last sp->tail as they are, the m
 * lines between read (prev NULL: sp all zero, every line read). */
static apr_status_t build_instances(aop_view_t *view, const aop_view_t *prev,
                                    const aop_doc_splice_t *sp, aop_doc_line_t *lines, int m,
                                    apr_pool_t *scratch, const char **perr)
{
    aop_view_batch_t *fresh = NULL;
    int i, n = sp->head + m + sp->tail, n_prev = prev ? prev->cfg->instances->nelts : 0;
    apr_size_t head_pairs = pairs_of(prev, 0, sp->head);
    apr_size_t tail_pairs = pairs_of(prev, n_prev - sp->tail, sp->tail), at = head_pairs;
    apr_status_t rv = APR_SUCCESS;
    rev_index_t x;

    view->effective = apr_array_make(view->pool, n + 1, sizeof(aop_effective_t *));
    view->effective->nelts = n;
    view->cfg->instances = apr_array_make(view->pool, n + 1, sizeof(aop_instance_t *));
    view->cfg->instances->nelts = n;
    view->worker_names = apr_pcalloc(view->pool, sizeof(char *) * (n + 1));
    view->workers = apr_pcalloc(view->pool, sizeof(proxy_worker *) * (n + 1));
    view->batch_of = apr_pcalloc(view->pool, sizeof(aop_view_batch_t *) * (n + 1));
    view->rev = apr_pcalloc(view->pool, sizeof(apr_uint64_t) * (n + 1));
    view->shm_map = aop_shm_map_make(view->pool, n);
    view->pair_total = head_pairs + tail_pairs;
    for (i = 0; i < m; i++) {
        view->pair_total += (apr_size_t)(lines[i].npairs + 1);
    }
    view->pair_flat = apr_palloc(view->pool, sizeof(int) * (view->pair_total + 1));
    view->doc_slots = 1;
    copy_instances(view, prev, 0, 0, sp->head, 0);
    copy_instances(view, prev, n - sp->tail, n_prev - sp->tail, sp->tail,
                   view->pair_total - tail_pairs);
    rev_index_init(&x, prev, m, scratch);
    for (i = 0; i < m && rv == APR_SUCCESS; i++) {
        rv = take_instance(view, &x, sp->head + i, &lines[i], &fresh, &at, scratch, perr);
    }
    if (rv == APR_SUCCESS) {
        hold_batches(view, prev, fresh, n);
    }
    else {
        view->batches = NULL;
    }
    if (fresh && fresh->refs == 0) {
        apr_pool_destroy(fresh->pool);   /* failed before any instance was kept */
    }
    return rv;
}

/* The pair slot of instance idx for model, or -1. */
static int pair_slot_of(const aop_view_t *view, int idx, const char *model)
{
    const aop_instance_t *inst = APR_ARRAY_IDX(view->cfg->instances, idx, aop_instance_t *);
    int j;

    for (j = 0; j < inst->supported_models->nelts; j++) {
        if (!strcmp(APR_ARRAY_IDX(inst->supported_models, j, const char *), model)) {
            return view->shm_map->pair_slot[idx][j];
        }
    }
    return -1;
}

/* The routes' credit slots, those of the candidates a patched route kept taken from
 * prev's (aop_shm_map_routes() reads every candidate's instance); 0 when a route
 * cannot be patched. */
static int patch_credits(aop_view_t *view, const aop_view_t *prev)
{
    struct aop_shm_map_t *map = view->shm_map;
    int i, k;

    if (!prev || !prev->shm_map || !prev->shm_map->route_credit || !prev->routes) {
        return 0;
    }
    map->route_credit = apr_hash_make(view->pool);
    for (i = 0; i < view->routes->models->nelts; i++) {
        const char *model = APR_ARRAY_IDX(view->routes->models, i, const char *);
        const aop_route_t *rt = aop_route_find(view->routes, model);
        const aop_route_t *was = aop_route_find(prev->routes, model);
        const int *old = apr_hash_get(prev->shm_map->route_credit, model, APR_HASH_KEY_STRING);
        int n = rt->candidates->nelts, *credit = apr_palloc(view->pool, sizeof(int) * (n + 1));

        if (rt->kept_head < 0 || ((rt->kept_head || rt->kept_tail) && (!was || !old))) {
            return 0;
        }
        if (rt->kept_head) {
            memcpy(credit, old, sizeof(int) * (apr_size_t)rt->kept_head);
        }
        for (k = rt->kept_head; k < n - rt->kept_tail; k++) {
            credit[k] = pair_slot_of(view, APR_ARRAY_IDX(rt->candidates, k, int), model);
        }
        if (rt->kept_tail) {
            memcpy(credit + n - rt->kept_tail, old + was->candidates->nelts - rt->kept_tail,
                   sizeof(int) * (apr_size_t)rt->kept_tail);
        }
        apr_hash_set(map->route_credit, model, APR_HASH_KEY_STRING, credit);
    }
    return 1;
}

static struct aop_shm_map_t *map_view(aop_view_t *view, const aop_view_t *prev,
                                      json_object *header)
{
    struct aop_shm_map_t *map = view->shm_map;
    json_object *models;

    if (view->doc_slots && json_object_object_get_ex(header, "_models", &models)
        && json_object_is_type(models, json_type_object)) {
        json_object_object_foreach(models, model, slot) {
            int *v = apr_palloc(view->pool, sizeof(int));

            *v = json_object_get_int(slot);
            apr_hash_set(map->model_slot, apr_pstrdup(view->pool, model), APR_HASH_KEY_STRING,
                         v);
        }
        if (!patch_credits(view, prev)) {
            aop_shm_map_routes(view->pool, map, view->cfg, view->routes);
        }
        if (aop_shm_map_valid(map, view->cfg)) {
            return map;
        }
    }
    view->doc_slots = 0;
    aop_shm_lock();
    map = aop_shm_map_locked(view->pool, view->cfg, view->routes, NULL, NULL, NULL);
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
    view->serial = __atomic_add_fetch(&serials, 1, __ATOMIC_RELAXED);
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
        aop_instance_t *inst = APR_ARRAY_IDX(eff, i, aop_effective_t *)->inst;

        /* The first view takes these as they are (start-up, one thread): indexed in
         * their own pool, as a decoded instance is in its batch's. */
        if (!inst->models_indexed) {
            aop_instance_index_models(eff->pool, inst);
        }
        APR_ARRAY_PUSH(seed->cfg->instances, aop_instance_t *) = inst;
        seed->batch_of[i] = &boot_batch;
        seed->rev[i] = aop_doc_rev(text[i], strlen(text[i]));
        apr_hash_set(seed->by_rev, &seed->rev[i], sizeof(seed->rev[i]),
                     (void *)(apr_uintptr_t)(i + 1));
    }
    return seed;
}

/* ------------------------------------------------------------------ last document */

/* The instance lines this process's view of a fleet was built from, as their heads
 * (each line's fields up to its tab, the hash of its JSON among them: some 100
 * bytes of a line's 3 KB) and where each line and head ends: the next build
 * compares the document with them where it lies in shared memory (a line's head and
 * length, not its text) and copies and reads only the lines between the common
 * head and tail (a change touches a few lines of thousands).  The parent's, made
 * with the first view, are the children's at the fork.  Used under the fleet's
 * mutex (or in the parent alone); fleets past LAST_DOCS read every line. */
typedef struct last_doc_t {
    apr_uint64_t serial;             /* of the view built from it; 0: none */
    char *heads;                     /* malloc'd, cap bytes */
    apr_size_t heads_len, cap;
    apr_size_t *end, *head_end;      /* malloc'd, end_cap each */
    int n, end_cap;
} last_doc_t;

static last_doc_t last_docs[LAST_DOCS];

static last_doc_t *last_doc_of(const aop_fleet_t *fleet)
{
    return fleet->id >= 0 && fleet->id < LAST_DOCS ? &last_docs[fleet->id] : NULL;
}

static void last_clear(last_doc_t *last)
{
    last->serial = 0;
    last->n = 0;
    last->heads_len = 0;
}

/* Whether prev's instances are last's lines, one for one (a splice may take them). */
static int last_is(const last_doc_t *last, const aop_view_t *prev)
{
    return last && prev && last->serial && last->serial == prev->serial && prev->shm_map
           && prev->workers && prev->worker_names && prev->doc_slots && prev->pair_flat
           && last->n == prev->cfg->instances->nelts;
}

static aop_doc_lines_t last_lines(const last_doc_t *last)
{
    aop_doc_lines_t o;

    o.heads = last->heads;
    o.head_end = last->head_end;
    o.end = last->end;
    o.n = last->n;
    return o;
}

/* Room for heads bytes and n lines; 0 (last cleared) when there is none. */
static int last_room(last_doc_t *last, apr_size_t heads, int n)
{
    if (heads > last->cap) {
        char *h = realloc(last->heads, heads + heads / 4 + 1);

        if (!h) {
            last_clear(last);
            return 0;
        }
        last->heads = h;
        last->cap = heads + heads / 4 + 1;
    }
    if (n > last->end_cap) {
        apr_size_t size = sizeof(apr_size_t) * (apr_size_t)(n + n / 4 + 1);
        apr_size_t *e = realloc(last->end, size), *he = e ? realloc(last->head_end, size) : NULL;

        last->end = e ? e : last->end;
        if (!e || !he) {
            last_clear(last);
            return 0;
        }
        last->head_end = he;
        last->end_cap = n + n / 4 + 1;
    }
    return 1;
}

/* last := its head lines, the m lines of mid (mid_len bytes, line i ending at
 * mid_end[i]) and its tail lines, as sp says (new_len: the new lines' bytes). */
static apr_status_t last_update(last_doc_t *last, const aop_doc_splice_t *sp, const char *mid,
                                const apr_size_t *mid_end, int m, apr_size_t new_len)
{
    int i, n = sp->head + m + sp->tail, t0 = last->n - sp->tail;
    apr_size_t keep = sp->head ? last->head_end[sp->head - 1] : 0;
    apr_size_t tail_from = t0 > 0 ? last->head_end[t0 - 1] : 0;
    apr_size_t tail_heads = sp->tail ? last->heads_len - tail_from : 0, mid_heads = 0;
    apr_size_t old_len = last->n ? last->end[last->n - 1] : 0, at;

    for (i = 0; i < m; i++) {
        apr_size_t start = i ? mid_end[i - 1] : 0;

        mid_heads += aop_doc_line_head(mid + start, mid_end[i] - start);
    }
    if (!last_room(last, keep + mid_heads + tail_heads, n)) {
        return APR_ENOMEM;
    }
    /* An empty fleet has no arrays yet (NULL): memmove must not see them, even for 0 bytes. */
    if (tail_heads) {
        memmove(last->heads + keep + mid_heads, last->heads + tail_from, tail_heads);
    }
    if (sp->tail) {
        memmove(last->end + sp->head + m, last->end + t0,
                sizeof(apr_size_t) * (apr_size_t)sp->tail);
        memmove(last->head_end + sp->head + m, last->head_end + t0,
                sizeof(apr_size_t) * (apr_size_t)sp->tail);
    }
    for (i = sp->head + m; i < n; i++) {
        last->end[i] = new_len - (old_len - last->end[i]);
        last->head_end[i] = last->head_end[i] - tail_from + keep + mid_heads;
    }
    for (i = 0, at = keep; i < m; i++) {
        apr_size_t start = i ? mid_end[i - 1] : 0;
        apr_size_t hl = aop_doc_line_head(mid + start, mid_end[i] - start);

        if (hl) {
            memcpy(last->heads + at, mid + start, hl);
        }
        at += hl;
        last->head_end[sp->head + i] = at;
        last->end[sp->head + i] = sp->from + mid_end[i];
    }
    last->heads_len = keep + mid_heads + tail_heads;
    last->n = n;
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------ building */

/* A document's parts as a build reads them: its header, and its instance lines
 * between those a splice takes from the previous view. */
typedef struct read_t {
    apr_pool_t *p;
    last_doc_t *last;                /* NULL: read every line */
    char *header;                    /* its line, cut */
    aop_doc_splice_t sp;
    char *mid;                       /* the lines between, a private copy */
    apr_size_t mid_len;
    apr_size_t lines_len;            /* the document's instance lines' bytes */
    apr_time_t at[3];                /* when the instances, routes and slots were done */
    int intern;                      /* a child's build: worker names kept for its life */
} read_t;

/* Reads doc (len bytes, perhaps as a writer changes it: then read again). */
static int read_doc(const char *doc, apr_size_t len, void *baton)
{
    read_t *r = baton;
    apr_size_t view_len = aop_doc_view_len(doc, len);
    const char *nl = memchr(doc, '\n', view_len), *lines;
    apr_size_t lines_len;

    if (!nl) {
        return 0;
    }
    r->header = apr_pstrmemdup(r->p, doc, (apr_size_t)(nl - doc));
    lines = nl + 1;
    lines_len = view_len - (apr_size_t)(lines - doc);
    r->lines_len = lines_len;
    memset(&r->sp, 0, sizeof(r->sp));
    r->sp.to = lines_len;
    if (r->last) {
        aop_doc_lines_t o = last_lines(r->last);

        aop_doc_splice(&o, lines, lines_len, &r->sp);
    }
    r->mid_len = r->sp.to - r->sp.from;
    r->mid = apr_pstrmemdup(r->p, lines + r->sp.from, r->mid_len);
    return 1;
}

/* The m lines of r's middle (cut, after they went into last), and where each ends;
 * with no tail, lines past them (a document whose header does not say how long its
 * instance lines are) are not the view's. */
static apr_status_t read_mid(read_t *r, int m, aop_doc_line_t **lines, apr_size_t **ends,
                             const char **perr)
{
    char *pos = r->mid;
    int i;

    *lines = apr_pcalloc(r->p, sizeof(aop_doc_line_t) * (apr_size_t)(m + 1));
    *ends = apr_palloc(r->p, sizeof(apr_size_t) * (apr_size_t)(m + 1));
    for (i = 0; i < m; i++) {
        if (aop_doc_read_line(r->p, &pos, &(*lines)[i]) != APR_SUCCESS) {
            *perr = apr_psprintf(r->p, "instance line %d of the document is damaged",
                                 r->sp.head + i + 1);
            return APR_EINVAL;
        }
        (*ends)[i] = (apr_size_t)(pos - r->mid);
    }
    if ((apr_size_t)(pos - r->mid) != r->mid_len) {
        if (r->sp.tail) {
            *perr = "the document has more instance lines than it says";
            return APR_EINVAL;
        }
        r->mid_len = (apr_size_t)(pos - r->mid);
    }
    return APR_SUCCESS;
}

/* The view of what r read; prev's instances whose lines are unchanged are taken as
 * they are. */
static aop_view_t *build_read(aop_fleet_t *fleet, read_t *r, apr_uint64_t generation,
                              const aop_view_t *prev, const char **perr)
{
    aop_view_t *view = view_make(fleet, generation);
    char *mid_copy = apr_pmemdup(r->p, r->mid, r->mid_len + 1);
    aop_doc_line_t *lines = NULL;
    apr_size_t *ends = NULL;
    json_object *settings;
    aop_doc_t doc;
    int m = 0;

    if (!view) {
        *perr = "out of memory";
        return NULL;
    }
    view->names_interned = r->intern && fleet->id >= 0 && fleet->id < LAST_DOCS;
    if (aop_doc_read_header(r->p, r->header, &doc, perr) != APR_SUCCESS
        || (m = doc.n - r->sp.head - r->sp.tail) < 0
        || read_mid(r, m, &lines, &ends, perr) != APR_SUCCESS
        || build_instances(view, prev && prev->batches && prev->batches->nelts >= MAX_BATCHES
                                 ? NULL : prev,   /* decode everything anew, into one */
                           &r->sp, lines, m, r->p, perr) != APR_SUCCESS) {
        *perr = *perr ? *perr : "the document's instance lines do not add up";
        free_view(view);
        return NULL;
    }
    r->at[0] = apr_time_now();
    if (json_object_object_get_ex(doc.header, "settings", &settings)) {
        apply_settings(view->cfg, settings);
    }
    if (r->sp.head + r->sp.tail && prev && prev->routes
        && prev->cfg->strategy == view->cfg->strategy) {
        view->routes = aop_route_table_patch(view->pool, view->cfg, prev->routes, r->sp.head,
                                             r->sp.tail, prev->cfg->instances->nelts);
    }
    else {
        view->routes = aop_route_table_build(view->pool, view->cfg);
    }
    r->at[1] = apr_time_now();
    view->shm_map = map_view(view, prev, doc.header);
    r->at[2] = apr_time_now();
    if (!view->shm_map) {
        *perr = "shared memory has no room for the instances";
        free_view(view);
        return NULL;
    }
    if (r->last) {
        r->last->serial = 0;
        if (view->doc_slots
            && last_update(r->last, &r->sp, mid_copy, ends, m,
                           r->sp.tail ? r->lines_len : r->sp.from + r->mid_len)
               == APR_SUCCESS) {
            r->last->serial = view->serial;
        }
    }
    return view;
}

/* Where a build of fleet's next view from prev reads: last when it holds prev's
 * lines (a splice), else every line (last then made anew). */
static last_doc_t *plan(aop_fleet_t *fleet, const aop_view_t *prev)
{
    last_doc_t *last = last_doc_of(fleet);

    if (!last) {
        return NULL;
    }
    if (!last_is(last, prev) || (prev->batches && prev->batches->nelts >= MAX_BATCHES)) {
        last_clear(last);            /* read every line, and keep their heads */
    }
    return last;
}

aop_view_t *aop_view_build(aop_fleet_t *fleet, const char *text, apr_uint64_t generation,
                           const aop_view_t *prev, const char **perr)
{
    apr_pool_t *tmp;
    aop_view_t *view = NULL;
    read_t r;

    if (apr_pool_create_unmanaged_ex(&tmp, NULL, NULL) != APR_SUCCESS) {
        *perr = "out of memory";
        return NULL;
    }
    memset(&r, 0, sizeof(r));
    r.p = tmp;
    r.last = plan(fleet, prev);
    if (read_doc(text, strlen(text), &r)) {
        view = build_read(fleet, &r, generation, prev, perr);
    }
    else {
        *perr = "the document has no header";
    }
    apr_pool_destroy(tmp);
    return view;
}

/* This process's view of the fleet's current document, or NULL (logged). */
static aop_view_t *build_current(aop_fleet_t *fleet, server_rec *s, apr_uint64_t serving)
{
    apr_pool_t *tmp;
    apr_uint64_t gen = 0;
    const char *err = NULL;
    aop_view_t *view = NULL;
    apr_time_t t0 = apr_time_now(), t1;
    int got;
    read_t r;

    apr_pool_create_unmanaged_ex(&tmp, NULL, NULL);
    memset(&r, 0, sizeof(r));
    r.p = tmp;
    r.intern = 1;
    r.last = plan(fleet, fleet->current);
    got = aop_shm_read_doc_with(fleet->id, &gen, read_doc, &r);
    t1 = apr_time_now();
    view = got ? build_read(fleet, &r, gen, fleet->current, &err) : NULL;
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
                 APR_TIME_T_FMT " us (the document's read %" APR_TIME_T_FMT " us; %d "
                 "lines as they were, %" APR_SIZE_T_FMT " bytes read anew; instances %"
                 APR_TIME_T_FMT " us, routes %" APR_TIME_T_FMT " us, slots %"
                 APR_TIME_T_FMT " us)", gen, view->cfg->instances->nelts,
                 apr_time_now() - t0, t1 - t0, r.sp.head + r.sp.tail, r.mid_len,
                 r.at[0] - t1, r.at[1] - r.at[0], r.at[2] - r.at[1]);
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

/* Made by whichever thread asks first; a thread that loses the race frees its own.
 * Out of memory: the caller scans (rare, and still right). */
static aop_idx_map_t *name_hash_index(aop_view_t *view)
{
    aop_idx_map_t *m = __atomic_load_n(&view->by_name_hash, __ATOMIC_ACQUIRE), *none = NULL;
    int i, n = view->cfg->instances->nelts;
    apr_uint64_t *keys;

    if (m) {
        return m;
    }
    if (!(keys = malloc(sizeof(apr_uint64_t) * (apr_size_t)(n + 1)))) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        keys[i] = aop_affinity_name_hash(APR_ARRAY_IDX(view->cfg->instances, i,
                                                       aop_instance_t *)->name);
    }
    m = aop_idx_map_make(keys, n);
    free(keys);
    if (m && !__atomic_compare_exchange_n(&view->by_name_hash, &none, m, 0, __ATOMIC_ACQ_REL,
                                          __ATOMIC_ACQUIRE)) {
        aop_idx_map_free(m);
        m = none;
    }
    return m;
}

int aop_view_by_name_hash(aop_view_t *view, apr_uint64_t h)
{
    aop_idx_map_t *m = name_hash_index(view);
    int i;

    if (m) {
        return aop_idx_map_get(m, h);
    }
    for (i = 0; i < view->cfg->instances->nelts; i++) {
        if (aop_affinity_name_hash(APR_ARRAY_IDX(view->cfg->instances, i,
                                                 aop_instance_t *)->name) == h) {
            return i;
        }
    }
    return -1;
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
