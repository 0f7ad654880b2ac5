/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* From an OpenAI request to an Azure OpenAI one: which operation the path names,
 * which instances serve a model (exact names only), and the backend path. */
#ifndef AOP_ROUTE_H
#define AOP_ROUTE_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_hash.h>

#include "aop_config.h"
#include "aop_path.h"
#include "aop_select.h"

/* One model's way to its instances. */
typedef struct aop_route_t {
    apr_array_header_t *candidates;   /* int: indices into cfg->instances, in order */
    const int *schedule;              /* positions in candidates: aop_select_schedule() */
    int schedule_len;                 /* 0: none (then every pick is aop_select()'s) */
    aop_cand_t *cand;                 /* parallel to candidates: priority and weight */
    /* Made by aop_route_table_patch(): the first kept_head and the last kept_tail
     * candidates are the previous route's (-1: made anew). */
    int kept_head, kept_tail;
    int resumes;                      /* a candidate's deployment has stream_resume */
} aop_route_t;

typedef struct aop_route_table_t {
    const aop_config_t *cfg;
    apr_hash_t *by_model;             /* model -> aop_route_t */
    apr_array_header_t *models;       /* const char *, sorted, each once */
} aop_route_table_t;

/* The routes of cfg's enabled instances, each with its strategy's schedule. */
aop_route_table_t *aop_route_table_build(apr_pool_t *p, const aop_config_t *cfg);

/* The routes of cfg after a change from prev's configuration that kept its first
 * head and last tail instances as they were (prev_n instances then): each route's
 * candidates are prev's of those, and the enabled instances between are read, so
 * that the cost is in plain arrays, not in every instance (thousands) read again.
 * The strategy must be prev's (else aop_route_table_build). */
aop_route_table_t *aop_route_table_patch(apr_pool_t *p, const aop_config_t *cfg,
                                         const aop_route_table_t *prev, int head, int tail,
                                         int prev_n);

/* The route of this exact model name; NULL when no enabled instance lists it. */
const aop_route_t *aop_route_find(const aop_route_table_t *t, const char *model);

/* Indices into cfg->instances of the enabled instances that list this exact model,
 * in configuration order; NULL when none does. */
const apr_array_header_t *aop_route_candidates(const aop_route_table_t *t, const char *model);

/* Whether inst is called in Azure's v1 style (api_version "v1"): /openai/v1/OP, no
 * api-version, the deployment as the body's model. */
int aop_route_is_v1(const aop_instance_t *inst);

/* Whether the body's model must become the deployment's name for op on inst: v1
 * style, and the Responses API in either style (its path names no deployment). */
int aop_route_model_in_body(const aop_instance_t *inst, aop_op_e op);

/* The backend path (after the origin) of op on inst:
 *   dated:  BASE/openai/deployments/DEPLOYMENT/OP?api-version=V
 *           BASE/openai/responses[/ID[/cancel|/input_items]]?api-version=RV
 *   v1:     BASE/openai/v1/OP, BASE/openai/v1/responses[/ID...]
 * with names percent-encoded.  query: the client's query string for a by-id call
 * (stream, starting_after, limit...), passed on without any api-version of its own;
 * NULL or "" for none. */
const char *aop_route_backend_path(apr_pool_t *p, const aop_instance_t *inst,
                                   const char *deployment, aop_op_e op,
                                   const char *response_id, const char *query);

/* before + the instance's origin + aop_route_backend_path(): the URL of a call, in
 * one allocation (mod_proxy's "proxy:" filename, for one). */
char *aop_route_backend_url(apr_pool_t *p, const char *before,
                            const aop_instance_t *inst, const char *deployment,
                            aop_op_e op, const char *response_id, const char *query);

#endif
