/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Unit tests for how aop_config.c treats one instance it cannot complete (left out
 * in a lenient load, fatal in a strict one), the shipped example endpoint, and keys
 * read from api_key_file. */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <apr_file_io.h>
#include <apr_pools.h>
#include <apr_strings.h>

#include "aop_config.h"
#include "check_suites.h"
#include "check_tmpdir.h"

#define FILE_KEY "sk-from-a-file-0123456789"

static apr_pool_t *pool;
static char *dir;

static void setup(void)
{
    apr_pool_create(&pool, NULL);
    dir = check_tmpdir_make(pool, "aop-cfg");
}

static void teardown(void)
{
    check_tmpdir_remove(pool, dir);
    apr_pool_destroy(pool);
}

static const char *no_env(void *baton, const char *name)
{
    (void)baton;
    return strcmp(name, "KEY_OK") == 0 ? "sk-env-key" : NULL;
}

static void write_file(const char *name, const char *text, int mode)
{
    const char *path = apr_pstrcat(pool, dir, "/", name, NULL);
    apr_file_t *f;

    ck_assert_int_eq(apr_file_open(&f, path, APR_FOPEN_WRITE | APR_FOPEN_CREATE
                                   | APR_FOPEN_TRUNCATE, APR_FPROT_OS_DEFAULT, pool),
                     APR_SUCCESS);
    ck_assert_int_eq(apr_file_puts(text, f), APR_SUCCESS);
    apr_file_close(f);
    ck_assert_int_eq(chmod(path, (mode_t)mode), 0);
}

static apr_status_t load(aop_config_mode_e mode, const char *env, aop_config_t **cfg,
                         const char **err)
{
    *cfg = NULL;
    *err = NULL;
    return aop_config_load_mode(pool, dir, env, no_env, NULL, mode, cfg, err);
}

#define INSTANCE(name, extra) \
    "  - name: " name "\n" \
    "    api_base: https://" name ".openai.azure.com\n" \
    "    api_version: 2024-10-21\n" \
    "    supported_models: [gpt-4o]\n" \
    "    model_deployments: { gpt-4o: d }\n" extra

static const char *names_of(const aop_config_t *cfg)
{
    const char *out = "";
    int i;

    for (i = 0; i < cfg->instances->nelts; i++) {
        out = apr_pstrcat(pool, out, i ? "," : "",
                          APR_ARRAY_IDX(cfg->instances, i, aop_instance_t *)->name, NULL);
    }
    return out;
}

START_TEST(bad_instance_fails_strict_and_is_left_out_lenient)
{
    aop_config_t *cfg;
    const char *err;
    const aop_left_out_t *lo;

    write_file("base.yaml", "instances:\n"
               INSTANCE("good", "    api_key: ${KEY_OK}\n")
               INSTANCE("nokey", "    api_key: ${AZURE_API_KEY_2}\n")
               "  - name: nobase\n    api_key: k\n"
               INSTANCE("alsogood", "    api_key: inline\n"), 0644);
    ck_assert_int_ne(load(AOP_CONFIG_STRICT, NULL, &cfg, &err), APR_SUCCESS);
    ck_assert_ptr_nonnull(strstr(err, "AZURE_API_KEY_2"));

    ck_assert_int_eq(load(AOP_CONFIG_LENIENT, NULL, &cfg, &err), APR_SUCCESS);
    ck_assert_str_eq(names_of(cfg), "good,alsogood");
    ck_assert_int_eq(cfg->left_out->nelts, 2);
    lo = &APR_ARRAY_IDX(cfg->left_out, 0, aop_left_out_t);
    ck_assert_str_eq(lo->name, "nokey");
    /* file, line and key, and the variable to set */
    ck_assert_msg(strstr(lo->problem, "/base.yaml:13: instances[1](nokey).api_key:") != NULL, "%s", lo->problem);
    ck_assert_ptr_nonnull(strstr(lo->problem, "${AZURE_API_KEY_2} is not set"));
    lo = &APR_ARRAY_IDX(cfg->left_out, 1, aop_left_out_t);
    ck_assert_str_eq(lo->name, "nobase");
    ck_assert_ptr_nonnull(strstr(lo->problem, "instances[2](nobase).api_base: missing"));
}
END_TEST

START_TEST(problems_outside_instances_stay_fatal_when_lenient)
{
    aop_config_t *cfg;
    const char *err;

    write_file("base.yaml", "routing: { strategy: fastest }\ninstances:\n"
               INSTANCE("good", "    api_key: k\n"), 0644);
    ck_assert_int_ne(load(AOP_CONFIG_LENIENT, NULL, &cfg, &err), APR_SUCCESS);
    ck_assert_ptr_nonnull(strstr(err, "routing.strategy"));
    write_file("base.yaml", "instances: [\n", 0644);
    ck_assert_int_ne(load(AOP_CONFIG_LENIENT, NULL, &cfg, &err), APR_SUCCESS);
}
END_TEST

START_TEST(an_unnamed_or_broken_entry_is_named_by_its_place)
{
    aop_config_t *cfg;
    const char *err;

    write_file("base.yaml", "instances:\n  - just a string\n"
               INSTANCE("good", "    api_key: k\n"), 0644);
    ck_assert_int_eq(load(AOP_CONFIG_LENIENT, NULL, &cfg, &err), APR_SUCCESS);
    ck_assert_str_eq(names_of(cfg), "good");
    ck_assert_str_eq(APR_ARRAY_IDX(cfg->left_out, 0, aop_left_out_t).name, "instances[0]");
}
END_TEST

START_TEST(shipped_example_endpoint_is_left_out_with_what_to_edit)
{
    static const char *const hosts[] = { "example", "example-westus", "EXAMPLE" };
    aop_config_t *cfg;
    const char *err;
    int i;

    for (i = 0; i < 3; i++) {
        write_file("base.yaml", apr_psprintf(pool, "instances:\n"
                   "  - name: instance1\n"
                   "    api_key: ${AZURE_API_KEY_1}\n"
                   "    api_base: https://%s.openai.azure.com\n"
                   "    api_version: 2024-10-21\n"
                   "    supported_models: [gpt-4o]\n"
                   "    model_deployments: { gpt-4o: d }\n"
                   INSTANCE("good", "    api_key: k\n"), hosts[i]), 0644);
        /* Even configtest passes: a fresh install must not break Apache. */
        ck_assert_int_eq(load(AOP_CONFIG_STRICT, NULL, &cfg, &err), APR_SUCCESS);
        ck_assert_str_eq(names_of(cfg), "good");
        ck_assert_ptr_nonnull(strstr(APR_ARRAY_IDX(cfg->warnings, cfg->warnings->nelts - 1,
                                                   const char *),
                                     "base.yaml:4: instances[0](instance1).api_base: "));
        ck_assert_ptr_nonnull(strstr(APR_ARRAY_IDX(cfg->warnings, cfg->warnings->nelts - 1,
                                                   const char *), "YOUR-RESOURCE"));
    }
    ck_assert(!aop_config_placeholder_host("examples.openai.azure.com"));
    ck_assert(!aop_config_placeholder_host("example.com"));
    ck_assert(!aop_config_placeholder_host("contoso.openai.azure.com"));
    ck_assert(!aop_config_placeholder_host(NULL));
}
END_TEST

START_TEST(api_key_file_gives_the_key)
{
    aop_config_t *cfg;
    const char *err;
    const aop_instance_t *inst;

    write_file("one.key", FILE_KEY "\r\n", 0640);
    write_file("two.key", "  sk-two  \nsecond line ignored\n", 0600);
    write_file("base.yaml", apr_pstrcat(pool, "instances:\n"
               INSTANCE("one", "    api_key_file: one.key\n")
               INSTANCE("two", "    api_key_file: "), dir, "/two.key\n", NULL), 0644);
    ck_assert_int_eq(load(AOP_CONFIG_STRICT, NULL, &cfg, &err), APR_SUCCESS);
    inst = APR_ARRAY_IDX(cfg->instances, 0, aop_instance_t *);
    ck_assert_str_eq(inst->api_key, FILE_KEY);
    ck_assert_str_eq(inst->api_key_file, apr_pstrcat(pool, dir, "/one.key", NULL));
    ck_assert_str_eq(apr_table_get(inst->sources, "api_key"),
                     apr_pstrcat(pool, dir, "/base.yaml", NULL));
    ck_assert_str_eq(APR_ARRAY_IDX(cfg->instances, 1, aop_instance_t *)->api_key, "  sk-two");
}
END_TEST

static void assert_key_file_refused(const char *why)
{
    aop_config_t *cfg;
    const char *err;

    ck_assert_int_ne(load(AOP_CONFIG_STRICT, NULL, &cfg, &err), APR_SUCCESS);
    ck_assert_msg(strstr(err, why) != NULL, "%s", err);
    ck_assert_msg(strstr(err, "instances[0](one).api_key_file") != NULL, "%s", err);
    ck_assert_msg(strstr(err, FILE_KEY) == NULL, "key leaked: %s", err);
    ck_assert_int_eq(load(AOP_CONFIG_LENIENT, NULL, &cfg, &err), APR_SUCCESS);
    ck_assert_int_eq(cfg->instances->nelts, 0);
    ck_assert_int_eq(cfg->left_out->nelts, 1);
    ck_assert_msg(strstr(APR_ARRAY_IDX(cfg->left_out, 0, aop_left_out_t).problem,
                         FILE_KEY) == NULL, "key leaked");
}

START_TEST(api_key_file_refusals)
{
    write_file("base.yaml", "instances:\n" INSTANCE("one", "    api_key_file: one.key\n"),
               0644);
    assert_key_file_refused("No such file");
    write_file("one.key", FILE_KEY "\n", 0644);
    assert_key_file_refused("can be read or written by others (mode 0644)");
    write_file("one.key", FILE_KEY "\n", 0602);
    assert_key_file_refused("(mode 0602)");
    write_file("one.key", "\n\n", 0600);
    assert_key_file_refused("must hold the key");
    write_file("one.key", FILE_KEY "\x01\n", 0600);
    assert_key_file_refused("must be printable characters only");
    write_file("one.key", FILE_KEY "\n", 0600);
    write_file("base.yaml", "instances:\n"
               INSTANCE("one", "    api_key_file: one.key\n    api_key: inline\n"), 0644);
    assert_key_file_refused("set either api_key or api_key_file, not both");
}
END_TEST

START_TEST(api_key_file_and_api_key_across_layers)
{
    aop_config_t *cfg;
    const char *err;

    write_file("one.key", FILE_KEY "\n", 0600);
    /* the overlay's file replaces the base's inline key */
    write_file("base.yaml", "instances:\n" INSTANCE("one", "    api_key: ${KEY_OK}\n"), 0644);
    write_file("prod.yaml", "instances:\n  - name: one\n    api_key_file: one.key\n", 0644);
    ck_assert_int_eq(load(AOP_CONFIG_STRICT, "prod", &cfg, &err), APR_SUCCESS);
    ck_assert_str_eq(APR_ARRAY_IDX(cfg->instances, 0, aop_instance_t *)->api_key, FILE_KEY);
    /* the overlay's inline key replaces the base's file */
    write_file("base.yaml", "instances:\n" INSTANCE("one", "    api_key_file: one.key\n"),
               0644);
    write_file("prod.yaml", "instances:\n  - name: one\n    api_key: ${KEY_OK}\n", 0644);
    ck_assert_int_eq(load(AOP_CONFIG_STRICT, "prod", &cfg, &err), APR_SUCCESS);
    ck_assert_str_eq(APR_ARRAY_IDX(cfg->instances, 0, aop_instance_t *)->api_key,
                     "sk-env-key");
    ck_assert_ptr_null(APR_ARRAY_IDX(cfg->instances, 0, aop_instance_t *)->api_key_file);
}
END_TEST

#define ENTRA(more) \
    "    auth:\n" \
    "      type: entra\n" \
    "      tenant_id: contoso.onmicrosoft.com\n" \
    "      client_id: app1\n" more

/* auth: is a map in YAML, its keys the schema's auth.* rows; an Entra instance needs
 * no api_key, but its secret (inline or from a file with api_key_file's rules). */
START_TEST(auth_map_gives_an_entra_credential)
{
    aop_config_t *cfg;
    const char *err;
    const aop_instance_t *inst;

    write_file("sp.secret", FILE_KEY "\n", 0640);
    write_file("base.yaml", "instances:\n"
               INSTANCE("one", ENTRA("      client_secret_file: sp.secret\n"
                                     "      authority_host: http://127.0.0.1:9\n"))
               INSTANCE("two", "    auth: { type: managed_identity }\n"), 0644);
    ck_assert_int_eq(load(AOP_CONFIG_STRICT, NULL, &cfg, &err), APR_SUCCESS);
    inst = APR_ARRAY_IDX(cfg->instances, 0, aop_instance_t *);
    ck_assert_str_eq(inst->auth_type, "entra");
    ck_assert_str_eq(inst->tenant_id, "contoso.onmicrosoft.com");
    ck_assert_str_eq(inst->client_id, "app1");
    ck_assert_str_eq(inst->client_secret, FILE_KEY);
    ck_assert_str_eq(inst->authority_host, "http://127.0.0.1:9");
    ck_assert_ptr_null(inst->api_key);
    ck_assert_str_eq(apr_table_get(inst->sources, "auth.client_secret"),
                     apr_pstrcat(pool, dir, "/base.yaml", NULL));
    ck_assert_str_eq(APR_ARRAY_IDX(cfg->instances, 1, aop_instance_t *)->auth_type,
                     "managed_identity");
}
END_TEST

static void assert_auth_refused(const char *yaml, const char *where, const char *why)
{
    aop_config_t *cfg;
    const char *err;

    write_file("base.yaml", apr_pstrcat(pool, "instances:\n", yaml, NULL), 0644);
    ck_assert_int_ne(load(AOP_CONFIG_STRICT, NULL, &cfg, &err), APR_SUCCESS);
    ck_assert_msg(strstr(err, where) != NULL, "%s", err);
    ck_assert_msg(strstr(err, why) != NULL, "%s", err);
    ck_assert_msg(strstr(err, "s3cr3t-value") == NULL, "secret leaked: %s", err);
}

START_TEST(auth_refusals)
{
    write_file("sp.secret", FILE_KEY "\n", 0640);
    assert_auth_refused(INSTANCE("one", ENTRA("")), "instances[0](one).auth.client_secret",
                        "missing required field (needed by auth.type entra");
    assert_auth_refused(INSTANCE("one", "    auth: { type: entra, client_id: a, "
                                 "client_secret: s3cr3t-value }\n"),
                        "instances[0](one).auth.tenant_id", "missing required field");
    assert_auth_refused(INSTANCE("one", "    auth: { type: kerberos }\n"),
                        "instances[0](one).auth.type", "unknown auth type \"kerberos\"");
    assert_auth_refused(INSTANCE("one", "    auth: { type: entra, colour: red }\n"),
                        "instances[0](one).auth.colour", "unknown key");
    assert_auth_refused(INSTANCE("one", "    auth: entra\n"), "instances[0](one).auth",
                        "expected a map");
    assert_auth_refused(INSTANCE("one", "    auth: { type: entra, tenant_id: ../etc }\n"),
                        "instances[0](one).auth.tenant_id", "must be [A-Za-z0-9._-]+");
    assert_auth_refused(INSTANCE("one", "    auth: { type: managed_identity, "
                                 "authority_host: \"ftp://x\" }\n"),
                        "instances[0](one).auth.authority_host", "must start with https://");
    assert_auth_refused(INSTANCE("one", ENTRA("      client_secret: s3cr3t-value\n"
                                              "      client_secret_file: sp.secret\n")),
                        "instances[0](one).auth.client_secret_file",
                        "set either auth.client_secret or auth.client_secret_file");
}
END_TEST

Suite *aop_config_instances_suite(void)
{
    Suite *s = suite_create("aop_config_instances");
    TCase *tc = tcase_create("instances");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, bad_instance_fails_strict_and_is_left_out_lenient);
    tcase_add_test(tc, problems_outside_instances_stay_fatal_when_lenient);
    tcase_add_test(tc, an_unnamed_or_broken_entry_is_named_by_its_place);
    tcase_add_test(tc, shipped_example_endpoint_is_left_out_with_what_to_edit);
    tcase_add_test(tc, api_key_file_gives_the_key);
    tcase_add_test(tc, api_key_file_refusals);
    tcase_add_test(tc, api_key_file_and_api_key_across_layers);
    tcase_add_test(tc, auth_map_gives_an_entra_credential);
    tcase_add_test(tc, auth_refusals);
    suite_add_tcase(s, tc);
    return s;
}
