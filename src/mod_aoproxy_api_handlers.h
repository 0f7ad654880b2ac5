/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The management API's handlers, one file per group of endpoints; only the table of
 * endpoints (mod_aoproxy_api_routes.c) names them. */
#ifndef MOD_AOPROXY_API_HANDLERS_H
#define MOD_AOPROXY_API_HANDLERS_H

#include "mod_aoproxy_api.h"

/* Statistics (mod_aoproxy_api_stats.c). */
void aop_api_get_stats(aop_api_t *q);
void aop_api_get_stats_windows(aop_api_t *q);
void aop_api_get_stats_instances(aop_api_t *q);

/* ?limit= and ?after= of a report that lists instances (aop_page.h): the page of
 * the view's instances, or NULL when the query was wrong (a 400 is sent). */
struct aop_page_t;
struct aop_page_t *aop_api_page(aop_api_t *q, int default_limit);
void aop_api_get_stats_health(aop_api_t *q);
void aop_api_post_stats_reset(aop_api_t *q);
void aop_api_get_instance(aop_api_t *q);

/* Prometheus (mod_aoproxy_api_metrics.c). */
void aop_api_get_metrics(aop_api_t *q);

/* Configuration reads (mod_aoproxy_api_config.c). */
void aop_api_get_instances(aop_api_t *q);
void aop_api_get_instances_config(aop_api_t *q);
void aop_api_get_instance_config(aop_api_t *q);
void aop_api_get_config(aop_api_t *q);
void aop_api_get_effective(aop_api_t *q);
void aop_api_get_layers(aop_api_t *q);
void aop_api_get_instance_sources(aop_api_t *q);
void aop_api_get_versions(aop_api_t *q);

/* Changes (mod_aoproxy_api_manage.c). */
void aop_api_post_add(aop_api_t *q);
void aop_api_post_add_many(aop_api_t *q);
void aop_api_patch_instance(aop_api_t *q);
void aop_api_delete_instance(aop_api_t *q);
void aop_api_post_rollback(aop_api_t *q);
void aop_api_post_reload(aop_api_t *q);

/* POST /instances/verify/{name} (mod_aoproxy_api_verify.c). */
void aop_api_post_instance_verify(aop_api_t *q);

#endif
