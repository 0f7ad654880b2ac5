/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Token usage from response bodies fed in arbitrary pieces: JSON documents and
 * server-sent event streams, with and without stripping the usage-only chunk. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>

#include "aop_event_stream.h"
#include "aop_usage.h"
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

/* ---- feeding a body whole, byte by byte and in pseudo-random pieces ---------- */

typedef struct {
    char *buf;
    apr_size_t len, cap;
    int calls;
} sink_t;

static apr_status_t sink_emit(void *baton, const char *data, apr_size_t len)
{
    sink_t *s = baton;

    s->calls++;
    if (s->len + len > s->cap) {
        s->cap = (s->len + len) * 2;
        s->buf = realloc(s->buf, s->cap);
        if (!s->buf) {
            abort();
        }
    }
    memcpy(s->buf + s->len, data, len);
    s->len += len;
    return APR_SUCCESS;
}

typedef struct {
    aop_usage_t u;
    apr_int64_t chars;
    int done, events, filtered;
    int tree_parses;            /* events parsed into a tree */
    const char *out;            /* what strip mode forwarded */
    apr_size_t out_len;
} result_t;

/* run_mode() asks for an id, which sends every event of a stream to the tree (a
 * chat chunk's usage is otherwise read without one). */
static int want_tree;

/* WHOLE_LAST: fed whole through aop_usage_feed_whole, which may find a JSON answer's
 * usage from its end; it must agree with the full scan of every other mode. */
enum { WHOLE, BYTES, SMALL, LARGE, WHOLE_LAST, NMODES };

/* Piece sizes from a fixed-seed generator, zero-length feeds included. */
static apr_size_t piece_size(int mode, apr_uint32_t *seed, apr_size_t left)
{
    apr_size_t n;

    *seed = *seed * 1103515245u + 12345u;
    switch (mode) {
    case BYTES: n = 1; break;
    case SMALL: n = (*seed >> 16) % 18; break;
    case LARGE: n = (*seed >> 8) % 70000; break;
    default: n = left; break;
    }
    return n < left ? n : left;
}

static void run_mode(const char *body, apr_size_t len, int sse, int strip, int mode,
                     result_t *r)
{
    apr_pool_t *p;
    aop_usage_parser_t *up;
    sink_t sink = { NULL, 0, 0, 0 };
    apr_uint32_t seed = 20240611u;
    apr_size_t off, n;
    apr_status_t rv = APR_SUCCESS;

    apr_pool_create(&p, pool);
    up = aop_usage_parser_create(p, sse, strip);
    if (want_tree) {
        aop_usage_want_id(up);
    }
    /* Asserted once after the loop: each Check assertion writes to a file. */
    if (mode == WHOLE_LAST) {
        rv = aop_usage_feed_whole(up, body, len, strip ? sink_emit : NULL, &sink);
    }
    for (off = 0; mode != WHOLE_LAST && off < len && rv == APR_SUCCESS; off += n) {
        n = piece_size(mode, &seed, len - off);
        rv = aop_usage_feed(up, body + off, n, strip ? sink_emit : NULL, &sink);
    }
    ck_assert_int_eq(rv, APR_SUCCESS);
    ck_assert_int_eq(aop_usage_finish(up, strip ? sink_emit : NULL, &sink), APR_SUCCESS);
    aop_usage_get(up, &r->u);
    r->chars = aop_usage_content_chars(up);
    r->done = aop_usage_saw_done(up);
    r->events = aop_usage_events(up);
    r->filtered = aop_usage_content_filter(up);
    r->tree_parses = aop_usage_tree_parses(up);
    r->out = sink.len ? apr_pmemdup(pool, sink.buf, sink.len) : "";
    r->out_len = sink.len;
    free(sink.buf);
    apr_pool_destroy(p);
}

/* Feeds body in every way; they must all agree.  Fills r from the whole feed. */
static void run(const char *body, apr_size_t len, int sse, int strip, result_t *r)
{
    result_t o;
    int mode;

    run_mode(body, len, sse, strip, WHOLE, r);
    for (mode = WHOLE + 1; mode < NMODES; mode++) {
        run_mode(body, len, sse, strip, mode, &o);
        ck_assert_msg(memcmp(&o.u, &r->u, sizeof(o.u)) == 0, "usage differs in mode %d", mode);
        ck_assert_int_eq(o.chars, r->chars);
        ck_assert_int_eq(o.done, r->done);
        ck_assert_int_eq(o.events, r->events);
        ck_assert_int_eq(o.filtered, r->filtered);
        ck_assert_uint_eq(o.out_len, r->out_len);
        ck_assert_msg(memcmp(o.out, r->out, o.out_len) == 0, "output differs in mode %d",
                      mode);
    }
}

static void run_json(const char *body, result_t *r)
{
    run(body, strlen(body), 0, 0, r);
    ck_assert_uint_eq(r->out_len, 0);
}

static void assert_usage(const result_t *r, apr_int64_t prompt, apr_int64_t completion,
                         apr_int64_t total)
{
    ck_assert_int_eq(r->u.found, 1);
    ck_assert_int_eq(r->u.prompt_tokens, prompt);
    ck_assert_int_eq(r->u.completion_tokens, completion);
    ck_assert_int_eq(r->u.total_tokens, total);
}

/* ---- JSON bodies ------------------------------------------------------------------ */

START_TEST(chat_usage_at_end)
{
    result_t r;

    run_json("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,"
             "\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
             "\"assistant\",\"content\":\"Hello!\"},\"finish_reason\":\"stop\"}],"
             "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":34,\"total_tokens\":46,"
             "\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},"
             "\"completion_tokens_details\":{\"reasoning_tokens\":0}}}", &r);
    assert_usage(&r, 12, 34, 46);
    ck_assert_int_eq(r.chars, 0);
    ck_assert_int_eq(r.events, 0);
}
END_TEST

/* Answers whose usage aop_usage_feed_whole finds from the end, and answers it must
 * leave to the full scan; run_json() compares it with every other way of feeding. */
START_TEST(usage_found_from_the_end_agrees_with_the_scan)
{
    static const struct {
        const char *body;
        int found;
        apr_int64_t prompt, completion, total;
    } cases[] = {
        /* Azure's shape: sorted members, filter results, details objects. */
        { "{\"choices\":[{\"content_filter_results\":{\"hate\":{\"filtered\":false,"
          "\"severity\":\"safe\"}},\"finish_reason\":\"stop\",\"index\":0,\"message\":"
          "{\"content\":\"Hi } { \\\" usage\",\"role\":\"assistant\"}}],\"created\":1,"
          "\"id\":\"chatcmpl-1\",\"model\":\"gpt-4o\",\"object\":\"chat.completion\","
          "\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":{}}],"
          "\"system_fingerprint\":\"fp\",\"usage\":{\"completion_tokens\":7,"
          "\"completion_tokens_details\":{\"reasoning_tokens\":0},\"prompt_tokens\":9,"
          "\"prompt_tokens_details\":{\"cached_tokens\":[0]},\"total_tokens\":16}}",
          1, 9, 7, 16 },
        /* Spaces everywhere, and usage the only member. */
        { " \n{ \"usage\" \t:\r\n { \"prompt_tokens\" : 1 , \"completion_tokens\":2 } \n} \n",
          1, 1, 2, 3 },
        /* Strings in the usage object: braces in them; an empty one; a backslash
         * (then the full scan decides). */
        { "{\"id\":\"x\",\"usage\":{\"note\":\"}{][\",\"e\":\"\",\"prompt_tokens\":4}}",
          1, 4, 0, 4 },
        { "{\"id\":\"x\",\"usage\":{\"note\":\"a\\\\b\\\"}\",\"prompt_tokens\":5}}",
          1, 5, 0, 5 },
        /* Two usage members: the last, an object, counts; a last null or an
         * unparsable one leaves the earlier one's counts. */
        { "{\"usage\":{\"prompt_tokens\":1},\"usage\":{\"prompt_tokens\":2}}", 1, 2, 0, 2 },
        { "{\"usage\":{\"prompt_tokens\":1},\"usage\":null}", 1, 1, 0, 1 },
        { "{\"usage\":{\"prompt_tokens\":1},\"usage\":{\"prompt_tokens\":}}", 1, 1, 0, 1 },
        /* Not the last member, not at the top, not an object, not a key. */
        { "{\"usage\":{\"prompt_tokens\":3},\"service_tier\":\"default\"}", 1, 3, 0, 3 },
        { "{\"a\":{\"usage\":{\"prompt_tokens\":3}}}", 0, 0, 0, 0 },
        { "{\"a\":[{\"b\":1},\"usage\",{\"prompt_tokens\":3}]}", 0, 0, 0, 0 },
        { "[{\"usage\":{\"prompt_tokens\":3}}]", 0, 0, 0, 0 },
        { "{\"usage\":[{\"prompt_tokens\":3}]}", 0, 0, 0, 0 },
        { "{\"a\":\"x\\\"usage\":{\"prompt_tokens\":3}}", 0, 0, 0, 0 },
        { "{\"a\":\"\\\"\",\"usage\":{\"prompt_tokens\":6}}", 1, 6, 0, 6 },
        { "{\"xusage\":{\"prompt_tokens\":3}}", 0, 0, 0, 0 },
        { "{\"us\\u0061ge\":{\"prompt_tokens\":3}}", 0, 0, 0, 0 },
        /* Cut, or more after the answer. */
        { "{\"usage\":{\"prompt_tokens\":3}", 0, 0, 0, 0 },
        { "{\"usage\":{\"prompt_tokens\":3}} x", 1, 3, 0, 3 },
        { "{}", 0, 0, 0, 0 },
        { "}", 0, 0, 0, 0 },
        { "{\"usage\":{}}", 1, 0, 0, 0 },
        /* The usage object read in place as the tree reads it: numbers that are not
         * counts, the Responses API's names, a later name replacing an earlier one,
         * other values skipped, and what is not JSON refused. */
        { "{\"usage\":{\"prompt_tokens\":1.0,\"completion_tokens\":2}}", 1, 0, 2, 2 },
        { "{\"usage\":{\"prompt_tokens\":-3,\"completion_tokens\":2e1,"
          "\"total_tokens\":-0}}", 1, 0, 0, 0 },
        { "{\"usage\":{\"prompt_tokens\":1e5,\"completion_tokens\":3E+0}}", 1, 0, 0, 0 },
        { "{\"usage\":{\"prompt_tokens\":99999999999999999999999,"
          "\"completion_tokens\":1}}", 1, APR_INT64_C(1) << 40, 1,
          (APR_INT64_C(1) << 40) + 1 },
        { "{\"usage\":{\"prompt_tokens\":1099511627777,\"total_tokens\":1099511627775}}",
          1, APR_INT64_C(1) << 40, 0, (APR_INT64_C(1) << 40) - 1 },
        { "{\"usage\":{\"prompt_tokens\":5,\"prompt_tokens\":\"x\",\"input_tokens\":7}}",
          1, 7, 0, 7 },
        { "{\"usage\":{\"input_tokens\":3,\"output_tokens\":4,\"x\":[true,false,null,"
          "{\"a\":[],\"prompt_tokens\":9},\"s\",-1.5e-3,{}]}}", 1, 3, 4, 7 },
        { "{\"usage\":{\"total_tokens\":10,\"prompt_tokens\":4}}", 1, 4, 0, 10 },
        { "{\"usage\":{\"prompt_tokens\":0,\"completion_tokens\":0}}", 1, 0, 0, 0 },
        { "{\"usage\":{\"prompt_tokens\":01}}", 0, 0, 0, 0 },
        { "{\"usage\":{\"prompt_tokens\":1,}}", 0, 0, 0, 0 },
        { "{\"usage\":{\"prompt_tokens\":1 \"completion_tokens\":2}}", 0, 0, 0, 0 },
        { "{\"usage\":{\"prompt_tokens\":tru}}", 0, 0, 0, 0 },
        { "{\"usage\":{\"prompt_tokens\":nulls}}", 0, 0, 0, 0 },
        { "{\"usage\":{\"prompt_tokens\":-}}", 0, 0, 0, 0 },
        { "{\"usage\":{\"prompt_tokens\":1.}}", 0, 0, 0, 0 },
        { "{\"usage\":{\"prompt_tokens\":1e}}", 0, 0, 0, 0 },
        { "{\"usage\":{\"prompt_tokens\":[1,]}}", 0, 0, 0, 0 },
        { "{\"usage\":{\"prompt_tokens\" 1}}", 0, 0, 0, 0 },
        { "{\"usage\":{prompt_tokens:1}}", 0, 0, 0, 0 },
        { "{\"usage\":{\"a\":\"\x01\",\"prompt_tokens\":1}}", 0, 0, 0, 0 },
        { "{\"usage\":{\"prompt_tokens\":2} , \"x\":1 , \"usage\" : {\"prompt_tokens\":3 } }",
          1, 3, 0, 3 },
    };
    result_t r;
    apr_size_t i, len;
    int shift;
    char body[1024];

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        run_json(cases[i].body, &r);
        ck_assert_msg(r.u.found == cases[i].found, "case %d: found %d", (int)i, r.u.found);
        if (cases[i].found) {
            assert_usage(&r, cases[i].prompt, cases[i].completion, cases[i].total);
        }
        /* The walk back to the usage object's brace goes sixteen bytes at a time:
         * spaces before the last inner '}' move every quote, backslash and bracket
         * to each offset of its blocks, and nothing else changes. */
        len = strlen(cases[i].body);
        if (len < 2 || len + 20 > sizeof(body) || strcmp(cases[i].body + len - 2, "}}")) {
            continue;
        }
        for (shift = 1; shift <= 17; shift++) {
            apr_snprintf(body, sizeof(body), "%.*s%*s}}", (int)(len - 2), cases[i].body,
                         shift, "");
            run_json(body, &r);
            ck_assert_msg(r.u.found == cases[i].found, "case %d, shift %d: found %d",
                          (int)i, shift, r.u.found);
            if (cases[i].found) {
                assert_usage(&r, cases[i].prompt, cases[i].completion, cases[i].total);
            }
        }
    }
}
END_TEST

/* A filter word anywhere, at every offset of the sixteen-byte blocks
 * may_be_filtered looks at, and in the last bytes it looks at one at a time: the
 * answer from the end agrees with the full scan (run_json compares them), and the
 * words and near misses as a finish_reason value are told apart as the scan tells
 * them. */
START_TEST(filter_words_at_every_offset_agree_with_the_scan)
{
    static const char *const words[] = {
        "content_filter", "content_policy_violation", "ResponsibleAIPolicyViolation",
        "content_filte", "content_filterx", "content_", "ResponsibleAIPolicyViolatio",
        "Content_filter", "c", "R"
    };
    char body[512];
    result_t r;
    int w, pad, filtered_seen = 0;

    for (w = 0; w < (int)(sizeof(words) / sizeof(words[0])); w++) {
        for (pad = 0; pad < 40; pad++) {
            apr_snprintf(body, sizeof(body), "{\"id\":\"%.*s\",\"choices\":[{"
                         "\"finish_reason\":\"%s\"}],\"usage\":{\"prompt_tokens\":3}}",
                         pad, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", words[w]);
            run_json(body, &r);
            filtered_seen += r.filtered;
            /* "code" and its value a few bytes apart: two in one block. */
            apr_snprintf(body, sizeof(body), "{\"id\":\"%.*s\",\"error\":{"
                         "\"code\":\"%s\"},\"usage\":{\"prompt_tokens\":3}}",
                         pad, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", words[w]);
            run_json(body, &r);
            filtered_seen += r.filtered;
            apr_snprintf(body, sizeof(body), "{\"usage\":{\"prompt_tokens\":3,"
                         "\"finish_reason\":\"%s\"%.*s}}", words[w], pad,
                         "                                           ");
            run_json(body, &r);
            filtered_seen += r.filtered;
        }
    }
    /* The test can fail: the scan flags the true words in these places. */
    ck_assert_int_gt(filtered_seen, 0);
}
END_TEST

/* Nesting in the usage object: as deep as the tree parser goes, and one deeper. */
START_TEST(usage_object_nesting_agrees_with_the_tree)
{
    char body[512];
    result_t r;
    int depth, i, n;

    for (depth = 60; depth <= 66; depth++) {
        n = apr_snprintf(body, sizeof(body), "{\"usage\":{\"prompt_tokens\":4,\"x\":");
        for (i = 0; i < depth; i++) {
            body[n++] = '[';
        }
        for (i = 0; i < depth; i++) {
            body[n++] = ']';
        }
        apr_snprintf(body + n, sizeof(body) - (apr_size_t)n, "}}");
        run_json(body, &r);
        /* The usage object is at depth 1 of its own parse, "x"'s arrays below it. */
        ck_assert_msg(r.u.found == (depth + 1 <= 64), "depth %d: found %d", depth,
                      r.u.found);
    }
}
END_TEST

START_TEST(event_stream_type_in_any_case)
{
    ck_assert_int_eq(aop_is_event_stream("text/event-stream"), 1);
    ck_assert_int_eq(aop_is_event_stream("Text/Event-STREAM; charset=utf-8"), 1);
    ck_assert_int_eq(aop_is_event_stream("text/event-strea"), 0);
    ck_assert_int_eq(aop_is_event_stream("text/event\x0dstream"), 0);
    ck_assert_int_eq(aop_is_event_stream("text\x0f" "event-stream"), 0);
    ck_assert_int_eq(aop_is_event_stream("application/json"), 0);
    ck_assert_int_eq(aop_is_event_stream(""), 0);
    ck_assert_int_eq(aop_is_event_stream(NULL), 0);
}
END_TEST

START_TEST(usage_at_start_and_spaced)
{
    result_t r;

    run_json(" {\n  \"usage\" :\n {\"total_tokens\": 11, \"prompt_tokens\": 5,"
             " \"completion_tokens\": 6}\n ,\n \"id\": \"x\", \"choices\": []\n}\n", &r);
    assert_usage(&r, 5, 6, 11);
    run_json("{\"id\":\"x\",\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":6,"
             "\"total_tokens\":11}   }", &r);
    assert_usage(&r, 5, 6, 11);
}
END_TEST

START_TEST(text_completion_and_embeddings)
{
    result_t r;

    run_json("{\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"choices\":[{\"text\":"
             "\"Once\",\"index\":0,\"logprobs\":null,\"finish_reason\":\"length\"}],"
             "\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":1,\"total_tokens\":5}}", &r);
    assert_usage(&r, 4, 1, 5);
    run_json("{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,"
             "\"embedding\":[0.0023,-0.0091,1e-3]}],\"model\":\"text-embedding-3-small\","
             "\"usage\":{\"prompt_tokens\":8,\"total_tokens\":8}}", &r);
    assert_usage(&r, 8, 0, 8);
}
END_TEST

START_TEST(total_computed_when_missing)
{
    result_t r;

    run_json("{\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}", &r);
    assert_usage(&r, 3, 4, 7);
}
END_TEST

/* Issue 12: a backend's counts are held at AOP_USAGE_MAX_TOKENS, and a missing
 * total is their sum, which can no longer overflow. */
START_TEST(huge_counts_are_bounded)
{
    result_t r;

    run_json("{\"usage\":{\"prompt_tokens\":9223372036854775807,"
             "\"completion_tokens\":9223372036854775807}}", &r);
    assert_usage(&r, AOP_USAGE_MAX_TOKENS, AOP_USAGE_MAX_TOKENS, 2 * AOP_USAGE_MAX_TOKENS);
    run_json("{\"usage\":{\"prompt_tokens\":99999999999999999999999,\"completion_tokens\":1,"
             "\"total_tokens\":99999999999999999999999}}", &r);
    assert_usage(&r, AOP_USAGE_MAX_TOKENS, 1, AOP_USAGE_MAX_TOKENS);
    run_json("{\"usage\":{\"prompt_tokens\":-5,\"completion_tokens\":1e30,"
             "\"total_tokens\":-9223372036854775808}}", &r);
    assert_usage(&r, 0, 0, 0);
}
END_TEST

START_TEST(absent_or_null_usage)
{
    result_t r;

    run_json("{\"id\":\"x\",\"choices\":[{\"message\":{\"content\":\"hi\"}}]}", &r);
    ck_assert_int_eq(r.u.found, 0);
    ck_assert_int_eq(r.u.total_tokens, 0);
    run_json("{\"id\":\"x\",\"usage\":null,\"choices\":[]}", &r);
    ck_assert_int_eq(r.u.found, 0);
    run_json("{\"id\":\"x\",\"usage\":null}", &r);
    ck_assert_int_eq(r.u.found, 0);
    run_json("{\"error\":{\"message\":\"bad\",\"type\":\"invalid_request_error\"}}", &r);
    ck_assert_int_eq(r.u.found, 0);
    run_json("", &r);
    ck_assert_int_eq(r.u.found, 0);
    run_json("not json at all \"usage\": {\"prompt_tokens\": 1}", &r);
    ck_assert_int_eq(r.u.found, 0);
}
END_TEST

START_TEST(usage_in_strings_and_nested_objects_ignored)
{
    result_t r;

    /* In a content string, as a nested key, as a value and inside a top-level array. */
    run_json("{\"choices\":[{\"message\":{\"content\":\"\\\"usage\\\": {\\\"prompt_tokens\\\""
             ": 999}\"},\"usage\":{\"prompt_tokens\":7}}],\"meta\":{\"usage\":{"
             "\"prompt_tokens\":1000,\"completion_tokens\":1,\"total_tokens\":1001}},"
             "\"note\":\"usage\",\"list\":[\"usage\",{\"prompt_tokens\":2}]}", &r);
    ck_assert_int_eq(r.u.found, 0);
    run_json("[{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}}]", &r);
    ck_assert_int_eq(r.u.found, 0);
    /* The same decoys before the real one. */
    run_json("{\"meta\":{\"usage\":{\"prompt_tokens\":1000}},\"note\":\"usage\","
             "\"c\":\"{\\\"usage\\\":{\\\"prompt_tokens\\\":1}}\",\"usage\":{"
             "\"prompt_tokens\":2,\"completion_tokens\":3,\"total_tokens\":5}}", &r);
    assert_usage(&r, 2, 3, 5);
}
END_TEST

START_TEST(escapes_in_strings)
{
    result_t r;

    /* A string ending in an escaped backslash, escaped quotes, \u escapes of quotes and
     * backslashes: the scanner must leave each string where it really ends. */
    run_json("{\"a\":\"\\\\\",\"b\":\"\\\"\",\"c\":\"\\\\\\\"usage\\\\\\\":\","
             "\"d\":\"\\u0022usage\\u0022:{\\u005c\",\"e\":\"\\\\\\\\\","
             "\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":1,\"total_tokens\":10}}",
             &r);
    assert_usage(&r, 9, 1, 10);
    /* Strings inside the usage value itself, with escapes and braces. */
    run_json("{\"usage\":{\"note\":\"}\\\"{,\\\\\",\"prompt_tokens\":1,"
             "\"completion_tokens\":2,\"x\":[1,{\"y\":\"]\"}]},\"z\":1}", &r);
    assert_usage(&r, 1, 2, 3);
    /* A key that only ends in "usage" is another key. */
    run_json("{\"xusage\":{\"prompt_tokens\":1},\"usag\":{\"prompt_tokens\":1}}", &r);
    ck_assert_int_eq(r.u.found, 0);
}
END_TEST

START_TEST(oversized_usage_value_ignored)
{
    char *body = apr_pstrcat(pool, "{\"usage\":{\"prompt_tokens\":1,\"pad\":\"",
                             (char *)memset(apr_pcalloc(pool, 9001), 'x', 9000),
                             "\"},\"id\":\"x\"}", NULL);
    result_t r;

    run_json(body, &r);
    ck_assert_int_eq(r.u.found, 0);
}
END_TEST

START_TEST(json_strip_mode_forwards_everything)
{
    const char *body = "{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}";
    result_t r;

    run(body, strlen(body), 0, 1, &r);
    assert_usage(&r, 1, 2, 3);
    ck_assert_uint_eq(r.out_len, strlen(body));
    ck_assert(memcmp(r.out, body, r.out_len) == 0);
}
END_TEST

/* The process's data size (Linux), to show that a large body is not kept: the parser's
 * pool gets an allocator of its own, so it cannot reuse memory freed elsewhere. */
static apr_size_t data_size(void)
{
    unsigned long v[6] = { 0 };
    FILE *f = fopen("/proc/self/statm", "r");
    int n = 0;

    if (f) {
        n = fscanf(f, "%lu %lu %lu %lu %lu %lu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]);
        fclose(f);
    }
    return n == 6 ? (apr_size_t)v[5] * 4096 : 0;
}

#define BIG (10 * 1024 * 1024)

/* A 10 MB content string full of things that look like JSON. */
static char *big_body(apr_size_t *len)
{
    static const char head[] = "{\"id\":\"x\",\"choices\":[{\"message\":{\"content\":\"";
    static const char tail[] = "\"}}],\"usage\":{\"prompt_tokens\":100,"
                               "\"completion_tokens\":2621440,\"total_tokens\":2621540}}";
    static const char decoy[] = "ab\\\"usage\\\": {\\\"prompt_tokens\\\": 1}, \\\\ \\u00e9 {[";
    char *body = malloc(BIG + sizeof(head) + sizeof(tail));
    apr_size_t n = sizeof(head) - 1;

    ck_assert_ptr_nonnull(body);
    memcpy(body, head, n);
    while (n + sizeof(decoy) < BIG) {
        memcpy(body + n, decoy, sizeof(decoy) - 1);
        n += sizeof(decoy) - 1;
    }
    memcpy(body + n, tail, sizeof(tail) - 1);
    *len = n + sizeof(tail) - 1;
    return body;
}

/* Counts what is forwarded without keeping it, so the heap measures the parser. */
static apr_status_t count_emit(void *baton, const char *data, apr_size_t len)
{
    *(apr_size_t *)baton += len;
    return APR_SUCCESS;
}

static void feed_big(const char *body, apr_size_t len, int sse, int strip, apr_size_t bound,
                     result_t *r)
{
    apr_allocator_t *alloc;
    apr_pool_t *p;
    aop_usage_parser_t *up;
    apr_size_t before = data_size(), grown;
    apr_size_t off, n, out = 0;
    apr_status_t rv = APR_SUCCESS;

    ck_assert_int_eq(apr_allocator_create(&alloc), APR_SUCCESS);
    ck_assert_int_eq(apr_pool_create_ex(&p, NULL, NULL, alloc), APR_SUCCESS);
    apr_allocator_owner_set(alloc, p);
    up = aop_usage_parser_create(p, sse, strip);
    for (off = 0; off < len && rv == APR_SUCCESS; off += n) {
        n = len - off < 65536 ? len - off : 65536;
        rv = aop_usage_feed(up, body + off, n, strip ? count_emit : NULL, &out);
    }
    ck_assert_int_eq(rv, APR_SUCCESS);
    ck_assert_int_eq(aop_usage_finish(up, strip ? count_emit : NULL, &out), APR_SUCCESS);
    grown = data_size() - before;
    ck_assert_msg(grown < bound, "the parser grew the data size by %lu bytes",
                  (unsigned long)grown);
    ck_assert_uint_eq(out, strip ? len : 0);
    aop_usage_get(up, &r->u);
    r->chars = aop_usage_content_chars(up);
    r->events = aop_usage_events(up);
    apr_pool_destroy(p);
}

START_TEST(ten_megabyte_json_in_constant_memory)
{
    apr_size_t len;
    char *body = big_body(&len);
    result_t r;

    feed_big(body, len, 0, 0, 256 * 1024, &r);
    assert_usage(&r, 100, 2621440, 2621540);
    run(body, len, 0, 0, &r);
    assert_usage(&r, 100, 2621440, 2621540);
    free(body);
}
END_TEST

/* ---- server-sent events -------------------------------------------------------- */

#define USAGE_CHUNK "{\"choices\":[],\"created\":1,\"id\":\"chatcmpl-1\",\"model\":\"gpt-4o\"," \
    "\"object\":\"chat.completion.chunk\",\"system_fingerprint\":\"fp_1\",\"usage\":{" \
    "\"completion_tokens\":3,\"prompt_tokens\":9,\"total_tokens\":12," \
    "\"completion_tokens_details\":{\"reasoning_tokens\":0}," \
    "\"prompt_tokens_details\":{\"cached_tokens\":0}}}"

/* Each event is its lines; one of them may be the usage event to strip. */
typedef struct {
    const char *lines[8];
} event_t;

static const event_t azure[] = {
    { { "data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\","
        "\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":{"
        "\"hate\":{\"filtered\":false,\"severity\":\"safe\"}}}]}", NULL } },
    { { "data: {\"choices\":[{\"content_filter_results\":{},\"delta\":{\"content\":\"\","
        "\"role\":\"assistant\",\"refusal\":null},\"finish_reason\":null,\"index\":0,"
        "\"logprobs\":null}],\"created\":1,\"id\":\"chatcmpl-1\",\"model\":\"gpt-4o\","
        "\"object\":\"chat.completion.chunk\",\"usage\":null}", NULL } },
    { { "data: {\"choices\":[{\"delta\":{\"content\":\"Hello\"},\"finish_reason\":null,"
        "\"index\":0}],\"id\":\"chatcmpl-1\",\"usage\":null}", NULL } },
    { { "data: {\"choices\":[{\"delta\":{\"content\":\" w\\u00f6rld \xf0\x9f\x98\x80 "
        "\\\"usage\\\"\"},\"finish_reason\":null,\"index\":0}],\"usage\":null}", NULL } },
    { { "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\",\"index\":0}],"
        "\"usage\":null}", NULL } },
    { { "data: " USAGE_CHUNK, NULL } },
    { { "data: [DONE]", NULL } },
};
#define AZURE_N 7
#define AZURE_USAGE 5
#define AZURE_CHARS (5 + 16)    /* "Hello" and " wörld 😀 \"usage\"" */

/* Comments, other fields, a field without a colon, data split over lines, with and
 * without the space, and an event that is only a comment. */
static const event_t fancy[] = {
    { { ": this is a comment", NULL } },
    { { "event: message", "id: 1", "retry: 1000", "data: {\"choices\":[{\"delta\":",
        "data:{\"content\":\"ab\"},", "data:   \"index\":0}]}", NULL } },
    { { "data", "data: {\"choices\":[{\"delta\":{\"content\":\"cd\"},\"index\":0}]}", NULL } },
    { { ": keep-alive", "data: {\"choices\":[],", "id: 7", "data: \"usage\":{"
        "\"prompt_tokens\":20,\"completion_tokens\":2,\"total_tokens\":22}}", NULL } },
    { { "data:[DONE]", NULL } },
};
#define FANCY_N 5
#define FANCY_USAGE 3

/* Appends the events with the line breaks in eols, cycled; *ustart and *uend
 * receive where event usage_idx lies. */
static char *build(const event_t *evs, int n, const char *const *eols, int usage_idx,
                   apr_size_t *len, apr_size_t *ustart, apr_size_t *uend)
{
    char *out = apr_pstrdup(pool, "");
    int e, l, k = 0;

    for (e = 0; e < n; e++) {
        if (e == usage_idx) {
            *ustart = strlen(out);
        }
        for (l = 0; evs[e].lines[l]; l++) {
            out = apr_pstrcat(pool, out, evs[e].lines[l], eols[k++ % 5], NULL);
        }
        out = apr_pstrcat(pool, out, eols[k++ % 5], NULL);
        if (e == usage_idx) {
            *uend = strlen(out);
        }
    }
    *len = strlen(out);
    return out;
}

static const char *const LF[5] = { "\n", "\n", "\n", "\n", "\n" };
static const char *const CRLF[5] = { "\r\n", "\r\n", "\r\n", "\r\n", "\r\n" };
static const char *const CR[5] = { "\r", "\r", "\r", "\r", "\r" };
static const char *const MIXED[5] = { "\n", "\r\n", "\r\n", "\n", "\r\n" };
static const char *const *const STYLES[4] = { LF, CRLF, CR, MIXED };

/* Strip mode forwards exactly the stream without [ustart, uend). */
static void assert_stripped(const result_t *r, const char *in, apr_size_t len,
                            apr_size_t ustart, apr_size_t uend)
{
    ck_assert_uint_eq(r->out_len, len - (uend - ustart));
    ck_assert(memcmp(r->out, in, ustart) == 0);
    ck_assert(memcmp(r->out + ustart, in + uend, len - uend) == 0);
}

START_TEST(azure_stream_strip)
{
    apr_size_t len, us, ue;
    const char *in = build(azure, AZURE_N, STYLES[_i], AZURE_USAGE, &len, &us, &ue);
    result_t r;

    run(in, len, 1, 1, &r);
    assert_usage(&r, 9, 3, 12);
    ck_assert_int_eq(r.chars, AZURE_CHARS);
    ck_assert_int_eq(r.done, 1);
    ck_assert_int_eq(r.events, AZURE_N);
    assert_stripped(&r, in, len, us, ue);
}
END_TEST

START_TEST(azure_stream_no_strip)
{
    apr_size_t len, us, ue;
    const char *in = build(azure, AZURE_N, STYLES[_i], AZURE_USAGE, &len, &us, &ue);
    result_t r;

    run(in, len, 1, 0, &r);
    assert_usage(&r, 9, 3, 12);
    ck_assert_int_eq(r.chars, AZURE_CHARS);
    ck_assert_int_eq(r.done, 1);
    ck_assert_int_eq(r.events, AZURE_N);
    ck_assert_uint_eq(r.out_len, 0);
}
END_TEST

START_TEST(comments_fields_and_multiline_data)
{
    apr_size_t len, us, ue;
    const char *in = build(fancy, FANCY_N, STYLES[_i], FANCY_USAGE, &len, &us, &ue);
    result_t r;

    run(in, len, 1, 1, &r);
    assert_usage(&r, 20, 2, 22);
    ck_assert_int_eq(r.chars, 4);
    ck_assert_int_eq(r.done, 1);
    ck_assert_int_eq(r.events, 4);
    assert_stripped(&r, in, len, us, ue);
    run(in, len, 1, 0, &r);
    assert_usage(&r, 20, 2, 22);
    ck_assert_int_eq(r.chars, 4);
}
END_TEST

START_TEST(stream_without_usage)
{
    event_t evs[AZURE_N - 1];
    apr_size_t len, us = 0, ue = 0;
    const char *in;
    result_t r;

    memcpy(evs, azure, sizeof(event_t) * AZURE_USAGE);
    evs[AZURE_USAGE] = azure[AZURE_USAGE + 1];
    in = build(evs, AZURE_N - 1, LF, -1, &len, &us, &ue);
    run(in, len, 1, 1, &r);
    ck_assert_int_eq(r.u.found, 0);
    ck_assert_int_eq(r.chars, AZURE_CHARS);
    ck_assert_int_eq(r.done, 1);
    ck_assert_uint_eq(r.out_len, len);
    ck_assert(memcmp(r.out, in, len) == 0);
    run(in, len, 1, 0, &r);
    ck_assert_int_eq(r.u.found, 0);
    ck_assert_int_eq(r.chars, AZURE_CHARS);
}
END_TEST

/* Deltas without usage are scanned, not parsed: escapes, UTF-8, spaces around ':',
 * logprobs' "content" arrays and "content" inside text must count as json-c would. */
START_TEST(delta_text_scan_counts_like_the_parser)
{
    static const char *const ev[] = {
        "data: {\"choices\":[{\"delta\":{\"content\":\"a\\\"b\\\\c\\u00e9\"},\"index\":0}]}\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\" : \"\xc3\xa9t\xc3\xa9\"},"
        "\"logprobs\":{\"content\":[{\"token\":\"x\"}]}}]}\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"say \\\"content\\\":\\\"x\\\"\"}}]}\n\n",
        "data: {\"choices\":[{\"text\":\"ok\",\"index\":0}]}\n\n",
        "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":null}}]}\n\n",
        /* A string that ends in an escaped backslash: the quote after it closes it,
         * and the member after it is read. */
        "data: {\"choices\":[{\"delta\":{\"content\":\"x\\\\\"},\"text\":\"yz\","
        "\"index\":0,\"x\":\"\\\\\\\\\\\"text\\\":\"}]}\n\n",
        /* Another member's string that ends in an escaped quote, or in an escaped
         * backslash: where it ends decides whether "content" after it is a name. */
        "data: {\"choices\":[{\"delta\":{\"role\":\"a\\\"\",\"content\":\"yz\"}}]}\n\n",
        "data: {\"choices\":[{\"delta\":{\"role\":\"a\\\\\",\"content\":\"uv\"}}]}\n\n",
        "data: [DONE]\n\n",
    };
    /* a"b\cé = 6; été = 3; say "content":"x" = 17; ok = 2; null = 0; x\ and yz = 4;
     * yz = 2; uv = 2 */
    const char *in = apr_pstrcat(pool, ev[0], ev[1], ev[2], ev[3], ev[4], ev[5], ev[6], ev[7],
                                 ev[8], NULL);
    result_t r;

    run(in, strlen(in), 1, 0, &r);
    ck_assert_int_eq(r.u.found, 0);
    ck_assert_int_eq(r.chars, 6 + 3 + 17 + 2 + 4 + 2 + 2);
    ck_assert_int_eq(r.events, 9);
}
END_TEST

/* With include_usage every chunk but the last says "usage": null: those are scanned
 * (their text counts, before or after the null), and only a real usage object is
 * parsed, wherever it stands. */
START_TEST(null_usage_chunks_are_scanned)
{
    static const char *const ev[] = {
        "data: {\"usage\":null,\"choices\":[{\"delta\":{\"content\":\"abc\"}}]}\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"de\"}}],\"usage\" :  null}\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"usage\"}}],\"usage\":null}\n\n",
        "data: {\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3},\"choices\":[]}\n\n",
        "data: [DONE]\n\n",
    };
    const char *in = apr_pstrcat(pool, ev[0], ev[1], ev[2], NULL);
    result_t r;

    run(in, strlen(in), 1, 0, &r);
    ck_assert_int_eq(r.u.found, 0);
    ck_assert_int_eq(r.chars, 3 + 2 + 5);
    in = apr_pstrcat(pool, ev[0], ev[1], ev[2], ev[3], ev[4], NULL);
    run(in, strlen(in), 1, 1, &r);
    assert_usage(&r, 7, 3, 10);
    ck_assert_int_eq(r.chars, 3 + 2 + 5);
    /* Stripped: the usage-only chunk, and nothing else. */
    ck_assert_str_eq(apr_pstrmemdup(pool, r.out, r.out_len),
                     apr_pstrcat(pool, ev[0], ev[1], ev[2], ev[4], NULL));
}
END_TEST

START_TEST(done_detection)
{
    const char *no_done = "data: {\"choices\":[{\"delta\":{\"content\":\"x\"},\"index\":0}]}\n\n";
    const char *bare = "data:[DONE]\n\n";
    const char *spaced = "data: [DONE]\r\n\r\n";
    const char *quoted = "data: \"[DONE]\"\n\n";
    result_t r;

    run(no_done, strlen(no_done), 1, 0, &r);
    ck_assert_int_eq(r.done, 0);
    ck_assert_int_eq(r.chars, 1);
    run(bare, strlen(bare), 1, 0, &r);
    ck_assert_int_eq(r.done, 1);
    run(spaced, strlen(spaced), 1, 1, &r);
    ck_assert_int_eq(r.done, 1);
    ck_assert_uint_eq(r.out_len, strlen(spaced));
    run(quoted, strlen(quoted), 1, 0, &r);
    ck_assert_int_eq(r.done, 0);
    ck_assert_int_eq(r.events, 1);
    run("data: [DONE]]\n\n", 15, 1, 0, &r);
    ck_assert_int_eq(r.done, 0);
    /* Without its line break the stream was cut: [DONE] did not arrive. */
    run("data: [DONE]", 12, 1, 1, &r);
    ck_assert_int_eq(r.done, 0);
    ck_assert_uint_eq(r.out_len, 12);
    run("data: [DONE]\n", 13, 1, 1, &r);
    ck_assert_int_eq(r.done, 1);
    ck_assert_uint_eq(r.out_len, 13);
    run("data: [DONE]\ndata: x", 20, 1, 1, &r);     /* only complete lines count */
    ck_assert_int_eq(r.done, 1);
    ck_assert_uint_eq(r.out_len, 20);
}
END_TEST

START_TEST(data_lines_join_with_newline)
{
    /* "data" without a colon is a data line with an empty value; an event whose data
     * is empty is no event; lines join with LF, which here splits a number. */
    const char *in = "data\n\ndata:\n\ndata\ndata:\n\n"
                     "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1\n"
                     "data:2,\"completion_tokens\":3}}\n\n"
                     "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1\n"
                     "data:,\"completion_tokens\":3}}\n\n";
    result_t r;

    run(in, strlen(in), 1, 1, &r);
    ck_assert_int_eq(r.events, 3);
    assert_usage(&r, 1, 3, 4);
    ck_assert_uint_eq(r.out_len, strlen(in) - 78);
    ck_assert(memcmp(r.out, in, r.out_len) == 0);
}
END_TEST

START_TEST(two_choices_summed)
{
    const char *in =
        "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"index\":0},"
        "{\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"index\":1}]}\n\n"
        "data: {\"choices\":[{\"delta\":{\"content\":\"ab\"},\"index\":0},"
        "{\"delta\":{\"content\":\"cde\"},\"index\":1}]}\n\n"
        "data: {\"choices\":[{\"delta\":{\"content\":null},\"index\":1}]}\n\n"
        "data: {\"choices\":[{\"delta\":{\"content\":\"f\"},\"index\":1}]}\n\n"
        "data: [DONE]\n\n";
    result_t r;

    run(in, strlen(in), 1, 0, &r);
    ck_assert_int_eq(r.chars, 6);
    ck_assert_int_eq(r.u.found, 0);
    ck_assert_int_eq(r.events, 5);
}
END_TEST

START_TEST(legacy_completions_stream)
{
    static const event_t evs[] = {
        { { "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"choices\":[{\"text\":"
            "\"Hel\",\"index\":0,\"logprobs\":null,\"finish_reason\":null}],\"model\":"
            "\"gpt-35-turbo-instruct\"}", NULL } },
        { { "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"choices\":[{\"text\":"
            "\"lo\\n\",\"index\":0,\"logprobs\":null,\"finish_reason\":\"stop\"}],"
            "\"usage\":null}", NULL } },
        { { "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"choices\":[],"
            "\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":2}}", NULL } },
        { { "data: [DONE]", NULL } },
    };
    apr_size_t len, us, ue;
    const char *in = build(evs, 4, LF, 2, &len, &us, &ue);
    result_t r;

    run(in, len, 1, 1, &r);
    assert_usage(&r, 2, 2, 4);
    ck_assert_int_eq(r.chars, 6);
    ck_assert_int_eq(r.done, 1);
    assert_stripped(&r, in, len, us, ue);
}
END_TEST

START_TEST(usage_with_choices_is_counted_not_stripped)
{
    /* Only the chunk with "choices": [] is the one the proxy asked for. */
    const char *in = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"},\"index\":0}],"
                     "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}}\n\n"
                     "data: {\"choices\":[],\"usage\":null}\n\n"
                     "data: [DONE]\n\n";
    result_t r;

    run(in, strlen(in), 1, 1, &r);
    assert_usage(&r, 1, 1, 2);
    ck_assert_int_eq(r.chars, 2);
    ck_assert_uint_eq(r.out_len, strlen(in));
    ck_assert(memcmp(r.out, in, r.out_len) == 0);
}
END_TEST

START_TEST(stream_cut_mid_event)
{
    apr_size_t len, us, ue, cut;
    const char *in = build(azure, AZURE_N, CRLF, AZURE_USAGE, &len, &us, &ue);
    result_t r;

    /* Inside a content chunk: the partial chunk goes out unchanged. */
    cut = strstr(in, "Hello") - in;
    run(in, cut, 1, 1, &r);
    ck_assert_uint_eq(r.out_len, cut);
    ck_assert(memcmp(r.out, in, cut) == 0);
    ck_assert_int_eq(r.chars, 0);
    ck_assert_int_eq(r.events, 2);
    /* Inside the usage chunk's data line: nothing to parse, nothing stripped. */
    cut = us + 40;
    run(in, cut, 1, 1, &r);
    ck_assert_int_eq(r.u.found, 0);
    ck_assert_uint_eq(r.out_len, cut);
    ck_assert(memcmp(r.out, in, cut) == 0);
    ck_assert_int_eq(r.chars, AZURE_CHARS);
    /* After its data line but before the blank line: counted, still forwarded. */
    cut = ue - 2;
    run(in, cut, 1, 1, &r);
    assert_usage(&r, 9, 3, 12);
    ck_assert_uint_eq(r.out_len, cut);
    ck_assert(memcmp(r.out, in, cut) == 0);
    /* Between the blank line's CR and LF: the event is complete and stripped. */
    cut = ue - 1;
    run(in, cut, 1, 1, &r);
    assert_usage(&r, 9, 3, 12);
    assert_stripped(&r, in, cut, us, cut);
}
END_TEST

START_TEST(strip_holds_only_the_current_event)
{
    apr_size_t len, us, ue, i;
    const char *in = build(azure, AZURE_N, LF, AZURE_USAGE, &len, &us, &ue);
    aop_usage_parser_t *up = aop_usage_parser_create(pool, 1, 1);
    sink_t sink = { NULL, 0, 0, 0 };
    apr_size_t want;

    for (i = 0; i < len; i++) {
        ck_assert_int_eq(aop_usage_feed(up, in + i, 1, sink_emit, &sink), APR_SUCCESS);
        /* Forwarded so far: a prefix of the stripped stream ... */
        want = i + 1 <= us ? i + 1 : i + 1 <= ue ? us : i + 1 - (ue - us);
        ck_assert_uint_le(sink.len, want);
        ck_assert(sink.len == 0 || memcmp(sink.buf, in, sink.len < us ? sink.len : us) == 0);
        /* ... and all of it the moment an event ends. */
        if (i > 0 && in[i] == '\n' && in[i - 1] == '\n') {
            ck_assert_uint_eq(sink.len, want);
        }
    }
    ck_assert_int_eq(aop_usage_finish(up, sink_emit, &sink), APR_SUCCESS);
    ck_assert_uint_eq(sink.len, len - (ue - us));
    ck_assert(memcmp(sink.buf + us, in + ue, len - ue) == 0);
    free(sink.buf);
}
END_TEST

/* Azure's events come one whole data line each in one read: the parser reads them
 * where they lie.  A buffer of its own would live in the request's pool as long as
 * the stream, for every stream in progress: nothing more of the pool is used (its
 * next allocation follows the one just before), neither to strip nor to count. */
START_TEST(whole_events_are_read_in_place)
{
    apr_size_t len, us, ue, i, start = 0;
    const char *in = build(azure, AZURE_N, LF, AZURE_USAGE, &len, &us, &ue);
    aop_usage_parser_t *up = aop_usage_parser_create(pool, 1, _i);
    sink_t sink = { NULL, 0, 0, 0 };
    char *before, *after;
    aop_usage_t u;

    before = apr_palloc(pool, 1);
    for (i = 1; i < len; i++) {
        if (in[i] == '\n' && in[i - 1] == '\n') {
            ck_assert_int_eq(aop_usage_feed(up, in + start, i + 1 - start,
                                            _i ? sink_emit : NULL, &sink), APR_SUCCESS);
            start = i + 1;
        }
    }
    ck_assert_uint_eq(start, len);
    ck_assert_int_eq(aop_usage_finish(up, _i ? sink_emit : NULL, &sink), APR_SUCCESS);
    after = apr_palloc(pool, 1);
    ck_assert_ptr_eq(after, before + APR_ALIGN_DEFAULT(1));
    aop_usage_get(up, &u);
    ck_assert(u.found && aop_usage_saw_done(up));
    ck_assert_int_eq(aop_usage_content_chars(up), AZURE_CHARS);
    ck_assert_uint_eq(sink.len, _i ? len - (ue - us) : 0);
    free(sink.buf);
}
END_TEST

START_TEST(oversized_events_pass_through)
{
    apr_size_t pad = AOP_USAGE_MAX_EVENT + 1000, len, us, ue;
    char *x = memset(apr_pcalloc(pool, pad + 1), 'x', pad);
    event_t evs[5];
    const char *in;
    result_t r;

    /* A content chunk and a usage-only chunk, both too big to parse. */
    evs[0] = azure[2];
    evs[1].lines[0] = apr_pstrcat(pool, "data: {\"choices\":[{\"delta\":{\"content\":\"",
                                  x, "\"},\"index\":0}]}", NULL);
    evs[1].lines[1] = NULL;
    evs[2].lines[0] = apr_pstrcat(pool, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":"
                                  "50,\"completion_tokens\":50},\"pad\":\"", x, "\"}", NULL);
    evs[2].lines[1] = NULL;
    evs[3] = azure[AZURE_USAGE];
    evs[4] = azure[AZURE_N - 1];
    in = build(evs, 5, MIXED, 3, &len, &us, &ue);
    run(in, len, 1, 1, &r);
    assert_usage(&r, 9, 3, 12);
    ck_assert_int_eq(r.chars, 5);
    ck_assert_int_eq(r.events, 5);
    assert_stripped(&r, in, len, us, ue);
    run(in, len, 1, 0, &r);
    assert_usage(&r, 9, 3, 12);
    ck_assert_int_eq(r.chars, 5);
}
END_TEST

START_TEST(ten_megabyte_event_in_bounded_memory)
{
    apr_size_t len = BIG + 64, i;
    char *in = malloc(len + 1);
    result_t r;

    ck_assert_ptr_nonnull(in);
    strcpy(in, "data: {\"choices\":[{\"delta\":{\"content\":\"");
    for (i = strlen(in); i < len - 20; i++) {
        in[i] = 'y';
    }
    strcpy(in + i, "\"},\"index\":0}]}\n\n");
    len = strlen(in);
    /* Held and parsed up to 1 MiB each, in buffers grown by doubling. */
    feed_big(in, len, 1, 1, 5 * 1024 * 1024, &r);
    ck_assert_int_eq(r.events, 1);
    feed_big(in, len, 1, 0, 3 * 1024 * 1024, &r);
    ck_assert_int_eq(r.events, 1);
    ck_assert_int_eq(r.chars, 0);
    free(in);
}
END_TEST

static apr_status_t refuse(void *baton, const char *data, apr_size_t len)
{
    return APR_EGENERAL;
}

START_TEST(emit_errors_are_returned)
{
    aop_usage_parser_t *up = aop_usage_parser_create(pool, 1, 1);

    ck_assert_int_eq(aop_usage_feed(up, "data: {}\n\n", 10, refuse, NULL), APR_EGENERAL);
    up = aop_usage_parser_create(pool, 1, 1);
    ck_assert_int_eq(aop_usage_feed(up, "data: {}", 8, refuse, NULL), APR_SUCCESS);
    ck_assert_int_eq(aop_usage_finish(up, refuse, NULL), APR_EGENERAL);
}
END_TEST

/* ---- the Responses API ------------------------------------------------------------ */

START_TEST(responses_json_usage_and_id)
{
    const char *body = "{\"id\":\"resp_abc\",\"object\":\"response\",\"output\":[{\"id\":\"msg_1\","
                       "\"content\":[{\"text\":\"hi\"}]}],\"usage\":{\"input_tokens\":11,"
                       "\"input_tokens_details\":{\"cached_tokens\":3},\"output_tokens\":7,"
                       "\"output_tokens_details\":{\"reasoning_tokens\":2},\"total_tokens\":18}}";
    aop_usage_parser_t *up;
    result_t r;

    run_json(body, &r);
    assert_usage(&r, 11, 7, 18);
    /* The id only when asked for, the top-level one (not an output item's). */
    up = aop_usage_parser_create(pool, 0, 0);
    aop_usage_feed(up, body, strlen(body), NULL, NULL);
    ck_assert_ptr_null(aop_usage_id(up));
    up = aop_usage_parser_create(pool, 0, 0);
    aop_usage_want_id(up);
    aop_usage_feed(up, body, 9, NULL, NULL);
    aop_usage_feed(up, body + 9, strlen(body) - 9, NULL, NULL);
    ck_assert_str_eq(aop_usage_id(up), "resp_abc");
}
END_TEST

static const char responses_stream[] =
    "event: response.created\n"
    "data: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_s1\","
    "\"status\":\"in_progress\",\"usage\":null}}\n\n"
    "event: response.output_text.delta\n"
    "data: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,\"delta\":\"Hel\"}\n\n"
    "event: response.completed\n"
    "data: {\"type\": \"response.completed\",\"sequence_number\":2,\"response\":{\"id\":\"resp_s1\","
    "\"status\":\"completed\",\"usage\":{\"input_tokens\":5,\"output_tokens\":4,"
    "\"total_tokens\":9}}}\n\n";

START_TEST(responses_stream_usage_end_and_id)
{
    aop_usage_parser_t *up;
    apr_size_t i, len = sizeof(responses_stream) - 1;
    result_t r;

    run(responses_stream, len, 1, 0, &r);
    assert_usage(&r, 5, 4, 9);
    /* Its last event is the end: no [DONE] comes. */
    ck_assert_int_eq(r.done, 1);
    up = aop_usage_parser_create(pool, 1, 0);
    aop_usage_want_id(up);
    for (i = 0; i < len; i++) {
        aop_usage_feed(up, responses_stream + i, 1, NULL, NULL);
    }
    ck_assert_str_eq(aop_usage_id(up), "resp_s1");
    /* Cut before its end: not done. */
    run(responses_stream, 200, 1, 0, &r);
    ck_assert_int_eq(r.done, 0);
    ck_assert_int_eq(r.u.found, 0);
}
END_TEST

START_TEST(responses_incomplete_and_failed_end_streams)
{
    const char *ends[] = { "response.incomplete", "response.failed" };
    const char *look_alike = "data: {\"delta\":\"\\\"response.completed\\\"\"}\n\n";
    result_t r;
    int i;

    for (i = 0; i < 2; i++) {
        const char *s = apr_psprintf(pool, "data: {\"type\":\"%s\",\"response\":{\"usage\":"
                                     "{\"input_tokens\":2,\"output_tokens\":1}}}\n\n", ends[i]);

        run(s, strlen(s), 1, 0, &r);
        ck_assert_int_eq(r.done, 1);
        assert_usage(&r, 2, 1, 3);
    }
    /* A type that merely looks like one in a string is no end. */
    run(look_alike, strlen(look_alike), 1, 0, &r);
    ck_assert_int_eq(r.done, 0);
}
END_TEST

/* ---- the content filter ------------------------------------------------------------ */

/* Whether the parser says the content filter spoke in body, fed whole and one byte
 * at a time (a value cut anywhere must still be seen). */
static int filtered(const char *body, int sse)
{
    aop_usage_parser_t *whole = aop_usage_parser_create(pool, sse, 0);
    aop_usage_parser_t *bytes = aop_usage_parser_create(pool, sse, 0);
    aop_usage_parser_t *last = aop_usage_parser_create(pool, sse, 0);
    apr_size_t i, len = strlen(body);

    aop_usage_feed(whole, body, len, NULL, NULL);
    aop_usage_finish(whole, NULL, NULL);
    aop_usage_feed_whole(last, body, len, NULL, NULL);
    aop_usage_finish(last, NULL, NULL);
    ck_assert_int_eq(aop_usage_content_filter(whole), aop_usage_content_filter(last));
    for (i = 0; i < len; i++) {
        aop_usage_feed(bytes, body + i, 1, NULL, NULL);
    }
    aop_usage_finish(bytes, NULL, NULL);
    ck_assert_int_eq(aop_usage_content_filter(whole), aop_usage_content_filter(bytes));
    return aop_usage_content_filter(whole);
}

START_TEST(content_filter_is_seen)
{
    /* Azure's 400s: the prompt filter (code + innererror) and DALL-E's policy code. */
    ck_assert(filtered("{\"error\":{\"message\":\"The response was filtered\",\"type\":null,"
                       "\"param\":\"prompt\",\"code\":\"content_filter\",\"status\":400,"
                       "\"innererror\":{\"code\":\"ResponsibleAIPolicyViolation\"}}}", 0));
    ck_assert(filtered("{\"error\":{\"code\": \"content_policy_violation\"}}", 0));
    ck_assert(filtered("{\"error\":{\"code\":\"x\",\"innererror\":{\"code\" : "
                       "\"ResponsibleAIPolicyViolation\"}}}", 0));
    /* A chat answer cut by the filter, JSON and streamed; a Responses answer. */
    ck_assert(filtered("{\"id\":\"c\",\"choices\":[{\"index\":0,\"finish_reason\":"
                       "\"content_filter\",\"message\":{\"content\":\"\"}}]}", 0));
    ck_assert(filtered("data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"content_filter\"}]}"
                       "\n\ndata: [DONE]\n\n", 1));
    ck_assert(filtered("{\"id\":\"r\",\"status\":\"incomplete\",\"incomplete_details\":"
                       "{\"reason\":\"content_filter\"}}", 0));
    /* The Responses API's last event: its reason after its usage. */
    ck_assert(filtered("data: {\"type\":\"response.incomplete\",\"response\":{\"usage\":"
                       "{\"input_tokens\":2},\"incomplete_details\":{\"reason\":"
                       "\"content_filter\"}}}\n\n", 1));
}
END_TEST

START_TEST(content_filter_look_alikes_are_not)
{
    /* Answers that merely say the words: as text, as a key, in an escaped string,
     * under another key, with more after them. */
    const char *bodies[] = {
        "{\"choices\":[{\"finish_reason\":\"stop\",\"message\":{\"content\":\"content_filter\"}}]}",
        "{\"choices\":[{\"finish_reason\":\"stop\",\"content_filter_results\":{\"hate\":"
        "{\"filtered\":false}}}]}",
        "{\"choices\":[{\"message\":{\"content\":\"x \\\"code\\\":\\\"content_filter\\\"\"},"
        "\"finish_reason\":\"stop\"}]}",
        "{\"error\":{\"code\":\"context_length_exceeded\",\"message\":\"content_filter\"}}",
        "{\"error\":{\"code\":\"content_filtered\"}}",
        "{\"a\":[\"code\"],\"b\":\"content_filter\"}",
        NULL
    };
    const char *events[] = {
        "data: {\"choices\":[{\"delta\":{\"content\":\"content_filter\"}}]}\n\n",
        "data: {\"type\":\"response.output_text.delta\",\"delta\":\"content_filter\"}\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"\\\"code\\\":\\\"content_filter\\\"\"}}]}\n\n",
        NULL
    };
    int i;

    for (i = 0; bodies[i]; i++) {
        ck_assert_msg(!filtered(bodies[i], 0), "%s", bodies[i]);
    }
    for (i = 0; events[i]; i++) {
        ck_assert_msg(!filtered(events[i], 1), "%s", events[i]);
    }
}
END_TEST

/* ---- the text kept for a resume -------------------------------------------------------- */

static const char *kept(const char *stream, apr_size_t max)
{
    aop_usage_parser_t *up = aop_usage_parser_create(pool, 1, 1);
    apr_size_t len, i, n = strlen(stream);
    sink_t sink = { NULL, 0, 0, 0 };
    const char *t;

    aop_usage_keep_text(up, max);
    aop_usage_keep_usage_chunk(up);
    for (i = 0; i < n; i++) {              /* cut anywhere */
        aop_usage_feed(up, stream + i, 1, sink_emit, &sink);
    }
    free(sink.buf);
    t = aop_usage_text(up, &len);
    return t ? apr_pstrmemdup(pool, t, len) : NULL;
}

START_TEST(resume_text_is_the_choice_text)
{
    const char *head = "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
                       "\"content\":\"\"},\"finish_reason\":null}]}\n\n"
                       "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"He said \\\"\"},"
                       "\"finish_reason\":null}]}\n\n"
                       "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\\u00e9!\"}}]}\n\n";

    /* Decoded, complete events only: the one being read is not the client's yet. */
    ck_assert_str_eq(kept(head, 1024), "He said \"\xc3\xa9!");
    ck_assert_str_eq(kept(apr_pstrcat(pool, head, "data: {\"choices\":[{\"index\":0,"
                                                  "\"delta\":{\"content\":\"cut", NULL), 1024),
                     "He said \"\xc3\xa9!");
    /* Not resumable: over the bound, a second choice, a tool call, a finish. */
    ck_assert_ptr_null(kept(head, 8));
    ck_assert_ptr_null(kept(apr_pstrcat(pool, head, "data: {\"choices\":[{\"index\":1,"
                                                    "\"delta\":{\"content\":\"x\"}}]}\n\n", NULL),
                            1024));
    ck_assert_ptr_null(kept(apr_pstrcat(pool, head, "data: {\"choices\":[{\"index\":0,"
                                                    "\"delta\":{\"tool_calls\":[{}]}}]}\n\n", NULL),
                            1024));
    ck_assert_ptr_null(kept(apr_pstrcat(pool, head, "data: {\"choices\":[{\"index\":0,"
                                                    "\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
                                        NULL), 1024));
}
END_TEST

/* ---- the usage chunk read without a tree, against the tree ----------------------- */

/* A stream fed whole in strip mode, every event through the tree and as it is read
 * otherwise: the same usage, events and [DONE], and the same bytes forwarded.  Not
 * the text's count: the tree also takes the events without usage, whose text the
 * scan alone counts otherwise (and a count is only used when no usage was found). */
static void chunk_agrees(const char *body, apr_size_t len)
{
    result_t a, b;

    want_tree = 1;
    run_mode(body, len, 1, 1, WHOLE, &a);
    want_tree = 0;
    run_mode(body, len, 1, 1, WHOLE, &b);
    ck_assert_msg(memcmp(&a.u, &b.u, sizeof(a.u)) == 0,
                  "usage differs for %.*s: tree %d %lld/%lld/%lld, scan %d %lld/%lld/%lld",
                  (int)len, body, a.u.found, (long long)a.u.prompt_tokens,
                  (long long)a.u.completion_tokens, (long long)a.u.total_tokens, b.u.found,
                  (long long)b.u.prompt_tokens, (long long)b.u.completion_tokens,
                  (long long)b.u.total_tokens);
    ck_assert_msg(a.out_len == b.out_len && memcmp(a.out, b.out, a.out_len) == 0,
                  "stripped output differs for %.*s", (int)len, body);
    ck_assert_int_eq(a.events, b.events);
    ck_assert_int_eq(a.done, b.done);
}

START_TEST(usage_chunk_agrees_with_the_tree)
{
    static const char *const chunks[] = {
        "{\"id\":\"chatcmpl-x\",\"object\":\"chat.completion.chunk\",\"created\":1,"
        "\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":14,"
        "\"completion_tokens\":5,\"total_tokens\":19}}",
        "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}],\"usage\":"
        "{\"prompt_tokens\":1,\"completion_tokens\":2}}",
        "{\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4,"
        "\"total_tokens\":7,\"prompt_tokens_details\":{\"cached_tokens\":0,\"a\":[1,[2]]},"
        "\"completion_tokens_details\":{\"reasoning_tokens\":0}}}",
        "{\"usage\":{\"prompt_tokens\":1},\"choices\":[],\"usage\":{\"prompt_tokens\":9}}",
        "{\"usage\":{\"prompt_tokens\":1},\"usage\":null,\"choices\":[]}",
        "{\"choices\":[],\"choices\":[1],\"usage\":{\"prompt_tokens\":2}}",
        "{\"choices\":{},\"usage\":{\"prompt_tokens\":2}}",
        "{\"us\\u0061ge\":{\"prompt_tokens\":5},\"choices\":[]}",
        "{\"usage\":{\"prompt\\u005ftokens\":5,\"completion_tokens\":1},\"choices\":[]}",
        "{\"x\":{\"usage\":{\"prompt_tokens\":5}},\"choices\":[]}",
        "{\"usage\":{\"prompt_tokens\":1.5,\"completion_tokens\":-2,\"total_tokens\":1e3},"
        "\"choices\":[]}",
        "{\"usage\":{\"prompt_tokens\":99999999999999999999999,\"completion_tokens\":-0},"
        "\"choices\":[]}",
        "{\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"usage\":"
        "{\"input_tokens\":2,\"output_tokens\":3}}}",
        " { \"choices\" : [ ] , \"usage\" : { \"prompt_tokens\" : 4 } } ",
        "{\"choices\":[],\"usage\":{\"prompt_tokens\":4}} x",
        "{\"choices\":[],\"usage\":{\"prompt_tokens\":4},}",
        "{\"choices\":[],\"usage\":{\"input_tokens\":6,\"output_tokens\":2}}",
        "{\"choices\":[\"a\\\"b\"],\"usage\":{\"prompt_tokens\":4,\"x\":\"\\ud83d\\ude00\"}}",
        "{\"usage\":{},\"choices\":[]}",
        "{\"usage\":7,\"choices\":[]}",
        NULL
    };
    static const char subst[] = { '"', '\\', '{', '}', '[', ']', ',', ':', ' ', '1', 'n',
                                  '\n', 0x01 };
    char body[1024], deep[512];
    apr_size_t n, i, k;
    int c, depth;

    for (c = 0; chunks[c]; c++) {
        n = (apr_size_t)apr_snprintf(body, sizeof(body), "data: %s\n\ndata: [DONE]\n\n",
                                     chunks[c]);
        /* Whole, cut at every byte, and with each byte changed. */
        for (i = 0; i <= n; i++) {
            chunk_agrees(body, i);
        }
        for (i = 6; i < n; i++) {
            char was = body[i];

            for (k = 0; k < sizeof(subst); k++) {
                body[i] = subst[k];
                chunk_agrees(body, n);
            }
            body[i] = was;
        }
    }
    /* The nesting bound, counted from the event's top, about the usage object. */
    for (depth = 60; depth <= 66; depth++) {
        n = (apr_size_t)apr_snprintf(deep, sizeof(deep), "data: {\"choices\":[],\"usage\":"
                                     "{\"prompt_tokens\":4,\"x\":");
        for (i = 0; i < (apr_size_t)depth; i++) {
            deep[n++] = '[';
        }
        for (i = 0; i < (apr_size_t)depth; i++) {
            deep[n++] = ']';
        }
        n += (apr_size_t)apr_snprintf(deep + n, sizeof(deep) - n, "}}\n\n");
        chunk_agrees(deep, n);
    }
}
END_TEST

/* The common chunks are read without the tree: a scan that left every event to the
 * tree would pass the comparison above. */
START_TEST(usage_chunk_is_read_without_the_tree)
{
    const char *s = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,"
                    "\"completion_tokens\":2}}\n\ndata: [DONE]\n\n";
    result_t r;

    run_mode(s, strlen(s), 1, 1, WHOLE, &r);
    assert_usage(&r, 1, 2, 3);
    ck_assert_str_eq(apr_pstrmemdup(pool, r.out, r.out_len), "data: [DONE]\n\n");
    ck_assert_int_eq(r.tree_parses, 0);
    /* The count counts: the same chunk sent to the tree. */
    want_tree = 1;
    run_mode(s, strlen(s), 1, 1, WHOLE, &r);
    want_tree = 0;
    assert_usage(&r, 1, 2, 3);
    ck_assert_int_eq(r.tree_parses, 1);
}
END_TEST

START_TEST(keep_usage_chunk_drops_nothing)
{
    const char *s = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,"
                    "\"completion_tokens\":2}}\n\ndata: [DONE]\n\n";
    aop_usage_parser_t *up = aop_usage_parser_create(pool, 1, 1);
    sink_t sink = { NULL, 0, 0, 0 };

    aop_usage_keep_usage_chunk(up);
    aop_usage_feed(up, s, strlen(s), sink_emit, &sink);
    aop_usage_finish(up, sink_emit, &sink);
    ck_assert_uint_eq(sink.len, strlen(s));
    ck_assert(memcmp(sink.buf, s, sink.len) == 0);
    free(sink.buf);
}
END_TEST

Suite *aop_usage_suite(void)
{
    Suite *s = suite_create("aop_usage");
    TCase *tc = tcase_create("usage");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, chat_usage_at_end);
    tcase_add_test(tc, responses_json_usage_and_id);
    tcase_add_test(tc, responses_stream_usage_end_and_id);
    tcase_add_test(tc, responses_incomplete_and_failed_end_streams);
    tcase_add_test(tc, usage_at_start_and_spaced);
    tcase_add_test(tc, usage_found_from_the_end_agrees_with_the_scan);
    tcase_add_test(tc, filter_words_at_every_offset_agree_with_the_scan);
    tcase_add_test(tc, usage_object_nesting_agrees_with_the_tree);
    tcase_add_test(tc, event_stream_type_in_any_case);
    tcase_add_test(tc, text_completion_and_embeddings);
    tcase_add_test(tc, total_computed_when_missing);
    tcase_add_test(tc, huge_counts_are_bounded);
    tcase_add_test(tc, absent_or_null_usage);
    tcase_add_test(tc, usage_in_strings_and_nested_objects_ignored);
    tcase_add_test(tc, escapes_in_strings);
    tcase_add_test(tc, oversized_usage_value_ignored);
    tcase_add_test(tc, json_strip_mode_forwards_everything);
    tcase_add_test(tc, ten_megabyte_json_in_constant_memory);
    tcase_add_loop_test(tc, azure_stream_strip, 0, 4);
    tcase_add_loop_test(tc, azure_stream_no_strip, 0, 4);
    tcase_add_loop_test(tc, comments_fields_and_multiline_data, 0, 4);
    tcase_add_test(tc, stream_without_usage);
    tcase_add_test(tc, delta_text_scan_counts_like_the_parser);
    tcase_add_test(tc, null_usage_chunks_are_scanned);
    tcase_add_test(tc, done_detection);
    tcase_add_test(tc, data_lines_join_with_newline);
    tcase_add_test(tc, two_choices_summed);
    tcase_add_test(tc, legacy_completions_stream);
    tcase_add_test(tc, usage_with_choices_is_counted_not_stripped);
    tcase_add_test(tc, stream_cut_mid_event);
    tcase_add_test(tc, strip_holds_only_the_current_event);
    tcase_add_loop_test(tc, whole_events_are_read_in_place, 0, 2);
    tcase_add_test(tc, oversized_events_pass_through);
    tcase_add_test(tc, ten_megabyte_event_in_bounded_memory);
    tcase_add_test(tc, emit_errors_are_returned);
    tcase_add_test(tc, content_filter_is_seen);
    tcase_add_test(tc, resume_text_is_the_choice_text);
    tcase_add_test(tc, keep_usage_chunk_drops_nothing);
    tcase_add_test(tc, content_filter_look_alikes_are_not);
    tcase_add_test(tc, usage_chunk_agrees_with_the_tree);
    tcase_add_test(tc, usage_chunk_is_read_without_the_tree);
    suite_add_tcase(s, tc);
    return s;
}
