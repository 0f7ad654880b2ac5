/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Unit tests for aop_instance_json.c (validation with field names, masking, PATCH)
 * and aop_store.c (versions, rollback, all-or-nothing batches, the change log, the
 * state-file import, the fields a record owns, and the busy and corrupt
 * classifications).  Every test works in
 * its own mkdtemp directory, removed afterwards. */
#include <stdlib.h>
#include <string.h>

#include <apr_file_info.h>
#include <apr_file_io.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <sqlite3.h>

#include "aop_config.h"
#include "aop_instance_json.h"
#include "aop_json.h"
#include "aop_store.h"
#include "aop_store_import.h"
#include "check_suites.h"
#include "check_tmpdir.h"

#define SECRET "sk-store-secret-0123456789"

static apr_pool_t *pool;
static char *dir;
static const char *db;
static const char *state;

static void setup(void)
{
    apr_pool_create(&pool, NULL);
    dir = check_tmpdir_make(pool, "aop-store");
    db = apr_pstrcat(pool, dir, "/instances.db", NULL);
    state = apr_pstrcat(pool, dir, "/state.json", NULL);
}

static void teardown(void)
{
    check_tmpdir_remove(pool, dir);
    aop_store_set_busy_timeout(0);
    apr_pool_destroy(pool);
}

/* JSON written with single quotes, to keep the tests readable. */
static json_object *js(const char *text)
{
    char *t = apr_pstrdup(pool, text), *q;
    const char *err = NULL;
    json_object *obj;

    for (q = t; *q; ++q) {
        *q = (*q == '\'') ? '"' : *q;
    }
    obj = aop_json_parse(pool, t, strlen(t), &err);
    ck_assert_msg(obj != NULL, "bad test JSON %s: %s", t, err);
    return obj;
}

/* How many keys an instance has in JSON: the schema's AOP_FIELD_API rows. */
/* The API's keys a payload() instance has: all but the unset secrets, which JSON
 * leaves out (auth.client_secret: payload() uses an api_key). */
static apr_array_header_t *payload_keys(void)
{
    apr_array_header_t *all = aop_field_keys(pool, AOP_FIELD_API);
    apr_array_header_t *keys = apr_array_make(pool, all->nelts, sizeof(const char *));
    int i;

    for (i = 0; i < all->nelts; ++i) {
        const char *key = APR_ARRAY_IDX(all, i, const char *);
        if (strcmp(key, "auth.client_secret")) {
            APR_ARRAY_PUSH(keys, const char *) = key;
        }
    }
    return keys;
}

static int api_keys(void)
{
    return payload_keys()->nelts;
}

static const char *payload(const char *name, int weight)
{
    return apr_psprintf(pool, "{'name':'%s','api_key':'" SECRET "',"
                        "'api_base':'https://%s.openai.azure.com/','api_version':'2024-02-01',"
                        "'priority':10,'weight':%d,'max_tpm':90000,'enabled':true,"
                        "'supported_models':['gpt-4o','gpt-4o-mini'],"
                        "'model_deployments':{'gpt-4o':'dep-4o','gpt-4o-mini':'dep-mini'}}",
                        name, name, weight);
}

static aop_instance_t *inst_of(const char *text)
{
    aop_instance_t *inst = NULL;
    const char *err = NULL, *field = NULL;
    apr_status_t rv = aop_instance_from_json(pool, js(text), NULL, 0, &inst, &err, &field);

    ck_assert_msg(rv == APR_SUCCESS, "unexpected error: %s", err ? err : "(none)");
    return inst;
}

static aop_instance_t *inst(const char *name, int weight)
{
    return inst_of(payload(name, weight));
}

static void assert_no_secret(const char *text)
{
    ck_assert_msg(text == NULL || strstr(text, SECRET) == NULL, "secret leaked: %s", text);
}

static int put(const aop_instance_t *i, const char *change, aop_store_result_t *res)
{
    int version = -1;
    apr_status_t rv = aop_store_put(pool, db, i, "alice", change, NULL, &version, res);

    assert_no_secret(res->message);
    return rv == APR_SUCCESS ? version : -(int)res->status;
}

static void put_ok(const aop_instance_t *i, const char *change, int expect)
{
    aop_store_result_t res;

    ck_assert_msg(put(i, change, &res) == expect, "put %s: %s", i->name,
                  res.message ? res.message : "wrong version");
}

static apr_array_header_t *load(void)
{
    apr_array_header_t *records = NULL;
    aop_store_result_t res;

    ck_assert_msg(aop_store_load(pool, db, &records, &res) == APR_SUCCESS, "load: %s",
                  res.message);
    return records;
}

static aop_store_record_t *record(apr_array_header_t *records, int i)
{
    return APR_ARRAY_IDX(records, i, aop_store_record_t *);
}

static apr_array_header_t *versions(const char *name)
{
    apr_array_header_t *vs = NULL;
    aop_store_result_t res;

    ck_assert_msg(aop_store_versions(pool, db, name, &vs, &res) == APR_SUCCESS,
                  "versions: %s", res.message);
    return vs;
}

static aop_store_version_t *version_at(apr_array_header_t *vs, int i)
{
    return APR_ARRAY_IDX(vs, i, aop_store_version_t *);
}

static const char *joined(const apr_array_header_t *arr)
{
    return arr->nelts ? apr_array_pstrcat(pool, arr, ',') : "";
}

static void write_file(const char *path, const char *text)
{
    apr_file_t *f;
    apr_size_t len = strlen(text);

    ck_assert_int_eq(apr_file_open(&f, path, APR_FOPEN_WRITE | APR_FOPEN_CREATE
                                   | APR_FOPEN_TRUNCATE, APR_OS_DEFAULT, pool), APR_SUCCESS);
    ck_assert_int_eq(apr_file_write_full(f, text, len, NULL), APR_SUCCESS);
    apr_file_close(f);
}

static void sql(const char *stmt)
{
    sqlite3 *h;

    ck_assert_int_eq(sqlite3_open(db, &h), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(h, stmt, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
}

static const char *journal_mode(void)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    const char *mode = NULL;

    ck_assert_int_eq(sqlite3_open(db, &h), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW) {
        mode = apr_pstrdup(pool, (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    return mode;
}

/* ==========================================================================
 * aop_instance_json.c
 */
START_TEST(json_full_payload)
{
    aop_instance_t *i = inst("east", 50), *back = NULL;
    json_object *shown, *stored;
    const char *err, *field;

    ck_assert_str_eq(i->name, "east");
    ck_assert_str_eq(i->api_key, SECRET);
    ck_assert_str_eq(i->api_base, "https://east.openai.azure.com");
    ck_assert_str_eq(i->origin, "https://east.openai.azure.com");
    ck_assert_int_eq(i->port, 443);
    ck_assert_int_eq(i->priority, 10);
    ck_assert_int_eq(i->weight, 50);
    ck_assert(i->max_tpm == 90000);
    ck_assert_int_eq(i->supported_models->nelts, 2);
    ck_assert_str_eq(aop_instance_deployment(i, "gpt-4o-mini"), "dep-mini");
    ck_assert_str_eq(apr_table_get(i->sources, "weight"), "json");

    shown = aop_json_own(pool, aop_instance_to_json(i, 0));
    ck_assert_str_eq(json_object_get_string(json_object_object_get(shown, "api_key")),
                     AOP_API_KEY_MASK);
    assert_no_secret(aop_json_to_string(pool, shown));
    stored = aop_json_own(pool, aop_instance_to_json(i, 1));
    ck_assert_ptr_nonnull(strstr(aop_json_to_string(pool, stored), SECRET));
    /* what is stored reads back as the same instance */
    ck_assert_int_eq(aop_instance_from_json(pool, stored, NULL, 0, &back, &err, &field),
                     APR_SUCCESS);
    ck_assert(json_object_equal(stored, aop_json_own(pool, aop_instance_to_json(back, 1))));
}
END_TEST

START_TEST(json_defaults_and_dropped_deployments)
{
    aop_instance_t *i = inst_of("{'name':'w','api_key':'k','api_base':'http://10.0.0.1:8080/x',"
                                "'api_version':'v1','supported_models':['m'],"
                                "'model_deployments':{'m':'d','other':'d2'}}");

    ck_assert_str_eq(i->provider_type, "azure");
    ck_assert_int_eq(i->priority, 100);
    ck_assert_int_eq(i->weight, 100);
    ck_assert(i->max_tpm == 0);
    ck_assert_int_eq(i->enabled, 1);
    ck_assert_str_eq(i->origin, "http://10.0.0.1:8080");
    ck_assert_str_eq(i->base_path, "/x");
    /* as the YAML loader does: a deployment for an unlisted model is dropped */
    ck_assert_ptr_null(aop_instance_deployment(i, "other"));
    ck_assert_uint_eq(apr_hash_count(i->model_deployments), 1);
    /* null means the default; a disabled instance needs no key */
    i = inst_of("{'name':'w','enabled':false,'weight':null,'api_base':'https://h',"
                "'api_version':'v1','supported_models':['m'],'model_deployments':{'m':'d'}}");
    ck_assert_int_eq(i->weight, 100);
    ck_assert_ptr_null(i->api_key);
    ck_assert_int_eq(i->enabled, 0);
}
END_TEST

/* One bad-payload class per row: the key set (or removed, value NULL) on a valid
 * payload, the field reported, and a phrase of the message. */
static const struct {
    const char *key, *value, *field, *phrase;
} bad_payloads[] = {
    { "weight", "-1", "weight", "must be >= 0, got -1" },
    { "weight", "'100'", "weight", "expected an integer, got a string" },
    { "weight", "1.5", "weight", "expected an integer, got a decimal number" },
    { "max_tpm", "-5", "max_tpm", "must be >= 0" },
    { "max_tpm", "18446744073709551615", "max_tpm", "too large" },
    { "max_rpm", "1000000001", "max_rpm", "must be between 0 and 1000000000" },
    { "max_rpm", "-1", "max_rpm", "must be between" },
    /* model_deployments' object form */
    { "model_deployments", "{'gpt-4o':{'deployment':'d','max_rpm':-3},'gpt-4o-mini':'m'}",
      "model_deployments.gpt-4o.max_rpm", "must be between" },
    { "model_deployments", "{'gpt-4o':{'deployment':'d','stream_resume':1},'gpt-4o-mini':'m'}",
      "model_deployments.gpt-4o.stream_resume", "expected true or false" },
    { "model_deployments", "{'gpt-4o':{'deployment':'d','max_tpm':'9'},'gpt-4o-mini':'m'}",
      "model_deployments.gpt-4o.max_tpm", "expected an integer" },
    { "model_deployments", "{'gpt-4o':{'max_tpm':9},'gpt-4o-mini':'m'}",
      "model_deployments.gpt-4o.deployment", "missing required field" },
    { "model_deployments", "{'gpt-4o':{'deployment':'a/b'},'gpt-4o-mini':'m'}",
      "model_deployments.gpt-4o.deployment", "[A-Za-z0-9._-]+" },
    { "model_deployments", "{'gpt-4o':{'deployment':'d','rpm':1},'gpt-4o-mini':'m'}",
      "model_deployments.gpt-4o.rpm", "unknown key (expected one of: deployment, max_tpm, "
      "max_rpm, stream_resume)" },
    { "priority", "3000000000", "priority", "must be between" },
    { "priority", "[]", "priority", "got a list" },
    { "enabled", "'yes'", "enabled", "expected true or false" },
    { "enabled", "1", "enabled", "expected true or false" },
    { "name", "'a/b'", "name", "not a valid instance name" },
    { "name", "'..'", "name", "not a valid instance name" },
    { "name", "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'", "name",
      "1..64 characters" },
    { "name", "7", "name", "expected a string" },
    { "name", NULL, "name", "missing required field" },
    { "provider_type", "'openai'", "provider_type", "unsupported provider" },
    { "api_key", "42", "api_key", "expected a string, got an integer" },
    { "api_key", NULL, "api_key", "needed by an enabled instance" },
    { "api_key", "''", "api_key", "must not be empty" },
    { "api_key", "'***'", "api_key", "the mask" },
    { "api_base", "'ftp://files.example.com'", "api_base", "absolute http:// or https://" },
    { "api_base", "'/openai'", "api_base", "absolute http:// or https://" },
    { "api_base", "'east.openai.azure.com'", "api_base", "absolute" },
    { "api_base", "'https://user:" SECRET "@h.example.com'", "api_base", "user information" },
    { "api_base", "'https://h.example.com/?x=1'", "api_base", "query" },
    { "api_base", NULL, "api_base", "missing required field" },
    { "api_version", "'2024 02'", "api_version", "[A-Za-z0-9._-]+" },
    { "api_version", NULL, "api_version", "missing required field" },
    { "supported_models", "[]", "supported_models", "at least one model" },
    { "supported_models", "'gpt-4o'", "supported_models", "expected a list" },
    { "supported_models", "['gpt-4o','gpt-4o']", "supported_models[1]", "duplicate model" },
    { "supported_models", "['gpt-4o',5]", "supported_models[1]", "expected a model name" },
    { "supported_models", "['']", "supported_models[0]", "empty model name" },
    { "supported_models", NULL, "supported_models", "missing required field" },
    { "supported_models", "['gpt-4o','gpt-35']", "model_deployments.gpt-35",
      "has no deployment" },
    { "model_deployments", "{'gpt-4o':'dep-4o'}", "model_deployments.gpt-4o-mini",
      "has no deployment" },
    { "model_deployments", "{'gpt-4o':'dep/4o','gpt-4o-mini':'d'}",
      "model_deployments.gpt-4o", "part of the URL path" },
    { "model_deployments", "{'gpt-4o':null,'gpt-4o-mini':'d'}", "model_deployments.gpt-4o",
      "missing required field" },
    { "model_deployments", "{'gpt-4o':3,'gpt-4o-mini':'d'}", "model_deployments.gpt-4o",
      "expected a deployment name" },
    { "model_deployments", "['gpt-4o']", "model_deployments", "expected an object" },
    { "colour", "'blue'", "colour", "unknown key (expected one of: name, provider_type" },
};

START_TEST(json_bad_payloads)
{
    int n = (int)(sizeof(bad_payloads) / sizeof(bad_payloads[0]));
    aop_instance_t *out;
    const char *err, *field;
    json_object *obj;

    ck_assert_int_eq(_i >= 0 && _i < n, 1);
    obj = js(payload("east", 100));
    if (bad_payloads[_i].value) {
        /* in a list: json-c cannot tell where a bare number ends */
        json_object_object_add(obj, bad_payloads[_i].key, json_object_get(
            json_object_array_get_idx(js(apr_pstrcat(pool, "[", bad_payloads[_i].value,
                                                     "]", NULL)), 0)));
    }
    else {
        json_object_object_del(obj, bad_payloads[_i].key);
    }
    ck_assert_int_eq(aop_instance_from_json(pool, obj, NULL, 0, &out, &err, &field),
                     APR_EINVAL);
    ck_assert_ptr_null(out);
    ck_assert_msg(field && !strcmp(field, bad_payloads[_i].field), "%s=%s: field %s, "
                  "expected %s (%s)", bad_payloads[_i].key, bad_payloads[_i].value,
                  field ? field : "NULL", bad_payloads[_i].field, err);
    ck_assert_msg(strstr(err, bad_payloads[_i].phrase) != NULL, "%s: message \"%s\" lacks "
                  "\"%s\"", bad_payloads[_i].key, err, bad_payloads[_i].phrase);
    ck_assert_msg(!strncmp(err, field, strlen(field)), "message does not start with its "
                  "field: %s", err);
    assert_no_secret(err);
}
END_TEST

START_TEST(json_not_an_object)
{
    aop_instance_t *out;
    const char *err, *field;

    ck_assert_int_eq(aop_instance_from_json(pool, js("[1]"), NULL, 0, &out, &err, &field),
                     APR_EINVAL);
    ck_assert_ptr_null(field);
    ck_assert_str_eq(err, "expected a JSON object, got a list");
    ck_assert_int_eq(aop_instance_from_json(pool, js("{}"), NULL, 1, &out, &err, &field),
                     APR_EINVAL);
}
END_TEST

START_TEST(json_patch)
{
    aop_instance_t *base = inst("east", 100), *out;
    const char *err, *field;

    ck_assert_int_eq(aop_instance_from_json(pool, js("{'weight':5,'max_tpm':null}"), base, 1,
                                            &out, &err, &field), APR_SUCCESS);
    ck_assert_int_eq(out->weight, 5);
    ck_assert(out->max_tpm == 0);                       /* null: the default */
    ck_assert_int_eq(out->priority, 10);                /* absent: from base */
    ck_assert_str_eq(out->api_key, SECRET);
    ck_assert_int_eq(base->weight, 100);                /* base untouched */
    ck_assert(base->max_tpm == 90000);
    /* the mask sent back keeps the key; the name cannot change */
    ck_assert_int_eq(aop_instance_from_json(pool, js("{'api_key':'***','name':'east'}"), base,
                                            1, &out, &err, &field), APR_SUCCESS);
    ck_assert_str_eq(out->api_key, SECRET);
    ck_assert_int_eq(aop_instance_from_json(pool, js("{'name':'west'}"), base, 1, &out, &err,
                                            &field), APR_EINVAL);
    ck_assert_str_eq(field, "name");
    /* a model added without its deployment; then with it */
    ck_assert_int_eq(aop_instance_from_json(pool, js("{'supported_models':['gpt-4o','o1']}"),
                                            base, 1, &out, &err, &field), APR_EINVAL);
    ck_assert_str_eq(field, "model_deployments.o1");
    ck_assert_int_eq(aop_instance_from_json(pool, js("{'supported_models':['gpt-4o','o1'],"
                                                     "'model_deployments':{'gpt-4o':'a',"
                                                     "'o1':'b'}}"),
                                            base, 1, &out, &err, &field), APR_SUCCESS);
    ck_assert_str_eq(aop_instance_deployment(out, "o1"), "b");
    ck_assert_str_eq(aop_instance_deployment(base, "gpt-4o"), "dep-4o");
    /* dropping a model drops its deployment, not base's */
    ck_assert_int_eq(aop_instance_from_json(pool, js("{'supported_models':['gpt-4o']}"),
                                            base, 1, &out, &err, &field), APR_SUCCESS);
    ck_assert_ptr_null(aop_instance_deployment(out, "gpt-4o-mini"));
    ck_assert_str_eq(aop_instance_deployment(base, "gpt-4o-mini"), "dep-mini");
    /* enabling needs a key */
    ck_assert_int_eq(aop_instance_from_json(pool, js("{'api_key':null}"), base, 1, &out,
                                            &err, &field), APR_EINVAL);
    ck_assert_str_eq(field, "api_key");
    ck_assert_int_eq(aop_instance_from_json(pool, js("{'api_key':null,'enabled':false}"),
                                            base, 1, &out, &err, &field), APR_SUCCESS);
}
END_TEST

/* A YAML instance patched through JSON, and a YAML instance that round-trips. */
START_TEST(json_patch_yaml_instance)
{
    static const char yaml[] =
        "instances:\n"
        "  - name: y1\n"
        "    api_key: yaml-key\n"
        "    api_base: https://y1.example.com/openai/\n"
        "    api_version: 2024-02-01\n"
        "    max_tpm: 1000\n"
        "    supported_models: [gpt-4o]\n"
        "    model_deployments: {gpt-4o: d1}\n";
    aop_config_t *cfg;
    aop_instance_t *y, *out;
    const char *err, *field;

    ck_assert_int_eq(aop_config_load_texts(pool, "base.yaml", yaml, NULL, NULL, NULL, NULL,
                                           &cfg, &err), APR_SUCCESS);
    y = APR_ARRAY_IDX(cfg->instances, 0, aop_instance_t *);
    ck_assert_int_eq(aop_instance_from_json(pool, js("{'max_tpm':2000}"), y, 1, &out, &err,
                                            &field), APR_SUCCESS);
    ck_assert(out->max_tpm == 2000);
    ck_assert_str_eq(out->base_path, "/openai");
    ck_assert_str_eq(apr_table_get(out->sources, "max_tpm"), "json");
    ck_assert_str_eq(apr_table_get(out->sources, "api_key"), "base.yaml");
    ck_assert_int_eq(aop_instance_from_json(pool, aop_json_own(pool, aop_instance_to_json(y, 1)),
                                            NULL, 0, &out, &err, &field), APR_SUCCESS);
    ck_assert_str_eq(out->api_key, "yaml-key");
}
END_TEST

START_TEST(json_diff)
{
    json_object *a = aop_json_own(pool, aop_instance_to_json(inst("east", 100), 1));
    json_object *b = aop_json_own(pool, aop_instance_to_json(inst("east", 60), 1));

    json_object_object_add(b, "api_key", json_object_new_string("new-key"));
    ck_assert_str_eq(joined(aop_instance_json_diff(pool, a, b)), "api_key,weight");
    ck_assert_str_eq(joined(aop_instance_json_diff(pool, a, a)), "");
    ck_assert_int_eq(aop_instance_json_diff(pool, NULL, a)->nelts, api_keys());
}
END_TEST

/* ==========================================================================
 * aop_store.c
 */
START_TEST(store_add_update_delete)
{
    apr_array_header_t *recs;
    aop_store_result_t res;
    aop_store_record_t *r;
    apr_finfo_t fi;

    put_ok(inst("east", 100), "add", 1);
    put_ok(inst("west", 100), NULL, 1);
    ck_assert_int_eq(apr_stat(&fi, db, APR_FINFO_PROT, pool), APR_SUCCESS);
    ck_assert_int_eq(fi.protection & (APR_GREAD | APR_WREAD), 0);    /* it holds keys */
    ck_assert_str_eq(journal_mode(), "wal");
    ck_assert_int_eq(put(inst("east", 1), "add", &res), -AOP_STORE_CONFLICT);
    ck_assert_str_eq(res.name, "east");
    ck_assert_int_eq(aop_store_http_status(res.status), 409);
    put_ok(inst("east", 70), "update", 2);

    recs = load();
    ck_assert_int_eq(recs->nelts, 2);
    r = record(recs, 0);
    ck_assert_str_eq(r->name, "east");
    ck_assert_int_eq(r->version, 2);
    ck_assert_int_eq(r->inst->weight, 70);
    ck_assert_str_eq(r->inst->api_key, SECRET);
    ck_assert_str_eq(r->inst->file, db);
    ck_assert_str_eq(apr_table_get(r->inst->sources, "weight"), db);
    ck_assert_str_eq(r->updated_by, "alice");
    ck_assert_int_eq((int)strlen(r->updated_at), 24);

    ck_assert_int_eq(aop_store_delete(pool, db, "east", "bob", NULL, &res), APR_SUCCESS);
    r = record(load(), 0);
    ck_assert_int_eq(r->deleted, 1);
    ck_assert_ptr_null(r->inst);
    ck_assert_int_eq(r->version, 3);
    ck_assert_str_eq(r->updated_by, "bob");
    ck_assert_int_eq(aop_store_delete(pool, db, "east", "bob", NULL, &res), APR_ENOENT);
    ck_assert_int_eq(res.status, AOP_STORE_NOT_FOUND);
    ck_assert_int_eq(put(inst("east", 1), "update", &res), -AOP_STORE_NOT_FOUND);
    put_ok(inst("east", 30), "add", 4);                 /* versions go on counting */
    ck_assert_int_eq(record(load(), 0)->inst->weight, 30);
}
END_TEST

/* Instances that are only in YAML: an update gets version 1, a delete a tombstone. */
START_TEST(store_yaml_only_names)
{
    apr_array_header_t *recs;
    aop_store_result_t res;
    int v = 0;

    put_ok(inst("yaml-a", 5), "update", 1);
    ck_assert_int_eq(aop_store_delete(pool, db, "yaml-b", "ops", &v, &res), APR_SUCCESS);
    ck_assert_int_eq(v, 1);
    recs = load();
    ck_assert_int_eq(recs->nelts, 2);
    ck_assert_int_eq(record(recs, 1)->deleted, 1);
    ck_assert_str_eq(record(recs, 1)->name, "yaml-b");
    ck_assert_str_eq(version_at(versions("yaml-b"), 0)->change, "delete");
    ck_assert_ptr_null(version_at(versions("yaml-b"), 0)->instance);
    ck_assert_int_eq(aop_store_delete(pool, db, "../etc", "ops", &v, &res), APR_EINVAL);
    ck_assert_str_eq(res.field, "name");
}
END_TEST

START_TEST(store_versions_masked)
{
    apr_array_header_t *vs;
    aop_store_version_t *v;
    aop_store_result_t res;
    const char *fields[] = { "weight", "enabled" };
    apr_array_header_t *given = apr_array_make(pool, 2, sizeof(const char *));
    int version = 0, i;

    APR_ARRAY_PUSH(given, const char *) = fields[0];
    APR_ARRAY_PUSH(given, const char *) = fields[1];
    put_ok(inst("east", 100), "add", 1);
    put_ok(inst("east", 80), NULL, 2);
    ck_assert_int_eq(aop_store_put(pool, db, inst("east", 80), "carol", "update", given,
                                   &version, &res), APR_SUCCESS);
    ck_assert_int_eq(version, 3);
    ck_assert_int_eq(aop_store_delete(pool, db, "east", "dave", &version, &res),
                     APR_SUCCESS);

    vs = versions("east");
    ck_assert_int_eq(vs->nelts, 4);
    v = version_at(vs, 0);                              /* newest first */
    ck_assert_int_eq(v->version, 4);
    ck_assert_str_eq(v->change, "delete");
    ck_assert_str_eq(v->changed_by, "dave");
    ck_assert_ptr_null(v->instance);
    ck_assert_str_eq(joined(version_at(vs, 1)->fields), "weight,enabled");
    ck_assert_str_eq(joined(version_at(vs, 2)->fields), "weight");
    v = version_at(vs, 3);
    ck_assert_str_eq(v->change, "add");
    ck_assert_int_eq(v->fields->nelts, api_keys());
    ck_assert_str_eq(v->changed_by, "alice");
    for (i = 1; i < 4; ++i) {
        v = version_at(vs, i);
        ck_assert_str_eq(json_object_get_string(json_object_object_get(v->instance,
                                                                       "api_key")),
                         AOP_API_KEY_MASK);
        assert_no_secret(aop_json_to_string(pool, v->instance));
    }
    ck_assert_int_eq(aop_store_versions(pool, db, "nobody", &vs, &res), APR_ENOENT);
    ck_assert_int_eq(res.status, AOP_STORE_NOT_FOUND);
    ck_assert_int_eq(aop_store_http_status(res.status), 404);
}
END_TEST

START_TEST(store_rollback)
{
    aop_store_result_t res;
    aop_store_record_t *r;
    int v = 0;

    put_ok(inst("east", 100), "add", 1);
    put_ok(inst("east", 50), "update", 2);
    ck_assert_int_eq(aop_store_delete(pool, db, "east", "alice", &v, &res), APR_SUCCESS);

    /* to a version before the deletion: back, as a new version */
    ck_assert_int_eq(aop_store_rollback(pool, db, "east", 1, "erin", &v, &res), APR_SUCCESS);
    ck_assert_int_eq(v, 4);
    r = record(load(), 0);
    ck_assert_int_eq(r->deleted, 0);
    ck_assert_int_eq(r->inst->weight, 100);
    ck_assert_str_eq(r->inst->api_key, SECRET);
    ck_assert_str_eq(version_at(versions("east"), 0)->change, "rollback");
    ck_assert_str_eq(version_at(versions("east"), 0)->changed_by, "erin");

    /* to the deletion: deleted again */
    ck_assert_int_eq(aop_store_rollback(pool, db, "east", 3, "erin", &v, &res), APR_SUCCESS);
    ck_assert_int_eq(v, 5);
    ck_assert_int_eq(record(load(), 0)->deleted, 1);
    ck_assert_ptr_null(version_at(versions("east"), 0)->instance);
    ck_assert_int_eq(aop_store_rollback(pool, db, "east", 3, "erin", &v, &res), APR_EEXIST);
    ck_assert_int_eq(res.status, AOP_STORE_CONFLICT);

    /* to the version just before the first deletion */
    ck_assert_int_eq(aop_store_rollback(pool, db, "east", 2, "erin", &v, &res), APR_SUCCESS);
    ck_assert_int_eq(v, 6);
    ck_assert_int_eq(record(load(), 0)->inst->weight, 50);
    ck_assert_str_eq(joined(version_at(versions("east"), 0)->fields),
                     joined(payload_keys()));
    ck_assert_int_eq(aop_store_rollback(pool, db, "east", 1, "erin", &v, &res), APR_SUCCESS);
    ck_assert_str_eq(joined(version_at(versions("east"), 0)->fields), "weight");

    ck_assert_int_eq(aop_store_rollback(pool, db, "east", 99, "erin", &v, &res), APR_ENOENT);
    ck_assert_int_eq(aop_store_rollback(pool, db, "nobody", 1, "erin", &v, &res), APR_ENOENT);
    ck_assert_int_eq(versions("east")->nelts, 7);
}
END_TEST

/* A version stored under older rules is not brought back. */
START_TEST(store_rollback_invalid_version)
{
    aop_store_result_t res;
    int v = 0;

    put_ok(inst("east", 100), "add", 1);
    put_ok(inst("east", 50), "update", 2);
    sql("UPDATE instance_versions SET data = replace(data, '\"weight\":100', "
        "'\"weight\":-1') WHERE version = 1");
    ck_assert_int_eq(aop_store_rollback(pool, db, "east", 1, "erin", &v, &res), APR_EINVAL);
    ck_assert_str_eq(res.field, "weight");
    assert_no_secret(res.message);
    ck_assert_int_eq(versions("east")->nelts, 2);
}
END_TEST

static aop_store_change_t change_of(const aop_instance_t *i, const char *name,
                                    const char *change)
{
    aop_store_change_t c;

    memset(&c, 0, sizeof(c));
    c.inst = i;
    c.name = name;
    c.change = change;
    return c;
}

static apr_array_header_t *batch(void)
{
    return apr_array_make(pool, 4, sizeof(aop_store_change_t));
}

static apr_int64_t log_count(void)
{
    apr_array_header_t *entries;
    aop_store_result_t res;

    ck_assert_int_eq(aop_store_change_log(pool, db, NULL, 0, &entries, &res), APR_SUCCESS);
    return entries->nelts;
}

START_TEST(store_put_many_all_or_nothing)
{
    aop_store_result_t res;
    apr_array_header_t *b;
    aop_instance_t *bad = inst("c", 1);
    aop_store_change_t *c;

    put_ok(inst("a", 100), "add", 1);
    bad->weight = -1;

    b = batch();                                        /* one invalid record */
    APR_ARRAY_PUSH(b, aop_store_change_t) = change_of(inst("b", 1), NULL, "add");
    APR_ARRAY_PUSH(b, aop_store_change_t) = change_of(bad, NULL, "add");
    ck_assert_int_eq(aop_store_put_many(pool, db, b, "ops", &res), APR_EINVAL);
    ck_assert_int_eq(res.status, AOP_STORE_INVALID);
    ck_assert_str_eq(res.name, "c");
    ck_assert_str_eq(res.field, "weight");
    ck_assert_int_eq(aop_store_http_status(res.status), 400);

    b = batch();                                        /* one conflicting record */
    APR_ARRAY_PUSH(b, aop_store_change_t) = change_of(inst("b", 1), NULL, "add");
    APR_ARRAY_PUSH(b, aop_store_change_t) = change_of(inst("a", 1), NULL, "add");
    ck_assert_int_eq(aop_store_put_many(pool, db, b, "ops", &res), APR_EEXIST);
    ck_assert_str_eq(res.name, "a");

    b = batch();                                        /* one name twice */
    APR_ARRAY_PUSH(b, aop_store_change_t) = change_of(inst("b", 1), NULL, "add");
    APR_ARRAY_PUSH(b, aop_store_change_t) = change_of(NULL, "b", NULL);
    ck_assert_int_eq(aop_store_put_many(pool, db, b, "ops", &res), APR_EEXIST);

    b = batch();                                        /* changed meanwhile */
    APR_ARRAY_PUSH(b, aop_store_change_t) = change_of(inst("b", 1), NULL, "add");
    APR_ARRAY_PUSH(b, aop_store_change_t) = change_of(inst("a", 2), NULL, "update");
    APR_ARRAY_IDX(b, 1, aop_store_change_t).if_version = 7;
    ck_assert_int_eq(aop_store_put_many(pool, db, b, "ops", &res), APR_EEXIST);
    ck_assert_ptr_nonnull(strstr(res.message, "changed meanwhile"));

    ck_assert_int_eq(load()->nelts, 1);                 /* nothing of the above */
    ck_assert_int_eq(log_count(), 1);

    b = batch();
    APR_ARRAY_PUSH(b, aop_store_change_t) = change_of(inst("b", 1), NULL, "add");
    APR_ARRAY_PUSH(b, aop_store_change_t) = change_of(inst("a", 2), NULL, "update");
    APR_ARRAY_IDX(b, 1, aop_store_change_t).if_version = 1;
    APR_ARRAY_PUSH(b, aop_store_change_t) = change_of(NULL, "z", NULL);
    ck_assert_int_eq(aop_store_put_many(pool, db, b, "ops", &res), APR_SUCCESS);
    c = &APR_ARRAY_IDX(b, 1, aop_store_change_t);
    ck_assert_int_eq(c->new_version, 2);
    ck_assert_int_eq(load()->nelts, 3);
    ck_assert_int_eq(log_count(), 4);
}
END_TEST

START_TEST(store_change_log)
{
    apr_array_header_t *entries;
    aop_store_log_entry_t *e;
    aop_store_result_t res;
    int v;

    put_ok(inst("east", 100), "add", 1);
    put_ok(inst("west", 100), "add", 1);
    put_ok(inst("east", 20), "update", 2);
    ck_assert_int_eq(aop_store_rollback(pool, db, "east", 1, "frank", &v, &res), APR_SUCCESS);
    ck_assert_int_eq(aop_store_delete(pool, db, "west", "gina", &v, &res), APR_SUCCESS);

    ck_assert_int_eq(aop_store_change_log(pool, db, NULL, 0, &entries, &res), APR_SUCCESS);
    ck_assert_int_eq(entries->nelts, 5);
    e = APR_ARRAY_IDX(entries, 0, aop_store_log_entry_t *);
    ck_assert_str_eq(e->action, "delete");
    ck_assert_str_eq(e->name, "west");
    ck_assert_str_eq(e->who, "gina");
    ck_assert_str_eq(e->detail, "{\"version\":2,\"fields\":[]}");
    e = APR_ARRAY_IDX(entries, 1, aop_store_log_entry_t *);
    ck_assert_str_eq(e->action, "rollback");
    ck_assert_str_eq(e->detail, "{\"version\":3,\"fields\":[\"weight\"],\"to_version\":1}");
    e = APR_ARRAY_IDX(entries, 2, aop_store_log_entry_t *);
    ck_assert_str_eq(e->detail, "{\"version\":2,\"fields\":[\"weight\"]}");
    ck_assert(APR_ARRAY_IDX(entries, 0, aop_store_log_entry_t *)->id > e->id);
    assert_no_secret(e->detail);

    ck_assert_int_eq(aop_store_change_log(pool, db, "east", 2, &entries, &res), APR_SUCCESS);
    ck_assert_int_eq(entries->nelts, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(entries, 1, aop_store_log_entry_t *)->action, "update");
}
END_TEST

/* The Python version's own shape: a list, with its runtime fields. */
static const char state_list[] =
    "{\"timestamp\": 1715000000.5, \"worker_id\": \"w-1\", \"instances\": ["
    "{\"name\": \"east\", \"provider_type\": \"azure\", \"api_key\": \"" SECRET "\","
    " \"api_base\": \"https://east.openai.azure.com\", \"api_version\": \"2024-02-01\","
    " \"proxy_url\": null, \"priority\": 1, \"weight\": 100, \"max_tpm\": 240000,"
    " \"max_input_tokens\": 0, \"supported_models\": [\"gpt-4o\"],"
    " \"model_deployments\": {\"gpt-4o\": \"gpt-4o\"},"
    " \"stats\": {\"error_count\": 2, \"last_error\": \"timeout\", \"rate_limited_until\": null}},"
    "{\"name\": \"west\", \"api_key\": \"k2\", \"api_base\": \"https://west.example.com\","
    " \"api_version\": \"2024-02-01\", \"supported_models\": [\"gpt-4\"],"
    " \"model_deployments\": {\"gpt-4\": \"g4\"}, \"status\": \"healthy\"}]}";

START_TEST(store_import_list)
{
    aop_store_result_t res;
    apr_array_header_t *recs;
    aop_store_version_t *v;
    int n = -1;

    write_file(state, state_list);
    ck_assert_int_eq(aop_store_import_state_file(pool, db, state, NULL, &n, &res),
                     APR_SUCCESS);
    ck_assert_int_eq(n, 2);
    recs = load();
    ck_assert_int_eq(recs->nelts, 2);
    ck_assert_str_eq(record(recs, 0)->inst->api_key, SECRET);
    ck_assert(record(recs, 0)->inst->max_tpm == 240000);
    ck_assert_int_eq(record(recs, 1)->inst->priority, 100);
    v = version_at(versions("east"), 0);
    ck_assert_str_eq(v->change, "import");
    ck_assert_str_eq(v->changed_by, "state-file");
    /* a second start imports nothing */
    ck_assert_int_eq(aop_store_import_state_file(pool, db, state, NULL, &n, &res),
                     APR_SUCCESS);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(versions("east")->nelts, 1);
}
END_TEST

/* The object shape, over YAML field by field. */
START_TEST(store_import_object_over_yaml)
{
    apr_array_header_t *bases = apr_array_make(pool, 1, sizeof(aop_instance_t *));
    aop_store_result_t res;
    aop_instance_t *east;
    int n = -1;

    APR_ARRAY_PUSH(bases, aop_instance_t *) = inst("east", 100);
    write_file(state, "{\"version\": 3, \"instances\": {"
               "\"east\": {\"weight\": 7, \"health\": \"down\"},"
               "\"north\": {\"name\": \"north\", \"api_key\": \"k\", \"api_base\": "
               "\"http://north:8080\", \"api_version\": \"v1\", \"supported_models\": "
               "[\"m\"], \"model_deployments\": {\"m\": \"d\"}}}}");
    ck_assert_int_eq(aop_store_import_state_file(pool, db, state, bases, &n, &res),
                     APR_SUCCESS);
    ck_assert_int_eq(n, 2);
    east = record(load(), 0)->inst;
    ck_assert_int_eq(east->weight, 7);                  /* from the state file */
    ck_assert_int_eq(east->priority, 10);               /* from YAML */
    ck_assert_str_eq(east->api_key, SECRET);
    ck_assert_int_eq(record(load(), 1)->inst->port, 8080);
}
END_TEST

START_TEST(store_import_only_into_empty)
{
    aop_store_result_t res;
    int n = -1;

    write_file(state, state_list);
    /* even a deletion counts: the operator has been here */
    ck_assert_int_eq(aop_store_delete(pool, db, "old", "ops", NULL, &res), APR_SUCCESS);
    ck_assert_int_eq(aop_store_import_state_file(pool, db, state, NULL, &n, &res),
                     APR_SUCCESS);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(load()->nelts, 1);
    /* no state file, or none configured: nothing, and no error */
    apr_file_remove(db, pool);
    ck_assert_int_eq(aop_store_import_state_file(pool, db, apr_pstrcat(pool, dir, "/none",
                                                                        NULL),
                                                 NULL, &n, &res), APR_SUCCESS);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(aop_store_import_state_file(pool, db, NULL, NULL, &n, &res),
                     APR_SUCCESS);
}
END_TEST

START_TEST(store_import_bad_state_file)
{
    aop_store_result_t res;
    int n = -1;

    /* one bad instance: nothing imported */
    write_file(state, "{\"instances\": [{\"name\": \"ok1\", \"api_key\": \"" SECRET "\","
               " \"api_base\": \"https://a\", \"api_version\": \"v\", \"supported_models\":"
               " [\"m\"], \"model_deployments\": {\"m\": \"d\"}},"
               " {\"name\": \"bad\", \"api_key\": \"" SECRET "\", \"api_base\": \"https://b\","
               " \"api_version\": \"v\", \"weight\": -3, \"supported_models\": [\"m\"],"
               " \"model_deployments\": {\"m\": \"d\"}}]}");
    ck_assert_int_eq(aop_store_import_state_file(pool, db, state, NULL, &n, &res),
                     APR_EINVAL);
    ck_assert_int_eq(n, 0);
    ck_assert_str_eq(res.field, "weight");
    ck_assert_str_eq(res.name, "bad");
    ck_assert_ptr_nonnull(strstr(res.message, "instances[1] (\"bad\"): weight: must be >= 0"));
    assert_no_secret(res.message);
    ck_assert_int_eq(load()->nelts, 0);

    write_file(state, "{\"instances\": {\"east\": {\"name\": \"west\"}}}");
    ck_assert_int_eq(aop_store_import_state_file(pool, db, state, NULL, &n, &res),
                     APR_EINVAL);
    ck_assert_str_eq(res.field, "name");
    write_file(state, "{\"instances\": ");
    ck_assert_int_eq(aop_store_import_state_file(pool, db, state, NULL, &n, &res),
                     APR_EINVAL);
    ck_assert_ptr_nonnull(strstr(res.message, "not valid JSON"));
    write_file(state, "{\"timestamp\": 1}");
    ck_assert_int_eq(aop_store_import_state_file(pool, db, state, NULL, &n, &res),
                     APR_EINVAL);
    ck_assert_int_eq(load()->nelts, 0);
    /* Issue 12: a name with a NUL was stored cut short ("ok\u0000evil" as "ok"); in a
     * member name json-c cannot even tell.  Refused wherever it is. */
    write_file(state, "{\"instances\": [{\"name\": \"ok\\u0000evil\", \"api_key\": \"k\","
               " \"api_base\": \"https://a\", \"api_version\": \"v\", \"supported_models\":"
               " [\"m\"], \"model_deployments\": {\"m\": \"d\"}}]}");
    ck_assert_int_eq(aop_store_import_state_file(pool, db, state, NULL, &n, &res),
                     APR_EINVAL);
    ck_assert_str_eq(res.field, "instances[0].name");
    ck_assert_ptr_nonnull(strstr(res.message, "NUL"));
    write_file(state, "{\"instances\": {\"ok\\u0000evil\": {\"api_key\": \"k\","
               " \"api_base\": \"https://a\", \"api_version\": \"v\", \"supported_models\":"
               " [\"m\"], \"model_deployments\": {\"m\": \"d\"}}}}");
    ck_assert_int_eq(aop_store_import_state_file(pool, db, state, NULL, &n, &res),
                     APR_EINVAL);
    ck_assert_ptr_nonnull(strstr(res.message, "NUL"));
    ck_assert_int_eq(load()->nelts, 0);
}
END_TEST

/* Issue 12: every string field of an instance is refused with a NUL in it, whatever
 * built the json-c object (json-c keeps \u0000 in a value; as a C string it ends). */
START_TEST(json_nul_in_strings)
{
    static const char *const fields[] = {
        "name", "api_key", "api_base", "api_version", "provider_type"
    };
    aop_instance_t *out;
    const char *err, *field;
    json_object *obj;
    size_t i;

    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        obj = js(payload("east", 100));
        json_object_object_add(obj, fields[i], json_object_new_string_len("east\0x", 6));
        ck_assert_int_eq(aop_instance_from_json(pool, obj, NULL, 0, &out, &err, &field),
                         APR_EINVAL);
        ck_assert_str_eq(field, fields[i]);
        ck_assert_ptr_nonnull(strstr(err, "NUL"));
    }
    obj = js(payload("east", 100));
    json_object_object_add(obj, "supported_models", json_object_new_array());
    json_object_array_add(json_object_object_get(obj, "supported_models"),
                          json_object_new_string_len("gpt-4o\0x", 8));
    ck_assert_int_eq(aop_instance_from_json(pool, obj, NULL, 0, &out, &err, &field),
                     APR_EINVAL);
    ck_assert_str_eq(field, "supported_models[0]");
}
END_TEST

/* The parser the admin API and the state file import use. */
START_TEST(json_parse_names_finds_nul)
{
    static const char *const docs[][2] = {
        { "{\"name\":\"ok\\u0000evil\"}", "name" },
        { "{\"model_deployments\":{\"gpt\\u0000x\":\"d\"}}", "model_deployments.gpt" },
        { "{\"instances\":[{\"name\":\"a\"},{\"supported_models\":[\"m\",\"\\u0000\"]}]}",
          "instances[1].supported_models[1]" },
        { "[[\"\\u0000\"]]", "[0][0]" },
        { "\"\\u0000\"", "" },
        /* json-c takes this (a trailing comma), aop_jtree does not: the text is scanned */
        { "{\"name\":\"a\\u0000\",}", "" },
    };
    const char *err, *field;
    size_t i;

    for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        ck_assert_ptr_null(aop_json_parse_names(pool, docs[i][0], strlen(docs[i][0]), &err,
                                                &field));
        ck_assert_msg(field && !strcmp(field, docs[i][1]), "%s: field %s", docs[i][0],
                      field ? field : "NULL");
        ck_assert_ptr_nonnull(strstr(err, "NUL"));
    }
    /* An escaped backslash before u0000 is text, not a NUL. */
    ck_assert_ptr_nonnull(aop_json_parse_names(pool, "{\"a\":\"\\\\u0000\"}", 15, &err,
                                               &field));
    ck_assert_ptr_null(field);
    ck_assert_ptr_null(aop_json_parse_names(pool, "{\"a\":", 5, &err, &field));
    ck_assert_ptr_null(field);
}
END_TEST

/* Found by t/fuzz "request": json-c's null is a NULL object, which came back as a
 * failure without an error message (a state file or admin body "null\r"). */
START_TEST(json_null_document_is_an_error)
{
    const char *err = NULL, *field = NULL;
    aop_store_result_t res;
    int n = -1;

    ck_assert_ptr_null(aop_json_parse(pool, "null\r", 5, &err));
    ck_assert_ptr_nonnull(err);
    err = NULL;
    ck_assert_ptr_null(aop_json_parse_names(pool, " null ", 6, &err, &field));
    ck_assert_ptr_nonnull(err);
    ck_assert_ptr_null(field);
    write_file(state, "null\n");
    ck_assert_int_eq(aop_store_import_state_file(pool, db, state, NULL, &n, &res),
                     APR_EINVAL);
    ck_assert_ptr_nonnull(strstr(res.message, "JSON null"));
}
END_TEST

/* ==========================================================================
 * which fields a stored record owns
 */
/* Every instance key (the schema's AOP_FIELD_API rows) owned by version. */
static const char *keys_at(apr_array_header_t *keys, int version)
{
    const char *text = "";
    int i;

    for (i = 0; i < keys->nelts; ++i) {
        text = apr_psprintf(pool, "%s%s%s:%d", text, i ? "," : "",
                            APR_ARRAY_IDX(keys, i, const char *), version);
    }
    return text;
}

/* text with its one from replaced by to. */
static const char *replace(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);

    return apr_pstrcat(pool, apr_pstrmemdup(pool, text, at - text), to, at + strlen(from),
                       NULL);
}

/* An add owns every key; a version that is a whole instance (an update without
 * fields, a rollback to data) owns the keys its JSON has (payload_keys()). */
static const char *all_keys_at(int version)
{
    return keys_at(aop_field_keys(pool, AOP_FIELD_API), version);
}

static const char *written_keys_at(int version)
{
    return keys_at(payload_keys(), version);
}

static const char *all_keys(void)
{
    return all_keys_at(1);
}

/* The owned fields in the instance-key order as "key:version", "i" before the version
 * of an imported one; "-" for a deleted record. */
static const char *owned_text(const aop_store_record_t *r)
{
    apr_array_header_t *keys = aop_field_keys(pool, AOP_FIELD_API);
    const aop_store_owner_t *o;
    const char *text = "", *key;
    int i, n = 0;

    if (!r->owned) {
        return "-";
    }
    for (i = 0; i < keys->nelts; ++i) {
        key = APR_ARRAY_IDX(keys, i, const char *);
        if ((o = apr_hash_get(r->owned, key, APR_HASH_KEY_STRING)) != NULL) {
            text = apr_psprintf(pool, "%s%s%s:%s%d", text, n++ ? "," : "", key,
                                o->imported ? "i" : "", o->version);
        }
    }
    ck_assert_int_eq(n, (int)apr_hash_count(r->owned));    /* nothing but instance keys */
    return text;
}

static const char *owned_of(const char *name)
{
    apr_array_header_t *recs = load();
    int i;

    for (i = 0; i < recs->nelts; ++i) {
        if (!strcmp(record(recs, i)->name, name)) {
            return owned_text(record(recs, i));
        }
    }
    ck_abort_msg("no record %s", name);
    return NULL;
}

static apr_array_header_t *keys_of(const char *list)
{
    apr_array_header_t *keys = apr_array_make(pool, 4, sizeof(const char *));
    char *copy = apr_pstrdup(pool, list), *last, *key;

    for (key = apr_strtok(copy, ",", &last); key; key = apr_strtok(NULL, ",", &last)) {
        APR_ARRAY_PUSH(keys, const char *) = key;
    }
    return keys;
}

static void patch_ok(const aop_instance_t *i, const char *fields, int expect)
{
    aop_store_result_t res;
    int version = -1;

    ck_assert_msg(aop_store_put(pool, db, i, "ops", "update", keys_of(fields), &version,
                                &res) == APR_SUCCESS, "put %s: %s", i->name, res.message);
    ck_assert_int_eq(version, expect);
}

START_TEST(owned_add_owns_every_key)
{
    put_ok(inst("east", 100), "add", 1);
    ck_assert_str_eq(owned_of("east"), all_keys());
    /* an add owns every key whatever fields says */
    put_ok(inst("west", 100), "add", 1);
    ck_assert_int_eq(aop_store_delete(pool, db, "west", "ops", NULL, NULL), APR_SUCCESS);
    ck_assert_int_eq(aop_store_put(pool, db, inst("west", 9), "ops", "add",
                                   keys_of("weight"), NULL, NULL), APR_SUCCESS);
    ck_assert_str_eq(owned_of("west"), all_keys_at(3));
    /* an instance without a key owns api_key all the same (it is the default) */
    put_ok(inst_of("{'name':'off','enabled':false,'api_base':'https://h','api_version':'v',"
                   "'supported_models':['m'],'model_deployments':{'m':'d'}}"), "add", 1);
    ck_assert_str_eq(owned_of("off"), all_keys());
}
END_TEST

/* Without a base: exactly the keys the entry gave, the others are defaults. */
START_TEST(owned_import_without_base)
{
    aop_store_result_t res;
    int n = -1;

    write_file(state, state_list);
    ck_assert_int_eq(aop_store_import_state_file(pool, db, state, NULL, &n, &res),
                     APR_SUCCESS);
    ck_assert_str_eq(owned_of("east"), "name:i1,provider_type:i1,api_key:i1,api_base:i1,"
                     "api_version:i1,priority:i1,weight:i1,max_tpm:i1,"
                     "supported_models:i1,model_deployments:i1");     /* no "enabled" */
    ck_assert_str_eq(owned_of("west"), "name:i1,api_key:i1,api_base:i1,api_version:i1,"
                     "supported_models:i1,model_deployments:i1");
    /* the history says the same, without status or stats */
    ck_assert_str_eq(joined(version_at(versions("west"), 0)->fields),
                     "name,api_key,api_base,api_version,supported_models,model_deployments");
}
END_TEST

/* With a base: the fields from YAML are in the record but not owned; the name, given
 * only as the object's key, is. */
START_TEST(owned_import_with_base)
{
    apr_array_header_t *bases = apr_array_make(pool, 1, sizeof(aop_instance_t *));
    aop_store_result_t res;
    aop_store_record_t *r;
    int n = -1;

    APR_ARRAY_PUSH(bases, aop_instance_t *) = inst("east", 100);
    write_file(state, "{\"instances\": {\"east\": {\"weight\": 7, \"enabled\": null, "
               "\"health\": \"down\"}}}");
    ck_assert_int_eq(aop_store_import_state_file(pool, db, state, bases, &n, &res),
                     APR_SUCCESS);
    r = record(load(), 0);
    ck_assert_int_eq(r->inst->weight, 7);
    ck_assert_int_eq(r->inst->priority, 10);            /* in the record, from YAML */
    ck_assert_str_eq(owned_text(r), "name:i1,weight:i1,enabled:i1");
    ck_assert_str_eq(joined(version_at(versions("east"), 0)->fields), "name,weight,enabled");
}
END_TEST

/* An update adds its fields to the imported ones, as set by the API. */
START_TEST(owned_update_after_import)
{
    apr_array_header_t *bases = apr_array_make(pool, 1, sizeof(aop_instance_t *));
    aop_store_result_t res;
    aop_instance_t *east;
    int n = -1;

    APR_ARRAY_PUSH(bases, aop_instance_t *) = inst("east", 100);
    write_file(state, "{\"instances\": {\"east\": {\"weight\": 7}}}");
    ck_assert_int_eq(aop_store_import_state_file(pool, db, state, bases, &n, &res),
                     APR_SUCCESS);
    east = record(load(), 0)->inst;
    east->max_tpm = 5;
    patch_ok(east, "max_tpm", 2);
    ck_assert_str_eq(owned_of("east"), "name:i1,weight:i1,max_tpm:2");
    /* the API setting an imported field takes it over */
    east->weight = 8;
    patch_ok(east, "weight", 3);
    ck_assert_str_eq(owned_of("east"), "name:i1,weight:3,max_tpm:2");
    /* fields NULL: the diff from the previous version */
    east->priority = 1;
    put_ok(east, "update", 4);
    ck_assert_str_eq(owned_of("east"), "name:i1,priority:4,weight:3,max_tpm:2");
}
END_TEST

/* A PATCH of a YAML instance never stored: only the keys of its body. */
START_TEST(owned_update_yaml_name)
{
    aop_instance_t *y = inst("yaml-a", 100);

    y->weight = 5;
    patch_ok(y, "weight", 1);
    ck_assert_str_eq(owned_of("yaml-a"), "weight:1");
    y->max_tpm = 7;
    patch_ok(y, "max_tpm,colour", 2);                   /* not an instance key: ignored */
    ck_assert_str_eq(owned_of("yaml-a"), "weight:1,max_tpm:2");
    /* without fields, the first version of a YAML name is every key */
    put_ok(inst("yaml-b", 100), "update", 1);
    ck_assert_str_eq(owned_of("yaml-b"), written_keys_at(1));
}
END_TEST

/* A rollback adds what it changes to the set; it does not bring back the target
 * version's set. */
START_TEST(owned_rollback)
{
    aop_instance_t *y = inst("yaml-a", 100);
    int v = 0;

    y->weight = 5;
    patch_ok(y, "weight", 1);
    y->max_tpm = 7;
    patch_ok(y, "max_tpm", 2);
    ck_assert_int_eq(aop_store_rollback(pool, db, "yaml-a", 1, "erin", &v, NULL),
                     APR_SUCCESS);
    ck_assert_str_eq(owned_of("yaml-a"), "weight:1,max_tpm:3");
    /* a rollback to a deletion empties it; back to data from there: every key */
    ck_assert_int_eq(aop_store_delete(pool, db, "yaml-a", "ops", &v, NULL), APR_SUCCESS);
    ck_assert_int_eq(aop_store_rollback(pool, db, "yaml-a", 2, "erin", &v, NULL),
                     APR_SUCCESS);
    ck_assert_int_eq(v, 5);
    ck_assert_int_eq(aop_store_rollback(pool, db, "yaml-a", 4, "erin", &v, NULL),
                     APR_SUCCESS);
    ck_assert_str_eq(owned_of("yaml-a"), "-");
    ck_assert_int_eq(aop_store_rollback(pool, db, "yaml-a", 3, "erin", &v, NULL),
                     APR_SUCCESS);
    ck_assert_int_eq(v, 7);
    ck_assert_str_eq(owned_of("yaml-a"), written_keys_at(7));
}
END_TEST

/* Version 0: a YAML instance deleted through the API (its only version a deletion)
 * comes back as the YAML defines it, owning nothing; so does a changed one.  An
 * instance only ever stored is deleted by it. */
START_TEST(store_revert_to_yaml)
{
    aop_store_result_t res;
    aop_store_record_t *r;
    aop_instance_t *y = inst("yaml-a", 100);
    int v = 0;

    ck_assert_int_eq(aop_store_revert(pool, db, "yaml-a", y, "erin", &v, &res), APR_ENOENT);
    ck_assert_int_eq(aop_store_delete(pool, db, "yaml-a", "ops", &v, &res), APR_SUCCESS);
    ck_assert_int_eq(v, 1);
    /* rolling back to that deletion: it is deleted already (409, saying what to do) */
    ck_assert_int_eq(aop_store_rollback(pool, db, "yaml-a", 1, "erin", &v, &res), APR_EEXIST);
    ck_assert_ptr_nonnull(strstr(res.message, "version 0"));
    ck_assert_int_eq(aop_store_revert(pool, db, "yaml-a", y, "erin", &v, &res), APR_SUCCESS);
    ck_assert_int_eq(v, 2);
    r = record(load(), 0);
    ck_assert_int_eq(r->deleted, 0);
    ck_assert_int_eq(r->inst->weight, 100);
    ck_assert_str_eq(owned_of("yaml-a"), "");
    ck_assert_str_eq(version_at(versions("yaml-a"), 0)->change, "revert");
    ck_assert_ptr_nonnull(version_at(versions("yaml-a"), 0)->instance);

    /* changed, then reverted: the changed fields are the YAML's again */
    y->weight = 5;
    patch_ok(y, "weight", 3);
    ck_assert_str_eq(owned_of("yaml-a"), "weight:3");
    ck_assert_int_eq(aop_store_revert(pool, db, "yaml-a", inst("yaml-a", 100), "erin", &v,
                                      &res), APR_SUCCESS);
    ck_assert_int_eq(v, 4);
    ck_assert_str_eq(owned_of("yaml-a"), "");
    ck_assert_str_eq(joined(version_at(versions("yaml-a"), 0)->fields), "weight");

    /* no YAML: version 0 is no instance at all */
    put_ok(inst("api-b", 30), "add", 1);
    ck_assert_int_eq(aop_store_revert(pool, db, "api-b", NULL, "erin", &v, &res), APR_SUCCESS);
    ck_assert_int_eq(v, 2);
    ck_assert_str_eq(owned_of("api-b"), "-");
    ck_assert_str_eq(version_at(versions("api-b"), 0)->change, "revert");
    ck_assert_int_eq(aop_store_revert(pool, db, "api-b", NULL, "erin", &v, &res), APR_EEXIST);
    /* a base of another name is refused */
    ck_assert_int_eq(aop_store_revert(pool, db, "api-b", inst("other", 1), "erin", &v, &res),
                     APR_EINVAL);
}
END_TEST

/* A deleted record owns nothing; added again, it owns every key afresh. */
START_TEST(owned_delete_then_add)
{
    aop_instance_t *y = inst("east", 100);

    y->weight = 5;
    patch_ok(y, "weight", 1);
    ck_assert_int_eq(aop_store_delete(pool, db, "east", "ops", NULL, NULL), APR_SUCCESS);
    ck_assert_str_eq(owned_of("east"), "-");
    ck_assert_ptr_null(record(load(), 0)->owned);
    put_ok(inst("east", 30), "add", 3);
    ck_assert_str_eq(owned_of("east"), all_keys_at(3));
    patch_ok(inst("east", 31), "weight", 4);
    ck_assert_ptr_nonnull(strstr(all_keys_at(3), ",weight:3,"));
    ck_assert_str_eq(owned_of("east"), replace(all_keys_at(3), ",weight:3,", ",weight:4,"));
}
END_TEST

/* Names interleaved in time are kept apart (one pass over all versions). */
START_TEST(owned_many_names)
{
    patch_ok(inst("b", 1), "weight", 1);
    put_ok(inst("a", 1), "add", 1);
    patch_ok(inst("b", 1), "priority", 2);
    patch_ok(inst("c", 1), "enabled", 1);
    ck_assert_str_eq(owned_of("a"), all_keys());
    ck_assert_str_eq(owned_of("b"), "priority:2,weight:1");
    ck_assert_str_eq(owned_of("c"), "enabled:1");
}
END_TEST

START_TEST(store_corrupt_file)
{
    aop_store_result_t res;
    aop_store_report_t rep;
    apr_array_header_t *recs;
    char junk[8192];

    memset(junk, 'x', sizeof(junk) - 1);
    junk[sizeof(junk) - 1] = '\0';
    write_file(db, junk);
    ck_assert_int_eq(put(inst("east", 1), "add", &res), -AOP_STORE_CORRUPT);
    ck_assert_ptr_nonnull(strstr(res.message, "not a database"));
    ck_assert_ptr_nonnull(strstr(res.message, db));
    ck_assert_int_eq(aop_store_http_status(res.status), 503);
    ck_assert_str_eq(aop_store_status_name(res.status), "corrupt");
    ck_assert_int_eq(aop_store_load(pool, db, &recs, &res), APR_EGENERAL);
    ck_assert_int_eq(res.status, AOP_STORE_CORRUPT);
    ck_assert_ptr_null(recs);
    ck_assert_int_eq(aop_store_check(pool, db, &rep, &res), APR_EGENERAL);
    ck_assert_int_eq(res.status, AOP_STORE_CORRUPT);
    ck_assert_int_eq(rep.ok, 0);
    ck_assert(rep.file_size == (apr_off_t)sizeof(junk) - 1);
}
END_TEST

/* A record broken inside a sound database fails the load, naming it. */
START_TEST(store_corrupt_record)
{
    apr_array_header_t *recs;
    aop_store_result_t res;

    put_ok(inst("east", 1), "add", 1);
    sql("UPDATE instances SET data = '{\"name\":' WHERE name = 'east'");
    ck_assert_int_eq(aop_store_load(pool, db, &recs, &res), APR_EGENERAL);
    ck_assert_int_eq(res.status, AOP_STORE_CORRUPT);
    ck_assert_str_eq(res.name, "east");
    sql("UPDATE instances SET data = '{\"name\":\"east\"}' WHERE name = 'east'");
    ck_assert_int_eq(aop_store_load(pool, db, &recs, &res), APR_EGENERAL);
    ck_assert_str_eq(res.field, "api_base");
}
END_TEST

START_TEST(store_busy)
{
    aop_store_result_t res;
    sqlite3 *other;
    int v = 0;

    put_ok(inst("east", 100), "add", 1);
    ck_assert_int_eq(sqlite3_open(db, &other), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    aop_store_set_busy_timeout(50);
    ck_assert_int_eq(put(inst("east", 5), "update", &res), -AOP_STORE_BUSY);
    ck_assert_ptr_nonnull(strstr(res.message, "locked"));
    ck_assert_int_eq(aop_store_http_status(res.status), 503);
    ck_assert_int_eq(aop_store_delete(pool, db, "east", "x", &v, &res), APR_EBUSY);
    ck_assert_int_eq(res.status, AOP_STORE_BUSY);
    sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(other);
    ck_assert_int_eq(versions("east")->nelts, 1);        /* nothing was written */
    ck_assert_int_eq(record(load(), 0)->inst->weight, 100);
}
END_TEST

START_TEST(store_check_report)
{
    aop_store_result_t res;
    aop_store_report_t rep;
    int v;

    ck_assert_int_eq(aop_store_check(pool, db, &rep, &res), APR_ENOENT);
    ck_assert_int_eq(res.status, AOP_STORE_NOT_FOUND);
    put_ok(inst("east", 100), "add", 1);
    put_ok(inst("east", 50), "update", 2);
    put_ok(inst("west", 50), "add", 1);
    ck_assert_int_eq(aop_store_delete(pool, db, "west", "ops", &v, &res), APR_SUCCESS);
    ck_assert_int_eq(aop_store_check(pool, db, &rep, &res), APR_SUCCESS);
    ck_assert_int_eq(rep.ok, 1);
    ck_assert_str_eq(rep.integrity, "ok");
    ck_assert_int_eq(rep.schema_version, 1);
    ck_assert(rep.instances == 1 && rep.deleted == 1);
    ck_assert(rep.versions == 4 && rep.changes == 4);
    ck_assert(rep.file_size > 0);
}
END_TEST

/* A damaged page inside a real database: found by reads and by the check. */
START_TEST(store_damaged_page)
{
    aop_store_result_t res;
    aop_store_report_t rep;
    apr_array_header_t *recs;
    apr_file_t *f;
    apr_off_t at = 2 * 4096;    /* page 3: the instances table, created second */
    char junk[64];

    put_ok(inst("east", 1), "add", 1);
    memset(junk, 0xff, sizeof(junk));
    ck_assert_int_eq(apr_file_open(&f, db, APR_FOPEN_WRITE | APR_FOPEN_BINARY,
                                   APR_OS_DEFAULT, pool), APR_SUCCESS);
    ck_assert_int_eq(apr_file_seek(f, APR_SET, &at), APR_SUCCESS);
    ck_assert_int_eq(apr_file_write_full(f, junk, sizeof(junk), NULL), APR_SUCCESS);
    apr_file_close(f);
    ck_assert_int_eq(aop_store_load(pool, db, &recs, &res), APR_EGENERAL);
    ck_assert_int_eq(res.status, AOP_STORE_CORRUPT);
    ck_assert_int_eq(aop_store_check(pool, db, &rep, &res), APR_EGENERAL);
    ck_assert_int_eq(res.status, AOP_STORE_CORRUPT);
    ck_assert_int_eq(rep.ok, 0);
}
END_TEST

START_TEST(store_cannot_open)
{
    aop_store_result_t res;
    int v;

    ck_assert_int_eq(aop_store_put(pool, apr_pstrcat(pool, dir, "/no/such/dir.db", NULL),
                                   inst("east", 1), "ops", NULL, NULL, &v, &res), APR_ENOSPC);
    ck_assert_int_eq(res.status, AOP_STORE_UNWRITABLE);
    ck_assert_ptr_nonnull(strstr(res.message, "unable to open"));
    ck_assert_int_eq(aop_store_http_status(res.status), 503);
}
END_TEST

START_TEST(store_newer_schema)
{
    aop_store_result_t res;

    put_ok(inst("east", 100), "add", 1);
    sql("UPDATE schema_version SET version = 9");
    ck_assert_int_eq(put(inst("east", 5), "update", &res), -AOP_STORE_ERROR);
    ck_assert_ptr_nonnull(strstr(res.message, "newer"));
}
END_TEST

Suite *aop_store_suite(void)
{
    Suite *s = suite_create("aop_store");
    TCase *tj = tcase_create("instance_json");
    TCase *ts = tcase_create("store");
    TCase *to = tcase_create("owned");

    tcase_add_checked_fixture(tj, setup, teardown);
    tcase_add_test(tj, json_full_payload);
    tcase_add_test(tj, json_defaults_and_dropped_deployments);
    tcase_add_loop_test(tj, json_bad_payloads, 0,
                        (int)(sizeof(bad_payloads) / sizeof(bad_payloads[0])));
    tcase_add_test(tj, json_not_an_object);
    tcase_add_test(tj, json_nul_in_strings);
    tcase_add_test(tj, json_parse_names_finds_nul);
    tcase_add_test(tj, json_null_document_is_an_error);
    tcase_add_test(tj, json_patch);
    tcase_add_test(tj, json_patch_yaml_instance);
    tcase_add_test(tj, json_diff);
    suite_add_tcase(s, tj);

    tcase_add_checked_fixture(ts, setup, teardown);
    tcase_add_test(ts, store_add_update_delete);
    tcase_add_test(ts, store_yaml_only_names);
    tcase_add_test(ts, store_versions_masked);
    tcase_add_test(ts, store_rollback);
    tcase_add_test(ts, store_rollback_invalid_version);
    tcase_add_test(ts, store_put_many_all_or_nothing);
    tcase_add_test(ts, store_change_log);
    tcase_add_test(ts, store_import_list);
    tcase_add_test(ts, store_import_object_over_yaml);
    tcase_add_test(ts, store_import_only_into_empty);
    tcase_add_test(ts, store_import_bad_state_file);
    tcase_add_test(ts, store_corrupt_file);
    tcase_add_test(ts, store_corrupt_record);
    tcase_add_test(ts, store_busy);
    tcase_add_test(ts, store_check_report);
    tcase_add_test(ts, store_damaged_page);
    tcase_add_test(ts, store_cannot_open);
    tcase_add_test(ts, store_newer_schema);
    suite_add_tcase(s, ts);

    tcase_add_checked_fixture(to, setup, teardown);
    tcase_add_test(to, owned_add_owns_every_key);
    tcase_add_test(to, owned_import_without_base);
    tcase_add_test(to, owned_import_with_base);
    tcase_add_test(to, owned_update_after_import);
    tcase_add_test(to, owned_update_yaml_name);
    tcase_add_test(to, owned_rollback);
    tcase_add_test(to, store_revert_to_yaml);
    tcase_add_test(to, owned_delete_then_add);
    tcase_add_test(to, owned_many_names);
    suite_add_tcase(s, to);
    return s;
}
