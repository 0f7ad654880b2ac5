#include <apr_strings.h>

#include <http_protocol.h>

#include "aop_json.h"
#include "mod_aoproxy_private.h"
#include "mod_aoproxy_api.h"
#include "mod_aoproxy_config.h"
#include "mod_aoproxy_errors.h"

typedef void api_fn(request_rec *r, const aop_config_t *cfg);

static json_object *string_list(const apr_array_header_t *a)
{
    json_object *arr = json_object_new_array();
    int i;

    for (i = 0; i < a->nelts; i++) {
        json_object_array_add(arr, json_object_new_string(APR_ARRAY_IDX(a, i, const char *)));
    }
    return arr;
}

static json_object *deployments(apr_pool_t *p, const aop_instance_t *inst)
{
    json_object *o = json_object_new_object();
    int i;

    for (i = 0; i < inst->supported_models->nelts; i++) {
        const char *m = APR_ARRAY_IDX(inst->supported_models, i, const char *);
        json_object_object_add(o, m, json_object_new_string(aop_instance_deployment(inst, m)));
    }
    return o;
}

/* An instance's configuration; the key is always masked. */
static json_object *instance_json(apr_pool_t *p, const aop_instance_t *inst)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "name", json_object_new_string(inst->name));
    json_object_object_add(o, "provider_type", json_object_new_string(inst->provider_type));
    json_object_object_add(o, "api_key", json_object_new_string("***"));
    json_object_object_add(o, "api_base", json_object_new_string(inst->api_base));
    json_object_object_add(o, "api_version", json_object_new_string(inst->api_version));
    json_object_object_add(o, "priority", json_object_new_int(inst->priority));
    json_object_object_add(o, "weight", json_object_new_int(inst->weight));
    json_object_object_add(o, "max_tpm", json_object_new_int64(inst->max_tpm));
    json_object_object_add(o, "enabled", json_object_new_boolean(inst->enabled));
    json_object_object_add(o, "supported_models", string_list(inst->supported_models));
    json_object_object_add(o, "model_deployments", deployments(p, inst));
    return o;
}

static json_object *instances_json(apr_pool_t *p, const aop_config_t *cfg)
{
    json_object *arr = json_object_new_array();
    int i;

    for (i = 0; i < cfg->instances->nelts; i++) {
        json_object_array_add(arr, instance_json(p, APR_ARRAY_IDX(cfg->instances, i,
                                                                  aop_instance_t *)));
    }
    return arr;
}

static void get_instances(request_rec *r, const aop_config_t *cfg)
{
    json_object *root = aop_json_own(r->pool, json_object_new_object());

    json_object_object_add(root, "instances", instances_json(r->pool, cfg));
    aop_send_json(r, HTTP_OK, aop_json_to_string(r->pool, root));
}

static json_object *int_list(const apr_array_header_t *a)
{
    json_object *arr = json_object_new_array();
    int i;

    for (i = 0; i < a->nelts; i++) {
        json_object_array_add(arr, json_object_new_int(APR_ARRAY_IDX(a, i, int)));
    }
    return arr;
}

/* The effective configuration; secrets (keys, the webhook URL) are masked. */
static void get_config(request_rec *r, const aop_config_t *cfg)
{
    json_object *root = aop_json_own(r->pool, json_object_new_object());
    json_object *routing = json_object_new_object(), *logging = json_object_new_object();
    json_object *monitoring = json_object_new_object();

    json_object_object_add(root, "name", json_object_new_string(cfg->name ? cfg->name : ""));
    json_object_object_add(root, "version",
                           json_object_new_string(cfg->version ? cfg->version : ""));
    json_object_object_add(root, "port", json_object_new_int(cfg->port));
    json_object_object_add(routing, "strategy",
                           json_object_new_string(aop_strategy_name(cfg->strategy)));
    json_object_object_add(routing, "retries", json_object_new_int(cfg->retries));
    json_object_object_add(routing, "timeout", json_object_new_double(cfg->timeout));
    json_object_object_add(root, "routing", routing);
    json_object_object_add(logging, "level",
                           json_object_new_string(cfg->log_level ? cfg->log_level : "INFO"));
    json_object_object_add(logging, "feishu_webhook",
                           json_object_new_string(cfg->feishu_webhook && *cfg->feishu_webhook
                                                  ? "***" : ""));
    json_object_object_add(root, "logging", logging);
    json_object_object_add(monitoring, "stats_window_minutes",
                           json_object_new_int(cfg->stats_window_minutes));
    json_object_object_add(monitoring, "additional_windows", int_list(cfg->additional_windows));
    json_object_object_add(root, "monitoring", monitoring);
    json_object_object_add(root, "instances", instances_json(r->pool, cfg));
    aop_send_json(r, HTTP_OK, aop_json_to_string(r->pool, root));
}

static const struct {
    int method;
    const char *path;
    api_fn *fn;
} routes[] = {
    { M_GET, "/instances", get_instances },
    { M_GET, "/config", get_config },
};

/* The path below the <Location> is not known here, so routes match the URI's tail. */
static int path_matches(const char *uri, const char *path)
{
    size_t ul = strlen(uri), pl = strlen(path);

    while (ul > 1 && uri[ul - 1] == '/') {
        ul--;
    }
    return ul >= pl && strncmp(uri + ul - pl, path, pl) == 0
           && (ul == pl || uri[ul - pl - 1] == '/');
}

static int aop_api_handler(request_rec *r)
{
    aop_srv_conf_t *sc;
    size_t i;
    int path_known = 0;

    if (!r->handler || strcmp(r->handler, AOP_API_HANDLER) != 0) {
        return DECLINED;
    }
    sc = aop_srv_conf(r->server);
    if (!sc->cfg) {
        aop_send_error(r, HTTP_SERVICE_UNAVAILABLE, "No AOProxyConfigDir is set for this "
                       "server.", NULL, "not_configured");
        return OK;
    }
    for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (path_matches(r->uri, routes[i].path)) {
            path_known = 1;
            if (routes[i].method == r->method_number) {
                routes[i].fn(r, sc->cfg);
                return OK;
            }
        }
    }
    if (path_known) {
        apr_table_setn(r->err_headers_out, "Allow", "GET");
        aop_send_error(r, HTTP_METHOD_NOT_ALLOWED, "Method not allowed.", NULL,
                       "method_not_allowed");
    }
    else {
        aop_send_error(r, HTTP_NOT_FOUND, apr_psprintf(r->pool, "Invalid URL (%s %s)",
                                                       r->method, r->uri), NULL,
                       "unknown_url");
    }
    return OK;
}

void aop_api_register_hooks(apr_pool_t *p)
{
    ap_hook_handler(aop_api_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
