/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Fuzz target "yaml": the configuration loader (libyaml into aop_yaml's tree, the
 * overlay, ${VAR} expansion, the schema) and the routes built from what it accepts.
 * Input: the base YAML; after a NUL byte, the environment's YAML overlaid on it.
 * ${VAR} resolves from a fixed table, never from the process environment. */
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>

#include "aop_config.h"
#include "aop_route.h"
#include "fuzz.h"

static apr_pool_t *root;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    apr_initialize();
    apr_pool_create(&root, NULL);
    return 0;
}

static const char *fake_env(void *baton, const char *name)
{
    if (strcmp(name, "KEY") == 0) {
        return "k-0123456789abcdef";
    }
    if (strcmp(name, "EMPTY") == 0) {
        return "";
    }
    if (strcmp(name, "URL") == 0) {
        return "https://east.example.com";
    }
    return NULL;
}

static void check_config(apr_pool_t *p, const aop_config_t *cfg)
{
    const aop_route_table_t *routes = aop_route_table_build(p, cfg);
    int i, j;

    FUZZ_CHECK(routes != NULL);
    for (i = 0; i < cfg->instances->nelts; i++) {
        const aop_instance_t *inst = APR_ARRAY_IDX(cfg->instances, i, aop_instance_t *);

        FUZZ_CHECK(inst->name && *inst->name && strlen(inst->name) <= AOP_NAME_MAX);
        FUZZ_CHECK(inst->weight >= 0 && inst->max_tpm >= 0);
        for (j = 0; j < inst->supported_models->nelts; j++) {
            const char *model = APR_ARRAY_IDX(inst->supported_models, j, const char *);

            FUZZ_CHECK(aop_instance_deployment(inst, model) != NULL);
            if (inst->enabled) {
                FUZZ_CHECK(aop_route_find(routes, model) != NULL);
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *base, *env = NULL, *err = NULL;
    const char *nul = memchr(data, '\0', size);
    aop_config_t *cfg = NULL;
    apr_pool_t *p;

    apr_pool_create(&p, root);
    base = apr_pstrmemdup(p, (const char *)data, nul ? (apr_size_t)(nul - (const char *)data)
                                                     : size);
    if (nul) {
        env = apr_pstrmemdup(p, nul + 1, size - (apr_size_t)(nul + 1 - (const char *)data));
    }
    if (aop_config_load_texts(p, "base.yaml", base, env ? "env.yaml" : NULL, env, fake_env,
                              NULL, &cfg, &err) == APR_SUCCESS) {
        FUZZ_CHECK(cfg != NULL);
        check_config(p, cfg);
    }
    else {
        FUZZ_CHECK(err != NULL);
    }
    apr_pool_destroy(p);
    return 0;
}
