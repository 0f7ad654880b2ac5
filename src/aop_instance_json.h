/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Instances as JSON: the admin API's payloads and the records of the instance store
 * (aop_store.c).  The keys are the YAML keys and the rules are the YAML loader's: both
 * follow the instance schema (aop_instance_schema.h), so that an instance is valid or
 * not whatever its source. */
#ifndef AOP_INSTANCE_JSON_H
#define AOP_INSTANCE_JSON_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <json-c/json.h>

#include "aop_config.h"

/* What aop_instance_to_json() shows instead of a key.  A PATCH that sends it back
 * keeps the key it replaces, so that a GET-edit-PATCH round trip cannot store it. */
#define AOP_API_KEY_MASK "***"

/* Builds an instance from obj, a JSON object with the keys of the schema's
 * AOP_FIELD_API rows (name, provider_type, api_key, api_base, api_version, priority,
 * weight, max_tpm, enabled, supported_models, model_deployments, auth.*).  The auth.*
 * fields may also come nested, as the YAML writes them: "auth": {"type": "entra",
 * "tenant_id": ...} sets "auth.type", "auth.tenant_id"... with the same rules (keys it
 * does not name are left alone; "auth": null resets them all); an object that has
 * both shapes is refused.
 *   partial=0 (add, or a stored record): absent keys take their defaults and the
 *     required ones (name, api_base, api_version, supported_models with a deployment
 *     for each model, api_key when enabled) must be present.  base is ignored.
 *   partial=1 (PATCH): absent keys are taken from base (required); "name", if given,
 *     must be base's; a key that is given replaces base's value as a whole (so
 *     model_deployments is replaced, not merged).
 * In both modes a null value means the field's default, and the result is checked
 * as a whole as the YAML loader checks an instance; deployments of models that are
 * not in supported_models are dropped, as the YAML loader drops them.  JSON types are
 * strict: integers must be JSON integers, enabled a JSON boolean.
 * On error returns APR_EINVAL, *perr "FIELD: what is wrong" and *pfield the field
 * ("weight", "supported_models[1]", "model_deployments.gpt-4o"; NULL when obj is not
 * an object).  No message ever holds the value of api_key or api_base.  base is never
 * modified; the result may share its strings and arrays, never its hash. */
apr_status_t aop_instance_from_json(apr_pool_t *p, json_object *obj,
                                    const aop_instance_t *base, int partial,
                                    aop_instance_t **out, const char **perr,
                                    const char **pfield);

/* A new JSON object (the caller owns it: json_object_put() or aop_json_own()) with
 * every key, in table order, the auth.* fields as flat keys (as the history names
 * the fields it changed); model_deployments in supported_models order, so that
 * equal instances give equal text.  with_secret=0 shows a non-empty secret (api_key)
 * as AOP_API_KEY_MASK; 1 is for storage only.  A NULL secret is left out. */
json_object *aop_instance_to_json(const aop_instance_t *inst, int with_secret);

/* The field keys obj names, as aop_instance_from_json() reads them: a nested "auth"
 * object gives the "auth.KEY" of each key it has ("auth": null: every auth.* key).
 * Other keys as they are, known or not. */
apr_array_header_t *aop_instance_json_keys(apr_pool_t *p, json_object *obj);

/* 1 if key is one of the instance keys above (a row with AOP_FIELD_API). */
int aop_instance_json_is_key(const char *key);

/* The keys (const char *) whose values differ between two instance objects, in the
 * order of the instance keys; before NULL (a new instance) gives every key of after.
 * Never the values, so api_key can be named as changed without being shown. */
apr_array_header_t *aop_instance_json_diff(apr_pool_t *p, json_object *before,
                                           json_object *after);

#endif
