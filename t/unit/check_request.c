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
    /* One message of 2 characters: 4 + 1, and 3 to prime the reply. */
    ck_assert_int_eq(info.prompt_estimate, 8);
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
    ck_assert_int_eq(info.prompt_estimate, 1);
    ck_assert_int_eq(info.estimate, info.prompt_estimate);
    ck_assert_int_eq(parse(AOP_OP_EMBEDDINGS, "{\"model\":\"e\",\"input\":[\"abcdefgh\","
                           "[1,2,3]]}", &info, &err), 0);
    ck_assert_int_eq(info.prompt_estimate, 5);
}
END_TEST

START_TEST(prompt_estimate_follows_the_content)
{
    aop_request_info_t info;
    aop_request_error_t err;

    /* Parts: 8 characters of text (2) and an image (765), + 4 per message + 3. */
    ck_assert_int_eq(parse(AOP_OP_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                           "\"content\":[{\"type\":\"text\",\"text\":\"abcdefgh\"},"
                           "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:xxxxxxxx"
                           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}}]}]}", &info, &err), 0);
    ck_assert_int_eq(info.prompt_estimate, 2 + 765 + 4 + 3);
    ck_assert_int_eq(parse(AOP_OP_COMPLETIONS, "{\"model\":\"m\",\"prompt\":[\"abcd\","
                           "\"efgh\"],\"max_tokens\":5}", &info, &err), 0);
    ck_assert_int_eq(info.estimate, 2 + 5);
    /* Nothing recognisable: the body's size. */
    ck_assert_int_eq(parse(AOP_OP_CHAT, "{\"model\":\"m\"}", &info, &err), 0);
    ck_assert_int_eq(info.prompt_estimate, 4);
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

static const char *with_usage(const char *body)
{
    aop_request_info_t info;
    aop_request_error_t err;
    const char *out = NULL;
    apr_size_t len = 0;

    ck_assert_int_eq(parse(AOP_OP_CHAT, body, &info, &err), 0);
    ck_assert_int_eq(aop_request_with_usage(pool, body, strlen(body), &info, &out, &len), 0);
    ck_assert_uint_eq(len, strlen(out));
    return out;
}

START_TEST(usage_is_added_for_streams)
{
    const char *out;
    aop_request_info_t info;
    aop_request_error_t err;

    /* No stream_options: every byte of the client's body stays, in place. */
    out = with_usage("{\"model\": \"m\",  \"stream\": true}\n");
    ck_assert_str_eq(out, "{\"model\": \"m\",  \"stream\": true,"
                          "\"stream_options\":{\"include_usage\":true}}\n");
    /* stream_options present but false, or with other members. */
    out = with_usage("{\"model\":\"m\",\"stream\":true,\"stream_options\":"
                     "{\"include_usage\":false,\"x\":1}}");
    ck_assert_int_eq(parse(AOP_OP_CHAT, out, &info, &err), 0);
    ck_assert_int_eq(info.include_usage, 1);
    ck_assert_ptr_nonnull(strstr(out, "\"x\":1"));
    out = with_usage("{\"model\":\"m\",\"stream\":true,\"stream_options\":null}");
    ck_assert_int_eq(parse(AOP_OP_CHAT, out, &info, &err), 0);
    ck_assert_int_eq(info.include_usage, 1);
    /* The change is made in the text: the rest stays byte for byte. */
    ck_assert_str_eq(with_usage("{\"model\":\"m\", \"stream\":true, \"stream_options\": "
                                "{ \"include_usage\" : false, \"x\":1 } }"),
                     "{\"model\":\"m\", \"stream\":true, \"stream_options\": "
                     "{ \"include_usage\" : true, \"x\":1 } }");
    ck_assert_str_eq(with_usage("{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"x\":1}}"),
                     "{\"model\":\"m\",\"stream\":true,\"stream_options\":"
                     "{\"include_usage\":true,\"x\":1}}");
    ck_assert_str_eq(with_usage("{\"model\":\"m\",\"stream\":true,\"stream_options\":{ }}"),
                     "{\"model\":\"m\",\"stream\":true,\"stream_options\":"
                     "{\"include_usage\":true }}");
    ck_assert_str_eq(with_usage("{\"model\":\"m\",\"stream\":true,\"stream_options\":7}"),
                     "{\"model\":\"m\",\"stream\":true,\"stream_options\":"
                     "{\"include_usage\":true}}");
    /* With the member twice, the last one is the one that counts, and is changed. */
    out = with_usage("{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                     "\"stream_options\":{\"include_usage\":false}}");
    ck_assert_str_eq(out, "{\"model\":\"m\",\"stream\":true,\"stream_options\":"
                          "{\"include_usage\":true},\"stream_options\":{\"include_usage\":true}}");
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
    tcase_add_test(tc, prompt_estimate_follows_the_content);
    tcase_add_test(tc, bad_bodies);
    tcase_add_test(tc, usage_is_added_for_streams);
    suite_add_tcase(s, tc);
    return s;
}
