/* Instances to and from JSON, with the YAML loader's rules (aop_config.c): the same
 * keys, the same ranges, the same name and URL checks (aop_url.c), the same required
 * fields.  Only the types are stricter, since JSON has them: an integer must be a
 * JSON integer and enabled a JSON boolean, where YAML reads both from text.
 *
 * Messages are "FIELD: what is wrong".  They quote names, versions, models and
 * deployments (none of them secret) but never api_key, and never api_base, which a
 * careless operator may have written with credentials in it. */
#include <limits.h>
#include <stdarg.h>
#include <string.h>

#include <apr_hash.h>
#include <apr_lib.h>
#include <apr_strings.h>

#include "aop_instance_json.h"
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
 * names: the YAML loader's rule (aop_config_safe_name), plus the length limit
 */
int aop_instance_name_ok(const char *name)
{
    return aop_config_safe_name(name, 1) && strlen(name) <= AOP_NAME_MAX;
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
    if (!json_object_is_type(v, json_type_int)) {
        return fail(c, field, "expected an integer, got %s", type_name(v));
    }
    *out = json_object_get_int64(v);
    /* json-c keeps integers above INT64_MAX as unsigned and reads them as INT64_MAX */
    if (*out == APR_INT64_MAX && json_object_get_uint64(v) > (apr_uint64_t)APR_INT64_MAX) {
        return fail(c, field, "is too large (at most %" APR_INT64_T_FMT ")", hi);
    }
    if (*out >= lo && *out <= hi) {
        return APR_SUCCESS;
    }
    /* the YAML loader's wording: "between 0 and 2147483647" says no more than ">= 0" */
    if (*out < lo && lo > INT_MIN && (hi == APR_INT64_MAX || hi == INT_MAX)) {
        return fail(c, field, "must be >= %" APR_INT64_T_FMT ", got %" APR_INT64_T_FMT,
                    lo, *out);
    }
    return fail(c, field, "must be between %" APR_INT64_T_FMT " and %" APR_INT64_T_FMT
                ", got %" APR_INT64_T_FMT, lo, hi, *out);
}

static apr_status_t get_int(ctx_t *c, json_object *v, const char *field, apr_int64_t lo,
                            int *out)
{
    apr_int64_t n = 0;
    apr_status_t rv = get_int64(c, v, field, lo, INT_MAX, &n);

    *out = (rv == APR_SUCCESS) ? (int)n : *out;
    return rv;
}

/* --------------------------------------------------------------------------
 * one setter per key; val NULL is JSON null: the field's default
 */
typedef apr_status_t setter_fn(ctx_t *c, aop_instance_t *inst, json_object *val);

static apr_status_t set_name(ctx_t *c, aop_instance_t *inst, json_object *val)
{
    const char *name;
    apr_status_t rv;

    inst->name = NULL;
    if (!val) {
        return APR_SUCCESS;     /* reported as missing by check_instance() */
    }
    if ((rv = get_string(c, val, "name", "a string", &name)) != APR_SUCCESS) {
        return rv;
    }
    if (!aop_instance_name_ok(name)) {
        return fail(c, "name", "\"%.80s\" is not a valid instance name (1..%d characters "
                    "of A-Z a-z 0-9 . _ -)", name, AOP_NAME_MAX);
    }
    /* a rename is a delete and an add: the history belongs to the name */
    if (c->base && strcmp(name, c->base->name)) {
        return fail(c, "name", "cannot be changed (the instance is \"%s\")", c->base->name);
    }
    inst->name = name;
    return APR_SUCCESS;
}

static apr_status_t set_provider(ctx_t *c, aop_instance_t *inst, json_object *val)
{
    const char *s;
    apr_status_t rv;

    if (!val) {
        inst->provider_type = "azure";
        return APR_SUCCESS;
    }
    if ((rv = get_string(c, val, "provider_type", "a string", &s)) != APR_SUCCESS) {
        return rv;
    }
    if (strcmp(s, "azure")) {
        return fail(c, "provider_type", "unsupported provider \"%.80s\" (expected: azure)", s);
    }
    inst->provider_type = "azure";
    return APR_SUCCESS;
}

static apr_status_t set_api_key(ctx_t *c, aop_instance_t *inst, json_object *val)
{
    const char *key;
    apr_status_t rv;

    if (!val) {
        inst->api_key = NULL;
        return APR_SUCCESS;
    }
    if ((rv = get_string(c, val, "api_key", "a string", &key)) != APR_SUCCESS) {
        return rv;
    }
    if (!strcmp(key, AOP_API_KEY_MASK)) {
        if (c->base) {
            return APR_SUCCESS;     /* echoed back from a GET: keep the key */
        }
        return fail(c, "api_key", "\"" AOP_API_KEY_MASK "\" is the mask shown in place "
                    "of a key, not a key");
    }
    inst->api_key = key;
    return APR_SUCCESS;
}

static apr_status_t set_api_base(ctx_t *c, aop_instance_t *inst, json_object *val)
{
    const char *url, *problem;
    apr_status_t rv;

    if (!val) {
        inst->api_base = inst->scheme = inst->host = inst->origin = inst->base_path = NULL;
        inst->port = 0;
        return APR_SUCCESS;
    }
    if ((rv = get_string(c, val, "api_base", "a URL", &url)) != APR_SUCCESS) {
        return rv;
    }
    if ((problem = aop_url_parse_api_base(c->p, url, inst)) != NULL) {
        return fail(c, "api_base", "%s", problem);
    }
    return APR_SUCCESS;
}

static apr_status_t set_api_version(ctx_t *c, aop_instance_t *inst, json_object *val)
{
    const char *v;
    apr_status_t rv;

    inst->api_version = NULL;
    if (!val) {
        return APR_SUCCESS;
    }
    if ((rv = get_string(c, val, "api_version", "a string", &v)) != APR_SUCCESS) {
        return rv;
    }
    if (!aop_config_safe_name(v, 1)) {
        return fail(c, "api_version", "\"%.80s\" must be [A-Za-z0-9._-]+ (it is part of "
                    "the URL query)", v);
    }
    inst->api_version = v;
    return APR_SUCCESS;
}

static apr_status_t set_priority(ctx_t *c, aop_instance_t *inst, json_object *val)
{
    if (!val) {
        inst->priority = 100;
        return APR_SUCCESS;
    }
    return get_int(c, val, "priority", INT_MIN, &inst->priority);
}

static apr_status_t set_weight(ctx_t *c, aop_instance_t *inst, json_object *val)
{
    if (!val) {
        inst->weight = 100;
        return APR_SUCCESS;
    }
    return get_int(c, val, "weight", 0, &inst->weight);
}

static apr_status_t set_max_tpm(ctx_t *c, aop_instance_t *inst, json_object *val)
{
    if (!val) {
        inst->max_tpm = 0;
        return APR_SUCCESS;
    }
    return get_int64(c, val, "max_tpm", 0, APR_INT64_MAX, &inst->max_tpm);
}

static apr_status_t set_enabled(ctx_t *c, aop_instance_t *inst, json_object *val)
{
    if (!val) {
        inst->enabled = 1;
        return APR_SUCCESS;
    }
    if (!json_object_is_type(val, json_type_boolean)) {
        return fail(c, "enabled", "expected true or false, got %s", type_name(val));
    }
    inst->enabled = json_object_get_boolean(val) ? 1 : 0;
    return APR_SUCCESS;
}

static apr_status_t add_model(ctx_t *c, aop_instance_t *inst, json_object *item, int i,
                              apr_hash_t *seen)
{
    const char *field = apr_psprintf(c->p, "supported_models[%d]", i), *model;
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
    APR_ARRAY_PUSH(inst->supported_models, const char *) = model;
    return APR_SUCCESS;
}

static apr_status_t set_models(ctx_t *c, aop_instance_t *inst, json_object *val)
{
    apr_hash_t *seen = apr_hash_make(c->p);
    size_t i, n;
    apr_status_t rv;

    inst->supported_models = apr_array_make(c->p, 4, sizeof(const char *));
    if (!val) {
        return APR_SUCCESS;     /* reported as missing by check_instance() */
    }
    if (!json_object_is_type(val, json_type_array)) {
        return fail(c, "supported_models", "expected a list, got %s", type_name(val));
    }
    if ((n = json_object_array_length(val)) == 0) {
        return fail(c, "supported_models", "must list at least one model");
    }
    for (i = 0; i < n; ++i) {
        rv = add_model(c, inst, json_object_array_get_idx(val, i), (int)i, seen);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    return APR_SUCCESS;
}

static apr_status_t add_deployment(ctx_t *c, apr_hash_t *deps, const char *model,
                                   json_object *v)
{
    const char *field = apr_pstrcat(c->p, "model_deployments.", model, NULL), *dep;
    apr_status_t rv;

    if (!*model) {
        return fail(c, "model_deployments", "empty model name");
    }
    if (!v) {
        return fail(c, field, "missing required field (the deployment name)");
    }
    if ((rv = get_string(c, v, field, "a deployment name", &dep)) != APR_SUCCESS) {
        return rv;
    }
    if (!aop_config_safe_name(dep, 1)) {
        return fail(c, field, "deployment name \"%.80s\" must be [A-Za-z0-9._-]+ (it is "
                    "part of the URL path)", dep);
    }
    apr_hash_set(deps, apr_pstrdup(c->p, model), APR_HASH_KEY_STRING, dep);
    return APR_SUCCESS;
}

static apr_status_t set_deployments(ctx_t *c, aop_instance_t *inst, json_object *val)
{
    apr_status_t rv;

    inst->model_deployments = apr_hash_make(c->p);
    if (!val) {
        return APR_SUCCESS;
    }
    if (!json_object_is_type(val, json_type_object)) {
        return fail(c, "model_deployments", "expected an object of model: deployment, "
                    "got %s", type_name(val));
    }
    json_object_object_foreach(val, model, dep) {
        if ((rv = add_deployment(c, inst->model_deployments, model, dep)) != APR_SUCCESS) {
            return rv;
        }
    }
    return APR_SUCCESS;
}

static const struct {
    const char *key;
    setter_fn *set;
} instance_keys[] = {
    { "name", set_name },
    { "provider_type", set_provider },
    { "api_key", set_api_key },
    { "api_base", set_api_base },
    { "api_version", set_api_version },
    { "priority", set_priority },
    { "weight", set_weight },
    { "max_tpm", set_max_tpm },
    { "enabled", set_enabled },
    { "supported_models", set_models },
    { "model_deployments", set_deployments },
    { NULL, NULL }
};

static int key_index(const char *key)
{
    int i;

    for (i = 0; instance_keys[i].key; ++i) {
        if (!strcmp(instance_keys[i].key, key)) {
            return i;
        }
    }
    return -1;
}

int aop_instance_json_is_key(const char *key)
{
    return key && key_index(key) >= 0;
}

static const char *key_list(apr_pool_t *p)
{
    const char *list = instance_keys[0].key;
    int i;

    for (i = 1; instance_keys[i].key; ++i) {
        list = apr_pstrcat(p, list, ", ", instance_keys[i].key, NULL);
    }
    return list;
}

/* --------------------------------------------------------------------------
 * the instance as a whole
 */
static aop_instance_t *new_instance(apr_pool_t *p)
{
    return aop_instance_new(p, "json", 0);
}

/* A shallow copy that can be changed without touching base. */
static aop_instance_t *copy_instance(apr_pool_t *p, const aop_instance_t *base)
{
    aop_instance_t *inst = apr_pmemdup(p, base, sizeof(*base));

    inst->supported_models = base->supported_models
        ? apr_array_copy(p, base->supported_models)
        : apr_array_make(p, 4, sizeof(const char *));
    inst->model_deployments = base->model_deployments
        ? apr_hash_copy(p, base->model_deployments) : apr_hash_make(p);
    inst->sources = base->sources ? apr_table_copy(p, base->sources) : apr_table_make(p, 16);
    return inst;
}

/* Unknown keys are errors so that a typo is not silently ignored. */
static apr_status_t apply_keys(ctx_t *c, aop_instance_t *inst, json_object *obj)
{
    apr_status_t rv;
    int i;

    json_object_object_foreach(obj, key, val) {
        if ((i = key_index(key)) < 0) {
            return fail(c, apr_pstrdup(c->p, key), "unknown key (expected one of: %s)",
                        key_list(c->p));
        }
        if ((rv = instance_keys[i].set(c, inst, val)) != APR_SUCCESS) {
            return rv;
        }
        apr_table_setn(inst->sources, instance_keys[i].key, "json");
    }
    return APR_SUCCESS;
}

static apr_status_t check_api_key(ctx_t *c, const aop_instance_t *inst)
{
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

/* The YAML loader's checks, in its order. */
static apr_status_t check_instance(ctx_t *c, aop_instance_t *inst)
{
    apr_status_t rv;

    if (!inst->name) {
        return missing(c, "name");
    }
    if (!inst->api_base) {
        return missing(c, "api_base");
    }
    if (!inst->api_version) {
        return missing(c, "api_version");
    }
    if (!inst->supported_models->nelts) {
        return missing(c, "supported_models");
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
        inst = partial ? copy_instance(p, base) : new_instance(p);
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

static json_object *models_json(const aop_instance_t *inst, json_object **pdeps)
{
    json_object *models = json_object_new_array();
    const char *model, *dep;
    int i;

    *pdeps = json_object_new_object();
    for (i = 0; inst->supported_models && i < inst->supported_models->nelts; ++i) {
        model = APR_ARRAY_IDX(inst->supported_models, i, const char *);
        json_object_array_add(models, json_object_new_string(model));
        if ((dep = aop_instance_deployment(inst, model)) != NULL) {
            json_object_object_add(*pdeps, model, json_object_new_string(dep));
        }
    }
    return models;
}

json_object *aop_instance_to_json(const aop_instance_t *inst, int with_secret)
{
    json_object *o = json_object_new_object(), *deps, *models;

    json_object_object_add(o, "name", string_or_null(inst->name));
    json_object_object_add(o, "provider_type", string_or_null(inst->provider_type));
    if (inst->api_key) {
        json_object_object_add(o, "api_key", json_object_new_string(
            with_secret || !*inst->api_key ? inst->api_key : AOP_API_KEY_MASK));
    }
    json_object_object_add(o, "api_base", string_or_null(inst->api_base));
    json_object_object_add(o, "api_version", string_or_null(inst->api_version));
    json_object_object_add(o, "priority", json_object_new_int(inst->priority));
    json_object_object_add(o, "weight", json_object_new_int(inst->weight));
    json_object_object_add(o, "max_tpm", json_object_new_int64(inst->max_tpm));
    json_object_object_add(o, "enabled", json_object_new_boolean(inst->enabled));
    models = models_json(inst, &deps);
    json_object_object_add(o, "supported_models", models);
    json_object_object_add(o, "model_deployments", deps);
    return o;
}

apr_array_header_t *aop_instance_json_diff(apr_pool_t *p, json_object *before,
                                           json_object *after)
{
    apr_array_header_t *changed = apr_array_make(p, 4, sizeof(const char *));
    json_object *a, *b;
    int i, in_a, in_b;

    for (i = 0; instance_keys[i].key; ++i) {
        a = b = NULL;
        in_a = before && json_object_object_get_ex(before, instance_keys[i].key, &a);
        in_b = after && json_object_object_get_ex(after, instance_keys[i].key, &b);
        if (before ? (in_a != in_b || !json_object_equal(a, b)) : in_b) {
            APR_ARRAY_PUSH(changed, const char *) = instance_keys[i].key;
        }
    }
    return changed;
}
