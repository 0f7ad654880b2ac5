/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* POST /instances/verify/{name}: config, dns, connect (+ TLS), auth and one check per
 * deployment, each timed, without spending a token (see aop_verify.h).
 *
 * It takes no lock and touches no shared memory: it reads the configuration and talks
 * to the instance with its own sockets and libcurl handle, gone when the request is.
 * Every step is bounded by AOProxyConnectTimeout, so the whole takes at most about
 * that times (2 + models), plus the system resolver's own time for the dns check. */
#include <string.h>

#include <curl/curl.h>

#include <apr_network_io.h>
#include <apr_strings.h>

#include <http_protocol.h>

#include "aop_json.h"
#include "aop_verify.h"
#include "mod_aoproxy_token_fetch.h"
#include "mod_aoproxy_private.h"
#include "mod_aoproxy_api.h"
#include "mod_aoproxy_api_handlers.h"
#include "mod_aoproxy_api_verify.h"
#include "mod_aoproxy_config.h"
#include "mod_aoproxy_errors.h"

#define BODY_MAX (64 * 1024)             /* of an answer, kept to classify it */
#define USER_AGENT "mod_aoproxy (instance verification)"

/* ------------------------------------------------------------------ libcurl set-up */

static int curl_ready;

static apr_status_t curl_cleanup(void *unused)
{
    if (curl_ready) {
        curl_global_cleanup();
        curl_ready = 0;
    }
    return APR_SUCCESS;
}

void aop_api_verify_init(apr_pool_t *pconf, apr_pool_t *plog)
{
    CURLcode rc;

    if (curl_ready) {
        return;
    }
    if ((rc = curl_global_init(CURL_GLOBAL_DEFAULT)) != CURLE_OK) {
        ap_log_perror(APLOG_MARK, APLOG_ERR, 0, plog, AOPLOGNO(00072)
                      "libcurl could not be initialised (%s): POST /instances/verify "
                      "cannot probe instances", curl_easy_strerror(rc));
        return;
    }
    curl_ready = 1;
    apr_pool_cleanup_register(pconf, NULL, curl_cleanup, apr_pool_cleanup_null);
}

/* ------------------------------------------------------------------ the instance */

/* The live instance of that name (an instance added through the API too). */
static const aop_instance_t *find_instance(const aop_api_t *q, const char *name)
{
    int idx = name ? aop_view_find(q->view, name) : -1;

    return idx >= 0 ? APR_ARRAY_IDX(q->view->cfg->instances, idx, const aop_instance_t *)
                    : NULL;
}

/* ------------------------------------------------------------------ one verification */

typedef struct verify_ctx_t {
    aop_api_t *q;
    apr_pool_t *p;
    const aop_instance_t *inst;
    apr_interval_time_t timeout;
    aop_verify_t report;
    apr_sockaddr_t *addrs;           /* from the dns check */
    const char *bearer;              /* Entra ID: "Bearer TOKEN" from the token check */
} verify_ctx_t;

/* A check whose detail may hold text from elsewhere: never the key. */
static json_object *add(verify_ctx_t *v, const char *check, int ok, apr_time_t start,
                        const char *detail)
{
    return aop_verify_add(&v->report, check, ok, start ? apr_time_now() - start : 0,
                          aop_verify_mask(v->p, detail, v->inst->api_key));
}

static const char *errtext(apr_pool_t *p, apr_status_t rv)
{
    char buf[120];

    return apr_pstrdup(p, apr_strerror(rv, buf, sizeof(buf)));
}

static void check_config(verify_ctx_t *v, int *has_key, int *has_models)
{
    apr_time_t start = apr_time_now();
    const char *detail;
    int ok = aop_verify_config(v->p, v->inst, &detail, has_key, has_models);
    json_object *c = add(v, "config", ok, start, detail);

    json_object_object_add(c, "enabled", json_object_new_boolean(v->inst->enabled));
}

static int check_dns(verify_ctx_t *v)
{
    apr_time_t start = apr_time_now();
    json_object *list = json_object_new_array(), *c;
    apr_sockaddr_t *sa;
    apr_status_t rv;
    char *ip;

    rv = apr_sockaddr_info_get(&v->addrs, v->inst->host, APR_UNSPEC,
                               (apr_port_t)v->inst->port, 0, v->p);
    for (sa = rv == APR_SUCCESS ? v->addrs : NULL; sa; sa = sa->next) {
        if (apr_sockaddr_ip_get(&ip, sa) == APR_SUCCESS) {
            json_object_array_add(list, json_object_new_string(ip));
        }
    }
    if (rv != APR_SUCCESS || !v->addrs) {
        v->addrs = NULL;
        c = add(v, "dns", 0, start, apr_psprintf(v->p, "%s does not resolve: %s",
                                                  v->inst->host, errtext(v->p, rv)));
    }
    else {
        c = add(v, "dns", 1, start, apr_psprintf(v->p, "%s resolves to %d address%s",
                                                  v->inst->host,
                                                  (int)json_object_array_length(list),
                                                  json_object_array_length(list) == 1
                                                  ? "" : "es"));
    }
    json_object_object_add(c, "host", json_object_new_string(v->inst->host));
    json_object_object_add(c, "addresses", list);
    return v->addrs != NULL;
}

static const char *addr_text(apr_pool_t *p, apr_sockaddr_t *sa)
{
    char *ip = NULL;

    apr_sockaddr_ip_get(&ip, sa);
    return apr_psprintf(p, sa->family == APR_INET6 ? "[%s]:%d" : "%s:%d", ip ? ip : "?",
                        (int)sa->port);
}

/* TCP to each address in turn until one answers, all within one timeout. */
static const char *tcp_connect(verify_ctx_t *v, const char **failures)
{
    apr_time_t deadline = apr_time_now() + v->timeout;
    apr_sockaddr_t *sa;

    *failures = NULL;
    for (sa = v->addrs; sa; sa = sa->next) {
        apr_interval_time_t left = deadline - apr_time_now();
        apr_socket_t *sock;
        apr_status_t rv;
        const char *why;

        if (left <= 0) {
            why = apr_psprintf(v->p, "%s: not tried, the timeout was spent",
                               addr_text(v->p, sa));
        }
        else if ((rv = apr_socket_create(&sock, sa->family, SOCK_STREAM, APR_PROTO_TCP,
                                         v->p)) != APR_SUCCESS) {
            why = apr_psprintf(v->p, "%s: %s", addr_text(v->p, sa), errtext(v->p, rv));
        }
        else {
            apr_socket_timeout_set(sock, left);
            rv = apr_socket_connect(sock, sa);
            apr_socket_close(sock);
            if (rv == APR_SUCCESS) {
                return addr_text(v->p, sa);
            }
            why = apr_psprintf(v->p, "%s: %s", addr_text(v->p, sa),
                               APR_STATUS_IS_TIMEUP(rv) || APR_STATUS_IS_ETIMEDOUT(rv)
                               ? apr_psprintf(v->p, "no connection within %d ms",
                                              (int)apr_time_as_msec(v->timeout))
                               : errtext(v->p, rv));
        }
        *failures = *failures ? apr_pstrcat(v->p, *failures, "; ", why, NULL) : why;
    }
    return NULL;
}

/* An easy handle freed with the request, whatever happens. */
static apr_status_t easy_cleanup(void *h)
{
    curl_easy_cleanup(h);
    return APR_SUCCESS;
}

static apr_status_t slist_cleanup(void *l)
{
    curl_slist_free_all(l);
    return APR_SUCCESS;
}

static CURL *easy_new(verify_ctx_t *v, char *errbuf)
{
    CURL *h = curl_ready ? curl_easy_init() : NULL;
    long ms = (long)apr_time_as_msec(v->timeout);

    if (!h) {
        return NULL;
    }
    apr_pool_cleanup_register(v->p, h, easy_cleanup, apr_pool_cleanup_null);
    errbuf[0] = '\0';
    /* As mod_proxy: straight to the instance, whatever http_proxy says. */
    aop_curl_defaults(h, errbuf, ms, USER_AGENT);
    return h;
}

static const char *curl_error(CURLcode rc, const char *errbuf)
{
    return *errbuf ? errbuf : curl_easy_strerror(rc);
}

/* The TLS handshake of an https instance, with the system's CAs. */
static int tls_handshake(verify_ctx_t *v, const char **detail)
{
    char errbuf[CURL_ERROR_SIZE];
    CURL *h = easy_new(v, errbuf);
    CURLcode rc;

    if (!h) {
        *detail = "libcurl is not available";
        return 0;
    }
    curl_easy_setopt(h, CURLOPT_URL, apr_pstrcat(v->p, v->inst->origin, "/", NULL));
    curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
    if ((rc = curl_easy_perform(h)) != CURLE_OK) {
        *detail = apr_psprintf(v->p, "TLS handshake failed: %s", curl_error(rc, errbuf));
        return 0;
    }
    *detail = "TLS handshake done, certificate verified";
    return 1;
}

static int check_connect(verify_ctx_t *v)
{
    apr_time_t start = apr_time_now();
    const char *failures, *to = tcp_connect(v, &failures), *tls = NULL;
    int https = v->inst->scheme && strcmp(v->inst->scheme, "https") == 0;
    int ok = to != NULL;
    json_object *c;

    if (ok && https) {
        ok = tls_handshake(v, &tls);
    }
    if (!to) {
        c = add(v, "connect", 0, start, apr_pstrcat(v->p, "no TCP connection: ", failures,
                                                     NULL));
    }
    else {
        c = add(v, "connect", ok, start, apr_psprintf(v->p, "TCP connection to %s%s%s", to,
                                                       tls ? "; " : "", tls ? tls : ""));
        json_object_object_add(c, "address", json_object_new_string(to));
    }
    json_object_object_add(c, "tls", json_object_new_boolean(https));
    return ok;
}

/* ------------------------------------------------------------------ the probes */

typedef struct probe_t {
    const char *model;
    const char *deployment;
    const char *op;
    int ran;
    int status;                      /* 0: no answer */
    apr_interval_time_t elapsed;
    aop_probe_t result;
} probe_t;

typedef struct sink_t {
    char *buf;
    apr_size_t len;
} sink_t;

static size_t on_body(char *data, size_t size, size_t n, void *baton)
{
    sink_t *s = baton;
    apr_size_t take = size * n;

    if (take > BODY_MAX - s->len) {
        take = BODY_MAX - s->len;
    }
    memcpy(s->buf + s->len, data, take);
    s->len += take;
    return size * n;
}

static void probe(verify_ctx_t *v, CURL *h, char *errbuf, sink_t *sink, probe_t *pr)
{
    apr_time_t start = apr_time_now();
    const char *body = aop_verify_probe_body(v->p, v->inst, pr->model);
    long status = 0;
    CURLcode rc;

    pr->ran = 1;
    sink->len = 0;
    errbuf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, aop_verify_probe_url(v->p, v->inst, pr->model));
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    rc = curl_easy_perform(h);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    }
    pr->status = (int)status;
    pr->elapsed = apr_time_now() - start;
    aop_verify_classify(v->p, pr->status, sink->buf, sink->len,
                        rc == CURLE_OPERATION_TIMEDOUT,
                        rc == CURLE_OK ? NULL : curl_error(rc, errbuf), &pr->result);
}

static CURL *probe_handle(verify_ctx_t *v, char *errbuf, sink_t *sink)
{
    CURL *h = easy_new(v, errbuf);
    struct curl_slist *hdrs = NULL;

    if (!h) {
        return NULL;
    }
    hdrs = curl_slist_append(hdrs, v->bearer
                                   ? apr_pstrcat(v->p, "Authorization: ", v->bearer, NULL)
                                   : apr_pstrcat(v->p, "api-key: ", v->inst->api_key, NULL));
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (!hdrs) {
        return NULL;
    }
    apr_pool_cleanup_register(v->p, hdrs, slist_cleanup, apr_pool_cleanup_null);
    sink->buf = apr_palloc(v->p, BODY_MAX);
    sink->len = 0;
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, AOP_VERIFY_BODY);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(AOP_VERIFY_BODY));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, sink);
    return h;
}

static void add_deployment(verify_ctx_t *v, const probe_t *pr, const char *skipped)
{
    json_object *c;

    if (skipped) {
        c = aop_verify_skip(&v->report, "deployment", skipped);
    }
    else {
        c = aop_verify_add(&v->report, "deployment", pr->result.ok, pr->elapsed,
                           aop_verify_mask(v->p, pr->result.detail, v->inst->api_key));
    }
    json_object_object_add(c, "model", json_object_new_string(pr->model));
    json_object_object_add(c, "deployment", pr->deployment
                           ? json_object_new_string(pr->deployment) : NULL);
    json_object_object_add(c, "operation", json_object_new_string(pr->op));
    json_object_object_add(c, "status", pr->ran && pr->status
                           ? json_object_new_int(pr->status) : NULL);
}

/* auth and one deployment check per model; why_not: the reason they cannot run. */
static apr_int64_t check_deployments(verify_ctx_t *v, const char *why_not)
{
    const apr_array_header_t *models = v->inst->supported_models;
    int n = models ? models->nelts : 0, i, decided = -1, refused = 0;
    probe_t *probes = apr_pcalloc(v->p, sizeof(probe_t) * (size_t)(n ? n : 1));
    char errbuf[CURL_ERROR_SIZE];
    apr_int64_t tokens = 0;
    sink_t sink;
    CURL *h = NULL;
    json_object *c;

    for (i = 0; i < n; i++) {
        probes[i].model = APR_ARRAY_IDX(models, i, const char *);
        probes[i].deployment = aop_instance_deployment(v->inst, probes[i].model);
        probes[i].op = aop_verify_op(probes[i].model);
    }
    if (!why_not && !(h = probe_handle(v, errbuf, &sink))) {
        why_not = "skipped: libcurl is not available";
    }
    for (i = 0; !why_not && i < n; i++) {
        if (!probes[i].deployment || refused) {
            continue;
        }
        probe(v, h, errbuf, &sink, &probes[i]);
        tokens += probes[i].result.tokens;
        if (decided < 0 && probes[i].result.key >= 0) {
            decided = i;
        }
        refused = probes[i].result.key == 0;
    }

    if (why_not) {
        aop_verify_skip(&v->report, "auth", why_not);
    }
    else if (decided >= 0) {
        const probe_t *pr = &probes[decided];

        c = aop_verify_add(&v->report, "auth", pr->result.key == 1, pr->elapsed,
                           pr->result.key == 1
                           ? apr_psprintf(v->p, "the %s was accepted (the probe of "
                                          "deployment %s answered %d)",
                                          v->bearer ? "Entra ID token" : "api_key",
                                          pr->deployment, pr->status)
                           : aop_verify_mask(v->p, pr->result.detail, v->inst->api_key));
        json_object_object_add(c, "status", json_object_new_int(pr->status));
        json_object_object_add(c, "deployment", json_object_new_string(pr->deployment));
    }
    else {
        const probe_t *first = NULL;

        for (i = 0; i < n && !first; i++) {
            first = probes[i].ran ? &probes[i] : NULL;
        }
        c = aop_verify_add(&v->report, "auth", 0, first ? first->elapsed : 0,
                           first ? aop_verify_mask(v->p, apr_pstrcat(
                                       v->p, "undetermined: no probe had an answer that "
                                       "tells (first: ", first->result.detail, ")", NULL),
                                   v->inst->api_key)
                           : "undetermined: no deployment to probe");
        json_object_object_add(c, "status", first && first->status
                               ? json_object_new_int(first->status) : NULL);
    }
    for (i = 0; i < n; i++) {
        add_deployment(v, &probes[i], why_not ? why_not
                       : !probes[i].deployment ? "skipped: no deployment configured"
                       : !probes[i].ran ? "skipped: Azure refused the api_key" : NULL);
    }
    return tokens;
}

/* Entra ID instances: a token of their own from the token endpoint (not the shared
 * one the task keeps: this checks the credential as it is now). */
static int check_token(verify_ctx_t *v)
{
    apr_time_t start = apr_time_now();
    aop_token_answer_t ans;
    const char *endpoint = NULL;
    json_object *c;

    if (aop_token_obtain(v->p, v->inst, v->timeout, &ans, &endpoint, start) == APR_SUCCESS) {
        v->bearer = apr_pstrcat(v->p, "Bearer ", ans.access_token, NULL);
        c = add(v, "token", 1, start, apr_psprintf(v->p, "a token for %s was obtained "
                                                   "from %s (valid %" APR_TIME_T_FMT " s)",
                                                   AOP_TOKEN_SCOPE, endpoint,
                                                   apr_time_sec(ans.expires_at - start)));
    }
    else {
        c = add(v, "token", 0, start, ans.error);
    }
    json_object_object_add(c, "auth_type", json_object_new_string(v->inst->auth_type));
    json_object_object_add(c, "endpoint", endpoint ? json_object_new_string(endpoint) : NULL);
    json_object_object_add(c, "aad_code", ans.aad_code
                           ? json_object_new_string(apr_psprintf(v->p, "AADSTS%d",
                                                                 ans.aad_code)) : NULL);
    return v->bearer != NULL;
}

/* The failed checks, for the log: "dns, deployment gpt-4o (404 ...)". */
static const char *failed_checks(verify_ctx_t *v)
{
    const char *out = NULL;
    size_t i, n = json_object_array_length(v->report.checks);

    for (i = 0; i < n; i++) {
        json_object *c = json_object_array_get_idx(v->report.checks, i), *f;
        const char *name, *one;

        if (json_object_object_get_ex(c, "ok", &f) && json_object_get_boolean(f)) {
            continue;
        }
        if (json_object_object_get_ex(c, "skipped", &f)) {
            continue;
        }
        json_object_object_get_ex(c, "check", &f);
        name = json_object_get_string(f);
        if (json_object_object_get_ex(c, "model", &f)) {
            name = apr_pstrcat(v->p, name, " ", json_object_get_string(f), NULL);
        }
        one = json_object_object_get_ex(c, "detail", &f)
            ? apr_psprintf(v->p, "%s (%s)", name, json_object_get_string(f)) : name;
        out = out ? apr_pstrcat(v->p, out, ", ", one, NULL) : one;
    }
    return out ? out : "none";
}

void aop_api_post_instance_verify(aop_api_t *q)
{
    verify_ctx_t v;
    json_object *root;
    int has_key, has_models;
    const char *why_not = NULL;
    apr_int64_t tokens;

    memset(&v, 0, sizeof(v));
    v.q = q;
    v.p = q->r->pool;
    if (!(v.inst = find_instance(q, q->arg))) {
        aop_send_error(q->r, HTTP_NOT_FOUND, apr_psprintf(q->r->pool, "No instance named "
                                                          "`%s`.", q->arg),
                       "name", "instance_not_found");
        return;
    }
    v.timeout = q->sc->connect_timeout.value > 0 ? q->sc->connect_timeout.value
                                                 : AOP_DEFAULT_CONNECT_TIMEOUT;
    root = aop_json_own(v.p, json_object_new_object());
    v.report.checks = json_object_new_array();
    v.report.ok = 1;

    check_config(&v, &has_key, &has_models);
    if (!check_dns(&v)) {
        aop_verify_skip(&v.report, "connect", "skipped: the host does not resolve");
        why_not = "skipped: the host does not resolve";
    }
    else if (!check_connect(&v)) {
        why_not = "skipped: no connection to the instance";
    }
    else if (!has_key) {
        why_not = aop_auth_of(v.inst) == AOP_AUTH_API_KEY
                  ? "skipped: no api_key is configured"
                  : "skipped: the Entra ID credential is incomplete";
    }
    else if (aop_auth_of(v.inst) != AOP_AUTH_API_KEY && !check_token(&v)) {
        why_not = "skipped: no Entra ID token";
    }
    else if (!has_models) {
        why_not = "skipped: no model is configured";
    }
    tokens = check_deployments(&v, why_not);

    json_object_object_add(root, "instance", json_object_new_string(v.inst->name));
    json_object_object_add(root, "ok", json_object_new_boolean(v.report.ok));
    json_object_object_add(root, "tokens_spent", json_object_new_int64(tokens));
    json_object_object_add(root, "timeout_ms",
                           json_object_new_int64(apr_time_as_msec(v.timeout)));
    json_object_object_add(root, "checks", v.report.checks);
    if (v.report.ok) {
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, q->r, AOPLOGNO(00070)
                      "instance %s verified through the admin API: every check passed",
                      v.inst->name);
    }
    else {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, q->r, AOPLOGNO(00071)
                      "instance %s verified through the admin API: failed: %s",
                      v.inst->name, aop_verify_mask(v.p, failed_checks(&v), v.inst->api_key));
    }
    aop_api_send(q, root);
}
