/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Routing: which operation a path names, exact model matching, backend paths. */
#include <apr_strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aop_route.h"
#include "check_suites.h"

static apr_pool_t *pool;

static void setup(void)
{
    apr_pool_create(&pool, NULL);
}

static void teardown(void)
{
    apr_pool_destroy(pool);
}

static aop_instance_t *make_instance(const char *name, int enabled, const char *m1,
                                     const char *d1, const char *m2, const char *d2)
{
    aop_instance_t *inst = apr_pcalloc(pool, sizeof(*inst));

    inst->name = name;
    inst->enabled = enabled;
    inst->weight = 100;         /* the YAML defaults */
    inst->priority = 100;
    inst->api_version = "2024-08-01-preview";
    inst->base_path = "";
    inst->supported_models = apr_array_make(pool, 2, sizeof(const char *));
    inst->model_deployments = apr_hash_make(pool);
    APR_ARRAY_PUSH(inst->supported_models, const char *) = m1;
    apr_hash_set(inst->model_deployments, m1, APR_HASH_KEY_STRING, d1);
    if (m2) {
        APR_ARRAY_PUSH(inst->supported_models, const char *) = m2;
        apr_hash_set(inst->model_deployments, m2, APR_HASH_KEY_STRING, d2);
    }
    return inst;
}

static aop_config_t *make_config(void)
{
    aop_config_t *cfg = apr_pcalloc(pool, sizeof(*cfg));

    cfg->instances = apr_array_make(pool, 3, sizeof(aop_instance_t *));
    APR_ARRAY_PUSH(cfg->instances, aop_instance_t *) =
        make_instance("a", 1, "gpt-4o", "a-4o", "gpt-4o-2024-11-20", "a-nov");
    APR_ARRAY_PUSH(cfg->instances, aop_instance_t *) =
        make_instance("b", 1, "gpt-4o", "b-4o", NULL, NULL);
    APR_ARRAY_PUSH(cfg->instances, aop_instance_t *) =
        make_instance("c", 0, "gpt-4o-mini", "c-mini", NULL, NULL);
    return cfg;
}

static aop_op_e op_of(const char *path, aop_path_t *out)
{
    aop_path_parse(pool, path, out);
    return out->op;
}

START_TEST(op_from_path)
{
    aop_path_t pt;

    ck_assert_int_eq(op_of("/v1/chat/completions", &pt), AOP_OP_CHAT);
    ck_assert_int_eq(op_of("/v1/chat/completions/", &pt), AOP_OP_CHAT);
    ck_assert_int_eq(op_of("/v1/completions", &pt), AOP_OP_COMPLETIONS);
    ck_assert_int_eq(op_of("/v1/embeddings", &pt), AOP_OP_EMBEDDINGS);
    ck_assert_int_eq(op_of("/v1/chat/completionsX", &pt), AOP_OP_NONE);
    ck_assert_int_eq(op_of("/v1/chat", &pt), AOP_OP_NONE);
    ck_assert_int_eq(op_of("/v1/chat/completions//", &pt), AOP_OP_NONE);
    ck_assert_int_eq(op_of("/v2/embeddings", &pt), AOP_OP_NONE);
    ck_assert_int_eq(op_of("/v1/models", &pt), AOP_OP_MODELS);
    ck_assert_ptr_null(pt.model_id);
    ck_assert_int_eq(op_of("/v1/models/gpt-4o", &pt), AOP_OP_MODELS);
    ck_assert_str_eq(pt.model_id, "gpt-4o");
    ck_assert_str_eq(aop_path_op_suffix(AOP_OP_EMBEDDINGS), "embeddings");
    /* Azure's v1 root is OpenAI's. */
    ck_assert_int_eq(op_of("/openai/v1/chat/completions", &pt), AOP_OP_CHAT);
    ck_assert_int_eq(op_of("/openai/v1/responses", &pt), AOP_OP_RESPONSES);
    ck_assert_int_eq(op_of("/openai/v1/models", &pt), AOP_OP_MODELS);
    /* The AzureOpenAI class's deployment paths: the name is the client's model. */
    ck_assert_int_eq(op_of("/openai/deployments/gpt-4o/chat/completions", &pt), AOP_OP_CHAT);
    ck_assert_str_eq(pt.deployment, "gpt-4o");
    ck_assert_int_eq(op_of("/openai/deployments/e3/embeddings/", &pt), AOP_OP_EMBEDDINGS);
    ck_assert_int_eq(op_of("/openai/deployments/x/responses", &pt), AOP_OP_NONE);
    ck_assert_int_eq(op_of("/openai/deployments/a b/chat/completions", &pt), AOP_OP_NONE);
    ck_assert_int_eq(op_of("/openai/deployments/../chat/completions", &pt), AOP_OP_NONE);
    ck_assert_int_eq(op_of("/openai/deployments//chat/completions", &pt), AOP_OP_NONE);
    ck_assert_int_eq(op_of("/openai/chat/completions", &pt), AOP_OP_NONE);
    ck_assert_int_eq(op_of("/openai/models", &pt), AOP_OP_NONE);
    /* The Responses API, in every root. */
    ck_assert_int_eq(op_of("/v1/responses", &pt), AOP_OP_RESPONSES);
    ck_assert_int_eq(op_of("/openai/responses", &pt), AOP_OP_RESPONSES);
    ck_assert_int_eq(op_of("/v1/responses/resp_1", &pt), AOP_OP_RESPONSE);
    ck_assert_str_eq(pt.response_id, "resp_1");
    ck_assert_int_eq(op_of("/openai/responses/resp_2/cancel", &pt), AOP_OP_RESPONSE_CANCEL);
    ck_assert_str_eq(pt.response_id, "resp_2");
    ck_assert_int_eq(op_of("/openai/v1/responses/r3/input_items", &pt), AOP_OP_RESPONSE_ITEMS);
    ck_assert_int_eq(op_of("/v1/responses/r3/other", &pt), AOP_OP_NONE);
    ck_assert_ptr_null(pt.response_id);
    ck_assert_int_eq(op_of("/v1/responses/r%3/cancel", &pt), AOP_OP_NONE);
    ck_assert_int_eq(op_of("/v1/responses/", &pt), AOP_OP_RESPONSES);
    ck_assert(aop_path_is_ours("/openai/anything"));
    ck_assert(aop_path_is_ours("/v1"));
    ck_assert(!aop_path_is_ours("/openaix"));
    ck_assert(!aop_path_is_ours("/v10/x"));
}
END_TEST

/* The management API's roots, as <AOProxyAPI> takes them: the segment and what is
 * below it, nothing that only begins with one. */
START_TEST(api_roots)
{
    static const char *const roots[] = {
        "/instances", "/stats", "/config", "/admin", "/metrics", "/health", "/verification"
    };
    char buf[64];
    size_t i;

    for (i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
        size_t n = strlen(roots[i]);

        ck_assert_uint_eq(aop_path_api_root(roots[i]), n);
        snprintf(buf, sizeof(buf), "%s/x/y", roots[i]);
        ck_assert_uint_eq(aop_path_api_root(buf), n);
        snprintf(buf, sizeof(buf), "%sx", roots[i]);
        ck_assert_uint_eq(aop_path_api_root(buf), 0);
        ck_assert_uint_eq(aop_path_api_root(roots[i] + 1), 0);      /* no '/' first */
        snprintf(buf, sizeof(buf), "%.*s", (int)n - 1, roots[i]);
        ck_assert_uint_eq(aop_path_api_root(buf), 0);                /* a letter short */
    }
    ck_assert_uint_eq(aop_path_api_root("/v1/chat/completions"), 0);
    ck_assert_uint_eq(aop_path_api_root("/"), 0);
    ck_assert_uint_eq(aop_path_api_root(""), 0);
    ck_assert_uint_eq(aop_path_api_root("/gateway/stats"), 0);
}
END_TEST

START_TEST(exact_model_match)
{
    aop_route_table_t *t = aop_route_table_build(pool, make_config());
    const apr_array_header_t *c;

    c = aop_route_candidates(t, "gpt-4o");
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(c->nelts, 2);
    ck_assert_int_eq(APR_ARRAY_IDX(c, 0, int), 0);
    ck_assert_int_eq(APR_ARRAY_IDX(c, 1, int), 1);
    c = aop_route_candidates(t, "gpt-4o-2024-11-20");
    ck_assert_int_eq(c->nelts, 1);
    /* No normalisation, prefix or case folding. */
    ck_assert_ptr_null(aop_route_candidates(t, "gpt-4o-2024-08-06"));
    ck_assert_ptr_null(aop_route_candidates(t, "GPT-4o"));
    ck_assert_ptr_null(aop_route_candidates(t, "gpt-4"));
    ck_assert_ptr_null(aop_route_candidates(t, NULL));
    /* A disabled instance's models are not served. */
    ck_assert_ptr_null(aop_route_candidates(t, "gpt-4o-mini"));
    ck_assert_int_eq(t->models->nelts, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(t->models, 0, const char *), "gpt-4o");
    ck_assert_str_eq(APR_ARRAY_IDX(t->models, 1, const char *), "gpt-4o-2024-11-20");
    /* Each route carries its strategy's schedule over its own candidates. */
    ck_assert_ptr_eq(aop_route_find(t, "gpt-4o")->candidates, aop_route_candidates(t, "gpt-4o"));
    ck_assert_int_gt(aop_route_find(t, "gpt-4o")->schedule_len, 0);
    ck_assert_int_lt(aop_route_find(t, "gpt-4o")->schedule[0], 2);
    ck_assert_int_eq(aop_route_find(t, "gpt-4o-2024-11-20")->schedule[0], 0);
}
END_TEST

START_TEST(backend_path)
{
    aop_instance_t *inst = make_instance("a", 1, "m", "dep one", NULL, NULL);

    ck_assert_str_eq(aop_route_backend_path(pool, inst, "gpt4o", AOP_OP_CHAT, NULL, "a=1"),
                     "/openai/deployments/gpt4o/chat/completions"
                     "?api-version=2024-08-01-preview");
    inst->base_path = "/gw/azure";
    inst->api_version = "2024-10-21&x=1";
    ck_assert_str_eq(aop_route_backend_path(pool, inst, "dep one", AOP_OP_EMBEDDINGS, NULL,
                                            NULL),
                     "/gw/azure/openai/deployments/dep%20one/embeddings"
                     "?api-version=2024-10-21%26x%3D1");
    /* The Responses API on a dated instance: its own version; a by-id call keeps the
     * client's query but its api-version. */
    inst->responses_api_version = "2025-04-01-preview";
    ck_assert_str_eq(aop_route_backend_path(pool, inst, "d", AOP_OP_RESPONSES, NULL, "x=1"),
                     "/gw/azure/openai/responses?api-version=2025-04-01-preview");
    ck_assert_str_eq(aop_route_backend_path(pool, inst, "d", AOP_OP_RESPONSE, "resp_1",
                                            "api-version=2024&stream=true&starting_after=3"),
                     "/gw/azure/openai/responses/resp_1?api-version=2025-04-01-preview"
                     "&stream=true&starting_after=3");
    ck_assert_str_eq(aop_route_backend_path(pool, inst, "d", AOP_OP_RESPONSE_ITEMS, "r2",
                                            "api-versionx=1&api-version"),
                     "/gw/azure/openai/responses/r2/input_items"
                     "?api-version=2025-04-01-preview&api-versionx=1");
    /* Azure's v1 API: no api-version, no deployment in the path. */
    inst->api_version = "v1";
    ck_assert(aop_route_is_v1(inst));
    ck_assert_str_eq(aop_route_backend_path(pool, inst, "d", AOP_OP_CHAT, NULL, "a=1"),
                     "/gw/azure/openai/v1/chat/completions");
    ck_assert_str_eq(aop_route_backend_path(pool, inst, "d", AOP_OP_RESPONSE_CANCEL, "r9",
                                            "api-version=preview"),
                     "/gw/azure/openai/v1/responses/r9/cancel");
    ck_assert_str_eq(aop_route_backend_path(pool, inst, "d", AOP_OP_RESPONSE, "r9", "s=1"),
                     "/gw/azure/openai/v1/responses/r9?s=1");
    ck_assert(aop_route_model_in_body(inst, AOP_OP_EMBEDDINGS));
    inst->api_version = "2024-10-21";
    ck_assert(!aop_route_model_in_body(inst, AOP_OP_EMBEDDINGS));
    ck_assert(aop_route_model_in_body(inst, AOP_OP_RESPONSES));
}
END_TEST

static aop_instance_t *random_instance(unsigned *seed)
{
    static const char *const models[] = { "m1", "m2", "m3" };
    aop_instance_t *inst = make_instance("x", rand_r(seed) % 5 != 0,
                                         models[rand_r(seed) % 3], "d", NULL, NULL);

    if (rand_r(seed) % 3 == 0) {
        APR_ARRAY_PUSH(inst->supported_models, const char *) = models[rand_r(seed) % 3];
    }
    inst->weight = rand_r(seed) % 4 ? 100 : (int)(rand_r(seed) % 3) * 50;
    inst->priority = rand_r(seed) % 4 ? 100 : 50;
    return inst;
}

/* After a change that kept the first head and last tail instances, the patched
 * routes are those a build makes: the same models, candidates and schedules. */
START_TEST(a_patched_table_is_the_built_one)
{
    unsigned seed = 14;
    int round, i;

    for (round = 0; round < 3000; round++) {
        aop_config_t *old = apr_pcalloc(pool, sizeof(*old)), *cfg;
        int n_old = (int)(rand_r(&seed) % 12), head, tail, mid = (int)(rand_r(&seed) % 4);
        aop_route_table_t *t, *want;

        old->strategy = (aop_strategy_e)(rand_r(&seed) % 3);
        old->instances = apr_array_make(pool, n_old + 1, sizeof(aop_instance_t *));
        for (i = 0; i < n_old; i++) {
            APR_ARRAY_PUSH(old->instances, aop_instance_t *) = random_instance(&seed);
        }
        head = n_old ? (int)(rand_r(&seed) % (unsigned)(n_old + 1)) : 0;
        tail = n_old - head ? (int)(rand_r(&seed) % (unsigned)(n_old - head + 1)) : 0;
        cfg = apr_pmemdup(pool, old, sizeof(*old));
        cfg->instances = apr_array_make(pool, head + mid + tail + 1, sizeof(aop_instance_t *));
        for (i = 0; i < head; i++) {
            APR_ARRAY_PUSH(cfg->instances, aop_instance_t *) =
                APR_ARRAY_IDX(old->instances, i, aop_instance_t *);
        }
        for (i = 0; i < mid; i++) {
            APR_ARRAY_PUSH(cfg->instances, aop_instance_t *) = random_instance(&seed);
        }
        for (i = n_old - tail; i < n_old; i++) {
            APR_ARRAY_PUSH(cfg->instances, aop_instance_t *) =
                APR_ARRAY_IDX(old->instances, i, aop_instance_t *);
        }
        t = aop_route_table_patch(pool, cfg, aop_route_table_build(pool, old), head, tail,
                                  n_old);
        want = aop_route_table_build(pool, cfg);
        ck_assert_int_eq(t->models->nelts, want->models->nelts);
        for (i = 0; i < want->models->nelts; i++) {
            const char *model = APR_ARRAY_IDX(want->models, i, const char *);
            const aop_route_t *a = aop_route_find(t, model), *b = aop_route_find(want, model);

            ck_assert_str_eq(APR_ARRAY_IDX(t->models, i, const char *), model);
            ck_assert_ptr_nonnull(a);
            ck_assert_int_eq(a->candidates->nelts, b->candidates->nelts);
            ck_assert(!memcmp(a->candidates->elts, b->candidates->elts,
                              sizeof(int) * (size_t)b->candidates->nelts));
            ck_assert_int_eq(a->schedule_len, b->schedule_len);
            ck_assert(!b->schedule_len || !memcmp(a->schedule, b->schedule,
                                                  sizeof(int) * (size_t)b->schedule_len));
        }
    }
}
END_TEST

Suite *aop_route_suite(void)
{
    Suite *s = suite_create("aop_route");
    TCase *tc = tcase_create("route");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, op_from_path);
    tcase_add_test(tc, api_roots);
    tcase_add_test(tc, exact_model_match);
    tcase_add_test(tc, backend_path);
    tcase_add_test(tc, a_patched_table_is_the_built_one);
    suite_add_tcase(s, tc);
    return s;
}
