/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <apr_file_info.h>
#include <apr_strings.h>
#include <apr_global_mutex.h>

#include <http_core.h>
#include <util_mutex.h>
#include <mod_proxy.h>
#include <unixd.h>
#include <malloc.h>

#include "aop_json.h"
#include "aop_layers.h"
#include "aop_store.h"
#include "aop_store_import.h"
#include "mod_aoproxy_private.h"
#include "mod_aoproxy_balancer.h"
#include "mod_aoproxy_config.h"
#include "mod_aoproxy_user_access.h"
#include "mod_aoproxy_publish.h"
#include "mod_aoproxy_shm.h"

#define ADMIN_MUTEX_TYPE "aoproxy-admin"

static apr_global_mutex_t *admin_mutex;

apr_status_t aop_admin_lock(void)
{
    return admin_mutex ? apr_global_mutex_lock(admin_mutex) : APR_SUCCESS;
}

void aop_admin_unlock(void)
{
    if (admin_mutex) {
        apr_global_mutex_unlock(admin_mutex);
    }
}

/* ------------------------------------------------------------------ the document */

/* What a reload may change without a restart, and the YAML files it came from. */
static json_object *settings_json(const aop_config_t *cfg)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "strategy", json_object_new_string(aop_strategy_name(cfg->strategy)));
    json_object_object_add(o, "retries", json_object_new_int(cfg->retries));
    json_object_object_add(o, "stats_window_minutes",
                           json_object_new_int(cfg->stats_window_minutes));
    json_object_object_add(o, "additional_windows", aop_json_int_array(cfg->additional_windows));
    json_object_object_add(o, "files", aop_json_str_array(cfg->files));
    return o;
}

/* Each effective instance's record as JSON text, key included (shared memory is the
 * processes' own): a line of the document, and what changes() compares. */
static const char **records(apr_pool_t *p, const apr_array_header_t *eff)
{
    const char **text = apr_palloc(p, sizeof(char *) * (apr_size_t)(eff->nelts + 1));
    int i;

    for (i = 0; i < eff->nelts; i++) {
        json_object *o = aop_effective_to_json(APR_ARRAY_IDX(eff, i, aop_effective_t *), 1);

        text[i] = apr_pstrdup(p, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
    }
    return text;
}

/* What a document is made of before the slots are known. */
typedef struct parts_t {
    json_object *settings;
    const apr_array_header_t *eff;   /* aop_effective_t *: the instances served */
    const char **text;               /* parallel to eff: records() */
    const apr_uint64_t *rev;         /* parallel: each text's hash, 0 when not yet known */
    const char **workers;            /* parallel to eff */
    /* The YAML layer alone, so that a later change in any process merges over it:
     * its instances' names and records, as the document carries them. */
    int nyaml;
    const char *const *yaml_name;
    const char *const *yaml_text;
} parts_t;

static char *instance_line(apr_pool_t *p, const parts_t *d, int i, const aop_shm_map_t *map)
{
    const aop_instance_t *inst = APR_ARRAY_IDX(d->eff, i, aop_effective_t *)->inst;
    int j, n = inst->supported_models->nelts;
    apr_uint64_t rev = d->rev && d->rev[i] ? d->rev[i] : aop_doc_rev(d->text[i],
                                                                    strlen(d->text[i]));
    apr_array_header_t *w = apr_array_make(p, n + 4, sizeof(char *));

    APR_ARRAY_PUSH(w, char *) = apr_psprintf(p, "%016" APR_UINT64_T_HEX_FMT " %d %s %s %d",
                                             rev, map->inst_slot[i], inst->name,
                                             d->workers && d->workers[i] ? d->workers[i]
                                                                         : "-", n);
    for (j = 0; j < n; j++) {
        APR_ARRAY_PUSH(w, char *) = apr_psprintf(p, " %d", map->pair_slot[i][j]);
    }
    APR_ARRAY_PUSH(w, const char *) = "\t";
    APR_ARRAY_PUSH(w, const char *) = d->text[i];
    APR_ARRAY_PUSH(w, const char *) = "\n";
    return apr_array_pstrcat(p, w, 0);
}

/* The document (its format: aop_doc.h). */
static const char *compose(apr_pool_t *p, const parts_t *d, const aop_shm_map_t *map)
{
    apr_array_header_t *out = apr_array_make(p, d->eff->nelts + d->nyaml + 4, sizeof(char *));
    json_object *head = aop_json_own(p, json_object_new_object());
    json_object *models = json_object_new_object();
    const char **lines = apr_palloc(p, sizeof(char *) * (apr_size_t)(d->eff->nelts + 1));
    apr_hash_index_t *hi;
    apr_int64_t bytes = 0;
    int i;

    for (i = 0; i < d->eff->nelts; i++) {
        lines[i] = instance_line(p, d, i, map);
        bytes += (apr_int64_t)strlen(lines[i]);
    }
    json_object_object_add(head, "lines_bytes", json_object_new_int64(bytes));

    for (hi = apr_hash_first(p, map->model_slot); hi; hi = apr_hash_next(hi)) {
        json_object_object_add(models, apr_hash_this_key(hi),
                               json_object_new_int(*(const int *)apr_hash_this_val(hi)));
    }
    json_object_object_add(head, "settings", json_object_get(d->settings));
    json_object_object_add(head, "_models", models);
    json_object_object_add(head, "instances", json_object_new_int(d->eff->nelts));
    json_object_object_add(head, "yaml", json_object_new_int(d->nyaml));
    APR_ARRAY_PUSH(out, const char *) = apr_pstrcat(p, aop_json_to_string(p, head), "\n",
                                                    NULL);
    for (i = 0; i < d->eff->nelts; i++) {
        APR_ARRAY_PUSH(out, const char *) = lines[i];
    }
    for (i = 0; i < d->nyaml; i++) {
        APR_ARRAY_PUSH(out, const char *) = apr_pstrcat(p, d->yaml_name[i], "\t",
                                                        d->yaml_text[i], "\n", NULL);
    }
    return apr_array_pstrcat(p, out, 0);
}

/* A YAML layer made anew (start-up, a reload): its names and records (text: made
 * already, or NULL). */
static void set_yaml(apr_pool_t *p, parts_t *d, const apr_array_header_t *layer,
                     const char **text)
{
    const char **names = apr_palloc(p, sizeof(char *) * (apr_size_t)(layer->nelts + 1));
    int i;

    for (i = 0; i < layer->nelts; i++) {
        names[i] = APR_ARRAY_IDX(layer, i, aop_effective_t *)->inst->name;
    }
    d->nyaml = layer->nelts;
    d->yaml_name = names;
    d->yaml_text = text ? text : records(p, layer);
}

/* A YAML-layer instance again, with its table of which file set what. */
static aop_instance_t *yaml_instance(apr_pool_t *p, const aop_effective_t *e)
{
    aop_instance_t *inst = apr_pmemdup(p, e->inst, sizeof(*inst));
    apr_hash_index_t *hi;

    inst->sources = apr_table_make(p, 16);
    for (hi = apr_hash_first(p, e->sources); hi; hi = apr_hash_next(hi)) {
        const aop_field_source_t *src = apr_hash_this_val(hi);

        if (src->layer == AOP_LAYER_YAML && src->location) {
            apr_table_setn(inst->sources, apr_hash_this_key(hi), src->location);
        }
    }
    return inst;
}

static void log_warnings(server_rec *s, const apr_array_header_t *warnings)
{
    int i;

    for (i = 0; i < warnings->nelts; i++) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, AOPLOGNO(00084) "instances: %s",
                     APR_ARRAY_IDX(warnings, i, const char *));
    }
}

/* Names (instances, and the models they serve) whose shared state starts anew:
 * instances new or changed since the last document (old: name -> record text), and
 * their models. */
static apr_hash_t *changes(apr_pool_t *p, apr_hash_t *old, const parts_t *d,
                           apr_array_header_t *removed)
{
    apr_hash_t *reset = apr_hash_make(p), *now = apr_hash_make(p);
    apr_hash_index_t *hi;
    int i, j;

    for (i = 0; i < d->eff->nelts; i++) {
        const aop_effective_t *e = APR_ARRAY_IDX(d->eff, i, aop_effective_t *);
        const char *was = old ? apr_hash_get(old, e->inst->name, APR_HASH_KEY_STRING) : NULL;

        apr_hash_set(now, e->inst->name, APR_HASH_KEY_STRING, "");
        if (!was || (was != d->text[i] && strcmp(was, d->text[i]))) {
            apr_hash_set(reset, e->inst->name, APR_HASH_KEY_STRING, "");
            for (j = 0; j < e->inst->supported_models->nelts; j++) {
                apr_hash_set(reset, APR_ARRAY_IDX(e->inst->supported_models, j, const char *),
                             APR_HASH_KEY_STRING, "");
            }
        }
    }
    for (hi = old ? apr_hash_first(p, old) : NULL; hi; hi = apr_hash_next(hi)) {
        const char *name = apr_hash_this_key(hi);

        if (!apr_hash_get(now, name, APR_HASH_KEY_STRING)) {
            APR_ARRAY_PUSH(removed, const char *) = name;
        }
    }
    return reset;
}

/* How long a publication held the shared-state lock, which every pick in every
 * process takes (for the slots), and how long it wrote the document (without it). */
typedef struct held_t {
    apr_interval_time_t map, doc;
    int anew;                        /* the plan was stale: mapped anew under the lock */
} held_t;

/* Slots for the instances, planned without the shm lock and made so under it (the
 * removed ones' freed; mapped anew under it when another process wrote a name in
 * between), written into the document; then the document in place with a new
 * generation (under its sequence lock alone).  Changes are made one at a time (the
 * admin mutex, or the parent at start-up). */
static apr_status_t publish(apr_pool_t *p, aop_fleet_t *fleet, const parts_t *d,
                            const aop_config_t *cfg, apr_hash_t *wanted, apr_hash_t *reset,
                            const apr_array_header_t *removed, const char **pdoc,
                            apr_uint64_t *gen, held_t *held, const char **perr)
{
    aop_route_table_t *routes = aop_route_table_build(p, cfg);
    aop_shm_plan_t *plan = aop_shm_map_plan(p, cfg, routes, wanted, reset, removed);
    const aop_shm_map_t *map;
    apr_status_t rv;
    apr_time_t t0;

    aop_shm_lock();
    t0 = apr_time_now();
    map = aop_shm_map_apply_locked(plan);
    if ((held->anew = !map)) {
        map = aop_shm_map_locked(p, cfg, routes, wanted, reset, removed);
    }
    held->map = apr_time_now() - t0;
    aop_shm_unlock();
    if (!map) {
        *perr = "shared memory has no room for more instances or models (raise "
                "AOProxyInstanceGrowth and restart)";
        return APR_ENOSPC;
    }
    *pdoc = compose(p, d, map);
    t0 = apr_time_now();
    rv = aop_shm_publish(fleet->id, *pdoc, strlen(*pdoc), gen);
    held->doc = apr_time_now() - t0;
    if (rv != APR_SUCCESS) {
        *perr = "the instances do not fit the shared document (raise AOProxyInstanceGrowth "
                "and restart)";
    }
    return rv;
}

/* At start-up, the names every fleet has now: the slots of any other name (a
 * restart renamed or dropped it) may be taken. */
static apr_hash_t *boot_names(apr_pool_t *p)
{
    apr_hash_t *wanted = apr_hash_make(p);
    char model[AOP_SHM_MODEL_MAX + 1];
    int f, i, j;

    for (f = 0; f < aop_fleets_count(); f++) {
        const apr_array_header_t *boot = aop_fleets_at(f)->boot;

        for (i = 0; boot && i < boot->nelts; i++) {
            const aop_instance_t *inst = APR_ARRAY_IDX(boot, i, aop_effective_t *)->inst;

            apr_hash_set(wanted, inst->name, APR_HASH_KEY_STRING, "");
            for (j = 0; j < inst->supported_models->nelts; j++) {
                const char *m = APR_ARRAY_IDX(inst->supported_models, j, const char *);
                char key[AOP_NAME_MAX + 1 + AOP_SHM_MODEL_MAX + 1];

                apr_cpystrn(model, m, sizeof(model));
                apr_hash_set(wanted, apr_pstrdup(p, model), APR_HASH_KEY_STRING, "");
                apr_cpystrn(key, apr_pstrcat(p, inst->name, "\t", m, NULL), sizeof(key));
                apr_hash_set(wanted, apr_pstrdup(p, key), APR_HASH_KEY_STRING, "");
            }
        }
    }
    return wanted;
}

/* A configuration whose instances are the effective ones (for routes and slots). */
static aop_config_t *with_instances(apr_pool_t *p, const aop_config_t *settings,
                                    const apr_array_header_t *eff)
{
    aop_config_t *cfg = apr_pmemdup(p, settings, sizeof(*cfg));
    int i;

    cfg->instances = apr_array_make(p, eff->nelts + 1, sizeof(aop_instance_t *));
    for (i = 0; i < eff->nelts; i++) {
        APR_ARRAY_PUSH(cfg->instances, aop_instance_t *) =
            APR_ARRAY_IDX(eff, i, aop_effective_t *)->inst;
    }
    return cfg;
}

/* ------------------------------------------------------------------ start-up */

static int file_exists(apr_pool_t *p, const char *path)
{
    apr_finfo_t fi;

    return path && apr_stat(&fi, path, APR_FINFO_TYPE, p) == APR_SUCCESS
           && fi.filetype == APR_REG;
}

/* The store's directory exists and belongs to httpd's User when we made it; the
 * store's files do whenever the parent (root) touched them: the children write them. */
static void hand_over(apr_pool_t *p, server_rec *s, const char *db_path, int made_dir)
{
    static const char *const suffix[] = { "", "-wal", "-shm", NULL };
    int i;

    if (geteuid() != 0) {
        return;
    }
    if (made_dir && chown(ap_make_dirstr_parent(p, db_path), ap_unixd_config.user_id,
                          ap_unixd_config.group_id) != 0) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, errno, s, AOPLOGNO(00085)
                     "cannot hand the store's directory to httpd's User");
    }
    for (i = 0; suffix[i]; i++) {
        const char *f = apr_pstrcat(p, db_path, suffix[i], NULL);

        if (file_exists(p, f) && chown(f, ap_unixd_config.user_id,
                                       ap_unixd_config.group_id) != 0) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, errno, s, AOPLOGNO(00086)
                         "cannot hand %s to httpd's User", f);
        }
    }
}

/* The children write the store: a directory or file they cannot write would be
 * found only by the first change through the API (503 store_unavailable). */
static void check_store_writable(apr_pool_t *p, server_rec *s, const char *db_path)
{
    static const char *const suffix[] = { "", "-wal", "-shm", NULL };
    const char *why = aop_user_access(p, ap_make_dirstr_parent(p, db_path), AOP_ACCESS_WRITE);
    int i;

    for (i = 0; !why && suffix[i]; i++) {
        const char *f = apr_pstrcat(p, db_path, suffix[i], NULL);

        why = file_exists(p, f) ? aop_user_access(p, f, AOP_ACCESS_WRITE) : NULL;
    }
    if (why) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, AOPLOGNO(00101)
                     "instance store: %s; changes through the management API will answer "
                     "503 store_unavailable until it is (e.g. `chown -R %s` the directory)",
                     why, aop_user_name());
    }
}

static int ensure_dir(apr_pool_t *p, const char *db_path)
{
    const char *dir = ap_make_dirstr_parent(p, db_path);
    apr_finfo_t fi;

    if (apr_stat(&fi, dir, APR_FINFO_TYPE, p) == APR_SUCCESS) {
        return 0;
    }
    return apr_dir_make_recursive(dir, APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_UEXECUTE,
                                  p) == APR_SUCCESS;
}

static const char *store_error(apr_pool_t *p, const aop_store_result_t *res)
{
    return apr_psprintf(p, "%s (%s)", res->message ? res->message : "failed",
                        aop_store_status_name(res->status));
}

static apr_status_t import_state_file(apr_pool_t *ptemp, server_rec *s, aop_fleet_t *fleet,
                                      const char **perr)
{
    aop_store_result_t res;
    int imported = 0;

    if (!file_exists(ptemp, fleet->state_file)) {
        return APR_SUCCESS;
    }
    if (aop_store_import_state_file(ptemp, fleet->db_path, fleet->state_file,
                                    fleet->boot_cfg->instances, &imported, &res)
        != APR_SUCCESS) {
        *perr = apr_psprintf(ptemp, "importing %s: %s", fleet->state_file,
                             store_error(ptemp, &res));
        return APR_EGENERAL;
    }
    if (imported) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, AOPLOGNO(00087)
                     "imported %d instances from the state file %s into %s", imported,
                     fleet->state_file, fleet->db_path);
    }
    return APR_SUCCESS;
}

/* A YAML without instances is legitimate (everything made through the API) or an
 * oversight: either way the log says where the instances served come from. */
static void log_instance_origin(server_rec *s, const aop_fleet_t *fleet)
{
    const aop_config_t *cfg = fleet->boot_cfg;
    const char *yaml = APR_ARRAY_IDX(cfg->files, cfg->files->nelts - 1, const char *);

    int left_out = cfg->left_out ? cfg->left_out->nelts : 0;

    if (cfg->instances->nelts > 0) {
        return;
    }
    if (fleet->boot->nelts > 0 && !left_out) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, AOPLOGNO(00102)
                     "%s lists no instances: the %d served come from the instance store %s "
                     "alone (made through the management API)", yaml, fleet->boot->nelts,
                     fleet->db_path);
    }
    else if (!fleet->boot->nelts) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, AOPLOGNO(00108)
                     "no instance can serve: /v1/ answers model_not_found until %s lists "
                     "a complete one (or the management API adds one)", yaml);
    }
}

apr_status_t aop_publish_boot_layers(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s,
                                     aop_fleet_t *fleet, int trial, const char **perr)
{
    apr_array_header_t *records = NULL, *warnings = apr_array_make(ptemp, 4, sizeof(char *));
    aop_store_result_t res;

    if (!trial) {
        int made_dir = ensure_dir(ptemp, fleet->db_path);

        if (fleet->state_file && import_state_file(ptemp, s, fleet, perr) != APR_SUCCESS) {
            return APR_EGENERAL;
        }
        hand_over(ptemp, s, fleet->db_path, made_dir);
        check_store_writable(ptemp, s, fleet->db_path);
    }
    if (file_exists(ptemp, fleet->db_path)
        && aop_store_load(ptemp, fleet->db_path, &records, &res) != APR_SUCCESS) {
        *perr = store_error(ptemp, &res);
        return APR_EGENERAL;
    }
    if (aop_layers_merge(pconf, fleet->boot_cfg->instances, records, fleet->db_path,
                         &fleet->boot, warnings) != APR_SUCCESS) {
        *perr = "cannot merge the stored instances over the YAML";
        return APR_EGENERAL;
    }
    fleet->boot_is_yaml = !records || records->nelts == 0;
    if (!trial) {
        log_warnings(s, warnings);
        log_instance_origin(s, fleet);
    }
    return APR_SUCCESS;
}

static apr_status_t publish_boot(apr_pool_t *ptemp, aop_fleet_t *fleet, const char **perr)
{
    apr_array_header_t *layer, *removed = apr_array_make(ptemp, 1, sizeof(char *));
    const char **names = apr_pcalloc(ptemp, sizeof(char *) * (fleet->boot->nelts + 1));
    json_object *settings = aop_json_own(ptemp, settings_json(fleet->boot_cfg));
    const aop_config_t *cfg = with_instances(ptemp, fleet->boot_cfg, fleet->boot);
    apr_uint64_t gen;
    held_t held;
    const char *doc;
    parts_t d;
    aop_view_t *view;
    int i;

    /* With no change in the store (the common start), the YAML layer is what is
     * served: neither merged nor written out a second time (a fifth of a start at
     * 5000 instances). */
    if (fleet->boot_is_yaml) {
        layer = fleet->boot;
    }
    else if (aop_layers_merge(ptemp, fleet->boot_cfg->instances, NULL, NULL, &layer, NULL)
             != APR_SUCCESS) {
        *perr = "cannot build the YAML layer";
        return APR_EGENERAL;
    }
    /* No server may proxy for the fleet (its API alone is served): then no worker
     * is defined yet, and the names are those the instances' workers will have, as
     * a change through the API names them (aop_balancer_assign). */
    for (i = 0; i < fleet->boot->nelts; i++) {
        const aop_instance_t *inst = APR_ARRAY_IDX(fleet->boot, i, aop_effective_t *)->inst;

        names[i] = fleet->boot_workers ? fleet->boot_workers[i]->s->name_ex
                                       : aop_balancer_worker_url(ptemp, inst);
    }
    memset(&d, 0, sizeof(d));
    d.settings = settings;
    d.eff = fleet->boot;
    d.text = records(ptemp, fleet->boot);
    d.workers = names;
    set_yaml(ptemp, &d, layer, fleet->boot_is_yaml ? d.text : NULL);
    /* A new start judges every instance's health anew. */
    if (publish(ptemp, fleet, &d, cfg, boot_names(ptemp),
                changes(ptemp, NULL, &d, removed), NULL, &doc, &gen, &held, perr)
        != APR_SUCCESS) {
        return APR_ENOSPC;
    }
    if (!(view = aop_view_build(fleet, doc, gen, aop_view_seed(ptemp, fleet, fleet->boot,
                                                                d.text), perr))) {
        return APR_EGENERAL;
    }
    for (i = 0; fleet->boot_workers && i < fleet->boot->nelts; i++) {
        view->workers[i] = fleet->boot_workers[i];
    }
    fleet->current = view;
    return APR_SUCCESS;
}

/* The records, lines and copies of the first document are megabytes with thousands
 * of instances: made in a pool of their own, given back when it is published (the
 * parent's memory is every child's too), and the heap trimmed after. */
apr_status_t aop_publish_boot(apr_pool_t *ptemp, server_rec *s, aop_fleet_t *fleet,
                              const char **perr)
{
    apr_pool_t *work;
    apr_status_t rv;

    if (apr_pool_create_unmanaged_ex(&work, NULL, NULL) != APR_SUCCESS) {
        *perr = "out of memory";
        return APR_ENOMEM;
    }
    rv = publish_boot(work, fleet, perr);
    if (rv != APR_SUCCESS && *perr) {
        *perr = apr_pstrdup(ptemp, *perr);
    }
    apr_pool_destroy(work);
    malloc_trim(0);
    (void)s;
    return rv;
}

/* ------------------------------------------------------------------ run time */

static void fail(aop_change_error_t *err, int status, const char *message, const char *code)
{
    err->status = status;
    err->message = message;
    err->code = code;
    err->param = NULL;
}

static apr_status_t store_fail(apr_pool_t *p, aop_change_error_t *err,
                               const aop_store_result_t *res)
{
    fail(err, aop_store_http_status(res->status), store_error(p, res),
         res->status == AOP_STORE_BUSY ? "store_busy" : "store_unavailable");
    return APR_EGENERAL;
}

/* The live document as a change finds it (read under the admin lock: no other
 * change moves it meanwhile). */
typedef struct live_t {
    aop_doc_t doc;
    apr_uint64_t gen;
    json_object *settings;
    apr_hash_t *old;                 /* name -> its record's text */
    apr_hash_t *at;                  /* name -> its instance line's index + 1 */
    apr_hash_t *yaml_at;             /* name -> its YAML line's index + 1 */
} live_t;

/* Caller holds the admin lock. */
static apr_status_t read_live(request_rec *r, aop_fleet_t *fleet, live_t *live,
                              aop_change_error_t *err)
{
    char *text = aop_shm_read_doc(r->pool, fleet->id, &live->gen, NULL);
    const char *perr = NULL;
    int i;

    if (!text || aop_doc_read(r->pool, text, &live->doc, &perr) != APR_SUCCESS
        || !json_object_object_get_ex(live->doc.header, "settings", &live->settings)) {
        fail(err, HTTP_INTERNAL_SERVER_ERROR, "the live instances cannot be read", NULL);
        return APR_EGENERAL;
    }
    live->old = apr_hash_make(r->pool);
    live->at = apr_hash_make(r->pool);
    live->yaml_at = apr_hash_make(r->pool);
    for (i = 0; i < live->doc.n; i++) {
        apr_hash_set(live->old, live->doc.inst[i].name, APR_HASH_KEY_STRING,
                     live->doc.inst[i].json);
        apr_hash_set(live->at, live->doc.inst[i].name, APR_HASH_KEY_STRING,
                     (void *)(apr_uintptr_t)(i + 1));
    }
    for (i = 0; i < live->doc.nyaml; i++) {
        apr_hash_set(live->yaml_at, live->doc.yaml_name[i], APR_HASH_KEY_STRING,
                     (void *)(apr_uintptr_t)(i + 1));
    }
    return APR_SUCCESS;
}

/* The YAML layer's instance called name (NULL: none), decoded from its line alone:
 * a change decodes only the YAML instances whose records it merges anew. */
static apr_status_t yaml_named(apr_pool_t *p, const live_t *live, const char *name,
                               const aop_effective_t **out)
{
    apr_uintptr_t at = (apr_uintptr_t)apr_hash_get(live->yaml_at, name, APR_HASH_KEY_STRING);
    const char *perr = NULL;
    aop_effective_t *e;
    json_object *o;

    *out = NULL;
    if (!at) {
        return APR_SUCCESS;
    }
    o = aop_json_parse(p, live->doc.yaml[at - 1], strlen(live->doc.yaml[at - 1]), &perr);
    if (!o || aop_effective_from_json(p, o, &e, &perr) != APR_SUCCESS) {
        return APR_EINVAL;
    }
    *out = e;
    return APR_SUCCESS;
}

/* What a change through the store builds: the effective instances in the order
 * aop_layers_merge gives them, each with its record's text. */
typedef struct build_t {
    request_rec *r;
    aop_fleet_t *fleet;
    const live_t *live;
    const aop_view_t *view;          /* of the live document, or NULL */
    apr_hash_t *stored;              /* name -> aop_store_record_t * */
    apr_array_header_t *eff, *warnings;
    apr_array_header_t *text, *rev;  /* const char *, apr_uint64_t */
    int merged;                      /* instances merged anew */
} build_t;

/* The view's decoded instance for line k of the live document, if the record the
 * line has is what the store and the YAML layer would give now: neither changed
 * since (the YAML layer does not without a reload; the store's version says). */
static const aop_effective_t *unchanged(const build_t *b, const char *name,
                                        const aop_store_record_t *rec)
{
    apr_uintptr_t k = (apr_uintptr_t)apr_hash_get(b->live->at, name, APR_HASH_KEY_STRING);
    const aop_effective_t *e;

    if (!k || !b->view || k > (apr_uintptr_t)b->view->effective->nelts
        || b->view->rev[k - 1] != b->live->doc.inst[k - 1].rev) {
        return NULL;
    }
    e = APR_ARRAY_IDX(b->view->effective, k - 1, const aop_effective_t *);
    return strcmp(e->inst->name, name) == 0 && e->version == (rec ? rec->version : 0) ? e
                                                                                   : NULL;
}

/* Instance name (in the YAML layer or the store) into b: the live one when
 * unchanged, else merged anew from its YAML instance and its record. */
static apr_status_t take(build_t *b, const char *name)
{
    const aop_store_record_t *rec = apr_hash_get(b->stored, name, APR_HASH_KEY_STRING);
    const aop_effective_t *e = unchanged(b, name, rec), *y;
    apr_array_header_t *yl = NULL, *rl = NULL, *out;
    apr_pool_t *p = b->r->pool;
    apr_uintptr_t k;

    if (e) {
        k = (apr_uintptr_t)apr_hash_get(b->live->at, name, APR_HASH_KEY_STRING);
        APR_ARRAY_PUSH(b->eff, const aop_effective_t *) = e;
        APR_ARRAY_PUSH(b->text, const char *) = b->live->doc.inst[k - 1].json;
        APR_ARRAY_PUSH(b->rev, apr_uint64_t) = b->live->doc.inst[k - 1].rev;
        return APR_SUCCESS;
    }
    if (yaml_named(p, b->live, name, &y) != APR_SUCCESS) {
        return APR_EINVAL;
    }
    if (y) {
        yl = apr_array_make(p, 1, sizeof(aop_instance_t *));
        APR_ARRAY_PUSH(yl, aop_instance_t *) = yaml_instance(p, y);
    }
    if (rec) {
        rl = apr_array_make(p, 1, sizeof(aop_store_record_t *));
        APR_ARRAY_PUSH(rl, const aop_store_record_t *) = rec;
    }
    if (aop_layers_merge(p, yl, rl, b->fleet->db_path, &out, b->warnings) != APR_SUCCESS) {
        return APR_EINVAL;
    }
    if (out->nelts == 1) {           /* none: a deletion hides it */
        APR_ARRAY_PUSH(b->eff, aop_effective_t *) = APR_ARRAY_IDX(out, 0, aop_effective_t *);
        APR_ARRAY_PUSH(b->text, const char *) = records(p, out)[0];
        APR_ARRAY_PUSH(b->rev, apr_uint64_t) = 0;
        b->merged++;
    }
    return APR_SUCCESS;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The effective instances after a change in the store (the YAML layer as it is):
 * the YAML layer's in its order, then the store's alone in name order, as
 * aop_layers_merge orders them; only the names whose record changed are merged and
 * serialised anew (5000 instances: the rest would be most of a change's time). */
static apr_status_t build_after_store_change(build_t *b, const apr_array_header_t *stored)
{
    apr_pool_t *p = b->r->pool;
    apr_array_header_t *only = apr_array_make(p, 4, sizeof(char *));
    int i;

    b->stored = apr_hash_make(p);
    for (i = 0; stored && i < stored->nelts; i++) {
        const aop_store_record_t *rec = APR_ARRAY_IDX(stored, i, const aop_store_record_t *);

        apr_hash_set(b->stored, rec->name, APR_HASH_KEY_STRING, rec);
        if (!rec->deleted && !apr_hash_get(b->live->yaml_at, rec->name, APR_HASH_KEY_STRING)) {
            APR_ARRAY_PUSH(only, const char *) = rec->name;
        }
    }
    qsort(only->elts, (size_t)only->nelts, sizeof(char *), by_name);
    for (i = 0; i < b->live->doc.nyaml; i++) {
        const char *name = b->live->doc.yaml_name[i];
        const aop_store_record_t *rec = apr_hash_get(b->stored, name, APR_HASH_KEY_STRING);

        if ((!rec || !rec->deleted) && take(b, name) != APR_SUCCESS) {
            return APR_EINVAL;
        }
    }
    for (i = 0; i < only->nelts; i++) {
        if (take(b, APR_ARRAY_IDX(only, i, const char *)) != APR_SUCCESS) {
            return APR_EINVAL;
        }
    }
    return APR_SUCCESS;
}

/* After a reload: every instance merged over the new YAML layer. */
static apr_status_t build_after_reload(build_t *b, const aop_config_t *new_yaml,
                                       const apr_array_header_t *stored, parts_t *d)
{
    apr_pool_t *p = b->r->pool;
    apr_array_header_t *layer;
    const char **text;
    int i;

    if (aop_layers_merge(p, new_yaml->instances, NULL, NULL, &layer, NULL) != APR_SUCCESS
        || aop_layers_merge(p, new_yaml->instances, stored, b->fleet->db_path, &b->eff,
                            b->warnings) != APR_SUCCESS) {
        return APR_EINVAL;
    }
    set_yaml(p, d, layer, NULL);
    text = records(p, b->eff);
    for (i = 0; i < b->eff->nelts; i++) {
        APR_ARRAY_PUSH(b->text, const char *) = text[i];
        APR_ARRAY_PUSH(b->rev, apr_uint64_t) = 0;
    }
    b->merged = b->eff->nelts;
    return APR_SUCCESS;
}

apr_status_t aop_publish_change(request_rec *r, aop_fleet_t *fleet,
                                const aop_config_t *new_yaml, aop_change_error_t *err)
{
    apr_pool_t *p = r->pool;
    apr_array_header_t *stored = NULL;
    apr_array_header_t *removed = apr_array_make(p, 4, sizeof(char *));
    aop_config_t *cfg;
    aop_store_result_t res;
    const char **workers, *doc, *perr = NULL;
    apr_uint64_t gen;
    held_t held;
    live_t live;
    build_t b;
    parts_t d;

    if (read_live(r, fleet, &live, err) != APR_SUCCESS) {
        return APR_EGENERAL;
    }
    if (file_exists(p, fleet->db_path)
        && aop_store_load(p, fleet->db_path, &stored, &res) != APR_SUCCESS) {
        return store_fail(p, err, &res);
    }
    memset(&b, 0, sizeof(b));
    memset(&d, 0, sizeof(d));
    b.r = r;
    b.fleet = fleet;
    b.live = &live;
    b.warnings = apr_array_make(p, 4, sizeof(char *));
    b.eff = apr_array_make(p, live.doc.n + 8, sizeof(aop_effective_t *));
    b.text = apr_array_make(p, live.doc.n + 8, sizeof(char *));
    b.rev = apr_array_make(p, live.doc.n + 8, sizeof(apr_uint64_t));
    if (new_yaml) {
        d.settings = aop_json_own(p, settings_json(new_yaml));
        if (build_after_reload(&b, new_yaml, stored, &d) != APR_SUCCESS) {
            fail(err, HTTP_INTERNAL_SERVER_ERROR, "cannot merge the stored instances", NULL);
            return APR_EGENERAL;
        }
    }
    else {
        /* This process's view of the live document holds its instances decoded. */
        const aop_view_t *view = aop_view_acquire(r, fleet);

        b.view = view && view->generation == live.gen ? view : NULL;
        d.settings = live.settings;
        d.nyaml = live.doc.nyaml;
        d.yaml_name = live.doc.yaml_name;
        d.yaml_text = (const char *const *)live.doc.yaml;
        if (build_after_store_change(&b, stored) != APR_SUCCESS) {
            fail(err, HTTP_INTERNAL_SERVER_ERROR, "cannot merge the stored instances", NULL);
            return APR_EGENERAL;
        }
    }
    log_warnings(r->server, b.warnings);
    cfg = with_instances(p, new_yaml ? new_yaml : fleet->boot_cfg, b.eff);
    workers = apr_pcalloc(p, sizeof(char *) * (b.eff->nelts + 1));
    if ((perr = aop_balancer_assign(r, fleet, b.eff, workers))) {
        fail(err, HTTP_SERVICE_UNAVAILABLE, perr, "no_capacity");
        return APR_ENOSPC;
    }
    d.eff = b.eff;
    d.text = (const char **)b.text->elts;
    d.rev = (const apr_uint64_t *)b.rev->elts;
    d.workers = workers;
    if (publish(p, fleet, &d, cfg, NULL, changes(p, live.old, &d, removed), removed, &doc,
                &gen, &held, &perr) != APR_SUCCESS) {
        fail(err, HTTP_SERVICE_UNAVAILABLE, perr, "no_capacity");
        return APR_ENOSPC;
    }
    aop_balancer_flag(fleet, b.eff, workers, new_yaml ? new_yaml->retries : -1);
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, AOPLOGNO(00088)
                  "instances generation %" APR_UINT64_T_FMT ": %d live, %d removed", gen,
                  b.eff->nelts, removed->nelts);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, AOPLOGNO(00270)
                  "instances generation %" APR_UINT64_T_FMT ": %d merged anew, %d as they "
                  "were", gen, b.merged, b.eff->nelts - b.merged);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, AOPLOGNO(00271)
                  "instances generation %" APR_UINT64_T_FMT ": slots mapped in %"
                  APR_TIME_T_FMT " us under the shared-state lock%s, the document "
                  "written in %" APR_TIME_T_FMT " us (without it)", gen, held.map,
                  held.anew ? " (planned without it, mapped anew under it: another "
                              "process named slots in between)" : "", held.doc);
    return APR_SUCCESS;
}

apr_status_t aop_publish_yaml_instance(request_rec *r, aop_fleet_t *fleet, const char *name,
                                       const aop_instance_t **out, aop_change_error_t *err)
{
    const aop_effective_t *e;
    live_t live;

    *out = NULL;
    if (read_live(r, fleet, &live, err) != APR_SUCCESS) {
        return APR_EGENERAL;
    }
    if (yaml_named(r->pool, &live, name, &e) != APR_SUCCESS) {
        fail(err, HTTP_INTERNAL_SERVER_ERROR, "the live YAML layer cannot be read", NULL);
        return APR_EGENERAL;
    }
    *out = e ? e->inst : NULL;
    return APR_SUCCESS;
}

apr_status_t aop_publish_room(request_rec *r, aop_view_t *view,
                              const apr_array_header_t *instances, aop_change_error_t *err)
{
    int need = aop_balancer_workers_needed(view, instances);
    int free_slots = aop_balancer_free_slots(view->fleet);

    if (need > free_slots) {
        fail(err, HTTP_SERVICE_UNAVAILABLE,
             apr_psprintf(r->pool, "no room for %d more instance(s): %d balancer slot(s) "
                          "free (raise AOProxyInstanceGrowth and restart)", need, free_slots),
             "no_capacity");
        return APR_ENOSPC;
    }
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------ the admin mutex */

apr_status_t aop_admin_mutex_register(apr_pool_t *pconf)
{
    admin_mutex = NULL;
    return ap_mutex_register(pconf, ADMIN_MUTEX_TYPE, NULL, APR_LOCK_DEFAULT, 0);
}

apr_status_t aop_admin_mutex_create(apr_pool_t *pconf, server_rec *s)
{
    apr_status_t rv;

    if ((rv = ap_global_mutex_create(&admin_mutex, NULL, ADMIN_MUTEX_TYPE, NULL, s, pconf, 0))
        != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, AOPLOGNO(00089)
                     "cannot create the admin mutex");
    }
    return rv;
}

void aop_admin_mutex_child_init(apr_pool_t *p, server_rec *s)
{
    apr_status_t rv;

    if (admin_mutex && (rv = apr_global_mutex_child_init(
                            &admin_mutex, apr_global_mutex_lockfile(admin_mutex), p))
                       != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, AOPLOGNO(00090)
                     "cannot attach to the admin mutex in this child");
    }
}
