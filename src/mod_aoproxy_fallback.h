/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* When a model's instances cannot serve a request: its fallback models (YAML
 * `fallbacks:`), a wait for the one instance whose short Retry-After ends soon
 * (routing.max_retry_wait), and the headers that tell the client what served. */
#ifndef MOD_AOPROXY_FALLBACK_H
#define MOD_AOPROXY_FALLBACK_H

#include <httpd.h>

#include "mod_aoproxy_ctx.h"

/* Moves the request to its model's next fallback that has instances: 1, with
 * ctx->info.model, route and candidates its own (nothing of it tried yet), else 0.
 * Never for a stored response's call (it belongs to one instance). */
int aop_fallback_switch(request_rec *r, aop_req_t *ctx);

/* Whether the request's model has a context window fallback left (the hold filter
 * then reads a 400 whole, for Azure's context_length_exceeded). */
int aop_fallback_context_possible(const aop_req_t *ctx);

/* Azure said context_length_exceeded: moves the request to the next model of its
 * context_window_fallbacks that can take it now (1), else changes nothing (0). */
int aop_fallback_context_switch(request_rec *r, aop_req_t *ctx);

/* After a failed attempt: whether another may follow, on this model's instances or
 * on a fallback's. */
int aop_fallback_next_attempt(request_rec *r, aop_req_t *ctx);

/* After a 429 when no other attempt can follow: waits out the instance's cooldown and
 * returns 1 (the same instance may be tried once more), when that is at most
 * routing.max_retry_wait away, within the request's routing.timeout, and the request
 * has not waited before and has an attempt left; else 0 at once. */
int aop_fallback_wait_retry(request_rec *r, aop_req_t *ctx);

/* An instance's answer: x-aoproxy-model, x-aoproxy-instance (and x-aoproxy-fallback,
 * the model asked for, when another served). */
void aop_fallback_headers(request_rec *r, const aop_req_t *ctx);

#endif
