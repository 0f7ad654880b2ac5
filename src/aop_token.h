/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Entra ID tokens for Azure OpenAI, the httpd-free part: which credential an instance
 * uses (its auth.* fields), the token request that credential makes, what the
 * token endpoint's answer says, and when a token is renewed or a failed fetch tried
 * again.
 *
 * The glue (src/mod_aoproxy_token*.c) sends the request with libcurl from a
 * mod_watchdog task, keeps the tokens in a shared-memory table keyed by
 * aop_token_fingerprint() (so instances with the same credential share one token
 * and one fetch), and the request path sends the token as "Authorization: Bearer". */
#ifndef AOP_TOKEN_H
#define AOP_TOKEN_H

#include <apr_pools.h>
#include <apr_time.h>

#include "aop_instance_schema.h"

/* What every token is for: Azure OpenAI (Cognitive Services). */
#define AOP_TOKEN_SCOPE "https://cognitiveservices.azure.com/.default"
#define AOP_TOKEN_RESOURCE "https://cognitiveservices.azure.com"
#define AOP_AUTHORITY_DEFAULT "https://login.microsoftonline.com"
#define AOP_IMDS_DEFAULT "http://169.254.169.254"

/* The longest access token kept (Entra's JWTs are 1-3 KB). */
#define AOP_TOKEN_MAX 8192

/* Renewal: at 2/3 of a token's life or this long before it expires, whichever is
 * earlier, and never sooner than AOP_TOKEN_MIN_RENEW after it was fetched. */
#define AOP_TOKEN_RENEW_MARGIN apr_time_from_sec(300)
#define AOP_TOKEN_MIN_RENEW apr_time_from_sec(1)
/* A failed fetch is tried again after 1 s, 2 s, 4 s ... at most this long. */
#define AOP_TOKEN_MAX_BACKOFF apr_time_from_sec(60)
/* Azure refused a token (401/403 to a Bearer request): the instance rests until a
 * token fetched after the refusal is in, at most AOP_TOKEN_REFUSED_REST; the task
 * fetches one at once, unless the refused token was itself fetched for a refusal
 * less than AOP_TOKEN_REFUSED_CALM before it was refused (Azure keeps refusing the
 * credential: then after aop_token_backoff() of the streak, so never a fetch per
 * request). */
#define AOP_TOKEN_REFUSED_REST apr_time_from_sec(30)
#define AOP_TOKEN_REFUSED_CALM apr_time_from_sec(60)
/* The longest life believed (an absurd expires_in is cut to it). */
#define AOP_TOKEN_MAX_LIFE apr_time_from_sec(2 * 86400)

typedef enum {
    AOP_AUTH_API_KEY = 0,         /* api-key header (the default) */
    AOP_AUTH_ENTRA,               /* service principal: client secret */
    AOP_AUTH_MANAGED_IDENTITY,    /* IMDS, or App Service's IDENTITY_ENDPOINT */
    AOP_AUTH_WORKLOAD_IDENTITY    /* federated token file sent as client_assertion */
} aop_auth_e;

/* 1 and *out when s names a type ("api_key", "entra", "managed_identity",
 * "workload_identity"), else 0. */
int aop_auth_parse(const char *s, aop_auth_e *out);
const char *aop_auth_name(aop_auth_e type);

/* The instance's type (api_key when auth.type is unset or unknown). */
aop_auth_e aop_auth_of(const aop_instance_t *inst);

/* NULL when url is usable as authority_host (http:// or https://, a host, no
 * query, fragment or credentials), else what is wrong ("must be ..."). */
const char *aop_token_authority_problem(const char *url);

/* The rule between an enabled instance's auth fields: NULL, or the key that is
 * missing (entra: auth.tenant_id, auth.client_id, auth.client_secret).  An api_key
 * instance is not judged here (its key has its own rule). */
const char *aop_auth_missing(const aop_instance_t *inst);

/* What the process environment adds, read by the glue (getenv); NULL when unset. */
typedef struct {
    const char *identity_endpoint;     /* $IDENTITY_ENDPOINT (App Service, Container Apps) */
    const char *identity_header;       /* $IDENTITY_HEADER: a secret */
    const char *federated_token_file;  /* $AZURE_FEDERATED_TOKEN_FILE */
    const char *tenant_id;             /* $AZURE_TENANT_ID */
    const char *client_id;             /* $AZURE_CLIENT_ID */
    const char *authority_host;        /* $AZURE_AUTHORITY_HOST */
} aop_token_env_t;

/* One HTTP request to a token endpoint. */
typedef struct {
    const char *method;          /* "POST" or "GET" */
    const char *url;
    const char *form;            /* POST: the form-encoded body (holds the secret) */
    const char *header;          /* one extra header line ("Metadata: true"), or NULL */
    const char *endpoint;        /* for messages: the URL without query (no secret) */
} aop_token_req_t;

/* Entra's v2 token endpoint of inst: {authority_host}/{tenant}/oauth2/v2.0/token, also
 * the audience of a certificate's client assertion; NULL and *why without a usable
 * tenant. */
const char *aop_token_entra_endpoint(apr_pool_t *p, const aop_instance_t *inst,
                                     const aop_token_env_t *env, const char **why);

/* The certificate file of an entra instance that authenticates with one (the
 * client assertion is then signed with its key), else NULL. */
const char *aop_token_certificate_file(const aop_instance_t *inst);

/* The part of a client-assertion JWT that is signed: base64url(header) "."
 * base64url(claims), for RS256 with the certificate's SHA-1 thumbprint x5t (already
 * base64url), issued at now for ten minutes, jti its unique id. */
const char *aop_token_jwt_unsigned(apr_pool_t *p, const char *client_id,
                                   const char *audience, const char *x5t, apr_time_t now,
                                   const char *jti);

/* data (len bytes) in base64url without padding (JWT's encoding). */
const char *aop_token_b64url(apr_pool_t *p, const unsigned char *data, apr_size_t len);

/* The federated token file workload identity reads (the instance's, else the
 * environment's), or NULL for other types or when neither is set. */
const char *aop_token_assertion_file(const aop_instance_t *inst, const aop_token_env_t *env);

/* The request that fetches a token for inst; assertion is the federated token read
 * from aop_token_assertion_file() (workload identity only).  NULL, or why no request
 * can be made (a missing tenant...); never a secret. */
const char *aop_token_request(apr_pool_t *p, const aop_instance_t *inst,
                              const aop_token_env_t *env, const char *assertion,
                              aop_token_req_t *req);

/* The answer of a token endpoint. */
typedef struct {
    const char *access_token;    /* NULL on failure */
    apr_time_t expires_at;
    int aad_code;                /* AADSTSnnnn's number, 0 when none was given */
    const char *error;           /* on failure: printable text, at most ~300 bytes */
} aop_token_answer_t;

/* Reads an answer: status (0: no answer, transport_error says why), the body (len
 * bytes, may be NULL), at now.  APR_SUCCESS with access_token and expires_at, or
 * APR_EGENERAL with error (and aad_code when the endpoint gave one). */
apr_status_t aop_token_parse(apr_pool_t *p, int status, const char *body, apr_size_t len,
                             const char *transport_error, apr_time_t now,
                             aop_token_answer_t *out);

/* When a token fetched at fetched, expiring at expires_at, is renewed. */
apr_time_t aop_token_refresh_at(apr_time_t fetched, apr_time_t expires_at);

/* When the task replaces a token fetched at fetched that Azure refused at
 * refused_at, streak: the fetches in a row already made for refusals (the refused
 * token's among them); 0 when the token was not refused (refused_at <= fetched). */
apr_time_t aop_token_refused_renew_at(apr_time_t fetched, apr_time_t refused_at,
                                      unsigned streak);

/* The streak a fetch for a refusal starts or continues (see above). */
unsigned aop_token_refused_streak(apr_time_t fetched, apr_time_t refused_at, unsigned streak);

/* How long to wait after the n-th failure in a row (n >= 1). */
apr_interval_time_t aop_token_backoff(unsigned n);

/* A non-zero hash of everything that makes the credential (the secret included):
 * instances with equal credentials share a token, a changed one fetches anew. */
apr_uint64_t aop_token_fingerprint(const aop_instance_t *inst, const aop_token_env_t *env);

#endif
