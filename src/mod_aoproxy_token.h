/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Entra ID tokens for the instances whose auth.type is not api_key: the task that
 * obtains and renews them, and what the request path asks of them.
 *
 * The task is a mod_watchdog callback of a singleton child watchdog ("aoproxy"):
 * it runs in one child of the server at a time (mod_watchdog's process mutex picks
 * which), every AOP_TOKEN_TICK, never on the request path.  Each tick it walks every
 * fleet's current view, and for each credential in use fetches a token when the one
 * it has is due for renewal (aop_token_refresh_at()), missing, or refused by Azure
 * (aop_token_refused()), with libcurl and a timeout, holding no lock, all due
 * fetches in parallel and each across ticks until it ends (mod_aoproxy_token_multi.h:
 * a token endpoint that hangs holds up no other credential); the result goes into
 * the token table (mod_aoproxy_token_table.h), which every process reads.  A failure is logged with
 * Entra's AADSTS code and tried again after a growing pause (aop_token_backoff());
 * until a token is obtained the instance is unhealthy and not picked. */
#ifndef MOD_AOPROXY_TOKEN_H
#define MOD_AOPROXY_TOKEN_H

#include <httpd.h>

#include "aop_token.h"

/* How often the task looks at its tokens (a tick that finds nothing due is a walk
 * over the instances and no I/O). */
#define AOP_TOKEN_TICK apr_time_from_msec(200)

/* post_config after mod_proxy_balancer's, real pass: the table and the task. */
apr_status_t aop_token_setup(apr_pool_t *pconf, server_rec *s);

/* pre_config: forget the last cycle's table. */
void aop_token_reset(void);

/* Whether inst can be sent a request now: an api_key instance always, another
 * when its credential has a token that has not expired.  Lock-free. */
int aop_token_usable(const aop_instance_t *inst, apr_time_t now);

/* Why inst has no usable token ("no Entra ID token yet", or the last failure with
 * its AADSTS code), or NULL when it has one or needs none.  Never a secret. */
const char *aop_token_problem(apr_pool_t *p, const aop_instance_t *inst, apr_time_t now);

/* The request path, under the shm lock: Azure refused inst's token (401/403) at now.
 * Marks the credential in the token table (an atomic store, no I/O): the task
 * fetches a new token on its next tick (aop_token_refused_renew_at()) and ends the
 * rest of the credential's refused instances once it is in.  Nothing for an api_key
 * instance. */
void aop_token_refused(const aop_instance_t *inst, apr_time_t now);

/* The Authorization header value for inst ("Bearer ..."), or NULL when it has no
 * token.  Goes only into the request to Azure. */
const char *aop_token_bearer(apr_pool_t *p, const aop_instance_t *inst);

#endif
