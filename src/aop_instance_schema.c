/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The instance's fields (aop_instance_schema.h): the table, the rules of its string
 * fields, and what every reader needs to walk it.  The rules' wording is shared by
 * YAML and JSON, so that a value is refused with the same words whatever its source. */
#include <limits.h>
#include <string.h>

#include <apr_strings.h>

#include "aop_config.h"
#include "aop_rpm.h"
#include "aop_token.h"

/* --------------------------------------------------------------------------
 * the rules of string fields
 */
static const char *check_name(apr_pool_t *p, const char *value, const char *shown,
                              const char *note)
{
    if (aop_instance_name_ok(value)) {
        return NULL;
    }
    return apr_psprintf(p, "%s is not a valid instance name (1..%d characters of A-Z a-z "
                        "0-9 . _ -)%s", shown, AOP_NAME_MAX, note);
}

/* The only provider there is; the field stays so that files of the Python version,
 * which all say azure, keep loading. */
static const char *check_provider(apr_pool_t *p, const char *value, const char *shown,
                                  const char *note)
{
    (void)note;
    if (!strcmp(value, "azure")) {
        return NULL;
    }
    return apr_psprintf(p, "unsupported provider %s (expected: azure)", shown);
}

/* api_version goes into the query string of every upstream request. */
static const char *check_api_version(apr_pool_t *p, const char *value, const char *shown,
                                     const char *note)
{
    if (aop_config_safe_name(value, 1)) {
        return NULL;
    }
    return apr_psprintf(p, "%s must be [A-Za-z0-9._-]+ (it is part of the URL query)%s",
                        shown, note);
}

static const char *check_auth_type(apr_pool_t *p, const char *value, const char *shown,
                                   const char *note)
{
    aop_auth_e type;

    if (aop_auth_parse(value, &type)) {
        return NULL;
    }
    return apr_psprintf(p, "unknown auth type %s (expected one of: api_key, entra, "
                        "managed_identity, workload_identity)%s", shown, note);
}

/* The tenant goes into the token endpoint's path. */
static const char *check_tenant(apr_pool_t *p, const char *value, const char *shown,
                                const char *note)
{
    if (aop_config_safe_name(value, 1)) {
        return NULL;
    }
    return apr_psprintf(p, "%s must be [A-Za-z0-9._-]+ (a GUID or a domain name: it is "
                        "part of the token endpoint's URL)%s", shown, note);
}

/* The token endpoint's origin: the secret and the assertion are sent there. */
static const char *check_authority(apr_pool_t *p, const char *value, const char *shown,
                                   const char *note)
{
    const char *why = aop_token_authority_problem(value);

    return why ? apr_psprintf(p, "%s %s%s", shown, why, note) : NULL;
}

/* --------------------------------------------------------------------------
 * the table
 */
#define AT(m) offsetof(aop_instance_t, m)
#define BOTH (AOP_FIELD_YAML | AOP_FIELD_API)

#define STRING(k, m, flags, def, check)  { k, AOP_FIELD_STRING, AT(m), flags, 0, 0, 0, def, check }
#define TYPED(k, type, m, flags)         { k, type, AT(m), flags, 0, 0, 0, NULL, NULL }
#define NUMBER(k, type, m, lo, hi, def)  { k, type, AT(m), BOTH, lo, hi, def, NULL, NULL }

const aop_field_t aop_instance_fields[] = {
    STRING("name", name, BOTH | AOP_FIELD_NAME | AOP_FIELD_REQUIRED, NULL, check_name),
    STRING("provider_type", provider_type, BOTH, "azure", check_provider),
    STRING("api_key", api_key, BOTH | AOP_FIELD_SECRET, NULL, NULL),
    TYPED("api_key_file", AOP_FIELD_FILE, api_key_file, AOP_FIELD_YAML),
    TYPED("api_base", AOP_FIELD_URL, api_base, BOTH | AOP_FIELD_REQUIRED),
    STRING("api_version", api_version, BOTH | AOP_FIELD_REQUIRED | AOP_FIELD_CHECK_LAST, NULL,
           check_api_version),
    /* The Responses API has its own dated versions (the chat ones do not serve it). */
    STRING("responses_api_version", responses_api_version, BOTH, AOP_RESPONSES_API_VERSION,
           check_api_version),
    NUMBER("priority", AOP_FIELD_INT, priority, INT_MIN, INT_MAX, 100),
    NUMBER("weight", AOP_FIELD_INT, weight, 0, INT_MAX, 100),
    NUMBER("max_tpm", AOP_FIELD_INT64, max_tpm, 0, APR_INT64_MAX, 0),
    NUMBER("max_rpm", AOP_FIELD_INT64, max_rpm, 0, AOP_RPM_MAX, 0),
    NUMBER("enabled", AOP_FIELD_BOOL, enabled, 0, 1, 1),
    TYPED("supported_models", AOP_FIELD_MODELS, supported_models, BOTH | AOP_FIELD_REQUIRED),
    TYPED("model_deployments", AOP_FIELD_DEPLOYMENTS, model_deployments, BOTH),
    /* The worker's connection pool (src/mod_aoproxy_balancer.c applies them).  The
     * bounds are mod_proxy's where it has one (ThreadLimit's hard limit for max),
     * else a day, far beyond any sane value but short of overflowing microseconds. */
    NUMBER("pool_max", AOP_FIELD_INT, pool_max, 0, AOP_POOL_MAX_LIMIT, 0),
    NUMBER("pool_ttl", AOP_FIELD_INT, pool_ttl, 0, 86400, 0),
    NUMBER("disable_reuse", AOP_FIELD_BOOL, disable_reuse, 0, 1, 0),
    NUMBER("tcp_keepalive", AOP_FIELD_BOOL, tcp_keepalive, 0, 1, 0),
    NUMBER("connect_timeout", AOP_FIELD_INT, connect_timeout, 0, 3600, 0),
    STRING("auth.type", auth_type, BOTH, NULL, check_auth_type),
    STRING("auth.tenant_id", tenant_id, BOTH, NULL, check_tenant),
    STRING("auth.client_id", client_id, BOTH, NULL, NULL),
    STRING("auth.client_secret", client_secret, BOTH | AOP_FIELD_SECRET, NULL, NULL),
    TYPED("auth.client_secret_file", AOP_FIELD_FILE, client_secret_file, AOP_FIELD_YAML),
    TYPED("auth.client_certificate_file", AOP_FIELD_FILE, client_certificate_file, BOTH),
    STRING("auth.authority_host", authority_host, BOTH, NULL, check_authority),
    TYPED("auth.federated_token_file", AOP_FIELD_FILE, federated_token_file, BOTH),
    { NULL, AOP_FIELD_STRING, 0, 0, 0, 0, 0, NULL, NULL }
};

/* --------------------------------------------------------------------------
 * walking it
 */
static int has(const aop_field_t *f, unsigned flags)
{
    return (f->flags & flags) == flags;
}

const aop_field_t *aop_field_find(const char *key, unsigned flags)
{
    const aop_field_t *f;

    for (f = aop_instance_fields; key && f->key; ++f) {
        if (has(f, flags) && !strcmp(f->key, key)) {
            return f;
        }
    }
    return NULL;
}

const aop_field_t *aop_field_name(void)
{
    const aop_field_t *f = aop_instance_fields;

    while (f->key && !has(f, AOP_FIELD_NAME)) {
        ++f;
    }
    return f;
}

apr_array_header_t *aop_field_keys(apr_pool_t *p, unsigned flags)
{
    apr_array_header_t *keys = apr_array_make(p, 16, sizeof(const char *));
    const aop_field_t *f;

    for (f = aop_instance_fields; f->key; ++f) {
        if (has(f, flags)) {
            APR_ARRAY_PUSH(keys, const char *) = f->key;
        }
    }
    return keys;
}

const char *aop_field_key_list(apr_pool_t *p, unsigned flags)
{
    apr_array_header_t *keys = aop_field_keys(p, flags);
    const char *list = "";
    int i;

    for (i = 0; i < keys->nelts; ++i) {
        list = apr_pstrcat(p, list, i ? ", " : "", APR_ARRAY_IDX(keys, i, const char *), NULL);
    }
    return list;
}

const char *aop_field_what(const aop_field_t *f)
{
    if (f->type == AOP_FIELD_URL) {
        return "a URL";
    }
    return f->type == AOP_FIELD_FILE ? "a file name" : "a string";
}

void aop_field_reset(apr_pool_t *p, aop_instance_t *inst, const aop_field_t *f)
{
    switch (f->type) {
    case AOP_FIELD_URL:
        inst->scheme = inst->host = inst->origin = inst->base_path = NULL;
        inst->port = 0;
        *AOP_FIELD_AT(inst, f, const char *) = NULL;
        break;
    case AOP_FIELD_STRING:
    case AOP_FIELD_FILE:
        *AOP_FIELD_AT(inst, f, const char *) = f->def_str;
        break;
    case AOP_FIELD_INT:
    case AOP_FIELD_BOOL:
        *AOP_FIELD_AT(inst, f, int) = (int)f->def;
        break;
    case AOP_FIELD_INT64:
        *AOP_FIELD_AT(inst, f, apr_int64_t) = f->def;
        break;
    case AOP_FIELD_MODELS:
        *AOP_FIELD_AT(inst, f, apr_array_header_t *) = apr_array_make(p, 4, sizeof(const char *));
        break;
    case AOP_FIELD_DEPLOYMENTS:
        *AOP_FIELD_AT(inst, f, apr_hash_t *) = apr_hash_make(p);
        inst->deployment_limits = apr_hash_make(p);
        break;
    }
}

int aop_field_is_set(const aop_instance_t *inst, const aop_field_t *f)
{
    const apr_array_header_t *models;
    apr_hash_t *deps;

    switch (f->type) {
    case AOP_FIELD_STRING:
    case AOP_FIELD_URL:
    case AOP_FIELD_FILE:
        return *AOP_FIELD_AT(inst, f, const char *const) != NULL;
    case AOP_FIELD_MODELS:
        models = *AOP_FIELD_AT(inst, f, apr_array_header_t *const);
        return models && models->nelts > 0;
    case AOP_FIELD_DEPLOYMENTS:
        deps = *AOP_FIELD_AT(inst, f, apr_hash_t *const);
        return deps && apr_hash_count(deps) > 0;
    case AOP_FIELD_INT:
    case AOP_FIELD_INT64:
    case AOP_FIELD_BOOL:
        break;
    }
    return 1;
}

const char *aop_range_problem(apr_pool_t *p, apr_int64_t lo, apr_int64_t hi, apr_int64_t v)
{
    if (v >= lo && v <= hi) {
        return NULL;
    }
    /* "between 0 and 2147483647" says little more than ">= 0" when below */
    if (v < lo && lo > INT_MIN && (hi == APR_INT64_MAX || hi == INT_MAX)) {
        return apr_psprintf(p, "must be >= %" APR_INT64_T_FMT ", got %" APR_INT64_T_FMT, lo, v);
    }
    return apr_psprintf(p, "must be between %" APR_INT64_T_FMT " and %" APR_INT64_T_FMT
                        ", got %" APR_INT64_T_FMT, lo, hi, v);
}

/* --------------------------------------------------------------------------
 * instances
 */
aop_instance_t *aop_instance_new(apr_pool_t *p, const char *file, int line)
{
    aop_instance_t *inst = apr_pcalloc(p, sizeof(*inst));
    const aop_field_t *f;

    for (f = aop_instance_fields; f->key; ++f) {
        aop_field_reset(p, inst, f);
    }
    inst->sources = apr_table_make(p, 16);
    inst->file = file;
    inst->line = line;
    return inst;
}

aop_instance_t *aop_instance_copy(apr_pool_t *p, const aop_instance_t *base)
{
    aop_instance_t *inst = apr_pmemdup(p, base, sizeof(*base));
    const aop_field_t *f;
    apr_array_header_t **models;
    apr_hash_t **deps;

    for (f = aop_instance_fields; f->key; ++f) {
        if (f->type == AOP_FIELD_MODELS) {
            models = AOP_FIELD_AT(inst, f, apr_array_header_t *);
            *models = *models ? apr_array_copy(p, *models)
                              : apr_array_make(p, 4, sizeof(const char *));
        }
        else if (f->type == AOP_FIELD_DEPLOYMENTS) {
            deps = AOP_FIELD_AT(inst, f, apr_hash_t *);
            *deps = *deps ? apr_hash_copy(p, *deps) : apr_hash_make(p);
            inst->deployment_limits = inst->deployment_limits
                                      ? apr_hash_copy(p, inst->deployment_limits)
                                      : apr_hash_make(p);
        }
    }
    inst->sources = base->sources ? apr_table_copy(p, base->sources) : apr_table_make(p, 16);
    /* A copy is made to be changed: its maps may no longer say what the index does. */
    inst->deployment_at = NULL;
    inst->limits_at = NULL;
    inst->models_indexed = 0;
    return inst;
}

void aop_instance_index_models(apr_pool_t *p, aop_instance_t *inst)
{
    int i, n = inst->supported_models ? inst->supported_models->nelts : 0;

    inst->deployment_at = apr_palloc(p, sizeof(*inst->deployment_at) * (apr_size_t)(n + 1));
    inst->limits_at = apr_palloc(p, sizeof(*inst->limits_at) * (apr_size_t)(n + 1));
    for (i = 0; i < n; i++) {
        const char *model = APR_ARRAY_IDX(inst->supported_models, i, const char *);

        inst->deployment_at[i] = aop_instance_deployment(inst, model);
        inst->limits_at[i] = aop_instance_limits(inst, model);
    }
    inst->models_indexed = n;
}

int aop_instance_model_index(const aop_instance_t *inst, const char *model)
{
    int i;

    if (!inst || !inst->supported_models || !model) {
        return -1;
    }
    for (i = 0; i < inst->supported_models->nelts; i++) {
        if (strcmp(APR_ARRAY_IDX(inst->supported_models, i, const char *), model) == 0) {
            return i;
        }
    }
    return -1;
}

int aop_instance_name_ok(const char *name)
{
    return aop_config_safe_name(name, 1) && strlen(name) <= AOP_NAME_MAX;
}

const char *aop_instance_deployment(const aop_instance_t *inst, const char *model)
{
    if (!inst || !inst->model_deployments || !model) {
        return NULL;
    }
    return apr_hash_get(inst->model_deployments, model, APR_HASH_KEY_STRING);
}

const aop_deployment_limits_t *aop_instance_limits(const aop_instance_t *inst,
                                                   const char *model)
{
    if (!inst || !inst->deployment_limits || !model) {
        return NULL;
    }
    return apr_hash_get(inst->deployment_limits, model, APR_HASH_KEY_STRING);
}

void aop_instance_set_limits(apr_pool_t *p, aop_instance_t *inst, const char *model,
                             const aop_deployment_limits_t *lim)
{
    aop_deployment_limits_t *copy = NULL;

    if (!inst->deployment_limits) {
        inst->deployment_limits = apr_hash_make(p);
    }
    if (lim && (lim->max_tpm > 0 || lim->max_rpm > 0 || lim->stream_resume)) {
        copy = apr_pmemdup(p, lim, sizeof(*lim));
    }
    apr_hash_set(inst->deployment_limits, apr_pstrdup(p, model), APR_HASH_KEY_STRING, copy);
}

int aop_instance_resumes(const aop_instance_t *inst, const char *model)
{
    const aop_deployment_limits_t *lim = aop_instance_limits(inst, model);

    return lim && lim->stream_resume;
}
