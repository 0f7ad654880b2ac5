/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Instances to and from JSON, with the YAML loader's rules: both walk the instance
 * schema (aop_instance_schema.c), so they share the keys, the ranges, the rules of
 * names and versions, the URL check (aop_url.c) and the required fields.  Only the
 * types are stricter, since JSON has them: an integer must be a JSON integer and a
 * boolean a JSON boolean, where YAML reads both from text.
 *
 * Messages are "FIELD: what is wrong".  They quote names, versions, models and
 * deployments (none of them secret) but never api_key, and never api_base, which a
 * careless operator may have written with credentials in it. */
#include <stdarg.h>
#include <string.h>

#include <apr_hash.h>
#include <apr_strings.h>

#include "aop_instance_json.h"
#include "aop_rpm.h"
#include "aop_token.h"
#include "aop_url.h"

typedef struct {
    apr_pool_t *p;
    const aop_instance_t *base;  /* PATCH: the instance being changed, else NULL */
    const char *err;
    const char *field;
} ctx_t;

static apr_status_t fail(ctx_t *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static apr_status_t fail(ctx_t *c, const char *field, const char *fmt, ...)
{
    va_list ap;
    const char *what;

    va_start(ap, fmt);
    what = apr_pvsprintf(c->p, fmt, ap);
    va_end(ap);
    c->field = field;
    c->err = field ? apr_pstrcat(c->p, field, ": ", what, NULL) : what;
    return APR_EINVAL;
}

static apr_status_t missing(ctx_t *c, const char *field)
{
    return fail(c, field, "missing required field");
}

static const char *type_name(json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_null:    return "null";
    case json_type_boolean: return "a boolean";
    case json_type_double:  return "a decimal number";
    case json_type_int:     return "an integer";
    case json_type_object:  return "an object";
    case json_type_array:   return "a list";
    case json_type_string:  return "a string";
    }
    return "an unknown type";
}

/* --------------------------------------------------------------------------
 * typed values; the strings are copied, since the JSON object may go first
 */
static apr_status_t get_string(ctx_t *c, json_object *v, const char *field,
                               const char *what, const char **out)
{
    const char *s;

    if (!json_object_is_type(v, json_type_string)) {
        return fail(c, field, "expected %s, got %s", what, type_name(v));
    }
    s = json_object_get_string(v);
    /* json-c keeps a \u0000 inside; as a C string "ok\u0000evil" would be "ok". */
    if (strlen(s) != (size_t)json_object_get_string_len(v)) {
        return fail(c, field, "contains a NUL character (\\u0000)");
    }
    *out = apr_pstrdup(c->p, s);
    return APR_SUCCESS;
}

static apr_status_t get_int64(ctx_t *c, json_object *v, const char *field,
                              apr_int64_t lo, apr_int64_t hi, apr_int64_t *out)
{
    const char *problem;

    if (!json_object_is_type(v, json_type_int)) {
        return fail(c, field, "expected an integer, got %s", type_name(v));
    }
    *out = json_object_get_int64(v);
    /* json-c keeps integers above INT64_MAX as unsigned and reads them as INT64_MAX */
    if (*out == APR_INT64_MAX && json_object_get_uint64(v) > (apr_uint64_t)APR_INT64_MAX) {
        return fail(c, field, "is too large (at most %" APR_INT64_T_FMT ")", hi);
    }
    if ((problem = aop_range_problem(c->p, lo, hi, *out)) != NULL) {
        return fail(c, field, "%s", problem);
    }
    return APR_SUCCESS;
}

/* --------------------------------------------------------------------------
 * one field, by its type; val is never JSON null (that is the field's default)
 */

/* A secret given back as its mask keeps the value it hides (a PATCH), and is no
 * value of its own (an add). */
static apr_status_t read_secret(ctx_t *c, aop_instance_t *inst, const aop_field_t *f,
                                const char *s)
{
    if (strcmp(s, AOP_API_KEY_MASK)) {
        *AOP_FIELD_AT(inst, f, const char *) = s;
        return APR_SUCCESS;
    }
    if (c->base) {
        return APR_SUCCESS;     /* echoed back from a GET: keep the key */
    }
    return fail(c, f->key, "\"" AOP_API_KEY_MASK "\" is the mask shown in place of a key, "
                "not a key");
}

static apr_status_t read_string(ctx_t *c, aop_instance_t *inst, const aop_field_t *f,
                                json_object *val)
{
    const char *s, *problem;
    apr_status_t rv = get_string(c, val, f->key, aop_field_what(f), &s);

    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (f->flags & AOP_FIELD_SECRET) {
        return read_secret(c, inst, f, s);
    }
    if (f->check && (problem = f->check(c->p, s, apr_psprintf(c->p, "\"%.80s\"", s), ""))) {
        return fail(c, f->key, "%s", problem);
    }
    /* a rename is a delete and an add: the history belongs to the name */
    if ((f->flags & AOP_FIELD_NAME) && c->base && strcmp(s, c->base->name)) {
        return fail(c, f->key, "cannot be changed (the instance is \"%s\")", c->base->name);
    }
    if (f->type == AOP_FIELD_URL) {
        /* sets the URL as it keeps it (no trailing '/') and its parts */
        problem = aop_url_parse_api_base(c->p, s, inst);
        return problem ? fail(c, f->key, "%s", problem) : APR_SUCCESS;
    }
    *AOP_FIELD_AT(inst, f, const char *) = s;
    return APR_SUCCESS;
}

static apr_status_t read_number(ctx_t *c, aop_instance_t *inst, const aop_field_t *f,
                                json_object *val)
{
    apr_int64_t n = 0;
    apr_status_t rv = get_int64(c, val, f->key, f->lo, f->hi, &n);

    if (rv == APR_SUCCESS && f->type == AOP_FIELD_INT) {
        *AOP_FIELD_AT(inst, f, int) = (int)n;
    }
    else if (rv == APR_SUCCESS) {
        *AOP_FIELD_AT(inst, f, apr_int64_t) = n;
    }
    return rv;
}

static apr_status_t read_bool(ctx_t *c, aop_instance_t *inst, const aop_field_t *f,
                              json_object *val)
{
    if (!json_object_is_type(val, json_type_boolean)) {
        return fail(c, f->key, "expected true or false, got %s", type_name(val));
    }
    *AOP_FIELD_AT(inst, f, int) = json_object_get_boolean(val) ? 1 : 0;
    return APR_SUCCESS;
}

static apr_status_t add_model(ctx_t *c, apr_array_header_t *models, const char *field,
                              json_object *item, apr_hash_t *seen)
{
    const char *model;
    apr_status_t rv = get_string(c, item, field, "a model name", &model);

    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (!*model) {
        return fail(c, field, "empty model name");
    }
    if (apr_hash_get(seen, model, APR_HASH_KEY_STRING)) {
        return fail(c, field, "duplicate model \"%.80s\"", model);
    }
    apr_hash_set(seen, model, APR_HASH_KEY_STRING, model);
    APR_ARRAY_PUSH(models, const char *) = model;
    return APR_SUCCESS;
}

static apr_status_t read_models(ctx_t *c, aop_instance_t *inst, const aop_field_t *f,
                                json_object *val)
{
    apr_array_header_t *models;
    apr_hash_t *seen = apr_hash_make(c->p);
    size_t i, n;
    apr_status_t rv;

    aop_field_reset(c->p, inst, f);
    models = *AOP_FIELD_AT(inst, f, apr_array_header_t *);
    if (!json_object_is_type(val, json_type_array)) {
        return fail(c, f->key, "expected a list, got %s", type_name(val));
    }
    if ((n = json_object_array_length(val)) == 0) {
        return fail(c, f->key, "must list at least one model");
    }
    for (i = 0; i < n; ++i) {
        rv = add_model(c, models, apr_psprintf(c->p, "%s[%d]", f->key, (int)i),
                       json_object_array_get_idx(val, i), seen);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    return APR_SUCCESS;
}

static apr_status_t deployment_name(ctx_t *c, json_object *v, const char *field,
                                    const char **dep)
{
    apr_status_t rv = get_string(c, v, field, "a deployment name", dep);

    if (rv == APR_SUCCESS && !aop_config_safe_name(*dep, 1)) {
        return fail(c, field, "deployment name \"%.80s\" must be [A-Za-z0-9._-]+ (it is "
                    "part of the URL path)", *dep);
    }
    return rv;
}

/* A limit of the object form: absent or null is none (0). */
static apr_status_t deployment_limit(ctx_t *c, json_object *o, const char *field,
                                     const char *key, apr_int64_t hi, apr_int64_t *out)
{
    json_object *v = NULL;

    *out = 0;
    if (!json_object_object_get_ex(o, key, &v) || !v) {
        return APR_SUCCESS;
    }
    return get_int64(c, v, apr_pstrcat(c->p, field, ".", key, NULL), 0, hi, out);
}

/* { "deployment": NAME, "max_tpm": N, "max_rpm": N, "stream_resume": B }: the
 * deployment's own quota, and whether it takes resumed streams. */
static apr_status_t deployment_object(ctx_t *c, aop_instance_t *inst, const char *model,
                                      const char *field, json_object *o, const char **dep)
{
    json_object *name = NULL, *resume = NULL;
    aop_deployment_limits_t lim = { 0, 0, 0 };
    apr_status_t rv;

    json_object_object_foreach(o, key, unused) {
        (void)unused;
        if (strcmp(key, "deployment") && strcmp(key, "max_tpm") && strcmp(key, "max_rpm")
            && strcmp(key, "stream_resume")) {
            return fail(c, apr_pstrcat(c->p, field, ".", key, NULL),
                        "unknown key (expected one of: " AOP_DEPLOYMENT_KEYS ")");
        }
    }
    if (!json_object_object_get_ex(o, "deployment", &name) || !name) {
        return fail(c, apr_pstrcat(c->p, field, ".deployment", NULL),
                    "missing required field (the deployment name)");
    }
    if ((rv = deployment_name(c, name, apr_pstrcat(c->p, field, ".deployment", NULL), dep))
        != APR_SUCCESS
        || (rv = deployment_limit(c, o, field, "max_tpm", APR_INT64_MAX, &lim.max_tpm))
           != APR_SUCCESS
        || (rv = deployment_limit(c, o, field, "max_rpm", AOP_RPM_MAX, &lim.max_rpm))
           != APR_SUCCESS) {
        return rv;
    }
    if (json_object_object_get_ex(o, "stream_resume", &resume) && resume) {
        if (!json_object_is_type(resume, json_type_boolean)) {
            return fail(c, apr_pstrcat(c->p, field, ".stream_resume", NULL),
                        "expected true or false, got %s", type_name(resume));
        }
        lim.stream_resume = json_object_get_boolean(resume) ? 1 : 0;
    }
    aop_instance_set_limits(c->p, inst, model, &lim);
    return APR_SUCCESS;
}

static apr_status_t add_deployment(ctx_t *c, aop_instance_t *inst, apr_hash_t *deps,
                                   const aop_field_t *f, const char *model, json_object *v)
{
    const char *field = apr_pstrcat(c->p, f->key, ".", model, NULL), *dep;
    apr_status_t rv;

    if (!*model) {
        return fail(c, f->key, "empty model name");
    }
    if (!v) {
        return fail(c, field, "missing required field (the deployment name)");
    }
    if (json_object_is_type(v, json_type_object)) {
        rv = deployment_object(c, inst, model, field, v, &dep);
    }
    else {
        rv = deployment_name(c, v, field, &dep);
    }
    if (rv != APR_SUCCESS) {
        return rv;
    }
    apr_hash_set(deps, apr_pstrdup(c->p, model), APR_HASH_KEY_STRING, dep);
    return APR_SUCCESS;
}

static apr_status_t read_deployments(ctx_t *c, aop_instance_t *inst, const aop_field_t *f,
                                     json_object *val)
{
    apr_hash_t *deps;
    apr_status_t rv;

    aop_field_reset(c->p, inst, f);
    deps = *AOP_FIELD_AT(inst, f, apr_hash_t *);
    if (!json_object_is_type(val, json_type_object)) {
        return fail(c, f->key, "expected an object of model: deployment, got %s",
                    type_name(val));
    }
    json_object_object_foreach(val, model, dep) {
        if ((rv = add_deployment(c, inst, deps, f, model, dep)) != APR_SUCCESS) {
            return rv;
        }
    }
    return APR_SUCCESS;
}

/* A given key replaces the field as a whole (a list or a map too, which a PATCH's
 * copy shares with its base until then); null is its default. */
static apr_status_t read_field(ctx_t *c, aop_instance_t *inst, const aop_field_t *f,
                               json_object *val)
{
    if (!val) {
        aop_field_reset(c->p, inst, f);
        return APR_SUCCESS;
    }
    switch (f->type) {
    case AOP_FIELD_STRING:
    case AOP_FIELD_URL:
    case AOP_FIELD_FILE:
        return read_string(c, inst, f, val);
    case AOP_FIELD_INT:
    case AOP_FIELD_INT64:
        return read_number(c, inst, f, val);
    case AOP_FIELD_BOOL:
        return read_bool(c, inst, f, val);
    case AOP_FIELD_MODELS:
        return read_models(c, inst, f, val);
    case AOP_FIELD_DEPLOYMENTS:
        return read_deployments(c, inst, f, val);
    }
    return fail(c, f->key, "no reader for this field's type");
}

int aop_instance_json_is_key(const char *key)
{
    return aop_field_find(key, AOP_FIELD_API) != NULL;
}

/* --------------------------------------------------------------------------
 * the instance as a whole
 */
#define AUTH_KEY "auth"
#define AUTH_PREFIX "auth."

static int is_auth_field(const aop_field_t *f)
{
    return (f->flags & AOP_FIELD_API) && !strncmp(f->key, AUTH_PREFIX, sizeof(AUTH_PREFIX) - 1);
}

/* "type, tenant_id, ...": the keys of the nested auth object. */
static const char *auth_key_list(apr_pool_t *p)
{
    const aop_field_t *f;
    const char *list = NULL;

    for (f = aop_instance_fields; f->key; ++f) {
        if (is_auth_field(f)) {
            const char *k = f->key + sizeof(AUTH_PREFIX) - 1;

            list = list ? apr_pstrcat(p, list, ", ", k, NULL) : k;
        }
    }
    return list ? list : "";
}

static int has_flat_auth(json_object *obj)
{
    json_object_object_foreach(obj, key, val) {
        (void)val;
        if (!strncmp(key, AUTH_PREFIX, sizeof(AUTH_PREFIX) - 1)) {
            return 1;
        }
    }
    return 0;
}

static apr_status_t apply_field(ctx_t *c, aop_instance_t *inst, const aop_field_t *f,
                                json_object *val)
{
    apr_status_t rv = read_field(c, inst, f, val);

    if (rv == APR_SUCCESS) {
        apr_table_setn(inst->sources, f->key, "json");
    }
    return rv;
}

/* "auth": {"type": ..., "tenant_id": ...}, the YAML's shape: each key is the flat
 * field "auth.KEY", with its rules; keys not given are left as they are (a PATCH
 * changes only those), null resets every auth.* field.  Mixed with flat "auth.*"
 * keys it is refused: which one wins would depend on the order of the keys. */
static apr_status_t apply_auth(ctx_t *c, aop_instance_t *inst, json_object *obj,
                               json_object *auth)
{
    const aop_field_t *f;
    apr_status_t rv;

    if (has_flat_auth(obj)) {
        return fail(c, AUTH_KEY, "give the auth fields either as an object under \"auth\" "
                    "or as flat \"auth.*\" keys, not both");
    }
    if (!auth) {
        for (f = aop_instance_fields; f->key; ++f) {
            if (is_auth_field(f) && (rv = apply_field(c, inst, f, NULL)) != APR_SUCCESS) {
                return rv;
            }
        }
        return APR_SUCCESS;
    }
    if (!json_object_is_type(auth, json_type_object)) {
        return fail(c, AUTH_KEY, "expected an object, got %s", type_name(auth));
    }
    json_object_object_foreach(auth, key, val) {
        const char *flat = apr_pstrcat(c->p, AUTH_PREFIX, key, NULL);

        if ((f = aop_field_find(flat, AOP_FIELD_API)) == NULL) {
            return fail(c, flat, "unknown key of auth (expected one of: %s)",
                        auth_key_list(c->p));
        }
        if ((rv = apply_field(c, inst, f, val)) != APR_SUCCESS) {
            return rv;
        }
    }
    return APR_SUCCESS;
}

/* Unknown keys are errors so that a typo is not silently ignored.  The auth.* fields
 * come as flat keys ("auth.type") or as one nested "auth" object (apply_auth()). */
static apr_status_t apply_keys(ctx_t *c, aop_instance_t *inst, json_object *obj)
{
    const aop_field_t *f;
    apr_status_t rv;

    json_object_object_foreach(obj, key, val) {
        if (!strcmp(key, AUTH_KEY)) {
            rv = apply_auth(c, inst, obj, val);
        }
        else if ((f = aop_field_find(key, AOP_FIELD_API)) == NULL) {
            return fail(c, apr_pstrdup(c->p, key), "unknown key (expected one of: %s, "
                        "or auth as an object)", aop_field_key_list(c->p, AOP_FIELD_API));
        }
        else {
            rv = apply_field(c, inst, f, val);
        }
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    return APR_SUCCESS;
}

apr_array_header_t *aop_instance_json_keys(apr_pool_t *p, json_object *obj)
{
    apr_array_header_t *keys = apr_array_make(p, 8, sizeof(const char *));
    const aop_field_t *f;
    json_object *auth;

    json_object_object_foreach(obj, key, val) {
        if (strcmp(key, AUTH_KEY)) {
            APR_ARRAY_PUSH(keys, const char *) = apr_pstrdup(p, key);
            continue;
        }
        auth = val;
        for (f = aop_instance_fields; f->key; ++f) {
            if (is_auth_field(f)
                && (!auth || json_object_object_get_ex(auth, f->key + sizeof(AUTH_PREFIX) - 1,
                                                       NULL))) {
                APR_ARRAY_PUSH(keys, const char *) = f->key;
            }
        }
    }
    return keys;
}

static apr_status_t check_api_key(ctx_t *c, const aop_instance_t *inst)
{
    const char *missing;

    if (aop_auth_of(inst) != AOP_AUTH_API_KEY) {
        missing = inst->enabled ? aop_auth_missing(inst) : NULL;
        return missing ? fail(c, missing, "missing required field (needed by auth.type %s)",
                              inst->auth_type) : APR_SUCCESS;
    }
    if (!inst->enabled || (inst->api_key && *inst->api_key)) {
        return APR_SUCCESS;
    }
    if (!inst->api_key) {
        return fail(c, "api_key", "missing required field (needed by an enabled instance)");
    }
    return fail(c, "api_key", "must not be empty for an enabled instance");
}

/* Every model needs a deployment; deployments of other models are dropped so that a
 * lookup never routes a model the instance does not serve. */
static apr_status_t check_deployments(ctx_t *c, aop_instance_t *inst)
{
    apr_hash_t *kept = apr_hash_make(c->p);
    const char *model, *dep;
    int i;

    for (i = 0; i < inst->supported_models->nelts; ++i) {
        model = APR_ARRAY_IDX(inst->supported_models, i, const char *);
        if ((dep = aop_instance_deployment(inst, model)) == NULL) {
            return fail(c, apr_pstrcat(c->p, "model_deployments.", model, NULL),
                        "model \"%.80s\" of supported_models has no deployment", model);
        }
        apr_hash_set(kept, model, APR_HASH_KEY_STRING, dep);
    }
    inst->model_deployments = kept;
    return APR_SUCCESS;
}

/* The YAML loader's checks, in its order: the required fields in table order, then
 * the rules that join two fields. */
static apr_status_t check_instance(ctx_t *c, aop_instance_t *inst)
{
    const aop_field_t *f;
    apr_status_t rv;

    for (f = aop_instance_fields; f->key; ++f) {
        if ((f->flags & AOP_FIELD_API) && (f->flags & AOP_FIELD_REQUIRED)
            && !aop_field_is_set(inst, f)) {
            return missing(c, f->key);
        }
    }
    if ((rv = check_api_key(c, inst)) != APR_SUCCESS) {
        return rv;
    }
    return check_deployments(c, inst);
}

apr_status_t aop_instance_from_json(apr_pool_t *p, json_object *obj,
                                    const aop_instance_t *base, int partial,
                                    aop_instance_t **out, const char **perr,
                                    const char **pfield)
{
    ctx_t c = { p, partial ? base : NULL, NULL, NULL };
    aop_instance_t *inst;
    apr_status_t rv;

    *out = NULL;
    *perr = NULL;
    *pfield = NULL;
    if (!json_object_is_type(obj, json_type_object)) {
        rv = fail(&c, NULL, "expected a JSON object, got %s", type_name(obj));
    }
    else if (partial && !base) {
        rv = fail(&c, NULL, "no instance to change");
    }
    else {
        inst = partial ? aop_instance_copy(p, base) : aop_instance_new(p, "json", 0);
        if ((rv = apply_keys(&c, inst, obj)) == APR_SUCCESS
            && (rv = check_instance(&c, inst)) == APR_SUCCESS) {
            *out = inst;
        }
    }
    *perr = c.err;
    *pfield = c.field;
    return rv;
}

/* --------------------------------------------------------------------------
 * to JSON
 */
static json_object *string_or_null(const char *s)
{
    return s ? json_object_new_string(s) : NULL;
}

/* The plain name, or the object form when the deployment has a limit of its own
 * (only the limits set). */
static json_object *deployment_json(const aop_instance_t *inst, const char *model,
                                    const char *dep)
{
    const aop_deployment_limits_t *lim = aop_instance_limits(inst, model);
    json_object *o;

    if (!lim) {
        return json_object_new_string(dep);
    }
    o = json_object_new_object();
    json_object_object_add(o, "deployment", json_object_new_string(dep));
    if (lim->max_tpm > 0) {
        json_object_object_add(o, "max_tpm", json_object_new_int64(lim->max_tpm));
    }
    if (lim->max_rpm > 0) {
        json_object_object_add(o, "max_rpm", json_object_new_int64(lim->max_rpm));
    }
    if (lim->stream_resume) {
        json_object_object_add(o, "stream_resume", json_object_new_boolean(1));
    }
    return o;
}

/* In supported_models order, so that equal instances give equal text. */
static json_object *deployments_json(const aop_instance_t *inst)
{
    json_object *deps = json_object_new_object();
    const char *model, *dep;
    int i;

    for (i = 0; inst->supported_models && i < inst->supported_models->nelts; ++i) {
        model = APR_ARRAY_IDX(inst->supported_models, i, const char *);
        if ((dep = aop_instance_deployment(inst, model)) != NULL) {
            json_object_object_add(deps, model, deployment_json(inst, model, dep));
        }
    }
    return deps;
}

static json_object *models_json(const apr_array_header_t *models)
{
    json_object *list = json_object_new_array();
    int i;

    for (i = 0; models && i < models->nelts; ++i) {
        json_object_array_add(list, json_object_new_string(APR_ARRAY_IDX(models, i,
                                                                         const char *)));
    }
    return list;
}

/* An unset secret is left out; a set one is masked unless with_secret (an empty one
 * has nothing to hide). */
static void add_secret(json_object *o, const aop_field_t *f, const char *s, int with_secret)
{
    if (s) {
        json_object_object_add(o, f->key, json_object_new_string(with_secret || !*s ? s
                                                                 : AOP_API_KEY_MASK));
    }
}

static void add_field(json_object *o, const aop_instance_t *inst, const aop_field_t *f,
                      int with_secret)
{
    const char *s;
    json_object *v = NULL;

    switch (f->type) {
    case AOP_FIELD_STRING:
    case AOP_FIELD_URL:
    case AOP_FIELD_FILE:
        s = *AOP_FIELD_AT(inst, f, const char *const);
        if (f->flags & AOP_FIELD_SECRET) {
            add_secret(o, f, s, with_secret);
            return;
        }
        v = string_or_null(s);
        break;
    case AOP_FIELD_INT:
        v = json_object_new_int(*AOP_FIELD_AT(inst, f, const int));
        break;
    case AOP_FIELD_INT64:
        v = json_object_new_int64(*AOP_FIELD_AT(inst, f, const apr_int64_t));
        break;
    case AOP_FIELD_BOOL:
        v = json_object_new_boolean(*AOP_FIELD_AT(inst, f, const int));
        break;
    case AOP_FIELD_MODELS:
        v = models_json(*AOP_FIELD_AT(inst, f, apr_array_header_t *const));
        break;
    case AOP_FIELD_DEPLOYMENTS:
        v = deployments_json(inst);
        break;
    }
    json_object_object_add(o, f->key, v);
}

json_object *aop_instance_to_json(const aop_instance_t *inst, int with_secret)
{
    json_object *o = json_object_new_object();
    const aop_field_t *f;

    for (f = aop_instance_fields; f->key; ++f) {
        if (f->flags & AOP_FIELD_API) {
            add_field(o, inst, f, with_secret);
        }
    }
    return o;
}

apr_array_header_t *aop_instance_json_diff(apr_pool_t *p, json_object *before,
                                           json_object *after)
{
    apr_array_header_t *changed = apr_array_make(p, 4, sizeof(const char *));
    const aop_field_t *f;
    json_object *a, *b;
    int in_a, in_b;

    for (f = aop_instance_fields; f->key; ++f) {
        if (!(f->flags & AOP_FIELD_API)) {
            continue;
        }
        a = b = NULL;
        in_a = before && json_object_object_get_ex(before, f->key, &a);
        in_b = after && json_object_object_get_ex(after, f->key, &b);
        if (before ? (in_a != in_b || !json_object_equal(a, b)) : in_b) {
            APR_ARRAY_PUSH(changed, const char *) = f->key;
        }
    }
    return changed;
}
