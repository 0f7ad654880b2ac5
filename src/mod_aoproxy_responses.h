/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The Responses API's stored responses: a response lives on the Azure resource that
 * made it, so every call that names one (previous_response_id, conversation, or
 * /responses/{id}...) must reach that instance.  The response-affinity table
 * (mod_aoproxy_affinity.h) remembers which one made it; an id it does not know is
 * looked for among the instances, each asked in turn. */
#ifndef MOD_AOPROXY_RESPONSES_H
#define MOD_AOPROXY_RESPONSES_H

#include <httpd.h>

#include "mod_aoproxy_ctx.h"

/* A local error answer the caller makes (fixups). */
typedef struct aop_responses_error_t {
    int status;
    const char *message;
    const char *param;
    const char *code;
} aop_responses_error_t;

/* fixups, once the model (POST) or the path's id is known: sets ctx->stored_id and
 * the candidates: the one instance that holds it, or those to ask in turn.  Returns
 * 0, or -1 with err filled (that instance was removed, or does not serve the model). */
int aop_responses_route(request_rec *r, aop_req_t *ctx, aop_responses_error_t *err);

/* The pinned instance could not be picked (status 429 or 503 from the pick): what to
 * tell the client, naming the response and the instance. */
const char *aop_responses_unavailable(request_rec *r, const aop_req_t *ctx, int status);

/* An attempt's answer was a success (2xx) with id (NULL: none seen): remember where
 * the new response, the conversation, or the looked-up one lives; forget a deleted
 * one. */
void aop_responses_answered(request_rec *r, aop_req_t *ctx, const char *id);

/* An attempt's "not here" (404 for a by-id call, 400 while looking for the previous
 * response): the request moves on without holding it against the instance. */
int aop_responses_not_here(const aop_req_t *ctx, int status);

#endif
