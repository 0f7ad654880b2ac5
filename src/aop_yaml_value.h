/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Typed values from the configuration's YAML tree (aop_yaml.h): a scalar as a string,
 * an integer within a range or a boolean, with the messages every key's errors use.
 * Shared by the top-level sections (aop_config.c) and the instances
 * (aop_config_instance.c). */
#ifndef AOP_YAML_VALUE_H
#define AOP_YAML_VALUE_H

#include "aop_yaml.h"

/* " (environment variable ${X} is not set)" when n's text used an unset variable,
 * else "": so that an empty value can be traced to its cause. */
const char *aop_yaml_unset_note(aop_yaml_ctx_t *c, const aop_yaml_node_t *n);

/* n's text quoted for a message ("\"abc\"", at most 80 characters), unless it came
 * from the environment, which is where secrets live: then "the value of ${X}". */
const char *aop_yaml_shown(aop_yaml_ctx_t *c, const aop_yaml_node_t *n);

/* The text of a scalar ("expected WHAT, got a map" otherwise); warns for each unset
 * variable it used. */
apr_status_t aop_yaml_scalar(aop_yaml_ctx_t *c, const aop_yaml_node_t *n, const char *path,
                             const char *what, const char **out);

/* A decimal integer within lo..hi (aop_range_problem()'s wording). */
apr_status_t aop_yaml_int64(aop_yaml_ctx_t *c, const aop_yaml_node_t *n, const char *path,
                            apr_int64_t lo, apr_int64_t hi, apr_int64_t *out);

/* true/false, yes/no or on/off, in any case, as 1 or 0. */
apr_status_t aop_yaml_bool(aop_yaml_ctx_t *c, const aop_yaml_node_t *n, const char *path,
                           int *out);

/* "missing required field" + why, for key of map at path: at the line of its key if
 * it is there (with a null value), else at the line of the map that should hold it. */
apr_status_t aop_yaml_missing(aop_yaml_ctx_t *c, const aop_yaml_node_t *map,
                              const char *key, const char *path, const char *why);

#endif
