/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* json-c tied to APR pools: an object handed to aop_json_own() is released when the
 * pool is, so no early return can leak it. */
#ifndef AOP_JSON_H
#define AOP_JSON_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <json-c/json.h>

json_object *aop_json_own(apr_pool_t *p, json_object *obj);

/* Parses text (len bytes, not necessarily NUL-terminated); NULL and *perr on error,
 * a document that is just null included. */
json_object *aop_json_parse(apr_pool_t *p, const char *text, apr_size_t len,
                            const char **perr);

/* aop_json_parse for documents whose strings become names, keys and URLs (the
 * management API's bodies, the state file): json-c cuts a member name at a NUL
 * character ("ok\u0000evil" is read as "ok"), so any string value or member name
 * holding one is refused, with *perr "FIELD: contains a NUL character" and *pfield
 * FIELD ("name", "instances[0].model_deployments", or "" when not known); *pfield is
 * NULL for other errors. */
json_object *aop_json_parse_names(apr_pool_t *p, const char *text, apr_size_t len,
                                  const char **perr, const char **pfield);

/* Serialises obj compactly into pool memory. */
const char *aop_json_to_string(apr_pool_t *p, json_object *obj);

/* New JSON arrays (the caller owns them) of an APR array of const char * or of int;
 * a NULL array gives an empty one. */
json_object *aop_json_str_array(const apr_array_header_t *a);
json_object *aop_json_int_array(const apr_array_header_t *a);

/* OpenAI's error shape: {"error":{"message","type","param","code"}}; param and code
 * may be NULL (they are then JSON null). */
const char *aop_json_error_body(apr_pool_t *p, const char *message, const char *type,
                                const char *param, const char *code);

#endif
