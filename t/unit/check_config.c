/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Unit tests for aop_config.c: loading, overlay, ${VAR} expansion and every error
 * class, with the exact "FILE:LINE: KEY: message" each one produces. */
#include <limits.h>
#include <string.h>

#include <apr_pools.h>
#include <apr_strings.h>

#include "aop_config.h"
#include "check_suites.h"

#ifndef AOP_TEST_DATA
#define AOP_TEST_DATA "t/unit/data"
#endif

/* Secrets handed out by the fake environment; no message may ever contain them. */
#define SECRET_1 "sk-secret-one-0123456789"
#define SECRET_EAST "sk-east-secret-abcdef"

static const char *const test_env[][2] = {
    { "AZURE_API_KEY_1", SECRET_1 },
    { "EAST_KEY", SECRET_EAST },
    { "FEISHU_WEBHOOK_URL", "https://open.feishu.cn/open-apis/bot/v2/hook/x" },
    { "TPM", "5000" },
    { "EMPTY", "" },
    { "HOST", "h.example.com" },
    { NULL, NULL }
};

static apr_pool_t *pool;

static void setup(void)
{
    apr_pool_create(&pool, NULL);
}

static void teardown(void)
{
    apr_pool_destroy(pool);
}

static const char *fake_getenv(void *baton, const char *name)
{
    int i;

    (void)baton;
    for (i = 0; test_env[i][0]; ++i) {
        if (!strcmp(test_env[i][0], name)) {
            return test_env[i][1];
        }
    }
    return NULL;
}

static void assert_no_secret(const char *msg)
{
    ck_assert_msg(strstr(msg, SECRET_1) == NULL, "secret leaked: %s", msg);
    ck_assert_msg(strstr(msg, SECRET_EAST) == NULL, "secret leaked: %s", msg);
    ck_assert_msg(strstr(msg, "inline-secret") == NULL, "secret leaked: %s", msg);
}

static aop_config_t *load_ok(const char *base, const char *env)
{
    aop_config_t *cfg = NULL;
    const char *err = NULL;
    apr_status_t rv;
    int i;

    rv = aop_config_load_texts(pool, "base.yaml", base, "prod.yaml", env,
                               fake_getenv, NULL, &cfg, &err);
    ck_assert_msg(rv == APR_SUCCESS, "unexpected error: %s", err ? err : "(none)");
    ck_assert_ptr_nonnull(cfg);
    ck_assert_ptr_null(err);
    for (i = 0; i < cfg->warnings->nelts; ++i) {
        assert_no_secret(APR_ARRAY_IDX(cfg->warnings, i, const char *));
    }
    return cfg;
}

static const char *load_err(const char *base, const char *env)
{
    aop_config_t *cfg = NULL;
    const char *err = NULL;
    apr_status_t rv;

    rv = aop_config_load_texts(pool, "base.yaml", base, "prod.yaml", env,
                               fake_getenv, NULL, &cfg, &err);
    ck_assert_int_eq(rv, APR_EINVAL);
    ck_assert_ptr_null(cfg);
    ck_assert_ptr_nonnull(err);
    assert_no_secret(err);
    return err;
}

static const char *warning(const aop_config_t *cfg, int i)
{
    ck_assert_int_gt(cfg->warnings->nelts, i);
    return APR_ARRAY_IDX(cfg->warnings, i, const char *);
}

static aop_instance_t *inst_at(const aop_config_t *cfg, int i)
{
    ck_assert_int_gt(cfg->instances->nelts, i);
    return APR_ARRAY_IDX(cfg->instances, i, aop_instance_t *);
}

static const char *model_at(const aop_instance_t *inst, int i)
{
    ck_assert_int_gt(inst->supported_models->nelts, i);
    return APR_ARRAY_IDX(inst->supported_models, i, const char *);
}

/* A valid instance "a" on lines 2-7 of a document that starts with "instances:". */
#define I_HEAD "instances:\n  - name: a\n"
#define I_KEY  "    api_key: inline-secret\n"
#define I_BASE "    api_base: https://a.example.com\n"
#define I_VER  "    api_version: v1\n"
#define I_MOD  "    supported_models: [m1, m2]\n"
#define I_DEP  "    model_deployments: {m1: d1, m2: d2}\n"
#define I_ALL  I_HEAD I_KEY I_BASE I_VER I_MOD I_DEP

/* --- loading from files --------------------------------------------------------- */

static void check_seed_instance(const aop_instance_t *inst, const char *file)
{
    ck_assert_str_eq(inst->name, "instance1");
    ck_assert_str_eq(inst->provider_type, "azure");
    ck_assert_str_eq(inst->api_key, SECRET_1);
    ck_assert_str_eq(inst->api_base, "https://contoso-eastus.openai.azure.com");
    ck_assert_str_eq(inst->scheme, "https");
    ck_assert_str_eq(inst->host, "contoso-eastus.openai.azure.com");
    ck_assert_int_eq(inst->port, 443);
    ck_assert_str_eq(inst->origin, "https://contoso-eastus.openai.azure.com");
    ck_assert_str_eq(inst->base_path, "");
    ck_assert_str_eq(inst->api_version, "2024-08-01-preview");
    ck_assert_int_eq(inst->priority, 100);
    ck_assert_int_eq(inst->weight, 100);
    ck_assert(inst->max_tpm == 240000);
    ck_assert_int_eq(inst->enabled, 1);
    ck_assert_int_eq(inst->supported_models->nelts, 2);
    ck_assert_str_eq(model_at(inst, 0), "gpt-4o-mini");
    ck_assert_str_eq(model_at(inst, 1), "gpt-4o");
    ck_assert_str_eq(aop_instance_deployment(inst, "gpt-4o-mini"), "gpt4omini");
    ck_assert_str_eq(aop_instance_deployment(inst, "gpt-4o"), "gpt4o");
    ck_assert_str_eq(inst->file, file);
    ck_assert_int_eq(inst->line, 9);
    ck_assert_str_eq(apr_table_get(inst->sources, "api_key"), file);
    ck_assert_str_eq(apr_table_get(inst->sources, "model_deployments"), file);
    ck_assert_ptr_null(apr_table_get(inst->sources, "enabled"));
}

START_TEST(seed_config_loads)
{
    aop_config_t *cfg;
    const char *err = "unset";
    const char *file = AOP_TEST_DATA "/seed/base.yaml";

    ck_assert_int_eq(aop_config_load(pool, AOP_TEST_DATA "/seed", NULL, fake_getenv, NULL,
                                     &cfg, &err), APR_SUCCESS);
    ck_assert_ptr_null(err);
    ck_assert_str_eq(cfg->name, "Azure OpenAI Proxy");
    ck_assert_str_eq(cfg->version, "1.2.0");
    ck_assert_int_eq(cfg->port, 3010);
    ck_assert_int_eq(cfg->strategy, AOP_STRATEGY_FAILOVER);
    ck_assert_int_eq(cfg->retries, 3);
    ck_assert(cfg->timeout == 60.0);
    ck_assert_str_eq(cfg->log_level, "INFO");
    ck_assert_str_eq(cfg->log_file, "../logs/app.log");
    ck_assert(cfg->log_max_size == 5242880);
    ck_assert_int_eq(cfg->log_backup_count, 3);
    ck_assert_str_eq(cfg->feishu_webhook, "https://open.feishu.cn/open-apis/bot/v2/hook/x");
    ck_assert_int_eq(cfg->stats_window_minutes, 5);
    ck_assert_int_eq(cfg->additional_windows->nelts, 3);
    ck_assert_int_eq(APR_ARRAY_IDX(cfg->additional_windows, 0, int), 15);
    ck_assert_int_eq(APR_ARRAY_IDX(cfg->additional_windows, 2, int), 60);
    ck_assert_int_eq(cfg->files->nelts, 1);
    ck_assert_str_eq(APR_ARRAY_IDX(cfg->files, 0, const char *), file);
    ck_assert_int_eq(cfg->warnings->nelts, 0);
    ck_assert_int_eq(cfg->instances->nelts, 1);
    check_seed_instance(inst_at(cfg, 0), file);
}
END_TEST

START_TEST(seed_missing_env_file_warns)
{
    aop_config_t *cfg;
    const char *err;

    /* a trailing '/' on the directory makes no difference to the names */
    ck_assert_int_eq(aop_config_load(pool, AOP_TEST_DATA "/seed/", "staging", fake_getenv,
                                     NULL, &cfg, &err), APR_SUCCESS);
    ck_assert_int_eq(cfg->files->nelts, 1);
    ck_assert_int_eq(cfg->warnings->nelts, 1);
    ck_assert_str_eq(warning(cfg, 0), AOP_TEST_DATA "/seed/staging.yaml: environment file "
                     "not found, using " AOP_TEST_DATA "/seed/base.yaml alone");
}
END_TEST

static const char *null_getenv(void *baton, const char *name)
{
    (void)baton;
    (void)name;
    return NULL;
}

START_TEST(seed_unset_key_names_variable)
{
    aop_config_t *cfg = NULL;
    const char *err = NULL;

    ck_assert_int_eq(aop_config_load(pool, AOP_TEST_DATA "/seed", "", null_getenv, NULL,
                                     &cfg, &err), APR_EINVAL);
    ck_assert_ptr_null(cfg);
    ck_assert_str_eq(err, AOP_TEST_DATA "/seed/base.yaml:11: instances[0](instance1).api_key:"
                     " must not be empty for an enabled instance (environment variable "
                     "${AZURE_API_KEY_1} is not set)");
}
END_TEST

START_TEST(missing_base_is_an_error)
{
    aop_config_t *cfg = NULL;
    const char *err = NULL;

    ck_assert_int_eq(aop_config_load(pool, AOP_TEST_DATA "/envonly", "prod", fake_getenv,
                                     NULL, &cfg, &err), APR_EINVAL);
    ck_assert_ptr_null(cfg);
    ck_assert_str_eq(err, AOP_TEST_DATA "/envonly/base.yaml: cannot open: "
                     "No such file or directory");
}
END_TEST

START_TEST(base_that_is_a_directory)
{
    aop_config_t *cfg = NULL;
    const char *err = NULL;

    /* dirbase/base.yaml is a directory */
    ck_assert_int_eq(aop_config_load(pool, AOP_TEST_DATA "/dirbase", NULL, fake_getenv,
                                     NULL, &cfg, &err), APR_EINVAL);
    ck_assert_str_eq(err, AOP_TEST_DATA "/dirbase/base.yaml: not a regular file");
}
END_TEST

START_TEST(env_name_must_be_safe)
{
    static const char *const bad[] = { "../prod", "prod.yaml", "a/b", "a b", "pröd", NULL };
    aop_config_t *cfg;
    const char *err;
    int i;

    for (i = 0; bad[i]; ++i) {
        cfg = NULL;
        err = NULL;
        ck_assert_int_eq(aop_config_load(pool, AOP_TEST_DATA "/seed", bad[i], fake_getenv,
                                         NULL, &cfg, &err), APR_EINVAL);
        ck_assert_ptr_null(cfg);
        ck_assert_str_eq(err, apr_psprintf(pool, "environment name \"%s\" is not valid "
                                           "(expected [A-Za-z0-9_-]+)", bad[i]));
    }
    ck_assert_int_eq(aop_config_load(pool, AOP_TEST_DATA "/seed", "prod_EU-2", fake_getenv,
                                     NULL, &cfg, &err), APR_SUCCESS);
}
END_TEST

/* --- overlay -------------------------------------------------------------------- */

START_TEST(overlay_from_files)
{
    const char *base = AOP_TEST_DATA "/overlay/base.yaml";
    const char *prod = AOP_TEST_DATA "/overlay/prod.yaml";
    aop_config_t *cfg;
    aop_instance_t *east, *west, *north;
    const char *err;

    ck_assert_int_eq(aop_config_load(pool, AOP_TEST_DATA "/overlay", "prod", fake_getenv,
                                     NULL, &cfg, &err), APR_SUCCESS);
    ck_assert_int_eq(cfg->files->nelts, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(cfg->files, 0, const char *), base);
    ck_assert_str_eq(APR_ARRAY_IDX(cfg->files, 1, const char *), prod);
    /* maps merge key by key, lists are replaced */
    ck_assert_int_eq(cfg->strategy, AOP_STRATEGY_WEIGHTED);
    ck_assert_int_eq(cfg->retries, 2);
    ck_assert_str_eq(cfg->log_level, "WARNING");
    ck_assert_str_eq(cfg->log_file, "/var/log/aop.log");
    ck_assert_int_eq(cfg->additional_windows->nelts, 1);
    ck_assert_int_eq(APR_ARRAY_IDX(cfg->additional_windows, 0, int), 5);

    ck_assert_int_eq(cfg->instances->nelts, 3);
    east = inst_at(cfg, 0);
    west = inst_at(cfg, 1);
    north = inst_at(cfg, 2);
    ck_assert_str_eq(east->api_key, SECRET_EAST);
    ck_assert_str_eq(east->api_base, "https://east.example.com");
    ck_assert_str_eq(apr_table_get(east->sources, "api_key"), base);

    /* west: merged by name; supported_models replaced, model_deployments merged */
    ck_assert_str_eq(west->api_key, "west-default-key");
    ck_assert_int_eq(west->weight, 10);
    ck_assert_int_eq(west->priority, 2);
    ck_assert_int_eq(west->supported_models->nelts, 1);
    ck_assert_str_eq(model_at(west, 0), "gpt-4o-2024-11-20");
    ck_assert_str_eq(aop_instance_deployment(west, "gpt-4o-2024-11-20"), "west-4o-1120");
    ck_assert_ptr_null(aop_instance_deployment(west, "gpt-4o"));
    ck_assert_str_eq(west->file, base);
    ck_assert_int_eq(west->line, 22);
    ck_assert_str_eq(apr_table_get(west->sources, "api_key"), base);
    ck_assert_str_eq(apr_table_get(west->sources, "priority"), base);
    ck_assert_str_eq(apr_table_get(west->sources, "weight"), prod);
    ck_assert_str_eq(apr_table_get(west->sources, "supported_models"), prod);
    ck_assert_str_eq(apr_table_get(west->sources, "model_deployments"), prod);
    ck_assert_str_eq(west->origin, "https://west.example.com:8443");
    ck_assert_str_eq(west->base_path, "/proxy/v1");

    /* north: appended from the environment file */
    ck_assert_str_eq(north->file, prod);
    ck_assert_int_eq(north->line, 12);
    ck_assert_int_eq(north->enabled, 0);
    ck_assert_str_eq(north->api_key, "");
    ck_assert_str_eq(north->host, "2001:db8::1");
    ck_assert_str_eq(north->origin, "http://[2001:db8::1]:8080");
    ck_assert_str_eq(apr_table_get(north->sources, "name"), prod);

    ck_assert_int_eq(cfg->warnings->nelts, 3);
    ck_assert_str_eq(warning(cfg, 0), apr_pstrcat(pool, base, ":28: instances[1](west)."
                     "model_deployments.gpt-4o: model is not in supported_models, its "
                     "deployment is ignored", NULL));
    ck_assert_str_eq(warning(cfg, 1), apr_pstrcat(pool, prod, ":13: instances[2](north)."
                     "api_key: environment variable ${NORTH_KEY} is not set, using an "
                     "empty string", NULL));
    ck_assert_str_eq(warning(cfg, 2), apr_pstrcat(pool, prod, ":14: instances[2](north)."
                     "api_base: plain http:// sends the API key unencrypted; use https://",
                     NULL));
}
END_TEST

START_TEST(overlay_deep_merges_maps)
{
    aop_config_t *cfg = load_ok(
        "name: base\n"
        "routing: {strategy: round_robin, retries: 5, timeout: 10}\n"
        "logging:\n"
        "  level: debug\n"
        "  file: a.log\n",
        "routing:\n"
        "  timeout: 2.5\n"
        "logging: {file: b.log}\n"
        "version: '2'\n");

    ck_assert_str_eq(cfg->name, "base");
    ck_assert_str_eq(cfg->version, "2");
    ck_assert_int_eq(cfg->strategy, AOP_STRATEGY_ROUND_ROBIN);
    ck_assert_int_eq(cfg->retries, 5);
    ck_assert(cfg->timeout == 2.5);
    ck_assert_str_eq(cfg->log_level, "DEBUG");
    ck_assert_str_eq(cfg->log_file, "b.log");
    ck_assert_int_eq(cfg->files->nelts, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(cfg->files, 1, const char *), "prod.yaml");
}
END_TEST

START_TEST(stream_limits_read_with_a_per_model_override)
{
    aop_config_t *cfg = load_ok(I_ALL, NULL);

    /* Off unless set: routing.timeout alone bounds a stream, as before. */
    ck_assert(cfg->first_token_timeout == 0.0 && cfg->stream_idle_timeout == 0.0);
    ck_assert(aop_config_first_token_timeout(cfg, "m1") == 0.0);
    cfg = load_ok(I_ALL "routing:\n  first_token_timeout: 8\n  stream_idle_timeout: 2.5\n"
                  "  first_token_timeout_by_model: {m1: 30, m2: 0, gone: 3}\n", NULL);
    ck_assert(cfg->stream_idle_timeout == 2.5);
    ck_assert(aop_config_first_token_timeout(cfg, "m1") == 30.0);
    ck_assert(aop_config_first_token_timeout(cfg, "m2") == 0.0);      /* off for m2 */
    ck_assert(aop_config_first_token_timeout(cfg, "other") == 8.0);
    ck_assert(aop_config_first_token_timeout(cfg, NULL) == 8.0);
    ck_assert_int_eq(cfg->warnings->nelts, 1);
    ck_assert_str_eq(APR_ARRAY_IDX(cfg->warnings, 0, const char *), "base.yaml:11: "
                     "routing.first_token_timeout_by_model.gone: model \"gone\" is not in "
                     "any instance's supported_models: the limit never applies");
}
END_TEST

START_TEST(overlay_null_restores_default)
{
    aop_config_t *cfg = load_ok("routing: {retries: 5}\nmonitoring: {additional_windows: [1]}\n",
                                "routing: {retries: ~}\nmonitoring:\n");

    ck_assert_int_eq(cfg->retries, 3);
    ck_assert_int_eq(cfg->additional_windows->nelts, 3);
}
END_TEST

START_TEST(overlay_instances_by_name)
{
    aop_config_t *cfg = load_ok(
        I_ALL
        "  - name: b\n"
        "    api_key: kb\n"
        "    api_base: https://b.example.com\n"
        "    api_version: v1\n"
        "    supported_models: [m1]\n"
        "    model_deployments: {m1: b1}\n",
        "instances:\n"
        "  - name: b\n"
        "    enabled: no\n"
        "    model_deployments: {m1: b1-new}\n"
        "  - name: c\n"
        "    api_key: kc\n"
        "    api_base: https://c.example.com\n"
        "    api_version: v2\n"
        "    supported_models: [m2]\n"
        "    model_deployments: {m2: c2}\n"
        "  - name: a\n"
        "    supported_models: [m2]\n");
    aop_instance_t *a = inst_at(cfg, 0), *b = inst_at(cfg, 1), *c = inst_at(cfg, 2);

    ck_assert_int_eq(cfg->instances->nelts, 3);
    ck_assert_str_eq(a->name, "a");
    ck_assert_int_eq(a->supported_models->nelts, 1);
    ck_assert_str_eq(model_at(a, 0), "m2");
    ck_assert_str_eq(aop_instance_deployment(a, "m2"), "d2");
    ck_assert_ptr_null(aop_instance_deployment(a, "m1"));
    ck_assert_str_eq(b->name, "b");
    ck_assert_int_eq(b->enabled, 0);
    ck_assert_str_eq(b->api_key, "kb");
    ck_assert_str_eq(aop_instance_deployment(b, "m1"), "b1-new");
    ck_assert_str_eq(b->file, "base.yaml");
    ck_assert_int_eq(b->line, 8);
    ck_assert_str_eq(apr_table_get(b->sources, "enabled"), "prod.yaml");
    ck_assert_str_eq(apr_table_get(b->sources, "api_base"), "base.yaml");
    ck_assert_str_eq(c->name, "c");
    ck_assert_str_eq(c->file, "prod.yaml");
    ck_assert_int_eq(c->line, 5);
    /* a's m1 deployment is left without its model */
    ck_assert_int_eq(cfg->warnings->nelts, 1);
    ck_assert_str_eq(warning(cfg, 0), "base.yaml:7: instances[0](a).model_deployments.m1: "
                     "model is not in supported_models, its deployment is ignored");
}
END_TEST

START_TEST(overlay_replaces_instances_of_other_type)
{
    /* the overlay's instances are not a list: replaced, then rejected by the schema */
    ck_assert_str_eq(load_err(I_ALL, "instances: {a: 1}\n"),
                     "prod.yaml:1: instances: expected a list, got a map");
    /* an empty overlay list keeps the base list */
    ck_assert_int_eq(load_ok(I_ALL, "instances: []\n")->instances->nelts, 1);
}
END_TEST

START_TEST(overlay_errors_point_into_env_file)
{
    ck_assert_str_eq(load_err(I_ALL, "port: 1\ninstances:\n  - name: a\n    weight: -5\n"),
                     "prod.yaml:4: instances[0](a).weight: must be >= 0, got -5");
    ck_assert_str_eq(load_err(I_ALL, "instances:\n  - name: z\n  - name: z\n"),
                     "prod.yaml:3: instances[1].name: duplicate instance name \"z\" "
                     "(first at line 2)");
    ck_assert_str_eq(load_err(I_ALL, "instances:\n  - name: z\n    api_key: k\n"),
                     "prod.yaml:2: instances[1](z).api_base: missing required field");
    ck_assert_str_eq(load_err(I_ALL, "logging: {levle: INFO}\n"),
                     "prod.yaml:1: logging.levle: unknown key (expected one of: level, "
                     "file, max_size, backup_count, feishu_webhook)");
    ck_assert_str_eq(load_err(I_ALL, "port: [\n"),
                     "prod.yaml:2: YAML syntax error: did not find expected node content "
                     "(while parsing a flow node at line 2)");
}
END_TEST

/* --- defaults ------------------------------------------------------------------- */

START_TEST(defaults)
{
    static const char *const empties[] = {
        "", "\n", "# only a comment\n", "---\n", "--- ~\n", "{}\n", NULL
    };
    aop_config_t *cfg;
    int i;

    for (i = 0; empties[i]; ++i) {
        cfg = load_ok(empties[i], NULL);
        ck_assert_ptr_null(cfg->name);
        ck_assert_ptr_null(cfg->version);
        ck_assert_int_eq(cfg->port, 0);
        ck_assert_int_eq(cfg->strategy, AOP_STRATEGY_FAILOVER);
        ck_assert_int_eq(cfg->retries, 3);
        ck_assert(cfg->timeout == 60.0);
        ck_assert_str_eq(cfg->log_level, "INFO");
        ck_assert_ptr_null(cfg->log_file);
        ck_assert(cfg->log_max_size == 0);
        ck_assert_int_eq(cfg->stats_window_minutes, 5);
        ck_assert_int_eq(cfg->additional_windows->nelts, 3);
        ck_assert_int_eq(APR_ARRAY_IDX(cfg->additional_windows, 1, int), 30);
        ck_assert_int_eq(cfg->instances->nelts, 0);
        ck_assert_int_eq(cfg->warnings->nelts, 0);
        ck_assert_int_eq(cfg->files->nelts, 1);
    }
    ck_assert_int_eq(load_ok("instances: []\n", "")->instances->nelts, 0);
    ck_assert_int_eq(load_ok("instances:\nrouting:\n", "")->instances->nelts, 0);
}
END_TEST

START_TEST(instance_defaults)
{
    aop_instance_t *inst = inst_at(load_ok(I_ALL, NULL), 0);

    ck_assert_str_eq(inst->provider_type, "azure");
    ck_assert_int_eq(inst->priority, 100);
    ck_assert_int_eq(inst->weight, 100);
    ck_assert(inst->max_tpm == 0);
    ck_assert_int_eq(inst->enabled, 1);
    ck_assert_str_eq(inst->file, "base.yaml");
    ck_assert_int_eq(inst->line, 2);
    ck_assert_ptr_null(apr_table_get(inst->sources, "priority"));
    ck_assert_str_eq(apr_table_get(inst->sources, "name"), "base.yaml");
}
END_TEST

START_TEST(scalar_types)
{
    aop_config_t *cfg = load_ok(
        "name: 12\n"
        "version: 1.50\n"
        "port: '8080'\n"
        "routing: {timeout: \"30\", retries: 0}\n"
        "logging: {level: Critical, max_size: 0}\n"
        I_ALL
        "    enabled: YES\n"
        "    priority: -3\n"
        "    max_tpm: 9000000000\n", NULL);
    aop_instance_t *inst = inst_at(cfg, 0);

    ck_assert_str_eq(cfg->name, "12");
    ck_assert_str_eq(cfg->version, "1.50");
    ck_assert_int_eq(cfg->port, 8080);
    ck_assert(cfg->timeout == 30.0);
    ck_assert_int_eq(cfg->retries, 0);
    ck_assert_str_eq(cfg->log_level, "CRITICAL");
    ck_assert_int_eq(inst->enabled, 1);
    ck_assert_int_eq(inst->priority, -3);
    ck_assert(inst->max_tpm == APR_INT64_C(9000000000));
}
END_TEST

START_TEST(bool_spellings)
{
    static const char *const t[] = { "true", "True", "yes", "ON", "on", NULL };
    static const char *const f[] = { "false", "FALSE", "no", "No", "off", NULL };
    int i;

    for (i = 0; t[i]; ++i) {
        aop_config_t *cfg = load_ok(apr_pstrcat(pool, I_ALL "    enabled: ", t[i], "\n", NULL),
                                    NULL);
        ck_assert_int_eq(inst_at(cfg, 0)->enabled, 1);
    }
    for (i = 0; f[i]; ++i) {
        aop_config_t *cfg = load_ok(apr_pstrcat(pool, I_ALL "    enabled: ", f[i], "\n", NULL),
                                    NULL);
        ck_assert_int_eq(inst_at(cfg, 0)->enabled, 0);
    }
}
END_TEST

START_TEST(long_names_allowed)
{
    const char *n64 = "x123456789012345678901234567890123456789012345678901234567890123";
    aop_config_t *cfg = load_ok(apr_pstrcat(pool, "instances:\n  - name: ", n64, "\n"
                                            I_KEY I_BASE I_VER I_MOD I_DEP, NULL), NULL);

    ck_assert_int_eq((int)strlen(n64), AOP_NAME_MAX);
    ck_assert_str_eq(inst_at(cfg, 0)->name, n64);
    cfg = load_ok("instances:\n  - name: A.b_c-9\n" I_KEY I_BASE I_VER I_MOD I_DEP, NULL);
    ck_assert_str_eq(inst_at(cfg, 0)->name, "A.b_c-9");
}
END_TEST

START_TEST(disabled_instance_needs_no_key)
{
    aop_config_t *cfg = load_ok(I_HEAD I_BASE I_VER I_MOD I_DEP "    enabled: false\n", NULL);

    ck_assert_ptr_null(inst_at(cfg, 0)->api_key);
    ck_assert_int_eq(cfg->warnings->nelts, 0);
}
END_TEST

/* --- ${VAR} --------------------------------------------------------------------- */

START_TEST(env_expansion)
{
    aop_config_t *cfg = load_ok(
        "name: \"${HOST}-${HOST}\"\n"
        "version: ${NOPE:-v-default}\n"
        "logging:\n"
        "  file: ${EMPTY:-fallback.log}\n"
        "  feishu_webhook: cost $$5 and $HOME and $ alone, ${EMPTY}|${TPM:-1}\n"
        I_HEAD
        "    api_key: \"${AZURE_API_KEY_1}\"\n"
        "    api_base: https://${HOST}/openai-prefix/\n"
        I_VER I_MOD I_DEP
        "    max_tpm: ${TPM}\n"
        "    weight: ${NOPE_W:-7}\n", NULL);
    aop_instance_t *inst = inst_at(cfg, 0);

    ck_assert_str_eq(cfg->name, "h.example.com-h.example.com");
    ck_assert_str_eq(cfg->version, "v-default");
    ck_assert_str_eq(cfg->log_file, "fallback.log");
    ck_assert_str_eq(cfg->feishu_webhook, "cost $5 and $HOME and $ alone, |5000");
    ck_assert_str_eq(inst->api_key, SECRET_1);
    ck_assert_str_eq(inst->host, "h.example.com");
    ck_assert_str_eq(inst->base_path, "/openai-prefix");
    ck_assert(inst->max_tpm == 5000);
    ck_assert_int_eq(inst->weight, 7);
    ck_assert_int_eq(cfg->warnings->nelts, 0);
}
END_TEST

START_TEST(env_unset_warns)
{
    aop_config_t *cfg = load_ok(
        "name: x\n"
        "logging:\n"
        "  feishu_webhook: \"${NO_HOOK}\"\n"
        "  file: \"${NO_A}/${NO_B}.log\"\n", NULL);

    ck_assert_str_eq(cfg->feishu_webhook, "");
    ck_assert_str_eq(cfg->log_file, "/.log");
    ck_assert_int_eq(cfg->warnings->nelts, 3);
    ck_assert_str_eq(warning(cfg, 0), "base.yaml:3: logging.feishu_webhook: environment "
                     "variable ${NO_HOOK} is not set, using an empty string");
    ck_assert_str_eq(warning(cfg, 1), "base.yaml:4: logging.file: environment "
                     "variable ${NO_A} is not set, using an empty string");
    ck_assert_str_eq(warning(cfg, 2), "base.yaml:4: logging.file: environment "
                     "variable ${NO_B} is not set, using an empty string");
}
END_TEST

START_TEST(env_errors)
{
    ck_assert_str_eq(load_err(I_HEAD "    api_key: \"inline-secret${AZURE\"\n", NULL),
                     "base.yaml:3: instances[0].api_key: unterminated \"${\" "
                     "(use \"$$\" for a literal \"$\")");
    ck_assert_str_eq(load_err("name: a\nlogging:\n  file: |\n    x ${A\n    }\n", NULL),
                     "base.yaml:3: logging.file: invalid variable name in \"${...}\" "
                     "(use \"$$\" for a literal \"$\")");
    ck_assert_str_eq(load_err("name: ${1X}\n", NULL),
                     "base.yaml:1: name: invalid variable name in \"${...}\" "
                     "(use \"$$\" for a literal \"$\")");
    ck_assert_str_eq(load_err("name: ${}\n", NULL),
                     "base.yaml:1: name: invalid variable name in \"${...}\" "
                     "(use \"$$\" for a literal \"$\")");
    ck_assert_str_eq(load_err("port: ${NO_PORT}\n", NULL),
                     "base.yaml:1: port: expected an integer, got \"\" "
                     "(environment variable ${NO_PORT} is not set)");
    ck_assert_str_eq(load_err("port: ${EMPTY}\n", NULL),
                     "base.yaml:1: port: expected an integer, got \"\"");
    /* values from the environment are named, not shown */
    ck_assert_str_eq(load_err("port: ${AZURE_API_KEY_1}\n", NULL),
                     "base.yaml:1: port: expected an integer, got the value of "
                     "${AZURE_API_KEY_1}");
    ck_assert_str_eq(load_err("routing: {strategy: \"x${EAST_KEY}\"}\n", NULL),
                     "base.yaml:1: routing.strategy: unknown strategy the value of "
                     "${EAST_KEY} (expected one of: failover, weighted, round_robin)");
    ck_assert_str_eq(load_err(I_ALL "    enabled: ${NOPE:-" SECRET_1 "}\n", NULL),
                     "base.yaml:8: instances[0](a).enabled: expected true or false (or "
                     "yes/no, on/off), got the value of ${NOPE}");
    ck_assert_str_eq(load_err(I_ALL "  - name: ${NO_NAME}\n", NULL),
                     "base.yaml:8: instances[1].name: \"\" is not a valid instance name "
                     "(1..64 characters of A-Z a-z 0-9 . _ -) "
                     "(environment variable ${NO_NAME} is not set)");
}
END_TEST

/* --- errors, one per class, with exact file:line:key ---------------------------- */

typedef struct {
    const char *yaml;
    const char *err;
} err_case_t;

static const err_case_t err_cases[] = {
    /* top level */
    { "nmae: x\n", "base.yaml:1: nmae: unknown key (expected one of: name, version, port, "
      "routing, logging, monitoring, instances, aliases, fallbacks, context_window_fallbacks)" },
    { "name: {a: 1}\n", "base.yaml:1: name: expected a string, got a map" },
    { "version: [1]\n", "base.yaml:1: version: expected a string, got a list" },
    { "port: 0\n", "base.yaml:1: port: must be between 1 and 65535, got 0" },
    { "name: a\nport: 65536\n", "base.yaml:2: port: must be between 1 and 65535, got 65536" },
    { "port: http\n", "base.yaml:1: port: expected an integer, got \"http\"" },
    { "port: 0x50\n", "base.yaml:1: port: expected an integer, got \"0x50\"" },
    { "port: 80.0\n", "base.yaml:1: port: expected an integer, got \"80.0\"" },
    { "port: [1]\n", "base.yaml:1: port: expected an integer, got a list" },
    { "port: 99999999999999999999\n",
      "base.yaml:1: port: expected an integer, got \"99999999999999999999\"" },
    /* routing */
    { "routing:\n  strategy: random\n", "base.yaml:2: routing.strategy: unknown strategy "
      "\"random\" (expected one of: failover, weighted, round_robin)" },
    { "routing:\n  strategy: Failover\n", "base.yaml:2: routing.strategy: unknown strategy "
      "\"Failover\" (expected one of: failover, weighted, round_robin)" },
    { "routing: {retries: 17}\n", "base.yaml:1: routing.retries: must be between 0 and 16, "
      "got 17" },
    { "routing: {retries: -1}\n", "base.yaml:1: routing.retries: must be between 0 and 16, "
      "got -1" },
    { "routing:\n  timeout: 0\n", "base.yaml:2: routing.timeout: must be > 0 and <= 86400 "
      "seconds, got 0" },
    { "routing:\n  timeout: -1.5\n", "base.yaml:2: routing.timeout: must be > 0 and <= 86400 "
      "seconds, got -1.5" },
    { "routing:\n  timeout: soon\n", "base.yaml:2: routing.timeout: expected a number of "
      "seconds, got \"soon\"" },
    { "routing:\n  timeout: inf\n", "base.yaml:2: routing.timeout: expected a number of "
      "seconds, got \"inf\"" },
    { "routing:\n  timeout: 1.2.3\n", "base.yaml:2: routing.timeout: expected a number of "
      "seconds, got \"1.2.3\"" },
    { "routing:\n  first_token_timeout: -1\n", "base.yaml:2: routing.first_token_timeout: "
      "must be >= 0 (0: off) and <= 86400 seconds, got -1" },
    { "routing:\n  stream_idle_timeout: later\n", "base.yaml:2: "
      "routing.stream_idle_timeout: expected a number of seconds, got \"later\"" },
    { "routing:\n  first_token_timeout_by_model: 5\n", "base.yaml:2: "
      "routing.first_token_timeout_by_model: expected a map of model: seconds, got a scalar" },
    { "routing:\n  first_token_timeout_by_model: {m1: 90000}\n", "base.yaml:2: "
      "routing.first_token_timeout_by_model.m1: must be >= 0 (0: off) and <= 86400 seconds, "
      "got 90000" },
    { "routing: [failover]\n", "base.yaml:1: routing: expected a map, got a list" },
    { "routing: failover\n", "base.yaml:1: routing: expected a map, got a scalar" },
    { "routing:\n  stratgy: failover\n", "base.yaml:2: routing.stratgy: unknown key "
      "(expected one of: strategy, retries, timeout, max_retry_wait, first_token_timeout, "
      "first_token_timeout_by_model, stream_idle_timeout)" },
    /* logging */
    { "logging:\n  level: verbose\n", "base.yaml:2: logging.level: unknown level "
      "\"verbose\" (expected one of: DEBUG, INFO, WARNING, ERROR, CRITICAL)" },
    { "logging:\n  level: warn\n", "base.yaml:2: logging.level: unknown level "
      "\"warn\" (expected one of: DEBUG, INFO, WARNING, ERROR, CRITICAL)" },
    { "logging: {max_size: -1}\n", "base.yaml:1: logging.max_size: must be >= 0, got -1" },
    { "logging:\n  backup_count: x\n", "base.yaml:2: logging.backup_count: expected an "
      "integer, got \"x\"" },
    { "logging:\n  backup_count: 3000000000\n", "base.yaml:2: logging.backup_count: must be "
      "between 0 and 2147483647, got 3000000000" },
    { I_ALL "    priority: -3000000000\n", "base.yaml:8: instances[0](a).priority: must be "
      "between -2147483648 and 2147483647, got -3000000000" },
    { "logging:\n  file: [a]\n", "base.yaml:2: logging.file: expected a string, got a list" },
    /* monitoring */
    { "monitoring:\n  stats_window_minutes: 61\n", "base.yaml:2: "
      "monitoring.stats_window_minutes: must be between 1 and 60, got 61" },
    { "monitoring:\n  stats_window_minutes: 0\n", "base.yaml:2: "
      "monitoring.stats_window_minutes: must be between 1 and 60, got 0" },
    { "monitoring:\n  additional_windows:\n    - 15\n    - 0\n", "base.yaml:4: "
      "monitoring.additional_windows[1]: must be between 1 and 60, got 0" },
    { "monitoring:\n  additional_windows: 15\n", "base.yaml:2: "
      "monitoring.additional_windows: expected a list, got a scalar" },
    { "monitoring:\n  additional_windows: [[15]]\n", "base.yaml:2: "
      "monitoring.additional_windows[0]: expected an integer, got a list" },
    /* instances, structure */
    { "instances: {a: 1}\n", "base.yaml:1: instances: expected a list, got a map" },
    { "instances: a\n", "base.yaml:1: instances: expected a list, got a scalar" },
    { "instances:\n  - just-a-string\n", "base.yaml:2: instances[0]: expected a map, got a "
      "scalar" },
    { "instances:\n  - api_key: k\n", "base.yaml:2: instances[0].name: missing required "
      "field" },
    { "instances:\n  - api_key: k\n    name:\n", "base.yaml:3: instances[0].name: missing "
      "required field" },
    { "instances:\n  - name: [a]\n", "base.yaml:2: instances[0].name: expected a string, "
      "got a list" },
    /* instance names */
    { "instances:\n  - name: a/b\n", "base.yaml:2: instances[0].name: \"a/b\" is not a valid "
      "instance name (1..64 characters of A-Z a-z 0-9 . _ -)" },
    { "instances:\n  - name: \"a b\"\n", "base.yaml:2: instances[0].name: \"a b\" is not a "
      "valid instance name (1..64 characters of A-Z a-z 0-9 . _ -)" },
    { "instances:\n  - name: \"..\"\n", "base.yaml:2: instances[0].name: \"..\" is not a "
      "valid instance name (1..64 characters of A-Z a-z 0-9 . _ -)" },
    { "instances:\n  - name: \"\"\n", "base.yaml:2: instances[0].name: \"\" is not a "
      "valid instance name (1..64 characters of A-Z a-z 0-9 . _ -)" },
    { "instances:\n  - name: "
      "x1234567890123456789012345678901234567890123456789012345678901234\n",
      "base.yaml:2: instances[0].name: "
      "\"x1234567890123456789012345678901234567890123456789012345678901234\" is not a "
      "valid instance name (1..64 characters of A-Z a-z 0-9 . _ -)" },
    { I_ALL "  - name: b\n" I_KEY I_BASE I_VER I_MOD I_DEP "  - name: a\n",
      "base.yaml:14: instances[2](a).name: duplicate instance name (first defined at "
      "base.yaml:2)" },
    /* instance fields */
    { I_ALL "    provider_type: openai\n", "base.yaml:8: instances[0](a).provider_type: "
      "unsupported provider \"openai\" (expected: azure)" },
    /* @KEYS@: every YAML key of the instance schema, in table order */
    { I_ALL "    wieght: 5\n", "base.yaml:8: instances[0](a).wieght: unknown key (expected "
      "one of: @KEYS@)" },
    { I_ALL "    <<: {weight: 1}\n", "base.yaml:8: instances[0](a).<<: unknown key "
      "(expected one of: @KEYS@)" },
    { I_ALL "    weight: -1\n", "base.yaml:8: instances[0](a).weight: must be >= 0, got -1" },
    { I_ALL "    priority: 1.5\n", "base.yaml:8: instances[0](a).priority: expected an "
      "integer, got \"1.5\"" },
    { I_ALL "    max_tpm: lots\n", "base.yaml:8: instances[0](a).max_tpm: expected an "
      "integer, got \"lots\"" },
    { I_ALL "    max_tpm: -1\n", "base.yaml:8: instances[0](a).max_tpm: must be >= 0, "
      "got -1" },
    { I_ALL "    enabled: maybe\n", "base.yaml:8: instances[0](a).enabled: expected true or "
      "false (or yes/no, on/off), got \"maybe\"" },
    { I_ALL "    enabled: 1\n", "base.yaml:8: instances[0](a).enabled: expected true or "
      "false (or yes/no, on/off), got \"1\"" },
    { I_ALL "    api_version: [v1]\n", "base.yaml:8: instances[0].api_version: duplicate "
      "key (first at line 5)" },
    /* required fields: the key's line, or the owning map's */
    { I_HEAD I_BASE I_VER I_MOD I_DEP, "base.yaml:2: instances[0](a).api_key: missing "
      "required field (needed by an enabled instance)" },
    { I_HEAD "    api_key:\n" I_BASE I_VER I_MOD I_DEP, "base.yaml:3: instances[0](a).api_key:"
      " missing required field (needed by an enabled instance)" },
    { I_HEAD "    api_key: \"\"\n" I_BASE I_VER I_MOD I_DEP, "base.yaml:3: "
      "instances[0](a).api_key: must not be empty for an enabled instance" },
    { I_HEAD "    api_key: {k: inline-secret}\n" I_BASE I_VER I_MOD I_DEP, "base.yaml:3: "
      "instances[0](a).api_key: expected a string, got a map" },
    { I_HEAD "    api_key: ${NO_KEY}\n" I_BASE I_VER I_MOD I_DEP, "base.yaml:3: "
      "instances[0](a).api_key: must not be empty for an enabled instance (environment "
      "variable ${NO_KEY} is not set)" },
    { I_HEAD I_KEY I_VER I_MOD I_DEP, "base.yaml:2: instances[0](a).api_base: missing "
      "required field" },
    { I_HEAD I_KEY "    api_base: ~\n" I_VER I_MOD I_DEP, "base.yaml:4: "
      "instances[0](a).api_base: missing required field" },
    { I_HEAD I_KEY I_BASE I_MOD I_DEP, "base.yaml:2: instances[0](a).api_version: missing "
      "required field" },
    { I_HEAD I_KEY I_BASE I_VER I_DEP, "base.yaml:2: instances[0](a).supported_models: "
      "missing required field" },
    { I_HEAD I_KEY I_BASE "    api_version: \"\"\n" I_MOD I_DEP, "base.yaml:5: "
      "instances[0](a).api_version: \"\" must be [A-Za-z0-9._-]+ (it is part of the URL "
      "query)" },
    { I_HEAD I_KEY I_BASE "    api_version: 2024-01-01&x=1\n" I_MOD I_DEP, "base.yaml:5: "
      "instances[0](a).api_version: \"2024-01-01&x=1\" must be [A-Za-z0-9._-]+ (it is part "
      "of the URL query)" },
    /* models and deployments */
    { I_HEAD I_KEY I_BASE I_VER "    supported_models: []\n" I_DEP, "base.yaml:6: "
      "instances[0](a).supported_models: must list at least one model" },
    { I_HEAD I_KEY I_BASE I_VER "    supported_models: m1\n" I_DEP, "base.yaml:6: "
      "instances[0](a).supported_models: expected a list, got a scalar" },
    { I_HEAD I_KEY I_BASE I_VER "    supported_models:\n      - m1\n      - m1\n" I_DEP,
      "base.yaml:8: instances[0](a).supported_models[1]: duplicate model \"m1\"" },
    { I_HEAD I_KEY I_BASE I_VER "    supported_models: [m1, \"\"]\n" I_DEP, "base.yaml:6: "
      "instances[0](a).supported_models[1]: empty model name" },
    { I_HEAD I_KEY I_BASE I_VER "    supported_models: [m1, {m2: x}]\n" I_DEP, "base.yaml:6: "
      "instances[0](a).supported_models[1]: expected a model name, got a map" },
    { I_HEAD I_KEY I_BASE I_VER "    supported_models:\n      - m1\n      - m3\n" I_DEP,
      "base.yaml:8: instances[0](a).supported_models[1]: model \"m3\" has no entry in "
      "model_deployments" },
    { I_HEAD I_KEY I_BASE I_VER I_MOD, "base.yaml:6: instances[0](a).supported_models[0]: "
      "model \"m1\" has no entry in model_deployments" },
    { I_HEAD I_KEY I_BASE I_VER I_MOD "    model_deployments:\n      m1: d1\n"
      "      m2: \"a/b\"\n", "base.yaml:9: instances[0](a).model_deployments.m2: deployment "
      "name \"a/b\" must be [A-Za-z0-9._-]+ (it is part of the URL path)" },
    { I_HEAD I_KEY I_BASE I_VER I_MOD "    model_deployments: {m1: d1, m2: ..}\n",
      "base.yaml:7: instances[0](a).model_deployments.m2: deployment name \"..\" must be "
      "[A-Za-z0-9._-]+ (it is part of the URL path)" },
    { I_HEAD I_KEY I_BASE I_VER I_MOD "    model_deployments:\n      m1: d1\n      m2:\n",
      "base.yaml:9: instances[0](a).model_deployments.m2: missing required field "
      "(the deployment name)" },
    { I_HEAD I_KEY I_BASE I_VER I_MOD "    model_deployments: [m1, m2]\n", "base.yaml:7: "
      "instances[0](a).model_deployments: expected a map of model: deployment, got a list" },
    { I_HEAD I_KEY I_BASE I_VER I_MOD "    model_deployments:\n      m1: d1\n"
      "      m2: {deployment: d2, stream_resume: maybe}\n", "base.yaml:9: "
      "instances[0](a).model_deployments.m2.stream_resume: expected true or false (or "
      "yes/no, on/off), got \"maybe\"" },
    { I_HEAD I_KEY I_BASE I_VER I_MOD "    model_deployments:\n      m1: d1\n"
      "      m2: {deployment: d2, max_rpm: 1000000001}\n", "base.yaml:9: "
      "instances[0](a).model_deployments.m2.max_rpm: must be between 0 and 1000000000, "
      "got 1000000001" },
    { I_HEAD I_KEY I_BASE I_VER I_MOD "    model_deployments:\n      m1: d1\n"
      "      m2: {max_tpm: 5}\n", "base.yaml:9: instances[0](a).model_deployments.m2.deployment: "
      "missing required field (the deployment name)" },
    { I_HEAD I_KEY I_BASE I_VER I_MOD "    model_deployments:\n      m1: d1\n"
      "      m2: {deployment: d2, tpm: 5}\n", "base.yaml:9: "
      "instances[0](a).model_deployments.m2.tpm: unknown key (expected one of: deployment, "
      "max_tpm, max_rpm, stream_resume)" },
    { I_HEAD I_KEY I_BASE I_VER I_MOD "    model_deployments: {m1: d1, m2: [d2]}\n",
      "base.yaml:7: instances[0](a).model_deployments.m2: expected a deployment name, "
      "got a list" },
    /* YAML itself */
    { "name: [a, b\n", "base.yaml:2: YAML syntax error: did not find expected ',' or ']' "
      "(while parsing a flow sequence at line 1)" },
    { "name: a\n  port: 1\n", "base.yaml:2: YAML syntax error: mapping values are not "
      "allowed in this context" },
    { "name: \"abc\n", "base.yaml:2: YAML syntax error: found unexpected end of stream "
      "(while scanning a quoted scalar at line 1)" },
    { "name: \"\\xff\"\nport: \"a\xff\"\n", "base.yaml:2: YAML syntax error: invalid leading "
      "UTF-8 octet" },
    { "- a\n- b\n", "base.yaml:1: the top level must be a map, not a list" },
    { "just text\n", "base.yaml:1: the top level must be a map, not a scalar" },
    { "port: 1\nname: x\nport: 2\n", "base.yaml:3: port: duplicate key (first at line 1)" },
    { "port: 1\n---\nport: 2\n", "base.yaml:2: only one YAML document per file is allowed" },
    { "port: *p\n", "base.yaml:1: port: unknown alias \"*p\"" },
    { "? [a]\n: 1\n", "base.yaml:1: keys must be strings" },
    { "&k name: *k\n", "base.yaml:1: name: unknown alias \"*k\"" },
    { "routing: {*r : 1}\n", "base.yaml:1: routing: an alias cannot be used as a key" },
    { "name: \"a\\0b\"\n", "base.yaml:1: name: value contains a NUL character" },
};

START_TEST(error_classes)
{
    const err_case_t *ec = &err_cases[_i];
    const char *err = ec->err, *at = strstr(err, "@KEYS@");

    if (at) {
        err = apr_pstrcat(pool, apr_pstrmemdup(pool, err, at - err),
                          aop_field_key_list(pool, AOP_FIELD_YAML), at + 6, NULL);
    }
    ck_assert_str_eq(load_err(ec->yaml, NULL), err);
}
END_TEST

START_TEST(errors_never_show_the_key)
{
    static const char *const bad[] = {
        I_HEAD "    api_key: \"inline-secret\"\n    api_key: \"inline-secret2\"\n",
        I_HEAD "    api_key: \"inline-secret${\"\n",
        I_HEAD "    api_key: \"${AZURE_API_KEY_1\"\n",
        I_HEAD "    api_key: [inline-secret]\n",
        I_HEAD "    api_key: {inline-secret: 1}\n",
        I_HEAD "    api_key: &x inline-secret\n    api_base: *x\n",
        I_HEAD "    api_key: &x \"${AZURE_API_KEY_1}\"\n    api_base: *x\n",
        I_HEAD "    api_key: \"${AZURE_API_KEY_1}\"\n    api_base: https://inline-secret@h\n",
        "name: \"inline-secret\n",
        NULL
    };
    int i;

    for (i = 0; bad[i]; ++i) {
        load_err(bad[i], NULL);     /* asserts that no secret appears */
    }
}
END_TEST

/* --- api_base ------------------------------------------------------------------- */

typedef struct {
    const char *url;
    const char *api_base, *scheme, *host;
    int port;
    const char *origin, *base_path;
    int warns;
} url_case_t;

static const url_case_t url_cases[] = {
    { "https://x.openai.azure.com", "https://x.openai.azure.com", "https",
      "x.openai.azure.com", 443, "https://x.openai.azure.com", "", 0 },
    { "https://x.openai.azure.com/", "https://x.openai.azure.com", "https",
      "x.openai.azure.com", 443, "https://x.openai.azure.com", "", 0 },
    { "https://X.Example.COM:8443//", "https://X.Example.COM:8443", "https",
      "x.example.com", 8443, "https://x.example.com:8443", "", 0 },
    { "https://h.example.com:443/a/b/", "https://h.example.com:443/a/b", "https",
      "h.example.com", 443, "https://h.example.com", "/a/b", 0 },
    { "HTTPS://h.example.com/openai", "HTTPS://h.example.com/openai", "https",
      "h.example.com", 443, "https://h.example.com", "/openai", 0 },
    { "http://localhost:8080/mock", "http://localhost:8080/mock", "http", "localhost",
      8080, "http://localhost:8080", "/mock", 1 },
    { "http://127.0.0.1", "http://127.0.0.1", "http", "127.0.0.1", 80,
      "http://127.0.0.1", "", 1 },
    { "https://[::1]", "https://[::1]", "https", "::1", 443, "https://[::1]", "", 0 },
    { "https://[2001:DB8::a]:9443/p/", "https://[2001:DB8::a]:9443/p", "https",
      "2001:db8::a", 9443, "https://[2001:db8::a]:9443", "/p", 0 },
};

START_TEST(api_base_parsing)
{
    const url_case_t *uc = &url_cases[_i];
    aop_config_t *cfg = load_ok(apr_pstrcat(pool, I_HEAD I_KEY "    api_base: \"", uc->url,
                                            "\"\n" I_VER I_MOD I_DEP, NULL), NULL);
    aop_instance_t *inst = inst_at(cfg, 0);

    ck_assert_str_eq(inst->api_base, uc->api_base);
    ck_assert_str_eq(inst->scheme, uc->scheme);
    ck_assert_str_eq(inst->host, uc->host);
    ck_assert_int_eq(inst->port, uc->port);
    ck_assert_str_eq(inst->origin, uc->origin);
    ck_assert_str_eq(inst->base_path, uc->base_path);
    ck_assert_int_eq(cfg->warnings->nelts, uc->warns);
    if (uc->warns) {
        ck_assert_str_eq(warning(cfg, 0), "base.yaml:4: instances[0](a).api_base: plain "
                         "http:// sends the API key unencrypted; use https://");
    }
}
END_TEST

static const char *const bad_urls[][2] = {
    { "ftp://h.example.com", "must be an absolute http:// or https:// URL" },
    { "h.example.com", "must be an absolute http:// or https:// URL" },
    { "/openai", "must be an absolute http:// or https:// URL" },
    { "", "must be an absolute http:// or https:// URL" },
    { "https://", "has no host" },
    { "https:///openai", "has no host" },
    { "https://:443/", "has no host" },
    { "https://h.example.com/x?api-version=1", "must not contain a query or a fragment" },
    { "https://h.example.com?", "must not contain a query or a fragment" },
    { "https://h.example.com/#frag", "must not contain a query or a fragment" },
    { "https://user:inline-secret@h.example.com",
      "must not contain user information (put the key in api_key)" },
    { "https://h.example.com:0", "has an invalid port (expected 1..65535)" },
    { "https://h.example.com:65536", "has an invalid port (expected 1..65535)" },
    { "https://h.example.com:", "has an invalid port (expected 1..65535)" },
    { "https://h.example.com:-1", "has an invalid port (expected 1..65535)" },
    { "https://h.example.com:44x", "has an invalid port (expected 1..65535)" },
    { "https://h example.com", "must not contain spaces or control characters" },
    { "https://h%2e.com", "has an invalid character in its host name" },
    { "https://[::1", "has an unterminated IPv6 literal" },
    { "https://[zz::1]", "has an invalid IPv6 address" },
    { "https://[]", "has an invalid IPv6 address" },
    { "https://[::1]x", "has garbage after the IPv6 literal" },
    { "https://::1/", "has no host" },
};

START_TEST(api_base_rejects)
{
    const char *url = bad_urls[_i][0];
    const char *err = load_err(apr_pstrcat(pool, I_HEAD I_KEY "    api_base: \"", url,
                                           "\"\n" I_VER I_MOD I_DEP, NULL), NULL);

    ck_assert_str_eq(err, apr_pstrcat(pool, "base.yaml:4: instances[0](a).api_base: ",
                                      bad_urls[_i][1], NULL));
}
END_TEST

/* --- YAML features -------------------------------------------------------------- */

START_TEST(anchors_and_aliases)
{
    aop_config_t *cfg = load_ok(
        "instances:\n"
        "  - name: a\n"
        "    api_key: ka\n"
        "    api_base: &base https://a.example.com/x\n"
        "    api_version: &ver v1\n"
        "    supported_models: &models [m1, m2]\n"
        "    model_deployments: &deps {m1: d1, m2: d2}\n"
        "  - name: b\n"
        "    api_key: kb\n"
        "    api_base: *base\n"
        "    api_version: *ver\n"
        "    supported_models: *models\n"
        "    model_deployments: *deps\n",
        "instances:\n"
        "  - name: b\n"
        "    model_deployments: {m2: b2}\n");
    aop_instance_t *a = inst_at(cfg, 0), *b = inst_at(cfg, 1);

    ck_assert_str_eq(b->base_path, "/x");
    ck_assert_str_eq(b->api_version, "v1");
    ck_assert_str_eq(model_at(b, 1), "m2");
    /* merging into b's copy of the aliased map leaves a's alone */
    ck_assert_str_eq(aop_instance_deployment(b, "m2"), "b2");
    ck_assert_str_eq(aop_instance_deployment(a, "m2"), "d2");
}
END_TEST

START_TEST(alias_bomb_is_bounded)
{
    const char *err = load_err(
        "name: &a [x, x, x, x, x, x, x, x, x, x]\n"
        "version: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "port: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
        "routing: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
        "logging: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
        "monitoring: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n", NULL);

    ck_assert_msg(strstr(err, "too many YAML nodes (more than 1000000)") != NULL, "%s", err);
    ck_assert_msg(!strncmp(err, "base.yaml:6: monitoring[", 24), "%s", err);
}
END_TEST

START_TEST(deep_nesting_is_bounded)
{
    char *doc = apr_pcalloc(pool, 2 * 200 + 16);
    int i;

    strcpy(doc, "name: ");
    for (i = 0; i < 200; ++i) {
        strcat(doc, "[");
    }
    for (i = 0; i < 200; ++i) {
        strcat(doc, "]");
    }
    strcat(doc, "\n");
    ck_assert_msg(strstr(load_err(doc, NULL), "nested too deeply") != NULL, "deep");
}
END_TEST

/* --- small helpers -------------------------------------------------------------- */

START_TEST(model_lookup_is_exact)
{
    aop_config_t *cfg = load_ok(
        I_HEAD I_KEY I_BASE I_VER
        "    supported_models: [gpt-4o, gpt-4o-2024-11-20, GPT-4O-MINI]\n"
        "    model_deployments:\n"
        "      gpt-4o: dep-4o\n"
        "      gpt-4o-2024-11-20: dep-4o-1120\n"
        "      GPT-4O-MINI: dep-mini\n", NULL);
    aop_instance_t *inst = inst_at(cfg, 0);

    ck_assert_str_eq(aop_instance_deployment(inst, "gpt-4o"), "dep-4o");
    ck_assert_str_eq(aop_instance_deployment(inst, "gpt-4o-2024-11-20"), "dep-4o-1120");
    ck_assert_str_eq(aop_instance_deployment(inst, "GPT-4O-MINI"), "dep-mini");
    ck_assert_ptr_null(aop_instance_deployment(inst, "gpt-4o-mini"));
    ck_assert_ptr_null(aop_instance_deployment(inst, "gpt-4o-2024"));
    ck_assert_ptr_null(aop_instance_deployment(inst, "gpt-4"));
    ck_assert_ptr_null(aop_instance_deployment(inst, ""));
    ck_assert_ptr_null(aop_instance_deployment(inst, NULL));
    ck_assert_ptr_null(aop_instance_deployment(NULL, "gpt-4o"));
}
END_TEST

START_TEST(strategy_names)
{
    aop_strategy_e s = AOP_STRATEGY_FAILOVER;

    ck_assert_str_eq(aop_strategy_name(AOP_STRATEGY_FAILOVER), "failover");
    ck_assert_str_eq(aop_strategy_name(AOP_STRATEGY_WEIGHTED), "weighted");
    ck_assert_str_eq(aop_strategy_name(AOP_STRATEGY_ROUND_ROBIN), "round_robin");
    ck_assert_str_eq(aop_strategy_name((aop_strategy_e)42), "unknown");
    ck_assert_int_eq(aop_strategy_parse("weighted", &s), 1);
    ck_assert_int_eq(s, AOP_STRATEGY_WEIGHTED);
    ck_assert_int_eq(aop_strategy_parse("round_robin", &s), 1);
    ck_assert_int_eq(s, AOP_STRATEGY_ROUND_ROBIN);
    ck_assert_int_eq(aop_strategy_parse("failover", &s), 1);
    ck_assert_int_eq(s, AOP_STRATEGY_FAILOVER);
    ck_assert_int_eq(aop_strategy_parse("random", &s), 0);
    ck_assert_int_eq(aop_strategy_parse("", &s), 0);
    ck_assert_int_eq(aop_strategy_parse(NULL, &s), 0);
    ck_assert_int_eq(s, AOP_STRATEGY_FAILOVER);
}
END_TEST

START_TEST(load_texts_names)
{
    aop_config_t *cfg = NULL;
    const char *err = NULL;

    ck_assert_int_eq(aop_config_load_texts(pool, "b", NULL, NULL, NULL, NULL, NULL,
                                           &cfg, &err), APR_EINVAL);
    ck_assert_str_eq(err, "b: no configuration text");
    /* NULL getenv_fn: the process environment */
    ck_assert_int_eq(aop_config_load_texts(pool, "b", "name: x${AOP_SURELY_UNSET_VAR_X}\n",
                                           NULL, NULL, NULL, NULL, &cfg, &err), APR_SUCCESS);
    ck_assert_str_eq(cfg->name, "x");
    ck_assert_int_eq(cfg->warnings->nelts, 1);
}
END_TEST

/* Aliases and fallbacks name models the instances list; each error names its key. */
#define MODELS_BASE \
    "instances:\n" \
    "  - { name: a, api_key: k, api_base: \"https://a.example.net\", api_version: v1,\n" \
    "      supported_models: [m1, m2], model_deployments: { m1: d1, m2: d2 } }\n"

START_TEST(aliases_and_fallbacks)
{
    aop_config_t *cfg = load_ok(MODELS_BASE "aliases: { short: m1 }\n"
                                "fallbacks: { m1: [m2] }\ncontext_window_fallbacks: { m2: [m1] }\n",
                                NULL);
    const apr_array_header_t *fb;

    ck_assert_str_eq(aop_config_model_of(cfg, "short"), "m1");
    ck_assert_str_eq(aop_config_model_of(cfg, "m2"), "m2");
    fb = aop_config_fallbacks(cfg, "m1", 0);
    ck_assert_ptr_nonnull(fb);
    ck_assert_int_eq(fb->nelts, 1);
    ck_assert_str_eq(APR_ARRAY_IDX(fb, 0, const char *), "m2");
    ck_assert_ptr_null(aop_config_fallbacks(cfg, "m2", 0));
    ck_assert_str_eq(APR_ARRAY_IDX(aop_config_fallbacks(cfg, "m2", 1), 0, const char *), "m1");
    ck_assert_str_eq(load_err(MODELS_BASE "aliases: { short: m9 }\n", NULL),
                     "base.yaml:4: aliases.short: model \"m9\" is not in any instance's "
                     "supported_models");
    ck_assert_str_eq(load_err(MODELS_BASE "aliases: { m2: m1 }\n", NULL),
                     "base.yaml:4: aliases.m2: \"m2\" is a model an instance lists; an alias "
                     "must be another name");
    ck_assert_str_eq(load_err(MODELS_BASE "fallbacks: { m1: [m1] }\n", NULL),
                     "base.yaml:4: fallbacks.m1[0]: must name another model");
    ck_assert_str_eq(load_err(MODELS_BASE "fallbacks: { m1: [m3] }\n", NULL),
                     "base.yaml:4: fallbacks.m1[0]: model \"m3\" is not in any instance's "
                     "supported_models");
    ck_assert_str_eq(load_err(MODELS_BASE "fallbacks: { m1: m2 }\n", NULL),
                     "base.yaml:4: fallbacks.m1: expected a list of 1 to 8 models");
}
END_TEST

Suite *aop_config_suite(void)
{
    Suite *s = suite_create("aop_config");
    TCase *tc;

    tc = tcase_create("files");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, seed_config_loads);
    tcase_add_test(tc, aliases_and_fallbacks);
    tcase_add_test(tc, seed_missing_env_file_warns);
    tcase_add_test(tc, seed_unset_key_names_variable);
    tcase_add_test(tc, missing_base_is_an_error);
    tcase_add_test(tc, base_that_is_a_directory);
    tcase_add_test(tc, env_name_must_be_safe);
    tcase_add_test(tc, overlay_from_files);
    suite_add_tcase(s, tc);

    tc = tcase_create("overlay");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, overlay_deep_merges_maps);
    tcase_add_test(tc, stream_limits_read_with_a_per_model_override);
    tcase_add_test(tc, overlay_null_restores_default);
    tcase_add_test(tc, overlay_instances_by_name);
    tcase_add_test(tc, overlay_replaces_instances_of_other_type);
    tcase_add_test(tc, overlay_errors_point_into_env_file);
    suite_add_tcase(s, tc);

    tc = tcase_create("values");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, instance_defaults);
    tcase_add_test(tc, scalar_types);
    tcase_add_test(tc, bool_spellings);
    tcase_add_test(tc, long_names_allowed);
    tcase_add_test(tc, disabled_instance_needs_no_key);
    tcase_add_test(tc, env_expansion);
    tcase_add_test(tc, env_unset_warns);
    tcase_add_test(tc, env_errors);
    tcase_add_test(tc, model_lookup_is_exact);
    tcase_add_test(tc, strategy_names);
    tcase_add_test(tc, load_texts_names);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, error_classes, 0, (int)(sizeof(err_cases) / sizeof(err_cases[0])));
    tcase_add_test(tc, errors_never_show_the_key);
    tcase_add_loop_test(tc, api_base_parsing, 0,
                        (int)(sizeof(url_cases) / sizeof(url_cases[0])));
    tcase_add_loop_test(tc, api_base_rejects, 0,
                        (int)(sizeof(bad_urls) / sizeof(bad_urls[0])));
    tcase_add_test(tc, anchors_and_aliases);
    tcase_add_test(tc, alias_bomb_is_bounded);
    tcase_add_test(tc, deep_nesting_is_bounded);
    suite_add_tcase(s, tc);
    return s;
}
