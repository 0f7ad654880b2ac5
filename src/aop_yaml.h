/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The configuration's YAML: a document read into a small pool-allocated tree, and one
 * such tree overlaid on another.
 *
 * libyaml objects never outlive one function call: what an event holds is copied into
 * the pool at once, so the tree lives exactly as long as the pool.  Every node keeps
 * its file and line so that the schema (aop_config.c), which sees only the tree, can
 * still point at the place a bad value was written.
 *
 * Errors and warnings, from reading and from the schema alike, are
 * "FILE:LINE: KEY: message" where KEY is a dotted path such as routing.strategy or
 * instances[1](name).weight; aop_yaml_fail() and aop_yaml_warn() are the one place
 * that format is written. */
#ifndef AOP_YAML_H
#define AOP_YAML_H

#include <apr_pools.h>
#include <apr_tables.h>

#include "aop_config.h"          /* aop_getenv_fn */

typedef enum { AOP_YAML_SCALAR, AOP_YAML_SEQ, AOP_YAML_MAP } aop_yaml_type_e;

typedef struct aop_yaml_node_t aop_yaml_node_t;

typedef struct {
    const char *key;
    const char *file;            /* the layer that last set this key */
    int line;                    /* line of the key in that file */
    aop_yaml_node_t *val;
} aop_yaml_pair_t;

struct aop_yaml_node_t {
    aop_yaml_type_e type;
    const char *file;
    int line;
    const char *text;            /* scalar: after ${VAR} expansion */
    int is_null;                 /* plain ~, null or nothing: "not set" */
    const char *var;             /* scalar: first ${VAR} it used, if any */
    apr_array_header_t *unset;   /* scalar: names of unset ${VAR}s it used */
    apr_array_header_t *items;   /* seq: aop_yaml_node_t *; map: aop_yaml_pair_t */
};

/* What reading and checking share: the pool everything is allocated from, how ${VAR}
 * is resolved, and where the error and the warnings go. */
typedef struct {
    apr_pool_t *p;
    aop_getenv_fn *getenv_fn;      /* NULL: the process environment */
    void *baton;
    apr_array_header_t *warnings;  /* const char *: aop_yaml_warn() appends here */
    const char *err;               /* set by aop_yaml_fail() */
} aop_yaml_ctx_t;

/* Sets c->err to "FILE:LINE: KEY: message" ("FILE:LINE: message" when key is NULL or
 * empty) and returns APR_EINVAL, so that a check can end with return aop_yaml_fail(). */
apr_status_t aop_yaml_fail(aop_yaml_ctx_t *c, const char *file, int line, const char *key,
                           const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Appends "FILE:LINE: KEY: message" to c->warnings. */
void aop_yaml_warn(aop_yaml_ctx_t *c, const char *file, int line, const char *key,
                   const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* "a map", "a list" or "a scalar", for messages such as "expected a map, got a list". */
const char *aop_yaml_type_name(const aop_yaml_node_t *n);

/* "path.key", or "key" at the top level (path ""). */
const char *aop_yaml_key_path(apr_pool_t *p, const char *path, const char *key);

/* The pair of map that has key, or NULL (also when map is not a map). */
aop_yaml_pair_t *aop_yaml_find(const aop_yaml_node_t *map, const char *key);

/* Reads the one document in text (len bytes), named file in messages and nodes, into
 * *proot: scalars ${VAR}-expanded ("${VAR:-default}", "$$" for "$"), aliases copied.
 * The root is always a map (an empty document is an empty one).  On error returns
 * APR_EINVAL with c->err set. */
apr_status_t aop_yaml_read(aop_yaml_ctx_t *c, const char *file, const char *text,
                           apr_size_t len, aop_yaml_node_t **proot);

/* Merges a list that dst and src both have under list_key (see aop_yaml_merge) into
 * dst, instead of src's list replacing dst's. */
typedef apr_status_t aop_yaml_merge_list_fn(aop_yaml_ctx_t *c, aop_yaml_node_t *dst,
                                            const aop_yaml_node_t *src);

/* Overlays the map src on the map dst: maps merge key by key, anything else in src
 * replaces what dst has (src's nodes are linked into dst, not copied).  When list_key
 * is not NULL, a list that both have under that key at this level is handed to
 * merge_list instead; nested maps always merge without it. */
apr_status_t aop_yaml_merge(aop_yaml_ctx_t *c, aop_yaml_node_t *dst,
                            const aop_yaml_node_t *src, const char *list_key,
                            aop_yaml_merge_list_fn *merge_list);

#endif
