#include <string.h>

#include <apr_strings.h>

#include "aop_json.h"
#include "aop_request.h"

static int fail(aop_request_error_t *err, const char *message, const char *param,
                const char *code)
{
    err->message = message;
    err->param = param;
    err->code = code;
    return -1;
}

static const char *json_type_word(json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_null: return "null";
    case json_type_boolean: return "a boolean";
    case json_type_double: return "a decimal";
    case json_type_int: return "an integer";
    case json_type_object: return "an object";
    case json_type_array: return "an array";
    case json_type_string: return "a string";
    }
    return "an unknown type";
}

static int type_error(apr_pool_t *p, aop_request_error_t *err, const char *key,
                      const char *want, json_object *got)
{
    return fail(err, apr_psprintf(p, "Invalid type for '%s': expected %s, but got %s "
                                     "instead.", key, want, json_type_word(got)),
                key, "invalid_type");
}

/* Reads an optional non-negative integer field; 1 = present, 0 = absent, -1 = bad. */
static int opt_count(apr_pool_t *p, json_object *root, const char *key,
                     apr_int64_t *out, aop_request_error_t *err)
{
    json_object *v;

    if (!json_object_object_get_ex(root, key, &v) || json_object_is_type(v, json_type_null)) {
        return 0;
    }
    if (!json_object_is_type(v, json_type_int)) {
        return type_error(p, err, key, "an integer", v);
    }
    if (json_object_get_int64(v) < 0) {
        return fail(err, apr_psprintf(p, "Invalid '%s': must be a non-negative integer.",
                                      key), key, "invalid_value");
    }
    *out = json_object_get_int64(v);
    return 1;
}

static int parse_stream(apr_pool_t *p, json_object *root, aop_request_info_t *info,
                        aop_request_error_t *err)
{
    json_object *v, *opts, *inc;

    if (json_object_object_get_ex(root, "stream", &v) && !json_object_is_type(v, json_type_null)) {
        if (!json_object_is_type(v, json_type_boolean)) {
            return type_error(p, err, "stream", "a boolean", v);
        }
        info->stream = json_object_get_boolean(v);
    }
    info->has_stream_options = json_object_object_get_ex(root, "stream_options", &opts);
    if (info->has_stream_options && json_object_is_type(opts, json_type_object)
        && json_object_object_get_ex(opts, "include_usage", &inc)
        && json_object_is_type(inc, json_type_boolean)) {
        info->include_usage = json_object_get_boolean(inc);
    }
    return 0;
}

static int parse_model(apr_pool_t *p, json_object *root, aop_request_info_t *info,
                       aop_request_error_t *err)
{
    json_object *v;

    if (!json_object_object_get_ex(root, "model", &v) || json_object_is_type(v, json_type_null)) {
        return fail(err, "you must provide a model parameter", NULL, NULL);
    }
    if (!json_object_is_type(v, json_type_string)) {
        return type_error(p, err, "model", "a string", v);
    }
    if (json_object_get_string_len(v) == 0) {
        return fail(err, "you must provide a model parameter", "model", NULL);
    }
    info->model = apr_pstrdup(p, json_object_get_string(v));
    return 0;
}

static int parse_counts(apr_pool_t *p, json_object *root, aop_request_info_t *info,
                        aop_request_error_t *err)
{
    apr_int64_t n = 1;
    int rc;

    if ((rc = opt_count(p, root, "max_completion_tokens", &info->max_tokens, err)) < 0) {
        return -1;
    }
    if (rc == 0 && opt_count(p, root, "max_tokens", &info->max_tokens, err) < 0) {
        return -1;
    }
    if (opt_count(p, root, "n", &n, err) < 0) {
        return -1;
    }
    info->n = n > 0 ? (int)(n > 128 ? 128 : n) : 1;
    return 0;
}

static apr_int64_t text_tokens(apr_size_t chars)
{
    return (apr_int64_t)((chars + AOP_CHARS_PER_TOKEN - 1) / AOP_CHARS_PER_TOKEN);
}

/* A prompt or an embedding input: a string, a list of strings, or token ids. */
static apr_int64_t input_tokens(json_object *v)
{
    apr_int64_t sum = 0;
    size_t i;

    if (json_object_is_type(v, json_type_string)) {
        return text_tokens((apr_size_t)json_object_get_string_len(v));
    }
    if (!json_object_is_type(v, json_type_array)) {
        return 0;
    }
    for (i = 0; i < json_object_array_length(v); i++) {
        json_object *item = json_object_array_get_idx(v, i);

        sum += json_object_is_type(item, json_type_int) ? 1 : input_tokens(item);
    }
    return sum;
}

/* A message's content: a string, or parts (text, images at a flat cost). */
static apr_int64_t content_tokens(json_object *content)
{
    apr_int64_t sum = 0;
    size_t i;

    if (!json_object_is_type(content, json_type_array)) {
        return input_tokens(content);
    }
    for (i = 0; i < json_object_array_length(content); i++) {
        json_object *part = json_object_array_get_idx(content, i), *v;

        if (json_object_object_get_ex(part, "text", &v)) {
            sum += input_tokens(v);
        }
        else if (json_object_object_get_ex(part, "image_url", &v)) {
            sum += AOP_TOKENS_PER_IMAGE;
        }
        else {
            sum += text_tokens(strlen(json_object_to_json_string(part)));
        }
    }
    return sum;
}

static apr_int64_t message_tokens(json_object *msg)
{
    apr_int64_t sum = AOP_TOKENS_PER_MESSAGE;
    json_object *v;

    if (json_object_object_get_ex(msg, "content", &v)) {
        sum += content_tokens(v);
    }
    if (json_object_object_get_ex(msg, "tool_calls", &v)
        || json_object_object_get_ex(msg, "function_call", &v)) {
        sum += text_tokens(strlen(json_object_to_json_string(v)));
    }
    return sum;
}

/* Prompt tokens from what the prompt is made of, as OpenAI counts chat messages;
 * NULL-free fallback: the body's size. */
static apr_int64_t prompt_tokens(json_object *root, apr_size_t len)
{
    json_object *v;
    apr_int64_t sum = 0;
    size_t i;

    if (json_object_object_get_ex(root, "messages", &v)
        && json_object_is_type(v, json_type_array)) {
        for (i = 0; i < json_object_array_length(v); i++) {
            sum += message_tokens(json_object_array_get_idx(v, i));
        }
        sum += AOP_TOKENS_PER_REPLY;
        if (json_object_object_get_ex(root, "tools", &v)) {
            sum += text_tokens(strlen(json_object_to_json_string(v)));
        }
        return sum;
    }
    if (json_object_object_get_ex(root, "prompt", &v)
        || json_object_object_get_ex(root, "input", &v)) {
        return input_tokens(v);
    }
    return text_tokens(len);
}

static void estimate(aop_op_e op, json_object *root, apr_size_t len,
                     aop_request_info_t *info)
{
    apr_int64_t out = 0;

    /* A reservation, not a bill: the real count from the answer's usage replaces it. */
    info->prompt_estimate = prompt_tokens(root, len);
    if (op != AOP_OP_EMBEDDINGS) {
        out = info->max_tokens > 0 ? info->max_tokens : AOP_DEFAULT_COMPLETION_ESTIMATE;
        out *= info->n;
    }
    info->estimate = info->prompt_estimate + out;
}

int aop_request_parse(apr_pool_t *p, aop_op_e op, const char *body, apr_size_t len,
                      aop_request_info_t *info, aop_request_error_t *err)
{
    const char *perr = NULL;
    json_object *root;

    memset(info, 0, sizeof(*info));
    info->n = 1;
    if (len == 0) {
        return fail(err, "The request body is empty: the OpenAI API expects a JSON "
                         "object.", NULL, NULL);
    }
    root = aop_json_parse(p, body, len, &perr);
    if (!root) {
        return fail(err, apr_psprintf(p, "We could not parse the JSON body of your request "
                                         "(%s). The OpenAI API expects a JSON payload.",
                                      perr), NULL, NULL);
    }
    if (!json_object_is_type(root, json_type_object)) {
        return fail(err, apr_psprintf(p, "Invalid body: expected a JSON object, but got %s "
                                         "instead.", json_type_word(root)), NULL, NULL);
    }
    if (parse_model(p, root, info, err) || parse_stream(p, root, info, err)
        || parse_counts(p, root, info, err)) {
        return -1;
    }
    estimate(op, root, len, info);
    return 0;
}

static const char include_usage[] = ",\"stream_options\":{\"include_usage\":true}";

/* Inserts the member before the object's closing brace (the body is a JSON object
 * with at least "model", so a comma is always right). */
static int insert_member(apr_pool_t *p, const char *body, apr_size_t len, const char **out,
                         apr_size_t *out_len)
{
    apr_size_t end = len, n = sizeof(include_usage) - 1;
    char *buf;

    while (end > 0 && strchr(" \t\r\n", body[end - 1])) {
        end--;
    }
    if (end == 0 || body[end - 1] != '}') {
        return -1;
    }
    buf = apr_palloc(p, len + n + 1);
    memcpy(buf, body, end - 1);
    memcpy(buf + end - 1, include_usage, n);
    memcpy(buf + end - 1 + n, body + end - 1, len - (end - 1));
    buf[len + n] = '\0';
    *out = buf;
    *out_len = len + n;
    return 0;
}

/* stream_options exists (say include_usage: false, or other options): set the flag
 * in the parsed document and serialise it again. */
static int set_member(apr_pool_t *p, const char *body, apr_size_t len, const char **out,
                      apr_size_t *out_len)
{
    const char *perr = NULL;
    json_object *root = aop_json_parse(p, body, len, &perr), *opts;

    if (!root || !json_object_object_get_ex(root, "stream_options", &opts)) {
        return -1;
    }
    if (!json_object_is_type(opts, json_type_object)) {
        opts = json_object_new_object();
        json_object_object_add(root, "stream_options", opts);
    }
    json_object_object_add(opts, "include_usage", json_object_new_boolean(1));
    *out = aop_json_to_string(p, root);
    *out_len = strlen(*out);
    return 0;
}

int aop_request_with_usage(apr_pool_t *p, const char *body, apr_size_t len,
                           const aop_request_info_t *info, const char **out,
                           apr_size_t *out_len)
{
    return info->has_stream_options ? set_member(p, body, len, out, out_len)
                                    : insert_member(p, body, len, out, out_len);
}
