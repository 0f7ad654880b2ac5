/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Our mod_proxy_balancer lbmethod provider: picks the instance for an attempt by the
 * configured strategy among those eligible, and reserves its token estimate
 * (mod_aoproxy_reservations.c). */
#ifndef MOD_AOPROXY_LBMETHOD_H
#define MOD_AOPROXY_LBMETHOD_H

#include <httpd.h>

#include "mod_aoproxy_ctx.h"

/* Before proxying, under the lock: picks the first attempt's instance and reserves
 * its estimate (the finder then takes it), so that "is there budget" and "this one"
 * are one decision.  OK, or HTTP_TOO_MANY_REQUESTS with *retry_after (budgets spent
 * or cooling down), or HTTP_SERVICE_UNAVAILABLE (none usable at all). */
int aop_lb_pick_first(request_rec *r, aop_req_t *ctx, apr_interval_time_t *retry_after);

/* When the earliest candidate will be able to take the request again. */
apr_interval_time_t aop_lb_retry_after(request_rec *r, const aop_req_t *ctx);

/* Whether another attempt of this request would find an instance: asked after a
 * failed attempt, so that mod_proxy is not sent back to a finder with nothing left. */
int aop_lb_next_exists(request_rec *r, const aop_req_t *ctx);

/* Takes back the error state mod_proxy gave a worker only so that the request
 * would move on (ctx->soft_failed, set by the scheme handler wrapper of
 * mod_aoproxy_proxy.c): one bad answer does not put an instance out of service for
 * mod_proxy's whole retry interval.  The finder does it before each new pick, the
 * request's end for the last attempt. */
void aop_lb_restore_soft_failed(aop_req_t *ctx);

/* Registers the provider (AOP_LBMETHOD_NAME) with mod_proxy_balancer. */
void aop_lbmethod_register_hooks(apr_pool_t *p);

/* post_config (mod_aoproxy_startup.c): mod_proxy's optional functions, failing
 * loudly without mod_proxy. */
int aop_lb_bind_proxy(server_rec *s);

#endif
