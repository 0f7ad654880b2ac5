/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* POST /instances/verify/{name}, its httpd-free part: what a probe of a deployment
 * looks like and what its answer means.
 *
 * A probe spends no token: it POSTs the body "{}" that Azure refuses with 400 only
 * after it has accepted the api-key (else 401/403) and found the deployment (else 404
 * DeploymentNotFound).  So a 400 that is not DeploymentNotFound proves both. */
#ifndef AOP_VERIFY_H
#define AOP_VERIFY_H

#include <apr_pools.h>
#include <json-c/json.h>

#include "aop_config.h"

/* The body of every probe: empty, so that Azure refuses it (400) without running the
 * model, after it checked the key and the deployment. */
#define AOP_VERIFY_BODY "{}"

/* "embeddings" when model's name contains "embedding" (any case), else
 * "chat/completions". */
const char *aop_verify_op(const char *model);

/* The probe's body: AOP_VERIFY_BODY, or for a v1-style instance the deployment as
 * its model (the v1 path names none). */
const char *aop_verify_probe_body(apr_pool_t *p, const aop_instance_t *inst,
                                  const char *model);

/* {api_base}/openai/deployments/{deployment}/{op}?api-version={api_version} for model
 * on inst, or NULL when inst has no deployment for model. */
const char *aop_verify_probe_url(apr_pool_t *p, const aop_instance_t *inst,
                                 const char *model);

/* The `config` check: enabled (a disabled instance passes, the detail says it is
 * disabled), an api_key, at least one model, a deployment for each.  Returns ok; sets
 * *detail (never the key), *has_key and *has_models (what the probes need). */
int aop_verify_config(apr_pool_t *p, const aop_instance_t *inst, const char **detail,
                      int *has_key, int *has_models);

typedef enum {
    AOP_PROBE_EXISTS = 0,        /* 400 but not DeploymentNotFound, or 2xx */
    AOP_PROBE_RATE_LIMITED,      /* 429: key accepted, deployment exists */
    AOP_PROBE_KEY_REFUSED,       /* 401, 403 */
    AOP_PROBE_MISSING,           /* 404 DeploymentNotFound */
    AOP_PROBE_NOT_FOUND,         /* another 404: wrong api_base or api_version */
    AOP_PROBE_SERVER_ERROR,      /* 408, 5xx */
    AOP_PROBE_UNEXPECTED,        /* any other status */
    AOP_PROBE_TIMEOUT,           /* no answer in time */
    AOP_PROBE_FAILED             /* no answer: the connection failed */
} aop_probe_e;

typedef struct aop_probe_t {
    aop_probe_e kind;
    int ok;                      /* the deployment check passes */
    int key;                     /* 1 the key was accepted, 0 refused, -1 unknown */
    const char *code;            /* Azure's error.code, or NULL */
    const char *detail;          /* for people; Azure's message at most 200 bytes */
    apr_int64_t tokens;          /* usage.total_tokens of a 2xx answer, else 0 */
} aop_probe_t;

/* Classifies a probe's answer: status (0 when there was none), the body (len bytes,
 * may be NULL), and when status is 0 whether it timed out and the transport's error
 * text (may be NULL). */
void aop_verify_classify(apr_pool_t *p, int status, const char *body, apr_size_t len,
                         int timed_out, const char *error, aop_probe_t *out);

/* text with every occurrence of secret replaced by "***" (text itself when there is
 * none, or secret is NULL or empty). */
const char *aop_verify_mask(apr_pool_t *p, const char *text, const char *secret);

/* The report: checks in order, ok while every one is. */
typedef struct aop_verify_t {
    json_object *checks;         /* array, owned by the caller's root object */
    int ok;
} aop_verify_t;

/* Appends {"check","ok","ms","detail"} (detail may be NULL: left out) and returns it,
 * for more fields. */
json_object *aop_verify_add(aop_verify_t *v, const char *check, int ok,
                            apr_interval_time_t elapsed, const char *detail);

/* Appends a check that did not run: {"check","ok":false,"skipped":true,"ms":0,
 * "detail":why}. */
json_object *aop_verify_skip(aop_verify_t *v, const char *check, const char *why);

#endif
