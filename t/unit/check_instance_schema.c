/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Unit tests for the instance schema (aop_instance_schema.c): every row of
 * aop_instance_fields[] is walked, and a value of its own for that field goes
 *   YAML -> instance (aop_config) -> effective (aop_layers) -> JSON (aop_instance_json)
 *   -> store (aop_store) -> effective -> JSON
 * and must survive each step: masked where the API masks it, kept where the store keeps
 * it, absent from every JSON when the field is YAML's alone.  A row without a sample
 * below, or of a type show() cannot render, fails: adding a field to the table means
 * adding its sample here. */
#include <stdlib.h>
#include <string.h>

#include <apr_file_io.h>
#include <apr_pools.h>
#include <apr_strings.h>

#include "aop_config.h"
#include "aop_instance_json.h"
#include "aop_json.h"
#include "aop_layers.h"
#include "aop_store.h"
#include "check_suites.h"
#include "check_tmpdir.h"

#define FILE_KEY "sk-from-file-0123456789"

static apr_pool_t *pool;
static char *dir;
static const char *db;
static const char *base_yaml;

/* A value of one field.  yaml is written after "KEY: "; json is the value as
 * aop_instance_to_json(inst, 1) writes it, and shown as the API shows it (NULL: the
 * same).  "@DIR@" stands for the test's directory.  Some fields need another one
 * changed: also_key's base value becomes also_yaml (NULL: left out).  is_default says
 * that the only acceptable value is the default, so that the test cannot ask for a
 * value that differs from it. */
typedef struct {
    const char *key;
    const char *yaml;
    const char *json;
    const char *shown;
    const char *also_key;
    const char *also_yaml;
    int is_default;
} sample_t;

static const sample_t samples[] = {
    { "name", "sample-one", "\"sample-one\"", NULL, NULL, NULL, 0 },
    { "provider_type", "azure", "\"azure\"", NULL, NULL, NULL, 1 },
    { "api_key", "sk-sample-0123456789", "\"sk-sample-0123456789\"", "\"***\"",
      NULL, NULL, 0 },
    { "api_key_file", "sample.key", "\"@DIR@/sample.key\"", NULL, "api_key", NULL, 0 },
    { "api_base", "https://Sample.example.com:8443/base/",
      "\"https://Sample.example.com:8443/base\"", NULL, NULL, NULL, 0 },
    { "api_version", "2025-01-01-preview", "\"2025-01-01-preview\"", NULL, NULL, NULL, 0 },
    { "responses_api_version", "2025-03-01-preview", "\"2025-03-01-preview\"", NULL, NULL,
      NULL, 0 },
    { "priority", "-7", "-7", NULL, NULL, NULL, 0 },
    { "weight", "3", "3", NULL, NULL, NULL, 0 },
    { "max_tpm", "5000000000", "5000000000", NULL, NULL, NULL, 0 },
    { "max_rpm", "900", "900", NULL, NULL, NULL, 0 },
    { "enabled", "off", "false", NULL, NULL, NULL, 0 },
    { "supported_models", "[m2, m1]", "[\"m2\",\"m1\"]", NULL,
      "model_deployments", "{m1: d1, m2: d2}", 0 },
    /* The object form, with the deployment's own limits (the plain form is the
     * base's and every other sample's). */
    { "model_deployments", "{m1: {max_rpm: 900, deployment: dep-sample, max_tpm: 150000}}",
      "{\"m1\":{\"deployment\":\"dep-sample\",\"max_tpm\":150000,\"max_rpm\":900}}",
      NULL, NULL, NULL, 0 },
    { "pool_max", "12", "12", NULL, NULL, NULL, 0 },
    { "pool_ttl", "240", "240", NULL, NULL, NULL, 0 },
    { "disable_reuse", "yes", "true", NULL, NULL, NULL, 0 },
    { "tcp_keepalive", "on", "true", NULL, NULL, NULL, 0 },
    { "connect_timeout", "7", "7", NULL, NULL, NULL, 0 },
    { "auth.type", "managed_identity", "\"managed_identity\"", NULL, NULL, NULL, 0 },
    { "auth.tenant_id", "tenant-sample.onmicrosoft.com", "\"tenant-sample.onmicrosoft.com\"",
      NULL, NULL, NULL, 0 },
    { "auth.client_id", "client-sample", "\"client-sample\"", NULL, NULL, NULL, 0 },
    { "auth.client_secret", "cs-sample-0123456789", "\"cs-sample-0123456789\"", "\"***\"",
      NULL, NULL, 0 },
    { "auth.client_secret_file", "sample.key", "\"@DIR@/sample.key\"", NULL, NULL, NULL, 0 },
    { "auth.client_certificate_file", "/etc/aoproxy/sp.pem", "\"/etc/aoproxy/sp.pem\"",
      NULL, NULL, NULL, 0 },
    { "auth.authority_host", "http://127.0.0.1:9", "\"http://127.0.0.1:9\"", NULL,
      NULL, NULL, 0 },
    { "auth.federated_token_file", "/var/run/token", "\"/var/run/token\"", NULL,
      NULL, NULL, 0 },
};

/* The instance every sample changes one field of: valid as it is. */
static const char *const base_values[][2] = {
    { "name", "base-one" },
    { "api_key", "sk-base-0123456789" },
    { "api_base", "https://base.example.com" },
    { "api_version", "2024-02-01" },
    { "supported_models", "[m1]" },
    { "model_deployments", "{m1: d1}" },
};

static void setup(void)
{
    apr_file_t *f;
    const char *key;

    apr_pool_create(&pool, NULL);
    dir = check_tmpdir_make(pool, "aop-schema");
    db = apr_pstrcat(pool, dir, "/instances.db", NULL);
    base_yaml = apr_pstrcat(pool, dir, "/base.yaml", NULL);
    key = apr_pstrcat(pool, dir, "/sample.key", NULL);
    ck_assert_int_eq(apr_file_open(&f, key, APR_FOPEN_WRITE | APR_FOPEN_CREATE,
                                   APR_FPROT_UREAD | APR_FPROT_UWRITE, pool), APR_SUCCESS);
    ck_assert_int_eq(apr_file_puts(FILE_KEY "\n", f), APR_SUCCESS);
    apr_file_close(f);
}

static void teardown(void)
{
    check_tmpdir_remove(pool, dir);
    apr_pool_destroy(pool);
}

static const char *with_dir(const char *text)
{
    const char *at = text ? strstr(text, "@DIR@") : NULL;

    return at ? apr_pstrcat(pool, apr_pstrmemdup(pool, text, at - text), dir, at + 5, NULL)
              : text;
}

static const sample_t *sample_of(const aop_field_t *f)
{
    size_t i;

    for (i = 0; i < sizeof(samples) / sizeof(samples[0]); ++i) {
        if (!strcmp(samples[i].key, f->key)) {
            return &samples[i];
        }
    }
    ck_abort_msg("field \"%s\" has no sample in t/unit/check_instance_schema.c: add one",
                 f->key);
    return NULL;
}

static const aop_field_t *row(int i)
{
    return &aop_instance_fields[i];
}

static int rows(void)
{
    int n = 0;

    while (aop_instance_fields[n].key) {
        ++n;
    }
    return n;
}

/* --------------------------------------------------------------------------
 * a field's value as JSON text, read from the member itself (not through the codec)
 */
static json_object *models_of(const apr_array_header_t *models)
{
    json_object *a = json_object_new_array();
    int i;

    for (i = 0; models && i < models->nelts; ++i) {
        json_object_array_add(a, json_object_new_string(APR_ARRAY_IDX(models, i,
                                                                      const char *)));
    }
    return a;
}

static int by_text(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A deployment's name, or its object form with the limits it has (read from the
 * limits map itself). */
static json_object *deployment_of(const aop_instance_t *inst, const char *model,
                                  const char *dep)
{
    const aop_deployment_limits_t *lim = aop_instance_limits(inst, model);
    json_object *o;

    if (!lim) {
        return json_object_new_string(dep);
    }
    o = json_object_new_object();
    json_object_object_add(o, "deployment", json_object_new_string(dep));
    if (lim->max_tpm) {
        json_object_object_add(o, "max_tpm", json_object_new_int64(lim->max_tpm));
    }
    if (lim->max_rpm) {
        json_object_object_add(o, "max_rpm", json_object_new_int64(lim->max_rpm));
    }
    return o;
}

/* Sorted by model, so that the text does not depend on the hash's order. */
static json_object *deployments_of(const aop_instance_t *inst, apr_hash_t *deps)
{
    apr_array_header_t *keys = apr_array_make(pool, 4, sizeof(const char *));
    json_object *o = json_object_new_object();
    apr_hash_index_t *hi;
    const char *model;
    int i;

    for (hi = deps ? apr_hash_first(pool, deps) : NULL; hi; hi = apr_hash_next(hi)) {
        apr_hash_this(hi, (const void **)&model, NULL, NULL);
        APR_ARRAY_PUSH(keys, const char *) = model;
    }
    qsort(keys->elts, (size_t)keys->nelts, sizeof(const char *), by_text);
    for (i = 0; i < keys->nelts; ++i) {
        model = APR_ARRAY_IDX(keys, i, const char *);
        json_object_object_add(o, model, deployment_of(inst, model,
                                                       apr_hash_get(deps, model,
                                                                    APR_HASH_KEY_STRING)));
    }
    return o;
}

static const char *show(const aop_instance_t *inst, const aop_field_t *f)
{
    json_object *v = NULL;
    const char *s;

    switch (f->type) {
    case AOP_FIELD_STRING:
    case AOP_FIELD_URL:
    case AOP_FIELD_FILE:
        s = *AOP_FIELD_AT(inst, f, const char *const);
        v = s ? json_object_new_string(s) : NULL;
        break;
    case AOP_FIELD_INT:
        v = json_object_new_int(*AOP_FIELD_AT(inst, f, const int));
        break;
    case AOP_FIELD_INT64:
        v = json_object_new_int64(*AOP_FIELD_AT(inst, f, const apr_int64_t));
        break;
    case AOP_FIELD_BOOL:
        v = json_object_new_boolean(*AOP_FIELD_AT(inst, f, const int));
        break;
    case AOP_FIELD_MODELS:
        v = models_of(*AOP_FIELD_AT(inst, f, apr_array_header_t *const));
        break;
    case AOP_FIELD_DEPLOYMENTS:
        v = deployments_of(inst, *AOP_FIELD_AT(inst, f, apr_hash_t *const));
        break;
    default:
        ck_abort_msg("field \"%s\" has a type (%d) show() cannot render: teach it",
                     f->key, (int)f->type);
    }
    return aop_json_to_string(pool, aop_json_own(pool, v));
}

/* The value of key in a JSON object as text, or NULL when the key is absent. */
static const char *json_value(json_object *obj, const char *key)
{
    json_object *v;

    if (!json_object_object_get_ex(obj, key, &v)) {
        return NULL;
    }
    return aop_json_to_string(pool, v);
}

static int is_api(const aop_field_t *f)
{
    return (f->flags & AOP_FIELD_API) != 0;
}

/* --------------------------------------------------------------------------
 * the steps
 */

/* The base instance with the sample's field (and its also_key) changed, every key in
 * table order. */
static const char *yaml_of(const sample_t *s)
{
    const char *text = "instances:\n", *value;
    const aop_field_t *f;
    size_t i;

    for (f = aop_instance_fields; f->key; ++f) {
        value = NULL;
        for (i = 0; i < sizeof(base_values) / sizeof(base_values[0]); ++i) {
            value = strcmp(base_values[i][0], f->key) ? value : base_values[i][1];
        }
        value = (s->also_key && !strcmp(s->also_key, f->key)) ? s->also_yaml : value;
        value = strcmp(s->key, f->key) ? value : s->yaml;
        if (value) {
            text = apr_pstrcat(pool, text, f == aop_instance_fields ? "  - " : "    ",
                               f->key, ": ", value, "\n", NULL);
        }
    }
    return text;
}

static aop_instance_t *from_yaml(const sample_t *s, const aop_field_t *f, const char *want)
{
    aop_config_t *cfg;
    const char *err = NULL;
    aop_instance_t *inst;

    ck_assert_msg(aop_config_load_texts(pool, base_yaml, yaml_of(s), NULL, NULL, NULL, NULL,
                                        &cfg, &err) == APR_SUCCESS,
                  "%s: YAML refused: %s", f->key, err);
    ck_assert_int_eq(cfg->instances->nelts, 1);
    inst = APR_ARRAY_IDX(cfg->instances, 0, aop_instance_t *);
    ck_assert_msg(!strcmp(show(inst, f), want), "%s: YAML gave %s, not %s", f->key,
                  show(inst, f), want);
    ck_assert_str_eq(apr_table_get(inst->sources, f->key), base_yaml);
    return inst;
}

static aop_effective_t *only(apr_array_header_t *eff)
{
    ck_assert_ptr_nonnull(eff);
    ck_assert_int_eq(eff->nelts, 1);
    return APR_ARRAY_IDX(eff, 0, aop_effective_t *);
}

/* The effective instance has the value, and says where it came from; a field of
 * YAML's alone is not carried (the live document has no place for it). */
static void check_effective(const aop_effective_t *e, const aop_field_t *f,
                            const char *want, aop_layer_e layer, const char *location)
{
    const aop_field_source_t *src = apr_hash_get(e->sources, f->key, APR_HASH_KEY_STRING);

    if (!is_api(f)) {
        ck_assert_str_eq(show(e->inst, f), show(aop_instance_new(pool, "t", 0), f));
        ck_assert_ptr_null(src);
        return;
    }
    ck_assert_msg(!strcmp(show(e->inst, f), want), "%s: effective %s, not %s", f->key,
                  show(e->inst, f), want);
    ck_assert_ptr_nonnull(src);
    ck_assert_str_eq(aop_layer_name(src->layer), aop_layer_name(layer));
    ck_assert_str_eq(src->location, location);
}

/* JSON as the API shows it (masked) and as the store keeps it, read back both ways:
 * the full one as an add would, the masked one as a PATCH of the instance would (a
 * secret's mask keeps the secret). */
static const char *check_json(const aop_effective_t *e, const aop_field_t *f,
                              const sample_t *s, const char *want)
{
    json_object *full = aop_json_own(pool, aop_instance_to_json(e->inst, 1));
    json_object *masked = aop_json_own(pool, aop_instance_to_json(e->inst, 0));
    aop_instance_t *back;
    const char *err, *field;

    if (!is_api(f)) {
        ck_assert_ptr_null(json_value(full, f->key));
        ck_assert_ptr_null(json_value(masked, f->key));
        return aop_json_to_string(pool, masked);
    }
    ck_assert_str_eq(json_value(full, f->key), want);
    ck_assert_str_eq(json_value(masked, f->key), s->shown ? s->shown : want);
    ck_assert_msg(aop_instance_from_json(pool, full, NULL, 0, &back, &err, &field)
                  == APR_SUCCESS, "%s: JSON refused: %s", f->key, err);
    ck_assert_str_eq(show(back, f), want);
    ck_assert_msg(aop_instance_from_json(pool, masked, e->inst, 1, &back, &err, &field)
                  == APR_SUCCESS, "%s: masked JSON refused: %s", f->key, err);
    ck_assert_str_eq(show(back, f), want);
    return aop_json_to_string(pool, masked);
}

/* The live document (aop_effective_to_json) the processes share, decoded again. */
static void check_live(const aop_effective_t *e, const aop_field_t *f, const char *want)
{
    json_object *doc = aop_json_own(pool, aop_effective_to_json(e, 1));
    aop_effective_t *back;
    const char *err;

    ck_assert_msg(aop_effective_from_json(pool, doc, &back, &err) == APR_SUCCESS,
                  "%s: live document refused: %s", f->key, err);
    if (is_api(f)) {
        ck_assert_str_eq(show(back->inst, f), want);
    }
}

/* Stored, loaded, merged without YAML: the same value (the store keeps secrets), the
 * record owns the field, the history masks it, and the API's JSON is as before. */
static void check_store(const aop_effective_t *e, const aop_field_t *f, const sample_t *s,
                        const char *want, const char *masked)
{
    apr_array_header_t *records, *eff, *versions;
    aop_store_result_t res;
    aop_store_record_t *r;
    aop_store_version_t *v;
    int version;

    ck_assert_msg(aop_store_put(pool, db, e->inst, "schema-test", "add", NULL, &version, &res)
                  == APR_SUCCESS, "%s: put: %s", f->key, res.message);
    ck_assert_int_eq(aop_store_load(pool, db, &records, &res), APR_SUCCESS);
    ck_assert_int_eq(records->nelts, 1);
    r = APR_ARRAY_IDX(records, 0, aop_store_record_t *);
    ck_assert_int_eq(apr_hash_get(r->owned, f->key, APR_HASH_KEY_STRING) != NULL, is_api(f));
    ck_assert_int_eq(aop_layers_merge(pool, NULL, records, db, &eff, NULL), APR_SUCCESS);
    check_effective(only(eff), f, want, AOP_LAYER_DATABASE, db);
    if (is_api(f)) {
        ck_assert_str_eq(show(r->inst, f), want);
    }
    ck_assert_str_eq(aop_json_to_string(pool, aop_json_own(pool,
                         aop_instance_to_json(only(eff)->inst, 0))), masked);
    ck_assert_int_eq(aop_store_versions(pool, db, e->inst->name, &versions, &res),
                     APR_SUCCESS);
    v = APR_ARRAY_IDX(versions, 0, aop_store_version_t *);
    if (is_api(f)) {
        ck_assert_str_eq(json_value(v->instance, f->key), s->shown ? s->shown : want);
    }
}

/* --------------------------------------------------------------------------
 * the tests
 */

/* One row per loop iteration: its sample through every step. */
START_TEST(field_round_trip)
{
    const aop_field_t *f = row(_i);
    const sample_t *s = sample_of(f);
    const char *want = with_dir(s->json), *masked;
    apr_array_header_t *yaml, *eff;
    aop_instance_t *inst;

    ck_assert_msg(s->is_default || strcmp(want, show(aop_instance_new(pool, "t", 0), f)),
                  "%s: the sample is the default, which proves nothing", f->key);
    inst = from_yaml(s, f, want);
    yaml = apr_array_make(pool, 1, sizeof(aop_instance_t *));
    APR_ARRAY_PUSH(yaml, aop_instance_t *) = inst;
    ck_assert_int_eq(aop_layers_merge(pool, yaml, NULL, NULL, &eff, NULL), APR_SUCCESS);
    check_effective(only(eff), f, want, AOP_LAYER_YAML, base_yaml);
    masked = check_json(only(eff), f, s, want);
    check_live(only(eff), f, want);
    check_store(only(eff), f, s, want, masked);
}
END_TEST

/* A sample for a field that is no longer in the table is a test of nothing. */
START_TEST(samples_name_rows)
{
    size_t i;

    for (i = 0; i < sizeof(samples) / sizeof(samples[0]); ++i) {
        ck_assert_msg(aop_field_find(samples[i].key, 0) != NULL, "sample for \"%s\", "
                      "which is no field", samples[i].key);
    }
    ck_assert_int_eq((int)(sizeof(samples) / sizeof(samples[0])), rows());
}
END_TEST

/* The api_key_file sample's key comes from the file, and the file's source is the
 * key's. */
START_TEST(api_key_file_gives_the_key)
{
    const aop_field_t *f = aop_field_find("api_key_file", 0);
    aop_instance_t *inst = from_yaml(sample_of(f), f, with_dir(sample_of(f)->json));

    ck_assert_str_eq(inst->api_key, FILE_KEY);
    ck_assert_str_eq(apr_table_get(inst->sources, "api_key"), base_yaml);
}
END_TEST

/* What each reader relies on: one name row, keys unique, a check only on strings,
 * ranges that hold their default, the YAML-only rows outside every JSON. */
START_TEST(table_is_consistent)
{
    const aop_field_t *f, *g;
    int names = 0;

    for (f = aop_instance_fields; f->key; ++f) {
        names += (f->flags & AOP_FIELD_NAME) != 0;
        ck_assert_msg(f->flags & (AOP_FIELD_YAML | AOP_FIELD_API), "%s: no layer", f->key);
        for (g = f + 1; g->key; ++g) {
            ck_assert_msg(strcmp(f->key, g->key), "%s twice", f->key);
        }
        ck_assert_msg(!f->check || f->type == AOP_FIELD_STRING, "%s: a check on a "
                      "field that is no string", f->key);
        if (f->type == AOP_FIELD_INT || f->type == AOP_FIELD_INT64) {
            ck_assert_msg(f->lo <= f->def && f->def <= f->hi, "%s: default outside its "
                          "range", f->key);
        }
    }
    ck_assert_int_eq(names, 1);
    ck_assert_str_eq(aop_field_name()->key, "name");
    ck_assert_int_eq(aop_instance_json_is_key("api_key_file"), 0);
    ck_assert_int_eq(aop_instance_json_is_key("max_tpm"), 1);
}
END_TEST

Suite *aop_instance_schema_suite(void)
{
    Suite *s = suite_create("aop_instance_schema");
    TCase *tc = tcase_create("fields");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, field_round_trip, 0, rows());
    tcase_add_test(tc, samples_name_rows);
    tcase_add_test(tc, api_key_file_gives_the_key);
    tcase_add_test(tc, table_is_consistent);
    suite_add_tcase(s, tc);
    return s;
}
