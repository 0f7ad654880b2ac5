/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Typed values from the configuration's YAML tree: see aop_yaml_value.h. */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "aop_config.h"
#include "aop_yaml_value.h"

const char *aop_yaml_unset_note(aop_yaml_ctx_t *c, const aop_yaml_node_t *n)
{
    if (!n->unset) {
        return "";
    }
    return apr_psprintf(c->p, " (environment variable ${%s} is not set)",
                        APR_ARRAY_IDX(n->unset, 0, const char *));
}

const char *aop_yaml_shown(aop_yaml_ctx_t *c, const aop_yaml_node_t *n)
{
    if (n->var && *n->text) {
        return apr_psprintf(c->p, "the value of ${%s}", n->var);
    }
    return apr_psprintf(c->p, "\"%.80s\"", n->text);
}

apr_status_t aop_yaml_scalar(aop_yaml_ctx_t *c, const aop_yaml_node_t *n, const char *path,
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

apr_status_t aop_yaml_int64(aop_yaml_ctx_t *c, const aop_yaml_node_t *n, const char *path,
                            apr_int64_t lo, apr_int64_t hi, apr_int64_t *out)
{
    const char *s, *problem;
    apr_status_t rv = aop_yaml_scalar(c, n, path, "an integer", &s);

    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (!parse_int64(s, out)) {
        return aop_yaml_fail(c, n->file, n->line, path, "expected an integer, got %s%s",
                             aop_yaml_shown(c, n), aop_yaml_unset_note(c, n));
    }
    if ((problem = aop_range_problem(c->p, lo, hi, *out)) != NULL) {
        return aop_yaml_fail(c, n->file, n->line, path, "%s", problem);
    }
    return APR_SUCCESS;
}

apr_status_t aop_yaml_bool(aop_yaml_ctx_t *c, const aop_yaml_node_t *n, const char *path,
                           int *out)
{
    static const char *const yes[] = { "true", "yes", "on" };
    static const char *const no[] = { "false", "no", "off" };
    const char *s;
    apr_status_t rv = aop_yaml_scalar(c, n, path, "true or false", &s);
    int i;

    for (i = 0; rv == APR_SUCCESS && i < 3; ++i) {
        if (!strcasecmp(s, yes[i]) || !strcasecmp(s, no[i])) {
            *out = !strcasecmp(s, yes[i]);
            return APR_SUCCESS;
        }
    }
    if (rv == APR_SUCCESS) {
        rv = aop_yaml_fail(c, n->file, n->line, path, "expected true or false "
                           "(or yes/no, on/off), got %s%s", aop_yaml_shown(c, n),
                           aop_yaml_unset_note(c, n));
    }
    return rv;
}

apr_status_t aop_yaml_missing(aop_yaml_ctx_t *c, const aop_yaml_node_t *map,
                              const char *key, const char *path, const char *why)
{
    const aop_yaml_pair_t *kv = aop_yaml_find(map, key);

    return aop_yaml_fail(c, kv ? kv->file : map->file, kv ? kv->line : map->line,
                         aop_yaml_key_path(c->p, path, key), "missing required field%s",
                         why);
}
