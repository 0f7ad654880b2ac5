/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Token usage learnt from an Azure OpenAI response while it streams through the
 * output filter: the body arrives in pieces cut at any byte and must be forwarded
 * without waiting for the end, so the parser works incrementally in bounded memory.
 *
 * Two formats: one JSON document (chat.completion, text_completion, embeddings),
 * whose top-level "usage" object is captured by a small scanner that never builds
 * the document; and server-sent events (stream: true), where each "data:" payload is
 * a JSON chunk, the usage arrives in a chunk with "choices": [] (when the request had
 * stream_options.include_usage), and the generated text is counted so that the
 * completion can be estimated when no usage arrives.
 *
 * Strip mode (server-sent events only) removes that usage-only chunk from what the
 * client receives, when the proxy added include_usage and the client did not ask.
 * The parser then holds back the bytes of the event it is still reading, and no more:
 * an event is forwarded as soon as its terminating blank line arrives. */
#ifndef AOP_USAGE_H
#define AOP_USAGE_H

#include <apr_pools.h>

/* The longest "usage" value of a JSON body that is captured; a longer one is ignored. */
#define AOP_USAGE_MAX_VALUE (8 * 1024)
/* The largest event held back in strip mode, and the largest data payload parsed;
 * a larger event is forwarded unchanged and not parsed. */
#define AOP_USAGE_MAX_EVENT (1024 * 1024)
/* The longest id kept (aop_usage_id). */
#define AOP_USAGE_MAX_ID 256

/* The largest token count taken from a backend's usage (2^40): more than any answer
 * can hold (128 choices of 2^31 - 1 tokens each, and a prompt), small enough that
 * sums of such counts stay far from the 64-bit range.  A larger count, or a negative
 * one, is held at this bound or read as absent. */
#define AOP_USAGE_MAX_TOKENS (APR_INT64_C(1) << 40)

typedef struct aop_usage_t {
    apr_int64_t prompt_tokens, completion_tokens, total_tokens;
    int found;                  /* a usage object was seen */
} aop_usage_t;

typedef struct aop_usage_parser_t aop_usage_parser_t;

/* sse: parse as server-sent events, else as one JSON document.
 * strip: remove the usage-only chunk from the output.  Only events can be stripped;
 * a JSON body in strip mode is handed to emit unchanged, piece by piece. */
aop_usage_parser_t *aop_usage_parser_create(apr_pool_t *p, int sse, int strip);

/* Receives the bytes to forward, in order (strip mode only).  data may point into the
 * parser's own buffer or the piece being fed, and is valid only during the call.
 * An error status stops the feed and is returned from it. */
typedef apr_status_t aop_usage_emit_fn(void *baton, const char *data, apr_size_t len);

/* Feeds the next piece of the body.  In strip mode, emit receives what to forward now;
 * otherwise emit may be NULL and is never called (the caller forwards its own
 * buffers).  After an error from emit the parser must not be fed again. */
apr_status_t aop_usage_feed(aop_usage_parser_t *up, const char *data, apr_size_t len,
                            aop_usage_emit_fn *emit, void *baton);

/* Feeds the whole body at once, nothing fed before and nothing after (the caller saw
 * its end follow it): as aop_usage_feed, but a JSON answer whose usage is its last
 * member is not scanned through (aop_usage.c, whole_json).  The results are the same
 * for a valid JSON document (the fuzz target "sse" checks it); for a malformed one
 * that ends as such an answer does, the usage may be taken where the scan would
 * not have seen it at the top level. */
apr_status_t aop_usage_feed_whole(aop_usage_parser_t *up, const char *data, apr_size_t len,
                                  aop_usage_emit_fn *emit, void *baton);

/* End of body.  In strip mode, emits whatever partial event is still held, unchanged.
 * The complete data lines of such an unterminated event still count for the usage,
 * the characters and [DONE] (the upstream may have closed without the blank line). */
apr_status_t aop_usage_finish(aop_usage_parser_t *up, aop_usage_emit_fn *emit,
                              void *baton);

/* The last usage object seen; total_tokens is prompt + completion when it was absent. */
void aop_usage_get(const aop_usage_parser_t *up, aop_usage_t *out);
/* Characters (Unicode code points) of generated text in the events:
 * choices[].delta.content (chat) and choices[].text (completions), over all choices. */
apr_int64_t aop_usage_content_chars(const aop_usage_parser_t *up);
/* Keep the answer's id: the top-level "id" of a JSON body, the "response"'s "id" in
 * the Responses API's events; for aop_usage_id(). */
void aop_usage_want_id(aop_usage_parser_t *up);
/* That id once seen (up's pool), else NULL. */
const char *aop_usage_id(const aop_usage_parser_t *up);

/* The stream's end was seen: "data: [DONE]", or the Responses API's final event
 * (response.completed, response.incomplete or response.failed). */
int aop_usage_saw_done(const aop_usage_parser_t *up);
/* Events with non-empty data seen, [DONE] included. */
int aop_usage_events(const aop_usage_parser_t *up);
/* Events parsed into a tree: the usage chunk of a chat stream is read without one
 * (the unit tests check that it stays so). */
int aop_usage_tree_parses(const aop_usage_parser_t *up);

/* Strip mode that drops nothing: events are only held until whole, so that a stream
 * cut mid-event never gives the client part of one (a stream that may be resumed). */
void aop_usage_keep_usage_chunk(aop_usage_parser_t *up);

/* Keep the generated text of the stream's one choice (choices[0].delta.content,
 * decoded), up to max bytes: a resumed stream's prefill (mod_aoproxy_resume.c). */
void aop_usage_keep_text(aop_usage_parser_t *up, apr_size_t max);

/* That text (up's pool; *len its bytes), or NULL when the answer cannot be resumed
 * from it: more than max bytes, a second choice, a tool or function call, a
 * finish_reason already given (the answer was complete), or no text kept. */
const char *aop_usage_text(const aop_usage_parser_t *up, apr_size_t *len);

/* A stream cut mid-event that goes on elsewhere: the event being read (held, in strip
 * mode) is forgotten and never goes out. */
void aop_usage_drop_partial(aop_usage_parser_t *up);

/* Azure's content filter spoke in the answer: a member's value was the string
 * "content_filter" (a choice's finish_reason, the Responses API's
 * incomplete_details.reason, an error's code), "content_policy_violation" or
 * "ResponsibleAIPolicyViolation" (an error's code, its innererror's).  For a 2xx
 * answer that means it was cut short; for a 400, that the prompt was refused.
 * Any member at any depth counts, in a JSON body and in every event of a stream. */
int aop_usage_content_filter(const aop_usage_parser_t *up);

#endif
