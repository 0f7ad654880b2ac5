/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The JSON management API (SetHandler aoproxy-api): the router (method + path, the
 * admin key for mutations, 301/404/405) and the helpers every handler shares.
 *
 * The router calls no handler by name: the table of endpoints
 * (mod_aoproxy_api_routes.c) is handed to it at registration, so that the handler
 * files (mod_aoproxy_api_*.c) call this one and it calls none of them. */
#ifndef MOD_AOPROXY_API_H
#define MOD_AOPROXY_API_H

#include <httpd.h>
#include <json-c/json.h>

#include "aop_config.h"
#include "aop_store.h"
#include "mod_aoproxy_config.h"
#include "mod_aoproxy_view.h"

typedef struct aop_api_t {
    request_rec *r;
    aop_srv_conf_t *sc;
    aop_view_t *view;                /* the instances as this request found them */
    const char *arg;                 /* the {name} of a route, or NULL */
} aop_api_t;

typedef void aop_api_fn(aop_api_t *q);

/* One endpoint: a method and a path ("*" stands for one path segment, the arg). */
typedef struct aop_api_route_t {
    int method;                      /* M_GET, M_POST, M_PATCH, M_DELETE */
    const char *path;
    aop_api_fn *fn;
    int admin;                       /* needs X-Admin-API-Key */
} aop_api_route_t;

/* The handler hook, serving routes (static: kept, not copied). */
void aop_api_register_hooks(apr_pool_t *p, const aop_api_route_t *routes, apr_size_t n);

/* ---- for the handlers */

/* Sends root (owned by the request pool) as a 200 JSON answer. */
void aop_api_send(aop_api_t *q, json_object *root);

/* An instant as ISO 8601 UTC ("2026-11-24T21:52:21Z"), or JSON null for 0. */
json_object *aop_api_time(apr_pool_t *p, apr_time_t t);

/* An instance's configuration, the key shown as "***". */
json_object *aop_api_instance_config(const aop_instance_t *inst);

/* 404 instance_not_found for name. */
void aop_api_not_found(aop_api_t *q, const char *name);

/* An instance store failure as the API answers it (400/404/409/503/500), logged
 * when it is the server's fault. */
void aop_api_store_error(aop_api_t *q, const aop_store_result_t *res);

/* Whether /instances/{name} is an endpoint of its own ("add", "add-many"), so that
 * an instance of that name could not be read, changed or deleted there. */
int aop_api_name_reserved(apr_pool_t *p, const char *name);

#endif
