/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <stdlib.h>
#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>
#include <curl/curl.h>

#include "aop_file.h"
#include "mod_aoproxy_private.h"
#include "mod_aoproxy_token_cert.h"
#include "mod_aoproxy_token_fetch.h"

/* A token endpoint's answer is a few KiB; anything longer is cut (and then fails to
 * parse). */
#define ANSWER_MAX (64 * 1024)
/* A federated token (a JWT) is a few KiB. */
#define ASSERTION_MAX (64 * 1024)

static aop_token_env_t env_cache;
static int env_cached;

void aop_token_env_init(void)
{
    aop_token_env_t *env = &env_cache;

    env->identity_endpoint = getenv("IDENTITY_ENDPOINT");
    env->identity_header = getenv("IDENTITY_HEADER");
    env->federated_token_file = getenv("AZURE_FEDERATED_TOKEN_FILE");
    env->tenant_id = getenv("AZURE_TENANT_ID");
    env->client_id = getenv("AZURE_CLIENT_ID");
    env->authority_host = getenv("AZURE_AUTHORITY_HOST");
    env_cached = 1;
}

void aop_token_env_get(aop_token_env_t *env)
{
    if (!env_cached) {
        aop_token_env_init();
    }
    *env = env_cache;
}

static size_t on_body(char *data, size_t size, size_t n, void *baton)
{
    aop_token_sink_t *s = baton;
    apr_size_t take = size * n;

    if (take > ANSWER_MAX - s->len) {
        take = ANSWER_MAX - s->len;
    }
    memcpy(s->buf + s->len, data, take);
    s->len += take;
    return size * n;
}

/* Workload identity's federated token, read at every fetch: Kubernetes rotates the
 * file.  NULL with *why when it cannot be read. */
static const char *read_assertion(apr_pool_t *p, const char *path, const char **why)
{
    const char *text;
    apr_size_t len;
    apr_status_t rv;
    char ebuf[128];

    if (aop_file_read(p, path, ASSERTION_MAX, &text, &len, &rv) != AOP_FILE_OK) {
        *why = apr_psprintf(p, "cannot read the federated token file %s: %s", path,
                            rv ? apr_strerror(rv, ebuf, sizeof(ebuf))
                               : "not a regular file of at most 64 KiB");
        return NULL;
    }
    while (len > 0 && apr_isspace(text[len - 1])) {
        len--;
    }
    if (!len) {
        *why = apr_psprintf(p, "the federated token file %s is empty", path);
        return NULL;
    }
    return apr_pstrmemdup(p, text, len);
}

/* A certificate's client assertion, signed for the instance's token endpoint. */
static const char *certificate_assertion(apr_pool_t *p, const aop_instance_t *inst,
                                         const aop_token_env_t *env, const char *file,
                                         const char **why)
{
    const char *audience = aop_token_entra_endpoint(p, inst, env, why);

    if (!audience) {
        return NULL;
    }
    if (!inst->client_id || !*inst->client_id) {
        *why = "auth.client_id is not set";
        return NULL;
    }
    return aop_token_cert_assertion(p, file, inst->client_id, audience, why);
}

void aop_curl_defaults(CURL *h, char *errbuf, long timeout_ms, const char *agent)
{
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_PROXY, "");
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(h, CURLOPT_USERAGENT, agent);
}

CURL *aop_token_handle(apr_pool_t *p, const aop_token_req_t *req, apr_interval_time_t timeout,
                       aop_token_sink_t *sink, char *errbuf, struct curl_slist **hdrs)
{
    CURL *h = curl_easy_init();

    *hdrs = NULL;
    sink->buf = apr_palloc(p, ANSWER_MAX);
    sink->len = 0;
    if (!h) {
        return NULL;
    }
    *hdrs = curl_slist_append(*hdrs, "Accept: application/json");
    *hdrs = curl_slist_append(*hdrs, "Expect:");
    if (req->header) {
        *hdrs = curl_slist_append(*hdrs, req->header);
    }
    curl_easy_setopt(h, CURLOPT_URL, req->url);
    /* IMDS and the identity endpoint are local: never through a proxy (defaults). */
    aop_curl_defaults(h, errbuf, (long)apr_time_as_msec(timeout), "mod_aoproxy");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, sink);
    if (req->form) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->form);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(req->form));
    }
    return h;
}

apr_status_t aop_token_answer(apr_pool_t *p, CURL *h, CURLcode rc, const char *errbuf,
                              const aop_token_sink_t *sink, apr_time_t start,
                              aop_token_answer_t *out)
{
    long status = 0;
    const char *error = NULL;

    if (rc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    }
    else {
        error = apr_pstrdup(p, *errbuf ? errbuf : curl_easy_strerror(rc));
    }
    return aop_token_parse(p, (int)status, sink->buf, sink->len, error, start, out);
}

apr_status_t aop_token_prepare(apr_pool_t *p, const aop_instance_t *inst,
                               aop_token_req_t *req, aop_token_answer_t *out)
{
    aop_token_env_t env;
    const char *file, *assertion = NULL, *why = NULL;

    memset(out, 0, sizeof(*out));
    memset(req, 0, sizeof(*req));
    aop_token_env_get(&env);
    if ((file = aop_token_assertion_file(inst, &env)) != NULL
        && (assertion = read_assertion(p, file, &why)) == NULL) {
        out->error = why;
        return APR_EGENERAL;
    }
    if ((file = aop_token_certificate_file(inst)) != NULL
        && (assertion = certificate_assertion(p, inst, &env, file, &why)) == NULL) {
        out->error = why;
        return APR_EGENERAL;
    }
    if ((why = aop_token_request(p, inst, &env, assertion, req)) != NULL) {
        out->error = why;
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

apr_status_t aop_token_obtain(apr_pool_t *p, const aop_instance_t *inst,
                              apr_interval_time_t timeout, aop_token_answer_t *out,
                              const char **endpoint, apr_time_t start)
{
    aop_token_req_t req;
    aop_token_sink_t sink;
    struct curl_slist *hdrs;
    char errbuf[CURL_ERROR_SIZE] = "";
    CURL *h;
    apr_status_t rv;

    if (aop_token_prepare(p, inst, &req, out) != APR_SUCCESS) {
        return APR_EGENERAL;
    }
    if (endpoint) {
        *endpoint = req.endpoint;
    }
    if ((h = aop_token_handle(p, &req, timeout, &sink, errbuf, &hdrs)) == NULL) {
        curl_slist_free_all(hdrs);
        out->error = "libcurl is not available";
        return APR_EGENERAL;
    }
    rv = aop_token_answer(p, h, curl_easy_perform(h), errbuf, &sink, start, out);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return rv;
}
