/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* What the request body's two readers share (aop_request.c, aop_request_scan.c): the
 * top-level keys the gateway reads, and the index of their values that the checks
 * and the estimate work on, whichever reader made it.  Internal to those two files
 * and their tests. */
#ifndef AOP_REQUEST_TOP_H
#define AOP_REQUEST_TOP_H

#include "aop_jtree.h"
#include "aop_request.h"

/* Each must be given at most once: the gateway and Azure could otherwise act on
 * different values (aop_request.c, index_top). */
typedef enum {
    K_MODEL, K_STREAM, K_STREAM_OPTIONS, K_N, K_MAX_TOKENS, K_MAX_COMPLETION_TOKENS,
    K_MESSAGES, K_PROMPT, K_INPUT, K_TOOLS, K_INSTRUCTIONS, K_MAX_OUTPUT_TOKENS,
    K_PREVIOUS_RESPONSE_ID, K_CONVERSATION, K_BACKGROUND, K_COUNT
} aop_read_key_e;

/* The read keys' values in the body's top-level object, NULL where absent. */
typedef struct {
    const aop_jnode_t *at[K_COUNT];
    /* The scanner sums the messages' tokens as it reads them, and gives their array a
     * node without children: then messages_counted is 1. */
    int messages_counted;
    apr_int64_t messages_tokens;
} aop_top_t;

/* What the scanner gives: the nodes the index points to (the top-level object, each
 * read key's value, stream_options' include_usage member) and the index.  Only what
 * aop_request.c reads of a node is set; the messages' node has no children (their
 * tokens are summed in the index instead). */
typedef struct {
    aop_jnode_t root, value[K_COUNT], include_usage;
    aop_top_t top;
} aop_request_scan_t;

/* The index in aop_read_key_e of the member name [name, name + len), or -1. */
int aop_request_key_index(const char *name, apr_size_t len);

/* Key k's name (NULL outside aop_read_key_e): for the tests of the index above. */
const char *aop_request_key_name(int k);

/* Reads a chat-shaped body (a top-level object with a "messages" array whose items'
 * content is text) in one pass, building no tree: 0 and sc filled as aop_jtree would
 * have filled the index, or -1 to leave the body to the tree (anything else, and
 * every body that is not valid JSON, so that its error is the tree's). */
int aop_request_scan(const char *body, apr_size_t len, aop_request_scan_t *sc);

/* Tokens for chars characters of text (a reservation's estimate, not a count). */
static inline apr_int64_t aop_text_tokens(apr_size_t chars)
{
    return (apr_int64_t)((chars + AOP_CHARS_PER_TOKEN - 1) / AOP_CHARS_PER_TOKEN);
}

/* aop_request_parse_for, with the scanner (scan 1, where it applies) or with the tree
 * alone (scan 0): the tests compare the two. */
int aop_request_parse_with(apr_pool_t *p, aop_op_e op, const char *path_model,
                           const char *body, apr_size_t len, int scan,
                           aop_request_info_t *info, aop_request_error_t *err);

#endif
