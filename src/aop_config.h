/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The proxy's configuration model, read from YAML (libyaml) at httpd config time:
 * DIR/base.yaml overlaid with DIR/<environment>.yaml, ${VAR} expanded from the
 * environment.  Errors name the file, the line and the key so that
 * `apache2ctl configtest` can show exactly what is wrong. */
#ifndef AOP_CONFIG_H
#define AOP_CONFIG_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_hash.h>

#include "aop_instance_schema.h"   /* aop_instance_t */

typedef enum {
    AOP_STRATEGY_FAILOVER = 0,
    AOP_STRATEGY_WEIGHTED,
    AOP_STRATEGY_ROUND_ROBIN
} aop_strategy_e;

#define AOP_MAX_RETRY_WAIT_DEFAULT 2.0
#define AOP_MAX_RETRY_WAIT_MAX 30.0

typedef struct aop_config_t {
    const char *name;
    const char *version;
    int port;
    aop_strategy_e strategy;
    int retries;                 /* further instances tried after the first; default 3 */
    double timeout;              /* seconds; default 60 */
    double max_retry_wait;       /* seconds a request may wait out a 429's Retry-After to
                                  * retry the same instance when nothing else can serve
                                  * it; 0 = never; default AOP_MAX_RETRY_WAIT_DEFAULT */
    /* Streams (docs/configuration.md): seconds to the first event, and of silence
     * once the client has bytes; 0 = off (the default): timeout alone applies. */
    double first_token_timeout;
    double stream_idle_timeout;
    apr_hash_t *first_token_by_model;        /* model -> double *, NULL: none */
    apr_hash_t *first_token_by_model_src;    /* model -> aop_yaml_pair_t *, for messages */
    const char *log_level;       /* DEBUG, INFO, WARNING, ERROR, CRITICAL; default INFO */
    const char *log_file;
    apr_int64_t log_max_size;
    int log_backup_count;
    const char *feishu_webhook;
    int stats_window_minutes;    /* default 5 */
    apr_array_header_t *additional_windows;  /* int; default 15, 30, 60 */
    apr_array_header_t *instances;           /* aop_instance_t * in file order */
    /* aliases: a client's model (or deployment) name -> a configured model; NULL:
     * none.  alias_src: each alias's aop_yaml_pair_t (file, line), for messages. */
    apr_hash_t *aliases;
    apr_hash_t *alias_src;
    /* fallbacks: model -> apr_array_header_t * of the models (const char *) a request
     * moves on to when none of its model's instances can serve it;
     * context_fallbacks: the same, on Azure's context_length_exceeded.  NULL: none.
     * *_src: each entry's aop_yaml_pair_t, for messages. */
    apr_hash_t *fallbacks, *fallback_src;
    apr_hash_t *context_fallbacks, *context_fallback_src;
    apr_array_header_t *files;               /* const char *: the files read, in order */
    apr_array_header_t *warnings;            /* const char *: non-fatal findings */
    /* aop_left_out_t: the instances a lenient load left out (NULL when strict). */
    apr_array_header_t *left_out;
} aop_config_t;

/* An instance whose configuration could not be completed: a lenient load goes on
 * without it, so that one instance's problem never stops the others. */
typedef struct aop_left_out_t {
    const char *name;            /* its name, or "instances[N]" before one was read */
    const char *problem;         /* "FILE:LINE: KEY: what is wrong", never a secret */
} aop_left_out_t;

/* How a load treats an instance it cannot complete. */
typedef enum {
    AOP_CONFIG_STRICT = 0,       /* the whole load fails (configtest) */
    AOP_CONFIG_LENIENT           /* the instance is left out (start, restart, reload) */
} aop_config_mode_e;

/* routing.first_token_timeout for model (its own from first_token_timeout_by_model,
 * else the general one); 0 = off. */
double aop_config_first_token_timeout(const aop_config_t *cfg, const char *model);

/* Loads DIR/base.yaml (required) and, when env is non-empty, DIR/<env>.yaml (optional;
 * its absence is a warning).  getenv_fn resolves ${VAR} (NULL = unset); pass NULL to use
 * the process environment.  On error returns APR_EINVAL and sets *perr to
 * "FILE:LINE: KEY: what is wrong" (never containing a secret). */
typedef const char *aop_getenv_fn(void *baton, const char *name);

apr_status_t aop_config_load(apr_pool_t *p, const char *dir, const char *env,
                             aop_getenv_fn *getenv_fn, void *baton,
                             aop_config_t **pcfg, const char **perr);

/* aop_config_load() in a mode: AOP_CONFIG_LENIENT fills (*pcfg)->left_out with the
 * instances it could not complete instead of failing; anything outside an instance
 * (YAML syntax, routing, unreadable files) fails either way. */
apr_status_t aop_config_load_mode(apr_pool_t *p, const char *dir, const char *env,
                                  aop_getenv_fn *getenv_fn, void *baton,
                                  aop_config_mode_e mode, aop_config_t **pcfg,
                                  const char **perr);

/* Same, from in-memory documents (used by unit tests and the admin API later).
 * base_name/env_name are the names used in messages; env_text may be NULL. */
apr_status_t aop_config_load_texts(apr_pool_t *p,
                                   const char *base_name, const char *base_text,
                                   const char *env_name, const char *env_text,
                                   aop_getenv_fn *getenv_fn, void *baton,
                                   aop_config_t **pcfg, const char **perr);

/* The configured model a client's name stands for: its alias's, else name itself. */
const char *aop_config_model_of(const aop_config_t *cfg, const char *name);

/* Whether some instance of cfg (enabled or not) lists model. */
int aop_config_lists_model(const aop_config_t *cfg, const char *model);

/* model's fallbacks (context: its context_window_fallbacks), in order; NULL: none. */
const apr_array_header_t *aop_config_fallbacks(const aop_config_t *cfg, const char *model,
                                               int context);

const char *aop_strategy_name(aop_strategy_e s);
int aop_strategy_parse(const char *name, aop_strategy_e *out);

/* [A-Za-z0-9_-]+, plus '.' when allow_dot; never "." or "..": names end up in URL and
 * file paths.  The one rule for instance, deployment and api-version names. */
int aop_config_safe_name(const char *s, int allow_dot);

/* The example endpoint shipped in the YAML under conf/ (example.openai.azure.com,
 * example-westus...): an instance still pointing there is left out with a warning
 * that says what to edit, in every mode. */
int aop_config_placeholder_host(const char *host);

#endif
