/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Reads the proxy configuration: DIR/base.yaml overlaid with DIR/<env>.yaml.
 *
 * The work is done in three passes over pool-allocated trees:
 *   1. read: each file into a tree of nodes with line numbers (aop_yaml.c);
 *   2. merge: the environment tree is merged into the base tree (aop_yaml.c), with
 *      instances matched by name (aop_config_instance.c);
 *   3. build: the merged tree is checked against the schema and converted into
 *      aop_config_t: the top-level sections here, each instance by the instance
 *      schema in aop_config_instance.c.
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
#include "aop_config_instance.h"
#include "aop_config_models.h"
#include "aop_file.h"
#include "aop_yaml.h"
#include "aop_yaml_value.h"

/* Keeps a hostile or broken file from exhausting httpd at startup, with room for
 * fleets of tens of thousands of instances (10 000 in the block style of
 * conf/base.yaml take about 4 MiB; the YAML reader bounds the nodes as well). */
#define AOP_CFG_MAX_FILE   (32 * 1024 * 1024)

#define AOP_TIMEOUT_MAX    86400.0

/* Short names for the tree's types, used on nearly every line below. */
typedef aop_yaml_ctx_t ctx_t;
typedef aop_yaml_node_t node_t;
typedef aop_yaml_pair_t pair_t;

/* --------------------------------------------------------------------------
 * pass 3: schema and conversion
 */
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
        return aop_yaml_scalar(c, val, path, "a string",
                               (const char **)(void *)(base + f->off));
    case F_BOOL:
        return aop_yaml_bool(c, val, path, (int *)(void *)(base + f->off));
    case F_INT:
    case F_INT64:
        if ((rv = aop_yaml_int64(c, val, path, f->lo, f->hi, &v)) != APR_SUCCESS) {
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
                                 const field_t *fields)
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
        if (!kv->val->is_null
            && (rv = set_field(c, obj, f, kv->val, aop_yaml_key_path(c->p, path, kv->key)))
               != APR_SUCCESS) {
            return rv;
        }
    }
    return APR_SUCCESS;
}

/* --- routing, logging, monitoring ------------------------------------------- */

static apr_status_t set_strategy(ctx_t *c, void *obj, const node_t *val, const char *path)
{
    aop_config_t *cfg = obj;
    const char *s;
    apr_status_t rv = aop_yaml_scalar(c, val, path, "a string", &s);

    if (rv == APR_SUCCESS && !aop_strategy_parse(s, &cfg->strategy)) {
        rv = aop_yaml_fail(c, val->file, val->line, path, "unknown strategy %s (expected "
                           "one of: failover, weighted, round_robin)", aop_yaml_shown(c, val));
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
    apr_status_t rv = aop_yaml_scalar(c, val, path, "a number", &s);

    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (!parse_number(s, &cfg->timeout)) {
        return aop_yaml_fail(c, val->file, val->line, path, "expected a number of seconds, "
                             "got %s%s", aop_yaml_shown(c, val), aop_yaml_unset_note(c, val));
    }
    if (!(cfg->timeout > 0.0) || cfg->timeout > AOP_TIMEOUT_MAX) {
        return aop_yaml_fail(c, val->file, val->line, path,
                             "must be > 0 and <= %g seconds, got %g",
                             AOP_TIMEOUT_MAX, cfg->timeout);
    }
    return APR_SUCCESS;
}

/* A stream limit in seconds: 0 turns it off; else as routing.timeout. */
static apr_status_t read_limit(ctx_t *c, const node_t *val, const char *path, double *out)
{
    const char *s;
    apr_status_t rv = aop_yaml_scalar(c, val, path, "a number", &s);

    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (!parse_number(s, out)) {
        return aop_yaml_fail(c, val->file, val->line, path, "expected a number of seconds, "
                             "got %s%s", aop_yaml_shown(c, val), aop_yaml_unset_note(c, val));
    }
    if (!(*out >= 0.0) || *out > AOP_TIMEOUT_MAX) {
        return aop_yaml_fail(c, val->file, val->line, path,
                             "must be >= 0 (0: off) and <= %g seconds, got %g",
                             AOP_TIMEOUT_MAX, *out);
    }
    return APR_SUCCESS;
}

static apr_status_t set_first_token(ctx_t *c, void *obj, const node_t *val, const char *path)
{
    return read_limit(c, val, path, &((aop_config_t *)obj)->first_token_timeout);
}

static apr_status_t set_stream_idle(ctx_t *c, void *obj, const node_t *val, const char *path)
{
    return read_limit(c, val, path, &((aop_config_t *)obj)->stream_idle_timeout);
}

/* first_token_timeout_by_model: {model: seconds}; whether each model exists is
 * checked once the instances are read (check_by_model). */
static apr_status_t set_first_token_by_model(ctx_t *c, void *obj, const node_t *val,
                                             const char *path)
{
    aop_config_t *cfg = obj;
    int i;

    if (val->type != AOP_YAML_MAP) {
        return aop_yaml_fail(c, val->file, val->line, path, "expected a map of model: "
                             "seconds, got %s", aop_yaml_type_name(val));
    }
    cfg->first_token_by_model = apr_hash_make(c->p);
    cfg->first_token_by_model_src = apr_hash_make(c->p);
    for (i = 0; i < val->items->nelts; i++) {
        aop_yaml_pair_t *kv = &APR_ARRAY_IDX(val->items, i, aop_yaml_pair_t);
        const char *key = apr_pstrcat(c->p, path, ".", kv->key, NULL);
        double *secs = apr_palloc(c->p, sizeof(*secs));
        apr_status_t rv;

        if (!*kv->key) {
            return aop_yaml_fail(c, kv->file, kv->line, key, "must name a model");
        }
        if ((rv = read_limit(c, kv->val, key, secs)) != APR_SUCCESS) {
            return rv;
        }
        apr_hash_set(cfg->first_token_by_model, kv->key, APR_HASH_KEY_STRING, secs);
        apr_hash_set(cfg->first_token_by_model_src, kv->key, APR_HASH_KEY_STRING, kv);
    }
    return APR_SUCCESS;
}

double aop_config_first_token_timeout(const aop_config_t *cfg, const char *model)
{
    const double *secs = cfg->first_token_by_model && model
                         ? apr_hash_get(cfg->first_token_by_model, model, APR_HASH_KEY_STRING)
                         : NULL;

    return secs ? *secs : cfg->first_token_timeout;
}

static apr_status_t set_level(ctx_t *c, void *obj, const node_t *val, const char *path)
{
    static const char *const levels[] = { "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL" };
    aop_config_t *cfg = obj;
    const char *s;
    apr_status_t rv = aop_yaml_scalar(c, val, path, "a string", &s);
    int i;

    for (i = 0; rv == APR_SUCCESS && i < 5; ++i) {
        if (!strcasecmp(s, levels[i])) {
            cfg->log_level = levels[i];
            return APR_SUCCESS;
        }
    }
    if (rv == APR_SUCCESS) {
        rv = aop_yaml_fail(c, val->file, val->line, path, "unknown level %s (expected one "
                           "of: DEBUG, INFO, WARNING, ERROR, CRITICAL)", aop_yaml_shown(c, val));
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
        rv = aop_yaml_int64(c, APR_ARRAY_IDX(val->items, i, node_t *),
                       apr_psprintf(c->p, "%s[%d]", path, i), 1, 60, &v);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        APR_ARRAY_PUSH(cfg->additional_windows, int) = (int)v;
    }
    return APR_SUCCESS;
}

/* How long a request may wait out an instance's Retry-After to try it again, when
 * nothing else can take it: a few seconds at most, or a client's own retry is the
 * better place. */
static apr_status_t set_max_retry_wait(ctx_t *c, void *obj, const node_t *val,
                                       const char *path)
{
    aop_config_t *cfg = obj;
    const char *s;
    apr_status_t rv = aop_yaml_scalar(c, val, path, "a number", &s);

    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (!parse_number(s, &cfg->max_retry_wait) || !(cfg->max_retry_wait >= 0.0)
        || cfg->max_retry_wait > AOP_MAX_RETRY_WAIT_MAX) {
        return aop_yaml_fail(c, val->file, val->line, path, "expected 0 to %g seconds, got %s",
                             AOP_MAX_RETRY_WAIT_MAX, aop_yaml_shown(c, val));
    }
    return APR_SUCCESS;
}

static const field_t routing_fields[] = {
    FIELD_FN("strategy", set_strategy),
    FIELD_INT("retries", aop_config_t, retries, 0, 16),
    FIELD_FN("timeout", set_timeout),
    FIELD_FN("max_retry_wait", set_max_retry_wait),
    FIELD_FN("first_token_timeout", set_first_token),
    FIELD_FN("first_token_timeout_by_model", set_first_token_by_model),
    FIELD_FN("stream_idle_timeout", set_stream_idle),
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
    return apply_fields(c, obj, val, path, routing_fields);
}

static apr_status_t set_logging(ctx_t *c, void *obj, const node_t *val, const char *path)
{
    return apply_fields(c, obj, val, path, logging_fields);
}

static apr_status_t set_monitoring(ctx_t *c, void *obj, const node_t *val,
                                   const char *path)
{
    return apply_fields(c, obj, val, path, monitoring_fields);
}

static apr_status_t set_instances(ctx_t *c, void *obj, const node_t *val, const char *path)
{
    return aop_config_read_instances(c, obj, val, path);
}

/* A per-model limit for a model no instance lists is a typo, or a model gone: it
 * could never apply, so the load says so (a warning: the fleet still starts). */
static void check_by_model(ctx_t *c, aop_config_t *cfg)
{
    apr_hash_index_t *hi;

    for (hi = cfg->first_token_by_model ? apr_hash_first(c->p, cfg->first_token_by_model)
                                        : NULL; hi; hi = apr_hash_next(hi)) {
        const char *model = apr_hash_this_key(hi);
        const aop_yaml_pair_t *kv = apr_hash_get(cfg->first_token_by_model_src, model,
                                                 APR_HASH_KEY_STRING);

        if (!aop_config_lists_model(cfg, model)) {
            aop_yaml_warn(c, kv->file, kv->line,
                          apr_pstrcat(c->p, "routing.first_token_timeout_by_model.", model,
                                      NULL),
                          "model \"%s\" is not in any instance's supported_models: the "
                          "limit never applies", model);
        }
    }
}

static const field_t top_fields[] = {
    FIELD_STR("name", aop_config_t, name),
    FIELD_STR("version", aop_config_t, version),
    FIELD_INT("port", aop_config_t, port, 1, 65535),
    FIELD_FN("routing", set_routing),
    FIELD_FN("logging", set_logging),
    FIELD_FN("monitoring", set_monitoring),
    FIELD_FN("instances", set_instances),
    FIELD_FN("aliases", aop_config_set_aliases),
    FIELD_FN("fallbacks", aop_config_set_fallbacks),
    FIELD_FN("context_window_fallbacks", aop_config_set_context_fallbacks),
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
    cfg->max_retry_wait = AOP_MAX_RETRY_WAIT_DEFAULT;
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
            || (rv = aop_yaml_merge(c, root, overlay, "instances",
                                              aop_config_merge_instances))
               != APR_SUCCESS) {
            return rv;
        }
        APR_ARRAY_PUSH(cfg->files, const char *) = env_name;
    }
    if ((rv = apply_fields(c, cfg, root, "", top_fields)) != APR_SUCCESS) {
        return rv;
    }
    check_by_model(c, cfg);
    return aop_config_check_models(c, cfg);
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
                              ? "not a regular file" : "larger than 32 MiB");
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
