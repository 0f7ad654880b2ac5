/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Counting what happens, in shared memory: every attempt at its instance (minute
 * ring) and at its instance x model pair (lifetime counters for /metrics), every
 * client request overall. */
#ifndef MOD_AOPROXY_STATS_H
#define MOD_AOPROXY_STATS_H

#include <httpd.h>

#include "aop_stats.h"
#include "mod_aoproxy_ctx.h"

/* An attempt ended: status is Azure's (0 when it never answered); failure says what
 * went wrong when the status does not (AOP_KIND_TIMEOUT, _CONNECTION, _RESET,
 * _TRUNCATED; AOP_KIND_SUCCESS: the status tells); failover: the request moves on to
 * another instance; cooldown: the attempt started or extended one. */
void aop_stats_attempt(request_rec *r, aop_req_t *ctx, int status, aop_kind_e failure,
                       int failover, int cooldown);

/* The request's answer is complete (its EOS passes the usage filter, before the
 * client can see the end of it; log_transaction calls it too for requests cut short):
 * counts the attempt that answered, and the request overall.  Once per request. */
void aop_stats_finish(request_rec *r, aop_req_t *ctx);

void aop_stats_register_hooks(apr_pool_t *p);

#endif
