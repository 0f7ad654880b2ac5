/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Reads the configuration's YAML into the tree of aop_yaml.h, and overlays trees.
 *
 * Reading is one recursive descent over libyaml's events; each event is copied into
 * the pool and deleted before anything else happens.  ${VAR} is expanded as scalars
 * are read, so that the tree only ever holds final text (and which variables it used,
 * for messages that must not show the value). */
#include <stdarg.h>
#include <string.h>

#include <yaml.h>

#include <apr_env.h>
#include <apr_hash.h>
#include <apr_lib.h>
#include <apr_strings.h>

#include "aop_yaml.h"

/* Limits that keep a hostile or broken file from exhausting httpd at startup. */
#define AOP_YAML_MAX_DEPTH  64
#define AOP_YAML_MAX_NODES  1000000   /* 10 000 block-style instances take ~200 000 */

/* Short names for the tree's types, used on nearly every line below. */
typedef aop_yaml_ctx_t ctx_t;
typedef aop_yaml_node_t node_t;
typedef aop_yaml_pair_t pair_t;

/* --------------------------------------------------------------------------
 * messages and lookups shared with the schema
 */
static const char *where(ctx_t *c, const char *file, int line, const char *key)
{
    if (key && *key) {
        return apr_psprintf(c->p, "%s:%d: %s: ", file, line, key);
    }
    return apr_psprintf(c->p, "%s:%d: ", file, line);
}

apr_status_t aop_yaml_fail(ctx_t *c, const char *file, int line, const char *key,
                           const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    c->err = apr_pstrcat(c->p, where(c, file, line, key),
                         apr_pvsprintf(c->p, fmt, ap), NULL);
    va_end(ap);
    return APR_EINVAL;
}

void aop_yaml_warn(ctx_t *c, const char *file, int line, const char *key,
                   const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    APR_ARRAY_PUSH(c->warnings, const char *) =
        apr_pstrcat(c->p, where(c, file, line, key), apr_pvsprintf(c->p, fmt, ap), NULL);
    va_end(ap);
}

const char *aop_yaml_type_name(const node_t *n)
{
    switch (n->type) {
    case AOP_YAML_MAP: return "a map";
    case AOP_YAML_SEQ: return "a list";
    default:           return "a scalar";
    }
}

const char *aop_yaml_key_path(apr_pool_t *p, const char *path, const char *key)
{
    return *path ? apr_pstrcat(p, path, ".", key, NULL) : key;
}

pair_t *aop_yaml_find(const node_t *map, const char *key)
{
    int i;

    for (i = 0; map->type == AOP_YAML_MAP && i < map->items->nelts; ++i) {
        pair_t *kv = &APR_ARRAY_IDX(map->items, i, pair_t);
        if (!strcmp(kv->key, key)) {
            return kv;
        }
    }
    return NULL;
}

/* --------------------------------------------------------------------------
 * reading: YAML -> tree
 */
typedef struct {
    ctx_t *c;
    yaml_parser_t parser;
    const char *file;
    const char *text;            /* to turn a reader error's offset into a line */
    apr_hash_t *anchors;         /* anchor name -> node_t * */
    int nodes;                   /* created so far, against alias bombs */
} reader_t;

/* What we keep of a libyaml event: copied into the pool so the event can be
 * deleted at once and no path has to remember to free it. */
typedef struct {
    yaml_event_type_t type;
    int line;
    const char *value;
    apr_size_t len;
    const char *anchor;          /* anchor, or the name an alias refers to */
    int plain;
} event_t;

static int offset_line(const char *text, size_t offset)
{
    int line = 1;
    size_t i;

    for (i = 0; text[i] && i < offset; ++i) {
        line += (text[i] == '\n');
    }
    return line;
}

static apr_status_t syntax_error(reader_t *r)
{
    yaml_parser_t *y = &r->parser;
    int line = (int)y->problem_mark.line + 1;
    const char *problem = y->problem ? y->problem : "out of memory";

    if (y->error == YAML_READER_ERROR) {
        line = offset_line(r->text, y->problem_offset);
    }
    if (y->context) {
        return aop_yaml_fail(r->c, r->file, line, NULL,
                             "YAML syntax error: %s (%s at line %d)",
                             problem, y->context, (int)y->context_mark.line + 1);
    }
    return aop_yaml_fail(r->c, r->file, line, NULL, "YAML syntax error: %s", problem);
}

static const char *dup_anchor(apr_pool_t *p, const yaml_char_t *anchor)
{
    return anchor ? apr_pstrdup(p, (const char *)anchor) : NULL;
}

static apr_status_t next_event(reader_t *r, event_t *e)
{
    yaml_event_t ev;
    apr_pool_t *p = r->c->p;

    if (!yaml_parser_parse(&r->parser, &ev)) {
        return syntax_error(r);
    }
    memset(e, 0, sizeof(*e));
    e->type = ev.type;
    e->line = (int)ev.start_mark.line + 1;
    switch (ev.type) {
    case YAML_SCALAR_EVENT:
        e->len = ev.data.scalar.length;
        e->value = apr_pstrmemdup(p, (const char *)ev.data.scalar.value, e->len);
        e->anchor = dup_anchor(p, ev.data.scalar.anchor);
        e->plain = (ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE);
        break;
    case YAML_ALIAS_EVENT:
        e->anchor = dup_anchor(p, ev.data.alias.anchor);
        break;
    case YAML_SEQUENCE_START_EVENT:
        e->anchor = dup_anchor(p, ev.data.sequence_start.anchor);
        break;
    case YAML_MAPPING_START_EVENT:
        e->anchor = dup_anchor(p, ev.data.mapping_start.anchor);
        break;
    default:
        break;
    }
    yaml_event_delete(&ev);
    return APR_SUCCESS;
}

static apr_status_t new_node(reader_t *r, aop_yaml_type_e type, int line, const char *path,
                             node_t **pn)
{
    node_t *n;

    if (++r->nodes > AOP_YAML_MAX_NODES) {
        return aop_yaml_fail(r->c, r->file, line, path,
                             "too many YAML nodes (more than %d)", AOP_YAML_MAX_NODES);
    }
    n = apr_pcalloc(r->c->p, sizeof(*n));
    n->type = type;
    n->file = r->file;
    n->line = line;
    if (type == AOP_YAML_SEQ) {
        n->items = apr_array_make(r->c->p, 8, sizeof(node_t *));
    }
    else if (type == AOP_YAML_MAP) {
        n->items = apr_array_make(r->c->p, 8, sizeof(pair_t));
    }
    *pn = n;
    return APR_SUCCESS;
}

/* --- ${VAR} expansion ------------------------------------------------------ */

static const char *lookup_env(ctx_t *c, const char *name)
{
    char *value;

    if (c->getenv_fn) {
        return c->getenv_fn(c->baton, name);
    }
    return apr_env_get(&value, name, c->p) == APR_SUCCESS ? value : NULL;
}

static int is_var_name(const char *s)
{
    if (!apr_isalpha(*s) && *s != '_') {
        return 0;
    }
    for (++s; *s; ++s) {
        if (!apr_isalnum(*s) && *s != '_') {
            return 0;
        }
    }
    return 1;
}

/* Resolves the inside of one "${...}".  The text is not quoted in errors: it may be
 * part of a secret that merely happens to contain "${". */
static apr_status_t expand_var(reader_t *r, node_t *n, const char *path,
                               const char *inner, apr_array_header_t *out)
{
    const char *sep = strstr(inner, ":-");
    const char *name = sep ? apr_pstrmemdup(r->c->p, inner, (apr_size_t)(sep - inner)) : inner;
    const char *value;

    if (!is_var_name(name)) {
        return aop_yaml_fail(r->c, n->file, n->line, path, "invalid variable name in "
                             "\"${...}\" (use \"$$\" for a literal \"$\")");
    }
    value = lookup_env(r->c, name);
    if (!n->var) {
        n->var = name;
    }
    if (sep && (!value || !*value)) {
        value = sep + 2;
    }
    else if (!value) {
        if (!n->unset) {
            n->unset = apr_array_make(r->c->p, 1, sizeof(const char *));
        }
        APR_ARRAY_PUSH(n->unset, const char *) = name;
        value = "";
    }
    APR_ARRAY_PUSH(out, const char *) = value;
    return APR_SUCCESS;
}

static apr_status_t expand(reader_t *r, node_t *n, const char *path, const char *raw)
{
    apr_array_header_t *out;
    const char *s = raw, *d, *end;
    apr_status_t rv;

    if (!strchr(raw, '$')) {
        n->text = raw;
        return APR_SUCCESS;
    }
    out = apr_array_make(r->c->p, 8, sizeof(const char *));
    while ((d = strchr(s, '$')) != NULL) {
        APR_ARRAY_PUSH(out, const char *) = apr_pstrmemdup(r->c->p, s, (apr_size_t)(d - s));
        if (d[1] != '{') {
            /* "$$" is a literal "$"; a "$" before anything else is left alone */
            APR_ARRAY_PUSH(out, const char *) = "$";
            s = d + (d[1] == '$' ? 2 : 1);
            continue;
        }
        if ((end = strchr(d + 2, '}')) == NULL) {
            return aop_yaml_fail(r->c, n->file, n->line, path, "unterminated \"${\" "
                                 "(use \"$$\" for a literal \"$\")");
        }
        rv = expand_var(r, n, path,
                        apr_pstrmemdup(r->c->p, d + 2, (apr_size_t)(end - d - 2)), out);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        s = end + 1;
    }
    APR_ARRAY_PUSH(out, const char *) = s;
    n->text = apr_array_pstrcat(r->c->p, out, 0);
    return APR_SUCCESS;
}

/* --- nodes ---------------------------------------------------------------- */

static int is_null_text(const char *s)
{
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null")
        || !strcmp(s, "NULL");
}

static apr_status_t read_node(reader_t *r, const event_t *e, const char *path, int depth,
                              node_t **pn);

static apr_status_t read_scalar(reader_t *r, const event_t *e, const char *path,
                                node_t **pn)
{
    apr_status_t rv;

    if (strlen(e->value) != e->len) {
        return aop_yaml_fail(r->c, r->file, e->line, path,
                             "value contains a NUL character");
    }
    if ((rv = new_node(r, AOP_YAML_SCALAR, e->line, path, pn)) != APR_SUCCESS) {
        return rv;
    }
    /* null-ness is decided on the text as written: "${X}" is a value even when X
     * expands to nothing */
    (*pn)->is_null = e->plain && is_null_text(e->value);
    return expand(r, *pn, path, e->value);
}

static apr_status_t read_seq(reader_t *r, node_t *n, const char *path, int depth)
{
    event_t e;
    node_t *item;
    apr_status_t rv;

    while ((rv = next_event(r, &e)) == APR_SUCCESS && e.type != YAML_SEQUENCE_END_EVENT) {
        rv = read_node(r, &e, apr_psprintf(r->c->p, "%s[%d]", path, n->items->nelts),
                       depth + 1, &item);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        APR_ARRAY_PUSH(n->items, node_t *) = item;
    }
    return rv;
}

/* Reads one key of a mapping; keys are plain strings, never expanded. */
static apr_status_t read_key(reader_t *r, const event_t *e, const char *path,
                             apr_hash_t *seen)
{
    const int *first;

    if (e->type == YAML_ALIAS_EVENT) {
        return aop_yaml_fail(r->c, r->file, e->line, path,
                             "an alias cannot be used as a key");
    }
    if (e->type != YAML_SCALAR_EVENT || strlen(e->value) != e->len) {
        return aop_yaml_fail(r->c, r->file, e->line, path, "keys must be strings");
    }
    if ((first = apr_hash_get(seen, e->value, APR_HASH_KEY_STRING)) != NULL) {
        return aop_yaml_fail(r->c, r->file, e->line,
                             aop_yaml_key_path(r->c->p, path, e->value),
                             "duplicate key (first at line %d)", *first);
    }
    apr_hash_set(seen, e->value, APR_HASH_KEY_STRING, apr_pmemdup(r->c->p, &e->line,
                                                                  sizeof(e->line)));
    return APR_SUCCESS;
}

static apr_status_t read_map(reader_t *r, node_t *n, const char *path, int depth)
{
    apr_hash_t *seen = apr_hash_make(r->c->p);
    event_t k, v;
    pair_t *kv;
    apr_status_t rv;

    while ((rv = next_event(r, &k)) == APR_SUCCESS && k.type != YAML_MAPPING_END_EVENT) {
        if ((rv = read_key(r, &k, path, seen)) != APR_SUCCESS
            || (rv = next_event(r, &v)) != APR_SUCCESS) {
            return rv;
        }
        kv = apr_array_push(n->items);
        kv->key = k.value;
        kv->file = r->file;
        kv->line = k.line;
        rv = read_node(r, &v, aop_yaml_key_path(r->c->p, path, k.value), depth + 1,
                       &kv->val);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    return rv;
}

/* Aliases are expanded into copies, so that merging into one place never changes
 * another; the node budget bounds the copying.  Copies keep the lines of the anchored
 * original (that is where a bad value was written); at_line is the alias, for errors
 * found while copying. */
static apr_status_t copy_node(reader_t *r, const node_t *src, int at_line, const char *path,
                              node_t **pn)
{
    node_t *n = NULL;
    int i;
    apr_status_t rv;

    if ((rv = new_node(r, src->type, at_line, path, &n)) != APR_SUCCESS) {
        return rv;
    }
    n->line = src->line;
    n->text = src->text;
    n->var = src->var;
    n->is_null = src->is_null;
    n->unset = src->unset;
    for (i = 0; src->items && i < src->items->nelts; ++i) {
        if (src->type == AOP_YAML_SEQ) {
            node_t **item = apr_array_push(n->items);
            rv = copy_node(r, APR_ARRAY_IDX(src->items, i, node_t *), at_line, path, item);
        }
        else {
            pair_t *kv = apr_array_push(n->items);
            *kv = APR_ARRAY_IDX(src->items, i, pair_t);
            rv = copy_node(r, kv->val, at_line, path, &kv->val);
        }
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    *pn = n;
    return APR_SUCCESS;
}

static apr_status_t read_alias(reader_t *r, const event_t *e, const char *path,
                               node_t **pn)
{
    const node_t *target = apr_hash_get(r->anchors, e->anchor, APR_HASH_KEY_STRING);

    if (!target) {
        return aop_yaml_fail(r->c, r->file, e->line, path, "unknown alias \"*%s\"",
                             e->anchor);
    }
    return copy_node(r, target, e->line, path, pn);
}

static apr_status_t read_node(reader_t *r, const event_t *e, const char *path, int depth,
                              node_t **pn)
{
    apr_status_t rv;

    if (depth > AOP_YAML_MAX_DEPTH) {
        return aop_yaml_fail(r->c, r->file, e->line, path, "nested too deeply");
    }
    switch (e->type) {
    case YAML_SCALAR_EVENT:
        rv = read_scalar(r, e, path, pn);
        break;
    case YAML_ALIAS_EVENT:
        return read_alias(r, e, path, pn);
    case YAML_SEQUENCE_START_EVENT:
        if ((rv = new_node(r, AOP_YAML_SEQ, e->line, path, pn)) == APR_SUCCESS) {
            rv = read_seq(r, *pn, path, depth);
        }
        break;
    case YAML_MAPPING_START_EVENT:
        if ((rv = new_node(r, AOP_YAML_MAP, e->line, path, pn)) == APR_SUCCESS) {
            rv = read_map(r, *pn, path, depth);
        }
        break;
    default:
        return aop_yaml_fail(r->c, r->file, e->line, path, "unexpected YAML event %d",
                             (int)e->type);
    }
    if (rv == APR_SUCCESS && e->anchor) {
        apr_hash_set(r->anchors, e->anchor, APR_HASH_KEY_STRING, *pn);
    }
    return rv;
}

static apr_status_t expect_event(reader_t *r, yaml_event_type_t type, event_t *e)
{
    apr_status_t rv = next_event(r, e);

    if (rv == APR_SUCCESS && e->type != type) {
        if (type == YAML_STREAM_END_EVENT && e->type == YAML_DOCUMENT_START_EVENT) {
            return aop_yaml_fail(r->c, r->file, e->line, NULL,
                                 "only one YAML document per file is allowed");
        }
        return aop_yaml_fail(r->c, r->file, e->line, NULL, "unexpected YAML event %d",
                             (int)e->type);
    }
    return rv;
}

/* An empty file or document is an empty map; any other root must be a map. */
static apr_status_t read_stream(reader_t *r, node_t **proot)
{
    event_t e;
    apr_status_t rv;

    *proot = NULL;
    if ((rv = expect_event(r, YAML_STREAM_START_EVENT, &e)) != APR_SUCCESS
        || (rv = next_event(r, &e)) != APR_SUCCESS) {
        return rv;
    }
    if (e.type == YAML_DOCUMENT_START_EVENT) {
        if ((rv = next_event(r, &e)) != APR_SUCCESS
            || (rv = read_node(r, &e, "", 0, proot)) != APR_SUCCESS
            || (rv = expect_event(r, YAML_DOCUMENT_END_EVENT, &e)) != APR_SUCCESS
            || (rv = expect_event(r, YAML_STREAM_END_EVENT, &e)) != APR_SUCCESS) {
            return rv;
        }
    }
    if (!*proot || (*proot)->is_null) {
        return new_node(r, AOP_YAML_MAP, 1, "", proot);
    }
    if ((*proot)->type != AOP_YAML_MAP) {
        return aop_yaml_fail(r->c, r->file, (*proot)->line, NULL,
                             "the top level must be a map, not %s",
                             aop_yaml_type_name(*proot));
    }
    return APR_SUCCESS;
}

apr_status_t aop_yaml_read(ctx_t *c, const char *file, const char *text, apr_size_t len,
                           node_t **proot)
{
    reader_t r;
    apr_status_t rv;

    memset(&r, 0, sizeof(r));
    r.c = c;
    r.file = file;
    r.text = text;
    r.anchors = apr_hash_make(c->p);
    if (!yaml_parser_initialize(&r.parser)) {
        return aop_yaml_fail(c, file, 0, NULL, "cannot initialize the YAML parser");
    }
    yaml_parser_set_input_string(&r.parser, (const unsigned char *)text, len);
    rv = read_stream(&r, proot);
    yaml_parser_delete(&r.parser);
    return rv;
}

/* --------------------------------------------------------------------------
 * overlay
 */

/* Maps merge key by key; everything else is replaced by the overlay. */
apr_status_t aop_yaml_merge(ctx_t *c, node_t *dst, const node_t *src, const char *list_key,
                            aop_yaml_merge_list_fn *merge_list)
{
    int i;
    apr_status_t rv = APR_SUCCESS;

    for (i = 0; rv == APR_SUCCESS && i < src->items->nelts; ++i) {
        const pair_t *skv = &APR_ARRAY_IDX(src->items, i, pair_t);
        pair_t *dkv = aop_yaml_find(dst, skv->key);

        if (!dkv) {
            *(pair_t *)apr_array_push(dst->items) = *skv;
            continue;
        }
        if (list_key && !strcmp(skv->key, list_key)
            && dkv->val->type == AOP_YAML_SEQ && skv->val->type == AOP_YAML_SEQ) {
            rv = merge_list(c, dkv->val, skv->val);
        }
        else if (dkv->val->type == AOP_YAML_MAP && skv->val->type == AOP_YAML_MAP) {
            rv = aop_yaml_merge(c, dkv->val, skv->val, NULL, NULL);
        }
        else {
            dkv->val = skv->val;
        }
        dkv->file = skv->file;
        dkv->line = skv->line;
    }
    return rv;
}
