/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The effective instances: the database over the state file (imported into the
 * database) over YAML over the defaults, field by field, with a record of where each
 * field of each instance comes from.  The YAML instances come from aop_config.c, the
 * stored records from aop_store.c; this file only merges them, and turns the result
 * into the JSON document the processes share and back. */
#ifndef AOP_LAYERS_H
#define AOP_LAYERS_H

#include <apr_hash.h>
#include <apr_pools.h>
#include <apr_tables.h>
#include <json-c/json.h>

#include "aop_config.h"
#include "aop_store.h"

typedef enum {
    AOP_LAYER_DEFAULT = 0,
    AOP_LAYER_YAML,
    AOP_LAYER_STATE_FILE,
    AOP_LAYER_DATABASE
} aop_layer_e;

/* "default", "yaml", "state_file", "database" */
const char *aop_layer_name(aop_layer_e l);

typedef struct {
    aop_layer_e layer;
    const char *location;   /* yaml: the YAML file; state_file and database: the
                             * database path; default: NULL */
    int version;            /* state_file/database: the stored version that set it; else 0 */
} aop_field_source_t;

typedef struct {
    aop_instance_t *inst;   /* the effective instance (valid as aop_instance_from_json
                             * would accept it); its sources table maps each field that
                             * is not a default to its location, and its file is the
                             * location of its name ("json" if that is a default) */
    apr_hash_t *sources;    /* every instance key -> aop_field_source_t * */
    int version;            /* latest stored version, 0 when never stored */
} aop_effective_t;

/* yaml: aop_instance_t * in file order (may be NULL); their sources tables say which
 * YAML file set which key, and a key not in it is a default.
 * records: aop_store_record_t * from aop_store_load() (may be NULL or empty).
 * *out: aop_effective_t *: the YAML instances in their order (a record marked deleted
 * hides the YAML instance of its name), then the instances only in the database, in
 * name order.
 *
 * Per field: a field the record owns takes the record's value and the source database
 * (state_file when imported) at the version that set it; any other field the YAML
 * instance's value (source yaml with its file, or default).  A stored name with no
 * YAML instance takes everything from the record: its owned fields as above, the rest
 * (which the record holds as they were when it was written) with the source default.
 *
 * The merged instance is checked as a whole (aop_instance_to_json(..., 1) and back
 * through aop_instance_from_json(..., partial=0)).  If that fails (YAML now lists a
 * model the database's model_deployments lacks, say), the record is used as a whole:
 * its owned fields as above, the others database at the record's version, and
 * "instance NAME: FIELD: what is wrong; using its stored record as a whole" is pushed
 * onto warnings (const char *; may be NULL).  Messages never hold api_key or api_base.
 *
 * Returns APR_EINVAL (*out NULL, the reason pushed onto warnings as "instance NAME:
 * ...") only when a YAML instance or a record is not valid on its own, which
 * aop_config_load() and aop_store_load() never return. */
apr_status_t aop_layers_merge(apr_pool_t *p, const apr_array_header_t *yaml,
                              const apr_array_header_t *records, const char *db_path,
                              apr_array_header_t **out, apr_array_header_t *warnings);

/* The live document shared between processes, a new object the caller owns: the
 * instance's keys as aop_instance_to_json(e->inst, with_secret) writes them, plus
 * "_version": N and "_sources": {key: {"layer": "...", "location": "..." (absent when
 * NULL), "version": N (absent when 0)}}. */
json_object *aop_effective_to_json(const aop_effective_t *e, int with_secret);

/* The other way, with the admin API's rules for the instance keys (so a document
 * written without the secret, its api_key masked, is refused) and strict ones for
 * "_version" (an integer >= 0) and "_sources" (every instance key, nothing else, each
 * with a known layer).  On error APR_EINVAL and *perr "FIELD: what is wrong", never
 * holding a key. */
apr_status_t aop_effective_from_json(apr_pool_t *p, json_object *obj, aop_effective_t **out,
                                     const char **perr);

/* {"key": {"layer", "location", "version"}, ...} only, keys in the instance-key order,
 * as GET /admin/config/instances/{name}/sources shows them; a new object the caller
 * owns. */
json_object *aop_effective_sources_json(const aop_effective_t *e);

#endif
