/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The tree-free reading of aop_jskip.h: what aop_jtree checks, in the same order of
 * bytes, with no node made.  Escapes are checked and measured by aop_jtree_escape,
 * the parser's own rule. */
#include <string.h>

#include "aop_jskip.h"
#include "aop_jtree.h"

const char *aop_jskip_string_rest(const char *s, const char *q, const char *e,
                                  apr_size_t *decoded, int *escaped)
{
    apr_size_t raw = 0, out = 0, took;

    for (;;) {
        if (q >= e) {
            return NULL;
        }
        if (*q == '"') {
            break;
        }
        if (*q != '\\' || (took = aop_jtree_escape(q, e, &out)) == 0) {
            return NULL;                /* a control character, a bad escape */
        }
        *escaped = 1;
        raw += took;
        q = aop_jscan_plain(q + took, e);
    }
    *decoded = (apr_size_t)(q - s - 1) - raw + out;
    return q + 1;
}

static const char *digits_end(const char *s, const char *e)
{
    while (s < e && *s >= '0' && *s <= '9') {
        s++;
    }
    return s;
}

const char *aop_jskip_number(const char *s, const char *e, aop_jnum_t *num)
{
    const char *q;

    num->neg = *s == '-';
    num->is_int = 1;
    q = num->digits = s + num->neg;
    if (q >= e || *q < '0' || *q > '9') {
        return NULL;
    }
    /* One '0', or digits not starting with one (a leading zero is refused). */
    q = *q == '0' ? q + 1 : digits_end(q, e);
    if (q < e && *q >= '0' && *q <= '9') {
        return NULL;
    }
    num->digits_end = q;
    if (q < e && *q == '.') {
        num->is_int = 0;
        if (++q >= e || *q < '0' || *q > '9') {
            return NULL;
        }
        q = digits_end(q, e);
    }
    if (q < e && (*q == 'e' || *q == 'E')) {
        num->is_int = 0;
        if (++q < e && (*q == '+' || *q == '-')) {
            q++;
        }
        if (q >= e || *q < '0' || *q > '9') {
            return NULL;
        }
        q = digits_end(q, e);
    }
    return q;
}

static const char *literal_end(const char *s, const char *e, const char *word,
                               apr_size_t len)
{
    return (apr_size_t)(e - s) >= len && memcmp(s, word, len) == 0 ? s + len : NULL;
}

/* The array or object at s, whose own nesting depth is depth. */
static const char *container_end(const char *s, const char *e, int depth,
                                 apr_size_t *count)
{
    char close = *s == '{' ? '}' : ']';
    apr_size_t n = 0, dlen;
    int esc, more;

    if (depth > AOP_JTREE_MAX_DEPTH) {
        return NULL;
    }
    s = aop_jskip_ws(s + 1, e);
    if (s < e && *s == close) {
        more = 0;
        s++;
    }
    else {
        do {
            if (close == '}') {
                if (s >= e || *s != '"' || (s = aop_jskip_string(s, e, &dlen, &esc)) == NULL) {
                    return NULL;
                }
                s = aop_jskip_ws(s, e);
                if (s >= e || *s != ':') {
                    return NULL;
                }
                s = aop_jskip_ws(s + 1, e);
            }
            if ((s = aop_jskip_value(s, e, depth, NULL)) == NULL) {
                return NULL;
            }
            n++;
        } while ((more = aop_jskip_next(&s, e, close)) > 0);
    }
    if (count) {
        *count = n;
    }
    return more == 0 ? s : NULL;
}

const char *aop_jskip_value(const char *s, const char *e, int depth, apr_size_t *count)
{
    aop_jnum_t num;
    apr_size_t dlen;
    int esc;

    if (s >= e) {
        return NULL;
    }
    switch (*s) {
    case '"':
        return aop_jskip_string(s, e, &dlen, &esc);
    case '{':
    case '[':
        return container_end(s, e, depth + 1, count);
    case 't':
        return literal_end(s, e, "true", 4);
    case 'f':
        return literal_end(s, e, "false", 5);
    case 'n':
        return literal_end(s, e, "null", 4);
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        return aop_jskip_number(s, e, &num);
    }
    return NULL;
}
