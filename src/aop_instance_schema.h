/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* An instance of Azure OpenAI and its fields, described once.
 *
 * aop_instance_fields[] has one row per field: its key, its type, where it lives in
 * aop_instance_t, its range and default, which layers may set it, whether it is a
 * secret, and the rule its value must follow.  Every reader and writer walks that
 * table instead of a list of its own:
 *   aop_config_instance.c  YAML -> aop_instance_t (the rows with AOP_FIELD_YAML);
 *   aop_instance_json.c    JSON <-> aop_instance_t for the admin API, the store, the
 *                          state file and the live document (AOP_FIELD_API);
 *   aop_layers.c           merges YAML, state file and database field by field and
 *                          says where each field came from (AOP_FIELD_API);
 *   aop_store*.c           which keys a stored version may own, what to mask.
 * Merging and comparing work on a field's JSON value (aop_instance_to_json), so
 * they need no code per field.
 *
 * Adding a field: a member in aop_instance_t, a row in aop_instance_fields[]
 * (aop_instance_schema.c), and its sample in t/unit/check_instance_schema.c, which
 * fails for a row without one.  A field of a new type also needs that type's case
 * in each reader and writer (the compiler's -Wswitch points at them). */
#ifndef AOP_INSTANCE_SCHEMA_H
#define AOP_INSTANCE_SCHEMA_H

#include <stddef.h>

#include <apr_hash.h>
#include <apr_pools.h>
#include <apr_tables.h>

#define AOP_NAME_MAX 64
/* The Responses API version sent to a dated instance unless it sets its own. */
#define AOP_RESPONSES_API_VERSION "2025-04-01-preview"
/* The api_version that selects Azure's v1 API. */
#define AOP_API_VERSION_V1 "v1"
/* pool_max at most: the event MPM's hard ThreadLimit, more threads than a process has. */
#define AOP_POOL_MAX_LIMIT 100000

/* A deployment's own quota (Azure's are per deployment): model_deployments' object
 * form, { deployment: NAME, max_tpm: N, max_rpm: N }.  0: no limit of its own. */
typedef struct aop_deployment_limits_t {
    apr_int64_t max_tpm;         /* tokens per minute */
    apr_int64_t max_rpm;         /* requests per minute, enforced per 1 s and 10 s (aop_rpm.h) */
    int stream_resume;           /* the deployment continues an assistant prefill: a stream
                                  * cut elsewhere may resume on it (mod_aoproxy_resume.c) */
} aop_deployment_limits_t;

/* The deployment keys of model_deployments' object form, as messages list them. */
#define AOP_DEPLOYMENT_KEYS "deployment, max_tpm, max_rpm, stream_resume"

typedef struct aop_instance_t {
    const char *name;            /* unique, [A-Za-z0-9._-]{1,64} */
    const char *provider_type;   /* "azure" */
    const char *api_key;         /* secret: never log or print it */
    const char *api_key_file;    /* YAML only: the file api_key was read from, or NULL */
    const char *api_base;        /* as written, trailing '/' removed */
    const char *scheme;          /* "http" or "https" */
    const char *host;            /* host name or IP literal (no brackets) */
    int port;                    /* explicit or the scheme's default */
    const char *origin;          /* "scheme://host[:port]" - the mod_proxy worker URL */
    const char *base_path;       /* path prefix from api_base, "" or "/x/y" (no trailing '/') */
    const char *api_version;     /* a date ("2024-10-21"), or "v1": Azure's v1 API (no
                                  * api-version, the deployment as the body's model) */
    const char *responses_api_version;   /* the Responses API's on a dated instance */
    int priority;                /* lower value preferred by failover; default 100 */
    int weight;                  /* >= 0; default 100 */
    apr_int64_t max_tpm;         /* tokens per minute, 0 = unlimited; default 0 */
    apr_int64_t max_rpm;         /* requests per minute, 0 = unlimited; default 0: over
                                  * 1 s and 10 s windows as Azure counts (aop_rpm.h) */
    int enabled;                 /* default 1 */
    apr_array_header_t *supported_models;   /* const char * */
    apr_hash_t *model_deployments;          /* model -> deployment (const char *) */
    /* model -> const aop_deployment_limits_t *, for the models whose deployment has
     * a limit (model_deployments' object form): read and written with
     * model_deployments (the DEPLOYMENTS field), never a row of its own. */
    apr_hash_t *deployment_limits;
    /* The two maps above, parallel to supported_models, once aop_instance_index_models()
     * ran (an instance decoded for a view, which then never changes): each request's
     * deployment and limits without two hash lookups.  NULL in a copy, or before. */
    const char **deployment_at;
    const aop_deployment_limits_t **limits_at;
    int models_indexed;          /* supported_models->nelts when they were filled */
    /* The connection pool of the instance's mod_proxy worker, per Apache process, as
     * mod_proxy's worker parameters of the same meaning; 0 (the defaults) leaves
     * mod_proxy's own. */
    int pool_max;                /* max: connections kept, at most; 0 = ThreadsPerChild */
    int pool_ttl;                /* ttl: seconds an idle connection may be reused; 0 = any */
    int disable_reuse;           /* disablereuse: a connection per request */
    int tcp_keepalive;           /* keepalive: SO_KEEPALIVE on the backend connections */
    int connect_timeout;         /* connectiontimeout, seconds; 0 = AOProxyConnectTimeout */
    /* auth.*: how the gateway authenticates to Azure (aop_token.h).  YAML writes them
     * as a map under auth:, JSON as flat "auth.KEY" keys (the table has no nested
     * type). */
    const char *auth_type;       /* NULL or "api_key", "entra", "managed_identity",
                                  * "workload_identity" */
    const char *tenant_id;
    const char *client_id;       /* entra, workload_identity; a user-assigned identity */
    const char *client_secret;   /* secret: never log or print it */
    const char *client_secret_file;   /* YAML only: where client_secret was read from */
    const char *client_certificate_file;  /* entra: PEM key and certificate, instead of a
                                           * secret */
    const char *authority_host;  /* the token endpoint's origin (or IMDS's), NULL: Azure's */
    const char *federated_token_file; /* workload_identity; NULL: $AZURE_FEDERATED_TOKEN_FILE */
    apr_table_t *sources;        /* field name -> file path it came from (last layer wins) */
    const char *file;            /* where the instance was first defined */
    int line;
} aop_instance_t;

/* What a field holds, and so how each reader and writer handles it. */
typedef enum {
    AOP_FIELD_STRING,       /* const char *, NULL when unset; check is its rule */
    AOP_FIELD_URL,          /* const char *: the endpoint, api_base (there is one):
                             * aop_url_parse_api_base() checks it and sets it, scheme,
                             * host, port, origin and base_path */
    AOP_FIELD_FILE,         /* const char *: a file name; in YAML relative to the file
                             * that names it */
    AOP_FIELD_INT,          /* int within lo..hi */
    AOP_FIELD_INT64,        /* apr_int64_t within lo..hi */
    AOP_FIELD_BOOL,         /* int, 0 or 1: YAML true/false, yes/no, on/off; a JSON boolean */
    AOP_FIELD_MODELS,       /* apr_array_header_t * of const char *: distinct non-empty
                             * model names, at least one when given */
    AOP_FIELD_DEPLOYMENTS   /* apr_hash_t *: model -> deployment name ([A-Za-z0-9._-]+),
                             * for the models of supported_models; written in their order.
                             * A value may be { deployment, max_tpm, max_rpm } instead:
                             * its limits go to deployment_limits (written back as an
                             * object only when one is set) */
} aop_field_type_e;

/* Which layers may set a field, and what else it is.  A field's key and value appear
 * in YAML when it has AOP_FIELD_YAML, and in the JSON codec when it has
 * AOP_FIELD_API: the admin API may then set it, the store and the state file hold it,
 * the live document carries it, and the layers merge it and name its source. */
#define AOP_FIELD_YAML        0x01
#define AOP_FIELD_API         0x02
/* The instance's identity: YAML reads it before the other fields (to name the
 * instance in messages); a PATCH cannot change it (a rename is a delete and an add). */
#define AOP_FIELD_NAME        0x04
/* Refused when unset ("missing required field"): a NULL string, no models. */
#define AOP_FIELD_REQUIRED    0x08
/* Never in a message; the API shows it as AOP_API_KEY_MASK and takes the mask back
 * as "unchanged"; only the store and the live document hold its value.  A NULL one
 * is left out of JSON rather than written as null. */
#define AOP_FIELD_SECRET      0x10
/* YAML applies check once the instance is complete, after the example-endpoint check
 * (an instance at the shipped example endpoint is left out whatever else it says),
 * rather than as the value is read.  JSON applies it as the value is read. */
#define AOP_FIELD_CHECK_LAST  0x20

/* A string field's rule: NULL if value is acceptable, else the whole message after
 * "KEY: ".  shown is the value as a message may quote it ("\"x\"", or "the value of
 * ${VAR}" for YAML's environment values); note is YAML's " (environment variable ${X}
 * is not set)" or "", to be added where it explains the problem. */
typedef const char *aop_field_check_fn(apr_pool_t *p, const char *value, const char *shown,
                                       const char *note);

typedef struct {
    const char *key;            /* the YAML and JSON key */
    aop_field_type_e type;
    size_t offset;              /* offsetof(aop_instance_t, member) */
    unsigned flags;             /* AOP_FIELD_* above */
    apr_int64_t lo, hi;         /* INT, INT64: the range */
    apr_int64_t def;            /* INT, INT64, BOOL: the default */
    const char *def_str;        /* STRING: the default (NULL: unset) */
    aop_field_check_fn *check;  /* STRING: the rule, NULL: any string */
} aop_field_t;

/* Every field, in the order keys are listed in messages, written in JSON and shown
 * with their sources; the row after the last has key NULL. */
extern const aop_field_t aop_instance_fields[];

/* The row of key among those with every flag of flags (0: any), or NULL. */
const aop_field_t *aop_field_find(const char *key, unsigned flags);

/* The row with AOP_FIELD_NAME. */
const aop_field_t *aop_field_name(void);

/* The keys of the rows with every flag of flags: "name, provider_type, ..." for
 * "unknown key (expected one of: ...)", or as an array (const char *). */
const char *aop_field_key_list(apr_pool_t *p, unsigned flags);
apr_array_header_t *aop_field_keys(apr_pool_t *p, unsigned flags);

/* What a string field's value is, for "expected %s, got ...": "a string", "a URL" or
 * "a file name". */
const char *aop_field_what(const aop_field_t *f);

/* The field's member in inst, by type. */
#define AOP_FIELD_AT(inst, f, type) ((type *)(void *)((char *)(inst) + (f)->offset))

/* Puts the field back to its default (a URL's parts too). */
void aop_field_reset(apr_pool_t *p, aop_instance_t *inst, const aop_field_t *f);

/* 0 when the field is unset: a NULL string, no models, no deployments. */
int aop_field_is_set(const aop_instance_t *inst, const aop_field_t *f);

/* "must be >= LO, got V" or "must be between LO and HI, got V" when v is outside
 * lo..hi, else NULL: the one wording of YAML and JSON for every number. */
const char *aop_range_problem(apr_pool_t *p, apr_int64_t lo, apr_int64_t hi, apr_int64_t v);

/* A new instance with every field at its default, defined at file:line (for
 * messages and sources). */
aop_instance_t *aop_instance_new(apr_pool_t *p, const char *file, int line);

/* A copy that can be changed without touching base (lists, maps and sources are
 * copied; strings are shared). */
aop_instance_t *aop_instance_copy(apr_pool_t *p, const aop_instance_t *base);

/* A valid instance name: aop_config_safe_name(name, 1) and at most AOP_NAME_MAX. */
int aop_instance_name_ok(const char *name);

/* Exact lookup: the deployment for model on this instance, or NULL. */
const char *aop_instance_deployment(const aop_instance_t *inst, const char *model);

/* The limits of model's deployment on this instance, or NULL when it has none. */
const aop_deployment_limits_t *aop_instance_limits(const aop_instance_t *inst,
                                                   const char *model);

/* Sets the limits and options of model's deployment (NULL, or all 0: none, the plain
 * form); the range of each is checked by the caller (AOP_RPM_MAX, APR_INT64_MAX). */
void aop_instance_set_limits(apr_pool_t *p, aop_instance_t *inst, const char *model,
                             const aop_deployment_limits_t *lim);

/* Fills deployment_at and limits_at from the maps, in p: for an instance that no
 * longer changes. */
void aop_instance_index_models(apr_pool_t *p, aop_instance_t *inst);

/* The index of model in inst's supported_models, or -1. */
int aop_instance_model_index(const aop_instance_t *inst, const char *model);

/* Whether model's deployment on this instance takes a resumed stream (stream_resume). */
int aop_instance_resumes(const aop_instance_t *inst, const char *model);

#endif
