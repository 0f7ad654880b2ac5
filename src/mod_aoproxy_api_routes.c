/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Every endpoint of the management API: method, path, handler, whether it needs the
 * admin key.  The router (mod_aoproxy_api.c) is handed this table; a spelled-out path
 * ("/instances/add") beats a "*" segment whatever the order, and a "*" never spans a
 * "/", so the order only decides the order of the methods a 405's Allow lists. */
#include <httpd.h>

#include "mod_aoproxy_private.h"
#include "mod_aoproxy_api.h"
#include "mod_aoproxy_api_handlers.h"
#include "mod_aoproxy_api_routes.h"

static const aop_api_route_t routes[] = {
    { M_GET, "/instances", aop_api_get_instances, 0 },
    { M_GET, "/instances/config/all", aop_api_get_instances_config, 0 },
    { M_GET, "/instances/config/*", aop_api_get_instance_config, 0 },
    { M_GET, "/instances/*", aop_api_get_instance, 0 },
    { M_POST, "/instances/add", aop_api_post_add, 1 },
    { M_POST, "/instances/add-many", aop_api_post_add_many, 1 },
    { M_PATCH, "/instances/*", aop_api_patch_instance, 1 },
    { M_DELETE, "/instances/*", aop_api_delete_instance, 1 },
    { M_GET, "/config", aop_api_get_config, 0 },
    { M_POST, "/config/reload", aop_api_post_reload, 1 },
    { M_GET, "/admin/config/sources", aop_api_get_layers, 1 },
    { M_GET, "/admin/config/instances/*/sources", aop_api_get_instance_sources, 1 },
    { M_GET, "/admin/config/effective", aop_api_get_effective, 1 },
    { M_POST, "/admin/config/reload", aop_api_post_reload, 1 },
    { M_GET, "/admin/instances/*/versions", aop_api_get_versions, 1 },
    { M_POST, "/admin/instances/*/rollback", aop_api_post_rollback, 1 },
    { M_GET, "/stats", aop_api_get_stats, 0 },
    { M_GET, "/stats/windows", aop_api_get_stats_windows, 0 },
    { M_GET, "/stats/instances", aop_api_get_stats_instances, 0 },
    { M_GET, "/stats/health", aop_api_get_stats_health, 0 },
    { M_POST, "/stats/reset", aop_api_post_stats_reset, 1 },
    { M_POST, "/instances/verify/*", aop_api_post_instance_verify, 1 },
    { M_GET, "/metrics", aop_api_get_metrics, 0 },
};

void aop_api_routes_register_hooks(apr_pool_t *p)
{
    aop_api_register_hooks(p, routes, sizeof(routes) / sizeof(routes[0]));
}
