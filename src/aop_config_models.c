/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <string.h>

#include <apr_strings.h>

#include "aop_config_models.h"
#include "aop_yaml_value.h"

/* The most models one fallback list may name: each is a further attempt's worth. */
#define FALLBACKS_MAX 8

apr_status_t aop_config_set_aliases(aop_yaml_ctx_t *c, void *obj,
                                    const aop_yaml_node_t *val, const char *path)
{
    aop_config_t *cfg = obj;
    const char *model;
    int i;

    if (val->type != AOP_YAML_MAP) {
        return aop_yaml_fail(c, val->file, val->line, path, "expected a map of alias: model, "
                             "got %s", aop_yaml_type_name(val));
    }
    cfg->aliases = apr_hash_make(c->p);
    cfg->alias_src = apr_hash_make(c->p);
    for (i = 0; i < val->items->nelts; i++) {
        aop_yaml_pair_t *kv = &APR_ARRAY_IDX(val->items, i, aop_yaml_pair_t);
        const char *key = apr_pstrcat(c->p, path, ".", kv->key, NULL);

        if (!*kv->key || aop_yaml_scalar(c, kv->val, key, "a model name", &model)
                         != APR_SUCCESS || !*model) {
            return c->err ? APR_EINVAL
                          : aop_yaml_fail(c, kv->file, kv->line, key, "must name a model");
        }
        apr_hash_set(cfg->aliases, kv->key, APR_HASH_KEY_STRING, model);
        apr_hash_set(cfg->alias_src, kv->key, APR_HASH_KEY_STRING, kv);
    }
    return APR_SUCCESS;
}

/* { model: [model, ...] } into *out (model -> apr_array_header_t * of const char *),
 * each pair's place into *src. */
static apr_status_t set_lists(aop_yaml_ctx_t *c, const aop_yaml_node_t *val, const char *path,
                              apr_hash_t **out, apr_hash_t **src)
{
    int i, j;

    if (val->type != AOP_YAML_MAP) {
        return aop_yaml_fail(c, val->file, val->line, path, "expected a map of model: "
                             "[models], got %s", aop_yaml_type_name(val));
    }
    *out = apr_hash_make(c->p);
    *src = apr_hash_make(c->p);
    for (i = 0; i < val->items->nelts; i++) {
        aop_yaml_pair_t *kv = &APR_ARRAY_IDX(val->items, i, aop_yaml_pair_t);
        const char *key = apr_pstrcat(c->p, path, ".", kv->key, NULL);
        apr_array_header_t *list;

        if (kv->val->type != AOP_YAML_SEQ || kv->val->items->nelts == 0
            || kv->val->items->nelts > FALLBACKS_MAX) {
            return aop_yaml_fail(c, kv->file, kv->line, key, "expected a list of 1 to %d "
                                 "models", FALLBACKS_MAX);
        }
        list = apr_array_make(c->p, kv->val->items->nelts, sizeof(const char *));
        for (j = 0; j < kv->val->items->nelts; j++) {
            const char *m, *k = apr_psprintf(c->p, "%s[%d]", key, j);

            if (aop_yaml_scalar(c, APR_ARRAY_IDX(kv->val->items, j, aop_yaml_node_t *), k,
                                "a model name", &m) != APR_SUCCESS) {
                return APR_EINVAL;
            }
            if (!*m || !strcmp(m, kv->key)) {
                return aop_yaml_fail(c, kv->file, kv->line, k, "must name another model");
            }
            APR_ARRAY_PUSH(list, const char *) = m;
        }
        apr_hash_set(*out, kv->key, APR_HASH_KEY_STRING, list);
        apr_hash_set(*src, kv->key, APR_HASH_KEY_STRING, kv);
    }
    return APR_SUCCESS;
}

apr_status_t aop_config_set_fallbacks(aop_yaml_ctx_t *c, void *obj,
                                      const aop_yaml_node_t *val, const char *path)
{
    aop_config_t *cfg = obj;

    return set_lists(c, val, path, &cfg->fallbacks, &cfg->fallback_src);
}

apr_status_t aop_config_set_context_fallbacks(aop_yaml_ctx_t *c, void *obj,
                                              const aop_yaml_node_t *val, const char *path)
{
    aop_config_t *cfg = obj;

    return set_lists(c, val, path, &cfg->context_fallbacks, &cfg->context_fallback_src);
}

int aop_config_lists_model(const aop_config_t *cfg, const char *model)
{
    int i;

    for (i = 0; i < cfg->instances->nelts; i++) {
        if (aop_instance_model_index(APR_ARRAY_IDX(cfg->instances, i, aop_instance_t *),
                                     model) >= 0) {
            return 1;
        }
    }
    return 0;
}

/* A model no instance lists: an error (configtest), or in a lenient load (start,
 * restart) a warning, and *drop is set. */
static apr_status_t unserved(aop_yaml_ctx_t *c, const aop_config_t *cfg,
                             const aop_yaml_pair_t *kv, const char *key, const char *model,
                             int *drop)
{
    if (!cfg->left_out) {
        return aop_yaml_fail(c, kv->file, kv->line, key, "model \"%s\" is not in any "
                             "instance's supported_models", model);
    }
    aop_yaml_warn(c, kv->file, kv->line, key, "model \"%s\" is not served by any instance "
                  "that could be loaded: left out", model);
    *drop = 1;
    return APR_SUCCESS;
}

static apr_status_t check_aliases(aop_yaml_ctx_t *c, aop_config_t *cfg)
{
    apr_hash_index_t *hi;

    for (hi = cfg->aliases ? apr_hash_first(c->p, cfg->aliases) : NULL; hi;
         hi = apr_hash_next(hi)) {
        const char *alias = apr_hash_this_key(hi), *model = apr_hash_this_val(hi);
        const aop_yaml_pair_t *kv = apr_hash_get(cfg->alias_src, alias, APR_HASH_KEY_STRING);
        const char *key = apr_pstrcat(c->p, "aliases.", alias, NULL);
        int drop = 0;

        if (aop_config_lists_model(cfg, alias)) {
            return aop_yaml_fail(c, kv->file, kv->line, key, "\"%s\" is a model an instance "
                                 "lists; an alias must be another name", alias);
        }
        if (!aop_config_lists_model(cfg, model)
            && unserved(c, cfg, kv, key, model, &drop) != APR_SUCCESS) {
            return APR_EINVAL;
        }
        if (drop) {
            apr_hash_set(cfg->aliases, alias, APR_HASH_KEY_STRING, NULL);
        }
    }
    return APR_SUCCESS;
}

/* Each list keeps the models some instance lists (in a lenient load). */
static apr_status_t check_lists(aop_yaml_ctx_t *c, aop_config_t *cfg, apr_hash_t *lists,
                                apr_hash_t *src, const char *what)
{
    apr_hash_index_t *hi;
    int i;

    for (hi = lists ? apr_hash_first(c->p, lists) : NULL; hi; hi = apr_hash_next(hi)) {
        const char *model = apr_hash_this_key(hi);
        apr_array_header_t *list = apr_hash_this_val(hi), *kept;
        const aop_yaml_pair_t *kv = apr_hash_get(src, model, APR_HASH_KEY_STRING);
        const char *key = apr_pstrcat(c->p, what, ".", model, NULL);

        kept = apr_array_make(c->p, list->nelts, sizeof(const char *));
        for (i = 0; i < list->nelts; i++) {
            const char *m = APR_ARRAY_IDX(list, i, const char *);
            int drop = 0;

            if (!aop_config_lists_model(cfg, m)
                && unserved(c, cfg, kv, apr_psprintf(c->p, "%s[%d]", key, i), m, &drop)
                   != APR_SUCCESS) {
                return APR_EINVAL;
            }
            if (!drop) {
                APR_ARRAY_PUSH(kept, const char *) = m;
            }
        }
        apr_hash_set(lists, model, APR_HASH_KEY_STRING, kept->nelts ? kept : NULL);
    }
    return APR_SUCCESS;
}

apr_status_t aop_config_check_models(aop_yaml_ctx_t *c, aop_config_t *cfg)
{
    if (check_aliases(c, cfg) != APR_SUCCESS
        || check_lists(c, cfg, cfg->fallbacks, cfg->fallback_src, "fallbacks")
           != APR_SUCCESS
        || check_lists(c, cfg, cfg->context_fallbacks, cfg->context_fallback_src,
                       "context_window_fallbacks") != APR_SUCCESS) {
        return APR_EINVAL;
    }
    return APR_SUCCESS;
}

const char *aop_config_model_of(const aop_config_t *cfg, const char *name)
{
    const char *model = cfg && cfg->aliases && name
                        ? apr_hash_get(cfg->aliases, name, APR_HASH_KEY_STRING) : NULL;

    return model ? model : name;
}

const apr_array_header_t *aop_config_fallbacks(const aop_config_t *cfg, const char *model,
                                               int context)
{
    apr_hash_t *h = cfg ? (context ? cfg->context_fallbacks : cfg->fallbacks) : NULL;

    return h && model ? apr_hash_get(h, model, APR_HASH_KEY_STRING) : NULL;
}
