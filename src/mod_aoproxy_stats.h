/* Counting what happens, in shared memory: every attempt at its instance (minute
 * ring) and at its instance x model pair (lifetime counters for /metrics), every
 * client request overall. */
#ifndef MOD_AOPROXY_STATS_H
#define MOD_AOPROXY_STATS_H

#include <httpd.h>

#include "mod_aoproxy_request.h"

/* An attempt ended: status is Azure's (0 when it never answered; timed_out then
 * tells a timeout from a refused or reset connection); failover: the request moves
 * on to another instance; cooldown: the answer started or extended one. */
void aop_stats_attempt(request_rec *r, aop_req_t *ctx, int status, int timed_out,
                       int failover, int cooldown);

/* The request's answer is complete (its EOS passes the usage filter, before the
 * client can see the end of it; log_transaction calls it too for requests cut short):
 * counts the attempt that answered, and the request overall.  Once per request. */
void aop_stats_finish(request_rec *r, aop_req_t *ctx);

void aop_stats_register_hooks(apr_pool_t *p);

#endif
