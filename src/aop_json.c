/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <pthread.h>
#include <string.h>

#include <apr_strings.h>

#include "aop_json.h"
#include "aop_jtree.h"

/* A tokener allocates its buffers when made: one per thread, reset for each parse,
 * instead of one per request body and per usage value. */
static pthread_key_t tok_key;
static pthread_once_t tok_once = PTHREAD_ONCE_INIT;

static void tok_free(void *tok)
{
    json_tokener_free(tok);
}

static void tok_key_make(void)
{
    pthread_key_create(&tok_key, tok_free);
}

/* This thread's tokener, reset: for one parse at a time (never kept, never freed by
 * the caller).  NULL when out of memory.  aop_json_parse is its only user since the
 * request path parses with aop_jtree. */
static json_tokener *aop_json_tokener(void)
{
    json_tokener *tok;

    pthread_once(&tok_once, tok_key_make);
    if ((tok = pthread_getspecific(tok_key)) == NULL) {
        if ((tok = json_tokener_new()) == NULL) {
            return NULL;
        }
        pthread_setspecific(tok_key, tok);
    }
    json_tokener_reset(tok);
    return tok;
}

static apr_status_t json_put_cleanup(void *obj)
{
    json_object_put(obj);
    return APR_SUCCESS;
}

json_object *aop_json_own(apr_pool_t *p, json_object *obj)
{
    if (obj) {
        apr_pool_cleanup_register(p, obj, json_put_cleanup, apr_pool_cleanup_null);
    }
    return obj;
}

json_object *aop_json_parse(apr_pool_t *p, const char *text, apr_size_t len,
                            const char **perr)
{
    json_tokener *tok = aop_json_tokener();
    json_object *obj;
    enum json_tokener_error jerr;

    if (!tok) {
        *perr = "out of memory";
        return NULL;
    }
    obj = json_tokener_parse_ex(tok, text, (int)len);
    jerr = json_tokener_get_error(tok);
    if (jerr == json_tokener_success && tok->char_offset < (int)len) {
        /* Only whitespace may follow the value. */
        apr_size_t i;
        for (i = (apr_size_t)tok->char_offset; i < len; i++) {
            if (!strchr(" \t\r\n", text[i])) {
                jerr = json_tokener_error_parse_unexpected;
                break;
            }
        }
    }
    if (jerr != json_tokener_success) {
        *perr = apr_psprintf(p, "%s at offset %d",
                             jerr == json_tokener_continue
                                 ? "unexpected end of input"
                                 : json_tokener_error_desc(jerr),
                             tok->char_offset);
        json_object_put(obj);
        obj = NULL;
    }
    else if (!obj) {
        /* json-c's null is a NULL object: without this, "null" would return NULL
         * with no error for the caller to show (found by t/fuzz "request"). */
        *perr = "the document is a JSON null";
    }
    return aop_json_own(p, obj);
}

/* Whether text holds the escape \u0000 (an escaped backslash before "u0000" is
 * none): for text aop_jtree refuses but json-c, more lenient, would take. */
static int has_nul_escape(const char *text, apr_size_t len)
{
    apr_size_t i;

    for (i = 0; i + 1 < len; i++) {
        if (text[i] != '\\') {
            continue;
        }
        if (text[i + 1] == 'u' && len - i >= 6 && memcmp(text + i + 2, "0000", 4) == 0) {
            return 1;
        }
        i++;                    /* the escaped character, a backslash perhaps */
    }
    return 0;
}

json_object *aop_json_parse_names(apr_pool_t *p, const char *text, apr_size_t len,
                                  const char **perr, const char **pfield)
{
    const aop_jnode_t *tree;
    const char *at = NULL;
    apr_pool_t *scratch;

    *pfield = NULL;
    /* aop_jtree keeps NUL characters, so it can tell where one is. */
    apr_pool_create(&scratch, p);
    if ((tree = aop_jtree_parse(scratch, text, len, NULL)) != NULL) {
        at = aop_jtree_nul_path(scratch, tree);
    }
    else if (has_nul_escape(text, len)) {
        at = "";
    }
    if (at) {
        *pfield = apr_pstrdup(p, at);
        *perr = apr_pstrcat(p, *at ? at : "the document", ": contains a NUL character "
                            "(\\u0000)", NULL);
    }
    apr_pool_destroy(scratch);
    return at ? NULL : aop_json_parse(p, text, len, perr);
}

const char *aop_json_to_string(apr_pool_t *p, json_object *obj)
{
    return apr_pstrdup(p, json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN
                                                              | JSON_C_TO_STRING_NOSLASHESCAPE));
}

json_object *aop_json_str_array(const apr_array_header_t *a)
{
    json_object *arr = json_object_new_array();
    int i;

    for (i = 0; a && i < a->nelts; i++) {
        json_object_array_add(arr, json_object_new_string(APR_ARRAY_IDX(a, i, const char *)));
    }
    return arr;
}

json_object *aop_json_int_array(const apr_array_header_t *a)
{
    json_object *arr = json_object_new_array();
    int i;

    for (i = 0; a && i < a->nelts; i++) {
        json_object_array_add(arr, json_object_new_int(APR_ARRAY_IDX(a, i, int)));
    }
    return arr;
}

static json_object *string_or_null(const char *s)
{
    return s ? json_object_new_string(s) : NULL;
}

const char *aop_json_error_body(apr_pool_t *p, const char *message, const char *type,
                                const char *param, const char *code)
{
    json_object *root = aop_json_own(p, json_object_new_object());
    json_object *err = json_object_new_object();

    json_object_object_add(err, "message", json_object_new_string(message));
    json_object_object_add(err, "type", json_object_new_string(type));
    json_object_object_add(err, "param", string_or_null(param));
    json_object_object_add(err, "code", string_or_null(code));
    json_object_object_add(root, "error", err);
    return aop_json_to_string(p, root);
}
