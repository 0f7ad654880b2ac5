/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <string.h>

#include <apr_strings.h>

#include "aop_json.h"
#include "aop_route.h"
#include "aop_token.h"
#include "aop_verify.h"

#define MESSAGE_MAX 200

static int contains_nocase(const char *s, const char *word)
{
    size_t n = strlen(word);

    for (; s && *s; s++) {
        if (strncasecmp(s, word, n) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The operation a probe of model uses: embeddings for an embedding model, else chat. */
static aop_op_e probe_op(const char *model)
{
    return contains_nocase(model, "embedding") ? AOP_OP_EMBEDDINGS : AOP_OP_CHAT;
}

const char *aop_verify_op(const char *model)
{
    return aop_path_op_suffix(probe_op(model));
}

/* The very URL the proxy would send the model's requests to. */
const char *aop_verify_probe_url(apr_pool_t *p, const aop_instance_t *inst,
                                 const char *model)
{
    const char *dep = aop_instance_deployment(inst, model);

    if (!dep || !*dep || !inst->origin) {
        return NULL;
    }
    return aop_route_backend_url(p, "", inst, dep, probe_op(model), NULL, NULL);
}

const char *aop_verify_probe_body(apr_pool_t *p, const aop_instance_t *inst,
                                  const char *model)
{
    const char *dep = aop_instance_deployment(inst, model);

    if (!aop_route_is_v1(inst) || !dep) {
        return AOP_VERIFY_BODY;
    }
    /* Deployment names are [A-Za-z0-9._-]: nothing to escape. */
    return apr_pstrcat(p, "{\"model\":\"", dep, "\"}", NULL);
}

int aop_verify_config(apr_pool_t *p, const aop_instance_t *inst, const char **detail,
                      int *has_key, int *has_models)
{
    int models = inst->supported_models ? inst->supported_models->nelts : 0;
    const char *missing = NULL, *text, *credential;
    int i;

    /* an Entra ID credential is complete here; the token check says if it works */
    if (aop_auth_of(inst) != AOP_AUTH_API_KEY) {
        *has_key = aop_auth_missing(inst) == NULL;
        credential = apr_psprintf(p, "auth.type %s%s", inst->auth_type,
                                  *has_key ? "" : apr_pstrcat(p, " without ",
                                                              aop_auth_missing(inst), NULL));
    }
    else {
        *has_key = inst->api_key && *inst->api_key;
        credential = *has_key ? "api_key set" : "no api_key";
    }
    *has_models = models > 0;
    for (i = 0; i < models; i++) {
        const char *model = APR_ARRAY_IDX(inst->supported_models, i, const char *);

        if (!aop_instance_deployment(inst, model)) {
            missing = missing ? apr_pstrcat(p, missing, ", ", model, NULL) : model;
        }
    }
    text = apr_psprintf(p, "%s; %s; %d model%s", inst->enabled ? "enabled"
                        : "disabled (not used for requests; verified all the same)",
                        credential, models,
                        models == 1 ? "" : "s");
    if (!*has_models) {
        text = apr_pstrcat(p, text, " (at least one is needed)", NULL);
    }
    if (missing) {
        text = apr_pstrcat(p, text, "; no deployment for ", missing, NULL);
    }
    *detail = text;
    return *has_key && *has_models && !missing;
}

/* ------------------------------------------------------------------ answers */

static const char *string_of(json_object *o)
{
    if (!o || json_object_is_type(o, json_type_null)) {
        return NULL;
    }
    return json_object_get_string(o);
}

/* At most MESSAGE_MAX bytes, cut on a UTF-8 character boundary. */
static const char *shortened(apr_pool_t *p, const char *s)
{
    size_t n = strlen(s);

    if (n <= MESSAGE_MAX) {
        return apr_pstrdup(p, s);
    }
    n = MESSAGE_MAX;
    while (n && ((unsigned char)s[n] & 0xC0) == 0x80) {
        n--;
    }
    return apr_pstrcat(p, apr_pstrmemdup(p, s, n), "...", NULL);
}

static void read_body(apr_pool_t *p, const char *body, apr_size_t len, const char **code,
                      const char **message, apr_int64_t *tokens)
{
    const char *err;
    json_object *root, *e, *v;

    *code = *message = NULL;
    *tokens = 0;
    if (!body || !len || !(root = aop_json_parse(p, body, len, &err))
        || !json_object_is_type(root, json_type_object)) {
        return;
    }
    if (json_object_object_get_ex(root, "error", &e) && json_object_is_type(e, json_type_object)) {
        if (json_object_object_get_ex(e, "code", &v) && string_of(v)) {
            *code = apr_pstrdup(p, string_of(v));
        }
        if (json_object_object_get_ex(e, "message", &v) && string_of(v)) {
            *message = shortened(p, string_of(v));
        }
    }
    if (json_object_object_get_ex(root, "usage", &e) && json_object_is_type(e, json_type_object)
        && json_object_object_get_ex(e, "total_tokens", &v)
        && json_object_is_type(v, json_type_int)) {
        *tokens = json_object_get_int64(v);
    }
}

static int deployment_not_found(const char *code, const char *message)
{
    return (code && strcasecmp(code, "DeploymentNotFound") == 0)
        || (message && contains_nocase(message, "deployment for this resource does not exist"));
}

static void set(aop_probe_t *out, aop_probe_e kind, int ok, int key, const char *detail)
{
    out->kind = kind;
    out->ok = ok;
    out->key = key;
    out->detail = detail;
}

void aop_verify_classify(apr_pool_t *p, int status, const char *body, apr_size_t len,
                         int timed_out, const char *error, aop_probe_t *out)
{
    const char *code, *message, *azure;

    read_body(p, body, len, &code, &message, &out->tokens);
    out->code = code;
    azure = message ? apr_psprintf(p, ": %s", message) : "";
    if (status <= 0) {
        out->tokens = 0;
        set(out, timed_out ? AOP_PROBE_TIMEOUT : AOP_PROBE_FAILED, 0, -1,
            apr_psprintf(p, "%s%s%s", timed_out ? "no answer within the timeout"
                         : "no answer", error && *error ? ": " : "",
                         error && *error ? error : ""));
    }
    else if ((status == 404 || status == 400) && deployment_not_found(code, message)) {
        set(out, AOP_PROBE_MISSING, 0, 1,
            apr_psprintf(p, "%d DeploymentNotFound: no such deployment on this instance "
                         "(the key was accepted)", status));
    }
    else if (status >= 200 && status < 300) {
        set(out, AOP_PROBE_EXISTS, 1, 1,
            out->tokens ? apr_psprintf(p, "answered %d: the deployment exists (the "
                                       "answer counts %" APR_INT64_T_FMT " tokens)",
                                       status, out->tokens)
            : apr_psprintf(p, "answered %d: the deployment exists", status));
    }
    else if (status == 400) {
        set(out, AOP_PROBE_EXISTS, 1, 1,
            code && strcasecmp(code, "OperationNotSupported") == 0
            ? apr_psprintf(p, "exists, but Azure says it does not serve this operation%s",
                           azure)
            : "key accepted, deployment exists (the empty probe was refused with 400, "
              "as intended: no token spent)");
    }
    else if (status == 401 || status == 403) {
        set(out, AOP_PROBE_KEY_REFUSED, 0, 0,
            apr_psprintf(p, "%d: Azure refused the api_key%s", status, azure));
    }
    else if (status == 429) {
        set(out, AOP_PROBE_RATE_LIMITED, 1, 1, "rate limited: exists");
    }
    else if (status == 404) {
        set(out, AOP_PROBE_NOT_FOUND, 0, -1,
            apr_psprintf(p, "404 without DeploymentNotFound: check api_base and "
                         "api_version%s", azure));
    }
    else if (status == 408 || status >= 500) {
        set(out, AOP_PROBE_SERVER_ERROR, 0, -1,
            apr_psprintf(p, "the instance failed with %d%s", status, azure));
    }
    else {
        set(out, AOP_PROBE_UNEXPECTED, 0, -1,
            apr_psprintf(p, "unexpected status %d%s", status, azure));
    }
    if (out->kind != AOP_PROBE_EXISTS) {
        out->tokens = 0;
    }
}

const char *aop_verify_mask(apr_pool_t *p, const char *text, const char *secret)
{
    const char *hit, *from;
    char *out;
    size_t n;

    if (!text || !secret || !*secret || !(hit = strstr(text, secret))) {
        return text;
    }
    n = strlen(secret);
    out = "";
    for (from = text; hit; from = hit + n, hit = strstr(from, secret)) {
        out = apr_pstrcat(p, out, apr_pstrmemdup(p, from, (apr_size_t)(hit - from)), "***",
                          NULL);
    }
    return apr_pstrcat(p, out, from, NULL);
}

/* ------------------------------------------------------------------ the report */

json_object *aop_verify_add(aop_verify_t *v, const char *check, int ok,
                            apr_interval_time_t elapsed, const char *detail)
{
    json_object *c = json_object_new_object();
    double ms = elapsed > 0 ? (double)(elapsed / 100) / 10.0 : 0.0;
    char text[32];

    /* Milliseconds to a tenth, written as such (not 2.2999999999999998). */
    apr_snprintf(text, sizeof(text), "%.1f", ms);
    json_object_object_add(c, "check", json_object_new_string(check));
    json_object_object_add(c, "ok", json_object_new_boolean(ok));
    json_object_object_add(c, "ms", json_object_new_double_s(ms, text));
    if (detail) {
        json_object_object_add(c, "detail", json_object_new_string(detail));
    }
    json_object_array_add(v->checks, c);
    if (!ok) {
        v->ok = 0;
    }
    return c;
}

json_object *aop_verify_skip(aop_verify_t *v, const char *check, const char *why)
{
    json_object *c = aop_verify_add(v, check, 0, 0, why);

    json_object_object_add(c, "skipped", json_object_new_boolean(1));
    return c;
}
