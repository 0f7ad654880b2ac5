/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <string.h>

#include <apr_strings.h>

#include "aop_path.h"
#include "aop_url.h"

static const struct {
    const char *rest;        /* after the API's root, e.g. "chat/completions" */
    aop_op_e op;
    int by_deployment;       /* also under /openai/deployments/{name}/ */
} ops[] = {
    { "chat/completions", AOP_OP_CHAT, 1 },
    { "completions", AOP_OP_COMPLETIONS, 1 },
    { "embeddings", AOP_OP_EMBEDDINGS, 1 },
    { "models", AOP_OP_MODELS, 0 },
    { "responses", AOP_OP_RESPONSES, 0 },
};

static int starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

int aop_path_is_ours(const char *path)
{
    return starts(path, "/v1/") || strcmp(path, "/v1") == 0 || starts(path, "/openai/")
           || strcmp(path, "/openai") == 0;
}

apr_size_t aop_path_api_root(const char *p)
{
    static const char *const roots[] = {
        "/instances", "/stats", "/config", "/admin", "/metrics", "/health",
        "/verification", NULL
    };
    int i;

    if (p[0] != '/') {
        return 0;
    }
    for (i = 0; roots[i]; i++) {
        /* Their second bytes differ: one compare for a path of one of them, none for
         * another ("/v1/..." stops at "/verification"'s). */
        if (p[1] == roots[i][1]) {
            size_t n = strlen(roots[i]);

            return strncmp(p, roots[i], n) == 0 && (p[n] == '\0' || p[n] == '/') ? n : 0;
        }
    }
    return 0;
}

/* The length of an id or name at s, up to the next '/' or the end; 0 when it is not
 * one (empty, too long, or a character Azure's ids never have). */
static apr_size_t id_len(const char *s)
{
    apr_size_t n = 0;

    while (s[n] && s[n] != '/') {
        n++;
    }
    return aop_path_is_id(s, n) ? n : 0;
}

int aop_path_is_id(const char *s, apr_size_t n)
{
    apr_size_t i;

    if (n == 0 || n > AOP_PATH_ID_MAX) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (!aop_url_unreserved((unsigned char)s[i])) {
            return 0;
        }
    }
    /* "." and ".." would change a backend path's meaning. */
    return !((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'));
}

/* s is exactly want, or want and one '/'. */
static int is(const char *s, const char *want)
{
    apr_size_t n = strlen(want);

    return strncmp(s, want, n) == 0 && (s[n] == '\0' || (s[n] == '/' && s[n + 1] == '\0'));
}

/* rest: what follows "responses/". */
static void parse_response(apr_pool_t *p, const char *rest, aop_path_t *out)
{
    apr_size_t n = id_len(rest);

    if (!n) {
        return;
    }
    out->response_id = apr_pstrmemdup(p, rest, n);
    rest += n;
    if (*rest == '\0' || is(rest, "/")) {
        out->op = AOP_OP_RESPONSE;
    }
    else if (is(rest, "/cancel")) {
        out->op = AOP_OP_RESPONSE_CANCEL;
    }
    else if (is(rest, "/input_items")) {
        out->op = AOP_OP_RESPONSE_ITEMS;
    }
    else {
        out->response_id = NULL;
    }
}

/* rest: what follows the API's root ("/v1/", "/openai/v1/" or "/openai/"); azure:
 * the root was "/openai/", where only the Azure class's paths exist. */
static void parse_rest(apr_pool_t *p, const char *rest, int azure, aop_path_t *out)
{
    size_t i;
    apr_size_t n;

    if (azure) {
        if (starts(rest, "deployments/") && (n = id_len(rest + 12)) > 0) {
            for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
                if (ops[i].by_deployment && rest[12 + n] == '/'
                    && is(rest + 12 + n + 1, ops[i].rest)) {
                    out->op = ops[i].op;
                    out->deployment = apr_pstrmemdup(p, rest + 12, n);
                    return;
                }
            }
            return;
        }
        if (!starts(rest, "responses")) {
            return;
        }
    }
    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (is(rest, ops[i].rest)) {
            out->op = ops[i].op;
            return;
        }
    }
    if (starts(rest, "models/") && rest[7] != '\0') {
        out->op = AOP_OP_MODELS;
        out->model_id = apr_pstrdup(p, rest + 7);
    }
    else if (starts(rest, "responses/")) {
        parse_response(p, rest + 10, out);
    }
}

void aop_path_parse(apr_pool_t *p, const char *path, aop_path_t *out)
{
    memset(out, 0, sizeof(*out));
    if (starts(path, "/v1/")) {
        parse_rest(p, path + 4, 0, out);
    }
    else if (starts(path, "/openai/v1/")) {
        parse_rest(p, path + 11, 0, out);
    }
    else if (starts(path, "/openai/")) {
        parse_rest(p, path + 8, 1, out);
    }
}

const char *aop_path_op_suffix(aop_op_e op)
{
    size_t i;

    if (op == AOP_OP_MODELS) {
        return NULL;
    }
    if (aop_path_op_by_id(op)) {
        return "responses";
    }
    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (ops[i].op == op) {
            return ops[i].rest;
        }
    }
    return NULL;
}

int aop_path_op_by_id(aop_op_e op)
{
    return op == AOP_OP_RESPONSE || op == AOP_OP_RESPONSE_CANCEL
           || op == AOP_OP_RESPONSE_ITEMS;
}

const char *aop_path_op_methods(aop_op_e op)
{
    switch (op) {
    case AOP_OP_MODELS:
    case AOP_OP_RESPONSE_ITEMS:
        return "GET";
    case AOP_OP_RESPONSE:
        return "GET, DELETE";
    default:
        return "POST";
    }
}
