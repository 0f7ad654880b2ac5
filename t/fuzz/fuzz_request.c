/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Fuzz target "request": the request path's parsing on any bytes.  The strict JSON
 * parser (its tree must stay inside the text it came from), the request body for
 * every operation (what it accepts must respect the documented bounds), the
 * stream_options splice (what it produces must parse and ask for usage, the rest
 * unchanged), the parser's raw mode (the same tree, no string copied), the small
 * body's scanner (the same answer as the tree, aop_request_scan.c), and the
 * NUL-checking parse of the management API and the state file. */
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>

#include "aop_json.h"
#include "aop_jtree.h"
#include "aop_request.h"
#include "aop_request_top.h"
#include "fuzz.h"

static apr_pool_t *root;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    apr_initialize();
    apr_pool_create(&root, NULL);
    return 0;
}

/* Every node's text lies within the document and every decoded string is
 * NUL-terminated at its length (it may hold NULs before). */
static void check_tree(const aop_jnode_t *n, const char *text, size_t len, int depth)
{
    const aop_jnode_t *c;
    apr_size_t count = 0;

    FUZZ_CHECK(depth <= AOP_JTREE_MAX_DEPTH + 1);
    FUZZ_CHECK(n->src >= text && n->src_len <= len
               && (size_t)(n->src - text) <= len - n->src_len);
    if (n->type == AOP_JSTRING) {
        FUZZ_CHECK(n->str && n->str[n->str_len] == '\0' && n->str_len < n->src_len);
    }
    for (c = n->child; c; c = c->next, count++) {
        FUZZ_CHECK(c->src >= n->src && c->src + c->src_len <= n->src + n->src_len);
        FUZZ_CHECK((n->type == AOP_JOBJECT) == (c->key != NULL));
        if (c->key) {
            FUZZ_CHECK(c->key[c->key_len] == '\0');
        }
        check_tree(c, text, len, depth + 1);
    }
    FUZZ_CHECK(count == n->count);
}

/* The raw tree (no string copied) is the same tree: same nodes and spans, names equal,
 * strings equal once decoded. */
static void check_raw(apr_pool_t *p, const aop_jnode_t *a, const aop_jnode_t *raw)
{
    const aop_jnode_t *x, *y;
    const char *s;
    apr_size_t n = 0;

    FUZZ_CHECK(a->type == raw->type && a->src == raw->src && a->src_len == raw->src_len);
    FUZZ_CHECK(a->count == raw->count && a->i == raw->i && a->b == raw->b);
    if (a->type == AOP_JSTRING) {
        FUZZ_CHECK(raw->str == NULL && raw->str_len == a->str_len);
        s = aop_jtree_str(p, raw, &n);
        FUZZ_CHECK(s && n == a->str_len && memcmp(s, a->str, n + 1) == 0);
    }
    for (x = a->child, y = raw->child; x && y; x = x->next, y = y->next) {
        FUZZ_CHECK(x->key_len == y->key_len);
        FUZZ_CHECK(!x->key || memcmp(x->key, y->key, x->key_len) == 0);
        check_raw(p, x, y);
    }
    FUZZ_CHECK(x == NULL && y == NULL);
}

static void check_info(const aop_request_info_t *info)
{
    FUZZ_CHECK(info->model && *info->model);
    FUZZ_CHECK(info->n >= 1 && info->n <= AOP_MAX_N);
    FUZZ_CHECK(info->max_tokens >= 0 && info->max_tokens <= AOP_MAX_TOKENS_LIMIT);
    FUZZ_CHECK(info->prompt_estimate >= 0 && info->estimate >= info->prompt_estimate);
}

/* What the gateway sends upstream for a stream whose client did not ask for usage. */
static void check_with_usage(apr_pool_t *p, aop_op_e op, const char *body, size_t len,
                             const aop_request_info_t *info)
{
    aop_request_info_t again;
    aop_request_error_t err;
    const char *out = NULL;
    apr_size_t out_len = 0;

    if (!info->stream || info->include_usage || op == AOP_OP_EMBEDDINGS) {
        return;
    }
    FUZZ_CHECK(aop_request_with_usage(p, body, len, info, &out, &out_len) == 0);
    FUZZ_CHECK(out[out_len] == '\0');
    FUZZ_CHECK(aop_request_parse(p, op, out, out_len, &again, &err) == 0);
    FUZZ_CHECK(again.stream == 1 && again.include_usage == 1 && again.has_stream_options);
    FUZZ_CHECK(strcmp(again.model, info->model) == 0);
    FUZZ_CHECK(again.n == info->n && again.max_tokens == info->max_tokens);
}

/* The deployment as the body's model (the v1 API, the Responses API): what goes
 * upstream parses, names the deployment, and reads as the original did otherwise. */
static void check_model_splice(apr_pool_t *p, aop_op_e op, const char *body, size_t len,
                               const char *path_model, const aop_request_info_t *info)
{
    aop_request_info_t again;
    aop_request_error_t err;
    aop_splice_t sp;
    char *out;
    apr_size_t out_len;

    aop_request_model_splice(p, body, info, "dep-1.x", &sp);
    if (!sp.text) {
        FUZZ_CHECK(strcmp(info->model, "dep-1.x") == 0 || path_model);
        return;
    }
    FUZZ_CHECK(sp.from <= sp.to && sp.to <= len);
    out_len = len - (sp.to - sp.from) + sp.text_len;
    out = apr_palloc(p, out_len + 1);
    memcpy(out, body, sp.from);
    memcpy(out + sp.from, sp.text, sp.text_len);
    memcpy(out + sp.from + sp.text_len, body + sp.to, len - sp.to);
    out[out_len] = '\0';
    FUZZ_CHECK(aop_request_parse(p, op, out, out_len, &again, &err) == 0);
    FUZZ_CHECK(strcmp(again.model, "dep-1.x") == 0);
    FUZZ_CHECK(again.stream == info->stream && again.n == info->n
               && again.max_tokens == info->max_tokens);
}

static int same_str(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* The scanner and the tree read the body alike: the same fields, or the same error. */
static void check_scan(apr_pool_t *p, aop_op_e op, const char *path_model,
                       const char *body, size_t len)
{
    aop_request_info_t a, b;
    aop_request_error_t ea = { 0 }, eb = { 0 };
    int ra = aop_request_parse_with(p, op, path_model, body, len, 1, &a, &ea);
    int rb = aop_request_parse_with(p, op, path_model, body, len, 0, &b, &eb);

    FUZZ_CHECK(ra == rb);
    if (ra != 0) {
        FUZZ_CHECK(same_str(ea.message, eb.message) && same_str(ea.param, eb.param)
                   && same_str(ea.code, eb.code));
        return;
    }
    FUZZ_CHECK(same_str(a.model, b.model) && a.stream == b.stream
               && a.include_usage == b.include_usage
               && a.has_stream_options == b.has_stream_options && a.n == b.n
               && a.max_tokens == b.max_tokens && a.prompt_estimate == b.prompt_estimate
               && a.estimate == b.estimate);
    FUZZ_CHECK(a.usage_splice.from == b.usage_splice.from
               && a.usage_splice.to == b.usage_splice.to
               && same_str(a.usage_splice.text, b.usage_splice.text));
    FUZZ_CHECK(a.model_from == b.model_from && a.model_to == b.model_to
               && a.body_empty == b.body_empty && a.messages_end == b.messages_end
               && a.messages_count == b.messages_count);
}

static void one_op(apr_pool_t *p, aop_op_e op, const char *body, size_t len)
{
    aop_request_info_t info;
    aop_request_error_t err;

    check_scan(p, op, NULL, body, len);
    check_scan(p, op, "path-model", body, len);
    if (aop_request_parse(p, op, body, len, &info, &err) != 0) {
        FUZZ_CHECK(err.message != NULL);
    }
    else {
        check_info(&info);
        check_with_usage(p, op, body, len, &info);
        check_model_splice(p, op, body, len, NULL, &info);
    }
    /* The model named by an Azure-style path: the body's is not needed. */
    if (aop_request_parse_for(p, op, "path-model", body, len, &info, &err) != 0) {
        FUZZ_CHECK(err.message != NULL);
        return;
    }
    FUZZ_CHECK(strcmp(info.model, "path-model") == 0);
    check_model_splice(p, op, body, len, "path-model", &info);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data, *perr = NULL, *field = NULL;
    const char *rerr = NULL;
    const aop_jnode_t *tree, *raw;
    apr_pool_t *p;

    apr_pool_create(&p, root);
    if ((tree = aop_jtree_parse(p, body, size, &perr)) != NULL) {
        check_tree(tree, body, size, 0);
        (void)aop_jtree_nul_path(p, tree);
    }
    else {
        FUZZ_CHECK(perr != NULL);
    }
    raw = aop_jtree_parse_raw(p, body, size, &rerr);
    FUZZ_CHECK((raw == NULL) == (tree == NULL));
    if (tree) {
        check_raw(p, tree, raw);
    }
    else {
        FUZZ_CHECK(rerr && strcmp(rerr, perr) == 0);
    }
    one_op(p, AOP_OP_CHAT, body, size);
    one_op(p, AOP_OP_COMPLETIONS, body, size);
    one_op(p, AOP_OP_EMBEDDINGS, body, size);
    one_op(p, AOP_OP_RESPONSES, body, size);
    if (!aop_json_parse_names(p, body, size, &perr, &field)) {
        FUZZ_CHECK(perr != NULL);
        /* A NUL found is one aop_jtree saw, or one the text itself spells. */
        FUZZ_CHECK(!field || !tree || aop_jtree_nul_path(p, tree) != NULL);
    }
    apr_pool_destroy(p);
    return 0;
}
