/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Unit tests for aop_layers.c: the effective instances merged field by field from YAML
 * (aop_config.c) and the stored records (aop_store.c, in a real database in its own
 * mkdtemp directory), the fallback to a whole record, and the codec. */
#include <stdlib.h>
#include <string.h>

#include <apr_file_info.h>
#include <apr_file_io.h>
#include <apr_pools.h>
#include <apr_strings.h>

#include "aop_config.h"
#include "aop_instance_json.h"
#include "aop_json.h"
#include "aop_layers.h"
#include "aop_store.h"
#include "aop_store_import.h"
#include "check_suites.h"
#include "check_tmpdir.h"

#define SECRET "sk-layers-secret-0123456789"

static apr_pool_t *pool;
static char *dir;
static const char *db;
static const char *state;

static void setup(void)
{
    apr_pool_create(&pool, NULL);
    dir = check_tmpdir_make(pool, "aop-layers");
    db = apr_pstrcat(pool, dir, "/instances.db", NULL);
    state = apr_pstrcat(pool, dir, "/state.json", NULL);
}

static void teardown(void)
{
    check_tmpdir_remove(pool, dir);
    apr_pool_destroy(pool);
}

static void assert_no_secret(const char *text)
{
    ck_assert_msg(text == NULL || strstr(text, SECRET) == NULL, "secret leaked: %s", text);
}

/* One YAML instance with the given extra lines (already indented). */
static const char *yaml_instance(const char *name, const char *extra)
{
    return apr_psprintf(pool, "  - name: %s\n"
                        "    api_key: " SECRET "\n"
                        "    api_base: https://%s.example.com/\n"
                        "    api_version: 2024-02-01\n"
                        "%s", name, name, extra);
}

static const char *models_1 = "    supported_models: [gpt-4o]\n"
                              "    model_deployments: {gpt-4o: d1}\n";

/* base.yaml with the given instances, and prod.yaml over it when env is not NULL. */
static apr_array_header_t *yaml(const char *base, const char *env)
{
    aop_config_t *cfg = NULL;
    const char *err = NULL;

    ck_assert_msg(aop_config_load_texts(pool, "base.yaml",
                                        apr_pstrcat(pool, "instances:\n", base, NULL),
                                        "prod.yaml",
                                        env ? apr_pstrcat(pool, "instances:\n", env, NULL)
                                            : NULL,
                                        NULL, NULL, &cfg, &err) == APR_SUCCESS,
                  "YAML: %s", err);
    return cfg->instances;
}

/* An instance from JSON written with single quotes. */
static aop_instance_t *inst_of(const char *text)
{
    char *t = apr_pstrdup(pool, text), *q;
    const char *err = NULL, *field = NULL;
    aop_instance_t *inst = NULL;
    json_object *obj;

    for (q = t; *q; ++q) {
        *q = (*q == '\'') ? '"' : *q;
    }
    obj = aop_json_parse(pool, t, strlen(t), &err);
    ck_assert_msg(obj != NULL, "bad test JSON %s: %s", t, err);
    ck_assert_msg(aop_instance_from_json(pool, obj, NULL, 0, &inst, &err, &field)
                  == APR_SUCCESS, "instance: %s", err);
    return inst;
}

static aop_instance_t *stored_inst(const char *name, int weight)
{
    return inst_of(apr_psprintf(pool, "{'name':'%s','api_key':'" SECRET "',"
                                "'api_base':'https://%s.db.example.com','api_version':'v9',"
                                "'weight':%d,'supported_models':['m'],"
                                "'model_deployments':{'m':'dm'}}", name, name, weight));
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

/* A put as the admin API makes it: fields NULL, or the keys of a PATCH body. */
static void put_ok(const aop_instance_t *i, const char *change, const char *fields)
{
    aop_store_result_t res;

    ck_assert_msg(aop_store_put(pool, db, i, "ops", change, fields ? keys_of(fields) : NULL,
                                NULL, &res) == APR_SUCCESS, "put %s: %s", i->name,
                  res.message);
}

static apr_array_header_t *records(void)
{
    apr_array_header_t *recs = NULL;
    aop_store_result_t res;

    ck_assert_msg(aop_store_load(pool, db, &recs, &res) == APR_SUCCESS, "load: %s",
                  res.message);
    return recs;
}

static apr_array_header_t *merged(const apr_array_header_t *y, const apr_array_header_t *r,
                                  apr_array_header_t *warnings)
{
    apr_array_header_t *out = NULL;
    int i;

    ck_assert_int_eq(aop_layers_merge(pool, y, r, db, &out, warnings), APR_SUCCESS);
    for (i = 0; warnings && i < warnings->nelts; ++i) {
        assert_no_secret(APR_ARRAY_IDX(warnings, i, const char *));
    }
    return out;
}

static aop_effective_t *eff(apr_array_header_t *effs, int i)
{
    return APR_ARRAY_IDX(effs, i, aop_effective_t *);
}

static const char *names(apr_array_header_t *effs)
{
    const char *text = "";
    int i;

    for (i = 0; i < effs->nelts; ++i) {
        text = apr_pstrcat(pool, text, i ? "," : "", eff(effs, i)->inst->name, NULL);
    }
    return text;
}

/* "layer" or "layer:location" or "layer:location:version", the database's path as DB. */
static const char *src(const aop_effective_t *e, const char *key)
{
    const aop_field_source_t *s = apr_hash_get(e->sources, key, APR_HASH_KEY_STRING);
    const char *text;

    ck_assert_msg(s != NULL, "no source for %s", key);
    text = aop_layer_name(s->layer);
    if (s->location) {
        text = apr_pstrcat(pool, text, ":", strcmp(s->location, db) ? s->location : "DB",
                           NULL);
    }
    return s->version ? apr_psprintf(pool, "%s:%d", text, s->version) : text;
}

/* ==========================================================================
 * merge
 */
START_TEST(layers_names)
{
    ck_assert_str_eq(aop_layer_name(AOP_LAYER_DEFAULT), "default");
    ck_assert_str_eq(aop_layer_name(AOP_LAYER_YAML), "yaml");
    ck_assert_str_eq(aop_layer_name(AOP_LAYER_STATE_FILE), "state_file");
    ck_assert_str_eq(aop_layer_name(AOP_LAYER_DATABASE), "database");
}
END_TEST

START_TEST(layers_yaml_only)
{
    apr_array_header_t *y = yaml(apr_pstrcat(pool, yaml_instance("b1", models_1),
                                             yaml_instance("a1", models_1), NULL),
                                 "  - name: b1\n    weight: 7\n");
    apr_array_header_t *effs = merged(y, NULL, NULL);
    aop_effective_t *e = eff(effs, 0);

    ck_assert_str_eq(names(effs), "b1,a1");             /* file order */
    ck_assert_int_eq(e->version, 0);
    ck_assert_int_eq(e->inst->weight, 7);
    ck_assert_str_eq(e->inst->api_key, SECRET);
    ck_assert_str_eq(e->inst->base_path, "");
    ck_assert_str_eq(src(e, "api_key"), "yaml:base.yaml");
    ck_assert_str_eq(src(e, "weight"), "yaml:prod.yaml");
    ck_assert_str_eq(src(e, "name"), "yaml:prod.yaml");     /* the overlay names it too */
    ck_assert_str_eq(src(e, "priority"), "default");
    ck_assert_str_eq(src(e, "enabled"), "default");
    ck_assert_uint_eq(apr_hash_count(e->sources),
                      (unsigned)aop_field_keys(pool, AOP_FIELD_API)->nelts);
    /* the instance's own sources table and file say the same */
    ck_assert_str_eq(apr_table_get(e->inst->sources, "weight"), "prod.yaml");
    ck_assert_ptr_null(apr_table_get(e->inst->sources, "priority"));
    ck_assert_str_eq(e->inst->file, "prod.yaml");
    ck_assert_str_eq(eff(effs, 1)->inst->file, "base.yaml");
    /* an empty list of records is no records */
    ck_assert_str_eq(names(merged(y, apr_array_make(pool, 1, sizeof(void *)), NULL)),
                     "b1,a1");
    /* nothing at all */
    ck_assert_int_eq(merged(NULL, NULL, NULL)->nelts, 0);
}
END_TEST

START_TEST(layers_database_only)
{
    apr_array_header_t *effs;
    aop_effective_t *e;

    put_ok(stored_inst("zeta", 10), "add", NULL);
    put_ok(stored_inst("alpha", 20), "add", NULL);
    put_ok(stored_inst("alpha", 25), "update", NULL);
    effs = merged(yaml(yaml_instance("y1", models_1), NULL), records(), NULL);
    ck_assert_str_eq(names(effs), "y1,alpha,zeta");     /* YAML, then by name */
    e = eff(effs, 1);
    ck_assert_int_eq(e->version, 2);
    ck_assert_int_eq(e->inst->weight, 25);
    ck_assert_str_eq(e->inst->api_version, "v9");
    ck_assert_str_eq(src(e, "weight"), "database:DB:2");
    ck_assert_str_eq(src(e, "name"), "database:DB:1");
    ck_assert_str_eq(src(e, "priority"), "database:DB:1");
    ck_assert_str_eq(e->inst->file, db);
    ck_assert_str_eq(apr_table_get(e->inst->sources, "api_key"), db);
    ck_assert_int_eq(eff(effs, 0)->version, 0);
}
END_TEST

/* A PATCH of a YAML instance owns its keys only: YAML changes to the others flow
 * through, changes to the owned ones do not. */
START_TEST(layers_patch_over_yaml)
{
    const char *extra = apr_pstrcat(pool, "    max_tpm: 1000\n", models_1, NULL);
    apr_array_header_t *y = yaml(yaml_instance("y1", extra), NULL), *effs;
    aop_instance_t *patched;
    aop_effective_t *e;

    patched = APR_ARRAY_IDX(y, 0, aop_instance_t *);
    patched->weight = 5;
    put_ok(patched, "update", "weight");
    effs = merged(yaml(yaml_instance("y1", extra),
                       "  - name: y1\n    max_tpm: 2000\n    weight: 60\n"), records(), NULL);
    e = eff(effs, 0);
    ck_assert_int_eq(effs->nelts, 1);
    ck_assert_int_eq(e->version, 1);
    ck_assert(e->inst->max_tpm == 2000);                /* not owned: YAML's, now */
    ck_assert_str_eq(src(e, "max_tpm"), "yaml:prod.yaml");
    ck_assert_int_eq(e->inst->weight, 5);               /* owned */
    ck_assert_str_eq(src(e, "weight"), "database:DB:1");
    ck_assert_str_eq(src(e, "api_base"), "yaml:base.yaml");
    ck_assert_str_eq(src(e, "enabled"), "default");
    ck_assert_str_eq(e->inst->file, "prod.yaml");
}
END_TEST

/* What the state file gave is state_file; what the API set later, database. */
START_TEST(layers_imported_fields)
{
    apr_array_header_t *y = yaml(yaml_instance("y1", apr_pstrcat(pool, "    priority: 3\n",
                                                                  models_1, NULL)), NULL);
    aop_store_result_t res;
    aop_instance_t *changed;
    apr_array_header_t *effs;
    aop_effective_t *e;
    apr_file_t *f;
    const char *text = "{\"instances\": {\"y1\": {\"weight\": 7},"
                       " \"s2\": {\"api_key\": \"k\", \"api_base\": \"https://s2\","
                       " \"api_version\": \"v\", \"supported_models\": [\"m\"],"
                       " \"model_deployments\": {\"m\": \"d\"}, \"stats\": {}}}}";
    int n = 0;

    ck_assert_int_eq(apr_file_open(&f, state, APR_FOPEN_WRITE | APR_FOPEN_CREATE,
                                   APR_OS_DEFAULT, pool), APR_SUCCESS);
    ck_assert_int_eq(apr_file_write_full(f, text, strlen(text), NULL), APR_SUCCESS);
    apr_file_close(f);
    ck_assert_int_eq(aop_store_import_state_file(pool, db, state, y, &n, &res), APR_SUCCESS);
    ck_assert_int_eq(n, 2);

    effs = merged(y, records(), NULL);
    ck_assert_str_eq(names(effs), "y1,s2");
    e = eff(effs, 0);
    ck_assert_int_eq(e->inst->weight, 7);
    ck_assert_str_eq(src(e, "weight"), "state_file:DB:1");
    ck_assert_str_eq(src(e, "name"), "state_file:DB:1");
    ck_assert_int_eq(e->inst->priority, 3);
    ck_assert_str_eq(src(e, "priority"), "yaml:base.yaml");
    ck_assert_str_eq(src(e, "api_key"), "yaml:base.yaml");
    e = eff(effs, 1);
    ck_assert_str_eq(src(e, "api_base"), "state_file:DB:1");
    ck_assert_str_eq(src(e, "weight"), "default");      /* the entry did not give it */

    /* the API then changes one field: database, the imported ones stay state_file */
    changed = eff(effs, 0)->inst;
    changed->max_tpm = 42;
    put_ok(changed, "update", "max_tpm");
    e = eff(merged(y, records(), NULL), 0);
    ck_assert_int_eq(e->version, 2);
    ck_assert_str_eq(src(e, "max_tpm"), "database:DB:2");
    ck_assert_str_eq(src(e, "weight"), "state_file:DB:1");
}
END_TEST

START_TEST(layers_deletion_hides)
{
    apr_array_header_t *y = yaml(apr_pstrcat(pool, yaml_instance("y1", models_1),
                                             yaml_instance("y2", models_1), NULL), NULL);

    put_ok(stored_inst("d1", 1), "add", NULL);
    ck_assert_int_eq(aop_store_delete(pool, db, "y1", "ops", NULL, NULL), APR_SUCCESS);
    ck_assert_int_eq(aop_store_delete(pool, db, "d1", "ops", NULL, NULL), APR_SUCCESS);
    ck_assert_str_eq(names(merged(y, records(), NULL)), "y2");
}
END_TEST

/* YAML adds a model the owned model_deployments lacks: the record as a whole. */
START_TEST(layers_invalid_merge_falls_back)
{
    apr_array_header_t *y = yaml(yaml_instance("y1", models_1), NULL), *effs, *warnings;
    aop_instance_t *patched = APR_ARRAY_IDX(y, 0, aop_instance_t *);
    aop_effective_t *e;
    const char *w;

    apr_hash_set(patched->model_deployments, "gpt-4o", APR_HASH_KEY_STRING, "d2");
    put_ok(patched, "update", "model_deployments");
    y = yaml(yaml_instance("y1", "    weight: 3\n"
                                 "    supported_models: [gpt-4o, o1]\n"
                                 "    model_deployments: {gpt-4o: d1, o1: d3}\n"), NULL);

    warnings = apr_array_make(pool, 2, sizeof(const char *));
    effs = merged(y, records(), warnings);
    ck_assert_int_eq(effs->nelts, 1);
    ck_assert_int_eq(warnings->nelts, 1);
    w = APR_ARRAY_IDX(warnings, 0, const char *);
    ck_assert_str_eq(w, "instance y1: model_deployments.o1: model \"o1\" of "
                     "supported_models has no deployment; using its stored record as a "
                     "whole");
    e = eff(effs, 0);
    ck_assert_int_eq(e->inst->supported_models->nelts, 1);
    ck_assert_str_eq(aop_instance_deployment(e->inst, "gpt-4o"), "d2");
    ck_assert_int_eq(e->inst->weight, 100);             /* the record's, not YAML's 3 */
    ck_assert_str_eq(src(e, "model_deployments"), "database:DB:1");
    ck_assert_str_eq(src(e, "weight"), "database:DB:1");
    ck_assert_str_eq(src(e, "name"), "database:DB:1");
    ck_assert_str_eq(e->inst->file, db);
    /* warnings may be NULL */
    ck_assert_int_eq(merged(y, records(), NULL)->nelts, 1);
}
END_TEST

/* The merge fails over the key, which must not show in the warning. */
START_TEST(layers_no_secret_in_messages)
{
    apr_array_header_t *y = yaml(yaml_instance("y1", apr_pstrcat(pool, "    enabled: false\n",
                                                                  models_1, NULL)), NULL);
    apr_array_header_t *effs, *warnings = apr_array_make(pool, 2, sizeof(const char *));
    aop_instance_t *patched = APR_ARRAY_IDX(y, 0, aop_instance_t *);
    aop_effective_t *e;

    patched->enabled = 1;
    put_ok(patched, "update", "enabled");
    /* YAML drops the key of what it thinks is a disabled instance */
    y = yaml("  - name: y1\n    enabled: false\n    api_base: https://y1.example.com/\n"
             "    api_version: 2024-02-01\n    supported_models: [gpt-4o]\n"
             "    model_deployments: {gpt-4o: d1}\n", NULL);
    effs = merged(y, records(), warnings);
    ck_assert_int_eq(warnings->nelts, 1);
    ck_assert_ptr_nonnull(strstr(APR_ARRAY_IDX(warnings, 0, const char *), "api_key"));
    e = eff(effs, 0);
    ck_assert_str_eq(e->inst->api_key, SECRET);         /* the record's */
    assert_no_secret(aop_json_to_string(pool, aop_json_own(pool,
                                                           aop_effective_to_json(e, 0))));
    assert_no_secret(aop_json_to_string(pool, aop_json_own(pool,
                                                           aop_effective_sources_json(e))));
}
END_TEST

/* ==========================================================================
 * codec
 */
static aop_effective_t *sample(void)
{
    const char *extra = apr_pstrcat(pool, "    max_tpm: 1000\n", models_1, NULL);
    apr_array_header_t *y = yaml(yaml_instance("y1", extra), "  - name: y1\n    weight: 9\n");
    aop_instance_t *patched = APR_ARRAY_IDX(y, 0, aop_instance_t *);

    patched->priority = 4;
    put_ok(patched, "update", "priority");
    return eff(merged(y, records(), NULL), 0);
}

START_TEST(codec_round_trip)
{
    aop_effective_t *e = sample(), *back = NULL;
    json_object *doc = aop_json_own(pool, aop_effective_to_json(e, 1)), *again, *s;
    const char *err = NULL;

    ck_assert_int_eq(json_object_get_int(json_object_object_get(doc, "_version")), 1);
    s = json_object_object_get(json_object_object_get(doc, "_sources"), "priority");
    ck_assert_str_eq(aop_json_to_string(pool, s), apr_pstrcat(pool, "{\"layer\":\"database\","
                     "\"location\":\"", db, "\",\"version\":1}", NULL));
    s = json_object_object_get(json_object_object_get(doc, "_sources"), "enabled");
    ck_assert_str_eq(aop_json_to_string(pool, s), "{\"layer\":\"default\"}");

    ck_assert_msg(aop_effective_from_json(pool, doc, &back, &err) == APR_SUCCESS, "%s", err);
    ck_assert_ptr_null(err);
    ck_assert_int_eq(back->version, 1);
    ck_assert_str_eq(back->inst->api_key, SECRET);
    ck_assert_int_eq(back->inst->priority, 4);
    ck_assert_int_eq(back->inst->weight, 9);
    ck_assert_str_eq(src(back, "weight"), "yaml:prod.yaml");
    ck_assert_str_eq(src(back, "priority"), "database:DB:1");
    ck_assert_str_eq(back->inst->file, "prod.yaml");
    ck_assert_str_eq(apr_table_get(back->inst->sources, "max_tpm"), "base.yaml");
    again = aop_json_own(pool, aop_effective_to_json(back, 1));
    ck_assert_msg(json_object_equal(doc, again), "%s\n%s", aop_json_to_string(pool, doc),
                  aop_json_to_string(pool, again));
}
END_TEST

START_TEST(codec_without_secret)
{
    aop_effective_t *e = sample(), *back = NULL;
    json_object *doc = aop_json_own(pool, aop_effective_to_json(e, 0));
    const char *err = NULL;

    ck_assert_str_eq(json_object_get_string(json_object_object_get(doc, "api_key")),
                     AOP_API_KEY_MASK);
    assert_no_secret(aop_json_to_string(pool, doc));
    /* the mask is not a key: such a document is not an instance */
    ck_assert_int_eq(aop_effective_from_json(pool, doc, &back, &err), APR_EINVAL);
    ck_assert_ptr_null(back);
    ck_assert_ptr_nonnull(strstr(err, "api_key: "));
}
END_TEST

/* One broken document per row: the key set (value NULL: removed), a phrase of the
 * message. */
static const struct {
    const char *key, *value, *phrase;
} bad_docs[] = {
    { "_version", NULL, "_version: missing required field" },
    { "_version", "-1", "_version: must be between 0" },
    { "_version", "'1'", "_version: expected an integer" },
    { "_sources", NULL, "_sources: missing required field" },
    { "_sources", "[]", "_sources: expected an object" },
    { "_sources", "{'weight':{'layer':'yaml'}}", "_sources.name: missing required field" },
    { "_extra", "1", "_extra: unknown key" },
    { "weight", "-2", "weight: must be >= 0" },
};

static json_object *value_of(const char *text)
{
    char *t = apr_pstrcat(pool, "[", text, "]", NULL), *q;
    const char *err;

    for (q = t; *q; ++q) {
        *q = (*q == '\'') ? '"' : *q;
    }
    /* in a list: json-c cannot tell where a bare number ends */
    return json_object_get(json_object_array_get_idx(aop_json_parse(pool, t, strlen(t),
                                                                     &err), 0));
}

START_TEST(codec_bad_documents)
{
    aop_effective_t *back = NULL;
    json_object *doc = aop_json_own(pool, aop_effective_to_json(sample(), 1));
    const char *err = NULL;

    if (bad_docs[_i].value) {
        json_object_object_add(doc, bad_docs[_i].key, value_of(bad_docs[_i].value));
    }
    else {
        json_object_object_del(doc, bad_docs[_i].key);
    }
    ck_assert_int_eq(aop_effective_from_json(pool, doc, &back, &err), APR_EINVAL);
    ck_assert_ptr_null(back);
    ck_assert_msg(strstr(err, bad_docs[_i].phrase) != NULL, "\"%s\" lacks \"%s\"", err,
                  bad_docs[_i].phrase);
    assert_no_secret(err);
}
END_TEST

/* Broken entries of _sources. */
static const struct {
    const char *source, *phrase;
} bad_sources[] = {
    { "{'layer':'env'}", "_sources.weight.layer: expected one of default, yaml, "
      "state_file, database" },
    { "{}", "_sources.weight.layer: expected one of" },
    { "'yaml'", "_sources.weight: expected an object" },
    { "{'layer':'yaml','location':7}", "_sources.weight.location: expected a string" },
    { "{'layer':'database','version':1.5}", "_sources.weight.version: expected an integer" },
    { "{'layer':'database','colour':1}", "_sources.weight.colour: unknown key" },
};

START_TEST(codec_bad_sources)
{
    aop_effective_t *back = NULL;
    json_object *doc = aop_json_own(pool, aop_effective_to_json(sample(), 1));
    const char *err = NULL;

    json_object_object_add(json_object_object_get(doc, "_sources"), "weight",
                           value_of(bad_sources[_i].source));
    ck_assert_int_eq(aop_effective_from_json(pool, doc, &back, &err), APR_EINVAL);
    ck_assert_msg(strstr(err, bad_sources[_i].phrase) != NULL, "\"%s\" lacks \"%s\"", err,
                  bad_sources[_i].phrase);
    json_object_object_add(json_object_object_get(doc, "_sources"), "weight",
                           value_of("{'layer':'yaml'}"));
    json_object_object_add(json_object_object_get(doc, "_sources"), "colour",
                           value_of("{'layer':'yaml'}"));
    ck_assert_int_eq(aop_effective_from_json(pool, doc, &back, &err), APR_EINVAL);
    ck_assert_str_eq(err, "_sources.colour: not an instance key");
}
END_TEST

/* The sources are in the instance-key order, the schema's AOP_FIELD_API rows in
 * table order, as the diff of a complete instance against nothing is too. */
START_TEST(codec_sources_key_order)
{
    aop_effective_t *e = sample();
    json_object *srcs = aop_json_own(pool, aop_effective_sources_json(e));
    aop_instance_t *full = aop_instance_new(pool, "t", 0);
    apr_array_header_t *keys;
    const char *order = "";

    full->api_key = "";
    full->client_secret = "";
    keys = aop_instance_json_diff(pool, NULL, aop_json_own(pool, aop_instance_to_json(full, 1)));
    json_object_object_foreach(srcs, key, val) {
        (void)val;
        order = apr_pstrcat(pool, order, *order ? "," : "", key, NULL);
    }
    ck_assert_str_eq(order, apr_array_pstrcat(pool, keys, ','));
    ck_assert_str_eq(order, apr_array_pstrcat(pool, aop_field_keys(pool, AOP_FIELD_API), ','));
}
END_TEST

Suite *aop_layers_suite(void)
{
    Suite *s = suite_create("aop_layers");
    TCase *tm = tcase_create("merge");
    TCase *tc = tcase_create("codec");

    tcase_add_checked_fixture(tm, setup, teardown);
    tcase_add_test(tm, layers_names);
    tcase_add_test(tm, layers_yaml_only);
    tcase_add_test(tm, layers_database_only);
    tcase_add_test(tm, layers_patch_over_yaml);
    tcase_add_test(tm, layers_imported_fields);
    tcase_add_test(tm, layers_deletion_hides);
    tcase_add_test(tm, layers_invalid_merge_falls_back);
    tcase_add_test(tm, layers_no_secret_in_messages);
    suite_add_tcase(s, tm);

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, codec_round_trip);
    tcase_add_test(tc, codec_without_secret);
    tcase_add_loop_test(tc, codec_bad_documents, 0,
                        (int)(sizeof(bad_docs) / sizeof(bad_docs[0])));
    tcase_add_loop_test(tc, codec_bad_sources, 0,
                        (int)(sizeof(bad_sources) / sizeof(bad_sources[0])));
    tcase_add_test(tc, codec_sources_key_order);
    suite_add_tcase(s, tc);
    return s;
}
