/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The configuration's instances, for aop_config.c: YAML -> aop_instance_t by the
 * instance schema (aop_instance_schema.h), and the overlay's rule for them. */
#ifndef AOP_CONFIG_INSTANCE_H
#define AOP_CONFIG_INSTANCE_H

#include "aop_config.h"
#include "aop_yaml.h"

/* The list under "instances" of the merged tree into cfg->instances, in file order.
 * An instance at the shipped example endpoint is left out with a warning in
 * cfg->warnings; one that cannot be completed fails the load, or, when cfg->left_out
 * is not NULL (a lenient load), goes there instead. */
apr_status_t aop_config_read_instances(aop_yaml_ctx_t *c, aop_config_t *cfg,
                                       const aop_yaml_node_t *val, const char *path);

/* aop_yaml_merge()'s rule for "instances": an overlay's instance is merged into the
 * base's of the same name, or appended. */
apr_status_t aop_config_merge_instances(aop_yaml_ctx_t *c, aop_yaml_node_t *dst,
                                        const aop_yaml_node_t *src);

#endif
