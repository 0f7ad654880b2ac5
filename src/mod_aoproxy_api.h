/* The JSON management API (SetHandler aoproxy-api): one table of method + path
 * routes, an admin-key check for mutations, and the handlers' shared helpers. */
#ifndef MOD_AOPROXY_API_H
#define MOD_AOPROXY_API_H

#include <httpd.h>
#include <json-c/json.h>

#include "aop_config.h"
#include "aop_store.h"
#include "mod_aoproxy_config.h"
#include "mod_aoproxy_live.h"

typedef struct aop_api_t {
    request_rec *r;
    aop_srv_conf_t *sc;
    aop_live_t *live;                /* the instances as this request found them */
    const char *arg;                 /* the {name} of a route, or NULL */
} aop_api_t;

typedef void aop_api_fn(aop_api_t *q);

void aop_api_register_hooks(apr_pool_t *p);

/* Sends root (owned by the request pool) as a 200 JSON answer. */
void aop_api_send(aop_api_t *q, json_object *root);

/* An instant as ISO 8601 UTC ("2026-11-24T21:52:21Z"), or JSON null for 0. */
json_object *aop_api_time(apr_pool_t *p, apr_time_t t);

/* An instance's configuration, the key shown as "***". */
json_object *aop_api_instance_config(const aop_instance_t *inst);

/* Handlers (mod_aoproxy_api_stats.c, mod_aoproxy_metrics.c). */
void aop_api_get_stats(aop_api_t *q);
void aop_api_get_stats_windows(aop_api_t *q);
void aop_api_get_stats_instances(aop_api_t *q);
void aop_api_get_stats_health(aop_api_t *q);
void aop_api_post_stats_reset(aop_api_t *q);
void aop_api_get_instance(aop_api_t *q);
void aop_api_get_metrics(aop_api_t *q);

/* Configuration reads (mod_aoproxy_api_config.c). */
void aop_api_get_instances(aop_api_t *q);
void aop_api_get_instances_config(aop_api_t *q);
void aop_api_get_instance_config(aop_api_t *q);
void aop_api_get_config(aop_api_t *q);
void aop_api_get_effective(aop_api_t *q);
void aop_api_get_sources(aop_api_t *q);
void aop_api_get_instance_sources(aop_api_t *q);
void aop_api_get_versions(aop_api_t *q);

/* Changes (mod_aoproxy_api_manage.c). */
void aop_api_post_add(aop_api_t *q);
void aop_api_post_add_many(aop_api_t *q);
void aop_api_patch_instance(aop_api_t *q);
void aop_api_delete_instance(aop_api_t *q);
void aop_api_post_rollback(aop_api_t *q);
void aop_api_post_reload(aop_api_t *q);

/* An instance store failure as the API answers it (400/404/409/503/500), logged
 * when it is the server's fault. */
void aop_api_store_error(aop_api_t *q, const aop_store_result_t *res);

/* Whether /instances/{name} is an endpoint of its own ("add", "add-many"), so that
 * an instance of that name could not be read, changed or deleted there. */
int aop_api_name_reserved(apr_pool_t *p, const char *name);

/* 404 instance_not_found for name. */
void aop_api_not_found(aop_api_t *q, const char *name);

/* POST /instances/verify/{name} (mod_aoproxy_verify.c). */
void aop_api_post_instance_verify(aop_api_t *q);

#endif
