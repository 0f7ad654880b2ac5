/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* What the proxy needs from an OpenAI request body: the model, whether the answer is
 * streamed, and a token estimate to reserve against an instance's budget. */
#ifndef AOP_REQUEST_H
#define AOP_REQUEST_H

#include <apr_pools.h>

#include "aop_path.h"

/* Completion tokens reserved when a request sets no max_tokens/max_completion_tokens. */
#define AOP_DEFAULT_COMPLETION_ESTIMATE 1024
/* Characters per token assumed when estimating prompt tokens from text. */
#define AOP_CHARS_PER_TOKEN 4
/* Tokens OpenAI counts around each chat message, and to prime the reply. */
#define AOP_TOKENS_PER_MESSAGE 4
#define AOP_TOKENS_PER_REPLY 3
/* An image part: what a 1024x1024 image costs at high detail. */
#define AOP_TOKENS_PER_IMAGE 765
/* The largest max_tokens / max_completion_tokens accepted (2^31 - 1, far above any
 * model's context): a larger value is answered 400 before it meets any arithmetic. */
#define AOP_MAX_TOKENS_LIMIT 2147483647
/* The most choices (n) one request may ask for, OpenAI's own limit. */
#define AOP_MAX_N 128

/* A change to the body: [from, to) of it is replaced by text (from == to: inserted).
 * Sent as the body's two parts around the text, so the body is never copied. */
typedef struct aop_splice_t {
    apr_size_t from, to;
    const char *text;           /* static; NULL: no splice planned */
    apr_size_t text_len;
} aop_splice_t;

typedef struct aop_request_info_t {
    const char *model;
    int stream;                 /* "stream": true */
    int include_usage;          /* the client itself asked for stream_options.include_usage */
    int has_stream_options;     /* the body has a stream_options member at all */
    int n;                      /* choices asked for (default 1) */
    apr_int64_t max_tokens;     /* max_tokens or max_completion_tokens, 0 = unset */
    apr_int64_t prompt_estimate;
    apr_int64_t estimate;       /* prompt + completion reservation */
    aop_splice_t usage_splice;  /* what sets stream_options.include_usage = true */
    /* Where the body's model value is (its quotes included), for a backend that takes
     * the deployment there (aop_request_model_splice); from == to: no model, and a
     * member would go right after the opening brace (body_empty: with no comma). */
    apr_size_t model_from, model_to;
    int body_empty;
    /* Chat: where the messages array's closing ']' is (0: no array), and how many
     * messages it holds; a resumed stream's prefill goes there (aop_request_prefill). */
    apr_size_t messages_end;
    apr_size_t messages_count;
    /* The Responses API: what names a stored response or conversation (r->pool), and
     * the output budget. */
    const char *previous_response_id;
    const char *conversation;   /* "conversation": "conv_..." or {"id": "conv_..."} */
    int background;
} aop_request_info_t;

/* Why a body was refused: the OpenAI error fields for the answer (status 400). */
typedef struct aop_request_error_t {
    const char *message;
    const char *param;          /* NULL when not about one field */
    const char *code;           /* NULL or e.g. "invalid_type" */
} aop_request_error_t;

/* Parses body; returns 0 and fills info, or -1 and fills err.  No string of the body is
 * copied but the model (into p), which outlives body: everything else in info is
 * numbers and offsets into body.  Refused (400):
 * malformed JSON, a body that is not an object, a missing or empty model, a model
 * with a NUL character, a top-level key the gateway reads given twice (model,
 * stream, stream_options and its include_usage, n, max_tokens,
 * max_completion_tokens, messages, prompt, input, tools: the gateway and Azure could
 * each take another one), wrong types, max_tokens above AOP_MAX_TOKENS_LIMIT and n
 * above AOP_MAX_N. */
int aop_request_parse(apr_pool_t *p, aop_op_e op, const char *body, apr_size_t len,
                      aop_request_info_t *info, aop_request_error_t *err);

/* The same for a call whose path names the model (/openai/deployments/{name}/...):
 * path_model is the model, and the body's own model, if any, is not read (Azure
 * ignores it there too); its place is still noted for a splice. */
int aop_request_parse_for(apr_pool_t *p, aop_op_e op, const char *path_model,
                          const char *body, apr_size_t len, aop_request_info_t *info,
                          aop_request_error_t *err);

/* The splice that makes the body's model the deployment dep ([A-Za-z0-9._-]: nothing
 * to escape), in p; sp->text NULL when the body says exactly that already. */
void aop_request_model_splice(apr_pool_t *p, const char *body,
                              const aop_request_info_t *info, const char *dep,
                              aop_splice_t *sp);

/* The splice that appends {"role": "assistant", "content": text} to the messages: a
 * resumed stream's prefill (the text the client already has).  text is UTF-8 of len
 * bytes, JSON-escaped here.  Returns -1 (sp untouched) when the body has no messages
 * array. */
int aop_request_prefill(apr_pool_t *p, const aop_request_info_t *info, const char *text,
                        apr_size_t len, aop_splice_t *sp);

/* The body to send upstream for a stream whose client did not ask for usage: the
 * same JSON with stream_options.include_usage = true, so that Azure reports the
 * tokens of the stream.  The gateway sends info->usage_splice as buckets (no copy);
 * this applies it to a copy in p, for tests and the fuzz target. */
int aop_request_with_usage(apr_pool_t *p, const char *body, apr_size_t len,
                           const aop_request_info_t *info, const char **out,
                           apr_size_t *out_len);

#endif
