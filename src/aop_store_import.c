/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The Python version's state file, imported into an empty instance store: this file
 * reads the file and turns its entries into one batch of "import" changes with the
 * admin API's rules; aop_store.c applies the batch in the transaction that found the
 * store empty (aop_store_put_many_if_empty), so that nothing is imported twice. */
#include <string.h>

#include <apr_hash.h>
#include <apr_strings.h>

#include "aop_file.h"
#include "aop_instance_json.h"
#include "aop_json.h"
#include "aop_store_import.h"
#include "aop_store_private.h"

/* A state file is a list of instances: anything larger is not one. */
#define STATE_FILE_MAX (16 * 1024 * 1024)

typedef struct {
    apr_pool_t *p;
    const char *db_path;            /* for messages */
    const char *state_path;
    const apr_array_header_t *bases;
    aop_store_result_t *res;
} import_t;

typedef struct {
    const char *where;          /* "instances[2]" or "instances.east", for messages */
    const char *key;            /* the object shape's key, else NULL */
    json_object *obj;
} state_entry_t;

static apr_status_t state_fail(import_t *im, const char *why)
{
    return aop_store_failed(im->p, im->res, im->db_path, AOP_STORE_ERROR, NULL,
                            "cannot import the state file %s: %s", im->state_path, why);
}

/* The whole file; *text NULL if it does not exist. */
static apr_status_t read_state_file(import_t *im, const char **text, apr_size_t *len)
{
    char ebuf[128];
    apr_status_t rv;

    switch (aop_file_read(im->p, im->state_path, STATE_FILE_MAX, text, len, &rv)) {
    case AOP_FILE_OK:
    case AOP_FILE_MISSING:
        return APR_SUCCESS;
    case AOP_FILE_NOT_REGULAR:
        return state_fail(im, "not a regular file");
    case AOP_FILE_TOO_LARGE:
        return state_fail(im, "larger than 16 MiB");
    default:
        return state_fail(im, apr_strerror(rv, ebuf, sizeof(ebuf)));
    }
}

static void add_entry(apr_pool_t *p, apr_array_header_t *entries, const char *where,
                      const char *key, json_object *obj)
{
    state_entry_t *e = apr_array_push(entries);

    e->where = where;
    e->key = key ? apr_pstrdup(p, key) : NULL;
    e->obj = obj;
}

/* "instances" as a list or as an object keyed by name. */
static apr_status_t state_entries(import_t *im, json_object *root,
                                  apr_array_header_t *entries)
{
    json_object *list;
    size_t i;

    if (!json_object_is_type(root, json_type_object)
        || !json_object_object_get_ex(root, "instances", &list)) {
        return aop_store_failed(im->p, im->res, im->db_path, AOP_STORE_INVALID, NULL,
                                "state file %s: expected an object with \"instances\"",
                                im->state_path);
    }
    if (json_object_is_type(list, json_type_array)) {
        for (i = 0; i < json_object_array_length(list); ++i) {
            add_entry(im->p, entries, apr_psprintf(im->p, "instances[%d]", (int)i), NULL,
                      json_object_array_get_idx(list, i));
        }
        return APR_SUCCESS;
    }
    if (json_object_is_type(list, json_type_object)) {
        json_object_object_foreach(list, key, val) {
            add_entry(im->p, entries, apr_pstrcat(im->p, "instances.", key, NULL), key, val);
        }
        return APR_SUCCESS;
    }
    return aop_store_failed(im->p, im->res, im->db_path, AOP_STORE_INVALID, NULL,
                            "state file %s: \"instances\" must be a list or an object",
                            im->state_path);
}

static apr_status_t entry_fail(import_t *im, const state_entry_t *e, const char *name,
                               const char *field, const char *why)
{
    aop_store_failed(im->p, im->res, im->db_path, AOP_STORE_INVALID, name,
                     "state file %s: %s%s%s%s: %s", im->state_path, e->where,
                     name ? " (\"" : "", name ? name : "", name ? "\")" : "", why);
    im->res->field = field;
    return APR_EINVAL;
}

/* The known keys of one entry (runtime status and the Python version's other fields
 * are dropped), with the object shape's key as the name. */
static apr_status_t entry_fields(import_t *im, const state_entry_t *e, json_object **out)
{
    json_object *known = aop_json_own(im->p, json_object_new_object()), *name;

    if (!json_object_is_type(e->obj, json_type_object)) {
        return entry_fail(im, e, NULL, NULL, "expected an object");
    }
    json_object_object_foreach(e->obj, key, val) {
        if (aop_instance_json_is_key(key)) {
            json_object_object_add(known, key, json_object_get(val));
        }
    }
    if (e->key && json_object_object_get_ex(known, "name", &name)
        && (!json_object_is_type(name, json_type_string)
            || strcmp(json_object_get_string(name), e->key))) {
        return entry_fail(im, e, e->key, "name", "name: differs from its key");
    }
    if (e->key) {
        json_object_object_add(known, "name", json_object_new_string(e->key));
    }
    *out = known;
    return APR_SUCCESS;
}

/* The entry's name if it has a usable one, for messages and for finding its base. */
static const char *entry_name(apr_pool_t *p, json_object *obj)
{
    json_object *name;

    if (!json_object_object_get_ex(obj, "name", &name)
        || !json_object_is_type(name, json_type_string)
        || !aop_instance_name_ok(json_object_get_string(name))) {
        return NULL;
    }
    return apr_pstrdup(p, json_object_get_string(name));
}

static const aop_instance_t *find_base(const apr_array_header_t *bases, const char *name)
{
    const aop_instance_t *b;
    int i;

    for (i = 0; bases && name && i < bases->nelts; ++i) {
        b = APR_ARRAY_IDX(bases, i, const aop_instance_t *);
        if (b && b->name && !strcmp(b->name, name)) {
            return b;
        }
    }
    return NULL;
}

/* One entry into a change for the batch; the state file wins over YAML field by
 * field, YAML over the defaults.  The version's fields are the keys the entry gave
 * (the diff of its keys against nothing), not those of the whole instance: the
 * record owns only them, and the fields taken from the base stay YAML's. */
static apr_status_t state_change(import_t *im, const state_entry_t *e, apr_hash_t *seen,
                                 aop_store_change_t *c)
{
    json_object *obj;
    const aop_instance_t *base;
    aop_instance_t *inst;
    const char *err, *field, *name;
    apr_status_t rv;

    if ((rv = entry_fields(im, e, &obj)) != APR_SUCCESS) {
        return rv;
    }
    name = entry_name(im->p, obj);
    base = find_base(im->bases, name);
    if (aop_instance_from_json(im->p, obj, base, base != NULL, &inst, &err, &field)
        != APR_SUCCESS) {
        return entry_fail(im, e, name, field, err);
    }
    if (apr_hash_get(seen, inst->name, APR_HASH_KEY_STRING)) {
        return entry_fail(im, e, inst->name, "name", "name: given twice");
    }
    apr_hash_set(seen, inst->name, APR_HASH_KEY_STRING, inst);
    memset(c, 0, sizeof(*c));
    c->inst = inst;
    c->change = "import";
    c->fields = aop_instance_json_diff(im->p, NULL, obj);
    return APR_SUCCESS;
}

static apr_status_t import_entries(import_t *im, json_object *root,
                                   apr_array_header_t *changes)
{
    apr_array_header_t *entries = apr_array_make(im->p, 8, sizeof(state_entry_t));
    apr_hash_t *seen = apr_hash_make(im->p);
    apr_status_t rv;
    int i;

    if ((rv = state_entries(im, root, entries)) != APR_SUCCESS) {
        return rv;
    }
    for (i = 0; i < entries->nelts; ++i) {
        rv = state_change(im, &APR_ARRAY_IDX(entries, i, state_entry_t), seen,
                          apr_array_push(changes));
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    return APR_SUCCESS;
}

/* aop_store_batch_fn: called only when the store is empty, inside its transaction. */
static apr_status_t build_batch(apr_pool_t *p, void *baton, apr_array_header_t *changes,
                                aop_store_result_t *res)
{
    import_t *im = baton;
    const char *text, *err, *field;
    apr_size_t len = 0;
    json_object *root;
    apr_status_t rv;

    im->p = p;
    im->res = res;
    if ((rv = read_state_file(im, &text, &len)) != APR_SUCCESS || !text) {
        return rv;
    }
    /* Names with a NUL are refused, not cut short ("ok\u0000evil" is no "ok"). */
    if ((root = aop_json_parse_names(p, text, len, &err, &field)) == NULL) {
        if (!field) {
            return aop_store_failed(p, res, im->db_path, AOP_STORE_INVALID, NULL,
                                    "state file %s is not valid JSON: %s", im->state_path,
                                    err);
        }
        rv = aop_store_failed(p, res, im->db_path, AOP_STORE_INVALID, NULL,
                              "state file %s: %s", im->state_path, err);
        res->field = *field ? field : NULL;
        return rv;
    }
    return import_entries(im, root, changes);
}

/* The state file the Python version kept (INSTANCE_MANAGER_STATE_FILE), as its
 * InstanceManager._save_state_to_file() wrote it:
 *
 *   {"timestamp": 1715000000.5, "worker_id": "…",
 *    "instances": [{"name": "east", "provider_type": "azure", "api_key": "…",
 *                   "api_base": "https://east.openai.azure.com",
 *                   "api_version": "2024-02-01", "proxy_url": null,
 *                   "priority": 100, "weight": 100, "max_tpm": 240000,
 *                   "max_input_tokens": 0, "supported_models": ["gpt-4o"],
 *                   "model_deployments": {"gpt-4o": "gpt-4o"},
 *                   "stats": {"error_count": 0, …}}, …]}
 *
 * "instances" may also be an object keyed by name, {"east": {…}}; a "name" inside an
 * entry must then equal its key, and may be left out.  Top-level keys other than
 * "instances" are ignored, and so are an entry's keys that are not instance keys
 * (proxy_url, max_input_tokens, stats, status, …).  The instance keys follow the
 * admin API's rules (aop_instance_from_json()): one bad entry and nothing is
 * imported. */
apr_status_t aop_store_import_state_file(apr_pool_t *p, const char *db_path,
                                         const char *state_path,
                                         const apr_array_header_t *bases, int *imported,
                                         aop_store_result_t *res)
{
    import_t im;

    *imported = 0;
    if (res) {
        memset(res, 0, sizeof(*res));
    }
    if (!state_path || !*state_path) {
        return APR_SUCCESS;
    }
    memset(&im, 0, sizeof(im));
    im.db_path = db_path ? db_path : "";
    im.state_path = state_path;
    im.bases = bases;
    return aop_store_put_many_if_empty(p, db_path, "state-file", build_batch, &im, imported,
                                       res);
}
