/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Entra ID tokens: credentials, requests, answers, timing (aop_token.h). */
#include <stdlib.h>
#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "aop_config.h"
#include "aop_json.h"
#include "aop_token.h"
#include "aop_url.h"

#define ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#define ERROR_MAX 300

/* --------------------------------------------------------------------------
 * the credential
 */
static const char *const auth_names[] = {
    "api_key", "entra", "managed_identity", "workload_identity"
};

int aop_auth_parse(const char *s, aop_auth_e *out)
{
    int i;

    for (i = 0; s && i < (int)(sizeof(auth_names) / sizeof(auth_names[0])); i++) {
        if (!strcmp(s, auth_names[i])) {
            *out = (aop_auth_e)i;
            return 1;
        }
    }
    return 0;
}

const char *aop_auth_name(aop_auth_e type)
{
    return auth_names[type];
}

aop_auth_e aop_auth_of(const aop_instance_t *inst)
{
    aop_auth_e type = AOP_AUTH_API_KEY;

    return inst && aop_auth_parse(inst->auth_type, &type) ? type : AOP_AUTH_API_KEY;
}

static int has(const char *s)
{
    return s && *s;
}

const char *aop_token_authority_problem(const char *url)
{
    const char *host;

    if (!strncmp(url, "https://", 8)) {
        host = url + 8;
    }
    else if (!strncmp(url, "http://", 7)) {
        host = url + 7;
    }
    else {
        return "must start with https:// (or http:// for a local endpoint)";
    }
    if (!*host || *host == '/' || strpbrk(url, "?#@ \t\r\n")) {
        return "must be an origin such as https://login.microsoftonline.com "
               "(a host, no query, fragment or credentials)";
    }
    return NULL;
}

const char *aop_auth_missing(const aop_instance_t *inst)
{
    if (aop_auth_of(inst) != AOP_AUTH_ENTRA) {
        return NULL;
    }
    if (!has(inst->tenant_id)) {
        return "auth.tenant_id";
    }
    if (!has(inst->client_id)) {
        return "auth.client_id";
    }
    return has(inst->client_secret) || has(inst->client_certificate_file)
           ? NULL : "auth.client_secret";
}

/* --------------------------------------------------------------------------
 * the request
 */
static const char *trim_slash(apr_pool_t *p, const char *url)
{
    apr_size_t n = strlen(url);

    while (n > 0 && url[n - 1] == '/') {
        n--;
    }
    return apr_pstrmemdup(p, url, n);
}

static const char *pick(const char *mine, const char *env)
{
    return has(mine) ? mine : (has(env) ? env : NULL);
}

const char *aop_token_assertion_file(const aop_instance_t *inst, const aop_token_env_t *env)
{
    if (aop_auth_of(inst) != AOP_AUTH_WORKLOAD_IDENTITY) {
        return NULL;
    }
    return pick(inst->federated_token_file, env->federated_token_file);
}

const char *aop_token_entra_endpoint(apr_pool_t *p, const aop_instance_t *inst,
                                     const aop_token_env_t *env, const char **why)
{
    const char *tenant = pick(inst->tenant_id, env->tenant_id);
    const char *authority = pick(inst->authority_host, env->authority_host);

    if (!tenant) {
        *why = "auth.tenant_id is not set";
        return NULL;
    }
    if (!aop_config_safe_name(tenant, 1)) {
        *why = "auth.tenant_id must be [A-Za-z0-9._-]+ (a GUID or a domain name)";
        return NULL;
    }
    return apr_pstrcat(p, trim_slash(p, authority ? authority : AOP_AUTHORITY_DEFAULT),
                       "/", tenant, "/oauth2/v2.0/token", NULL);
}

const char *aop_token_certificate_file(const aop_instance_t *inst)
{
    return aop_auth_of(inst) == AOP_AUTH_ENTRA && has(inst->client_certificate_file)
           ? inst->client_certificate_file : NULL;
}

/* Entra's v2 endpoint, client credentials: the secret or the assertion in the form. */
static const char *client_credentials(apr_pool_t *p, const aop_instance_t *inst,
                                      const aop_token_env_t *env, const char *assertion,
                                      aop_token_req_t *req)
{
    const char *client = pick(inst->client_id, env->client_id);
    const char *endpoint, *why = NULL, *form;

    if ((endpoint = aop_token_entra_endpoint(p, inst, env, &why)) == NULL) {
        return why;
    }
    if (!client) {
        return "auth.client_id is not set";
    }
    form = apr_pstrcat(p, "grant_type=client_credentials&client_id=",
                       aop_url_escape(p, client),
                       "&scope=", aop_url_escape(p, AOP_TOKEN_SCOPE), NULL);
    if (assertion) {
        form = apr_pstrcat(p, form, "&client_assertion_type=",
                           aop_url_escape(p, ASSERTION_TYPE), "&client_assertion=",
                           aop_url_escape(p, assertion), NULL);
    }
    else if (has(inst->client_secret)) {
        form = apr_pstrcat(p, form, "&client_secret=",
                           aop_url_escape(p, inst->client_secret), NULL);
    }
    else {
        return "auth.client_secret is not set";
    }
    req->method = "POST";
    req->endpoint = endpoint;
    req->url = req->endpoint;
    req->form = form;
    req->header = NULL;
    return NULL;
}

/* IMDS, unless App Service / Container Apps gave an identity endpoint and the
 * instance names no host of its own. */
static const char *managed_identity(apr_pool_t *p, const aop_instance_t *inst,
                                    const aop_token_env_t *env, aop_token_req_t *req)
{
    const char *query = apr_pstrcat(p, "resource=", aop_url_escape(p, AOP_TOKEN_RESOURCE),
                                    has(inst->client_id) ? "&client_id=" : "",
                                    has(inst->client_id)
                                        ? aop_url_escape(p, inst->client_id) : "",
                                    NULL);

    req->method = "GET";
    req->form = NULL;
    if (!has(inst->authority_host) && has(env->identity_endpoint)
        && has(env->identity_header)) {
        req->endpoint = env->identity_endpoint;
        req->header = apr_pstrcat(p, "X-IDENTITY-HEADER: ", env->identity_header, NULL);
        req->url = apr_pstrcat(p, env->identity_endpoint,
                               strchr(env->identity_endpoint, '?') ? "&" : "?",
                               "api-version=2019-08-01&", query, NULL);
        return NULL;
    }
    req->endpoint = apr_pstrcat(p, trim_slash(p, has(inst->authority_host)
                                                 ? inst->authority_host : AOP_IMDS_DEFAULT),
                                "/metadata/identity/oauth2/token", NULL);
    req->header = "Metadata: true";
    req->url = apr_pstrcat(p, req->endpoint, "?api-version=2018-02-01&", query, NULL);
    return NULL;
}

const char *aop_token_request(apr_pool_t *p, const aop_instance_t *inst,
                              const aop_token_env_t *env, const char *assertion,
                              aop_token_req_t *req)
{
    memset(req, 0, sizeof(*req));
    switch (aop_auth_of(inst)) {
    case AOP_AUTH_ENTRA:
        if (aop_token_certificate_file(inst) && !has(assertion)) {
            return "no client assertion signed with auth.client_certificate_file";
        }
        return client_credentials(p, inst, env, assertion, req);
    case AOP_AUTH_WORKLOAD_IDENTITY:
        if (!has(assertion)) {
            return "no federated token (auth.federated_token_file or "
                   "$AZURE_FEDERATED_TOKEN_FILE)";
        }
        return client_credentials(p, inst, env, assertion, req);
    case AOP_AUTH_MANAGED_IDENTITY:
        return managed_identity(p, inst, env, req);
    case AOP_AUTH_API_KEY:
        break;
    }
    return "the instance uses an api key";
}

/* --------------------------------------------------------------------------
 * a certificate's client assertion (the signature is the glue's: OpenSSL)
 */
const char *aop_token_b64url(apr_pool_t *p, const unsigned char *data, apr_size_t len)
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out = apr_palloc(p, len / 3 * 4 + 5), *o = out;
    apr_size_t i;

    for (i = 0; i + 2 < len; i += 3) {
        *o++ = abc[data[i] >> 2];
        *o++ = abc[((data[i] & 3) << 4) | (data[i + 1] >> 4)];
        *o++ = abc[((data[i + 1] & 15) << 2) | (data[i + 2] >> 6)];
        *o++ = abc[data[i + 2] & 63];
    }
    if (len - i == 1) {
        *o++ = abc[data[i] >> 2];
        *o++ = abc[(data[i] & 3) << 4];
    }
    else if (len - i == 2) {
        *o++ = abc[data[i] >> 2];
        *o++ = abc[((data[i] & 3) << 4) | (data[i + 1] >> 4)];
        *o++ = abc[(data[i + 1] & 15) << 2];
    }
    *o = '\0';
    return out;
}

static const char *b64url_json(apr_pool_t *p, json_object *o)
{
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN
                                                         | JSON_C_TO_STRING_NOSLASHESCAPE);
    const char *out = aop_token_b64url(p, (const unsigned char *)text, strlen(text));

    json_object_put(o);
    return out;
}

const char *aop_token_jwt_unsigned(apr_pool_t *p, const char *client_id,
                                   const char *audience, const char *x5t, apr_time_t now,
                                   const char *jti)
{
    json_object *h = json_object_new_object(), *c = json_object_new_object();
    apr_int64_t t = apr_time_sec(now);
    const char *header;

    json_object_object_add(h, "alg", json_object_new_string("RS256"));
    json_object_object_add(h, "typ", json_object_new_string("JWT"));
    json_object_object_add(h, "x5t", json_object_new_string(x5t));
    header = b64url_json(p, h);
    json_object_object_add(c, "aud", json_object_new_string(audience));
    json_object_object_add(c, "iss", json_object_new_string(client_id));
    json_object_object_add(c, "sub", json_object_new_string(client_id));
    json_object_object_add(c, "jti", json_object_new_string(jti));
    json_object_object_add(c, "nbf", json_object_new_int64(t));
    json_object_object_add(c, "iat", json_object_new_int64(t));
    json_object_object_add(c, "exp", json_object_new_int64(t + 600));
    return apr_pstrcat(p, header, ".", b64url_json(p, c), NULL);
}

/* --------------------------------------------------------------------------
 * the answer
 */

/* At most max bytes of s, up to its first line end, non-printable bytes as '?':
 * AAD's descriptions go on with "\r\nTrace ID: ...". */
static const char *printable(apr_pool_t *p, const char *s, apr_size_t max)
{
    apr_size_t n = 0;
    char *out;

    while (s[n] && s[n] != '\r' && s[n] != '\n' && n < max) {
        n++;
    }
    out = apr_pstrmemdup(p, s, n);
    for (s = out; *s; s++) {
        if (!apr_isprint(*s)) {
            *(char *)s = '?';
        }
    }
    return out;
}

static const char *string_member(json_object *o, const char *key)
{
    json_object *v;

    if (!o || !json_object_object_get_ex(o, key, &v)
        || !json_object_is_type(v, json_type_string)) {
        return NULL;
    }
    return json_object_get_string(v);
}

/* An integer given as a JSON number or as a string of digits (IMDS sends strings);
 * -1 when absent or not one. */
static apr_int64_t number_member(json_object *o, const char *key)
{
    json_object *v;
    const char *s;
    apr_int64_t n = 0;

    if (!json_object_object_get_ex(o, key, &v)) {
        return -1;
    }
    if (json_object_is_type(v, json_type_int)) {
        n = json_object_get_int64(v);
        return n >= 0 ? n : -1;
    }
    if (!json_object_is_type(v, json_type_string)) {
        return -1;
    }
    s = json_object_get_string(v);
    if (!*s || strlen(s) > 12) {
        return -1;
    }
    for (; *s; s++) {
        if (!apr_isdigit(*s)) {
            return -1;
        }
        n = n * 10 + (*s - '0');
    }
    return n;
}

/* AAD's error number: error_codes[0], else the digits after "AADSTS" in the text. */
static int aad_code_of(json_object *o, const char *description)
{
    json_object *codes, *first;
    const char *at = description ? strstr(description, "AADSTS") : NULL;
    long n = 0;

    if (o && json_object_object_get_ex(o, "error_codes", &codes)
        && json_object_is_type(codes, json_type_array) && json_object_array_length(codes)
        && (first = json_object_array_get_idx(codes, 0)) != NULL
        && json_object_is_type(first, json_type_int)) {
        n = (long)json_object_get_int64(first);
    }
    else if (at && apr_isdigit(at[6])) {
        n = strtol(at + 6, NULL, 10);
    }
    return n > 0 && n < 100000000 ? (int)n : 0;
}

static apr_status_t failed(apr_pool_t *p, aop_token_answer_t *out, int status,
                           json_object *o, const char *what)
{
    const char *error = string_member(o, "error");
    const char *description = string_member(o, "error_description");

    if (!description) {
        description = string_member(o, "message");      /* App Service's 401 */
    }
    out->aad_code = aad_code_of(o, description);
    if (error || description) {
        what = apr_pstrcat(p, error ? error : "", error && description ? ": " : "",
                           description ? description : "", NULL);
    }
    out->error = apr_psprintf(p, "HTTP %d: %s", status, printable(p, what, ERROR_MAX));
    return APR_EGENERAL;
}

/* The expiry: expires_in (seconds from now), else expires_on (a Unix time), cut to
 * AOP_TOKEN_MAX_LIFE; 0 when neither is usable. */
static apr_time_t expiry(json_object *o, apr_time_t now)
{
    apr_int64_t in = number_member(o, "expires_in"), on = number_member(o, "expires_on");
    apr_time_t at = 0;

    if (in > 0) {
        at = now + apr_time_from_sec(in > 2 * 86400 ? 2 * 86400 : in);
    }
    else if (on > 0 && on < APR_INT64_C(1) << 40) {
        at = apr_time_from_sec(on);
    }
    if (at > now + AOP_TOKEN_MAX_LIFE) {
        at = now + AOP_TOKEN_MAX_LIFE;
    }
    return at > now ? at : 0;
}

static int token_ok(const char *t)
{
    apr_size_t n = 0;

    for (; t && t[n]; n++) {
        if (!apr_isgraph(t[n])) {
            return 0;
        }
    }
    return n > 0 && n < AOP_TOKEN_MAX;
}

apr_status_t aop_token_parse(apr_pool_t *p, int status, const char *body, apr_size_t len,
                             const char *transport_error, apr_time_t now,
                             aop_token_answer_t *out)
{
    json_object *o = NULL;
    const char *err = NULL, *token;

    memset(out, 0, sizeof(*out));
    if (status == 0) {
        out->error = apr_pstrcat(p, "no answer: ", printable(p, transport_error
                                                             ? transport_error : "unknown",
                                                             ERROR_MAX), NULL);
        return APR_EGENERAL;
    }
    if (body && len) {
        o = aop_json_parse(p, body, len, &err);
    }
    if (o && !json_object_is_type(o, json_type_object)) {
        o = NULL;
    }
    if (status != 200) {
        return failed(p, out, status, o, o ? "an error without a description"
                                           : "not a JSON answer");
    }
    if (!o) {
        return failed(p, out, status, NULL, "the answer is not a JSON object");
    }
    token = string_member(o, "access_token");
    if (!token_ok(token)) {
        return failed(p, out, status, NULL, "no usable access_token in the answer");
    }
    if (!(out->expires_at = expiry(o, now))) {
        return failed(p, out, status, NULL, "no usable expires_in or expires_on");
    }
    out->access_token = apr_pstrdup(p, token);
    return APR_SUCCESS;
}

/* --------------------------------------------------------------------------
 * timing
 */
apr_time_t aop_token_refresh_at(apr_time_t fetched, apr_time_t expires_at)
{
    apr_time_t life = expires_at - fetched;
    apr_time_t at = fetched + life / 3 * 2;

    if (expires_at - AOP_TOKEN_RENEW_MARGIN < at) {
        at = expires_at - AOP_TOKEN_RENEW_MARGIN;
    }
    return at < fetched + AOP_TOKEN_MIN_RENEW ? fetched + AOP_TOKEN_MIN_RENEW : at;
}

/* A refusal long after the fetch is a token gone stale (revoked, a role changed): a
 * new streak.  One soon after is Azure refusing what Entra just gave. */
unsigned aop_token_refused_streak(apr_time_t fetched, apr_time_t refused_at, unsigned streak)
{
    return refused_at - fetched >= AOP_TOKEN_REFUSED_CALM ? 0 : streak;
}

apr_time_t aop_token_refused_renew_at(apr_time_t fetched, apr_time_t refused_at,
                                      unsigned streak)
{
    if (refused_at <= fetched) {
        return 0;
    }
    streak = aop_token_refused_streak(fetched, refused_at, streak);
    /* at once for a first refusal (refused_at > 0 here, so the answer is too) */
    return streak ? fetched + aop_token_backoff(streak) : refused_at;
}

apr_interval_time_t aop_token_backoff(unsigned n)
{
    apr_interval_time_t d = apr_time_from_sec(1);

    while (n-- > 1 && d < AOP_TOKEN_MAX_BACKOFF) {
        d *= 2;
    }
    return d < AOP_TOKEN_MAX_BACKOFF ? d : AOP_TOKEN_MAX_BACKOFF;
}

/* FNV-1a over each part and a separator, so that ("ab","c") differs from ("a","bc"). */
static apr_uint64_t mix(apr_uint64_t h, const char *s)
{
    for (; s && *s; s++) {
        h = (h ^ (unsigned char)*s) * APR_UINT64_C(1099511628211);
    }
    return (h ^ 0xff) * APR_UINT64_C(1099511628211);
}

apr_uint64_t aop_token_fingerprint(const aop_instance_t *inst, const aop_token_env_t *env)
{
    apr_uint64_t h = APR_UINT64_C(14695981039346656037);
    aop_auth_e type = aop_auth_of(inst);

    h = mix(h, aop_auth_name(type));
    h = mix(h, pick(inst->tenant_id, type == AOP_AUTH_WORKLOAD_IDENTITY ? env->tenant_id : NULL));
    h = mix(h, pick(inst->client_id, type == AOP_AUTH_WORKLOAD_IDENTITY ? env->client_id : NULL));
    h = mix(h, type == AOP_AUTH_ENTRA ? inst->client_secret : NULL);
    h = mix(h, inst->authority_host);
    h = mix(h, aop_token_assertion_file(inst, env));
    h = mix(h, aop_token_certificate_file(inst));
    if (type == AOP_AUTH_MANAGED_IDENTITY && !has(inst->authority_host)) {
        h = mix(h, env->identity_endpoint);
    }
    /* 0 marks a free slot of the table, all ones a freed one */
    return h && h != ~APR_UINT64_C(0) ? h : 1;
}
