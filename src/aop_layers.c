/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The effective instances, merged field by field from YAML and the stored records,
 * and their codec.
 *
 * Every effective instance is built the same way, as the JSON object of its fields
 * read back through aop_instance_from_json(): so it is valid by the admin API's
 * rules whichever layers its fields come from, and it shares nothing with the YAML
 * instances or the records it was made of. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>

#include "aop_instance_json.h"
#include "aop_json.h"
#include "aop_layers.h"

/* The fields merged and attributed here are those of the JSON codec: the schema's
 * rows with AOP_FIELD_API, walked in table order.  A field is merged as its JSON
 * value (aop_instance_to_json), so no field needs code of its own here. */
static int merged(const aop_field_t *f)
{
    return (f->flags & AOP_FIELD_API) != 0;
}

static const char *const layer_names[] = { "default", "yaml", "state_file", "database" };

const char *aop_layer_name(aop_layer_e l)
{
    if ((int)l < 0 || (int)l > (int)AOP_LAYER_DATABASE) {
        return layer_names[AOP_LAYER_DEFAULT];
    }
    return layer_names[l];
}

static int layer_parse(const char *name, aop_layer_e *out)
{
    int i;

    for (i = 0; i <= (int)AOP_LAYER_DATABASE; ++i) {
        if (!strcmp(layer_names[i], name)) {
            *out = (aop_layer_e)i;
            return 1;
        }
    }
    return 0;
}

static aop_field_source_t *new_source(apr_pool_t *p, aop_layer_e layer,
                                      const char *location, int version)
{
    aop_field_source_t *s = apr_palloc(p, sizeof(*s));

    s->layer = layer;
    s->location = location;
    s->version = version;
    return s;
}

/* inst->sources and inst->file follow the field sources, so that an instance says the
 * same wherever it was read from (the codec has no line, so none is kept). */
static void attach_sources(apr_pool_t *p, aop_effective_t *e)
{
    const aop_field_source_t *s;
    const aop_field_t *f;

    e->inst->sources = apr_table_make(p, 16);
    e->inst->line = 0;
    for (f = aop_instance_fields; f->key; ++f) {
        s = merged(f) ? apr_hash_get(e->sources, f->key, APR_HASH_KEY_STRING) : NULL;
        if (s && s->location) {
            apr_table_setn(e->inst->sources, f->key, s->location);
        }
    }
    s = apr_hash_get(e->sources, "name", APR_HASH_KEY_STRING);
    e->inst->file = (s && s->location) ? s->location : "json";
}

/* --------------------------------------------------------------------------
 * merge
 */
typedef struct {
    apr_pool_t *p;
    apr_pool_t *tmp;                /* one instance's JSON while it is merged: freed after
                                     * (at thousands of instances, tens of megabytes the
                                     * result's pool, pconf at start-up, kept) */
    const char *db_path;
    apr_array_header_t *warnings;   /* may be NULL */
} merge_t;

static void warn(merge_t *m, const char *name, const char *why, const char *what)
{
    if (m->warnings) {
        APR_ARRAY_PUSH(m->warnings, const char *) = apr_pstrcat(m->p, "instance ", name, ": ",
                                                                why, what, NULL);
    }
}

static const aop_store_owner_t *owner_of(const aop_store_record_t *r, const char *key)
{
    return (r && r->owned) ? apr_hash_get(r->owned, key, APR_HASH_KEY_STRING) : NULL;
}

static aop_field_source_t *owned_source(merge_t *m, const aop_store_owner_t *o)
{
    return new_source(m->p, o->imported ? AOP_LAYER_STATE_FILE : AOP_LAYER_DATABASE,
                      m->db_path, o->version);
}

/* A field the record does not own: YAML's if a YAML file set it, else the default. */
static aop_field_source_t *yaml_source(merge_t *m, const aop_instance_t *y, const char *key)
{
    const char *file = (y && y->sources) ? apr_table_get(y->sources, key) : NULL;

    return file ? new_source(m->p, AOP_LAYER_YAML, file, 0)
                : new_source(m->p, AOP_LAYER_DEFAULT, NULL, 0);
}

static apr_status_t checked(apr_pool_t *p, json_object *obj, aop_instance_t **out,
                            const char **perr)
{
    const char *field;

    return aop_instance_from_json(p, obj, NULL, 0, out, perr, &field);
}

/* The owned fields from the record, the others from y; with no y, everything from the
 * record, the fields it does not own labelled default. */
static apr_status_t merge_fields(merge_t *m, const aop_instance_t *y,
                                 const aop_store_record_t *r, aop_effective_t *e,
                                 const char **perr)
{
    json_object *obj = aop_json_own(m->tmp, aop_instance_to_json(y ? y : r->inst, 1));
    json_object *stored = r ? aop_json_own(m->tmp, aop_instance_to_json(r->inst, 1)) : NULL;
    json_object *val;
    const aop_store_owner_t *o;
    const aop_field_t *f;
    aop_field_source_t *s;

    e->sources = apr_hash_make(m->p);
    for (f = aop_instance_fields; f->key; ++f) {
        if (!merged(f)) {
            continue;
        }
        if ((o = owner_of(r, f->key)) != NULL) {
            /* absent from the record (a NULL api_key): JSON null, the default */
            val = NULL;
            json_object_object_get_ex(stored, f->key, &val);
            json_object_object_add(obj, f->key, json_object_get(val));
            s = owned_source(m, o);
        }
        else {
            s = yaml_source(m, y, f->key);
        }
        apr_hash_set(e->sources, f->key, APR_HASH_KEY_STRING, s);
    }
    return checked(m->p, obj, &e->inst, perr);
}

/* The record alone, every field from the database: what it owns as it says, the rest
 * at the record's version, which holds them. */
static apr_status_t whole_record(merge_t *m, const aop_store_record_t *r,
                                 aop_effective_t *e, const char **perr)
{
    const aop_store_owner_t *o;
    const aop_field_t *f;
    aop_field_source_t *s;

    e->sources = apr_hash_make(m->p);
    for (f = aop_instance_fields; f->key; ++f) {
        if (!merged(f)) {
            continue;
        }
        o = owner_of(r, f->key);
        s = o ? owned_source(m, o)
              : new_source(m->p, AOP_LAYER_DATABASE, m->db_path, r->version);
        apr_hash_set(e->sources, f->key, APR_HASH_KEY_STRING, s);
    }
    return checked(m->p, aop_json_own(m->tmp, aop_instance_to_json(r->inst, 1)), &e->inst,
                   perr);
}

/* One effective instance from y (may be NULL) and r (live, may be NULL). */
static apr_status_t effective(merge_t *m, const aop_instance_t *y,
                              const aop_store_record_t *r, apr_array_header_t *out)
{
    aop_effective_t *e = apr_pcalloc(m->p, sizeof(*e));
    const char *name = y ? y->name : r->name, *err, *merged_err;
    apr_status_t rv;

    e->version = r ? r->version : 0;
    apr_pool_create(&m->tmp, m->p);
    rv = merge_fields(m, y, r, e, &err);
    if (rv != APR_SUCCESS && y && r) {
        merged_err = err;
        if ((rv = whole_record(m, r, e, &err)) == APR_SUCCESS) {
            warn(m, name, merged_err, "; using its stored record as a whole");
        }
    }
    if (rv != APR_SUCCESS) {
        warn(m, name, err, "");
    }
    apr_pool_destroy(m->tmp);
    m->tmp = NULL;
    if (rv != APR_SUCCESS) {
        return rv;
    }
    attach_sources(m->p, e);
    APR_ARRAY_PUSH(out, aop_effective_t *) = e;
    return APR_SUCCESS;
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(aop_store_record_t *const *)a)->name,
                  (*(aop_store_record_t *const *)b)->name);
}

/* The live records that no YAML instance has, in name order. */
static apr_array_header_t *database_only(apr_pool_t *p, const apr_array_header_t *records,
                                         apr_hash_t *yaml_names)
{
    apr_array_header_t *only = apr_array_make(p, 4, sizeof(aop_store_record_t *));
    aop_store_record_t *r;
    int i;

    for (i = 0; records && i < records->nelts; ++i) {
        r = APR_ARRAY_IDX(records, i, aop_store_record_t *);
        if (!r->deleted && !apr_hash_get(yaml_names, r->name, APR_HASH_KEY_STRING)) {
            APR_ARRAY_PUSH(only, aop_store_record_t *) = r;
        }
    }
    qsort(only->elts, (size_t)only->nelts, sizeof(aop_store_record_t *), by_name);
    return only;
}

apr_status_t aop_layers_merge(apr_pool_t *p, const apr_array_header_t *yaml,
                              const apr_array_header_t *records, const char *db_path,
                              apr_array_header_t **out, apr_array_header_t *warnings)
{
    merge_t m = { p, NULL, db_path ? apr_pstrdup(p, db_path) : NULL, warnings };
    apr_array_header_t *all = apr_array_make(p, 8, sizeof(aop_effective_t *)), *only;
    apr_hash_t *stored = apr_hash_make(p), *yaml_names = apr_hash_make(p);
    const aop_store_record_t *r;
    const aop_instance_t *y;
    apr_status_t rv = APR_SUCCESS;
    int i;

    *out = NULL;
    for (i = 0; records && i < records->nelts; ++i) {
        r = APR_ARRAY_IDX(records, i, const aop_store_record_t *);
        apr_hash_set(stored, r->name, APR_HASH_KEY_STRING, r);
    }
    for (i = 0; yaml && i < yaml->nelts && rv == APR_SUCCESS; ++i) {
        y = APR_ARRAY_IDX(yaml, i, const aop_instance_t *);
        r = apr_hash_get(stored, y->name, APR_HASH_KEY_STRING);
        apr_hash_set(yaml_names, y->name, APR_HASH_KEY_STRING, y);
        if (!r || !r->deleted) {
            rv = effective(&m, y, r, all);
        }
    }
    only = database_only(p, records, yaml_names);
    for (i = 0; i < only->nelts && rv == APR_SUCCESS; ++i) {
        rv = effective(&m, NULL, APR_ARRAY_IDX(only, i, const aop_store_record_t *), all);
    }
    *out = (rv == APR_SUCCESS) ? all : NULL;
    return rv;
}

/* --------------------------------------------------------------------------
 * to JSON
 */
static json_object *source_json(const aop_field_source_t *s)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "layer", json_object_new_string(aop_layer_name(s->layer)));
    if (s->location) {
        json_object_object_add(o, "location", json_object_new_string(s->location));
    }
    if (s->version) {
        json_object_object_add(o, "version", json_object_new_int(s->version));
    }
    return o;
}

json_object *aop_effective_sources_json(const aop_effective_t *e)
{
    json_object *o = json_object_new_object();
    const aop_field_source_t *s;
    const aop_field_t *f;

    for (f = aop_instance_fields; f->key; ++f) {
        s = merged(f) ? apr_hash_get(e->sources, f->key, APR_HASH_KEY_STRING) : NULL;
        if (s) {
            json_object_object_add(o, f->key, source_json(s));
        }
    }
    return o;
}

json_object *aop_effective_to_json(const aop_effective_t *e, int with_secret)
{
    json_object *o = aop_instance_to_json(e->inst, with_secret);

    json_object_object_add(o, "_version", json_object_new_int(e->version));
    json_object_object_add(o, "_sources", aop_effective_sources_json(e));
    return o;
}

/* --------------------------------------------------------------------------
 * from JSON
 */
typedef struct {
    apr_pool_t *p;
    const char *err;
} decode_t;

static apr_status_t bad(decode_t *d, const char *field, const char *what)
{
    d->err = apr_pstrcat(d->p, field, ": ", what, NULL);
    return APR_EINVAL;
}

/* An integer in 0..INT_MAX. */
static apr_status_t get_count(decode_t *d, json_object *v, const char *field, int *out)
{
    apr_int64_t n;

    if (!json_object_is_type(v, json_type_int)) {
        return bad(d, field, "expected an integer");
    }
    n = json_object_get_int64(v);
    if (n < 0 || n > INT_MAX) {
        return bad(d, field, "must be between 0 and 2147483647");
    }
    *out = (int)n;
    return APR_SUCCESS;
}

static apr_status_t get_string(decode_t *d, json_object *v, const char *field,
                               const char **out)
{
    if (!json_object_is_type(v, json_type_string)) {
        return bad(d, field, "expected a string");
    }
    *out = apr_pstrdup(d->p, json_object_get_string(v));
    return APR_SUCCESS;
}

static apr_status_t source_from_json(decode_t *d, const char *key, json_object *obj,
                                     aop_field_source_t **out)
{
    const char *field = apr_pstrcat(d->p, "_sources.", key, NULL), *sub;
    aop_field_source_t *s = new_source(d->p, AOP_LAYER_DEFAULT, NULL, 0);
    json_object *layer;
    apr_status_t rv = APR_SUCCESS;

    if (!json_object_is_type(obj, json_type_object)) {
        return bad(d, field, "expected an object");
    }
    if (!json_object_object_get_ex(obj, "layer", &layer)
        || !json_object_is_type(layer, json_type_string)
        || !layer_parse(json_object_get_string(layer), &s->layer)) {
        return bad(d, apr_pstrcat(d->p, field, ".layer", NULL), "expected one of default, "
                   "yaml, state_file, database");
    }
    json_object_object_foreach(obj, k, v) {
        sub = apr_pstrcat(d->p, field, ".", k, NULL);
        if (!strcmp(k, "location")) {
            rv = get_string(d, v, sub, &s->location);
        }
        else if (!strcmp(k, "version")) {
            rv = get_count(d, v, sub, &s->version);
        }
        else if (strcmp(k, "layer")) {
            rv = bad(d, sub, "unknown key (expected one of: layer, location, version)");
        }
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    *out = s;
    return APR_SUCCESS;
}

/* Every instance key and nothing else. */
static apr_status_t sources_from_json(decode_t *d, json_object *obj, apr_hash_t *sources)
{
    aop_field_source_t *s;
    const aop_field_t *f;
    json_object *v;
    apr_status_t rv;

    if (!json_object_is_type(obj, json_type_object)) {
        return bad(d, "_sources", "expected an object");
    }
    json_object_object_foreach(obj, key, val) {
        (void)val;
        if (!aop_instance_json_is_key(key)) {
            return bad(d, apr_pstrcat(d->p, "_sources.", key, NULL), "not an instance key");
        }
    }
    for (f = aop_instance_fields; f->key; ++f) {
        if (!merged(f)) {
            continue;
        }
        if (!json_object_object_get_ex(obj, f->key, &v)) {
            return bad(d, apr_pstrcat(d->p, "_sources.", f->key, NULL),
                       "missing required field");
        }
        if ((rv = source_from_json(d, f->key, v, &s)) != APR_SUCCESS) {
            return rv;
        }
        apr_hash_set(sources, f->key, APR_HASH_KEY_STRING, s);
    }
    return APR_SUCCESS;
}

/* obj without "_version" and "_sources", which aop_instance_from_json() would refuse
 * as unknown keys.  The caller puts it (it holds references to obj's values, which
 * must not live on with the decoded instance: a view decodes hundreds). */
static json_object *instance_part(json_object *obj)
{
    json_object *inst = json_object_new_object();

    json_object_object_foreach(obj, key, val) {
        if (strcmp(key, "_version") && strcmp(key, "_sources")) {
            json_object_object_add(inst, key, json_object_get(val));
        }
    }
    return inst;
}

static apr_status_t decode(decode_t *d, json_object *obj, aop_effective_t *e)
{
    json_object *version, *sources, *part;
    apr_status_t rv;

    if (!json_object_is_type(obj, json_type_object)) {
        return bad(d, "document", "expected a JSON object");
    }
    /* d->err is then aop_instance_from_json()'s "FIELD: what is wrong" */
    part = instance_part(obj);
    rv = checked(d->p, part, &e->inst, &d->err);
    json_object_put(part);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (!json_object_object_get_ex(obj, "_version", &version)) {
        return bad(d, "_version", "missing required field");
    }
    if ((rv = get_count(d, version, "_version", &e->version)) != APR_SUCCESS) {
        return rv;
    }
    if (!json_object_object_get_ex(obj, "_sources", &sources)) {
        return bad(d, "_sources", "missing required field");
    }
    return sources_from_json(d, sources, e->sources);
}

apr_status_t aop_effective_from_json(apr_pool_t *p, json_object *obj, aop_effective_t **out,
                                     const char **perr)
{
    decode_t d = { p, NULL };
    aop_effective_t *e = apr_pcalloc(p, sizeof(*e));
    apr_status_t rv;

    e->sources = apr_hash_make(p);
    if ((rv = decode(&d, obj, e)) == APR_SUCCESS) {
        attach_sources(p, e);
    }
    *out = (rv == APR_SUCCESS) ? e : NULL;
    *perr = d.err;
    return rv;
}
