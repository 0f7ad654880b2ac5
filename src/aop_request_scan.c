/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The common small chat body read in one pass, without a tree.  For a 110-byte chat
 * the tree (aop_jtree) and the walks over it cost about 2 900 instructions of the
 * module's 9 000 a request (callgrind, docs/performance.md); this reads the same
 * values as it goes.  It reads JSON exactly as aop_jtree does (the same grammar,
 * nesting bound, escapes and integer saturation: aop_jskip.h, aop_jtree_int) and
 * gives up (-1) on anything it does not read itself, so that such a body, and every
 * body with an error, goes to the tree and gets the tree's answer.  The unit tests
 * and the fuzz target "request" compare the two on every body they have. */
#include <string.h>

#include "aop_jskip.h"
#include "aop_request_top.h"
#include "aop_sat.h"

/* The value at s inside a container of depth depth: the byte after it, or NULL.  n,
 * when given, gets what aop_request.c reads of the value's node. */
static const char *value_end(const char *s, const char *e, int depth, aop_jnode_t *n)
{
    const char *end;
    aop_jnum_t num;
    int esc;

    if (!n) {
        return aop_jskip_value(s, e, depth, NULL);
    }
    memset(n, 0, sizeof(*n));
    n->src = s;
    if (s >= e) {
        return NULL;
    }
    switch (*s) {
    case '"':
        n->type = AOP_JSTRING;
        end = aop_jskip_string(s, e, &n->str_len, &esc);
        break;
    case '{':
    case '[':
        n->type = *s == '{' ? AOP_JOBJECT : AOP_JARRAY;
        end = aop_jskip_value(s, e, depth, &n->count);
        break;
    case 't':
    case 'f':
        n->type = AOP_JBOOL;
        n->b = *s == 't';
        end = aop_jskip_value(s, e, depth, NULL);
        break;
    case 'n':
        n->type = AOP_JNULL;
        end = aop_jskip_value(s, e, depth, NULL);
        break;
    default:
        if (*s != '-' && (*s < '0' || *s > '9')) {
            return NULL;
        }
        if ((end = aop_jskip_number(s, e, &num)) != NULL) {
            n->type = num.is_int ? AOP_JINT : AOP_JDOUBLE;
            n->i = num.is_int ? aop_jtree_int(num.digits, num.digits_end, num.neg) : 0;
        }
        break;
    }
    if (end) {
        n->src_len = (apr_size_t)(end - s);
    }
    return end;
}

static int is_name(const char *name, apr_size_t len, const char *want, apr_size_t wlen)
{
    return len == wlen && memcmp(name, want, len) == 0;
}

/* One message, an object at s (depth 3): the byte after it, or NULL; *tokens gets
 * what aop_request.c's message_tokens() would count.  A content made of parts goes
 * to the tree. */
static const char *message_end(const char *s, const char *e, apr_int64_t *tokens)
{
    aop_jnode_t content, call;
    int has_content = 0, has_tools = 0, has_function = 0, more;
    apr_size_t tools_len = 0, function_len = 0, len;
    const char *name;

    *tokens = AOP_TOKENS_PER_MESSAGE;
    s = aop_jskip_ws(s + 1, e);
    if (s < e && *s == '}') {
        return s + 1;
    }
    do {
        if ((s = aop_jskip_name(s, e, &name, &len)) == NULL) {
            return NULL;
        }
        /* As aop_jtree_get, the last of the same name counts. */
        if (is_name(name, len, "content", 7)) {
            s = value_end(s, e, 3, &content);
            has_content = 1;
        }
        else if (is_name(name, len, "tool_calls", 10)) {
            s = value_end(s, e, 3, &call);
            has_tools = 1;
            tools_len = call.src_len;
        }
        else if (is_name(name, len, "function_call", 13)) {
            s = value_end(s, e, 3, &call);
            has_function = 1;
            function_len = call.src_len;
        }
        else {
            s = value_end(s, e, 3, NULL);
        }
        if (!s || (more = aop_jskip_next(&s, e, '}')) < 0) {
            return NULL;
        }
    } while (more);
    if (has_content && content.type == AOP_JARRAY) {
        return NULL;
    }
    if (has_content && content.type == AOP_JSTRING) {
        *tokens = aop_sat_add(*tokens, aop_text_tokens(content.str_len));
    }
    if (has_tools || has_function) {
        *tokens = aop_sat_add(*tokens, aop_text_tokens(has_tools ? tools_len : function_len));
    }
    return s;
}

/* The messages array at s (depth 2) into n, its tokens summed into t. */
static const char *messages_end(const char *s, const char *e, aop_jnode_t *n, aop_top_t *t)
{
    const char *start = s;
    apr_int64_t one;
    int more;

    memset(n, 0, sizeof(*n));
    n->type = AOP_JARRAY;
    n->src = s;
    t->messages_counted = 1;
    s = aop_jskip_ws(s + 1, e);
    if (s < e && *s == ']') {
        s++;
    }
    else {
        do {
            if (s < e && *s == '{') {
                s = message_end(s, e, &one);
            }
            else {
                /* Not an object: aop_jtree_get finds nothing in it. */
                one = AOP_TOKENS_PER_MESSAGE;
                s = value_end(s, e, 2, NULL);
            }
            if (!s) {
                return NULL;
            }
            t->messages_tokens = aop_sat_add(t->messages_tokens, one);
            n->count++;
            if ((more = aop_jskip_next(&s, e, ']')) < 0) {
                return NULL;
            }
        } while (more);
    }
    n->src_len = (apr_size_t)(s - start);
    return s;
}

/* stream_options, an object at s (depth 2): its include_usage member noted. */
static const char *options_end(const char *s, const char *e, aop_request_scan_t *sc)
{
    aop_jnode_t *n = &sc->value[K_STREAM_OPTIONS];
    const char *start = s, *name;
    apr_size_t len;
    int more;

    memset(n, 0, sizeof(*n));
    n->type = AOP_JOBJECT;
    n->src = s;
    s = aop_jskip_ws(s + 1, e);
    if (s < e && *s == '}') {
        s++;
    }
    else {
        do {
            if ((s = aop_jskip_name(s, e, &name, &len)) == NULL) {
                return NULL;
            }
            if (is_name(name, len, "include_usage", 13)) {
                if (n->child) {
                    return NULL;        /* given twice: the tree's error */
                }
                if ((s = value_end(s, e, 2, &sc->include_usage)) == NULL) {
                    return NULL;
                }
                sc->include_usage.key = "include_usage";
                sc->include_usage.key_len = 13;
                n->child = &sc->include_usage;
            }
            else if ((s = value_end(s, e, 2, NULL)) == NULL) {
                return NULL;
            }
            n->count++;
            if ((more = aop_jskip_next(&s, e, '}')) < 0) {
                return NULL;
            }
        } while (more);
    }
    n->src_len = (apr_size_t)(s - start);
    return s;
}

int aop_request_scan(const char *body, apr_size_t len, aop_request_scan_t *sc)
{
    const char *e = body + len, *s = aop_jskip_ws(body, e), *name;
    apr_size_t nlen;
    int k, more;

    memset(&sc->top, 0, sizeof(sc->top));
    memset(&sc->root, 0, sizeof(sc->root));
    if (s >= e || *s != '{') {
        return -1;
    }
    sc->root.type = AOP_JOBJECT;
    sc->root.src = s;
    s = aop_jskip_ws(s + 1, e);
    if (s < e && *s == '}') {
        s++;
    }
    else {
        do {
            if ((s = aop_jskip_name(s, e, &name, &nlen)) == NULL) {
                return -1;
            }
            if ((k = aop_request_key_index(name, nlen)) >= 0 && sc->top.at[k]) {
                return -1;              /* a read key twice: the tree's error */
            }
            if (k == K_MESSAGES && s < e && *s == '[') {
                s = messages_end(s, e, &sc->value[k], &sc->top);
            }
            else if (k == K_STREAM_OPTIONS && s < e && *s == '{') {
                s = options_end(s, e, sc);
            }
            else {
                s = value_end(s, e, 1, k >= 0 ? &sc->value[k] : NULL);
            }
            if (!s) {
                return -1;
            }
            if (k >= 0) {
                sc->top.at[k] = &sc->value[k];
            }
            sc->root.count++;
            if ((more = aop_jskip_next(&s, e, '}')) < 0) {
                return -1;
            }
        } while (more);
    }
    sc->root.src_len = (apr_size_t)(s - sc->root.src);
    /* Trailing data, and a body whose estimate is not the messages' (a prompt, an
     * input), are the tree's. */
    if (aop_jskip_ws(s, e) != e || !sc->top.at[K_MESSAGES] || !sc->top.messages_counted) {
        return -1;
    }
    return 0;
}
