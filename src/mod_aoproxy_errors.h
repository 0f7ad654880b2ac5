/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Every error we answer looks like OpenAI's:
 * {"error":{"message":..,"type":..,"param":..,"code":..}} with the right status. */
#ifndef MOD_AOPROXY_ERRORS_H
#define MOD_AOPROXY_ERRORS_H

#include <httpd.h>

/* OpenAI's error type for a status (invalid_request_error, server_error, ...). */
const char *aop_error_type(int status);

/* Writes a complete JSON response (status, headers, body). */
void aop_send_json(request_rec *r, int status, const char *json);

/* Writes a complete OpenAI-shaped error response. */
void aop_send_error(request_rec *r, int status, const char *message, const char *param,
                    const char *code);

/* The 429 we answer when no instance for a model has budget or is out of cooldown:
 * sets Retry-After (whole seconds, at least 1) and returns the message. */
const char *aop_rate_limited(request_rec *r, apr_table_t *headers, const char *model,
                             apr_interval_time_t wait);

/* The event that tells a stream's client that Azure's stream broke before its end
 * (OpenAI's error shape, code stream_interrupted), as a bucket. */
apr_bucket *aop_broken_stream_event(apr_bucket_alloc_t *ba);

#endif
