/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
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

/* The body with sp applied. */
static const char *spliced(const char *body, const aop_splice_t *sp)
{
    return apr_pstrcat(pool, apr_pstrndup(pool, body, sp->from), sp->text,
                       body + sp->to, NULL);
}

START_TEST(responses_body)
{
    aop_request_info_t info;
    aop_request_error_t err;
    const char *body = "{\"model\":\"gpt-4o\",\"input\":[{\"role\":\"user\",\"content\":"
                       "[{\"type\":\"input_text\",\"text\":\"12345678\"}]}],"
                       "\"instructions\":\"abcd\",\"max_output_tokens\":50,"
                       "\"previous_response_id\":\"resp_1\",\"background\":true}";

    ck_assert_int_eq(parse(AOP_OP_RESPONSES, body, &info, &err), 0);
    ck_assert_str_eq(info.model, "gpt-4o");
    ck_assert_str_eq(info.previous_response_id, "resp_1");
    ck_assert_ptr_null(info.conversation);
    ck_assert_int_eq(info.background, 1);
    ck_assert_int_eq(info.max_tokens, 50);
    /* One message (4 + 2) and the instructions (1). */
    ck_assert_int_eq(info.prompt_estimate, 7);
    ck_assert_int_eq(info.estimate, 57);
    body = "{\"model\":\"m\",\"input\":\"hello world!\",\"conversation\":{\"id\":\"conv_9\"}}";
    ck_assert_int_eq(parse(AOP_OP_RESPONSES, body, &info, &err), 0);
    ck_assert_str_eq(info.conversation, "conv_9");
    ck_assert_int_eq(info.prompt_estimate, 3);
    ck_assert_int_eq(info.estimate, 3 + AOP_DEFAULT_COMPLETION_ESTIMATE);
    /* Ids that no Azure made are refused before they meet a table or a path. */
    ck_assert_int_ne(parse(AOP_OP_RESPONSES, "{\"model\":\"m\",\"input\":\"x\","
                           "\"previous_response_id\":\"../x\"}", &info, &err), 0);
    ck_assert_str_eq(err.param, "previous_response_id");
    ck_assert_int_ne(parse(AOP_OP_RESPONSES, "{\"model\":\"m\",\"previous_response_id\":7}",
                           &info, &err), 0);
    ck_assert_int_ne(parse(AOP_OP_RESPONSES, "{\"model\":\"m\",\"conversation\":{}}",
                           &info, &err), 0);
    ck_assert_str_eq(err.param, "conversation.id");
    ck_assert_int_ne(parse(AOP_OP_RESPONSES, "{\"model\":\"m\",\"previous_response_id\":\"a\","
                           "\"previous_response_id\":\"b\"}", &info, &err), 0);
    ck_assert_str_eq(err.code, "duplicate_key");
}
END_TEST

START_TEST(model_splice_keeps_the_rest)
{
    aop_request_info_t info;
    aop_request_error_t err;
    aop_splice_t sp;
    const char *body = "{ \"messages\": [], \"model\" : \"gpt-4o\" ,\"x\":1}";

    ck_assert_int_eq(parse(AOP_OP_CHAT, body, &info, &err), 0);
    aop_request_model_splice(pool, body, &info, "dep-1", &sp);
    ck_assert_str_eq(spliced(body, &sp), "{ \"messages\": [], \"model\" : \"dep-1\" ,\"x\":1}");
    /* Already the deployment: nothing to change. */
    aop_request_model_splice(pool, body, &info, "gpt-4o", &sp);
    ck_assert_ptr_null(sp.text);
    /* A path named the model: the body has none, one is put first. */
    body = "{\"messages\":[]}";
    ck_assert_int_eq(aop_request_parse_for(pool, AOP_OP_CHAT, "gpt-4o", body, strlen(body),
                                           &info, &err), 0);
    ck_assert_str_eq(info.model, "gpt-4o");
    aop_request_model_splice(pool, body, &info, "d", &sp);
    ck_assert_str_eq(spliced(body, &sp), "{\"model\":\"d\",\"messages\":[]}");
    body = " { } ";
    ck_assert_int_eq(aop_request_parse_for(pool, AOP_OP_EMBEDDINGS, "e", body, strlen(body),
                                           &info, &err), 0);
    aop_request_model_splice(pool, body, &info, "d", &sp);
    ck_assert_str_eq(spliced(body, &sp), " {\"model\":\"d\" } ");
    /* The path's model wins over the body's, which is still the one replaced. */
    body = "{\"model\":null,\"prompt\":\"x\"}";
    ck_assert_int_eq(aop_request_parse_for(pool, AOP_OP_COMPLETIONS, "p", body, strlen(body),
                                           &info, &err), 0);
    ck_assert_str_eq(info.model, "p");
    aop_request_model_splice(pool, body, &info, "d", &sp);
    ck_assert_str_eq(spliced(body, &sp), "{\"model\":\"d\",\"prompt\":\"x\"}");
}
END_TEST


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

/* Issue 12: a client's max_tokens of 2^63 - 1 (or 2^62 with n 4) overflowed the
 * estimate into a negative reservation.  Absurd values are refused before any
 * arithmetic; the largest accepted ones give an exact, positive estimate. */
START_TEST(absurd_counts_are_refused)
{
    aop_request_info_t info;
    aop_request_error_t err;

    ck_assert_int_eq(parse(AOP_OP_CHAT, "{\"model\":\"m\",\"max_tokens\":9223372036854775807}",
                           &info, &err), -1);
    ck_assert_str_eq(err.param, "max_tokens");
    ck_assert_str_eq(err.code, "integer_above_max_value");
    ck_assert_int_eq(parse(AOP_OP_CHAT, "{\"model\":\"m\",\"max_tokens\":4611686018427387904,"
                           "\"n\":4}", &info, &err), -1);
    ck_assert_str_eq(err.param, "max_tokens");
    ck_assert_int_eq(parse(AOP_OP_CHAT, "{\"model\":\"m\",\"max_completion_tokens\":"
                           "2147483648}", &info, &err), -1);
    ck_assert_str_eq(err.param, "max_completion_tokens");
    /* Beyond int64: the parser holds it at 2^63 - 1, still refused. */
    ck_assert_int_eq(parse(AOP_OP_CHAT, "{\"model\":\"m\",\"max_tokens\":"
                           "99999999999999999999999}", &info, &err), -1);
    ck_assert_int_eq(parse(AOP_OP_CHAT, "{\"model\":\"m\",\"n\":129}", &info, &err), -1);
    ck_assert_str_eq(err.param, "n");
    ck_assert_str_eq(err.code, "integer_above_max_value");
    ck_assert_ptr_nonnull(strstr(err.message, "<= 128"));
    ck_assert_int_eq(parse(AOP_OP_CHAT, "{\"model\":\"m\",\"n\":9223372036854775807}",
                           &info, &err), -1);
    /* The limits themselves: an exact estimate, 4 prompt tokens (the body's size). */
    ck_assert_int_eq(parse(AOP_OP_CHAT, "{\"model\":\"m\",\"max_tokens\":2147483647,\"n\":128}",
                           &info, &err), 0);
    ck_assert_int_eq(info.n, 128);
    ck_assert_int_eq(info.estimate, info.prompt_estimate + APR_INT64_C(2147483647) * 128);
    ck_assert_int_gt(info.estimate, 0);
    /* Embeddings reserve no completion whatever max_tokens says, but the bound holds. */
    ck_assert_int_eq(parse(AOP_OP_EMBEDDINGS, "{\"model\":\"m\",\"input\":\"x\","
                           "\"max_tokens\":9223372036854775807}", &info, &err), -1);
}
END_TEST

/* Issue 12: "gpt-4o-mini\u0000evil" routed as gpt-4o-mini and went to Azure whole. */
START_TEST(nul_in_model_is_refused)
{
    aop_request_info_t info;
    aop_request_error_t err;

    ck_assert_int_eq(parse(AOP_OP_CHAT, "{\"model\":\"gpt-4o-mini\\u0000evil\"}", &info, &err),
                     -1);
    ck_assert_str_eq(err.param, "model");
    ck_assert_str_eq(err.code, "invalid_value");
    ck_assert_ptr_nonnull(strstr(err.message, "NUL"));
    ck_assert_int_eq(parse(AOP_OP_CHAT, "{\"model\":\"\\u0000\"}", &info, &err), -1);
    /* Escapes of other characters stay fine. */
    ck_assert_int_eq(parse(AOP_OP_CHAT, "{\"model\":\"gpt\\u002d4o\"}", &info, &err), 0);
    ck_assert_str_eq(info.model, "gpt-4o");
}
END_TEST

/* Issue 12: with "model" twice the gateway routed on the last and forwarded both. */
START_TEST(duplicate_read_keys_are_refused)
{
    static const char *const bodies[][2] = {
        { "{\"model\":\"a\",\"model\":\"b\"}", "model" },
        { "{\"model\":\"a\",\"messages\":[],\"model\":\"a\"}", "model" },
        { "{\"model\":\"a\",\"stream\":false,\"stream\":true}", "stream" },
        { "{\"model\":\"a\",\"n\":1,\"n\":128}", "n" },
        { "{\"model\":\"a\",\"max_tokens\":1,\"max_tokens\":2}", "max_tokens" },
        { "{\"model\":\"a\",\"max_completion_tokens\":1,\"max_completion_tokens\":2}",
          "max_completion_tokens" },
        { "{\"model\":\"a\",\"messages\":[],\"messages\":[]}", "messages" },
        { "{\"model\":\"a\",\"prompt\":\"x\",\"prompt\":\"y\"}", "prompt" },
        { "{\"model\":\"a\",\"input\":\"x\",\"input\":\"y\"}", "input" },
        { "{\"model\":\"a\",\"tools\":[],\"tools\":[]}", "tools" },
        { "{\"model\":\"a\",\"stream_options\":{\"include_usage\":false,"
          "\"include_usage\":true}}", "stream_options.include_usage" },
        /* the same name escaped: the decoded names are compared */
        { "{\"model\":\"a\",\"mod\\u0065l\":\"b\"}", "model" },
    };
    aop_request_info_t info;
    aop_request_error_t err;
    size_t i;

    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        ck_assert_msg(parse(AOP_OP_CHAT, bodies[i][0], &info, &err) == -1, "%s", bodies[i][0]);
        ck_assert_str_eq(err.param, bodies[i][1]);
        ck_assert_str_eq(err.code, "duplicate_key");
    }
    /* Keys the gateway does not read are Azure's business, twice or not; so are
     * nested ones other than include_usage. */
    ck_assert_int_eq(parse(AOP_OP_CHAT, "{\"model\":\"a\",\"user\":\"x\",\"user\":\"y\","
                           "\"messages\":[{\"role\":\"user\",\"role\":\"user\"}]}",
                           &info, &err), 0);
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
    /* With the member twice, the gateway and Azure could each read another one: the
     * body is refused before anything is changed or sent. */
    ck_assert_int_eq(parse(AOP_OP_CHAT, "{\"model\":\"m\",\"stream\":true,\"stream_options\":"
                           "{\"include_usage\":true},\"stream_options\":{\"include_usage\":false}}",
                           &info, &err), -1);
    ck_assert_str_eq(err.param, "stream_options");
    ck_assert_str_eq(err.code, "duplicate_key");
}
END_TEST

/* The body is read in place: the model is the one string copied (decoded, and not
 * inside the body), the estimate counts decoded characters as before, and the splice
 * is offsets into the body around a small text, never a copy of it. */
START_TEST(body_is_read_in_place)
{
    aop_request_info_t info;
    aop_request_error_t err;
    /* 8 escaped newlines: 16 bytes of text, 8 characters, 2 tokens */
    const char *body = "{\"model\":\"g\\u0070t-4o\",\"messages\":[{\"role\":\"user\","
                       "\"content\":\"\\n\\n\\n\\n\\n\\n\\n\\n\"}],\"stream\":true} ";
    const aop_splice_t *sp = &info.usage_splice;

    ck_assert_int_eq(parse(AOP_OP_CHAT, body, &info, &err), 0);
    ck_assert_str_eq(info.model, "gpt-4o");
    ck_assert(info.model < body || info.model > body + strlen(body));
    ck_assert_int_eq(info.prompt_estimate, 4 + 2 + 3);
    /* No stream_options: inserted before the closing brace, nothing replaced. */
    ck_assert_uint_eq(sp->from, strlen(body) - 2);
    ck_assert_uint_eq(sp->to, sp->from);
    ck_assert_str_eq(sp->text, ",\"stream_options\":{\"include_usage\":true}");
    ck_assert_uint_eq(sp->text_len, strlen(sp->text));
    /* include_usage false: just its value replaced. */
    body = "{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":false}}";
    ck_assert_int_eq(parse(AOP_OP_CHAT, body, &info, &err), 0);
    ck_assert_uint_eq(sp->from, (apr_size_t)(strstr(body, "false") - body));
    ck_assert_uint_eq(sp->to, sp->from + 5);
    ck_assert_str_eq(sp->text, "true");
}
END_TEST

START_TEST(prefill_is_the_last_message)
{
    aop_request_info_t info;
    aop_request_error_t err;
    aop_splice_t sp;
    const char *body = "{\"model\":\"m\",\"messages\": [ {\"role\":\"user\",\"content\":"
                       "\"q\"} ] ,\"stream\":true}";
    const char text[] = "say \"hi\"\\\n\x01\xc3\xa9";

    ck_assert_int_eq(parse(AOP_OP_CHAT, body, &info, &err), 0);
    ck_assert_int_eq(aop_request_prefill(pool, &info, text, sizeof(text) - 1, &sp), 0);
    /* Appended after the last message, escaped; the rest byte-identical. */
    ck_assert_str_eq(spliced(body, &sp),
                     "{\"model\":\"m\",\"messages\": [ {\"role\":\"user\",\"content\":"
                     "\"q\"} ,{\"role\":\"assistant\",\"content\":\"say \\\"hi\\\"\\\\"
                     "\\n\\u0001\xc3\xa9\"}] ,\"stream\":true}");
    /* An empty array takes it with no comma; no messages array, no prefill. */
    ck_assert_int_eq(parse(AOP_OP_CHAT, "{\"model\":\"m\",\"messages\":[]}", &info, &err), 0);
    ck_assert_int_eq(aop_request_prefill(pool, &info, "x", 1, &sp), 0);
    ck_assert_str_eq(spliced("{\"model\":\"m\",\"messages\":[]}", &sp),
                     "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"content\":\"x\"}]}");
    ck_assert_int_eq(parse(AOP_OP_CHAT, "{\"model\":\"m\",\"prompt\":\"p\"}", &info, &err), 0);
    ck_assert_int_eq(aop_request_prefill(pool, &info, "x", 1, &sp), -1);
}
END_TEST

Suite *aop_request_suite(void)
{
    Suite *s = suite_create("aop_request");
    TCase *tc = tcase_create("request");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, chat_body);
    tcase_add_test(tc, responses_body);
    tcase_add_test(tc, model_splice_keeps_the_rest);
    tcase_add_test(tc, prefill_is_the_last_message);
    tcase_add_test(tc, stream_flags);
    tcase_add_test(tc, embeddings_reserve_no_completion);
    tcase_add_test(tc, prompt_estimate_follows_the_content);
    tcase_add_test(tc, bad_bodies);
    tcase_add_test(tc, usage_is_added_for_streams);
    tcase_add_test(tc, body_is_read_in_place);
    tcase_add_test(tc, absurd_counts_are_refused);
    tcase_add_test(tc, nul_in_model_is_refused);
    tcase_add_test(tc, duplicate_read_keys_are_refused);
    suite_add_tcase(s, tc);
    return s;
}
