/* Reads the proxy configuration: DIR/base.yaml overlaid with DIR/<env>.yaml.
 *
 * The work is done in three passes over pool-allocated trees:
 *   1. read: each file into a tree of nodes with line numbers (aop_yaml.c);
 *   2. merge: the environment tree is merged into the base tree (aop_yaml.c), with
 *      instances matched by name here, since that is knowledge of the schema;
 *   3. build: the merged tree is checked against the schema and converted into
 *      aop_config_t (this file, with api_base parsed by aop_url.c).
 * Every error is "FILE:LINE: KEY: message" (see aop_yaml.h); values of api_key never
 * appear in a message (scalar contents are only quoted for fields that cannot hold a
 * secret). */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <apr_file_info.h>
#include <apr_file_io.h>
#include <apr_lib.h>
#include <apr_strings.h>

#include "aop_config.h"
#include "aop_file.h"
#include "aop_secret_file.h"
#include "aop_url.h"
#include "aop_yaml.h"

/* Keeps a hostile or broken file from exhausting httpd at startup. */
#define AOP_CFG_MAX_FILE   (1024 * 1024)

#define AOP_TIMEOUT_MAX    86400.0

/* build_instance(): the instance points at the shipped example endpoint. */
#define AOP_CFG_PLACEHOLDER (APR_OS_START_USERERR + 1)

/* Short names for the tree's types, used on nearly every line below. */
typedef aop_yaml_ctx_t ctx_t;
typedef aop_yaml_node_t node_t;
typedef aop_yaml_pair_t pair_t;

/* --------------------------------------------------------------------------
 * pass 2: instances in the overlay
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

/* instances merge by name: a known name is deep-merged into the base entry, a new
 * one is appended.  Duplicates within the overlay are reported here because merging
 * would otherwise hide them. */
static apr_status_t merge_instances(ctx_t *c, node_t *dst, const node_t *src)
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
 * pass 3: schema and conversion
 */

/* " (environment variable ${X} is not set)" when the value used an unset variable,
 * so that an empty value can be traced to its cause. */
static const char *unset_note(ctx_t *c, const node_t *n)
{
    if (!n->unset) {
        return "";
    }
    return apr_psprintf(c->p, " (environment variable ${%s} is not set)",
                        APR_ARRAY_IDX(n->unset, 0, const char *));
}

/* A bad value is quoted in its message unless it came from the environment, which
 * is where secrets live: then the variable is named instead. */
static const char *shown(ctx_t *c, const node_t *n)
{
    if (n->var && *n->text) {
        return apr_psprintf(c->p, "the value of ${%s}", n->var);
    }
    return apr_psprintf(c->p, "\"%.80s\"", n->text);
}

static apr_status_t get_scalar(ctx_t *c, const node_t *n, const char *path,
                               const char *what, const char **out)
{
    int i;

    if (n->type != AOP_YAML_SCALAR) {
        return aop_yaml_fail(c, n->file, n->line, path, "expected %s, got %s", what,
                             aop_yaml_type_name(n));
    }
    for (i = 0; n->unset && i < n->unset->nelts; ++i) {
        aop_yaml_warn(c, n->file, n->line, path,
                      "environment variable ${%s} is not set, using an empty string",
                      APR_ARRAY_IDX(n->unset, i, const char *));
    }
    *out = n->text;
    return APR_SUCCESS;
}

static int parse_int64(const char *s, apr_int64_t *out)
{
    const char *d = (*s == '-' || *s == '+') ? s + 1 : s;
    char *end;

    if (!apr_isdigit(*d)) {
        return 0;
    }
    errno = 0;
    *out = apr_strtoi64(s, &end, 10);
    return errno == 0 && *end == '\0';
}

static apr_status_t get_int64(ctx_t *c, const node_t *n, const char *path,
                              apr_int64_t lo, apr_int64_t hi, apr_int64_t *out)
{
    const char *s;
    apr_status_t rv = get_scalar(c, n, path, "an integer", &s);

    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (!parse_int64(s, out)) {
        return aop_yaml_fail(c, n->file, n->line, path, "expected an integer, got %s%s",
                             shown(c, n), unset_note(c, n));
    }
    if (*out < lo || *out > hi) {
        /* "between 0 and 2147483647" says little more than ">= 0" when below */
        if (*out < lo && lo > INT_MIN && (hi == APR_INT64_MAX || hi == INT_MAX)) {
            return aop_yaml_fail(c, n->file, n->line, path, "must be >= %" APR_INT64_T_FMT
                                 ", got %" APR_INT64_T_FMT, lo, *out);
        }
        return aop_yaml_fail(c, n->file, n->line, path, "must be between %" APR_INT64_T_FMT
                             " and %" APR_INT64_T_FMT ", got %" APR_INT64_T_FMT,
                             lo, hi, *out);
    }
    return APR_SUCCESS;
}

static apr_status_t get_bool(ctx_t *c, const node_t *n, const char *path, int *out)
{
    static const char *const yes[] = { "true", "yes", "on" };
    static const char *const no[] = { "false", "no", "off" };
    const char *s;
    apr_status_t rv = get_scalar(c, n, path, "true or false", &s);
    int i;

    for (i = 0; rv == APR_SUCCESS && i < 3; ++i) {
        if (!strcasecmp(s, yes[i]) || !strcasecmp(s, no[i])) {
            *out = !strcasecmp(s, yes[i]);
            return APR_SUCCESS;
        }
    }
    if (rv == APR_SUCCESS) {
        rv = aop_yaml_fail(c, n->file, n->line, path, "expected true or false "
                           "(or yes/no, on/off), got %s%s", shown(c, n), unset_note(c, n));
    }
    return rv;
}

int aop_config_safe_name(const char *s, int allow_dot)
{
    const char *q;

    if (!s || !*s || !strcmp(s, ".") || !strcmp(s, "..")) {
        return 0;
    }
    for (q = s; *q; ++q) {
        if (!apr_isalnum(*q) && *q != '_' && *q != '-' && !(allow_dot && *q == '.')) {
            return 0;
        }
    }
    return 1;
}

/* --- field tables ----------------------------------------------------------- */

typedef apr_status_t field_fn(ctx_t *c, void *obj, const node_t *val, const char *path);

typedef enum { F_STR, F_INT, F_INT64, F_BOOL, F_FN } field_type_e;

typedef struct {
    const char *key;
    field_type_e type;
    size_t off;
    apr_int64_t lo, hi;
    field_fn *fn;
} field_t;

#define FIELD_STR(k, s, m)          { k, F_STR, offsetof(s, m), 0, 0, NULL }
#define FIELD_INT(k, s, m, lo, hi)  { k, F_INT, offsetof(s, m), lo, hi, NULL }
#define FIELD_I64(k, s, m, lo, hi)  { k, F_INT64, offsetof(s, m), lo, hi, NULL }
#define FIELD_BOOL(k, s, m)         { k, F_BOOL, offsetof(s, m), 0, 0, NULL }
#define FIELD_FN(k, fn)             { k, F_FN, 0, 0, 0, fn }
#define FIELD_END                   { NULL, F_FN, 0, 0, 0, NULL }

static apr_status_t set_field(ctx_t *c, void *obj, const field_t *f, const node_t *val,
                              const char *path)
{
    char *base = obj;
    apr_int64_t v = 0;
    apr_status_t rv;

    switch (f->type) {
    case F_STR:
        return get_scalar(c, val, path, "a string", (const char **)(void *)(base + f->off));
    case F_BOOL:
        return get_bool(c, val, path, (int *)(void *)(base + f->off));
    case F_INT:
    case F_INT64:
        if ((rv = get_int64(c, val, path, f->lo, f->hi, &v)) != APR_SUCCESS) {
            return rv;
        }
        if (f->type == F_INT) {
            *(int *)(void *)(base + f->off) = (int)v;
        }
        else {
            *(apr_int64_t *)(void *)(base + f->off) = v;
        }
        return APR_SUCCESS;
    default:
        return f->fn(c, obj, val, path);
    }
}

static const char *field_names(apr_pool_t *p, const field_t *fields)
{
    const char *names = fields->key;

    for (++fields; fields->key; ++fields) {
        names = apr_pstrcat(p, names, ", ", fields->key, NULL);
    }
    return names;
}

/* Applies every key of map to obj.  Unknown keys are errors so that typos are not
 * silently ignored; a null value leaves the default in place. */
static apr_status_t apply_fields(ctx_t *c, void *obj, const node_t *map, const char *path,
                                 const field_t *fields, apr_table_t *sources)
{
    int i;
    apr_status_t rv;

    if (map->type != AOP_YAML_MAP) {
        return aop_yaml_fail(c, map->file, map->line, path, "expected a map, got %s",
                             aop_yaml_type_name(map));
    }
    for (i = 0; i < map->items->nelts; ++i) {
        const pair_t *kv = &APR_ARRAY_IDX(map->items, i, pair_t);
        const field_t *f = fields;
        while (f->key && strcmp(f->key, kv->key)) {
            ++f;
        }
        if (!f->key) {
            return aop_yaml_fail(c, kv->file, kv->line,
                                 aop_yaml_key_path(c->p, path, kv->key),
                                 "unknown key (expected one of: %s)",
                                 field_names(c->p, fields));
        }
        if (sources) {
            apr_table_setn(sources, f->key, kv->file);
        }
        if (!kv->val->is_null
            && (rv = set_field(c, obj, f, kv->val, aop_yaml_key_path(c->p, path, kv->key)))
               != APR_SUCCESS) {
            return rv;
        }
    }
    return APR_SUCCESS;
}

/* A required field that is absent or null: the line of its key if it is there, else
 * the line of the map that should hold it. */
static apr_status_t missing(ctx_t *c, const node_t *map, const char *key, const char *path,
                            const char *why)
{
    const pair_t *kv = aop_yaml_find(map, key);

    return aop_yaml_fail(c, kv ? kv->file : map->file, kv ? kv->line : map->line,
                         aop_yaml_key_path(c->p, path, key), "missing required field%s",
                         why);
}

/* --- routing, logging, monitoring ------------------------------------------- */

static apr_status_t set_strategy(ctx_t *c, void *obj, const node_t *val, const char *path)
{
    aop_config_t *cfg = obj;
    const char *s;
    apr_status_t rv = get_scalar(c, val, path, "a string", &s);

    if (rv == APR_SUCCESS && !aop_strategy_parse(s, &cfg->strategy)) {
        rv = aop_yaml_fail(c, val->file, val->line, path, "unknown strategy %s (expected "
                           "one of: failover, weighted, round_robin)", shown(c, val));
    }
    return rv;
}

/* Decimal numbers only: strtod alone would also take hex, inf and nan. */
static int parse_number(const char *s, double *out)
{
    char *end;

    if (!*s || s[strspn(s, "0123456789+-.eE")] != '\0') {
        return 0;
    }
    errno = 0;
    *out = strtod(s, &end);
    return errno == 0 && *end == '\0';
}

static apr_status_t set_timeout(ctx_t *c, void *obj, const node_t *val, const char *path)
{
    aop_config_t *cfg = obj;
    const char *s;
    apr_status_t rv = get_scalar(c, val, path, "a number", &s);

    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (!parse_number(s, &cfg->timeout)) {
        return aop_yaml_fail(c, val->file, val->line, path, "expected a number of seconds, "
                             "got %s%s", shown(c, val), unset_note(c, val));
    }
    if (!(cfg->timeout > 0.0) || cfg->timeout > AOP_TIMEOUT_MAX) {
        return aop_yaml_fail(c, val->file, val->line, path,
                             "must be > 0 and <= %g seconds, got %g",
                             AOP_TIMEOUT_MAX, cfg->timeout);
    }
    return APR_SUCCESS;
}

static apr_status_t set_level(ctx_t *c, void *obj, const node_t *val, const char *path)
{
    static const char *const levels[] = { "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL" };
    aop_config_t *cfg = obj;
    const char *s;
    apr_status_t rv = get_scalar(c, val, path, "a string", &s);
    int i;

    for (i = 0; rv == APR_SUCCESS && i < 5; ++i) {
        if (!strcasecmp(s, levels[i])) {
            cfg->log_level = levels[i];
            return APR_SUCCESS;
        }
    }
    if (rv == APR_SUCCESS) {
        rv = aop_yaml_fail(c, val->file, val->line, path, "unknown level %s (expected one "
                           "of: DEBUG, INFO, WARNING, ERROR, CRITICAL)", shown(c, val));
    }
    return rv;
}

static apr_status_t set_windows(ctx_t *c, void *obj, const node_t *val, const char *path)
{
    aop_config_t *cfg = obj;
    apr_int64_t v = 0;
    int i;
    apr_status_t rv;

    if (val->type != AOP_YAML_SEQ) {
        return aop_yaml_fail(c, val->file, val->line, path, "expected a list, got %s",
                             aop_yaml_type_name(val));
    }
    cfg->additional_windows = apr_array_make(c->p, val->items->nelts, sizeof(int));
    for (i = 0; i < val->items->nelts; ++i) {
        rv = get_int64(c, APR_ARRAY_IDX(val->items, i, node_t *),
                       apr_psprintf(c->p, "%s[%d]", path, i), 1, 60, &v);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        APR_ARRAY_PUSH(cfg->additional_windows, int) = (int)v;
    }
    return APR_SUCCESS;
}

static const field_t routing_fields[] = {
    FIELD_FN("strategy", set_strategy),
    FIELD_INT("retries", aop_config_t, retries, 0, 16),
    FIELD_FN("timeout", set_timeout),
    FIELD_END
};

static const field_t logging_fields[] = {
    FIELD_FN("level", set_level),
    FIELD_STR("file", aop_config_t, log_file),
    FIELD_I64("max_size", aop_config_t, log_max_size, 0, APR_INT64_MAX),
    FIELD_INT("backup_count", aop_config_t, log_backup_count, 0, INT_MAX),
    FIELD_STR("feishu_webhook", aop_config_t, feishu_webhook),
    FIELD_END
};

static const field_t monitoring_fields[] = {
    FIELD_INT("stats_window_minutes", aop_config_t, stats_window_minutes, 1, 60),
    FIELD_FN("additional_windows", set_windows),
    FIELD_END
};

static apr_status_t set_routing(ctx_t *c, void *obj, const node_t *val, const char *path)
{
    return apply_fields(c, obj, val, path, routing_fields, NULL);
}

static apr_status_t set_logging(ctx_t *c, void *obj, const node_t *val, const char *path)
{
    return apply_fields(c, obj, val, path, logging_fields, NULL);
}

static apr_status_t set_monitoring(ctx_t *c, void *obj, const node_t *val,
                                   const char *path)
{
    return apply_fields(c, obj, val, path, monitoring_fields, NULL);
}

/* --- instances ---------------------------------------------------------------- */

static apr_status_t set_name_done(ctx_t *c, void *obj, const node_t *val, const char *path)
{
    /* read by instance_name() before the other fields, to name the instance in paths */
    (void)c; (void)obj; (void)val; (void)path;
    return APR_SUCCESS;
}

static apr_status_t set_provider(ctx_t *c, void *obj, const node_t *val, const char *path)
{
    aop_instance_t *inst = obj;
    apr_status_t rv = get_scalar(c, val, path, "a string", &inst->provider_type);

    if (rv == APR_SUCCESS && strcmp(inst->provider_type, "azure")) {
        rv = aop_yaml_fail(c, val->file, val->line, path, "unsupported provider %s "
                           "(expected: azure)", shown(c, val));
    }
    return rv;
}

static apr_status_t set_api_base(ctx_t *c, void *obj, const node_t *val, const char *path)
{
    aop_instance_t *inst = obj;
    const char *url, *problem;
    apr_status_t rv = get_scalar(c, val, path, "a URL", &url);

    if (rv != APR_SUCCESS) {
        return rv;
    }
    if ((problem = aop_url_parse_api_base(c->p, url, inst)) != NULL) {
        return aop_yaml_fail(c, val->file, val->line, path, "%s%s", problem,
                             unset_note(c, val));
    }
    if (!strcmp(inst->scheme, "http")) {
        aop_yaml_warn(c, val->file, val->line, path,
                      "plain http:// sends the API key unencrypted; use https://");
    }
    return APR_SUCCESS;
}

static apr_status_t set_models(ctx_t *c, void *obj, const node_t *val, const char *path)
{
    aop_instance_t *inst = obj;
    apr_hash_t *seen = apr_hash_make(c->p);
    const char *model, *ipath;
    int i;
    apr_status_t rv;

    if (val->type != AOP_YAML_SEQ) {
        return aop_yaml_fail(c, val->file, val->line, path, "expected a list, got %s",
                             aop_yaml_type_name(val));
    }
    if (val->items->nelts == 0) {
        return aop_yaml_fail(c, val->file, val->line, path, "must list at least one model");
    }
    inst->supported_models = apr_array_make(c->p, val->items->nelts, sizeof(const char *));
    for (i = 0; i < val->items->nelts; ++i) {
        const node_t *item = APR_ARRAY_IDX(val->items, i, node_t *);
        ipath = apr_psprintf(c->p, "%s[%d]", path, i);
        if ((rv = get_scalar(c, item, ipath, "a model name", &model)) != APR_SUCCESS) {
            return rv;
        }
        if (!*model) {
            return aop_yaml_fail(c, item->file, item->line, ipath, "empty model name%s",
                                 unset_note(c, item));
        }
        if (apr_hash_get(seen, model, APR_HASH_KEY_STRING)) {
            return aop_yaml_fail(c, item->file, item->line, ipath,
                                 "duplicate model \"%s\"", model);
        }
        apr_hash_set(seen, model, APR_HASH_KEY_STRING, model);
        APR_ARRAY_PUSH(inst->supported_models, const char *) = model;
    }
    return APR_SUCCESS;
}

static apr_status_t set_deployments(ctx_t *c, void *obj, const node_t *val,
                                    const char *path)
{
    aop_instance_t *inst = obj;
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
            return missing(c, val, kv->key, path, " (the deployment name)");
        }
        if ((rv = get_scalar(c, kv->val, mpath, "a deployment name", &dep)) != APR_SUCCESS) {
            return rv;
        }
        if (!aop_config_safe_name(dep, 1)) {
            return aop_yaml_fail(c, kv->val->file, kv->val->line, mpath,
                                 "deployment name %s must be [A-Za-z0-9._-]+ "
                                 "(it is part of the URL path)%s",
                                 shown(c, kv->val), unset_note(c, kv->val));
        }
        apr_hash_set(inst->model_deployments, kv->key, APR_HASH_KEY_STRING, dep);
    }
    return APR_SUCCESS;
}

/* api_key_file: a path, absolute or relative to the YAML file that names it.  The
 * file is read once the instance is complete (read_api_key_file), since an overlay
 * may give the instance an api_key instead. */
static apr_status_t set_api_key_file(ctx_t *c, void *obj, const node_t *val,
                                     const char *path)
{
    aop_instance_t *inst = obj;
    const char *file;
    apr_status_t rv = get_scalar(c, val, path, "a file name", &file);

    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (!*file) {
        return aop_yaml_fail(c, val->file, val->line, path, "empty file name%s",
                             unset_note(c, val));
    }
    if (*file != '/') {
        const char *slash = strrchr(val->file, '/');

        file = slash ? apr_pstrcat(c->p, apr_pstrmemdup(c->p, val->file, slash - val->file),
                                   "/", file, NULL) : file;
    }
    inst->api_key_file = file;
    return APR_SUCCESS;
}

/* The key goes into a request header of every call to the instance. */
static apr_status_t read_api_key_file(ctx_t *c, const node_t *n, const char *path,
                                      aop_instance_t *inst)
{
    const char *why = aop_secret_file_read(c->p, inst->api_key_file, 1, &inst->api_key);

    return why ? aop_yaml_fail(c, n->file, n->line, path, "%s", why) : APR_SUCCESS;
}

/* api_key or api_key_file: one of them per file; an overlay's choice replaces the
 * base's. */
static apr_status_t resolve_api_key(ctx_t *c, const node_t *map, aop_instance_t *inst,
                                    const char *path)
{
    const pair_t *key = aop_yaml_find(map, "api_key");
    const pair_t *file = aop_yaml_find(map, "api_key_file");
    const char *fpath = aop_yaml_key_path(c->p, path, "api_key_file");

    if (!inst->api_key_file) {
        return APR_SUCCESS;
    }
    if (key && !key->val->is_null) {
        if (!strcmp(key->file, file->file)) {
            return aop_yaml_fail(c, file->file, file->line, fpath, "set either api_key or "
                                 "api_key_file, not both (api_key at line %d)", key->line);
        }
        if (!strcmp(file->file, inst->file)) {
            inst->api_key_file = NULL;           /* the overlay's api_key wins */
            return APR_SUCCESS;
        }
    }
    if (inst->sources) {
        apr_table_setn(inst->sources, "api_key", file->file);
    }
    return read_api_key_file(c, file->val, fpath, inst);
}

static const field_t instance_fields[] = {
    FIELD_FN("name", set_name_done),
    FIELD_FN("provider_type", set_provider),
    FIELD_STR("api_key", aop_instance_t, api_key),
    FIELD_FN("api_key_file", set_api_key_file),
    FIELD_FN("api_base", set_api_base),
    FIELD_STR("api_version", aop_instance_t, api_version),
    FIELD_INT("priority", aop_instance_t, priority, INT_MIN, INT_MAX),
    FIELD_INT("weight", aop_instance_t, weight, 0, INT_MAX),
    FIELD_I64("max_tpm", aop_instance_t, max_tpm, 0, APR_INT64_MAX),
    FIELD_BOOL("enabled", aop_instance_t, enabled),
    FIELD_FN("supported_models", set_models),
    FIELD_FN("model_deployments", set_deployments),
    FIELD_END
};

static apr_status_t instance_name(ctx_t *c, const node_t *map, const char *path,
                                  aop_instance_t *inst)
{
    const pair_t *kv = aop_yaml_find(map, "name");
    const char *npath = aop_yaml_key_path(c->p, path, "name");
    apr_status_t rv;

    if (!kv || kv->val->is_null) {
        return missing(c, map, "name", path, "");
    }
    if ((rv = get_scalar(c, kv->val, npath, "a string", &inst->name)) != APR_SUCCESS) {
        return rv;
    }
    if (!aop_config_safe_name(inst->name, 1) || strlen(inst->name) > AOP_NAME_MAX) {
        return aop_yaml_fail(c, kv->val->file, kv->val->line, npath, "%s is not a valid "
                             "instance name (1..%d characters of A-Z a-z 0-9 . _ -)%s",
                             shown(c, kv->val), AOP_NAME_MAX, unset_note(c, kv->val));
    }
    return APR_SUCCESS;
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
        return missing(c, map, "api_key", path, " (needed by an enabled instance)");
    }
    return aop_yaml_fail(c, kv->val->file, kv->val->line,
                         aop_yaml_key_path(c->p, path, "api_key"),
                         "must not be empty for an enabled instance%s",
                         unset_note(c, kv->val));
}

/* api_version goes into the query string of every upstream request. */
static apr_status_t check_api_version(ctx_t *c, const node_t *map,
                                      const aop_instance_t *inst, const char *path)
{
    const node_t *val;

    if (!inst->api_version) {
        return missing(c, map, "api_version", path, "");
    }
    if (!aop_config_safe_name(inst->api_version, 1)) {
        val = aop_yaml_find(map, "api_version")->val;
        return aop_yaml_fail(c, val->file, val->line,
                             aop_yaml_key_path(c->p, path, "api_version"),
                             "%s must be [A-Za-z0-9._-]+ (it is part of the URL query)%s",
                             shown(c, val), unset_note(c, val));
    }
    return APR_SUCCESS;
}

static int is_supported(const aop_instance_t *inst, const char *model)
{
    int i;

    for (i = 0; i < inst->supported_models->nelts; ++i) {
        if (!strcmp(APR_ARRAY_IDX(inst->supported_models, i, const char *), model)) {
            return 1;
        }
    }
    return 0;
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
        if (!is_supported(inst, kv->key)) {
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

/* Fails with AOP_CFG_PLACEHOLDER: set_instances leaves the instance out in every
 * mode, with this as a warning, so that a freshly installed configuration passes
 * configtest and says what to edit. */
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

    if (!inst->api_base) {
        return missing(c, map, "api_base", path, "");
    }
    if (aop_config_placeholder_host(inst->host)) {
        return placeholder(c, map, path, inst);
    }
    if ((rv = check_api_version(c, map, inst, path)) != APR_SUCCESS) {
        return rv;
    }
    if (!inst->supported_models->nelts) {
        return missing(c, map, "supported_models", path, "");
    }
    if ((rv = resolve_api_key(c, map, inst, path)) != APR_SUCCESS
        || (rv = check_api_key(c, map, inst, path)) != APR_SUCCESS) {
        return rv;
    }
    return check_deployments(c, map, inst, path);
}

aop_instance_t *aop_instance_new(apr_pool_t *p, const char *file, int line)
{
    aop_instance_t *inst = apr_pcalloc(p, sizeof(*inst));

    inst->provider_type = "azure";
    inst->priority = 100;
    inst->weight = 100;
    inst->enabled = 1;
    inst->supported_models = apr_array_make(p, 4, sizeof(const char *));
    inst->model_deployments = apr_hash_make(p);
    inst->sources = apr_table_make(p, 16);
    inst->file = file;
    inst->line = line;
    return inst;
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
        || (rv = apply_fields(c, inst, n, path, instance_fields, inst->sources)) != APR_SUCCESS
        || (rv = check_instance(c, n, inst, path)) != APR_SUCCESS) {
        return rv;
    }
    *pinst = inst;
    return APR_SUCCESS;
}

static void leave_out(ctx_t *c, aop_config_t *cfg, const node_t *n, int idx)
{
    aop_left_out_t *out = apr_array_push(cfg->left_out);
    const char *name = n->type == AOP_YAML_MAP ? instance_name_of(n) : NULL;

    out->name = name && aop_config_safe_name(name, 1) ? name
                : apr_psprintf(c->p, "instances[%d]", idx);
    out->problem = c->err;
    c->err = NULL;
}

static apr_status_t set_instances(ctx_t *c, void *obj, const node_t *val, const char *path)
{
    aop_config_t *cfg = obj;
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

static const field_t top_fields[] = {
    FIELD_STR("name", aop_config_t, name),
    FIELD_STR("version", aop_config_t, version),
    FIELD_INT("port", aop_config_t, port, 1, 65535),
    FIELD_FN("routing", set_routing),
    FIELD_FN("logging", set_logging),
    FIELD_FN("monitoring", set_monitoring),
    FIELD_FN("instances", set_instances),
    FIELD_END
};

/* --------------------------------------------------------------------------
 * loading
 */
static aop_config_t *new_config(apr_pool_t *p)
{
    aop_config_t *cfg = apr_pcalloc(p, sizeof(*cfg));

    cfg->strategy = AOP_STRATEGY_FAILOVER;
    cfg->retries = 3;
    cfg->timeout = 60.0;
    cfg->log_level = "INFO";
    cfg->stats_window_minutes = 5;
    cfg->additional_windows = apr_array_make(p, 3, sizeof(int));
    APR_ARRAY_PUSH(cfg->additional_windows, int) = 15;
    APR_ARRAY_PUSH(cfg->additional_windows, int) = 30;
    APR_ARRAY_PUSH(cfg->additional_windows, int) = 60;
    cfg->instances = apr_array_make(p, 4, sizeof(aop_instance_t *));
    cfg->files = apr_array_make(p, 2, sizeof(const char *));
    cfg->warnings = apr_array_make(p, 4, sizeof(const char *));
    return cfg;
}

/* Every warning, from reading or from the schema, goes straight into cfg. */
static void init_ctx(ctx_t *c, apr_pool_t *p, aop_getenv_fn *getenv_fn, void *baton,
                     aop_config_t *cfg)
{
    c->p = p;
    c->getenv_fn = getenv_fn;
    c->baton = baton;
    c->warnings = cfg->warnings;
    c->err = NULL;
}

/* env_text may be NULL: no overlay. */
static apr_status_t load_layers(ctx_t *c, aop_config_t *cfg,
                                const char *base_name, const char *base_text,
                                apr_size_t base_len, const char *env_name,
                                const char *env_text, apr_size_t env_len)
{
    node_t *root = NULL, *overlay = NULL;
    apr_status_t rv;

    if ((rv = aop_yaml_read(c, base_name, base_text, base_len, &root)) != APR_SUCCESS) {
        return rv;
    }
    APR_ARRAY_PUSH(cfg->files, const char *) = base_name;
    if (env_text) {
        if ((rv = aop_yaml_read(c, env_name, env_text, env_len, &overlay)) != APR_SUCCESS
            || (rv = aop_yaml_merge(c, root, overlay, "instances", merge_instances))
               != APR_SUCCESS) {
            return rv;
        }
        APR_ARRAY_PUSH(cfg->files, const char *) = env_name;
    }
    return apply_fields(c, cfg, root, "", top_fields, NULL);
}

static apr_status_t finish(ctx_t *c, aop_config_t *cfg, apr_status_t rv,
                           aop_config_t **pcfg, const char **perr)
{
    *pcfg = (rv == APR_SUCCESS) ? cfg : NULL;
    *perr = (rv == APR_SUCCESS) ? NULL : c->err;
    return rv;
}

static apr_status_t file_error(ctx_t *c, const char *path, const char *what,
                               apr_status_t rv)
{
    char ebuf[128];

    c->err = apr_psprintf(c->p, "%s: %s: %s", path, what,
                          apr_strerror(rv, ebuf, sizeof(ebuf)));
    return APR_EINVAL;
}

/* Reads a whole file.  An optional file that does not exist leaves *ptext NULL. */
static apr_status_t read_file(ctx_t *c, const char *path, int optional,
                              const char **ptext, apr_size_t *plen)
{
    static const char *const what[] = {
        NULL, "cannot open", "cannot open", "cannot stat", NULL, NULL, "cannot read"
    };
    apr_status_t rv;
    aop_file_e got = aop_file_read(c->p, path, AOP_CFG_MAX_FILE, ptext, plen, &rv);

    if (got == AOP_FILE_OK || (got == AOP_FILE_MISSING && optional)) {
        return APR_SUCCESS;
    }
    if (got == AOP_FILE_NOT_REGULAR || got == AOP_FILE_TOO_LARGE) {
        c->err = apr_psprintf(c->p, "%s: %s", path, got == AOP_FILE_NOT_REGULAR
                              ? "not a regular file" : "larger than 1 MiB");
        return APR_EINVAL;
    }
    return file_error(c, path, what[got], rv);
}

static apr_status_t load_files(ctx_t *c, aop_config_t *cfg, const char *dir,
                               const char *env)
{
    const char *base_path, *env_path = NULL, *base_text, *env_text = NULL;
    apr_size_t base_len, env_len = 0;
    apr_status_t rv;

    if (env && *env && !aop_config_safe_name(env, 0)) {
        c->err = apr_psprintf(c->p, "environment name \"%.64s\" is not valid "
                              "(expected [A-Za-z0-9_-]+)", env);
        return APR_EINVAL;
    }
    base_path = apr_pstrcat(c->p, dir, "/base.yaml", NULL);
    if ((rv = read_file(c, base_path, 0, &base_text, &base_len)) != APR_SUCCESS) {
        return rv;
    }
    if (env && *env) {
        env_path = apr_pstrcat(c->p, dir, "/", env, ".yaml", NULL);
        if ((rv = read_file(c, env_path, 1, &env_text, &env_len)) != APR_SUCCESS) {
            return rv;
        }
        if (!env_text) {
            APR_ARRAY_PUSH(cfg->warnings, const char *) = apr_psprintf(c->p,
                "%s: environment file not found, using %s alone", env_path, base_path);
        }
    }
    return load_layers(c, cfg, base_path, base_text, base_len, env_path, env_text,
                       env_len);
}

apr_status_t aop_config_load(apr_pool_t *p, const char *dir, const char *env,
                             aop_getenv_fn *getenv_fn, void *baton,
                             aop_config_t **pcfg, const char **perr)
{
    return aop_config_load_mode(p, dir, env, getenv_fn, baton, AOP_CONFIG_STRICT, pcfg,
                                perr);
}

apr_status_t aop_config_load_mode(apr_pool_t *p, const char *dir, const char *env,
                                  aop_getenv_fn *getenv_fn, void *baton,
                                  aop_config_mode_e mode, aop_config_t **pcfg,
                                  const char **perr)
{
    ctx_t c;
    aop_config_t *cfg = new_config(p);
    apr_size_t len;

    if (mode == AOP_CONFIG_LENIENT) {
        cfg->left_out = apr_array_make(p, 1, sizeof(aop_left_out_t));
    }
    init_ctx(&c, p, getenv_fn, baton, cfg);
    /* "conf/" and "conf" name the same directory */
    len = (dir && *dir) ? strlen(dir) : 0;
    while (len > 1 && dir[len - 1] == '/') {
        --len;
    }
    dir = len ? apr_pstrmemdup(p, dir, len) : ".";
    return finish(&c, cfg, load_files(&c, cfg, dir, env), pcfg, perr);
}

apr_status_t aop_config_load_texts(apr_pool_t *p,
                                   const char *base_name, const char *base_text,
                                   const char *env_name, const char *env_text,
                                   aop_getenv_fn *getenv_fn, void *baton,
                                   aop_config_t **pcfg, const char **perr)
{
    ctx_t c;
    aop_config_t *cfg = new_config(p);

    init_ctx(&c, p, getenv_fn, baton, cfg);
    if (!base_text) {
        c.err = apr_psprintf(p, "%s: no configuration text", base_name ? base_name : "base");
        return finish(&c, cfg, APR_EINVAL, pcfg, perr);
    }
    return finish(&c, cfg, load_layers(&c, cfg, base_name ? base_name : "base", base_text,
                                       strlen(base_text), env_name ? env_name : "env",
                                       env_text, env_text ? strlen(env_text) : 0),
                  pcfg, perr);
}

/* --------------------------------------------------------------------------
 * small public helpers
 */
static const char *const strategy_names[] = { "failover", "weighted", "round_robin" };

const char *aop_strategy_name(aop_strategy_e s)
{
    if ((int)s < 0 || (int)s >= (int)(sizeof(strategy_names) / sizeof(strategy_names[0]))) {
        return "unknown";
    }
    return strategy_names[s];
}

/* Returns 1 and sets *out for a known name, 0 otherwise (exact, case-sensitive). */
int aop_strategy_parse(const char *name, aop_strategy_e *out)
{
    int i;

    for (i = 0; name && i < (int)(sizeof(strategy_names) / sizeof(strategy_names[0])); ++i) {
        if (!strcmp(name, strategy_names[i])) {
            *out = (aop_strategy_e)i;
            return 1;
        }
    }
    return 0;
}

const char *aop_instance_deployment(const aop_instance_t *inst, const char *model)
{
    if (!inst || !inst->model_deployments || !model) {
        return NULL;
    }
    return apr_hash_get(inst->model_deployments, model, APR_HASH_KEY_STRING);
}