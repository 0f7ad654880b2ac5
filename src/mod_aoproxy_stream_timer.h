/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Time limits on a streamed answer while mod_proxy_http reads it from the instance:
 * routing.first_token_timeout until the first byte of its events (the hold filter
 * keeps the headers from the client until then, so the attempt can still fail over),
 * routing.stream_idle_timeout between reads once it flows (the client has bytes: the
 * usage filter ends the stream with its error event).  A limit that is reached is
 * marked in the request's state (aop_req_t.stream_timeout) for the scheme handler
 * wrapper and the statistics; the read itself fails as a timeout would. */
#ifndef MOD_AOPROXY_STREAM_TIMER_H
#define MOD_AOPROXY_STREAM_TIMER_H

#include <httpd.h>

#define AOP_STREAM_TIMER_FILTER "AOPROXY_STREAM_TIMER"

/* Which limit ended the current attempt's answer (aop_req_t.stream_timeout). */
typedef enum {
    AOP_STREAM_TIMEOUT_NONE = 0,
    AOP_STREAM_TIMEOUT_FIRST_TOKEN,      /* no event within first_token_timeout */
    AOP_STREAM_TIMEOUT_IDLE              /* silent for stream_idle_timeout mid-stream */
} aop_stream_timeout_e;

void aop_stream_timer_register_hooks(apr_pool_t *p);

#endif
