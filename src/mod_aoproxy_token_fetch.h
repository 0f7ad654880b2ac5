/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* One token fetch, with libcurl: the request aop_token_request() describes, sent
 * with a timeout, its answer read by aop_token_parse().  Its parts are used by the
 * token task's fetches in parallel (mod_aoproxy_token_multi.c), the whole by POST
 * /instances/verify; never on the request path.
 * Nothing here logs: the caller does, without the secret. */
#ifndef MOD_AOPROXY_TOKEN_FETCH_H
#define MOD_AOPROXY_TOKEN_FETCH_H

#include <curl/curl.h>
#include <httpd.h>

#include "aop_token.h"

/* How long one fetch may take, connecting included. */
#define AOP_TOKEN_FETCH_TIMEOUT apr_time_from_sec(10)

/* The process environment's part of a credential (App Service's identity endpoint,
 * the federated token file...): read once by aop_token_env_init() (post_config, so
 * the children inherit it), since getenv() is no thing for the request path. */
void aop_token_env_init(void);
void aop_token_env_get(aop_token_env_t *env);

/* The options every libcurl handle of the module takes (token fetches here, the
 * instance verification of mod_aoproxy_api_verify.c): errors into errbuf (of
 * CURL_ERROR_SIZE), no signals (threads), the timeout for connecting and for the
 * whole exchange, never through an http_proxy (as mod_proxy: straight to the
 * instance or the token endpoint), http and https only, and the user agent. */
void aop_curl_defaults(CURL *h, char *errbuf, long timeout_ms, const char *agent);

/* Where an answer goes (at most 64 KiB are kept). */
typedef struct {
    char *buf;
    apr_size_t len;
} aop_token_sink_t;

/* The request that fetches a token for inst, reading what it needs first (the
 * federated token file; the certificate, to sign the client assertion): APR_SUCCESS
 * and *req, else out->error.  Local files only, no network. */
apr_status_t aop_token_prepare(apr_pool_t *p, const aop_instance_t *inst,
                               aop_token_req_t *req, aop_token_answer_t *out);

/* A libcurl handle that sends req within timeout, its answer into sink, errors into
 * errbuf; *hdrs (to free with curl_slist_free_all once the handle is done) are its
 * headers.  NULL when libcurl has no handle to give. */
CURL *aop_token_handle(apr_pool_t *p, const aop_token_req_t *req, apr_interval_time_t timeout,
                       aop_token_sink_t *sink, char *errbuf, struct curl_slist **hdrs);

/* What the exchange of h (rc: how it ended) says: aop_token_parse() of its answer. */
apr_status_t aop_token_answer(apr_pool_t *p, CURL *h, CURLcode rc, const char *errbuf,
                              const aop_token_sink_t *sink, apr_time_t start,
                              aop_token_answer_t *out);

/* Obtains a token for inst within timeout: APR_SUCCESS and out->access_token, else
 * out->error (with out->aad_code when Entra gave one).  *endpoint (may be NULL) is
 * where the request went, without query or secret.  start is when the fetch began:
 * the token's lifetime counts from then, so its expiry is never guessed late. */
apr_status_t aop_token_obtain(apr_pool_t *p, const aop_instance_t *inst,
                              apr_interval_time_t timeout, aop_token_answer_t *out,
                              const char **endpoint, apr_time_t start);

#endif
