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
    if (json_object_object_get_ex(root, "stream_options", &opts)
        && json_object_is_type(opts, json_type_object)
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

static void estimate(aop_op_e op, apr_size_t len, aop_request_info_t *info)
{
    apr_int64_t out = 0;

    /* The body's size bounds the prompt from above well enough for a reservation;
     * the real count replaces it when the response's usage arrives. */
    info->prompt_estimate = (apr_int64_t)(len + AOP_CHARS_PER_TOKEN - 1) / AOP_CHARS_PER_TOKEN;
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
    estimate(op, len, info);
    return 0;
}
