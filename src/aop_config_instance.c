/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The configuration's instances: YAML -> aop_instance_t, driven by the instance
 * schema (aop_instance_schema.h).
 *
 * An instance is read in three steps: its name first (to name it in every later
 * message), then each key of its map by the type of the key's row, then the checks
 * of the instance as a whole: the example endpoint, the required fields in table
 * order, api_key or api_key_file, and a deployment for every model.  Errors are
 * "FILE:LINE: instances[N](NAME).KEY: message" (aop_yaml.h); the value of api_key is
 * never in one, and neither is a value taken from the environment. */
#include <string.h>
#include <strings.h>

#include <apr_strings.h>

#include "aop_config.h"
#include "aop_rpm.h"
#include "aop_config_instance.h"
#include "aop_secret_file.h"
#include "aop_token.h"
#include "aop_url.h"
#include "aop_yaml_value.h"

/* build_instance(): the instance points at the shipped example endpoint. */
#define AOP_CFG_PLACEHOLDER (APR_OS_START_USERERR + 1)

/* Short names for the tree's types, used on nearly every line below. */
typedef aop_yaml_ctx_t ctx_t;
typedef aop_yaml_node_t node_t;
typedef aop_yaml_pair_t pair_t;

/* --------------------------------------------------------------------------
 * the overlay: instances merge by name
 */
static const char *instance_name_of(const node_t *n)
{
    const pair_t *kv = aop_yaml_find(n, "name");

    if (!kv || kv->val->type != AOP_YAML_SCALAR || kv->val->is_null) {
        return NULL;
    }
    return kv->val->text;
}

static node_t *find_instance(const node_t *seq, int count, const char *name)
{
    int i;

    for (i = 0; i < count; ++i) {
        node_t *n = APR_ARRAY_IDX(seq->items, i, node_t *);
        const char *other = instance_name_of(n);
        if (other && !strcmp(other, name)) {
            return n;
        }
    }
    return NULL;
}

/* A known name is deep-merged into the base entry, a new one is appended.
 * Duplicates within the overlay are reported here because merging would otherwise
 * hide them. */
apr_status_t aop_config_merge_instances(ctx_t *c, node_t *dst, const node_t *src)
{
    apr_hash_t *seen = apr_hash_make(c->p);
    int i, nbase = dst->items->nelts;
    apr_status_t rv;

    for (i = 0; i < src->items->nelts; ++i) {
        node_t *s = APR_ARRAY_IDX(src->items, i, node_t *), *d;
        const char *name = instance_name_of(s);
        const node_t *first = name ? apr_hash_get(seen, name, APR_HASH_KEY_STRING) : NULL;

        if (first) {
            return aop_yaml_fail(c, s->file, aop_yaml_find(s, "name")->val->line,
                                 apr_psprintf(c->p, "instances[%d].name", i),
                                 "duplicate instance name \"%s\" (first at line %d)",
                                 name, aop_yaml_find(first, "name")->val->line);
        }
        if (name) {
            apr_hash_set(seen, name, APR_HASH_KEY_STRING, s);
        }
        if (name && (d = find_instance(dst, nbase, name)) != NULL) {
            if ((rv = aop_yaml_merge(c, d, s, NULL, NULL)) != APR_SUCCESS) {
                return rv;
            }
        }
        else {
            APR_ARRAY_PUSH(dst->items, node_t *) = s;
        }
    }
    return APR_SUCCESS;
}

/* --------------------------------------------------------------------------
 * one field, by its type
 */
static apr_status_t read_string(ctx_t *c, aop_instance_t *inst, const aop_field_t *f,
                                const node_t *val, const char *path)
{
    const char *s, *problem;
    apr_status_t rv = aop_yaml_scalar(c, val, path, aop_field_what(f), &s);

    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (f->check && !(f->flags & AOP_FIELD_CHECK_LAST)
        && (problem = f->check(c->p, s, aop_yaml_shown(c, val),
                               aop_yaml_unset_note(c, val))) != NULL) {
        return aop_yaml_fail(c, val->file, val->line, path, "%s", problem);
    }
    *AOP_FIELD_AT(inst, f, const char *) = s;
    return APR_SUCCESS;
}

static apr_status_t read_url(ctx_t *c, aop_instance_t *inst, const aop_field_t *f,
                             const node_t *val, const char *path)
{
    const char *url, *problem;
    apr_status_t rv = aop_yaml_scalar(c, val, path, aop_field_what(f), &url);

    if (rv != APR_SUCCESS) {
        return rv;
    }
    if ((problem = aop_url_parse_api_base(c->p, url, inst)) != NULL) {
        return aop_yaml_fail(c, val->file, val->line, path, "%s%s", problem,
                             aop_yaml_unset_note(c, val));
    }
    if (!strcmp(inst->scheme, "http")) {
        aop_yaml_warn(c, val->file, val->line, path,
                      "plain http:// sends the API key unencrypted; use https://");
    }
    return APR_SUCCESS;
}

/* A path, absolute or relative to the YAML file that names it. */
static apr_status_t read_file_name(ctx_t *c, aop_instance_t *inst, const aop_field_t *f,
                                   const node_t *val, const char *path)
{
    const char *file, *slash;
    apr_status_t rv = aop_yaml_scalar(c, val, path, aop_field_what(f), &file);

    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (!*file) {
        return aop_yaml_fail(c, val->file, val->line, path, "empty file name%s",
                             aop_yaml_unset_note(c, val));
    }
    if (*file != '/' && (slash = strrchr(val->file, '/')) != NULL) {
        file = apr_pstrcat(c->p, apr_pstrmemdup(c->p, val->file, slash - val->file), "/",
                           file, NULL);
    }
    *AOP_FIELD_AT(inst, f, const char *) = file;
    return APR_SUCCESS;
}

static apr_status_t read_number(ctx_t *c, aop_instance_t *inst, const aop_field_t *f,
                                const node_t *val, const char *path)
{
    apr_int64_t v = 0;
    apr_status_t rv = aop_yaml_int64(c, val, path, f->lo, f->hi, &v);

    if (rv == APR_SUCCESS && f->type == AOP_FIELD_INT) {
        *AOP_FIELD_AT(inst, f, int) = (int)v;
    }
    else if (rv == APR_SUCCESS) {
        *AOP_FIELD_AT(inst, f, apr_int64_t) = v;
    }
    return rv;
}

static apr_status_t read_model(ctx_t *c, const node_t *item, const char *ipath,
                               apr_hash_t *seen, apr_array_header_t *models)
{
    const char *model;
    apr_status_t rv = aop_yaml_scalar(c, item, ipath, "a model name", &model);

    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (!*model) {
        return aop_yaml_fail(c, item->file, item->line, ipath, "empty model name%s",
                             aop_yaml_unset_note(c, item));
    }
    if (apr_hash_get(seen, model, APR_HASH_KEY_STRING)) {
        return aop_yaml_fail(c, item->file, item->line, ipath, "duplicate model \"%s\"",
                             model);
    }
    apr_hash_set(seen, model, APR_HASH_KEY_STRING, model);
    APR_ARRAY_PUSH(models, const char *) = model;
    return APR_SUCCESS;
}

static apr_status_t read_models(ctx_t *c, aop_instance_t *inst, const aop_field_t *f,
                                const node_t *val, const char *path)
{
    apr_hash_t *seen = apr_hash_make(c->p);
    apr_array_header_t *models;
    int i;
    apr_status_t rv;

    if (val->type != AOP_YAML_SEQ) {
        return aop_yaml_fail(c, val->file, val->line, path, "expected a list, got %s",
                             aop_yaml_type_name(val));
    }
    if (val->items->nelts == 0) {
        return aop_yaml_fail(c, val->file, val->line, path, "must list at least one model");
    }
    models = apr_array_make(c->p, val->items->nelts, sizeof(const char *));
    *AOP_FIELD_AT(inst, f, apr_array_header_t *) = models;
    for (i = 0; i < val->items->nelts; ++i) {
        rv = read_model(c, APR_ARRAY_IDX(val->items, i, node_t *),
                        apr_psprintf(c->p, "%s[%d]", path, i), seen, models);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    return APR_SUCCESS;
}

static apr_status_t read_deployment_name(ctx_t *c, const node_t *val, const char *path,
                                         const char **dep)
{
    apr_status_t rv = aop_yaml_scalar(c, val, path, "a deployment name", dep);

    if (rv == APR_SUCCESS && !aop_config_safe_name(*dep, 1)) {
        return aop_yaml_fail(c, val->file, val->line, path,
                             "deployment name %s must be [A-Za-z0-9._-]+ "
                             "(it is part of the URL path)%s",
                             aop_yaml_shown(c, val), aop_yaml_unset_note(c, val));
    }
    return rv;
}

/* A limit of the object form: absent or null is none (0). */
static apr_status_t read_limit(ctx_t *c, const node_t *map, const char *key,
                               const char *path, apr_int64_t hi, apr_int64_t *out)
{
    const pair_t *kv = aop_yaml_find(map, key);

    *out = 0;
    if (!kv || kv->val->is_null) {
        return APR_SUCCESS;
    }
    return aop_yaml_int64(c, kv->val, aop_yaml_key_path(c->p, path, key), 0, hi, out);
}

/* { deployment: NAME, max_tpm: N, max_rpm: N, stream_resume: B }: the deployment's own
 * quota, and whether it takes resumed streams. */
static apr_status_t read_deployment_object(ctx_t *c, aop_instance_t *inst, const char *model,
                                           const node_t *val, const char *path,
                                           const char **dep)
{
    const pair_t *name = aop_yaml_find(val, "deployment"),
                 *resume = aop_yaml_find(val, "stream_resume");
    aop_deployment_limits_t lim = { 0, 0, 0 };
    apr_status_t rv;
    int i;

    for (i = 0; i < val->items->nelts; ++i) {
        const pair_t *kv = &APR_ARRAY_IDX(val->items, i, pair_t);
        if (strcmp(kv->key, "deployment") && strcmp(kv->key, "max_tpm")
            && strcmp(kv->key, "max_rpm") && strcmp(kv->key, "stream_resume")) {
            return aop_yaml_fail(c, kv->file, kv->line, aop_yaml_key_path(c->p, path, kv->key),
                                 "unknown key (expected one of: " AOP_DEPLOYMENT_KEYS ")");
        }
    }
    if (!name || name->val->is_null) {
        return aop_yaml_missing(c, val, "deployment", path, " (the deployment name)");
    }
    if ((rv = read_deployment_name(c, name->val, aop_yaml_key_path(c->p, path, "deployment"),
                                   dep)) != APR_SUCCESS
        || (rv = read_limit(c, val, "max_tpm", path, APR_INT64_MAX, &lim.max_tpm))
           != APR_SUCCESS
        || (rv = read_limit(c, val, "max_rpm", path, AOP_RPM_MAX, &lim.max_rpm)) != APR_SUCCESS
        || (resume && !resume->val->is_null
            && (rv = aop_yaml_bool(c, resume->val, aop_yaml_key_path(c->p, path,
                                                                     "stream_resume"),
                                   &lim.stream_resume)) != APR_SUCCESS)) {
        return rv;
    }
    aop_instance_set_limits(c->p, inst, model, &lim);
    return APR_SUCCESS;
}

/* Into the instance's map, which an earlier key of the same name cannot have filled:
 * the YAML reader refuses duplicate keys.  A value is the deployment's name, or an
 * object with its name and limits. */
static apr_status_t read_deployments(ctx_t *c, aop_instance_t *inst, const aop_field_t *f,
                                     const node_t *val, const char *path)
{
    apr_hash_t *deps = *AOP_FIELD_AT(inst, f, apr_hash_t *);
    const char *dep, *mpath;
    int i;
    apr_status_t rv;

    if (val->type != AOP_YAML_MAP) {
        return aop_yaml_fail(c, val->file, val->line, path,
                             "expected a map of model: deployment, got %s",
                             aop_yaml_type_name(val));
    }
    for (i = 0; i < val->items->nelts; ++i) {
        const pair_t *kv = &APR_ARRAY_IDX(val->items, i, pair_t);
        mpath = aop_yaml_key_path(c->p, path, kv->key);
        if (!*kv->key) {
            return aop_yaml_fail(c, kv->file, kv->line, mpath, "empty model name");
        }
        if (kv->val->is_null) {
            return aop_yaml_missing(c, val, kv->key, path, " (the deployment name)");
        }
        if (kv->val->type == AOP_YAML_MAP) {
            rv = read_deployment_object(c, inst, kv->key, kv->val, mpath, &dep);
        }
        else {
            aop_instance_set_limits(c->p, inst, kv->key, NULL);
            rv = read_deployment_name(c, kv->val, mpath, &dep);
        }
        if (rv != APR_SUCCESS) {
            return rv;
        }
        apr_hash_set(deps, kv->key, APR_HASH_KEY_STRING, dep);
    }
    return APR_SUCCESS;
}

static apr_status_t read_field(ctx_t *c, aop_instance_t *inst, const aop_field_t *f,
                               const node_t *val, const char *path)
{
    switch (f->type) {
    case AOP_FIELD_STRING:
        return read_string(c, inst, f, val, path);
    case AOP_FIELD_URL:
        return read_url(c, inst, f, val, path);
    case AOP_FIELD_FILE:
        return read_file_name(c, inst, f, val, path);
    case AOP_FIELD_INT:
    case AOP_FIELD_INT64:
        return read_number(c, inst, f, val, path);
    case AOP_FIELD_BOOL:
        return aop_yaml_bool(c, val, path, AOP_FIELD_AT(inst, f, int));
    case AOP_FIELD_MODELS:
        return read_models(c, inst, f, val, path);
    case AOP_FIELD_DEPLOYMENTS:
        return read_deployments(c, inst, f, val, path);
    }
    return aop_yaml_fail(c, val->file, val->line, path, "no reader for this field's type");
}

/* One key of the instance's map (or of its auth: map, as "auth.KEY").  Unknown keys
 * are errors so that typos are not silently ignored; a null value leaves the default
 * in place.  The key's file goes into sources, a null's too. */
static apr_status_t read_pair(ctx_t *c, aop_instance_t *inst, const pair_t *kv,
                              const char *key, const char *path)
{
    const aop_field_t *f = aop_field_find(key, AOP_FIELD_YAML);

    if (!f) {
        return aop_yaml_fail(c, kv->file, kv->line, path, "unknown key (expected one of: %s)",
                             aop_field_key_list(c->p, AOP_FIELD_YAML));
    }
    apr_table_setn(inst->sources, f->key, kv->file);
    if (kv->val->is_null || (f->flags & AOP_FIELD_NAME)) {
        return APR_SUCCESS;
    }
    return read_field(c, inst, f, kv->val, path);
}

/* auth: a map whose keys are the rows "auth.KEY" (the table is flat). */
static apr_status_t read_auth(ctx_t *c, aop_instance_t *inst, const pair_t *auth,
                              const char *path)
{
    int i;
    apr_status_t rv;

    if (auth->val->type != AOP_YAML_MAP) {
        return aop_yaml_fail(c, auth->val->file, auth->val->line, path,
                             "expected a map (type, tenant_id, client_id, ...), got %s",
                             aop_yaml_type_name(auth->val));
    }
    for (i = 0; i < auth->val->items->nelts; ++i) {
        const pair_t *kv = &APR_ARRAY_IDX(auth->val->items, i, pair_t);
        if ((rv = read_pair(c, inst, kv, apr_pstrcat(c->p, "auth.", kv->key, NULL),
                            aop_yaml_key_path(c->p, path, kv->key))) != APR_SUCCESS) {
            return rv;
        }
    }
    return APR_SUCCESS;
}

/* Every key of map (a map), but the name, which instance_name() read. */
static apr_status_t read_fields(ctx_t *c, aop_instance_t *inst, const node_t *map,
                                const char *path)
{
    int i;
    apr_status_t rv;

    for (i = 0; i < map->items->nelts; ++i) {
        const pair_t *kv = &APR_ARRAY_IDX(map->items, i, pair_t);
        const char *kpath = aop_yaml_key_path(c->p, path, kv->key);

        if (!strcmp(kv->key, "auth") && !kv->val->is_null) {
            rv = read_auth(c, inst, kv, kpath);
        }
        else {
            rv = read_pair(c, inst, kv, kv->key, kpath);
        }
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    return APR_SUCCESS;
}

static apr_status_t instance_name(ctx_t *c, const node_t *map, const char *path,
                                  aop_instance_t *inst)
{
    const aop_field_t *f = aop_field_name();
    const pair_t *kv = aop_yaml_find(map, f->key);

    if (!kv || kv->val->is_null) {
        return aop_yaml_missing(c, map, f->key, path, "");
    }
    return read_string(c, inst, f, kv->val, aop_yaml_key_path(c->p, path, f->key));
}

/* --------------------------------------------------------------------------
 * the instance as a whole
 */

/* Required fields in table order, each with its rule if that waits for the whole
 * instance (AOP_FIELD_CHECK_LAST); the name was read first. */
static apr_status_t check_fields(ctx_t *c, const node_t *map, aop_instance_t *inst,
                                 const char *path)
{
    const aop_field_t *f;
    const pair_t *kv;
    const char *problem;

    for (f = aop_instance_fields; f->key; ++f) {
        if (!(f->flags & AOP_FIELD_YAML) || (f->flags & AOP_FIELD_NAME)) {
            continue;
        }
        if ((f->flags & AOP_FIELD_REQUIRED) && !aop_field_is_set(inst, f)) {
            return aop_yaml_missing(c, map, f->key, path, "");
        }
        if (!(f->flags & AOP_FIELD_CHECK_LAST) || !f->check || !aop_field_is_set(inst, f)
            || (kv = aop_yaml_find(map, f->key)) == NULL) {
            continue;
        }
        problem = f->check(c->p, *AOP_FIELD_AT(inst, f, const char *),
                           aop_yaml_shown(c, kv->val), aop_yaml_unset_note(c, kv->val));
        if (problem) {
            return aop_yaml_fail(c, kv->val->file, kv->val->line,
                                 aop_yaml_key_path(c->p, path, f->key), "%s", problem);
        }
    }
    return APR_SUCCESS;
}

/* The pair of key in map: "auth.KEY" is KEY of the auth: map (or written flat). */
static const pair_t *find_key(const node_t *map, const char *key)
{
    const pair_t *auth = aop_yaml_find(map, "auth");
    const pair_t *kv = aop_yaml_find(map, key);

    if (!kv && !strncmp(key, "auth.", 5) && auth && auth->val->type == AOP_YAML_MAP) {
        kv = aop_yaml_find(auth->val, key + 5);
    }
    return kv;
}

/* A secret and the file it may be read from instead (api_key / api_key_file,
 * auth.client_secret / auth.client_secret_file): one of them per file; an overlay's
 * choice replaces the base's.  The file is read only now that the instance is
 * complete, since an overlay may give the secret inline instead; it goes into a
 * request (a header, a token request's form) to Azure. */
static apr_status_t resolve_secret(ctx_t *c, const node_t *map, aop_instance_t *inst,
                                   const char *path, const char *key, const char *file_key,
                                   const char **secret, const char **file_name)
{
    const pair_t *kv = find_key(map, key);
    const pair_t *file = find_key(map, file_key);
    const char *fpath = aop_yaml_key_path(c->p, path, file_key), *why;

    if (!*file_name || !file) {
        return APR_SUCCESS;
    }
    if (kv && !kv->val->is_null) {
        if (!strcmp(kv->file, file->file)) {
            return aop_yaml_fail(c, file->file, file->line, fpath, "set either %s or %s, "
                                 "not both (%s at line %d)", key, file_key, key, kv->line);
        }
        if (!strcmp(file->file, inst->file)) {
            *file_name = NULL;                   /* the overlay's inline secret wins */
            return APR_SUCCESS;
        }
    }
    if (inst->sources) {
        apr_table_setn(inst->sources, key, file->file);
    }
    why = aop_secret_file_read(c->p, *file_name, 1, secret);
    return why ? aop_yaml_fail(c, file->val->file, file->val->line, fpath, "%s", why)
               : APR_SUCCESS;
}

/* An enabled instance needs a key; when it is empty because of an unset variable,
 * say which one (the value itself is never shown). */
static apr_status_t check_api_key(ctx_t *c, const node_t *map, const aop_instance_t *inst,
                                  const char *path)
{
    const pair_t *kv = aop_yaml_find(map, "api_key");

    if (!inst->enabled || (inst->api_key && *inst->api_key)) {
        return APR_SUCCESS;
    }
    if (!inst->api_key) {
        return aop_yaml_missing(c, map, "api_key", path, " (needed by an enabled instance)");
    }
    return aop_yaml_fail(c, kv->val->file, kv->val->line,
                         aop_yaml_key_path(c->p, path, "api_key"),
                         "must not be empty for an enabled instance%s",
                         aop_yaml_unset_note(c, kv->val));
}

/* The credential: an api key (the default), else what auth.type needs. */
static apr_status_t check_credential(ctx_t *c, const node_t *map, const aop_instance_t *inst,
                                     const char *path)
{
    const pair_t *auth = aop_yaml_find(map, "auth");
    const char *missing;

    if (aop_auth_of(inst) == AOP_AUTH_API_KEY) {
        return check_api_key(c, map, inst, path);
    }
    if (!inst->enabled || (missing = aop_auth_missing(inst)) == NULL) {
        return APR_SUCCESS;
    }
    return aop_yaml_fail(c, auth ? auth->file : map->file, auth ? auth->line : map->line,
                         aop_yaml_key_path(c->p, path, missing),
                         "missing required field (needed by auth.type %s%s)",
                         inst->auth_type, strcmp(missing, "auth.client_secret") ? ""
                         : "; or auth.client_secret_file");
}

/* A deployment for a model the instance does not list is only a warning, and is
 * dropped so that a lookup never routes a model the instance does not serve. */
static void drop_unused_deployments(ctx_t *c, const node_t *map, aop_instance_t *inst,
                                    const char *path)
{
    const pair_t *deps = aop_yaml_find(map, "model_deployments");
    int i;

    for (i = 0; deps && !deps->val->is_null && i < deps->val->items->nelts; ++i) {
        const pair_t *kv = &APR_ARRAY_IDX(deps->val->items, i, pair_t);
        if (aop_instance_model_index(inst, kv->key) < 0) {
            aop_yaml_warn(c, kv->file, kv->line,
                          apr_psprintf(c->p, "%s.model_deployments.%s", path, kv->key),
                          "model is not in supported_models, its deployment is ignored");
            apr_hash_set(inst->model_deployments, kv->key, APR_HASH_KEY_STRING, NULL);
        }
    }
}

static apr_status_t check_deployments(ctx_t *c, const node_t *map, aop_instance_t *inst,
                                      const char *path)
{
    const node_t *models = aop_yaml_find(map, "supported_models")->val;
    int i;

    for (i = 0; i < inst->supported_models->nelts; ++i) {
        const char *model = APR_ARRAY_IDX(inst->supported_models, i, const char *);
        const node_t *item = APR_ARRAY_IDX(models->items, i, node_t *);
        if (!aop_instance_deployment(inst, model)) {
            return aop_yaml_fail(c, item->file, item->line,
                                 apr_psprintf(c->p, "%s.supported_models[%d]", path, i),
                                 "model \"%s\" has no entry in model_deployments", model);
        }
    }
    drop_unused_deployments(c, map, inst, path);
    return APR_SUCCESS;
}

int aop_config_placeholder_host(const char *host)
{
    static const char suffix[] = ".openai.azure.com";
    apr_size_t n = host ? strlen(host) : 0;

    if (n < sizeof(suffix) - 1 || strcasecmp(host + n - (sizeof(suffix) - 1), suffix)) {
        return 0;
    }
    return !strncasecmp(host, "example.", 8) || !strncasecmp(host, "example-", 8);
}

/* Fails with AOP_CFG_PLACEHOLDER: the instance is left out in every mode, with this
 * as a warning, so that a freshly installed configuration passes configtest and says
 * what to edit. */
static apr_status_t placeholder(ctx_t *c, const node_t *map, const char *path,
                                const aop_instance_t *inst)
{
    const node_t *val = aop_yaml_find(map, "api_base")->val;

    aop_yaml_fail(c, val->file, val->line, aop_yaml_key_path(c->p, path, "api_base"),
                  "%s is the example endpoint shipped with mod_aoproxy: set it to your Azure "
                  "OpenAI resource's endpoint (https://YOUR-RESOURCE.openai.azure.com) in %s; "
                  "the instance is left out until then", inst->api_base, val->file);
    return AOP_CFG_PLACEHOLDER;
}

static apr_status_t check_instance(ctx_t *c, const node_t *map, aop_instance_t *inst,
                                   const char *path)
{
    apr_status_t rv;

    if (inst->api_base && aop_config_placeholder_host(inst->host)) {
        return placeholder(c, map, path, inst);
    }
    if ((rv = check_fields(c, map, inst, path)) != APR_SUCCESS
        || (rv = resolve_secret(c, map, inst, path, "api_key", "api_key_file",
                                &inst->api_key, &inst->api_key_file)) != APR_SUCCESS
        || (rv = resolve_secret(c, map, inst, path, "auth.client_secret",
                                "auth.client_secret_file", &inst->client_secret,
                                &inst->client_secret_file)) != APR_SUCCESS
        || (rv = check_credential(c, map, inst, path)) != APR_SUCCESS) {
        return rv;
    }
    return check_deployments(c, map, inst, path);
}

/* Names are checked for uniqueness as soon as they are known, before the rest of the
 * instance, since a duplicate is the likelier cause of any later complaint. */
static apr_status_t unique_name(ctx_t *c, const node_t *n, const char *path,
                                const aop_instance_t *inst, apr_hash_t *names)
{
    const aop_instance_t *first = apr_hash_get(names, inst->name, APR_HASH_KEY_STRING);

    if (first) {
        return aop_yaml_fail(c, n->file, aop_yaml_find(n, "name")->val->line,
                             apr_psprintf(c->p, "%s.name", path),
                             "duplicate instance name (first defined at %s:%d)",
                             first->file, first->line);
    }
    apr_hash_set(names, inst->name, APR_HASH_KEY_STRING, inst);
    return APR_SUCCESS;
}

static apr_status_t build_instance(ctx_t *c, const node_t *n, int idx, apr_hash_t *names,
                                   aop_instance_t **pinst)
{
    const char *path = apr_psprintf(c->p, "instances[%d]", idx);
    aop_instance_t *inst;
    apr_status_t rv;

    if (n->type != AOP_YAML_MAP) {
        return aop_yaml_fail(c, n->file, n->line, path, "expected a map, got %s",
                             aop_yaml_type_name(n));
    }
    inst = aop_instance_new(c->p, n->file, n->line);
    if ((rv = instance_name(c, n, path, inst)) != APR_SUCCESS) {
        return rv;
    }
    path = apr_psprintf(c->p, "%s(%s)", path, inst->name);
    if ((rv = unique_name(c, n, path, inst, names)) != APR_SUCCESS
        || (rv = read_fields(c, inst, n, path)) != APR_SUCCESS
        || (rv = check_instance(c, n, inst, path)) != APR_SUCCESS) {
        return rv;
    }
    *pinst = inst;
    return APR_SUCCESS;
}

/* --------------------------------------------------------------------------
 * the list
 */
static void leave_out(ctx_t *c, aop_config_t *cfg, const node_t *n, int idx)
{
    aop_left_out_t *out = apr_array_push(cfg->left_out);
    const char *name = n->type == AOP_YAML_MAP ? instance_name_of(n) : NULL;

    out->name = name && aop_config_safe_name(name, 1) ? name
                : apr_psprintf(c->p, "instances[%d]", idx);
    out->problem = c->err;
    c->err = NULL;
}

apr_status_t aop_config_read_instances(ctx_t *c, aop_config_t *cfg, const node_t *val,
                                       const char *path)
{
    apr_hash_t *names = apr_hash_make(c->p);
    aop_instance_t *inst = NULL;
    int i;
    apr_status_t rv;

    if (val->type != AOP_YAML_SEQ) {
        return aop_yaml_fail(c, val->file, val->line, path, "expected a list, got %s",
                             aop_yaml_type_name(val));
    }
    for (i = 0; i < val->items->nelts; ++i) {
        inst = NULL;
        rv = build_instance(c, APR_ARRAY_IDX(val->items, i, node_t *), i, names, &inst);
        if (rv == AOP_CFG_PLACEHOLDER) {
            APR_ARRAY_PUSH(cfg->warnings, const char *) = c->err;
            c->err = NULL;
            continue;
        }
        if (rv != APR_SUCCESS && !cfg->left_out) {
            return rv;
        }
        if (rv != APR_SUCCESS) {
            leave_out(c, cfg, APR_ARRAY_IDX(val->items, i, node_t *), i);
            continue;
        }
        APR_ARRAY_PUSH(cfg->instances, aop_instance_t *) = inst;
    }
    return APR_SUCCESS;
}
