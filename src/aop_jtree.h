/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* A small strict JSON parser (RFC 8259) into a read-only tree allocated from an APR
 * pool, for the request hot path: the request body and the usage object of answers.
 * json-c costs a locale switch (duplocale/newlocale/freelocale: a process-wide lock,
 * getenv, malloc) and a malloc per object on every parse; this parser takes neither
 * and is freed with the pool.  Core library: APR only, no httpd headers. */
#ifndef AOP_JTREE_H
#define AOP_JTREE_H

#include <apr_pools.h>

/* Containers nested deeper than this are refused ("nesting too deep"); it also bounds
 * the parser's recursion. */
#define AOP_JTREE_MAX_DEPTH 64

typedef enum {
    AOP_JNULL, AOP_JBOOL, AOP_JINT, AOP_JDOUBLE, AOP_JSTRING, AOP_JARRAY, AOP_JOBJECT
} aop_jtype_e;

typedef struct aop_jnode_t aop_jnode_t;
struct aop_jnode_t {
    aop_jtype_e type;
    int b;                   /* AOP_JBOOL (beside type: no padding after either) */
    const char *src;         /* the value's own text inside the parsed document (not NUL-terminated) */
    apr_size_t src_len;      /* e.g. for an object: from '{' to '}' inclusive */
    const char *key;         /* member name, decoded, NUL-terminated, when the node is an object member; else NULL
                              * (raw mode: a name without escapes points into the text, unterminated) */
    apr_size_t key_len;
    aop_jnode_t *next;       /* next element/member of the parent, in document order */
    aop_jnode_t *child;      /* first element/member (arrays, objects) */
    apr_size_t count;        /* number of elements/members */
    apr_int64_t i;           /* AOP_JINT */
    double d;                /* AOP_JDOUBLE (also set for AOP_JINT) */
    const char *str;         /* AOP_JSTRING: decoded UTF-8, NUL-terminated (may contain NUL bytes from \u0000);
                              * NULL in raw mode: aop_jtree_str() decodes it on demand */
    apr_size_t str_len;      /* decoded length in bytes (raw mode too) */
};

/* Parses len bytes (not necessarily NUL-terminated). Returns the root, or NULL with *perr set
 * to a pool string like "unexpected end of input at offset 12" / "invalid character 'x' at offset 3"
 * / "nesting too deep at offset N" / "invalid escape at offset N" / "trailing data at offset N".
 * The nodes' src point into text, which must therefore live as long as they are used;
 * every other byte of the tree (keys, strings) is in p.  perr may be NULL. */
aop_jnode_t *aop_jtree_parse(apr_pool_t *p, const char *text, apr_size_t len, const char **perr);

/* As aop_jtree_parse, but no string is copied: for a large document read once (the
 * request body), whose text outlives the tree.  String values keep str NULL (their
 * text is src without the quotes, escapes and all) with str_len their decoded length;
 * member names point into the text unless they hold an escape.  Only the nodes are
 * allocated from p. */
aop_jnode_t *aop_jtree_parse_raw(apr_pool_t *p, const char *text, apr_size_t len,
                                 const char **perr);

/* A string node's decoded text, NUL-terminated, and its length: v->str, or for a raw
 * node a copy decoded into p.  NULL when v is not a string. */
const char *aop_jtree_str(apr_pool_t *p, const aop_jnode_t *v, apr_size_t *len);

/* The member named key (NUL-terminated, compared to the decoded name); with duplicate names the
 * LAST one wins (as json-c does). NULL when obj is NULL, not an object, or has no such member. */
const aop_jnode_t *aop_jtree_get(const aop_jnode_t *obj, const char *key);

/* Where the first string value or member name that holds a NUL character (from
 * \u0000) is, as a path such as "name", "instances[1].model_deployments" or "" for
 * the root itself; NULL when there is none.  For documents whose strings become
 * C strings (names, keys, URLs), which would end at the NUL.  For a tree of
 * aop_jtree_parse only (a raw tree's names are not NUL-terminated). */
const char *aop_jtree_nul_path(apr_pool_t *p, const aop_jnode_t *v);

/* "null", "a boolean", "an integer", "a decimal", "a string", "an array", "an object" (for error messages).
 * A NULL node is "null", as a missing json-c object is. */
const char *aop_jtree_type_word(const aop_jnode_t *v);

/* For a scanner that reads JSON text without a tree (aop_request_scan.c) and must
 * read it as this parser does.  The escape whose backslash is at bs: the bytes it
 * takes (2, 6, or 12 for a surrogate pair), its decoded length added to *out; 0 when
 * it is not a valid escape. */
apr_size_t aop_jtree_escape(const char *bs, const char *end, apr_size_t *out);

/* The integer of the plain digits [s, end), saturated to INT64_MAX / INT64_MIN as the
 * parser's AOP_JINT values are. */
apr_int64_t aop_jtree_int(const char *s, const char *end, int neg);

#endif
