/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The request body's scanner (aop_request_scan.c) against the tree: on every body
 * here, every prefix of it and every one-byte change of it, the two readers give the
 * same answer, field by field, or the same error. */
#include <stdio.h>
#include <string.h>

#include <apr_strings.h>

#include "aop_request.h"
#include "aop_request_top.h"
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

static int same_str(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static int same_splice(const aop_splice_t *a, const aop_splice_t *b)
{
    return a->from == b->from && a->to == b->to && a->text_len == b->text_len
           && same_str(a->text, b->text);
}

static int same_info(const aop_request_info_t *a, const aop_request_info_t *b)
{
    return same_str(a->model, b->model) && a->stream == b->stream
           && a->include_usage == b->include_usage
           && a->has_stream_options == b->has_stream_options && a->n == b->n
           && a->max_tokens == b->max_tokens && a->prompt_estimate == b->prompt_estimate
           && a->estimate == b->estimate && same_splice(&a->usage_splice, &b->usage_splice)
           && a->model_from == b->model_from && a->model_to == b->model_to
           && a->body_empty == b->body_empty && a->messages_end == b->messages_end
           && a->messages_count == b->messages_count
           && same_str(a->previous_response_id, b->previous_response_id)
           && same_str(a->conversation, b->conversation) && a->background == b->background;
}

/* Both readers on body, for each operation the scanner serves and with and without a
 * model from the path; fails the test with the body when they differ. */
static void compare(const char *body, apr_size_t len)
{
    static const aop_op_e ops[] = { AOP_OP_CHAT, AOP_OP_COMPLETIONS, AOP_OP_EMBEDDINGS };
    static const char *const path_models[] = { NULL, "path-model" };
    aop_request_info_t a, b;
    aop_request_error_t ea, eb;
    int i, j, ra, rb;

    for (i = 0; i < 3; i++) {
        for (j = 0; j < 2; j++) {
            memset(&ea, 0, sizeof(ea));
            memset(&eb, 0, sizeof(eb));
            ra = aop_request_parse_with(pool, ops[i], path_models[j], body, len, 1, &a, &ea);
            rb = aop_request_parse_with(pool, ops[i], path_models[j], body, len, 0, &b, &eb);
            ck_assert_msg(ra == rb, "rc %d against %d: %.*s", ra, rb, (int)len, body);
            if (ra == 0) {
                ck_assert_msg(same_info(&a, &b), "fields differ: %.*s", (int)len, body);
            }
            else {
                ck_assert_msg(same_str(ea.message, eb.message) && same_str(ea.param, eb.param)
                              && same_str(ea.code, eb.code), "errors differ (%s | %s): %.*s",
                              ea.message, eb.message, (int)len, body);
            }
        }
    }
}

static const char *const bodies[] = {
    /* tools/bench's small chat, as Python's json.dumps writes it */
    "{\"model\": \"gpt-4o-mini\", \"max_tokens\": 16, \"messages\": [{\"role\": \"user\", "
    "\"content\": \"Say hello to the benchmark.\"}]}",
    "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\\n\\tOK\"},"
    "{\"role\":\"user\",\"content\":\"caf\\u00e9 \\ud83d\\ude00 \\ud800 x\\u0041\\/\"}],"
    "\"stream\":true}",
    "{\"model\":\"m\",\"messages\":[],\"stream\":true,\"stream_options\":{\"include_usage\":"
    "false,\"other\":[1,{\"a\":null}]}}",
    "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true,"
    "\"stream_options\":{}}",
    "{\"model\":\"m\",\"messages\":[],\"stream\":true,\"stream_options\":null}",
    "{\"model\":\"m\",\"messages\":[],\"stream\":true,\"stream_options\":{\"x\":1}}",
    "{\"model\":\"m\",\"messages\":[],\"stream_options\":{\"include_usage\":1}}",
    "{\"model\":\"m\",\"messages\":[],\"stream_options\":{\"include_usage\":true,"
    "\"include_usage\":false}}",
    "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":"
    "[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":"
    "\"{\\\"a\\\":1}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"42\"}],"
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{}}}]}",
    "{\"model\":\"m\",\"messages\":[{\"content\":\"a\",\"content\":\"bbbbbbbbbbbb\","
    "\"function_call\":{\"name\":\"g\"},\"tool_calls\":null,\"function_call\":1}]}",
    "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
    "\"text\":\"parts\"},{\"type\":\"image_url\",\"image_url\":{\"url\":\"u\"}}]}]}",
    "{\"model\":\"m\",\"messages\":[1,\"two\",null,[],{},{\"content\":7},{\"content\":{}}]}",
    "{\"model\":\"m\",\"messages\":[{\"c\\u006fntent\":\"escaped name\"}]}",
    "{\"mod\\u0065l\":\"m\",\"messages\":[]}",
    "{\"model\":\"gpt\\u0000evil\",\"messages\":[]}",
    "{\"model\":\"esc\\\"aped\",\"messages\":[]}",
    "{\"model\":\"\",\"messages\":[]}",
    "{\"model\":null,\"messages\":[]}",
    "{\"model\":5,\"messages\":[]}",
    "{\"messages\":[]}",
    "{}",
    " { } ",
    "{\"model\":\"m\",\"messages\":[],\"model\":\"n\"}",
    "{\"model\":\"m\",\"messages\":[],\"messages\":[]}",
    "{\"model\":\"m\",\"messages\":[],\"max_tokens\":0,\"n\":0}",
    "{\"model\":\"m\",\"messages\":[],\"max_tokens\":2147483647,\"n\":128}",
    "{\"model\":\"m\",\"messages\":[],\"max_tokens\":2147483648}",
    "{\"model\":\"m\",\"messages\":[],\"max_tokens\":99999999999999999999999}",
    "{\"model\":\"m\",\"messages\":[],\"max_tokens\":-0,\"n\":-1}",
    "{\"model\":\"m\",\"messages\":[],\"max_tokens\":1.5}",
    "{\"model\":\"m\",\"messages\":[],\"max_tokens\":1e3}",
    "{\"model\":\"m\",\"messages\":[],\"max_tokens\":\"16\"}",
    "{\"model\":\"m\",\"messages\":[],\"max_tokens\":null,\"n\":null,\"stream\":null}",
    "{\"model\":\"m\",\"messages\":[],\"max_completion_tokens\":5,\"max_tokens\":\"bad\"}",
    "{\"model\":\"m\",\"messages\":[],\"max_output_tokens\":7,\"max_tokens\":9}",
    "{\"model\":\"m\",\"messages\":[],\"max_completion_tokens\":null,\"max_tokens\":9}",
    "{\"model\":\"m\",\"messages\":[],\"n\":129}",
    "{\"model\":\"m\",\"messages\":[],\"stream\":\"yes\"}",
    "{\"model\":\"m\",\"messages\":[],\"stream\":false,\"temperature\":0.7,\"top_p\":1,"
    "\"stop\":[\"\\n\"],\"user\":\"u\",\"logit_bias\":{\"50256\":-100},\"seed\":-12,"
    "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"schema\":{\"a\":"
    "[true,false,null,0,-0.5e-3,1E+2]}}}}",
    "{\"model\":\"m\",\"prompt\":\"a prompt\"}",
    "{\"model\":\"m\",\"input\":[\"a\",\"b\"],\"messages\":null}",
    "{\"model\":\"m\",\"messages\":{}}",
    "{\"model\":\"m\",\"messages\":[],\"prompt\":\"p\",\"input\":1,\"instructions\":2,"
    "\"previous_response_id\":3,\"conversation\":4,\"background\":5}",
    "{\"model\":\"m\",\"messages\":[]} x",
    "{\"model\":\"m\",\"messages\":[]}\n\r\t ",
    "{\"model\":\"m\",\"messages\":[{\"content\":\"ctl\x01\"}]}",
    "{\"model\":\"m\",\"messages\":[{\"content\":\"bad \\x escape\"}]}",
    "{\"model\":\"m\",\"messages\":[{\"content\":\"\\u12\"}]}",
    "{\"model\":\"m\",\"messages\":[{\"content\":\"\\ud83d\\uZZZZ\"}]}",
    "{\"model\":\"m\",\"messages\":[01]}",
    "{\"model\":\"m\",\"messages\":[-]}",
    "{\"model\":\"m\",\"messages\":[1.]}",
    "{\"model\":\"m\",\"messages\":[1e]}",
    "{\"model\":\"m\",\"messages\":[tru]}",
    "{\"model\":\"m\",\"messages\":[nul]}",
    "{\"model\":\"m\",\"messages\":[{\"a\" 1}]}",
    "{\"model\":\"m\",\"messages\":[{\"a\":1,}]}",
    "{\"model\":\"m\",\"messages\":[1,]}",
    "{\"model\":\"m\",,\"messages\":[]}",
    "[{\"model\":\"m\"}]",
    "\"model\"",
};

/* Nesting at the parser's bound and one past it, inside a message. */
static const char *nested(int depth)
{
    char *s = apr_palloc(pool, (apr_size_t)depth * 2 + 64);
    int i, o;

    o = sprintf(s, "{\"model\":\"m\",\"messages\":[{\"content\":\"x\",\"meta\":");
    for (i = 0; i < depth; i++) {
        s[o++] = '[';
    }
    for (i = 0; i < depth; i++) {
        s[o++] = ']';
    }
    strcpy(s + o, "}]}");
    return s;
}

START_TEST(scanner_reads_as_the_tree)
{
    static const char changes[] = "\"\\{}[],:0-.ex \x01";
    apr_size_t i, n, len, k;
    char *copy;

    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        len = strlen(bodies[i]);
        copy = apr_pstrdup(pool, bodies[i]);
        for (n = 0; n <= len; n++) {
            compare(bodies[i], n);                              /* every prefix */
        }
        for (n = 0; n < len; n++) {
            for (k = 0; k < sizeof(changes) - 1; k++) {
                copy[n] = changes[k];
                compare(copy, len);                             /* one byte changed */
            }
            copy[n] = bodies[i][n];
        }
    }
    /* The 64 levels the parser allows (with the root, messages and the message
     * around them) and one more. */
    for (i = 60; i <= 64; i++) {
        const char *b = nested((int)i);

        compare(b, strlen(b));
    }
}
END_TEST

/* The scanner serves the common bodies itself (else the comparison above would hold
 * with a scanner that gives up on everything), and leaves the others to the tree. */
START_TEST(scanner_takes_chats_and_leaves_the_rest)
{
    aop_request_scan_t sc;
    const char *b;

    b = bodies[0];
    ck_assert_int_eq(aop_request_scan(b, strlen(b), &sc), 0);
    ck_assert_uint_eq(sc.root.count, 3);
    ck_assert_int_eq(sc.top.messages_counted, 1);
    /* 4 a message, 27 characters in 7 tokens */
    ck_assert_int_eq(sc.top.messages_tokens, 11);
    ck_assert_int_eq(sc.top.at[K_MAX_TOKENS]->type, AOP_JINT);
    ck_assert_int_eq(sc.top.at[K_MAX_TOKENS]->i, 16);
    for (b = bodies[1]; b; b = NULL) {
        ck_assert_int_eq(aop_request_scan(b, strlen(b), &sc), 0);
    }
    b = bodies[2];
    ck_assert_int_eq(aop_request_scan(b, strlen(b), &sc), 0);
    ck_assert_ptr_nonnull(sc.top.at[K_STREAM_OPTIONS]);
    ck_assert_uint_eq(sc.top.at[K_STREAM_OPTIONS]->count, 2);
    ck_assert_ptr_eq(sc.top.at[K_STREAM_OPTIONS]->child, &sc.include_usage);
    b = bodies[8];                                      /* tool calls */
    ck_assert_int_eq(aop_request_scan(b, strlen(b), &sc), 0);
    b = bodies[10];                                     /* content parts */
    ck_assert_int_eq(aop_request_scan(b, strlen(b), &sc), -1);
    b = "{\"model\":\"m\",\"prompt\":\"a prompt\"}";
    ck_assert_int_eq(aop_request_scan(b, strlen(b), &sc), -1);
    b = "{\"model\":\"m\",\"messages\":[]} x";
    ck_assert_int_eq(aop_request_scan(b, strlen(b), &sc), -1);
}
END_TEST

/* The index of the read keys, by first byte and length, against their table: each
 * name is found, and names one byte off or of another length are not. */
START_TEST(key_index_matches_the_table)
{
    static const char *const others[] = { "", "m", "mode", "models", "Model", "messagez",
                                          "max_token", "streams", "stream_option", "nn",
                                          "tool", "inputs", "prompts", "background_",
                                          "previous_response_ix", "max_output_tokenz" };
    const char *name;
    apr_size_t i;
    int k;

    /* Every key of the enum has a name (a key added to it is in the table). */
    for (k = 0; k < K_COUNT; k++) {
        name = aop_request_key_name(k);
        ck_assert_ptr_nonnull(name);
        ck_assert_int_eq(aop_request_key_index(name, strlen(name)), k);
    }
    ck_assert_ptr_null(aop_request_key_name(K_COUNT));
    for (i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        ck_assert_int_eq(aop_request_key_index(others[i], strlen(others[i])), -1);
    }
}
END_TEST

Suite *aop_request_scan_suite(void)
{
    Suite *s = suite_create("aop_request_scan");
    TCase *tc = tcase_create("request_scan");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, scanner_reads_as_the_tree);
    tcase_add_test(tc, scanner_takes_chats_and_leaves_the_rest);
    tcase_add_test(tc, key_index_matches_the_table);
    suite_add_tcase(s, tc);
    return s;
}
