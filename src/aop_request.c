/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <string.h>

#include <apr_strings.h>

#include "aop_jtree.h"
#include "aop_request.h"
#include "aop_request_top.h"
#include "aop_sat.h"

/* The names of aop_read_key_e's keys.  One pass over the body's members finds them
 * all (index_top): a lookup by name for each, as before, cost a small chat's parse
 * some 2 000 instructions (callgrind). */
static const struct {
    const char *name;
    apr_size_t len;
} read_keys[K_COUNT] = {
#define READ_KEY(s) { s, sizeof(s) - 1 }
    READ_KEY("model"), READ_KEY("stream"), READ_KEY("stream_options"), READ_KEY("n"),
    READ_KEY("max_tokens"), READ_KEY("max_completion_tokens"), READ_KEY("messages"),
    READ_KEY("prompt"), READ_KEY("input"), READ_KEY("tools"), READ_KEY("instructions"),
    READ_KEY("max_output_tokens"), READ_KEY("previous_response_id"),
    READ_KEY("conversation"), READ_KEY("background")
#undef READ_KEY
};

static int fail(aop_request_error_t *err, const char *message, const char *param,
                const char *code)
{
    err->message = message;
    err->param = param;
    err->code = code;
    return -1;
}

static int type_error(apr_pool_t *p, aop_request_error_t *err, const char *key,
                      const char *want, const aop_jnode_t *got)
{
    return fail(err, apr_psprintf(p, "Invalid type for '%s': expected %s, but got %s "
                                     "instead.", key, want, aop_jtree_type_word(got)),
                key, "invalid_type");
}

/* A member that is absent or JSON null counts as not given. */
static const aop_jnode_t *member(const aop_jnode_t *obj, const char *key)
{
    const aop_jnode_t *v = aop_jtree_get(obj, key);

    return v && v->type != AOP_JNULL ? v : NULL;
}

/* The same for a top-level read key. */
static const aop_jnode_t *given(const aop_top_t *t, aop_read_key_e k)
{
    const aop_jnode_t *v = t->at[k];

    return v && v->type != AOP_JNULL ? v : NULL;
}

/* Reads an optional integer field in [0, max]; 1 = present, 0 = absent, -1 = bad.
 * The bound comes before any arithmetic: a client's 2^63 - 1 must not become a
 * negative reservation. */
static int opt_count(apr_pool_t *p, const aop_top_t *t, aop_read_key_e k,
                     apr_int64_t max, apr_int64_t *out, aop_request_error_t *err)
{
    const aop_jnode_t *v = given(t, k);
    const char *key = read_keys[k].name;

    if (!v) {
        return 0;
    }
    if (v->type != AOP_JINT) {
        return type_error(p, err, key, "an integer", v);
    }
    if (v->i < 0) {
        return fail(err, apr_psprintf(p, "Invalid '%s': must be a non-negative integer.",
                                      key), key, "invalid_value");
    }
    if (v->i > max) {
        return fail(err, apr_psprintf(p, "Invalid '%s': integer above maximum value. "
                                         "Expected a value <= %" APR_INT64_T_FMT ", but got "
                                         "%" APR_INT64_T_FMT " instead.", key, max, v->i),
                    key, "integer_above_max_value");
    }
    *out = v->i;
    return 1;
}

static int parse_stream(apr_pool_t *p, const aop_top_t *t, aop_request_info_t *info,
                        aop_request_error_t *err)
{
    const aop_jnode_t *v = given(t, K_STREAM), *opts, *inc;

    if (v) {
        if (v->type != AOP_JBOOL) {
            return type_error(p, err, "stream", "a boolean", v);
        }
        info->stream = v->b;
    }
    opts = t->at[K_STREAM_OPTIONS];
    info->has_stream_options = opts != NULL;
    if (opts && (inc = aop_jtree_get(opts, "include_usage")) != NULL
        && inc->type == AOP_JBOOL) {
        info->include_usage = inc->b;
    }
    return 0;
}

static int parse_model(apr_pool_t *p, aop_op_e op, const aop_top_t *t,
                       aop_request_info_t *info, aop_request_error_t *err)
{
    const aop_jnode_t *v = given(t, K_MODEL);
    const char *model;
    apr_size_t len;

    if (info->model) {
        return 0;               /* the path named it */
    }
    if (!v) {
        /* Each API's own words for it. */
        return op == AOP_OP_RESPONSES
               ? fail(err, "Missing required parameter: 'model'.", "model",
                      "missing_required_parameter")
               : fail(err, "you must provide a model parameter", NULL, NULL);
    }
    if (v->type != AOP_JSTRING) {
        return type_error(p, err, "model", "a string", v);
    }
    if (v->str_len == 0) {
        return fail(err, "you must provide a model parameter", "model", NULL);
    }
    /* The one string of the body that is copied (and decoded): it outlives the tree. */
    model = aop_jtree_str(p, v, &len);
    /* "gpt-4o-mini\u0000evil" would route as gpt-4o-mini (every lookup stops at the
     * NUL) while Azure receives the whole string. */
    if (memchr(model, '\0', len)) {
        return fail(err, "Invalid 'model': the model name contains a NUL character.",
                    "model", "invalid_value");
    }
    info->model = model;
    return 0;
}

static int parse_counts(apr_pool_t *p, const aop_top_t *t, aop_request_info_t *info,
                        aop_request_error_t *err)
{
    apr_int64_t n = 1;
    int rc;

    if ((rc = opt_count(p, t, K_MAX_COMPLETION_TOKENS, AOP_MAX_TOKENS_LIMIT,
                        &info->max_tokens, err)) < 0
        || (rc == 0 && (rc = opt_count(p, t, K_MAX_OUTPUT_TOKENS, AOP_MAX_TOKENS_LIMIT,
                                       &info->max_tokens, err)) < 0)) {
        return -1;
    }
    if (rc == 0 && opt_count(p, t, K_MAX_TOKENS, AOP_MAX_TOKENS_LIMIT,
                             &info->max_tokens, err) < 0) {
        return -1;
    }
    if (opt_count(p, t, K_N, AOP_MAX_N, &n, err) < 0) {
        return -1;
    }
    info->n = n > 0 ? (int)n : 1;       /* 0: Azure's to refuse; reserved as 1 */
    return 0;
}

static int duplicate(apr_pool_t *p, aop_request_error_t *err, const char *key)
{
    return fail(err, apr_psprintf(p, "Invalid body: the key '%s' is given more than once.",
                                  key), key, "duplicate_key");
}

const char *aop_request_key_name(int k)
{
    return k >= 0 && k < K_COUNT ? read_keys[k].name : NULL;
}

int aop_request_key_index(const char *name, apr_size_t len)
{
    /* By the first byte, then the length and the bytes: a name that is none of them
     * (most of a body's) is turned away after a comparison or two (a loop over the
     * table cost a small chat 150 instructions).  check_request_scan.c tests it
     * against the table. */
#define IS(k) (len == read_keys[k].len && memcmp(name, read_keys[k].name, len) == 0 ? (k) : -1)
    switch (len ? name[0] : 0) {
    case 'b': return IS(K_BACKGROUND);
    case 'c': return IS(K_CONVERSATION);
    case 'i': return len == 5 ? IS(K_INPUT) : IS(K_INSTRUCTIONS);
    case 'm':
        switch (len) {
        case 5: return IS(K_MODEL);
        case 8: return IS(K_MESSAGES);
        case 10: return IS(K_MAX_TOKENS);
        case 17: return IS(K_MAX_OUTPUT_TOKENS);
        case 21: return IS(K_MAX_COMPLETION_TOKENS);
        }
        return -1;
    case 'n': return IS(K_N);
    case 'p': return len == 6 ? IS(K_PROMPT) : IS(K_PREVIOUS_RESPONSE_ID);
    case 's': return len == 6 ? IS(K_STREAM) : IS(K_STREAM_OPTIONS);
    case 't': return IS(K_TOOLS);
    }
    return -1;
#undef IS
}

/* One pass over the top-level members (and stream_options'): each read key's member
 * noted in t, a read key twice refused.  Linear in the members, whatever their
 * number. */
static int index_top(apr_pool_t *p, const aop_jnode_t *root, aop_top_t *t,
                     aop_request_error_t *err)
{
    const aop_jnode_t *m, *opts;
    int i, usage_seen = 0;

    memset(t, 0, sizeof(*t));
    for (m = root->child; m; m = m->next) {
        if ((i = aop_request_key_index(m->key, m->key_len)) < 0) {
            continue;
        }
        if (t->at[i]) {
            return duplicate(p, err, read_keys[i].name);
        }
        t->at[i] = m;
    }
    opts = t->at[K_STREAM_OPTIONS];
    for (m = opts && opts->type == AOP_JOBJECT ? opts->child : NULL; m; m = m->next) {
        if (m->key_len == 13 && memcmp(m->key, "include_usage", 13) == 0 && usage_seen++) {
            return duplicate(p, err, "stream_options.include_usage");
        }
    }
    return 0;
}

/* A prompt or an embedding input: a string, a list of strings, or token ids. */
static apr_int64_t input_tokens(const aop_jnode_t *v)
{
    apr_int64_t sum = 0;
    const aop_jnode_t *item;

    if (v->type == AOP_JSTRING) {
        return aop_text_tokens(v->str_len);
    }
    if (v->type != AOP_JARRAY) {
        return 0;
    }
    for (item = v->child; item; item = item->next) {
        sum = aop_sat_add(sum, item->type == AOP_JINT ? 1 : input_tokens(item));
    }
    return sum;
}

/* A message's content: a string, or parts (text, images at a flat cost).  Anything
 * else is estimated from its JSON text. */
static apr_int64_t content_tokens(const aop_jnode_t *content)
{
    apr_int64_t sum = 0;
    const aop_jnode_t *part, *v;

    if (content->type != AOP_JARRAY) {
        return input_tokens(content);
    }
    for (part = content->child; part; part = part->next) {
        if ((v = aop_jtree_get(part, "text")) != NULL) {
            sum = aop_sat_add(sum, input_tokens(v));
        }
        else if (aop_jtree_get(part, "image_url")) {
            sum = aop_sat_add(sum, AOP_TOKENS_PER_IMAGE);
        }
        else {
            sum = aop_sat_add(sum, aop_text_tokens(part->src_len));
        }
    }
    return sum;
}

static apr_int64_t message_tokens(const aop_jnode_t *msg)
{
    apr_int64_t sum = AOP_TOKENS_PER_MESSAGE;
    const aop_jnode_t *v;

    if ((v = aop_jtree_get(msg, "content")) != NULL) {
        sum = aop_sat_add(sum, content_tokens(v));
    }
    if ((v = aop_jtree_get(msg, "tool_calls")) != NULL
        || (v = aop_jtree_get(msg, "function_call")) != NULL) {
        sum = aop_sat_add(sum, aop_text_tokens(v->src_len));
    }
    return sum;
}

/* Prompt tokens from what the prompt is made of, as OpenAI counts chat messages;
 * failing that, the body's size. */
static apr_int64_t prompt_tokens(const aop_top_t *t, apr_size_t len)
{
    const aop_jnode_t *v, *msg;
    apr_int64_t sum = 0;

    if ((v = t->at[K_MESSAGES]) != NULL && v->type == AOP_JARRAY) {
        sum = t->messages_tokens;       /* the scanner's sum, else 0 */
        for (msg = v->child; msg; msg = msg->next) {
            sum = aop_sat_add(sum, message_tokens(msg));
        }
        sum = aop_sat_add(sum, AOP_TOKENS_PER_REPLY);
        if ((v = t->at[K_TOOLS]) != NULL) {
            sum = aop_sat_add(sum, aop_text_tokens(v->src_len));
        }
        return sum;
    }
    if ((v = t->at[K_PROMPT]) != NULL || (v = t->at[K_INPUT]) != NULL) {
        return input_tokens(v);
    }
    return aop_text_tokens(len);
}

/* The Responses API's input: a string, or items (messages with content, or parts
 * with text), and its instructions. */
static apr_int64_t responses_input_tokens(const aop_top_t *t, apr_size_t len)
{
    const aop_jnode_t *v = t->at[K_INPUT], *item;
    apr_int64_t sum = 0;

    if (!v) {
        return aop_text_tokens(len);
    }
    if (v->type == AOP_JARRAY) {
        for (item = v->child; item; item = item->next) {
            sum = aop_sat_add(sum, item->type == AOP_JOBJECT ? message_tokens(item)
                                                             : input_tokens(item));
        }
    }
    else {
        sum = input_tokens(v);
    }
    if ((v = t->at[K_INSTRUCTIONS]) != NULL) {
        sum = aop_sat_add(sum, input_tokens(v));
    }
    return sum;
}

static void estimate(aop_op_e op, const aop_top_t *t, apr_size_t len,
                     aop_request_info_t *info)
{
    apr_int64_t out = 0;

    /* A reservation, not a bill: the real count from the answer's usage replaces it. */
    info->prompt_estimate = op == AOP_OP_RESPONSES ? responses_input_tokens(t, len)
                                                   : prompt_tokens(t, len);
    if (op != AOP_OP_EMBEDDINGS) {
        out = info->max_tokens > 0 ? info->max_tokens : AOP_DEFAULT_COMPLETION_ESTIMATE;
        out = aop_sat_mul(out, info->n);
    }
    /* Bounded by the limits on max_tokens and n and by the body's size, so never near
     * the range's end; saturating all the same, as every sum that meets a budget. */
    info->estimate = aop_sat_add(info->prompt_estimate, out);
}

static const char include_usage[] = ",\"stream_options\":{\"include_usage\":true}";

static void set_splice(aop_splice_t *sp, const char *body, const char *from,
                       apr_size_t cut, const char *text)
{
    sp->from = (apr_size_t)(from - body);
    sp->to = sp->from + cut;
    sp->text = text;
    sp->text_len = strlen(text);
}

/* Where stream_options.include_usage = true goes, should the request be a stream whose
 * client did not ask for usage.  Without a stream_options member the text is inserted
 * before the object's closing brace (the body has at least "model", so a comma is
 * always right); with one (say include_usage: false, or other options) its
 * include_usage value, or the whole member's value when it is not an object, is
 * replaced; every other byte stays as the client sent it. */
static void plan_usage(const char *body, const aop_jnode_t *root, const aop_top_t *t,
                       aop_request_info_t *info)
{
    const aop_jnode_t *opts = t->at[K_STREAM_OPTIONS], *inc;
    aop_splice_t *sp = &info->usage_splice;

    if (!opts) {
        set_splice(sp, body, root->src + root->src_len - 1, 0, include_usage);
    }
    else if (opts->type != AOP_JOBJECT) {
        set_splice(sp, body, opts->src, opts->src_len, "{\"include_usage\":true}");
    }
    else if ((inc = aop_jtree_get(opts, "include_usage")) != NULL) {
        set_splice(sp, body, inc->src, inc->src_len, "true");
    }
    else {
        /* Right after the '{': the member goes first, with a comma if others follow. */
        set_splice(sp, body, opts->src + 1, 0,
                   opts->count ? "\"include_usage\":true," : "\"include_usage\":true");
    }
}

/* An id that names a stored response or conversation: a string Azure could have
 * made (aop_path.h's rule), else 400. */
static int stored_id(apr_pool_t *p, const aop_jnode_t *v, const char *key, const char **out,
                     aop_request_error_t *err)
{
    const char *id;
    apr_size_t len;

    if (v->type != AOP_JSTRING) {
        return type_error(p, err, key, "a string", v);
    }
    id = aop_jtree_str(p, v, &len);
    if (!aop_path_is_id(id, len)) {
        return fail(err, apr_psprintf(p, "Invalid '%s': not an id this API made.", key),
                    key, "invalid_value");
    }
    *out = id;
    return 0;
}

/* previous_response_id, conversation (an id or {"id": ...}) and background. */
static int parse_stored(apr_pool_t *p, const aop_top_t *t, aop_request_info_t *info,
                        aop_request_error_t *err)
{
    const aop_jnode_t *v;

    if ((v = given(t, K_PREVIOUS_RESPONSE_ID)) != NULL
        && stored_id(p, v, "previous_response_id", &info->previous_response_id, err)) {
        return -1;
    }
    if ((v = given(t, K_CONVERSATION)) != NULL) {
        if (v->type == AOP_JOBJECT && (v = member(v, "id")) == NULL) {
            return fail(err, "Missing required parameter: 'conversation.id'.",
                        "conversation.id", "missing_required_parameter");
        }
        if (stored_id(p, v, "conversation", &info->conversation, err)) {
            return -1;
        }
    }
    if ((v = given(t, K_BACKGROUND)) != NULL) {
        if (v->type != AOP_JBOOL) {
            return type_error(p, err, "background", "a boolean", v);
        }
        info->background = v->b;
    }
    return 0;
}

/* Where the model's value is, or where a model member would go. */
static void note_model_place(const char *body, const aop_jnode_t *root, const aop_top_t *t,
                             aop_request_info_t *info)
{
    const aop_jnode_t *v = t->at[K_MODEL];

    if (v) {
        info->model_from = (apr_size_t)(v->src - body);
        info->model_to = info->model_from + v->src_len;
    }
    else {
        info->model_from = info->model_to = (apr_size_t)(root->src - body) + 1;
        info->body_empty = root->count == 0;
    }
}

static void note_messages_place(const char *body, const aop_top_t *t,
                                aop_request_info_t *info)
{
    const aop_jnode_t *v = t->at[K_MESSAGES];

    if (v && v->type == AOP_JARRAY && v->src_len >= 2) {
        info->messages_end = (apr_size_t)(v->src - body) + v->src_len - 1;
        info->messages_count = v->count;
    }
}

/* The checks and the estimate on the top-level object and its index, the tree's or
 * the scanner's (p gets only what outlives them, the model and the error messages). */
static int read_top(apr_pool_t *p, aop_op_e op, const char *body, apr_size_t len,
                    const aop_jnode_t *root, const aop_top_t *t, aop_request_info_t *info,
                    aop_request_error_t *err)
{
    if (parse_model(p, op, t, info, err) || parse_stream(p, t, info, err)
        || parse_counts(p, t, info, err)
        || (op == AOP_OP_RESPONSES && parse_stored(p, t, info, err))) {
        return -1;
    }
    estimate(op, t, len, info);
    plan_usage(body, root, t, info);
    note_model_place(body, root, t, info);
    note_messages_place(body, t, info);
    return 0;
}

/* The same on the parsed tree (in a scratch pool for a large body). */
static int read_tree(apr_pool_t *p, aop_op_e op, const char *body, apr_size_t len,
                     const aop_jnode_t *root, aop_request_info_t *info,
                     aop_request_error_t *err)
{
    aop_top_t t;

    if (root->type != AOP_JOBJECT) {
        return fail(err, apr_psprintf(p, "Invalid body: expected a JSON object, but got %s "
                                         "instead.", aop_jtree_type_word(root)), NULL, NULL);
    }
    if (index_top(p, root, &t, err)) {
        return -1;
    }
    return read_top(p, op, body, len, root, &t, info, err);
}

/* Bodies from this size on are parsed in a pool of their own, destroyed after the
 * parse, so that a large body's nodes do not stay in p for a stream's life; a smaller
 * one's few nodes go into p, which saves the pool's creation and its 8 KB block. */
#define SCRATCH_POOL_MIN (16 * 1024)

int aop_request_parse(apr_pool_t *p, aop_op_e op, const char *body, apr_size_t len,
                      aop_request_info_t *info, aop_request_error_t *err)
{
    return aop_request_parse_for(p, op, NULL, body, len, info, err);
}

int aop_request_parse_for(apr_pool_t *p, aop_op_e op, const char *path_model,
                          const char *body, apr_size_t len, aop_request_info_t *info,
                          aop_request_error_t *err)
{
    return aop_request_parse_with(p, op, path_model, body, len, 1, info, err);
}

int aop_request_parse_with(apr_pool_t *p, aop_op_e op, const char *path_model,
                           const char *body, apr_size_t len, int scan,
                           aop_request_info_t *info, aop_request_error_t *err)
{
    const char *perr = NULL;
    const aop_jnode_t *root;
    apr_pool_t *scratch = p;
    aop_request_scan_t sc;
    int rc;

    memset(info, 0, sizeof(*info));
    info->n = 1;
    info->model = path_model;
    if (len == 0) {
        return fail(err, "The request body is empty: the OpenAI API expects a JSON "
                         "object.", NULL, NULL);
    }
    /* A small chat without a tree (aop_request_scan.c), the Responses API's input
     * items aside; whatever the scanner leaves goes to the tree. */
    if (scan && op != AOP_OP_RESPONSES && len < SCRATCH_POOL_MIN
        && aop_request_scan(body, len, &sc) == 0) {
        return read_top(p, op, body, len, &sc.root, &sc.top, info, err);
    }
    /* aop_jtree, not json-c: this runs for every call (see aop_jtree.h); in raw mode,
     * so that no string of a body of megabytes is copied. */
    if (len >= SCRATCH_POOL_MIN && apr_pool_create(&scratch, p) != APR_SUCCESS) {
        return fail(err, "The request could not be read (out of memory).", NULL, NULL);
    }
    root = aop_jtree_parse_raw(scratch, body, len, &perr);
    if (!root) {
        rc = fail(err, apr_psprintf(p, "We could not parse the JSON body of your request "
                                       "(%s). The OpenAI API expects a JSON payload.",
                                    perr), NULL, NULL);
    }
    else {
        rc = read_tree(p, op, body, len, root, info, err);
    }
    if (scratch != p) {
        apr_pool_destroy(scratch);
    }
    return rc;
}

/* JSON string text for UTF-8 s: quotes, backslashes and control characters escaped
 * (line breaks and tabs as \n, \r, \t); everything else as it is. */
static apr_size_t json_escape(char *out, const char *s, apr_size_t len)
{
    static const char hex[] = "0123456789abcdef";
    apr_size_t i, o = 0;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        }
        else if (c == '\n' || c == '\r' || c == '\t') {
            out[o++] = '\\';
            out[o++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        }
        else if (c < 0x20) {
            memcpy(out + o, "\\u00", 4);
            out[o + 4] = hex[c >> 4];
            out[o + 5] = hex[c & 15];
            o += 6;
        }
        else {
            out[o++] = (char)c;
        }
    }
    return o;
}

int aop_request_prefill(apr_pool_t *p, const aop_request_info_t *info, const char *text,
                        apr_size_t len, aop_splice_t *sp)
{
    static const char head[] = "{\"role\":\"assistant\",\"content\":\"", tail[] = "\"}";
    apr_size_t o = 0;
    char *out;

    if (!info->messages_end) {
        return -1;
    }
    /* Six bytes at most per byte of text (\u00XX), the comma, head, tail, NUL. */
    out = apr_palloc(p, len * 6 + sizeof(head) + sizeof(tail) + 2);
    if (info->messages_count) {
        out[o++] = ',';
    }
    memcpy(out + o, head, sizeof(head) - 1);
    o += sizeof(head) - 1;
    o += json_escape(out + o, text, len);
    memcpy(out + o, tail, sizeof(tail));
    o += sizeof(tail) - 1;
    sp->from = sp->to = info->messages_end;
    sp->text = out;
    sp->text_len = o;
    return 0;
}

int aop_request_with_usage(apr_pool_t *p, const char *body, apr_size_t len,
                           const aop_request_info_t *info, const char **out,
                           apr_size_t *out_len)
{
    const aop_splice_t *sp = &info->usage_splice;
    char *buf;

    if (!sp->text || sp->to > len) {
        return -1;
    }
    *out_len = len - (sp->to - sp->from) + sp->text_len;
    buf = apr_palloc(p, *out_len + 1);
    memcpy(buf, body, sp->from);
    memcpy(buf + sp->from, sp->text, sp->text_len);
    memcpy(buf + sp->from + sp->text_len, body + sp->to, len - sp->to);
    buf[*out_len] = '\0';
    *out = buf;
    return 0;
}

void aop_request_model_splice(apr_pool_t *p, const char *body,
                              const aop_request_info_t *info, const char *dep,
                              aop_splice_t *sp)
{
    apr_size_t dl = strlen(dep);
    char *text;

    memset(sp, 0, sizeof(*sp));
    sp->from = info->model_from;
    sp->to = info->model_to;
    if (sp->to > sp->from) {
        if (sp->to - sp->from == dl + 2 && memcmp(body + sp->from + 1, dep, dl) == 0) {
            return;             /* "dep" already */
        }
        text = apr_palloc(p, dl + 3);
        text[0] = '"';
        memcpy(text + 1, dep, dl);
        text[dl + 1] = '"';
        text[dl + 2] = '\0';
    }
    else {
        text = apr_pstrcat(p, "\"model\":\"", dep, info->body_empty ? "\"" : "\",", NULL);
    }
    sp->text = text;
    sp->text_len = strlen(text);
}
