/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Instance verification's core: the probe's URL and operation, what each answer
 * means for the key and the deployment, the config check, masking, the report. */
#include <string.h>

#include <apr_strings.h>

#include "aop_json.h"
#include "aop_url.h"
#include "aop_verify.h"
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

static aop_instance_t *instance(const char *api_base, const char *key)
{
    aop_instance_t *inst = aop_instance_new(pool, "test.yaml", 1);

    inst->name = "east";
    inst->api_key = key;
    ck_assert_ptr_null(aop_url_parse_api_base(pool, api_base, inst));
    inst->api_version = "2024-10-21";
    APR_ARRAY_PUSH(inst->supported_models, const char *) = "gpt-4o";
    apr_hash_set(inst->model_deployments, "gpt-4o", APR_HASH_KEY_STRING, "east-4o");
    APR_ARRAY_PUSH(inst->supported_models, const char *) = "text-embedding-3-small";
    apr_hash_set(inst->model_deployments, "text-embedding-3-small", APR_HASH_KEY_STRING,
                 "east-embed");
    return inst;
}

static aop_probe_t classify(int status, const char *body)
{
    aop_probe_t pr;

    memset(&pr, 0xAA, sizeof(pr));
    aop_verify_classify(pool, status, body, body ? strlen(body) : 0, 0, NULL, &pr);
    return pr;
}

START_TEST(operation_by_model_name)
{
    ck_assert_str_eq(aop_verify_op("text-embedding-3-small"), "embeddings");
    ck_assert_str_eq(aop_verify_op("text-embedding-ada-002"), "embeddings");
    ck_assert_str_eq(aop_verify_op("My-Embedding"), "embeddings");
    ck_assert_str_eq(aop_verify_op("gpt-4o"), "chat/completions");
    ck_assert_str_eq(aop_verify_op("gpt-35-turbo-instruct"), "chat/completions");
    ck_assert_str_eq(aop_verify_op("embed"), "chat/completions");
    ck_assert_str_eq(AOP_VERIFY_BODY, "{}");
}
END_TEST

START_TEST(probe_url)
{
    aop_instance_t *inst = instance("https://east.openai.azure.com/", "k");

    ck_assert_str_eq(aop_verify_probe_url(pool, inst, "gpt-4o"),
                     "https://east.openai.azure.com/openai/deployments/east-4o/"
                     "chat/completions?api-version=2024-10-21");
    ck_assert_str_eq(aop_verify_probe_url(pool, inst, "text-embedding-3-small"),
                     "https://east.openai.azure.com/openai/deployments/east-embed/"
                     "embeddings?api-version=2024-10-21");
    ck_assert_ptr_null(aop_verify_probe_url(pool, inst, "gpt-4"));

    inst = instance("http://127.0.0.1:8080/gateway/", "k");
    inst->api_version = "2024-08-01-preview";
    ck_assert_str_eq(aop_verify_probe_url(pool, inst, "gpt-4o"),
                     "http://127.0.0.1:8080/gateway/openai/deployments/east-4o/"
                     "chat/completions?api-version=2024-08-01-preview");
}
END_TEST

START_TEST(bad_request_proves_key_and_deployment)
{
    aop_probe_t pr = classify(400, "{\"error\":{\"message\":\"'messages' is a required "
                              "property\",\"type\":\"invalid_request_error\","
                              "\"param\":\"messages\",\"code\":null}}");

    ck_assert_int_eq(pr.kind, AOP_PROBE_EXISTS);
    ck_assert_int_eq(pr.ok, 1);
    ck_assert_int_eq(pr.key, 1);
    ck_assert_ptr_null(pr.code);
    ck_assert_int_eq(pr.tokens, 0);
    ck_assert_ptr_nonnull(strstr(pr.detail, "no token"));

    pr = classify(400, "not json at all");
    ck_assert_int_eq(pr.kind, AOP_PROBE_EXISTS);
    ck_assert_int_eq(pr.ok, 1);

    /* An embeddings deployment probed as chat: it exists all the same. */
    pr = classify(400, "{\"error\":{\"code\":\"OperationNotSupported\",\"message\":\"The "
                  "chatCompletion operation does not work with the specified model\"}}");
    ck_assert_int_eq(pr.ok, 1);
    ck_assert_str_eq(pr.code, "OperationNotSupported");
    ck_assert_ptr_nonnull(strstr(pr.detail, "chatCompletion operation"));
}
END_TEST

START_TEST(deployment_not_found)
{
    aop_probe_t pr = classify(404, "{\"error\":{\"code\":\"DeploymentNotFound\",\"message\":"
                              "\"The API deployment for this resource does not exist.\"}}");

    ck_assert_int_eq(pr.kind, AOP_PROBE_MISSING);
    ck_assert_int_eq(pr.ok, 0);
    ck_assert_int_eq(pr.key, 1);                  /* Azure checks the key first */
    ck_assert_str_eq(pr.code, "DeploymentNotFound");

    /* The message alone is enough. */
    pr = classify(404, "{\"error\":{\"code\":\"404\",\"message\":\"The API deployment for "
                  "this resource does not exist. If you created it...\"}}");
    ck_assert_int_eq(pr.kind, AOP_PROBE_MISSING);

    /* A 400 that says DeploymentNotFound is no proof of anything either. */
    pr = classify(400, "{\"error\":{\"code\":\"DeploymentNotFound\"}}");
    ck_assert_int_eq(pr.kind, AOP_PROBE_MISSING);
    ck_assert_int_eq(pr.ok, 0);

    /* A plain 404: the path or api-version is wrong, not the deployment. */
    pr = classify(404, "{\"error\":{\"code\":\"404\",\"message\":\"Resource not found\"}}");
    ck_assert_int_eq(pr.kind, AOP_PROBE_NOT_FOUND);
    ck_assert_int_eq(pr.ok, 0);
    ck_assert_int_eq(pr.key, -1);
    ck_assert_ptr_nonnull(strstr(pr.detail, "Resource not found"));
}
END_TEST

START_TEST(key_refused)
{
    aop_probe_t pr = classify(401, "{\"error\":{\"code\":\"401\",\"message\":\"Access denied "
                              "due to invalid subscription key\"}}");

    ck_assert_int_eq(pr.kind, AOP_PROBE_KEY_REFUSED);
    ck_assert_int_eq(pr.ok, 0);
    ck_assert_int_eq(pr.key, 0);
    ck_assert_ptr_nonnull(strstr(pr.detail, "401"));
    ck_assert_ptr_nonnull(strstr(pr.detail, "invalid subscription key"));
    pr = classify(403, NULL);
    ck_assert_int_eq(pr.kind, AOP_PROBE_KEY_REFUSED);
    ck_assert_int_eq(pr.key, 0);
}
END_TEST

START_TEST(rate_limited_exists)
{
    aop_probe_t pr = classify(429, "{\"error\":{\"code\":\"429\",\"message\":\"Requests ... "
                              "have exceeded token rate limit\"}}");

    ck_assert_int_eq(pr.kind, AOP_PROBE_RATE_LIMITED);
    ck_assert_int_eq(pr.ok, 1);
    ck_assert_int_eq(pr.key, 1);
    ck_assert_str_eq(pr.detail, "rate limited: exists");
}
END_TEST

START_TEST(success_counts_tokens)
{
    aop_probe_t pr = classify(200, "{\"choices\":[],\"usage\":{\"prompt_tokens\":3,"
                              "\"completion_tokens\":4,\"total_tokens\":7}}");

    ck_assert_int_eq(pr.kind, AOP_PROBE_EXISTS);
    ck_assert_int_eq(pr.ok, 1);
    ck_assert_int_eq(pr.key, 1);
    ck_assert_int_eq(pr.tokens, 7);
    pr = classify(204, NULL);
    ck_assert_int_eq(pr.ok, 1);
    ck_assert_int_eq(pr.tokens, 0);
    /* Usage in an error answer is not spending. */
    pr = classify(500, "{\"usage\":{\"total_tokens\":7}}");
    ck_assert_int_eq(pr.tokens, 0);
}
END_TEST

START_TEST(failures)
{
    aop_probe_t pr = classify(500, "{\"error\":{\"code\":\"InternalServerError\","
                              "\"message\":\"boom\"}}");

    ck_assert_int_eq(pr.kind, AOP_PROBE_SERVER_ERROR);
    ck_assert_int_eq(pr.ok, 0);
    ck_assert_int_eq(pr.key, -1);
    ck_assert_ptr_nonnull(strstr(pr.detail, "500"));
    ck_assert_ptr_nonnull(strstr(pr.detail, "boom"));
    ck_assert_int_eq(classify(503, NULL).kind, AOP_PROBE_SERVER_ERROR);
    ck_assert_int_eq(classify(408, NULL).kind, AOP_PROBE_SERVER_ERROR);
    ck_assert_int_eq(classify(302, NULL).kind, AOP_PROBE_UNEXPECTED);
    ck_assert_int_eq(classify(302, NULL).ok, 0);

    aop_verify_classify(pool, 0, NULL, 0, 1, "Operation timed out after 5000 ms", &pr);
    ck_assert_int_eq(pr.kind, AOP_PROBE_TIMEOUT);
    ck_assert_int_eq(pr.ok, 0);
    ck_assert_int_eq(pr.key, -1);
    ck_assert_ptr_nonnull(strstr(pr.detail, "timeout"));
    ck_assert_ptr_nonnull(strstr(pr.detail, "5000 ms"));
    aop_verify_classify(pool, 0, NULL, 0, 0, "Connection refused", &pr);
    ck_assert_int_eq(pr.kind, AOP_PROBE_FAILED);
    ck_assert_str_eq(pr.detail, "no answer: Connection refused");
    aop_verify_classify(pool, 0, NULL, 0, 0, NULL, &pr);
    ck_assert_str_eq(pr.detail, "no answer");
}
END_TEST

START_TEST(long_messages_are_cut_on_characters)
{
    char body[600];
    aop_probe_t pr;
    size_t i, n;

    strcpy(body, "{\"error\":{\"message\":\"");
    n = strlen(body);
    for (i = 0; i < 150; i++) {
        memcpy(body + n, "\xc3\xa9", 2);         /* é: two bytes */
        n += 2;
    }
    strcpy(body + n, "\"}}");
    pr = classify(500, body);
    n = strlen(pr.detail);
    ck_assert_uint_lt(n, 260);
    ck_assert_str_eq(pr.detail + n - 3, "...");
    ck_assert_int_eq((unsigned char)pr.detail[n - 4], 0xa9);   /* a whole é before it */
}
END_TEST

START_TEST(config_check)
{
    aop_instance_t *inst = instance("https://e.example.com", "secret-key-1");
    const char *detail;
    int has_key, has_models;

    ck_assert_int_eq(aop_verify_config(pool, inst, &detail, &has_key, &has_models), 1);
    ck_assert_int_eq(has_key, 1);
    ck_assert_int_eq(has_models, 1);
    ck_assert_ptr_nonnull(strstr(detail, "enabled"));
    ck_assert_ptr_nonnull(strstr(detail, "2 models"));
    ck_assert_ptr_null(strstr(detail, "secret"));

    inst->enabled = 0;
    ck_assert_int_eq(aop_verify_config(pool, inst, &detail, &has_key, &has_models), 1);
    ck_assert_ptr_nonnull(strstr(detail, "disabled"));

    inst->api_key = "";
    ck_assert_int_eq(aop_verify_config(pool, inst, &detail, &has_key, &has_models), 0);
    ck_assert_int_eq(has_key, 0);
    ck_assert_ptr_nonnull(strstr(detail, "no api_key"));
    inst->api_key = NULL;
    ck_assert_int_eq(aop_verify_config(pool, inst, &detail, &has_key, &has_models), 0);

    inst = instance("https://e.example.com", "k");
    APR_ARRAY_PUSH(inst->supported_models, const char *) = "gpt-4";
    ck_assert_int_eq(aop_verify_config(pool, inst, &detail, &has_key, &has_models), 0);
    ck_assert_ptr_nonnull(strstr(detail, "no deployment for gpt-4"));

    inst = aop_instance_new(pool, "t.yaml", 1);
    inst->api_key = "k";
    ck_assert_int_eq(aop_verify_config(pool, inst, &detail, &has_key, &has_models), 0);
    ck_assert_int_eq(has_models, 0);
    ck_assert_ptr_nonnull(strstr(detail, "0 models"));
}
END_TEST

START_TEST(mask)
{
    const char *t = "no key here";

    ck_assert_ptr_eq(aop_verify_mask(pool, t, "k3y"), t);
    ck_assert_ptr_eq(aop_verify_mask(pool, t, NULL), t);
    ck_assert_ptr_eq(aop_verify_mask(pool, t, ""), t);
    ck_assert_ptr_null(aop_verify_mask(pool, NULL, "k3y"));
    ck_assert_str_eq(aop_verify_mask(pool, "k3y", "k3y"), "***");
    ck_assert_str_eq(aop_verify_mask(pool, "a k3y b k3yk3y c", "k3y"), "a *** b ****** c");
}
END_TEST

START_TEST(report)
{
    json_object *root = aop_json_own(pool, json_object_new_object()), *c, *f;
    aop_verify_t v;

    v.checks = json_object_new_array();
    v.ok = 1;
    json_object_object_add(root, "checks", v.checks);
    c = aop_verify_add(&v, "config", 1, 2345, "fine");
    ck_assert_int_eq(v.ok, 1);
    ck_assert(json_object_object_get_ex(c, "ms", &f));
    ck_assert(json_object_get_double(f) > 2.29 && json_object_get_double(f) < 2.31);
    ck_assert(!json_object_object_get_ex(c, "skipped", &f));
    aop_verify_skip(&v, "connect", "skipped: no dns");
    ck_assert_int_eq(v.ok, 0);
    aop_verify_add(&v, "dns", 1, 0, NULL);
    ck_assert_int_eq(v.ok, 0);
    ck_assert_str_eq(aop_json_to_string(pool, root),
                     "{\"checks\":[{\"check\":\"config\",\"ok\":true,\"ms\":2.3,"
                     "\"detail\":\"fine\"},{\"check\":\"connect\",\"ok\":false,\"ms\":0.0,"
                     "\"detail\":\"skipped: no dns\",\"skipped\":true},"
                     "{\"check\":\"dns\",\"ok\":true,\"ms\":0.0}]}");
}
END_TEST

Suite *aop_verify_suite(void)
{
    Suite *s = suite_create("verify");
    TCase *tc = tcase_create("verify");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, operation_by_model_name);
    tcase_add_test(tc, probe_url);
    tcase_add_test(tc, bad_request_proves_key_and_deployment);
    tcase_add_test(tc, deployment_not_found);
    tcase_add_test(tc, key_refused);
    tcase_add_test(tc, rate_limited_exists);
    tcase_add_test(tc, success_counts_tokens);
    tcase_add_test(tc, failures);
    tcase_add_test(tc, long_messages_are_cut_on_characters);
    tcase_add_test(tc, config_check);
    tcase_add_test(tc, mask);
    tcase_add_test(tc, report);
    suite_add_tcase(s, tc);
    return s;
}
