/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Reads of the configuration: the instances (filtered), one instance's configuration,
 * the effective configuration, where each field comes from, and an instance's stored
 * versions.  Keys are always masked. */
#include <apr_strings.h>

#include <http_protocol.h>
#include <util_script.h>

#include "aop_instance_json.h"
#include "aop_json.h"
#include "aop_layers.h"
#include "aop_store.h"
#include "mod_aoproxy_private.h"
#include "mod_aoproxy_api.h"
#include "mod_aoproxy_api_handlers.h"
#include "mod_aoproxy_errors.h"
#include "mod_aoproxy_health.h"
#include "mod_aoproxy_snapshot.h"

static const aop_effective_t *effective_at(const aop_view_t *view, int idx)
{
    return APR_ARRAY_IDX(view->effective, idx, aop_effective_t *);
}

/* An instance's configuration as the API shows it: the keys, the key masked, and the
 * stored version it is at (0: never changed through the API). */
static json_object *config_json(const aop_view_t *view, int idx)
{
    const aop_effective_t *e = effective_at(view, idx);
    json_object *o = aop_instance_to_json(e->inst, 0);

    json_object_object_add(o, "version", json_object_new_int(e->version));
    return o;
}

static json_object *all_configs(const aop_view_t *view)
{
    json_object *arr = json_object_new_array();
    int i;

    for (i = 0; i < view->cfg->instances->nelts; i++) {
        json_object_array_add(arr, config_json(view, i));
    }
    return arr;
}

/* ------------------------------------------------------------------ /instances */

static int serves(const aop_instance_t *inst, const char *model)
{
    return aop_instance_deployment(inst, model) != NULL;
}

/* ?model=, ?status= (a health state, or enabled), ?provider_type=: all must hold. */
void aop_api_get_instances(aop_api_t *q)
{
    apr_table_t *args = NULL;
    const char *model, *status, *provider;
    aop_snapshot_t *snap = NULL;
    json_object *root, *arr;
    int i;

    ap_args_to_table(q->r, &args);
    model = apr_table_get(args, "model");
    status = apr_table_get(args, "status");
    provider = apr_table_get(args, "provider_type");
    if (status && strcmp(status, "enabled") != 0) {
        static const char *const known[] = { "healthy", "degraded", "rate_limited",
                                             "unhealthy", "disabled", NULL };
        for (i = 0; known[i] && strcmp(known[i], status) != 0; i++) {
        }
        if (!known[i]) {
            aop_send_error(q->r, HTTP_BAD_REQUEST, "status must be one of healthy, degraded, "
                           "rate_limited, unhealthy, disabled, enabled.", "status",
                           "invalid_filter");
            return;
        }
        snap = aop_snapshot_take(q->r->pool, q->view, 0);
    }
    root = aop_json_own(q->r->pool, json_object_new_object());
    arr = json_object_new_array();
    for (i = 0; i < q->view->cfg->instances->nelts; i++) {
        const aop_instance_t *inst = APR_ARRAY_IDX(q->view->cfg->instances, i,
                                                   aop_instance_t *);

        if ((model && !serves(inst, model))
            || (provider && strcmp(inst->provider_type, provider) != 0)
            || (status && !snap && !inst->enabled)
            || (snap && strcmp(aop_health_name(snap->health[i].status), status) != 0)) {
            continue;
        }
        json_object_array_add(arr, config_json(q->view, i));
    }
    json_object_object_add(root, "count", json_object_new_int((int)json_object_array_length(arr)));
    json_object_object_add(root, "instances", arr);
    aop_api_send(q, root);
}

void aop_api_get_instances_config(aop_api_t *q)
{
    json_object *root = aop_json_own(q->r->pool, json_object_new_object());

    json_object_object_add(root, "instances", all_configs(q->view));
    aop_api_send(q, root);
}

void aop_api_get_instance_config(aop_api_t *q)
{
    int idx = aop_view_find(q->view, q->arg);

    if (idx < 0) {
        aop_api_not_found(q, q->arg);
        return;
    }
    aop_api_send(q, aop_json_own(q->r->pool, config_json(q->view, idx)));
}

/* ------------------------------------------------------------------ /config */

/* p: the iterator's (a hash's own one is not for concurrent readers). */
static json_object *by_model_json(apr_pool_t *p, const aop_config_t *cfg)
{
    json_object *o = json_object_new_object();
    apr_hash_index_t *hi;

    for (hi = cfg->first_token_by_model ? apr_hash_first(p, cfg->first_token_by_model)
                                        : NULL; hi; hi = apr_hash_next(hi)) {
        json_object_object_add(o, apr_hash_this_key(hi),
                               json_object_new_double(*(const double *)apr_hash_this_val(hi)));
    }
    return o;
}

static json_object *routing_json(apr_pool_t *p, const aop_config_t *cfg)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "strategy", json_object_new_string(aop_strategy_name(cfg->strategy)));
    json_object_object_add(o, "retries", json_object_new_int(cfg->retries));
    json_object_object_add(o, "timeout", json_object_new_double(cfg->timeout));
    json_object_object_add(o, "first_token_timeout",
                           json_object_new_double(cfg->first_token_timeout));
    json_object_object_add(o, "first_token_timeout_by_model", by_model_json(p, cfg));
    json_object_object_add(o, "stream_idle_timeout",
                           json_object_new_double(cfg->stream_idle_timeout));
    return o;
}

/* The effective configuration; secrets (keys, the webhook URL) are masked. */
static json_object *config_root(apr_pool_t *p, const aop_view_t *view)
{
    const aop_config_t *cfg = view->cfg;
    json_object *root = json_object_new_object();
    json_object *logging = json_object_new_object(), *monitoring = json_object_new_object();

    json_object_object_add(root, "name", json_object_new_string(cfg->name ? cfg->name : ""));
    json_object_object_add(root, "version",
                           json_object_new_string(cfg->version ? cfg->version : ""));
    json_object_object_add(root, "port", json_object_new_int(cfg->port));
    json_object_object_add(root, "routing", routing_json(p, cfg));
    json_object_object_add(logging, "level",
                           json_object_new_string(cfg->log_level ? cfg->log_level : "INFO"));
    json_object_object_add(logging, "feishu_webhook",
                           json_object_new_string(cfg->feishu_webhook && *cfg->feishu_webhook
                                                  ? "***" : ""));
    json_object_object_add(root, "logging", logging);
    json_object_object_add(monitoring, "stats_window_minutes",
                           json_object_new_int(cfg->stats_window_minutes));
    json_object_object_add(monitoring, "additional_windows", aop_json_int_array(cfg->additional_windows));
    json_object_object_add(root, "monitoring", monitoring);
    json_object_object_add(root, "instances", all_configs(view));
    return root;
}

void aop_api_get_config(aop_api_t *q)
{
    aop_api_send(q, aop_json_own(q->r->pool, config_root(q->r->pool, q->view)));
}

/* /config plus where it stands: the generation and each instance's field sources. */
void aop_api_get_effective(aop_api_t *q)
{
    json_object *root = aop_json_own(q->r->pool, config_root(q->r->pool, q->view));
    json_object *sources = json_object_new_object();
    int i;

    for (i = 0; i < q->view->cfg->instances->nelts; i++) {
        const aop_effective_t *e = effective_at(q->view, i);

        json_object_object_add(sources, e->inst->name, aop_effective_sources_json(e));
    }
    json_object_object_add(root, "generation",
                           json_object_new_int64((apr_int64_t)q->view->generation));
    json_object_object_add(root, "sources", sources);
    aop_api_send(q, root);
}

/* ------------------------------------------------------------------ /admin/config */

static int exists(apr_pool_t *p, const char *path)
{
    apr_finfo_t fi;

    return path && apr_stat(&fi, path, APR_FINFO_TYPE, p) == APR_SUCCESS;
}

static json_object *layer_json(apr_pool_t *p, const char *layer, const char *location,
                               int count)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "layer", json_object_new_string(layer));
    if (location) {
        json_object_object_add(o, "location", json_object_new_string(location));
        json_object_object_add(o, "exists", json_object_new_boolean(exists(p, location)));
    }
    if (count >= 0) {
        json_object_object_add(o, "fields_set", json_object_new_int(count));
    }
    return o;
}

/* How many fields of the live instances each layer sets. */
static void count_fields(const aop_view_t *view, int counts[4])
{
    int i;

    for (i = 0; i < view->effective->nelts; i++) {
        apr_hash_index_t *hi;

        for (hi = apr_hash_first(NULL, effective_at(view, i)->sources); hi;
             hi = apr_hash_next(hi)) {
            const aop_field_source_t *src = apr_hash_this_val(hi);

            counts[src->layer]++;
        }
    }
}

void aop_api_get_layers(aop_api_t *q)
{
    aop_fleet_t *fleet = q->view->fleet;
    json_object *root = aop_json_own(q->r->pool, json_object_new_object());
    json_object *layers = json_object_new_array();
    int counts[4] = { 0, 0, 0, 0 };

    count_fields(q->view, counts);
    json_object_array_add(layers, layer_json(q->r->pool, "database", fleet->db_path,
                                             counts[AOP_LAYER_DATABASE]));
    json_object_array_add(layers, layer_json(q->r->pool, "state_file", fleet->state_file,
                                             counts[AOP_LAYER_STATE_FILE]));
    json_object_array_add(layers, layer_json(q->r->pool, "yaml", NULL, counts[AOP_LAYER_YAML]));
    json_object_object_add(json_object_array_get_idx(layers, 2), "files",
                           aop_json_str_array(q->view->cfg->files));
    json_object_array_add(layers, layer_json(q->r->pool, "default", NULL,
                                             counts[AOP_LAYER_DEFAULT]));
    json_object_object_add(root, "precedence", layers);
    json_object_object_add(root, "config_dir", json_object_new_string(fleet->config_dir));
    json_object_object_add(root, "environment", fleet->environment
                           ? json_object_new_string(fleet->environment) : NULL);
    json_object_object_add(root, "generation",
                           json_object_new_int64((apr_int64_t)q->view->generation));
    json_object_object_add(root, "instances",
                           json_object_new_int(q->view->cfg->instances->nelts));
    aop_api_send(q, root);
}

void aop_api_get_instance_sources(aop_api_t *q)
{
    int idx = aop_view_find(q->view, q->arg);
    json_object *root;

    if (idx < 0) {
        aop_api_not_found(q, q->arg);
        return;
    }
    root = aop_json_own(q->r->pool, json_object_new_object());
    json_object_object_add(root, "instance", json_object_new_string(q->arg));
    json_object_object_add(root, "version", json_object_new_int(effective_at(q->view, idx)->version));
    json_object_object_add(root, "sources", aop_effective_sources_json(effective_at(q->view, idx)));
    aop_api_send(q, root);
}

/* ------------------------------------------------------------------ versions */

static json_object *version_json(const aop_store_version_t *v)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "version", json_object_new_int(v->version));
    json_object_object_add(o, "change", json_object_new_string(v->change));
    json_object_object_add(o, "changed_at", json_object_new_string(v->changed_at));
    json_object_object_add(o, "changed_by", v->changed_by ? json_object_new_string(v->changed_by)
                                                          : NULL);
    json_object_object_add(o, "fields", aop_json_str_array(v->fields));
    json_object_object_add(o, "instance", v->instance ? json_object_get(v->instance) : NULL);
    return o;
}

void aop_api_get_versions(aop_api_t *q)
{
    apr_array_header_t *versions;
    aop_store_result_t res;
    json_object *root, *arr;
    int i;

    if (aop_store_versions(q->r->pool, q->view->fleet->db_path, q->arg, &versions, &res)
        != APR_SUCCESS) {
        if (res.status == AOP_STORE_NOT_FOUND) {
            aop_send_error(q->r, HTTP_NOT_FOUND, apr_psprintf(
                               q->r->pool, "No stored versions of `%s`: it was never changed "
                               "through the API.", q->arg), "name", "versions_not_found");
        }
        else {
            aop_api_store_error(q, &res);
        }
        return;
    }
    root = aop_json_own(q->r->pool, json_object_new_object());
    arr = json_object_new_array();
    for (i = 0; i < versions->nelts; i++) {
        json_object_array_add(arr, version_json(APR_ARRAY_IDX(versions, i,
                                                              aop_store_version_t *)));
    }
    json_object_object_add(root, "instance", json_object_new_string(q->arg));
    json_object_object_add(root, "versions", arr);
    aop_api_send(q, root);
}
