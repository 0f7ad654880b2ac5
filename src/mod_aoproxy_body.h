/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The request body is read once in fixups; this input filter replays it to
 * mod_proxy_http on every attempt, so a failover resends it intact. */
#ifndef MOD_AOPROXY_BODY_H
#define MOD_AOPROXY_BODY_H

#include <httpd.h>

#include "mod_aoproxy_ctx.h"

#define AOP_BODY_FILTER "AOPROXY_BODY"

/* Reads the whole body into ctx->body (up to sc->max_body), one buffer given back at
 * r->pool's end at the latest.  Returns OK or the HTTP status
 * to answer (413, 400, 408). */
int aop_body_read(request_rec *r, aop_req_t *ctx);

/* No failover can need the body any more (the answer's first byte goes to the
 * client): it is given back now, and so is what mod_proxy_http kept of it; a later
 * read of it fails instead of sending anything else.  Safe to call more than once,
 * and with ctx NULL (a request not ours: nothing to do). */
void aop_body_release(request_rec *r, aop_req_t *ctx);

/* Starts the replay over: forgets what mod_proxy_http kept of an earlier attempt. */
void aop_body_rewind(request_rec *r, aop_req_t *ctx);

/* Adds the filter that replays ctx's body to mod_proxy (a request handed to it). */
void aop_body_replay_add(request_rec *r, aop_req_t *ctx);
void aop_body_register_hooks(apr_pool_t *p);

#endif
