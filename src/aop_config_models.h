/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The model-level settings of the YAML (aop_config.c reads the rest): aliases, the
 * names clients may use for a model, and fallbacks, the models a request may move on
 * to when its own cannot serve it.  Whether the models they name exist is checked
 * once the instances are read (aop_config_check_models). */
#ifndef AOP_CONFIG_MODELS_H
#define AOP_CONFIG_MODELS_H

#include "aop_config.h"
#include "aop_yaml.h"

/* aliases: { client-name: model } */
apr_status_t aop_config_set_aliases(aop_yaml_ctx_t *c, void *cfg,
                                    const aop_yaml_node_t *val, const char *path);
/* fallbacks: { model: [model, ...] } and context_window_fallbacks: the same shape. */
apr_status_t aop_config_set_fallbacks(aop_yaml_ctx_t *c, void *cfg,
                                      const aop_yaml_node_t *val, const char *path);
apr_status_t aop_config_set_context_fallbacks(aop_yaml_ctx_t *c, void *cfg,
                                              const aop_yaml_node_t *val, const char *path);

/* After the instances: every alias and fallback names a model some instance lists (a
 * lenient load drops one whose instances were all left out, with a warning), an
 * alias is not itself such a model, and no model falls back to itself. */
apr_status_t aop_config_check_models(aop_yaml_ctx_t *c, aop_config_t *cfg);

#endif
