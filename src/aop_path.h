/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Which OpenAI call a client's path names.  Three spellings reach the same calls:
 *   /v1/...                          OpenAI's own (the SDKs' default base URL + /v1)
 *   /openai/v1/...                   Azure's v1 API, for a client whose base URL is it
 *   /openai/deployments/{name}/...   what the SDK's AzureOpenAI class sends for chat,
 *                                    completions and embeddings ({name}: the model)
 *   /openai/responses...             ... and for the Responses API. */
#ifndef AOP_PATH_H
#define AOP_PATH_H

#include <apr_pools.h>

typedef enum {
    AOP_OP_NONE = 0,
    AOP_OP_CHAT,             /* POST chat/completions */
    AOP_OP_COMPLETIONS,      /* POST completions */
    AOP_OP_EMBEDDINGS,       /* POST embeddings */
    AOP_OP_MODELS,           /* GET models, models/{id}: answered locally */
    AOP_OP_RESPONSES,        /* POST responses: a new response, routed by model */
    AOP_OP_RESPONSE,         /* GET or DELETE responses/{id} */
    AOP_OP_RESPONSE_CANCEL,  /* POST responses/{id}/cancel */
    AOP_OP_RESPONSE_ITEMS    /* GET responses/{id}/input_items */
} aop_op_e;

/* The longest response id (or deployment name in a path) taken: Azure's are ~55. */
#define AOP_PATH_ID_MAX 256

typedef struct aop_path_t {
    aop_op_e op;
    const char *model_id;     /* models/{id} */
    const char *deployment;   /* /openai/deployments/{name}/...: the client's model */
    const char *response_id;  /* responses/{id}... */
} aop_path_t;

/* Whether s[0..n) is an id or name the gateway passes on: 1..AOP_PATH_ID_MAX RFC 3986
 * unreserved characters (Azure's ids are), and not "." or "..". */
int aop_path_is_id(const char *s, apr_size_t n);

/* Whether path is in one of the gateway's namespaces (/v1, /openai): every request
 * there is answered by it, an unknown one with a JSON 404. */
int aop_path_is_ours(const char *path);

/* The length of the management API's root segment that p starts with ("/stats" of
 * "/stats/x": 6), when the end or a '/' follows it; else 0.  The roots: /instances,
 * /stats, /config, /admin, /metrics, /health, /verification. */
apr_size_t aop_path_api_root(const char *p);

/* Fills out from path (decoded, as r->uri); out->op is AOP_OP_NONE for anything else.
 * One trailing '/' is tolerated.  An id or name must be 1..AOP_PATH_ID_MAX of
 * [A-Za-z0-9._~-] (Azure's ids are), else the path names no call. */
void aop_path_parse(apr_pool_t *p, const char *path, aop_path_t *out);

/* The operation's path after the API's root ("chat/completions", "responses"...),
 * without an id; NULL for AOP_OP_NONE and AOP_OP_MODELS. */
const char *aop_path_op_suffix(aop_op_e op);

/* The operations that name a stored response by its id. */
int aop_path_op_by_id(aop_op_e op);

/* The methods an operation takes ("POST", "GET, DELETE"...). */
const char *aop_path_op_methods(aop_op_e op);

#endif
