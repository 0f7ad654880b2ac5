/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Fuzz target "sse": the usage parser of answers (aop_usage.c), as a differential
 * check.  A body arrives in pieces cut anywhere by the network, so the body fed
 * whole, fed in two pieces split at every position, and fed byte by byte must give
 * the same usage, the same text count, the same [DONE] and event count and, in strip
 * mode, forward exactly the same bytes; and a stream read with every event parsed
 * into a tree must give the same usage and forward the same bytes.
 *
 * Input: the first byte chooses the mode (bit 0: server-sent events, else one JSON
 * document; bit 1: strip mode), the rest is the body. */
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>

#include "aop_jtree.h"
#include "aop_usage.h"
#include "fuzz.h"

/* Byte-by-byte feeding costs a call per byte: only for bodies up to this size. */
#define BYTEWISE_MAX 8192

static apr_pool_t *root;

/* run() asks for an id, which sends every event to the tree (the chat stream's usage
 * chunk is otherwise read without one). */
static int via_tree;

typedef struct {
    char *buf;
    size_t len, cap;
} sink_t;

typedef struct {
    aop_usage_t u;
    apr_int64_t chars;
    int done, events, filtered;
    sink_t out;
} result_t;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    apr_initialize();
    apr_pool_create(&root, NULL);
    return 0;
}

static apr_status_t emit(void *baton, const char *data, apr_size_t len)
{
    sink_t *s = baton;

    FUZZ_CHECK(len > 0 && data != NULL);
    if (s->len + len > s->cap) {
        s->cap = (s->len + len) * 2;
        s->buf = realloc(s->buf, s->cap);
        FUZZ_CHECK(s->buf != NULL);
    }
    memcpy(s->buf + s->len, data, len);
    s->len += len;
    return APR_SUCCESS;
}

/* Feeds body in the pieces that cuts (ascending offsets, ncuts of them) make;
 * step > 0 instead feeds step bytes at a time; ncuts < 0 feeds it through
 * aop_usage_feed_whole. */
static void run(int sse, int strip, const char *body, size_t len, const size_t *cuts,
                int ncuts, size_t step, result_t *r)
{
    apr_pool_t *p;
    aop_usage_parser_t *up;
    size_t off = 0, next;
    int k = 0;

    memset(r, 0, sizeof(*r));
    apr_pool_create(&p, root);
    up = aop_usage_parser_create(p, sse, strip);
    if (via_tree) {
        aop_usage_want_id(up);
    }
    if (ncuts < 0) {
        FUZZ_CHECK(aop_usage_feed_whole(up, body, len, strip ? emit : NULL, &r->out)
                   == APR_SUCCESS);
        off = len;
    }
    while (off < len) {
        next = step ? off + step : k < ncuts ? cuts[k++] : len;
        next = next > len ? len : next;
        FUZZ_CHECK(aop_usage_feed(up, body + off, next - off, strip ? emit : NULL,
                                  &r->out) == APR_SUCCESS);
        /* An empty piece between two changes nothing. */
        FUZZ_CHECK(aop_usage_feed(up, body + next, 0, strip ? emit : NULL, &r->out)
                   == APR_SUCCESS);
        off = next;
    }
    FUZZ_CHECK(aop_usage_finish(up, strip ? emit : NULL, &r->out) == APR_SUCCESS);
    aop_usage_get(up, &r->u);
    r->chars = aop_usage_content_chars(up);
    r->done = aop_usage_saw_done(up);
    r->events = aop_usage_events(up);
    r->filtered = aop_usage_content_filter(up);
    apr_pool_destroy(p);
}

/* The same usage, [DONE], events and forwarded bytes. */
static void same_but_text(const result_t *a, const result_t *b)
{
    FUZZ_CHECK(a->u.found == b->u.found);
    FUZZ_CHECK(a->u.prompt_tokens == b->u.prompt_tokens);
    FUZZ_CHECK(a->u.completion_tokens == b->u.completion_tokens);
    FUZZ_CHECK(a->u.total_tokens == b->u.total_tokens);
    FUZZ_CHECK(a->done == b->done && a->events == b->events);
    FUZZ_CHECK(a->out.len == b->out.len);
    FUZZ_CHECK(a->out.len == 0 || memcmp(a->out.buf, b->out.buf, a->out.len) == 0);
}

/* ... and the same text count. */
static void same(const result_t *a, const result_t *b)
{
    same_but_text(a, b);
    FUZZ_CHECK(a->chars == b->chars);
}

/* What holds whatever the pieces: counts in range, and what strip mode forwards. */
static void sane(int sse, int strip, const char *body, size_t len, const result_t *r)
{
    FUZZ_CHECK(r->u.prompt_tokens >= 0 && r->u.prompt_tokens <= AOP_USAGE_MAX_TOKENS);
    FUZZ_CHECK(r->u.completion_tokens >= 0
               && r->u.completion_tokens <= AOP_USAGE_MAX_TOKENS);
    FUZZ_CHECK(r->u.total_tokens >= 0 && r->u.total_tokens <= 2 * AOP_USAGE_MAX_TOKENS);
    FUZZ_CHECK(r->chars >= 0 && r->events >= 0);
    if (!strip) {
        FUZZ_CHECK(r->out.len == 0);
    }
    else if (!sse) {
        /* A JSON body is never changed, only handed on. */
        FUZZ_CHECK(r->out.len == len && (len == 0 || memcmp(r->out.buf, body, len) == 0));
    }
    else {
        FUZZ_CHECK(r->out.len <= len);
    }
}

static int valid_json(const char *body, size_t len)
{
    apr_pool_t *p;
    int ok;

    apr_pool_create(&p, root);
    ok = aop_jtree_parse(p, body, len, NULL) != NULL;
    apr_pool_destroy(p);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data + 1;
    size_t len, k;
    result_t whole, part;
    int sse, strip;

    if (size < 1) {
        return 0;
    }
    sse = data[0] & 1;
    strip = (data[0] >> 1) & 1;
    len = size - 1;
    run(sse, strip, body, len, NULL, 0, 0, &whole);
    sane(sse, strip, body, len, &whole);
    for (k = 1; k < len; k++) {
        run(sse, strip, body, len, &k, 1, 0, &part);
        same(&whole, &part);
        free(part.out.buf);
    }
    if (len <= BYTEWISE_MAX) {
        run(sse, strip, body, len, NULL, 0, 1, &part);
        same(&whole, &part);
        free(part.out.buf);
    }
    /* Fed whole with its end: a JSON answer's usage may be found from the end.  What
     * holds for any body holds; for a valid JSON document (as Azure's answers are)
     * it gives exactly what the full scan gives. */
    run(sse, strip, body, len, NULL, -1, 0, &part);
    sane(sse, strip, body, len, &part);
    if (sse || valid_json(body, len)) {
        same(&whole, &part);
        FUZZ_CHECK(whole.filtered == part.filtered);
    }
    free(part.out.buf);
    /* Every event through the tree: the same usage, and in strip mode the same bytes
     * forwarded (the text count may differ: the tree counts none of an event it
     * refuses, the scan counts its text, and a count is only used without usage). */
    if (sse) {
        via_tree = 1;
        run(sse, strip, body, len, NULL, 0, 0, &part);
        via_tree = 0;
        same_but_text(&whole, &part);
        free(part.out.buf);
    }
    free(whole.out.buf);
    return 0;
}
