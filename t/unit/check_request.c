/* Request bodies: model, stream flags, estimates and the OpenAI errors for bad ones. */
#include <string.h>

#include <apr_strings.h>

#include "aop_request.h"
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

static int parse(aop_op_e op, const char *body, aop_request_info_t *info,
                 aop_request_error_t *err)
{
    return aop_request_parse(pool, op, body, strlen(body), info, err);
}

START_TEST(chat_body)
{
    aop_request_info_t info;
    aop_request_error_t err;
    const char *body = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\","
                       "\"content\":\"hi\"}],\"max_tokens\":100,\"n\":2}";

    ck_assert_int_eq(parse(AOP_OP_CHAT, body, &info, &err), 0);
    ck_assert_str_eq(info.model, "gpt-4o");
    ck_assert_int_eq(info.stream, 0);
    ck_assert_int_eq(info.n, 2);
    ck_assert_int_eq(info.max_tokens, 100);
    ck_assert_int_eq(info.prompt_estimate, (apr_int64_t)(strlen(body) + 3) / 4);
    ck_assert_int_eq(info.estimate, info.prompt_estimate + 200);
}
END_TEST

START_TEST(stream_flags)
{
    aop_request_info_t info;
    aop_request_error_t err;

    ck_assert_int_eq(parse(AOP_OP_CHAT, "{\"model\":\"m\",\"stream\":true}", &info, &err), 0);
    ck_assert_int_eq(info.stream, 1);
    ck_assert_int_eq(info.include_usage, 0);
    ck_assert_int_eq(info.estimate, info.prompt_estimate + AOP_DEFAULT_COMPLETION_ESTIMATE);
    ck_assert_int_eq(parse(AOP_OP_CHAT, "{\"model\":\"m\",\"stream\":true,\"stream_options\":"
                           "{\"include_usage\":true},\"max_completion_tokens\":7}",
                           &info, &err), 0);
    ck_assert_int_eq(info.include_usage, 1);
    ck_assert_int_eq(info.max_tokens, 7);
}
END_TEST

START_TEST(embeddings_reserve_no_completion)
{
    aop_request_info_t info;
    aop_request_error_t err;

    ck_assert_int_eq(parse(AOP_OP_EMBEDDINGS, "{\"model\":\"e\",\"input\":\"abcd\"}",
                           &info, &err), 0);
    ck_assert_int_eq(info.estimate, info.prompt_estimate);
}
END_TEST

START_TEST(bad_bodies)
{
    aop_request_info_t info;
    aop_request_error_t err;

    ck_assert_int_eq(parse(AOP_OP_CHAT, "{\"model\":\"m\",", &info, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "could not parse the JSON body"));
    ck_assert_ptr_null(err.param);
    ck_assert_int_eq(parse(AOP_OP_CHAT, "{\"model\":\"m\"} trailing", &info, &err), -1);
    ck_assert_int_eq(parse(AOP_OP_CHAT, "", &info, &err), -1);
    ck_assert_int_eq(parse(AOP_OP_CHAT, "[1,2]", &info, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "an array"));
    ck_assert_int_eq(parse(AOP_OP_CHAT, "{\"messages\":[]}", &info, &err), -1);
    ck_assert_str_eq(err.message, "you must provide a model parameter");
    ck_assert_int_eq(parse(AOP_OP_CHAT, "{\"model\":4}", &info, &err), -1);
    ck_assert_str_eq(err.param, "model");
    ck_assert_str_eq(err.code, "invalid_type");
    ck_assert_int_eq(parse(AOP_OP_CHAT, "{\"model\":\"m\",\"stream\":\"yes\"}", &info, &err), -1);
    ck_assert_str_eq(err.param, "stream");
    ck_assert_int_eq(parse(AOP_OP_CHAT, "{\"model\":\"m\",\"max_tokens\":-1}", &info, &err), -1);
    ck_assert_str_eq(err.param, "max_tokens");
    ck_assert_str_eq(err.code, "invalid_value");
    ck_assert_int_eq(parse(AOP_OP_CHAT, "{\"model\":\"m\",\"n\":1.5}", &info, &err), -1);
    ck_assert_str_eq(err.param, "n");
}
END_TEST

Suite *aop_request_suite(void)
{
    Suite *s = suite_create("aop_request");
    TCase *tc = tcase_create("request");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, chat_body);
    tcase_add_test(tc, stream_flags);
    tcase_add_test(tc, embeddings_reserve_no_completion);
    tcase_add_test(tc, bad_bodies);
    suite_add_tcase(s, tc);
    return s;
}
