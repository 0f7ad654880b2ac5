/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* JSON text read without a tree, exactly as aop_jtree reads it (the same grammar,
 * nesting bound and escapes), for the request path's two scanners: the request body's
 * (aop_request_scan.c) and the answer's usage object (aop_usage.c).  Each function
 * returns the byte after what it read, or NULL where aop_jtree would refuse the text
 * (then the scanners leave it to the tree or to the full scan). */
#ifndef AOP_JSKIP_H
#define AOP_JSKIP_H

#include <apr.h>

#include "aop_jscan.h"

/* Past JSON's whitespace; a byte above ' ' (nearly always the next) ends it at once. */
static inline const char *aop_jskip_ws(const char *s, const char *e)
{
    while (s < e && (unsigned char)*s <= ' '
           && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')) {
        s++;
    }
    return s;
}

/* After an item of a container that close ends: 1 when a ',' says another follows
 * (*s past it and the space after), 0 when close ends it (*s past it), -1 else. */
static inline int aop_jskip_next(const char **s, const char *e, char close)
{
    const char *q = aop_jskip_ws(*s, e);

    if (q < e && *q == ',') {
        *s = aop_jskip_ws(q + 1, e);
        return 1;
    }
    if (q < e && *q == close) {
        *s = q + 1;
        return 0;
    }
    return -1;
}

/* aop_jskip_string from q, a byte its fast scan stopped at that is not the closing
 * quote: escapes checked and measured. */
const char *aop_jskip_string_rest(const char *s, const char *q, const char *e,
                                  apr_size_t *decoded, int *escaped);

/* The string whose opening quote is at s.  *decoded: its length once decoded;
 * *escaped: whether it holds an escape.  Inline for the common string, which has
 * none. */
static inline const char *aop_jskip_string(const char *s, const char *e,
                                           apr_size_t *decoded, int *escaped)
{
    const char *q = aop_jscan_plain(s + 1, e);

    *escaped = 0;
    if (q < e && *q == '"') {
        *decoded = (apr_size_t)(q - s - 1);
        return q + 1;
    }
    return aop_jskip_string_rest(s, q, e, decoded, escaped);
}

/* A member's name at s that holds no escape, then its ':' and the space around it:
 * the value's first byte, or NULL (a name with an escape is left to the callers'
 * fallbacks, which decode names before comparing them). */
static inline const char *aop_jskip_name(const char *s, const char *e, const char **name,
                                         apr_size_t *len)
{
    const char *q;

    if (s >= e || *s != '"') {
        return NULL;
    }
    q = aop_jscan_plain(s + 1, e);
    if (q >= e || *q != '"') {
        return NULL;                    /* an escape, a control character, the end */
    }
    *name = s + 1;
    *len = (apr_size_t)(q - s - 1);
    q = aop_jskip_ws(q + 1, e);
    return q < e && *q == ':' ? aop_jskip_ws(q + 1, e) : NULL;
}

/* What aop_jskip_number read: the integer part's digits (after any '-'), and whether
 * the number has neither fraction nor exponent. */
typedef struct {
    const char *digits, *digits_end;
    int neg, is_int;
} aop_jnum_t;

/* The number at s (a '-' or a digit). */
const char *aop_jskip_number(const char *s, const char *e, aop_jnum_t *num);

/* The value at s, inside a container of nesting depth depth (a container at s is at
 * depth + 1, refused beyond AOP_JTREE_MAX_DEPTH as aop_jtree refuses it).  *count,
 * when given: a container's items. */
const char *aop_jskip_value(const char *s, const char *e, int depth, apr_size_t *count);

#endif
